//! `cache.shm`: the shared-memory header and index of the logged write path.
//!
//! A file of fixed size, mapped shared by every process and accessed only through atomic
//! 64-bit words. Header words sit on their own 64-byte lines; then come two index tables,
//! one per lane of the log (`wal.rs`), each an open-addressing table of (key hash, log
//! offset) slots with linear probing. Slots are only ever added or repointed, never removed
//! one at a time: a table is cleared whole once its lane is in the database, and readers stop
//! probing it before that. So a reader racing a writer can never miss a key that was already
//! present. `format-spec/wal.md` is the authority on the layout.

use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use memmap2::MmapMut;

use crate::error::{Error, Result};

/// File name of the shared index inside a cache directory.
pub(crate) const SHM_FILE: &str = "cache.shm";
/// The first word of an initialized shared index.
pub(crate) const SHM_MAGIC: u64 = u64::from_le_bytes(*b"DCSHM\0\0\x02");
/// The first word of a shared index of the format with one log and one table, which this
/// build converts (when no other process has the cache open).
pub(crate) const LEGACY_SHM_MAGIC: u64 = u64::from_le_bytes(*b"DCSHM\0\0\x01");
/// Byte offset of lane 0's slot table; lane 1's follows it.
const TABLE_OFFSET: usize = 4096;
/// Slots in each lane's table: four times the most records a generation may hold, so a
/// table is at most a quarter full.
pub(crate) const SLOTS: usize = 65536;
/// Size of the file.
pub(crate) const SHM_SIZE: usize = TABLE_OFFSET + 2 * SLOTS * 16;

/// One of the log's two lanes, `0` or `1` (`wal.rs`).
pub(crate) type Lane = usize;

/// The other lane.
pub(crate) fn other(lane: Lane) -> Lane {
    1 - (lane & 1)
}

/// `lane`'s element of a per-lane pair.
pub(crate) fn of_lane<T>(pair: &[T; 2], lane: Lane) -> &T {
    let [first, second] = pair;
    if lane & 1 == 0 { first } else { second }
}

/// `lane`'s element of a per-lane pair, to change.
pub(crate) fn of_lane_mut<T>(pair: &mut [T; 2], lane: Lane) -> &mut T {
    let [first, second] = pair;
    if lane & 1 == 0 { first } else { second }
}

/// A word each lane of the log has its own copy of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LaneWord {
    /// The lane's generation (a copy of its header's, written after it), or 0 if the lane
    /// holds no records to apply.
    Gen,
    /// Bytes of the log file in use up to the lane's last record (records end here).
    ValidLen,
    /// Records in the lane's generation.
    Records,
    /// Entries the lane adds to the database's count (two's complement i64).
    CountDelta,
    /// Volume the lane adds to the database's (two's complement i64).
    VolumeDelta,
    /// Access records in the lane's generation: a cull under a policy ordered by access
    /// checkpoints first only if there are any.
    AccessRecords,
}

impl LaneWord {
    /// The word's 8-byte index for `lane`: lane 0's are where the format with one log kept
    /// its words of the same meaning.
    fn index(self, lane: Lane) -> usize {
        match (lane & 1, self) {
            (0, LaneWord::Gen) => 24,
            (0, LaneWord::ValidLen) => 32,
            (0, LaneWord::Records) => 40,
            (0, LaneWord::CountDelta) => 48,
            (0, LaneWord::VolumeDelta) => 56,
            (0, LaneWord::AccessRecords) => 128,
            (_, LaneWord::Gen) => 160,
            (_, LaneWord::ValidLen) => 168,
            (_, LaneWord::Records) => 176,
            (_, LaneWord::CountDelta) => 184,
            (_, LaneWord::VolumeDelta) => 192,
            (_, LaneWord::AccessRecords) => 200,
        }
    }
}

