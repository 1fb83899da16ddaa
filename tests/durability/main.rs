//! What survives damage, crashes, power loss, injected faults and several processes at once:
//! the suites CI runs again in release mode. Needs the test hooks (feature `testing`).
//!
//! Every test here runs in parallel threads with the others of this binary, so none changes or
//! measures anything of the whole process. Checked per module:
//! - `fault_injection` and `power_loss` arm `diskcache::fault`, whose plans belong to the
//!   thread that armed them (another test's I/O is neither counted nor failed).
//! - `crash_consistency`, `wal_harness`, `multiprocess`, `corruption_repair` and
//!   `log_records` kill, abort or exit only child processes (this binary run again as one of
//!   its ignored child tests, `tests/common/child.rs`); a crash point
//!   (`DISKCACHE_CRASH_POINT`) is set only in a child's environment. `wal_harness`'s two
//!   reader tests take turns between themselves, as in a binary of their own.
//! - `damaged_database` catches the panics it provokes with `catch_unwind`, leaving the panic
//!   hook as it is.
//! - `check_repair` and `damaged_rows` damage files of their own caches only.
//!
//! In `tests/process_wide/` instead: `fork` (forking with other tests' threads running),
//! `open_files` (counts this process's descriptors) and `full_disk` (a child another test forks
//! while a tmpfs file is open keeps its space in use).

#[path = "../common/mod.rs"]
mod common;

mod check_repair;
mod corruption_repair;
mod crash_consistency;
mod damaged_database;
mod damaged_rows;
mod fault_injection;
mod log_records;
mod multiprocess;
mod power_loss;
mod power_loss_sim;
mod wal_harness;
