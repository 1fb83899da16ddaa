//! Guards that several processes using one cache directory at once lose no update and read
//! each other's writes, and that a writer held up by another process's write lock gets
//! [`Error::Timeout`] after its `timeout` rather than waiting forever.
//!
//! The other processes are real: each parent test re-runs this test binary
//! (`tests/common/child.rs`: `--exact <child test> --include-ignored`) with environment
//! variables naming the child's role, cache directory and id. A child test is `#[ignore]`d, so
//! the normal run lists it as ignored, and does its work only when those variables name it.
//!
//! Children talk to their parent on stdout, one message per line after a `@@` marker (the test
//! harness may print `test <name> ... ` on the same line first).

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::child::{Proc, child_env, tell_parent, wait_for_file};

use diskcache::{Cache, Error};
use serde_bytes::ByteBuf;

/// Processes writing at once in the counter and key tests.
const PROCESSES: usize = 4;
/// Increments per process in the counter test.
const INCREMENTS: i64 = 300;
/// Keys set per process in the key test.
const KEYS_PER_PROCESS: usize = 120;
/// What every entry counts in `volume()` besides its key, tag and value (the documented
/// 128 bytes).
const ROW_HEADER: u64 = 128;
/// The file a parent creates to let its waiting children start at once.
const GO_FILE: &str = "go";

// ----- plumbing -----------------------------------------------------------------------------

/// Starts `PROCESSES` children of `role` on `dir`, waits until each has opened the cache, and
/// lets them all go at once.
fn start_together(role: &str, dir: &Path) -> Vec<Proc> {
    let mut procs: Vec<Proc> = (0..PROCESSES)
        .map(|id| Proc::spawn(role, dir, id))
        .collect();
    for p in &mut procs {
        p.expect("ready");
    }
    std::fs::write(dir.join(GO_FILE), b"").unwrap();
    procs
}

/// In a child: opens the cache, tells the parent, and waits for the go signal.
fn open_and_wait_for_go(dir: &Path) -> Cache {
    let cache = Cache::open(dir).unwrap();
    tell_parent("ready");
    wait_for_file(&dir.join(GO_FILE));
    cache
}

/// The value files (`.val`) under `dir`.
fn value_files(dir: &Path) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            count += value_files(&entry.path());
        } else if entry.file_name().to_string_lossy().ends_with(".val") {
            count += 1;
        }
    }
    count
}

/// What `volume()` counts for one entry with a text key and no tag: the row header, the
/// encoded key (a class byte and the UTF-8) and the value's stored bytes.
fn entry_volume(key: &str, value_len: u64) -> u64 {
    ROW_HEADER + 1 + key.len() as u64 + value_len
}

// ----- one counter, many processes ----------------------------------------------------------

const COUNTER_CHILD: &str =
    common::child::role!(a_counter_child_increments_the_shared_counter_when_started_by_a_parent);

/// Child of [`four_processes_incrementing_one_counter_lose_no_increment`]: increments `counter`
/// [`INCREMENTS`] times and reports every value `incr` returned. Without a parent (the role is
/// ignored in the normal run) it returns at once.
#[test]
#[ignore = "child role: started by its parent test"]
fn a_counter_child_increments_the_shared_counter_when_started_by_a_parent() {
    let Some((dir, _id)) = child_env(COUNTER_CHILD) else {
        return;
    };
    let cache = open_and_wait_for_go(&dir);
    let mut seen = Vec::with_capacity(INCREMENTS as usize);
    for _ in 0..INCREMENTS {
        seen.push(cache.incr("counter", 1, Some(0)).unwrap().to_string());
        // A writer that begins its next transaction at once nearly always wins the lock back
        // from the others, who poll for it; a short pause lets their increments interleave.
        std::thread::sleep(Duration::from_micros(200));
    }
    tell_parent(&format!("results {}", seen.join(" ")));
}

