//! Cache keys and their order-preserving byte encoding.
//!
//! A [`Key`] is stored in redb as the bytes of [`Key::encode`]. Comparing those bytes
//! lexicographically orders keys as: all numbers by numeric value (integers and floats
//! interleaved), then all text (by UTF-8 bytes, which is code point order), then all byte
//! strings, then all composites. An integral float is the same key as the integer (`1.0 == 1`,
//! `-0.0 == 0`). NaN is not a key. All multi-byte integers are big-endian.
//!
//! # Top level
//!
//! The first byte is the class tag:
//!
//! | bytes                        | key                                                       |
//! |------------------------------|-----------------------------------------------------------|
//! | `10` + 8                     | a number (see below) below −2^63, including −inf          |
//! | `11` + 8 + `00`              | an integer in `i64` range (10 bytes)                      |
//! | `11` + 8 + `01` + 8          | a non-integral float in (−2^63, 2^63) (18 bytes)          |
//! | `12` + 8                     | a float at or above 2^63, including +inf                  |
//! | `20` + UTF-8                 | [`Key::Str`]: the rest of the buffer, no escaping or end  |
//! | `30` + bytes                 | [`Key::Bytes`]: the rest of the buffer, likewise          |
//! | `40` + element               | [`Key::Other`]: one composite element (holds the element) |
//!
//! # Numbers
//!
//! Numbers have the same encoding at the top level and inside composites (`f32` widens to `f64`):
//!
//! - `10`: the bitwise NOT of the f64 bits (all values in this class are negative, so this
//!   orders them).
//! - `11`: `floor(x)` as an `i64` with its sign bit flipped, then a marker: `00` for an integer,
//!   or `01` and 8 bytes ordering the fraction: for `x > 0` the f64 bits of `x − floor(x)`; for
//!   `x < 0` the bitwise NOT of the f64 bits of `ceil(x) − x`. Both lie in (0, 1) and are exact,
//!   whereas `x − floor(x)` rounds for negative `x` (`−1e−300` would give `1.0`). So
//!   `1 < 1.25 < 1.5 < 2` and `−2 < −1.5 < −1`.
//! - `12`: the f64 bits.
//!
//! # Composite elements
//!
//! Elements delimit themselves, so they nest; they keep the order of values of the same type.
//!
//! | bytes                          | element                                                |
//! |--------------------------------|--------------------------------------------------------|
//! | `01`                           | unit, unit struct                                      |
//! | `02` / `03`                    | `false` / `true`                                       |
//! | `04` / `05` + element          | `None` / `Some`                                        |
//! | `10`, `11`, `12`               | a number, as above                                     |
//! | `20` + escaped + `00`          | text (`str`, `String`, `char`)                         |
//! | `30` + escaped + `00`          | bytes                                                  |
//! | `40` + elements + `00`         | sequence, tuple, tuple struct, struct (field values)   |
//! | `41` + (key, value)… + `00`    | map, entries sorted by their encoded bytes             |
//! | `50` + u32                     | unit variant, by variant index                         |
//! | `51` + u32 + element           | newtype variant                                        |
//! | `52` + u32 + `40` sequence     | tuple or struct variant                                |
//!
//! "Escaped" writes each `00` byte of the content as `00 FF`; the lone `00` ends it. Newtype
//! structs are transparent. Structs are encoded by position, so a struct that skips fields
//! when serializing does not decode. Nesting is limited to [`MAX_DEPTH`] levels.
//!
//! [`Key::from_encoded`] accepts only what [`Key::encode`] produces: if it succeeds,
//! re-encoding gives back the same bytes.

mod de;
pub(crate) mod long;
mod ser;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use crate::error::{Error, Result};
use de::Elem;

/// The longest encoded key stored under its own encoding, in bytes; a longer key is stored
/// under an index key made of its first `MAX_KEY_BYTES` bytes, a hash and a counter, and its
/// row holds it whole (`format-spec/keys.md`, Long keys). Tags are limited to this length.
pub const MAX_KEY_BYTES: usize = 16 * 1024;

