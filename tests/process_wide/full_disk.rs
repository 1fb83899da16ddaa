//! A full disk (ENOSPC): a cache on a small tmpfs is written until writes fail. Guards against
//! a panic or a crash (SIGBUS on a mapped file) when the disk fills, against an error that does
//! not say the disk is full, against losing or damaging what was stored before, and against a
//! cache that stays broken once space is freed: writes must work again and `check` must be
//! clean (or be made clean by `check(true)`).
//!
//! Needs root, to mount a tmpfs of a few MiB. Not running as root, each test says why and
//! passes without running, in CI too (an unprivileged machine cannot mount). Running as root,
//! the mount must work: where it fails (no `mount` command, a container that forbids it) the
//! test is skipped the same way outside CI, but fails under `CI=true` (`tests/common/skip.rs`),
//! so that CI, which runs as root, cannot pass these tests without running them. The mount is
//! undone when the test ends, however it ends.
#![cfg(target_os = "linux")]

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use diskcache::{Cache, Error, WritePath};
use serde_bytes::{ByteBuf, Bytes};

/// Values of at least this many bytes go to value files.
const MIN_FILE_SIZE: u64 = 16 * 1024;
/// The size of the file system the cache lives on.
const DISK_SIZE: &str = "size=4m";
/// Space taken by a file that is deleted to free space again.
const FILLER: usize = 1024 * 1024;
/// The most writes a test tries while filling the disk.
const MAX_WRITES: u64 = 5_000;
/// Writes tried after the first failure, alternating small and file values, to reach both
/// the log (or the database) and the value files when they are full.
const WRITES_AFTER_FULL: u64 = 40;

/// A tmpfs mounted on a temporary directory; unmounted when dropped.
///
/// The tests of this file take turns (`_turn`): another test's `mount` or `umount` child,
/// forked while this test has a file of its tmpfs open, holds a copy of that descriptor until
/// it execs, so space this test frees by deleting the file may not be free yet when it tries
/// to use it (seen about once in 20 runs, never with the tests run one at a time).
struct Mounted {
    dir: tempfile::TempDir,
    _turn: std::sync::MutexGuard<'static, ()>,
}

