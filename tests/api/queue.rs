//! Queues: `push`, `pull` and `peek` as diskcache's tutorial shows them. Guards against wrong
//! key numbering, sides or prefixes mixing, expired items being served, peek removing items,
//! a wrong-type pull losing its item, a full queue wrapping around or differing from Python's at
//! the ends of its range, and `push` treating a key
//! stored in a queue's range otherwise than `pull` and `peek` (and Python) do.

use crate::common;

use std::time::Duration;

use diskcache::{Cache, Error, Key, SetOptions, Side};

fn none() -> SetOptions {
    SetOptions::default()
}

#[test]
fn the_tutorial_sequence_gives_the_tutorial_results() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let key = cache.push("first", None, Side::Back, none()).unwrap();
    assert_eq!(key, Key::from(500_000_000_000_000i64));
    assert_eq!(cache.get::<String>(key).unwrap().as_deref(), Some("first"));
    cache.push("second", None, Side::Back, none()).unwrap();
    cache.push("zeroth", None, Side::Front, none()).unwrap();
    let (_, value) = cache.peek::<String>(None, Side::Front).unwrap().unwrap();
    assert_eq!(value, "zeroth");
    let (key, value) = cache.pull::<String>(None, Side::Front).unwrap().unwrap();
    assert_eq!(
        (key, value.as_str()),
        (Key::from(499_999_999_999_999i64), "zeroth")
    );
    let (key, value) = cache.pull::<String>(None, Side::Back).unwrap().unwrap();
    assert_eq!(
        (key, value.as_str()),
        (Key::from(500_000_000_000_001i64), "second")
    );
    let key = cache
        .push(1234, Some("userids"), Side::Back, none())
        .unwrap();
    assert_eq!(key, Key::from("userids-500000000000000"));
    let (key, value) = cache
        .pull::<i64>(Some("userids"), Side::Front)
        .unwrap()
        .unwrap();
    assert_eq!((key, value), (Key::from("userids-500000000000000"), 1234));
    assert_eq!(
        cache.pull::<i64>(Some("userids"), Side::Front).unwrap(),
        None
    );
    // Only "first" is left, in the unprefixed queue.
    assert_eq!(
        common::keys_of(&cache),
        vec![Key::from(500_000_000_000_000i64)]
    );
}

#[test]
fn prefixes_are_separate_queues_and_other_keys_are_not_items() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set("unrelated", 0).unwrap();
    cache.set(7, 0).unwrap(); // an integer key below the queue's range of numbers in use
    for i in 0..5 {
        cache.push(i, Some("a"), Side::Back, none()).unwrap();
        cache.push(100 + i, Some("b"), Side::Back, none()).unwrap();
    }
    let mut from_a = Vec::new();
    while let Some((_, v)) = cache.pull::<i64>(Some("a"), Side::Front).unwrap() {
        from_a.push(v);
    }
    assert_eq!(from_a, vec![0, 1, 2, 3, 4]);
    let (_, last_b) = cache.peek::<i64>(Some("b"), Side::Back).unwrap().unwrap();
    assert_eq!(last_b, 104);
    assert_eq!(cache.len().unwrap(), 7);
}

#[test]
fn pull_and_peek_skip_and_remove_expired_items_and_peek_keeps_live_ones() {
    let dir = tempfile::tempdir().unwrap();
    // Culling off: the second push must not remove the expired item first.
    let cache = Cache::builder().cull_limit(0).open(dir.path()).unwrap();
    let soon = none().expire(Duration::from_millis(1));
    cache.push("old", None, Side::Back, soon).unwrap();
    cache.push("new", None, Side::Back, none()).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(cache.len().unwrap(), 2);
    let (_, v) = cache.peek::<String>(None, Side::Front).unwrap().unwrap();
    assert_eq!(v, "new");
    assert_eq!(cache.len().unwrap(), 1); // the expired item went on the way
    let (_, v) = cache.peek::<String>(None, Side::Front).unwrap().unwrap();
    assert_eq!(v, "new");
    let (_, v) = cache.pull::<String>(None, Side::Front).unwrap().unwrap();
    assert_eq!(v, "new");
    assert!(cache.is_empty().unwrap());
}

