//! [`AsyncDeque`] and [`AsyncIndex`]: a [`Deque`] and an [`Index`] whose operations run on
//! tokio's blocking pool.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::blocking;
use crate::deque::Deque;
use crate::error::Result;
use crate::index::Index;

/// A [`Deque`] for async code: its point operations as futures run on tokio's blocking
/// pool, and any other operation (or several) through [`AsyncDeque::run`]. Items are moved in
/// and out by value.
pub struct AsyncDeque<T> {
    deque: Deque<T>,
}

impl<T> Clone for AsyncDeque<T> {
    fn clone(&self) -> Self {
        AsyncDeque {
            deque: self.deque.clone(),
        }
    }
}

impl<T> fmt::Debug for AsyncDeque<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncDeque")
            .field("deque", &self.deque)
            .finish()
    }
}

impl<T> AsyncDeque<T>
where
    T: Serialize + DeserializeOwned + Send + 'static,
{
    /// An async handle on `deque` (a clone of the same deque).
    pub fn new(deque: Deque<T>) -> AsyncDeque<T> {
        AsyncDeque { deque }
    }

    /// Opens the deque in `dir` as [`Deque::open`] does, on the blocking pool.
    ///
    /// # Errors
    /// As [`Deque::open`].
    pub fn open(dir: impl AsRef<Path>) -> impl Future<Output = Result<AsyncDeque<T>>> + Send {
        let dir: PathBuf = dir.as_ref().to_owned();
        async move {
            blocking(move || Deque::open(dir))
                .await
                .map(AsyncDeque::new)
        }
    }

    /// The blocking handle.
    pub fn deque(&self) -> &Deque<T> {
        &self.deque
    }

    /// Runs `f` with the deque on the blocking pool: any of its operations, or several (a
    /// [`Deque::transact`], an iteration).
    ///
    /// # Errors
    /// What `f` returns; outside a tokio runtime, [`crate::Error::InvalidArgument`].
    pub fn run<R, F>(&self, f: F) -> impl Future<Output = Result<R>> + Send + 'static
    where
        F: FnOnce(&Deque<T>) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let deque = self.deque.clone();
        blocking(move || f(&deque))
    }

    /// [`Deque::push_back`].
    ///
    /// # Errors
    /// As [`Deque::push_back`].
    pub fn push_back(&self, value: T) -> impl Future<Output = Result<()>> + Send + 'static {
        self.run(move |d| d.push_back(&value))
    }

    /// [`Deque::push_front`].
    ///
    /// # Errors
    /// As [`Deque::push_front`].
    pub fn push_front(&self, value: T) -> impl Future<Output = Result<()>> + Send + 'static {
        self.run(move |d| d.push_front(&value))
    }

    /// [`Deque::pop_back`].
    ///
    /// # Errors
    /// As [`Deque::pop_back`].
    pub fn pop_back(&self) -> impl Future<Output = Result<Option<T>>> + Send + 'static {
        self.run(Deque::pop_back)
    }

    /// [`Deque::pop_front`].
    ///
    /// # Errors
    /// As [`Deque::pop_front`].
    pub fn pop_front(&self) -> impl Future<Output = Result<Option<T>>> + Send + 'static {
        self.run(Deque::pop_front)
    }

    /// [`Deque::peek_back`].
    ///
    /// # Errors
    /// As [`Deque::peek_back`].
    pub fn peek_back(&self) -> impl Future<Output = Result<Option<T>>> + Send + 'static {
        self.run(Deque::peek_back)
    }

    /// [`Deque::peek_front`].
    ///
    /// # Errors
    /// As [`Deque::peek_front`].
    pub fn peek_front(&self) -> impl Future<Output = Result<Option<T>>> + Send + 'static {
        self.run(Deque::peek_front)
    }

    /// [`Deque::get`].
    ///
    /// # Errors
    /// As [`Deque::get`].
    pub fn get(&self, i: i64) -> impl Future<Output = Result<T>> + Send + 'static {
        self.run(move |d| d.get(i))
    }

    /// [`Deque::len`].
    ///
    /// # Errors
    /// As [`Deque::len`].
    pub fn len(&self) -> impl Future<Output = Result<u64>> + Send + 'static {
        self.run(Deque::len)
    }

    /// [`Deque::is_empty`].
    ///
    /// # Errors
    /// As [`Deque::is_empty`].
    pub fn is_empty(&self) -> impl Future<Output = Result<bool>> + Send + 'static {
        self.run(Deque::is_empty)
    }

    /// [`Deque::clear`].
    ///
    /// # Errors
    /// As [`Deque::clear`].
    pub fn clear(&self) -> impl Future<Output = Result<u64>> + Send + 'static {
        self.run(Deque::clear)
    }
}

