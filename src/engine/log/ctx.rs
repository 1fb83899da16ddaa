//! The view one logged operation has of the cache ([`LogCtx`]): its own changes, then the
//! log, then the database snapshot; and how a cull inside it reads the order tables.

use std::collections::HashMap;
use std::sync::Arc;

use super::LoggedEngine;
use super::apply::Change;
use crate::engine::log::overlay::{Logged, Overlay};
use crate::engine::log::shm::{LaneWord, Word};
use crate::engine::snapshot::{EdgeSearch, Snapshot};
use crate::engine::write::OpEnv;
use crate::engine::write::RowWriter;
use crate::error::{Error, Result};
use crate::format::blob::BlobPath;
use crate::format::order::{Candidate, Order};
use crate::format::row::Row;
use crate::format::schema::META_VOLUME;
use crate::settings::EvictionPolicy;

/// The view of one logged operation: its own changes, then the log, then the database.
pub(crate) struct LogCtx<'a> {
    pub(super) engine: &'a LoggedEngine,
    pub(super) env: &'a OpEnv<'a>,
    pub(super) overlay: &'a Overlay,
    /// The database as of the epoch the operation began in.
    pub(super) snap: Arc<Snapshot>,
    /// The epoch `snap` holds.
    pub(super) epoch: u64,
    /// The counters' seqlock when `snap` was opened, if no checkpoint's commit was under way
    /// then ([`LoggedEngine::counter_before_commit`]).
    pub(super) opened_at_seq: Option<u64>,
    /// Whether this operation has checkpointed the log (to cull from a fresh order).
    pub(super) checkpointed: bool,
    pub(super) now: u64,
    /// (key, new row or deletion), in order.
    pub(super) changes: Vec<Change>,
    /// Key → its latest change in `changes`, kept once an operation (a transaction) has made
    /// more than [`LINEAR_CHANGES`] changes, so that its reads stay O(1).
    pub(super) latest: Option<HashMap<Vec<u8>, usize>>,
    pub(super) count_delta: i64,
    pub(super) volume_delta: i64,
    pub(super) next_row_id: Option<u64>,
    /// How many values this operation stored where Python diskcache culls.
    pub(super) inserts: u64,
    /// Value files of rows this operation replaced or removed, deleted once it is logged.
    pub(super) files_to_delete: Vec<BlobPath>,
}

impl<'a> LogCtx<'a> {
    pub(super) fn new(
        engine: &'a LoggedEngine,
        env: &'a OpEnv<'a>,
        snap: Arc<Snapshot>,
        epoch: u64,
    ) -> Self {
        LogCtx {
            engine,
            env,
            overlay: engine.overlay(),
            snap,
            epoch,
            opened_at_seq: None,
            checkpointed: false,
            now: crate::time::now_us(),
            changes: Vec::new(),
            latest: None,
            count_delta: 0,
            volume_delta: 0,
            next_row_id: None,
            inserts: 0,
            files_to_delete: Vec::new(),
        }
    }
}

/// Changes an operation may make before its reads of them go through an index.
const LINEAR_CHANGES: usize = 16;

impl LogCtx<'_> {
    /// Appends a change, keeping the index of latest changes once there are many.
    fn record(&mut self, key: &[u8], row: Option<Row>) {
        self.changes.push((key.to_vec(), row));
        if self.latest.is_none() && self.changes.len() > LINEAR_CHANGES {
            let index = self.changes.iter().enumerate();
            self.latest = Some(index.map(|(i, (k, _))| (k.clone(), i)).collect());
        } else if let Some(latest) = &mut self.latest {
            latest.insert(key.to_vec(), self.changes.len() - 1);
        }
    }
}

