//! Guards that a `Cache` or `FanoutCache` keeps working in a child process after `fork()`,
//! and in the parent too: both write and read, each sees the other's writes, nothing
//! deadlocks. The child must open the store again, because the locks it inherited belong to
//! open file descriptions it shares with the parent, and threads that held the store's mutexes
//! at the fork do not exist in the child.
//!
//! Each test forks for real (`libc::fork`). A child runs its part inside `catch_unwind` and
//! leaves with `_exit`: status 0 if every check passed, 1 if one failed, 2 if it ran out of
//! time (a deadlock). The parent waits for it with a deadline and kills it past that.
//!
//! That these tests can fail is shown by the negative control `fork-inherits-store`
//! (`src/testing/sabotage.rs`), under which a child keeps using the store it inherited:
//! `scripts/negative_controls.sh fork-inherits-store` requires the direct-path test to fail
//! under it. (The deadlock test fails under it in most runs, when a fork lands while a lock is
//! held, and then only once its 60 s watchdog fires; the logged-path and fanout tests pass.)
#![cfg(target_os = "linux")]

use crate::common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diskcache::{Cache, FanoutCache, WritePath};

/// How long either side waits for the other's writes, and the parent for the child to exit.
const PATIENCE: Duration = Duration::from_secs(60);
/// Writes each side makes.
const WRITES: u64 = 300;
/// Every this-many-th value is large enough for a value file.
const LARGE_EVERY: u64 = 25;

/// What `side` writes under key `<side>-<i>`.
fn value_of(side: &str, i: u64) -> Vec<u8> {
    let len = if i.is_multiple_of(LARGE_EVERY) {
        40_000
    } else {
        16
    };
    let seed = side
        .bytes()
        .fold(i, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    (0..len)
        .map(|j| (seed.wrapping_add(j) % 251) as u8)
        .collect()
}

/// The operations of a test, on a `Cache` or a `FanoutCache`.
trait Handle: Send + Sync {
    fn put(&self, key: String, value: &[u8]);
    fn read(&self, key: String) -> Option<Vec<u8>>;
    fn bump(&self) -> i64;
}

impl Handle for Cache {
    fn put(&self, key: String, value: &[u8]) {
        self.set(key, serde_bytes::Bytes::new(value)).unwrap();
    }
    fn read(&self, key: String) -> Option<Vec<u8>> {
        self.get::<serde_bytes::ByteBuf>(key)
            .unwrap()
            .map(|b| b.into_vec())
    }
    fn bump(&self) -> i64 {
        self.incr("counter", 1, Some(0)).unwrap().as_i64().unwrap()
    }
}

impl Handle for FanoutCache {
    fn put(&self, key: String, value: &[u8]) {
        assert!(self.set(key, serde_bytes::Bytes::new(value)).unwrap());
    }
    fn read(&self, key: String) -> Option<Vec<u8>> {
        self.get::<serde_bytes::ByteBuf>(key)
            .unwrap()
            .map(|b| b.into_vec())
    }
    fn bump(&self) -> i64 {
        self.incr("counter", 1, Some(0))
            .unwrap()
            .unwrap()
            .as_i64()
            .unwrap()
    }
}

/// One side's part: writes its keys and bumps the shared counter, then waits until the other
/// side's keys are all there, checking each value. `other_exited` says whether the other side
/// has exited, after which it writes nothing more: a key still missing then is missing for
/// good, and waiting on would only delay the failure.
fn play(cache: &dyn Handle, me: &str, other: &str, other_exited: &dyn Fn() -> bool) {
    for i in 0..WRITES {
        cache.put(format!("{me}-{i}"), &value_of(me, i));
        cache.bump();
        assert_eq!(cache.read(format!("{me}-{i}")), Some(value_of(me, i)));
    }
    let deadline = Instant::now() + PATIENCE;
    for i in 0..WRITES {
        loop {
            // Asked before the read: whatever the other side wrote before exiting is there.
            let exited = other_exited();
            match cache.read(format!("{other}-{i}")) {
                Some(v) => {
                    assert_eq!(v, value_of(other, i), "{other}-{i} read back wrong in {me}");
                    break;
                }
                None if exited => panic!("{me} never saw {other}-{i}, and {other} has exited"),
                None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
                None => panic!("{me} never saw {other}-{i}"),
            }
        }
    }
}

/// Whether the child `pid` has exited, without reaping it (so that [`wait`] still can).
fn has_exited(pid: libc::pid_t) -> bool {
    // SAFETY: a zeroed `siginfo_t` is valid; `si_pid` stays 0 unless a child exited (the
    // portable way to tell, per waitid(2)); WNOWAIT leaves the child to be reaped later.
    #[allow(unsafe_code)]
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let rc = libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        assert_eq!(rc, 0, "waitid: {}", std::io::Error::last_os_error());
        info.si_pid() != 0
    }
}

/// Forks; the child runs `child` and leaves with its status; the parent gets the child's pid.
fn fork(child: impl FnOnce()) -> libc::pid_t {
    // SAFETY: the child only runs `child` (which uses the cache under test and the
    // allocator) and then `_exit`s without unwinding into the test harness.
    #[allow(unsafe_code)]
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // A watchdog: a child that deadlocks leaves with status 2.
        std::thread::spawn(|| {
            std::thread::sleep(PATIENCE);
            // SAFETY: ends this process at once; nothing to clean up.
            #[allow(unsafe_code)]
            unsafe {
                libc::_exit(2)
            }
        });
        let status = match catch_unwind(AssertUnwindSafe(child)) {
            Ok(()) => 0,
            Err(payload) => {
                // The harness captures this thread's output, so say why on fd 2 directly.
                let why = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let line = format!("forked child failed: {why}\n");
                // SAFETY: writes a live buffer to stderr.
                #[allow(unsafe_code)]
                unsafe {
                    libc::write(2, line.as_ptr().cast(), line.len());
                }
                1
            }
        };
        // SAFETY: ends the child without running the parent's atexit handlers or unwinding.
        #[allow(unsafe_code)]
        unsafe {
            libc::_exit(status)
        }
    }
    pid
}

