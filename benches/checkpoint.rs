//! Criterion benches of the logged path's checkpoints and lane switch, through the public API
//! (and, below, a few words of `cache.shm`). Every cache here is logged, at the default
//! durability (Normal), with `checkpoint_records` set explicitly, and starts with `PREFILL`
//! entries of 100-byte values, checkpointed.
//!
//! **The foreground checkpoint**: one `cache.checkpoint()` applying `RECORDS` records, with
//! `checkpoint_records` `RECORDS + 1`. The records stay one short of a full lane, so no set
//! seals the lane (nor does the janitor, which seals a lane only once its records have waited
//! a second at this durability, far longer than a round's setup) and the janitor applies
//! nothing: the timed `cache.checkpoint()` seals the active lane itself and applies it,
//! holding the write lock throughout.
//!
//! - `checkpoint/new_keys`: `RECORDS` sets of keys the database does not hold (`key-%d`
//!   after the prefilled ones), each an insert of a row and its order entries; the untimed
//!   setup of the next round deletes them again, so every round starts from `PREFILL`
//!   entries;
//! - `checkpoint/updates`: `RECORDS` sets of prefilled keys, each a replacement of a row.
//!
//! **The background checkpoint**, with `checkpoint_records` `LANE_RECORDS`: the set that logs a
//! lane's `LANE_RECORDS`th record seals the lane, makes the other one active (the switch) and
//! wakes the janitor thread, which applies the sealed lane to the database under the
//! checkpoint lock while writers go on in the active lane. Each window of these benches starts
//! with both lanes empty (`cache.checkpoint()`) and an untimed fill of a lane that seals it:
//!
//! - `checkpoint/background_under_load`: one set (an update of a prefilled key), made while
//!   the janitor applies the sealed lane: the window opens once the janitor holds the
//!   checkpoint lock and closes once the lane is committed (or the active lane has one
//!   record of room left), so every timed set starts while the checkpoint runs;
//! - `checkpoint/background_baseline`: the same set with no checkpoint running: the window
//!   opens after a `cache.checkpoint()` that waits for the janitor's, and closes when the
//!   active lane has one record of room left. The ratio of the two is what a checkpoint
//!   costs the writers beside it. After each, the binary prints the percentiles of the
//!   single sets' times, and for the first how long after the seal the janitor took the
//!   checkpoint lock and how the windows ended;
//! - `checkpoint/switch`: the set that logs a lane's last record (after `LANE_RECORDS - 1`
//!   untimed sets), sealing the lane, switching and waking the janitor;
//! - `checkpoint/switch_baseline`: the set before it, an ordinary one (after
//!   `LANE_RECORDS - 2`). After each, the binary prints the percentiles of the timed sets
//!   and how many of them switched lanes (`cache.shm`'s active lane changed): all for
//!   `switch`, none for the baseline.
//!
//! Where the janitor's checkpoint has got is read from the words of `cache.shm` that
//! format-spec/wal.md describes (active lane, generations, checkpoint lock, applied
//! generation), as file bytes, untimed; before each set both background benches read one.
//!
//! Short by design (10 samples each): `cargo bench --bench checkpoint` takes about 25 s.
//! Criterion plans its iterations by the wall time of its calls, so the untimed fills and
//! checkpoints count in the background benches' warm-up and measurement times.
//!
//! With the environment variable `CHECKPOINT_PROFILE=new_keys` (or `updates`) the binary
//! runs no benches but `ROUNDS` rounds of that foreground scenario (`CHECKPOINT_ROUNDS` to
//! change), each checkpoint inside `timed_checkpoint`, for a profiler that counts only inside
//! that function:
//!
//! ```text
//! CHECKPOINT_PROFILE=updates valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='*timed_checkpoint*' target/release/deps/checkpoint-<hash>
//! ```

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, SamplingMode, criterion_group};
use diskcache::{Cache, WritePath};
use serde_bytes::Bytes;

const SMALL: [u8; 100] = [b'x'; 100];
/// Entries in the database before each checkpoint.
const PREFILL: usize = 20_000;
/// Records each foreground checkpoint applies.
const RECORDS: usize = 4095;
/// Rounds of a profiling run.
const ROUNDS: usize = 5;
/// `checkpoint_records` of the background benches: the records a lane takes before the set
/// that logs the last of them seals it.
const LANE_RECORDS: usize = 4096;

/// A logged cache of `PREFILL` entries `key-0` … `key-19999`, checkpointed: the database
/// holds them all and the log is empty. `checkpoint_records` is `lane_records`.
fn prefilled(lane_records: usize) -> (tempfile::TempDir, Cache) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .write_path(WritePath::Logged)
        .checkpoint_records(lane_records as u64)
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
    let (_dir, cache) = prefilled(RECORDS + 1);
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
    let (_dir, cache) = prefilled(RECORDS + 1);
    for round in 0..rounds {
        scenario.setup(&cache, round);
        timed_checkpoint(&cache);
    }
    println!(
        "{}: {rounds} checkpoints of {RECORDS} records",
        scenario.name()
    );
}

