//! Where things are in `cache.wal` and `cache.shm` (format-spec/wal.md), for tests that read
//! or damage them directly.

/// The size of each of the log's two lanes.
pub const LANE_SIZE: usize = 32 << 20;
/// The first 8 bytes of a lane that holds a generation.
pub const LANE_MAGIC: [u8; 8] = *b"DCWAL\0\0\x02";
/// Byte offset in `cache.shm` of the active lane's number.
pub const ACTIVE_AT: usize = 1664;

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// The generation lane `lane` of the log `wal` holds, if it holds one.
pub fn lane_generation(wal: &[u8], lane: usize) -> Option<u64> {
    let start = lane * LANE_SIZE;
    (wal.get(start..start + 8) == Some(&LANE_MAGIC[..])).then(|| le64(wal, start + 8))
}

/// Where the lane of the newest generation of the log `wal` starts, and that generation.
pub fn newest_lane(wal: &[u8]) -> (usize, u64) {
    (0..2)
        .filter_map(|lane| lane_generation(wal, lane).map(|g| (lane * LANE_SIZE, g)))
        .max_by_key(|&(_, generation)| generation)
        .expect("no lane of cache.wal holds a generation")
}

/// Byte offset in `cache.shm` of lane `lane`'s generation word.
pub fn generation_word(lane: usize) -> usize {
    if lane == 0 { 192 } else { 1280 }
}

/// Whether `cache.shm`'s words say of each lane the generation its header in `wal` says (0
/// for none).
pub fn index_in_step(shm: &[u8], wal: &[u8]) -> bool {
    (0..2).all(|lane| le64(shm, generation_word(lane)) == lane_generation(wal, lane).unwrap_or(0))
}
