//! `check(fix)` and `compact()`: verifying a cache against itself and repairing it, and giving
//! the database file's free pages back to the file system.
//!
//! `check` compares four things with each other: redb's own integrity check, every row with
//! its value (inline bytes or value file: present, of the row's size, matching its crc32),
//! the value files on disk with the rows that name them, and the counters and order tables
//! with the rows. It works from the rows alone and does not reuse the code that keeps the
//! tables in step (`txn.rs`), so a bug there shows up here. `format-spec/check.md` lists every
//! check, its repair and the one race it has to leave room for.

mod files;
mod log_damage;
mod tables;

use std::time::{Duration, Instant, SystemTime};

use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::settings::Settings;

/// The least time a value file no row names is left alone, in case its writer (in another
/// process) has written it and is waiting for the write lock to commit its row. The grace is
/// the larger of this and the handle's `timeout` (see [`Cache::check`]).
const MIN_ORPHAN_GRACE: Duration = Duration::from_secs(10);

/// Between attempts of `compact`: long enough for other processes' janitors (every 10 ms) to
/// drop snapshots that a new generation has left behind.
const COMPACT_PAUSE: Duration = Duration::from_millis(20);

impl Cache {
    /// Verifies the cache and returns one warning per problem found; with `fix`, repairs each
    /// (diskcache's `check`). A cache in good order returns no warnings, and after
    /// `check(true)` a `check(false)` returns none.
    ///
    /// What it checks, and what `fix` does about it:
    /// - redb's integrity check of `cache.redb`. It has no look-only mode: damage it finds
    ///   it repairs as it can, with or without `fix` (which may take the database back to
    ///   its previous commit);
    /// - every row decodes, and its value is whole: inline bytes or a value file that exists,
    ///   has the row's size and matches the row's crc32. Fix: the row is removed (and its file);
    /// - every value file (`ab/cd/<hex>.val`, and unfinished `.val.tmp` files) belongs to a
    ///   row. Fix: the file is deleted;
    /// - the `count` and `volume` counters and the row id counter agree with the rows; the
    ///   insertion, expire, eviction-policy and tag order tables hold exactly one entry per row
    ///   that belongs in them, and no table of another policy is left over. Fix: the counter is
    ///   stored again, the table rebuilt from the rows.
    /// - no record of the shared log was left out of the database because its atomic block
    ///   held a damaged record (`format-spec/wal.md`; a checkpoint keeps such records in the
    ///   `log_damage` table). Fix: the table is deleted.
    ///
    /// It holds the write lock throughout (other writers wait; readers do not), reads every
    /// row and every value file, and so takes about as long as reading the whole cache.
    ///
    /// A value file is written *before* its writer takes the write lock to commit its row, so
    /// a file that no row names may belong to a writer in another process that is waiting for
    /// the lock. Such files are left alone (and not reported) until they are older than the
    /// larger of 10 s and this handle's `timeout`, counted from when `check` took the lock: a
    /// writer gives up, and deletes its file, once its own timeout passes. A writer whose
    /// timeout is longer than this handle's can lose its value to `check(true)`; its entry then
    /// reads as absent. Empty value folders are left in place (a writer may be about to use
    /// one).
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let cache = diskcache::Cache::builder().min_file_size(100).open(dir.path())?;
    /// cache.set("small", &1)?;
    /// cache.set("large", &vec![7u8; 1000])?; // in a value file
    /// assert!(cache.check(false)?.is_empty());
    ///
    /// // Damage: the value file disappears.
    /// # let find = |d: &std::path::Path| -> std::io::Result<std::path::PathBuf> {
    /// #     for a in std::fs::read_dir(d)? { let a = a?.path(); if !a.is_dir() { continue; }
    /// #         for b in std::fs::read_dir(&a)? { for f in std::fs::read_dir(b?.path())? {
    /// #             return Ok(f?.path()); } } }
    /// #     Err(std::io::ErrorKind::NotFound.into())
    /// # };
    /// std::fs::remove_file(find(dir.path())?)?;
    /// let warnings = cache.check(false)?;
    /// assert_eq!(warnings.len(), 1);
    /// assert!(warnings[0].contains("large") && warnings[0].contains("missing"));
    ///
    /// cache.check(true)?; // removes the entry whose file is gone
    /// assert!(cache.check(false)?.is_empty());
    /// assert_eq!(cache.get::<i64>("small")?, Some(1));
    /// assert_eq!(cache.len()?, 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Timeout`] if the write lock was not had within the timeout; [`Error::Io`] if
    /// a value file or folder cannot be read (other than missing) or, with `fix`, deleted;
    /// [`Error::Storage`] if the database cannot be read at all. Damage that `check` can
    /// describe is a warning, not an error.
    pub fn check(&self, fix: bool) -> Result<Vec<String>> {
        let store = self.store()?;
        store.exclusive(|env, refresh| {
            let locked_at = SystemTime::now();
            let mut warnings = Vec::new();
            redb_integrity(store, env.settings, &mut warnings)?;
            let grace = MIN_ORPHAN_GRACE.max(env.settings.timeout);
            let cutoff = locked_at
                .checked_sub(grace)
                .unwrap_or(SystemTime::UNIX_EPOCH);
            let txn = env.begin_write()?;
            let mut checker = tables::Checker {
                dir: env.dir,
                fix,
                warnings,
                removed_files: Vec::new(),
                changed: false,
            };
            let orphans = checker.run(&txn, cutoff)?;
            let tables::Checker {
                warnings,
                removed_files,
                changed,
                ..
            } = checker;
            if changed {
                txn.commit()?;
                refresh()?;
            } else {
                txn.abort()?;
            }
            if fix {
                // After the commit: the rows that named these files are gone.
                for file in &removed_files {
                    files::remove_file(&file.under(env.dir))?;
                }
                for orphan in &orphans {
                    files::remove_file(&env.dir.join(orphan))?;
                }
            }
            Ok(warnings)
        })
    }

