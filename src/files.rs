//! Opening the cache's own files, locking byte ranges of them, and what the file system under
//! them can do.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Opens `path` for reading and writing, creating it if needed and never truncating it: the
/// files it is used for (the database, the log, its index, the lock) may be in use by other
/// processes, which must keep seeing the same file.
pub(crate) fn open_shared(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
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
/// not, or if this cannot be told (no `/proc`, another operating system).
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

/// An open-file-description byte-range lock on byte `offset` of `file`: `kind` is
/// `F_RDLCK`, `F_WRLCK` or `F_UNLCK`, `cmd` is `F_OFD_SETLK` (`Ok(false)` if another
/// description holds a conflicting lock), `F_OFD_SETLKW` (waits) or `F_OFD_GETLK` (`Ok(true)`
/// if no other description holds a lock that conflicts with `kind`). Interrupted calls are
/// retried.
pub(crate) fn ofd_lock(
    file: &File,
    offset: u64,
    kind: libc::c_int,
    cmd: libc::c_int,
) -> crate::error::Result<bool> {
    use std::os::fd::AsRawFd;
    let start = libc::off_t::try_from(offset).map_err(|_| {
        crate::error::Error::InvalidArgument(format!("lock offset {offset} out of range"))
    })?;
    loop {
        // SAFETY: an all-zero `flock` is a valid value of this plain C struct.
        #[allow(unsafe_code)]
        let mut lk: libc::flock = unsafe { std::mem::zeroed() };
        lk.l_type = kind as libc::c_short;
        lk.l_whence = libc::SEEK_SET as libc::c_short;
        lk.l_start = start;
        lk.l_len = 1;
        // SAFETY: `fd` is an open descriptor owned by `file`, and `lk` is a valid, initialized
        // `flock` that outlives the call; the OFD lock commands only read and write it.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::fcntl(file.as_raw_fd(), cmd, &mut lk) };
        if rc == 0 {
            return Ok(cmd != libc::F_OFD_GETLK || lk.l_type == libc::F_UNLCK as libc::c_short);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) | Some(libc::EACCES) if cmd == libc::F_OFD_SETLK => {
                return Ok(false);
            }
            _ => return Err(err.into()),
        }
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
}
