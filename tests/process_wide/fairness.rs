//! Guards the write lock's fairness: a writer waiting for it gets it within a bounded number
//! of acquisitions by others, so that another writer in a tight loop (releasing it and at
//! once taking it again) cannot keep it out until its timeout. Two tight-loop writers, as two
//! threads of one process (the in-process gate's queue) and as two processes (the logged
//! path's handoff claim in `cache.shm`, the direct path's handoff byte on `cache.lock`), on
//! both write paths, each writing for 4 s with a 1.5 s timeout: both must make progress and
//! neither may time out. Also guards that a claimant killed with SIGKILL while it claims (its
//! claim left in `cache.shm`, or its handoff byte held) does not keep the others out.
//!
//! What makes the tight-loop tests tell a fair lock from an unfair one on any machine, loaded
//! or not: each write is a transaction that sets one key and sleeps 1 ms before it commits
//! (as a durable write blocks in `fdatasync`: the holder sleeps while it holds the lock), and
//! both writers run on one CPU (the first this process may use) under `SCHED_BATCH` (a woken
//! thread does not preempt the one that woke it). A waiter then runs only while the lock is
//! held, and the writer that releases the lock keeps the CPU until it has taken it again: an
//! unfair lock (`DISKCACHE_BROKEN=unfair-lock`) is taken back every time and the waiter times
//! out, as on a machine whose every core is busy. A fair lock lets the waiter in after a write
//! or two (a few milliseconds), far inside the timeout. The pinning is best effort: where it
//! is refused, the tests still run, only with less power to tell.
//!
//! Children are this test binary run again as one of its ignored tests
//! (`tests/common/child.rs`).
//!
//! Linux only: telling a fair lock from an unfair one needs the writers pinned to one CPU
//! under `SCHED_BATCH`, and the logged path is Linux's. The direct path's handoff elsewhere is
//! the same code over `platform::locks`, whose unit tests run on every platform.
#![cfg(target_os = "linux")]

use crate::common;

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::child::{PATIENCE, Proc, child_env, tell_parent, wait_for_file};
use diskcache::{Cache, CacheBuilder, Error, WritePath};

/// How long each writer writes.
const RUN: Duration = Duration::from_secs(4);
/// Each writer's timeout: far above a fair wait (tens of milliseconds) and above the stalls
/// a loaded machine puts on every thread at once (up to 0.7 s seen here), far below the run.
const TIMEOUT: Duration = Duration::from_millis(1500);
/// How long each write holds the lock asleep.
const HOLD: Duration = Duration::from_millis(1);
/// The file a parent creates to let its waiting children start at once.
const GO_FILE: &str = "go";
/// Byte offset in `cache.shm` of the write lock's handoff claim word (format-spec/wal.md).
const CLAIM_OFFSET: usize = 1088;
/// The byte of `cache.lock` whose lock is the direct path's handoff claim.
const HANDOFF_BYTE: i64 = 0;

/// The tests of this file take turns: each pins its writers to the same CPU.
static TURN: Mutex<()> = Mutex::new(());

fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// What one writer did.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    ok: u64,
    timeouts: u64,
    /// The longest one write took, successful or not.
    longest: Duration,
}

impl Tally {
    fn encode(&self) -> String {
        format!("{} {} {}", self.ok, self.timeouts, self.longest.as_micros())
    }

    fn decode(s: &str) -> Tally {
        let mut it = s.split_whitespace().map(|x| x.parse::<u64>().unwrap());
        Tally {
            ok: it.next().unwrap(),
            timeouts: it.next().unwrap(),
            longest: Duration::from_micros(it.next().unwrap()),
        }
    }
}

fn builder(path: WritePath) -> CacheBuilder {
    CacheBuilder::new().write_path(path).timeout(TIMEOUT)
}

/// Binds the calling thread to the first CPU it may run on (the same one for every writer)
/// and puts it under `SCHED_BATCH`; either is skipped where the system refuses it.
fn share_one_cpu_without_wakeup_preemption() {
    // SAFETY: a zeroed cpu_set_t is an empty set and a zeroed sched_param is priority 0;
    // the calls read and write only these two locals, for the calling thread (pid 0).
    #[allow(unsafe_code)]
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let size = std::mem::size_of::<libc::cpu_set_t>();
        if libc::sched_getaffinity(0, size, &mut set) == 0 {
            let cpus = 0..libc::CPU_SETSIZE as usize;
            if let Some(first) = cpus.into_iter().find(|&c| libc::CPU_ISSET(c, &set)) {
                libc::CPU_ZERO(&mut set);
                libc::CPU_SET(first, &mut set);
                libc::sched_setaffinity(0, size, &set);
            }
        }
        let param: libc::sched_param = std::mem::zeroed();
        libc::sched_setscheduler(0, libc::SCHED_BATCH, &param);
    }
}

