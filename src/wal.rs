//! `cache.wal`: the shared write-ahead log of the logged write path.
//!
//! A fixed-size file (never truncated while mapped), mapped read-only by every process and
//! written only with `pwrite`. Layout (little-endian; `format-spec/wal.md` is the authority):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic [`WAL_MAGIC`] |
//! | 8 | 8 | generation: records of any other generation are not part of the log |
//! | 16 | 48 | reserved, zero |
//! | 64 | … | records, each padded to a multiple of 8 bytes |
//!
//! A record:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | length L of the record before padding (≥ [`RECORD_HEADER_LEN`]) |
//! | 4 | 4 | crc32 of bytes 8..L |
//! | 8 | 8 | generation |
//! | 16 | 8 | sequence number within the generation, from 0 |
//! | 24 | 1 | kind: 1 set, 2 delete, 3 access |
//! | 25 | 1 | flags: bit 0 = last record of an atomic block |
//! | 26 | 2 | key length K |
//! | 28 | 4 | reserved, zero |
//! | 32 | K | the encoded key |
//! | 32+K | L−32−K | set: the encoded row (`row.rs`); delete: nothing; access: 16 bytes |
//!
//! An access record (the eviction policy is least-recently- or least-frequently-used) says
//! the key was read: its payload is the latest access time (µs, u64) and the number of
//! accesses (u64). It changes no visible data and is not indexed in `cache.shm`; a checkpoint
//! folds it into the key's row.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{Error, Result};

/// File name of the log inside a cache directory.
pub(crate) const WAL_FILE: &str = "cache.wal";
/// The log file's first 8 bytes.
pub(crate) const WAL_MAGIC: [u8; 8] = *b"DCWAL\0\0\x01";
/// Where records start.
pub(crate) const WAL_HEADER_LEN: u64 = 64;
/// Bytes of a record before its key.
pub(crate) const RECORD_HEADER_LEN: usize = 32;
/// The log's fixed size. Created sparse: only the bytes written take disk space.
pub(crate) const WAL_SIZE: u64 = 64 << 20;

/// Record kind: store the row in the payload under the key.
pub(crate) const KIND_SET: u8 = 1;
/// Record kind: remove the key.
pub(crate) const KIND_DELETE: u8 = 2;
/// Record kind: the key was read (its access time and count move on).
pub(crate) const KIND_ACCESS: u8 = 3;
/// Length of an access record's payload.
pub(crate) const ACCESS_PAYLOAD_LEN: usize = 16;
/// Record flag: the last record of an atomic block (every single operation is a block).
pub(crate) const FLAG_COMMIT: u8 = 1;

/// One decoded record, borrowing the bytes it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    pub(crate) generation: u64,
    pub(crate) seq: u64,
    pub(crate) kind: u8,
    pub(crate) flags: u8,
    pub(crate) key: &'a [u8],
    /// The encoded row of a set; empty for a delete.
    pub(crate) payload: &'a [u8],
}

impl Record<'_> {
    /// Whether this record ends an atomic block.
    pub(crate) fn commits(&self) -> bool {
        self.flags & FLAG_COMMIT != 0
    }
}

/// The length of a record once padded, for a key and payload of these sizes.
pub(crate) fn padded_len(key_len: usize, payload_len: usize) -> usize {
    (RECORD_HEADER_LEN + key_len + payload_len).next_multiple_of(8)
}

