//! Why a command or a batch request failed: a library error, a bad request, or an operation
//! the cache directory does not support; each has a name for machine output.

use std::fmt;

use diskcache::Error;

/// A failed command or request.
#[derive(Debug)]
pub enum Failure {
    /// The library's error.
    Cache(Error),
    /// The request or arguments are malformed: bad JSON, an unknown operation, a missing or
    /// ill-typed argument.
    BadRequest(String),
    /// The operation does not exist for this kind of cache (a `FanoutCache` has no queue).
    Unsupported(String),
    /// There is nothing to return (`peekitem` on an empty cache, Python's `KeyError`); named
    /// `KeyNotFound` like the library's error.
    NotFound(String),
}

impl Failure {
    /// The name machine output gives it: the `Error` variant's name, or `BadRequest` /
    /// `Unsupported`.
    pub fn name(&self) -> &'static str {
        match self {
            Failure::Cache(e) => match e {
                Error::Io(_) => "Io",
                Error::Timeout => "Timeout",
                Error::KeyNotFound => "KeyNotFound",
                Error::NotAnInteger => "NotAnInteger",
                Error::Corrupted(_) => "Corrupted",
                Error::Codec(_) => "Codec",
                Error::InvalidArgument(_) => "InvalidArgument",
                Error::Storage(_) => "Storage",
                Error::QueueFull(_) => "QueueFull",
                Error::UnsupportedVersion { .. } => "UnsupportedVersion",
                _ => "Error",
            },
            Failure::BadRequest(_) => "BadRequest",
            Failure::Unsupported(_) => "Unsupported",
            Failure::NotFound(_) => "KeyNotFound",
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Cache(e) => e.fmt(f),
            Failure::BadRequest(m) | Failure::Unsupported(m) | Failure::NotFound(m) => {
                f.write_str(m)
            }
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Cache(e)
    }
}

impl From<std::io::Error> for Failure {
    /// An I/O error, or the library's error it carries (a `ValueReader` reports a damaged
    /// value's checksum as `InvalidData` wrapping `Error::Corrupted`).
    fn from(e: std::io::Error) -> Self {
        if !e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            return Failure::Cache(Error::Io(e));
        }
        let kind = e.kind();
        match e.into_inner().map(|inner| inner.downcast::<Error>()) {
            Some(Ok(inner)) => Failure::Cache(*inner),
            // Not reached: the error was checked to carry an `Error` above.
            _ => Failure::Cache(Error::Io(kind.into())),
        }
    }
}

/// The result of a command or request.
pub type Outcome<T> = Result<T, Failure>;
