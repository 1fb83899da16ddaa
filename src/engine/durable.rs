//! What the [`Durability::Normal`] level adds to the logged path (format-spec/durability.md):
//!
//! - [`sync_value_files`]: before a checkpoint's redb commit makes rows reachable that name
//!   value files, those files are synced, then their folders (the rename into place, and a
//!   folder made for it); redb's own commit order then syncs the commit.
//! - [`LogAge`]: how long the log's current generation has held records, as this process
//!   has seen it; the janitor checkpoints once that passes [`MAX_LOG_AGE`], so a logged
//!   record waits about a second at most for its durable checkpoint.
//! - [`after_power_loss`]: an open that finds the machine went down with the cache open
//!   drops the log (never synced at this level) instead of replaying it, and runs no
//!   `check(true)`: the database then holds exactly its last synced commit, whose value files
//!   were synced before it.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::engine::shutdown::{Marker, Verdict};
use crate::engine::write::OpEnv;
use crate::error::Result;
use crate::format::blob::{self, BlobPath};
use crate::format::row::Row;
use crate::settings::{Durability, Setting, Settings, WritePath};
use crate::testing::fault::{self, Point};
use crate::testing::recorder;
use crate::testing::sabotage::{self, Sabotage};

/// The longest a logged record waits for its checkpoint at [`Durability::Normal`], counted
/// from when this process first saw its generation hold records (the janitor then
/// checkpoints if the write lock is free).
pub(crate) const MAX_LOG_AGE: Duration = Duration::from_secs(1);

/// Syncs the value files that `rows` name (rows a checkpoint is about to commit), then each
/// folder they are in, that folder's parent and the cache directory, each once: after this,
/// the files' data and names are durable. Does nothing below [`Durability::Normal`] (and at
/// [`Durability::Sync`], whose files were synced when written). A file that is not there, or
/// is not a regular file (never opened: a FIFO would block), is skipped: its row is damage that
/// `check` reports, and the commit must not be refused for it.
///
/// # Errors
/// [`crate::Error::Io`] from a sync: the checkpoint then fails before it commits.
pub(crate) fn sync_value_files<'a>(
    env: &OpEnv<'_>,
    rows: impl Iterator<Item = &'a Option<Row>>,
) -> Result<()> {
    if !env.settings.durability.syncs_value_files_at_checkpoint()
        || sabotage::on(Sabotage::NoCheckpointFileSync)
    {
        return Ok(());
    }
    let mut folders = BTreeSet::new();
    for file in rows.filter_map(|row| row.as_ref().and_then(Row::file)) {
        let path = file.under(env.dir);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        }
        fault::check(Point::ValueSync)?;
        match std::fs::File::open(&path).and_then(|f| f.sync_all()) {
            Ok(()) => recorder::sync_file(&path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        }
        // `ab/cd/<name>.val`: its folder, and that folder's parent.
        let mut folder = path.parent();
        for _level in 0..2 {
            let Some(f) = folder.filter(|f| f.starts_with(env.dir) && *f != env.dir) else {
                break;
            };
            folders.insert(f.to_path_buf());
            folder = f.parent();
        }
    }
    if folders.is_empty() {
        return Ok(());
    }
    folders.insert(env.dir.to_path_buf());
    // Deepest first: a folder's own names, then its name in its parent.
    for folder in folders.iter().rev() {
        fault::check(Point::ValueSync)?;
        match blob::sync_dir(folder) {
            Err(crate::Error::Io(e)) if e.kind() == io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    Ok(())
}

/// Of the value files `replaced` by a logged write of `keys`, those that may be deleted as
/// soon as the write is logged. All of them but at [`Durability::Normal`], where a power loss
/// drops the log: a file that the database's row of one of `keys` names (in the `snapshot`
/// of the current epoch) must stay until the checkpoint that replaces that row deletes it,
/// or the synced row would name a missing file; and while a lane is `sealed`, none goes (its
/// checkpoint may commit a row naming one). A file only the active lane named goes now. If
/// the database cannot be read, every file waits for the checkpoint.
pub(crate) fn deletable_now<'a, 'k>(
    env: &OpEnv<'_>,
    replaced: &'a [BlobPath],
    keys: impl Iterator<Item = &'k [u8]>,
    sealed: bool,
    snapshot: impl FnOnce() -> Result<std::sync::Arc<crate::engine::snapshot::Snapshot>>,
) -> Vec<&'a BlobPath> {
    if replaced.is_empty()
        || !env.settings.durability.syncs_value_files_at_checkpoint()
        || sabotage::on(Sabotage::ReplacedFilesGoEarly)
    {
        return replaced.iter().collect();
    }
    if sealed {
        // The sealed lane's checkpoint may commit, synced, a row naming any of them.
        return Vec::new();
    }
    let Ok(snapshot) = snapshot() else {
        return Vec::new();
    };
    let mut named = Vec::new();
    for key in keys {
        match snapshot.get(key) {
            Ok(row) => named.extend(row.as_ref().and_then(Row::file).cloned()),
            Err(_) => return Vec::new(),
        }
    }
    replaced.iter().filter(|f| !named.contains(f)).collect()
}

/// Per process: the log generation this process last saw, and when it first saw that
/// generation hold records (`None` while it held none).
#[derive(Debug, Default)]
pub(crate) struct LogAge {
    seen: Mutex<Option<(u64, Option<Instant>)>>,
}

/// What the janitor should do about the log's age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    /// Nothing: the level does not bound the wait, or the log holds no records.
    Nothing,
    /// Look again next round: the records are younger than [`MAX_LOG_AGE`].
    Later,
    /// Checkpoint now (if the write lock is free).
    Now,
}

