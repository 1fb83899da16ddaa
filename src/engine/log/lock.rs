//! The write lock of the logged write path: an owner word in `cache.shm`, taken with a
//! compare-and-swap (no system call when free), waited on with a futex, freed from a dead
//! owner by checking its presence lock on `cache.lock`, and handed off fairly through a claim
//! word.
//!
//! Each open overlay picks a random token and holds an OFD write lock on the byte of
//! `cache.lock` at offset `token` for its whole life. The kernel drops that lock when the
//! process dies, so "the owner word holds `t` and nobody holds byte `t`" means the owner died:
//! a waiter may then swap its own token in and recover. Tokens are random, so a reused pid
//! cannot look alive. Threads of one process are queued by an in-process gate first.
//!
//! Fairness: every holder bumps the acquisition counter. A waiter that has seen
//! [`HANDOFF_AFTER`] acquisitions by others since it began waiting, or has waited
//! [`HANDOFF_WAIT`], claims the handoff (swaps its token into the claim word); while the claim
//! word names another live instance, nobody else takes the lock, even a free one, so the
//! claimant has it at the next release. It
//! clears the claim once it holds the lock or gives up; a dead claimant's claim (its presence
//! byte free) is cleared by whoever sees it.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::engine::gate::{GateGuard, WriteGate};
use crate::engine::log::shm::{Shm, Word};
use crate::error::{Error, Result};
use crate::platform::locks::{self, Kind};
use crate::platform::wait::{wait as futex_wait, wake as futex_wake};
use crate::testing::sabotage::{self, Sabotage};

/// File name of the lock file inside a cache directory.
pub(crate) const LOCK_FILE: &str = "cache.lock";
/// Tokens are below this, so that `token` is a valid byte offset for a lock.
const TOKEN_LIMIT: u64 = 1 << 62;
/// How long a waiter waits between checks that the owner (or claimant) is alive.
const LIVENESS_PERIOD: Duration = Duration::from_millis(2);
/// Acquisitions by others a waiter lets pass before it claims the handoff. Measured with two
/// processes setting in tight loops (`examples/fairness.rs`, format-spec/wal.md): every
/// handoff leaves the lock idle while the claimant wakes, so a smaller bound costs
/// throughput, and a larger one lengthens the longest wait.
pub(crate) const HANDOFF_AFTER: u64 = 16;
/// How long a waiter waits before it claims the handoff however few acquisitions it saw:
/// holds that are long (a durable write's `fdatasync`, a checkpoint) let few acquisitions
/// pass, and this bounds the wait to about two of them.
const HANDOFF_WAIT: Duration = Duration::from_millis(2);

/// The cross-process write lock, and the checkpoint lock beside it.
#[derive(Debug)]
pub(crate) struct WriteLock {
    /// `cache.lock`, holding this instance's presence lock on byte `token`.
    file: File,
    token: u64,
    gate: WriteGate,
    /// Keeps this instance's threads from taking the checkpoint lock together (they share
    /// its token).
    checkpoint_gate: std::sync::Mutex<()>,
}

/// Holds the checkpoint lock; dropping it frees the owner word.
pub(crate) struct CheckpointHeld<'a> {
    shm: &'a Shm,
    _gate: std::sync::MutexGuard<'a, ()>,
}

impl Drop for CheckpointHeld<'_> {
    fn drop(&mut self) {
        self.shm.set(Word::CheckpointOwner, 0);
    }
}

/// Holds the write lock; dropping it frees the owner word, then the gate.
pub(crate) struct WriteLockHeld<'a> {
    shm: &'a Shm,
    _gate: GateGuard<'a>,
}

/// This instance's handoff claim while it waits: cleared when dropped, and if the lock is
/// then free, the sleepers the claim kept out are woken.
struct Claim<'a> {
    shm: &'a Shm,
    token: u64,
    held: bool,
}

impl WriteLock {
    /// The descriptor of `cache.lock`, which carries the presence lock.
    pub(crate) fn fd(&self) -> crate::platform::process::RawFd {
        crate::platform::process::raw_fd(&self.file)
    }

