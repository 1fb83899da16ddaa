//! Guards that the recipes (`Lock`, `RLock`, `BoundedSemaphore`, `Throttle`, `barrier`,
//! `Averager`) coordinate real processes: a lock lets one holder in at a time (no lost update
//! in a read-then-write), a semaphore of two never lets a third in, a throttle shared by two
//! processes keeps its rate, a re-entrant lock belongs to one thread of one process, a lease
//! that runs out frees its lock, waits give up with `Error::Timeout`, and an average that
//! several processes add to loses nothing.
//!
//! The other processes are real: each parent test re-runs this test binary
//! (`tests/common/child.rs`: `--exact <child test> --include-ignored`) with environment
//! variables naming the child's role, cache directory and id. A child test is `#[ignore]`d, so
//! the normal run lists it as ignored, and does its work only when those variables name it.
//! Children talk to their parent on stdout, one message per line after a `@@` marker.
//!
//! The negative control `lock-not-exclusive` (`src/testing/sabotage.rs`: a `Lock` that does not
//! exclude) must make the lock, barrier, timeout and fanout tests fail:
//! `scripts/negative_controls.sh lock-not-exclusive`.

use crate::common;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::child::{PATIENCE, Proc, child_env, tell_parent, wait_for_file};
use diskcache::{
    Averager, BoundedSemaphore, Cache, Error, FanoutCache, Lock, RLock, Throttle, barrier,
};

/// The file a parent creates to let its waiting children start at once.
const GO_FILE: &str = "go";

// ----- plumbing -----------------------------------------------------------------------------

/// In a child: opens the cache, tells the parent, and waits for the go signal.
fn open_and_wait_for_go(dir: &Path) -> Cache {
    let cache = Cache::open(dir).unwrap();
    tell_parent("ready");
    wait_for_file(&dir.join(GO_FILE));
    cache
}

/// Starts `n` children of `role` on `dir`, waits until each has opened the cache, and lets
/// them all go at once. The go file holds the time it was written, in microseconds since the
/// Unix epoch (written whole, then renamed into place).
fn start_together(role: &str, dir: &Path, n: usize) -> Vec<Proc> {
    let mut procs: Vec<Proc> = (0..n).map(|id| Proc::spawn(role, dir, id)).collect();
    for p in &mut procs {
        p.expect("ready");
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let temp = dir.join("go.tmp");
    std::fs::write(&temp, now.as_micros().to_string()).unwrap();
    std::fs::rename(temp, dir.join(GO_FILE)).unwrap();
    procs
}

/// In a child, after the go signal: when the parent gave it.
fn go_time(dir: &Path) -> SystemTime {
    let us: u64 = std::fs::read_to_string(dir.join(GO_FILE))
        .unwrap()
        .parse()
        .unwrap();
    UNIX_EPOCH + Duration::from_micros(us)
}

/// Each child's reply to `word`, parsed as numbers, and the children finished.
fn collect_numbers(procs: Vec<Proc>, word: &str) -> Vec<Vec<i64>> {
    procs
        .into_iter()
        .map(|mut p| {
            let reply = p.expect(word);
            p.finish();
            reply
                .split_whitespace()
                .map(|v| v.parse().unwrap())
                .collect()
        })
        .collect()
}

// ----- Lock: four processes, read-then-write under the lock ---------------------------------

const LOCK_CHILD: &str =
    common::child::role!(a_lock_child_counts_under_the_lock_when_started_by_a_parent);
const LOCK_PROCESSES: usize = 4;
const LOCK_ROUNDS: i64 = 50;

/// Child of [`four_processes_counting_under_a_lock_lose_no_update`]: [`LOCK_ROUNDS`] times,
/// takes the lock, reads `count`, writes it back plus one, releases; reports what it read.
/// Without a parent (the role is ignored in the normal run) it returns at once.
#[test]
#[ignore = "child role: started by its parent test"]
fn a_lock_child_counts_under_the_lock_when_started_by_a_parent() {
    let Some((dir, _)) = child_env(LOCK_CHILD) else {
        return;
    };
    let cache = open_and_wait_for_go(&dir);
    let lock = Lock::new(&cache, "lock");
    let mut read = Vec::new();
    for _ in 0..LOCK_ROUNDS {
        let guard = lock.acquire().unwrap();
        let count = cache.get::<i64>("count").unwrap().unwrap_or(0);
        // Widens the window between the read and the write: without the lock, another
        // process nearly always reads the same value meanwhile.
        std::thread::sleep(Duration::from_micros(200));
        cache.set("count", count + 1).unwrap();
        // Whether the lock was still this guard's is checked by the parent's count.
        guard.release().unwrap();
        read.push(count.to_string());
        // A holder that asks again at once nearly always beats the waiters, who sleep 1 ms
        // between tries; a pause lets them take turns.
        std::thread::sleep(Duration::from_millis(2));
    }
    tell_parent(&format!("read {}", read.join(" ")));
}

#[test]
fn four_processes_counting_under_a_lock_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let procs = start_together(LOCK_CHILD, dir.path(), LOCK_PROCESSES);
    let reads = collect_numbers(procs, "read");
    let total = LOCK_PROCESSES as i64 * LOCK_ROUNDS;

    assert_eq!(cache.get::<i64>("count").unwrap(), Some(total));
    // Every holder read a different value: 0 to total - 1, once each.
    let interleaved = reads.iter().any(|r| r.windows(2).any(|w| w[1] != w[0] + 1));
    let mut all: Vec<i64> = reads.into_iter().flatten().collect();
    all.sort_unstable();
    assert_eq!(all, (0..total).collect::<Vec<_>>());
    assert!(
        interleaved,
        "the processes never took turns: the test proved nothing"
    );
    assert!(!Lock::new(&cache, "lock").locked().unwrap());
}

