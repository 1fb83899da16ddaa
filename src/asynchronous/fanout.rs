//! [`AsyncFanoutCache`]: a [`FanoutCache`] whose operations run on tokio's blocking pool.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{AsyncCache, AsyncDeque, AsyncIndex, blocking};
use crate::error::Result;
use crate::fanout::{FanoutCache, ShardFinding};
use crate::format::key::{IntoKey, Key};
use crate::options::{Entry, Number, SetOptions, Stats, Tag};
use crate::settings::{Setting, Settings};

/// A [`FanoutCache`] for async code: each method runs the blocking method of the same name
/// on tokio's blocking pool, as [`AsyncCache`]'s do. A write that cannot get its shard's lock
/// within the timeout returns `false` or `None` (as the blocking call does), and the
/// whole-cache operations wait for every shard, all of it on the blocking pool.
#[derive(Clone, Debug)]
pub struct AsyncFanoutCache {
    cache: FanoutCache,
}

impl From<FanoutCache> for AsyncFanoutCache {
    fn from(cache: FanoutCache) -> AsyncFanoutCache {
        AsyncFanoutCache { cache }
    }
}

impl AsyncFanoutCache {
    /// An async handle on `cache` (a clone of the same open cache).
    pub fn new(cache: FanoutCache) -> AsyncFanoutCache {
        AsyncFanoutCache { cache }
    }

    /// Opens the fanout cache in `dir` as [`FanoutCache::open`] does, on the blocking pool.
    ///
    /// # Errors
    /// As [`FanoutCache::open`].
    pub fn open(dir: impl AsRef<Path>) -> impl Future<Output = Result<AsyncFanoutCache>> + Send {
        let dir: PathBuf = dir.as_ref().to_owned();
        async move {
            blocking(move || FanoutCache::open(dir))
                .await
                .map(AsyncFanoutCache::new)
        }
    }

    /// The blocking handle, for the calls that are fine to make on a runtime thread (see
    /// the module's docs) and for everything this type does not wrap.
    pub fn cache(&self) -> &FanoutCache {
        &self.cache
    }

    /// The blocking handle, by value.
    pub fn into_inner(self) -> FanoutCache {
        self.cache
    }

