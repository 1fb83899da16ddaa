//! The second part of `check`: each finding of the snapshot looked at again under the write
//! lock, against the cache as it is now, in slices of a few milliseconds; with `fix`,
//! repaired in the same slice. A finding that no longer holds (a writer replaced or removed
//! the row, or fixed the entry) is not reported.
//!
//! Value files are immutable and uniquely named, so a row whose value (place, size, crc32)
//! is the one the snapshot checked still has the same damage. Counters cannot be looked at
//! again, but writers add and subtract consistently, so a counter wrong by `d` in the
//! snapshot is still wrong by `d`: the latest `check(true)` to start (its token in the
//! `settings` table says which) adds `d`. It does so first, before the repairs remove rows:
//! a commit stores a counter floored at zero, so a row removed in an earlier slice from a
//! count damaged low would otherwise be lost to the floor (`check_repair.rs`,
//! `damage_of_several_kinds_at_once_is_all_repaired`).

use std::collections::HashSet;
use std::ops::ControlFlow;

use super::files;
use super::findings::{Confirmed, Findings, RowProblem};
use crate::engine::Store;
use crate::engine::slice::Budget;
use crate::engine::write::WriteCtx;
use crate::error::Result;
use crate::format::row::Row;
use crate::progress::{Phase, Reporter};
use crate::testing::sabotage::{Sabotage, on};

/// One piece of work: a finding to look at again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Task {
    NextRowId,
    Row(usize),
    /// (table finding, stray).
    Stray(usize, usize),
    /// (table finding, missing row).
    Missing(usize, usize),
    Stale(usize),
    LeftOut(usize),
    Counters,
    Done,
}

/// The state of the confirmation, across its slices.
struct Confirm<'a> {
    findings: &'a Findings,
    fix: bool,
    /// This check's token, with `fix`.
    token: Option<u64>,
    confirmed: Confirmed,
    /// Keys whose rows this check removed or gave a fresh row id: their order table findings
    /// held when their row's finding did, and need nothing more.
    ours: HashSet<Vec<u8>>,
    next: Task,
    /// Tasks done so far, for the progress reports.
    steps: u64,
}

/// Looks at every finding again (and with `fix` repairs it), in slices; then the value files
/// no row names, which need no lock. Returns what held, and `Break` if `report` stopped it
/// after a slice (what held until then).
pub(super) fn run(
    store: &Store,
    findings: &Findings,
    fix: bool,
    token: Option<u64>,
    report: &mut Reporter<'_>,
) -> Result<(Confirmed, ControlFlow<()>)> {
    let mut c = Confirm {
        findings,
        fix,
        token,
        confirmed: Confirmed {
            rows: vec![false; findings.rows.len()],
            strays: findings
                .tables
                .iter()
                .map(|t| vec![false; t.strays.len()])
                .collect(),
            missing: findings
                .tables
                .iter()
                .map(|t| vec![false; t.missing.len()])
                .collect(),
            stale: vec![false; findings.stale.len()],
            left_out: vec![false; findings.left_out.len()],
            ..Confirmed::default()
        },
        ours: HashSet::new(),
        next: Task::NextRowId,
        steps: 0,
    };
    let tasks = tasks(findings);
    if report.start(Phase::Confirm, Some(tasks)).is_break() {
        return Ok((c.confirmed, ControlFlow::Break(())));
    }
    c.next = c.due(Task::NextRowId);
    while c.next != Task::Done {
        store.slice(|w, budget| c.slice(w, budget))?;
        if report.at(c.steps.min(tasks)).is_break() && c.next != Task::Done {
            return Ok((c.confirmed, ControlFlow::Break(())));
        }
    }
    for orphan in &findings.orphans {
        // Gone since the snapshot: its writer gave up and deleted it.
        let path = store.dir().join(&orphan.path);
        let held = path.exists();
        c.confirmed.orphans.push(held);
        if held && fix {
            files::remove_file(&path)?;
            // As Python's `check(fix=True)`, which removes empty folders.
            crate::format::blob::remove_empty_folders(store.dir(), &path);
        }
    }
    // The tasks not due (a counter found right) are done too.
    let _ = report.at(tasks);
    Ok((c.confirmed, ControlFlow::Continue(())))
}

