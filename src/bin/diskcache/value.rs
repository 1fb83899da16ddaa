//! Values as this command sees them, and the byte encoding of the composite (JSON) values it
//! stores (`format-spec/batch-protocol.md`, "Composite values").

use serde::ser::{Error as _, Serialize, SerializeTuple, Serializer};
use serde_json::{Map, Number, Value as Json};

/// The first four bytes of every composite value this command stores with a postcard disk:
/// they tell its values from the composites of other programs.
pub const MAGIC: [u8; 4] = *b"JSON";

/// How deeply a stored composite may nest when it is decoded (serde_json's parser limit).
const MAX_DEPTH: usize = 128;

/// A value read from or written to a cache.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A native integer.
    Int(i64),
    /// A native float.
    Float(f64),
    /// A native text.
    Text(String),
    /// A native byte string.
    Bytes(Vec<u8>),
    /// A composite value that is JSON: stored by this command, or by a JSON disk.
    Json(Json),
    /// A composite value of some other program that this command cannot read: its bytes as
    /// the cache's disk serialized them.
    Serialized(Vec<u8>),
}

/// A value on its way into a cache whose composites are JSON (`json_disk`) or postcard.
pub struct Writable<'a> {
    /// The value.
    pub value: &'a Value,
    /// Whether the cache's disk serializes composites as JSON (`JsonDisk`).
    pub json_disk: bool,
}

impl Serialize for Writable<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.value {
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(x) => s.serialize_f64(*x),
            Value::Text(t) => s.serialize_str(t),
            Value::Bytes(b) => s.serialize_bytes(b),
            // The cache first asks (with a serializer that is not human-readable) whether the
            // value is a native number, text or bytes; a unit says no, so that even `5` or `[]`
            // inside `{"json": ..}` reach the JSON disk, which writes the JSON itself.
            Value::Json(v) if self.json_disk => {
                if s.is_human_readable() {
                    v.serialize(s)
                } else {
                    s.serialize_unit()
                }
            }
            Value::Json(v) => {
                let mut t = s.serialize_tuple(2)?;
                t.serialize_element(&MAGIC)?;
                t.serialize_element(&Tree(v))?;
                t.end()
            }
            Value::Serialized(_) => Err(S::Error::custom(
                "a value read as raw serialized bytes cannot be stored",
            )),
        }
    }
}

/// A JSON value serialized as the enum `Tree` of `format-spec/batch-protocol.md`:
/// `Null`, `Bool`, `Int`, `UInt`, `Float`, `Text`, `Array`, `Object` (variants 0 to 7).
struct Tree<'a>(&'a Json);

impl Serialize for Tree<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const NAME: &str = "Tree";
        match self.0 {
            Json::Null => s.serialize_unit_variant(NAME, 0, "Null"),
            Json::Bool(b) => s.serialize_newtype_variant(NAME, 1, "Bool", b),
            Json::Number(n) => {
                if let Some(i) = n.as_i64() {
                    s.serialize_newtype_variant(NAME, 2, "Int", &i)
                } else if let Some(u) = n.as_u64() {
                    s.serialize_newtype_variant(NAME, 3, "UInt", &u)
                } else {
                    let x = n.as_f64().unwrap_or(f64::NAN);
                    s.serialize_newtype_variant(NAME, 4, "Float", &x)
                }
            }
            Json::String(t) => s.serialize_newtype_variant(NAME, 5, "Text", t),
            Json::Array(items) => s.serialize_newtype_variant(NAME, 6, "Array", &Items(items)),
            Json::Object(map) => s.serialize_newtype_variant(NAME, 7, "Object", &Fields(map)),
        }
    }
}

/// An array's items, as a sequence of `Tree`.
struct Items<'a>(&'a [Json]);

impl Serialize for Items<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(Tree))
    }
}

/// An object's fields, as a sequence of `(String, Tree)`.
struct Fields<'a>(&'a Map<String, Json>);

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|(k, v)| (k, Tree(v))))
    }
}

/// Decodes a composite this command stored with a postcard disk ([`MAGIC`], then a `Tree`);
/// `None` for any other bytes (another program's composite, or damage).
pub fn decode_composite(bytes: &[u8]) -> Option<Json> {
    let mut reader = Reader(bytes.strip_prefix(&MAGIC)?);
    let value = reader.tree(0)?;
    reader.0.is_empty().then_some(value)
}

