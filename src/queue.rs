//! Queues in a cache: `push`, `pull` and `peek` (diskcache's), on keys the cache assigns.
//!
//! Without a prefix the keys are integers, with one they are the text `"{prefix}-{n:015}"`.
//! The first item gets n = 500000000000000; `Side::Back` counts up from the largest key in use,
//! `Side::Front` down from the smallest. A queue's range is the keys strictly between n = 0
//! and n = 999999999999999; any key in it is one of its items, for `push` (which numbers after
//! it), `pull` and `peek` alike, as in Python diskcache. As Python's, `push` may store one item
//! on each bound (0 or 999999999999999), out of `pull`'s sight, and then refuses with
//! [`Error::QueueFull`]. Each operation is one write, so it sees and orders every earlier
//! write.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::format::blob;
use crate::format::key::Key;
use crate::format::payload::key_of;
use crate::options::{SetOptions, Side};
use crate::time;

/// The number of the first item of a queue.
pub(crate) const START: i64 = 500_000_000_000_000;
/// A queue's items are the keys whose numbers lie strictly between 0 and this.
pub(crate) const LIMIT: i64 = 999_999_999_999_999;

/// The key of queue item `n`.
fn queue_key(prefix: Option<&str>, n: i64) -> Key {
    match prefix {
        None => Key::Int(n),
        Some(p) => Key::Str(format!("{p}-{n:015}")),
    }
}

/// The encoded keys the queue's items lie strictly between.
/// A prefix so long that the keys' encodings are over [`crate::MAX_KEY_BYTES`] is
/// [`Error::InvalidArgument`]: such keys are stored under index keys
/// (`format/key/long.rs`), whose order the queue's range scans do not follow.
fn bounds(prefix: Option<&str>) -> Result<(Vec<u8>, Vec<u8>)> {
    let high = queue_key(prefix, LIMIT).encode()?;
    if crate::format::key::long::is_long(&high) {
        return Err(Error::InvalidArgument(format!(
            "a queue prefix of {} bytes makes keys over {} bytes encoded",
            prefix.map_or(0, str::len),
            crate::MAX_KEY_BYTES
        )));
    }
    Ok((queue_key(prefix, 0).encode()?, high))
}

/// The key a push stores its item under, next to the item at the queue's `side` edge stored
/// under the encoded `edge` (`None`: the queue is empty).
///
/// As Python diskcache's `push` does: the edge key's number plus or minus one. In the integer
/// queue that number is the key itself, so a float key the caller stored in the queue's range
/// (say 2.5) is numbered after (3.5), as `pull` and `peek` take it for an item; in a named
/// queue it is the digits after the key's last `-`, and a text in the queue's range that does
/// not end in digits is an error (Python's is `ValueError`). The key is not kept inside the
/// range: at the front of a queue whose first item is 1 it is 0 (the range's bound, which
/// `pull` and `peek` do not see), as in Python; `push` then refuses the next one, whose key
/// is stored already.
fn next_key(edge: Option<Key>, prefix: Option<&str>, side: Side) -> Result<Key> {
    let step = match side {
        Side::Back => 1,
        Side::Front => -1,
    };
    let Some(edge) = edge else {
        return Ok(queue_key(prefix, START));
    };
    let key = edge;
    match (&key, prefix) {
        // In the range, so strictly between 0 and LIMIT: one step stays an i64.
        (Key::Int(n), None) => Ok(Key::Int(n + step)),
        (Key::Float(x), None) => Ok(Key::from(x + step as f64)),
        (Key::Str(s), Some(p)) => s
            .rsplit_once('-')
            .and_then(|(_, digits)| digits.parse::<i128>().ok())
            .and_then(|n| n.checked_add(i128::from(step)))
            .map(|n| Key::Str(format!("{p}-{n:015}")))
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "{key} is in the queue's key range but does not end in a number, so push \
                     cannot number an item after it"
                ))
            }),
        _ => Err(Error::InvalidArgument(format!(
            "{key} is in the queue's key range but is not a queue key"
        ))),
    }
}

