//! Byte-range locks that belong to one open file (not to the process) and that the operating
//! system drops when the last handle on it closes, so when its process dies: open-file-
//! description locks (`fcntl` `F_OFD_*`) on Linux and macOS (macOS has the commands, which
//! redb's own locks use there too), `LockFileEx` on Windows (locks per handle).
//!
//! The callers lock single bytes of `cache.lock` and `cache.boot` (never read or written, so
//! Windows' locks being mandatory changes nothing). Two differences the callers respect:
//! an open-file-description lock taken again by its holder is converted to the new kind,
//! while on Windows a handle must unlock a byte before it locks it again (only the marker of
//! `shutdown.rs` converts, and it exists on Linux only); and Windows cannot ask who holds a
//! byte, so [`held_elsewhere`] there tries a shared lock and frees it at once, which can make
//! a concurrent exclusive try of another handle fail (its caller tries again later).

use std::fs::File;

use crate::error::{Error, Result};

/// What a lock allows others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Others may hold shared locks on the byte too.
    Shared,
    /// Nobody else may hold any lock on the byte.
    Exclusive,
}

/// Takes a lock of `kind` on byte `at` of `file`: `Ok(false)` if another open file holds a
/// conflicting one.
pub(crate) fn try_lock(file: &File, at: u64, kind: Kind) -> Result<bool> {
    imp::set(file, at, 1, Some(kind), false)
}

/// Takes a lock of `kind` on byte `at` of `file`, waiting while another open file holds a
/// conflicting one.
pub(crate) fn lock(file: &File, at: u64, kind: Kind) -> Result<()> {
    imp::set(file, at, 1, Some(kind), true).map(drop)
}

/// Frees this open file's lock on byte `at` of `file`.
pub(crate) fn unlock(file: &File, at: u64) -> Result<()> {
    imp::set(file, at, 1, None, false).map(drop)
}

/// Whether another open file holds byte `at` of `file` exclusively. (The bytes asked about
/// are only ever locked exclusively; on Unix a shared lock held elsewhere is seen too.)
pub(crate) fn held_elsewhere(file: &File, at: u64) -> Result<bool> {
    imp::held_elsewhere(file, at, 1)
}

/// Whether another open file holds any byte of `len` bytes from `start` of `file`
/// exclusively.
pub(crate) fn range_held_elsewhere(file: &File, start: u64, len: u64) -> Result<bool> {
    imp::held_elsewhere(file, start, len)
}

/// A lock range the system cannot express.
fn out_of_range(start: u64, len: u64) -> Error {
    Error::InvalidArgument(format!("lock range {start}+{len} out of range"))
}

/// `fcntl` through `libc`, in `unsafe`: rustix has no open-file-description lock over a byte
/// range (its `fcntl_lock` takes the whole file with the process-owned `F_SETLK`, and its
/// `flock` the whole file too).
#[cfg(unix)]
mod imp {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    use super::{Kind, out_of_range};
    use crate::error::Result;

    /// `F_RDLCK`, `F_WRLCK` and `F_UNLCK` as `flock::l_type` holds them (`c_int` constants on
    /// Linux, `c_short` ones on macOS).
    #[cfg(target_os = "linux")]
    const TYPES: [libc::c_short; 3] = [
        libc::F_RDLCK as libc::c_short,
        libc::F_WRLCK as libc::c_short,
        libc::F_UNLCK as libc::c_short,
    ];
    #[cfg(not(target_os = "linux"))]
    const TYPES: [libc::c_short; 3] = [libc::F_RDLCK, libc::F_WRLCK, libc::F_UNLCK];

