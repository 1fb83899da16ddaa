//! Per-call options and results: [`SetOptions`], [`Entry`], [`Side`], [`Stats`].

use std::time::{Duration, SystemTime};

use crate::key::Key;

/// A tag groups entries so that `evict(tag)` can remove them together. Any key can be a tag.
pub type Tag = Key;

/// How a value is stored: when it expires and its tag.
///
/// ```
/// use std::time::Duration;
/// use diskcache::SetOptions;
/// let opts = SetOptions::default().expire(Duration::from_secs(60)).tag("session");
/// assert_eq!(opts.expire, Some(Duration::from_secs(60)));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct SetOptions {
    /// How long the entry lives; `None` for ever.
    pub expire: Option<Duration>,
    /// The entry's tag, if any.
    pub tag: Option<Tag>,
}

impl SetOptions {
    /// Sets the time to live.
    pub fn expire(mut self, ttl: Duration) -> Self {
        self.expire = Some(ttl);
        self
    }

    /// Sets the tag.
    pub fn tag(mut self, tag: impl Into<Tag>) -> Self {
        self.tag = Some(tag.into());
        self
    }
}

/// A value with its metadata, as `get_entry` and `pop_entry` return it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Entry<V> {
    /// The stored value.
    pub value: V,
    /// When the entry expires; `None` if never.
    pub expire_time: Option<SystemTime>,
    /// The entry's tag, if any.
    pub tag: Option<Tag>,
}

impl<V> Entry<V> {
    /// The same entry with its value changed by `f`.
    pub fn map<U>(self, f: impl FnOnce(V) -> U) -> Entry<U> {
        Entry {
            value: f(self.value),
            expire_time: self.expire_time,
            tag: self.tag,
        }
    }
}

/// Which end of a queue `push`, `pull` and `peek` work on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Side {
    /// The end with the smallest keys.
    Front,
    /// The end with the largest keys. The default.
    #[default]
    Back,
}

/// How many reads found a live entry and how many did not, as `stats` returns them (counted
/// only while statistics are on).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Stats {
    /// Reads that found a live entry.
    pub hits: u64,
    /// Reads that found none (or an expired one).
    pub misses: u64,
}

impl From<Stats> for (u64, u64) {
    /// `(hits, misses)`, the pair Python diskcache's `stats` returns.
    fn from(stats: Stats) -> (u64, u64) {
        (stats.hits, stats.misses)
    }
}
