//! Guards the pluggable `Disk`: values round-trip through `JsonDisk` and `CompressedDisk`,
//! numbers, text and bytes stay native (so `incr` works), packed values read back unpacked
//! through every read path, damage to packed bytes is caught, and a cache refuses to open
//! with another disk than the one it was created with.

use crate::common;

use std::collections::BTreeMap;
use std::io::Read;

use diskcache::{Cache, CompressedDisk, Error, JsonDisk, SetOptions};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Record {
    id: u64,
    name: String,
    scores: Vec<f64>,
    tags: BTreeMap<String, bool>,
}

/// `n` incompressible bytes (xorshift64).
fn noise(n: usize) -> Vec<u8> {
    common::rng::Xorshift::new(0x9e37_79b9_7f4a_7c15).bytes(n)
}

fn record(i: u64) -> Record {
    Record {
        id: i,
        name: format!("record-{i}"),
        scores: vec![1.5, 2.5, i as f64],
        tags: BTreeMap::from([("a".into(), true), ("b".into(), false)]),
    }
}

#[test]
fn json_disk_round_trips_composites_and_keeps_natives_native() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .disk(JsonDisk::new(1).unwrap())
        .open(dir.path())
        .unwrap();
    cache.set("r", record(7)).unwrap();
    assert_eq!(cache.get::<Record>("r").unwrap(), Some(record(7)));
    // A JSON value reads as any type of the same JSON shape.
    let loose: serde_json::Value = cache.get("r").unwrap().unwrap();
    assert_eq!(loose["name"], "record-7");
    cache.set("n", 41).unwrap();
    assert_eq!(cache.incr("n", 1, None).unwrap(), 42);
    cache.set("t", "text").unwrap();
    assert_eq!(cache.get::<String>("t").unwrap().as_deref(), Some("text"));
    let entry = cache
        .get_entry::<Record>("r")
        .unwrap()
        .expect("stored above");
    assert_eq!(entry.value, record(7));
    assert_eq!(cache.pop::<Record>("r").unwrap(), Some(record(7)));
    assert!(matches!(JsonDisk::new(10), Err(Error::InvalidArgument(_))));
}

#[test]
fn compressed_disk_packs_large_values_and_every_read_unpacks_them() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .disk(CompressedDisk::new(6).unwrap())
        .min_file_size(16 * 1024)
        .open(dir.path())
        .unwrap();
    let text = "all work and no play makes jack a dull boy. ".repeat(10_000);
    cache.set("big", text.as_str()).unwrap();
    // Packed below the file threshold: no value file, and far less volume than the text.
    assert!(common::files_ending_with(dir.path(), ".val").is_empty());
    assert!(cache.volume().unwrap() < text.len() as u64 / 10);
    assert_eq!(
        cache.get::<String>("big").unwrap().as_deref(),
        Some(text.as_str())
    );
    let mut read = String::new();
    cache
        .get_reader("big")
        .unwrap()
        .unwrap()
        .read_to_string(&mut read)
        .unwrap();
    assert_eq!(read, text);
    // Incompressible bytes are stored as they are (a file, at this size).
    let noise = noise(100_000);
    cache.set("noise", &noise[..]).unwrap();
    assert_eq!(common::files_ending_with(dir.path(), ".val").len(), 1);
    assert_eq!(cache.get::<Vec<u8>>("noise").unwrap(), Some(noise));
    // Values set from a reader are never packed, and read back as written.
    let streamed = vec![7u8; 50_000];
    cache
        .set_reader("streamed", &streamed[..], SetOptions::default())
        .unwrap();
    assert_eq!(cache.get::<Vec<u8>>("streamed").unwrap(), Some(streamed));
    assert_eq!(cache.check(false).unwrap(), Vec::new());
}

#[test]
fn a_flipped_byte_in_a_packed_value_is_corrupted_not_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .disk(CompressedDisk::new(1).unwrap().min_size(100))
        .min_file_size(1000)
        .open(dir.path())
        .unwrap();
    let text = "abcdefgh".repeat(2000);
    cache.set("k", text.as_str()).unwrap();
    // Half noise, half zeros: packs to about half, still over the file threshold.
    let mut big = noise(3000);
    big.extend(std::iter::repeat_n(0u8, 3000));
    cache.set("file", &big[..]).unwrap();
    let files = common::files_ending_with(dir.path(), ".val");
    assert_eq!(files.len(), 1, "the packed bytes value went to a file");
    let path = dir.path().join(&files[0]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[5] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    assert!(matches!(
        cache.get::<Vec<u8>>("file"),
        Err(Error::Corrupted(_))
    ));
    assert_eq!(
        cache.get::<String>("k").unwrap().as_deref(),
        Some(text.as_str())
    );
}

#[test]
fn a_cache_refuses_another_disk_than_the_one_it_was_created_with() {
    let dir = tempfile::tempdir().unwrap();
    drop(
        Cache::builder()
            .disk(JsonDisk::new(1).unwrap())
            .open(dir.path())
            .unwrap(),
    );
    let err = Cache::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument(m) if m.contains("json")),
        "{err}"
    );
    let err = Cache::builder()
        .disk(CompressedDisk::new(1).unwrap())
        .open(dir.path())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    // The right disk opens it.
    Cache::builder()
        .disk(JsonDisk::new(9).unwrap())
        .open(dir.path())
        .unwrap();

    let plain = tempfile::tempdir().unwrap();
    drop(Cache::open(plain.path()).unwrap());
    let err = Cache::builder()
        .disk(JsonDisk::new(1).unwrap())
        .open(plain.path())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
}

#[test]
fn json_values_are_what_python_diskcache_json_disk_writes() {
    // JSONDisk stores zlib.compress(json.dumps(value)): unpacking and parsing our stored
    // bytes gives the JSON of the value.
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .disk(JsonDisk::new(1).unwrap())
        .min_file_size(1)
        .open(dir.path())
        .unwrap();
    cache.set("r", record(3)).unwrap();
    let files = common::files_ending_with(dir.path(), ".val");
    assert_eq!(files.len(), 1);
    let raw = std::fs::read(dir.path().join(&files[0])).unwrap();
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(&raw[..])
        .read_to_end(&mut json)
        .unwrap();
    let parsed: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(parsed, serde_json::to_value(record(3)).unwrap());
}
