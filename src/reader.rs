//! `ValueReader`: `Read + Seek` over a stored value, a memory map for value files.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use memmap2::Mmap;

use crate::error::{Error, Result};

/// Reads one stored value without copying it first: a memory map of its value file, or the
/// inline bytes.
///
/// The value's crc32 is checked the first time the reader reaches the end; a mismatch makes
/// that `read` fail with an [`io::Error`] of kind `InvalidData` wrapping
/// [`Error::Corrupted`], so damaged bytes are never taken for a complete value.
/// [`ValueReader::verify`] checks it up front.
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
}

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

    /// A reader over a memory map of `file`, which must hold `size` bytes.
    pub(crate) fn mapped(
        file: &File,
        size: u64,
        expected_crc: u32,
        origin: String,
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
        // SAFETY: value files are written once, renamed into place, and never written again:
        // the cache only creates and unlinks them, and an unlinked file stays mapped intact.
        // The length was checked just above; a file truncated afterwards by something outside
        // the cache could still fault, which is listed in UNSAFE.md.
        #[allow(unsafe_code)]
        let map = unsafe { Mmap::map(file)? };
        Ok(ValueReader {
            bytes: Bytes::Mapped(map),
            pos: 0,
            expected_crc,
            verified: None,
            origin,
        })
    }

    fn as_slice(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Inline(v) => v,
            Bytes::Mapped(m) => m,
        }
    }

    /// The value's length in bytes.
    pub fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// Checks the whole value against its crc32 now.
    ///
    /// # Errors
    /// [`Error::Corrupted`] if the bytes do not match the crc32 stored with them.
    pub fn verify(&mut self) -> Result<()> {
        let ok = match self.verified {
            Some(ok) => ok,
            None => {
                let ok = crc32fast::hash(self.as_slice()) == self.expected_crc;
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
                crc32fast::hash(self.as_slice())
            )))
        }
    }
}

impl Read for ValueReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = self.as_slice().len();
        let start = usize::try_from(self.pos).unwrap_or(usize::MAX).min(len);
        let n = (len - start).min(buf.len());
        if start + n == len {
            // The reader is about to reach (or is at) the end: the value must be whole.
            self.verify()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        }
        let rest = self.as_slice().get(start..).unwrap_or_default();
        let (dst, src) = (buf.get_mut(..n), rest.get(..n));
        if let (Some(dst), Some(src)) = (dst, src) {
            dst.copy_from_slice(src);
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
    fn maps_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        std::fs::write(&path, b"mapped bytes").unwrap();
        let f = File::open(&path).unwrap();
        let mut r =
            ValueReader::mapped(&f, 12, crc32fast::hash(b"mapped bytes"), "k".into()).unwrap();
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "mapped bytes");
        assert!(matches!(
            ValueReader::mapped(&f, 13, 0, "k".into()),
            Err(Error::Corrupted(_))
        ));
    }
}
