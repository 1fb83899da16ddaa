//! Guards `Deque<T>`: that every method does what Python's `deque` (and diskcache's `Deque`)
//! does, negative indices and `maxlen` trimming included; that an index out of range is an
//! error, not a panic; that the items persist across reopening and share the cache's queue
//! keys with `Cache::push`/`pull`; that a random sequence of operations matches a `VecDeque`;
//! and that four real processes appending to (and then popping from) one deque lose and
//! duplicate nothing.
//!
//! The processes are this test binary run again (`tests/common/child.rs`) with an environment
//! variable naming the child test to act as; the normal run lists the child tests as ignored.

use crate::common;

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use common::child::{PATIENCE, Proc, child_env, tell_parent, wait_for_file};
use common::rng::SplitMix;

use diskcache::{Cache, Deque, Error, EvictionPolicy, Key, SetOptions, Side, WritePath};

fn items<T: serde::Serialize + serde::de::DeserializeOwned>(deque: &Deque<T>) -> Vec<T> {
    deque.iter().collect::<diskcache::Result<_>>().unwrap()
}

fn items_rev<T: serde::Serialize + serde::de::DeserializeOwned>(deque: &Deque<T>) -> Vec<T> {
    deque
        .iter()
        .rev()
        .collect::<diskcache::Result<_>>()
        .unwrap()
}

#[test]
fn pushes_and_pops_at_both_ends_and_empty_pops_return_none() {
    let dir = tempfile::tempdir().unwrap();
    let deque: Deque<String> = Deque::open(dir.path()).unwrap();
    assert!(deque.is_empty().unwrap());
    assert_eq!(deque.pop_back().unwrap(), None);
    assert_eq!(deque.pop_front().unwrap(), None);
    assert_eq!(deque.peek_back().unwrap(), None);
    assert_eq!(deque.peek_front().unwrap(), None);
    deque.push_back("b").unwrap();
    deque.push_back("c").unwrap();
    deque.push_front("a").unwrap();
    assert_eq!(deque.len().unwrap(), 3);
    assert_eq!(deque.peek_front().unwrap().as_deref(), Some("a"));
    assert_eq!(deque.peek_back().unwrap().as_deref(), Some("c"));
    assert_eq!(items(&deque), ["a", "b", "c"]);
    assert_eq!(items_rev(&deque), ["c", "b", "a"]);
    assert_eq!(deque.pop_back().unwrap().as_deref(), Some("c"));
    assert_eq!(deque.pop_front().unwrap().as_deref(), Some("a"));
    assert_eq!(deque.pop_front().unwrap().as_deref(), Some("b"));
    assert_eq!(deque.pop_front().unwrap(), None);
    assert!(deque.is_empty().unwrap());
}

#[test]
fn indices_count_from_the_front_or_from_the_back_and_out_of_range_is_an_error() {
    let deque = Deque::<i64>::temp().unwrap();
    deque.extend([10, 11, 12, 13]).unwrap();
    assert_eq!(deque.get(0).unwrap(), 10);
    assert_eq!(deque.get(3).unwrap(), 13);
    assert_eq!(deque.get(-1).unwrap(), 13);
    assert_eq!(deque.get(-4).unwrap(), 10);
    for bad in [4, -5, i64::MAX, i64::MIN] {
        let got = deque.get(bad);
        assert!(
            matches!(got, Err(Error::InvalidArgument(_))),
            "{bad}: {got:?}"
        );
        let set = deque.set(bad, &0);
        assert!(
            matches!(set, Err(Error::InvalidArgument(_))),
            "{bad}: {set:?}"
        );
        let removed = deque.remove_at(bad);
        assert!(matches!(removed, Err(Error::InvalidArgument(_))), "{bad}");
    }
    deque.set(-2, &22).unwrap();
    deque.set(0, &20).unwrap();
    assert_eq!(items(&deque), [20, 11, 22, 13]);
    assert_eq!(deque.remove_at(-2).unwrap(), 22);
    assert_eq!(deque.remove_at(0).unwrap(), 20);
    assert_eq!(items(&deque), [11, 13]);
    let empty = Deque::<i64>::temp().unwrap();
    assert!(matches!(empty.get(0), Err(Error::InvalidArgument(_))));
    assert!(matches!(empty.get(-1), Err(Error::InvalidArgument(_))));
}

