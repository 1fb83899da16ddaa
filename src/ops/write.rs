//! The row logic of the write operations, written once against [`RowWriter`] so that a
//! `Cache` call (one operation, one write) and a `Transaction` (many operations, one write)
//! run the same code.
//!
//! Each function checks everything that can fail before it changes a row, so an operation
//! that returns an error has changed nothing (short of a failure of the writer itself): a
//! transaction may catch the error and go on.
//!
//! Each takes the key's whole encoding and finds the index key its row is under (the
//! encoding itself, or a long key's, `format/key/long.rs`) through the writer's own reads.

use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::engine::write::RowWriter;
use crate::error::{Error, Result};
use crate::format::blob;
use crate::format::disk::Codec;
use crate::format::key::long::{self, Located};
use crate::format::payload::{Prepared, check_crc, entry_of};
use crate::format::row::{Row, ValuePlace};
use crate::format::value::{self, ValueKind};
use crate::options::{Entry, Number};
use crate::time;

/// Where the encoded key `key` is stored, or would be, as `w` sees the rows.
pub(crate) fn locate(w: &dyn RowWriter, key: &[u8]) -> Result<Located> {
    long::locate(key, &mut |index| w.get(index))
}

/// What a new row for the encoded key `key` holds as its whole key: a long key itself.
fn full_key(key: &[u8]) -> Option<Vec<u8>> {
    long::is_long(key).then(|| key.to_vec())
}

/// Sets `key` to a prepared value (`set`, and `add` with `only_if_absent`, which leaves a live
/// entry alone and returns false).
pub(crate) fn set(
    w: &mut dyn RowWriter,
    key: &[u8],
    prepared: Prepared,
    only_if_absent: bool,
) -> Result<bool> {
    let Located { index, row: old } = locate(w, key)?;
    if only_if_absent && old.as_ref().is_some_and(|r| !r.is_expired(w.now())) {
        return Ok(false);
    }
    // An existing row's id keeps the entry's insertion place.
    let row_id = match &old {
        Some(old) => old.row_id,
        None => w.next_row_id()?,
    };
    let mut row = prepared.into_row(row_id, w.now())?;
    row.full_key = full_key(key);
    w.put(&index, &row, old.as_ref())?;
    w.note_insert();
    Ok(true)
}

/// Deletes the value file `path` that [`set`] was given, unless `stored` says a row now
/// names it, or may (an `Ok(false)` or an error means none does, except an error whose
/// outcome is unknown: then the file stays, an orphan for `check` at worst).
pub(crate) fn discard_unused(dir: &Path, path: Option<&blob::BlobPath>, stored: &Result<bool>) {
    let unused = match stored {
        Ok(stored) => !stored,
        Err(e) => !e.outcome_unknown(),
    };
    if let (Some(path), true) = (path, unused) {
        let _ = blob::remove(dir, path);
    }
}

/// Removes `key` if its entry is live; whether it was. An expired entry counts as absent and
/// stays until a cull or `expire` removes it, as in Python diskcache (whose delete matches
/// only unexpired rows).
pub(crate) fn delete(w: &mut dyn RowWriter, key: &[u8]) -> Result<bool> {
    let Located { index, row } = locate(w, key)?;
    let Some(row) = row else {
        return Ok(false);
    };
    if row.is_expired(w.now()) {
        return Ok(false);
    }
    w.remove(&index, &row)?;
    Ok(true)
}

/// Removes the entries under `keys` that are (still) expired: what a peek passed on its way to
/// the edge's live entry, as Python diskcache's `peekitem` deletes them.
pub(crate) fn remove_expired(w: &mut dyn RowWriter, keys: &[Vec<u8>]) -> Result<()> {
    for key in keys {
        if let Some(row) = w.get(key)?
            && row.is_expired(w.now())
        {
            w.remove(key, &row)?;
        }
    }
    Ok(())
}

/// Sets a live entry's expire time; whether the key was present.
pub(crate) fn touch(w: &mut dyn RowWriter, key: &[u8], expire: Option<Duration>) -> Result<bool> {
    let Located { index, row: old } = locate(w, key)?;
    let Some(old) = old else {
        return Ok(false);
    };
    if old.is_expired(w.now()) {
        return Ok(false);
    }
    let mut row = old.clone();
    row.expire_time = expire.map_or(0, |ttl| time::expire_at(w.now(), ttl));
    w.put(&index, &row, Some(&old))?;
    Ok(true)
}