impl RowWriter for LogCtx<'_> {
    fn now(&self) -> u64 {
        self.now
    }

    fn get(&self, key: &[u8]) -> Result<Option<Row>> {
        let own = match &self.latest {
            Some(latest) => latest.get(key).and_then(|&i| self.changes.get(i)),
            None => self.changes.iter().rev().find(|(k, _)| k == key),
        };
        if let Some((_, row)) = own {
            return Ok(row.clone());
        }
        // Under the write lock no lane is sealed or retired, so the lookup only waits out a
        // checkpoint's publication; and a key not in the lanes is one that no checkpoint
        // since `snap` changed.
        let wait = || self.engine.wait_under_lock(self.env);
        match self.overlay.lookup(key, &wait)?.0 {
            Some(Logged::Set(bytes)) => Row::decode(&bytes).map(Some),
            Some(Logged::Deleted) => Ok(None),
            Some(Logged::Access { .. }) | None => self.snap.get(key),
        }
    }

    fn next_row_id(&mut self) -> Result<u64> {
        let id = match self.next_row_id {
            Some(id) => id,
            None => self.overlay.shm().get(Word::NextRowId).max(1),
        };
        self.next_row_id = Some(
            id.checked_add(1)
                .ok_or_else(|| Error::corrupted("the row id counter is exhausted"))?,
        );
        Ok(id)
    }

    fn put(&mut self, key: &[u8], row: &Row, old: Option<&Row>) -> Result<()> {
        match old {
            Some(old) => {
                self.volume_delta -= volume_i64(old.volume(key.len()));
                if old.file() != row.file() {
                    self.files_to_delete.extend(old.file().cloned());
                }
            }
            None => self.count_delta += 1,
        }
        self.volume_delta += volume_i64(row.volume(key.len()));
        self.record(key, Some(row.clone()));
        Ok(())
    }

    fn remove(&mut self, key: &[u8], row: &Row) -> Result<()> {
        self.count_delta -= 1;
        self.volume_delta -= volume_i64(row.volume(key.len()));
        self.files_to_delete.extend(row.file().cloned());
        self.record(key, None);
        Ok(())
    }

    fn volume(&self) -> Result<u64> {
        // The database's counter and the lanes' deltas as one pair: a checkpoint may commit
        // meanwhile, moving volume from a lane's delta to the database.
        let early = self.engine.counter_before_commit(
            META_VOLUME,
            &self.snap,
            self.epoch,
            self.opened_at_seq,
        )?;
        let stored = match early {
            Some(stored) => stored,
            None => {
                let wait = || self.engine.wait_under_lock(self.env);
                let known = Some((self.epoch, &*self.snap));
                self.engine
                    .counter_with(self.env, META_VOLUME, &wait, known)?
            }
        };
        let volume = (i128::from(stored) + i128::from(self.volume_delta)).max(0);
        Ok(u64::try_from(volume).unwrap_or(u64::MAX))
    }

    fn note_insert(&mut self) {
        self.inserts += 1;
    }

    fn inserts(&self) -> u64 {
        self.inserts
    }

    /// For a policy ordered by access: checkpoints the log, unless it is empty, and reads
    /// on from a snapshot of the new epoch, so that victims come from an order that
    /// holds every read noted so far (reads reach the order only through checkpoints). The
    /// operation's own changes stay pending, and what it sees does not change: the snapshot
    /// now holds what the log held. Under least-recently-stored nothing is needed: entries
    /// only in the log are the newest, and candidates the log has changed are skipped.
    fn settle(&mut self, policy: EvictionPolicy) -> Result<()> {
        use EvictionPolicy::{LeastFrequentlyUsed, LeastRecentlyUsed};
        let by_access = matches!(policy, LeastRecentlyUsed | LeastFrequentlyUsed);
        let reads_pending = self.overlay.shm().lanes_sum(LaneWord::AccessRecords) > 0
            || !self.env.accesses.is_empty();
        if by_access && reads_pending {
            self.checkpoint_now()?;
        }
        Ok(())
    }

    /// From the snapshot's order table, going on where this process's last cull in this
    /// epoch stopped. Once per operation, a policy order used up while the log holds
    /// entries the snapshot lacks is checkpointed and read on in the new epoch.
    ///
    /// The expire order is read from the snapshot and from this process's index of the log's
    /// rows with expire times (entries set since the last checkpoint), soonest first.
    fn order_head(&mut self, order: Order, max: u64, limit: usize) -> Result<Vec<Candidate>> {
        if order == Order::Expire {
            return self.expired_head(max, limit);
        }
        let mut batch = self.order_after_cursor(order, max, limit)?;
        let short = batch.len() < limit && matches!(order, Order::Policy(_));
        if short && !self.checkpointed && self.overlay.records_in_lanes() > 0 {
            self.checkpoint_now()?;
            let more = self.order_after_cursor(order, max, limit - batch.len())?;
            batch.extend(more);
        }
        Ok(batch)
    }

    /// The edge of the keys the log (and this operation) stores rows under in the range, and
    /// of the snapshot's keys there that the log has not removed: whichever is further out.
    /// The snapshot may hold many keys the log removed (a queue pulled since the last
    /// checkpoint): past [`SKIPPED_BEFORE_CHECKPOINT`] of them, the log is checkpointed and
    /// the snapshot read again.
    fn edge_between(
        &mut self,
        low: &[u8],
        high: &[u8],
        last: bool,
    ) -> Result<Option<(Vec<u8>, Row)>> {
        use std::ops::Bound::Excluded;
        let bounds = (Excluded(low), Excluded(high));
        // From the edge inward, the first key with a row: in the log, then among this
        // operation's own changes.
        let first_with_row = |keys: &mut dyn Iterator<Item = &Vec<u8>>| -> Result<_> {
            for key in keys {
                if let Some(row) = self.get(key)? {
                    return Ok(Some((key.clone(), row)));
                }
            }
            Ok(None)
        };
        let in_log = self
            .engine
            .with_log_keys(|sets| first_with_row(&mut from_edge(sets, bounds, last)))??;
        let mut own: Vec<&Vec<u8>> = self
            .changes
            .iter()
            .map(|(k, _)| k)
            .filter(|k| k.as_slice() > low && k.as_slice() < high)
            .collect();
        own.sort_unstable();
        if last {
            own.reverse();
        }
        let in_changes = first_with_row(&mut own.into_iter())?;
        let further = |a: Option<(Vec<u8>, Row)>, b: Option<(Vec<u8>, Row)>| match (a, b) {
            (Some(a), Some(b)) => Some(if (a.0 > b.0) == last { a } else { b }),
            (a, b) => a.or(b),
        };
        let from_log = further(in_log, in_changes);
        let from_snapshot = loop {
            let snap = Arc::clone(&self.snap);
            let limit = if self.checkpointed {
                usize::MAX
            } else {
                SKIPPED_BEFORE_CHECKPOINT
            };
            match snap.edge_where(low, high, last, limit, |key| self.get(key))? {
                EdgeSearch::Found(found) => break found,
                EdgeSearch::GaveUp => self.checkpoint_now()?,
            }
        };
        Ok(further(from_log, from_snapshot))
    }
}

