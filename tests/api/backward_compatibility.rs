//! The committed format v1 fixture (`tests/fixtures/v1/`, listed in `format-spec/fixtures.md`)
//! reads back entry by entry, through the library and through an independent reader written
//! from `format-spec/` alone; a cache of a newer format version is refused. Every later format
//! version must keep passing these tests.
//!
//! The independent reader needs `python3`: without it its tests say so and pass without
//! running, except under `CI=true`, where they fail (`tests/common/skip.rs`).

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diskcache::{Cache, Entry, Error, EvictionPolicy, Key, Side};
use redb::{ReadableTable, TableDefinition};
use serde::Deserialize;
use serde_json::{Value, json};

/// The fixture's serialized value under the bytes key `b"\x00\xffbin"`.
#[derive(Debug, PartialEq, Deserialize)]
struct Point {
    x: i32,
    y: i32,
    label: String,
}

/// The fixture's enum inside a composite key.
#[derive(Debug, PartialEq, serde::Serialize)]
enum Shape {
    Dot,
    Circle(f64),
    Rect { w: u8, h: u8 },
}

/// The expire time of `"greeting"` (a century after it was stored), µs since the epoch.
const GREETING_EXPIRES: u64 = 4_949_285_221_064_854;
/// The expire time of `"expired"` (1 ms after it was stored), µs since the epoch.
const EXPIRED_EXPIRES: u64 = 1_795_685_221_066_727;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1")
}

/// A copy of the fixture in a new temporary directory (opening a cache writes to it).
fn copy_fixture() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&fixture(), dir.path());
    dir
}

fn us(t: SystemTime) -> u64 {
    u64::try_from(t.duration_since(UNIX_EPOCH).unwrap().as_micros()).unwrap()
}

/// One entry of the fixture as `format-spec/fixtures.md` lists it.
struct Expected {
    row_id: u64,
    /// The key as the spec reader shows it (Python's `repr`; enum variants as `#index`).
    key: &'static str,
    kind: &'static str,
    /// The value as the spec reader prints it (bytes as hex, serialized values decoded).
    value: Value,
    in_file: bool,
    size: u64,
    tag: Option<&'static str>,
    expire_time: u64,
}

fn lorem() -> String {
    "lorem ipsum dolor sit amet ".repeat(8)
}

fn all_bytes() -> Vec<u8> {
    (0..=255).collect()
}

fn tens() -> Vec<u32> {
    (0..100).map(|i| i * 10).collect()
}

