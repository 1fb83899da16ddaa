//! The whole-cache operations of a `FanoutCache` with progress (`crate::progress`): each
//! runs shard after shard, as its plain method does, and reports which shard is at work.

use std::ops::ControlFlow;

use super::{FanoutCache, ShardFinding};
use crate::cache::Cache;
use crate::error::Result;
use crate::maintenance::removal;
use crate::options::Tag;
#[cfg(doc)]
use crate::progress::Phase;
use crate::progress::{Outcome, Progress, Reporter};

impl FanoutCache {
    /// A reporter to `progress` that starts at the first of the shards.
    fn reporter<'a>(
        &self,
        progress: &'a mut impl FnMut(&Progress) -> ControlFlow<()>,
    ) -> Reporter<'a> {
        let mut report = Reporter::new(progress);
        report.shard(0, self.shards.len());
        report
    }

    /// As [`FanoutCache::clear`], calling `progress` after each slice of each shard with the
    /// entries removed so far over all shards (the total: the entries there were when it
    /// started) and the shard at work; stopped by a [`ControlFlow::Break`] between two slices,
    /// as [`Cache::clear_with_progress`] is. The shards after it are not touched.
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// use std::ops::ControlFlow;
    /// let cache = diskcache::FanoutCache::builder().shards(4).open(dir.path())?;
    /// for i in 0..100 {
    ///     cache.set(i, &i)?;
    /// }
    /// let mut shards_seen = std::collections::BTreeSet::new();
    /// let outcome = cache.clear_with_progress(|p| {
    ///     shards_seen.insert(p.shard);
    ///     ControlFlow::Continue(())
    /// })?;
    /// assert_eq!(outcome.into_value(), 100);
    /// assert_eq!(shards_seen.len(), 4);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`FanoutCache::clear`].
    pub fn clear_with_progress(
        &self,
        mut progress: impl FnMut(&Progress) -> ControlFlow<()>,
    ) -> Result<Outcome<u64>> {
        let expected = self.len()?;
        let mut report = self.reporter(&mut progress);
        removal(&mut report, Some(expected), |total, report| {
            self.remove_counting(total, report, &Cache::clear_counting)
        })
    }

    /// As [`FanoutCache::expire`], reporting and stoppable as
    /// [`FanoutCache::clear_with_progress`] (with no total).
    ///
    /// # Errors
    /// As [`FanoutCache::expire`].
    pub fn expire_with_progress(
        &self,
        mut progress: impl FnMut(&Progress) -> ControlFlow<()>,
    ) -> Result<Outcome<u64>> {
        let mut report = self.reporter(&mut progress);
        removal(&mut report, None, |total, report| {
            self.remove_counting(total, report, &Cache::expire_counting)
        })
    }

    /// As [`FanoutCache::cull`], reporting and stoppable as
    /// [`FanoutCache::clear_with_progress`] (with no total).
    ///
    /// # Errors
    /// As [`FanoutCache::cull`].
    pub fn cull_with_progress(
        &self,
        mut progress: impl FnMut(&Progress) -> ControlFlow<()>,
    ) -> Result<Outcome<u64>> {
        let mut report = self.reporter(&mut progress);
        removal(&mut report, None, |total, report| {
            self.remove_counting(total, report, &Cache::cull_counting)
        })
    }

    /// As [`FanoutCache::evict`], reporting and stoppable as
    /// [`FanoutCache::clear_with_progress`] (with no total).
    ///
    /// # Errors
    /// As [`FanoutCache::evict`].
    pub fn evict_with_progress(
        &self,
        tag: impl Into<Tag>,
        mut progress: impl FnMut(&Progress) -> ControlFlow<()>,
    ) -> Result<Outcome<u64>> {
        let tag = tag.into();
        let mut report = self.reporter(&mut progress);
        removal(&mut report, None, |total, report| {
            self.remove_counting(total, report, &|shard, total, report| {
                shard.evict_counting(tag.clone(), total, report)
            })
        })
    }

    /// As [`FanoutCache::check`], calling `progress` as [`Cache::check_with_progress`] does,
    /// shard after shard (each report names its shard; the phases start again in each). A
    /// [`ControlFlow::Break`] stops it there, with the findings confirmed until then; the
    /// shards after it are not checked.
    ///
    /// # Errors
    /// As [`FanoutCache::check`].
    pub fn check_with_progress(
        &self,
        fix: bool,
        mut progress: impl FnMut(&Progress) -> ControlFlow<()>,
    ) -> Result<Outcome<Vec<ShardFinding>>> {
        self.check_reporting(fix, &mut self.reporter(&mut progress))
    }

    /// [`FanoutCache::check`], reporting to `report`, which may stop it.
    pub(super) fn check_reporting(
        &self,
        fix: bool,
        report: &mut Reporter<'_>,
    ) -> Result<Outcome<Vec<ShardFinding>>> {
        let mut findings = Vec::new();
        let shards = self.shards.len();
        for (shard, cache) in self.shards.iter().enumerate() {
            report.shard(shard, shards);
            let outcome = cache.check_reporting(fix, report)?;
            let stopped = outcome.is_stopped();
            findings.extend(
                outcome
                    .into_value()
                    .into_iter()
                    .map(|finding| ShardFinding { shard, finding }),
            );
            if stopped {
                return Ok(Outcome::Stopped(findings));
            }
        }
        Ok(Outcome::Finished(findings))
    }

    /// As [`FanoutCache::compact`], calling `progress` as [`Cache::compact_with_progress`]
    /// does, shard after shard ([`Phase::Compact`] names each shard as it starts). A
    /// [`ControlFlow::Break`] gives up there: the shards before it are compacted, the others
    /// are as they were.
    ///
    /// # Errors
    /// As [`FanoutCache::compact`].
    pub fn compact_with_progress(
        &self,
        mut progress: impl FnMut(&Progress) -> ControlFlow<()>,
    ) -> Result<Outcome<()>> {
        self.compact_reporting(&mut self.reporter(&mut progress))
    }

    /// [`FanoutCache::compact`], reporting to `report`, which may stop it.
    pub(super) fn compact_reporting(&self, report: &mut Reporter<'_>) -> Result<Outcome<()>> {
        let shards = self.shards.len();
        for (shard, cache) in self.shards.iter().enumerate() {
            report.shard(shard, shards);
            if cache.compact_reporting(report)?.is_stopped() {
                return Ok(Outcome::Stopped(()));
            }
        }
        Ok(Outcome::Finished(()))
    }
}
