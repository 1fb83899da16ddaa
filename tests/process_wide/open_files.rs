//! Guards that a cache's file descriptors stay bounded however many value files it has and
//! however many threads read them, and that running out of descriptors (`EMFILE`) is an error
//! the cache recovers from, not a panic.
//!
//! The bound: a handle keeps five descriptors open (`cache.redb`, `cache.wal`, `cache.shm`,
//! `cache.lock`, `cache.boot`; a value file's memory map does not keep its descriptor), and each
//! operation in flight opens at most one more for a moment (the value file it reads or writes).
//! `check` opens a second database handle and walks the value folders (three levels).
#![cfg(target_os = "linux")]

use crate::common;

use common::child::{Proc, child_env};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use diskcache::{Cache, Error};
use serde_bytes::{ByteBuf, Bytes};

/// Value files in the cache: 10,000 in the suite (creating 100,000 files takes a minute on a
/// busy disk); `DISKCACHE_OPEN_FILES_VALUES=100000` runs the full size.
fn values() -> usize {
    std::env::var("DISKCACHE_OPEN_FILES_VALUES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}
const THREADS: usize = 8;
/// Descriptors one handle keeps open.
const PER_HANDLE: usize = 5;

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn value_of(i: usize) -> Vec<u8> {
    format!("value file {i:08}").into_bytes()
}

/// The child test that runs out of descriptors (the limit is per process).
const EMFILE_CHILD: &str =
    common::child::role!(an_emfile_child_runs_out_of_descriptors_when_started_by_a_parent);

#[test]
fn descriptors_stay_bounded_and_running_out_of_them_is_an_error() {
    let _alone = common::alone::take();
    let dir = tempfile::tempdir().unwrap();
    let before = open_descriptors();
    // Every value in its own file.
    let cache = Cache::builder().min_file_size(1).open(dir.path()).unwrap();
    let n = values();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        cache
            .transact(|tx| {
                for &i in chunk {
                    tx.set(i as i64, Bytes::new(&value_of(i)))?;
                }
                Ok(())
            })
            .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let most = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (stop, most) = (stop.clone(), most.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                most.fetch_max(open_descriptors(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    };
    let readers: Vec<_> = (0..THREADS)
        .map(|t| {
            let cache = cache.clone();
            std::thread::spawn(move || {
                let mut readers = Vec::new();
                for i in (t..n).step_by(THREADS) {
                    let got = cache.get::<ByteBuf>(i as i64).unwrap().unwrap();
                    assert_eq!(got.into_vec(), value_of(i));
                    if i % 97 == 0 {
                        // Readers kept alive hold maps, not descriptors.
                        readers.push(cache.get_reader(i as i64).unwrap().unwrap());
                    }
                }
                readers.len()
            })
        })
        .collect();
    let kept: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(cache.check(false).unwrap().is_empty());
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    // The watcher's own read_dir, the threads' transient value files, check's walk and
    // second handle, and the test harness's noise, on top of one handle's.
    let bound = before + PER_HANDLE + THREADS + 1 + 4;
    let most = most.load(Ordering::Relaxed);
    println!(
        "{n} value files, {THREADS} reader threads, {kept} readers kept: at most {most} \
         descriptors open ({before} before opening; bound {bound})"
    );
    assert!(most <= bound, "{most} descriptors open, bound {bound}");

    // Running out of descriptors, in a child process (the limit is per process).
    Proc::spawn(EMFILE_CHILD, dir.path(), 0).finish();
}

/// Child of [`descriptors_stay_bounded_and_running_out_of_them_is_an_error`]: with the
/// descriptor limit at what is open now, reads of value files, writes and opens fail with
/// `Error::Io` (EMFILE); once the limit is raised all works again. Without a parent (the role
/// is ignored in the normal run) it returns at once.
#[test]
#[ignore = "child role: started by its parent test"]
fn an_emfile_child_runs_out_of_descriptors_when_started_by_a_parent() {
    let Some((dir, _)) = child_env(EMFILE_CHILD) else {
        return;
    };
    let cache = Cache::open(&dir).unwrap();
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: reads this process's limit into a valid struct.
    #[allow(unsafe_code)]
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
    }
    let original = limit;
    // The limit bounds descriptor numbers: set it at the lowest free one, which the next
    // open would get.
    let lowest_free = {
        use std::os::fd::AsRawFd;
        std::fs::File::open("/dev/null").unwrap().as_raw_fd()
    };
    limit.rlim_cur = lowest_free as libc::rlim_t;
    // SAFETY: lowers this process's soft limit.
    #[allow(unsafe_code)]
    unsafe {
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    let emfile = |e: Error| match e {
        Error::Io(io) if io.raw_os_error() == Some(libc::EMFILE) => {}
        other => panic!("expected EMFILE, got {other}"),
    };
    emfile(cache.get::<ByteBuf>(1).unwrap_err());
    emfile(cache.get_reader(2).unwrap_err());
    emfile(cache.set(3, Bytes::new(&[9u8; 10])).unwrap_err());
    emfile(Cache::open(dir.join("another")).unwrap_err());
    // SAFETY: restores this process's soft limit.
    #[allow(unsafe_code)]
    unsafe {
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &original), 0);
    }
    assert_eq!(
        cache.get::<ByteBuf>(1).unwrap().unwrap().into_vec(),
        value_of(1)
    );
    cache.set(3, Bytes::new(&[9u8; 10])).unwrap();
    assert_eq!(
        cache.get::<ByteBuf>(3).unwrap().unwrap().into_vec(),
        vec![9u8; 10]
    );
    assert!(Cache::open(dir.join("another")).is_ok());
}
