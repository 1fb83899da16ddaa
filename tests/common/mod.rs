//! Helpers shared by the integration tests: finding a cache's value files on disk, so that a
//! test can check that a large value really lives in its own file and that the file is gone
//! once its entry is.

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
