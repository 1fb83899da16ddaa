//! The row stored for each key: its times, tag, value kind, crc32 and the value or its file.
//!
//! Layout (little-endian; `format-spec/rows.md` is the authority):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | row format version, [`ROW_VERSION`] |
//! | 1 | 1 | flags: bit 0 value in a file, bit 1 value packed by the cache's `Disk`, bit 2 the row holds its whole key, bits 3–7 zero |
//! | 2 | 1 | value kind ([`ValueKind`] byte) |
//! | 3 | 1 | reserved, zero |
//! | 4 | 4 | crc32 (IEEE) of the value's bytes |
//! | 8 | 8 | row id |
//! | 16 | 8 | store time, µs since the Unix epoch |
//! | 24 | 8 | expire time, µs since the Unix epoch; 0 = never |
//! | 32 | 8 | access time, µs since the Unix epoch |
//! | 40 | 8 | access count |
//! | 48 | 8 | value size in bytes |
//! | 56 | 4 | tag length T; 0 = no tag |
//! | 60 | T | tag, an encoded [`crate::Key`] |
//! | 60+T | 4 | flag bit 2 only: the whole key's length K (u32) |
//! | 64+T | K | flag bit 2 only: the whole encoded key (a long key's, `key/long.rs`) |
//! | after | rest | the value bytes (inline) or the value file's relative path (UTF-8) |

use crate::error::{Error, Result};
use crate::format::blob::BlobPath;
use crate::format::value::ValueKind;

/// The row format version written by this build.
pub(crate) const ROW_VERSION: u8 = 1;
/// Length of the fixed part of a row, before the tag.
pub(crate) const ROW_HEADER_LEN: usize = 60;
/// What `volume()` counts per entry besides its key, tag and value: the database's measured
/// cost of a row with its insertion and policy order entries (`format-spec/volume.md`).
pub(crate) const ROW_OVERHEAD: u64 = 128;
/// Flag bit: the value lives in a file.
const FLAG_FILE: u8 = 1;
/// Flag bit: the value's bytes were packed by the cache's `Disk` (unpack after the crc check).
const FLAG_PACKED: u8 = 2;
/// Flag bit: the row holds its whole key (a key longer than [`crate::MAX_KEY_BYTES`]
/// encoded, stored under an index key).
const FLAG_FULL_KEY: u8 = 4;

/// Where a row's value bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ValuePlace {
    /// In the row itself.
    Inline(Vec<u8>),
    /// In a value file under the cache directory.
    File(BlobPath),
}

/// One decoded row of the `entries` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Row {
    pub(crate) row_id: u64,
    pub(crate) store_time: u64,
    /// 0 means the entry never expires.
    pub(crate) expire_time: u64,
    pub(crate) access_time: u64,
    pub(crate) access_count: u64,
    pub(crate) kind: ValueKind,
    /// Whether the stored bytes were packed by the cache's `Disk`.
    pub(crate) packed: bool,
    pub(crate) size: u64,
    pub(crate) crc32: u32,
    /// The encoded tag key, if any.
    pub(crate) tag: Option<Vec<u8>>,
    /// The whole encoded key, held by the row of a key stored under an index key
    /// (`key/long.rs`); `None` for a key stored under its own encoding.
    pub(crate) full_key: Option<Vec<u8>>,
    pub(crate) place: ValuePlace,
}

impl Row {
    /// Whether the entry has expired at `now_us`.
    pub(crate) fn is_expired(&self, now_us: u64) -> bool {
        self.expire_time != 0 && self.expire_time <= now_us
    }

    /// The position in the expire order, (expire time, row id), of the row encoded as
    /// `bytes`, read without decoding the rest; `None` for a row that never expires or that
    /// does not decode.
    pub(crate) fn expiry_of_encoded(bytes: &[u8]) -> Option<(u64, u64)> {
        let word = |at: usize| {
            let w: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
            Some(u64::from_le_bytes(w))
        };
        if bytes.first() != Some(&ROW_VERSION) || bytes.len() < ROW_HEADER_LEN {
            let row = Row::decode(bytes).ok()?;
            return (row.expire_time != 0).then_some((row.expire_time, row.row_id));
        }
        let (row_id, expire_time) = (word(8)?, word(24)?);
        (expire_time != 0).then_some((expire_time, row_id))
    }

