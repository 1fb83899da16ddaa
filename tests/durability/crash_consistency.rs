//! Guards that a process killed with SIGKILL in the middle of a stream of writes loses no write
//! it had acknowledged, and leaves a cache that opens cleanly and is consistent: every row
//! readable with the value that was written, `len()` and `volume()` in step with the rows.
//!
//! A writer is a real child process: this test binary re-run as one of its child tests, which
//! are `#[ignore]`d (the shared harness `tests/common/child.rs` runs them with
//! `--include-ignored`), with environment variables naming its cache directory, number, key
//! prefix and first index. It loops: set `k<i>` (every 7th value a 40 KiB byte string, so value
//! files are involved), `incr("acked")`, then print `@@ack <i>` and flush. Once the line is
//! printed the write is acknowledged. The parent kills it with SIGKILL after a random number of
//! acknowledgements, reopens the cache and checks every acknowledged key. The directory is
//! carried across trials, so later trials start from a crashed state, and the check covers
//! every earlier trial's acknowledgements too.
//!
//! Orphan value files (written and renamed, but the process died before the commit that
//! would name them) and `.val.tmp` leftovers are allowed by the design after a crash; they
//! are counted and reported, not failed on.
//!
//! The random numbers come from a xorshift seeded from the clock; the seed is printed, and
//! `DISKCACHE_CRASH_SEED=<seed>` replays a run. `DISKCACHE_CRASH_SCALE=<n>` multiplies the
//! trials of every test (the crash-point scenarios at the end of the file too).
//!
//! That these tests can fail is shown by the negative control `ack-before-commit`
//! (`src/testing/sabotage.rs`), which makes every write return without committing:
//! `scripts/negative_controls.sh ack-before-commit` requires every test here to fail under it.
#![cfg(unix)]

use crate::common;

use common::Value;
use common::child::{PATIENCE, Streamed, child_env, tell_parent};
use common::rng::Xorshift;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use diskcache::{Cache, Key};

/// What a child's keys start with (`""` or `c0-`, `c1-`).
const PREFIX_VAR: &str = "DISKCACHE_CHILD_PREFIX";
/// The index of a child's first key.
const START_VAR: &str = "DISKCACHE_CHILD_START";
/// Microseconds a child pauses after each acknowledged write (none if unset).
const PACE_VAR: &str = "DISKCACHE_CHILD_PACE_US";
/// Replays a run with this seed.
const SEED_VAR: &str = "DISKCACHE_CRASH_SEED";

const CHILD: &str = common::child::role!(
    a_crash_child_writes_and_acknowledges_until_stopped_or_killed_when_started_by_a_parent
);

/// Trials of the one-writer test, all in one directory.
const TRIALS: u64 = 8;
/// Trials of the two-writer test, all in one directory.
const PAIR_TRIALS: u64 = 3;
/// A writer is killed after a random number of acknowledgements in this range.
const ACKS_BEFORE_KILL: (u64, u64) = (20, 300);
/// The longest pause between the chosen acknowledgement and the kill (a few writes' time).
const MAX_KILL_DELAY: Duration = Duration::from_millis(8);
/// The survivor of the two-writer test must acknowledge this many writes after the kill.
const SURVIVOR_ACKS: u64 = 50;
/// Indexes of different trials never meet: trial `t` starts at `t * TRIAL_STRIDE`.
const TRIAL_STRIDE: u64 = 1_000_000;
/// A child that is neither stopped nor killed gives up after this many writes.
const MAX_WRITES: u64 = 100_000;
/// The pause of the ordinary writer beside a scenario child after each write. A writer that
/// keeps pace with the scenario rather than flooding the cache cannot run out of
/// [`MAX_WRITES`] while the scenario child works through a slow stretch (a loaded machine):
/// that takes 50 s, nearly a whole [`PATIENCE`].
const OTHER_PACE: Duration = Duration::from_micros(500);
/// Every this-many-th value is large enough for a value file.
const LARGE_EVERY: u64 = 7;
/// What every entry counts in `volume()` besides its key, tag and value (the documented 128).
const ROW_HEADER: u64 = 128;

// ----- what the writers write ---------------------------------------------------------------

fn key_of(prefix: &str, i: u64) -> String {
    format!("{prefix}k{i}")
}

impl Value {
    fn stored_len(&self) -> u64 {
        match self {
            Value::Int(_) => 8,
            Value::Large(b) => b.len() as u64,
        }
    }
}

/// What `volume()` counts for one entry with a text key and no tag.
fn entry_volume(key: &str, value_len: u64) -> u64 {
    ROW_HEADER + 1 + key.len() as u64 + value_len
}

// ----- the child ----------------------------------------------------------------------------

/// Child of the crash tests: sets `<prefix>k<i>` and increments `acked` for `i` from its start
/// index, printing `@@ack <i>` after each pair, until its stop file appears or it is killed.
/// Without a parent (the role is ignored in the normal run) it returns at once.
#[test]
#[ignore = "child role: started by its parent test"]
fn a_crash_child_writes_and_acknowledges_until_stopped_or_killed_when_started_by_a_parent() {
    let Some((dir, id)) = child_env(CHILD) else {
        return;
    };
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let stop = dir.join(format!("stop-{id}"));
    let prefix = var(PREFIX_VAR);
    let start: u64 = var(START_VAR).parse().unwrap();
    let pace = std::env::var(PACE_VAR).map_or(Duration::ZERO, |us| {
        Duration::from_micros(us.parse().unwrap())
    });
    let cache = Cache::open(&dir).unwrap();
    for i in start..start + MAX_WRITES {
        if stop.exists() {
            break;
        }
        common::value_of(i, LARGE_EVERY)
            .store(&cache, &key_of(&prefix, i))
            .unwrap();
        cache.incr("acked", 1, Some(0)).unwrap();
        tell_parent(&format!("ack {i}"));
        std::thread::sleep(pace);
    }
}

