//! A custom `Disk`, and the two the crate ships, as in diskcache's tutorial (`JSONDisk`).
//!
//! `cargo run --example custom_disk`
//!
//! A `Disk` decides how values that are not numbers, text or bytes are serialized, and may
//! pack (compress, encrypt, …) stored bytes. Here `GzipDisk` keeps the built-in serialization
//! and gzips every text, bytes or serialized value of at least 1 KiB.

use std::io::{Read, Write};

use diskcache::{Cache, Disk, JsonDisk, ValueKind};

/// Gzips large values at a chosen level.
#[derive(Debug)]
struct GzipDisk {
    compress_level: u32,
}

impl Disk for GzipDisk {
    fn name(&self) -> &str {
        // Recorded in the cache: opening it later needs a disk of this name.
        "example-gzip"
    }

    fn pack(&self, _kind: ValueKind, bytes: &[u8]) -> diskcache::Result<Option<Vec<u8>>> {
        if bytes.len() < 1024 {
            return Ok(None);
        }
        let level = flate2::Compression::new(self.compress_level);
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), level);
        encoder.write_all(bytes)?;
        Ok(Some(encoder.finish()?))
    }

    fn unpack(&self, _kind: ValueKind, bytes: Vec<u8>) -> diskcache::Result<Vec<u8>> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|e| diskcache::Error::corrupted(format!("gzip: {e}")))?;
        Ok(out)
    }
}

fn main() -> diskcache::Result<()> {
    let base = tempfile::tempdir()?;

    let gzip = Cache::builder()
        .disk(GzipDisk { compress_level: 6 })
        .open(base.path().join("gzip"))?;
    let text = "It was the best of times, it was the worst of times. ".repeat(1000);
    gzip.set("novel", text.as_str())?;
    println!(
        "GzipDisk: {} bytes of text occupy a volume of {} bytes",
        text.len(),
        gzip.volume()?
    );
    assert_eq!(gzip.get::<String>("novel")?.as_deref(), Some(text.as_str()));

    // JSONDisk: composite values as zlib-compressed JSON (Python can read them back with
    // json.loads(zlib.decompress(raw))).
    let json = Cache::builder()
        .disk(JsonDisk::new(6)?)
        .open(base.path().join("json"))?;
    let value = serde_json::json!({"name": "diskcache", "stars": 2400, "tags": ["cache", "disk"]});
    json.set("repo", &value)?;
    let back: serde_json::Value = json.get("repo")?.expect("just stored");
    println!("JsonDisk: {back}");
    assert_eq!(back, value);

    // A cache remembers its disk.
    match Cache::open(base.path().join("json")) {
        Err(e) => {
            println!("opening it without its disk: {e}");
            Ok(())
        }
        Ok(_) => Err(diskcache::Error::InvalidArgument(
            "a cache created with JsonDisk opened with the default disk".into(),
        )),
    }
}
