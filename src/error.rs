//! The crate's one error type.

use std::fmt;
use std::io;

/// The result of every fallible operation in this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong, as one enum.
///
/// Messages are sentences that name what failed and where (the path, the key, the expected and
/// found values), so they can be shown to a person as they are.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The operating system refused an operation on a file of the cache (a full disk, a
    /// permission, too many open files).
    Io(io::Error),
    /// The write lock could not be had within the cache's `timeout`; or a recipe's
    /// `acquire_timeout` (a [`crate::Lock`], a semaphore's permit, a throttle's token) ran
    /// past the time it was given.
    Timeout,
    /// `incr`/`decr` found no value and no default was given.
    KeyNotFound,
    /// `incr`/`decr` found a value that is not an integer.
    NotAnInteger,
    /// Stored bytes failed a check: a crc32 mismatch, a truncated record, an unknown tag.
    /// Never returned as wrong data.
    Corrupted(String),
    /// A value could not be serialized, or the stored value is not of the type asked for.
    Codec(String),
    /// An argument or setting is out of range: a NaN key, a key over the size limit, a zero
    /// value where one is not allowed.
    InvalidArgument(String),
    /// The database engine (redb) reported an error that is not a plain I/O error.
    Storage(String),
    /// The cache was written by a newer format version than this build understands.
    UnsupportedVersion {
        /// The format version found in the cache.
        found: u64,
        /// The newest format version this build reads.
        supported: u64,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Timeout => f.write_str(
                "timed out waiting for the cache's write lock, or for a recipe's lock, permit or token",
            ),
            Error::KeyNotFound => {
                f.write_str("the key is not in the cache and no default was given")
            }
            Error::NotAnInteger => f.write_str("the stored value is not an integer"),
            Error::Corrupted(msg) => write!(f, "corrupted cache data: {msg}"),
            Error::Codec(msg) => write!(f, "value codec error: {msg}"),
            Error::InvalidArgument(msg) => write!(f, "invalid argument: {msg}"),
            Error::Storage(msg) => write!(f, "database error: {msg}"),
            Error::UnsupportedVersion { found, supported } => write!(
                f,
                "the cache has format version {found}, but this build reads versions up to {supported}"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// The I/O error of a commit, or of the log's sync after its records were written, after
/// which the write may or may not have been applied (redb may have made the commit durable
/// before the failing call; recovery replays a logged block whatever its sync said).
#[derive(Debug)]
struct OutcomeUnknown(io::Error);

impl fmt::Display for OutcomeUnknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (the write may or may not have been applied)", self.0)
    }
}

impl std::error::Error for OutcomeUnknown {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl Error {
    /// Whether this error left the failed write's outcome unknown: an I/O error while
    /// committing it, after which it may be applied (now, or when the cache next recovers),
    /// or not at all. Either way it is applied whole or not at all.
    pub fn outcome_unknown(&self) -> bool {
        if crate::sabotage::on(crate::sabotage::Sabotage::DiscardOnUnknownOutcome) {
            // Negative control (`sabotage`): every failed write counts as not applied.
            return false;
        }
        matches!(self, Error::Io(e) if e.get_ref().is_some_and(|inner| inner.is::<OutcomeUnknown>()))
    }

    /// Marks an I/O or storage error met while committing a write (or after it committed) as
    /// an [`Error::Io`] whose outcome is unknown; other errors are returned as they are.
    pub(crate) fn at_commit(self) -> Error {
        if self.outcome_unknown() {
            return self;
        }
        let inner = match self {
            Error::Io(e) => e,
            // redb's "a previous I/O error occurred" and its kin, met after the commit.
            Error::Storage(msg) => io::Error::other(msg),
            other => return other,
        };
        Error::Io(io::Error::new(inner.kind(), OutcomeUnknown(inner)))
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// Maps a redb storage error, keeping plain I/O errors as [`Error::Io`].
impl From<redb::StorageError> for Error {
    fn from(e: redb::StorageError) -> Self {
        match e {
            redb::StorageError::Io(io) => Error::Io(io),
            other => Error::Storage(other.to_string()),
        }
    }
}

impl From<redb::DatabaseError> for Error {
    fn from(e: redb::DatabaseError) -> Self {
        match e {
            redb::DatabaseError::Storage(s) => s.into(),
            other => Error::Storage(other.to_string()),
        }
    }
}

impl From<redb::TransactionError> for Error {
    fn from(e: redb::TransactionError) -> Self {
        match e {
            redb::TransactionError::Storage(s) => s.into(),
            other => Error::Storage(other.to_string()),
        }
    }
}

impl From<redb::TableError> for Error {
    fn from(e: redb::TableError) -> Self {
        match e {
            redb::TableError::Storage(s) => s.into(),
            other => Error::Storage(other.to_string()),
        }
    }
}

impl From<redb::CommitError> for Error {
    fn from(e: redb::CommitError) -> Self {
        match e {
            redb::CommitError::Storage(s) => s.into(),
            other => Error::Storage(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_a_sentence_and_io_keeps_its_source() {
        let e = Error::from(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
        assert!(e.to_string().contains("disk full"));
        assert!(std::error::Error::source(&e).is_some());
        let v = Error::UnsupportedVersion {
            found: 9,
            supported: 1,
        };
        assert_eq!(
            v.to_string(),
            "the cache has format version 9, but this build reads versions up to 1"
        );
    }
}