/// Keys of the snapshot a range read steps over (removed by the log) before it checkpoints.
const SKIPPED_BEFORE_CHECKPOINT: usize = 64;

/// The keys of `sets` within `bounds`, each once, in order from the edge inward: from the
/// last if `last`, else from the first.
fn from_edge<'k>(
    sets: &[&'k std::collections::BTreeSet<Vec<u8>>],
    bounds: (std::ops::Bound<&'k [u8]>, std::ops::Bound<&'k [u8]>),
    last: bool,
) -> impl Iterator<Item = &'k Vec<u8>> {
    let mut heads: Vec<std::iter::Peekable<Box<dyn Iterator<Item = &'k Vec<u8>> + 'k>>> = sets
        .iter()
        .map(|keys| {
            let range = keys.range::<[u8], _>(bounds);
            let edge: Box<dyn Iterator<Item = &'k Vec<u8>> + 'k> = if last {
                Box::new(range.rev())
            } else {
                Box::new(range)
            };
            edge.peekable()
        })
        .collect();
    std::iter::from_fn(move || {
        let next = heads
            .iter_mut()
            .filter_map(|head| head.peek().copied())
            .reduce(|a, b| if (b > a) == last { b } else { a })?;
        for head in &mut heads {
            if head.peek() == Some(&next) {
                head.next();
            }
        }
        Some(next)
    })
}

