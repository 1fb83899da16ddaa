//! The one owner of the redb database: opening and initializing it, the stored settings, and
//! the write path that carries every operation (the shared log, or direct transactions).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use redb::{ConcurrencyMode, Database, ReadableDatabase, ReadableTable};

use crate::access::{self, Accesses};
use crate::backend::DurabilityBackend;
use crate::error::{Error, Result};
use crate::evict;
use crate::logged::{Env, LoggedEngine, run_redb_txn};
use crate::row::Row;
use crate::schema::{
    DB_FILE, ENTRIES, FORMAT_VERSION, META, META_COUNT, META_FORMAT_VERSION, META_NEXT_ROW_ID,
    META_VOLUME, ORDER_EXPIRE, ORDER_INSERT, SETTINGS, policy_order,
};
use crate::settings::{Setting, Settings, WritePath};
use crate::snapshot::Snapshot;
use crate::txn::{RowWriter, WriteCtx, WriteGate};
use crate::wal::WAL_FILE;

/// An open cache database, its settings and its write path.
#[derive(Debug)]
pub(crate) struct Store {
    db: Database,
    dir: PathBuf,
    settings: RwLock<Settings>,
    /// The logged path's settings epoch (`cache.shm`) when `settings` was read.
    settings_epoch: AtomicU64,
    /// Reads noted for the eviction policy and statistics, not yet written.
    accesses: Accesses,
    /// Janitor rounds, to flush the direct path's noted reads every tenth.
    ticks: AtomicU64,
    engine: Engine,
    /// `sync_data` calls that reached the disk, counted by the backend.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "read by the durability unit tests")
    )]
    syncs: Arc<AtomicU64>,
}

/// How operations reach the database.
#[derive(Debug)]
enum Engine {
    /// One redb write transaction per operation; the gate queues this process's writers.
    Direct(WriteGate),
    /// The shared log in front of redb.
    Logged(LoggedEngine),
}

impl Store {
    /// Opens (creating if needed) the database in `dir`, applies `overrides` to the stored
    /// settings, and starts the write path they name. `base` carries the per-handle settings
    /// (timeout, checkpoint size).
    /// `disk` is the name of the value encoding the caller uses: a new cache records it, an
    /// existing one must have been created with it.
    pub(crate) fn open(
        dir: &Path,
        overrides: &[Setting],
        base: Settings,
        disk: &str,
    ) -> Result<Store> {
        std::fs::create_dir_all(dir)?;
        if dir.join(crate::fanout::FANOUT_FILE).exists() {
            return Err(Error::InvalidArgument(format!(
                "{} holds a FanoutCache: open it with FanoutCache::open",
                dir.display()
            )));
        }
        let mut settings = base.clone();
        for o in overrides {
            settings.apply(*o);
        }
        let (db, syncs) = open_db(dir, &settings)?;
        let (mut stored, rewrote) = init(&db, overrides, &settings, disk)?;
        check_disk(&db, disk)?;
        let (db, syncs) = if stored.durability == settings.durability {
            (db, syncs)
        } else {
            // The stored durability level differs from the one the file was opened with.
            drop(db);
            open_db(dir, &stored)?
        };
        stored.timeout = base.timeout;
        stored.checkpoint_records = base.checkpoint_records;
        let accesses = Accesses::default();
        let env = Env {
            db: &db,
            settings: &stored,
            dir,
            accesses: &accesses,
            deadline_override: None,
        };
        let engine = match stored.write_path {
            WritePath::Logged => {
                if let Some(fs_type) = crate::files::network_file_system(dir) {
                    return Err(Error::InvalidArgument(format!(
                        "{} is on a network file system ({fs_type}), where the shared log's \
                         memory maps are not coherent between machines: open it with \
                         WritePath::Direct",
                        dir.display()
                    )));
                }
                Engine::Logged(LoggedEngine::open(dir, &env)?)
            }
            WritePath::Direct => {
                if dir.join(WAL_FILE).exists() {
                    // Switching from the logged path: the log's records go to redb first.
                    LoggedEngine::open(dir, &env)?.quiesce(&env)?;
                }
                Engine::Direct(WriteGate::default())
            }
        };
        let epoch = match &engine {
            Engine::Logged(engine) => {
                if rewrote {
                    // Other processes with the cache open read the overrides again.
                    engine.bump_settings_epoch();
                }
                engine.settings_epoch()
            }
            Engine::Direct(_) => 0,
        };
        Ok(Store {
            db,
            dir: dir.to_path_buf(),
            settings: RwLock::new(stored),
            settings_epoch: AtomicU64::new(epoch),
            accesses,
            ticks: AtomicU64::new(0),
            engine,
            syncs,
        })
    }

