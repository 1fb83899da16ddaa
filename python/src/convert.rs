//! Python objects to the cache's keys and values and back.
//!
//! Keys: an `int` within i64, a `float`, a `str` or a `bytes` is the key of the same kind
//! (`format-spec/keys.md`), so that a Rust process reads and writes the same entries. Anything
//! else is a composite key: a tuple is a sequence of its items' elements, `None` is the unit,
//! `True`/`False` the booleans, and any other object (an integer beyond i64 included) is the
//! newtype variant 0 holding its pickle as bytes.
//!
//! Values: an `int` within i64, a `float`, a `str` and a `bytes` are stored natively; anything
//! else is pickled and stored as the value kind `Pickled` (`format-spec/rows.md`).

use diskcache::{Key, PICKLED};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyString, PyTuple};
use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::ser::{Serialize, Serializer};

/// The pickle protocol values and keys are pickled with (Python 3.8's highest).
const PROTOCOL: u8 = 5;

/// Composite key element tags (`format-spec/keys.md`).
mod tag {
    pub const END: u8 = 0x00;
    pub const UNIT: u8 = 0x01;
    pub const FALSE: u8 = 0x02;
    pub const TRUE: u8 = 0x03;
    pub const NONE: u8 = 0x04;
    pub const SOME: u8 = 0x05;
    pub const NUM_LOW: u8 = 0x10;
    pub const NUM_MID: u8 = 0x11;
    pub const NUM_HIGH: u8 = 0x12;
    pub const TEXT: u8 = 0x20;
    pub const BYTES: u8 = 0x30;
    pub const SEQ: u8 = 0x40;
    pub const MAP: u8 = 0x41;
    pub const NEWTYPE_VARIANT: u8 = 0x51;
    pub const ESCAPE: u8 = 0xFF;
}

/// The index of the newtype variant that holds a pickled key.
const PICKLED_VARIANT: u32 = 0;

static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `pickle.dumps(obj, protocol=5)`.
pub fn pickle(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let py = obj.py();
    let dumps = DUMPS.get_or_try_init(py, || -> PyResult<_> {
        Ok(py.import("pickle")?.getattr("dumps")?.unbind())
    })?;
    let out = dumps.bind(py).call1((obj, PROTOCOL))?;
    Ok(out.cast::<PyBytes>()?.as_bytes().to_vec())
}

/// `pickle.loads(bytes)`.
pub fn unpickle<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let loads = LOADS.get_or_try_init(py, || -> PyResult<_> {
        Ok(py.import("pickle")?.getattr("loads")?.unbind())
    })?;
    loads.bind(py).call1((PyBytes::new(py, bytes),))
}

// ----- keys -----------------------------------------------------------------------------

/// The key of a Python object.
pub fn to_key(obj: &Bound<'_, PyAny>) -> PyResult<Key> {
    if obj.is_exact_instance_of::<PyString>() {
        return Ok(Key::Str(obj.cast::<PyString>()?.to_str()?.to_owned()));
    }
    if obj.is_exact_instance_of::<PyInt>()
        && let Ok(i) = obj.extract::<i64>()
    {
        return Ok(Key::Int(i));
    }
    if obj.is_exact_instance_of::<PyBytes>() {
        return Ok(Key::Bytes(obj.cast::<PyBytes>()?.as_bytes().to_vec()));
    }
    if obj.is_exact_instance_of::<PyFloat>() {
        let x: f64 = obj.extract()?;
        if x.is_nan() {
            return Err(PyValueError::new_err("NaN is not a cache key"));
        }
        return Ok(float_key(x));
    }
    let mut element = Vec::new();
    write_element(obj, &mut element, 0)?;
    Ok(Key::Other(element))
}

/// A float key: an integral float in i64's range is the integer key.
fn float_key(x: f64) -> Key {
    if x.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&x) {
        Key::Int(x as i64)
    } else {
        Key::Float(x)
    }
}

