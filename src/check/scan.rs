//! The long part of `check`, on a read snapshot and without the write lock: every row with
//! its value, the value files on disk, and the counters and order tables against the rows.
//! It works from the rows alone and does not reuse the code that keeps the tables in step
//! (`txn`), so a bug there shows up here.
//!
//! An order table is compared with the rows in two passes that hold neither in memory: each
//! of its entries must name a key whose row decodes and sits at that entry's position (the
//! others are strays), and, only if fewer entries pass than rows belong in the table, each
//! such row is looked up at its position (those not there are missing). A row's position
//! holds its row id, so a valid entry belongs to exactly one row.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::path::Path;
use std::time::SystemTime;

use redb::{
    ReadOnlyTable, ReadTransaction, ReadableTable, ReadableTableMetadata, TableDefinition,
    TableHandle,
};

use super::files;
use super::findings::{Findings, Orphan, RowFinding, RowProblem, TableFinding};
use crate::engine::write::orders::{OrderKind, Position};
use crate::error::Result;
use crate::format::order::Target;
use crate::format::row::Row;
use crate::format::schema::{
    ENTRIES, META, META_COUNT, META_NEXT_ROW_ID, META_VOLUME, ORDER_EXPIRE, ORDER_INSERT,
    ORDER_TAG, SETTINGS, policy_order,
};
use crate::progress::{Phase, Reporter};
use crate::settings::{EvictionPolicy, Settings};