/// Reads postcard's encoding of a `Tree` from the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (taken, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(taken)
    }

    /// An unsigned LEB128 varint of at most `max_bytes` bytes.
    fn varint(&mut self, max_bytes: u32) -> Option<u64> {
        let mut value = 0u64;
        for i in 0..max_bytes {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f).checked_shl(7 * i)?;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// A length: at most the bytes left, as every element takes at least one.
    fn len(&mut self) -> Option<usize> {
        let n = usize::try_from(self.varint(10)?).ok()?;
        (n <= self.0.len()).then_some(n)
    }

    fn text(&mut self) -> Option<String> {
        let n = self.len()?;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }

    fn tree(&mut self, depth: usize) -> Option<Json> {
        if depth > MAX_DEPTH {
            return None;
        }
        Some(match self.varint(5)? {
            0 => Json::Null,
            1 => match self.byte()? {
                0 => Json::Bool(false),
                1 => Json::Bool(true),
                _ => return None,
            },
            2 => {
                let z = self.varint(10)?;
                // zigzag: 0, -1, 1, -2, … are 0, 1, 2, 3, …
                let i = (z >> 1) as i64 ^ -((z & 1) as i64);
                Json::from(i)
            }
            3 => Json::from(self.varint(10)?),
            4 => {
                let bytes: [u8; 8] = self.take(8)?.try_into().ok()?;
                Json::Number(Number::from_f64(f64::from_le_bytes(bytes))?)
            }
            5 => Json::String(self.text()?),
            6 => {
                let n = self.len()?;
                let items = (0..n).map(|_| self.tree(depth + 1));
                Json::Array(items.collect::<Option<_>>()?)
            }
            7 => {
                let n = self.len()?;
                let mut map = Map::new();
                for _ in 0..n {
                    let key = self.text()?;
                    let value = self.tree(depth + 1)?;
                    if map.insert(key, value).is_some() {
                        return None; // a field twice: not what this command writes
                    }
                }
                Json::Object(map)
            }
            _ => return None,
        })
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The bytes of a hex string (either case); `None` if it is not hex.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks_exact(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    /// The enum `format-spec/batch-protocol.md` documents, derived: a Rust program reads a
    /// stored composite as `([u8; 4], Tree)` with postcard.
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    enum Tree {
        Null,
        Bool(bool),
        Int(i64),
        UInt(u64),
        Float(f64),
        Text(String),
        Array(Vec<Tree>),
        Object(Vec<(String, Tree)>),
    }

    fn stored(v: &Json) -> Vec<u8> {
        let value = Value::Json(v.clone());
        postcard::to_allocvec(&Writable {
            value: &value,
            json_disk: false,
        })
        .unwrap()
    }

    #[test]
    fn composites_round_trip_and_are_the_documented_postcard_enum() {
        let v = json!({"a": [1, -2, 18446744073709551615u64, 2.5, "x", null, true, {}],
                       "b": {"c": []}});
        let bytes = stored(&v);
        assert_eq!(bytes.get(..4), Some(&MAGIC[..]));
        assert_eq!(decode_composite(&bytes), Some(v));
        let (magic, tree): ([u8; 4], Tree) = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(magic, MAGIC);
        let Tree::Object(fields) = tree else {
            panic!("not an object: {tree:?}")
        };
        assert_eq!(fields.len(), 2);
        assert_eq!(
            stored(&json!([null, 1])),
            [b'J', b'S', b'O', b'N', 6, 2, 0, 2, 2]
        );
    }

    #[test]
    fn other_bytes_are_not_composites_and_never_panic() {
        assert_eq!(decode_composite(b""), None);
        assert_eq!(decode_composite(b"JSO"), None);
        assert_eq!(
            decode_composite(&postcard::to_allocvec(&(5u8, "hi")).unwrap()),
            None
        );
        let mut trailing = stored(&json!(1));
        trailing.push(0);
        assert_eq!(decode_composite(&trailing), None);
        let mut deep = MAGIC.to_vec();
        deep.extend(std::iter::repeat_n([6u8, 1], 100_000).flatten());
        deep.push(0);
        assert_eq!(decode_composite(&deep), None);
        for len in 0..20 {
            let mut b = MAGIC.to_vec();
            b.extend((0..len).map(|i| (i * 37 % 256) as u8));
            let _ = decode_composite(&b);
        }
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(hex(&[0, 0xff, 0x10]), "00ff10");
        assert_eq!(unhex("00FF10"), Some(vec![0, 0xff, 0x10]));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
    }
}
