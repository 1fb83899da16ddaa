//! Memoization: a function's results kept in a cache under its name and arguments, with
//! diskcache's stampede protection (one computation per key at a time, and early
//! recomputation shortly before expiry).

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cache::Cache;
use crate::compute::KeyGates;
use crate::error::{Error, Result};
use crate::fanout::FanoutCache;
use crate::format::key::Key;
use crate::options::{Entry, SetOptions, Tag};

/// How a memoized function's results are kept.
///
/// ```
/// use std::time::Duration;
/// use diskcache::MemoOptions;
/// let opts = MemoOptions::default().expire(Duration::from_secs(60)).typed(true).beta(1.0);
/// assert!(opts.typed);
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct MemoOptions {
    /// Adds the argument type's name to the key, so that the same value of two types (`1u8`
    /// and `1i64`) is two results (diskcache's `typed`).
    pub typed: bool,
    /// How long a result is kept; `None` keeps it until removed. A zero duration stores
    /// nothing (diskcache's `expire=0`).
    pub expire: Option<Duration>,
    /// The tag results are stored with, so that `evict(tag)` removes them all.
    pub tag: Option<Tag>,
    /// Positions of argument-tuple items left out of the key (diskcache's `ignore`); a
    /// value that is not a tuple is one item, at 0.
    pub ignore: Vec<usize>,
    /// Early recomputation (diskcache's `memoize_stampede`): with `expire` set, a call near
    /// the expiry recomputes with a probability that grows as expiry nears and with how
    /// long the function took; `beta` scales it (1.0 is the usual choice, larger is earlier).
    /// One caller recomputes while the others keep getting the stored result.
    pub beta: Option<f64>,
}

impl MemoOptions {
    /// Sets [`MemoOptions::typed`].
    pub fn typed(mut self, typed: bool) -> Self {
        self.typed = typed;
        self
    }

    /// Sets [`MemoOptions::expire`].
    pub fn expire(mut self, expire: Duration) -> Self {
        self.expire = Some(expire);
        self
    }

    /// Sets [`MemoOptions::tag`].
    pub fn tag(mut self, tag: impl Into<Tag>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    /// Sets [`MemoOptions::ignore`].
    pub fn ignore(mut self, positions: impl IntoIterator<Item = usize>) -> Self {
        self.ignore = positions.into_iter().collect();
        self
    }

    /// Sets [`MemoOptions::beta`].
    pub fn beta(mut self, beta: f64) -> Self {
        self.beta = Some(beta);
        self
    }
}

/// The cache a memo keeps results in.
#[derive(Clone, Debug)]
enum Target {
    Cache(Cache),
    Fanout(FanoutCache),
}

impl Target {
    /// The entry under `key`; with `counted`, the read counts as a hit or miss (and an
    /// access), as one call's first look does; a second look in the same call does not.
    fn get_entry<V: DeserializeOwned>(&self, key: &Key, counted: bool) -> Result<Option<Entry<V>>> {
        match (self, counted) {
            (Target::Cache(c), true) => c.get_entry(key.clone()),
            (Target::Cache(c), false) => c.get_entry_uncounted(key),
            (Target::Fanout(f), true) => f.get_entry(key.clone()),
            (Target::Fanout(f), false) => f.get_entry_uncounted(key),
        }
    }

    fn set<V: Serialize + ?Sized>(&self, key: &Key, value: &V, opts: SetOptions) -> Result<()> {
        match self {
            Target::Cache(c) => c.set_with(key.clone(), value, opts),
            // A timed-out store of a result is a skipped store, as diskcache's.
            Target::Fanout(f) => f.set_with(key.clone(), value, opts).map(drop),
        }
    }

