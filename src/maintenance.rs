//! Whole-cache maintenance: `clear`, `expire`, `evict` and `cull` in bounded transactions,
//! and the settings every process shares (`reset`, `stats`, the tag index).

use crate::cache::Cache;
use crate::error::Result;
use crate::evict::{self, Order};
use crate::options::Tag;
use crate::settings::{EvictionPolicy, Setting};
use crate::time;
use crate::txn::RowWriter;

/// How many entries one transaction of a whole-cache removal handles, so that it never holds
/// the write lock for long and can be interrupted between batches.
const BATCH: usize = 1000;

impl Cache {
    /// Removes every entry and returns how many there were. Works in batches of 1,000
    /// entries per transaction, so other writers get turns and an interrupted clear leaves a
    /// consistent, smaller cache.
    ///
    /// # Errors
    /// [`Error::Timeout`]; [`Error::Io`].
    pub fn clear(&self) -> Result<u64> {
        let mut total = 0;
        loop {
            let removed = self.store()?.write_redb(|w| w.remove_first(BATCH))?;
            if removed == 0 {
                return Ok(total);
            }
            total += removed;
        }
    }

    /// Removes every expired entry and returns how many there were (a range scan of the
    /// expire order, in transactions of at most 1,000 entries).
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
    /// use std::time::Duration;
    /// use diskcache::SetOptions;
    /// for i in 0..10 {
    ///     cache.set_with(i, &i, SetOptions::default().expire(Duration::from_nanos(1)))?;
    /// }
    /// std::thread::sleep(Duration::from_millis(2));
    /// assert_eq!(cache.len()?, 10); // counted until removed
    /// assert_eq!(cache.expire()?, 10);
    /// assert_eq!(cache.len()?, 0);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Timeout`]; [`Error::Io`]; [`Error::Corrupted`] if the expire order names a key
    /// with no row.
    pub fn expire(&self) -> Result<u64> {
        let now = time::now_us();
        let mut total = 0;
        loop {
            let removed = self.store()?.write_redb(|w| w.remove_expired(now, BATCH))?;
            total += removed;
            if removed < BATCH as u64 {
                return Ok(total);
            }
        }
    }

    /// Removes every entry tagged `tag` and returns how many there were. Scans the entries in
    /// transactions of at most 1,000 rows, so other writers get turns.
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
    /// use diskcache::SetOptions;
    /// for i in 0..100 {
    ///     let tag = if i % 2 == 0 { "even" } else { "odd" };
    ///     cache.set_with(i, &i, SetOptions::default().tag(tag))?;
    /// }
    /// assert_eq!(cache.evict("even")?, 50);
    /// assert_eq!(cache.len()?, 50);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a tag that is not a valid key; [`Error::Timeout`];
    /// [`Error::Corrupted`] for a row that fails to decode.
    pub fn evict(&self, tag: impl Into<Tag>) -> Result<u64> {
        let tag = tag.into().encode()?;
        let mut after: Option<Vec<u8>> = None;
        let mut total = 0;
        loop {
            let (removed, last) = self
                .store()?
                .write_redb(|w| w.remove_tagged(&tag, after.as_deref(), BATCH))?;
            total += removed;
            match last {
                Some(key) => after = Some(key),
                None => return Ok(total),
            }
        }
    }

    /// Removes every expired entry, then, while the volume is above `size_limit`, entries in
    /// the eviction policy's order, whatever `cull_limit` says; returns how many it removed.
    /// With `cull_limit` 0, writes never cull and a scheduled `cull` does all of it. Works in
    /// transactions of at most 1,000 entries.
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let cache = diskcache::Cache::builder().size_limit(10_000).cull_limit(0).open(dir.path())?;
    /// for i in 0..100 {
    ///     cache.set(i, &[0u8; 100][..])?;
    /// }
    /// assert!(cache.volume()? > 10_000); // writes did not cull
    /// assert!(cache.cull()? > 0);
    /// assert!(cache.volume()? <= 10_000);
    /// assert!(cache.contains(99)?); // the most recently stored stay
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Timeout`]; [`Error::Io`]; [`Error::Corrupted`] if an order table names a key
    /// with no row.
    pub fn cull(&self) -> Result<u64> {
        let now = time::now_us();
        let mut total = 0;
        loop {
            let removed = self.store()?.write_redb(|w| {
                let live = w.live().clone();
                let mut removed = evict::remove_head(w, Order::Expire, now, BATCH, None)?;
                let over = RowWriter::volume(w)? > live.size_limit;
                if removed < BATCH && over && live.eviction_policy != EvictionPolicy::None {
                    let order = Order::Policy(live.eviction_policy);
                    let limit = BATCH - removed;
                    removed +=
                        evict::remove_head(w, order, u64::MAX, limit, Some(live.size_limit))?;
                }
                Ok(removed)
            })?;
            total += removed as u64;
            if removed < BATCH {
                return Ok(total);
            }
        }
    }

    /// Changes a setting for every process using the cache and returns its old value
    /// (diskcache's `reset`). Changing the eviction policy rebuilds the new policy's order
    /// table from the rows (and drops the old one); `Setting::TagIndex` builds or drops the
    /// tag index. The write path and durability are chosen when opening (an
    /// [`Error::InvalidArgument`] here).
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
    /// use diskcache::Setting;
    /// assert_eq!(cache.reset(Setting::CullLimit(0))?, Setting::CullLimit(10));
    /// assert_eq!(cache.settings().cull_limit, 0);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`]; [`Error::Timeout`]; [`Error::Corrupted`] for a row that
    /// fails to decode while an order table is rebuilt.
    pub fn reset(&self, setting: Setting) -> Result<Setting> {
        self.store()?.reset(setting)
    }

    /// Builds the tag index, so that [`Cache::evict`] is a range scan (diskcache's
    /// `create_tag_index`): `reset(Setting::TagIndex(true))`.
    ///
    /// # Errors
    /// As [`Cache::reset`].
    pub fn create_tag_index(&self) -> Result<()> {
        self.reset(Setting::TagIndex(true)).map(drop)
    }

    /// Drops the tag index (diskcache's `drop_tag_index`).
    ///
    /// # Errors
    /// As [`Cache::reset`].
    pub fn drop_tag_index(&self) -> Result<()> {
        self.reset(Setting::TagIndex(false)).map(drop)
    }

    /// Returns the (hits, misses) counted so far, then turns counting on or off per
    /// `enable` and, with `reset`, sets the counts to zero (diskcache's `stats`). Counting is
    /// off by default. A read never writes to count: hits and misses are added up in
    /// `cache.shm` (or, on the direct path, in memory) and flushed by the next checkpoint.
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
    /// cache.stats(true, false)?;
    /// cache.set("k", &1)?;
    /// cache.get::<i64>("k")?;
    /// cache.get::<i64>("absent")?;
    /// assert_eq!(cache.stats(true, true)?, (1, 1));
    /// assert_eq!(cache.stats(false, false)?, (0, 0));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Timeout`]; [`Error::Io`].
    pub fn stats(&self, enable: bool, reset: bool) -> Result<(u64, u64)> {
        self.store()?.stats(enable, reset)
    }
}
