//! The `log_damage` table: log records a checkpoint or recovery left out because their atomic
//! block held a damaged record (`format-spec/wal.md`). `check` reports each; `check(true)`
//! deletes the table, since nothing can apply them.

use redb::{ReadableTable, TableError, WriteTransaction};

use crate::error::Result;
use crate::schema::LOG_DAMAGE;
use crate::stored::describe;
use crate::wal::{self, Parsed};

/// Adds one warning per kept record to `warnings`; with `fix`, deletes the table. Returns
/// whether the transaction changed.
pub(super) fn check(txn: &WriteTransaction, fix: bool, warnings: &mut Vec<String>) -> Result<bool> {
    let table = match txn.open_table(LOG_DAMAGE) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let mut found = false;
    for item in table.iter()? {
        let (place, bytes) = item?;
        let (generation, seq) = place.value();
        warnings.push(format!(
            "cache.wal: record {seq} of generation {generation} was left out of the database: {}",
            why(bytes.value())
        ));
        found = true;
    }
    drop(table);
    if fix && found {
        txn.delete_table(LOG_DAMAGE)?;
    }
    Ok(fix && found)
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
