//! `Cache::transact`: guards that a transaction's operations are applied all at once or not
//! at all, on both write paths. An error from the closure must leave no trace (not even a
//! large value's file); reads inside must see the transaction's own writes; a write to the
//! cache from inside its own transaction must be refused at once instead of waiting for the
//! lock its own thread holds; a transaction of more keys than the shared log's index holds
//! must commit whole; and another process must never see a transaction half applied.
//!
//! The last is checked with a real child process (this test binary re-run as its ignored child
//! test, `tests/common/child.rs`) that runs transactions
//! setting `a` and then `b` to the same increasing number, while the parent reads `a`, `b`,
//! `a` again. The three reads are not one snapshot, but the numbers only grow, so whole
//! transactions give `a1 <= b <= a2`; one applied half-way (`a` new, `b` old) gives `b < a1`.
//! The negative control `transact-not-atomic` (`src/testing/sabotage.rs`) runs each operation as its
//! own write: `scripts/negative_controls.sh transact-not-atomic` requires both processes'
//! tests and the tests of a closure's error, panic, own reads and refused operations to fail
//! under it.

use crate::common;

use common::child::{PATIENCE, Proc, child_env};
use std::process::Stdio;
use std::time::{Duration, Instant};

use diskcache::{Cache, Error, Key, SetOptions, WritePath};

/// Values this large or larger go to their own files in these tests.
const MIN_FILE: u64 = 1024;
/// A value that goes to its own file.
const LARGE: [u8; 4096] = [7; 4096];

/// Runs `test` on a new cache of each write path this platform has.
fn on_both_paths(test: impl Fn(&Cache)) {
    let paths = [WritePath::Logged, WritePath::Direct];
    for path in paths.into_iter().filter(|p| p.is_available()) {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::builder()
            .write_path(path)
            .min_file_size(MIN_FILE)
            // A write that waited for its own thread's lock would fail the test, not hang it.
            .timeout(Duration::from_secs(5))
            .open(dir.path())
            .unwrap();
        test(&cache);
    }
}

fn value_files(cache: &Cache) -> usize {
    common::files_ending_with(cache.directory(), ".val").len()
}

#[test]
fn reads_inside_a_transaction_see_its_own_writes_and_the_cache_sees_them_after() {
    on_both_paths(|cache| {
        cache.set("old", 1).unwrap();
        let seen = cache
            .transact(|tx| {
                tx.set("new", "fresh")?;
                assert_eq!(tx.get::<String>("new")?.as_deref(), Some("fresh"));
                // The cache itself still shows the state before the transaction.
                assert_eq!(cache.get::<String>("new")?, None);
                assert!(tx.delete("old")?);
                assert!(!tx.contains("old")?);
                assert!(cache.contains("old")?);
                assert!(!tx.add("new", "other", SetOptions::default())?);
                assert!(tx.add("old", 2, SetOptions::default().tag("t"))?);
                let entry = tx.get_entry::<i64>("old")?.unwrap();
                assert_eq!((entry.value, entry.tag), (2, Some(Key::from("t"))));
                assert!(tx.touch("old", Some(Duration::from_secs(60)))?);
                assert!(tx.get_entry::<i64>("old")?.unwrap().expire_time.is_some());
                tx.set("gone", 3)?;
                assert_eq!(tx.pop::<i64>("gone")?, Some(3));
                assert_eq!(tx.pop::<i64>("gone")?, None);
                Ok("done")
            })
            .unwrap();
        assert_eq!(seen, "done");
        assert_eq!(
            cache.get::<String>("new").unwrap().as_deref(),
            Some("fresh")
        );
        let old = cache.get_entry::<i64>("old").unwrap().unwrap();
        assert_eq!((old.value, old.tag), (2, Some(Key::from("t"))));
        assert!(old.expire_time.is_some());
        assert!(!cache.contains("gone").unwrap());
        assert_eq!(cache.len().unwrap(), 2);
    });
}

#[test]
fn an_error_from_the_closure_applies_nothing_and_deletes_the_value_files_it_wrote() {
    on_both_paths(|cache| {
        cache.set("kept", 1).unwrap();
        cache.set("count", 10).unwrap();
        let volume = cache.volume().unwrap();
        let result: diskcache::Result<()> = cache.transact(|tx| {
            tx.set("new", 2)?;
            tx.set("large", &LARGE[..])?;
            tx.set_with("tagged", &LARGE[..], SetOptions::default().tag("t"))?;
            assert_eq!(value_files(cache), 2, "large values are written inside");
            assert!(tx.delete("kept")?);
            assert_eq!(tx.incr("count", 5, None)?, 15);
            Err(Error::InvalidArgument("changed my mind".into()))
        });
        assert!(
            matches!(&result, Err(Error::InvalidArgument(m)) if m == "changed my mind"),
            "{result:?}"
        );
        assert_eq!(cache.get::<i64>("kept").unwrap(), Some(1));
        assert_eq!(cache.get::<i64>("count").unwrap(), Some(10));
        assert!(!cache.contains("new").unwrap());
        assert!(!cache.contains("large").unwrap());
        assert_eq!(
            value_files(cache),
            0,
            "the rolled-back value files are deleted"
        );
        assert_eq!((cache.len().unwrap(), cache.volume().unwrap()), (2, volume));
    });
}

