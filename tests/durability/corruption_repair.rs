//! Damaged files of a cache directory, on disk, with the cache closed where that is how damage
//! happens: a byte flipped in a value file, a value file gone, an orphan value file,
//! `cache.redb` truncated, zeroed or overwritten, and `cache.wal` or `cache.shm` flipped,
//! truncated or deleted while the log still holds records no checkpoint has applied.
//!
//! Guards against a panic on any of them, against damaged bytes read back as a value (every
//! crc32 failure is `Error::Corrupted`), against losing what a checkpoint committed when the
//! log or its index is damaged, against a cache that stays inconsistent (`len`, `volume`,
//! `check`) after such damage, and against `check(true)` leaving something a second
//! `check(false)` reports. format-spec/damage.md says what each case does.
//!
//! The log cases need a closed cache whose log holds records: a child process (this test
//! binary re-run) writes a known set, checkpoints, writes more, and exits without closing
//! the cache (closing would checkpoint).
#![cfg(unix)]

use crate::common;

use common::child::{Proc, child_env};
use common::rng::Xorshift;
use std::fs::{self, File};
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use diskcache::{Cache, Error, Key, SetOptions, WritePath};
use serde_bytes::{ByteBuf, Bytes};

/// Values of at least this many bytes go to value files.
const MIN_FILE_SIZE: u64 = 1024;
/// What every entry counts in `volume()` besides its key, tag and value.
const ROW_HEADER: u64 = 128;
const CHILD: &str =
    common::child::role!(a_damage_child_writes_checkpoints_writes_more_and_exits_without_closing);
/// Makes the child log a mix of operations instead of [`late`].
const MIX_VAR: &str = "DISKCACHE_DAMAGE_CHILD_MIX";

fn open(dir: &Path, write_path: WritePath) -> diskcache::Result<Cache> {
    Cache::builder()
        .min_file_size(MIN_FILE_SIZE)
        .write_path(write_path)
        .open(dir)
}

/// The entries a checkpoint commits: inline ones, and file ones of distinct sizes.
fn committed() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for i in 0..20u8 {
        out.push((format!("c{i}"), vec![i; 10 + usize::from(i)]));
    }
    for i in 0..4u8 {
        let len = 2000 + 100 * usize::from(i);
        out.push((format!("cf{i}"), (0..len).map(|j| (j as u8) ^ i).collect()));
    }
    out
}

/// The entries written after the checkpoint, left in the log.
fn late() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for i in 0..30u8 {
        out.push((format!("l{i}"), vec![0x80 | i; 5 + usize::from(i)]));
    }
    for i in 0..3u8 {
        out.push((format!("lf{i}"), vec![0x40 | i; 3000 + usize::from(i)]));
    }
    out
}

fn store(cache: &Cache, entries: &[(String, Vec<u8>)]) {
    for (key, value) in entries {
        cache.set(key.as_str(), Bytes::new(value)).unwrap();
    }
}

fn volume_of(key: &str, value: &[u8]) -> u64 {
    // A text key encodes as one type byte and its UTF-8 bytes; no tag.
    ROW_HEADER + 1 + key.len() as u64 + value.len() as u64
}

/// Child of the log cases: in the directory its parent names, stores [`committed`],
/// checkpoints, stores [`late`], and exits without closing (so the late entries stay in the
/// log). Without a parent (the role is ignored in the normal run) it returns at once.
#[test]
#[ignore = "child role: started by its parent test"]
fn a_damage_child_writes_checkpoints_writes_more_and_exits_without_closing() {
    let Some((dir, _)) = child_env(CHILD) else {
        return;
    };
    let cache = open(&dir, WritePath::Logged).unwrap();
    store(&cache, &committed());
    cache.checkpoint().unwrap();
    if std::env::var(MIX_VAR).is_ok() {
        // Every kind of change the log's count and volume deltas follow.
        cache.set("x", 1).unwrap();
        cache.set("x", Bytes::new(&[5u8; 3000])).unwrap();
        cache.set("y", Bytes::new(&[6u8; 100])).unwrap();
        cache.delete("y").unwrap();
        cache.delete("c0").unwrap();
        cache.set("c1", 7).unwrap();
        cache.incr("z", 3, Some(0)).unwrap();
        cache
            .transact(|t| {
                t.set("t1", 1)?;
                t.delete("cf0")?;
                Ok(())
            })
            .unwrap();
        // Last: a later write that stores would remove it, as it has expired.
        cache
            .set_with(
                "e",
                1,
                SetOptions::default().expire(Duration::from_nanos(1)),
            )
            .unwrap();
        std::process::exit(0);
    }
    store(&cache, &late());
    // No destructor runs: the cache is not closed, its log not checkpointed.
    std::process::exit(0);
}