type Entries = ReadOnlyTable<&'static [u8], &'static [u8]>;
/// The tag order of a snapshot.
type TagOrder = ReadOnlyTable<(&'static [u8], u64), &'static [u8]>;

/// Rows read between two reports of [`Phase::Rows`].
const ROWS_PER_REPORT: u64 = 1024;

/// Everything `check` finds in the snapshot `txn` and in the value files of `dir`; a value
/// file no row names counts only if it is older than `cutoff`. `Break` if `report` stopped it.
pub(super) fn scan(
    txn: &ReadTransaction,
    dir: &Path,
    cutoff: SystemTime,
    report: &mut Reporter<'_>,
) -> Result<ControlFlow<(), Findings>> {
    let (live, builds) = {
        let table = txn.open_table(SETTINGS)?;
        let builds = crate::format::order::markers(&table)?;
        (Settings::read_from(&table)?, builds)
    };
    let entries = txn.open_table(ENTRIES)?;
    let mut findings = Findings {
        policy: live.eviction_policy,
        tag_index: live.tag_index,
        ..Findings::default()
    };
    if report.start(Phase::Rows, Some(entries.len()?)).is_break() {
        return Ok(ControlFlow::Break(()));
    }
    let Some((named, belong)) = check_rows(&entries, dir, &mut findings, report)? else {
        return Ok(ControlFlow::Break(()));
    };
    if report.start(Phase::Files, None).is_break() {
        return Ok(ControlFlow::Break(()));
    }
    findings.orphans = files::orphans(dir, &named, cutoff)?
        .into_iter()
        .map(|path| Orphan { path })
        .collect();
    let mut tables = vec![(OrderKind::Insert, belong.decodable)];
    tables.push((OrderKind::Expire, belong.expiring));
    if Target::of_policy(live.eviction_policy).is_some() {
        tables.push((OrderKind::Policy(live.eviction_policy), belong.decodable));
    }
    if live.tag_index {
        tables.push((OrderKind::Tag, belong.tagged));
    }
    if report
        .start(Phase::Tables, Some(tables.len() as u64))
        .is_break()
    {
        return Ok(ControlFlow::Break(()));
    }
    for (table, rows) in tables {
        if let Some(finding) = check_table(txn, &entries, table, rows)? {
            findings.tables.push(finding);
        }
        if report.advance(1).is_break() {
            return Ok(ControlFlow::Break(()));
        }
    }
    findings.stale = stale_tables(txn, &live, &builds)?;
    findings.left_out = super::log_damage::kept(txn)?;
    let meta = txn.open_table(META)?;
    let stored = |name| -> Result<u64> { Ok(meta.get(name)?.map_or(0, |g| g.value())) };
    findings.counters.count = stored(META_COUNT)?;
    findings.counters.volume = stored(META_VOLUME)?;
    findings.counters.next_row_id = stored(META_NEXT_ROW_ID)?;
    Ok(ControlFlow::Continue(findings))
}

/// How many rows that decode belong in each kind of order table.
#[derive(Default)]
struct Belong {
    /// Every row that decodes: the insertion and policy orders.
    decodable: u64,
    /// Those with an expire time.
    expiring: u64,
    /// Those with a tag.
    tagged: u64,
}

/// The pass over the rows: decodes each, checks its value, and adds up what the counters and
/// order tables should say. Returns the value files the rows that decode name (`None` if
/// `report` stopped it).
fn check_rows(
    entries: &Entries,
    dir: &Path,
    findings: &mut Findings,
    report: &mut Reporter<'_>,
) -> Result<Option<(HashSet<String>, Belong)>> {
    let mut named = HashSet::new();
    let mut belong = Belong::default();
    let mut ids: HashSet<u64> = HashSet::new();
    // Rows whose row id an earlier row with a whole value has: (finding, id).
    let mut duplicates: Vec<(usize, u64)> = Vec::new();
    let c = &mut findings.counters;
    for item in entries.iter()? {
        let (key, bytes) = item?;
        let key = key.value();
        c.rows += 1;
        if c.rows.is_multiple_of(ROWS_PER_REPORT) && report.at(c.rows).is_break() {
            return Ok(None);
        }
        let decoded = Row::decode(bytes.value()).and_then(|row| {
            // A long key's row must hold the key its index key was made from.
            crate::format::key::long::check_index(key, row.full_key.as_deref()).map(|()| row)
        });
        let row = match decoded {
            Ok(row) => row,
            Err(e) => {
                c.undecodable = true;
                findings.rows.push(RowFinding {
                    key: key.to_vec(),
                    problem: RowProblem::Undecodable(bytes.value().to_vec(), e.to_string()),
                });
                continue;
            }
        };
        belong.decodable += 1;
        belong.expiring += u64::from(row.expire_time != 0);
        belong.tagged += u64::from(row.tag.is_some());
        c.decodable_volume = c.decodable_volume.saturating_add(row.volume(key.len()));
        c.max_row_id = c.max_row_id.max(row.row_id);
        if let Some(file) = row.file() {
            named.insert(file.as_str().to_owned());
        }
        if let Some(problem) = files::value_problem(dir, &row)? {
            findings.rows.push(RowFinding {
                key: key.to_vec(),
                problem: RowProblem::Value(row, problem),
            });
            continue;
        }
        if let Some(file) = row.file() {
            findings.kept_named.insert(file.as_str().to_owned());
        }
        if !ids.insert(row.row_id) {
            duplicates.push((findings.rows.len(), row.row_id));
            findings.rows.push(RowFinding {
                key: key.to_vec(),
                problem: RowProblem::DuplicateId(row, Vec::new()),
            });
        }
    }
    if !duplicates.is_empty() {
        name_first_holders(entries, findings, &duplicates)?;
    }
    if report.at(findings.counters.rows).is_break() {
        return Ok(None);
    }
    Ok(Some((named, belong)))
}

/// Names, in each duplicate row id finding, the row that had the id first: the first row in
/// key order with that id and a whole value (a second pass, only when there are duplicates).
fn name_first_holders(
    entries: &Entries,
    findings: &mut Findings,
    duplicates: &[(usize, u64)],
) -> Result<()> {
    let damaged: HashSet<&[u8]> = findings
        .rows
        .iter()
        .filter(|f| matches!(f.problem, RowProblem::Value(..)))
        .map(|f| f.key.as_slice())
        .collect();
    let wanted: HashSet<u64> = duplicates.iter().map(|(_, id)| *id).collect();
    let mut first: HashMap<u64, Vec<u8>> = HashMap::new();
    for item in entries.iter()? {
        let (key, bytes) = item?;
        let Ok(row) = Row::decode(bytes.value()) else {
            continue;
        };
        if wanted.contains(&row.row_id) && !damaged.contains(key.value()) {
            first
                .entry(row.row_id)
                .or_insert_with(|| key.value().to_vec());
        }
    }
    for (at, id) in duplicates {
        if let (Some(finding), Some(holder)) = (findings.rows.get_mut(*at), first.get(id))
            && let RowProblem::DuplicateId(_, first) = &mut finding.problem
        {
            first.clone_from(holder);
        }
    }
    Ok(())
}

/// One order table against the rows, of which `rows` belong in it: its strays, and (if
/// fewer entries fit than that) its missing rows.
fn check_table(
    txn: &ReadTransaction,
    entries: &Entries,
    table: OrderKind,
    rows: u64,
) -> Result<Option<TableFinding>> {
    let opened = Opened::open(txn, table)?;
    let mut finding = TableFinding {
        table,
        strays: Vec::new(),
        missing: Vec::new(),
    };
    let mut valid = 0u64;
    opened.for_each(|position, key| {
        let fits = match entries.get(key)? {
            Some(row) => Row::decode(row.value())
                .is_ok_and(|row| table.position(&row).as_ref() == Some(&position)),
            None => false,
        };
        if fits {
            valid += 1;
        } else {
            finding.strays.push((position, key.to_vec()));
        }
        Ok(())
    })?;
    if valid < rows {
        for item in entries.iter()? {
            let (key, bytes) = item?;
            let Ok(row) = Row::decode(bytes.value()) else {
                continue;
            };
            let Some(position) = table.position(&row) else {
                continue;
            };
            if opened.get(&position)?.as_deref() != Some(key.value()) {
                finding.missing.push(key.value().to_vec());
            }
        }
    }
    let wrong = !finding.strays.is_empty() || !finding.missing.is_empty();
    Ok(wrong.then_some(finding))
}

/// An order table of the snapshot, open for reading (`None`: it does not exist, which is
/// an empty table).
enum Opened {
    Id(Option<ReadOnlyTable<u64, &'static [u8]>>),
    Pair(Option<ReadOnlyTable<(u64, u64), &'static [u8]>>),
    Tagged(Option<TagOrder>),
}

impl Opened {
    fn open(txn: &ReadTransaction, table: OrderKind) -> Result<Opened> {
        Ok(match table {
            OrderKind::Insert => Opened::Id(open(txn, ORDER_INSERT)?),
            OrderKind::Expire => Opened::Pair(open(txn, ORDER_EXPIRE)?),
            OrderKind::Policy(p) => match policy_order(p) {
                Some((definition, _)) => Opened::Pair(open(txn, definition)?),
                None => Opened::Pair(None),
            },
            OrderKind::Tag => Opened::Tagged(open(txn, ORDER_TAG)?),
        })
    }

    /// Calls `f` with each entry's position and key, in table order.
    fn for_each(&self, mut f: impl FnMut(Position, &[u8]) -> Result<()>) -> Result<()> {
        match self {
            Opened::Id(Some(t)) => {
                for item in t.iter()? {
                    let (at, key) = item?;
                    f(Position::Id(at.value()), key.value())?;
                }
            }
            Opened::Pair(Some(t)) => {
                for item in t.iter()? {
                    let (at, key) = item?;
                    let (a, b) = at.value();
                    f(Position::Pair(a, b), key.value())?;
                }
            }
            Opened::Tagged(Some(t)) => {
                for item in t.iter()? {
                    let (at, key) = item?;
                    let (tag, id) = at.value();
                    f(Position::Tagged(tag.to_vec(), id), key.value())?;
                }
            }
            Opened::Id(None) | Opened::Pair(None) | Opened::Tagged(None) => {}
        }
        Ok(())
    }

    /// The key the entry at `position` names, if there is one.
    fn get(&self, position: &Position) -> Result<Option<Vec<u8>>> {
        let key = match (self, position) {
            (Opened::Id(Some(t)), Position::Id(id)) => t.get(*id)?,
            (Opened::Pair(Some(t)), Position::Pair(a, b)) => t.get((*a, *b))?,
            (Opened::Tagged(Some(t)), Position::Tagged(tag, id)) => t.get((tag.as_slice(), *id))?,
            _ => None,
        };
        Ok(key.map(|g| g.value().to_vec()))
    }
}

/// An order table of the snapshot, or `None` if it does not exist.
fn open<K: redb::Key + 'static>(
    txn: &ReadTransaction,
    definition: TableDefinition<K, &'static [u8]>,
) -> Result<Option<ReadOnlyTable<K, &'static [u8]>>> {
    match txn.open_table(definition) {
        Ok(table) => Ok(Some(table)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Order tables that exist though the settings `live` do not keep them and no build in
/// `builds` is filling them: nothing keeps them in step, so one left over would be wrong
/// the day the setting names it again.
fn stale_tables(
    txn: &ReadTransaction,
    live: &Settings,
    builds: &[(Target, u64)],
) -> Result<Vec<OrderKind>> {
    let present: Vec<String> = txn.list_tables()?.map(|t| t.name().to_owned()).collect();
    let exists = |name: &str| present.iter().any(|p| p == name);
    let building = |target: Target| builds.iter().any(|(t, _)| *t == target);
    let mut stale = Vec::new();
    for policy in [
        EvictionPolicy::LeastRecentlyStored,
        EvictionPolicy::LeastRecentlyUsed,
        EvictionPolicy::LeastFrequentlyUsed,
    ] {
        let kept = policy == live.eviction_policy || building(Target::Policy(policy));
        if !kept && exists(Target::Policy(policy).name()) {
            stale.push(OrderKind::Policy(policy));
        }
    }
    if !live.tag_index && !building(Target::Tag) && exists(ORDER_TAG.name()) {
        stale.push(OrderKind::Tag);
    }
    Ok(stale)
}
