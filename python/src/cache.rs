//! `_Cache`: the native base class of `diskcache_redb.Cache`, one `diskcache::Cache` handle.
//!
//! Its methods have python-diskcache's names, signatures and results; the Python class adds
//! what is Python only (`transact`, `memoize`, pickling, settings as attributes).

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diskcache::{
    Cache, Entry, EvictionPolicy, Key, Number, Result, SetOptions, Setting, Settings, Side,
    Transaction,
};
use pyo3::exceptions::{PyKeyError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::convert::{ValueIn, ValueOut, from_key, to_key};
use crate::error::to_py;
use crate::tx::OpenTx;

/// One cache directory, opened (python-diskcache's `Cache`).
#[pyclass(subclass, frozen, module = "diskcache_redb._native", name = "_Cache")]
pub struct NativeCache {
    cache: Arc<Cache>,
    /// The transaction a `with cache.transact()` block holds open, if any (`tx.rs`).
    tx: Mutex<Option<Arc<OpenTx>>>,
    /// Whether `tx` holds one: the operations' fast path reads only this.
    tx_open: AtomicBool,
}

/// The policy of a python-diskcache policy name.
fn policy(name: &str) -> PyResult<EvictionPolicy> {
    Ok(match name {
        "least-recently-stored" => EvictionPolicy::LeastRecentlyStored,
        "least-recently-used" => EvictionPolicy::LeastRecentlyUsed,
        "least-frequently-used" => EvictionPolicy::LeastFrequentlyUsed,
        "none" => EvictionPolicy::None,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown eviction policy {other:?}"
            )));
        }
    })
}

/// The python-diskcache name of a policy.
fn policy_name(p: EvictionPolicy) -> &'static str {
    match p {
        EvictionPolicy::LeastRecentlyUsed => "least-recently-used",
        EvictionPolicy::LeastFrequentlyUsed => "least-frequently-used",
        EvictionPolicy::None => "none",
        _ => "least-recently-stored",
    }
}

/// Seconds as a `Duration` (negative: zero).
fn seconds(s: f64) -> PyResult<Duration> {
    if s.is_nan() {
        return Err(PyValueError::new_err("a time in seconds is NaN"));
    }
    Ok(Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX))
}

/// The options of a set: expire in seconds and a tag.
fn options(expire: Option<f64>, tag: Option<&Bound<'_, PyAny>>) -> PyResult<SetOptions> {
    let mut opts = SetOptions::default();
    if let Some(s) = expire {
        opts = opts.expire(seconds(s)?);
    }
    if let Some(t) = tag
        && !t.is_none()
    {
        opts = opts.tag(to_key(t)?);
    }
    Ok(opts)
}

/// A value argument: its bytes read from a file (`read=True`) or the object itself.
fn value_in<'a>(value: &'a Bound<'_, PyAny>, read: bool) -> PyResult<ValueIn<'a>> {
    if read {
        ValueIn::read(value)
    } else {
        ValueIn::of(value)
    }
}

/// A time as seconds since the epoch, or `None`.
fn epoch(py: Python<'_>, t: Option<SystemTime>) -> PyResult<Bound<'_, PyAny>> {
    match t {
        Some(t) => {
            let s = t
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            Ok(s.into_pyobject(py)?.into_any())
        }
        None => Ok(py.None().into_bound(py)),
    }
}

/// A number as a Python int or float.
fn number(py: Python<'_>, n: Number) -> PyResult<Bound<'_, PyAny>> {
    Ok(match n {
        Number::Int(i) => i.into_pyobject(py)?.into_any(),
        Number::Float(x) => x.into_pyobject(py)?.into_any(),
    })
}

/// The side of a python-diskcache side name.
fn side(name: &str) -> PyResult<Side> {
    match name {
        "back" => Ok(Side::Back),
        "front" => Ok(Side::Front),
        other => Err(PyValueError::new_err(format!(
            "side must be 'back' or 'front', not {other:?}"
        ))),
    }
}

/// `value`, or `(value, expire_time)`, `(value, tag)`, `(value, expire_time, tag)`.
fn with_extras<'py>(
    py: Python<'py>,
    value: Bound<'py, PyAny>,
    entry_expire: Option<SystemTime>,
    entry_tag: Option<&Key>,
    expire_time: bool,
    tag: bool,
) -> PyResult<Bound<'py, PyAny>> {
    if !expire_time && !tag {
        return Ok(value);
    }
    let mut items = vec![value];
    if expire_time {
        items.push(epoch(py, entry_expire)?);
    }
    if tag {
        items.push(match entry_tag {
            Some(t) => from_key(py, t)?,
            None => py.None().into_bound(py),
        });
    }
    Ok(PyTuple::new(py, items)?.into_any())
}