/// A closed logged cache in a new temp dir: [`committed`] checkpointed, [`late`] only in
/// the log.
fn closed_with_log() -> tempfile::TempDir {
    closed_after_child(&[])
}

/// A closed cache written by the child with the environment `vars` added.
fn closed_after_child(vars: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    Proc::spawn_with(CHILD, dir.path(), 0, |c| {
        c.envs(vars.iter().copied());
    })
    .finish();
    let wal = fs::read(dir.path().join("cache.wal")).unwrap();
    let records = lane_start(dir.path()) as usize + 64;
    assert!(
        wal.len() > records && wal[records..records + 8] != [0; 8],
        "the late entries are not in the log"
    );
    dir
}

/// The size of each of the log's two lanes (format-spec/wal.md).
const LANE_SIZE: u64 = common::wal::LANE_SIZE as u64;

/// Where the lane of `cache.wal`'s newest generation starts (the one the late entries went
/// to), and that generation.
fn newest_lane(dir: &Path) -> (u64, u64) {
    let (start, generation) = common::wal::newest_lane(&fs::read(dir.join("cache.wal")).unwrap());
    (start as u64, generation)
}

/// Where the lane holding the late entries starts in `cache.wal`.
fn lane_start(dir: &Path) -> u64 {
    newest_lane(dir).0
}

fn flip(path: &Path, offset: u64) {
    let mut bytes = fs::read(path).unwrap();
    let offset = offset as usize % bytes.len();
    bytes[offset] ^= 0x5a;
    fs::write(path, &bytes).unwrap();
}

fn truncate(path: &Path, len: u64) {
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// Offset and padded length of each whole record of `cache.wal`, by walking the length words.
fn wal_records(dir: &Path) -> Vec<(u64, u64)> {
    let wal = fs::read(dir.join("cache.wal")).unwrap();
    let mut out = Vec::new();
    let mut at = lane_start(dir) as usize + 64;
    loop {
        let len = u32::from_le_bytes(wal[at..at + 4].try_into().unwrap()) as usize;
        if len < 32 {
            return out;
        }
        let padded = len.next_multiple_of(8);
        out.push((at as u64, padded as u64));
        at += padded;
    }
}

/// What a damaged directory must still give after it is reopened: every checkpointed entry
/// with its value, every late one with its value or absent, `len` and `volume` agreeing with
/// the rows, a clean check (or one that `check(true)` repairs, after which a second is
/// clean), and writes that work.
fn assert_survives(dir: &Path, label: &str) {
    let cache = open(dir, WritePath::Logged)
        .unwrap_or_else(|e| panic!("{label}: the cache does not open: {e}"));
    for (key, value) in committed() {
        let got = cache.get::<ByteBuf>(key.as_str());
        assert!(
            matches!(&got, Ok(Some(b)) if b.as_slice() == value.as_slice()),
            "{label}: checkpointed {key} reads {:?}",
            got.map(|v| v.map(|b| b.len()))
        );
    }
    let mut late_kept = 0;
    for (key, value) in late() {
        match cache.get::<ByteBuf>(key.as_str()) {
            Ok(None) => {}
            Ok(Some(b)) if b.as_slice() == value.as_slice() => late_kept += 1,
            other => panic!(
                "{label}: {key} reads {:?}, neither its value nor absent",
                other.map(|v| v.map(|b| b.len()))
            ),
        }
    }
    // Writes after the damage, before any checkpoint: they go where the index says the log
    // ends, and must survive the checkpoints below.
    let after: Vec<(String, Vec<u8>)> = (0..5u8)
        .map(|i| (format!("after{i}"), vec![i; 7 + 900 * usize::from(i)]))
        .collect();
    store(&cache, &after);
    for (key, value) in &after {
        let got = cache.get::<ByteBuf>(key.as_str()).unwrap();
        assert_eq!(
            got.as_deref().map(Vec::as_slice),
            Some(value.as_slice()),
            "{label}: {key}"
        );
    }
    // `len` as the index and the database tell it, before a checkpoint.
    let expected_len = (committed().len() + late_kept + after.len()) as u64;
    assert_eq!(
        cache.len().unwrap(),
        expected_len,
        "{label}: len() before a checkpoint is not the entries that read"
    );
    let (mut rows, mut volume) = (0u64, 0u64);
    let all: Vec<_> = committed().into_iter().chain(late()).chain(after).collect();
    for key in cache.keys().unwrap() {
        let Key::Str(key) = key.unwrap() else {
            panic!("{label}: a key that was never written")
        };
        let (_, value) = all
            .iter()
            .find(|(k, _)| *k == key)
            .unwrap_or_else(|| panic!("{label}: {key} was never written"));
        rows += 1;
        volume += volume_of(&key, value);
    }
    assert_eq!(rows, expected_len, "{label}: keys() disagrees with get()");
    assert_eq!(cache.len().unwrap(), rows, "{label}: len() is not the rows");
    assert_eq!(cache.volume().unwrap(), volume, "{label}: volume() is off");
    let warnings: Vec<String> = cache
        .check(true)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        cache.check(false).unwrap(),
        Vec::new(),
        "{label}: not clean after check(true), which said {warnings:?}"
    );
    cache.set("after", Bytes::new(b"damage")).unwrap();
    assert_eq!(
        cache.get::<ByteBuf>("after").unwrap().unwrap().as_slice(),
        b"damage"
    );
    cache.checkpoint().unwrap();
    drop(cache);
    // And once more from a fresh handle: nothing the repair left behind.
    let cache = open(dir, WritePath::Logged).unwrap();
    assert_eq!(cache.len().unwrap(), rows + 1, "{label}: after reopening");
    assert_eq!(cache.check(false).unwrap(), Vec::new(), "{label}");
    eprintln!("{label}: {late_kept} of {} late entries kept", late().len());
}

