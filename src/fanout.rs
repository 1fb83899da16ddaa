//! `FanoutCache`: a cache split over N independent [`Cache`] shards, each with its own
//! database and write lock, so that writers to different shards never wait for each other.

use std::io::Read;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::builder::CacheBuilder;
use crate::cache::Cache;
use crate::check::Finding;
use crate::deque::Deque;
use crate::error::{Error, Result};
use crate::format::key::{IntoKey, Key};
use crate::index::Index;
use crate::options::{Entry, Number, SetOptions, Stats, Tag};
use crate::progress::Reporter;
use crate::reader::ValueReader;
use crate::settings::{EvictionPolicy, Setting, Settings};

mod builder;
mod progress;
mod transaction;

pub use builder::FanoutBuilder;
use builder::shard_name;
pub use transaction::FanoutTransaction;

/// Shards of a new fanout cache unless the builder says otherwise.
pub const DEFAULT_SHARDS: usize = 8;

/// A cache split over `n` shards (default 8): each key lives in the shard its stable hash
/// names, each shard is a [`Cache`] in its own subdirectory (`000`, `001`, …), and writers to
/// different shards never wait for each other. Python diskcache's `FanoutCache`.
///
/// Where a shard's write lock cannot be had within the timeout, writes return `Ok(false)` and
/// reads or removals their default, instead of [`Error::Timeout`], as diskcache's do: a
/// fanout cache is for callers who would rather skip a cache write than wait.
/// Whole-cache operations (`clear`, `expire`, `evict`, `cull`, `stats`, `reset`) wait instead:
/// a shard that times out is tried again until the operation is done there, as diskcache's
/// do; only `check` (and the tag index's `create`/`drop`) returns [`Error::Timeout`].
///
/// ```
/// # fn main() -> diskcache::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// use diskcache::FanoutCache;
/// let cache = FanoutCache::builder().shards(4).open(dir.path())?;
/// assert!(cache.set("key", &1)?);
/// assert_eq!(cache.get::<i64>("key")?, Some(1));
/// assert_eq!(cache.incr("hits", 1, Some(0))?, Some(diskcache::Number::Int(1)));
/// assert_eq!(cache.len()?, 2);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct FanoutCache {
    dir: Arc<Path>,
    shards: Arc<[Cache]>,
    /// The builder the shards were opened with (less the size limit), for the named
    /// sub-caches.
    template: CacheBuilder,
}

/// `Ok(true)` for success, `Ok(false)` for a timeout, the error otherwise.
fn done(result: Result<()>) -> Result<bool> {
    timed_out_as(result.map(|()| true), false)
}