/// A header word, by its index in 8-byte words. Each starts a 64-byte line.
#[derive(Clone, Copy, Debug)]
#[repr(usize)]
pub(crate) enum Word {
    /// [`SHM_MAGIC`] once the header is initialized.
    Magic = 0,
    /// The pid of the process inside the write lock's critical section, or 0. Left set by a
    /// holder that died mid-way: the next holder recovers.
    Dirty = 8,
    /// Seqlock: odd while the lanes change roles, a checkpoint publishes, or the index is
    /// rebuilt.
    Seq = 16,
    /// Hits counted since the last checkpoint flushed them (for statistics).
    Hits = 64,
    /// Misses counted since the last checkpoint flushed them (for statistics).
    Misses = 72,
    /// The next row id to hand out.
    NextRowId = 80,
    /// Seqlock of the counters: odd from the start of a database commit that changes `count`
    /// or `volume` until the deltas above are folded in, so that `len` and `volume` read the
    /// database's counter and the log's delta as one pair without the lock.
    CounterSeq = 88,
    /// The write lock: the token of the instance holding it, or 0 (`lock.rs`).
    LockOwner = 96,
    /// Processes sleeping on the lock's wake word.
    LockWaiters = 104,
    /// Bumped after every commit that changes a stored setting (`reset`): a process whose
    /// copy of the settings was read under another value reads them again.
    SettingsEpoch = 120,
    /// The write lock's handoff claim: the token of a waiter that has seen too many
    /// acquisitions by others, or 0; while it names another live instance, no one else takes
    /// the lock (`lock.rs`).
    LockClaim = 136,
    /// Acquisitions of the write lock, bumped by each holder (wrapping): how a waiter tells
    /// how many times others have had the lock since it began waiting.
    LockAcquisitions = 144,
    /// The lane writers append to (0 or 1); the other lane, if its generation is not 0, is
    /// sealed: full, and waiting for (or in) its checkpoint.
    Active = 208,
    /// Bumped after every commit to the database: a snapshot read under another value may
    /// be older than what the lanes no longer hold.
    Epoch = 216,
    /// The checkpoint lock: the token of the instance applying the sealed lane to the
    /// database, or 0 (`lock.rs`).
    CheckpointOwner = 224,
    /// The generation of the sealed lane once a checkpoint has committed it to the database
    /// (the lane is then retired under the write lock).
    Applied = 232,
    /// When the sealed lane was sealed (µs since the Unix epoch): writers pace themselves
    /// by how far its checkpoint should have come (`pace.rs`).
    SealedAt = 240,
    /// What the last checkpoint of at least 1024 records cost per record, scan to commit
    /// (ns; 0: none measured yet).
    ApplyCost = 248,
    /// When the sealed lane's checkpoint is expected to have applied all its changes (µs
    /// since the Unix epoch; 0 from the seal until it has applied some): writers pace
    /// themselves by it once it says later than the last cost does.
    ApplyEnd = 256,
}

/// Byte offset of the lock's wake word, a 32-bit futex bumped by each release that has
/// sleepers (its own 64-byte line, word 112).
const WAKE_OFFSET: usize = 112 * 8;

/// The mapped shared index.
pub(crate) struct Shm {
    map: MmapMut,
}

impl std::fmt::Debug for Shm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shm").finish_non_exhaustive()
    }
}

impl Shm {
    /// Opens (creating if needed, never truncating or recreating) `cache.shm` in `dir`, sized
    /// before it is mapped.
    pub(crate) fn open(dir: &Path) -> Result<Shm> {
        let file = crate::files::open_shared(&dir.join(SHM_FILE))?;
        if file.metadata()?.len() < SHM_SIZE as u64 {
            file.set_len(SHM_SIZE as u64)?;
        }
        allocate(&file)?;
        // SAFETY: the file is at least SHM_SIZE bytes and never shrinks (nothing truncates
        // it); other processes change it concurrently, which is why every access below goes
        // through atomic words, never through the byte slice.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::MmapOptions::new().len(SHM_SIZE).map_mut(&file)? };
        Ok(Shm { map })
    }

    /// The atomic word at 8-byte index `index`, or an error past the end.
    fn at(&self, index: usize) -> Result<&AtomicU64> {
        atomic_word(&self.map, index)
            .ok_or_else(|| Error::corrupted(format!("shared index word {index} out of range")))
    }

    /// A header word.
    pub(crate) fn word(&self, w: Word) -> &AtomicU64 {
        // The header words are well inside the mapping, whose size is fixed.
        atomic_word(&self.map, w as usize).unwrap_or(&FALLBACK)
    }

    /// The write lock's 32-bit wake word (a futex).
    pub(crate) fn wake_word(&self) -> &AtomicU32 {
        atomic_u32(&self.map, WAKE_OFFSET).unwrap_or(&FALLBACK32)
    }

    /// Reads a header word.
    pub(crate) fn get(&self, w: Word) -> u64 {
        self.word(w).load(Ordering::Acquire)
    }

    /// A lane's word.
    pub(crate) fn lane_word(&self, lane: Lane, w: LaneWord) -> &AtomicU64 {
        atomic_word(&self.map, w.index(lane)).unwrap_or(&FALLBACK)
    }

    /// Reads a lane's word.
    pub(crate) fn lane(&self, lane: Lane, w: LaneWord) -> u64 {
        self.lane_word(lane, w).load(Ordering::Acquire)
    }

