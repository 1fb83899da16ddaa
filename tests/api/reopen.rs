//! Closing and reopening a cache directory. Guards against entries, counters, insertion order or
//! value files being lost or changed across a close, against settings chosen at creation not
//! being stored (or a builder override on reopen not replacing them), against `timeout` leaking
//! from one handle to another, and against a cache written by a newer format (or damaged
//! stored settings, or a file that is not a database) being opened as if it were fine.

use crate::common;

use common::keys_of;

use std::path::Path;
use std::time::Duration;

use diskcache::{
    Cache, Durability, Error, EvictionPolicy, FORMAT_VERSION, Key, SetOptions, Settings,
};
use redb::TableDefinition;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const SETTINGS: TableDefinition<&str, u64> = TableDefinition::new("settings");

/// Writes `rows` into `table` of the closed cache in `dir`, with redb directly.
fn write_rows(dir: &Path, table: TableDefinition<&str, u64>, rows: &[(&str, u64)]) {
    let db = redb::Database::builder()
        .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
        .create(dir.join("cache.redb"))
        .unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut t = txn.open_table(table).unwrap();
        for (name, value) in rows {
            t.insert(*name, *value).unwrap();
        }
    }
    txn.commit().unwrap();
}

#[test]
fn settings_chosen_at_creation_are_stored_and_apply_when_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let created = Cache::builder()
        .size_limit(5_000_000)
        .cull_limit(3)
        .eviction_policy(EvictionPolicy::LeastFrequentlyUsed)
        .statistics(true)
        .tag_index(true)
        .min_file_size(2048)
        .durability(Durability::Sync)
        .timeout(Duration::from_secs(5))
        .open(dir.path())
        .unwrap();
    let chosen = created.settings();
    assert_eq!(chosen.size_limit, 5_000_000);
    assert_eq!(chosen.cull_limit, 3);
    assert_eq!(chosen.eviction_policy, EvictionPolicy::LeastFrequentlyUsed);
    assert!(chosen.statistics);
    assert!(chosen.tag_index);
    assert_eq!(chosen.min_file_size, 2048);
    assert_eq!(chosen.durability, Durability::Sync);
    assert_eq!(chosen.timeout, Duration::from_secs(5));
    created.close().unwrap();

    let reopened = Cache::open(dir.path()).unwrap();
    let mut expected: Settings = chosen;
    expected.timeout = Duration::from_secs(60);
    assert_eq!(reopened.settings(), expected);
    // The stored threshold is the one in force.
    reopened.set("big", vec![1u8; 2048]).unwrap();
    reopened.set("small", vec![1u8; 2047]).unwrap();
    assert_eq!(common::files_ending_with(dir.path(), ".val").len(), 1);
}

#[test]
fn a_builder_override_on_reopen_replaces_the_stored_value_and_is_stored_in_turn() {
    let dir = tempfile::tempdir().unwrap();
    drop(
        Cache::builder()
            .min_file_size(2048)
            .cull_limit(3)
            .eviction_policy(EvictionPolicy::LeastRecentlyUsed)
            .open(dir.path())
            .unwrap(),
    );
    let overridden = Cache::builder()
        .min_file_size(100)
        .eviction_policy(EvictionPolicy::None)
        .durability(Durability::Sync)
        .open(dir.path())
        .unwrap();
    let s = overridden.settings();
    assert_eq!(s.min_file_size, 100);
    assert_eq!(s.eviction_policy, EvictionPolicy::None);
    assert_eq!(s.durability, Durability::Sync);
    assert_eq!(
        s.cull_limit, 3,
        "a setting not overridden keeps its stored value"
    );
    overridden.set("k", vec![0u8; 100]).unwrap();
    assert_eq!(common::files_ending_with(dir.path(), ".val").len(), 1);
    drop(overridden);

    let again = Cache::open(dir.path()).unwrap().settings();
    assert_eq!(again.min_file_size, 100);
    assert_eq!(again.eviction_policy, EvictionPolicy::None);
    assert_eq!(again.durability, Durability::Sync);
    assert_eq!(again.cull_limit, 3);

    let back = Cache::builder()
        .durability(Durability::NoSync)
        .eviction_policy(EvictionPolicy::LeastRecentlyStored)
        .open(dir.path())
        .unwrap();
    assert_eq!(back.settings().durability, Durability::NoSync);
    back.set("k2", 1).unwrap();
    assert_eq!(back.get::<Vec<u8>>("k").unwrap(), Some(vec![0u8; 100]));
    drop(back);
    let s = Cache::open(dir.path()).unwrap().settings();
    assert_eq!(s.durability, Durability::NoSync);
    assert_eq!(s.eviction_policy, EvictionPolicy::LeastRecentlyStored);
}

#[test]
fn the_last_builder_call_for_a_setting_wins() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .min_file_size(1)
        .min_file_size(4096)
        .timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(2))
        .open(dir.path())
        .unwrap();
    assert_eq!(cache.settings().min_file_size, 4096);
    assert_eq!(cache.settings().timeout, Duration::from_secs(2));
}

