//! Whole-cache removals: `clear`, `expire` and `evict`, each in bounded transactions.

use crate::cache::Cache;
use crate::error::Result;
use crate::options::Tag;
use crate::time;

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
            let removed = self.store().write_redb(|w| w.remove_first(BATCH))?;
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
            let removed = self.store().write_redb(|w| w.remove_expired(now, BATCH))?;
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
                .store()
                .write_redb(|w| w.remove_tagged(&tag, after.as_deref(), BATCH))?;
            total += removed;
            match last {
                Some(key) => after = Some(key),
                None => return Ok(total),
            }
        }
    }
}
