//! The operations: the row logic of writes and of the work around them, written once against
//! the engine's `RowWriter` so that both write paths run the same code.
//!
//! [`mod@write`] holds the write operations (set, add, incr, pop, …), [`cull`] what a write
//! removes (expired entries and the eviction policy's victims), and [`build`] the filling of
//! an order table while writers work.

pub(crate) mod build;
pub(crate) mod cull;
pub(crate) mod write;
