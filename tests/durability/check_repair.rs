//! `check(fix)` and `compact()`: each kind of damage a cache directory can suffer (a value
//! file deleted, a byte of one flipped, an orphan value file, a wrong counter, a missing or
//! left-over order table entry, a row that does not decode) is reported by `check(false)`
//! without changing anything, repaired by `check(true)`, and gone from a second check, while
//! the undamaged entries still read back. Guards against damage going unseen, against a
//! check that repairs when asked only to look, against repairs that lose good entries, and
//! against `compact` not shrinking the file or losing data.
//!
//! The negative control `check-skips-crc` (`src/testing/sabotage.rs`) makes `check` skip the crc32 of
//! value files: `scripts/negative_controls.sh check-skips-crc` requires the flipped-byte test
//! to fail under it.

use crate::common;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use diskcache::{Cache, EvictionPolicy, Key, SetOptions, WritePath};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};

const ENTRIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("entries");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const ORDER_INSERT: TableDefinition<u64, &[u8]> = TableDefinition::new("order_insert");
const ORDER_EXPIRE: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("order_expire");
const ORDER_STORE: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("order_store");
const ORDER_ACCESS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("order_access");
const ORDER_FREQUENCY: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("order_frequency");
const ORDER_TAG: TableDefinition<(&[u8], u64), &[u8]> = TableDefinition::new("order_tag");

/// Values of at least this many bytes go to files.
const MIN_FILE_SIZE: u64 = 256;
/// File-valued entries `f0`.. have sizes `FILE_BASE + i`, so a file's size tells its key.
const FILE_BASE: usize = 1000;
const FILES: usize = 6;

/// How a cache is opened; every damage is tried on each.
#[derive(Clone, Copy, Debug)]
struct Variant {
    policy: EvictionPolicy,
    tag_index: bool,
    write_path: WritePath,
}

const VARIANTS: [Variant; 3] = [
    Variant {
        policy: EvictionPolicy::LeastRecentlyStored,
        tag_index: false,
        write_path: WritePath::Logged,
    },
    Variant {
        policy: EvictionPolicy::LeastRecentlyUsed,
        tag_index: true,
        write_path: WritePath::Logged,
    },
    Variant {
        policy: EvictionPolicy::LeastFrequentlyUsed,
        tag_index: true,
        write_path: WritePath::Direct,
    },
];

fn open(dir: &Path, v: Variant) -> Cache {
    Cache::builder()
        .min_file_size(MIN_FILE_SIZE)
        .eviction_policy(v.policy)
        .tag_index(v.tag_index)
        // No write removes the expired entries `populate` leaves for `check` to see.
        .cull_limit(0)
        // The logged path is Linux's only: elsewhere every variant is on the direct path.
        .write_path(if v.write_path.is_available() {
            v.write_path
        } else {
            WritePath::Direct
        })
        .open(dir)
        .unwrap()
}

/// The live entries a populated cache holds: (key, value).
fn live_entries() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for i in 0..10 {
        out.push((format!("i{i}"), vec![i as u8; 10]));
    }
    for i in 0..FILES {
        out.push((format!("f{i}"), vec![i as u8; FILE_BASE + i]));
    }
    for i in 0..4 {
        out.push((format!("t{i}"), vec![0x70 + i as u8; 20]));
    }
    out
}

/// Entries that have expired (counted, in the expire order, but not readable).
const EXPIRED: usize = 3;

/// A cache with inline and file values, expired entries and tagged ones (some expiring
/// later), checked clean.
fn populate(dir: &Path, v: Variant) -> Cache {
    let cache = open(dir, v);
    for (key, value) in live_entries() {
        let opts = if key.starts_with('t') {
            let tag = if key == "t0" { "odd" } else { "even" };
            SetOptions::default()
                .tag(tag)
                .expire(Duration::from_secs(3600))
        } else {
            SetOptions::default()
        };
        cache.set_with(key.as_str(), &value, opts).unwrap();
    }
    for i in 0..EXPIRED {
        let opts = SetOptions::default()
            .expire(Duration::from_millis(1))
            .tag("gone");
        // Sizes 7, 307, 607: none is a file-valued entry's size.
        cache
            .set_with(format!("x{i}"), vec![1u8; 300 * i + 7], opts)
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(5));
    // Reads, so the access order has something to say.
    assert_eq!(cache.get::<Vec<u8>>("i1").unwrap(), Some(vec![1; 10]));
    assert_eq!(cache.check(false).unwrap(), Vec::new(), "{v:?}");
    cache
}