/// Runs every case, each in its own directory, and fails with the list of those that failed
/// (a panic included), so that one run shows them all.
fn run_cases(cases: Vec<(String, Box<dyn Fn()>)>) {
    let mut failed = Vec::new();
    let total = cases.len();
    for (label, case) in cases {
        if let Err(e) = catch_unwind(AssertUnwindSafe(case)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failed.push(format!("{label}: {msg}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {total} cases failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// The path of the value file of the file-valued entry whose value has `len` bytes.
fn value_file_of_len(dir: &Path, len: u64) -> PathBuf {
    let found: Vec<PathBuf> = common::files_ending_with(dir, ".val")
        .into_iter()
        .map(|p| dir.join(p))
        .filter(|p| fs::metadata(p).unwrap().len() == len)
        .collect();
    assert_eq!(found.len(), 1, "no single value file of {len} bytes");
    found.into_iter().next().unwrap()
}

fn backdate(path: &Path, by: Duration) {
    let file = File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - by).unwrap();
}

fn is_corrupted(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::InvalidData
        && matches!(
            e.get_ref().and_then(|e| e.downcast_ref::<Error>()),
            Some(Error::Corrupted(_))
        )
}

// ----- value files --------------------------------------------------------------------------

#[test]
fn a_flipped_byte_in_a_value_file_fails_get_and_a_full_read_with_corrupted() {
    for write_path in [WritePath::Logged, WritePath::Direct] {
        for offset in [0u64, 1, 1500, 2099] {
            let dir = tempfile::tempdir().unwrap();
            let cache = open(dir.path(), write_path).unwrap();
            store(&cache, &committed());
            let file = value_file_of_len(dir.path(), 2100);
            flip(&file, offset);
            let label = format!("{write_path:?}, byte {offset}");
            let got = cache.get::<ByteBuf>("cf1");
            assert!(
                matches!(got, Err(Error::Corrupted(_))),
                "{label}: get gave {:?}",
                got.map(|v| v.map(|b| b.len()))
            );
            let mut reader = cache.get_reader("cf1").unwrap().unwrap();
            let mut out = Vec::new();
            let err = reader.read_to_end(&mut out).unwrap_err();
            assert!(is_corrupted(&err), "{label}: a full read gave {err:?}");
            assert!(matches!(reader.verify(), Err(Error::Corrupted(_))));
            // The other entries are untouched.
            assert_eq!(
                cache.get::<ByteBuf>("cf0").unwrap().unwrap().len(),
                2000,
                "{label}"
            );
            let warnings: Vec<String> = cache
                .check(true)
                .unwrap()
                .iter()
                .map(ToString::to_string)
                .collect();
            assert!(
                warnings
                    .iter()
                    .any(|w| w.contains("cf1") && w.contains("crc32")),
                "{label}: {warnings:?}"
            );
            assert_eq!(cache.check(false).unwrap(), Vec::new(), "{label}");
            assert_eq!(cache.get::<ByteBuf>("cf1").unwrap(), None, "{label}");
            assert_eq!(cache.len().unwrap(), committed().len() as u64 - 1);
        }
    }
}

#[test]
fn a_missing_value_file_is_a_miss_or_an_error_never_a_panic_and_check_removes_its_entry() {
    for write_path in [WritePath::Logged, WritePath::Direct] {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path(), write_path).unwrap();
        store(&cache, &committed());
        fs::remove_file(value_file_of_len(dir.path(), 2200)).unwrap();
        let got = cache.get::<ByteBuf>("cf2");
        assert!(
            matches!(got, Ok(None) | Err(_)),
            "{write_path:?}: get of a missing file gave a value"
        );
        let reader = cache.get_reader("cf2");
        assert!(
            matches!(reader, Ok(None) | Err(_)),
            "{write_path:?}: get_reader of a missing file gave a reader"
        );
        assert!(cache.contains("cf0").unwrap());
        let warnings: Vec<String> = cache
            .check(true)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("cf2") && w.contains("missing")),
            "{warnings:?}"
        );
        assert_eq!(cache.check(false).unwrap(), Vec::new());
        assert_eq!(cache.get::<ByteBuf>("cf2").unwrap(), None);
        assert_eq!(cache.len().unwrap(), committed().len() as u64 - 1);
        // The key can be written again.
        cache.set("cf2", Bytes::new(&[7u8; 5000])).unwrap();
        assert_eq!(cache.get::<ByteBuf>("cf2").unwrap().unwrap().len(), 5000);
    }
}

#[test]
fn an_orphan_value_file_is_reported_once_past_its_grace_and_check_true_removes_it() {
    for write_path in [WritePath::Logged, WritePath::Direct] {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path(), write_path).unwrap();
        store(&cache, &committed());
        // An orphan made the way a crash makes one: the file of an entry whose row is gone.
        let kept = value_file_of_len(dir.path(), 2300);
        let orphan = kept.with_file_name(format!(
            "{}0000000000000000000000000000.val",
            &kept.file_name().unwrap().to_str().unwrap()[..4]
        ));
        fs::copy(&kept, &orphan).unwrap();
        // Within the grace (a writer may be about to commit it): not reported, kept.
        assert_eq!(cache.check(true).unwrap(), Vec::new());
        assert!(orphan.exists(), "{write_path:?}: a young file was deleted");
        backdate(&orphan, Duration::from_secs(3600));
        let name = orphan.file_name().unwrap().to_str().unwrap().to_owned();
        let warnings: Vec<String> = cache
            .check(false)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            warnings.len() == 1 && warnings[0].contains(&name),
            "{write_path:?}: {warnings:?}"
        );
        assert!(orphan.exists(), "check(false) deleted it");
        assert_eq!(
            cache
                .check(true)
                .unwrap()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            warnings
        );
        assert!(!orphan.exists(), "check(true) kept it");
        assert_eq!(cache.check(false).unwrap(), Vec::new());
        assert_eq!(
            cache.get::<ByteBuf>("cf3").unwrap().unwrap().len(),
            2300,
            "the entry the orphan was copied from"
        );
    }
}

