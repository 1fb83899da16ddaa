//! python-diskcache v5.6.3 `tests/test_deque.py`: 33 Python tests, 31 ported here.
//!
//! Not mapped (2), with the reason:
//! - `test_compare`: Python-only protocol (rich comparison of a deque with a dict or a list);
//!   a Rust caller compares the items it reads.
//! - `test_rotate_typeerror`: Python-only (`rotate(0.5)`): the step count is an `i64` here.
//!
//! Python's mocked caches raise `KeyError` for an item that another process deleted between
//! the deque's look at its keys and its read; the real analogue here is an item deleted
//! through the deque's cache, which the next operation heals over (`index_positive`,
//! `index_negative`, `index_out_of_range`, `iter_keyerror`, `reversed_keyerror`,
//! `remove_keyerror`, `rotate_indexerror`, `rotate_indexerror_negative`). `test_state`
//! pickles the deque: ported as what the pickle carries, the directory and the `maxlen`.

use diskcache::{Deque, Error, Key};

type R = diskcache::Result<()>;

/// The `deque` fixture: a fresh deque in a temporary directory.
fn deque<T: serde::Serialize + serde::de::DeserializeOwned>() -> (tempfile::TempDir, Deque<T>) {
    let dir = tempfile::tempdir().unwrap();
    let deque = Deque::open(dir.path()).unwrap();
    (dir, deque)
}

fn items<T: serde::Serialize + serde::de::DeserializeOwned>(deque: &Deque<T>) -> Vec<T> {
    deque.iter().collect::<diskcache::Result<_>>().unwrap()
}

fn chars(s: &str) -> Vec<String> {
    s.chars().map(String::from).collect()
}

/// The cache keys of the deque's items, front to back.
fn item_keys<T: serde::Serialize + serde::de::DeserializeOwned>(deque: &Deque<T>) -> Vec<Key> {
    crate::common::keys_of(deque.cache())
}

// test_init
#[test]
fn init() -> R {
    let sequence = chars("abcde");
    let deque = Deque::<String>::temp()?;
    deque.extend(sequence.clone())?;
    assert_eq!(items(&deque), sequence);

    let dir = tempfile::tempdir()?;
    let directory = dir.path().join("deque");
    let deque = Deque::<String>::open(&directory)?;
    deque.extend(sequence.clone())?;
    assert_eq!(deque.directory(), directory.as_path());
    assert_eq!(items(&deque), sequence);
    let other = Deque::<String>::open(&directory)?;
    assert_eq!(items(&other), items(&deque));
    Ok(())
}

// test_getsetdel
#[test]
fn getsetdel() -> R {
    let (_dir, deque) = deque::<serde_json::Value>();
    let sequence = chars("abcde");
    assert_eq!(deque.len()?, 0);
    for key in &sequence {
        deque.push_back(&serde_json::json!(key))?;
    }
    assert_eq!(deque.len()?, sequence.len() as u64);
    for (index, key) in sequence.iter().enumerate() {
        assert_eq!(deque.get(index as i64)?, serde_json::json!(key));
    }
    for index in 0..sequence.len() as i64 {
        deque.set(index, &serde_json::json!(index))?;
    }
    for index in 0..sequence.len() as i64 {
        assert_eq!(deque.get(index)?, serde_json::json!(index));
    }
    for index in 0..sequence.len() {
        if index % 2 == 1 {
            deque.remove_at(-1)?;
        } else {
            deque.remove_at(0)?;
        }
    }
    assert_eq!(deque.len()?, 0);
    Ok(())
}

// test_append
#[test]
fn append() -> R {
    let (_dir, deque) = deque::<String>();
    let deque = deque.with_maxlen(3)?;
    for item in chars("abcde") {
        deque.push_back(&item)?;
    }
    assert_eq!(items(&deque), chars("cde"));
    Ok(())
}

// test_appendleft
#[test]
fn appendleft() -> R {
    let (_dir, deque) = deque::<String>();
    let deque = deque.with_maxlen(3)?;
    for item in chars("abcde") {
        deque.push_front(&item)?;
    }
    assert_eq!(items(&deque), chars("edc"));
    Ok(())
}

/// A deque of 100, 101, 102 with the items at `gone` (indices) deleted through its cache,
/// as another process would.
fn with_deleted(gone: &[usize]) -> (tempfile::TempDir, Deque<i64>) {
    let (dir, deque) = deque::<i64>();
    deque.extend([100, 101, 102]).unwrap();
    let keys = item_keys(&deque);
    for &i in gone {
        assert!(deque.cache().delete(&keys[i]).unwrap());
    }
    (dir, deque)
}

