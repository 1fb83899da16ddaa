//! Using a cache in a child process after `fork()`.
//!
//! A forked child inherits the parent's descriptors, and with them the parent's locks: redb's
//! file locks on `cache.redb`, those on `cache.lock` (the logged path's presence lock, the
//! direct path's handoff claim) and the shutdown marker's on `cache.boot` belong to the open
//! file description, which parent and child then share. The store's mutexes may be held by
//! threads that do not exist in the child, and the process's janitor thread is not there
//! either. So the child must not use, or even drop, what it inherited: the first operation
//! after a fork opens the store again (new descriptors and locks, registered with a janitor
//! of the child's own), and the inherited one is left alone for good.
//!
//! A `pthread_atfork` handler counts forks in the child (`platform::process`); a handle
//! compares the count with the one it was opened under, one relaxed atomic load per
//! operation. Windows has no fork: there the count stays 0.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::engine::Store;
use crate::error::Result;
use crate::platform::process::{self, forks_now};

/// The current fork count, registering the counting handler on first use.
fn generation() -> u64 {
    process::forks()
}

/// Opens the store again, with what the first open was given.
pub(crate) type Reopen = Box<dyn Fn() -> Result<Store> + Send + Sync>;

/// A store that follows its handle into forked children.
pub(crate) struct ForkSafe {
    /// The fork count the store was opened under.
    generation: u64,
    /// Dropped only in the process that opened it: a child leaves it (and the parent's
    /// locks it carries) alone.
    store: Arc<Store>,
    /// The store opened again in a child (which may hold its own child's, and so on).
    child: OnceLock<Box<ForkSafe>>,
    /// The settings when the store was opened, for a child that cannot open it again.
    settings_at_open: crate::settings::Settings,
    /// Serializes the reopening in a child between its threads.
    reopening: Mutex<()>,
    reopen: Arc<Reopen>,
    /// Last: see [`crate::engine::janitor::Barrier`].
    _closed: crate::engine::janitor::Barrier,
}

impl ForkSafe {
    /// Wraps a store opened in this process.
    pub(crate) fn new(store: Arc<Store>, reopen: Reopen) -> ForkSafe {
        ForkSafe::with(store, Arc::new(reopen))
    }

    fn with(store: Arc<Store>, reopen: Arc<Reopen>) -> ForkSafe {
        ForkSafe {
            generation: generation(),
            settings_at_open: store.settings(),
            store,
            child: OnceLock::new(),
            reopening: Mutex::new(()),
            reopen,
            _closed: crate::engine::janitor::Barrier,
        }
    }

    /// The store of this process: the one opened here, or after a fork, one opened again.
    ///
    /// # Errors
    /// As `Store::open`, in a child whose reopening fails (it is tried again next time).
    #[inline]
    pub(crate) fn get(&self) -> Result<&Arc<Store>> {
        let now = forks_now();
        if now == self.generation
            || crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::ForkInheritsStore)
        {
            return Ok(&self.store);
        }
        self.in_child()
    }

    /// The store opened before the fork, whatever process this is (its directory and other
    /// immutable facts are the same in the child).
    pub(crate) fn original(&self) -> &Arc<Store> {
        &self.store
    }

    /// The settings in force when the store was opened.
    pub(crate) fn settings_at_open(&self) -> &crate::settings::Settings {
        &self.settings_at_open
    }

    #[cold]
    fn in_child(&self) -> Result<&Arc<Store>> {
        if let Some(child) = self.child.get() {
            return child.get();
        }
        let _one = self
            .reopening
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(child) = self.child.get() {
            return child.get();
        }
        // The inherited descriptors that carry the parent's locks are pointed at /dev/null:
        // the parent's locks stay with the parent (they belong to the open file description,
        // released when its last descriptor closes), and this process does not keep them
        // alive once the parent dies. The inherited store is never used again.
        for fd in self.store.lock_fds() {
            process::detach(fd);
        }
        let store = Arc::new((self.reopen)()?);
        crate::engine::janitor::register_store(&store);
        let child = self
            .child
            .get_or_init(|| Box::new(ForkSafe::with(store, Arc::clone(&self.reopen))));
        child.get()
    }
}

impl Drop for ForkSafe {
    fn drop(&mut self) {
        if forks_now() != self.generation {
            // In a child: one reference leaked, so the inherited store (and the parent's
            // locks it carries) is never dropped here (see the module docs).
            std::mem::forget(Arc::clone(&self.store));
        }
    }
}
