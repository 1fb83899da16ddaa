//! Injected I/O faults, for the fault-injection tests (`tests/durability/fault_injection.rs`).
//!
//! Every I/O point of the format (redb's reads, writes, `set_len` and syncs through the
//! storage backend; the log's writes and syncs; a value file's writes, sync and rename) asks
//! `check` first. Unarmed, that is one relaxed atomic load. Armed, it counts the calls at
//! each point and fails the chosen one with `EIO`, once. A plan belongs to the thread that
//! armed it and sees only that thread's I/O (the process's janitor thread is not counted), so
//! tests on different threads do not disturb each other.

#![cfg_attr(
    not(any(feature = "testing", fuzzing)),
    allow(dead_code, reason = "only test and fuzz builds arm faults")
)]

use std::cell::RefCell;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

/// An I/O point that can be made to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Point {
    /// redb reads a page range of `cache.redb`.
    DbRead,
    /// redb writes to `cache.redb`.
    DbWrite,
    /// redb grows or shrinks `cache.redb`.
    DbSetLen,
    /// redb syncs `cache.redb` (only at the `Sync` durability level).
    DbSync,
    /// A `pwrite` to `cache.wal` (records or its header).
    WalWrite,
    /// An `fdatasync` of `cache.wal` (only at the `Sync` durability level).
    WalSync,
    /// A write of a value file's bytes.
    ValueWrite,
    /// The sync of a value file and its folder (only at the `Sync` durability level).
    ValueSync,
    /// The rename of a written value file into place.
    ValueRename,
}

impl Point {
    /// Every point.
    pub const ALL: [Point; 9] = [
        Point::DbRead,
        Point::DbWrite,
        Point::DbSetLen,
        Point::DbSync,
        Point::WalWrite,
        Point::WalSync,
        Point::ValueWrite,
        Point::ValueSync,
        Point::ValueRename,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Default)]
struct Plan {
    counts: [u64; Point::ALL.len()],
    fail: Option<(Point, u64)>,
    failed: bool,
}

/// Threads with a plan armed.
static ARMED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static PLAN: RefCell<Option<Plan>> = const { RefCell::new(None) };
}

/// Starts counting this thread's I/O calls at every point from zero, and fails the `nth`
/// call (from 1) at `fail.0` if given, once.
pub fn arm(fail: Option<(Point, u64)>) {
    let was = PLAN.with_borrow_mut(|plan| {
        plan.replace(Plan {
            fail,
            ..Plan::default()
        })
    });
    if was.is_none() {
        ARMED.fetch_add(1, Ordering::SeqCst);
    }
}

/// Stops counting and failing on this thread; returns the calls counted at each point, and
/// whether the chosen call was reached (and failed).
pub fn disarm() -> (Vec<(Point, u64)>, bool) {
    let plan = PLAN.with_borrow_mut(Option::take);
    if plan.is_some() {
        ARMED.fetch_sub(1, Ordering::SeqCst);
    }
    let plan = plan.unwrap_or_default();
    let counts = Point::ALL
        .iter()
        .zip(plan.counts)
        .map(|(p, n)| (*p, n))
        .collect();
    (counts, plan.failed)
}

/// Whether this thread's chosen call has been reached (and failed) since [`arm`].
pub fn fired() -> bool {
    PLAN.with_borrow(|plan| plan.as_ref().is_some_and(|p| p.failed))
}

/// The error an injected fault fails with: `EIO` on Unix; Windows' nearest,
/// `ERROR_IO_DEVICE` ("the request could not be performed because of an I/O device error").
fn injected_error() -> io::Error {
    #[cfg(unix)]
    let code = libc::EIO;
    #[cfg(windows)]
    let code = windows_sys::Win32::Foundation::ERROR_IO_DEVICE as i32;
    io::Error::from_raw_os_error(code)
}

/// Called before each I/O at `point`: outside test and fuzz builds, nothing.
#[cfg(not(any(feature = "testing", fuzzing)))]
#[inline(always)]
pub(crate) fn check(_point: Point) -> io::Result<()> {
    Ok(())
}

/// Called before each I/O at `point`: `Err(EIO)` if this is the call chosen to fail.
#[cfg(any(feature = "testing", fuzzing))]
#[inline]
pub(crate) fn check(point: Point) -> io::Result<()> {
    if ARMED.load(Ordering::Relaxed) == 0 {
        return Ok(());
    }
    count(point)
}

#[cold]
fn count(point: Point) -> io::Result<()> {
    PLAN.with_borrow_mut(|plan| {
        let Some(plan) = plan.as_mut() else {
            return Ok(());
        };
        let Some(n) = plan.counts.get_mut(point.index()) else {
            return Ok(());
        };
        *n += 1;
        if plan.fail == Some((point, *n)) {
            plan.failed = true;
            return Err(injected_error());
        }
        Ok(())
    })
}
