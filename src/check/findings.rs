//! What `check` found in its snapshot, what it confirmed against the cache as it is, and the
//! warnings that say so.

use std::collections::HashSet;

use super::finding::{Counter, Finding};
use crate::engine::write::orders::{OrderKind, Position};
use crate::format::row::Row;
use crate::settings::EvictionPolicy;

/// What is wrong with one row.
#[derive(Debug)]
pub(crate) enum RowProblem {
    /// It does not decode; the bytes the snapshot held, and why.
    Undecodable(Vec<u8>, String),
    /// Its value is missing or damaged: the row, and what is wrong.
    Value(Row, String),
    /// Its row id is that of `first`, a row earlier in key order whose value is whole.
    DuplicateId(Row, Vec<u8>),
}

/// A row `check` found wrong.
#[derive(Debug)]
pub(crate) struct RowFinding {
    pub(crate) key: Vec<u8>,
    pub(crate) problem: RowProblem,
}

impl RowFinding {
    /// The finding to report.
    pub(crate) fn finding(&self) -> Finding {
        let problem = match &self.problem {
            RowProblem::Undecodable(_, e) => format!("its row does not decode: {e}"),
            RowProblem::Value(_, problem) => problem.clone(),
            RowProblem::DuplicateId(row, _) => {
                format!("its row id {} is another entry's too", row.row_id)
            }
        };
        Finding::Entry {
            encoded_key: self.key.clone(),
            problem,
        }
    }
}

/// An order table that disagrees with the rows.
#[derive(Debug)]
pub(crate) struct TableFinding {
    pub(crate) table: OrderKind,
    /// Entries that name no row, or a row that belongs elsewhere, in table order.
    pub(crate) strays: Vec<(Position, Vec<u8>)>,
    /// Keys of rows that belong in the table and have no entry there, in key order.
    pub(crate) missing: Vec<Vec<u8>>,
}

/// What `check` saw in the counters and the rows.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) count: u64,
    pub(crate) rows: u64,
    pub(crate) volume: u64,
    /// The summed volume of the rows that decode.
    pub(crate) decodable_volume: u64,
    /// Whether some row does not decode (its volume is unknown).
    pub(crate) undecodable: bool,
    pub(crate) next_row_id: u64,
    pub(crate) max_row_id: u64,
}

impl Counters {
    /// Whether `count` disagrees with the rows.
    pub(crate) fn count_wrong(&self) -> bool {
        self.count != self.rows
    }

    /// Whether `volume` disagrees with the rows (unknown while a row does not decode).
    pub(crate) fn volume_wrong(&self) -> bool {
        !self.undecodable && self.volume != self.decodable_volume
    }

    /// Whether `next_row_id` is not above every row id.
    pub(crate) fn next_row_id_wrong(&self) -> bool {
        self.next_row_id <= self.max_row_id
    }
}

/// A value file no row names.
#[derive(Debug)]
pub(crate) struct Orphan {
    /// Its path relative to the cache directory.
    pub(crate) path: String,
}

impl Orphan {
    /// The finding to report.
    pub(crate) fn finding(&self) -> Finding {
        Finding::OrphanFile {
            path: self.path.clone(),
            unfinished: self.path.ends_with(crate::format::blob::BLOB_TEMP_SUFFIX),
        }
    }
}

/// Everything the snapshot showed wrong.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    /// In key order.
    pub(crate) rows: Vec<RowFinding>,
    pub(crate) orphans: Vec<Orphan>,
    /// In the order insert, expire, policy, tag.
    pub(crate) tables: Vec<TableFinding>,
    /// Order tables no setting keeps (and no build is filling).
    pub(crate) stale: Vec<OrderKind>,
    /// Log records the `log_damage` table keeps.
    pub(crate) left_out: Vec<super::log_damage::LeftOut>,
    pub(crate) counters: Counters,
    /// Value files named by rows that stay after a repair: a removed row's file that one of
    /// them names too must stay.
    pub(crate) kept_named: HashSet<String>,
    /// The eviction policy and tag index the snapshot's settings name.
    pub(crate) policy: EvictionPolicy,
    pub(crate) tag_index: bool,
}

/// Which findings held against the cache as it was when `check` looked again.
#[derive(Debug, Default)]
pub(crate) struct Confirmed {
    pub(crate) rows: Vec<bool>,
    pub(crate) orphans: Vec<bool>,
    /// Per table finding: which strays and which missing rows.
    pub(crate) strays: Vec<Vec<bool>>,
    pub(crate) missing: Vec<Vec<bool>>,
    pub(crate) stale: Vec<bool>,
    pub(crate) left_out: Vec<bool>,
    pub(crate) next_row_id: bool,
}

impl Findings {
    /// The confirmed findings, in the order rows, value files, order tables, left-over
    /// tables, counters, log records left out.
    pub(crate) fn confirmed(&self, confirmed: &Confirmed) -> Vec<Finding> {
        let held = |flags: &[bool], i: usize| flags.get(i).copied().unwrap_or(false);
        let mut out = Vec::new();
        for (i, row) in self.rows.iter().enumerate() {
            if held(&confirmed.rows, i) {
                out.push(row.finding());
            }
        }
        for (i, orphan) in self.orphans.iter().enumerate() {
            if held(&confirmed.orphans, i) {
                out.push(orphan.finding());
            }
        }
        let none = Vec::new();
        for (i, finding) in self.tables.iter().enumerate() {
            let strays = confirmed.strays.get(i).unwrap_or(&none);
            let missing = confirmed.missing.get(i).unwrap_or(&none);
            out.extend(table_finding(finding, strays, missing));
        }
        for (i, table) in self.stale.iter().enumerate() {
            if held(&confirmed.stale, i) {
                out.push(Finding::LeftOverTable {
                    table: table.name().to_owned(),
                    policy: self.policy,
                    tag_index: self.tag_index,
                });
            }
        }
        let c = &self.counters;
        if c.count_wrong() {
            out.push(Finding::Counter {
                counter: Counter::Count,
                stored: c.count,
                found: c.rows,
            });
        }
        if c.volume_wrong() {
            out.push(Finding::Counter {
                counter: Counter::Volume,
                stored: c.volume,
                found: c.decodable_volume,
            });
        }
        if confirmed.next_row_id {
            out.push(Finding::Counter {
                counter: Counter::NextRowId,
                stored: c.next_row_id,
                found: c.max_row_id,
            });
        }
        for (i, record) in self.left_out.iter().enumerate() {
            if held(&confirmed.left_out, i) {
                out.push(record.finding());
            }
        }
        out
    }
}

/// The finding about an order table, if any of its strays or missing rows held.
fn table_finding(finding: &TableFinding, strays: &[bool], missing: &[bool]) -> Option<Finding> {
    let stray_count = strays.iter().filter(|held| **held).count() as u64;
    let missing_count = missing.iter().filter(|held| **held).count() as u64;
    if stray_count == 0 && missing_count == 0 {
        return None;
    }
    let first_stray = finding
        .strays
        .iter()
        .zip(strays)
        .find(|(_, held)| **held)
        .map(|((_, key), _)| key.clone());
    Some(Finding::OrderTable {
        table: finding.table.name().to_owned(),
        strays: stray_count,
        first_stray,
        missing: missing_count,
    })
}