#[test]
fn remove_at_keeps_every_other_item_in_order_from_either_half() {
    for at in 0..7i64 {
        let deque = Deque::<i64>::temp().unwrap();
        deque.extend(0..7).unwrap();
        assert_eq!(deque.remove_at(at).unwrap(), at);
        let expected: Vec<i64> = (0..7).filter(|&x| x != at).collect();
        assert_eq!(items(&deque), expected);
        assert_eq!(
            items_rev(&deque),
            expected.iter().rev().copied().collect::<Vec<_>>()
        );
        deque.push_back(&7).unwrap();
        deque.push_front(&-1).unwrap();
        assert_eq!(deque.get(0).unwrap(), -1);
        assert_eq!(deque.get(-1).unwrap(), 7);
    }
}

#[test]
fn rotate_goes_both_ways_like_python() {
    let deque = Deque::<i64>::temp().unwrap();
    deque.rotate(3).unwrap(); // empty: nothing to do
    deque.extend(0..5).unwrap();
    deque.rotate(2).unwrap();
    assert_eq!(items(&deque), [3, 4, 0, 1, 2]);
    deque.rotate(-2).unwrap();
    assert_eq!(items(&deque), [0, 1, 2, 3, 4]);
    deque.rotate(-1).unwrap();
    assert_eq!(items(&deque), [1, 2, 3, 4, 0]);
    deque.rotate(4).unwrap(); // the long way round is one step left
    assert_eq!(items(&deque), [2, 3, 4, 0, 1]);
    deque.rotate(10).unwrap();
    assert_eq!(items(&deque), [2, 3, 4, 0, 1]);
    deque.rotate(i64::MIN).unwrap(); // -2^63 mod 5 == 2 to the right
    let mut model: VecDeque<i64> = [2, 3, 4, 0, 1].into();
    model.rotate_right(i64::MIN.rem_euclid(5) as usize);
    assert_eq!(items(&deque), Vec::from(model));
}

#[test]
fn reverse_count_remove_and_clear() {
    let deque = Deque::<String>::temp().unwrap();
    deque.reverse().unwrap();
    deque
        .extend(["a", "b", "a", "c", "a"].map(String::from))
        .unwrap();
    assert_eq!(deque.count("a").unwrap(), 3);
    assert_eq!(deque.count("z").unwrap(), 0);
    deque.reverse().unwrap();
    assert_eq!(items(&deque), ["a", "c", "a", "b", "a"]);
    assert!(deque.remove("c").unwrap());
    assert!(!deque.remove("z").unwrap());
    assert!(deque.remove("b").unwrap());
    assert_eq!(items(&deque), ["a", "a", "a"]);
    deque.push_back("d").unwrap();
    deque.reverse().unwrap();
    assert_eq!(items(&deque), ["d", "a", "a", "a"]);
    assert_eq!(deque.clear().unwrap(), 4);
    assert!(deque.is_empty().unwrap());
    deque.push_front("e").unwrap();
    assert_eq!(items(&deque), ["e"]);
}

#[test]
fn extend_front_reverses_its_items_as_python_s_extendleft_does() {
    let deque = Deque::<i64>::temp().unwrap();
    deque.push_back(&0).unwrap();
    deque.extend_front([1, 2, 3]).unwrap();
    assert_eq!(items(&deque), [3, 2, 1, 0]);
    // More than one transaction's worth.
    deque.extend(100..700).unwrap();
    assert_eq!(deque.len().unwrap(), 604);
    assert_eq!(deque.get(-1).unwrap(), 699);
    assert_eq!(deque.get(4).unwrap(), 100);
}

