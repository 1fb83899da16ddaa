//! `cache.wal`: the shared write-ahead log of the logged write path.
//!
//! A fixed-size file (never truncated while mapped), mapped read-only by every process and
//! written only with `pwrite`. It holds two **lanes** of [`LANE_SIZE`] bytes, lane `l` from
//! offset `l × LANE_SIZE`: writers append to one while a checkpoint applies the other to the
//! database. Each lane starts with a header (little-endian; `format-spec/wal.md` is the
//! authority):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic [`WAL_MAGIC`] (anything else: the lane holds no generation) |
//! | 8 | 8 | generation: records of any other generation are not part of the lane's log |
//! | 16 | 48 | reserved, zero |
//! | 64 | … | records, each padded to a multiple of 8 bytes |
//!
//! A file whose first 8 bytes are [`LEGACY_WAL_MAGIC`] is the format with one log over the
//! whole file (the same header and records from offset 0 on), which recovery applies and
//! replaces.
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
//! | 25 | 1 | flags: bit 0 = last record of an atomic block; bits 1–7 zero |
//! | 26 | 2 | key length K |
//! | 28 | 4 | the least format version that can apply the record ([`RECORD_VERSION`], or [`LONG_KEY_RECORD_VERSION`] for a long key's index key; 0 = 1) |
//! | 32 | K | the encoded key |
//! | 32+K | L−32−K | set: the encoded row (`row.rs`); delete: nothing; access: 16 bytes |
//!
//! An access record (the eviction policy is least-recently- or least-frequently-used) says
//! the key was read: its payload is the latest access time (µs, u64) and the number of
//! accesses (u64). It changes no visible data and is not indexed in `cache.shm`; a checkpoint
//! folds it into the key's row.
//!
//! Reading the log has two steps. [`frame`] finds a record: its length, crc32, generation and
//! sequence number hold, so it was written whole by a writer of the generation, and the next
//! record starts after its padding. [`Framed::parse`] then reads what it says: a record this
//! build applies, one of a newer format (refused, [`crate::Error::UnsupportedVersion`]), or a
//! damaged one, which [`scan_from`] leaves out with the rest of its block instead of ending
//! the log there.

use std::fs::File;
use std::path::Path;

use crate::platform::io::{read_exact_at, write_all_at};

use crate::error::{Error, Result};

/// File name of the log inside a cache directory.
pub(crate) const WAL_FILE: &str = "cache.wal";
/// The first 8 bytes of a lane that holds a generation.
pub(crate) const WAL_MAGIC: [u8; 8] = *b"DCWAL\0\0\x02";
/// The first 8 bytes of a log of the format with one log over the whole file.
pub(crate) const LEGACY_WAL_MAGIC: [u8; 8] = *b"DCWAL\0\0\x01";
/// Where records start, from the start of a lane.
pub(crate) const WAL_HEADER_LEN: u64 = 64;
/// Bytes of a record before its key.
pub(crate) const RECORD_HEADER_LEN: usize = 32;
/// The log's fixed size. Created sparse: only the bytes written take disk space.
pub(crate) const WAL_SIZE: u64 = 64 << 20;
/// The size of each of the two lanes.
pub(crate) const LANE_SIZE: u64 = WAL_SIZE / 2;

/// Where `lane` starts in the file.
pub(crate) fn lane_start(lane: crate::engine::log::shm::Lane) -> u64 {
    (lane as u64 & 1) * LANE_SIZE
}

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

/// Where a record holds the least format version that can apply it (u32).
const VERSION_AT: usize = 28;
/// The format version this build's records need, written at [`VERSION_AT`], unless the
/// record's key is a long key's index key ([`LONG_KEY_RECORD_VERSION`]). A record that needs
/// a version above [`crate::format::schema::FORMAT_VERSION`] is refused, never applied or skipped; 0
/// (written by builds before the field was defined) means 1.
pub(crate) const RECORD_VERSION: u32 = 1;
/// The format version a record under a long key's index key needs (`key/long.rs`): builds
/// of version 1 refuse it instead of taking it for damage.
pub(crate) const LONG_KEY_RECORD_VERSION: u32 = 2;

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
    let version = if crate::key::long::is_long(rec.key) {
        LONG_KEY_RECORD_VERSION
    } else {
        RECORD_VERSION
    };
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(rec.key);
    out.extend_from_slice(rec.payload);
    let crc = crc32fast::hash(out.get(start + 8..).unwrap_or_default());
    if let Some(slot) = out.get_mut(start + 4..start + 8) {
        slot.copy_from_slice(&crc.to_le_bytes());
    }
    out.resize(start + len.next_multiple_of(8), 0);
    Ok(())
}

