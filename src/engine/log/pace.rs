//! Pacing: while the sealed lane's checkpoint runs, writers fill the active lane no faster
//! than that checkpoint is expected to empty the sealed one, so that the wait for it is
//! spread over many writes (a few µs each) instead of falling whole on the writer that finds
//! both lanes full.
//!
//! Every process paces by the same shared words: when the sealed lane was sealed and what the
//! last full checkpoint cost per record (`cache.shm`, `format-spec/wal.md`). The `f`-th
//! record of the active lane is due `f / capacity` of the way through the sealed lane's
//! expected checkpoint (its records times the cost per record, plus a quarter): a writer
//! ahead of that waits until it is due, at most [`MAX_WAIT`] per write.

use std::time::{Duration, Instant};

use crate::engine::log::shm::{LaneWord, Shm, Word};

/// The longest one write waits for its turn: a checkpoint that runs later than expected (or
/// a checkpointer that died) costs each write at most this, and the writer that fills the
/// lane waits for the rest.
const MAX_WAIT: Duration = Duration::from_millis(1);
/// Waits up to this long are spun (a yield could give the processor away for a whole time
/// slice on a busy machine); longer ones sleep, which the system rounds up by tens of µs.
const SPIN: Duration = Duration::from_micros(50);
/// A checkpoint's cost per record (ns) until one has been measured in this `cache.shm`.
const FIRST_COST_NS: u64 = 2_500;
/// The fewest records a checkpoint must apply for its cost per record to be kept: smaller
/// ones (a lane sealed for its age) are mostly the commit's fixed cost, which a full lane
/// spreads over all its records.
const MEASURED_RECORDS: u64 = 1024;

/// How long the writer that finds `fill` records in the active lane (of `capacity`) waits,
/// `now_us` being the time (µs since the epoch) and the sealed lane holding `sealed_records`,
/// sealed at `sealed_at_us`, with checkpoints costing `cost_ns` per record (0: not measured).
pub(crate) fn wait_for(
    now_us: u64,
    sealed_at_us: u64,
    sealed_records: u64,
    cost_ns: u64,
    fill: u64,
    capacity: u64,
) -> Duration {
    let cost_ns = if cost_ns == 0 { FIRST_COST_NS } else { cost_ns };
    // The sealed lane's expected checkpoint, with a quarter more (µs).
    let expected_us =
        (u128::from(sealed_records) * u128::from(cost_ns)).saturating_mul(5) / 4 / 1000;
    let offset_us =
        expected_us.saturating_mul(u128::from(fill.min(capacity))) / u128::from(capacity.max(1));
    let due_us = u128::from(sealed_at_us).saturating_add(offset_us);
    let ahead_us = due_us.saturating_sub(u128::from(now_us));
    Duration::from_micros(u64::try_from(ahead_us).unwrap_or(u64::MAX)).min(MAX_WAIT)
}

/// Before a write (outside the lock): waits while writers are ahead of the sealed lane's
/// checkpoint ([`wait_for`]); returns at once if no lane is sealed or it has been applied.
pub(crate) fn pace(shm: &Shm, capacity: u64) {
    let active = shm.active();
    let sealed = crate::engine::log::shm::other(active);
    let generation = shm.lane(sealed, LaneWord::Gen);
    if generation == 0 || shm.get(Word::Applied) == generation {
        return;
    }
    let wait = wait_for(
        crate::time::now_us(),
        shm.get(Word::SealedAt),
        shm.lane(sealed, LaneWord::Records),
        shm.get(Word::ApplyCost),
        shm.lane(active, LaneWord::Records),
        capacity,
    );
    if wait.is_zero() {
        return;
    }
    if wait > SPIN {
        std::thread::sleep(wait);
        return;
    }
    let until = Instant::now() + wait;
    while Instant::now() < until && shm.get(Word::Applied) != generation {
        std::hint::spin_loop();
    }
}

/// Notes, in the shared words, that a lane was sealed now (under the write lock).
pub(crate) fn note_sealed(shm: &Shm) {
    shm.set(Word::SealedAt, crate::time::now_us());
}

/// Notes what a checkpoint of `records` records that took `took` cost per record, if it
/// applied enough records to say ([`MEASURED_RECORDS`]).
pub(crate) fn note_applied(shm: &Shm, records: u64, took: Duration) {
    if records < MEASURED_RECORDS {
        return;
    }
    let per_record = took.as_nanos() / u128::from(records);
    shm.set(
        Word::ApplyCost,
        u64::try_from(per_record).unwrap_or(u64::MAX).max(1),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1000;

    #[test]
    fn a_writer_on_schedule_or_behind_it_does_not_wait() {
        // 16384 records at 2 µs: 40.96 ms expected; half the lane filled is due at 20.48 ms.
        let sealed_at = 1_000_000;
        let half = wait_for(sealed_at + 21 * MS, sealed_at, 16384, 2000, 8192, 16384);
        assert_eq!(half, Duration::ZERO);
        let empty = wait_for(sealed_at, sealed_at, 16384, 2000, 0, 16384);
        assert_eq!(empty, Duration::ZERO);
    }

    #[test]
    fn a_writer_ahead_of_schedule_waits_until_due_but_never_past_the_cap() {
        let sealed_at = 1_000_000;
        // 100 records in, 100 µs after the seal: due at 100/16384 of 40.96 ms = 250 µs.
        let ahead = wait_for(sealed_at + 100, sealed_at, 16384, 2000, 100, 16384);
        assert_eq!(ahead, Duration::from_micros(150));
        // The whole lane filled at once: due at 40.96 ms, capped.
        let far = wait_for(sealed_at, sealed_at, 16384, 2000, 16384, 16384);
        assert_eq!(far, MAX_WAIT);
    }

    #[test]
    fn an_unmeasured_cost_is_assumed_and_absurd_words_do_not_overflow() {
        let unmeasured = wait_for(0, 0, 1000, 0, 1000, 1000);
        assert_eq!(unmeasured, MAX_WAIT);
        let absurd = wait_for(0, u64::MAX, u64::MAX, u64::MAX, u64::MAX, 0);
        assert_eq!(absurd, MAX_WAIT);
    }
}
