//! The crate's internals through its test hooks (feature `testing`): the fuzz targets' entry
//! functions over their committed corpora, and each platform's write paths (the other
//! platforms' behaviour run on Linux through `diskcache::platform::as_if_without_logged_path`).
//!
//! Every test here runs in parallel threads with the others of this binary: `fuzz_corpus` calls
//! pure functions and catches their panics with `catch_unwind`; `platforms`' hook holds for the
//! calling thread only, and its writers are child processes (`tests/common/child.rs`).

#[path = "../common/mod.rs"]
mod common;

mod fuzz_corpus;
mod platforms;

// The fuzz target `batch` answers request lines with the command's own modules, included by
// path as `fuzz/fuzz_targets/batch.rs` does (a binary cannot be a dependency), at the crate root
// where they name each other (`crate::failure`); `fuzz_corpus` runs it.
#[cfg(feature = "cli")]
#[allow(dead_code)]
#[path = "../../src/bin/diskcache/batch.rs"]
mod batch;
#[cfg(feature = "cli")]
#[allow(dead_code)]
#[path = "../../src/bin/diskcache/failure.rs"]
mod failure;
#[cfg(feature = "cli")]
#[allow(dead_code)]
#[path = "../../src/bin/diskcache/handle.rs"]
mod handle;
#[cfg(feature = "cli")]
#[allow(dead_code)]
#[path = "../../src/bin/diskcache/json.rs"]
mod json;
#[cfg(feature = "cli")]
#[allow(dead_code)]
#[path = "../../src/bin/diskcache/ops.rs"]
mod ops;
#[cfg(feature = "cli")]
#[allow(dead_code)]
#[path = "../../src/bin/diskcache/raw.rs"]
mod raw;
#[cfg(feature = "cli")]
#[allow(dead_code)]
#[path = "../../src/bin/diskcache/setting.rs"]
mod setting;
#[cfg(feature = "cli")]
#[allow(dead_code)]
#[path = "../../src/bin/diskcache/value.rs"]
mod value;
