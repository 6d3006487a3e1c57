//! Approximate distinct counts over sliding time windows, for quotas too wide to count exactly:
//! distinct persons read by all the accounts of an organization or a peer group in the last
//! hour, day or week.
//!
//! A HyperLogLog whose registers remember enough of the past to answer any window up to a
//! maximum: the *sliding HyperLogLog* of Chabchoub and Hébrail (2010). Each register keeps a
//! "list of possible future maxima", pairs (time, rho) with times increasing and rho strictly
//! decreasing: every pair that no later pair at least as large dominates. A register's value
//! for a window is the rho of its list's first pair inside the window; the usual estimator,
//! with linear counting in the small range, runs over those values. A list holds at most one
//! pair per rho value (at most 61), and about ½·log2(k) + 1 for k items per register.
//!
//! **Resolution.** Times are whole seconds, counted from an epoch the sketch moves forward on
//! its own (in one pass over the lists, at most once every ~388 days). A window is widened by
//! less than a second, never narrowed: an item up to a second older than its start may still
//! count, and inserts later than `now` count too (a guard would rather overcount). Windows
//! ending before the latest insert are not answered exactly: pairs those inserts dominated
//! are gone.
//!
//! **Hash.** Person ids are partly chosen by whoever reads, who could pick ids that leave the
//! registers low if the hash were known. Items are hashed with SipHash-1-3 under a 64-bit key
//! given at construction: a keyed pseudo-random function, the one Rust's `HashMap` uses
//! against flooding. Not cryptographic in the strong sense (reduced rounds, not a MAC): enough
//! against a reader who only sees quotas trip, not against one who can read the registers or
//! the key. The key travels in snapshots ([`SlidingHll::encode`]), which are therefore
//! secret, and is redacted from `Debug`.
//!
//! **Memory.** A pair is one `u32` (26 bits of seconds, 6 of rho). Each register has
//! [`INLINE`] slots (or as many as given, up to [`MAX_INLINE`]) in one flat array (16 bytes a
//! register, 64 KiB at precision 12); a longer
//! list spills to a small heap vector, given back by [`SlidingHll::expire`] once it fits again.
//! Insert allocates only when a list first outgrows its slots.

use std::fmt;

use crate::time::Timestamp;

/// The longest `max_window_ms` kept (about 388 days): half the span a stored time can express,
/// so that moving the epoch forward drops what has expired and buys at least as much again.
pub const MAX_WINDOW_MS: i64 = (TIME_SPAN_S / 2) * 1000;

/// Pairs stored in place per register. Lists average ½·log2(k) + 1 pairs for k items per
/// register: with four slots, at 100 000 distinct over precision 12 (k ≈ 24) about one list
/// in sixteen is longer at a given moment.
pub const INLINE: usize = 4;
/// The most slots per register a sketch may be given ([`SlidingHll::with_slots`]).
pub const MAX_INLINE: usize = 16;

const MIN_PRECISION: u8 = 4;
const MAX_PRECISION: u8 = 16;
const RHO_BITS: u32 = 6;
const RHO_MASK: u32 = (1 << RHO_BITS) - 1;
/// A register whose first slot has this rho spilled its list to `spill`, at the index held in
/// the time bits. Real rho values stop at 61 (precision 4); 0 marks an empty slot.
const SPILLED: u32 = RHO_MASK;
/// Seconds a stored time can express: 26 bits, about 776 days.
const TIME_SPAN_S: i64 = 1 << (32 - RHO_BITS);
/// Room for any list: strictly decreasing rho values in 1..=61.
const LIST_CAP: usize = 64;
/// Snapshot format: version 2 adds the slots per register (version 1 had [`INLINE`]).
const VERSION: u8 = 2;

/// Distinct items over sliding windows up to a maximum, in O(2^precision) memory.
#[derive(Clone)]
pub struct SlidingHll {
    precision: u8,
    max_window_ms: i64,
    key: HashKey,
    /// The second (since the Unix epoch) stored times count from; `None` before any insert.
    /// Never after `latest_ms - max_window_ms`, so nothing still needed lies before it.
    epoch_s: Option<i64>,
    /// The latest time given to `insert` or `expire`: pairs before it minus the maximum window
    /// can go.
    latest_ms: i64,
    /// Slots per register ([`INLINE`] unless given).
    inline: usize,
    /// `inline` packed pairs per register, oldest first, zero-padded.
    slots: Box<[u32]>,
    spill: Vec<Spill>,
}

impl SlidingHll {
    /// `precision` 4..=16; `max_window_ms` the longest window that will be asked; `key` keys
    /// the hash. Both numbers are clamped into range (windows to 1 ms..=[`MAX_WINDOW_MS`]).
    pub fn new(precision: u8, max_window_ms: i64, key: u64) -> SlidingHll {
        Self::with_slots(precision, max_window_ms, key, INLINE)
    }

    /// [`SlidingHll::new`] with `slots` pairs in place per register (1..=[`MAX_INLINE`]): a
    /// sketch whose registers see many items (their lists grow as ½·log2(k) + 1) stays in
    /// place, one cache line a register, instead of following a pointer per insert.
    pub fn with_slots(precision: u8, max_window_ms: i64, key: u64, slots: usize) -> SlidingHll {
        let precision = precision.clamp(MIN_PRECISION, MAX_PRECISION);
        let inline = slots.clamp(1, MAX_INLINE);
        SlidingHll {
            inline,
            precision,
            max_window_ms: max_window_ms.clamp(1, MAX_WINDOW_MS),
            key: HashKey::new(key),
            epoch_s: None,
            latest_ms: i64::MIN,
            slots: vec![0; (1 << precision) * inline].into_boxed_slice(),
            spill: Vec::new(),
        }
    }

