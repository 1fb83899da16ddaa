//! Opening the database: the file through the durability backend, the tables of a new cache,
//! the format version, the stored settings and the recorded disk.

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};

use redb::{ConcurrencyMode, Database, ReadableDatabase, ReadableTable};

use crate::engine::backend::DurabilityBackend;
use crate::engine::write::WriteCtx;
use crate::error::{Error, Result};
use crate::format::schema::{
    DB_FILE, ENTRIES, FORMAT_VERSION, META, META_COUNT, META_FORMAT_VERSION, META_NEXT_ROW_ID,
    META_VOLUME, ORDER_EXPIRE, ORDER_INSERT, SETTINGS, policy_order,
};
use crate::platform::process::{RawFd, raw_fd};
use crate::settings::{Setting, Settings};

/// Opens the database file in MultiWriter mode through the durability backend.
/// Also returns the descriptor of the file, which carries redb's file locks.
pub(super) fn open_db(
    dir: &Path,
    settings: &Settings,
) -> Result<(Database, Arc<AtomicU64>, RawFd)> {
    let file = crate::files::open_shared(&dir.join(DB_FILE))?;
    let fd = raw_fd(&file);
    // An empty file is a database redb is about to create. If creating it fails half-way (a
    // full disk), redb leaves a file with no header, which every later open refuses ("not a
    // redb database"); it is emptied again below, so that the next open creates it afresh
    // (tests/process_wide/full_disk.rs,
    // `opening_a_new_cache_on_a_full_disk_is_an_error_not_a_crash`).
    let new_file = (file.metadata()?.len() == 0)
        .then(|| file.try_clone())
        .transpose()?;
    let syncs = Arc::new(AtomicU64::new(0));
    let deadline = Arc::new(Mutex::new(Some(crate::time::deadline(settings.timeout))));
    let path = dir.join(DB_FILE);
    let backend = DurabilityBackend::new(
        file,
        path,
        settings.durability,
        syncs.clone(),
        deadline.clone(),
    )?;
    // Opening reads the pages a damaged file may hold: a panic there is `Error::Corrupted`
    // (`boundary`), and nothing of the half-opened database is kept.
    let opened = crate::engine::boundary::contain_at(&dir.join(DB_FILE), || {
        Database::builder()
            .set_concurrency_mode(ConcurrencyMode::MultiWriter)
            .set_cache_size(cache_size(settings))
            .create_with_backend(backend)
            .map_err(|e| match Error::from(e) {
                Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => Error::Timeout,
                other => other,
            })
    });
    if let (Err(Error::Io(_)), Some(file)) = (&opened, &new_file) {
        // Only a file this open found empty and that still has no redb header (so no other
        // process created the database meanwhile), after an I/O error (not a timeout).
        let mut magic = [0u8; 4];
        let created =
            crate::platform::io::read_exact_at(file, &mut magic, 0).is_ok() && &magic == b"redb";
        if !created {
            let _ = file.set_len(0);
        }
    }
    let db = opened?;
    *deadline.lock().unwrap_or_else(PoisonError::into_inner) = None;
    Ok((db, syncs, fd))
}

/// The size of redb's page cache for a handle opened with `settings`: its memory budget
/// (saturated at the address space's size on a 32-bit target).
fn cache_size(settings: &Settings) -> usize {
    let bytes = settings.memory_budget;
    if crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::IgnoreMemoryBudget) {
        // Negative control (`sabotage`): redb's default page cache, 1 GiB.
        return 1 << 30;
    }
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

/// On a platform without the logged write path (`platform`), a cache that has a log
/// (`cache.wal`: it was used with the logged path on Linux) is opened with the direct path
/// only if no process has it open through the log and the log holds no records left to apply
/// to the database: the direct path reads and writes the database alone, so it would not see
/// those writes, and a later checkpoint would apply them over newer ones. (Closing the last
/// handle on Linux applies the log; a killed process leaves records there.)
///
/// # Errors
/// [`Error::InvalidArgument`] saying what to do, in either case; [`Error::Io`].
pub(super) fn check_log_applied(dir: &Path) -> Result<()> {
    if crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::IgnoreUnappliedLog) {
        // Negative control (`sabotage`): the log's records are left behind.
        return Ok(());
    }
    let advice = "open it on Linux (where the logged write path is) and close it, which applies \
                  the log to the database; then it opens here with WritePath::Direct";
    if crate::engine::log::lock::logged_users(dir)? {
        return Err(Error::InvalidArgument(format!(
            "{} is open in another process through the logged write path, which {} does not \
             have: close it there first",
            dir.display(),
            std::env::consts::OS
        )));
    }
    if crate::engine::log::wal::holds_records(dir)? {
        return Err(Error::InvalidArgument(format!(
            "{} was last used with the logged write path, and its log (cache.wal) holds writes \
             not yet applied to the database, which {} cannot apply: {advice}",
            dir.display(),
            std::env::consts::OS
        )));
    }
    Ok(())
}