#[test]
fn a_panic_in_the_closure_applies_nothing_and_leaves_the_cache_usable() {
    on_both_paths(|cache| {
        cache.set("kept", 1).unwrap();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = cache.transact(|tx| -> diskcache::Result<()> {
                tx.set("large", &LARGE[..])?;
                tx.delete("kept")?;
                panic!("the closure panics");
            });
        }));
        assert!(panicked.is_err());
        assert_eq!(value_files(cache), 0);
        assert_eq!(cache.get::<i64>("kept").unwrap(), Some(1));
        assert!(!cache.contains("large").unwrap());
        cache.set("after", 2).unwrap();
        assert_eq!(cache.len().unwrap(), 2);
    });
}

#[test]
fn large_values_set_twice_or_refused_by_add_leave_one_file_each() {
    on_both_paths(|cache| {
        cache
            .transact(|tx| {
                tx.set("a", &LARGE[..])?;
                tx.set("a", &[1u8; 2048][..])?;
                assert!(!tx.add("a", &LARGE[..], SetOptions::default())?);
                tx.set("b", &LARGE[..])?;
                assert!(tx.delete("b")?);
                tx.set("c", &LARGE[..])?;
                Ok(())
            })
            .unwrap();
        assert_eq!(value_files(cache), 2);
        assert_eq!(cache.get::<Vec<u8>>("a").unwrap(), Some(vec![1; 2048]));
        assert_eq!(cache.get::<Vec<u8>>("c").unwrap(), Some(LARGE.to_vec()));
        assert!(!cache.contains("b").unwrap());
    });
}

#[test]
fn incr_inside_a_transaction_counts_on_its_own_writes_and_a_failed_operation_can_be_handled() {
    on_both_paths(|cache| {
        cache.set("text", "not a number").unwrap();
        let total = cache
            .transact(|tx| {
                assert_eq!(tx.incr("n", 1, Some(0))?, 1);
                assert_eq!(tx.incr("n", 10, None)?, 11);
                assert_eq!(tx.decr("n", 2, None)?, 9);
                // Failed operations change nothing, and the transaction goes on.
                assert!(matches!(
                    tx.incr("missing", 1, None),
                    Err(Error::KeyNotFound)
                ));
                assert!(matches!(tx.incr("text", 1, None), Err(Error::NotAnInteger)));
                assert!(matches!(tx.pop::<i64>("text"), Err(Error::Codec(_))));
                assert_eq!(tx.get::<String>("text")?.as_deref(), Some("not a number"));
                tx.get::<i64>("n").map(Option::unwrap_or_default)
            })
            .unwrap();
        assert_eq!(total, 9);
        assert_eq!(cache.get::<i64>("n").unwrap(), Some(9));
        assert!(!cache.contains("missing").unwrap());
        assert_eq!(
            cache.get::<String>("text").unwrap().as_deref(),
            Some("not a number")
        );
    });
}

#[test]
fn a_write_to_the_cache_inside_its_own_transaction_is_refused_instead_of_waiting() {
    on_both_paths(|cache| {
        let clone = cache.clone();
        let started = Instant::now();
        cache
            .transact(|tx| {
                tx.set("k", 1)?;
                let refused = |r: diskcache::Result<()>| {
                    assert!(
                        matches!(&r, Err(Error::InvalidArgument(m)) if m.contains("inside transact")),
                        "{r:?}"
                    );
                };
                refused(cache.set("k", 2));
                refused(clone.delete("k").map(|_| ()));
                refused(clone.incr("n", 1, Some(0)).map(|_| ()));
                refused(cache.transact(|_| Ok(())));
                refused(cache.clear().map(|_| ()));
                refused(
                    cache
                        .push(1, None, diskcache::Side::Back, SetOptions::default())
                        .map(|_| ()),
                );
                // Reads of the cache work, and see the state before the transaction.
                assert_eq!(clone.get::<i64>("k")?, None);
                assert_eq!(cache.len()?, 0);
                Ok(())
            })
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(cache.get::<i64>("k").unwrap(), Some(1));
        // Outside the transaction the cache writes again.
        cache.set("k", 3).unwrap();
        assert_eq!(cache.get::<i64>("k").unwrap(), Some(3));
    });
}

