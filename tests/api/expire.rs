//! Expiry, as Python diskcache 5.6.3 has it. Guards against an expired entry still being
//! returned by any read (`get`, `get_entry`, `get_reader`, `contains`) or acted on by a write
//! (`pop`, `touch`, `add`, `incr`, `delete`); against `len` and iteration disagreeing (both
//! count an expired entry until it is removed); against a write that stores a value (`set`,
//! `add`, `incr` of a new key, `push`) leaving expired entries in place (it removes up to
//! `cull_limit` of them, soonest first, in the same operation; on both write paths, in
//! transactions, and across processes); and against an expired entry's value file, or its
//! emptied folders, outliving it. Timing is kept loose: entries expire after 1 ms and the
//! tests sleep 20 ms; nothing asserts that an entry is still alive after a short time. Tests
//! about reads of expired entries turn culling off (`cull_limit` 0), so that no write removes
//! them first.
//!
//! A negative control (`src/testing/sabotage.rs`) must make tests here fail
//! (`scripts/negative_controls.sh writes-keep-expired`): under it writes leave expired entries
//! in place.

use crate::common;

use common::keys_of;

use std::io::Cursor;
use std::thread::sleep;
use std::time::{Duration, SystemTime};

use diskcache::{Cache, Error, FanoutCache, Key, SetOptions, Setting, Side, WritePath};

const SHORT: Duration = Duration::from_millis(1);
const PAUSE: Duration = Duration::from_millis(20);

fn short() -> SetOptions {
    SetOptions::default().expire(SHORT)
}

/// A cache whose writes remove no expired entries (`cull_limit` 0).
fn no_cull(dir: &std::path::Path) -> Cache {
    Cache::builder().cull_limit(0).open(dir).unwrap()
}

fn paths() -> impl Iterator<Item = WritePath> {
    [WritePath::Logged, WritePath::Direct]
        .into_iter()
        .filter(|p| p.is_available())
}

fn sorted_keys(cache: &Cache, reverse: bool) -> Vec<Key> {
    cache
        .keys_sorted(reverse)
        .unwrap()
        .collect::<diskcache::Result<_>>()
        .unwrap()
}

fn ints(range: impl Iterator<Item = i64>) -> Vec<Key> {
    range.map(Key::from).collect()
}

#[test]
fn an_expired_entry_is_invisible_to_every_read_but_iteration_yields_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = no_cull(dir.path());
    cache.set("before", 0).unwrap();
    cache.set_with("gone", "value", short().tag("t")).unwrap();
    cache.set("after", 0).unwrap();
    sleep(PAUSE);
    assert_eq!(cache.get::<String>("gone").unwrap(), None);
    assert_eq!(cache.get_entry::<String>("gone").unwrap(), None);
    assert!(cache.get_reader("gone").unwrap().is_none());
    assert!(!cache.contains("gone").unwrap());
    // As Python's `__iter__`: every stored key until it is removed, expired or not.
    assert_eq!(
        keys_of(&cache),
        vec![Key::from("before"), Key::from("gone"), Key::from("after")]
    );
}

#[test]
fn len_counts_expired_entries_until_they_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let cache = no_cull(dir.path());
    for i in 0..10 {
        cache.set_with(i, i, short()).unwrap();
    }
    cache.set("live", 1).unwrap();
    sleep(PAUSE);
    assert_eq!(cache.len().unwrap(), 11);
    assert!(cache.volume().unwrap() > 0);
    let mut all = ints(0..10);
    all.push(Key::from("live"));
    assert_eq!(keys_of(&cache), all);
    // Deleting or popping an expired key finds nothing and leaves it (as Python's delete and
    // pop, which match only unexpired rows); removing them brings the count down.
    assert!(!cache.delete(0).unwrap());
    assert_eq!(cache.pop::<i64>(1).unwrap(), None);
    assert_eq!(cache.len().unwrap(), 11);
    assert_eq!(cache.expire().unwrap(), 10);
    assert_eq!(cache.len().unwrap(), 1);
    assert_eq!(cache.clear().unwrap(), 1);
    assert_eq!(cache.len().unwrap(), 0);
    assert_eq!(cache.volume().unwrap(), 0);
}