impl LogAge {
    /// The janitor's round at [`Durability::Normal`]: notes that the log's generation
    /// `generation` holds `records` records, and runs `checkpoint` (which takes the write
    /// lock without waiting) once they have waited [`MAX_LOG_AGE`]. Returns whether to look
    /// again next round: records still wait (too young, or the lock was taken).
    ///
    /// # Errors
    /// What `checkpoint` fails with, but [`crate::Error::Timeout`] (the lock was taken).
    pub(crate) fn checkpoint_if_old(
        &self,
        env: &OpEnv<'_>,
        generation: u64,
        records: u64,
        checkpoint: impl FnOnce() -> Result<()>,
    ) -> Result<bool> {
        match self.poll(env.settings.durability, generation, records, Instant::now()) {
            Due::Nothing => Ok(false),
            Due::Later => Ok(true),
            Due::Now => match checkpoint() {
                Ok(()) => Ok(false),
                Err(crate::Error::Timeout) => Ok(true),
                Err(e) => Err(e),
            },
        }
    }

    /// Notes that generation `generation` holds `records` records at `now`, and says
    /// whether they have waited long enough for a checkpoint.
    fn poll(&self, durability: Durability, generation: u64, records: u64, now: Instant) -> Due {
        if durability != Durability::Normal || sabotage::on(Sabotage::LogAgeIgnored) {
            return Due::Nothing;
        }
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let first = match *seen {
            Some((g, first)) if g == generation => first,
            _ => None,
        };
        let first = if records == 0 {
            None
        } else {
            Some(first.unwrap_or(now))
        };
        *seen = Some((generation, first));
        match first {
            None => Due::Nothing,
            Some(t) if now.saturating_duration_since(t) >= MAX_LOG_AGE => Due::Now,
            Some(_) => Due::Later,
        }
    }
}

/// At open, before the log is opened: if the marker says the machine went down with the
/// cache open and the cache ran at [`Durability::Normal`] (the level it stores, not changed
/// by this open's `overrides`), drops the log, which that level never syncs, so that its
/// records (which may be torn, or name value files that were not synced) are never replayed:
/// the headers of `cache.wal`'s lanes are overwritten with zeros (lanes with no generation)
/// and synced. The open then runs no `check(true)`: the database holds its last synced commit
/// and every value file its rows name was synced before that commit.
///
/// # Errors
/// [`crate::Error::Io`] if the log's header cannot be written or synced.
pub(crate) fn after_power_loss(
    dir: &Path,
    marker: &Marker,
    stored: &Settings,
    overrides: &[Setting],
    rewrote: bool,
) -> Result<()> {
    let overridden = rewrote
        && overrides
            .iter()
            .any(|o| matches!(o, Setting::Durability(_)));
    if marker.verdict() != Verdict::Check {
        return Ok(());
    }
    if stored.durability != Durability::Normal || overridden {
        crate::observe::power_loss(false);
        return Ok(());
    }
    if stored.write_path == WritePath::Logged {
        let path = dir.join(crate::engine::log::wal::WAL_FILE);
        match std::fs::OpenOptions::new().write(true).open(&path) {
            Ok(file) => {
                for lane in [0, 1] {
                    let at = crate::engine::log::wal::lane_start(lane);
                    crate::platform::io::write_all_at(&file, &[0u8; 16], at)?;
                    recorder::write(&path, at, &[0u8; 16]);
                }
                file.sync_data()?;
                recorder::sync_file(&path);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    marker.skip_check();
    crate::observe::power_loss(true);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_due_a_second_after_this_process_first_saw_their_generation_hold_any() {
        let age = LogAge::default();
        let t0 = Instant::now();
        let normal = Durability::Normal;
        assert_eq!(age.poll(normal, 7, 0, t0), Due::Nothing);
        assert_eq!(age.poll(normal, 7, 3, t0), Due::Later);
        assert_eq!(age.poll(normal, 7, 9, t0 + MAX_LOG_AGE / 2), Due::Later);
        assert_eq!(age.poll(normal, 7, 9, t0 + MAX_LOG_AGE), Due::Now);
        // A new generation starts the count again.
        assert_eq!(age.poll(normal, 8, 1, t0 + MAX_LOG_AGE * 2), Due::Later);
        assert_eq!(age.poll(normal, 8, 1, t0 + MAX_LOG_AGE * 3), Due::Now);
        // Emptied within the generation: nothing waits.
        assert_eq!(age.poll(normal, 8, 0, t0 + MAX_LOG_AGE * 3), Due::Nothing);
        // Other levels never bound the wait.
        for level in [Durability::NoSync, Durability::Sync] {
            assert_eq!(age.poll(level, 9, 5, t0 + MAX_LOG_AGE * 9), Due::Nothing);
        }
    }
}
