//! Every page of a small, closed `cache.redb` damaged in turn (its first bytes, where redb keeps
//! a page's type and layout, then bytes across its body), each opened on both write paths and
//! put through every operation: open, get, contains, len, keys, set, incr, delete, the queue,
//! expire, evict, cull, check, check(fix), compact, clear.
//!
//! Guards against a panic inside redb (which hits `unreachable!` on some damaged pages, in
//! release builds as in debug ones) reaching the caller instead of `Error::Corrupted`, against
//! a process that aborts because a handle redb panicked in was used or closed again, and
//! against damaged bytes read back as a value. The operations are those of the `database` fuzz
//! target (`diskcache::fuzzing::database`), which takes arbitrary flips.

use std::panic::{AssertUnwindSafe, catch_unwind};

use diskcache::fuzzing::{PAGE, database, database_len};

/// Offsets within a page flipped together: the page's header, then its body.
const HEADER: [u64; 8] = [0, 1, 2, 3, 8, 9, 10, 11];
const BODY: [u64; 8] = [16, 64, 200, 1000, 2000, 3000, 4000, 4090];

/// The fuzz target's input for flipping every byte at `offsets` of `page`.
fn input(direct: bool, page: u64, offsets: &[u64]) -> Vec<u8> {
    let mut data = vec![u8::from(direct)];
    for offset in offsets {
        let at = u32::try_from(page * PAGE + offset).unwrap();
        data.extend(at.to_le_bytes());
        data.push(0xff);
    }
    data
}

#[test]
fn damage_to_any_page_of_the_database_is_an_error_never_a_panic_nor_a_wrong_value() {
    let len = database_len();
    assert!(len > 0, "the template cache could not be built");
    let pages = len.div_ceil(PAGE);
    let mut failed = Vec::new();
    for direct in [false, true] {
        for page in 0..pages {
            for (part, offsets) in [("header", &HEADER), ("body", &BODY)] {
                let data = input(direct, page, offsets);
                if let Err(panic) = catch_unwind(AssertUnwindSafe(|| database(&data))) {
                    let msg = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default();
                    failed.push(format!("direct {direct}, page {page} {part}: {msg}"));
                }
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} cases panicked:\n{}",
        failed.len(),
        pages * 4,
        failed.join("\n")
    );
}
