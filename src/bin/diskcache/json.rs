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

/// A command-line argument as JSON: the JSON it parses as, or else a string of its text. An
/// argument that looks like JSON ([`looks_like_json`]) but does not parse is an error, as is
/// one with an integer beyond 64 bits ([`integers_fit`]).
pub fn parse_arg(text: &str) -> Result<Json, String> {
    match serde_json::from_str(text) {
        Ok(v) => integers_fit(text.as_bytes()).map(|()| v),
        Err(e) if looks_like_json(text) => {
            Err(format!("'{text}' looks like JSON but does not parse ({e})"))
        }
        Err(_) => Ok(Json::String(text.to_owned())),
    }
}

/// A command-line KEY or TAG: [`parse_arg`], then [`key_from_json`]; an argument that is not
/// JSON says how to give it as a text.
pub fn key_arg(text: &str) -> Result<Key, String> {
    let hint = |e: String| {
        let quoted = serde_json::to_string(text).unwrap_or_default();
        format!("{e}; to mean the text, write it as a JSON string: '{quoted}'")
    };
    let v = parse_arg(text).map_err(hint)?;
    key_from_json(&v).map_err(|e| if v.is_number() { hint(e) } else { e })
}

/// Whether an argument that is not JSON was meant as JSON: it starts with `{`, `[` or `"`, or
/// has the shape of a JSON number that JSON refuses (`007`, `1.`, `.5`, `1e999`). Anything
/// else (`hello`, `2024-01-01`, `1.2.3`, `-`) is a text.
fn looks_like_json(text: &str) -> bool {
    let t = text.trim();
    if t.starts_with(['{', '[', '"']) {
        return true;
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let unsigned = t.strip_prefix('-').unwrap_or(t);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (unsigned, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (int.is_empty() || digits(int))
                && (frac.is_empty() || digits(frac))
                && !(int.is_empty() && frac.is_empty())
        }
        None => digits(mantissa),
    };
    mantissa_ok && exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)))
}

/// Refuses a JSON text (already known to parse) with an integer literal, one with no fraction
/// and no exponent, that fits neither an `i64` nor a `u64`: serde_json would read it as a
/// float, so `99999999999999999999` would silently be `1e20`.
pub fn integers_fit(text: &[u8]) -> Result<(), String> {
    let mut at = 0;
    let mut in_string = false;
    while let Some(&b) = text.get(at) {
        at += 1;
        match b {
            b'\\' if in_string => at += 1,
            b'"' => in_string = !in_string,
            b'-' | b'0'..=b'9' if !in_string => {
                let start = at - 1;
                while text
                    .get(at)
                    .is_some_and(|c| c.is_ascii_digit() || b"+-.eE".contains(c))
                {
                    at += 1;
                }
                let literal = text.get(start..at).unwrap_or_default();
                let literal = std::str::from_utf8(literal).unwrap_or_default();
                let integral = !literal.contains(['.', 'e', 'E']);
                if integral && literal.parse::<i64>().is_err() && literal.parse::<u64>().is_err() {
                    return Err(beyond_i64(literal));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The error for an integer that does not fit where it stands.
fn beyond_i64(literal: &str) -> String {
    format!(
        "the integer {literal} is outside i64 (-2^63 to 2^63-1); to mean a float, write a \
         fraction or an exponent ({literal}.0)"
    )
}

/// A top-level JSON number that is not an `i64` must have been written as a float: an
/// integer between 2^63 and 2^64 (which serde_json keeps as a `u64`) is refused.
fn refuse_beyond_i64(n: &Number) -> Result<(), String> {
    match n.as_u64() {
        Some(_) => Err(beyond_i64(&n.to_string())),
        None => Ok(()),
    }
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
            None => refuse_beyond_i64(n).map(|()| Key::from(number_f64(n)))?,
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
            None => refuse_beyond_i64(n).map(|()| Value::Float(number_f64(n)))?,
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
        assert_eq!(parse_arg("42"), Ok(json!(42)));
        assert_eq!(parse_arg("\"42\""), Ok(json!("42")));
        assert_eq!(parse_arg("hello world"), Ok(json!("hello world")));
        assert_eq!(
            parse_arg("{\"bytes\":\"00ff\"}"),
            Ok(json!({"bytes": "00ff"}))
        );
        for text in ["-", "2024-01-01", "1.2.3", "1e", "-x", "nan", "{", "a{"] {
            let expected = if text == "{" { None } else { Some(json!(text)) };
            assert_eq!(parse_arg(text).ok(), expected, "{text}");
        }
    }

    #[test]
    fn arguments_that_look_like_json_but_do_not_parse_are_refused() {
        for text in [
            "{\"bad json",
            "[1,",
            "\"open",
            " {x}",
            "007",
            "1.",
            ".5",
            "-1e999",
        ] {
            let e = parse_arg(text).unwrap_err();
            assert!(e.contains("looks like JSON"), "{text}: {e}");
        }
        let e = key_arg("{bad").unwrap_err();
        assert!(e.ends_with("'\"{bad\"'"), "{e}");
        let e = key_arg("18446744073709551615").unwrap_err();
        assert!(
            e.contains("outside i64") && e.ends_with("JSON string: '\"18446744073709551615\"'")
        );
    }

    #[test]
    fn integers_beyond_i64_are_refused_not_made_floats() {
        for text in [
            "99999999999999999999",
            "-9223372036854775809",
            "[1, 99999999999999999999]",
            "{\"a\": {\"b\": -99999999999999999999}}",
        ] {
            let e = parse_arg(text).unwrap_err();
            assert!(e.contains("outside i64"), "{text}: {e}");
        }
        // Between 2^63 and 2^64: a composite may hold it, a bare key or value may not.
        let big = parse_arg("18446744073709551615").unwrap();
        assert!(value_from_json(&big).unwrap_err().contains("outside i64"));
        assert!(key_from_json(&big).unwrap_err().contains("outside i64"));
        let inner = parse_arg("[18446744073709551615]").unwrap();
        assert_eq!(value_from_json(&inner), Ok(Value::Json(inner.clone())));
        // Floats, and digits inside strings, are what they were.
        assert_eq!(parse_arg("1e20"), Ok(json!(1e20)));
        assert_eq!(parse_arg("-9223372036854775808"), Ok(json!(i64::MIN)));
        assert_eq!(
            parse_arg("[\"99999999999999999999\", \"\\\"\", 99999999999999999999.0]"),
            Ok(json!(["99999999999999999999", "\"", 1e20]))
        );
        assert!(integers_fit(b"{\"99999999999999999999\": 1}").is_ok());
    }
}