#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub use long::collide_long_key_hashes;

/// The limit on how deeply composite keys nest (each sequence, map, `Some` or variant is a level).
pub const MAX_DEPTH: usize = 128;

const END: u8 = 0x00;
const UNIT: u8 = 0x01;
const FALSE: u8 = 0x02;
const TRUE: u8 = 0x03;
const NONE: u8 = 0x04;
const SOME: u8 = 0x05;
const NUM_LOW: u8 = 0x10;
const NUM_MID: u8 = 0x11;
const NUM_HIGH: u8 = 0x12;
const TEXT: u8 = 0x20;
const BYTES: u8 = 0x30;
const SEQ: u8 = 0x40;
const MAP: u8 = 0x41;
const UNIT_VARIANT: u8 = 0x50;
const NEWTYPE_VARIANT: u8 = 0x51;
const SEQ_VARIANT: u8 = 0x52;
const ESCAPE: u8 = 0xFF;

/// A cache key: a number, a text, a byte string, or a composite value.
///
/// Keys compare, hash and order as their encoded bytes do (see the [module docs](self)), so
/// `Key::from(1) == Key::from(1.0)`. A NaN key cannot be encoded; it orders after all numbers
/// and equals only a NaN with the same bits.
#[derive(Clone, Debug)]
pub enum Key {
    /// An integer.
    Int(i64),
    /// A float. [`Key::from`] turns an integral float in `i64` range into [`Key::Int`]; one
    /// built by hand is still the same key as that integer.
    Float(f64),
    /// A text.
    Str(String),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A composite value made by [`Key::from_serialize`]: its encoded element, without the
    /// leading `0x40` class tag.
    Other(Vec<u8>),
}

impl Key {
    /// Makes a key of any serializable value.
    ///
    /// A number, text or byte string gives [`Key::Int`], [`Key::Float`], [`Key::Str`] or
    /// [`Key::Bytes`]; anything else gives [`Key::Other`]. Fails with
    /// [`Error::InvalidArgument`] for a NaN, an integer outside `i64`, nesting deeper than
    /// [`MAX_DEPTH`], and with [`Error::Codec`]
    /// if the value's `Serialize` fails.
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// use diskcache::Key;
    /// let key = Key::from_serialize(&("user", 42))?;
    /// assert_eq!(key.to_string(), "('user', 42)"); // shown as Python shows the tuple
    /// assert_eq!(key.decode::<(String, i64)>()?, ("user".to_string(), 42));
    /// assert_eq!(Key::from_serialize(&7u8)?, Key::Int(7)); // plain values stay plain
    /// # Ok(()) }
    /// ```
    pub fn from_serialize<T: serde::Serialize + ?Sized>(value: &T) -> Result<Key> {
        let mut element = Vec::new();
        ser::to_element(value, &mut element)?;
        let key = match element.first() {
            Some(&(NUM_LOW..=NUM_HIGH | TEXT | BYTES)) => match de::parse_element(&element)? {
                Elem::Int(i) => Key::Int(i),
                Elem::Float(x) => Key::Float(x),
                Elem::Str(s) => Key::Str(s.into_owned()),
                Elem::Bytes(b) => Key::Bytes(b.into_owned()),
                _ => Key::Other(element),
            },
            _ => Key::Other(element),
        };
        Ok(key)
    }

