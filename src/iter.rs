//! Lazy iterators over a cache's keys.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::error::Result;
use crate::key::Key;
use crate::store::Store;
use crate::time;

/// Keys read per snapshot.
const BATCH: usize = 256;

/// The live keys of a cache in insertion order, read lazily in batches of 256, each batch
/// from a fresh snapshot. Keys set after the iterator passed their place are not seen; a key
/// deleted before its batch is read is skipped.
pub struct Keys {
    store: Arc<Store>,
    /// The row id of the last key read.
    after: u64,
    buffer: VecDeque<Result<Key>>,
    done: bool,
}

impl Keys {
    pub(crate) fn new(store: Arc<Store>) -> Keys {
        Keys {
            store,
            after: 0,
            buffer: VecDeque::new(),
            done: false,
        }
    }

    fn refill(&mut self) -> Result<()> {
        let now = time::now_us();
        let after = self.after;
        let batch = self.store.read_all(|r| {
            let ids = r.keys_after(after, BATCH)?;
            let mut live = Vec::with_capacity(ids.len());
            for (_, key) in &ids {
                // A damaged row is reported for its key; the iteration goes on.
                match r.get(key) {
                    Ok(Some(row)) if !row.is_expired(now) => live.push(Key::from_encoded(key)),
                    Ok(_) => {}
                    Err(e) => live.push(Err(e)),
                }
            }
            Ok((ids.last().map(|(id, _)| *id), ids.len(), live))
        })?;
        let (last, read, live) = batch;
        if read < BATCH {
            self.done = true;
        }
        if let Some(last) = last {
            self.after = last;
        }
        self.buffer.extend(live);
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
            .field("after", &self.after)
            .finish_non_exhaustive()
    }
}
