//! One test at a time in a binary whose tests change or measure what belongs to the whole
//! process (the `process_wide` binary): each of its tests holds [`take`]'s guard from its first
//! line to its end, so no other test of the binary runs meanwhile. The guard only orders the
//! tests; it changes nothing a test sees of the library.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Held by the test that runs.
static ALONE: Mutex<()> = Mutex::new(());

/// Waits until no other test holds the guard, and returns it (a test that failed while
/// holding it does not stop the next).
pub fn take() -> MutexGuard<'static, ()> {
    ALONE.lock().unwrap_or_else(PoisonError::into_inner)
}
