//! The API as a Rust user expects it: values by value or by reference, unsigned and wide
//! integer keys (out of range is an error, never a wrapped key), get-or-insert that computes a
//! missing value once across threads, and transactions and memoized functions that carry the
//! caller's own error type. Guards against a second computation of a key while the first is
//! under way, against an error of the caller's being stored or swallowed, and against a
//! rolled-back transaction leaving anything behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use diskcache::{Cache, ErrorKind, FanoutCache, MemoOptions};

fn cache() -> (tempfile::TempDir, Cache) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    (dir, cache)
}

/// An application's error type, with the cache's errors inside it.
#[derive(Debug)]
enum AppError {
    Cache(diskcache::Error),
    Refused(&'static str),
}

impl From<diskcache::Error> for AppError {
    fn from(e: diskcache::Error) -> Self {
        AppError::Cache(e)
    }
}

#[test]
fn values_are_taken_by_value_or_by_reference_and_read_back_the_same() {
    let (_dir, cache) = cache();
    cache.set("by value", 42).unwrap();
    let answer = 42;
    #[allow(
        clippy::needless_borrows_for_generic_args,
        reason = "the point of the test"
    )]
    cache.set("by reference", &answer).unwrap();
    cache.set("owned text", String::from("text")).unwrap();
    cache.set("borrowed text", "text").unwrap();
    cache.set("bytes", vec![1u8, 2, 3]).unwrap();
    assert_eq!(cache.get::<i64>("by value").unwrap(), Some(42));
    assert_eq!(cache.get::<i64>("by reference").unwrap(), Some(42));
    assert_eq!(
        cache.get::<String>("owned text").unwrap().as_deref(),
        Some("text")
    );
    assert_eq!(
        cache.get::<String>("borrowed text").unwrap().as_deref(),
        Some("text")
    );
    assert_eq!(cache.get::<Vec<u8>>("bytes").unwrap(), Some(vec![1, 2, 3]));
}

#[test]
fn unsigned_keys_in_the_i64_range_are_integer_keys_and_larger_ones_are_refused() {
    let (_dir, cache) = cache();
    cache.set(7u64, "seven").unwrap();
    cache.set(8usize, "eight").unwrap();
    assert_eq!(cache.get::<String>(7i64).unwrap().as_deref(), Some("seven"));
    assert_eq!(cache.get::<String>(8u8).unwrap().as_deref(), Some("eight"));
    let largest = i64::MAX as u64;
    cache.set(largest, "largest").unwrap();
    assert_eq!(
        cache.get::<String>(i64::MAX).unwrap().as_deref(),
        Some("largest")
    );
    for refused in [
        cache.set(largest + 1, "wrapped?"),
        cache.set(u64::MAX, "wrapped?"),
        cache.set(i128::MIN, "wrapped?"),
    ] {
        assert_eq!(refused.unwrap_err().kind(), ErrorKind::InvalidArgument);
    }
    assert!(cache.get::<String>(u64::MAX).is_err());
    assert_eq!(
        cache.len().unwrap(),
        3,
        "nothing was stored under a wrapped key"
    );
}

#[test]
fn threads_that_miss_the_same_key_at_once_compute_it_once() {
    let (_dir, cache) = cache();
    let calls = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (cache, calls) = (cache.clone(), calls.clone());
            std::thread::spawn(move || {
                cache
                    .get_or_insert_with("slow", || {
                        calls.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(100));
                        String::from("computed")
                    })
                    .unwrap()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), "computed");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "computed more than once");
    assert_eq!(
        cache
            .get_or_insert_with("slow", || String::from("again"))
            .unwrap(),
        "computed"
    );
}

#[test]
fn a_failed_computation_is_the_callers_error_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fanout = FanoutCache::builder().shards(3).open(dir.path()).unwrap();
    let (_dir, cache) = cache();
    let refused: Result<i64, AppError> =
        cache.get_or_try_insert_with("k", || Err(AppError::Refused("no")));
    assert!(matches!(refused, Err(AppError::Refused("no"))));
    assert!(!cache.contains("k").unwrap());
    let refused: Result<i64, AppError> =
        fanout.get_or_try_insert_with("k", || Err(AppError::Refused("no")));
    assert!(matches!(refused, Err(AppError::Refused("no"))));
    assert!(!fanout.contains("k").unwrap());
    assert_eq!(
        fanout
            .get_or_try_insert_with("k", || Ok::<_, AppError>(5))
            .unwrap(),
        5
    );
    assert_eq!(fanout.get::<i64>("k").unwrap(), Some(5));
    // The cache's own errors reach the caller inside its type.
    let bad_key: Result<i64, AppError> = cache.get_or_try_insert_with(u64::MAX, || Ok(1));
    assert!(matches!(bad_key, Err(AppError::Cache(e)) if e.kind() == ErrorKind::InvalidArgument));
}

#[test]
fn a_transaction_that_fails_with_the_callers_error_rolls_back_and_returns_it() {
    let (_dir, cache) = cache();
    cache.set("a", 1).unwrap();
    let failed: Result<(), AppError> = cache.try_transact(|tx| {
        tx.set("a", 2)?;
        tx.set("b", 3)?;
        Err(AppError::Refused("changed my mind"))
    });
    assert!(matches!(failed, Err(AppError::Refused("changed my mind"))));
    assert_eq!(cache.get::<i64>("a").unwrap(), Some(1));
    assert!(!cache.contains("b").unwrap());
    let done: Result<diskcache::Number, AppError> =
        cache.try_transact(|tx| Ok(tx.incr("a", 1, None)?));
    assert_eq!(done.unwrap(), 2);

    let dir = tempfile::tempdir().unwrap();
    let fanout = FanoutCache::builder().shards(4).open(dir.path()).unwrap();
    let failed: Result<(), AppError> = fanout.try_transact(|tx| {
        for i in 0..20 {
            tx.set(i, i)?;
        }
        Err(AppError::Refused("all or nothing"))
    });
    assert!(matches!(failed, Err(AppError::Refused(_))));
    assert_eq!(fanout.len().unwrap(), 0);
}

#[test]
fn a_memoized_function_s_errors_are_returned_as_they_are_and_never_stored() {
    let (_dir, cache) = cache();
    let calls = AtomicUsize::new(0);
    let half = cache.try_memoize("half", MemoOptions::default(), |n: &i64| {
        calls.fetch_add(1, Ordering::SeqCst);
        if n % 2 == 0 {
            Ok(n / 2)
        } else {
            Err(AppError::Refused("odd"))
        }
    });
    assert_eq!(half.call(&10).unwrap(), 5);
    assert_eq!(half.call(&10).unwrap(), 5);
    assert!(matches!(half.call(&3), Err(AppError::Refused("odd"))));
    assert!(matches!(half.call(&3), Err(AppError::Refused("odd"))));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the result was stored, the errors not"
    );
    assert_eq!(cache.len().unwrap(), 1);
}