/// Held by the test that has a tmpfs mounted.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Mounted {
    /// Mounts a small tmpfs, or says why it cannot (not root, no mount) and returns `None`;
    /// in CI, a root that cannot mount fails the test instead.
    fn new(test: &str) -> Option<Mounted> {
        // SAFETY: geteuid has no preconditions.
        #[allow(unsafe_code)]
        let euid = unsafe { libc::geteuid() };
        if euid != 0 {
            eprintln!("{test}: skipped: not root (euid {euid}), so no tmpfs can be mounted");
            return None;
        }
        let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", DISK_SIZE, "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Mounted { dir, _turn: turn }),
            Ok(out) => {
                common::skip::missing(&format!(
                    "{test}: running as root, yet mounting a tmpfs failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
                None
            }
            Err(e) => {
                common::skip::missing(&format!(
                    "{test}: running as root, yet the mount command cannot run: {e}"
                ));
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let plain = Command::new("umount").arg(self.dir.path()).status();
        if !matches!(plain, Ok(s) if s.success()) {
            // Still busy (a mapping not yet gone): detach it now, it goes when unused.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

fn open(dir: &Path, write_path: WritePath) -> diskcache::Result<Cache> {
    Cache::builder()
        .min_file_size(MIN_FILE_SIZE)
        .write_path(write_path)
        .open(dir)
}

/// Whether `e` says the disk is full.
fn is_disk_full(e: &Error) -> bool {
    match e {
        Error::Io(io) => {
            io.raw_os_error() == Some(libc::ENOSPC) || io.kind() == std::io::ErrorKind::StorageFull
        }
        other => other.to_string().contains("No space left on device"),
    }
}

/// The value written under index `i`: small (inline) for even `i`, a value file for odd.
fn value_of(i: u64) -> Vec<u8> {
    let len = if i.is_multiple_of(2) {
        200 + (i % 50) as usize
    } else {
        MIN_FILE_SIZE as usize + 1000 * (i % 40) as usize
    };
    (0..len)
        .map(|j| (j as u64 ^ i.wrapping_mul(31)) as u8)
        .collect()
}

fn assert_all_read(cache: &Cache, stored: &BTreeMap<String, u64>, label: &str) {
    for (key, &i) in stored {
        let got = cache.get::<ByteBuf>(key.as_str());
        assert!(
            matches!(&got, Ok(Some(b)) if b.as_slice() == value_of(i).as_slice()),
            "{label}: {key} reads {:?}",
            got.map(|v| v.map(|b| b.len()))
        );
    }
}

/// Fills the disk under a cache opened with `write_path`, then frees space, and checks every
/// step (see the file's documentation).
fn fill_then_free(write_path: WritePath) {
    let test = format!("full disk, {write_path:?}");
    let Some(mount) = Mounted::new(&test) else {
        return;
    };
    let filler: PathBuf = mount.path().join("filler");
    std::fs::write(&filler, vec![0xffu8; FILLER]).unwrap();
    let dir = mount.path().join("cache");
    let cache = open(&dir, write_path).unwrap();
    let mut stored = BTreeMap::new();
    for i in 0..40 {
        let key = format!("before{i}");
        cache.set(key.as_str(), Bytes::new(&value_of(i))).unwrap();
        stored.insert(key, i);
    }
    cache.checkpoint().unwrap();

    let (mut failures, mut first_failure, mut errors) = (0u64, None, BTreeMap::new());
    let mut i = 1000;
    while i < 1000 + MAX_WRITES {
        let key = format!("w{i}");
        match cache.set(key.as_str(), Bytes::new(&value_of(i))) {
            Ok(()) => {
                stored.insert(key, i);
            }
            Err(e) => {
                assert!(
                    is_disk_full(&e),
                    "{test}: write {i} failed with an error that does not say the disk is full: \
                     {e:?}"
                );
                failures += 1;
                *errors.entry(e.to_string()).or_insert(0u64) += 1;
                first_failure.get_or_insert(i);
            }
        }
        i += 1;
        if first_failure.is_some_and(|f| i >= f + WRITES_AFTER_FULL) {
            break;
        }
    }
    // Then small values only, until they fail too: the log or the database itself is full,
    // not only the value files.
    let mut small_failures = 0;
    let mut j = 0;
    while small_failures < 10 && j < MAX_WRITES {
        let i = 10_000 + 2 * j;
        j += 1;
        let key = format!("w{i}");
        match cache.set(key.as_str(), Bytes::new(&value_of(i))) {
            Ok(()) => {
                stored.insert(key, i);
            }
            Err(e) => {
                assert!(
                    is_disk_full(&e),
                    "{test}: small write {i} failed with an error that does not say the disk \
                     is full: {e:?}"
                );
                small_failures += 1;
                *errors.entry(e.to_string()).or_insert(0u64) += 1;
            }
        }
    }
    assert_eq!(
        small_failures, 10,
        "{test}: small writes never filled the disk"
    );
    eprintln!("{test}: small writes failed after {j} tries");
    let first_failure = first_failure
        .unwrap_or_else(|| panic!("{test}: {MAX_WRITES} writes and the disk never filled"));
    eprintln!(
        "{test}: first write failed at {first_failure}, {failures} of {} writes after it \
         failed; {} entries stored; errors: {errors:?}",
        WRITES_AFTER_FULL,
        stored.len()
    );
    // Everything acknowledged reads back, from this handle and (the disk still full) after a
    // checkpoint attempt, which may fail with a full disk too.
    assert_all_read(&cache, &stored, &format!("{test}, disk full"));
    if let Err(e) = cache.checkpoint() {
        assert!(is_disk_full(&e), "{test}: checkpoint on a full disk: {e:?}");
    }
    assert_all_read(&cache, &stored, &format!("{test}, disk full, checkpointed"));

    // Free space: writes work again.
    std::fs::remove_file(&filler).unwrap();
    for j in 0..20 {
        let i = 100_000 + j;
        let key = format!("freed{i}");
        cache
            .set(key.as_str(), Bytes::new(&value_of(i)))
            .unwrap_or_else(|e| panic!("{test}: a write after freeing space failed: {e:?}"));
        stored.insert(key, i);
    }
    cache.checkpoint().unwrap();
    assert_all_read(&cache, &stored, &format!("{test}, space freed"));
    let warnings: Vec<String> = cache
        .check(true)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        cache.check(false).unwrap(),
        Vec::new(),
        "{test}: not clean after check(true), which said {warnings:?}"
    );
    eprintln!("{test}: check(true) after freeing space said {warnings:?}");
    assert_eq!(cache.len().unwrap(), stored.len() as u64, "{test}: len()");
    drop(cache);

    // And from a new handle.
    let cache = open(&dir, write_path).unwrap();
    assert_all_read(&cache, &stored, &format!("{test}, reopened"));
    assert_eq!(cache.check(false).unwrap(), Vec::new(), "{test}");
    drop(cache);
    drop(mount);
}

#[test]
fn a_full_disk_fails_logged_writes_with_an_io_error_and_loses_nothing() {
    let _alone = common::alone::take();
    fill_then_free(WritePath::Logged);
}

#[test]
fn a_full_disk_fails_direct_writes_with_an_io_error_and_loses_nothing() {
    let _alone = common::alone::take();
    fill_then_free(WritePath::Direct);
}

#[test]
fn opening_a_new_cache_on_a_full_disk_is_an_error_not_a_crash() {
    let _alone = common::alone::take();
    for write_path in [WritePath::Logged, WritePath::Direct] {
        let test = format!("open on a full disk, {write_path:?}");
        let Some(mount) = Mounted::new(&test) else {
            return;
        };
        // Fill the disk to the last byte.
        let filler = mount.path().join("filler");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&filler).unwrap();
            let chunk = vec![0u8; 64 * 1024];
            while f.write_all(&chunk).is_ok() {}
            while f.write_all(&[0u8]).is_ok() {}
        }
        let dir = mount.path().join("cache");
        match open(&dir, write_path) {
            Ok(cache) => {
                // It opened in what little was left: then writes fail or work, no crash.
                match cache.set("k", Bytes::new(&[1u8; 100])) {
                    Ok(()) => assert_eq!(
                        cache.get::<ByteBuf>("k").unwrap().unwrap().as_slice(),
                        &[1u8; 100]
                    ),
                    Err(e) => assert!(is_disk_full(&e), "{test}: {e:?}"),
                }
                eprintln!("{test}: opened");
            }
            Err(e) => {
                assert!(is_disk_full(&e), "{test}: open failed with {e:?}");
                eprintln!("{test}: open failed: {e}");
            }
        }
        // Space again: the cache opens and works.
        std::fs::remove_file(&filler).unwrap();
        let cache = open(&dir, write_path)
            .unwrap_or_else(|e| panic!("{test}: does not open once space is freed: {e:?}"));
        cache.set("k2", Bytes::new(&[2u8; 50_000])).unwrap();
        assert_eq!(cache.get::<ByteBuf>("k2").unwrap().unwrap().len(), 50_000);
        let warnings: Vec<String> = cache
            .check(true)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            cache.check(false).unwrap(),
            Vec::new(),
            "{test}: {warnings:?}"
        );
        drop(cache);
        drop(mount);
    }
}

