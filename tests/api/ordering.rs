//! Key order and insertion order at the ends: `keys_sorted` (diskcache's `iterkeys`) and
//! `peekitem`. Guards against keys_sorted disagreeing with the documented key order (numbers by
//! value, then text, bytes, composites), missing keys across batches or still in the log,
//! showing expired keys, and against peekitem returning an expired or removed end, or looping
//! on a damaged one.

use crate::common;

use std::time::Duration;

use diskcache::{Cache, Error, Key, SetOptions};

fn sorted(cache: &Cache, reverse: bool) -> Vec<Key> {
    cache
        .keys_sorted(reverse)
        .unwrap()
        .collect::<diskcache::Result<Vec<_>>>()
        .unwrap()
}

#[test]
fn keys_sorted_orders_numbers_by_value_then_text_bytes_and_composites() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let composite = Key::from_serialize(&("a", 1)).unwrap();
    let inserted: Vec<Key> = vec![
        composite.clone(),
        Key::from(&b"\x00"[..]),
        Key::from("b"),
        Key::from(2),
        Key::from(-1.5),
        Key::from("a"),
        Key::from(1.25),
        Key::from(-7),
    ];
    for k in &inserted {
        cache.set(k.clone(), 0).unwrap();
    }
    let expected: Vec<Key> = vec![
        Key::from(-7),
        Key::from(-1.5),
        Key::from(1.25),
        Key::from(2),
        Key::from("a"),
        Key::from("b"),
        Key::from(&b"\x00"[..]),
        composite,
    ];
    assert_eq!(sorted(&cache, false), expected);
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(sorted(&cache, true), reversed);
    // Insertion order is untouched.
    assert_eq!(common::keys_of(&cache), inserted);
}

#[test]
fn keys_sorted_crosses_batches_and_sees_writes_still_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    for i in (0..700).rev() {
        cache.set(i, i).unwrap();
    }
    let keys = sorted(&cache, false);
    assert_eq!(keys, (0..700).map(Key::from).collect::<Vec<_>>());
    let keys = sorted(&cache, true);
    assert_eq!(keys, (0..700).rev().map(Key::from).collect::<Vec<_>>());
}

#[test]
fn keys_sorted_yields_expired_keys_and_skips_deleted_ones() {
    // As Python's iterkeys: every stored key, expired or not, until it is removed.
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder().cull_limit(0).open(dir.path()).unwrap();
    for i in 0..5 {
        cache.set(i, i).unwrap();
    }
    cache
        .set_with(
            10,
            10,
            SetOptions::default().expire(Duration::from_millis(1)),
        )
        .unwrap();
    cache.delete(3).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let keys = sorted(&cache, false);
    assert_eq!(keys, [0, 1, 2, 4, 10].map(Key::from));
    assert!(!cache.contains(10).unwrap());
}

#[test]
fn peekitem_returns_the_ends_of_insertion_order_without_removing_them() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(cache.peekitem::<i64>(true).unwrap(), None);
    for (k, v) in [("c", 1), ("a", 2), ("b", 3)] {
        cache.set(k, v).unwrap();
    }
    assert_eq!(cache.peekitem::<i64>(true).unwrap(), Some(("b".into(), 3)));
    assert_eq!(cache.peekitem::<i64>(false).unwrap(), Some(("c".into(), 1)));
    // Re-setting keeps the place; peekitem reads the new value.
    cache.set("c", 10).unwrap();
    assert_eq!(
        cache.peekitem::<i64>(false).unwrap(),
        Some(("c".into(), 10))
    );
    assert_eq!(cache.len().unwrap(), 3);
    assert!(matches!(
        cache.peekitem::<String>(true),
        Err(Error::Codec(_))
    ));
}

#[test]
fn peekitem_skips_expired_and_deleted_ends() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let soon = SetOptions::default().expire(Duration::from_millis(1));
    cache.set_with("first", 0, soon.clone()).unwrap();
    cache.set("middle", 1).unwrap();
    cache.set("gone", 9).unwrap();
    cache.set_with("last", 2, soon).unwrap();
    cache.delete("gone").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(
        cache.peekitem::<i64>(false).unwrap(),
        Some(("middle".into(), 1))
    );
    assert_eq!(
        cache.peekitem::<i64>(true).unwrap(),
        Some(("middle".into(), 1))
    );
}

#[test]
fn peekitem_reads_a_value_file_and_reports_one_that_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .min_file_size(1024)
        .open(dir.path())
        .unwrap();
    let big = vec![7u8; 4096];
    cache.set("big", &big).unwrap();
    assert_eq!(
        cache.peekitem::<Vec<u8>>(true).unwrap(),
        Some(("big".into(), big))
    );
    for file in common::files_ending_with(dir.path(), ".val") {
        std::fs::remove_file(dir.path().join(file)).unwrap();
    }
    assert!(matches!(
        cache.peekitem::<Vec<u8>>(true),
        Err(Error::Corrupted(_))
    ));
}