#[test]
fn maxlen_trims_from_the_opposite_end_like_python_s_deque() {
    let deque = Deque::<i64>::temp().unwrap();
    deque.extend(0..6).unwrap();
    // Setting the bound trims from the front, as diskcache's maxlen setter does.
    let deque = deque.with_maxlen(4).unwrap();
    assert_eq!(deque.maxlen(), Some(4));
    assert_eq!(items(&deque), [2, 3, 4, 5]);
    deque.push_back(&6).unwrap();
    assert_eq!(items(&deque), [3, 4, 5, 6]);
    deque.push_front(&2).unwrap();
    assert_eq!(items(&deque), [2, 3, 4, 5]);
    deque.extend([7, 8]).unwrap();
    assert_eq!(items(&deque), [4, 5, 7, 8]);
    deque.extend_front([1, 0]).unwrap();
    assert_eq!(items(&deque), [0, 1, 4, 5]);
    // The same as std's VecDeque used as Python's deque(maxlen=4).
    let zero = Deque::<i64>::temp().unwrap().with_maxlen(0).unwrap();
    zero.push_back(&1).unwrap();
    zero.push_front(&1).unwrap();
    assert!(zero.is_empty().unwrap());
}

#[test]
fn items_persist_across_reopening_and_are_the_cache_s_queue_keys() {
    let dir = tempfile::tempdir().unwrap();
    {
        let deque: Deque<String> = Deque::open(dir.path()).unwrap();
        deque.extend(["x", "y"].map(String::from)).unwrap();
        deque.push_front("w").unwrap();
    }
    let deque: Deque<String> = Deque::open(dir.path()).unwrap();
    assert_eq!(items(&deque), ["w", "x", "y"]);
    // The cache's own queue operations see the same items, at the same ends.
    let cache = deque.cache().clone();
    let (key, front): (Key, String) = cache.pull(None, Side::Front).unwrap().unwrap();
    assert_eq!(front, "w");
    assert_eq!(key, Key::from(499_999_999_999_999i64));
    cache
        .push("z", None, Side::Back, SetOptions::default())
        .unwrap();
    assert_eq!(items(&deque), ["x", "y", "z"]);
    deque.push_back("after").unwrap();
    assert_eq!(
        cache.peek::<String>(None, Side::Back).unwrap().unwrap().1,
        "after"
    );
    assert_eq!(deque.get(-2).unwrap(), "z");
}

#[test]
fn a_key_deleted_from_the_middle_through_the_cache_is_healed_over() {
    let deque = Deque::<i64>::temp().unwrap();
    deque.extend(0..10).unwrap();
    assert!(deque.cache().delete(500_000_000_000_004i64).unwrap());
    assert_eq!(deque.len().unwrap(), 9);
    assert_eq!(deque.get(4).unwrap(), 5);
    assert_eq!(items(&deque), [0, 1, 2, 3, 5, 6, 7, 8, 9]);
    deque.push_back(&10).unwrap();
    assert_eq!(deque.get(-1).unwrap(), 10);
    // An expired item counts until removed; the deque drops it and goes on.
    deque
        .cache()
        .set_with(
            500_000_000_000_100i64,
            100,
            SetOptions::default().expire(Duration::from_millis(1)),
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(5));
    deque.push_back(&11).unwrap();
    assert_eq!(items(&deque), [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11]);
}

#[test]
fn a_key_that_is_not_a_queue_key_is_an_error_not_an_item() {
    let deque = Deque::<i64>::temp().unwrap();
    deque.push_back(&1).unwrap();
    deque.cache().set("stray", 2).unwrap();
    let got = deque.push_back(&3);
    assert!(matches!(got, Err(Error::InvalidArgument(_))), "{got:?}");
}

