//! The one owner of the redb database: opening and initializing it, the stored settings, and
//! running read and write transactions.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use redb::{ConcurrencyMode, Database, ReadOnlyTable, ReadableDatabase, ReadableTable};

use crate::backend::DurabilityBackend;
use crate::blob;
use crate::error::{Error, Result};
use crate::row::Row;
use crate::schema::{
    DB_FILE, ENTRIES, FORMAT_VERSION, META, META_COUNT, META_FORMAT_VERSION, META_NEXT_ROW_ID,
    META_VOLUME, ORDER_EXPIRE, ORDER_INSERT, ORDER_STORE, SETTINGS,
};
use crate::settings::{EvictionPolicy, Setting, Settings};
use crate::txn::{self, WriteCtx, WriteGate};

/// An open cache database and the settings it was opened with.
#[derive(Debug)]
pub(crate) struct Store {
    db: Database,
    dir: PathBuf,
    gate: WriteGate,
    settings: RwLock<Settings>,
    /// `sync_data` calls that reached the disk, counted by the backend.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "read by the durability unit tests")
    )]
    syncs: Arc<AtomicU64>,
}

/// A snapshot of the database for reads.
pub(crate) struct ReadCtx {
    entries: ReadOnlyTable<&'static [u8], &'static [u8]>,
    order_insert: ReadOnlyTable<u64, &'static [u8]>,
    meta: ReadOnlyTable<&'static str, u64>,
}

impl ReadCtx {
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
        let range = match after.checked_add(1) {
            Some(start) => self.order_insert.range(start..)?,
            None => return Ok(out),
        };
        for item in range.take(limit) {
            let (id, key) = item?;
            out.push((id.value(), key.value().to_vec()));
        }
        Ok(out)
    }
}

impl Store {
    /// Opens (creating if needed) the database in `dir`, applies `overrides` to the stored
    /// settings, and returns the store with the resulting settings.
    pub(crate) fn open(dir: &Path, overrides: &[Setting], base: Settings) -> Result<Store> {
        std::fs::create_dir_all(dir)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(DB_FILE))?;
        // The durability level is a stored setting, read below; until then, the override or
        // the default decides. Reading the setting never needs a sync.
        let mut settings = base;
        for o in overrides {
            settings.apply(*o);
        }
        let syncs = Arc::new(AtomicU64::new(0));
        let backend = DurabilityBackend::new(file, settings.durability, syncs.clone())?;
        let db = Database::builder()
            .set_concurrency_mode(ConcurrencyMode::MultiWriter)
            .create_with_backend(backend)?;
        let mut store = Store {
            db,
            dir: dir.to_path_buf(),
            gate: WriteGate::default(),
            settings: RwLock::new(settings.clone()),
            syncs,
        };
        let stored = store.init(overrides, &settings)?;
        if stored.durability != settings.durability {
            // Reopen with the stored durability level.
            drop(store);
            let mut base = stored;
            base.timeout = settings.timeout;
            return Store::open(dir, &[], base);
        }
        store.settings = RwLock::new(stored);
        Ok(store)
    }

    /// Creates the tables on first open, checks the format version, and reconciles stored
    /// settings with `overrides`. Returns the settings in force.
    fn init(&self, overrides: &[Setting], wanted: &Settings) -> Result<Settings> {
        // A read first: the common reopen needs no write transaction.
        if let Some(stored) = self.read_settings()? {
            let mut merged = stored.clone();
            merged.timeout = wanted.timeout;
            let mut changed = false;
            for o in overrides {
                changed |= merged.apply(*o) != *o;
            }
            if !changed {
                return Ok(merged);
            }
        }
        let deadline = Instant::now() + wanted.timeout;
        let _gate = self.gate.enter(deadline)?;
        let txn = txn::begin_write(&self.db, deadline)?;
        let settings = {
            let mut meta = txn.open_table(META)?;
            let mut table = txn.open_table(SETTINGS)?;
            let version = meta.get(META_FORMAT_VERSION)?.map(|g| g.value());
            let mut settings = match version {
                None => {
                    meta.insert(META_FORMAT_VERSION, FORMAT_VERSION)?;
                    for name in [META_COUNT, META_VOLUME] {
                        meta.insert(name, 0)?;
                    }
                    meta.insert(META_NEXT_ROW_ID, 1)?;
                    Settings {
                        timeout: wanted.timeout,
                        ..Settings::default()
                    }
                }
                Some(v) => {
                    check_version(v)?;
                    let mut s = settings_from(&table)?;
                    s.timeout = wanted.timeout;
                    s
                }
            };
            for o in overrides {
                settings.apply(*o);
            }
            for setting in Setting::all_of(&settings) {
                table.insert(setting.name(), setting.code())?;
            }
            txn.open_table(ENTRIES)?;
            txn.open_table(ORDER_INSERT)?;
            txn.open_table(ORDER_EXPIRE)?;
            if settings.eviction_policy == EvictionPolicy::LeastRecentlyStored {
                txn.open_table(ORDER_STORE)?;
            }
            settings
        };
        txn.commit()?;
        Ok(settings)
    }

    /// The stored settings, or `None` if the database has not been initialized yet.
    fn read_settings(&self) -> Result<Option<Settings>> {
        let txn = self.db.begin_read()?;
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
        Ok(Some(settings_from(&table)?))
    }

    /// The cache directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The settings in force.
    pub(crate) fn settings(&self) -> Settings {
        self.settings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many `sync_data` calls of redb reached the disk in this process.
    #[cfg(test)]
    pub(crate) fn sync_count(&self) -> u64 {
        self.syncs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs `f` on a fresh snapshot of the database.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&ReadCtx) -> Result<T>) -> Result<T> {
        let txn = self.db.begin_read()?;
        let ctx = ReadCtx {
            entries: txn.open_table(ENTRIES)?,
            order_insert: txn.open_table(ORDER_INSERT)?,
            meta: txn.open_table(META)?,
        };
        f(&ctx)
    }

    /// Runs `f` in one write transaction and commits it if `f` succeeds; value files that the
    /// transaction dropped are deleted after the commit. If `f` fails nothing is written.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut WriteCtx<'_>) -> Result<T>) -> Result<T> {
        let settings = self.settings();
        let deadline = Instant::now() + settings.timeout;
        let _gate = self.gate.enter(deadline)?;
        let txn = txn::begin_write(&self.db, deadline)?;
        let keep_store_order = settings.eviction_policy == EvictionPolicy::LeastRecentlyStored;
        let (value, files) = {
            let mut ctx = WriteCtx::open(&txn, keep_store_order)?;
            let value = f(&mut ctx)?;
            (value, ctx.finish()?)
        };
        let Some(files) = files else {
            txn.abort()?;
            return Ok(value);
        };
        // TEST-ONLY sabotage, off unless the `broken-ack-before-commit` feature is on: the write
        // is acknowledged but thrown away, to show the crash and multi-process tests can fail.
        if cfg!(feature = "broken-ack-before-commit") {
            txn.abort()?;
            return Ok(value);
        }
        txn.commit()?;
        for file in &files {
            // The row is gone; a file that cannot be deleted now is an orphan for check().
            let _ = blob::remove(&self.dir, file);
        }
        Ok(value)
    }
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

