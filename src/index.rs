//! `Index<K, V>`: a persistent mapping that iterates in insertion order (Python diskcache's
//! `Index`), a typed view of a [`Cache`].
//!
//! Keys are any `serde` type and become cache keys through [`Key::from_serialize`]: text,
//! integers, floats and bytes are stored as themselves (so `Index<String, V>` and
//! `Index<i64, V>` read and write the same entries as `cache.set("k", ..)` and
//! `cache.set(7, ..)`), tuples and structs as composite keys. Reading a key back decodes it
//! with [`Key::decode`]. An index whose keys are of several types (say the integer keys of
//! [`Index::push`] beside text keys) can still be read through [`Index::cache`], whose
//! iteration yields [`Key`]s.

use std::borrow::Borrow;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cache::Cache;
use crate::error::Result;
use crate::format::key::Key;
use crate::iter::Keys;
use crate::memo::{MemoOptions, Memoized};
use crate::options::{SetOptions, Side};
use crate::settings::EvictionPolicy;
use crate::transaction::Transaction;

/// Items written per transaction by [`Index::extend`].
const CHUNK: usize = 256;

/// A persistent, process-safe mapping from `K` to `V` in a cache directory that iterates in
/// insertion order (Python diskcache's `Index`).
///
/// Re-inserting a key keeps its place. Every operation is atomic across threads and
/// processes; [`Index::transact`] groups several.
///
/// ```
/// # fn main() -> diskcache::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// use diskcache::Index;
/// let index: Index<String, i64> = Index::open(dir.path())?;
/// index.insert("b", &2)?;
/// index.insert("a", &1)?;
/// index.insert("c", &3)?;
/// assert_eq!(index.get("a")?, Some(1));
/// let keys: Vec<String> = index.keys().collect::<diskcache::Result<_>>()?;
/// assert_eq!(keys, ["b", "a", "c"]);
/// let last: Vec<(String, i64)> = index.iter().rev().take(1).collect::<diskcache::Result<_>>()?;
/// assert_eq!(last, [("c".to_string(), 3)]);
/// assert_eq!(index.pop_item(true)?, Some(("c".to_string(), 3)));
/// assert_eq!(index.get_or_insert_with("d", || 4)?, 4);
/// assert_eq!(index.len()?, 3);
/// # Ok(()) }
/// ```
pub struct Index<K, V> {
    cache: Cache,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for Index<K, V> {
    fn clone(&self) -> Self {
        Index {
            cache: self.cache.clone(),
            _types: PhantomData,
        }
    }
}

impl<K, V> fmt::Debug for Index<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Index")
            .field("directory", &self.cache.directory())
            .finish_non_exhaustive()
    }
}

/// The cache key of `key`.
fn key_of<Q: Serialize + ?Sized>(key: &Q) -> Result<Key> {
    Key::from_serialize(key)
}

