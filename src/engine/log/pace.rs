//! Pacing: while the sealed lane's checkpoint runs, writers fill the active lane no faster
//! than that checkpoint is expected to empty the sealed one, so that the wait for it is
//! spread over many writes (a few µs each) instead of falling whole on the writer that finds
//! both lanes full.
//!
//! Every process paces by the same shared words: when the sealed lane was sealed, what the
//! last full checkpoint cost per record, and when the running one expects to be done applying
//! (`cache.shm`, `format-spec/wal.md`). The `f`-th record of the active lane is due
//! `f / capacity` of the way through the sealed lane's expected checkpoint (its records times
//! the cost per record, or, if later, until the running one's expected end; plus a quarter):
//! a writer ahead of that waits until it is due, at most [`MAX_WAIT`] per write.

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

/// The sealed lane: its records, when it was sealed and when its checkpoint expects to be
/// done applying (µs since the epoch; 0: not known yet).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sealed {
    pub(crate) records: u64,
    pub(crate) at_us: u64,
    pub(crate) apply_end_us: u64,
}

/// How long the writer that finds `fill` records in the active lane (of `capacity`) waits,
/// `now_us` being the time (µs since the epoch), with checkpoints costing `cost_ns` per
/// record (0: not measured).
pub(crate) fn wait_for(
    now_us: u64,
    sealed: Sealed,
    cost_ns: u64,
    fill: u64,
    capacity: u64,
) -> Duration {
    let cost_ns = if cost_ns == 0 { FIRST_COST_NS } else { cost_ns };
    let by_cost_us = u128::from(sealed.records) * u128::from(cost_ns) / 1000;
    let by_progress_us = u128::from(sealed.apply_end_us.saturating_sub(sealed.at_us));
    // The sealed lane's expected checkpoint, with a quarter more (µs).
    let expected_us = by_cost_us.max(by_progress_us).saturating_mul(5) / 4;
    let offset_us =
        expected_us.saturating_mul(u128::from(fill.min(capacity))) / u128::from(capacity.max(1));
    let due_us = u128::from(sealed.at_us).saturating_add(offset_us);
    let ahead_us = due_us.saturating_sub(u128::from(now_us));
    Duration::from_micros(u64::try_from(ahead_us).unwrap_or(u64::MAX)).min(MAX_WAIT)
}

/// Before a write (outside the lock): waits while writers are ahead of the sealed lane's
/// checkpoint ([`wait_for`]); returns at once if no lane is sealed or it has been applied.
pub(crate) fn pace(shm: &Shm, capacity: u64) {
    let Some((sealed, generation)) = shm.sealed() else {
        return;
    };
    if shm.get(Word::Applied) == generation {
        return;
    }
    let lane = Sealed {
        records: shm.lane(sealed, LaneWord::Records),
        at_us: shm.get(Word::SealedAt),
        apply_end_us: shm.get(Word::ApplyEnd),
    };
    let wait = wait_for(
        crate::time::now_us(),
        lane,
        shm.get(Word::ApplyCost),
        shm.lane(shm.active(), LaneWord::Records),
        capacity,
    );
    if wait.is_zero() {
        return;
    }
    crate::observe::paced(wait);
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
    shm.set(Word::ApplyEnd, 0);
    shm.set(Word::SealedAt, crate::time::now_us());
}

/// Notes that the running checkpoint, which began applying at `started`, has applied `done`
/// of its `total` changes: the rest is expected to take as long per change.
pub(crate) fn note_progress(shm: &Shm, started: Instant, done: usize, total: usize) {
    let elapsed_us = started.elapsed().as_micros();
    let left = total.saturating_sub(done) as u128;
    let rest_us = elapsed_us.saturating_mul(left) / (done.max(1) as u128);
    let end_us = u128::from(crate::time::now_us()).saturating_add(rest_us);
    shm.set(Word::ApplyEnd, u64::try_from(end_us).unwrap_or(u64::MAX));
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

    const AT: u64 = 1_000_000;

    fn sealed(apply_end_us: u64) -> Sealed {
        Sealed {
            records: 16384,
            at_us: AT,
            apply_end_us,
        }
    }

    #[test]
    fn a_writer_on_schedule_or_behind_it_does_not_wait() {
        // 16384 records at 2 µs: 32.768 ms, 40.96 with a quarter more; half the lane filled
        // is due at 20.48 ms.
        let half = wait_for(AT + 21 * MS, sealed(0), 2000, 8192, 16384);
        assert_eq!(half, Duration::ZERO);
        let empty = wait_for(AT, sealed(0), 2000, 0, 16384);
        assert_eq!(empty, Duration::ZERO);
    }

    #[test]
    fn a_writer_ahead_of_schedule_waits_until_due_but_never_past_the_cap() {
        // 100 records in, 100 µs after the seal: due at 100/16384 of 40.96 ms = 250 µs.
        let ahead = wait_for(AT + 100, sealed(0), 2000, 100, 16384);
        assert_eq!(ahead, Duration::from_micros(150));
        // The whole lane filled at once: due at 40.96 ms, capped.
        let far = wait_for(AT, sealed(0), 2000, 16384, 16384);
        assert_eq!(far, MAX_WAIT);
    }

    #[test]
    fn a_checkpoint_slower_than_the_last_one_paces_by_its_progress() {
        // Expected to end 100 ms after the seal, not the 32.768 ms the cost says: 125 ms
        // with a quarter more. A sixteenth of the lane is due at 7.8125 ms (no wait at 10
        // ms); a tenth at 12.5 ms (a wait), where the cost alone said 4.1 ms.
        let slow = sealed(AT + 100 * MS);
        assert_eq!(
            wait_for(AT + 10 * MS, slow, 2000, 1024, 16384),
            Duration::ZERO
        );
        assert_eq!(wait_for(AT + 10 * MS, slow, 2000, 1639, 16384), MAX_WAIT);
        assert_eq!(
            wait_for(AT + 10 * MS, sealed(0), 2000, 1639, 16384),
            Duration::ZERO
        );
        // A checkpoint faster than the cost says changes nothing: the longer estimate holds.
        let fast = sealed(AT + 20 * MS);
        assert_eq!(
            wait_for(AT + 10 * MS, fast, 2000, 8192, 16384),
            wait_for(AT + 10 * MS, sealed(0), 2000, 8192, 16384)
        );
    }

    #[test]
    fn an_unmeasured_cost_is_assumed_and_absurd_words_do_not_overflow() {
        let one = Sealed {
            records: 1000,
            at_us: 0,
            apply_end_us: 0,
        };
        assert_eq!(wait_for(0, one, 0, 1000, 1000), MAX_WAIT);
        let absurd = Sealed {
            records: u64::MAX,
            at_us: u64::MAX,
            apply_end_us: u64::MAX,
        };
        assert_eq!(wait_for(0, absurd, u64::MAX, u64::MAX, 0), MAX_WAIT);
        assert_eq!(wait_for(u64::MAX, absurd, u64::MAX, u64::MAX, 1), MAX_WAIT);
    }
}