// ----- the parent's side --------------------------------------------------------------------

/// A line from a child, or the end of its output.
enum Event {
    Ack { child: usize, i: u64 },
    End { child: usize },
}

/// A running writer; killed if dropped while still running.
struct Writer {
    child: Streamed,
    prefix: String,
}

impl Writer {
    /// Starts writer `id`, writing as fast as it can; its acknowledgements arrive on `events`.
    fn spawn(dir: &Path, id: usize, prefix: &str, start: u64, events: Sender<Event>) -> Writer {
        Writer::spawn_paced(dir, id, prefix, start, Duration::ZERO, events)
    }

    /// As [`Writer::spawn`], pausing `pace` after each write.
    fn spawn_paced(
        dir: &Path,
        id: usize,
        prefix: &str,
        start: u64,
        pace: Duration,
        events: Sender<Event>,
    ) -> Writer {
        let ack = move |message: Option<&str>| match message {
            Some(message) => {
                let i = message.strip_prefix("ack ")?.trim().parse().ok()?;
                Some(Event::Ack { child: id, i })
            }
            None => Some(Event::End { child: id }),
        };
        let configure = |command: &mut Command| {
            command
                .env(PREFIX_VAR, prefix)
                .env(START_VAR, start.to_string())
                .env(PACE_VAR, pace.as_micros().to_string());
        };
        Writer {
            child: Streamed::spawn_mapped(CHILD, dir, id, events, configure, ack),
            prefix: prefix.to_owned(),
        }
    }

    fn kill(&mut self) {
        self.child.kill().unwrap();
    }

    fn wait(&mut self) -> ExitStatus {
        self.child.wait()
    }
}

fn next_event(events: &Receiver<Event>) -> Event {
    events
        .recv_timeout(PATIENCE)
        .expect("no line from the writers for a minute")
}

/// A pause of up to [`MAX_KILL_DELAY`] before a kill, so that it lands anywhere in the next
/// writes: in a set, in a value file, in a commit, between the commits and the ack.
fn kill_delay(rng: &mut Xorshift) -> Duration {
    Duration::from_micros(rng.next() % (MAX_KILL_DELAY.as_micros() as u64 + 1))
}

/// What one check of a crashed directory found.
struct Checked {
    /// Acknowledged keys checked (all trials so far).
    acks: usize,
    /// Rows readable through `keys()`.
    rows: u64,
    /// Rows written but not (yet) acknowledged when the writer died.
    unacked_rows: u64,
    /// The `acked` counter.
    counter: u64,
    /// Value files no row names.
    orphans: usize,
    /// `.val.tmp` files left by a write that never finished.
    temps: usize,
}

