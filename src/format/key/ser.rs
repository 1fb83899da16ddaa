//! The serde `Serializer` that writes composite elements.

use std::fmt::Display;

use serde::ser::{self, Serialize};

use super::{
    BYTES, END, ESCAPE, FALSE, MAP, MAX_DEPTH, NEWTYPE_VARIANT, NONE, Num, SEQ, SEQ_VARIANT, SOME,
    SerdeError, TEXT, TRUE, UNIT, UNIT_VARIANT, nan_error,
};
use crate::error::{Error, Result};

type SerResult<T> = std::result::Result<T, SerdeError>;

/// Appends the element encoding of `value` to `out`.
pub(super) fn to_element<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    Ser::at(out, 0)
        .and_then(|ser| value.serialize(ser))
        .map_err(|e| e.0)
}

/// Writes one element at nesting `depth`.
struct Ser<'o> {
    out: &'o mut Vec<u8>,
    depth: usize,
}

impl<'o> Ser<'o> {
    fn at(out: &'o mut Vec<u8>, depth: usize) -> SerResult<Self> {
        if depth > MAX_DEPTH {
            return Err(SerdeError(Error::InvalidArgument(format!(
                "the key nests deeper than {MAX_DEPTH} levels"
            ))));
        }
        Ok(Ser { out, depth })
    }

    fn int<T: TryInto<i64> + Display + Copy>(self, v: T) -> SerResult<()> {
        let i = v.try_into().map_err(|_| {
            SerdeError(Error::InvalidArgument(format!(
                "the integer {v} is outside the i64 range that keys hold"
            )))
        })?;
        Num::int(i).write(self.out);
        Ok(())
    }

    fn escaped(self, tag: u8, content: &[u8]) -> SerResult<()> {
        self.out.push(tag);
        for &b in content {
            self.out.push(b);
            if b == END {
                self.out.push(ESCAPE);
            }
        }
        self.out.push(END);
        Ok(())
    }

    fn tag(self, tag: u8) -> SerResult<()> {
        self.out.push(tag);
        Ok(())
    }

    /// Writes `tag` (and a variant index), and opens a sequence of children.
    fn open(self, tag: &[u8]) -> Compound<'o> {
        self.out.extend_from_slice(tag);
        Compound {
            out: self.out,
            depth: self.depth + 1,
        }
    }
}

fn variant_tag(tag: u8, index: u32) -> [u8; 5] {
    let [a, b, c, d] = index.to_be_bytes();
    [tag, a, b, c, d]
}

impl<'o> ser::Serializer for Ser<'o> {
    type Ok = ();
    type Error = SerdeError;
    type SerializeSeq = Compound<'o>;
    type SerializeTuple = Compound<'o>;
    type SerializeTupleStruct = Compound<'o>;
    type SerializeTupleVariant = Compound<'o>;
    type SerializeMap = MapSer<'o>;
    type SerializeStruct = Compound<'o>;
    type SerializeStructVariant = Compound<'o>;