// test_index_positive
#[test]
fn index_positive() -> R {
    let (_dir, deque) = with_deleted(&[0]);
    assert_eq!(deque.get(0)?, 101);
    Ok(())
}

// test_index_negative
#[test]
fn index_negative() -> R {
    let (_dir, deque) = with_deleted(&[2]);
    assert_eq!(deque.get(-1)?, 101);
    Ok(())
}

// test_index_out_of_range
#[test]
fn index_out_of_range() {
    let (_dir, deque) = with_deleted(&[0, 1, 2]);
    assert!(matches!(deque.get(0), Err(Error::InvalidArgument(_)))); // IndexError
}

// test_iter_keyerror
#[test]
fn iter_keyerror() {
    let (_dir, deque) = with_deleted(&[0]);
    assert_eq!(items(&deque), [101, 102]);
}

// test_reversed
#[test]
fn reversed() -> R {
    let (_dir, deque) = deque::<String>();
    let sequence = chars("abcde");
    deque.extend(sequence.clone())?;
    let reversed: Vec<String> = deque.iter().rev().collect::<diskcache::Result<_>>()?;
    assert_eq!(reversed, sequence.into_iter().rev().collect::<Vec<_>>());
    Ok(())
}

// test_reversed_keyerror
#[test]
fn reversed_keyerror() -> R {
    let (_dir, deque) = with_deleted(&[2]);
    let reversed: Vec<i64> = deque.iter().rev().collect::<diskcache::Result<_>>()?;
    assert_eq!(reversed, [101, 100]);
    Ok(())
}

// test_state (the pickle carries the directory and maxlen: a deque opened on the same
// directory with the same maxlen is equal)
#[test]
fn state() -> R {
    let (dir, deque) = deque::<String>();
    let sequence = chars("abcde");
    deque.extend(sequence.clone())?;
    assert_eq!(items(&deque), sequence);
    let deque = deque.with_maxlen(3)?;
    assert_eq!(items(&deque), sequence[2..]);
    let values = Deque::<String>::open(dir.path())?.with_maxlen(3)?;
    assert_eq!(items(&values), sequence[2..]);
    assert_eq!(values.maxlen(), Some(3));
    Ok(())
}

// test_indexerror_negative
#[test]
fn indexerror_negative() {
    let (_dir, deque) = deque::<i64>();
    assert!(matches!(deque.get(-1), Err(Error::InvalidArgument(_))));
}

// test_indexerror
#[test]
fn indexerror() {
    let (_dir, deque) = deque::<i64>();
    assert!(matches!(deque.get(0), Err(Error::InvalidArgument(_))));
}

// test_repr (Python's repr is `Deque(directory=...)`; the Debug form names the directory)
#[test]
fn repr() {
    let (dir, deque) = deque::<i64>();
    let repr = format!("{deque:?}");
    assert!(repr.starts_with("Deque {"), "{repr}");
    assert!(repr.contains(&format!("{:?}", dir.path())), "{repr}");
}

// test_copy (`copy()` is a new temporary deque with the same items)
#[test]
fn copy() -> R {
    let (_dir, deque) = deque::<String>();
    let sequence = chars("abcde");
    deque.extend(sequence.clone())?;
    let temp = Deque::<String>::temp()?;
    temp.extend(deque.iter().collect::<diskcache::Result<Vec<_>>>()?)?;
    assert_ne!(temp.directory(), deque.directory());
    assert_eq!(items(&deque), sequence);
    assert_eq!(items(&temp), sequence);
    Ok(())
}

// test_count
#[test]
fn count() -> R {
    let (_dir, deque) = deque::<String>();
    deque.extend(chars("abbcccddddeeeee"))?;
    for (index, value) in "abcde".chars().enumerate() {
        assert_eq!(deque.count(value.to_string().as_str())?, index as u64 + 1);
    }
    Ok(())
}

// test_extend
#[test]
fn extend() -> R {
    let (_dir, deque) = deque::<String>();
    deque.extend(chars("abcde"))?;
    assert_eq!(items(&deque), chars("abcde"));
    Ok(())
}

