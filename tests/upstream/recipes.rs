//! python-diskcache v5.6.3 `tests/test_recipes.py`: 5 Python tests, all 5 ported here.
//!
//! Python's lock tests sleep 0.1 s and then assert that the worker thread has got exactly as
//! far as the lock lets it; here the worker says when it has started (a channel), so that no
//! assertion depends on how fast a thread runs, and the sleep only gives a broken lock the
//! chance to let the worker through. `test_memoize_stampede` calls for 1 s; 0.3 s here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use diskcache::{Averager, BoundedSemaphore, Cache, Lock, MemoOptions, RLock};

use crate::sleep_ms;

type R = diskcache::Result<()>;

/// The `cache` fixture.
fn cache() -> (tempfile::TempDir, Cache) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    (dir, cache)
}

// test_averager
#[test]
fn averager() -> R {
    let (_dir, cache) = cache();
    let nums = Averager::new(&cache, "nums");
    for i in 0..10 {
        nums.add(f64::from(i))?;
    }
    assert_eq!(nums.get()?, Some(4.5));
    assert_eq!(nums.pop()?, Some(4.5));
    for i in 0..20 {
        nums.add(f64::from(i))?;
    }
    assert_eq!(nums.get()?, Some(9.5));
    assert_eq!(nums.pop()?, Some(9.5));
    Ok(())
}

/// Runs Python's lock-test shape: `hold` takes the lock in this thread; a worker counts
/// once, then takes the lock (with `take`) and counts again; while this thread holds the
/// lock the count stays at 1; once released, the worker finishes and it is 2.
fn lock_test<G>(hold: impl FnOnce() -> G, take: impl Fn() + Send + Sync) {
    let num = AtomicU64::new(0);
    let (started, wait_started) = mpsc::channel();
    std::thread::scope(|s| {
        let guard = hold();
        let worker = s.spawn(|| {
            num.fetch_add(1, Ordering::SeqCst);
            started.send(()).unwrap();
            take();
            num.fetch_add(1, Ordering::SeqCst);
        });
        wait_started.recv().unwrap();
        sleep_ms(100);
        assert_eq!(num.load(Ordering::SeqCst), 1);
        drop(guard);
        worker.join().unwrap();
    });
    assert_eq!(num.load(Ordering::SeqCst), 2);
}

// test_lock
#[test]
fn lock() {
    let (_dir, cache) = cache();
    let lock = Lock::new(&cache, "demo");
    lock_test(
        || lock.acquire().unwrap(),
        || {
            let _guard = lock.acquire().unwrap();
            assert!(lock.locked().unwrap());
            sleep_ms(100);
        },
    );
}

// test_rlock
#[test]
fn rlock() {
    let (_dir, cache) = cache();
    let rlock = RLock::new(&cache, "demo");
    lock_test(
        || rlock.acquire().unwrap(),
        || {
            let _outer = rlock.acquire().unwrap();
            let _inner = rlock.acquire().unwrap();
            sleep_ms(100);
        },
    );
}

// test_semaphore
#[test]
fn semaphore() -> R {
    let (_dir, cache) = cache();
    let semaphore = BoundedSemaphore::new(&cache, "demo", 3)?;
    let first = semaphore.acquire()?;
    let second = semaphore.acquire()?;
    lock_test(
        || semaphore.acquire().unwrap(),
        || {
            let _permit = semaphore.acquire().unwrap();
            sleep_ms(100);
        },
    );
    first.release()?;
    second.release()?;
    assert_eq!(semaphore.available()?, 3);
    Ok(())
}

// test_memoize_stampede (`memoize_stampede(cache, 0.1)`: an expire of 0.1 s and beta 1)
#[test]
fn memoize_stampede() -> R {
    let (_dir, cache) = cache();
    let num = AtomicU64::new(0);
    let worker = cache.memoize(
        "worker",
        MemoOptions::default()
            .expire(Duration::from_millis(100))
            .beta(1.0),
        |n: &i64| {
            sleep_ms(10);
            num.fetch_add(1, Ordering::SeqCst);
            *n
        },
    );
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(300) {
        assert_eq!(worker.call(&100)?, 100);
    }
    assert!(num.load(Ordering::SeqCst) > 0);
    Ok(())
}