/// An [`Index`] for async code: its point operations as futures run on tokio's blocking
/// pool, and any other operation (or several) through [`AsyncIndex::run`]. Keys and values
/// are moved in and out by value.
pub struct AsyncIndex<K, V> {
    index: Index<K, V>,
}

impl<K, V> Clone for AsyncIndex<K, V> {
    fn clone(&self) -> Self {
        AsyncIndex {
            index: self.index.clone(),
        }
    }
}

impl<K, V> fmt::Debug for AsyncIndex<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncIndex")
            .field("index", &self.index)
            .finish()
    }
}

impl<K, V> AsyncIndex<K, V>
where
    K: Serialize + DeserializeOwned + Send + 'static,
    V: Serialize + DeserializeOwned + Send + 'static,
{
    /// An async handle on `index` (a clone of the same index).
    pub fn new(index: Index<K, V>) -> AsyncIndex<K, V> {
        AsyncIndex { index }
    }

    /// Opens the index in `dir` as [`Index::open`] does, on the blocking pool.
    ///
    /// # Errors
    /// As [`Index::open`].
    pub fn open(dir: impl AsRef<Path>) -> impl Future<Output = Result<AsyncIndex<K, V>>> + Send {
        let dir: PathBuf = dir.as_ref().to_owned();
        async move {
            blocking(move || Index::open(dir))
                .await
                .map(AsyncIndex::new)
        }
    }

    /// The blocking handle.
    pub fn index(&self) -> &Index<K, V> {
        &self.index
    }

    /// Runs `f` with the index on the blocking pool: any of its operations, or several (an
    /// [`Index::transact`], an iteration).
    ///
    /// # Errors
    /// What `f` returns; outside a tokio runtime, [`crate::Error::InvalidArgument`].
    pub fn run<R, F>(&self, f: F) -> impl Future<Output = Result<R>> + Send + 'static
    where
        F: FnOnce(&Index<K, V>) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let index = self.index.clone();
        blocking(move || f(&index))
    }

    /// [`Index::insert`].
    ///
    /// # Errors
    /// As [`Index::insert`].
    pub fn insert(&self, key: K, value: V) -> impl Future<Output = Result<()>> + Send + 'static {
        self.run(move |i| i.insert(&key, &value))
    }

    /// [`Index::get`].
    ///
    /// # Errors
    /// As [`Index::get`].
    pub fn get(&self, key: K) -> impl Future<Output = Result<Option<V>>> + Send + 'static {
        self.run(move |i| i.get(&key))
    }

    /// [`Index::contains_key`].
    ///
    /// # Errors
    /// As [`Index::contains_key`].
    pub fn contains_key(&self, key: K) -> impl Future<Output = Result<bool>> + Send + 'static {
        self.run(move |i| i.contains_key(&key))
    }

    /// [`Index::remove`].
    ///
    /// # Errors
    /// As [`Index::remove`].
    pub fn remove(&self, key: K) -> impl Future<Output = Result<bool>> + Send + 'static {
        self.run(move |i| i.remove(&key))
    }

    /// [`Index::pop`].
    ///
    /// # Errors
    /// As [`Index::pop`].
    pub fn pop(&self, key: K) -> impl Future<Output = Result<Option<V>>> + Send + 'static {
        self.run(move |i| i.pop(&key))
    }

    /// [`Index::len`].
    ///
    /// # Errors
    /// As [`Index::len`].
    pub fn len(&self) -> impl Future<Output = Result<u64>> + Send + 'static {
        self.run(Index::len)
    }

    /// [`Index::is_empty`].
    ///
    /// # Errors
    /// As [`Index::is_empty`].
    pub fn is_empty(&self) -> impl Future<Output = Result<bool>> + Send + 'static {
        self.run(Index::is_empty)
    }

    /// [`Index::clear`].
    ///
    /// # Errors
    /// As [`Index::clear`].
    pub fn clear(&self) -> impl Future<Output = Result<u64>> + Send + 'static {
        self.run(Index::clear)
    }
}
