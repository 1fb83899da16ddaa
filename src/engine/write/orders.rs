//! The order tables one write transaction keeps in step with the rows: the insertion and
//! expire orders, the eviction policy's order and the tag order in force, and the order
//! tables being built (`format-spec/tables.md`, "Building an order table"), which writers
//! keep in step too while they are not in force.

use redb::{ReadableTable, ReadableTableMetadata, Table, WriteTransaction};

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
        self.link_deferring(key, row, None)
    }

    /// [`Orders::link`], with the policy order's entry left in `deferred` if given.
    pub(crate) fn link_deferring<'k>(
        &mut self,
        key: &'k [u8],
        row: &Row,
        deferred: Option<&mut Deferred<'k>>,
    ) -> Result<()> {
        if row.expire_time != 0 {
            self.expire.insert((row.expire_time, row.row_id), key)?;
        }
        let builds =
            !crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::WritersIgnoreBuilds);
        let mut policy = self.policy.as_mut();
        if let Some(deferred) = deferred
            && let Some(kept) = policy.take()
        {
            deferred.policy.push((((kept.field)(row), row.row_id), key));
        }
        let building = self.building.iter_mut().filter(|_| builds);
        for kept in policy.into_iter().chain(building) {
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

    /// Makes the changes `deferred` holds, each table's removals first. Removals: by one walk
    /// over the range from the first to the last of them when the table holds at most
    /// [`WALK_ENTRIES_PER_REMOVAL`] entries per removal, else one by one. Additions, in
    /// position order: those past a table's last entry appended through one cursor (a run
    /// of them is written a leaf at a time), the others one by one; an entry whose position
    /// is taken replaces what is there, and of two with one position the later one stays.
    ///
    /// The batch's changes are of distinct keys, and every position holds its row's id: no
    /// position one change removes is one another adds (unless two rows share a row id,
    /// damage that `check` reports), so the tables end as making each change at once would
    /// have left them.
    pub(crate) fn add_deferred(&mut self, deferred: Deferred<'_>) -> Result<()> {
        remove_sorted(&mut self.insert, deferred.insert_removed)?;
        add_sorted(&mut self.insert, deferred.insert)?;
        if let Some(kept) = &mut self.policy {
            remove_sorted(&mut kept.table, deferred.policy_removed)?;
            add_sorted(&mut kept.table, deferred.policy)?;
        }
        Ok(())
    }

    /// Removes `row` from the orders [`Orders::link`] put it in. An entry that is not there
    /// (a table being built has not reached the row yet) is no error.
    pub(crate) fn unlink(&mut self, row: &Row) -> Result<()> {
        self.unlink_deferring(row, None)
    }

    /// [`Orders::unlink`], with the removal of the policy order's entry left in `deferred` if
    /// given.
    pub(crate) fn unlink_deferring(
        &mut self,
        row: &Row,
        deferred: Option<&mut Deferred<'_>>,
    ) -> Result<()> {
        if row.expire_time != 0 {
            self.expire.remove((row.expire_time, row.row_id))?;
        }
        // Negative control (`sabotage`): writers do not keep a table being built in step.
        let builds =
            !crate::testing::sabotage::on(crate::testing::sabotage::Sabotage::WritersIgnoreBuilds);
        let mut policy = self.policy.as_mut();
        if let Some(deferred) = deferred
            && let Some(kept) = policy.take()
        {
            deferred
                .policy_removed
                .push(((kept.field)(row), row.row_id));
        }
        let building = self.building.iter_mut().filter(|_| builds);
        for kept in policy.into_iter().chain(building) {
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

/// The insertion and policy orders' changes that a batch of row changes makes at its end
/// ([`Orders::add_deferred`]): new rows' entries go past the end of those tables, and
/// replaced rows' entries are spread over them.
#[derive(Default)]
pub(crate) struct Deferred<'k> {
    pub(crate) insert: Vec<(u64, &'k [u8])>,
    pub(crate) policy: Vec<((u64, u64), &'k [u8])>,
    /// Entries to remove first.
    pub(crate) insert_removed: Vec<u64>,
    pub(crate) policy_removed: Vec<(u64, u64)>,
}

/// Removing entries by walking the range from the first to the last of them costs a few
/// comparisons per entry in it; removing each alone, a descent from the root per entry.
/// [`Orders::add_deferred`] walks when the table holds at most this many entries per
/// removal.
const WALK_ENTRIES_PER_REMOVAL: u64 = 32;

/// Removes the entries at `positions` (those there) from `table`, as
/// [`Orders::add_deferred`] says.
fn remove_sorted<P>(table: &mut Table<'_, P, &'static [u8]>, mut positions: Vec<P>) -> Result<()>
where
    P: redb::Key + for<'a> redb::Value<SelfType<'a> = P> + Ord + Copy + 'static,
{
    let (Some(&first), Some(&last)) = (positions.iter().min(), positions.iter().max()) else {
        return Ok(());
    };
    let count = u64::try_from(positions.len()).unwrap_or(u64::MAX);
    if table.len()? > count.saturating_mul(WALK_ENTRIES_PER_REMOVAL) {
        for position in positions {
            table.remove(position)?;
        }
        return Ok(());
    }
    positions.sort_unstable();
    // The walk is in ascending order: `next` is the first position not passed yet.
    let mut next = 0;
    table.retain_in(first..=last, |position, _| {
        while positions.get(next).is_some_and(|p| *p < position) {
            next += 1;
        }
        positions.get(next) != Some(&position)
    })?;
    Ok(())
}

/// Adds `entries` to `table` as [`Orders::add_deferred`] says.
fn add_sorted<P>(
    table: &mut Table<'_, P, &'static [u8]>,
    mut entries: Vec<(P, &[u8])>,
) -> Result<()>
where
    P: redb::Key + for<'a> redb::Value<SelfType<'a> = P> + Ord + Copy + 'static,
{
    if entries.is_empty() {
        return Ok(());
    }
    // Stable: of entries with one position, the later stays last.
    entries.sort_by_key(|(position, _)| *position);
    let last = table.last()?.map(|(position, _)| position.value());
    let past = last.map_or(0, |last| entries.partition_point(|(p, _)| *p <= last));
    // (`past` is at most the length.)
    let (below, tail) = entries.split_at_checked(past).unwrap_or((&entries, &[]));
    for (position, key) in below {
        table.insert(*position, *key)?;
    }
    let mut cursor = table.upper_bound_mut(std::ops::Bound::<P>::Unbounded)?;
    for (i, (position, key)) in tail.iter().enumerate() {
        if tail.get(i + 1).is_some_and(|(next, _)| next == position) {
            continue;
        }
        cursor.insert_before(*position, *key).map_err(|e| match e {
            redb::CursorError::Storage(e) => crate::error::Error::from(e),
            // Past the last entry and in strictly ascending order: cannot happen.
            _ => crate::error::Error::corrupted("an order table refused an appended entry"),
        })?;
    }
    cursor.close()?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::schema::ORDER_STORE;

    /// The table's entries, in order.
    fn entries(table: &PairTable<'_>) -> Vec<((u64, u64), Vec<u8>)> {
        table
            .iter()
            .unwrap()
            .map(|item| {
                let (position, key) = item.unwrap();
                (position.value(), key.value().to_vec())
            })
            .collect()
    }

    #[test]
    fn deferred_entries_end_as_inserting_each_at_once_leaves_them() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("db")).unwrap();
        let txn = db.begin_write().unwrap();
        let mut by_insert = txn.open_table(ORDER_STORE).unwrap();
        let existing: Vec<(u64, u64)> = (0..500).map(|i| (i * 10, i)).collect();
        for position in &existing {
            by_insert.insert(*position, b"old".as_slice()).unwrap();
        }
        // Out of order; below, at and past the last entry (4990, 499); two positions of
        // existing entries and two positions given twice (the later one stays); four are new.
        let added: Vec<((u64, u64), &[u8])> = vec![
            ((6000, 2), b"a"),
            ((5, 1), b"b"),
            ((4990, 499), b"c"),
            ((5000, 1), b"d"),
            ((6000, 2), b"e"),
            ((10, 1), b"f"),
            ((5, 1), b"g"),
            ((4995, 7), b"h"),
        ];
        let other = txn
            .open_table(redb::TableDefinition::<(u64, u64), &[u8]>::new("copy"))
            .unwrap();
        let mut deferred = other;
        for position in &existing {
            deferred.insert(*position, b"old".as_slice()).unwrap();
        }
        for (position, key) in &added {
            by_insert.insert(*position, *key).unwrap();
        }
        add_sorted(&mut deferred, added).unwrap();
        assert_eq!(entries(&deferred), entries(&by_insert));
        assert_eq!(entries(&deferred).len(), 500 + 4);
        // Into an empty table: all of them appended.
        let mut empty = txn
            .open_table(redb::TableDefinition::<(u64, u64), &[u8]>::new("empty"))
            .unwrap();
        add_sorted(
            &mut empty,
            vec![((3, 0), b"x"), ((1, 0), b"y"), ((3, 0), b"z")],
        )
        .unwrap();
        assert_eq!(
            entries(&empty),
            vec![((1, 0), b"y".to_vec()), ((3, 0), b"z".to_vec())]
        );
    }

    #[test]
    fn deferred_removals_end_as_removing_each_at_once_leaves_them() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("db")).unwrap();
        let txn = db.begin_write().unwrap();
        // A few removals among many entries are removed one by one, many are walked to:
        // both end alike.
        for removals in [3, 100] {
            let table = |name| {
                let definition = redb::TableDefinition::<(u64, u64), &[u8]>::new(name);
                let mut table = txn.open_table(definition).unwrap();
                for i in 0..500 {
                    table.insert((i * 10, i), b"k".as_slice()).unwrap();
                }
                table
            };
            let mut by_removal = table(if removals == 3 { "one_a" } else { "walk_a" });
            let mut deferred = table(if removals == 3 { "one_b" } else { "walk_b" });
            // Descending, every other one absent, the first position twice.
            let mut positions: Vec<(u64, u64)> =
                (0..removals).rev().map(|i| (i * 35, i * 7 / 2)).collect();
            positions.push(positions[0]);
            for position in &positions {
                by_removal.remove(*position).unwrap();
            }
            remove_sorted(&mut deferred, positions).unwrap();
            assert_eq!(entries(&deferred), entries(&by_removal));
            assert!(entries(&deferred).len() < 500);
        }
    }
}
