//! Random numbers from the operating system's generator, through `getrandom` (the
//! `getrandom` system call on Linux, `getentropy` on macOS, `ProcessPrng` on Windows): for
//! tokens that must not collide between processes (the write lock's tokens, build tokens,
//! value file names) and for the jitter of early recomputation.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// 64 random bits from the operating system. Should it refuse (a system without the call and
/// without `/dev/urandom`), they are the standard library's randomly keyed hash of the process
/// id, the clock and a per-process counter, which differ between calls and processes too.
pub(crate) fn u64() -> u64 {
    getrandom::u64().unwrap_or_else(|_| keyed_hash())
}

/// 128 random bits from the operating system, as [`u64`] gives them.
pub(crate) fn u128() -> u128 {
    (u128::from(u64()) << 64) | u128::from(u64())
}

/// The fallback of [`u64`]: a fresh `RandomState` (keyed from the operating system once per
/// thread, then by a counter) over the process id, the clock and a call counter.
fn keyed_hash() -> u64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    std::time::SystemTime::now().hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    #[test]
    fn draws_differ() {
        let draws: std::collections::HashSet<u64> = (0..1000).map(|_| super::u64()).collect();
        assert_eq!(draws.len(), 1000);
        assert_ne!(super::keyed_hash(), super::keyed_hash());
    }
}