/// Appends the composite element of `obj` to `out`.
fn write_element(obj: &Bound<'_, PyAny>, out: &mut Vec<u8>, depth: usize) -> PyResult<()> {
    if depth > 100 {
        return Err(PyValueError::new_err("a key nests deeper than 100 tuples"));
    }
    if obj.is_none() {
        out.push(tag::UNIT);
    } else if obj.is_exact_instance_of::<PyBool>() {
        out.push(if obj.is_truthy()? {
            tag::TRUE
        } else {
            tag::FALSE
        });
    } else if obj.is_exact_instance_of::<PyTuple>() {
        out.push(tag::SEQ);
        for item in obj.cast::<PyTuple>()?.iter() {
            write_element(&item, out, depth + 1)?;
        }
        out.push(tag::END);
    } else if obj.is_exact_instance_of::<PyString>() {
        out.push(tag::TEXT);
        escape(obj.cast::<PyString>()?.to_str()?.as_bytes(), out);
    } else if obj.is_exact_instance_of::<PyBytes>() {
        out.push(tag::BYTES);
        escape(obj.cast::<PyBytes>()?.as_bytes(), out);
    } else if let Some(number) = number_key(obj)? {
        number.encode_into(out).map_err(crate::error::to_py)?;
    } else {
        out.push(tag::NEWTYPE_VARIANT);
        out.extend_from_slice(&PICKLED_VARIANT.to_be_bytes());
        out.push(tag::BYTES);
        escape(&pickle(obj)?, out);
    }
    Ok(())
}

/// The number key of an exact `int` within i64 or an exact `float`.
fn number_key(obj: &Bound<'_, PyAny>) -> PyResult<Option<Key>> {
    if obj.is_exact_instance_of::<PyInt>() {
        return Ok(obj.extract::<i64>().ok().map(Key::Int));
    }
    if obj.is_exact_instance_of::<PyFloat>() {
        let x: f64 = obj.extract()?;
        if x.is_nan() {
            return Err(PyValueError::new_err("NaN is not a cache key"));
        }
        return Ok(Some(float_key(x)));
    }
    Ok(None)
}

/// Escaped content and its end marker: each `00` is written `00 FF`, then a lone `00`.
fn escape(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        out.push(b);
        if b == tag::END {
            out.push(tag::ESCAPE);
        }
    }
    out.push(tag::END);
}

/// The Python object of a key.
pub fn from_key<'py>(py: Python<'py>, key: &Key) -> PyResult<Bound<'py, PyAny>> {
    match key {
        Key::Int(i) => Ok(i.into_pyobject(py)?.into_any()),
        Key::Float(x) => Ok(PyFloat::new(py, *x).into_any()),
        Key::Str(s) => Ok(PyString::new(py, s).into_any()),
        Key::Bytes(b) => Ok(PyBytes::new(py, b).into_any()),
        Key::Other(element) => {
            let mut reader = ElementReader { rest: element };
            reader.element(py)
        }
    }
}

/// Reads composite elements (`format-spec/keys.md`) into Python objects.
struct ElementReader<'a> {
    rest: &'a [u8],
}