#[test]
fn two_handles_on_one_directory_see_each_other_s_ends_move() {
    let dir = tempfile::tempdir().unwrap();
    let a: Deque<i64> = Deque::open(dir.path()).unwrap();
    let b: Deque<i64> = Deque::open(dir.path()).unwrap();
    a.extend(0..50).unwrap();
    assert_eq!(b.get(0).unwrap(), 0);
    for _ in 0..45 {
        a.pop_front().unwrap();
    }
    a.extend_front([-1, -2]).unwrap();
    // b's hint is far off at both ends now.
    assert_eq!(b.get(0).unwrap(), -2);
    assert_eq!(items(&b), [-2, -1, 45, 46, 47, 48, 49]);
    while a.pop_back().unwrap().is_some() {}
    a.push_back(&7).unwrap();
    assert_eq!(b.pop_front().unwrap(), Some(7));
    // The window slides far from every key b saw, and from the first queue key: b finds it
    // by reading the keys once.
    a.extend(0..10).unwrap();
    assert_eq!(b.get(-1).unwrap(), 9);
    for i in 10..200 {
        a.push_back(&i).unwrap();
        a.pop_front().unwrap();
    }
    assert_eq!(b.get(0).unwrap(), 190);
    assert_eq!(items_rev(&b)[..2], [199, 198]);
}

#[test]
fn threads_with_handles_of_their_own_slide_one_deque_without_losing_items() {
    let dir = tempfile::tempdir().unwrap();
    let threads: Vec<_> = (0..4i64)
        .map(|t| {
            let path = dir.path().to_path_buf();
            std::thread::spawn(move || {
                let deque: Deque<i64> = Deque::open(&path).unwrap();
                let mut popped = Vec::new();
                for j in 0..150 {
                    deque.push_back(&(t * 1000 + j)).unwrap();
                    if j % 2 == 1 {
                        popped.extend(deque.pop_front().unwrap());
                    }
                }
                popped
            })
        })
        .collect();
    let mut seen: Vec<i64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let deque: Deque<i64> = Deque::open(dir.path()).unwrap();
    seen.extend(items(&deque));
    seen.sort_unstable();
    let expected: Vec<i64> = (0..4)
        .flat_map(|t| (0..150).map(move |j| t * 1000 + j))
        .collect();
    assert_eq!(seen, expected);
}

#[test]
fn a_seeded_random_sequence_of_operations_matches_a_vecdeque() {
    let dir = tempfile::tempdir().unwrap();
    let deque: Deque<i64> = Deque::open(dir.path()).unwrap();
    let other: Deque<i64> = Deque::open(dir.path()).unwrap();
    random_run(&deque, &other, 0x5eed, 1500);
}

#[test]
fn the_random_run_matches_on_the_direct_write_path_too() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let cache = Cache::builder()
            .write_path(WritePath::Direct)
            .eviction_policy(EvictionPolicy::None)
            .open(dir.path())
            .unwrap();
        Deque::<i64>::from_cache(cache)
    };
    random_run(&open(), &open(), 0xd1ec7, 300);
}

