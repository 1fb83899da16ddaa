//! Culling: which entries a write removes (expired ones, and the policy's victims when the
//! cache is over its size limit), and removing them.
//!
//! Every write that stores a value where Python diskcache culls removes expired entries, and,
//! over the size limit, the eviction policy's victims ([`cull_after_write`]). Victims come
//! from the head of an order table (a range scan, never a full scan): expired entries first
//! by expire time, then the eviction policy's order (store time, access time or
//! access count). On the logged path the order comes from the snapshot of the current
//! epoch: a candidate is removed only if its row still sits at the position the order
//! table gave (the log may have replaced or removed it since), and under a policy ordered by
//! access a write that must cull checkpoints first, since reads reach the order only through
//! checkpoints.

use crate::engine::write::RowWriter;
use crate::error::Result;
use crate::format::order::Order;
use crate::settings::{EvictionPolicy, Settings};

/// How many candidates one operation examines at most while culling, so that a write never
/// scans far past entries the log has already removed.
const SCAN_BUDGET: usize = 1024;

/// After a write that stored values where Python diskcache culls (see
/// [`RowWriter::note_insert`]), in the same operation: removes up to `cull_limit` expired
/// entries, soonest expire time first, then, while the volume is above `size_limit`, entries
/// in the policy's order, up to `cull_limit` removals in all (per value stored, for a
/// transaction that stored several). A `cull_limit` of 0 turns both off. When nothing has
/// expired, the first step is one range probe of the expire order. The engine runs it after
/// every write (`engine::AfterWrite`).
pub(crate) fn cull_after_write(w: &mut dyn RowWriter, settings: &Settings) -> Result<()> {
    let inserts = w.inserts();
    if settings.cull_limit == 0 || inserts == 0 {
        return Ok(());
    }
    let limit = usize::try_from(settings.cull_limit.saturating_mul(inserts)).unwrap_or(usize::MAX);
    let now = w.now();
    let mut removed =
        if crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::WritesKeepExpired) {
            // Negative control (`sabotage`): writes leave expired entries in place.
            0
        } else {
            // Entries that expired before now, as Python's `expire_time < now`: an entry set with
            // a zero expire time in this very write stays (it is a miss for every read).
            remove_head(w, Order::Expire, now.saturating_sub(1), limit, None)?
        };
    if removed < limit
        && settings.eviction_policy != EvictionPolicy::None
        && w.volume()? > settings.size_limit
    {
        w.settle(settings.eviction_policy)?;
        let order = Order::Policy(settings.eviction_policy);
        removed += remove_head(w, order, u64::MAX, limit - removed, None)?;
    }
    crate::observe::culled(removed as u64);
    Ok(())
}

/// Removes up to `limit` entries from the head of `order` whose order value is at most
/// `max`, stopping early once the volume is at most `until_volume` (if given). Candidates
/// whose row has moved are skipped. Returns how many it removed.
pub(crate) fn remove_head(
    w: &mut dyn RowWriter,
    order: Order,
    max: u64,
    limit: usize,
    until_volume: Option<u64>,
) -> Result<usize> {
    let Some(field) = order.field() else {
        return Ok(0);
    };
    let mut removed = 0;
    let mut budget = SCAN_BUDGET.max(limit);
    while removed < limit && budget > 0 {
        let batch = w.order_head(order, max, (limit - removed).min(budget))?;
        if batch.is_empty() {
            break;
        }
        budget = budget.saturating_sub(batch.len());
        for candidate in batch {
            if removed >= limit {
                return Ok(removed);
            }
            if until_volume.is_some_and(|v| w.volume().is_ok_and(|now| now <= v)) {
                return Ok(removed);
            }
            let Some(row) = w.get(&candidate.key)? else {
                continue;
            };
            if (field(&row), row.row_id) != candidate.position {
                continue;
            }
            w.remove(&candidate.key, &row)?;
            removed += 1;
        }
    }
    Ok(removed)
}
