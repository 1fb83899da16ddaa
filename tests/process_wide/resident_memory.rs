//! The memory budget bounds redb's page cache: reading a whole database of about 70 MB
//! through a handle with a budget of 1 MiB grows this process's anonymous resident memory by
//! a few MiB at most, where redb's default cache (1 GiB) keeps every page read. A child
//! process fills the cache, so that no memory the allocator got for filling it can serve the
//! reads unseen. Resident memory belongs to the whole process: other tests' threads would add
//! to it, hence this binary. Linux only (`RssAnon` of `/proc/self/status`).
//!
//! Negative control (`src/testing/sabotage.rs`): `ignore-memory-budget` gives redb its
//! default cache whatever the budget.

#![cfg(target_os = "linux")]

use crate::common;

use common::child::{Proc, child_env};
use diskcache::Cache;
use serde_bytes::{ByteBuf, Bytes};

/// Entries, and the bytes of each one's value (inline: below `min_file_size`).
const ENTRIES: u64 = 12_000;
const VALUE_LEN: usize = 3500;
/// The budget of the reading handle.
const BUDGET: u64 = 1 << 20;

const FILLER: &str = common::child::role!(child_fills_the_cache);

/// This process's anonymous resident memory, in bytes.
fn rss_anon() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("RssAnon:"))
        .expect("RssAnon in /proc/self/status");
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

#[test]
fn reading_a_whole_cache_keeps_redbs_page_cache_within_the_memory_budget() {
    let _alone = common::alone::take();
    let dir = tempfile::tempdir().unwrap();
    Proc::spawn(FILLER, dir.path(), 0).finish();
    let db_len = std::fs::metadata(dir.path().join("cache.redb"))
        .unwrap()
        .len();
    assert!(db_len > 32 << 20, "the database holds {db_len} bytes");

    let before = rss_anon();
    let cache = Cache::builder()
        .memory_budget(BUDGET)
        .open(dir.path())
        .unwrap();
    // Twice: a cache that kept what it read holds every page by the end of the first pass.
    for _ in 0..2 {
        for i in 0..ENTRIES {
            let got = cache.get::<ByteBuf>(i).unwrap().unwrap();
            assert_eq!(got.len(), VALUE_LEN);
        }
    }
    let grown = rss_anon().saturating_sub(before);
    // redb's default cache keeps about `db_len` bytes; the budget allows 1 MiB, and the
    // allocator's own slack a few more.
    assert!(
        grown < db_len / 4,
        "reading {db_len} bytes of database with a {BUDGET}-byte budget grew resident memory \
         by {grown} bytes"
    );
}

#[test]
#[ignore = "child role: started by its parent test"]
fn child_fills_the_cache() {
    let Some((dir, _)) = child_env(FILLER) else {
        return;
    };
    let cache = Cache::open(&dir).unwrap();
    let value = vec![7u8; VALUE_LEN];
    for i in 0..ENTRIES {
        cache.set(i, Bytes::new(&value)).unwrap();
    }
    cache.close().unwrap();
}
