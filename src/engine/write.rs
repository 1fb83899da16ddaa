//! Write transactions: beginning one within the timeout, and keeping every order table, the
//! counters and the value files in step with each row change.

use std::time::{Duration, Instant};

use redb::{Database, ReadableTable, Table, WriteTransaction};

use crate::engine::access::Accesses;
use crate::engine::handoff::DirectHandoff;
use crate::error::{Error, Result};
use crate::format::blob::BlobPath;
use crate::format::order::Target;
use crate::format::order::{Candidate, Order};
use crate::format::row::Row;
use crate::format::schema::{
    ENTRIES, LONG_KEYS_FORMAT_VERSION, META, META_COUNT, META_FORMAT_VERSION, META_HITS,
    META_MISSES, META_NEXT_ROW_ID, META_VOLUME, SETTINGS,
};
use crate::settings::{EvictionPolicy, Settings};

mod building;
pub(crate) use building::Step;
pub(crate) mod orders;
mod removal;
mod repair;

use orders::Orders;

/// Begins a redb write transaction, polling while another process holds redb's writer lock,
/// until `deadline`.
pub(crate) fn begin_write(db: &redb::Database, deadline: Instant) -> Result<WriteTransaction> {
    let mut pause = Duration::from_micros(20);
    // When the first attempt found redb's writer lock taken.
    let mut waiting_since: Option<Instant> = None;
    loop {
        match db.try_begin_write() {
            Ok(txn) => {
                if let Some(since) = waiting_since {
                    crate::observe::lock_waited("redb", since.elapsed());
                }
                return Ok(txn);
            }
            Err(redb::TransactionError::WouldBlock) => {}
            Err(e) => return Err(e.into()),
        }
        let now = Instant::now();
        let since = *waiting_since.get_or_insert(now);
        let left = deadline.saturating_duration_since(now);
        if left.is_zero() {
            crate::observe::lock_timed_out("redb", now.duration_since(since));
            return Err(Error::Timeout);
        }
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(2));
    }
}

/// What one operation needs to know of the store, on either write path: the database
/// handle in use, the settings it runs with, and where it waits.
#[derive(Clone, Copy)]
pub(crate) struct OpEnv<'a> {
    pub(crate) db: &'a Database,
    pub(crate) settings: &'a Settings,
    pub(crate) dir: &'a std::path::Path,
    /// Reads this process has noted and not yet logged.
    pub(crate) accesses: &'a Accesses,
    /// A deadline to use instead of the settings' timeout (the janitor does not wait).
    pub(crate) deadline_override: Option<Instant>,
    /// The direct path's handoff byte, through which its write transactions begin; `None`
    /// on the logged path, whose transactions begin under the write lock.
    pub(crate) handoff: Option<&'a DirectHandoff>,
}

impl OpEnv<'_> {
    /// When this operation stops waiting for a lock.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline_override
            .unwrap_or_else(|| crate::time::deadline(self.settings.timeout))
    }

    /// Begins a redb write transaction within the deadline: through the handoff byte on the
    /// direct path.
    pub(crate) fn begin_write(&self) -> Result<WriteTransaction> {
        match self.handoff {
            Some(handoff) => handoff.begin_write(self.db, self.deadline()),
            None => begin_write(self.db, self.deadline()),
        }
    }

    /// Whether each write is synced before it is acknowledged (its log record too).
    pub(crate) fn sync(&self) -> bool {
        self.settings.durability.syncs_each_write()
    }
}