impl<K, V> Index<K, V>
where
    K: Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    /// Opens the index in `dir`, creating it if needed (a cache with eviction policy
    /// [`EvictionPolicy::None`], so no item is ever culled).
    ///
    /// # Errors
    /// As [`Cache::open`].
    pub fn open(dir: impl AsRef<Path>) -> Result<Index<K, V>> {
        Ok(Index::from_cache(
            Cache::builder()
                .eviction_policy(EvictionPolicy::None)
                .open(dir)?,
        ))
    }

    /// Opens a new index in a fresh private temporary directory, removed when its last handle
    /// is dropped (see [`crate::CacheBuilder::temp`]).
    ///
    /// # Errors
    /// As [`Cache::temp`].
    pub fn temp() -> Result<Index<K, V>> {
        Ok(Index::from_cache(
            Cache::builder()
                .eviction_policy(EvictionPolicy::None)
                .temp()?,
        ))
    }

    /// The index over the entries of `cache` (diskcache's `Index.fromcache`). With an
    /// eviction policy other than `None`, culling may drop items.
    pub fn from_cache(cache: Cache) -> Index<K, V> {
        Index {
            cache,
            _types: PhantomData,
        }
    }

    /// The cache that holds the items.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The directory of the index's cache.
    pub fn directory(&self) -> &Path {
        self.cache.directory()
    }

    /// Stores `value` under `key`; an existing key keeps its place in the order.
    ///
    /// # Errors
    /// As [`Cache::set`].
    pub fn insert<Q, W>(&self, key: &Q, value: &W) -> Result<()>
    where
        K: Borrow<Q>,
        V: Borrow<W>,
        Q: Serialize + ?Sized,
        W: Serialize + ?Sized,
    {
        self.cache.set(key_of(key)?, value)
    }

    /// The value under `key`, if any.
    ///
    /// # Errors
    /// As [`Cache::get`].
    pub fn get<Q>(&self, key: &Q) -> Result<Option<V>>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        self.cache.get(key_of(key)?)
    }

    /// Whether `key` is present.
    ///
    /// # Errors
    /// As [`Cache::contains`].
    pub fn contains_key<Q>(&self, key: &Q) -> Result<bool>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        self.cache.contains(key_of(key)?)
    }

    /// Removes `key`; returns whether it was present (Python's `del index[key]`).
    ///
    /// # Errors
    /// As [`Cache::delete`].
    pub fn remove<Q>(&self, key: &Q) -> Result<bool>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        self.cache.delete(key_of(key)?)
    }

    /// Removes `key` and returns its value, if it was present.
    ///
    /// # Errors
    /// As [`Cache::pop`].
    pub fn pop<Q>(&self, key: &Q) -> Result<Option<V>>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        self.cache.pop(key_of(key)?)
    }

    /// The value under `key`, storing `default()` first if the key is absent (Python's
    /// `setdefault`). Atomic: of several callers racing on a missing key, one stores and all
    /// get its value. `default` runs under the write lock, so keep it short.
    ///
    /// # Errors
    /// As [`Cache::get`] and [`Cache::set`].
    pub fn get_or_insert_with<Q>(&self, key: &Q, default: impl FnOnce() -> V) -> Result<V>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        let key = key_of(key)?;
        if let Some(value) = self.cache.get(key.clone())? {
            return Ok(value);
        }
        self.cache.transact(|tx| {
            if let Some(value) = tx.get(key.clone())? {
                return Ok(value);
            }
            let value = default();
            tx.set(key, &value)?;
            Ok(value)
        })
    }

    /// The number of items.
    ///
    /// # Errors
    /// As [`Cache::len`].
    pub fn len(&self) -> Result<u64> {
        self.cache.len()
    }

    /// Whether the index holds no item.
    ///
    /// # Errors
    /// As [`Cache::len`].
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The last (or, if `!last`, the first) item in insertion order, left in place.
    ///
    /// # Errors
    /// As [`Cache::peekitem`], plus [`crate::Error::Codec`] if the key is not a `K`.
    pub fn peek_item(&self, last: bool) -> Result<Option<(K, V)>> {
        match self.cache.peekitem::<V>(last)? {
            Some((key, value)) => Ok(Some((key.decode()?, value))),
            None => Ok(None),
        }
    }

    /// Removes and returns the last (or, if `!last`, the first) item in insertion order
    /// (Python's `popitem`): `last` makes the index a stack, `!last` a queue. If another
    /// caller removes the item first, the next one is taken.
    ///
    /// # Errors
    /// As [`Index::peek_item`] and [`Cache::pop`].
    pub fn pop_item(&self, last: bool) -> Result<Option<(K, V)>> {
        loop {
            let Some((key, _)) = self.cache.peekitem::<V>(last)? else {
                return Ok(None);
            };
            if let Some(value) = self.cache.pop::<V>(key.clone())? {
                return Ok(Some((key.decode()?, value)));
            }
        }
    }

    /// Adds `value` to the queue named by `prefix` in the index's cache and returns its key
    /// (see [`Cache::push`]).
    ///
    /// # Errors
    /// As [`Cache::push`].
    pub fn push<W>(&self, value: &W, prefix: Option<&str>, side: Side) -> Result<Key>
    where
        V: Borrow<W>,
        W: Serialize + ?Sized,
    {
        self.cache.push(value, prefix, side, SetOptions::default())
    }

    /// Removes and returns the item at `side` of the queue named by `prefix` (see
    /// [`Cache::pull`]).
    ///
    /// # Errors
    /// As [`Cache::pull`].
    pub fn pull(&self, prefix: Option<&str>, side: Side) -> Result<Option<(Key, V)>> {
        self.cache.pull(prefix, side)
    }

    /// Stores every `(key, value)` of `items`, 256 per transaction (another process may see
    /// the first 256 before the rest).
    ///
    /// # Errors
    /// As [`Index::insert`]; the items written before an error stay.
    pub fn extend(&self, items: impl IntoIterator<Item = (K, V)>) -> Result<()> {
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let chunk: Vec<(K, V)> = items.by_ref().take(CHUNK).collect();
            self.cache.transact(|tx| {
                for (key, value) in &chunk {
                    tx.set(key_of(key)?, value)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Removes every item; returns how many there were.
    ///
    /// # Errors
    /// As [`Cache::clear`].
    pub fn clear(&self) -> Result<u64> {
        self.cache.clear()
    }

    /// The keys in insertion order, lazily (read in batches); `.rev()` walks them backwards,
    /// after reading the remaining keys into memory.
    pub fn keys(&self) -> IndexKeys<'_, K, V> {
        IndexKeys {
            order: Order::new(&self.cache),
            _types: PhantomData,
        }
    }

    /// The values in insertion order of their keys; `.rev()` backwards.
    pub fn values(&self) -> IndexValues<'_, K, V> {
        IndexValues {
            order: Order::new(&self.cache),
            _types: PhantomData,
        }
    }

    /// The `(key, value)` items in insertion order; `.rev()` backwards.
    ///
    /// Items removed after the iteration started are skipped; items added after it passed
    /// their place are not seen.
    pub fn iter(&self) -> IndexIter<'_, K, V> {
        IndexIter {
            order: Order::new(&self.cache),
            _types: PhantomData,
        }
    }

    /// The `(key, value)` items in insertion order (Python's `items()`): the same as
    /// [`Index::iter`].
    pub fn items(&self) -> IndexIter<'_, K, V> {
        self.iter()
    }

    /// Runs `f` as one transaction on the index's cache (see [`Cache::transact`]); keys
    /// given to the [`Transaction`] are cache keys, so pass them through
    /// [`Key::from_serialize`] for composite `K`.
    ///
    /// # Errors
    /// As [`Cache::transact`].
    pub fn transact<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        self.cache.transact(f)
    }

    /// Wraps `f` so that its results are kept in the index's cache (see [`Cache::memoize`]).
    pub fn memoize<A, R, F>(&self, name: &str, opts: MemoOptions, f: F) -> Memoized<A, R, F>
    where
        A: Serialize + ?Sized,
        R: Serialize + DeserializeOwned,
        F: Fn(&A) -> R,
    {
        self.cache.memoize(name, opts, f)
    }
}

