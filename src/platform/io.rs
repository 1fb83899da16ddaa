//! File operations whose system calls differ: positioned reads and writes, preallocation,
//! where a sparse file's data ends, syncing a directory or a whole file system, and telling a
//! network file system.
//!
//! Durability: `File::sync_all` and `sync_data`, which redb and this crate call at
//! `Durability::Sync`, are `fsync`/`fdatasync` on Linux, `fcntl(F_FULLFSYNC)` on macOS (so
//! that the drive's own cache is written too: a plain `fsync` there stops at the drive), and
//! `FlushFileBuffers` on Windows.

use std::fs::File;
use std::io;
use std::path::Path;

/// Whether value files are memory-mapped to be read (`ValueReader`): on Unix, where a mapped
/// file can be deleted (it stays mapped intact); not on Windows, where a mapped file cannot
/// be deleted, and a writer deletes the value file it replaced while readers may still hold
/// it: there a reader reads through its handle, which std opens sharing delete access.
pub(crate) const MAP_VALUE_FILES: bool = cfg!(unix);

/// Reads exactly `buf.len()` bytes at `offset` of `file` (`pread` on Unix; on Windows a
/// positioned read, which also moves the handle's cursor, which nothing here uses).
pub(crate) fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    imp::read_exact_at(file, buf, offset)
}

/// Writes all of `buf` at `offset` of `file` (`pwrite` on Unix, a positioned write on
/// Windows).
pub(crate) fn write_all_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    imp::write_all_at(file, buf, offset)
}

/// Gives the first `len` bytes of `file` their disk space now, keeping what they hold, where
/// the system can (`fallocate` on Linux: a shared mapping's store into a page with no space
/// faults when the disk is full). Elsewhere nothing is done: `cache.shm`, the only file
/// this is asked for, belongs to the logged write path, which is Linux's only.
pub(crate) fn preallocate(file: &File, len: u64) -> io::Result<()> {
    imp::preallocate(file, len)
}

/// The offset of the first hole at or after `from` in the sparse `file` (`lseek(SEEK_HOLE)`
/// on Linux), or `None` if that cannot be told.
pub(crate) fn data_end(file: &File, from: u64) -> Option<u64> {
    imp::data_end(file, from)
}

/// Makes the names in directory `dir` durable (after a rename into it): `fsync` of the
/// directory on Unix (`F_FULLFSYNC` on macOS, as std's `sync_all` does); on Windows,
/// `FlushFileBuffers` on a handle of the directory opened with backup semantics.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    imp::open_dir(dir)?.sync_all()
}

/// Flushes the whole file system that holds `file` (`syncfs`, Linux); `false` if it could not
/// be done, or if the system has no such call (macOS's `sync` may return before the writes
/// are done, and Windows flushes a volume only for an administrator).
pub(crate) fn sync_file_system(file: &File) -> bool {
    imp::sync_file_system(file)
}

/// File system types whose memory-mapped files are not coherent between processes on
/// different machines (or, for FUSE, not reliably at all): the logged write path needs that
/// coherence.
const NETWORK_FILE_SYSTEMS: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "9p",
    "afs",
    "ceph",
    "glusterfs",
    "lustre",
    "fuse.sshfs",
    "gpfs",
    "ocfs2",
    "gfs2",
];

/// The type of the network file system `dir` is on, if it is on one, as `/proc/self/mounts`
/// says (the mount point that is the longest prefix of the canonical path). `None` if it is
/// not, or if this cannot be told: no `/proc`, or another system than Linux, where no write
/// path needs to know (the logged path, which refuses network file systems, is Linux's only).
pub(crate) fn network_file_system(dir: &Path) -> Option<String> {
    let dir = dir.canonicalize().ok()?;
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    let fs_type = fs_type_of(&dir, &mounts)?;
    NETWORK_FILE_SYSTEMS
        .contains(&fs_type)
        .then(|| fs_type.to_owned())
}

/// The type of the file system `dir` (canonical) is on, from a `/proc/mounts` listing.
fn fs_type_of<'m>(dir: &Path, mounts: &'m str) -> Option<&'m str> {
    let mut best: Option<(usize, &str)> = None;
    for line in mounts.lines() {
        let mut fields = line.split_whitespace();
        let (Some(_device), Some(mount_point), Some(fs_type)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        // The listing escapes a space in a path as the octal `\040`.
        let mount_point = mount_point.replace("\\040", " ");
        if dir.starts_with(&mount_point) && best.is_none_or(|(len, _)| mount_point.len() >= len) {
            best = Some((mount_point.len(), fs_type));
        }
    }
    best.map(|(_, fs_type)| fs_type)
}

#[cfg(unix)]
mod imp {
    use std::fs::File;
    use std::io;
    use std::os::unix::fs::FileExt;
    use std::path::Path;

