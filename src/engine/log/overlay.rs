//! The overlay: the log (`cache.wal`), its shared index (`cache.shm`) and the locks
//! (`cache.lock`), as one unit. It knows lanes, records and slots, not redb: `log.rs` applies
//! them to the database.
//!
//! Readers probe the index with no lock and no system call: the active lane's table, then the
//! sealed lane's; writers append to the active lane under the write lock. The protocol
//! (SQLite's WAL and wal-index, over redb, with two lanes as SQLite's `wal2`) is in
//! `format-spec/wal.md`.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use memmap2::MmapMut;

use crate::engine::log::lock::{CheckpointHeld, WriteLock, WriteLockHeld};
use crate::engine::log::shm::{self, Lane, LaneWord, SHM_MAGIC, Shm, Word, other};
use crate::engine::log::wal::{
    self, ACCESS_PAYLOAD_LEN, FLAG_COMMIT, KIND_ACCESS, KIND_DELETE, KIND_SET, LANE_SIZE, Parsed,
    RECORD_HEADER_LEN, Record, WAL_HEADER_LEN, WAL_SIZE, WalFile, lane_start,
};
use crate::error::{Error, Result};
use crate::format::key_hash::key_hash;

/// The largest record a reader will copy: a key at its limit plus an inline value at the
/// largest size the log accepts.
const MAX_RECORD_LEN: usize = LANE_SIZE as usize / 2;

/// Says whether the count and volume deltas (the last two arguments) are what the log's
/// committed records (the first) change in the database: see `log::deltas_match`.
pub(crate) type DeltasMatch<'a> = dyn Fn(&[(Vec<u8>, Logged)], i64, i64) -> bool + 'a;

/// What the log says about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Logged {
    /// The key's latest record stores this encoded row.
    Set(Vec<u8>),
    /// The key's latest record deletes it.
    Deleted,
    /// The key was read `count` times, last at `time` (µs). Never indexed: only a
    /// checkpoint's scan sees it.
    Access {
        /// The latest access time, µs since the epoch.
        time: u64,
        /// How many accesses.
        count: u64,
    },
}

impl Logged {
    /// The record kind and payload this is written as.
    fn kind_and_payload(&self) -> (u8, std::borrow::Cow<'_, [u8]>) {
        match self {
            Logged::Set(row) => (KIND_SET, row.as_slice().into()),
            Logged::Deleted => (KIND_DELETE, (&[][..]).into()),
            Logged::Access { time, count } => {
                let mut payload = Vec::with_capacity(ACCESS_PAYLOAD_LEN);
                payload.extend_from_slice(&time.to_le_bytes());
                payload.extend_from_slice(&count.to_le_bytes());
                (KIND_ACCESS, payload.into())
            }
        }
    }

    /// The payload length of the record this is written as.
    pub(crate) fn payload_len(&self) -> usize {
        match self {
            Logged::Set(row) => row.len(),
            Logged::Deleted => 0,
            Logged::Access { .. } => ACCESS_PAYLOAD_LEN,
        }
    }
}

/// A key and what the log says about it.
type Change = (Vec<u8>, Logged);

/// A record of the log that a checkpoint leaves out, because it or another record of its
/// block is damaged ([`wal::scan_from`]): kept, with its place in the log, in the database's
/// `log_damage` table for `check` to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SkippedRecord {
    pub(crate) generation: u64,
    pub(crate) seq: u64,
    /// The record's bytes, before padding.
    pub(crate) bytes: Vec<u8>,
}

/// What the lanes' headers in `cache.wal` say, read at recovery.
#[derive(Debug, Default)]
pub(crate) struct Headers {
    /// The generation of a log of the format with one log, if the file is one.
    pub(crate) legacy: Option<u64>,
    /// Each lane's generation, if it holds one.
    pub(crate) lanes: [Option<u64>; 2],
}

/// The valid log of one generation, as [`Overlay::scan`] reads it.
#[derive(Debug, Default)]
pub(crate) struct LogScan {
    /// Every record to apply, as (key, what it says), in log order.
    pub(crate) records: Vec<(Vec<u8>, Logged)>,
    /// The records of blocks left out.
    pub(crate) skipped: Vec<SkippedRecord>,
}

