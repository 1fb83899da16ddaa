//! Tests that change or measure what belongs to the whole process, or whose power to find a
//! fault depends on nothing else running in it. Each takes `common::alone::take()` on its first
//! line, so the tests of this binary run one at a time, as each would in a binary of its own;
//! the guard only orders them. Needs the test hooks (feature `testing`). Per module:
//! - `fork` forks this process: a child has only the forking thread, and a lock another
//!   test's thread held at the fork would stay held in it.
//! - `open_files` counts this process's open descriptors, which other tests' files would add
//!   to (its child lowers the descriptor limit, in a process of its own).
//! - `full_disk` mounts a small tmpfs and frees space on it by deleting a file: a child process
//!   another test forked while that file was open would keep its space in use until it execs.
//! - `janitor` counts the janitor threads and waits for the process's janitor to sleep, which
//!   it does only while every cache of the process is idle.
//! - `long_key_collisions` turns on the process-wide hook that makes long keys' hashes collide
//!   (and off again when it ends, failed or not).
//! - `resident_memory` measures this process's resident memory as a cache is read.
//! - `fairness` pins its writers to one CPU: another test's threads on it would let an unfair
//!   lock's waiter in and hide the failure.
//!
//! CI runs `fork`, `open_files`, `full_disk` and `resident_memory` in its release step only,
//! with `durability`; the others in debug mode only.

#[path = "../common/mod.rs"]
mod common;

mod fairness;
mod fork;
mod full_disk;
mod janitor;
mod long_key_collisions;
mod open_files;
mod resident_memory;
