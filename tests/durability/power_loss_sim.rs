//! A simulated power loss at the default `Normal` durability level
//! (format-spec/durability.md): a power loss never damages the cache, and loses only what no
//! synced checkpoint had committed.
//!
//! The crate's hidden recorder (`diskcache::recorder`) lists every write, truncation, sync,
//! creation, rename and removal that redb's storage backend, the log and the value files make
//! under the cache directory, in order. A workload (sets, updates, deletes, large values in
//! value files, a clear, the log checkpointed every few records) runs once, recorded. Then,
//! for cut points swept over the recording, the test builds the directory a power loss at
//! that point could leave, as a disk that honours `fsync` does:
//! - a file holds what was synced, plus a random subset of the later writes, each whole or
//!   torn (a random subset of its 512-byte or 4 KiB sectors);
//! - a folder holds the names it had at its last sync, plus a random prefix of the later
//!   creations, renames and removals in it (a journal keeps their order); a rename is durable
//!   only after its folder's sync;
//! - `cache.shm` is lost, or stale (as the workload left it); `cache.boot` says the cache was
//!   in use when another boot ended.
//!
//! It reopens the cache there and checks that the open is clean, that `check(false)` reports
//! nothing but orphan files, that every write acknowledged before the sealing of the last
//! lane whose checkpoint's commit completed reads back (the library tells the recorder of
//! both), and that nothing reads wrong: every key holds what it held after some operation
//! between that sealing and the cut.
//!
//! That it can fail is shown by the negative controls `no-checkpoint-file-sync` (checkpoints
//! commit rows naming value files they did not sync), `no-commit-sync` (redb's commits are
//! never synced), `replaced-files-go-early` (a logged write deletes the value file a synced
//! row names) and `skip-power-loss-check` (the unsynced log is replayed),
//! `scripts/negative_controls.sh`.
#![cfg(target_os = "linux")]

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;

use common::rng::Xorshift;
use diskcache::recorder::{self, Event};
use diskcache::{Cache, Durability, Finding};
use serde_bytes::{ByteBuf, Bytes};

const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

