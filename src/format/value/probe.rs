//! The native probe: a serde `Serializer` that recognizes the values stored natively.
//!
//! It gives up ([`ProbeError::NotNative`]) at the first sign of any other shape, and the caller
//! then encodes the whole value afresh with postcard.

use std::fmt;

use serde::Serialize;
use serde::ser::{self, Impossible, SerializeSeq, SerializeTuple};

use super::{EncodedValue, PICKLED, ValueKind, float_to_bytes, int_to_bytes};

/// Why the probe produced no native value.
#[derive(Debug)]
pub(super) enum ProbeError {
    /// The value is not of a native shape.
    NotNative,
    /// The value's `Serialize` implementation failed with this message.
    Custom(String),
    /// A value marked [`PICKLED`] does not hold bytes.
    BadPickle,
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::NotNative => f.write_str("the value is not of a natively stored kind"),
            ProbeError::Custom(msg) => f.write_str(msg),
            ProbeError::BadPickle => write!(f, "a value marked `{PICKLED}` must hold bytes"),
        }
    }
}

impl std::error::Error for ProbeError {}

impl ser::Error for ProbeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ProbeError::Custom(msg.to_string())
    }
}

/// What a probe's methods return.
type ProbeResult<T> = std::result::Result<T, ProbeError>;

/// Writes `Serializer` methods that reject their input as not native.
macro_rules! not_native {
    ($($method:ident $(<$generic:ident>)? ($($arg:ty),*) -> $ok:ty;)*) => {$(
        fn $method $(<$generic: ?Sized + Serialize>)? (self, $(_: $arg),*) -> ProbeResult<$ok> {
            Err(ProbeError::NotNative)
        }
    )*};
}

/// Serializes a value's top level into an [`EncodedValue`] if it is of a native kind.
pub(super) struct Probe;

impl Probe {
    /// An `Int` value.
    fn int(v: i64) -> ProbeResult<EncodedValue> {
        Ok(EncodedValue {
            kind: ValueKind::Int,
            bytes: int_to_bytes(v),
        })
    }

    /// An `Int` value if `v` fits in an `i64`.
    fn wide_int(v: impl TryInto<i64>) -> ProbeResult<EncodedValue> {
        v.try_into().map_or(Err(ProbeError::NotNative), Self::int)
    }

    /// A `Text` value.
    fn text(s: String) -> ProbeResult<EncodedValue> {
        Ok(EncodedValue {
            kind: ValueKind::Text,
            bytes: s.into_bytes(),
        })
    }
}

impl ser::Serializer for Probe {
    type Ok = EncodedValue;
    type Error = ProbeError;
    type SerializeSeq = ByteCollector;
    type SerializeTuple = ByteCollector;
    type SerializeTupleStruct = Impossible<EncodedValue, ProbeError>;
    type SerializeTupleVariant = Impossible<EncodedValue, ProbeError>;
    type SerializeMap = Impossible<EncodedValue, ProbeError>;
    type SerializeStruct = Impossible<EncodedValue, ProbeError>;
    type SerializeStructVariant = Impossible<EncodedValue, ProbeError>;

    fn serialize_i8(self, v: i8) -> ProbeResult<EncodedValue> {
        Self::int(v.into())
    }
    fn serialize_i16(self, v: i16) -> ProbeResult<EncodedValue> {
        Self::int(v.into())
    }
    fn serialize_i32(self, v: i32) -> ProbeResult<EncodedValue> {
        Self::int(v.into())
    }
    fn serialize_i64(self, v: i64) -> ProbeResult<EncodedValue> {
        Self::int(v)
    }
    fn serialize_i128(self, v: i128) -> ProbeResult<EncodedValue> {
        Self::wide_int(v)
    }
    fn serialize_u8(self, v: u8) -> ProbeResult<EncodedValue> {
        Self::int(v.into())
    }
    fn serialize_u16(self, v: u16) -> ProbeResult<EncodedValue> {
        Self::int(v.into())
    }
    fn serialize_u32(self, v: u32) -> ProbeResult<EncodedValue> {
        Self::int(v.into())
    }
    fn serialize_u64(self, v: u64) -> ProbeResult<EncodedValue> {
        Self::wide_int(v)
    }
    fn serialize_u128(self, v: u128) -> ProbeResult<EncodedValue> {
        Self::wide_int(v)
    }
    fn serialize_f32(self, v: f32) -> ProbeResult<EncodedValue> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> ProbeResult<EncodedValue> {
        Ok(EncodedValue {
            kind: ValueKind::Float,
            bytes: float_to_bytes(v),
        })
    }
    fn serialize_char(self, v: char) -> ProbeResult<EncodedValue> {
        Self::text(v.to_string())
    }
    fn serialize_str(self, v: &str) -> ProbeResult<EncodedValue> {
        Self::text(v.to_owned())
    }
    fn serialize_bytes(self, v: &[u8]) -> ProbeResult<EncodedValue> {
        Ok(EncodedValue {
            kind: ValueKind::Bytes,
            bytes: v.to_vec(),
        })
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        value: &T,
    ) -> ProbeResult<EncodedValue> {
        let native = value.serialize(self)?;
        if name != PICKLED {
            return Ok(native);
        }
        match native.kind {
            ValueKind::Bytes => Ok(EncodedValue {
                kind: ValueKind::Pickled,
                bytes: native.bytes,
            }),
            _ => Err(ProbeError::BadPickle),
        }
    }
    fn serialize_seq(self, len: Option<usize>) -> ProbeResult<ByteCollector> {
        Ok(ByteCollector::new(len.unwrap_or(0)))
    }
    fn serialize_tuple(self, len: usize) -> ProbeResult<ByteCollector> {
        Ok(ByteCollector::new(len))
    }
    fn is_human_readable(&self) -> bool {
        false // as postcard, so a type serializes the same way for the probe and for postcard
    }