/// Every entry of the fixture, in key byte order (the order of the `entries` table).
fn expected() -> Vec<Expected> {
    let e = |row_id, key, kind, value, in_file, size, tag, expire_time| Expected {
        row_id,
        key,
        kind,
        value,
        in_file,
        size,
        tag,
        expire_time,
    };
    let hex = |b: &[u8]| -> String { b.iter().map(|x| format!("{x:02x}")).collect() };
    vec![
        e(5, "-1e+300", "int", json!(1), false, 8, Some("7"), 0),
        e(1, "-42", "int", json!(-7), false, 8, None, 0),
        e(4, "-2.5", "bytes", json!("0001ff"), false, 3, None, 0),
        e(2, "0", "float", json!(3.25), false, 8, Some("'red'"), 0),
        e(23, "499999999999999", "text", json!("z"), false, 1, None, 0),
        e(21, "500000000000000", "text", json!("a"), false, 1, None, 0),
        e(22, "500000000000001", "text", json!("b"), false, 1, None, 0),
        e(
            3,
            "9223372036854775807",
            "text",
            json!("max"),
            false,
            3,
            None,
            0,
        ),
        e(6, "1e+300", "text", json!("big"), false, 3, None, 0),
        e(8, "''", "bytes", json!(""), false, 0, None, 0),
        e(19, "'counter'", "int", json!(14), false, 8, None, 0),
        e(
            20,
            "'expired'",
            "text",
            json!("gone"),
            false,
            4,
            None,
            EXPIRED_EXPIRES,
        ),
        e(
            16,
            "'file-bytes'",
            "bytes",
            json!(hex(&all_bytes())),
            true,
            256,
            None,
            0,
        ),
        e(
            17,
            "'file-serialized'",
            "serialized",
            json!(tens()),
            true,
            188,
            None,
            0,
        ),
        e(
            15,
            "'file-text'",
            "text",
            json!(lorem()),
            true,
            216,
            Some("'blue'"),
            0,
        ),
        e(
            7,
            "'greeting'",
            "text",
            json!("hello, world"),
            false,
            12,
            Some("'red'"),
            GREETING_EXPIRES,
        ),
        e(
            24,
            "'jobs-500000000000000'",
            "int",
            json!(1),
            false,
            8,
            None,
            0,
        ),
        e(
            25,
            "'jobs-500000000000001'",
            "int",
            json!(2),
            false,
            8,
            None,
            0,
        ),
        e(9, "'naïve ✓'", "text", json!("unicode"), false, 7, None, 0),
        e(
            18,
            "'streamed'",
            "bytes",
            json!(hex(b"streamed via set_reader\n")),
            true,
            24,
            None,
            0,
        ),
        e(
            10,
            r"b'\x00\xffbin'",
            "serialized",
            json!({"x": -3, "y": 4, "label": "p"}),
            false,
            4,
            None,
            0,
        ),
        e(
            12,
            r"(True, None, 'x\x00y', b'a\x00b', ())",
            "text",
            json!("tuple key"),
            false,
            9,
            None,
            0,
        ),
        e(
            11,
            "('user', 17)",
            "serialized",
            json!([1, 2, 300]),
            false,
            5,
            None,
            0,
        ),
        e(
            14,
            "(#0, #1(0.5), #2(2, 3))",
            "text",
            json!("enum key"),
            false,
            8,
            None,
            0,
        ),
        e(
            13,
            "{'a': 1, 'b': 2}",
            "text",
            json!("map key"),
            false,
            7,
            None,
            0,
        ),
    ]
}

/// The fixture's directory holds `cache.redb` and value folders only: no `cache.wal`,
/// `cache.shm` or `cache.lock`, which a later open creates.
#[test]
fn the_fixture_is_the_database_and_its_value_files() {
    let mut top: Vec<String> = std::fs::read_dir(fixture())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    top.sort();
    assert_eq!(top, ["4c", "9c", "ad", "cache.redb", "cf"]);
    let files = walk(&fixture());
    let values: Vec<_> = files.iter().filter(|p| p.ends_with(".val")).collect();
    assert_eq!(values.len(), 4, "{files:?}");
    assert_eq!(files.len(), 5, "{files:?}");
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.to_string_lossy().into_owned());
        }
    }
    out
}

/// The spec reader really checks: one changed byte in a value file fails its crc32.
#[test]
fn the_spec_reader_refuses_a_damaged_value_file() {
    let dir = copy_fixture();
    let file = dir
        .path()
        .join("9c/9f/9c9f793e90c96c1e191817caf1385e14.val");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[0] ^= 0x20;
    std::fs::write(&file, bytes).unwrap();
    let Some(out) = common::spec_reader::run(dir.path()) else {
        return;
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("crc32"), "{err}");
}

