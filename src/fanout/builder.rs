//! Opening a [`FanoutCache`]: the builder, and the `fanout` record of the shard count.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{DEFAULT_SHARDS, FanoutCache};
use crate::builder::CacheBuilder;
use crate::error::{Error, Result};
use crate::format::schema::FANOUT_FILE;
use crate::settings::{Durability, EvictionPolicy, WritePath};

/// Its first line.
const FANOUT_MAGIC: &str = "diskcache fanout v1";
/// The most shards a fanout cache may have (shard directories are named with 3 digits).
const MAX_SHARDS: usize = 1000;

/// Chooses the shard count and settings, then opens a [`FanoutCache`].
///
/// Settings apply to every shard; `size_limit` is the whole cache's, so each shard gets
/// `size_limit / shards` (a new fanout cache: its part of the default 1 GiB), and so is
/// `memory_budget`: each shard gets `memory_budget / shards` (by default, its part of
/// [`crate::DEFAULT_MEMORY_BUDGET`]).
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct FanoutBuilder {
    cache: CacheBuilder,
    shards: Option<usize>,
    size_limit: Option<u64>,
    memory_budget: Option<u64>,
}

impl FanoutBuilder {
    /// The number of shards of a new fanout cache (default 8). Reopening an existing one
    /// with another count is an error.
    pub fn shards(mut self, n: usize) -> Self {
        self.shards = Some(n);
        self
    }

    /// Target upper bound of the whole cache's volume; each shard gets an equal part.
    pub fn size_limit(mut self, bytes: u64) -> Self {
        self.size_limit = Some(bytes);
        self
    }

    /// The bytes of memory the whole fanout cache's handles may keep to speed up reads
    /// (default [`crate::DEFAULT_MEMORY_BUDGET`]); each shard gets an equal part as its
    /// [`CacheBuilder::memory_budget`], and so does each deque, index or cache opened by name
    /// in it. Per handle, not stored.
    pub fn memory_budget(mut self, bytes: u64) -> Self {
        self.memory_budget = Some(bytes);
        self
    }

    /// How many entries one write may cull at most (per shard).
    pub fn cull_limit(mut self, entries: u64) -> Self {
        self.cache = self.cache.cull_limit(entries);
        self
    }

    /// Which entries a cull removes first.
    pub fn eviction_policy(mut self, policy: EvictionPolicy) -> Self {
        self.cache = self.cache.eviction_policy(policy);
        self
    }

    /// Whether hits and misses are counted.
    pub fn statistics(mut self, enabled: bool) -> Self {
        self.cache = self.cache.statistics(enabled);
        self
    }

    /// Whether the tag index is kept.
    pub fn tag_index(mut self, enabled: bool) -> Self {
        self.cache = self.cache.tag_index(enabled);
        self
    }

    /// Values of at least this many bytes go to their own file.
    pub fn min_file_size(mut self, bytes: u64) -> Self {
        self.cache = self.cache.min_file_size(bytes);
        self
    }