    /// Writes a lane's word.
    pub(crate) fn set_lane(&self, lane: Lane, w: LaneWord, v: u64) {
        self.lane_word(lane, w).store(v, Ordering::Release);
    }

    /// The sum of a word over both lanes (a lane with no records adds 0), as an i64 for the
    /// deltas.
    pub(crate) fn lanes_sum(&self, w: LaneWord) -> u64 {
        self.lane(0, w).wrapping_add(self.lane(1, w))
    }

    /// The active lane.
    pub(crate) fn active(&self) -> Lane {
        (self.get(Word::Active) & 1) as Lane
    }

    /// The sealed lane and its generation, if the lane that is not active holds one.
    pub(crate) fn sealed(&self) -> Option<(Lane, u64)> {
        let lane = other(self.active());
        let generation = self.lane(lane, LaneWord::Gen);
        (generation != 0).then_some((lane, generation))
    }

    /// Writes a header word.
    pub(crate) fn set(&self, w: Word, v: u64) {
        self.word(w).store(v, Ordering::Release);
    }

    fn slot(&self, lane: Lane, i: usize) -> Result<(&AtomicU64, &AtomicU64)> {
        let base = TABLE_OFFSET / 8 + 2 * ((lane & 1) * SLOTS + i % SLOTS);
        Ok((self.at(base)?, self.at(base + 1)?))
    }

    /// Calls `visit(slot, log offset)` for each slot of `lane`'s table whose hash is `hash`,
    /// in probe order, up to the first empty slot or the first `Some` that `visit` returns
    /// (which it returns). The caller compares the keys of the records the offsets point at.
    pub(crate) fn probe<T>(
        &self,
        lane: Lane,
        hash: u64,
        mut visit: impl FnMut(usize, u64) -> Option<T>,
    ) -> Result<Option<T>> {
        let start = start_slot(hash);
        for step in 0..SLOTS {
            let i = (start + step) % SLOTS;
            let (h, off) = self.slot(lane, i)?;
            match h.load(Ordering::Acquire) {
                0 => return Ok(None),
                x if x == hash => {
                    if let Some(found) = visit(i, off.load(Ordering::Acquire)) {
                        return Ok(Some(found));
                    }
                }
                _ => {}
            }
        }
        Ok(None)
    }

    /// Every (slot, log offset) whose hash is `hash`, in probe order (tests).
    #[cfg(test)]
    fn candidates(&self, lane: Lane, hash: u64) -> Result<Vec<(usize, u64)>> {
        let mut out = Vec::new();
        self.probe(lane, hash, |i, off| {
            out.push((i, off));
            None::<()>
        })?;
        Ok(out)
    }

    /// Points slot `existing` of `lane`'s table (a slot found for this key by
    /// [`Shm::probe`]) at `offset`, or takes the first empty slot for `hash`. Call only under
    /// the write lock, after the record's bytes are written.
    pub(crate) fn insert(
        &self,
        lane: Lane,
        hash: u64,
        offset: u64,
        existing: Option<usize>,
    ) -> Result<()> {
        if let Some(i) = existing {
            self.slot(lane, i)?.1.store(offset, Ordering::Release);
            return Ok(());
        }
        let start = start_slot(hash);
        for step in 0..SLOTS {
            let (h, off) = self.slot(lane, start + step)?;
            if h.load(Ordering::Acquire) == 0 {
                off.store(offset, Ordering::Release);
                h.store(hash, Ordering::Release);
                return Ok(());
            }
        }
        Err(Error::corrupted("the shared index is full"))
    }

    /// Empties `lane`'s table. Call only when no reader probes it: with the seqlock odd, or
    /// once the lane's generation says it holds nothing.
    pub(crate) fn clear_table(&self, lane: Lane) -> Result<()> {
        for i in 0..SLOTS {
            let (h, off) = self.slot(lane, i)?;
            h.store(0, Ordering::Relaxed);
            off.store(0, Ordering::Relaxed);
        }
        std::sync::atomic::fence(Ordering::Release);
        Ok(())
    }
}

/// Gives every page of the file its disk space now (`platform::io::preallocate`; data already
/// there is kept). The file is written through a shared mapping, and a store to a page that
/// has none faults (SIGBUS) when the file system is full; allocating first makes opening a
/// cache whose `cache.shm` is missing on a full file system fail with ENOSPC instead
/// (tests/process_wide/full_disk.rs,
/// `recreating_a_lost_index_on_a_full_disk_is_an_error_not_a_crash`).
fn allocate(file: &std::fs::File) -> Result<()> {
    crate::platform::io::preallocate(file, SHM_SIZE as u64)?;
    Ok(())
}

