//! The clean-shutdown marker, `cache.boot`: which boot of the machine last used the cache, and
//! whether its last user closed it cleanly. It narrows what a power loss can do at the default
//! durability level (format-spec/durability.md).
//!
//! Every open handle holds a shared lock on byte [`USERS`] of the file. The handle that closes
//! last (it can take that byte exclusively) flushes the whole file system (`syncfs`), then
//! records "closed cleanly, boot B". The first handle to open the cache after that records
//! "in use, boot B'" (synced before the open returns). So a record of "in use" by another boot
//! than the running one means the machine went down with the cache open, maybe losing writes
//! the kernel had not flushed: the opener then runs `check(true)` (redb's integrity check,
//! every crc, every value file) before serving; at the `Normal` durability level it drops the
//! unsynced log instead (`engine::durable::after_power_loss`). Openers decide under an exclusive lock on
//! byte [`DECIDER`], so one of them checks and the others wait for it.
//!
//! Linux only: the marker needs the boot id and `syncfs` (`platform::process::boot_id`,
//! `platform::io::sync_file_system`); elsewhere there is no marker (format-spec/durability.md).

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Mutex;
use std::sync::PoisonError;

use crate::error::Result;
use crate::platform::io::{read_exact_at, sync_dir, sync_file_system, write_all_at};
use crate::platform::locks::{self, Kind};
use crate::platform::process::RawFd;

/// File name of the marker inside a cache directory.
pub(crate) const MARKER_FILE: &str = "cache.boot";

const MAGIC: [u8; 8] = *b"dcboot01";
/// The record's length: magic, state, boot id, crc32.
const RECORD_LEN: usize = 64;
/// Where the boot id starts, and its length (a UUID in text).
const BOOT_ID_AT: usize = 16;
const BOOT_ID_LEN: usize = 36;
/// Where the crc32 (little-endian, of the bytes before it) starts.
const CRC_AT: usize = 60;
/// Byte every open handle holds a shared lock on.
const USERS: u64 = 64;
/// Byte an opener holds exclusively while it reads, checks and rewrites the record.
const DECIDER: u64 = 65;

/// What the record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    InUse = 0,
    Closed = 1,
}

/// A decoded record.
#[derive(Debug, PartialEq, Eq)]
struct Record {
    state: State,
    boot: [u8; BOOT_ID_LEN],
}

impl Record {
    fn encode(&self) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        let (head, rest) = out.split_at_mut(8);
        head.copy_from_slice(&MAGIC);
        if let Some(state) = rest.first_mut() {
            *state = self.state as u8;
        }
        if let Some(boot) = out.get_mut(BOOT_ID_AT..BOOT_ID_AT + BOOT_ID_LEN) {
            boot.copy_from_slice(&self.boot);
        }
        let crc = crc32fast::hash(out.get(..CRC_AT).unwrap_or_default());
        if let Some(slot) = out.get_mut(CRC_AT..) {
            slot.copy_from_slice(&crc.to_le_bytes());
        }
        out
    }

    /// `None` for anything but a whole record with the right magic, a known state and a
    /// matching crc32.
    fn decode(bytes: &[u8]) -> Option<Record> {
        let body = bytes.get(..CRC_AT)?;
        let crc = u32::from_le_bytes(bytes.get(CRC_AT..RECORD_LEN)?.try_into().ok()?);
        if crc32fast::hash(body) != crc || body.get(..8)? != MAGIC {
            return None;
        }
        let state = match body.get(8)? {
            0 => State::InUse,
            1 => State::Closed,
            _ => return None,
        };
        let boot = body
            .get(BOOT_ID_AT..BOOT_ID_AT + BOOT_ID_LEN)?
            .try_into()
            .ok()?;
        Some(Record { state, boot })
    }
}

/// For the fuzz target: decodes `bytes`; a record that decodes must encode to bytes that
/// decode to it again.
#[cfg(any(feature = "testing", fuzzing))]
pub(crate) fn check_decoder(bytes: &[u8]) -> std::result::Result<(), String> {
    if let Some(record) = Record::decode(bytes)
        && Record::decode(&record.encode()).as_ref() != Some(&record)
    {
        return Err(format!("{record:?} does not round-trip"));
    }
    Ok(())
}

/// Seed inputs for the fuzz target: records in each state, of this boot and another.
#[cfg(any(feature = "testing", fuzzing))]
pub(crate) fn seed_records() -> Vec<(String, Vec<u8>)> {
    let this = boot_id().unwrap_or([b'0'; BOOT_ID_LEN]);
    let other = *b"00000000-1111-2222-3333-444444444444";
    let mut out = Vec::new();
    for (state, state_name) in [(State::InUse, "in-use"), (State::Closed, "closed")] {
        for (boot, boot_name) in [(this, "this-boot"), (other, "other-boot")] {
            let record = Record { state, boot };
            out.push((
                format!("{state_name}-{boot_name}"),
                record.encode().to_vec(),
            ));
        }
    }
    out
}

/// The running kernel's boot id (`/proc/sys/kernel/random/boot_id`); `None` where there is
/// none (the marker then does nothing).
fn boot_id() -> Option<[u8; BOOT_ID_LEN]> {
    if crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::SkipPowerLossCheck) {
        // Negative control (`sabotage`): as on a system with no boot id.
        return None;
    }
    crate::platform::process::boot_id()
}

/// What the opener must do before serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing: another handle of this boot has recorded the cache in use.
    Nothing,
    /// Record "in use" (the cache was closed cleanly, or is new).
    Record,
    /// Run `check(true)`, then record "in use": the machine went down with the cache open,
    /// or the record is damaged.
    Check,
}