/// The marker record of format-spec/durability.md saying "in use" by another boot.
fn in_use_by_another_boot() -> Vec<u8> {
    let mut out = vec![0u8; 64];
    out[..8].copy_from_slice(b"dcboot01");
    out[8] = 0;
    out[16..52].copy_from_slice(b"00000000-1111-2222-3333-444444444444");
    let crc = crc32fast::hash(&out[..60]);
    out[60..].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Files the recorder does not follow: the test makes them as a power loss leaves them.
const UNRECORDED: [&str; 3] = ["cache.shm", "cache.boot", "cache.lock"];

/// A file's life: what it held when the recording began (non-zero 4 KiB blocks), then each
/// write and truncation since, and how many of those a sync has made durable.
#[derive(Default, Clone)]
struct Inode {
    base: Vec<(u64, Vec<u8>)>,
    base_len: u64,
    ops: Vec<FileOp>,
    synced: usize,
}

#[derive(Clone)]
enum FileOp {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Node {
    File(usize),
    Dir(usize),
}

/// A folder: the names it had at its last sync, the names it has now, and the changes since
/// the sync, in order.
#[derive(Default, Clone)]
struct Folder {
    durable: BTreeMap<OsString, Node>,
    current: BTreeMap<OsString, Node>,
    pending: Vec<(OsString, Option<Node>)>,
}

/// The disk as the recording says it is: what the kernel holds and what is durable.
#[derive(Clone)]
struct Disk {
    inodes: Vec<Inode>,
    folders: Vec<Folder>,
}

impl Disk {
    /// The directory `dir` as it is now, everything durable (it was closed cleanly).
    fn scan(dir: &Path) -> Disk {
        let mut disk = Disk {
            inodes: Vec::new(),
            folders: vec![Folder::default()],
        };
        disk.scan_folder(dir, 0, true);
        disk
    }

    fn scan_folder(&mut self, at: &Path, folder: usize, root: bool) {
        for entry in fs::read_dir(at).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            if root && UNRECORDED.iter().any(|u| name == *u) {
                continue;
            }
            let node = if entry.file_type().unwrap().is_dir() {
                self.folders.push(Folder::default());
                let id = self.folders.len() - 1;
                self.scan_folder(&entry.path(), id, false);
                Node::Dir(id)
            } else {
                let bytes = fs::read(entry.path()).unwrap();
                let mut inode = Inode {
                    base_len: bytes.len() as u64,
                    ..Inode::default()
                };
                for (i, block) in bytes.chunks(4096).enumerate() {
                    if block.iter().any(|b| *b != 0) {
                        inode.base.push((i as u64 * 4096, block.to_vec()));
                    }
                }
                self.inodes.push(inode);
                Node::File(self.inodes.len() - 1)
            };
            let f = &mut self.folders[folder];
            f.durable.insert(name.clone(), node);
            f.current.insert(name, node);
        }
    }

    /// The folder that holds `path` now, and its last component.
    fn parent_of(&self, path: &Path) -> (usize, OsString) {
        let name = path.file_name().unwrap().to_os_string();
        (self.folder(path.parent().unwrap()), name)
    }

    fn folder(&self, path: &Path) -> usize {
        let mut at = 0;
        for part in path.components() {
            match self.folders[at].current.get(part.as_os_str()) {
                Some(Node::Dir(id)) => at = *id,
                other => panic!("no folder {path:?} ({other:?})"),
            }
        }
        at
    }

    fn inode(&self, path: &Path) -> usize {
        let (folder, name) = self.parent_of(path);
        match self.folders[folder].current.get(&name) {
            Some(Node::File(id)) => *id,
            other => panic!("no file {path:?} ({other:?})"),
        }
    }

    fn link(&mut self, folder: usize, name: OsString, node: Option<Node>) {
        let f = &mut self.folders[folder];
        match node {
            Some(node) => f.current.insert(name.clone(), node),
            None => f.current.remove(&name),
        };
        f.pending.push((name, node));
    }

    /// Takes in one recorded event.
    fn apply(&mut self, event: &Event) {
        match event {
            Event::Write { file, offset, data } => {
                let id = self.inode(file);
                self.inodes[id]
                    .ops
                    .push(FileOp::Write(*offset, data.clone()));
            }
            Event::SetLen { file, len } => {
                let id = self.inode(file);
                self.inodes[id].ops.push(FileOp::SetLen(*len));
            }
            Event::SyncFile { file } => {
                let id = self.inode(file);
                self.inodes[id].synced = self.inodes[id].ops.len();
            }
            Event::Create { file } => {
                self.inodes.push(Inode::default());
                let node = Node::File(self.inodes.len() - 1);
                let (folder, name) = self.parent_of(file);
                self.link(folder, name, Some(node));
            }
            Event::MakeDirs { dir } => {
                let mut at = 0;
                for part in dir.components() {
                    let name = part.as_os_str().to_os_string();
                    at = match self.folders[at].current.get(&name) {
                        Some(Node::Dir(id)) => *id,
                        _ => {
                            self.folders.push(Folder::default());
                            let id = self.folders.len() - 1;
                            self.link(at, name, Some(Node::Dir(id)));
                            id
                        }
                    };
                }
            }
            Event::Rename { from, to } => {
                let (folder, name) = self.parent_of(from);
                let node = self.folders[folder].current.get(&name).copied();
                self.link(folder, name, None);
                let (folder, name) = self.parent_of(to);
                self.link(folder, name, node);
            }
            Event::Remove { file: path } | Event::RemoveDir { dir: path } => {
                let (folder, name) = self.parent_of(path);
                self.link(folder, name, None);
            }
            Event::SyncDir { dir } => {
                let f = self.folder(dir);
                let folder = &mut self.folders[f];
                folder.durable = folder.current.clone();
                folder.pending.clear();
            }
            Event::Mark(_) | Event::Sealed(_) | Event::Committed(_) => {}
        }
    }

    /// Writes into `out` what a power loss now could leave, choosing with `rng`; `sector`
    /// is the unit a torn write keeps or loses.
    fn leave(&self, out: &Path, rng: &mut Xorshift, sector: usize) {
        self.leave_folder(0, out, rng, sector);
    }

    fn leave_folder(&self, folder: usize, out: &Path, rng: &mut Xorshift, sector: usize) {
        let f = &self.folders[folder];
        let mut names = f.durable.clone();
        let kept = rng.between((0, f.pending.len() as u64)) as usize;
        for (name, node) in &f.pending[..kept] {
            match node {
                Some(node) => names.insert(name.clone(), *node),
                None => names.remove(name),
            };
        }
        for (name, node) in names {
            let path = out.join(&name);
            match node {
                Node::Dir(id) => {
                    fs::create_dir(&path).unwrap();
                    self.leave_folder(id, &path, rng, sector);
                }
                Node::File(id) => self.leave_file(&self.inodes[id], &path, rng, sector),
            }
        }
    }

    fn leave_file(&self, inode: &Inode, path: &Path, rng: &mut Xorshift, sector: usize) {
        let file = fs::File::create(path).unwrap();
        file.set_len(inode.base_len).unwrap();
        for (at, block) in &inode.base {
            file.write_all_at(block, *at).unwrap();
        }
        for (i, op) in inode.ops.iter().enumerate() {
            let durable = i < inode.synced;
            if !durable && rng.next().is_multiple_of(2) {
                continue;
            }
            match op {
                FileOp::SetLen(len) => file.set_len(*len).unwrap(),
                FileOp::Write(at, data) if durable || !rng.next().is_multiple_of(3) => {
                    file.write_all_at(data, *at).unwrap();
                }
                FileOp::Write(at, data) => {
                    // Torn: a random subset of the sectors it covers.
                    let mut pos = *at;
                    let end = at + data.len() as u64;
                    while pos < end {
                        let next = ((pos / sector as u64) + 1) * sector as u64;
                        let next = next.min(end);
                        if rng.next().is_multiple_of(2) {
                            let from = (pos - at) as usize;
                            let to = (next - at) as usize;
                            file.write_all_at(&data[from..to], pos).unwrap();
                        }
                        pos = next;
                    }
                }
            }
        }
    }
}

/// One step of the workload.
#[derive(Clone, Debug)]
enum Op {
    Set(String, Vec<u8>),
    Delete(String),
    Clear,
}

/// The workload: small and large sets of a few keys (so later ones update earlier ones),
/// deletes, and one clear.
fn workload(rng: &mut Xorshift) -> Vec<Op> {
    let mut ops = Vec::new();
    for i in 0..90u64 {
        let key = format!("k{}", rng.next() % 10);
        let op = match rng.next() % 10 {
            _ if i == 60 => Op::Clear,
            0..=4 => Op::Set(key, i.to_le_bytes().to_vec()),
            5..=7 => {
                let len = rng.between((33_000, 120_000)) as usize;
                Op::Set(key, vec![i as u8; len])
            }
            _ => Op::Delete(key),
        };
        ops.push(op);
    }
    ops
}

/// The state after each prefix of `ops`: `states[i]` after the first `i`.
fn states(ops: &[Op]) -> Vec<HashMap<String, Vec<u8>>> {
    let mut state = HashMap::new();
    let mut out = vec![state.clone()];
    for op in ops {
        match op {
            Op::Set(k, v) => {
                state.insert(k.clone(), v.clone());
            }
            Op::Delete(k) => {
                state.remove(k);
            }
            Op::Clear => state.clear(),
        }
        out.push(state.clone());
    }
    out
}

/// Runs `ops` on the Normal cache in `dir`, recorded; returns the events and a copy of
/// `cache.shm` as the workload left it.
fn record(dir: &Path, ops: &[Op]) -> (Vec<Event>, Vec<u8>) {
    let recording = recorder::arm(dir);
    let cache = Cache::builder().checkpoint_records(8).open(dir).unwrap();
    assert_eq!(cache.settings().durability, Durability::Normal);
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Set(k, v) => cache.set(k.as_str(), Bytes::new(v)).unwrap(),
            Op::Delete(k) => {
                cache.delete(k.as_str()).unwrap();
            }
            Op::Clear => {
                cache.clear().unwrap();
            }
        }
        recorder::mark(i as u64 + 1);
    }
    let shm = fs::read(dir.join("cache.shm")).unwrap();
    let events = recording.finish();
    drop(cache);
    (events, shm)
}

