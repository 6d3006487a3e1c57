//! The bounded run: a target's seed corpus, then a fixed number of mutated inputs from a fixed
//! seed. A failing input is written to `target/fuzz-failures/` and named in the error, so that
//! it can be replayed under libFuzzer (`cargo fuzz run <target> <file>`) and turned into a
//! regression test beside the parser.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use crate::Target;
use crate::mutate::{Rng, mutate};

/// What a bounded run did.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    pub seeds: usize,
    pub inputs: usize,
}

/// The input that broke a property, saved.
#[derive(Debug)]
pub struct Failure {
    pub target: &'static str,
    pub input: PathBuf,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fuzz target {} failed: {}\n  input saved to {} (replay: cargo fuzz run {} {})",
            self.target,
            self.message,
            self.input.display(),
            self.target,
            self.input.display()
        )
    }
}

/// The committed seeds of `target` (`fuzz/seeds/<name>/`), plus the repository files that are
/// its natural inputs (scenario files, the example configuration).
pub fn seeds(target: &Target) -> Vec<Vec<u8>> {
    let root = crate::repo_root();
    let mut files = list(&root.join("fuzz/seeds").join(target.name));
    match target.name {
        "scenario" => files.extend(list(&root.join("scenarios"))),
        "config" => files.push(root.join("vigie.example.toml")),
        _ => {}
    }
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn list(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

/// Runs `target` on its seeds, then on `inputs` mutations of them drawn from `seed`.
pub fn run(target: &'static Target, inputs: usize, seed: u64) -> Result<Outcome, Failure> {
    let corpus = seeds(target);
    for input in &corpus {
        one(target, input)?;
    }
    let mut rng = Rng::new(seed ^ fnv(target.name.as_bytes()));
    let empty = vec![Vec::new()];
    let pool = if corpus.is_empty() { &empty } else { &corpus };
    for i in 0..inputs {
        // Now and then a mutation of a mutation: deeper changes than four stacked edits.
        let base = &pool[i % pool.len()];
        let mut input = mutate(&mut rng, base, pool, target.max_len);
        if rng.below(4) == 0 {
            input = mutate(&mut rng, &input, pool, target.max_len);
        }
        one(target, &input)?;
    }
    Ok(Outcome { seeds: corpus.len(), inputs })
}

fn one(target: &'static Target, input: &[u8]) -> Result<(), Failure> {
    match catch_unwind(AssertUnwindSafe(|| (target.run)(input))) {
        Ok(()) => Ok(()),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic".into());
            Err(Failure { target: target.name, input: save(target.name, input), message })
        }
    }
}

fn save(name: &str, input: &[u8]) -> PathBuf {
    let dir = crate::repo_root().join("target/fuzz-failures");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{name}-{:016x}", fnv(input)));
    let _ = std::fs::write(&path, input);
    path
}

/// FNV-1a: a stable per-target offset of the seed, and the failures' file names.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}