/// Every live entry except `lost` reads back with its value, and the count is right.
fn assert_reads_back(cache: &Cache, lost: &[&str]) {
    for (key, value) in live_entries() {
        let got = cache.get::<Vec<u8>>(key.as_str()).unwrap();
        if lost.contains(&key.as_str()) {
            assert_eq!(got, None, "{key} was to be removed");
        } else {
            assert_eq!(got, Some(value), "{key}");
        }
    }
    let expected = live_entries().len() + EXPIRED - lost.len();
    assert_eq!(cache.len().unwrap(), expected as u64);
}

/// The value file of file-valued entry `f{i}`.
fn value_file(dir: &Path, i: usize) -> PathBuf {
    let want = (FILE_BASE + i) as u64;
    let found: Vec<PathBuf> = common::files_ending_with(dir, ".val")
        .into_iter()
        .map(|p| dir.join(p))
        .filter(|p| fs::metadata(p).unwrap().len() == want)
        .collect();
    assert_eq!(found.len(), 1, "the file of f{i} is not told by its size");
    found.into_iter().next().unwrap()
}

/// What a check must not change: the files and their sizes, and the counters.
fn state(cache: &Cache) -> (Vec<(PathBuf, u64)>, u64, u64) {
    let dir = cache.directory();
    let mut files: Vec<_> = common::files_ending_with(dir, ".val")
        .into_iter()
        .chain(common::files_ending_with(dir, ".val.tmp"))
        .map(|p| {
            let len = fs::metadata(dir.join(&p)).unwrap().len();
            (p, len)
        })
        .collect();
    files.sort();
    (files, cache.len().unwrap(), cache.volume().unwrap())
}

/// The common course of every damage test: `check(false)` reports (each warning containing
/// every one of `expect` somewhere among them) and changes nothing; `check(true)` reports
/// the same; a second `check(false)` finds nothing; returns the warnings.
fn report_then_repair(cache: &Cache, expect: &[&str]) -> Vec<String> {
    let before = state(cache);
    let warnings: Vec<String> = cache
        .check(false)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(!warnings.is_empty(), "the damage went unseen");
    for needle in expect {
        assert!(
            warnings.iter().any(|w| w.contains(needle)),
            "no warning mentions {needle:?}: {warnings:#?}"
        );
    }
    assert_eq!(state(cache), before, "check(false) changed something");
    assert_eq!(
        cache
            .check(false)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        warnings,
        "check(false) changed something"
    );
    assert_eq!(
        cache
            .check(true)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        warnings,
        "check(true) saw something else"
    );
    assert_eq!(cache.check(false).unwrap(), Vec::new(), "not repaired");
    warnings
}

/// Edits the database of the closed cache in `dir` in one write transaction.
fn edit_db(dir: &Path, edit: impl FnOnce(&redb::WriteTransaction)) {
    let db = redb::Database::builder()
        .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
        .create(dir.join("cache.redb"))
        .unwrap();
    let txn = db.begin_write().unwrap();
    edit(&txn);
    txn.commit().unwrap();
}

/// Closes `cache` with its log applied, edits its database, and opens it again.
fn damage_db(cache: Cache, v: Variant, edit: impl FnOnce(&redb::WriteTransaction)) -> Cache {
    let dir = cache.directory().to_path_buf();
    cache.checkpoint().unwrap();
    cache.close().unwrap();
    edit_db(&dir, edit);
    open(&dir, v)
}

fn encoded(key: &str) -> Vec<u8> {
    Key::from(key).encode().unwrap()
}

/// Removes from an order table the entry that names `key`.
fn remove_order_entry<K: redb::Key + 'static>(
    txn: &redb::WriteTransaction,
    table: TableDefinition<K, &[u8]>,
    key: &str,
) {
    let key = encoded(key);
    let mut table = txn.open_table(table).unwrap();
    let removed = table
        .extract_if(|_, k| k == key.as_slice())
        .unwrap()
        .count();
    assert_eq!(removed, 1, "the order table has no entry for the key");
}