// ----- BoundedSemaphore: never three holders ------------------------------------------------

const SEMAPHORE_CHILD: &str =
    common::child::role!(a_semaphore_child_holds_permits_when_started_by_a_parent);
const SEMAPHORE_PROCESSES: usize = 4;
const SEMAPHORE_ROUNDS: usize = 25;

/// Child of [`a_bounded_semaphore_of_two_never_admits_three_processes`]: takes a permit
/// [`SEMAPHORE_ROUNDS`] times, counting itself in `holders` while it holds it, and reports the
/// most holders it saw. Without a parent (the role is ignored in the normal run) it returns at
/// once.
#[test]
#[ignore = "child role: started by its parent test"]
fn a_semaphore_child_holds_permits_when_started_by_a_parent() {
    let Some((dir, _)) = child_env(SEMAPHORE_CHILD) else {
        return;
    };
    let cache = open_and_wait_for_go(&dir);
    let semaphore = BoundedSemaphore::new(&cache, "semaphore", 2).unwrap();
    let mut most = 0;
    for _ in 0..SEMAPHORE_ROUNDS {
        let permit = semaphore.acquire().unwrap();
        most = most.max(cache.incr("holders", 1, Some(0)).unwrap().as_i64().unwrap());
        // Holds the permit a while, so that holders overlap.
        std::thread::sleep(Duration::from_millis(2));
        cache.decr("holders", 1, None).unwrap();
        permit.release().unwrap();
        // Lets the waiters, who sleep 1 ms between tries, take turns with this process.
        std::thread::sleep(Duration::from_millis(1));
    }
    tell_parent(&format!("most {most}"));
}

#[test]
fn a_bounded_semaphore_of_two_never_admits_three_processes() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let procs = start_together(SEMAPHORE_CHILD, dir.path(), SEMAPHORE_PROCESSES);
    let most = collect_numbers(procs, "most")
        .into_iter()
        .flatten()
        .max()
        .unwrap();

    assert!(most <= 2, "{most} processes held a permit at once");
    assert_eq!(
        most, 2,
        "two holders never overlapped: the test proved nothing"
    );
    assert_eq!(cache.get::<i64>("holders").unwrap(), Some(0));
    let semaphore = BoundedSemaphore::new(&cache, "semaphore", 2).unwrap();
    assert_eq!(semaphore.available().unwrap(), 2);
}

// ----- Throttle: two processes share one rate -----------------------------------------------

const THROTTLE_CHILD: &str =
    common::child::role!(a_throttle_child_calls_for_four_seconds_when_started_by_a_parent);
