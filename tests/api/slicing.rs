//! Whole-cache operations that work in slices while other writers write. `check` reads a
//! snapshot without the write lock and reports only what still holds when it looks again
//! under the lock: a damaged entry that a writer replaced or deleted in between is neither
//! reported nor removed. An order table being built (a `build:<table>` row in `settings`) is
//! kept in step by every writer, so that it is right when `reset` puts it in force. Guards
//! against a check that reports or repairs from a stale snapshot, against writes during a
//! build going missing from the new table, and against whole-cache operations that change
//! what they did before slicing (same results on a quiet cache).
//!
//! Negative controls (`src/testing/sabotage.rs`): `check-skips-confirm` and `writers-ignore-builds`
//! each make tests here fail.
//!
//! Unix only: the tests hold a check in the middle of a read with a named pipe.
#![cfg(unix)]

use crate::common;

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use diskcache::{Cache, EvictionPolicy, Key, SetOptions, Setting, WritePath};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};

const ENTRIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("entries");
const SETTINGS: TableDefinition<&str, u64> = TableDefinition::new("settings");
const ORDER_TAG: TableDefinition<(&[u8], u64), &[u8]> = TableDefinition::new("order_tag");
const ORDER_ACCESS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("order_access");

const PATHS: [WritePath; 2] = [WritePath::Logged, WritePath::Direct];

/// The value file of `len` bytes (each test's values have sizes that tell them apart).
fn value_file(dir: &Path, len: u64) -> PathBuf {
    let found: Vec<PathBuf> = common::files_ending_with(dir, ".val")
        .into_iter()
        .map(|p| dir.join(p))
        .filter(|p| fs::metadata(p).is_ok_and(|m| m.len() == len && m.is_file()))
        .collect();
    assert_eq!(found.len(), 1, "no single value file of {len} bytes");
    found.into_iter().next().unwrap()
}

fn flip(path: &Path) {
    let mut bytes = fs::read(path).unwrap();
    bytes[100] ^= 0x01;
    fs::write(path, &bytes).unwrap();
}

/// Replaces the file at `path` with a named pipe: a check that opens it waits until a
/// writer opens the other end, and reads until that writer closes it.
fn make_fifo(path: &Path) {
    fs::remove_file(path).unwrap();
    let name = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: `name` is a valid NUL-terminated path.
    #[allow(unsafe_code)]
    let made = unsafe { libc::mkfifo(name.as_ptr(), 0o600) };
    assert_eq!(made, 0);
}

