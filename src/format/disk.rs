//! The pluggable `Disk`: how values that are not plain numbers, text or bytes become bytes and
//! back, and how stored bytes are packed (compressed) on their way to the database or a value
//! file. Python diskcache's `Disk.store` / `Disk.fetch` seams.
//!
//! Numbers, text and bytes are stored as themselves whatever the disk (so `incr` and tools
//! reading the format see them plainly); a disk serializes every other value, and may pack
//! text, bytes and serialized values. A packed value carries a row flag, so values stored by
//! `set_reader` (never packed) and packed ones live side by side. A cache records its disk's
//! [`Disk::name`] when it is created and refuses to open with a disk of another name.

use std::fmt;
use std::io::Write;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Detail, Error, Result};
use crate::format::value::{self, EncodedValue, ValueKind};

pub use crate::format::schema::DEFAULT_DISK;

/// How a cache turns values into stored bytes and back: Python diskcache's `Disk.store` /
/// `Disk.fetch` seams. Numbers, text and bytes are stored as themselves whatever the disk (so
/// `incr` and tools reading the format see them plainly); a disk serializes every other
/// value, and may pack (compress) text, bytes and serialized values. A cache records its
/// disk's [`Disk::name`] when it is created and refuses to open with a disk of another name.
///
/// Implement [`Disk::name`] and override what you need: the serialization of composite values
/// ([`Disk::serialize`] / [`Disk::deserialize`], postcard by default) and packing of stored
/// bytes ([`Disk::pack`] / [`Disk::unpack`], none by default). `examples/custom_disk.rs`
/// shows one.
pub trait Disk: Send + Sync + fmt::Debug + 'static {
    /// The name recorded in a cache this disk creates. Two disks that read each other's
    /// bytes may share a name; a cache refuses to open with a disk of another name.
    fn name(&self) -> &str;

    /// Serializes a value that is not a number, text or bytes. Default: postcard.
    ///
    /// # Errors
    /// [`Error::Codec`] if the value cannot be serialized.
    fn serialize(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>> {
        postcard::to_allocvec(value)
            .map_err(|e| Error::Codec(Detail::with_source(format!("postcard: {e}"), e)))
    }

    /// Runs `visit` on a deserializer over `bytes` (what [`Disk::serialize`] wrote), and
    /// checks that it used them all. Default: postcard.
    ///
    /// # Errors
    /// [`Error::Codec`] if the bytes do not decode as what `visit` asks for.
    fn deserialize(
        &self,
        bytes: &[u8],
        visit: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut de = postcard::Deserializer::from_bytes(bytes);
        visit(&mut <dyn erased_serde::Deserializer>::erase(&mut de))?;
        match de.finalize() {
            Ok([]) => Ok(()),
            Ok(rest) => Err(Error::codec(format!(
                "the stored value does not match the requested type ({} bytes left over)",
                rest.len()
            ))),
            Err(e) => Err(Error::codec(format!("postcard: {e}"))),
        }
    }

    /// Packs the stored bytes of a text, bytes or serialized value, or returns `None` to
    /// store them as they are. Default: `None`.
    ///
    /// # Errors
    /// [`Error::Codec`] if packing fails.
    fn pack(&self, kind: ValueKind, bytes: &[u8]) -> Result<Option<Vec<u8>>> {
        let _ = (kind, bytes);
        Ok(None)
    }

    /// The dual of [`Disk::pack`].
    ///
    /// # Errors
    /// [`Error::Corrupted`] if the bytes do not unpack.
    fn unpack(&self, kind: ValueKind, bytes: Vec<u8>) -> Result<Vec<u8>> {
        let _ = kind;
        Ok(bytes)
    }
}

/// The value encoding of one cache: the built-in one, or a [`Disk`].
#[derive(Clone, Debug, Default)]
pub(crate) struct Codec(Option<Arc<dyn Disk>>);

impl Codec {
    /// The codec of `disk` (`None`: the built-in encoding).
    pub(crate) fn new(disk: Option<Arc<dyn Disk>>) -> Codec {
        Codec(disk)
    }

