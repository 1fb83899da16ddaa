//! Computing a missing value once: [`Cache::get_or_insert_with`] and
//! [`Cache::get_or_try_insert_with`] (and [`FanoutCache`]'s), and the per-key gates they share
//! with memoization, which make threads that miss the same key at once compute it once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cache::Cache;
use crate::error::Error;
use crate::fanout::FanoutCache;
use crate::format::key::IntoKey;

/// Per key being computed in this process, the lock its computation holds: a second caller of
/// the same key waits for the first one's result instead of computing too.
#[derive(Default)]
pub(crate) struct KeyGates {
    computing: Mutex<HashMap<Vec<u8>, Arc<Mutex<()>>>>,
}

impl std::fmt::Debug for KeyGates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyGates").finish_non_exhaustive()
    }
}

impl KeyGates {
    /// Runs `f` holding the gate of the encoded key `key`: one caller at a time per key.
    pub(crate) fn with<T>(&self, key: &[u8], f: impl FnOnce() -> T) -> T {
        if crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::UngatedCompute) {
            // Negative control (`sabotage`): every caller computes.
            return f();
        }
        let gate = {
            let mut computing = self.computing();
            computing.entry(key.to_vec()).or_default().clone()
        };
        let held = Held {
            gates: self,
            key,
            gate: Some(gate.clone()),
        };
        let locked = gate.lock().unwrap_or_else(PoisonError::into_inner);
        let out = f();
        drop(locked);
        drop(held);
        out
    }

    fn computing(&self) -> MutexGuard<'_, HashMap<Vec<u8>, Arc<Mutex<()>>>> {
        self.computing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A caller's hold on a gate: forgets the gate once no caller holds or waits for it, even if
/// the computation panicked.
struct Held<'a> {
    gates: &'a KeyGates,
    key: &'a [u8],
    gate: Option<Arc<Mutex<()>>>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut computing = self.gates.computing();
        let gate = self.gate.take();
        // The map's reference, this one, and the one `with` still holds.
        if gate.is_some_and(|gate| Arc::strong_count(&gate) <= 3) {
            computing.remove(self.key);
        }
    }
}

impl Cache {
    /// The value stored under `key`, or `f()`, stored (with no expire time) and returned.
    /// Threads using clones of this handle that miss the same key at once call `f` once: the
    /// others wait and return its result. (For an expire time, a tag, or arguments that make
    /// the key, see [`Cache::memo`].)
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
    /// let answer: i64 = cache.get_or_insert_with("answer", || 6 * 7)?;
    /// assert_eq!(answer, 42);
    /// assert_eq!(cache.get_or_insert_with("answer", || 0)?, 42); // stored: not called again
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Cache::get`] and [`Cache::set`].
    pub fn get_or_insert_with<V>(
        &self,
        key: impl IntoKey,
        f: impl FnOnce() -> V,
    ) -> crate::Result<V>
    where
        V: Serialize + DeserializeOwned,
    {
        self.get_or_try_insert_with(key, || Ok(f()))
    }

    /// As [`Cache::get_or_insert_with`], for a computation that can fail with the caller's
    /// own error type: its error is returned as it is, and nothing is stored.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
    /// # #[allow(dead_code)]
    /// #[derive(Debug)]
    /// enum AppError { Cache(diskcache::Error), Parse(std::num::ParseIntError) }
    /// impl From<diskcache::Error> for AppError {
    ///     fn from(e: diskcache::Error) -> Self { AppError::Cache(e) }
    /// }
    /// let parsed = cache.get_or_try_insert_with("port", || {
    ///     "8080".parse::<u16>().map_err(AppError::Parse)
    /// });
    /// assert_eq!(parsed.unwrap(), 8080);
    /// let failed = cache.get_or_try_insert_with("bad", || "x".parse::<u16>().map_err(AppError::Parse));
    /// assert!(matches!(failed, Err(AppError::Parse(_))));
    /// assert!(!cache.contains("bad")?);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// What `f` returns; the cache's errors as `E` (as [`Cache::get_or_insert_with`]).
    pub fn get_or_try_insert_with<V, E>(
        &self,
        key: impl IntoKey,
        f: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E>
    where
        V: Serialize + DeserializeOwned,
        E: From<Error>,
    {
        let key = key.into_key()?;
        if let Some(value) = self.get(&key)? {
            return Ok(value);
        }
        let encoded = key.encode()?;
        self.gates().with(&encoded, || {
            // Another thread may have stored it while this one waited. This second look does
            // not count: the call counted its miss above, one read per call.
            if let Some(entry) = self.get_entry_uncounted::<V>(&key)? {
                return Ok(entry.value);
            }
            let value = f()?;
            self.set(&key, &value)?;
            Ok(value)
        })
    }
}

impl FanoutCache {
    /// As [`Cache::get_or_insert_with`], in the key's shard.
    ///
    /// # Errors
    /// As [`Cache::get_or_insert_with`] (a timeout too: the value is not computed twice).
    pub fn get_or_insert_with<V>(
        &self,
        key: impl IntoKey,
        f: impl FnOnce() -> V,
    ) -> crate::Result<V>
    where
        V: Serialize + DeserializeOwned,
    {
        self.get_or_try_insert_with(key, || Ok(f()))
    }

    /// As [`Cache::get_or_try_insert_with`], in the key's shard.
    ///
    /// # Errors
    /// As [`Cache::get_or_try_insert_with`].
    pub fn get_or_try_insert_with<V, E>(
        &self,
        key: impl IntoKey,
        f: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E>
    where
        V: Serialize + DeserializeOwned,
        E: From<Error>,
    {
        let key = key.into_key()?;
        self.shard(&key)?.get_or_try_insert_with(key, f)
    }
}