const THROTTLE_PROCESSES: usize = 2;
/// How long the children call through the throttle before they count: long enough to empty
/// the bucket (its first burst, and what it gathered while they started), so that the count
/// measures the steady rate.
const THROTTLE_WARM_UP: Duration = Duration::from_secs(1);
/// How long the children count the calls they make, after the warm-up.
const THROTTLE_WINDOW: Duration = Duration::from_secs(3);

fn ten_per_second(cache: &Cache) -> Throttle {
    Throttle::new(cache, "throttle", 10, Duration::from_secs(1)).unwrap()
}

/// Child of [`two_processes_sharing_a_throttle_of_ten_per_second_make_ten_calls_a_second`]:
/// calls through the throttle as fast as it lets it, and reports how many calls returned in the
/// window of [`THROTTLE_WINDOW`] that begins [`THROTTLE_WARM_UP`] after the go signal (a window
/// on the system clock, so the same for both children). Without a parent (the role is ignored
/// in the normal run) it returns at once.
#[test]
#[ignore = "child role: started by its parent test"]
fn a_throttle_child_calls_for_four_seconds_when_started_by_a_parent() {
    let Some((dir, _)) = child_env(THROTTLE_CHILD) else {
        return;
    };
    let cache = open_and_wait_for_go(&dir);
    let from = go_time(&dir) + THROTTLE_WARM_UP;
    let to = from + THROTTLE_WINDOW;
    let throttle = ten_per_second(&cache);
    let mut calls = 0;
    loop {
        throttle.acquire().unwrap();
        let now = SystemTime::now();
        if now >= to {
            break;
        }
        if now >= from {
            calls += 1;
        }
    }
    tell_parent(&format!("calls {calls}"));
}

/// The one timed assertion of this file, since a throttle's rate is what it promises: 10 ± 1
/// calls a second, over the calls both processes make in `THROTTLE_WINDOW`.
#[test]
fn two_processes_sharing_a_throttle_of_ten_per_second_make_ten_calls_a_second() {
    let dir = tempfile::tempdir().unwrap();
    Cache::open(dir.path()).unwrap();
    let procs = start_together(THROTTLE_CHILD, dir.path(), THROTTLE_PROCESSES);
    let counts: Vec<i64> = collect_numbers(procs, "calls")
        .into_iter()
        .flatten()
        .collect();
    let total: i64 = counts.iter().sum();

    let seconds = THROTTLE_WINDOW.as_secs() as i64;
    eprintln!("throttle: {THROTTLE_PROCESSES} processes made {counts:?} calls in {seconds} s");
    assert!(
        (9 * seconds..=11 * seconds).contains(&total),
        "{total} calls in {seconds} s: not 10 ± 1 a second"
    );
    assert!(
        counts.iter().all(|&c| c > 0),
        "one process made every call: the throttle was not shared"
    );
}

// ----- RLock: one thread of one process -----------------------------------------------------

const RLOCK_CHILD: &str =
    common::child::role!(an_rlock_child_tries_the_parents_lock_when_started_by_a_parent);

/// Child of [`an_rlock_is_reentrant_and_only_its_holder_can_release_it`]: tries to take and to
/// release the lock its parent holds, and reports what happened. Without a parent (the role is
/// ignored in the normal run) it returns at once.
#[test]
#[ignore = "child role: started by its parent test"]
fn an_rlock_child_tries_the_parents_lock_when_started_by_a_parent() {
    let Some((dir, _)) = child_env(RLOCK_CHILD) else {
        return;
    };
    let cache = Cache::open(dir).unwrap();
    let rlock = RLock::new(&cache, "rlock");
    let taken = rlock.try_acquire().unwrap().is_some();
    let refused = matches!(rlock.release(), Err(Error::InvalidArgument(_)));
    tell_parent(&format!(
        "taken {} refused {}",
        taken as i64, refused as i64
    ));
}