    /// Sets (`Some(kind)`) or clears (`None`) this description's lock over the range, with
    /// `F_OFD_SETLKW` if `wait`, else `F_OFD_SETLK` (`Ok(false)` on a conflict).
    pub(super) fn set(
        file: &File,
        start: u64,
        len: u64,
        kind: Option<Kind>,
        wait: bool,
    ) -> Result<bool> {
        let [read, write, unlock] = TYPES;
        let l_type = match kind {
            Some(Kind::Shared) => read,
            Some(Kind::Exclusive) => write,
            None => unlock,
        };
        let cmd = if wait {
            libc::F_OFD_SETLKW
        } else {
            libc::F_OFD_SETLK
        };
        match fcntl(file, range(start, len)?, l_type, cmd) {
            Ok(_) => Ok(true),
            Err(e) if !wait && matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `F_OFD_GETLK` with a write lock over the range: whether another description holds
    /// any lock in it.
    pub(super) fn held_elsewhere(file: &File, start: u64, len: u64) -> Result<bool> {
        let [_, write, unlock] = TYPES;
        let found = fcntl(file, range(start, len)?, write, libc::F_OFD_GETLK)?;
        Ok(found != unlock)
    }

    /// The range as `flock` holds it: start and length.
    fn range(start: u64, len: u64) -> Result<(libc::off_t, libc::off_t)> {
        match (libc::off_t::try_from(start), libc::off_t::try_from(len)) {
            (Ok(start), Ok(len)) if len > 0 => Ok((start, len)),
            _ => Err(out_of_range(start, len)),
        }
    }

    /// One `fcntl` lock command over the range, retried while interrupted; returns the
    /// `l_type` the call left in the struct (what `F_OFD_GETLK` found).
    fn fcntl(
        file: &File,
        (l_start, l_len): (libc::off_t, libc::off_t),
        l_type: libc::c_short,
        cmd: libc::c_int,
    ) -> io::Result<libc::c_short> {
        loop {
            // SAFETY: an all-zero `flock` is a valid value of this plain C struct.
            #[allow(unsafe_code)]
            let mut lk: libc::flock = unsafe { std::mem::zeroed() };
            lk.l_type = l_type;
            lk.l_whence = libc::SEEK_SET as libc::c_short;
            lk.l_start = l_start;
            lk.l_len = l_len;
            // SAFETY: the descriptor is open and owned by `file`, and `lk` is a valid,
            // initialized `flock` that outlives the call; the OFD lock commands only read and
            // write it.
            #[allow(unsafe_code)]
            let rc = unsafe { libc::fcntl(file.as_raw_fd(), cmd, &mut lk) };
            if rc == 0 {
                return Ok(lk.l_type);
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

#[cfg(windows)]
mod imp {
    use std::fs::File;
    use std::io;
    use std::os::windows::io::AsRawHandle;

    use windows_sys::Win32::Foundation::ERROR_LOCK_VIOLATION;
    use windows_sys::Win32::Storage::FileSystem::{
        LOCKFILE_EXCLUSIVE_LOCK, LOCKFILE_FAIL_IMMEDIATELY, LockFileEx, UnlockFile,
    };
    use windows_sys::Win32::System::IO::{OVERLAPPED, OVERLAPPED_0, OVERLAPPED_0_0};

    use super::{Kind, out_of_range};
    use crate::error::Result;

    /// The low and high 32 bits of `value`, as the calls take offsets and lengths.
    fn halves(value: u64) -> (u32, u32) {
        ((value & u64::from(u32::MAX)) as u32, (value >> 32) as u32)
    }

    /// Locks (`Some(kind)`, waiting if `wait`, else `Ok(false)` on a conflict) or unlocks
    /// (`None`) the range for this handle.
    pub(super) fn set(
        file: &File,
        start: u64,
        len: u64,
        kind: Option<Kind>,
        wait: bool,
    ) -> Result<bool> {
        if len == 0 || start.checked_add(len).is_none() {
            return Err(out_of_range(start, len));
        }
        let (start_low, start_high) = halves(start);
        let (len_low, len_high) = halves(len);
        let handle = file.as_raw_handle();
        let Some(kind) = kind else {
            // SAFETY: `handle` is the live handle of `file`; UnlockFile takes the range by
            // value and touches no memory of this process.
            #[allow(unsafe_code)]
            let ok = unsafe { UnlockFile(handle, start_low, start_high, len_low, len_high) };
            return if ok != 0 {
                Ok(true)
            } else {
                Err(io::Error::last_os_error().into())
            };
        };
        let mut flags = 0;
        if kind == Kind::Exclusive {
            flags |= LOCKFILE_EXCLUSIVE_LOCK;
        }
        if !wait {
            flags |= LOCKFILE_FAIL_IMMEDIATELY;
        }
        let mut overlapped = OVERLAPPED {
            Internal: 0,
            InternalHigh: 0,
            Anonymous: OVERLAPPED_0 {
                Anonymous: OVERLAPPED_0_0 {
                    Offset: start_low,
                    OffsetHigh: start_high,
                },
            },
            hEvent: std::ptr::null_mut(),
        };
        // SAFETY: `handle` is the live handle of `file`, opened for synchronous I/O (no
        // FILE_FLAG_OVERLAPPED), so the call completes (or fails) before it returns and
        // `overlapped`, which carries only the offset, outlives it.
        #[allow(unsafe_code)]
        let ok = unsafe { LockFileEx(handle, flags, 0, len_low, len_high, &mut overlapped) };
        if ok != 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        if !wait && err.raw_os_error() == Some(ERROR_LOCK_VIOLATION as i32) {
            return Ok(false);
        }
        Err(err.into())
    }

    /// Tries a shared lock over the range (which conflicts with exclusive locks only) and
    /// frees it at once: Windows has no call that asks.
    pub(super) fn held_elsewhere(file: &File, start: u64, len: u64) -> Result<bool> {
        if set(file, start, len, Some(Kind::Shared), false)? {
            set(file, start, len, None, false)?;
            Ok(false)
        } else {
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_excludes_other_open_files_and_its_end_lets_them_in() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let a = crate::files::open_shared(&path).unwrap();
        let b = crate::files::open_shared(&path).unwrap();
        assert!(!held_elsewhere(&b, 7).unwrap());
        assert!(try_lock(&a, 7, Kind::Exclusive).unwrap());
        assert!(held_elsewhere(&b, 7).unwrap());
        assert!(!held_elsewhere(&b, 8).unwrap());
        assert!(range_held_elsewhere(&b, 1, 100).unwrap());
        assert!(!range_held_elsewhere(&b, 8, 100).unwrap());
        assert!(!try_lock(&b, 7, Kind::Shared).unwrap());
        assert!(!try_lock(&b, 7, Kind::Exclusive).unwrap());
        unlock(&a, 7).unwrap();
        assert!(!held_elsewhere(&b, 7).unwrap());
        assert!(try_lock(&b, 7, Kind::Exclusive).unwrap());
        unlock(&b, 7).unwrap();
    }

    #[test]
    fn shared_locks_admit_each_other_and_keep_an_exclusive_one_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let a = crate::files::open_shared(&path).unwrap();
        let b = crate::files::open_shared(&path).unwrap();
        let c = crate::files::open_shared(&path).unwrap();
        lock(&a, 64, Kind::Shared).unwrap();
        assert!(try_lock(&b, 64, Kind::Shared).unwrap());
        assert!(!try_lock(&c, 64, Kind::Exclusive).unwrap());
        unlock(&a, 64).unwrap();
        unlock(&b, 64).unwrap();
        assert!(try_lock(&c, 64, Kind::Exclusive).unwrap());
    }

    #[test]
    fn closing_the_holder_frees_its_locks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let a = crate::files::open_shared(&path).unwrap();
        let b = crate::files::open_shared(&path).unwrap();
        assert!(try_lock(&a, 1 << 40, Kind::Exclusive).unwrap());
        assert!(held_elsewhere(&b, 1 << 40).unwrap());
        drop(a);
        assert!(!held_elsewhere(&b, 1 << 40).unwrap());
    }
}
