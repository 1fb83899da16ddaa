//! The order tables one write transaction keeps in step with the rows: the insertion and
//! expire orders, the eviction policy's order and the tag order in force, and the order
//! tables being built (`format-spec/tables.md`, "Building an order table"), which writers
//! keep in step too while they are not in force.

use redb::{ReadableTable, Table, WriteTransaction};

use crate::error::Result;
use crate::format::order::Target;
use crate::format::row::Row;
use crate::format::schema::{ORDER_EXPIRE, ORDER_INSERT, ORDER_TAG, OrderField, policy_order};
use crate::settings::{EvictionPolicy, Settings};

/// An order table keyed by (a row field, row id).
pub(crate) type PairTable<'t> = Table<'t, (u64, u64), &'static [u8]>;
/// The tag order: (encoded tag, row id) → encoded key.
pub(crate) type TagTable<'t> = Table<'t, (&'static [u8], u64), &'static [u8]>;

/// A policy's order table, and the row field it orders by.
pub(crate) struct PolicyTable<'t> {
    pub(crate) policy: EvictionPolicy,
    pub(crate) table: PairTable<'t>,
    pub(crate) field: OrderField,
}

/// The order tables of one write transaction.
pub(crate) struct Orders<'t> {
    pub(crate) insert: Table<'t, u64, &'static [u8]>,
    pub(crate) expire: PairTable<'t>,
    /// The eviction policy's order table; `None` under [`EvictionPolicy::None`].
    pub(crate) policy: Option<PolicyTable<'t>>,
    /// Open while the `tag_index` setting is on.
    pub(crate) tag: Option<TagTable<'t>>,
    /// Policy tables being built, not in force.
    pub(crate) building: Vec<PolicyTable<'t>>,
    /// The tag order while it is being built (the tag index is off until it is done).
    pub(crate) building_tag: Option<TagTable<'t>>,
}

impl<'t> Orders<'t> {
    /// Opens the order tables the settings `live` keep, and those `builds` name (with their
    /// builders' tokens).
    pub(crate) fn open(
        txn: &'t WriteTransaction,
        live: &Settings,
        builds: &[(Target, u64)],
    ) -> Result<Self> {
        let mut building = Vec::new();
        let mut building_tag = None;
        for (target, _) in builds {
            match *target {
                Target::Policy(p) if p != live.eviction_policy => {
                    building.extend(open_policy(txn, p)?);
                }
                Target::Tag if !live.tag_index => building_tag = Some(txn.open_table(ORDER_TAG)?),
                _ => {}
            }
        }
        Ok(Orders {
            insert: txn.open_table(ORDER_INSERT)?,
            expire: txn.open_table(ORDER_EXPIRE)?,
            policy: open_policy(txn, live.eviction_policy)?,
            tag: if live.tag_index {
                Some(txn.open_table(ORDER_TAG)?)
            } else {
                None
            },
            building,
            building_tag,
        })
    }