/// The mapped log and index of one cache directory, and its write lock.
pub(crate) struct Overlay {
    wal: WalFile,
    wal_map: MmapMut,
    shm: Shm,
    lock: WriteLock,
    pid: u64,
}

impl std::fmt::Debug for Overlay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overlay").finish_non_exhaustive()
    }
}

impl Overlay {
    /// Opens the three files in `dir`, creating them if needed. Does not recover: the caller
    /// checks [`Overlay::needs_recovery`] under the lock.
    pub(crate) fn open(dir: &Path) -> Result<Overlay> {
        let wal = WalFile::open(dir)?;
        // SAFETY: the log is WAL_SIZE bytes and never truncated while any process maps it
        // (it is reset by generation, not by truncation). Other processes write it with
        // pwrite; this mapping is only read, through aligned atomic loads (shm::copy_out).
        #[allow(unsafe_code)]
        let wal_map = unsafe {
            memmap2::MmapOptions::new()
                .len(WAL_SIZE as usize)
                .map_mut(wal.file())?
        };
        Ok(Overlay {
            wal,
            wal_map,
            shm: Shm::open(dir)?,
            lock: WriteLock::open(dir)?,
            pid: u64::from(std::process::id()),
        })
    }

    /// The descriptor of `cache.lock`, which carries the presence lock.
    pub(crate) fn lock_fd(&self) -> crate::platform::process::RawFd {
        self.lock.fd()
    }

    /// Takes the write lock and marks the critical section entered (`dirty` = this pid).
    /// Returns the guard and whether the previous holder died inside it (or the index is not
    /// initialized), in which case the caller must recover before anything else.
    pub(crate) fn lock(&self, deadline: Instant) -> Result<(WriteLockHeld<'_>, bool)> {
        let guard = self.lock_unmarked(deadline)?;
        Ok((guard, self.enter()))
    }