/// Reopens the cache in `dir` after a crash and checks it against `acked` (every key that was
/// acknowledged, with its index). Fails on any lost or wrong acknowledged write, any row that
/// does not read back as written, and any counter out of step with the rows.
fn check(dir: &Path, acked: &BTreeMap<String, u64>, label: &str) -> Checked {
    let cache = Cache::open(dir)
        .unwrap_or_else(|e| panic!("{label}: the cache does not reopen after the kill: {e}"));

    let mut lost = Vec::new();
    for (key, &i) in acked {
        let expected = common::value_of(i, LARGE_EVERY);
        match expected.load(&cache, key) {
            Ok(Some(found)) if found == expected => {}
            Ok(Some(_)) => lost.push(format!("{key} (wrong value)")),
            Ok(None) => lost.push(format!("{key} (missing)")),
            Err(e) => lost.push(format!("{key} ({e})")),
        }
    }
    assert!(
        lost.is_empty(),
        "{label}: {} of {} acknowledged writes lost, first: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );

    let counter = cache.get::<i64>("acked").unwrap().unwrap_or(0) as u64;
    assert!(
        counter >= acked.len() as u64,
        "{label}: `acked` is {counter}, but {} increments were acknowledged",
        acked.len()
    );

    // Every row, acknowledged or not, reads back as written, and the counters add up.
    let mut rows = 0;
    let mut key_rows = 0;
    let mut large_rows = 0;
    let mut volume = 0;
    for key in cache.keys().unwrap() {
        let key = match key.unwrap() {
            Key::Str(s) => s,
            other => panic!("{label}: unexpected key {other:?}"),
        };
        rows += 1;
        if key == "acked" {
            volume += entry_volume(&key, 8);
            continue;
        }
        let i: u64 = key.rsplit_once('k').unwrap().1.parse().unwrap();
        let expected = common::value_of(i, LARGE_EVERY);
        if !acked.contains_key(&key) {
            // Acknowledged rows were read above.
            let found = expected.load(&cache, &key);
            assert!(
                found.as_ref() == Ok(&Some(expected.clone())),
                "{label}: the unacknowledged row {key} does not read back as written: {found:?}"
            );
        }
        key_rows += 1;
        large_rows += usize::from(matches!(expected, Value::Large(_)));
        volume += entry_volume(&key, expected.stored_len());
    }
    assert_eq!(
        cache.len().unwrap(),
        rows,
        "{label}: len() disagrees with keys()"
    );
    assert_eq!(cache.volume().unwrap(), volume, "{label}: volume() is off");
    // Each increment of `acked` followed the set of a key of its own.
    assert!(
        key_rows >= counter,
        "{label}: `acked` is {counter} but only {key_rows} keys exist"
    );

    let (val_files, temps) = count_value_files(dir);
    assert!(
        val_files >= large_rows,
        "{label}: {large_rows} rows name value files but only {val_files} exist"
    );
    Checked {
        acks: acked.len(),
        rows,
        unacked_rows: key_rows - acked.len() as u64,
        counter,
        orphans: val_files - large_rows,
        temps,
    }
}

/// The `.val` and `.val.tmp` files under `dir`.
fn count_value_files(dir: &Path) -> (usize, usize) {
    let (mut vals, mut temps) = (0, 0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_dir() {
            let (v, t) = count_value_files(&entry.path());
            vals += v;
            temps += t;
        } else if name.ends_with(".val") {
            vals += 1;
        } else if name.ends_with(".val.tmp") {
            temps += 1;
        }
    }
    (vals, temps)
}

fn assert_killed(status: ExitStatus, what: &str) {
    assert!(
        status.signal() == Some(9),
        "{what} should have died of SIGKILL, but: {status}"
    );
}

// ----- the tests ----------------------------------------------------------------------------

#[test]
fn a_writer_killed_mid_stream_loses_no_acknowledged_write_and_the_cache_reopens_cleanly() {
    let started = Instant::now();
    let mut rng = Xorshift::from_env_or_clock(SEED_VAR, "one writer");
    let dir = tempfile::tempdir().unwrap();
    let mut acked = BTreeMap::new();
    let mut last = None;
    let trial_count = trials(TRIALS);
    for trial in 0..trial_count {
        let (tx, events) = channel();
        let mut writer = Writer::spawn(dir.path(), 0, "", trial * TRIAL_STRIDE, tx);
        let kill_after = rng.between(ACKS_BEFORE_KILL);
        let mut acks = 0;
        // Until the end of the writer's output: the acks it printed before it died count too.
        while let Event::Ack { i, .. } = next_event(&events) {
            acked.insert(key_of(&writer.prefix, i), i);
            acks += 1;
            if acks == kill_after {
                std::thread::sleep(kill_delay(&mut rng));
                writer.kill();
            }
        }
        assert!(acks >= kill_after, "trial {trial}: the writer ended early");
        assert_killed(writer.wait(), "the writer");

        let checking = Instant::now();
        let c = check(dir.path(), &acked, &format!("trial {trial}"));
        let checking = checking.elapsed();
        eprintln!(
            "one writer, trial {trial}: killed after {kill_after} acks ({} printed before it \
             died); {} acks checked in all, lost 0; {} rows, {} written but unacknowledged; \
             acked = {}; orphan value files {}, .val.tmp files {}; checked in {checking:.2?}",
            acks, c.acks, c.rows, c.unacked_rows, c.counter, c.orphans, c.temps
        );
        last = Some(c);
    }
    let c = last.unwrap();
    eprintln!(
        "one writer: {trial_count} trials in {:.2?}, {} acknowledged writes checked, lost 0, \
         {} orphan value files and {} .val.tmp files at the end",
        started.elapsed(),
        c.acks,
        c.orphans,
        c.temps
    );
}

#[test]
fn when_one_of_two_writers_is_killed_the_other_keeps_writing_and_no_acknowledged_write_is_lost() {
    let started = Instant::now();
    let mut rng = Xorshift::from_env_or_clock(SEED_VAR, "two writers");
    let dir = tempfile::tempdir().unwrap();
    let mut acked = BTreeMap::new();
    let mut last = None;
    let trial_count = trials(PAIR_TRIALS);
    for trial in 0..trial_count {
        let (tx, events) = channel();
        let start = trial * TRIAL_STRIDE;
        let mut writers = [
            Writer::spawn(dir.path(), 0, "c0-", start, tx.clone()),
            Writer::spawn(dir.path(), 1, "c1-", start, tx),
        ];
        let victim = (rng.next() >> 32) as usize % 2;
        let survivor = 1 - victim;
        let stop = dir.path().join(format!("stop-{survivor}"));
        let kill_after = rng.between(ACKS_BEFORE_KILL);
        let (mut victim_acks, mut survivor_acks_after, mut killed, mut ended) = (0, 0, false, 0);
        while ended < 2 {
            match next_event(&events) {
                Event::Ack { child, i } => {
                    acked.insert(key_of(&writers[child].prefix, i), i);
                    if child == victim {
                        victim_acks += 1;
                        if victim_acks == kill_after {
                            std::thread::sleep(kill_delay(&mut rng));
                            writers[victim].kill();
                            killed = true;
                        }
                    } else if killed {
                        survivor_acks_after += 1;
                        if survivor_acks_after == SURVIVOR_ACKS {
                            std::fs::write(&stop, b"").unwrap();
                        }
                    }
                }
                Event::End { child } => {
                    assert!(
                        child == victim || survivor_acks_after >= SURVIVOR_ACKS,
                        "trial {trial}: the survivor ended before it was stopped"
                    );
                    ended += 1;
                }
            }
        }
        assert!(
            killed,
            "trial {trial}: the victim ended before it was killed"
        );
        assert_killed(writers[victim].wait(), "the victim");
        let status = writers[survivor].wait();
        assert!(
            status.success(),
            "trial {trial}: the survivor failed: {status}"
        );
        std::fs::remove_file(&stop).unwrap();

        let c = check(dir.path(), &acked, &format!("pair trial {trial}"));
        eprintln!(
            "two writers, trial {trial}: writer {victim} killed after {kill_after} acks, \
             writer {survivor} acknowledged {survivor_acks_after} more after; {} acks checked \
             in all, lost 0; {} rows, {} written but unacknowledged; acked = {}; orphan value \
             files {}, .val.tmp files {}",
            c.acks, c.rows, c.unacked_rows, c.counter, c.orphans, c.temps
        );
        last = Some(c);
    }
    let c = last.unwrap();
    eprintln!(
        "two writers: {trial_count} trials in {:.2?}, {} acknowledged writes checked, lost 0, \
         {} orphan value files and {} .val.tmp files at the end",
        started.elapsed(),
        c.acks,
        c.orphans,
        c.temps
    );
}

// ----- crash points: large values, cull, clear, evict, checkpoint, transact, recovery ---------
//
// Each scenario runs one child (`SCENARIO_CHILD`) in a mode, next to an ordinary writer (the
// child above, prefix `o-`) writing at the same time, and kills the scenario child with SIGKILL
// at a random moment: inside a large value's file, a cull, a clear, an evict, a checkpoint, a
// transaction, or (mode `recover`) the recovery that opening a cache after a killed writer runs.
// The child prints `@@<what> <n>` once an operation is acknowledged. After each kill the
// ordinary writer acknowledges more writes and is stopped, and the directory is checked against
// what was acknowledged ([`Model`]): acknowledged writes present with their values, removals
// acknowledged by a clear or evict absent, a transaction's or an evict's keys all present or
// all absent, an interrupted clear's survivors the newest of its entries, every
// row readable with the value written, `len` and `volume` agreeing with the rows, `check(false)`
// reporting at most orphan value files, and clean after `check(true)`.
//
// `DISKCACHE_CRASH_SCALE=<n>` multiplies the trials of every scenario.

/// The mode of a scenario child.
const MODE_VAR: &str = "DISKCACHE_CHILD_MODE";
/// Multiplies the trials of the crash-point scenarios.
const SCALE_VAR: &str = "DISKCACHE_CRASH_SCALE";
const SCENARIO_CHILD: &str = common::child::role!(
    a_crash_scenario_child_runs_its_mode_until_killed_when_started_by_a_parent
);
/// The size limit of the `cull` scenario's cache: a few dozen of its entries.
const CULL_SIZE_LIMIT: u64 = 300_000;
/// The `clear` scenario clears after every this many sets.
const CLEAR_EVERY: u64 = 15;
/// The `evict` scenario tags ten keys alike, and evicts the previous tag after the tenth.
const TAG_RUN: u64 = 10;
/// The ordinary writer must acknowledge this many writes after each kill.
const OTHER_ACKS_AFTER: u64 = 20;

/// The scenario child's key `i`.
fn scenario_key(i: u64) -> String {
    format!("s-k{i}")
}

/// The index `i` of the scenario child's key `s-k<i>`.
fn scenario_index(key: &str) -> Option<u64> {
    key.strip_prefix("s-k")?.parse().ok()
}

/// The value the scenario child in `mode` writes under index `i`.
fn scenario_value(mode: &str, i: u64) -> Value {
    match mode {
        // 100 KiB to 1 MiB every other write.
        "large" if i.is_multiple_of(2) => {
            let len = 100 * 1024 + (i.wrapping_mul(7919) % (924 * 1024)) as usize;
            Value::Large((0..len).map(|j| (j as u64 ^ i) as u8).collect())
        }
        "large" => Value::Int(i as i64),
        // 1 to 40 KiB, so some go to value files (32 KiB and up).
        "cull" => {
            let len = 1024 + (i.wrapping_mul(3001) % 40_000) as usize;
            Value::Large((0..len).map(|j| (j as u64 + i) as u8).collect())
        }
        _ => common::value_of(i, LARGE_EVERY),
    }
}

/// The tag the `evict` scenario gives key `i`.
fn scenario_tag(i: u64) -> String {
    format!("t{}", i / TAG_RUN)
}

/// Child of the crash-point scenarios: runs its mode from its start index until killed (or
/// until its stop file appears), printing `@@<what> <n>` after each acknowledged operation.
/// Without a parent (the role is ignored in the normal run) it returns at once.
#[test]
#[ignore = "child role: started by its parent test"]
fn a_crash_scenario_child_runs_its_mode_until_killed_when_started_by_a_parent() {
    let Some((dir, id)) = child_env(SCENARIO_CHILD) else {
        return;
    };
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let stop = dir.join(format!("stop-{id}"));
    let mode = var(MODE_VAR);
    let start: u64 = var(START_VAR).parse().unwrap();
    let cache = if mode == "cull" {
        Cache::builder()
            .size_limit(CULL_SIZE_LIMIT)
            .open(&dir)
            .unwrap()
    } else {
        Cache::open(&dir).unwrap()
    };
    let ack = |what: &str, n: u64| tell_parent(&format!("{what} {n}"));
    // Opening (and any recovery it ran) is over.
    ack("opened", 0);
    for i in start..start + MAX_WRITES {
        if stop.exists() {
            break;
        }
        if mode == "transact" {
            cache
                .transact(|t| {
                    t.set(format!("s-a{i}"), i as i64)?;
                    match common::value_of(i, 3) {
                        Value::Int(v) => t.set(format!("s-b{i}"), v)?,
                        Value::Large(b) => t.set(format!("s-b{i}"), serde_bytes::Bytes::new(&b))?,
                    }
                    t.set(format!("s-c{i}"), -(i as i64))?;
                    t.incr("s-n", 1, Some(0))?;
                    Ok(())
                })
                .unwrap();
            ack("set", i);
            continue;
        }
        let key = scenario_key(i);
        let value = scenario_value(&mode, i);
        if mode == "evict" {
            let opts = diskcache::SetOptions::default().tag(scenario_tag(i));
            match &value {
                Value::Int(v) => cache.set_with(key.as_str(), v, opts),
                Value::Large(b) => cache.set_with(key.as_str(), serde_bytes::Bytes::new(b), opts),
            }
            .unwrap();
        } else {
            value.store(&cache, &key).unwrap();
        }
        ack("set", i);
        match mode.as_str() {
            "checkpoint" | "recover" if i.is_multiple_of(5) => {
                cache.checkpoint().unwrap();
                ack("checkpoint", i);
            }
            "cull" if i.is_multiple_of(10) => {
                cache.cull().unwrap();
                ack("cull", i);
            }
            "clear" if (i + 1).is_multiple_of(CLEAR_EVERY) => {
                cache.clear().unwrap();
                ack("clear", i);
            }
            "evict" if (i + 1).is_multiple_of(TAG_RUN) && i / TAG_RUN > 0 => {
                cache.evict(format!("t{}", i / TAG_RUN - 1)).unwrap();
                ack("evict", i / TAG_RUN - 1);
            }
            _ => {}
        }
    }
}

/// A line from a scenario child, or the end of its output.
enum ScenarioEvent {
    Ack(String, u64),
    End,
}

/// Starts a scenario child in `mode`; its lines arrive on `events`.
fn spawn_scenario(
    dir: &Path,
    id: usize,
    mode: &str,
    start: u64,
    events: Sender<ScenarioEvent>,
) -> Streamed {
    let configure = |command: &mut Command| {
        command
            .env(MODE_VAR, mode)
            .env(START_VAR, start.to_string());
    };
    Streamed::spawn_mapped(SCENARIO_CHILD, dir, id, events, configure, |message| {
        let Some(rest) = message else {
            return Some(ScenarioEvent::End);
        };
        let (what, n) = rest.trim().split_once(' ')?;
        Some(ScenarioEvent::Ack(what.to_owned(), n.parse().ok()?))
    })
}

/// Keys one operation removes (or, if it was interrupted, maybe removed in part), in the
/// order they were set.
enum Group {
    /// All present or all absent: one transaction (a transact's keys; an evict of a tag,
    /// fewer entries than one slice removes).
    Atomic(Vec<String>),
    /// Removed oldest first, maybe over several slices (a clear, `Cache::clear`): the keys
    /// still present are the newest ones.
    OldestFirst(Vec<String>),
}

/// What the acknowledged operations say a checked directory must hold.
#[derive(Default)]
struct Model {
    /// Keys whose write was acknowledged and not since removed by an acknowledged operation.
    present: BTreeSet<String>,
    /// Keys removed by an acknowledged clear or evict (and not written again).
    absent: BTreeSet<String>,
    /// Keys removed together, or maybe being removed when the child died.
    groups: Vec<Group>,
    /// Writes acknowledged, in all.
    acks: u64,
    /// The index of the scenario child's last acknowledged set in this trial.
    last_set: Option<u64>,
}

impl Model {
    /// The present keys of the scenario child tagged `tag`.
    fn present_with_tag(&self, tag: &str) -> Vec<String> {
        self.present
            .iter()
            .filter(|k| scenario_index(k).is_some_and(|i| scenario_tag(i) == tag))
            .cloned()
            .collect()
    }

    /// Notes the ordinary writer's acknowledged write of `o-k<i>`. Where a clear or a cull may
    /// remove it (and the order of two processes' acknowledgements is not known), it only
    /// has to read right if present.
    fn other_ack(&mut self, mode: &str, i: u64) {
        self.acks += 1;
        if !matches!(mode, "clear" | "cull") {
            self.present.insert(key_of("o-", i));
        }
    }
}

/// What an entry found in a checked directory must hold.
enum Expected {
    /// This value, and a tag of this encoded length (0 for none).
    Exact(Value, u64),
    /// Some integer (a counter).
    AnyInt,
}

/// What `key` must hold in the scenario of `mode`, from its name.
fn expected_of(mode: &str, key: &str) -> Expected {
    if key == "acked" || key == "s-n" {
        return Expected::AnyInt;
    }
    let index = |prefix: &str| key.strip_prefix(prefix).and_then(|n| n.parse::<u64>().ok());
    if let Some(i) = index("o-k") {
        return Expected::Exact(common::value_of(i, LARGE_EVERY), 0);
    }
    if let Some(i) = index("s-a") {
        return Expected::Exact(Value::Int(i as i64), 0);
    }
    if let Some(i) = index("s-b") {
        return Expected::Exact(common::value_of(i, 3), 0);
    }
    if let Some(i) = index("s-c") {
        return Expected::Exact(Value::Int(-(i as i64)), 0);
    }
    let i = index("s-k").unwrap_or_else(|| panic!("{key} was never written"));
    let tag_len = if mode == "evict" {
        1 + scenario_tag(i).len() as u64
    } else {
        0
    };
    Expected::Exact(scenario_value(mode, i), tag_len)
}

/// Reopens the cache in `dir` after a kill and checks it against `model` (see the section's
/// documentation). Returns the acknowledged keys checked.
fn check_model(dir: &Path, mode: &str, model: &Model, label: &str) -> usize {
    let cache = Cache::open(dir)
        .unwrap_or_else(|e| panic!("{label}: the cache does not reopen after the kill: {e}"));
    let load = |key: &str| match expected_of(mode, key) {
        Expected::Exact(v, _) => v.load(&cache, key),
        Expected::AnyInt => cache
            .get::<i64>(key)
            .map(|v| v.map(Value::Int))
            .map_err(|e| e.to_string()),
    };
    let mut lost = Vec::new();
    for key in &model.present {
        match (load(key), expected_of(mode, key)) {
            (Ok(Some(found)), Expected::Exact(want, _)) if found == want => {}
            (Ok(Some(_)), Expected::AnyInt) => {}
            (found, _) => lost.push(format!("{key}: {:?}", found.map(|v| v.is_some()))),
        }
    }
    assert!(
        lost.is_empty(),
        "{label}: {} of {} acknowledged writes lost or wrong, first: {:?}",
        lost.len(),
        model.present.len(),
        &lost[..lost.len().min(5)]
    );
    for key in &model.absent {
        assert!(
            !cache.contains(key.as_str()).unwrap(),
            "{label}: {key} is back after an acknowledged removal"
        );
    }
    for group in &model.groups {
        let (keys, atomic) = match group {
            Group::Atomic(keys) => (keys, true),
            Group::OldestFirst(keys) => (keys, false),
        };
        let present: Vec<bool> = keys
            .iter()
            .map(|k| cache.contains(k.as_str()).unwrap())
            .collect();
        let count = present.iter().filter(|&&p| p).count();
        if atomic {
            assert!(
                count == 0 || count == keys.len(),
                "{label}: {count} of the {} keys of one atomic operation present: {keys:?}",
                keys.len()
            );
        } else {
            assert!(
                present[keys.len() - count..].iter().all(|&p| p),
                "{label}: an interrupted clear removed a newer key before an older one: \
                 {keys:?} present {present:?}"
            );
        }
    }
    let (mut rows, mut volume) = (0u64, 0u64);
    for key in cache.keys().unwrap() {
        let key = match key.unwrap() {
            Key::Str(s) => s,
            other => panic!("{label}: unexpected key {other:?}"),
        };
        rows += 1;
        let (value_len, tag_len) = match expected_of(mode, &key) {
            Expected::Exact(want, tag_len) => {
                let found = want.load(&cache, &key);
                assert!(
                    found.as_ref() == Ok(&Some(want.clone())),
                    "{label}: the row {key} does not read back as written"
                );
                (want.stored_len(), tag_len)
            }
            Expected::AnyInt => {
                assert!(cache.get::<i64>(key.as_str()).unwrap().is_some(), "{label}");
                (8, 0)
            }
        };
        volume += entry_volume(&key, value_len) + tag_len;
    }
    assert_eq!(
        cache.len().unwrap(),
        rows,
        "{label}: len() disagrees with keys()"
    );
    assert_eq!(cache.volume().unwrap(), volume, "{label}: volume() is off");
    if mode == "transact" {
        // Every transaction that committed, acknowledged or not, did all of its work: its
        // three keys and one increment of `s-n`.
        let mut done = 0;
        for key in keys_with_prefix(&cache, "s-a") {
            let i = &key["s-a".len()..];
            for other in [format!("s-b{i}"), format!("s-c{i}")] {
                assert!(
                    cache.contains(other.as_str()).unwrap(),
                    "{label}: {key} is present but {other} of the same transaction is not"
                );
            }
            done += 1;
        }
        let counter = cache.get::<i64>("s-n").unwrap().unwrap_or(0);
        assert_eq!(
            counter, done,
            "{label}: `s-n` says {counter} transactions committed, but {done} left their keys"
        );
    }
    let warnings: Vec<String> = cache
        .check(false)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        warnings.iter().all(|w| w.contains("belongs to no entry")),
        "{label}: check(false) found more than orphan value files: {warnings:#?}"
    );
    cache.check(true).unwrap();
    assert_eq!(
        cache.check(false).unwrap(),
        Vec::new(),
        "{label}: not clean after check(true)"
    );
    model.present.len() + model.absent.len()
}

