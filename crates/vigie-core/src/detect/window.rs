//! Distinct persons per account over sliding windows (an hour, a day, a week), exact, in
//! amortized O(1) per event.
//!
//! Each person the account touched keeps its last-access time; each window keeps a min-heap of
//! the moments persons *entered* it and a count. A person enters a window when it is touched
//! and was not in it; when its entry reaches the window's end, it leaves unless it was touched
//! again meanwhile, in which case it re-enters at that later time (out of order: hence a heap,
//! O(log n)). Memory: one map entry per distinct person of the week, plus at most one heap
//! entry per person and window.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::ids::PersonId;
use crate::time::Timestamp;

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;
pub const WEEK_MS: i64 = 7 * DAY_MS;
const WINDOWS: [i64; 3] = [HOUR_MS, DAY_MS, WEEK_MS];

#[derive(Clone, Debug, Default)]
pub struct DistinctWindows {
    last: super::FastMap<PersonId, i64>,
    entered: [BinaryHeap<Reverse<(i64, u64)>>; 3],
    count: [u32; 3],
    latest: i64,
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
        self.expire(now);
        let prev = self.last.insert(person, now);
        for (w, &len) in WINDOWS.iter().enumerate() {
            let inside = prev.is_some_and(|p| now - p < len);
            if !inside {
                self.entered[w].push(Reverse((now, person.get())));
                self.count[w] += 1;
            }
        }
        prev.is_none_or(|p| now - p >= WEEK_MS)
    }

    /// The counts at `now`.
    pub fn at(&mut self, now: Timestamp) -> Distinct {
        self.expire(now.millis().max(self.latest));
        Distinct { hour: self.count[0], day: self.count[1], week: self.count[2] }
    }

    fn expire(&mut self, now: i64) {
        for (w, &len) in WINDOWS.iter().enumerate() {
            while let Some(&Reverse((t, person))) = self.entered[w].peek() {
                if now - t < len {
                    break;
                }
                self.entered[w].pop();
                let Some(p) = PersonId::new(person) else { continue };
                match self.last.get(&p) {
                    // Touched again after entering: still inside, re-enters at that time.
                    Some(&last) if last > t && now - last < len => self.entered[w].push(Reverse((last, person))),
                    _ => {
                        self.count[w] -= 1;
                        // Out of the week (the last window checked): forgotten altogether.
                        if len == WEEK_MS {
                            self.last.remove(&p);
                        }
                    }
                }
            }
        }
    }

    /// When `person` was last touched, if within the week.
    pub fn last_touch(&self, person: PersonId) -> Option<i64> {
        self.last.get(&person).copied()
    }

    /// Each remembered person and its last touch (snapshots).
    pub fn entries(&self) -> impl Iterator<Item = (PersonId, i64)> + '_ {
        self.last.iter().map(|(&p, &t)| (p, t))
    }

    /// Rebuilds the windows from persons' last touches (a snapshot's): touching each once, in
    /// time order, gives the same counts and last touches as the original, since a window
    /// counts exactly the persons whose last touch lies in it. Only heap capacities differ.
    pub fn from_entries(entries: impl IntoIterator<Item = (PersonId, i64)>) -> Self {
        let mut v: Vec<(i64, PersonId)> = entries.into_iter().map(|(p, t)| (t, p)).collect();
        v.sort_unstable_by_key(|&(t, p)| (t, p.get()));
        let mut w = DistinctWindows::default();
        for (t, p) in v {
            w.touch(p, Timestamp(t));
        }
        w
    }

    /// Bytes held beyond the struct itself (map and heap capacities), for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        // A hash map entry: key, value, one control byte; a heap entry: (i64, u64).
        self.last.capacity() * (std::mem::size_of::<(PersonId, i64)>() + 1)
            + self.entered.iter().map(|h| h.capacity() * std::mem::size_of::<(i64, u64)>()).sum::<usize>()
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
        // A deterministic pseudo-random stream over 9 days; the counts must equal a recount
        // of the accesses in each window at every step.
        let mut w = DistinctWindows::default();
        let mut log: Vec<(i64, u64)> = Vec::new();
        let mut t = 0i64;
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..4000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            t += (x % (10 * 60_000)) as i64; // up to 10 minutes apart
            let person = 1 + x % 300;
            w.touch(p(person), Timestamp(t));
            log.push((t, person));
            let d = w.at(Timestamp(t));
            let recount = |len: i64| {
                let mut s: Vec<u64> = log.iter().filter(|(lt, _)| t - lt < len).map(|(_, q)| *q).collect();
                s.sort_unstable();
                s.dedup();
                s.len() as u32
            };
            assert_eq!(d, Distinct { hour: recount(HOUR_MS), day: recount(DAY_MS), week: recount(WEEK_MS) }, "at {t}");
        }
        assert!(w.len() <= 300);
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