    /// The key a memoized call is stored under: the composite `(name, args)`, with the items
    /// of `args` at the positions in `ignore` left out (a value that is not a tuple or
    /// sequence counts as one item, at 0), and `type_name` appended when given.
    pub(crate) fn for_call<A: serde::Serialize + ?Sized>(
        name: &str,
        args: &A,
        ignore: &[usize],
        type_name: Option<&str>,
    ) -> Result<Key> {
        let mut args_element = Vec::new();
        ser::to_element(args, &mut args_element)?;
        if !ignore.is_empty() {
            let items =
                de::sequence_items(&args_element)?.unwrap_or_else(|| vec![args_element.as_slice()]);
            let mut kept = vec![SEQ];
            for (i, item) in items.into_iter().enumerate() {
                if !ignore.contains(&i) {
                    kept.extend_from_slice(item);
                }
            }
            kept.push(END);
            args_element = kept;
        }
        let mut element = vec![SEQ];
        ser::to_element(name, &mut element)?;
        element.extend_from_slice(&args_element);
        if let Some(type_name) = type_name {
            ser::to_element(type_name, &mut element)?;
        }
        element.push(END);
        let key = Key::Other(element);
        Ok(key)
    }

    /// Turns the key back into a value of type `T`.
    ///
    /// Numbers decode into any numeric type that holds them (integers widen to floats), text
    /// into `String` or `char`, bytes into `Vec<u8>` or `serde_bytes::ByteBuf`, and a composite
    /// into the type it was made from. Fails with [`Error::Codec`] if the key does not fit `T`.
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// use diskcache::Key;
    /// assert_eq!(Key::from(3).decode::<f64>()?, 3.0);
    /// assert!(Key::from("three").decode::<i64>().is_err());
    /// # Ok(()) }
    /// ```
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        T::deserialize(self.elem()?).map_err(|e| e.0)
    }

    /// Encodes the key into its order-preserving bytes.
    ///
    /// Fails with [`Error::InvalidArgument`] for a NaN or a [`Key::Other`] that does not hold
    /// a valid element. An encoding may be of any length (one longer than [`MAX_KEY_BYTES`]
    /// is stored under an index key).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Appends the key's encoding to `out`; see [`Key::encode`]. On error `out` is unchanged.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<()> {
        match self {
            Key::Int(i) => Num::int(*i).write(out),
            Key::Float(x) => Num::of_f64(*x).ok_or_else(nan_error)?.write(out),
            Key::Str(s) => {
                out.push(TEXT);
                out.extend_from_slice(s.as_bytes());
            }
            Key::Bytes(b) => {
                out.push(BYTES);
                out.extend_from_slice(b);
            }
            Key::Other(e) => {
                de::parse_element(e).map_err(|err| {
                    Error::InvalidArgument(format!(
                        "Key::Other does not hold a valid composite element: {err}"
                    ))
                })?;
                out.push(SEQ);
                out.extend_from_slice(e);
            }
        }
        Ok(())
    }

    /// Decodes a key from the bytes [`Key::encode`] made; the dual of `encode`.
    ///
    /// Fails with [`Error::Corrupted`] for anything `encode` would not have produced (an
    /// unknown tag, truncated or trailing bytes, invalid UTF-8, a non-canonical number, too deep
    /// nesting), and never panics.
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// use diskcache::Key;
    /// let bytes = Key::from("k").encode()?; // as stored in the `entries` table
    /// assert_eq!(Key::from_encoded(&bytes)?, Key::from("k"));
    /// assert!(Key::from_encoded(&[0xff, 0x00]).is_err());
    /// # Ok(()) }
    /// ```
    pub fn from_encoded(bytes: &[u8]) -> Result<Key> {
        let Some((&tag, rest)) = bytes.split_first() else {
            return Err(Error::corrupted("an encoded key is empty"));
        };
        match tag {
            NUM_LOW..=NUM_HIGH => match de::parse_element(bytes)? {
                Elem::Int(i) => Ok(Key::Int(i)),
                Elem::Float(x) => Ok(Key::Float(x)),
                _ => Err(Error::corrupted("an encoded number key is malformed")),
            },
            TEXT => match std::str::from_utf8(rest) {
                Ok(s) => Ok(Key::Str(s.to_owned())),
                Err(e) => Err(Error::corrupted(format!("a text key is not UTF-8: {e}"))),
            },
            BYTES => Ok(Key::Bytes(rest.to_vec())),
            SEQ => {
                de::parse_element(rest)?;
                Ok(Key::Other(rest.to_vec()))
            }
            _ => Err(Error::corrupted(format!(
                "an encoded key has the unknown class tag 0x{tag:02x}"
            ))),
        }
    }

    /// The length of the encoding (0 for a NaN, which has none).
    fn encoded_len(&self) -> usize {
        match self {
            Key::Int(i) => Num::int(*i).len(),
            Key::Float(x) => Num::of_f64(*x).map_or(0, Num::len),
            Key::Str(s) => 1 + s.len(),
            Key::Bytes(b) | Key::Other(b) => 1 + b.len(),
        }
    }

    /// The encoding of a tag, which is at most [`MAX_KEY_BYTES`] long (tags are stored under
    /// their encoding in the tag index); a longer one is [`Error::InvalidArgument`].
    pub(crate) fn encode_tag(&self) -> Result<Vec<u8>> {
        let len = self.encoded_len();
        if len > MAX_KEY_BYTES {
            return Err(Error::InvalidArgument(format!(
                "the tag is {len} bytes encoded, over the limit of {MAX_KEY_BYTES} bytes"
            )));
        }
        self.encode()
    }

    /// The key as a decoded element, for `decode` and `Display`.
    fn elem(&self) -> Result<Elem<'_>> {
        Ok(match self {
            Key::Int(i) => Elem::Int(*i),
            Key::Float(x) => match Num::of_f64(*x) {
                Some(Num::Mid(i, None)) => Elem::Int(i),
                _ => Elem::Float(*x),
            },
            Key::Str(s) => Elem::Str(Cow::Borrowed(s)),
            Key::Bytes(b) => Elem::Bytes(Cow::Borrowed(b)),
            Key::Other(e) => de::parse_element(e)?,
        })
    }

    /// What the key sorts by: the same order as its encoding, with a fallback for NaN.
    fn sort_key(&self) -> SortKey<'_> {
        match self {
            Key::Int(i) => SortKey::Num(Num::int(*i)),
            Key::Float(x) => Num::of_f64(*x).map_or(SortKey::NaN(x.to_bits()), SortKey::Num),
            Key::Str(s) => SortKey::Str(s.as_bytes()),
            Key::Bytes(b) => SortKey::Bytes(b),
            Key::Other(e) => SortKey::Other(e),
        }
    }
}