    /// Adds `row` (stored under `key`) to the expire, policy and tag orders it belongs in,
    /// those being built included.
    pub(crate) fn link(&mut self, key: &[u8], row: &Row) -> Result<()> {
        if row.expire_time != 0 {
            self.expire.insert((row.expire_time, row.row_id), key)?;
        }
        let builds =
            !crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::WritersIgnoreBuilds);
        let building = self.building.iter_mut().filter(|_| builds);
        for kept in self.policy.iter_mut().chain(building) {
            kept.table.insert(((kept.field)(row), row.row_id), key)?;
        }
        if let Some(tag) = &row.tag {
            let building = self.building_tag.iter_mut().filter(|_| builds);
            for table in self.tag.iter_mut().chain(building) {
                table.insert((tag.as_slice(), row.row_id), key)?;
            }
        }
        Ok(())
    }

    /// Removes `row` from the orders [`Orders::link`] put it in. An entry that is not there
    /// (a table being built has not reached the row yet) is no error.
    pub(crate) fn unlink(&mut self, row: &Row) -> Result<()> {
        if row.expire_time != 0 {
            self.expire.remove((row.expire_time, row.row_id))?;
        }
        // Negative control (`sabotage`): writers do not keep a table being built in step.
        let builds =
            !crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::WritersIgnoreBuilds);
        let building = self.building.iter_mut().filter(|_| builds);
        for kept in self.policy.iter_mut().chain(building) {
            kept.table.remove(((kept.field)(row), row.row_id))?;
        }
        if let Some(tag) = &row.tag {
            let building = self.building_tag.iter_mut().filter(|_| builds);
            for table in self.tag.iter_mut().chain(building) {
                table.remove((tag.as_slice(), row.row_id))?;
            }
        }
        Ok(())
    }

    /// Removes `row`'s entries, insertion order included, where they name `key`: a row
    /// whose row id another row has too must not take that row's entries with it.
    pub(crate) fn unlink_own(&mut self, key: &[u8], row: &Row) -> Result<()> {
        let names = |got: Option<redb::AccessGuard<'_, &'static [u8]>>| {
            got.is_some_and(|g| g.value() == key)
        };
        if names(self.insert.get(row.row_id)?) {
            self.insert.remove(row.row_id)?;
        }
        let expire = (row.expire_time, row.row_id);
        if row.expire_time != 0 && names(self.expire.get(expire)?) {
            self.expire.remove(expire)?;
        }
        for kept in self.policy.iter_mut().chain(self.building.iter_mut()) {
            let position = ((kept.field)(row), row.row_id);
            if names(kept.table.get(position)?) {
                kept.table.remove(position)?;
            }
        }
        if let Some(tag) = &row.tag {
            let position = (tag.as_slice(), row.row_id);
            for table in self.tag.iter_mut().chain(self.building_tag.iter_mut()) {
                if names(table.get(position)?) {
                    table.remove(position)?;
                }
            }
        }
        Ok(())
    }

    /// The table being built for `target`, if this transaction keeps one.
    pub(crate) fn building_mut(&mut self, target: Target) -> Option<BuildingTable<'_, 't>> {
        match target {
            Target::Policy(p) => self
                .building
                .iter_mut()
                .find(|b| b.policy == p)
                .map(BuildingTable::Policy),
            Target::Tag => self.building_tag.as_mut().map(BuildingTable::Tag),
        }
    }
}

/// An order table being built, borrowed from [`Orders`].
pub(crate) enum BuildingTable<'a, 't> {
    Policy(&'a mut PolicyTable<'t>),
    Tag(&'a mut TagTable<'t>),
}

impl BuildingTable<'_, '_> {
    /// Puts `row` (stored under `key`) in the table, if it belongs there.
    pub(crate) fn add(&mut self, key: &[u8], row: &Row) -> Result<()> {
        match self {
            BuildingTable::Policy(kept) => {
                kept.table.insert(((kept.field)(row), row.row_id), key)?;
            }
            BuildingTable::Tag(table) => {
                if let Some(tag) = &row.tag {
                    table.insert((tag.as_slice(), row.row_id), key)?;
                }
            }
        }
        Ok(())
    }
}

/// An order table, as `check` compares it with the rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OrderKind {
    /// `order_insert`.
    Insert,
    /// `order_expire`.
    Expire,
    /// The table of a policy that has one.
    Policy(EvictionPolicy),
    /// `order_tag`.
    Tag,
}

/// Where an entry of an order table is: the table's redb key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Position {
    /// `order_insert`: row id.
    Id(u64),
    /// `order_expire` and the policy tables: (a row field, row id).
    Pair(u64, u64),
    /// `order_tag`: (encoded tag, row id).
    Tagged(Vec<u8>, u64),
}

impl OrderKind {
    /// The table's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            OrderKind::Insert => "order_insert",
            OrderKind::Expire => "order_expire",
            OrderKind::Policy(p) => crate::format::order::Target::Policy(p).name(),
            OrderKind::Tag => "order_tag",
        }
    }

    /// Where `row` belongs in this table, if it belongs in it at all.
    pub(crate) fn position(self, row: &Row) -> Option<Position> {
        match self {
            OrderKind::Insert => Some(Position::Id(row.row_id)),
            OrderKind::Expire => {
                (row.expire_time != 0).then_some(Position::Pair(row.expire_time, row.row_id))
            }
            OrderKind::Policy(p) => {
                policy_order(p).map(|(_, field)| Position::Pair(field(row), row.row_id))
            }
            OrderKind::Tag => row
                .tag
                .as_ref()
                .map(|tag| Position::Tagged(tag.clone(), row.row_id)),
        }
    }
}

/// Opens the order table `policy` keeps, if any.
pub(crate) fn open_policy(
    txn: &WriteTransaction,
    policy: EvictionPolicy,
) -> Result<Option<PolicyTable<'_>>> {
    Ok(match policy_order(policy) {
        Some((definition, field)) => Some(PolicyTable {
            policy,
            table: txn.open_table(definition)?,
            field,
        }),
        None => None,
    })
}
