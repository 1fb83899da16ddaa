//! The native deserializer: rebuilds a value from a stored `Int`, `Float`, `Text` or `Bytes`.
//!
//! It hands its owned value to the visitor (`visit_string`, `visit_byte_buf`), so a `String` or
//! a `ByteBuf` takes the stored bytes without a copy, and leaves range checks and conversions
//! (an `Int` read as `u8` or `f64`, a one-character `Text` read as `char`) to serde.

use serde::de::value::{Error as DeError, SeqDeserializer};
use serde::de::{Deserializer, Error as _, Unexpected, Visitor};
use serde::forward_to_deserialize_any;

use super::PICKLED;

/// A stored value of a native kind, ready to be deserialized.
pub(super) enum Native {
    /// A stored `Int`.
    Int(i64),
    /// A stored `Float`.
    Float(f64),
    /// A stored `Text`, already checked to be UTF-8.
    Text(String),
    /// A stored `Bytes`.
    Bytes(Vec<u8>),
    /// A stored `Pickled`: bytes to every reader but the one that asks for [`PICKLED`].
    Pickled(Vec<u8>),
}

impl Native {
    /// What is stored, for error messages ("stored an integer, asked for ...").
    pub(super) fn describe(&self) -> &'static str {
        match self {
            Native::Int(_) => "an integer",
            Native::Float(_) => "a float",
            Native::Text(_) => "a text",
            Native::Bytes(_) => "bytes",
            Native::Pickled(_) => "a Python pickle",
        }
    }
}

impl<'de> Deserializer<'de> for Native {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self {
            Native::Int(v) => visitor.visit_i64(v),
            Native::Float(v) => visitor.visit_f64(v),
            Native::Text(v) => visitor.visit_string(v),
            Native::Bytes(v) | Native::Pickled(v) => visitor.visit_byte_buf(v),
        }
    }

    /// A stored value is always there: it reads as `Some`.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_some(self)
    }

    /// A reader asking for [`PICKLED`] is handed a pickled value as a newtype of its bytes and
    /// any other kind as itself; other newtypes are transparent.
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self {
            Native::Pickled(v) if name == PICKLED => visitor.visit_newtype_struct(Native::Bytes(v)),
            other if name == PICKLED => other.deserialize_any(visitor),
            other => visitor.visit_newtype_struct(other),
        }
    }

    /// `Bytes` reads as a sequence of `u8`; the visitor and `SeqDeserializer` check its length.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self {
            Native::Bytes(v) | Native::Pickled(v) => {
                SeqDeserializer::new(v.into_iter()).deserialize_any(visitor)
            }
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    /// `Bytes` is not read as text, even when it happens to be UTF-8.
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self {
            Native::Bytes(v) | Native::Pickled(v) => {
                Err(DeError::invalid_type(Unexpected::Bytes(&v), &visitor))
            }
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_string(visitor)
    }

    fn is_human_readable(&self) -> bool {
        false // as postcard, and as the probe that chose the native kind
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 bytes byte_buf unit unit_struct
        tuple_struct map struct enum identifier ignored_any
    }
}
