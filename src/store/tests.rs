//! Unit tests of the store: durability levels and stored settings.
use super::*;
use crate::disk::DEFAULT_DISK;
use crate::settings::Durability;

fn put_one(store: &Store) {
    store
        .write(|w| {
            let id = w.next_row_id()?;
            let now = w.now();
            let row = Row {
                row_id: id,
                store_time: now,
                expire_time: 0,
                access_time: now,
                access_count: 0,
                kind: crate::value::ValueKind::Int,
                packed: false,
                size: 8,
                crc32: crc32fast::hash(&[0; 8]),
                tag: None,
                place: crate::row::ValuePlace::Inline(vec![0; 8]),
            };
            w.put(b"k", &row, None)
        })
        .unwrap();
    // The logged path commits to redb at checkpoints: force one.
    store.read_all(|_| Ok(())).unwrap();
}

#[test]
fn sync_durability_fsyncs_every_commit_and_nosync_never_does() {
    let dir = tempfile::tempdir().unwrap();
    let synced = Store::open(
        dir.path(),
        &[Setting::Durability(Durability::Sync)],
        Settings::default(),
        DEFAULT_DISK,
    )
    .unwrap();
    let before = synced.sync_count();
    put_one(&synced);
    assert!(
        synced.sync_count() > before,
        "a Sync commit must call sync_data"
    );
    drop(synced);

    let other = tempfile::tempdir().unwrap();
    let unsynced = Store::open(other.path(), &[], Settings::default(), DEFAULT_DISK).unwrap();
    put_one(&unsynced);
    assert_eq!(unsynced.sync_count(), 0);
}

#[test]
fn the_stored_durability_applies_when_reopened_without_an_override() {
    let dir = tempfile::tempdir().unwrap();
    let s = &[Setting::Durability(Durability::Sync)];
    drop(Store::open(dir.path(), s, Settings::default(), DEFAULT_DISK).unwrap());
    let reopened = Store::open(dir.path(), &[], Settings::default(), DEFAULT_DISK).unwrap();
    assert_eq!(reopened.settings().durability, Durability::Sync);
    put_one(&reopened);
    assert!(reopened.sync_count() > 0);
}
