//! `FanoutCache`: the shard directories and the `fanout` record, the documented shard hash
//! (pinned values), every operation through the shards, whole-cache operations summed over
//! them, per-shard size limits, named sub-caches, `check`, and diskcache's timeouts: a write
//! to a shard whose write lock another process holds returns `Ok(false)` (or `None`) after
//! the timeout, while the other shards keep working.
//!
//! The other process is real: the timeout test re-runs this test binary
//! (`tests/common/child.rs`) as the child test `a_shard_lock_child_...`, an ignored test that
//! does its work only when the environment names it.

use crate::common;

use common::child::{Proc, child_env, tell_parent, wait_for_file};

#[path = "../../examples/fanout.rs"]
mod example;

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use diskcache::{
    Cache, DEFAULT_SHARDS, Error, EvictionPolicy, FanoutCache, Key, Number, SetOptions, Setting,
};

/// Keys `0..n` as integers.
fn fill(cache: &FanoutCache, n: i64) {
    for i in 0..n {
        assert!(cache.set(i, i).unwrap());
    }
}

/// The shard index of `key`.
fn shard_of(cache: &FanoutCache, key: impl Into<Key>) -> usize {
    cache.shard_index(&key.into()).unwrap()
}

/// A text key that lives in shard `shard`, the `nth` such (from 0).
fn key_in_shard(cache: &FanoutCache, shard: usize, nth: usize) -> String {
    (0..)
        .map(|i| format!("key-{i}"))
        .filter(|k| shard_of(cache, k.as_str()) == shard)
        .nth(nth)
        .unwrap()
}

// ----- the directory ------------------------------------------------------------------------

#[test]
fn a_new_fanout_cache_has_eight_shard_directories_and_records_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FanoutCache::open(dir.path()).unwrap();
    assert_eq!(DEFAULT_SHARDS, 8);
    assert_eq!(cache.shards().len(), 8);
    assert_eq!(cache.directory(), dir.path());
    for (i, shard) in cache.shards().iter().enumerate() {
        let sub = dir.path().join(format!("{i:03}"));
        assert_eq!(shard.directory(), sub);
        assert!(sub.join("cache.redb").is_file(), "{}", sub.display());
    }
    // The record, byte for byte (format-spec/directory.md).
    let record = std::fs::read_to_string(dir.path().join("fanout")).unwrap();
    assert_eq!(record, "diskcache fanout v1\nshards 8\n");
    // Nothing else at the top level: the shards, the record.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut expected: Vec<String> = (0..8).map(|i| format!("{i:03}")).collect();
    expected.push("fanout".into());
    assert_eq!(names, expected);
}

#[test]
fn reopening_keeps_the_recorded_count_and_refuses_another() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FanoutCache::builder().shards(3).open(dir.path()).unwrap();
    assert!(cache.set("kept", 1).unwrap());
    drop(cache);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("fanout")).unwrap(),
        "diskcache fanout v1\nshards 3\n"
    );

    // No count given: the recorded one, not the default.
    let again = FanoutCache::open(dir.path()).unwrap();
    assert_eq!(again.shards().len(), 3);
    assert_eq!(again.get::<i64>("kept").unwrap(), Some(1));
    let same = FanoutCache::builder().shards(3).open(dir.path()).unwrap();
    assert_eq!(same.get::<i64>("kept").unwrap(), Some(1));

    match FanoutCache::builder().shards(8).open(dir.path()) {
        Err(Error::InvalidArgument(msg)) => {
            assert!(msg.contains("3 shards") && msg.contains("not 8"), "{msg}")
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    // The refusal changed nothing.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("fanout")).unwrap(),
        "diskcache fanout v1\nshards 3\n"
    );
    assert!(!dir.path().join("003").exists());
}

