//! The direct write path: one redb write transaction per operation. The gate queues this
//! process's writers; the handoff byte keeps other processes' writers from starving them.
//! Reads noted for the eviction policy and statistics are written by the next write, or by
//! the janitor every tenth round.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::engine::access::{self, Accesses};
use crate::engine::gate::WriteGate;
use crate::engine::handoff::DirectHandoff;
use crate::engine::snapshot::Snapshot;
use crate::engine::write::{self, OpEnv, RowWriter, WriteCtx, run_redb_txn};
use crate::error::Result;
use crate::format::row::Row;
use crate::platform::process::RawFd;
use crate::settings::Settings;

/// The direct engine of one open cache.
#[derive(Debug)]
pub(crate) struct DirectEngine {
    /// Queues this process's writers.
    gate: WriteGate,
    /// The byte of `cache.lock` through which write transactions begin.
    handoff: DirectHandoff,
    /// Janitor rounds, to flush the noted reads every tenth.
    ticks: AtomicU64,
}

impl DirectEngine {
    /// Opens the handoff byte of the cache in `dir`.
    pub(crate) fn open(dir: &Path) -> Result<DirectEngine> {
        Ok(DirectEngine {
            gate: WriteGate::default(),
            handoff: DirectHandoff::open(dir)?,
            ticks: AtomicU64::new(0),
        })
    }

    /// The descriptor of `cache.lock`, which carries the handoff byte's lock.
    pub(crate) fn lock_fd(&self) -> RawFd {
        self.handoff.fd()
    }

    /// The handoff byte, through which this path's write transactions begin.
    pub(crate) fn handoff(&self) -> &DirectHandoff {
        &self.handoff
    }

    /// Runs one operation in a redb write transaction after writing the noted reads: `op`,
    /// then `cull` with the stored settings the transaction holds. Returns the value of `op`
    /// and those settings, for the store to adopt.
    pub(crate) fn write<T>(
        &self,
        env: &OpEnv<'_>,
        op: impl FnOnce(&mut dyn RowWriter) -> Result<T>,
        cull: impl FnOnce(&mut dyn RowWriter, &Settings) -> Result<()>,
    ) -> Result<(T, Option<Settings>)> {
        if crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::AckBeforeCommit) {
            // Negative control (`sabotage`): the write is acknowledged but thrown away.
            let _gate = self.gate.enter(env.deadline())?;
            let txn = write::begin_write(env.db, env.deadline())?;
            let value = op(&mut WriteCtx::open(&txn)?)?;
            txn.abort()?;
            return Ok((value, None));
        }
        self.write_redb(env, |w| {
            let value = op(w)?;
            let live = w.live().clone();
            cull(w, &live)?;
            Ok(value)
        })
    }

    /// Runs `f` in a redb write transaction after writing the noted reads. Returns the value
    /// and the stored settings as `f` left them, for the store to adopt.
    pub(crate) fn write_redb<T>(
        &self,
        env: &OpEnv<'_>,
        f: impl FnOnce(&mut WriteCtx<'_>) -> Result<T>,
    ) -> Result<(T, Option<Settings>)> {
        let _gate = self.gate.enter(env.deadline())?;
        let (value, live) = run_redb_txn(env, |w| {
            flush_reads(w, env.accesses)?;
            Ok((f(w)?, w.live().clone()))
        })?
        .0;
        Ok((value, Some(live)))
    }

    /// The row stored under `key`, expired or not.
    pub(crate) fn get_row(&self, env: &OpEnv<'_>, key: &[u8]) -> Result<Option<Row>> {
        Snapshot::open(env.db)?.get(key)
    }

    /// `count` or `volume`, as the database holds it.
    pub(crate) fn counter(&self, env: &OpEnv<'_>, name: &str) -> Result<u64> {
        Snapshot::open(env.db)?.meta(name)
    }

    /// The janitor's round: every tenth round (~100 ms) writes the reads noted since, if
    /// the gate is free. Returns whether work is left for a later round.
    pub(crate) fn janitor_tick(&self, env: &OpEnv<'_>) -> Result<bool> {
        if env.accesses.is_idle() {
            return Ok(false);
        }
        let tick = self.ticks.fetch_add(1, Ordering::Relaxed);
        if !tick.is_multiple_of(10) {
            return Ok(true);
        }
        let now = std::time::Instant::now();
        if let Ok(_gate) = self.gate.enter(now) {
            let env = OpEnv {
                deadline_override: Some(now),
                ..*env
            };
            run_redb_txn(&env, |w| flush_reads(w, env.accesses))?;
        }
        Ok(!env.accesses.is_idle())
    }

    /// Writes the noted reads and counts, waiting for the gate until the deadline.
    pub(crate) fn flush(&self, env: &OpEnv<'_>) -> Result<()> {
        if env.accesses.is_idle() {
            return Ok(());
        }
        let _gate = self.gate.enter(env.deadline())?;
        run_redb_txn(env, |w| flush_reads(w, env.accesses)).map(drop)
    }

    /// Runs `f` holding the gate, with no redb transaction of this handle open; its
    /// `refresh` does nothing (the direct path caches no snapshot).
    pub(crate) fn exclusive<T>(
        &self,
        env: &OpEnv<'_>,
        f: impl FnOnce(&OpEnv<'_>, &dyn Fn() -> Result<()>) -> Result<T>,
    ) -> Result<T> {
        let _gate = self.gate.enter(env.deadline())?;
        f(env, &|| Ok(()))
    }

    /// The hits and misses counted and not yet written; with `reset`, also sets them to
    /// zero.
    pub(crate) fn pending_counts(&self, accesses: &Accesses, reset: bool) -> (u64, u64) {
        if reset {
            accesses.take_counts()
        } else {
            accesses.counts()
        }
    }
}

/// Writes the reads noted in `accesses` into `w`.
fn flush_reads(w: &mut WriteCtx<'_>, accesses: &Accesses) -> Result<()> {
    for (key, access) in accesses.take() {
        access::apply(w, &key, access)?;
    }
    let (hits, misses) = accesses.take_counts();
    w.add_stats(hits, misses);
    Ok(())
}
