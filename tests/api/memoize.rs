//! `memoize` on `Cache` and `FanoutCache`, after diskcache's `memoize` and
//! `memoize_stampede`: results stored under `(name, args)`, `typed`, `ignore`, `expire`, `tag`,
//! `cache_key` (delete it to forget one result), results that fail to serialize, one
//! computation for many threads missing the same key at once, and early recomputation with
//! `beta`.
//!
//! Early recomputation is probabilistic. Two tests make it deterministic by their `beta`: an
//! infinite one decides to recompute on every call before expiry (so exactly one caller, the
//! one that claims the recomputation, computes while the others return the old result), a
//! vanishing one never does before expiry. A third runs the real `beta = 1` decision with
//! many calls and checks only what holds whichever call triggers it: exactly one early
//! recomputation, no caller but that one waits, and no caller ever finds the result
//! missing. The chance that no call triggers it is below e^-20 (see the test).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use diskcache::{Cache, Error, FanoutCache, MemoOptions, Memoized};
use serde::{Deserialize, Serialize, Serializer};

/// A cache of either kind.
enum Target {
    Plain(Cache),
    Fanout(FanoutCache),
}

impl Target {
    /// Both kinds, in `dir`.
    fn both(dir: &std::path::Path) -> [Target; 2] {
        [
            Target::Plain(Cache::open(dir.join("plain")).unwrap()),
            Target::Fanout(
                FanoutCache::builder()
                    .shards(4)
                    .open(dir.join("fanout"))
                    .unwrap(),
            ),
        ]
    }

    fn memoize<A, R, F>(&self, name: &str, opts: MemoOptions, f: F) -> Memoized<A, R, F>
    where
        A: Serialize + ?Sized,
        R: Serialize + serde::de::DeserializeOwned,
        F: Fn(&A) -> R,
    {
        match self {
            Target::Plain(c) => c.memoize(name, opts, f),
            Target::Fanout(c) => c.memoize(name, opts, f),
        }
    }

    fn len(&self) -> u64 {
        match self {
            Target::Plain(c) => c.len().unwrap(),
            Target::Fanout(c) => c.len().unwrap(),
        }
    }

    fn delete(&self, key: diskcache::Key) -> bool {
        match self {
            Target::Plain(c) => c.delete(key).unwrap(),
            Target::Fanout(c) => c.delete(key).unwrap(),
        }
    }

    fn evict(&self, tag: &str) -> u64 {
        match self {
            Target::Plain(c) => c.evict(tag).unwrap(),
            Target::Fanout(c) => c.evict(tag).unwrap(),
        }
    }

