//! `ValueReader`: `Read + Seek` over a stored value: the inline bytes, or its value file,
//! memory-mapped on Unix and read through an open handle on Windows.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use memmap2::Mmap;

use crate::error::{Error, Result};

/// Reads one stored value without copying it first: a memory map of its value file (Unix), an
/// open handle on it (Windows), or the inline bytes.
///
/// The value's crc32 is checked the first time the reader reaches the end; a mismatch makes
/// that `read` fail with an [`io::Error`] of kind `InvalidData` wrapping
/// [`Error::Corrupted`], so damaged bytes are never taken for a complete value.
/// [`ValueReader::verify`] checks it up front.
///
/// A reader keeps its value after the entry is deleted or replaced. On Windows the value
/// file's name stays in its folder until the reader is dropped (Windows removes an open
/// file's name when its last handle closes).
#[derive(Debug)]
pub struct ValueReader {
    bytes: Bytes,
    pos: u64,
    expected_crc: u32,
    /// Some(ok) once the crc has been checked.
    verified: Option<bool>,
    origin: String,
}

#[derive(Debug)]
enum Bytes {
    Inline(Vec<u8>),
    Mapped(Mmap),
    /// An open value file of this many bytes, read with positioned reads: Windows cannot
    /// delete a file while it is mapped, and a writer deletes the file it replaced while
    /// readers may still hold it.
    Open(File, u64),
}

/// How much of an open value file [`ValueReader::verify`] reads at a time.
const VERIFY_CHUNK: usize = 256 * 1024;

impl ValueReader {
    /// A reader over bytes already in memory.
    pub(crate) fn inline(bytes: Vec<u8>, expected_crc: u32, origin: String) -> ValueReader {
        ValueReader {
            bytes: Bytes::Inline(bytes),
            pos: 0,
            expected_crc,
            verified: None,
            origin,
        }
    }

    /// A reader over the value file `file`, which must hold `size` bytes: mapped where
    /// `platform::io::MAP_VALUE_FILES` says so (Unix), else read through the handle.
    pub(crate) fn from_file(
        file: File,
        size: u64,
        expected_crc: u32,
        origin: String,
    ) -> Result<ValueReader> {
        ValueReader::with_file(
            file,
            size,
            expected_crc,
            origin,
            crate::platform::io::MAP_VALUE_FILES,
        )
    }

    /// [`ValueReader::from_file`], mapping the file or not as `map` says.
    fn with_file(
        file: File,
        size: u64,
        expected_crc: u32,
        origin: String,
        map: bool,
    ) -> Result<ValueReader> {
        let actual = file.metadata()?.len();
        if actual != size {
            return Err(Error::corrupted(format!(
                "{origin}: the value file has {actual} bytes, the row says {size}"
            )));
        }
        if size == 0 {
            return Ok(ValueReader::inline(Vec::new(), expected_crc, origin));
        }
        let bytes = if map {
            // SAFETY: value files are written once, renamed into place, and never written
            // again: the cache only creates and unlinks them, and an unlinked file stays
            // mapped intact. The length was checked just above; a file truncated afterwards
            // by something outside the cache could still fault, which is listed in UNSAFE.md.
            #[allow(unsafe_code)]
            let map = unsafe { Mmap::map(&file)? };
            Bytes::Mapped(map)
        } else {
            Bytes::Open(file, size)
        };
        Ok(ValueReader {
            bytes,
            pos: 0,
            expected_crc,
            verified: None,
            origin,
        })
    }