/// Appends one record to `out`, padded to a multiple of 8 bytes.
pub(crate) fn encode_record(out: &mut Vec<u8>, rec: &Record<'_>) -> Result<()> {
    let key_len = u16::try_from(rec.key.len())
        .map_err(|_| Error::InvalidArgument("a key is too long for the log".into()))?;
    let len = RECORD_HEADER_LEN + rec.key.len() + rec.payload.len();
    let len32 = u32::try_from(len)
        .map_err(|_| Error::InvalidArgument("a record is too long for the log".into()))?;
    let start = out.len();
    out.extend_from_slice(&len32.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // crc, filled below
    out.extend_from_slice(&rec.generation.to_le_bytes());
    out.extend_from_slice(&rec.seq.to_le_bytes());
    out.extend_from_slice(&[rec.kind, rec.flags]);
    out.extend_from_slice(&key_len.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(rec.key);
    out.extend_from_slice(rec.payload);
    let crc = crc32fast::hash(out.get(start + 8..).unwrap_or_default());
    if let Some(slot) = out.get_mut(start + 4..start + 8) {
        slot.copy_from_slice(&crc.to_le_bytes());
    }
    out.resize(start + len.next_multiple_of(8), 0);
    Ok(())
}

/// Decodes the record at the start of `bytes`; returns it and its padded length.
///
/// `None` for anything that is not a whole, crc-valid record of a known kind: the end of the
/// log, a torn write, or bytes of another generation's record.
pub(crate) fn decode_record(bytes: &[u8]) -> Option<(Record<'_>, usize)> {
    let word = |at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
    };
    let len = u32::from_le_bytes(bytes.get(0..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?);
    if len < RECORD_HEADER_LEN {
        return None;
    }
    let body = bytes.get(8..len)?;
    if crc32fast::hash(body) != crc {
        return None;
    }
    let (kind, flags) = (*bytes.get(24)?, *bytes.get(25)?);
    let key_len = u16::from_le_bytes(bytes.get(26..28)?.try_into().ok()?) as usize;
    let key_end = RECORD_HEADER_LEN
        .checked_add(key_len)
        .filter(|&e| e <= len)?;
    let payload = bytes.get(key_end..len)?;
    let valid_kind = match kind {
        KIND_SET => true,
        KIND_DELETE => payload.is_empty(),
        KIND_ACCESS => payload.len() == ACCESS_PAYLOAD_LEN,
        _ => false,
    };
    if !valid_kind || flags & !FLAG_COMMIT != 0 {
        return None;
    }
    let rec = Record {
        generation: word(8)?,
        seq: word(16)?,
        kind,
        flags,
        key: bytes.get(RECORD_HEADER_LEN..key_end)?,
        payload,
    };
    Some((rec, len.next_multiple_of(8)))
}

/// The records of generation `generation` in `log` (the bytes from [`WAL_HEADER_LEN`] on), in order,
/// with consecutive sequence numbers from 0, ending at the last record that commits a block.
///
/// Returns them with their offsets (relative to `log`) and the length of the log they cover.
/// A trailing block with no commit record (a writer died inside it) is left out.
pub(crate) fn scan(log: &[u8], generation: u64) -> (Vec<(usize, Record<'_>)>, usize) {
    scan_from(log, generation, 0, 0)
}

/// [`scan`] from offset `start`, where the record with sequence number `first_seq` begins
/// (the end of an earlier scan of the same generation). The length returned is from the start
/// of `log`, and is `start` if no whole block follows.
pub(crate) fn scan_from(
    log: &[u8],
    generation: u64,
    start: usize,
    first_seq: u64,
) -> (Vec<(usize, Record<'_>)>, usize) {
    let mut records = Vec::new();
    let (mut pos, mut committed_len, mut committed_count) = (start, start, 0usize);
    // The generation and sequence number are read before the crc32 is computed: past the end
    // lie older generations' bytes, whose length field may be anything up to the log's size.
    let expected = |bytes: &[u8], seq: u64| {
        let word = |at: usize| bytes.get(at..at + 8).map(|w| w.try_into().ok());
        word(8) == Some(Some(generation.to_le_bytes())) && word(16) == Some(Some(seq.to_le_bytes()))
    };
    while let Some((rec, len)) = log
        .get(pos..)
        .filter(|bytes| expected(bytes, first_seq + records.len() as u64))
        .and_then(decode_record)
    {
        // A record whose padding runs past `log` is not whole (only a truncated copy of the
        // log can end mid-padding): stopping keeps the covered length within `log`.
        if rec.generation != generation
            || rec.seq != first_seq + records.len() as u64
            || pos + len > log.len()
        {
            break;
        }
        records.push((pos, rec));
        pos += len;
        if rec.commits() {
            committed_len = pos;
            committed_count = records.len();
        }
    }
    records.truncate(committed_count);
    (records, committed_len)
}

/// The log file: its handle for `pwrite`.
#[derive(Debug)]
pub(crate) struct WalFile {
    file: File,
}

impl WalFile {
    /// Opens (creating if needed, never truncating) `cache.wal` in `dir` and makes sure it
    /// has its fixed size.
    pub(crate) fn open(dir: &Path) -> Result<WalFile> {
        let file = crate::files::open_shared(&dir.join(WAL_FILE))?;
        if file.metadata()?.len() < WAL_SIZE {
            file.set_len(WAL_SIZE)?;
        }
        Ok(WalFile { file })
    }

    /// The file, to map.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Reads the header's generation; `None` if the header has not been written yet (or is
    /// damaged, which is treated the same: the log is empty).
    pub(crate) fn read_gen(&self) -> Result<Option<u64>> {
        let mut header = [0u8; 16];
        self.file.read_exact_at(&mut header, 0)?;
        let (magic, generation) = header.split_at(8);
        if magic != WAL_MAGIC {
            return Ok(None);
        }
        Ok(Some(u64::from_le_bytes(
            generation.try_into().unwrap_or_default(),
        )))
    }

    /// Writes the header with generation `generation`.
    pub(crate) fn write_gen(&self, generation: u64) -> Result<()> {
        let mut header = [0u8; 16];
        let (magic, g) = header.split_at_mut(8);
        magic.copy_from_slice(&WAL_MAGIC);
        g.copy_from_slice(&generation.to_le_bytes());
        crate::fault::check(crate::fault::Point::WalWrite)?;
        self.file.write_all_at(&header, 0)?;
        Ok(())
    }

    /// Where the file's data ends from `from` on: the offset of the first hole at or after
    /// `from` (`lseek(SEEK_HOLE)`), or [`WAL_SIZE`] if that cannot be told. The log is
    /// sparse; on tmpfs, *reading* a hole through the mapping allocates a page, and on a full
    /// file system that fails with SIGBUS (found by tests/full_disk.rs: the recovery scan
    /// read past the last record, or through a record whose `pwrite` was cut short). Records
    /// are written contiguously from the header on, so no committed record lies past it.
    pub(crate) fn data_end(&self, from: u64) -> u64 {
        use std::os::fd::AsRawFd;
        let Ok(from) = libc::off_t::try_from(from) else {
            return WAL_SIZE;
        };
        // SAFETY: `lseek` on a descriptor owned by a live `File`; it only moves the
        // description's offset, which nothing here uses (every read and write is positioned).
        #[allow(unsafe_code)]
        let end = unsafe { libc::lseek(self.file.as_raw_fd(), from, libc::SEEK_HOLE) };
        u64::try_from(end).map_or(WAL_SIZE, |end| end.min(WAL_SIZE))
    }

    /// Writes records at `offset` (from the start of the file) with `pwrite`.
    pub(crate) fn write_at(&self, offset: u64, bytes: &[u8]) -> Result<()> {
        crate::fault::check(crate::fault::Point::WalWrite)?;
        self.file.write_all_at(bytes, offset)?;
        Ok(())
    }

    /// `fdatasync`s the log (the `Sync` durability level).
    pub(crate) fn sync(&self) -> Result<()> {
        crate::fault::check(crate::fault::Point::WalSync)?;
        self.file.sync_data()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rec<'a>(seq: u64, key: &'a [u8], payload: &'a [u8], commit: bool) -> Record<'a> {
        Record {
            generation: 7,
            seq,
            kind: if payload.is_empty() {
                KIND_DELETE
            } else {
                KIND_SET
            },
            flags: if commit { FLAG_COMMIT } else { 0 },
            key,
            payload,
        }
    }

    #[test]
    fn records_round_trip_and_pad_to_eight() {
        let mut buf = Vec::new();
        let r = rec(0, b"key", b"payload", true);
        encode_record(&mut buf, &r).unwrap();
        assert_eq!(buf.len() % 8, 0);
        assert_eq!(buf.len(), padded_len(3, 7));
        assert_eq!(decode_record(&buf), Some((r, buf.len())));
    }

    #[test]
    fn scan_stops_at_a_torn_record_another_generation_or_a_gap() {
        let mut log = Vec::new();
        for i in 0..3 {
            encode_record(&mut log, &rec(i, b"k", b"v", true)).unwrap();
        }
        let whole = log.len();
        encode_record(&mut log, &rec(3, b"k", b"v", true)).unwrap();
        log[whole + RECORD_HEADER_LEN] ^= 1; // the fourth record's key byte

        let (records, len) = scan(&log, 7);
        assert_eq!((records.len(), len), (3, whole));
        assert_eq!(scan(&log, 8).0.len(), 0);

        let mut gap = Vec::new();
        encode_record(&mut gap, &rec(0, b"k", b"v", true)).unwrap();
        encode_record(&mut gap, &rec(2, b"k", b"v", true)).unwrap();
        assert_eq!(scan(&gap, 7).0.len(), 1);
    }

    /// Found by the `wal` fuzz target: a last record cut off inside its padding made `scan`
    /// report a covered length past the end of the log.
    #[test]
    fn scan_never_covers_more_than_the_log() {
        let mut log = Vec::new();
        encode_record(&mut log, &rec(0, b"a", b"1", true)).unwrap();
        let first = log.len();
        encode_record(&mut log, &rec(1, b"k", b"vv", true)).unwrap();
        log.truncate(log.len() - 1);
        let (records, len) = scan(&log, 7);
        assert_eq!((records.len(), len), (1, first));
    }

    #[test]
    fn scan_drops_a_trailing_block_with_no_commit_record() {
        let mut log = Vec::new();
        encode_record(&mut log, &rec(0, b"a", b"1", true)).unwrap();
        let committed = log.len();
        encode_record(&mut log, &rec(1, b"b", b"2", false)).unwrap();
        encode_record(&mut log, &rec(2, b"c", b"3", false)).unwrap();
        let (records, len) = scan(&log, 7);
        assert_eq!((records.len(), len), (1, committed));
        encode_record(&mut log, &rec(3, b"d", b"", true)).unwrap();
        assert_eq!(scan(&log, 7).0.len(), 4);
    }

    proptest! {
        #[test]
        fn any_record_round_trips(
            seq: u64, key in proptest::collection::vec(any::<u8>(), 0..64),
            payload in proptest::collection::vec(any::<u8>(), 1..300), commit: bool,
        ) {
            let r = rec(seq, &key, &payload, commit);
            let mut buf = Vec::new();
            encode_record(&mut buf, &r).unwrap();
            prop_assert_eq!(decode_record(&buf), Some((r, buf.len())));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_record(&bytes);
            let _ = scan(&bytes, 0);
        }
    }
}
