//! A recording of the writes and syncs that reach the disk, for the simulated power loss
//! (`tests/durability/power_loss_sim.rs`).
//!
//! While armed for a directory, every hook below whose path lies under it appends an
//! [`Event`] to one process-wide list, in the order the calls were made (whatever the thread:
//! the janitor's checkpoints are recorded too): redb's storage backend (`engine/backend.rs`),
//! the log's `pwrite`s (`engine/log/wal.rs`), and value files and their folders
//! (`format/blob.rs`, `engine/durable.rs`). The test replays a prefix of the list onto a copy
//! of the directory as a power loss could leave it. Outside test builds every hook is empty.

#[cfg(any(feature = "testing", fuzzing))]
pub use imp::*;

#[cfg(not(any(feature = "testing", fuzzing)))]
pub(crate) use off::*;

/// The hooks of a normal build: nothing.
#[cfg(not(any(feature = "testing", fuzzing)))]
mod off {
    use std::path::Path;

    #[inline(always)]
    pub(crate) fn write(_file: &Path, _offset: u64, _data: &[u8]) {}
    #[inline(always)]
    pub(crate) fn write_file(_file: &std::fs::File, _offset: u64, _data: &[u8]) {}
    #[inline(always)]
    pub(crate) fn set_len(_file: &Path, _len: u64) {}
    #[inline(always)]
    pub(crate) fn sync_file(_file: &Path) {}
    #[inline(always)]
    pub(crate) fn create(_file: &Path) {}
    #[inline(always)]
    pub(crate) fn make_dirs(_dir: &Path) {}
    #[inline(always)]
    pub(crate) fn rename(_from: &Path, _to: &Path) {}
    #[inline(always)]
    pub(crate) fn remove(_file: &Path) {}
    #[inline(always)]
    pub(crate) fn remove_dir(_dir: &Path) {}
    #[inline(always)]
    pub(crate) fn sync_dir(_dir: &Path) {}
    #[inline(always)]
    pub(crate) fn lane_sealed(_log: &std::fs::File, _generation: u64) {}
    #[inline(always)]
    pub(crate) fn committed(_log: &std::fs::File, _generation: u64) {}
}

