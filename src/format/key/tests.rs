use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;

use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::*;

const TWO_63: f64 = 9_223_372_036_854_775_808.0;

fn enc(k: impl Into<Key>) -> Vec<u8> {
    k.into().encode().unwrap()
}

fn invalid(r: Result<impl Debug>) -> String {
    match r {
        Err(Error::InvalidArgument(m)) => m,
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

fn corrupted(bytes: &[u8]) -> String {
    match Key::from_encoded(bytes) {
        Err(Error::Corrupted(m)) => m.to_string(),
        other => panic!("expected Corrupted for {bytes:02x?}, got {other:?}"),
    }
}

/// from_serialize → encode → from_encoded → decode gives back `v`.
fn roundtrip<T: Serialize + DeserializeOwned + PartialEq + Debug>(v: &T) -> Key {
    let key = Key::from_serialize(v).unwrap();
    let bytes = key.encode().unwrap();
    let back = Key::from_encoded(&bytes).unwrap();
    assert_eq!(back, key);
    assert_eq!(back.encode().unwrap(), bytes);
    assert_eq!(&back.decode::<T>().unwrap(), v);
    key
}

#[derive(Serialize, Deserialize, PartialEq, Debug, Clone)]
struct Point {
    x: i32,
    y: f64,
    name: String,
}

#[derive(Serialize, Deserialize, PartialEq, Debug, Clone)]
struct Meters(u32);

#[derive(Serialize, Deserialize, PartialEq, Debug, Clone)]
struct Pair(i8, bool);

#[derive(Serialize, Deserialize, PartialEq, Debug, Clone)]
struct Marker;

#[derive(Serialize, Deserialize, PartialEq, Debug, Clone)]
enum Shape {
    Empty,
    Circle(f64),
    Rect(u16, u16),
    Named { id: i64, tags: Vec<String> },
}

#[test]
fn integral_floats_are_ints() {
    assert_eq!(Key::from(1.0), Key::Int(1));
    assert!(matches!(Key::from(1.0), Key::Int(1)));
    assert!(matches!(Key::from(-0.0), Key::Int(0)));
    assert!(matches!(Key::from(1.5f32), Key::Float(_)));
    assert_eq!(Key::Float(1.0), Key::from(1));
    assert_eq!(enc(Key::Float(1.0)), enc(1));
    assert_eq!(enc(-0.0), enc(0));
    assert_eq!(enc(Key::Float(-0.0)), enc(0));
    assert!(matches!(
        Key::from_encoded(&enc(Key::Float(1.0))).unwrap(),
        Key::Int(1)
    ));
    assert_eq!(Key::Float(3.0).decode::<i64>().unwrap(), 3);
    let mut h = HashMap::new();
    h.insert(Key::Float(2.0), "two");
    assert_eq!(h.get(&Key::Int(2)), Some(&"two"));
}

#[test]
fn number_layout() {
    assert_eq!(enc(0), [0x11, 0x80, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        enc(-1),
        [0x11, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0]
    );
    let mut half = vec![0x11, 0x80, 0, 0, 0, 0, 0, 0, 1, 1];
    half.extend(0.5f64.to_bits().to_be_bytes());
    assert_eq!(enc(1.5), half);
    assert_eq!(
        enc(TWO_63),
        [vec![0x12], TWO_63.to_bits().to_be_bytes().to_vec()].concat()
    );
    assert_eq!(enc(-1e300)[0], 0x10);
    assert_eq!(enc("ab"), b"\x20ab");
    assert_eq!(enc(&b"a\0"[..]), b"\x30a\0");
    let k = Key::from_serialize(&("a\0", 1u8)).unwrap();
    assert_eq!(
        k.encode().unwrap()[..8],
        [0x40, 0x40, 0x20, b'a', 0, 0xff, 0, 0x11]
    );
}

#[test]
fn number_edges_order() {
    let ordered = [
        Key::from(f64::NEG_INFINITY),
        Key::from(-1e300),
        Key::from(-TWO_63 * 2.0),
        Key::Int(i64::MIN),
        Key::Int(i64::MIN + 1),
        Key::from(-4503599627370495.5),
        Key::from(-2),
        Key::from(-1.5),
        Key::from(-1),
        Key::from(-0.5),
        Key::from(-1e-300),
        Key::from(-5e-324),
        Key::from(0),
        Key::from(5e-324),
        Key::from(1e-300),
        Key::from(0.5),
        Key::from(1),
        Key::from(1.25),
        Key::from(1.5),
        Key::from(2),
        Key::from(4503599627370495.5),
        Key::from(4503599627370496.0),
        Key::Int(i64::MAX),
        Key::from(TWO_63),
        Key::from(1e300),
        Key::from(f64::INFINITY),
        Key::from(""),
        Key::from("a"),
        Key::from(&[0u8]),
        Key::from_serialize(&()).unwrap(),
    ];
    for w in ordered.windows(2) {
        assert!(w[0] < w[1], "{} < {}", w[0], w[1]);
        assert!(enc(&w[0]) < enc(&w[1]), "{} < {}", w[0], w[1]);
    }
    for k in &ordered {
        let back = Key::from_encoded(&enc(k)).unwrap();
        assert_eq!(&back, k);
        assert_eq!(back.to_string(), k.to_string());
    }
    assert_eq!(Key::from(-TWO_63), Key::Int(i64::MIN));
    assert!(matches!(
        Key::from_encoded(&enc(Key::Float(-TWO_63))).unwrap(),
        Key::Int(i64::MIN)
    ));
    assert_eq!(
        Key::from_encoded(&enc(-1e-300))
            .unwrap()
            .decode::<f64>()
            .unwrap(),
        -1e-300
    );
    assert_eq!(
        Key::from_encoded(&enc(5e-324))
            .unwrap()
            .decode::<f64>()
            .unwrap(),
        5e-324
    );
    assert_eq!(
        Key::from_encoded(&enc(-5e-324))
            .unwrap()
            .decode::<f64>()
            .unwrap(),
        -5e-324
    );
}

#[test]
fn nan_is_an_invalid_argument_and_size_is_not() {
    assert!(invalid(Key::Float(f64::NAN).encode()).contains("NaN"));
    assert!(invalid(Key::from_serialize(&f64::NAN)).contains("NaN"));
    assert!(invalid(Key::from_serialize(&(1, vec![Some(f32::NAN)]))).contains("NaN"));
    // Keys longer than MAX_KEY_BYTES encode and decode (they are stored under an index key);
    // tags do not.
    let big = "x".repeat(MAX_KEY_BYTES);
    let encoded = Key::from(big.as_str()).encode().unwrap();
    assert_eq!(encoded.len(), MAX_KEY_BYTES + 1);
    assert_eq!(
        Key::from_encoded(&encoded).unwrap(),
        Key::from(big.as_str())
    );
    let msg = invalid(Key::from(big.as_str()).encode_tag());
    assert!(
        msg.contains(&(MAX_KEY_BYTES + 1).to_string()) && msg.contains(&MAX_KEY_BYTES.to_string())
    );
    assert!(Key::from(&big[1..]).encode_tag().is_ok());
    let tuple = Key::from_serialize(&(big.as_str(),)).unwrap();
    assert_eq!(Key::from_encoded(&tuple.encode().unwrap()).unwrap(), tuple);
    let mut out = vec![7];
    invalid(Key::Float(f64::NAN).encode_into(&mut out));
    assert_eq!(out, [7]);
    // NaN keys still compare reflexively.
    let nan = Key::Float(f64::NAN);
    assert_eq!(nan, nan.clone());
    assert!(nan > Key::from(f64::INFINITY) && nan < Key::from(""));
}

#[test]
fn integers_outside_i64_are_invalid() {
    assert!(invalid(Key::from_serialize(&u64::MAX)).contains("18446744073709551615"));
    invalid(Key::from_serialize(&(i64::MAX as u64 + 1)));
    invalid(Key::from_serialize(&i128::MIN));
    invalid(Key::from_serialize(&(1u128 << 64)));
    assert_eq!(
        Key::from_serialize(&(i64::MAX as u64)).unwrap(),
        Key::Int(i64::MAX)
    );
    assert_eq!(
        Key::from_serialize(&i128::from(i64::MIN)).unwrap(),
        Key::Int(i64::MIN)
    );
    assert_eq!(Key::Int(7).decode::<u128>().unwrap(), 7);
}

#[test]
fn top_level_values_give_native_variants() {
    assert!(matches!(Key::from_serialize(&5i32).unwrap(), Key::Int(5)));
    assert!(matches!(Key::from_serialize(&2.0f64).unwrap(), Key::Int(2)));
    assert!(matches!(Key::from_serialize(&2.5f32).unwrap(), Key::Float(x) if x == 2.5));
    assert!(matches!(Key::from_serialize("a\0b").unwrap(), Key::Str(s) if s == "a\0b"));
    assert!(matches!(Key::from_serialize(&'c').unwrap(), Key::Str(s) if s == "c"));
    let b = serde_bytes::Bytes::new(b"\0\xff");
    assert!(matches!(Key::from_serialize(b).unwrap(), Key::Bytes(v) if v == b"\0\xff"));
    assert!(matches!(
        Key::from_serialize(&Meters(3)).unwrap(),
        Key::Int(3)
    ));
    assert!(matches!(
        Key::from_serialize(&Some(3)).unwrap(),
        Key::Other(_)
    ));
    assert!(matches!(
        Key::from_serialize(&vec![1u8]).unwrap(),
        Key::Other(_)
    ));
}

#[test]
fn decode_native_variants() {
    assert_eq!(Key::Int(3).decode::<i64>().unwrap(), 3);
    assert_eq!(Key::Int(3).decode::<u8>().unwrap(), 3);
    assert_eq!(Key::Int(3).decode::<f64>().unwrap(), 3.0);
    assert_eq!(Key::Float(2.5).decode::<f32>().unwrap(), 2.5);
    assert_eq!(Key::from("hé").decode::<String>().unwrap(), "hé");
    assert_eq!(Key::from("é").decode::<char>().unwrap(), 'é');
    assert_eq!(Key::from(b"ab").decode::<Vec<u8>>().unwrap(), b"ab");
    assert_eq!(Key::from(b"ab").decode::<[u8; 2]>().unwrap(), *b"ab");
    assert_eq!(
        Key::from(b"ab")
            .decode::<serde_bytes::ByteBuf>()
            .unwrap()
            .into_vec(),
        b"ab"
    );
    assert_eq!(Key::Int(3).decode::<Meters>().unwrap(), Meters(3));
}

#[test]
fn wrong_type_is_a_codec_error() {
    fn codec<T: Debug>(r: Result<T>) -> String {
        match r {
            Err(Error::Codec(m)) => m.to_string(),
            other => panic!("expected Codec, got {other:?}"),
        }
    }
    codec(Key::Int(3).decode::<String>());
    codec(Key::Float(1.5).decode::<i64>());
    codec(Key::Int(300).decode::<u8>());
    codec(Key::Int(3).decode::<Option<i64>>());
    codec(Key::from("ab").decode::<char>());
    codec(Key::from(b"\xff").decode::<String>());
    let tuple = Key::from_serialize(&(1, 2, 3)).unwrap();
    let m = codec(tuple.decode::<(i64, i64)>());
    assert!(m.contains("invalid length 3"), "{m}");
    codec(tuple.decode::<(i64, i64, i64, i64)>());
    codec(tuple.decode::<Point>());
    let unit = Key::from_serialize(&Shape::Empty).unwrap();
    codec(unit.decode::<Option<u8>>());
    let circle = Key::from_serialize(&Shape::Circle(1.0)).unwrap();
    codec(circle.decode::<Pair>());
    #[derive(Deserialize, Debug)]
    enum Other {
        #[allow(dead_code)]
        A(u8),
    }
    codec(unit.decode::<Other>());
    codec(circle.decode::<Other>());
}

#[test]
fn composites_roundtrip() {
    roundtrip(&(1i64, "a".to_string()));
    roundtrip(&(-1.5f64, 'x', true, false, ()));
    roundtrip(&Point {
        x: -3,
        y: 0.25,
        name: "p\0".into(),
    });
    roundtrip(&Pair(-8, true));
    roundtrip(&Marker);
    roundtrip(&Meters(5));
    roundtrip(&vec![Some(1), None, Some(-1)]);
    roundtrip(&Some(Some(None::<i32>)));
    roundtrip(&None::<String>);
    roundtrip(&vec![Shape::Empty, Shape::Circle(2.5), Shape::Rect(1, 2)]);
    roundtrip(&Shape::Named {
        id: 9,
        tags: vec!["a".into(), String::new()],
    });
    roundtrip(&Shape::Empty);
    roundtrip(&(serde_bytes::ByteBuf::from(vec![0, 0, 255]), vec![(); 2]));
    roundtrip(&BTreeMap::from([
        ("b".to_string(), 2),
        ("a".to_string(), 1),
    ]));
    roundtrip(&Vec::<u8>::new());
    roundtrip(&vec![vec![1u8, 0], vec![]]);
    roundtrip(&[f64::INFINITY, f64::NEG_INFINITY, TWO_63, -1e-300]);
    roundtrip(&(u64::MAX >> 1, i64::MIN));
}

#[test]
fn equal_maps_give_equal_keys() {
    let mut a = HashMap::new();
    let mut b = HashMap::new();
    for i in 0..50 {
        a.insert(format!("k{i}"), i);
        b.insert(format!("k{}", 49 - i), 49 - i);
    }
    let (ka, kb) = (roundtrip(&a), roundtrip(&b));
    assert_eq!(ka.encode().unwrap(), kb.encode().unwrap());
    assert_eq!(ka.decode::<BTreeMap<String, i32>>().unwrap().len(), 50);
}

#[test]
fn malformed_bytes_are_corrupted() {
    corrupted(b"");
    corrupted(b"\x99");
    corrupted(b"\x11\x80");
    corrupted(&enc(1)[..9]);
    corrupted(&[enc(1), vec![0]].concat());
    corrupted(&[enc(1.5), vec![0]].concat());
    corrupted(b"\x20\xff");
    corrupted(b"\x40");
    corrupted(b"\x40\x40\x01");
    corrupted(b"\x40\x20a");
    corrupted(b"\x40\x20\xc3\x00");
    corrupted(b"\x40\x20a\x00\x00");
    corrupted(b"\x40\x20a\x00\xfe");
    corrupted(b"\x40\x06");
    corrupted(b"\x40\x00");
    corrupted(b"\x40\x52\0\0\0\0\x01");
    // Map entries out of order.
    corrupted(
        &[
            b"\x40\x41".to_vec(),
            enc(2)[..].to_vec(),
            enc(0),
            enc(1),
            enc(0),
            vec![0],
        ]
        .concat(),
    );
    // Nesting: 128 levels is fine, 129 is not, and hostile depth does not overflow the stack.
    let nested = |n: usize| [vec![0x40; n + 1], vec![0; n]].concat();
    assert!(Key::from_encoded(&nested(MAX_DEPTH + 1)).is_ok());
    assert!(corrupted(&nested(MAX_DEPTH + 2)).contains("deeper"));
    corrupted(&[vec![0x40], vec![0x05; 10_000], vec![0x01]].concat());
    let mut v = serde_json_like(MAX_DEPTH);
    assert!(Key::from_serialize(&v).is_ok());
    v = vec![Nest(v)];
    assert!(invalid(Key::from_serialize(&v)).contains("deeper"));
}

/// Nested `Vec`s `depth` deep, as a recursive enum-free type.
fn serde_json_like(depth: usize) -> Vec<Nest> {
    let mut v = Vec::new();
    for _ in 0..depth {
        v = vec![Nest(v)];
    }
    v
}

#[derive(Serialize, Debug)]
struct Nest(Vec<Nest>);

#[test]
fn non_canonical_numbers_are_corrupted() {
    let mid = |floor: i64, marker: u8, frac: Option<u64>| {
        let mut b = vec![0x11];
        b.extend((floor.cast_unsigned() ^ SIGN).to_be_bytes());
        b.push(marker);
        if let Some(f) = frac {
            b.extend(f.to_be_bytes());
        }
        b
    };
    corrupted(&mid(1, 2, None));
    corrupted(&mid(1, 1, Some(0.0f64.to_bits())));
    corrupted(&mid(1, 1, Some(1.0f64.to_bits())));
    corrupted(&mid(1, 1, Some(1.5f64.to_bits())));
    corrupted(&mid(1, 1, Some(f64::NAN.to_bits())));
    corrupted(&mid(1, 1, Some((-0.5f64).to_bits())));
    corrupted(&mid(1 << 53, 1, Some(0.5f64.to_bits())));
    corrupted(&mid(-1, 1, Some(0.5f64.to_bits()))); // a negative needs the NOT form
    assert!(Key::from_encoded(&mid(-1, 1, Some(!0.5f64.to_bits()))).is_ok());
    let low = |x: f64| [vec![0x10], (!x.to_bits()).to_be_bytes().to_vec()].concat();
    let high = |x: f64| [vec![0x12], x.to_bits().to_be_bytes().to_vec()].concat();
    assert!(Key::from_encoded(&low(-1e300)).is_ok());
    corrupted(&low(-TWO_63));
    corrupted(&low(-1.0));
    corrupted(&low(f64::NAN));
    corrupted(&low(-f64::NAN));
    assert!(Key::from_encoded(&high(TWO_63)).is_ok());
    corrupted(&high(TWO_63 / 2.0));
    corrupted(&high(f64::NAN));
    corrupted(&high(-1e300));
    let msg = invalid(Key::Other([vec![0x40], high(f64::NAN), vec![0]].concat()).encode());
    assert!(msg.contains("NaN"));
}

#[test]
fn display_is_python_like() {
    let show = |k: Key| k.to_string();
    let ser = |v: &dyn erased::Ser| show(v.key());
    assert_eq!(show(Key::Int(42)), "42");
    assert_eq!(show(Key::from(1.5)), "1.5");
    assert_eq!(show(Key::Float(2.0)), "2");
    assert_eq!(show(Key::from(0.1)), "0.1");
    assert_eq!(show(Key::Float(f64::NAN)), "nan");
    assert_eq!(show(Key::from("it's \\ \n\u{1}é")), r#""it's \\ \n\x01é""#);
    assert_eq!(show(Key::from("a'\"")), r#"'a\'"'"#);
    assert_eq!(show(Key::from(b"\0ab'\xff")), r#"b"\x00ab'\xff""#);
    assert_eq!(ser(&(1, "a")), "(1, 'a')");
    assert_eq!(ser(&(1,)), "(1,)");
    assert_eq!(ser(&Vec::<i32>::new()), "()");
    assert_eq!(ser(&BTreeMap::from([("k", 1)])), "{'k': 1}");
    assert_eq!(
        ser(&(None::<i32>, Some(true), false, ())),
        "(None, True, False, ())"
    );
    assert_eq!(
        ser(&vec![Shape::Empty, Shape::Circle(0.5), Shape::Rect(1, 2)]),
        "(#0, #1(0.5), #2(1, 2))"
    );
    assert_eq!(ser(&serde_bytes::ByteBuf::from(b"x".to_vec())), "b'x'");
    assert_eq!(show(Key::Other(vec![0x99])), "<composite key: 1 bytes>");
}

mod erased {
    pub trait Ser {
        fn key(&self) -> super::Key;
    }
    impl<T: serde::Serialize> Ser for T {
        fn key(&self) -> super::Key {
            super::Key::from_serialize(self).unwrap()
        }
    }
}

#[test]
fn conversions() {
    assert_eq!(Key::from(7u8), Key::Int(7));
    assert_eq!(Key::from(u32::MAX), Key::Int(u32::MAX.into()));
    assert_eq!(Key::from('x'), Key::from("x"));
    assert_eq!(Key::from(&"s".to_string()), Key::from(String::from("s")));
    assert_eq!(Key::from(&[1u8, 2]), Key::from(vec![1u8, 2]));
    assert_eq!(Key::from(&b"12"[..]), Key::Bytes(b"12".to_vec()));
    assert_eq!(Key::from(&Key::Int(1)), Key::Int(1));
    assert_ne!(Key::from("1"), Key::from(b"1"));
}

/// A number with its exact order, for comparing ints and floats.
#[derive(Clone, Copy, Debug)]
enum N {
    I(i64),
    F(f64),
}

impl N {
    fn key(self) -> Key {
        match self {
            N::I(i) => Key::from(i),
            N::F(x) => Key::from(x),
        }
    }
}

/// Compares an integer with a float exactly (no casting the integer to a float).
fn cmp_int_float(i: i64, x: f64) -> Ordering {
    if x >= TWO_63 {
        Ordering::Less
    } else if x < -TWO_63 {
        Ordering::Greater
    } else {
        let floor = x.floor();
        i.cmp(&(floor as i64)).then(if x == floor {
            Ordering::Equal
        } else {
            Ordering::Less
        })
    }
}

fn cmp_n(a: N, b: N) -> Ordering {
    match (a, b) {
        (N::I(a), N::I(b)) => a.cmp(&b),
        (N::F(a), N::F(b)) => a.partial_cmp(&b).unwrap(),
        (N::I(a), N::F(b)) => cmp_int_float(a, b),
        (N::F(a), N::I(b)) => cmp_int_float(b, a).reverse(),
    }
}

fn any_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>()
            .prop_map(f64::from_bits)
            .prop_filter("not NaN", |x| !x.is_nan()),
        any::<i32>().prop_map(f64::from),
        (any::<i16>(), 0.0..1.0).prop_map(|(i, f)| f64::from(i) + f),
        (-1e20..1e20f64),
        Just(TWO_63),
        Just(-TWO_63),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
    ]
}

fn any_number() -> impl Strategy<Value = N> {
    prop_oneof![
        any::<i64>().prop_map(N::I),
        (-1000i64..1000).prop_map(N::I),
        any_float().prop_map(N::F),
    ]
}

fn any_key() -> impl Strategy<Value = Key> {
    prop_oneof![
        any_number().prop_map(N::key),
        any_float().prop_map(Key::Float),
        ".{0,20}".prop_map(Key::Str),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(Key::Bytes),
        any::<(i64, String)>().prop_map(|t| Key::from_serialize(&t).unwrap()),
        any::<Vec<Option<i32>>>().prop_map(|v| Key::from_serialize(&v).unwrap()),
        proptest::collection::btree_map(
            any::<u8>(),
            (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..5)),
            0..10
        )
        .prop_map(|m| Key::from_serialize(&m).unwrap()),
    ]
}

/// Bytes that are often close to valid encodings.
fn near_valid() -> impl Strategy<Value = Vec<u8>> {
    let interesting = prop_oneof![
        prop::sample::select(vec![
            0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x10, 0x11, 0x12, 0x20, 0x30, 0x40, 0x41, 0x50,
            0x51, 0x52, 0x80, 0xff, b'a'
        ]),
        any::<u8>(),
    ];
    prop_oneof![
        proptest::collection::vec(interesting, 0..40),
        (any_key(), any::<usize>(), any::<u8>(), any::<bool>()).prop_map(|(k, at, byte, cut)| {
            let mut b = k.encode().unwrap();
            let at = at % b.len();
            if cut {
                b.truncate(at);
            } else {
                b[at] = byte;
            }
            b
        }),
    ]
}

proptest! {
    #[test]
    fn keys_roundtrip(k in any_key()) {
        let bytes = k.encode().unwrap();
        let back = Key::from_encoded(&bytes).unwrap();
        prop_assert_eq!(&back, &k);
        prop_assert_eq!(back.encode().unwrap(), bytes);
        prop_assert_eq!(back.to_string(), k.to_string());
    }

    #[test]
    fn values_roundtrip(t in any::<(i64, String)>(), v in any::<Vec<Option<i32>>>(), x in any_float(),
                        s in ".*", b in any::<Vec<u8>>(), m in any::<HashMap<String, Vec<bool>>>()) {
        roundtrip(&t);
        roundtrip(&v);
        roundtrip(&s);
        roundtrip(&serde_bytes::ByteBuf::from(b.clone()));
        prop_assert_eq!(Key::from(b.as_slice()).decode::<Vec<u8>>().unwrap(), b);
        roundtrip(&m);
        roundtrip(&(x, Some(x)));
        prop_assert_eq!(Key::from(x).decode::<f64>().unwrap(), x);
    }

    #[test]
    fn numbers_order_numerically(a in any_number(), b in any_number()) {
        let (ka, kb) = (a.key(), b.key());
        prop_assert_eq!(ka.encode().unwrap().cmp(&kb.encode().unwrap()), cmp_n(a, b));
        prop_assert_eq!(ka.cmp(&kb), cmp_n(a, b));
    }

    #[test]
    fn texts_and_bytes_order_bytewise(a in ".{0,8}", b in ".{0,8}", x in any::<Vec<u8>>(), y in any::<Vec<u8>>()) {
        prop_assert_eq!(enc(a.as_str()).cmp(&enc(b.as_str())), a.as_bytes().cmp(b.as_bytes()));
        prop_assert_eq!(enc(&x[..]).cmp(&enc(&y[..])), x.cmp(&y));
    }

    #[test]
    fn classes_order(n in any_number(), s in ".*", b in any::<Vec<u8>>(), c in any::<(i64, String)>()) {
        let keys = [n.key(), Key::from(s), Key::from(b), Key::from_serialize(&c).unwrap()];
        for w in keys.windows(2) {
            prop_assert!(w[0].encode().unwrap() < w[1].encode().unwrap());
            prop_assert!(w[0] < w[1]);
        }
    }

    #[test]
    fn composites_order_like_their_values(a in any::<(i64, String)>(), b in any::<(i64, String)>(),
                                          c in any::<(String, Option<i8>)>(), d in any::<(String, Option<i8>)>(),
                                          e in any::<Vec<(bool, i16)>>(), f in any::<Vec<(bool, i16)>>()) {
        let order = |x: &dyn erased::Ser, y: &dyn erased::Ser| x.key().encode().unwrap().cmp(&y.key().encode().unwrap());
        prop_assert_eq!(order(&a, &b), a.cmp(&b));
        prop_assert_eq!(order(&c, &d), c.cmp(&d));
        prop_assert_eq!(order(&e, &f), e.cmp(&f));
        let (zc, zd) = ((c.0.replace('a', "\0"), c.1), (d.0.replace('a', "\0"), d.1));
        prop_assert_eq!(order(&zc, &zd), zc.cmp(&zd));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in near_valid()) {
        if let Ok(k) = Key::from_encoded(&bytes) {
            prop_assert_eq!(k.encode().unwrap(), bytes);
            let _ = k.to_string();
        }
    }
}

#[test]
fn encoded_len_is_the_length_of_the_encoding() {
    let keys = [
        Key::from(2.5),
        Key::from(-2.5),
        Key::from(1e300),
        Key::from(-1e300),
        Key::from(7),
        Key::from("text"),
        Key::from(&b"bytes"[..]),
        Key::from_serialize(&("a", 1.5)).unwrap(),
    ];
    for key in keys {
        assert_eq!(key.encoded_len(), key.encode().unwrap().len(), "{key:?}");
    }
}