#[test]
fn an_rlock_is_reentrant_and_only_its_holder_can_release_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let rlock = RLock::new(&cache, "rlock");

    let outer = rlock.acquire().unwrap();
    let inner = rlock
        .try_acquire()
        .unwrap()
        .expect("its holder takes it again");
    // Another thread of this process neither takes nor releases it.
    std::thread::scope(|s| {
        s.spawn(|| {
            assert!(rlock.try_acquire().unwrap().is_none());
            assert!(matches!(rlock.release(), Err(Error::InvalidArgument(_))));
        });
    });
    // Nor does another process (whose thread may have the same number as this one).
    let mut child = Proc::spawn(RLOCK_CHILD, dir.path(), 0);
    assert_eq!(child.expect("taken"), "0 refused 1");
    child.finish();

    drop(inner);
    assert!(rlock.locked().unwrap(), "one hold is left");
    outer.release().unwrap();
    assert!(!rlock.locked().unwrap());
    let err = rlock.release().unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)));
    assert!(err.to_string().contains("does not hold"), "{err}");
}

// ----- Lock leases and timeouts -------------------------------------------------------------

const LEASE_CHILD: &str = common::child::role!(
    a_lease_child_takes_the_lock_and_waits_to_be_killed_when_started_by_a_parent
);

/// Child of [`a_lock_lease_that_runs_out_frees_the_lock_of_a_killed_holder`]: takes the lock
/// with a short lease, says so, and waits to be killed without releasing it. Without a parent
/// (the role is ignored in the normal run) it returns at once.
#[test]
#[ignore = "child role: started by its parent test"]
fn a_lease_child_takes_the_lock_and_waits_to_be_killed_when_started_by_a_parent() {
    let Some((dir, _)) = child_env(LEASE_CHILD) else {
        return;
    };
    let cache = Cache::open(dir).unwrap();
    let lock = Lock::new(&cache, "job").expire(Duration::from_millis(300));
    let _guard = lock.acquire().unwrap();
    tell_parent("held");
    std::thread::sleep(PATIENCE);
}

#[test]
fn a_lock_lease_that_runs_out_frees_the_lock_of_a_killed_holder() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let mut holder = Proc::spawn(LEASE_CHILD, dir.path(), 0);
    holder.expect("held");
    // Killed (SIGKILL) while holding the lock: only the lease can free it.
    holder.kill();
    let lock = Lock::new(&cache, "job");
    let guard = lock.acquire_timeout(PATIENCE).unwrap();
    assert!(guard.release().unwrap());
}

#[test]
fn a_guard_whose_lease_ran_out_leaves_the_next_holders_lock_alone() {
    let dir = tempfile::tempdir().unwrap();
    let first = Cache::open(dir.path()).unwrap();
    let second = Cache::open(dir.path()).unwrap();
    let lease = Lock::new(&first, "job").expire(Duration::from_millis(200));
    let other = Lock::new(&second, "job");

    let overstayed = lease.acquire().unwrap();
    // The holder does not release in time; the lease frees the lock for the next acquirer.
    let taken = other.acquire_timeout(PATIENCE).unwrap();
    // The first guard no longer owns the lock, so it leaves the new holder's alone.
    assert!(!overstayed.release().unwrap());
    assert!(other.locked().unwrap());
    assert!(taken.release().unwrap());
    assert!(!other.locked().unwrap());
}

#[test]
fn waiting_past_a_timeout_returns_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let short = Duration::from_millis(20);

    let lock = Lock::new(&cache, "lock");
    let _held = lock.acquire().unwrap();
    assert!(matches!(lock.acquire_timeout(short), Err(Error::Timeout)));
    assert!(lock.try_acquire().unwrap().is_none());

    let semaphore = BoundedSemaphore::new(&cache, "semaphore", 1).unwrap();
    let _permit = semaphore.acquire().unwrap();
    assert!(matches!(
        semaphore.acquire_timeout(short),
        Err(Error::Timeout)
    ));

    let rlock = RLock::new(&cache, "rlock");
    let _hold = rlock.acquire().unwrap();
    std::thread::scope(|s| {
        s.spawn(|| assert!(matches!(rlock.acquire_timeout(short), Err(Error::Timeout))));
    });

    let throttle = Throttle::new(&cache, "throttle", 1, Duration::from_secs(3600)).unwrap();
    throttle.acquire_timeout(short).unwrap();
    assert!(matches!(
        throttle.acquire_timeout(short),
        Err(Error::Timeout)
    ));
    // A wait too long for the clock is a timeout too, not an overflow.
    let glacial = Throttle::new(&cache, "glacial", 1, Duration::MAX).unwrap();
    assert!(glacial.try_acquire().unwrap());
    assert!(matches!(
        glacial.acquire_timeout(short),
        Err(Error::Timeout)
    ));
    assert!(matches!(
        lock.acquire_timeout(Duration::ZERO),
        Err(Error::Timeout)
    ));
}