    /// Opens (creating if needed) `cache.lock` in `dir` and takes this instance's presence
    /// lock on a fresh random token.
    pub(crate) fn open(dir: &Path) -> Result<WriteLock> {
        let file = crate::files::open_shared(&dir.join(LOCK_FILE))?;
        for _ in 0..16 {
            let token = random_token();
            if locks::try_lock(&file, token, Kind::Exclusive)? {
                return Ok(WriteLock {
                    file,
                    token,
                    gate: WriteGate::default(),
                    checkpoint_gate: std::sync::Mutex::default(),
                });
            }
        }
        Err(Error::Io(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "no free presence token on cache.lock after 16 tries",
        )))
    }

    /// Whether another process has the cache open on the logged path (holds a presence lock
    /// on `cache.lock`).
    pub(crate) fn others_present(&self) -> Result<bool> {
        locks::range_held_elsewhere(&self.file, 1, TOKEN_LIMIT - 1)
    }

    /// Takes the checkpoint lock if it is free, or held by an instance that died (whose work
    /// the taker then redoes: applying a lane twice changes nothing); `None` if another live
    /// instance, or another thread of this one, holds it. Never waits.
    ///
    /// The checkpoint lock orders the instances that apply a sealed lane to the database. Its
    /// holder never waits for the write lock, so a holder of the write lock may wait for it.
    pub(crate) fn try_checkpoint_lock<'a>(
        &'a self,
        shm: &'a Shm,
    ) -> Result<Option<CheckpointHeld<'a>>> {
        let gate = match self.checkpoint_gate.try_lock() {
            Ok(gate) => gate,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return Ok(None),
        };
        let owner = shm.word(Word::CheckpointOwner);
        let current =
            match owner.compare_exchange(0, self.token, Ordering::Acquire, Ordering::Acquire) {
                Ok(_) => return Ok(Some(CheckpointHeld { shm, _gate: gate })),
                Err(current) => current,
            };
        // This instance's own token with its gate free: a holder that failed to free it.
        let dead = current == self.token || !self.alive(current)?;
        if dead
            && owner
                .compare_exchange(current, self.token, Ordering::Acquire, Ordering::Acquire)
                .is_ok()
        {
            return Ok(Some(CheckpointHeld { shm, _gate: gate }));
        }
        Ok(None)
    }

    /// Whether the checkpoint lock is free or held by a live instance.
    pub(crate) fn checkpointer_alive(&self, shm: &Shm) -> Result<bool> {
        match shm.get(Word::CheckpointOwner) {
            0 => Ok(true),
            owner => self.alive(owner),
        }
    }

    /// Takes the checkpoint lock ([`WriteLock::try_checkpoint_lock`]), polling every 100 µs
    /// until `deadline` at most ([`Error::Timeout`] then).
    pub(crate) fn checkpoint_lock<'a>(
        &'a self,
        shm: &'a Shm,
        deadline: Instant,
    ) -> Result<CheckpointHeld<'a>> {
        loop {
            if let Some(held) = self.try_checkpoint_lock(shm)? {
                return Ok(held);
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout);
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    /// Takes the lock, waiting until `deadline` at most ([`Error::Timeout`] then).
    ///
    /// A free, unclaimed lock costs one load of the claim word and one compare-and-swap (and
    /// the holder's plain load and store of the acquisition count), no system call. Otherwise
    /// see [`WriteLock::wait`].
    pub(crate) fn lock<'a>(&'a self, shm: &'a Shm, deadline: Instant) -> Result<WriteLockHeld<'a>> {
        let gate = self.gate.enter(deadline)?;
        let unclaimed = shm.word(Word::LockClaim).load(Ordering::Acquire) == 0;
        if unclaimed
            && shm
                .word(Word::LockOwner)
                .compare_exchange(0, self.token, Ordering::Acquire, Ordering::Acquire)
                .is_ok()
        {
            return Ok(self.held(shm, gate));
        }
        self.wait(shm, gate, deadline)
    }

    /// The lock's slow path: a taken lock is spun on briefly (holders are usually done within
    /// microseconds), then slept on with a futex. Every 2 ms of waiting the owner's presence
    /// byte is checked, and a dead owner's lock is taken over; or, while another instance's
    /// claim bars this one, the claimant's, and a dead claimant's claim is cleared. After
    /// [`HANDOFF_AFTER`] acquisitions by others, or [`HANDOFF_WAIT`], this instance claims
    /// the handoff itself.
    fn wait<'a>(
        &'a self,
        shm: &'a Shm,
        gate: GateGuard<'a>,
        deadline: Instant,
    ) -> Result<WriteLockHeld<'a>> {
        let owner = shm.word(Word::LockOwner);
        let claim = shm.word(Word::LockClaim);
        let acquisitions = shm.word(Word::LockAcquisitions);
        let fair = !sabotage::on(Sabotage::UnfairLock);
        let began = acquisitions.load(Ordering::Relaxed);
        let since = Instant::now();
        let mut mine = Claim {
            shm,
            token: self.token,
            held: false,
        };
        let mut spins = 0u32;
        let mut checked = Instant::now();
        loop {
            let claimant = claim.load(Ordering::Acquire);
            // Another instance's claim keeps this one from taking the lock, free or not.
            let barred = fair && claimant != 0 && claimant != self.token;
            let current = if barred {
                owner.load(Ordering::Acquire)
            } else {
                match owner.compare_exchange(0, self.token, Ordering::Acquire, Ordering::Acquire) {
                    Ok(_) => {
                        crate::observe::lock_waited("logged", since.elapsed());
                        return Ok(self.took(mine, shm, gate));
                    }
                    Err(current) => current,
                }
            };
            let passed = acquisitions.load(Ordering::Relaxed).wrapping_sub(began);
            let starved = passed >= HANDOFF_AFTER || since.elapsed() >= HANDOFF_WAIT;
            if fair
                && claimant == 0
                && starved
                && claim
                    .compare_exchange(0, self.token, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                mine.held = true;
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            // Check liveness every 2 ms of waiting, and once more before giving up (so a
            // caller that does not wait, like the janitor, still frees a dead owner's lock).
            if checked.elapsed() >= LIVENESS_PERIOD || left.is_zero() {
                checked = Instant::now();
                if barred {
                    if !self.alive(claimant)?
                        && claim
                            .compare_exchange(claimant, 0, Ordering::AcqRel, Ordering::Acquire)
                            .is_ok()
                    {
                        // A dead claimant's claim: cleared, and whoever it kept out may go.
                        wake_sleepers(shm, true);
                        continue;
                    }
                } else if current != 0
                    && !self.alive(current)?
                    && owner
                        .compare_exchange(current, self.token, Ordering::Acquire, Ordering::Acquire)
                        .is_ok()
                {
                    // Taken over from a dead owner; its `dirty` mark makes the caller recover.
                    crate::observe::lock_taken_over(current);
                    return Ok(self.took(mine, shm, gate));
                }
            }
            if left.is_zero() {
                // `mine` is dropped: a claim made is cleared.
                crate::observe::lock_timed_out("logged", since.elapsed());
                return Err(Error::Timeout);
            }
            if spins < 100 {
                spins += 1;
                if spins.is_multiple_of(10) {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
                continue;
            }
            self.sleep_while_barred(shm, left.min(LIVENESS_PERIOD), fair);
        }
    }

    /// The lock was just taken on the slow path: a claim naming this instance is cleared
    /// without waking anyone (the lock is held).
    fn took<'a>(
        &self,
        mut claim: Claim<'a>,
        shm: &'a Shm,
        gate: GateGuard<'a>,
    ) -> WriteLockHeld<'a> {
        claim.held = false;
        let _ = shm.word(Word::LockClaim).compare_exchange(
            self.token,
            0,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.held(shm, gate)
    }

    /// The lock was just taken: counts the acquisition (only holders write the counter).
    fn held<'a>(&self, shm: &'a Shm, gate: GateGuard<'a>) -> WriteLockHeld<'a> {
        let count = shm.word(Word::LockAcquisitions);
        count.store(
            count.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
        WriteLockHeld { shm, _gate: gate }
    }

    /// Sleeps on the wake word until a release (or `timeout`), if the lock is still owned or
    /// another instance's claim still bars this one.
    fn sleep_while_barred(&self, shm: &Shm, timeout: Duration, fair: bool) {
        let waiters = shm.word(Word::LockWaiters);
        let wake = shm.wake_word();
        waiters.fetch_add(1, Ordering::AcqRel);
        let seen = wake.load(Ordering::Acquire);
        let claimant = shm.word(Word::LockClaim).load(Ordering::Acquire);
        let barred = fair && claimant != 0 && claimant != self.token;
        if barred || shm.word(Word::LockOwner).load(Ordering::Acquire) != 0 {
            futex_wait(wake, seen, timeout);
        }
        waiters.fetch_sub(1, Ordering::AcqRel);
    }

    /// Whether the instance holding `token` is alive: someone holds its presence byte. A
    /// value no token can have (a damaged word) names nobody alive.
    fn alive(&self, token: u64) -> Result<bool> {
        if token == self.token {
            return Ok(true);
        }
        if token >= TOKEN_LIMIT {
            return Ok(false);
        }
        locks::held_elsewhere(&self.file, token)
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if !self.held {
            return;
        }
        let cleared = self
            .shm
            .word(Word::LockClaim)
            .compare_exchange(self.token, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if cleared && self.shm.word(Word::LockOwner).load(Ordering::Acquire) == 0 {
            wake_sleepers(self.shm, true);
        }
    }
}

impl WriteLockHeld<'_> {
    /// Frees the owner word and wakes a sleeping waiter, if any: all of them while a claim
    /// is pending, so that the claimant is among them.
    fn release(&self) {
        self.shm.word(Word::LockOwner).store(0, Ordering::Release);
        wake_sleepers(self.shm, false);
    }
}