    /// The bytes this entry counts for in `volume()`: [`ROW_OVERHEAD`], the key (the whole
    /// key when the row holds it, else `key_len`, its index key's), the tag and the value
    /// (inline or in its file).
    pub(crate) fn volume(&self, key_len: usize) -> u64 {
        let key_len = self.full_key.as_ref().map_or(key_len, Vec::len);
        let tag_len = self.tag.as_ref().map_or(0, Vec::len);
        let variable = u64::try_from(key_len.saturating_add(tag_len)).unwrap_or(u64::MAX);
        ROW_OVERHEAD
            .saturating_add(variable)
            .saturating_add(self.size)
    }

    /// The value file, if the value lives in one.
    pub(crate) fn file(&self) -> Option<&BlobPath> {
        match &self.place {
            ValuePlace::File(path) => Some(path),
            ValuePlace::Inline(_) => None,
        }
    }

    /// Encodes the row as stored in the `entries` table.
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        let tag = self.tag.as_deref().unwrap_or_default();
        let tag_len = u32::try_from(tag.len())
            .map_err(|_| Error::InvalidArgument("the tag is too long".into()))?;
        let (mut flags, rest): (u8, &[u8]) = match &self.place {
            ValuePlace::Inline(bytes) => (0, bytes),
            ValuePlace::File(path) => (FLAG_FILE, path.as_str().as_bytes()),
        };
        if self.packed {
            flags |= FLAG_PACKED;
        }
        let full_key = match &self.full_key {
            Some(full) => {
                flags |= FLAG_FULL_KEY;
                let len = u32::try_from(full.len())
                    .map_err(|_| Error::InvalidArgument("the key is too long".into()))?;
                Some((len, full.as_slice()))
            }
            None => None,
        };
        let key_len = full_key.map_or(0, |(_, k)| 4 + k.len());
        let mut out = Vec::with_capacity(ROW_HEADER_LEN + tag.len() + key_len + rest.len());
        out.extend_from_slice(&[ROW_VERSION, flags, self.kind.as_byte(), 0]);
        out.extend_from_slice(&self.crc32.to_le_bytes());
        for word in [
            self.row_id,
            self.store_time,
            self.expire_time,
            self.access_time,
            self.access_count,
            self.size,
        ] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&tag_len.to_le_bytes());
        out.extend_from_slice(tag);
        if let Some((len, full)) = full_key {
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(full);
        }
        out.extend_from_slice(rest);
        Ok(out)
    }

    /// The dual of [`Row::encode`]. Any malformed input is [`Error::Corrupted`].
    pub(crate) fn decode(bytes: &[u8]) -> Result<Row> {
        let mut r = Reader { bytes, pos: 0 };
        let [version, flags, kind, _reserved] = r.array::<4>()?;
        if version != ROW_VERSION {
            return Err(corrupt(format!("unknown row version {version}")));
        }
        if flags & !(FLAG_FILE | FLAG_PACKED | FLAG_FULL_KEY) != 0 {
            return Err(corrupt(format!("unknown row flags {flags:#04x}")));
        }
        let kind = ValueKind::from_byte(kind)?;
        let crc32 = u32::from_le_bytes(r.array()?);
        let row_id = r.u64()?;
        let store_time = r.u64()?;
        let expire_time = r.u64()?;
        let access_time = r.u64()?;
        let access_count = r.u64()?;
        let size = r.u64()?;
        let tag_len = usize::try_from(u32::from_le_bytes(r.array()?))
            .map_err(|_| corrupt("tag length does not fit in memory".into()))?;
        let tag = r.take(tag_len)?;
        let tag = (tag_len > 0).then(|| tag.to_vec());
        let full_key = if flags & FLAG_FULL_KEY != 0 {
            let len = usize::try_from(u32::from_le_bytes(r.array()?))
                .map_err(|_| corrupt("key length does not fit in memory".into()))?;
            Some(r.take(len)?.to_vec())
        } else {
            None
        };
        let rest = r.rest();
        let place = if flags & FLAG_FILE != 0 {
            let path = std::str::from_utf8(rest)
                .map_err(|_| corrupt("value file path is not UTF-8".into()))?;
            ValuePlace::File(BlobPath::parse(path)?)
        } else {
            if u64::try_from(rest.len()).ok() != Some(size) {
                return Err(corrupt(format!(
                    "inline value has {} bytes, the row says {size}",
                    rest.len()
                )));
            }
            ValuePlace::Inline(rest.to_vec())
        };
        Ok(Row {
            row_id,
            store_time,
            expire_time,
            access_time,
            access_count,
            kind,
            packed: flags & FLAG_PACKED != 0,
            size,
            crc32,
            tag,
            full_key,
            place,
        })
    }
}

