//! Values as the cache stores them: a kind byte and the value's bytes.
//!
//! Integers, floats, text and bytes are stored *natively*, so that `incr` can add to a value that
//! was set as `123` and tools can show a stored value without knowing its Rust type. Anything else
//! is serialized with [postcard], which is maintained and whose wire format has a written
//! specification.
//!
//! The kind is stored as one byte next to the value's bytes; both the numbers and the layouts are
//! part of the on-disk format. Every multi-byte number is little-endian.
//!
//! | Kind         | Byte | Value bytes                                                    |
//! |--------------|------|----------------------------------------------------------------|
//! | `Int`        | 1    | exactly 8: the `i64`                                           |
//! | `Float`      | 2    | exactly 8: the `f64`'s IEEE 754 bits (NaN, infinities allowed) |
//! | `Text`       | 3    | the string's UTF-8, no length or terminator; checked on read   |
//! | `Bytes`      | 4    | the bytes as they are, possibly none                           |
//! | `Serialized` | 5    | `postcard::to_allocvec(&value)`                                |
//! | `Pickled`    | 6    | a Python pickle, written by the Python module (`python/`)      |
//!
//! Which kind a value gets depends on the shape of its `Serialize` output, looked at only at the
//! top level (see [`encode_value`]); reading it back ([`decode_value`]) accepts any type that
//! deserializes from that shape, and reports a mismatch as [`Error::Codec`].

mod native_de;
mod probe;
#[cfg(test)]
mod tests;

use std::any::type_name;
use std::fmt::Display;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use native_de::Native;
use probe::{Probe, ProbeError};

/// How a stored value's bytes are to be read. Stored as one byte; the numbers are part of the
/// on-disk format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum ValueKind {
    /// An `i64`: 8 bytes, little-endian.
    Int = 1,
    /// An `f64`: its 8 bits, little-endian.
    Float = 2,
    /// A string: its UTF-8 bytes.
    Text = 3,
    /// A byte string: the bytes as they are.
    Bytes = 4,
    /// Any other value: its postcard encoding, or what the cache's [`crate::Disk`] wrote.
    Serialized = 5,
    /// A Python object pickled by the Python module `diskcache_redb` (`python/`): its pickle
    /// bytes. Rust reads it as bytes; a value stored as [`PICKLED`] writes it.
    Pickled = 6,
}

/// The newtype-struct name that marks a value's bytes as a Python pickle
/// ([`ValueKind::Pickled`]): `serializer.serialize_newtype_struct(PICKLED, bytes)` with the
/// inner value serialized as bytes stores them with that kind, and a `Deserialize` that asks
/// `deserialize_newtype_struct(PICKLED, ..)` is handed `visit_newtype_struct` for a pickled
/// value and the plain value (`visit_i64`, `visit_byte_buf`, ...) for the other native kinds.
/// Any other reader sees a pickled value as bytes.
pub const PICKLED: &str = "$diskcache::Pickled";

impl ValueKind {
    /// Reads a stored kind byte; an unknown byte is [`Error::Corrupted`].
    pub(crate) fn from_byte(b: u8) -> Result<ValueKind> {
        match b {
            1 => Ok(ValueKind::Int),
            2 => Ok(ValueKind::Float),
            3 => Ok(ValueKind::Text),
            4 => Ok(ValueKind::Bytes),
            5 => Ok(ValueKind::Serialized),
            6 => Ok(ValueKind::Pickled),
            _ => Err(Error::corrupted(format!("unknown value kind byte {b}"))),
        }
    }

    /// The byte this kind is stored as.
    pub(crate) fn as_byte(self) -> u8 {
        self as u8
    }
}

/// A value turned into the bytes the cache stores.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct EncodedValue {
    /// How [`bytes`](Self::bytes) are to be read.
    pub(crate) kind: ValueKind,
    /// The value's bytes, laid out as the module documentation's table says for `kind`.
    pub(crate) bytes: Vec<u8>,
}

/// Turns a value into the kind and bytes the cache stores.
///
/// The top level of the value's `Serialize` output decides the kind:
/// - `i8`..`i64`, `u8`..`u32`, and `u64`/`i128`/`u128` values that fit in an `i64`: `Int`;
/// - `f32` (widened) and `f64`: `Float`;
/// - `str` and `char`: `Text`;
/// - `serialize_bytes` (`serde_bytes`), and a sequence or tuple whose every element is a `u8`
///   (`Vec<u8>`, `&[u8]`, `[u8; N]`), or an empty one: `Bytes`;
/// - newtype structs are looked through (`struct Id(i64)` is an `Int`);
/// - anything else, including integers beyond `i64`: `Serialized`, the whole value encoded
///   afresh with postcard.
///
/// The probe stops at the first call that is not native, so a value that is not native is
/// serialized twice: a few calls into the probe, then once in full by postcard. Like postcard,
/// the probe is not human-readable, so a type such as `Ipv4Addr` picks the same shape for both
/// (there, `[u8; 4]`, stored as `Bytes`).
///
/// An error from the value's `Serialize` implementation is [`Error::Codec`].
/// The value's native encoding, if it is a number, text, bytes or a pickle; a value marked
/// [`PICKLED`] that does not hold bytes is [`Error::Codec`].
pub(crate) fn encode_native<V: serde::Serialize + ?Sized>(
    value: &V,
) -> Result<Option<EncodedValue>> {
    match value.serialize(Probe) {
        Ok(native) => Ok(Some(native)),
        Err(e @ ProbeError::BadPickle) => Err(Error::codec(e.to_string())),
        Err(_) => Ok(None),
    }
}

