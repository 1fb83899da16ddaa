//! Whole-cache maintenance: `clear`, `expire`, `evict` and `cull` in slices of a few
//! milliseconds each (`crate::engine::slice`), and the settings every process shares (`reset`,
//! `stats`, the tag index). Each removal has a `*_with_progress` twin that reports after
//! every slice and can be stopped between two (`crate::progress`).

use std::ops::ControlFlow;

use crate::cache::Cache;
use crate::engine::slice::Budget;
use crate::engine::write::{RowWriter, WriteCtx};
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::format::order::Order;
use crate::ops::cull;
use crate::options::{Stats, Tag};
use crate::progress::{Outcome, Phase, Progress, Reporter};
use crate::settings::{EvictionPolicy, Setting};
use crate::time;

/// Entries a slice removes between looks at the clock.
const CHUNK: usize = 64;

impl Cache {
    /// Removes every entry stored before the call and returns how many there were. Works in
    /// slices (one write transaction of a few milliseconds each), so that other writers get
    /// turns between them and an interrupted clear leaves a consistent, smaller cache; an
    /// entry another writer adds meanwhile (a key that had none) stays.
    ///
    /// # Errors
    /// [`Error::Timeout`]; [`Error::Io`].
    pub fn clear(&self) -> Result<u64> {
        removal(&mut Reporter::silent(), None, |total, report| {
            self.clear_counting(total, report)
        })
        .map(Outcome::into_value)
    }