/// Opens the writing end of the pipe at `path` once a reader has opened it (a check has
/// reached it and is waiting): from then on the check waits in its read until the returned
/// file is closed.
fn wait_for_reader(path: &Path) -> File {
    let start = Instant::now();
    loop {
        match OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
        {
            Ok(file) => return file,
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                assert!(
                    start.elapsed() < common::child::PATIENCE,
                    "no check opened it"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// A cache whose entries `a`, `b` and `c` have damaged value files and whose entry `d`
/// (last in key order, an empty value) has a named pipe for its value file; then a check
/// that, while it waits at the pipe, sees `a` replaced and `b` deleted by another handle.
/// Returns the check's warnings and the cache.
fn check_while_replaced(dir: &Path, write_path: WritePath, fix: bool) -> (Vec<String>, Cache) {
    let cache = Cache::builder()
        .min_file_size(0)
        .write_path(write_path)
        .open(dir)
        .unwrap();
    cache.set("a", vec![1u8; 2000]).unwrap();
    cache.set("b", vec![2u8; 2001]).unwrap();
    cache.set("c", vec![3u8; 2002]).unwrap();
    cache.set("d", Vec::<u8>::new()).unwrap();
    for len in [2000, 2001, 2002] {
        flip(&value_file(dir, len));
    }
    let pipe = value_file(dir, 0);
    make_fifo(&pipe);
    // Another process's handle, which gives up if check holds the write lock for long.
    let other = Cache::builder()
        .timeout(Duration::from_secs(5))
        .open(dir)
        .unwrap();
    let checker = {
        let cache = cache.clone();
        std::thread::spawn(move || cache.check(fix))
    };
    let writer_end = wait_for_reader(&pipe);
    // The check has its snapshot and has found a, b and c damaged.
    let written = other.set("a", vec![9u8; 3000]);
    let deleted = other.delete("b");
    drop(writer_end);
    let warnings = checker
        .join()
        .unwrap()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>();
    written.expect("a write waited for the whole check");
    assert!(deleted.unwrap());
    (warnings, cache)
}

#[test]
fn a_damaged_entry_replaced_or_deleted_after_checks_snapshot_is_not_reported() {
    for write_path in PATHS {
        let dir = tempfile::tempdir().unwrap();
        let (warnings, cache) = check_while_replaced(dir.path(), write_path, false);
        assert_eq!(warnings.len(), 1, "{write_path:?}: {warnings:#?}");
        assert!(
            warnings[0].contains("key 'c'") && warnings[0].contains("crc32"),
            "{write_path:?}: {warnings:#?}"
        );
        assert_eq!(cache.get::<Vec<u8>>("a").unwrap(), Some(vec![9u8; 3000]));
        assert_eq!(cache.len().unwrap(), 3);
    }
}

#[test]
fn check_true_removes_only_the_damaged_entries_no_writer_replaced() {
    for write_path in PATHS {
        let dir = tempfile::tempdir().unwrap();
        let (warnings, cache) = check_while_replaced(dir.path(), write_path, true);
        assert_eq!(warnings.len(), 1, "{write_path:?}: {warnings:#?}");
        assert!(warnings[0].contains("key 'c'"), "{warnings:#?}");
        assert_eq!(cache.get::<Vec<u8>>("a").unwrap(), Some(vec![9u8; 3000]));
        assert_eq!(cache.get::<Vec<u8>>("c").unwrap(), None);
        assert_eq!(cache.len().unwrap(), 2, "{write_path:?}");
        // The pipe goes with its entry, so that the next check does not wait at it.
        assert!(cache.delete("d").unwrap());
        assert_eq!(cache.check(false).unwrap(), Vec::new());
        assert_eq!(cache.len().unwrap(), 1);
    }
}

/// The row of `key` in `entries`: (row id, access time, tag).
fn row_fields(row: &[u8]) -> (u64, u64, Option<Vec<u8>>) {
    let u64_at = |at: usize| u64::from_le_bytes(row[at..at + 8].try_into().unwrap());
    let tag_len = u32::from_le_bytes(row[56..60].try_into().unwrap()) as usize;
    let tag = (tag_len > 0).then(|| row[60..60 + tag_len].to_vec());
    (u64_at(8), u64_at(32), tag)
}

/// Marks a build of `table` in progress in the closed cache in `dir`, as a builder that
/// stopped after filling the table for every row stored now would have left it.
fn mark_build(dir: &Path, table: &str) {
    let db = redb::Database::builder()
        .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
        .create(dir.join("cache.redb"))
        .unwrap();
    let rows: Vec<(Vec<u8>, Vec<u8>)> = {
        let txn = db.begin_read().unwrap();
        let entries = txn.open_table(ENTRIES).unwrap();
        entries
            .iter()
            .unwrap()
            .map(|item| {
                let (k, v) = item.unwrap();
                (k.value().to_vec(), v.value().to_vec())
            })
            .collect()
    };
    let txn = db.begin_write().unwrap();
    {
        let mut tags = txn.open_table(ORDER_TAG).unwrap();
        let mut access = txn.open_table(ORDER_ACCESS).unwrap();
        for (key, row) in &rows {
            let (id, access_time, tag) = row_fields(row);
            match (table, tag) {
                ("order_tag", Some(tag)) => {
                    tags.insert((tag.as_slice(), id), key.as_slice()).unwrap();
                }
                ("order_access", _) => {
                    access.insert((access_time, id), key.as_slice()).unwrap();
                }
                _ => {}
            }
        }
        let mut settings = txn.open_table(SETTINGS).unwrap();
        settings
            .insert(format!("build:{table}").as_str(), 7)
            .unwrap();
    }
    if table != "order_tag" {
        txn.delete_table(ORDER_TAG).unwrap();
    }
    if table != "order_access" {
        txn.delete_table(ORDER_ACCESS).unwrap();
    }
    txn.commit().unwrap();
}

#[test]
fn writers_keep_a_tag_index_being_built_in_step_and_reset_completes_it() {
    for write_path in PATHS {
        let dir = tempfile::tempdir().unwrap();
        let open = || {
            Cache::builder()
                .write_path(write_path)
                .open(dir.path())
                .unwrap()
        };
        let cache = open();
        let tagged = |i: i64| SetOptions::default().tag(format!("t{}", i % 3));
        for i in 0..60 {
            cache.set_with(i, i, tagged(i)).unwrap();
        }
        cache.close().unwrap();
        mark_build(dir.path(), "order_tag");
        let cache = open();
        assert!(!cache.settings().tag_index);
        // Deleted, moved to another tag, untagged, and new.
        for i in 0..10 {
            assert!(cache.delete(i).unwrap());
            cache.set_with(10 + i, i, tagged(11 + i)).unwrap();
            cache.set(20 + i, i).unwrap();
            cache.set_with(100 + i, i, tagged(i)).unwrap();
        }
        cache.create_tag_index().unwrap();
        assert!(cache.settings().tag_index);
        assert_eq!(cache.check(false).unwrap(), Vec::new(), "{write_path:?}");
        let removed = cache.evict("t1").unwrap();
        let expected = (10..20).filter(|i| (i + 1) % 3 == 1).count()
            + (30..60).filter(|i| i % 3 == 1).count()
            + (0..10).filter(|i| i % 3 == 1).count();
        assert_eq!(removed, expected as u64, "{write_path:?}");
        assert_eq!(cache.check(false).unwrap(), Vec::new());
    }
}

#[test]
fn writers_and_reads_keep_a_policy_table_being_built_in_step() {
    for write_path in PATHS {
        let dir = tempfile::tempdir().unwrap();
        let open = || {
            Cache::builder()
                .write_path(write_path)
                .open(dir.path())
                .unwrap()
        };
        let cache = open();
        for i in 0..60 {
            cache.set(i, i).unwrap();
        }
        cache.close().unwrap();
        mark_build(dir.path(), "order_access");
        let cache = open();
        assert_eq!(
            cache.settings().eviction_policy,
            EvictionPolicy::LeastRecentlyStored
        );
        for i in 0..10 {
            assert!(cache.delete(i).unwrap());
            cache.set(10 + i, i + 1).unwrap();
            cache.set(100 + i, i).unwrap();
        }
        cache.checkpoint().unwrap();
        cache
            .reset(Setting::EvictionPolicy(EvictionPolicy::LeastRecentlyUsed))
            .unwrap();
        assert_eq!(cache.check(false).unwrap(), Vec::new(), "{write_path:?}");
    }
}

#[test]
fn reset_and_check_while_another_thread_writes_leave_every_table_right() {
    for write_path in PATHS {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::builder()
            .write_path(write_path)
            .open(dir.path())
            .unwrap();
        for i in 0..1000 {
            let opts = SetOptions::default().tag(format!("t{}", i % 7));
            cache.set_with(i, vec![0u8; 50], opts).unwrap();
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (cache, stop) = (cache.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0i64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let opts = SetOptions::default().tag(format!("t{}", i % 5));
                    cache.set_with(i % 1500, vec![1u8; 60], opts).unwrap();
                    cache.delete((i * 7) % 1500).unwrap();
                    cache.get::<Vec<u8>>((i * 3) % 1500).unwrap();
                    i += 1;
                }
            })
        };
        let policies = [
            EvictionPolicy::LeastFrequentlyUsed,
            EvictionPolicy::None,
            EvictionPolicy::LeastRecentlyUsed,
        ];
        for policy in policies {
            cache.reset(Setting::EvictionPolicy(policy)).unwrap();
            cache.create_tag_index().unwrap();
            assert_eq!(cache.check(true).unwrap(), Vec::new());
            cache.drop_tag_index().unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().unwrap();
        assert_eq!(cache.check(false).unwrap(), Vec::new(), "{write_path:?}");
        assert_eq!(cache.len().unwrap(), common::keys_of(&cache).len() as u64);
    }
}

#[test]
fn clear_leaves_the_entries_a_writer_adds_while_it_runs_and_every_count_right() {
    // Whatever the interleaving: every key clear found is gone unless the writer set it
    // again, and len() is the rows there are.
    for write_path in PATHS {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::builder()
            .write_path(write_path)
            .min_file_size(500)
            .open(dir.path())
            .unwrap();
        for i in 0..1000 {
            cache
                .set(i, vec![7u8; 10 + (i as usize % 4 / 3) * 600])
                .unwrap();
        }
        let writer = {
            let cache = cache.clone();
            std::thread::spawn(move || {
                for i in 0..300 {
                    cache.set(Key::from(format!("new{i}")), i).unwrap();
                }
            })
        };
        let removed = cache.clear().unwrap();
        writer.join().unwrap();
        assert!(removed >= 1000, "{removed}");
        for i in 0..1000 {
            assert!(!cache.contains(i).unwrap(), "{write_path:?}: {i} stayed");
        }
        let left = cache.len().unwrap();
        assert_eq!(left, common::keys_of(&cache).len() as u64);
        assert_eq!(left + removed, 1300, "{write_path:?}");
        assert_eq!(cache.check(false).unwrap(), Vec::new());
        assert!(common::files_ending_with(dir.path(), ".val").is_empty());
    }
}

#[test]
fn a_duplicate_row_id_is_reported_and_the_later_row_gets_a_fresh_one() {
    for write_path in PATHS {
        let dir = tempfile::tempdir().unwrap();
        let open = || {
            Cache::builder()
                .write_path(write_path)
                .tag_index(true)
                .open(dir.path())
                .unwrap()
        };
        let cache = open();
        for (i, key) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            let opts = SetOptions::default()
                .tag(format!("t{}", i % 2))
                .expire(Duration::from_secs(3600));
            cache.set_with(key, i as i64, opts).unwrap();
        }
        cache.close().unwrap();
        // d gets b's row id.
        let db = redb::Database::builder()
            .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
            .create(dir.path().join("cache.redb"))
            .unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut entries = txn.open_table(ENTRIES).unwrap();
            let row_of = |key: &str| {
                let key = Key::from(key).encode().unwrap();
                entries
                    .get(key.as_slice())
                    .unwrap()
                    .unwrap()
                    .value()
                    .to_vec()
            };
            let b = row_of("b");
            let mut d = row_of("d");
            d[8..16].copy_from_slice(&b[8..16]);
            let key = Key::from("d").encode().unwrap();
            entries.insert(key.as_slice(), d.as_slice()).unwrap();
        }
        txn.commit().unwrap();
        drop(db);
        let cache = open();
        let warnings: Vec<String> = cache
            .check(false)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            warnings[0].contains("key 'd'") && warnings[0].contains("another entry's too"),
            "{write_path:?}: {warnings:#?}"
        );
        assert_eq!(
            cache
                .check(true)
                .unwrap()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            warnings,
            "{write_path:?}"
        );
        assert_eq!(cache.check(false).unwrap(), Vec::new());
        for (i, key) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            assert_eq!(cache.get::<i64>(key).unwrap(), Some(i as i64));
        }
        let order: Vec<Key> = common::keys_of(&cache);
        assert_eq!(order.last(), Some(&Key::from("d")), "{write_path:?}");
        assert_eq!(cache.evict("t1").unwrap(), 2);
        assert_eq!(cache.check(false).unwrap(), Vec::new());
    }
}

