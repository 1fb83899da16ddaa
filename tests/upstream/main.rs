//! python-diskcache's own test suite at tag v5.6.3, ported test by test: `tests/test_core.py`
//! (core.rs), `test_fanout.py` (fanout.rs), `test_deque.py` (deque.rs), `test_index.py`
//! (index.rs) and `test_recipes.py` (recipes.rs). Each Rust test keeps the Python test's name
//! (`test_set_twice` is `set_twice`) and names it in a comment; every expected value was
//! confirmed by running the Python test against diskcache 5.6.3. Each module's head comment
//! counts the tests and lists those that cannot map, with the reason.

#[path = "../common/mod.rs"]
mod common;

mod core;
mod fanout;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Sleeps `ms` milliseconds: only ever to let a short expire time pass, never to time an
/// assertion.
pub fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// The value files (`*.val`) under `dir`, as full paths, sorted.
pub fn value_files(dir: &Path) -> Vec<PathBuf> {
    common::files_ending_with(dir, ".val")
        .into_iter()
        .map(|p| dir.join(p))
        .collect()
}

/// Copies the directory tree `from` to `to` (created), as `shutil.copytree` does.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            copy_sparse(&entry.path(), &target);
        }
    }
}

/// Copies the file `from` to `to` byte for byte, leaving holes where `from` has blocks of
/// zeros: a cache's `cache.wal` is a 64 MiB sparse file, which a plain copy would write out
/// whole, eight times over for a fanout cache.
fn copy_sparse(from: &Path, to: &Path) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut src = std::fs::File::open(from).unwrap();
    let mut dst = std::fs::File::create(to).unwrap();
    let mut block = vec![0u8; 64 * 1024];
    let zeros = vec![0u8; 64 * 1024];
    let mut len = 0u64;
    loop {
        let n = src.read(&mut block).unwrap();
        if n == 0 {
            break;
        }
        if block[..n] == zeros[..n] {
            dst.seek(SeekFrom::Current(n as i64)).unwrap();
        } else {
            dst.write_all(&block[..n]).unwrap();
        }
        len += n as u64;
    }
    dst.set_len(len).unwrap();
}

/// Makes `to` an exact copy of `from` (what `rsync -a --delete` leaves): removes `to`, then
/// copies the tree.
pub fn mirror_tree(from: &Path, to: &Path) {
    if to.exists() {
        std::fs::remove_dir_all(to).unwrap();
    }
    copy_tree(from, to);
}
