//! The library's errors as Python exceptions.

use diskcache::Error;
use pyo3::exceptions::{PyKeyError, PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;

pyo3::create_exception!(
    diskcache_redb,
    Timeout,
    pyo3::exceptions::PyException,
    "The write lock was not had in time (python-diskcache's `Timeout`)."
);

/// The Python exception of a library error: `Timeout`, `KeyError` for a missing key,
/// `TypeError` for a value that is not a number (`incr`) or not of the type asked for,
/// `ValueError` for a bad argument, `OSError` for I/O, `RuntimeError` for the rest (damage,
/// storage, versions).
pub fn to_py(e: Error) -> PyErr {
    match e {
        Error::Timeout => Timeout::new_err("the cache's write lock was not had in time"),
        Error::KeyNotFound => PyKeyError::new_err("key not found"),
        Error::NotAnInteger => PyTypeError::new_err(e.to_string()),
        Error::Codec(_) => PyTypeError::new_err(e.to_string()),
        Error::InvalidArgument(_) => PyValueError::new_err(e.to_string()),
        Error::Io(io) => PyOSError::new_err(io.to_string()),
        other => PyRuntimeError::new_err(other.to_string()),
    }
}
