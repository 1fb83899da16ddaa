//! Guards what the durability levels promise about power loss (format-spec/durability.md).
//!
//! - At the `NoSync` level nothing is fsynced while the cache is in use, so a power loss may
//!   lose or damage recent writes. The clean-shutdown marker `cache.boot` narrows that: the
//!   last handle to close flushes the file system and records a clean close; an open that
//!   finds the cache recorded in use by another boot of the machine (it went down with the
//!   cache open) runs `check(true)` before serving. A power loss cannot be staged in a test,
//!   so these tests stage its aftermath: a record left "in use" by another boot, and value
//!   files lost or torn as an unflushed disk can leave them.
//! - At the `Sync` level every acknowledged write must survive power loss, and at the default
//!   `Normal` level every checkpoint: the tests count the syncs each kind of write makes
//!   (through the crate's hidden fault-injection counters) and compare them with where the
//!   spec puts them; at `Normal` they also check, through the crate's hidden recorder of
//!   writes and syncs, that a checkpoint syncs the value files it makes reachable before its
//!   commit. `power_loss_sim.rs` then simulates the power loss itself.
//!
//! The marker tests need the kernel's boot id (`/proc/sys/kernel/random/boot_id`, which every
//! Linux kernel has): without it they say why and pass without running, except under
//! `CI=true`, where they fail (`tests/common/skip.rs`).
//!
//! That the marker tests can fail is shown by the negative control `skip-power-loss-check`
//! (`src/testing/sabotage.rs`), under which the marker is neither read nor written:
//! `scripts/negative_controls.sh skip-power-loss-check` requires the four marker tests to
//! fail under it.
#![cfg(target_os = "linux")]

use crate::common;

use std::path::Path;

use diskcache::fault::{self, Point};
use diskcache::recorder::Event;
use diskcache::{Cache, Durability, WritePath};
use serde_bytes::{ByteBuf, Bytes};

const RECORD_LEN: usize = 64;

fn boot_id() -> Vec<u8> {
    std::fs::read_to_string(BOOT_ID)
        .unwrap()
        .trim()
        .as_bytes()
        .to_vec()
}

const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

/// Whether the system has a boot id (without one the marker is neither read nor written, as
/// format-spec/durability.md says). If not, the test is skipped, saying why, or fails in CI:
/// every Linux kernel these tests run on has one.
fn has_boot_id() -> bool {
    let has = Path::new(BOOT_ID).exists();
    if !has {
        common::skip::missing(&format!(
            "{BOOT_ID} does not exist here, so the marker is not used"
        ));
    }
    has
}

/// The marker record as format-spec/durability.md lays it out.
fn record(state: u8, boot: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; RECORD_LEN];
    out[..8].copy_from_slice(b"dcboot01");
    out[8] = state;
    out[16..52].copy_from_slice(boot);
    let crc = crc32fast::hash(&out[..60]);
    out[60..].copy_from_slice(&crc.to_le_bytes());
    out
}

fn marker(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("cache.boot")).unwrap()
}

const IN_USE: u8 = 0;
const CLOSED: u8 = 1;
const OTHER_BOOT: &[u8; 36] = b"00000000-1111-2222-3333-444444444444";

#[test]
fn the_last_handle_to_close_records_a_clean_close_and_the_next_open_records_use() {
    if !has_boot_id() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let first = Cache::open(dir.path()).unwrap();
    first.set("k", "v").unwrap();
    assert_eq!(marker(dir.path()), record(IN_USE, &boot_id()));
    let second = Cache::open(dir.path()).unwrap();
    drop(first);
    // Another handle still has it open.
    assert_eq!(marker(dir.path()), record(IN_USE, &boot_id()));
    drop(second);
    assert_eq!(marker(dir.path()), record(CLOSED, &boot_id()));
    let again = Cache::open(dir.path()).unwrap();
    assert_eq!(marker(dir.path()), record(IN_USE, &boot_id()));
    assert_eq!(again.get::<String>("k").unwrap().as_deref(), Some("v"));
}

/// Writes entries (two in value files), closes cleanly, then stages a power loss: the record
/// says the cache was in use when another boot ended, one value file is gone and another is
/// torn. Returns the directory.
fn staged_power_loss(write_path: WritePath, marker_bytes: Vec<u8>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .durability(Durability::NoSync)
        .write_path(write_path)
        .open(dir.path())
        .unwrap();
    for i in 0..20 {
        cache.set(format!("small{i}"), i).unwrap();
    }
    for name in ["lost", "torn", "intact"] {
        cache
            .set(name, Bytes::new(&vec![name.len() as u8; 50_000]))
            .unwrap();
    }
    drop(cache);
    let files = common::files_ending_with(dir.path(), ".val");
    assert_eq!(files.len(), 3);
    // Which file is which does not matter: the check must find both.
    std::fs::remove_file(dir.path().join(&files[0])).unwrap();
    let torn = dir.path().join(&files[1]);
    let len = std::fs::metadata(&torn).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&torn)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    std::fs::write(dir.path().join("cache.boot"), marker_bytes).unwrap();
    dir
}

