//! The `Disk` this command opens caches with: the cache's own disk (the built-in encoding,
//! `JsonDisk` or `CompressedDisk`), except that a composite value reaches the command as the
//! raw bytes the disk wrote, whatever program stored it, so one read serves every value.

use serde::de::value::{Error as DeError, MapDeserializer};
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use diskcache::{CompressedDisk, DEFAULT_DISK, Disk, Error, JsonDisk, Result, ValueKind};

/// The disks a cache directory may record, in the order opening tries them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskKind {
    /// The built-in encoding: composites are postcard.
    Builtin,
    /// `JsonDisk`: composites are JSON, packed with zlib.
    Json,
    /// `CompressedDisk`: the built-in encoding, large values packed with zlib.
    Compressed,
}

impl DiskKind {
    /// Every kind, in the order opening tries them.
    pub const ALL: [DiskKind; 3] = [DiskKind::Builtin, DiskKind::Json, DiskKind::Compressed];

    /// The disk's name as the cache records it.
    pub fn name(self) -> &'static str {
        match self {
            DiskKind::Builtin => DEFAULT_DISK,
            DiskKind::Json => "json-zlib",
            DiskKind::Compressed => "zlib",
        }
    }
}

/// The built-in encoding as a `Disk` (postcard, nothing packed): the same bytes a cache
/// opened without a disk writes, under the same name.
#[derive(Debug)]
struct Builtin;

impl Disk for Builtin {
    fn name(&self) -> &str {
        DEFAULT_DISK
    }

    fn unpack(&self, _kind: ValueKind, _bytes: Vec<u8>) -> Result<Vec<u8>> {
        Err(Error::corrupted(
            "a packed value in a cache with no Disk to unpack it",
        ))
    }
}

/// A cache's disk whose `deserialize` hands over the raw bytes (see the module docs).
#[derive(Debug)]
pub struct RawDisk(Box<dyn Disk>);

impl RawDisk {
    /// The raw disk of `kind`; writes pack at zlib level 1 (Python's `JSONDisk` default)
    /// for JSON, 6 for `CompressedDisk`.
    pub fn new(kind: DiskKind) -> Result<RawDisk> {
        Ok(RawDisk(match kind {
            DiskKind::Builtin => Box::new(Builtin),
            DiskKind::Json => Box::new(JsonDisk::new(1)?),
            DiskKind::Compressed => Box::new(CompressedDisk::new(6)?),
        }))
    }
}

/// The one field of the map a [`RawDisk`] hands the reader of a serialized value.
const RAW_FIELD: &str = "serialized";

impl Disk for RawDisk {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn serialize(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>> {
        self.0.serialize(value)
    }

    fn deserialize(
        &self,
        bytes: &[u8],
        visit: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<()>,
    ) -> Result<()> {
        let map = MapDeserializer::<_, DeError>::new(std::iter::once((RAW_FIELD, bytes)));
        visit(&mut <dyn erased_serde::Deserializer>::erase(map))
    }

    fn pack(&self, kind: ValueKind, bytes: &[u8]) -> Result<Option<Vec<u8>>> {
        self.0.pack(kind, bytes)
    }

    fn unpack(&self, kind: ValueKind, bytes: Vec<u8>) -> Result<Vec<u8>> {
        self.0.unpack(kind, bytes)
    }
}

/// A value read through a [`RawDisk`], before its composite bytes are decoded.
#[derive(Debug)]
pub enum Fetched {
    /// A native integer.
    Int(i64),
    /// A native float.
    Float(f64),
    /// A native text.
    Text(String),
    /// A native byte string.
    Bytes(Vec<u8>),
    /// A composite value: the bytes its disk serialized.
    Raw(Vec<u8>),
}

impl<'de> Deserialize<'de> for Fetched {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Fetched, D::Error> {
        d.deserialize_any(FetchedVisitor)
    }
}

/// Natives arrive as themselves, composites as the [`RawDisk`]'s one-field map.
struct FetchedVisitor;

impl<'de> Visitor<'de> for FetchedVisitor {
    type Value = Fetched;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a stored value")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Fetched, E> {
        Ok(Fetched::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Fetched, E> {
        i64::try_from(v)
            .map(Fetched::Int)
            .map_err(|_| E::custom("an integer beyond i64"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Fetched, E> {
        Ok(Fetched::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Fetched, E> {
        Ok(Fetched::Text(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Fetched, E> {
        Ok(Fetched::Text(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> std::result::Result<Fetched, E> {
        Ok(Fetched::Bytes(v.to_vec()))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> std::result::Result<Fetched, E> {
        Ok(Fetched::Bytes(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Fetched, A::Error> {
        match map.next_key::<String>()? {
            Some(field) if field == RAW_FIELD => Ok(Fetched::Raw(map.next_value::<RawBytes>()?.0)),
            _ => Err(de::Error::custom("not a value handed over by RawDisk")),
        }
    }
}

/// Bytes deserialized from `visit_bytes`.
struct RawBytes(Vec<u8>);

impl<'de> Deserialize<'de> for RawBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<RawBytes, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawBytes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> std::result::Result<RawBytes, E> {
                Ok(RawBytes(v.to_vec()))
            }
        }
        d.deserialize_bytes(V)
    }
}
