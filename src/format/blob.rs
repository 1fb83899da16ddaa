//! Value files: naming, the write-then-rename protocol, whole reads and memory maps.
//!
//! A value at or above `min_file_size` lives in its own file, `ab/cd/<32 hex>.val` under the
//! cache directory (the first four hex digits of the name are the two folder levels). The file
//! holds exactly the value's bytes, no header; the row holds its size and crc32. A file is
//! written to `<name>.val.tmp`, synced when the durability setting asks for it, renamed into
//! place, and only then is its row committed. It is deleted only after the commit that drops
//! its row, so a crash leaves at most an orphan file, never a row without its file.

use crate::testing::fault::{self, Point};
use crate::testing::recorder;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// File name suffix of a value file.
pub(crate) const BLOB_SUFFIX: &str = ".val";
/// Suffix of a value file still being written.
pub(crate) const BLOB_TEMP_SUFFIX: &str = ".val.tmp";
/// Hex digits in a value file's name, without the suffix.
const NAME_HEX_LEN: usize = 32;

/// A value file's path relative to the cache directory, validated: `ab/cd/<32 hex>.val`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct BlobPath(String);

impl BlobPath {
    /// A fresh random path. Collisions are caught when the file is created (`create_new`).
    fn random() -> BlobPath {
        let mut name = String::with_capacity(NAME_HEX_LEN + 6 + BLOB_SUFFIX.len());
        let hex = format!("{:032x}", crate::platform::random::u128());
        let (a, rest) = hex.split_at(2);
        let (b, _) = rest.split_at(2);
        name.push_str(a);
        name.push('/');
        name.push_str(b);
        name.push('/');
        name.push_str(&hex);
        name.push_str(BLOB_SUFFIX);
        BlobPath(name)
    }

    /// Validates a stored path; anything else (`..`, absolute paths) is [`Error::Corrupted`].
    pub(crate) fn parse(s: &str) -> Result<BlobPath> {
        let bad = || Error::corrupted(format!("invalid value file path {s:?}"));
        let name = s.strip_suffix(BLOB_SUFFIX).ok_or_else(bad)?;
        let mut parts = name.split('/');
        let (Some(a), Some(b), Some(hex), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let is_hex = |p: &str| {
            p.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        };
        let ok = a.len() == 2
            && b.len() == 2
            && hex.len() == NAME_HEX_LEN
            && is_hex(a)
            && is_hex(b)
            && is_hex(hex)
            && hex.get(0..2) == Some(a)
            && hex.get(2..4) == Some(b);
        if ok {
            Ok(BlobPath(s.to_owned()))
        } else {
            Err(bad())
        }
    }

    /// The path as stored in the row.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The absolute path under `dir`.
    pub(crate) fn under(&self, dir: &Path) -> PathBuf {
        dir.join(&self.0)
    }
}

/// A value file that has been written and renamed into place, with what its row needs.
pub(crate) struct WrittenBlob {
    pub(crate) path: BlobPath,
    pub(crate) size: u64,
    pub(crate) crc32: u32,
}

/// Writes `data` to a new value file (write, sync if `sync`, rename): one `write_all` of
/// the whole buffer, its crc32 taken from `data` itself (no copy through a staging buffer).
pub(crate) fn write(dir: &Path, data: &[u8], sync: bool) -> Result<WrittenBlob> {
    let crc32 = crc32fast::hash(data);
    let path = write_with(dir, sync, |file, temp_path| {
        fault::check(Point::ValueWrite)?;
        file.write_all(data)?;
        recorder::write(temp_path, 0, data);
        Ok(())
    })?;
    Ok(WrittenBlob {
        path,
        size: data.len() as u64,
        crc32,
    })
}

/// Streams `reader` into a new value file, computing size and crc32 as the bytes pass.
pub(crate) fn write_from(dir: &Path, reader: &mut dyn Read, sync: bool) -> Result<WrittenBlob> {
    let mut hasher = crc32fast::Hasher::new();
    let mut size = 0u64;
    let path = write_with(dir, sync, |file, temp_path| {
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            let chunk = buf.get(..n).unwrap_or_default();
            hasher.update(chunk);
            fault::check(Point::ValueWrite)?;
            file.write_all(chunk)?;
            recorder::write(temp_path, size, chunk);
            size += n as u64;
        }
    })?;
    Ok(WrittenBlob {
        path,
        size,
        crc32: hasher.finalize(),
    })
}