// ----- cache.redb ---------------------------------------------------------------------------

/// A closed cache with [`committed`] in its database (and its value files).
fn closed_checkpointed(write_path: WritePath) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), write_path).unwrap();
    store(&cache, &committed());
    cache.close().unwrap();
    // Old enough that a check reports them as orphans if their rows are lost.
    for file in common::files_ending_with(dir.path(), ".val") {
        backdate(&dir.path().join(file), Duration::from_secs(3600));
    }
    dir
}

/// After damage to `cache.redb`: `open` fails with an error, or the cache opens and every
/// read, `check` and a repair give answers or errors, never a panic nor a wrong value.
fn assert_redb_damage_handled(dir: &Path, write_path: WritePath, label: &str) {
    let cache = match open(dir, write_path) {
        Err(e) => {
            eprintln!("{label}: open refused it: {e}");
            return;
        }
        Ok(cache) => cache,
    };
    let mut readable = 0;
    for (key, value) in committed() {
        // A miss or an error is allowed; a value must be the right one.
        if let Ok(Some(b)) = cache.get::<ByteBuf>(key.as_str()) {
            assert_eq!(b.as_slice(), value.as_slice(), "{label}: {key}");
            readable += 1;
        }
    }
    let _ = cache.len();
    let _ = cache.keys().map(|k| k.count());
    let warnings = cache.check(false);
    eprintln!("{label}: opened; {readable} entries readable; check(false): {warnings:?}");
    if readable < committed().len() {
        // Something was lost: the check must say so (an error is saying so too).
        assert!(
            !matches!(&warnings, Ok(w) if w.is_empty()),
            "{label}: entries were lost and check(false) found nothing"
        );
    }
    if cache.check(true).is_ok() {
        assert_eq!(
            cache.check(false).unwrap(),
            Vec::new(),
            "{label}: not clean after check(true)"
        );
    }
}