/// Adds `delta` to the number under `key` (starting from `default` if it is absent or
/// expired) and returns the result; the expire time and tag are kept. As Python's `+`: an
/// integer stays an integer (an overflow of `i64` is an error, where Python's ints grow), a
/// float adds `delta` converted to the nearest `f64` and stays a float.
pub(crate) fn incr(
    w: &mut dyn RowWriter,
    key: &[u8],
    delta: i64,
    default: Option<i64>,
) -> Result<Number> {
    let Located { index, row: old } = locate(w, key)?;
    let whole_key = full_key(key);
    let key = index.as_slice();
    let live = old.as_ref().filter(|r| !r.is_expired(w.now()));
    let (start, row_id, expire_time, tag) = match live {
        Some(row) => {
            let current = match (&row.kind, &row.place) {
                (ValueKind::Int, ValuePlace::Inline(bytes)) => {
                    check_crc(row, bytes, key)?;
                    Number::Int(value::int_from_bytes(bytes)?)
                }
                (ValueKind::Float, ValuePlace::Inline(bytes)) => {
                    check_crc(row, bytes, key)?;
                    Number::Float(value::float_from_bytes(bytes)?)
                }
                _ => return Err(Error::NotAnInteger),
            };
            (current, row.row_id, row.expire_time, row.tag.clone())
        }
        None => {
            let start = default.ok_or(Error::KeyNotFound)?;
            let row_id = match &old {
                Some(expired) => expired.row_id,
                None => w.next_row_id()?,
            };
            (Number::Int(start), row_id, 0, None)
        }
    };
    let (result, kind, bytes) = match start {
        Number::Int(start) => {
            let sum = start.checked_add(delta).ok_or_else(|| {
                Error::InvalidArgument(format!("{start} + {delta} overflows an i64"))
            })?;
            (Number::Int(sum), ValueKind::Int, value::int_to_bytes(sum))
        }
        Number::Float(start) => {
            let sum = start + delta as f64;
            (
                Number::Float(sum),
                ValueKind::Float,
                value::float_to_bytes(sum),
            )
        }
    };
    let row = Row {
        row_id,
        store_time: w.now(),
        expire_time,
        access_time: w.now(),
        access_count: 0,
        kind,
        packed: false,
        size: bytes.len() as u64,
        crc32: crc32fast::hash(&bytes),
        tag,
        full_key: whole_key,
        place: ValuePlace::Inline(bytes),
    };
    w.put(key, &row, old.as_ref())?;
    if live.is_none() {
        // As Python diskcache: an `incr` that stores a new entry culls, one that adds to a
        // live entry does not.
        w.note_insert();
    }
    Ok(result)
}

/// `-delta`, for `decr`.
pub(crate) fn negate(delta: i64) -> Result<i64> {
    delta
        .checked_neg()
        .ok_or_else(|| Error::InvalidArgument(format!("cannot negate {delta}")))
}

/// Removes `key` and returns its live value. The value is read and decoded before the row is
/// removed, so a wrong type or a damaged value leaves the entry in place. A row whose value
/// file is gone is removed, and counts as absent.
///
/// `take_value` reads a row's value bytes (see `Cache::take_value`); `codec` decodes them.
pub(crate) fn pop_entry<V: DeserializeOwned>(
    w: &mut dyn RowWriter,
    key: &[u8],
    take_value: impl FnOnce(&mut Row, &[u8]) -> Result<Option<Vec<u8>>>,
    codec: &Codec,
) -> Result<Option<Entry<V>>> {
    let Located { index, row } = locate(w, key)?;
    let key = index.as_slice();
    let Some(mut row) = row else {
        return Ok(None);
    };
    if row.is_expired(w.now()) {
        // Absent, and left in place as `delete` leaves it.
        return Ok(None);
    }
    let Some(bytes) = take_value(&mut row, key)? else {
        w.remove(key, &row)?;
        return Ok(None);
    };
    let entry = entry_of(&row, bytes, codec)?;
    w.remove(key, &row)?;
    Ok(Some(entry))
}