    fn get<V: serde::de::DeserializeOwned>(&self, key: diskcache::Key) -> Option<V> {
        match self {
            Target::Plain(c) => c.get(key).unwrap(),
            Target::Fanout(c) => c.get(key).unwrap(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Target::Plain(_) => "Cache",
            Target::Fanout(_) => "FanoutCache",
        }
    }
}

/// A counter of how many times a function ran.
#[derive(Default)]
struct Calls(AtomicUsize);

impl Calls {
    /// Counts one call and returns how many there have been, this one included.
    fn count(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

#[test]
fn results_are_stored_under_the_cache_key_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    for target in Target::both(dir.path()) {
        let calls = Calls::default();
        let square = target.memoize("square", MemoOptions::default(), |x: &i64| {
            calls.count();
            x * x
        });
        assert_eq!(square.call(&12).unwrap(), 144);
        assert_eq!(square.call(&12).unwrap(), 144);
        assert_eq!(square.call(&3).unwrap(), 9);
        assert_eq!(calls.get(), 2, "{}", target.name());
        assert_eq!(target.len(), 2);

        // The result is in the cache under cache_key, as diskcache's __cache_key__.
        let key = square.cache_key(&12).unwrap();
        assert_eq!(target.get::<i64>(key.clone()), Some(144));
        // Deleting it forgets that result alone.
        assert!(target.delete(key));
        assert_eq!(square.call(&12).unwrap(), 144);
        assert_eq!(square.call(&3).unwrap(), 9);
        assert_eq!(calls.get(), 3, "{}", target.name());

        // Another name is another function.
        let other = target.memoize("cube", MemoOptions::default(), |x: &i64| x * x * x);
        assert_ne!(
            other.cache_key(&12).unwrap(),
            square.cache_key(&12).unwrap()
        );
        assert_eq!(other.call(&12).unwrap(), 1728);
    }
}

#[test]
fn memoized_results_count_as_hits_as_in_diskcache_s_test_memoize() {
    fn fibiter(n: u64) -> u128 {
        let (mut a, mut b) = (0u128, 1u128);
        for _ in 0..n {
            (a, b) = (b, a + b);
        }
        a
    }
    fn fibrec(memo: &diskcache::Memo<u64, u128>, n: u64) -> diskcache::Result<u128> {
        memo.get_or_compute(&n, |&n| {
            Ok(if n < 2 {
                u128::from(n)
            } else {
                fibrec(memo, n - 1)? + fibrec(memo, n - 2)?
            })
        })
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = FanoutCache::open(dir.path()).unwrap();
    let memo = cache.memo::<u64, u128>("fib", MemoOptions::default());
    const COUNT: u64 = 180; // fibonacci(186) is the last that fits in a u128
    cache.stats(true, false).unwrap();
    for n in 0..COUNT {
        assert_eq!(fibrec(&memo, n).unwrap(), fibiter(n));
    }
    let (hits1, misses1): (u64, u64) = cache.stats(true, false).unwrap().into();
    for n in 0..COUNT {
        assert_eq!(fibrec(&memo, n).unwrap(), fibiter(n));
    }
    let (hits2, misses2): (u64, u64) = cache.stats(true, false).unwrap().into();
    assert_eq!(hits2, hits1 + COUNT);
    assert_eq!(misses2, misses1);
}

#[test]
fn typed_tells_argument_types_apart() {
    let dir = tempfile::tempdir().unwrap();
    for target in Target::both(dir.path()) {
        for typed in [false, true] {
            let name = format!("double-{typed}");
            let opts = MemoOptions::default().typed(typed);
            let calls = Calls::default();
            let as_u8 = target.memoize(&name, opts.clone(), |x: &u8| {
                calls.count();
                i64::from(*x) * 2
            });
            let as_i64 = target.memoize(&name, opts.clone(), |x: &i64| {
                calls.count();
                x * 2
            });
            let as_f64 = target.memoize(&name, opts, |x: &f64| {
                calls.count();
                (x * 2.0) as i64
            });
            assert_eq!(as_u8.call(&1).unwrap(), 2);
            assert_eq!(as_i64.call(&1).unwrap(), 2);
            assert_eq!(as_f64.call(&1.0).unwrap(), 2);
            let keys = [
                as_u8.cache_key(&1).unwrap(),
                as_i64.cache_key(&1).unwrap(),
                as_f64.cache_key(&1.0).unwrap(),
            ];
            if typed {
                // 1u8, 1i64 and 1.0 are three results.
                assert_eq!(calls.get(), 3, "{}", target.name());
                assert!(keys[0] != keys[1] && keys[1] != keys[2] && keys[0] != keys[2]);
            } else {
                // The same key (an integral float is the integer): one result.
                assert_eq!(calls.get(), 1, "{}", target.name());
                assert!(keys[0] == keys[1] && keys[1] == keys[2]);
            }
            // Another value of the same type is another result either way.
            assert_eq!(as_u8.call(&2).unwrap(), 4);
        }
    }
}

#[test]
fn ignore_leaves_positions_out_of_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for target in Target::both(dir.path()) {
        let calls = Calls::default();
        // (a, verbose, b): the middle item does not change the result, so it is ignored.
        let add = target.memoize(
            "add",
            MemoOptions::default().ignore([1]),
            |(a, _verbose, b): &(i64, String, i64)| {
                calls.count();
                a + b
            },
        );
        assert_eq!(add.call(&(1, "yes".into(), 2)).unwrap(), 3);
        assert_eq!(add.call(&(1, "no".into(), 2)).unwrap(), 3);
        assert_eq!(calls.get(), 1, "{}", target.name());
        assert_eq!(
            add.cache_key(&(1, "yes".into(), 2)).unwrap(),
            add.cache_key(&(1, "no".into(), 2)).unwrap()
        );
        // The other positions still count.
        assert_eq!(add.call(&(1, "yes".into(), 3)).unwrap(), 4);
        assert_eq!(add.call(&(2, "yes".into(), 2)).unwrap(), 4);
        assert_eq!(calls.get(), 3, "{}", target.name());

        // Without ignore, the middle item is part of the key.
        let strict = target.memoize(
            "add-strict",
            MemoOptions::default(),
            |(a, _v, b): &(i64, String, i64)| a + b,
        );
        assert_ne!(
            strict.cache_key(&(1, "yes".into(), 2)).unwrap(),
            strict.cache_key(&(1, "no".into(), 2)).unwrap()
        );

        // A value that is not a tuple is one item, at 0: ignoring it leaves one result for all.
        let constant = target.memoize("constant", MemoOptions::default().ignore([0]), |x: &i64| {
            calls.count();
            *x
        });
        assert_eq!(constant.call(&5).unwrap(), 5);
        assert_eq!(constant.call(&6).unwrap(), 5);
        assert_eq!(calls.get(), 4, "{}", target.name());
    }
}

#[test]
fn results_expire_and_a_zero_expire_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for target in Target::both(dir.path()) {
        let calls = Calls::default();
        let opts = MemoOptions::default().expire(Duration::from_millis(200));
        let f = target.memoize("expiring", opts, |x: &i64| calls.count() as i64 * 100 + x);
        assert_eq!(f.call(&1).unwrap(), 101);
        assert_eq!(f.call(&1).unwrap(), 101);
        std::thread::sleep(Duration::from_millis(300));
        // Expired: computed again.
        assert_eq!(f.call(&1).unwrap(), 201);
        assert_eq!(f.call(&1).unwrap(), 201);
        assert_eq!(calls.get(), 2, "{}", target.name());

        // expire=0: diskcache computes every time and stores nothing.
        let before = target.len();
        let never = target.memoize(
            "never",
            MemoOptions::default().expire(Duration::ZERO),
            |x: &i64| {
                calls.count();
                *x
            },
        );
        assert_eq!(never.call(&1).unwrap(), 1);
        assert_eq!(never.call(&1).unwrap(), 1);
        assert_eq!(calls.get(), 4, "{}", target.name());
        assert_eq!(target.len(), before);
    }
}

#[test]
fn a_tag_lets_evict_drop_a_function_s_results() {
    let dir = tempfile::tempdir().unwrap();
    for target in Target::both(dir.path()) {
        let calls = Calls::default();
        let tagged = target.memoize(
            "tagged",
            MemoOptions::default().tag("results"),
            |x: &i64| {
                calls.count();
                x + 1
            },
        );
        let untagged = target.memoize("untagged", MemoOptions::default(), |x: &i64| {
            calls.count();
            x - 1
        });
        for x in 0..10 {
            tagged.call(&x).unwrap();
            untagged.call(&x).unwrap();
        }
        assert_eq!(calls.get(), 20);
        assert_eq!(target.evict("results"), 10, "{}", target.name());
        assert_eq!(target.len(), 10);
        for x in 0..10 {
            assert_eq!(tagged.call(&x).unwrap(), x + 1);
            assert_eq!(untagged.call(&x).unwrap(), x - 1);
        }
        // The tagged results were computed again, the others not.
        assert_eq!(calls.get(), 30, "{}", target.name());
    }
}

/// A result type that refuses to serialize.
#[derive(Debug, Deserialize)]
struct Unserializable(#[allow(dead_code, reason = "only ever compared")] i64);

impl Serialize for Unserializable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this type refuses to serialize"))
    }
}

