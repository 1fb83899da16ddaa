//! The logged write path (Linux's default): point operations append to the shared log, reads
//! probe its index before a cached snapshot, and checkpoints apply the log to redb.
//!
//! The rule that keeps it correct: redb changes only under the write lock, and every change
//! (a checkpoint, a recovery, a whole-cache operation) commits *first*, then bumps the
//! generation (the log header's, then the index's), then clears the index. A reader never
//! sees a key leave the index before redb holds it, and a snapshot tagged with a generation
//! holds everything up to it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::engine::access::Access;
use crate::engine::log::overlay::{Logged, Overlay};
use crate::engine::log::shm::Word;
use crate::engine::log::wal::{WAL_SIZE, padded_len};
use crate::engine::snapshot::{Snapshot, SnapshotCache};
use crate::engine::write::{OpEnv, RowWriter, WriteCtx, run_redb_txn};
use crate::error::Result;
use crate::format::blob;
use crate::format::order::{Candidate, Order};
use crate::format::row::Row;
use crate::format::schema::{META_COUNT, META_NEXT_ROW_ID};

mod apply;
mod ctx;
pub(crate) mod lock;
pub(crate) mod overlay;
pub(crate) mod shm;
pub(crate) mod wal;

pub(crate) use ctx::LogCtx;

/// The most records a generation may hold: the index has four slots per record.
pub(crate) const MAX_CHECKPOINT_RECORDS: u64 = (crate::engine::log::shm::SLOTS / 4) as u64;

/// The logged path's state in this process (the overlay, the cached snapshot, the indexes
/// of the log's keys and expiries), shared by the engine and the janitor.
pub(crate) struct LogState {
    overlay: Overlay,
    snapshots: SnapshotCache,
    /// Per order table, how far this process's culls have examined it in a generation.
    cursors: std::sync::Mutex<Cursors>,
    /// The keys whose latest record in the log's current generation stores a row, as far as
    /// this process has read the log: range reads on the log path (queue ends) read only what
    /// was logged since.
    log_keys: std::sync::Mutex<LogKeys>,
    /// The log's rows with expire times, as far as this process has read the log.
    log_expiries: std::sync::Mutex<LogExpiries>,
    /// How long the log has held records, as this process saw it (the janitor's bound on a
    /// record's wait for its checkpoint, `engine::durable`).
    age: crate::engine::durable::LogAge,
}

/// The keys one generation of the log stores rows under, up to a point of the log.
#[derive(Default)]
pub(crate) struct LogKeys {
    generation: u64,
    /// Bytes of the log (after its header) read, and the records among them.
    end: usize,
    records: u64,
    keys: std::collections::BTreeSet<Vec<u8>>,
}

/// The rows with an expire time that one generation of the log stores, up to a point of the
/// log: where a write finds expired entries that the snapshot's expire order does not hold
/// yet.
#[derive(Default)]
pub(crate) struct LogExpiries {
    generation: u64,
    /// Bytes of the log (after its header) read, and the records among them.
    end: usize,
    records: u64,
    /// The keys whose latest record stores a row with an expire time, by the row's position
    /// in the expire order ((expire time, row id)).
    expiring: std::collections::BTreeSet<((u64, u64), Vec<u8>)>,
    /// The position in `expiring` of each key there.
    expiry_of: HashMap<Vec<u8>, (u64, u64)>,
}

impl LogExpiries {
    /// Takes in a record of the log: `key`'s row is now `row` (encoded; `None`: removed).
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

/// Per order table: the generation and the last position culling examined in it. Within a
/// generation the snapshot does not change, so a cull goes on where the last one stopped
/// instead of examining again the entries the log has already removed.
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
    /// new). The store then hands its upkeep to the process's janitor
    /// (`cache::start_janitor`).
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

