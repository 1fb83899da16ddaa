//! Whole, crc-valid records of `cache.wal` that this build cannot apply, in the log of a
//! writer killed with SIGKILL: each way a record can be damaged while its crc32 still holds
//! (a row version, value kind or row flag the row format does not have; a record kind or
//! flag bit the log does not have), a record of a newer format (bytes 28–31), and the bytes
//! the reader must ignore (padding, a version field of 0).
//!
//! Guards against a record that makes the cache unopenable (every recovery failed with
//! `Corrupted` and left `cache.shm` dirty), against a damaged record that ends the valid log
//! (every later record was lost), against half a transaction applied, against damage that
//! `check` does not report or `check(true)` does not clear, and against an older build
//! writing anything (or dropping anything) when it meets a record of a newer format: it must
//! refuse with `UnsupportedVersion`, leaving the log for the build that wrote it.
//! format-spec/wal.md ("The valid log") says which field does what.
#![cfg(unix)]

use crate::common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use common::child::{Proc, child_env, tell_parent};
use diskcache::{Cache, Error, WritePath};
use serde_bytes::{ByteBuf, Bytes};

/// Values this long go to value files.
const MIN_FILE_SIZE: u64 = 1024;
const WRITER: &str =
    common::child::role!(a_writer_logs_every_kind_of_block_then_waits_to_be_killed);

fn open(dir: &Path) -> diskcache::Result<Cache> {
    Cache::builder()
        .min_file_size(MIN_FILE_SIZE)
        .write_path(WritePath::Logged)
        .open(dir)
}

fn value(key: &str, round: u8) -> Vec<u8> {
    let mut v = format!("{key}:{round}").into_bytes();
    if key == "big" {
        v.resize(3000, round);
    }
    v
}

/// The entries the writer checkpoints before it logs anything.
fn checkpointed() -> BTreeMap<String, Vec<u8>> {
    (0..5)
        .map(|i| format!("old{i}"))
        .map(|k| {
            let v = value(&k, 0);
            (k, v)
        })
        .collect()
}

/// Child: checkpoints [`checkpointed`], then logs one-record blocks (`k0`…`k9`, an overwrite
/// of `old1`, a value file `big`), a transaction of two records (`t1`, `t2`), a delete of
/// `old2`, and more blocks (`m0`…`m9`); tells its parent and waits to be killed.
#[test]
#[ignore = "child role: started by its parent test"]
fn a_writer_logs_every_kind_of_block_then_waits_to_be_killed() {
    let Some((dir, _)) = child_env(WRITER) else {
        return;
    };
    let cache = open(&dir).unwrap();
    for (k, v) in checkpointed() {
        cache.set(k.as_str(), Bytes::new(&v)).unwrap();
    }
    cache.checkpoint().unwrap();
    for i in 0..10 {
        let k = format!("k{i}");
        cache.set(k.as_str(), Bytes::new(&value(&k, 1))).unwrap();
    }
    cache.set("old1", Bytes::new(&value("old1", 1))).unwrap();
    cache.set("big", Bytes::new(&value("big", 1))).unwrap();
    cache
        .transact(|t| {
            t.set("t1", Bytes::new(&value("t1", 1)))?;
            t.set("t2", Bytes::new(&value("t2", 1)))?;
            Ok(())
        })
        .unwrap();
    assert!(cache.delete("old2").unwrap());
    for i in 0..10 {
        let k = format!("m{i}");
        cache.set(k.as_str(), Bytes::new(&value(&k, 1))).unwrap();
    }
    tell_parent("ready");
    std::thread::sleep(common::child::PATIENCE);
}

/// What the killed writer's cache holds.
fn logged() -> BTreeMap<String, Vec<u8>> {
    let mut all = checkpointed();
    all.remove("old2");
    for k in (0..10)
        .flat_map(|i| [format!("k{i}"), format!("m{i}")])
        .chain(["old1", "big", "t1", "t2"].map(String::from))
    {
        let v = value(&k, 1);
        all.insert(k, v);
    }
    all
}

/// A directory holding the cache of a writer killed with SIGKILL while idle, its log full.
fn killed_writer() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Proc::spawn(WRITER, dir.path(), 0);
    writer.expect("ready");
    writer.kill();
    dir
}

/// A copy of the directory `from`.
fn copy_of(from: &Path) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(from, dir.path());
    dir
}