#[test]
fn a_result_or_arguments_that_fail_to_serialize_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for target in Target::both(dir.path()) {
        for opts in [
            MemoOptions::default(),
            MemoOptions::default()
                .expire(Duration::from_secs(60))
                .beta(1.0),
        ] {
            let f = target.memoize("unserializable", opts, |x: &i64| Unserializable(*x));
            let result = f.call(&1);
            assert!(
                matches!(result, Err(Error::Codec(_))),
                "{}: {result:?}",
                target.name()
            );
            assert_eq!(target.len(), 0);
        }

        let calls = Calls::default();
        let g = target.memoize("bad-args", MemoOptions::default(), |x: &Unserializable| {
            calls.count();
            x.0
        });
        assert!(g.call(&Unserializable(1)).is_err());
        assert!(g.cache_key(&Unserializable(1)).is_err());
        // A NaN is not a key.
        let h = target.memoize("nan", MemoOptions::default(), |x: &f64| *x);
        assert!(matches!(h.call(&f64::NAN), Err(Error::InvalidArgument(_))));
        assert_eq!(calls.get(), 0);
    }
}

#[test]
fn threads_missing_the_same_key_at_once_compute_it_once() {
    const THREADS: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    for target in Target::both(dir.path()) {
        let calls = Calls::default();
        let slow = target.memoize("slow", MemoOptions::default(), |x: &i64| {
            let n = calls.count();
            std::thread::sleep(Duration::from_millis(100));
            x * 1000 + n as i64
        });
        let barrier = Barrier::new(THREADS);
        let results: Vec<i64> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        slow.call(&7).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(calls.get(), 1, "{}: {results:?}", target.name());
        assert!(results.iter().all(|&r| r == 7001), "{results:?}");
    }
}

