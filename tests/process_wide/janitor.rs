//! The janitor, the process's one background thread: every cache and shard a process opens
//! shares it, it sleeps while they are idle, and once woken it still does its work in time
//! (here: writing the reads noted for least-recently-used eviction).
//!
//! Negative controls (`src/testing/sabotage.rs`): `janitor-per-store` makes the thread count fail,
//! `janitor-polls` the sleep.

use crate::common;

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use diskcache::{Cache, EvictionPolicy, WritePath};

/// The tests watch process-wide state: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How long an idle janitor may take to fall asleep before the test gives up: its rounds are
/// 10 ms apart, and it sleeps after the first that finds nothing to do.
const FALL_ASLEEP: Duration = Duration::from_secs(10);

/// A stretch with no round at all counts as asleep.
const QUIET: Duration = Duration::from_millis(300);

fn paths() -> Vec<WritePath> {
    [WritePath::Logged, WritePath::Direct]
        .into_iter()
        .filter(|path| path.is_available())
        .collect()
}

/// Waits until the janitor runs no round for [`QUIET`]; fails after [`FALL_ASLEEP`].
fn wait_until_asleep() {
    let started = Instant::now();
    loop {
        let before = diskcache::janitor::rounds();
        std::thread::sleep(QUIET);
        if diskcache::janitor::rounds() == before {
            return;
        }
        assert!(
            started.elapsed() < FALL_ASLEEP,
            "the janitor still ran rounds after {FALL_ASLEEP:?} of idle caches"
        );
    }
}

/// The janitor thread's name.
#[cfg(target_os = "linux")]
const JANITOR: &str = "diskcache-janitor";

/// The threads of this process named [`JANITOR`].
#[cfg(target_os = "linux")]
fn janitor_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter(|task| {
            let comm = task.as_ref().unwrap().path().join("comm");
            // Linux keeps the first 15 bytes of a thread's name.
            std::fs::read_to_string(comm).is_ok_and(|name| name.trim() == &JANITOR[..15])
        })
        .count()
}

#[cfg(target_os = "linux")]
#[test]
fn every_cache_and_shard_of_a_process_shares_one_janitor_thread() {
    let _alone = common::alone::take();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let fanout = diskcache::FanoutCache::builder()
        .shards(8)
        .open(dir.path().join("fanout"))
        .unwrap();
    let caches: Vec<Cache> = paths()
        .into_iter()
        .map(|path| {
            Cache::builder()
                .write_path(path)
                .open(dir.path().join(format!("{path:?}")))
                .unwrap()
        })
        .collect();
    for i in 0..64 {
        fanout.set(i, i).unwrap();
        assert_eq!(fanout.get::<i64>(i).unwrap(), Some(i));
    }
    for cache in &caches {
        cache.set("k", 1).unwrap();
        assert_eq!(cache.get::<i64>("k").unwrap(), Some(1));
    }
    assert_eq!(
        janitor_threads(),
        1,
        "8 shards and {} caches must share one janitor thread",
        caches.len()
    );
}

#[test]
fn the_janitor_sleeps_while_the_caches_are_idle_and_a_read_wakes_it_to_write_what_was_read() {
    let _alone = common::alone::take();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    for path in paths() {
        let dir = tempfile::tempdir().unwrap();
        let open = || {
            Cache::builder()
                .write_path(path)
                .eviction_policy(EvictionPolicy::LeastRecentlyUsed)
                .size_limit(100 * 1024)
                .open(dir.path())
                .unwrap()
        };
        let (writer, reader) = (open(), open());
        // 90 entries of this size fit the limit, 130 do not (as in tests/api/eviction.rs).
        let value = vec![7u8; 892];
        for k in 0..90 {
            writer.set(k, &value).unwrap();
        }
        assert_eq!(
            reader.get::<Vec<u8>>(0).unwrap().as_deref(),
            Some(&value[..])
        );
        wait_until_asleep();

        // A read wakes it: the reads are noted in memory only, and the janitor writes them.
        let before = diskcache::janitor::rounds();
        for k in 0..45 {
            assert!(reader.get::<Vec<u8>>(k).unwrap().is_some());
        }
        wait_until_asleep();
        assert!(
            diskcache::janitor::rounds() > before,
            "{path:?}: reads did not wake the janitor"
        );
        // Only the janitor can have written the reads: `reader` made no write.
        for k in 90..130 {
            writer.set(k, &value).unwrap();
        }
        let kept: Vec<i64> = (0..130).filter(|k| writer.contains(*k).unwrap()).collect();
        assert!(
            (0..45).all(|k| kept.contains(&k)),
            "{path:?}: keys read while the janitor slept were culled: {kept:?}"
        );
        assert!(
            !kept.contains(&45),
            "{path:?}: nothing was culled: {kept:?}"
        );
    }
}