/// Byte offsets in `cache.shm` (format-spec/wal.md) of the active lane's number, the lanes'
/// generations, the checkpoint lock's owner and the generation last applied.
const ACTIVE_AT: u64 = 1664;
const GENERATION_AT: [u64; 2] = [192, 1280];
const CHECKPOINT_OWNER_AT: u64 = 1792;
const APPLIED_AT: u64 = 1856;

/// How far the checkpoint of the sealed lane has got.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Nobody holds the checkpoint lock yet.
    Waiting,
    /// The checkpoint lock is held and the lane is not committed yet.
    Running,
    /// The lane is in the database (or no lane is sealed).
    Committed,
}

/// The words of a cache's `cache.shm`, read as file bytes (the page cache that every
/// process's shared mapping of the file stores to).
struct ShmWords(File);

impl ShmWords {
    fn open(dir: &Path) -> ShmWords {
        ShmWords(File::open(dir.join("cache.shm")).unwrap())
    }

    fn word(&self, offset: u64) -> u64 {
        let mut file = &self.0;
        let mut bytes = [0u8; 8];
        file.seek(SeekFrom::Start(offset)).unwrap();
        file.read_exact(&mut bytes).unwrap();
        u64::from_le_bytes(bytes)
    }

    /// The lane writers append to.
    fn active(&self) -> u64 {
        self.word(ACTIVE_AT)
    }

    /// The generation of the lane that is not active (0 if it holds none).
    fn sealed_generation(&self) -> u64 {
        let sealed = if self.active() == 0 { 1 } else { 0 };
        self.word(GENERATION_AT[sealed])
    }

    fn stage(&self) -> Stage {
        let generation = self.sealed_generation();
        if generation == 0 || self.word(APPLIED_AT) == generation {
            Stage::Committed
        } else if self.word(CHECKPOINT_OWNER_AT) != 0 {
            Stage::Running
        } else {
            Stage::Waiting
        }
    }
}

/// The prefilled keys, set in turn (wrapping) by the background benches.
struct Keys {
    names: Vec<String>,
    next: usize,
}

impl Keys {
    fn new() -> Keys {
        let names = (0..PREFILL).map(|i| format!("key-{i}")).collect();
        Keys { names, next: 0 }
    }

    /// Sets the next key; returns how long the set took.
    fn set(&mut self, cache: &Cache) -> Duration {
        let key = self.names[self.next].as_str();
        self.next = (self.next + 1) % self.names.len();
        let start = Instant::now();
        cache.set(key, Bytes::new(&SMALL)).unwrap();
        start.elapsed()
    }
}

/// `part` of the way through the sorted `times`.
fn percentile(times: &[Duration], part: f64) -> String {
    let i = ((times.len() - 1) as f64 * part).round() as usize;
    format!("{:.1} µs", times[i].as_secs_f64() * 1e6)
}

/// Prints the percentiles of single sets' `times`.
fn print_times(name: &str, times: &mut [Duration]) {
    if times.is_empty() {
        return;
    }
    times.sort_unstable();
    println!(
        "{name}: {} sets: p50 {}, p90 {}, p99 {}, p99.9 {}, max {}",
        times.len(),
        percentile(times, 0.5),
        percentile(times, 0.9),
        percentile(times, 0.99),
        percentile(times, 0.999),
        percentile(times, 1.0),
    );
}

/// What the background benches saw of the janitor's checkpoints.
#[derive(Default)]
struct Windows {
    /// The timed sets' times.
    times: Vec<Duration>,
    /// Windows opened.
    opened: usize,
    /// Per window: how long after the seal the janitor took the checkpoint lock.
    starts: Vec<Duration>,
    /// Windows that ended as the checkpoint committed, that found it committed before the
    /// first set, and that ended as the active lane had one record of room left (all of
    /// the baseline's).
    by_commit: usize,
    missed: usize,
    by_room: usize,
}

impl Windows {
    fn print(&mut self, name: &str) {
        print_times(name, &mut self.times);
        if self.starts.is_empty() {
            println!("{name}: {} windows", self.opened);
            return;
        }
        self.starts.sort_unstable();
        println!(
            "{name}: {} windows; the janitor took the checkpoint lock {} (median, max {}) after \
             the seal; a window ended at the commit in {}, with the active lane one short of \
             full in {}, found the lane committed already in {}",
            self.opened,
            percentile(&self.starts, 0.5),
            percentile(&self.starts, 1.0),
            self.by_commit,
            self.by_room,
            self.missed,
        );
    }
}