impl Cache {
    /// Adds `value` to the queue named by `prefix` (the integer keys if `None`) at `side`, and
    /// returns the key it was stored under.
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
    /// use diskcache::{Key, SetOptions, Side};
    /// let key = cache.push("first", None, Side::Back, SetOptions::default())?;
    /// assert_eq!(key, Key::from(500000000000000i64));
    /// cache.push("zeroth", None, Side::Front, SetOptions::default())?;
    /// assert_eq!(cache.pull::<String>(None, Side::Front)?.unwrap().1, "zeroth");
    /// let named = cache.push(&1234, Some("userids"), Side::Back, SetOptions::default())?;
    /// assert_eq!(named, Key::from("userids-500000000000000"));
    /// # Ok(()) }
    /// ```
    ///
    /// A key the caller stored in the queue's range is an item of the queue to `pull` and
    /// `peek`, and `push` numbers after it as Python diskcache does: a float key `2.5` at the
    /// back of the integer queue is followed by `3.5`.
    ///
    /// At the ends of the range push does as Python diskcache's: a front push when the first
    /// item is 1 stores its item under 0 (a back push after 999999999999998, under
    /// 999999999999999), the range's bound, where `pull` and `peek` do not see it; the next
    /// such push finds that key stored and fails.
    ///
    /// # Errors
    /// [`Error::QueueFull`] if the key push would store its item under is stored already
    /// (only a key past the range's end can be: Python's `IntegrityError`);
    /// [`Error::InvalidArgument`] if the key at that side of a named queue does not end in a
    /// number; as [`Cache::set`].
    pub fn push<V: Serialize>(
        &self,
        value: V,
        prefix: Option<&str>,
        side: Side,
        opts: SetOptions,
    ) -> Result<Key> {
        let (low, high) = bounds(prefix)?;
        let prepared = self.prepare(&value, &opts)?;
        let blob_path = prepared.blob.as_ref().map(|b| b.path.clone());
        let store = self.store();
        let result = store.and_then(|store| {
            store.write(|w| {
                let edge = w.edge_between(&low, &high, side == Side::Back)?;
                let edge = edge.map(|(k, row)| key_of(&k, &row)).transpose()?;
                let key = next_key(edge, prefix, side)?;
                let encoded = key.encode()?;
                // Only a key outside the range can be stored already (the edge is the range's
                // last); Python's insert fails there on its unique key, expired or not.
                if w.get(&encoded)?.is_some() {
                    return Err(Error::QueueFull(format!(
                        "the queue {prefix:?} is full at its {side:?} end: push would store \
                         its item under {key}, which is stored already"
                    )));
                }
                let row = prepared.into_row(w.next_row_id()?, w.now())?;
                w.put(&encoded, &row, None)?;
                w.note_insert();
                Ok(key)
            })
        });
        if let (Some(path), Err(e)) = (&blob_path, &result)
            && !e.outcome_unknown()
        {
            let _ = blob::remove(self.directory(), path);
        }
        result
    }

    /// Removes and returns the item at `side` of the queue named by `prefix`, skipping (and
    /// removing) expired items. `None` if the queue is empty.
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
    /// use diskcache::{SetOptions, Side};
    /// for job in ["a", "b", "c"] {
    ///     cache.push(job, Some("jobs"), Side::Back, SetOptions::default())?;
    /// }
    /// let (_, first) = cache.pull::<String>(Some("jobs"), Side::Front)?.expect("queued");
    /// assert_eq!(first, "a");
    /// let (_, last) = cache.peek::<String>(Some("jobs"), Side::Back)?.expect("queued");
    /// assert_eq!(last, "c");
    /// assert_eq!(cache.len()?, 2);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Codec`] if the value is not a `V` (the item stays); [`Error::Timeout`];
    /// [`Error::Corrupted`].
    pub fn pull<V: DeserializeOwned>(
        &self,
        prefix: Option<&str>,
        side: Side,
    ) -> Result<Option<(Key, V)>> {
        self.queue_edge(prefix, side, true)
    }

    /// Returns the item at `side` of the queue named by `prefix` without removing it
    /// (expired items found on the way are removed). `None` if the queue is empty.
    ///
    /// # Errors
    /// As [`Cache::pull`].
    pub fn peek<V: DeserializeOwned>(
        &self,
        prefix: Option<&str>,
        side: Side,
    ) -> Result<Option<(Key, V)>> {
        self.queue_edge(prefix, side, false)
    }

    fn queue_edge<V: DeserializeOwned>(
        &self,
        prefix: Option<&str>,
        side: Side,
        remove: bool,
    ) -> Result<Option<(Key, V)>> {
        let (low, high) = bounds(prefix)?;
        let now = time::now_us();
        self.store()?.write(|w| {
            loop {
                let Some((key, row)) = w.edge_between(&low, &high, side == Side::Back)? else {
                    return Ok(None);
                };
                if row.is_expired(now) {
                    w.remove(&key, &row)?;
                    continue;
                }
                let Some(fetched) = self.load(row.clone(), &key)? else {
                    // Its value file is gone: the item cannot be served.
                    w.remove(&key, &row)?;
                    continue;
                };
                if remove {
                    w.remove(&key, &row)?;
                }
                // Decoding inside the transaction: a wrong type aborts it and keeps the item.
                let value = fetched.value()?;
                return Ok(Some((key_of(&key, &row)?, value)));
            }
        })
    }
}
