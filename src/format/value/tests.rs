use std::collections::BTreeMap;
use std::fmt::Debug;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};
use serde_bytes::{ByteBuf, Bytes};

use super::*;

/// Encodes `value`, checks its kind, and checks that it reads back equal as a `T`.
fn round_trip<T>(value: &T, kind: ValueKind) -> EncodedValue
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let encoded = encode_value(value).unwrap();
    assert_eq!(encoded.kind, kind, "kind of {value:?}");
    let back: T = decode_value(encoded.kind, encoded.bytes.clone()).unwrap();
    assert_eq!(&back, value);
    encoded
}

/// Encodes `value` and reads it back as a `T`.
fn reread<T: DeserializeOwned>(value: &(impl Serialize + ?Sized)) -> Result<T> {
    let encoded = encode_value(value).unwrap();
    decode_value(encoded.kind, encoded.bytes)
}

/// The message of a `Codec` error; fails on anything else.
fn codec_message<T: Debug>(result: Result<T>) -> String {
    match result {
        Err(Error::Codec(msg)) => msg.to_string(),
        other => panic!("expected a codec error, got {other:?}"),
    }
}

fn assert_corrupted<T: Debug>(result: Result<T>) {
    assert!(
        matches!(result, Err(Error::Corrupted(_))),
        "expected Corrupted, got {result:?}"
    );
}

#[derive(Serialize, Deserialize, PartialEq, Debug, Clone)]
struct Id(i64);