    /// Counts `item` as seen `at`. Out of order is fine; an item older than the maximum window
    /// before the latest time seen is ignored. Also drops the expired pairs of its register.
    pub fn insert(&mut self, item: u64, at: Timestamp) {
        self.insert_hashed(self.key.hash(item), at);
    }

    /// The keyed hash of `item`, for [`SlidingHll::insert_hashed`]: sketches built with the
    /// same key share it, so an item counted in several of them is hashed once.
    pub fn hash(&self, item: u64) -> u64 {
        self.key.hash(item)
    }

    /// [`SlidingHll::insert_hashed`] of several items: first a pass that only reads each
    /// item's register, so that the loads from memory overlap (independent, in a short loop),
    /// then the inserts, on registers already in cache.
    pub fn insert_hashed_batch(&mut self, items: &[(u64, i64)]) {
        let p = u32::from(self.precision);
        let mut touched = 0u32;
        for &(h, _) in items {
            let reg = (h >> (64 - p)) as usize;
            touched ^= self.slots.get(reg * self.inline).copied().unwrap_or(0);
        }
        std::hint::black_box(touched);
        for &(h, at) in items {
            self.insert_hashed(h, Timestamp(at));
        }
    }

    /// The latest time (ms) an item was counted at.
    pub fn latest_ms(&self) -> i64 {
        self.latest_ms
    }

    /// Whether two sketches hash items alike (sketches restored from a snapshot keep the key
    /// they were made with; new ones get the running process's).
    pub fn same_key(&self, other: &SlidingHll) -> bool {
        self.key.key == other.key.key
    }

    /// [`SlidingHll::insert`] of an item already hashed by [`SlidingHll::hash`] of a sketch
    /// with the same key (another key's hash would count a different, unkeyed item).
    pub fn insert_hashed(&mut self, h: u64, at: Timestamp) {
        let p = u32::from(self.precision);
        let reg = (h >> (64 - p)) as usize;
        let rho = (h << p).leading_zeros().min(64 - p) + 1;
        self.insert_rho(reg, at.millis(), rho);
    }

    /// Adds every pair of `other`, a sketch with the same precision and key (another node's
    /// count of the same organization): afterwards this sketch answers every window as if it had
    /// seen both streams, exactly (the pairs a list keeps do not depend on the order they came
    /// in), so merging is idempotent and sketches converge whatever the order of exchanges.
    /// Returns `false`, merging nothing, if the precision or the key differ.
    pub fn merge(&mut self, other: &SlidingHll) -> bool {
        if other.precision != self.precision || other.key.key != self.key.key {
            return false;
        }
        let Some(epoch) = other.epoch_s else { return true };
        for reg in 0..other.registers() {
            for &pair in other.pairs(reg) {
                let at = (epoch + i64::from(time_of(pair))).saturating_mul(1000);
                self.insert_rho(reg, at, rho_of(pair));
            }
        }
        true
    }

    /// Counts a pair (register, time, rho) as [`SlidingHll::insert_hashed`] does.
    fn insert_rho(&mut self, reg: usize, at: i64, rho: u32) {
        self.latest_ms = self.latest_ms.max(at);
        let window = self.max_window_ms;
        let epoch = *self.epoch_s.get_or_insert_with(|| second_of(at.saturating_sub(window)));
        if second_of(at).saturating_sub(epoch) >= TIME_SPAN_S {
            self.rebase();
        }
        let Some(epoch) = self.epoch_s else { return };
        let time = second_of(at).saturating_sub(epoch);
        let floor = self.floor(epoch);
        if time < i64::from(floor) || time >= TIME_SPAN_S || reg >= self.registers() {
            return;
        }
        match self.spilled(reg) {
            Some(i) => self.update_spilled(i, floor, time as u32, rho),
            None => self.update_inline(reg, floor, time as u32, rho),
        }
    }

    /// Estimated distinct items inserted in (now - window_ms, now]. window_ms is clamped to
    /// max_window_ms. O(2^precision).
    pub fn estimate(&self, now: Timestamp, window_ms: i64) -> f64 {
        let [e] = self.estimates(now, [window_ms]);
        e
    }

    /// [`SlidingHll::estimate`] of several windows in one pass over the registers.
    pub fn estimates<const W: usize>(&self, now: Timestamp, windows_ms: [i64; W]) -> [f64; W] {
        let from = windows_ms.map(|w| self.window_start(now, w));
        let mut sum = [0.0_f64; W];
        let mut zeros = [0_usize; W];
        for reg in 0..self.registers() {
            let pairs = self.pairs(reg);
            for w in 0..W {
                let Some(start) = from[w] else { continue };
                let rho = rho_from(pairs, start);
                zeros[w] += usize::from(rho == 0);
                // 2^-rho, exactly: rho ≤ 61.
                sum[w] += f64::from_bits((1023 - u64::from(rho)) << 52);
            }
        }
        std::array::from_fn(|w| if from[w].is_some() { self.estimator(sum[w], zeros[w]) } else { 0.0 })
    }