    /// The cache directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The settings in force. On the logged path a change another process made with
    /// `reset` is seen at once (one shared word tells); on the direct path at this handle's
    /// next write.
    pub(crate) fn settings(&self) -> Settings {
        if let Engine::Logged(engine) = &self.engine {
            let epoch = engine.settings_epoch();
            if epoch != self.settings_epoch.load(Ordering::Acquire) {
                // Read the epoch first: a change committed after it bumps it again.
                if let Ok(stored) = Snapshot::open(&self.db).and_then(|s| s.settings()) {
                    self.adopt(stored);
                    self.settings_epoch.store(epoch, Ordering::Release);
                }
            }
        }
        self.settings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Takes `stored` as the stored settings in force, keeping this handle's own ones.
    fn adopt(&self, stored: Settings) {
        let mut settings = self
            .settings
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let own = (settings.timeout, settings.checkpoint_records);
        *settings = Settings {
            timeout: own.0,
            checkpoint_records: own.1,
            ..stored
        };
    }

    /// Stores `setting` for every process using the cache and returns the value it replaced.
    /// Changing the eviction policy rebuilds its order table; the tag index is built or
    /// dropped; both in the same transaction.
    pub(crate) fn reset(&self, setting: Setting) -> Result<Setting> {
        if matches!(setting, Setting::WritePath(_) | Setting::Durability(_)) {
            return Err(Error::InvalidArgument(format!(
                "{} is chosen when the cache is opened (CacheBuilder), not reset",
                setting.name()
            )));
        }
        let (old, live) =
            self.write_redb(|w| Ok((w.change_setting(setting)?, w.live().clone())))?;
        self.settings_changed(live);
        Ok(old)
    }

    /// After a commit that changed stored settings: adopt them, and tell other processes.
    fn settings_changed(&self, live: Settings) {
        self.adopt(live);
        if let Engine::Logged(engine) = &self.engine {
            engine.bump_settings_epoch();
            self.settings_epoch
                .store(engine.settings_epoch(), Ordering::Release);
        }
    }

    /// Hit and miss counts (stored, plus counted and not flushed), read before `reset` sets
    /// them to zero; turns counting on or off per `enable`.
    pub(crate) fn stats(&self, enable: bool, reset: bool) -> Result<(u64, u64)> {
        let (counts, live) = self.write_redb(|w| {
            let (mut hits, mut misses) = w.stats()?;
            let pending = match &self.engine {
                Engine::Logged(engine) => engine.pending_counts(reset),
                Engine::Direct(_) if reset => self.accesses.take_counts(),
                Engine::Direct(_) => self.accesses.counts(),
            };
            hits = hits.saturating_add(pending.0);
            misses = misses.saturating_add(pending.1);
            if reset {
                w.reset_stats()?;
            }
            let live = if w.live().statistics == enable {
                None
            } else {
                w.change_setting(Setting::Statistics(enable))?;
                Some(w.live().clone())
            };
            Ok(((hits, misses), live))
        })?;
        if let Some(live) = live {
            self.settings_changed(live);
        }
        Ok(counts)
    }

    /// How many `sync_data` calls of redb reached the disk in this process.
    #[cfg(test)]
    pub(crate) fn sync_count(&self) -> u64 {
        self.syncs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs one operation atomically: `f` reads and changes rows; its changes become visible
    /// to every thread and process at once, or (if `f` fails) not at all.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut dyn RowWriter) -> Result<T>) -> Result<T> {
        crate::transaction::refuse_inside_transact(self)?;
        let settings = self.settings();
        let env = self.env(&settings);
        match &self.engine {
            Engine::Logged(engine) => engine.write(&env, settings.checkpoint_records, |w| {
                let value = f(w)?;
                evict::cull_after_write(w, &settings)?;
                Ok(value)
            }),
            Engine::Direct(gate) => {
                let _gate = gate.enter(crate::time::deadline(settings.timeout))?;
                if cfg!(feature = "broken-ack-before-commit") {
                    // TEST-ONLY sabotage, off unless the `broken-ack-before-commit` feature is
                    // on: the write is acknowledged but thrown away, to show the crash and
                    // multi-process tests can fail.
                    let txn =
                        crate::txn::begin_write(&self.db, crate::time::deadline(settings.timeout))?;
                    let value = f(&mut WriteCtx::open(&txn)?)?;
                    txn.abort()?;
                    return Ok(value);
                }
                let (value, live) = run_redb_txn(&env, |w| {
                    self.flush_reads(w)?;
                    let value = f(w)?;
                    let live = w.live().clone();
                    evict::cull_after_write(w, &live)?;
                    Ok((value, live))
                })?
                .0;
                self.adopt(live);
                Ok(value)
            }
        }
    }

    /// Notes a read of `key` that found a live entry (`hit`) or not: counted if statistics
    /// are on, and, for a hit under a policy ordered by access, gathered for the next commit.
    pub(crate) fn note_read(&self, key: &[u8], hit: bool, settings: &Settings) {
        use crate::settings::EvictionPolicy::{LeastFrequentlyUsed, LeastRecentlyUsed};
        if settings.statistics {
            match &self.engine {
                Engine::Logged(engine) => engine.count(hit),
                Engine::Direct(_) => self.accesses.count(hit),
            }
        }
        if hit
            && matches!(
                settings.eviction_policy,
                LeastRecentlyUsed | LeastFrequentlyUsed
            )
        {
            self.accesses.note(key, crate::time::now_us());
        }
    }

    /// On the direct path: writes the reads this process noted into `w`.
    fn flush_reads(&self, w: &mut WriteCtx<'_>) -> Result<()> {
        for (key, access) in self.accesses.take() {
            access::apply(w, &key, access)?;
        }
        let (hits, misses) = self.accesses.take_counts();
        w.add_stats(hits, misses);
        Ok(())
    }

    /// Runs `f` in a redb write transaction that sees every earlier operation (the log is
    /// checkpointed first), for whole-cache operations such as `clear`.
    pub(crate) fn write_redb<T>(
        &self,
        f: impl FnOnce(&mut WriteCtx<'_>) -> Result<T>,
    ) -> Result<T> {
        crate::transaction::refuse_inside_transact(self)?;
        let settings = self.settings();
        let env = self.env(&settings);
        match &self.engine {
            Engine::Logged(engine) => engine.write_redb(&env, f),
            Engine::Direct(gate) => {
                let _gate = gate.enter(crate::time::deadline(settings.timeout))?;
                let (value, live) = run_redb_txn(&env, |w| {
                    self.flush_reads(w)?;
                    Ok((f(w)?, w.live().clone()))
                })?
                .0;
                self.adopt(live);
                Ok(value)
            }
        }
    }

    /// The row stored under `key`, expired or not.
    pub(crate) fn get_row(&self, key: &[u8]) -> Result<Option<Row>> {
        match &self.engine {
            Engine::Logged(engine) => {
                let settings = self.settings();
                engine.get_row(&self.env(&settings), key)
            }
            Engine::Direct(_) => Snapshot::open(&self.db)?.get(key),
        }
    }

    /// The number of entries (expired ones included until removed).
    pub(crate) fn count(&self) -> Result<u64> {
        self.counter(META_COUNT)
    }

    /// The summed volume of the entries.
    pub(crate) fn volume(&self) -> Result<u64> {
        self.counter(META_VOLUME)
    }

    fn counter(&self, name: &str) -> Result<u64> {
        match &self.engine {
            Engine::Logged(engine) => {
                let settings = self.settings();
                engine.counter(&self.env(&settings), name)
            }
            Engine::Direct(_) => Snapshot::open(&self.db)?.meta(name),
        }
    }

    /// Runs `f` on a snapshot of the database that holds every earlier operation (the log is
    /// checkpointed first), for reads that need the database's whole view, such as iteration.
    pub(crate) fn read_all<T>(&self, f: impl FnOnce(&Snapshot) -> Result<T>) -> Result<T> {
        if let Engine::Logged(engine) = &self.engine {
            crate::transaction::refuse_inside_transact(self)?;
            let settings = self.settings();
            engine.quiesce(&self.env(&settings))?;
        }
        f(&Snapshot::open(&self.db)?)
    }

    /// The janitor's round (see `LoggedEngine::janitor_tick`); on the direct path, every
    /// tenth round (~100 ms) writes the reads noted since, if the write lock is free.
    pub(crate) fn janitor_tick(&self) {
        let settings = self.settings();
        match &self.engine {
            Engine::Logged(engine) => engine.janitor_tick(&self.env(&settings)),
            Engine::Direct(gate) => {
                let tick = self.ticks.fetch_add(1, Ordering::Relaxed);
                let idle = self.accesses.is_empty() && self.accesses.counts() == (0, 0);
                if !tick.is_multiple_of(10) || idle {
                    return;
                }
                let now = std::time::Instant::now();
                if let Ok(_gate) = gate.enter(now) {
                    let env = Env {
                        deadline_override: Some(now),
                        ..self.env(&settings)
                    };
                    let _ = run_redb_txn(&env, |w| self.flush_reads(w));
                }
            }
        }
    }

    /// Applies the log to the database and writes this process's noted reads and counts.
    pub(crate) fn flush(&self) -> Result<()> {
        let settings = self.settings();
        let env = self.env(&settings);
        match &self.engine {
            Engine::Logged(engine) => engine.quiesce(&env),
            Engine::Direct(gate) => {
                if self.accesses.is_empty() && self.accesses.counts() == (0, 0) {
                    return Ok(());
                }
                let _gate = gate.enter(crate::time::deadline(settings.timeout))?;
                run_redb_txn(&env, |w| self.flush_reads(w)).map(drop)
            }
        }
    }

    /// Applies the log to the database now (a no-op on the direct path).
    pub(crate) fn checkpoint(&self) -> Result<()> {
        if let Engine::Logged(engine) = &self.engine {
            crate::transaction::refuse_inside_transact(self)?;
            let settings = self.settings();
            engine.quiesce(&self.env(&settings))?;
        }
        Ok(())
    }

    fn env<'a>(&'a self, settings: &'a Settings) -> Env<'a> {
        Env {
            db: &self.db,
            settings,
            dir: &self.dir,
            accesses: &self.accesses,
            deadline_override: None,
        }
    }

    /// Runs `f` holding the write lock, with every earlier operation in the database (the
    /// log checkpointed) and no redb transaction of this handle open: for `check` and
    /// `compact`. `f` gets the environment and `refresh`, which (on the logged path) starts a
    /// new generation so every process drops its cached snapshot; call it after committing.
    pub(crate) fn exclusive<T>(
        &self,
        f: impl FnOnce(&Env<'_>, &dyn Fn() -> Result<()>) -> Result<T>,
    ) -> Result<T> {
        let settings = self.settings();
        let env = self.env(&settings);
        match &self.engine {
            Engine::Logged(engine) => engine.exclusive(&env, f),
            Engine::Direct(gate) => {
                let _gate = gate.enter(crate::time::deadline(settings.timeout))?;
                f(&env, &|| Ok(()))
            }
        }
    }

    /// A second handle on the database file, opened as this one was. redb's locks belong to
    /// the handle, so it behaves as another process's would: drop it before this handle
    /// begins a write transaction.
    pub(crate) fn second_handle(&self, settings: &Settings) -> Result<Database> {
        Ok(open_db(&self.dir, settings)?.0)
    }
}

impl Drop for Store {
    /// Checkpoints the log on close (best effort, waiting at most 100 ms for the lock), so
    /// that the database file alone holds every entry once no process uses the cache.
    fn drop(&mut self) {
        let mut settings = self.settings();
        settings.timeout = settings.timeout.min(Duration::from_millis(100));
        let env = self.env(&settings);
        match &self.engine {
            Engine::Logged(engine) => {
                let _ = engine.quiesce(&env);
            }
            Engine::Direct(_) => {
                if !self.accesses.is_empty() || self.accesses.counts() != (0, 0) {
                    let _ = run_redb_txn(&env, |w| self.flush_reads(w));
                }
            }
        }
    }
}

/// Opens the database file in MultiWriter mode through the durability backend.
fn open_db(dir: &Path, settings: &Settings) -> Result<(Database, Arc<AtomicU64>)> {
    let file = crate::files::open_shared(&dir.join(DB_FILE))?;
    let syncs = Arc::new(AtomicU64::new(0));
    let deadline = Arc::new(Mutex::new(Some(crate::time::deadline(settings.timeout))));
    let backend =
        DurabilityBackend::new(file, settings.durability, syncs.clone(), deadline.clone())?;
    let db = Database::builder()
        .set_concurrency_mode(ConcurrencyMode::MultiWriter)
        .create_with_backend(backend)
        .map_err(|e| match Error::from(e) {
            Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => Error::Timeout,
            other => other,
        })?;
    *deadline.lock().unwrap_or_else(PoisonError::into_inner) = None;
    Ok((db, syncs))
}

/// Creates the tables on first open, checks the format version, and reconciles stored
/// settings with `overrides`. Returns the stored settings in force, and whether this call
/// wrote them.
fn init(
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
    let txn = crate::txn::begin_write(db, deadline)?;
    let version = txn
        .open_table(META)?
        .get(META_FORMAT_VERSION)?
        .map(|g| g.value());
    let settings = match version {
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

/// Creates the tables of a new cache, with the default settings changed by `overrides`.
fn create(txn: &redb::WriteTransaction, overrides: &[Setting], disk: &str) -> Result<Settings> {
    txn.open_table(crate::schema::INFO)?
        .insert(crate::schema::INFO_DISK, disk)?;
    let mut meta = txn.open_table(META)?;
    meta.insert(META_FORMAT_VERSION, FORMAT_VERSION)?;
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
        txn.open_table(crate::schema::ORDER_TAG)?;
    }
    Ok(settings)
}

/// Refuses a cache created with another disk than `wanted` (one with no record was created
/// with the built-in encoding).
fn check_disk(db: &Database, wanted: &str) -> Result<()> {
    let txn = db.begin_read()?;
    let stored = match txn.open_table(crate::schema::INFO) {
        Ok(table) => table
            .get(crate::schema::INFO_DISK)?
            .map(|g| g.value().to_owned()),
        Err(redb::TableError::TableDoesNotExist(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let stored = stored.unwrap_or_else(|| crate::disk::DEFAULT_DISK.to_owned());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::DEFAULT_DISK;
    use crate::settings::Durability;

    fn put_one(store: &Store) {
        store
            .write(|w| {
                let id = w.next_row_id()?;
                let now = w.now();
                let row = Row {
                    row_id: id,
                    store_time: now,
                    expire_time: 0,
                    access_time: now,
                    access_count: 0,
                    kind: crate::value::ValueKind::Int,
                    packed: false,
                    size: 8,
                    crc32: crc32fast::hash(&[0; 8]),
                    tag: None,
                    place: crate::row::ValuePlace::Inline(vec![0; 8]),
                };
                w.put(b"k", &row, None)
            })
            .unwrap();
        // The logged path commits to redb at checkpoints: force one.
        store.read_all(|_| Ok(())).unwrap();
    }

    #[test]
    fn sync_durability_fsyncs_every_commit_and_nosync_never_does() {
        let dir = tempfile::tempdir().unwrap();
        let synced = Store::open(
            dir.path(),
            &[Setting::Durability(Durability::Sync)],
            Settings::default(),
            DEFAULT_DISK,
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
        let unsynced = Store::open(other.path(), &[], Settings::default(), DEFAULT_DISK).unwrap();
        put_one(&unsynced);
        assert_eq!(unsynced.sync_count(), 0);
    }

    #[test]
    fn the_stored_durability_applies_when_reopened_without_an_override() {
        let dir = tempfile::tempdir().unwrap();
        let s = &[Setting::Durability(Durability::Sync)];
        drop(Store::open(dir.path(), s, Settings::default(), DEFAULT_DISK).unwrap());
        let reopened = Store::open(dir.path(), &[], Settings::default(), DEFAULT_DISK).unwrap();
        assert_eq!(reopened.settings().durability, Durability::Sync);
        put_one(&reopened);
        assert!(reopened.sync_count() > 0);
    }
}
