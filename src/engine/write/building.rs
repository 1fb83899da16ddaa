//! Changing a setting that needs an order table built or dropped: in one transaction
//! ([`WriteCtx::change_setting`]), or in slices while writers work ([`WriteCtx::start_build`],
//! [`WriteCtx::build_step`], [`WriteCtx::finish_build`], driven by `crate::ops::build`).

use redb::ReadableTable;

use super::WriteCtx;
use super::orders::{BuildingTable, open_policy};
use crate::engine::slice::Budget;
use crate::error::{Error, Result};
use crate::format::order::Target;
use crate::format::row::Row;
use crate::format::schema::{ORDER_TAG, SETTINGS, policy_order};
use crate::settings::Setting;

/// Rows a build adds (or entries a drop removes) between looks at the clock.
const CHUNK: usize = 64;

/// Removes entries of `table` from its start until it is empty (returns `true`) or `budget`
/// is spent.
fn drain<K: redb::Key + 'static>(
    table: &mut redb::Table<'_, K, &'static [u8]>,
    budget: Budget,
) -> Result<bool> {
    let mut removed = 0usize;
    while table.pop_first()?.is_some() {
        removed += 1;
        if removed.is_multiple_of(CHUNK) && budget.spent() {
            return Ok(redb::ReadableTableMetadata::is_empty(table)?);
        }
    }
    Ok(true)
}

