//! Test hooks: injected I/O faults ([`fault`]), the recording of writes and syncs for the
//! simulated power loss ([`recorder`]), the fuzz targets' entry points (`fuzzing`, only in
//! test and fuzz builds), the negative controls ([`sabotage`], only in a
//! `--cfg diskcache_broken` build) and the unit tests' closures run inside a change
//! ([`midpoint`]). Outside those builds every hook compiles to nothing.

// Public (hidden) in this crate's own test builds (feature `testing`) and fuzz builds.
#[cfg(any(feature = "testing", fuzzing))]
#[doc(hidden)]
pub mod fault;
#[cfg(not(any(feature = "testing", fuzzing)))]
pub(crate) mod fault;
#[cfg(any(feature = "testing", fuzzing))]
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod midpoint;
#[cfg(any(feature = "testing", fuzzing))]
#[doc(hidden)]
pub mod recorder;
#[cfg(not(any(feature = "testing", fuzzing)))]
pub(crate) mod recorder;
pub(crate) mod sabotage;