// ----- Averager -----------------------------------------------------------------------------

const AVERAGER_CHILD: &str =
    common::child::role!(an_averager_child_adds_values_when_started_by_a_parent);
const AVERAGER_PROCESSES: usize = 4;
const AVERAGER_VALUES: usize = 50;

/// Child of [`four_processes_adding_to_one_average_lose_no_value`]: adds 1 to
/// [`AVERAGER_VALUES`] to the average. Without a parent (the role is ignored in the normal run)
/// it returns at once.
#[test]
#[ignore = "child role: started by its parent test"]
fn an_averager_child_adds_values_when_started_by_a_parent() {
    let Some((dir, _)) = child_env(AVERAGER_CHILD) else {
        return;
    };
    let cache = open_and_wait_for_go(&dir);
    let average = Averager::new(&cache, "latency");
    for v in 1..=AVERAGER_VALUES {
        average.add(v as f64).unwrap();
    }
    tell_parent("done 1");
}

#[test]
fn four_processes_adding_to_one_average_lose_no_value() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let procs = start_together(AVERAGER_CHILD, dir.path(), AVERAGER_PROCESSES);
    collect_numbers(procs, "done");

    // The documented state: (total, count).
    let (total, count) = cache.get::<(f64, u64)>("latency").unwrap().unwrap();
    let n = AVERAGER_VALUES as f64;
    assert_eq!(count, (AVERAGER_PROCESSES * AVERAGER_VALUES) as u64);
    assert_eq!(total, AVERAGER_PROCESSES as f64 * n * (n + 1.0) / 2.0);
    let average = Averager::new(&cache, "latency");
    assert_eq!(average.pop().unwrap(), Some((n + 1.0) / 2.0));
    assert_eq!(average.get().unwrap(), None);
}

// ----- barrier, semaphore bounds, arguments, fanout -----------------------------------------

#[test]
fn barrier_runs_one_caller_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..10 {
                    barrier(&cache, "barrier", || {
                        let n = cache.get::<i64>("n").unwrap().unwrap_or(0);
                        std::thread::yield_now();
                        cache.set("n", n + 1).unwrap();
                    })
                    .unwrap();
                }
            });
        }
    });
    assert_eq!(cache.get::<i64>("n").unwrap(), Some(40));
    assert!(!Lock::new(&cache, "barrier").locked().unwrap());
}

#[test]
fn a_semaphore_refuses_more_releases_than_acquires() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let semaphore = BoundedSemaphore::new(&cache, "s", 2).unwrap();
    assert!(matches!(
        semaphore.release(),
        Err(Error::InvalidArgument(_))
    ));
    let permit = semaphore.acquire().unwrap();
    assert_eq!(semaphore.available().unwrap(), 1);
    permit.release().unwrap();
    assert!(matches!(
        semaphore.release(),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(semaphore.available().unwrap(), 2);
    assert_eq!(semaphore.run(|| 7).unwrap(), 7);
}

#[test]
fn zero_permits_or_a_zero_rate_are_invalid_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    assert!(matches!(
        BoundedSemaphore::new(&cache, "s", 0),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        Throttle::new(&cache, "t", 0, Duration::from_secs(1)),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        Throttle::new(&cache, "t", 1, Duration::ZERO),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn recipes_work_on_a_named_cache_of_a_fanout_cache() {
    let dir = tempfile::tempdir().unwrap();
    let fanout = FanoutCache::open(dir.path()).unwrap();
    let locks = fanout.cache("locks").unwrap();
    let lock = Lock::new(&locks, "job").tag("locks");
    let guard = lock.acquire().unwrap();
    // Another handle on the same named cache sees the lock.
    let again = FanoutCache::open(dir.path())
        .unwrap()
        .cache("locks")
        .unwrap();
    assert!(Lock::new(&again, "job").try_acquire().unwrap().is_none());
    drop(guard);
    assert!(Lock::new(&again, "job").try_acquire().unwrap().is_some());
}
