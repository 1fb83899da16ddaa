//! Keys whose encoding is longer than [`MAX_KEY_BYTES`]: the index key they are stored under,
//! and how an operation finds it (`format-spec/keys.md`, Long keys).
//!
//! A key whose encoding `E` is at most [`MAX_KEY_BYTES`] bytes is stored under `E` itself. A
//! longer one is stored under its *index key*: the first [`MAX_KEY_BYTES`] bytes of `E`, the
//! 16-byte [`long_hash`] of all of `E`, and a 4-byte big-endian counter below
//! [`LONG_KEY_SLOTS`] ([`LONG_INDEX_LEN`] bytes in all, so no short key equals one). Its row
//! holds `E` whole. Long keys with the same first [`MAX_KEY_BYTES`] bytes and hash take the
//! counters in turn: a lookup reads every counter's row and compares the whole key; an
//! insert takes the first free counter.

use super::MAX_KEY_BYTES;
use crate::error::{Error, Result};
use crate::format::row::Row;

/// Length of the hash in an index key.
pub(crate) const LONG_HASH_LEN: usize = 16;
/// Length of a long key's index key: prefix, hash, counter.
pub(crate) const LONG_INDEX_LEN: usize = MAX_KEY_BYTES + LONG_HASH_LEN + 4;
/// How many long keys can share their first [`MAX_KEY_BYTES`] bytes and their hash: the
/// counters `0..LONG_KEY_SLOTS`.
pub(crate) const LONG_KEY_SLOTS: u32 = 8;

/// Whether an index key is a long key's (its row holds the whole key).
pub(crate) fn is_long(index: &[u8]) -> bool {
    index.len() > MAX_KEY_BYTES
}

#[cfg(any(test, feature = "testing"))]
static COLLIDE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Test hook: while `on`, every long key hashes to zero, so that long keys sharing their
/// first [`MAX_KEY_BYTES`] bytes share the counters' range (process-wide).
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub fn collide_long_key_hashes(on: bool) {
    COLLIDE.store(on, std::sync::atomic::Ordering::SeqCst);
}

const P1: u64 = 0x9e37_79b9_7f4a_7c15;
const P2: u64 = 0xc2b2_ae3d_27d4_eb4f;

/// The 16-byte hash of a long key's whole encoding (`format-spec/keys.md` gives it step by
/// step): two 64-bit lanes over the bytes as little-endian 8-byte words (the last one padded
/// with zeros), each finished with the length and the splitmix64 finalizer, written
/// big-endian. Not cryptographic; stable across processes, platforms and builds.
pub(crate) fn long_hash(bytes: &[u8]) -> [u8; LONG_HASH_LEN] {
    #[cfg(any(test, feature = "testing"))]
    if COLLIDE.load(std::sync::atomic::Ordering::SeqCst) {
        return [0; LONG_HASH_LEN];
    }
    let (mut a, mut b) = (P1, P2);
    for chunk in bytes.chunks(8) {
        let mut word = [0u8; 8];
        word.get_mut(..chunk.len())
            .unwrap_or_default()
            .copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        a = (a ^ w).wrapping_mul(P1).rotate_left(31);
        b = (b ^ w.rotate_left(32)).wrapping_mul(P2).rotate_left(29);
    }
    let len = bytes.len() as u64;
    let mut out = [0u8; LONG_HASH_LEN];
    out[..8].copy_from_slice(&mix(a ^ len).to_be_bytes());
    out[8..].copy_from_slice(&mix(b ^ len.rotate_left(32)).to_be_bytes());
    out
}

/// The splitmix64 finalizer.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The index key of the long encoding `full` with `counter`.
pub(crate) fn index_key(full: &[u8], hash: &[u8; LONG_HASH_LEN], counter: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(LONG_INDEX_LEN);
    out.extend_from_slice(full.get(..MAX_KEY_BYTES).unwrap_or(full));
    out.extend_from_slice(hash);
    out.extend_from_slice(&counter.to_be_bytes());
    out
}

/// Checks that the row stored under `index` holds the key it should: no whole key under a
/// short index key; under a long one, a whole key that decodes and whose index key (with the
/// stored counter) is `index`. Anything else is [`Error::Corrupted`].
pub(crate) fn check_index(index: &[u8], full: Option<&[u8]>) -> Result<()> {
    match (is_long(index), full) {
        (false, None) => Ok(()),
        (false, Some(_)) => Err(Error::corrupted(
            "a row under a short key holds a whole key too",
        )),
        (true, None) => Err(Error::corrupted(format!(
            "a row under an index key of {} bytes does not hold its whole key",
            index.len()
        ))),
        (true, Some(full)) => {
            let counter = counter_of(index)?;
            if !is_long(full) || index_key(full, &long_hash(full), counter) != index {
                return Err(Error::corrupted(
                    "a row's whole key does not match the index key it is stored under",
                ));
            }
            super::Key::from_encoded(full).map(|_| ())
        }
    }
}

