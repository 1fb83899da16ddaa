//! The process and the machine: forks (counted in the child by a `pthread_atfork` handler on
//! Unix; Windows has no fork), the descriptors that carry a handle's file locks (which a
//! forked child detaches), and the id of the running boot.

use std::fs::File;

/// The number of the descriptor (Unix) or handle (Windows) that carries an open file's locks.
/// Windows handles fit 32 bits (64-bit Windows keeps them there for 32-bit processes); they
/// are only recorded there, never detached, as no process of Windows is a fork.
pub(crate) type RawFd = i32;

/// The descriptor number of `file`.
pub(crate) fn raw_fd(file: &File) -> RawFd {
    imp::raw_fd(file)
}

/// Forks this process descends from since the first call (one more in each child than in its
/// parent); registers the counting handler on the first call. Always 0 on Windows.
pub(crate) fn forks() -> u64 {
    imp::forks()
}

/// Forks so far, without registering anything (for the per-operation check).
pub(crate) fn forks_now() -> u64 {
    imp::forks_now()
}

/// In a forked child: points the inherited descriptor `fd` at `/dev/null`, so that the
/// parent's locks, which belong to the open file description, stay with the parent and die
/// with it (the descriptor number stays valid for the inherited objects that own it, which
/// are never used or dropped in the child).
pub(crate) fn detach(fd: RawFd) {
    imp::detach(fd);
}

/// The running boot's id: 36 bytes, a UUID in text (`/proc/sys/kernel/random/boot_id` on
/// Linux). `None` elsewhere: the clean-shutdown marker that uses it also needs to flush the
/// whole file system at the last close ([`super::io::sync_file_system`]), which only Linux
/// can, so other systems have no marker and need no id.
pub(crate) fn boot_id() -> Option<[u8; 36]> {
    let text = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    text.trim().as_bytes().try_into().ok()
}

/// `pthread_atfork` and `dup2` through `libc`, in `unsafe`: rustix has no fork handlers, and
/// its `dup2` replaces a descriptor given as `&mut OwnedFd`, which the owners of the inherited
/// descriptors (files inside the store and inside redb) cannot lend; one made from the raw
/// number would be an `unsafe` block of its own, claiming a second owner.
#[cfg(unix)]
mod imp {
    use std::fs::File;
    use std::os::fd::AsRawFd;
    use std::sync::Once;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::RawFd;

    static FORKS: AtomicU64 = AtomicU64::new(0);
    static REGISTER: Once = Once::new();

    extern "C" fn count_fork_in_child() {
        // Async-signal-safe: one atomic add.
        FORKS.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn raw_fd(file: &File) -> RawFd {
        file.as_raw_fd()
    }

    pub(super) fn forks() -> u64 {
        REGISTER.call_once(|| {
            // SAFETY: registers a plain `extern "C" fn` with no captured state as the child
            // handler; it only touches a static atomic. A failure (ENOMEM) leaves forks
            // unnoticed, so it is ignored.
            #[allow(unsafe_code)]
            unsafe {
                libc::pthread_atfork(None, None, Some(count_fork_in_child));
            }
        });
        forks_now()
    }

    pub(super) fn forks_now() -> u64 {
        FORKS.load(Ordering::Relaxed)
    }

    pub(super) fn detach(fd: RawFd) {
        let Ok(null) = std::fs::OpenOptions::new().read(true).open("/dev/null") else {
            return;
        };
        // SAFETY: dup2 on two descriptors of this process: `null` is open for the duration
        // of the call, and `fd` is one the inherited store owns and will never use or close
        // here. If it fails, the descriptor keeps pointing at the shared file: the only cost
        // is a dead parent's locks kept alive while this process runs.
        #[allow(unsafe_code)]
        unsafe {
            libc::dup2(null.as_raw_fd(), fd);
        }
    }
}

#[cfg(windows)]
mod imp {
    use std::fs::File;
    use std::os::windows::io::AsRawHandle;

    use super::RawFd;

    pub(super) fn raw_fd(file: &File) -> RawFd {
        (file.as_raw_handle() as usize & 0x7fff_ffff) as RawFd
    }

    pub(super) fn forks() -> u64 {
        0
    }

    pub(super) fn forks_now() -> u64 {
        0
    }

    /// Never called: no process is a fork.
    pub(super) fn detach(_fd: RawFd) {}
}