fn backdate(path: &Path, by: Duration) {
    let file = File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - by).unwrap();
}

#[test]
fn a_clean_cache_checks_clean_on_every_variant() {
    for v in VARIANTS {
        let dir = tempfile::tempdir().unwrap();
        let cache = populate(dir.path(), v);
        assert_eq!(cache.check(true).unwrap(), Vec::new());
        // Again after removals and overwrites, and from a reopened handle.
        cache.delete("i0").unwrap();
        cache.set("f0", vec![9u8; 2000]).unwrap();
        cache.evict("even").unwrap();
        assert_eq!(cache.check(false).unwrap(), Vec::new(), "{v:?}");
        drop(cache);
        let cache = open(dir.path(), v);
        assert_eq!(cache.check(false).unwrap(), Vec::new(), "{v:?}");
    }
}

#[test]
fn a_deleted_value_file_is_reported_and_its_entry_removed() {
    for v in VARIANTS {
        let dir = tempfile::tempdir().unwrap();
        let cache = populate(dir.path(), v);
        let file = value_file(dir.path(), 3);
        fs::remove_file(&file).unwrap();
        let name = file.file_name().unwrap().to_str().unwrap();
        let warnings = report_then_repair(&cache, &["f3", "missing", name]);
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        assert_reads_back(&cache, &["f3"]);
    }
}

#[test]
fn a_flipped_byte_in_a_value_file_is_reported_and_the_entry_and_file_removed() {
    for v in VARIANTS {
        let dir = tempfile::tempdir().unwrap();
        let cache = populate(dir.path(), v);
        let file = value_file(dir.path(), 2);
        let mut bytes = fs::read(&file).unwrap();
        bytes[FILE_BASE / 2] ^= 0x01;
        fs::write(&file, &bytes).unwrap();
        let warnings = report_then_repair(&cache, &["f2", "crc32"]);
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        assert!(!file.exists(), "the damaged file stays");
        assert_reads_back(&cache, &["f2"]);
    }
}

#[test]
fn a_truncated_value_file_is_reported_by_its_size() {
    let v = VARIANTS[0];
    let dir = tempfile::tempdir().unwrap();
    let cache = populate(dir.path(), v);
    let file = value_file(dir.path(), 1);
    File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(10)
        .unwrap();
    report_then_repair(&cache, &["f1", "10 bytes"]);
    assert_reads_back(&cache, &["f1"]);
}

#[test]
fn old_orphan_files_are_reported_and_deleted_and_young_ones_left_alone() {
    for v in VARIANTS {
        let dir = tempfile::tempdir().unwrap();
        let cache = populate(dir.path(), v);
        let folder = dir.path().join("ab/cd");
        fs::create_dir_all(&folder).unwrap();
        let orphan = folder.join("abcd0123456789abcdef0123456789ab.val");
        let unfinished = folder.join("abcd0000000000000000000000000000.val.tmp");
        let young = folder.join("abcdffffffffffffffffffffffffffff.val");
        let not_ours = folder.join("notes.txt");
        for path in [&orphan, &unfinished, &young, &not_ours] {
            fs::write(path, b"no row names me").unwrap();
        }
        backdate(&orphan, Duration::from_secs(3600));
        backdate(&unfinished, Duration::from_secs(3600));
        backdate(&not_ours, Duration::from_secs(3600));
        let warnings = report_then_repair(
            &cache,
            &[
                "ab/cd/abcd0123456789abcdef0123456789ab.val",
                "ab/cd/abcd0000000000000000000000000000.val.tmp",
            ],
        );
        assert_eq!(warnings.len(), 2, "{warnings:#?}");
        assert!(!orphan.exists() && !unfinished.exists());
        assert!(
            young.exists(),
            "a file a writer may still commit was deleted"
        );
        assert!(
            not_ours.exists(),
            "a file that is not a value file was deleted"
        );
        assert_reads_back(&cache, &[]);
    }
}