impl ElementReader<'_> {
    fn byte(&mut self) -> PyResult<u8> {
        let (&b, rest) = self.rest.split_first().ok_or_else(malformed)?;
        self.rest = rest;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> PyResult<&[u8]> {
        if self.rest.len() < n {
            return Err(malformed());
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn unescape(&mut self) -> PyResult<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let b = self.byte()?;
            if b != tag::END {
                out.push(b);
            } else if self.rest.first() == Some(&tag::ESCAPE) {
                self.rest = self.rest.get(1..).unwrap_or_default();
                out.push(tag::END);
            } else {
                return Ok(out);
            }
        }
    }

    fn element<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let start = self.rest;
        let t = self.byte()?;
        Ok(match t {
            tag::UNIT | tag::NONE => py.None().into_bound(py),
            tag::FALSE => PyBool::new(py, false).to_owned().into_any(),
            tag::TRUE => PyBool::new(py, true).to_owned().into_any(),
            tag::SOME => self.element(py)?,
            tag::NUM_LOW | tag::NUM_HIGH => {
                self.take(8)?;
                self.number(py, start, 9)?
            }
            tag::NUM_MID => {
                self.take(8)?;
                let len = match self.byte()? {
                    0 => 10,
                    1 => {
                        self.take(8)?;
                        18
                    }
                    _ => return Err(malformed()),
                };
                self.number(py, start, len)?
            }
            tag::TEXT => {
                let bytes = self.unescape()?;
                let s = String::from_utf8(bytes).map_err(|_| malformed())?;
                PyString::new(py, &s).into_any()
            }
            tag::BYTES => PyBytes::new(py, &self.unescape()?).into_any(),
            tag::SEQ => {
                let mut items = Vec::new();
                while self.rest.first() != Some(&tag::END) {
                    items.push(self.element(py)?);
                }
                self.byte()?;
                PyTuple::new(py, items)?.into_any()
            }
            tag::MAP => {
                let dict = PyDict::new(py);
                while self.rest.first() != Some(&tag::END) {
                    let k = self.element(py)?;
                    let v = self.element(py)?;
                    dict.set_item(k, v)?;
                }
                self.byte()?;
                dict.into_any()
            }
            tag::NEWTYPE_VARIANT => {
                let variant = self.take(4)?;
                if variant != PICKLED_VARIANT.to_be_bytes() || self.byte()? != tag::BYTES {
                    return Err(PyValueError::new_err(
                        "a composite key made by another program has no Python form",
                    ));
                }
                let bytes = self.unescape()?;
                unpickle(py, &bytes)?
            }
            _ => {
                return Err(PyValueError::new_err(
                    "a composite key made by another program has no Python form",
                ));
            }
        })
    }

    fn number<'py>(
        &self,
        py: Python<'py>,
        start: &[u8],
        len: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let bytes = start.get(..len).ok_or_else(malformed)?;
        match Key::from_encoded(bytes).map_err(crate::error::to_py)? {
            Key::Int(i) => Ok(i.into_pyobject(py)?.into_any()),
            Key::Float(x) => Ok(PyFloat::new(py, x).into_any()),
            _ => Err(malformed()),
        }
    }
}

fn malformed() -> PyErr {
    PyValueError::new_err("a stored composite key is malformed")
}

// ----- values ---------------------------------------------------------------------------

/// A value on its way into the cache, borrowed from its Python object where it can be.
#[derive(Clone)]
pub enum ValueIn<'a> {
    /// An `int` within i64.
    Int(i64),
    /// A `float`.
    Float(f64),
    /// A `str`.
    Text(&'a str),
    /// A `bytes`.
    Bytes(&'a [u8]),
    /// Bytes read from a file (`read=True`), or a `bytes` copied.
    OwnedBytes(Vec<u8>),
    /// A `str` copied.
    OwnedText(String),
    /// Anything else, pickled.
    Pickled(Vec<u8>),
}

impl<'a> ValueIn<'a> {
    /// The value of a Python object.
    pub fn of(obj: &'a Bound<'_, PyAny>) -> PyResult<ValueIn<'a>> {
        if obj.is_exact_instance_of::<PyString>() {
            return Ok(ValueIn::Text(obj.cast::<PyString>()?.to_str()?));
        }
        if obj.is_exact_instance_of::<PyInt>()
            && let Ok(i) = obj.extract::<i64>()
        {
            return Ok(ValueIn::Int(i));
        }
        if obj.is_exact_instance_of::<PyFloat>() {
            return Ok(ValueIn::Float(obj.extract()?));
        }
        if obj.is_exact_instance_of::<PyBytes>() {
            return Ok(ValueIn::Bytes(obj.cast::<PyBytes>()?.as_bytes()));
        }
        Ok(ValueIn::Pickled(pickle(obj)?))
    }

    /// The same value, owning its data (to send it to a transaction's thread).
    pub fn into_owned(self) -> ValueIn<'static> {
        match self {
            ValueIn::Int(i) => ValueIn::Int(i),
            ValueIn::Float(x) => ValueIn::Float(x),
            ValueIn::Text(t) => ValueIn::OwnedText(t.to_owned()),
            ValueIn::Bytes(b) => ValueIn::OwnedBytes(b.to_vec()),
            ValueIn::OwnedBytes(b) => ValueIn::OwnedBytes(b),
            ValueIn::OwnedText(t) => ValueIn::OwnedText(t),
            ValueIn::Pickled(b) => ValueIn::Pickled(b),
        }
    }

    /// The bytes a file-like object reads (`read=True`).
    pub fn read(obj: &Bound<'_, PyAny>) -> PyResult<ValueIn<'static>> {
        let data = obj.call_method0("read")?;
        match data.cast::<PyBytes>() {
            Ok(b) => Ok(ValueIn::OwnedBytes(b.as_bytes().to_vec())),
            Err(_) => Err(PyTypeError::new_err(
                "read=True needs a file opened in binary mode",
            )),
        }
    }
}

