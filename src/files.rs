//! Opening the cache's own files.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Opens `path` for reading and writing, creating it if needed and never truncating it: the
/// files it is used for (the database, the log, its index, the lock) may be in use by other
/// processes, which must keep seeing the same file. (On Windows, std opens it sharing read,
/// write and delete access with other handles, so other processes can open it too.)
pub(crate) fn open_shared(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}
