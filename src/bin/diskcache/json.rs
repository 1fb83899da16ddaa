//! The JSON form of keys, tags and values, shared by the command line and the batch protocol
//! (`format-spec/batch-protocol.md`, "Keys and values as JSON").
//!
//! Numbers, strings and `{"bytes": hex}` are the native kinds; any other JSON is a composite.
//! A one-field object whose field is one of [`SPECIAL`] is a special form; `{"json": x}` is
//! `x` taken as a composite as it is, so that every key and value has a JSON form that reads
//! back as itself.

use diskcache::Key;
use serde_json::{Number, Value as Json, json};

use crate::value::{Value, hex, unhex};

/// The fields of the one-field objects that are special forms.
pub const SPECIAL: [&str; 5] = ["bytes", "float", "json", "composite", "serialized"];

/// The special form `v` is, if any: its field and the field's value.
fn special(v: &Json) -> Option<(&str, &Json)> {
    let map = v.as_object()?;
    if map.len() != 1 {
        return None;
    }
    let (field, inner) = map.iter().next()?;
    SPECIAL
        .contains(&field.as_str())
        .then_some((field.as_str(), inner))
}

/// A command-line argument as JSON: the JSON it parses as, or else a string of its text.
pub fn parse_arg(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or_else(|_| Json::String(text.to_owned()))
}

/// The bytes of `{"bytes": hex}`.
fn bytes_of(inner: &Json) -> Result<Vec<u8>, String> {
    inner
        .as_str()
        .and_then(unhex)
        .ok_or_else(|| format!("{{\"bytes\": ..}} takes a string of hex digits, not {inner}"))
}

/// The float of `{"float": "nan" | "inf" | "-inf" | number}`.
fn float_of(inner: &Json) -> Result<f64, String> {
    match inner {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => match s.to_ascii_lowercase().as_str() {
            "nan" => Some(f64::NAN),
            "inf" | "+inf" | "infinity" => Some(f64::INFINITY),
            "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        },
        _ => None,
    }
    .ok_or_else(|| {
        format!("{{\"float\": ..}} takes \"nan\", \"inf\", \"-inf\" or a number, not {inner}")
    })
}

/// A counter's value as JSON: an integer, or a float as [`float_json`] writes it.
pub fn number_to_json(n: diskcache::Number) -> Json {
    match n {
        diskcache::Number::Int(i) => json!(i),
        diskcache::Number::Float(x) => float_json(x),
    }
}

/// A float as JSON: a number if finite, else `{"float": "nan" | "inf" | "-inf"}`.
fn float_json(x: f64) -> Json {
    match Number::from_f64(x) {
        Some(n) => Json::Number(n),
        None if x.is_nan() => json!({"float": "nan"}),
        None if x > 0.0 => json!({"float": "inf"}),
        None => json!({"float": "-inf"}),
    }
}

/// The number `n` as a float.
fn number_f64(n: &Number) -> f64 {
    n.as_f64().unwrap_or(f64::NAN)
}

/// The key (or tag) a JSON value names.
pub fn key_from_json(v: &Json) -> Result<Key, String> {
    let key = match (v, special(v)) {
        (Json::Number(n), _) => match n.as_i64() {
            Some(i) => Key::Int(i),
            None => Key::from(number_f64(n)),
        },
        (Json::String(s), _) => Key::Str(s.clone()),
        (_, Some(("bytes", inner))) => Key::Bytes(bytes_of(inner)?),
        (_, Some(("float", inner))) => Key::from(float_of(inner)?),
        (_, Some(("json", inner))) => Key::from_serialize(inner).map_err(|e| e.to_string())?,
        (_, Some(("composite", inner))) => {
            let element = inner.as_str().and_then(unhex).ok_or_else(|| {
                format!("{{\"composite\": ..}} takes a string of hex digits, not {inner}")
            })?;
            let key = Key::Other(element);
            key.encode().map_err(|e| e.to_string())?;
            key
        }
        (_, Some((field, _))) => return Err(format!("{{\"{field}\": ..}} is not a key")),
        _ => Key::from_serialize(v).map_err(|e| e.to_string())?,
    };
    Ok(key)
}

/// The JSON form of a key (or tag); reads back as the same key with [`key_from_json`].
pub fn key_to_json(k: &Key) -> Json {
    match k {
        Key::Int(i) => json!(i),
        Key::Float(x) => float_json(*x),
        Key::Str(s) => json!(s),
        Key::Bytes(b) => json!({"bytes": hex(b)}),
        Key::Other(element) => {
            if let Ok(v) = k.decode::<Json>() {
                for form in [v.clone(), json!({"json": v})] {
                    if key_from_json(&form).is_ok_and(|back| &back == k) {
                        return form;
                    }
                }
            }
            json!({"composite": hex(element)})
        }
    }
}

/// The value a JSON value names.
pub fn value_from_json(v: &Json) -> Result<Value, String> {
    Ok(match (v, special(v)) {
        (Json::Number(n), _) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(number_f64(n)),
        },
        (Json::String(s), _) => Value::Text(s.clone()),
        (_, Some(("bytes", inner))) => Value::Bytes(bytes_of(inner)?),
        (_, Some(("float", inner))) => Value::Float(float_of(inner)?),
        (_, Some(("json", inner))) => Value::Json(inner.clone()),
        (_, Some((field, _))) => {
            return Err(format!(
                "{{\"{field}\": ..}} is not a value that can be stored"
            ));
        }
        _ => Value::Json(v.clone()),
    })
}

