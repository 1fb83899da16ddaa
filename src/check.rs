//! `check(fix)` and `compact()`: verifying a cache against itself and repairing it, and giving
//! the database file's free pages back to the file system.
//!
//! `check` compares four things with each other: redb's own integrity check, every row with
//! its value (inline bytes or value file: present, of the row's size, matching its crc32),
//! the value files on disk with the rows that name them, and the counters and order tables
//! with the rows. It does the long work on a read snapshot without the write lock
//! ([`scan`]), then looks at each finding again under the lock, in slices of a few
//! milliseconds, and repairs it there with `fix` ([`confirm`]). `format-spec/check.md` lists
//! every check, its repair and the races it has to leave room for.
//!
//! `check_with_progress` and `compact_with_progress` report as they go (`crate::progress`):
//! `check` while it reads the rows, between the order tables and after each slice of its
//! confirmation; `compact` after each attempt that found a snapshot still held.

mod confirm;
mod files;
mod finding;
mod findings;
mod log_damage;
mod scan;

use std::ops::ControlFlow;
use std::time::{Duration, Instant, SystemTime};

pub use finding::{Counter, Finding};

use crate::cache::Cache;
use crate::engine::Store;
use crate::error::{Error, Result};
use crate::progress::{Outcome, Phase, Progress, Reporter};
use crate::settings::Settings;

/// The least time a value file no row names is left alone, in case its writer (in another
/// process) has written it and is waiting for the write lock to commit its row. The grace is
/// the larger of this and the handle's `timeout` (see [`Cache::check`]).
const MIN_ORPHAN_GRACE: Duration = Duration::from_secs(10);

/// Between attempts of `compact`: long enough for other processes' janitors (a round every
/// 10 ms while a snapshot is cached) to drop snapshots that a new generation has left behind.
const COMPACT_PAUSE: Duration = Duration::from_millis(20);

impl Cache {
    /// Verifies the cache and returns one [`Finding`] per problem found; with `fix`, repairs
    /// each (diskcache's `check`, whose warnings are the findings' `Display`). A cache in good
    /// order returns none, and after `check(true)` a `check(false)` returns none.
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
    ///   corrected, the entries that are wrong removed and those missing added, a left-over
    ///   table deleted.
    /// - no record of the shared log was left out of the database because its atomic block
    ///   held a damaged record (`format-spec/wal.md`; a checkpoint keeps such records in the
    ///   `log_damage` table). Fix: the records reported are deleted from the table.
    ///
    /// It reads every row and every value file, and so takes about as long as reading the
    /// whole cache, but other writers barely wait for it: it reads a snapshot of the database
    /// (taken under the write lock after the log is checkpointed) without the lock, then looks
    /// at each finding again under the lock in slices of a few milliseconds, against the
    /// cache as it is then, and repairs it there with `fix`. A finding that no longer holds (a
    /// writer has since replaced or removed the row) is not reported. redb's integrity check
    /// runs first, on a second handle, outside the write lock, but it holds redb's own writer
    /// lock while it runs (0.1-0.3 s for 200,000 entries): on the direct write path every
    /// writer waits for it, on the logged path only a write that needs a checkpoint then.
    ///
    /// A value file is written *before* its writer takes the write lock to commit its row, so
    /// a file that no row names may belong to a writer in another process that is waiting for
    /// the lock. Such files are left alone (and not reported) until they are older than the
    /// larger of 10 s and this handle's `timeout`, counted from when `check` took its
    /// snapshot: a writer gives up, and deletes its file, once its own timeout passes. A
    /// writer whose timeout is longer than this handle's can lose its value to `check(true)`;
    /// its entry then reads as absent. Empty value folders are left in place (a writer may be
    /// about to use one).
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
    /// let findings = cache.check(false)?;
    /// assert_eq!(findings.len(), 1);
    /// assert_eq!(findings[0].key(), Some("large".into()));
    /// assert!(findings[0].to_string().contains("missing"));
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
    /// describe is a finding, not an error.
    pub fn check(&self, fix: bool) -> Result<Vec<Finding>> {
        self.check_reporting(fix, &mut Reporter::silent())
            .map(Outcome::into_value)
    }