/// The independent reader (`tests/spec_reader/read_v1.py`, written from `format-spec/`
/// alone) decodes every key, row and value of the fixture from the raw tables, checks every
/// crc32, `meta` and the order tables, and finds exactly the listing of `format-spec/fixtures.md`.
#[test]
fn the_spec_reader_decodes_the_fixture() {
    let dir = copy_fixture();
    let Some(out) = common::spec_reader::run(dir.path()) else {
        return;
    };
    assert!(
        out.status.success(),
        "the spec reader failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Value = serde_json::from_slice(&out.stdout).unwrap();
    let entries = read["entries"].as_array().unwrap();
    let expected = expected();
    assert_eq!(entries.len(), expected.len());
    for (got, want) in entries.iter().zip(&expected) {
        let ctx = format!("entry {}", want.key);
        assert_eq!(got["key"], want.key, "{ctx}");
        assert_eq!(got["row_id"], want.row_id, "{ctx}");
        assert_eq!(got["kind"], want.kind, "{ctx}");
        assert_eq!(got["value"], want.value, "{ctx}");
        assert_eq!(got["in_file"], want.in_file, "{ctx}");
        assert_eq!(got["size"], want.size, "{ctx}");
        assert_eq!(got["tag"], json!(want.tag), "{ctx}");
        assert_eq!(got["expire_time"], want.expire_time, "{ctx}");
        let store = got["store_time"].as_u64().unwrap();
        let access = got["access_time"].as_u64().unwrap();
        assert!(store > 1_700_000_000_000_000 && access >= store, "{ctx}");
        // Two hits under least-recently-used moved these rows' access time and count.
        let hit = matches!(want.key, "0" | "'greeting'");
        assert_eq!(got["access_count"], u64::from(hit), "{ctx}");
        assert_eq!(access > store, hit, "{ctx}");
    }
    assert_eq!(
        read["meta"],
        json!({"format_version": 1, "count": 25, "volume": 4375, "next_row_id": 26,
               "hits": 2, "misses": 2})
    );
    assert_eq!(
        read["settings"],
        json!({"size_limit": 16_777_216, "cull_limit": 10, "eviction_policy": 2,
               "statistics": 1, "tag_index": 1, "min_file_size": 64, "durability": 0,
               "write_path": 0})
    );
    assert_eq!(
        read["settings_shown"],
        json!({"size_limit": 16_777_216, "cull_limit": 10,
               "eviction_policy": "least-recently-used", "statistics": "on", "tag_index": "on",
               "min_file_size": 64, "durability": "no fsync", "write_path": "logged"})
    );
    assert_eq!(read["disk"], "default");
    assert_eq!(
        read["checked"],
        json!(["order_access", "order_expire", "order_insert", "order_tag"])
    );
}

/// The fixture's keys in insertion order (row ids 1 to 25).
fn keys_by_row_id() -> Vec<Key> {
    let shapes = vec![Shape::Dot, Shape::Circle(0.5), Shape::Rect { w: 2, h: 3 }];
    vec![
        Key::from(-42),
        Key::from(0),
        Key::from(i64::MAX),
        Key::from(-2.5),
        Key::from(-1e300),
        Key::from(1e300),
        Key::from("greeting"),
        Key::from(""),
        Key::from("naïve ✓"),
        Key::from(&b"\x00\xffbin"[..]),
        Key::from_serialize(&("user", 17)).unwrap(),
        Key::from_serialize(&(
            true,
            None::<i32>,
            Some("x\0y"),
            serde_bytes::Bytes::new(b"a\x00b"),
            (),
        ))
        .unwrap(),
        Key::from_serialize(&BTreeMap::from([("a", 1), ("b", 2)])).unwrap(),
        Key::from_serialize(&shapes).unwrap(),
        Key::from("file-text"),
        Key::from("file-bytes"),
        Key::from("file-serialized"),
        Key::from("streamed"),
        Key::from("counter"),
        Key::from("expired"),
        Key::from(500_000_000_000_000i64),
        Key::from(500_000_000_000_001i64),
        Key::from(499_999_999_999_999i64),
        Key::from("jobs-500000000000000"),
        Key::from("jobs-500000000000001"),
    ]
}

fn entry<V: serde::de::DeserializeOwned>(cache: &Cache, key: impl Into<Key>) -> Entry<V> {
    cache.get_entry::<V>(key).unwrap().expect("a live entry")
}

fn plain<V: serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
    cache: &Cache,
    key: impl Into<Key>,
    want: V,
) {
    let key = key.into();
    let e = entry::<V>(cache, &key);
    assert_eq!(e.value, want, "{key}");
    assert_eq!(e.expire_time, None, "{key}");
    assert_eq!(e.tag, None, "{key}");
}

