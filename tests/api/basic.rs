//! The everyday dictionary operations of `Cache`, on a real cache directory: opening (`open`,
//! `temp`, `builder`), `directory`, `close` and `Drop`, and `set`/`set_with`/`get`/`get_entry`/
//! `contains`/`delete`/`add`/`touch`/`pop`/`pop_entry`/`clear`/`len`/`is_empty`/`volume`/`keys`.
//! Guards against an operation that reports success but stores, returns or counts the wrong
//! thing, against counters (`len`, `volume`) drifting from the entries, and against `keys`
//! losing the insertion order. Cases follow python-diskcache's `tests/test_core.py`.

use crate::common;

use common::keys_of;

use std::time::{Duration, SystemTime};

use diskcache::{Cache, Durability, Error, EvictionPolicy, Key, SetOptions};

// ----- opening and closing -------------------------------------------------------------------

#[test]
fn open_creates_missing_directories_and_directory_returns_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a").join("b").join("c");
    let cache = Cache::open(&nested).unwrap();
    assert_eq!(cache.directory(), nested.as_path());
    assert!(nested.join("cache.redb").is_file());
    cache.set("k", "v").unwrap();
    assert_eq!(cache.get::<String>("k").unwrap().as_deref(), Some("v"));
}

#[test]
fn open_on_a_path_that_is_a_regular_file_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, b"x").unwrap();
    assert!(matches!(Cache::open(&file), Err(Error::Io(_))));
}

#[test]
fn a_new_cache_has_the_documented_default_settings() {
    let dir = tempfile::tempdir().unwrap();
    let s = Cache::open(dir.path()).unwrap().settings();
    assert_eq!(s.size_limit, 1 << 30);
    assert_eq!(s.cull_limit, 10);
    assert_eq!(s.eviction_policy, EvictionPolicy::LeastRecentlyStored);
    assert!(!s.statistics);
    assert!(!s.tag_index);
    assert_eq!(s.min_file_size, 32 * 1024);
    assert_eq!(s.durability, Durability::Normal);
    assert_eq!(s.timeout, Duration::from_secs(60));
    assert_eq!(s, diskcache::Settings::default());
}

#[test]
fn temp_opens_a_fresh_directory_under_the_system_temp_dir_and_removes_it_with_the_last_handle() {
    // `temp` chooses its own fresh directories; this test deletes them at the end.
    let a = Cache::temp().unwrap();
    let b = Cache::builder().min_file_size(7).temp().unwrap();
    let (pa, pb) = (a.directory().to_path_buf(), b.directory().to_path_buf());
    assert_ne!(pa, pb);
    for p in [&pa, &pb] {
        assert!(p.starts_with(std::env::temp_dir()));
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("diskcache-"), "{name}");
    }
    assert_eq!(b.settings().min_file_size, 7);
    a.set(1, 1).unwrap();
    assert_eq!(a.get::<i64>(1).unwrap(), Some(1));
    assert_eq!(b.get::<i64>(1).unwrap(), None);
    assert!(pa.join("cache.redb").is_file());
    a.close().unwrap();
    drop(b);
    assert!(!pa.exists() && !pb.exists());
}

#[test]
fn closing_one_clone_leaves_the_other_clones_working() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let clone = cache.clone();
    cache.set("a", 1).unwrap();
    cache.close().unwrap();
    assert_eq!(clone.get::<i64>("a").unwrap(), Some(1));
    clone.set("b", 2).unwrap();
    drop(clone);
    let reopened = Cache::open(dir.path()).unwrap();
    assert_eq!(reopened.len().unwrap(), 2);
}

