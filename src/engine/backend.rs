//! The redb storage backend: redb's `FileBackend` with `sync_data` following [`Durability`]:
//! it syncs where redb's commit protocol asks at [`Durability::Sync`] and
//! [`Durability::Normal`], never at [`Durability::NoSync`].

use std::fs::File;
use std::ops::Bound;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

/// The I/O error type of redb's backend methods (without its `experimental-api-5` feature).
type BackendIoError = std::io::Error;

use crate::settings::Durability;
use crate::testing::fault::{self, Point};
use crate::testing::recorder;

/// Delegates every method to redb's [`FileBackend`], the six lock methods and `close` too
/// (MultiWriter mode refuses a backend without them), and calls `sync_data` only when the
/// durability level asks for it.
#[derive(Debug)]
pub(crate) struct DurabilityBackend {
    inner: FileBackend,
    /// The file's path, as the test recorder names it (`testing::recorder`).
    path: PathBuf,
    sync: bool,
    /// How many `sync_data` calls reached the disk; read by tests of the durability promise.
    syncs: Arc<AtomicU64>,
    /// While the database is being opened: when blocking locks give up. redb's open waits for
    /// another process's write transaction to end; this bounds that wait by the timeout.
    open_deadline: Arc<Mutex<Option<Instant>>>,
}

impl DurabilityBackend {
    /// Wraps `file`, found at `path`; `syncs` counts the `sync_data` calls that reach the
    /// disk. Blocking lock calls give up with an `io::ErrorKind::TimedOut` error at
    /// `open_deadline` while it is set (the caller clears it once the database is open).
    pub(crate) fn new(
        file: File,
        path: PathBuf,
        durability: Durability,
        syncs: Arc<AtomicU64>,
        open_deadline: Arc<Mutex<Option<Instant>>>,
    ) -> Result<Self, redb::DatabaseError> {
        Ok(DurabilityBackend {
            inner: FileBackend::new(file)?,
            path,
            sync: durability.syncs_commits()
                && !crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::NoCommitSync),
            syncs,
            open_deadline,
        })
    }

    /// Takes a lock by polling `try_lock` until the open deadline, if one is set; else
    /// `None` (the caller blocks as redb asked).
    fn lock_until_deadline(
        &self,
        try_lock: impl Fn() -> Result<bool, BackendError>,
    ) -> Option<Result<(), BackendError>> {
        let deadline = (*self
            .open_deadline
            .lock()
            .unwrap_or_else(PoisonError::into_inner))?;
        let mut pause = Duration::from_micros(50);
        loop {
            match try_lock() {
                Ok(true) => return Some(Ok(())),
                Ok(false) => {}
                Err(e) => return Some(Err(e)),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let e = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "timed out waiting for another process's write transaction to open the database",
                );
                return Some(Err(BackendError::Io(e)));
            }
            std::thread::sleep(pause.min(left));
            pause = (pause * 2).min(Duration::from_millis(5));
        }
    }
}

impl StorageBackend for DurabilityBackend {
    fn len(&self) -> Result<u64, BackendIoError> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), BackendIoError> {
        fault::check(Point::DbRead)?;
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), BackendIoError> {
        fault::check(Point::DbSetLen)?;
        self.inner.set_len(len)?;
        recorder::set_len(&self.path, len);
        Ok(())
    }

    fn sync_data(&self) -> Result<(), BackendIoError> {
        if self.sync {
            fault::check(Point::DbSync)?;
            self.syncs.fetch_add(1, Ordering::Relaxed);
            self.inner.sync_data()?;
            recorder::sync_file(&self.path);
            Ok(())
        } else {
            Ok(())
        }
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), BackendIoError> {
        fault::check(Point::DbWrite)?;
        self.inner.write(offset, data)?;
        recorder::write(&self.path, offset, data);
        Ok(())
    }

    fn close(&self) -> Result<(), BackendIoError> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.lock_until_deadline(|| self.inner.try_lock_range(start, end))
            .unwrap_or_else(|| self.inner.lock_range(start, end))
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.lock_until_deadline(|| self.inner.try_lock_shared_range(start, end))
            .unwrap_or_else(|| self.inner.lock_shared_range(start, end))
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}
