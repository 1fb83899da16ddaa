//! [`AsyncCache`]: a [`Cache`] whose operations run on tokio's blocking pool.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::blocking;
use crate::cache::Cache;
use crate::check::Finding;
use crate::error::Result;
use crate::format::key::{IntoKey, Key};
use crate::options::{Entry, Number, SetOptions, Side, Stats, Tag};
use crate::settings::{Setting, Settings};
use crate::transaction::Transaction;

/// A [`Cache`] for async code: each method runs the blocking method of the same name on
/// tokio's blocking pool and returns a future of its result (see the module's docs for what
/// may skip the hop). Clones share one open cache, as a [`Cache`]'s do.
///
/// The futures own what they need (`'static` and `Send`), so they can be handed to
/// `tokio::spawn`. Values are moved in (any `Serialize + Send + 'static` type: an owned
/// `String`, a `Vec`, a struct) and typed values come back as the blocking calls return them.
#[derive(Clone, Debug)]
pub struct AsyncCache {
    cache: Cache,
}

impl From<Cache> for AsyncCache {
    fn from(cache: Cache) -> AsyncCache {
        AsyncCache { cache }
    }
}

impl AsyncCache {
    /// An async handle on `cache` (a clone of the same open cache).
    pub fn new(cache: Cache) -> AsyncCache {
        AsyncCache { cache }
    }

    /// Opens the cache in `dir` as [`Cache::open`] does, on the blocking pool (an open may
    /// recover or check the cache first).
    ///
    /// # Errors
    /// As [`Cache::open`].
    pub fn open(dir: impl AsRef<Path>) -> impl Future<Output = Result<AsyncCache>> + Send {
        let dir: PathBuf = dir.as_ref().to_owned();
        async move {
            blocking(move || Cache::open(dir))
                .await
                .map(AsyncCache::new)
        }
    }

    /// The blocking handle, for the calls that are fine to make on a runtime thread (the
    /// module's docs list them) and for everything this type does not wrap.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The blocking handle, by value.
    pub fn into_inner(self) -> Cache {
        self.cache
    }