/// Makes a new value file: a temp file that `fill` writes (given it and its path), synced if
/// `sync`, renamed into place (and its folder synced if `sync`); the temp file is removed if
/// any step fails. Returns the file's path.
fn write_with(
    dir: &Path,
    sync: bool,
    fill: impl FnOnce(&mut File, &Path) -> Result<()>,
) -> Result<BlobPath> {
    let (path, final_path, temp_path, mut file) = create_temp(dir)?;
    let result = (|| -> Result<()> {
        fill(&mut file, &temp_path)?;
        if sync {
            fault::check(Point::ValueSync)?;
            file.sync_all()?;
            recorder::sync_file(&temp_path);
        }
        drop(file);
        fault::check(Point::ValueRename)?;
        fs::rename(&temp_path, &final_path)?;
        recorder::rename(&temp_path, &final_path);
        if sync {
            fault::check(Point::ValueSync)?;
            sync_dir(final_path.parent().unwrap_or(dir))?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(path),
        Err(e) => {
            if fs::remove_file(&temp_path).is_ok() {
                recorder::remove(&temp_path);
            }
            Err(e)
        }
    }
}

/// Creates the folders and an empty temp file for a fresh random name.
fn create_temp(dir: &Path) -> Result<(BlobPath, PathBuf, PathBuf, File)> {
    create_temp_named(dir, BlobPath::random, |_| {})
}

/// [`create_temp`] with the names from `name`; `between` runs after the folders are made and
/// before the file is created (a test removes the folder there, as another process's
/// [`remove`] may).
///
/// Another process removes a folder it emptied ([`remove`]), so a folder made here may be
/// gone before the file is created in it: creating the file then fails with `NotFound`, and
/// the folders are made again. Once the temp file exists the folder is not empty, and the
/// rename into place stays within it.
fn create_temp_named(
    dir: &Path,
    mut name: impl FnMut() -> BlobPath,
    mut between: impl FnMut(&Path),
) -> Result<(BlobPath, PathBuf, PathBuf, File)> {
    let mut collisions = 0;
    let mut vanished = 0;
    while collisions < 8 {
        let path = name();
        let final_path = path.under(dir);
        let temp_path = dir.join(format!(
            "{}{BLOB_TEMP_SUFFIX}",
            path.as_str().trim_end_matches(BLOB_SUFFIX)
        ));
        let parent = final_path.parent().unwrap_or(dir);
        match fs::create_dir_all(parent) {
            // A folder (or its parent) removed while being made: `create_dir_all` says
            // NotFound, or AlreadyExists when another writer made it and a remover took it
            // away again before the check that it is a folder.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::AlreadyExists
                ) && vanished < FOLDER_RETRIES =>
            {
                vanished += 1;
                continue;
            }
            other => other?,
        }
        recorder::make_dirs(parent);
        between(parent);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp_path)
        {
            Ok(file) if !final_path.exists() => {
                recorder::create(&temp_path);
                return Ok((path, final_path, temp_path, file));
            }
            Ok(_) => {
                let _ = fs::remove_file(&temp_path);
                collisions += 1;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => collisions += 1,
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    && vanished < FOLDER_RETRIES
                    && !crate::testing::sabotage::on(
                        crate::testing::sabotage::Sabotage::NoFolderRetry,
                    ) =>
            {
                // Another process removed the emptied folder in between: make it again.
                vanished += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Io(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "could not find a free value file name after 8 attempts",
    )))
}

/// How many times a writer makes again a folder that other processes keep removing before it
/// gives up (each removal needs the folder empty, so this takes a writer whose every attempt
/// lost a race).
const FOLDER_RETRIES: u32 = 1000;

/// Makes the names in `dir` durable, a rename into it say (`platform::io::sync_dir`).
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    crate::platform::io::sync_dir(dir)?;
    recorder::sync_dir(dir);
    Ok(())
}

/// Reads a whole value file with one `read`; `Ok(None)` if it does not exist (a concurrent
/// delete, or damage that `check` reports).
pub(crate) fn read(dir: &Path, path: &BlobPath) -> Result<Option<Vec<u8>>> {
    match fs::read(path.under(dir)) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Opens a value file for mapping; `Ok(None)` if it does not exist.
pub(crate) fn open(dir: &Path, path: &BlobPath) -> Result<Option<File>> {
    match File::open(path.under(dir)) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Deletes a value file; one that is already gone is not an error. Then, as Python
/// diskcache's `Disk.remove`, removes its two folders (`ab/cd`, then `ab`) if that left them
/// empty: a folder that is not empty, already gone, or being filled by another process at the
/// same moment is left alone (a writer that finds its folder gone makes it again,
/// [`create_temp`]).
pub(crate) fn remove(dir: &Path, path: &BlobPath) -> Result<()> {
    let full = path.under(dir);
    match fs::remove_file(&full) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
        Err(_) => {}
        Ok(()) => recorder::remove(&full),
    }
    remove_empty_folders(dir, &full);
    Ok(())
}

/// Removes the two folders of the value file (or temp file) `file` under `dir`, innermost
/// first, each only if it is empty; stops at the first that is not (or is gone).
pub(crate) fn remove_empty_folders(dir: &Path, file: &Path) {
    let mut folder = file.parent();
    for _level in 0..2 {
        let Some(f) = folder.filter(|f| *f != dir && f.starts_with(dir)) else {
            break;
        };
        // Fails harmlessly unless the folder is empty.
        if fs::remove_dir(f).is_err() {
            break;
        }
        recorder::remove_dir(f);
        folder = f.parent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_paths_have_the_documented_shape() {
        let p = BlobPath::random();
        assert_eq!(BlobPath::parse(p.as_str()).unwrap(), p);
        let s = p.as_str();
        assert_eq!(s.len(), 2 + 1 + 2 + 1 + 32 + 4);
        assert_eq!(&s[0..2], &s[6..8]);
        assert_eq!(&s[3..5], &s[8..10]);
        assert_ne!(BlobPath::random(), p);
    }

    proptest::proptest! {
        /// A name parses back to itself, and any string either parses to a name that prints
        /// as that string or is refused.
        #[test]
        fn names_round_trip_and_any_string_parses_exactly_or_not_at_all(s in "[0-9a-f/.valtmpz]{0,48}") {
            let p = BlobPath::random();
            proptest::prop_assert_eq!(BlobPath::parse(p.as_str()).unwrap(), p);
            if let Ok(parsed) = BlobPath::parse(&s) {
                proptest::prop_assert_eq!(parsed.as_str(), s.as_str());
            }
        }
    }

    #[test]
    fn hostile_paths_are_refused() {
        for bad in [
            "../../etc/passwd",
            "/ab/cd/0123456789abcdef0123456789abcdef.val",
            "ab/cd/0123456789abcdef0123456789abcdef.txt",
            "ab/cd/ef/0123456789abcdef0123456789abcdef.val",
            "zz/cd/zz23456789abcdef0123456789abcdef.val",
            "ab/cd/0123456789ABCDEF0123456789abcdef.val",
            "01/23/0123456789abcdef0123456789abcde.val",
            "",
        ] {
            assert!(BlobPath::parse(bad).is_err(), "{bad}");
        }
        assert!(BlobPath::parse("01/23/0123456789abcdef0123456789abcdef.val").is_ok());
    }

    #[test]
    fn write_read_remove() {
        let dir = tempfile::tempdir().unwrap();
        let blob = write(dir.path(), b"payload", true).unwrap();
        assert_eq!(blob.size, 7);
        assert_eq!(blob.crc32, crc32fast::hash(b"payload"));
        assert_eq!(read(dir.path(), &blob.path).unwrap().unwrap(), b"payload");
        remove(dir.path(), &blob.path).unwrap();
        remove(dir.path(), &blob.path).unwrap();
        assert!(read(dir.path(), &blob.path).unwrap().is_none());
        // The emptied folders went with the file.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_buffer_and_a_stream_make_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        // Several of the stream's 256 KiB pieces, the last one short.
        let data: Vec<u8> = (0..1_000_003u32).map(|i| (i % 251) as u8).collect();
        for sync in [false, true] {
            let whole = write(dir.path(), &data, sync).unwrap();
            let streamed = write_from(dir.path(), &mut io::Cursor::new(&data), sync).unwrap();
            assert_ne!(whole.path, streamed.path);
            for blob in [&whole, &streamed] {
                assert_eq!(blob.size, data.len() as u64);
                assert_eq!(blob.crc32, crc32fast::hash(&data));
                assert!(read(dir.path(), &blob.path).unwrap().unwrap() == data);
            }
        }
        // Nothing but the value files and their folders: no temp file left behind.
        let mut files = 0;
        let mut stack = vec![dir.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in fs::read_dir(d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    assert!(path.to_string_lossy().ends_with(BLOB_SUFFIX), "{path:?}");
                    files += 1;
                }
            }
        }
        assert_eq!(files, 4);
    }

    #[test]
    fn a_folder_that_still_holds_a_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        let first = write(dir.path(), b"1", false).unwrap();
        let folder = &first.path.as_str()[0..5];
        let same_folder = |n: u64| {
            let hex = format!("{}{}{n:028x}", &folder[0..2], &folder[3..5]);
            BlobPath::parse(&format!("{folder}/{hex}.val")).unwrap()
        };
        let mut n = 0;
        let (second, _, temp, file) = create_temp_named(
            dir.path(),
            || {
                n += 1;
                same_folder(n)
            },
            |_| {},
        )
        .unwrap();
        drop(file);
        remove(dir.path(), &first.path).unwrap();
        assert!(
            temp.exists(),
            "the folder of a file being written was removed"
        );
        fs::remove_file(&temp).unwrap();
        remove(dir.path(), &second).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_writer_whose_folder_is_removed_under_it_makes_it_again() {
        // Another process's `remove` emptied and removed the folder between this writer's
        // making it and creating its file in it: the worst moment, every time it can.
        let dir = tempfile::tempdir().unwrap();
        let mut removals = 0;
        let (path, final_path, temp, mut file) =
            create_temp_named(dir.path(), BlobPath::random, |folder| {
                if removals < 3 {
                    removals += 1;
                    fs::remove_dir(folder).unwrap();
                    let _ = fs::remove_dir(folder.parent().unwrap());
                }
            })
            .unwrap();
        assert_eq!(removals, 3);
        file.write_all(b"v").unwrap();
        drop(file);
        fs::rename(&temp, &final_path).unwrap();
        assert_eq!(read(dir.path(), &path).unwrap().unwrap(), b"v");
    }

    #[test]
    fn writers_and_removers_sharing_folders_never_fail() {
        // Threads write and remove value files in the same few folders at once, so removals
        // of emptied folders race with writes into them.
        let dir = tempfile::tempdir().unwrap();
        std::thread::scope(|scope| {
            for t in 0..4u64 {
                let dir = dir.path();
                scope.spawn(move || {
                    for i in 0..300u64 {
                        let hex = format!("00{:02x}{:028x}", t % 2, (t << 32) | i);
                        let name = format!("{}/{}/{hex}.val", &hex[0..2], &hex[2..4]);
                        let path = BlobPath::parse(&name).unwrap();
                        let (p, final_path, temp, mut file) =
                            create_temp_named(dir, || path.clone(), |_| {}).unwrap();
                        file.write_all(b"v").unwrap();
                        drop(file);
                        fs::rename(&temp, &final_path).unwrap();
                        assert_eq!(read(dir, &p).unwrap().unwrap(), b"v");
                        remove(dir, &p).unwrap();
                    }
                });
            }
        });
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
