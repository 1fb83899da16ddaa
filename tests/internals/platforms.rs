//! Guards what `Cache::open` does on each platform: a new cache gets the platform's default
//! write path (the logged path on Linux, the direct path on macOS and Windows, which have no
//! other), asking for a path the platform lacks is `Error::InvalidArgument`, and a cache
//! directory last used with the logged path on Linux opens elsewhere with the direct path only
//! when nothing of the log is left: never while a process has it open through the log, nor
//! while its log (`cache.wal`) holds writes not yet applied to the database (they would be
//! lost to the direct path, which reads the database alone). Each refusal says what to do,
//! and once Linux has applied the log the cache opens elsewhere with every entry.
//!
//! On Linux the other platforms' behaviour runs through
//! `diskcache::platform::as_if_without_logged_path`, which makes a thread open caches as
//! macOS and Windows do; the writers that leave a log behind are real child processes (this
//! binary run again as one of its ignored tests, `tests/common/child.rs`), one killed with
//! SIGKILL after its writes. On Windows the first two tests run as they are. The negative
//! control `ignore-unapplied-log` (`src/testing/sabotage.rs`) opens such a cache anyway, and the
//! Linux tests fail under it.

use diskcache::platform::as_if_without_logged_path;
use diskcache::{Cache, Error, WritePath};

#[test]
fn a_new_cache_gets_the_platforms_default_write_path() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let expected = if cfg!(target_os = "linux") {
        WritePath::Logged
    } else {
        WritePath::Direct
    };
    assert_eq!(cache.settings().write_path, expected);
    assert_eq!(WritePath::default(), expected);
    assert!(WritePath::Direct.is_available());
    cache.set("k", 1).unwrap();
    assert_eq!(cache.get::<i64>("k").unwrap(), Some(1));

    let elsewhere = tempfile::tempdir().unwrap();
    as_if_without_logged_path(|| {
        let cache = Cache::open(elsewhere.path()).unwrap();
        assert_eq!(cache.settings().write_path, WritePath::Direct);
        assert!(!WritePath::Logged.is_available());
    });
}