#[test]
fn delete_of_an_expired_entry_returns_false_and_leaves_it_for_expire() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set_with(0, 0, short()).unwrap();
    sleep(PAUSE);
    assert!(!cache.delete(0).unwrap());
    assert_eq!(cache.len().unwrap(), 1);
    assert_eq!(cache.expire().unwrap(), 1);
    assert_eq!(cache.len().unwrap(), 0);
    assert_eq!(cache.volume().unwrap(), 0);
}

#[test]
fn pop_of_an_expired_entry_is_none_and_leaves_it_for_expire() {
    let dir = tempfile::tempdir().unwrap();
    let cache = no_cull(dir.path());
    cache.set_with("beta", 456, short().tag("green")).unwrap();
    sleep(PAUSE);
    assert_eq!(cache.pop::<i64>("beta").unwrap(), None);
    assert_eq!(cache.len().unwrap(), 1);
    cache.set_with("gamma", 1, short()).unwrap();
    sleep(PAUSE);
    assert_eq!(cache.pop_entry::<i64>("gamma").unwrap(), None);
    assert_eq!(cache.len().unwrap(), 2);
    assert_eq!(cache.expire().unwrap(), 2);
    assert_eq!(cache.len().unwrap(), 0);
}

#[test]
fn peekitem_removes_the_expired_entries_it_passes_as_python_does() {
    let dir = tempfile::tempdir().unwrap();
    let cache = no_cull(dir.path());
    cache.set("first", 1).unwrap();
    cache.set_with("a", 2, short()).unwrap();
    cache.set_with("b", 3, short()).unwrap();
    sleep(PAUSE);
    assert_eq!(cache.len().unwrap(), 3);
    assert_eq!(
        cache.peekitem::<i64>(true).unwrap(),
        Some(("first".into(), 1))
    );
    assert_eq!(cache.len().unwrap(), 1);
    assert_eq!(cache.expire().unwrap(), 0);
}

#[test]
fn touch_of_an_expired_entry_returns_false_and_does_not_revive_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set_with(0, 0, short()).unwrap();
    sleep(PAUSE);
    assert!(!cache.touch(0, None).unwrap());
    assert!(!cache.touch(0, Some(Duration::from_secs(60))).unwrap());
    assert_eq!(cache.get::<i64>(0).unwrap(), None);
    assert!(!cache.contains(0).unwrap());
}

#[test]
fn touch_can_make_a_live_entry_expire_soon() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache
        .set_with(0, 0, SetOptions::default().expire(Duration::from_secs(60)))
        .unwrap();
    assert!(cache.touch(0, Some(SHORT)).unwrap());
    sleep(PAUSE);
    assert!(!cache.contains(0).unwrap());
    assert_eq!(cache.get::<i64>(0).unwrap(), None);
}

#[test]
fn add_over_an_expired_key_succeeds_and_drops_the_old_expire_time_and_tag() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    assert!(cache.add(1, 1, short().tag("old")).unwrap());
    sleep(PAUSE);
    assert!(cache.add(1, 2, SetOptions::default()).unwrap());
    let entry = cache.get_entry::<i64>(1).unwrap().unwrap();
    assert_eq!((entry.value, entry.expire_time, entry.tag), (2, None, None));
    assert_eq!(cache.len().unwrap(), 1);
    assert!(!cache.add(1, 3, SetOptions::default()).unwrap());
    assert_eq!(cache.get::<i64>(1).unwrap(), Some(2));
}

#[test]
fn set_over_an_expired_key_makes_it_live_again() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set("a", 0).unwrap();
    cache.set_with("b", 0, short()).unwrap();
    cache.set("c", 0).unwrap();
    sleep(PAUSE);
    cache.set("b", 1).unwrap();
    assert_eq!(
        cache.get_entry::<i64>("b").unwrap().unwrap().expire_time,
        None
    );
    assert_eq!(cache.len().unwrap(), 3);
    let mut keys = keys_of(&cache);
    keys.sort();
    assert_eq!(keys, ["a", "b", "c"].map(Key::from).to_vec());
}

