//! The simulated calendar: day indexes from the run's first day, local working hours turned
//! into UTC instants, French public holidays and the summer.

use time::{Date, Month, Weekday};
use vigie_core::time::Timestamp;

pub const MINUTE: i64 = 60_000;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

/// The run's calendar, from its first day (UTC midnight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimClock {
    start: Date,
}

impl SimClock {
    pub fn new(start: Date) -> SimClock {
        SimClock { start }
    }

    pub fn start_date(&self) -> Date {
        self.start
    }

    pub fn start_ms(&self) -> i64 {
        Timestamp::from_date(self.start).millis()
    }

    /// The day index of `d` (negative before the start).
    pub fn day_index(&self, d: Date) -> i32 {
        (d - self.start).whole_days().clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
    }

    pub fn date(&self, day: i32) -> Date {
        self.start.checked_add(time::Duration::days(i64::from(day))).unwrap_or(self.start)
    }

    /// The UTC instant of local hour `hour` (fractional) on day `day`, for a site at
    /// `utc_offset_h`.
    pub fn at(&self, day: i32, hour: f64, utc_offset_h: i64) -> i64 {
        self.start_ms() + i64::from(day) * DAY + (hour * HOUR as f64) as i64 - utc_offset_h * HOUR
    }

    /// The day index of a UTC instant.
    pub fn day_of(&self, ms: i64) -> i32 {
        (ms - self.start_ms()).div_euclid(DAY) as i32
    }

    /// A working day in France: not a weekend, not a public holiday.
    pub fn working(&self, day: i32) -> bool {
        let d = self.date(day);
        !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) && !is_public_holiday(d)
    }

    /// Staffing and activity by season: August is half-staffed, early September and January
    /// are peaks (school year, training starts, new year registrations).
    pub fn season(&self, day: i32) -> f64 {
        let d = self.date(day);
        match (d.month(), d.day()) {
            (Month::August, _) => 0.55,
            (Month::July, 14..) => 0.75,
            (Month::September, ..=20) | (Month::January, 5..=31) => 1.25,
            (Month::December, 22..) => 0.6,
            _ => 1.0,
        }
    }

    /// Weekly rhythm: Monday peak, Friday low.
    pub fn weekday_factor(&self, day: i32) -> f64 {
        match self.date(day).weekday() {
            Weekday::Monday => 1.2,
            Weekday::Friday => 0.8,
            _ => 1.0,
        }
    }
}

/// The eleven French public holidays (metropolitan list).
pub fn is_public_holiday(d: Date) -> bool {
    let fixed = matches!(
        (d.month(), d.day()),
        (Month::January, 1)
            | (Month::May, 1)
            | (Month::May, 8)
            | (Month::July, 14)
            | (Month::August, 15)
            | (Month::November, 1)
            | (Month::November, 11)
            | (Month::December, 25)
    );
    if fixed {
        return true;
    }
    let Some(easter) = easter(d.year()) else { return false };
    // Easter Monday, Ascension Thursday, Whit Monday.
    [1, 39, 50].iter().any(|&n| easter.checked_add(time::Duration::days(n)) == Some(d))
}

/// Easter Sunday (anonymous Gregorian algorithm).
fn easter(y: i32) -> Option<Date> {
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    Date::from_calendar_date(y, Month::try_from(month as u8).ok()?, day as u8).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn easter_and_holidays() {
        assert_eq!(easter(2026), Some(date!(2026 - 04 - 05)));
        assert_eq!(easter(2027), Some(date!(2027 - 03 - 28)));
        for d in [date!(2026 - 04 - 06), date!(2026 - 05 - 14), date!(2026 - 05 - 25), date!(2026 - 11 - 11)] {
            assert!(is_public_holiday(d), "{d}");
        }
        assert!(!is_public_holiday(date!(2026 - 11 - 12)));
    }

    #[test]
    fn overseas_hours_fall_on_other_utc_hours() {
        let c = SimClock::new(date!(2026 - 08 - 17));
        assert_eq!(c.at(0, 9.0, 2) - c.start_ms(), 7 * HOUR);
        assert_eq!(c.at(0, 9.0, -4) - c.start_ms(), 13 * HOUR);
        assert_eq!(c.day_of(c.at(3, 23.0, -4)), 4);
        assert!(!c.working(5) && c.working(7));
    }
}