#[test]
fn a_wrong_type_pull_keeps_the_item_and_large_items_use_value_files() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .min_file_size(1024)
        .open(dir.path())
        .unwrap();
    let big = vec![3u8; 8192];
    cache.push(&big, Some("big"), Side::Back, none()).unwrap();
    assert_eq!(common::files_ending_with(dir.path(), ".val").len(), 1);
    assert!(matches!(
        cache.pull::<String>(Some("big"), Side::Front),
        Err(Error::Codec(_))
    ));
    let (_, got) = cache
        .pull::<Vec<u8>>(Some("big"), Side::Front)
        .unwrap()
        .unwrap();
    assert_eq!(got, big);
    assert!(common::files_ending_with(dir.path(), ".val").is_empty());
}

/// Caches on every write path this platform has, in `dir`.
fn caches(dir: &std::path::Path) -> Vec<Cache> {
    [diskcache::WritePath::Logged, diskcache::WritePath::Direct]
        .into_iter()
        .filter(|p| p.is_available())
        .map(|p| {
            Cache::builder()
                .write_path(p)
                .open(dir.join(format!("{p:?}")))
                .unwrap()
        })
        .collect()
}

/// At the ends of a queue's range `push` does as Python diskcache 5.6.3 (whose results for
/// these sequences are the ones asserted): it stores one item on the range's bound (key 0,
/// `q-999999999999999`), which `pull` and `peek` do not see, and the next push there finds
/// that key stored: Python's `sqlite3.IntegrityError`, here `Error::QueueFull`, with nothing
/// stored and no wrap-around.
#[test]
fn a_queue_at_the_end_of_its_range_stores_one_item_on_the_bound_then_is_full_as_in_python() {
    let dir = tempfile::tempdir().unwrap();
    for cache in caches(dir.path()) {
        cache.set(1, "one").unwrap();
        let key = cache.push("a", None, Side::Front, none()).unwrap();
        assert_eq!(key, Key::from(0));
        let err = cache.push("b", None, Side::Front, none()).unwrap_err();
        assert!(matches!(err, Error::QueueFull(_)), "{err:?}");
        assert_eq!(err.kind(), diskcache::ErrorKind::QueueFull);
        let pulled = cache.pull::<String>(None, Side::Front).unwrap().unwrap();
        assert_eq!(pulled, (Key::from(1), "one".to_string()));
        assert_eq!(cache.peek::<String>(None, Side::Front).unwrap(), None);
        assert_eq!(cache.get::<String>(0).unwrap().as_deref(), Some("a"));
        assert_eq!(cache.len().unwrap(), 1);

        cache.set(999_999_999_999_998i64, "x").unwrap();
        let key = cache.push("z", None, Side::Back, none()).unwrap();
        assert_eq!(key, Key::from(999_999_999_999_999i64));
        let err = cache.push("zz", None, Side::Back, none()).unwrap_err();
        assert!(matches!(err, Error::QueueFull(_)), "{err:?}");
        // The other side still works.
        let key = cache.push("f", None, Side::Front, none()).unwrap();
        assert_eq!(key, Key::from(999_999_999_999_997i64));

        cache.set("q-999999999999998", 0).unwrap();
        let key = cache.push(1, Some("q"), Side::Back, none()).unwrap();
        assert_eq!(key, Key::from("q-999999999999999"));
        let err = cache.push(2, Some("q"), Side::Back, none()).unwrap_err();
        assert!(matches!(err, Error::QueueFull(_)), "{err:?}");
        let key = cache.push(3, Some("q"), Side::Front, none()).unwrap();
        assert_eq!(key, Key::from("q-999999999999997"));
        let pulled = cache.pull::<i64>(Some("q"), Side::Back).unwrap().unwrap();
        assert_eq!(pulled, (Key::from("q-999999999999998"), 0));

        cache.set("p-000000000000001", "one").unwrap();
        let key = cache.push("a", Some("p"), Side::Front, none()).unwrap();
        assert_eq!(key, Key::from("p-000000000000000"));
        let err = cache.push("b", Some("p"), Side::Front, none()).unwrap_err();
        assert!(matches!(err, Error::QueueFull(_)), "{err:?}");
        let pulled = cache.pull::<String>(Some("p"), Side::Front).unwrap();
        assert_eq!(
            pulled,
            Some((Key::from("p-000000000000001"), "one".to_string()))
        );
        assert!(cache.check(false).unwrap().is_empty());
    }
}

