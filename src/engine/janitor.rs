//! The process's one background thread, shared by every cache and shard it opens.
//!
//! Each open store registers a [`Chore`]: a round of upkeep (drop a cached snapshot that a
//! newer generation or a pause has left behind, recover from a lock holder that died, write
//! the reads noted for the eviction policy). While any chore says it has more to do, the
//! janitor runs a round every [`PERIOD`] (at once after a [`wake_now`], as for a sealed lane
//! of the log); once none has, it sleeps until a store has work again and calls [`wake`] (a
//! snapshot cached, a read noted). A process whose caches are idle therefore has one sleeping
//! thread, whatever the number of caches and shards.
//!
//! Sleeping without missing work: the janitor clears [`AWAKE`] *before* a round's look at
//! the chores, and a store calls [`wake`] *after* making its work visible, each with a
//! sequentially consistent fence between. Either the round sees the work, or the store sees
//! `AWAKE` clear and rings the bell. Stores call [`wake`] only when work appears (a snapshot
//! cached, the first read noted since the last flush), not on every read.
//!
//! A forked child has none of its parent's threads. Its caches reopen their stores
//! (`fork.rs`), which register with a janitor of the child's own: the registry notes the
//! process it belongs to, and the child never touches the parent's janitor, whose mutex the
//! parent's thread may have held at the fork.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use crate::engine::Store;
use crate::testing::sabotage::{self, Sabotage};

/// How long the janitor waits between rounds while some chore has work left.
const PERIOD: Duration = Duration::from_millis(10);

/// The upkeep of one open store.
pub(crate) trait Chore: Send + Sync {
    /// Runs one round of upkeep; returns whether work is left for a later round.
    fn round(&self) -> bool;
}

/// Whether this process's janitor is running rounds (or about to): while it is, [`wake`] is
/// one atomic load.
static AWAKE: AtomicBool = AtomicBool::new(false);

/// Set by [`wake_now`]: work that must not wait for the end of the janitor's pause between
/// rounds (a sealed lane, whose checkpoint writers may soon wait for).
static URGENT: AtomicBool = AtomicBool::new(false);

/// Rounds run by this process's janitors, for tests of its sleep.
static ROUNDS: AtomicU64 = AtomicU64::new(0);

/// The janitor of the process that made it.
static CURRENT: Mutex<Option<Arc<Janitor>>> = Mutex::new(None);

/// One process's janitor: its chores, and the bell it sleeps by.
struct Janitor {
    pid: u32,
    chores: Mutex<Vec<Weak<dyn Chore>>>,
    bell: Condvar,
    /// Held through each chore's round, while the janitor holds the store: see [`Barrier`].
    round: Mutex<()>,
}

/// Put last among the fields of what holds a store for a caller (a cache handle, an
/// iterator): once the store's reference is dropped, waits until the janitor's round in
/// progress, if any, is over. The janitor holds a store only during its round, so a caller
/// that drops its last handle has the store closed (its files flushed, a temporary directory
/// removed) when the drop returns, not a moment later on the janitor's thread.
#[derive(Debug, Default)]
pub(crate) struct Barrier;

impl Drop for Barrier {
    fn drop(&mut self) {
        let janitor = this_process(&CURRENT.lock().unwrap_or_else(PoisonError::into_inner));
        if let Some(janitor) = janitor {
            drop(janitor.round.lock().unwrap_or_else(PoisonError::into_inner));
        }
    }
}

/// Hands a newly opened store's upkeep to this process's janitor (a cache's open, and a
/// forked child's reopening in `fork.rs`).
pub(crate) fn register_store(store: &Arc<Store>) {
    let chore: Weak<dyn Chore> = Arc::downgrade(store) as _;
    register(chore);
}

/// A store's round: its upkeep (`Store::janitor_tick`).
impl Chore for Store {
    fn round(&self) -> bool {
        self.janitor_tick()
    }
}

