//! The memory budget: a per-handle setting, not stored, that a `FanoutCache` splits across
//! its shards. That it bounds redb's page cache is measured in
//! `tests/process_wide/resident_memory.rs` (resident memory belongs to the whole process).

use diskcache::{Cache, DEFAULT_MEMORY_BUDGET, DEFAULT_SHARDS, FanoutCache};

#[test]
fn the_memory_budget_is_the_handles_own_and_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .memory_budget(3 << 20)
        .open(dir.path())
        .unwrap();
    assert_eq!(cache.settings().memory_budget, 3 << 20);
    let other = Cache::open(dir.path()).unwrap();
    assert_eq!(other.settings().memory_budget, DEFAULT_MEMORY_BUDGET);
    assert_eq!(cache.settings().memory_budget, 3 << 20);
    // A reset of a stored setting, read back by both handles, keeps each one's budget.
    other.reset(diskcache::Setting::CullLimit(3)).unwrap();
    assert_eq!(cache.settings().cull_limit, 3);
    assert_eq!(cache.settings().memory_budget, 3 << 20);
    drop((cache, other));
    let reopened = Cache::open(dir.path()).unwrap();
    assert_eq!(reopened.settings().memory_budget, DEFAULT_MEMORY_BUDGET);
}

#[test]
fn a_budget_of_zero_still_reads_and_writes() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder().memory_budget(0).open(dir.path()).unwrap();
    for i in 0..2000 {
        cache.set(i, i).unwrap();
    }
    cache.checkpoint().unwrap();
    for i in 0..2000 {
        assert_eq!(cache.get::<i64>(i).unwrap(), Some(i));
    }
    assert!(cache.check(false).unwrap().is_empty());
    cache.compact().unwrap();
    assert_eq!(cache.get::<i64>(1999).unwrap(), Some(1999));
}

#[test]
fn a_fanout_cache_splits_its_memory_budget_across_its_shards() {
    let dir = tempfile::tempdir().unwrap();
    let fanout = FanoutCache::builder()
        .shards(4)
        .memory_budget(8 << 20)
        .open(dir.path())
        .unwrap();
    for shard in fanout.shards() {
        assert_eq!(shard.settings().memory_budget, 2 << 20);
    }
    assert_eq!(fanout.settings().memory_budget, 8 << 20);
    // A cache opened by name in it gets one shard's part.
    let named = fanout.cache("named").unwrap();
    assert_eq!(named.settings().memory_budget, 2 << 20);
    drop((fanout, named));

    // By default the whole fanout cache has the default budget.
    let dir = tempfile::tempdir().unwrap();
    let fanout = FanoutCache::open(dir.path()).unwrap();
    assert_eq!(fanout.shards().len(), DEFAULT_SHARDS);
    for shard in fanout.shards() {
        assert_eq!(
            shard.settings().memory_budget,
            DEFAULT_MEMORY_BUDGET / DEFAULT_SHARDS as u64
        );
    }
}
