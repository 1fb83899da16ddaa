//! Measures the codecs a compressing `Disk` could use on 1 MiB values, for
//! `format-spec/disks.md`: zlib (flate2, pure-Rust backend) at levels 1, 6 and 9, and LZ4
//! (lz4_flex). `cargo run --release --example compression`
//!
//! Prints packed size (as a fraction of the input) and the best of 5 pack and unpack times.

use std::io::Write;
use std::time::{Duration, Instant};

fn best_of<T>(mut f: impl FnMut() -> T) -> (T, Duration) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..5 {
        let t = Instant::now();
        out = Some(f());
        best = best.min(t.elapsed());
    }
    (out.expect("ran five times"), best)
}

fn main() {
    let mut text = Vec::new();
    let mut i = 0u64;
    while text.len() < 1 << 20 {
        let row = format!(
            "{{\"id\":{i},\"name\":\"user-{}\",\"score\":{}}},",
            i * 7919 % 10007,
            i % 97
        );
        text.extend_from_slice(row.as_bytes());
        i += 1;
    }
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let random: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    println!("| data | codec | packed size | pack | unpack |\n|---|---|---|---|---|");
    for (name, data) in [("JSON-like text", &text), ("random bytes", &random)] {
        for level in [1u32, 6, 9] {
            let (packed, pack) = best_of(|| {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level));
                e.write_all(data).expect("in memory");
                e.finish().expect("in memory")
            });
            let (unpacked, unpack) = best_of(|| {
                let mut d = flate2::write::ZlibDecoder::new(Vec::new());
                d.write_all(&packed).expect("valid zlib");
                d.finish().expect("valid zlib")
            });
            assert_eq!(&unpacked, data);
            let ratio = packed.len() as f64 / data.len() as f64;
            println!("| {name} | zlib level {level} | {ratio:.3} | {pack:.1?} | {unpack:.1?} |");
        }
        let (packed, pack) = best_of(|| lz4_flex::compress_prepend_size(data));
        let (unpacked, unpack) =
            best_of(|| lz4_flex::decompress_size_prepended(&packed).expect("valid lz4"));
        assert_eq!(&unpacked, data);
        let ratio = packed.len() as f64 / data.len() as f64;
        println!("| {name} | lz4_flex | {ratio:.3} | {pack:.1?} | {unpack:.1?} |");
    }
}