/// Registers `chore` with this process's janitor (starting the thread on first use). The
/// janitor holds it weakly: the chore ends when its store is dropped.
fn register(chore: Weak<dyn Chore>) {
    let janitor = if sabotage::on(Sabotage::JanitorPerStore) {
        start(std::process::id())
    } else {
        current()
    };
    janitor.lock().push(chore);
    ring(&janitor);
}

/// Tells the janitor that a store has work for it. Cheap while the janitor is awake.
pub(crate) fn wake() {
    // Orders the caller's work before the look at `AWAKE` (see the module's doc).
    fence(Ordering::SeqCst);
    if !AWAKE.load(Ordering::SeqCst) {
        ring(&current());
    }
}

/// Tells the janitor that a store has work that must start now (a lane sealed): ends its
/// pause between rounds as well as its sleep.
pub(crate) fn wake_now() {
    URGENT.store(true, Ordering::SeqCst);
    ring(&current());
}

/// Rounds run so far by this process's janitor.
#[cfg(any(test, feature = "testing"))]
pub fn rounds() -> u64 {
    ROUNDS.load(Ordering::SeqCst)
}

/// This process's janitor, made (and its thread started) if it has none yet.
fn current() -> Arc<Janitor> {
    let mut slot = CURRENT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(janitor) = this_process(&slot) {
        return janitor;
    }
    // A janitor of a parent process is left as it is (see the module's doc).
    let janitor = start(std::process::id());
    *slot = Some(Arc::clone(&janitor));
    janitor
}

/// The janitor in `slot` if this process made it (a forked child sees its parent's).
fn this_process(slot: &Option<Arc<Janitor>>) -> Option<Arc<Janitor>> {
    let pid = std::process::id();
    slot.as_ref().filter(|j| j.pid == pid).cloned()
}

/// A new janitor for process `pid`, with its thread started.
fn start(pid: u32) -> Arc<Janitor> {
    let janitor = Arc::new(Janitor {
        pid,
        chores: Mutex::new(Vec::new()),
        bell: Condvar::new(),
        round: Mutex::new(()),
    });
    AWAKE.store(true, Ordering::SeqCst);
    let worker = Arc::clone(&janitor);
    let spawned = std::thread::Builder::new()
        .name("diskcache-janitor".into())
        .spawn(move || worker.run());
    if spawned.is_err() {
        // Without a janitor the caches still work: an idle process may pin old pages until
        // its next read, and noted reads wait for its next write. That is a cost, not an error.
        AWAKE.store(false, Ordering::SeqCst);
    }
    janitor
}

fn ring(janitor: &Janitor) {
    let _chores = janitor.lock();
    AWAKE.store(true, Ordering::SeqCst);
    janitor.bell.notify_one();
}

impl Janitor {
    fn lock(&self) -> MutexGuard<'_, Vec<Weak<dyn Chore>>> {
        self.chores.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The thread's life: rounds while there is work, sleep while there is none.
    fn run(&self) {
        loop {
            AWAKE.store(false, Ordering::SeqCst);
            URGENT.store(false, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let chores: Vec<Weak<dyn Chore>> = {
                let mut chores = self.lock();
                chores.retain(|chore| chore.strong_count() > 0);
                chores.clone()
            };
            let mut busy = false;
            for chore in &chores {
                let _round = self.round.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(chore) = chore.upgrade() {
                    // A round never unwinds out of the thread: each store contains redb's
                    // panics. If the caller dropped its last handle meanwhile, the store
                    // closes here, before the round ends.
                    busy |= chore.round();
                }
            }
            ROUNDS.fetch_add(1, Ordering::SeqCst);
            if busy || sabotage::on(Sabotage::JanitorPolls) {
                AWAKE.store(true, Ordering::SeqCst);
                let chores = self.lock();
                // A pause of PERIOD, cut short by `wake_now`.
                let _pause = self
                    .bell
                    .wait_timeout_while(chores, PERIOD, |_| !URGENT.swap(false, Ordering::SeqCst))
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            let mut chores = self.lock();
            while !AWAKE.load(Ordering::SeqCst) {
                chores = self
                    .bell
                    .wait(chores)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
    }
}