#[test]
fn a_second_handle_on_the_same_directory_sees_the_first_handles_writes() {
    let dir = tempfile::tempdir().unwrap();
    let first = Cache::open(dir.path()).unwrap();
    {
        let second = Cache::open(dir.path()).unwrap();
        second.set("a", 0).unwrap();
        second.set("b", 1).unwrap();
        assert_eq!(second.get::<i64>("a").unwrap(), Some(0));
    }
    assert_eq!(first.get::<i64>("a").unwrap(), Some(0));
    assert_eq!(first.get::<i64>("b").unwrap(), Some(1));
    assert_eq!(first.len().unwrap(), 2);
}

#[test]
fn debug_output_names_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let shown = format!("{cache:?}");
    assert!(shown.contains(&format!("{:?}", dir.path())), "{shown}");
}

// ----- set, get, contains, delete -----------------------------------------------------------

#[test]
fn set_then_get_returns_the_value_and_a_missing_key_reads_as_none() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(cache.get::<i64>(0).unwrap(), None);
    assert_eq!(cache.get_entry::<i64>(0).unwrap(), None);
    cache.set(0, 0).unwrap();
    cache.set("text", "hello").unwrap();
    assert_eq!(cache.get::<i64>(0).unwrap(), Some(0));
    assert_eq!(
        cache.get::<String>("text").unwrap().as_deref(),
        Some("hello")
    );
    assert_eq!(cache.get::<i64>(1).unwrap(), None);
}

#[test]
fn setting_a_key_twice_keeps_the_last_value_and_counts_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set(0, 0).unwrap();
    cache.set(0, 1).unwrap();
    assert_eq!(cache.get::<i64>(0).unwrap(), Some(1));
    cache.set(0, "now text").unwrap();
    assert_eq!(cache.get::<String>(0).unwrap().as_deref(), Some("now text"));
    cache.set(0, 2).unwrap();
    assert_eq!(cache.get::<i64>(0).unwrap(), Some(2));
    assert_eq!(cache.len().unwrap(), 1);
}

#[test]
fn contains_is_true_only_for_present_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    assert!(!cache.contains(0).unwrap());
    cache.set(0, 0).unwrap();
    assert!(cache.contains(0).unwrap());
    assert!(!cache.contains(1).unwrap());
    cache.delete(0).unwrap();
    assert!(!cache.contains(0).unwrap());
}

#[test]
fn delete_returns_whether_a_key_was_removed() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set(0, 0).unwrap();
    assert!(cache.delete(0).unwrap());
    assert_eq!(cache.len().unwrap(), 0);
    assert!(!cache.delete(0).unwrap());
    assert!(!cache.delete("never there").unwrap());
    assert_eq!(cache.get::<i64>(0).unwrap(), None);
}

// ----- set_with and get_entry ----------------------------------------------------------------

#[test]
fn get_entry_of_a_plain_set_has_no_expire_time_and_no_tag() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set(0, 0).unwrap();
    let entry = cache.get_entry::<i64>(0).unwrap().unwrap();
    assert_eq!((entry.value, entry.expire_time, entry.tag), (0, None, None));
}

#[test]
fn set_with_records_the_expire_time_and_the_tag_and_get_entry_returns_them() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let ttl = Duration::from_secs(60);
    let before = SystemTime::now();
    cache
        .set_with("k", "v", SetOptions::default().expire(ttl).tag("number"))
        .unwrap();
    let after = SystemTime::now();
    let entry = cache.get_entry::<String>("k").unwrap().unwrap();
    assert_eq!(entry.value, "v");
    assert_eq!(entry.tag, Some(Key::from("number")));
    let expire = entry.expire_time.unwrap();
    // Stored in whole microseconds, so allow the truncation below `before + ttl`.
    assert!(
        expire >= before + ttl - Duration::from_millis(1),
        "{expire:?}"
    );
    assert!(expire <= after + ttl, "{expire:?}");
    assert_eq!(cache.get::<String>("k").unwrap().as_deref(), Some("v"));
}