/// A key the caller stored in a queue's range is an item of the queue for `push`, `pull` and
/// `peek` alike, as in Python diskcache 5.6.3, whose results for this sequence are the ones
/// asserted: a float key is numbered after (`push` at the back of `500000000000000.5` gives
/// `500000000000001.5`), pulled and peeked. Where Python goes on past the range (`-0.5`), so
/// does `push`, and the next push there finds `-0.5` stored and says the queue is full (Python's
/// `IntegrityError`); where Python's `int()` fails on a named queue's key that
/// does not end in digits, `push` is an `InvalidArgument`, and `pull` still returns the key.
#[test]
fn keys_stored_in_a_queues_range_are_items_for_push_pull_and_peek_as_in_python() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let push = |v: &str, side| cache.push(v, None, side, none());
    assert_eq!(
        push("a", Side::Back).unwrap(),
        Key::from(500_000_000_000_000i64)
    );
    cache.set(500_000_000_000_000.5, "f").unwrap();
    assert_eq!(
        push("b", Side::Back).unwrap(),
        Key::from(500_000_000_000_001.5)
    );
    let back = cache.peek::<String>(None, Side::Back).unwrap().unwrap();
    assert_eq!(back, (Key::from(500_000_000_000_001.5), "b".to_string()));
    cache.set(0.1, "x").unwrap();
    cache.set(1e-300, "y").unwrap();
    let front = cache.peek::<String>(None, Side::Front).unwrap().unwrap();
    assert_eq!(front, (Key::from(1e-300), "y".to_string()));
    let pulled = cache.pull::<String>(None, Side::Front).unwrap().unwrap();
    assert_eq!(pulled, (Key::from(1e-300), "y".to_string()));
    let pulled = cache.pull::<String>(None, Side::Front).unwrap().unwrap();
    assert_eq!(pulled, (Key::from(0.1), "x".to_string()));
    assert_eq!(
        push("z", Side::Front).unwrap(),
        Key::from(499_999_999_999_999i64)
    );
    cache.set(2.5, "w").unwrap();
    assert_eq!(push("v", Side::Front).unwrap(), Key::from(1.5));
    assert_eq!(push("u", Side::Front).unwrap(), Key::from(0.5));
    assert_eq!(push("t", Side::Front).unwrap(), Key::from(-0.5));
    assert!(matches!(push("s", Side::Front), Err(Error::QueueFull(_))));
    let front = cache.peek::<String>(None, Side::Front).unwrap().unwrap();
    assert_eq!(front, (Key::from(0.5), "u".to_string()));

    cache.set("q-5x", "odd").unwrap();
    let err = cache.push("p", Some("q"), Side::Back, none()).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    let peeked = cache
        .peek::<String>(Some("q"), Side::Front)
        .unwrap()
        .unwrap();
    assert_eq!(peeked, (Key::from("q-5x"), "odd".to_string()));
    let pulled = cache
        .pull::<String>(Some("q"), Side::Front)
        .unwrap()
        .unwrap();
    assert_eq!(pulled, (Key::from("q-5x"), "odd".to_string()));
    assert!(cache.check(false).unwrap().is_empty());
}

/// On the logged path a queue's ends are found from the log's records since the last
/// checkpoint and the database's keys the log has not removed. Two handles (as two processes
/// would) push and pull at both ends, with checkpoints now and then and long runs of pulls
/// between them (which step over many removed keys), against a `VecDeque`.
#[test]
fn push_and_pull_from_two_handles_agree_with_a_deque_across_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let handles = [
        Cache::open(dir.path()).unwrap(),
        Cache::open(dir.path()).unwrap(),
    ];
    let mut model = std::collections::VecDeque::new();
    let mut rng = common::rng::Xorshift::new(0x9e37_79b9_7f4a_7c15);
    let mut next = move |n: u64| rng.next() % n;
    for step in 0..3000u64 {
        let cache = &handles[next(2) as usize];
        let side = if next(2) == 0 {
            Side::Front
        } else {
            Side::Back
        };
        // Pushes win early, pulls late, so the queue grows long and then drains.
        let push = next(100) < if step < 1500 { 70 } else { 30 };
        if push {
            cache.push(step, None, side, none()).unwrap();
            match side {
                Side::Front => model.push_front(step),
                Side::Back => model.push_back(step),
            }
        } else {
            let got = cache.pull::<u64>(None, side).unwrap().map(|(_, v)| v);
            let want = match side {
                Side::Front => model.pop_front(),
                Side::Back => model.pop_back(),
            };
            assert_eq!(got, want, "step {step}");
        }
        if next(400) == 0 {
            cache.checkpoint().unwrap();
        }
    }
    assert_eq!(handles[0].len().unwrap(), model.len() as u64);
    let peeked = handles[1]
        .peek::<u64>(None, Side::Front)
        .unwrap()
        .map(|(_, v)| v);
    assert_eq!(peeked, model.front().copied());
    assert!(handles[0].check(false).unwrap().is_empty());
}
