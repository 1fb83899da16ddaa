//! python-diskcache v5.6.3 `tests/test_fanout.py`: 42 Python tests, 40 ported here (41 Rust
//! tests: `init`'s size-limit assertion is `init_size_limit`).
//!
//! Not mapped (2), with the reason:
//! - `test_pickle`: pickling of a Python object.
//! - `test_custom_filename_disk`: Python-only protocol (`Disk.filename` hook).
//!
//! Python's timeout tests mock a shard that raises `Timeout`; here the shard's write lock is
//! held as another process would hold it, with a short timeout, so the shard times out for
//! real (Linux, where the shared log and its lock are).

use std::collections::HashSet;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diskcache::{Cache, EvictionPolicy, FanoutCache, Key, MemoOptions, SetOptions, Setting};
use serde_bytes::ByteBuf;

use crate::sleep_ms;

type R = diskcache::Result<()>;

/// The `cache` fixture: a fresh fanout cache in its own temporary directory, with 2 shards
/// rather than Python's default 8 where no assertion depends on the count: closing a shard
/// flushes the file system, and that dominated the run time. `init`, `init_path` and the
/// size-limit tests open the default 8 (`cache8`, `small_files`).
fn cache() -> (tempfile::TempDir, FanoutCache) {
    let dir = tempfile::tempdir().unwrap();
    let cache = FanoutCache::builder().shards(2).open(dir.path()).unwrap();
    (dir, cache)
}

/// A fresh fanout cache with the default shard count, 8, as Python's fixture.
fn cache8() -> (tempfile::TempDir, FanoutCache) {
    let dir = tempfile::tempdir().unwrap();
    let cache = FanoutCache::open(dir.path()).unwrap();
    assert_eq!(cache.shards().len(), 8);
    (dir, cache)
}

fn opts() -> SetOptions {
    SetOptions::default()
}

fn ttl(d: Duration) -> SetOptions {
    SetOptions::default().expire(d)
}

fn keys(cache: &FanoutCache) -> Vec<Key> {
    cache
        .keys()
        .unwrap()
        .collect::<diskcache::Result<_>>()
        .unwrap()
}

/// A fanout cache (2 shards, as `cache`) whose shards time out after 20 ms, and the shard `key` lives in.
#[cfg(target_os = "linux")]
fn timing_out(key: i64) -> (tempfile::TempDir, FanoutCache, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let cache = FanoutCache::builder()
        .shards(2)
        .write_path(diskcache::WritePath::Logged)
        .timeout(Duration::from_millis(20))
        .open(dir.path())
        .unwrap();
    let shard = cache.shard_index(&Key::from(key)).unwrap();
    let shard_dir = cache.shards()[shard].directory().to_path_buf();
    (dir, cache, shard_dir)
}

// test_init
#[test]
fn init() -> R {
    let (_dir, cache) = cache8();
    let s = cache.settings();
    assert_eq!(s.cull_limit, 10);
    assert_eq!(s.eviction_policy, EvictionPolicy::LeastRecentlyStored);
    assert!(!s.statistics);
    assert!(!s.tag_index);
    assert_eq!(s.min_file_size, 1 << 15);
    // (`cache.size_limit == 2**27`: init_size_limit)
    assert!(cache.check(false)?.is_empty());
    let defaults = diskcache::Settings::default();
    for setting in [
        Setting::SizeLimit(defaults.size_limit),
        Setting::CullLimit(defaults.cull_limit),
        Setting::EvictionPolicy(defaults.eviction_policy),
        Setting::Statistics(defaults.statistics),
        Setting::TagIndex(defaults.tag_index),
        Setting::MinFileSize(defaults.min_file_size),
    ] {
        cache.reset(setting)?;
    }
    assert!(cache.check(false)?.is_empty());
    Ok(())
}

// test_init: its `cache.size_limit == 2**27`, a shard's part of the default 2**30
#[test]
#[ignore = "finding: a FanoutCache opened without a size limit gives every shard 1 GiB (8 GiB in all); Python's default is 2**30 in all"]
fn init_size_limit() -> R {
    let (_dir, cache) = cache8();
    assert_eq!(cache.settings().size_limit, 1 << 30);
    for shard in cache.shards() {
        assert_eq!(shard.settings().size_limit, 1 << 27);
    }
    Ok(())
}

// test_init_path
#[test]
fn init_path() -> R {
    let (dir, cache) = cache8();
    let path = dir.path().to_path_buf(); // pathlib.Path
    let other = FanoutCache::open(&path)?;
    assert_eq!(cache.directory(), other.directory());
    other.close()
}

