//! Read snapshots of the database, and the process-wide cached one of the logged write path.
//!
//! Opening a MultiWriter read transaction costs a few microseconds of locks and a header read;
//! a cached one costs nothing. On the logged path every commit to redb is followed by a bump
//! of the epoch (`cache.shm`), so a snapshot opened after reading epoch `e` holds every commit
//! up to `e` and may be reused while the epoch stays `e`. The
//! janitor (`janitor.rs`) drops a cached snapshot within ~10 ms of its going stale, or of its
//! last use, because an idle process holding an old snapshot pins its pages and makes the file
//! grow.

use std::sync::{Arc, Mutex, PoisonError};

use redb::{Database, ReadOnlyTable, ReadTransaction, ReadableDatabase};

use crate::error::Result;
use crate::format::order::{Candidate, Order};
use crate::format::row::Row;
use crate::format::schema::{ENTRIES, META, ORDER_EXPIRE, ORDER_INSERT, SETTINGS, policy_order};
use crate::settings::Settings;

/// The tables of one read transaction.
pub(crate) struct Snapshot {
    txn: ReadTransaction,
    entries: ReadOnlyTable<&'static [u8], &'static [u8]>,
    order_insert: ReadOnlyTable<u64, &'static [u8]>,
    meta: ReadOnlyTable<&'static str, u64>,
    /// `meta.volume`, read once: every growing write of the logged path asks for it.
    volume: std::sync::OnceLock<u64>,
    /// The soonest expire time in `order_expire`, read once: every write of the logged path
    /// that culls asks whether anything in the snapshot has expired.
    soonest_expiry: std::sync::OnceLock<Option<u64>>,
}

impl Snapshot {
    /// Opens a fresh snapshot.
    pub(crate) fn open(db: &Database) -> Result<Snapshot> {
        let txn = db.begin_read()?;
        Ok(Snapshot {
            entries: txn.open_table(ENTRIES)?,
            order_insert: txn.open_table(ORDER_INSERT)?,
            meta: txn.open_table(META)?,
            volume: std::sync::OnceLock::new(),
            soonest_expiry: std::sync::OnceLock::new(),
            txn,
        })
    }

    /// `meta.volume` (0 if absent), read from the database once per snapshot.
    pub(crate) fn volume(&self) -> Result<u64> {
        if let Some(volume) = self.volume.get() {
            return Ok(*volume);
        }
        let volume = self.meta(crate::format::schema::META_VOLUME)?;
        Ok(*self.volume.get_or_init(|| volume))
    }

    /// The soonest expire time of the snapshot's entries (`None` if none expires), read from
    /// the database once per snapshot.
    pub(crate) fn soonest_expiry(&self) -> Result<Option<u64>> {
        if let Some(soonest) = self.soonest_expiry.get() {
            return Ok(*soonest);
        }
        let head = self.order_after(Order::Expire, None, u64::MAX, 1)?;
        let soonest = head.first().map(|c| c.position.0);
        Ok(*self.soonest_expiry.get_or_init(|| soonest))
    }

    /// The stored settings.
    pub(crate) fn settings(&self) -> Result<Settings> {
        Settings::read_from(&self.txn.open_table(SETTINGS)?)
    }

    /// Up to `limit` entries of `order` after position `after` (from the start if `None`)
    /// whose order value is at most `max`. An order table this snapshot does not have (the
    /// policy changed) is empty.
    pub(crate) fn order_after(
        &self,
        order: Order,
        after: Option<(u64, u64)>,
        max: u64,
        limit: usize,
    ) -> Result<Vec<Candidate>> {
        use std::ops::Bound::{Excluded, Included};
        let definition = match order {
            Order::Expire => ORDER_EXPIRE,
            Order::Policy(p) => match policy_order(p) {
                Some((definition, _)) => definition,
                None => return Ok(Vec::new()),
            },
        };
        let table = match self.txn.open_table(definition) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let lowest = if order == Order::Expire {
            (1, 0)
        } else {
            (0, 0)
        };
        if after.is_some_and(|a| a >= (max, u64::MAX)) {
            return Ok(Vec::new());
        }
        let start = after.map_or(Included(lowest), Excluded);
        let mut out = Vec::with_capacity(limit.min(1024));
        for item in table.range((start, Included((max, u64::MAX))))?.take(limit) {
            let (position, key) = item?;
            out.push(Candidate {
                position: position.value(),
                key: key.value().to_vec(),
            });
        }
        Ok(out)
    }