/// Runs `steps` random operations, each on `deque` or `other` (two handles on one directory),
/// and checks every result against a `VecDeque`.
fn random_run(deque: &Deque<i64>, other: &Deque<i64>, seed: u64, steps: i64) {
    let mut model: VecDeque<i64> = VecDeque::new();
    let mut rng = SplitMix::new(seed);
    for step in 0..steps {
        // Half the operations go through a second handle, whose hint goes stale.
        let d = if rng.below(2) == 0 { deque } else { other };
        let len = model.len() as i64;
        let index = rng.below(len as u64 + 4) as i64 - 2 - if rng.below(2) == 0 { 0 } else { len };
        let in_range = (-len..len).contains(&index);
        let at = if index < 0 { index + len } else { index } as usize;
        match rng.below(14) {
            0 | 1 => {
                d.push_back(&step).unwrap();
                model.push_back(step);
            }
            2 | 3 => {
                d.push_front(&step).unwrap();
                model.push_front(step);
            }
            4 => assert_eq!(d.pop_back().unwrap(), model.pop_back()),
            5 => assert_eq!(d.pop_front().unwrap(), model.pop_front()),
            6 => match d.get(index) {
                Ok(v) => assert_eq!(Some(&v), model.get(at)),
                Err(Error::InvalidArgument(_)) => assert!(!in_range),
                Err(e) => panic!("{e}"),
            },
            7 => match d.set(index, &-step) {
                Ok(()) => model[at] = -step,
                Err(Error::InvalidArgument(_)) => assert!(!in_range),
                Err(e) => panic!("{e}"),
            },
            8 => match d.remove_at(index) {
                Ok(v) => assert_eq!(Some(v), model.remove(at)),
                Err(Error::InvalidArgument(_)) => assert!(!in_range),
                Err(e) => panic!("{e}"),
            },
            9 => {
                let steps = rng.below(20) as i64 - 10;
                d.rotate(steps).unwrap();
                if len > 0 {
                    model.rotate_right(steps.rem_euclid(len) as usize);
                }
            }
            10 => {
                d.reverse().unwrap();
                model.make_contiguous().reverse();
            }
            11 => {
                // The cache's own queue calls, on the same keys.
                if rng.below(2) == 0 {
                    let got = d.cache().pull::<i64>(None, Side::Back).unwrap();
                    assert_eq!(got.map(|(_, v)| v), model.pop_back());
                } else {
                    d.cache()
                        .push(step, None, Side::Front, SetOptions::default())
                        .unwrap();
                    model.push_front(step);
                }
            }
            12 => {
                if let Some(&v) = model.get(at) {
                    assert!(d.remove(&v).unwrap());
                    let first = model.iter().position(|&x| x == v).unwrap();
                    model.remove(first);
                } else {
                    assert!(!d.remove(&i64::MAX).unwrap());
                }
            }
            _ => {
                let n = rng.below(5) as i64;
                let batch: Vec<i64> = (0..n).map(|j| step * 10 + j).collect();
                d.extend(batch.clone()).unwrap();
                model.extend(batch);
            }
        }
        assert_eq!(d.len().unwrap(), model.len() as u64, "step {step}");
        if step % 50 == 0 {
            assert_eq!(items(d), Vec::from(model.clone()), "step {step}");
            let rev: Vec<i64> = model.iter().rev().copied().collect();
            assert_eq!(items_rev(d), rev, "step {step}");
        }
    }
    assert_eq!(items(deque), Vec::from(model));
}

#[test]
fn iteration_from_both_ends_meets_in_the_middle() {
    let deque = Deque::<i64>::temp().unwrap();
    deque.extend(0..5).unwrap();
    let mut it = deque.iter();
    assert_eq!(it.next().unwrap().unwrap(), 0);
    assert_eq!(it.next_back().unwrap().unwrap(), 4);
    assert_eq!(it.next().unwrap().unwrap(), 1);
    assert_eq!(it.next_back().unwrap().unwrap(), 3);
    assert_eq!(it.next().unwrap().unwrap(), 2);
    assert!(it.next().is_none());
    assert!(it.next_back().is_none());
    let mut seen = Vec::new();
    for item in &deque {
        seen.push(item.unwrap());
    }
    assert_eq!(seen, [0, 1, 2, 3, 4]);
}

// ----- four processes ------------------------------------------------------------------------

const PROCESSES: i64 = 4;
const PER_PROCESS: i64 = 150;
const CHILD: &str = common::child::role!(a_deque_child_appends_then_pops_when_started_by_a_parent);

/// Child of [`four_processes_appending_and_popping_lose_and_duplicate_nothing`]: appends its
/// items (alternating ends), says `appended`, waits for `pop`, then pops from the front (even
/// ids) or back (odd ids) until the deque is empty, printing each item popped. Without a parent
/// (the role is ignored in the normal run) it returns at once.
#[test]
#[ignore = "child role: started by its parent test"]
fn a_deque_child_appends_then_pops_when_started_by_a_parent() {
    let Some((dir, id)) = child_env(CHILD) else {
        return;
    };
    let id = id as i64;
    let deque: Deque<i64> = Deque::open(&dir).unwrap();
    tell_parent("ready");
    wait_for_file(&dir.join("go"));
    for j in 0..PER_PROCESS {
        let item = id * 1000 + j;
        if j % 3 == 2 {
            deque.push_front(&item).unwrap();
        } else {
            deque.push_back(&item).unwrap();
        }
    }
    tell_parent("appended");
    wait_for_file(&dir.join("pop"));
    loop {
        let item = if id % 2 == 0 {
            deque.pop_front().unwrap()
        } else {
            deque.pop_back().unwrap()
        };
        match item {
            Some(item) => tell_parent(&format!("item {item}")),
            None => break,
        }
    }
    tell_parent("done");
}

