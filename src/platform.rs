//! What differs between operating systems, each primitive behind one small module with a Linux
//! implementation and portable ones, and which write paths each platform has.
//!
//! | platform | write paths | `open` picks | clean-shutdown marker |
//! |---|---|---|---|
//! | Linux | logged, direct | logged | yes (boot id, `syncfs`) |
//! | macOS | direct | direct | no |
//! | Windows | direct | direct | no |
//!
//! The logged path needs, besides shared memory, a wait on a shared word across processes
//! (Linux's futex) and byte-range locks that belong to an open file and die with the process
//! (Linux's open-file-description locks), and it is tested on Linux only. Windows has the
//! locks (`LockFileEx`, per handle) but no cross-process wait, and Microsoft does not promise
//! that a mapped view sees what `WriteFile` wrote (the log is written with positioned writes
//! and read through a mapping); macOS has both primitives, but only behind interfaces nothing
//! here can run. So those two get the direct path, whose primitives (redb's own byte-range
//! locks, the handoff byte) are the same kind of lock everywhere.
//!
//! - `locks`: byte-range locks on a file, held per open file: open-file-description locks
//!   (`fcntl`) on Linux and macOS, `LockFileEx` on Windows.
//! - `wait`: sleeping on a 32-bit word in shared memory until another process changes it.
//! - `io`: positioned reads and writes, preallocation, where a sparse file's data ends, a
//!   durable rename, flushing a whole file system, and network file system detection.
//! - `process`: forks and the descriptors a forked child detaches, and the boot id.
//! - `random`: random numbers from the operating system.
//!
//! System calls go through rustix's safe wrappers where it has them (futex, `fallocate`,
//! `lseek(SEEK_HOLE)`, `syncfs`), through `libc` in `unsafe` where it has none (byte-range
//! open-file-description locks, `pthread_atfork`, and `dup2` onto a descriptor owned
//! elsewhere), and through `windows-sys` on Windows; UNSAFE.md lists every `unsafe` block.

use crate::error::{Error, Result};
use crate::settings::WritePath;

pub(crate) mod io;
pub(crate) mod locks;
pub(crate) mod process;
pub(crate) mod random;
pub(crate) mod wait;

/// Whether this platform has the logged write path (Linux only; see the module docs).
pub(crate) const HAS_LOGGED_PATH: bool = cfg!(target_os = "linux");

thread_local! {
    /// Set by [`as_if_without_logged_path`] for the calls it makes.
    static WITHOUT_LOGGED_PATH: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// For tests: runs `f` with this thread opening caches as a platform without the logged
/// write path does (macOS, Windows: the direct path by default, the logged path refused, and
/// a cache last used with it checked and switched), so that Linux's test suite covers it.
/// Only in test builds.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub fn as_if_without_logged_path<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            WITHOUT_LOGGED_PATH.set(self.0);
        }
    }
    let _restore = Restore(WITHOUT_LOGGED_PATH.replace(true));
    f()
}

/// Whether caches opened by this thread may use the logged write path: on Linux, unless
/// inside [`as_if_without_logged_path`].
pub(crate) fn has_logged_path() -> bool {
    HAS_LOGGED_PATH && !WITHOUT_LOGGED_PATH.get()
}

/// The write path a new cache gets when none is chosen: the logged path where this platform
/// has it, else the direct path.
pub(crate) fn default_write_path() -> WritePath {
    if has_logged_path() {
        WritePath::Logged
    } else {
        WritePath::Direct
    }
}

/// Refuses a write path this platform does not have.
///
/// # Errors
/// [`Error::InvalidArgument`] for [`WritePath::Logged`] outside Linux, saying why and what to
/// use instead.
pub(crate) fn check_write_path(path: WritePath) -> Result<()> {
    if path == WritePath::Logged && !has_logged_path() {
        return Err(Error::InvalidArgument(format!(
            "WritePath::Logged is available on Linux only, not on {}: its shared log needs a \
             wait on shared memory across processes and per-file byte-range locks whose use \
             here is tested on Linux alone; use WritePath::Direct, the default on this platform",
            std::env::consts::OS
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_write_path_is_one_the_platform_has() {
        assert!(check_write_path(default_write_path()).is_ok());
        assert!(check_write_path(WritePath::Direct).is_ok());
        assert_eq!(
            check_write_path(WritePath::Logged).is_ok(),
            cfg!(target_os = "linux")
        );
        as_if_without_logged_path(|| {
            assert_eq!(default_write_path(), WritePath::Direct);
            assert!(check_write_path(WritePath::Logged).is_err());
        });
        assert_eq!(has_logged_path(), cfg!(target_os = "linux"));
    }
}
