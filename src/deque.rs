//! `Deque<T>`: a persistent double-ended queue whose items are a cache's queue keys (Python
//! diskcache's `Deque`).
//!
//! The items live under the integer queue keys that [`Cache::push`] and [`Cache::pull`] use
//! (prefix `None`), so the deque and those calls can share one cache. The deque keeps its keys
//! contiguous: with `n` items from key `lo`, item `i` is under key `lo + i`. Every operation
//! is one [`Cache::transact`], which reads the count of entries (exact under the write lock)
//! and checks a handful of keys around the ends this handle saw last (a point read each), so
//! pushes and pops cost a few point reads and one write, never a scan. If the checks
//! disagree (a key deleted from the middle through the cache, an item expired, another
//! process moved the ends far), the deque reads all its keys once and renumbers them
//! contiguously in one transaction, then goes on.

use std::borrow::Borrow;
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::format::key::Key;
use crate::queue::{LIMIT, START};
use crate::settings::EvictionPolicy;
use crate::transaction::Transaction;

mod iter;
mod span;
mod tx;

pub use iter::DequeIter;
use span::{Span, position};
pub use tx::DequeTransaction;

/// How many times an operation renumbers the deque's keys and tries again before giving up
/// (each retry means another process changed the deque while its keys were read).
const ATTEMPTS: usize = 16;
/// Items pushed per transaction by `extend` and `extend_front`.
const CHUNK: usize = 256;

/// A persistent, process-safe double-ended queue of `T` in a cache directory (Python
/// diskcache's `Deque`).
///
/// Every operation is atomic across threads and processes: `rotate`, `reverse`, `set`,
/// `remove_at` and the `maxlen` trim each run as one transaction, so no process sees half
/// of one. Items are stored under integer queue keys, so [`Cache::push`] and [`Cache::pull`]
/// (prefix `None`) on [`Deque::cache`] work on the same items. The deque owns its whole cache:
/// every entry of it is an item, and a key that is not an integer queue key is an error.
///
/// Indexing is `O(1)` (a point read), unlike Python's, which walks the keys. Reads (`get`,
/// `peek_front`/`peek_back`, the start of an iteration) are transactions too, so they wait
/// for a writer that holds the lock; `len` does not.
///
/// ```
/// # fn main() -> diskcache::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// use diskcache::Deque;
/// let deque: Deque<String> = Deque::open(dir.path())?;
/// deque.push_back("b")?;
/// deque.push_back("c")?;
/// deque.push_front("a")?;
/// assert_eq!(deque.len()?, 3);
/// assert_eq!(deque.get(-1)?, "c");
/// deque.rotate(1)?;
/// let items: Vec<String> = deque.iter().collect::<diskcache::Result<_>>()?;
/// assert_eq!(items, ["c", "a", "b"]);
/// assert_eq!(deque.pop_front()?.as_deref(), Some("c"));
/// # Ok(()) }
/// ```
pub struct Deque<T> {
    cache: Cache,
    maxlen: Option<u64>,
    /// Where this handle last saw the front and the length; shared by its clones.
    hint: Arc<Hint>,
    _items: PhantomData<fn() -> T>,
}

/// The front key and length an operation last found (a guess for the next one).
#[derive(Debug)]
struct Hint {
    lo: AtomicI64,
    n: AtomicI64,
}

impl<T> Clone for Deque<T> {
    fn clone(&self) -> Self {
        Deque {
            cache: self.cache.clone(),
            maxlen: self.maxlen,
            hint: Arc::clone(&self.hint),
            _items: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Deque<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deque")
            .field("directory", &self.cache.directory())
            .field("maxlen", &self.maxlen)
            .finish_non_exhaustive()
    }
}

impl<T: Serialize + DeserializeOwned> Deque<T> {
    /// Opens the deque in `dir`, creating it if needed (a cache with eviction policy
    /// [`EvictionPolicy::None`], so no item is ever culled).
    ///
    /// # Errors
    /// As [`Cache::open`].
    pub fn open(dir: impl AsRef<Path>) -> Result<Deque<T>> {
        Ok(Deque::from_cache(
            Cache::builder()
                .eviction_policy(EvictionPolicy::None)
                .open(dir)?,
        ))
    }

