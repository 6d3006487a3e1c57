//! Distinct persons per account over sliding windows (an hour, a day, a week), in O(1) per
//! event, exact to the minute for the hour and to the hour for the day and the week.
//!
//! Each remembered person's latest touch time is in a table ([`super::places`]); the windows
//! count persons by the bucket their latest touch falls in: one bucket a minute for the last
//! hour, one an hour for the last week. A touch moves its person from the bucket of its previous
//! touch to the current one; a window's count is the persons in its buckets, kept as a running
//! sum that loses a bucket's persons when the bucket leaves it. Every window covers whole
//! buckets and at least its length: the hour window is the current minute and the 60 before it,
//! the day window the current hour and the 24 before it, the week the current hour and the 168
//! before it. A person read at 09:10:30 thus counts in the hour until 10:11:00 and in the day
//! until 10:00 the next day: never less than the window's length, at most a bucket more.
//!
//! Why buckets rather than each touch's exact time: exact windows need the touches in time
//! order (a log, and a cursor per window), so an event wrote the log's tail and marked the
//! person's previous touch in it, two more cache misses beside the account and the person's
//! slot; with 50 000 active accounts each of those is a trip to memory. The buckets live in
//! the account's state, next to the counts, and the table of latest touches is the only other
//! line an event reads. Persons whose latest touch has left the week stay in the table until
//! they are a quarter of it, then are swept out in one pass, so memory follows the week's
//! persons.

use super::places::Places;
use crate::ids::PersonId;
use crate::time::Timestamp;

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
pub const DAY_MS: i64 = 24 * HOUR_MS;
pub const WEEK_MS: i64 = 7 * DAY_MS;
/// Buckets before the current one that each window covers: 60 minutes, 24 and 168 hours.
const HOUR_SPAN: i64 = 60;
const DAY_SPAN: i64 = 24;
const WEEK_SPAN: i64 = 168;
/// Ring sizes: the current bucket and the span before it.
const MINUTES: usize = HOUR_SPAN as usize + 1;
const HOURS: usize = WEEK_SPAN as usize + 1;
/// Persons out of the week are swept once they are this many and a quarter of the table.
const SWEEP_MIN: u32 = 16;

fn minute(t: i64) -> i64 {
    t.div_euclid(MINUTE_MS)
}

fn hour(t: i64) -> i64 {
    t.div_euclid(HOUR_MS)
}

fn ring(bucket: i64, len: usize) -> usize {
    bucket.rem_euclid(len as i64) as usize
}

/// Whether a touch at `last` still counts, at `now`, in the hour, the day and the week.
fn holds(last: i64, now: i64) -> [bool; 3] {
    let (h, lh) = (hour(now), hour(last));
    [minute(last) >= minute(now) - HOUR_SPAN, lh >= h - DAY_SPAN, lh >= h - WEEK_SPAN]
}

#[derive(Clone, Debug)]
pub struct DistinctWindows {
    /// Each remembered person's latest touch time.
    last: Places,
    /// Persons whose latest touch lies in each minute of the hour window, by minute modulo
    /// [`MINUTES`]; zero outside the window.
    minutes: [u32; MINUTES],
    /// The same by hour for the week window (the day window is its last 25 hours).
    hours: [u32; HOURS],
    /// The minute and hour the buckets are brought up to (`i64::MIN`: never).
    minute: i64,
    hour: i64,
    /// Persons in the hour, day and week windows: the sums of their buckets.
    count: [u32; 3],
    /// Persons in `last` whose latest touch has left the week (to be swept out).
    stale: u32,
    latest: i64,
}

impl Default for DistinctWindows {
    fn default() -> Self {
        DistinctWindows {
            last: Places::default(),
            minutes: [0; MINUTES],
            hours: [0; HOURS],
            minute: i64::MIN,
            hour: i64::MIN,
            count: [0; 3],
            stale: 0,
            latest: i64::MIN,
        }
    }
}

/// Distinct persons in the last hour, day and week.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Distinct {
    pub hour: u32,
    pub day: u32,
    pub week: u32,
}

impl DistinctWindows {
    /// Records an access to `person` at `now` (times never go backwards for one account; an
    /// earlier time is treated as `now` of the latest event). Returns whether the person is new
    /// to the week.
    pub fn touch(&mut self, person: PersonId, now: Timestamp) -> bool {
        // Concurrent requests may be judged slightly out of order: time never goes back.
        let now = now.millis().max(self.latest);
        self.latest = now;
        self.advance(now);
        let prev = self.last.get(person.get());
        if prev == Some(now) {
            return false; // the same moment again: nothing changes
        }
        let was = prev.map_or([false; 3], |l| holds(l, now));
        match prev {
            Some(l) if was[0] => self.minutes[ring(minute(l), MINUTES)] -= 1,
            _ => self.count[0] += 1,
        }
        self.minutes[ring(minute(now), MINUTES)] += 1;
        if !was[1] {
            self.count[1] += 1;
        }
        match prev {
            Some(l) if was[2] => self.hours[ring(hour(l), HOURS)] -= 1,
            Some(_) => {
                self.stale -= 1;
                self.count[2] += 1;
            }
            None => self.count[2] += 1,
        }
        self.hours[ring(hour(now), HOURS)] += 1;
        self.last.insert(person.get(), now);
        if self.stale >= SWEEP_MIN && self.stale as usize * 4 >= self.last.len() {
            let since = self.hour - WEEK_SPAN;
            self.last.retain(|_, at| hour(at) >= since);
            self.stale = 0;
        }
        !was[2]
    }

