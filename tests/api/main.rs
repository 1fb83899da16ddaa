//! The library's public API, as a user of the package runs it with a plain `cargo test`: no
//! feature and no test hook. One module per subject; tests that need other processes run this
//! binary again as one of its ignored child tests (`tests/common/child.rs`).
//!
//! Every test here runs in parallel threads with the others of this binary, so none changes or
//! measures anything of the whole process: each works in directories of its own, and what the
//! library keeps per process (the janitor thread, the in-process gates) is shared as an
//! application's threads share it. Checked per module:
//! - `permissions` reads the modes the umask gives but never sets the umask.
//! - `timeout`, `expire`, `recipes` (`Throttle`) and `eviction` wait for time to pass or for
//!   the janitor (one per process, for every cache of the binary) to write the reads it notes;
//!   the harness runs as many tests at once as there are cores, as it did in their own
//!   binaries.
//! - `rust_api`, `threads`, `memoize` race threads on caches of their own.
//! - `slicing` and `permissions` are Unix-only (`#![cfg(unix)]` in the module).
//!
//! In `tests/process_wide/` instead: `fairness`, whose writers share one CPU and whose power to
//! tell an unfair lock depends on no other thread running there.

#[path = "../common/mod.rs"]
mod common;

#[cfg(feature = "tokio")]
mod asynchronous;
mod backward_compatibility;
mod basic;
mod counters;
mod deque;
mod disk;
mod eviction;
mod expire;
mod fanout;
mod index;
mod keys_and_values;
mod large_values;
mod maintenance;
mod memoize;
mod memory;
mod observability;
mod ordering;
mod permissions;
mod progress;
mod queue;
mod recipes;
mod reopen;
mod rust_api;
mod slicing;
mod threads;
mod timeout;
mod transact;