    /// Opens a new deque in a fresh private temporary directory, removed when its last handle
    /// is dropped (see [`crate::CacheBuilder::temp`]).
    ///
    /// # Errors
    /// As [`Cache::temp`].
    pub fn temp() -> Result<Deque<T>> {
        Ok(Deque::from_cache(
            Cache::builder()
                .eviction_policy(EvictionPolicy::None)
                .temp()?,
        ))
    }

    /// The deque whose items are the entries of `cache` (diskcache's `Deque.fromcache`).
    /// Give it a cache of its own with eviction policy `None`: culling would drop items.
    pub fn from_cache(cache: Cache) -> Deque<T> {
        Deque {
            cache,
            maxlen: None,
            hint: Arc::new(Hint {
                lo: AtomicI64::new(START),
                n: AtomicI64::new(0),
            }),
            _items: PhantomData,
        }
    }

    /// Bounds the deque to `maxlen` items, dropping items from the front now if it holds
    /// more. As with Python's `deque`, a push at one end then drops items from the other.
    /// The bound belongs to this handle (and its clones), not to the directory.
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// let deque = diskcache::Deque::<i64>::temp()?;
    /// deque.extend(0..5)?;
    /// let deque = deque.with_maxlen(3)?;
    /// deque.push_back(&5)?;
    /// deque.push_front(&1)?;
    /// assert_eq!(deque.iter().collect::<diskcache::Result<Vec<_>>>()?, [1, 3, 4]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Deque::pop_front`].
    pub fn with_maxlen(mut self, maxlen: usize) -> Result<Deque<T>> {
        self.maxlen = Some(maxlen as u64);
        let max = self.maxlen;
        self.run(|s| s.trim(max, true))?;
        Ok(self)
    }

    /// The bound on the number of items, if any.
    pub fn maxlen(&self) -> Option<usize> {
        self.maxlen
            .map(|m| usize::try_from(m).unwrap_or(usize::MAX))
    }

    /// The cache that holds the items.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The directory of the deque's cache.
    pub fn directory(&self) -> &Path {
        self.cache.directory()
    }

    /// Adds `value` at the back (Python's `append`), then drops items from the front past
    /// `maxlen`.
    ///
    /// # Errors
    /// [`Error::Codec`] if the value cannot be serialized; [`Error::InvalidArgument`] if the
    /// keys reached the end of the queue range; [`Error::Timeout`]; as [`Cache::set`].
    pub fn push_back<Q>(&self, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        let max = self.maxlen;
        self.run(|s| {
            s.push_back(value)?;
            s.trim(max, true)
        })
    }

    /// Adds `value` at the front (Python's `appendleft`), then drops items from the back
    /// past `maxlen`.
    ///
    /// # Errors
    /// As [`Deque::push_back`].
    pub fn push_front<Q>(&self, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        let max = self.maxlen;
        self.run(|s| {
            s.push_front(value)?;
            s.trim(max, false)
        })
    }

    /// Removes and returns the back item (Python's `pop`); `None` if the deque is empty.
    ///
    /// # Errors
    /// [`Error::Codec`] if the item is not a `T` (it stays); [`Error::Timeout`];
    /// [`Error::Corrupted`].
    pub fn pop_back(&self) -> Result<Option<T>> {
        self.run(|s| s.pop_back())
    }

    /// Removes and returns the front item (Python's `popleft`); `None` if the deque is empty.
    ///
    /// # Errors
    /// As [`Deque::pop_back`].
    pub fn pop_front(&self) -> Result<Option<T>> {
        self.run(|s| s.pop_front())
    }

    /// The back item, left in place (Python's `peek`); `None` if the deque is empty.
    ///
    /// # Errors
    /// As [`Deque::pop_back`].
    pub fn peek_back(&self) -> Result<Option<T>> {
        self.run(|s| (s.n > 0).then(|| s.item(s.n - 1)).transpose())
    }

    /// The front item, left in place (Python's `peekleft`); `None` if the deque is empty.
    ///
    /// # Errors
    /// As [`Deque::pop_back`].
    pub fn peek_front(&self) -> Result<Option<T>> {
        self.run(|s| (s.n > 0).then(|| s.item(0)).transpose())
    }