#[test]
fn four_processes_appending_and_popping_lose_and_duplicate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let deque: Deque<i64> = Deque::open(dir.path()).unwrap();
    let mut children: Vec<Proc> = (0..PROCESSES as usize)
        .map(|id| Proc::spawn(CHILD, dir.path(), id))
        .collect();
    // The items a child pops, up to its message `word`.
    let items_until = |child: &mut Proc, word: &str| -> Vec<i64> {
        let mut items = Vec::new();
        loop {
            match child.next_message().as_deref() {
                Some(m) if m == word => return items,
                Some(m) => items.extend(m.strip_prefix("item ").map(|i| i.parse::<i64>().unwrap())),
                None => panic!("a child ended without saying {word}"),
            }
        }
    };
    for child in &mut children {
        child.expect("ready");
    }
    std::fs::write(dir.path().join("go"), b"").unwrap();
    for child in &mut children {
        child.expect("appended");
    }
    let all: Vec<i64> = items(&deque);
    let expected: BTreeSet<i64> = (0..PROCESSES)
        .flat_map(|id| (0..PER_PROCESS).map(move |j| id * 1000 + j))
        .collect();
    assert_eq!(all.len(), expected.len(), "lost or duplicated items");
    assert_eq!(all.iter().copied().collect::<BTreeSet<_>>(), expected);
    // Each process's back items keep their order, and its front items are reversed.
    for id in 0..PROCESSES {
        let mine: Vec<i64> = all.iter().copied().filter(|x| x / 1000 == id).collect();
        let backs: Vec<i64> = mine.iter().copied().filter(|x| x % 1000 % 3 != 2).collect();
        assert!(backs.windows(2).all(|w| w[0] < w[1]), "{backs:?}");
        let fronts: Vec<i64> = mine.iter().copied().filter(|x| x % 1000 % 3 == 2).collect();
        assert!(fronts.windows(2).all(|w| w[0] > w[1]), "{fronts:?}");
    }
    std::fs::write(dir.path().join("pop"), b"").unwrap();
    let mut popped = Vec::new();
    for mut child in children {
        popped.extend(items_until(&mut child, "done"));
        child.finish();
    }
    popped.sort_unstable();
    assert_eq!(popped, expected.into_iter().collect::<Vec<_>>());
    assert!(deque.is_empty().unwrap());
    let _ = Cache::open(dir.path()).unwrap();
}

// ----- kill -9 in the middle of rotate and reverse -------------------------------------------

const ROTATOR: &str =
    common::child::role!(a_deque_child_rotates_and_reverses_until_killed_when_started_by_a_parent);
/// Items in the deque the rotator works on.
const ROTATED: i64 = 400;

/// Child of [`a_process_killed_in_the_middle_of_rotate_or_reverse_leaves_a_whole_deque`]:
/// rotates and reverses the deque for ever (the parent kills it). Without a parent (the role is
/// ignored in the normal run) it returns at once.
#[test]
#[ignore = "child role: started by its parent test"]
fn a_deque_child_rotates_and_reverses_until_killed_when_started_by_a_parent() {
    let Some((dir, _)) = child_env(ROTATOR) else {
        return;
    };
    let deque: Deque<i64> = Deque::open(&dir).unwrap();
    tell_parent("ready");
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        deque.rotate(137).unwrap();
        deque.reverse().unwrap();
        deque.rotate(-61).unwrap();
    }
}