#[test]
fn four_processes_incrementing_one_counter_lose_no_increment() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let started = Instant::now();
    let procs = start_together(COUNTER_CHILD, dir.path());
    let mut returned = Vec::new();
    let mut cut_in = 0;
    for mut p in procs {
        let results: Vec<i64> = p
            .expect("results")
            .split(' ')
            .map(|v| v.parse().unwrap())
            .collect();
        // How often another process incremented between two of this one's increments.
        cut_in += results.windows(2).filter(|w| w[1] != w[0] + 1).count();
        returned.extend(results);
        p.finish();
    }
    let elapsed = started.elapsed();
    let total = PROCESSES as i64 * INCREMENTS;

    assert_eq!(cache.get::<i64>("counter").unwrap(), Some(total));
    assert_eq!(cache.len().unwrap(), 1);
    assert_eq!(cache.volume().unwrap(), entry_volume("counter", 8));
    // Each increment saw its own starting value: every result from 1 to the total, once.
    assert!(
        cut_in > 0,
        "the processes never interleaved: the test proved nothing"
    );
    returned.sort_unstable();
    let expected: Vec<i64> = (1..=total).collect();
    assert!(
        returned == expected,
        "the values incr returned are not 1..={total} each once ({} values)",
        returned.len()
    );
    eprintln!(
        "counter: {PROCESSES} processes x {INCREMENTS} incr = {total} in {elapsed:.2?}, \
         final value {total}, no result twice; another process cut in {cut_in} times"
    );
}

// ----- many keys, many processes ------------------------------------------------------------

const KEYS_CHILD: &str =
    common::child::role!(a_keys_child_sets_its_keys_and_reads_the_others_when_started_by_a_parent);

/// The value process `id` stores under its `i`th key.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Int(i64),
    Text(String),
    /// At least 32 KiB, the default `min_file_size`: stored in a value file.
    Large(Vec<u8>),
}

fn key_of(id: usize, i: usize) -> String {
    format!("p{id}-{i}")
}

fn value_of(id: usize, i: usize) -> Value {
    let n = id * KEYS_PER_PROCESS + i;
    match i % 4 {
        0 => {
            let len = 32 * 1024 + n % 1000;
            Value::Large((0..len).map(|j| (j * 7 + n) as u8).collect())
        }
        1 => Value::Int(n as i64 * 1_000_003),
        _ => Value::Text(format!("value {n} of process {id} ").repeat(1 + i % 7)),
    }
}

impl Value {
    fn store(&self, cache: &Cache, key: &str) {
        match self {
            Value::Int(v) => cache.set(key, v),
            Value::Text(s) => cache.set(key, s),
            Value::Large(b) => cache.set(key, ByteBuf::from(b.clone())),
        }
        .unwrap();
    }

    /// Reads `key` back as this value's type.
    fn load(&self, cache: &Cache, key: &str) -> Option<Value> {
        match self {
            Value::Int(_) => cache.get::<i64>(key).unwrap().map(Value::Int),
            Value::Text(_) => cache.get::<String>(key).unwrap().map(Value::Text),
            Value::Large(_) => cache
                .get::<ByteBuf>(key)
                .unwrap()
                .map(|b| Value::Large(b.into_vec())),
        }
    }

    fn stored_len(&self) -> u64 {
        match self {
            Value::Int(_) => 8,
            Value::Text(s) => s.len() as u64,
            Value::Large(b) => b.len() as u64,
        }
    }
}

/// Child of [`four_processes_setting_their_own_keys_read_each_others_writes`]: sets its keys,
/// reading another process's key after each set, then, once every process is done, reads all
/// the others' keys. Without a parent (the role is ignored in the normal run) it returns at
/// once.
#[test]
#[ignore = "child role: started by its parent test"]
fn a_keys_child_sets_its_keys_and_reads_the_others_when_started_by_a_parent() {
    let Some((dir, id)) = child_env(KEYS_CHILD) else {
        return;
    };
    let cache = open_and_wait_for_go(&dir);
    let mut early_hits = 0;
    for i in 0..KEYS_PER_PROCESS {
        value_of(id, i).store(&cache, &key_of(id, i));
        let other = (id + 1 + i % (PROCESSES - 1)) % PROCESSES;
        let expected = value_of(other, i);
        if let Some(found) = expected.load(&cache, &key_of(other, i)) {
            assert!(found == expected, "{} has a wrong value", key_of(other, i));
            early_hits += 1;
        }
    }
    std::fs::write(dir.join(format!("done-{id}")), b"").unwrap();
    for other in 0..PROCESSES {
        wait_for_file(&dir.join(format!("done-{other}")));
    }
    for other in (0..PROCESSES).filter(|&o| o != id) {
        for i in 0..KEYS_PER_PROCESS {
            let expected = value_of(other, i);
            let found = expected.load(&cache, &key_of(other, i));
            assert!(
                found.as_ref() == Some(&expected),
                "process {id} does not see {} as written",
                key_of(other, i)
            );
        }
    }
    tell_parent(&format!("seen {early_hits}"));
}

