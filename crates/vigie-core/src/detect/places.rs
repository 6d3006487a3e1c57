//! Each remembered person's latest touch time: a hash table whose entries hold the person and
//! the time side by side, with linear probing.
//!
//! Why not the standard map: with 50 000 active accounts every account's table is out of cache
//! when its next event comes, and the standard map keeps its control bytes apart from its
//! entries, so a lookup costs two misses, an insert of a new person a third. Here a lookup
//! reads one line (or two, when a probe crosses a line's end) and the insert writes the slot
//! the lookup ended on; a slot is 16 bytes, four to a line. The hash is foldhash's, seeded per
//! table and per process at random, so that person ids chosen by a caller cannot be made to
//! collide; at most three quarters full, probes stay short. Removal shifts the following
//! entries back (no tombstones), [`Places::retain`] rebuilds the table at the survivors' size,
//! and the table halves when it is an eighth full, so memory follows the persons remembered.

use std::hash::BuildHasher;

/// An empty slot (person ids are never 0).
const EMPTY: u64 = 0;
/// The smallest table allocated.
const MIN_SLOTS: usize = 8;

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// A person id, or [`EMPTY`].
    person: u64,
    /// When the person was last touched (milliseconds since the epoch).
    at: i64,
}

#[derive(Clone, Debug, Default)]
pub struct Places {
    /// A power of two long, or empty.
    slots: Box<[Slot]>,
    len: usize,
    hasher: foldhash::fast::RandomState,
}

impl Places {
    fn home(&self, person: u64) -> usize {
        (self.hasher.hash_one(person) as usize) & (self.slots.len() - 1)
    }

    /// The slot holding `person`, or the empty slot where it would go.
    fn probe(&self, person: u64) -> Result<usize, usize> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(person);
        loop {
            match self.slots[i].person {
                k if k == person => return Ok(i),
                EMPTY => return Err(i),
                _ => i = (i + 1) & mask,
            }
        }
    }

    pub fn get(&self, person: u64) -> Option<i64> {
        if self.len == 0 {
            return None;
        }
        self.probe(person).ok().map(|i| self.slots[i].at)
    }

    /// Sets `person`'s latest touch. `person` must not be [`EMPTY`].
    pub fn insert(&mut self, person: u64, at: i64) {
        debug_assert_ne!(person, EMPTY);
        // At most three quarters full: probes stay short.
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.resize((self.slots.len() * 2).max(MIN_SLOTS));
        }
        match self.probe(person) {
            Ok(i) => self.slots[i].at = at,
            Err(i) => {
                self.slots[i] = Slot { person, at };
                self.len += 1;
            }
        }
    }

    /// Forgets `person`; whether it was there.
    pub fn remove(&mut self, person: u64) -> bool {
        if self.len == 0 {
            return false;
        }
        let Ok(mut hole) = self.probe(person) else { return false };
        let mask = self.slots.len() - 1;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let k = self.slots[j].person;
            if k == EMPTY {
                break;
            }
            // An entry may fill the hole if its home is not after the hole (cyclically, the
            // hole lies between its home and where it sits).
            let home = self.home(k);
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots[hole] = self.slots[j];
                hole = j;
            }
        }
        self.slots[hole] = Slot::default();
        self.len -= 1;
        if self.len * 8 < self.slots.len() && self.slots.len() > MIN_SLOTS {
            self.resize(self.slots.len() / 2);
        }
        true
    }

    /// Keeps the persons for whom `keep(person, at)` holds, in a table rebuilt at their size.
    pub fn retain(&mut self, mut keep: impl FnMut(u64, i64) -> bool) {
        let kept: Vec<Slot> =
            self.slots.iter().filter(|s| s.person != EMPTY && keep(s.person, s.at)).copied().collect();
        let mut slots = MIN_SLOTS;
        while kept.len() * 4 > slots * 3 {
            slots *= 2;
        }
        self.slots = if kept.is_empty() { Box::default() } else { vec![Slot::default(); slots].into_boxed_slice() };
        self.len = kept.len();
        for slot in kept {
            if let Err(i) = self.probe(slot.person) {
                self.slots[i] = slot;
            }
        }
    }

    fn resize(&mut self, slots: usize) {
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); slots].into_boxed_slice());
        for &slot in old.iter().filter(|s| s.person != EMPTY) {
            if let Err(i) = self.probe(slot.person) {
                self.slots[i] = slot;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes allocated.
    pub fn heap_bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Slot>()
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, i64)> + '_ {
        self.slots.iter().filter(|s| s.person != EMPTY).map(|s| (s.person, s.at))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn behaves_as_a_map_through_growth_removal_and_shrinking() {
        // A pseudo-random mix of inserts, overwrites and removals over a small key space (long
        // probe chains, wrap-arounds, shifts) and a large one; every step checked against a map.
        for keys in [13u64, 5_000] {
            let mut t = Places::default();
            let mut m: HashMap<u64, i64> = HashMap::new();
            let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ keys;
            for step in 0..40_000u64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let k = 1 + (x >> 8) % keys;
                // Phases: mostly inserting, then mostly removing (the table shrinks).
                let removing = (step / 10_000) % 2 == 1;
                if x.is_multiple_of(3) || (removing && !x.is_multiple_of(5)) {
                    assert_eq!(t.remove(k), m.remove(&k).is_some(), "remove {k} at {step}");
                } else {
                    let at = step as i64 * 7;
                    t.insert(k, at);
                    m.insert(k, at);
                }
                assert_eq!(t.get(k), m.get(&k).copied());
                assert_eq!(t.len(), m.len());
                let slots = t.slots.len();
                assert!(slots == 0 || t.len() * 4 <= slots * 3);
            }
            let mut all: Vec<_> = t.iter().collect();
            all.sort_unstable();
            let mut want: Vec<_> = m.into_iter().collect();
            want.sort_unstable();
            assert_eq!(all, want);
        }
    }

    #[test]
    fn retain_keeps_exactly_the_persons_asked_for_in_a_table_at_their_size() {
        let mut t = Places::default();
        for k in 1..=10_000u64 {
            t.insert(k, k as i64);
        }
        t.retain(|k, at| k % 100 == 0 && at == k as i64);
        assert_eq!(t.len(), 100);
        assert!(t.slots.len() <= 256, "{} slots", t.slots.len());
        for k in 1..=10_000u64 {
            assert_eq!(t.get(k), (k % 100 == 0).then_some(k as i64), "{k}");
        }
        t.insert(7, 1);
        assert_eq!(t.get(7), Some(1));
        t.retain(|_, _| false);
        assert!(t.is_empty() && t.heap_bytes() == 0 && t.get(7).is_none());
        t.insert(9, 2);
        assert_eq!((t.len(), t.get(9)), (1, Some(2)));
    }

    #[test]
    fn an_emptied_table_gives_its_memory_back() {
        let mut t = Places::default();
        for k in 1..=10_000 {
            t.insert(k, k as i64);
        }
        let full = t.slots.len();
        for k in 1..=10_000 {
            assert!(t.remove(k));
        }
        assert!(!t.remove(1));
        assert_eq!(t.get(5), None);
        assert!(t.slots.len() <= MIN_SLOTS * 2 && full >= 10_000 * 4 / 3, "{} of {full}", t.slots.len());
    }
}