#[derive(Serialize, Deserialize, PartialEq, Debug, Clone)]
struct Record {
    id: u32,
    name: String,
    tags: Vec<String>,
    score: Option<i16>,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
enum Shape {
    Dot,
    Circle(f64),
    Rect { w: u32, h: u32 },
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Pair {
    a: u8,
    b: u8,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Single {
    a: u8,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Named {
    name: String,
}

/// A value whose `Serialize` implementation always fails.
struct Failing;

impl Serialize for Failing {
    fn serialize<S: Serializer>(&self, _: S) -> std::result::Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "this value refuses to be serialized",
        ))
    }
}

#[test]
fn kind_bytes_are_fixed() {
    for (kind, byte) in [
        (ValueKind::Int, 1),
        (ValueKind::Float, 2),
        (ValueKind::Text, 3),
        (ValueKind::Bytes, 4),
        (ValueKind::Serialized, 5),
        (ValueKind::Pickled, 6),
    ] {
        assert_eq!(kind.as_byte(), byte);
        assert_eq!(ValueKind::from_byte(byte).unwrap(), kind);
    }
    assert_corrupted(ValueKind::from_byte(0));
    assert_corrupted(ValueKind::from_byte(7));
}

#[test]
fn integers_are_native() {
    round_trip(&-5i8, ValueKind::Int);
    round_trip(&i16::MIN, ValueKind::Int);
    round_trip(&i32::MAX, ValueKind::Int);
    round_trip(&i64::MIN, ValueKind::Int);
    round_trip(&200u8, ValueKind::Int);
    round_trip(&u16::MAX, ValueKind::Int);
    round_trip(&u32::MAX, ValueKind::Int);
    round_trip(&(i64::MAX as u64), ValueKind::Int);
    round_trip(&-7i128, ValueKind::Int);
    round_trip(&7u128, ValueKind::Int);
    let encoded = round_trip(&123i32, ValueKind::Int);
    assert_eq!(encoded.bytes, 123i64.to_le_bytes());
    assert_eq!(int_from_bytes(&encoded.bytes).unwrap(), 123);
    assert_eq!(int_to_bytes(-2), (-2i64).to_le_bytes());
}

#[test]
fn integers_beyond_i64_are_serialized() {
    round_trip(&u64::MAX, ValueKind::Serialized);
    round_trip(&(i64::MAX as u64 + 1), ValueKind::Serialized);
    round_trip(&i128::MIN, ValueKind::Serialized);
    round_trip(&u128::MAX, ValueKind::Serialized);
}

#[test]
fn an_int_reads_as_other_numbers() {
    assert_eq!(reread::<u64>(&5i64).unwrap(), 5);
    assert_eq!(reread::<f64>(&5i64).unwrap(), 5.0);
    assert_eq!(reread::<Option<i64>>(&5i64).unwrap(), Some(5));
    assert_eq!(reread::<Id>(&5i64).unwrap(), Id(5));
    assert_eq!(reread::<i64>(&Id(9)).unwrap(), 9);
}

#[test]
fn floats_are_native() {
    round_trip(&1.1f32, ValueKind::Float);
    round_trip(&-0.25f64, ValueKind::Float);
    round_trip(&f64::INFINITY, ValueKind::Float);
    round_trip(&f32::NEG_INFINITY, ValueKind::Float);
    let encoded = round_trip(&2.5f64, ValueKind::Float);
    assert_eq!(encoded.bytes, 2.5f64.to_bits().to_le_bytes());
    for encoded in [
        encode_value(&f64::NAN).unwrap(),
        encode_value(&f32::NAN).unwrap(),
    ] {
        assert_eq!(encoded.kind, ValueKind::Float);
        assert!(
            decode_value::<f64>(encoded.kind, encoded.bytes.clone())
                .unwrap()
                .is_nan()
        );
        assert!(
            decode_value::<f32>(encoded.kind, encoded.bytes)
                .unwrap()
                .is_nan()
        );
    }
}

#[test]
fn text_is_native() {
    let encoded = round_trip(&"héllo".to_string(), ValueKind::Text);
    assert_eq!(encoded.bytes, "héllo".as_bytes());
    assert_eq!(encode_value("héllo").unwrap(), encoded);
    assert_eq!(reread::<String>(&"borrowed").unwrap(), "borrowed");
    round_trip(&'é', ValueKind::Text);
    assert_eq!(reread::<String>(&'x').unwrap(), "x");
    codec_message(reread::<char>("two"));
}

#[test]
fn bytes_are_native() {
    let encoded = round_trip(&ByteBuf::from(vec![0, 255, 7]), ValueKind::Bytes);
    assert_eq!(encoded.bytes, [0, 255, 7]);
    assert_eq!(encode_value(Bytes::new(&[0, 255, 7])).unwrap(), encoded);
    assert_eq!(encode_value(&vec![0u8, 255, 7]).unwrap(), encoded);
    assert_eq!(encode_value(&[0u8, 255, 7][..]).unwrap(), encoded);
    round_trip(&vec![1u8, 2, 3], ValueKind::Bytes);
    round_trip(&[9u8, 8, 7, 6], ValueKind::Bytes);
    round_trip(&(1u8, 2u8), ValueKind::Bytes);
    assert_eq!(
        reread::<ByteBuf>(&vec![4u8, 5]).unwrap(),
        ByteBuf::from(vec![4, 5])
    );
    assert_eq!(
        reread::<Vec<u8>>(&ByteBuf::from(vec![4, 5])).unwrap(),
        [4, 5]
    );
}

#[test]
fn types_serialize_in_their_compact_form_as_for_postcard() {
    let encoded = round_trip(&Ipv4Addr::new(10, 0, 0, 1), ValueKind::Bytes);
    assert_eq!(encoded.bytes, [10, 0, 0, 1]);
    round_trip(&Ipv6Addr::LOCALHOST, ValueKind::Bytes);
    round_trip(&IpAddr::from([192, 168, 1, 2]), ValueKind::Serialized);
}

#[test]
fn an_empty_sequence_is_empty_bytes() {
    let encoded = round_trip(&Vec::<u8>::new(), ValueKind::Bytes);
    assert!(encoded.bytes.is_empty());
    assert_eq!(encode_value(&Vec::<String>::new()).unwrap(), encoded);
    assert!(reread::<Vec<String>>(&Vec::<u8>::new()).unwrap().is_empty());
    round_trip(&Vec::<Record>::new(), ValueKind::Bytes);
    round_trip(&[0u16; 0], ValueKind::Bytes);
}

#[test]
fn a_byte_array_checks_its_length() {
    codec_message(reread::<[u8; 3]>(&[1u8, 2, 3, 4]));
    codec_message(reread::<[u8; 5]>(&[1u8, 2, 3, 4]));
    codec_message(reread::<(u8, u8)>(&[1u8, 2, 3]));
}

#[test]
fn a_sequence_that_is_not_all_bytes_is_serialized_from_scratch() {
    round_trip(&vec![1u16, 2], ValueKind::Serialized);
    round_trip(&(1u8, 2u8, "three".to_string()), ValueKind::Serialized);
    round_trip(&vec![vec![1u8]], ValueKind::Serialized);
    round_trip(
        &vec!["a".to_string(), "b".to_string()],
        ValueKind::Serialized,
    );
    let encoded = encode_value(&(1u8, 2u8, 3u32)).unwrap();
    assert_eq!(
        encoded.bytes,
        postcard::to_allocvec(&(1u8, 2u8, 3u32)).unwrap()
    );
}

#[test]
fn other_shapes_are_serialized() {
    round_trip(&Id(-3), ValueKind::Int);
    round_trip(&Some(5i64), ValueKind::Serialized);
    round_trip(&None::<i64>, ValueKind::Serialized);
    round_trip(&true, ValueKind::Serialized);
    round_trip(&(), ValueKind::Serialized);
    round_trip(&Shape::Dot, ValueKind::Serialized);
    round_trip(&Shape::Circle(1.5), ValueKind::Serialized);
    round_trip(&Shape::Rect { w: 2, h: 3 }, ValueKind::Serialized);
    round_trip(
        &BTreeMap::from([("k".to_string(), 1i32)]),
        ValueKind::Serialized,
    );
    let record = Record {
        id: 7,
        name: "r".into(),
        tags: vec!["t".into()],
        score: Some(-1),
    };
    let encoded = round_trip(&record, ValueKind::Serialized);
    assert_eq!(encoded.bytes, postcard::to_allocvec(&record).unwrap());
}

#[test]
fn a_failing_serialize_is_a_codec_error() {
    let msg = codec_message(encode_value(&Failing));
    assert!(msg.contains("refuses to be serialized"), "{msg}");
    codec_message(encode_value(&vec![Failing]));
    codec_message(encode_value(&Some(Failing)));
}

#[test]
fn wrong_types_are_codec_errors() {
    let msg = codec_message(reread::<String>(&5i64));
    assert!(
        msg.contains("stored an integer") && msg.contains("String"),
        "{msg}"
    );
    let msg = codec_message(reread::<u8>(&300i64));
    assert!(msg.contains("300") && msg.contains("u8"), "{msg}");
    codec_message(reread::<u64>(&-1i64));
    codec_message(reread::<bool>(&1i64));
    let msg = codec_message(reread::<i64>(&1.5f64));
    assert!(
        msg.contains("stored a float") && msg.contains("i64"),
        "{msg}"
    );
    let msg = codec_message(reread::<i64>("12"));
    assert!(msg.contains("stored a text"), "{msg}");
    let msg = codec_message(reread::<String>(&ByteBuf::from(b"utf8".to_vec())));
    assert!(
        msg.contains("stored bytes") && msg.contains("String"),
        "{msg}"
    );
    codec_message(reread::<char>(&ByteBuf::from(b"c".to_vec())));
    codec_message(reread::<Record>(&5i64));
    let msg = codec_message(reread::<Single>(&Pair { a: 1, b: 2 }));
    assert!(msg.contains("does not match the requested type"), "{msg}");
}

#[test]
fn malformed_bytes_are_errors() {
    assert_corrupted(int_from_bytes(&[0; 7]));
    assert_corrupted(decode_value::<i64>(ValueKind::Int, vec![0; 7]));
    assert_corrupted(decode_value::<f64>(ValueKind::Float, vec![0; 9]));
    assert_corrupted(decode_value::<String>(ValueKind::Text, vec![b'a', 0xff]));
    codec_message(decode_value::<Named>(
        ValueKind::Serialized,
        vec![5, 0xff, 0xfe],
    ));
    codec_message(decode_value::<Named>(ValueKind::Serialized, vec![0xff; 12]));
    codec_message(decode_value::<Record>(ValueKind::Serialized, vec![]));
}

#[test]
fn a_mebibyte_goes_through_the_sequence_path_and_back_without_a_copy() {
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let encoded = encode_value(&big).unwrap();
    assert_eq!(encoded.kind, ValueKind::Bytes);
    assert_eq!(encoded.bytes, big);
    assert_eq!(
        encoded.bytes.capacity(),
        big.len(),
        "reserved once from the length hint"
    );
    let stored = encoded.bytes.as_ptr();
    let buf: ByteBuf = decode_value(encoded.kind, encoded.bytes).unwrap();
    assert_eq!(
        buf.as_ptr(),
        stored,
        "the stored Vec moved into the ByteBuf"
    );
    assert_eq!(buf.into_vec(), big);
}

#[test]
fn text_moves_into_a_string_without_a_copy() {
    let bytes = b"moved".to_vec();
    let stored = bytes.as_ptr();
    let text: String = decode_value(ValueKind::Text, bytes).unwrap();
    assert_eq!(text.as_ptr(), stored);
}

fn record() -> impl Strategy<Value = Record> {
    (
        any::<u32>(),
        any::<String>(),
        prop::collection::vec(any::<String>(), 0..4),
        any::<Option<i16>>(),
    )
        .prop_map(|(id, name, tags, score)| Record {
            id,
            name,
            tags,
            score,
        })
}

/// Reads arbitrary stored bytes as a `T`; only the absence of a panic matters.
fn decode_anything<T: DeserializeOwned>(kind: u8, bytes: &[u8]) {
    if let Ok(kind) = ValueKind::from_byte(kind) {
        let _ = decode_value::<T>(kind, bytes.to_vec());
    }
}

proptest! {
    #[test]
    fn any_i64_round_trips(v: i64) {
        prop_assert_eq!(reread::<i64>(&v).unwrap(), v);
    }

    #[test]
    fn any_f64_round_trips(v: f64) {
        let back = reread::<f64>(&v).unwrap();
        if v.is_nan() {
            prop_assert!(back.is_nan());
        } else {
            prop_assert_eq!(back, v);
        }
    }

    #[test]
    fn any_string_round_trips(v: String) {
        prop_assert_eq!(reread::<String>(&v).unwrap(), v);
    }

    #[test]
    fn any_byte_vec_round_trips(v: Vec<u8>) {
        prop_assert_eq!(encode_value(&v).unwrap().kind, ValueKind::Bytes);
        prop_assert_eq!(reread::<Vec<u8>>(&v).unwrap(), v);
    }

    #[test]
    fn any_record_round_trips(v in record()) {
        prop_assert_eq!(reread::<Record>(&v).unwrap(), v);
    }

    #[test]
    fn any_stored_bytes_decode_without_panicking(
        kind in 0u8..8,
        bytes in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        decode_anything::<i64>(kind, &bytes);
        decode_anything::<u8>(kind, &bytes);
        decode_anything::<f64>(kind, &bytes);
        decode_anything::<char>(kind, &bytes);
        decode_anything::<String>(kind, &bytes);
        decode_anything::<Vec<u8>>(kind, &bytes);
        decode_anything::<ByteBuf>(kind, &bytes);
        decode_anything::<[u8; 4]>(kind, &bytes);
        decode_anything::<Option<i64>>(kind, &bytes);
        decode_anything::<Vec<String>>(kind, &bytes);
        decode_anything::<Record>(kind, &bytes);
        decode_anything::<Shape>(kind, &bytes);
    }
}

/// A value marked as a Python pickle, as the Python module stores one.
#[derive(Debug, PartialEq)]
struct Pickle(Vec<u8>);

impl Serialize for Pickle {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_newtype_struct(PICKLED, Bytes::new(&self.0))
    }
}