#[test]
fn four_processes_setting_their_own_keys_read_each_others_writes() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let started = Instant::now();
    let procs = start_together(KEYS_CHILD, dir.path());
    let mut early_hits = Vec::new();
    for mut p in procs {
        early_hits.push(p.expect("seen"));
        p.finish();
    }
    let elapsed = started.elapsed();

    let mut volume = 0;
    let mut large = 0;
    for id in 0..PROCESSES {
        for i in 0..KEYS_PER_PROCESS {
            let (key, expected) = (key_of(id, i), value_of(id, i));
            let found = expected.load(&cache, &key);
            assert!(found.as_ref() == Some(&expected), "{key} is not as written");
            volume += entry_volume(&key, expected.stored_len());
            large += usize::from(matches!(expected, Value::Large(_)));
        }
    }
    let entries = (PROCESSES * KEYS_PER_PROCESS) as u64;
    assert_eq!(cache.len().unwrap(), entries);
    assert_eq!(cache.keys().unwrap().count() as u64, entries);
    assert_eq!(cache.volume().unwrap(), volume);
    assert_eq!(value_files(dir.path()), large);

    assert_eq!(cache.clear().unwrap(), entries);
    assert_eq!(cache.len().unwrap(), 0);
    assert_eq!(cache.volume().unwrap(), 0);
    assert_eq!(value_files(dir.path()), 0);
    eprintln!(
        "keys: {PROCESSES} processes x {KEYS_PER_PROCESS} keys ({large} in value files) in \
         {elapsed:.2?}; other processes' keys seen while writing: {}; volume {volume} bytes, \
         0 after clear",
        early_hits.join("/")
    );
}

// ----- the write lock held by another process -----------------------------------------------

const LOCK_CHILD: &str =
    common::child::role!(a_lock_child_holds_the_write_lock_when_started_by_a_parent);
/// How long the lock child holds redb's write lock.
const HOLD: Duration = Duration::from_secs(2);

/// Child of [`a_write_times_out_while_another_process_holds_the_write_lock`]: opens the cache's
/// database with redb directly, begins a write transaction, takes the `cache.lock` file lock,
/// says `locked`, and holds both for [`HOLD`]. Without a parent (the role is ignored in the
/// normal run) it returns at once.
#[test]
#[ignore = "child role: started by its parent test"]
fn a_lock_child_holds_the_write_lock_when_started_by_a_parent() {
    let Some((dir, _id)) = child_env(LOCK_CHILD) else {
        return;
    };
    let db = redb::Database::builder()
        .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
        .create(dir.join("cache.redb"))
        .unwrap();
    let txn = db.begin_write().unwrap();
    // The log's write lock too (format-spec/wal.md): every write on the logged path takes it.
    let _log_lock = common::hold_log_lock(&dir);
    tell_parent("locked");
    std::thread::sleep(HOLD);
    txn.abort().unwrap();
}