/// This handle's part in the marker: its shared lock, and, between open and [`settle`],
/// the decider lock.
///
/// [`settle`]: Marker::settle
#[derive(Debug)]
pub(crate) struct Marker {
    file: File,
    dir: std::path::PathBuf,
    boot: [u8; BOOT_ID_LEN],
    /// What the opener still has to do; `None` once settled.
    pending: Mutex<Option<Verdict>>,
}

impl Marker {
    /// Joins the cache's users and decides what the opener must do. `None` if the system has
    /// no boot id.
    pub(crate) fn open(dir: &Path) -> Result<Option<Marker>> {
        let Some(boot) = boot_id() else {
            return Ok(None);
        };
        let file = crate::files::open_shared(&dir.join(MARKER_FILE))?;
        locks::lock(&file, USERS, Kind::Shared)?;
        let marker = Marker {
            file,
            dir: dir.to_path_buf(),
            boot,
            pending: Mutex::new(None),
        };
        let in_use_here = |r: &Option<Record>| {
            r.as_ref()
                .is_some_and(|r| r.state == State::InUse && r.boot == boot)
        };
        if in_use_here(&marker.read()?) {
            return Ok(Some(marker));
        }
        locks::lock(&marker.file, DECIDER, Kind::Exclusive)?;
        let verdict = match marker.read()? {
            ref r if in_use_here(r) => Verdict::Nothing,
            Some(Record {
                state: State::InUse,
                ..
            }) => Verdict::Check,
            Some(_) => Verdict::Record,
            // Empty: a new cache, or one from before the marker. Damaged: check.
            None if marker.file.metadata()?.len() == 0 => Verdict::Record,
            None => Verdict::Check,
        };
        if verdict == Verdict::Nothing {
            locks::unlock(&marker.file, DECIDER)?;
        } else {
            *marker.pending() = Some(verdict);
        }
        Ok(Some(marker))
    }

    /// What the opener must still do.
    pub(crate) fn verdict(&self) -> Verdict {
        self.pending().unwrap_or(Verdict::Nothing)
    }

    /// Turns a pending [`Verdict::Check`] into [`Verdict::Record`]: the opener has made the
    /// cache safe another way (`engine::durable::after_power_loss`).
    pub(crate) fn skip_check(&self) {
        let mut pending = self.pending();
        if *pending == Some(Verdict::Check) {
            *pending = Some(Verdict::Record);
        }
    }

    /// Records the cache in use by this boot (synced), once the opener has done what
    /// [`Marker::verdict`] asked, and lets other openers decide.
    pub(crate) fn settle(&self) -> Result<()> {
        let mut pending = self.pending();
        if pending.is_none() {
            return Ok(());
        }
        let new = self.file.metadata()?.len() == 0;
        self.write(State::InUse)?;
        if new {
            sync_dir(&self.dir)?;
        }
        *pending = None;
        locks::unlock(&self.file, DECIDER)?;
        Ok(())
    }

    /// The descriptor that carries this handle's locks (for a forked child to detach).
    pub(crate) fn fd(&self) -> RawFd {
        crate::platform::process::raw_fd(&self.file)
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Option<Verdict>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read(&self) -> Result<Option<Record>> {
        let mut bytes = [0u8; RECORD_LEN];
        match read_exact_at(&self.file, &mut bytes, 0) {
            Ok(()) => Ok(Record::decode(&bytes)),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn write(&self, state: State) -> Result<()> {
        let record = Record {
            state,
            boot: self.boot,
        };
        write_all_at(&self.file, &record.encode(), 0)?;
        self.file.sync_data()?;
        Ok(())
    }
}

impl Drop for Marker {
    /// The last handle to close (one that can take the users' byte exclusively) flushes the
    /// file system and records a clean close. Errors leave the record "in use", which only
    /// costs the next boot's first opener a check.
    fn drop(&mut self) {
        if self.pending().is_some() {
            // Never settled (the open failed): the record still says what it said.
            return;
        }
        // Converts this handle's shared lock (an open-file-description lock: the marker
        // exists on Linux only).
        if !matches!(
            locks::try_lock(&self.file, USERS, Kind::Exclusive),
            Ok(true)
        ) {
            return;
        }
        if sync_file_system(&self.file) {
            let _ = self.write(State::Closed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// decode(encode(x)) == x for any state and boot id; any 64 bytes decode to a record
        /// that encodes back to them, or to nothing.
        #[test]
        fn records_round_trip_and_any_bytes_decode_exactly_or_not_at_all(
            closed: bool,
            boot in proptest::array::uniform32(proptest::prelude::any::<u8>()),
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), RECORD_LEN),
        ) {
            let mut id = [b'0'; BOOT_ID_LEN];
            id[..32].copy_from_slice(&boot);
            let record = Record { state: if closed { State::Closed } else { State::InUse }, boot: id };
            proptest::prop_assert_eq!(Record::decode(&record.encode()), Some(record));
            if let Some(decoded) = Record::decode(&bytes) {
                let again = decoded.encode();
                // Only the zero padding is not carried.
                proptest::prop_assert_eq!(Record::decode(&again), Some(decoded));
            }
        }
    }

    #[test]
    fn a_record_round_trips_and_any_damage_is_refused() {
        let record = Record {
            state: State::Closed,
            boot: *b"0123456789abcdef0123456789abcdef0123",
        };
        let bytes = record.encode();
        assert_eq!(Record::decode(&bytes), Some(record));
        for i in 0..RECORD_LEN {
            let mut damaged = bytes;
            damaged[i] ^= 0x10;
            assert_eq!(Record::decode(&damaged), None, "byte {i}");
        }
        assert_eq!(Record::decode(&bytes[..RECORD_LEN - 1]), None);
    }
}
