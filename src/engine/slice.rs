//! Whole-cache work in slices: each slice is one write transaction under the write lock that
//! stops taking on work once [`SLICE_WORK`] has passed, commits, and releases the lock, so
//! that other processes' writes get in between slices instead of waiting for the whole
//! operation (`format-spec/tables.md`, "Which operations write which tables").
//!
//! The value files of the rows a slice removed are deleted after the lock is released: the
//! rows are committed gone, and file names are random and never reused, so nothing can name
//! those files again.

use std::time::{Duration, Instant};

use crate::engine::Store;
use crate::engine::write::WriteCtx;
use crate::error::Result;

/// How long a slice takes on work before it commits. A slice holds the write lock for this
/// plus its commit (and, on the logged path, the checkpoint it starts with).
pub(crate) const SLICE_WORK: Duration = Duration::from_millis(5);

/// How long the write lock stays free after a slice before the next one takes it: time for
/// a waiting writer to be woken and take it before it has to claim a handoff (on the direct
/// path a writer polls redb's lock at most every 2 ms).
const SLICE_PAUSE: Duration = Duration::from_millis(2);

/// When a slice stops taking on more work.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget {
    until: Instant,
}

impl Budget {
    /// A budget of [`SLICE_WORK`] from now.
    pub(crate) fn start() -> Budget {
        Budget {
            until: Instant::now() + SLICE_WORK,
        }
    }

    /// Whether the slice's time is up.
    pub(crate) fn spent(self) -> bool {
        Instant::now() >= self.until
    }
}

impl Store {
    /// Runs `f` as one slice: a redb write transaction under the write lock that sees every
    /// earlier operation, given a [`Budget`] that starts once the lock is held. The value
    /// files of rows it removed are deleted after the lock is released; then the lock stays
    /// free for a moment before the caller's next slice.
    pub(crate) fn slice<T>(
        &self,
        f: impl FnOnce(&mut WriteCtx<'_>, Budget) -> Result<T>,
    ) -> Result<T> {
        let (value, files) = self.write_redb(|w| {
            let value = f(w, Budget::start())?;
            Ok((value, w.take_files()))
        })?;
        for file in &files {
            // The row is gone; a file that cannot be deleted now is an orphan for check().
            let _ = crate::format::blob::remove(self.dir(), file);
        }
        std::thread::sleep(SLICE_PAUSE);
        Ok(value)
    }
}
