//! Progress of the long whole-cache operations: what their `*_with_progress` methods
//! ([`crate::Cache::clear_with_progress`] and its kin) pass to the caller's callback between
//! slices, and what they return, which says whether the callback stopped them.
//!
//! The callback runs between slices, outside the write lock (except `compact`'s, between
//! attempts that all hold it), so a slow callback delays only its own operation. Returning
//! [`ControlFlow::Break`] ends the operation there: every slice before it is committed whole
//! and none after it starts, so the cache is as a shorter run of the same operation would
//! have left it.

use std::ops::ControlFlow;

use crate::testing::sabotage::{Sabotage, on};

/// What a long operation is doing when it reports.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// `clear`, `expire`, `evict` or `cull` removing entries: `done` counts the entries
    /// removed so far (over every shard, for a `FanoutCache`).
    Removing,
    /// `check`: redb's integrity check of the database file, one step with no count.
    Integrity,
    /// `check`: every row of a snapshot read with its value; `done` counts rows, `total` is
    /// the snapshot's number of rows.
    Rows,
    /// `check`: the value files on disk against the rows, one step with no count.
    Files,
    /// `check`: the order tables against the rows; `done` counts tables.
    Tables,
    /// `check`: each finding looked at again (and with `fix` repaired) under the write lock,
    /// in slices; `done` counts findings.
    Confirm,
    /// `compact`: waiting for a moment when no process holds a read snapshot; `done` counts
    /// the attempts that did not find one.
    Compact,
}

/// One report of a long operation's progress, passed to its callback.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// What the operation is doing.
    pub phase: Phase,
    /// How much of the phase is done, in the unit [`Phase`] names.
    pub done: u64,
    /// How much there is to do in the phase, when it is known beforehand (`clear`: the
    /// entries there were when it started; `expire`, `evict` and `cull` have none).
    pub total: Option<u64>,
    /// The shard at work (0 for a plain `Cache`).
    pub shard: usize,
    /// The number of shards (1 for a plain `Cache`).
    pub shards: usize,
}

/// What a `*_with_progress` method returns: the operation's result, and whether its callback
/// stopped it before the end.
#[must_use]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<T> {
    /// The operation ran to its end.
    Finished(T),
    /// The callback returned [`ControlFlow::Break`]; the value is what was done until then
    /// (the entries removed, the findings confirmed).
    Stopped(T),
}

impl<T> Outcome<T> {
    /// The result, whether or not the operation was stopped.
    pub fn value(&self) -> &T {
        match self {
            Outcome::Finished(v) | Outcome::Stopped(v) => v,
        }
    }

    /// The result, whether or not the operation was stopped.
    pub fn into_value(self) -> T {
        match self {
            Outcome::Finished(v) | Outcome::Stopped(v) => v,
        }
    }

    /// Whether the callback stopped the operation before its end.
    pub fn is_stopped(&self) -> bool {
        matches!(self, Outcome::Stopped(_))
    }

    /// `Finished(value)` for `Continue`, `Stopped(value)` for `Break`.
    pub(crate) fn of(flow: ControlFlow<()>, value: T) -> Outcome<T> {
        match flow {
            ControlFlow::Continue(()) => Outcome::Finished(value),
            ControlFlow::Break(()) => Outcome::Stopped(value),
        }
    }
}

/// The caller's callback, as the operations take it.
pub(crate) type Callback<'a> = &'a mut dyn FnMut(&Progress) -> ControlFlow<()>;

/// Keeps an operation's progress and passes it to the caller's callback, if there is one.
pub(crate) struct Reporter<'a> {
    callback: Option<Callback<'a>>,
    now: Progress,
}

impl<'a> Reporter<'a> {
    /// A reporter with no callback: the operations' plain methods, which always continue.
    pub(crate) fn silent() -> Reporter<'static> {
        Reporter {
            callback: None,
            now: Progress {
                phase: Phase::Removing,
                done: 0,
                total: None,
                shard: 0,
                shards: 1,
            },
        }
    }

    /// A reporter that calls `callback`.
    pub(crate) fn new(callback: Callback<'a>) -> Reporter<'a> {
        Reporter {
            callback: Some(callback),
            ..Reporter::silent()
        }
    }

    /// The shard the next reports are about.
    pub(crate) fn shard(&mut self, shard: usize, shards: usize) {
        self.now.shard = shard;
        self.now.shards = shards;
    }

    /// Starts `phase` with nothing done yet and reports it.
    pub(crate) fn start(&mut self, phase: Phase, total: Option<u64>) -> ControlFlow<()> {
        self.now.phase = phase;
        self.now.done = 0;
        self.now.total = total;
        self.report()
    }

    /// Adds `n` to what is done and reports it.
    pub(crate) fn advance(&mut self, n: u64) -> ControlFlow<()> {
        self.now.done = self.now.done.saturating_add(n);
        self.report()
    }

    /// Sets what is done to `done` and reports it.
    pub(crate) fn at(&mut self, done: u64) -> ControlFlow<()> {
        self.now.done = done;
        self.report()
    }

    /// Reports the progress as it is; the callback's answer (always `Continue` without one).
    /// The callback is the caller's code: a panic in it goes on unwinding as the caller's.
    pub(crate) fn report(&mut self) -> ControlFlow<()> {
        let now = self.now;
        let flow = match self.callback.as_mut() {
            Some(f) => crate::caller::run(|| f(&now)),
            None => ControlFlow::Continue(()),
        };
        if on(Sabotage::BreakIgnored) {
            // Negative control (`sabotage`): the caller cannot stop the operation.
            return ControlFlow::Continue(());
        }
        flow
    }
}
