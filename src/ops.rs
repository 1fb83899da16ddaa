//! The operations: the row logic of writes and of the work around them, written once against
//! the engine's `RowWriter` so that both write paths run the same code.
//!
//! [`mod@write`] holds the write operations (set, add, incr, pop, …), [`cull`] what a write
//! removes (expired entries and the eviction policy's victims), [`access`] the reads noted
//! for the eviction policy and the statistics, [`build`] the filling of an order table while
//! writers work, and [`mod@slice`] whole-cache work in slices.

pub(crate) mod access;
pub(crate) mod build;
pub(crate) mod cull;
pub(crate) mod slice;
pub(crate) mod write;
