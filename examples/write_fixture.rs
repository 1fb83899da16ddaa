//! Writes the format v1 fixture: a small cache directory holding every key kind, inline and
//! file values of every value kind, expire times, tags, two queues and hit/miss counts.
//!
//! `tests/fixtures/v1/` was written by it once and is committed;
//! `tests/api/backward_compatibility.rs` reads it back and `format-spec/fixtures.md` lists what it
//! holds. It is not rewritten: a later format version must read the committed bytes. The program
//! is kept to show how they were made (and to make a fixture for a later version, in a new
//! directory).
//!
//! Run with `cargo run --example write_fixture -- <new directory>`.

use std::collections::BTreeMap;
use std::time::Duration;

use diskcache::{Cache, EvictionPolicy, Key, SetOptions, Side};
use serde::Serialize;

/// A serialized (postcard) value.
#[derive(Serialize)]
struct Point {
    x: i32,
    y: i32,
    label: String,
}

/// Enum variants inside a composite key: unit, newtype and struct variants.
#[derive(Serialize)]
enum Shape {
    Dot,
    Circle(f64),
    Rect { w: u8, h: u8 },
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args_os()
        .nth(1)
        .ok_or("usage: write_fixture <new directory>")?;
    let dir = std::path::PathBuf::from(dir);
    if dir.exists() {
        return Err(format!("{} exists; give a new directory", dir.display()).into());
    }
    let cache = Cache::builder()
        .size_limit(16 << 20)
        .eviction_policy(EvictionPolicy::LeastRecentlyUsed)
        .statistics(true)
        .tag_index(true)
        .min_file_size(64)
        .open(&dir)?;
    let red = || SetOptions::default().tag("red");
    let century = Duration::from_secs(100 * 365 * 24 * 3600);

    // Numbers as keys: each class of the number encoding.
    cache.set(-42, -7i64)?;
    cache.set_with(0, 3.25f64, red())?;
    cache.set(i64::MAX, "max")?;
    cache.set(-2.5, serde_bytes::Bytes::new(b"\x00\x01\xff"))?;
    cache.set_with(-1e300, 1i64, SetOptions::default().tag(7))?;
    cache.set(1e300, "big")?;
    // Text and bytes keys.
    cache.set_with(
        "greeting",
        "hello, world",
        SetOptions::default().tag("red").expire(century),
    )?;
    cache.set("", serde_bytes::Bytes::new(b""))?;
    cache.set("naïve ✓", "unicode")?;
    cache.set(
        &b"\x00\xffbin"[..],
        &Point {
            x: -3,
            y: 4,
            label: "p".into(),
        },
    )?;
    // Composite keys.
    cache.set(Key::from_serialize(&("user", 17))?, vec![1u32, 2, 300])?;
    cache.set(
        Key::from_serialize(&(
            true,
            None::<i32>,
            Some("x\0y"),
            serde_bytes::Bytes::new(b"a\x00b"),
            (),
        ))?,
        "tuple key",
    )?;
    let map = BTreeMap::from([("b", 2), ("a", 1)]);
    cache.set(Key::from_serialize(&map)?, "map key")?;
    let shapes = vec![Shape::Dot, Shape::Circle(0.5), Shape::Rect { w: 2, h: 3 }];
    cache.set(Key::from_serialize(&shapes)?, "enum key")?;
    // Values in files (min_file_size is 64).
    let text: String = "lorem ipsum dolor sit amet ".repeat(8);
    cache.set_with("file-text", &text, SetOptions::default().tag("blue"))?;
    let bytes: Vec<u8> = (0..=255).collect();
    cache.set("file-bytes", serde_bytes::Bytes::new(&bytes))?;
    cache.set(
        "file-serialized",
        (0u32..100).map(|i| i * 10).collect::<Vec<_>>(),
    )?;
    cache.set_reader(
        "streamed",
        &b"streamed via set_reader\n"[..],
        SetOptions::default(),
    )?;
    // incr and decr.
    cache.incr("counter", 5, Some(10))?;
    cache.decr("counter", 1, None)?;
    // An entry that has expired but is still stored.
    cache.set_with(
        "expired",
        "gone",
        SetOptions::default().expire(Duration::from_millis(1)),
    )?;
    std::thread::sleep(Duration::from_millis(20));
    // Queues: the integer keys, and the prefix "jobs".
    cache.push("a", None, Side::Back, SetOptions::default())?;
    cache.push("b", None, Side::Back, SetOptions::default())?;
    cache.push("z", None, Side::Front, SetOptions::default())?;
    cache.push(1i64, Some("jobs"), Side::Back, SetOptions::default())?;
    cache.push(2i64, Some("jobs"), Side::Back, SetOptions::default())?;
    // Two hits and two misses.
    assert!(cache.get::<String>("greeting")?.is_some());
    assert!(cache.get::<f64>(0)?.is_some());
    assert!(cache.get::<String>("absent")?.is_none());
    assert!(cache.get::<String>("expired")?.is_none());
    cache.close()?;

    // Make `cache.redb` hold everything, small, and leave only it and the value files.
    let cache = Cache::open(&dir)?;
    cache.checkpoint()?;
    cache.compact()?;
    cache.close()?;
    for name in ["cache.wal", "cache.shm", "cache.lock"] {
        match std::fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    let size = std::fs::metadata(dir.join("cache.redb"))?.len();
    println!("wrote {} (cache.redb: {size} bytes)", dir.display());
    Ok(())
}
