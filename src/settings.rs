//! Settings: every knob of a cache, its default, and how it is stored in the `settings` table.

use std::time::Duration;

use crate::error::{Error, Result};

/// Which entries a cull removes first when the cache is over its size limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EvictionPolicy {
    /// Oldest store time first (diskcache's `least-recently-stored`). The default.
    #[default]
    LeastRecentlyStored,
    /// Oldest access time first (`least-recently-used`).
    LeastRecentlyUsed,
    /// Fewest accesses first (`least-frequently-used`).
    LeastFrequentlyUsed,
    /// Never cull (`none`).
    None,
}

impl EvictionPolicy {
    /// The number stored in the `settings` table.
    fn code(self) -> u64 {
        match self {
            EvictionPolicy::None => 0,
            EvictionPolicy::LeastRecentlyStored => 1,
            EvictionPolicy::LeastRecentlyUsed => 2,
            EvictionPolicy::LeastFrequentlyUsed => 3,
        }
    }

    /// The dual of [`EvictionPolicy::code`].
    fn from_code(code: u64) -> Result<Self> {
        Ok(match code {
            0 => EvictionPolicy::None,
            1 => EvictionPolicy::LeastRecentlyStored,
            2 => EvictionPolicy::LeastRecentlyUsed,
            3 => EvictionPolicy::LeastFrequentlyUsed,
            other => return Err(Error::corrupted(format!("unknown eviction policy {other}"))),
        })
    }
}

/// What a write survives once the call that made it has returned.
///
/// Stored in the cache when it is created: a cache keeps the level it was made with (one made
/// before [`Durability::Normal`] existed keeps [`Durability::NoSync`]) unless a builder sets
/// another. `format-spec/durability.md` says exactly what each level promises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Durability {
    /// Survives the process being killed (`kill -9`): every write is in the operating system's
    /// page cache before the call returns, but nothing is fsynced while the cache is open, so
    /// a power loss or kernel crash may lose recent writes or, as with SQLite's
    /// `synchronous=OFF`, damage the database (the next open then runs `check(true)`). The
    /// default before [`Durability::Normal`]; now an explicit choice.
    NoSync,
    /// Also survives power loss: every commit and every value file is fsynced before the call
    /// returns. Several times slower per write.
    Sync,
    /// SQLite's `synchronous=NORMAL` in WAL mode, the level Python diskcache runs at: a power
    /// loss never damages the cache, it only loses the last writes. On the logged path a
    /// write is not synced, but every checkpoint is (the value files it makes reachable,
    /// then redb's commit in its own sync order), and a logged write waits at most about a
    /// second for its checkpoint; after a power loss the unsynced log is dropped, so what
    /// reads back is exactly the last synced checkpoint. On the direct path every commit is
    /// synced, as at [`Durability::Sync`]. The default for new caches.
    #[default]
    Normal,
}

impl Durability {
    fn code(self) -> u64 {
        match self {
            Durability::NoSync => 0,
            Durability::Sync => 1,
            Durability::Normal => 2,
        }
    }

    fn from_code(code: u64) -> Result<Self> {
        Ok(match code {
            0 => Durability::NoSync,
            1 => Durability::Sync,
            2 => Durability::Normal,
            other => {
                return Err(Error::corrupted(format!(
                    "unknown durability level {other}"
                )));
            }
        })
    }

    /// Whether redb's commits are synced where redb's protocol asks ([`Durability::Normal`]
    /// and [`Durability::Sync`]).
    pub(crate) fn syncs_commits(self) -> bool {
        self != Durability::NoSync
    }

    /// Whether each write is synced before it is acknowledged, its log record too
    /// ([`Durability::Sync`] only).
    pub(crate) fn syncs_each_write(self) -> bool {
        self == Durability::Sync
    }

    /// Whether a value file is synced (and its folder after the rename) when it is written,
    /// before its row can commit: at [`Durability::Sync`], and at [`Durability::Normal`] on
    /// the direct path (on the logged path the checkpoint that commits its row syncs it).
    pub(crate) fn syncs_value_files_when_written(self, path: WritePath) -> bool {
        match self {
            Durability::NoSync => false,
            Durability::Sync => true,
            Durability::Normal => path == WritePath::Direct,
        }
    }

    /// Whether the checkpoints of the logged path sync the value files they make reachable
    /// ([`Durability::Normal`] only: at [`Durability::Sync`] they were synced when written).
    pub(crate) fn syncs_value_files_at_checkpoint(self) -> bool {
        self == Durability::Normal
    }
}