impl NativeCache {
    /// Runs a write without the GIL, again while it times out if `retry`.
    fn write<T: Send>(
        &self,
        py: Python<'_>,
        retry: bool,
        f: impl Fn(&Cache) -> Result<T> + Send + Sync,
    ) -> PyResult<T> {
        if self.owned_tx().is_some() {
            return Err(PyRuntimeError::new_err(
                "only get, set, add, delete, pop, incr, decr, touch and `in` can run inside \
                 transact() (the library's transactions have no other operations)",
            ));
        }
        let cache = &self.cache;
        py.detach(|| {
            loop {
                match f(cache) {
                    Err(diskcache::Error::Timeout) if retry => continue,
                    other => return other,
                }
            }
        })
        .map_err(to_py)
    }

    fn entry(&self, py: Python<'_>, key: &Key) -> PyResult<Option<Entry<ValueOut>>> {
        let k = key.clone();
        if let Some(r) = self.in_tx(py, move |t| t.get_entry::<ValueOut>(&k)) {
            return r;
        }
        self.cache.get_entry::<ValueOut>(key).map_err(to_py)
    }

    /// The transaction the calling thread holds open on this handle, if any.
    fn owned_tx(&self) -> Option<Arc<OpenTx>> {
        if !self.tx_open.load(Ordering::Acquire) {
            return None;
        }
        let guard = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().filter(|t| t.is_owner()).cloned()
    }

    /// Runs `f` in the calling thread's open transaction (`None` if it has none).
    fn in_tx<T: Send + 'static>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    ) -> Option<PyResult<T>> {
        let open = self.owned_tx()?;
        Some(py.detach(|| open.run(f)).map_err(to_py))
    }
}

#[pymethods]
impl NativeCache {
    /// Opens (or creates) the cache in `directory` with python-diskcache's settings.
    #[new]
    #[pyo3(signature = (directory, timeout=60.0, settings=None))]
    fn new(
        py: Python<'_>,
        directory: std::path::PathBuf,
        timeout: f64,
        settings: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let mut b = Cache::builder().timeout(seconds(timeout)?);
        if let Some(settings) = settings {
            for (name, value) in settings.iter() {
                let name: String = name.extract()?;
                b = match name.as_str() {
                    "size_limit" => b.size_limit(value.extract()?),
                    "cull_limit" => b.cull_limit(value.extract()?),
                    "eviction_policy" => b.eviction_policy(policy(&value.extract::<String>()?)?),
                    "statistics" => b.statistics(value.is_truthy()?),
                    "tag_index" => b.tag_index(value.is_truthy()?),
                    "disk_min_file_size" => b.min_file_size(value.extract()?),
                    _ => b,
                };
            }
        }
        let cache = py.detach(|| b.open(&directory)).map_err(to_py)?;
        Ok(NativeCache {
            cache: Arc::new(cache),
            tx: Mutex::new(None),
            tx_open: AtomicBool::new(false),
        })
    }

    /// Begins a transaction held until `_tx_end` (`Cache.transact`); `False` if the calling
    /// thread already holds one on this handle.
    #[pyo3(signature = (retry=false))]
    fn _tx_begin(&self, py: Python<'_>, retry: bool) -> PyResult<bool> {
        if self.owned_tx().is_some() {
            return Ok(false);
        }
        let cache = Arc::clone(&self.cache);
        let open = py
            .detach(|| {
                loop {
                    match OpenTx::begin(Arc::clone(&cache)) {
                        Err(diskcache::Error::Timeout) if retry => continue,
                        other => return other,
                    }
                }
            })
            .map_err(to_py)?;
        let mut guard = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_some() {
            return Err(PyRuntimeError::new_err(
                "another thread holds a transaction on this handle",
            ));
        }
        *guard = Some(Arc::new(open));
        self.tx_open.store(true, Ordering::Release);
        Ok(true)
    }

    /// Ends the calling thread's transaction: commits it (`commit`) or rolls it back.
    fn _tx_end(&self, py: Python<'_>, commit: bool) -> PyResult<()> {
        let open = {
            let mut guard = self.tx.lock().unwrap_or_else(|e| e.into_inner());
            match guard.as_ref() {
                Some(t) if t.is_owner() => {}
                _ => return Ok(()),
            }
            self.tx_open.store(false, Ordering::Release);
            guard.take()
        };
        let Some(open) = open.and_then(|a| Arc::try_unwrap(a).ok()) else {
            return Ok(());
        };
        py.detach(|| open.finish(commit)).map_err(to_py)
    }

