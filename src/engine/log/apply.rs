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
/// (the log's own counter). `before_commit` runs once everything is applied, right before
/// the commit.
/// Changes applied between two notes of a checkpoint's progress.
const PROGRESS_SLICE: usize = 1024;

pub(super) fn commit(
    env: &OpEnv<'_>,
    shm: &Shm,
    (changes, accesses, stale_files): Digest,
    min_next_row_id: u64,
    skipped: &[SkippedRecord],
    before_commit: impl FnOnce(),
) -> Result<()> {
    let (hits, misses) = (shm.get(Word::Hits), shm.get(Word::Misses));
    crate::engine::durable::sync_value_files(env, changes.iter().map(|(_, row)| row))?;
    let (_, committed) = run_redb_txn(env, |w| {
        w.add_stats(hits, misses);
        for record in skipped {
            w.keep_skipped_record(record.generation, record.seq, &record.bytes)?;
        }
        // In slices, noting the progress for the writers' pacing (`pace.rs`).
        let mut stored_id = None;
        let (started, mut done) = (std::time::Instant::now(), 0);
        for slice in changes.chunks(PROGRESS_SLICE) {
            stored_id = stored_id.max(w.apply_changes(slice)?);
            done += slice.len();
            crate::engine::log::pace::note_progress(shm, started, done, changes.len());
        }
        let max_id = stored_id.map_or(min_next_row_id, |id| {
            min_next_row_id.max(id.saturating_add(1))
        });
        for (key, access) in &accesses {
            access::apply(w, key, *access)?;
        }
        w.ensure_next_row_id(max_id)?;
        before_commit();
        Ok(())
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
    // Decoded in log order, so that a damaged record is found where a reader of the log would.
    // The keys are sorted apart from the records, with their records' places, so that the sort
    // moves no rows.
    let mut keys: Vec<(Vec<u8>, usize)> = Vec::with_capacity(records.len());
    let mut decoded: Vec<Option<Record>> = Vec::with_capacity(records.len());
    for (key, logged) in records {
        let record = match logged {
            Logged::Set(bytes) => Record::Set(Row::decode(&bytes)?),
            Logged::Deleted => Record::Deleted,
            Logged::Access { .. }
                if crate::testing::sabotage::on(
                    crate::testing::sabotage::Sabotage::AccessRecords,
                ) =>
            {
                // Negative control (`sabotage`): other processes' reads are lost.
                continue;
            }
            Logged::Access { time, count } => Record::Access(Access { time, count }),
        };
        keys.push((key, decoded.len()));
        decoded.push(Some(record));
    }
    // Each key's records side by side, in key order and within a key in log order (the sort
    // is stable).
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    let mut files: Vec<BlobPath> = Vec::new();
    let mut changes: Vec<Change> = Vec::new();
    let mut accesses: Vec<(Vec<u8>, Access)> = Vec::new();
    let mut keys = keys.into_iter().peekable();
    while let Some((key, first)) = keys.next() {
        let mut state = KeyState::default();
        let mut place = Some(first);
        while let Some(at) = place {
            if let Some(record) = decoded.get_mut(at).and_then(Option::take) {
                state.fold(record, &mut files);
            }
            place = keys.next_if(|(next, _)| *next == key).map(|(_, at)| at);
        }
        match state {
            KeyState {
                latest: Some(row), ..
            } => changes.push((key, row)),
            KeyState {
                latest: None,
                access: Some(access),
            } => accesses.push((key, access)),
            KeyState { .. } => {}
        }
    }
    let kept: HashSet<&BlobPath> = changes
        .iter()
        .filter_map(|(_, row)| row.as_ref().and_then(Row::file))
        .collect();
    let stale = files
        .iter()
        .filter(|f| !kept.contains(f))
        .cloned()
        .collect();
    Ok((changes, accesses, stale))
}

/// One record of a generation, its row decoded.
enum Record {
    Set(Row),
    Deleted,
    Access(Access),
}

/// What one key's records of a generation come to, folded in log order.
#[derive(Default)]
struct KeyState {
    /// The latest set's row or delete (`None` inside); `None` before the first of them.
    latest: Option<Option<Row>>,
    /// The reads since the last set or delete, while there has been none.
    access: Option<Access>,
}

impl KeyState {
    /// Folds in the key's next record; a set's value file goes to `files`.
    fn fold(&mut self, record: Record, files: &mut Vec<BlobPath>) {
        match record {
            Record::Set(row) => {
                files.extend(row.file().cloned());
                // A set or delete starts the key afresh: earlier reads of it no longer count.
                self.access = None;
                self.latest = Some(Some(row));
            }
            Record::Deleted => {
                self.access = None;
                self.latest = Some(None);
            }
            Record::Access(Access { time, count }) => match &mut self.latest {
                // Read after this generation set it: fold into the logged row.
                Some(Some(row)) => {
                    row.access_time = row.access_time.max(time);
                    row.access_count = row.access_count.saturating_add(count);
                }
                Some(None) => {}
                None => {
                    let a = self.access.get_or_insert(Access { time, count: 0 });
                    a.time = a.time.max(time);
                    a.count = a.count.saturating_add(count);
                }
            },
        }
    }
}

/// What [`digest`] returns.
pub(super) type Digest = (Vec<Change>, Vec<(Vec<u8>, Access)>, Vec<BlobPath>);

/// Keeps the last change per key, in key order.
pub(super) fn latest_per_key(changes: Vec<Change>) -> Vec<Change> {
    let latest: HashMap<Vec<u8>, Option<Row>> = changes.into_iter().collect();
    let mut out: Vec<_> = latest.into_iter().collect();
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::row::ValuePlace;
    use crate::format::value::ValueKind;

    fn row(id: u64, file: Option<&str>) -> Row {
        Row {
            row_id: id,
            store_time: 100,
            expire_time: 0,
            access_time: 100,
            access_count: 0,
            kind: ValueKind::Bytes,
            packed: false,
            size: 1,
            crc32: 0,
            tag: None,
            full_key: None,
            place: match file {
                Some(path) => ValuePlace::File(BlobPath::parse(path).unwrap()),
                None => ValuePlace::Inline(vec![0]),
            },
        }
    }

    fn set(key: &str, row: &Row) -> (Vec<u8>, Logged) {
        (key.into(), Logged::Set(row.encode().unwrap()))
    }

    fn read(key: &str, time: u64, count: u64) -> (Vec<u8>, Logged) {
        (key.into(), Logged::Access { time, count })
    }

    #[test]
    fn digest_keeps_each_keys_latest_change_its_later_reads_and_the_files_it_left() {
        let file = |n| format!("{n}{n}/23/{n}{n}23456789abcdef0123456789abcdef.val");
        let (old_c, new_c) = (file(1), file(2));
        let records = vec![
            read("b", 50, 1),
            set("c", &row(3, Some(&old_c))),
            set("a", &row(1, None)),
            read("b", 40, 2),
            read("a", 300, 2),
            read("d", 70, 1),
            set("c", &row(4, Some(&new_c))),
            ("d".into(), Logged::Deleted),
            read("d", 80, 1),
            read("e", 90, 1),
            ("e".into(), Logged::Deleted),
            set("e", &row(5, None)),
        ];
        let (changes, accesses, stale) = digest(records).unwrap();
        let mut a = row(1, None);
        a.access_time = 300;
        a.access_count = 2;
        assert_eq!(
            changes,
            vec![
                (b"a".to_vec(), Some(a)),
                (b"c".to_vec(), Some(row(4, Some(&new_c)))),
                (b"d".to_vec(), None),
                (b"e".to_vec(), Some(row(5, None))),
            ]
        );
        assert_eq!(
            accesses,
            vec![(b"b".to_vec(), Access { time: 50, count: 3 })]
        );
        assert_eq!(stale, vec![BlobPath::parse(&old_c).unwrap()]);
    }
}