    /// The HyperLogLog estimator from the sum of 2^-rho and the count of empty registers.
    fn estimator(&self, sum: f64, zeros: usize) -> f64 {
        let m = self.registers() as f64;
        let alpha = match self.registers() {
            16 => 0.673,
            32 => 0.697,
            64 => 0.709,
            _ => 0.7213 / (1.0 + 1.079 / m),
        };
        let raw = alpha * m * m / sum;
        if raw <= 2.5 * m && zeros > 0 { m * (m / zeros as f64).ln() } else { raw }
    }

    /// Drops pairs older than max_window_ms before `now` (insert also does it lazily for its
    /// register) and gives back the heap of lists that fit in place again. O(2^precision).
    pub fn expire(&mut self, now: Timestamp) {
        self.latest_ms = self.latest_ms.max(now.millis());
        let Some(epoch) = self.epoch_s else { return };
        let floor = self.floor(epoch);
        for reg in 0..self.registers() {
            match self.spilled(reg) {
                Some(_) => {
                    let mut list = self.load::<LIST_CAP>(reg);
                    list.drop_before(floor);
                    self.store(reg, list.as_slice(), true);
                }
                None => {
                    // Lists are oldest first: nothing to drop unless the first pair is.
                    let first = self.slots[reg * self.inline];
                    if first != 0 && time_of(first) < floor {
                        let mut list = self.load::<MAX_INLINE>(reg);
                        list.drop_before(floor);
                        self.store(reg, list.as_slice(), true);
                    }
                }
            }
        }
        if self.spill.capacity() > 2 * self.spill.len() {
            self.spill.shrink_to(self.spill.len() + self.spill.len() / 4);
        }
    }

