//! Who can read a cache, and how long a temporary one lives. A temporary cache is private to
//! its user: its directory is made with mode `0700`, as Python's `tempfile.mkdtemp` makes
//! diskcache's, so that sessions and tokens cached there are not readable by other local users
//! whatever the umask; and it is removed when its last handle is dropped, not before. A cache
//! in a directory the caller names gets that directory's permissions (the umask decides for
//! one the cache creates).
#![cfg(unix)]

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use diskcache::{Cache, FanoutCache};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_temporary_cache_directory_is_private_to_its_user() {
    let cache = Cache::temp().unwrap();
    cache.set("session", "token").unwrap();
    let dir = cache.directory().to_path_buf();
    assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    assert!(dir.starts_with(std::env::temp_dir()));
    cache.close().unwrap();
    assert!(!dir.exists(), "the last handle's close removes it");
}

#[test]
fn a_temporary_fanout_cache_directory_is_private_to_its_user() {
    let cache = FanoutCache::builder().shards(2).temp().unwrap();
    let dir = cache.directory().to_path_buf();
    assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    let named = cache.cache("named").unwrap();
    named.set("k", 1).unwrap();
    drop(cache);
    assert!(dir.exists(), "a cache named in it still uses it");
    assert_eq!(named.get::<i64>("k").unwrap(), Some(1));
    drop(named);
    assert!(!dir.exists(), "the last handle's drop removes it");
}

#[test]
fn two_temporary_caches_never_share_a_directory() {
    let a = Cache::temp().unwrap();
    let b = Cache::temp().unwrap();
    assert_ne!(a.directory(), b.directory());
    let dirs = [a.directory().to_path_buf(), b.directory().to_path_buf()];
    let keys = a.keys().unwrap();
    drop((a, b));
    assert!(dirs[0].exists(), "an iterator still uses the first");
    assert!(!dirs[1].exists());
    drop(keys);
    assert!(!dirs[0].exists());
}

#[test]
fn a_cache_in_a_private_directory_stays_private() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("private");
    std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
    let cache = Cache::builder().min_file_size(100).open(&dir).unwrap();
    cache.set("big", vec![1u8; 1000]).unwrap();
    cache.close().unwrap();
    assert_eq!(
        mode(&dir),
        0o700,
        "opening must not widen the directory's mode"
    );
}