#[test]
fn threads_missing_different_keys_compute_at_the_same_time() {
    const THREADS: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    for target in Target::both(dir.path()) {
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let slow = target.memoize("slow-distinct", MemoOptions::default(), |x: &i64| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(100));
            running.fetch_sub(1, Ordering::SeqCst);
            *x
        });
        let barrier = Barrier::new(THREADS);
        std::thread::scope(|s| {
            for i in 0..THREADS as i64 {
                let (slow, barrier) = (&slow, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    assert_eq!(slow.call(&i).unwrap(), i);
                });
            }
        });
        // The per-key gate does not serialize computations of different keys.
        assert!(most.load(Ordering::SeqCst) >= 2, "{}", target.name());
    }
}

/// One memoized call's outcome, in the early-recomputation tests.
#[derive(Clone, Copy, Debug)]
struct Outcome {
    /// When it started, from the first result's store.
    at: Duration,
    took: Duration,
    /// The generation of the result it returned (1 = the first computation).
    generation: usize,
}

#[test]
fn with_an_infinite_beta_exactly_one_caller_recomputes_and_the_others_keep_the_old_result() {
    const THREADS: usize = 8;
    const COMPUTE: Duration = Duration::from_millis(200);
    let dir = tempfile::tempdir().unwrap();
    for target in Target::both(dir.path()) {
        let calls = Calls::default();
        // beta = ∞: every call before expiry finds -took·β·ln(u) = ∞ ≥ ttl, so wants to
        // recompute early; the claim marker lets one of them.
        let opts = MemoOptions::default()
            .expire(Duration::from_secs(5))
            .beta(f64::INFINITY);
        let f = target.memoize("early", opts, |_: &i64| {
            let n = calls.count();
            std::thread::sleep(COMPUTE);
            n
        });
        assert_eq!(f.call(&0).unwrap(), 1);
        let start = Instant::now();
        let barrier = Barrier::new(THREADS);
        let outcomes: Vec<Outcome> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        let at = start.elapsed();
                        let generation = f.call(&0).unwrap();
                        Outcome {
                            at,
                            took: start.elapsed() - at,
                            generation,
                        }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(calls.get(), 2, "{}: {outcomes:?}", target.name());
        let (recomputer, others): (Vec<Outcome>, Vec<Outcome>) =
            outcomes.iter().partition(|o| o.generation == 2);
        assert_eq!(recomputer.len(), 1, "{outcomes:?}");
        assert!(recomputer[0].took >= COMPUTE, "{outcomes:?}");
        // The others did not wait for it.
        assert!(
            others
                .iter()
                .all(|o| o.generation == 1 && o.took < COMPUTE / 2),
            "{outcomes:?}"
        );
        // The recomputed result is stored (and the claim still stands: no third computation).
        assert_eq!(f.call(&0).unwrap(), 2);
        assert_eq!(calls.get(), 2);
    }
}