/// The counter of the long key's index key `index`; [`Error::Corrupted`] if `index` is not
/// of a long key's length or its counter is out of range.
pub(crate) fn counter_of(index: &[u8]) -> Result<u32> {
    index
        .get(MAX_KEY_BYTES + LONG_HASH_LEN..)
        .and_then(|c| <[u8; 4]>::try_from(c).ok())
        .map(u32::from_be_bytes)
        .filter(|&c| index.len() == LONG_INDEX_LEN && c < LONG_KEY_SLOTS)
        .ok_or_else(|| {
            Error::corrupted(format!(
                "an index key of {} bytes is not a long key's",
                index.len()
            ))
        })
}

/// Where an encoded key is, or would be, stored.
#[derive(Debug)]
pub(crate) struct Located {
    /// The index key: the encoding itself for a short key; for a long one, the counter its
    /// row is under, or else the first free counter.
    pub(crate) index: Vec<u8>,
    /// The row stored under `index` for this key, expired or not.
    pub(crate) row: Option<Row>,
}

/// Finds the index key of the encoding `full`, reading rows with `get` (a short key is one
/// read; a long one reads each counter until its row holds `full`). Fails with
/// [`Error::InvalidArgument`] if `full` is absent and every counter is taken by another key.
pub(crate) fn locate(
    full: &[u8],
    get: &mut dyn FnMut(&[u8]) -> Result<Option<Row>>,
) -> Result<Located> {
    match search(full, get)? {
        Search::Found(index, row) => Ok(Located {
            index,
            row: Some(row),
        }),
        Search::Absent(Some(index)) => Ok(Located { index, row: None }),
        Search::Absent(None) => Err(Error::InvalidArgument(format!(
            "{LONG_KEY_SLOTS} other keys share this key's first {MAX_KEY_BYTES} bytes and hash"
        ))),
    }
}

/// The index key and row of the encoding `full`, if it has a row, read with `get`.
pub(crate) fn find(
    full: &[u8],
    get: &mut dyn FnMut(&[u8]) -> Result<Option<Row>>,
) -> Result<Option<(Vec<u8>, Row)>> {
    Ok(match search(full, get)? {
        Search::Found(index, row) => Some((index, row)),
        Search::Absent(_) => None,
    })
}

enum Search {
    Found(Vec<u8>, Row),
    /// Absent: the first free index key, if any.
    Absent(Option<Vec<u8>>),
}

fn search(full: &[u8], get: &mut dyn FnMut(&[u8]) -> Result<Option<Row>>) -> Result<Search> {
    if !is_long(full) {
        return Ok(match get(full)? {
            Some(row) => Search::Found(full.to_vec(), row),
            None => Search::Absent(Some(full.to_vec())),
        });
    }
    let hash = long_hash(full);
    let mut free = None;
    for counter in 0..LONG_KEY_SLOTS {
        let index = index_key(full, &hash, counter);
        match get(&index)? {
            Some(row) if row.full_key.as_deref() == Some(full) => {
                return Ok(Search::Found(index, row));
            }
            Some(_) => {}
            None => {
                free.get_or_insert(index);
            }
        }
    }
    Ok(Search::Absent(free))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keys_are_longer_than_short_keys_and_keep_the_prefix() {
        let full = vec![0x30; MAX_KEY_BYTES + 100];
        let index = index_key(&full, &long_hash(&full), 3);
        assert_eq!(index.len(), LONG_INDEX_LEN);
        assert!(is_long(&index));
        assert_eq!(&index[..MAX_KEY_BYTES], &full[..MAX_KEY_BYTES]);
        assert_eq!(&index[LONG_INDEX_LEN - 4..], &3u32.to_be_bytes());
    }

    #[test]
    fn the_hash_sees_every_byte_and_the_length() {
        let a = vec![0x30; MAX_KEY_BYTES + 9];
        let mut b = a.clone();
        *b.last_mut().unwrap() = 1;
        let mut c = a.clone();
        c.push(0);
        assert_ne!(long_hash(&a), long_hash(&b));
        assert_ne!(long_hash(&a), long_hash(&c));
        assert_eq!(long_hash(&a), long_hash(&a.clone()));
    }

    #[test]
    fn a_mismatched_or_malformed_index_key_is_corrupted() {
        let full = [&[0x30][..], &[7u8; MAX_KEY_BYTES + 5][..]].concat();
        let index = index_key(&full, &long_hash(&full), 1);
        assert!(check_index(&index, Some(&full)).is_ok());
        assert!(check_index(&index, None).is_err());
        assert!(check_index(b"\x20a", Some(&full)).is_err());
        let mut other = full.clone();
        other.push(1);
        assert!(check_index(&index, Some(&other)).is_err());
        let beyond = index_key(&full, &long_hash(&full), LONG_KEY_SLOTS);
        assert!(check_index(&beyond, Some(&full)).is_err());
    }
}
