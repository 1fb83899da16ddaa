//! Expiry. Guards against an expired entry still being returned by any read (`get`,
//! `get_entry`, `get_reader`, `contains`, `keys`) or acted on by a write (`pop`, `touch`, `add`,
//! `incr`, `delete`), against `len` forgetting expired entries before they are removed (it counts
//! them, as diskcache does), and against an expired entry's value file outliving it. Timing is
//! kept loose: entries expire after 1 ms and the tests sleep 20 ms; nothing asserts that an
//! entry is still alive after a short time.

mod common;

use common::keys_of;

use std::io::Cursor;
use std::thread::sleep;
use std::time::{Duration, SystemTime};

use diskcache::{Cache, Error, Key, SetOptions};

const SHORT: Duration = Duration::from_millis(1);
const PAUSE: Duration = Duration::from_millis(20);

fn short() -> SetOptions {
    SetOptions::default().expire(SHORT)
}

#[test]
fn an_expired_entry_is_invisible_to_every_read() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set("before", 0).unwrap();
    cache.set_with("gone", "value", short().tag("t")).unwrap();
    cache.set("after", 0).unwrap();
    sleep(PAUSE);
    assert_eq!(cache.get::<String>("gone").unwrap(), None);
    assert_eq!(cache.get_entry::<String>("gone").unwrap(), None);
    assert!(cache.get_reader("gone").unwrap().is_none());
    assert!(!cache.contains("gone").unwrap());
    assert_eq!(
        keys_of(&cache),
        vec![Key::from("before"), Key::from("after")]
    );
}

#[test]
fn len_counts_expired_entries_until_they_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    for i in 0..10 {
        cache.set_with(i, i, short()).unwrap();
    }
    cache.set("live", 1).unwrap();
    sleep(PAUSE);
    assert_eq!(cache.len().unwrap(), 11);
    assert!(cache.volume().unwrap() > 0);
    assert_eq!(keys_of(&cache), vec![Key::from("live")]);
    // Removing them, whichever way, brings the count down.
    assert!(!cache.delete(0).unwrap());
    assert_eq!(cache.pop::<i64>(1).unwrap(), None);
    assert_eq!(cache.len().unwrap(), 9);
    assert_eq!(cache.clear().unwrap(), 9);
    assert_eq!(cache.len().unwrap(), 0);
    assert_eq!(cache.volume().unwrap(), 0);
}

#[test]
fn delete_of_an_expired_entry_returns_false_and_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set_with(0, 0, short()).unwrap();
    sleep(PAUSE);
    assert!(!cache.delete(0).unwrap());
    assert_eq!(cache.len().unwrap(), 0);
    assert_eq!(cache.volume().unwrap(), 0);
}

#[test]
fn pop_of_an_expired_entry_is_none_and_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set_with("beta", 456, short().tag("green")).unwrap();
    sleep(PAUSE);
    assert_eq!(cache.pop::<i64>("beta").unwrap(), None);
    assert_eq!(cache.len().unwrap(), 0);
    cache.set_with("gamma", 1, short()).unwrap();
    sleep(PAUSE);
    assert_eq!(cache.pop_entry::<i64>("gamma").unwrap(), None);
    assert_eq!(cache.len().unwrap(), 0);
}

#[test]
fn touch_of_an_expired_entry_returns_false_and_does_not_revive_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set_with(0, 0, short()).unwrap();
    sleep(PAUSE);
    assert!(!cache.touch(0, None).unwrap());
    assert!(!cache.touch(0, Some(Duration::from_secs(60))).unwrap());
    assert_eq!(cache.get::<i64>(0).unwrap(), None);
    assert!(!cache.contains(0).unwrap());
}

#[test]
fn touch_can_make_a_live_entry_expire_soon() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache
        .set_with(0, 0, SetOptions::default().expire(Duration::from_secs(60)))
        .unwrap();
    assert!(cache.touch(0, Some(SHORT)).unwrap());
    sleep(PAUSE);
    assert!(!cache.contains(0).unwrap());
    assert_eq!(cache.get::<i64>(0).unwrap(), None);
}

#[test]
fn add_over_an_expired_key_succeeds_and_drops_the_old_expire_time_and_tag() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    assert!(cache.add(1, 1, short().tag("old")).unwrap());
    sleep(PAUSE);
    assert!(cache.add(1, 2, SetOptions::default()).unwrap());
    let entry = cache.get_entry::<i64>(1).unwrap().unwrap();
    assert_eq!((entry.value, entry.expire_time, entry.tag), (2, None, None));
    assert_eq!(cache.len().unwrap(), 1);
    assert!(!cache.add(1, 3, SetOptions::default()).unwrap());
    assert_eq!(cache.get::<i64>(1).unwrap(), Some(2));
}

