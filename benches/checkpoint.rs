//! Criterion benches of a checkpoint's apply step on the logged path, through the public API:
//! one `cache.checkpoint()` applying a full generation of records to a cache of `PREFILL`
//! entries.
//!
//! - `checkpoint/new_keys`: `RECORDS` sets of keys the database does not hold (`key-%d`
//!   after the prefilled ones, 100-byte values), each an insert of a row and its order
//!   entries; the untimed setup of the next round deletes them again, so every round starts
//!   from `PREFILL` entries;
//! - `checkpoint/updates`: `RECORDS` sets of prefilled keys, each a replacement of a row.
//!
//! `RECORDS` is 4095: with `checkpoint_records` 4096 (the default and the largest) the 4096th
//! record of a generation checkpoints on its own, inside the set that logs it.
//!
//! Short by design (10 samples, 2 s each). With the environment variable
//! `CHECKPOINT_PROFILE=new_keys` (or `updates`) the binary runs no benches but `ROUNDS`
//! rounds of that scenario (`CHECKPOINT_ROUNDS` to change), each checkpoint inside
//! `timed_checkpoint`, for a profiler that counts only inside that function:
//!
//! ```text
//! CHECKPOINT_PROFILE=updates valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='*timed_checkpoint*' target/release/deps/checkpoint-<hash>
//! ```

use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group};
use diskcache::{Cache, WritePath};
use serde_bytes::Bytes;

const SMALL: [u8; 100] = [b'x'; 100];
/// Entries in the database before each checkpoint.
const PREFILL: usize = 20_000;
/// Records each checkpoint applies.
const RECORDS: usize = 4095;
/// Rounds of a profiling run.
const ROUNDS: usize = 5;

/// A logged cache of `PREFILL` entries `key-0` … `key-19999`, checkpointed: the database
/// holds them all and the log is empty.
fn prefilled() -> (tempfile::TempDir, Cache) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .write_path(WritePath::Logged)
        .checkpoint_records(RECORDS as u64 + 1)
        .open(dir.path())
        .unwrap();
    for i in 0..PREFILL {
        cache.set(format!("key-{i}"), Bytes::new(&SMALL)).unwrap();
    }
    cache.checkpoint().unwrap();
    (dir, cache)
}

/// A checkpoint, in a function of its own so that a profiler can count only inside it.
#[inline(never)]
fn timed_checkpoint(cache: &Cache) {
    cache.checkpoint().unwrap();
}

/// What each scenario logs before its checkpoint; `round` counts from 0.
#[derive(Clone, Copy)]
enum Scenario {
    NewKeys,
    Updates,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::NewKeys => "checkpoint/new_keys",
            Scenario::Updates => "checkpoint/updates",
        }
    }

    /// Logs the round's `RECORDS` sets (after putting the database back as it was, for new
    /// keys), leaving them for the next checkpoint.
    fn setup(self, cache: &Cache, round: usize) {
        match self {
            Scenario::NewKeys => {
                if round > 0 {
                    for i in PREFILL..PREFILL + RECORDS {
                        cache.delete(format!("key-{i}")).unwrap();
                    }
                    cache.checkpoint().unwrap();
                }
                for i in PREFILL..PREFILL + RECORDS {
                    cache.set(format!("key-{i}"), Bytes::new(&SMALL)).unwrap();
                }
            }
            Scenario::Updates => {
                for j in 0..RECORDS {
                    let i = (round * RECORDS + j) % PREFILL;
                    cache.set(format!("key-{i}"), Bytes::new(&SMALL)).unwrap();
                }
            }
        }
    }
}

fn bench(c: &mut Criterion, scenario: Scenario) {
    let (_dir, cache) = prefilled();
    let mut round = 0;
    c.bench_function(scenario.name(), |b| {
        b.iter_batched(
            || {
                scenario.setup(&cache, round);
                round += 1;
            },
            |()| timed_checkpoint(&cache),
            BatchSize::PerIteration,
        );
    });
}

fn new_keys(c: &mut Criterion) {
    bench(c, Scenario::NewKeys);
}

fn updates(c: &mut Criterion) {
    bench(c, Scenario::Updates);
}

/// Runs `rounds` rounds of `scenario` with no measuring of its own (`CHECKPOINT_PROFILE`).
fn profile(scenario: Scenario, rounds: usize) {
    let (_dir, cache) = prefilled();
    for round in 0..rounds {
        scenario.setup(&cache, round);
        timed_checkpoint(&cache);
    }
    println!(
        "{}: {rounds} checkpoints of {RECORDS} records",
        scenario.name()
    );
}

criterion_group! {
    name = checkpoint;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = new_keys, updates
}

fn main() {
    if let Ok(name) = std::env::var("CHECKPOINT_PROFILE") {
        let scenario = match name.as_str() {
            "new_keys" => Scenario::NewKeys,
            "updates" => Scenario::Updates,
            other => panic!("CHECKPOINT_PROFILE is new_keys or updates, not {other}"),
        };
        let rounds = std::env::var("CHECKPOINT_ROUNDS").map_or(ROUNDS, |r| {
            r.parse().expect("CHECKPOINT_ROUNDS is a number")
        });
        profile(scenario, rounds);
        return;
    }
    checkpoint();
    Criterion::default().configure_from_args().final_summary();
}