/// One record of the log, found by walking it as format-spec/wal.md lays it out.
#[derive(Debug, Clone)]
struct Rec {
    offset: usize,
    len: usize,
    seq: u64,
    key: String,
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// The records of the newest lane's generation, in order (every one of the killed writer's
/// is whole, of that generation and numbered on).
fn records(dir: &Path) -> Vec<Rec> {
    let wal = fs::read(dir.join("cache.wal")).unwrap();
    let (start, generation) = common::wal::newest_lane(&wal);
    let mut out = Vec::new();
    let mut at = start + 64;
    loop {
        let len = u32::from_le_bytes(wal[at..at + 4].try_into().unwrap()) as usize;
        if len < 32 || le64(&wal, at + 8) != generation || le64(&wal, at + 16) != out.len() as u64 {
            return out;
        }
        let key_len = usize::from(u16::from_le_bytes(
            wal[at + 26..at + 28].try_into().unwrap(),
        ));
        let key = &wal[at + 32..at + 32 + key_len];
        assert_eq!(key[0], 0x20, "the writer's keys are texts");
        out.push(Rec {
            offset: at,
            len,
            seq: le64(&wal, at + 16),
            key: String::from_utf8(key[1..].to_vec()).unwrap(),
        });
        at += len.next_multiple_of(8);
    }
}

fn record_of(dir: &Path, key: &str) -> Rec {
    records(dir)
        .into_iter()
        .find(|r| r.key == key)
        .unwrap_or_else(|| panic!("no record of {key}"))
}

/// Writes `bytes` at `offset` of `path` in place (the file may be mapped: it is never
/// truncated).
fn write_at(path: &Path, offset: usize, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let file = fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(bytes, offset as u64).unwrap();
}

/// Sets byte `at` of the record `rec` to `f(byte)` and writes its crc32 again, so that the
/// record stays whole and crc-valid.
fn edit(dir: &Path, rec: &Rec, at: usize, f: impl Fn(u8) -> u8) {
    let path = dir.join("cache.wal");
    let wal = fs::read(&path).unwrap();
    let mut bytes = wal[rec.offset..rec.offset + rec.len].to_vec();
    bytes[at] = f(bytes[at]);
    let crc = crc32fast::hash(&bytes[8..]);
    bytes[4..8].copy_from_slice(&crc.to_le_bytes());
    write_at(&path, rec.offset, &bytes);
}

/// Where a set record's row starts, from the record's start.
fn row_at(rec: &Rec) -> usize {
    32 + 1 + rec.key.len()
}

/// A named change of one byte of a record, at an offset from its start.
type Damage = (&'static str, usize, fn(u8) -> u8);

/// The ways a crc-valid set record can be damaged.
fn damages(rec: &Rec) -> Vec<Damage> {
    vec![
        ("row version 2", row_at(rec), |_| 2),
        ("value kind 9", row_at(rec) + 2, |_| 9),
        ("row flag bit 3", row_at(rec) + 1, |f| f | 8),
        ("record kind 9", 24, |_| 9),
        ("record flag bit 2", 25, |f| f | 4),
    ]
}

/// The `dirty` word of `cache.shm`.
fn dirty(dir: &Path) -> u64 {
    le64(&fs::read(dir.join("cache.shm")).unwrap(), 64)
}

/// The cache reads exactly `want` (every key with its value, nothing else), `len` and
/// `volume` agree, and `cache.shm` is consistent: not dirty, of the lanes' generations.
fn assert_holds(cache: &Cache, dir: &Path, want: &BTreeMap<String, Vec<u8>>, label: &str) {
    for (k, v) in want {
        let got = cache.get::<ByteBuf>(k.as_str());
        assert!(
            matches!(&got, Ok(Some(b)) if b.as_slice() == v.as_slice()),
            "{label}: {k} reads {got:?}"
        );
    }
    let keys: Vec<String> = common::keys_of(cache)
        .into_iter()
        .map(|k| k.decode::<String>().unwrap())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(sorted, want.keys().cloned().collect::<Vec<_>>(), "{label}");
    assert_eq!(cache.len().unwrap(), want.len() as u64, "{label}");
    let volume: u64 = want
        .iter()
        .map(|(k, v)| 128 + 1 + (k.len() + v.len()) as u64)
        .sum();
    assert_eq!(cache.volume().unwrap(), volume, "{label}");
    assert_eq!(dirty(dir), 0, "{label}: cache.shm is left dirty");
    let wal = fs::read(dir.join("cache.wal")).unwrap();
    let shm = fs::read(dir.join("cache.shm")).unwrap();
    assert!(
        common::wal::index_in_step(&shm, &wal),
        "{label}: the index's generations"
    );
}

/// `check(false)` reports `n` records left out, naming each; `check(true)` reports them and
/// clears them; a second `check(false)` is clean.
fn assert_check_reports(cache: &Cache, seqs: &[u64], label: &str) {
    let warnings: Vec<String> = cache
        .check(false)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(warnings.len(), seqs.len(), "{label}: {warnings:?}");
    for (w, seq) in warnings.iter().zip(seqs) {
        assert!(
            w.contains("cache.wal") && w.contains(&format!("record {seq} ")),
            "{label}: {w}"
        );
    }
    assert_eq!(
        cache
            .check(false)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        warnings,
        "{label}: check(false) changed it"
    );
    assert_eq!(
        cache
            .check(true)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        warnings,
        "{label}"
    );
    assert_eq!(cache.check(false).unwrap(), Vec::new(), "{label}");
}

/// The killed writer's cache opens whole, as the reference for the cases below.
#[test]
fn an_undamaged_log_of_a_killed_writer_reads_back_whole() {
    let killed = killed_writer();
    let dir = copy_of(killed.path());
    let cache = open(dir.path()).unwrap();
    assert_holds(&cache, dir.path(), &logged(), "undamaged");
    assert_check_reports(&cache, &[], "undamaged");
}

/// A set record whose row does not decode (version, kind, flags), or whose own kind or flags
/// the log does not have: the cache opens, the key keeps the value it had before that record
/// (here its checkpointed one), every record after it is kept, and `check` reports the one
/// record until `check(true)` clears it.
#[test]
fn a_damaged_record_is_left_out_and_every_later_record_is_kept() {
    let killed = killed_writer();
    let target = record_of(killed.path(), "old1");
    let later = records(killed.path()).len() as u64 - target.seq - 1;
    assert!(later >= 10, "{later} records follow the damaged one");
    for (label, at, change) in damages(&target) {
        let dir = copy_of(killed.path());
        edit(dir.path(), &target, at, change);
        let cache = open(dir.path()).unwrap_or_else(|e| panic!("{label}: {e}"));
        let mut want = logged();
        want.insert("old1".into(), value("old1", 0));
        assert_holds(&cache, dir.path(), &want, label);
        assert_check_reports(&cache, &[target.seq], label);
        assert_holds(&cache, dir.path(), &want, label);
        cache.set("after", 1).unwrap();
        assert_eq!(cache.get::<i64>("after").unwrap(), Some(1), "{label}");
    }
}

/// A damaged record of a transaction leaves the whole transaction out (no half of it is
/// applied), and `check` reports both of its records.
#[test]
fn a_damaged_record_leaves_its_whole_transaction_out() {
    let killed = killed_writer();
    let (t1, t2) = (
        record_of(killed.path(), "t1"),
        record_of(killed.path(), "t2"),
    );
    assert_eq!(t1.seq + 1, t2.seq);
    for (rec, (label, at, change)) in [&t1, &t2]
        .into_iter()
        .flat_map(|r| damages(r).into_iter().map(move |d| (r, d)))
    {
        let label = format!("{} of {}", label, rec.key);
        let dir = copy_of(killed.path());
        edit(dir.path(), rec, at, change);
        let cache = open(dir.path()).unwrap_or_else(|e| panic!("{label}: {e}"));
        let mut want = logged();
        want.remove("t1");
        want.remove("t2");
        assert_holds(&cache, dir.path(), &want, &label);
        assert_check_reports(&cache, &[t1.seq, t2.seq], &label);
    }
}

/// Padding (not covered by the crc32) and a version field of 0 (written by earlier builds)
/// or 1 say nothing: every record is applied and `check` is clean.
#[test]
fn padding_and_a_version_of_zero_or_one_are_ignored() {
    let killed = killed_writer();
    let recs = records(killed.path());
    let padded = recs
        .iter()
        .find(|r| r.len % 8 != 0)
        .expect("a padded record");
    let dir = copy_of(killed.path());
    let padding = padded.len.next_multiple_of(8) - padded.len;
    write_at(
        &dir.path().join("cache.wal"),
        padded.offset + padded.len,
        &vec![0x55; padding],
    );
    for (i, rec) in recs.iter().enumerate() {
        edit(dir.path(), rec, 28, |_| (i % 2) as u8);
    }
    let cache = open(dir.path()).unwrap();
    assert_holds(&cache, dir.path(), &logged(), "padding and versions");
    assert_check_reports(&cache, &[], "padding and versions");
}

/// The tables of `cache.redb`, read with the redb crate: (table, key, value) in order.
fn redb_rows(dir: &Path) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    use redb::{ReadableDatabase, ReadableTable, TableDefinition};
    let db = redb::Database::builder()
        .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
        .create(dir.join("cache.redb"))
        .unwrap();
    let txn = db.begin_read().unwrap();
    let mut out = Vec::new();
    let entries: TableDefinition<&[u8], &[u8]> = TableDefinition::new("entries");
    for row in txn.open_table(entries).unwrap().iter().unwrap() {
        let (k, v) = row.unwrap();
        out.push(("entries".into(), k.value().to_vec(), v.value().to_vec()));
    }
    let meta: TableDefinition<&str, u64> = TableDefinition::new("meta");
    for row in txn.open_table(meta).unwrap().iter().unwrap() {
        let (k, v) = row.unwrap();
        let value = v.value().to_le_bytes().to_vec();
        out.push(("meta".into(), k.value().as_bytes().to_vec(), value));
    }
    out
}

fn assert_newer_version_refused(result: diskcache::Result<impl std::fmt::Debug>, label: &str) {
    match result {
        Err(e @ Error::UnsupportedVersion { found, supported }) => {
            assert_eq!(
                (found, supported),
                (NEWER, diskcache::FORMAT_VERSION),
                "{label}"
            );
            let msg = e.to_string();
            assert!(
                msg.contains(&format!("version {NEWER}"))
                    && msg.contains(&format!("up to {}", diskcache::FORMAT_VERSION)),
                "{label}: {msg}"
            );
        }
        other => panic!("{label}: expected UnsupportedVersion, got {other:?}"),
    }
}

/// The format version of a newer build than this one.
const NEWER: u64 = diskcache::FORMAT_VERSION + 1;

/// A record that needs format version [`NEWER`] (as a newer build writes it during a rolling
/// upgrade) is refused at open, naming both versions, and nothing is written: the log, its
/// index and the database's tables are as they were, so the newer build finds its records.
/// With the field read as this build's version again, everything is there.
#[test]
fn a_record_of_a_newer_format_is_refused_at_open_and_nothing_is_written() {
    let killed = killed_writer();
    let target = record_of(killed.path(), "m5");
    let dir = copy_of(killed.path());
    edit(dir.path(), &target, 28, |_| NEWER as u8);
    let tables = redb_rows(dir.path());
    let wal = fs::read(dir.path().join("cache.wal")).unwrap();
    let shm = fs::read(dir.path().join("cache.shm")).unwrap();
    for attempt in 0..2 {
        assert_newer_version_refused(open(dir.path()), &format!("open #{attempt}"));
        assert!(
            fs::read(dir.path().join("cache.wal")).unwrap() == wal,
            "cache.wal changed"
        );
        assert!(
            fs::read(dir.path().join("cache.shm")).unwrap() == shm,
            "cache.shm changed"
        );
        assert_eq!(redb_rows(dir.path()), tables, "cache.redb's tables changed");
    }
    edit(dir.path(), &target, 28, |_| 1);
    let cache = open(dir.path()).unwrap();
    assert_holds(&cache, dir.path(), &logged(), "read again");
    assert_check_reports(&cache, &[], "read again");
}

/// A record of a newer format that appears while this build has the cache open (another
/// process, a newer build, logged it and died) stops this build's writes with
/// `UnsupportedVersion` without writing the log; reads of other keys go on. Once the record
/// reads as this build's version, the next write recovers it.
#[test]
fn a_newer_record_logged_while_the_cache_is_open_stops_writes_without_touching_the_log() {
    let killed = killed_writer();
    let dir = copy_of(killed.path());
    let cache = open(dir.path()).unwrap();
    cache.set("before", 1).unwrap();
    // A newer writer's block, appended under the write lock after the valid log; it dies
    // before indexing it, leaving the critical section marked.
    let newer = {
        let _lock = common::hold_log_lock(dir.path());
        let recs = records(dir.path());
        let last = recs.last().expect("the open's write is logged");
        let at = last.offset + last.len.next_multiple_of(8);
        let path = dir.path().join("cache.wal");
        let wal = fs::read(&path).unwrap();
        let mut copy = wal[last.offset..last.offset + last.len].to_vec();
        copy[16..24].copy_from_slice(&(last.seq + 1).to_le_bytes());
        write_at(&path, at, &copy);
        let rec = Rec {
            offset: at,
            seq: last.seq + 1,
            ..last.clone()
        };
        edit(dir.path(), &rec, 28, |_| NEWER as u8);
        // The dead writer's mark: the next holder of the lock recovers.
        write_at(
            &dir.path().join("cache.shm"),
            64,
            &u64::from(u32::MAX).to_le_bytes(),
        );
        rec
    };
    let wal = fs::read(dir.path().join("cache.wal")).unwrap();
    assert_newer_version_refused(cache.set("x", 1), "set");
    assert_newer_version_refused(cache.set("y", 1), "another set");
    assert!(
        fs::read(dir.path().join("cache.wal")).unwrap() == wal,
        "cache.wal changed"
    );
    assert_eq!(cache.get::<ByteBuf>("k1").unwrap().unwrap(), value("k1", 1));
    edit(dir.path(), &newer, 28, |_| 1);
    cache.set("x", 1).unwrap();
    assert_eq!(cache.get::<i64>("before").unwrap(), Some(1));
    assert_eq!(cache.get::<i64>("x").unwrap(), Some(1));
    assert_eq!(cache.len().unwrap(), logged().len() as u64 + 2);
    assert_check_reports(&cache, &[], "after");
}
