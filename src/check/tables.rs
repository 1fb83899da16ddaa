//! The database side of `check`: the rows against their values, and the counters and order
//! tables against the rows, in one write transaction; the repairs, in the same one.
//!
//! An order table is compared with the rows without holding either in memory: each of its
//! entries must name a key whose row decodes and sits at that entry's position, and the
//! table must have as many such entries as there are rows that belong in it. A row's
//! position is unique (it holds the row id), so this is "exactly one entry per row".

use std::collections::HashSet;
use std::path::Path;
use std::time::SystemTime;

use redb::{ReadableTable, Table, TableHandle, WriteTransaction};

use super::files;
use crate::blob::BlobPath;
use crate::error::Result;
use crate::row::Row;
use crate::schema::{
    ENTRIES, META, META_COUNT, META_NEXT_ROW_ID, META_VOLUME, ORDER_ACCESS, ORDER_EXPIRE,
    ORDER_FREQUENCY, ORDER_INSERT, ORDER_STORE, ORDER_TAG, OrderField, OrderTable, SETTINGS,
    policy_order,
};
use crate::settings::Settings;
use crate::stored::describe;

type Entries<'t> = Table<'t, &'static [u8], &'static [u8]>;
type Ordered<'t> = Table<'t, (u64, u64), &'static [u8]>;
type Tagged<'t> = Table<'t, (&'static [u8], u64), &'static [u8]>;

/// One run of `check`, inside one write transaction.
pub(super) struct Checker<'a> {
    pub(super) dir: &'a Path,
    pub(super) fix: bool,
    pub(super) warnings: Vec<String>,
    /// Value files of removed rows, to delete after the commit.
    pub(super) removed_files: Vec<BlobPath>,
    /// Whether the transaction must be committed.
    pub(super) changed: bool,
}

/// The tables `check` reads and repairs.
struct Tables<'t> {
    entries: Entries<'t>,
    insert: Table<'t, u64, &'static [u8]>,
    expire: Ordered<'t>,
    /// The eviction policy's order table, its definition, and the row field it orders by.
    policy: Option<(Ordered<'t>, OrderTable, OrderField)>,
    /// Open only while the tag index is on.
    tag: Option<Tagged<'t>>,
    meta: Table<'t, &'static str, u64>,
}

/// What the pass over the rows found.
#[derive(Default)]
struct Rows {
    /// Rows in `entries`, decodable or not.
    total: u64,
    /// Rows that decode: what the order tables and counters are compared with.
    decodable: u64,
    decodable_volume: u64,
    expiring: u64,
    tagged: u64,
    max_row_id: u64,
    /// Keys whose row does not decode.
    undecodable: Vec<Vec<u8>>,
    /// Rows whose value is missing or damaged.
    damaged: Vec<(Vec<u8>, Row)>,
    /// Keys of rows (with a whole value) whose row id an earlier row (in key order) has.
    duplicates: Vec<Vec<u8>>,
    /// Rows that stay after a repair, and their volume.
    kept: u64,
    kept_volume: u64,
    /// Value files named by decodable rows, as stored (`ab/cd/<hex>.val`).
    named: HashSet<String>,
    /// Value files named by the rows that stay.
    kept_named: HashSet<String>,
}

/// Order tables the settings do not keep: nothing keeps them in step, so one left over
/// would be wrong the day the setting names it again.
struct Stale {
    policies: Vec<OrderTable>,
    tag: bool,
}

/// The order tables to rebuild.
#[derive(Default)]
struct Rebuild {
    insert: bool,
    expire: bool,
    policy: bool,
    tag: bool,
}

/// What the counters say, and whether `count` or `volume` disagrees with the rows.
struct Counters {
    next_row_id: u64,
    wrong: bool,
}

