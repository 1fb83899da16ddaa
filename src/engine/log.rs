//! The logged write path (Linux's default): point operations append to the active lane of the
//! shared log, reads probe its index before a cached snapshot, and checkpoints apply the
//! sealed lane to redb off the writers' path.
//!
//! The rules that keep it correct:
//! - A lane's records are committed to redb (by the holder of the checkpoint lock, who never
//!   waits for the write lock) *before* the epoch is bumped, and the lane leaves the index
//!   only after that, under the write lock. A reader never sees a key leave the index before
//!   redb holds it, and a snapshot tagged with an epoch holds every commit up to it.
//! - Anything else that writes redb (a whole-cache operation, a recovery) does so under the
//!   write lock with both lanes applied, then bumps the epoch.
//! - An operation under the write lock sees both lanes as they were when it began: only a
//!   holder of the write lock seals or retires a lane.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::engine::access::Access;
use crate::engine::log::lock::CheckpointHeld;
use crate::engine::log::overlay::{Logged, Overlay};
use crate::engine::log::shm::{LEGACY_SHM_MAGIC, Lane, LaneWord, Word};
use crate::engine::log::wal::{LANE_SIZE, WAL_HEADER_LEN, lane_start, padded_len};
use crate::engine::snapshot::{Snapshot, SnapshotCache};
use crate::engine::write::{OpEnv, RowWriter, WriteCtx, run_redb_txn};
use crate::error::{Error, Result};
use crate::format::blob;
use crate::format::order::{Candidate, Order};
use crate::format::row::Row;
use crate::format::schema::{META_COUNT, META_NEXT_ROW_ID};

mod apply;
mod ctx;
pub(crate) mod lock;
pub(crate) mod overlay;
mod pace;
pub(crate) mod shm;
pub(crate) mod wal;

pub(crate) use ctx::LogCtx;

/// The most records a lane's generation may hold: its table has four slots per record.
pub(crate) const MAX_CHECKPOINT_RECORDS: u64 = (crate::engine::log::shm::SLOTS / 4) as u64;

/// How often a writer that found both lanes full looks again whether the sealed one has
/// been applied.
const SEALED_POLL: Duration = Duration::from_micros(50);

/// The logged path's state in this process (the overlay, the cached snapshot, the indexes
/// of the lanes' keys and expiries), shared by the engine and the janitor.
pub(crate) struct LogState {
    overlay: Overlay,
    snapshots: SnapshotCache,
    /// Per order table, how far this process's culls have examined it in an epoch.
    cursors: std::sync::Mutex<Cursors>,
    /// Per lane, the keys whose latest record in the lane's generation stores a row, as far
    /// as this process has read the lane: range reads on the log path (queue ends) read only
    /// what was logged since.
    log_keys: std::sync::Mutex<[LogKeys; 2]>,
    /// Per lane, its rows with expire times, as far as this process has read the lane.
    log_expiries: std::sync::Mutex<[LogExpiries; 2]>,
    /// How long the active lane has held records, as this process saw it (the janitor's
    /// bound on a record's wait for its checkpoint, `engine::durable`).
    age: crate::engine::durable::LogAge,
}

/// What both lanes add to counter `name` (`count` or `volume`).
fn lanes_delta(shm: &shm::Shm, name: &str) -> i64 {
    let word = if name == META_COUNT {
        LaneWord::CountDelta
    } else {
        LaneWord::VolumeDelta
    };
    shm.lanes_sum(word) as i64
}

/// For a reader of counter `name` from a snapshot of epoch `epoch` opened when the counters'
/// seqlock was `opened_at_seq` (even; `None`: opened while a commit was under way): the
/// lanes' deltas to add to that snapshot's counter, while a checkpoint's commit (this
/// commit's seqlock, `opened_at_seq + 1`) is under way. A checkpoint folds the deltas into the
/// database only after it bumps the epoch ([`Overlay::publish_applied`]), so deltas read
/// between two looks at an unmoved epoch belong with the snapshot. `None` if that cannot be
/// told (no commit under way, another one, or the epoch moved).
pub(super) fn deltas_before_commit(
    shm: &shm::Shm,
    name: &str,
    epoch: u64,
    opened_at_seq: Option<u64>,
) -> Option<i64> {
    let odd = opened_at_seq?.wrapping_add(1);
    if shm.get(Word::CounterSeq) != odd || shm.get(Word::Epoch) != epoch {
        return None;
    }
    let delta = lanes_delta(shm, name);
    // The deltas must be read before the second look at the epoch.
    std::sync::atomic::fence(Ordering::Acquire);
    if shm.get(Word::Epoch) != epoch || shm.get(Word::CounterSeq) != odd {
        return None;
    }
    Some(delta)
}

/// Counter `name` (`count` or `volume`) as the database holds it in `snap`.
fn stored_counter(snap: &Snapshot, name: &str) -> Result<u64> {
    if name == META_COUNT {
        snap.meta(name)
    } else {
        snap.volume()
    }
}

/// The keys one generation of a lane stores rows under, up to a point of the lane.
#[derive(Default)]
pub(crate) struct LogKeys {
    generation: u64,
    /// Bytes of the lane (after its header) read, and the records among them.
    end: usize,
    records: u64,
    keys: BTreeSet<Vec<u8>>,
}

