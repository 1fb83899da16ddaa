//! python-diskcache v5.6.3 `tests/test_index.py`: 12 Python tests, all 12 ported here.
//!
//! `test_state` pickles the index: ported as what the pickle carries, the directory (an index
//! opened on it is equal). Python's `Index(directory, mapping)`, `Index(directory,
//! mapping.items())` and `Index(directory, a=5, ...)` are one `extend` of pairs here.

use std::collections::HashMap;

use diskcache::{Index, MemoOptions};

type R = diskcache::Result<()>;

/// The `index` fixture: a fresh index of text keys and integer values.
fn index() -> (tempfile::TempDir, Index<String, i64>) {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    (dir, index)
}

fn mapping() -> Vec<(String, i64)> {
    [("a", 5), ("b", 4), ("c", 3), ("d", 2), ("e", 1)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

fn items(index: &Index<String, i64>) -> Vec<(String, i64)> {
    index.iter().collect::<diskcache::Result<_>>().unwrap()
}

fn as_map(index: &Index<String, i64>) -> HashMap<String, i64> {
    items(index).into_iter().collect()
}

// test_init
#[test]
fn init() -> R {
    let expected: HashMap<String, i64> = mapping().into_iter().collect();
    let index = Index::<String, i64>::temp()?;
    index.extend(mapping())?;
    assert_eq!(as_map(&index), expected);

    let root = tempfile::tempdir()?;
    let directory = root.path().join("index");
    let index = Index::<String, i64>::open(&directory)?;
    index.extend(mapping())?;
    assert_eq!(index.directory(), directory.as_path());
    assert_eq!(as_map(&index), expected);
    let other = Index::<String, i64>::open(&directory)?;
    assert_eq!(items(&other), items(&index));
    drop((index, other));

    std::fs::remove_dir_all(&directory)?;
    let index = Index::<String, i64>::open(&directory)?;
    index.extend(mapping())?;
    assert_eq!(as_map(&index), expected);
    assert_eq!(items(&index), mapping(), "in insertion order too");
    Ok(())
}

// test_getsetdel
#[test]
fn getsetdel() -> R {
    let (_dir, index) = index();
    assert_eq!(index.len()?, 0);
    for (num, key) in "abcde".chars().enumerate() {
        index.insert(key.to_string().as_str(), &(num as i64))?;
    }
    for (num, key) in "abcde".chars().enumerate() {
        assert_eq!(index.get(key.to_string().as_str())?, Some(num as i64));
    }
    for key in "abcde".chars() {
        assert!(index.remove(key.to_string().as_str())?);
    }
    assert_eq!(index.len()?, 0);
    Ok(())
}

// test_pop
#[test]
fn pop() -> R {
    let (_dir, index) = index();
    assert_eq!(index.len()?, 0);
    for (num, key) in "abcde".chars().enumerate() {
        index.insert(key.to_string().as_str(), &(num as i64))?;
    }
    for (key, value) in [("a", 0), ("c", 2), ("e", 4), ("b", 1), ("d", 3)] {
        assert_eq!(index.pop(key)?, Some(value));
    }
    assert_eq!(index.len()?, 0);
    Ok(())
}

// test_pop_keyerror (a missing key pops `None`)
#[test]
fn pop_keyerror() -> R {
    let (_dir, index) = index();
    assert_eq!(index.pop("a")?, None);
    Ok(())
}

// test_popitem
#[test]
fn popitem() -> R {
    let (_dir, index) = index();
    for (num, key) in "abcde".chars().enumerate() {
        index.insert(key.to_string().as_str(), &(num as i64))?;
    }
    assert_eq!(index.pop_item(true)?, Some(("e".into(), 4))); // popitem()
    assert_eq!(index.pop_item(true)?, Some(("d".into(), 3)));
    assert_eq!(index.pop_item(false)?, Some(("a".into(), 0)));
    assert_eq!(index.len()?, 2);
    Ok(())
}

// test_popitem_keyerror
#[test]
fn popitem_keyerror() -> R {
    let (_dir, index) = index();
    assert_eq!(index.pop_item(true)?, None);
    Ok(())
}

// test_setdefault
#[test]
fn setdefault() -> R {
    let (_dir, index) = index();
    assert_eq!(index.get_or_insert_with("a", || 0)?, 0);
    assert_eq!(index.get_or_insert_with("a", || 1)?, 0);
    Ok(())
}

// test_iter
#[test]
fn iter() -> R {
    let (_dir, index) = index();
    for (num, key) in "abcde".chars().enumerate() {
        index.insert(key.to_string().as_str(), &(num as i64))?;
    }
    let keys: Vec<String> = index.keys().collect::<diskcache::Result<_>>()?;
    assert_eq!(keys.len(), 5);
    for (num, key) in keys.iter().enumerate() {
        assert_eq!(index.get(key)?, Some(num as i64));
    }
    Ok(())
}

// test_reversed
#[test]
fn reversed() -> R {
    let (_dir, index) = index();
    for (num, key) in "abcde".chars().enumerate() {
        index.insert(key.to_string().as_str(), &(num as i64))?;
    }
    let keys: Vec<String> = index.keys().rev().collect::<diskcache::Result<_>>()?;
    assert_eq!(keys.len(), 5);
    for (num, key) in keys.iter().enumerate() {
        assert_eq!(index.get(key)?, Some(4 - num as i64));
    }
    Ok(())
}

// test_state (the pickle carries the directory: an index opened on it is equal)
#[test]
fn state() -> R {
    let (dir, index) = index();
    index.extend(mapping())?;
    let expected: HashMap<String, i64> = mapping().into_iter().collect();
    assert_eq!(as_map(&index), expected);
    let values = Index::<String, i64>::open(dir.path())?;
    assert_eq!(as_map(&values), expected);
    Ok(())
}

// test_memoize (Python's count of 1000 is 180 here: see core::FIB_COUNT)
#[test]
fn memoize() -> R {
    let (_dir, index) = index();
    // The memo `index.memoize` keeps; fibrec recurses through it.
    let fib = index.memoize("fibrec", MemoOptions::default(), |_: &u64| 0u128);
    let cache = index.cache();
    cache.stats(true, false)?;
    crate::core::check_memoized_fib(fib.memo(), || cache.stats(true, false).unwrap().into());
    Ok(())
}

// test_repr (Python's repr starts with `Index(`; the Debug form with `Index {`)
#[test]
fn repr() {
    let (_dir, index) = index();
    assert!(format!("{index:?}").starts_with("Index {"));
}