fn corrupt(msg: String) -> Error {
    Error::corrupted(format!("row: {msg}"))
}

/// A bounds-checked cursor over a row's bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

// Inlined, with the error built out of line: a checkpoint decodes every row it applies.
impl<'a> Reader<'a> {
    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end.and_then(|e| self.bytes.get(self.pos..e)) {
            Some(slice) => {
                self.pos += n;
                Ok(slice)
            }
            None => Err(self.truncated(n)),
        }
    }

    #[cold]
    #[inline(never)]
    fn truncated(&self, n: usize) -> Error {
        corrupt(format!(
            "truncated: needs {n} bytes at offset {}, has {}",
            self.pos,
            self.bytes.len()
        ))
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let slice = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    #[inline]
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(place: ValuePlace, tag: Option<Vec<u8>>) -> Row {
        let size = match &place {
            ValuePlace::Inline(b) => b.len() as u64,
            ValuePlace::File(_) => 1 << 20,
        };
        Row {
            row_id: 7,
            store_time: 1_700_000_000_000_000,
            expire_time: 0,
            access_time: 1_700_000_000_000_001,
            access_count: 3,
            kind: ValueKind::Bytes,
            packed: false,
            size,
            crc32: 0xDEAD_BEEF,
            tag,
            full_key: None,
            place,
        }
    }

    #[test]
    fn inline_and_file_rows_round_trip() {
        let inline = sample(
            ValuePlace::Inline(b"hello".to_vec()),
            Some(b"\x20tag".to_vec()),
        );
        assert_eq!(Row::decode(&inline.encode().unwrap()).unwrap(), inline);
        let path = BlobPath::parse("01/23/0123456789abcdef0123456789abcdef.val").unwrap();
        let file = sample(ValuePlace::File(path), None);
        assert_eq!(Row::decode(&file.encode().unwrap()).unwrap(), file);
        let mut long = inline.clone();
        long.full_key = Some(vec![0x30; 20_000]);
        let bytes = long.encode().unwrap();
        assert_eq!(bytes[1], FLAG_FULL_KEY);
        assert_eq!(&bytes[64..68], &20_000u32.to_le_bytes());
        assert_eq!(Row::decode(&bytes).unwrap(), long);
        assert_eq!(long.volume(16_404), inline.volume(20_000));
    }

    #[test]
    fn header_is_sixty_bytes_and_layout_is_pinned() {
        let row = sample(ValuePlace::Inline(Vec::new()), None);
        let bytes = row.encode().unwrap();
        assert_eq!(bytes.len(), ROW_HEADER_LEN);
        assert_eq!(bytes[0], ROW_VERSION);
        assert_eq!(bytes[2], ValueKind::Bytes.as_byte());
        assert_eq!(&bytes[4..8], &0xDEAD_BEEFu32.to_le_bytes());
        assert_eq!(&bytes[8..16], &7u64.to_le_bytes());
    }

    #[test]
    fn damaged_rows_are_corrupted_not_panics() {
        let good = sample(ValuePlace::Inline(b"abc".to_vec()), None)
            .encode()
            .unwrap();
        for cut in 0..good.len() {
            assert!(matches!(
                Row::decode(&good[..cut]),
                Err(Error::Corrupted(_))
            ));
        }
        let mut bad_version = good.clone();
        bad_version[0] = 9;
        assert!(matches!(
            Row::decode(&bad_version),
            Err(Error::Corrupted(_))
        ));
        let mut bad_flags = good.clone();
        bad_flags[1] = 0x08;
        assert!(matches!(Row::decode(&bad_flags), Err(Error::Corrupted(_))));
        let mut bad_kind = good;
        bad_kind[2] = 0;
        assert!(matches!(Row::decode(&bad_kind), Err(Error::Corrupted(_))));
    }

    proptest! {
        #[test]
        fn any_inline_row_round_trips(
            row_id: u64, store: u64, expire: u64, access: u64, count: u64, crc: u32,
            tag in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..40)),
            value in proptest::collection::vec(any::<u8>(), 0..200),
            full_key in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..60)),
        ) {
            let row = Row {
                row_id, store_time: store, expire_time: expire, access_time: access,
                access_count: count, kind: ValueKind::Serialized, packed: false,
                size: value.len() as u64,
                crc32: crc, tag, full_key, place: ValuePlace::Inline(value),
            };
            prop_assert_eq!(Row::decode(&row.encode().unwrap()).unwrap(), row);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = Row::decode(&bytes);
        }
    }
}
