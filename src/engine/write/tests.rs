//! Unit tests of [`WriteCtx::apply_changes`]: the rows a batch leaves, and how full it packs
//! the leaves of `entries`.

use std::collections::BTreeMap;

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::*;
use crate::format::row::ValuePlace;
use crate::format::schema::ORDER_INSERT;
use crate::format::value::ValueKind;

/// A row of a 100-byte value, every byte `byte`.
fn row(row_id: u64, byte: u8) -> Row {
    Row {
        row_id,
        store_time: 1_700_000_000_000_000 + row_id,
        expire_time: 0,
        access_time: 1_700_000_000_000_000 + row_id,
        access_count: 0,
        kind: ValueKind::Bytes,
        packed: false,
        size: 100,
        crc32: crc32fast::hash(&[byte; 100]),
        tag: None,
        full_key: None,
        place: ValuePlace::Inline(vec![byte; 100]),
    }
}

/// Applies `changes` (sorted here) in one committed transaction.
fn apply(db: &Database, mut changes: Vec<(Vec<u8>, Option<Row>)>) {
    changes.sort_by(|a, b| a.0.cmp(&b.0));
    let txn = db.begin_write().unwrap();
    {
        let mut w = WriteCtx::open(&txn).unwrap();
        w.apply_changes(&changes).unwrap();
        w.finish().unwrap();
    }
    txn.commit().unwrap();
}

/// The `entries` table, decoded.
fn stored(db: &Database) -> BTreeMap<Vec<u8>, Row> {
    let txn = db.begin_write().unwrap();
    let table = txn.open_table(ENTRIES).unwrap();
    let out = table
        .iter()
        .unwrap()
        .map(|item| {
            let (k, v) = item.unwrap();
            (k.value().to_vec(), Row::decode(v.value()).unwrap())
        })
        .collect();
    drop(table);
    txn.abort().unwrap();
    out
}

#[test]
fn batches_of_new_stored_and_removed_keys_leave_what_each_change_alone_would() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("db")).unwrap();
    let mut model = BTreeMap::new();
    let key = |i: u64| format!("k{i:05}").into_bytes();
    // Every third key stored first; then batches whose new keys have 0 to 4 stored keys
    // between them, among re-sets and removals of stored ones.
    let first: Vec<_> = (0..3000)
        .step_by(3)
        .map(|i| (key(i), Some(row(i + 1, 1))))
        .collect();
    for (k, r) in &first {
        model.insert(k.clone(), r.clone().unwrap());
    }
    apply(&db, first);
    let mut id = 10_000;
    for step in 1..=5u64 {
        let mut batch = Vec::new();
        for i in (0..3000).step_by(usize::try_from(step).unwrap()) {
            let k = key(i);
            id += 1;
            let change = match (model.contains_key(&k), i % 7) {
                (true, 0) => None,
                (true, 1) => Some(row(model[&k].row_id, 2)),
                (true, _) => continue,
                (false, _) => Some(row(id, 3)),
            };
            match &change {
                Some(r) => model.insert(k.clone(), r.clone()),
                None => model.remove(&k),
            };
            batch.push((k, change));
        }
        apply(&db, batch);
        assert_eq!(stored(&db), model, "after the batch of step {step}");
    }
    let txn = db.begin_write().unwrap();
    let insert = txn.open_table(ORDER_INSERT).unwrap();
    assert_eq!(insert.len().unwrap(), model.len() as u64);
    for (k, r) in &model {
        assert_eq!(insert.get(r.row_id).unwrap().unwrap().value(), k.as_slice());
    }
}

#[test]
fn keys_arriving_between_the_stored_ones_fill_the_leaves() {
    // `key-0`, `key-1`, … in batches: within a batch in key order, each run of new keys
    // lands between two stored keys (`key-1000`, then `key-10000`…`key-10009`, then
    // `key-1001`), which inserting each key alone leaves about half full.
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("db")).unwrap();
    let n = 30_000u64;
    for start in (0..n).step_by(4096) {
        let batch = (start..n.min(start + 4096))
            .map(|i| (format!("key-{i}").into_bytes(), Some(row(i + 1, 7))))
            .collect();
        apply(&db, batch);
    }
    let txn = db.begin_read().unwrap();
    let stats = txn.open_table(ENTRIES).unwrap().stats().unwrap();
    let fill = stats.stored_bytes() as f64 / (stats.leaf_pages() * 4096) as f64;
    assert!(fill > 0.85, "leaves {fill:.2} full");
}

#[test]
fn new_keys_out_of_order_are_each_inserted_all_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("db")).unwrap();
    apply(&db, vec![(b"b".to_vec(), Some(row(1, 1)))]);
    let changes: Vec<_> = [b"d", b"a", b"c", b"e"]
        .iter()
        .zip(2..)
        .map(|(k, id)| (k.to_vec(), Some(row(id, 2))))
        .collect();
    let txn = db.begin_write().unwrap();
    {
        let mut w = WriteCtx::open(&txn).unwrap();
        assert_eq!(w.apply_changes(&changes).unwrap(), Some(5));
        w.finish().unwrap();
    }
    txn.commit().unwrap();
    let keys: Vec<Vec<u8>> = stored(&db).into_keys().collect();
    assert_eq!(keys, [b"a", b"b", b"c", b"d", b"e"].map(|k| k.to_vec()));
}
