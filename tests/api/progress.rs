//! The long whole-cache operations with progress (`clear_with_progress` and its kin): the
//! reports count what was done, a `Break` stops the operation between slices or shards with
//! the cache consistent and the count of what was done, and a panic in the callback is the
//! caller's. Guards against counts that disagree with what was removed, a stop that loses or
//! half-applies work, and reports out of order.

use std::ops::ControlFlow;

use diskcache::{Cache, FanoutCache, Outcome, Phase, Progress, SetOptions};

/// A cache of `n` entries, every fourth one's value in a file, culling off.
fn filled(dir: &std::path::Path, n: u64) -> Cache {
    let cache = Cache::builder()
        .min_file_size(256)
        .cull_limit(0)
        .open(dir)
        .unwrap();
    for i in 0..n {
        let value = if i % 4 == 0 {
            vec![7u8; 300]
        } else {
            vec![7u8; 8]
        };
        cache.set(i, value).unwrap();
    }
    cache
}

#[test]
fn clear_reports_each_slice_and_ends_at_its_total() {
    let dir = tempfile::tempdir().unwrap();
    let cache = filled(dir.path(), 3000);
    let mut reports: Vec<Progress> = Vec::new();
    let outcome = cache
        .clear_with_progress(|p| {
            reports.push(*p);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(outcome, Outcome::Finished(3000));
    assert!(reports.len() >= 2, "{reports:?}");
    assert_eq!(reports[0].done, 0, "the start is reported");
    for pair in reports.windows(2) {
        assert!(pair[0].done <= pair[1].done, "{reports:?}");
    }
    for p in &reports {
        assert_eq!(p.phase, Phase::Removing);
        assert_eq!(p.total, Some(3000));
        assert_eq!((p.shard, p.shards), (0, 1));
    }
    assert_eq!(reports.last().unwrap().done, 3000);
    assert_eq!(cache.len().unwrap(), 0);
}

#[test]
fn a_break_at_the_start_removes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cache = filled(dir.path(), 500);
    let outcome = cache
        .clear_with_progress(|_| ControlFlow::Break(()))
        .unwrap();
    assert_eq!(outcome, Outcome::Stopped(0));
    assert!(outcome.is_stopped());
    assert_eq!(cache.len().unwrap(), 500);
    assert!(cache.check(false).unwrap().is_empty());
}

#[test]
fn a_break_after_a_slice_leaves_a_consistent_cache_and_says_what_went() {
    let dir = tempfile::tempdir().unwrap();
    let cache = filled(dir.path(), 3000);
    // Stops after the first slice that removed anything (if the whole clear fit in one slice,
    // it finished instead: either way what it says it removed must be what went).
    let outcome = cache
        .clear_with_progress(|p| {
            if p.done > 0 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    let removed = *outcome.value();
    assert!(removed > 0);
    assert_eq!(cache.len().unwrap(), 3000 - removed);
    // No row without its value file, no file without its row, counters and tables right.
    assert_eq!(cache.check(false).unwrap(), Vec::new());
    let left: u64 = (0..3000u64)
        .map(|i| u64::from(cache.contains(i).unwrap()))
        .sum();
    assert_eq!(left, 3000 - removed);
    assert_eq!(cache.clear().unwrap(), 3000 - removed);
}

#[test]
fn expire_evict_and_cull_count_as_their_plain_methods() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .cull_limit(0)
        .size_limit(20_000)
        .open(dir.path())
        .unwrap();
    let soon = SetOptions::default().expire(std::time::Duration::from_nanos(1));
    for i in 0..300 {
        cache
            .set_with(format!("expiring-{i}"), i, soon.clone())
            .unwrap();
        cache
            .set_with(format!("tagged-{i}"), i, SetOptions::default().tag("t"))
            .unwrap();
        cache.set(format!("large-{i}"), vec![0u8; 200]).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(2));
    let last = std::cell::Cell::new(None);
    let mut record = |p: &Progress| {
        assert_eq!((p.phase, p.total), (Phase::Removing, None));
        last.set(Some(p.done));
        ControlFlow::Continue(())
    };
    assert_eq!(
        cache.expire_with_progress(&mut record).unwrap(),
        Outcome::Finished(300)
    );
    assert_eq!(
        cache.evict_with_progress("t", &mut record).unwrap(),
        Outcome::Finished(300)
    );
    let culled = cache.cull_with_progress(&mut record).unwrap();
    assert!(!culled.is_stopped());
    assert!(*culled.value() > 0);
    assert_eq!(last.get(), Some(*culled.value()));
    assert!(cache.volume().unwrap() <= 20_000);
}

#[test]
fn check_reports_its_phases_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let cache = filled(dir.path(), 3000);
    let mut phases: Vec<Phase> = Vec::new();
    let mut rows = Vec::new();
    let outcome = cache
        .check_with_progress(false, |p| {
            if phases.last() != Some(&p.phase) {
                phases.push(p.phase);
            }
            if p.phase == Phase::Rows {
                rows.push((p.done, p.total));
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(outcome, Outcome::Finished(Vec::new()));
    assert_eq!(
        phases,
        [
            Phase::Integrity,
            Phase::Rows,
            Phase::Files,
            Phase::Tables,
            Phase::Confirm
        ]
    );
    assert_eq!(rows.first(), Some(&(0, Some(3000))));
    assert_eq!(rows.last(), Some(&(3000, Some(3000))));
}

/// Deletes one value file of the cache in `dir`.
fn lose_a_value_file(dir: &std::path::Path) {
    let file = crate::common::files_ending_with(dir, ".val")
        .into_iter()
        .next()
        .unwrap();
    std::fs::remove_file(dir.join(file)).unwrap();
}

#[test]
fn a_check_stopped_before_its_confirmation_repairs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cache = filled(dir.path(), 3000);
    lose_a_value_file(dir.path());
    let outcome = cache
        .check_with_progress(true, |p| {
            if p.phase == Phase::Rows && p.done > 0 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(outcome, Outcome::Stopped(Vec::new()));
    assert_eq!(cache.len().unwrap(), 3000, "nothing was repaired");
    assert_eq!(cache.check(false).unwrap().len(), 1);
    // A check that runs to its end repairs it.
    let outcome = cache
        .check_with_progress(true, |_| ControlFlow::Continue(()))
        .unwrap();
    assert!(!outcome.is_stopped());
    assert_eq!(outcome.value().len(), 1);
    assert!(cache.check(false).unwrap().is_empty());
    assert_eq!(cache.len().unwrap(), 2999);
}

#[test]
fn compact_reports_and_can_give_up_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let cache = filled(dir.path(), 500);
    let stopped = cache
        .compact_with_progress(|_| ControlFlow::Break(()))
        .unwrap();
    assert_eq!(stopped, Outcome::Stopped(()));
    let mut phases = Vec::new();
    let done = cache
        .compact_with_progress(|p| {
            phases.push(p.phase);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(done, Outcome::Finished(()));
    assert_eq!(phases.first(), Some(&Phase::Compact));
    assert_eq!(cache.len().unwrap(), 500);
}

#[test]
fn a_fanout_stopped_between_shards_cleared_exactly_the_shards_before() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FanoutCache::builder().shards(4).open(dir.path()).unwrap();
    for i in 0..400 {
        cache.set(i, i).unwrap();
    }
    let before: Vec<u64> = cache.shards().iter().map(|s| s.len().unwrap()).collect();
    let mut totals = Vec::new();
    let outcome = cache
        .clear_with_progress(|p| {
            totals.push((p.total, p.shards));
            if p.shard == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(outcome, Outcome::Stopped(before[0] + before[1]));
    assert!(totals.iter().all(|t| *t == (Some(400), 4)), "{totals:?}");
    let after: Vec<u64> = cache.shards().iter().map(|s| s.len().unwrap()).collect();
    assert_eq!(after, [0, 0, before[2], before[3]]);
    assert!(cache.check(false).unwrap().is_empty());
}

#[test]
fn a_fanout_check_names_each_shard() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FanoutCache::builder().shards(3).open(dir.path()).unwrap();
    for i in 0..100 {
        cache.set(i, i).unwrap();
    }
    let mut shards = Vec::new();
    let outcome = cache
        .check_with_progress(false, |p| {
            if p.phase == Phase::Integrity {
                shards.push((p.shard, p.shards));
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(outcome, Outcome::Finished(Vec::new()));
    assert_eq!(shards, [(0, 3), (1, 3), (2, 3)]);
    let compacted = cache
        .compact_with_progress(|_| ControlFlow::Continue(()))
        .unwrap();
    assert_eq!(compacted, Outcome::Finished(()));
}

#[test]
fn a_panic_in_the_callback_is_the_callers_and_leaves_the_cache_usable() {
    let dir = tempfile::tempdir().unwrap();
    let cache = filled(dir.path(), 2000);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = cache.check_with_progress(false, |p| {
            if p.phase == Phase::Rows && p.done > 0 {
                panic!("the caller's own panic");
            }
            ControlFlow::Continue(())
        });
    }));
    let payload = caught.expect_err("the panic goes on unwinding");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"the caller's own panic")
    );
    assert!(cache.check(false).unwrap().is_empty());
    assert_eq!(cache.len().unwrap(), 2000);
}