#[test]
fn incr_on_an_expired_key_starts_again_from_the_default() {
    // python-diskcache's test_incr and test_incr_update_keyerror.
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set_with("key", 100, short().tag("t")).unwrap();
    sleep(PAUSE);
    assert!(matches!(
        cache.incr("key", 1, None),
        Err(Error::KeyNotFound)
    ));
    assert_eq!(cache.incr("key", 1, Some(0)).unwrap(), 1);
    let entry = cache.get_entry::<i64>("key").unwrap().unwrap();
    assert_eq!((entry.value, entry.expire_time, entry.tag), (1, None, None));
    assert_eq!(cache.len().unwrap(), 1);

    cache.set_with("d", 100, short()).unwrap();
    sleep(PAUSE);
    assert_eq!(cache.decr("d", 1, Some(0)).unwrap(), -1);
}

#[test]
fn an_entry_with_a_long_expiry_stays_visible() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache
        .set_with(
            0,
            0,
            SetOptions::default().expire(Duration::from_secs(3600)),
        )
        .unwrap();
    sleep(PAUSE);
    assert_eq!(cache.get::<i64>(0).unwrap(), Some(0));
    assert!(cache.contains(0).unwrap());
}

#[test]
fn a_zero_expiry_is_expired_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache
        .set_with(0, 0, SetOptions::default().expire(Duration::ZERO))
        .unwrap();
    assert_eq!(cache.get::<i64>(0).unwrap(), None);
    assert!(!cache.contains(0).unwrap());
    assert_eq!(cache.len().unwrap(), 1);
}

#[test]
fn a_huge_expiry_saturates_instead_of_overflowing() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    for (k, ttl) in [
        (0, Duration::MAX),
        (1, Duration::from_secs(u64::MAX)),
        (2, Duration::from_secs(100 * 365 * 24 * 3600)),
    ] {
        cache
            .set_with(k, k, SetOptions::default().expire(ttl))
            .unwrap();
        let entry = cache.get_entry::<i64>(k).unwrap().unwrap();
        assert_eq!(entry.value, k);
        assert!(entry.expire_time.unwrap() > SystemTime::now());
        assert!(cache.touch(k, Some(ttl)).unwrap());
    }
}

#[test]
fn an_expired_value_file_is_deleted_when_its_entry_is_replaced_or_removed() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .min_file_size(1024)
        .cull_limit(0)
        .open(dir.path())
        .unwrap();
    let big = vec![1u8; 4096];
    let vals = |c: &Cache| common::files_ending_with(c.directory(), ".val").len();

    cache.set_with("add", &big, short()).unwrap();
    cache.set_with("delete", &big, short()).unwrap();
    cache.set_with("pop", &big, short()).unwrap();
    cache.set_with("incr", &big, short()).unwrap();
    cache
        .set_reader("reader", Cursor::new(big.clone()), short())
        .unwrap();
    assert_eq!(vals(&cache), 5);
    sleep(PAUSE);
    assert!(cache.get_reader("reader").unwrap().is_none());
    // Expired but not yet removed: the files are still there.
    assert_eq!(vals(&cache), 5);

    assert!(cache.add("add", 1, SetOptions::default()).unwrap());
    assert_eq!(vals(&cache), 4);
    // Delete and pop find nothing and leave the expired entries (and their files) alone.
    assert!(!cache.delete("delete").unwrap());
    assert_eq!(cache.pop::<Vec<u8>>("pop").unwrap(), None);
    assert_eq!(vals(&cache), 4);
    assert_eq!(cache.incr("incr", 1, Some(0)).unwrap(), 1);
    assert_eq!(vals(&cache), 3);
    assert_eq!(cache.clear().unwrap(), 5);
    assert_eq!(vals(&cache), 0);
    // As Python's `Disk.remove`: the emptied `ab/cd` folders went with the files.
    assert_eq!(value_folders(cache.directory()), Vec::<String>::new());
}

/// The two-level value file folders (`ab`, `ab/cd`) under `dir`.
fn value_folders(dir: &std::path::Path) -> Vec<String> {
    let is_hex2 = |name: &str| name.len() == 2 && name.bytes().all(|b| b.is_ascii_hexdigit());
    let mut out = Vec::new();
    for top in std::fs::read_dir(dir).unwrap() {
        let top = top.unwrap();
        let name = top.file_name().to_string_lossy().into_owned();
        if top.file_type().unwrap().is_dir() && is_hex2(&name) {
            out.push(name.clone());
            for sub in std::fs::read_dir(top.path()).unwrap() {
                out.push(format!(
                    "{name}/{}",
                    sub.unwrap().file_name().to_string_lossy()
                ));
            }
        }
    }
    out
}

