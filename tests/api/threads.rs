//! Many threads on one cache, through clones of one `Cache` and through separate handles on
//! the same directory. Guards against lost updates (an `incr` that reads a stale value and
//! overwrites another thread's increment), against a thread not reading its own writes, and
//! against a reader seeing a half-replaced or corrupted large value while another thread
//! overwrites it.

use std::sync::Barrier;
use std::thread;

use diskcache::Cache;

#[test]
fn cache_is_shareable_and_its_iterators_and_readers_can_move_between_threads() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<Cache>();
    fn assert_send<T: Send + 'static>() {}
    assert_send::<diskcache::Keys>();
    assert_send::<diskcache::ValueReader>();
    assert_send::<diskcache::Error>();
}

#[test]
fn eight_threads_incrementing_one_key_500_times_each_end_at_exactly_4000() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let start = Barrier::new(8);
    thread::scope(|s| {
        for _ in 0..8 {
            let cache = cache.clone();
            let start = &start;
            s.spawn(move || {
                start.wait();
                for _ in 0..500 {
                    cache.incr("counter", 1, Some(0)).unwrap();
                }
            });
        }
    });
    assert_eq!(cache.get::<i64>("counter").unwrap(), Some(4000));
    assert_eq!(cache.len().unwrap(), 1);
}

#[test]
fn threads_setting_and_getting_distinct_keys_read_their_own_writes() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let start = Barrier::new(8);
    thread::scope(|s| {
        for t in 0..8i64 {
            let cache = cache.clone();
            let start = &start;
            s.spawn(move || {
                start.wait();
                for i in 0..40i64 {
                    let key = t * 1000 + i;
                    let value = format!("thread {t} item {i}");
                    cache.set(key, &value).unwrap();
                    assert_eq!(cache.get::<String>(key).unwrap(), Some(value));
                    if i % 4 == 0 {
                        assert!(cache.delete(key).unwrap());
                        assert!(!cache.contains(key).unwrap());
                    }
                }
            });
        }
    });
    assert_eq!(cache.len().unwrap(), 8 * 30);
    for t in 0..8i64 {
        for i in (0..40i64).filter(|i| i % 4 != 0) {
            assert_eq!(
                cache.get::<String>(t * 1000 + i).unwrap(),
                Some(format!("thread {t} item {i}"))
            );
        }
    }
}

#[test]
fn two_handles_on_one_directory_incrementing_from_several_threads_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let a = Cache::open(dir.path()).unwrap();
    let b = Cache::open(dir.path()).unwrap();
    let start = Barrier::new(4);
    thread::scope(|s| {
        for handle in [&a, &b, &a, &b] {
            let start = &start;
            s.spawn(move || {
                start.wait();
                for _ in 0..100 {
                    handle.incr("n", 1, Some(0)).unwrap();
                }
            });
        }
    });
    assert_eq!(a.get::<i64>("n").unwrap(), Some(400));
    assert_eq!(b.get::<i64>("n").unwrap(), Some(400));
}

#[test]
fn readers_never_see_a_torn_or_corrupted_large_value_while_it_is_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .min_file_size(1024)
        .open(dir.path())
        .unwrap();
    cache.set("k", vec![0u8; 4096]).unwrap();
    let start = Barrier::new(3);
    thread::scope(|s| {
        let writer = cache.clone();
        let start_w = &start;
        s.spawn(move || {
            start_w.wait();
            for round in 1..=60u8 {
                writer
                    .set("k", vec![round; 4096 + usize::from(round)])
                    .unwrap();
            }
        });
        for _ in 0..2 {
            let reader = cache.clone();
            let start = &start;
            s.spawn(move || {
                start.wait();
                for _ in 0..200 {
                    // A value whose file a concurrent overwrite has just deleted reads as a
                    // miss; anything returned must be one whole value.
                    if let Some(v) = reader.get::<Vec<u8>>("k").unwrap() {
                        let round = v[0];
                        assert_eq!(v.len(), 4096 + usize::from(round));
                        assert!(v.iter().all(|&b| b == round));
                    }
                }
            });
        }
    });
    assert_eq!(cache.get::<Vec<u8>>("k").unwrap(), Some(vec![60u8; 4156]));
    assert_eq!(cache.len().unwrap(), 1);
}

#[test]
fn counters_stay_consistent_while_one_thread_clears_and_others_write() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let start = Barrier::new(3);
    thread::scope(|s| {
        for t in 0..2i64 {
            let cache = cache.clone();
            let start = &start;
            s.spawn(move || {
                start.wait();
                for i in 0..100i64 {
                    cache.set(t * 1000 + i, vec![1u8; 100]).unwrap();
                }
            });
        }
        let clearer = cache.clone();
        let start = &start;
        s.spawn(move || {
            start.wait();
            for _ in 0..20 {
                clearer.clear().unwrap();
            }
        });
    });
    let listed = cache.keys().unwrap().count() as u64;
    assert_eq!(cache.len().unwrap(), listed);
    assert_eq!(cache.clear().unwrap(), listed);
    assert_eq!(cache.len().unwrap(), 0);
    assert_eq!(cache.volume().unwrap(), 0);
}