/// Every entry, setting, count and order of the fixture reads back through the library, and
/// `check` finds nothing wrong.
#[test]
fn every_entry_reads_back_through_the_library() {
    let dir = copy_fixture();
    let cache = Cache::open(dir.path()).unwrap();
    // First, before the reads below count.
    assert_eq!(
        <(u64, u64)>::from(cache.stats(true, false).unwrap()),
        (2, 2)
    );
    let s = cache.settings();
    assert_eq!(s.size_limit, 16 << 20);
    assert_eq!(s.cull_limit, 10);
    assert_eq!(s.eviction_policy, EvictionPolicy::LeastRecentlyUsed);
    assert!(s.statistics);
    assert!(s.tag_index);
    assert_eq!(s.min_file_size, 64);
    assert_eq!(s.durability, diskcache::Durability::NoSync);
    // Stored as the logged path; a platform without it (macOS, Windows) opens the fixture,
    // which has no log left, with the direct path.
    assert_eq!(s.write_path, diskcache::WritePath::default());
    assert_eq!(cache.len().unwrap(), 25);
    assert_eq!(cache.volume().unwrap(), 4375);

    let e = entry::<i64>(&cache, -1e300);
    assert_eq!(
        (e.value, e.tag, e.expire_time),
        (1, Some(Key::from(7)), None)
    );
    plain(&cache, -42, -7i64);
    plain(&cache, -2.5, serde_bytes::ByteBuf::from(vec![0u8, 1, 255]));
    let e = entry::<f64>(&cache, 0);
    assert_eq!(
        (e.value, e.tag, e.expire_time),
        (3.25, Some(Key::from("red")), None)
    );
    plain(&cache, i64::MAX, "max".to_string());
    plain(&cache, 1e300, "big".to_string());
    plain(&cache, "", serde_bytes::ByteBuf::new());
    plain(&cache, "naïve ✓", "unicode".to_string());
    plain(
        &cache,
        &b"\x00\xffbin"[..],
        Point {
            x: -3,
            y: 4,
            label: "p".into(),
        },
    );
    let keys = keys_by_row_id();
    plain(&cache, keys[10].clone(), vec![1u32, 2, 300]);
    plain(&cache, keys[11].clone(), "tuple key".to_string());
    plain(&cache, keys[12].clone(), "map key".to_string());
    plain(&cache, keys[13].clone(), "enum key".to_string());
    let e = entry::<String>(&cache, "file-text");
    assert_eq!((e.value, e.tag), (lorem(), Some(Key::from("blue"))));
    plain(
        &cache,
        "file-bytes",
        serde_bytes::ByteBuf::from(all_bytes()),
    );
    plain(&cache, "file-serialized", tens());
    let mut streamed = Vec::new();
    std::io::Read::read_to_end(
        &mut cache.get_reader("streamed").unwrap().unwrap(),
        &mut streamed,
    )
    .unwrap();
    assert_eq!(streamed, b"streamed via set_reader\n");
    plain(&cache, "counter", 14i64);
    let e = entry::<String>(&cache, "greeting");
    assert_eq!(e.value, "hello, world");
    assert_eq!(e.tag, Some(Key::from("red")));
    assert_eq!(e.expire_time.map(us), Some(GREETING_EXPIRES));
    assert!(e.expire_time.unwrap() > SystemTime::now() + Duration::from_secs(50 * 365 * 86_400));
    // Expired: absent to reads, still stored (and counted) until a write removes it.
    assert_eq!(cache.get::<String>("expired").unwrap(), None);
    assert!(!cache.contains("expired").unwrap());
    assert!(EXPIRED_EXPIRES < us(SystemTime::now()));
    plain(&cache, 500_000_000_000_000i64, "a".to_string());
    plain(&cache, "jobs-500000000000001", 2i64);

    // Orders: insertion (row ids) and key order (the spec reader's listing).
    let inserted: Vec<Key> = cache.keys().unwrap().map(Result::unwrap).collect();
    let live: Vec<Key> = keys
        .iter()
        .filter(|k| **k != Key::from("expired"))
        .cloned()
        .collect();
    assert!(inserted == keys || inserted == live, "{inserted:?}");
    let sorted: Vec<Key> = cache
        .keys_sorted(false)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut by_bytes = keys.clone();
    by_bytes.sort_by_key(|k| k.encode().unwrap());
    let by_bytes_live: Vec<Key> = by_bytes
        .iter()
        .filter(|k| **k != Key::from("expired"))
        .cloned()
        .collect();
    assert!(sorted == by_bytes || sorted == by_bytes_live, "{sorted:?}");
    let shown: Vec<Key> = {
        let mut rows: Vec<(u64, &Key)> =
            expected().iter().map(|e| e.row_id).zip(&by_bytes).collect();
        rows.sort();
        rows.into_iter().map(|(_, k)| k.clone()).collect()
    };
    assert_eq!(shown, keys, "fixtures.md's row ids and key order agree");

    // Stats counted the reads above; check finds nothing wrong.
    let (hits, misses): (u64, u64) = cache.stats(true, false).unwrap().into();
    // The one miss: `get("expired")` (`contains` does not count).
    assert!(hits > 2 && misses == 3, "{hits} {misses}");
    assert_eq!(cache.check(false).unwrap(), Vec::new());

    // Queues: in key order, front to back.
    let peek = cache.peek::<String>(None, Side::Back).unwrap().unwrap();
    assert_eq!(peek, (Key::from(500_000_000_000_001i64), "b".to_string()));
    let mut pulled = Vec::new();
    while let Some((k, v)) = cache.pull::<String>(None, Side::Front).unwrap() {
        pulled.push((k, v));
    }
    assert_eq!(
        pulled,
        [
            (Key::from(499_999_999_999_999i64), "z".to_string()),
            (Key::from(500_000_000_000_000i64), "a".to_string()),
            (Key::from(500_000_000_000_001i64), "b".to_string()),
        ]
    );
    let jobs = cache
        .pull::<i64>(Some("jobs"), Side::Back)
        .unwrap()
        .unwrap();
    assert_eq!(jobs, (Key::from("jobs-500000000000001"), 2));
    // Writes on the old data work as on new.
    assert_eq!(cache.incr("counter", 1, None).unwrap(), 15);
    assert_eq!(cache.evict("red").unwrap(), 2);
    assert_eq!(cache.expire().unwrap(), 1);
    assert_eq!(cache.len().unwrap(), 25 - 4 - 2 - 1);
    assert_eq!(cache.check(false).unwrap(), Vec::new());
    cache.close().unwrap();
}