impl Checker<'_> {
    fn warn(&mut self, warning: String) {
        self.warnings.push(warning);
    }

    /// Checks (and with `fix` repairs) the tables of `txn` and the value files. Returns the
    /// orphan files to delete once the transaction is over (none without `fix`).
    pub(super) fn run(
        &mut self,
        txn: &WriteTransaction,
        cutoff: SystemTime,
    ) -> Result<Vec<String>> {
        let live = Settings::read_from(&txn.open_table(SETTINGS)?)?;
        let stale = Stale::find(txn, &live)?;
        let mut tables = Tables::open(txn, &live)?;
        let rows = self.check_rows(&tables.entries)?;
        let orphans = files::orphans(self.dir, &rows.named, cutoff, &mut self.warnings)?;
        let rebuild = self.check_orders(&tables, &rows)?;
        for name in stale.names() {
            self.warn(format!(
                "order table {name} is left over: the settings (policy {:?}, tag index {}) do \
                 not keep it",
                live.eviction_policy, live.tag_index
            ));
        }
        let counters = self.check_counters(&tables, &rows)?;
        self.changed |= super::log_damage::check(txn, self.fix, &mut self.warnings)?;
        if !self.fix {
            return Ok(Vec::new());
        }
        self.repair(&mut tables, &rows, rebuild, &counters)?;
        drop(tables);
        self.changed |= stale.delete(txn)?;
        Ok(orphans)
    }

    /// The pass over the rows: decodes each, checks its value, and adds up what the counters
    /// and order tables should say.
    fn check_rows(&mut self, entries: &Entries<'_>) -> Result<Rows> {
        let mut rows = Rows::default();
        let mut ids = HashSet::new();
        for item in entries.iter()? {
            let (key, bytes) = item?;
            let key = key.value();
            rows.total += 1;
            let row = match Row::decode(bytes.value()) {
                Ok(row) => row,
                Err(e) => {
                    self.warn(format!("{}: its row does not decode: {e}", describe(key)));
                    rows.undecodable.push(key.to_vec());
                    continue;
                }
            };
            let volume = row.volume(key.len());
            rows.decodable += 1;
            rows.decodable_volume = rows.decodable_volume.saturating_add(volume);
            rows.expiring += u64::from(row.expire_time != 0);
            rows.tagged += u64::from(row.tag.is_some());
            rows.max_row_id = rows.max_row_id.max(row.row_id);
            if let Some(file) = row.file() {
                rows.named.insert(file.as_str().to_owned());
            }
            if let Some(problem) = files::value_problem(self.dir, &row)? {
                self.warn(format!("{}: {problem}", describe(key)));
                rows.damaged.push((key.to_vec(), row));
                continue;
            }
            if !ids.insert(row.row_id) {
                self.warn(format!(
                    "{}: its row id {} is another entry's too",
                    describe(key),
                    row.row_id
                ));
                rows.duplicates.push(key.to_vec());
            }
            rows.kept += 1;
            rows.kept_volume = rows.kept_volume.saturating_add(volume);
            if let Some(file) = row.file() {
                rows.kept_named.insert(file.as_str().to_owned());
            }
        }
        Ok(rows)
    }

    /// Each order table against the rows that decode: one warning per table that disagrees.
    /// Returns the tables to rebuild.
    fn check_orders(&mut self, t: &Tables<'_>, rows: &Rows) -> Result<Rebuild> {
        let mut rebuild = Rebuild::default();
        let mut tally = Tally::default();
        for item in t.insert.iter()? {
            let (id, key) = item?;
            let id = id.value();
            tally.note(&t.entries, key.value(), |r| r.row_id == id)?;
        }
        rebuild.insert = self.compare(&tally, ORDER_INSERT.name(), rows.decodable);
        let tally = Tally::of_ordered(&t.expire, &t.entries, |r| r.expire_time, true)?;
        rebuild.expire = self.compare(&tally, ORDER_EXPIRE.name(), rows.expiring);
        if let Some((table, definition, field)) = &t.policy {
            let tally = Tally::of_ordered(table, &t.entries, *field, false)?;
            rebuild.policy = self.compare(&tally, definition.name(), rows.decodable);
        }
        if let Some(table) = &t.tag {
            let mut tally = Tally::default();
            for item in table.iter()? {
                let (position, key) = item?;
                let (tag, id) = position.value();
                tally.note(&t.entries, key.value(), |r| {
                    r.row_id == id && r.tag.as_deref() == Some(tag)
                })?;
            }
            rebuild.tag = self.compare(&tally, ORDER_TAG.name(), rows.tagged);
        }
        Ok(rebuild)
    }

    /// Warns if `tally` disagrees with the `expected` rows; returns whether to rebuild.
    fn compare(&mut self, tally: &Tally, name: &str, expected: u64) -> bool {
        let warning = tally.warning(name, expected);
        let wrong = warning.is_some();
        self.warnings.extend(warning);
        wrong
    }

    /// `count`, `volume` and `next_row_id` against the rows.
    fn check_counters(&mut self, t: &Tables<'_>, rows: &Rows) -> Result<Counters> {
        let stored = |name| -> Result<u64> { Ok(t.meta.get(name)?.map_or(0, |g| g.value())) };
        let (count, volume) = (stored(META_COUNT)?, stored(META_VOLUME)?);
        let next_row_id = stored(META_NEXT_ROW_ID)?;
        let mut wrong = false;
        if count != rows.total {
            wrong = true;
            self.warn(format!(
                "the count of entries is {count}, but there are {} rows",
                rows.total
            ));
        }
        // An undecodable row's volume is unknown: its own warning says enough.
        if rows.undecodable.is_empty() && volume != rows.decodable_volume {
            wrong = true;
            self.warn(format!(
                "the volume is {volume}, but the rows add up to {}",
                rows.decodable_volume
            ));
        }
        if next_row_id <= rows.max_row_id {
            self.warn(format!(
                "the next row id is {next_row_id}, but a row already has id {}",
                rows.max_row_id
            ));
        }
        Ok(Counters { next_row_id, wrong })
    }

    /// Removes the rows that do not decode or whose value is damaged, gives duplicate row
    /// ids fresh ones, rebuilds the order tables that disagree, and stores the counters.
    fn repair(
        &mut self,
        t: &mut Tables<'_>,
        rows: &Rows,
        mut rebuild: Rebuild,
        counters: &Counters,
    ) -> Result<()> {
        for key in &rows.undecodable {
            // Its order entries, if any, are stray: those tables are rebuilt.
            t.entries.remove(key.as_slice())?;
            self.changed = true;
        }
        for (key, row) in &rows.damaged {
            t.entries.remove(key.as_slice())?;
            t.unlink(row)?;
            if let Some(file) = row.file()
                && !rows.kept_named.contains(file.as_str())
            {
                self.removed_files.push(file.clone());
            }
            self.changed = true;
        }
        let mut next_id = counters.next_row_id.max(rows.max_row_id.saturating_add(1));
        for key in &rows.duplicates {
            let row = t
                .entries
                .get(key.as_slice())?
                .map(|g| Row::decode(g.value()));
            let Some(mut row) = row.transpose()? else {
                continue;
            };
            row.row_id = next_id;
            next_id = next_id.saturating_add(1);
            t.entries.insert(key.as_slice(), row.encode()?.as_slice())?;
            rebuild = Rebuild::all();
        }
        if rebuild.any() {
            t.rebuild(&rebuild)?;
            self.changed = true;
        }
        let removed = !rows.undecodable.is_empty() || !rows.damaged.is_empty();
        if counters.wrong || removed {
            t.meta.insert(META_COUNT, rows.kept)?;
            t.meta.insert(META_VOLUME, rows.kept_volume)?;
            self.changed = true;
        }
        if next_id != counters.next_row_id {
            t.meta.insert(META_NEXT_ROW_ID, next_id)?;
            self.changed = true;
        }
        Ok(())
    }
}