#[test]
fn a_truncated_zeroed_or_overwritten_database_is_an_error_or_a_reported_repair_never_a_panic() {
    let mut cases: Vec<(String, Box<dyn Fn()>)> = Vec::new();
    for write_path in [WritePath::Logged, WritePath::Direct] {
        let size = {
            let dir = closed_checkpointed(write_path);
            fs::metadata(dir.path().join("cache.redb")).unwrap().len()
        };
        for len in [0, 1, 100, 511, 512, 4096, size / 2, size - 1] {
            let label = format!("{write_path:?}: cache.redb truncated to {len} of {size}");
            cases.push((
                label.clone(),
                Box::new(move || {
                    let dir = closed_checkpointed(write_path);
                    truncate(&dir.path().join("cache.redb"), len);
                    assert_redb_damage_handled(dir.path(), write_path, &label);
                }),
            ));
        }
        let label = format!("{write_path:?}: cache.redb zeroed");
        cases.push((
            label.clone(),
            Box::new(move || {
                let dir = closed_checkpointed(write_path);
                let db = dir.path().join("cache.redb");
                let len = fs::metadata(&db).unwrap().len() as usize;
                fs::write(&db, vec![0u8; len]).unwrap();
                assert_redb_damage_handled(dir.path(), write_path, &label);
            }),
        ));
        for seed in [1u64, 2, 3] {
            let label = format!("{write_path:?}: cache.redb overwritten with garbage {seed}");
            cases.push((
                label.clone(),
                Box::new(move || {
                    let dir = closed_checkpointed(write_path);
                    let db = dir.path().join("cache.redb");
                    let len = fs::metadata(&db).unwrap().len() as usize;
                    let garbage =
                        Xorshift::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1).bytes(len);
                    fs::write(&db, garbage).unwrap();
                    assert_redb_damage_handled(dir.path(), write_path, &label);
                }),
            ));
        }
        for page in [0u64, 1, 2, 3, 5] {
            let label = format!("{write_path:?}: cache.redb page {page} flipped");
            cases.push((
                label.clone(),
                Box::new(move || {
                    let dir = closed_checkpointed(write_path);
                    let db = dir.path().join("cache.redb");
                    for at in [0u64, 17, 333, 2000] {
                        flip(&db, page * 4096 + at);
                    }
                    assert_redb_damage_handled(dir.path(), write_path, &label);
                }),
            ));
        }
    }
    run_cases(cases);
}

// ----- cache.wal and cache.shm ----------------------------------------------------------------