#[test]
fn a_wrong_count_or_volume_is_reported_and_stored_again() {
    for v in VARIANTS {
        let dir = tempfile::tempdir().unwrap();
        let cache = populate(dir.path(), v);
        let (count, volume) = (cache.len().unwrap(), cache.volume().unwrap());
        let cache = damage_db(cache, v, |txn| {
            let mut meta = txn.open_table(META).unwrap();
            meta.insert("count", 7).unwrap();
            meta.insert("volume", 1).unwrap();
        });
        assert_eq!(cache.len().unwrap(), 7);
        let warnings = report_then_repair(&cache, &["count of entries is 7", "volume is 1"]);
        assert_eq!(warnings.len(), 2, "{warnings:#?}");
        assert_eq!(cache.len().unwrap(), count);
        assert_eq!(cache.volume().unwrap(), volume);
        assert_reads_back(&cache, &[]);
    }
}

#[test]
fn a_next_row_id_at_or_below_a_row_id_is_raised() {
    let v = VARIANTS[1];
    let dir = tempfile::tempdir().unwrap();
    let cache = populate(dir.path(), v);
    let cache = damage_db(cache, v, |txn| {
        txn.open_table(META)
            .unwrap()
            .insert("next_row_id", 2)
            .unwrap();
    });
    report_then_repair(&cache, &["next row id is 2"]);
    // A new key gets a fresh row id: it goes last in insertion order.
    cache.set("new", 1).unwrap();
    let last = cache.keys().unwrap().last().unwrap().unwrap();
    assert_eq!(last, Key::from("new"));
    assert_reads_back_plus_one(&cache);
}

fn assert_reads_back_plus_one(cache: &Cache) {
    for (key, value) in live_entries() {
        assert_eq!(cache.get::<Vec<u8>>(key.as_str()).unwrap(), Some(value));
    }
    let expected = live_entries().len() + EXPIRED + 1;
    assert_eq!(cache.len().unwrap(), expected as u64);
}

#[test]
fn a_missing_order_table_entry_is_reported_and_the_table_rebuilt() {
    // Each policy table on its variant, the tag table on both that keep it, and the
    // insertion and expire tables on the logged and the direct path.
    let cases = [
        (VARIANTS[0], "order_insert", "i4"),
        (VARIANTS[0], "order_expire", "x1"),
        (VARIANTS[0], "order_store", "f1"),
        (VARIANTS[1], "order_access", "f1"),
        (VARIANTS[1], "order_tag", "t2"),
        (VARIANTS[2], "order_insert", "f4"),
        (VARIANTS[2], "order_expire", "t3"),
        (VARIANTS[2], "order_frequency", "i1"),
        (VARIANTS[2], "order_tag", "x0"),
    ];
    for (v, table, key) in cases {
        let dir = tempfile::tempdir().unwrap();
        let cache = populate(dir.path(), v);
        let cache = damage_db(cache, v, |txn| match table {
            "order_insert" => remove_order_entry(txn, ORDER_INSERT, key),
            "order_expire" => remove_order_entry(txn, ORDER_EXPIRE, key),
            "order_store" => remove_order_entry(txn, ORDER_STORE, key),
            "order_access" => remove_order_entry(txn, ORDER_ACCESS, key),
            "order_frequency" => remove_order_entry(txn, ORDER_FREQUENCY, key),
            "order_tag" => remove_order_entry(txn, ORDER_TAG, key),
            _ => unreachable!(),
        });
        let warnings = report_then_repair(&cache, &[table, "1 rows have no entry"]);
        assert_eq!(warnings.len(), 1, "{v:?} {table}: {warnings:#?}");
        assert_reads_back(&cache, &[]);
        // The rebuilt tables work: insertion order, expiry and tags.
        let first = cache.keys().unwrap().next().unwrap().unwrap();
        assert_eq!(first, Key::from("i0"), "{v:?} {table}");
        assert_eq!(cache.expire().unwrap(), EXPIRED as u64);
        assert_eq!(cache.evict("even").unwrap(), 3);
        assert_eq!(cache.check(false).unwrap(), Vec::new());
    }
}