#[test]
fn bad_shard_counts_plain_caches_and_damaged_records_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for n in [0, 1001] {
        let result = FanoutCache::builder()
            .shards(n)
            .open(dir.path().join("new"));
        assert!(
            matches!(result, Err(Error::InvalidArgument(_))),
            "{n}: {result:?}"
        );
    }
    // 1 and 1000 are the bounds.
    assert_eq!(
        FanoutCache::builder()
            .shards(1)
            .open(dir.path().join("one"))
            .unwrap()
            .shards()
            .len(),
        1
    );

    let plain = dir.path().join("plain");
    Cache::open(&plain).unwrap().set("k", 1).unwrap();
    match FanoutCache::open(&plain) {
        Err(Error::InvalidArgument(msg)) => assert!(msg.contains("plain Cache"), "{msg}"),
        other => panic!("expected InvalidArgument, got {other:?}"),
    }

    // And the other way round: a fanout directory is not a plain cache.
    drop(FanoutCache::open(dir.path().join("fan")).unwrap());
    match Cache::open(dir.path().join("fan")) {
        Err(Error::InvalidArgument(msg)) => assert!(msg.contains("FanoutCache"), "{msg}"),
        other => panic!("expected InvalidArgument, got {other:?}"),
    }

    let damaged = dir.path().join("damaged");
    drop(FanoutCache::builder().shards(2).open(&damaged).unwrap());
    std::fs::write(damaged.join("fanout"), "diskcache fanout v1\nshards two\n").unwrap();
    let result = FanoutCache::open(&damaged);
    assert!(matches!(result, Err(Error::Corrupted(_))), "{result:?}");
}

// ----- the shard hash -----------------------------------------------------------------------

#[test]
fn the_shard_of_a_key_is_the_documented_hash() {
    // format-spec/directory.md, "FanoutCache": "key" encodes as 20 6b 65 79; FNV-1a 64 of
    // that is 0xada8a172c90069e6, the splitmix64 finalizer makes 0xb57ca78367f4c4b2
    // (13077511600803726514), which is 2 modulo 8 and 2 modulo 4. The integer 1 (encoded
    // 11 80 00 00 00 00 00 00 01 00) hashes to 0x5290898a682ce4af: 7 modulo 8, 3 modulo 4.
    let dir = tempfile::tempdir().unwrap();
    let eight = FanoutCache::builder()
        .shards(8)
        .open(dir.path().join("8"))
        .unwrap();
    let four = FanoutCache::builder()
        .shards(4)
        .open(dir.path().join("4"))
        .unwrap();
    assert_eq!(shard_of(&eight, "key"), 2);
    assert_eq!(shard_of(&four, "key"), 2);
    assert_eq!(shard_of(&eight, 1), 7);
    assert_eq!(shard_of(&four, 1), 3);
    // An integral float is the same key, so the same shard.
    assert_eq!(shard_of(&eight, 1.0), 7);
    assert_eq!(shard_of(&eight, ""), 12129439038402560803 % 8);

    // The entry really is in that shard's directory.
    assert!(eight.set("key", "value").unwrap());
    assert!(eight.set(1, 1).unwrap());
    for (i, shard) in eight.shards().iter().enumerate() {
        assert_eq!(shard.contains("key").unwrap(), i == 2, "shard {i}");
        assert_eq!(shard.contains(1).unwrap(), i == 7, "shard {i}");
    }
    let reopened = Cache::open(dir.path().join("8").join("002")).unwrap();
    assert_eq!(
        reopened.get::<String>("key").unwrap().as_deref(),
        Some("value")
    );
}

#[test]
fn keys_spread_over_the_shards() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FanoutCache::open(dir.path()).unwrap();
    let mut counts = [0usize; 8];
    for i in 0..4000 {
        counts[shard_of(&cache, i)] += 1;
        counts[shard_of(&cache, format!("user:{i}"))] += 1;
    }
    // 1000 expected per shard; a fair hash stays well within 15 %.
    for (i, &n) in counts.iter().enumerate() {
        assert!((850..=1150).contains(&n), "shard {i} got {n}: {counts:?}");
    }
}

// ----- operations ---------------------------------------------------------------------------