#[test]
fn a_log_flipped_truncated_or_deleted_keeps_every_checkpointed_entry() {
    let mut cases: Vec<(String, Box<dyn Fn()>)> = Vec::new();
    let sample = closed_with_log();
    let records = wal_records(sample.path());
    // The late entries' lane: its header, records and end are damaged below.
    let lane = lane_start(sample.path());
    assert!(records.len() >= late().len(), "{records:?}");
    let (last_at, last_len) = *records.last().unwrap();
    let end = last_at + last_len;
    let mut flips: Vec<(String, u64)> = vec![
        ("the magic".into(), lane),
        ("the magic's last byte".into(), lane + 7),
        ("the generation's low byte".into(), lane + 8),
        ("the generation's high byte".into(), lane + 15),
        ("the reserved header".into(), lane + 40),
        ("the other lane's magic".into(), LANE_SIZE - lane),
    ];
    for (what, (at, len)) in [
        ("the first record", records[0]),
        ("a middle record", records[records.len() / 2]),
        ("the last record", records[records.len() - 1]),
    ] {
        for (field, delta) in [
            ("length", 0),
            ("crc", 4),
            ("generation", 8),
            ("sequence", 16),
            ("kind", 24),
            ("flags", 25),
            ("key", 33),
            ("payload", len - 9),
        ] {
            flips.push((format!("{what}'s {field}"), at + delta));
        }
    }
    flips.push(("just past the records".into(), end));
    for (what, offset) in flips {
        let label = format!("cache.wal: {what} (byte {offset}) flipped");
        cases.push((
            label.clone(),
            Box::new(move || {
                let dir = closed_with_log();
                flip(&dir.path().join("cache.wal"), offset);
                assert_survives(dir.path(), &label);
            }),
        ));
    }
    for len in [
        0,
        lane + 7,
        lane + 8,
        lane + 15,
        lane + 64,
        records[0].0 + 5,
        records[records.len() / 2].0 + 3,
        end - 1,
        end,
        lane + 4096,
    ] {
        let label = format!("cache.wal truncated to {len}");
        cases.push((
            label.clone(),
            Box::new(move || {
                let dir = closed_with_log();
                truncate(&dir.path().join("cache.wal"), len);
                assert_survives(dir.path(), &label);
            }),
        ));
    }
    for back in [1u64, 2, 1000] {
        // A header rewritten with an older generation: the records left in the log must
        // not come back when the generations reach theirs again.
        let label = format!("cache.wal: the generation set {back} lower");
        cases.push((
            label.clone(),
            Box::new(move || {
                let dir = closed_with_log();
                let wal = dir.path().join("cache.wal");
                let mut bytes = fs::read(&wal).unwrap();
                let at = lane_start(dir.path()) as usize + 8;
                let generation = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
                bytes[at..at + 8].copy_from_slice(&(generation - back).to_le_bytes());
                fs::write(&wal, &bytes).unwrap();
                assert_survives(dir.path(), &label);
            }),
        ));
    }
    cases.push((
        "cache.wal deleted".into(),
        Box::new(|| {
            let dir = closed_with_log();
            fs::remove_file(dir.path().join("cache.wal")).unwrap();
            assert_survives(dir.path(), "cache.wal deleted");
        }),
    ));
    cases.push((
        "cache.wal zeroed".into(),
        Box::new(|| {
            let dir = closed_with_log();
            let wal = dir.path().join("cache.wal");
            truncate(&wal, 0);
            truncate(&wal, 64 << 20);
            assert_survives(dir.path(), "cache.wal zeroed");
        }),
    ));
    run_cases(cases);
}

