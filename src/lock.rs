//! The write lock of the logged write path: an owner word in `cache.shm`, taken with a
//! compare-and-swap (no system call when free), waited on with a futex, and freed from a dead
//! owner by checking its presence lock on `cache.lock`.
//!
//! Each open overlay picks a random token and holds an OFD write lock on the byte of
//! `cache.lock` at offset `token` for its whole life. The kernel drops that lock when the
//! process dies, so "the owner word holds `t` and nobody holds byte `t`" means the owner died:
//! a waiter may then swap its own token in and recover. Tokens are random, so a reused pid
//! cannot look alive. Threads of one process are queued by an in-process gate first.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::files::ofd_lock;
use crate::gate::{GateGuard, WriteGate};
use crate::shm::{Shm, Word};

/// File name of the lock file inside a cache directory.
pub(crate) const LOCK_FILE: &str = "cache.lock";
/// Tokens are below this, so that `token` is a valid byte offset for a lock.
const TOKEN_LIMIT: u64 = 1 << 62;
/// How long a waiter waits between checks that the owner is alive.
const LIVENESS_PERIOD: Duration = Duration::from_millis(2);

/// The cross-process write lock.
#[derive(Debug)]
pub(crate) struct WriteLock {
    /// `cache.lock`, holding this instance's presence lock on byte `token`.
    file: File,
    token: u64,
    gate: WriteGate,
}

/// Holds the write lock; dropping it frees the owner word, then the gate.
pub(crate) struct LockGuard<'a> {
    shm: &'a Shm,
    _gate: GateGuard<'a>,
}

impl WriteLock {
    /// The descriptor of `cache.lock`, which carries the presence lock.
    pub(crate) fn fd(&self) -> std::os::fd::RawFd {
        self.file.as_raw_fd()
    }

    /// Opens (creating if needed) `cache.lock` in `dir` and takes this instance's presence
    /// lock on a fresh random token.
    pub(crate) fn open(dir: &Path) -> Result<WriteLock> {
        let file = crate::files::open_shared(&dir.join(LOCK_FILE))?;
        for _ in 0..16 {
            let token = random_token();
            if ofd_lock(&file, token, libc::F_WRLCK, libc::F_OFD_SETLK)? {
                return Ok(WriteLock {
                    file,
                    token,
                    gate: WriteGate::default(),
                });
            }
        }
        Err(Error::Io(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "no free presence token on cache.lock after 16 tries",
        )))
    }

    /// Takes the lock, waiting until `deadline` at most ([`Error::Timeout`] then).
    ///
    /// A free lock costs one compare-and-swap. A taken one is spun on briefly (holders are
    /// usually done within microseconds), then slept on with a futex; every 2 ms of waiting
    /// the owner's presence byte is checked, and a dead owner's lock is taken over.
    pub(crate) fn lock<'a>(&'a self, shm: &'a Shm, deadline: Instant) -> Result<LockGuard<'a>> {
        let gate = self.gate.enter(deadline)?;
        let owner = shm.word(Word::LockOwner);
        let mut spins = 0u32;
        let mut checked = Instant::now();
        loop {
            let taken = owner.compare_exchange(0, self.token, Ordering::Acquire, Ordering::Acquire);
            let current = match taken {
                Ok(_) => {
                    return Ok(LockGuard { shm, _gate: gate });
                }
                Err(current) => current,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            // Check the owner every 2 ms of waiting, and once more before giving up (so a
            // caller that does not wait, like the janitor, still frees a dead owner's lock).
            if checked.elapsed() >= LIVENESS_PERIOD || left.is_zero() {
                checked = Instant::now();
                let stolen = !self.alive(current)?
                    && owner
                        .compare_exchange(current, self.token, Ordering::Acquire, Ordering::Acquire)
                        .is_ok();
                if stolen {
                    // Taken over from a dead owner; its `dirty` mark makes the caller recover.
                    return Ok(LockGuard { shm, _gate: gate });
                }
            }
            if left.is_zero() {
                return Err(Error::Timeout);
            }
            if spins < 100 {
                spins += 1;
                if spins.is_multiple_of(10) {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
                continue;
            }
            self.sleep_while_owned(shm, left.min(LIVENESS_PERIOD));
        }
    }

    /// Sleeps on the wake word until a release (or `timeout`), if the lock is still owned.
    fn sleep_while_owned(&self, shm: &Shm, timeout: Duration) {
        let waiters = shm.word(Word::LockWaiters);
        let wake = shm.wake_word();
        waiters.fetch_add(1, Ordering::AcqRel);
        let seen = wake.load(Ordering::Acquire);
        if shm.word(Word::LockOwner).load(Ordering::Acquire) != 0 {
            futex_wait(wake, seen, timeout);
        }
        waiters.fetch_sub(1, Ordering::AcqRel);
    }

    /// Whether the instance holding `token` is alive: someone holds its presence byte.
    fn alive(&self, token: u64) -> Result<bool> {
        if token == self.token {
            return Ok(true);
        }
        Ok(!ofd_lock(
            &self.file,
            token,
            libc::F_WRLCK,
            libc::F_OFD_GETLK,
        )?)
    }
}

impl LockGuard<'_> {
    /// Frees the owner word and wakes one sleeping waiter, if any.
    fn release(&self) {
        self.shm.word(Word::LockOwner).store(0, Ordering::Release);
        if self.shm.word(Word::LockWaiters).load(Ordering::Acquire) > 0 {
            let wake = self.shm.wake_word();
            wake.fetch_add(1, Ordering::AcqRel);
            futex_wake(wake);
        }
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.release();
    }
}

