//! The native part of the Python module `diskcache_redb`: python-diskcache's `Cache` on this
//! crate's engine, and the conversion of Python keys and values (`convert`). The rest of the
//! module (`FanoutCache`, `Deque`, `Index`, memoization, recipes) is Python, in
//! `python/diskcache_redb/`, on top of it.

mod cache;
mod convert;
mod error;
mod tx;

use pyo3::prelude::*;

/// The module `diskcache_redb._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<cache::NativeCache>()?;
    m.add("Timeout", m.py().get_type::<error::Timeout>())?;
    m.add_function(wrap_pyfunction!(_key_hash, m)?)?;
    Ok(())
}

/// The shard hash of a key: the Rust `FanoutCache`'s (`format-spec/directory.md`, the shard hash:
/// FNV-1a over the encoded key, then a 64-bit finalizer; never 0).
#[pyfunction]
fn _key_hash(key: &Bound<'_, PyAny>) -> PyResult<u64> {
    let encoded = convert::to_key(key)?.encode().map_err(error::to_py)?;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in &encoded {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    Ok(h.max(1))
}