    pub(super) fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
        file.read_exact_at(buf, offset)
    }

    pub(super) fn write_all_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
        file.write_all_at(buf, offset)
    }

    pub(super) fn open_dir(dir: &Path) -> io::Result<File> {
        File::open(dir)
    }

    /// `fallocate` with no flags (what `posix_fallocate` asks of the kernel), not retried
    /// when interrupted. A file system without it is left as it was, not filled by writes:
    /// glibc's `posix_fallocate` there reads and rewrites one byte per block, and would
    /// overwrite a store another process made through its mapping in between.
    #[cfg(target_os = "linux")]
    pub(super) fn preallocate(file: &File, len: u64) -> io::Result<()> {
        use rustix::fs::FallocateFlags;
        use rustix::io::Errno;
        if i64::try_from(len).is_err() {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        match rustix::fs::fallocate(file, FallocateFlags::empty(), 0, len) {
            Ok(()) | Err(Errno::OPNOTSUPP | Errno::INVAL) => Ok(()),
            Err(errno) => Err(errno.into()),
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn preallocate(_file: &File, _len: u64) -> io::Result<()> {
        Ok(())
    }

    /// `lseek(SEEK_HOLE)`: it moves the description's offset, which nothing here uses (every
    /// read and write is positioned).
    #[cfg(target_os = "linux")]
    pub(super) fn data_end(file: &File, from: u64) -> Option<u64> {
        i64::try_from(from).ok()?;
        rustix::fs::seek(file, rustix::fs::SeekFrom::Hole(from)).ok()
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn data_end(_file: &File, _from: u64) -> Option<u64> {
        None
    }

    #[cfg(target_os = "linux")]
    pub(super) fn sync_file_system(file: &File) -> bool {
        rustix::fs::syncfs(file).is_ok()
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn sync_file_system(_file: &File) -> bool {
        false
    }
}

#[cfg(windows)]
mod imp {
    use std::fs::File;
    use std::io;
    use std::os::windows::fs::{FileExt, OpenOptionsExt};
    use std::path::Path;

    use windows_sys::Win32::Storage::FileSystem::FILE_FLAG_BACKUP_SEMANTICS;

    pub(super) fn read_exact_at(
        file: &File,
        mut buf: &mut [u8],
        mut offset: u64,
    ) -> io::Result<()> {
        while !buf.is_empty() {
            match file.seek_read(buf, offset) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                Ok(n) => {
                    buf = buf.get_mut(n..).unwrap_or_default();
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub(super) fn write_all_at(file: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match file.seek_write(buf, offset) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => {
                    buf = buf.get(n..).unwrap_or_default();
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// A directory opens as a file only with backup semantics, and `FlushFileBuffers` needs
    /// write access.
    pub(super) fn open_dir(dir: &Path) -> io::Result<File> {
        std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
            .open(dir)
    }

    /// NTFS gives a file's space when it is extended.
    pub(super) fn preallocate(_file: &File, _len: u64) -> io::Result<()> {
        Ok(())
    }

    /// Files are not sparse here unless asked to be.
    pub(super) fn data_end(_file: &File, _from: u64) -> Option<u64> {
        None
    }

    pub(super) fn sync_file_system(_file: &File) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_temporary_directory_is_not_a_network_file_system() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(network_file_system(dir.path()), None);
    }

    #[test]
    fn the_longest_mount_point_decides() {
        let mounts = "/dev/vda / ext4 rw 0 0\n\
                      server:/export /mnt/data nfs4 rw 0 0\n\
                      tmpfs /mnt/data/local\\040dir tmpfs rw 0 0\n";
        let nfs = Path::new("/mnt/data/caches/c1");
        assert_eq!(fs_type_of(nfs, mounts), Some("nfs4"));
        assert_eq!(fs_type_of(Path::new("/home/u"), mounts), Some("ext4"));
        let local = Path::new("/mnt/data/local dir/c");
        assert_eq!(fs_type_of(local, mounts), Some("tmpfs"));
    }

    #[test]
    fn positioned_writes_and_reads_meet_and_a_short_file_is_an_early_end() {
        let dir = tempfile::tempdir().unwrap();
        let file = crate::files::open_shared(&dir.path().join("f")).unwrap();
        write_all_at(&file, b"world", 6).unwrap();
        write_all_at(&file, b"hello ", 0).unwrap();
        let mut buf = [0u8; 11];
        read_exact_at(&file, &mut buf, 0).unwrap();
        assert_eq!(&buf, b"hello world");
        let err = read_exact_at(&file, &mut buf, 4).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn a_directory_can_be_synced() {
        let dir = tempfile::tempdir().unwrap();
        sync_dir(dir.path()).unwrap();
    }
}