/// How many tasks the confirmation of `findings` has at most (those not due are skipped):
/// the two counters, each finding of a row, an order table, a left-over table or the log, and
/// each value file no row names.
fn tasks(findings: &Findings) -> u64 {
    let tables: usize = findings
        .tables
        .iter()
        .map(|t| t.strays.len() + t.missing.len())
        .sum();
    let n = 2
        + findings.rows.len()
        + tables
        + findings.stale.len()
        + findings.left_out.len()
        + findings.orphans.len();
    n as u64
}

impl Confirm<'_> {
    /// Works through the tasks until the budget is spent or none is left.
    fn slice(&mut self, w: &mut WriteCtx<'_>, budget: Budget) -> Result<()> {
        while self.next != Task::Done {
            self.step(w, self.next)?;
            self.steps += 1;
            self.next = self.due(self.after(self.next));
            if budget.spent() {
                break;
            }
        }
        Ok(())
    }

    /// The task after `task`, in the order: the row id counter, counters, rows, each table's
    /// strays then missing rows, left-over tables, log records left out.
    fn after(&self, task: Task) -> Task {
        let f = self.findings;
        match task {
            Task::NextRowId => Task::Counters,
            Task::Counters => Task::Row(0),
            Task::Row(i) => Task::Row(i + 1),
            Task::Stray(t, i) => Task::Stray(t, i + 1),
            Task::Missing(t, i) => Task::Missing(t, i + 1),
            Task::Stale(i) => Task::Stale(i + 1),
            Task::LeftOut(i) => Task::LeftOut(i + 1),
            Task::Done => Task::Done,
        }
        .bounded(f)
    }

    /// `task` if it has work, else the next one that has.
    fn due(&self, mut task: Task) -> Task {
        loop {
            let needed = match task {
                Task::NextRowId => self.findings.counters.next_row_id_wrong(),
                // With `fix`, the token is to be removed at least.
                Task::Counters => self.fix,
                _ => true,
            };
            if needed {
                return task;
            }
            task = self.after(task);
        }
    }

    fn step(&mut self, w: &mut WriteCtx<'_>, task: Task) -> Result<()> {
        let f = self.findings;
        match task {
            Task::NextRowId => {
                let max = f.counters.max_row_id;
                let held = w.peek_next_row_id()? <= max;
                self.confirmed.next_row_id = held || on(Sabotage::CheckSkipsConfirm);
                if held && self.fix {
                    w.ensure_next_row_id(max.saturating_add(1))?;
                }
            }
            Task::Row(i) => self.row(w, i)?,
            Task::Stray(t, i) => {
                let (Some(table), Some((position, key))) = (
                    f.tables.get(t),
                    f.tables.get(t).and_then(|t| t.strays.get(i)),
                ) else {
                    return Ok(());
                };
                let kind = table.table;
                let names = w.keeps(kind) && w.order_entry(kind, position)?.as_ref() == Some(key);
                let fits = match w.raw_row(key)? {
                    Some(raw) => Row::decode(&raw)
                        .is_ok_and(|row| kind.position(&row).as_ref() == Some(position)),
                    None => false,
                };
                let held = names && !fits;
                set(&mut self.confirmed.strays, t, i, held);
                if held && self.fix {
                    w.set_order_entry(kind, position, None)?;
                }
            }
            Task::Missing(t, i) => {
                let (Some(table), Some(key)) = (
                    f.tables.get(t),
                    f.tables.get(t).and_then(|t| t.missing.get(i)),
                ) else {
                    return Ok(());
                };
                let kind = table.table;
                if self.ours.contains(key) {
                    set(&mut self.confirmed.missing, t, i, true);
                    return Ok(());
                }
                let position = match w.raw_row(key)? {
                    Some(raw) if w.keeps(kind) => {
                        Row::decode(&raw).ok().and_then(|r| kind.position(&r))
                    }
                    _ => None,
                };
                let Some(position) = position else {
                    set(&mut self.confirmed.missing, t, i, false);
                    return Ok(());
                };
                let held = w.order_entry(kind, &position)?.as_ref() != Some(key);
                set(&mut self.confirmed.missing, t, i, held);
                if held && self.fix {
                    w.set_order_entry(kind, &position, Some(key))?;
                }
            }
            Task::Stale(i) => {
                let Some(table) = f.stale.get(i).copied() else {
                    return Ok(());
                };
                let held = w.is_stale(table)?;
                if let Some(slot) = self.confirmed.stale.get_mut(i) {
                    *slot = held;
                }
                if held && self.fix {
                    w.delete_stale(table)?;
                }
            }
            Task::LeftOut(i) => {
                let Some(record) = f.left_out.get(i) else {
                    return Ok(());
                };
                let held = w.keeps_left_out(record.generation, record.seq)?;
                if let Some(slot) = self.confirmed.left_out.get_mut(i) {
                    *slot = held;
                }
                if held && self.fix {
                    w.drop_left_out(record.generation, record.seq)?;
                }
            }
            Task::Counters => {
                let c = &f.counters;
                let latest = w.check_token()? == self.token;
                // Negative control (`sabotage`): every check(true) corrects the counters.
                if self.token.is_some() && (latest || on(Sabotage::CheckFixUnguarded)) {
                    let count = i128::from(c.rows) - i128::from(c.count);
                    let volume = i128::from(c.decodable_volume) - i128::from(c.volume);
                    w.adjust_counters(i64::try_from(count).unwrap_or(0), volume);
                    w.set_check_token(None)?;
                }
            }
            Task::Done => {}
        }
        Ok(())
    }

    /// Looks at the row of finding `i` again: it holds if the row is as the snapshot had it
    /// (for a damaged value, the same value; for a duplicate row id, the earlier row still
    /// has it).
    fn row(&mut self, w: &mut WriteCtx<'_>, i: usize) -> Result<()> {
        let Some(finding) = self.findings.rows.get(i) else {
            return Ok(());
        };
        let key = finding.key.as_slice();
        let raw = w.raw_row(key)?;
        let current = raw.as_deref().map(Row::decode).and_then(Result::ok);
        let held = match (&finding.problem, &raw, &current) {
            (RowProblem::Undecodable(bytes, _), Some(raw), _) => raw == bytes,
            (RowProblem::Value(row, _), _, Some(now)) => same_value(now, row),
            (RowProblem::DuplicateId(row, first), _, Some(now)) => {
                let first_has_it = w.get(first)?.is_some_and(|r| r.row_id == row.row_id);
                now.row_id == row.row_id && same_value(now, row) && first_has_it
            }
            _ => false,
        };
        if let Some(slot) = self.confirmed.rows.get_mut(i) {
            *slot = held || on(Sabotage::CheckSkipsConfirm);
        }
        if !held || !self.fix {
            return Ok(());
        }
        match (&finding.problem, current) {
            (RowProblem::Undecodable(..), _) => w.remove_undecodable(key)?,
            (RowProblem::Value(..), Some(now)) => {
                w.remove(key, &now)?;
                if let Some(file) = now.file()
                    && self.findings.kept_named.contains(file.as_str())
                {
                    w.keep_file(file);
                }
            }
            (RowProblem::DuplicateId(..), Some(now)) => w.relink(key, &now)?,
            _ => {}
        }
        self.ours.insert(key.to_vec());
        Ok(())
    }
}