    /// As [`Cache::check`], calling `progress` as it goes: [`Phase::Integrity`], then
    /// [`Phase::Rows`] every 1024 rows read (out of the snapshot's rows), [`Phase::Files`],
    /// [`Phase::Tables`] after each order table, and [`Phase::Confirm`] after each slice of
    /// the confirmation (with `fix`, the repair). A [`ControlFlow::Break`] from `progress`
    /// stops it there and returns [`Outcome::Stopped`] with the findings confirmed until then:
    /// stopped before the confirmation, only redb's; with `fix`, the repairs of the slices
    /// that ran are committed and the rest is left for the next `check`.
    ///
    /// # Errors
    /// As [`Cache::check`].
    pub fn check_with_progress(
        &self,
        fix: bool,
        mut progress: impl FnMut(&Progress) -> ControlFlow<()>,
    ) -> Result<Outcome<Vec<Finding>>> {
        self.check_reporting(fix, &mut Reporter::new(&mut progress))
    }

    /// [`Cache::check`], reporting to `report`, which may stop it.
    pub(crate) fn check_reporting(
        &self,
        fix: bool,
        report: &mut Reporter<'_>,
    ) -> Result<Outcome<Vec<Finding>>> {
        let store = self.store()?;
        match look(store, fix, report)? {
            Outcome::Finished(seen) => conclude(store, seen, fix, report),
            Outcome::Stopped(seen) => Ok(Outcome::Stopped(seen.warnings)),
        }
    }

    /// Gives the database file's free pages back to the file system: redb reuses the pages
    /// of deleted entries but never shrinks `cache.redb` by itself. Value files are not
    /// concerned (they are deleted with their entries).
    ///
    /// It needs a moment when no process holds a read snapshot of the database: under the
    /// write lock it starts a new generation, which makes every process drop its cached
    /// snapshot within about 10 ms, and retries every 20 ms until the handle's `timeout`.
    ///
    /// Unlike the other whole-cache operations it does not work in slices: redb's compaction
    /// is one call that holds redb's writer and header locks to its end, and it holds the
    /// write lock throughout, so other writers wait for the whole of it (0.15-0.25 s for a
    /// database of 100,000 entries, measured with `examples/maintenance_latency`). Without
    /// the write lock a writing process keeps a snapshot of the current generation open and
    /// compaction almost never finds its moment. While redb compacts, other processes' reads
    /// that need the database wait too.
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
        self.compact_reporting(&mut Reporter::silent())
            .map(Outcome::into_value)
    }

    /// As [`Cache::compact`], calling `progress` ([`Phase::Compact`]) before the first
    /// attempt and after each attempt that found a read snapshot still held. A
    /// [`ControlFlow::Break`] from `progress` gives up there ([`Outcome::Stopped`]): nothing
    /// was compacted, and the database is as it was.
    ///
    /// # Errors
    /// As [`Cache::compact`].
    pub fn compact_with_progress(
        &self,
        mut progress: impl FnMut(&Progress) -> ControlFlow<()>,
    ) -> Result<Outcome<()>> {
        self.compact_reporting(&mut Reporter::new(&mut progress))
    }

    /// [`Cache::compact`], reporting to `report`, which may stop it between attempts.
    pub(crate) fn compact_reporting(&self, report: &mut Reporter<'_>) -> Result<Outcome<()>> {
        let store = self.store()?;
        if report.start(Phase::Compact, None).is_break() {
            return Ok(Outcome::Stopped(()));
        }
        store.exclusive(|env, refresh| {
            let deadline = crate::time::deadline(env.settings.timeout);
            let mut db = store.second_handle(env.settings)?;
            // Every process drops the snapshot it cached: this one at once, the others
            // within a janitor round. Until they have, the old pages stay pinned.
            refresh()?;
            loop {
                match db.database_mut()?.compact() {
                    Ok(_) => return Ok(Outcome::Finished(())),
                    Err(redb::CompactionError::TransactionInProgress) => {}
                    Err(redb::CompactionError::Storage(e)) => return Err(e.into()),
                    Err(e) => return Err(Error::storage(e.to_string())),
                }
                if left(deadline).is_zero() {
                    return Err(Error::Timeout);
                }
                if report.advance(1).is_break() {
                    return Ok(Outcome::Stopped(()));
                }
                // A process that read since the last generation cached a new snapshot.
                refresh()?;
                std::thread::sleep(COMPACT_PAUSE.min(left(deadline)));
            }
        })
    }
}