    /// Calls `f` with the keys whose latest record in generation `generation` of the log
    /// stores a row (under the lock), reading only the records logged since the last call.
    ///
    /// # Errors
    /// [`crate::Error::UnsupportedVersion`] if the log holds a record of a newer format.
    pub(crate) fn with_log_keys<T>(
        &self,
        generation: u64,
        f: impl FnOnce(&std::collections::BTreeSet<Vec<u8>>) -> T,
    ) -> Result<T> {
        let mut index = self
            .shared
            .log_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if index.generation != generation {
            *index = LogKeys {
                generation,
                ..LogKeys::default()
            };
        }
        let (start, first_seq) = (index.end, index.records);
        let keys = &mut index.keys;
        let (end, count) =
            self.overlay()
                .visit_since(generation, start, first_seq, |key, row| {
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
        Ok(f(&index.keys))
    }

    /// Up to `limit` keys whose latest record in generation `generation` of the log stores a
    /// row that expires at or before `max`, soonest first, with their positions in the expire
    /// order, skipping those `current` says are not (or no longer) at that position (under
    /// the lock; only the records logged since the last call are read).
    ///
    /// # Errors
    /// As [`LoggedEngine::with_log_keys`]; what `current` returns.
    pub(crate) fn log_expired(
        &self,
        generation: u64,
        max: u64,
        limit: usize,
        current: impl Fn(&[u8], (u64, u64)) -> Result<bool>,
    ) -> Result<Vec<Candidate>> {
        let mut guard = self.log_expiries();
        let index = guard.at(generation);
        let (start, first_seq) = (index.end, index.records);
        // Usually this process logged the last block itself and took it in already.
        let shm = self.overlay().shm();
        let read_all = start as u64 + crate::engine::log::wal::WAL_HEADER_LEN
            == shm.get(Word::ValidLen)
            && first_seq == shm.get(Word::Records);
        if !read_all {
            let (end, count) =
                self.overlay()
                    .visit_since(generation, start, first_seq, |key, row| {
                        index.apply(key, row)
                    })?;
            index.end = end;
            index.records += count;
        }
        let mut out = Vec::new();
        if index
            .expiring
            .first()
            .is_none_or(|(first, _)| first.0 > max)
        {
            return Ok(out);
        }
        for (position, key) in &index.expiring {
            if position.0 > max || out.len() >= limit {
                break;
            }
            if current(key, *position)? {
                out.push(Candidate {
                    position: *position,
                    key: key.clone(),
                });
            }
        }
        Ok(out)
    }

    /// This process's index of the expire times in the log.
    fn log_expiries(&self) -> std::sync::MutexGuard<'_, LogExpiries> {
        self.shared
            .log_expiries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// After this process appended `block` where the log ended at `before` (generation,
    /// valid length, records): if its index of the log's expire times had read exactly up to
    /// there, takes the block in from memory, so that the next write need not parse it back.
    fn took_in_own_block(&self, before: (u64, u64, u64), block: &[(Vec<u8>, Logged)]) {
        let (generation, valid_len, records) = before;
        let mut guard = self.log_expiries();
        let index = guard.at(generation);
        let header = crate::engine::log::wal::WAL_HEADER_LEN;
        if index.end as u64 + header != valid_len || index.records != records {
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
        index.end = usize::try_from(shm.get(Word::ValidLen) - header).unwrap_or(usize::MAX);
        index.records = shm.get(Word::Records);
    }

    fn overlay(&self) -> &Overlay {
        &self.shared.overlay
    }

    /// The janitor's round: drops a cached snapshot the generation or a pause has left
    /// behind (an idle process must not pin old pages) and logs the noted reads if the lock
    /// is free. While a snapshot stays cached, it also tries the lock without waiting if the
    /// critical section is marked: getting it means the marker's process died (or failed)
    /// inside it, so recover at once rather than at the next write; a process that only reads
    /// would otherwise keep serving a snapshot older than a whole-cache change the dead holder
    /// committed. Returns whether work is left for a later round; the error of a recovery
    /// that failed other than for want of the lock (the caller replaces a database handle an
    /// I/O error left failing).
    pub(crate) fn janitor_tick(&self, env: &OpEnv<'_>) -> Result<bool> {
        let shm = self.overlay().shm();
        let cached = self.shared.snapshots.tidy(shm.get(Word::Gen));
        let now = OpEnv {
            deadline_override: Some(Instant::now()),
            ..*env
        };
        if cached && shm.get(Word::Dirty) != 0 {
            match self.locked(&now, |_| Ok(())) {
                Err(crate::error::Error::Timeout) | Ok(()) => {}
                Err(e) => return Err(e),
            }
        }
        if !env.accesses.is_empty() {
            // Logs the noted reads if the lock is free now; else they wait for the next round.
            let _ = self.write(&now, env.settings.checkpoint_records, |_| Ok(()));
        }
        // At the Normal level: a checkpoint of records older than a second, if the lock is free.
        let (generation, records) = (shm.get(Word::Gen), shm.get(Word::Records));
        let aging = self
            .shared
            .age
            .checkpoint_if_old(env, generation, records, || {
                self.locked(&now, |env| self.checkpoint(env))
            })?;
        Ok(cached || !env.accesses.is_empty() || aging)
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
    /// appended to the log as one atomic block. Checkpoints when the log is full or holds
    /// `checkpoint_records` records.
    ///
    /// An error from `f` changes nothing. An error while logging leaves the critical section
    /// marked, so the next holder recovers. A checkpoint that fails *after* the operation was
    /// logged does not fail the operation (it is in the log, and replayed if need be).
    pub(crate) fn write<T>(
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
        let generation = overlay.shm().get(Word::Gen);
        let snap = self.shared.snapshots.get(env.db, generation)?;
        let mut ctx = LogCtx::new(self, env, snap, generation);
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
        let checkpointed = overlay.records() < checkpoint_records || self.checkpoint(env).is_ok();
        if checkpointed {
            overlay.leave();
        }
        drop(guard);
        Ok(value)
    }

    /// Appends an operation's changes (under the lock), first checkpointing if they would
    /// not fit; a change too large for the log goes straight to the database.
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
        // A block larger than a quarter of the log, or of more records than a generation
        // holds (a large transaction: the index has room for four times that), goes to redb.
        if len as u64 > WAL_SIZE / 4 || encoded.len() as u64 > checkpoint_records {
            self.checkpoint(env)?;
            let floor = ctx.next_row_id.unwrap_or(1);
            let counters = overlay.counters_begin();
            let files = ctx.files_to_delete;
            let changes = apply::latest_per_key(ctx.changes);
            apply::commit(
                env,
                self.overlay().shm(),
                changes,
                accesses,
                files,
                floor,
                &[],
            )?;
            // Committed: as in `write_redb`, a later error leaves the outcome unknown.
            self.new_generation(env)
                .map_err(crate::error::Error::at_commit)?;
            overlay.counters_end(counters);
            return Ok(());
        }
        if !overlay.fits(len) || overlay.records() + encoded.len() as u64 > checkpoint_records {
            self.checkpoint(env)?;
        }
        if crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::AckBeforeCommit) {
            // Negative control (`sabotage`): acknowledge without logging.
            return Ok(());
        }
        let before = (
            shm.get(Word::Gen),
            shm.get(Word::ValidLen),
            shm.get(Word::Records),
        );
        overlay.append(&encoded, env.sync())?;
        self.took_in_own_block(before, &encoded);
        shm.word(Word::CountDelta)
            .fetch_add(ctx.count_delta as u64, Ordering::AcqRel);
        shm.word(Word::VolumeDelta)
            .fetch_add(ctx.volume_delta as u64, Ordering::AcqRel);
        if let Some(next) = ctx.next_row_id {
            shm.set(Word::NextRowId, next);
        }
        // Once logged, no reader can reach a replaced file through the log, and replay after
        // a crash replaces its row too: the file can go now, as on the direct path (at the
        // Normal level, only if no row of the database names it: `engine::durable`).
        let snapshot = || self.shared.snapshots.get(env.db, shm.get(Word::Gen));
        let keys = ctx.changes.iter().map(|(key, _)| key.as_slice());
        for file in crate::engine::durable::deletable_now(env, &ctx.files_to_delete, keys, snapshot)
        {
            let _ = blob::remove(env.dir, file);
        }
        Ok(())
    }

    /// The row under `key`: the log's word on it if it has one, else the database's, from
    /// the cached snapshot of the generation the log was read at. No lock, no system call
    /// when the snapshot is current.
    pub(crate) fn get_row(&self, env: &OpEnv<'_>, key: &[u8]) -> Result<Option<Row>> {
        let recover = || self.locked(env, |_| Ok(()));
        let (logged, generation) = self.overlay().lookup(key, &recover)?;
        match logged {
            Some(Logged::Set(row)) => Row::decode(&row).map(Some),
            Some(Logged::Deleted) => Ok(None),
            // An index slot never names an access record.
            Some(Logged::Access { .. }) | None => {
                self.shared.snapshots.get(env.db, generation)?.get(key)
            }
        }
    }

    /// `count` or `volume`: the database's counter plus the log's delta, read as one pair
    /// with no lock (the counters' seqlock brackets every commit that changes them).
    pub(crate) fn counter(&self, env: &OpEnv<'_>, name: &str) -> Result<u64> {
        let shm = self.overlay().shm();
        let word = if name == META_COUNT {
            Word::CountDelta
        } else {
            Word::VolumeDelta
        };
        let recover = || self.locked(env, |_| Ok(()));
        self.overlay().read_counters(&recover, |generation| {
            let delta = shm.get(word) as i64;
            let base = self.shared.snapshots.get(env.db, generation)?.meta(name)?;
            Ok(base.saturating_add_signed(delta))
        })
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
    /// bumps the generation after its commit (so every cached snapshot is refreshed).
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
                self.new_generation(env)
                    .map_err(crate::error::Error::at_commit)?;
            }
            self.overlay().counters_end(counters);
            Ok(value)
        })
    }

    /// Checkpoint (under the lock): applies the latest record per key of the current
    /// generation in one redb write transaction, commits, then starts the next generation.
    pub(crate) fn checkpoint(&self, env: &OpEnv<'_>) -> Result<()> {
        let generation = self.overlay().shm().get(Word::Gen);
        let log = self.overlay().scan(generation)?;
        if log.records.is_empty()
            && log.skipped.is_empty()
            && self.overlay().records() == 0
            && env.accesses.is_empty()
        {
            return Ok(());
        }
        let (changes, mut accesses, stale_files) = apply::digest(log.records)?;
        let skipped = log.skipped;
        // This process's reads not logged yet: applied after the log's (twice for one key
        // is right: the later time wins and the counts add up).
        accesses.extend(env.accesses.take());
        let floor = self.overlay().shm().get(Word::NextRowId);
        let counters = self.overlay().counters_begin();
        if crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::CheckpointOrder) {
            // Negative control (`sabotage`): the order the design forbids, generation first
            // and commit after.
            self.new_generation(env)?;
            apply::commit(
                env,
                self.overlay().shm(),
                changes,
                accesses,
                stale_files,
                floor,
                &skipped,
            )?;
        } else {
            apply::commit(
                env,
                self.overlay().shm(),
                changes,
                accesses,
                stale_files,
                floor,
                &skipped,
            )?;
            crate::crash_point("after-checkpoint-commit");
            self.new_generation(env)?;
        }
        self.overlay().counters_end(counters);
        Ok(())
    }

    /// Starts the next generation: empty index, deltas folded into the database's counters.
    fn new_generation(&self, env: &OpEnv<'_>) -> Result<()> {
        let generation = self.overlay().shm().get(Word::Gen);
        let next_row_id = Snapshot::open(env.db)?.meta(META_NEXT_ROW_ID)?.max(1);
        self.overlay().start_generation(generation, next_row_id)?;
        self.shared
            .snapshots
            .drop_unless(generation.wrapping_add(1));
        Ok(())
    }

    /// Recovery (under the lock, after a holder died inside it, or on first open): replays
    /// the log's committed records into redb (applying a record twice changes nothing), then
    /// starts a new generation. Always a new one, even for an empty log: the dead holder may
    /// have committed to redb outside the log (`clear`, an oversized change) before it could
    /// bump the generation, and snapshots cached under the old one must not be reused.
    ///
    /// A log holding a record of a newer format is refused ([`crate::Error::UnsupportedVersion`])
    /// before anything is written; the records of damaged blocks are not replayed, but kept in
    /// the database for `check` to report.
    fn recover(&self, env: &OpEnv<'_>) -> Result<()> {
        let overlay = self.overlay();
        // Read first: a log with no header has no records (it gets a generation below).
        let log = match overlay.wal_header_gen()? {
            Some(generation) => overlay.scan(generation)?,
            None => crate::engine::log::overlay::LogScan::default(),
        };
        let counters = overlay.counters_begin();
        let table_was_whole = overlay.shm().get(Word::Seq).is_multiple_of(2);
        let clearing = overlay.begin_clear();
        let generation = overlay.wal_gen()?;
        if !log.records.is_empty() || !log.skipped.is_empty() {
            let (changes, accesses, stale_files) = apply::digest(log.records)?;
            let committed = apply::commit(
                env,
                self.overlay().shm(),
                changes,
                accesses,
                stale_files,
                1,
                &log.skipped,
            );
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
        overlay.write_wal_gen(generation.wrapping_add(1))?;
        let next_row_id = Snapshot::open(env.db)?.meta(META_NEXT_ROW_ID)?.max(1);
        overlay.finish_clear(clearing, generation.wrapping_add(1), next_row_id)?;
        overlay.counters_end(counters);
        self.shared.snapshots.drop_unless(u64::MAX);
        Ok(())
    }

    /// Runs `f` under the write lock after a checkpoint, with no redb transaction open, for
    /// `check` and `compact`, which need the database to themselves. `f` gets `refresh`, which
    /// starts a new generation: call it after committing to redb, and before compacting, so
    /// that every process drops the snapshot it cached. (The log is empty after the
    /// checkpoint, so the counters' deltas are zero and a commit by `f` needs no seqlock of
    /// its own; `refresh` holds it while the generation changes.)
    pub(crate) fn exclusive<T>(
        &self,
        env: &OpEnv<'_>,
        f: impl FnOnce(&OpEnv<'_>, &dyn Fn() -> Result<()>) -> Result<T>,
    ) -> Result<T> {
        self.locked(env, |env| {
            self.checkpoint(env)?;
            let refresh = || {
                let counters = self.overlay().counters_begin();
                let started = self.new_generation(env);
                self.overlay().counters_end(counters);
                started
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