#[test]
fn point_operations_go_to_the_key_s_shard() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FanoutCache::builder()
        .shards(4)
        .min_file_size(1024)
        .open(dir.path())
        .unwrap();

    for i in 0..100 {
        assert!(cache.set(i, i * 10).unwrap());
    }
    for i in 0..100 {
        assert_eq!(cache.get::<i64>(i).unwrap(), Some(i * 10));
        assert!(cache.contains(i).unwrap());
        let home = shard_of(&cache, i);
        assert_eq!(cache.shards()[home].get::<i64>(i).unwrap(), Some(i * 10));
    }
    assert_eq!(cache.get::<i64>(1000).unwrap(), None);
    assert!(!cache.contains(1000).unwrap());

    // add
    assert!(!cache.add(5, 0, SetOptions::default()).unwrap());
    assert!(cache.add("new", 7, SetOptions::default()).unwrap());
    assert_eq!(cache.get::<i64>("new").unwrap(), Some(7));

    // set_with, get_entry, touch
    let opts = SetOptions::default()
        .expire(Duration::from_secs(60))
        .tag("t");
    assert!(cache.set_with("entry", "v", opts).unwrap());
    let entry = cache.get_entry::<String>("entry").unwrap().unwrap();
    assert_eq!(entry.value, "v");
    assert_eq!(entry.tag, Some(Key::from("t")));
    assert!(entry.expire_time.is_some());
    assert!(cache.touch("entry", None).unwrap());
    assert_eq!(
        cache
            .get_entry::<String>("entry")
            .unwrap()
            .unwrap()
            .expire_time,
        None
    );
    assert!(!cache.touch("absent", None).unwrap());

    // incr, decr
    assert_eq!(
        cache.incr("count", 1, Some(0)).unwrap(),
        Some(Number::Int(1))
    );
    assert_eq!(cache.incr("count", 5, None).unwrap(), Some(Number::Int(6)));
    assert_eq!(cache.decr("count", 2, None).unwrap(), Some(Number::Int(4)));
    assert!(matches!(
        cache.incr("missing", 1, None),
        Err(Error::KeyNotFound)
    ));

    // pop, pop_entry, delete
    assert_eq!(cache.pop::<i64>(3).unwrap(), Some(30));
    assert_eq!(cache.pop::<i64>(3).unwrap(), None);
    let popped = cache.pop_entry::<String>("entry").unwrap().unwrap();
    assert_eq!(popped.value, "v");
    assert!(cache.delete(4).unwrap());
    assert!(!cache.delete(4).unwrap());

    // set_reader, get_reader: a value file in the key's shard.
    let big = vec![9u8; 5000];
    assert!(
        cache
            .set_reader("big", &big[..], SetOptions::default())
            .unwrap()
    );
    let mut read = Vec::new();
    cache
        .get_reader("big")
        .unwrap()
        .unwrap()
        .read_to_end(&mut read)
        .unwrap();
    assert_eq!(read, big);
    let home = dir.path().join(format!("{:03}", shard_of(&cache, "big")));
    assert_eq!(common::files_ending_with(&home, ".val").len(), 1);
    assert_eq!(common::files_ending_with(dir.path(), ".val").len(), 1);

    // Errors other than timeouts are errors.
    assert!(matches!(
        cache.set(f64::NAN, 1),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(cache.get::<String>(5), Err(Error::Codec(_))));
    assert_eq!(cache.len().unwrap(), 98 + 2 + 1);
}