/// A random token in `1..TOKEN_LIMIT`.
fn random_token() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u64(crate::time::now_us());
    (h.finish() % (TOKEN_LIMIT - 1)) + 1
}

/// Sleeps while `word` still holds `seen`, for at most `timeout` (a shared futex: other
/// processes map the same word).
fn futex_wait(word: &AtomicU32, seen: u32, timeout: Duration) {
    let ts = libc::timespec {
        // At most 2^31 - 1 s (68 years), which fits every `time_t` (not named here: musl's
        // libc deprecates the alias).
        tv_sec: timeout
            .as_secs()
            .min(i32::MAX as u64)
            .try_into()
            .unwrap_or_default(),
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: `word` is a live, aligned 32-bit atomic inside the shared mapping; FUTEX_WAIT
    // only reads it and `ts` outlives the call. Spurious wake-ups and errors (EAGAIN when
    // the value already changed, EINTR, ETIMEDOUT) just return to the caller's loop.
    #[allow(unsafe_code)]
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            seen,
            &ts as *const libc::timespec,
        );
    }
}

/// Wakes one waiter sleeping on `word`.
fn futex_wake(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned 32-bit atomic inside the shared mapping; FUTEX_WAKE
    // does not access memory through the pointer beyond identifying the futex.
    #[allow(unsafe_code)]
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_instance_waits_then_times_out_and_gets_it_once_freed() {
        let dir = tempfile::tempdir().unwrap();
        let shm = Shm::open(dir.path()).unwrap();
        let a = WriteLock::open(dir.path()).unwrap();
        let b = WriteLock::open(dir.path()).unwrap();
        let held = a.lock(&shm, Instant::now()).unwrap();
        let soon = Instant::now() + Duration::from_millis(30);
        assert!(matches!(b.lock(&shm, soon), Err(Error::Timeout)));
        drop(held);
        assert!(
            b.lock(&shm, Instant::now() + Duration::from_secs(5))
                .is_ok()
        );
    }

    #[test]
    fn a_dead_owner_is_detected_by_its_free_presence_byte() {
        let dir = tempfile::tempdir().unwrap();
        let shm = Shm::open(dir.path()).unwrap();
        let b = WriteLock::open(dir.path()).unwrap();
        // An owner token whose presence byte nobody holds: as if its process died.
        shm.word(Word::LockOwner).store(12345, Ordering::Release);
        let got = b.lock(&shm, Instant::now() + Duration::from_secs(5));
        assert!(got.is_ok());
        assert_eq!(shm.word(Word::LockOwner).load(Ordering::Acquire), b.token);
    }

    #[test]
    fn a_live_owner_in_another_instance_is_not_robbed() {
        let dir = tempfile::tempdir().unwrap();
        let shm = Shm::open(dir.path()).unwrap();
        let a = WriteLock::open(dir.path()).unwrap();
        let b = WriteLock::open(dir.path()).unwrap();
        let _held = a.lock(&shm, Instant::now()).unwrap();
        let soon = Instant::now() + Duration::from_millis(20);
        assert!(matches!(b.lock(&shm, soon), Err(Error::Timeout)));
        assert_eq!(shm.word(Word::LockOwner).load(Ordering::Acquire), a.token);
    }
}
