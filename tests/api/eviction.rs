//! Guards the eviction policies: which entries a cull removes after a known access pattern,
//! on both write paths, and that `size_limit`, `cull_limit` and `reset` behave as diskcache's.
//!
//! Two negative controls (`src/testing/sabotage.rs`) must make tests here fail
//! (`scripts/negative_controls.sh settings-epoch access-records`): `settings-epoch`, under
//! which `reset` does not reach another handle, and `access-records`, under which checkpoints
//! drop the reads logged in `cache.wal`, so that LRU and LFU forget what was read.

use diskcache::{Cache, EvictionPolicy, Setting, WritePath};

/// Bytes of each value: with the 128 bytes counted per row and a short key, ~1 KiB per entry.
const VALUE: usize = 892;

fn open(policy: EvictionPolicy, path: WritePath, limit: u64) -> (tempfile::TempDir, Cache) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .eviction_policy(policy)
        .write_path(path)
        .size_limit(limit)
        .open(dir.path())
        .unwrap();
    (dir, cache)
}

fn fill(cache: &Cache, keys: std::ops::Range<i64>) {
    for k in keys {
        cache.set(k, &vec![0u8; VALUE][..]).unwrap();
    }
}

fn present(cache: &Cache, keys: std::ops::Range<i64>) -> Vec<i64> {
    let warnings: Vec<String> = cache
        .check(false)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        warnings.is_empty(),
        "rows and order tables disagree: {warnings:?}"
    );
    keys.filter(|k| cache.contains(*k).unwrap()).collect()
}

/// The write paths this platform has (the logged path is Linux's only).
fn paths() -> impl Iterator<Item = WritePath> {
    [WritePath::Logged, WritePath::Direct]
        .into_iter()
        .filter(|p| p.is_available())
}

#[test]
fn least_recently_stored_culls_the_oldest_writes() {
    for path in paths() {
        let (_dir, cache) = open(EvictionPolicy::LeastRecentlyStored, path, 100 * 1024);
        fill(&cache, 0..300);
        assert!(cache.volume().unwrap() <= 100 * 1024 + 1024, "{path:?}");
        let kept = present(&cache, 0..300);
        assert!(kept.contains(&299), "{path:?}");
        assert!(!kept.contains(&0), "{path:?}");
        // Whatever survived is a suffix of the store order.
        let first = kept[0];
        assert_eq!(kept, (first..300).collect::<Vec<_>>(), "{path:?}");
    }
}

#[test]
fn least_recently_used_keeps_what_was_read() {
    for path in paths() {
        let (_dir, cache) = open(EvictionPolicy::LeastRecentlyUsed, path, 100 * 1024);
        fill(&cache, 0..90);
        // Read the oldest half: they become the most recently used.
        for k in 0..45 {
            assert!(cache.get::<Vec<u8>>(k).unwrap().is_some());
        }
        fill(&cache, 90..130);
        let kept = present(&cache, 0..130);
        for k in 0..45 {
            assert!(kept.contains(&k), "{path:?}: read key {k} was culled");
        }
        assert!(!kept.contains(&45), "{path:?}: an unread old key survived");
        assert!(kept.contains(&129), "{path:?}");
    }
}

#[test]
fn least_frequently_used_keeps_what_is_read_often() {
    for path in paths() {
        let (_dir, cache) = open(EvictionPolicy::LeastFrequentlyUsed, path, 100 * 1024);
        fill(&cache, 0..90);
        for round in 0..3 {
            for k in (0..90).filter(|k| k % 3 == 0) {
                assert!(cache.get::<Vec<u8>>(k).unwrap().is_some(), "{round}");
            }
        }
        fill(&cache, 90..110);
        let kept = present(&cache, 0..90);
        for k in (0..90).filter(|k| k % 3 == 0) {
            assert!(
                kept.contains(&k),
                "{path:?}: frequently read key {k} was culled"
            );
        }
        assert!(kept.len() < 90, "{path:?}: nothing was culled");
    }
}

#[test]
fn policy_none_never_culls() {
    for path in paths() {
        let (_dir, cache) = open(EvictionPolicy::None, path, 10 * 1024);
        fill(&cache, 0..50);
        assert_eq!(cache.len().unwrap(), 50);
        assert_eq!(cache.cull().unwrap(), 0);
        assert_eq!(cache.len().unwrap(), 50);
    }
}