// test_set_get_delete
#[test]
fn set_get_delete() -> R {
    let (_dir, cache) = cache();
    for value in 0..100 {
        assert!(cache.set(value, value)?);
    }
    assert!(cache.check(false)?.is_empty());
    for value in 0..100 {
        assert_eq!(cache.get::<i64>(value)?, Some(value));
    }
    for value in 0..100 {
        assert!(cache.contains(value)?);
    }
    for value in 0..100 {
        assert!(cache.delete(value)?);
    }
    assert!(!cache.delete(100)?);
    assert!(cache.check(false)?.is_empty());
    for value in 0..100 {
        cache.set(value, value)?;
    }
    for value in 0..100 {
        assert_eq!(cache.get::<i64>(value)?, Some(value));
    }
    assert!(cache.check(false)?.is_empty());
    cache.clear()?;
    assert_eq!(cache.len()?, 0);
    assert!(cache.check(false)?.is_empty());
    Ok(())
}

// test_set_timeout
#[cfg(target_os = "linux")]
#[test]
fn set_timeout() -> R {
    let (_dir, cache, shard) = timing_out(0);
    let _held = crate::common::hold_log_lock(&shard);
    assert!(!cache.set(0, 0)?);
    Ok(())
}

// test_touch
#[test]
fn touch() -> R {
    let (_dir, cache) = cache();
    assert!(cache.set_with(0, (), ttl(Duration::from_secs(60)))?);
    assert!(cache.touch(0, None)?);
    assert!(cache.touch(0, Some(Duration::ZERO))?);
    assert!(!cache.touch(0, None)?);
    Ok(())
}

// test_touch_timeout
#[cfg(target_os = "linux")]
#[test]
fn touch_timeout() -> R {
    let (_dir, cache, shard) = timing_out(0);
    cache.set(0, 0)?;
    let _held = crate::common::hold_log_lock(&shard);
    assert!(!cache.touch(0, None)?);
    Ok(())
}

// test_add
#[test]
fn add() -> R {
    let (_dir, cache) = cache();
    assert!(cache.add(0, 0, opts())?);
    assert!(!cache.add(0, 1, opts())?);
    assert_eq!(cache.get::<i64>(0)?, Some(0));
    Ok(())
}

// test_add_timeout
#[cfg(target_os = "linux")]
#[test]
fn add_timeout() -> R {
    let (_dir, cache, shard) = timing_out(0);
    let _held = crate::common::hold_log_lock(&shard);
    assert!(!cache.add(0, 0, opts())?);
    Ok(())
}