    /// The first (with `last`, the last) key strictly between `low` and `high` for which
    /// `row_of` gives a row, with that row, looking at no more than `limit` keys: `Found(None)`
    /// if there is none, `GaveUp` if `limit` keys had none.
    pub(crate) fn edge_where(
        &self,
        low: &[u8],
        high: &[u8],
        last: bool,
        limit: usize,
        mut row_of: impl FnMut(&[u8]) -> Result<Option<Row>>,
    ) -> Result<EdgeSearch> {
        use std::ops::Bound::Excluded;
        let range = self
            .entries
            .range::<&[u8]>((Excluded(low), Excluded(high)))?;
        let keys: Box<dyn Iterator<Item = _>> = if last {
            Box::new(range.rev())
        } else {
            Box::new(range)
        };
        for (seen, item) in keys.enumerate() {
            if seen == limit {
                return Ok(EdgeSearch::GaveUp);
            }
            let (key, _) = item?;
            let key = key.value().to_vec();
            if let Some(row) = row_of(&key)? {
                return Ok(EdgeSearch::Found(Some((key, row))));
            }
        }
        Ok(EdgeSearch::Found(None))
    }

    /// The row stored under `key`, expired or not.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Row>> {
        match self.entries.get(key)? {
            Some(guard) => Ok(Some(Row::decode(guard.value())?)),
            None => Ok(None),
        }
    }

    /// A counter of the `meta` table (0 if absent).
    pub(crate) fn meta(&self, name: &str) -> Result<u64> {
        Ok(self.meta.get(name)?.map_or(0, |g| g.value()))
    }

    /// Up to `limit` (row id, key) pairs in insertion order, starting after row id `after`.
    pub(crate) fn keys_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>> {
        let mut out = Vec::with_capacity(limit.min(1024));
        let Some(start) = after.checked_add(1) else {
            return Ok(out);
        };
        for item in self.order_insert.range(start..)?.take(limit) {
            let (id, key) = item?;
            out.push((id.value(), key.value().to_vec()));
        }
        Ok(out)
    }

    /// Up to `limit` (key, row) pairs in key order (descending if `reverse`), starting after
    /// key `after` (from the first or last key if `None`). A row that fails to decode is
    /// returned as its error.
    pub(crate) fn sorted_after(
        &self,
        after: Option<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Result<Row>)>> {
        use std::ops::Bound::{Excluded, Unbounded};
        let bounds = match (after, reverse) {
            (None, _) => (Unbounded, Unbounded),
            (Some(k), false) => (Excluded(k), Unbounded),
            (Some(k), true) => (Unbounded, Excluded(k)),
        };
        let range = self.entries.range::<&[u8]>(bounds)?;
        let mut out = Vec::with_capacity(limit.min(1024));
        let mut push = |item: std::result::Result<_, redb::StorageError>| -> Result<()> {
            let (key, row): (redb::AccessGuard<&[u8]>, redb::AccessGuard<&[u8]>) = item?;
            out.push((key.value().to_vec(), Row::decode(row.value())));
            Ok(())
        };
        if reverse {
            for item in range.rev().take(limit) {
                push(item)?;
            }
        } else {
            for item in range.take(limit) {
                push(item)?;
            }
        }
        Ok(out)
    }

    /// The live entry at one end of insertion order (the last if `last`), and the keys of
    /// the expired entries passed on the way to it.
    pub(crate) fn insertion_edge(&self, last: bool, now: u64) -> Result<InsertionEdge> {
        let range = self.order_insert.range::<u64>(..)?;
        let mut edge = InsertionEdge::default();
        let mut visit = |item: std::result::Result<_, redb::StorageError>| -> Result<bool> {
            let (_, key): (redb::AccessGuard<u64>, redb::AccessGuard<&[u8]>) = item?;
            let key = key.value().to_vec();
            match self.get(&key)? {
                Some(row) if row.is_expired(now) => edge.expired.push(key),
                Some(row) => edge.live = Some((key, row)),
                None => {}
            }
            Ok(edge.live.is_some())
        };
        if last {
            for item in range.rev() {
                if visit(item)? {
                    break;
                }
            }
        } else {
            for item in range {
                if visit(item)? {
                    break;
                }
            }
        }
        Ok(edge)
    }
}