#[test]
fn with_a_vanishing_beta_nothing_is_recomputed_before_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FanoutCache::open(dir.path()).unwrap();
    let calls = Calls::default();
    const EXPIRE: Duration = Duration::from_millis(400);
    // beta = 1e-9 with a 20 ms computation: -took·β·ln(u) ≤ 0.02·1e-9·38 < 1 ns for every
    // u ≥ 2^-54, so a call recomputes only once the result has expired.
    let opts = MemoOptions::default().expire(EXPIRE).beta(1e-9);
    let f = cache.memoize("late", opts, |_: &i64| {
        let n = calls.count();
        std::thread::sleep(Duration::from_millis(20));
        n
    });
    assert_eq!(f.call(&0).unwrap(), 1);
    let stored = Instant::now();
    while stored.elapsed() < EXPIRE.mul_f32(0.75) {
        assert_eq!(f.call(&0).unwrap(), 1);
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(calls.get(), 1);
    std::thread::sleep(EXPIRE.mul_f32(0.5));
    assert_eq!(f.call(&0).unwrap(), 2);
    assert_eq!(calls.get(), 2);
}

#[test]
fn with_beta_one_many_calls_near_expiry_trigger_one_early_recomputation() {
    // The result lives EXPIRE and takes COMPUTE; WORKERS threads call every PAUSE until
    // ttl = STOP. A call at time-to-live ttl recomputes early with probability
    // exp(-ttl / (COMPUTE · β)), here exp(-4·ttl/s): 0.02 at ttl = 1 s, 0.14 at 0.5 s. Over
    // the last 0.5 s alone there are about 400 calls, so the chance that none triggers is
    // below e^-20; whichever does, its claim (which lives EXPIRE) keeps every later call from
    // recomputing again before the loop ends. Its recomputation ends by ttl = STOP − COMPUTE,
    // 250 ms before expiry, so no call finds the result missing.
    const EXPIRE: Duration = Duration::from_secs(2);
    const COMPUTE: Duration = Duration::from_millis(250);
    const STOP: Duration = Duration::from_millis(500);
    const WORKERS: usize = 4;
    const PAUSE: Duration = Duration::from_millis(5);
    let dir = tempfile::tempdir().unwrap();
    let cache = FanoutCache::builder().shards(2).open(dir.path()).unwrap();
    let calls = Calls::default();
    let opts = MemoOptions::default().expire(EXPIRE).beta(1.0);
    let f = cache.memoize("stampede", opts, |_: &i64| {
        let n = calls.count();
        std::thread::sleep(COMPUTE);
        n
    });
    assert_eq!(f.call(&0).unwrap(), 1);
    let stored = Instant::now();
    let outcomes = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| {
                while stored.elapsed() < EXPIRE - STOP {
                    let at = stored.elapsed();
                    let generation = f.call(&0).unwrap();
                    let took = stored.elapsed() - at;
                    outcomes.lock().unwrap().push(Outcome {
                        at,
                        took,
                        generation,
                    });
                    std::thread::sleep(PAUSE);
                }
            });
        }
    });
    let outcomes = outcomes.into_inner().unwrap();
    let slow: Vec<&Outcome> = outcomes.iter().filter(|o| o.took >= COMPUTE).collect();
    assert_eq!(
        calls.get(),
        2,
        "{} calls; slow ones: {slow:?}",
        outcomes.len()
    );
    // One caller recomputed; every other call returned at once, the old result or the new.
    assert_eq!(slow.len(), 1, "{slow:?}");
    assert_eq!(slow[0].generation, 2);
    assert!(
        outcomes
            .iter()
            .all(|o| o.generation == 1 || o.generation == 2)
    );
    let first_new = outcomes
        .iter()
        .filter(|o| o.generation == 2)
        .map(|o| o.at)
        .min()
        .unwrap();
    assert_eq!(
        first_new, slow[0].at,
        "the recomputer returned the new result first"
    );
    assert!(
        outcomes
            .iter()
            .any(|o| o.generation == 1 && o.at > first_new)
    );
}

