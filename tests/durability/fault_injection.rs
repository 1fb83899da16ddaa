//! Guards that an I/O error at any point of a fixed workload loses nothing: the operation that
//! meets it returns `Err`, every write acknowledged before (and after) it reads back, a failed
//! operation is either wholly applied or not at all, the same handle goes on working, the
//! cache reopens cleanly, and `check` finds nothing that `check(true)` cannot repair (at most
//! value files that belong to no entry; never a row without its file, nor a count or volume
//! out of step with the rows).
//!
//! The faults come from the crate's hidden `fault` module: every I/O point of the format
//! (redb's reads, writes, `set_len` and syncs through the storage backend; the log's writes
//! and syncs; a value file's writes, sync and rename) counts its calls, and the armed one
//! fails with `EIO`. A first run of the workload counts the calls at each point; the sweep then
//! runs it again in a fresh directory once per call, failing that one.
//!
//! A plan belongs to the thread that arms it, so the sweeps run side by side.
//!
//! That these tests can fail is shown by the negative control `discard-on-unknown-outcome`
//! (`src/testing/sabotage.rs`), which deletes a failed write's new value files even when its commit
//! may have been applied (which would lose a committed value): `scripts/negative_controls.sh
//! discard-on-unknown-outcome` requires the sweeps with frequent checkpoints, on the direct
//! path and at the sync level to fail under it.

use crate::common;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use diskcache::fault::{self, Point};
use diskcache::{Cache, CacheBuilder, Durability, SetOptions, Setting, WritePath};
use serde_bytes::{ByteBuf, Bytes};

/// A value of `len` bytes for `key`.
fn value(key: &str, len: usize) -> Vec<u8> {
    let seed = key
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    (0..len)
        .map(|j| (seed.wrapping_add(j as u64 * 13) % 251) as u8)
        .collect()
}

const INLINE: usize = 300;
/// Over the default `min_file_size` (32 KiB): stored in a value file.
const FILE: usize = 40_000;

/// What a key may hold after the workload: any one of these (`None`: absent).
type Possible = Vec<Option<Vec<u8>>>;

#[derive(Default)]
struct Model {
    keys: BTreeMap<String, Possible>,
    /// The counter `ctr`'s possible values.
    counter: Vec<i64>,
    /// The keys the transaction wrote, with what they could hold before it and what it wrote:
    /// all show the new value, or none does.
    transaction: Vec<(String, Possible, Option<Vec<u8>>)>,
    /// Operations that returned `Err`.
    failed: Vec<String>,
    /// Operations that returned `Ok` although the fault fired during them.
    absorbed: Vec<String>,
}

impl Model {
    fn possible(&self, key: &str) -> Possible {
        self.keys.get(key).cloned().unwrap_or_else(|| vec![None])
    }

    /// Records a write of `new` (absent: a delete) to `key` by an operation that returned
    /// `ok`: exactly `new` if it did, else what the key held before or `new`.
    fn write(&mut self, key: &str, new: Option<Vec<u8>>, ok: bool) {
        let mut possible = if ok { Vec::new() } else { self.possible(key) };
        if !possible.contains(&new) {
            possible.push(new);
        }
        self.keys.insert(key.to_string(), possible);
    }

    /// Notes the outcome of operation `name`, before which the fault had `fired_before`.
    fn outcome<T>(
        &mut self,
        name: &str,
        result: &diskcache::Result<T>,
        fired_before: bool,
    ) -> bool {
        match result {
            Ok(_) => {
                if !fired_before && fault::fired() {
                    self.absorbed.push(name.to_string());
                }
                true
            }
            Err(e) => {
                self.failed.push(format!("{name}: {e}"));
                false
            }
        }
    }
}