impl Task {
    /// This task, or the first of the next kind if this one is past the end of its list.
    fn bounded(self, f: &Findings) -> Task {
        let strays = |t: usize| f.tables.get(t).map_or(0, |t| t.strays.len());
        let missing = |t: usize| f.tables.get(t).map_or(0, |t| t.missing.len());
        let mut task = self;
        loop {
            task = match task {
                Task::Row(i) if i >= f.rows.len() => Task::Stray(0, 0),
                Task::Stray(t, _) if t >= f.tables.len() => Task::Stale(0),
                Task::Stray(t, i) if i >= strays(t) => Task::Missing(t, 0),
                Task::Missing(t, i) if i >= missing(t) => Task::Stray(t + 1, 0),
                Task::Stale(i) if i >= f.stale.len() => Task::LeftOut(0),
                Task::LeftOut(i) if i >= f.left_out.len() => Task::Done,
                other => return other,
            };
        }
    }
}

/// Whether `now` holds the value `then` held: the same place (inline bytes or value file),
/// size and crc32.
fn same_value(now: &Row, then: &Row) -> bool {
    now.place == then.place && now.size == then.size && now.crc32 == then.crc32
}

/// Sets flag `i` of list `t`.
fn set(flags: &mut [Vec<bool>], t: usize, i: usize, held: bool) {
    if let Some(slot) = flags.get_mut(t).and_then(|l| l.get_mut(i)) {
        *slot = held || on(Sabotage::CheckSkipsConfirm);
    }
}
