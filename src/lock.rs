//! The write lock of the logged write path: `cache.lock` locked with `flock` (per open file
//! description, so the kernel releases it when its holder dies), plus an in-process gate,
//! since the threads of one process share the file description and `flock` does not exclude
//! them from each other.

use std::fs::{File, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::txn::{GateGuard, WriteGate};

/// File name of the lock file inside a cache directory.
pub(crate) const LOCK_FILE: &str = "cache.lock";

/// The cross-process write lock.
#[derive(Debug)]
pub(crate) struct WriteLock {
    file: File,
    gate: WriteGate,
}

/// Holds the write lock; dropping it releases the file lock, then the gate.
pub(crate) struct LockGuard<'a> {
    lock: &'a WriteLock,
    _gate: GateGuard<'a>,
}

impl WriteLock {
    /// Opens (creating if needed) `cache.lock` in `dir`.
    pub(crate) fn open(dir: &Path) -> Result<WriteLock> {
        let file = crate::files::open_shared(&dir.join(LOCK_FILE))?;
        Ok(WriteLock {
            file,
            gate: WriteGate::default(),
        })
    }

    /// Takes the lock, waiting until `deadline` at most ([`Error::Timeout`] then).
    ///
    /// A contended lock is polled: a few yields first (the holder is usually done within
    /// microseconds), then sleeps that double from 20 µs to 1 ms.
    pub(crate) fn lock(&self, deadline: Instant) -> Result<LockGuard<'_>> {
        let gate = self.gate.enter(deadline)?;
        let mut pause = Duration::from_micros(20);
        let mut spins = 0u32;
        loop {
            match self.file.try_lock() {
                Ok(()) => {
                    return Ok(LockGuard {
                        lock: self,
                        _gate: gate,
                    });
                }
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return Err(e.into()),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout);
            }
            if spins < 64 {
                spins += 1;
                std::thread::yield_now();
            } else {
                std::thread::sleep(pause.min(left));
                pause = (pause * 2).min(Duration::from_millis(1));
            }
        }
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // An unlock that fails leaves the lock to the kernel, which drops it with the file.
        let _ = self.lock.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_file_description_waits_then_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let a = WriteLock::open(dir.path()).unwrap();
        let b = WriteLock::open(dir.path()).unwrap();
        let held = a.lock(Instant::now()).unwrap();
        let soon = Instant::now() + Duration::from_millis(30);
        assert!(matches!(b.lock(soon), Err(Error::Timeout)));
        drop(held);
        assert!(b.lock(Instant::now() + Duration::from_secs(5)).is_ok());
    }
}
