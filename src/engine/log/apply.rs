//! Applying the log to the database: the latest change per key of a generation's records
//! ([`digest`]) committed in one redb write transaction ([`commit`]), which checkpoints and
//! recovery share.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

use crate::engine::access::{self, Access};
use crate::engine::log::overlay::{Logged, SkippedRecord};
use crate::engine::log::shm::{Shm, Word};
use crate::engine::write::{OpEnv, run_redb_txn};
use crate::error::Result;
use crate::format::blob::{self, BlobPath};
use crate::format::row::Row;

/// Commits `changes` (latest row per key, or a deletion) and `accesses` to redb, with the
/// hits and misses counted in `cache.shm` and the log's `skipped` records (kept for
/// `check` in the `log_damage` table), then deletes the value files nothing refers to
/// any more: those of replaced or removed rows, and `stale_files` (files of log records
/// superseded within the generation). `min_next_row_id` is a floor for the row id counter
/// (the log's own counter).
pub(super) fn commit(
    env: &OpEnv<'_>,
    shm: &Shm,
    changes: Vec<Change>,
    accesses: Vec<(Vec<u8>, Access)>,
    stale_files: Vec<BlobPath>,
    min_next_row_id: u64,
    skipped: &[SkippedRecord],
) -> Result<()> {
    let (hits, misses) = (shm.get(Word::Hits), shm.get(Word::Misses));
    crate::engine::durable::sync_value_files(env, changes.iter().map(|(_, row)| row))?;
    let (_, committed) = run_redb_txn(env, |w| {
        w.add_stats(hits, misses);
        for record in skipped {
            w.keep_skipped_record(record.generation, record.seq, &record.bytes)?;
        }
        let mut max_id = min_next_row_id;
        for (key, row) in &changes {
            let current = w.get(key)?;
            match row {
                Some(row) if current.as_ref() != Some(row) => {
                    max_id = max_id.max(row.row_id.saturating_add(1));
                    w.put(key, row, current.as_ref())?;
                }
                Some(_) => {}
                None => {
                    if let Some(current) = current {
                        w.remove(key, &current)?;
                    }
                }
            }
        }
        for (key, access) in &accesses {
            access::apply(w, key, *access)?;
        }
        w.ensure_next_row_id(max_id)
    })?;
    if committed {
        // Counted since the read above stays in `cache.shm` for the next flush.
        shm.word(Word::Hits).fetch_sub(hits, Ordering::AcqRel);
        shm.word(Word::Misses).fetch_sub(misses, Ordering::AcqRel);
    }
    if committed || !stale_files.is_empty() {
        for file in &stale_files {
            let _ = blob::remove(env.dir, file);
        }
    }
    Ok(())
}

/// One key's change: its new row, or `None` for a deletion.
pub(super) type Change = (Vec<u8>, Option<Row>);

/// The latest change per key of a generation's records, in key order; the accesses of keys
/// the generation did not set or delete after them; and the value files of set records that a
/// later record of the same key superseded.
pub(super) fn digest(records: Vec<(Vec<u8>, Logged)>) -> Result<Digest> {
    let mut files: Vec<BlobPath> = Vec::new();
    let mut latest: HashMap<Vec<u8>, Option<Row>> = HashMap::new();
    let mut accesses: HashMap<Vec<u8>, Access> = HashMap::new();
    for (key, logged) in records {
        let row = match logged {
            Logged::Set(bytes) => Some(Row::decode(&bytes)?),
            Logged::Deleted => None,
            Logged::Access { .. }
                if crate::testing::sabotage::on(
                    crate::testing::sabotage::Sabotage::AccessRecords,
                ) =>
            {
                // Negative control (`sabotage`): other processes' reads are lost.
                continue;
            }
            Logged::Access { time, count } => {
                match latest.get_mut(&key) {
                    // Read after this generation set it: fold into the logged row.
                    Some(Some(row)) => {
                        row.access_time = row.access_time.max(time);
                        row.access_count = row.access_count.saturating_add(count);
                    }
                    Some(None) => {}
                    None => {
                        let a = accesses.entry(key).or_insert(Access { time, count: 0 });
                        a.time = a.time.max(time);
                        a.count = a.count.saturating_add(count);
                    }
                }
                continue;
            }
        };
        files.extend(row.as_ref().and_then(Row::file).cloned());
        // A set or delete starts the key afresh: earlier reads of it no longer count.
        accesses.remove(&key);
        latest.insert(key, row);
    }
    let kept: HashSet<&BlobPath> = latest.values().flatten().filter_map(Row::file).collect();
    let stale = files
        .iter()
        .filter(|f| !kept.contains(f))
        .cloned()
        .collect();
    let mut changes: Vec<_> = latest.into_iter().collect();
    changes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut accesses: Vec<_> = accesses.into_iter().collect();
    accesses.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok((changes, accesses, stale))
}

/// What [`digest`] returns.
type Digest = (Vec<Change>, Vec<(Vec<u8>, Access)>, Vec<BlobPath>);

/// Keeps the last change per key, in key order.
pub(super) fn latest_per_key(changes: Vec<Change>) -> Vec<Change> {
    let latest: HashMap<Vec<u8>, Option<Row>> = changes.into_iter().collect();
    let mut out: Vec<_> = latest.into_iter().collect();
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    out
}