/// One shard's part of a removal: `Cache::clear_counting` and its kin.
type Removal<'f> = &'f dyn Fn(&Cache, &mut u64, &mut Reporter<'_>) -> Result<ControlFlow<()>>;

/// `f`'s result, calling it again for as long as it times out (Python diskcache's
/// `retry=True`).
fn until_done<T>(mut f: impl FnMut() -> Result<T>) -> Result<T> {
    loop {
        match f() {
            Err(Error::Timeout) => continue,
            other => return other,
        }
    }
}

/// `default` instead of a timeout.
fn timed_out_as<T>(result: Result<T>, default: T) -> Result<T> {
    match result {
        Err(Error::Timeout) => Ok(default),
        other => other,
    }
}

impl FanoutCache {
    /// Opens the fanout cache in `dir` with its recorded shard count (8 for a new one).
    ///
    /// # Errors
    /// As [`FanoutBuilder::open`].
    pub fn open(dir: impl AsRef<Path>) -> Result<FanoutCache> {
        FanoutBuilder::default().open(dir)
    }

    /// A builder to choose the shard count and settings.
    pub fn builder() -> FanoutBuilder {
        FanoutBuilder::default()
    }

    /// The fanout cache's directory.
    pub fn directory(&self) -> &Path {
        &self.dir
    }

    /// The shards, in order.
    pub fn shards(&self) -> &[Cache] {
        &self.shards
    }

    /// Which shard `key` lives in: FNV-1a 64 of the encoded key, mixed by splitmix64's
    /// finalizer, modulo the shard count (`format-spec/directory.md`); the same in every
    /// process, run and platform.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a key that cannot be encoded.
    pub fn shard_index(&self, key: &Key) -> Result<usize> {
        let hash = crate::format::key_hash::key_hash(&key.encode()?);
        // The count is at most 1000, so both conversions are exact.
        Ok((hash % self.shards.len() as u64) as usize)
    }

    pub(crate) fn shard(&self, key: &Key) -> Result<&Cache> {
        let i = self.shard_index(key)?;
        self.shards
            .get(i)
            .ok_or_else(|| Error::storage(format!("shard {i} is missing")))
    }

    /// The settings of the shards, with `size_limit` and `memory_budget` the whole cache's.
    pub fn settings(&self) -> Settings {
        let mut settings = self.shards.first().map(Cache::settings).unwrap_or_default();
        let n = self.shards.len() as u64;
        settings.size_limit = settings.size_limit.saturating_mul(n);
        settings.memory_budget = settings.memory_budget.saturating_mul(n);
        settings
    }

    /// Closes this handle (dropping does the same).
    ///
    /// # Errors
    /// None today.
    pub fn close(self) -> Result<()> {
        drop(self);
        Ok(())
    }

    // ----- point operations: one shard each -----------------------------------------------

    /// Stores `value` under `key`; `Ok(false)` if the shard's write lock was not had in time.
    ///
    /// # Errors
    /// As [`Cache::set`], except [`Error::Timeout`].
    pub fn set<V: Serialize>(&self, key: impl IntoKey, value: V) -> Result<bool> {
        self.set_with(key, value, SetOptions::default())
    }

    /// Stores `value` under `key` with an expire time and a tag; `Ok(false)` on a timeout.
    ///
    /// # Errors
    /// As [`Cache::set_with`], except [`Error::Timeout`].
    pub fn set_with<V: Serialize>(
        &self,
        key: impl IntoKey,
        value: V,
        opts: SetOptions,
    ) -> Result<bool> {
        let key = key.into_key()?;
        done(self.shard(&key)?.set_with(key, value, opts))
    }

    /// Stores the bytes of `reader` under `key`; `Ok(false)` on a timeout.
    ///
    /// # Errors
    /// As [`Cache::set_reader`], except [`Error::Timeout`].
    pub fn set_reader(
        &self,
        key: impl IntoKey,
        reader: impl Read,
        opts: SetOptions,
    ) -> Result<bool> {
        let key = key.into_key()?;
        done(self.shard(&key)?.set_reader(key, reader, opts))
    }

    /// Stores `value` only if `key` is absent; `Ok(false)` if present or on a timeout.
    ///
    /// # Errors
    /// As [`Cache::add`], except [`Error::Timeout`].
    pub fn add<V: Serialize>(&self, key: impl IntoKey, value: V, opts: SetOptions) -> Result<bool> {
        let key = key.into_key()?;
        timed_out_as(self.shard(&key)?.add(key, value, opts), false)
    }

    /// The value under `key`; `None` if absent, expired, or on a timeout.
    ///
    /// # Errors
    /// As [`Cache::get`], except [`Error::Timeout`].
    pub fn get<V: DeserializeOwned>(&self, key: impl IntoKey) -> Result<Option<V>> {
        let key = key.into_key()?;
        timed_out_as(self.shard(&key)?.get(key), None)
    }

    /// The value with its expire time and tag; `None` if absent or on a timeout.
    ///
    /// # Errors
    /// As [`Cache::get_entry`], except [`Error::Timeout`].
    pub fn get_entry<V: DeserializeOwned>(&self, key: impl IntoKey) -> Result<Option<Entry<V>>> {
        let key = key.into_key()?;
        timed_out_as(self.shard(&key)?.get_entry(key), None)
    }

    /// [`Cache::get_entry_uncounted`] in the key's shard; `None` on a timeout.
    pub(crate) fn get_entry_uncounted<V: DeserializeOwned>(
        &self,
        key: &Key,
    ) -> Result<Option<Entry<V>>> {
        timed_out_as(self.shard(key)?.get_entry_uncounted(key), None)
    }

    /// A reader over the value; `None` if absent or on a timeout.
    ///
    /// # Errors
    /// As [`Cache::get_reader`], except [`Error::Timeout`].
    pub fn get_reader(&self, key: impl IntoKey) -> Result<Option<ValueReader>> {
        let key = key.into_key()?;
        timed_out_as(self.shard(&key)?.get_reader(key), None)
    }

    /// Whether `key` is present and unexpired.
    ///
    /// # Errors
    /// As [`Cache::contains`], except [`Error::Timeout`] (`false`).
    pub fn contains(&self, key: impl IntoKey) -> Result<bool> {
        let key = key.into_key()?;
        timed_out_as(self.shard(&key)?.contains(key), false)
    }

    /// Removes `key`; whether a live entry was removed (`false` on a timeout).
    ///
    /// # Errors
    /// As [`Cache::delete`], except [`Error::Timeout`].
    pub fn delete(&self, key: impl IntoKey) -> Result<bool> {
        let key = key.into_key()?;
        timed_out_as(self.shard(&key)?.delete(key), false)
    }

    /// Sets a live entry's expire time; whether the key was present (`false` on a timeout).
    ///
    /// # Errors
    /// As [`Cache::touch`], except [`Error::Timeout`].
    pub fn touch(&self, key: impl IntoKey, expire: Option<Duration>) -> Result<bool> {
        let key = key.into_key()?;
        timed_out_as(self.shard(&key)?.touch(key, expire), false)
    }

    /// Adds `delta` to the number under `key` (starting from `default` if absent) and
    /// returns the result (a float stays a float, as [`Cache::incr`]); `None` on a timeout.
    ///
    /// # Errors
    /// As [`Cache::incr`], except [`Error::Timeout`].
    pub fn incr(
        &self,
        key: impl IntoKey,
        delta: i64,
        default: Option<i64>,
    ) -> Result<Option<Number>> {
        let key = key.into_key()?;
        timed_out_as(self.shard(&key)?.incr(key, delta, default).map(Some), None)
    }

    /// Subtracts `delta`: `incr(key, -delta, default)`; `None` on a timeout.
    ///
    /// # Errors
    /// As [`Cache::decr`], except [`Error::Timeout`].
    pub fn decr(
        &self,
        key: impl IntoKey,
        delta: i64,
        default: Option<i64>,
    ) -> Result<Option<Number>> {
        let key = key.into_key()?;
        timed_out_as(self.shard(&key)?.decr(key, delta, default).map(Some), None)
    }

    /// Removes `key` and returns its value; `None` if absent or on a timeout.
    ///
    /// # Errors
    /// As [`Cache::pop`], except [`Error::Timeout`].
    pub fn pop<V: DeserializeOwned>(&self, key: impl IntoKey) -> Result<Option<V>> {
        let key = key.into_key()?;
        timed_out_as(self.shard(&key)?.pop(key), None)
    }

    /// Removes `key` and returns its value, expire time and tag; `None` if absent or on a
    /// timeout.
    ///
    /// # Errors
    /// As [`Cache::pop_entry`], except [`Error::Timeout`].
    pub fn pop_entry<V: DeserializeOwned>(&self, key: impl IntoKey) -> Result<Option<Entry<V>>> {
        let key = key.into_key()?;
        timed_out_as(self.shard(&key)?.pop_entry(key), None)
    }

    // ----- whole-cache operations: every shard ----------------------------------------------
    //
    // As Python diskcache's `FanoutCache`, these wait for every shard however long that takes:
    // a shard's `Error::Timeout` is tried again until the operation is done there (Python's
    // `_remove` loop, and the `retry=True` of its `stats` and `reset`). Only `check` returns a
    // timeout, as Python's does. A caller who wants a bound uses the shards' own methods.

    /// Sums `f` over the shards, trying a shard again after a timeout.
    fn sum(&self, f: impl Fn(&Cache) -> Result<u64>) -> Result<u64> {
        self.shards
            .iter()
            .try_fold(0u64, |total, shard| Ok(total + until_done(|| f(shard))?))
    }

    /// Sums over the shards what `f` removes, trying a shard again after a timeout and
    /// counting what each try removed before it timed out (Python's `_remove`).
    fn sum_removed(&self, f: Removal<'_>) -> Result<u64> {
        let mut total = 0;
        // A silent reporter never stops it.
        let _ = self.remove_counting(&mut total, &mut Reporter::silent(), f)?;
        Ok(total)
    }

    /// As [`FanoutCache::sum_removed`], adding to `total` and passing each slice to `report`
    /// (its count running over all shards), which may stop it between slices.
    fn remove_counting(
        &self,
        total: &mut u64,
        report: &mut Reporter<'_>,
        f: Removal<'_>,
    ) -> Result<ControlFlow<()>> {
        let shards = self.shards.len();
        for (at, shard) in self.shards.iter().enumerate() {
            report.shard(at, shards);
            // Each shard after the first is announced before it starts (the first was, as
            // the removal started), so a caller can stop between shards.
            if at > 0 && report.report().is_break() {
                return Ok(ControlFlow::Break(()));
            }
            if until_done(|| f(shard, total, report))?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    /// The number of entries in all shards (expired ones count until removed).
    ///
    /// # Errors
    /// As [`Cache::len`], except [`Error::Timeout`] (tried again).
    pub fn len(&self) -> Result<u64> {
        self.sum(Cache::len)
    }

    /// Whether no shard holds an entry.
    ///
    /// # Errors
    /// As [`FanoutCache::len`].
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The summed volume of the shards.
    ///
    /// # Errors
    /// As [`Cache::volume`], except [`Error::Timeout`] (tried again).
    pub fn volume(&self) -> Result<u64> {
        self.sum(Cache::volume)
    }

    /// Removes every entry; returns how many there were. Waits for every shard: a shard's
    /// timeout is tried again, and what it had removed still counts.
    ///
    /// # Errors
    /// As [`Cache::clear`], except [`Error::Timeout`] (tried again).
    pub fn clear(&self) -> Result<u64> {
        self.sum_removed(&Cache::clear_counting)
    }

    /// Removes every expired entry; returns how many. Waits for every shard, as
    /// [`FanoutCache::clear`].
    ///
    /// # Errors
    /// As [`Cache::expire`], except [`Error::Timeout`] (tried again).
    pub fn expire(&self) -> Result<u64> {
        self.sum_removed(&Cache::expire_counting)
    }

    /// Culls every shard to its part of the size limit; returns how many entries went. Waits
    /// for every shard, as [`FanoutCache::clear`].
    ///
    /// # Errors
    /// As [`Cache::cull`], except [`Error::Timeout`] (tried again).
    pub fn cull(&self) -> Result<u64> {
        self.sum_removed(&Cache::cull_counting)
    }

    /// Removes every entry tagged `tag`; returns how many. Waits for every shard, as
    /// [`FanoutCache::clear`].
    ///
    /// # Errors
    /// As [`Cache::evict`], except [`Error::Timeout`] (tried again).
    pub fn evict(&self, tag: impl Into<Tag>) -> Result<u64> {
        let tag = tag.into();
        self.sum_removed(&|shard, total, report| shard.evict_counting(tag.clone(), total, report))
    }

    /// The stored keys, expired ones included until they are removed (as [`Cache::keys`]),
    /// shard by shard (each shard's in insertion order).
    ///
    /// # Errors
    /// As [`Cache::keys`]; each item may carry an error.
    pub fn keys(&self) -> Result<impl Iterator<Item = Result<Key>> + use<>> {
        let shards: Vec<Cache> = self.shards.to_vec();
        let mut iters = Vec::with_capacity(shards.len());
        for shard in &shards {
            iters.push(shard.keys()?);
        }
        Ok(iters.into_iter().flatten())
    }

    /// Hits and misses summed over the shards (see [`Cache::stats`]).
    ///
    /// # Errors
    /// As [`Cache::stats`], except [`Error::Timeout`] (tried again).
    pub fn stats(&self, enable: bool, reset: bool) -> Result<Stats> {
        self.shards.iter().try_fold(Stats::default(), |sum, shard| {
            let stats = until_done(|| shard.stats(enable, reset))?;
            Ok(Stats {
                hits: sum.hits.saturating_add(stats.hits),
                misses: sum.misses.saturating_add(stats.misses),
            })
        })
    }

    /// The highest format version among the shards ([`Cache::format_version`]).
    ///
    /// # Errors
    /// As [`Cache::format_version`].
    pub fn format_version(&self) -> Result<u64> {
        self.shards
            .iter()
            .try_fold(1, |highest, shard| Ok(highest.max(shard.format_version()?)))
    }

    /// Changes a setting in every shard and returns the old value (`SizeLimit` is the whole
    /// cache's: each shard gets an equal part).
    ///
    /// # Errors
    /// As [`Cache::reset`], except [`Error::Timeout`] (tried again).
    pub fn reset(&self, setting: Setting) -> Result<Setting> {
        let n = self.shards.len() as u64;
        let per_shard = match setting {
            Setting::SizeLimit(total) => Setting::SizeLimit(total / n),
            other => other,
        };
        let mut old = None;
        for shard in self.shards.iter() {
            let was = until_done(|| shard.reset(per_shard))?;
            old.get_or_insert(was);
        }
        match old {
            Some(Setting::SizeLimit(part)) => Ok(Setting::SizeLimit(part.saturating_mul(n))),
            Some(was) => Ok(was),
            None => Err(Error::storage("a FanoutCache with no shard")),
        }
    }

    /// Verifies every shard (and with `fix` repairs it) as [`Cache::check`] does; returns the
    /// findings shard by shard in order, each with its shard (whose `Display` prefixes the
    /// shard's directory name, `"003: …"`).
    ///
    /// # Errors
    /// As [`Cache::check`], including [`Error::Timeout`] (the findings would be incomplete).
    pub fn check(&self, fix: bool) -> Result<Vec<ShardFinding>> {
        self.check_reporting(fix, &mut Reporter::silent())
            .map(crate::progress::Outcome::into_value)
    }

    /// Builds the tag index in every shard.
    ///
    /// # Errors
    /// As [`Cache::create_tag_index`].
    pub fn create_tag_index(&self) -> Result<()> {
        self.shards.iter().try_for_each(Cache::create_tag_index)
    }

    /// Drops the tag index in every shard.
    ///
    /// # Errors
    /// As [`Cache::drop_tag_index`].
    pub fn drop_tag_index(&self) -> Result<()> {
        self.shards.iter().try_for_each(Cache::drop_tag_index)
    }

    /// Gives each shard's free database pages back to the file system (see
    /// [`Cache::compact`]).
    ///
    /// # Errors
    /// As [`Cache::compact`].
    pub fn compact(&self) -> Result<()> {
        self.compact_reporting(&mut Reporter::silent())
            .map(crate::progress::Outcome::into_value)
    }

    /// Applies every shard's log to its database (see [`Cache::checkpoint`]).
    ///
    /// # Errors
    /// As [`Cache::checkpoint`].
    pub fn checkpoint(&self) -> Result<()> {
        self.shards.iter().try_for_each(Cache::checkpoint)
    }

    // ----- named sub-caches -------------------------------------------------------------------

    /// The cache named `name` in the subdirectory `cache/<name>` (a `/` in the name makes
    /// deeper directories), opened with this fanout cache's settings and timeout.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty name or one with `..`; as [`Cache::open`].
    pub fn cache(&self, name: &str) -> Result<Cache> {
        self.named("cache", name)
    }

    /// The [`Deque`] named `name`, in `deque/<name>` (eviction policy `None`, as diskcache's
    /// `FanoutCache.deque`), opened with this fanout cache's settings and timeout.
    ///
    /// # Errors
    /// As [`FanoutCache::cache`].
    pub fn deque<T: Serialize + DeserializeOwned>(&self, name: &str) -> Result<Deque<T>> {
        let dir = self.named_dir("deque", name)?;
        let cache = self
            .template
            .clone()
            .eviction_policy(EvictionPolicy::None)
            .open(dir)?;
        Ok(Deque::from_cache(cache))
    }

    /// The [`Index`] named `name`, in `index/<name>` (eviction policy `None`, as diskcache's
    /// `FanoutCache.index`), opened with this fanout cache's settings and timeout.
    ///
    /// # Errors
    /// As [`FanoutCache::cache`].
    pub fn index<K, V>(&self, name: &str) -> Result<Index<K, V>>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        let dir = self.named_dir("index", name)?;
        let cache = self
            .template
            .clone()
            .eviction_policy(EvictionPolicy::None)
            .open(dir)?;
        Ok(Index::from_cache(cache))
    }

    fn named(&self, kind: &str, name: &str) -> Result<Cache> {
        self.template.clone().open(self.named_dir(kind, name)?)
    }

    fn named_dir(&self, kind: &str, name: &str) -> Result<PathBuf> {
        let parts: Vec<&str> = name.split('/').collect();
        if name.is_empty()
            || parts
                .iter()
                .any(|p| p.is_empty() || *p == "." || *p == "..")
        {
            return Err(Error::InvalidArgument(format!(
                "{name:?} is not a sub-cache name: use non-empty parts separated by '/'"
            )));
        }
        let mut dir = self.dir.join(kind);
        dir.extend(parts);
        Ok(dir)
    }
}

/// A [`Finding`] of one shard of a [`FanoutCache`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShardFinding {
    /// The shard's number (its directory is the number in three digits, `003`).
    pub shard: usize,
    /// What `check` found there.
    pub finding: Finding,
}

impl std::fmt::Display for ShardFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", shard_name(self.shard), self.finding)
    }
}
