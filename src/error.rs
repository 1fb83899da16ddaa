//! The crate's one error type.

use std::fmt;
use std::io;

/// The result of every fallible operation in this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong, as one enum.
///
/// Messages are sentences that name what failed and where (the path, the key, the expected and
/// found values), so they can be shown to a person as they are. The error underneath one, where
/// there is one (an I/O error, redb's, a codec's), is its [`std::error::Error::source`], and
/// [`Error::kind`] names the variant without its contents, for matching.
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
    /// `incr`/`decr` found a value that is not a number (an integer or a float).
    NotAnInteger,
    /// Stored bytes failed a check: a crc32 mismatch, a truncated record, an unknown tag, a
    /// damaged page of the database. Never returned as wrong data.
    Corrupted(Detail),
    /// A value could not be serialized, or the stored value is not of the type asked for.
    Codec(Detail),
    /// An argument or setting is out of range: a NaN key, a key over the size limit, a zero
    /// value where one is not allowed.
    InvalidArgument(String),
    /// The database engine (redb) reported an error that is not a plain I/O error.
    Storage(Detail),
    /// `push` found its item's key already stored: the queue has reached the end of its
    /// key range at that side (Python diskcache's `sqlite3.IntegrityError` from `push`).
    QueueFull(String),
    /// The cache was written by a newer format version than this build understands.
    UnsupportedVersion {
        /// The format version found in the cache.
        found: u64,
        /// The newest format version this build reads.
        supported: u64,
    },
}

/// Which kind of [`Error`] it is, without its contents: for matching and for logs.
///
/// ```
/// # fn main() -> diskcache::Result<()> {
/// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
/// cache.set("name", "Ada")?;
/// let e = cache.incr("name", 1, None).unwrap_err();
/// assert_eq!(e.kind(), diskcache::ErrorKind::NotAnInteger);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::Io`].
    Io,
    /// [`Error::Timeout`].
    Timeout,
    /// [`Error::KeyNotFound`].
    KeyNotFound,
    /// [`Error::NotAnInteger`].
    NotAnInteger,
    /// [`Error::Corrupted`].
    Corrupted,
    /// [`Error::Codec`].
    Codec,
    /// [`Error::InvalidArgument`].
    InvalidArgument,
    /// [`Error::Storage`].
    Storage,
    /// [`Error::QueueFull`].
    QueueFull,
    /// [`Error::UnsupportedVersion`].
    UnsupportedVersion,
}

/// What went wrong, in words, and the error underneath it if there was one (its
/// [`std::error::Error::source`] through the [`Error`] holding it).
#[derive(Debug)]
pub struct Detail {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Detail {
    /// A detail with a message and no error underneath.
    pub fn new(message: impl Into<String>) -> Detail {
        Detail {
            message: message.into(),
            source: None,
        }
    }