#[test]
fn whole_cache_operations_cover_every_shard() {
    let dir = tempfile::tempdir().unwrap();
    // Culling off: no write removes the expired entries before `expire()` does.
    let cache = FanoutCache::builder()
        .shards(4)
        .cull_limit(0)
        .open(dir.path())
        .unwrap();
    fill(&cache, 100);
    assert_eq!(cache.len().unwrap(), 100);
    assert!(!cache.is_empty().unwrap());
    let per_shard: Vec<u64> = cache.shards().iter().map(|s| s.len().unwrap()).collect();
    assert!(per_shard.iter().all(|&n| n > 0), "{per_shard:?}");
    assert_eq!(per_shard.iter().sum::<u64>(), 100);
    let volumes: u64 = cache.shards().iter().map(|s| s.volume().unwrap()).sum();
    assert_eq!(cache.volume().unwrap(), volumes);
    assert!(volumes > 0);

    // keys: all of them, each shard's in insertion order.
    let keys: Vec<i64> = cache
        .keys()
        .unwrap()
        .map(|k| k.unwrap().decode::<i64>().unwrap())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    for shard in 0..4 {
        let of_shard: Vec<i64> = keys
            .iter()
            .copied()
            .filter(|&k| shard_of(&cache, k) == shard)
            .collect();
        assert!(of_shard.is_sorted(), "shard {shard}: {of_shard:?}");
    }

    // stats, as diskcache's test_stats.
    assert_eq!(
        <(u64, u64)>::from(cache.stats(true, false).unwrap()),
        (0, 0)
    );
    for i in 0..100 {
        cache.get::<i64>(i).unwrap();
    }
    for i in 100..110 {
        cache.get::<i64>(i).unwrap();
    }
    assert_eq!(
        <(u64, u64)>::from(cache.stats(true, true).unwrap()),
        (100, 10)
    );
    assert_eq!(
        <(u64, u64)>::from(cache.stats(false, false).unwrap()),
        (0, 0)
    );
    cache.get::<i64>(1).unwrap();
    assert_eq!(
        <(u64, u64)>::from(cache.stats(false, false).unwrap()),
        (0, 0)
    );

    // expire
    for i in 100..120 {
        let opts = SetOptions::default().expire(Duration::from_millis(1));
        assert!(cache.set_with(i, i, opts).unwrap());
    }
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(cache.len().unwrap(), 120);
    assert_eq!(cache.expire().unwrap(), 20);
    assert_eq!(cache.len().unwrap(), 100);

    // evict: tagged entries in every shard.
    for i in 200..240 {
        let tag = if i % 2 == 0 { "even" } else { "odd" };
        assert!(
            cache
                .set_with(i, i, SetOptions::default().tag(tag))
                .unwrap()
        );
    }
    assert_eq!(cache.evict("odd").unwrap(), 20);
    assert_eq!(cache.evict("odd").unwrap(), 0);
    assert!(cache.contains(200).unwrap() && !cache.contains(201).unwrap());
    cache.create_tag_index().unwrap();
    assert!(cache.shards().iter().all(|s| s.settings().tag_index));
    assert_eq!(cache.evict("even").unwrap(), 20);
    cache.drop_tag_index().unwrap();
    assert!(cache.shards().iter().all(|s| !s.settings().tag_index));

    cache.checkpoint().unwrap();
    assert!(cache.check(false).unwrap().is_empty());

    // clear
    assert_eq!(cache.clear().unwrap(), 100);
    assert!(cache.is_empty().unwrap());
    assert_eq!(cache.volume().unwrap(), 0);
    assert_eq!(cache.keys().unwrap().count(), 0);
    cache.compact().unwrap();
    assert!(cache.set("after compact", 1).unwrap());
}

#[test]
fn the_size_limit_is_shared_out_and_culled_per_shard() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FanoutCache::builder()
        .shards(4)
        .size_limit(40_000)
        .cull_limit(0)
        .open(dir.path())
        .unwrap();
    assert_eq!(cache.settings().size_limit, 40_000);
    assert_eq!(cache.settings().cull_limit, 0);
    for shard in cache.shards() {
        assert_eq!(shard.settings().size_limit, 10_000);
    }

    // As diskcache's test_size_limit_with_database: with cull_limit 0 writes do not cull,
    // cull() brings every shard under its part.
    for i in 0..400 {
        assert!(cache.set(i, vec![1u8; 200]).unwrap());
    }
    assert!(cache.volume().unwrap() > 40_000);
    assert!(cache.cull().unwrap() > 0);
    for shard in cache.shards() {
        assert!(shard.volume().unwrap() <= 10_000);
    }
    assert!(cache.volume().unwrap() <= 40_000);

    // reset: the whole cache's limit in, the whole cache's old limit out.
    assert_eq!(
        cache.reset(Setting::SizeLimit(80_000)).unwrap(),
        Setting::SizeLimit(40_000)
    );
    for shard in cache.shards() {
        assert_eq!(shard.settings().size_limit, 20_000);
    }
    assert_eq!(cache.settings().size_limit, 80_000);
    assert_eq!(
        cache
            .reset(Setting::EvictionPolicy(EvictionPolicy::LeastRecentlyUsed))
            .unwrap(),
        Setting::EvictionPolicy(EvictionPolicy::LeastRecentlyStored)
    );
    assert!(
        cache
            .shards()
            .iter()
            .all(|s| s.settings().eviction_policy == EvictionPolicy::LeastRecentlyUsed)
    );
    // Reopened without settings: the shards keep theirs.
    drop(cache);
    let again = FanoutCache::open(dir.path()).unwrap();
    assert_eq!(again.settings().size_limit, 80_000);
    assert_eq!(
        again.settings().eviction_policy,
        EvictionPolicy::LeastRecentlyUsed
    );
}