    /// The number of items (a lock-free read of the cache's count).
    ///
    /// # Errors
    /// As [`Cache::len`].
    pub fn len(&self) -> Result<u64> {
        self.cache.len()
    }

    /// Whether the deque holds no item.
    ///
    /// # Errors
    /// As [`Cache::len`].
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The item at index `i`: from the front if `i >= 0`, from the back if negative (`-1`
    /// is the back item). One point read, `O(1)`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `i` is out of range; as [`Deque::pop_back`].
    pub fn get(&self, i: i64) -> Result<T> {
        self.run(|s| s.item(position(i, s.n)?))
    }

    /// Replaces the item at index `i` (negative: from the back) with `value`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `i` is out of range; as [`Deque::push_back`].
    pub fn set<Q>(&self, i: i64, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        self.run(|s| {
            let p = position(i, s.n)?;
            s.tx.set(s.lo + p, value)
        })
    }

    /// Removes and returns the item at index `i` (negative: from the back), moving the items
    /// between it and the nearer end one place (Python's `del deque[i]`). `O(min(i, n - i))`
    /// writes, in one transaction.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `i` is out of range; as [`Deque::pop_back`].
    pub fn remove_at(&self, i: i64) -> Result<T> {
        self.run(|s| {
            let p = position(i, s.n)?;
            s.remove_at(p)
        })
    }

    /// Adds every item of `items` at the back, in order (Python's `extend`), trimming to
    /// `maxlen` from the front. Items are written 256 per transaction: another process may
    /// see the first 256 before the rest.
    ///
    /// # Errors
    /// As [`Deque::push_back`]; the items written before an error stay.
    pub fn extend(&self, items: impl IntoIterator<Item = T>) -> Result<()> {
        self.extend_at(items, true)
    }

    /// Adds every item of `items` at the front, one after another, so they end up in reverse
    /// order (Python's `extendleft`), trimming to `maxlen` from the back. 256 items per
    /// transaction, as [`Deque::extend`].
    ///
    /// # Errors
    /// As [`Deque::extend`].
    pub fn extend_front(&self, items: impl IntoIterator<Item = T>) -> Result<()> {
        self.extend_at(items, false)
    }

    fn extend_at(&self, items: impl IntoIterator<Item = T>, back: bool) -> Result<()> {
        let max = self.maxlen;
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let chunk: Vec<T> = items.by_ref().take(CHUNK).collect();
            self.run(|s| {
                for item in &chunk {
                    if back {
                        s.push_back(item)?;
                    } else {
                        s.push_front(item)?;
                    }
                    s.trim(max, back)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Rotates the deque `steps` places to the right (the back item becomes the front one);
    /// a negative `steps` rotates left. One transaction of `min(k, n - k)` moves, where
    /// `k = steps mod n`.
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// let deque = diskcache::Deque::<i64>::temp()?;
    /// deque.extend(0..5)?;
    /// deque.rotate(2)?;
    /// assert_eq!(deque.iter().collect::<diskcache::Result<Vec<_>>>()?, [3, 4, 0, 1, 2]);
    /// deque.rotate(-3)?;
    /// assert_eq!(deque.iter().collect::<diskcache::Result<Vec<_>>>()?, [1, 2, 3, 4, 0]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Deque::pop_back`] and [`Deque::push_back`].
    pub fn rotate(&self, steps: i64) -> Result<()> {
        self.run(|s| {
            if s.n == 0 {
                return Ok(());
            }
            let right = steps.rem_euclid(s.n);
            if right <= s.n - right {
                for _ in 0..right {
                    if let Some(item) = s.pop_back::<T>()? {
                        s.push_front(&item)?;
                    }
                }
            } else {
                for _ in 0..s.n - right {
                    if let Some(item) = s.pop_front::<T>()? {
                        s.push_back(&item)?;
                    }
                }
            }
            Ok(())
        })
    }

    /// Reverses the items in place, in one transaction (`n` reads and writes).
    ///
    /// # Errors
    /// As [`Deque::pop_back`] and [`Deque::push_back`].
    pub fn reverse(&self) -> Result<()> {
        self.run(|s| {
            for j in 0..s.n / 2 {
                let (a, b) = (s.lo + j, s.lo + s.n - 1 - j);
                let first: T = s.item(j)?;
                let last: T = s.item(s.n - 1 - j)?;
                s.tx.set(a, &last)?;
                s.tx.set(b, &first)?;
            }
            Ok(())
        })
    }

    /// How many items equal `value`.
    ///
    /// # Errors
    /// As [`Deque::iter`]'s items.
    pub fn count<Q: ?Sized>(&self, value: &Q) -> Result<u64>
    where
        T: PartialEq<Q>,
    {
        let mut count = 0;
        for item in self {
            if item? == *value {
                count += 1;
            }
        }
        Ok(count)
    }

    /// Removes the first item equal to `value` (Python's `remove`); returns whether one was
    /// found. The search and removal are one transaction (the write lock is held while it
    /// reads the items up to the match).
    ///
    /// # Errors
    /// As [`Deque::remove_at`].
    pub fn remove<Q: ?Sized>(&self, value: &Q) -> Result<bool>
    where
        T: PartialEq<Q>,
    {
        self.run(|s| {
            for p in 0..s.n {
                if s.item::<T>(p)? == *value {
                    s.remove_at::<T>(p)?;
                    return Ok(true);
                }
            }
            Ok(false)
        })
    }

    /// Removes every item; returns how many there were.
    ///
    /// # Errors
    /// As [`Cache::clear`].
    pub fn clear(&self) -> Result<u64> {
        self.cache.clear()
    }

    /// The items from front to back, lazily; `.rev()` walks from back to front.
    ///
    /// The iterator reads the deque's ends once (under the write lock), then each item with
    /// a lock-free point read. Items popped meanwhile are skipped, items pushed after the
    /// start are not seen; a concurrent `rotate`, `reverse` or `remove_at` may show an item
    /// twice or not at all.
    pub fn iter(&self) -> DequeIter<'_, T> {
        DequeIter {
            deque: self,
            range: None,
            done: false,
        }
    }

    /// Runs `f` as one transaction on the deque (Python's `Deque.transact`): the operations it
    /// makes through the [`DequeTransaction`] it is given become visible to every thread and
    /// process at once, or, if `f` returns an error, not at all. The write lock is held while
    /// `f` runs, so keep it short.
    ///
    /// `f` runs again (after its first run was rolled back) if the deque's keys had to be
    /// renumbered first (see [`Deque`]), so it should have no other effects.
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// let deque = diskcache::Deque::<i64>::temp()?;
    /// deque.extend([1, 2, 3])?;
    /// // Move the back item to the front unless it is already the smallest.
    /// let moved = deque.transact(|tx| {
    ///     let back = tx.get(-1)?;
    ///     if back > tx.get(0)? {
    ///         return Ok(false);
    ///     }
    ///     tx.pop_back()?;
    ///     tx.push_front(&back)?;
    ///     Ok(true)
    /// })?;
    /// assert!(!moved);
    /// assert_eq!(deque.transact(|tx| Ok(tx.len()))?, 3);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The error `f` returns (nothing is then applied); as [`Cache::transact`].
    pub fn transact<R>(
        &self,
        mut f: impl FnMut(&mut DequeTransaction<'_, '_, '_, T>) -> Result<R>,
    ) -> Result<R> {
        let maxlen = self.maxlen;
        self.run(|span| {
            f(&mut DequeTransaction {
                span,
                maxlen,
                _items: PhantomData,
            })
        })
    }

    /// Runs `f` on the deque's span in one transaction, renumbering the keys first if they
    /// are not contiguous (see the module docs).
    fn run<R>(&self, mut f: impl FnMut(&mut Span<'_, '_>) -> Result<R>) -> Result<R> {
        for _ in 0..ATTEMPTS {
            let gap = Cell::new(false);
            let result = self.cache.transact(|tx| {
                // The count before this transaction: exact, since it holds the write lock.
                let n = self.entries()?;
                let Some(lo) = self.locate(tx, n)? else {
                    gap.set(true);
                    return Err(Error::storage("the deque's keys are not contiguous"));
                };
                let mut span = Span {
                    tx,
                    lo,
                    n,
                    gap: &gap,
                };
                let value = f(&mut span)?;
                if gap.get() {
                    // A hole inside the span, found by a read whose error `f` handled: roll
                    // back, renumber, and run `f` again.
                    return Err(Error::storage("the deque's keys are not contiguous"));
                }
                Ok((value, span.lo, span.n))
            });
            match result {
                Ok((value, lo, n)) => {
                    self.hint.lo.store(lo, Ordering::Relaxed);
                    self.hint.n.store(n, Ordering::Relaxed);
                    return Ok(value);
                }
                Err(_) if gap.get() => self.renumber()?,
                Err(e) => return Err(e),
            }
        }
        Err(Error::storage(format!(
            "the deque's keys in {} did not match its entry count in {ATTEMPTS} attempts to \
             number them: other processes kept changing them, or the count is damaged \
             (Cache::check(true) repairs it)",
            self.directory().display()
        )))
    }

    /// The number of entries, as an `i64`.
    fn entries(&self) -> Result<i64> {
        let n = self.cache.len()?;
        i64::try_from(n).map_err(|_| Error::corrupted(format!("a deque of {n} items")))
    }

    /// The front key of the `n` contiguous items, found from this handle's hint with point
    /// reads; `None` if the keys are not contiguous or not where the hint looks.
    fn locate(&self, tx: &Transaction<'_>, n: i64) -> Result<Option<i64>> {
        if n == 0 {
            return Ok(Some(START));
        }
        let present = |k: i64| -> Result<bool> {
            if k <= 0 || k >= LIMIT {
                return Ok(false);
            }
            tx.contains(k)
        };
        // `lo` is the front if it and the back key `lo + n - 1` hold items and the keys
        // just outside do not.
        let fits = |lo: i64| -> Result<bool> {
            Ok(present(lo)? && !present(lo - 1)? && present(lo + n - 1)? && !present(lo + n)?)
        };
        let lo = self.hint.lo.load(Ordering::Relaxed);
        let old_n = self.hint.n.load(Ordering::Relaxed);
        if fits(lo)? {
            return Ok(Some(lo));
        }
        // Another process moved the ends: start from any key that holds an item and
        // binary-search the front among the `n` keys before it.
        for p in [lo, lo.saturating_add(old_n - 1), START] {
            if present(p)? {
                let (mut low, mut high) = ((p - n + 1).max(1), p);
                while low < high {
                    let mid = low + (high - low) / 2;
                    if present(mid)? {
                        high = mid;
                    } else {
                        low = mid + 1;
                    }
                }
                return Ok(fits(low)?.then_some(low));
            }
        }
        Ok(None)
    }

    /// Reads every key of the cache and moves the items so their keys are contiguous again
    /// from the first one (in one transaction that first checks no key changed meanwhile).
    fn renumber(&self) -> Result<()> {
        let mut keys = Vec::new();
        for key in self.cache.keys_sorted(false)? {
            match key? {
                Key::Int(k) if k > 0 && k < LIMIT => keys.push(k),
                other => {
                    return Err(Error::InvalidArgument(format!(
                        "the deque's cache in {} holds the key {other}, which is not a queue \
                         key: a Deque owns its whole cache",
                        self.directory().display()
                    )));
                }
            }
        }
        // Under steady traffic from other processes the keys may change before the check
        // below; the next attempt then starts its search from where they were just now.
        if let Some(&first) = keys.first() {
            self.hint.lo.store(first, Ordering::Relaxed);
            self.hint.n.store(keys.len() as i64, Ordering::Relaxed);
        }
        let done = self.cache.transact(|tx| {
            if self.entries()? != keys.len() as i64 {
                return Ok(false);
            }
            for &k in &keys {
                if !tx.contains(k)? {
                    return Ok(false);
                }
            }
            let lo = keys.first().copied().unwrap_or(START);
            // Keys only move down, into places already emptied or never used.
            for (target, &k) in (lo..).zip(&keys) {
                if target != k {
                    let item: Option<T> = tx.get(k)?;
                    if let Some(item) = item {
                        tx.delete(k)?;
                        tx.set(target, &item)?;
                    }
                }
            }
            self.hint.lo.store(lo, Ordering::Relaxed);
            self.hint.n.store(keys.len() as i64, Ordering::Relaxed);
            Ok(true)
        })?;
        if !done {
            // Expired items count until removed, and do not show among the keys.
            self.cache.expire()?;
        }
        Ok(())
    }
}
