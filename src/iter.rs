//! Lazy iterators over a cache's keys.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::engine::Store;
use crate::error::Result;
use crate::format::key::Key;
use crate::format::payload::key_of;

/// Keys read per snapshot.
const BATCH: usize = 256;

/// The stored keys of a cache, expired or not (as Python diskcache's iteration, so that
/// there are as many as [`crate::Cache::len`] counts), in insertion order
/// ([`crate::Cache::keys`]) or in key order ([`crate::Cache::keys_sorted`]), read lazily in
/// batches of 256, each batch from a fresh snapshot. Keys set after the iterator passed their place are not seen; a key deleted
/// before its batch is read is skipped; a damaged row is reported as an error for its key and
/// the iteration goes on.
pub struct Keys {
    store: Arc<Store>,
    order: Order,
    buffer: VecDeque<Result<Key>>,
    done: bool,
    /// Last: see [`crate::engine::janitor::Barrier`].
    _closed: crate::engine::janitor::Barrier,
}

/// Which order a [`Keys`] walks, and where it is.
#[derive(Debug)]
enum Order {
    /// Insertion order; the row id of the last key read.
    Inserted { after: u64 },
    /// Key order (descending if `reverse`); the last key read.
    Sorted {
        after: Option<Vec<u8>>,
        reverse: bool,
    },
}

impl Keys {
    /// The keys in insertion order.
    pub(crate) fn inserted(store: Arc<Store>) -> Keys {
        Keys::new(store, Order::Inserted { after: 0 })
    }

    /// The keys in key order, descending if `reverse`.
    pub(crate) fn sorted(store: Arc<Store>, reverse: bool) -> Keys {
        Keys::new(
            store,
            Order::Sorted {
                after: None,
                reverse,
            },
        )
    }

    fn new(store: Arc<Store>, order: Order) -> Keys {
        Keys {
            store,
            order,
            buffer: VecDeque::new(),
            done: false,
            _closed: crate::engine::janitor::Barrier,
        }
    }

    fn refill(&mut self) -> Result<()> {
        match &self.order {
            Order::Inserted { .. } => self.refill_inserted(),
            Order::Sorted { .. } => self.refill_sorted(),
        }
    }

    fn refill_sorted(&mut self) -> Result<()> {
        let Order::Sorted { after, reverse } = &mut self.order else {
            return Ok(());
        };
        let (start, reverse_now) = (after.clone(), *reverse);
        let batch = self
            .store
            .read_all(|r| r.sorted_after(start.as_deref(), reverse_now, BATCH))?;
        if batch.len() < BATCH {
            self.done = true;
        }
        if let Some((last, _)) = batch.last() {
            *after = Some(last.clone());
        }
        for (key, row) in batch {
            match row {
                Ok(row) => self.buffer.push_back(key_of(&key, &row)),
                Err(e) => self.buffer.push_back(Err(e)),
            }
        }
        Ok(())
    }

    fn refill_inserted(&mut self) -> Result<()> {
        let Order::Inserted { after } = self.order else {
            return Ok(());
        };
        let batch = self.store.read_all(|r| {
            let ids = r.keys_after(after, BATCH)?;
            let mut stored = Vec::with_capacity(ids.len());
            for (_, key) in &ids {
                // A damaged row is reported for its key; the iteration goes on.
                match r.get(key) {
                    Ok(Some(row)) => stored.push(key_of(key, &row)),
                    Ok(None) => {}
                    Err(e) => stored.push(Err(e)),
                }
            }
            Ok((ids.last().map(|(id, _)| *id), ids.len(), stored))
        })?;
        let (last, read, stored) = batch;
        if read < BATCH {
            self.done = true;
        }
        if let Some(last) = last {
            self.order = Order::Inserted { after: last };
        }
        self.buffer.extend(stored);
        Ok(())
    }
}

impl Iterator for Keys {
    type Item = Result<Key>;

    fn next(&mut self) -> Option<Result<Key>> {
        while self.buffer.is_empty() && !self.done {
            if let Err(e) = self.refill() {
                self.done = true;
                return Some(Err(e));
            }
        }
        self.buffer.pop_front()
    }
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("order", &self.order)
            .finish_non_exhaustive()
    }
}
