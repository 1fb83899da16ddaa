//! Long keys (encoded longer than `MAX_KEY_BYTES`) whose index keys collide: with the test
//! hook that makes every long key hash to zero, long keys sharing their first 16 KiB share
//! one range of counters. Guards against a lookup stopping at the first counter (or at a gap
//! a delete left) and so missing or overwriting another key, against an insert not taking the
//! first free counter, and against a ninth colliding key being stored over another instead of
//! refused. The hook is process-wide: the test runs alone in its binary (`tests/common/alone.rs`)
//! and turns it off again when it ends.

use crate::common;

use diskcache::{Cache, Error, Key, WritePath};

/// A key of 20 000 bytes: the same first 16 KiB for every `n`, then `n`.
fn colliding(n: u32) -> Key {
    let mut text = "c".repeat(20_000);
    text.push_str(&n.to_string());
    Key::from(text)
}

/// The hook that makes long keys collide, on until dropped (a failed test turns it off too,
/// for the tests that run after it in this process).
struct Colliding;

impl Colliding {
    fn on() -> Colliding {
        diskcache::key::collide_long_key_hashes(true);
        Colliding
    }
}

impl Drop for Colliding {
    fn drop(&mut self) {
        diskcache::key::collide_long_key_hashes(false);
    }
}

#[test]
fn colliding_long_keys_take_counters_in_turn_on_both_write_paths() {
    let _alone = common::alone::take();
    let _colliding = Colliding::on();
    for path in [WritePath::Logged, WritePath::Direct] {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::builder().write_path(path).open(dir.path()).unwrap();
        for n in 0..8 {
            cache.set(colliding(n), n).unwrap();
        }
        // Every counter is taken: a ninth key with the same prefix and hash is refused.
        assert!(
            matches!(cache.set(colliding(8), 8), Err(Error::InvalidArgument(_))),
            "{path:?}"
        );
        assert_eq!(cache.get::<u32>(colliding(8)).unwrap(), None);
        for n in 0..8 {
            assert_eq!(cache.get::<u32>(colliding(n)).unwrap(), Some(n), "{path:?}");
        }
        // A delete leaves a gap; the keys after it are still found, and the next insert takes
        // the gap.
        assert!(cache.delete(colliding(2)).unwrap());
        assert!(!cache.contains(colliding(2)).unwrap());
        for n in [0, 1, 3, 7] {
            assert_eq!(cache.get::<u32>(colliding(n)).unwrap(), Some(n), "{path:?}");
        }
        cache.set(colliding(8), 8).unwrap();
        cache.set(colliding(7), 70).unwrap();
        assert_eq!(cache.get::<u32>(colliding(8)).unwrap(), Some(8));
        assert_eq!(cache.get::<u32>(colliding(7)).unwrap(), Some(70));
        assert_eq!(cache.len().unwrap(), 8);
        let keys: Vec<Key> = cache
            .keys()
            .unwrap()
            .collect::<diskcache::Result<_>>()
            .unwrap();
        let expected: Vec<Key> = [0, 1, 3, 4, 5, 6, 7, 8].map(colliding).to_vec();
        assert!(keys == expected, "{path:?}: insertion order");
        // Sorted: by counter (the hashes are equal), so the new key sits in the gap.
        let sorted: Vec<Key> = cache
            .keys_sorted(false)
            .unwrap()
            .collect::<diskcache::Result<_>>()
            .unwrap();
        let by_counter: Vec<Key> = [0, 1, 8, 3, 4, 5, 6, 7].map(colliding).to_vec();
        assert!(sorted == by_counter, "{path:?}: sorted order");
        cache
            .transact(|tx| {
                assert!(tx.delete(colliding(0))?);
                tx.set(colliding(9), 9)?;
                assert_eq!(tx.get::<u32>(colliding(9))?, Some(9));
                assert_eq!(tx.get::<u32>(colliding(1))?, Some(1));
                Ok(())
            })
            .unwrap();
        assert_eq!(cache.get::<u32>(colliding(9)).unwrap(), Some(9));
        assert!(!cache.contains(colliding(0)).unwrap());
        cache.checkpoint().unwrap();
        assert!(cache.check(false).unwrap().is_empty(), "{path:?}");
    }
}