/// What the Python module reads back: a pickle, or the native value it was handed instead.
#[derive(Debug, PartialEq)]
enum PickleOrNative {
    Pickle(Vec<u8>),
    Int(i64),
    Bytes(Vec<u8>),
}

impl<'de> Deserialize<'de> for PickleOrNative {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = PickleOrNative;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a pickle, an integer or bytes")
            }
            fn visit_newtype_struct<D: serde::Deserializer<'de>>(
                self,
                d: D,
            ) -> std::result::Result<PickleOrNative, D::Error> {
                ByteBuf::deserialize(d).map(|b| PickleOrNative::Pickle(b.into_vec()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
                Ok(PickleOrNative::Int(v))
            }
            fn visit_byte_buf<E: serde::de::Error>(
                self,
                v: Vec<u8>,
            ) -> std::result::Result<Self::Value, E> {
                Ok(PickleOrNative::Bytes(v))
            }
        }
        d.deserialize_newtype_struct(PICKLED, V)
    }
}

#[test]
fn a_pickle_is_its_own_kind_and_reads_as_bytes_elsewhere() {
    let encoded = encode_value(&Pickle(vec![0x80, 4, b'N', b'.'])).unwrap();
    assert_eq!(encoded.kind, ValueKind::Pickled);
    assert_eq!(encoded.bytes, [0x80, 4, b'N', b'.']);
    let back: PickleOrNative = decode_value(encoded.kind, encoded.bytes.clone()).unwrap();
    assert_eq!(back, PickleOrNative::Pickle(vec![0x80, 4, b'N', b'.']));
    // Rust readers see bytes.
    let bytes: ByteBuf = decode_value(encoded.kind, encoded.bytes.clone()).unwrap();
    assert_eq!(bytes.into_vec(), [0x80, 4, b'N', b'.']);
    let vec: Vec<u8> = decode_value(encoded.kind, encoded.bytes.clone()).unwrap();
    assert_eq!(vec, [0x80, 4, b'N', b'.']);
    assert!(decode_value::<String>(encoded.kind, encoded.bytes).is_err());
    // The reader of pickles is handed other kinds as themselves.
    let int: PickleOrNative = decode_value(ValueKind::Int, 7i64.to_le_bytes().to_vec()).unwrap();
    assert_eq!(int, PickleOrNative::Int(7));
    let plain: PickleOrNative = decode_value(ValueKind::Bytes, vec![1, 2]).unwrap();
    assert_eq!(plain, PickleOrNative::Bytes(vec![1, 2]));
}

#[test]
fn a_pickle_marker_around_anything_but_bytes_is_refused() {
    struct Bad;
    impl Serialize for Bad {
        fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            s.serialize_newtype_struct(PICKLED, &5i64)
        }
    }
    assert!(matches!(encode_value(&Bad), Err(Error::Codec(_))));
}