/// Copies the fixture and stores `version` as its `meta.format_version`, with redb directly.
fn fixture_with_version(version: u64) -> tempfile::TempDir {
    const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
    let dir = copy_fixture();
    let db = common::spec_reader::open_redb(dir.path());
    let txn = db.begin_write().unwrap();
    {
        let mut meta = txn.open_table(META).unwrap();
        let stored = meta.get("format_version").unwrap().unwrap().value();
        assert_eq!(stored, 1);
        assert!(diskcache::FORMAT_VERSION >= stored);
        meta.insert("format_version", version).unwrap();
    }
    txn.commit().unwrap();
    dir
}

/// A cache whose `meta.format_version` is newer than this build's (or 0) is refused, and the
/// error names both versions.
#[test]
fn a_newer_format_version_is_refused_naming_both_versions() {
    for found_version in [diskcache::FORMAT_VERSION + 1, 0] {
        let dir = fixture_with_version(found_version);
        match Cache::open(dir.path()) {
            Err(e @ Error::UnsupportedVersion { found, supported }) => {
                assert_eq!(
                    (found, supported),
                    (found_version, diskcache::FORMAT_VERSION)
                );
                let msg = e.to_string();
                assert!(
                    msg.contains(&format!("version {found_version}"))
                        && msg.contains(&format!("up to {}", diskcache::FORMAT_VERSION)),
                    "{msg}"
                );
            }
            Err(e) => panic!("expected UnsupportedVersion, got {e}"),
            Ok(_) => panic!("a cache of format version {found_version} opened"),
        }
    }
}

/// A database with rows but no `format_version` row is refused as version 0, not taken for a
/// new cache (which would reset its counters and settings over the rows).
#[test]
fn rows_without_a_format_version_are_refused_not_recreated() {
    const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
    let dir = copy_fixture();
    {
        let db = common::spec_reader::open_redb(dir.path());
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .remove("format_version")
            .unwrap();
        txn.commit().unwrap();
    }
    match Cache::open(dir.path()) {
        Err(Error::UnsupportedVersion {
            found: 0,
            supported,
        }) => {
            assert_eq!(supported, diskcache::FORMAT_VERSION);
        }
        Err(e) => panic!("expected UnsupportedVersion, got {e}"),
        Ok(_) => panic!("a cache with rows and no version opened"),
    }
}