/// The rows with an expire time that one generation of a lane stores, up to a point of the
/// lane: where a write finds expired entries that the snapshot's expire order does not hold
/// yet.
#[derive(Default)]
pub(crate) struct LogExpiries {
    generation: u64,
    /// Bytes of the lane (after its header) read, and the records among them.
    end: usize,
    records: u64,
    /// The keys whose latest record stores a row with an expire time, by the row's position
    /// in the expire order ((expire time, row id)).
    expiring: BTreeSet<((u64, u64), Vec<u8>)>,
    /// The position in `expiring` of each key there.
    expiry_of: HashMap<Vec<u8>, (u64, u64)>,
}

impl LogKeys {
    /// The index of generation `generation`: this one, or a fresh one if it is of another.
    fn at(&mut self, generation: u64) -> &mut LogKeys {
        if self.generation != generation {
            *self = LogKeys {
                generation,
                ..LogKeys::default()
            };
        }
        self
    }
}

impl LogExpiries {
    /// Takes in a record of the lane: `key`'s row is now `row` (encoded; `None`: removed).
    fn apply(&mut self, key: &[u8], row: Option<&[u8]>) {
        // A plain write (no expire time, nothing indexed) costs only this test.
        let expiry = row.and_then(crate::format::row::Row::expiry_of_encoded);
        if expiry.is_none() && self.expiry_of.is_empty() {
            return;
        }
        if let Some(old) = self.expiry_of.remove(key) {
            self.expiring.remove(&(old, key.to_vec()));
        }
        if let Some(position) = expiry {
            self.expiry_of.insert(key.to_vec(), position);
            self.expiring.insert((position, key.to_vec()));
        }
    }

    /// The index of generation `generation`: this one, or a fresh one if it is of another.
    fn at(&mut self, generation: u64) -> &mut LogExpiries {
        if self.generation != generation {
            *self = LogExpiries {
                generation,
                ..LogExpiries::default()
            };
        }
        self
    }
}

/// Per order table: the epoch and the last position culling examined in it. Within an epoch
/// the snapshot does not change, so a cull goes on where the last one stopped instead of
/// examining again the entries the log has already removed.
type Cursors = HashMap<Order, (u64, (u64, u64))>;

/// The logged engine of one open cache.
pub(crate) struct LoggedEngine {
    shared: Arc<LogState>,
}

impl std::fmt::Debug for LoggedEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggedEngine").finish_non_exhaustive()
    }
}