#[test]
fn a_transaction_of_more_keys_than_the_shared_index_holds_commits_whole() {
    // More records than a lane gathers (`checkpoint_records`, at most 16384): a block this
    // large goes to redb instead of the log.
    const KEYS: i64 = 17_000;
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache
        .transact(|tx| {
            for i in 0..KEYS {
                tx.set(i, i)?;
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(cache.len().unwrap(), KEYS as u64);
    assert_eq!(cache.get::<i64>(KEYS - 1).unwrap(), Some(KEYS - 1));
    cache.set("after", 1).unwrap();
    assert_eq!(cache.len().unwrap(), KEYS as u64 + 1);
}

#[test]
fn iteration_inside_a_transaction_is_refused_on_the_logged_path_only() {
    on_both_paths(|cache| {
        cache.set("x", 1).unwrap();
        let logged = cache.settings().write_path == WritePath::Logged;
        cache
            .transact(|_| {
                let keys: diskcache::Result<Vec<Key>> = cache.keys()?.collect();
                if logged {
                    // It would checkpoint the log first, under the lock the transaction holds.
                    assert!(matches!(keys, Err(Error::InvalidArgument(_))), "{keys:?}");
                } else {
                    assert_eq!(keys?, [Key::from("x")]);
                }
                Ok(())
            })
            .unwrap();
    });
}

// ----- another process never sees half a transaction ----------------------------------------

/// The child test that runs transactions while its parent reads.
const CHILD: &str =
    common::child::role!(a_transact_child_sets_a_and_b_together_when_started_by_a_parent);
/// How long the child runs transactions.
const CHILD_RUN: Duration = Duration::from_millis(1200);
/// The most transactions the child runs.
const CHILD_MAX: i64 = 20_000;

/// Child of [`watch_a_child_transact`]: for [`CHILD_RUN`], runs transactions that read `a` and
/// set `a` then `b` to one more. Without a parent (the role is ignored in the normal run) it
/// returns at once.
#[test]
#[ignore = "child role: started by its parent test"]
fn a_transact_child_sets_a_and_b_together_when_started_by_a_parent() {
    let Some((dir, _)) = child_env(CHILD) else {
        return;
    };
    let cache = Cache::open(dir).unwrap();
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < CHILD_RUN && n < CHILD_MAX {
        n = cache
            .transact(|tx| {
                let n = tx.get::<i64>("a")?.unwrap_or(0) + 1;
                tx.set("a", n)?;
                tx.set("b", n)?;
                Ok(n)
            })
            .unwrap();
    }
}

/// Reads `a`, `b`, `a` in a loop while a child runs its transactions on `path`'s cache.
fn watch_a_child_transact(path: WritePath) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder().write_path(path).open(dir.path()).unwrap();
    cache.set("a", 0).unwrap();
    cache.set("b", 0).unwrap();
    let mut child = Proc::spawn_with(CHILD, dir.path(), 0, |command| {
        command.stdout(Stdio::null());
    });
    let read = |key: &str| cache.get::<i64>(key).unwrap().unwrap();
    let started = Instant::now();
    let (mut reads, mut changes, mut last) = (0u64, 0u64, 0);
    let status = loop {
        if let Some(status) = child.try_wait() {
            break status;
        }
        assert!(started.elapsed() < PATIENCE, "the child never finished");
        let (a1, b, a2) = (read("a"), read("b"), read("a"));
        assert!(
            a1 <= b && b <= a2,
            "{path:?}: read a = {a1}, then b = {b}, then a = {a2}: a transaction was seen half \
             applied (after {reads} reads)"
        );
        reads += 1;
        changes += u64::from(a2 != last);
        last = a2;
    };
    assert!(status.success(), "the child failed: {status}");
    let (a, b) = (read("a"), read("b"));
    assert_eq!(a, b);
    // Proof that the reads overlapped the transactions, or the test proved nothing.
    assert!(
        changes > 20,
        "{path:?}: the reads saw only {changes} changes"
    );
    eprintln!("{path:?}: {a} transactions, {reads} triple reads, {changes} changes seen");
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "the logged write path is Linux's only"
)]
fn another_process_never_sees_half_a_transaction_on_the_logged_path() {
    watch_a_child_transact(WritePath::Logged);
}

#[test]
fn another_process_never_sees_half_a_transaction_on_the_direct_path() {
    watch_a_child_transact(WritePath::Direct);
}
