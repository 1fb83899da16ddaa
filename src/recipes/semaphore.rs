//! [`BoundedSemaphore`]: at most `value` holders at once, in any threads and processes.

use std::time::Duration;

use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::format::key::Key;
use crate::options::{SetOptions, Tag};

/// A semaphore with `value` permits shared by threads and processes, that refuses to be
/// released more times than it was acquired (diskcache's `BoundedSemaphore`).
///
/// Its key holds the number of free permits, changed in a transaction; a missing key means
/// all `value` are free (and the key is deleted when they all are again). Every user of one
/// key must give the same `value`. Waiters spin on it with a 1 ms sleep.
///
/// ```
/// # fn main() -> diskcache::Result<()> {
/// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
/// use diskcache::BoundedSemaphore;
/// let connections = BoundedSemaphore::new(&cache, "max-connections", 2)?;
/// let a = connections.acquire()?;
/// let b = connections.acquire()?;
/// assert!(connections.try_acquire()?.is_none()); // a third must wait
/// drop(a);
/// assert_eq!(connections.available()?, 1);
/// drop(b);
/// assert!(connections.release().is_err()); // never more releases than acquires
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct BoundedSemaphore {
    cache: Cache,
    key: Key,
    value: u32,
    opts: SetOptions,
}

impl BoundedSemaphore {
    /// The semaphore named by `key` in `cache`, with `value` permits.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `value` is 0.
    pub fn new(cache: &Cache, key: impl Into<Key>, value: u32) -> Result<BoundedSemaphore> {
        if value == 0 {
            return Err(Error::InvalidArgument(
                "a semaphore needs at least one permit".into(),
            ));
        }
        Ok(BoundedSemaphore {
            cache: cache.clone(),
            key: key.into(),
            value,
            opts: SetOptions::default(),
        })
    }

    /// Gives the key a time to live of `lease`, renewed by each acquire and release: if
    /// holders die, every permit is free again once it runs out.
    pub fn expire(mut self, lease: Duration) -> BoundedSemaphore {
        self.opts.expire = Some(lease);
        self
    }

    /// Tags the semaphore's key.
    pub fn tag(mut self, tag: impl Into<Tag>) -> BoundedSemaphore {
        self.opts.tag = Some(tag.into());
        self
    }

    /// The key the semaphore lives in.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// How many permits are free now.
    ///
    /// # Errors
    /// [`Error::Codec`] if the key holds something that is not a count; as [`Cache::get`].
    pub fn available(&self) -> Result<u32> {
        Ok(self
            .cache
            .get::<u32>(self.key.clone())?
            .unwrap_or(self.value))
    }

    /// Takes a permit if one is free, without waiting: `None` if all are held.
    ///
    /// # Errors
    /// [`Error::Codec`] if the key holds something that is not a count; as
    /// [`Cache::transact`].
    pub fn try_acquire(&self) -> Result<Option<SemaphoreGuard<'_>>> {
        let taken = self.cache.transact(|tx| {
            let free = tx.get::<u32>(self.key.clone())?.unwrap_or(self.value);
            match free.checked_sub(1) {
                Some(left) => {
                    tx.set_with(self.key.clone(), left, self.opts.clone())?;
                    Ok(true)
                }
                None => Ok(false),
            }
        })?;
        // `then`, not `then_some`: a guard made and dropped would give a permit back.
        Ok(taken.then(|| SemaphoreGuard {
            semaphore: self,
            released: false,
        }))
    }

    /// Takes a permit, waiting as long as it takes.
    ///
    /// # Errors
    /// As [`BoundedSemaphore::try_acquire`].
    pub fn acquire(&self) -> Result<SemaphoreGuard<'_>> {
        super::wait_for(None, || self.try_acquire())
    }

    /// Takes a permit, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`] if none was free when `timeout` passed; as
    /// [`BoundedSemaphore::try_acquire`].
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<SemaphoreGuard<'_>> {
        super::wait_for(Some(timeout), || self.try_acquire())
    }

    /// Gives back one permit (diskcache's `BoundedSemaphore.release`). Guards call it when
    /// dropped; call it yourself only for a permit whose guard you forgot
    /// (`std::mem::forget`), possibly in another process.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if no permit is held (more releases than acquires);
    /// [`Error::Codec`] if the key holds something that is not a count; as
    /// [`Cache::transact`].
    pub fn release(&self) -> Result<()> {
        self.cache.transact(|tx| {
            let free = tx.get::<u32>(self.key.clone())?.unwrap_or(self.value);
            if free >= self.value {
                return Err(Error::InvalidArgument(format!(
                    "cannot release the semaphore {}: all {} permits are already free",
                    self.key, self.value
                )));
            }
            let free = free + 1;
            if free == self.value {
                tx.delete(self.key.clone()).map(|_| ())
            } else {
                tx.set_with(self.key.clone(), free, self.opts.clone())
            }
        })
    }

    /// Runs `f` while holding a permit (waiting for one first), and gives it back after.
    ///
    /// # Errors
    /// As [`BoundedSemaphore::acquire`]; if releasing fails, that error (after `f` has run).
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> Result<T> {
        let guard = self.acquire()?;
        let value = f();
        guard.release()?;
        Ok(value)
    }
}

/// A held permit of a [`BoundedSemaphore`]; dropping it gives the permit back.
///
/// Dropping ignores errors; [`SemaphoreGuard::release`] reports them.
#[derive(Debug)]
#[must_use = "the permit is given back as soon as the guard is dropped"]
pub struct SemaphoreGuard<'a> {
    semaphore: &'a BoundedSemaphore,
    released: bool,
}

impl SemaphoreGuard<'_> {
    /// Gives the permit back now.
    ///
    /// # Errors
    /// As [`BoundedSemaphore::release`].
    pub fn release(mut self) -> Result<()> {
        self.released = true;
        self.semaphore.release()
    }
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        if !self.released {
            let _ = self.semaphore.release();
        }
    }
}