fn nan_error() -> Error {
    Error::InvalidArgument("NaN cannot be a cache key".into())
}

/// The derived order of this enum is the byte order of the encodings.
#[derive(PartialEq, Eq, PartialOrd, Ord, Hash)]
enum SortKey<'a> {
    Num(Num),
    NaN(u64),
    Str(&'a [u8]),
    Bytes(&'a [u8]),
    Other(&'a [u8]),
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.sort_key() == other.sort_key()
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.sort_key().hash(state);
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

const SIGN: u64 = 1 << 63;
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// A number in canonical encoded form; the derived order is the byte order of the encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Num {
    /// Tag `10`: NOT of the bits of a float below −2^63.
    Low(u64),
    /// Tag `11`: the floor, and the fraction's ordering bits unless integral.
    Mid(i64, Option<u64>),
    /// Tag `12`: the bits of a float at or above 2^63.
    High(u64),
}

impl Num {
    fn int(i: i64) -> Num {
        Num::Mid(i, None)
    }

    /// The canonical form of a float; `None` for NaN.
    fn of_f64(x: f64) -> Option<Num> {
        if x.is_nan() {
            None
        } else if x < -TWO_POW_63 {
            Some(Num::Low(!x.to_bits()))
        } else if x >= TWO_POW_63 {
            Some(Num::High(x.to_bits()))
        } else {
            // `fract` is x − trunc(x): exact, with the sign of x.
            let frac = x.fract();
            let bits = match frac.partial_cmp(&0.0) {
                Some(Ordering::Greater) => Some(frac.to_bits()),
                Some(Ordering::Less) => Some(!(-frac).to_bits()),
                _ => None,
            };
            // In range, so the conversion is exact.
            Some(Num::Mid(x.floor() as i64, bits))
        }
    }

    /// The value: `Elem::Int` or `Elem::Float`.
    fn value(self) -> Elem<'static> {
        match self {
            Num::Low(k) => Elem::Float(f64::from_bits(!k)),
            Num::High(b) => Elem::Float(f64::from_bits(b)),
            Num::Mid(i, None) => Elem::Int(i),
            Num::Mid(i, Some(k)) if i >= 0 => Elem::Float(i as f64 + f64::from_bits(k)),
            Num::Mid(i, Some(k)) => Elem::Float((i + 1) as f64 - f64::from_bits(!k)),
        }
    }

    fn len(self) -> usize {
        match self {
            Num::Low(_) | Num::High(_) => 9,
            Num::Mid(_, None) => 10,
            Num::Mid(_, Some(_)) => 18,
        }
    }

    fn write(self, out: &mut Vec<u8>) {
        match self {
            Num::Low(k) => {
                out.push(NUM_LOW);
                out.extend_from_slice(&k.to_be_bytes());
            }
            Num::Mid(i, frac) => {
                out.push(NUM_MID);
                out.extend_from_slice(&(i.cast_unsigned() ^ SIGN).to_be_bytes());
                match frac {
                    None => out.push(0),
                    Some(k) => {
                        out.push(1);
                        out.extend_from_slice(&k.to_be_bytes());
                    }
                }
            }
            Num::High(b) => {
                out.push(NUM_HIGH);
                out.extend_from_slice(&b.to_be_bytes());
            }
        }
    }
}

/// The error type of the serde `Serializer` and `Deserializer`, wrapping the crate's error.
#[derive(Debug)]
struct SerdeError(Error);

impl fmt::Display for SerdeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SerdeError {}

impl serde::ser::Error for SerdeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        SerdeError(Error::codec(msg.to_string()))
    }
}

