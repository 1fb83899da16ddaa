//! `CacheBuilder`: settings chosen before a cache is opened.

use std::path::Path;
use std::time::Duration;

use crate::cache::Cache;
use crate::error::Result;
use crate::settings::{Durability, EvictionPolicy, Setting, Settings, WritePath};

/// Chooses settings, then opens a [`Cache`] with [`CacheBuilder::open`] or
/// [`CacheBuilder::temp`].
///
/// A setting given here is stored in the cache and applies to every later open; a setting
/// not given keeps its stored value (or its default, for a new cache), as Python diskcache's
/// `Cache(directory, **settings)` does. `timeout` is per handle and not stored.
///
/// ## Defaults
/// `size_limit` 1 GiB, `cull_limit` 10, `eviction_policy` least-recently-stored,
/// `statistics` off, `tag_index` off, `min_file_size` 32 KiB, `durability`
/// [`Durability::Normal`] for a new cache, `write_path` [`WritePath::Logged`] on Linux and
/// [`WritePath::Direct`] on macOS and Windows (the only path they have), `timeout` 60 s,
/// `checkpoint_records` 16384, `memory_budget` 32 MiB.
///
/// ```
/// # fn main() -> diskcache::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// let cache = diskcache::Cache::builder()
///     .min_file_size(1024)
///     .timeout(std::time::Duration::from_secs(5))
///     .open(dir.path())?;
/// assert_eq!(cache.settings().min_file_size, 1024);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct CacheBuilder {
    overrides: Vec<Setting>,
    disk: Option<std::sync::Arc<dyn crate::format::disk::Disk>>,
    timeout: Option<Duration>,
    checkpoint_records: Option<u64>,
    memory_budget: Option<u64>,
    /// The temporary directory the caches opened here live in, removed with the last of them.
    temp_dir: Option<std::sync::Arc<tempfile::TempDir>>,
}

impl CacheBuilder {
    /// A builder with no setting chosen.
    pub fn new() -> Self {
        CacheBuilder::default()
    }

    fn set(mut self, setting: Setting) -> Self {
        self.overrides.retain(|s| s.name() != setting.name());
        self.overrides.push(setting);
        self
    }

    /// Target upper bound of the cache's volume, in bytes.
    pub fn size_limit(self, bytes: u64) -> Self {
        self.set(Setting::SizeLimit(bytes))
    }

    /// How many entries one write may cull at most.
    pub fn cull_limit(self, entries: u64) -> Self {
        self.set(Setting::CullLimit(entries))
    }

    /// Which entries are culled first.
    pub fn eviction_policy(self, policy: EvictionPolicy) -> Self {
        self.set(Setting::EvictionPolicy(policy))
    }

    /// Whether hits and misses are counted.
    pub fn statistics(self, enabled: bool) -> Self {
        self.set(Setting::Statistics(enabled))
    }

    /// Whether the tag order table is kept.
    pub fn tag_index(self, enabled: bool) -> Self {
        self.set(Setting::TagIndex(enabled))
    }

    /// Values of at least this many bytes go to their own file.
    pub fn min_file_size(self, bytes: u64) -> Self {
        self.set(Setting::MinFileSize(bytes))
    }

    /// What a returned write survives, and which commits are fsynced ([`Durability`]).
    pub fn durability(self, durability: Durability) -> Self {
        self.set(Setting::Durability(durability))
    }

    /// How writes reach the database: the shared log (the default on Linux, and Linux's
    /// only) or one redb transaction per operation (for network file systems; the default and
    /// only path on macOS and Windows). Opening with a path the platform does not have is
    /// [`crate::Error::InvalidArgument`] ([`WritePath::is_available`]).
    pub fn write_path(self, path: WritePath) -> Self {
        self.set(Setting::WritePath(path))
    }

    /// How long a write waits for the write lock before [`crate::Error::Timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// On the logged path, how many records a lane of the log gathers before it is sealed
    /// and a checkpoint applies it to the database, off the writers' path: 1 to 16384 (the
    /// default). While a lane's checkpoint runs, writers fill the other one no faster than
    /// the checkpoint is expected to end (a few µs more per write), and a writer waits
    /// whole for it only if the other lane fills first anyway; smaller means more, shorter
    /// checkpoints, each with its commit's fixed cost. Per handle, not stored.
    pub fn checkpoint_records(mut self, records: u64) -> Self {
        self.checkpoint_records = Some(records);
        self
    }

    /// The bytes of memory the handle may keep to speed up reads (default
    /// [`crate::DEFAULT_MEMORY_BUDGET`], 32 MiB): the size of redb's page cache, the part of a
    /// handle's memory that grows with the cache. Per handle, not stored.
    ///
    /// A page outside the budget is read from the operating system's page cache (one `pread`
    /// each), so a smaller budget costs read speed on a database larger than it, never
    /// correctness; `examples/scale.rs` measures the trade (README, "Memory"). Everything
    /// else a handle keeps is bounded whatever the cache's size: the logged path's maps of
    /// `cache.shm` (2 MiB) and `cache.wal` (64 MiB of address space, of which the pages the
    /// two lanes' records touch are resident), the records of the lane a checkpoint applies
    /// (at most one lane, 32 MiB), and the accesses noted for the eviction policy (at most
    /// 65,536 keys). `check` and `compact` open a second handle with the same budget for
    /// their run.
    pub fn memory_budget(mut self, bytes: u64) -> Self {
        self.memory_budget = Some(bytes);
        self
    }