impl Drop for WriteLockHeld<'_> {
    fn drop(&mut self) {
        self.release();
    }
}

/// If anyone sleeps on the wake word: bumps it and wakes one sleeper, or all of them if
/// `everyone` or a claim is pending (the claimant must not be passed over).
fn wake_sleepers(shm: &Shm, everyone: bool) {
    if shm.word(Word::LockWaiters).load(Ordering::Acquire) == 0 {
        return;
    }
    let everyone = everyone || shm.word(Word::LockClaim).load(Ordering::Acquire) != 0;
    let wake = shm.wake_word();
    wake.fetch_add(1, Ordering::AcqRel);
    futex_wake(wake, if everyone { i32::MAX } else { 1 });
}

/// Whether a process has the cache in `dir` open through the logged write path: someone holds
/// a presence lock on `cache.lock` (a byte in `1..TOKEN_LIMIT`). `false` if there is no
/// `cache.lock`.
pub(crate) fn logged_users(dir: &Path) -> Result<bool> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join(LOCK_FILE))
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    locks::range_held_elsewhere(&file, 1, TOKEN_LIMIT - 1)
}

/// A random token in `1..TOKEN_LIMIT`.
fn random_token() -> u64 {
    (crate::platform::random::u64() % (TOKEN_LIMIT - 1)) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_instance_waits_then_times_out_and_gets_it_once_freed() {
        let dir = tempfile::tempdir().unwrap();
        let shm = Shm::open(dir.path()).unwrap();
        let a = WriteLock::open(dir.path()).unwrap();
        let b = WriteLock::open(dir.path()).unwrap();
        let held = a.lock(&shm, Instant::now()).unwrap();
        let soon = Instant::now() + Duration::from_millis(30);
        assert!(matches!(b.lock(&shm, soon), Err(Error::Timeout)));
        drop(held);
        assert!(
            b.lock(&shm, Instant::now() + Duration::from_secs(5))
                .is_ok()
        );
    }

    #[test]
    fn a_dead_owner_is_detected_by_its_free_presence_byte() {
        let dir = tempfile::tempdir().unwrap();
        let shm = Shm::open(dir.path()).unwrap();
        let b = WriteLock::open(dir.path()).unwrap();
        // An owner token whose presence byte nobody holds: as if its process died.
        shm.word(Word::LockOwner).store(12345, Ordering::Release);
        let got = b.lock(&shm, Instant::now() + Duration::from_secs(5));
        assert!(got.is_ok());
        assert_eq!(shm.word(Word::LockOwner).load(Ordering::Acquire), b.token);
    }

    #[test]
    fn a_claim_keeps_a_free_lock_from_everyone_but_the_claimant() {
        let dir = tempfile::tempdir().unwrap();
        let shm = Shm::open(dir.path()).unwrap();
        let a = WriteLock::open(dir.path()).unwrap();
        let b = WriteLock::open(dir.path()).unwrap();
        shm.word(Word::LockClaim).store(b.token, Ordering::Release);
        let soon = Instant::now() + Duration::from_millis(30);
        assert!(matches!(a.lock(&shm, soon), Err(Error::Timeout)));
        assert_eq!(shm.word(Word::LockOwner).load(Ordering::Acquire), 0);
        let held = b.lock(&shm, Instant::now()).unwrap();
        assert_eq!(
            shm.word(Word::LockClaim).load(Ordering::Acquire),
            0,
            "claim cleared"
        );
        drop(held);
        assert!(a.lock(&shm, Instant::now()).is_ok());
    }

    #[test]
    fn a_dead_claimants_claim_is_cleared_by_the_next_writer() {
        let dir = tempfile::tempdir().unwrap();
        let shm = Shm::open(dir.path()).unwrap();
        let a = WriteLock::open(dir.path()).unwrap();
        // A claimant token whose presence byte nobody holds: as if its process died.
        shm.word(Word::LockClaim).store(12345, Ordering::Release);
        assert!(
            a.lock(&shm, Instant::now() + Duration::from_secs(5))
                .is_ok()
        );
        assert_eq!(shm.word(Word::LockClaim).load(Ordering::Acquire), 0);
        // So is a value no token can have (a damaged word).
        shm.word(Word::LockClaim).store(u64::MAX, Ordering::Release);
        assert!(
            a.lock(&shm, Instant::now() + Duration::from_secs(5))
                .is_ok()
        );
    }

    #[test]
    fn a_starved_waiter_claims_the_handoff_and_the_holder_cannot_take_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let shm = Shm::open(dir.path()).unwrap();
        let a = WriteLock::open(dir.path()).unwrap();
        let b = WriteLock::open(dir.path()).unwrap();
        let held = a.lock(&shm, Instant::now()).unwrap();
        let waiter_had_it = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                b.lock(&shm, Instant::now() + Duration::from_secs(30))
                    .map(|guard| {
                        waiter_had_it.store(true, Ordering::SeqCst);
                        drop(guard);
                    })
            });
            let claim = shm.word(Word::LockClaim);
            let start = Instant::now();
            while claim.load(Ordering::Acquire) != b.token {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "the waiter never claimed"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            drop(held);
            // Freed, but claimed: the holder that just let go cannot take it again first.
            let again = a
                .lock(&shm, Instant::now() + Duration::from_secs(30))
                .unwrap();
            assert!(waiter_had_it.load(Ordering::SeqCst));
            drop(again);
            waiter.join().unwrap().unwrap();
        });
    }

    #[test]
    fn a_claimant_that_times_out_clears_its_claim() {
        let dir = tempfile::tempdir().unwrap();
        let shm = Shm::open(dir.path()).unwrap();
        let a = WriteLock::open(dir.path()).unwrap();
        let b = WriteLock::open(dir.path()).unwrap();
        let _held = a.lock(&shm, Instant::now()).unwrap();
        let later = Instant::now() + HANDOFF_WAIT * 10;
        assert!(matches!(b.lock(&shm, later), Err(Error::Timeout)));
        assert_eq!(shm.word(Word::LockClaim).load(Ordering::Acquire), 0);
    }

    #[test]
    fn a_live_owner_in_another_instance_is_not_robbed() {
        let dir = tempfile::tempdir().unwrap();
        let shm = Shm::open(dir.path()).unwrap();
        let a = WriteLock::open(dir.path()).unwrap();
        let b = WriteLock::open(dir.path()).unwrap();
        let _held = a.lock(&shm, Instant::now()).unwrap();
        let soon = Instant::now() + Duration::from_millis(20);
        assert!(matches!(b.lock(&shm, soon), Err(Error::Timeout)));
        assert_eq!(shm.word(Word::LockOwner).load(Ordering::Acquire), a.token);
    }
}