    fn serialize_bool(self, v: bool) -> SerResult<()> {
        self.tag(if v { TRUE } else { FALSE })
    }
    fn serialize_i8(self, v: i8) -> SerResult<()> {
        self.int(v)
    }
    fn serialize_i16(self, v: i16) -> SerResult<()> {
        self.int(v)
    }
    fn serialize_i32(self, v: i32) -> SerResult<()> {
        self.int(v)
    }
    fn serialize_i64(self, v: i64) -> SerResult<()> {
        self.int(v)
    }
    fn serialize_i128(self, v: i128) -> SerResult<()> {
        self.int(v)
    }
    fn serialize_u8(self, v: u8) -> SerResult<()> {
        self.int(v)
    }
    fn serialize_u16(self, v: u16) -> SerResult<()> {
        self.int(v)
    }
    fn serialize_u32(self, v: u32) -> SerResult<()> {
        self.int(v)
    }
    fn serialize_u64(self, v: u64) -> SerResult<()> {
        self.int(v)
    }
    fn serialize_u128(self, v: u128) -> SerResult<()> {
        self.int(v)
    }
    fn serialize_f32(self, v: f32) -> SerResult<()> {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> SerResult<()> {
        Num::of_f64(v)
            .ok_or_else(|| SerdeError(nan_error()))?
            .write(self.out);
        Ok(())
    }
    fn serialize_char(self, v: char) -> SerResult<()> {
        self.escaped(TEXT, v.encode_utf8(&mut [0; 4]).as_bytes())
    }
    fn serialize_str(self, v: &str) -> SerResult<()> {
        self.escaped(TEXT, v.as_bytes())
    }
    fn serialize_bytes(self, v: &[u8]) -> SerResult<()> {
        self.escaped(BYTES, v)
    }
    fn serialize_none(self) -> SerResult<()> {
        self.tag(NONE)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> SerResult<()> {
        self.out.push(SOME);
        value.serialize(Ser::at(self.out, self.depth + 1)?)
    }
    fn serialize_unit(self) -> SerResult<()> {
        self.tag(UNIT)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> SerResult<()> {
        self.tag(UNIT)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
    ) -> SerResult<()> {
        self.out
            .extend_from_slice(&variant_tag(UNIT_VARIANT, index));
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> SerResult<()> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        value: &T,
    ) -> SerResult<()> {
        self.out
            .extend_from_slice(&variant_tag(NEWTYPE_VARIANT, index));
        value.serialize(Ser::at(self.out, self.depth + 1)?)
    }
    fn serialize_seq(self, _len: Option<usize>) -> SerResult<Compound<'o>> {
        Ok(self.open(&[SEQ]))
    }
    fn serialize_tuple(self, _len: usize) -> SerResult<Compound<'o>> {
        Ok(self.open(&[SEQ]))
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> SerResult<Compound<'o>> {
        Ok(self.open(&[SEQ]))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> SerResult<Compound<'o>> {
        Ok(self.open(&variant_tag(SEQ_VARIANT, index)).with(SEQ))
    }
    fn serialize_map(self, _len: Option<usize>) -> SerResult<MapSer<'o>> {
        self.out.push(MAP);
        Ok(MapSer {
            out: self.out,
            depth: self.depth + 1,
            entries: Vec::new(),
            has_key: false,
        })
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> SerResult<Compound<'o>> {
        Ok(self.open(&[SEQ]))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> SerResult<Compound<'o>> {
        Ok(self.open(&variant_tag(SEQ_VARIANT, index)).with(SEQ))
    }
    fn is_human_readable(&self) -> bool {
        false
    }
}

/// A sequence being written: its elements at nesting `depth`, then `00`.
struct Compound<'o> {
    out: &'o mut Vec<u8>,
    depth: usize,
}

impl Compound<'_> {
    fn with(self, byte: u8) -> Self {
        self.out.push(byte);
        self
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> SerResult<()> {
        value.serialize(Ser::at(self.out, self.depth)?)
    }

    fn finish(self) -> SerResult<()> {
        self.out.push(END);
        Ok(())
    }
}

macro_rules! compound {
    ($($trait:ident :: $method:ident ($($name:ident)?)),*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = SerdeError;
            fn $method<T: Serialize + ?Sized>(&mut self, $($name: &'static str,)? value: &T) -> SerResult<()> {
                self.element(value)
            }
            fn end(self) -> SerResult<()> {
                self.finish()
            }
        }
    )*};
}
compound!(
    SerializeSeq::serialize_element(),
    SerializeTuple::serialize_element(),
    SerializeTupleStruct::serialize_field(),
    SerializeTupleVariant::serialize_field(),
    SerializeStruct::serialize_field(_key),
    SerializeStructVariant::serialize_field(_key)
);

/// A map being written: entries are buffered, then sorted by their bytes.
struct MapSer<'o> {
    out: &'o mut Vec<u8>,
    depth: usize,
    entries: Vec<Vec<u8>>,
    /// Whether the last entry has its key but not yet its value.
    has_key: bool,
}

fn map_misuse() -> SerdeError {
    <SerdeError as ser::Error>::custom("a map's keys and values were not serialized in turn")
}

impl ser::SerializeMap for MapSer<'_> {
    type Ok = ();
    type Error = SerdeError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> SerResult<()> {
        if self.has_key {
            return Err(map_misuse());
        }
        let mut entry = Vec::new();
        key.serialize(Ser::at(&mut entry, self.depth)?)?;
        self.entries.push(entry);
        self.has_key = true;
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> SerResult<()> {
        let entry = self
            .entries
            .last_mut()
            .filter(|_| self.has_key)
            .ok_or_else(map_misuse)?;
        self.has_key = false;
        value.serialize(Ser::at(entry, self.depth)?)
    }

    fn end(mut self) -> SerResult<()> {
        if self.has_key {
            return Err(map_misuse());
        }
        self.entries.sort_unstable();
        for entry in &self.entries {
            self.out.extend_from_slice(entry);
        }
        self.out.push(END);
        Ok(())
    }
}
