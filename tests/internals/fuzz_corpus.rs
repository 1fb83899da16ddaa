//! Runs every fuzz target's entry function over its committed corpus (`tests/corpus/<target>/`:
//! seeds made by the crate's encoders, plus every input a fuzzer ever crashed on), so that a
//! decoder that starts panicking on known inputs fails `cargo test` on stable, without
//! cargo-fuzz. The targets themselves (`fuzz/`) run under libFuzzer on nightly.
//!
//! The seeds are made by `diskcache::fuzzing::seeds`; to rewrite them:
//! `DISKCACHE_WRITE_SEEDS=1 cargo test --test internals -- --ignored fuzz_corpus::write_seeds`.

use std::path::{Path, PathBuf};

use crate::common::rng::Xorshift;

// The command's modules the `batch` target runs, at the crate root (tests/internals/main.rs).
#[cfg(feature = "cli")]
use crate::{batch, handle};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn run_corpus(target: &str, entry: fn(&[u8])) {
    let files = corpus(target);
    assert!(!files.is_empty(), "tests/corpus/{target} has no seeds");
    for file in files {
        let data = std::fs::read(&file).unwrap();
        let outcome = std::panic::catch_unwind(|| entry(&data));
        assert!(outcome.is_ok(), "{target} panicked on {}", file.display());
    }
}

#[test]
fn every_target_survives_its_corpus() {
    for (target, entry) in diskcache::fuzzing::TARGETS {
        run_corpus(target, entry);
    }
}

/// The `batch` target's body (the same as `fuzz/fuzz_targets/batch.rs`).
#[cfg(feature = "cli")]
fn batch_entry(data: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let handle = handle::Handle::open(
        dir.path(),
        handle::Create::Yes,
        Some(std::time::Duration::from_millis(20)),
    )
    .unwrap();
    let _ = batch::serve(&handle, data, std::io::sink());
    let _ = handle.close();
}

#[cfg(feature = "cli")]
#[test]
fn the_batch_target_survives_its_corpus() {
    run_corpus("batch", batch_entry);
}

#[test]
fn every_target_has_a_fuzz_target_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    if !root.exists() {
        // The published package holds the corpora but not the fuzz crate (a package of its own).
        eprintln!(
            "skipped: {} is not here (a packaged copy of the crate)",
            root.display()
        );
        return;
    }
    for (target, _) in diskcache::fuzzing::TARGETS {
        assert!(
            root.join(format!("{target}.rs")).exists(),
            "no fuzz target {target}"
        );
    }
}

#[test]
#[ignore = "writes tests/corpus; run with DISKCACHE_WRITE_SEEDS=1"]
fn write_seeds() {
    if std::env::var_os("DISKCACHE_WRITE_SEEDS").is_none() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    for (target, name, bytes) in diskcache::fuzzing::seeds().unwrap() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
    }
}

/// The model target on pseudo-random inputs (xorshift, fixed seeds): long operation sequences
/// on both write paths, beyond what the seed corpus reaches.
#[test]
fn the_model_agrees_with_the_cache_on_random_sequences() {
    let mut rng = Xorshift::new(0x2545_f491_4f6c_dd1d);
    for round in 0..12 {
        let len = 200 + 100 * (round % 4);
        diskcache::fuzzing::model(&rng.bytes(len));
    }
}