    /// A detail with a message and the error that caused it.
    ///
    /// ```
    /// use std::error::Error as _;
    /// use diskcache::{Detail, Error};
    /// let cause = std::io::Error::other("gzip: invalid header");
    /// let e = Error::Corrupted(Detail::with_source("a packed value does not unpack", cause));
    /// assert!(e.to_string().contains("does not unpack"));
    /// assert_eq!(e.source().unwrap().to_string(), "gzip: invalid header");
    /// ```
    pub fn with_source(
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Detail {
        Detail {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error underneath, if any.
    pub fn source(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.source.as_deref()
    }
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
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
            Error::NotAnInteger => f.write_str("the stored value is not a number"),
            Error::Corrupted(d) => write!(f, "corrupted cache data: {d}"),
            Error::Codec(d) => write!(f, "value codec error: {d}"),
            Error::InvalidArgument(msg) => write!(f, "invalid argument: {msg}"),
            Error::Storage(d) => write!(f, "database error: {d}"),
            Error::QueueFull(msg) => write!(f, "queue full: {msg}"),
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
            Error::Corrupted(d) | Error::Codec(d) | Error::Storage(d) => {
                d.source.as_deref().map(|e| e as _)
            }
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
    /// Which kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io(_) => ErrorKind::Io,
            Error::Timeout => ErrorKind::Timeout,
            Error::KeyNotFound => ErrorKind::KeyNotFound,
            Error::NotAnInteger => ErrorKind::NotAnInteger,
            Error::Corrupted(_) => ErrorKind::Corrupted,
            Error::Codec(_) => ErrorKind::Codec,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::Storage(_) => ErrorKind::Storage,
            Error::QueueFull(_) => ErrorKind::QueueFull,
            Error::UnsupportedVersion { .. } => ErrorKind::UnsupportedVersion,
        }
    }

    /// [`Error::Corrupted`] with this message.
    pub fn corrupted(message: impl Into<String>) -> Error {
        Error::Corrupted(Detail::new(message))
    }

    /// [`Error::Codec`] with this message.
    pub fn codec(message: impl Into<String>) -> Error {
        Error::Codec(Detail::new(message))
    }

    /// [`Error::Storage`] with this message.
    pub(crate) fn storage(message: impl Into<String>) -> Error {
        Error::Storage(Detail::new(message))
    }

    /// redb's error as [`Error::Storage`], with it as the source.
    fn redb(e: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Storage(Detail::with_source(e.to_string(), e))
    }

    /// Whether this is redb's refusal of a handle that an earlier I/O error left failing:
    /// its source is `redb::StorageError::PreviousIo` (told by type, not by message).
    pub(crate) fn is_previous_io(&self) -> bool {
        matches!(self, Error::Storage(d)
            if d.source().and_then(|e| e.downcast_ref::<redb::StorageError>())
                .is_some_and(|e| matches!(e, redb::StorageError::PreviousIo)))
    }

    /// Whether this error left the failed write's outcome unknown: an I/O error while
    /// committing it, after which it may be applied (now, or when the cache next recovers),
    /// or not at all. Either way it is applied whole or not at all.
    pub fn outcome_unknown(&self) -> bool {
        if crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::DiscardOnUnknownOutcome)
        {
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
            Error::Storage(d) => io::Error::other(d.to_string()),
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
            other => Error::redb(other),
        }
    }
}

impl From<redb::DatabaseError> for Error {
    fn from(e: redb::DatabaseError) -> Self {
        match e {
            redb::DatabaseError::Storage(s) => s.into(),
            other => Error::redb(other),
        }
    }
}

impl From<redb::TransactionError> for Error {
    fn from(e: redb::TransactionError) -> Self {
        match e {
            redb::TransactionError::Storage(s) => s.into(),
            other => Error::redb(other),
        }
    }
}

impl From<redb::TableError> for Error {
    fn from(e: redb::TableError) -> Self {
        match e {
            redb::TableError::Storage(s) => s.into(),
            other => Error::redb(other),
        }
    }
}

impl From<redb::CommitError> for Error {
    fn from(e: redb::CommitError) -> Self {
        match e {
            redb::CommitError::Storage(s) => s.into(),
            other => Error::redb(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redb_error_is_storage_and_keeps_redb_s_error_as_its_source() {
        let e = Error::from(redb::StorageError::PreviousIo);
        assert_eq!(e.kind(), ErrorKind::Storage);
        assert!(e.is_previous_io());
        let source = std::error::Error::source(&e).expect("redb's error is the source");
        assert!(source.downcast_ref::<redb::StorageError>().is_some());
        assert!(!Error::storage("something else").is_previous_io());
    }

    #[test]
    fn every_variant_has_its_kind() {
        assert_eq!(Error::corrupted("x").kind(), ErrorKind::Corrupted);
        assert_eq!(Error::codec("x").kind(), ErrorKind::Codec);
        assert_eq!(Error::Timeout.kind(), ErrorKind::Timeout);
        let io = Error::from(io::Error::other("x"));
        assert_eq!(io.kind(), ErrorKind::Io);
    }

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
