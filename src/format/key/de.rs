//! Parsing composite elements, and the serde `Deserializer` over them.

use std::borrow::Cow;

use serde::de::value::{MapDeserializer, SeqDeserializer, U32Deserializer};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Unexpected, Visitor};

use super::{
    BYTES, END, ESCAPE, FALSE, MAP, MAX_DEPTH, NEWTYPE_VARIANT, NONE, NUM_HIGH, NUM_LOW, NUM_MID,
    Num, SEQ, SEQ_VARIANT, SIGN, SOME, SerdeError, TEXT, TRUE, UNIT, UNIT_VARIANT,
};
use crate::error::{Error, Result};

/// One decoded element; text and bytes borrow from the input unless they had escapes.
#[derive(Debug)]
pub(super) enum Elem<'a> {
    Unit,
    Bool(bool),
    None,
    Some(Box<Elem<'a>>),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    Seq(Vec<Elem<'a>>),
    Map(Vec<(Elem<'a>, Elem<'a>)>),
    UnitVariant(u32),
    NewtypeVariant(u32, Box<Elem<'a>>),
    SeqVariant(u32, Vec<Elem<'a>>),
}

/// Parses exactly one element, checking that it is in canonical form.
pub(super) fn parse_element(bytes: &[u8]) -> Result<Elem<'_>> {
    let mut r = Reader {
        rest: bytes,
        len: bytes.len(),
    };
    let elem = r.elem(0)?;
    if !r.rest.is_empty() {
        return Err(r.error("trailing bytes after the element"));
    }
    Ok(elem)
}

/// The byte slices of the items of a sequence element (`40` … `00`), or `None` if `bytes` is
/// another kind of element.
pub(super) fn sequence_items(bytes: &[u8]) -> Result<Option<Vec<&[u8]>>> {
    let mut r = Reader {
        rest: bytes,
        len: bytes.len(),
    };
    if r.byte()? != SEQ {
        return Ok(None);
    }
    let mut items = Vec::new();
    while !r.end() {
        let start = r.rest;
        r.elem(1)?;
        items.push(start.get(..start.len() - r.rest.len()).unwrap_or_default());
    }
    if !r.rest.is_empty() {
        return Err(r.error("trailing bytes after the sequence"));
    }
    Ok(Some(items))
}

struct Reader<'a> {
    rest: &'a [u8],
    len: usize,
}

impl<'a> Reader<'a> {
    fn error(&self, what: &str) -> Error {
        let at = self.len - self.rest.len();
        Error::corrupted(format!("malformed key encoding at byte {at}: {what}"))
    }

    fn byte(&mut self) -> Result<u8> {
        let (&b, rest) = self
            .rest
            .split_first()
            .ok_or_else(|| self.error("truncated"))?;
        self.rest = rest;
        Ok(b)
    }

    fn u64(&mut self) -> Result<u64> {
        let (b, rest) = self
            .rest
            .split_first_chunk()
            .ok_or_else(|| self.error("truncated"))?;
        self.rest = rest;
        Ok(u64::from_be_bytes(*b))
    }

    fn u32(&mut self) -> Result<u32> {
        let (b, rest) = self
            .rest
            .split_first_chunk()
            .ok_or_else(|| self.error("truncated"))?;
        self.rest = rest;
        Ok(u32::from_be_bytes(*b))
    }

    /// Consumes the `00` that ends a sequence or map, if it is next.
    fn end(&mut self) -> bool {
        match self.rest.split_first() {
            Some((&END, rest)) => {
                self.rest = rest;
                true
            }
            _ => false,
        }
    }