impl LogCtx<'_> {
    /// Checkpoints the log and reads on from a snapshot of the new epoch. The
    /// operation's own changes stay pending, and what it sees does not change: the snapshot
    /// now holds what the log held.
    fn checkpoint_now(&mut self) -> Result<()> {
        self.engine.checkpoint(self.env)?;
        self.checkpointed = true;
        self.epoch = self.overlay.shm().get(Word::Epoch);
        (self.snap, self.opened_at_seq) = self.engine.snapshot(self.env, self.epoch)?;
        Ok(())
    }

    /// Up to `limit` entries of the expire order at most `max`, soonest first: from the log's
    /// rows (each checked against what this operation sees) and from the snapshot after this
    /// process's cursor, which moves past the snapshot's entries returned. When nothing has
    /// expired: a look at the log index and at the snapshot's soonest expire time.
    fn expired_head(&mut self, max: u64, limit: usize) -> Result<Vec<Candidate>> {
        let current = |key: &[u8], position: (u64, u64)| {
            Ok(self
                .get(key)?
                .is_some_and(|row| (row.expire_time, row.row_id) == position))
        };
        let from_log = self.engine.log_expired(max, limit, current)?;
        let snapshot_expired = match self.snap.soonest_expiry()? {
            Some(soonest) => soonest <= max,
            None => false,
        };
        if !snapshot_expired {
            return Ok(from_log);
        }
        let after = self.cursor(Order::Expire);
        let from_snapshot = self.snap.order_after(Order::Expire, after, max, limit)?;
        // (candidate, whether the snapshot returned it), soonest first, the first `limit`.
        let mut merged: Vec<(Candidate, bool)> = from_log
            .into_iter()
            .map(|c| (c, false))
            .chain(from_snapshot.into_iter().map(|c| (c, true)))
            .collect();
        merged.sort_by(|(a, _), (b, _)| (a.position, &a.key).cmp(&(b.position, &b.key)));
        merged.dedup_by(|(later, later_snap), (kept, kept_snap)| {
            let same = later == kept;
            if same {
                *kept_snap |= *later_snap;
            }
            same
        });
        merged.truncate(limit);
        let last_from_snapshot = merged.iter().rev().find(|(_, snap)| *snap);
        if let Some((last, _)) = last_from_snapshot {
            self.move_cursor(Order::Expire, last.position);
        }
        Ok(merged.into_iter().map(|(c, _)| c).collect())
    }

    /// This process's cursor in `order` for this epoch: the last position a cull
    /// examined.
    fn cursor(&self, order: Order) -> Option<(u64, u64)> {
        let cursors = self
            .engine
            .shared
            .cursors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cursors
            .get(&order)
            .filter(|(epoch, _)| *epoch == self.epoch)
            .map(|(_, position)| *position)
    }

    /// Moves this process's cursor in `order` for this epoch to `position`.
    fn move_cursor(&self, order: Order, position: (u64, u64)) {
        let mut cursors = self
            .engine
            .shared
            .cursors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cursors.insert(order, (self.epoch, position));
    }

    /// Up to `limit` entries of `order` from the snapshot, after this process's cursor in
    /// this epoch, which moves past them.
    fn order_after_cursor(&self, order: Order, max: u64, limit: usize) -> Result<Vec<Candidate>> {
        let cursors = &self.engine.shared.cursors;
        let mut cursors = cursors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let after = cursors
            .get(&order)
            .filter(|(epoch, _)| *epoch == self.epoch)
            .map(|(_, position)| *position);
        let batch = self.snap.order_after(order, after, max, limit)?;
        if let Some(last) = batch.last() {
            cursors.insert(order, (self.epoch, last.position));
        }
        Ok(batch)
    }
}

fn volume_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