#[test]
fn clear_removes_every_entry_even_with_a_row_id_counter_damaged_low() {
    for write_path in PATHS {
        let dir = tempfile::tempdir().unwrap();
        let open = || {
            Cache::builder()
                .write_path(write_path)
                .open(dir.path())
                .unwrap()
        };
        let cache = open();
        for i in 0..300 {
            cache.set(i, i).unwrap();
        }
        cache.close().unwrap();
        let db = redb::Database::builder()
            .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
            .create(dir.path().join("cache.redb"))
            .unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(TableDefinition::<&str, u64>::new("meta"))
            .unwrap()
            .insert("next_row_id", 2)
            .unwrap();
        txn.commit().unwrap();
        drop(db);
        let cache = open();
        assert_eq!(cache.clear().unwrap(), 300, "{write_path:?}");
        assert_eq!(cache.len().unwrap(), 0);
    }
}

#[test]
fn two_checks_that_fix_at_once_correct_a_wrong_count_once() {
    // Check A takes its snapshot and waits at a pipe; meanwhile check B, which started
    // later, corrects the count; then A goes on and must not correct it again.
    for write_path in PATHS {
        let dir = tempfile::tempdir().unwrap();
        let open = || {
            Cache::builder()
                .min_file_size(0)
                .write_path(write_path)
                .open(dir.path())
                .unwrap()
        };
        let cache = open();
        for i in 0..10 {
            cache.set(i, vec![1u8; 100 + i as usize]).unwrap();
        }
        cache.set("pipe", Vec::<u8>::new()).unwrap();
        cache.close().unwrap();
        let db = redb::Database::builder()
            .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
            .create(dir.path().join("cache.redb"))
            .unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(TableDefinition::<&str, u64>::new("meta"))
            .unwrap()
            .insert("count", 16)
            .unwrap();
        txn.commit().unwrap();
        drop(db);
        let pipe = value_file(dir.path(), 0);
        make_fifo(&pipe);
        let cache = open();
        assert_eq!(cache.len().unwrap(), 16);
        let a = {
            let cache = cache.clone();
            std::thread::spawn(move || cache.check(true))
        };
        let writer_end = wait_for_reader(&pipe);
        // B does not meet the pipe: its entry is gone (A holds the pipe open).
        let other = open();
        assert!(other.delete("pipe").unwrap());
        let b = other
            .check(true)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>();
        assert_eq!(b, ["the count of entries is 15, but there are 10 rows"]);
        assert_eq!(other.len().unwrap(), 10);
        drop(writer_end);
        let a = a
            .join()
            .unwrap()
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>();
        assert_eq!(a, ["the count of entries is 16, but there are 11 rows"]);
        assert_eq!(cache.len().unwrap(), 10, "{write_path:?}: corrected twice");
        assert_eq!(cache.check(false).unwrap(), Vec::new());
    }
}