/// Waits for `pid` to exit, killing it past the deadline; its exit status (or a description
/// of how it ended).
fn wait(pid: libc::pid_t) -> Result<(), String> {
    let deadline = Instant::now() + PATIENCE + Duration::from_secs(5);
    loop {
        let mut status = 0;
        // SAFETY: waits for our own child; `status` outlives the call.
        #[allow(unsafe_code)]
        let got = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(got >= 0, "waitpid: {}", std::io::Error::last_os_error());
        if got == pid {
            return match (libc::WIFEXITED(status), libc::WEXITSTATUS(status)) {
                (true, 0) => Ok(()),
                (true, 1) => Err("the child's checks failed".into()),
                (true, 2) => Err("the child deadlocked (its watchdog fired)".into()),
                _ => Err(format!("the child ended with wait status {status:#x}")),
            };
        }
        if Instant::now() > deadline {
            // SAFETY: signals our own child.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return Err("the child did not exit: killed".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Parent and child both write, read and count on `cache` after a fork; then the parent
/// checks the counter and goes on writing.
fn parent_and_child_share(cache: impl Handle + Clone + 'static) {
    cache.put("before".into(), b"fork");
    cache.bump();
    let in_child = cache.clone();
    let pid = fork(move || {
        assert_eq!(
            in_child.read("before".into()).as_deref(),
            Some(&b"fork"[..])
        );
        play(&in_child, "child", "parent", &|| false);
        drop(in_child);
    });
    play(&cache, "parent", "child", &|| has_exited(pid));
    wait(pid).unwrap();
    assert_eq!(cache.bump(), 2 + 2 * WRITES as i64);
    cache.put("after".into(), b"child exited");
    assert_eq!(
        cache.read("after".into()).as_deref(),
        Some(&b"child exited"[..])
    );
}

#[test]
fn a_cache_works_in_a_forked_child_and_in_its_parent() {
    let _alone = common::alone::take();
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    parent_and_child_share(cache.clone());
    assert!(cache.check(false).unwrap().is_empty());
}

#[test]
fn a_direct_path_cache_works_in_a_forked_child_and_in_its_parent() {
    let _alone = common::alone::take();
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .write_path(WritePath::Direct)
        .open(dir.path())
        .unwrap();
    parent_and_child_share(cache.clone());
    assert!(cache.check(false).unwrap().is_empty());
}

#[test]
fn a_fanout_cache_works_in_a_forked_child_and_in_its_parent() {
    let _alone = common::alone::take();
    let dir = tempfile::tempdir().unwrap();
    let cache = FanoutCache::builder().shards(4).open(dir.path()).unwrap();
    parent_and_child_share(cache.clone());
    assert!(cache.check(false).unwrap().is_empty());
}

/// Forks again and again while another thread of the parent writes without pause, so that
/// forks land while the store's locks and mutexes are held: each child must still write,
/// read and exit, and the parent's writer must never stall.
#[test]
fn forks_during_writes_from_another_thread_neither_deadlock_nor_lose_writes() {
    let _alone = common::alone::take();
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (cache, stop) = (cache.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                cache.put(format!("busy-{i}"), &value_of("busy", i));
                i += 1;
            }
            i
        })
    };
    while cache.read("busy-0".into()).is_none() {
        std::thread::sleep(Duration::from_millis(1));
    }
    for round in 0..8u64 {
        std::thread::sleep(Duration::from_millis(3 * round));
        let in_child = cache.clone();
        let pid = fork(move || {
            for i in 0..20 {
                in_child.put(format!("child{round}-{i}"), &value_of("child", i));
            }
            assert!(in_child.read("busy-0".into()).is_some());
            in_child.bump();
        });
        wait(pid).unwrap_or_else(|e| panic!("round {round}: {e}"));
        for i in 0..20 {
            assert_eq!(
                cache.read(format!("child{round}-{i}")),
                Some(value_of("child", i))
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    for i in 0..written {
        assert_eq!(cache.read(format!("busy-{i}")), Some(value_of("busy", i)));
    }
    assert_eq!(cache.bump(), 9);
    assert!(cache.check(false).unwrap().is_empty());
}

/// A child of a child (a second fork) opens the store once more, and all three processes'
/// writes are seen by all.
#[test]
fn a_grandchild_opens_the_cache_again_too() {
    let _alone = common::alone::take();
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.put("root".into(), b"r");
    let in_child = cache.clone();
    let pid = fork(move || {
        in_child.put("child".into(), b"c");
        let in_grandchild = in_child.clone();
        let grandchild = fork(move || {
            assert_eq!(
                in_grandchild.read("child".into()).as_deref(),
                Some(&b"c"[..])
            );
            in_grandchild.put("grandchild".into(), b"g");
        });
        wait(grandchild).unwrap();
        assert_eq!(
            in_child.read("grandchild".into()).as_deref(),
            Some(&b"g"[..])
        );
        in_child.put("child after".into(), b"c2");
    });
    wait(pid).unwrap();
    for (key, value) in [("child", b"c"), ("grandchild", b"g")] {
        assert_eq!(cache.read(key.into()).as_deref(), Some(&value[..]));
    }
    assert_eq!(
        cache.read("child after".into()).as_deref(),
        Some(&b"c2"[..])
    );
    assert!(cache.check(false).unwrap().is_empty());
}