    fn add(&self, key: &Key, opts: SetOptions) -> Result<bool> {
        match self {
            Target::Cache(c) => c.add(key.clone(), (), opts),
            Target::Fanout(f) => f.add(key.clone(), (), opts),
        }
    }
}

/// Results of one function kept in a cache: [`Memo::get_or_compute`] returns the stored
/// result for the arguments, or computes, stores and returns it. Clones share one memo.
///
/// Made by [`Cache::memo`] or [`FanoutCache::memo`]. A recursive function takes the memo as
/// a parameter:
///
/// ```
/// # fn main() -> diskcache::Result<()> {
/// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
/// use diskcache::{Memo, MemoOptions};
/// fn fibonacci(memo: &Memo<u64, u64>, n: u64) -> diskcache::Result<u64> {
///     memo.get_or_compute(&n, |&n| {
///         Ok(if n < 2 { n } else { fibonacci(memo, n - 1)? + fibonacci(memo, n - 2)? })
///     })
/// }
/// let memo = cache.memo("fibonacci", MemoOptions::default());
/// assert_eq!(fibonacci(&memo, 90)?, 2_880_067_194_370_816_120);
/// assert!(cache.len()? >= 90);
/// # Ok(()) }
/// ```
pub struct Memo<A: ?Sized, R> {
    inner: Arc<MemoInner>,
    _types: PhantomData<fn(&A) -> R>,
}

impl<A: ?Sized, R> Clone for Memo<A, R> {
    fn clone(&self) -> Self {
        Memo {
            inner: self.inner.clone(),
            _types: PhantomData,
        }
    }
}

impl<A: ?Sized, R> std::fmt::Debug for Memo<A, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

struct MemoInner {
    target: Target,
    name: String,
    opts: MemoOptions,
    /// The keys being computed in this process: a second caller of the same key waits for
    /// the first one's result instead of computing too.
    gates: KeyGates,
}

/// What a memo with early recomputation stores: the result and how long, in seconds, it
/// took to compute.
type Timed<R> = (R, f64);

impl<A: Serialize + ?Sized, R: Serialize + DeserializeOwned> Memo<A, R> {
    fn new(target: Target, name: &str, opts: MemoOptions) -> Self {
        Memo {
            inner: Arc::new(MemoInner {
                target,
                name: name.to_owned(),
                opts,
                gates: KeyGates::default(),
            }),
            _types: PhantomData,
        }
    }

    /// The key the result for `args` is stored under, as diskcache's `__cache_key__`: the
    /// composite `(name, args)`, less the ignored items, plus the argument type with `typed`.
    /// Delete it to forget one result.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the arguments cannot be a key (a NaN, too long);
    /// [`Error::Codec`] if they fail to serialize.
    pub fn cache_key(&self, args: &A) -> Result<Key> {
        let opts = &self.inner.opts;
        let type_name = opts.typed.then(std::any::type_name::<A>);
        Key::for_call(&self.inner.name, args, &opts.ignore, type_name)
    }

    /// The stored result for `args`, or `f(args)`, stored and returned. Threads of this
    /// process that miss the same key at once compute it once: the others wait for that
    /// result. With [`MemoOptions::beta`], a call shortly before expiry may recompute early.
    ///
    /// # Errors
    /// What `f` returns; [`Error::Codec`] if the result fails to serialize (nothing is
    /// stored) or a stored one is not an `R`; the cache's errors.
    pub fn get_or_compute(&self, args: &A, f: impl FnOnce(&A) -> Result<R>) -> Result<R> {
        self.try_get_or_compute(args, f)
    }

    /// As [`Memo::get_or_compute`], for a computation that fails with the caller's own error
    /// type: its error is returned as it is, and nothing is stored.
    ///
    /// # Errors
    /// What `f` returns; the cache's errors as `E` (as [`Memo::get_or_compute`]).
    pub fn try_get_or_compute<E: From<Error>>(
        &self,
        args: &A,
        f: impl FnOnce(&A) -> std::result::Result<R, E>,
    ) -> std::result::Result<R, E> {
        let key = self.cache_key(args)?;
        // One call counts one read in the statistics, as diskcache's one `get` per call.
        let f = match self.lookup(&key, true)? {
            Lookup::Fresh(result) => return Ok(result),
            Lookup::Stale(result) => {
                if !self.claim_recomputation(&key)? {
                    return Ok(result);
                }
                return self.compute(&key, args, f);
            }
            Lookup::Missing => f,
        };
        let encoded = key.encode()?;
        self.inner.gates.with(&encoded, || {
            // Another thread may have computed it while this one waited.
            match self.lookup(&key, false)? {
                Lookup::Fresh(result) | Lookup::Stale(result) => Ok(result),
                Lookup::Missing => self.compute(&key, args, f),
            }
        })
    }

    /// What the cache holds for `key`; `counted` as [`Target::get_entry`].
    fn lookup(&self, key: &Key, counted: bool) -> Result<Lookup<R>> {
        let Some(beta) = self.inner.opts.beta else {
            let entry = self.inner.target.get_entry::<R>(key, counted)?;
            return Ok(entry.map_or(Lookup::Missing, |e| Lookup::Fresh(e.value)));
        };
        let Some(entry) = self.inner.target.get_entry::<Timed<R>>(key, counted)? else {
            return Ok(Lookup::Missing);
        };
        let (result, took) = entry.value;
        let Some(expire_time) = entry.expire_time else {
            return Ok(Lookup::Fresh(result));
        };
        let ttl = expire_time
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .as_secs_f64();
        // diskcache's test: recompute when -took * beta * ln(u) >= ttl, u uniform in (0, 1).
        if -took * beta * unit_random().ln() < ttl {
            Ok(Lookup::Fresh(result))
        } else {
            Ok(Lookup::Stale(result))
        }
    }