#[test]
fn an_index_flipped_truncated_or_deleted_keeps_every_checkpointed_entry() {
    let mut cases: Vec<(String, Box<dyn Fn()>)> = Vec::new();
    // Every header word (format-spec/wal.md), its low byte and its high byte, and slots.
    let words = [
        "magic",
        "dirty",
        "seq",
        "generation",
        "valid length",
        "records",
        "count delta",
        "volume delta",
        "hits",
        "misses",
        "next row id",
        "counter seq",
        "lock owner",
        "lock waiters",
        "wake word",
        "settings epoch",
        "access records",
        "lock claim",
        "lock acquisitions",
        "",
        "lane 1's generation",
        "lane 1's valid length",
        "lane 1's records",
        "lane 1's count delta",
        "lane 1's volume delta",
        "lane 1's access records",
        "active lane",
        "epoch",
        "checkpoint owner",
        "applied",
        "sealed at",
        "apply cost",
        "apply end",
    ];
    let mut flips: Vec<(String, u64)> = Vec::new();
    for (i, word) in words.iter().enumerate().filter(|(_, w)| !w.is_empty()) {
        flips.push((format!("{word}'s low byte"), 64 * i as u64));
        flips.push((format!("{word}'s high byte"), 64 * i as u64 + 7));
    }
    // Slots: flip bytes across both lanes' tables; some land in used slots.
    for lane in 0..2u64 {
        for slot in (0..65536u64).step_by(3989) {
            let at = 4096 + lane * 65536 * 16 + 16 * slot;
            flips.push((format!("lane {lane}'s slot {slot}'s hash"), at));
            flips.push((format!("lane {lane}'s slot {slot}'s offset"), at + 8));
        }
    }
    for (what, offset) in flips {
        let label = format!("cache.shm: {what} (byte {offset}) flipped");
        cases.push((
            label.clone(),
            Box::new(move || {
                let dir = closed_with_log();
                flip(&dir.path().join("cache.shm"), offset);
                assert_survives(dir.path(), &label);
            }),
        ));
    }
    for len in [0u64, 8, 100, 4096, 4097, 100_000] {
        let label = format!("cache.shm truncated to {len}");
        cases.push((
            label.clone(),
            Box::new(move || {
                let dir = closed_with_log();
                truncate(&dir.path().join("cache.shm"), len);
                assert_survives(dir.path(), &label);
            }),
        ));
    }
    cases.push((
        "cache.shm deleted".into(),
        Box::new(|| {
            let dir = closed_with_log();
            fs::remove_file(dir.path().join("cache.shm")).unwrap();
            assert_survives(dir.path(), "cache.shm deleted");
        }),
    ));
    cases.push((
        "cache.shm and cache.wal deleted".into(),
        Box::new(|| {
            let dir = closed_with_log();
            fs::remove_file(dir.path().join("cache.shm")).unwrap();
            fs::remove_file(dir.path().join("cache.wal")).unwrap();
            assert_survives(dir.path(), "cache.shm and cache.wal deleted");
        }),
    ));
    run_cases(cases);
}

#[test]
fn an_undamaged_closed_log_keeps_every_entry() {
    // The baseline of the cases above: nothing damaged, every late entry kept too.
    let dir = closed_with_log();
    let cache = open(dir.path(), WritePath::Logged).unwrap();
    for (key, value) in committed().into_iter().chain(late()) {
        assert_eq!(
            cache
                .get::<ByteBuf>(key.as_str())
                .unwrap()
                .unwrap()
                .as_slice(),
            value.as_slice(),
            "{key}"
        );
    }
    drop(cache);
    assert_survives(dir.path(), "undamaged");
}

/// The newest generation in the lanes' headers of `cache.wal`.
fn wal_generation(dir: &Path) -> u64 {
    newest_lane(dir).1
}

#[test]
fn an_undamaged_log_of_every_kind_of_change_is_not_taken_for_damage() {
    // Opening checks the index against the log (valid length, slots, count and volume
    // deltas) and recovers when they disagree; on an undamaged log nothing may disagree, or
    // every open would pay a recovery. A recovery starts a new generation: it must not.
    let dir = closed_after_child(&[(MIX_VAR, "1")]);
    let before = wal_generation(dir.path());
    let cache = open(dir.path(), WritePath::Logged).unwrap();
    assert_eq!(
        wal_generation(dir.path()),
        before,
        "opening an undamaged cache recovered it"
    );
    assert_eq!(cache.get::<ByteBuf>("x").unwrap().unwrap().len(), 3000);
    assert_eq!(cache.get::<i64>("c1").unwrap(), Some(7));
    assert_eq!(cache.get::<i64>("z").unwrap(), Some(3));
    assert_eq!(cache.get::<ByteBuf>("cf0").unwrap(), None);
    assert_eq!(cache.get::<ByteBuf>("c0").unwrap(), None);
    // committed() less c0 and cf0, plus x, z, e (expired, counted until removed) and t1.
    let expected = committed().len() as u64 - 2 + 4;
    assert_eq!(cache.len().unwrap(), expected);
    let volume_before = cache.volume().unwrap();
    cache.checkpoint().unwrap();
    assert_eq!(cache.len().unwrap(), expected);
    assert_eq!(cache.volume().unwrap(), volume_before);
    assert_eq!(cache.check(false).unwrap(), Vec::new());
}
