//! Every account's remembered persons and when each was last touched by it: one hash table for
//! the whole detector, keyed by (agent, person), in shards, with linear probing.
//!
//! Why one table rather than one per account: with 50 000 active accounts both an event's
//! account and its person's slot are out of cache. With a table per account the person's slot
//! could only be looked for once the account's state (holding the table's address) had come
//! from memory: two misses one after the other. Keyed by (agent, person), the slot's address
//! follows from the event alone, and the detector asks for it before the account's state, so
//! that the two loads overlap.
//!
//! Why not the standard map: it keeps its control bytes apart from its entries, so a lookup
//! costs two misses, an insert of a new entry a third. Here a lookup reads one line (or two,
//! when a probe crosses a line's end) and the insert writes the slot the lookup ended on. The
//! hash is foldhash's, seeded per table and per process at random, so that ids chosen by a
//! caller cannot be made to collide; at most three quarters full, probes stay short.
//!
//! Why shards: a table of millions of entries that doubles would stop the detector for tens of
//! milliseconds while it moves them; 4 096 shards each grow on their own, so one growth moves a
//! 4 096th of the entries. Removal shifts the following entries back (no tombstones). Persons
//! whose latest touch has left the week are swept out a few slots per event ([`Places::sweep`]),
//! shard after shard, and a shard is rebuilt at its survivors' size after its pass, so memory
//! follows the persons the week remembers.

use std::hash::BuildHasher;

use super::window::{HOUR_MS, WEEK_MS};

/// An empty slot (agent ids are never 0).
const EMPTY: u32 = 0;
/// The smallest shard allocated.
const MIN_SLOTS: usize = 8;
const SHARD_BITS: u32 = 12;
const SHARDS: usize = 1 << SHARD_BITS;
/// Slots a sweep step looks at: with 5 million persons remembered (8 million slots), a pass over
/// the table every million events, for a few nanoseconds an event.
pub const SWEEP_SLOTS: usize = 8;

/// 16 bytes, four to a cache line: ids in 32 bits, which the store's ids (counted up from 1)
/// fit; larger ids go to [`Places`]'s `wide` map. With 24-byte slots (ids in 64 bits) the table
/// took half as much memory again (41 bytes a remembered person against 27).
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// An agent id, or [`EMPTY`].
    agent: u32,
    person: u32,
    /// When the agent last touched the person (milliseconds since the epoch).
    at: i64,
}

#[derive(Clone, Debug)]
struct Shard {
    /// A power of two long, or empty.
    slots: Box<[Slot]>,
    len: usize,
    /// At most the earliest touch in the shard (`i64::MAX`: none): a shard with nothing out of
    /// the week is skipped by the sweep without reading its slots.
    oldest: i64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { slots: Box::default(), len: 0, oldest: i64::MAX }
    }
}

impl Shard {
    /// The slot holding (agent, person), or the empty slot where it would go; `home` is the
    /// hash's low bits.
    fn probe(&self, home: usize, agent: u32, person: u32) -> Result<usize, usize> {
        let mask = self.slots.len() - 1;
        let mut i = home & mask;
        loop {
            let s = &self.slots[i];
            if s.agent == agent && s.person == person {
                return Ok(i);
            }
            if s.agent == EMPTY {
                return Err(i);
            }
            i = (i + 1) & mask;
        }
    }
}

#[derive(Clone, Debug)]
pub struct Places {
    shards: Box<[Shard]>,
    hasher: foldhash::fast::RandomState,
    /// Entries whose agent or person id does not fit in 32 bits (none from the store in
    /// practice): a standard map, swept whole at the end of each pass over the shards.
    wide: super::FastMap<(u64, u64), i64>,
    /// The sweep's place: a shard and a slot in it; the earliest touch seen in the shard's pass
    /// (kept or inserted since the pass began), its `oldest` at the pass's end.
    sweep_shard: usize,
    sweep_slot: usize,
    sweep_oldest: i64,
}

impl Default for Places {
    fn default() -> Self {
        Places {
            shards: vec![Shard::default(); SHARDS].into_boxed_slice(),
            hasher: Default::default(),
            wide: Default::default(),
            sweep_shard: 0,
            sweep_slot: 0,
            sweep_oldest: i64::MAX,
        }
    }
}

