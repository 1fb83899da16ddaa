//! [`DequeIter`]: a deque's items read lazily from either end.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Deque;
use crate::error::Result;

/// The items of a [`Deque`], front to back (or back to front with `.rev()`); see
/// [`Deque::iter`].
pub struct DequeIter<'a, T> {
    pub(super) deque: &'a Deque<T>,
    /// The next keys to read from the front and from the back (inclusive), once read.
    pub(super) range: Option<(i64, i64)>,
    pub(super) done: bool,
}

impl<T> fmt::Debug for DequeIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DequeIter")
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

impl<T: Serialize + DeserializeOwned> DequeIter<'_, T> {
    /// Reads the deque's ends on first use; `Err` once if that fails.
    fn start(&mut self) -> Option<Result<()>> {
        if self.done {
            return None;
        }
        if self.range.is_none() {
            match self.deque.run(|s| Ok((s.lo, s.lo + s.n - 1))) {
                Ok(range) => self.range = Some(range),
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        Some(Ok(()))
    }

    /// Reads the item at the front (or back) of the remaining range.
    fn step(&mut self, back: bool) -> Option<Result<T>> {
        if let Err(e) = self.start()? {
            return Some(Err(e));
        }
        loop {
            let (front, last) = self.range.as_mut()?;
            if *front > *last {
                self.done = true;
                return None;
            }
            let key = if back {
                *last -= 1;
                *last + 1
            } else {
                *front += 1;
                *front - 1
            };
            match self.deque.cache.get::<T>(key) {
                Ok(Some(item)) => return Some(Ok(item)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl<T: Serialize + DeserializeOwned> Iterator for DequeIter<'_, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        self.step(false)
    }
}

impl<T: Serialize + DeserializeOwned> DoubleEndedIterator for DequeIter<'_, T> {
    fn next_back(&mut self) -> Option<Result<T>> {
        self.step(true)
    }
}

impl<'a, T: Serialize + DeserializeOwned> IntoIterator for &'a Deque<T> {
    type Item = Result<T>;
    type IntoIter = DequeIter<'a, T>;

    fn into_iter(self) -> DequeIter<'a, T> {
        self.iter()
    }
}
