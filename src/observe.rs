//! What the cache tells an operator, as [`tracing`] events and spans: every one the library
//! emits is a function here, so this file is the list. With no subscriber installed, each costs a load
//! of `tracing`'s global level filter. Targets are `diskcache::<what>`, so a filter such as
//! `diskcache=debug` (or `diskcache::lock=info`) picks them out.
//!
//! | target | level | when |
//! |---|---|---|
//! | `diskcache::checkpoint` | debug | span: a checkpoint, around what it does |
//! | `diskcache::recovery` | info | span: a replay of the log, around what it does |
//! | `diskcache::lock` | info | a write waited [`SLOW_LOCK_WAIT`] or more for a write lock (`path`: `in-process`, `logged`, `direct`, `redb`), then got it or gave up |
//! | `diskcache::lock` | warn | a write took over the lock of a process that died holding it |
//! | `diskcache::pace` | trace | a logged write waited for the checkpoint to keep up |
//! | `diskcache::checkpoint` | debug | a checkpoint applied a lane of the log to the database |
//! | `diskcache::recovery` | warn | the log was replayed (a writer died inside the lock) |
//! | `diskcache::healing` | warn | the database handle failed and was opened again |
//! | `diskcache::cull` | debug | a write removed entries (expired, or over the size limit) |
//! | `diskcache::power_loss` | warn | the machine went down with the cache open: what was done |

use std::time::Duration;

/// How long a wait for the write lock must be to be told (at `info`).
pub(crate) const SLOW_LOCK_WAIT: Duration = Duration::from_millis(10);

/// Microseconds of `d`, saturated.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A write got a write lock (`path`: this process's gate, the logged path's lock, or redb's
/// writer lock through the direct path's handoff or without it) after waiting `waited`.
pub(crate) fn lock_waited(path: &'static str, waited: Duration) {
    if waited >= SLOW_LOCK_WAIT {
        tracing::info!(
            target: "diskcache::lock",
            path,
            waited_us = micros(waited),
            "waited for the write lock"
        );
    }
}

/// A write (on write path `path`) gave up waiting for the write lock after `waited` (told
/// if that was [`SLOW_LOCK_WAIT`] or more: the janitor's tries, which never wait, are not).
pub(crate) fn lock_timed_out(path: &'static str, waited: Duration) {
    if waited >= SLOW_LOCK_WAIT {
        tracing::info!(
            target: "diskcache::lock",
            path,
            waited_us = micros(waited),
            "gave up waiting for the write lock (Error::Timeout)"
        );
    }
}

/// The write lock was taken over from `owner` (a lock token), whose process died holding it.
pub(crate) fn lock_taken_over(owner: u64) {
    tracing::warn!(
        target: "diskcache::lock",
        owner,
        "took over the write lock of a process that died holding it"
    );
}

/// A logged write waited `waited` for the checkpoint to keep up before taking the lock.
pub(crate) fn paced(waited: Duration) {
    tracing::trace!(
        target: "diskcache::pace",
        waited_us = micros(waited),
        "waited for the checkpoint to keep up"
    );
}

/// The span of a checkpoint applying generation `generation` of the log, entered until the
/// value returned is dropped: what happens meanwhile (a cull, a healed handle) is told inside it.
pub(crate) fn checkpoint_span(generation: u64) -> tracing::span::EnteredSpan {
    tracing::debug_span!(target: "diskcache::checkpoint", "checkpoint", generation).entered()
}

/// The span of a recovery (a replay of the log), entered until the value returned is dropped.
pub(crate) fn recovery_span() -> tracing::span::EnteredSpan {
    tracing::info_span!(target: "diskcache::recovery", "recovery").entered()
}

/// A checkpoint applied generation `generation` of the log (`records` records) in `took`.
pub(crate) fn checkpoint(generation: u64, records: u64, took: Duration) {
    tracing::debug!(
        target: "diskcache::checkpoint",
        generation,
        records,
        took_us = micros(took),
        "applied a lane of the log to the database"
    );
}

/// A recovery (after a writer died inside the lock, or at the first open since the log's
/// shared index was made) replayed `records` records of the log, skipping `damaged` damaged
/// blocks, in `took`: at `warn` if it found anything to replay, else at `debug`.
pub(crate) fn recovered(records: usize, damaged: usize, took: Duration) {
    let took_us = micros(took);
    if records > 0 || damaged > 0 {
        tracing::warn!(
            target: "diskcache::recovery",
            records,
            damaged,
            took_us,
            "replayed the log left by a writer that died, or by the last process to close"
        );
    } else {
        tracing::debug!(target: "diskcache::recovery", took_us, "the log held nothing to replay");
    }
}

/// The database handle failed with `error` and was opened again.
pub(crate) fn handle_reopened(error: &dyn std::fmt::Display) {
    tracing::warn!(
        target: "diskcache::healing",
        %error,
        "the database handle failed: opened it again"
    );
}

/// A write removed `removed` entries (expired, or evicted over the size limit).
pub(crate) fn culled(removed: u64) {
    if removed > 0 {
        tracing::debug!(target: "diskcache::cull", removed, "removed entries");
    }
}

/// At open, the machine had gone down with the cache open; `dropped_log`: the log (never
/// synced at the `Normal` level) was dropped, else the open checks the cache.
pub(crate) fn power_loss(dropped_log: bool) {
    if dropped_log {
        tracing::warn!(
            target: "diskcache::power_loss",
            "the machine went down with the cache open: dropped the unsynced log"
        );
    } else {
        tracing::warn!(
            target: "diskcache::power_loss",
            "the machine went down with the cache open: checking the cache"
        );
    }
}
