//! `Cache::transact`: several operations applied as one atomic write, through the
//! [`Transaction`] handle its closure is given.

use std::cell::RefCell;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cache::Cache;
use crate::engine::write::RowWriter;
use crate::error::{Error, Result};
use crate::format::blob::{self, BlobPath};
use crate::format::key::IntoKey;
use crate::format::payload::Fetched;
use crate::format::row::Row;
use crate::ops::write;
use crate::options::{Entry, Number, SetOptions};

impl Cache {
    /// Runs `f` as one transaction: the operations it makes through the [`Transaction`] it is
    /// given become visible to every thread and process at once, or, if `f` returns an error,
    /// not at all.
    ///
    /// Reads through the transaction see its own earlier writes. The cache's write lock is
    /// held while `f` runs, so keep `f` short: other writers wait for it, readers do not.
    /// Values of at least `min_file_size` bytes are written to their files inside the
    /// transaction (under the lock); a rolled-back transaction deletes them. The time that
    /// decides expiry is read once, when the transaction begins.
    ///
    /// Inside `f`, use the transaction, not the cache: a write through any handle of this
    /// cache on the same thread (or anything that needs the write lock, such as iteration on
    /// the logged write path) returns [`Error::InvalidArgument`] instead of waiting for a
    /// lock its own thread holds. Reads of the cache itself work and see the state before the
    /// transaction. A handle opened separately on the same directory is not recognized: its
    /// writes would wait for the lock until [`Error::Timeout`].
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
    /// cache.set("checking", &100)?;
    /// cache.set("savings", &0)?;
    /// // Move 10 from one counter to the other: no reader ever sees the 10 in both or neither.
    /// let left = cache.transact(|tx| {
    ///     let left: i64 = tx.decr("checking", 10, None)?.try_into()?;
    ///     if left < 0 {
    ///         // Any error rolls the whole transaction back.
    ///         return Err(diskcache::Error::InvalidArgument("insufficient funds".into()));
    ///     }
    ///     tx.incr("savings", 10, None)?;
    ///     Ok(left)
    /// })?;
    /// assert_eq!(left, 90);
    /// assert_eq!(cache.get::<i64>("savings")?, Some(10));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The error `f` returns (nothing is then applied); [`Error::Timeout`] if the write lock
    /// was not had within the timeout; [`Error::InvalidArgument`] if called inside another
    /// transaction of this cache on the same thread; [`Error::Storage`] if an operation
    /// failed part-way through changing rows and `f` went on regardless (the transaction is
    /// then rolled back); [`Error::Io`] if the log cannot be written.
    pub fn transact<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        self.try_transact(f)
    }

    /// As [`Cache::transact`], for a closure that fails with the caller's own error type: its
    /// error rolls the transaction back and is returned as it is.
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
    /// # #[allow(dead_code)]
    /// #[derive(Debug)]
    /// enum Transfer { Cache(diskcache::Error), Overdrawn { balance: i64 } }
    /// impl From<diskcache::Error> for Transfer {
    ///     fn from(e: diskcache::Error) -> Self { Transfer::Cache(e) }
    /// }
    /// cache.set("savings", 100)?;
    /// let moved = cache.try_transact(|tx| {
    ///     let balance: i64 = tx.decr("savings", 150, None)?.try_into()?;
    ///     if balance < 0 {
    ///         return Err(Transfer::Overdrawn { balance });
    ///     }
    ///     Ok(balance)
    /// });
    /// assert!(matches!(moved, Err(Transfer::Overdrawn { balance: -50 })));
    /// assert_eq!(cache.get::<i64>("savings")?, Some(100)); // rolled back
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// What `f` returns; the cache's errors as `E` (as [`Cache::transact`]).
    pub fn try_transact<T, E: From<Error>>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let mut written = WrittenFiles {
            dir: self.directory(),
            files: RefCell::new(Vec::new()),
            kept: false,
        };
        if crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::TransactNotAtomic) {
            // Negative control (`sabotage`): each operation of `f` is its own write, so other
            // processes can see a transaction half applied.
            written.kept = true;
            return f(&Transaction::new(self, None, &written.files));
        }
        let store = self.store()?;
        let mut caller_error = None;
        let result = store.write(|w| {
            let _inside = store.enter_transact();
            let tx = Transaction::new(self, Some(w), &written.files);
            let result = crate::caller::run(|| f(&tx));
            match (result, tx.broken.take()) {
                (Ok(_), Some(failure)) => Err(rolled_back(&failure)),
                (Ok(value), None) => Ok(value),
                (Err(e), _) => Err(caller_failed(&mut caller_error, e)),
            }
        });
        written.kept = result
            .as_ref()
            .map_or_else(Error::outcome_unknown, |_| true);
        match caller_error {
            Some(e) => Err(e),
            None => Ok(result?),
        }
    }
}