    /// The value's length in bytes.
    pub fn len(&self) -> u64 {
        match &self.bytes {
            Bytes::Inline(v) => v.len() as u64,
            Bytes::Mapped(m) => m.len() as u64,
            Bytes::Open(_, len) => *len,
        }
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The crc32 of the whole value.
    fn crc(&self) -> io::Result<u32> {
        match &self.bytes {
            Bytes::Inline(v) => Ok(crc32fast::hash(v)),
            Bytes::Mapped(m) => Ok(crc32fast::hash(m)),
            Bytes::Open(file, len) => {
                let mut hasher = crc32fast::Hasher::new();
                let mut buf = vec![0u8; VERIFY_CHUNK];
                let mut at = 0u64;
                while at < *len {
                    let n =
                        usize::try_from(*len - at).map_or(VERIFY_CHUNK, |n| n.min(VERIFY_CHUNK));
                    let chunk = buf.get_mut(..n).unwrap_or_default();
                    crate::platform::io::read_exact_at(file, chunk, at)?;
                    hasher.update(chunk);
                    at += n as u64;
                }
                Ok(hasher.finalize())
            }
        }
    }

    /// Checks the whole value against its crc32 now, without reading it out (reading to the
    /// end checks it too: a mismatch is then an `io::Error` of kind `InvalidData`).
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
    /// cache.set("blob", vec![1u8; 100_000])?;
    /// let mut reader = cache.get_reader("blob")?.expect("stored");
    /// reader.verify()?; // Err(Error::Corrupted(_)) if the value file was damaged
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Corrupted`] if the bytes do not match the crc32 stored with them;
    /// [`Error::Io`] if an open value file cannot be read.
    pub fn verify(&mut self) -> Result<()> {
        let ok = match self.verified {
            Some(ok) => ok,
            None => {
                let ok = self.crc()? == self.expected_crc;
                self.verified = Some(ok);
                ok
            }
        };
        if ok {
            Ok(())
        } else {
            Err(Error::corrupted(format!(
                "{}: crc32 mismatch, expected {:#010x}, got {:#010x}",
                self.origin,
                self.expected_crc,
                self.crc()?
            )))
        }
    }
}

impl Read for ValueReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = self.len();
        let start = self.pos.min(len);
        let n = usize::try_from(len - start).map_or(buf.len(), |left| left.min(buf.len()));
        if start + n as u64 == len {
            // The reader is about to reach (or is at) the end: the value must be whole.
            self.verify()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        }
        let Some(dst) = buf.get_mut(..n) else {
            return Ok(0);
        };
        let from = usize::try_from(start).unwrap_or(usize::MAX);
        match &self.bytes {
            Bytes::Inline(v) => dst.copy_from_slice(v.get(from..from + n).unwrap_or_default()),
            Bytes::Mapped(m) => dst.copy_from_slice(m.get(from..from + n).unwrap_or_default()),
            Bytes::Open(file, _) => crate::platform::io::read_exact_at(file, dst, start)?,
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for ValueReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let len = self.len();
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "seek to a negative position")
        })?;
        self.pos = target;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_seeks_and_checks_the_crc_at_the_end() {
        let data = b"hello world".to_vec();
        let crc = crc32fast::hash(&data);
        let mut r = ValueReader::inline(data.clone(), crc, "k".into());
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        r.seek(SeekFrom::Start(6)).unwrap();
        let mut w = String::new();
        r.read_to_string(&mut w).unwrap();
        assert_eq!(w, "world");
        assert_eq!(r.seek(SeekFrom::End(-5)).unwrap(), 6);
        assert!(r.seek(SeekFrom::Current(-100)).is_err());
    }

    #[test]
    fn a_damaged_value_fails_at_the_end_not_silently() {
        let mut r = ValueReader::inline(b"abc".to_vec(), 0, "k".into());
        let mut out = Vec::new();
        let err = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(matches!(r.verify(), Err(Error::Corrupted(_))));
    }

    #[test]
    fn reads_a_file_mapped_or_through_its_handle() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        let data: Vec<u8> = (0..3 * VERIFY_CHUNK + 17).map(|i| (i * 7) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let crc = crc32fast::hash(&data);
        let len = data.len() as u64;
        for map in [true, false] {
            let open = || File::open(&path).unwrap();
            let mut r = ValueReader::with_file(open(), len, crc, "k".into(), map).unwrap();
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert!(out == data, "map {map}");
            assert_eq!(r.seek(SeekFrom::End(-3)).unwrap(), len - 3);
            let mut tail = Vec::new();
            r.read_to_end(&mut tail).unwrap();
            assert_eq!(tail, data[data.len() - 3..]);
            let mut damaged =
                ValueReader::with_file(open(), len, crc ^ 1, "k".into(), map).unwrap();
            let err = damaged.read_to_end(&mut Vec::new()).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "map {map}");
            assert!(matches!(
                ValueReader::with_file(open(), len + 1, 0, "k".into(), map),
                Err(Error::Corrupted(_))
            ));
        }
    }

    #[test]
    fn an_open_value_file_keeps_its_bytes_once_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        std::fs::write(&path, b"kept bytes").unwrap();
        let file = File::open(&path).unwrap();
        let crc = crc32fast::hash(b"kept bytes");
        let mut r = ValueReader::with_file(file, 10, crc, "k".into(), false).unwrap();
        // Windows deletes an open file once its last handle closes (std shares delete access).
        std::fs::remove_file(&path).unwrap();
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "kept bytes");
        drop(r);
        assert!(!path.exists());
    }
}
