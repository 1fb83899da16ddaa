//! Criterion benches of what eviction costs: a `get` hit under each policy (LRU and LFU note
//! the access, least-recently-stored does not), a `set` on a cache at its size limit (so the
//! write culls), and the whole-cache removals — `cull()`, `expire()`, `evict(tag)` — over
//! 100,000 entries.
//!
//! `cargo bench --bench eviction`. The 100k-entry caches are built once each, closed, and
//! copied (a plain file copy) before every timed call, so only the removal itself is timed.

use std::hint::black_box;
use std::ops::RangeInclusive;
use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, Criterion, SamplingMode, criterion_group, criterion_main};
use diskcache::{Cache, CacheBuilder, EvictionPolicy, SetOptions, Setting};

const SMALL: [u8; 100] = [b'x'; 100];
/// Entries of the caches the `get` and `set` benches use.
const PREFILL: u64 = 10_000;
/// Entries the `set_at_limit` cache holds at its size limit.
const AT_LIMIT: u64 = 2_000;
/// Entries of the caches the whole-cache removals work on.
const LARGE: u64 = 100_000;

fn value() -> &'static serde_bytes::Bytes {
    serde_bytes::Bytes::new(&SMALL)
}

fn prefilled(builder: CacheBuilder, n: u64) -> (tempfile::TempDir, Cache) {
    let dir = tempfile::tempdir().unwrap();
    let cache = builder.open(dir.path()).unwrap();
    for i in 0..n {
        cache.set(format!("key-{i}"), value()).unwrap();
    }
    cache.checkpoint().unwrap();
    (dir, cache)
}

const POLICIES: [(&str, EvictionPolicy); 3] = [
    ("lrs", EvictionPolicy::LeastRecentlyStored),
    ("lru", EvictionPolicy::LeastRecentlyUsed),
    ("lfu", EvictionPolicy::LeastFrequentlyUsed),
];

/// A `get` hit on a 10k-entry cache: least-recently-stored is the baseline (nothing to note);
/// LRU and LFU note the access in memory, logged later by the janitor; `lrs_stats` counts the
/// hit in `cache.shm`.
fn get_hit(c: &mut Criterion) {
    let mut g = c.benchmark_group("get_hit");
    let cases = POLICIES
        .iter()
        .map(|&(name, p)| (name, Cache::builder().eviction_policy(p)))
        .chain([(
            "lrs_stats",
            Cache::builder()
                .eviction_policy(EvictionPolicy::LeastRecentlyStored)
                .statistics(true),
        )]);
    for (name, builder) in cases {
        let (_dir, cache) = prefilled(builder, PREFILL);
        let mut i = 0u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % PREFILL;
                black_box(
                    cache
                        .get::<serde_bytes::ByteBuf>(format!("key-{i}"))
                        .unwrap(),
                )
            })
        });
    }
    g.finish();
}

/// A `set` of a new key on a cache filled to its size limit (2,000 entries' volume): the
/// write that takes the volume over the limit culls `cull_limit` entries, so with
/// `cull_limit` 10 one write in ten culls ten (the figure is the average), and with
/// `cull_limit` 1 every write culls one.
fn set_at_limit(c: &mut Criterion) {
    let mut g = c.benchmark_group("set_at_limit");
    for (name, policy) in POLICIES.iter().take(2) {
        for cull_limit in [10, 1] {
            let builder = Cache::builder()
                .eviction_policy(*policy)
                .cull_limit(cull_limit);
            let (_dir, cache) = prefilled(builder, AT_LIMIT);
            cache
                .reset(Setting::SizeLimit(cache.volume().unwrap()))
                .unwrap();
            let mut i = AT_LIMIT;
            g.bench_function(format!("{name}/cull_limit_{cull_limit}"), |b| {
                b.iter(|| {
                    i += 1;
                    cache.set(format!("key-{i}"), value()).unwrap()
                })
            });
            // Writes culled: the cache stayed near its limit (not exactly: keys grow longer,
            // and a write may find no victim it can take).
            let len = cache.len().unwrap();
            assert!(len <= AT_LIMIT * 11 / 10, "{len} entries at the limit");
        }
    }
    g.finish();
}

/// Builds a cache of [`LARGE`] entries in a fresh directory with `builder` and closes it;
/// `opts(i)` gives entry `i`'s options.
fn build_large(builder: CacheBuilder, opts: impl Fn(u64) -> SetOptions) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let cache = builder.cull_limit(0).open(dir.path()).unwrap();
    for i in 0..LARGE {
        cache
            .set_with(format!("key-{i}"), value(), opts(i))
            .unwrap();
    }
    assert_eq!(cache.len().unwrap(), LARGE);
    cache.close().unwrap();
    // Let a janitor tick that may hold the last handle finish before the files are copied.
    std::thread::sleep(Duration::from_millis(100));
    dir
}

/// Copies the closed cache directory `from` into a fresh temporary directory.
fn copy_cache(from: &Path) -> tempfile::TempDir {
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy_dir(from, dir.path());
    dir
}

/// Times `op` on a fresh copy of `template` (opened by `open`, untimed) per iteration; the
/// cache is closed after the clock stops. `op` returns how many entries it removed, which
/// must be in `expect`.
fn removal(
    c: &mut Criterion,
    name: &str,
    template: &Path,
    open: impl Fn(&Path) -> Cache,
    op: impl Fn(&Cache) -> u64,
    expect: RangeInclusive<u64>,
) {
    let mut g = c.benchmark_group("large_100k");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g.bench_function(name, |b| {
        b.iter_batched(
            || {
                let dir = copy_cache(template);
                let cache = open(dir.path());
                (dir, cache)
            },
            |(dir, cache)| {
                let removed = op(&cache);
                assert!(expect.contains(&removed), "{removed} removed");
                (dir, cache)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// `cull()` of 100k entries down to half their volume; `expire()` of 100k expired entries;
/// `evict(tag)` of half of 100k entries, with the tag index and without (a scan).
fn large(c: &mut Criterion) {
    for (name, policy) in POLICIES.iter().take(2) {
        let template = build_large(Cache::builder().eviction_policy(*policy), |_| {
            SetOptions::default()
        });
        removal(
            c,
            &format!("cull_to_half/{name}"),
            template.path(),
            |dir| {
                let cache = Cache::open(dir).unwrap();
                let half = cache.volume().unwrap() / 2;
                cache.reset(Setting::SizeLimit(half)).unwrap();
                cache
            },
            |cache| cache.cull().unwrap(),
            // Keys differ in length, so not exactly half of the entries.
            LARGE * 45 / 100..=LARGE * 55 / 100,
        );
    }

    let template = build_large(Cache::builder(), |_| {
        SetOptions::default().expire(Duration::from_nanos(1))
    });
    removal(
        c,
        "expire_all",
        template.path(),
        |dir| Cache::open(dir).unwrap(),
        |cache| cache.expire().unwrap(),
        LARGE..=LARGE,
    );
    drop(template);

    for index in [true, false] {
        let template = build_large(Cache::builder().tag_index(index), |i| {
            SetOptions::default().tag(format!("t{}", i % 2))
        });
        let name = if index { "index" } else { "scan" };
        removal(
            c,
            &format!("evict_half/{name}"),
            template.path(),
            |dir| Cache::open(dir).unwrap(),
            |cache| cache.evict("t0").unwrap(),
            LARGE / 2..=LARGE / 2,
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = get_hit, set_at_limit, large
}
criterion_main!(benches);