#[test]
fn len_and_iteration_agree_on_expired_entries_until_expire_removes_them() {
    // Python diskcache's tutorial: cull_limit 0, ten keys set with expire=1e-9.
    for path in paths() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::builder()
            .write_path(path)
            .cull_limit(0)
            .open(dir.path())
            .unwrap();
        let tiny = SetOptions::default().expire(Duration::from_nanos(1));
        for i in 0..10 {
            cache.set_with(i, i, tiny.clone()).unwrap();
        }
        sleep(PAUSE);
        assert_eq!(cache.len().unwrap(), 10, "{path:?}");
        assert_eq!(keys_of(&cache), ints(0..10), "{path:?}");
        assert_eq!(sorted_keys(&cache, false), ints(0..10), "{path:?}");
        assert_eq!(sorted_keys(&cache, true), ints((0..10).rev()), "{path:?}");
        assert!((0..10).all(|i| cache.get::<i64>(i).unwrap().is_none()));
        assert!((0..10).all(|i| !cache.contains(i).unwrap()));
        assert_eq!(cache.expire().unwrap(), 10, "{path:?}");
        assert_eq!(cache.len().unwrap(), 0, "{path:?}");
        assert_eq!(keys_of(&cache), Vec::<Key>::new(), "{path:?}");
    }
}

#[test]
fn a_fanout_cache_iterates_expired_keys_as_len_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FanoutCache::builder()
        .shards(4)
        .cull_limit(0)
        .open(dir.path())
        .unwrap();
    for i in 0..20 {
        cache.set_with(i, i, short()).unwrap();
    }
    sleep(PAUSE);
    let mut keys: Vec<Key> = cache
        .keys()
        .unwrap()
        .collect::<diskcache::Result<_>>()
        .unwrap();
    keys.sort();
    assert_eq!(keys, ints(0..20));
    assert_eq!(cache.len().unwrap(), 20);
    assert_eq!(cache.expire().unwrap(), 20);
    assert_eq!(cache.len().unwrap(), 0);
}

/// A cache on `path` with `cull_limit`, holding `n` expired entries, keys 0..n (key i
/// expiring before key i+1), written in one transaction (one clock reading: none has expired
/// when its cull runs). With `checkpointed`, the entries are in the database; else (on the
/// logged path) still only in the log.
fn with_expired(
    dir: &std::path::Path,
    path: WritePath,
    n: i64,
    cull_limit: u64,
    checkpointed: bool,
) -> Cache {
    let cache = Cache::builder()
        .write_path(path)
        .cull_limit(cull_limit)
        .open(dir)
        .unwrap();
    cache.reset(Setting::CullLimit(cull_limit)).unwrap();
    cache
        .transact(|tx| {
            for i in 0..n {
                let micros = 1000 + 10 * u64::try_from(i).unwrap();
                let opts = SetOptions::default().expire(Duration::from_micros(micros));
                tx.set_with(i, i, opts)?;
            }
            Ok(())
        })
        .unwrap();
    if checkpointed {
        cache.checkpoint().unwrap();
    }
    sleep(PAUSE);
    cache
}

#[test]
fn a_write_removes_up_to_cull_limit_expired_entries_soonest_first() {
    for path in paths() {
        for checkpointed in [false, true] {
            let at = format!("{path:?}, checkpointed: {checkpointed}");
            let dir = tempfile::tempdir().unwrap();
            let cache = with_expired(dir.path(), path, 15, 10, checkpointed);
            assert_eq!(cache.len().unwrap(), 15, "{at}");
            cache.set("x", 1).unwrap();
            // Ten removed, the soonest to expire first: keys 0..10.
            assert_eq!(cache.len().unwrap(), 6, "{at}");
            assert!(cache.add("y", 1, SetOptions::default()).unwrap());
            assert_eq!(cache.len().unwrap(), 2, "{at}");
            assert_eq!(
                keys_of(&cache),
                vec![Key::from("x"), Key::from("y")],
                "{at}"
            );
            assert_eq!(cache.check(false).unwrap().len(), 0, "{at}");
        }
    }
}