    not_native! {
        serialize_bool(bool) -> EncodedValue;
        serialize_none() -> EncodedValue;
        serialize_some<T>(&T) -> EncodedValue;
        serialize_unit() -> EncodedValue;
        serialize_unit_struct(&'static str) -> EncodedValue;
        serialize_unit_variant(&'static str, u32, &'static str) -> EncodedValue;
        serialize_newtype_variant<T>(&'static str, u32, &'static str, &T) -> EncodedValue;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize)
            -> Self::SerializeTupleVariant;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct(&'static str, usize) -> Self::SerializeStruct;
        serialize_struct_variant(&'static str, u32, &'static str, usize)
            -> Self::SerializeStructVariant;
    }
}

/// Collects the elements of a sequence or tuple as long as each is a `u8`.
pub(super) struct ByteCollector {
    /// How many elements the sequence said it has.
    len_hint: usize,
    /// The bytes so far; allocated at the first byte, so other sequences cost nothing.
    bytes: Vec<u8>,
}

impl ByteCollector {
    /// A collector for a sequence that said it has `len_hint` elements.
    fn new(len_hint: usize) -> Self {
        ByteCollector {
            len_hint,
            bytes: Vec::new(),
        }
    }

    /// Adds an element if it is a `u8`.
    fn push<T: ?Sized + Serialize>(&mut self, element: &T) -> ProbeResult<()> {
        let byte = element.serialize(ByteProbe)?;
        if self.bytes.capacity() == 0 {
            // A hint too big to allocate is not worth failing over: the pushes grow the Vec.
            let _ = self.bytes.try_reserve_exact(self.len_hint);
        }
        self.bytes.push(byte);
        Ok(())
    }

    /// The collected bytes as a `Bytes` value.
    fn finish(self) -> ProbeResult<EncodedValue> {
        Ok(EncodedValue {
            kind: ValueKind::Bytes,
            bytes: self.bytes,
        })
    }
}

impl SerializeSeq for ByteCollector {
    type Ok = EncodedValue;
    type Error = ProbeError;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> ProbeResult<()> {
        self.push(value)
    }
    fn end(self) -> ProbeResult<EncodedValue> {
        self.finish()
    }
}

impl SerializeTuple for ByteCollector {
    type Ok = EncodedValue;
    type Error = ProbeError;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> ProbeResult<()> {
        self.push(value)
    }
    fn end(self) -> ProbeResult<EncodedValue> {
        self.finish()
    }
}

/// Serializes a sequence element, accepting only a `u8`.
struct ByteProbe;

impl ser::Serializer for ByteProbe {
    type Ok = u8;
    type Error = ProbeError;
    type SerializeSeq = Impossible<u8, ProbeError>;
    type SerializeTuple = Impossible<u8, ProbeError>;
    type SerializeTupleStruct = Impossible<u8, ProbeError>;
    type SerializeTupleVariant = Impossible<u8, ProbeError>;
    type SerializeMap = Impossible<u8, ProbeError>;
    type SerializeStruct = Impossible<u8, ProbeError>;
    type SerializeStructVariant = Impossible<u8, ProbeError>;

    fn serialize_u8(self, v: u8) -> ProbeResult<u8> {
        Ok(v)
    }
    fn is_human_readable(&self) -> bool {
        false
    }

    not_native! {
        serialize_bool(bool) -> u8;
        serialize_i8(i8) -> u8;
        serialize_i16(i16) -> u8;
        serialize_i32(i32) -> u8;
        serialize_i64(i64) -> u8;
        serialize_i128(i128) -> u8;
        serialize_u16(u16) -> u8;
        serialize_u32(u32) -> u8;
        serialize_u64(u64) -> u8;
        serialize_u128(u128) -> u8;
        serialize_f32(f32) -> u8;
        serialize_f64(f64) -> u8;
        serialize_char(char) -> u8;
        serialize_str(&str) -> u8;
        serialize_bytes(&[u8]) -> u8;
        serialize_none() -> u8;
        serialize_some<T>(&T) -> u8;
        serialize_unit() -> u8;
        serialize_unit_struct(&'static str) -> u8;
        serialize_unit_variant(&'static str, u32, &'static str) -> u8;
        serialize_newtype_struct<T>(&'static str, &T) -> u8;
        serialize_newtype_variant<T>(&'static str, u32, &'static str, &T) -> u8;
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize)
            -> Self::SerializeTupleVariant;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct(&'static str, usize) -> Self::SerializeStruct;
        serialize_struct_variant(&'static str, u32, &'static str, usize)
            -> Self::SerializeStructVariant;
    }
}