/// Creates the tables on first open, checks the format version, and reconciles stored
/// settings with `overrides`. Returns the stored settings in force, and whether this call
/// wrote them.
pub(super) fn init(
    db: &Database,
    overrides: &[Setting],
    wanted: &Settings,
    disk: &str,
) -> Result<(Settings, bool)> {
    // A read first: the common reopen needs no write transaction.
    if let Some(stored) = read_settings(db)? {
        let mut merged = stored.clone();
        let mut changed = false;
        for o in overrides {
            changed |= merged.apply(*o) != *o;
        }
        if !changed {
            return Ok((merged, false));
        }
    }
    let deadline = crate::time::deadline(wanted.timeout);
    let txn = crate::engine::write::begin_write(db, deadline)?;
    let version = txn
        .open_table(META)?
        .get(META_FORMAT_VERSION)?
        .map(|g| g.value());
    let settings = match version {
        // A database with rows but no version row is damaged or foreign: creating the tables
        // afresh would reset its counters and settings over the rows. Refuse it.
        None if has_rows(&txn)? => {
            return Err(Error::UnsupportedVersion {
                found: 0,
                supported: FORMAT_VERSION,
            });
        }
        None => create(&txn, overrides, disk)?,
        Some(v) => {
            check_version(v)?;
            // Overrides of a settings table that exists: as `reset` does them, rebuilding
            // the order tables a changed policy or tag index needs.
            let mut ctx = WriteCtx::open(&txn)?;
            for o in overrides {
                ctx.change_setting(*o)?;
            }
            let settings = ctx.live().clone();
            ctx.finish()?;
            settings
        }
    };
    txn.commit()?;
    Ok((settings, true))
}

/// Whether the `entries` table holds a row (opening it in this write transaction creates it
/// if missing, which the caller's commit or abort settles).
fn has_rows(txn: &redb::WriteTransaction) -> Result<bool> {
    Ok(txn.open_table(ENTRIES)?.first()?.is_some())
}

/// Creates the tables of a new cache, with the default settings changed by `overrides`.
fn create(txn: &redb::WriteTransaction, overrides: &[Setting], disk: &str) -> Result<Settings> {
    txn.open_table(crate::format::schema::INFO)?
        .insert(crate::format::schema::INFO_DISK, disk)?;
    let mut meta = txn.open_table(META)?;
    meta.insert(
        META_FORMAT_VERSION,
        crate::format::schema::FIRST_FORMAT_VERSION,
    )?;
    for name in [META_COUNT, META_VOLUME] {
        meta.insert(name, 0)?;
    }
    meta.insert(META_NEXT_ROW_ID, 1)?;
    let mut settings = Settings::default();
    for o in overrides {
        settings.apply(*o);
    }
    let mut table = txn.open_table(SETTINGS)?;
    for setting in Setting::all_of(&settings) {
        table.insert(setting.name(), setting.code())?;
    }
    txn.open_table(ENTRIES)?;
    txn.open_table(ORDER_INSERT)?;
    txn.open_table(ORDER_EXPIRE)?;
    if let Some((definition, _)) = policy_order(settings.eviction_policy) {
        txn.open_table(definition)?;
    }
    if settings.tag_index {
        txn.open_table(crate::format::schema::ORDER_TAG)?;
    }
    Ok(settings)
}

/// Refuses a cache created with another disk than `wanted` (one with no record was created
/// with the built-in encoding).
pub(super) fn check_disk(db: &Database, wanted: &str) -> Result<()> {
    let txn = db.begin_read()?;
    let stored = match txn.open_table(crate::format::schema::INFO) {
        Ok(table) => table
            .get(crate::format::schema::INFO_DISK)?
            .map(|g| g.value().to_owned()),
        Err(redb::TableError::TableDoesNotExist(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let stored = stored.unwrap_or_else(|| crate::format::schema::DEFAULT_DISK.to_owned());
    if stored != wanted {
        return Err(Error::InvalidArgument(format!(
            "the cache was created with the disk {stored:?}, not {wanted:?}: open it with that Disk"
        )));
    }
    Ok(())
}

/// The stored settings, or `None` if the database has not been initialized yet.
fn read_settings(db: &Database) -> Result<Option<Settings>> {
    let txn = db.begin_read()?;
    let meta = match txn.open_table(META) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let Some(version) = meta.get(META_FORMAT_VERSION)?.map(|g| g.value()) else {
        return Ok(None);
    };
    check_version(version)?;
    let table = txn.open_table(SETTINGS)?;
    Ok(Some(Settings::read_from(&table)?))
}

fn check_version(found: u64) -> Result<()> {
    if found > FORMAT_VERSION || found == 0 {
        return Err(Error::UnsupportedVersion {
            found,
            supported: FORMAT_VERSION,
        });
    }
    Ok(())
}
