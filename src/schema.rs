//! The redb tables of a cache and the format version: the code mirror of `format-spec/tables.md`.

use redb::TableDefinition;

/// The on-disk format version this build writes, stored in [`META`] under [`META_FORMAT_VERSION`].
///
/// A cache with a larger version is refused with [`crate::Error::UnsupportedVersion`].
pub const FORMAT_VERSION: u64 = 1;

/// File name of the database inside a cache directory.
pub const DB_FILE: &str = "cache.redb";

/// `meta`: name → u64. Format version and the counters kept in step with every commit.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// `meta` row: the format version the cache was written with.
pub(crate) const META_FORMAT_VERSION: &str = "format_version";
/// `meta` row: number of entries, expired ones included until they are removed.
pub(crate) const META_COUNT: &str = "count";
/// `meta` row: the sum of every entry's volume (see [`crate::row::Row::volume`]).
pub(crate) const META_VOLUME: &str = "volume";
/// `meta` row: the next row id to hand out; row ids give insertion order.
pub(crate) const META_NEXT_ROW_ID: &str = "next_row_id";

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
