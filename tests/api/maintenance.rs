//! Whole-cache removals: `expire()` and `evict(tag)`. Guards against wrong counts, removals
//! that miss entries still in the log or past a 1,000-entry batch, removing live or
//! differently tagged entries, and value files or volume left behind.

use crate::common;

use std::time::Duration;

use diskcache::{Cache, Key, SetOptions};

fn soon() -> SetOptions {
    SetOptions::default().expire(Duration::from_millis(1))
}

#[test]
fn expire_removes_exactly_the_expired_entries_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    // Culling off: no write removes an expired entry before `expire()` does.
    let cache = Cache::builder()
        .min_file_size(1024)
        .cull_limit(0)
        .open(dir.path())
        .unwrap();
    for i in 0..2500 {
        cache.set_with(i, i, soon()).unwrap();
    }
    cache.set_with("big", vec![1u8; 4096], soon()).unwrap();
    for i in 0..10 {
        cache
            .set_with(
                format!("live-{i}"),
                i,
                SetOptions::default().expire(Duration::from_secs(600)),
            )
            .unwrap();
    }
    cache.set("forever", 1).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(cache.len().unwrap(), 2512);
    assert_eq!(cache.expire().unwrap(), 2501);
    assert_eq!(cache.len().unwrap(), 11);
    assert!(common::files_ending_with(dir.path(), ".val").is_empty());
    assert_eq!(cache.get::<i64>("live-3").unwrap(), Some(3));
    assert_eq!(cache.expire().unwrap(), 0);
    let live: Vec<Key> = common::keys_of(&cache);
    assert_eq!(live.len(), 11);
}

#[test]
fn evict_removes_every_entry_with_the_tag_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    // Culling off: no write removes an expired entry before `expire()` does.
    let cache = Cache::builder()
        .min_file_size(1024)
        .cull_limit(0)
        .open(dir.path())
        .unwrap();
    for i in 0..2500 {
        let tag = if i % 2 == 0 { "even" } else { "odd" };
        cache
            .set_with(i, i, SetOptions::default().tag(tag))
            .unwrap();
    }
    cache
        .set_with("big", vec![1u8; 4096], SetOptions::default().tag("even"))
        .unwrap();
    cache.set("untagged", 1).unwrap();
    cache
        .set_with("zero", 1, SetOptions::default().tag(0))
        .unwrap();
    let volume = cache.volume().unwrap();
    assert_eq!(cache.evict("even").unwrap(), 1251);
    assert_eq!(cache.len().unwrap(), 1252);
    assert!(cache.volume().unwrap() < volume);
    assert!(common::files_ending_with(dir.path(), ".val").is_empty());
    assert!(!cache.contains(2).unwrap());
    assert_eq!(cache.get::<i64>(3).unwrap(), Some(3));
    // Tags compare as keys: the text "0" is not the integer 0.
    assert_eq!(cache.evict("0").unwrap(), 0);
    assert_eq!(cache.evict(0).unwrap(), 1);
    assert_eq!(cache.evict("odd").unwrap(), 1250);
    assert_eq!(common::keys_of(&cache), vec![Key::from("untagged")]);
    assert_eq!(cache.evict("missing").unwrap(), 0);
}
