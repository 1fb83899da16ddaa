//! Guards the async handles (`diskcache::asynchronous`, feature `tokio`): typed values go
//! through them; many tasks of a multi-threaded runtime count without losing an update; an
//! operation that waits for the write lock leaves the runtime's thread free for other tasks
//! (on a one-thread runtime, the task that frees the lock runs meanwhile); the async recipes
//! exclude tasks, give up on time, and free what an abandoned acquire took; and a future
//! polled outside a runtime is an error, not a panic.
//!
//! The negative control `async-runs-inline` (`src/testing/sabotage.rs`: the handles run each
//! operation on the runtime's thread) must make the two lock-waiting tests fail:
//! `scripts/negative_controls.sh async-runs-inline`.

use crate::common;

use std::future::Future;
use std::pin::pin;
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use common::child::PATIENCE;
use diskcache::asynchronous::{
    AsyncCache, AsyncDeque, AsyncFanoutCache, AsyncIndex, AsyncLock, AsyncSemaphore, AsyncThrottle,
};
use diskcache::{
    BoundedSemaphore, Cache, Error, FanoutCache, Key, Lock, SetOptions, Side, Throttle, WritePath,
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, PartialEq, Debug, Clone)]
struct Session {
    user: String,
    roles: Vec<String>,
    visits: u32,
}

fn session(visits: u32) -> Session {
    Session {
        user: "ann".into(),
        roles: vec!["admin".into(), "web".into()],
        visits,
    }
}