/// The JSON form of a value; reads back as the same value with [`value_from_json`] (but
/// `{"serialized": hex}`, which cannot be stored).
pub fn value_to_json(v: &Value) -> Json {
    match v {
        Value::Int(i) => json!(i),
        Value::Float(x) => float_json(*x),
        Value::Text(s) => json!(s),
        Value::Bytes(b) => json!({"bytes": hex(b)}),
        Value::Serialized(b) => json!({"serialized": hex(b)}),
        Value::Json(j) => {
            let bare = matches!(j, Json::Null | Json::Bool(_) | Json::Array(_))
                || (j.is_object() && special(j).is_none());
            if bare { j.clone() } else { json!({"json": j}) }
        }
    }
}

/// A key for people: Python's `repr` style (`'text'`, `b'\x00'`, `42`, `(1, 'a')`).
pub fn key_display(k: &Key) -> String {
    k.to_string()
}

/// A value for people: as a key would show it for native kinds, JSON for composites.
pub fn value_display(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Float(x) => format!("{x:?}"),
        Value::Text(s) => Key::Str(s.clone()).to_string(),
        Value::Bytes(b) => Key::Bytes(b.clone()).to_string(),
        Value::Json(j) => j.to_string(),
        Value::Serialized(b) => format!("<serialized value: {} bytes: {}>", b.len(), hex(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_form_reads_back_as_its_key() {
        let keys = [
            Key::Int(-3),
            Key::Float(2.5),
            Key::Float(f64::INFINITY),
            Key::Str("x".into()),
            Key::Bytes(vec![0, 255]),
            Key::from_serialize(&(1, "a")).unwrap(),
            Key::from_serialize(&json!({"bytes": "00"})).unwrap(),
            Key::from_serialize(&json!(null)).unwrap(),
            Key::from_serialize(&Some("x")).unwrap(),
            Key::from_serialize(&json!({"a": [true, 1.5]})).unwrap(),
        ];
        for k in keys {
            let j = key_to_json(&k);
            assert_eq!(key_from_json(&j).unwrap(), k, "{j}");
        }
        assert_eq!(
            key_to_json(&Key::from_serialize(&(1, "a")).unwrap()),
            json!([1, "a"])
        );
        assert_eq!(
            key_to_json(&Key::from_serialize(&json!({"bytes": "00"})).unwrap()),
            json!({"json": {"bytes": "00"}})
        );
        assert_eq!(key_from_json(&json!(1.0)).unwrap(), Key::Int(1));
    }

    #[test]
    fn every_value_form_reads_back_as_its_value() {
        let values = [
            Value::Int(7),
            Value::Float(1.0),
            Value::Float(f64::NEG_INFINITY),
            Value::Text("t".into()),
            Value::Bytes(vec![1]),
            Value::Json(json!([1, 2])),
            Value::Json(json!(null)),
            Value::Json(json!(5)),
            Value::Json(json!("s")),
            Value::Json(json!({"float": 1})),
            Value::Json(json!({"a": 1})),
        ];
        for v in values {
            let j = value_to_json(&v);
            assert_eq!(value_from_json(&j).unwrap(), v, "{j}");
        }
        assert_eq!(value_to_json(&Value::Float(1.0)).to_string(), "1.0");
        assert!(value_from_json(&json!({"serialized": "00"})).is_err());
        assert!(value_from_json(&json!({"bytes": "0"})).is_err());
    }

    #[test]
    fn arguments_are_json_when_they_parse() {
        assert_eq!(parse_arg("42"), json!(42));
        assert_eq!(parse_arg("\"42\""), json!("42"));
        assert_eq!(parse_arg("hello world"), json!("hello world"));
        assert_eq!(parse_arg("{\"bytes\":\"00ff\"}"), json!({"bytes": "00ff"}));
    }
}
