//! Helpers shared by the integration tests: finding a cache's value files on disk, so that a
//! test can check that a large value really lives in its own file and that the file is gone
//! once its entry is; holding a cache's write lock as another process would; listing keys; and
//! the values the crash tests' children write.
#![allow(
    dead_code,
    reason = "each test crate that includes this module uses only part of it"
)]

use std::path::{Path, PathBuf};

/// Every file under `dir` whose name ends with `suffix` (`.val`, `.val.tmp`), as paths relative
/// to `dir`, sorted.
pub fn files_ending_with(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    fn walk(root: &Path, at: &Path, suffix: &str, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, suffix, out);
            } else if path.to_string_lossy().ends_with(suffix) {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, suffix, &mut out);
    out.sort();
    out
}

/// Holds the write lock of the cache in `dir` as another process would: `flock` on its
/// `cache.lock` (format-spec/wal.md), which every write on the logged path takes. Released
/// when the file is dropped.
#[allow(
    dead_code,
    reason = "each test crate that includes this module uses only part of it"
)]
pub fn hold_log_lock(dir: &Path) -> std::fs::File {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join("cache.lock"))
        .unwrap();
    file.lock().unwrap();
    file
}

/// The live keys of `cache` in insertion order.
#[allow(
    dead_code,
    reason = "each test crate that includes this module uses only part of it"
)]
pub fn keys_of(cache: &diskcache::Cache) -> Vec<diskcache::Key> {
    cache
        .keys()
        .unwrap()
        .collect::<diskcache::Result<Vec<_>>>()
        .unwrap()
}

/// A value a crash-test child writes under index `i`: an integer, or (every `large_every`th)
/// a byte string of at least 40 KiB, over the default 32 KiB `min_file_size`, so in a value
/// file.
#[derive(Clone, Debug, PartialEq)]
#[allow(
    dead_code,
    reason = "each test crate that includes this module uses only part of it"
)]
pub enum Value {
    Int(i64),
    Large(Vec<u8>),
}

/// The value written under index `i`.
#[allow(
    dead_code,
    reason = "each test crate that includes this module uses only part of it"
)]
pub fn value_of(i: u64, large_every: u64) -> Value {
    if i.is_multiple_of(large_every) {
        let len = 40 * 1024 + (i % 512) as usize;
        Value::Large((0..len).map(|j| (j as u64 * 131 + i) as u8).collect())
    } else {
        Value::Int(i as i64)
    }
}

#[allow(
    dead_code,
    reason = "each test crate that includes this module uses only part of it"
)]
impl Value {
    /// Stores the value under `key`.
    pub fn store(&self, cache: &diskcache::Cache, key: &str) -> diskcache::Result<()> {
        match self {
            Value::Int(v) => cache.set(key, v),
            Value::Large(b) => cache.set(key, &serde_bytes::Bytes::new(b)),
        }
    }

    /// Reads `key` back as this value's type; an error is described, not raised.
    pub fn load(&self, cache: &diskcache::Cache, key: &str) -> Result<Option<Value>, String> {
        let loaded = match self {
            Value::Int(_) => cache.get::<i64>(key).map(|v| v.map(Value::Int)),
            Value::Large(_) => cache
                .get::<serde_bytes::ByteBuf>(key)
                .map(|v| v.map(|b| Value::Large(b.into_vec()))),
        };
        loaded.map_err(|e| e.to_string())
    }
}