static FALLBACK: AtomicU64 = AtomicU64::new(0);
static FALLBACK32: AtomicU32 = AtomicU32::new(0);

/// The atomic u32 at byte `offset` of `bytes`, if it is inside and aligned.
fn atomic_u32(bytes: &[u8], offset: usize) -> Option<&AtomicU32> {
    let word = bytes.get(offset..offset.checked_add(4)?)?;
    let ptr = word.as_ptr();
    if !ptr.cast::<AtomicU32>().is_aligned() {
        return None;
    }
    // SAFETY: as for `atomic_word`: 4 in-bounds, aligned bytes of a shared mapping that
    // outlives the reference, only ever accessed through this 32-bit atomic view.
    #[allow(unsafe_code)]
    Some(unsafe { &*ptr.cast::<AtomicU32>() })
}

/// The atomic u64 at 8-byte index `index` of `bytes`, if it is inside and aligned.
pub(crate) fn atomic_word(bytes: &[u8], index: usize) -> Option<&AtomicU64> {
    let start = index.checked_mul(8)?;
    let word = bytes.get(start..start.checked_add(8)?)?;
    let ptr = word.as_ptr();
    if !ptr.cast::<AtomicU64>().is_aligned() {
        return None;
    }
    // SAFETY: `word` is 8 in-bounds bytes, aligned for AtomicU64 (checked above), inside a
    // shared mapping that outlives the returned reference (it borrows `bytes`). AtomicU64 has
    // the layout of u64, and memory that other processes write concurrently is only ever read
    // or written through such atomics.
    #[allow(unsafe_code)]
    Some(unsafe { &*ptr.cast::<AtomicU64>() })
}

/// Copies `len` bytes at `offset` of a mapping that other processes write, through aligned
/// atomic loads (so the copy is never a data race); `None` if out of bounds.
pub(crate) fn copy_out(bytes: &[u8], offset: usize, len: usize) -> Option<Vec<u8>> {
    let end = offset.checked_add(len)?;
    if end > bytes.len() {
        return None;
    }
    let first = offset / 8;
    let last = end.div_ceil(8);
    let mut out = Vec::with_capacity((last - first) * 8);
    for i in first..last {
        out.extend_from_slice(&atomic_word(bytes, i)?.load(Ordering::Relaxed).to_le_bytes());
    }
    let skip = offset - first * 8;
    out.drain(..skip);
    out.truncate(len);
    Some(out)
}

fn start_slot(hash: u64) -> usize {
    (hash % SLOTS as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_probe_repoint_and_clear_across_two_mappings() {
        let dir = tempfile::tempdir().unwrap();
        let a = Shm::open(dir.path()).unwrap();
        let b = Shm::open(dir.path()).unwrap();
        let h = 12345;
        let colliding = h + SLOTS as u64; // same start slot, different hash
        a.insert(1, h, 64, None).unwrap();
        a.insert(1, colliding, 128, None).unwrap();
        assert_eq!(b.candidates(1, h).unwrap(), vec![(start_slot(h), 64)]);
        assert!(
            b.candidates(0, h).unwrap().is_empty(),
            "the lanes' tables are apart"
        );
        assert_eq!(b.candidates(1, colliding).unwrap().len(), 1);
        let (slot, _) = b.candidates(1, h).unwrap()[0];
        a.insert(1, h, 256, Some(slot)).unwrap();
        assert_eq!(b.candidates(1, h).unwrap(), vec![(slot, 256)]);
        a.set_lane(1, LaneWord::Gen, 9);
        assert_eq!(b.lane(1, LaneWord::Gen), 9);
        assert_eq!(b.lane(0, LaneWord::Gen), 0);
        a.clear_table(1).unwrap();
        assert!(b.candidates(1, h).unwrap().is_empty());
    }

    #[test]
    fn copy_out_handles_unaligned_ranges_and_bounds() {
        let mut data = vec![0u8; 64];
        for (i, b) in data.iter_mut().enumerate() {
            *b = i as u8;
        }
        let buf = MmapMut::map_anon(64).map(|mut m| {
            m.copy_from_slice(&data);
            m
        });
        let buf = buf.unwrap();
        assert_eq!(copy_out(&buf, 3, 10).unwrap(), data[3..13].to_vec());
        assert_eq!(copy_out(&buf, 56, 8).unwrap(), data[56..64].to_vec());
        assert!(copy_out(&buf, 60, 8).is_none());
    }
}