/// The fixed workload: sets with inline and file values, deletes, incr, a transaction, an
/// evict, a cull and a checkpoint. Every operation's outcome is noted in the model.
fn workload(cache: &Cache, m: &mut Model) {
    macro_rules! op {
        ($name:expr, $e:expr) => {{
            let before = fault::fired();
            let result = $e;
            let ok = m.outcome($name, &result, before);
            (ok, result)
        }};
    }
    let set = |key: &str, len: usize, opts: SetOptions| {
        cache.set_with(key, Bytes::new(&value(key, len)), opts)
    };
    for i in 0..6 {
        let key = format!("f{i}");
        let (_, _) = op!(&key, set(&key, INLINE, SetOptions::default()));
        // A filler may be culled, written or not.
        m.keys
            .insert(key.clone(), vec![None, Some(value(&key, INLINE))]);
    }
    for (key, len) in [("g0", INLINE), ("g1", FILE)] {
        let (ok, _) = op!(key, set(key, len, SetOptions::default().tag("gone")));
        m.write(key, Some(value(key, len)), ok);
    }
    for (key, len) in [("k1", INLINE), ("k2", FILE), ("k3", INLINE)] {
        let (ok, _) = op!(key, set(key, len, SetOptions::default()));
        m.write(key, Some(value(key, len)), ok);
    }
    let (ok, _) = op!("delete k1", cache.delete("k1"));
    m.write("k1", None, ok);
    let (ok, _) = op!("incr", cache.incr("ctr", 5, Some(0)));
    m.counter = if ok { vec![5] } else { vec![0, 5] };

    let (ok, _) = op!(
        "transact",
        cache.transact(|tx| {
            tx.set("t1", Bytes::new(&value("t1", INLINE)))?;
            tx.set("t2", Bytes::new(&value("t2", FILE)))?;
            tx.delete("k3")?;
            tx.incr("ctr", 1, None)
        })
    );
    let group = [
        ("t1", Some(value("t1", INLINE))),
        ("t2", Some(value("t2", FILE))),
        ("k3", None),
    ];
    for (key, new) in group {
        m.transaction
            .push((key.to_string(), m.possible(key), new.clone()));
        m.write(key, new, ok);
    }
    m.counter = if ok {
        m.counter.iter().map(|c| c + 1).collect()
    } else {
        m.counter.iter().flat_map(|c| [*c, c + 1]).collect()
    };

    let (ok, _) = op!("k4", set("k4", FILE, SetOptions::default()));
    m.write("k4", Some(value("k4", FILE)), ok);
    // Replacing a file value with another removes the old file.
    let (ok, _) = op!(
        "k2 again",
        cache.set("k2", Bytes::new(&value("k2 again", FILE)))
    );
    m.write("k2", Some(value("k2 again", FILE)), ok);

    let (ok, _) = op!("evict", cache.evict("gone"));
    for key in ["g0", "g1"] {
        m.write(key, None, ok);
    }

    // A size limit two fillers under the volume, then a cull: it removes the oldest
    // entries, which are fillers (and which the model lets go).
    let (_, volume) = op!("volume", cache.volume());
    if let Ok(volume) = volume {
        let limit = volume.saturating_sub(2 * (128 + 2 + INLINE as u64));
        let (ok, _) = op!("reset", cache.reset(Setting::SizeLimit(limit)));
        if ok {
            let _ = op!("cull", cache.cull());
        }
    }
    let _ = op!("checkpoint", cache.checkpoint());
}

/// Reads every key of the model back; `Err` says what differs.
fn verify(cache: &Cache, m: &Model) -> Result<(), String> {
    let read = |key: &str| -> Result<Option<Vec<u8>>, String> {
        cache
            .get::<ByteBuf>(key)
            .map(|v| v.map(ByteBuf::into_vec))
            .map_err(|e| format!("get {key}: {e}"))
    };
    for (key, possible) in &m.keys {
        let got = read(key)?;
        if !possible.contains(&got) {
            return Err(format!(
                "{key}: read {:?} bytes, expected one of {:?}",
                got.map(|v| v.len()),
                possible
                    .iter()
                    .map(|v| v.as_ref().map(Vec::len))
                    .collect::<Vec<_>>()
            ));
        }
    }
    // All or nothing: a key showing a value only the transaction wrote means every key shows
    // what the transaction wrote.
    let mut shown = Vec::new();
    for (key, before, new) in &m.transaction {
        let got = read(key)?;
        shown.push((key, got == *new, !before.contains(&got)));
    }
    if shown.iter().any(|(_, _, only_new)| *only_new) && !shown.iter().all(|(_, new, _)| *new) {
        return Err(format!("the transaction was half applied: {shown:?}"));
    }
    let counter = cache
        .get::<i64>("ctr")
        .map_err(|e| format!("get ctr: {e}"))?
        .unwrap_or(0);
    if !m.counter.contains(&counter) {
        return Err(format!("ctr is {counter}, expected one of {:?}", m.counter));
    }
    Ok(())
}

/// Ages every value file by an hour, so that `check` does not take an orphan for a file
/// another process is about to commit.
fn age_value_files(dir: &std::path::Path) {
    let old = SystemTime::now() - Duration::from_secs(3600);
    let files = common::files_ending_with(dir, ".val");
    for relative in files
        .iter()
        .chain(&common::files_ending_with(dir, ".val.tmp"))
    {
        let file = std::fs::File::options()
            .write(true)
            .open(dir.join(relative))
            .unwrap();
        file.set_modified(old).unwrap();
    }
}

