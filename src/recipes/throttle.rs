//! [`Throttle`]: a rate limiter shared by threads and processes, a token bucket in one key.

use std::time::Duration;

use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::format::key::Key;
use crate::options::{SetOptions, Tag};

/// Lets at most `count` calls through per `per`, counted across every thread and process that
/// uses the key (diskcache's `throttle`).
///
/// A token bucket: the key holds `(last, tally)`, the time of the last call let through (in
/// microseconds since the Unix epoch) and the tokens left then. Tokens come back at `count` per
/// `per`, up to `count`, so after a quiet spell a burst of `count` calls goes through at once,
/// and after that calls are spaced `per / count` apart. A missing key is a full bucket. Each
/// call reads and updates the key in one transaction; [`Throttle::acquire`] sleeps until the
/// next token is due. Times come from the system clock, which all processes of one machine
/// share.
///
/// ```
/// # fn main() -> diskcache::Result<()> {
/// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
/// use std::time::Duration;
/// use diskcache::Throttle;
///
/// // At most 3 calls per minute, in all processes together.
/// let api = Throttle::new(&cache, "api-calls", 3, Duration::from_secs(60))?;
/// for _ in 0..3 {
///     assert!(api.try_acquire()?); // the first 3 go through at once
/// }
/// assert!(!api.try_acquire()?); // the 4th would wait 20 seconds
/// assert!(matches!(
///     api.acquire_timeout(Duration::from_millis(10)),
///     Err(diskcache::Error::Timeout)
/// ));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Throttle {
    cache: Cache,
    key: Key,
    count: u32,
    /// Tokens per microsecond.
    rate: f64,
    opts: SetOptions,
}

impl Throttle {
    /// The throttle named by `key` in `cache`, letting `count` calls through per `per`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `count` is 0 or `per` is zero.
    pub fn new(cache: &Cache, key: impl Into<Key>, count: u32, per: Duration) -> Result<Throttle> {
        let per_us = per.as_secs_f64() * 1e6;
        if count == 0 || per_us < 1.0 {
            return Err(Error::InvalidArgument(format!(
                "a throttle needs a count above 0 and a period of at least 1 µs, not {count} per {per:?}"
            )));
        }
        Ok(Throttle {
            cache: cache.clone(),
            key: key.into(),
            count,
            rate: f64::from(count) / per_us,
            opts: SetOptions::default(),
        })
    }

    /// Gives the key a time to live, renewed by each call let through; once it runs out the
    /// bucket is full again.
    pub fn expire(mut self, ttl: Duration) -> Throttle {
        self.opts.expire = Some(ttl);
        self
    }

    /// Tags the throttle's key.
    pub fn tag(mut self, tag: impl Into<Tag>) -> Throttle {
        self.opts.tag = Some(tag.into());
        self
    }

    /// The key the throttle lives in.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// Takes a token if one is there, without waiting: whether the call may go ahead.
    ///
    /// # Errors
    /// [`Error::Codec`] if the key holds something that is not a throttle's state; as
    /// [`Cache::transact`].
    pub fn try_acquire(&self) -> Result<bool> {
        Ok(self.take()?.is_none())
    }

    /// Waits until a token is there and takes it (diskcache's throttled call).
    ///
    /// # Errors
    /// As [`Throttle::try_acquire`].
    pub fn acquire(&self) -> Result<()> {
        self.wait(None)
    }

    /// Takes a token, waiting at most `timeout` for one. Returns [`Error::Timeout`] at once,
    /// without sleeping, if the next token is due after `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`]; as [`Throttle::try_acquire`].
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<()> {
        self.wait(Some(timeout))
    }

    /// Runs `f` once a token is there (waiting for it first).
    ///
    /// # Errors
    /// As [`Throttle::acquire`]; `f` does not run then.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> Result<T> {
        self.acquire()?;
        Ok(f())
    }

    fn wait(&self, timeout: Option<Duration>) -> Result<()> {
        let deadline = timeout.map(crate::time::deadline);
        while let Some(delay) = self.take()? {
            if let Some(deadline) = deadline
                && std::time::Instant::now()
                    .checked_add(delay)
                    .is_none_or(|due| due > deadline)
            {
                return Err(Error::Timeout);
            }
            std::thread::sleep(delay);
        }
        Ok(())
    }

    /// Takes a token if one is there (`None`), or says how long until the next one is due.
    fn take(&self) -> Result<Option<Duration>> {
        let count = f64::from(self.count);
        self.cache.transact(|tx| {
            let now = crate::time::now_us();
            let (last, tally) = tx
                .get::<(u64, f64)>(self.key.clone())?
                .unwrap_or((now, count));
            // A clock that stepped back gives no tokens (rather than taking some away); a
            // tally that is not a number (a key written by something else) is a full bucket.
            let tally = if tally.is_finite() { tally } else { count };
            let tally = tally + now.saturating_sub(last) as f64 * self.rate;
            if tally >= 1.0 {
                tx.set_with(
                    self.key.clone(),
                    (now, tally.min(count) - 1.0),
                    self.opts.clone(),
                )?;
                Ok(None)
            } else {
                let wait_us = ((1.0 - tally) / self.rate).ceil();
                Ok(Some(
                    Duration::try_from_secs_f64(wait_us / 1e6).unwrap_or(super::SPIN),
                ))
            }
        })
    }
}