/// Keeps the error of the caller's closure in `slot` and returns the error that makes the
/// write around it roll back (and that the caller never sees: `slot` is returned instead).
fn caller_failed<E>(slot: &mut Option<E>, e: E) -> Error {
    *slot = Some(e);
    Error::InvalidArgument("the transaction's closure failed".into())
}

/// Runs `f` with one transaction on each of `caches`, each inside its cache's write, the
/// write locks taken in the order of `caches` (so two callers with the same order cannot
/// deadlock). Each cache's changes are one atomic block of that cache; they become visible
/// cache by cache as the writes end, the last cache's first. If `f` fails, no cache changes.
pub(crate) fn transact_all<T, E: From<Error>>(
    caches: &[Cache],
    f: impl FnOnce(&[Transaction<'_>]) -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    let mut written: Vec<WrittenFiles<'_>> = caches
        .iter()
        .map(|cache| WrittenFiles {
            dir: cache.directory(),
            files: RefCell::new(Vec::new()),
            kept: false,
        })
        .collect();
    let mut caller_error = None;
    let mut f = Some(|txs: &[Transaction<'_>]| {
        crate::caller::run(|| f(txs)).map_err(|e| caller_failed(&mut caller_error, e))
    });
    let result = nest(caches, caches, &written, Vec::new(), &mut f);
    for w in &mut written {
        w.kept = result
            .as_ref()
            .map_or_else(Error::outcome_unknown, |_| true);
    }
    match caller_error {
        Some(e) => Err(e),
        None => Ok(result?),
    }
}

/// Takes the write of `rest`'s first cache and recurses with its writer added; with none
/// left, runs `f` on a transaction per cache of `all`.
fn nest<T, F: FnOnce(&[Transaction<'_>]) -> Result<T>>(
    all: &[Cache],
    rest: &[Cache],
    written: &[WrittenFiles<'_>],
    writers: Vec<&mut dyn RowWriter>,
    f: &mut Option<F>,
) -> Result<T> {
    let Some((first, rest)) = rest.split_first() else {
        let f = f
            .take()
            .ok_or_else(|| Error::storage("a transaction's closure ran twice"))?;
        let txs: Vec<Transaction<'_>> = all
            .iter()
            .zip(written)
            .zip(writers)
            .map(|((cache, written), w)| Transaction::new(cache, Some(w), &written.files))
            .collect();
        let result = f(&txs);
        let broken = txs.iter().find_map(|tx| tx.broken.take());
        return match (result, broken) {
            (Ok(_), Some(failure)) => Err(rolled_back(&failure)),
            (result, _) => result,
        };
    };
    let store = first.store()?;
    store.write(|w| {
        let _inside = store.enter_transact();
        // Reborrowed for this level's shorter lifetime, with this cache's writer added.
        let mut inner: Vec<&mut dyn RowWriter> = writers.into_iter().map(|x| x as _).collect();
        inner.push(w);
        nest(all, rest, written, inner, f)
    })
}

/// The error of a transaction that `f` went on with after an operation failed part-way.
fn rolled_back(failure: &str) -> Error {
    Error::storage(format!(
        "an operation inside transact failed after it had begun changing rows ({failure}), \
         so the transaction was rolled back"
    ))
}

/// The value files a transaction wrote: deleted when dropped unless kept, so a transaction
/// that fails (or whose closure panics) leaves none behind. They are kept when it commits, and
/// when its commit failed with an unknown outcome (a row may name them).
struct WrittenFiles<'a> {
    dir: &'a Path,
    files: RefCell<Vec<BlobPath>>,
    kept: bool,
}

impl Drop for WrittenFiles<'_> {
    fn drop(&mut self) {
        if !self.kept {
            for path in self.files.get_mut().iter() {
                let _ = blob::remove(self.dir, path);
            }
        }
    }
}

/// The operations of one [`Cache::transact`] call, applied together when its closure
/// returns `Ok`.
///
/// The methods are [`Cache`]'s, with the same meaning; reads see the transaction's own
/// earlier writes. An operation that returns an error has changed nothing, so the closure
/// may handle it and go on (say, `incr` with no default on a missing key). The one
/// exception is a failure of the storage itself part-way through an operation: the
/// transaction is then rolled back whatever the closure returns.
pub struct Transaction<'a> {
    cache: &'a Cache,
    /// The write the operations go to; `None` under the negative control
    /// `Sabotage::TransactNotAtomic`, where each operation is its own write.
    writer: Option<RefCell<Counted<'a>>>,
    /// Value files that rows of this transaction name, deleted if it is rolled back.
    written: &'a RefCell<Vec<BlobPath>>,
    /// Why the transaction can only be rolled back: an operation failed after it had
    /// changed rows.
    broken: RefCell<Option<String>>,
}

impl fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("directory", &self.cache.directory())
            .finish_non_exhaustive()
    }
}