#[test]
fn tags_of_every_key_kind_come_back_from_get_entry() {
    // python-diskcache's test_tag: text, integer, float and bytes tags.
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let composite = Key::from_serialize(&("team", 7)).unwrap();
    let tags = [
        Key::from("zero"),
        Key::from(1234),
        Key::from(5.67),
        Key::from(&b"three"[..]),
        composite,
    ];
    for (i, tag) in tags.iter().enumerate() {
        cache
            .set_with(i as i64, (), SetOptions::default().tag(tag))
            .unwrap();
    }
    for (i, tag) in tags.iter().enumerate() {
        let entry = cache.get_entry::<()>(i as i64).unwrap().unwrap();
        assert_eq!(entry.tag.as_ref(), Some(tag));
        assert_eq!(entry.expire_time, None);
    }
}

#[test]
fn a_plain_set_over_an_entry_drops_its_expire_time_and_tag() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let opts = SetOptions::default()
        .expire(Duration::from_secs(60))
        .tag("t");
    cache.set_with("k", 1, opts).unwrap();
    cache.set("k", 2).unwrap();
    let entry = cache.get_entry::<i64>("k").unwrap().unwrap();
    assert_eq!((entry.value, entry.expire_time, entry.tag), (2, None, None));
}

// ----- add, touch ------------------------------------------------------------------------------

#[test]
fn add_stores_only_when_the_key_is_absent() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    assert!(cache.add(1, 1, SetOptions::default()).unwrap());
    assert_eq!(cache.get::<i64>(1).unwrap(), Some(1));
    assert!(!cache.add(1, 2, SetOptions::default()).unwrap());
    assert_eq!(cache.get::<i64>(1).unwrap(), Some(1));
    assert!(cache.delete(1).unwrap());
    let opts = SetOptions::default().tag("t");
    assert!(cache.add(1, 3, opts).unwrap());
    let entry = cache.get_entry::<i64>(1).unwrap().unwrap();
    assert_eq!((entry.value, entry.tag), (3, Some(Key::from("t"))));
    assert_eq!(cache.len().unwrap(), 1);
}

#[test]
fn touch_sets_or_clears_the_expire_time_of_a_present_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    assert!(!cache.touch(0, None).unwrap());
    assert!(!cache.touch(0, Some(Duration::from_secs(5))).unwrap());
    assert!(!cache.contains(0).unwrap());

    let opts = SetOptions::default()
        .expire(Duration::from_secs(60))
        .tag("keep");
    cache.set_with(0, "v", opts).unwrap();
    assert!(cache.touch(0, None).unwrap());
    let entry = cache.get_entry::<String>(0).unwrap().unwrap();
    assert_eq!(entry.expire_time, None);
    assert_eq!(entry.tag, Some(Key::from("keep")));
    assert_eq!(entry.value, "v");

    let before = SystemTime::now();
    assert!(cache.touch(0, Some(Duration::from_secs(3600))).unwrap());
    let expire = cache
        .get_entry::<String>(0)
        .unwrap()
        .unwrap()
        .expire_time
        .unwrap();
    assert!(expire >= before + Duration::from_secs(3599), "{expire:?}");
    assert_eq!(cache.len().unwrap(), 1);
}

// ----- pop, pop_entry --------------------------------------------------------------------------

#[test]
fn pop_returns_the_value_and_removes_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(cache.incr("alpha", 1, Some(0)).unwrap(), 1);
    assert_eq!(cache.pop::<i64>("alpha").unwrap(), Some(1));
    assert_eq!(cache.get::<i64>("alpha").unwrap(), None);
    assert_eq!(cache.pop::<i64>("alpha").unwrap(), None);
    assert_eq!(cache.pop::<i64>("dne").unwrap(), None);
    assert_eq!(cache.len().unwrap(), 0);
    assert_eq!(cache.volume().unwrap(), 0);
}