thread_local! {
    /// Runs of this thread's sweep whose fault fired inside an operation that returned `Ok`.
    static ABSORBED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// One run of the workload in a fresh directory, failing `fail` if given. Returns the calls
/// counted at each point, or what went wrong.
fn run(
    builder: &dyn Fn() -> CacheBuilder,
    fail: Option<(Point, u64)>,
) -> Result<Vec<(Point, u64)>, String> {
    let dir = tempfile::tempdir().unwrap();
    let cache = builder()
        .open(dir.path())
        .map_err(|e| format!("open: {e}"))?;
    let mut m = Model::default();
    fault::arm(fail);
    workload(&cache, &mut m);
    // The same handle goes on working after the fault (a handle redb gave up on after an
    // I/O error is replaced): everything reads back through it.
    if fault::fired() {
        verify(&cache, &m)
            .map_err(|e| format!("on the same handle ({:?} failed): {e}", m.failed))?;
    }
    let (counts, fired) = {
        // Dropping the handle flushes the log (best effort): a fault there counts too.
        drop(cache);
        fault::disarm()
    };
    if fail.is_some() && !fired {
        return Ok(counts);
    }
    // An operation may return `Ok` although the fault fired in it: a write whose own change
    // was logged before it, in the checkpoint that follows (best effort: the log holds the
    // change). The model holds such a write to its new value. A fault may also fire after
    // the last operation, in the drop's flush. Either way, what follows checks that nothing
    // was lost.
    ABSORBED.with(|n| n.set(n.get() + usize::from(!m.absorbed.is_empty())));
    let cache = builder()
        .open(dir.path())
        .map_err(|e| format!("reopen after the fault: {e}"))?;
    verify(&cache, &m).map_err(|e| format!("after reopening ({:?} failed): {e}", m.failed))?;
    // Later operations work.
    cache
        .set("after", Bytes::new(b"works"))
        .map_err(|e| format!("a set after reopening: {e}"))?;
    age_value_files(dir.path());
    let warnings: Vec<String> = cache
        .check(false)
        .map_err(|e| format!("check: {e}"))?
        .iter()
        .map(ToString::to_string)
        .collect();
    if let Some(bad) = warnings.iter().find(|w| !w.contains("belongs to no entry")) {
        return Err(format!(
            "check found more than orphan files: {bad} (all: {warnings:?})"
        ));
    }
    if warnings.is_empty() {
        return Ok(counts);
    }
    cache.check(true).map_err(|e| format!("check(true): {e}"))?;
    let again = cache
        .check(false)
        .map_err(|e| format!("check again: {e}"))?;
    if !again.is_empty() {
        return Err(format!("check after check(true): {again:?}"));
    }
    Ok(counts)
}

/// Counts the I/O points of the workload under `builder`, then fails each in turn, up to the
/// first fault point that loses something (a sweep that passes fails every point; one that
/// fails says where first, which keeps a failing run, such as a negative control's, short).
fn sweep(name: &str, builder: &dyn Fn() -> CacheBuilder) {
    let counts = run(builder, None).unwrap();
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    let mut swept = 0;
    let mut failure = None;
    'sweep: for (point, n) in &counts {
        for nth in 1..=*n {
            swept += 1;
            if let Err(e) = run(builder, Some((*point, nth))) {
                failure = Some(format!("{point:?} #{nth}: {e}"));
                break 'sweep;
            }
        }
    }
    let absorbed = ABSORBED.with(|n| n.get());
    let failed_ops = swept - absorbed;
    println!(
        "{name}: {swept} of {total} fault points swept ({failed_ops} failed an operation or the \
         close, {absorbed} hit the checkpoint after a logged write); calls per point {counts:?}"
    );
    assert!(swept > 0);
    if let Some(failure) = failure {
        panic!(
            "{name}: fault point {swept} of {total} lost something (the sweep stops): {failure}"
        );
    }
}

#[test]
fn faults_on_the_logged_path_lose_nothing() {
    sweep("logged", &|| Cache::builder());
}

#[test]
fn faults_during_frequent_checkpoints_lose_nothing() {
    sweep("logged, checkpoint every 3 records", &|| {
        Cache::builder().checkpoint_records(3)
    });
}

#[test]
fn faults_on_the_direct_path_lose_nothing() {
    sweep("direct", &|| Cache::builder().write_path(WritePath::Direct));
}

#[test]
fn faults_at_the_sync_durability_level_lose_nothing() {
    sweep("sync", &|| Cache::builder().durability(Durability::Sync));
}