    /// As [`Cache::clear`], calling `progress` after each slice with the entries removed so
    /// far ([`Phase::Removing`]; the total is the number of entries when it started). A
    /// [`ControlFlow::Break`] from `progress` stops it there: the entries removed until then
    /// stay removed, the others stay, and it returns [`Outcome::Stopped`] with how many went.
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
    /// use std::ops::ControlFlow;
    /// for i in 0..100 {
    ///     cache.set(i, &i)?;
    /// }
    /// let mut reports = 0;
    /// let outcome = cache.clear_with_progress(|p| {
    ///     reports += 1;
    ///     assert_eq!(p.total, Some(100));
    ///     ControlFlow::Continue(())
    /// })?;
    /// assert_eq!(outcome, diskcache::Outcome::Finished(100));
    /// assert!(reports >= 2); // at the start, then after each slice
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Cache::clear`].
    pub fn clear_with_progress(
        &self,
        mut progress: impl FnMut(&Progress) -> ControlFlow<()>,
    ) -> Result<Outcome<u64>> {
        let mut report = Reporter::new(&mut progress);
        removal(&mut report, Some(self.len()?), |total, report| {
            self.clear_counting(total, report)
        })
    }

    /// As [`Cache::clear`], adding what each committed slice removed to `total` as it goes,
    /// so that a caller who tries again after [`Error::Timeout`] (a `FanoutCache`) counts
    /// every entry removed, and passing it to `report`, which may stop it between slices.
    pub(crate) fn clear_counting(
        &self,
        total: &mut u64,
        report: &mut Reporter<'_>,
    ) -> Result<ControlFlow<()>> {
        let store = self.store()?;
        let mut below = None;
        loop {
            let (removed, more) = store.slice(|w, budget| {
                // Row ids only grow: the entries there were at the start have smaller ones.
                let below = match below {
                    Some(below) => below,
                    None => *below.insert(w.first_unused_row_id()?),
                };
                in_chunks(budget, |limit| w.remove_first(below, limit))
            })?;
            *total += removed;
            if let Some(flow) = ended(report, removed, more) {
                return Ok(flow);
            }
        }
    }

    /// Removes every expired entry and returns how many there were (a range scan of the
    /// expire order, in slices).
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use std::time::Duration;
    /// use diskcache::SetOptions;
    /// // Writes remove up to `cull_limit` expired entries; 0 leaves them all to `expire`.
    /// let cache = diskcache::Cache::builder().cull_limit(0).open(dir.path())?;
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
        removal(&mut Reporter::silent(), None, |total, report| {
            self.expire_counting(total, report)
        })
        .map(Outcome::into_value)
    }

    /// As [`Cache::expire`], reporting and stoppable as [`Cache::clear_with_progress`] (with
    /// no total: how many have expired is known only once they are removed).
    ///
    /// # Errors
    /// As [`Cache::expire`].
    pub fn expire_with_progress(
        &self,
        mut progress: impl FnMut(&Progress) -> ControlFlow<()>,
    ) -> Result<Outcome<u64>> {
        let mut report = Reporter::new(&mut progress);
        removal(&mut report, None, |total, report| {
            self.expire_counting(total, report)
        })
    }

    /// As [`Cache::expire`], adding what each committed slice removed to `total` as it goes,
    /// so that a caller who tries again after [`Error::Timeout`] (a `FanoutCache`) counts
    /// every entry removed, and passing it to `report`, which may stop it between slices.
    pub(crate) fn expire_counting(
        &self,
        total: &mut u64,
        report: &mut Reporter<'_>,
    ) -> Result<ControlFlow<()>> {
        let store = self.store()?;
        let now = time::now_us();
        loop {
            let (removed, more) =
                store.slice(|w, budget| in_chunks(budget, |limit| w.remove_expired(now, limit)))?;
            *total += removed;
            if let Some(flow) = ended(report, removed, more) {
                return Ok(flow);
            }
        }
    }

    /// Removes every entry tagged `tag` and returns how many there were: a range scan of the
    /// tag index if it is on, else a scan of every entry, in slices either way.
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
        let tag = tag.into();
        removal(&mut Reporter::silent(), None, |total, report| {
            self.evict_counting(tag, total, report)
        })
        .map(Outcome::into_value)
    }

    /// As [`Cache::evict`], reporting and stoppable as [`Cache::clear_with_progress`] (with
    /// no total).
    ///
    /// # Errors
    /// As [`Cache::evict`].
    pub fn evict_with_progress(
        &self,
        tag: impl Into<Tag>,
        mut progress: impl FnMut(&Progress) -> ControlFlow<()>,
    ) -> Result<Outcome<u64>> {
        let tag = tag.into();
        let mut report = Reporter::new(&mut progress);
        removal(&mut report, None, |total, report| {
            self.evict_counting(tag.clone(), total, report)
        })
    }

    /// As [`Cache::evict`], adding what each committed slice removed to `total` as it goes,
    /// so that a caller who tries again after [`Error::Timeout`] (a `FanoutCache`) counts
    /// every entry removed, and passing it to `report`, which may stop it between slices.
    pub(crate) fn evict_counting(
        &self,
        tag: impl Into<Tag>,
        total: &mut u64,
        report: &mut Reporter<'_>,
    ) -> Result<ControlFlow<()>> {
        let store = self.store()?;
        let tag = tag.into().encode()?;
        let mut after: Option<Vec<u8>> = None;
        loop {
            let (removed, next) = store.slice(|w, budget| {
                let mut removed = 0;
                loop {
                    let (n, next) = w.remove_tagged(&tag, after.as_deref(), CHUNK)?;
                    removed += n;
                    match next {
                        Some(key) if budget.spent() => return Ok((removed, Some(key))),
                        Some(key) => after = Some(key),
                        None => return Ok((removed, None)),
                    }
                }
            })?;
            *total += removed;
            if let Some(flow) = ended(report, removed, next.is_some()) {
                return Ok(flow);
            }
            after = next;
        }
    }

    /// Removes every expired entry, then, while the volume is above `size_limit`, entries in
    /// the eviction policy's order, whatever `cull_limit` says; returns how many it removed.
    /// With `cull_limit` 0, writes never cull and a scheduled `cull` does all of it. Works in
    /// slices, as [`Cache::clear`] does.
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
        removal(&mut Reporter::silent(), None, |total, report| {
            self.cull_counting(total, report)
        })
        .map(Outcome::into_value)
    }

    /// As [`Cache::cull`], reporting and stoppable as [`Cache::clear_with_progress`] (with no
    /// total).
    ///
    /// # Errors
    /// As [`Cache::cull`].
    pub fn cull_with_progress(
        &self,
        mut progress: impl FnMut(&Progress) -> ControlFlow<()>,
    ) -> Result<Outcome<u64>> {
        let mut report = Reporter::new(&mut progress);
        removal(&mut report, None, |total, report| {
            self.cull_counting(total, report)
        })
    }

    /// As [`Cache::cull`], adding what each committed slice removed to `total` as it goes,
    /// so that a caller who tries again after [`Error::Timeout`] (a `FanoutCache`) counts
    /// every entry removed, and passing it to `report`, which may stop it between slices.
    pub(crate) fn cull_counting(
        &self,
        total: &mut u64,
        report: &mut Reporter<'_>,
    ) -> Result<ControlFlow<()>> {
        let store = self.store()?;
        let now = time::now_us();
        loop {
            let (removed, more) = store.slice(|w, budget| cull_slice(w, now, budget))?;
            *total += removed;
            if let Some(flow) = ended(report, removed, more) {
                return Ok(flow);
            }
        }
    }

    /// Changes a setting for every process using the cache and returns its old value
    /// (diskcache's `reset`). Changing the eviction policy builds the new policy's order
    /// table from the rows (and drops the old one); `Setting::TagIndex` builds or drops the
    /// tag index. The write path and durability are chosen when opening (an
    /// [`Error::InvalidArgument`] here).
    ///
    /// A table is built in slices of a few milliseconds while the old setting stays in force
    /// and every writer keeps the new table in step too; then one short transaction puts the
    /// new setting in force; then the table the old setting kept is emptied in slices and
    /// deleted. Other writers get the write lock between slices. A `reset` of the same
    /// setting from another handle while one builds takes the build over (the first returns
    /// once the other has it).
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
        crate::ops::build::reset(self.store()?, setting)
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

    /// Returns the hits and misses counted so far, then turns counting on or off per
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
    /// let stats = cache.stats(true, true)?;
    /// assert_eq!((stats.hits, stats.misses), (1, 1));
    /// assert_eq!(cache.stats(false, false)?, diskcache::Stats::default());
    /// # Ok(()) }
    /// ```
    ///
    /// The cache's on-disk format version (`format-spec/README.md`, Versioning): 1 for a new
    /// cache, 2 once it has stored a key longer than [`crate::MAX_KEY_BYTES`] encoded, 3 once
    /// the logged write path (whose shared log has two lanes) has opened it. The shared log
    /// is checkpointed first, so a long key still only in it counts.
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use diskcache::{Cache, WritePath};
    /// let cache = Cache::builder().write_path(WritePath::Direct).open(dir.path())?;
    /// cache.set("short", 1)?;
    /// assert_eq!(cache.format_version()?, 1);
    /// cache.set("k".repeat(20_000), 2)?;
    /// assert_eq!(cache.format_version()?, 2);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Timeout`]; [`Error::Storage`].
    pub fn format_version(&self) -> Result<u64> {
        self.store()?
            .read_all(|snap| snap.meta(crate::format::schema::META_FORMAT_VERSION))
    }