#[test]
fn named_sub_caches_live_in_their_own_directories() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FanoutCache::builder().shards(2).open(dir.path()).unwrap();
    let stuff = cache.cache("stuff").unwrap();
    assert_eq!(stuff.directory(), dir.path().join("cache").join("stuff"));
    stuff.set("a", 1).unwrap();
    assert!(!cache.contains("a").unwrap());
    assert_eq!(cache.len().unwrap(), 0);
    // The same name is the same cache, now and after reopening.
    assert_eq!(
        cache.cache("stuff").unwrap().get::<i64>("a").unwrap(),
        Some(1)
    );
    let nested = cache.cache("a/b").unwrap();
    assert_eq!(
        nested.directory(),
        dir.path().join("cache").join("a").join("b")
    );

    let deque = cache.deque::<String>("jobs").unwrap();
    assert_eq!(deque.directory(), dir.path().join("deque").join("jobs"));
    assert_eq!(
        deque.cache().settings().eviction_policy,
        EvictionPolicy::None
    );
    let index = cache.index::<String, i64>("users").unwrap();
    assert_eq!(index.directory(), dir.path().join("index").join("users"));
    assert_eq!(
        index.cache().settings().eviction_policy,
        EvictionPolicy::None
    );
    index.insert("ann", &30).unwrap();

    for bad in ["", "..", "../up", "a//b", "a/./b", "/abs"] {
        let result = cache.cache(bad);
        assert!(
            matches!(result, Err(Error::InvalidArgument(_))),
            "{bad:?}: {result:?}"
        );
    }

    drop((stuff, nested, deque, index, cache));
    let again = FanoutCache::open(dir.path()).unwrap();
    assert_eq!(again.shards().len(), 2);
    assert_eq!(
        again.cache("stuff").unwrap().get::<i64>("a").unwrap(),
        Some(1)
    );
    assert_eq!(
        again
            .index::<String, i64>("users")
            .unwrap()
            .get("ann")
            .unwrap(),
        Some(30)
    );
}

#[test]
fn check_reports_each_shard_s_warnings_under_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FanoutCache::builder()
        .shards(4)
        .min_file_size(100)
        .open(dir.path())
        .unwrap();
    fill(&cache, 50);
    let large = key_in_shard(&cache, 2, 0);
    assert!(cache.set(large.as_str(), vec![7u8; 1000]).unwrap());
    assert!(cache.check(false).unwrap().is_empty());

    // Damage: the value file of shard 2 disappears.
    let shard_dir = dir.path().join("002");
    let files = common::files_ending_with(&shard_dir, ".val");
    assert_eq!(files.len(), 1);
    std::fs::remove_file(shard_dir.join(&files[0])).unwrap();

    let warnings: Vec<String> = cache
        .check(false)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].starts_with("002: "), "{warnings:?}");
    assert!(warnings[0].contains("missing"), "{warnings:?}");
    // Without fix, nothing changed.
    assert_eq!(
        cache
            .check(false)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        warnings
    );

    assert_eq!(
        cache
            .check(true)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        warnings
    );
    assert!(cache.check(false).unwrap().is_empty());
    assert!(!cache.contains(large.as_str()).unwrap());
    assert_eq!(cache.len().unwrap(), 50);
}

#[test]
fn the_example_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    let tour = example::tour(dir.path(), &mut out).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(tour.fibonacci.len(), 100);
    assert_eq!(tour.fibonacci[10], 55);
    assert_eq!(tour.fibonacci[99], 218_922_995_834_555_169_026);
    assert!(
        out.contains("fibonacci(100) = 354224848179261915075"),
        "{out}"
    );
    // diskcache's tutorial: print(sum(fibonacci(value) for value in range(100)))
    assert_eq!(
        tour.fibonacci.iter().sum::<u128>(),
        573_147_844_013_817_084_100
    );
    assert_eq!(tour.memoized, 101);
    assert_eq!((tour.before, tour.evicted, tour.left), (20, 10, 10));
    let (busy, took) = tour.busy_write;
    assert!(!busy);
    assert!(took >= Duration::from_millis(40), "{took:?}");
    assert!(tour.other_write);
}

// ----- timeouts: another process holds one shard's write lock ---------------------------------

/// The file whose appearance tells the child to let go.
const RELEASE_VAR: &str = "DISKCACHE_FANOUT_CHILD_RELEASE";
/// The child test that holds a shard's write lock (its directory is the child's directory).
const LOCK_CHILD: &str =
    common::child::role!(a_shard_lock_child_holds_a_shard_s_write_lock_when_started_by_a_parent);
/// The fanout cache's timeout in the test.
const TIMEOUT: Duration = Duration::from_millis(100);

