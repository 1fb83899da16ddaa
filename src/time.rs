//! The one clock: times are stored as microseconds since the Unix epoch.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch, now. A clock set before 1970 reads as 0.
pub(crate) fn now_us() -> u64 {
    to_us(SystemTime::now())
}

/// A point in time as microseconds since the Unix epoch (saturating at both ends).
pub(crate) fn to_us(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The dual of [`to_us`], saturating at the latest time the system can hold (Windows' ends
/// before `u64::MAX` µs after 1970, which a huge expire time stores).
pub(crate) fn from_us(us: u64) -> SystemTime {
    if let Some(t) = UNIX_EPOCH.checked_add(Duration::from_micros(us)) {
        return t;
    }
    // The largest count of µs below `us` that the system can add: found by halving.
    let (mut fits, mut too_far) = (0u64, us);
    while too_far - fits > 1 {
        let mid = fits + (too_far - fits) / 2;
        if UNIX_EPOCH.checked_add(Duration::from_micros(mid)).is_some() {
            fits = mid;
        } else {
            too_far = mid;
        }
    }
    UNIX_EPOCH + Duration::from_micros(fits)
}

/// The expire time, in µs, of an entry stored at `now` that lives for `ttl`.
///
/// Saturates, so a huge `ttl` means "never in practice"; never returns 0, which the row
/// format reserves for "no expire time".
pub(crate) fn expire_at(now: u64, ttl: Duration) -> u64 {
    let ttl_us = u64::try_from(ttl.as_micros()).unwrap_or(u64::MAX);
    now.saturating_add(ttl_us).max(1)
}

/// `now + timeout`, saturating: a timeout too large to add means "wait without limit"
/// (a hundred years).
pub(crate) fn deadline(timeout: Duration) -> std::time::Instant {
    let now = std::time::Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_saturates() {
        let now = now_us();
        assert_eq!(to_us(from_us(now)), now);
        assert_eq!(expire_at(now, Duration::MAX), u64::MAX);
        assert_eq!(expire_at(0, Duration::ZERO), 1);
        assert!(deadline(Duration::MAX) > std::time::Instant::now());
        let latest = from_us(u64::MAX);
        assert!(latest > from_us(now + 1_000_000 * 3600 * 24 * 365 * 1000));
        assert_eq!(
            from_us(to_us(latest)),
            latest,
            "the latest time round-trips"
        );
    }
}
