//! `FanoutTransaction`: several operations on a [`FanoutCache`] under every shard's write
//! lock, as diskcache's `FanoutCache.transact` does.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::FanoutCache;
use crate::error::{Error, Result};
use crate::format::key::{IntoKey, Key};
use crate::options::{Entry, Number, SetOptions};
use crate::transaction::Transaction;

/// The operations of [`FanoutCache::transact`]: each goes to its key's shard, inside that
/// shard's transaction. Reads see the transaction's own writes.
pub struct FanoutTransaction<'s, 't> {
    fanout: &'s FanoutCache,
    /// One transaction per shard, in shard order.
    shards: &'s [Transaction<'t>],
}

impl fmt::Debug for FanoutTransaction<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanoutTransaction")
            .field("directory", &self.fanout.directory())
            .finish_non_exhaustive()
    }
}

impl<'t> FanoutTransaction<'_, 't> {
    fn shard(&self, key: &Key) -> Result<&Transaction<'t>> {
        let i = self.fanout.shard_index(key)?;
        self.shards
            .get(i)
            .ok_or_else(|| Error::storage(format!("shard {i} has no transaction")))
    }

    /// Stores `value` under `key` (see [`Transaction::set`]).
    ///
    /// # Errors
    /// As [`Transaction::set`].
    pub fn set<V: Serialize>(&self, key: impl IntoKey, value: V) -> Result<()> {
        let key = key.into_key()?;
        self.shard(&key)?.set(key, value)
    }

    /// Stores `value` under `key` with an expire time and a tag.
    ///
    /// # Errors
    /// As [`Transaction::set_with`].
    pub fn set_with<V: Serialize>(
        &self,
        key: impl IntoKey,
        value: V,
        opts: SetOptions,
    ) -> Result<()> {
        let key = key.into_key()?;
        self.shard(&key)?.set_with(key, value, opts)
    }

    /// Stores `value` only if `key` is absent; whether it stored.
    ///
    /// # Errors
    /// As [`Transaction::add`].
    pub fn add<V: Serialize>(&self, key: impl IntoKey, value: V, opts: SetOptions) -> Result<bool> {
        let key = key.into_key()?;
        self.shard(&key)?.add(key, value, opts)
    }

    /// The value under `key`, as this transaction has left it.
    ///
    /// # Errors
    /// As [`Transaction::get`].
    pub fn get<V: DeserializeOwned>(&self, key: impl IntoKey) -> Result<Option<V>> {
        let key = key.into_key()?;
        self.shard(&key)?.get(key)
    }

    /// The value with its expire time and tag.
    ///
    /// # Errors
    /// As [`Transaction::get_entry`].
    pub fn get_entry<V: DeserializeOwned>(&self, key: impl IntoKey) -> Result<Option<Entry<V>>> {
        let key = key.into_key()?;
        self.shard(&key)?.get_entry(key)
    }

    /// Whether `key` is present and unexpired.
    ///
    /// # Errors
    /// As [`Transaction::contains`].
    pub fn contains(&self, key: impl IntoKey) -> Result<bool> {
        let key = key.into_key()?;
        self.shard(&key)?.contains(key)
    }

    /// Removes `key`; whether a live entry was removed.
    ///
    /// # Errors
    /// As [`Transaction::delete`].
    pub fn delete(&self, key: impl IntoKey) -> Result<bool> {
        let key = key.into_key()?;
        self.shard(&key)?.delete(key)
    }

    /// Sets a live entry's expire time; whether the key was present.
    ///
    /// # Errors
    /// As [`Transaction::touch`].
    pub fn touch(&self, key: impl IntoKey, expire: Option<Duration>) -> Result<bool> {
        let key = key.into_key()?;
        self.shard(&key)?.touch(key, expire)
    }

    /// Adds `delta` to the integer under `key` and returns the result.
    ///
    /// # Errors
    /// As [`Transaction::incr`].
    pub fn incr(&self, key: impl IntoKey, delta: i64, default: Option<i64>) -> Result<Number> {
        let key = key.into_key()?;
        self.shard(&key)?.incr(key, delta, default)
    }

    /// Subtracts `delta` from the integer under `key` and returns the result.
    ///
    /// # Errors
    /// As [`Transaction::decr`].
    pub fn decr(&self, key: impl IntoKey, delta: i64, default: Option<i64>) -> Result<Number> {
        let key = key.into_key()?;
        self.shard(&key)?.decr(key, delta, default)
    }

    /// Removes `key` and returns its value.
    ///
    /// # Errors
    /// As [`Transaction::pop`].
    pub fn pop<V: DeserializeOwned>(&self, key: impl IntoKey) -> Result<Option<V>> {
        let key = key.into_key()?;
        self.shard(&key)?.pop(key)
    }

    /// Removes `key` and returns its value with its expire time and tag.
    ///
    /// # Errors
    /// As [`Transaction::pop_entry`].
    pub fn pop_entry<V: DeserializeOwned>(&self, key: impl IntoKey) -> Result<Option<Entry<V>>> {
        let key = key.into_key()?;
        self.shard(&key)?.pop_entry(key)
    }
}

impl FanoutCache {
    /// Runs `f` holding every shard's write lock (taken in shard order), so that no other
    /// thread or process writes to the cache meanwhile (diskcache's `FanoutCache.transact`).
    /// Each shard's changes are one atomic block of that shard, and if `f` fails no shard
    /// changes; but shards commit one after another, so other processes may see one shard's
    /// changes a moment before another's, and a crash in between keeps some (diskcache's is
    /// the same: its shards are separate databases).
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let cache = diskcache::FanoutCache::builder().shards(4).open(dir.path())?;
    /// cache.set("from", &100)?;
    /// cache.transact(|tx| {
    ///     tx.decr("from", 10, None)?;
    ///     tx.incr("to", 10, Some(0))
    /// })?;
    /// assert_eq!(cache.get::<i64>("to")?, Some(10));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// What `f` returns (then nothing changes); [`Error::Timeout`] if a shard's write lock was
    /// not had within the timeout (a transaction waits rather than giving up with `false`);
    /// as [`crate::Cache::transact`].
    pub fn transact<T>(
        &self,
        f: impl FnOnce(&FanoutTransaction<'_, '_>) -> Result<T>,
    ) -> Result<T> {
        self.try_transact(f)
    }

    /// As [`FanoutCache::transact`], for a closure that fails with the caller's own error type
    /// (see [`crate::Cache::try_transact`]).
    ///
    /// # Errors
    /// What `f` returns; the cache's errors as `E` (as [`FanoutCache::transact`]).
    pub fn try_transact<T, E: From<Error>>(
        &self,
        f: impl FnOnce(&FanoutTransaction<'_, '_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        crate::transaction::transact_all(self.shards(), |shards| {
            f(&FanoutTransaction {
                fanout: self,
                shards,
            })
        })
    }
}