/// A whole record as its framing shows it: its length fits, its crc32 matches. Its other
/// fields are not read yet ([`Framed::parse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Framed<'a> {
    /// The record's bytes, before padding.
    pub(crate) bytes: &'a [u8],
    /// Its length once padded: where the next record starts.
    pub(crate) padded: usize,
}

/// What a framed record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed<'a> {
    /// A record this build reads.
    Record(Record<'a>),
    /// A record that needs this format version, newer than this build's.
    Newer(u32),
    /// A record no writer of this format writes: why. Its framing (length, crc32, generation,
    /// sequence number, and flag bit 0) still holds.
    Damaged(String),
}

/// Finds the record at the start of `bytes`: `None` unless its length field is at least
/// [`RECORD_HEADER_LEN`] and fits `bytes`, and the crc32 of bytes 8 … L−1 matches (the end of
/// the log, a torn write, or another generation's bytes).
pub(crate) fn frame(bytes: &[u8]) -> Option<Framed<'_>> {
    let len = u32::from_le_bytes(bytes.get(0..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?);
    if len < RECORD_HEADER_LEN {
        return None;
    }
    let body = bytes.get(8..len)?;
    if crc32fast::hash(body) != crc {
        return None;
    }
    Some(Framed {
        bytes: bytes.get(..len)?,
        padded: len.next_multiple_of(8),
    })
}

impl<'a> Framed<'a> {
    fn word(&self, at: usize) -> u64 {
        self.bytes
            .get(at..at + 8)
            .and_then(|w| w.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    }

    /// The generation field.
    pub(crate) fn generation(&self) -> u64 {
        self.word(8)
    }

    /// The sequence number field.
    pub(crate) fn seq(&self) -> u64 {
        self.word(16)
    }

    /// Whether flag bit 0 is set: the record ends its block, whatever else it holds.
    pub(crate) fn commits(&self) -> bool {
        self.bytes.get(25).is_some_and(|f| f & FLAG_COMMIT != 0)
    }

    /// The least format version that can apply the record (a stored 0 is 1).
    pub(crate) fn version(&self) -> u32 {
        self.bytes
            .get(VERSION_AT..VERSION_AT + 4)
            .and_then(|w| w.try_into().ok())
            .map_or(0, u32::from_le_bytes)
            .max(1)
    }

    /// Reads the record's header fields: its version, kind, flags, key length and payload
    /// length. Neither the key nor a set's row is decoded ([`Framed::parse`] does).
    pub(crate) fn parse_header(&self) -> Parsed<'a> {
        let version = self.version();
        if u64::from(version) > crate::format::schema::FORMAT_VERSION {
            if crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::NewerRecordSkipped)
            {
                // Negative control (`sabotage`): a newer format's record taken for damage.
                return Parsed::Damaged(format!("format version {version}"));
            }
            return Parsed::Newer(version);
        }
        let bytes = self.bytes;
        let (kind, flags) = (
            bytes.get(24).copied().unwrap_or(0),
            bytes.get(25).copied().unwrap_or(0),
        );
        let key_len = bytes
            .get(26..28)
            .and_then(|w| w.try_into().ok())
            .map_or(0, u16::from_le_bytes) as usize;
        let Some((key, payload)) = bytes
            .get(RECORD_HEADER_LEN..)
            .and_then(|rest| rest.split_at_checked(key_len))
        else {
            return Parsed::Damaged(format!(
                "its key length {key_len} runs past its end ({} bytes)",
                bytes.len()
            ));
        };
        if flags & !FLAG_COMMIT != 0 {
            return Parsed::Damaged(format!("unknown flags {flags:#04x}"));
        }
        let payload_ok = match kind {
            KIND_SET => true,
            KIND_DELETE => payload.is_empty(),
            KIND_ACCESS => payload.len() == ACCESS_PAYLOAD_LEN,
            _ => return Parsed::Damaged(format!("unknown kind {kind}")),
        };
        if !payload_ok {
            return Parsed::Damaged(format!(
                "a payload of {} bytes for its kind {kind}",
                payload.len()
            ));
        }
        Parsed::Record(Record {
            generation: self.generation(),
            seq: self.seq(),
            kind,
            flags,
            key,
            payload,
        })
    }

    /// [`Framed::parse_header`], then the key must decode ([keys.md]) and a set's row must
    /// decode ([rows.md]), as the database would hold them.
    pub(crate) fn parse(&self) -> Parsed<'a> {
        let rec = match self.parse_header() {
            Parsed::Record(rec) => rec,
            other => return other,
        };
        use crate::key::long;
        if rec.kind == KIND_SET {
            let row = match crate::format::row::Row::decode(rec.payload) {
                Ok(row) => row,
                Err(e) => return Parsed::Damaged(format!("its row does not decode: {e}")),
            };
            if let Err(e) = long::check_index(rec.key, row.full_key.as_deref()) {
                return Parsed::Damaged(format!("its key does not match its row: {e}"));
            }
        } else if long::is_long(rec.key)
            && let Err(e) = long::counter_of(rec.key)
        {
            return Parsed::Damaged(format!("its key is not an index key: {e}"));
        }
        if !long::is_long(rec.key)
            && let Err(e) = crate::key::Key::from_encoded(rec.key)
        {
            return Parsed::Damaged(format!("its key does not decode: {e}"));
        }
        Parsed::Record(rec)
    }
}

