//! The command's batch request lines (`format-spec/batch-protocol.md`), answered by
//! `batch::serve` against a fresh cache: any bytes get replies, never a panic. The command's
//! modules are included by path (a binary cannot be a dependency); the `internals` test binary
//! (`tests/internals/main.rs`) does the same to run this target's corpus on stable.
#![no_main]
#![allow(dead_code)]

#[path = "../../src/bin/diskcache/batch.rs"]
mod batch;
#[path = "../../src/bin/diskcache/failure.rs"]
mod failure;
#[path = "../../src/bin/diskcache/handle.rs"]
mod handle;
#[path = "../../src/bin/diskcache/json.rs"]
mod json;
#[path = "../../src/bin/diskcache/ops.rs"]
mod ops;
#[path = "../../src/bin/diskcache/raw.rs"]
mod raw;
#[path = "../../src/bin/diskcache/setting.rs"]
mod setting;
#[path = "../../src/bin/diskcache/value.rs"]
mod value;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile_dir() else { return };
    if let Ok(handle) = handle::Handle::open(
        &dir,
        handle::Create::Yes,
        Some(std::time::Duration::from_millis(20)),
    ) {
        let _ = batch::serve(&handle, data, std::io::sink());
        let _ = handle.close();
    }
    let _ = std::fs::remove_dir_all(&dir);
});

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("diskcache-fuzz-batch-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir)?;
    Ok(dir)
}