pub(crate) fn encode_value<V: serde::Serialize + ?Sized>(value: &V) -> Result<EncodedValue> {
    let not_native = match value.serialize(Probe) {
        Ok(native) => return Ok(native),
        Err(e @ ProbeError::BadPickle) => return Err(Error::codec(e.to_string())),
        Err(e) => e,
    };
    match postcard::to_allocvec(value) {
        Ok(bytes) => Ok(EncodedValue {
            kind: ValueKind::Serialized,
            bytes,
        }),
        // postcard drops the message of a custom error; the probe kept it.
        Err(e) => Err(Error::codec(match not_native {
            ProbeError::Custom(msg) => format!("the value could not be serialized: {msg}"),
            ProbeError::NotNative | ProbeError::BadPickle => {
                format!("the value could not be serialized: {e}")
            }
        })),
    }
}

/// The dual of [`encode_value`]: rebuilds a value from stored bytes it is handed ownership of (so
/// a big byte value can be moved into a `ByteBuf` or `String` without a copy).
///
/// Bytes that break their kind's layout are [`Error::Corrupted`]; a value that is not of the
/// type asked for is [`Error::Codec`], with a message naming what was stored and what was asked.
pub(crate) fn decode_value<V: DeserializeOwned>(kind: ValueKind, bytes: Vec<u8>) -> Result<V> {
    let native = match kind {
        ValueKind::Int => Native::Int(int_from_bytes(&bytes)?),
        ValueKind::Float => Native::Float(float_from_bytes(&bytes)?),
        ValueKind::Text => Native::Text(String::from_utf8(bytes).map_err(|e| {
            Error::corrupted(format!("a stored text value is not valid UTF-8: {e}"))
        })?),
        ValueKind::Bytes => Native::Bytes(bytes),
        ValueKind::Pickled => Native::Pickled(bytes),
        ValueKind::Serialized => return decode_serialized(&bytes),
    };
    let stored = native.describe();
    V::deserialize(native).map_err(|e| mismatch::<V>(stored, e))
}

/// Reads a stored Int (8 bytes little-endian i64); [`Error::Corrupted`] if the length is not 8.
pub(crate) fn int_from_bytes(bytes: &[u8]) -> Result<i64> {
    eight_bytes(bytes, "integer").map(i64::from_le_bytes)
}

/// The stored bytes of an Int: 8 bytes, little-endian.
pub(crate) fn int_to_bytes(v: i64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

/// The stored bytes of a Float: the 8 bytes of its bits, little-endian.
pub(crate) fn float_to_bytes(v: f64) -> Vec<u8> {
    v.to_bits().to_le_bytes().to_vec()
}

/// Reads a stored Float (the 8 bytes of its bits, little-endian); [`Error::Corrupted`] if the
/// length is not 8.
pub(crate) fn float_from_bytes(bytes: &[u8]) -> Result<f64> {
    eight_bytes(bytes, "float").map(|b| f64::from_bits(u64::from_le_bytes(b)))
}

/// Checks that a stored number of kind `what` is exactly 8 bytes long.
fn eight_bytes(bytes: &[u8], what: &str) -> Result<[u8; 8]> {
    bytes.try_into().map_err(|_| {
        Error::corrupted(format!(
            "a stored {what} value has {} bytes, not 8",
            bytes.len()
        ))
    })
}

/// Reads a postcard-encoded value, which must use up every stored byte.
fn decode_serialized<V: DeserializeOwned>(bytes: &[u8]) -> Result<V> {
    const STORED: &str = "a serialized value";
    match postcard::take_from_bytes::<V>(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(mismatch::<V>(
            STORED,
            format_args!(
                "the stored value does not match the requested type ({} bytes left over)",
                rest.len()
            ),
        )),
        Err(e) => Err(mismatch::<V>(STORED, e)),
    }
}

/// The error for a stored value (described by `stored`) that is not a `V`.
fn mismatch<V>(stored: &str, detail: impl Display) -> Error {
    Error::codec(format!(
        "stored {stored}, asked for `{}`: {detail}",
        type_name::<V>()
    ))
}
