//! The FanoutCache cells of Python diskcache's tutorial, in Rust: a cache of four shards, a
//! memoized Fibonacci, eviction by tag, and a write that gives up on a busy shard instead of
//! waiting for it.
//!
//! Run with `cargo run --example fanout`. `tests/api/fanout.rs` runs the same code and checks
//! what it reports.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use diskcache::{FanoutCache, Key, Memo, MemoOptions, SetOptions};

/// What the tour found, for `tests/api/fanout.rs` to check.
#[derive(Debug)]
pub struct Tour {
    /// fibonacci(n) for n in 0..100.
    pub fibonacci: Vec<u128>,
    /// The cache's length after memoizing them.
    pub memoized: u64,
    /// The cache's length before the eviction.
    pub before: u64,
    /// What `evict("odd")` returned.
    pub evicted: u64,
    /// The cache's length after it.
    pub left: u64,
    /// What a write to the busy shard returned, and how long it took.
    pub busy_write: (bool, Duration),
    /// What a write to another shard returned meanwhile.
    pub other_write: bool,
}

/// fibonacci(n), each result kept in the memo: the recursion reaches the stored results
/// of smaller `n` instead of computing them again.
fn fibonacci(memo: &Memo<u64, u128>, n: u64) -> diskcache::Result<u128> {
    memo.get_or_compute(&n, |&n| {
        Ok(if n < 2 {
            u128::from(n)
        } else {
            fibonacci(memo, n - 1)? + fibonacci(memo, n - 2)?
        })
    })
}

/// A key that lives in shard `shard`.
fn key_in_shard(cache: &FanoutCache, shard: usize) -> diskcache::Result<String> {
    for i in 0.. {
        let key = format!("key-{i}");
        if cache.shard_index(&Key::from(key.as_str()))? == shard {
            return Ok(key);
        }
    }
    unreachable!("some key hashes to every shard")
}

/// Runs the tour in `dir`, writing what it does to `out`.
///
/// # Errors
/// The cache's errors.
pub fn tour(dir: &Path, out: &mut impl Write) -> diskcache::Result<Tour> {
    // FanoutCache(directory, shards=4, timeout=1): writes that cannot have their shard
    // within 50 ms give up and return false.
    let cache = FanoutCache::builder()
        .shards(4)
        .timeout(Duration::from_millis(50))
        .open(dir)?;
    writeln!(
        out,
        "opened a FanoutCache of {} shards in {}",
        cache.shards().len(),
        dir.display()
    )?;

    // @cache.memoize(typed=True, tag='fib') def fibonacci(number): ...
    let memo = cache.memo::<u64, u128>("fibonacci", MemoOptions::default().typed(true).tag("fib"));
    let fibonacci = (0..100)
        .map(|n| fibonacci(&memo, n))
        .collect::<diskcache::Result<Vec<_>>>()?;
    for n in [10, 50, 99] {
        writeln!(out, "fibonacci({n}) = {}", fibonacci[n])?;
    }
    writeln!(out, "fibonacci(100) = {}", self::fibonacci(&memo, 100)?)?;
    let sum: u128 = fibonacci.iter().sum();
    writeln!(out, "sum of fibonacci(0..100) = {sum}")?;
    let memoized = cache.len()?;
    writeln!(out, "{memoized} results memoized over the shards")?;

    // Tags: cache.set(key, value, tag=...) then cache.evict(tag).
    cache.clear()?;
    for i in 0..20 {
        let tag = if i % 2 == 0 { "even" } else { "odd" };
        cache.set_with(i, i, SetOptions::default().tag(tag))?;
    }
    let before = cache.len()?;
    writeln!(
        out,
        "set {before} keys, the odd ones tagged \"odd\", the even ones \"even\""
    )?;
    let evicted = cache.evict("odd")?;
    let left = cache.len()?;
    writeln!(out, "evict(\"odd\") removed {evicted}; {left} keys left")?;

    // A busy shard: this thread holds shard 0's write lock in a transaction while another
    // thread writes. Its write to a key of shard 0 returns false after the timeout, instead
    // of an error; shard 1 is free.
    let busy_key = key_in_shard(&cache, 0)?;
    let other_key = key_in_shard(&cache, 1)?;
    let (busy_write, other_write) = cache.shards()[0].transact(|_tx| {
        std::thread::scope(|s| {
            s.spawn(|| -> diskcache::Result<_> {
                let started = Instant::now();
                let busy = cache.set(busy_key.as_str(), "value")?;
                let busy = (busy, started.elapsed());
                Ok((busy, cache.set(other_key.as_str(), "value")?))
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    })?;
    writeln!(
        out,
        "while shard 0 was busy: set({busy_key:?}) returned {} after {:?}, set({other_key:?}) \
         in shard 1 returned {other_write}",
        busy_write.0, busy_write.1
    )?;
    writeln!(
        out,
        "afterwards: set({busy_key:?}) returned {}",
        cache.set(busy_key.as_str(), "value")?
    )?;

    Ok(Tour {
        fibonacci,
        memoized,
        before,
        evicted,
        left,
        busy_write,
        other_write,
    })
}

#[allow(
    dead_code,
    reason = "tests/api/fanout.rs includes this file and calls only `tour`"
)]
fn main() -> diskcache::Result<()> {
    let dir = tempfile::tempdir()?;
    tour(dir.path(), &mut std::io::stdout())?;
    Ok(())
}