    /// Runs `f` with the cache on the blocking pool: any blocking operation, or several in a
    /// row, without blocking a worker thread (a recipe of [`crate::recipes`], an iteration,
    /// [`Cache::get_reader`], a [`crate::Memo`]).
    ///
    /// # Errors
    /// What `f` returns; outside a tokio runtime, [`crate::Error::InvalidArgument`].
    pub fn run<T, F>(&self, f: F) -> impl Future<Output = Result<T>> + Send + 'static
    where
        F: FnOnce(&Cache) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let cache = self.cache.clone();
        blocking(move || f(&cache))
    }

    /// [`Cache::set`].
    ///
    /// # Errors
    /// As [`Cache::set`].
    pub fn set<V>(
        &self,
        key: impl IntoKey,
        value: V,
    ) -> impl Future<Output = Result<()>> + Send + 'static
    where
        V: Serialize + Send + 'static,
    {
        let key = key.into_key();
        self.run(move |c| c.set(key?, value))
    }

    /// [`Cache::set_with`].
    ///
    /// # Errors
    /// As [`Cache::set_with`].
    pub fn set_with<V>(
        &self,
        key: impl IntoKey,
        value: V,
        opts: SetOptions,
    ) -> impl Future<Output = Result<()>> + Send + 'static
    where
        V: Serialize + Send + 'static,
    {
        let key = key.into_key();
        self.run(move |c| c.set_with(key?, value, opts))
    }

    /// [`Cache::add`].
    ///
    /// # Errors
    /// As [`Cache::add`].
    pub fn add<V>(
        &self,
        key: impl IntoKey,
        value: V,
        opts: SetOptions,
    ) -> impl Future<Output = Result<bool>> + Send + 'static
    where
        V: Serialize + Send + 'static,
    {
        let key = key.into_key();
        self.run(move |c| c.add(key?, value, opts))
    }

    /// [`Cache::get`].
    ///
    /// # Errors
    /// As [`Cache::get`].
    pub fn get<V>(
        &self,
        key: impl IntoKey,
    ) -> impl Future<Output = Result<Option<V>>> + Send + 'static
    where
        V: DeserializeOwned + Send + 'static,
    {
        let key = key.into_key();
        self.run(move |c| c.get(key?))
    }

    /// [`Cache::get_entry`].
    ///
    /// # Errors
    /// As [`Cache::get_entry`].
    pub fn get_entry<V>(
        &self,
        key: impl IntoKey,
    ) -> impl Future<Output = Result<Option<Entry<V>>>> + Send + 'static
    where
        V: DeserializeOwned + Send + 'static,
    {
        let key = key.into_key();
        self.run(move |c| c.get_entry(key?))
    }

    /// [`Cache::contains`].
    ///
    /// # Errors
    /// As [`Cache::contains`].
    pub fn contains(
        &self,
        key: impl IntoKey,
    ) -> impl Future<Output = Result<bool>> + Send + 'static {
        let key = key.into_key();
        self.run(move |c| c.contains(key?))
    }

    /// [`Cache::delete`].
    ///
    /// # Errors
    /// As [`Cache::delete`].
    pub fn delete(&self, key: impl IntoKey) -> impl Future<Output = Result<bool>> + Send + 'static {
        let key = key.into_key();
        self.run(move |c| c.delete(key?))
    }

    /// [`Cache::touch`].
    ///
    /// # Errors
    /// As [`Cache::touch`].
    pub fn touch(
        &self,
        key: impl IntoKey,
        expire: Option<Duration>,
    ) -> impl Future<Output = Result<bool>> + Send + 'static {
        let key = key.into_key();
        self.run(move |c| c.touch(key?, expire))
    }

    /// [`Cache::incr`].
    ///
    /// # Errors
    /// As [`Cache::incr`].
    pub fn incr(
        &self,
        key: impl IntoKey,
        delta: i64,
        default: Option<i64>,
    ) -> impl Future<Output = Result<Number>> + Send + 'static {
        let key = key.into_key();
        self.run(move |c| c.incr(key?, delta, default))
    }

    /// [`Cache::decr`].
    ///
    /// # Errors
    /// As [`Cache::decr`].
    pub fn decr(
        &self,
        key: impl IntoKey,
        delta: i64,
        default: Option<i64>,
    ) -> impl Future<Output = Result<Number>> + Send + 'static {
        let key = key.into_key();
        self.run(move |c| c.decr(key?, delta, default))
    }

    /// [`Cache::pop`].
    ///
    /// # Errors
    /// As [`Cache::pop`].
    pub fn pop<V>(
        &self,
        key: impl IntoKey,
    ) -> impl Future<Output = Result<Option<V>>> + Send + 'static
    where
        V: DeserializeOwned + Send + 'static,
    {
        let key = key.into_key();
        self.run(move |c| c.pop(key?))
    }

    /// [`Cache::pop_entry`].
    ///
    /// # Errors
    /// As [`Cache::pop_entry`].
    pub fn pop_entry<V>(
        &self,
        key: impl IntoKey,
    ) -> impl Future<Output = Result<Option<Entry<V>>>> + Send + 'static
    where
        V: DeserializeOwned + Send + 'static,
    {
        let key = key.into_key();
        self.run(move |c| c.pop_entry(key?))
    }

    /// [`Cache::get_or_insert_with`]: `f` runs on the blocking pool, once however many tasks
    /// miss the key at once.
    ///
    /// # Errors
    /// As [`Cache::get_or_insert_with`].
    pub fn get_or_insert_with<V, F>(
        &self,
        key: impl IntoKey,
        f: F,
    ) -> impl Future<Output = Result<V>> + Send + 'static
    where
        V: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> V + Send + 'static,
    {
        let key = key.into_key();
        self.run(move |c| c.get_or_insert_with(key?, f))
    }

    /// [`Cache::transact`]: `f` runs on the blocking pool, holding the write lock.
    ///
    /// # Errors
    /// As [`Cache::transact`].
    pub fn transact<T, F>(&self, f: F) -> impl Future<Output = Result<T>> + Send + 'static
    where
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.run(move |c| c.transact(f))
    }

    /// [`Cache::push`].
    ///
    /// # Errors
    /// As [`Cache::push`].
    pub fn push<V>(
        &self,
        value: V,
        prefix: Option<&str>,
        side: Side,
        opts: SetOptions,
    ) -> impl Future<Output = Result<Key>> + Send + 'static
    where
        V: Serialize + Send + 'static,
    {
        let prefix = prefix.map(str::to_owned);
        self.run(move |c| c.push(value, prefix.as_deref(), side, opts))
    }

    /// [`Cache::pull`].
    ///
    /// # Errors
    /// As [`Cache::pull`].
    pub fn pull<V>(
        &self,
        prefix: Option<&str>,
        side: Side,
    ) -> impl Future<Output = Result<Option<(Key, V)>>> + Send + 'static
    where
        V: DeserializeOwned + Send + 'static,
    {
        let prefix = prefix.map(str::to_owned);
        self.run(move |c| c.pull(prefix.as_deref(), side))
    }

    /// [`Cache::peek`].
    ///
    /// # Errors
    /// As [`Cache::peek`].
    pub fn peek<V>(
        &self,
        prefix: Option<&str>,
        side: Side,
    ) -> impl Future<Output = Result<Option<(Key, V)>>> + Send + 'static
    where
        V: DeserializeOwned + Send + 'static,
    {
        let prefix = prefix.map(str::to_owned);
        self.run(move |c| c.peek(prefix.as_deref(), side))
    }

    /// [`Cache::peekitem`].
    ///
    /// # Errors
    /// As [`Cache::peekitem`].
    pub fn peekitem<V>(
        &self,
        last: bool,
    ) -> impl Future<Output = Result<Option<(Key, V)>>> + Send + 'static
    where
        V: DeserializeOwned + Send + 'static,
    {
        self.run(move |c| c.peekitem(last))
    }

    /// [`Cache::len`].
    ///
    /// # Errors
    /// As [`Cache::len`].
    pub fn len(&self) -> impl Future<Output = Result<u64>> + Send + 'static {
        self.run(Cache::len)
    }

    /// [`Cache::is_empty`].
    ///
    /// # Errors
    /// As [`Cache::is_empty`].
    pub fn is_empty(&self) -> impl Future<Output = Result<bool>> + Send + 'static {
        self.run(Cache::is_empty)
    }

    /// [`Cache::volume`].
    ///
    /// # Errors
    /// As [`Cache::volume`].
    pub fn volume(&self) -> impl Future<Output = Result<u64>> + Send + 'static {
        self.run(Cache::volume)
    }

    /// Every key of [`Cache::keys`], in insertion order, collected on the blocking pool.
    ///
    /// # Errors
    /// As [`Cache::keys`] and its items.
    pub fn keys(&self) -> impl Future<Output = Result<Vec<Key>>> + Send + 'static {
        self.run(|c| c.keys()?.collect())
    }

    /// Every key of [`Cache::keys_sorted`], collected on the blocking pool.
    ///
    /// # Errors
    /// As [`Cache::keys_sorted`] and its items.
    pub fn keys_sorted(
        &self,
        reverse: bool,
    ) -> impl Future<Output = Result<Vec<Key>>> + Send + 'static {
        self.run(move |c| c.keys_sorted(reverse)?.collect())
    }

    /// [`Cache::clear`].
    ///
    /// # Errors
    /// As [`Cache::clear`].
    pub fn clear(&self) -> impl Future<Output = Result<u64>> + Send + 'static {
        self.run(Cache::clear)
    }

    /// [`Cache::expire`].
    ///
    /// # Errors
    /// As [`Cache::expire`].
    pub fn expire(&self) -> impl Future<Output = Result<u64>> + Send + 'static {
        self.run(Cache::expire)
    }

    /// [`Cache::evict`].
    ///
    /// # Errors
    /// As [`Cache::evict`].
    pub fn evict(&self, tag: impl Into<Tag>) -> impl Future<Output = Result<u64>> + Send + 'static {
        let tag = tag.into();
        self.run(move |c| c.evict(tag))
    }

    /// [`Cache::cull`].
    ///
    /// # Errors
    /// As [`Cache::cull`].
    pub fn cull(&self) -> impl Future<Output = Result<u64>> + Send + 'static {
        self.run(Cache::cull)
    }

    /// [`Cache::check`].
    ///
    /// # Errors
    /// As [`Cache::check`].
    pub fn check(&self, fix: bool) -> impl Future<Output = Result<Vec<Finding>>> + Send + 'static {
        self.run(move |c| c.check(fix))
    }

    /// [`Cache::compact`].
    ///
    /// # Errors
    /// As [`Cache::compact`].
    pub fn compact(&self) -> impl Future<Output = Result<()>> + Send + 'static {
        self.run(Cache::compact)
    }

    /// [`Cache::stats`].
    ///
    /// # Errors
    /// As [`Cache::stats`].
    pub fn stats(
        &self,
        enable: bool,
        reset: bool,
    ) -> impl Future<Output = Result<Stats>> + Send + 'static {
        self.run(move |c| c.stats(enable, reset))
    }

    /// [`Cache::reset`].
    ///
    /// # Errors
    /// As [`Cache::reset`].
    pub fn reset(
        &self,
        setting: Setting,
    ) -> impl Future<Output = Result<Setting>> + Send + 'static {
        self.run(move |c| c.reset(setting))
    }

    /// [`Cache::checkpoint`].
    ///
    /// # Errors
    /// As [`Cache::checkpoint`].
    pub fn checkpoint(&self) -> impl Future<Output = Result<()>> + Send + 'static {
        self.run(Cache::checkpoint)
    }

    /// [`Cache::settings`] (read from memory: no hop).
    pub fn settings(&self) -> Settings {
        self.cache.settings()
    }

    /// [`Cache::directory`] (no hop).
    pub fn directory(&self) -> &Path {
        self.cache.directory()
    }

    /// [`Cache::close`]: applies the log and writes what this process noted, on the blocking
    /// pool. Dropping an `AsyncCache` instead does that flush on the thread that drops the last
    /// clone, waiting at most 100 ms for the write lock.
    ///
    /// # Errors
    /// As [`Cache::close`].
    pub fn close(self) -> impl Future<Output = Result<()>> + Send + 'static {
        let cache = self.cache;
        blocking(move || cache.close())
    }
}