#[test]
fn a_write_culls_at_most_cull_limit_entries_and_expired_ones_first() {
    use diskcache::SetOptions;
    use std::time::Duration;
    for path in paths() {
        let dir = tempfile::tempdir().unwrap();
        // Written with culling off, so that no write removes the expired entries early.
        let cache = Cache::builder()
            .write_path(path)
            .size_limit(1 << 30)
            .cull_limit(0)
            .open(dir.path())
            .unwrap();
        fill(&cache, 0..20);
        let short = SetOptions::default().expire(Duration::from_millis(1));
        for k in 100..105 {
            cache
                .set_with(k, &vec![0u8; VALUE][..], short.clone())
                .unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
        cache.reset(Setting::CullLimit(3)).unwrap();
        cache.reset(Setting::SizeLimit(10 * 1024)).unwrap();
        let before = cache.len().unwrap();
        fill(&cache, 20..21);
        // One write: +1 entry, at most 3 removed, all of them expired.
        assert_eq!(cache.len().unwrap(), before + 1 - 3, "{path:?}");
        assert_eq!(present(&cache, 0..21).len(), 21, "{path:?}");
        // cull() ignores cull_limit: expired first, then down to the limit.
        let removed = cache.cull().unwrap();
        assert!(removed >= 2, "{path:?}");
        assert!(cache.volume().unwrap() <= 10 * 1024, "{path:?}");
        assert!(cache.contains(20).unwrap(), "{path:?}");
    }
}

#[test]
fn switching_the_policy_rebuilds_its_order() {
    let (_dir, cache) = open(
        EvictionPolicy::LeastRecentlyStored,
        WritePath::default(),
        1 << 30,
    );
    fill(&cache, 0..60);
    let old = cache
        .reset(Setting::EvictionPolicy(EvictionPolicy::LeastFrequentlyUsed))
        .unwrap();
    assert_eq!(
        old,
        Setting::EvictionPolicy(EvictionPolicy::LeastRecentlyStored)
    );
    for k in 0..30 {
        cache.get::<Vec<u8>>(k).unwrap();
    }
    cache.reset(Setting::SizeLimit(40 * 1024)).unwrap();
    assert!(cache.cull().unwrap() > 0);
    let kept = present(&cache, 0..60);
    assert!(
        (0..30).all(|k| kept.contains(&k)),
        "read keys were culled: {kept:?}"
    );
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "on the direct path, the only one off Linux, another handle sees a reset at its \
              next write (Cache::settings), not at once"
)]
fn reset_reaches_another_handle() {
    let dir = tempfile::tempdir().unwrap();
    let a = Cache::open(dir.path()).unwrap();
    let b = Cache::open(dir.path()).unwrap();
    a.reset(Setting::CullLimit(0)).unwrap();
    assert_eq!(b.settings().cull_limit, 0);
    b.create_tag_index().unwrap();
    assert!(a.settings().tag_index);
    assert!(matches!(
        a.reset(Setting::WritePath(WritePath::Direct)),
        Err(diskcache::Error::InvalidArgument(_))
    ));
}

#[test]
fn evict_uses_the_tag_index_and_agrees_with_a_scan() {
    use diskcache::SetOptions;
    for index in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::builder().tag_index(index).open(dir.path()).unwrap();
        for i in 0..2500 {
            let tag = if i % 5 == 0 { "five" } else { "other" };
            cache
                .set_with(i, i, SetOptions::default().tag(tag))
                .unwrap();
        }
        assert_eq!(cache.evict("five").unwrap(), 500, "index {index}");
        assert_eq!(cache.evict("five").unwrap(), 0, "index {index}");
        assert_eq!(cache.len().unwrap(), 2000);
        if index {
            cache.drop_tag_index().unwrap();
        } else {
            cache.create_tag_index().unwrap();
        }
        assert_eq!(cache.evict("other").unwrap(), 2000, "index {index}");
        assert_eq!(cache.check(false).unwrap(), Vec::new());
    }
}

#[test]
fn stats_count_hits_and_misses_across_handles() {
    for path in paths() {
        let dir = tempfile::tempdir().unwrap();
        let a = Cache::builder().write_path(path).open(dir.path()).unwrap();
        assert_eq!(<(u64, u64)>::from(a.stats(true, false).unwrap()), (0, 0));
        a.set("k", 1).unwrap();
        let b = Cache::open(dir.path()).unwrap();
        for _ in 0..3 {
            a.get::<i64>("k").unwrap();
            b.get::<i64>("k").unwrap();
        }
        b.get::<i64>("nope").unwrap();
        a.checkpoint().unwrap();
        drop(b);
        assert_eq!(
            <(u64, u64)>::from(a.stats(false, true).unwrap()),
            (6, 1),
            "{path:?}"
        );
        a.get::<i64>("k").unwrap();
        assert_eq!(
            <(u64, u64)>::from(a.stats(true, false).unwrap()),
            (0, 0),
            "{path:?}"
        );
    }
}

#[test]
fn reads_through_another_handle_count_for_least_recently_used() {
    let (dir, a) = open(
        EvictionPolicy::LeastRecentlyUsed,
        WritePath::default(),
        100 * 1024,
    );
    fill(&a, 0..90);
    let b = Cache::open(dir.path()).unwrap();
    for k in 0..45 {
        assert!(b.get::<Vec<u8>>(k).unwrap().is_some());
    }
    // The reader's janitor logs its reads within ~10 ms; closing it would too.
    std::thread::sleep(std::time::Duration::from_millis(200));
    fill(&a, 90..130);
    let kept = present(&a, 0..130);
    assert!(
        (0..45).all(|k| kept.contains(&k)),
        "read keys were culled: {kept:?}"
    );
    assert!(!kept.contains(&45));
}

#[test]
fn a_transaction_culls_at_its_end() {
    // README, "Differences from Python diskcache": Python culls inside each store of a
    // transaction, so there `contains(0)` below would be false already.
    for path in paths() {
        let (_dir, cache) = open(EvictionPolicy::LeastRecentlyStored, path, 1 << 30);
        cache.reset(Setting::CullLimit(1)).unwrap();
        fill(&cache, 0..10);
        cache
            .reset(Setting::SizeLimit(cache.volume().unwrap()))
            .unwrap();
        let inside = cache
            .transact(|tx| {
                tx.set(10, &vec![0u8; VALUE][..])?;
                tx.contains(0)
            })
            .unwrap();
        assert!(
            inside,
            "{path:?}: the cull ran before the transaction's end"
        );
        // Committed with its cull: the oldest entry went.
        assert!(!cache.contains(0).unwrap(), "{path:?}");
        assert_eq!(
            present(&cache, 0..11),
            (1..11).collect::<Vec<_>>(),
            "{path:?}"
        );
    }
}