/// A record of a committed block that is not applied, because it or another record of its
/// block is damaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Skipped<'a> {
    /// Where it starts, from the start of the scanned bytes.
    pub(crate) offset: usize,
    pub(crate) generation: u64,
    pub(crate) seq: u64,
    /// The record's bytes, before padding.
    pub(crate) bytes: &'a [u8],
    /// This record's damage; `None` if it is whole and skipped with its block.
    pub(crate) damage: Option<String>,
}

/// What a scan of the log found.
#[derive(Debug, Default)]
pub(crate) struct Scan<'a> {
    /// The records to apply, with their offsets: those of committed blocks with no damaged
    /// record, in log order.
    pub(crate) records: Vec<(usize, Record<'a>)>,
    /// The records of committed blocks that hold a damaged record, in log order.
    pub(crate) skipped: Vec<Skipped<'a>>,
    /// Where the last committed block ends.
    pub(crate) len: usize,
    /// How many records the committed blocks hold (applied and skipped).
    pub(crate) count: u64,
}

/// The records of generation `generation` in `log` (the bytes from [`WAL_HEADER_LEN`] on):
/// [`scan_from`] from its start.
pub(crate) fn scan(log: &[u8], generation: u64) -> Result<Scan<'_>> {
    scan_from(log, generation, 0, 0)
}