    /// # Errors
    /// [`Error::Timeout`]; [`Error::Io`].
    pub fn stats(&self, enable: bool, reset: bool) -> Result<Stats> {
        let (hits, misses) = self.store()?.stats(enable, reset)?;
        Ok(Stats { hits, misses })
    }
}

/// A removal with progress: starts [`Phase::Removing`] with `expected` as its total, then
/// runs `run` (which adds what it removes to the count it is given) unless the callback
/// stops it at once; returns how many it removed and whether it was stopped.
pub(crate) fn removal(
    report: &mut Reporter<'_>,
    expected: Option<u64>,
    run: impl FnOnce(&mut u64, &mut Reporter<'_>) -> Result<ControlFlow<()>>,
) -> Result<Outcome<u64>> {
    let mut total = 0;
    if report.start(Phase::Removing, expected).is_break() {
        return Ok(Outcome::Stopped(0));
    }
    let flow = run(&mut total, report)?;
    Ok(Outcome::of(flow, total))
}

/// Reports a committed slice that removed `removed`. `Some` when the operation ends there:
/// `Continue` when there is no more to do (`more` false), `Break` when the callback stops it.
fn ended(report: &mut Reporter<'_>, removed: u64, more: bool) -> Option<ControlFlow<()>> {
    let flow = report.advance(removed);
    if !more {
        Some(ControlFlow::Continue(()))
    } else if flow.is_break() {
        Some(flow)
    } else {
        None
    }
}

/// Calls `chunk` (which removes up to the limit it is given and returns how many it
/// removed) until it removes fewer or `budget` is spent. Returns how many it removed and
/// whether there may be more.
fn in_chunks(budget: Budget, mut chunk: impl FnMut(usize) -> Result<u64>) -> Result<(u64, bool)> {
    let mut removed = 0;
    loop {
        let n = chunk(CHUNK)?;
        removed += n;
        if n < CHUNK as u64 {
            return Ok((removed, false));
        }
        if budget.spent() {
            return Ok((removed, true));
        }
    }
}

/// One slice of `cull`: expired entries first, then the policy's victims while the volume is
/// above the limit. Returns how many it removed and whether there may be more.
fn cull_slice(w: &mut WriteCtx<'_>, now: u64, budget: Budget) -> Result<(u64, bool)> {
    let live = w.live().clone();
    let (mut removed, more) = in_chunks(budget, |limit| {
        cull::remove_head(w, Order::Expire, now, limit, None).map(|n| n as u64)
    })?;
    if more || live.eviction_policy == EvictionPolicy::None {
        return Ok((removed, more));
    }
    let order = Order::Policy(live.eviction_policy);
    while RowWriter::volume(w)? > live.size_limit {
        let n = cull::remove_head(w, order, u64::MAX, CHUNK, Some(live.size_limit))?;
        removed += n as u64;
        if n == 0 {
            return Ok((removed, false));
        }
        if budget.spent() {
            return Ok((removed, true));
        }
    }
    Ok((removed, false))
}
