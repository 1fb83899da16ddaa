//! The independent reader of the format (`tests/spec_reader/read_v1.py`, written from
//! `format-spec/` alone): the tables of a cache's `cache.redb` dumped as JSON with the redb
//! crate (not through this crate), and the reader run over them and the cache directory.

use std::path::Path;
use std::process::{Command, Stdio};

use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableHandle};
use serde_json::{Value, json};

/// Opens `cache.redb` in `dir` with the redb crate.
pub fn open_redb(dir: &Path) -> redb::Database {
    redb::Database::builder()
        .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
        .create(dir.join("cache.redb"))
        .unwrap()
}

/// Every table of `cache.redb`, read with the redb crate alone (not through diskcache), as the
/// JSON `tests/spec_reader/read_v1.py` reads.
pub fn dump(dir: &Path) -> Value {
    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
    const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
    const SETTINGS: TableDefinition<&str, u64> = TableDefinition::new("settings");
    const INFO: TableDefinition<&str, &str> = TableDefinition::new("info");
    const ENTRIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("entries");
    const ORDER_INSERT: TableDefinition<u64, &[u8]> = TableDefinition::new("order_insert");
    const ORDER_TAG: TableDefinition<(&[u8], u64), &[u8]> = TableDefinition::new("order_tag");
    let db = open_redb(dir);
    let txn = db.begin_read().unwrap();
    let tables: Vec<String> = txn
        .list_tables()
        .unwrap()
        .map(|t| t.name().to_owned())
        .collect();
    let mut out = serde_json::Map::new();
    out.insert("tables".into(), json!(tables));
    for (name, def) in [("meta", META), ("settings", SETTINGS)] {
        let rows: serde_json::Map<String, Value> = txn
            .open_table(def)
            .unwrap()
            .iter()
            .unwrap()
            .map(|r| {
                let (k, v) = r.unwrap();
                (k.value().to_owned(), json!(v.value()))
            })
            .collect();
        out.insert(name.into(), Value::Object(rows));
    }
    let info: serde_json::Map<String, Value> = match txn.open_table(INFO) {
        Ok(t) => t
            .iter()
            .unwrap()
            .map(|r| {
                let (k, v) = r.unwrap();
                (k.value().to_owned(), json!(v.value()))
            })
            .collect(),
        Err(redb::TableError::TableDoesNotExist(_)) => serde_json::Map::new(),
        Err(e) => panic!("{e}"),
    };
    out.insert("info".into(), Value::Object(info));
    let entries: Vec<Value> = txn
        .open_table(ENTRIES)
        .unwrap()
        .iter()
        .unwrap()
        .map(|r| {
            let (k, v) = r.unwrap();
            json!([hex(k.value()), hex(v.value())])
        })
        .collect();
    out.insert("entries".into(), json!(entries));
    let insert: Vec<Value> = txn
        .open_table(ORDER_INSERT)
        .unwrap()
        .iter()
        .unwrap()
        .map(|r| {
            let (k, v) = r.unwrap();
            json!([k.value(), hex(v.value())])
        })
        .collect();
    out.insert("order_insert".into(), json!(insert));
    for name in [
        "order_expire",
        "order_store",
        "order_access",
        "order_frequency",
    ] {
        let def: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new(name);
        if let Ok(table) = txn.open_table(def) {
            let rows: Vec<Value> = table
                .iter()
                .unwrap()
                .map(|r| {
                    let (k, v) = r.unwrap();
                    let (a, b) = k.value();
                    json!([[a, b], hex(v.value())])
                })
                .collect();
            out.insert(name.into(), json!(rows));
        }
    }
    if let Ok(table) = txn.open_table(ORDER_TAG) {
        let rows: Vec<Value> = table
            .iter()
            .unwrap()
            .map(|r| {
                let (k, v) = r.unwrap();
                let (tag, id) = k.value();
                json!([[hex(tag), id], hex(v.value())])
            })
            .collect();
        out.insert("order_tag".into(), json!(rows));
    }
    Value::Object(out)
}

/// Runs `tests/spec_reader/read_v1.py` on the cache in `dir`, its tables dumped with redb;
/// `None` if `python3` is not installed (the test is skipped, saying so, or fails in CI).
pub fn run(dir: &Path) -> Option<std::process::Output> {
    if Command::new("python3").arg("--version").output().is_err() {
        super::skip::missing("python3 is not installed, so the spec reader cannot run");
        return None;
    }
    let dump = dump(dir);
    let mut child = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spec_reader/read_v1.py"))
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    serde_json::to_writer(child.stdin.take().unwrap(), &dump).unwrap();
    Some(child.wait_with_output().unwrap())
}
