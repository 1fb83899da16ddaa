//! Guards that a process killed with SIGKILL in the middle of a stream of writes loses no write
//! it had acknowledged, and leaves a cache that opens cleanly and is consistent: every row
//! readable with the value that was written, `len()` and `volume()` in step with the rows.
//!
//! A writer is a real child process: this test binary re-run (`std::env::current_exe()`) with
//! `--exact <child test> --nocapture --test-threads=1` and environment variables naming its
//! cache directory, key prefix and first index. It loops: set `k<i>` (every 7th value a 40 KiB
//! byte string, so value files are involved), `incr("acked")`, then print `@@ack <i>` and
//! flush. Once the line is printed the write is acknowledged. The parent kills it with SIGKILL
//! after a random number of acknowledgements, reopens the cache and checks every
//! acknowledged key. The directory is carried across trials, so later trials start from a
//! crashed state, and the check covers every earlier trial's acknowledgements too.
//!
//! Orphan value files (written and renamed, but the process died before the commit that
//! would name them) and `.val.tmp` leftovers are allowed by the design after a crash; they
//! are counted and reported, not failed on.
//!
//! The random numbers come from a xorshift seeded from the clock; the seed is printed, and
//! `DISKCACHE_CRASH_SEED=<seed>` replays a run.
//!
//! That these tests can fail is shown by the test-only Cargo feature
//! `broken-ack-before-commit`, which makes every write return without committing:
//! `cargo test --test crash_consistency --features broken-ack-before-commit` must fail.
#![cfg(unix)]

mod common;

use common::Value;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use diskcache::{Cache, Key};

/// Names the child test a process was started to act as.
const ROLE_VAR: &str = "DISKCACHE_CHILD_ROLE";
/// The cache directory of a child.
const DIR_VAR: &str = "DISKCACHE_CHILD_DIR";
/// A child's number, which names its stop file.
const ID_VAR: &str = "DISKCACHE_CHILD_ID";
/// What a child's keys start with (`""` or `c0-`, `c1-`).
const PREFIX_VAR: &str = "DISKCACHE_CHILD_PREFIX";
/// The index of a child's first key.
const START_VAR: &str = "DISKCACHE_CHILD_START";
/// Replays a run with this seed.
const SEED_VAR: &str = "DISKCACHE_CRASH_SEED";

const CHILD: &str =
    "a_crash_child_writes_and_acknowledges_until_stopped_or_killed_when_started_by_a_parent";

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
/// Every this-many-th value is large enough for a value file.
const LARGE_EVERY: u64 = 7;
/// What every entry counts in `volume()` besides its key, tag and value (the documented 128).
const ROW_HEADER: u64 = 128;
/// How long the parent waits for a child's next line before failing.
const PATIENCE: Duration = Duration::from_secs(60);

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
/// In the normal test run (no child environment) it returns at once and passes trivially.
#[test]
fn a_crash_child_writes_and_acknowledges_until_stopped_or_killed_when_started_by_a_parent() {
    if std::env::var(ROLE_VAR).ok().as_deref() != Some(CHILD) {
        return;
    }
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let dir = PathBuf::from(var(DIR_VAR));
    let stop = dir.join(format!("stop-{}", var(ID_VAR)));
    let prefix = var(PREFIX_VAR);
    let start: u64 = var(START_VAR).parse().unwrap();
    let cache = Cache::open(&dir).unwrap();
    let mut out = std::io::stdout().lock();
    for i in start..start + MAX_WRITES {
        if stop.exists() {
            break;
        }
        common::value_of(i, LARGE_EVERY)
            .store(&cache, &key_of(&prefix, i))
            .unwrap();
        cache.incr("acked", 1, Some(0)).unwrap();
        writeln!(out, "@@ack {i}").unwrap();
        out.flush().unwrap();
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
    child: Child,
    prefix: String,
}

impl Writer {
    /// Starts writer `id`, whose acknowledgements arrive on `events`.
    fn spawn(dir: &Path, id: usize, prefix: &str, start: u64, events: Sender<Event>) -> Writer {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", CHILD, "--nocapture", "--test-threads=1"])
            .env(ROLE_VAR, CHILD)
            .env(DIR_VAR, dir)
            .env(ID_VAR, id.to_string())
            .env(PREFIX_VAR, prefix)
            .env(START_VAR, start.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // The harness may print `test <name> ... ` before the first line.
                let ack = line.split_once("@@ack ").map(|(_, i)| i.trim().parse());
                if let Some(Ok(i)) = ack {
                    let _ = events.send(Event::Ack { child: id, i });
                }
            }
            let _ = events.send(Event::End { child: id });
        });
        Writer {
            child,
            prefix: prefix.to_owned(),
        }
    }

    fn kill(&mut self) {
        self.child.kill().unwrap();
    }

    fn wait(&mut self) -> ExitStatus {
        self.child.wait().unwrap()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn next_event(events: &Receiver<Event>) -> Event {
    events
        .recv_timeout(PATIENCE)
        .expect("no line from the writers for a minute")
}

/// A xorshift64 generator: enough to pick kill points, with no dependency.
struct Rng(u64);

impl Rng {
    /// Seeded from `DISKCACHE_CRASH_SEED`, or else from the clock; prints the seed.
    fn new(test: &str) -> Rng {
        let seed = match std::env::var(SEED_VAR) {
            Ok(s) => s.parse().expect("DISKCACHE_CRASH_SEED is a u64"),
            Err(_) => {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
                (now.as_nanos() as u64) ^ u64::from(std::process::id()).rotate_left(32)
            }
        };
        eprintln!("{test}: seed {seed} (replay with {SEED_VAR}={seed})");
        // One splitmix64 step, so that close seeds give unrelated sequences.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)).max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A pause of up to [`MAX_KILL_DELAY`] before a kill, so that it lands anywhere in the
    /// next writes: in a set, in a value file, in a commit, between the commits and the ack.
    fn kill_delay(&mut self) -> Duration {
        Duration::from_micros(self.next() % (MAX_KILL_DELAY.as_micros() as u64 + 1))
    }

    /// A number in `lo..=hi`.
    fn between(&mut self, (lo, hi): (u64, u64)) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
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
    let mut rng = Rng::new("one writer");
    let dir = tempfile::tempdir().unwrap();
    let mut acked = BTreeMap::new();
    let mut last = None;
    for trial in 0..TRIALS {
        let (tx, events) = channel();
        let mut writer = Writer::spawn(dir.path(), 0, "", trial * TRIAL_STRIDE, tx);
        let kill_after = rng.between(ACKS_BEFORE_KILL);
        let mut acks = 0;
        // Until the end of the writer's output: the acks it printed before it died count too.
        while let Event::Ack { i, .. } = next_event(&events) {
            acked.insert(key_of(&writer.prefix, i), i);
            acks += 1;
            if acks == kill_after {
                std::thread::sleep(rng.kill_delay());
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
        "one writer: {TRIALS} trials in {:.2?}, {} acknowledged writes checked, lost 0, \
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
    let mut rng = Rng::new("two writers");
    let dir = tempfile::tempdir().unwrap();
    let mut acked = BTreeMap::new();
    let mut last = None;
    for trial in 0..PAIR_TRIALS {
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
                            std::thread::sleep(rng.kill_delay());
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
        "two writers: {PAIR_TRIALS} trials in {:.2?}, {} acknowledged writes checked, lost 0, \
         {} orphan value files and {} .val.tmp files at the end",
        started.elapsed(),
        c.acks,
        c.orphans,
        c.temps
    );
}
