//! Healing of the database handle: a handle redb panicked in (poisoned), or one an I/O
//! error left failing every later call (redb latches the first one: a full disk, a failed
//! read), is replaced by a fresh one opened on the same file, so that the cache works again
//! once the cause is gone instead of failing until it is reopened. Every operation of
//! [`Store`] reaches the database through [`Store::write_healing`], [`Store::read_healing`]
//! or [`Store::attempt`].

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use redb::Database;

use super::Store;
use super::open::open_db;
use crate::engine::boundary::{self, Handle};
use crate::error::{Error, Result};
use crate::format::schema::DB_FILE;

impl Store {
    /// The database handle in use, which is never a poisoned one: a handle redb panicked in
    /// is replaced first (and if the file cannot be opened again, that is the error).
    fn handle(&self) -> Result<Db<'_>> {
        let handle = self.in_use();
        if handle.is_poisoned() {
            return self.replace(&handle);
        }
        Ok(handle)
    }

    /// The handle in use, poisoned or not.
    fn in_use(&self) -> Db<'_> {
        if self.replacement_fd.load(Ordering::Acquire) < 0 {
            return Db::First(&self.first);
        }
        match &*self
            .replacement
            .read()
            .unwrap_or_else(PoisonError::into_inner)
        {
            Some(handle) => Db::Replaced(Arc::clone(handle)),
            None => Db::First(&self.first),
        }
    }

    /// Opens the database again and uses the new handle from then on instead of `old` (unless
    /// another thread has replaced `old` already); returns the handle now in use. redb's file
    /// holds its last commit, and the logged path's dirty mark makes the next writer replay
    /// the log.
    fn replace(&self, old: &Handle) -> Result<Db<'_>> {
        // The settings as last read (reading them again would need the database).
        let settings = self
            .settings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let (fresh, _, fresh_fd) = open_db(&self.dir, &settings)?;
        let fresh = Arc::new(Handle::new(fresh));
        let mut slot = self
            .replacement
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let current = slot.as_deref().unwrap_or(&self.first);
        let replaced = if std::ptr::eq(current, old) {
            self.replacement_fd.store(fresh_fd, Ordering::Release);
            slot.replace(fresh)
        } else {
            None
        };
        drop(slot);
        // Closed (inside the boundary) once no operation holds it.
        drop(replaced);
        self.engine.drop_snapshots();
        Ok(self.in_use())
    }

    /// Runs `op` once with the handle in use, inside the boundary around redb: a panic in
    /// redb poisons the handle, which is replaced (see [`Store::replace`]), and is returned as
    /// [`Error::Corrupted`]. An I/O error that left the handle failing every later call
    /// (redb's latch after any failed read, write or resize, as on a full disk: every later
    /// call returns `redb::StorageError::PreviousIo`) replaces it too, so that the cache works
    /// again once the cause is gone instead of failing until it is reopened.
    pub(super) fn attempt<T>(&self, op: impl FnOnce(&Database) -> Result<T>) -> Result<T> {
        self.attempt_healing(op).1
    }

    /// [`Store::attempt`], also saying whether an I/O error made it replace the handle.
    fn attempt_healing<T>(&self, op: impl FnOnce(&Database) -> Result<T>) -> (bool, Result<T>) {
        let handle = match self.handle() {
            Ok(handle) => handle,
            Err(e) => return (false, Err(e)),
        };
        let result = match boundary::contain(|| op(handle.database()?)) {
            Ok(result) => result,
            Err(panic) => {
                handle.poison();
                let error = panic.into_error(&self.dir.join(DB_FILE));
                crate::observe::handle_reopened(&error);
                // Closed now rather than at the next operation; if the file cannot be opened
                // again, the next operation says so.
                let _ = self.replace(&handle);
                return (false, Err(error));
            }
        };
        let replaced = match &result {
            Err(e) => self.reopen_if_failed(&handle, e),
            Ok(_) => false,
        };
        (replaced, result)
    }

    /// Whether `error` left `handle` failing every later call, in which case it is replaced.
    fn reopen_if_failed(&self, handle: &Handle, error: &Error) -> bool {
        if Failure::of(error) == Failure::Other {
            return false;
        }
        // A probe that panics says the same as one that fails.
        let failed = boundary::contain(|| handle.database().is_ok_and(database_failed));
        if failed.is_ok_and(|failed| !failed) {
            return false;
        }
        handle.poison();
        crate::observe::handle_reopened(error);
        self.replace(handle).is_ok()
    }

    /// Runs the operation `f` through `attempt` (given the database; it takes `f` out of the
    /// option when it runs it), inside the boundary and healing as [`Store::attempt`] does.
    /// If the handle had failed before `f` ran (another thread, or the janitor's recovery, met
    /// a full disk: its error is [`Failure::HandleFailed`]), tries again with the new handle, so
    /// the operation gets the answer of the disk as it is now. An attempt the handle refused
    /// that way did not reach the disk, so it is not one of the [`RUNS`] tries the operation
    /// gets (while the janitor keeps meeting a full disk, the handle it gets may have failed
    /// again meanwhile); at most [`ATTEMPTS`] in all.
    pub(super) fn write_healing<F, T>(
        &self,
        f: F,
        attempt: impl Fn(&Database, &mut Option<F>) -> Result<T>,
    ) -> Result<T> {
        let mut f = Some(f);
        let (mut attempts, mut runs) = (0, 0);
        loop {
            let (replaced, result) = self.attempt_healing(|db| attempt(db, &mut f));
            attempts += 1;
            let Err(e) = &result else {
                return result;
            };
            if Failure::of(e) != Failure::HandleFailed {
                runs += 1;
            }
            if replaced && f.is_some() && runs < RUNS && attempts < ATTEMPTS {
                continue;
            }
            return result;
        }
    }

    /// Runs the read `op` with the database handle in use; if it fails because the handle had
    /// failed (another operation, or the janitor's recovery, met a full disk), again with a
    /// new handle, a few times: reads need no space, so they keep working on a full disk.
    pub(super) fn read_healing<T>(&self, op: impl Fn(&Database) -> Result<T>) -> Result<T> {
        // A read can always run again: the operation given to `write_healing` is nothing.
        self.write_healing((), |db, _| op(db))
    }
}