    /// What a touch at `now` of a person last touched at `last` would add to the hour, the day
    /// and the week: 1 where the person is not counted yet.
    pub fn adds(&self, last: Option<i64>, now: Timestamp) -> [u32; 3] {
        let now = now.millis().max(self.latest);
        last.map_or([true; 3], |l| holds(l, now).map(|h| !h)).map(u32::from)
    }

    /// The counts at `now`.
    pub fn at(&mut self, now: Timestamp) -> Distinct {
        self.advance(now.millis().max(self.latest));
        Distinct { hour: self.count[0], day: self.count[1], week: self.count[2] }
    }

    /// Brings the buckets up to `now`: the persons of buckets that leave a window leave its
    /// count; an hour bucket that leaves the week is emptied, its persons now stale.
    fn advance(&mut self, now: i64) {
        let (m, h) = (minute(now), hour(now));
        if self.minute == i64::MIN {
            (self.minute, self.hour) = (m, h);
            return;
        }
        if m > self.minute {
            // Leaving the hour: the minutes from the window's old start to 61 minutes ago.
            for k in self.minute - HOUR_SPAN..=self.minute.min(m - HOUR_SPAN - 1) {
                let b = &mut self.minutes[ring(k, MINUTES)];
                self.count[0] -= *b;
                *b = 0;
            }
            self.minute = m;
        }
        if h > self.hour {
            // The day's leaving hours first: the week's are emptied below, and the week's
            // window holds the day's.
            for k in self.hour - DAY_SPAN..=self.hour.min(h - DAY_SPAN - 1) {
                self.count[1] -= self.hours[ring(k, HOURS)];
            }
            for k in self.hour - WEEK_SPAN..=self.hour.min(h - WEEK_SPAN - 1) {
                let b = &mut self.hours[ring(k, HOURS)];
                self.count[2] -= *b;
                self.stale += *b;
                *b = 0;
            }
            self.hour = h;
        }
    }

    /// When `person` was last touched, if remembered: within the week, or older when not swept
    /// out yet (callers compare it with their time).
    pub fn last_touch(&self, person: PersonId) -> Option<i64> {
        self.last.get(person.get())
    }