#[test]
#[ignore = "child role: started by its parent test"]
fn a_shard_lock_child_holds_a_shard_s_write_lock_when_started_by_a_parent() {
    let Some((dir, _)) = child_env(LOCK_CHILD) else {
        return;
    };
    let release = PathBuf::from(std::env::var_os(RELEASE_VAR).unwrap());
    let held = common::hold_log_lock(&dir);
    // Where there is no logged write path (macOS, Windows), the shard's writes take redb's
    // writer lock instead: held too.
    let db = (!diskcache::WritePath::Logged.is_available()).then(|| {
        redb::Database::builder()
            .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
            .create(dir.join("cache.redb"))
            .unwrap()
    });
    let txn = db.as_ref().map(|db| db.begin_write().unwrap());
    tell_parent("locked");
    wait_for_file(&release);
    drop(held);
    if let Some(txn) = txn {
        txn.abort().unwrap();
    }
    tell_parent("released");
}

/// Runs `op`, checks that it waited for the timeout before giving up (it cannot give up
/// sooner), and returns its result.
fn timed<T>(what: &str, op: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = op();
    let took = started.elapsed();
    assert!(
        took >= TIMEOUT.mul_f32(0.8),
        "{what} gave up after {took:?}"
    );
    result
}

#[test]
fn writes_to_a_shard_another_process_holds_return_false_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FanoutCache::builder()
        .shards(4)
        .timeout(TIMEOUT)
        .open(dir.path().join("cache"))
        .unwrap();
    let held: Vec<String> = (0..3).map(|n| key_in_shard(&cache, 1, n)).collect();
    let free: Vec<String> = (0..3).map(|n| key_in_shard(&cache, 2, n)).collect();
    for (i, k) in held.iter().chain(&free).enumerate() {
        assert!(cache.set(k.as_str(), i as i64).unwrap());
    }

    let release = dir.path().join("release");
    let mut child = Proc::spawn_with(LOCK_CHILD, &dir.path().join("cache").join("001"), 0, |c| {
        c.env(RELEASE_VAR, &release);
    });
    child.expect("locked");

    let [a, b, c] = [&held[0], &held[1], &held[2]].map(String::as_str);
    assert!(!timed("set", || cache.set(a, 100).unwrap()));
    let fresh = key_in_shard(&cache, 1, 5);
    let opts = SetOptions::default().tag("t");
    assert!(!timed("set_with", || cache
        .set_with(fresh.as_str(), 1, opts)
        .unwrap()));
    let large = vec![3u8; 100_000];
    assert!(!timed("set_reader", || cache
        .set_reader(fresh.as_str(), &large[..], SetOptions::default())
        .unwrap()));
    assert!(!timed("a large set", || cache
        .set(fresh.as_str(), &large)
        .unwrap()));
    // The value files those two wrote before waiting are gone again.
    let held_dir = dir.path().join("cache").join("001");
    assert_eq!(
        common::files_ending_with(&held_dir, ".val"),
        Vec::<PathBuf>::new()
    );
    assert_eq!(
        common::files_ending_with(&held_dir, ".tmp"),
        Vec::<PathBuf>::new()
    );
    assert!(!timed("add", || cache
        .add(fresh.as_str(), 1, SetOptions::default())
        .unwrap()));
    assert!(!timed("touch", || cache.touch(b, None).unwrap()));
    assert!(!timed("delete", || cache.delete(b).unwrap()));
    assert_eq!(timed("incr", || cache.incr(a, 1, Some(0)).unwrap()), None);
    assert_eq!(timed("decr", || cache.decr(a, 1, Some(0)).unwrap()), None);
    assert_eq!(timed("pop", || cache.pop::<i64>(c).unwrap()), None);
    assert_eq!(
        timed("pop_entry", || cache.pop_entry::<i64>(c).unwrap()),
        None
    );
    // The shard itself, a plain Cache, still says Timeout.
    let shard = &cache.shards()[1];
    assert!(matches!(
        timed("the shard's set", || shard.set(a, 100)),
        Err(Error::Timeout)
    ));
    // Reads need no write lock: the held shard's values are all still there, unchanged.
    assert_eq!(cache.get::<i64>(a).unwrap(), Some(0));
    assert_eq!(cache.get::<i64>(b).unwrap(), Some(1));
    assert_eq!(cache.get::<i64>(c).unwrap(), Some(2));
    assert!(cache.contains(c).unwrap());

    // Other shards work meanwhile: their writes succeed (a write that timed out is `false`).
    let counter = key_in_shard(&cache, 3, 0);
    for (i, k) in free.iter().enumerate() {
        assert!(cache.set(k.as_str(), i as i64 + 10).unwrap());
        assert_eq!(
            cache.incr(counter.as_str(), 1, Some(0)).unwrap(),
            Some(Number::Int(i as i64 + 1))
        );
        assert_eq!(cache.get::<i64>(k.as_str()).unwrap(), Some(i as i64 + 10));
    }
    assert!(cache.delete(free[0].as_str()).unwrap());

    std::fs::write(&release, b"").unwrap();
    child.expect("released");
    child.finish();

    // The shard works again.
    assert!(cache.set(a, 100).unwrap());
    assert_eq!(cache.get::<i64>(a).unwrap(), Some(100));
    assert_eq!(cache.incr(a, 1, None).unwrap(), Some(Number::Int(101)));
    assert!(cache.delete(b).unwrap());
    assert_eq!(cache.pop::<i64>(c).unwrap(), Some(2));
    assert!(!cache.contains(fresh.as_str()).unwrap());
    assert!(cache.check(false).unwrap().is_empty());
}