    /// Gives the database file's free pages back to the file system: redb reuses the pages
    /// of deleted entries but never shrinks `cache.redb` by itself. Value files are not
    /// concerned (they are deleted with their entries).
    ///
    /// It holds the write lock, and needs a moment when no process holds a read snapshot of
    /// the database: it starts a new generation, which makes every process drop its cached
    /// snapshot within about 10 ms, and retries every 20 ms until the handle's `timeout`.
    /// While redb compacts, other processes' reads that need the database wait.
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let cache = diskcache::Cache::open(dir.path())?;
    /// for i in 0..1000 {
    ///     cache.set(i, &vec![0u8; 1000])?;
    /// }
    /// cache.clear()?;
    /// cache.set("kept", &1)?;
    /// cache.compact()?;
    /// assert_eq!(cache.get::<i64>("kept")?, Some(1));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Timeout`] if the write lock was not had within the timeout, or some process
    /// kept a read snapshot open until it passed; [`Error::Io`]; [`Error::Storage`].
    pub fn compact(&self) -> Result<()> {
        let store = self.store()?;
        store.exclusive(|env, refresh| {
            let deadline = crate::time::deadline(env.settings.timeout);
            let mut db = store.second_handle(env.settings)?;
            // Every process drops the snapshot it cached: this one at once, the others
            // within a janitor round. Until they have, the old pages stay pinned.
            refresh()?;
            loop {
                match db.database_mut()?.compact() {
                    Ok(_) => return Ok(()),
                    Err(redb::CompactionError::TransactionInProgress) => {}
                    Err(redb::CompactionError::Storage(e)) => return Err(e.into()),
                    Err(e) => return Err(Error::Storage(e.to_string())),
                }
                if left(deadline).is_zero() {
                    return Err(Error::Timeout);
                }
                // A process that read since the last generation cached a new snapshot.
                refresh()?;
                std::thread::sleep(COMPACT_PAUSE.min(left(deadline)));
            }
        })
    }
}

fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Runs redb's integrity check on a second handle (ours may not be borrowed mutably, and
/// holds transactions); what it finds is a warning.
fn redb_integrity(
    store: &crate::store::Store,
    settings: &Settings,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let mut db = match store.second_handle(settings) {
        Ok(db) => db,
        Err(Error::Timeout) => return Err(Error::Timeout),
        Err(e) => {
            warnings.push(format!(
                "{}: cannot be opened to check it: {e}",
                crate::schema::DB_FILE
            ));
            return Ok(());
        }
    };
    let checked = crate::boundary::contain(|| db.database_mut().map(|db| db.check_integrity()));
    match checked {
        Ok(Ok(Ok(true))) => {}
        Ok(Ok(Ok(false))) => warnings.push(format!(
            "{}: failed redb's integrity check, and redb repaired it",
            crate::schema::DB_FILE
        )),
        Ok(Ok(Err(e))) => warnings.push(format!(
            "{}: fails redb's integrity check: {e}",
            crate::schema::DB_FILE
        )),
        Ok(Err(e)) => return Err(e),
        Err(panic) => warnings.push(format!(
            "{}: redb's integrity check failed on a damaged page ({panic})",
            crate::schema::DB_FILE
        )),
    }
    Ok(())
}
