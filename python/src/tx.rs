//! `Cache.transact()` as a `with` block: a library transaction held open across Python code.
//!
//! The library's `Cache::transact` runs a closure. A `with` block is not one, so a
//! transaction runs its closure on a thread of its own, which holds the write lock and runs,
//! one at a time, the operations the block's thread sends it, until the block ends and asks
//! it to commit or roll back. The jobs are plain Rust (encoded keys, owned values): the
//! transaction's thread never needs the GIL, and the block's thread waits without it.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::{JoinHandle, ThreadId};

use diskcache::{Cache, Error, Result, Transaction};

/// One operation for the transaction's thread.
type Job = Box<dyn FnOnce(&Transaction<'_>) + Send>;

/// What the block's thread sends.
enum Msg {
    Run(Job),
    Commit,
    Rollback,
}

/// An open transaction of one cache, owned by the thread that began it.
pub struct OpenTx {
    owner: ThreadId,
    jobs: Sender<Msg>,
    thread: Option<JoinHandle<Result<()>>>,
}

/// The error a rolled-back transaction ends with (never shown to Python).
const ROLLED_BACK: &str = "the Python block raised: rolled back";

impl OpenTx {
    /// Begins a transaction of `cache` on a thread of its own, once it holds the write lock;
    /// [`Error::Timeout`] if the lock was not had in time.
    pub fn begin(cache: Arc<Cache>) -> Result<OpenTx> {
        let (jobs, rx) = channel::<Msg>();
        let (started, started_rx) = sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("diskcache-py-tx".into())
            .spawn(move || run(&cache, &rx, &started))?;
        match started_rx.recv() {
            Ok(()) => Ok(OpenTx {
                owner: std::thread::current().id(),
                jobs,
                thread: Some(thread),
            }),
            // The thread ended before its transaction began: its error says why.
            Err(_) => Err(join(thread).err().unwrap_or(Error::Timeout)),
        }
    }

    /// Whether the calling thread began this transaction.
    pub fn is_owner(&self) -> bool {
        std::thread::current().id() == self.owner
    }

    /// Runs `f` inside the transaction and returns its result.
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = sync_channel::<Result<T>>(1);
        let job: Job = Box::new(move |t| {
            let _ = tx.send(f(t));
        });
        self.jobs.send(Msg::Run(job)).map_err(|_| ended())?;
        rx.recv().map_err(|_| ended())?
    }

    /// Commits (`commit`) or rolls back, and waits for the transaction's thread to end.
    pub fn finish(mut self, commit: bool) -> Result<()> {
        let _ = self
            .jobs
            .send(if commit { Msg::Commit } else { Msg::Rollback });
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        match join(thread) {
            Err(Error::InvalidArgument(msg)) if !commit && msg == ROLLED_BACK => Ok(()),
            other => other,
        }
    }
}

impl Drop for OpenTx {
    /// A transaction dropped without `finish` (its block never ended) rolls back.
    fn drop(&mut self) {
        let _ = self.jobs.send(Msg::Rollback);
    }
}

/// The transaction's thread: holds the transaction and runs jobs until told to end.
fn run(cache: &Cache, rx: &Receiver<Msg>, started: &SyncSender<()>) -> Result<()> {
    cache.transact(|t| {
        let _ = started.send(());
        loop {
            match rx.recv() {
                Ok(Msg::Run(job)) => job(t),
                Ok(Msg::Commit) => return Ok(()),
                Ok(Msg::Rollback) | Err(_) => {
                    return Err(Error::InvalidArgument(ROLLED_BACK.into()));
                }
            }
        }
    })
}

fn join(thread: JoinHandle<Result<()>>) -> Result<()> {
    thread.join().unwrap_or_else(|_| {
        Err(Error::InvalidArgument(
            "the transaction's thread panicked".into(),
        ))
    })
}

fn ended() -> Error {
    Error::InvalidArgument("the transaction has ended".into())
}