/// The valid log of generation `generation` from offset `start` of `log`, where the record
/// with sequence number `first_seq` begins (the end of an earlier scan of the same
/// generation): records are read while each is framed ([`frame`]), of the generation, and
/// numbered on from `first_seq` without a gap; the log is the blocks up to the last record
/// with flag bit 0 (a trailing block with no such record was cut short by its writer's death,
/// and is left out). A block holding a damaged record ([`Parsed::Damaged`]) is skipped whole,
/// so that no block is half applied; the records after it are read on. The length returned
/// is from the start of `log`, and is `start` if no whole block follows.
///
/// # Errors
/// [`Error::UnsupportedVersion`] if a record of the generation needs a newer format version.
pub(crate) fn scan_from(
    log: &[u8],
    generation: u64,
    start: usize,
    first_seq: u64,
) -> Result<Scan<'_>> {
    let mut out = Scan {
        len: start,
        ..Scan::default()
    };
    let (mut pos, mut seq) = (start, first_seq);
    // The records of the block being read, each with its damage if any.
    let mut block: Vec<(usize, Framed<'_>, std::result::Result<Record<'_>, String>)> = Vec::new();
    // The generation and sequence number are read before the crc32 is computed: past the end
    // lie older generations' bytes, whose length field may be anything up to the log's size.
    let expected = |bytes: &[u8], seq: u64| {
        let word = |at: usize| bytes.get(at..at + 8).map(|w| w.try_into().ok());
        word(8) == Some(Some(generation.to_le_bytes())) && word(16) == Some(Some(seq.to_le_bytes()))
    };
    while let Some(framed) = log
        .get(pos..)
        .filter(|bytes| expected(bytes, seq))
        .and_then(frame)
    {
        // A record whose padding runs past `log` is not whole (only a truncated copy of the
        // log can end mid-padding): stopping keeps the covered length within `log`.
        if pos + framed.padded > log.len() {
            break;
        }
        let parsed = match framed.parse() {
            Parsed::Record(rec) => Ok(rec),
            Parsed::Newer(version) => {
                return Err(Error::UnsupportedVersion {
                    found: u64::from(version),
                    supported: crate::format::schema::FORMAT_VERSION,
                });
            }
            Parsed::Damaged(_)
                if crate::testing::sabotage::on(
                    crate::testing::sabotage::Sabotage::DamagedRecordEndsLog,
                ) =>
            {
                // Negative control (`sabotage`): a damaged record ends the log, as a torn
                // one does.
                break;
            }
            Parsed::Damaged(why) => Err(why),
        };
        block.push((pos, framed, parsed));
        pos += framed.padded;
        seq += 1;
        if framed.commits() {
            let damaged = block.iter().any(|(_, _, parsed)| parsed.is_err());
            out.count += block.len() as u64;
            for (offset, framed, parsed) in block.drain(..) {
                match parsed {
                    Ok(rec) if !damaged => out.records.push((offset, rec)),
                    parsed => out.skipped.push(Skipped {
                        offset,
                        generation,
                        seq: framed.seq(),
                        bytes: framed.bytes,
                        damage: parsed.err(),
                    }),
                }
            }
            out.len = pos;
        }
    }
    Ok(out)
}