impl WriteCtx<'_> {
    /// Stores `setting` and returns the value it replaced. Changing the eviction policy drops
    /// the old policy's order table and builds the new one from the rows; turning the tag
    /// index on builds it, turning it off drops it. All in this transaction, which takes
    /// over a build of the same table in progress (its builder finds its marker gone).
    pub(crate) fn change_setting(&mut self, setting: Setting) -> Result<Setting> {
        let old = self.live.clone().apply(setting);
        if old == setting {
            return self.store_setting(setting);
        }
        match setting {
            Setting::EvictionPolicy(policy) => {
                let target = Target::of_policy(policy);
                if let Some(target) = target {
                    self.open_for_build(target)?;
                    self.fill(target, None, None)?;
                }
                self.store_setting(setting)?;
                self.drop_policy_table()?;
                if let Some(target) = target {
                    self.switch(target)?;
                }
            }
            Setting::TagIndex(true) => {
                self.open_for_build(Target::Tag)?;
                self.fill(Target::Tag, None, None)?;
                self.store_setting(setting)?;
                self.switch(Target::Tag)?;
            }
            Setting::TagIndex(false) => {
                self.store_setting(setting)?;
                self.orders.tag = None;
                self.txn.delete_table(ORDER_TAG)?;
            }
            _ => {
                self.store_setting(setting)?;
            }
        }
        Ok(old)
    }

    /// Starts building the table of `target` for `setting`, marked with `token`: from then
    /// on every writer keeps it in step. Returns the value in force instead if `setting` is
    /// in force already (nothing to build).
    pub(crate) fn start_build(
        &mut self,
        setting: Setting,
        target: Target,
        token: u64,
    ) -> Result<Option<Setting>> {
        let old = self.live.clone().apply(setting);
        if old == setting {
            return Ok(Some(old));
        }
        self.open_for_build(target)?;
        self.txn
            .open_table(SETTINGS)?
            .insert(target.marker().as_str(), token)?;
        self.builds.retain(|(t, _)| *t != target);
        self.builds.push((target, token));
        self.changed = true;
        Ok(None)
    }

    /// Adds to the table of `target` the rows after `after` (from the first if `None`) until
    /// `budget` is spent, if the build is still the one `token` marks.
    pub(crate) fn build_step(
        &mut self,
        target: Target,
        token: u64,
        after: Option<&[u8]>,
        budget: Budget,
    ) -> Result<Step> {
        if self.token_of(target) != Some(token) || self.orders.building_mut(target).is_none() {
            return Ok(Step::Superseded);
        }
        Ok(match self.fill(target, after, Some(budget))? {
            Some(last) => Step::More(last),
            None => Step::Done,
        })
    }

    /// Puts `setting` in force with the table of `target` that the build marked `token`
    /// has finished, and ends the build. Returns the value replaced and the table the old
    /// policy kept (left over now, for the caller to empty), or `None` if another build or
    /// change took this one over.
    pub(crate) fn finish_build(
        &mut self,
        setting: Setting,
        target: Target,
        token: u64,
    ) -> Result<Option<(Setting, Option<Target>)>> {
        if self.token_of(target) != Some(token) || self.orders.building_mut(target).is_none() {
            return Ok(None);
        }
        let old = self.store_setting(setting)?;
        let left = match target {
            Target::Policy(_) => self
                .orders
                .policy
                .take()
                .map(|kept| Target::Policy(kept.policy)),
            Target::Tag => None,
        };
        self.switch(target)?;
        Ok(Some((old, left)))
    }

    /// Puts in force `setting`, which keeps no table (the policy `none`, the tag index off).
    /// Returns the value replaced and the table the old value kept (left over now, for the
    /// caller to empty).
    pub(crate) fn switch_off(&mut self, setting: Setting) -> Result<(Setting, Option<Target>)> {
        let old = self.store_setting(setting)?;
        let left = match setting {
            Setting::EvictionPolicy(_) => self
                .orders
                .policy
                .take()
                .map(|kept| Target::Policy(kept.policy)),
            Setting::TagIndex(_) => self.orders.tag.take().map(|_| Target::Tag),
            _ => None,
        };
        Ok((old, left))
    }

    /// Removes entries of the table of `target`, which no setting keeps any more, until the
    /// budget is spent; deletes the table once it is empty. Returns whether it is gone. A
    /// table a setting or a build keeps again is left alone.
    pub(crate) fn empty_left_over(&mut self, target: Target, budget: Budget) -> Result<bool> {
        let kept = match target {
            Target::Policy(p) => self.live.eviction_policy == p,
            Target::Tag => self.live.tag_index,
        };
        if kept || self.token_of(target).is_some() {
            return Ok(true);
        }
        let empty = match target {
            Target::Policy(p) => {
                let (definition, _) =
                    policy_order(p).ok_or_else(|| Error::storage("no table of the policy none"))?;
                drain(&mut self.txn.open_table(definition)?, budget)?
            }
            Target::Tag => drain(&mut self.txn.open_table(ORDER_TAG)?, budget)?,
        };
        self.changed = true;
        if empty {
            self.delete_table_of(target)?;
        }
        Ok(empty)
    }

    /// Ends the build marked `token` without putting it in force (after an error): removes
    /// the marker and deletes the table, unless another build has taken over.
    pub(crate) fn abandon_build(&mut self, target: Target, token: u64) -> Result<()> {
        if self.token_of(target) != Some(token) || self.orders.building_mut(target).is_none() {
            return Ok(());
        }
        match target {
            Target::Policy(p) => self.orders.building.retain(|b| b.policy != p),
            Target::Tag => self.orders.building_tag = None,
        }
        self.delete_table_of(target)?;
        self.txn
            .open_table(SETTINGS)?
            .remove(target.marker().as_str())?;
        self.builds.retain(|(t, _)| *t != target);
        self.changed = true;
        Ok(())
    }

    /// Deletes the table of `target` (no handle on it may be open).
    fn delete_table_of(&self, target: Target) -> Result<()> {
        match target {
            Target::Policy(p) => {
                let (definition, _) = policy_order(p)
                    .ok_or_else(|| Error::storage("a build of no policy's table"))?;
                self.txn.delete_table(definition)?;
            }
            Target::Tag => {
                self.txn.delete_table(ORDER_TAG)?;
            }
        }
        Ok(())
    }

    /// The token of the build of `target` in progress, if any.
    fn token_of(&self, target: Target) -> Option<u64> {
        self.builds
            .iter()
            .find(|(t, _)| *t == target)
            .map(|(_, token)| *token)
    }

    /// Writes `setting` to the `settings` table; returns the value it replaced.
    fn store_setting(&mut self, setting: Setting) -> Result<Setting> {
        let old = self.live.apply(setting);
        self.changed = true;
        self.txn
            .open_table(SETTINGS)?
            .insert(setting.name(), setting.code())?;
        Ok(old)
    }

    /// Opens the table of `target` to build it: a table a marked build has been filling
    /// (and writers keeping in step) is kept, any other one of that name is left over and
    /// deleted first.
    fn open_for_build(&mut self, target: Target) -> Result<()> {
        if self.orders.building_mut(target).is_some() {
            return Ok(());
        }
        self.delete_table_of(target)?;
        match target {
            Target::Policy(p) => self.orders.building.extend(open_policy(self.txn, p)?),
            Target::Tag => self.orders.building_tag = Some(self.txn.open_table(ORDER_TAG)?),
        }
        self.changed = true;
        Ok(())
    }

    /// Adds to the table being built for `target` the entries of the rows after `after`
    /// (from the first if `None`): all of them, or until `budget` is spent. Returns the last
    /// key added if it stopped for the budget.
    fn fill(
        &mut self,
        target: Target,
        after: Option<&[u8]>,
        budget: Option<Budget>,
    ) -> Result<Option<Vec<u8>>> {
        use std::ops::Bound::{Excluded, Unbounded};
        let mut table = self
            .orders
            .building_mut(target)
            .ok_or_else(|| Error::storage(format!("{} is not being built", target.name())))?;
        let start = after.map_or(Unbounded, Excluded);
        let mut added = 0usize;
        for item in self.entries.range::<&[u8]>((start, Unbounded))? {
            let (key, row) = item?;
            let row = Row::decode(row.value())?;
            table.add(key.value(), &row)?;
            added += 1;
            if added.is_multiple_of(CHUNK) && budget.is_some_and(|b| b.spent()) {
                self.changed = true;
                return Ok(Some(key.value().to_vec()));
            }
        }
        self.changed |= added > 0;
        Ok(None)
    }

    /// Puts the table built for `target` in force and removes the build's marker.
    fn switch(&mut self, target: Target) -> Result<()> {
        match self.orders.building_mut(target) {
            Some(BuildingTable::Policy(_)) => {
                let at = self
                    .orders
                    .building
                    .iter()
                    .position(|b| Target::Policy(b.policy) == target);
                self.orders.policy = at.map(|at| self.orders.building.swap_remove(at));
            }
            Some(BuildingTable::Tag(_)) => self.orders.tag = self.orders.building_tag.take(),
            None => return Err(Error::storage(format!("{} was not built", target.name()))),
        }
        self.txn
            .open_table(SETTINGS)?
            .remove(target.marker().as_str())?;
        self.builds.retain(|(t, _)| *t != target);
        self.changed = true;
        Ok(())
    }

    /// Drops the order table of the policy in force, if it has one.
    fn drop_policy_table(&mut self) -> Result<()> {
        if let Some(kept) = self.orders.policy.take() {
            let policy = kept.policy;
            drop(kept);
            let (definition, _) = policy_order(policy)
                .ok_or_else(|| Error::storage("a kept order table with no policy"))?;
            self.txn.delete_table(definition)?;
        }
        Ok(())
    }
}

/// What one slice of a build did.
#[derive(Debug)]
pub(crate) enum Step {
    /// Added rows up to this key; more follow.
    More(Vec<u8>),
    /// Added the last rows.
    Done,
    /// Another build of the same table, or a change of the setting, took over: this one
    /// stops.
    Superseded,
}
