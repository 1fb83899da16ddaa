//! Which stores this thread is running a `transact` closure of: an operation that needs the
//! write lock is refused there, since the thread's transaction holds that lock and the
//! operation would wait for itself.

use std::cell::RefCell;

use super::Store;
use crate::error::{Error, Result};

thread_local! {
    /// The stores (by address) whose `transact` closure this thread is running.
    static INSIDE: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Marks this thread as running a transaction of one store, until dropped.
pub(crate) struct InsideTransact(usize);

impl Drop for InsideTransact {
    fn drop(&mut self) {
        let _ = INSIDE.try_with(|inside| {
            let mut inside = inside.borrow_mut();
            if let Some(at) = inside.iter().rposition(|&id| id == self.0) {
                inside.swap_remove(at);
            }
        });
    }
}

impl Store {
    /// Marks this thread as running a transaction of this store until the guard is dropped
    /// (`Cache::transact`, `FanoutCache::transact`).
    pub(crate) fn enter_transact(&self) -> InsideTransact {
        let id = self.id();
        let _ = INSIDE.try_with(|inside| inside.borrow_mut().push(id));
        InsideTransact(id)
    }

    /// Refuses an operation that needs this store's write lock while this thread runs one
    /// of its transactions (and so holds that lock): it would wait for itself.
    pub(super) fn refuse_inside_transact(&self) -> Result<()> {
        if self.inside_transact() {
            return Err(Error::InvalidArgument(
                "a write to the cache (or another operation that takes its write lock) inside \
                 transact: use the Transaction the closure was given, since this thread's \
                 transaction holds the write lock"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Whether this thread runs one of this store's transactions, and so holds its write
    /// lock.
    pub(super) fn inside_transact(&self) -> bool {
        let id = self.id();
        INSIDE
            .try_with(|inside| inside.borrow().contains(&id))
            .unwrap_or(false)
    }

    /// This store's identity for [`INSIDE`]: its address.
    fn id(&self) -> usize {
        std::ptr::from_ref(self).addr()
    }
}
