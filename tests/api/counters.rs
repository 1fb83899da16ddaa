//! `incr` and `decr`: atomic counters stored as native integers or floats. Guards against a
//! counter that wraps or saturates on `i64` overflow instead of failing, that is created by a
//! failing call, that silently adds to a value that is not a number, that turns a float into
//! an integer (or refuses it, where Python adds: `3.25 + 2` is `5.25`), that loses its expire
//! time or tag, or that panics on `decr(i64::MIN)`. Cases follow python-diskcache's
//! `test_incr`/`test_decr`.

use std::time::Duration;

use diskcache::{Cache, Error, FanoutCache, Key, Number, SetOptions, WritePath};
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
    cache.set("bytes", vec![1u8; 8]).unwrap();
    cache.set("struct", &Point { x: 1 }).unwrap();
    cache.set("huge", u64::MAX).unwrap();
    cache.set("big text", "9".repeat(40 * 1024)).unwrap();
    for key in ["text", "bytes", "struct", "huge", "big text"] {
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

/// Caches on every write path this platform has, in `dir`.
fn caches(dir: &std::path::Path) -> Vec<Cache> {
    [WritePath::Logged, WritePath::Direct]
        .into_iter()
        .filter(|p| p.is_available())
        .map(|p| {
            Cache::builder()
                .write_path(p)
                .open(dir.join(format!("{p:?}")))
                .unwrap()
        })
        .collect()
}

/// Python diskcache 5.6.3 adds to a stored float (`cache['f'] = 3.25; cache.incr('f', 2)` is
/// `5.25`, stored as a float), whose results these are.
#[test]
fn incr_and_decr_add_to_a_stored_float_and_keep_it_a_float_as_python() {
    let dir = tempfile::tempdir().unwrap();
    for cache in caches(dir.path()) {
        let opts = SetOptions::default()
            .expire(Duration::from_secs(600))
            .tag("t");
        cache.set_with("f", 3.25, opts).unwrap();
        let before = cache.get_entry::<f64>("f").unwrap().unwrap();
        assert_eq!(cache.incr("f", 2, None).unwrap(), Number::Float(5.25));
        assert_eq!(cache.decr("f", 1, Some(100)).unwrap(), Number::Float(4.25));
        let after = cache.get_entry::<f64>("f").unwrap().unwrap();
        assert_eq!(after.value, 4.25);
        assert_eq!(
            (after.expire_time, after.tag),
            (before.expire_time, before.tag)
        );
        // Stored as a float: it does not read back as an integer.
        assert!(matches!(cache.get::<i64>("f"), Err(Error::Codec(_))));

        cache.set("f32", 1.5f32).unwrap();
        assert_eq!(cache.incr("f32", -3, None).unwrap(), -1.5);
        cache.set("inf", f64::INFINITY).unwrap();
        assert_eq!(cache.incr("inf", 1, None).unwrap(), f64::INFINITY);
        cache.set("nan", f64::NAN).unwrap();
        assert!(cache.incr("nan", 1, None).unwrap().as_f64().is_nan());
        // An i64 delta is converted to the nearest f64, as Python's float + int.
        cache.set("big", 0.0).unwrap();
        assert_eq!(
            cache.incr("big", i64::MAX, None).unwrap(),
            9.223372036854776e18
        );

        // A missing or expired key starts from the integer default, and stays an integer.
        assert_eq!(cache.incr("fresh", 1, Some(0)).unwrap(), Number::Int(1));
        assert_eq!(cache.incr("fresh", 1, None).unwrap().as_i64(), Some(2));
        let brief = SetOptions::default().expire(Duration::from_millis(1));
        cache.set_with("gone", 0.5, brief).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(cache.incr("gone", 1, Some(10)).unwrap(), Number::Int(11));

        // Inside a transaction too.
        let n = cache
            .transact(|tx| {
                tx.set("t", 0.25)?;
                tx.incr("t", 1, None)
            })
            .unwrap();
        assert_eq!(n, 1.25);
        assert_eq!(cache.get::<f64>("t").unwrap(), Some(1.25));
        assert!(cache.check(false).unwrap().is_empty());
    }
}

#[test]
fn a_fanout_cache_adds_to_a_stored_float_too() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FanoutCache::builder().shards(4).open(dir.path()).unwrap();
    assert!(cache.set("f", 3.25).unwrap());
    assert_eq!(cache.incr("f", 2, None).unwrap(), Some(Number::Float(5.25)));
    assert_eq!(cache.decr("f", 2, None).unwrap(), Some(Number::Float(3.25)));
    let n = cache.transact(|tx| tx.incr("f", 1, None)).unwrap();
    assert_eq!(n, 4.25);
    assert_eq!(cache.get::<f64>("f").unwrap(), Some(4.25));
}