/// Bytes serialized as a byte string.
struct RawBytes<'a>(&'a [u8]);

impl Serialize for RawBytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

impl Serialize for ValueIn<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ValueIn::Int(i) => s.serialize_i64(*i),
            ValueIn::Float(x) => s.serialize_f64(*x),
            ValueIn::Text(t) => s.serialize_str(t),
            ValueIn::Bytes(b) => s.serialize_bytes(b),
            ValueIn::OwnedBytes(b) => s.serialize_bytes(b),
            ValueIn::OwnedText(t) => s.serialize_str(t),
            ValueIn::Pickled(b) => s.serialize_newtype_struct(PICKLED, &RawBytes(b)),
        }
    }
}

/// A value read from the cache.
#[derive(Debug)]
pub enum ValueOut {
    /// A stored Int.
    Int(i64),
    /// A stored Float.
    Float(f64),
    /// A stored Text.
    Text(String),
    /// A stored Bytes.
    Bytes(Vec<u8>),
    /// A stored Pickled value's pickle.
    Pickled(Vec<u8>),
}

impl ValueOut {
    /// The Python object.
    pub fn into_py(self, py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        Ok(match self {
            ValueOut::Int(i) => i.into_pyobject(py)?.into_any(),
            ValueOut::Float(x) => PyFloat::new(py, x).into_any(),
            ValueOut::Text(s) => PyString::new(py, &s).into_any(),
            ValueOut::Bytes(b) => PyBytes::new(py, &b).into_any(),
            ValueOut::Pickled(b) => unpickle(py, &b)?,
        })
    }
}

/// Reads the pickle inside [`PICKLED`].
struct PickleBytes(Vec<u8>);

impl<'de> Deserialize<'de> for PickleBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<PickleBytes, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PickleBytes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a pickle")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<PickleBytes, E> {
                Ok(PickleBytes(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<PickleBytes, E> {
                Ok(PickleBytes(v))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

impl<'de> Deserialize<'de> for ValueOut {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ValueOut, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ValueOut;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an integer, a float, a text, bytes or a pickle")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ValueOut, E> {
                Ok(ValueOut::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ValueOut, E> {
                i64::try_from(v)
                    .map(ValueOut::Int)
                    .map_err(|_| E::custom("an integer beyond i64"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ValueOut, E> {
                Ok(ValueOut::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ValueOut, E> {
                Ok(ValueOut::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<ValueOut, E> {
                Ok(ValueOut::Text(v))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<ValueOut, E> {
                Ok(ValueOut::Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<ValueOut, E> {
                Ok(ValueOut::Bytes(v))
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<ValueOut, D::Error> {
                PickleBytes::deserialize(d).map(|p| ValueOut::Pickled(p.0))
            }
        }
        d.deserialize_newtype_struct(PICKLED, V)
    }
}
