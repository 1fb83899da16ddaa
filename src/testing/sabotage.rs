//! Deliberately broken variants of the library (negative controls): each undoes one safety
//! property, so that the test guarding that property can be seen to fail without it.
//!
//! They exist only in a build made with `RUSTFLAGS="--cfg diskcache_broken"`, which no Cargo
//! feature of a dependent can turn on; in every other build [`on`] is a constant `false` and
//! the sabotaged branches compile away. In such a build, the environment variable
//! `DISKCACHE_BROKEN` names the one variant in force (read once per process; child processes
//! inherit it). `scripts/negative_controls.sh` builds the library so and requires each
//! variant's tests to fail.

/// One deliberately broken variant, named (in `DISKCACHE_BROKEN`) as in [`Sabotage::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sabotage {
    /// Every write returns `Ok` without committing it (`tests/durability/crash_consistency.rs`).
    AckBeforeCommit,
    /// A checkpoint of the sealed lane publishes it as applied before committing it to redb,
    /// the order the design forbids (`tests/durability/wal_harness.rs`).
    CheckpointOrder,
    /// The sealed lane is retired (leaves the index) whether or not its checkpoint has
    /// committed it (`tests/durability/wal_harness.rs`).
    LaneRetiredEarly,
    /// A forked child keeps using the store it inherited instead of opening its own
    /// (`tests/process_wide/fork.rs`).
    ForkInheritsStore,
    /// A write whose commit failed with an unknown outcome deletes its new value files as if
    /// it had not been applied (`tests/durability/fault_injection.rs`).
    DiscardOnUnknownOutcome,
    /// The clean-shutdown marker is never read or written, as on a system with no boot id
    /// (`tests/durability/power_loss.rs`).
    SkipPowerLossCheck,
    /// `reset` does not bump the shared settings epoch, so other processes keep their old
    /// settings (`tests/api/eviction.rs`).
    SettingsEpoch,
    /// Checkpoints drop the access records other processes logged (`tests/api/eviction.rs`).
    AccessRecords,
    /// `Cache::transact` runs each operation of its closure as its own write
    /// (`tests/api/transact.rs`).
    TransactNotAtomic,
    /// `check` does not compare value files with their crc32 (`tests/durability/check_repair.rs`).
    CheckSkipsCrc,
    /// `Lock` acquisition uses `set` instead of `add` (`tests/api/recipes.rs`).
    LockNotExclusive,
    /// A panic inside redb is not caught at the boundary around it
    /// (`tests/durability/damaged_database.rs`).
    NoRedbBoundary,
    /// A whole, crc-valid log record that does not parse ends the valid log, as a torn one
    /// does, so every later record is lost (`tests/durability/log_records.rs`).
    DamagedRecordEndsLog,
    /// A log record of a newer format is taken for a damaged one: an older build skips it
    /// (and its block) instead of refusing the log (`tests/durability/log_records.rs`).
    NewerRecordSkipped,
    /// The write locks are unfair again: the in-process gate opens on release instead of
    /// handing over to its first waiter, the logged path's lock ignores and never makes
    /// handoff claims, and the direct path's writers ignore and never take the handoff byte
    /// (`tests/process_wide/fairness.rs`).
    UnfairLock,
    /// Writers do not keep an order table being built in step (`tests/api/slicing.rs`).
    WritersIgnoreBuilds,
    /// `check` reports what its snapshot showed without confirming it against the cache as
    /// it is (`tests/api/slicing.rs`).
    CheckSkipsConfirm,
    /// Every `check(true)` corrects the counters by what its snapshot showed, not only the
    /// latest to start (`tests/api/slicing.rs`).
    CheckFixUnguarded,
    /// A platform without the logged write path opens a cache whose log still holds writes,
    /// or that a process of the logged path has open, with the direct path anyway
    /// (`tests/internals/platforms.rs`).
    IgnoreUnappliedLog,
    /// Threads that miss the same key in `get_or_insert_with` or a memo all compute it
    /// (`tests/api/rust_api.rs`).
    UngatedCompute,
    /// Every store gets a janitor thread of its own (`tests/process_wide/janitor.rs`).
    JanitorPerStore,
    /// The janitor runs a round every 10 ms forever, never sleeping
    /// (`tests/process_wide/janitor.rs`).
    JanitorPolls,
    /// Writes do not remove expired entries; they only evict by policy over the size limit
    /// (`tests/api/expire.rs`).
    WritesKeepExpired,
    /// A writer whose value file folder another process removed (having emptied it) fails
    /// instead of making the folder again (`blob`'s unit tests).
    NoFolderRetry,
    /// Storing a long key leaves the format version at 1, so an older build would take its
    /// rows for damage instead of refusing the cache (`tests/api/keys_and_values.rs`).
    LongKeysKeepVersion,
    /// Checkpoints at the `Normal` durability level commit rows naming value files they did
    /// not sync (`tests/durability/power_loss_sim.rs`).
    NoCheckpointFileSync,
    /// redb's commits are never synced, whatever the durability level
    /// (`tests/durability/power_loss_sim.rs`).
    NoCommitSync,
    /// The janitor never checkpoints a log for its age, so at the `Normal` level a logged
    /// write waits for the next write's checkpoint (`tests/durability/power_loss.rs`).
    LogAgeIgnored,
    /// At the `Normal` level a logged write deletes the value file of the database's row it
    /// replaced at once, not at the checkpoint (`tests/durability/power_loss_sim.rs`).
    ReplacedFilesGoEarly,
    /// `len` and `volume` inside a transaction recover under the write lock, which their own
    /// thread holds, when a checkpoint's commit keeps the counters' seqlock odd
    /// (`src/engine/tests.rs`).
    CountTakesOwnLock,
    /// redb's page cache keeps its default size, 1 GiB, whatever the memory budget
    /// (`tests/process_wide/resident_memory.rs`).
    IgnoreMemoryBudget,
    /// A checkpoint zeroes the lanes' deltas before it bumps the epoch, so a writer reading
    /// the counters from a snapshot older than the commit can add no deltas to it
    /// (`src/engine/tests.rs`).
    DeltasBeforeEpoch,
    /// The async handles run each operation on the runtime's thread instead of tokio's
    /// blocking pool (`tests/api/asynchronous.rs`).
    AsyncRunsInline,
    /// A long operation's progress callback cannot stop it: its `Break` is taken for
    /// `Continue` (`tests/api/progress.rs`).
    BreakIgnored,
}