impl<'t> Tables<'t> {
    /// Opens the tables of `txn`, with the order tables the settings `live` keep.
    fn open(txn: &'t WriteTransaction, live: &Settings) -> Result<Self> {
        let policy = match policy_order(live.eviction_policy) {
            Some((definition, field)) => Some((txn.open_table(definition)?, definition, field)),
            None => None,
        };
        Ok(Tables {
            entries: txn.open_table(ENTRIES)?,
            insert: txn.open_table(ORDER_INSERT)?,
            expire: txn.open_table(ORDER_EXPIRE)?,
            policy,
            tag: if live.tag_index {
                Some(txn.open_table(ORDER_TAG)?)
            } else {
                None
            },
            meta: txn.open_table(META)?,
        })
    }

    /// Removes `row`'s entries from the order tables. Only for a table that agrees with the
    /// rows (one that does not is rebuilt): there, the row's position names only it.
    fn unlink(&mut self, row: &Row) -> Result<()> {
        self.insert.remove(row.row_id)?;
        if row.expire_time != 0 {
            self.expire.remove((row.expire_time, row.row_id))?;
        }
        if let Some((table, _, field)) = &mut self.policy {
            table.remove((field(row), row.row_id))?;
        }
        if let (Some(table), Some(tag)) = (&mut self.tag, &row.tag) {
            table.remove((tag.as_slice(), row.row_id))?;
        }
        Ok(())
    }