/// Runs `f` in one redb write transaction; commits if it changed anything. Returns the value
/// and whether a commit happened. Value files of replaced and removed rows are deleted after.
pub(crate) fn run_redb_txn<T>(
    env: &OpEnv<'_>,
    f: impl FnOnce(&mut WriteCtx<'_>) -> Result<T>,
) -> Result<(T, bool)> {
    let txn = env.begin_write()?;
    let (value, files) = {
        let mut ctx = WriteCtx::open(&txn)?;
        let value = f(&mut ctx)?;
        (value, ctx.finish()?)
    };
    let Some(files) = files else {
        txn.abort()?;
        return Ok((value, false));
    };
    txn.commit()
        .map_err(|e| crate::error::Error::from(e).at_commit())?;
    for file in &files {
        // The row is gone; a file that cannot be deleted now is an orphan for check().
        let _ = crate::format::blob::remove(env.dir, file);
    }
    Ok((value, true))
}

/// What an operation needs to read and change rows, whichever write path carries it: a redb
/// write transaction ([`WriteCtx`], the direct path) or the log (`log::LogCtx`).
pub(crate) trait RowWriter {
    /// The time of this operation, µs since the epoch: one clock reading for all its work.
    fn now(&self) -> u64;
    /// The row stored under `key`, expired or not, including this operation's own changes.
    fn get(&self, key: &[u8]) -> Result<Option<Row>>;
    /// A fresh row id, larger than every one handed out before.
    fn next_row_id(&mut self) -> Result<u64>;
    /// Stores `row` under `key`, replacing `old` (what [`RowWriter::get`] returned).
    fn put(&mut self, key: &[u8], row: &Row, old: Option<&Row>) -> Result<()>;
    /// Removes `row`, stored under `key`.
    fn remove(&mut self, key: &[u8], row: &Row) -> Result<()>;
    /// The cache's volume including this operation's changes so far.
    fn volume(&self) -> Result<u64>;
    /// Notes that this operation stored a value where Python diskcache culls: `set`, `add`
    /// that stored, `incr` of an absent or expired key, `push`. The write then culls
    /// ([`crate::ops::cull::cull_after_write`]).
    fn note_insert(&mut self);
    /// How many times this write has called [`RowWriter::note_insert`].
    fn inserts(&self) -> u64;
    /// Makes the order table of `policy` that [`RowWriter::order_head`] reads hold every
    /// earlier operation and noted read, as far as culling needs (the logged path may
    /// checkpoint; a redb transaction already does).
    fn settle(&mut self, policy: EvictionPolicy) -> Result<()>;
    /// Up to `limit` entries from the head of `order` (for [`Order::Policy`], only if that
    /// is the policy whose order this writer keeps) whose position is at most `max`. Entries
    /// already returned to this operation may be returned again; a candidate whose row has
    /// changed since its position was recorded must be checked by the caller.
    fn order_head(&mut self, order: Order, max: u64, limit: usize) -> Result<Vec<Candidate>>;
    /// The first (with `last`, the last) key strictly between `low` and `high` that has a
    /// row, expired or not, with its row, including this operation's own changes.
    fn edge_between(
        &mut self,
        low: &[u8],
        high: &[u8],
        last: bool,
    ) -> Result<Option<(Vec<u8>, Row)>>;
}

impl RowWriter for WriteCtx<'_> {
    fn edge_between(
        &mut self,
        low: &[u8],
        high: &[u8],
        last: bool,
    ) -> Result<Option<(Vec<u8>, Row)>> {
        WriteCtx::edge_between(self, low, high, last)
    }

    fn now(&self) -> u64 {
        self.now
    }
    fn get(&self, key: &[u8]) -> Result<Option<Row>> {
        WriteCtx::get(self, key)
    }
    fn next_row_id(&mut self) -> Result<u64> {
        WriteCtx::next_row_id(self)
    }
    fn put(&mut self, key: &[u8], row: &Row, old: Option<&Row>) -> Result<()> {
        WriteCtx::put(self, key, row, old)
    }
    fn remove(&mut self, key: &[u8], row: &Row) -> Result<()> {
        WriteCtx::remove(self, key, row)
    }
    fn volume(&self) -> Result<u64> {
        let stored = self.meta.get(META_VOLUME)?.map_or(0, |g| g.value());
        let volume = i128::from(stored).saturating_add(self.volume_delta).max(0);
        Ok(u64::try_from(volume).unwrap_or(u64::MAX))
    }
    fn note_insert(&mut self) {
        self.inserts += 1;
    }
    fn inserts(&self) -> u64 {
        self.inserts
    }
    fn settle(&mut self, _policy: EvictionPolicy) -> Result<()> {
        Ok(())
    }
    fn order_head(&mut self, order: Order, max: u64, limit: usize) -> Result<Vec<Candidate>> {
        let table = match order {
            Order::Expire => &self.orders.expire,
            Order::Policy(p) => match &self.orders.policy {
                Some(kept) if kept.policy == p => &kept.table,
                _ => return Ok(Vec::new()),
            },
        };
        let lowest = if matches!(order, Order::Expire) { 1 } else { 0 };
        table
            .range((lowest, 0)..=(max, u64::MAX))?
            .take(limit)
            .map(|item| {
                let (position, key) = item?;
                Ok(Candidate {
                    position: position.value(),
                    key: key.value().to_vec(),
                })
            })
            .collect()
    }
}