/// How writes reach the database.
///
/// The default is [`WritePath::Logged`] on Linux and [`WritePath::Direct`] elsewhere, the only
/// path macOS and Windows have (the crate's platform notes say why).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WritePath {
    /// Through the shared write-ahead log (`cache.wal`, indexed in `cache.shm`), checkpointed
    /// into redb in batches: microseconds per write, reads with no system call. The default
    /// on Linux, and Linux only. Needs shared memory that is coherent between processes:
    /// local file systems only.
    Logged,
    /// Each operation is its own redb write transaction, and nothing is shared but the
    /// database file: tens of microseconds per write. For file systems where memory-mapped
    /// files are not coherent between processes (network file systems).
    Direct,
}

impl Default for WritePath {
    /// [`WritePath::Logged`] on Linux, [`WritePath::Direct`] elsewhere.
    fn default() -> Self {
        crate::platform::default_write_path()
    }
}

impl WritePath {
    /// Whether this platform has the write path: [`WritePath::Direct`] everywhere,
    /// [`WritePath::Logged`] on Linux only. Opening a cache with one it does not have is
    /// [`Error::InvalidArgument`].
    pub fn is_available(self) -> bool {
        crate::platform::check_write_path(self).is_ok()
    }

    fn code(self) -> u64 {
        match self {
            WritePath::Logged => 0,
            WritePath::Direct => 1,
        }
    }

    fn from_code(code: u64) -> Result<Self> {
        Ok(match code {
            0 => WritePath::Logged,
            1 => WritePath::Direct,
            other => return Err(Error::corrupted(format!("unknown write path {other}"))),
        })
    }
}

/// Every setting of a cache, as read by [`crate::Cache::settings`].
///
/// All but `timeout` are stored in the cache: chosen when it is created (or changed by a
/// builder when it is reopened) and applied to every later open.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settings {
    /// Target upper bound of [`crate::Cache::volume`], in bytes. Default 1 GiB.
    pub size_limit: u64,
    /// At most this many entries are culled by one write. Default 10.
    pub cull_limit: u64,
    /// Which entries go first when culling. Default least-recently-stored.
    pub eviction_policy: EvictionPolicy,
    /// Whether hits and misses are counted. Default off.
    pub statistics: bool,
    /// Whether the tag order table is kept, making `evict(tag)` a range scan. Default off.
    pub tag_index: bool,
    /// Values of at least this many bytes go to their own file. Default 32 KiB.
    pub min_file_size: u64,
    /// What a returned write survives. Default [`Durability::Normal`] for a new cache.
    pub durability: Durability,
    /// How writes reach the database. Default [`WritePath::Logged`] on Linux,
    /// [`WritePath::Direct`] elsewhere. Change it only while no other process has the cache
    /// open.
    pub write_path: WritePath,
    /// On the logged path, how many records the log gathers before they are checkpointed
    /// into the database (1 to 16384). Default 16384. Not stored: a per-handle tuning knob.
    pub checkpoint_records: u64,
    /// How long a write waits for the write lock before [`crate::Error::Timeout`]. Default
    /// 60 s. Not stored: each handle chooses its own, as diskcache's `timeout` does.
    pub timeout: Duration,
    /// The bytes of memory this handle may keep to speed up reads: the size of redb's page
    /// cache, the one part of a handle's memory that grows with the cache. Default
    /// [`DEFAULT_MEMORY_BUDGET`]. Not stored: each handle (each process) chooses its own.
    pub memory_budget: u64,
}

/// The default [`Settings::memory_budget`]: 32 MiB, the page cache Python diskcache gives
/// SQLite (8,192 pages of 4 KiB; it maps 64 MiB of the file besides). It holds every page a
/// get needs up to about 100,000 entries of 100-byte values, and beyond that the branch pages,
/// so that a get reads at most its leaf from the operating system; 64 MiB measured no faster
/// at 10^5 or 10^6 entries (`examples/scale.rs`: README, "Memory").
pub const DEFAULT_MEMORY_BUDGET: u64 = 32 << 20;

/// Default records per log generation before a checkpoint. Measured with the `bench`
/// example: see `format-spec/wal.md`.
const DEFAULT_CHECKPOINT_RECORDS: u64 = 16384;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            size_limit: 1 << 30,
            cull_limit: 10,
            eviction_policy: EvictionPolicy::LeastRecentlyStored,
            statistics: false,
            tag_index: false,
            min_file_size: 32 * 1024,
            durability: Durability::Normal,
            write_path: WritePath::default(),
            checkpoint_records: DEFAULT_CHECKPOINT_RECORDS,
            timeout: Duration::from_secs(60),
            memory_budget: DEFAULT_MEMORY_BUDGET,
        }
    }
}