/// Whether `items` is `0..n` rotated, read forwards or backwards.
fn is_rotation_of_range(items: &[i64], n: i64) -> bool {
    let len = items.len() as i64;
    if len != n {
        return false;
    }
    let Some(&first) = items.first() else {
        return n == 0;
    };
    let forwards = (0..len).all(|i| items[i as usize] == (first + i).rem_euclid(n));
    let backwards = (0..len).all(|i| items[i as usize] == (first - i).rem_euclid(n));
    forwards || backwards
}

#[test]
fn a_process_killed_in_the_middle_of_rotate_or_reverse_leaves_a_whole_deque() {
    let dir = tempfile::tempdir().unwrap();
    {
        let deque: Deque<i64> = Deque::open(dir.path()).unwrap();
        deque.extend(0..ROTATED).unwrap();
    }
    for trial in 0..4u64 {
        let mut child = Proc::spawn(ROTATOR, dir.path(), 0);
        child.expect("ready");
        // Any moment will do: the deque must be whole whenever the kill lands.
        std::thread::sleep(Duration::from_millis(20 + 17 * trial));
        child.kill();
        let deque: Deque<i64> = Deque::open(dir.path()).unwrap();
        let now = items(&deque);
        assert!(
            is_rotation_of_range(&now, ROTATED),
            "trial {trial}: {} items, starting {:?}",
            now.len(),
            &now[..now.len().min(8)]
        );
        assert_eq!(deque.len().unwrap(), ROTATED as u64);
    }
}

#[test]
fn a_fanout_cache_s_named_deque_and_index_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let fanout = diskcache::FanoutCache::builder()
        .shards(2)
        .open(dir.path())
        .unwrap();
    let jobs = fanout.deque::<String>("jobs").unwrap();
    jobs.push_back("one").unwrap();
    jobs.push_back("two").unwrap();
    assert_eq!(
        fanout.deque::<String>("jobs").unwrap().pop_front().unwrap(),
        Some("one".into())
    );
    let users = fanout.index::<String, i64>("users").unwrap();
    users.insert("ann", &3).unwrap();
    assert_eq!(
        fanout
            .index::<String, i64>("users")
            .unwrap()
            .get("ann")
            .unwrap(),
        Some(3)
    );
    // Named sub-caches are apart from the shards.
    assert_eq!(fanout.len().unwrap(), 0);
}

#[test]
fn transact_groups_operations_and_an_error_applies_none() {
    let deque = Deque::<i64>::temp().unwrap().with_maxlen(4).unwrap();
    deque.extend([1, 2, 3]).unwrap();
    let back = deque
        .transact(|tx| {
            let back = tx.pop_back()?.unwrap();
            tx.push_front(&back)?;
            tx.set(-1, &20)?;
            tx.push_back(&30)?;
            tx.push_back(&40)?; // past maxlen: the front goes
            assert_eq!(tx.len(), 4);
            assert_eq!(tx.get(0)?, 1);
            Ok(back)
        })
        .unwrap();
    assert_eq!(back, 3);
    assert_eq!(items(&deque), [1, 20, 30, 40]);
    let failed = deque.transact(|tx| {
        tx.pop_front()?;
        tx.remove_at(0)?;
        tx.get(10)
    });
    assert!(matches!(failed, Err(Error::InvalidArgument(_))));
    assert_eq!(items(&deque), [1, 20, 30, 40]);
    // A hole inside ends that look right (a stray key beyond them keeps the count) is found
    // by the read that meets it; though the closure swallows that error, the transaction is
    // rolled back, the keys renumbered, and the closure run again.
    deque.clear().unwrap();
    let deque = Deque::<i64>::from_cache(deque.cache().clone());
    deque.extend(0..6).unwrap();
    for k in [1, 3, 4] {
        assert!(deque.cache().delete(500_000_000_000_000i64 + k).unwrap());
    }
    let mut runs = 0;
    let seen = deque
        .transact(|tx| {
            runs += 1;
            let n = tx.len() as i64;
            Ok((0..n).filter_map(|i| tx.get(i).ok()).collect::<Vec<_>>())
        })
        .unwrap();
    assert_eq!(seen, [0, 2, 5]);
    assert_eq!(runs, 2);
}