/// The tables of one write transaction, and what its commit must also do: the counter
/// deltas to store, and the value files to delete once the rows that named them are gone.
pub(crate) struct WriteCtx<'t> {
    txn: &'t WriteTransaction,
    entries: Table<'t, &'static [u8], &'static [u8]>,
    orders: Orders<'t>,
    meta: Table<'t, &'static str, u64>,
    /// The stored settings, as this transaction reads them (another process may have
    /// changed them since this one read its copy).
    live: Settings,
    /// The order tables being built, as the `settings` table's markers name them, with
    /// their builders' tokens.
    builds: Vec<(Target, u64)>,
    /// Hits and misses to add to the stored counters.
    stats_delta: (u64, u64),
    count_delta: i64,
    volume_delta: i128,
    next_row_id: Option<u64>,
    files_to_delete: Vec<BlobPath>,
    /// Whether anything was written; a transaction that wrote nothing is not committed.
    changed: bool,
    /// How many values this write stored where Python diskcache culls.
    inserts: u64,
    /// Whether a row was stored under a long key's index key: the commit then makes the
    /// format version at least [`LONG_KEYS_FORMAT_VERSION`], so that older builds refuse the
    /// cache instead of taking such rows for damage.
    long_keys: bool,
    /// The time of this transaction, µs since the epoch: one clock reading for all its work.
    pub(crate) now: u64,
}

impl<'t> WriteCtx<'t> {
    /// Opens the tables of `txn`: the fixed ones, the order tables the stored settings call
    /// for, and those being built.
    pub(crate) fn open(txn: &'t WriteTransaction) -> Result<Self> {
        let (live, builds) = {
            let table = txn.open_table(SETTINGS)?;
            (
                Settings::read_from(&table)?,
                crate::format::order::markers(&table)?,
            )
        };
        Ok(WriteCtx {
            txn,
            entries: txn.open_table(ENTRIES)?,
            orders: Orders::open(txn, &live, &builds)?,
            meta: txn.open_table(META)?,
            live,
            builds,
            stats_delta: (0, 0),
            count_delta: 0,
            volume_delta: 0,
            next_row_id: None,
            files_to_delete: Vec::new(),
            changed: false,
            inserts: 0,
            long_keys: false,
            now: crate::time::now_us(),
        })
    }

    /// Makes the cache's format version at least `version`, so that builds that cannot read
    /// what it now holds refuse it.
    pub(crate) fn require_format_version(&mut self, version: u64) -> Result<()> {
        let stored = self.meta.get(META_FORMAT_VERSION)?.map_or(0, |g| g.value());
        if stored < version {
            self.meta.insert(META_FORMAT_VERSION, version)?;
            self.changed = true;
        }
        Ok(())
    }

