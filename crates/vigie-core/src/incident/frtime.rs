//! Dates and times as a French reader expects them in a letter: metropolitan French legal time
//! (CET, and CEST between the last Sundays of March and October at 01:00 UTC, the EU rule in
//! force since 1996), "6 décembre 2026 à 14 h 05". Written here rather than taken from a time
//! zone database because the core reads no files, and this one rule is all the letters need
//! (overseas départements have their own zones: letters to them say "heure de Paris").

use time::{Date, Month, OffsetDateTime, UtcOffset, Weekday};

use crate::time::Timestamp;

/// The offset of Paris legal time at `t`.
pub fn paris_offset(t: Timestamp) -> UtcOffset {
    let Ok(utc) = OffsetDateTime::from_unix_timestamp(t.seconds()) else { return UtcOffset::UTC };
    let year = utc.year();
    let (Some(start), Some(end)) = (last_sunday_1am_utc(year, Month::March), last_sunday_1am_utc(year, Month::October))
    else {
        return hours(1);
    };
    if utc >= start && utc < end { hours(2) } else { hours(1) }
}

fn hours(h: i8) -> UtcOffset {
    UtcOffset::from_hms(h, 0, 0).unwrap_or(UtcOffset::UTC)
}

fn last_sunday_1am_utc(year: i32, month: Month) -> Option<OffsetDateTime> {
    let last = Date::from_calendar_date(year, month, 31).ok()?;
    let back = last.weekday().number_days_from_sunday();
    let sunday = last - time::Duration::days(i64::from(back));
    debug_assert_eq!(sunday.weekday(), Weekday::Sunday);
    Some(sunday.with_hms(1, 0, 0).ok()?.assume_utc())
}

/// `t` in Paris legal time.
pub fn paris(t: Timestamp) -> OffsetDateTime {
    let utc = OffsetDateTime::from_unix_timestamp(t.seconds()).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    utc.to_offset(paris_offset(t))
}

const MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// "6 décembre 2026" ("1er" for the first of the month, as French usage wants).
pub fn date(t: Timestamp) -> String {
    let d = paris(t);
    let day = if d.day() == 1 { "1er".to_owned() } else { d.day().to_string() };
    format!("{day} {} {}", MONTHS[usize::from(u8::from(d.month())) - 1], d.year())
}

/// "6 décembre 2026 à 14 h 05".
pub fn date_time(t: Timestamp) -> String {
    let d = paris(t);
    format!("{} à {} h {:02}", date(t), d.hour(), d.minute())
}

/// "06/12/2026 14:05" for tables and CSV files.
pub fn short(t: Timestamp) -> String {
    let d = paris(t);
    format!("{:02}/{:02}/{} {:02}:{:02}", d.day(), u8::from(d.month()), d.year(), d.hour(), d.minute())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        let t = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
        Timestamp(t.unix_timestamp() * 1000)
    }

    #[test]
    fn summer_and_winter_time_switch_at_one_utc_on_the_last_sundays() {
        // 2026: summer time from 29 March 01:00 UTC to 25 October 01:00 UTC.
        assert_eq!(paris_offset(at("2026-03-29T00:59:59Z")), hours(1));
        assert_eq!(paris_offset(at("2026-03-29T01:00:00Z")), hours(2));
        assert_eq!(paris_offset(at("2026-10-25T00:59:59Z")), hours(2));
        assert_eq!(paris_offset(at("2026-10-25T01:00:00Z")), hours(1));
        assert_eq!(paris_offset(at("2024-03-31T01:00:00Z")), hours(2), "2024: the last Sunday is the 31st");
    }

    #[test]
    fn letters_read_french_dates() {
        assert_eq!(date_time(at("2026-12-06T13:05:00Z")), "6 décembre 2026 à 14 h 05");
        assert_eq!(date_time(at("2026-07-01T08:00:00Z")), "1er juillet 2026 à 10 h 00");
        assert_eq!(date(at("2026-12-31T23:30:00Z")), "1er janvier 2027", "a UTC evening is the next day in Paris");
        assert_eq!(short(at("2026-02-03T04:05:00Z")), "03/02/2026 05:05");
    }
}
