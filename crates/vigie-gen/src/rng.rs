//! Deterministic randomness: every random choice in the generator comes from a generator seeded
//! by hashing the run's seed with a stream tag and an index (a person id, a block number), never
//! from the OS or the clock. This is what makes generation streamable and random-access: person
//! `n` depends only on `(seed, n)` and the world, not on the persons before it.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Independent random streams. Identity, status and relationships of a person have separate
/// streams so that a duplicate can regenerate its original's identity without its relationships.
#[derive(Clone, Copy, Debug)]
#[repr(u64)]
pub(crate) enum Stream {
    World = 1,
    Identity = 2,
    Status = 3,
    Relations = 4,
    Canary = 5,
    Duplicate = 6,
    FtId = 7,
    Slots = 8,
    Edit = 9,
    ScopeCanary = 10,
}

/// SplitMix64's finalizer: a fast, well-mixed bijection on u64.
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A 64-bit hash of (seed, stream, index).
pub(crate) fn hash(seed: u64, stream: Stream, index: u64) -> u64 {
    splitmix64(splitmix64(seed ^ splitmix64(stream as u64)) ^ index)
}

/// A uniform float in [0, 1) from a hash.
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A ChaCha8 generator for (seed, stream, index).
pub(crate) fn rng_for(seed: u64, stream: Stream, index: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    let mut h = hash(seed, stream, index);
    for chunk in key.chunks_exact_mut(8) {
        chunk.copy_from_slice(&h.to_le_bytes());
        h = splitmix64(h);
    }
    ChaCha8Rng::from_seed(key)
}

/// True with probability `p`.
pub(crate) fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    rng.r#gen::<f64>() < p
}

/// A keyed pseudo-random permutation of `0..n`: a 4-round Feistel network on the smallest
/// even-bit domain holding `n`, with cycle walking back into `0..n`. Used to give each person a
/// unique France Travail identifier and a unique training slot without keeping any table.
#[derive(Clone, Debug)]
pub(crate) struct Permutation {
    n: u64,
    half_bits: u32,
    keys: [u64; 4],
}

impl Permutation {
    pub(crate) fn new(n: u64, key: u64) -> Self {
        let mut half_bits = 1;
        while half_bits < 32 && (1u64 << (2 * half_bits)) < n {
            half_bits += 1;
        }
        let keys = [splitmix64(key), splitmix64(key ^ 1), splitmix64(key ^ 2), splitmix64(key ^ 3)];
        Permutation { n, half_bits, keys }
    }

    fn round_trip(&self, x: u64) -> u64 {
        let mask = (1u64 << self.half_bits) - 1;
        let (mut left, mut right) = (x >> self.half_bits, x & mask);
        for k in self.keys {
            let f = splitmix64(right ^ k) & mask;
            (left, right) = (right, left ^ f);
        }
        (left << self.half_bits) | right
    }

    /// The image of `x` (which must be below `n`; larger values are reduced modulo `n`).
    pub(crate) fn apply(&self, x: u64) -> u64 {
        if self.n == 0 {
            return x;
        }
        // Cycle walking terminates: the Feistel network permutes the whole domain, so iterating
        // it from a point in 0..n comes back into 0..n (at worst to the point itself).
        let mut y = self.round_trip(x % self.n);
        while y >= self.n {
            y = self.round_trip(y);
        }
        y
    }
}

/// Cumulative weights for weighted sampling. A guide table (one entry per equal-width slice
/// of the total weight, pointing at the first index reaching that slice) makes a draw a division
/// and one or two comparisons instead of a binary search over tens of thousands of communes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Cumulative {
    ends: Vec<u64>,
    guide: Vec<u32>,
    width: u64,
}

