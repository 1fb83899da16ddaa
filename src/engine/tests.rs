//! Unit tests of the store: durability levels and stored settings.
use super::*;
use crate::format::schema::DEFAULT_DISK;
use crate::settings::Durability;

/// What the cache's opener hands in: the operations' culling.
const AFTER_WRITE: AfterWrite = crate::ops::cull::cull_after_write;

/// The encoded key `"k"` (the log leaves out records whose key does not decode).
fn key_k() -> Vec<u8> {
    crate::key::Key::from("k").encode().unwrap()
}

/// A new row of an 8-byte integer value, every byte `byte`.
fn int_row(w: &mut dyn RowWriter, byte: u8) -> Result<Row> {
    let now = w.now();
    Ok(Row {
        row_id: w.next_row_id()?,
        store_time: now,
        expire_time: 0,
        access_time: now,
        access_count: 0,
        kind: crate::format::value::ValueKind::Int,
        packed: false,
        size: 8,
        crc32: crc32fast::hash(&[byte; 8]),
        tag: None,
        full_key: None,
        place: crate::format::row::ValuePlace::Inline(vec![byte; 8]),
    })
}

fn put_one(store: &Store) {
    store
        .write(|w| {
            let row = int_row(w, 0)?;
            w.put(&key_k(), &row, None)
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
        AFTER_WRITE,
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
    let unsynced = Store::open(
        other.path(),
        &[Setting::Durability(Durability::NoSync)],
        Settings::default(),
        DEFAULT_DISK,
        AFTER_WRITE,
    )
    .unwrap();
    put_one(&unsynced);
    assert_eq!(unsynced.sync_count(), 0);
}

#[test]
fn the_stored_durability_applies_when_reopened_without_an_override() {
    let dir = tempfile::tempdir().unwrap();
    let s = &[Setting::Durability(Durability::Sync)];
    drop(
        Store::open(
            dir.path(),
            s,
            Settings::default(),
            DEFAULT_DISK,
            AFTER_WRITE,
        )
        .unwrap(),
    );
    let reopened = Store::open(
        dir.path(),
        &[],
        Settings::default(),
        DEFAULT_DISK,
        AFTER_WRITE,
    )
    .unwrap();
    assert_eq!(reopened.settings().durability, Durability::Sync);
    put_one(&reopened);
    assert!(reopened.sync_count() > 0);
}

#[test]
fn a_panic_inside_redb_is_corrupted_and_the_handle_it_happened_in_is_never_used_again() {
    let paths = [WritePath::Logged, WritePath::Direct];
    for write_path in paths.into_iter().filter(|p| p.is_available()) {
        let dir = tempfile::tempdir().unwrap();
        let overrides = [Setting::WritePath(write_path)];
        let store = Store::open(
            dir.path(),
            &overrides,
            Settings::default(),
            DEFAULT_DISK,
            AFTER_WRITE,
        )
        .unwrap();
        put_one(&store);
        let first: *const Database = store.first.database().unwrap();
        // As redb does on a damaged page: a panic in the middle of a call.
        let used = std::cell::Cell::new(None);
        let result = store.read_healing(|db| -> Result<()> {
            used.set(Some(db as *const Database));
            panic!("entered unreachable code");
        });
        assert_eq!(used.get(), Some(first));
        match result {
            Err(Error::Corrupted(msg)) => {
                assert!(
                    msg.message().contains("cache.redb") && msg.message().contains("unreachable"),
                    "{msg}"
                );
            }
            other => panic!("{write_path:?}: {other:?}"),
        }
        assert!(store.first.is_poisoned());
        // Every later operation runs on a new handle, and the data is all there.
        let later = store.read_healing(|db| Ok(db as *const Database)).unwrap();
        assert_ne!(
            later, first,
            "{write_path:?}: the poisoned handle was used again"
        );
        assert!(store.live_row(&key_k(), 0, false).unwrap().is_some());
        put_one(&store);
    }
}

#[test]
fn a_panic_of_the_callers_code_inside_an_operation_goes_on_unwinding_and_poisons_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        &[],
        Settings::default(),
        DEFAULT_DISK,
        AFTER_WRITE,
    )
    .unwrap();
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.write(|_| -> Result<()> { crate::caller::run(|| panic!("the caller's own panic")) })
    }));
    let payload = unwound.expect_err("the caller's panic reaches the caller");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"the caller's own panic")
    );
    assert!(!store.first.is_poisoned());
    // A panic of redb's after it is still contained.
    let result = store.read_healing(|_| -> Result<()> { panic!("inside redb") });
    assert!(matches!(result, Err(Error::Corrupted(_))), "{result:?}");
}

/// A store on the logged path (with a 5 s lock timeout) at `durability` in a fresh
/// directory, if this platform has that path.
fn logged_store(durability: Durability) -> Option<(tempfile::TempDir, Store)> {
    if !crate::settings::WritePath::Logged.is_available() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = Settings {
        timeout: std::time::Duration::from_secs(5),
        write_path: crate::settings::WritePath::Logged,
        durability,
        ..Settings::default()
    };
    let store = Store::open(dir.path(), &[], base, DEFAULT_DISK, AFTER_WRITE).unwrap();
    Some((dir, store))
}