/// What the first part of `check` saw: redb's integrity check, and the findings of the
/// snapshot.
struct Seen {
    warnings: Vec<Finding>,
    /// With `fix`, this check's token (see `confirm`).
    token: Option<u64>,
    findings: findings::Findings,
}

/// The first part of `check`: redb's integrity check, then the pass over a snapshot, both
/// without the write lock. Stopped by `report`, what it saw until then (no findings of the
/// snapshot).
fn look(store: &Store, fix: bool, report: &mut Reporter<'_>) -> Result<Outcome<Seen>> {
    let settings = store.settings();
    let mut warnings = Vec::new();
    let stopped = |warnings| {
        Ok(Outcome::Stopped(Seen {
            warnings,
            token: None,
            findings: findings::Findings::default(),
        }))
    };
    if report.start(Phase::Integrity, None).is_break() {
        return stopped(warnings);
    }
    // With the log empty, a writer needs no checkpoint (which would wait for redb's writer
    // lock) while redb's check holds that lock.
    store.checkpoint()?;
    let repaired = redb_integrity(store, &settings, &mut warnings)?;
    let token = if fix {
        let token = crate::ops::build::random_token();
        store.slice(|w, _| w.set_check_token(Some(token)))?;
        Some(token)
    } else {
        None
    };
    // A snapshot that holds every operation so far (the log checkpointed), and the time it
    // was taken, which the grace for files without a row counts from.
    let (snapshot, taken) = store.exclusive(|env, refresh| {
        if repaired {
            // redb's repair changed the database: every process drops its snapshot.
            refresh()?;
        }
        Ok((
            redb::ReadableDatabase::begin_read(env.db)?,
            SystemTime::now(),
        ))
    })?;
    let grace = MIN_ORPHAN_GRACE.max(settings.timeout);
    let cutoff = taken.checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH);
    // Dropped inside the boundary too: redb may panic closing a snapshot it panicked in.
    let scanned = store.with_database(move |_| {
        let findings = scan::scan(&snapshot, store.dir(), cutoff, report);
        drop(snapshot);
        findings
    })?;
    match scanned {
        ControlFlow::Continue(findings) => Ok(Outcome::Finished(Seen {
            warnings,
            token,
            findings,
        })),
        ControlFlow::Break(()) => stopped(warnings),
    }
}

/// The second part of `check`: each finding looked at again under the write lock (and with
/// `fix` repaired); returns the warnings, those confirmed before `report` stopped it if it
/// did.
fn conclude(
    store: &Store,
    seen: Seen,
    fix: bool,
    report: &mut Reporter<'_>,
) -> Result<Outcome<Vec<Finding>>> {
    let (confirmed, flow) = confirm::run(store, &seen.findings, fix, seen.token, report)?;
    let mut findings = seen.warnings;
    findings.extend(seen.findings.confirmed(&confirmed));
    Ok(Outcome::of(flow, findings))
}

fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Runs redb's integrity check on a second handle (ours may not be borrowed mutably, and
/// holds transactions); what it finds is a warning. Returns whether redb repaired (or may
/// have repaired) the database.
fn redb_integrity(store: &Store, settings: &Settings, warnings: &mut Vec<Finding>) -> Result<bool> {
    let mut db = match store.second_handle(settings) {
        Ok(db) => db,
        Err(Error::Timeout) => return Err(Error::Timeout),
        Err(e) => {
            warnings.push(Finding::Database {
                problem: format!("cannot be opened to check it: {e}"),
            });
            return Ok(false);
        }
    };
    let checked =
        crate::engine::boundary::contain(|| db.database_mut().map(|db| db.check_integrity()));
    match checked {
        Ok(Ok(Ok(true))) => return Ok(false),
        Ok(Ok(Ok(false))) => warnings.push(Finding::Database {
            problem: "failed redb's integrity check, and redb repaired it".into(),
        }),
        Ok(Ok(Err(e))) => warnings.push(Finding::Database {
            problem: format!("fails redb's integrity check: {e}"),
        }),
        Ok(Err(e)) => return Err(e),
        Err(panic) => warnings.push(Finding::Database {
            problem: format!("redb's integrity check failed on a damaged page ({panic})"),
        }),
    }
    Ok(true)
}