/// The state of `checkpoint/background_under_load` (with `beside` true) or its baseline.
/// One criterion iteration is one set. Sets run in windows: each starts after an untimed
/// fill has sealed a lane (with both lanes empty before it) and, under load, once the
/// janitor holds the checkpoint lock (for the baseline, once `cache.checkpoint()` has waited
/// for the checkpoint); it ends when the checkpoint has committed the lane (under load) or
/// the active lane has one record of room left, whichever comes first, and goes on across
/// criterion's calls until then. Before each set, both read the applied generation from
/// `cache.shm`, untimed.
struct Background {
    cache: Cache,
    shm: ShmWords,
    keys: Keys,
    beside: bool,
    /// The open window: the sealed lane's generation and the sets timed so far.
    window: Option<(u64, usize)>,
    seen: Windows,
}

impl Background {
    /// Fills a lane, untimed, and opens a window once its checkpoint runs.
    fn open_window(&mut self) {
        self.cache.checkpoint().unwrap();
        for _ in 0..LANE_RECORDS {
            self.keys.set(&self.cache);
        }
        let sealed_at = Instant::now();
        let generation = self.shm.sealed_generation();
        if self.beside {
            while self.shm.stage() == Stage::Waiting {
                std::thread::sleep(Duration::from_micros(20));
            }
            self.seen.starts.push(sealed_at.elapsed());
        } else {
            self.cache.checkpoint().unwrap();
        }
        self.window = Some((generation, 0));
        self.seen.opened += 1;
    }

    /// Times `iters` sets, in as many windows as it takes.
    fn run(&mut self, iters: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let Some((generation, sets)) = self.window else {
                self.open_window();
                continue;
            };
            let committed = self.shm.word(APPLIED_AT) == generation;
            if self.beside && committed {
                if sets == 0 {
                    self.seen.missed += 1;
                } else {
                    self.seen.by_commit += 1;
                }
                self.window = None;
                continue;
            }
            if sets == LANE_RECORDS - 1 {
                self.seen.by_room += 1;
                self.window = None;
                continue;
            }
            let time = self.keys.set(&self.cache);
            total += time;
            self.seen.times.push(time);
            self.window = Some((generation, sets + 1));
            left -= 1;
        }
        total
    }
}

fn background_sets(c: &mut Criterion, beside: bool) {
    let (dir, cache) = prefilled(LANE_RECORDS);
    let shm = ShmWords::open(dir.path());
    let mut state = Background {
        cache,
        shm,
        keys: Keys::new(),
        beside,
        window: None,
        seen: Windows::default(),
    };
    let name = if beside {
        "background_under_load"
    } else {
        "background_baseline"
    };
    // Criterion plans its iterations by the wall time of its calls, the untimed fills and
    // checkpoints included: a warm-up that spans a few windows, and about as many again for
    // the measurement.
    let mut group = c.benchmark_group("checkpoint");
    group
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500));
    group.bench_function(name, |b| b.iter_custom(|iters| state.run(iters)));
    group.finish();
    state.seen.print(&format!("checkpoint/{name}"));
}

fn background_under_load(c: &mut Criterion) {
    background_sets(c, true);
}

fn background_baseline(c: &mut Criterion) {
    background_sets(c, false);
}

/// `checkpoint/switch` (with `sealing` true: the set of a lane's last record) and its
/// baseline (the set before it).
fn switch_set(c: &mut Criterion, sealing: bool) {
    let (dir, cache) = prefilled(LANE_RECORDS);
    let shm = ShmWords::open(dir.path());
    let mut keys = Keys::new();
    let mut times = Vec::new();
    let mut switched = 0;
    let name = if sealing { "switch" } else { "switch_baseline" };
    let mut group = c.benchmark_group("checkpoint");
    // Criterion plans its iterations by the wall time of its calls, each iteration's untimed
    // fill and checkpoint included: one call to warm up, then some 1.5 s of iterations.
    group
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_millis(1500));
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                cache.checkpoint().unwrap();
                for _ in 0..LANE_RECORDS - 2 {
                    keys.set(&cache);
                }
                if sealing {
                    keys.set(&cache);
                }
                let active = shm.active();
                let time = keys.set(&cache);
                switched += usize::from(shm.active() != active);
                if !sealing {
                    keys.set(&cache);
                }
                total += time;
                times.push(time);
            }
            total
        });
    });
    group.finish();
    let name = format!("checkpoint/{name}");
    print_times(&name, &mut times);
    println!(
        "{name}: {switched} of {} lane switches by the timed set",
        times.len()
    );
}

fn switch(c: &mut Criterion) {
    switch_set(c, true);
}

fn switch_baseline(c: &mut Criterion) {
    switch_set(c, false);
}

criterion_group! {
    name = checkpoint;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = new_keys, updates, background_under_load, background_baseline, switch,
        switch_baseline
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
