//! The write lock and `timeout`. Another writer is simulated by holding a redb write
//! transaction on the cache's database file and the log's write lock (the owner word in
//! `cache.shm`, with a presence lock on `cache.lock`), as a process in the middle of a
//! checkpoint would. Guards against a write waiting past its handle's
//! timeout (or forever) instead of returning `Error::Timeout`, against reads being blocked by a
//! writer, against a write that timed out leaving a value file or a partial change behind, and
//! against the cache staying locked after the other writer lets go.

use crate::common;

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use diskcache::{Cache, CacheBuilder, Error, SetOptions};

/// A redb handle on the cache in `dir`, as another process would have.
fn other_writer(dir: &Path) -> redb::Database {
    redb::Database::builder()
        .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
        .create(dir.join("cache.redb"))
        .unwrap()
}

#[test]
fn every_write_times_out_while_another_writer_holds_the_lock_and_reads_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .timeout(Duration::from_millis(50))
        .min_file_size(1024)
        .open(dir.path())
        .unwrap();
    cache.set("k", 1).unwrap();
    let db = other_writer(dir.path());
    let held = db.begin_write().unwrap();
    let held_log = common::hold_log_lock(dir.path());

    let started = Instant::now();
    assert!(matches!(cache.set("k", 2), Err(Error::Timeout)));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "waited {:?}",
        started.elapsed()
    );
    let opts = SetOptions::default;
    assert!(matches!(
        cache.set_with("n", 1, opts()),
        Err(Error::Timeout)
    ));
    assert!(matches!(cache.add("n", 1, opts()), Err(Error::Timeout)));
    assert!(matches!(cache.delete("k"), Err(Error::Timeout)));
    assert!(matches!(cache.touch("k", None), Err(Error::Timeout)));
    assert!(matches!(cache.incr("k", 1, None), Err(Error::Timeout)));
    assert!(matches!(cache.decr("k", 1, None), Err(Error::Timeout)));
    assert!(matches!(cache.pop::<i64>("k"), Err(Error::Timeout)));
    assert!(matches!(cache.clear(), Err(Error::Timeout)));
    assert!(matches!(
        cache.set("big", vec![1u8; 4096]),
        Err(Error::Timeout)
    ));
    assert!(matches!(
        cache.set_reader("big", &[1u8; 4096][..], opts()),
        Err(Error::Timeout)
    ));
    // The values written ahead of the transaction were cleaned up.
    assert!(common::files_ending_with(dir.path(), ".val").is_empty());
    assert!(common::files_ending_with(dir.path(), ".val.tmp").is_empty());

    // Reads do not need the lock.
    assert_eq!(cache.get::<i64>("k").unwrap(), Some(1));
    assert!(cache.contains("k").unwrap());
    assert_eq!(cache.len().unwrap(), 1);
    // Iteration is a whole-cache operation: on the logged path it checkpoints the log first,
    // under the lock (the direct path, the only one off Linux, has no log to apply).
    if cache.settings().write_path == diskcache::WritePath::Logged {
        assert!(matches!(
            cache.keys().unwrap().next(),
            Some(Err(Error::Timeout))
        ));
    }

    drop(held);
    drop(held_log);
    cache.set("k", 2).unwrap();
    assert_eq!(cache.incr("k", 1, None).unwrap(), 3);
    assert_eq!(cache.len().unwrap(), 1);
}

#[test]
fn the_wait_follows_the_handles_own_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let patient = Cache::builder()
        .timeout(Duration::from_secs(30))
        .open(dir.path())
        .unwrap();
    let hasty = Cache::builder()
        .timeout(Duration::from_millis(20))
        .open(dir.path())
        .unwrap();
    let db = other_writer(dir.path());
    let held = db.begin_write().unwrap();
    let held_log = common::hold_log_lock(dir.path());
    assert!(matches!(hasty.set("a", 1), Err(Error::Timeout)));
    // The patient handle outlasts a writer that lets go well within its timeout.
    std::thread::scope(|s| {
        let waiter = s.spawn(|| patient.set("b", 2));
        std::thread::sleep(Duration::from_millis(100));
        drop(held);
        drop(held_log);
        waiter.join().unwrap().unwrap();
    });
    assert_eq!(hasty.get::<i64>("b").unwrap(), Some(2));
    assert!(!hasty.contains("a").unwrap());
}