/// The ids in the table's 32-bit fields, if they fit (an agent id is never 0).
fn narrow(agent: u64, person: u64) -> Option<(u32, u32)> {
    Some((u32::try_from(agent).ok().filter(|&a| a != EMPTY)?, u32::try_from(person).ok()?))
}

impl Places {
    /// The shard (the hash's high bits) and home (its low bits) of (agent, person).
    fn locate(&self, agent: u64, person: u64) -> (usize, usize) {
        let h = self.hasher.hash_one((agent, person));
        ((h >> (64 - SHARD_BITS)) as usize, h as usize)
    }

    /// When `agent` last touched `person`, if remembered.
    pub fn get(&self, agent: u64, person: u64) -> Option<i64> {
        let Some((a, p)) = narrow(agent, person) else { return self.wide.get(&(agent, person)).copied() };
        let (s, home) = self.locate(agent, person);
        let shard = &self.shards[s];
        if shard.len == 0 {
            return None;
        }
        shard.probe(home, a, p).ok().map(|i| shard.slots[i].at)
    }

    /// Sets when `agent` last touched `person`. `agent` must not be [`EMPTY`].
    pub fn insert(&mut self, agent: u64, person: u64, at: i64) {
        let Some((a, p)) = narrow(agent, person) else {
            self.wide.insert((agent, person), at);
            return;
        };
        let (s, home) = self.locate(agent, person);
        let shard = &self.shards[s];
        // At most three quarters full: probes stay short.
        if (shard.len + 1) * 4 > shard.slots.len() * 3 {
            self.resize(s, (shard.slots.len() * 2).max(MIN_SLOTS));
        }
        if s == self.sweep_shard {
            self.sweep_oldest = self.sweep_oldest.min(at);
        }
        let shard = &mut self.shards[s];
        shard.oldest = shard.oldest.min(at);
        match shard.probe(home, a, p) {
            Ok(i) => shard.slots[i].at = at,
            Err(i) => {
                shard.slots[i] = Slot { agent: a, person: p, at };
                shard.len += 1;
            }
        }
    }