#[test]
fn pop_entry_returns_the_value_with_its_expire_time_and_tag() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let opts = SetOptions::default()
        .expire(Duration::from_secs(60))
        .tag("blue");
    cache.set_with("alpha", 123, opts).unwrap();
    let entry = cache.pop_entry::<i64>("alpha").unwrap().unwrap();
    assert_eq!(entry.value, 123);
    assert_eq!(entry.tag, Some(Key::from("blue")));
    assert!(entry.expire_time.unwrap() > SystemTime::now());
    assert!(!cache.contains("alpha").unwrap());

    cache
        .set_with("gamma", 789, SetOptions::default().tag("red"))
        .unwrap();
    let entry = cache.pop_entry::<i64>("gamma").unwrap().unwrap();
    assert_eq!(
        (entry.value, entry.expire_time, entry.tag),
        (789, None, Some(Key::from("red")))
    );
    assert_eq!(cache.pop_entry::<i64>("gamma").unwrap(), None);
}

#[test]
fn pop_with_the_wrong_type_is_a_codec_error_and_keeps_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set("k", "text").unwrap();
    assert!(matches!(cache.pop::<i64>("k"), Err(Error::Codec(_))));
    assert!(matches!(
        cache.pop_entry::<Vec<u8>>("k"),
        Err(Error::Codec(_))
    ));
    assert_eq!(cache.len().unwrap(), 1);
    assert_eq!(cache.pop::<String>("k").unwrap().as_deref(), Some("text"));
    assert_eq!(cache.len().unwrap(), 0);
}

// ----- clear, len, is_empty, volume ------------------------------------------------------------

#[test]
fn clear_removes_every_entry_across_batches_and_returns_how_many() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(cache.clear().unwrap(), 0);
    // More than one batch of 1,000 entries.
    for i in 0..1005 {
        cache.set(i, i).unwrap();
    }
    assert_eq!(cache.len().unwrap(), 1005);
    assert_eq!(cache.clear().unwrap(), 1005);
    assert_eq!(cache.len().unwrap(), 0);
    assert!(cache.is_empty().unwrap());
    assert_eq!(cache.volume().unwrap(), 0);
    assert_eq!(keys_of(&cache), Vec::<Key>::new());
    assert_eq!(cache.get::<i64>(0).unwrap(), None);
    assert_eq!(cache.get::<i64>(1004).unwrap(), None);
    // The cache is usable afterwards.
    cache.set("after", 1).unwrap();
    assert_eq!(cache.len().unwrap(), 1);
}

#[test]
fn len_and_is_empty_track_the_number_of_entries() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(cache.len().unwrap(), 0);
    assert!(cache.is_empty().unwrap());
    for i in 0..10 {
        cache.set(i, i).unwrap();
    }
    assert_eq!(cache.len().unwrap(), 10);
    assert!(!cache.is_empty().unwrap());
    cache.set(3, "again").unwrap();
    assert!(!cache.add(4, 0, SetOptions::default()).unwrap());
    assert_eq!(cache.len().unwrap(), 10);
    for i in 0..10 {
        assert!(cache.delete(i).unwrap());
    }
    assert_eq!(cache.len().unwrap(), 0);
    assert!(cache.is_empty().unwrap());
}

#[test]
fn volume_rises_on_set_falls_on_delete_and_is_zero_after_clear() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    assert_eq!(cache.volume().unwrap(), 0);
    cache.set("a", 1).unwrap();
    let one = cache.volume().unwrap();
    assert!(one > 0);
    cache.set("b", vec![0u8; 1000]).unwrap();
    let two = cache.volume().unwrap();
    assert!(two >= one + 1000, "{one} then {two}");
    assert!(cache.delete("b").unwrap());
    assert_eq!(cache.volume().unwrap(), one);
    cache.set("b", vec![0u8; 1000]).unwrap();
    assert_eq!(cache.volume().unwrap(), two);
    assert_eq!(cache.pop::<Vec<u8>>("b").unwrap().unwrap().len(), 1000);
    assert_eq!(cache.volume().unwrap(), one);
    cache
        .set_with("c", "tagged", SetOptions::default().tag("t"))
        .unwrap();
    assert!(cache.volume().unwrap() > one);
    cache.clear().unwrap();
    assert_eq!(cache.volume().unwrap(), 0);
}

