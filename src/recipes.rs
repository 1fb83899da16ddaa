//! Recipes for coordinating threads and processes through a cache, after diskcache's
//! `recipes.py`: [`Lock`], [`RLock`], [`BoundedSemaphore`], [`Throttle`], [`barrier`] and
//! [`Averager`].
//!
//! Each recipe keeps its state in one key of a [`Cache`](crate::Cache) and changes it
//! atomically (`add`, or a [`transact`](crate::Cache::transact)), so it works the same between
//! threads of one process and between processes that open the same directory. A recipe holds
//! a clone of the cache handle (cheap: clones share one open database) and its key; recipes of
//! the same key made by different threads or processes are the same lock, semaphore or
//! throttle.
//!
//! Waiting is a spin on the key with a short sleep (1 ms, as in diskcache): each `acquire`
//! has an `acquire_timeout` twin that gives up with [`crate::Error::Timeout`], and a
//! `try_acquire` that does not wait. Holding is a guard that releases when dropped.
//!
//! The keys must not be evicted while in use: give the cache a size limit it will not reach,
//! or the eviction policy [`crate::EvictionPolicy::None`]. With a [`crate::FanoutCache`], make
//! recipes on one of its named caches, `fanout.cache("locks")?`, so that every process finds
//! them in the same place.

mod averager;
mod lock;
mod rlock;
mod semaphore;
mod throttle;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use averager::Averager;
pub use lock::{Lock, LockGuard, barrier};
pub use rlock::{RLock, RLockGuard};
pub use semaphore::{BoundedSemaphore, SemaphoreGuard};
pub use throttle::Throttle;

use crate::error::{Error, Result};

/// How long a waiting recipe sleeps between two tries (diskcache's recipes sleep 1 ms).
const SPIN: Duration = Duration::from_millis(1);

/// Calls `attempt` until it returns a value, sleeping [`SPIN`] between calls. With a
/// `timeout`, gives up with [`Error::Timeout`] once it has passed (after at least one try).
fn wait_for<T>(
    timeout: Option<Duration>,
    mut attempt: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = timeout.map(crate::time::deadline);
    loop {
        if let Some(value) = attempt()? {
            return Ok(value);
        }
        let pause = match deadline {
            None => SPIN,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Error::Timeout);
                }
                left.min(SPIN)
            }
        };
        std::thread::sleep(pause);
    }
}

/// This thread's owner name, `"<process id>-<thread number>"`: what an [`RLock`] records as
/// its holder. Thread numbers are given out from 1 in the order threads first ask.
fn owner() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static THREAD: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    format!("{}-{}", std::process::id(), THREAD.with(|n| *n))
}

/// A name no other acquisition uses, in any process: this thread's [`owner`] and a number
/// counted per process. What a [`Lock`] stores, so only its holder's guard deletes it.
fn token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{}-{}", owner(), NEXT.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_differ_between_threads_and_tokens_between_calls() {
        let here = owner();
        assert_eq!(here, owner());
        let there = std::thread::spawn(owner).join().unwrap();
        assert_ne!(here, there);
        assert_ne!(token(), token());
    }

    #[test]
    fn wait_for_gives_up_with_timeout() {
        let r: Result<()> = wait_for(Some(Duration::from_millis(5)), || Ok(None));
        assert!(matches!(r, Err(Error::Timeout)));
        let mut tries = 0;
        let r = wait_for(Some(Duration::ZERO), || {
            tries += 1;
            Ok(Some(tries))
        });
        assert_eq!(r.unwrap(), 1);
    }
}