#[cfg(any(feature = "testing", fuzzing))]
mod imp {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Mutex, PoisonError};

    /// One call that changes what a power loss can leave, with paths relative to the armed
    /// directory.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Event {
        /// `data` written at `offset` of `file` (into the page cache: lost unless synced).
        Write {
            /// The file.
            file: PathBuf,
            /// Where.
            offset: u64,
            /// What.
            data: Vec<u8>,
        },
        /// `file` truncated or extended to `len`.
        SetLen {
            /// The file.
            file: PathBuf,
            /// Its new length.
            len: u64,
        },
        /// `file`'s data made durable (`fsync`/`fdatasync`).
        SyncFile {
            /// The file.
            file: PathBuf,
        },
        /// `file` created empty.
        Create {
            /// The file.
            file: PathBuf,
        },
        /// Every missing folder of `dir` made (`create_dir_all`).
        MakeDirs {
            /// The innermost folder.
            dir: PathBuf,
        },
        /// `from` renamed to `to`.
        Rename {
            /// The old name.
            from: PathBuf,
            /// The new name.
            to: PathBuf,
        },
        /// `file` unlinked.
        Remove {
            /// The file.
            file: PathBuf,
        },
        /// The empty folder `dir` removed.
        RemoveDir {
            /// The folder.
            dir: PathBuf,
        },
        /// The names in `dir` made durable (an `fsync` of the folder).
        SyncDir {
            /// The folder.
            dir: PathBuf,
        },
        /// A mark the test put in the list ([`mark`]).
        Mark(u64),
        /// The log's lane of this generation was sealed: the records it holds are those its
        /// checkpoint will commit.
        Sealed(u64),
        /// A commit to the database returned: of the sealed lane of this generation, or, for
        /// `u64::MAX`, of a change outside the lanes made once both were applied.
        Committed(u64),
    }

    static ARMED: AtomicBool = AtomicBool::new(false);
    static STATE: Mutex<Option<(PathBuf, Vec<Event>)>> = Mutex::new(None);
    /// Held by the one recording in progress in the process.
    static TURN: Mutex<()> = Mutex::new(());

    /// A recording in progress; [`Recording::finish`] ends it. Recordings take turns: a
    /// second [`arm`] waits until the first has finished.
    pub struct Recording {
        _turn: std::sync::MutexGuard<'static, ()>,
    }

    /// Starts recording the calls on files under `dir` (canonicalized).
    pub fn arm(dir: &Path) -> Recording {
        let turn = TURN.lock().unwrap_or_else(PoisonError::into_inner);
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        *STATE.lock().unwrap_or_else(PoisonError::into_inner) = Some((dir, Vec::new()));
        ARMED.store(true, Ordering::SeqCst);
        Recording { _turn: turn }
    }

    impl Recording {
        /// Stops recording; returns the events recorded since [`arm`].
        pub fn finish(self) -> Vec<Event> {
            take()
        }
    }

    impl Drop for Recording {
        fn drop(&mut self) {
            take();
        }
    }

    fn take() -> Vec<Event> {
        ARMED.store(false, Ordering::SeqCst);
        STATE
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .map(|(_, events)| events)
            .unwrap_or_default()
    }

    /// Appends a mark of the test's own (an operation acknowledged, say).
    pub fn mark(n: u64) {
        if let Some((_, events)) = STATE
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            events.push(Event::Mark(n));
        }
    }

    /// Appends the event `make` builds from the paths relative to the armed directory, if
    /// every one of them lies under it.
    fn record(paths: &[&Path], make: impl FnOnce(Vec<PathBuf>) -> Event) {
        if !ARMED.load(Ordering::Relaxed) {
            return;
        }
        let mut state = STATE.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((dir, events)) = state.as_mut() else {
            return;
        };
        let mut relative = Vec::with_capacity(paths.len());
        for path in paths {
            match relative_to(dir, path) {
                Some(r) => relative.push(r),
                None => return,
            }
        }
        events.push(make(relative));
    }

    /// `path` relative to `dir`, resolving its folder (which exists) if `path` is not
    /// written under `dir` as it was given.
    fn relative_to(dir: &Path, path: &Path) -> Option<PathBuf> {
        if let Ok(r) = path.strip_prefix(dir) {
            return Some(r.to_path_buf());
        }
        let name = path.file_name()?;
        let parent = path.parent()?.canonicalize().ok()?;
        parent.strip_prefix(dir).ok().map(|r| r.join(name))
    }

    fn first(mut paths: Vec<PathBuf>) -> PathBuf {
        paths.swap_remove(0)
    }

    pub(crate) fn write(file: &Path, offset: u64, data: &[u8]) {
        record(&[file], |p| Event::Write {
            file: first(p),
            offset,
            data: data.to_vec(),
        });
    }

    /// [`write`] to an open file, named by what `/proc/self/fd` says of it (Linux; elsewhere
    /// nothing is recorded).
    pub(crate) fn write_file(file: &std::fs::File, offset: u64, data: &[u8]) {
        if !ARMED.load(Ordering::Relaxed) {
            return;
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let link = format!("/proc/self/fd/{}", file.as_raw_fd());
            if let Ok(path) = std::fs::read_link(link) {
                write(&path, offset, data);
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (file, offset, data);
    }

    /// Records `event` if `log`, an open file (named by `/proc/self/fd`, Linux), lies under
    /// the armed directory.
    fn about_log(log: &std::fs::File, event: Event) {
        if !ARMED.load(Ordering::Relaxed) {
            return;
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let link = format!("/proc/self/fd/{}", log.as_raw_fd());
            if let Ok(path) = std::fs::read_link(link) {
                record(&[&path], |_| event);
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (log, event);
    }

    /// The lane of `generation` of the log `log` was sealed.
    pub(crate) fn lane_sealed(log: &std::fs::File, generation: u64) {
        about_log(log, Event::Sealed(generation));
    }

    /// A commit ([`Event::Committed`]) of the cache whose log is `log` returned.
    pub(crate) fn committed(log: &std::fs::File, generation: u64) {
        about_log(log, Event::Committed(generation));
    }

    pub(crate) fn set_len(file: &Path, len: u64) {
        record(&[file], |p| Event::SetLen {
            file: first(p),
            len,
        });
    }

    pub(crate) fn sync_file(file: &Path) {
        record(&[file], |p| Event::SyncFile { file: first(p) });
    }

    pub(crate) fn create(file: &Path) {
        record(&[file], |p| Event::Create { file: first(p) });
    }

    pub(crate) fn make_dirs(dir: &Path) {
        record(&[dir], |p| Event::MakeDirs { dir: first(p) });
    }

    pub(crate) fn rename(from: &Path, to: &Path) {
        record(&[from, to], |mut p| {
            let to = p.pop().unwrap_or_default();
            Event::Rename { from: first(p), to }
        });
    }

    pub(crate) fn remove(file: &Path) {
        record(&[file], |p| Event::Remove { file: first(p) });
    }

    pub(crate) fn remove_dir(dir: &Path) {
        record(&[dir], |p| Event::RemoveDir { dir: first(p) });
    }

    pub(crate) fn sync_dir(dir: &Path) {
        record(&[dir], |p| Event::SyncDir { dir: first(p) });
    }
}