    /// The cache directory.
    #[getter]
    fn directory(&self) -> String {
        self.cache.directory().to_string_lossy().into_owned()
    }

    /// The write lock's timeout in seconds.
    #[getter]
    fn timeout(&self) -> f64 {
        self.cache.settings().timeout.as_secs_f64()
    }

    /// The stored settings, by python-diskcache's names.
    fn _settings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s: Settings = self.cache.settings();
        let d = PyDict::new(py);
        d.set_item("size_limit", s.size_limit)?;
        d.set_item("cull_limit", s.cull_limit)?;
        d.set_item("eviction_policy", policy_name(s.eviction_policy))?;
        d.set_item("statistics", u8::from(s.statistics))?;
        d.set_item("tag_index", u8::from(s.tag_index))?;
        d.set_item("disk_min_file_size", s.min_file_size)?;
        Ok(d)
    }

    /// Changes a stored setting (python-diskcache's names); returns the value now in force.
    fn _reset<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let setting = match name {
            "size_limit" => Setting::SizeLimit(value.extract()?),
            "cull_limit" => Setting::CullLimit(value.extract()?),
            "eviction_policy" => Setting::EvictionPolicy(policy(&value.extract::<String>()?)?),
            "statistics" => Setting::Statistics(value.is_truthy()?),
            "tag_index" => Setting::TagIndex(value.is_truthy()?),
            "disk_min_file_size" => Setting::MinFileSize(value.extract()?),
            _ => return Ok(value.clone()),
        };
        self.write(py, true, |c| c.reset(setting))?;
        Ok(self
            ._settings(py)?
            .get_item(name)?
            .unwrap_or_else(|| value.clone()))
    }

    /// Stores `value` under `key`; always `True`.
    #[pyo3(signature = (key, value, expire=None, read=false, tag=None, retry=false))]
    #[allow(clippy::too_many_arguments)]
    fn set(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        expire: Option<f64>,
        read: bool,
        tag: Option<&Bound<'_, PyAny>>,
        retry: bool,
    ) -> PyResult<bool> {
        let key = to_key(key)?;
        let value = value_in(value, read)?;
        let opts = options(expire, tag)?;
        if self.tx_open.load(Ordering::Acquire) && self.owned_tx().is_some() {
            let (k, v, o) = (key, value.into_owned(), opts);
            return self
                .in_tx(py, move |t| t.set_with(&k, &v, o))
                .unwrap_or_else(|| Err(PyRuntimeError::new_err("the transaction has ended")))
                .map(|()| true);
        }
        self.write(py, retry, |c| c.set_with(&key, &value, opts.clone()))?;
        Ok(true)
    }

    fn __setitem__(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let key = to_key(key)?;
        let value = ValueIn::of(value)?;
        if self.tx_open.load(Ordering::Acquire) && self.owned_tx().is_some() {
            let (k, v) = (key, value.into_owned());
            return self
                .in_tx(py, move |t| t.set(&k, &v))
                .unwrap_or_else(|| Err(PyRuntimeError::new_err("the transaction has ended")));
        }
        self.write(py, true, |c| c.set(&key, &value))
    }

    /// Stores `value` only if `key` is absent; whether it did.
    #[pyo3(signature = (key, value, expire=None, read=false, tag=None, retry=false))]
    #[allow(clippy::too_many_arguments)]
    fn add(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        expire: Option<f64>,
        read: bool,
        tag: Option<&Bound<'_, PyAny>>,
        retry: bool,
    ) -> PyResult<bool> {
        let key = to_key(key)?;
        let value = value_in(value, read)?.into_owned();
        let opts = options(expire, tag)?;
        let (k, v, o) = (key.clone(), value.clone(), opts.clone());
        if let Some(r) = self.in_tx(py, move |t| t.add(&k, &v, o)) {
            return r;
        }
        self.write(py, retry, |c| c.add(&key, &value, opts.clone()))
    }

    /// The value of `key`, or `default`; with `expire_time`/`tag`, a tuple with them.
    #[pyo3(signature = (key, default=None, read=false, expire_time=false, tag=false, retry=false))]
    #[allow(clippy::too_many_arguments)]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
        read: bool,
        expire_time: bool,
        tag: bool,
        retry: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = retry; // reads take no lock: they never time out
        let key = to_key(key)?;
        let default = default.unwrap_or_else(|| py.None().into_bound(py));
        if self.tx_open.load(Ordering::Acquire) && self.owned_tx().is_some() {
            let value = match self.entry(py, &key)? {
                None => return with_extras(py, default, None, None, expire_time, tag),
                Some(e) => e,
            };
            let v = match (read, value.value) {
                (true, ValueOut::Bytes(b)) => py
                    .import("io")?
                    .getattr("BytesIO")?
                    .call1((pyo3::types::PyBytes::new(py, &b),))?,
                (_, v) => v.into_py(py)?,
            };
            return with_extras(
                py,
                v,
                value.expire_time,
                value.tag.as_ref(),
                expire_time,
                tag,
            );
        }
        if read {
            let Some(mut reader) = self.cache.get_reader(&key).map_err(to_py)? else {
                return with_extras(py, default, None, None, expire_time, tag);
            };
            let mut bytes = Vec::new();
            reader
                .read_to_end(&mut bytes)
                .map_err(|e| pyo3::exceptions::PyOSError::new_err(e.to_string()))?;
            let io = py
                .import("io")?
                .getattr("BytesIO")?
                .call1((pyo3::types::PyBytes::new(py, &bytes),))?;
            if expire_time || tag {
                let entry = self.entry(py, &key)?;
                let (e, t) = entry.map_or((None, None), |en| (en.expire_time, en.tag));
                return with_extras(py, io, e, t.as_ref(), expire_time, tag);
            }
            return Ok(io);
        }
        if !expire_time && !tag {
            return match self.cache.get::<ValueOut>(&key).map_err(to_py)? {
                Some(v) => v.into_py(py),
                None => Ok(default),
            };
        }
        match self.entry(py, &key)? {
            Some(e) => {
                let value = e.value.into_py(py)?;
                with_extras(py, value, e.expire_time, e.tag.as_ref(), expire_time, tag)
            }
            None => with_extras(py, default, None, None, expire_time, tag),
        }
    }

    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = to_key(key)?;
        let found = if self.tx_open.load(Ordering::Acquire) && self.owned_tx().is_some() {
            self.entry(py, &k)?.map(|e| e.value)
        } else {
            self.cache.get::<ValueOut>(&k).map_err(to_py)?
        };
        match found {
            Some(v) => v.into_py(py),
            None => Err(PyKeyError::new_err(key.clone().unbind())),
        }
    }

    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let key = to_key(key)?;
        let k = key.clone();
        if let Some(r) = self.in_tx(py, move |t| t.contains(&k)) {
            return r;
        }
        self.cache.contains(&key).map_err(to_py)
    }

    /// Removes `key`; whether it was there.
    #[pyo3(signature = (key, retry=false))]
    fn delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>, retry: bool) -> PyResult<bool> {
        let key = to_key(key)?;
        let k = key.clone();
        if let Some(r) = self.in_tx(py, move |t| t.delete(&k)) {
            return r;
        }
        self.write(py, retry, |c| c.delete(&key))
    }

    fn __delitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let k = to_key(key)?;
        let k2 = k.clone();
        let found = match self.in_tx(py, move |t| t.delete(&k2)) {
            Some(r) => r?,
            None => self.write(py, true, |c| c.delete(&k))?,
        };
        if found {
            Ok(())
        } else {
            Err(PyKeyError::new_err(key.clone().unbind()))
        }
    }

    /// Removes `key` and returns its value, or `default`.
    #[pyo3(signature = (key, default=None, expire_time=false, tag=false, retry=false))]
    fn pop<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
        expire_time: bool,
        tag: bool,
        retry: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let key = to_key(key)?;
        let default = default.unwrap_or_else(|| py.None().into_bound(py));
        let k = key.clone();
        let popped = match self.in_tx(py, move |t| t.pop_entry::<ValueOut>(&k)) {
            Some(r) => r?,
            None => self.write(py, retry, |c| c.pop_entry::<ValueOut>(&key))?,
        };
        match popped {
            Some(e) => {
                let value = e.value.into_py(py)?;
                with_extras(py, value, e.expire_time, e.tag.as_ref(), expire_time, tag)
            }
            None => with_extras(py, default, None, None, expire_time, tag),
        }
    }

    /// Sets a new expire time on `key`; whether it was there.
    #[pyo3(signature = (key, expire=None, retry=false))]
    fn touch(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        expire: Option<f64>,
        retry: bool,
    ) -> PyResult<bool> {
        let key = to_key(key)?;
        let expire = expire.map(seconds).transpose()?;
        let k = key.clone();
        if let Some(r) = self.in_tx(py, move |t| t.touch(&k, expire)) {
            return r;
        }
        self.write(py, retry, |c| c.touch(&key, expire))
    }

    /// Adds `delta` to the number under `key` (absent: `default`, or `KeyError` if `None`).
    #[pyo3(signature = (key, delta=1, default=Some(0), retry=false))]
    fn incr<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        delta: i64,
        default: Option<i64>,
        retry: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = to_key(key)?;
        let k2 = k.clone();
        let result = match self.in_tx(py, move |t| t.incr(&k2, delta, default)) {
            Some(r) => r,
            None => self.write(py, retry, |c| c.incr(&k, delta, default)),
        };
        match result {
            Ok(n) => number(py, n),
            Err(e) if e.is_instance_of::<PyKeyError>(py) => {
                Err(PyKeyError::new_err(key.clone().unbind()))
            }
            Err(e) => Err(e),
        }
    }

    /// Subtracts `delta`: `incr(key, -delta, default)`.
    #[pyo3(signature = (key, delta=1, default=Some(0), retry=false))]
    fn decr<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        delta: i64,
        default: Option<i64>,
        retry: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let neg = delta
            .checked_neg()
            .ok_or_else(|| PyValueError::new_err("delta out of range"))?;
        self.incr(py, key, neg, default, retry)
    }

    /// The number of entries (expired ones included, as in python-diskcache).
    fn __len__(&self) -> PyResult<usize> {
        let n = self.cache.len().map_err(to_py)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// The bytes the entries occupy.
    fn volume(&self) -> PyResult<u64> {
        self.cache.volume().map_err(to_py)
    }

    /// Removes every entry; how many.
    #[pyo3(signature = (retry=false))]
    fn clear(&self, py: Python<'_>, retry: bool) -> PyResult<u64> {
        self.write(py, retry, |c| c.clear())
    }

    /// Removes the expired entries; how many.
    #[pyo3(signature = (now=None, retry=false))]
    fn expire(&self, py: Python<'_>, now: Option<f64>, retry: bool) -> PyResult<u64> {
        let _ = now; // the library's clock decides
        self.write(py, retry, |c| c.expire())
    }

    /// Removes the entries tagged `tag`; how many.
    #[pyo3(signature = (tag, retry=false))]
    fn evict(&self, py: Python<'_>, tag: &Bound<'_, PyAny>, retry: bool) -> PyResult<u64> {
        let tag = to_key(tag)?;
        self.write(py, retry, |c| c.evict(&tag))
    }

    /// Removes expired entries, then policy victims while over the size limit; how many.
    #[pyo3(signature = (retry=false))]
    fn cull(&self, py: Python<'_>, retry: bool) -> PyResult<u64> {
        self.write(py, retry, |c| c.cull())
    }

    /// `(hits, misses)`; `enable` turns counting on or off, `reset` zeroes the counts.
    #[pyo3(signature = (enable=true, reset=false))]
    fn stats(&self, py: Python<'_>, enable: bool, reset: bool) -> PyResult<(u64, u64)> {
        let s = self.write(py, true, |c| c.stats(enable, reset))?;
        Ok((s.hits, s.misses))
    }

    /// The problems found (and with `fix`, repaired), as sentences.
    #[pyo3(signature = (fix=false, retry=false))]
    fn _check(&self, py: Python<'_>, fix: bool, retry: bool) -> PyResult<Vec<String>> {
        let found = self.write(py, retry, |c| c.check(fix))?;
        Ok(found.iter().map(ToString::to_string).collect())
    }

    /// Keeps an index of tags, so that `evict` does not scan.
    fn create_tag_index(&self, py: Python<'_>) -> PyResult<()> {
        self.write(py, true, |c| c.create_tag_index())
    }

    /// Drops the index of tags.
    fn drop_tag_index(&self, py: Python<'_>) -> PyResult<()> {
        self.write(py, true, |c| c.drop_tag_index())
    }

    /// Pushes `value` onto the queue named `prefix`; returns its key.
    #[pyo3(signature = (value, prefix=None, side="back", expire=None, read=false, tag=None, retry=false))]
    #[allow(clippy::too_many_arguments)]
    fn push<'py>(
        &self,
        py: Python<'py>,
        value: &Bound<'py, PyAny>,
        prefix: Option<String>,
        side: &str,
        expire: Option<f64>,
        read: bool,
        tag: Option<&Bound<'py, PyAny>>,
        retry: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let value = value_in(value, read)?;
        let opts = options(expire, tag)?;
        let s = self::side(side)?;
        let key = self.write(py, retry, |c| {
            c.push(&value, prefix.as_deref(), s, opts.clone())
        })?;
        from_key(py, &key)
    }

    /// Removes and returns `(key, value)` from the `side` of the queue `prefix`, or `default`.
    #[pyo3(signature = (prefix=None, default=None, side="front", expire_time=false, tag=false, retry=false))]
    #[allow(clippy::too_many_arguments)]
    fn pull<'py>(
        &self,
        py: Python<'py>,
        prefix: Option<String>,
        default: Option<Bound<'py, PyAny>>,
        side: &str,
        expire_time: bool,
        tag: bool,
        retry: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let s = self::side(side)?;
        let item = self.write(py, retry, |c| c.pull::<ValueOut>(prefix.as_deref(), s))?;
        self.queue_item(py, item, default, expire_time, tag)
    }

    /// Returns `(key, value)` from the `side` of the queue `prefix` without removing it.
    #[pyo3(signature = (prefix=None, default=None, side="front", expire_time=false, tag=false, retry=false))]
    #[allow(clippy::too_many_arguments)]
    fn peek<'py>(
        &self,
        py: Python<'py>,
        prefix: Option<String>,
        default: Option<Bound<'py, PyAny>>,
        side: &str,
        expire_time: bool,
        tag: bool,
        retry: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let s = self::side(side)?;
        let item = self.write(py, retry, |c| c.peek::<ValueOut>(prefix.as_deref(), s))?;
        self.queue_item(py, item, default, expire_time, tag)
    }

    /// The first (`last=False`) or last entry in insertion order, as `(key, value)`.
    #[pyo3(signature = (last=true, expire_time=false, tag=false, retry=false))]
    fn peekitem<'py>(
        &self,
        py: Python<'py>,
        last: bool,
        expire_time: bool,
        tag: bool,
        retry: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let item = self.write(py, retry, |c| c.peekitem::<ValueOut>(last))?;
        let Some((key, value)) = item else {
            return Err(PyKeyError::new_err("dictionary is empty"));
        };
        let pair = PyTuple::new(py, [from_key(py, &key)?, value.into_py(py)?])?.into_any();
        if !expire_time && !tag {
            return Ok(pair);
        }
        let entry = self.cache.get_entry::<ValueOut>(&key).ok().flatten();
        let (e, t) = entry.map_or((None, None), |en| (en.expire_time, en.tag));
        with_extras(py, pair, e, t.as_ref(), expire_time, tag)
    }

    /// The keys in insertion order.
    fn _keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let keys = self.cache.keys().map_err(to_py)?;
        let list = PyList::empty(py);
        for k in keys {
            list.append(from_key(py, &k.map_err(to_py)?)?)?;
        }
        Ok(list)
    }

    /// The keys in sorted order (`reverse`: descending).
    fn _sorted_keys<'py>(&self, py: Python<'py>, reverse: bool) -> PyResult<Bound<'py, PyList>> {
        let keys = self.write(py, true, |c| {
            c.keys_sorted(reverse)?.collect::<Result<Vec<_>>>()
        })?;
        let list = PyList::empty(py);
        for k in &keys {
            list.append(from_key(py, k)?)?;
        }
        Ok(list)
    }

    /// Applies the shared log to the database (closing the last handle does it too).
    fn _checkpoint(&self, py: Python<'_>) -> PyResult<()> {
        self.write(py, true, |c| c.checkpoint())
    }
}

impl NativeCache {
    fn queue_item<'py>(
        &self,
        py: Python<'py>,
        item: Option<(Key, ValueOut)>,
        default: Option<Bound<'py, PyAny>>,
        expire_time: bool,
        tag: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Some((key, value)) = item else {
            return Ok(match default {
                Some(d) => d,
                None => PyTuple::new(py, [py.None(), py.None()])?.into_any(),
            });
        };
        let pair = PyTuple::new(py, [from_key(py, &key)?, value.into_py(py)?])?.into_any();
        // The queue's result has no expire time or tag: the library returns the key and
        // value only (README, Differences), so the extras read as `None`.
        with_extras(py, pair, None, None, expire_time, tag)
    }
}