/// Whether the log in `dir` holds records to apply (or left out with a damaged block): read
/// with plain reads, no mapping and no lock, for a platform without the logged write path,
/// which must not open a cache whose log still holds writes. `false` if there is no log, or
/// it has no valid header (which recovery takes for an empty log too).
///
/// # Errors
/// [`Error::Io`]; [`Error::UnsupportedVersion`] if a record needs a newer format.
pub(crate) fn holds_records(dir: &Path) -> Result<bool> {
    let file = match File::open(dir.join(WAL_FILE)) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let len = file.metadata()?.len().min(WAL_SIZE);
    let mut log = vec![0u8; usize::try_from(len).unwrap_or_default()];
    read_exact_at(&file, &mut log, 0)?;
    let legacy = log.get(..8) == Some(&LEGACY_WAL_MAGIC[..]);
    let lanes: &[(u64, u64)] = if legacy {
        &[(0, WAL_SIZE)]
    } else {
        &[(0, LANE_SIZE), (LANE_SIZE, WAL_SIZE)]
    };
    for &(start, end) in lanes {
        let start = usize::try_from(start).unwrap_or(usize::MAX);
        let end = usize::try_from(end).unwrap_or(usize::MAX).min(log.len());
        let Some(lane) = log.get(start..end) else {
            continue;
        };
        let magic_ok = lane.get(..8)
            == Some(if legacy {
                &LEGACY_WAL_MAGIC[..]
            } else {
                &WAL_MAGIC[..]
            });
        let Some(generation) = lane
            .get(8..16)
            .and_then(|w| w.try_into().ok())
            .map(u64::from_le_bytes)
            .filter(|_| magic_ok)
        else {
            continue;
        };
        let found = scan(
            lane.get(WAL_HEADER_LEN as usize..).unwrap_or_default(),
            generation,
        )?;
        if !found.records.is_empty() || !found.skipped.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
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

    /// Reads `lane`'s header: its generation, `None` if it holds none (never written,
    /// emptied by a checkpoint, or damaged, which is treated the same: the lane is empty).
    pub(crate) fn read_gen(&self, lane: crate::engine::log::shm::Lane) -> Result<Option<u64>> {
        self.read_header(lane_start(lane), &WAL_MAGIC)
    }

    /// The generation of a log of the format with one log over the whole file, if the file
    /// is one.
    pub(crate) fn read_legacy_gen(&self) -> Result<Option<u64>> {
        self.read_header(0, &LEGACY_WAL_MAGIC)
    }

    fn read_header(&self, at: u64, want: &[u8; 8]) -> Result<Option<u64>> {
        let mut header = [0u8; 16];
        read_exact_at(&self.file, &mut header, at)?;
        let (magic, generation) = header.split_at(8);
        if magic != want {
            return Ok(None);
        }
        Ok(Some(u64::from_le_bytes(
            generation.try_into().unwrap_or_default(),
        )))
    }

    /// Writes `lane`'s header with generation `generation`, or (`None`) one that holds no
    /// generation.
    pub(crate) fn write_gen(
        &self,
        lane: crate::engine::log::shm::Lane,
        generation: Option<u64>,
    ) -> Result<()> {
        let mut header = [0u8; 16];
        if let Some(generation) = generation {
            let (magic, g) = header.split_at_mut(8);
            magic.copy_from_slice(&WAL_MAGIC);
            g.copy_from_slice(&generation.to_le_bytes());
        }
        self.write_at(lane_start(lane), &header)
    }

    /// Where the file's data ends from `from` on: the offset of the first hole at or after
    /// `from` (`lseek(SEEK_HOLE)`, `platform::io::data_end`), or [`WAL_SIZE`] if that cannot
    /// be told. The log is sparse; on tmpfs, *reading* a hole through the mapping allocates a
    /// page, and on a full file system that fails with SIGBUS, so the recovery scan stops at
    /// the first hole rather than read past the last record or through a record whose `pwrite`
    /// was cut short (tests/process_wide/full_disk.rs fills a tmpfs through the logged path
    /// and reopens the cache). Records are written contiguously from the header on, so no
    /// committed record lies past it.
    pub(crate) fn data_end(&self, from: u64) -> u64 {
        crate::platform::io::data_end(&self.file, from).map_or(WAL_SIZE, |end| end.min(WAL_SIZE))
    }

    /// Writes records at `offset` (from the start of the file) with `pwrite`.
    pub(crate) fn write_at(&self, offset: u64, bytes: &[u8]) -> Result<()> {
        crate::testing::fault::check(crate::testing::fault::Point::WalWrite)?;
        write_all_at(&self.file, bytes, offset)?;
        crate::testing::recorder::write_file(&self.file, offset, bytes);
        Ok(())
    }

    /// `fdatasync`s the log (the `Sync` durability level).
    pub(crate) fn sync(&self) -> Result<()> {
        crate::testing::fault::check(crate::testing::fault::Point::WalSync)?;
        self.file.sync_data()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A row of `value`, encoded, as set records carry.
    fn row(value: &[u8]) -> Vec<u8> {
        crate::format::row::Row {
            row_id: 1,
            store_time: 1,
            expire_time: 0,
            access_time: 1,
            access_count: 0,
            kind: crate::format::value::ValueKind::Bytes,
            packed: false,
            size: value.len() as u64,
            crc32: crc32fast::hash(value),
            tag: None,
            full_key: None,
            place: crate::format::row::ValuePlace::Inline(value.to_vec()),
        }
        .encode()
        .unwrap()
    }

    /// The key `"k"` (text), encoded.
    const KEY: &[u8] = b"\x20k";

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

    fn decode(bytes: &[u8]) -> Option<(Parsed<'_>, usize)> {
        frame(bytes).map(|f| (f.parse(), f.padded))
    }

    /// Sets the byte at `at` of the record starting at `start` to `value`, and its crc32
    /// again: the record stays framed.
    fn edit(log: &mut [u8], start: usize, at: usize, value: u8) {
        log[start + at] = value;
        let len = u32::from_le_bytes(log[start..start + 4].try_into().unwrap()) as usize;
        let crc = crc32fast::hash(&log[start + 8..start + len]);
        log[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    }

    #[test]
    fn records_round_trip_and_pad_to_eight() {
        let mut buf = Vec::new();
        let payload = row(b"payload");
        let r = rec(0, KEY, &payload, true);
        encode_record(&mut buf, &r).unwrap();
        assert_eq!(buf.len() % 8, 0);
        assert_eq!(buf.len(), padded_len(2, payload.len()));
        assert_eq!(decode(&buf), Some((Parsed::Record(r), buf.len())));
        assert_eq!(&buf[28..32], &RECORD_VERSION.to_le_bytes());
    }

    #[test]
    fn scan_stops_at_a_torn_record_another_generation_or_a_gap() {
        let payload = row(b"v");
        let mut log = Vec::new();
        for i in 0..3 {
            encode_record(&mut log, &rec(i, KEY, &payload, true)).unwrap();
        }
        let whole = log.len();
        encode_record(&mut log, &rec(3, KEY, &payload, true)).unwrap();
        log[whole + RECORD_HEADER_LEN] ^= 1; // the fourth record's key byte, crc not redone

        let found = scan(&log, 7).unwrap();
        assert_eq!((found.records.len(), found.len, found.count), (3, whole, 3));
        assert_eq!(scan(&log, 8).unwrap().records.len(), 0);

        let mut gap = Vec::new();
        encode_record(&mut gap, &rec(0, KEY, &payload, true)).unwrap();
        encode_record(&mut gap, &rec(2, KEY, &payload, true)).unwrap();
        assert_eq!(scan(&gap, 7).unwrap().records.len(), 1);
    }

    /// A last record cut off inside its padding does not make `scan` report a covered length
    /// past the end of the log (the `wal` fuzz target explores the same inputs).
    #[test]
    fn scan_never_covers_more_than_the_log() {
        let mut log = Vec::new();
        encode_record(&mut log, &rec(0, KEY, &row(b"1"), true)).unwrap();
        let first = log.len();
        encode_record(&mut log, &rec(1, KEY, &row(b"22"), true)).unwrap();
        log.truncate(log.len() - 1);
        let found = scan(&log, 7).unwrap();
        assert_eq!((found.records.len(), found.len), (1, first));
    }

    #[test]
    fn scan_drops_a_trailing_block_with_no_commit_record() {
        let mut log = Vec::new();
        encode_record(&mut log, &rec(0, KEY, &row(b"1"), true)).unwrap();
        let committed = log.len();
        encode_record(&mut log, &rec(1, KEY, &row(b"2"), false)).unwrap();
        encode_record(&mut log, &rec(2, KEY, &row(b"3"), false)).unwrap();
        let found = scan(&log, 7).unwrap();
        assert_eq!((found.records.len(), found.len), (1, committed));
        encode_record(&mut log, &rec(3, KEY, b"", true)).unwrap();
        assert_eq!(scan(&log, 7).unwrap().records.len(), 4);
    }

    /// Three blocks: `[0]`, `[1, 2]`, `[3]`; returns the log and where each record starts.
    fn three_blocks() -> (Vec<u8>, Vec<usize>) {
        let mut log = Vec::new();
        let mut starts = Vec::new();
        for (seq, commit) in [(0, true), (1, false), (2, true), (3, true)] {
            starts.push(log.len());
            let value = [b'a' + seq as u8];
            encode_record(&mut log, &rec(seq, KEY, &row(&value), commit)).unwrap();
        }
        (log, starts)
    }

    /// Each way a framed record can be damaged (a row version, kind or flag the row format
    /// does not have; a record kind or flag bit the log does not have; a key length past the
    /// record's end): the record's block is skipped whole, and the blocks after it are read.
    #[test]
    fn a_damaged_record_skips_its_block_and_the_log_goes_on() {
        let row_at = RECORD_HEADER_LEN + KEY.len();
        for (what, at, value) in [
            ("row version", row_at, 2),
            ("row kind", row_at + 2, 9),
            ("row flag bit 3", row_at + 1, 8),
            ("row flag bit 2 under a short key", row_at + 1, 4),
            ("record kind", 24, 9),
            ("record flag bit 2", 25, FLAG_COMMIT | 4),
            ("key length", 26, 200),
            ("key class", RECORD_HEADER_LEN, 0x77),
        ] {
            let (mut log, starts) = three_blocks();
            edit(&mut log, starts[2], at, value);
            let found = scan(&log, 7).unwrap();
            let seqs: Vec<u64> = found.records.iter().map(|(_, r)| r.seq).collect();
            assert_eq!(seqs, [0, 3], "{what}");
            assert_eq!((found.len, found.count), (log.len(), 4), "{what}");
            let skipped: Vec<(u64, bool)> = found
                .skipped
                .iter()
                .map(|s| (s.seq, s.damage.is_some()))
                .collect();
            assert_eq!(skipped, [(1, false), (2, true)], "{what}");
        }
    }

    /// Bytes 28–31 say which format version a record needs: 0 to this build's are read,
    /// anything newer is refused, naming both versions, wherever it lies in the generation's
    /// log.
    #[test]
    fn a_record_of_a_newer_format_is_refused_not_skipped() {
        let newest = crate::format::schema::FORMAT_VERSION as u8;
        for (at, version) in [(0, 0u8), (1, 1), (2, newest)] {
            let (mut log, starts) = three_blocks();
            edit(&mut log, starts[at], 28, version);
            assert_eq!(scan(&log, 7).unwrap().records.len(), 4);
        }
        let (mut log, starts) = three_blocks();
        edit(&mut log, starts[3], 28, newest + 1);
        match scan(&log, 7) {
            Err(Error::UnsupportedVersion { found, supported }) => {
                assert_eq!(
                    (found, supported),
                    (u64::from(newest) + 1, crate::format::schema::FORMAT_VERSION)
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            scan(&log, 8).is_ok(),
            "another generation's record is not read"
        );
    }

    /// A long key's records carry its index key and say version 2; a set's row must hold the
    /// whole key the index key was made from, and a delete's index key must be one.
    #[test]
    fn long_key_records_say_version_2_and_must_match_their_rows() {
        use crate::key::long::{index_key, long_hash};
        let whole = [&[0x30][..], &[9u8; crate::MAX_KEY_BYTES + 3][..]].concat();
        let index = index_key(&whole, &long_hash(&whole), 1);
        let mut row = crate::format::row::Row::decode(&row(b"v")).unwrap();
        row.full_key = Some(whole.clone());
        let payload = row.encode().unwrap();
        let mut log = Vec::new();
        encode_record(&mut log, &rec(0, &index, &payload, false)).unwrap();
        encode_record(&mut log, &rec(1, &index, &[], true)).unwrap();
        assert_eq!(u32::from_le_bytes(log[28..32].try_into().unwrap()), 2);
        let found = scan(&log, 7).unwrap();
        assert_eq!(found.records.len(), 2);
        assert!(found.skipped.is_empty());
        // The row of another key under this index key, or a delete of a counter out of
        // range, is damage.
        let mut other = row.clone();
        other.full_key = Some([&whole[..], &[1][..]].concat());
        let other = other.encode().unwrap();
        let beyond = index_key(&whole, &long_hash(&whole), 99);
        for (key, payload) in [(&index, &other[..]), (&beyond, &[][..])] {
            let mut log = Vec::new();
            encode_record(&mut log, &rec(0, key, payload, true)).unwrap();
            let found = scan(&log, 7).unwrap();
            assert!(found.records.is_empty());
            assert!(found.skipped[0].damage.is_some());
        }
    }

    /// Padding is not covered by the crc32 and says nothing: any bytes there are ignored.
    #[test]
    fn padding_is_ignored() {
        let (mut log, starts) = three_blocks();
        let len = u32::from_le_bytes(log[0..4].try_into().unwrap()) as usize;
        assert!(len < starts[1], "the first record is padded");
        for b in &mut log[len..starts[1]] {
            *b = 0x55;
        }
        assert_eq!(scan(&log, 7).unwrap().records.len(), 4);
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
            let framed = frame(&buf).unwrap();
            prop_assert_eq!(framed.padded, buf.len());
            prop_assert_eq!(framed.parse_header(), Parsed::Record(r));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Some(f) = frame(&bytes) {
                let _ = f.parse();
            }
            let _ = scan(&bytes, 0);
        }
    }
}