/// After the staged power loss, the open has already repaired the cache: the damaged entries
/// are gone (a miss, not an error), everything else reads back, and `check` finds nothing.
fn open_finds_it_repaired(dir: &Path, write_path: WritePath) {
    let cache = Cache::builder().write_path(write_path).open(dir).unwrap();
    assert_eq!(marker(dir), record(IN_USE, &boot_id()));
    let mut gone = 0;
    for name in ["lost", "torn", "intact"] {
        match cache.get::<ByteBuf>(name) {
            Ok(Some(v)) => assert_eq!(v.into_vec(), vec![name.len() as u8; 50_000]),
            Ok(None) => gone += 1,
            Err(e) => panic!("{name} was served damaged after the power loss: {e}"),
        }
    }
    assert_eq!(
        gone, 2,
        "the two damaged entries are removed before serving"
    );
    for i in 0..20 {
        assert_eq!(cache.get::<i64>(format!("small{i}")).unwrap(), Some(i));
    }
    assert_eq!(cache.len().unwrap(), 21);
    let warnings: Vec<String> = cache
        .check(false)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn an_open_after_a_shutdown_with_the_cache_in_use_checks_and_repairs_before_serving() {
    if !has_boot_id() {
        return;
    }
    for path in [WritePath::Logged, WritePath::Direct] {
        let dir = staged_power_loss(path, record(IN_USE, OTHER_BOOT));
        open_finds_it_repaired(dir.path(), path);
    }
}

#[test]
fn a_damaged_marker_counts_as_an_unclean_shutdown() {
    if !has_boot_id() {
        return;
    }
    let mut damaged = record(CLOSED, OTHER_BOOT);
    damaged[20] ^= 1;
    let dir = staged_power_loss(WritePath::Logged, damaged);
    open_finds_it_repaired(dir.path(), WritePath::Logged);
}

#[test]
fn a_clean_close_in_an_earlier_boot_needs_no_check() {
    if !has_boot_id() {
        return;
    }
    let dir = staged_power_loss(WritePath::Logged, record(CLOSED, OTHER_BOOT));
    let cache = Cache::open(dir.path()).unwrap();
    // Not checked: the staged damage is still there for check to find.
    assert_eq!(cache.check(false).unwrap().len(), 2);
    assert_eq!(marker(dir.path()), record(IN_USE, &boot_id()));
}

/// The syncs one operation makes, counted on this thread.
fn syncs_of(op: impl FnOnce()) -> [u64; 3] {
    fault::arm(None);
    op();
    let (counts, _) = fault::disarm();
    let of = |p: Point| counts.iter().find(|(q, _)| *q == p).unwrap().1;
    [of(Point::WalSync), of(Point::DbSync), of(Point::ValueSync)]
}

#[test]
fn at_the_sync_level_every_acknowledged_write_is_synced_where_the_spec_says() {
    let dir = tempfile::tempdir().unwrap();
    let big = vec![7u8; 50_000];
    // Logged path: a write syncs the log once; a value file is synced with its folder
    // (twice); a checkpoint's redb commit syncs at least twice (data and secondary header,
    // then the flipped primary header; once more when it grows the file).
    let cache = Cache::builder()
        .durability(Durability::Sync)
        .open(dir.path().join("logged"))
        .unwrap();
    assert_eq!(syncs_of(|| cache.set("a", 1).unwrap()), [1, 0, 0]);
    assert_eq!(
        syncs_of(|| cache.set("b", Bytes::new(&big)).unwrap()),
        [1, 0, 2]
    );
    let [wal, db, value] = syncs_of(|| cache.checkpoint().unwrap());
    assert_eq!((wal, value), (0, 0));
    assert!(db >= 2, "a checkpoint's commit synced {db} times");
    // Direct path: every write is a redb commit.
    let direct = Cache::builder()
        .durability(Durability::Sync)
        .write_path(WritePath::Direct)
        .open(dir.path().join("direct"))
        .unwrap();
    for (value, files) in [(&Bytes::new(b"1"), 0), (&Bytes::new(&big), 2)] {
        let [wal, db, synced_files] = syncs_of(|| direct.set("k", value).unwrap());
        assert_eq!((wal, synced_files), (0, files));
        assert!(db >= 2, "a direct write's commit synced {db} times");
    }
    // The NoSync level syncs nothing while in use.
    let nosync = Cache::builder()
        .durability(Durability::NoSync)
        .open(dir.path().join("nosync"))
        .unwrap();
    assert_eq!(
        syncs_of(|| nosync.set("b", Bytes::new(&big)).unwrap()),
        [0, 0, 0]
    );
    assert_eq!(syncs_of(|| nosync.checkpoint().unwrap()), [0, 0, 0]);
}

#[test]
fn at_the_normal_level_writes_are_not_synced_and_checkpoints_are() {
    let dir = tempfile::tempdir().unwrap();
    let big = vec![7u8; 50_000];
    // Logged path: no sync per write, large or small.
    let path = dir.path().join("logged");
    let cache = Cache::open(&path).unwrap();
    assert_eq!(cache.settings().durability, Durability::Normal);
    assert_eq!(syncs_of(|| cache.set("a", 1).unwrap()), [0, 0, 0]);
    assert_eq!(
        syncs_of(|| cache.set("b", Bytes::new(&big)).unwrap()),
        [0, 0, 0]
    );
    // A checkpoint (this thread's, or the janitor's if a second passed: the recorder sees
    // both) syncs the value file, its two folders and the cache directory, then commits with
    // redb's syncs; the log is never synced.
    let path = path.canonicalize().unwrap();
    let recording = diskcache::recorder::arm(&path);
    let [wal, _, _] = syncs_of(|| cache.checkpoint().unwrap());
    let events = recording.finish();
    assert_eq!(wal, 0);
    let file = common::files_ending_with(&path, ".val").remove(0);
    let file = file.strip_prefix(&path).unwrap_or(&file).to_path_buf();
    let at = |wanted: &Event| events.iter().position(|e| e == wanted);
    let file_synced = at(&Event::SyncFile { file: file.clone() });
    let folders: Vec<Option<usize>> = [
        file.parent().unwrap(),
        file.parent().unwrap().parent().unwrap(),
        Path::new(""),
    ]
    .iter()
    .map(|dir| {
        at(&Event::SyncDir {
            dir: dir.to_path_buf(),
        })
    })
    .collect();
    let db = Path::new("cache.redb");
    let commit = events
        .iter()
        .position(|e| matches!(e, Event::Write { file, .. } if file == db));
    let db_syncs = events
        .iter()
        .filter(|e| matches!(e, Event::SyncFile { file } if file == db))
        .count();
    assert!(
        file_synced.is_some(),
        "the value file was not synced: {events:?}"
    );
    assert!(
        folders.iter().all(Option::is_some),
        "a folder was not synced: {folders:?}"
    );
    assert!(
        db_syncs >= 2,
        "the checkpoint's commit synced {db_syncs} times"
    );
    let last_value_sync = folders.iter().flatten().chain(&file_synced).max().copied();
    assert!(
        last_value_sync < commit,
        "the commit began (event {commit:?}) before the value file and its folders were synced (by event {last_value_sync:?})"
    );
    // Direct path: every commit is synced, and a value file before it, as at Sync.
    let direct = Cache::builder()
        .write_path(WritePath::Direct)
        .open(dir.path().join("direct"))
        .unwrap();
    assert_eq!(direct.settings().durability, Durability::Normal);
    for (value, files) in [(&Bytes::new(b"1"), 0), (&Bytes::new(&big), 2)] {
        let [wal, db, synced_files] = syncs_of(|| direct.set("k", value).unwrap());
        assert_eq!((wal, synced_files), (0, files));
        assert!(db >= 2, "a direct write's commit synced {db} times");
    }
}

#[test]
fn a_cache_made_at_an_earlier_default_keeps_its_stored_level() {
    let dir = tempfile::tempdir().unwrap();
    drop(
        Cache::builder()
            .durability(Durability::NoSync)
            .open(dir.path())
            .unwrap(),
    );
    let reopened = Cache::open(dir.path()).unwrap();
    assert_eq!(reopened.settings().durability, Durability::NoSync);
    assert_eq!(syncs_of(|| reopened.set("k", 1).unwrap()), [0, 0, 0]);
    assert_eq!(syncs_of(|| reopened.checkpoint().unwrap()), [0, 0, 0]);
}

#[test]
fn at_the_normal_level_a_logged_write_gets_its_checkpoint_without_another_write() {
    // The log's generation (`cache.shm` byte 192, format-spec/wal.md) changes at each
    // checkpoint: the janitor must make one, the write alone does not (4096 records).
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let generation = || {
        let shm = std::fs::read(dir.path().join("cache.shm")).unwrap();
        u64::from_le_bytes(shm[192..200].try_into().unwrap())
    };
    let before = generation();
    cache.set("k", 1).unwrap();
    // Not a measure of time: a generous bound on the wait, so a failure ends the test.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while generation() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint within 30 s of a logged write"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(cache.get::<i64>("k").unwrap(), Some(1));
}
