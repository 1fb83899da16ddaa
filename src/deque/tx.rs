//! [`DequeTransaction`]: several deque operations as one atomic write.

use std::borrow::Borrow;
use std::fmt;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::span::{Span, position};
use crate::error::Result;

/// The operations of one [`crate::Deque::transact`] call, applied together when its closure
/// returns `Ok`.
///
/// The methods are [`crate::Deque`]'s, with the same meaning (the handle's `maxlen` trims
/// after each push); each sees the earlier ones.
pub struct DequeTransaction<'s, 't, 'a, T> {
    pub(super) span: &'s mut Span<'t, 'a>,
    pub(super) maxlen: Option<u64>,
    pub(super) _items: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for DequeTransaction<'_, '_, '_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DequeTransaction")
            .field("len", &self.span.n)
            .finish_non_exhaustive()
    }
}

impl<T: Serialize + DeserializeOwned> DequeTransaction<'_, '_, '_, T> {
    /// The number of items, as this transaction has left it.
    pub fn len(&self) -> u64 {
        self.span.n as u64
    }

    /// Whether the deque holds no item, as this transaction has left it.
    pub fn is_empty(&self) -> bool {
        self.span.n == 0
    }

    /// Adds `value` at the back, then trims to `maxlen` from the front.
    ///
    /// # Errors
    /// As [`crate::Deque::push_back`].
    pub fn push_back<Q>(&mut self, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        self.span.push_back(value)?;
        self.span.trim(self.maxlen, true)
    }

    /// Adds `value` at the front, then trims to `maxlen` from the back.
    ///
    /// # Errors
    /// As [`crate::Deque::push_front`].
    pub fn push_front<Q>(&mut self, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        self.span.push_front(value)?;
        self.span.trim(self.maxlen, false)
    }

    /// Removes and returns the back item; `None` if the deque is empty.
    ///
    /// # Errors
    /// As [`crate::Deque::pop_back`].
    pub fn pop_back(&mut self) -> Result<Option<T>> {
        self.span.pop_back()
    }

    /// Removes and returns the front item; `None` if the deque is empty.
    ///
    /// # Errors
    /// As [`crate::Deque::pop_front`].
    pub fn pop_front(&mut self) -> Result<Option<T>> {
        self.span.pop_front()
    }

    /// The item at index `i` (negative: from the back).
    ///
    /// # Errors
    /// As [`crate::Deque::get`].
    pub fn get(&self, i: i64) -> Result<T> {
        self.span.item(position(i, self.span.n)?)
    }

    /// Replaces the item at index `i` (negative: from the back).
    ///
    /// # Errors
    /// As [`crate::Deque::set`].
    pub fn set<Q>(&mut self, i: i64, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        let p = position(i, self.span.n)?;
        self.span.tx.set(self.span.lo + p, value)
    }

    /// Removes and returns the item at index `i` (negative: from the back).
    ///
    /// # Errors
    /// As [`crate::Deque::remove_at`].
    pub fn remove_at(&mut self, i: i64) -> Result<T> {
        let p = position(i, self.span.n)?;
        self.span.remove_at(p)
    }
}
