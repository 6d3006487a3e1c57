//! Rate-limited logging of a failure that repeats: the first occurrence is logged, then at most
//! one line per period saying how many were left out. With descriptors exhausted, one ERROR line
//! per failed guarded read made 217 MB of log in 38 s, which fills a disk as surely as the
//! flood that caused it and buries everything else.
//!
//! ```ignore
//! static DENIED: LogLimit = LogLimit::every_secs(10);
//! if let Some(skipped) = DENIED.allow() { tracing::error!(skipped, "…") }
//! ```

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// At most one log line per period for one kind of failure (see the module).
#[derive(Debug)]
pub struct LogLimit {
    period_ms: u64,
    /// Milliseconds since the process's base instant at which the next line may be logged,
    /// plus one (0: none logged yet).
    next: AtomicU64,
    skipped: AtomicU64,
}

impl LogLimit {
    pub const fn every_secs(secs: u64) -> Self {
        LogLimit { period_ms: secs * 1000, next: AtomicU64::new(0), skipped: AtomicU64::new(0) }
    }

    /// Whether this occurrence is to be logged, with how many were left out since the last
    /// line; `None` when it is to be left out (and counted).
    pub fn allow(&self) -> Option<u64> {
        static BASE: OnceLock<Instant> = OnceLock::new();
        let now = u64::try_from(BASE.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX);
        self.allow_at(now)
    }

    /// [`LogLimit::allow`] at `now_ms` on a monotonic clock.
    pub fn allow_at(&self, now_ms: u64) -> Option<u64> {
        let next = self.next.load(Ordering::Relaxed);
        if next != 0 && now_ms + 1 < next {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        // One thread wins the period; the others count as left out.
        if self.next.compare_exchange(next, now_ms + 1 + self.period_ms, Ordering::Relaxed, Ordering::Relaxed).is_err()
        {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(self.skipped.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_failure_is_logged_once_a_period_with_the_count_left_out() {
        let limit = LogLimit::every_secs(10);
        assert_eq!(limit.allow_at(0), Some(0));
        // 10 000 failures in the next 10 s: no line.
        assert!((1..10_000).all(|ms| limit.allow_at(ms).is_none()));
        assert_eq!(limit.allow_at(10_000), Some(9_999));
        assert_eq!(limit.allow_at(10_001), None);
        assert_eq!(limit.allow_at(60_000), Some(1));
    }
}