    /// Takes the write lock without marking the critical section entered: the holder writes
    /// nothing until it calls [`Overlay::enter`] (an open that may yet refuse the log).
    pub(crate) fn lock_unmarked(&self, deadline: Instant) -> Result<WriteLockHeld<'_>> {
        self.lock.lock(&self.shm, deadline)
    }

    /// Marks the critical section entered (`dirty` = this pid), under the lock; returns
    /// whether the previous holder died inside it (or the index is not initialized).
    pub(crate) fn enter(&self) -> bool {
        // Every holder that dies inside the critical section leaves `dirty` set, so that and
        // the magic are all a lock needs to check; comparing the log header's generation
        // (a system call) is left to open, in `needs_recovery`.
        let needs = self.shm.get(Word::Magic) != SHM_MAGIC
            || self.shm.get(Word::Dirty) != 0
            || self.seqlock_left_odd();
        self.shm.set(Word::Dirty, self.pid);
        needs
    }

    /// Marks the critical section left cleanly. Not called when an operation fails half-way,
    /// so the next holder recovers.
    pub(crate) fn leave(&self) {
        self.shm.set(Word::Dirty, 0);
    }

    /// Whether the index is uninitialized, out of step with the log, or was left mid-update.
    /// `deltas_match` is given the lanes' committed records (the sealed lane's first) and the
    /// sums of the lanes' count and volume deltas, and says whether the deltas are what the
    /// records change in the database.
    ///
    /// # Errors
    /// [`Error::UnsupportedVersion`] if a lane holds a record of a newer format (nothing is
    /// written).
    pub(crate) fn needs_recovery(&self, deltas_match: &DeltasMatch<'_>) -> Result<bool> {
        if self.shm.get(Word::Magic) != SHM_MAGIC
            || self.shm.get(Word::Dirty) != 0
            || self.seqlock_left_odd()
            || self.wal.read_legacy_gen()?.is_some()
        {
            return Ok(true);
        }
        let active = self.shm.active();
        if self.shm.lane(active, LaneWord::Gen) == 0 {
            return Ok(true);
        }
        let mut records = Vec::new();
        for lane in [other(active), active] {
            let indexed = Some(self.shm.lane(lane, LaneWord::Gen)).filter(|&g| g != 0);
            if self.wal.read_gen(lane)? != indexed {
                return Ok(true);
            }
            if indexed.is_none() {
                continue;
            }
            let Some(lane_records) = self.index_matches_log(lane)? else {
                return Ok(true);
            };
            records.extend(lane_records);
        }
        let count = self.shm.lanes_sum(LaneWord::CountDelta) as i64;
        let volume = self.shm.lanes_sum(LaneWord::VolumeDelta) as i64;
        Ok(!deltas_match(&records, count, volume))
    }

    /// Whether `lane`'s table describes the lane's log: its valid length and record count
    /// are those of the lane's committed records, and each key's latest record is the one its
    /// slot points at. A `cache.shm` whose table is lost (truncated, with the header kept) or
    /// whose valid length or record count is damaged passes every other test; without this
    /// one, reads would miss logged entries until the next checkpoint and appends would go to
    /// the wrong place (over records, or after a gap), where the next checkpoint's scan drops
    /// them (tests/durability/corruption_repair.rs,
    /// `an_index_flipped_truncated_or_deleted_keeps_every_checkpointed_entry`). Read through
    /// atomic copies, so it may run outside the lock (a writer racing it makes it say `false`,
    /// and the caller checks again under the lock); it costs one pass over the lane, at open.
    /// A lane with a damaged record does not match: recovery moves it out of the log.
    /// Returns the lane's committed records if so.
    fn index_matches_log(&self, lane: Lane) -> Result<Option<Vec<Change>>> {
        let generation = self.shm.lane(lane, LaneWord::Gen);
        let base = lane_start(lane) + WAL_HEADER_LEN;
        let valid_len = self.shm.lane(lane, LaneWord::ValidLen);
        let count = self.shm.lane(lane, LaneWord::Records);
        let lane_end = self.wal.data_end(base).min(lane_start(lane) + LANE_SIZE);
        let used = valid_len
            .checked_sub(base)
            .filter(|&n| n <= lane_end.saturating_sub(base))
            .and_then(|n| usize::try_from(n).ok());
        let Some(log) =
            used.and_then(|n| shm::copy_out(&self.wal_map, usize::try_from(base).ok()?, n))
        else {
            return Ok(None);
        };
        let found = wal::scan(&log, generation)?;
        if Some(found.len) != used || found.count != count || !found.skipped.is_empty() {
            return Ok(None);
        }
        let mut latest = std::collections::HashMap::new();
        for (offset, rec) in &found.records {
            if rec.kind != KIND_ACCESS {
                latest.insert(rec.key, base + *offset as u64);
            }
        }
        let indexed = latest.iter().all(|(key, &offset)| {
            let found = self.shm.probe(lane, key_hash(key), |_, at| {
                (self.read_record(at, generation, key).is_some()).then_some(at)
            });
            matches!(found, Ok(Some(at)) if at == offset)
        });
        Ok(indexed.then(|| {
            found
                .records
                .iter()
                .map(|(_, r)| (r.key.to_vec(), logged_of(r)))
                .collect()
        }))
    }

    /// Refuses a log that holds a record of a newer format, before anything is written:
    /// call under the lock ([`Overlay::lock_unmarked`]), then [`Overlay::enter`].
    pub(crate) fn refuse_newer_records(&self) -> Result<()> {
        let headers = self.headers()?;
        if let Some(generation) = headers.legacy {
            self.scan_legacy(generation)?;
        }
        for (lane, generation) in headers.lanes.iter().enumerate() {
            if let Some(generation) = generation {
                self.scan(lane, *generation)?;
            }
        }
        Ok(())
    }

    /// Whether a seqlock was left odd. Only a lock's holder makes one odd, and makes it even
    /// again before it leaves, so when the locks are free an odd one was left by a holder that
    /// died or failed mid-update, or the file is damaged: readers would wait on it for ever (their
    /// `recover` takes the lock), so it calls for recovery, which leaves both even: an index
    /// with an odd `Seq` and no `dirty` mark would otherwise hang every read (the `shm` fuzz
    /// target; tests/durability/corruption_repair.rs flips the `seq` word).
    ///
    /// The checkpoint lock's live holder keeps the counters' seqlock odd through its commit
    /// (which may take milliseconds) without the write lock: that one is not left odd.
    fn seqlock_left_odd(&self) -> bool {
        if self.shm.get(Word::Seq) % 2 == 1 {
            return true;
        }
        if self.shm.get(Word::CounterSeq).is_multiple_of(2) {
            return false;
        }
        let owner = self.shm.get(Word::CheckpointOwner);
        if owner != 0 && self.checkpointer_alive().unwrap_or(false) {
            return false;
        }
        // Read again: a checkpoint that ended between the two looks left it even.
        self.shm.get(Word::CounterSeq) % 2 == 1
    }

    /// The shared header.
    pub(crate) fn shm(&self) -> &Shm {
        &self.shm
    }

    /// What the log file's headers say; writes nothing.
    pub(crate) fn headers(&self) -> Result<Headers> {
        Ok(Headers {
            legacy: self.wal.read_legacy_gen()?,
            lanes: [self.wal.read_gen(0)?, self.wal.read_gen(1)?],
        })
    }

    /// The valid log of generation `generation` in `lane` ([`wal::scan_from`]): every record
    /// to apply, and the records left out with their damaged blocks. Call only while no
    /// process writes the lane (the sealed lane, or any lane under the write lock), so that
    /// reading the mapping directly races with nothing. Whole, crc-valid records past the
    /// recorded valid length are included: a reader may have seen them before their writer
    /// died.
    ///
    /// # Errors
    /// [`Error::UnsupportedVersion`] if a record needs a newer format.
    pub(crate) fn scan(&self, lane: Lane, generation: u64) -> Result<LogScan> {
        let start = lane_start(lane) + WAL_HEADER_LEN;
        self.scan_between(start, lane_start(lane) + LANE_SIZE, generation)
    }

    /// As [`Overlay::scan`], for a log of the format with one log over the whole file.
    pub(crate) fn scan_legacy(&self, generation: u64) -> Result<LogScan> {
        self.scan_between(WAL_HEADER_LEN, WAL_SIZE, generation)
    }

    fn scan_between(&self, start: u64, end: u64, generation: u64) -> Result<LogScan> {
        // Only up to the first hole: reading one can fault on a full disk (`data_end`).
        let end = self.wal.data_end(start).min(end);
        let (start, end) = (
            usize::try_from(start).unwrap_or(usize::MAX),
            usize::try_from(end).unwrap_or(usize::MAX),
        );
        let log = self.wal_map.get(start..end).unwrap_or_default();
        let found = wal::scan(log, generation)?;
        Ok(LogScan {
            records: found
                .records
                .iter()
                .map(|(_, r)| (r.key.to_vec(), logged_of(r)))
                .collect(),
            skipped: found
                .skipped
                .iter()
                .map(|s| SkippedRecord {
                    generation: s.generation,
                    seq: s.seq,
                    bytes: s.bytes.to_vec(),
                })
                .collect(),
        })
    }

    /// Calls `visit` with the key of each committed record of generation `generation` in
    /// `lane` from byte `start` of the lane's records (relative to its header), whose first
    /// record has sequence number `first_seq`, and the encoded row it stores (`None`: it
    /// removes the row); access records are left out, and so are the records of damaged
    /// blocks, which no checkpoint applies. Returns where they end and how many records there
    /// were. Under the write lock only, as [`Overlay::scan`].
    pub(crate) fn visit_since(
        &self,
        lane: Lane,
        generation: u64,
        start: usize,
        first_seq: u64,
        mut visit: impl FnMut(&[u8], Option<&[u8]>),
    ) -> Result<(usize, u64)> {
        let from = usize::try_from(lane_start(lane) + WAL_HEADER_LEN).unwrap_or(usize::MAX);
        let to = usize::try_from(lane_start(lane) + LANE_SIZE).unwrap_or(usize::MAX);
        let log = self.wal_map.get(from..to).unwrap_or_default();
        let found = wal::scan_from(log, generation, start, first_seq)?;
        for (_, r) in &found.records {
            if r.kind != KIND_ACCESS {
                visit(r.key, (r.kind == KIND_SET).then_some(r.payload));
            }
        }
        Ok((found.len, found.count))
    }

    /// The sealed lane: the one writers do not append to, if it holds a generation.
    pub(crate) fn sealed(&self) -> Option<(Lane, u64)> {
        self.shm.sealed()
    }

    /// Seals the active lane and makes the other, empty one active with the next
    /// generation (under the write lock, with no sealed lane): its table is cleared (no
    /// reader probes a lane with no generation), its header written, then, with the seqlock
    /// odd, its words and the active lane.
    pub(crate) fn switch_lanes(&self) -> Result<()> {
        let active = self.shm.active();
        let next = other(active);
        let generation = self.shm.lane(active, LaneWord::Gen).wrapping_add(1);
        self.shm.clear_table(next)?;
        self.wal.write_gen(next, Some(generation))?;
        crate::crash_point("after-lane-header");
        crate::engine::log::pace::note_sealed(&self.shm);
        self.with_seqlock_odd(|| {
            self.set_lane_empty(next, generation);
            self.shm.set(Word::Active, next as u64);
        });
        crate::testing::recorder::lane_sealed(self.wal.file(), generation.wrapping_sub(1));
        Ok(())
    }

    /// Tells the recorder (`testing` builds) that a commit to the database returned: of the
    /// sealed lane of `generation`, or (`u64::MAX`) of a change outside the lanes.
    pub(crate) fn note_committed(&self, generation: u64) {
        crate::testing::recorder::committed(self.wal.file(), generation);
    }

    /// After a checkpoint committed the sealed `lane`'s records of generation `generation`
    /// to the database (by the checkpoint lock's holder, with the counters' seqlock odd):
    /// bumps the epoch (a read that misses in the lanes now reads a snapshot holding the
    /// commit), zeroes the lane's deltas and notes the generation as applied. The lane stays
    /// readable, as it was, until a holder of the write lock retires it
    /// ([`Overlay::retire_applied`]), so that no operation sees it go mid-way.
    pub(crate) fn publish_applied(&self, lane: Lane, generation: u64) {
        let bump_epoch = || self.shm.word(Word::Epoch).fetch_add(1, Ordering::AcqRel);
        let zero_deltas = || {
            self.shm.set_lane(lane, LaneWord::CountDelta, 0);
            self.shm.set_lane(lane, LaneWord::VolumeDelta, 0);
        };
        if crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::DeltasBeforeEpoch) {
            // Negative control (`sabotage`): the deltas go while the epoch still says the
            // commit is not in the snapshots.
            zero_deltas();
            crate::testing::midpoint::reached("publish-applied");
            bump_epoch();
        } else {
            // The epoch first: a writer reading the counters from a snapshot older than the
            // commit adds the deltas only if the epoch has not moved after it read them
            // (`deltas_before_commit` in engine/log.rs).
            bump_epoch();
            crate::testing::midpoint::reached("publish-applied");
            zero_deltas();
        }
        self.shm.set(Word::Applied, generation);
    }

    /// Under the write lock: if the sealed lane's generation is in the database
    /// ([`Overlay::publish_applied`]), retires the lane: its header says it holds no
    /// generation, then, with the seqlock odd, so do its words. Returns whether there is no
    /// sealed lane now.
    pub(crate) fn retire_applied(&self) -> Result<bool> {
        let Some((lane, generation)) = self.sealed() else {
            return Ok(true);
        };
        // Negative control (`sabotage`): retired before its checkpoint committed it.
        let early =
            crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::LaneRetiredEarly);
        if self.shm.get(Word::Applied) != generation && !early {
            return Ok(false);
        }
        self.wal.write_gen(lane, None)?;
        crate::crash_point("after-lane-retired");
        self.with_seqlock_odd(|| self.set_lane_empty(lane, 0));
        Ok(true)
    }

    /// Bumps the epoch after a commit to the database outside the lanes (under the write
    /// lock, with both lanes empty), so that every process reads a new snapshot.
    pub(crate) fn bump_epoch(&self) {
        self.with_seqlock_odd(|| {
            self.shm.word(Word::Epoch).fetch_add(1, Ordering::AcqRel);
        });
    }

    /// Runs `f` (under the write lock) with the seqlock odd, so that no reader sees the
    /// lanes' words half-changed.
    fn with_seqlock_odd(&self, f: impl FnOnce()) {
        let odd = self.begin_clear();
        f();
        self.shm.set(Word::Seq, odd.wrapping_add(1));
    }

    /// Raises the row id counter to at least `floor` (the database's after a commit that
    /// handed out row ids itself).
    pub(crate) fn raise_next_row_id(&self, floor: u64) {
        self.shm
            .word(Word::NextRowId)
            .fetch_max(floor, Ordering::AcqRel);
    }

    /// Takes the checkpoint lock if it is free (or its holder died); never waits.
    pub(crate) fn try_checkpoint_lock(&self) -> Result<Option<CheckpointHeld<'_>>> {
        self.lock.try_checkpoint_lock(&self.shm)
    }

    /// Takes the checkpoint lock, waiting until `deadline` at most.
    pub(crate) fn checkpoint_lock(&self, deadline: Instant) -> Result<CheckpointHeld<'_>> {
        self.lock.checkpoint_lock(&self.shm, deadline)
    }

    /// Whether the checkpoint lock is free or held by a live instance.
    pub(crate) fn checkpointer_alive(&self) -> Result<bool> {
        self.lock.checkpointer_alive(&self.shm)
    }

    /// Whether another process has the cache open on the logged path.
    pub(crate) fn others_present(&self) -> Result<bool> {
        self.lock.others_present()
    }

    fn set_lane_empty(&self, lane: Lane, generation: u64) {
        for w in [
            LaneWord::Records,
            LaneWord::CountDelta,
            LaneWord::VolumeDelta,
            LaneWord::AccessRecords,
        ] {
            self.shm.set_lane(lane, w, 0);
        }
        self.shm
            .set_lane(lane, LaneWord::ValidLen, lane_start(lane) + WAL_HEADER_LEN);
        self.shm.set_lane(lane, LaneWord::Gen, generation);
    }

    /// Makes the counters' seqlock odd before a database commit that changes the counters
    /// (under the lock); returns the odd value for [`Overlay::counters_end`].
    pub(crate) fn counters_begin(&self) -> u64 {
        let odd = self.shm.get(Word::CounterSeq) | 1;
        self.shm.set(Word::CounterSeq, odd);
        odd
    }

    /// Makes the counters' seqlock even again, once the deltas are folded in.
    pub(crate) fn counters_end(&self, odd: u64) {
        self.shm.set(Word::CounterSeq, odd.wrapping_add(1));
    }

    /// Reads a value that depends on the counters with no lock: `read` (given the epoch)
    /// runs until the counters' seqlock is even and unchanged around it.
    pub(crate) fn read_counters<T>(
        &self,
        recover: &dyn Fn() -> Result<()>,
        read: impl FnMut(u64) -> Result<T>,
    ) -> Result<T> {
        self.read_consistent(Word::CounterSeq, recover, read)
    }

    /// Runs `read` (given the epoch) until the seqlock `seq` is even before it and unchanged
    /// after it. If the seqlock stays odd for 5 ms, the process holding it odd may have died:
    /// `recover` is called (it takes the lock and recovers if the holder did die).
    fn read_consistent<T>(
        &self,
        seq: Word,
        recover: &dyn Fn() -> Result<()>,
        mut read: impl FnMut(u64) -> Result<T>,
    ) -> Result<T> {
        let mut waiting_since = None;
        loop {
            let before = self.shm.get(seq);
            if before % 2 == 1 {
                let since = *waiting_since.get_or_insert_with(Instant::now);
                if since.elapsed() < Duration::from_millis(5) {
                    std::thread::yield_now();
                } else {
                    recover()?;
                    waiting_since = None;
                }
                continue;
            }
            let value = read(self.shm.get(Word::Epoch))?;
            // The reads above must not pass the second look at the seqlock.
            std::sync::atomic::fence(Ordering::Acquire);
            if self.shm.get(seq) == before {
                return Ok(value);
            }
        }
    }

    /// Makes the seqlock odd (whatever a dead holder left it as); returns the odd value.
    pub(crate) fn begin_clear(&self) -> u64 {
        let odd = self.shm.get(Word::Seq) | 1;
        self.shm.set(Word::Seq, odd);
        odd
    }

    /// Makes the log and the index describe one empty generation `generation` in lane 0 and
    /// nothing in lane 1 (recovery, with the seqlock odd from [`Overlay::begin_clear`] and
    /// everything the lanes held in the database), then the seqlock even again.
    pub(crate) fn reset(&self, odd_seq: u64, generation: u64, next_row_id: u64) -> Result<()> {
        self.wal.write_gen(1, None)?;
        self.wal.write_gen(0, Some(generation))?;
        for lane in [0, 1] {
            self.shm.clear_table(lane)?;
        }
        self.set_lane_empty(1, 0);
        self.set_lane_empty(0, generation);
        self.shm.set(Word::Active, 0);
        self.shm.set(Word::Applied, 0);
        self.shm.word(Word::Epoch).fetch_add(1, Ordering::AcqRel);
        self.shm.set(Word::NextRowId, next_row_id);
        self.shm.set(Word::Magic, SHM_MAGIC);
        self.shm.set(Word::Seq, odd_seq.wrapping_add(1));
        Ok(())
    }

    /// Whether a block of `len` bytes fits after the active lane's end.
    pub(crate) fn fits(&self, len: usize) -> bool {
        let active = self.shm.active();
        self.shm.lane(active, LaneWord::ValidLen) + len as u64 <= lane_start(active) + LANE_SIZE
    }

    /// Records in the active lane's generation.
    pub(crate) fn records(&self) -> u64 {
        self.shm.lane(self.shm.active(), LaneWord::Records)
    }

    /// Records in both lanes: what a checkpoint of everything would apply.
    pub(crate) fn records_in_lanes(&self) -> u64 {
        self.shm.lanes_sum(LaneWord::Records)
    }

    /// Appends one atomic block of changes to the active lane (under the lock): encodes them
    /// as records of its generation, the last one marked as committing the block, writes them
    /// with one `pwrite` (and `fdatasync` when `sync`), and only then indexes them and moves
    /// the valid length. `changes` must fit ([`Overlay::fits`]).
    pub(crate) fn append(&self, changes: &[(Vec<u8>, Logged)], sync: bool) -> Result<()> {
        let lane = self.shm.active();
        let generation = self.shm.lane(lane, LaneWord::Gen);
        let first_seq = self.shm.lane(lane, LaneWord::Records);
        let start = self.shm.lane(lane, LaneWord::ValidLen);
        let len = changes
            .iter()
            .map(|(k, r)| wal::padded_len(k.len(), r.payload_len()))
            .sum();
        let mut block = Vec::with_capacity(len);
        let mut offsets = Vec::with_capacity(changes.len());
        for (i, (key, logged)) in changes.iter().enumerate() {
            offsets.push(start + block.len() as u64);
            let (kind, payload) = logged.kind_and_payload();
            let rec = Record {
                generation,
                seq: first_seq + i as u64,
                kind,
                flags: if i + 1 == changes.len() {
                    FLAG_COMMIT
                } else {
                    0
                },
                key,
                payload: &payload,
            };
            wal::encode_record(&mut block, &rec)?;
        }
        if start + block.len() as u64 > lane_start(lane) + LANE_SIZE || block.len() > MAX_RECORD_LEN
        {
            return Err(Error::InvalidArgument(
                "a change is too large for the log".into(),
            ));
        }
        self.wal.write_at(start, &block)?;
        if sync {
            // The records are written: recovery will replay them whatever the sync said.
            self.wal.sync().map_err(Error::at_commit)?;
        }
        crate::crash_point("after-record-write");
        // A block of several keys (a transaction) is published as one: readers retry while
        // the table's seqlock is odd or has moved, so none sees some of its keys new and the
        // others old. One slot store needs no bracket. A holder that dies here leaves the
        // seqlock odd and `dirty` set: readers then wait, and recover, as for a clear.
        // Access records are not indexed.
        let indexed = changes
            .iter()
            .filter(|(_, logged)| !matches!(logged, Logged::Access { .. }))
            .count();
        let accesses = changes.len() - indexed;
        if accesses > 0 {
            self.shm
                .lane_word(lane, LaneWord::AccessRecords)
                .fetch_add(accesses as u64, Ordering::AcqRel);
        }
        let bracket = (indexed > 1).then(|| {
            let odd = self.shm.get(Word::Seq) | 1;
            self.shm.set(Word::Seq, odd);
            std::sync::atomic::fence(Ordering::Release);
            odd
        });
        for ((key, logged), offset) in changes.iter().zip(offsets) {
            if matches!(logged, Logged::Access { .. }) {
                continue;
            }
            let hash = key_hash(key);
            let existing = self.find_slot(lane, generation, key, hash)?;
            self.shm.insert(lane, hash, offset, existing)?;
        }
        if let Some(odd) = bracket {
            self.shm.set(Word::Seq, odd.wrapping_add(1));
        }
        crate::crash_point("after-table-insert");
        self.shm
            .set_lane(lane, LaneWord::Records, first_seq + changes.len() as u64);
        self.shm
            .set_lane(lane, LaneWord::ValidLen, start + block.len() as u64);
        Ok(())
    }

    /// The slot of `lane`'s table indexing `key` now, if any (under the lock: no seqlock
    /// needed), whatever the record it points at says.
    fn find_slot(
        &self,
        lane: Lane,
        generation: u64,
        key: &[u8],
        hash: u64,
    ) -> Result<Option<usize>> {
        self.shm.probe(lane, hash, |slot, offset| {
            self.read_record(offset, generation, key).map(|_| slot)
        })
    }

    /// What the log says about `key`, read with no lock: the active lane's latest record of
    /// it, else the sealed lane's; `None` if neither mentions it (the database has the
    /// answer). Also returns the epoch the answer belongs to, which tags the database
    /// snapshot to use on `None`. `recover` is called if the table's seqlock stays odd (see
    /// `read_consistent`).
    pub(crate) fn lookup(
        &self,
        key: &[u8],
        recover: &dyn Fn() -> Result<()>,
    ) -> Result<(Option<Logged>, u64)> {
        let hash = key_hash(key);
        self.read_consistent(Word::Seq, recover, |epoch| {
            let active = self.shm.active();
            for lane in [active, other(active)] {
                let generation = self.shm.lane(lane, LaneWord::Gen);
                if generation == 0 {
                    continue;
                }
                let found = self.shm.probe(lane, hash, |_, offset| {
                    self.read_record(offset, generation, key)
                })?;
                if let Some(found) = found {
                    return Ok((Some(found?), epoch));
                }
            }
            Ok((None, epoch))
        })
    }

    /// Reads and checks the record at `offset` (from the start of the log file): `None` if
    /// it is not a whole, crc-valid record of generation `generation` for `key` (or is an
    /// access record, which is never indexed); else what it says, or why it cannot be read
    /// (a newer format's record, or a damaged one, which no checkpoint applies: the key's
    /// value is unknown until then).
    fn read_record(&self, offset: u64, generation: u64, key: &[u8]) -> Option<Result<Logged>> {
        let offset = usize::try_from(offset).ok()?;
        // Records start 8-aligned: their first word holds the length in its low 4 bytes.
        let first = shm::atomic_word(&self.wal_map, offset / 8)?.load(Ordering::Relaxed);
        let len = (first & 0xffff_ffff) as usize;
        if offset % 8 != 0 || !(RECORD_HEADER_LEN..=MAX_RECORD_LEN).contains(&len) {
            return None;
        }
        let bytes = shm::copy_out(&self.wal_map, offset, len)?;
        let framed = wal::frame(&bytes)?;
        if framed.generation() != generation {
            return None;
        }
        match framed.parse_header() {
            Parsed::Record(rec) if rec.key == key => {
                (rec.kind != KIND_ACCESS).then(|| Ok(logged_of(&rec)))
            }
            Parsed::Record(_) => None,
            // The slot's hash is the key's: a newer record's key may lie elsewhere.
            Parsed::Newer(version) => Some(Err(Error::UnsupportedVersion {
                found: u64::from(version),
                supported: crate::format::schema::FORMAT_VERSION,
            })),
            Parsed::Damaged(why) => {
                let key_at = RECORD_HEADER_LEN..RECORD_HEADER_LEN + key.len();
                (framed.bytes.get(key_at) == Some(key)).then(|| {
                    Err(Error::corrupted(format!(
                        "cache.wal: the latest record of this key (number {} of generation \
                         {generation}) is damaged: {why}",
                        framed.seq()
                    )))
                })
            }
        }
    }
}

fn logged_of(rec: &Record<'_>) -> Logged {
    let word = |at: usize| {
        rec.payload
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    };
    match rec.kind {
        KIND_SET => Logged::Set(rec.payload.to_vec()),
        KIND_ACCESS => Logged::Access {
            time: word(0),
            count: word(8),
        },
        _ => Logged::Deleted,
    }
}
