//! The tests' pseudo-random numbers, with no dependency: [`Xorshift`] (xorshift64) and
//! [`SplitMix`] (splitmix64). Each test keeps the generator and the seed it has always had, so
//! its sequence of values (and any corpus or fixture made from them) stays the same.

use std::time::{SystemTime, UNIX_EPOCH};

/// A xorshift64 generator (shifts 13, 7, 17); its state is never zero.
pub struct Xorshift(u64);

impl Xorshift {
    /// A generator whose state is `state` as given (not zero): the first value is one step on.
    pub fn new(state: u64) -> Xorshift {
        assert_ne!(state, 0, "a xorshift state of zero stays zero");
        Xorshift(state)
    }

    /// A generator seeded from `seed` through one splitmix64 step, so that close seeds give
    /// unrelated sequences.
    pub fn seeded(seed: u64) -> Xorshift {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Xorshift((z ^ (z >> 31)).max(1))
    }

    /// A generator [`seeded`](Xorshift::seeded) from the environment variable `var` (a u64),
    /// or else from the clock; prints the seed and how to replay it, naming `test`.
    pub fn from_env_or_clock(var: &str, test: &str) -> Xorshift {
        let seed = match std::env::var(var) {
            Ok(s) => s
                .parse()
                .unwrap_or_else(|_| panic!("{var} is a u64, not {s:?}")),
            Err(_) => {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
                (now.as_nanos() as u64) ^ u64::from(std::process::id()).rotate_left(32)
            }
        };
        eprintln!("{test}: seed {seed} (replay with {var}={seed})");
        Xorshift::seeded(seed)
    }

    /// The next value.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// The low bytes of the next `n` values.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, (lo, hi): (u64, u64)) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// A splitmix64 generator: any seed, zero included, starts a good sequence.
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    /// The next value.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// An index below `n` (0 when `n` is 0).
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.index(100) < percent
    }

    /// One of `items`, which must not be empty.
    pub fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())].clone()
    }
}