/// One stored setting with its value: what a builder overrides and what the `settings` table
/// holds, one row each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Setting {
    /// [`Settings::size_limit`].
    SizeLimit(u64),
    /// [`Settings::cull_limit`].
    CullLimit(u64),
    /// [`Settings::eviction_policy`].
    EvictionPolicy(EvictionPolicy),
    /// [`Settings::statistics`].
    Statistics(bool),
    /// [`Settings::tag_index`].
    TagIndex(bool),
    /// [`Settings::min_file_size`].
    MinFileSize(u64),
    /// [`Settings::durability`].
    Durability(Durability),
    /// [`Settings::write_path`].
    WritePath(WritePath),
}

impl Setting {
    /// The row name in the `settings` table.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Setting::SizeLimit(_) => "size_limit",
            Setting::CullLimit(_) => "cull_limit",
            Setting::EvictionPolicy(_) => "eviction_policy",
            Setting::Statistics(_) => "statistics",
            Setting::TagIndex(_) => "tag_index",
            Setting::MinFileSize(_) => "min_file_size",
            Setting::Durability(_) => "durability",
            Setting::WritePath(_) => "write_path",
        }
    }

    /// The row value in the `settings` table.
    pub(crate) fn code(&self) -> u64 {
        match *self {
            Setting::SizeLimit(v) | Setting::CullLimit(v) | Setting::MinFileSize(v) => v,
            Setting::EvictionPolicy(p) => p.code(),
            Setting::Statistics(b) | Setting::TagIndex(b) => u64::from(b),
            Setting::Durability(d) => d.code(),
            Setting::WritePath(w) => w.code(),
        }
    }

    /// The dual of [`Setting::name`] and [`Setting::code`]; `Ok(None)` for a name this build
    /// does not know (a later version's setting, ignored).
    pub(crate) fn decode(name: &str, code: u64) -> Result<Option<Setting>> {
        let flag = |v: u64| match v {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(Error::corrupted(format!(
                "setting {name} holds {other}, not 0 or 1"
            ))),
        };
        Ok(Some(match name {
            "size_limit" => Setting::SizeLimit(code),
            "cull_limit" => Setting::CullLimit(code),
            "eviction_policy" => Setting::EvictionPolicy(EvictionPolicy::from_code(code)?),
            "statistics" => Setting::Statistics(flag(code)?),
            "tag_index" => Setting::TagIndex(flag(code)?),
            "min_file_size" => Setting::MinFileSize(code),
            "durability" => Setting::Durability(Durability::from_code(code)?),
            "write_path" => Setting::WritePath(WritePath::from_code(code)?),
            _ => return Ok(None),
        }))
    }

    /// Every stored setting of `s`, in table order.
    pub(crate) fn all_of(s: &Settings) -> [Setting; 8] {
        [
            Setting::SizeLimit(s.size_limit),
            Setting::CullLimit(s.cull_limit),
            Setting::EvictionPolicy(s.eviction_policy),
            Setting::Statistics(s.statistics),
            Setting::TagIndex(s.tag_index),
            Setting::MinFileSize(s.min_file_size),
            Setting::Durability(s.durability),
            Setting::WritePath(s.write_path),
        ]
    }
}

impl Settings {
    /// `stored` (settings read from a cache) with this handle's own, unstored ones (`timeout`,
    /// `checkpoint_records`, `memory_budget`) taken from `self`.
    pub(crate) fn own_with(&self, stored: Settings) -> Settings {
        Settings {
            timeout: self.timeout,
            checkpoint_records: self.checkpoint_records,
            memory_budget: self.memory_budget,
            ..stored
        }
    }

    /// The settings stored in a `settings` table (defaults for rows it lacks).
    pub(crate) fn read_from(table: &impl redb::ReadableTable<&'static str, u64>) -> Result<Self> {
        let mut settings = Settings::default();
        for item in table.iter()? {
            let (name, code) = item?;
            if let Some(setting) = Setting::decode(name.value(), code.value())? {
                settings.apply(setting);
            }
        }
        Ok(settings)
    }