    /// The name recorded in the cache.
    pub(crate) fn name(&self) -> &str {
        self.0.as_deref().map_or(DEFAULT_DISK, Disk::name)
    }

    /// Encodes `value`: numbers, text and bytes as themselves, anything else through the
    /// disk; then lets the disk pack text, bytes and serialized values. Returns the value
    /// and whether it was packed.
    pub(crate) fn encode<V: Serialize + ?Sized>(&self, value: &V) -> Result<(EncodedValue, bool)> {
        // The value's `Serialize` and the disk are the caller's code.
        crate::caller::run(|| self.encode_inner(value))
    }

    fn encode_inner<V: Serialize + ?Sized>(&self, value: &V) -> Result<(EncodedValue, bool)> {
        let Some(disk) = &self.0 else {
            return Ok((value::encode_value(value)?, false));
        };
        let mut encoded = match value::encode_native(value)? {
            Some(native) => native,
            None => EncodedValue {
                kind: ValueKind::Serialized,
                bytes: disk.serialize(&value)?,
            },
        };
        if !matches!(encoded.kind, ValueKind::Int | ValueKind::Float)
            && let Some(packed) = disk.pack(encoded.kind, &encoded.bytes)?
        {
            encoded.bytes = packed;
            return Ok((encoded, true));
        }
        Ok((encoded, false))
    }

    /// Unpacks the stored bytes of a value if they were packed.
    pub(crate) fn unpack(&self, kind: ValueKind, packed: bool, bytes: Vec<u8>) -> Result<Vec<u8>> {
        match (&self.0, packed) {
            (_, false) => Ok(bytes),
            (Some(disk), true) => crate::caller::run(|| disk.unpack(kind, bytes)),
            (None, true) => Err(Error::corrupted(
                "a packed value in a cache with no Disk to unpack it",
            )),
        }
    }

    /// Decodes unpacked bytes of `kind` as a `V`.
    pub(crate) fn decode<V: DeserializeOwned>(&self, kind: ValueKind, bytes: Vec<u8>) -> Result<V> {
        // The type's `Deserialize` and the disk are the caller's code.
        crate::caller::run(|| self.decode_inner(kind, bytes))
    }

    fn decode_inner<V: DeserializeOwned>(&self, kind: ValueKind, bytes: Vec<u8>) -> Result<V> {
        match (&self.0, kind) {
            (Some(disk), ValueKind::Serialized) => {
                let mut out = None;
                disk.deserialize(&bytes, &mut |de| {
                    let value = erased_serde::deserialize::<V>(de).map_err(|e| {
                        Error::codec(format!(
                            "stored a serialized value, asked for `{}`: {e}",
                            std::any::type_name::<V>()
                        ))
                    })?;
                    out = Some(value);
                    Ok(())
                })?;
                out.ok_or_else(|| Error::codec("the disk decoded nothing"))
            }
            _ => value::decode_value(kind, bytes),
        }
    }
}

/// Packs with zlib (RFC 1950) at `level`.
fn zlib_pack(level: u32, bytes: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(bytes.len() / 2),
        flate2::Compression::new(level),
    );
    encoder
        .write_all(bytes)
        .map_err(|e| Error::Codec(Detail::with_source(format!("zlib: {e}"), e)))?;
    encoder
        .finish()
        .map_err(|e| Error::Codec(Detail::with_source(format!("zlib: {e}"), e)))
}

/// The dual of [`zlib_pack`].
fn zlib_unpack(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut decoder = flate2::write::ZlibDecoder::new(Vec::with_capacity(bytes.len() * 3));
    decoder
        .write_all(bytes)
        .and_then(|()| decoder.finish())
        .map_err(|e| {
            Error::Corrupted(Detail::with_source(
                format!("a packed value does not unpack (zlib): {e}"),
                e,
            ))
        })
}

/// Checks a zlib level (0 to 9).
fn zlib_level(level: u32) -> Result<u32> {
    if level > 9 {
        return Err(Error::InvalidArgument(format!(
            "compress_level is 0 to 9, not {level}"
        )));
    }
    Ok(level)
}