/// The text keys of `cache` that start with `prefix`.
fn keys_with_prefix(cache: &Cache, prefix: &str) -> Vec<String> {
    cache
        .keys()
        .unwrap()
        .filter_map(|k| match k.unwrap() {
            Key::Str(s) if s.starts_with(prefix) => Some(s),
            _ => None,
        })
        .collect()
}

/// The trials of a scenario: `base` times `DISKCACHE_CRASH_SCALE` (default 1).
fn trials(base: u64) -> u64 {
    let scale = std::env::var(SCALE_VAR)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(1);
    base * scale.max(1)
}

/// Applies one acknowledged operation of the scenario child to the model.
fn note_scenario_ack(mode: &str, model: &mut Model, what: &str, n: u64) {
    match what {
        "set" if mode == "transact" => {
            let group: Vec<String> = ["a", "b", "c"]
                .iter()
                .map(|p| format!("s-{p}{n}"))
                .collect();
            model.present.extend(group.iter().cloned());
            model.groups.push(Group::Atomic(group));
            model.acks += 1;
        }
        // Culling may remove any entry: a kept one must still read right.
        "set" if mode == "cull" => model.acks += 1,
        "set" => {
            let key = scenario_key(n);
            model.absent.remove(&key);
            model.present.insert(key);
            model.acks += 1;
            model.last_set = Some(n);
        }
        "clear" => {
            // Everything is gone, the other writer's entries too (those may come back).
            let gone: Vec<String> = model
                .present
                .iter()
                .filter(|k| k.starts_with("s-"))
                .cloned()
                .collect();
            for key in gone {
                model.present.remove(&key);
                model.absent.insert(key);
            }
            model.groups.clear();
        }
        "evict" => {
            let tag = format!("t{n}");
            let gone = model.present_with_tag(&tag);
            for key in gone {
                model.present.remove(&key);
                model.absent.insert(key);
            }
        }
        _ => {}
    }
}