    /// Reads escaped content up to its terminating `00`.
    fn escaped(&mut self) -> Result<Cow<'a, [u8]>> {
        let mut owned: Option<Vec<u8>> = None;
        loop {
            let at = self
                .rest
                .iter()
                .position(|&b| b == END)
                .ok_or_else(|| self.error("unterminated text or bytes"))?;
            let (chunk, tail) = self.rest.split_at(at);
            match tail {
                [END, ESCAPE, rest @ ..] => {
                    let v = owned.get_or_insert_default();
                    v.extend_from_slice(chunk);
                    v.push(0);
                    self.rest = rest;
                }
                [_, rest @ ..] => {
                    self.rest = rest;
                    return Ok(match owned {
                        None => Cow::Borrowed(chunk),
                        Some(mut v) => {
                            v.extend_from_slice(chunk);
                            Cow::Owned(v)
                        }
                    });
                }
                [] => return Err(self.error("unterminated text or bytes")),
            }
        }
    }

    fn number(&mut self, tag: u8) -> Result<Elem<'a>> {
        let num = match tag {
            NUM_LOW => Num::Low(self.u64()?),
            NUM_MID => {
                let floor = (self.u64()? ^ SIGN).cast_signed();
                match self.byte()? {
                    0 => Num::Mid(floor, None),
                    1 => Num::Mid(floor, Some(self.u64()?)),
                    _ => return Err(self.error("a number has a bad integer/fraction marker")),
                }
            }
            _ => Num::High(self.u64()?),
        };
        let value = num.value();
        match value {
            Elem::Float(x) if x.is_nan() => Err(self.error("a number is NaN")),
            Elem::Float(x) if Num::of_f64(x) != Some(num) => {
                Err(self.error("a number is not in canonical form"))
            }
            _ => Ok(value),
        }
    }

    fn elems(&mut self, depth: usize) -> Result<Vec<Elem<'a>>> {
        let mut items = Vec::new();
        while !self.end() {
            items.push(self.elem(depth)?);
        }
        Ok(items)
    }

    fn elem(&mut self, depth: usize) -> Result<Elem<'a>> {
        if depth > MAX_DEPTH {
            return Err(self.error(&format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let tag = self.byte()?;
        Ok(match tag {
            UNIT => Elem::Unit,
            FALSE => Elem::Bool(false),
            TRUE => Elem::Bool(true),
            NONE => Elem::None,
            SOME => Elem::Some(Box::new(self.elem(depth + 1)?)),
            NUM_LOW..=NUM_HIGH => self.number(tag)?,
            TEXT => Elem::Str(match self.escaped()? {
                Cow::Borrowed(b) => Cow::Borrowed(
                    std::str::from_utf8(b).map_err(|_| self.error("text is not UTF-8"))?,
                ),
                Cow::Owned(v) => {
                    Cow::Owned(String::from_utf8(v).map_err(|_| self.error("text is not UTF-8"))?)
                }
            }),
            BYTES => Elem::Bytes(self.escaped()?),
            SEQ => Elem::Seq(self.elems(depth + 1)?),
            MAP => {
                let mut entries = Vec::new();
                let mut previous: &[u8] = &[];
                while !self.end() {
                    let start = self.rest;
                    let entry = (self.elem(depth + 1)?, self.elem(depth + 1)?);
                    let bytes = start
                        .get(..start.len() - self.rest.len())
                        .unwrap_or_default();
                    if bytes < previous {
                        return Err(self.error("map entries are not in sorted order"));
                    }
                    previous = bytes;
                    entries.push(entry);
                }
                Elem::Map(entries)
            }
            UNIT_VARIANT => Elem::UnitVariant(self.u32()?),
            NEWTYPE_VARIANT => Elem::NewtypeVariant(self.u32()?, Box::new(self.elem(depth + 1)?)),
            SEQ_VARIANT => {
                let index = self.u32()?;
                if self.byte()? != SEQ {
                    return Err(self.error("a tuple or struct variant does not hold a sequence"));
                }
                Elem::SeqVariant(index, self.elems(depth + 1)?)
            }
            _ => return Err(self.error(&format!("unknown tag 0x{tag:02x}"))),
        })
    }
}

type DeResult<T> = std::result::Result<T, SerdeError>;

fn visit_seq<'de, I, V>(items: I, visitor: V) -> DeResult<V::Value>
where
    I: Iterator<Item: IntoDeserializer<'de, SerdeError>>,
    V: Visitor<'de>,
{
    let mut seq = SeqDeserializer::new(items);
    let value = visitor.visit_seq(&mut seq)?;
    seq.end()?;
    Ok(value)
}

impl<'de, 'a> de::Deserializer<'de> for Elem<'a> {
    type Error = SerdeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> DeResult<V::Value> {
        match self {
            Elem::Unit => visitor.visit_unit(),
            Elem::Bool(b) => visitor.visit_bool(b),
            Elem::None => visitor.visit_none(),
            Elem::Some(e) => visitor.visit_some(*e),
            Elem::Int(i) => visitor.visit_i64(i),
            Elem::Float(x) => visitor.visit_f64(x),
            Elem::Str(Cow::Borrowed(s)) => visitor.visit_str(s),
            Elem::Str(Cow::Owned(s)) => visitor.visit_string(s),
            Elem::Bytes(Cow::Borrowed(b)) => visitor.visit_bytes(b),
            Elem::Bytes(Cow::Owned(b)) => visitor.visit_byte_buf(b),
            Elem::Seq(items) => visit_seq(items.into_iter(), visitor),
            Elem::Map(entries) => {
                let mut map = MapDeserializer::new(entries.into_iter());
                let value = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(value)
            }
            e @ (Elem::UnitVariant(_) | Elem::NewtypeVariant(..) | Elem::SeqVariant(..)) => {
                visitor.visit_enum(e)
            }
        }
    }

    /// Byte strings also deserialize as sequences of `u8`, for `Vec<u8>` and `[u8; N]`.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> DeResult<V::Value> {
        match self {
            Elem::Bytes(b) => visit_seq(b.iter().copied(), visitor),
            e => e.deserialize_any(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> DeResult<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> DeResult<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> DeResult<V::Value> {
        visitor.visit_unit()
    }

    fn is_human_readable(&self) -> bool {
        false
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        option unit_struct tuple_struct map struct enum identifier
    }
}

impl<'de, 'a> IntoDeserializer<'de, SerdeError> for Elem<'a> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de, 'a> de::EnumAccess<'de> for Elem<'a> {
    type Error = SerdeError;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> DeResult<(S::Value, Self)> {
        let index = match self {
            Elem::UnitVariant(i) | Elem::NewtypeVariant(i, _) | Elem::SeqVariant(i, _) => i,
            _ => return Err(de::Error::custom("expected an enum variant")),
        };
        let de: U32Deserializer<SerdeError> = index.into_deserializer();
        Ok((seed.deserialize(de)?, self))
    }
}

impl<'de, 'a> de::VariantAccess<'de> for Elem<'a> {
    type Error = SerdeError;

    fn unit_variant(self) -> DeResult<()> {
        match self {
            Elem::UnitVariant(_) => Ok(()),
            e => Err(e.unexpected("unit variant")),
        }
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> DeResult<S::Value> {
        match self {
            Elem::NewtypeVariant(_, e) => seed.deserialize(*e),
            e => Err(e.unexpected("newtype variant")),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> DeResult<V::Value> {
        match self {
            Elem::SeqVariant(_, items) => visit_seq(items.into_iter(), visitor),
            e => Err(e.unexpected("tuple variant")),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> DeResult<V::Value> {
        match self {
            Elem::SeqVariant(_, items) => visit_seq(items.into_iter(), visitor),
            e => Err(e.unexpected("struct variant")),
        }
    }
}

impl Elem<'_> {
    fn unexpected(&self, expected: &str) -> SerdeError {
        let found = match self {
            Elem::UnitVariant(_) => Unexpected::UnitVariant,
            Elem::NewtypeVariant(..) => Unexpected::NewtypeVariant,
            _ => Unexpected::TupleVariant,
        };
        de::Error::invalid_type(found, &expected)
    }
}