/// Runs `op` in a thread while a child process holds shard 1's write lock of the fanout
/// cache in `dir`, and lets go only after `op` has had time to time out there a few times
/// (`op` may finish sooner only by not waiting for that shard: the callers' assertions then
/// fail); returns what `op` returned.
fn while_shard_1_is_held<T: Send>(
    dir: &std::path::Path,
    round: &str,
    op: impl FnOnce() -> T + Send,
) -> T {
    let release = dir.join(format!("release-{round}"));
    let mut child = Proc::spawn_with(LOCK_CHILD, &dir.join("cache").join("001"), 0, |c| {
        c.env(RELEASE_VAR, &release);
    });
    child.expect("locked");
    let result = std::thread::scope(|s| {
        let running = s.spawn(op);
        std::thread::sleep(TIMEOUT * 4);
        std::fs::write(&release, b"").unwrap();
        running.join().unwrap()
    });
    child.expect("released");
    child.finish();
    result
}

#[test]
fn whole_cache_operations_wait_for_a_held_shard_as_diskcache_s_retry() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FanoutCache::builder()
        .shards(4)
        .timeout(TIMEOUT)
        .open(dir.path().join("cache"))
        .unwrap();
    let tagged = SetOptions::default().tag("t");
    let brief = SetOptions::default().expire(Duration::from_millis(1));
    for shard in 0..4 {
        for n in 0..3 {
            let key = key_in_shard(&cache, shard, n);
            let opts = [tagged.clone(), brief.clone(), SetOptions::default()][n].clone();
            assert!(cache.set_with(key.as_str(), 1, opts).unwrap());
        }
    }
    std::thread::sleep(Duration::from_millis(5)); // the `brief` entries expire
    let dir = dir.path();
    assert_eq!(
        while_shard_1_is_held(dir, "evict", || cache.evict("t")).unwrap(),
        4
    );
    assert_eq!(
        while_shard_1_is_held(dir, "expire", || cache.expire()).unwrap(),
        4
    );
    assert_eq!(
        while_shard_1_is_held(dir, "reset", || cache.reset(Setting::CullLimit(5))).unwrap(),
        Setting::CullLimit(10)
    );
    assert!(cache.shards().iter().all(|s| s.settings().cull_limit == 5));
    let stats = while_shard_1_is_held(dir, "stats", || cache.stats(true, false)).unwrap();
    assert_eq!(stats, diskcache::Stats::default());
    assert_eq!(
        while_shard_1_is_held(dir, "cull", || cache.cull()).unwrap(),
        0
    );
    assert_eq!(
        while_shard_1_is_held(dir, "len", || cache.len()).unwrap(),
        4
    );
    assert_eq!(
        while_shard_1_is_held(dir, "clear", || cache.clear()).unwrap(),
        4
    );
    assert_eq!(cache.len().unwrap(), 0);
    // A shard on its own, a plain Cache, still says Timeout.
    let shard = cache.shards()[1].clone();
    assert!(matches!(
        while_shard_1_is_held(dir, "shard", || shard.clear()),
        Err(Error::Timeout)
    ));
}

