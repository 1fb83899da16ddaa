//! Sleeping on a 32-bit word of shared memory until another process changes it: the logged
//! write path's lock (`lock.rs`) sleeps on its wake word while the lock is taken.
//!
//! Linux: a shared futex (`FUTEX_WAIT` / `FUTEX_WAKE` on the mapped word, through rustix's
//! safe wrappers). Elsewhere there is
//! no wait across processes that this crate uses, and the logged path, its only user, is
//! refused ([`super::check_write_path`]); the portable form sleeps for the timeout it is given
//! (the lock's waiters give at most 2 ms) and a wake-up does nothing, which the callers'
//! loops, built for spurious and missed wake-ups, accept.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// Sleeps while `word` still holds `seen`, for at most `timeout`. May return early.
pub(crate) fn wait(word: &AtomicU32, seen: u32, timeout: Duration) {
    imp::wait(word, seen, timeout);
}

/// Wakes up to `count` sleepers waiting on `word`.
pub(crate) fn wake(word: &AtomicU32, count: i32) {
    imp::wake(word, count);
}

#[cfg(target_os = "linux")]
mod imp {
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    use rustix::thread::futex::{self, Flags, Timespec};

    /// `FUTEX_WAIT`, shared (no `FUTEX_PRIVATE_FLAG`: other processes map the same word).
    /// Spurious wake-ups and errors (`EAGAIN` when the value already changed, `EINTR`,
    /// `ETIMEDOUT`) just return to the caller's loop.
    pub(super) fn wait(word: &AtomicU32, seen: u32, timeout: Duration) {
        let ts = Timespec {
            // At most 2^31 - 1 s (68 years).
            tv_sec: timeout.as_secs().min(i32::MAX as u64).cast_signed(),
            // Below 10^9, which fits `tv_nsec` (`i64`, or `c_long` through libc).
            tv_nsec: timeout.subsec_nanos() as _,
        };
        let _ = futex::wait(word, Flags::empty(), seen, Some(&ts));
    }

    /// `FUTEX_WAKE`, shared; a negative `count` wakes nobody.
    pub(super) fn wake(word: &AtomicU32, count: i32) {
        let count = u32::try_from(count).unwrap_or(0);
        let _ = futex::wake(word, Flags::empty(), count);
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    /// Sleeps for `timeout` unless the word has changed already.
    pub(super) fn wait(word: &AtomicU32, seen: u32, timeout: Duration) {
        if word.load(Ordering::Acquire) == seen {
            std::thread::sleep(timeout);
        }
    }

    /// Nothing to wake: sleepers wake up at their timeout.
    pub(super) fn wake(_word: &AtomicU32, _count: i32) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn a_changed_word_does_not_sleep_and_an_unchanged_one_times_out() {
        let word = AtomicU32::new(5);
        // A wait that slept its timeout here would hold the test up for an hour.
        wait(&word, 4, Duration::from_secs(3600));
        wait(&word, 5, Duration::from_millis(1));
        word.store(6, Ordering::Release);
        wake(&word, 1);
    }
}
