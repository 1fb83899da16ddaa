//! `incr` and `decr`: atomic counters stored as native integers. Guards against a counter that
//! wraps or saturates on `i64` overflow instead of failing, that is created by a failing call,
//! that silently adds to a value that is not an integer, that loses its expire time or tag, or
//! that panics on `decr(i64::MIN)`. Cases follow python-diskcache's `test_incr`/`test_decr`.

use std::time::Duration;

use diskcache::{Cache, Error, Key, SetOptions};
use serde::Serialize;

#[test]
fn incr_starts_from_the_default_and_adds_the_delta() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(cache.incr("key", 1, Some(5)).unwrap(), 6);
    assert_eq!(cache.incr("key", 2, None).unwrap(), 8);
    assert_eq!(cache.incr("key", -10, None).unwrap(), -2);
    assert_eq!(cache.incr("key", 0, Some(100)).unwrap(), -2);
    let entry = cache.get_entry::<i64>("key").unwrap().unwrap();
    assert_eq!(
        (entry.value, entry.expire_time, entry.tag),
        (-2, None, None)
    );
    assert_eq!(cache.len().unwrap(), 1);
}

#[test]
fn incr_without_a_default_on_a_missing_key_is_key_not_found_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    assert!(matches!(
        cache.incr("key", 1, None),
        Err(Error::KeyNotFound)
    ));
    assert!(matches!(
        cache.decr("key", 1, None),
        Err(Error::KeyNotFound)
    ));
    assert!(!cache.contains("key").unwrap());
    assert_eq!(cache.len().unwrap(), 0);
}

#[test]
fn incr_adds_to_a_value_that_was_set_as_an_integer_of_any_width() {
    #[derive(Serialize)]
    struct Id(i64);

    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set("u8", 5u8).unwrap();
    cache.set("i32", -5i32).unwrap();
    cache.set("u64", 7u64).unwrap();
    cache.set("newtype", Id(41)).unwrap();
    assert_eq!(cache.incr("u8", 1, None).unwrap(), 6);
    assert_eq!(cache.incr("i32", 1, None).unwrap(), -4);
    assert_eq!(cache.incr("u64", 1, None).unwrap(), 8);
    assert_eq!(cache.incr("newtype", 1, None).unwrap(), 42);
    assert_eq!(cache.get::<u8>("u8").unwrap(), Some(6));
}

#[test]
fn incr_on_a_value_that_is_not_an_integer_is_not_an_integer_and_changes_nothing() {
    #[derive(Serialize)]
    struct Point {
        x: i64,
    }

    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set("text", "12").unwrap();
    cache.set("float", 1.5).unwrap();
    cache.set("bytes", vec![1u8; 8]).unwrap();
    cache.set("struct", &Point { x: 1 }).unwrap();
    cache.set("huge", u64::MAX).unwrap();
    cache.set("big text", "9".repeat(40 * 1024)).unwrap();
    for key in ["text", "float", "bytes", "struct", "huge", "big text"] {
        assert!(
            matches!(cache.incr(key, 1, Some(0)), Err(Error::NotAnInteger)),
            "{key}"
        );
        assert!(
            matches!(cache.decr(key, 1, None), Err(Error::NotAnInteger)),
            "{key}"
        );
    }
    assert_eq!(cache.get::<String>("text").unwrap().as_deref(), Some("12"));
    assert_eq!(cache.get::<f64>("float").unwrap(), Some(1.5));
    assert_eq!(cache.get::<u64>("huge").unwrap(), Some(u64::MAX));
}

#[test]
fn incr_keeps_the_expire_time_and_tag_of_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let opts = SetOptions::default()
        .expire(Duration::from_secs(600))
        .tag("hits");
    cache.set_with("n", 10, opts).unwrap();
    let before = cache.get_entry::<i64>("n").unwrap().unwrap();
    assert_eq!(cache.incr("n", 5, None).unwrap(), 15);
    assert_eq!(cache.decr("n", 1, None).unwrap(), 14);
    let after = cache.get_entry::<i64>("n").unwrap().unwrap();
    assert_eq!(after.value, 14);
    assert_eq!(after.expire_time, before.expire_time);
    assert_eq!(after.tag, Some(Key::from("hits")));
}

#[test]
fn incr_past_the_i64_range_is_an_error_and_leaves_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set("max", i64::MAX).unwrap();
    assert!(matches!(
        cache.incr("max", 1, None),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(cache.get::<i64>("max").unwrap(), Some(i64::MAX));

    cache.set("min", i64::MIN).unwrap();
    assert!(matches!(
        cache.incr("min", -1, None),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        cache.decr("min", 1, None),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(cache.get::<i64>("min").unwrap(), Some(i64::MIN));

    // An overflowing start from the default stores nothing.
    assert!(matches!(
        cache.incr("fresh", 1, Some(i64::MAX)),
        Err(Error::InvalidArgument(_))
    ));
    assert!(!cache.contains("fresh").unwrap());
    assert_eq!(cache.len().unwrap(), 2);

    // Right up to the edge is fine.
    cache.set("edge", i64::MAX - 1).unwrap();
    assert_eq!(cache.incr("edge", 1, None).unwrap(), i64::MAX);
    assert_eq!(cache.incr("edge", i64::MIN, None).unwrap(), -1);
}

#[test]
fn decr_subtracts_and_starts_from_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(cache.decr("key", 1, Some(5)).unwrap(), 4);
    assert_eq!(cache.decr("key", 2, None).unwrap(), 2);
    assert_eq!(cache.decr("key", -3, None).unwrap(), 5);
    let entry = cache.get_entry::<i64>("key").unwrap().unwrap();
    assert_eq!((entry.value, entry.expire_time, entry.tag), (5, None, None));
    assert_eq!(cache.decr("zero", i64::MAX, Some(0)).unwrap(), -i64::MAX);
}

#[test]
fn decr_by_i64_min_is_invalid_argument_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    assert!(matches!(
        cache.decr("k", i64::MIN, Some(0)),
        Err(Error::InvalidArgument(_))
    ));
    assert!(!cache.contains("k").unwrap());
    cache.set("k", -1).unwrap();
    assert!(matches!(
        cache.decr("k", i64::MIN, None),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(cache.get::<i64>("k").unwrap(), Some(-1));
}

#[test]
fn a_counter_reads_back_as_an_integer_and_keeps_its_place_in_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set("first", 0).unwrap();
    cache.incr("second", 1, Some(0)).unwrap();
    cache.set("third", 0).unwrap();
    cache.incr("second", 1, None).unwrap();
    assert_eq!(cache.get::<i64>("second").unwrap(), Some(2));
    assert_eq!(cache.get::<f64>("second").unwrap(), Some(2.0));
    let keys: Vec<Key> = cache.keys().unwrap().map(Result::unwrap).collect();
    assert_eq!(keys, ["first", "second", "third"].map(Key::from).to_vec());
}
