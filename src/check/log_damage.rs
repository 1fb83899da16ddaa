//! The `log_damage` table: log records a checkpoint or recovery left out because their atomic
//! block held a damaged record (`format-spec/wal.md`). `check` reports each; `check(true)`
//! deletes the records it reported, since nothing can apply them, and the table once empty.

use redb::{ReadTransaction, ReadableTable, TableError};

use crate::engine::log::wal::{self, Parsed};
use crate::error::Result;
use crate::format::payload::describe;
use crate::format::schema::LOG_DAMAGE;

/// A record the `log_damage` table keeps.
#[derive(Debug)]
pub(crate) struct LeftOut {
    pub(crate) generation: u64,
    pub(crate) seq: u64,
    /// What is wrong with it.
    why: String,
}

impl LeftOut {
    /// The warning about it.
    pub(crate) fn finding(&self) -> super::Finding {
        super::Finding::LogRecord {
            generation: self.generation,
            seq: self.seq,
            why: self.why.clone(),
        }
    }
}

/// The records the `log_damage` table of the snapshot `txn` keeps, in table order.
pub(super) fn kept(txn: &ReadTransaction) -> Result<Vec<LeftOut>> {
    let table = match txn.open_table(LOG_DAMAGE) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for item in table.iter()? {
        let (place, bytes) = item?;
        let (generation, seq) = place.value();
        out.push(LeftOut {
            generation,
            seq,
            why: why(bytes.value()),
        });
    }
    Ok(out)
}

/// What is wrong with a kept record, or that it is whole and was left out with its block.
fn why(bytes: &[u8]) -> String {
    let Some(framed) = wal::frame(bytes) else {
        return "the bytes kept are not a whole record".into();
    };
    match framed.parse() {
        Parsed::Record(rec) => format!(
            "it is whole ({}), but another record of its atomic block is damaged",
            describe(rec.key)
        ),
        Parsed::Damaged(why) => format!("it is damaged: {why}"),
        Parsed::Newer(version) => format!("it needs format version {version}"),
    }
}
