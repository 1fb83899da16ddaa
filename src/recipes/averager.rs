//! [`Averager`]: a running average shared by threads and processes, kept in one key.

use std::time::Duration;

use crate::cache::Cache;
use crate::error::Result;
use crate::format::key::Key;
use crate::options::{SetOptions, Tag};

/// A running average that any thread or process can add to (diskcache's `Averager`).
///
/// The key holds `(total, count)` as `(f64, u64)`; [`Averager::add`] updates both in one
/// transaction, so no addition is lost when several processes add at once.
///
/// ```
/// # fn main() -> diskcache::Result<()> {
/// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
/// use diskcache::Averager;
/// let latency = Averager::new(&cache, "latency");
/// latency.add(0.080)?;
/// latency.add(0.120)?;
/// assert_eq!(latency.get()?, Some(0.1));
/// latency.add(0.160)?;
/// assert_eq!(latency.pop()?, Some(0.12));
/// assert_eq!(latency.get()?, None);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Averager {
    cache: Cache,
    key: Key,
    opts: SetOptions,
}

impl Averager {
    /// The average kept under `key` in `cache`.
    pub fn new(cache: &Cache, key: impl Into<Key>) -> Averager {
        Averager {
            cache: cache.clone(),
            key: key.into(),
            opts: SetOptions::default(),
        }
    }

    /// Gives the key a time to live, renewed by each [`Averager::add`].
    pub fn expire(mut self, ttl: Duration) -> Averager {
        self.opts.expire = Some(ttl);
        self
    }

    /// Tags the average's key.
    pub fn tag(mut self, tag: impl Into<Tag>) -> Averager {
        self.opts.tag = Some(tag.into());
        self
    }

    /// The key the average lives in.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// Adds `value` to the average.
    ///
    /// # Errors
    /// [`crate::Error::Codec`] if the key holds something that is not an average's state;
    /// as [`Cache::transact`].
    pub fn add(&self, value: f64) -> Result<()> {
        self.cache.transact(|tx| {
            let (total, count) = tx.get::<(f64, u64)>(self.key.clone())?.unwrap_or((0.0, 0));
            let state = (total + value, count.saturating_add(1));
            tx.set_with(self.key.clone(), state, self.opts.clone())
        })
    }

    /// The average of the values added so far; `None` if there are none.
    ///
    /// # Errors
    /// As [`Cache::get`].
    pub fn get(&self) -> Result<Option<f64>> {
        Ok(mean(self.cache.get::<(f64, u64)>(self.key.clone())?))
    }

    /// The average, removing it (the next [`Averager::add`] starts afresh); `None` if there
    /// were no values.
    ///
    /// # Errors
    /// As [`Cache::pop`].
    pub fn pop(&self) -> Result<Option<f64>> {
        Ok(mean(self.cache.pop::<(f64, u64)>(self.key.clone())?))
    }
}

/// `total / count`, or `None` for no values.
fn mean(state: Option<(f64, u64)>) -> Option<f64> {
    match state {
        Some((total, count)) if count > 0 => Some(total / count as f64),
        _ => None,
    }
}