#[test]
fn concurrent_first_opens_agree_on_one_shard_count() {
    // Threads (as processes would) create one new fanout cache at once, some with a count,
    // some without. Each open either fails (a count other than the recorded one) or uses
    // the recorded count: no handle may route keys by a count the record does not hold.
    for round in 0..8 {
        let dir = tempfile::tempdir().unwrap();
        let wanted = [None, Some(2), Some(3), None];
        let barrier = std::sync::Barrier::new(wanted.len());
        let opened: Vec<(Option<usize>, Result<usize, String>)> = std::thread::scope(|s| {
            let handles: Vec<_> = wanted
                .iter()
                .map(|&n| {
                    let (dir, barrier) = (dir.path(), &barrier);
                    s.spawn(move || {
                        let mut builder = FanoutCache::builder();
                        if let Some(n) = n {
                            builder = builder.shards(n);
                        }
                        barrier.wait();
                        let result = builder.open(dir);
                        (
                            n,
                            result.map(|c| c.shards().len()).map_err(|e| e.to_string()),
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let record = std::fs::read_to_string(dir.path().join("fanout")).unwrap();
        let recorded: usize = record
            .strip_prefix("diskcache fanout v1\nshards ")
            .and_then(|r| r.strip_suffix('\n'))
            .unwrap()
            .parse()
            .unwrap();
        for (n, result) in &opened {
            match (n, result) {
                (_, Ok(count)) => assert_eq!(*count, recorded, "round {round}: {opened:?}"),
                (Some(n), Err(_)) => assert_ne!(*n, recorded, "round {round}: {opened:?}"),
                (None, Err(e)) => panic!("round {round}: an open without a count failed: {e}"),
            }
        }
        // Nothing left over from the creation.
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.starts_with("fanout."))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

// ----- transact -----------------------------------------------------------------------------

#[test]
fn a_transaction_spans_shards_and_rolls_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FanoutCache::builder()
        .shards(4)
        .min_file_size(1024)
        .open(dir.path())
        .unwrap();
    let (a, b) = (key_in_shard(&cache, 0, 0), key_in_shard(&cache, 3, 0));
    cache.set(a.as_str(), 100).unwrap();
    let moved = cache
        .transact(|tx| {
            tx.decr(a.as_str(), 30, None)?;
            tx.incr(b.as_str(), 30, Some(0))?;
            // Reads see the transaction's own writes.
            tx.get::<i64>(b.as_str())
        })
        .unwrap();
    assert_eq!(moved, Some(30));
    assert_eq!(cache.get::<i64>(a.as_str()).unwrap(), Some(70));
    assert_eq!(cache.get::<i64>(b.as_str()).unwrap(), Some(30));

    // An error from the closure changes no shard, and leaves no value file.
    let failed: diskcache::Result<()> = cache.transact(|tx| {
        tx.set(a.as_str(), 0)?;
        tx.set(b.as_str(), &vec![7u8; 10_000][..])?;
        Err(diskcache::Error::InvalidArgument("changed my mind".into()))
    });
    assert!(failed.is_err());
    assert_eq!(cache.get::<i64>(a.as_str()).unwrap(), Some(70));
    assert_eq!(cache.get::<i64>(b.as_str()).unwrap(), Some(30));
    assert!(common::files_ending_with(dir.path(), ".val").is_empty());

    // A write through the cache itself from inside is refused, not a hang.
    let nested = cache.transact(|_| cache.set("inner", 1));
    assert!(
        matches!(nested, Err(diskcache::Error::InvalidArgument(_))),
        "{nested:?}"
    );
    assert!(cache.check(false).unwrap().is_empty());
}

#[test]
fn concurrent_transactions_over_shards_lose_nothing_and_do_not_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FanoutCache::builder().shards(4).open(dir.path()).unwrap();
    let accounts: Vec<String> = (0..4).map(|s| key_in_shard(&cache, s, 0)).collect();
    for account in &accounts {
        cache.set(account.as_str(), 1000).unwrap();
    }
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let (cache, accounts) = (cache.clone(), accounts.clone());
            std::thread::spawn(move || {
                for i in 0..100 {
                    let from = &accounts[(t + i) % 4];
                    let to = &accounts[(t + 2 * i + 1) % 4];
                    cache
                        .transact(|tx| {
                            tx.decr(from.as_str(), 1, None)?;
                            tx.incr(to.as_str(), 1, None)
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let total: i64 = accounts
        .iter()
        .map(|a| cache.get::<i64>(a.as_str()).unwrap().unwrap())
        .sum();
    assert_eq!(total, 4000);
}
