//! python-diskcache's own test suite at tag v5.6.3, ported test by test: `tests/test_core.py`
//! (core.rs), `test_fanout.py` (fanout.rs), `test_deque.py` (deque.rs), `test_index.py`
//! (index.rs) and `test_recipes.py` (recipes.rs). Each Rust test keeps the Python test's name
//! (`test_set_twice` is `set_twice`) and names it in a comment; every expected value was
//! confirmed by running the Python test against diskcache 5.6.3. Each module's head comment
//! counts the tests and lists those that cannot map, with the reason.

#[path = "../common/mod.rs"]
mod common;

mod core;
mod deque;
mod fanout;
mod index;
mod recipes;

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
            copy_file(&entry.path(), &target);
        }
    }
}

/// Copies the file `from` to `to`, leaving holes where `from` has them: a cache's
/// `cache.wal` is a 64 MiB sparse file, which a plain copy would write out whole, once per
/// shard of a fanout cache.
#[cfg(target_os = "linux")]
fn copy_file(from: &Path, to: &Path) {
    use std::os::unix::fs::FileExt;
    let src = std::fs::File::open(from).unwrap();
    let dst = std::fs::File::create(to).unwrap();
    let len = src.metadata().unwrap().len();
    for (start, end) in data_regions(&src, len) {
        let mut bytes = vec![0u8; (end - start) as usize];
        src.read_exact_at(&mut bytes, start).unwrap();
        dst.write_all_at(&bytes, start).unwrap();
    }
    dst.set_len(len).unwrap();
}

/// The byte ranges of `file` that hold data (`lseek` with `SEEK_DATA` and `SEEK_HOLE`).
#[cfg(target_os = "linux")]
fn data_regions(file: &std::fs::File, len: u64) -> Vec<(u64, u64)> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    let mut regions = Vec::new();
    let mut at = 0;
    while (at as u64) < len {
        // SAFETY: `lseek` on a descriptor owned by a live `File` only moves its offset.
        #[allow(unsafe_code)]
        let data = unsafe { libc::lseek(fd, at, libc::SEEK_DATA) };
        if data < 0 {
            break; // ENXIO: no data after `at`
        }
        // SAFETY: as above.
        #[allow(unsafe_code)]
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
        assert!(hole > data, "lseek(SEEK_HOLE) failed");
        regions.push((data as u64, hole as u64));
        at = hole;
    }
    regions
}

/// Copies the file `from` to `to` (no logged write path, so no sparse log, here).
#[cfg(not(target_os = "linux"))]
fn copy_file(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
}

/// Makes `to` an exact copy of `from` (what `rsync -a --delete` leaves): removes `to`, then
/// copies the tree.
pub fn mirror_tree(from: &Path, to: &Path) {
    if to.exists() {
        std::fs::remove_dir_all(to).unwrap();
    }
    copy_tree(from, to);
}
