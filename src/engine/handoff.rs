//! The direct write path's handoff byte: fairness between processes that write through redb
//! transactions, with file locks only (the direct path is for network file systems, where
//! shared memory is not coherent between machines).
//!
//! redb's writer lock between processes is a byte-range lock that a writer polls for
//! (`try_begin_write`), and a process writing in a tight loop takes it again microseconds
//! after releasing it, so a poller in another process can miss it again and again until its
//! timeout. So a writer whose wait has seen [`CLAIM_AFTER`] failed polls claims the handoff:
//! it takes an exclusive lock on byte 0 of `cache.lock` (no presence token is 0, and the
//! direct path takes no presence lock), a lock of its open file (`platform::locks`: an
//! open-file-description lock on Linux and macOS, a `LockFileEx` lock of the handle on
//! Windows). Every direct writer first asks whether another open file holds that byte (one
//! `F_OFD_GETLK`; on Windows a shared lock tried and freed) and, if so, stays away from
//! redb's writer lock, so the claimant gets it when the transaction in progress ends. The
//! claimant frees the byte as soon as its own transaction has begun, or when it gives up;
//! one that dies loses it with its descriptors. Every platform locks the same byte, so
//! processes of different systems sharing a directory over a network file system (whose
//! byte-range locks the server keeps) hand off to each other too.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use redb::{Database, WriteTransaction};

use crate::engine::log::lock::LOCK_FILE;
use crate::error::{Error, Result};
use crate::platform::locks::{self, Kind};
use crate::platform::process::{RawFd, raw_fd};
use crate::testing::sabotage::{self, Sabotage};

/// The byte of `cache.lock` whose lock is the handoff claim.
pub(crate) const HANDOFF_BYTE: u64 = 0;
/// Failed polls of redb's writer lock in one wait (about 5 ms of them) before the writer
/// claims the handoff. Measured with two processes setting in tight loops
/// (`examples/fairness.rs`, format-spec/wal.md): every handoff leaves redb's lock idle until
/// the claimant's next poll, so claiming sooner cost more throughput (0.66–0.75 of an unfair
/// build's after 2–6 failed polls, 0.85 after 8).
pub(crate) const CLAIM_AFTER: u32 = 8;
/// The first pause between polls; each failed poll doubles it up to [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_micros(20);
/// The longest pause between polls.
const LONGEST_PAUSE: Duration = Duration::from_millis(2);
/// The longest pause of a claimant, whom the writer lock waits for once the transaction in
/// progress ends.
const CLAIMANT_PAUSE: Duration = Duration::from_micros(50);

/// This process's handle on the handoff byte (`cache.lock`, opened by the direct path).
#[derive(Debug)]
pub(crate) struct DirectHandoff {
    file: File,
}

/// The handoff byte, held; freed when dropped.
struct Claimed<'a>(&'a File);

impl DirectHandoff {
    /// Opens (creating if needed) `cache.lock` in `dir`.
    pub(crate) fn open(dir: &Path) -> Result<DirectHandoff> {
        Ok(DirectHandoff {
            file: crate::files::open_shared(&dir.join(LOCK_FILE))?,
        })
    }

    /// The descriptor of `cache.lock`, which carries the claim while this process holds it.
    pub(crate) fn fd(&self) -> RawFd {
        raw_fd(&self.file)
    }

    /// Begins a redb write transaction, polling while another process holds redb's writer
    /// lock or another process's claim holds the handoff byte, until `deadline`
    /// ([`Error::Timeout`]); claims the handoff after [`CLAIM_AFTER`] polls that failed.
    pub(crate) fn begin_write(&self, db: &Database, deadline: Instant) -> Result<WriteTransaction> {
        let fair = !sabotage::on(Sabotage::UnfairLock);
        let mut claim: Option<Claimed<'_>> = None;
        let mut failed = 0u32;
        let mut pause = FIRST_PAUSE;
        // When the first attempt found redb's writer lock taken.
        let mut waiting_since: Option<Instant> = None;
        loop {
            if fair && claim.is_none() && self.claimed_elsewhere()? {
                // Another writer's claim: its turn comes first. Polls held back so are not
                // counted, so that after its turn the writers in a tight loop take turns of
                // several transactions each (every handoff leaves redb's lock idle for up to
                // a claimant's pause).
            } else {
                match db.try_begin_write() {
                    // A claim is freed here, once the transaction has begun.
                    Ok(txn) => {
                        if let Some(since) = waiting_since {
                            crate::observe::lock_waited("direct", since.elapsed());
                        }
                        return Ok(txn);
                    }
                    Err(redb::TransactionError::WouldBlock) => {}
                    Err(e) => return Err(e.into()),
                }
                failed = failed.saturating_add(1);
                if fair && claim.is_none() && failed >= CLAIM_AFTER {
                    // `None` if another writer's claim got there first.
                    claim = self.claim()?;
                    if claim.is_some() {
                        continue;
                    }
                }
            }
            let now = Instant::now();
            let since = *waiting_since.get_or_insert(now);
            let left = deadline.saturating_duration_since(now);
            if left.is_zero() {
                crate::observe::lock_timed_out("direct", now.duration_since(since));
                return Err(Error::Timeout);
            }
            std::thread::sleep(pause.min(left));
            let longest = if claim.is_some() {
                CLAIMANT_PAUSE
            } else {
                LONGEST_PAUSE
            };
            pause = (pause * 2).min(longest);
        }
    }

    /// Whether another open file (another process's, or another handle's) holds the
    /// handoff byte. Called only while this handle does not hold it.
    fn claimed_elsewhere(&self) -> Result<bool> {
        locks::held_elsewhere(&self.file, HANDOFF_BYTE)
    }

    /// Takes the handoff byte, or `None` if another description holds it.
    fn claim(&self) -> Result<Option<Claimed<'_>>> {
        let taken = locks::try_lock(&self.file, HANDOFF_BYTE, Kind::Exclusive)?;
        Ok(taken.then_some(Claimed(&self.file)))
    }
}

impl Drop for Claimed<'_> {
    fn drop(&mut self) {
        // Unlocking a byte this open file holds does not fail but on a dead descriptor,
        // whose locks are gone anyway.
        let _ = locks::unlock(self.0, HANDOFF_BYTE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_handles_claim_holds_a_writer_back_and_its_end_lets_it_in() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("db")).unwrap();
        let a = DirectHandoff::open(dir.path()).unwrap();
        let b = DirectHandoff::open(dir.path()).unwrap();
        let held = a.claim().unwrap().unwrap();
        assert!(b.claim().unwrap().is_none(), "one claim at a time");
        let soon = Instant::now() + Duration::from_millis(30);
        assert!(matches!(b.begin_write(&db, soon), Err(Error::Timeout)));
        // The claimant itself is not held back by its own claim.
        drop(a.begin_write(&db, Instant::now()).unwrap());
        drop(held);
        assert!(!b.claimed_elsewhere().unwrap());
        drop(b.begin_write(&db, Instant::now()).unwrap());
    }
}
