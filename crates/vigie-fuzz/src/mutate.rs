//! A small deterministic mutator for the bounded runs (`cargo test`): it derives inputs from the
//! seed corpus the way libFuzzer's default mutations do (bit flips, interesting integers,
//! inserted, erased, duplicated or spliced ranges, ASCII digits and separators for text), from a
//! fixed seed, so that a CI failure replays exactly. It is not coverage-guided: the long runs
//! under libFuzzer are (see `fuzz/` and `docs/fuzzing.md`).

/// SplitMix64: a tiny, well-mixed generator; reproducibility is all that matters here.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next_u64() % n as u64) as usize }
    }

    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }
}

/// Values that sit on the edges parsers get wrong: zero, one, sign bits, all ones, lengths just
/// past a small buffer.
const INTERESTING: [u64; 12] =
    [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff, 0x7fff_ffff, 0xffff_ffff, u64::MAX, 1 << 40];

/// Bytes that split or nest text formats (TOML, JSON, JWS, signed notes).
const TEXT_BYTES: &[u8] = b"0123456789\n\r\t \"'=[]{}.,:+-/\\#\x00\xc3\xa9\xe2\x80\x94";

/// `input` changed by one to four stacked mutations; `others` are spliced from.
pub fn mutate(rng: &mut Rng, input: &[u8], others: &[Vec<u8>], max_len: usize) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        mutate_once(rng, &mut out, others);
    }
    out.truncate(max_len);
    out
}

fn mutate_once(rng: &mut Rng, b: &mut Vec<u8>, others: &[Vec<u8>]) {
    let len = b.len();
    match rng.below(11) {
        // Flip one bit.
        0 if len > 0 => {
            let i = rng.below(len);
            b[i] ^= 1 << rng.below(8);
        }
        // Replace one byte.
        1 if len > 0 => {
            let i = rng.below(len);
            b[i] = rng.byte();
        }
        // Write an interesting integer, big- or little-endian, 1 to 8 bytes wide.
        2 if len > 0 => {
            let width = [1, 2, 4, 8][rng.below(4)];
            let v = INTERESTING[rng.below(INTERESTING.len())];
            let bytes = if rng.below(2) == 0 { v.to_be_bytes() } else { v.to_le_bytes() };
            let at = rng.below(len);
            let src = if rng.below(2) == 0 { &bytes[8 - width..] } else { &bytes[..width] };
            for (k, &x) in src.iter().enumerate() {
                if let Some(slot) = b.get_mut(at + k) {
                    *slot = x;
                }
            }
        }
        // Add or subtract a little from one byte (lengths and counts off by a few).
        3 if len > 0 => {
            let i = rng.below(len);
            let delta = 1 + rng.below(16) as u8;
            b[i] = if rng.below(2) == 0 { b[i].wrapping_add(delta) } else { b[i].wrapping_sub(delta) };
        }
        // Erase a range.
        4 if len > 0 => {
            let at = rng.below(len);
            let n = 1 + rng.below((len - at).min(64));
            b.drain(at..at + n);
        }
        // Insert random bytes.
        5 => {
            let at = rng.below(len + 1);
            let n = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
            b.splice(at..at, bytes);
        }
        // Insert a byte that matters to text formats.
        6 => {
            let at = rng.below(len + 1);
            b.insert(at, TEXT_BYTES[rng.below(TEXT_BYTES.len())]);
        }
        // Duplicate a range in place.
        7 if len > 0 => {
            let at = rng.below(len);
            let n = 1 + rng.below((len - at).min(256));
            let copy = b[at..at + n].to_vec();
            let to = rng.below(len + 1);
            b.splice(to..to, copy);
        }
        // Splice in a range of another seed.
        8 if !others.is_empty() => {
            let other = &others[rng.below(others.len())];
            if !other.is_empty() {
                let from = rng.below(other.len());
                let n = 1 + rng.below((other.len() - from).min(512));
                let at = rng.below(len + 1);
                let end = if rng.below(2) == 0 { at } else { (at + n).min(len) };
                b.splice(at..end, other[from..from + n].iter().copied());
            }
        }
        // Cut the tail.
        9 if len > 0 => b.truncate(rng.below(len)),
        // Swap two bytes.
        _ if len > 1 => {
            let (i, j) = (rng.below(len), rng.below(len));
            b.swap(i, j);
        }
        _ => b.push(rng.byte()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_inputs() {
        let seeds = vec![b"hello world".to_vec(), vec![0u8; 40]];
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..200).map(|i| mutate(&mut rng, &seeds[i % 2], &seeds, 1 << 16)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn mutations_change_the_input_and_respect_the_bound() {
        let seeds = vec![b"[ledger]\norigin = \"x\"\n".to_vec()];
        let mut rng = Rng::new(1);
        let mut changed = 0;
        for _ in 0..1_000 {
            let m = mutate(&mut rng, &seeds[0], &seeds, 30);
            assert!(m.len() <= 30);
            changed += usize::from(m != seeds[0]);
        }
        assert!(changed > 900, "only {changed} of 1000 mutations changed the input");
    }
}