/// The write paths this platform has.
fn write_paths() -> Vec<diskcache::WritePath> {
    [diskcache::WritePath::Logged, diskcache::WritePath::Direct]
        .into_iter()
        .filter(|p| p.is_available())
        .collect()
}

/// Every kind of cache on every write path this platform has, in `dir`.
fn every_target(dir: &std::path::Path) -> Vec<Target> {
    let mut targets = Vec::new();
    for (i, path) in write_paths().into_iter().enumerate() {
        let plain = Cache::builder()
            .write_path(path)
            .open(dir.join(format!("plain{i}")))
            .unwrap();
        let fanout = FanoutCache::builder()
            .shards(4)
            .write_path(path)
            .open(dir.join(format!("fanout{i}")))
            .unwrap();
        targets.extend([Target::Plain(plain), Target::Fanout(fanout)]);
    }
    targets
}

impl Target {
    /// The (hits, misses) counted so far; turns counting on.
    fn stats(&self) -> (u64, u64) {
        match self {
            Target::Plain(c) => c.stats(true, false).unwrap().into(),
            Target::Fanout(c) => c.stats(true, false).unwrap().into(),
        }
    }
}

#[test]
fn a_memoized_call_counts_one_miss_or_one_hit_as_diskcache_s_one_get() {
    let dir = tempfile::tempdir().unwrap();
    for target in every_target(dir.path()) {
        for (name, opts) in [
            ("plain", MemoOptions::default()),
            (
                "stampede",
                MemoOptions::default()
                    .expire(Duration::from_secs(600))
                    .beta(1e-12),
            ),
        ] {
            let calls = Calls::default();
            let f = target.memoize(name, opts, |n: &i64| {
                calls.count();
                n * 2
            });
            assert_eq!(target.stats(), (0, 0), "{}", target.name());
            let label = format!("{} {name}", target.name());
            assert_eq!(f.call(&1).unwrap(), 2);
            assert_eq!(target.stats(), (0, 1), "{label}: a miss");
            assert_eq!(f.call(&1).unwrap(), 2);
            assert_eq!(target.stats(), (1, 1), "{label}: a hit");
            assert_eq!(f.call(&2).unwrap(), 4);
            assert_eq!(f.call(&2).unwrap(), 4);
            assert_eq!(f.call(&2).unwrap(), 4);
            assert_eq!(target.stats(), (3, 2), "{label}");
            assert_eq!(calls.get(), 2, "{label}");
            match &target {
                Target::Plain(c) => c.stats(true, true).unwrap(),
                Target::Fanout(c) => c.stats(true, true).unwrap(),
            };
        }
    }
}

#[test]
fn get_or_insert_with_counts_one_miss_or_one_hit_per_call() {
    let dir = tempfile::tempdir().unwrap();
    for target in every_target(dir.path()) {
        let label = target.name();
        target.stats();
        let got: i64 = match &target {
            Target::Plain(c) => c.get_or_insert_with("k", || 7).unwrap(),
            Target::Fanout(c) => c.get_or_insert_with("k", || 7).unwrap(),
        };
        assert_eq!(got, 7);
        assert_eq!(target.stats(), (0, 1), "{label}: a miss");
        let got: i64 = match &target {
            Target::Plain(c) => c.get_or_insert_with("k", || 0).unwrap(),
            Target::Fanout(c) => c.get_or_insert_with("k", || 0).unwrap(),
        };
        assert_eq!(got, 7);
        assert_eq!(target.stats(), (1, 1), "{label}: a hit");
    }
}