impl Cumulative {
    pub(crate) fn new(weights: impl IntoIterator<Item = u64>) -> Self {
        let mut total = 0u64;
        let ends: Vec<u64> = weights
            .into_iter()
            .map(|w| {
                total = total.saturating_add(w);
                total
            })
            .collect();
        let width = (total / ends.len().max(1) as u64).max(1);
        let slices = if total == 0 { 0 } else { (total - 1) / width + 1 };
        let mut guide = Vec::with_capacity(slices as usize);
        let mut i = 0usize;
        for k in 0..slices {
            let start = k * width;
            while ends.get(i).is_some_and(|&e| e <= start) {
                i += 1;
            }
            guide.push(i as u32);
        }
        Cumulative { ends, guide, width }
    }

    pub(crate) fn total(&self) -> u64 {
        self.ends.last().copied().unwrap_or(0)
    }

    /// An index drawn with probability proportional to its weight (0 if all weights are 0).
    pub(crate) fn sample(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = self.total();
        if total == 0 {
            return self.sample_in(rng, 0, self.ends.len());
        }
        let u = rng.gen_range(0..total);
        let mut i = self.guide.get((u / self.width) as usize).map_or(0, |&g| g as usize);
        while self.ends.get(i).is_some_and(|&e| e <= u) {
            i += 1;
        }
        i
    }

    /// An index in `lo..hi` drawn proportionally to the weights of that range.
    pub(crate) fn sample_in(&self, rng: &mut ChaCha8Rng, lo: usize, hi: usize) -> usize {
        let hi = hi.min(self.ends.len());
        if lo >= hi {
            return lo.min(self.ends.len().saturating_sub(1));
        }
        let base = if lo == 0 { 0 } else { self.ends[lo - 1] };
        let top = self.ends[hi - 1];
        if top <= base {
            return rng.gen_range(lo..hi);
        }
        let u = rng.gen_range(base..top);
        lo + self.ends[lo..hi].partition_point(|&end| end <= u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_is_a_bijection() {
        for n in [1u64, 2, 7, 1000, 4097, 26_000] {
            let p = Permutation::new(n, 42);
            let mut seen = vec![false; n as usize];
            for x in 0..n {
                let y = p.apply(x);
                assert!(y < n);
                assert!(!seen[y as usize], "n={n} collision at {x}");
                seen[y as usize] = true;
            }
        }
        // Different keys give different permutations.
        let (a, b) = (Permutation::new(1000, 1), Permutation::new(1000, 2));
        assert!((0..1000).any(|x| a.apply(x) != b.apply(x)));
    }

    #[test]
    fn cumulative_sampling_follows_weights() {
        let c = Cumulative::new([1, 0, 3]);
        assert_eq!(c.total(), 4);
        let mut rng = rng_for(7, Stream::World, 0);
        let mut counts = [0usize; 3];
        for _ in 0..40_000 {
            counts[c.sample(&mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!((9_000..11_000).contains(&counts[0]), "{counts:?}");
        for _ in 0..1000 {
            assert_eq!(c.sample_in(&mut rng, 1, 3), 2);
        }
        assert_eq!(Cumulative::new([]).sample(&mut rng), 0);
        // The guide table gives the same draws as a binary search would.
        let weights: Vec<u64> = (0..1000u64).map(|i| (i * 7919) % 113).collect();
        let c = Cumulative::new(weights.iter().copied());
        for _ in 0..20_000 {
            let i = c.sample(&mut rng);
            assert!(weights[i] > 0);
        }
        let mut a = rng_for(1, Stream::World, 1);
        let mut b = rng_for(1, Stream::World, 1);
        for _ in 0..20_000 {
            assert_eq!(c.sample(&mut a), c.sample_in(&mut b, 0, 1000));
        }
    }

    #[test]
    fn streams_differ() {
        assert_ne!(hash(1, Stream::Identity, 5), hash(1, Stream::Status, 5));
        assert_ne!(hash(1, Stream::Identity, 5), hash(2, Stream::Identity, 5));
        assert_eq!(hash(1, Stream::Identity, 5), hash(1, Stream::Identity, 5));
    }
}
