//! The deque's items as one transaction sees them, and the operations on them that keep
//! the keys contiguous.

use std::cell::Cell;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::queue::{LIMIT, START};
use crate::transaction::Transaction;

/// The error of an index outside a deque of `n` items.
fn out_of_range(i: i64, n: i64) -> Error {
    Error::InvalidArgument(format!(
        "index {i} is out of range for a deque of {n} items"
    ))
}

/// The position (from the front) that index `i` names in a deque of `n` items; a negative
/// index counts from the back.
pub(super) fn position(i: i64, n: i64) -> Result<i64> {
    let p = if i < 0 { i.checked_add(n) } else { Some(i) };
    match p {
        Some(p) if (0..n).contains(&p) => Ok(p),
        _ => Err(out_of_range(i, n)),
    }
}

/// The deque's items as one transaction sees them: `n` items under keys `lo..lo + n`.
pub(super) struct Span<'t, 'a> {
    pub(super) tx: &'t Transaction<'a>,
    pub(super) lo: i64,
    pub(super) n: i64,
    /// Set when a key inside the span holds no item: the keys are not contiguous.
    pub(super) gap: &'t Cell<bool>,
}

impl Span<'_, '_> {
    /// The item at position `p`.
    pub(super) fn item<T: DeserializeOwned>(&self, p: i64) -> Result<T> {
        match self.tx.get(self.lo + p)? {
            Some(value) => Ok(value),
            None => {
                self.gap.set(true);
                Err(Error::storage(format!(
                    "the deque has no item under key {} inside its span",
                    self.lo + p
                )))
            }
        }
    }

    /// Stores `value` under the queue key `key`, which must lie inside the queue range.
    pub(super) fn put<Q: Serialize + ?Sized>(&self, key: i64, value: &Q) -> Result<()> {
        if key <= 0 || key >= LIMIT {
            return Err(Error::InvalidArgument(
                "the deque is full: its keys reached the end of the queue range".into(),
            ));
        }
        self.tx.set(key, value)
    }

    pub(super) fn push_back<Q: Serialize + ?Sized>(&mut self, value: &Q) -> Result<()> {
        if self.n == 0 {
            self.lo = START;
        }
        self.put(self.lo + self.n, value)?;
        self.n += 1;
        Ok(())
    }

    pub(super) fn push_front<Q: Serialize + ?Sized>(&mut self, value: &Q) -> Result<()> {
        let key = if self.n == 0 { START } else { self.lo - 1 };
        self.put(key, value)?;
        self.lo = key;
        self.n += 1;
        Ok(())
    }

    pub(super) fn pop_front<T: DeserializeOwned>(&mut self) -> Result<Option<T>> {
        if self.n == 0 {
            return Ok(None);
        }
        let value = self.item(0)?;
        self.tx.delete(self.lo)?;
        self.lo += 1;
        self.n -= 1;
        Ok(Some(value))
    }

    pub(super) fn pop_back<T: DeserializeOwned>(&mut self) -> Result<Option<T>> {
        if self.n == 0 {
            return Ok(None);
        }
        let value = self.item(self.n - 1)?;
        self.tx.delete(self.lo + self.n - 1)?;
        self.n -= 1;
        Ok(Some(value))
    }

    /// Removes the item at position `p`, moving the items on the shorter side one place
    /// towards it, so the keys stay contiguous.
    pub(super) fn remove_at<T: Serialize + DeserializeOwned>(&mut self, p: i64) -> Result<T> {
        let value: T = self.item(p)?;
        if p < self.n - 1 - p {
            for j in (0..p).rev() {
                let moved: T = self.item(j)?;
                self.tx.set(self.lo + j + 1, &moved)?;
            }
            self.tx.delete(self.lo)?;
            self.lo += 1;
        } else {
            for j in p + 1..self.n {
                let moved: T = self.item(j)?;
                self.tx.set(self.lo + j - 1, &moved)?;
            }
            self.tx.delete(self.lo + self.n - 1)?;
        }
        self.n -= 1;
        Ok(value)
    }

    /// Drops items from the front (`front`) or back until at most `max` are left.
    pub(super) fn trim(&mut self, max: Option<u64>, front: bool) -> Result<()> {
        let Some(max) = max else { return Ok(()) };
        while self.n as u64 > max {
            if front {
                self.tx.delete(self.lo)?;
                self.lo += 1;
            } else {
                self.tx.delete(self.lo + self.n - 1)?;
            }
            self.n -= 1;
        }
        Ok(())
    }
}