/// What [`Snapshot::insertion_edge`] found.
#[derive(Default)]
pub(crate) struct InsertionEdge {
    /// The edge's live entry: its key and row.
    pub(crate) live: Option<(Vec<u8>, Row)>,
    /// The expired entries before it, nearest the edge first.
    pub(crate) expired: Vec<Vec<u8>>,
}

/// What [`Snapshot::edge_where`] found.
pub(crate) enum EdgeSearch {
    /// The edge key and its row, or `None` if the range has none.
    Found(Option<(Vec<u8>, Row)>),
    /// The limit of keys looked at was reached first.
    GaveUp,
}

/// The cached snapshot, tagged with the epoch it was opened under.
#[derive(Default)]
pub(crate) struct SnapshotCache {
    slot: Mutex<Option<Cached>>,
}

/// A cached snapshot and what the janitor needs to know about it.
struct Cached {
    generation: u64,
    snapshot: Arc<Snapshot>,
    /// Whether it was handed out since the janitor's last look.
    used: bool,
    /// The counters' seqlock when it was opened, if that was even and unchanged across the
    /// open: no checkpoint's commit was under way, so the snapshot holds none that began
    /// after.
    opened_at_seq: Option<u64>,
}

impl SnapshotCache {
    /// A snapshot holding every commit up to epoch `generation`: the cached one if it is
    /// tagged `generation`, else a fresh one, which is cached. `generation` must have been
    /// read before this call; `seq` reads the counters' seqlock. Returned with the seqlock's
    /// value when it was opened, if it was even and unchanged across the open.
    pub(crate) fn get(
        &self,
        db: &Database,
        generation: u64,
        seq: impl Fn() -> u64,
    ) -> Result<(Arc<Snapshot>, Option<u64>)> {
        if let Some(cached) = &mut *self.lock()
            && cached.generation == generation
        {
            cached.used = true;
            return Ok((cached.snapshot.clone(), cached.opened_at_seq));
        }
        let before = seq();
        let snapshot = Arc::new(Snapshot::open(db)?);
        let opened_at_seq = (before.is_multiple_of(2) && seq() == before).then_some(before);
        let stale = self.lock().replace(Cached {
            generation,
            snapshot: snapshot.clone(),
            used: true,
            opened_at_seq,
        });
        // The janitor drops it once it is stale or unused.
        crate::engine::janitor::wake();
        crate::engine::boundary::drop_contained(stale);
        Ok((snapshot, opened_at_seq))
    }

    /// Drops the cached snapshot unless it is tagged `current`.
    pub(crate) fn drop_unless(&self, current: u64) {
        self.drop_if(|cached| cached.generation != current);
    }

    /// The janitor's look: drops the cached snapshot if it is not tagged `current` or was not
    /// used since the last look (a process that stopped reading must not pin old pages, and
    /// reopening one costs a few microseconds). Returns whether one is still cached.
    pub(crate) fn tidy(&self, current: u64) -> bool {
        self.drop_if(|cached| {
            let stale = cached.generation != current || !cached.used;
            cached.used = false;
            stale
        })
    }

    /// Drops the cached snapshot if `stale` says so; returns whether one is still cached.
    fn drop_if(&self, stale: impl FnOnce(&mut Cached) -> bool) -> bool {
        let mut slot = self.lock();
        let Some(cached) = slot.as_mut() else {
            return false;
        };
        if !stale(cached) {
            return true;
        }
        let dropped = slot.take();
        drop(slot);
        // Its read transaction may belong to a handle redb panicked in.
        crate::engine::boundary::drop_contained(dropped);
        false
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Cached>> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for SnapshotCache {
    fn drop(&mut self) {
        crate::engine::boundary::drop_contained(self.lock().take());
    }
}
