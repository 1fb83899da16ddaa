//! A disk-backed, process-safe cache: Python's `diskcache` in pure Rust.
//!
//! A [`Cache`] is a dictionary that lives in a directory: every operation is atomic, and any
//! number of threads (clones of one `Cache`) and processes (each opening the same directory)
//! can use it at once. Keys are integers, floats, text, bytes or composite values; values
//! are any `serde` type. Entries can expire and carry tags; large values live in their own
//! files and can be streamed in and out.
//!
//! Storage is [redb](https://docs.rs/redb), an embedded copy-on-write B-tree, in its
//! multi-process mode, plus one file per large value, every value checked by a crc32. On
//! Linux, writes reach redb through a write-ahead log shared by all processes and indexed in shared memory
//! (SQLite's WAL design): a write costs a `pwrite` under a lock word in shared memory, a read a lock-free probe.
//! No SQLite and no C toolchain: it builds with `cargo build` alone. The on-disk format is
//! written down in `format-spec/` in the repository.
//!
//! ```
//! # fn main() -> diskcache::Result<()> {
//! # let dir = tempfile::tempdir()?;
//! use std::time::Duration;
//! use diskcache::{Cache, Key, SetOptions};
//!
//! let cache = Cache::open(dir.path())?;
//! cache.set("greeting", "hello")?;
//! cache.set(1, &vec![1u8, 2, 3])?;
//! cache.set_with("session", &42, SetOptions::default().expire(Duration::from_secs(60)).tag("web"))?;
//!
//! assert_eq!(cache.get::<String>("greeting")?.as_deref(), Some("hello"));
//! assert_eq!(cache.get::<Vec<u8>>(1.0)?, Some(vec![1, 2, 3])); // 1.0 is the key 1
//! assert_eq!(cache.incr("session", 1, None)?, 43);
//!
//! let composite = Key::from_serialize(&("user", 7))?;
//! cache.set(composite.clone(), "seven")?;
//! assert!(cache.contains(composite)?);
//! assert_eq!(cache.len()?, 4);
//! # Ok(()) }
//! ```
//!
//! # Platforms
//! Linux, macOS and Windows. [`Cache::open`] gives a new cache the platform's default write
//! path: [`WritePath::Logged`] (the shared log) on Linux, [`WritePath::Direct`] (one redb
//! transaction per operation) on macOS and Windows, which have no other; asking for a path
//! the platform lacks is [`Error::InvalidArgument`]. The clean-shutdown marker that checks a
//! cache after a power loss is Linux's only. The README's platform table says why and what is
//! tested where.
//!
//! # What it is not
//! An embedded cache for one machine. To share a cache between machines, use a network cache
//! (Redis, memcached). On a network file system, choose [`WritePath::Direct`].
//!
//! # Limits
//! Keys may be of any length (one longer than [`MAX_KEY_BYTES`] encoded is stored under an
//! index key of its first [`MAX_KEY_BYTES`] bytes and a hash); tags are at most
//! [`MAX_KEY_BYTES`] encoded; integer keys and values are `i64`.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![doc(test(attr(deny(warnings))))]

#[cfg(feature = "tokio")]
pub mod asynchronous;
mod builder;
mod cache;
mod caller;
mod check;
mod compute;
mod deque;
mod engine;
mod error;
mod fanout;
mod files;
mod fork;
mod format;
mod index;
mod iter;
mod maintenance;
mod memo;
mod observe;
mod ops;
mod options;
#[doc(hidden)]
pub mod platform;
mod progress;
mod queue;
mod reader;
pub mod recipes;
mod settings;
mod testing;
mod time;
mod transaction;

pub use format::key;
// The process's background thread, which this crate's own tests (feature `testing`) watch.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub use engine::janitor;
// Test hooks at the crate's root: this crate's own tests (feature `testing`) and the fuzz
// targets (`fuzz/`) reach them as `diskcache::fault` and `diskcache::fuzzing`.
#[cfg(any(feature = "testing", fuzzing))]
#[doc(hidden)]
pub use testing::{fault, fuzzing, recorder};

pub use builder::CacheBuilder;
pub use cache::Cache;
pub use check::{Counter, Finding};
pub use deque::{Deque, DequeIter, DequeTransaction};
pub use error::{Detail, Error, ErrorKind, Result};
pub use fanout::{DEFAULT_SHARDS, FanoutBuilder, FanoutCache, FanoutTransaction, ShardFinding};
pub use format::disk::{CompressedDisk, DEFAULT_DISK, Disk, JsonDisk};
pub use format::schema::FORMAT_VERSION;
pub use format::schema::OLDEST_FORMAT_VERSION;
pub use format::value::{PICKLED, ValueKind};
pub use index::{Index, IndexIter, IndexKeys, IndexValues};
pub use iter::Keys;
pub use key::{IntoKey, Key, MAX_KEY_BYTES};
pub use memo::{Memo, MemoOptions, Memoized, TryMemoized};
pub use options::{Entry, Number, SetOptions, Side, Stats, Tag};
pub use progress::{Outcome, Phase, Progress};
pub use reader::ValueReader;
pub use recipes::{
    Averager, BoundedSemaphore, Lock, LockGuard, RLock, RLockGuard, SemaphoreGuard, Throttle,
    barrier,
};
pub use settings::{
    DEFAULT_MEMORY_BUDGET, Durability, EvictionPolicy, Setting, Settings, WritePath,
};
pub use transaction::Transaction;

/// Crash hook for the kill -9 harness (`tests/durability/wal_harness.rs`): aborts the process, as a
/// `kill -9` would at that instant, when the environment variable `DISKCACHE_CRASH_POINT` is
/// `name:n` and this is the `n`-th time (from 1) this process reaches the point `name`. The
/// variable is read once; without it, each point costs one atomic load. Only in test and fuzz
/// builds: elsewhere the variable means nothing.
#[cfg(any(feature = "testing", fuzzing))]
pub(crate) fn crash_point(name: &str) {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SPEC: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);
    let spec = SPEC.get_or_init(|| {
        let raw = std::env::var("DISKCACHE_CRASH_POINT").ok()?;
        let (point, n) = raw.split_once(':')?;
        Some((point.to_owned(), n.parse().ok()?))
    });
    if let Some((point, n)) = spec
        && point == name
        && HITS.fetch_add(1, Ordering::Relaxed) + 1 == *n
    {
        std::process::abort();
    }
}

/// The crash hook outside test and fuzz builds: nothing.
#[cfg(not(any(feature = "testing", fuzzing)))]
#[inline(always)]
pub(crate) fn crash_point(_name: &str) {}

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