/// After a kill: the removal the child may have been inside of (the one it runs right after
/// its last acknowledged set), as a group.
fn note_interrupted(mode: &str, model: &mut Model) {
    let Some(last) = model.last_set.take() else {
        return;
    };
    let group = match mode {
        // A clear removes rows oldest first, in slices: of the scenario child's entries since
        // the last acknowledged clear, the ones left are the newest.
        "clear" if (last + 1).is_multiple_of(CLEAR_EVERY) => {
            let mut keys: Vec<(u64, String)> = model
                .present
                .iter()
                .filter_map(|k| Some((scenario_index(k)?, k.clone())))
                .collect();
            keys.sort();
            Group::OldestFirst(keys.into_iter().map(|(_, k)| k).collect())
        }
        // A tag's entries (fewer than one slice removes) go in one transaction.
        "evict" if (last + 1).is_multiple_of(TAG_RUN) && last / TAG_RUN > 0 => {
            let tag = format!("t{}", last / TAG_RUN - 1);
            Group::Atomic(model.present_with_tag(&tag))
        }
        _ => return,
    };
    let (Group::Atomic(keys) | Group::OldestFirst(keys)) = &group;
    for key in keys {
        model.present.remove(key);
    }
    model.groups.push(group);
}

/// Runs `trials` kills of a scenario child in `mode` in one directory, with the ordinary
/// writer beside it; returns (trials, acknowledged keys checked at the end).
fn run_scenario(mode: &str, base_trials: u64, acks_before_kill: (u64, u64)) -> (u64, usize) {
    let started = Instant::now();
    let test = format!("scenario {mode}");
    let mut rng = Xorshift::from_env_or_clock(SEED_VAR, &test);
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::default();
    let trials = trials(base_trials);
    let mut checked = 0;
    for trial in 0..trials {
        if mode == "cull" {
            // What the last trial required may have been culled since.
            model.present.clear();
        }
        let start = trial * TRIAL_STRIDE;
        let (other_tx, other_events) = channel();
        let mut other = Writer::spawn_paced(dir.path(), 0, "o-", start, OTHER_PACE, other_tx);
        let (tx, events) = channel();
        let mut victim = spawn_scenario(dir.path(), 1, mode, start, tx);
        let kill_after = rng.between(acks_before_kill);
        let trial_started = Instant::now();
        let mut other_writes = 0;
        let mut acks = 0;
        let mut killed = false;
        loop {
            while let Ok(event) = other_events.try_recv() {
                match event {
                    Event::Ack { i, .. } => {
                        model.other_ack(mode, i);
                        other_writes = i + 1 - start;
                    }
                    Event::End { .. } => panic!(
                        "{test}, trial {trial}: the other writer ended early ({other_writes} \
                         writes acknowledged, {:.2?} into the trial): {}",
                        trial_started.elapsed(),
                        other.wait()
                    ),
                }
            }
            match events
                .recv_timeout(PATIENCE)
                .expect("no line from the child for a minute")
            {
                ScenarioEvent::Ack(what, n) => {
                    note_scenario_ack(mode, &mut model, &what, n);
                    if what == "set" {
                        acks += 1;
                        if acks == kill_after && !killed {
                            std::thread::sleep(kill_delay(&mut rng));
                            victim.kill().unwrap();
                            killed = true;
                        }
                    }
                }
                ScenarioEvent::End => break,
            }
        }
        assert!(
            killed,
            "{test}, trial {trial}: the child ended before it was killed"
        );
        assert_killed(victim.wait(), "the scenario child");
        note_interrupted(mode, &mut model);
        finish_other(
            dir.path(),
            mode,
            &mut other,
            &other_events,
            &mut model,
            &test,
        );
        let label = format!("{test}, trial {trial}");
        checked = check_model(dir.path(), mode, &model, &label);
        eprintln!("{label}: killed after {kill_after} acks; {checked} acknowledged keys checked");
    }
    eprintln!(
        "{test}: {trials} kill trials in {:.2?}, {} writes acknowledged, {checked} \
         acknowledged keys checked at the end, lost 0",
        started.elapsed(),
        model.acks
    );
    (trials, checked)
}