    /// Heap + inline bytes used, for memory accounting.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + std::mem::size_of_val(&*self.slots)
            + self.spill.capacity() * std::mem::size_of::<Spill>()
            + self.spill.iter().map(|s| s.pairs.capacity() * std::mem::size_of::<u32>()).sum::<usize>()
    }

    /// The relative standard error of this precision, 1.04 / sqrt(m).
    pub fn standard_error(&self) -> f64 {
        1.04 / (self.registers() as f64).sqrt()
    }

    /// Appends a snapshot: version, precision, max window, key, epoch, latest time, then per
    /// register a count byte and its pairs, little-endian.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(VERSION);
        out.push(self.precision);
        out.push(self.inline as u8);
        out.extend_from_slice(&self.max_window_ms.to_le_bytes());
        out.extend_from_slice(&self.key.key.to_le_bytes());
        out.push(u8::from(self.epoch_s.is_some()));
        out.extend_from_slice(&self.epoch_s.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&self.latest_ms.to_le_bytes());
        for reg in 0..self.registers() {
            let pairs = self.pairs(reg);
            out.push(pairs.len() as u8);
            for p in pairs {
                out.extend_from_slice(&p.to_le_bytes());
            }
        }
    }

    /// Reads a snapshot written by [`SlidingHll::encode`]: the value and the bytes consumed.
    /// `None` on anything malformed (lengths, ranges, list order, the epoch invariant).
    pub fn decode(bytes: &[u8]) -> Option<(SlidingHll, usize)> {
        let mut r = Reader { bytes, pos: 0 };
        let version = r.u8()?;
        if !(1..=VERSION).contains(&version) {
            return None;
        }
        let precision = r.u8()?;
        let inline = if version >= 2 { usize::from(r.u8()?) } else { INLINE };
        if !(1..=MAX_INLINE).contains(&inline) {
            return None;
        }
        let max_window_ms = r.i64()?;
        let key = r.u64()?;
        let (has_epoch, epoch, latest_ms) = (r.u8()?, r.i64()?, r.i64()?);
        if !(MIN_PRECISION..=MAX_PRECISION).contains(&precision) || !(1..=MAX_WINDOW_MS).contains(&max_window_ms) {
            return None;
        }
        let epoch_s = match has_epoch {
            0 => None,
            1 if epoch <= second_of(latest_ms.saturating_sub(max_window_ms)) => Some(epoch),
            _ => return None,
        };
        let mut hll = SlidingHll::with_slots(precision, max_window_ms, key, inline);
        hll.epoch_s = epoch_s;
        hll.latest_ms = latest_ms;
        let max_rho = 65 - u32::from(precision);
        for reg in 0..hll.registers() {
            let len = usize::from(r.u8()?);
            if len > max_rho as usize || (len > 0 && epoch_s.is_none()) {
                return None;
            }
            let mut list = List::<LIST_CAP>::default();
            for _ in 0..len {
                let pair = r.u32()?;
                let in_order = list
                    .as_slice()
                    .last()
                    .is_none_or(|&prev| time_of(pair) > time_of(prev) && rho_of(pair) < rho_of(prev));
                if rho_of(pair) == 0 || rho_of(pair) > max_rho || !in_order {
                    return None;
                }
                list.push(pair);
            }
            hll.store(reg, list.as_slice(), true);
        }
        Some((hll, r.pos))
    }

    fn registers(&self) -> usize {
        1 << self.precision
    }

    /// The first stored second still inside some window, clamped to the stored range.
    fn floor(&self, epoch: i64) -> u32 {
        let first = second_of(self.latest_ms.saturating_sub(self.max_window_ms)).saturating_sub(epoch);
        first.clamp(0, TIME_SPAN_S) as u32
    }

    /// The first stored second inside (now - window_ms, now], or `None` for an empty window.
    fn window_start(&self, now: Timestamp, window_ms: i64) -> Option<u32> {
        let epoch = self.epoch_s.filter(|_| window_ms > 0)?;
        let start = now.millis().saturating_sub(window_ms.min(self.max_window_ms));
        let from = second_of(start).saturating_sub(epoch);
        (from < TIME_SPAN_S).then_some(from.max(0) as u32)
    }

    /// The register's value for a window starting at stored second `from`: 0 if empty.
    #[cfg(test)]
    fn window_rho(&self, reg: usize, from: u32) -> u32 {
        rho_from(self.pairs(reg), from)
    }

    /// The index in `spill` of a register's list, if it spilled.
    fn spilled(&self, reg: usize) -> Option<usize> {
        let head = self.slots[reg * self.inline];
        (rho_of(head) == SPILLED).then_some(time_of(head) as usize)
    }

    fn pairs(&self, reg: usize) -> &[u32] {
        if let Some(i) = self.spilled(reg) {
            return self.spill.get(i).map_or(&[], |s| &s.pairs);
        }
        let slots = &self.slots[reg * self.inline..(reg + 1) * self.inline];
        &slots[..slots.iter().position(|&p| p == 0).unwrap_or(self.inline)]
    }

    fn load<const N: usize>(&self, reg: usize) -> List<N> {
        let mut list = List::default();
        for &p in self.pairs(reg).iter().take(N) {
            list.push(p);
        }
        list
    }

    /// Insert's edit of a list in place, on a copy with room for one more pair.
    fn update_inline(&mut self, reg: usize, floor: u32, time: u32, rho: u32) {
        let mut list = self.load::<{ MAX_INLINE + 1 }>(reg);
        let dropped = list.drop_before(floor);
        if list.insert(time, rho) || dropped {
            self.store(reg, list.as_slice(), false);
        }
    }

    /// Insert's edit of a spilled list, in its vector (no copy: it may be long).
    fn update_spilled(&mut self, i: usize, floor: u32, time: u32, rho: u32) {
        let Some(Spill { pairs, .. }) = self.spill.get_mut(i) else { return };
        let mut len = pairs.len();
        drop_before(pairs, &mut len, floor);
        pairs.truncate(len);
        pairs.push(0); // room for one more: no allocation but when the vector is full
        insert_pair(pairs, &mut len, time, rho);
        pairs.truncate(len);
    }

    /// Writes a register's list back, spilling it if it outgrew its slots. `compact` also
    /// brings a spilled list that fits back in place (not on insert, to avoid churn).
    fn store(&mut self, reg: usize, pairs: &[u32], compact: bool) {
        let inline = self.inline;
        let base = reg * inline;
        match self.spilled(reg) {
            Some(i) if compact && pairs.len() <= inline && i < self.spill.len() => {
                self.spill.swap_remove(i);
                if let Some(moved) = self.spill.get(i) {
                    self.slots[moved.reg as usize * inline] = pack(i as u32, SPILLED);
                }
                write_inline(&mut self.slots[base..base + inline], pairs);
            }
            Some(i) => {
                if let Some(s) = self.spill.get_mut(i) {
                    s.pairs.clear();
                    s.pairs.extend_from_slice(pairs);
                    if compact {
                        s.pairs.shrink_to(2 * inline.max(pairs.len()));
                    }
                }
            }
            None if pairs.len() <= inline => write_inline(&mut self.slots[base..base + inline], pairs),
            None => {
                let mut heap = Vec::with_capacity(2 * inline.max(pairs.len()));
                heap.extend_from_slice(pairs);
                let marker = pack(self.spill.len() as u32, SPILLED);
                self.spill.push(Spill { reg: reg as u32, pairs: heap });
                write_inline(&mut self.slots[base..base + inline], &[marker]);
            }
        }
    }

    /// Moves the epoch to the earliest second still needed, shifting the stored times back
    /// and dropping the expired pairs: when a new time would not fit in 26 bits.
    fn rebase(&mut self) {
        let target = second_of(self.latest_ms.saturating_sub(self.max_window_ms));
        let epoch = self.epoch_s.unwrap_or(target);
        let shift = target.saturating_sub(epoch);
        if shift <= 0 {
            return;
        }
        if shift >= TIME_SPAN_S {
            self.slots.fill(0);
            self.spill.clear();
        } else {
            for reg in 0..self.registers() {
                let mut list = self.load::<LIST_CAP>(reg);
                list.drop_before(shift as u32);
                list.shift_back(shift as u32);
                self.store(reg, list.as_slice(), true);
            }
        }
        self.epoch_s = Some(target);
    }
}

impl fmt::Debug for SlidingHll {
    /// A summary: the registers are thousands of numbers, and the key is a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs: usize = (0..self.registers()).map(|r| self.pairs(r).len()).sum();
        f.debug_struct("SlidingHll")
            .field("precision", &self.precision)
            .field("max_window_ms", &self.max_window_ms)
            .field("key", &"<redacted>")
            .field("epoch_s", &self.epoch_s)
            .field("latest_ms", &self.latest_ms)
            .field("pairs", &pairs)
            .field("spilled", &self.spill.len())
            .finish()
    }
}

#[derive(Clone, Debug)]
struct Spill {
    reg: u32,
    pairs: Vec<u32>,
}

/// The hash key: SipHash takes 128 bits, derived from the 64 given.
#[derive(Clone, Copy)]
struct HashKey {
    key: u64,
    k1: u64,
}

impl HashKey {
    fn new(key: u64) -> HashKey {
        // splitmix64 of the key, so that k1 does not simply repeat k0.
        let mut z = key.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        HashKey { key, k1: z ^ (z >> 31) }
    }

