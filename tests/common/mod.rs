//! Helpers shared by the integration tests: finding a cache's value files on disk, so that a
//! test can check that a large value really lives in its own file and that the file is gone
//! once its entry is; holding a cache's write lock as another process would; listing keys; and
//! the values the crash tests' children write.
#![allow(
    dead_code,
    reason = "each test crate that includes this module uses only part of it"
)]

use std::path::{Path, PathBuf};

pub mod alone;
pub mod child;
pub mod rng;
pub mod skip;
pub mod spec_reader;
pub mod wal;

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

/// The write lock of a cache, held from outside the library as format-spec/wal.md describes:
/// a presence lock on byte `token` of `cache.lock`, and `token` in the owner word of
/// `cache.shm`. Freed when dropped. (Linux only, as the logged write path; elsewhere see the
/// other [`hold_log_lock`].)
#[cfg(target_os = "linux")]
pub struct HeldLogLock {
    _presence: std::fs::File,
    shm: memmap2::MmapMut,
}

/// Byte offset of the write lock's owner word in `cache.shm`.
const LOCK_OWNER_OFFSET: usize = 96 * 8;

#[cfg(target_os = "linux")]
impl HeldLogLock {
    fn owner(&self) -> &std::sync::atomic::AtomicU64 {
        let word = &self.shm[LOCK_OWNER_OFFSET..LOCK_OWNER_OFFSET + 8];
        // SAFETY: 8 aligned bytes (the mapping is page-aligned, the offset a multiple of 8)
        // that live as long as `self`, shared with other processes only through atomics.
        #[allow(unsafe_code)]
        unsafe {
            &*word.as_ptr().cast::<std::sync::atomic::AtomicU64>()
        }
    }
}

#[cfg(target_os = "linux")]
impl Drop for HeldLogLock {
    fn drop(&mut self) {
        self.owner().store(0, std::sync::atomic::Ordering::Release);
    }
}

/// Holds the write lock of the (already opened) cache in `dir` as another process would,
/// waiting for it if need be. Every write on the logged path needs it.
#[cfg(target_os = "linux")]
pub fn hold_log_lock(dir: &Path) -> HeldLogLock {
    use std::os::fd::AsRawFd;
    let open = |name: &str| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(dir.join(name))
            .unwrap()
    };
    let presence = open("cache.lock");
    let token = 0x5eed_0000_u64 + u64::from(std::process::id());
    // SAFETY: a zeroed `flock` is valid; the descriptor is open for the call.
    #[allow(unsafe_code)]
    let rc = unsafe {
        let mut lk: libc::flock = std::mem::zeroed();
        lk.l_type = libc::F_WRLCK as libc::c_short;
        lk.l_whence = libc::SEEK_SET as libc::c_short;
        lk.l_start = token as libc::off_t;
        lk.l_len = 1;
        libc::fcntl(presence.as_raw_fd(), libc::F_OFD_SETLK, &mut lk)
    };
    assert_eq!(rc, 0, "presence lock: {}", std::io::Error::last_os_error());
    // SAFETY: cache.shm is never truncated while in use (format-spec/wal.md).
    #[allow(unsafe_code)]
    let shm = unsafe { memmap2::MmapMut::map_mut(&open("cache.shm")).unwrap() };
    let held = HeldLogLock {
        _presence: presence,
        shm,
    };
    let owner = held.owner();
    while owner
        .compare_exchange(
            0,
            token,
            std::sync::atomic::Ordering::Acquire,
            std::sync::atomic::Ordering::Acquire,
        )
        .is_err()
    {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    held
}

/// Where there is no logged write path (macOS, Windows), there is no log lock to hold: the
/// callers also hold redb's writer lock, which every write of the direct path needs.
#[cfg(not(target_os = "linux"))]
pub struct HeldLogLock;

#[cfg(not(target_os = "linux"))]
impl Drop for HeldLogLock {
    /// Nothing was taken, so nothing is freed (the callers drop it where the Linux one frees
    /// the lock).
    fn drop(&mut self) {}
}

/// Holds nothing: no cache has the logged write path on this platform.
#[cfg(not(target_os = "linux"))]
pub fn hold_log_lock(_dir: &Path) -> HeldLogLock {
    HeldLogLock
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
            Value::Large(b) => cache.set(key, serde_bytes::Bytes::new(b)),
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
