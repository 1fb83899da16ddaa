//! The hash of an encoded key: it places a key in the shared index's table and picks a
//! fanout cache's shard, so it is part of the format (stable across processes, platforms and
//! versions).

/// The hash of an encoded key: FNV-1a 64 then the splitmix64 finalizer; never 0 (which marks
/// an empty slot of the shared index). Stable across processes and platforms.
pub(crate) fn key_hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    h.max(1)
}

#[cfg(test)]
mod tests {
    use super::key_hash;

    /// The hash of `key-1`: every process and platform must agree on it (the shared index,
    /// a fanout cache's shards), and `format-spec/wal.md` states it.
    const PINNED_KEY_1: u64 = 0x3803_edeb_4f44_5d66;

    #[test]
    fn the_hash_is_pinned_and_never_zero() {
        assert_eq!(key_hash(b""), key_hash(b""));
        assert_ne!(key_hash(b"a"), key_hash(b"b"));
        assert_eq!(key_hash(b"key-1"), PINNED_KEY_1);
        assert!(key_hash(b"anything") != 0);
    }
}