    /// The row stored under `key`, expired or not.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Row>> {
        match self.entries.get(key)? {
            Some(guard) => Ok(Some(Row::decode(guard.value())?)),
            None => Ok(None),
        }
    }

    /// A fresh row id, larger than every one handed out before.
    pub(crate) fn next_row_id(&mut self) -> Result<u64> {
        let id = match self.next_row_id {
            Some(id) => id,
            None => self.meta.get(META_NEXT_ROW_ID)?.map_or(1, |g| g.value()),
        };
        self.next_row_id = Some(
            id.checked_add(1)
                .ok_or_else(|| Error::corrupted("the row id counter is exhausted"))?,
        );
        Ok(id)
    }

    /// Stores `row` under `key`, replacing `old` (the row currently stored there, if any),
    /// and keeps the order tables, the counters and the value files in step.
    pub(crate) fn put(&mut self, key: &[u8], row: &Row, old: Option<&Row>) -> Result<()> {
        self.entries.insert(key, row.encode()?.as_slice())?;
        self.after_put(key, row, old, None)
    }

    /// Applies `changes` (of distinct keys: a key's new row, or `None` to remove it), each as
    /// [`WriteCtx::put_unless_equal`] or [`WriteCtx::remove_stored`], with the insertion and
    /// policy orders' changes of the rows stored made at the end, together
    /// ([`orders::Orders::add_deferred`]). The largest row id of a row stored, if any.
    pub(crate) fn apply_changes(
        &mut self,
        changes: &[(Vec<u8>, Option<Row>)],
    ) -> Result<Option<u64>> {
        let mut deferred = orders::Deferred::default();
        let mut max_id = None;
        for (key, row) in changes {
            match row {
                Some(row) => {
                    if self.put_unless_equal(key, row, Some(&mut deferred))? {
                        max_id = max_id.max(Some(row.row_id));
                    }
                }
                None => {
                    self.remove_stored(key)?;
                }
            }
        }
        self.orders.add_deferred(deferred)?;
        Ok(max_id)
    }

    /// Stores `row` under `key` unless the row stored there is equal to it, with what
    /// [`WriteCtx::put`] keeps in step, in one lookup of `key`: the row is written first and
    /// the one it replaced read from what the write returns. Whether anything changed.
    /// With `deferred`, the insertion and policy orders' changes are left there.
    pub(crate) fn put_unless_equal<'k>(
        &mut self,
        key: &'k [u8],
        row: &Row,
        deferred: Option<&mut orders::Deferred<'k>>,
    ) -> Result<bool> {
        let bytes = row.encode()?;
        let old = match self.entries.insert(key, bytes.as_slice())? {
            Some(stored) if stored.value() == bytes.as_slice() => return Ok(false),
            Some(stored) => {
                let old = Row::decode(stored.value())?;
                if old == *row {
                    Err(stored.value().to_vec())
                } else {
                    Ok(Some(old))
                }
            }
            None => Ok(None),
        };
        let old = match old {
            Ok(old) => old,
            Err(stored) => {
                // The same row in other bytes (what `Row::decode` ignores): the bytes go back
                // as they were, so that nothing changes.
                self.entries.insert(key, stored.as_slice())?;
                return Ok(false);
            }
        };
        self.after_put(key, row, old.as_ref(), deferred)?;
        Ok(true)
    }

    /// What [`WriteCtx::put`] does besides writing the row: the order tables, the counters
    /// and the value files; with `deferred`, the insertion and policy orders' changes are
    /// left there.
    fn after_put<'k>(
        &mut self,
        key: &'k [u8],
        row: &Row,
        old: Option<&Row>,
        mut deferred: Option<&mut orders::Deferred<'k>>,
    ) -> Result<()> {
        self.changed = true;
        self.long_keys |= crate::key::long::is_long(key);
        let add_id = match old {
            Some(old) => {
                self.orders.unlink_deferring(old, deferred.as_deref_mut())?;
                self.volume_delta -= i128::from(old.volume(key.len()));
                if old.file().is_some() && old.file() != row.file() {
                    self.files_to_delete.extend(old.file().cloned());
                }
                if old.row_id != row.row_id {
                    match deferred.as_deref_mut() {
                        Some(deferred) => deferred.insert_removed.push(old.row_id),
                        None => {
                            self.orders.insert.remove(old.row_id)?;
                        }
                    }
                }
                old.row_id != row.row_id
            }
            None => {
                self.count_delta += 1;
                true
            }
        };
        if add_id {
            match deferred.as_deref_mut() {
                Some(deferred) => deferred.insert.push((row.row_id, key)),
                None => {
                    self.orders.insert.insert(row.row_id, key)?;
                }
            }
        }
        self.volume_delta += i128::from(row.volume(key.len()));
        self.orders.link_deferring(key, row, deferred)
    }

    /// Removes the row stored under `key` (which must be `row`) and everything that points
    /// at it; its value file is deleted after the commit.
    pub(crate) fn remove(&mut self, key: &[u8], row: &Row) -> Result<()> {
        self.entries.remove(key)?;
        self.after_remove(key, row)
    }

    /// Removes the row stored under `key`, if any, as [`WriteCtx::remove`] does, in one lookup
    /// of `key`. Whether there was one.
    pub(crate) fn remove_stored(&mut self, key: &[u8]) -> Result<bool> {
        let row = match self.entries.remove(key)? {
            Some(stored) => Row::decode(stored.value())?,
            None => return Ok(false),
        };
        self.after_remove(key, &row)?;
        Ok(true)
    }

    /// What [`WriteCtx::remove`] does besides removing the row.
    fn after_remove(&mut self, key: &[u8], row: &Row) -> Result<()> {
        self.changed = true;
        self.orders.insert.remove(row.row_id)?;
        self.orders.unlink(row)?;
        self.count_delta -= 1;
        self.volume_delta -= i128::from(row.volume(key.len()));
        self.files_to_delete.extend(row.file().cloned());
        Ok(())
    }

    /// The first (or, with `last`, the last) entry whose key lies strictly between the
    /// encoded keys `low` and `high`, expired or not.
    pub(crate) fn edge_between(
        &self,
        low: &[u8],
        high: &[u8],
        last: bool,
    ) -> Result<Option<(Vec<u8>, Row)>> {
        use std::ops::Bound::Excluded;
        let mut range = self
            .entries
            .range::<&[u8]>((Excluded(low), Excluded(high)))?;
        let item = if last {
            range.next_back()
        } else {
            range.next()
        };
        match item {
            Some(item) => {
                let (key, row) = item?;
                Ok(Some((key.value().to_vec(), Row::decode(row.value())?)))
            }
            None => Ok(None),
        }
    }

    /// The stored settings as this transaction sees them.
    pub(crate) fn live(&self) -> &Settings {
        &self.live
    }

    /// Adds hits and misses to the stored counters at commit.
    pub(crate) fn add_stats(&mut self, hits: u64, misses: u64) {
        if hits != 0 || misses != 0 {
            self.stats_delta.0 = self.stats_delta.0.saturating_add(hits);
            self.stats_delta.1 = self.stats_delta.1.saturating_add(misses);
            self.changed = true;
        }
    }

    /// The stored hit and miss counters, with what this transaction adds.
    pub(crate) fn stats(&self) -> Result<(u64, u64)> {
        let stored = |name| -> Result<u64> { Ok(self.meta.get(name)?.map_or(0, |g| g.value())) };
        Ok((
            stored(META_HITS)?.saturating_add(self.stats_delta.0),
            stored(META_MISSES)?.saturating_add(self.stats_delta.1),
        ))
    }

    /// Sets the stored hit and miss counters to zero.
    pub(crate) fn reset_stats(&mut self) -> Result<()> {
        self.stats_delta = (0, 0);
        self.meta.insert(META_HITS, 0)?;
        self.meta.insert(META_MISSES, 0)?;
        self.changed = true;
        Ok(())
    }

    /// The row id [`WriteCtx::next_row_id`] would hand out next, without taking it.
    pub(crate) fn peek_next_row_id(&self) -> Result<u64> {
        match self.next_row_id {
            Some(id) => Ok(id),
            None => Ok(self.meta.get(META_NEXT_ROW_ID)?.map_or(1, |g| g.value())),
        }
    }

    /// Raises the row id counter to at least `min` (a checkpoint applies rows whose ids were
    /// handed out by the log).
    pub(crate) fn ensure_next_row_id(&mut self, min: u64) -> Result<()> {
        let current = match self.next_row_id {
            Some(id) => id,
            None => self.meta.get(META_NEXT_ROW_ID)?.map_or(1, |g| g.value()),
        };
        if min > current {
            self.next_row_id = Some(min);
            self.changed = true;
        }
        Ok(())
    }

    /// Takes the value files that this transaction's removals and replacements leave to
    /// delete, so that the caller deletes them itself once the write lock is released (the
    /// commit then deletes none).
    pub(crate) fn take_files(&mut self) -> Vec<BlobPath> {
        std::mem::take(&mut self.files_to_delete)
    }

    /// Keeps a log record a checkpoint leaves out (its block is damaged) in the `log_damage`
    /// table, under its generation and sequence number, for `check` to report.
    pub(crate) fn keep_skipped_record(
        &mut self,
        generation: u64,
        seq: u64,
        bytes: &[u8],
    ) -> Result<()> {
        self.txn
            .open_table(crate::format::schema::LOG_DAMAGE)?
            .insert((generation, seq), bytes)?;
        self.changed = true;
        Ok(())
    }

    /// Writes the counters. Returns `None` if the transaction changed nothing (so need not
    /// commit), else the value files to delete once the commit is done.
    pub(crate) fn finish(mut self) -> Result<Option<Vec<BlobPath>>> {
        if !self.changed {
            return Ok(None);
        }
        if self.count_delta != 0 {
            let count = self.meta.get(META_COUNT)?.map_or(0, |g| g.value());
            let count = count.saturating_add_signed(self.count_delta);
            self.meta.insert(META_COUNT, count)?;
        }
        if self.volume_delta != 0 {
            let volume = self.meta.get(META_VOLUME)?.map_or(0, |g| g.value());
            let volume = i128::from(volume).saturating_add(self.volume_delta).max(0);
            self.meta
                .insert(META_VOLUME, u64::try_from(volume).unwrap_or(u64::MAX))?;
        }
        if let Some(id) = self.next_row_id {
            self.meta.insert(META_NEXT_ROW_ID, id)?;
        }
        if self.long_keys
            && !crate::testing::sabotage::on(
                crate::testing::sabotage::Sabotage::LongKeysKeepVersion,
            )
        {
            let version = self.meta.get(META_FORMAT_VERSION)?.map_or(0, |g| g.value());
            if version < LONG_KEYS_FORMAT_VERSION {
                self.meta
                    .insert(META_FORMAT_VERSION, LONG_KEYS_FORMAT_VERSION)?;
            }
        }
        for (name, delta) in [
            (META_HITS, self.stats_delta.0),
            (META_MISSES, self.stats_delta.1),
        ] {
            if delta != 0 {
                let stored = self.meta.get(name)?.map_or(0, |g| g.value());
                self.meta.insert(name, stored.saturating_add(delta))?;
            }
        }
        Ok(Some(self.files_to_delete))
    }
}
