//! The `database` target: a real, closed cache whose `cache.redb` has bytes flipped, then
//! opened and put through every operation. redb panics on some damaged pages; the crate's
//! boundary around it must turn each such panic into an error, so nothing here may panic, and
//! no read may return a value other than the one stored.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::{fail, temp_dir};
use crate::format::schema::DB_FILE;
use crate::{Cache, SetOptions, Side, WritePath};

/// Values of at least this many bytes go to value files in the template.
const MIN_FILE_SIZE: u64 = 1024;
/// redb's page size, for the sweep that flips bytes of every page.
pub const PAGE: u64 = 4096;

/// The closed template cache: its files (relative path, contents) and its entries.
struct Template {
    files: Vec<(PathBuf, Vec<u8>)>,
    entries: Vec<(String, String)>,
}

/// The entries of the template: inline text, values in their own files, tagged and expiring
/// ones.
fn entries() -> Vec<(String, String)> {
    (0..40)
        .map(|i| {
            let len = if i % 8 == 0 { 1500 + 10 * i } else { 5 + i };
            (format!("key-{i}"), format!("{i}").repeat(len))
        })
        .collect()
}

/// Builds the template once per process, in a temporary directory it then removes.
fn template() -> Option<&'static Template> {
    static TEMPLATE: OnceLock<Option<Template>> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let dir = temp_dir()?;
            let entries = entries();
            let cache = Cache::builder()
                .min_file_size(MIN_FILE_SIZE)
                .tag_index(true)
                .open(dir.path())
                .ok()?;
            for (i, (key, value)) in entries.iter().enumerate() {
                let mut opts = SetOptions::default();
                if i % 3 == 0 {
                    opts = opts.tag("three");
                }
                if i % 5 == 0 {
                    opts = opts.expire(std::time::Duration::from_secs(3600));
                }
                cache.set_with(key.as_str(), value, opts).ok()?;
            }
            cache.close().ok()?;
            // The log and its index are checkpointed and empty: an open makes them afresh
            // (and the log is 64 MiB to copy).
            let files = read_tree(dir.path(), Path::new(""))
                .ok()?
                .into_iter()
                .filter(|(path, _)| {
                    ![
                        crate::engine::log::wal::WAL_FILE,
                        crate::engine::log::shm::SHM_FILE,
                    ]
                    .contains(&path.to_str().unwrap_or(""))
                })
                .collect();
            Some(Template { files, entries })
        })
        .as_ref()
}

/// Every regular file under `root.join(relative)`, as paths relative to `root`.
fn read_tree(root: &Path, relative: &Path) -> std::io::Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut out = Vec::new();
    for item in std::fs::read_dir(root.join(relative))? {
        let item = item?;
        let path = relative.join(item.file_name());
        if item.file_type()?.is_dir() {
            out.extend(read_tree(root, &path)?);
        } else {
            out.push((path.clone(), std::fs::read(root.join(&path))?));
        }
    }
    Ok(out)
}

/// Whether a panic happening at this moment is inside the crate's boundary around redb, where
/// it is caught and becomes `Error::Corrupted`. libFuzzer's panic hook aborts on every panic,
/// caught or not: the `database` target's hook lets these through (always `false` outside
/// fuzzing builds).
pub fn inside_boundary() -> bool {
    #[cfg(fuzzing)]
    return crate::engine::boundary::inside();
    #[cfg(not(fuzzing))]
    false
}

/// The size of the template's `cache.redb` in bytes (0 if it could not be built).
pub fn database_len() -> u64 {
    template()
        .and_then(|t| t.files.iter().find(|(path, _)| path == Path::new(DB_FILE)))
        .map_or(0, |(_, bytes)| bytes.len() as u64)
}

/// Input: a byte choosing the write path the damaged cache is opened with (odd: direct,
/// else logged), then records of 5 bytes, a little-endian `u32` offset into `cache.redb`
/// (taken modulo its length) and a byte XORed into it there (0 counts as 0xff).
pub fn database(data: &[u8]) {
    let Some((&path, data)) = data.split_first() else {
        return;
    };
    let write_path = if path % 2 == 1 {
        WritePath::Direct
    } else {
        WritePath::Logged
    };
    let Some(template) = template() else {
        return;
    };
    let Some(dir) = temp_dir() else {
        return;
    };
    for (path, bytes) in &template.files {
        let mut bytes = bytes.clone();
        if path == Path::new(DB_FILE) && !bytes.is_empty() {
            let len = bytes.len();
            for flip in data.chunks_exact(5) {
                let &[a, b, c, d, x] = flip else {
                    continue;
                };
                let at = u32::from_le_bytes([a, b, c, d]) as usize % len;
                if let Some(byte) = bytes.get_mut(at) {
                    *byte ^= if x == 0 { 0xff } else { x };
                }
            }
        }
        let to = dir.path().join(path);
        if let Some(parent) = to.parent()
            && std::fs::create_dir_all(parent).is_err()
        {
            return;
        }
        if std::fs::write(&to, bytes).is_err() {
            return;
        }
    }
    exercise(dir.path(), write_path, &template.entries);
}

/// Opens the damaged cache and runs every operation on it; none may panic, and a value read
/// back must be the one stored (or, for the new key, the one just written).
fn exercise(dir: &Path, write_path: WritePath, entries: &[(String, String)]) {
    let opened = Cache::builder()
        .min_file_size(MIN_FILE_SIZE)
        .write_path(write_path)
        .open(dir);
    let Ok(cache) = opened else {
        return;
    };
    let right = |key: &str, got: &Option<String>, want: &str| {
        if got.as_deref().is_some_and(|got| got != want) {
            fail(format!("{key}: read a value other than the one stored"));
        }
    };
    for (key, value) in entries {
        if let Ok(got) = cache.get::<String>(key.as_str()) {
            right(key, &got, value);
        }
        let _ = cache.contains(key.as_str());
    }
    let _ = cache.len();
    let _ = cache.volume();
    let _ = cache.keys().map(|keys| keys.count());
    let _ = cache.keys_sorted(true).map(|keys| keys.count());
    let _ = cache.peekitem::<String>(false);
    let _ = cache.get_entry::<String>("key-0");
    let _ = cache.get_reader("key-8").map(|r| r.map(|mut r| r.verify()));
    let _ = cache.incr("counter", 1, Some(0));
    if cache.set("new", "written").is_ok()
        && let Ok(got) = cache.get::<String>("new")
    {
        right("new", &got, "written");
    }
    let _ = cache.delete("key-1");
    let _ = cache.pop::<String>("key-2");
    let _ = cache.push("item", Some("queue"), Side::Back, SetOptions::default());
    let _ = cache.pull::<String>(Some("queue"), Side::Front);
    let _ = cache.expire();
    let _ = cache.evict("three");
    let _ = cache.cull();
    let _ = cache.stats(true, false);
    let _ = cache.check(false);
    let _ = cache.check(true);
    let _ = cache.compact();
    let _ = cache.clear();
    let _ = cache.close();
}
