//! Calendar helpers that never panic: day arithmetic saturates at the date given, and 29 February
//! anniversaries fall on 28 February in common years.

use time::{Date, Duration};

/// `d` moved by `n` days (unchanged if that leaves the representable range).
pub(crate) fn add_days(d: Date, n: i64) -> Date {
    d.checked_add(Duration::days(n)).unwrap_or(d)
}

/// Days from `a` to `b` (negative if `b` is earlier).
pub(crate) fn days_between(a: Date, b: Date) -> i64 {
    i64::from(b.to_julian_day()) - i64::from(a.to_julian_day())
}

/// The same calendar day `years` years earlier (28 February for a 29 February in a common year).
pub(crate) fn years_before(d: Date, years: i32) -> Date {
    let year = d.year() - years;
    Date::from_calendar_date(year, d.month(), d.day())
        .or_else(|_| Date::from_calendar_date(year, d.month(), 28))
        .unwrap_or(d)
}

/// Age in whole years on `day` of someone born on `birth`.
pub(crate) fn age_on(birth: Date, day: Date) -> i32 {
    let mut age = day.year() - birth.year();
    if (u8::from(day.month()), day.day()) < (u8::from(birth.month()), birth.day()) {
        age -= 1;
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn anniversaries_and_ages() {
        assert_eq!(years_before(date!(2024 - 02 - 29), 1), date!(2023 - 02 - 28));
        assert_eq!(years_before(date!(2026 - 03 - 15), 20), date!(2006 - 03 - 15));
        assert_eq!(age_on(date!(2000 - 03 - 15), date!(2026 - 03 - 14)), 25);
        assert_eq!(age_on(date!(2000 - 03 - 15), date!(2026 - 03 - 15)), 26);
        assert_eq!(add_days(date!(2026 - 01 - 31), 1), date!(2026 - 02 - 01));
        assert_eq!(add_days(Date::MAX, 1), Date::MAX);
        assert_eq!(days_between(date!(2026 - 01 - 01), date!(2026 - 01 - 31)), 30);
    }
}