/// Lets the ordinary writer acknowledge [`OTHER_ACKS_AFTER`] more writes, stops it, and
/// notes its acknowledgements.
fn finish_other(
    dir: &Path,
    mode: &str,
    other: &mut Writer,
    events: &Receiver<Event>,
    model: &mut Model,
    test: &str,
) {
    let stop = dir.join("stop-0");
    let mut after = 0;
    let mut last = None;
    while let Event::Ack { i, .. } = next_event(events) {
        model.other_ack(mode, i);
        last = Some(i);
        after += 1;
        if after == OTHER_ACKS_AFTER {
            std::fs::write(&stop, b"").unwrap();
        }
    }
    let status = other.wait();
    assert!(
        status.success(),
        "{test}: the other writer failed: {status}"
    );
    assert!(
        after >= OTHER_ACKS_AFTER,
        "{test}: the other writer ended early"
    );
    std::fs::remove_file(&stop).unwrap();
    if mode == "cull"
        && let Some(i) = last
    {
        // The newest entry of all, after the scenario child died: no cull removes it (the
        // policy removes the least recently stored first, down to the limit).
        model.present.insert(key_of("o-", i));
    }
}

#[test]
fn a_writer_killed_while_writing_large_value_files_loses_no_acknowledged_write() {
    run_scenario("large", 6, (3, 12));
}