impl LoggedEngine {
    /// Opens the overlay in `dir` and recovers it if its last writer died mid-way (or it is
    /// new, or of the format with one log). The store then hands its upkeep to the process's
    /// janitor (`cache::start_janitor`).
    ///
    /// # Errors
    /// As recovery; [`Error::Io`] (`WouldBlock`) if the cache's index is of the format with one
    /// log while another process has it open (a build of that format: close it first).
    pub(crate) fn open(dir: &std::path::Path, env: &OpEnv<'_>) -> Result<LoggedEngine> {
        let shared = Arc::new(LogState {
            overlay: Overlay::open(dir)?,
            snapshots: SnapshotCache::default(),
            cursors: std::sync::Mutex::default(),
            log_keys: std::sync::Mutex::default(),
            log_expiries: std::sync::Mutex::default(),
            age: crate::engine::durable::LogAge::default(),
        });
        let engine = LoggedEngine { shared };
        let overlay = engine.overlay();
        let deltas_match = |records: &[(Vec<u8>, Logged)], count: i64, volume: i64| {
            deltas_match(env, records, count, volume)
        };
        if overlay.needs_recovery(&deltas_match)? {
            // Under the lock, check again: a live holder may just have been inside its
            // critical section. A log this build cannot read is refused before anything is
            // written (not even the `dirty` mark), so that a newer build finds it as it was.
            let guard = overlay.lock_unmarked(env.deadline())?;
            if overlay.shm().get(Word::Magic) == LEGACY_SHM_MAGIC && overlay.others_present()? {
                return Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    "cache.shm is of the format with one log and another process has the \
                     cache open (a build of that format): close it, then open again",
                )));
            }
            overlay.refuse_newer_records()?;
            overlay.enter();
            if overlay.needs_recovery(&deltas_match)? {
                engine.recover(env)?;
            }
            overlay.leave();
            drop(guard);
        }
        Ok(engine)
    }

    /// The descriptor of `cache.lock`, which carries this process's presence lock.
    pub(crate) fn lock_fd(&self) -> crate::platform::process::RawFd {
        self.overlay().lock_fd()
    }

    /// The lanes that hold a generation: the sealed one first, then the active one.
    fn live_lanes(&self) -> impl Iterator<Item = (Lane, u64)> + use<'_> {
        let shm = self.overlay().shm();
        let active = shm.active();
        [shm::other(active), active]
            .into_iter()
            .map(|lane| (lane, shm.lane(lane, LaneWord::Gen)))
            .filter(|&(_, generation)| generation != 0)
    }

    /// Calls `f` with the keys whose latest record in a live lane stores a row, one set per
    /// lane (under the write lock; a key in the sealed lane's set may have been removed
    /// since, in the active lane: callers read each key's row anyway), reading only the
    /// records logged since the last call.
    ///
    /// # Errors
    /// [`crate::Error::UnsupportedVersion`] if the log holds a record of a newer format.
    pub(crate) fn with_log_keys<T>(&self, f: impl FnOnce(&[&BTreeSet<Vec<u8>>]) -> T) -> Result<T> {
        let mut indexes = self
            .shared
            .log_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let live: Vec<(Lane, u64)> = self.live_lanes().collect();
        for &(lane, generation) in &live {
            let index = shm::of_lane_mut(&mut indexes, lane).at(generation);
            let (start, first_seq) = (index.end, index.records);
            let keys = &mut index.keys;
            let (end, count) =
                self.overlay()
                    .visit_since(lane, generation, start, first_seq, |key, row| {
                        if row.is_some() {
                            if !keys.contains(key) {
                                keys.insert(key.to_vec());
                            }
                        } else {
                            keys.remove(key);
                        }
                    })?;
            index.end = end;
            index.records += count;
        }
        let sets: Vec<&BTreeSet<Vec<u8>>> = live
            .iter()
            .map(|&(lane, _)| &shm::of_lane(&indexes, lane).keys)
            .collect();
        Ok(f(&sets))
    }

    /// Up to `limit` keys whose latest record in a live lane stores a row that expires at or
    /// before `max`, soonest first, with their positions in the expire order, skipping those
    /// `current` says are not (or no longer) at that position (under the write lock; only the
    /// records logged since the last call are read).
    ///
    /// # Errors
    /// As [`LoggedEngine::with_log_keys`]; what `current` returns.
    pub(crate) fn log_expired(
        &self,
        max: u64,
        limit: usize,
        current: impl Fn(&[u8], (u64, u64)) -> Result<bool>,
    ) -> Result<Vec<Candidate>> {
        let mut guard = self.log_expiries();
        let shm = self.overlay().shm();
        let mut out: Vec<Candidate> = Vec::new();
        for (lane, generation) in self.live_lanes() {
            let index = shm::of_lane_mut(&mut guard, lane).at(generation);
            let (start, first_seq) = (index.end, index.records);
            // Usually this process logged the last block itself and took it in already.
            let base = lane_start(lane) + WAL_HEADER_LEN;
            let read_all = start as u64 + base == shm.lane(lane, LaneWord::ValidLen)
                && first_seq == shm.lane(lane, LaneWord::Records);
            if !read_all {
                let (end, count) = self.overlay().visit_since(
                    lane,
                    generation,
                    start,
                    first_seq,
                    |key, row| index.apply(key, row),
                )?;
                index.end = end;
                index.records += count;
            }
            if index
                .expiring
                .first()
                .is_none_or(|(first, _)| first.0 > max)
            {
                continue;
            }
            let mut found = 0;
            for (position, key) in &index.expiring {
                if position.0 > max || found >= limit {
                    break;
                }
                if current(key, *position)? {
                    found += 1;
                    out.push(Candidate {
                        position: *position,
                        key: key.clone(),
                    });
                }
            }
        }
        if out.len() > 1 {
            out.sort_by(|a, b| (a.position, &a.key).cmp(&(b.position, &b.key)));
            out.dedup();
            out.truncate(limit);
        }
        Ok(out)
    }

    /// This process's indexes of the expire times in the lanes.
    fn log_expiries(&self) -> std::sync::MutexGuard<'_, [LogExpiries; 2]> {
        self.shared
            .log_expiries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// After this process appended `block` where the active lane ended at `before` (lane,
    /// generation, valid length, records): if its index of the lane's expire times had read
    /// exactly up to there, takes the block in from memory, so that the next write need not
    /// parse it back.
    fn took_in_own_block(&self, before: (Lane, u64, u64, u64), block: &[(Vec<u8>, Logged)]) {
        let (lane, generation, valid_len, records) = before;
        let mut guard = self.log_expiries();
        let index = shm::of_lane_mut(&mut guard, lane).at(generation);
        let base = lane_start(lane) + WAL_HEADER_LEN;
        if index.end as u64 + base != valid_len || index.records != records {
            return;
        }
        for (key, logged) in block {
            match logged {
                Logged::Set(row) => index.apply(key, Some(row)),
                Logged::Deleted => index.apply(key, None),
                Logged::Access { .. } => {}
            }
        }
        let shm = self.overlay().shm();
        index.end =
            usize::try_from(shm.lane(lane, LaneWord::ValidLen) - base).unwrap_or(usize::MAX);
        index.records = shm.lane(lane, LaneWord::Records);
    }

    pub(super) fn overlay(&self) -> &Overlay {
        &self.shared.overlay
    }

    /// The janitor's round: applies a sealed lane to the database if no other process is
    /// doing so (the checkpoint off the writers' path), and retires it if the write lock is
    /// free; drops a cached snapshot the epoch or a pause has left behind (an idle process
    /// must not pin old pages) and logs the noted reads if the lock is free. While a snapshot
    /// stays cached, it also tries the lock without waiting if the critical section is
    /// marked: getting it means the marker's process died (or failed) inside it, so recover
    /// at once rather than at the next write; a process that only reads would otherwise keep
    /// serving a snapshot older than a whole-cache change the dead holder committed. Returns
    /// whether work is left for a later round; the error of a checkpoint or recovery that
    /// failed other than for want of a lock (the caller replaces a database handle an I/O
    /// error left failing).
    pub(crate) fn janitor_tick(&self, env: &OpEnv<'_>) -> Result<bool> {
        let shm = self.overlay().shm();
        let now = OpEnv {
            deadline_override: Some(Instant::now()),
            ..*env
        };
        // At the Normal level the active lane is sealed once its records have waited a second
        // (if the write lock is free and no lane is sealed: else the next round looks again),
        // so that they reach the database, synced, by the checkpoint below.
        let active = shm.active();
        let (generation, records) = (
            shm.lane(active, LaneWord::Gen),
            shm.lane(active, LaneWord::Records),
        );
        let aging = self
            .shared
            .age
            .checkpoint_if_old(env, generation, records, || {
                self.locked(&now, |_| {
                    if self.overlay().records() == 0 {
                        return Ok(());
                    }
                    // The other lane still sealed: the next round looks again.
                    if !self.overlay().retire_applied()? {
                        return Err(Error::Timeout);
                    }
                    self.seal()
                })
            })?;
        let mut sealed_left = false;
        if let Some((_, generation)) = self.overlay().sealed() {
            if shm.get(Word::Applied) != generation
                && let Some(held) = self.overlay().try_checkpoint_lock()?
            {
                self.apply_sealed(env, &held, Vec::new())?;
            }
            // Retire it now if the lock is free; else the next writer does.
            match self.locked(&now, |_| self.overlay().retire_applied()) {
                Ok(true) => {}
                Ok(false) | Err(Error::Timeout) => sealed_left = true,
                Err(e) => return Err(e),
            }
        }
        let cached = self.shared.snapshots.tidy(shm.get(Word::Epoch));
        if cached && shm.get(Word::Dirty) != 0 {
            match self.locked(&now, |_| Ok(())) {
                Err(Error::Timeout) | Ok(()) => {}
                Err(e) => return Err(e),
            }
        }
        if !env.accesses.is_empty() {
            // Logs the noted reads if the lock is free now; else they wait for the next round.
            let _ = self.write_unpaced(&now, env.settings.checkpoint_records, |_| Ok(()));
        }
        Ok(cached || sealed_left || !env.accesses.is_empty() || aging)
    }

    /// Runs `f` under the write lock, after recovering if the last holder died inside it.
    /// The critical section is marked clean again only if `f` succeeds: after an error the
    /// next holder recovers, which is always safe.
    fn locked<T>(&self, env: &OpEnv<'_>, f: impl FnOnce(&OpEnv<'_>) -> Result<T>) -> Result<T> {
        let (guard, needs_recovery) = self.overlay().lock(env.deadline())?;
        if needs_recovery {
            self.recover(env)?;
        }
        let value = f(env)?;
        self.overlay().leave();
        drop(guard);
        Ok(value)
    }

    /// Runs one operation: `f` reads and changes rows through a [`LogCtx`]; its changes are
    /// appended to the active lane as one atomic block. A lane that reaches
    /// `checkpoint_records` records is sealed and handed to the janitor's checkpoint; the
    /// writer waits only if the other lane is still sealed then.
    ///
    /// An error from `f` changes nothing. An error while logging leaves the critical section
    /// marked, so the next holder recovers.
    pub(crate) fn write<T>(
        &self,
        env: &OpEnv<'_>,
        checkpoint_records: u64,
        f: impl FnOnce(&mut dyn RowWriter) -> Result<T>,
    ) -> Result<T> {
        pace::pace(self.overlay().shm(), checkpoint_records);
        self.write_unpaced(env, checkpoint_records, f)
    }

    /// [`LoggedEngine::write`] without waiting for its turn first (the janitor's writes of
    /// the reads it noted, which must not slow down the checkpoint they share a thread with).
    fn write_unpaced<T>(
        &self,
        env: &OpEnv<'_>,
        checkpoint_records: u64,
        f: impl FnOnce(&mut dyn RowWriter) -> Result<T>,
    ) -> Result<T> {
        let overlay = self.overlay();
        let (guard, needs_recovery) = overlay.lock(env.deadline())?;
        if needs_recovery {
            self.recover(env)?;
        }
        overlay.retire_applied()?;
        let epoch = overlay.shm().get(Word::Epoch);
        let (snap, opened_at_seq) = self.snapshot(env, epoch)?;
        let mut ctx = LogCtx::new(self, env, snap, epoch);
        ctx.opened_at_seq = opened_at_seq;
        let value = match f(&mut ctx) {
            Ok(value) => value,
            Err(e) => {
                overlay.leave();
                return Err(e);
            }
        };
        let accesses = env.accesses.take();
        if ctx.changes.is_empty() && accesses.is_empty() {
            overlay.leave();
            return Ok(value);
        }
        self.log(env, checkpoint_records, ctx, accesses)?;
        overlay.leave();
        drop(guard);
        Ok(value)
    }

    /// Appends an operation's changes (under the lock), first making room if they would not
    /// fit the active lane; a change too large for a lane goes straight to the database.
    fn log(
        &self,
        env: &OpEnv<'_>,
        checkpoint_records: u64,
        ctx: LogCtx<'_>,
        accesses: Vec<(Vec<u8>, Access)>,
    ) -> Result<()> {
        let overlay = self.overlay();
        let shm = overlay.shm();
        let mut encoded: Vec<(Vec<u8>, Logged)> = accesses
            .iter()
            .map(|(k, a)| {
                let access = Logged::Access {
                    time: a.time,
                    count: a.count,
                };
                (k.clone(), access)
            })
            .collect();
        for (key, row) in &ctx.changes {
            let logged = match row {
                Some(row) => Logged::Set(row.encode()?),
                None => Logged::Deleted,
            };
            encoded.push((key.clone(), logged));
        }
        let len: usize = encoded
            .iter()
            .map(|(k, r)| padded_len(k.len(), r.payload_len()))
            .sum();
        // A block larger than a quarter of a lane, or of more records than a generation
        // holds (a large transaction: the index has room for four times that), goes to redb.
        if len as u64 > LANE_SIZE / 4 || encoded.len() as u64 > checkpoint_records {
            self.checkpoint(env)?;
            let floor = ctx.next_row_id.unwrap_or(1);
            let counters = overlay.counters_begin();
            let files = ctx.files_to_delete;
            let changes = apply::latest_per_key(ctx.changes);
            apply::commit(env, shm, (changes, accesses, files), floor, &[], || {})?;
            // Committed: as in `write_redb`, a later error leaves the outcome unknown.
            self.committed_outside_lanes(env)
                .map_err(crate::error::Error::at_commit)?;
            overlay.counters_end(counters);
            return Ok(());
        }
        if !overlay.fits(len) || overlay.records() + encoded.len() as u64 > checkpoint_records {
            self.make_room(env)?;
        }
        if crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::AckBeforeCommit) {
            // Negative control (`sabotage`): acknowledge without logging.
            return Ok(());
        }
        let lane = shm.active();
        let before = (
            lane,
            shm.lane(lane, LaneWord::Gen),
            shm.lane(lane, LaneWord::ValidLen),
            shm.lane(lane, LaneWord::Records),
        );
        overlay.append(&encoded, env.sync())?;
        self.took_in_own_block(before, &encoded);
        shm.lane_word(lane, LaneWord::CountDelta)
            .fetch_add(ctx.count_delta as u64, Ordering::AcqRel);
        shm.lane_word(lane, LaneWord::VolumeDelta)
            .fetch_add(ctx.volume_delta as u64, Ordering::AcqRel);
        if let Some(next) = ctx.next_row_id {
            overlay.raise_next_row_id(next);
        }
        // Once logged, no reader can reach a replaced file through the log, and replay after
        // a crash replaces its row too: the file can go now, as on the direct path (at the
        // Normal level, only one no synced row may name, `engine::durable::deletable_now`;
        // the others go with the checkpoint that replaces the row naming them).
        let sealed = overlay.sealed().is_some();
        let snapshot = || Ok(self.snapshot(env, shm.get(Word::Epoch))?.0);
        let keys = ctx.changes.iter().map(|(key, _)| key.as_slice());
        let files = &ctx.files_to_delete;
        for file in crate::engine::durable::deletable_now(env, files, keys, sealed, snapshot) {
            let _ = blob::remove(env.dir, file);
        }
        // A full lane is sealed at once (if the other one is applied), so that its checkpoint
        // starts before the next write.
        if overlay.records() >= checkpoint_records && overlay.retire_applied()? {
            self.seal()?;
        }
        Ok(())
    }

    /// Makes the active lane empty (under the write lock): seals it, after waiting for the
    /// other lane's checkpoint if that one is still sealed.
    fn make_room(&self, env: &OpEnv<'_>) -> Result<()> {
        self.wait_for_sealed(env)?;
        self.seal()
    }

    /// Seals the active lane (under the write lock, with no sealed lane) and wakes the
    /// janitor to apply it.
    fn seal(&self) -> Result<()> {
        self.overlay().switch_lanes()?;
        crate::engine::janitor::wake_now();
        Ok(())
    }

    /// Under the write lock: returns once no lane is sealed. A sealed lane already applied is
    /// retired; one that no process is applying is applied here; else this waits (the
    /// checkpoint lock's holder never waits for the write lock) until the deadline.
    fn wait_for_sealed(&self, env: &OpEnv<'_>) -> Result<()> {
        let overlay = self.overlay();
        if overlay.sealed().is_some() {
            crate::crash_point("both-lanes-full");
        }
        loop {
            if overlay.retire_applied()? {
                return Ok(());
            }
            if let Some(held) = overlay.try_checkpoint_lock()? {
                self.apply_sealed(env, &held, Vec::new())?;
                drop(held);
                continue;
            }
            if Instant::now() >= env.deadline() {
                return Err(Error::Timeout);
            }
            std::thread::sleep(SEALED_POLL);
        }
    }

    /// With the checkpoint lock held: applies the sealed lane, if it is not applied yet, to
    /// the database in one write transaction, with `reads` (this process's reads not logged
    /// yet: applied after the lane's records, the later time winning and the counts adding
    /// up), and publishes it ([`Overlay::publish_applied`]).
    fn apply_sealed(
        &self,
        env: &OpEnv<'_>,
        _held: &CheckpointHeld<'_>,
        reads: Vec<(Vec<u8>, Access)>,
    ) -> Result<()> {
        let overlay = self.overlay();
        let shm = overlay.shm();
        let Some((lane, generation)) = overlay.sealed() else {
            return Ok(());
        };
        // Applied, unless its checkpointer died before it made the counters' seqlock even.
        if shm.get(Word::Applied) == generation && shm.get(Word::CounterSeq).is_multiple_of(2) {
            return Ok(());
        }
        let _span = crate::observe::checkpoint_span(generation);
        let started = Instant::now();
        let log = overlay.scan(lane, generation)?;
        let records = log.records.len() as u64;
        let mut digest = apply::digest(log.records)?;
        digest.1.extend(reads);
        let floor = shm.get(Word::NextRowId);
        // Odd from just before the commit until the lane's deltas are zero: `len` and
        // `volume` read the database's counters and the deltas as one pair.
        let counters = std::cell::Cell::new(None);
        let before_commit = || counters.set(Some(overlay.counters_begin()));
        if crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::CheckpointOrder) {
            // Negative control (`sabotage`): the order the design forbids, published first
            // and committed after.
            overlay.publish_applied(lane, generation);
            apply::commit(env, shm, digest, floor, &log.skipped, before_commit)?;
        } else {
            apply::commit(env, shm, digest, floor, &log.skipped, before_commit)?;
            crate::crash_point("after-checkpoint-commit");
            overlay.publish_applied(lane, generation);
        }
        overlay.note_committed(generation);
        pace::note_applied(shm, records, started.elapsed());
        crate::observe::checkpoint(generation, records, started.elapsed());
        crate::crash_point("after-lane-published");
        if let Some(odd) = counters.get() {
            overlay.counters_end(odd);
        }
        self.shared.snapshots.drop_unless(shm.get(Word::Epoch));
        Ok(())
    }

    /// Under the write lock: applies both lanes to the database, so that it holds everything
    /// logged (for operations that need the database's whole view, such as iteration), and
    /// leaves the active lane empty. This process's reads not logged yet are applied too.
    /// The one checkpoint a writer waits for whole.
    pub(crate) fn checkpoint(&self, env: &OpEnv<'_>) -> Result<()> {
        let overlay = self.overlay();
        if overlay.sealed().is_none() && overlay.records() == 0 && env.accesses.is_empty() {
            return Ok(());
        }
        let held = overlay.checkpoint_lock(env.deadline())?;
        self.apply_sealed(env, &held, Vec::new())?;
        overlay.retire_applied()?;
        if overlay.records() == 0 && env.accesses.is_empty() {
            return Ok(());
        }
        overlay.switch_lanes()?;
        self.apply_sealed(env, &held, env.accesses.take())?;
        overlay.retire_applied()?;
        Ok(())
    }

    /// After a commit to the database outside the lanes (under the write lock, both lanes
    /// applied): raises the row id counter to the database's and bumps the epoch, so that
    /// every process reads a new snapshot.
    fn committed_outside_lanes(&self, env: &OpEnv<'_>) -> Result<()> {
        self.overlay().note_committed(u64::MAX);
        let next_row_id = Snapshot::open(env.db)?.meta(META_NEXT_ROW_ID)?.max(1);
        self.overlay().raise_next_row_id(next_row_id);
        self.overlay().bump_epoch();
        self.shared
            .snapshots
            .drop_unless(self.overlay().shm().get(Word::Epoch));
        Ok(())
    }

    /// The row under `key`: the log's word on it if it has one, else the database's, from
    /// the cached snapshot of the epoch the log was read at. No lock, no system call when the
    /// snapshot is current.
    pub(crate) fn get_row(&self, env: &OpEnv<'_>, key: &[u8]) -> Result<Option<Row>> {
        let recover = || self.locked(env, |_| Ok(()));
        let (logged, epoch) = self.overlay().lookup(key, &recover)?;
        match logged {
            Some(Logged::Set(row)) => Row::decode(&row).map(Some),
            Some(Logged::Deleted) => Ok(None),
            // An index slot never names an access record.
            Some(Logged::Access { .. }) | None => self.snapshot(env, epoch)?.0.get(key),
        }
    }

    /// The snapshot of epoch `epoch` (cached), with the counters' seqlock when it was opened
    /// if no checkpoint's commit was under way then ([`SnapshotCache::get`]).
    pub(super) fn snapshot(
        &self,
        env: &OpEnv<'_>,
        epoch: u64,
    ) -> Result<(Arc<Snapshot>, Option<u64>)> {
        let shm = self.overlay().shm();
        self.shared
            .snapshots
            .get(env.db, epoch, || shm.get(Word::CounterSeq))
    }

    /// Under the write lock, while a checkpoint's commit keeps the counters' seqlock odd:
    /// `count` or `volume` without waiting for that commit, if `snap` (of epoch `epoch`) was
    /// opened before it began: that snapshot's counter plus the lanes' deltas
    /// ([`deltas_before_commit`]). `None` if that cannot be told: read as
    /// [`LoggedEngine::counter`].
    pub(super) fn counter_before_commit(
        &self,
        name: &str,
        snap: &Snapshot,
        epoch: u64,
        opened_at_seq: Option<u64>,
    ) -> Result<Option<u64>> {
        let shm = self.overlay().shm();
        let Some(delta) = deltas_before_commit(shm, name, epoch, opened_at_seq) else {
            return Ok(None);
        };
        Ok(Some(
            stored_counter(snap, name)?.saturating_add_signed(delta),
        ))
    }

    /// `count` or `volume`: the database's counter plus the lanes' deltas, read as one pair
    /// with no lock (the counters' seqlock brackets every commit that changes them). If the
    /// seqlock stays odd, the read recovers under the write lock, or, when this thread holds
    /// that lock already (`under_lock`: a read inside a transaction), waits out or finishes
    /// the checkpoint without it.
    pub(crate) fn counter(&self, env: &OpEnv<'_>, name: &str, under_lock: bool) -> Result<u64> {
        if under_lock {
            return self.counter_with(env, name, &|| self.wait_under_lock(env), None);
        }
        let recover = || self.locked(env, |_| Ok(()));
        self.counter_with(env, name, &recover, None)
    }

    /// As [`LoggedEngine::counter`], calling `recover` if the counters' seqlock stays odd;
    /// `known` is a snapshot of a known epoch, read instead of the cached one in that epoch.
    fn counter_with(
        &self,
        env: &OpEnv<'_>,
        name: &str,
        recover: &dyn Fn() -> Result<()>,
        known: Option<(u64, &Snapshot)>,
    ) -> Result<u64> {
        let shm = self.overlay().shm();
        self.overlay().read_counters(recover, |epoch| {
            let delta = lanes_delta(shm, name);
            let cached;
            let snap = match known {
                Some((at, snap)) if at == epoch => snap,
                _ => {
                    cached = self.snapshot(env, epoch)?.0;
                    &*cached
                }
            };
            Ok(stored_counter(snap, name)?.saturating_add_signed(delta))
        })
    }

    /// For an operation under the write lock whose read finds the counters' seqlock odd for a
    /// while: the checkpoint lock's holder is mid-commit, so wait on; if it died, finish its
    /// checkpoint here (applying a lane twice changes nothing, and the lanes stay as this
    /// operation sees them: only a holder of the write lock retires one).
    fn wait_under_lock(&self, env: &OpEnv<'_>) -> Result<()> {
        if self.overlay().checkpointer_alive()? {
            std::thread::sleep(SEALED_POLL);
        } else if let Some(held) = self.overlay().try_checkpoint_lock()? {
            self.apply_sealed(env, &held, Vec::new())?;
        }
        Ok(())
    }

    /// Drops the cached snapshot: the database handle it was read from was replaced.
    pub(crate) fn drop_snapshots(&self) {
        self.shared.snapshots.drop_unless(u64::MAX);
    }

    /// The settings epoch in `cache.shm` (bumped after each change of a stored setting).
    pub(crate) fn settings_epoch(&self) -> u64 {
        self.overlay().shm().get(Word::SettingsEpoch)
    }

    /// Tells every process that the stored settings changed: call after the commit.
    pub(crate) fn bump_settings_epoch(&self) {
        if crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::SettingsEpoch) {
            // Negative control (`sabotage`): other processes never hear of the change.
            return;
        }
        let word = self.overlay().shm().word(Word::SettingsEpoch);
        word.fetch_add(1, Ordering::AcqRel);
    }

    /// Counts a hit (`true`) or a miss in `cache.shm`; checkpoints flush the counts.
    pub(crate) fn count(&self, hit: bool) {
        let shm = self.overlay().shm();
        let word = if hit { Word::Hits } else { Word::Misses };
        shm.word(word).fetch_add(1, Ordering::Relaxed);
    }

    /// The hits and misses counted in `cache.shm` and not yet flushed; with `reset`, also
    /// sets them to zero (call under the lock, after a checkpoint).
    pub(crate) fn pending_counts(&self, reset: bool) -> (u64, u64) {
        let shm = self.overlay().shm();
        if reset {
            (
                shm.word(Word::Hits).swap(0, Ordering::AcqRel),
                shm.word(Word::Misses).swap(0, Ordering::AcqRel),
            )
        } else {
            (shm.get(Word::Hits), shm.get(Word::Misses))
        }
    }

    /// Applies the log to the database, so that a snapshot opened afterwards sees everything
    /// (for operations that need the database's whole view, such as iteration).
    pub(crate) fn quiesce(&self, env: &OpEnv<'_>) -> Result<()> {
        self.locked(env, |env| self.checkpoint(env))
    }

    /// Runs `f` in a redb write transaction under the write lock, after a checkpoint, and
    /// bumps the epoch after its commit (so every cached snapshot is refreshed).
    pub(crate) fn write_redb<T>(
        &self,
        env: &OpEnv<'_>,
        f: impl FnOnce(&mut WriteCtx<'_>) -> Result<T>,
    ) -> Result<T> {
        self.locked(env, |env| {
            self.checkpoint(env)?;
            let counters = self.overlay().counters_begin();
            let (value, committed) = run_redb_txn(env, f)?;
            if committed {
                crate::crash_point("after-redb-commit");
                // Committed: an error from here on is not a failed write but one whose
                // outcome the caller cannot tell (the dirty mark makes the next holder
                // recover, and readers see the commit then).
                self.committed_outside_lanes(env)
                    .map_err(crate::error::Error::at_commit)?;
            }
            self.overlay().counters_end(counters);
            Ok(value)
        })
    }

    /// Recovery (under the write lock, after a holder died inside it, or on first open):
    /// takes the checkpoint lock too, replays the committed records of every lane that holds
    /// a generation (oldest generation first) into redb (applying a record twice changes
    /// nothing), then resets the log to one new, empty generation and bumps the epoch. Always
    /// a new one, even for an empty log: the dead holder may have committed to redb outside
    /// the log (`clear`, an oversized change) before it could bump the epoch. A log of the
    /// format with one log over the whole file is replayed the same way, and replaced.
    ///
    /// A log holding a record of a newer format is refused ([`crate::Error::UnsupportedVersion`])
    /// before anything is written; the records of damaged blocks are not replayed, but kept in
    /// the database for `check` to report.
    fn recover(&self, env: &OpEnv<'_>) -> Result<()> {
        let overlay = self.overlay();
        let _held = overlay.checkpoint_lock(env.deadline())?;
        let _span = crate::observe::recovery_span();
        let started = Instant::now();
        // Read first: a lane with no header has no records.
        let headers = overlay.headers()?;
        let mut scans = Vec::new();
        let mut newest = 0u64;
        if let Some(generation) = headers.legacy {
            scans.push(overlay.scan_legacy(generation)?);
            newest = generation;
        } else {
            let mut lanes: Vec<(u64, Lane)> = headers
                .lanes
                .iter()
                .enumerate()
                .filter_map(|(lane, g)| g.map(|g| (g, lane)))
                .collect();
            lanes.sort_unstable();
            for (generation, lane) in lanes {
                scans.push(overlay.scan(lane, generation)?);
                newest = newest.max(generation);
            }
        }
        let counters = overlay.counters_begin();
        let table_was_whole = overlay.shm().get(Word::Seq).is_multiple_of(2);
        let clearing = overlay.begin_clear();
        let mut records = Vec::new();
        let mut skipped = Vec::new();
        for scan in scans {
            records.extend(scan.records);
            skipped.extend(scan.skipped);
        }
        let replayed = (records.len(), skipped.len());
        if !records.is_empty() || !skipped.is_empty() {
            let digest = apply::digest(records)?;
            let committed = apply::commit(env, overlay.shm(), digest, 1, &skipped, || {});
            if let Err(e) = committed {
                // Nothing of the table changed: if no dead holder left it mid-update, readers
                // may go on using it. On a full disk every recovery fails, and a seqlock left
                // odd would make every read wait for one and fail too
                // (tests/process_wide/full_disk.rs).
                // (`dirty` stays set: the next holder recovers.)
                if table_was_whole {
                    overlay.shm().set(Word::Seq, clearing.wrapping_add(1));
                }
                return Err(e);
            }
        }
        // Older builds read a log of one lane: they must refuse this cache.
        let raised = run_redb_txn(env, |w| {
            w.require_format_version(crate::format::schema::LANES_FORMAT_VERSION)
        });
        if let Err(e) = raised {
            if table_was_whole {
                overlay.shm().set(Word::Seq, clearing.wrapping_add(1));
            }
            return Err(e);
        }
        let shm = overlay.shm();
        let generation = [
            newest,
            shm.lane(0, LaneWord::Gen),
            shm.lane(1, LaneWord::Gen),
            crate::time::now_us(),
        ]
        .into_iter()
        .max()
        .unwrap_or_default()
        .wrapping_add(1);
        let next_row_id = Snapshot::open(env.db)?.meta(META_NEXT_ROW_ID)?.max(1);
        overlay.reset(clearing, generation, next_row_id)?;
        overlay.counters_end(counters);
        self.shared.snapshots.drop_unless(u64::MAX);
        crate::observe::recovered(replayed.0, replayed.1, started.elapsed());
        Ok(())
    }

    /// Runs `f` under the write lock after a checkpoint, with no redb transaction open, for
    /// `check` and `compact`, which need the database to themselves. `f` gets `refresh`, which
    /// bumps the epoch: call it after committing to redb, and before compacting, so that
    /// every process drops the snapshot it cached. (The lanes are empty after the
    /// checkpoint, so the counters' deltas are zero and a commit by `f` needs no seqlock of
    /// its own; `refresh` holds it while the epoch changes.)
    pub(crate) fn exclusive<T>(
        &self,
        env: &OpEnv<'_>,
        f: impl FnOnce(&OpEnv<'_>, &dyn Fn() -> Result<()>) -> Result<T>,
    ) -> Result<T> {
        self.locked(env, |env| {
            self.checkpoint(env)?;
            let refresh = || {
                let counters = self.overlay().counters_begin();
                let refreshed = self.committed_outside_lanes(env);
                self.overlay().counters_end(counters);
                refreshed
            };
            f(env, &refresh)
        })
    }
}

/// Whether `count` and `volume` (the deltas in `cache.shm`) are what the log's `records`
/// change in the database: each operation adds its rows' entries and volumes and subtracts
/// those it replaced, so per key the sum is the latest record's minus the database's row.
/// A damaged delta in `cache.shm` would make `len` and `volume` wrong until the next
/// checkpoint, and a huge volume would make the next write cull entries it has no reason to,
/// so this is checked at open and a mismatch calls for a recovery, which makes them right
/// (tests/durability/corruption_repair.rs, its "count delta" and "volume delta" cases of
/// `an_index_flipped_truncated_or_deleted_keeps_every_checkpointed_entry`).
/// Outside the lock a racing writer can make it say `false`; the caller checks again under
/// the lock. A row it cannot read says nothing (`true`): that damage is `check`'s.
fn deltas_match(env: &OpEnv<'_>, records: &[(Vec<u8>, Logged)], count: i64, volume: i64) -> bool {
    if records.is_empty() {
        return count == 0 && volume == 0;
    }
    let Ok(snap) = Snapshot::open(env.db) else {
        return true;
    };
    let mut latest: HashMap<&[u8], Option<&[u8]>> = HashMap::new();
    for (key, logged) in records {
        match logged {
            Logged::Set(row) => latest.insert(key, Some(row)),
            Logged::Deleted => latest.insert(key, None),
            Logged::Access { .. } => continue,
        };
    }
    let entry = |key: &[u8], row: Option<&Row>| match row {
        Some(row) => (
            1i64,
            i64::try_from(row.volume(key.len())).unwrap_or(i64::MAX),
        ),
        None => (0, 0),
    };
    let (mut want_count, mut want_volume) = (0i64, 0i64);
    for (key, logged) in latest {
        let (Ok(old), Ok(new)) = (snap.get(key), logged.map(Row::decode).transpose()) else {
            return true;
        };
        let (old, new) = (entry(key, old.as_ref()), entry(key, new.as_ref()));
        want_count = want_count.wrapping_add(new.0.wrapping_sub(old.0));
        want_volume = want_volume.wrapping_add(new.1.wrapping_sub(old.1));
    }
    want_count == count && want_volume == volume
}