    /// Each remembered person and its last touch (snapshots).
    pub fn entries(&self) -> impl Iterator<Item = (PersonId, i64)> + '_ {
        self.last.iter().filter_map(|(p, t)| Some((PersonId::new(p)?, t)))
    }

    /// Rebuilds the windows from persons' last touches (a snapshot's): touching each once, in
    /// time order, gives the same counts and last touches as the original, since a window
    /// counts exactly the persons whose last touch lies in its buckets. Only capacities differ.
    pub fn from_entries(entries: impl IntoIterator<Item = (PersonId, i64)>) -> Self {
        let mut v: Vec<(i64, PersonId)> = entries.into_iter().map(|(p, t)| (t, p)).collect();
        v.sort_unstable_by_key(|&(t, p)| (t, p.get()));
        let mut w = DistinctWindows::default();
        for (t, p) in v {
            w.touch(p, Timestamp(t));
        }
        w
    }

    /// Bytes held beyond the struct itself (the table of latest touches), for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.last.heap_bytes()
    }

    /// Persons remembered (for memory accounting).
    pub fn len(&self) -> usize {
        self.last.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: u64) -> PersonId {
        PersonId::new(n).unwrap()
    }

    /// The windows by their definition: the distinct persons whose latest touch lies in the
    /// current minute or the 60 before it, the current hour or the 24 (168) before it.
    fn recount(log: &[(i64, u64)], t: i64) -> Distinct {
        let since = |bucket_ms: i64, span: i64| {
            let mut s: Vec<u64> = log
                .iter()
                .filter(|(lt, _)| lt.div_euclid(bucket_ms) >= t.div_euclid(bucket_ms) - span)
                .map(|(_, q)| *q)
                .collect();
            s.sort_unstable();
            s.dedup();
            s.len() as u32
        };
        Distinct { hour: since(60_000, 60), day: since(3_600_000, 24), week: since(3_600_000, 168) }
    }

    #[test]
    fn counts_match_a_brute_force_recount() {
        // Deterministic pseudo-random streams over days and weeks: the counts, what a touch
        // would add and the last touches must equal a recount of the accesses at every step.
        // Gaps of zero repeat a moment; long gaps empty whole rings; few persons read over
        // weeks leave the week and are swept out.
        for (persons, max_gap_ms, steps) in [
            (300u64, 10 * 60_000u64, 4000),
            (7, 3 * 60_000, 6000),
            (40, 2 * HOUR_MS as u64, 3000),
            (2000, 20 * 60_000, 3000),
            (50, 30 * HOUR_MS as u64, 1500),
        ] {
            let mut w = DistinctWindows::default();
            let mut log: Vec<(i64, u64)> = Vec::new();
            let mut t = 1_780_000_000_000i64;
            let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ persons;
            for _ in 0..steps {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                t += (x % max_gap_ms) as i64 * i64::from(!x.is_multiple_of(5));
                let person = 1 + (x >> 20) % persons;
                let last = log.iter().rev().find(|(_, q)| *q == person).map(|(lt, _)| *lt);
                let remembered = w.last_touch(p(person));
                // The latest touch is remembered while in the week (and perhaps a while after).
                if let Some(l) = last.filter(|&l| hour(l) >= hour(t) - WEEK_SPAN) {
                    assert_eq!(remembered, Some(l), "{persons} persons, at {t}");
                }
                let before = recount(&log, t);
                let adds = w.adds(remembered, Timestamp(t));
                let new_to_week = w.touch(p(person), Timestamp(t));
                log.push((t, person));
                let after = recount(&log, t);
                assert_eq!(
                    adds,
                    [after.hour - before.hour, after.day - before.day, after.week - before.week],
                    "{persons} persons, at {t}"
                );
                assert_eq!(new_to_week, adds[2] == 1);
                // Now and then the counts a while later, without a touch in between.
                let later = t + (x >> 40) as i64 % (3 * HOUR_MS) * i64::from(x.is_multiple_of(4));
                assert_eq!(w.at(Timestamp(later)), recount(&log, later), "{persons} persons, at {later}");
                assert_eq!(w.last_touch(p(person)), Some(t));
                t = later;
            }
            // Memory follows the week: stale persons are at most a quarter of the table (or a
            // handful).
            let week = w.at(Timestamp(t)).week as usize;
            assert!(
                w.len() <= (week * 4 / 3 + SWEEP_MIN as usize).max(week),
                "{} remembered, {week} in the week",
                w.len()
            );
        }
    }

    #[test]
    fn a_person_reread_stays_counted_once() {
        let mut w = DistinctWindows::default();
        assert!(w.touch(p(1), Timestamp(0)));
        assert!(!w.touch(p(1), Timestamp(HOUR_MS - 1)));
        // Read at 00:59:59.999: in the hour window until the end of 01:59 (the 60 minutes
        // before 01:59 and that minute).
        assert_eq!(w.at(Timestamp(HOUR_MS + 10)), Distinct { hour: 1, day: 1, week: 1 });
        assert_eq!(w.at(Timestamp(2 * HOUR_MS - 1)), Distinct { hour: 1, day: 1, week: 1 });
        assert_eq!(w.at(Timestamp(2 * HOUR_MS)), Distinct { hour: 0, day: 1, week: 1 });
        // In the day until the end of the hour 24 hours after its own.
        assert_eq!(w.at(Timestamp(DAY_MS + HOUR_MS - 1)), Distinct { hour: 0, day: 1, week: 1 });
        assert_eq!(w.at(Timestamp(DAY_MS + HOUR_MS)), Distinct { hour: 0, day: 0, week: 1 });
        assert_eq!(w.at(Timestamp(WEEK_MS + HOUR_MS)), Distinct::default());
        // Remembered, stale, until a sweep; a touch then counts it anew.
        assert!(w.touch(p(1), Timestamp(WEEK_MS + 2 * HOUR_MS)));
        assert_eq!(w.at(Timestamp(WEEK_MS + 2 * HOUR_MS)), Distinct { hour: 1, day: 1, week: 1 });
    }

    #[test]
    fn persons_out_of_the_week_are_swept_out() {
        let mut w = DistinctWindows::default();
        for i in 1..=1000 {
            w.touch(p(i), Timestamp(i as i64));
        }
        // Two weeks later a few persons: the thousand stale ones go at once.
        for i in 1..=3 {
            w.touch(p(10_000 + i), Timestamp(2 * WEEK_MS + i as i64));
        }
        assert_eq!(w.len(), 3);
        assert_eq!(w.last_touch(p(5)), None);
        assert!(w.heap_bytes() <= 16 * 16, "{} bytes", w.heap_bytes());
        assert_eq!(w.at(Timestamp(2 * WEEK_MS + 10)), Distinct { hour: 3, day: 3, week: 3 });
    }
}