#[test]
fn a_write_times_out_while_another_process_holds_the_write_lock() {
    let dir = tempfile::tempdir().unwrap();
    // Opened, and written once, before the child locks: opening a new cache writes.
    let cache = Cache::builder()
        .timeout(Duration::from_millis(200))
        .open(dir.path())
        .unwrap();
    cache.set("before", 1).unwrap();

    let mut child = Proc::spawn(LOCK_CHILD, dir.path(), 0);
    child.expect("locked");
    let started = Instant::now();
    let result = cache.set("during", 2);
    let waited = started.elapsed();
    assert!(matches!(result, Err(Error::Timeout)), "got {result:?}");
    assert!(
        waited >= Duration::from_millis(150),
        "gave up after {waited:?}"
    );
    assert!(
        waited <= Duration::from_millis(1500),
        "gave up after {waited:?}"
    );
    let incr = cache.incr("before", 1, None);
    assert!(matches!(incr, Err(Error::Timeout)), "got {incr:?}");
    // Reads need no write lock.
    assert_eq!(cache.get::<i64>("before").unwrap(), Some(1));
    child.finish();

    cache.set("during", 2).unwrap();
    assert_eq!(cache.get::<i64>("during").unwrap(), Some(2));
    assert_eq!(cache.incr("before", 1, None).unwrap(), 2);
    eprintln!("lock: set gave up with Timeout after {waited:.2?} (timeout 200 ms)");
}

// ----- culling while four processes write ---------------------------------------------------

const CULL_CHILD: &str =
    common::child::role!(a_cull_child_writes_past_the_size_limit_when_started_by_a_parent);
/// Entries each culling child writes.
const CULL_WRITES: usize = 400;
/// Bytes of each value the culling children write.
const CULL_VALUE: usize = 500;
/// The size limit of the culling test: room for about 150 entries.
const CULL_LIMIT: u64 = 150 * 580;

/// The key the culling child `id` writes `i`-th: the same length for every child and i.
fn cull_key(id: usize, i: usize) -> String {
    format!("p{id}-{i:05}")
}

/// Child of [`four_processes_writing_past_the_size_limit_keep_the_newest_and_exact_counters`]:
/// writes [`CULL_WRITES`] new keys into a cache whose size limit they overflow many times.
/// Without a parent (the role is ignored in the normal run) it returns at once.
#[test]
#[ignore = "child role: started by its parent test"]
fn a_cull_child_writes_past_the_size_limit_when_started_by_a_parent() {
    let Some((dir, id)) = child_env(CULL_CHILD) else {
        return;
    };
    let cache = open_and_wait_for_go(&dir);
    for i in 0..CULL_WRITES {
        cache
            .set(cull_key(id, i), ByteBuf::from(vec![id as u8; CULL_VALUE]))
            .unwrap();
    }
    tell_parent("done");
}

/// Four processes each write 400 new keys into a cache with room for ~150: every write that
/// overflows culls the least recently stored entries. When they are done, the counters agree
/// with the rows (volume = entries x one entry's volume, and within a cull of the limit), and
/// what survives of each process's writes is its newest ones, with their values intact.
#[test]
fn four_processes_writing_past_the_size_limit_keep_the_newest_and_exact_counters() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .size_limit(CULL_LIMIT)
        .open(dir.path())
        .unwrap();
    let procs = start_together(CULL_CHILD, dir.path());
    for mut p in procs {
        p.expect("done");
        p.finish();
    }
    assert_eq!(cache.check(false).unwrap(), Vec::new());
    let per_entry = entry_volume(&cull_key(0, 0), CULL_VALUE as u64);
    let len = cache.len().unwrap();
    assert_eq!(cache.volume().unwrap(), len * per_entry);
    assert!(cache.volume().unwrap() <= CULL_LIMIT, "over the limit");
    assert!(len > 100, "culled far below the limit: {len} entries");
    for id in 0..PROCESSES {
        let kept: Vec<usize> = (0..CULL_WRITES)
            .filter(|&i| cache.contains(cull_key(id, i)).unwrap())
            .collect();
        let first = kept.first().copied().unwrap_or(CULL_WRITES);
        assert_eq!(
            kept,
            (first..CULL_WRITES).collect::<Vec<_>>(),
            "process {id} kept older writes than it lost"
        );
        for &i in &kept {
            let value = cache.get::<ByteBuf>(cull_key(id, i)).unwrap().unwrap();
            assert_eq!(value.into_vec(), vec![id as u8; CULL_VALUE]);
        }
    }
    eprintln!("cull: {len} entries kept of {}", PROCESSES * CULL_WRITES);
}