#[test]
fn a_stray_order_entry_and_a_left_over_policy_table_are_reported_and_removed() {
    let v = VARIANTS[0];
    let dir = tempfile::tempdir().unwrap();
    let cache = populate(dir.path(), v);
    let cache = damage_db(cache, v, |txn| {
        txn.open_table(ORDER_EXPIRE)
            .unwrap()
            .insert((5, 123_456), encoded("nobody").as_slice())
            .unwrap();
        txn.open_table(ORDER_FREQUENCY)
            .unwrap()
            .insert((0, 1), encoded("i0").as_slice())
            .unwrap();
    });
    let warnings = report_then_repair(&cache, &["order_expire", "nobody", "order_frequency"]);
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    assert_reads_back(&cache, &[]);
    assert_eq!(cache.expire().unwrap(), EXPIRED as u64);
}

#[test]
fn a_row_that_does_not_decode_is_reported_and_removed() {
    for v in VARIANTS {
        let dir = tempfile::tempdir().unwrap();
        let cache = populate(dir.path(), v);
        let cache = damage_db(cache, v, |txn| {
            txn.open_table(ENTRIES)
                .unwrap()
                .insert(encoded("i7").as_slice(), &b"not a row"[..])
                .unwrap();
        });
        let warnings = report_then_repair(&cache, &["i7", "does not decode"]);
        assert!(warnings[0].contains("does not decode"), "{warnings:#?}");
        assert_reads_back(&cache, &["i7"]);
        assert!(cache.keys().unwrap().all(|k| k.unwrap() != Key::from("i7")));
    }
}

#[test]
fn damage_of_several_kinds_at_once_is_all_repaired() {
    let v = VARIANTS[1];
    let dir = tempfile::tempdir().unwrap();
    let cache = populate(dir.path(), v);
    let cache = damage_db(cache, v, |txn| {
        txn.open_table(META).unwrap().insert("count", 0).unwrap();
        remove_order_entry(txn, ORDER_ACCESS, "i2");
        remove_order_entry(txn, ORDER_TAG, "t1");
        // The inline value of i5 gets a flipped byte.
        let mut entries = txn.open_table(ENTRIES).unwrap();
        let mut row = entries
            .get(encoded("i5").as_slice())
            .unwrap()
            .unwrap()
            .value()
            .to_vec();
        *row.last_mut().unwrap() ^= 0xff;
        entries
            .insert(encoded("i5").as_slice(), row.as_slice())
            .unwrap();
    });
    fs::remove_file(value_file(dir.path(), 0)).unwrap();
    let warnings = report_then_repair(
        &cache,
        &[
            "count of entries is 0",
            "order_access",
            "order_tag",
            "i5",
            "f0",
        ],
    );
    assert_eq!(warnings.len(), 5, "{warnings:#?}");
    assert_reads_back(&cache, &["i5", "f0"]);
}

#[test]
fn check_while_another_thread_writes_finds_nothing_and_loses_nothing() {
    // Value files are written before the write lock is taken, so a check often runs while
    // one exists that no row names yet: it must not be reported or deleted.
    for v in [VARIANTS[0], VARIANTS[2]] {
        let dir = tempfile::tempdir().unwrap();
        let cache = populate(dir.path(), v);
        let writer = {
            let cache = cache.clone();
            std::thread::spawn(move || {
                for i in 0..WRITES {
                    let size = if i % 3 == 0 { 600 } else { 8 };
                    cache.set(format!("w{i}"), vec![i as u8; size]).unwrap();
                    if i % 5 == 0 {
                        cache.delete(format!("w{}", i / 2)).unwrap();
                    }
                }
            })
        };
        while !writer.is_finished() {
            assert_eq!(cache.check(true).unwrap(), Vec::new(), "{v:?}");
            // The write lock is not fair: a thread that takes it again at once can keep
            // the writer waiting for as long as it loops.
            std::thread::sleep(Duration::from_millis(3));
        }
        writer.join().unwrap();
        assert_eq!(cache.check(false).unwrap(), Vec::new());
        assert_reads_back_written(&cache);
    }
}

const WRITES: usize = 60;

fn assert_reads_back_written(cache: &Cache) {
    let mut deleted = std::collections::HashSet::new();
    for i in 0..WRITES {
        if i % 5 == 0 {
            deleted.insert(i / 2);
        }
    }
    for i in 0..WRITES {
        let size = if i % 3 == 0 { 600 } else { 8 };
        let got = cache.get::<Vec<u8>>(format!("w{i}")).unwrap();
        // Step i deletes w{i/2}, which was set at step i/2 <= i and is never set again.
        let expected = (!deleted.contains(&i)).then(|| vec![i as u8; size]);
        assert_eq!(got, expected, "w{i}");
    }
}

