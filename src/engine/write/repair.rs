//! What `check` reads and repairs under the write lock, one finding at a time: rows as
//! stored, single order table entries, left-over tables, counter corrections, and the token
//! that lets only the latest `check(true)` correct the counters.

use redb::{ReadableTable, TableHandle};

use super::WriteCtx;
use super::orders::{OrderKind, Position};
use crate::error::{Error, Result};
use crate::format::blob::BlobPath;
use crate::format::order::Target;
use crate::format::row::Row;
use crate::format::schema::{LOG_DAMAGE, ORDER_TAG, SETTINGS, policy_order};

/// The `settings` row holding the token of the latest `check(true)` to start: only that check
/// may correct the counters (two that both did would correct them twice).
pub(crate) const CHECK_TOKEN: &str = "check:fix";

impl WriteCtx<'_> {
    /// The bytes stored under `key`, decodable or not.
    pub(crate) fn raw_row(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.entries.get(key)?.map(|g| g.value().to_vec()))
    }

    /// Removes the row under `key`, which does not decode: its order entries, if any, are
    /// strays for the caller to remove.
    pub(crate) fn remove_undecodable(&mut self, key: &[u8]) -> Result<()> {
        self.entries.remove(key)?;
        self.count_delta -= 1;
        self.changed = true;
        Ok(())
    }

    /// Takes `file` off the files to delete after the commit (another row names it too).
    pub(crate) fn keep_file(&mut self, file: &BlobPath) {
        self.files_to_delete.retain(|f| f != file);
    }

    /// Gives `row`, stored under `key`, a fresh row id: its order entries move, and those at
    /// its old positions that name another row (with the same id) stay.
    pub(crate) fn relink(&mut self, key: &[u8], row: &Row) -> Result<()> {
        self.orders.unlink_own(key, row)?;
        let mut moved = row.clone();
        moved.row_id = self.next_row_id()?;
        self.entries.insert(key, moved.encode()?.as_slice())?;
        self.orders.insert.insert(moved.row_id, key)?;
        self.orders.link(key, &moved)?;
        self.changed = true;
        Ok(())
    }

    /// Whether `table` is in force in this transaction (kept in step with the rows).
    pub(crate) fn keeps(&self, table: OrderKind) -> bool {
        match table {
            OrderKind::Insert | OrderKind::Expire => true,
            OrderKind::Policy(p) => self.orders.policy.as_ref().is_some_and(|k| k.policy == p),
            OrderKind::Tag => self.orders.tag.is_some(),
        }
    }

    /// The key the entry at `position` of `table` (one this transaction keeps) names.
    pub(crate) fn order_entry(
        &self,
        table: OrderKind,
        position: &Position,
    ) -> Result<Option<Vec<u8>>> {
        let o = &self.orders;
        let key = match (table, position) {
            (OrderKind::Insert, Position::Id(id)) => o.insert.get(*id)?,
            (OrderKind::Expire, Position::Pair(a, b)) => o.expire.get((*a, *b))?,
            (OrderKind::Policy(_), Position::Pair(a, b)) => match &o.policy {
                Some(kept) => kept.table.get((*a, *b))?,
                None => None,
            },
            (OrderKind::Tag, Position::Tagged(tag, id)) => match &o.tag {
                Some(t) => t.get((tag.as_slice(), *id))?,
                None => None,
            },
            _ => None,
        };
        Ok(key.map(|g| g.value().to_vec()))
    }

    /// Puts an entry naming `key` at `position` of `table` (with `key` `None`, removes the
    /// entry there).
    pub(crate) fn set_order_entry(
        &mut self,
        table: OrderKind,
        position: &Position,
        key: Option<&[u8]>,
    ) -> Result<()> {
        let o = &mut self.orders;
        let mismatch = || Error::storage(format!("no such position in {}", table.name()));
        match (table, position) {
            (OrderKind::Insert, Position::Id(id)) => match key {
                Some(key) => {
                    o.insert.insert(*id, key)?;
                }
                None => {
                    o.insert.remove(*id)?;
                }
            },
            (OrderKind::Expire, Position::Pair(a, b)) => match key {
                Some(key) => {
                    o.expire.insert((*a, *b), key)?;
                }
                None => {
                    o.expire.remove((*a, *b))?;
                }
            },
            (OrderKind::Policy(_), Position::Pair(a, b)) => {
                let kept = o.policy.as_mut().ok_or_else(mismatch)?;
                match key {
                    Some(key) => {
                        kept.table.insert((*a, *b), key)?;
                    }
                    None => {
                        kept.table.remove((*a, *b))?;
                    }
                }
            }
            (OrderKind::Tag, Position::Tagged(tag, id)) => {
                let t = o.tag.as_mut().ok_or_else(mismatch)?;
                match key {
                    Some(key) => {
                        t.insert((tag.as_slice(), *id), key)?;
                    }
                    None => {
                        t.remove((tag.as_slice(), *id))?;
                    }
                }
            }
            _ => return Err(mismatch()),
        }
        self.changed = true;
        Ok(())
    }

    /// Whether `table` exists though nothing keeps it: not in force, and no build filling it.
    pub(crate) fn is_stale(&self, table: OrderKind) -> Result<bool> {
        let target = match table {
            OrderKind::Policy(p) => Target::Policy(p),
            OrderKind::Tag => Target::Tag,
            OrderKind::Insert | OrderKind::Expire => return Ok(false),
        };
        if self.keeps(table) || self.builds.iter().any(|(t, _)| *t == target) {
            return Ok(false);
        }
        let name = target.name();
        Ok(self.txn.list_tables()?.any(|t| t.name() == name))
    }

    /// Deletes `table`, which [`WriteCtx::is_stale`] says nothing keeps.
    pub(crate) fn delete_stale(&mut self, table: OrderKind) -> Result<()> {
        match table {
            OrderKind::Policy(p) => {
                let (definition, _) =
                    policy_order(p).ok_or_else(|| Error::storage("no table of the policy none"))?;
                self.txn.delete_table(definition)?;
            }
            OrderKind::Tag => {
                self.txn.delete_table(ORDER_TAG)?;
            }
            OrderKind::Insert | OrderKind::Expire => {
                return Err(Error::storage(format!("{} is never stale", table.name())));
            }
        }
        self.changed = true;
        Ok(())
    }

    /// Whether the `log_damage` table keeps record `seq` of generation `generation`.
    pub(crate) fn keeps_left_out(&self, generation: u64, seq: u64) -> Result<bool> {
        // Opening a table that does not exist in a write transaction would create it.
        let name = LOG_DAMAGE.name();
        if !self.txn.list_tables()?.any(|t| t.name() == name) {
            return Ok(false);
        }
        let table = self.txn.open_table(LOG_DAMAGE)?;
        let kept = table.get((generation, seq))?.is_some();
        Ok(kept)
    }

    /// Removes record `seq` of generation `generation` from the `log_damage` table, and the
    /// table once it is empty.
    pub(crate) fn drop_left_out(&mut self, generation: u64, seq: u64) -> Result<()> {
        let mut table = self.txn.open_table(LOG_DAMAGE)?;
        table.remove((generation, seq))?;
        let empty = redb::ReadableTableMetadata::is_empty(&table)?;
        drop(table);
        if empty {
            self.txn.delete_table(LOG_DAMAGE)?;
        }
        self.changed = true;
        Ok(())
    }

    /// Adds `count` and `volume` to the stored counters at commit.
    pub(crate) fn adjust_counters(&mut self, count: i64, volume: i128) {
        if count != 0 || volume != 0 {
            self.count_delta += count;
            self.volume_delta += volume;
            self.changed = true;
        }
    }

    /// The token of the latest `check(true)` to start, if any.
    pub(crate) fn check_token(&self) -> Result<Option<u64>> {
        let table = self.txn.open_table(SETTINGS)?;
        let token = table.get(CHECK_TOKEN)?.map(|g| g.value());
        Ok(token)
    }

    /// Stores `token` as that of the latest `check(true)` to start; with `None`, removes it.
    pub(crate) fn set_check_token(&mut self, token: Option<u64>) -> Result<()> {
        let mut table = self.txn.open_table(SETTINGS)?;
        match token {
            Some(token) => {
                table.insert(CHECK_TOKEN, token)?;
            }
            None => {
                table.remove(CHECK_TOKEN)?;
            }
        }
        self.changed = true;
        Ok(())
    }
}
