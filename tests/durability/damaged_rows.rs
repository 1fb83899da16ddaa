//! Damage inside the database: rows of the `entries` table edited with redb directly while the
//! cache is closed (a truncated row, an unknown row version, a flipped byte of an inline value,
//! a value file path that points outside the cache). Guards against damaged bytes being
//! returned as data or causing a panic instead of `Error::Corrupted`, against a hostile file
//! path being followed, and against damage to one entry spreading to the others.

use std::io::Read;
use std::path::Path;

use diskcache::{Cache, Error, Key};
use redb::{ReadableDatabase, TableDefinition};

const ENTRIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("entries");

/// Offset of the value bytes (or the value file path) in a row without a tag.
const UNTAGGED_BODY: usize = 60;

fn database(dir: &Path) -> redb::Database {
    redb::Database::builder()
        .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
        .create(dir.join("cache.redb"))
        .unwrap()
}

/// Rewrites the stored row of `key` in the closed cache in `dir` with `edit`.
fn edit_row(dir: &Path, key: impl Into<Key>, edit: impl FnOnce(&mut Vec<u8>)) {
    let key = key.into().encode().unwrap();
    let db = database(dir);
    let mut row = {
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(ENTRIES).unwrap();
        table.get(key.as_slice()).unwrap().unwrap().value().to_vec()
    };
    edit(&mut row);
    let txn = db.begin_write().unwrap();
    txn.open_table(ENTRIES)
        .unwrap()
        .insert(key.as_slice(), row.as_slice())
        .unwrap();
    txn.commit().unwrap();
}

#[test]
fn a_truncated_row_reads_as_corrupted_and_the_other_entries_stay_readable() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set("a", 1).unwrap();
    cache.set("b", 2).unwrap();
    cache.close().unwrap();
    edit_row(dir.path(), "a", |row| row.truncate(10));

    let cache = Cache::open(dir.path()).unwrap();
    assert!(matches!(cache.get::<i64>("a"), Err(Error::Corrupted(_))));
    assert!(matches!(
        cache.get_entry::<i64>("a"),
        Err(Error::Corrupted(_))
    ));
    assert!(matches!(cache.get_reader("a"), Err(Error::Corrupted(_))));
    assert!(matches!(cache.contains("a"), Err(Error::Corrupted(_))));
    assert!(matches!(cache.pop::<i64>("a"), Err(Error::Corrupted(_))));
    assert!(matches!(
        cache.incr("a", 1, Some(0)),
        Err(Error::Corrupted(_))
    ));
    assert_eq!(cache.get::<i64>("b").unwrap(), Some(2));
    assert_eq!(cache.incr("b", 1, None).unwrap(), 3);
    cache.set("c", 3).unwrap();
    assert_eq!(cache.get::<i64>("c").unwrap(), Some(3));
    assert_eq!(cache.len().unwrap(), 3);
}

#[test]
fn a_row_of_an_unknown_version_reads_as_corrupted() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set("a", "text").unwrap();
    cache.close().unwrap();
    edit_row(dir.path(), "a", |row| row[0] = 99);
    let cache = Cache::open(dir.path()).unwrap();
    let err = cache.get::<String>("a").unwrap_err();
    assert!(matches!(err, Error::Corrupted(_)));
    assert!(err.to_string().contains("99"), "{err}");
}

#[test]
fn a_flipped_byte_of_an_inline_value_fails_its_crc32() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set("text", "hello world").unwrap();
    cache.set("n", 41).unwrap();
    cache.close().unwrap();
    edit_row(dir.path(), "text", |row| row[UNTAGGED_BODY + 3] ^= 0x01);
    edit_row(dir.path(), "n", |row| row[UNTAGGED_BODY] ^= 0x01);

    let cache = Cache::open(dir.path()).unwrap();
    assert!(matches!(
        cache.get::<String>("text"),
        Err(Error::Corrupted(_))
    ));
    assert!(matches!(
        cache.pop::<String>("text"),
        Err(Error::Corrupted(_))
    ));
    let mut reader = cache.get_reader("text").unwrap().unwrap();
    let mut out = Vec::new();
    let err = reader.read_to_end(&mut out).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);

    assert!(matches!(cache.get::<i64>("n"), Err(Error::Corrupted(_))));
    assert!(matches!(cache.incr("n", 1, None), Err(Error::Corrupted(_))));
}

#[test]
fn a_value_file_path_leading_out_of_the_cache_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("secret.val");
    std::fs::write(&outside, b"not the cache's").unwrap();
    let cache_dir = dir.path().join("cache");
    let cache = Cache::builder().min_file_size(16).open(&cache_dir).unwrap();
    cache.set("k", vec![1u8; 15]).unwrap();
    cache.set("f", vec![1u8; 64]).unwrap();
    cache.close().unwrap();
    edit_row(&cache_dir, "f", |row| {
        row.truncate(UNTAGGED_BODY);
        row.extend_from_slice(b"../secret.val");
    });

    let cache = Cache::open(&cache_dir).unwrap();
    assert!(matches!(
        cache.get::<Vec<u8>>("f"),
        Err(Error::Corrupted(_))
    ));
    assert!(matches!(cache.get_reader("f"), Err(Error::Corrupted(_))));
    assert!(matches!(
        cache.pop::<Vec<u8>>("f"),
        Err(Error::Corrupted(_))
    ));
    assert!(outside.exists());
    assert_eq!(cache.get::<Vec<u8>>("k").unwrap(), Some(vec![1u8; 15]));
}

#[test]
fn keys_reports_a_damaged_row_and_goes_on_to_the_next_key() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    for k in ["a", "b", "c"] {
        cache.set(k, 0).unwrap();
    }
    cache.close().unwrap();
    edit_row(dir.path(), "b", |row| row.truncate(10));

    let cache = Cache::open(dir.path()).unwrap();
    let (keys, errors): (Vec<_>, Vec<_>) = cache.keys().unwrap().partition(Result::is_ok);
    assert_eq!(errors.len(), 1);
    assert!(matches!(errors[0], Err(Error::Corrupted(_))));
    let keys: Vec<Key> = keys.into_iter().map(Result::unwrap).collect();
    assert_eq!(keys, vec![Key::from("a"), Key::from("c")]);
}