    fn hash(&self, item: u64) -> u64 {
        siphash::<1, 3>(self.key, self.k1, item)
    }
}

/// SipHash-c-d (Aumasson & Bernstein) of one 8-byte little-endian message.
fn siphash<const C: usize, const D: usize>(k0: u64, k1: u64, message: u64) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    // The message block, then the final block: no tail bytes, the length (8) in the top byte.
    for word in [message, 8 << 56] {
        v[3] ^= word;
        for _ in 0..C {
            sip_round(&mut v);
        }
        v[0] ^= word;
    }
    v[2] ^= 0xff;
    for _ in 0..D {
        sip_round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

/// One register's list, on the stack while it is edited, in a buffer of `N` pairs.
#[derive(Clone, Copy)]
struct List<const N: usize> {
    len: usize,
    pairs: [u32; N],
}

impl<const N: usize> Default for List<N> {
    fn default() -> Self {
        List { len: 0, pairs: [0; N] }
    }
}

impl<const N: usize> List<N> {
    fn as_slice(&self) -> &[u32] {
        &self.pairs[..self.len]
    }

    fn push(&mut self, pair: u32) {
        if let Some(slot) = self.pairs.get_mut(self.len) {
            *slot = pair;
            self.len += 1;
        }
    }

    fn drop_before(&mut self, floor: u32) -> bool {
        drop_before(&mut self.pairs, &mut self.len, floor)
    }

    /// Moves every time `by` seconds back (all are at least `by`).
    fn shift_back(&mut self, by: u32) {
        for p in &mut self.pairs[..self.len] {
            *p -= by.min(time_of(*p)) << RHO_BITS;
        }
    }

    fn insert(&mut self, time: u32, rho: u32) -> bool {
        insert_pair(&mut self.pairs, &mut self.len, time, rho)
    }
}

/// Drops the pairs of the list `buf[..*len]` before stored second `floor`; whether any went.
/// A register's value for a window starting at stored second `from` (its list's first pair
/// inside the window): 0 if empty.
fn rho_from(pairs: &[u32], from: u32) -> u32 {
    let first = from << RHO_BITS;
    pairs.iter().find(|&&p| p >= first).map_or(0, |&p| rho_of(p))
}

fn drop_before(buf: &mut [u32], len: &mut usize, floor: u32) -> bool {
    let n = buf[..*len].iter().take_while(|&&p| time_of(p) < floor).count();
    if n > 0 {
        buf.copy_within(n..*len, 0);
        *len -= n;
    }
    n > 0
}

/// Adds (time, rho) to the list `buf[..*len]` unless a pair at least as late and as large
/// dominates it, dropping the pairs it dominates; whether the list changed. `buf` has room for
/// one more pair. Times strictly increase and rho strictly decreases along the list, so the
/// pairs kept before and after the new one form two runs.
fn insert_pair(buf: &mut [u32], len: &mut usize, time: u32, rho: u32) -> bool {
    let s = &buf[..*len];
    // The first pair at least as late: the largest rho among the later ones.
    let later = s.iter().position(|&p| time_of(p) >= time).unwrap_or(s.len());
    if s.get(later).is_some_and(|&p| rho_of(p) >= rho) || *len >= buf.len() {
        return false;
    }
    let keep_from = later + usize::from(s.get(later).is_some_and(|&p| time_of(p) == time));
    let keep_to = s[..later].iter().position(|&p| rho_of(p) <= rho).unwrap_or(later);
    buf.copy_within(keep_from..*len, keep_to + 1);
    buf[keep_to] = pack(time, rho);
    *len = keep_to + 1 + (*len - keep_from);
    true
}

fn write_inline(slots: &mut [u32], pairs: &[u32]) {
    slots.fill(0);
    for (slot, &p) in slots.iter_mut().zip(pairs) {
        *slot = p;
    }
}

fn pack(time: u32, rho: u32) -> u32 {
    (time << RHO_BITS) | rho
}

fn time_of(pair: u32) -> u32 {
    pair >> RHO_BITS
}

fn rho_of(pair: u32) -> u32 {
    pair & RHO_MASK
}

fn second_of(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let end = self.pos.checked_add(N)?;
        let taken = self.bytes.get(self.pos..end)?.try_into().ok()?;
        self.pos = end;
        Some(taken)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: i64 = 1_780_000_000_000;
    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;
    const KEY: u64 = 0x5eed_1234_abcd_0001;

    fn at(ms: i64) -> Timestamp {
        Timestamp(T0 + ms)
    }

    /// Asserts `estimate` within four standard errors of `n`; returns the relative error.
    fn assert_close(h: &SlidingHll, estimate: f64, n: usize, what: &str) -> f64 {
        let n = n as f64;
        let relative = (estimate - n) / n;
        let in_se = relative.abs() / h.standard_error();
        assert!(in_se <= 4.0, "{what}: estimate {estimate:.1} for {n}, {in_se:.2} standard errors off");
        relative
    }

    fn window_rhos(h: &SlidingHll, now: Timestamp, window_ms: i64) -> Vec<u32> {
        let from = h.window_start(now, window_ms);
        (0..h.registers()).map(|r| from.map_or(0, |f| h.window_rho(r, f))).collect()
    }

    fn lists(h: &SlidingHll) -> Vec<Vec<u32>> {
        (0..h.registers()).map(|r| h.pairs(r).to_vec()).collect()
    }

    #[test]
    fn merging_two_nodes_sketches_counts_their_union_exactly() {
        let t0 = 1_800_000_000_000i64;
        let (mut a, mut b, mut union) = (
            SlidingHll::new(11, 7 * 86_400_000, 9),
            SlidingHll::new(11, 7 * 86_400_000, 9),
            SlidingHll::new(11, 7 * 86_400_000, 9),
        );
        for i in 0..30_000u64 {
            // Overlapping streams, at times spread over two days, out of order.
            let at = Timestamp(t0 + ((i * 7919) % 172_800) as i64 * 1000);
            if i % 3 != 0 {
                a.insert(i, at);
            }
            if i % 2 == 0 {
                b.insert(i % 20_000, at);
            }
            if i % 3 != 0 || i % 2 == 0 {
                if i % 3 != 0 {
                    union.insert(i, at);
                }
                if i % 2 == 0 {
                    union.insert(i % 20_000, at);
                }
            }
        }
        let now = Timestamp(t0 + 172_800_000);
        let windows = [3_600_000, 86_400_000, 7 * 86_400_000];
        let mut merged = a.clone();
        assert!(merged.merge(&b));
        assert_eq!(merged.estimates(now, windows), union.estimates(now, windows));
        // Idempotent, and in either order.
        assert!(merged.merge(&b) && merged.merge(&a));
        assert_eq!(merged.estimates(now, windows), union.estimates(now, windows));
        let mut other_way = b.clone();
        assert!(other_way.merge(&a));
        assert_eq!(other_way.estimates(now, windows), union.estimates(now, windows));
        // Another key or precision: nothing merged.
        let before = merged.estimates(now, windows);
        assert!(!merged.merge(&SlidingHll::new(11, 7 * 86_400_000, 10)));
        assert!(!merged.merge(&SlidingHll::new(12, 7 * 86_400_000, 9)));
        assert_eq!(merged.estimates(now, windows), before);
    }

    #[test]
    fn siphash_matches_the_std_reference() {
        // std's (deprecated) SipHasher is SipHash-2-4: the same code with other round counts.
        #[allow(deprecated)]
        fn reference(k0: u64, k1: u64, m: u64) -> u64 {
            use std::hash::Hasher;
            let mut h = std::hash::SipHasher::new_with_keys(k0, k1);
            h.write(&m.to_le_bytes());
            h.finish()
        }
        for (k0, k1, m) in [
            (0, 0, 0),
            (0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908, 0x0706_0504_0302_0100),
            (KEY, !KEY, u64::MAX),
            (1, 2, 42),
        ] {
            assert_eq!(siphash::<2, 4>(k0, k1, m), reference(k0, k1, m), "{k0:x} {k1:x} {m:x}");
        }
        assert_ne!(siphash::<1, 3>(1, 2, 42), siphash::<2, 4>(1, 2, 42));
    }

    #[test]
    fn distinct_counts_are_within_four_standard_errors() {
        for n in [100_usize, 1_000, 10_000, 100_000] {
            let mut h = SlidingHll::new(12, DAY, KEY);
            for i in 0..n {
                h.insert(i as u64 + 1, at(i as i64 * (HOUR / n as i64)));
            }
            let e = h.estimate(at(HOUR), DAY);
            let relative = assert_close(&h, e, n, "full window");
            eprintln!(
                "n={n} estimate={e:.1} error={:+.2}% ({:+.2} SE)",
                relative * 100.0,
                relative / h.standard_error()
            );
        }
    }

    #[test]
    fn windows_slide_hour_by_hour() {
        let mut h = SlidingHll::new(12, 3 * HOUR, KEY);
        for hour in 0..3_i64 {
            for i in 0..5_000_i64 {
                h.insert((hour * 5_000 + i) as u64, at(hour * HOUR + i * 720));
            }
        }
        let now = at(3 * HOUR);
        for (hours, n) in [(1, 5_000), (2, 10_000), (3, 15_000)] {
            let e = h.estimate(now, hours * HOUR);
            let relative = assert_close(&h, e, n, &format!("{hours} h"));
            eprintln!("{hours} h: estimate={e:.1} for {n}, error={:+.2}%", relative * 100.0);
        }
        assert_eq!(h.estimate(now, 10 * HOUR), h.estimate(now, 3 * HOUR), "windows clamp to the maximum");
        assert_eq!(h.estimate(now, 0), 0.0);
        // Past the maximum window (and its second of resolution), nothing is left to count.
        let later = at(6 * HOUR + 2_000);
        assert_eq!(h.estimate(later, 3 * HOUR), 0.0);
        let before = h.bytes();
        h.expire(later);
        assert!(lists(&h).iter().all(Vec::is_empty));
        assert!(h.spill.is_empty() && h.bytes() <= before);
        assert_eq!(h.estimate(later, 3 * HOUR), 0.0);
    }

    #[test]
    fn reinserting_the_same_items_does_not_raise_the_estimate() {
        let mut h = SlidingHll::new(12, DAY, KEY);
        for i in 0..10_000 {
            h.insert(i, at(i as i64));
        }
        let once = h.estimate(at(HOUR), DAY);
        for round in 1..=3 {
            for i in 0..10_000 {
                h.insert(i, at(round * HOUR + i as i64));
            }
        }
        assert_eq!(h.estimate(at(4 * HOUR), DAY), once);
        assert_close(&h, once, 10_000, "re-inserted");
    }

    #[test]
    fn a_recent_reinsert_keeps_an_item_in_short_windows() {
        let mut h = SlidingHll::new(12, DAY, KEY);
        for i in 0..5_000 {
            h.insert(i, at(i as i64));
        }
        for i in 0..1_000 {
            h.insert(i, at(2 * HOUR + i as i64));
        }
        let now = at(2 * HOUR + 1_000);
        assert_close(&h, h.estimate(now, HOUR), 1_000, "last hour");
        assert_close(&h, h.estimate(now, 3 * HOUR), 5_000, "three hours");
    }

    #[test]
    fn out_of_order_inserts_build_the_same_lists() {
        let events: Vec<(u64, i64)> = (0..20_000_u64).map(|i| (i % 7_000, (i as i64 * 7_919) % HOUR)).collect();
        let (mut shuffled, mut sorted) = (SlidingHll::new(8, DAY, KEY), SlidingHll::new(8, DAY, KEY));
        for &(item, t) in &events {
            shuffled.insert(item, at(t));
        }
        let mut ordered = events.clone();
        ordered.sort_by_key(|&(_, t)| t);
        for &(item, t) in &ordered {
            sorted.insert(item, at(t));
        }
        assert_eq!(lists(&shuffled), lists(&sorted));
    }

    #[test]
    fn keys_change_the_registers_not_the_accuracy() {
        let (mut a, mut b) = (SlidingHll::new(12, DAY, 1), SlidingHll::new(12, DAY, 2));
        for i in 0..50_000 {
            a.insert(i, at(i as i64));
            b.insert(i, at(i as i64));
        }
        assert_ne!(lists(&a), lists(&b));
        assert_close(&a, a.estimate(at(HOUR), DAY), 50_000, "key 1");
        assert_close(&b, b.estimate(at(HOUR), DAY), 50_000, "key 2");
    }

    #[test]
    fn ids_crafted_against_one_key_do_not_fool_another() {
        // Ids whose hash under key 1 falls in register 0 with rho 1 at precision 4: a sketch
        // keyed with 1 sees one item; one keyed otherwise sees them all.
        let crafted: Vec<u64> = (0..u64::MAX).filter(|&i| HashKey::new(1).hash(i) >> 59 == 1).take(2_000).collect();
        let (mut fooled, mut keyed) = (SlidingHll::new(4, DAY, 1), SlidingHll::new(12, DAY, 2));
        for &i in &crafted {
            fooled.insert(i, at(0));
            keyed.insert(i, at(0));
        }
        assert!(fooled.estimate(at(1), DAY) < 2.0);
        assert_close(&keyed, keyed.estimate(at(1), DAY), crafted.len(), "other key");
    }

    #[test]
    fn snapshots_round_trip() {
        // Precision 4 with many items: long lists, spilled registers.
        for (precision, n) in [(4, 50_000_u64), (12, 30_000)] {
            let mut h = SlidingHll::new(precision, DAY, KEY);
            for i in 0..n {
                h.insert(i, at(i as i64 * 1_000));
            }
            assert!(precision != 4 || !h.spill.is_empty());
            let mut bytes = Vec::new();
            h.encode(&mut bytes);
            let len = bytes.len();
            bytes.extend_from_slice(b"trailing");
            let (back, used) = SlidingHll::decode(&bytes).unwrap();
            assert_eq!(used, len);
            assert_eq!(lists(&back), lists(&h));
            let mut again = Vec::new();
            back.encode(&mut again);
            assert_eq!(again, bytes[..len]);
            let now = at(n as i64 * 1_000);
            for w in [60_000, HOUR, 6 * HOUR, DAY] {
                assert_eq!(back.estimate(now, w), h.estimate(now, w), "p={precision} window {w}");
            }
        }
        let mut empty = Vec::new();
        SlidingHll::new(5, HOUR, KEY).encode(&mut empty);
        assert_eq!(SlidingHll::decode(&empty).unwrap().0.estimate(at(0), HOUR), 0.0);
    }

    #[test]
    fn decode_refuses_truncations_and_survives_corruption() {
        let mut h = SlidingHll::new(4, HOUR, KEY);
        for i in 0..500 {
            h.insert(i, at(i as i64 * 5_000));
        }
        let mut bytes = Vec::new();
        h.encode(&mut bytes);
        for cut in 0..bytes.len() {
            assert!(SlidingHll::decode(&bytes[..cut]).is_none(), "prefix of {cut} bytes");
        }
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut accepted = 0;
        for _ in 0..5_000 {
            let mut bad = bytes.clone();
            for _ in 0..1 + next() % 3 {
                let i = (next() % bad.len() as u64) as usize;
                bad[i] ^= 1 << (next() % 8);
            }
            if let Some((mut back, used)) = SlidingHll::decode(&bad) {
                accepted += 1;
                assert!(used <= bad.len());
                for w in [1, HOUR, i64::MAX] {
                    back.estimate(at(HOUR), w);
                    back.estimate(Timestamp(i64::MIN), w);
                    back.estimate(Timestamp(i64::MAX), w);
                }
                back.insert(7, at(2 * HOUR));
                back.insert(8, Timestamp(i64::MAX));
                back.expire(Timestamp(i64::MAX));
                back.encode(&mut Vec::new());
            }
        }
        eprintln!("{accepted} of 5000 corrupted snapshots decoded to some value");
    }

    #[test]
    fn memory_for_a_day_of_100k_persons() {
        let mut h = SlidingHll::new(12, DAY, KEY);
        for i in 0..100_000 {
            h.insert(i, at(i as i64 * (DAY / 100_000)));
        }
        let pairs: usize = lists(&h).iter().map(Vec::len).sum();
        let (bytes, spilled) = (h.bytes(), h.spill.len());
        h.expire(at(DAY));
        let (compact, still) = (h.bytes(), h.spill.len());
        eprintln!(
            "100k persons over a day, p=12: {pairs} pairs; {bytes} bytes ({spilled} spilled registers), \
             {compact} after expire ({still})"
        );
        // The slots take 4 096 · 4 · 4 B = 64 KiB. A spilled register costs a 32-byte entry (up
        // to twice that with the growth slack of the entries' vector) and 8 pairs of heap: at
        // most 96 B. With ~24 items per register, lists average ½·log2 24 + 1 ≈ 3.3 pairs; about
        // one register in six outgrows its four slots at some moment of the day, one in sixteen
        // is still outgrown at the end (a simulation of geometric rho streams). Bounds with
        // room: a quarter of the registers spilled before `expire` (64 + 96 KiB), an eighth
        // after (64 + 48 KiB). Exact counting keeps ≥ 16 bytes per person: 1.6 MB and more.
        assert!(bytes < 160 * 1024, "{bytes}");
        assert!(compact < 112 * 1024 && compact <= bytes, "{compact}");
        assert_close(&h, h.estimate(at(DAY), DAY), 100_000, "day");
    }

    #[test]
    fn the_epoch_moves_forward_over_years() {
        // Batches of 100 new items every `step`, for longer than 26 bits of seconds (~776 days):
        // the long-lived sketch must keep answering exactly like a fresh one fed only the
        // batches inside the window.
        for (window, step, days) in [(30 * DAY, 10 * DAY, 1_000), (MAX_WINDOW_MS, 50 * DAY, 1_600)] {
            let mut h = SlidingHll::new(10, window, KEY);
            let first_epoch = {
                h.insert(0, at(0));
                h.epoch_s
            };
            let mut batches = Vec::new();
            let mut t = 0;
            while t <= days * DAY {
                batches.push(t);
                for i in 0..100 {
                    h.insert(t as u64 + i, at(t));
                }
                let mut fresh = SlidingHll::new(10, window, KEY);
                let start = second_of(at(t).millis() - window);
                for &b in batches.iter().filter(|&&b| second_of(at(b).millis()) >= start) {
                    for i in 0..100 {
                        fresh.insert(b as u64 + i, at(b));
                    }
                }
                fresh.insert(0, at(0)); // outside the window at every step but the first
                assert_eq!(h.estimate(at(t), window), fresh.estimate(at(t), window), "day {}", t / DAY);
                t += step;
            }
            assert_ne!(h.epoch_s, first_epoch, "the epoch moved");
        }
    }

    #[test]
    fn ranges_are_clamped_and_an_empty_sketch_counts_nothing() {
        let low = SlidingHll::new(0, -5, KEY);
        assert_eq!((low.precision, low.max_window_ms, low.registers()), (4, 1, 16));
        assert!((low.standard_error() - 0.26).abs() < 1e-12);
        let high = SlidingHll::new(40, i64::MAX, KEY);
        assert_eq!((high.precision, high.max_window_ms), (16, MAX_WINDOW_MS));
        assert!((high.standard_error() - 1.04 / 256.0).abs() < 1e-12);
        assert_eq!(high.estimate(at(0), HOUR), 0.0);
        let shown = format!("{:?}", SlidingHll::new(4, HOUR, 0x00c0_ffee));
        assert!(shown.contains("redacted") && !shown.contains("12648430"), "{shown}");
    }

    proptest! {
        /// Against brute force: whatever the order of inserts, each register's value for a
        /// window is the largest rho among the items of that window (at second resolution),
        /// before and after `expire`.
        #[test]
        fn registers_hold_the_window_maxima(
            precision in 4_u8..=6,
            events in prop::collection::vec((0_u64..400, 0_i64..288, 0_usize..3), 1..400),
            later in 0_i64..288,
        ) {
            let window = 3 * DAY / 2;
            let mut h = SlidingHll::new(precision, window, KEY);
            // Times on a ten-minute grid (give or take part of a second), so that events fall on
            // the edges of windows; in any order: an event older than the window before the
            // latest one is ignored.
            let events: Vec<(u64, i64)> =
                events.iter().map(|&(item, slot, ms)| (item, slot * 600_000 + [0, 500, 999][ms])).collect();
            let later = later * 600_000;
            let mut kept = Vec::new();
            let mut latest = i64::MIN;
            for &(item, t) in &events {
                h.insert(item, at(t));
                latest = latest.max(t);
                if second_of(t) >= second_of(latest - window) { kept.push((item, t)); }
            }
            let p = u32::from(precision);
            let now_ms = latest + later;
            let mut expired = h.clone();
            expired.expire(at(now_ms));
            for w in [1_000, 60_000, 600_000, HOUR, DAY, window] {
                let start = second_of(at(now_ms - w).millis());
                let mut expected = vec![0_u32; 1 << p];
                for &(item, _) in kept.iter().filter(|&&(_, t)| second_of(at(t).millis()) >= start) {
                    let hash = h.key.hash(item);
                    let reg = (hash >> (64 - p)) as usize;
                    expected[reg] = expected[reg].max((hash << p).leading_zeros().min(64 - p) + 1);
                }
                prop_assert_eq!(&window_rhos(&h, at(now_ms), w), &expected);
                prop_assert_eq!(&window_rhos(&expired, at(now_ms), w), &expected);
            }
        }
    }
}
