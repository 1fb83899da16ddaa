//! A value on its way into a row ([`Prepared`]) or out of one ([`Fetched`]), and the checks
//! and conversions between them and what `Cache` returns.

use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::format::blob::WrittenBlob;
use crate::format::disk::Codec;
use crate::format::key::Key;
use crate::format::row::{Row, ValuePlace};
use crate::format::value::ValueKind;
use crate::time;

/// A value with its metadata, as `get_entry` and `pop_entry` return it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Entry<V> {
    /// The stored value.
    pub value: V,
    /// When the entry expires; `None` if never.
    pub expire_time: Option<SystemTime>,
    /// The entry's tag, if any.
    pub tag: Option<Key>,
}

impl<V> Entry<V> {
    /// The same entry with its value changed by `f`.
    pub fn map<U>(self, f: impl FnOnce(V) -> U) -> Entry<U> {
        Entry {
            value: f(self.value),
            expire_time: self.expire_time,
            tag: self.tag,
        }
    }
}

/// A value read back from its row: the bytes and the row they came from.
pub(crate) struct Fetched {
    pub(crate) row: Row,
    /// The value's bytes, unpacked.
    pub(crate) bytes: Vec<u8>,
    /// The cache's value encoding.
    pub(crate) codec: Codec,
}

impl Fetched {
    /// The value, decoded as a `V`.
    pub(crate) fn value<V: DeserializeOwned>(self) -> Result<V> {
        self.codec.decode(self.row.kind, self.bytes)
    }

    /// The value, decoded as a `V`, with its expire time and tag.
    pub(crate) fn entry<V: DeserializeOwned>(self) -> Result<Entry<V>> {
        entry_of(&self.row, self.bytes, &self.codec)
    }
}

/// A value ready to be stored: its bytes inline, or the file already written.
pub(crate) struct Prepared {
    pub(crate) kind: ValueKind,
    /// Whether the bytes were packed by the cache's `Disk`.
    pub(crate) packed: bool,
    pub(crate) place: Option<Vec<u8>>,
    pub(crate) blob: Option<WrittenBlob>,
    pub(crate) expire: Option<Duration>,
    pub(crate) tag: Option<Vec<u8>>,
}

impl Prepared {
    /// The row for this value, with row id `row_id` (an existing row's keeps its insertion
    /// place), stored and accessed at `now`.
    pub(crate) fn into_row(self, row_id: u64, now: u64) -> Result<Row> {
        let (place, size, crc32) = match (self.place, self.blob) {
            (_, Some(b)) => (ValuePlace::File(b.path), b.size, b.crc32),
            (Some(bytes), None) => {
                let crc = crc32fast::hash(&bytes);
                let size = bytes.len() as u64;
                (ValuePlace::Inline(bytes), size, crc)
            }
            (None, None) => return Err(Error::InvalidArgument("a value has no bytes".into())),
        };
        Ok(Row {
            row_id,
            store_time: now,
            expire_time: self.expire.map_or(0, |ttl| time::expire_at(now, ttl)),
            access_time: now,
            access_count: 0,
            kind: self.kind,
            packed: self.packed,
            size,
            crc32,
            tag: self.tag,
            full_key: None,
            place,
        })
    }
}

/// The encoding of a tag for its row (`None`: untagged); see [`Key::encode_tag`].
pub(crate) fn encode_tag(tag: Option<&Key>) -> Result<Option<Vec<u8>>> {
    tag.map(Key::encode_tag).transpose()
}

/// Checks `bytes`, the value read back for `key`, against `row`'s crc32: a mismatch is
/// [`Error::Corrupted`], naming the key and where the value lives.
pub(crate) fn check_crc(row: &Row, bytes: &[u8], key: &[u8]) -> Result<()> {
    let got = crc32fast::hash(bytes);
    if got == row.crc32 {
        return Ok(());
    }
    let place = match &row.place {
        ValuePlace::Inline(_) => "inline value".to_owned(),
        ValuePlace::File(p) => format!("value file {}", p.as_str()),
    };
    Err(Error::corrupted(format!(
        "{}: {place} fails its crc32, expected {:#010x}, got {got:#010x}",
        describe(key),
        row.crc32
    )))
}

/// A key for messages: its display form, or its length if it cannot be decoded.
pub(crate) fn describe(key: &[u8]) -> String {
    if crate::format::key::long::is_long(key) {
        return format!("key of {} bytes", key.len());
    }
    match Key::from_encoded(key) {
        Ok(k) => format!("key {k}"),
        Err(_) => format!("key of {} bytes", key.len()),
    }
}

/// The key whose row `row` is, stored under the index key `index`: the whole key the row
/// holds (a long key's), else the index key decoded.
pub(crate) fn key_of(index: &[u8], row: &Row) -> Result<Key> {
    crate::format::key::long::check_index(index, row.full_key.as_deref())?;
    Key::from_encoded(row.full_key.as_deref().unwrap_or(index))
}

/// The entry `row` and its unpacked value `bytes` make: the value decoded as a `V`.
pub(crate) fn entry_of<V: DeserializeOwned>(
    row: &Row,
    bytes: Vec<u8>,
    codec: &Codec,
) -> Result<Entry<V>> {
    let tag = row.tag.as_deref().map(Key::from_encoded).transpose()?;
    let expire_time = (row.expire_time != 0).then(|| time::from_us(row.expire_time));
    Ok(Entry {
        value: codec.decode(row.kind, bytes)?,
        expire_time,
        tag,
    })
}
