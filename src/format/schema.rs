//! The redb tables of a cache and the format version: the code mirror of `format-spec/tables.md`.

use redb::TableDefinition;

/// The name recorded for caches that use the built-in encoding (no `Disk` given).
pub const DEFAULT_DISK: &str = "default";

/// The newest on-disk format version this build reads and writes, stored in the `meta` table
/// under `format_version` (`format-spec/tables.md`).
///
/// A new cache is version 1; the first write of a key longer than [`crate::MAX_KEY_BYTES`]
/// encoded raises it to 2, and the first open on the logged write path (whose log has two
/// lanes) to 3 (`format-spec/README.md`, Version changes). A cache with a larger version than
/// this is refused with [`crate::Error::UnsupportedVersion`].
pub const FORMAT_VERSION: u64 = 3;

/// The oldest on-disk format version this build reads: it opens caches of the versions
/// `OLDEST_FORMAT_VERSION..=FORMAT_VERSION` and refuses any other with
/// [`crate::Error::UnsupportedVersion`].
pub const OLDEST_FORMAT_VERSION: u64 = 1;

/// The format version a new cache is created with.
pub(crate) const FIRST_FORMAT_VERSION: u64 = 1;

/// The format version of a cache that has ever stored a long key (`key/long.rs`).
pub(crate) const LONG_KEYS_FORMAT_VERSION: u64 = 2;

/// The format version of a cache whose shared log has two lanes (`format-spec/wal.md`):
/// every cache the logged write path has opened.
pub(crate) const LANES_FORMAT_VERSION: u64 = 3;

/// File name of the database inside a cache directory.
pub const DB_FILE: &str = "cache.redb";
/// The file in a fanout directory that records its shard count.
pub(crate) const FANOUT_FILE: &str = "fanout";

/// `meta`: name → u64. Format version and the counters kept in step with every commit.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// `meta` row: the format version the cache was written with.
pub(crate) const META_FORMAT_VERSION: &str = "format_version";
/// `meta` row: number of entries, expired ones included until they are removed.
pub(crate) const META_COUNT: &str = "count";
/// `meta` row: the sum of every entry's volume (see [`crate::format::row::Row::volume`]).
pub(crate) const META_VOLUME: &str = "volume";
/// `meta` row: the next row id to hand out; row ids give insertion order.
pub(crate) const META_NEXT_ROW_ID: &str = "next_row_id";
/// `meta` row: cache hits counted while statistics were on, as flushed by checkpoints.
pub(crate) const META_HITS: &str = "hits";
/// `meta` row: cache misses counted while statistics were on, as flushed by checkpoints.
pub(crate) const META_MISSES: &str = "misses";

/// `info`: name → text. Row `disk`: the [`crate::Disk::name`] the cache was created with
/// (absent: [`crate::DEFAULT_DISK`]).
pub(crate) const INFO: TableDefinition<&str, &str> = TableDefinition::new("info");
/// `info` row naming the cache's disk.
pub(crate) const INFO_DISK: &str = "disk";

/// `settings`: setting name → u64 (see `format-spec/tables.md` for each name's encoding).
pub(crate) const SETTINGS: TableDefinition<&str, u64> = TableDefinition::new("settings");

/// `entries`: encoded key → encoded row (`format-spec/rows.md`).
pub(crate) const ENTRIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("entries");

/// `order_insert`: row id → encoded key. Insertion order: `keys()`, `peekitem`, queues.
pub(crate) const ORDER_INSERT: TableDefinition<u64, &[u8]> = TableDefinition::new("order_insert");

/// `order_expire`: (expire time µs, row id) → encoded key. Entries with an expire time only.
pub(crate) const ORDER_EXPIRE: TableDefinition<(u64, u64), &[u8]> =
    TableDefinition::new("order_expire");

/// `order_store`: (store time µs, row id) → encoded key. Kept while the eviction policy is
/// least-recently-stored.
pub(crate) const ORDER_STORE: TableDefinition<(u64, u64), &[u8]> =
    TableDefinition::new("order_store");

/// `order_access`: (access time µs, row id) → encoded key. Kept while the eviction policy is
/// least-recently-used.
pub(crate) const ORDER_ACCESS: TableDefinition<(u64, u64), &[u8]> =
    TableDefinition::new("order_access");

/// `order_frequency`: (access count, row id) → encoded key. Kept while the eviction policy is
/// least-frequently-used.
pub(crate) const ORDER_FREQUENCY: TableDefinition<(u64, u64), &[u8]> =
    TableDefinition::new("order_frequency");

/// `order_tag`: (encoded tag, row id) → encoded key. Tagged entries only; kept while the
/// `tag_index` setting is on.
pub(crate) const ORDER_TAG: TableDefinition<(&[u8], u64), &[u8]> =
    TableDefinition::new("order_tag");

/// `log_damage`: (generation, sequence number) → the bytes of a log record that a checkpoint
/// or recovery left out, because it or another record of its atomic block is damaged
/// (`format-spec/wal.md`). Made by the first such record; `check` reports each, and
/// `check(true)` deletes the table.
pub(crate) const LOG_DAMAGE: TableDefinition<(u64, u64), &[u8]> =
    TableDefinition::new("log_damage");

/// An order table keyed by (a row field, row id).
pub(crate) type OrderTable = TableDefinition<'static, (u64, u64), &'static [u8]>;

/// The row field an order table sorts by.
pub(crate) type OrderField = fn(&crate::format::row::Row) -> u64;

/// The policy order table an eviction policy keeps, and the row field it orders by.
pub(crate) fn policy_order(
    policy: crate::settings::EvictionPolicy,
) -> Option<(OrderTable, OrderField)> {
    use crate::settings::EvictionPolicy as P;
    match policy {
        P::LeastRecentlyStored => Some((ORDER_STORE, |r| r.store_time)),
        P::LeastRecentlyUsed => Some((ORDER_ACCESS, |r| r.access_time)),
        P::LeastFrequentlyUsed => Some((ORDER_FREQUENCY, |r| r.access_count)),
        P::None => None,
    }
}