#[test]
fn a_writer_killed_while_culling_a_size_limited_cache_leaves_it_consistent() {
    run_scenario("cull", 6, (20, 80));
}

#[test]
fn a_writer_killed_inside_clear_leaves_only_its_newest_entries() {
    run_scenario("clear", 6, (10, 60));
}

#[test]
fn a_writer_killed_inside_evict_leaves_all_or_none_of_the_tag() {
    run_scenario("evict", 6, (15, 60));
}

#[test]
fn a_writer_killed_while_checkpointing_loses_no_acknowledged_write() {
    run_scenario("checkpoint", 6, (10, 80));
}

#[test]
fn a_writer_killed_inside_a_transaction_leaves_all_or_none_of_its_keys() {
    run_scenario("transact", 6, (10, 80));
}

/// Kills a writer mid-stream, then, with the ordinary writer going, starts processes that
/// open the cache (recovering it if the dead writer left the log dirty) and kills each within
/// a few milliseconds of its start, while its open and recovery run; then checks.
#[test]
fn a_process_killed_while_it_recovers_a_cache_after_a_killed_writer_loses_nothing() {
    let started = Instant::now();
    let test = "scenario recover";
    let mut rng = Xorshift::from_env_or_clock(SEED_VAR, test);
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::default();
    let trials = trials(6);
    let (mut checked, mut before_open, mut after_open) = (0, 0, 0);
    for trial in 0..trials {
        let start = trial * TRIAL_STRIDE;
        let (other_tx, other_events) = channel();
        let mut other = Writer::spawn_paced(dir.path(), 0, "o-", start, OTHER_PACE, other_tx);
        // The first victim: killed mid-stream, maybe inside a checkpoint.
        let (tx, events) = channel();
        let mut victim = spawn_scenario(dir.path(), 1, "recover", start, tx);
        let kill_after = rng.between((10, 60));
        let mut acks = 0;
        while let ScenarioEvent::Ack(what, n) = events.recv_timeout(PATIENCE).unwrap() {
            note_scenario_ack("recover", &mut model, &what, n);
            if what == "set" {
                acks += 1;
                if acks == kill_after {
                    std::thread::sleep(kill_delay(&mut rng));
                    let _ = victim.kill();
                }
            }
        }
        assert_killed(victim.wait(), "the first victim");
        // Then processes killed while they open the cache.
        for round in 0..3u64 {
            let (tx, events) = channel();
            let begin = start + (round + 1) * (TRIAL_STRIDE / 8);
            let mut opener = spawn_scenario(dir.path(), 2, "recover", begin, tx);
            std::thread::sleep(Duration::from_micros(rng.next() % 15_000));
            let _ = opener.kill();
            let mut opened = false;
            while let ScenarioEvent::Ack(what, n) = events.recv_timeout(PATIENCE).unwrap() {
                opened |= what == "opened";
                note_scenario_ack("recover", &mut model, &what, n);
            }
            let status = opener.wait();
            assert_killed(status, "an opener");
            if opened {
                after_open += 1;
            } else {
                before_open += 1;
            }
        }
        finish_other(
            dir.path(),
            "recover",
            &mut other,
            &other_events,
            &mut model,
            test,
        );
        let label = format!("{test}, trial {trial}");
        checked = check_model(dir.path(), "recover", &model, &label);
        eprintln!("{label}: first victim killed after {kill_after} acks, 3 openers killed");
    }
    eprintln!(
        "{test}: {trials} trials ({} kills; of the openers, {before_open} killed before their \
         open returned, {after_open} after) in {:.2?}, {} writes acknowledged, {checked} \
         acknowledged keys checked at the end, lost 0",
        trials * 4,
        started.elapsed(),
        model.acks
    );
}