impl<'a> Transaction<'a> {
    fn new(
        cache: &'a Cache,
        writer: Option<&'a mut dyn RowWriter>,
        written: &'a RefCell<Vec<BlobPath>>,
    ) -> Self {
        Transaction {
            cache,
            writer: writer.map(|inner| RefCell::new(Counted { inner, changes: 0 })),
            written,
            broken: RefCell::new(None),
        }
    }

    /// Stores `value` under `key`, with no expire time and no tag.
    ///
    /// # Errors
    /// As [`Cache::set`].
    pub fn set<V: Serialize>(&self, key: impl IntoKey, value: V) -> Result<()> {
        self.set_with(key, value, SetOptions::default())
    }

    /// Stores `value` under `key` with an expire time and a tag.
    ///
    /// # Errors
    /// As [`Cache::set`].
    pub fn set_with<V: Serialize>(
        &self,
        key: impl IntoKey,
        value: V,
        opts: SetOptions,
    ) -> Result<()> {
        self.store_value(key, &value, &opts, false).map(|_| ())
    }

    /// Stores `value` only if `key` is absent (or expired). Returns whether it stored.
    ///
    /// # Errors
    /// As [`Cache::set`].
    pub fn add<V: Serialize>(&self, key: impl IntoKey, value: V, opts: SetOptions) -> Result<bool> {
        self.store_value(key, &value, &opts, true)
    }

    /// The value stored under `key`, or `None` if it is absent or expired, as this
    /// transaction has left it.
    ///
    /// # Errors
    /// As [`Cache::get`].
    pub fn get<V: DeserializeOwned>(&self, key: impl IntoKey) -> Result<Option<V>> {
        let key = key.into_key()?.encode()?;
        self.fetch(&key)?.map(Fetched::value).transpose()
    }

    /// The value with its expire time and tag, as this transaction has left it.
    ///
    /// # Errors
    /// As [`Cache::get`].
    pub fn get_entry<V: DeserializeOwned>(&self, key: impl IntoKey) -> Result<Option<Entry<V>>> {
        let key = key.into_key()?.encode()?;
        self.fetch(&key)?.map(Fetched::entry).transpose()
    }

    /// Whether `key` is present and unexpired, as this transaction has left it.
    ///
    /// # Errors
    /// As [`Cache::contains`].
    pub fn contains(&self, key: impl IntoKey) -> Result<bool> {
        let key = key.into_key()?.encode()?;
        Ok(self.live_row(&key)?.is_some())
    }

    /// Removes `key`. Returns whether a live (unexpired) entry was removed.
    ///
    /// # Errors
    /// As [`Cache::delete`].
    pub fn delete(&self, key: impl IntoKey) -> Result<bool> {
        let key = key.into_key()?.encode()?;
        self.run(|w| write::delete(w, &key))
    }

