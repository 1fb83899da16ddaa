//! `ValueReader`: `Read + Seek` over a stored value: the inline bytes, or its value file,
//! memory-mapped on Unix and read through an open handle on Windows.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use memmap2::Mmap;

use crate::error::{Error, Result};

/// Reads one stored value without copying it first: a memory map of its value file (Unix:
/// a reader kept alive holds no descriptor), an open handle on it (Windows), or the inline
/// bytes. [`Read::read_to_end`] appends the rest of the value in one go.
///
/// The value's crc32 is checked the first time the reader reaches the end, from the bytes
/// read on the way when they were read in order (else in one more pass); a mismatch makes
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
    /// The crc32 of the first `hashed` bytes, which reads in order from the start have
    /// passed through: a reader read through once needs no second pass over its bytes.
    running: crc32fast::Hasher,
    hashed: u64,
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

/// How much of an open value file [`ValueReader::verify`] reads at a time, and how much of
/// the bytes in memory [`Read::read_to_end`] copies before it hashes them (while they are
/// still in the processor's cache).
const VERIFY_CHUNK: usize = 256 * 1024;

impl ValueReader {
    /// A reader over bytes already in memory.
    pub(crate) fn inline(bytes: Vec<u8>, expected_crc: u32, origin: String) -> ValueReader {
        ValueReader {
            bytes: Bytes::Inline(bytes),
            pos: 0,
            expected_crc,
            verified: None,
            running: crc32fast::Hasher::new(),
            hashed: 0,
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
            running: crc32fast::Hasher::new(),
            hashed: 0,
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

    /// The crc32 of the whole value: the running one if reads have passed through every
    /// byte in order, else computed now.
    fn crc(&self) -> io::Result<u32> {
        if self.hashed == self.len() {
            return Ok(self.running.clone().finalize());
        }
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

impl ValueReader {
    /// Notes that `got`, the bytes at `start`, have just been read: they extend the running
    /// crc32 if they follow the bytes it covers. If they reach the end, the value must be
    /// whole: a mismatch is an `InvalidData` error (and the read must not count them).
    fn passed(&mut self, start: u64, got: &[u8]) -> io::Result<()> {
        if self.verified.is_none() && start == self.hashed {
            self.running.update(got);
            self.hashed += got.len() as u64;
        }
        if start + got.len() as u64 >= self.len() {
            self.verify()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        }
        Ok(())
    }
}

impl Read for ValueReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = self.len();
        let start = self.pos.min(len);
        let n = usize::try_from(len - start).map_or(buf.len(), |left| left.min(buf.len()));
        let Some(dst) = buf.get_mut(..n) else {
            return Ok(0);
        };
        let from = usize::try_from(start).unwrap_or(usize::MAX);
        match &self.bytes {
            Bytes::Inline(v) => dst.copy_from_slice(v.get(from..from + n).unwrap_or_default()),
            Bytes::Mapped(m) => dst.copy_from_slice(m.get(from..from + n).unwrap_or_default()),
            Bytes::Open(file, _) => crate::platform::io::read_exact_at(file, dst, start)?,
        }
        // Reaching (or being at) the end checks the crc before the bytes are handed out.
        self.passed(start, dst)?;
        self.pos += n as u64;
        Ok(n)
    }

    /// Appends the rest of the value to `buf` at once, checking the crc32 on the way; on a
    /// mismatch `buf` is left as it was.
    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let len = self.len();
        let start = self.pos.min(len);
        let n = usize::try_from(len - start)
            .map_err(|_| io::Error::new(io::ErrorKind::OutOfMemory, "value too large"))?;
        buf.try_reserve(n)?;
        let at = buf.len();
        let from = usize::try_from(start).unwrap_or(usize::MAX);
        let in_memory = match &self.bytes {
            Bytes::Inline(v) => Some(v.get(from..).unwrap_or_default()),
            Bytes::Mapped(m) => Some(m.get(from..).unwrap_or_default()),
            Bytes::Open(..) => None,
        };
        let result = match (in_memory, &self.bytes) {
            (Some(rest), _) => {
                // In pieces, each hashed while it is still in the processor's cache.
                let hashing = self.verified.is_none() && start == self.hashed;
                for piece in rest.chunks(VERIFY_CHUNK) {
                    buf.extend_from_slice(piece);
                    if hashing {
                        self.running.update(piece);
                        self.hashed += piece.len() as u64;
                    }
                }
                // Only the end's check is left.
                self.passed(len, &[])
            }
            (None, Bytes::Open(file, _)) => read_file_to_end(file, start, n, buf)
                .and_then(|()| self.passed(start, buf.get(at..).unwrap_or_default())),
            (None, _) => Ok(()),
        };
        if let Err(e) = result {
            buf.truncate(at);
            return Err(e);
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// Appends the `n` bytes from `start` to the end of the value `file` to `buf`, read straight
/// into its spare room: std's read of a whole `File` into a `Vec` does not zero the room
/// first, and asks for all of it in one call. (A value file is never written again once in
/// place, so it still ends where the row says.)
fn read_file_to_end(file: &File, start: u64, n: usize, buf: &mut Vec<u8>) -> io::Result<()> {
    let mut handle = file;
    handle.seek(SeekFrom::Start(start))?;
    let got = handle.read_to_end(buf)?;
    if got == n {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the value file holds {got} bytes from {start}, the row says {n}"),
        ))
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

    /// A read larger than the crc pass's pieces.
    const BIG_READ: usize = 64 * 1024;

    /// Reads `r` to its end with reads of `chunk` bytes (the last one short).
    fn read_in(r: &mut ValueReader, chunk: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; chunk];
        loop {
            match r.read(&mut buf)? {
                0 => return Ok(out),
                n => out.extend_from_slice(&buf[..n]),
            }
        }
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
            // Small reads, large ones, and a read_to_end after a read.
            for chunk in [1000, BIG_READ, 3 * BIG_READ + 5] {
                let mut r = ValueReader::with_file(open(), len, crc, "k".into(), map).unwrap();
                assert!(read_in(&mut r, chunk).unwrap() == data, "map {map} {chunk}");
            }
            let mut r = ValueReader::with_file(open(), len, crc, "k".into(), map).unwrap();
            let mut head = vec![0u8; 100];
            r.read_exact(&mut head).unwrap();
            let mut rest = Vec::new();
            r.read_to_end(&mut rest).unwrap();
            head.extend_from_slice(&rest);
            assert!(head == data, "map {map}");
            let mut damaged =
                ValueReader::with_file(open(), len, crc ^ 1, "k".into(), map).unwrap();
            let mut kept = b"before".to_vec();
            let err = damaged.read_to_end(&mut kept).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "map {map}");
            assert_eq!(kept, b"before", "a failed read_to_end leaves the buffer");
            for chunk in [1000, 3 * BIG_READ + 5] {
                let mut damaged =
                    ValueReader::with_file(open(), len, crc ^ 1, "k".into(), map).unwrap();
                let err = read_in(&mut damaged, chunk).unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::InvalidData, "map {map} {chunk}");
            }
            assert!(matches!(
                ValueReader::with_file(open(), len + 1, 0, "k".into(), map),
                Err(Error::Corrupted(_))
            ));
        }
    }

    #[test]
    fn reads_out_of_order_still_check_every_byte_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        let data: Vec<u8> = (0..VERIFY_CHUNK + 999).map(|i| (i * 13) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let len = data.len() as u64;
        let good = crc32fast::hash(&data);
        let mut damaged = data.clone();
        damaged[50] ^= 1;
        let bad = crc32fast::hash(&damaged);
        for map in [true, false] {
            for (crc, ok) in [(good, true), (bad, false)] {
                let open = || File::open(&path).unwrap();
                let mut r = ValueReader::with_file(open(), len, crc, "k".into(), map).unwrap();
                // Bytes 0..10 in order, then a jump past byte 50 to the end: the running
                // crc32 skips what was never read, so the end needs a whole pass.
                let mut head = [0u8; 10];
                r.read_exact(&mut head).unwrap();
                r.seek(SeekFrom::Start(100)).unwrap();
                let got = r.read_to_end(&mut Vec::new());
                assert_eq!(got.is_ok(), ok, "map {map} crc ok {ok}");
                // Read again from the start, twice over the first bytes.
                let mut r = ValueReader::with_file(open(), len, crc, "k".into(), map).unwrap();
                r.read_exact(&mut [0u8; 300]).unwrap();
                r.seek(SeekFrom::Start(0)).unwrap();
                let got = read_in(&mut r, 4096);
                assert_eq!(got.is_ok(), ok, "map {map} crc ok {ok}");
                assert_eq!(r.verify().is_ok(), ok, "map {map} crc ok {ok}");
            }
        }
        let mut inline = ValueReader::inline(data.clone(), bad, "k".into());
        assert!(inline.read_to_end(&mut Vec::new()).is_err());
        let mut inline = ValueReader::inline(data.clone(), good, "k".into());
        assert_eq!(inline.read_to_end(&mut Vec::new()).unwrap(), data.len());
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
