//! Criterion benches of the logged write path (the shared log in front of redb), through the
//! public API only, beside the direct path's set as the baseline:
//!
//! - `log/set_update`: a set of an existing key on the logged path (`checkpoint_records` 4096,
//!   so one set in 4096 also pays for a checkpoint, as in use);
//! - `log/probe_hit`: a get of a key whose latest record is in the log, not yet checkpointed;
//! - `log/snapshot_hit`: a get of a key only in redb (after `cache.checkpoint()`, the log is
//!   empty), from the cached snapshot;
//! - `log/miss`: a get of a key in neither (the log holds records, so the probe is a real one);
//! - `checkpoint/256`, `checkpoint/4096`: one `cache.checkpoint()` after 256 / 4096
//!   distinct-key sets (updates of existing keys) made in the untimed setup;
//! - `direct/set_update`: the same set as `log/set_update`, each one its own redb transaction.
//!
//! Short by design (20 samples, 3 s each): `cargo bench --bench wal` takes about two minutes.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use diskcache::{Cache, WritePath};
use serde_bytes::{ByteBuf, Bytes};

const SMALL: [u8; 100] = [b'x'; 100];
/// Keys in the database before each bench.
const PREFILL: usize = 10_000;
/// Keys set into the log for `log/probe_hit` and `log/miss` (well under a checkpoint's worth).
const IN_LOG: usize = 1000;
/// The checkpoint threshold of every logged cache here: the default and the largest.
const CHECKPOINT_RECORDS: u64 = 4096;

fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// A cache on `path` with `PREFILL` keys `key-%d`, checkpointed: the database holds them all
/// and the log is empty.
fn prefilled(path: WritePath) -> (tempfile::TempDir, Cache, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .write_path(path)
        .checkpoint_records(CHECKPOINT_RECORDS)
        .open(dir.path())
        .unwrap();
    let keys = keys("key", PREFILL);
    for k in &keys {
        cache.set(k.as_str(), Bytes::new(&SMALL)).unwrap();
    }
    cache.checkpoint().unwrap();
    (dir, cache, keys)
}

/// A set of an existing key, cycling through the prefilled keys.
fn set_update(c: &mut Criterion, name: &str, path: WritePath) {
    let (_dir, cache, keys) = prefilled(path);
    let mut i = 0;
    c.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            cache.set(keys[i].as_str(), Bytes::new(&SMALL)).unwrap();
        });
    });
}

fn log_set_update(c: &mut Criterion) {
    set_update(c, "log/set_update", WritePath::Logged);
}

fn direct_set_update(c: &mut Criterion) {
    set_update(c, "direct/set_update", WritePath::Direct);
}

/// Gets from the log, from the snapshot, and misses. No write happens while they run, so the
/// log keeps what it holds and the snapshot stays current.
fn log_gets(c: &mut Criterion) {
    let (_dir, cache, db_keys) = prefilled(WritePath::Logged);
    let log_keys = keys("hot", IN_LOG);
    for k in &log_keys {
        cache.set(k.as_str(), Bytes::new(&SMALL)).unwrap();
    }
    let missing = keys("miss", PREFILL);
    let get = |k: &str| cache.get::<ByteBuf>(k).unwrap();
    // Opens the cached snapshot before anything is timed.
    assert!(get(&db_keys[0]).is_some());

    let mut i = 0;
    c.bench_function("log/probe_hit", |b| {
        b.iter(|| {
            i = (i + 1) % log_keys.len();
            black_box(get(&log_keys[i]).unwrap())
        });
    });
    let mut i = 0;
    c.bench_function("log/miss", |b| {
        b.iter(|| {
            i = (i + 1) % missing.len();
            assert!(black_box(get(&missing[i])).is_none());
        });
    });
    // Now the log is applied and empty: these keys are only in redb.
    cache.checkpoint().unwrap();
    assert!(get(&db_keys[0]).is_some());
    let mut i = 0;
    c.bench_function("log/snapshot_hit", |b| {
        b.iter(|| {
            i = (i + 1) % db_keys.len();
            black_box(get(&db_keys[i]).unwrap())
        });
    });
}

/// `cache.checkpoint()` after `sets` sets of distinct keys; each round updates the next `sets`
/// prefilled keys.
///
/// With `checkpoint_records` 4096 the 4096th record of a generation checkpoints on its own
/// (inside that set), so `checkpoint/4096` applies the largest log a manual checkpoint can
/// see: 4095 records.
fn checkpoint_after(c: &mut Criterion, sets: usize) {
    let (_dir, cache, keys) = prefilled(WritePath::Logged);
    let records = sets.min(CHECKPOINT_RECORDS as usize - 1);
    let mut start = 0;
    c.bench_function(&format!("checkpoint/{sets}"), |b| {
        b.iter_batched(
            || {
                for j in 0..records {
                    let k = &keys[(start + j) % keys.len()];
                    cache.set(k.as_str(), Bytes::new(&SMALL)).unwrap();
                }
                start = (start + records) % keys.len();
            },
            |()| cache.checkpoint().unwrap(),
            BatchSize::PerIteration,
        );
    });
}

fn checkpoints(c: &mut Criterion) {
    checkpoint_after(c, 256);
    checkpoint_after(c, 4096);
}

criterion_group! {
    name = wal;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = log_set_update, log_gets, checkpoints, direct_set_update
}
criterion_main!(wal);