// test_extendleft
#[test]
fn extendleft() -> R {
    let (_dir, deque) = deque::<String>();
    deque.extend_front(chars("abcde"))?;
    assert_eq!(items(&deque), chars("edcba"));
    Ok(())
}

// test_pop
#[test]
fn pop() -> R {
    let (_dir, deque) = deque::<String>();
    let mut sequence = chars("abcde");
    deque.extend(sequence.clone())?;
    while let Some(last) = sequence.pop() {
        assert_eq!(deque.pop_back()?, Some(last));
    }
    Ok(())
}

// test_pop_indexerror (an empty deque pops `None`)
#[test]
fn pop_indexerror() -> R {
    let (_dir, deque) = deque::<String>();
    assert_eq!(deque.pop_back()?, None);
    Ok(())
}

// test_popleft
#[test]
fn popleft() -> R {
    let (_dir, deque) = deque::<String>();
    let sequence = chars("abcde");
    deque.extend(sequence.clone())?;
    for value in sequence {
        assert_eq!(deque.pop_front()?, Some(value));
    }
    Ok(())
}

// test_popleft_indexerror
#[test]
fn popleft_indexerror() -> R {
    let (_dir, deque) = deque::<String>();
    assert_eq!(deque.pop_front()?, None);
    Ok(())
}

// test_remove
#[test]
fn remove() -> R {
    let (_dir, deque) = deque::<String>();
    deque.extend(chars("abaca"))?;
    assert!(deque.remove("a")?);
    assert_eq!(items(&deque), chars("baca"));
    assert!(deque.remove("a")?);
    assert_eq!(items(&deque), chars("bca"));
    assert!(deque.remove("a")?);
    assert_eq!(items(&deque), chars("bc"));
    Ok(())
}

// test_remove_valueerror (a value not there: `false`)
#[test]
fn remove_valueerror() -> R {
    let (_dir, deque) = deque::<i64>();
    assert!(!deque.remove(&0)?);
    Ok(())
}

// test_remove_keyerror (Python's mock: the first item vanishes under the search, the match is
// the next one)
#[test]
fn remove_keyerror() -> R {
    let (_dir, deque) = deque::<i64>();
    deque.extend([100, 100, 100])?;
    let first = item_keys(&deque)[0].clone();
    assert!(deque.cache().delete(&first)?);
    assert!(deque.remove(&100)?);
    assert_eq!(items(&deque), [100]);
    Ok(())
}

// test_reverse
#[test]
fn reverse() -> R {
    let (_dir, deque) = deque::<String>();
    deque.extend(chars("abcde"))?;
    deque.reverse()?;
    assert_eq!(items(&deque), chars("edcba"));
    Ok(())
}

// test_rotate
#[test]
fn rotate() -> R {
    let (_dir, deque) = deque::<String>();
    deque.rotate(1)?;
    deque.rotate(-1)?;
    deque.extend(chars("abcde"))?;
    deque.rotate(3)?;
    assert_eq!(items(&deque), chars("cdeab"));
    Ok(())
}

// test_rotate_negative
#[test]
fn rotate_negative() -> R {
    let (_dir, deque) = deque::<String>();
    deque.extend(chars("abcde"))?;
    deque.rotate(-2)?;
    assert_eq!(items(&deque), chars("cdeab"));
    Ok(())
}

// test_rotate_indexerror (the items gone from under the deque: rotate does nothing)
#[test]
fn rotate_indexerror() -> R {
    let (_dir, deque) = with_deleted(&[0, 1, 2]);
    deque.rotate(1)?;
    assert!(items(&deque).is_empty());
    Ok(())
}

// test_rotate_indexerror_negative
#[test]
fn rotate_indexerror_negative() -> R {
    let (_dir, deque) = with_deleted(&[0, 1, 2]);
    deque.rotate(-1)?;
    assert!(items(&deque).is_empty());
    Ok(())
}

// test_peek (Python's `peek` looks at the back)
#[test]
fn peek() -> R {
    let (_dir, deque) = deque::<serde_bytes::ByteBuf>();
    let value = serde_bytes::ByteBuf::from(vec![b'x'; 100_000]);
    deque.push_back(&value)?;
    assert_eq!(deque.len()?, 1);
    assert_eq!(deque.peek_back()?.as_ref(), Some(&value));
    assert_eq!(deque.len()?, 1);
    assert_eq!(deque.peek_back()?.as_ref(), Some(&value));
    assert_eq!(deque.len()?, 1);
    Ok(())
}