impl Sabotage {
    /// Every variant.
    #[cfg_attr(
        not(diskcache_broken),
        expect(dead_code, reason = "read in sabotage builds")
    )]
    const ALL: [Sabotage; 34] = [
        Sabotage::AckBeforeCommit,
        Sabotage::CheckpointOrder,
        Sabotage::LaneRetiredEarly,
        Sabotage::ForkInheritsStore,
        Sabotage::DiscardOnUnknownOutcome,
        Sabotage::SkipPowerLossCheck,
        Sabotage::SettingsEpoch,
        Sabotage::AccessRecords,
        Sabotage::TransactNotAtomic,
        Sabotage::CheckSkipsCrc,
        Sabotage::LockNotExclusive,
        Sabotage::NoRedbBoundary,
        Sabotage::DamagedRecordEndsLog,
        Sabotage::NewerRecordSkipped,
        Sabotage::UnfairLock,
        Sabotage::WritersIgnoreBuilds,
        Sabotage::CheckSkipsConfirm,
        Sabotage::CheckFixUnguarded,
        Sabotage::IgnoreUnappliedLog,
        Sabotage::UngatedCompute,
        Sabotage::JanitorPerStore,
        Sabotage::JanitorPolls,
        Sabotage::WritesKeepExpired,
        Sabotage::NoFolderRetry,
        Sabotage::LongKeysKeepVersion,
        Sabotage::NoCheckpointFileSync,
        Sabotage::NoCommitSync,
        Sabotage::LogAgeIgnored,
        Sabotage::ReplacedFilesGoEarly,
        Sabotage::CountTakesOwnLock,
        Sabotage::IgnoreMemoryBudget,
        Sabotage::DeltasBeforeEpoch,
        Sabotage::AsyncRunsInline,
        Sabotage::BreakIgnored,
    ];

    /// The variant's name in `DISKCACHE_BROKEN`.
    #[cfg_attr(
        not(diskcache_broken),
        expect(dead_code, reason = "read in sabotage builds")
    )]
    const fn name(self) -> &'static str {
        match self {
            Sabotage::AckBeforeCommit => "ack-before-commit",
            Sabotage::CheckpointOrder => "checkpoint-order",
            Sabotage::LaneRetiredEarly => "lane-retired-early",
            Sabotage::ForkInheritsStore => "fork-inherits-store",
            Sabotage::DiscardOnUnknownOutcome => "discard-on-unknown-outcome",
            Sabotage::SkipPowerLossCheck => "skip-power-loss-check",
            Sabotage::SettingsEpoch => "settings-epoch",
            Sabotage::AccessRecords => "access-records",
            Sabotage::TransactNotAtomic => "transact-not-atomic",
            Sabotage::CheckSkipsCrc => "check-skips-crc",
            Sabotage::LockNotExclusive => "lock-not-exclusive",
            Sabotage::NoRedbBoundary => "no-redb-boundary",
            Sabotage::DamagedRecordEndsLog => "damaged-record-ends-log",
            Sabotage::NewerRecordSkipped => "newer-record-skipped",
            Sabotage::UnfairLock => "unfair-lock",
            Sabotage::WritersIgnoreBuilds => "writers-ignore-builds",
            Sabotage::CheckSkipsConfirm => "check-skips-confirm",
            Sabotage::CheckFixUnguarded => "check-fix-unguarded",
            Sabotage::IgnoreUnappliedLog => "ignore-unapplied-log",
            Sabotage::UngatedCompute => "ungated-compute",
            Sabotage::JanitorPerStore => "janitor-per-store",
            Sabotage::JanitorPolls => "janitor-polls",
            Sabotage::WritesKeepExpired => "writes-keep-expired",
            Sabotage::NoFolderRetry => "no-folder-retry",
            Sabotage::LongKeysKeepVersion => "long-keys-keep-version",
            Sabotage::NoCheckpointFileSync => "no-checkpoint-file-sync",
            Sabotage::NoCommitSync => "no-commit-sync",
            Sabotage::LogAgeIgnored => "log-age-ignored",
            Sabotage::ReplacedFilesGoEarly => "replaced-files-go-early",
            Sabotage::CountTakesOwnLock => "count-takes-own-lock",
            Sabotage::IgnoreMemoryBudget => "ignore-memory-budget",
            Sabotage::DeltasBeforeEpoch => "deltas-before-epoch",
            Sabotage::AsyncRunsInline => "async-runs-inline",
            Sabotage::BreakIgnored => "break-ignored",
        }
    }
}

/// Whether `variant` is in force: never, outside a `--cfg diskcache_broken` build.
#[cfg(not(diskcache_broken))]
#[inline(always)]
pub(crate) const fn on(_variant: Sabotage) -> bool {
    false
}

/// Whether `variant` is the one `DISKCACHE_BROKEN` names. A name that is no variant's stops
/// the process: a negative control that sabotages nothing would pass for a test that
/// cannot fail.
#[cfg(diskcache_broken)]
pub(crate) fn on(variant: Sabotage) -> bool {
    static ACTIVE: std::sync::OnceLock<Option<Sabotage>> = std::sync::OnceLock::new();
    let active = ACTIVE.get_or_init(|| {
        let name = std::env::var("DISKCACHE_BROKEN").ok()?;
        let found = Sabotage::ALL.into_iter().find(|v| v.name() == name);
        if found.is_none() {
            eprintln!("DISKCACHE_BROKEN={name}: no such variant");
            std::process::abort();
        }
        found
    });
    *active == Some(variant)
}
