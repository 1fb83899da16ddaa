//! The engine: [`Store`], the one owner of the redb database (opening and initializing it,
//! the stored settings), and the seam between the operations and the two write paths.
//!
//! Every operation of `Store` reaches the database through the handle healing of
//! `healing.rs` and hands its work to [`Engine`], which passes it to the path in use: the
//! shared log in front of redb (`log.rs` and `log/`), or one redb write transaction per
//! operation (`direct.rs`). Both run row changes through `write.rs` (`RowWriter`, `WriteCtx`);
//! `snapshot.rs` reads redb, `boundary.rs` contains redb's panics, `shutdown.rs` keeps the
//! clean-shutdown marker.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use redb::Database;

use crate::engine::access::Accesses;
use crate::engine::boundary::{Handle, contain_at};
use crate::engine::direct::DirectEngine;
use crate::engine::handoff::DirectHandoff;
use crate::engine::log::LoggedEngine;
use crate::engine::log::wal::WAL_FILE;
use crate::engine::shutdown::Marker;
use crate::engine::snapshot::Snapshot;
use crate::engine::write::{OpEnv, RowWriter, WriteCtx};
use crate::error::{Error, Result};
use crate::format::row::Row;
use crate::format::schema::{DB_FILE, FANOUT_FILE};
use crate::format::schema::{META_COUNT, META_VOLUME};
use crate::platform::process::RawFd;
use crate::settings::{Setting, Settings, WritePath};
use healing::take;

/// An open cache database, its settings and its write path.
#[derive(Debug)]
pub(crate) struct Store {
    /// Run by every write after its operation (see [`AfterWrite`]).
    after_write: AfterWrite,
    /// The database handle opened with the cache.
    first: Handle,
    /// The handle that replaced it, once an I/O error left the one in use failing every call
    /// or redb panicked in it (see [`Store::replace`]); `replacement_fd` says whether there is
    /// one, so that the common case costs one atomic load.
    replacement: RwLock<Option<Arc<Handle>>>,
    dir: PathBuf,
    settings: RwLock<Settings>,
    /// The logged path's settings epoch (`cache.shm`) when `settings` was read.
    settings_epoch: AtomicU64,
    /// Reads noted for the eviction policy and statistics, not yet written.
    accesses: Accesses,
    /// The write path.
    engine: Engine,
    /// The descriptors that carry this process's file locks (`cache.redb`, `cache.lock`).
    lock_fds: Vec<RawFd>,
    /// The descriptor of the replacement database handle, if any (-1 if none): set once the
    /// replacement is in its slot, and an atomic, so that the read path and a forked child
    /// can read it whatever the parent's threads hold.
    replacement_fd: std::sync::atomic::AtomicI32,
    /// `sync_data` calls that reached the disk, counted by the backend.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "read by the durability unit tests")
    )]
    syncs: Arc<AtomicU64>,
    /// This handle's part in the clean-shutdown marker (`None` where the system has no boot
    /// id). After the database, so that it is dropped after the database is closed: the last
    /// handle to close records a clean close only after everything is written.
    marker: Option<Marker>,
    /// The temporary directory the cache lives in (`Cache::temp`), removed once every store
    /// holding it is closed. Last: everything in it is closed by then.
    temp_dir: Option<Arc<tempfile::TempDir>>,
}

/// The overrides a cache in `dir` opens with on this platform: as given where the logged
/// write path is; elsewhere the logged path is refused, and the direct path is chosen, even
/// for a cache last used with the logged path elsewhere, once `open::check_log_applied` finds
/// nothing of it left to apply.
fn platform_overrides<'a>(
    dir: &Path,
    overrides: &'a [Setting],
) -> Result<std::borrow::Cow<'a, [Setting]>> {
    for o in overrides {
        if let Setting::WritePath(path) = o {
            crate::platform::check_write_path(*path)?;
        }
    }
    if crate::platform::has_logged_path() {
        return Ok(std::borrow::Cow::Borrowed(overrides));
    }
    if dir.join(WAL_FILE).exists() {
        check_log_applied(dir)?;
    }
    let mut chosen = overrides.to_vec();
    if !chosen.iter().any(|o| matches!(o, Setting::WritePath(_))) {
        chosen.push(Setting::WritePath(WritePath::Direct));
    }
    Ok(std::borrow::Cow::Owned(chosen))
}

