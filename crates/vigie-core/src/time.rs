//! Time as an input. The core never reads the clock: the server passes the wall clock, the
//! simulator a simulated one, tests a fixed one.

use std::fmt;

/// Milliseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn millis(self) -> i64 {
        self.0
    }
    pub fn seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }
    pub fn plus_millis(self, ms: i64) -> Self {
        Timestamp(self.0.saturating_add(ms))
    }
    /// The calendar day (UTC) this instant falls on.
    pub fn date(self) -> time::Date {
        time::OffsetDateTime::from_unix_timestamp(self.seconds()).map(|t| t.date()).unwrap_or(time::Date::MIN)
    }
    pub fn from_date(d: time::Date) -> Self {
        Timestamp(d.midnight().assume_utc().unix_timestamp() * 1000)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000);
        match t.ok().and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()) {
            Some(s) => f.write_str(&s),
            None => write!(f, "{}ms", self.0),
        }
    }
}

/// The source of "now" for adapters that need it.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// A clock that stays where it is put: for tests and the simulator.
#[derive(Debug, Default)]
pub struct FixedClock(pub std::sync::atomic::AtomicI64);

impl FixedClock {
    pub fn at(t: Timestamp) -> Self {
        FixedClock(std::sync::atomic::AtomicI64::new(t.0))
    }
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, std::sync::atomic::Ordering::SeqCst);
    }
    pub fn advance_millis(&self, ms: i64) {
        self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// Parses an ISO calendar date `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<time::Date> {
    time::Date::parse(s, &time::format_description::well_known::Iso8601::DATE).ok().filter(|_| s.len() == 10)
}

/// Formats a date as ISO `YYYY-MM-DD`.
pub fn format_date(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        let d = parse_date("1984-03-07").unwrap();
        assert_eq!(format_date(d), "1984-03-07");
        assert_eq!(Timestamp::from_date(d).date(), d);
        for bad in ["1984-3-7", "1984-02-30", "84-03-07", "", "1984-03-07T00:00"] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
    }
}