#[test]
fn only_writes_that_store_as_python_culls_remove_expired_entries() {
    for path in paths() {
        let dir = tempfile::tempdir().unwrap();
        let cache = with_expired(dir.path(), path, 3, 10, false);
        cache.set_with("n", 1, SetOptions::default()).unwrap();
        assert_eq!(cache.len().unwrap(), 1, "{path:?}: set culls");

        let cache = with_expired(dir.path(), path, 3, 10, false);
        // Python's delete, touch, pop and incr of a live key do not cull.
        assert!(!cache.delete("absent").unwrap());
        assert!(cache.touch("n", None).unwrap());
        assert_eq!(cache.incr("n", 1, None).unwrap(), 2);
        assert_eq!(cache.pop::<i64>("absent").unwrap(), None);
        assert_eq!(cache.len().unwrap(), 4, "{path:?}");
        // incr of a new key stores it, and culls.
        assert_eq!(cache.incr("m", 1, Some(0)).unwrap(), 1);
        assert_eq!(cache.len().unwrap(), 2, "{path:?}: incr of a new key culls");

        let cache = with_expired(dir.path(), path, 3, 10, false);
        assert_eq!(cache.len().unwrap(), 5);
        cache
            .push(7, None, Side::Back, SetOptions::default())
            .unwrap();
        assert_eq!(cache.len().unwrap(), 3, "{path:?}: push culls");

        // cull_limit 0 turns it off.
        let cache = with_expired(dir.path(), path, 3, 0, false);
        cache.set("o", 1).unwrap();
        assert_eq!(cache.len().unwrap(), 7, "{path:?}");
    }
}

#[test]
fn a_transaction_culls_as_its_operations_would_and_only_if_it_commits() {
    for path in paths() {
        let dir = tempfile::tempdir().unwrap();
        let cache = with_expired(dir.path(), path, 7, 2, false);
        // A rolled-back transaction removes nothing.
        let failed: diskcache::Result<()> = cache.transact(|tx| {
            tx.set("a", 1)?;
            Err(Error::InvalidArgument("roll back".into()))
        });
        assert!(failed.is_err());
        assert_eq!(cache.len().unwrap(), 7, "{path:?}");
        // Two stores: up to two times cull_limit expired entries go, in the same commit.
        cache
            .transact(|tx| {
                tx.set("a", 1)?;
                tx.set("b", 1)?;
                Ok(())
            })
            .unwrap();
        assert_eq!(cache.len().unwrap(), 7 + 2 - 4, "{path:?}");
        let mut keys = keys_of(&cache);
        keys.sort();
        assert_eq!(
            keys,
            vec![4.into(), 5.into(), 6.into(), "a".into(), "b".into()],
            "{path:?}"
        );
    }
}

/// The child test that sets expired entries for
/// [`a_write_removes_the_expired_entries_another_process_wrote`].
const EXPIRED_CHILD: &str = common::child::role!(child_sets_expired_entries);

#[test]
#[ignore = "child role: started by its parent test"]
fn child_sets_expired_entries() {
    let Some((dir, _)) = common::child::child_env(EXPIRED_CHILD) else {
        return;
    };
    let cache = Cache::open(&dir).unwrap();
    // One transaction, one clock reading: none of them has expired when its cull runs.
    cache
        .transact(|tx| {
            for i in 0..5 {
                tx.set_with(i, i, short())?;
            }
            Ok(())
        })
        .unwrap();
    common::child::tell_parent("set");
    common::child::wait_for_file(&dir.join("done"));
}

#[test]
fn a_write_removes_the_expired_entries_another_process_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder().cull_limit(3).open(dir.path()).unwrap();
    cache.set("first", 0).unwrap();
    let mut child = common::child::Proc::spawn(EXPIRED_CHILD, dir.path(), 0);
    child.expect("set");
    sleep(PAUSE);
    assert_eq!(cache.len().unwrap(), 6);
    cache.set("mine", 0).unwrap();
    assert_eq!(cache.len().unwrap(), 4);
    cache.set("again", 0).unwrap();
    assert_eq!(cache.len().unwrap(), 3);
    std::fs::write(dir.path().join("done"), b"").unwrap();
    child.finish();
    let mut keys = keys_of(&cache);
    keys.sort();
    assert_eq!(keys, vec!["again".into(), "first".into(), "mine".into()]);
}