#[test]
fn timeout_is_per_handle_and_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let first = Cache::builder()
        .timeout(Duration::from_millis(250))
        .open(dir.path())
        .unwrap();
    let second = Cache::builder()
        .timeout(Duration::from_secs(7))
        .open(dir.path())
        .unwrap();
    let third = Cache::open(dir.path()).unwrap();
    assert_eq!(first.settings().timeout, Duration::from_millis(250));
    assert_eq!(second.settings().timeout, Duration::from_secs(7));
    assert_eq!(third.settings().timeout, Duration::from_secs(60));
    assert_eq!(first.clone().settings().timeout, Duration::from_millis(250));
    drop((first, second, third));
    assert_eq!(
        Cache::open(dir.path()).unwrap().settings().timeout,
        Duration::from_secs(60)
    );
}

#[test]
fn entries_survive_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .min_file_size(1024)
        .open(dir.path())
        .unwrap();
    let big = vec![7u8; 5000];
    cache.set("int", 42).unwrap();
    cache.set(1.5, "float key").unwrap();
    cache.set(&b"bytes"[..], &big).unwrap();
    let composite = Key::from_serialize(&("user", 7)).unwrap();
    cache
        .set_with(
            &composite,
            vec!["a".to_string()],
            SetOptions::default()
                .expire(Duration::from_secs(3600))
                .tag("web"),
        )
        .unwrap();
    cache.set("gone", 0).unwrap();
    cache.delete("gone").unwrap();
    let entry_before = cache.get_entry::<Vec<String>>(&composite).unwrap().unwrap();
    let len = cache.len().unwrap();
    let volume = cache.volume().unwrap();
    let keys = keys_of(&cache);
    cache.close().unwrap();

    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(cache.settings().min_file_size, 1024);
    assert_eq!(cache.get::<i64>("int").unwrap(), Some(42));
    assert_eq!(
        cache.get::<String>(1.5).unwrap().as_deref(),
        Some("float key")
    );
    assert_eq!(cache.get::<Vec<u8>>(&b"bytes"[..]).unwrap(), Some(big));
    assert_eq!(
        cache.get_entry::<Vec<String>>(&composite).unwrap(),
        Some(entry_before)
    );
    assert!(!cache.contains("gone").unwrap());
    assert_eq!(cache.len().unwrap(), len);
    assert_eq!(cache.volume().unwrap(), volume);
    assert_eq!(keys_of(&cache), keys);
    assert_eq!(cache.incr("int", 1, None).unwrap(), 43);
}

#[test]
fn keys_set_after_a_reopen_come_after_the_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    {
        let cache = Cache::open(dir.path()).unwrap();
        for k in ["c", "a", "b"] {
            cache.set(k, 0).unwrap();
        }
        // Dropped, not closed: the same.
    }
    let cache = Cache::open(dir.path()).unwrap();
    cache.set("0", 0).unwrap();
    cache.set("a", 1).unwrap();
    assert_eq!(
        keys_of(&cache),
        ["c", "a", "b", "0"].map(Key::from).to_vec()
    );
}

#[test]
fn a_cache_from_a_newer_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set("k", 1).unwrap();
    cache.close().unwrap();
    write_rows(dir.path(), META, &[("format_version", 99)]);

    let err = Cache::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnsupportedVersion {
                found: 99,
                supported: FORMAT_VERSION
            }
        ),
        "{err:?}"
    );
    assert_eq!(FORMAT_VERSION, 3);
    let msg = err.to_string();
    let numbers: Vec<&str> = msg
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .collect();
    assert!(numbers.contains(&"99") && numbers.contains(&"3"), "{msg}");
    // A builder override, which needs a write, is refused the same way.
    assert!(matches!(
        Cache::builder().min_file_size(1).open(dir.path()),
        Err(Error::UnsupportedVersion { found: 99, .. })
    ));
}

#[test]
fn a_cache_with_format_version_zero_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Cache::open(dir.path()).unwrap());
    write_rows(dir.path(), META, &[("format_version", 0)]);
    assert!(matches!(
        Cache::open(dir.path()),
        Err(Error::UnsupportedVersion {
            found: 0,
            supported: FORMAT_VERSION
        })
    ));
}

#[test]
fn a_stored_setting_unknown_to_this_build_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    drop(Cache::builder().cull_limit(4).open(dir.path()).unwrap());
    write_rows(dir.path(), SETTINGS, &[("from_the_future", 3)]);
    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(cache.settings().cull_limit, 4);
    cache.set("k", 1).unwrap();
}

#[test]
fn a_damaged_stored_setting_is_reported_as_corruption() {
    let dir = tempfile::tempdir().unwrap();
    drop(Cache::open(dir.path()).unwrap());
    write_rows(dir.path(), SETTINGS, &[("eviction_policy", 99)]);
    assert!(matches!(Cache::open(dir.path()), Err(Error::Corrupted(_))));

    let dir = tempfile::tempdir().unwrap();
    drop(Cache::open(dir.path()).unwrap());
    write_rows(dir.path(), SETTINGS, &[("statistics", 2)]);
    assert!(matches!(Cache::open(dir.path()), Err(Error::Corrupted(_))));
}

#[test]
fn a_database_file_that_is_not_a_database_is_refused_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cache.redb"), vec![0xAB; 10_000]).unwrap();
    assert!(matches!(
        Cache::open(dir.path()),
        Err(Error::Io(_) | Error::Storage(_))
    ));
}
