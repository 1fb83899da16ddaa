//! The boundary around the database engine. redb panics on some damaged pages instead of
//! returning an error (an `unreachable!` in its B-tree code, reached by any call that reads
//! such a page: opening, a read, a range, a write, the integrity check), in release builds as
//! in debug ones. Every call into redb runs inside [`contain`], which turns such a panic into
//! [`Error::Corrupted`] naming the database file; the handle it happened in is then
//! [poisoned](Handle::poison) and never used again, since redb may have left its locks and
//! caches half-updated. A [`Handle`] is closed inside the boundary too, because closing a
//! handle redb panicked in may panic again.
//!
//! The boundary needs panics to unwind: a program built with `panic = "abort"` still aborts on
//! a damaged page.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use redb::Database;

use crate::error::{Error, Result};

/// A panic caught at the boundary, with its message.
#[derive(Debug)]
pub(crate) struct Panicked(String);

impl std::fmt::Display for Panicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Panicked {
    /// The error the caller reports: `file` is damaged, and what the engine said.
    pub(crate) fn into_error(self, file: &Path) -> Error {
        Error::corrupted(format!(
            "{} is damaged: the database engine failed reading it ({self})",
            file.display()
        ))
    }
}

/// Runs `f`, which calls into redb; a panic inside it is returned as [`Panicked`].
///
/// `f` may hold this crate's locks while it runs: they are all poison-tolerant, and a lock
/// guard dropped by the unwinding releases as on an error (the logged path's critical section
/// stays marked, so the next holder recovers).
pub(crate) fn contain<T>(f: impl FnOnce() -> T) -> std::result::Result<T, Panicked> {
    if crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::NoRedbBoundary) {
        // Negative control (`sabotage`): redb's panics reach the caller.
        return Ok(f());
    }
    #[cfg(fuzzing)]
    let _inside = Inside::enter();
    crate::caller::forget_panic();
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        if crate::caller::take_panic() {
            resume_unwind(payload);
        }
        Panicked(message(payload.as_ref()))
    })
}

#[cfg(fuzzing)]
thread_local! {
    /// How many [`contain`] calls this thread is inside (fuzzing builds only).
    static DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Whether this thread is inside [`contain`], where a panic is caught: a fuzz target's panic
/// hook, which aborts on every panic, lets these through (`crate::fuzzing::inside_boundary`).
#[cfg(fuzzing)]
pub(crate) fn inside() -> bool {
    DEPTH.with(|d| d.get() > 0)
}

/// Counts this thread inside [`contain`] while it lives.
#[cfg(fuzzing)]
struct Inside;

#[cfg(fuzzing)]
impl Inside {
    fn enter() -> Inside {
        DEPTH.with(|d| d.set(d.get().saturating_add(1)));
        Inside
    }
}

#[cfg(fuzzing)]
impl Drop for Inside {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// [`contain`] for a fallible `f` whose panic means `file` is damaged.
pub(crate) fn contain_at<T>(file: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    contain(f).unwrap_or_else(|panic| Err(panic.into_error(file)))
}

/// The text of a panic's payload.
fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("no message")
        .to_owned()
}

/// An open redb database, closed inside the boundary, and marked once redb has panicked in it.
pub(crate) struct Handle {
    /// `None` only while it is being dropped.
    db: Option<Database>,
    poisoned: AtomicBool,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("poisoned", &self.is_poisoned())
            .finish_non_exhaustive()
    }
}

impl Handle {
    /// Wraps a database just opened.
    pub(crate) fn new(db: Database) -> Handle {
        Handle {
            db: Some(db),
            poisoned: AtomicBool::new(false),
        }
    }

    /// The database, for calls made inside the boundary.
    pub(crate) fn database(&self) -> Result<&Database> {
        self.db
            .as_ref()
            .ok_or_else(|| Error::storage("the database handle is closed"))
    }

    /// The database, for calls that need it to themselves (compaction, the integrity check).
    pub(crate) fn database_mut(&mut self) -> Result<&mut Database> {
        self.db
            .as_mut()
            .ok_or_else(|| Error::storage("the database handle is closed"))
    }

    /// Marks the handle as one redb panicked in: it must not be used again.
    pub(crate) fn poison(&self) {
        self.poisoned.store(true, Ordering::Release);
    }

    /// Whether redb has panicked in this handle.
    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Some(db) = self.db.take() {
            // Closing a handle redb panicked in can panic again (its mutexes are poisoned):
            // the database file is what it is either way, and the next open repairs it.
            let _ = catch_unwind(AssertUnwindSafe(|| drop(db)));
        }
    }
}

/// Drops `value` (a snapshot, a transaction: anything holding redb state) inside the boundary.
pub(crate) fn drop_contained<T>(value: T) {
    let _ = catch_unwind(AssertUnwindSafe(|| drop(value)));
}