    /// Whether this caller is the one to recompute `key` early: the first to add a marker
    /// key that lives as long as a computation takes.
    fn claim_recomputation(&self, key: &Key) -> Result<bool> {
        let mut marker = key.encode()?;
        marker.extend_from_slice(b"\0diskcache:recomputing");
        let opts = SetOptions::default().expire(self.inner.opts.expire.unwrap_or_default());
        self.inner.target.add(&Key::Bytes(marker), opts)
    }

    /// Computes, stores (unless `expire` is zero) and returns the result.
    fn compute<E: From<Error>>(
        &self,
        key: &Key,
        args: &A,
        f: impl FnOnce(&A) -> std::result::Result<R, E>,
    ) -> std::result::Result<R, E> {
        let opts = &self.inner.opts;
        let started = Instant::now();
        let result = f(args)?;
        if opts.expire.is_some_and(|e| e.is_zero()) {
            return Ok(result);
        }
        let set = SetOptions {
            expire: opts.expire,
            tag: opts.tag.clone(),
        };
        if opts.beta.is_some() {
            let took = started.elapsed().as_secs_f64();
            self.inner.target.set(key, &(&result, took), set)?;
        } else {
            self.inner.target.set(key, &result, set)?;
        }
        Ok(result)
    }
}

/// What a memo found in the cache.
enum Lookup<R> {
    /// A result to return.
    Fresh(R),
    /// A result to return unless this caller recomputes it early.
    Stale(R),
    /// Nothing: compute.
    Missing,
}

/// A uniform random number in (0, 1), from the operating system's generator.
fn unit_random() -> f64 {
    let bits = crate::platform::random::u64() >> 11; // 53 bits
    (bits as f64 + 0.5) / (1u64 << 53) as f64
}

/// A function and the [`Memo`] of its results: [`Memoized::call`] returns the stored result
/// or computes it (diskcache's `@cache.memoize()` wrapper).
///
/// ```
/// # fn main() -> diskcache::Result<()> {
/// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
/// use diskcache::MemoOptions;
/// let square = cache.memoize("square", MemoOptions::default(), |x: &i64| x * x);
/// assert_eq!(square.call(&12)?, 144);
/// assert_eq!(cache.get::<i64>(square.cache_key(&12)?)?, Some(144));
/// # Ok(()) }
/// ```
pub struct Memoized<A: ?Sized, R, F> {
    memo: Memo<A, R>,
    f: F,
}

impl<A: ?Sized, R, F> std::fmt::Debug for Memoized<A, R, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memoized")
            .field("memo", &self.memo)
            .finish_non_exhaustive()
    }
}

impl<A, R, F> Memoized<A, R, F>
where
    A: Serialize + ?Sized,
    R: Serialize + DeserializeOwned,
    F: Fn(&A) -> R,
{
    /// The stored result for `args`, or the function's, stored and returned.
    ///
    /// # Errors
    /// As [`Memo::get_or_compute`].
    pub fn call(&self, args: &A) -> Result<R> {
        self.memo.get_or_compute(args, |a| Ok((self.f)(a)))
    }

    /// The key the result for `args` is stored under (see [`Memo::cache_key`]).
    ///
    /// # Errors
    /// As [`Memo::cache_key`].
    pub fn cache_key(&self, args: &A) -> Result<Key> {
        self.memo.cache_key(args)
    }

    /// The memo behind the function.
    pub fn memo(&self) -> &Memo<A, R> {
        &self.memo
    }
}

/// A fallible function and the [`Memo`] of its results: as [`Memoized`], for a function that
/// returns the caller's own `Result`. Its errors are returned as they are, and never stored.
///
/// ```
/// # fn main() -> diskcache::Result<()> {
/// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
/// use diskcache::MemoOptions;
/// # #[allow(dead_code)]
/// #[derive(Debug)]
/// enum AppError { Cache(diskcache::Error), NotANumber(String) }
/// impl From<diskcache::Error> for AppError {
///     fn from(e: diskcache::Error) -> Self { AppError::Cache(e) }
/// }
/// let parse = cache.try_memoize("parse", MemoOptions::default(), |s: &str| {
///     s.parse::<i64>().map_err(|_| AppError::NotANumber(s.to_owned()))
/// });
/// assert_eq!(parse.call("12").unwrap(), 12);
/// assert!(matches!(parse.call("twelve"), Err(AppError::NotANumber(_))));
/// assert_eq!(cache.len()?, 1); // the error was not stored
/// # Ok(()) }
/// ```
pub struct TryMemoized<A: ?Sized, R, E, F> {
    memo: Memo<A, R>,
    f: F,
    _error: PhantomData<fn() -> E>,
}