/// Whether `event` ends a commit to the database (its syncs done).
fn ends_commit(event: &Event) -> bool {
    matches!(event, Event::Committed(_))
}

#[test]
fn a_power_loss_at_any_point_leaves_a_clean_cache_holding_its_last_synced_checkpoint() {
    if !Path::new(BOOT_ID).exists() {
        common::skip::missing(&format!("{BOOT_ID} does not exist here: no marker"));
        return;
    }
    let mut rng = Xorshift::from_env_or_clock("POWER_LOSS_SEED", "power_loss_sim");
    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    let live = root.join("live");
    fs::create_dir(&live).unwrap();
    let ops = workload(&mut rng);
    let states = states(&ops);
    // Created and closed first: what the recording starts from is all durable.
    drop(Cache::builder().checkpoint_records(8).open(&live).unwrap());
    let start = Disk::scan(&live);
    let (events, shm) = record(&live, &ops);
    assert!(events.iter().filter(|e| ends_commit(e)).count() >= 8);

    // Cut points: evenly over the recording, and just before and after every sync and every
    // end of a commit.
    let mut cuts: Vec<usize> = (0..=events.len())
        .step_by((events.len() / 40).max(1))
        .collect();
    for (i, e) in events.iter().enumerate() {
        if ends_commit(e) || matches!(e, Event::SyncFile { .. } | Event::SyncDir { .. }) {
            cuts.extend([i, i + 1]);
        }
    }
    cuts.sort_unstable();
    cuts.dedup();

    eprintln!(
        "power_loss_sim: {} events, {} commits, {} cut points",
        events.len(),
        events.iter().filter(|e| ends_commit(e)).count(),
        cuts.len()
    );
    let mut disk = start;
    let mut applied = 0;
    let (mut acked, mut acked_at_commit) = (0usize, 0usize);
    // Per sealed lane, the operations acknowledged when it was sealed: all of them are in it
    // or in an earlier lane (and the one in flight may be too).
    let mut acked_at_seal: HashMap<u64, usize> = HashMap::new();
    for (n, &cut) in cuts.iter().enumerate() {
        while applied < cut {
            let event = &events[applied];
            disk.apply(event);
            match event {
                Event::Mark(i) => acked = *i as usize,
                Event::Sealed(generation) => {
                    acked_at_seal.insert(*generation, acked);
                }
                // A change outside the lanes is made once both are applied: everything
                // acknowledged is in the database.
                Event::Committed(u64::MAX) => acked_at_commit = acked,
                Event::Committed(generation) => {
                    let sealed = acked_at_seal.get(generation).copied().unwrap_or(0);
                    acked_at_commit = acked_at_commit.max(sealed);
                }
                _ => {}
            }
            applied += 1;
        }
        // Every key holds what it held after one of the operations from the last committed
        // lane's sealing (everything acknowledged before it is in the database) to the one in
        // flight.
        let (lo, hi) = (acked_at_commit, (acked + 1).min(ops.len()));
        let sector = if n % 2 == 0 { 512 } else { 4096 };
        let out = root.join(format!("cut{n}"));
        fs::create_dir(&out).unwrap();
        disk.leave(&out, &mut rng, sector);
        fs::write(out.join("cache.boot"), in_use_by_another_boot()).unwrap();
        if rng.next().is_multiple_of(2) {
            fs::write(out.join("cache.shm"), &shm).unwrap();
        }
        let context = format!(
            "cut {cut} of {} (acknowledged {lo}..={hi}, sector {sector})",
            events.len()
        );
        reopen_and_check(&out, &states[lo..=hi], &context);
        fs::remove_dir_all(&out).unwrap();
    }
}