    /// Runs `f` with the fanout cache on the blocking pool.
    ///
    /// # Errors
    /// What `f` returns; outside a tokio runtime, [`crate::Error::InvalidArgument`].
    pub fn run<T, F>(&self, f: F) -> impl Future<Output = Result<T>> + Send + 'static
    where
        F: FnOnce(&FanoutCache) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let cache = self.cache.clone();
        blocking(move || f(&cache))
    }

    /// [`FanoutCache::set`].
    ///
    /// # Errors
    /// As [`FanoutCache::set`].
    pub fn set<V>(
        &self,
        key: impl IntoKey,
        value: V,
    ) -> impl Future<Output = Result<bool>> + Send + 'static
    where
        V: Serialize + Send + 'static,
    {
        let key = key.into_key();
        self.run(move |c| c.set(key?, value))
    }

    /// [`FanoutCache::set_with`].
    ///
    /// # Errors
    /// As [`FanoutCache::set_with`].
    pub fn set_with<V>(
        &self,
        key: impl IntoKey,
        value: V,
        opts: SetOptions,
    ) -> impl Future<Output = Result<bool>> + Send + 'static
    where
        V: Serialize + Send + 'static,
    {
        let key = key.into_key();
        self.run(move |c| c.set_with(key?, value, opts))
    }

    /// [`FanoutCache::add`].
    ///
    /// # Errors
    /// As [`FanoutCache::add`].
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

    /// [`FanoutCache::get`].
    ///
    /// # Errors
    /// As [`FanoutCache::get`].
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

    /// [`FanoutCache::get_entry`].
    ///
    /// # Errors
    /// As [`FanoutCache::get_entry`].
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

    /// [`FanoutCache::contains`].
    ///
    /// # Errors
    /// As [`FanoutCache::contains`].
    pub fn contains(
        &self,
        key: impl IntoKey,
    ) -> impl Future<Output = Result<bool>> + Send + 'static {
        let key = key.into_key();
        self.run(move |c| c.contains(key?))
    }

    /// [`FanoutCache::delete`].
    ///
    /// # Errors
    /// As [`FanoutCache::delete`].
    pub fn delete(&self, key: impl IntoKey) -> impl Future<Output = Result<bool>> + Send + 'static {
        let key = key.into_key();
        self.run(move |c| c.delete(key?))
    }

    /// [`FanoutCache::touch`].
    ///
    /// # Errors
    /// As [`FanoutCache::touch`].
    pub fn touch(
        &self,
        key: impl IntoKey,
        expire: Option<Duration>,
    ) -> impl Future<Output = Result<bool>> + Send + 'static {
        let key = key.into_key();
        self.run(move |c| c.touch(key?, expire))
    }

    /// [`FanoutCache::incr`].
    ///
    /// # Errors
    /// As [`FanoutCache::incr`].
    pub fn incr(
        &self,
        key: impl IntoKey,
        delta: i64,
        default: Option<i64>,
    ) -> impl Future<Output = Result<Option<Number>>> + Send + 'static {
        let key = key.into_key();
        self.run(move |c| c.incr(key?, delta, default))
    }

    /// [`FanoutCache::decr`].
    ///
    /// # Errors
    /// As [`FanoutCache::decr`].
    pub fn decr(
        &self,
        key: impl IntoKey,
        delta: i64,
        default: Option<i64>,
    ) -> impl Future<Output = Result<Option<Number>>> + Send + 'static {
        let key = key.into_key();
        self.run(move |c| c.decr(key?, delta, default))
    }

    /// [`FanoutCache::pop`].
    ///
    /// # Errors
    /// As [`FanoutCache::pop`].
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

    /// [`FanoutCache::get_or_insert_with`]: `f` runs on the blocking pool.
    ///
    /// # Errors
    /// As [`FanoutCache::get_or_insert_with`].
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

    /// [`FanoutCache::len`].
    ///
    /// # Errors
    /// As [`FanoutCache::len`].
    pub fn len(&self) -> impl Future<Output = Result<u64>> + Send + 'static {
        self.run(FanoutCache::len)
    }

    /// [`FanoutCache::is_empty`].
    ///
    /// # Errors
    /// As [`FanoutCache::is_empty`].
    pub fn is_empty(&self) -> impl Future<Output = Result<bool>> + Send + 'static {
        self.run(FanoutCache::is_empty)
    }

    /// [`FanoutCache::volume`].
    ///
    /// # Errors
    /// As [`FanoutCache::volume`].
    pub fn volume(&self) -> impl Future<Output = Result<u64>> + Send + 'static {
        self.run(FanoutCache::volume)
    }

    /// Every key of [`FanoutCache::keys`], collected on the blocking pool.
    ///
    /// # Errors
    /// As [`FanoutCache::keys`] and its items.
    pub fn keys(&self) -> impl Future<Output = Result<Vec<Key>>> + Send + 'static {
        self.run(|c| c.keys()?.collect())
    }

    /// [`FanoutCache::clear`].
    ///
    /// # Errors
    /// As [`FanoutCache::clear`].
    pub fn clear(&self) -> impl Future<Output = Result<u64>> + Send + 'static {
        self.run(FanoutCache::clear)
    }

    /// [`FanoutCache::expire`].
    ///
    /// # Errors
    /// As [`FanoutCache::expire`].
    pub fn expire(&self) -> impl Future<Output = Result<u64>> + Send + 'static {
        self.run(FanoutCache::expire)
    }

    /// [`FanoutCache::evict`].
    ///
    /// # Errors
    /// As [`FanoutCache::evict`].
    pub fn evict(&self, tag: impl Into<Tag>) -> impl Future<Output = Result<u64>> + Send + 'static {
        let tag = tag.into();
        self.run(move |c| c.evict(tag))
    }

    /// [`FanoutCache::cull`].
    ///
    /// # Errors
    /// As [`FanoutCache::cull`].
    pub fn cull(&self) -> impl Future<Output = Result<u64>> + Send + 'static {
        self.run(FanoutCache::cull)
    }

    /// [`FanoutCache::check`].
    ///
    /// # Errors
    /// As [`FanoutCache::check`].
    pub fn check(
        &self,
        fix: bool,
    ) -> impl Future<Output = Result<Vec<ShardFinding>>> + Send + 'static {
        self.run(move |c| c.check(fix))
    }

    /// [`FanoutCache::compact`].
    ///
    /// # Errors
    /// As [`FanoutCache::compact`].
    pub fn compact(&self) -> impl Future<Output = Result<()>> + Send + 'static {
        self.run(FanoutCache::compact)
    }

    /// [`FanoutCache::stats`].
    ///
    /// # Errors
    /// As [`FanoutCache::stats`].
    pub fn stats(
        &self,
        enable: bool,
        reset: bool,
    ) -> impl Future<Output = Result<Stats>> + Send + 'static {
        self.run(move |c| c.stats(enable, reset))
    }

    /// [`FanoutCache::reset`].
    ///
    /// # Errors
    /// As [`FanoutCache::reset`].
    pub fn reset(
        &self,
        setting: Setting,
    ) -> impl Future<Output = Result<Setting>> + Send + 'static {
        self.run(move |c| c.reset(setting))
    }

    /// [`FanoutCache::checkpoint`].
    ///
    /// # Errors
    /// As [`FanoutCache::checkpoint`].
    pub fn checkpoint(&self) -> impl Future<Output = Result<()>> + Send + 'static {
        self.run(FanoutCache::checkpoint)
    }

    /// The named cache of [`FanoutCache::cache`], opened on the blocking pool, as an
    /// [`AsyncCache`] (for the recipes, say).
    ///
    /// # Errors
    /// As [`FanoutCache::cache`].
    pub fn named_cache(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<AsyncCache>> + Send + 'static {
        let name = name.to_owned();
        let opened = self.run(move |c| c.cache(&name));
        async move { opened.await.map(AsyncCache::new) }
    }

    /// The named deque of [`FanoutCache::deque`], opened on the blocking pool.
    ///
    /// # Errors
    /// As [`FanoutCache::deque`].
    pub fn deque<T>(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<AsyncDeque<T>>> + Send + 'static
    where
        T: Serialize + DeserializeOwned + Send + 'static,
    {
        let name = name.to_owned();
        let opened = self.run(move |c| c.deque(&name));
        async move { opened.await.map(AsyncDeque::new) }
    }

    /// The named index of [`FanoutCache::index`], opened on the blocking pool.
    ///
    /// # Errors
    /// As [`FanoutCache::index`].
    pub fn index<K, V>(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<AsyncIndex<K, V>>> + Send + 'static
    where
        K: Serialize + DeserializeOwned + Send + 'static,
        V: Serialize + DeserializeOwned + Send + 'static,
    {
        let name = name.to_owned();
        let opened = self.run(move |c| c.index(&name));
        async move { opened.await.map(AsyncIndex::new) }
    }

    /// [`FanoutCache::settings`] (read from memory: no hop).
    pub fn settings(&self) -> Settings {
        self.cache.settings()
    }

    /// [`FanoutCache::directory`] (no hop).
    pub fn directory(&self) -> &Path {
        self.cache.directory()
    }

    /// [`FanoutCache::close`], on the blocking pool.
    ///
    /// # Errors
    /// As [`FanoutCache::close`].
    pub fn close(self) -> impl Future<Output = Result<()>> + Send + 'static {
        let cache = self.cache;
        blocking(move || cache.close())
    }
}