    /// Whether commits are fsynced.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.cache = self.cache.durability(durability);
        self
    }

    /// How writes reach each shard's database.
    pub fn write_path(mut self, path: WritePath) -> Self {
        self.cache = self.cache.write_path(path);
        self
    }

    /// How long a write waits for a shard's write lock before giving up (`Ok(false)`).
    /// Default 60 s (diskcache's FanoutCache uses 0.010 s; choose what suits the caller).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.cache = self.cache.timeout(timeout);
        self
    }

    /// Each shard's [`CacheBuilder::checkpoint_records`].
    pub fn checkpoint_records(mut self, records: u64) -> Self {
        self.cache = self.cache.checkpoint_records(records);
        self
    }

    /// How every shard's values become bytes (see [`crate::Disk`] and
    /// [`CacheBuilder::disk`]); the built-in encoding if not given.
    pub fn disk(mut self, disk: impl crate::format::disk::Disk) -> Self {
        self.cache = self.cache.disk(disk);
        self
    }

    /// Opens the fanout cache in `dir`, creating it if needed.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a shard count of 0 or over 1000, for a directory that
    /// already holds a fanout cache with another shard count, or one that holds a plain
    /// [`crate::Cache`]; as [`CacheBuilder::open`] for each shard.
    pub fn open(self, dir: impl AsRef<Path>) -> Result<FanoutCache> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)?;
        if dir.join(crate::format::schema::DB_FILE).exists() {
            return Err(Error::InvalidArgument(format!(
                "{} holds a plain Cache, not a FanoutCache",
                dir.display()
            )));
        }
        let n = shard_count(dir, self.shards)?;
        let budget = self
            .memory_budget
            .unwrap_or(crate::settings::DEFAULT_MEMORY_BUDGET);
        let template = self.cache.memory_budget(budget / n as u64);
        // A shard keeps the limit stored in it unless one is given; a new shard gets its part
        // of the default whole-cache limit (as Python's FanoutCache divides 2**30).
        let given = self.size_limit;
        let default = crate::settings::Settings::default().size_limit;
        let shards = (0..n)
            .map(|i| {
                let shard_dir = dir.join(shard_name(i));
                let total = given.or_else(|| {
                    (!shard_dir.join(crate::format::schema::DB_FILE).exists()).then_some(default)
                });
                match total {
                    Some(total) => template.clone().size_limit(total / n as u64),
                    None => template.clone(),
                }
                .open(shard_dir)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(FanoutCache {
            dir: dir.into(),
            shards: shards.into(),
            template,
        })
    }

    /// Opens a fanout cache in a new directory under the system's temporary directory, private
    /// to this user as [`crate::CacheBuilder::temp`]'s is, and removed when the last handle on
    /// any of its shards (or on a cache, deque or index named in it) is dropped.
    ///
    /// # Errors
    /// As [`FanoutBuilder::open`].
    pub fn temp(mut self) -> Result<FanoutCache> {
        let temp = std::sync::Arc::new(crate::builder::private_temp_dir()?);
        let dir = temp.path().to_path_buf();
        self.cache = self.cache.remove_when_closed(temp);
        self.open(dir)
    }
}

/// The name of shard `i`'s subdirectory.
pub(super) fn shard_name(i: usize) -> String {
    format!("{i:03}")
}

/// The shard count recorded in `dir`, checked against `wanted`; records `wanted` (or the
/// default) in a new directory.
fn shard_count(dir: &Path, wanted: Option<usize>) -> Result<usize> {
    if let Some(n) = wanted
        && !(1..=MAX_SHARDS).contains(&n)
    {
        return Err(Error::InvalidArgument(format!(
            "a FanoutCache has 1 to {MAX_SHARDS} shards, not {n}"
        )));
    }
    let path = dir.join(FANOUT_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let stored = parse_fanout_file(&text).ok_or_else(|| {
                Error::corrupted(format!("{} is not a fanout record", path.display()))
            })?;
            match wanted {
                Some(n) if n != stored => Err(Error::InvalidArgument(format!(
                    "{} holds a FanoutCache of {stored} shards, not {n}",
                    dir.display()
                ))),
                _ => Ok(stored),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let n = wanted.unwrap_or(DEFAULT_SHARDS);
            // Written whole under a name no other thread or process uses, then linked to
            // `fanout`: a reader never sees half a record, and, unlike a rename, a link never
            // replaces a record another opener made first (it fails, and that record is read).
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let tmp = dir.join(format!(
                "{FANOUT_FILE}.tmp{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&tmp, format!("{FANOUT_MAGIC}\nshards {n}\n"))?;
            let linked = std::fs::hard_link(&tmp, &path);
            std::fs::remove_file(&tmp)?;
            match linked {
                Ok(()) => Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => shard_count(dir, wanted),
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The shard count of a fanout record: `diskcache fanout v1\nshards N\n`.
fn parse_fanout_file(text: &str) -> Option<usize> {
    let mut lines = text.lines();
    if lines.next()? != FANOUT_MAGIC {
        return None;
    }
    let n: usize = lines.next()?.strip_prefix("shards ")?.parse().ok()?;
    (1..=MAX_SHARDS).contains(&n).then_some(n)
}