    /// Sets a live entry's expire time (`None`: never expires). Returns whether the key was
    /// present.
    ///
    /// # Errors
    /// As [`Cache::touch`].
    pub fn touch(&self, key: impl IntoKey, expire: Option<Duration>) -> Result<bool> {
        let key = key.into_key()?.encode()?;
        self.run(|w| write::touch(w, &key, expire))
    }

    /// Adds `delta` to the number stored under `key` and returns the result (a float stays a
    /// float, as [`Cache::incr`]); a missing key starts from `default` (`None`:
    /// [`Error::KeyNotFound`]).
    ///
    /// # Errors
    /// As [`Cache::incr`].
    pub fn incr(&self, key: impl IntoKey, delta: i64, default: Option<i64>) -> Result<Number> {
        let key = key.into_key()?.encode()?;
        self.run(|w| write::incr(w, &key, delta, default))
    }

    /// Subtracts `delta`: `incr(key, -delta, default)`.
    ///
    /// # Errors
    /// As [`Cache::decr`].
    pub fn decr(&self, key: impl IntoKey, delta: i64, default: Option<i64>) -> Result<Number> {
        self.incr(key, write::negate(delta)?, default)
    }

    /// Removes `key` and returns its value, if it was present and live.
    ///
    /// # Errors
    /// As [`Cache::pop`].
    pub fn pop<V: DeserializeOwned>(&self, key: impl IntoKey) -> Result<Option<V>> {
        Ok(self.pop_entry(key)?.map(|e| e.value))
    }

    /// Removes `key` and returns its value with its expire time and tag.
    ///
    /// # Errors
    /// As [`Cache::pop`].
    pub fn pop_entry<V: DeserializeOwned>(&self, key: impl IntoKey) -> Result<Option<Entry<V>>> {
        let key = key.into_key()?.encode()?;
        let cache = self.cache;
        self.run(|w| write::pop_entry(w, &key, |row, k| cache.take_value(row, k), cache.codec()))
    }

    /// Stores `value` (its file written now if it is large); see [`write::set`].
    fn store_value<V: Serialize + ?Sized>(
        &self,
        key: impl IntoKey,
        value: &V,
        opts: &SetOptions,
        only_if_absent: bool,
    ) -> Result<bool> {
        let key = key.into_key()?.encode()?;
        let prepared = self.cache.prepare(value, opts)?;
        let blob_path = prepared.blob.as_ref().map(|b| b.path.clone());
        let stored = self.run(|w| write::set(w, &key, prepared, only_if_absent));
        write::discard_unused(self.cache.directory(), blob_path.as_ref(), &stored);
        if let (Some(path), Ok(true)) = (blob_path, &stored) {
            self.written.borrow_mut().push(path);
        }
        stored
    }

    /// The live row under `key`, as this transaction has left it.
    fn live_row(&self, key: &[u8]) -> Result<Option<Row>> {
        self.run(|w| {
            let row = crate::format::key::long::find(key, &mut |index| w.get(index))?;
            Ok(row.map(|(_, row)| row).filter(|r| !r.is_expired(w.now())))
        })
    }

    /// The live value under `key`, crc-checked.
    fn fetch(&self, key: &[u8]) -> Result<Option<Fetched>> {
        let (row, now) = self.run(|w| {
            let row = crate::format::key::long::find(key, &mut |index| w.get(index))?;
            Ok((row.map(|(_, row)| row), w.now()))
        })?;
        self.cache.fetch_live(row, key, now)
    }

    /// Runs one operation on the transaction's writer. An operation that fails after it
    /// changed rows marks the transaction as one that can only be rolled back.
    fn run<T>(&self, op: impl FnOnce(&mut dyn RowWriter) -> Result<T>) -> Result<T> {
        let Some(writer) = &self.writer else {
            // Negative control (`Sabotage::TransactNotAtomic`): each operation commits alone.
            return self.cache.store()?.write(op);
        };
        let mut writer = writer.try_borrow_mut().map_err(|_| {
            Error::InvalidArgument("the transaction was used from inside its own operation".into())
        })?;
        let before = writer.changes;
        let result = op(&mut *writer);
        if let Err(e) = &result
            && writer.changes != before
        {
            self.broken
                .borrow_mut()
                .get_or_insert_with(|| e.to_string());
        }
        result
    }
}

