//! Distinct persons per account over sliding windows (an hour, a day, a week), exact, in
//! amortized O(1) per event.
//!
//! One log of touches in time order serves the three windows: each window keeps a cursor (on
//! the first touch still inside it, once brought up to date), and each remembered person the
//! time and place of its latest touch ([`super::places`]).
//! A touch supersedes the person's previous one (marked in the log, so that it no longer
//! counts when a cursor passes it); a window counts the persons whose latest touch lies at or
//! after its cursor, and a person leaves it when the cursor passes that touch. Cursors move
//! only when exact counts are asked for ([`DistinctWindows::at`]) or something leaves the week,
//! which forgets it.
//! The log is appended to and consumed from the front, so the cursors walk memory in order;
//! when superseded touches make up more than half of it, it is compacted. Memory: one map
//! entry per distinct person of the week, and at most two log entries per person (plus a few).

use std::collections::VecDeque;

use super::places::Touch;
use crate::ids::PersonId;
use crate::time::Timestamp;

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;
pub const WEEK_MS: i64 = 7 * DAY_MS;
const WINDOWS: [i64; 3] = [HOUR_MS, DAY_MS, WEEK_MS];
/// A person id of 0 in the log: a touch superseded by a later one (ids are never 0).
const SUPERSEDED: u64 = 0;

#[derive(Clone, Debug)]
pub struct DistinctWindows {
    /// Each remembered person: its latest touch's time and sequence number in `log`.
    last: super::places::Places,
    /// Touches, oldest first: (time, person id or [`SUPERSEDED`]).
    log: VecDeque<(i64, u64)>,
    /// The sequence number of `log[0]`.
    base: u64,
    /// Per window, the sequence number of the first touch still inside it (hour ≥ day ≥ week).
    cursor: [u64; 3],
    count: [u32; 3],
    /// Per window, a time before which nothing leaves it (its cursor's touch plus its length,
    /// or earlier): until then the log is not read, so an event costs no miss on the log's
    /// far end for windows where nothing is due.
    due: [i64; 3],
    latest: i64,
}

