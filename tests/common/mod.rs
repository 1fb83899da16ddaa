//! Helpers shared by the integration tests: finding a cache's value files on disk, so that a
//! test can check that a large value really lives in its own file and that the file is gone
//! once its entry is; and holding a cache's write lock as another process would.

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