    /// Applies one setting; returns the value it replaced.
    pub(crate) fn apply(&mut self, setting: Setting) -> Setting {
        let old = match setting {
            Setting::SizeLimit(_) => Setting::SizeLimit(self.size_limit),
            Setting::CullLimit(_) => Setting::CullLimit(self.cull_limit),
            Setting::EvictionPolicy(_) => Setting::EvictionPolicy(self.eviction_policy),
            Setting::Statistics(_) => Setting::Statistics(self.statistics),
            Setting::TagIndex(_) => Setting::TagIndex(self.tag_index),
            Setting::MinFileSize(_) => Setting::MinFileSize(self.min_file_size),
            Setting::Durability(_) => Setting::Durability(self.durability),
            Setting::WritePath(_) => Setting::WritePath(self.write_path),
        };
        match setting {
            Setting::SizeLimit(v) => self.size_limit = v,
            Setting::CullLimit(v) => self.cull_limit = v,
            Setting::EvictionPolicy(p) => self.eviction_policy = p,
            Setting::Statistics(b) => self.statistics = b,
            Setting::TagIndex(b) => self.tag_index = b,
            Setting::MinFileSize(v) => self.min_file_size = v,
            Setting::Durability(d) => self.durability = d,
            Setting::WritePath(w) => self.write_path = w,
        }
        old
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_round_trips_through_its_table_row() {
        let s = Settings {
            size_limit: 5,
            cull_limit: 0,
            eviction_policy: EvictionPolicy::LeastFrequentlyUsed,
            statistics: true,
            tag_index: true,
            min_file_size: 1,
            durability: Durability::Sync,
            write_path: WritePath::Direct,
            ..Settings::default()
        };
        let mut back = Settings::default();
        for setting in Setting::all_of(&s) {
            let decoded = Setting::decode(setting.name(), setting.code())
                .unwrap()
                .unwrap();
            back.apply(decoded);
        }
        assert_eq!(back, s);
    }

    fn any_settings() -> impl proptest::strategy::Strategy<Value = Settings> {
        use proptest::prelude::*;
        let policies = [
            EvictionPolicy::LeastRecentlyStored,
            EvictionPolicy::LeastRecentlyUsed,
            EvictionPolicy::LeastFrequentlyUsed,
            EvictionPolicy::None,
        ];
        let levels = [Durability::NoSync, Durability::Sync, Durability::Normal];
        (
            any::<u64>(),
            any::<u64>(),
            0..4usize,
            any::<bool>(),
            any::<bool>(),
            any::<u64>(),
            0..3usize,
            any::<bool>(),
        )
            .prop_map(
                move |(size, cull, p, stats, tags, min, level, direct)| Settings {
                    size_limit: size,
                    cull_limit: cull,
                    eviction_policy: policies[p],
                    statistics: stats,
                    tag_index: tags,
                    min_file_size: min,
                    durability: levels[level],
                    write_path: if direct {
                        WritePath::Direct
                    } else {
                        WritePath::Logged
                    },
                    ..Settings::default()
                },
            )
    }

    proptest::proptest! {
        /// decode(encode(x)) == x for every stored setting, through its (name, code) row.
        #[test]
        fn any_settings_round_trip_through_their_table_rows(s in any_settings()) {
            let mut back = Settings::default();
            for setting in Setting::all_of(&s) {
                back.apply(Setting::decode(setting.name(), setting.code()).unwrap().unwrap());
            }
            proptest::prop_assert_eq!(back, s);
        }

        /// No (name, code) pair panics; a known name decodes to a setting with that name and
        /// code, or is refused.
        #[test]
        fn any_row_decodes_or_is_refused(name in "[a-z_]{0,20}", code: u64) {
            if let Ok(Some(setting)) = Setting::decode(&name, code) {
                proptest::prop_assert_eq!(setting.name(), name.as_str());
                proptest::prop_assert_eq!(setting.code(), code);
            }
        }
    }

    #[test]
    fn unknown_names_are_ignored_and_bad_codes_refused() {
        assert_eq!(Setting::decode("from_the_future", 3).unwrap(), None);
        assert!(Setting::decode("statistics", 2).is_err());
        assert!(Setting::decode("eviction_policy", 99).is_err());
        assert!(Setting::decode("durability", 7).is_err());
        assert!(Setting::decode("write_path", 2).is_err());
    }

    #[test]
    fn apply_returns_the_old_value() {
        let mut s = Settings::default();
        assert_eq!(s.apply(Setting::CullLimit(3)), Setting::CullLimit(10));
        assert_eq!(s.cull_limit, 3);
    }
}