impl Default for DistinctWindows {
    fn default() -> Self {
        DistinctWindows {
            last: Default::default(),
            log: VecDeque::new(),
            base: 0,
            cursor: [0; 3],
            count: [0; 3],
            due: [i64::MAX; 3],
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
    ///
    /// The windows are not brought up to `now` here (only the week, when something leaves it,
    /// so that persons are forgotten): a window counts the persons whose latest touch lies at or
    /// after its cursor, whatever the time, so a touch adds the person to the windows whose
    /// cursor has passed its previous touch, and the counts stay exact once [`Self::at`] moves
    /// the cursors. Until then they are an upper bound ([`Self::upper`]).
    pub fn touch(&mut self, person: PersonId, now: Timestamp) -> bool {
        // Concurrent requests may be judged slightly out of order: time never goes back.
        let now = now.millis().max(self.latest);
        self.latest = now;
        if now >= self.due[2] {
            self.expire(now);
        }
        let prev = self.last.get(person.get());
        if prev.is_some_and(|t| t.at == now) {
            return false; // the same moment again: nothing changes
        }
        for w in 0..WINDOWS.len() {
            if prev.is_none_or(|t| t.place < self.cursor[w]) {
                self.count[w] += 1;
            }
        }
        if let Some(slot) = prev.and_then(|t| self.slot(t.place)) {
            slot.1 = SUPERSEDED;
        }
        let seq = self.base + self.log.len() as u64;
        self.log.push_back((now, person.get()));
        // Entries come in time order: this one is due last, unless its window had none.
        for (due, &len) in self.due.iter_mut().zip(&WINDOWS) {
            *due = (*due).min(now.saturating_add(len));
        }
        self.last.insert(person.get(), Touch { place: seq, at: now });
        if self.log.len() > 2 * self.last.len() + 64 {
            self.compact();
        }
        prev.is_none_or(|t| now - t.at >= WEEK_MS)
    }

    /// The counts as they stand: at least the counts at any time from the latest touch on (a
    /// window only loses persons as time passes), without reading the log.
    pub fn upper(&self) -> Distinct {
        Distinct { hour: self.count[0], day: self.count[1], week: self.count[2] }
    }

    /// The counts at `now`.
    pub fn at(&mut self, now: Timestamp) -> Distinct {
        self.expire(now.millis().max(self.latest));
        Distinct { hour: self.count[0], day: self.count[1], week: self.count[2] }
    }

    fn expire(&mut self, now: i64) {
        let end = self.base + self.log.len() as u64;
        for (w, &len) in WINDOWS.iter().enumerate() {
            if now < self.due[w] {
                continue;
            }
            self.due[w] = i64::MAX;
            while self.cursor[w] < end {
                let Some(&(t, person)) = self.log.get((self.cursor[w] - self.base) as usize) else { break };
                if now - t < len {
                    self.due[w] = t.saturating_add(len);
                    break;
                }
                if person != SUPERSEDED {
                    // The person's latest touch leaves the window: so does the person.
                    self.count[w] -= 1;
                    if len == WEEK_MS {
                        self.last.remove(person);
                    }
                }
                self.cursor[w] += 1;
            }
        }
        // Out of the week: no window needs it.
        while self.base < self.cursor[2] && self.log.pop_front().is_some() {
            self.base += 1;
        }
    }

    /// Drops superseded touches, renumbering the rest (cursors and persons' places follow).
    fn compact(&mut self) {
        let old = std::mem::take(&mut self.log);
        let mut cursor = self.cursor;
        for (i, (t, person)) in old.into_iter().enumerate() {
            let seq = self.base + i as u64;
            let new_seq = self.base + self.log.len() as u64;
            for (new, &old) in cursor.iter_mut().zip(&self.cursor) {
                if old == seq {
                    *new = new_seq;
                }
            }
            if person != SUPERSEDED {
                self.last.insert(person, Touch { place: new_seq, at: t });
                self.log.push_back((t, person));
            }
        }
        let end = self.base + self.log.len() as u64;
        for (new, &old) in cursor.iter_mut().zip(&self.cursor) {
            if *new == old && old >= end {
                *new = end;
            }
        }
        self.cursor = cursor;
    }

    fn slot(&mut self, seq: u64) -> Option<&mut (i64, u64)> {
        let i = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        self.log.get_mut(i)
    }

    /// When `person` was last touched, if remembered: within the week, or older when nothing
    /// has moved the week's cursor since (callers compare it with their time).
    pub fn last_touch(&self, person: PersonId) -> Option<i64> {
        self.last.get(person.get()).map(|t| t.at)
    }

    /// Each remembered person and its last touch (snapshots).
    pub fn entries(&self) -> impl Iterator<Item = (PersonId, i64)> + '_ {
        self.last.iter().filter_map(|(p, t)| Some((PersonId::new(p)?, t.at)))
    }

    /// Rebuilds the windows from persons' last touches (a snapshot's): touching each once, in
    /// time order, gives the same counts and last touches as the original, since a window
    /// counts exactly the persons whose last touch lies in it. Only capacities differ.
    pub fn from_entries(entries: impl IntoIterator<Item = (PersonId, i64)>) -> Self {
        let mut v: Vec<(i64, PersonId)> = entries.into_iter().map(|(p, t)| (t, p)).collect();
        v.sort_unstable_by_key(|&(t, p)| (t, p.get()));
        let mut w = DistinctWindows::default();
        for (t, p) in v {
            w.touch(p, Timestamp(t));
        }
        w
    }

    /// Bytes held beyond the struct itself (map and log capacities), for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        // The table's slots; a log entry: (i64, u64).
        self.last.heap_bytes() + self.log.capacity() * std::mem::size_of::<(i64, u64)>()
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

    #[test]
    fn counts_match_a_brute_force_recount() {
        // Deterministic pseudo-random streams over days: the counts and last touches must equal
        // a recount of the accesses in each window at every step. Few persons touched often
        // compact the log many times; gaps of zero repeat a moment.
        for (persons, max_gap_ms, steps) in
            [(300u64, 10 * 60_000u64, 4000), (7, 3 * 60_000, 6000), (40, 2 * HOUR_MS as u64, 3000)]
        {
            let mut w = DistinctWindows::default();
            let mut log: Vec<(i64, u64)> = Vec::new();
            let mut t = 0i64;
            let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ persons;
            for _ in 0..steps {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                t += (x % max_gap_ms) as i64 * i64::from(!x.is_multiple_of(5));
                let person = 1 + (x >> 20) % persons;
                w.touch(p(person), Timestamp(t));
                log.push((t, person));
                // The exact counts only now and then: in between, touches leave the hour and
                // day unexpired, as the detector's hot path does.
                if !x.is_multiple_of(4) {
                    continue;
                }
                let bound = w.upper();
                let d = w.at(Timestamp(t));
                assert!(bound.hour >= d.hour && bound.day >= d.day && bound.week >= d.week, "{bound:?} {d:?}");
                let recount = |len: i64| {
                    let mut s: Vec<u64> = log.iter().filter(|(lt, _)| t - lt < len).map(|(_, q)| *q).collect();
                    s.sort_unstable();
                    s.dedup();
                    s.len() as u32
                };
                assert_eq!(
                    d,
                    Distinct { hour: recount(HOUR_MS), day: recount(DAY_MS), week: recount(WEEK_MS) },
                    "{persons} persons, at {t}"
                );
                let last = log.iter().rev().find(|(lt, q)| *q == person && t - lt < WEEK_MS).map(|(lt, _)| *lt);
                assert_eq!(w.last_touch(p(person)), last);
                assert!(w.log.len() <= 2 * w.len() + 65, "log compacted: {} for {}", w.log.len(), w.len());
            }
            assert!(w.len() <= persons as usize);
        }
    }

    #[test]
    fn a_person_reread_stays_counted_once() {
        let mut w = DistinctWindows::default();
        assert!(w.touch(p(1), Timestamp(0)));
        assert!(!w.touch(p(1), Timestamp(HOUR_MS - 1)));
        assert_eq!(w.at(Timestamp(HOUR_MS + 10)), Distinct { hour: 1, day: 1, week: 1 });
        assert_eq!(w.at(Timestamp(2 * HOUR_MS)), Distinct { hour: 0, day: 1, week: 1 });
        assert_eq!(w.at(Timestamp(WEEK_MS + HOUR_MS)), Distinct::default());
        assert!(w.is_empty(), "forgotten after a week");
    }
}