#[test]
fn set_over_an_expired_key_makes_it_live_again() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set("a", 0).unwrap();
    cache.set_with("b", 0, short()).unwrap();
    cache.set("c", 0).unwrap();
    sleep(PAUSE);
    cache.set("b", 1).unwrap();
    assert_eq!(
        cache.get_entry::<i64>("b").unwrap().unwrap().expire_time,
        None
    );
    assert_eq!(cache.len().unwrap(), 3);
    let mut keys = keys_of(&cache);
    keys.sort();
    assert_eq!(keys, ["a", "b", "c"].map(Key::from).to_vec());
}

#[test]
fn incr_on_an_expired_key_starts_again_from_the_default() {
    // python-diskcache's test_incr and test_incr_update_keyerror.
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set_with("key", 100, short().tag("t")).unwrap();
    sleep(PAUSE);
    assert!(matches!(
        cache.incr("key", 1, None),
        Err(Error::KeyNotFound)
    ));
    assert_eq!(cache.incr("key", 1, Some(0)).unwrap(), 1);
    let entry = cache.get_entry::<i64>("key").unwrap().unwrap();
    assert_eq!((entry.value, entry.expire_time, entry.tag), (1, None, None));
    assert_eq!(cache.len().unwrap(), 1);

    cache.set_with("d", 100, short()).unwrap();
    sleep(PAUSE);
    assert_eq!(cache.decr("d", 1, Some(0)).unwrap(), -1);
}

#[test]
fn an_entry_with_a_long_expiry_stays_visible() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache
        .set_with(
            0,
            0,
            SetOptions::default().expire(Duration::from_secs(3600)),
        )
        .unwrap();
    sleep(PAUSE);
    assert_eq!(cache.get::<i64>(0).unwrap(), Some(0));
    assert!(cache.contains(0).unwrap());
}

#[test]
fn a_zero_expiry_is_expired_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache
        .set_with(0, 0, SetOptions::default().expire(Duration::ZERO))
        .unwrap();
    assert_eq!(cache.get::<i64>(0).unwrap(), None);
    assert!(!cache.contains(0).unwrap());
    assert_eq!(cache.len().unwrap(), 1);
}

#[test]
fn a_huge_expiry_saturates_instead_of_overflowing() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    for (k, ttl) in [
        (0, Duration::MAX),
        (1, Duration::from_secs(u64::MAX)),
        (2, Duration::from_secs(100 * 365 * 24 * 3600)),
    ] {
        cache
            .set_with(k, k, SetOptions::default().expire(ttl))
            .unwrap();
        let entry = cache.get_entry::<i64>(k).unwrap().unwrap();
        assert_eq!(entry.value, k);
        assert!(entry.expire_time.unwrap() > SystemTime::now());
        assert!(cache.touch(k, Some(ttl)).unwrap());
    }
}

#[test]
fn an_expired_value_file_is_deleted_when_its_entry_is_replaced_or_removed() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .min_file_size(1024)
        .open(dir.path())
        .unwrap();
    let big = vec![1u8; 4096];
    let vals = |c: &Cache| common::files_ending_with(c.directory(), ".val").len();

    cache.set_with("add", &big, short()).unwrap();
    cache.set_with("delete", &big, short()).unwrap();
    cache.set_with("pop", &big, short()).unwrap();
    cache.set_with("incr", &big, short()).unwrap();
    cache
        .set_reader("reader", Cursor::new(big.clone()), short())
        .unwrap();
    assert_eq!(vals(&cache), 5);
    sleep(PAUSE);
    assert!(cache.get_reader("reader").unwrap().is_none());
    // Expired but not yet removed: the files are still there.
    assert_eq!(vals(&cache), 5);

    assert!(cache.add("add", 1, SetOptions::default()).unwrap());
    assert_eq!(vals(&cache), 4);
    assert!(!cache.delete("delete").unwrap());
    assert_eq!(vals(&cache), 3);
    assert_eq!(cache.pop::<Vec<u8>>("pop").unwrap(), None);
    assert_eq!(vals(&cache), 2);
    assert_eq!(cache.incr("incr", 1, Some(0)).unwrap(), 1);
    assert_eq!(vals(&cache), 1);
    assert_eq!(cache.clear().unwrap(), 3);
    assert_eq!(vals(&cache), 0);
}