    /// How values become bytes (see [`crate::Disk`]); the built-in encoding if not given.
    /// A cache records its disk's name when created and refuses to open with another.
    pub fn disk(mut self, disk: impl crate::format::disk::Disk) -> Self {
        self.disk = Some(std::sync::Arc::new(disk));
        self
    }

    /// Opens the cache in `dir`, creating the directory and the cache if needed.
    ///
    /// # Errors
    /// [`crate::Error::Io`] if the directory or database file cannot be created or opened;
    /// [`crate::Error::UnsupportedVersion`] for a cache written by a newer format;
    /// [`crate::Error::Storage`] if the database file is damaged;
    /// [`crate::Error::Timeout`] if initializing needed the write lock and did not get it;
    /// [`crate::Error::InvalidArgument`] for a write path this platform does not have, or,
    /// on macOS and Windows, for a cache last used with the logged path on Linux whose log
    /// still holds writes or that a process has open through the log (the message says to
    /// open and close it on Linux first).
    pub fn open(self, dir: impl AsRef<Path>) -> Result<Cache> {
        let mut base = Settings::default();
        if let Some(t) = self.timeout {
            base.timeout = t;
        }
        if let Some(n) = self.checkpoint_records {
            if !(1..=crate::engine::log::MAX_CHECKPOINT_RECORDS).contains(&n) {
                return Err(crate::Error::InvalidArgument(format!(
                    "checkpoint_records must be 1 to {}, not {n}",
                    crate::engine::log::MAX_CHECKPOINT_RECORDS
                )));
            }
            base.checkpoint_records = n;
        }
        if let Some(bytes) = self.memory_budget {
            base.memory_budget = bytes;
        }
        let codec = crate::format::disk::Codec::new(self.disk);
        let dir = dir.as_ref().to_path_buf();
        let after_write = crate::ops::cull::cull_after_write;
        let mut store = crate::engine::Store::open(
            &dir,
            &self.overrides,
            base.clone(),
            codec.name(),
            after_write,
        )?;
        if let Some(temp) = self.temp_dir {
            store.remove_when_closed(temp);
        }
        // In a forked child: the same directory with the settings stored by now. (The parent
        // has recorded the cache in use by this boot, so the child has no check to run.)
        let disk = codec.name().to_owned();
        let reopen = Box::new(move || {
            let store = crate::engine::Store::open(&dir, &[], base.clone(), &disk, after_write)?;
            if let Some(marker) = store.marker() {
                marker.settle()?;
            }
            Ok(store)
        });
        let cache = Cache::from_store(store, codec, reopen);
        cache.settle_marker()?;
        Ok(cache)
    }

    /// Opens a cache in a new directory under the system's temporary directory, private to
    /// this user: mode `0700` on Unix, as Python's `tempfile.mkdtemp` makes diskcache's, and
    /// created, never reused, so that no other user can have made it first or swap it. The
    /// directory and everything in it are removed when the last handle on the cache is
    /// dropped (in the process that made it: a forked child leaves it to its parent).
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// let cache = diskcache::Cache::builder().size_limit(1 << 20).temp()?;
    /// let dir = cache.directory().to_path_buf();
    /// cache.set("k", 1)?;
    /// let clone = cache.clone();
    /// drop(cache);
    /// assert!(dir.exists()); // a clone still uses it
    /// drop(clone);
    /// assert!(!dir.exists());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::Io`] if the directory cannot be created; else as [`CacheBuilder::open`].
    pub fn temp(mut self) -> Result<Cache> {
        let temp = private_temp_dir()?;
        let dir = temp.path().to_path_buf();
        self.temp_dir = Some(std::sync::Arc::new(temp));
        self.open(dir)
    }

    /// Makes the caches opened with this builder remove `dir` when the last of them closes.
    pub(crate) fn remove_when_closed(mut self, dir: std::sync::Arc<tempfile::TempDir>) -> Self {
        self.temp_dir = Some(dir);
        self
    }
}

/// Creates a fresh `diskcache-<random>` directory under the system's temporary directory,
/// readable and writable by this user only (mode `0700` on Unix). It is created, never reused:
/// a name that exists already (another user's file, a symbolic link planted there) is passed
/// over for another, so nobody else can have made it or swap it for their own. It is removed
/// when the returned value is dropped.
pub(crate) fn private_temp_dir() -> Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("diskcache-");
    #[cfg(unix)]
    let private = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o700);
    #[cfg(unix)]
    builder.permissions(private);
    Ok(builder.tempdir()?)
}
