//! [`RLock`]: a re-entrant lock shared by threads and processes, held by one thread of one
//! process at a time, any number of times over.

use std::marker::PhantomData;
use std::time::Duration;

use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::format::key::Key;
use crate::options::{SetOptions, Tag};

/// A lock that one thread of one process holds at a time, and that its holder can take again
/// while holding it (diskcache's `RLock`).
///
/// Its key holds `(owner, count)`: the holder, as `"<process id>-<thread number>"`, and how
/// many times it holds the lock. Acquiring and releasing change it in a transaction; the key
/// is deleted when the count falls to zero. Other threads spin on it with a 1 ms sleep.
///
/// ```
/// # fn main() -> diskcache::Result<()> {
/// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
/// use diskcache::RLock;
/// let rlock = RLock::new(&cache, "user-123");
/// let outer = rlock.acquire()?;
/// let inner = rlock.acquire()?; // the same thread may take it again
/// drop(inner);
/// drop(outer);
/// // Releasing a lock this thread does not hold is an error, not a panic.
/// assert!(matches!(rlock.release(), Err(diskcache::Error::InvalidArgument(_))));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct RLock {
    cache: Cache,
    key: Key,
    opts: SetOptions,
}

impl RLock {
    /// The re-entrant lock named by `key` in `cache`, with no lease and no tag.
    pub fn new(cache: &Cache, key: impl Into<Key>) -> RLock {
        RLock {
            cache: cache.clone(),
            key: key.into(),
            opts: SetOptions::default(),
        }
    }

    /// Gives the key a time to live of `lease`, renewed by each acquire and release: if the
    /// holder dies, the lock is free once it runs out.
    pub fn expire(mut self, lease: Duration) -> RLock {
        self.opts.expire = Some(lease);
        self
    }

    /// Tags the lock's key.
    pub fn tag(mut self, tag: impl Into<Tag>) -> RLock {
        self.opts.tag = Some(tag.into());
        self
    }

    /// The key the lock lives in.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// Takes the lock if it is free or this thread holds it, without waiting: `None` if
    /// another thread or process holds it.
    ///
    /// # Errors
    /// [`Error::Codec`] if the key holds something that is not an `RLock`'s state;
    /// [`Error::InvalidArgument`] if the count would overflow; as [`Cache::transact`].
    pub fn try_acquire(&self) -> Result<Option<RLockGuard<'_>>> {
        let me = super::owner();
        let taken = self.cache.transact(|tx| {
            let count = match tx.get::<(String, u64)>(self.key.clone())? {
                Some((owner, count)) if count > 0 && owner != me => return Ok(false),
                Some((_, count)) => count,
                None => 0,
            };
            let count = count.checked_add(1).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "the re-entrant lock {} is held too many times",
                    self.key
                ))
            })?;
            tx.set_with(self.key.clone(), (&me, count), self.opts.clone())?;
            Ok(true)
        })?;
        Ok(taken.then(|| RLockGuard {
            rlock: self,
            released: false,
            _this_thread: PhantomData,
        }))
    }

    /// Takes the lock, waiting as long as it takes.
    ///
    /// # Errors
    /// As [`RLock::try_acquire`].
    pub fn acquire(&self) -> Result<RLockGuard<'_>> {
        super::wait_for(None, || self.try_acquire())
    }

    /// Takes the lock, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`] if another thread still held it when `timeout` passed; as
    /// [`RLock::try_acquire`].
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<RLockGuard<'_>> {
        super::wait_for(Some(timeout), || self.try_acquire())
    }

    /// Whether any thread holds the lock now.
    ///
    /// # Errors
    /// As [`Cache::contains`].
    pub fn locked(&self) -> Result<bool> {
        self.cache.contains(self.key.clone())
    }

    /// Releases one hold of this thread on the lock (diskcache's `RLock.release`). Guards call
    /// it when dropped; call it yourself only for a hold whose guard you forgot
    /// (`std::mem::forget`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if this thread does not hold the lock (another does, or none
    /// does); [`Error::Codec`] if the key holds something that is not an `RLock`'s state; as
    /// [`Cache::transact`].
    pub fn release(&self) -> Result<()> {
        let me = super::owner();
        self.cache.transact(|tx| {
            match tx.get::<(String, u64)>(self.key.clone())? {
                Some((owner, count)) if owner == me && count > 1 => {
                    tx.set_with(self.key.clone(), (&me, count - 1), self.opts.clone())
                }
                Some((owner, 1)) if owner == me => tx.delete(self.key.clone()).map(|_| ()),
                _ => Err(Error::InvalidArgument(format!(
                    "cannot release the re-entrant lock {}: this thread of process {} does not hold it",
                    self.key,
                    std::process::id()
                ))),
            }
        })
    }

    /// Runs `f` while holding the lock (waiting for it first), and releases it after.
    ///
    /// # Errors
    /// As [`RLock::acquire`]; if releasing fails, that error (after `f` has run).
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> Result<T> {
        let guard = self.acquire()?;
        let value = f();
        guard.release()?;
        Ok(value)
    }
}

/// One hold of an [`RLock`]; dropping it releases that hold. It stays on the thread that took
/// it (it is not `Send`), since the lock's owner is that thread.
///
/// Dropping ignores errors; [`RLockGuard::release`] reports them.
#[derive(Debug)]
#[must_use = "the hold is released as soon as the guard is dropped"]
pub struct RLockGuard<'a> {
    rlock: &'a RLock,
    released: bool,
    /// Keeps the guard on its thread.
    _this_thread: PhantomData<*const ()>,
}

impl RLockGuard<'_> {
    /// Releases this hold now.
    ///
    /// # Errors
    /// As [`RLock::release`]: [`Error::InvalidArgument`] if the lock's lease ran out and
    /// the hold is gone.
    pub fn release(mut self) -> Result<()> {
        self.released = true;
        self.rlock.release()
    }
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        if !self.released {
            let _ = self.rlock.release();
        }
    }
}