#[test]
fn recreating_a_lost_index_on_a_full_disk_is_an_error_not_a_crash() {
    let _alone = common::alone::take();
    let test = "cache.shm recreated on a full disk";
    let Some(mount) = Mounted::new(test) else {
        return;
    };
    let dir = mount.path().join("cache");
    let cache = open(&dir, WritePath::Logged).unwrap();
    cache.set("k", Bytes::new(&[3u8; 100])).unwrap();
    cache.close().unwrap();
    // The index is lost, and the disk fills before the cache is opened again.
    std::fs::remove_file(dir.join("cache.shm")).unwrap();
    let filler = mount.path().join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        while f.write_all(&[0u8]).is_ok() {}
    }
    match open(&dir, WritePath::Logged) {
        // Its pages are written through a shared mapping: they must be had before.
        Err(e) => assert!(is_disk_full(&e), "{test}: {e:?}"),
        Ok(cache) => assert_eq!(
            cache.get::<ByteBuf>("k").unwrap().unwrap().as_slice(),
            &[3u8; 100]
        ),
    }
    std::fs::remove_file(&filler).unwrap();
    let cache = open(&dir, WritePath::Logged).unwrap();
    assert_eq!(
        cache.get::<ByteBuf>("k").unwrap().unwrap().as_slice(),
        &[3u8; 100]
    );
    assert_eq!(cache.check(false).unwrap(), Vec::new());
    drop(cache);
    drop(mount);
}
