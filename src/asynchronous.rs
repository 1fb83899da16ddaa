//! Async handles for tokio (feature `tokio`): [`AsyncCache`], [`AsyncFanoutCache`],
//! [`AsyncDeque`], [`AsyncIndex`] and the recipes [`AsyncLock`], [`AsyncSemaphore`] and
//! [`AsyncThrottle`].
//!
//! Every operation of this crate is blocking: a write may wait for the write lock up to the
//! cache's `timeout` (60 s by default), a value of `min_file_size` bytes or more is a file to
//! read or write, whole-cache operations (`clear`, `check`, `compact`, ...) take as long as the
//! cache is large, and a recipe's `acquire` sleeps until it gets in. On one of a tokio
//! runtime's worker threads, such a wait stalls every task of that thread. An async handle
//! wraps a clone of the blocking handle and runs each operation on tokio's blocking pool
//! ([`tokio::task::spawn_blocking`]), so the worker threads go on running other tasks.
//!
//! ```
//! # fn main() -> diskcache::Result<()> {
//! # let dir = tempfile::tempdir()?;
//! # let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! # runtime.block_on(async {
//! use diskcache::asynchronous::AsyncCache;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, PartialEq, Debug)]
//! struct Session { user: String, visits: u32 }
//!
//! let cache = AsyncCache::open(dir.path()).await?;
//! cache.set("session:1", Session { user: "ann".into(), visits: 1 }).await?;
//! let session: Option<Session> = cache.get("session:1").await?;
//! assert_eq!(session.map(|s| s.visits), Some(1));
//! assert_eq!(cache.incr("hits", 1, Some(0)).await?, 1);
//! # Ok::<(), diskcache::Error>(())
//! # })?;
//! # Ok(()) }
//! ```
//!
//! # What the hop costs, and which calls may skip it
//!
//! A hop to the blocking pool and back costs tens of microseconds (a blocking-pool thread is
//! woken and the task is woken back), many times a `get` of an inline value:
//! `cargo run --release --example async_service -- --measure` prints both. On a 2-core Linux
//! machine shared with other builds (load average about 12), a `get` of a 100-byte value took
//! 0.7 to 2.8 µs called directly and 17 to 37 µs through the hop, 12 to 28 times as long, on
//! a multi-threaded runtime and on a one-thread one alike. [`AsyncCache::cache`] gives the
//! blocking handle for the calls that are fine to make on a worker thread, because they wait
//! for no lock of this crate and read no file:
//!
//! - `get`, `get_entry` and `contains` of a value stored inline (smaller than `min_file_size`,
//!   32 KiB unless chosen otherwise), on Linux's logged write path. They take no lock of this
//!   crate: the key is looked up by a lock-free probe of the log's index in shared memory,
//!   then in a cached database snapshot. Their rare waits: a fresh snapshot (after a
//!   checkpoint, or after ~10 ms unused) takes redb's shared header lock for the moment it
//!   reads the header, which another process's [`crate::Cache::compact`] holds for its whole
//!   run; a process that died while publishing a transaction's keys is recovered by the first
//!   reader that sees it (after 5 ms), under the write lock, which it may wait for up to the
//!   timeout; and in a child process after a `fork`, the first call opens the cache again.
//! - [`crate::Cache::directory`], and [`crate::Cache::settings`], which reads memory (once
//!   after another process's `reset`, the database).
//!
//! Everything else may wait and goes through the hop: every write (the write lock), a read of
//! a value that lives in its own file (the file), `len` and `volume` (on the logged path they
//! wait out a checkpoint's commit), iteration and `peekitem` (a checkpoint first), every
//! whole-cache operation, opening and closing, and the recipes' waits. On the direct write
//! path (macOS, Windows, or chosen) every read opens a fresh redb read transaction, which
//! waits while another process's commit writes the database header, so use the hop for reads
//! there too.
//!
//! # Cancellation
//!
//! An operation starts when its future is first polled and then runs to its end on the
//! blocking pool, as `spawn_blocking` does: dropping the future after that does not stop a
//! write, which may still be applied. The recipes' waits are the exception: a dropped
//! `acquire` stops waiting within 100 ms, and a lock or permit it took meanwhile is released.
//!
//! # Errors
//!
//! As the blocking call's; awaited outside a tokio runtime, [`Error::InvalidArgument`]. A
//! panic in the operation (in a closure given to `run`, say) is resumed in the awaiting task.

mod cache;
mod collections;
mod fanout;
mod recipes;

use std::io;

pub use cache::AsyncCache;
pub use collections::{AsyncDeque, AsyncIndex};
pub use fanout::AsyncFanoutCache;
pub use recipes::{AsyncLock, AsyncLockGuard, AsyncSemaphore, AsyncSemaphoreGuard, AsyncThrottle};

use crate::error::{Error, Result};
use crate::testing::sabotage::{self, Sabotage};

/// Runs `f` on tokio's blocking pool and waits for it without blocking the worker thread.
///
/// # Errors
/// `f`'s; [`Error::InvalidArgument`] outside a tokio runtime; [`Error::Io`] if the runtime
/// shut down before `f` ran. A panic in `f` is resumed here.
async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    if sabotage::on(Sabotage::AsyncRunsInline) {
        // Negative control (`sabotage`): the operation runs on the runtime's thread.
        return f();
    }
    match runtime()?.spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(Error::Io(io::Error::other(
            "the tokio runtime shut down before the cache operation ran",
        ))),
    }
}

/// The runtime of the calling task.
///
/// # Errors
/// [`Error::InvalidArgument`] outside a tokio runtime.
fn runtime() -> Result<tokio::runtime::Handle> {
    tokio::runtime::Handle::try_current().map_err(|_| {
        Error::InvalidArgument(
            "diskcache's async handles must be awaited inside a tokio runtime".into(),
        )
    })
}