/// Sets keys of its own (64 of them, round and round), each in a transaction that holds the
/// lock asleep for [`HOLD`], until `RUN` has passed since it began.
fn write_in_a_tight_loop(cache: &Cache, writer: usize) -> Tally {
    share_one_cpu_without_wakeup_preemption();
    let mut tally = Tally::default();
    let start = Instant::now();
    let mut i = 0u64;
    while start.elapsed() < RUN {
        let began = Instant::now();
        let written = cache.transact(|tx| {
            tx.set(format!("w{writer}-{}", i % 64), i)?;
            std::thread::sleep(HOLD);
            Ok(())
        });
        match written {
            Ok(()) => tally.ok += 1,
            Err(Error::Timeout) => tally.timeouts += 1,
            Err(e) => panic!("writer {writer}: {e}"),
        }
        tally.longest = tally.longest.max(began.elapsed());
        i += 1;
    }
    tally
}

/// Both writers progressed and neither timed out.
fn assert_fair(what: &str, tallies: &[Tally]) {
    eprintln!("{what}: {tallies:?}");
    for (w, t) in tallies.iter().enumerate() {
        assert_eq!(t.timeouts, 0, "{what}: writer {w} timed out: {tallies:?}");
        assert!(t.ok > 0, "{what}: writer {w} never wrote: {tallies:?}");
    }
}

// ----- two threads of one process -----------------------------------------------------------

fn two_threads(path: WritePath) {
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    let cache = builder(path).open(dir.path()).unwrap();
    let start = std::sync::Barrier::new(2);
    let tallies: Vec<Tally> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let (cache, start) = (cache.clone(), &start);
                s.spawn(move || {
                    start.wait();
                    write_in_a_tight_loop(&cache, w)
                })
            })
            .collect();
        writers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_fair(&format!("two threads, {path:?}"), &tallies);
}

#[test]
fn two_threads_writing_in_tight_loops_on_the_logged_path_both_progress_without_timeouts() {
    let _alone = common::alone::take();
    two_threads(WritePath::Logged);
}

#[test]
fn two_threads_writing_in_tight_loops_on_the_direct_path_both_progress_without_timeouts() {
    let _alone = common::alone::take();
    two_threads(WritePath::Direct);
}

// ----- two processes ------------------------------------------------------------------------

const WRITER_CHILD: &str = common::child::role!(child_tight_loop_writer);
const DIRECT_WRITER_CHILD: &str = common::child::role!(child_tight_loop_direct_writer);

fn two_processes(path: WritePath, role: &str) {
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    drop(builder(path).open(dir.path()).unwrap());
    let mut procs: Vec<Proc> = (0..2).map(|id| Proc::spawn(role, dir.path(), id)).collect();
    for p in &mut procs {
        p.expect("ready");
    }
    std::fs::write(dir.path().join(GO_FILE), b"").unwrap();
    let tallies: Vec<Tally> = procs
        .iter_mut()
        .map(|p| Tally::decode(&p.expect("tally")))
        .collect();
    for p in procs {
        p.finish();
    }
    assert_fair(&format!("two processes, {path:?}"), &tallies);
}

/// In a child: opens the cache, waits for the go file, writes, and reports its tally.
fn tight_loop_child(role: &str, path: WritePath) {
    let Some((dir, id)) = child_env(role) else {
        return;
    };
    let cache = builder(path).open(&dir).unwrap();
    tell_parent("ready");
    wait_for_file(&dir.join(GO_FILE));
    let tally = write_in_a_tight_loop(&cache, id);
    tell_parent(&format!("tally {}", tally.encode()));
}

#[test]
fn two_processes_writing_in_tight_loops_on_the_logged_path_both_progress_without_timeouts() {
    let _alone = common::alone::take();
    two_processes(WritePath::Logged, WRITER_CHILD);
}

#[test]
fn two_processes_writing_in_tight_loops_on_the_direct_path_both_progress_without_timeouts() {
    let _alone = common::alone::take();
    two_processes(WritePath::Direct, DIRECT_WRITER_CHILD);
}

#[test]
#[ignore = "child role: started by its parent test"]
fn child_tight_loop_writer() {
    tight_loop_child(WRITER_CHILD, WritePath::Logged);
}

#[test]
#[ignore = "child role: started by its parent test"]
fn child_tight_loop_direct_writer() {
    tight_loop_child(DIRECT_WRITER_CHILD, WritePath::Direct);
}

// ----- a claimant killed while it claims ----------------------------------------------------

const CLAIMANT_CHILD: &str = common::child::role!(child_claimant);
const DIRECT_CLAIMANT_CHILD: &str = common::child::role!(child_direct_claimant);