/// Composite values as JSON (serde_json), packed with zlib: Python diskcache's `JSONDisk`.
/// A value stored by it reads in Python as `json.loads(zlib.decompress(raw))`.
///
/// ```
/// # fn main() -> diskcache::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// use std::collections::BTreeMap;
/// let cache = diskcache::Cache::builder().disk(diskcache::JsonDisk::new(6)?).open(dir.path())?;
/// let map = BTreeMap::from([("a".to_string(), 1), ("b".to_string(), 2)]);
/// cache.set("map", &map)?;
/// assert_eq!(cache.get::<BTreeMap<String, i64>>("map")?, Some(map));
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct JsonDisk {
    compress_level: u32,
}

impl JsonDisk {
    /// A JSON disk packing at zlib `compress_level` 0 (none) to 9 (smallest); diskcache's
    /// default is 1.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a level over 9.
    pub fn new(compress_level: u32) -> Result<JsonDisk> {
        Ok(JsonDisk {
            compress_level: zlib_level(compress_level)?,
        })
    }
}

impl Disk for JsonDisk {
    fn name(&self) -> &str {
        "json-zlib"
    }

    fn serialize(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>> {
        serde_json::to_vec(value)
            .map_err(|e| Error::Codec(Detail::with_source(format!("json: {e}"), e)))
    }

    fn deserialize(
        &self,
        bytes: &[u8],
        visit: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        visit(&mut <dyn erased_serde::Deserializer>::erase(&mut de))?;
        de.end()
            .map_err(|e| Error::Codec(Detail::with_source(format!("json: {e}"), e)))
    }

    fn pack(&self, kind: ValueKind, bytes: &[u8]) -> Result<Option<Vec<u8>>> {
        match kind {
            // Always, even where zlib grows it: the bytes are then what JSONDisk writes.
            ValueKind::Serialized => zlib_pack(self.compress_level, bytes).map(Some),
            _ => Ok(None),
        }
    }

    fn unpack(&self, _kind: ValueKind, bytes: Vec<u8>) -> Result<Vec<u8>> {
        zlib_unpack(&bytes)
    }
}

/// The built-in encoding, with text, bytes and serialized values of at least `min_size` bytes
/// packed with zlib (kept only where that makes them smaller): for large, compressible values.
///
/// zlib (flate2 on its pure-Rust backend) rather than LZ4: it has the compression levels this
/// disk offers and is the format `JsonDisk` and Python's `zlib` use. Measured on 1 MiB of
/// JSON-like text (`cargo run --release --example compression`, `format-spec/disks.md`):
/// level 1 packs to 0.20 in 2.4 ms and unpacks in 1.6 ms; lz4_flex packs to 0.27 in 1.2 ms
/// and unpacks in 0.21 ms.
#[derive(Clone, Copy, Debug)]
pub struct CompressedDisk {
    compress_level: u32,
    min_size: usize,
}

impl CompressedDisk {
    /// Packs values of at least 1 KiB at zlib `compress_level` (0 to 9).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a level over 9.
    pub fn new(compress_level: u32) -> Result<CompressedDisk> {
        Ok(CompressedDisk {
            compress_level: zlib_level(compress_level)?,
            min_size: 1024,
        })
    }

    /// Packs only values of at least `bytes` bytes.
    #[must_use]
    pub fn min_size(mut self, bytes: usize) -> Self {
        self.min_size = bytes;
        self
    }
}

impl Disk for CompressedDisk {
    fn name(&self) -> &str {
        "zlib"
    }

    fn pack(&self, _kind: ValueKind, bytes: &[u8]) -> Result<Option<Vec<u8>>> {
        if bytes.len() < self.min_size {
            return Ok(None);
        }
        let packed = zlib_pack(self.compress_level, bytes)?;
        Ok((packed.len() < bytes.len()).then_some(packed))
    }

    fn unpack(&self, _kind: ValueKind, bytes: Vec<u8>) -> Result<Vec<u8>> {
        zlib_unpack(&bytes)
    }
}