impl serde::de::Error for SerdeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        SerdeError(Error::codec(msg.to_string()))
    }
}

macro_rules! key_from {
    ($variant:ident: $($t:ty),*) => {$(
        impl From<$t> for Key {
            fn from(v: $t) -> Key {
                Key::$variant(v.into())
            }
        }
    )*};
}
key_from!(Int: i8, i16, i32, i64, u8, u16, u32);
key_from!(Str: &str, String, &String);
key_from!(Bytes: &[u8], Vec<u8>);

/// An integral float in `i64` range (including −0.0) becomes [`Key::Int`].
impl From<f64> for Key {
    fn from(x: f64) -> Key {
        match Num::of_f64(x) {
            Some(Num::Mid(i, None)) => Key::Int(i),
            _ => Key::Float(x),
        }
    }
}

/// Widens to `f64`; see `From<f64>`.
impl From<f32> for Key {
    fn from(x: f32) -> Key {
        Key::from(f64::from(x))
    }
}

impl<const N: usize> From<&[u8; N]> for Key {
    fn from(b: &[u8; N]) -> Key {
        Key::Bytes(b.to_vec())
    }
}

impl From<char> for Key {
    fn from(c: char) -> Key {
        Key::Str(c.to_string())
    }
}

impl From<&Key> for Key {
    fn from(k: &Key) -> Key {
        k.clone()
    }
}

