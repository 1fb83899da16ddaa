//! Reads noted for the eviction policy and for statistics: gathered in memory, never written
//! by the read itself, and carried into the database by the next commit.
//!
//! A hit under least-recently-used or least-frequently-used moves the key's access time or
//! count. Writing that per read would turn every `get` into a write, so this process gathers
//! the latest access time and the number of accesses per key here; the next write of this
//! process (or the process's janitor, within ~10 ms of the first, if the write lock is free)
//! logs them as access records, and a checkpoint folds them into the rows and the policy's
//! order table. On the direct path they go into the next write transaction (or the janitor's,
//! every tenth round: ~100 ms). The order a cull sees therefore lags another process's reads
//! by about one such delay while the write lock is free.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::engine::write::RowWriter;
use crate::error::Result;

/// Keys whose accesses are gathered at most; accesses of further keys are dropped until the
/// next flush (the policy's order is approximate, never wrong about what is stored).
const MAX_PENDING: usize = 65536;

/// One key's gathered accesses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Access {
    /// The latest access time, µs since the epoch.
    pub(crate) time: u64,
    /// How many accesses.
    pub(crate) count: u64,
}

/// The accesses and hit/miss counts this process has not written yet.
#[derive(Debug, Default)]
pub(crate) struct Accesses {
    pending: Mutex<HashMap<Vec<u8>, Access>>,
    /// Whether `pending` may hold anything: lets the write path skip the mutex.
    any: AtomicBool,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Accesses {
    /// Notes one access of `key` at `now`.
    pub(crate) fn note(&self, key: &[u8], now: u64) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(access) = pending.get_mut(key) {
            access.time = access.time.max(now);
            access.count = access.count.saturating_add(1);
        } else if pending.len() < MAX_PENDING {
            pending.insert(
                key.to_vec(),
                Access {
                    time: now,
                    count: 1,
                },
            );
            self.any.store(true, Ordering::Release);
            crate::engine::janitor::wake();
        }
    }

    /// Whether any access waits to be written.
    pub(crate) fn is_empty(&self) -> bool {
        !self.any.load(Ordering::Acquire)
    }

    /// Takes every gathered access, in key order.
    pub(crate) fn take(&self) -> Vec<(Vec<u8>, Access)> {
        if self.is_empty() {
            return Vec::new();
        }
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        self.any.store(false, Ordering::Release);
        let mut out: Vec<_> = pending.drain().collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Whether nothing at all waits to be written: no access, no hit or miss count.
    pub(crate) fn is_idle(&self) -> bool {
        self.is_empty() && self.counts() == (0, 0)
    }

    /// Counts a hit (`true`) or a miss, on the direct path (the logged path counts in
    /// `cache.shm`).
    pub(crate) fn count(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        if counter.fetch_add(1, Ordering::Relaxed) == 0 {
            crate::engine::janitor::wake();
        }
    }

    /// Takes the hits and misses counted since the last call.
    pub(crate) fn take_counts(&self) -> (u64, u64) {
        (
            self.hits.swap(0, Ordering::Relaxed),
            self.misses.swap(0, Ordering::Relaxed),
        )
    }

    /// The hits and misses counted and not yet taken.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

/// Folds `access` into the row stored under `key`, if there is one: the access time moves to
/// the later of the two, the count grows. The row is rewritten only if that changes it.
pub(crate) fn apply(w: &mut dyn RowWriter, key: &[u8], access: Access) -> Result<()> {
    let Some(old) = w.get(key)? else {
        return Ok(());
    };
    let mut row = old.clone();
    row.access_time = row.access_time.max(access.time);
    row.access_count = row.access_count.saturating_add(access.count);
    if row != old {
        w.put(key, &row, Some(&old))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accesses_merge_per_key_and_drain_in_key_order() {
        let a = Accesses::default();
        assert!(a.is_empty());
        a.note(b"b", 5);
        a.note(b"a", 7);
        a.note(b"b", 3);
        assert!(!a.is_empty());
        let taken = a.take();
        assert_eq!(
            taken,
            vec![
                (b"a".to_vec(), Access { time: 7, count: 1 }),
                (b"b".to_vec(), Access { time: 5, count: 2 }),
            ]
        );
        assert!(a.is_empty());
        assert!(a.take().is_empty());
    }

    #[test]
    fn hit_and_miss_counts_are_taken_once() {
        let a = Accesses::default();
        a.count(true);
        a.count(true);
        a.count(false);
        assert_eq!(a.counts(), (2, 1));
        assert_eq!(a.take_counts(), (2, 1));
        assert_eq!(a.take_counts(), (0, 0));
    }
}