/// Opens the cache left in `out` and checks it against the states it may hold.
fn reopen_and_check(out: &Path, allowed: &[HashMap<String, Vec<u8>>], context: &str) {
    let cache = Cache::open(out).unwrap_or_else(|e| panic!("{context}: the reopen failed: {e}"));
    let mut present = 0;
    for k in 0..10 {
        let key = format!("k{k}");
        let got = match cache.get::<ByteBuf>(key.as_str()) {
            Ok(v) => v.map(ByteBuf::into_vec),
            Err(e) => panic!("{context}: {key} reads as an error: {e}"),
        };
        present += u64::from(got.is_some());
        let ok = allowed.iter().any(|state| state.get(&key) == got.as_ref());
        assert!(
            ok,
            "{context}: {key} reads {:?}, which it never held at a durable point ({:?})",
            got.as_ref().map(|v| (v.len(), v.first())),
            allowed
                .iter()
                .map(|s| s.get(&key).map(|v| (v.len(), v[0])))
                .collect::<Vec<_>>()
        );
    }
    let findings: Vec<String> = cache
        .check(false)
        .unwrap_or_else(|e| panic!("{context}: check failed: {e}"))
        .iter()
        .filter(|f| !matches!(f, Finding::OrphanFile { .. }))
        .map(ToString::to_string)
        .collect();
    assert!(findings.is_empty(), "{context}: check found {findings:?}");
    assert_eq!(cache.len().unwrap(), present, "{context}: len");
}