#[test]
fn asking_for_the_logged_path_where_it_is_missing_is_an_invalid_argument_naming_the_direct_path() {
    let dir = tempfile::tempdir().unwrap();
    let refused = as_if_without_logged_path(|| {
        Cache::builder()
            .write_path(WritePath::Logged)
            .open(dir.path())
    });
    match refused {
        Err(Error::InvalidArgument(msg)) => {
            assert!(
                msg.contains("WritePath::Logged") && msg.contains("WritePath::Direct"),
                "{msg}"
            );
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    // The direct path, asked for or not, opens it.
    as_if_without_logged_path(|| {
        Cache::builder()
            .write_path(WritePath::Direct)
            .open(dir.path())
            .unwrap()
            .set("k", 1)
            .unwrap();
        assert_eq!(
            Cache::open(dir.path()).unwrap().get::<i64>("k").unwrap(),
            Some(1)
        );
    });
}

/// The logged-path tests need Linux, where a cache can be written through the log.
#[cfg(target_os = "linux")]
mod from_linux {
    use super::*;
    use crate::common::child::{Proc, child_env, tell_parent, wait_for_file};
    use std::path::Path;

    /// A child that opens the cache (logged path), writes `KEYS` entries, one in its own
    /// value file, says `written`, and then either waits for the file `release` and closes
    /// cleanly, or is killed.
    const WRITER: &str =
        crate::common::child::role!(a_log_writer_child_writes_and_waits_when_started_by_a_parent);
    /// Entries each writer writes.
    const KEYS: i64 = 50;
    /// The file that lets a waiting writer close.
    const RELEASE: &str = "release";

    fn large() -> Vec<u8> {
        vec![7u8; 64 * 1024]
    }

    #[test]
    #[ignore = "child role: started by its parent test"]
    fn a_log_writer_child_writes_and_waits_when_started_by_a_parent() {
        let Some((dir, _id)) = child_env(WRITER) else {
            return;
        };
        let cache = Cache::open(&dir).unwrap();
        assert_eq!(cache.settings().write_path, WritePath::Logged);
        for i in 0..KEYS {
            cache.set(i, i).unwrap();
        }
        cache.set("large", large()).unwrap();
        tell_parent("written");
        wait_for_file(&dir.join(RELEASE));
        cache.close().unwrap();
    }

    /// Checks that `cache` holds everything a writer wrote, and `more` other entries.
    fn assert_holds_the_writes_and(cache: &Cache, more: u64) {
        for i in 0..KEYS {
            assert_eq!(cache.get::<i64>(i).unwrap(), Some(i), "key {i}");
        }
        assert_eq!(cache.get::<Vec<u8>>("large").unwrap(), Some(large()));
        assert_eq!(cache.len().unwrap(), KEYS as u64 + 1 + more);
    }

    /// Checks that `cache` holds everything a writer wrote, and nothing else.
    fn assert_holds_the_writes(cache: &Cache) {
        assert_holds_the_writes_and(cache, 0);
    }

    /// Opens `dir` as macOS and Windows do.
    fn open_elsewhere(dir: &Path) -> diskcache::Result<Cache> {
        as_if_without_logged_path(|| Cache::open(dir))
    }

    #[test]
    fn a_cache_closed_on_linux_opens_elsewhere_with_the_direct_path_and_every_entry() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = Proc::spawn(WRITER, dir.path(), 0);
        writer.expect("written");
        std::fs::write(dir.path().join(RELEASE), b"").unwrap();
        writer.finish();

        let cache = open_elsewhere(dir.path()).unwrap();
        assert_eq!(cache.settings().write_path, WritePath::Direct);
        assert_holds_the_writes(&cache);
        as_if_without_logged_path(|| cache.set("after", 1)).unwrap();
        drop(cache);
        // The direct path is stored: back on Linux the cache stays on it.
        let back = Cache::open(dir.path()).unwrap();
        assert_eq!(back.settings().write_path, WritePath::Direct);
        assert_holds_the_writes_and(&back, 1);
        assert_eq!(back.get::<i64>("after").unwrap(), Some(1));
    }

    #[test]
    fn a_cache_whose_log_holds_writes_is_refused_elsewhere_until_linux_applies_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = Proc::spawn(WRITER, dir.path(), 0);
        writer.expect("written");
        // Killed: no checkpoint, so its writes are in the log only.
        writer.kill();

        match open_elsewhere(dir.path()) {
            Err(Error::InvalidArgument(msg)) => {
                assert!(
                    msg.contains("not yet applied") && msg.contains("open it on Linux"),
                    "{msg}"
                );
            }
            Ok(cache) => panic!(
                "opened with {} of {} entries",
                cache.len().unwrap(),
                KEYS + 1
            ),
            Err(other) => panic!("expected InvalidArgument, got {other}"),
        }
        // Opening it on Linux applies the log (its last handle's close checkpoints).
        let on_linux = Cache::open(dir.path()).unwrap();
        assert_holds_the_writes(&on_linux);
        on_linux.close().unwrap();
        let cache = open_elsewhere(dir.path()).unwrap();
        assert_eq!(cache.settings().write_path, WritePath::Direct);
        assert_holds_the_writes(&cache);
    }

    #[test]
    fn a_cache_open_through_the_log_in_another_process_is_refused_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = Proc::spawn(WRITER, dir.path(), 0);
        writer.expect("written");

        match open_elsewhere(dir.path()) {
            Err(Error::InvalidArgument(msg)) => {
                assert!(msg.contains("open in another process"), "{msg}");
            }
            Ok(_) => panic!("opened with the direct path while a logged-path writer has it"),
            Err(other) => panic!("expected InvalidArgument, got {other}"),
        }
        std::fs::write(dir.path().join(RELEASE), b"").unwrap();
        writer.finish();
        assert_holds_the_writes(&open_elsewhere(dir.path()).unwrap());
    }
}