/// How operations reach the database: the one place that chooses between the two write
/// paths, each method handing the call to the path in use.
#[derive(Debug)]
enum Engine {
    /// One redb write transaction per operation.
    Direct(DirectEngine),
    /// The shared log in front of redb.
    Logged(LoggedEngine),
}

impl Engine {
    /// Runs one operation: `op`, then `cull` with the settings culling follows. Returns the
    /// value of `op` and, on the direct path, the stored settings its transaction read.
    fn write<T>(
        &self,
        env: &OpEnv<'_>,
        op: impl FnOnce(&mut dyn RowWriter) -> Result<T>,
        cull: impl FnOnce(&mut dyn RowWriter, &Settings) -> Result<()>,
    ) -> Result<(T, Option<Settings>)> {
        match self {
            Engine::Direct(direct) => direct.write(env, op, cull),
            Engine::Logged(logged) => {
                let records = env.settings.checkpoint_records;
                let value = logged.write(env, records, |w| {
                    let value = op(w)?;
                    cull(w, env.settings)?;
                    Ok(value)
                })?;
                Ok((value, None))
            }
        }
    }

    /// Runs `f` in a redb write transaction that sees every earlier operation. Returns its
    /// value and, on the direct path, the stored settings as `f` left them.
    fn write_redb<T>(
        &self,
        env: &OpEnv<'_>,
        f: impl FnOnce(&mut WriteCtx<'_>) -> Result<T>,
    ) -> Result<(T, Option<Settings>)> {
        match self {
            Engine::Direct(direct) => direct.write_redb(env, f),
            Engine::Logged(logged) => Ok((logged.write_redb(env, f)?, None)),
        }
    }

    /// The row stored under `key`, expired or not.
    fn get_row(&self, env: &OpEnv<'_>, key: &[u8]) -> Result<Option<Row>> {
        match self {
            Engine::Direct(direct) => direct.get_row(env, key),
            Engine::Logged(logged) => logged.get_row(env, key),
        }
    }

    /// `count` or `volume`; `under_lock`: this thread holds the write lock (inside one of
    /// its transactions), which a logged read must then not wait for.
    fn counter(&self, env: &OpEnv<'_>, name: &str, under_lock: bool) -> Result<u64> {
        match self {
            Engine::Direct(direct) => direct.counter(env, name),
            Engine::Logged(logged) => logged.counter(env, name, under_lock),
        }
    }

    /// Whether operations go through the shared log, which checkpoints into the database.
    fn is_logged(&self) -> bool {
        matches!(self, Engine::Logged(_))
    }

    /// Makes the database hold every earlier operation (the log checkpointed; nothing to do
    /// on the direct path), for reads of the database's whole view.
    fn settle(&self, env: &OpEnv<'_>) -> Result<()> {
        match self {
            Engine::Direct(_) => Ok(()),
            Engine::Logged(logged) => logged.quiesce(env),
        }
    }

    /// Writes everything this process holds back: the log checkpointed, the noted reads and
    /// counts written.
    fn flush(&self, env: &OpEnv<'_>) -> Result<()> {
        match self {
            Engine::Direct(direct) => direct.flush(env),
            Engine::Logged(logged) => logged.quiesce(env),
        }
    }

    /// The janitor's round; returns whether work is left for a later round.
    fn janitor_tick(&self, env: &OpEnv<'_>) -> Result<bool> {
        match self {
            Engine::Direct(direct) => direct.janitor_tick(env),
            Engine::Logged(logged) => logged.janitor_tick(env),
        }
    }

    /// Runs `f` holding the write lock with every earlier operation in the database.
    fn exclusive<T>(
        &self,
        env: &OpEnv<'_>,
        f: impl FnOnce(&OpEnv<'_>, &dyn Fn() -> Result<()>) -> Result<T>,
    ) -> Result<T> {
        match self {
            Engine::Direct(direct) => direct.exclusive(env, f),
            Engine::Logged(logged) => logged.exclusive(env, f),
        }
    }

    /// Counts a read that found a live entry (`hit`) or not.
    fn count(&self, accesses: &Accesses, hit: bool) {
        match self {
            Engine::Direct(_) => accesses.count(hit),
            Engine::Logged(logged) => logged.count(hit),
        }
    }

    /// The hits and misses counted and not yet written; with `reset`, also sets them to zero.
    fn pending_counts(&self, accesses: &Accesses, reset: bool) -> (u64, u64) {
        match self {
            Engine::Direct(direct) => direct.pending_counts(accesses, reset),
            Engine::Logged(logged) => logged.pending_counts(reset),
        }
    }

    /// The settings epoch other processes bump when they change a stored setting (always 0
    /// on the direct path, where a handle reads the settings again at each write).
    fn settings_epoch(&self) -> u64 {
        match self {
            Engine::Direct(_) => 0,
            Engine::Logged(logged) => logged.settings_epoch(),
        }
    }

    /// Tells every process that the stored settings changed: call after the commit.
    fn bump_settings_epoch(&self) {
        match self {
            Engine::Direct(_) => {}
            Engine::Logged(logged) => logged.bump_settings_epoch(),
        }
    }

    /// Drops what was read through a database handle that was replaced.
    fn drop_snapshots(&self) {
        match self {
            Engine::Direct(_) => {}
            Engine::Logged(logged) => logged.drop_snapshots(),
        }
    }

    /// The descriptor of `cache.lock`, which carries this process's lock on it.
    fn lock_fd(&self) -> RawFd {
        match self {
            Engine::Direct(direct) => direct.lock_fd(),
            Engine::Logged(logged) => logged.lock_fd(),
        }
    }

    /// The direct path's handoff byte (`None` on the logged path).
    fn handoff(&self) -> Option<&DirectHandoff> {
        match self {
            Engine::Direct(direct) => Some(direct.handoff()),
            Engine::Logged(_) => None,
        }
    }
}

/// What every [`Store::write`] runs after the operation's own changes, in the same
/// transaction, given the settings in force: the operations' culling (`ops::cull`), which the
/// opener hands in so that the engine needs nothing above it.
pub(crate) type AfterWrite = fn(&mut dyn RowWriter, &Settings) -> Result<()>;

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
        after_write: AfterWrite,
    ) -> Result<Store> {
        std::fs::create_dir_all(dir)?;
        if dir.join(FANOUT_FILE).exists() {
            return Err(Error::InvalidArgument(format!(
                "{} holds a FanoutCache: open it with FanoutCache::open",
                dir.display()
            )));
        }
        let overrides: &[Setting] = &platform_overrides(dir, overrides)?;
        let marker = Marker::open(dir)?;
        let mut settings = base.clone();
        for o in overrides {
            settings.apply(*o);
        }
        let db_file = dir.join(DB_FILE);
        let (db, syncs, db_fd) = open_db(dir, &settings)?;
        let first = Handle::new(db);
        let (stored, rewrote) = contain_at(&db_file, || {
            let db = first.database()?;
            let init = init(db, overrides, &settings, disk)?;
            check_disk(db, disk)?;
            Ok(init)
        })?;
        // This handle's own settings (the database file is opened again with them below).
        let stored = base.own_with(stored);
        let (first, syncs, db_fd) = if stored.durability == settings.durability {
            (first, syncs, db_fd)
        } else {
            // The stored durability level differs from the one the file was opened with.
            drop(first);
            let (db, syncs, fd) = open_db(dir, &stored)?;
            (Handle::new(db), syncs, fd)
        };
        if let Some(marker) = &marker {
            durable::after_power_loss(dir, marker, &stored, overrides, rewrote)?;
        }
        let db = first.database()?;
        let accesses = Accesses::default();
        let env = OpEnv {
            db,
            settings: &stored,
            dir,
            accesses: &accesses,
            deadline_override: None,
            handoff: None,
        };
        let engine = match stored.write_path {
            WritePath::Logged => {
                crate::platform::check_write_path(WritePath::Logged)?;
                if let Some(fs_type) = crate::platform::io::network_file_system(dir) {
                    return Err(Error::InvalidArgument(format!(
                        "{} is on a network file system ({fs_type}), where the shared log's \
                         memory maps are not coherent between machines: open it with \
                         WritePath::Direct",
                        dir.display()
                    )));
                }
                Engine::Logged(contain_at(&db_file, || LoggedEngine::open(dir, &env))?)
            }
            WritePath::Direct => {
                if crate::platform::has_logged_path() && dir.join(WAL_FILE).exists() {
                    // Switching from the logged path: the log's records go to redb first.
                    contain_at(&db_file, || LoggedEngine::open(dir, &env)?.quiesce(&env))?;
                }
                Engine::Direct(DirectEngine::open(dir)?)
            }
        };
        if rewrote {
            // Other processes with the cache open read the overrides again.
            engine.bump_settings_epoch();
        }
        let epoch = engine.settings_epoch();
        let mut lock_fds = vec![db_fd, engine.lock_fd()];
        lock_fds.extend(marker.as_ref().map(Marker::fd));
        Ok(Store {
            after_write,
            lock_fds,
            replacement_fd: std::sync::atomic::AtomicI32::new(-1),
            first,
            replacement: RwLock::new(None),
            dir: dir.to_path_buf(),
            settings: RwLock::new(stored),
            settings_epoch: AtomicU64::new(epoch),
            accesses,
            engine,
            syncs,
            marker,
            temp_dir: None,
        })
    }

