//! Removing entries in bulk, a chunk at a time, for the whole-cache operations (`clear`,
//! `expire`, `evict`): each call removes at most `limit` entries, so that a slice can stop
//! when its time is up.

use redb::ReadableTable;

use super::WriteCtx;
use crate::error::{Error, Result};
use crate::format::row::Row;

impl WriteCtx<'_> {
    /// A row id above every row's: the next one to hand out, or past the largest in the
    /// insertion order if that is larger (a damaged counter).
    pub(crate) fn first_unused_row_id(&self) -> Result<u64> {
        let last = self.orders.insert.last()?.map_or(0, |(id, _)| id.value());
        Ok(self.peek_next_row_id()?.max(last.saturating_add(1)))
    }

    /// Removes up to `limit` entries whose row id is below `below`, oldest inserted first.
    /// Returns how many were removed.
    pub(crate) fn remove_first(&mut self, below: u64, limit: usize) -> Result<u64> {
        let batch: Vec<Vec<u8>> = self
            .orders
            .insert
            .range(..below)?
            .take(limit)
            .map(|item| item.map(|(_, key)| key.value().to_vec()))
            .collect::<std::result::Result<_, _>>()?;
        self.remove_listed(&batch, "insertion order")
    }

    /// Removes up to `limit` entries whose expire time is at or before `now`, soonest first
    /// (a range scan of the expire order). Returns how many were removed.
    pub(crate) fn remove_expired(&mut self, now: u64, limit: usize) -> Result<u64> {
        let batch: Vec<Vec<u8>> = self
            .orders
            .expire
            .range((1, 0)..=(now, u64::MAX))?
            .take(limit)
            .map(|item| item.map(|(_, key)| key.value().to_vec()))
            .collect::<std::result::Result<_, _>>()?;
        self.remove_listed(&batch, "expire order")
    }

    /// Removes the entries of `keys`, which the order table `order` named; a key with no row
    /// means the table disagrees with the rows. Returns how many were removed.
    fn remove_listed(&mut self, keys: &[Vec<u8>], order: &str) -> Result<u64> {
        for key in keys {
            let row = self
                .get(key)?
                .ok_or_else(|| Error::corrupted(format!("the {order} names a key with no row")))?;
            self.remove(key, &row)?;
        }
        Ok(keys.len() as u64)
    }

    /// Removes up to `limit` entries tagged `tag` (an encoded key): from the tag order if the
    /// tag index is on, else by scanning up to `limit` entries in key order after `after`
    /// (from the start if `None`). Returns how many were removed and where to go on from
    /// (the last key scanned), or `None` there once every tagged entry is gone.
    pub(crate) fn remove_tagged(
        &mut self,
        tag: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<(u64, Option<Vec<u8>>)> {
        use std::ops::Bound::{Excluded, Unbounded};
        if let Some(keys) = self.tagged_keys(tag, limit)? {
            let removed = self.remove_listed(&keys, "tag order")?;
            return Ok((removed, (keys.len() == limit).then(Vec::new)));
        }
        let start = after.map_or(Unbounded, Excluded);
        let mut scanned = 0usize;
        let mut last = None;
        let mut tagged = Vec::new();
        for item in self.entries.range::<&[u8]>((start, Unbounded))?.take(limit) {
            let (key, row) = item?;
            let row = Row::decode(row.value())?;
            scanned += 1;
            let key = key.value().to_vec();
            if row.tag.as_deref() == Some(tag) {
                tagged.push((key.clone(), row));
            }
            last = Some(key);
        }
        for (key, row) in &tagged {
            self.remove(key, row)?;
        }
        let next = if scanned < limit { None } else { last };
        Ok((tagged.len() as u64, next))
    }

    /// Up to `limit` keys tagged `tag` (an encoded key), from the tag order; `None` if the
    /// tag index is off.
    pub(crate) fn tagged_keys(&self, tag: &[u8], limit: usize) -> Result<Option<Vec<Vec<u8>>>> {
        let Some(order_tag) = &self.orders.tag else {
            return Ok(None);
        };
        let keys = order_tag
            .range((tag, 0)..=(tag, u64::MAX))?
            .take(limit)
            .map(|item| item.map(|(_, key)| key.value().to_vec()))
            .collect::<std::result::Result<_, _>>()?;
        Ok(Some(keys))
    }
}