fn settings_from(table: &impl ReadableTable<&'static str, u64>) -> Result<Settings> {
    let mut settings = Settings::default();
    for item in table.iter()? {
        let (name, code) = item?;
        if let Some(setting) = Setting::decode(name.value(), code.value())? {
            settings.apply(setting);
        }
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Durability;

    fn put_one(store: &Store) {
        store
            .write(|w| {
                let id = w.next_row_id()?;
                let row = Row {
                    row_id: id,
                    store_time: w.now,
                    expire_time: 0,
                    access_time: w.now,
                    access_count: 0,
                    kind: crate::value::ValueKind::Int,
                    size: 8,
                    crc32: crc32fast::hash(&[0; 8]),
                    tag: None,
                    place: crate::row::ValuePlace::Inline(vec![0; 8]),
                };
                w.put(b"k", &row, None)
            })
            .unwrap();
    }

    #[test]
    fn sync_durability_fsyncs_every_commit_and_nosync_never_does() {
        let dir = tempfile::tempdir().unwrap();
        let synced = Store::open(
            dir.path(),
            &[Setting::Durability(Durability::Sync)],
            Settings::default(),
        )
        .unwrap();
        let before = synced.sync_count();
        put_one(&synced);
        assert!(
            synced.sync_count() > before,
            "a Sync commit must call sync_data"
        );
        drop(synced);

        let other = tempfile::tempdir().unwrap();
        let unsynced = Store::open(other.path(), &[], Settings::default()).unwrap();
        put_one(&unsynced);
        assert_eq!(unsynced.sync_count(), 0);
    }

    #[test]
    fn the_stored_durability_applies_when_reopened_without_an_override() {
        let dir = tempfile::tempdir().unwrap();
        let s = &[Setting::Durability(Durability::Sync)];
        drop(Store::open(dir.path(), s, Settings::default()).unwrap());
        let reopened = Store::open(dir.path(), &[], Settings::default()).unwrap();
        assert_eq!(reopened.settings().durability, Durability::Sync);
        put_one(&reopened);
        assert!(reopened.sync_count() > 0);
    }
}