// test_add_concurrent (Python's 16 threads adding keys 0..1000 scaled to 4 threads and
// 0..200; Python's `retry=True` is the default 60 s timeout here)
#[test]
fn add_concurrent() -> R {
    let dir = tempfile::tempdir()?;
    let cache = FanoutCache::builder().shards(1).open(dir.path())?;
    let limit = 200;
    let total = Arc::new(AtomicU64::new(0));
    std::thread::scope(|s| {
        for _ in 0..4 {
            let (cache, total) = (&cache, Arc::clone(&total));
            s.spawn(move || {
                for num in 0..limit {
                    if cache.add(num, num, opts()).unwrap() {
                        total.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            });
        }
    });
    assert_eq!(total.load(Ordering::Relaxed), limit as u64);
    assert!(cache.check(false)?.is_empty());
    Ok(())
}

// test_incr (Python computes `cache.incr('key', delta=3) == 3` without asserting it)
#[test]
fn incr() -> R {
    let (_dir, cache) = cache();
    assert_eq!(cache.incr("key", 3, Some(0))?, Some(3.into()));
    Ok(())
}

// test_incr_timeout
#[cfg(target_os = "linux")]
#[test]
fn incr_timeout() -> R {
    let (_dir, cache, shard) = timing_out(0);
    let _held = crate::common::hold_log_lock(&shard);
    assert_eq!(cache.incr(0, 1, Some(0))?, None);
    Ok(())
}

// test_decr (likewise unasserted in Python)
#[test]
fn decr() -> R {
    let (_dir, cache) = cache();
    assert_eq!(cache.decr("key", 2, Some(0))?, Some((-2).into()));
    Ok(())
}

// test_decr_timeout
#[cfg(target_os = "linux")]
#[test]
fn decr_timeout() -> R {
    let (_dir, cache, shard) = timing_out(0);
    let _held = crate::common::hold_log_lock(&shard);
    assert_eq!(cache.decr(0, 1, Some(0))?, None);
    Ok(())
}

// test_incr_concurrent (16 threads × 50 scaled to 4 × 25; `retry=True` is a loop until the
// shard answers)
#[test]
fn incr_concurrent() -> R {
    let dir = tempfile::tempdir()?;
    let cache = FanoutCache::builder()
        .shards(1)
        .timeout(Duration::from_millis(1))
        .open(dir.path())?;
    let (threads, limit) = (4, 25);
    std::thread::scope(|s| {
        for _ in 0..threads {
            let cache = &cache;
            s.spawn(move || {
                for _ in 0..limit {
                    while cache.incr(&b"key"[..], 1, Some(0)).unwrap().is_none() {}
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
        }
    });
    assert_eq!(cache.get::<i64>(&b"key"[..])?, Some(threads * limit));
    assert!(cache.check(false)?.is_empty());
    Ok(())
}

// test_getsetdel (2**512 is an integer beyond i64: see README "Differences from Python
// diskcache")
#[test]
fn getsetdel() -> R {
    let (_dir, cache) = cache();
    let nones = vec![None::<()>; 1 << 10];
    let hello = "hello".repeat(1 << 10);
    let world = ByteBuf::from(b"world".repeat(1 << 10));
    assert!(cache.set(0, None::<()>)?);
    assert!(cache.set(1, &nones)?);
    assert!(cache.set(2, 1234)?);
    assert!(cache.set(4, 56.78)?);
    assert!(cache.set(5, "hello")?);
    assert!(cache.set(6, &hello)?);
    assert!(cache.set(7, ByteBuf::from(&b"world"[..]))?);
    assert!(cache.set(8, &world)?);
    assert!(cache.set_reader(9, &world[..], opts())?);
    assert_eq!(cache.len()?, 9);
    assert_eq!(cache.get::<Option<()>>(0)?, Some(None));
    assert_eq!(cache.get::<Vec<Option<()>>>(1)?, Some(nones.clone()));
    assert_eq!(cache.get::<i64>(2)?, Some(1234));
    assert_eq!(cache.get::<f64>(4)?, Some(56.78));
    assert_eq!(cache.get::<String>(5)?.as_deref(), Some("hello"));
    assert_eq!(cache.get::<String>(6)?.as_ref(), Some(&hello));
    assert_eq!(
        cache.get::<ByteBuf>(7)?.map(ByteBuf::into_vec),
        Some(b"world".to_vec())
    );
    assert_eq!(cache.get::<ByteBuf>(8)?.as_ref(), Some(&world));
    assert_eq!(cache.get::<ByteBuf>(9)?.as_ref(), Some(&world));
    for key in [0, 1, 2, 4, 5, 6, 7, 8, 9] {
        assert!(cache.delete(key)?);
    }
    assert_eq!(cache.len()?, 0);

    let keys = [
        Key::from_serialize(&None::<()>)?,
        Key::from_serialize(&nones)?,
        Key::from(1234),
        Key::from(56.78),
        Key::from("hello"),
        Key::from(hello),
        Key::from(&b"world"[..]),
        Key::from(world.into_vec()),
    ];
    for (value, key) in keys.iter().enumerate() {
        cache.set(key, value as i64)?;
    }
    assert_eq!(cache.len()?, keys.len() as u64);
    for (value, key) in keys.iter().enumerate() {
        assert_eq!(cache.get::<i64>(key)?, Some(value as i64));
    }
    for key in &keys {
        assert!(cache.delete(key)?);
    }
    assert_eq!(cache.len()?, 0);
    assert!(cache.check(false)?.is_empty());
    Ok(())
}

// test_get_timeout (Python's mocked shard times out and `get` returns None; here a read
// takes no lock, so with the shard's write lock held it still finds the value: README
// "Differences from Python diskcache")
#[cfg(target_os = "linux")]
#[test]
fn get_timeout() -> R {
    let (_dir, cache, shard) = timing_out(0);
    cache.set(0, 0)?;
    let _held = crate::common::hold_log_lock(&shard);
    assert_eq!(cache.get::<i64>(0)?, Some(0));
    Ok(())
}

// test_pop
#[test]
fn pop() -> R {
    let (_dir, cache) = cache();
    for num in 0..100 {
        cache.set(num, num)?;
    }
    for num in 0..100 {
        assert_eq!(cache.pop::<i64>(num)?, Some(num));
    }
    Ok(())
}

// test_pop_timeout
#[cfg(target_os = "linux")]
#[test]
fn pop_timeout() -> R {
    let (_dir, cache, shard) = timing_out(0);
    cache.set(0, 0)?;
    let _held = crate::common::hold_log_lock(&shard);
    assert_eq!(cache.pop::<i64>(0)?, None);
    Ok(())
}

// test_delete_timeout
#[cfg(target_os = "linux")]
#[test]
fn delete_timeout() -> R {
    let (_dir, cache, shard) = timing_out(0);
    cache.set(0, 0)?;
    let _held = crate::common::hold_log_lock(&shard);
    assert!(!cache.delete(0)?);
    Ok(())
}

// test_delitem
#[test]
fn delitem() -> R {
    let (_dir, cache) = cache();
    cache.set(0, 0)?;
    assert_eq!(cache.get::<i64>(0)?, Some(0));
    assert!(cache.delete(0)?);
    Ok(())
}

// test_delitem_keyerror (`delete` says false where `del` raises KeyError)
#[test]
fn delitem_keyerror() -> R {
    let (_dir, cache) = cache();
    assert!(!cache.delete(0)?);
    Ok(())
}

// test_tag_index
#[test]
fn tag_index() -> R {
    let (_dir, cache) = cache();
    assert!(!cache.settings().tag_index);
    cache.create_tag_index()?;
    assert!(cache.settings().tag_index);
    cache.drop_tag_index()?;
    assert!(!cache.settings().tag_index);
    Ok(())
}

// test_read
#[test]
fn read() -> R {
    let (_dir, cache) = cache();
    cache.set(0, ByteBuf::from(b"abcd".repeat(1 << 20)))?;
    let mut bytes = Vec::new();
    cache
        .get_reader(0)?
        .expect("a reader")
        .read_to_end(&mut bytes)?;
    assert_eq!(bytes.len(), 4 << 20);
    Ok(())
}

// test_read_keyerror
#[test]
fn read_keyerror() -> R {
    let (_dir, cache) = cache();
    assert!(cache.get_reader(0)?.is_none());
    Ok(())
}

// test_getitem_keyerror
#[test]
fn getitem_keyerror() -> R {
    let (_dir, cache) = cache();
    assert_eq!(cache.get::<i64>(0)?, None);
    Ok(())
}

// test_expire
#[test]
fn expire() -> R {
    let (_dir, cache) = cache();
    cache.reset(Setting::CullLimit(0))?;
    for value in 0..100 {
        cache.set_with(value, value, ttl(Duration::from_nanos(1)))?;
    }
    assert_eq!(cache.len()?, 100);
    sleep_ms(10);
    cache.reset(Setting::CullLimit(10))?;
    assert_eq!(cache.expire()?, 100);
    Ok(())
}

// test_evict
#[test]
fn evict() -> R {
    let (_dir, cache) = cache();
    let colors = ["red", "blue", "yellow"];
    for value in 0..90 {
        assert!(cache.set_with(value, value, opts().tag(colors[value as usize % 3]))?);
    }
    assert_eq!(cache.len()?, 90);
    assert_eq!(cache.evict("red")?, 30);
    assert_eq!(cache.len()?, 60);
    assert!(cache.check(false)?.is_empty());
    Ok(())
}

/// A fanout cache whose values go to their own files from 4 KiB: Python's size-limit tests
/// scale with `disk_min_file_size`, and a smaller one keeps the port quick.
fn small_files() -> (tempfile::TempDir, FanoutCache) {
    let dir = tempfile::tempdir().unwrap();
    let cache = FanoutCache::builder()
        .min_file_size(4096)
        .open(dir.path())
        .unwrap();
    (dir, cache)
}

// test_size_limit_with_files (Python's `reset('size_limit', n)` gives every shard n; here
// `SizeLimit` is the whole cache's, so the reset asks for n per shard; min_file_size 4 KiB
// rather than 32 KiB, see `small_files`)
#[test]
fn size_limit_with_files() -> R {
    let (_dir, cache) = small_files();
    let shards = 8;
    cache.reset(Setting::CullLimit(0))?;
    let min_file_size = cache.settings().min_file_size;
    let size_limit = 30 * min_file_size;
    cache.reset(Setting::SizeLimit(size_limit * shards))?;
    let value = ByteBuf::from(b"foo".repeat(min_file_size as usize));
    for key in 0..40 * shards as i64 {
        cache.set(key, &value)?;
    }
    assert!(cache.volume()? / shards > size_limit);
    cache.cull()?;
    assert!(cache.volume()? / shards <= size_limit);
    Ok(())
}

// test_size_limit_with_database (the size limit and min_file_size as in
// size_limit_with_files)
#[test]
fn size_limit_with_database() -> R {
    let (_dir, cache) = small_files();
    let shards = 8;
    cache.reset(Setting::CullLimit(0))?;
    let size_limit = 2 * cache.settings().min_file_size;
    cache.reset(Setting::SizeLimit(size_limit * shards))?;
    let value = ByteBuf::from(b"0123456789".repeat(10));
    let count = size_limit / (8 + value.len() as u64) * shards;
    for key in 0..count as i64 {
        cache.set(key, &value)?;
    }
    assert!(cache.volume()? / shards > size_limit);
    cache.cull()?;
    assert!(cache.volume()? / shards <= size_limit);
    Ok(())
}

// test_clear
#[test]
fn clear() -> R {
    let (_dir, cache) = cache();
    for value in 0..100 {
        cache.set(value, value)?;
    }
    assert_eq!(cache.len()?, 100);
    assert_eq!(cache.clear()?, 100);
    assert_eq!(cache.len()?, 0);
    assert!(cache.check(false)?.is_empty());
    Ok(())
}

/// Holds the write lock of `shard` from another thread for 200 ms, and returns once it is
/// held.
#[cfg(target_os = "linux")]
fn hold_for_a_while(shard: std::path::PathBuf) -> std::thread::JoinHandle<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let _held = crate::common::hold_log_lock(&shard);
        tx.send(()).unwrap();
        sleep_ms(200);
    });
    rx.recv().unwrap();
    holder
}

// test_remove_timeout (Python's mocked shard times out once, clearing 2, then clears 3, and
// `clear` returns 5: here a shard's lock is held past the timeout, and `clear` waits it out
// and counts every entry)
#[cfg(target_os = "linux")]
#[test]
#[ignore = "pending: FanoutCache whole-cache operations retry on Timeout until done"]
fn remove_timeout() -> R {
    let (_dir, cache, shard) = timing_out(0);
    for value in 0..100 {
        cache.set(value, value)?;
    }
    let holder = hold_for_a_while(shard);
    assert_eq!(cache.clear()?, 100);
    holder.join().unwrap();
    assert_eq!(cache.len()?, 0);
    Ok(())
}

// test_reset_timeout (likewise: a `reset` that meets a held lock waits it out)
#[cfg(target_os = "linux")]
#[test]
#[ignore = "pending: FanoutCache whole-cache operations retry on Timeout until done"]
fn reset_timeout() -> R {
    let (_dir, cache, shard) = timing_out(0);
    let holder = hold_for_a_while(shard);
    assert_eq!(cache.reset(Setting::CullLimit(0))?, Setting::CullLimit(10));
    holder.join().unwrap();
    for shard in cache.shards() {
        assert_eq!(shard.settings().cull_limit, 0);
    }
    Ok(())
}

// test_stats
#[test]
fn stats() -> R {
    let (_dir, cache) = cache();
    for value in 0..100 {
        cache.set(value, value)?;
    }
    assert_eq!(<(u64, u64)>::from(cache.stats(true, false)?), (0, 0));
    for value in 0..100 {
        cache.get::<i64>(value)?;
    }
    for value in 100..110 {
        cache.get::<i64>(value)?;
    }
    assert_eq!(<(u64, u64)>::from(cache.stats(true, true)?), (100, 10));
    assert_eq!(<(u64, u64)>::from(cache.stats(false, false)?), (0, 0));
    for value in 0..100 {
        cache.get::<i64>(value)?;
    }
    for value in 100..110 {
        cache.get::<i64>(value)?;
    }
    assert_eq!(<(u64, u64)>::from(cache.stats(false, false)?), (0, 0));
    assert!(cache.check(false)?.is_empty());
    Ok(())
}

// test_volume
#[test]
fn volume() -> R {
    let (_dir, cache) = cache();
    cache.set(0, "a value")?;
    let volume: u64 = cache.shards().iter().map(|s| s.volume().unwrap()).sum();
    assert_eq!(volume, cache.volume()?);
    Ok(())
}

// test_iter
#[test]
fn iter() -> R {
    let (_dir, cache) = cache();
    for num in 0..100 {
        cache.set(num, num)?;
    }
    let found: HashSet<Key> = keys(&cache).into_iter().collect();
    assert_eq!(found, (0..100).map(Key::from).collect());
    Ok(())
}

// test_iter_expire ("Iteration does not expire keys.")
#[test]
#[ignore = "pending: iteration yields expired-but-stored keys"]
fn iter_expire() -> R {
    let (_dir, cache) = cache();
    cache.reset(Setting::CullLimit(0))?;
    for num in 0..100 {
        cache.set_with(num, num, ttl(Duration::from_nanos(1)))?;
    }
    sleep_ms(10);
    let found: HashSet<Key> = keys(&cache).into_iter().collect();
    assert_eq!(found, (0..100).map(Key::from).collect());
    cache.expire()?;
    assert!(keys(&cache).is_empty());
    Ok(())
}

// test_reversed (no reversed iterator here: the keys collected and reversed, which is what
// Python's reversed shards, each reversed, give; see README "Differences from Python
// diskcache")
#[test]
fn reversed() -> R {
    let (_dir, cache) = cache();
    for num in 0..100 {
        cache.set(num, num)?;
    }
    let forward = keys(&cache);
    let reverse: Vec<Key> = forward.iter().rev().cloned().collect();
    assert_eq!(reverse.len(), 100);
    assert_eq!(reverse.into_iter().rev().collect::<Vec<_>>(), forward);
    Ok(())
}

// test_memoize (Python's count of 1000 is 180 here: see core::FIB_COUNT)
#[test]
fn memoize() -> R {
    let (_dir, cache) = cache();
    let memo = cache.memo::<u64, u128>("fib", MemoOptions::default());
    cache.stats(true, false)?;
    crate::core::check_memoized_fib(&memo, || cache.stats(true, false).unwrap().into());
    Ok(())
}

// test_copy (2 shards, as the `cache` fixture)
#[test]
fn copy() -> R {
    let root = tempfile::tempdir()?;
    let (dir1, dir2) = (root.path().join("1"), root.path().join("2"));
    {
        let cache1 = FanoutCache::builder().shards(2).open(&dir1)?;
        for count in 0..10 {
            cache1.set(count, count.to_string())?;
        }
        for count in 10..20 {
            cache1.set(count, count.to_string().repeat(100_000))?;
        }
        cache1.close()?;
    }
    crate::copy_tree(&dir1, &dir2);
    let cache2 = FanoutCache::builder().shards(2).open(&dir2)?;
    for count in 0..10 {
        assert_eq!(cache2.get::<String>(count)?, Some(count.to_string()));
    }
    for count in 10..20 {
        assert_eq!(
            cache2.get::<String>(count)?,
            Some(count.to_string().repeat(100_000))
        );
    }
    Ok(())
}

// test_rsync (2 shards, as the `cache` fixture; a mirror copy each way; 100 small and 100 large values each way scaled to
// 20 and 20)
#[test]
fn rsync() -> R {
    let root = tempfile::tempdir()?;
    let (dir1, dir2) = (root.path().join("1"), root.path().join("2"));
    let small = |n: i64| n.to_string();
    let large = |n: i64| n.to_string().repeat(100_000);
    {
        let cache1 = FanoutCache::builder().shards(2).open(&dir1)?;
        for count in 0..20 {
            cache1.set(count, small(count))?;
        }
        for count in 100..120 {
            cache1.set(count, large(count))?;
        }
    }
    crate::mirror_tree(&dir1, &dir2);
    {
        let cache2 = FanoutCache::builder().shards(2).open(&dir2)?;
        for count in 0..20 {
            assert_eq!(cache2.get::<String>(count)?, Some(small(count)));
        }
        for count in 100..120 {
            assert_eq!(cache2.get::<String>(count)?, Some(large(count)));
        }
        for count in 200..220 {
            cache2.set(count, small(count))?;
        }
        for count in 300..320 {
            cache2.set(count, large(count))?;
        }
    }
    crate::mirror_tree(&dir2, &dir1);
    let cache1 = FanoutCache::builder().shards(2).open(&dir1)?;
    for count in (0..20).chain(200..220) {
        assert_eq!(cache1.get::<String>(count)?, Some(small(count)));
    }
    for count in (100..120).chain(300..320) {
        assert_eq!(cache1.get::<String>(count)?, Some(large(count)));
    }
    // Every shard is a whole cache of its own after the copies.
    for shard in cache1.shards() {
        let _: &Cache = shard;
        assert!(shard.check(false)?.is_empty());
    }
    Ok(())
}
