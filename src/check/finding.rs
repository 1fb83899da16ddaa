//! [`Finding`]: one problem `check` reports, typed, with the sentence that describes it.

use std::fmt;

use crate::format::key::Key;
use crate::format::payload::describe;
use crate::settings::EvictionPolicy;

/// One problem [`crate::Cache::check`] found, and with `fix` repaired. `Display` says it in a
/// sentence; the variants say what it concerns, for programs that act on it.
///
/// ```
/// # fn main() -> diskcache::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// use diskcache::Finding;
/// let cache = diskcache::Cache::open(dir.path())?;
/// cache.set("k", 1)?;
/// for finding in cache.check(false)? {
///     match &finding {
///         Finding::Entry { .. } => eprintln!("a damaged entry: {finding}"),
///         other => eprintln!("{other}"),
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finding {
    /// redb's own integrity check of `cache.redb` failed (redb repairs what it can, with or
    /// without `fix`), or the file could not be opened to run it.
    Database {
        /// What redb said.
        problem: String,
    },
    /// An entry whose row does not decode, whose value is missing or damaged, or whose row id
    /// another entry has too. `fix` removes it (and its value file).
    Entry {
        /// The key as stored (see [`Key::from_encoded`]).
        encoded_key: Vec<u8>,
        /// What is wrong with it.
        problem: String,
    },
    /// A value file (`ab/cd/<hex>.val`, or an unfinished `.val.tmp`) that no entry names,
    /// older than the grace `check` gives writers. `fix` deletes it.
    OrphanFile {
        /// Its path relative to the cache directory.
        path: String,
        /// Whether it is an unfinished `.val.tmp` file.
        unfinished: bool,
    },
    /// An order table (insertion, expire, eviction policy or tag) that disagrees with the
    /// rows. `fix` repairs it entry by entry.
    OrderTable {
        /// The table's name (`format-spec/tables.md`).
        table: String,
        /// Entries that name no row, or a row that belongs elsewhere.
        strays: u64,
        /// The first such entry's key, as stored.
        first_stray: Option<Vec<u8>>,
        /// Rows that belong in the table and have no entry there.
        missing: u64,
    },
    /// An order table that the settings do not keep. `fix` deletes it.
    LeftOverTable {
        /// The table's name.
        table: String,
        /// The eviction policy in force.
        policy: EvictionPolicy,
        /// Whether the tag index is on.
        tag_index: bool,
    },
    /// A counter that disagrees with the rows. `fix` stores it again.
    Counter {
        /// Which counter.
        counter: Counter,
        /// What it holds.
        stored: u64,
        /// What the rows say: the number of rows, their summed volume, or the largest row id
        /// (which the next row id must be above).
        found: u64,
    },
    /// A record of `cache.wal` that was left out of the database because it could not be
    /// applied (its block with it). `fix` forgets it.
    LogRecord {
        /// The log generation it belonged to.
        generation: u64,
        /// Its sequence number in that generation.
        seq: u64,
        /// Why it was left out.
        why: String,
    },
}

/// The counters [`Finding::Counter`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Counter {
    /// The number of entries (`len`).
    Count,
    /// The summed volume of the entries (`volume`).
    Volume,
    /// The next row id to hand out.
    NextRowId,
}

impl Finding {
    /// For [`Finding::Entry`], the key it concerns, if its stored bytes decode.
    pub fn key(&self) -> Option<Key> {
        match self {
            // A long key's index key is not a key (its row holds the key).
            Finding::Entry { encoded_key, .. }
                if crate::format::key::long::is_long(encoded_key) =>
            {
                None
            }
            Finding::Entry { encoded_key, .. } => Key::from_encoded(encoded_key).ok(),
            _ => None,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Database { problem } => {
                write!(f, "{}: {problem}", crate::format::schema::DB_FILE)
            }
            Finding::Entry {
                encoded_key,
                problem,
            } => write!(f, "{}: {problem}", describe(encoded_key)),
            Finding::OrphanFile { path, unfinished } if *unfinished => write!(
                f,
                "value file {path}: unfinished, and belongs to no entry (its writer stopped \
                 before renaming it)"
            ),
            Finding::OrphanFile { path, .. } => {
                write!(f, "value file {path}: belongs to no entry")
            }
            Finding::OrderTable {
                table,
                strays,
                first_stray,
                missing,
            } => {
                write!(f, "order table {table} disagrees with the rows: ")?;
                if let Some(first) = first_stray.as_ref().filter(|_| *strays > 0) {
                    write!(
                        f,
                        "{strays} of its entries name no row or a row that belongs elsewhere \
                         (the first names {})",
                        describe(first)
                    )?;
                    if *missing > 0 {
                        f.write_str("; ")?;
                    }
                }
                if *missing > 0 {
                    write!(f, "{missing} rows have no entry in it")?;
                }
                Ok(())
            }
            Finding::LeftOverTable {
                table,
                policy,
                tag_index,
            } => write!(
                f,
                "order table {table} is left over: the settings (policy {policy:?}, tag index \
                 {tag_index}) do not keep it"
            ),
            Finding::Counter {
                counter: Counter::Count,
                stored,
                found,
            } => write!(
                f,
                "the count of entries is {stored}, but there are {found} rows"
            ),
            Finding::Counter {
                counter: Counter::Volume,
                stored,
                found,
            } => write!(f, "the volume is {stored}, but the rows add up to {found}"),
            Finding::Counter {
                counter: Counter::NextRowId,
                stored,
                found,
            } => write!(
                f,
                "the next row id is {stored}, but a row already has id {found}"
            ),
            Finding::LogRecord {
                generation,
                seq,
                why,
            } => write!(
                f,
                "cache.wal: record {seq} of generation {generation} was left out of the \
                 database: {why}"
            ),
        }
    }
}
