//! Distinct persons per account over sliding windows (an hour, a day, a week), in O(1) per
//! event, exact to the minute for the hour and to the hour for the day and the week.
//!
//! Each remembered person's latest touch time is in the detector's table ([`super::places`],
//! keyed by account and person); the windows
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
//! line an event reads. Persons whose latest touch has left the week are swept out of the table
//! by [`Places::sweep`].

use super::places::Places;
use crate::ids::{AgentId, PersonId};
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
    latest: i64,
}

impl Default for DistinctWindows {
    fn default() -> Self {
        DistinctWindows {
            minutes: [0; MINUTES],
            hours: [0; HOURS],
            minute: i64::MIN,
            hour: i64::MIN,
            count: [0; 3],
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
    /// Records an access by `agent` (whose windows these are) to `person` at `now` (times never
    /// go backwards for one account; an earlier time is treated as `now` of the latest event),
    /// in its windows and in `places`. Returns whether the person is new to the week.
    pub fn touch(&mut self, places: &mut Places, agent: AgentId, person: PersonId, now: Timestamp) -> bool {
        // Concurrent requests may be judged slightly out of order: time never goes back.
        let now = now.millis().max(self.latest);
        self.latest = now;
        self.advance(now);
        let prev = places.get(agent.get(), person.get());
        if prev == Some(now) {
            return false; // the same moment again: nothing changes
        }
        // A previous touch out of the week is in no bucket (the sweep has not reached it yet).
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
            _ => self.count[2] += 1,
        }
        self.hours[ring(hour(now), HOURS)] += 1;
        places.insert(agent.get(), person.get(), now);
        !was[2]
    }

    /// Asks for the buckets an event at `now` will read and write (the current minute and hour,
    /// the hour leaving the day), so that their lines come from memory while the rest of the
    /// account's state is read, not one after another when the windows are updated.
    pub fn warm(&self, now: Timestamp) {
        let now = now.millis();
        let (m, h) = (minute(now), hour(now));
        std::hint::black_box(
            self.minutes[ring(m, MINUTES)] ^ self.hours[ring(h, HOURS)] ^ self.hours[ring(h - DAY_SPAN - 1, HOURS)],
        );
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
    /// count; an hour bucket that leaves the week is emptied.
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
                *b = 0;
            }
            self.hour = h;
        }
    }

    /// Rebuilds an account's windows from its persons' last touches (a snapshot's), adding
    /// them to `places`: touching each once, in time order, gives the same counts and last
    /// touches as the original, since a window counts exactly the persons whose last touch lies
    /// in its buckets.
    pub fn from_entries(places: &mut Places, agent: AgentId, entries: &mut [(i64, PersonId)]) -> Self {
        entries.sort_unstable_by_key(|&(t, p)| (t, p.get()));
        let mut w = DistinctWindows::default();
        for &(t, p) in entries.iter() {
            w.touch(places, agent, p, Timestamp(t));
        }
        w
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
        // Deterministic pseudo-random streams over days and weeks, two accounts sharing the
        // table of touches: the counts, what a touch would add and the last touches must equal
        // a recount of each account's accesses at every step. Gaps of zero repeat a moment; long
        // gaps empty whole rings; persons read over weeks leave the week and are swept out.
        for (persons, max_gap_ms, steps) in [
            (300u64, 10 * 60_000u64, 4000),
            (7, 3 * 60_000, 6000),
            (40, 2 * HOUR_MS as u64, 3000),
            (2000, 20 * 60_000, 3000),
            (50, 30 * HOUR_MS as u64, 1500),
        ] {
            let mut places = Places::default();
            let mut w = [DistinctWindows::default(), DistinctWindows::default()];
            let mut logs: [Vec<(i64, u64)>; 2] = [Vec::new(), Vec::new()];
            let mut t = 1_780_000_000_000i64;
            let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ persons;
            for _ in 0..steps {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                t += (x % max_gap_ms) as i64 * i64::from(!x.is_multiple_of(5));
                let person = 1 + (x >> 20) % persons;
                let i = (x >> 60) as usize % 2;
                let agent = AgentId::new(i as u64 + 1).unwrap();
                let (w, log) = (&mut w[i], &mut logs[i]);
                let last = log.iter().rev().find(|(_, q)| *q == person).map(|(lt, _)| *lt);
                let remembered = places.get(agent.get(), person);
                // The latest touch is remembered while in the week (and perhaps a while after).
                if let Some(l) = last.filter(|&l| hour(l) >= hour(t) - WEEK_SPAN) {
                    assert_eq!(remembered, Some(l), "{persons} persons, at {t}");
                }
                let before = recount(log, t);
                let adds = w.adds(remembered, Timestamp(t));
                let new_to_week = w.touch(&mut places, agent, p(person), Timestamp(t));
                log.push((t, person));
                let after = recount(log, t);
                assert_eq!(
                    adds,
                    [after.hour - before.hour, after.day - before.day, after.week - before.week],
                    "{persons} persons, at {t}"
                );
                assert_eq!(new_to_week, adds[2] == 1);
                // Now and then the counts a while later, without a touch in between.
                let later = t + (x >> 40) as i64 % (3 * HOUR_MS) * i64::from(x.is_multiple_of(4));
                assert_eq!(w.at(Timestamp(later)), recount(log, later), "{persons} persons, at {later}");
                assert_eq!(places.get(agent.get(), person), Some(t));
                for _ in 0..64 {
                    places.sweep(later);
                }
                t = later;
            }
        }
    }

    #[test]
    fn a_person_reread_stays_counted_once() {
        let (mut places, a) = (Places::default(), AgentId::new(1).unwrap());
        let mut w = DistinctWindows::default();
        assert!(w.touch(&mut places, a, p(1), Timestamp(0)));
        assert!(!w.touch(&mut places, a, p(1), Timestamp(HOUR_MS - 1)));
        // Read at 00:59:59.999: in the hour window until the end of 01:59 (the 60 minutes
        // before 01:59 and that minute).
        assert_eq!(w.at(Timestamp(HOUR_MS + 10)), Distinct { hour: 1, day: 1, week: 1 });
        assert_eq!(w.at(Timestamp(2 * HOUR_MS - 1)), Distinct { hour: 1, day: 1, week: 1 });
        assert_eq!(w.at(Timestamp(2 * HOUR_MS)), Distinct { hour: 0, day: 1, week: 1 });
        // In the day until the end of the hour 24 hours after its own.
        assert_eq!(w.at(Timestamp(DAY_MS + HOUR_MS - 1)), Distinct { hour: 0, day: 1, week: 1 });
        assert_eq!(w.at(Timestamp(DAY_MS + HOUR_MS)), Distinct { hour: 0, day: 0, week: 1 });
        assert_eq!(w.at(Timestamp(WEEK_MS + HOUR_MS)), Distinct::default());
        // Remembered until the sweep comes by; a touch then counts it anew.
        assert!(w.touch(&mut places, a, p(1), Timestamp(WEEK_MS + 2 * HOUR_MS)));
        assert_eq!(w.at(Timestamp(WEEK_MS + 2 * HOUR_MS)), Distinct { hour: 1, day: 1, week: 1 });
    }

    #[test]
    fn windows_rebuilt_from_last_touches_count_the_same() {
        let (mut places, a) = (Places::default(), AgentId::new(7).unwrap());
        let mut w = DistinctWindows::default();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut t = 1_780_000_000_000i64;
        for _ in 0..5000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            t += (x % 200_000) as i64;
            w.touch(&mut places, a, p(1 + (x >> 20) % 900), Timestamp(t));
        }
        let mut entries: Vec<(i64, PersonId)> = places.iter().map(|(_, q, at)| (at, p(q))).collect();
        let mut again = Places::default();
        let mut rebuilt = DistinctWindows::from_entries(&mut again, a, &mut entries);
        for later in [t, t + 30 * 60_000, t + 5 * HOUR_MS, t + 2 * DAY_MS, t + WEEK_MS] {
            assert_eq!(rebuilt.at(Timestamp(later)), w.at(Timestamp(later)), "at {later}");
        }
        let mut a1: Vec<_> = places.iter().collect();
        let mut a2: Vec<_> = again.iter().collect();
        a1.sort_unstable();
        a2.sort_unstable();
        assert_eq!(a1, a2);
    }
}
