//! Deterministic randomness: one ChaCha stream per (seed, purpose, index), so that adding a
//! stream never shifts another and every run of a seed is the same run.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

pub type Rand = ChaCha8Rng;

/// The stream for `purpose` and `index` under `seed`.
pub fn rand_for(seed: u64, purpose: &str, index: u64) -> Rand {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(purpose.as_bytes());
    h.update([0]);
    h.update(index.to_le_bytes());
    ChaCha8Rng::from_seed(h.finalize().into())
}

/// A standard normal draw (Box–Muller).
pub fn normal(rng: &mut Rand) -> f64 {
    let u1: f64 = rng.r#gen::<f64>().max(1e-12);
    let u2: f64 = rng.r#gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A Poisson draw (Knuth for small means, a rounded normal above 30).
pub fn poisson(rng: &mut Rand, mean: f64) -> u32 {
    if mean.is_nan() || mean <= 0.0 {
        return 0;
    }
    if mean > 30.0 {
        return (mean + mean.sqrt() * normal(rng)).round().max(0.0) as u32;
    }
    let l = (-mean).exp();
    let mut k = 0u32;
    let mut p = 1.0;
    loop {
        p *= rng.r#gen::<f64>();
        if p <= l {
            return k;
        }
        k += 1;
    }
}

/// An exponential draw of mean `mean`.
pub fn exponential(rng: &mut Rand, mean: f64) -> f64 {
    -mean * rng.r#gen::<f64>().max(1e-12).ln()
}