    /// Removes `dir`, the temporary directory the cache lives in, once this store (and every
    /// other holding it) is closed.
    pub(crate) fn remove_when_closed(&mut self, dir: Arc<tempfile::TempDir>) {
        self.temp_dir = Some(dir);
    }

    /// This handle's part in the clean-shutdown marker.
    pub(crate) fn marker(&self) -> Option<&Marker> {
        self.marker.as_ref()
    }

    /// The descriptors that carry this store's file locks, for a forked child to detach.
    pub(crate) fn lock_fds(&self) -> Vec<RawFd> {
        let mut fds = self.lock_fds.clone();
        let replacement = self.replacement_fd.load(Ordering::Acquire);
        if replacement >= 0 {
            fds.push(replacement);
        }
        fds
    }

    /// The cache directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The settings in force. On the logged path a change another process made with
    /// `reset` is seen at once (one shared word tells); on the direct path at this handle's
    /// next write.
    pub(crate) fn settings(&self) -> Settings {
        let epoch = self.engine.settings_epoch();
        if epoch != self.settings_epoch.load(Ordering::Acquire) {
            // Read the epoch first: a change committed after it bumps it again.
            if let Ok(stored) = self.read_healing(|db| Snapshot::open(db)?.settings()) {
                self.adopt(stored);
                self.settings_epoch.store(epoch, Ordering::Release);
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
        *settings = settings.own_with(stored);
    }

    /// After a commit that changed stored settings: adopt them, and tell other processes.
    pub(crate) fn settings_changed(&self, live: Settings) {
        self.adopt(live);
        self.engine.bump_settings_epoch();
        self.settings_epoch
            .store(self.engine.settings_epoch(), Ordering::Release);
    }

    /// Hit and miss counts (stored, plus counted and not flushed), read before `reset` sets
    /// them to zero; turns counting on or off per `enable`.
    pub(crate) fn stats(&self, enable: bool, reset: bool) -> Result<(u64, u64)> {
        let (counts, live) = self.write_redb(|w| {
            let (mut hits, mut misses) = w.stats()?;
            let pending = self.engine.pending_counts(&self.accesses, reset);
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
        self.refuse_inside_transact()?;
        let settings = self.settings();
        self.write_healing(f, |db, f| {
            let env = self.env(&settings, db);
            let (value, live) = self.engine.write(&env, |w| take(f)?(w), self.after_write)?;
            if let Some(live) = live {
                self.adopt(live);
            }
            Ok(value)
        })
    }

    /// Notes a read of `key` that found a live entry (`hit`) or not: counted if statistics
    /// are on, and, for a hit under a policy ordered by access, gathered for the next commit.
    fn note_read(&self, key: &[u8], hit: bool, settings: &Settings) {
        use crate::settings::EvictionPolicy::{LeastFrequentlyUsed, LeastRecentlyUsed};
        if settings.statistics {
            self.engine.count(&self.accesses, hit);
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

    /// Runs `f` in a redb write transaction that sees every earlier operation (the log is
    /// checkpointed first), for whole-cache operations such as `clear`.
    pub(crate) fn write_redb<T>(
        &self,
        f: impl FnOnce(&mut WriteCtx<'_>) -> Result<T>,
    ) -> Result<T> {
        self.refuse_inside_transact()?;
        let settings = self.settings();
        self.write_healing(f, |db, f| {
            let env = self.env(&settings, db);
            let (value, live) = self.engine.write_redb(&env, |w| take(f)?(w))?;
            if let Some(live) = live {
                self.adopt(live);
            }
            Ok(value)
        })
    }

    /// The row stored under `key`, expired or not.
    fn get_row(&self, key: &[u8], settings: &Settings) -> Result<Option<Row>> {
        self.read_healing(|db| self.engine.get_row(&self.env(settings, db), key))
    }

    /// The row under `key` if it is live at `now`. With `note`, the read counts as a hit or
    /// miss and, for a hit, as an access for the eviction policy (see `note_read`): one copy
    /// of the settings serves the read and the note.
    /// `key` is the whole encoding; a long key's counters are read one by one
    /// (`key/long.rs`), each read on its own, so a concurrent delete and re-insert of the same
    /// long key under another counter can be missed, as if read before the insert.
    pub(crate) fn live_row(&self, key: &[u8], now: u64, note: bool) -> Result<Option<Row>> {
        let settings = self.settings();
        let found = crate::key::long::find(key, &mut |index| self.get_row(index, &settings))?;
        let found = found.filter(|(_, r)| !r.is_expired(now));
        if note {
            let index = found.as_ref().map_or(key, |(index, _)| index.as_slice());
            self.note_read(index, found.is_some(), &settings);
        }
        Ok(found.map(|(_, row)| row))
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
        let settings = self.settings();
        let under_lock = self.inside_transact()
            && !crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::CountTakesOwnLock);
        self.read_healing(|db| {
            self.engine
                .counter(&self.env(&settings, db), name, under_lock)
        })
    }

    /// Runs `f` on a snapshot of the database that holds every earlier operation (the log is
    /// checkpointed first), for reads that need the database's whole view, such as iteration.
    pub(crate) fn read_all<T>(&self, f: impl FnOnce(&Snapshot) -> Result<T>) -> Result<T> {
        if self.engine.is_logged() {
            self.refuse_inside_transact()?;
        }
        let settings = self.settings();
        self.write_healing(f, |db, f| {
            self.engine.settle(&self.env(&settings, db))?;
            take(f)?(&Snapshot::open(db)?)
        })
    }

    /// The janitor's round (`LoggedEngine::janitor_tick`, `DirectEngine::janitor_tick`).
    /// Returns whether work is left for a later round.
    pub(crate) fn janitor_tick(&self) -> bool {
        let settings = self.settings();
        // A recovery that failed on a full disk leaves the handle failing every call: the
        // attempt replaces it (`Store::attempt`), and the next round tries again.
        let round = self.attempt(|db| self.engine.janitor_tick(&self.env(&settings, db)));
        round.unwrap_or(true)
    }

    /// Applies the log to the database and writes this process's noted reads and counts.
    pub(crate) fn flush(&self) -> Result<()> {
        self.flush_within(&self.settings())
    }

    /// [`Store::flush`], waiting for the write lock as long as `settings.timeout` says.
    fn flush_within(&self, settings: &Settings) -> Result<()> {
        // A checkpoint or a flush can run again: the operation given is nothing.
        self.write_healing((), |db, _| self.engine.flush(&self.env(settings, db)))
    }

    /// Applies the log to the database now (a no-op on the direct path).
    pub(crate) fn checkpoint(&self) -> Result<()> {
        if self.engine.is_logged() {
            self.refuse_inside_transact()?;
            let settings = self.settings();
            self.write_healing((), |db, _| self.engine.settle(&self.env(&settings, db)))?;
        }
        Ok(())
    }

    /// The environment of one operation with `settings` on the handle `db`.
    fn env<'a>(&'a self, settings: &'a Settings, db: &'a Database) -> OpEnv<'a> {
        OpEnv {
            db,
            settings,
            dir: &self.dir,
            accesses: &self.accesses,
            deadline_override: None,
            handoff: self.engine.handoff(),
        }
    }

    /// Runs `f` holding the write lock, with every earlier operation in the database (the
    /// log checkpointed) and no redb transaction of this handle open: for `check` and
    /// `compact`. `f` gets the environment and `refresh`, which (on the logged path) bumps the
    /// epoch so every process drops its cached snapshot; call it after committing.
    pub(crate) fn exclusive<T>(
        &self,
        f: impl FnOnce(&OpEnv<'_>, &dyn Fn() -> Result<()>) -> Result<T>,
    ) -> Result<T> {
        let settings = self.settings();
        self.write_healing(f, |db, f| {
            let env = self.env(&settings, db);
            self.engine
                .exclusive(&env, |env, refresh| take(f)?(env, refresh))
        })
    }

    /// Runs `op`, which reads the database (a snapshot `check` opened), without the write
    /// lock but inside the boundary: a panic in redb poisons and replaces the handle in use,
    /// as it does for every operation.
    pub(crate) fn with_database<T>(&self, op: impl FnOnce(&Database) -> Result<T>) -> Result<T> {
        self.attempt(op)
    }

    /// A second handle on the database file, opened as this one was. redb's locks belong to
    /// the handle, so it behaves as another process's would: drop it before this handle
    /// begins a write transaction.
    pub(crate) fn second_handle(&self, settings: &Settings) -> Result<Handle> {
        Ok(Handle::new(open_db(&self.dir, settings)?.0))
    }
}

impl Drop for Store {
    /// Checkpoints the log on close (best effort, waiting at most 100 ms for the lock), so
    /// that the database file alone holds every entry once no process uses the cache.
    fn drop(&mut self) {
        let mut settings = self.settings();
        settings.timeout = settings.timeout.min(Duration::from_millis(100));
        let _ = self.flush_within(&settings);
    }
}

pub(crate) mod access;
pub(crate) mod backend;
pub(crate) mod boundary;
pub(crate) mod direct;
pub(crate) mod durable;
pub(crate) mod gate;
pub(crate) mod handoff;
mod healing;
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod janitor;
#[cfg(not(feature = "testing"))]
pub(crate) mod janitor;
pub(crate) mod log;
mod open;
mod reentry;
pub(crate) mod shutdown;
pub(crate) mod slice;
pub(crate) mod snapshot;
#[cfg(test)]
mod tests;
pub(crate) mod write;

use open::{check_disk, check_log_applied, init, open_db};