/// What an operation's error says of the database handle it ran on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    /// redb refused the call because an earlier I/O error left the handle failing every
    /// call (`redb::StorageError::PreviousIo`): the operation did not reach the disk.
    HandleFailed,
    /// An I/O or storage error of the call itself, which may have left the handle failing
    /// (a probe tells: [`database_failed`]).
    Disk,
    /// Any other error: the handle is as it was.
    Other,
}

impl Failure {
    /// The failure `error` is, by its type (redb's error is kept as its source).
    fn of(error: &Error) -> Failure {
        if error.is_previous_io() {
            Failure::HandleFailed
        } else if matches!(error, Error::Io(_) | Error::Storage(_)) {
            Failure::Disk
        } else {
            Failure::Other
        }
    }
}

/// Takes the operation out of `f` to run it (once: [`Store::write_healing`] tries again only
/// while it is still there).
pub(super) fn take<F>(f: &mut Option<F>) -> Result<F> {
    f.take()
        .ok_or_else(|| Error::storage("an operation was about to run a second time"))
}

/// A database handle in use: the one opened with the cache, or the one that replaced it.
enum Db<'a> {
    First(&'a Handle),
    Replaced(Arc<Handle>),
}

impl std::ops::Deref for Db<'_> {
    type Target = Handle;

    fn deref(&self) -> &Handle {
        match self {
            Db::First(db) => db,
            Db::Replaced(db) => db,
        }
    }
}

/// Whether `db` fails every call after an earlier I/O error (redb latches the first one):
/// a write transaction begun and aborted tells, waiting at most 100 ms for redb's lock.
fn database_failed(db: &Database) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_millis(100);
    match crate::engine::write::begin_write(db, deadline) {
        Ok(txn) => txn
            .abort()
            .map_err(Error::from)
            .is_err_and(|e| Failure::of(&e) == Failure::HandleFailed),
        Err(e) => Failure::of(&e) == Failure::HandleFailed,
    }
}

/// Tries an operation gets against the disk before its error is returned (see
/// [`Store::write_healing`]).
const RUNS: u32 = 3;
/// Attempts of an operation in all, those refused up front by a failed handle included.
const ATTEMPTS: u32 = 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_told_by_the_type_of_redb_s_error() {
        let refused = Error::from(redb::StorageError::PreviousIo);
        assert_eq!(Failure::of(&refused), Failure::HandleFailed);
        let from_a_transaction = Error::from(redb::TransactionError::Storage(
            redb::StorageError::PreviousIo,
        ));
        assert_eq!(Failure::of(&from_a_transaction), Failure::HandleFailed);
        // The message alone does not make it one.
        let lookalike = Error::storage(redb::StorageError::PreviousIo.to_string());
        assert_eq!(Failure::of(&lookalike), Failure::Disk);
        let full = Error::from(std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert_eq!(Failure::of(&full), Failure::Disk);
        assert_eq!(Failure::of(&Error::Timeout), Failure::Other);
    }
}