/// A transaction's writer, counting the changes made through it.
struct Counted<'a> {
    inner: &'a mut dyn RowWriter,
    changes: u64,
}

impl RowWriter for Counted<'_> {
    fn now(&self) -> u64 {
        self.inner.now()
    }
    fn get(&self, key: &[u8]) -> Result<Option<Row>> {
        self.inner.get(key)
    }
    fn next_row_id(&mut self) -> Result<u64> {
        self.inner.next_row_id()
    }
    fn put(&mut self, key: &[u8], row: &Row, old: Option<&Row>) -> Result<()> {
        self.changes += 1;
        self.inner.put(key, row, old)
    }
    fn remove(&mut self, key: &[u8], row: &Row) -> Result<()> {
        self.changes += 1;
        self.inner.remove(key, row)
    }
    fn volume(&self) -> Result<u64> {
        self.inner.volume()
    }
    fn note_insert(&mut self) {
        self.inner.note_insert();
    }
    fn inserts(&self) -> u64 {
        self.inner.inserts()
    }
    fn settle(&mut self, policy: crate::settings::EvictionPolicy) -> Result<()> {
        self.inner.settle(policy)
    }
    fn order_head(
        &mut self,
        order: crate::format::order::Order,
        max: u64,
        limit: usize,
    ) -> Result<Vec<crate::format::order::Candidate>> {
        self.inner.order_head(order, max, limit)
    }
    fn edge_between(
        &mut self,
        low: &[u8],
        high: &[u8],
        last: bool,
    ) -> Result<Option<(Vec<u8>, Row)>> {
        self.inner.edge_between(low, high, last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::row::ValuePlace;
    use crate::format::value::ValueKind;

    /// A writer that holds one row under every key and fails every change after counting it.
    struct FailingWriter;

    impl RowWriter for FailingWriter {
        fn now(&self) -> u64 {
            1
        }
        fn get(&self, _key: &[u8]) -> Result<Option<Row>> {
            Ok(Some(Row {
                row_id: 1,
                store_time: 1,
                expire_time: 0,
                access_time: 1,
                access_count: 0,
                kind: ValueKind::Int,
                packed: false,
                size: 8,
                crc32: crc32fast::hash(&[0; 8]),
                tag: None,
                full_key: None,
                place: ValuePlace::Inline(vec![0; 8]),
            }))
        }
        fn next_row_id(&mut self) -> Result<u64> {
            Ok(2)
        }
        fn put(&mut self, _: &[u8], _: &Row, _: Option<&Row>) -> Result<()> {
            Err(Error::storage("the disk went away"))
        }
        fn remove(&mut self, _: &[u8], _: &Row) -> Result<()> {
            Err(Error::storage("the disk went away"))
        }
        fn volume(&self) -> Result<u64> {
            Ok(0)
        }
        fn note_insert(&mut self) {}
        fn inserts(&self) -> u64 {
            0
        }
        fn settle(&mut self, _: crate::settings::EvictionPolicy) -> Result<()> {
            Ok(())
        }
        fn order_head(
            &mut self,
            _: crate::format::order::Order,
            _: u64,
            _: usize,
        ) -> Result<Vec<crate::format::order::Candidate>> {
            Ok(Vec::new())
        }
        fn edge_between(&mut self, _: &[u8], _: &[u8], _: bool) -> Result<Option<(Vec<u8>, Row)>> {
            Ok(None)
        }
    }

    #[test]
    fn an_operation_that_fails_part_way_through_a_change_marks_the_transaction_broken() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let written = RefCell::new(Vec::new());
        let mut writer = FailingWriter;
        let tx = Transaction::new(&cache, Some(&mut writer), &written);
        // A failure before any change (the integer is not a string) leaves it usable.
        assert!(matches!(tx.pop::<String>("k"), Err(Error::Codec(_))));
        assert!(tx.broken.borrow().is_none());
        assert!(matches!(tx.delete("k"), Err(Error::Storage(_))));
        let broken = tx.broken.borrow().clone().unwrap();
        assert!(broken.contains("the disk went away"), "{broken}");
    }
}
