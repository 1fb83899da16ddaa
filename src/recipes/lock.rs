//! [`Lock`]: a mutual-exclusion lock shared by threads and processes, held while its key
//! exists; and [`barrier`], which runs a function under one.

use std::time::Duration;

use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::format::key::Key;
use crate::options::{SetOptions, Tag};

/// A lock that one holder at a time, in any thread of any process, can hold (diskcache's
/// `Lock`).
///
/// Acquiring is `add` of the key: it succeeds for the one caller that finds the key absent,
/// and others spin on it with a 1 ms sleep. The value stored is a name unique to this
/// acquisition, so a guard deletes the key only while it is still its own. With
/// [`Lock::expire`] the lock is a lease: if the holder dies (or overstays), the key expires and
/// the next acquirer gets in.
///
/// It is not re-entrant: a thread that holds it and asks again waits for itself (until its
/// timeout or lease); use an [`crate::RLock`] for that.
///
/// ```
/// # fn main() -> diskcache::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// use std::time::Duration;
/// use diskcache::{Cache, Lock};
///
/// let cache = Cache::open(dir.path())?;
/// let lock = Lock::new(&cache, "report-123").expire(Duration::from_secs(30));
/// {
///     let _guard = lock.acquire()?;
///     assert!(lock.locked()?);
///     // Another process or thread waits here, or gets None from try_acquire.
///     assert!(lock.try_acquire()?.is_none());
/// } // released when the guard drops
/// assert!(!lock.locked()?);
///
/// // Or run a closure under the lock.
/// let total = lock.run(|| 1 + 2)?;
/// assert_eq!(total, 3);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Lock {
    cache: Cache,
    key: Key,
    opts: SetOptions,
}

impl Lock {
    /// The lock named by `key` in `cache`, with no lease and no tag.
    pub fn new(cache: &Cache, key: impl Into<Key>) -> Lock {
        Lock {
            cache: cache.clone(),
            key: key.into(),
            opts: SetOptions::default(),
        }
    }

    /// Makes each acquisition a lease of `lease`: the key expires then, and the lock is free
    /// for the next acquirer even if its holder never releases it (a crashed process).
    pub fn expire(mut self, lease: Duration) -> Lock {
        self.opts.expire = Some(lease);
        self
    }

    /// Tags the lock's key, so that `evict(tag)` can clear locks together.
    pub fn tag(mut self, tag: impl Into<Tag>) -> Lock {
        self.opts.tag = Some(tag.into());
        self
    }

    /// The key the lock lives in.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// Takes the lock if it is free, without waiting: `None` if it is held.
    ///
    /// # Errors
    /// As [`Cache::add`].
    pub fn try_acquire(&self) -> Result<Option<LockGuard<'_>>> {
        let token = super::token();
        let taken =
            if crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::LockNotExclusive) {
                // Negative control (`sabotage`): `set` instead of `add`, so every acquirer "gets"
                // the lock at once.
                self.cache
                    .set_with(self.key.clone(), &token, self.opts.clone())?;
                true
            } else {
                self.cache
                    .add(self.key.clone(), &token, self.opts.clone())?
            };
        Ok(taken.then(|| LockGuard {
            lock: self,
            token,
            released: false,
        }))
    }

    /// Takes the lock, waiting as long as it takes.
    ///
    /// # Errors
    /// As [`Cache::add`].
    pub fn acquire(&self) -> Result<LockGuard<'_>> {
        super::wait_for(None, || self.try_acquire())
    }

    /// Takes the lock, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`] if the lock was still held when `timeout` passed; as [`Cache::add`].
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<LockGuard<'_>> {
        super::wait_for(Some(timeout), || self.try_acquire())
    }

    /// Whether anyone holds the lock now.
    ///
    /// # Errors
    /// As [`Cache::contains`].
    pub fn locked(&self) -> Result<bool> {
        self.cache.contains(self.key.clone())
    }

    /// Frees the lock whoever holds it, by deleting its key (diskcache's `Lock.release`), and
    /// says whether it was held. For breaking a lock left by a holder that is gone; the
    /// holder's guard then finds the lock no longer its own and leaves it alone. To release a
    /// lock you hold, drop its guard or call [`LockGuard::release`].
    ///
    /// # Errors
    /// As [`Cache::delete`].
    pub fn release(&self) -> Result<bool> {
        self.cache.delete(self.key.clone())
    }

    /// Runs `f` while holding the lock (waiting for it first), and releases it after.
    ///
    /// # Errors
    /// As [`Lock::acquire`]; if releasing fails, that error (after `f` has run).
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> Result<T> {
        let guard = self.acquire()?;
        let value = f();
        guard.release()?;
        Ok(value)
    }

    /// Deletes the key if it still holds `token`; says whether it did.
    fn release_token(&self, token: &str) -> Result<bool> {
        self.cache
            .transact(|tx| match tx.get::<String>(self.key.clone()) {
                Ok(Some(held)) if held == token => tx.delete(self.key.clone()),
                // Free, someone else's (after our lease ran out), or not a lock's value at all.
                Ok(_) | Err(Error::Codec(_)) => Ok(false),
                Err(e) => Err(e),
            })
    }
}

/// Runs `f` under the [`Lock`] named `name` in `cache` (diskcache's `barrier` with a `Lock`):
/// one caller at a time, in any thread or process, runs a function behind the same name.
///
/// ```
/// # fn main() -> diskcache::Result<()> {
/// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
/// // However many processes call this at once, they rebuild the report one at a time.
/// let pages = diskcache::barrier(&cache, "rebuild-report", || 42)?;
/// assert_eq!(pages, 42);
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`Lock::run`].
pub fn barrier<T>(cache: &Cache, name: impl Into<Key>, f: impl FnOnce() -> T) -> Result<T> {
    Lock::new(cache, name).run(f)
}

/// A held [`Lock`]; dropping it releases the lock.
///
/// Dropping ignores errors (the lock then stays held until its lease, if any, runs out);
/// [`LockGuard::release`] reports them.
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
    token: String,
    released: bool,
}

impl LockGuard<'_> {
    /// Releases the lock now. Returns `false` if it was no longer this guard's to release: its
    /// lease ran out (and maybe another holder took it) or [`Lock::release`] broke it, so the
    /// work done under it may have overlapped another holder's.
    ///
    /// # Errors
    /// As [`Cache::transact`]; the lock is then still held.
    pub fn release(mut self) -> Result<bool> {
        self.released = true;
        self.lock.release_token(&self.token)
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        if !self.released {
            let _ = self.lock.release_token(&self.token);
        }
    }
}
