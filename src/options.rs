//! Per-call options and results: [`SetOptions`], [`Entry`], [`Side`], [`Stats`], [`Number`].

use std::time::Duration;

use crate::format::key::Key;

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

pub use crate::format::payload::Entry;

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

/// What `incr` and `decr` return: the counter's new value, an integer, or a float where the
/// stored value was a float (Python diskcache adds to either: `3.25 + 2` is `5.25`).
///
/// It compares equal to an `i64` or `f64` of the same kind and value, so
/// `assert_eq!(cache.incr("n", 1, Some(0))?, 1)` holds for an integer counter; `try_into()`
/// gives the `i64` of an integer counter (a float is [`crate::Error::NotAnInteger`]).
///
/// ```
/// # fn main() -> diskcache::Result<()> {
/// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
/// use diskcache::Number;
/// cache.set("hits", 41)?;
/// assert_eq!(cache.incr("hits", 1, None)?, Number::Int(42));
/// cache.set("ratio", 3.25)?;
/// assert_eq!(cache.incr("ratio", 2, None)?, 5.25);
/// assert_eq!(cache.get::<f64>("ratio")?, Some(5.25));
/// let hits: i64 = cache.incr("hits", 1, None)?.try_into()?;
/// assert_eq!(hits, 43);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    /// An integer: the stored value was one (or the key started from the default).
    Int(i64),
    /// A float: the stored value was one.
    Float(f64),
}

impl Number {
    /// The integer, if it is one.
    pub fn as_i64(self) -> Option<i64> {
        match self {
            Number::Int(n) => Some(n),
            Number::Float(_) => None,
        }
    }

    /// The value as an `f64` (an integer converted, to the nearest `f64`).
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(n) => n as f64,
            Number::Float(x) => x,
        }
    }
}

impl From<i64> for Number {
    fn from(n: i64) -> Number {
        Number::Int(n)
    }
}

impl From<f64> for Number {
    fn from(x: f64) -> Number {
        Number::Float(x)
    }
}

impl TryFrom<Number> for i64 {
    type Error = crate::Error;

    /// The integer; a float is [`crate::Error::NotAnInteger`]. For a counter known to hold
    /// integers: `let n: i64 = cache.incr("n", 1, Some(0))?.try_into()?;`.
    fn try_from(n: Number) -> crate::Result<i64> {
        n.as_i64().ok_or(crate::Error::NotAnInteger)
    }
}

impl From<Number> for f64 {
    /// [`Number::as_f64`].
    fn from(n: Number) -> f64 {
        n.as_f64()
    }
}

impl PartialEq<i64> for Number {
    /// Equal to an integer of the same value; a float never is.
    fn eq(&self, other: &i64) -> bool {
        *self == Number::Int(*other)
    }
}

impl PartialEq<f64> for Number {
    /// Equal to a float of the same value; an integer never is.
    fn eq(&self, other: &f64) -> bool {
        *self == Number::Float(*other)
    }
}

impl std::fmt::Display for Number {
    /// The integer, or the float as Rust writes an `f64`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Number::Int(n) => n.fmt(f),
            Number::Float(x) => x.fmt(f),
        }
    }
}

impl serde::Serialize for Number {
    /// As the number itself: an `i64` or an `f64`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Number::Int(n) => s.serialize_i64(*n),
            Number::Float(x) => s.serialize_f64(*x),
        }
    }
}