#[test]
fn volume_follows_an_overwrite_up_and_back_down() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set("k", "small").unwrap();
    let small = cache.volume().unwrap();
    cache.set("k", "x".repeat(500)).unwrap();
    let big = cache.volume().unwrap();
    assert!(big >= small + 495, "{small} then {big}");
    cache.set("k", "small").unwrap();
    assert_eq!(cache.volume().unwrap(), small);
    assert!(cache.touch("k", Some(Duration::from_secs(60))).unwrap());
    assert_eq!(cache.volume().unwrap(), small);
}

// ----- keys --------------------------------------------------------------------------------------

#[test]
fn keys_of_an_empty_cache_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    assert!(cache.keys().unwrap().next().is_none());
}

#[test]
fn keys_are_in_insertion_order_and_setting_again_keeps_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    for k in ["b", "a", "c", "e", "d"] {
        cache.set(k, 0).unwrap();
    }
    cache.set("b", 1).unwrap();
    cache.set("d", "text now").unwrap();
    assert!(!cache.add("c", 5, SetOptions::default()).unwrap());
    let expected: Vec<Key> = ["b", "a", "c", "e", "d"].map(Key::from).to_vec();
    assert_eq!(keys_of(&cache), expected);
}

#[test]
fn a_deleted_key_set_again_moves_to_the_end_of_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    for k in 0..5 {
        cache.set(k, k).unwrap();
    }
    assert!(cache.delete(1).unwrap());
    assert_eq!(cache.pop::<i64>(3).unwrap(), Some(3));
    cache.set(1, 1).unwrap();
    assert_eq!(keys_of(&cache), [0, 2, 4, 1].map(Key::from).to_vec());
}

#[test]
fn keys_come_back_in_order_across_more_than_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    // Descending keys, so insertion order differs from key order; 300 is over one batch.
    let inserted: Vec<i64> = (0..300).rev().collect();
    for &k in &inserted {
        cache.set(k, k).unwrap();
    }
    for k in [299, 150, 0] {
        assert!(cache.delete(k).unwrap());
    }
    let expected: Vec<Key> = inserted
        .iter()
        .filter(|k| ![299, 150, 0].contains(*k))
        .map(|&k| Key::from(k))
        .collect();
    assert_eq!(keys_of(&cache), expected);

    // Mid-iteration: a key deleted before its batch is read is skipped, and a key set before
    // the iterator reaches the end is seen.
    let mut iter = cache.keys().unwrap();
    assert_eq!(iter.next().unwrap().unwrap(), Key::from(298));
    assert!(cache.delete(1).unwrap());
    cache.set("late", 0).unwrap();
    let rest: Vec<Key> = iter.map(Result::unwrap).collect();
    assert!(!rest.contains(&Key::from(1)));
    assert_eq!(rest.last(), Some(&Key::from("late")));
    // All but the first key read and the deleted one, plus the late one.
    assert_eq!(rest.len(), expected.len() - 2 + 1);
}

#[test]
fn a_finished_keys_iterator_does_not_see_keys_set_afterwards() {
    // python-diskcache's test_iter.
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let tuple = Key::from_serialize(&("g",)).unwrap();
    let mut sequence: Vec<Key> = ["a", "b", "c", "d", "e", "f"].map(Key::from).to_vec();
    sequence.push(tuple);
    for (i, k) in sequence.iter().enumerate() {
        cache.set(k, i as i64).unwrap();
    }
    let mut iter = cache.keys().unwrap();
    for expected in &sequence {
        assert_eq!(&iter.next().unwrap().unwrap(), expected);
    }
    cache.set("h", 7).unwrap();
    assert!(iter.next().is_none());
}