#[test]
fn a_zero_timeout_still_writes_when_no_one_else_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .timeout(Duration::ZERO)
        .open(dir.path())
        .unwrap();
    cache.set("k", 1).unwrap();
    assert_eq!(cache.incr("k", 1, None).unwrap(), 2);
    let db = other_writer(dir.path());
    let held = db.begin_write().unwrap();
    let held_log = common::hold_log_lock(dir.path());
    assert!(matches!(cache.set("k", 3), Err(Error::Timeout)));
    drop(held);
    drop(held_log);
    cache.set("k", 3).unwrap();
}

#[test]
fn a_timeout_of_duration_max_waits_without_limit_instead_of_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let created = Cache::builder()
        .timeout(Duration::MAX)
        .min_file_size(4096)
        .open(dir.path())
        .unwrap();
    created.set("k", 1).unwrap();
    drop(created);
    let reopened = Cache::builder()
        .timeout(Duration::MAX)
        .open(dir.path())
        .unwrap();
    assert_eq!(reopened.settings().timeout, Duration::MAX);
    assert_eq!(reopened.incr("k", 1, None).unwrap(), 2);
}

/// Opens `builder` on `dir` while `held` keeps another writer's lock, giving up waiting after
/// `limit`: `None` if the open was still blocked then. `held` is released before returning, so a
/// blocked open finishes and its thread can be joined.
fn open_while_held(
    builder: CacheBuilder,
    dir: &Path,
    held: redb::WriteTransaction,
    limit: Duration,
) -> Option<diskcache::Result<Cache>> {
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(move || {
            let _ = tx.send(builder.open(dir));
        });
        let got = rx.recv_timeout(limit).ok();
        drop(held);
        got
    })
}

#[test]
fn reopening_with_a_changed_setting_times_out_while_another_writer_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    drop(
        Cache::builder()
            .min_file_size(2048)
            .open(dir.path())
            .unwrap(),
    );
    let db = other_writer(dir.path());
    let builder = Cache::builder()
        .timeout(Duration::from_millis(50))
        .min_file_size(10);
    let got = open_while_held(
        builder,
        dir.path(),
        db.begin_write().unwrap(),
        Duration::from_secs(5),
    );
    let Some(result) = got else {
        panic!("open was still blocked 5 s into a 50 ms timeout");
    };
    assert!(matches!(result, Err(Error::Timeout)));
}

/// redb's multi-writer open takes the writer lock (to repair a file left by a crash), so even a
/// plain reopen waits for another writer; the wait is bounded by the handle's timeout.
#[test]
fn a_plain_reopen_waits_for_another_writer_at_most_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    drop(
        Cache::builder()
            .min_file_size(2048)
            .open(dir.path())
            .unwrap(),
    );
    let db = other_writer(dir.path());
    let builder = Cache::builder()
        .timeout(Duration::from_millis(50))
        .min_file_size(2048);
    let got = open_while_held(
        builder,
        dir.path(),
        db.begin_write().unwrap(),
        Duration::from_secs(5),
    );
    let Some(result) = got else {
        panic!("open was still blocked 5 s into a 50 ms timeout");
    };
    assert!(matches!(result, Err(Error::Timeout)));
    let reopened = Cache::builder()
        .min_file_size(2048)
        .open(dir.path())
        .unwrap();
    assert_eq!(reopened.settings().min_file_size, 2048);
}

#[test]
fn a_changed_setting_is_stored_while_another_handle_has_the_database_open() {
    let dir = tempfile::tempdir().unwrap();
    drop(
        Cache::builder()
            .min_file_size(2048)
            .open(dir.path())
            .unwrap(),
    );
    let db = other_writer(dir.path());
    let held = db.begin_write().unwrap();
    let held_log = common::hold_log_lock(dir.path());
    drop(held);
    drop(held_log);
    let changed = Cache::builder()
        .timeout(Duration::from_millis(50))
        .min_file_size(10)
        .open(dir.path())
        .unwrap();
    assert_eq!(changed.settings().min_file_size, 10);
}