#[test]
fn compact_shrinks_the_database_after_most_entries_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    for i in 0..5000 {
        cache.set(i, vec![(i % 251) as u8; 1000]).unwrap();
    }
    // In the database before they are deleted (one lane holds all 10,000 records, and a
    // checkpoint of a set and a delete of the same key writes nothing).
    cache.checkpoint().unwrap();
    for i in 0..5000 {
        if i % 50 != 0 {
            cache.delete(i).unwrap();
        }
    }
    cache.checkpoint().unwrap();
    let db = dir.path().join("cache.redb");
    let before = fs::metadata(&db).unwrap().len();
    cache.compact().unwrap();
    let after = fs::metadata(&db).unwrap().len();
    eprintln!("cache.redb: {before} bytes before compact, {after} after");
    assert!(after < before / 2, "{before} -> {after}");
    assert_eq!(cache.len().unwrap(), 100);
    for i in (0..5000).step_by(50) {
        assert_eq!(
            cache.get::<Vec<u8>>(i).unwrap(),
            Some(vec![(i % 251) as u8; 1000])
        );
    }
    assert_eq!(cache.check(false).unwrap(), Vec::new());
    cache.set("after", 1).unwrap();
    drop(cache);
    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(cache.get::<i64>("after").unwrap(), Some(1));
    assert_eq!(cache.len().unwrap(), 101);
}

#[test]
fn compact_times_out_while_another_handle_holds_a_read_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .timeout(Duration::from_millis(200))
        .open(dir.path())
        .unwrap();
    cache.set("k", 1).unwrap();
    cache.checkpoint().unwrap();
    let other = redb::Database::builder()
        .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
        .create(dir.path().join("cache.redb"))
        .unwrap();
    let snapshot = other.begin_read().unwrap();
    assert!(matches!(cache.compact(), Err(diskcache::Error::Timeout)));
    drop(snapshot);
    cache.compact().unwrap();
    assert_eq!(cache.get::<i64>("k").unwrap(), Some(1));
}

#[test]
fn another_handle_sees_the_repair_and_does_not_stop_compact_for_long() {
    // A second handle on the directory stands for another process: its own database
    // handle, its own cached snapshot.
    for v in [VARIANTS[0], VARIANTS[2]] {
        let dir = tempfile::tempdir().unwrap();
        let cache = populate(dir.path(), v);
        let other = open(dir.path(), v);
        assert_eq!(other.len().unwrap(), cache.len().unwrap());
        assert!(other.contains("f5").unwrap());
        fs::remove_file(value_file(dir.path(), 5)).unwrap();
        assert_eq!(cache.check(true).unwrap().len(), 1);
        assert!(!other.contains("f5").unwrap(), "{v:?}");
        assert_eq!(other.len().unwrap(), cache.len().unwrap());
        assert_eq!(other.check(false).unwrap(), Vec::new());
        // The other handle has just read; compact must get past its snapshot.
        assert!(other.contains("f4").unwrap());
        cache.compact().unwrap();
        assert_reads_back(&other, &["f5"]);
        assert_reads_back(&cache, &["f5"]);
    }
}

#[test]
fn removing_an_orphan_file_removes_the_folders_it_leaves_empty() {
    // As Python's check(fix=True), which removes empty folders.
    for v in VARIANTS {
        let dir = tempfile::tempdir().unwrap();
        let cache = populate(dir.path(), v);
        // A top folder no value file of `populate` uses.
        let top = (0..=255u8)
            .map(|b| format!("{b:02x}"))
            .find(|t| !dir.path().join(t).exists())
            .unwrap();
        let name = format!("{top}/01/{top}010123456789abcdef0123456789ab.val");
        let orphan = dir.path().join(&name);
        fs::create_dir_all(orphan.parent().unwrap()).unwrap();
        fs::write(&orphan, b"no row names me").unwrap();
        backdate(&orphan, Duration::from_secs(3600));
        let warnings = report_then_repair(&cache, &[name.as_str()]);
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        assert!(
            !dir.path().join(&top).exists(),
            "the emptied folders stayed"
        );
        assert_reads_back(&cache, &[]);
    }
}