/// Anything a key can be made from: every type with `Into<Key>`, and the unsigned and 128-bit
/// integers, whose values outside the `i64` range are an [`Error::InvalidArgument`] rather
/// than a wrapped or rounded key (integer keys are `i64`, as SQLite's are in Python
/// diskcache). Every operation that takes a key takes `impl IntoKey`.
///
/// ```
/// # fn main() -> diskcache::Result<()> {
/// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
/// let id: u64 = 42;
/// cache.set(id, "answer")?;
/// assert_eq!(cache.get::<String>(42)?.as_deref(), Some("answer"));
/// assert!(cache.set(u64::MAX, "too large").is_err());
/// # Ok(()) }
/// ```
pub trait IntoKey {
    /// The key, or why this value cannot be one.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an integer outside the `i64` range.
    fn into_key(self) -> Result<Key>;
}

impl<T: Into<Key>> IntoKey for T {
    fn into_key(self) -> Result<Key> {
        Ok(self.into())
    }
}

macro_rules! key_from_wide {
    ($($t:ty),*) => {$(
        impl IntoKey for $t {
            fn into_key(self) -> Result<Key> {
                i64::try_from(self).map(Key::Int).map_err(|_| {
                    Error::InvalidArgument(format!(
                        "the integer key {self} is outside the i64 range integer keys have"
                    ))
                })
            }
        }
    )*};
}
key_from_wide!(u64, usize, u128, i128);

/// Shows the key like a Python `repr`: `42`, `1.5`, `'text'`, `b'\x00ab'`, `(1, 'a')`,
/// `{'k': 1}`, `None`, `True`; an enum variant as `#index(payload)`. A [`Key::Other`] that does
/// not parse shows as `<composite key: N bytes>`.
impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.elem() {
            Ok(elem) => elem.fmt(f),
            Err(_) => write!(
                f,
                "<composite key: {} bytes>",
                self.encoded_len().saturating_sub(1)
            ),
        }
    }
}

impl fmt::Display for Elem<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list(f: &mut fmt::Formatter<'_>, items: &[Elem<'_>], open: &str) -> fmt::Result {
            f.write_str(open)?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                item.fmt(f)?;
            }
            f.write_str(if items.len() == 1 && open == "(" {
                ",)"
            } else {
                ")"
            })
        }
        match self {
            Elem::Unit => f.write_str("()"),
            Elem::Bool(b) => f.write_str(if *b { "True" } else { "False" }),
            Elem::None => f.write_str("None"),
            Elem::Some(e) => e.fmt(f),
            Elem::Int(i) => write!(f, "{i}"),
            Elem::Float(x) if x.is_nan() => f.write_str("nan"),
            Elem::Float(x) => write!(f, "{x:?}"),
            Elem::Str(s) => write_repr(f, "", s.chars()),
            Elem::Bytes(b) => write_repr(f, "b", b.iter().map(|&b| char::from(b))),
            Elem::Seq(items) => list(f, items, "("),
            Elem::Map(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    write!(f, "{}{k}: {v}", if i > 0 { ", " } else { "" })?;
                }
                f.write_str("}")
            }
            Elem::UnitVariant(i) => write!(f, "#{i}"),
            Elem::NewtypeVariant(i, e) => write!(f, "#{i}({e})"),
            Elem::SeqVariant(i, items) => list(f, items, &format!("#{i}(")),
        }
    }
}

/// Writes a Python-style quoted literal. For bytes, `chars` are the bytes as Latin-1.
fn write_repr(
    f: &mut fmt::Formatter<'_>,
    prefix: &str,
    chars: impl Iterator<Item = char> + Clone,
) -> fmt::Result {
    let quote = if chars.clone().any(|c| c == '\'') && !chars.clone().any(|c| c == '"') {
        '"'
    } else {
        '\''
    };
    let bytes = !prefix.is_empty();
    write!(f, "{prefix}{quote}")?;
    for c in chars {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c == quote => write!(f, "\\{c}")?,
            c if c.is_control() || (bytes && !c.is_ascii()) => {
                write!(f, "\\x{:02x}", u32::from(c))?
            }
            c => write!(f, "{c}")?,
        }
    }
    write!(f, "{quote}")
}