/// A count inside a transaction (whose thread holds the write lock) while another holder
/// of the checkpoint lock is mid-commit (the counters' seqlock odd for longer than a reader
/// waits before recovering) waits the commit out: it must not ask for the write lock its own
/// thread holds, which would wait until the timeout.
#[test]
fn a_count_inside_a_transaction_waits_out_a_checkpoint_commit_without_taking_the_lock() {
    let Some((_dir, store)) = logged_store(Durability::Normal) else {
        return;
    };
    put_one(&store);
    let Engine::Logged(logged) = &store.engine else {
        panic!("the logged write path was asked for");
    };
    let overlay = logged.overlay();
    let held = overlay.try_checkpoint_lock().unwrap().unwrap();
    let odd = overlay.counters_begin();
    std::thread::scope(|s| {
        let counting = s.spawn(|| {
            store.write(|_| {
                let _inside = store.enter_transact();
                store.count()
            })
        });
        // Long past the 5 ms a reader waits before it recovers.
        std::thread::sleep(std::time::Duration::from_millis(200));
        overlay.counters_end(odd);
        drop(held);
        assert_eq!(counting.join().unwrap().unwrap(), 1);
    });
}

/// A write that culls (and so reads the volume) while another holder of the checkpoint lock
/// is mid-commit (the counters' seqlock odd) does not wait for that commit when its snapshot
/// was opened before the commit began: that snapshot's volume plus the lanes' deltas is the
/// volume, which the write reads without waiting. Ended after, the commit must find the
/// write already done.
#[test]
fn a_write_reads_the_volume_from_its_snapshot_instead_of_waiting_for_a_checkpoint_commit() {
    let Some((_dir, store)) = logged_store(Durability::Normal) else {
        return;
    };
    put_one(&store);
    // A snapshot of the current epoch, cached while no commit is under way.
    assert_eq!(store.count().unwrap(), 1);
    let Engine::Logged(logged) = &store.engine else {
        panic!("the logged write path was asked for");
    };
    let overlay = logged.overlay();
    let held = overlay.try_checkpoint_lock().unwrap().unwrap();
    let odd = overlay.counters_begin();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            put_one_unsettled(&store);
            done.send(()).unwrap();
        });
        // Generous: the write takes microseconds unless it waits for the commit.
        let waited = finished.recv_timeout(std::time::Duration::from_secs(20));
        overlay.counters_end(odd);
        drop(held);
        assert!(
            waited.is_ok(),
            "the write waited for the checkpoint's commit to end"
        );
    });
    assert_eq!(store.count().unwrap(), 1);
}

/// As [`put_one`], as a store that culls, without the checkpoint after it.
fn put_one_unsettled(store: &Store) {
    store
        .write(|w| {
            let row = int_row(w, 1)?;
            let old = w.get(&key_k())?;
            // A store where Python culls: the write reads the volume.
            w.note_insert();
            w.put(&key_k(), &row, old.as_ref())
        })
        .unwrap();
}

/// A writer reading `len` or `volume` from a snapshot older than a checkpoint's commit, at
/// any step of the checkpoint's publishing of that commit ([`Overlay::publish_applied`]),
/// either adds the lanes' deltas to the snapshot's counter or is told to read again: never
/// the old counter without the deltas the commit folded in.
#[test]
fn a_writer_reading_the_counters_mid_publish_sees_them_whole() {
    use crate::engine::log::shm::{Shm, Word};
    // (No checkpoint for the log's age at this level: this thread's is the only one.)
    let Some((dir, store)) = logged_store(Durability::NoSync) else {
        return;
    };
    put_one(&store);
    let k2 = crate::key::Key::from("k2").encode().unwrap();
    store
        .write(|w| {
            let row = int_row(w, 2)?;
            w.put(&k2, &row, None)
        })
        .unwrap();
    // The database's view before the commit (one entry; the log holds the second), and
    // the shared words through a mapping of its own, as another process sees them.
    let snap = store.with_database(Snapshot::open).unwrap();
    assert_eq!(snap.meta(META_COUNT).unwrap(), 1);
    let other = Shm::open(dir.path()).unwrap();
    let (epoch, seq) = (other.get(Word::Epoch), other.get(Word::CounterSeq));
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let record = std::rc::Rc::clone(&seen);
    crate::testing::midpoint::on("publish-applied", move || {
        let delta = log::deltas_before_commit(&other, META_COUNT, epoch, Some(seq));
        record.borrow_mut().push(delta);
    });
    store.checkpoint().unwrap();
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1, "the checkpoint published one commit");
    assert!(
        matches!(seen[0], None | Some(1)),
        "mid-publish, a reader of the old snapshot (count 1) was told to add {:?}",
        seen[0]
    );
    assert_eq!(store.count().unwrap(), 2);
}