/// The insertion order of a cache's keys, read lazily forwards; reading from the back reads
/// the rest into memory first.
struct Order<'a> {
    cache: &'a Cache,
    /// The lazy forward reader, until it is created or drained.
    keys: Option<Keys>,
    /// Keys read ahead (all remaining ones once `drained`).
    buffer: VecDeque<Result<Key>>,
    started: bool,
    drained: bool,
}

impl<'a> Order<'a> {
    fn new(cache: &'a Cache) -> Order<'a> {
        Order {
            cache,
            keys: None,
            buffer: VecDeque::new(),
            started: false,
            drained: false,
        }
    }

    fn start(&mut self) {
        if !self.started {
            self.started = true;
            match self.cache.keys() {
                Ok(keys) => self.keys = Some(keys),
                Err(e) => {
                    self.buffer.push_back(Err(e));
                    self.drained = true;
                }
            }
        }
    }

    fn next_key(&mut self) -> Option<Result<Key>> {
        self.start();
        if let Some(key) = self.buffer.pop_front() {
            return Some(key);
        }
        if self.drained {
            return None;
        }
        self.keys.as_mut()?.next()
    }

    fn next_key_back(&mut self) -> Option<Result<Key>> {
        self.start();
        if !self.drained {
            if let Some(keys) = self.keys.take() {
                self.buffer.extend(keys);
            }
            self.drained = true;
        }
        self.buffer.pop_back()
    }

    /// The next key (from the back if `back`) that still has a value, with the value.
    fn next_item<V: DeserializeOwned>(&mut self, back: bool) -> Option<Result<(Key, V)>> {
        loop {
            let key = if back {
                self.next_key_back()?
            } else {
                self.next_key()?
            };
            let key = match key {
                Ok(key) => key,
                Err(e) => return Some(Err(e)),
            };
            match self.cache.get::<V>(key.clone()) {
                Ok(Some(value)) => return Some(Ok((key, value))),
                // Removed since its key was read.
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// Implements `Iterator` and `DoubleEndedIterator` for an index iterator from a function of
/// its `Order` and direction.
macro_rules! index_iterator {
    ($name:ident, $item:ty, |$order:ident, $back:ident| $step:expr) => {
        impl<K: DeserializeOwned, V: DeserializeOwned> Iterator for $name<'_, K, V> {
            type Item = Result<$item>;

            fn next(&mut self) -> Option<Result<$item>> {
                let ($order, $back) = (&mut self.order, false);
                $step
            }
        }

        impl<K: DeserializeOwned, V: DeserializeOwned> DoubleEndedIterator for $name<'_, K, V> {
            fn next_back(&mut self) -> Option<Result<$item>> {
                let ($order, $back) = (&mut self.order, true);
                $step
            }
        }

        impl<K, V> fmt::Debug for $name<'_, K, V> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}

/// The keys of an [`Index`] in insertion order; see [`Index::keys`].
pub struct IndexKeys<'a, K, V> {
    order: Order<'a>,
    _types: PhantomData<fn() -> (K, V)>,
}

/// The values of an [`Index`] in insertion order of their keys; see [`Index::values`].
pub struct IndexValues<'a, K, V> {
    order: Order<'a>,
    _types: PhantomData<fn() -> (K, V)>,
}

/// The items of an [`Index`] in insertion order; see [`Index::iter`].
pub struct IndexIter<'a, K, V> {
    order: Order<'a>,
    _types: PhantomData<fn() -> (K, V)>,
}

index_iterator!(IndexKeys, K, |order, back| {
    let key = if back {
        order.next_key_back()?
    } else {
        order.next_key()?
    };
    Some(key.and_then(|k| k.decode()))
});

index_iterator!(IndexValues, V, |order, back| {
    Some(order.next_item::<V>(back)?.map(|(_, v)| v))
});

index_iterator!(IndexIter, (K, V), |order, back| {
    Some(
        order
            .next_item::<V>(back)?
            .and_then(|(k, v)| Ok((k.decode()?, v))),
    )
});

impl<'a, K, V> IntoIterator for &'a Index<K, V>
where
    K: Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    type Item = Result<(K, V)>;
    type IntoIter = IndexIter<'a, K, V>;

    fn into_iter(self) -> IndexIter<'a, K, V> {
        self.iter()
    }
}