    /// Empties slot `i` of shard `s`, shifting the entries after it back.
    fn remove_at(&mut self, s: usize, mut hole: usize) {
        let hasher = &self.hasher;
        let shard = &mut self.shards[s];
        let mask = shard.slots.len() - 1;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let k = shard.slots[j];
            if k.agent == EMPTY {
                break;
            }
            // An entry may fill the hole if its home is not after the hole (cyclically, the
            // hole lies between its home and where it sits).
            let home = hasher.hash_one((u64::from(k.agent), u64::from(k.person))) as usize & mask;
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                shard.slots[hole] = k;
                hole = j;
            }
        }
        shard.slots[hole] = Slot::default();
        shard.len -= 1;
    }

    /// One step of the sweep: looks at the next [`SWEEP_SLOTS`] slots and removes the entries
    /// last touched before `now`'s hour minus a week and an hour. An account's windows count a
    /// person until the end of the hour a week after its touch, and an account's events may
    /// come slightly out of order with others': an hour's margin, so that no account still
    /// counts a person swept out. A shard whose earliest touch is recent enough is skipped
    /// whole; at the end of a shard's pass, a sparse shard is rebuilt at its size.
    pub fn sweep(&mut self, now: i64) {
        let since = (now.div_euclid(HOUR_MS) - WEEK_MS / HOUR_MS - 1).saturating_mul(HOUR_MS);
        let s = self.sweep_shard;
        if self.sweep_slot == 0 && self.shards[s].oldest >= since {
            self.next_shard(since);
            return;
        }
        let mut budget = SWEEP_SLOTS;
        while budget > 0 && self.sweep_slot < self.shards[s].slots.len() {
            let slot = self.shards[s].slots[self.sweep_slot];
            if slot.agent != EMPTY && slot.at < since {
                // The entry shifted into this slot is looked at next.
                self.remove_at(s, self.sweep_slot);
            } else {
                if slot.agent != EMPTY {
                    self.sweep_oldest = self.sweep_oldest.min(slot.at);
                }
                self.sweep_slot += 1;
            }
            budget -= 1;
        }
        if self.sweep_slot >= self.shards[s].slots.len() {
            self.shards[s].oldest = self.sweep_oldest;
            let (len, capacity) = (self.shards[s].len, self.shards[s].slots.len());
            // Emptied, or an eighth full: rebuilt at its size.
            if (len == 0 && capacity > 0) || (len * 8 < capacity && capacity > MIN_SLOTS) {
                let mut slots = MIN_SLOTS;
                while len * 4 > slots * 3 {
                    slots *= 2;
                }
                self.resize(s, if len == 0 { 0 } else { slots });
            }
            self.next_shard(since);
        }
    }

    /// Moves the sweep to the next shard; after the last, sweeps the wide map whole.
    fn next_shard(&mut self, since: i64) {
        self.sweep_shard = (self.sweep_shard + 1) % SHARDS;
        self.sweep_slot = 0;
        self.sweep_oldest = i64::MAX;
        if self.sweep_shard == 0 && !self.wide.is_empty() {
            self.wide.retain(|_, at| *at >= since);
        }
    }

    fn resize(&mut self, s: usize, slots: usize) {
        if s == self.sweep_shard {
            // The entries move: the pass over this shard starts again.
            self.sweep_slot = 0;
            self.sweep_oldest = i64::MAX;
        }
        let old = std::mem::replace(&mut self.shards[s].slots, vec![Slot::default(); slots].into_boxed_slice());
        for &slot in old.iter().filter(|x| x.agent != EMPTY) {
            let home = self.hasher.hash_one((u64::from(slot.agent), u64::from(slot.person))) as usize;
            if let Err(i) = self.shards[s].probe(home, slot.agent, slot.person) {
                self.shards[s].slots[i] = slot;
            }
        }
    }

    /// Entries remembered, all accounts together (for memory figures and snapshots: a pass over
    /// the shards' counts).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.len).sum::<usize>() + self.wide.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes allocated.
    pub fn heap_bytes(&self) -> usize {
        self.shards.len() * std::mem::size_of::<Shard>()
            + self.shards.iter().map(|s| s.slots.len() * std::mem::size_of::<Slot>()).sum::<usize>()
            + self.wide.capacity() * (std::mem::size_of::<((u64, u64), i64)>() + 1)
    }

    /// Every entry: (agent, person, last touch).
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64, i64)> + '_ {
        let narrow = self.shards.iter().flat_map(|s| s.slots.iter()).filter(|s| s.agent != EMPTY);
        narrow
            .map(|s| (u64::from(s.agent), u64::from(s.person), s.at))
            .chain(self.wide.iter().map(|(&(a, p), &at)| (a, p, at)))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Forgets what `agent` touched in `person`; whether it was there (the detector only ever
    /// forgets through the sweep; removals at random test the shifting back).
    fn remove(t: &mut Places, agent: u64, person: u64) -> bool {
        let Some((a, p)) = narrow(agent, person) else { return t.wide.remove(&(agent, person)).is_some() };
        let (s, home) = t.locate(agent, person);
        if t.shards[s].len == 0 {
            return false;
        }
        let Ok(i) = t.shards[s].probe(home, a, p) else { return false };
        t.remove_at(s, i);
        true
    }

    #[test]
    fn behaves_as_a_map_through_growth_removal_and_sweeps() {
        // A pseudo-random mix of inserts, overwrites and removals over a small key space (long
        // probe chains, wrap-arounds, shifts) and a large one, with sweep steps in between;
        // every step checked against a map.
        for keys in [13u64, 5_000, 200_000] {
            let mut t = Places::default();
            let mut m: HashMap<(u64, u64), i64> = HashMap::new();
            let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ keys;
            let mut now = 0i64;
            for step in 0..60_000u64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let k = 1 + (x >> 8) % keys;
                // Now and then ids too large for the table's 32-bit fields (the wide map).
                let (agent, person) = match (x >> 40) % 16 {
                    0 => (1 + k % 7, k + (1 << 32)),
                    1 => ((1 << 32) + k % 7, k),
                    _ => (1 + k % 7, k),
                };
                now += (x % 60_000) as i64;
                if x.is_multiple_of(3) {
                    assert_eq!(
                        remove(&mut t, agent, person),
                        m.remove(&(agent, person)).is_some(),
                        "remove {k} at {step}"
                    );
                } else {
                    t.insert(agent, person, now);
                    m.insert((agent, person), now);
                }
                if x.is_multiple_of(4) {
                    t.sweep(now);
                    let since = (now.div_euclid(HOUR_MS) - 169) * HOUR_MS;
                    // What the sweep may remove: entries older than a week and an hour, and
                    // only those.
                    m.retain(|key, at| *at >= since || t.get(key.0, key.1).is_some());
                }
                assert_eq!(t.get(agent, person), m.get(&(agent, person)).copied());
                assert_eq!(t.len(), m.len());
            }
            let mut all: Vec<_> = t.iter().collect();
            all.sort_unstable();
            let mut want: Vec<_> = m.into_iter().map(|((a, p), at)| (a, p, at)).collect();
            want.sort_unstable();
            assert_eq!(all, want);
            for s in t.shards.iter() {
                assert!(s.slots.is_empty() || s.len * 4 <= s.slots.len() * 3);
            }
        }
    }

    #[test]
    fn a_sweep_at_the_edges_of_time_does_not_overflow() {
        let mut t = Places::default();
        t.insert(1, 2, i64::MIN);
        t.insert(1, 3, i64::MAX);
        for now in [i64::MIN, 0, i64::MAX] {
            for _ in 0..2 * SHARDS {
                t.sweep(now);
            }
        }
        assert_eq!((t.get(1, 2), t.get(1, 3)), (None, Some(i64::MAX)));
    }

    #[test]
    fn ids_beyond_32_bits_are_swept_even_when_every_shard_is_skipped() {
        let mut t = Places::default();
        t.insert(1 << 40, 7, 0);
        t.insert(3, 1 << 33, 0);
        // Nothing in the shards: each sweep step skips one.
        for _ in 0..SHARDS {
            t.sweep(8 * 24 * HOUR_MS);
        }
        assert!(t.is_empty(), "{}", t.len());
    }

    #[test]
    fn the_same_person_is_apart_for_each_agent() {
        let mut t = Places::default();
        t.insert(1, 42, 10);
        t.insert(2, 42, 20);
        assert_eq!((t.get(1, 42), t.get(2, 42), t.get(3, 42)), (Some(10), Some(20), None));
        // An agent whose id differs only above 32 bits is another agent.
        t.insert(1 + (1 << 32), 42, 30);
        assert_eq!((t.get(1, 42), t.get(1 + (1 << 32), 42)), (Some(10), Some(30)));
        assert!(remove(&mut t, 1, 42));
        assert_eq!((t.get(1, 42), t.get(2, 42)), (None, Some(20)));
    }

    #[test]
    fn sweeps_forget_what_left_the_week_and_give_the_memory_back() {
        let mut t = Places::default();
        let empty = t.heap_bytes();
        for k in 1..=100_000u64 {
            t.insert(1 + k % 50, k, k as i64);
        }
        // Touched again later: stays.
        for k in 1..=10u64 {
            t.insert(1 + k % 50, k, 8 * 24 * HOUR_MS);
        }
        // Ids beyond 32 bits, in the wide map: swept alike.
        t.insert(u64::MAX, 1, 0);
        t.insert(1, u64::MAX, 8 * 24 * HOUR_MS);
        let full = t.heap_bytes();
        let now = 8 * 24 * HOUR_MS + 1;
        // One pass over every slot, and one more to rebuild the shards the first found full.
        for _ in 0..2 * (full / std::mem::size_of::<Slot>()) {
            t.sweep(now);
        }
        assert_eq!((t.get(u64::MAX, 1), t.get(1, u64::MAX)), (None, Some(8 * 24 * HOUR_MS)));
        assert!(remove(&mut t, 1, u64::MAX));
        assert_eq!(t.len(), 10);
        assert_eq!(t.get(6, 5), Some(8 * 24 * HOUR_MS));
        assert_eq!(t.get(12, 11), None);
        let wide = t.wide.capacity() * (std::mem::size_of::<((u64, u64), i64)>() + 1);
        let kept = 10 * MIN_SLOTS * std::mem::size_of::<Slot>() + wide;
        assert!(t.heap_bytes() <= empty + kept, "{} of {full}", t.heap_bytes());
    }
}