    /// Clears the order tables `which` names and fills them again from every row.
    fn rebuild(&mut self, which: &Rebuild) -> Result<()> {
        let policy = self.policy.as_mut().filter(|_| which.policy);
        let tag = self.tag.as_mut().filter(|_| which.tag);
        if which.insert {
            self.insert.retain(|_, _| false)?;
        }
        if which.expire {
            self.expire.retain(|_, _| false)?;
        }
        let mut policy = match policy {
            Some((table, _, field)) => {
                table.retain(|_, _| false)?;
                Some((table, *field))
            }
            None => None,
        };
        let mut tag = match tag {
            Some(table) => {
                table.retain(|_, _| false)?;
                Some(table)
            }
            None => None,
        };
        for item in self.entries.iter()? {
            let (key, bytes) = item?;
            let key = key.value();
            let row = Row::decode(bytes.value())?;
            if which.insert {
                self.insert.insert(row.row_id, key)?;
            }
            if which.expire && row.expire_time != 0 {
                self.expire.insert((row.expire_time, row.row_id), key)?;
            }
            if let Some((table, field)) = &mut policy {
                table.insert((field(&row), row.row_id), key)?;
            }
            if let (Some(table), Some(t)) = (&mut tag, &row.tag) {
                table.insert((t.as_slice(), row.row_id), key)?;
            }
        }
        Ok(())
    }
}

impl Stale {
    fn find(txn: &WriteTransaction, live: &Settings) -> Result<Stale> {
        let present: Vec<String> = txn.list_tables()?.map(|t| t.name().to_owned()).collect();
        let exists = |name: &str| present.iter().any(|p| p == name);
        let kept = policy_order(live.eviction_policy).map(|(definition, _)| definition);
        let policies = [ORDER_STORE, ORDER_ACCESS, ORDER_FREQUENCY]
            .into_iter()
            .filter(|t| kept.as_ref().is_none_or(|k| k.name() != t.name()) && exists(t.name()))
            .collect();
        Ok(Stale {
            policies,
            tag: !live.tag_index && exists(ORDER_TAG.name()),
        })
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        let tag = self.tag.then(|| ORDER_TAG.name());
        self.policies.iter().map(|t| t.name()).chain(tag)
    }

    /// Deletes the tables; returns whether there were any.
    fn delete(self, txn: &WriteTransaction) -> Result<bool> {
        let any = self.tag || !self.policies.is_empty();
        for definition in self.policies {
            txn.delete_table(definition)?;
        }
        if self.tag {
            txn.delete_table(ORDER_TAG)?;
        }
        Ok(any)
    }
}

impl Rebuild {
    fn all() -> Rebuild {
        Rebuild {
            insert: true,
            expire: true,
            policy: true,
            tag: true,
        }
    }

    fn any(&self) -> bool {
        self.insert || self.expire || self.policy || self.tag
    }
}

/// How an order table compares with the rows.
#[derive(Default)]
struct Tally {
    /// Entries at the position their key's row calls for.
    valid: u64,
    /// Entries naming a key with no (decodable) row, or a row at another position.
    stray: u64,
    first_stray: Option<Vec<u8>>,
}

impl Tally {
    /// Tallies an order table keyed by (`field` of the row, row id); with `nonzero`, only
    /// rows whose field is not 0 belong in it.
    fn of_ordered(
        table: &Ordered<'_>,
        entries: &Entries<'_>,
        field: OrderField,
        nonzero: bool,
    ) -> Result<Tally> {
        let mut tally = Tally::default();
        for item in table.iter()? {
            let (position, key) = item?;
            let (at, id) = position.value();
            tally.note(entries, key.value(), |r| {
                r.row_id == id && field(r) == at && (!nonzero || at != 0)
            })?;
        }
        Ok(tally)
    }

    /// Counts one entry naming `key`: valid if `key`'s row decodes and `at` says the entry
    /// is at its position.
    fn note(
        &mut self,
        entries: &Entries<'_>,
        key: &[u8],
        at: impl FnOnce(&Row) -> bool,
    ) -> Result<()> {
        let valid = match entries.get(key)? {
            Some(row) => Row::decode(row.value()).is_ok_and(|row| at(&row)),
            None => false,
        };
        if valid {
            self.valid += 1;
        } else {
            self.stray += 1;
            self.first_stray.get_or_insert_with(|| key.to_vec());
        }
        Ok(())
    }

    /// A warning if the table is not exactly one entry per row of the `expected` that
    /// belong in it.
    fn warning(&self, table: &str, expected: u64) -> Option<String> {
        let missing = expected.saturating_sub(self.valid);
        if self.stray == 0 && missing == 0 {
            return None;
        }
        let mut parts = Vec::new();
        if let Some(first) = &self.first_stray {
            parts.push(format!(
                "{} of its entries name no row or a row that belongs elsewhere (the first \
                 names {})",
                self.stray,
                describe(first)
            ));
        }
        if missing > 0 {
            parts.push(format!("{missing} rows have no entry in it"));
        }
        Some(format!(
            "order table {table} disagrees with the rows: {}",
            parts.join("; ")
        ))
    }
}