impl<A: ?Sized, R, E, F> std::fmt::Debug for TryMemoized<A, R, E, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TryMemoized")
            .field("memo", &self.memo)
            .finish_non_exhaustive()
    }
}

impl<A, R, E, F> TryMemoized<A, R, E, F>
where
    A: Serialize + ?Sized,
    R: Serialize + DeserializeOwned,
    E: From<Error>,
    F: Fn(&A) -> std::result::Result<R, E>,
{
    /// The stored result for `args`, or the function's, stored and returned; the function's
    /// error is returned as it is.
    ///
    /// # Errors
    /// As [`Memo::try_get_or_compute`].
    pub fn call(&self, args: &A) -> std::result::Result<R, E> {
        self.memo.try_get_or_compute(args, |a| (self.f)(a))
    }

    /// The key the result for `args` is stored under (see [`Memo::cache_key`]).
    ///
    /// # Errors
    /// As [`Memo::cache_key`].
    pub fn cache_key(&self, args: &A) -> Result<Key> {
        self.memo.cache_key(args)
    }

    /// The memo behind the function.
    pub fn memo(&self) -> &Memo<A, R> {
        &self.memo
    }
}

impl Cache {
    /// A memo of results named `name` kept in this cache (see [`Memo`]).
    pub fn memo<A: Serialize + ?Sized, R: Serialize + DeserializeOwned>(
        &self,
        name: &str,
        opts: MemoOptions,
    ) -> Memo<A, R> {
        Memo::new(Target::Cache(self.clone()), name, opts)
    }

    /// Wraps `f` so that its results are kept in this cache under `name` and its arguments
    /// (diskcache's `memoize`; see [`Memoized`]).
    pub fn memoize<A, R, F>(&self, name: &str, opts: MemoOptions, f: F) -> Memoized<A, R, F>
    where
        A: Serialize + ?Sized,
        R: Serialize + DeserializeOwned,
        F: Fn(&A) -> R,
    {
        Memoized {
            memo: self.memo(name, opts),
            f,
        }
    }

    /// As [`Cache::memoize`], for a function that returns the caller's own `Result` (see
    /// [`TryMemoized`]): errors are returned as they are and never stored.
    pub fn try_memoize<A, R, E, F>(
        &self,
        name: &str,
        opts: MemoOptions,
        f: F,
    ) -> TryMemoized<A, R, E, F>
    where
        A: Serialize + ?Sized,
        R: Serialize + DeserializeOwned,
        E: From<Error>,
        F: Fn(&A) -> std::result::Result<R, E>,
    {
        TryMemoized {
            memo: self.memo(name, opts),
            f,
            _error: PhantomData,
        }
    }
}

impl FanoutCache {
    /// A memo of results named `name` kept in this fanout cache (see [`Memo`]).
    pub fn memo<A: Serialize + ?Sized, R: Serialize + DeserializeOwned>(
        &self,
        name: &str,
        opts: MemoOptions,
    ) -> Memo<A, R> {
        Memo::new(Target::Fanout(self.clone()), name, opts)
    }

    /// Wraps `f` so that its results are kept in this fanout cache (see [`Cache::memoize`]).
    pub fn memoize<A, R, F>(&self, name: &str, opts: MemoOptions, f: F) -> Memoized<A, R, F>
    where
        A: Serialize + ?Sized,
        R: Serialize + DeserializeOwned,
        F: Fn(&A) -> R,
    {
        Memoized {
            memo: self.memo(name, opts),
            f,
        }
    }

    /// As [`FanoutCache::memoize`], for a function that returns the caller's own `Result` (see
    /// [`TryMemoized`]): errors are returned as they are and never stored.
    pub fn try_memoize<A, R, E, F>(
        &self,
        name: &str,
        opts: MemoOptions,
        f: F,
    ) -> TryMemoized<A, R, E, F>
    where
        A: Serialize + ?Sized,
        R: Serialize + DeserializeOwned,
        E: From<Error>,
        F: Fn(&A) -> std::result::Result<R, E>,
    {
        TryMemoized {
            memo: self.memo(name, opts),
            f,
            _error: PhantomData,
        }
    }
}