/// In a child: opens the cache, says so, waits for the go file, and sets one key with a long
/// timeout (the parent holds the lock meanwhile, and kills this process while it waits).
fn claimant_child(role: &str, path: WritePath) {
    let Some((dir, _)) = child_env(role) else {
        return;
    };
    let cache = builder(path).timeout(PATIENCE).open(&dir).unwrap();
    tell_parent("ready");
    wait_for_file(&dir.join(GO_FILE));
    cache.set("claimant", 1).unwrap();
    tell_parent("wrote");
}

#[test]
#[ignore = "child role: started by its parent test"]
fn child_claimant() {
    claimant_child(CLAIMANT_CHILD, WritePath::Logged);
}

#[test]
#[ignore = "child role: started by its parent test"]
fn child_direct_claimant() {
    claimant_child(DIRECT_CLAIMANT_CHILD, WritePath::Direct);
}

/// The handoff claim word of the cache in `dir`, read through a mapping of `cache.shm`.
fn claim_word(dir: &Path) -> u64 {
    let file = std::fs::File::open(dir.join("cache.shm")).unwrap();
    // SAFETY: cache.shm is never truncated while in use (format-spec/wal.md); the word is
    // read with one aligned atomic load, as every process accesses it.
    #[allow(unsafe_code)]
    unsafe {
        let map = memmap2::Mmap::map(&file).unwrap();
        let word = &map[CLAIM_OFFSET..CLAIM_OFFSET + 8];
        (*word.as_ptr().cast::<std::sync::atomic::AtomicU64>())
            .load(std::sync::atomic::Ordering::Acquire)
    }
}

/// Whether some process holds the direct path's handoff byte of `cache.lock` in `dir`.
fn handoff_byte_held(dir: &Path) -> bool {
    use std::os::fd::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join("cache.lock"))
        .unwrap();
    // SAFETY: a zeroed `flock` is valid; the descriptor is open for the call.
    #[allow(unsafe_code)]
    unsafe {
        let mut lk: libc::flock = std::mem::zeroed();
        lk.l_type = libc::F_WRLCK as libc::c_short;
        lk.l_whence = libc::SEEK_SET as libc::c_short;
        lk.l_start = HANDOFF_BYTE;
        lk.l_len = 1;
        assert_eq!(libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut lk), 0);
        lk.l_type != libc::F_UNLCK as libc::c_short
    }
}

/// Waits (at most 10 s: a fair lock's waiter claims within milliseconds) until `claimed`
/// says the child has claimed the handoff.
fn wait_for_claim(claimed: impl Fn() -> bool) {
    let start = Instant::now();
    while !claimed() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the waiting child never claimed the handoff"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_claimant_killed_while_it_claims_the_logged_lock_does_not_keep_others_out() {
    let _alone = common::alone::take();
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    let cache = builder(WritePath::Logged).open(dir.path()).unwrap();
    let mut child = Proc::spawn(CLAIMANT_CHILD, dir.path(), 0);
    child.expect("ready");
    let held = common::hold_log_lock(dir.path());
    std::fs::write(dir.path().join(GO_FILE), b"").unwrap();
    // The child waits for the held lock, and soon claims the handoff.
    wait_for_claim(|| claim_word(dir.path()) != 0);
    child.kill();
    drop(held);
    // The lock is free and claimed by a dead process: the next writer clears the claim.
    cache.set("after", 2).unwrap();
    assert_eq!(claim_word(dir.path()), 0);
    assert_eq!(cache.get::<i64>("claimant").unwrap(), None);
    assert_eq!(cache.get::<i64>("after").unwrap(), Some(2));
}

#[test]
fn a_claimant_killed_while_it_holds_the_direct_handoff_byte_does_not_keep_others_out() {
    let _alone = common::alone::take();
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    let cache = builder(WritePath::Direct).open(dir.path()).unwrap();
    let mut child = Proc::spawn(DIRECT_CLAIMANT_CHILD, dir.path(), 0);
    child.expect("ready");
    // This process's write transaction holds redb's writer lock while the child waits for it,
    // claims the handoff, and is killed.
    cache
        .transact(|tx| {
            tx.set("holder", 1)?;
            std::fs::write(dir.path().join(GO_FILE), b"").unwrap();
            wait_for_claim(|| handoff_byte_held(dir.path()));
            child.kill();
            Ok(())
        })
        .unwrap();
    assert!(
        !handoff_byte_held(dir.path()),
        "the dead child's claim is gone"
    );
    cache.set("after", 2).unwrap();
    assert_eq!(cache.get::<i64>("claimant").unwrap(), None);
    assert_eq!(cache.get::<i64>("after").unwrap(), Some(2));
}