#[tokio::test]
async fn typed_values_go_through_every_kind_of_operation() {
    let dir = tempfile::tempdir().unwrap();
    let cache = AsyncCache::open(dir.path()).await.unwrap();

    cache.set("s", session(1)).await.unwrap();
    assert_eq!(cache.get::<Session>("s").await.unwrap(), Some(session(1)));
    let opts = SetOptions::default()
        .tag("web")
        .expire(Duration::from_secs(600));
    let composite = Key::from_serialize(&("user", 7)).unwrap();
    cache
        .set_with(composite.clone(), session(2), opts)
        .await
        .unwrap();
    let entry = cache
        .get_entry::<Session>(composite)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((entry.value, entry.tag), (session(2), Some("web".into())));
    assert!(
        !cache
            .add("s", session(9), SetOptions::default())
            .await
            .unwrap()
    );
    assert!(cache.contains("s").await.unwrap());
    // A value large enough for its own file.
    let big = vec![7u8; 200_000];
    cache.set("big", big.clone()).await.unwrap();
    assert_eq!(cache.get::<Vec<u8>>("big").await.unwrap(), Some(big));
    // A value of another type is the blocking call's error.
    let wrong = cache.get::<Session>("big").await.unwrap_err();
    assert!(matches!(wrong, Error::Codec(_)), "{wrong:?}");

    assert_eq!(cache.incr("n", 5, Some(0)).await.unwrap(), 5);
    assert_eq!(cache.decr("n", 2, None).await.unwrap(), 3);
    assert!(
        cache
            .touch("n", Some(Duration::from_secs(60)))
            .await
            .unwrap()
    );
    let computed: u64 = cache.get_or_insert_with("port", || 8080).await.unwrap();
    assert_eq!(computed, 8080);
    let moved = cache
        .transact(|tx| {
            let s: Session = tx.get("s")?.expect("stored above");
            tx.set("s2", &s)?;
            tx.delete("s")
        })
        .await
        .unwrap();
    assert!(moved);
    assert_eq!(cache.pop::<Session>("s2").await.unwrap(), Some(session(1)));
    assert!(!cache.delete("s").await.unwrap());

    for job in ["a", "b"] {
        cache
            .push(
                job.to_string(),
                Some("jobs"),
                Side::Back,
                SetOptions::default(),
            )
            .await
            .unwrap();
    }
    let (_, first) = cache
        .pull::<String>(Some("jobs"), Side::Front)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first, "a");
    let (_, last) = cache
        .peek::<String>(Some("jobs"), Side::Back)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last, "b");

    let keys = cache.keys().await.unwrap();
    assert_eq!(keys.len() as u64, cache.len().await.unwrap());
    assert_eq!(cache.keys_sorted(false).await.unwrap().len(), keys.len());
    assert!(cache.volume().await.unwrap() > 200_000);
    assert_eq!(cache.evict("web").await.unwrap(), 1);
    assert!(cache.check(false).await.unwrap().is_empty());
    cache.checkpoint().await.unwrap();
    assert_eq!(cache.clear().await.unwrap(), keys.len() as u64 - 1);
    assert!(cache.is_empty().await.unwrap());
    cache.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_on_a_multi_threaded_runtime_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let cache = AsyncCache::open(dir.path().join("plain")).await.unwrap();
    let fanout = AsyncFanoutCache::open(dir.path().join("fanout"))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for task in 0..16i64 {
        let (cache, fanout) = (cache.clone(), fanout.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..25i64 {
                cache.incr("hits", 1, Some(0)).await.unwrap();
                fanout.incr("hits", 1, Some(0)).await.unwrap();
                let key = task * 100 + i;
                assert!(fanout.set(key, session(i as u32)).await.unwrap());
                assert_eq!(
                    fanout.get::<Session>(key).await.unwrap(),
                    Some(session(i as u32))
                );
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // A future owns what it needs: one made from a borrowed key can be spawned.
    let key = String::from("hits");
    let hits = tokio::spawn(cache.get::<i64>(key.as_str()));
    drop(key);
    assert_eq!(hits.await.unwrap().unwrap(), Some(16 * 25));
    assert_eq!(cache.get::<i64>("hits").await.unwrap(), Some(16 * 25));
    assert_eq!(fanout.get::<i64>("hits").await.unwrap(), Some(16 * 25));
    assert_eq!(fanout.len().await.unwrap(), 16 * 25 + 1);
    assert_eq!(fanout.keys().await.unwrap().len(), 16 * 25 + 1);
}

/// Holds `cache`'s write lock on another thread (inside a transaction) until the returned
/// sender is used or dropped; returns once it is held.
fn hold_write_lock(cache: &Cache) -> (mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (held, is_held) = mpsc::channel();
    let (free, freed) = mpsc::channel::<()>();
    let cache = cache.clone();
    let holder = std::thread::spawn(move || {
        cache
            .transact(|tx| {
                tx.set("k", 1)?;
                held.send(()).unwrap();
                let _ = freed.recv();
                Ok(())
            })
            .unwrap();
    });
    is_held.recv().unwrap();
    (free, holder)
}

/// A write through an async handle waits for the lock another thread holds; on a runtime of
/// one thread, the task that frees the lock must run meanwhile. Run inline, the write would
/// block that thread until its timeout and fail with it (the timeout is what the negative
/// control waits out, so it is shorter than [`PATIENCE`]; the task that frees the lock is
/// ready the whole time).
async fn a_waiting_write_leaves_the_runtime_free(path: WritePath) {
    if !path.is_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .write_path(path)
        .timeout(Duration::from_secs(10))
        .open(dir.path())
        .unwrap();
    let (free, holder) = hold_write_lock(&cache);
    let handle = AsyncCache::new(cache);
    let write = tokio::spawn(handle.set("k", 2));
    let freer = tokio::spawn(async move { free.send(()).unwrap() });
    freer.await.unwrap();
    write.await.unwrap().unwrap();
    holder.join().unwrap();
    assert_eq!(handle.get::<i64>("k").await.unwrap(), Some(2));
}

#[tokio::test]
async fn a_write_waiting_for_the_lock_leaves_the_runtime_thread_free_on_the_logged_path() {
    a_waiting_write_leaves_the_runtime_free(WritePath::Logged).await;
}

#[tokio::test]
async fn a_write_waiting_for_the_lock_leaves_the_runtime_thread_free_on_the_direct_path() {
    a_waiting_write_leaves_the_runtime_free(WritePath::Direct).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_lock_lets_one_task_at_a_time_read_then_write() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let lock = AsyncLock::new(Lock::new(&cache, "lock"));
    let handle = AsyncCache::new(cache);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (lock, handle) = (lock.clone(), handle.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                lock.run(async {
                    let n = handle.get::<i64>("n").await.unwrap().unwrap_or(0);
                    tokio::task::yield_now().await;
                    handle.set("n", n + 1).await.unwrap();
                })
                .await
                .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(handle.get::<i64>("n").await.unwrap(), Some(80));
    assert!(!lock.locked().await.unwrap());
}

#[tokio::test]
async fn async_recipes_give_up_on_time_and_share_their_state_with_blocking_ones() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let lock = AsyncLock::new(Lock::new(&cache, "lock"));
    let blocking_lock = Lock::new(&cache, "lock");

    let guard = lock.acquire().await.unwrap();
    assert!(blocking_lock.locked().unwrap());
    assert!(blocking_lock.try_acquire().unwrap().is_none());
    assert!(lock.try_acquire().await.unwrap().is_none());
    let late = lock.acquire_timeout(Duration::from_millis(30)).await;
    assert!(matches!(late, Err(Error::Timeout)), "{late:?}");
    assert!(guard.release().await.unwrap());
    assert!(!blocking_lock.locked().unwrap());

    let sem = AsyncSemaphore::new(BoundedSemaphore::new(&cache, "sem", 2).unwrap());
    let a = sem.acquire().await.unwrap();
    let b = sem.try_acquire().await.unwrap().unwrap();
    assert!(sem.try_acquire().await.unwrap().is_none());
    assert_eq!(sem.available().await.unwrap(), 0);
    let late = sem.acquire_timeout(Duration::from_millis(30)).await;
    assert!(matches!(late, Err(Error::Timeout)), "{late:?}");
    a.release().await.unwrap();
    b.release().await.unwrap();
    assert_eq!(sem.available().await.unwrap(), 2);

    let throttle =
        AsyncThrottle::new(Throttle::new(&cache, "api", 2, Duration::from_secs(3600)).unwrap());
    assert!(throttle.try_acquire().await.unwrap());
    throttle.acquire().await.unwrap();
    assert!(!throttle.try_acquire().await.unwrap());
    let late = throttle.acquire_timeout(Duration::from_millis(30)).await;
    assert!(matches!(late, Err(Error::Timeout)), "{late:?}");
}

#[tokio::test]
async fn a_dropped_guard_and_an_abandoned_acquire_leave_the_lock_free() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let lock = AsyncLock::new(Lock::new(&cache, "lock"));

    // Dropped: released on the blocking thread that kept it.
    drop(lock.acquire().await.unwrap());
    let again = lock.acquire_timeout(PATIENCE).await.unwrap();

    // A waiter abandoned while the lock is held: whether or not it got in before it saw it
    // was abandoned, the lock is free again.
    let waiter = tokio::spawn({
        let lock = lock.clone();
        async move { lock.acquire().await.map(drop) }
    });
    tokio::task::yield_now().await;
    waiter.abort();
    assert!(again.release().await.unwrap());
    let last = lock.acquire_timeout(PATIENCE).await.unwrap();
    assert!(last.release().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deques_and_indexes_of_a_fanout_cache_work_through_the_async_api() {
    let dir = tempfile::tempdir().unwrap();
    let fanout = AsyncFanoutCache::new(FanoutCache::open(dir.path()).unwrap());
    let jobs: AsyncDeque<Session> = fanout.deque("jobs").await.unwrap();
    jobs.push_back(session(2)).await.unwrap();
    jobs.push_front(session(1)).await.unwrap();
    assert_eq!(jobs.len().await.unwrap(), 2);
    assert_eq!(jobs.get(-1).await.unwrap(), session(2));
    assert_eq!(jobs.peek_front().await.unwrap(), Some(session(1)));
    assert_eq!(jobs.pop_front().await.unwrap(), Some(session(1)));
    let rotated = jobs
        .run(|d| d.rotate(1).and_then(|()| d.len()))
        .await
        .unwrap();
    assert_eq!(rotated, 1);
    assert_eq!(jobs.pop_back().await.unwrap(), Some(session(2)));
    assert!(jobs.is_empty().await.unwrap());

    let users: AsyncIndex<String, Session> = fanout.index("users").await.unwrap();
    users.insert("ann".into(), session(3)).await.unwrap();
    assert_eq!(users.get("ann".into()).await.unwrap(), Some(session(3)));
    assert!(users.contains_key("ann".into()).await.unwrap());
    assert_eq!(users.pop("ann".into()).await.unwrap(), Some(session(3)));
    assert!(!users.remove("ann".into()).await.unwrap());
    assert_eq!(users.len().await.unwrap(), 0);

    let named = fanout.named_cache("locks").await.unwrap();
    named.set("x", 1).await.unwrap();
    assert_eq!(named.get::<i64>("x").await.unwrap(), Some(1));
}

#[tokio::test]
async fn a_panic_in_run_reaches_the_awaiting_task() {
    let dir = tempfile::tempdir().unwrap();
    let cache = AsyncCache::open(dir.path()).await.unwrap();
    let task = tokio::spawn(cache.run(|_| -> diskcache::Result<()> { panic!("in the closure") }));
    assert!(task.await.unwrap_err().is_panic());
    cache.set("still", "usable").await.unwrap();
}

#[test]
fn a_future_polled_outside_a_runtime_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let cache = AsyncCache::new(Cache::open(dir.path()).unwrap());
    let mut get = pin!(cache.get::<i64>("k"));
    match get.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Err(Error::InvalidArgument(why))) => assert!(why.contains("tokio runtime")),
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}
