//! The caller's own code inside an operation (a transaction's closure, a [`crate::Disk`], a
//! value's `Serialize` or `Deserialize`), marked so that the engine's boundary around redb
//! (`engine/boundary.rs`) tells a panic there, which is the caller's and goes on unwinding
//! unchanged, from a panic of redb's.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

thread_local! {
    /// Set by [`run`] when the caller's code panicked, for the boundary around it.
    static PANICKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs the caller's code `f`, marking this thread if it panics.
pub(crate) fn run<T>(f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        PANICKED.with(|p| p.set(true));
        resume_unwind(payload)
    })
}

/// Clears this thread's mark, as the boundary enters.
pub(crate) fn forget_panic() {
    PANICKED.with(|p| p.set(false));
}

/// Whether the panic unwinding now is the caller's (clearing the mark).
pub(crate) fn take_panic() -> bool {
    PANICKED.with(|p| p.replace(false))
}
