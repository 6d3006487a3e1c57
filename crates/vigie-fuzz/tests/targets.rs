//! The bounded fuzz run of CI: every target on its seed corpus and a fixed number of mutated
//! inputs from a fixed seed (`VIGIE_FUZZ_INPUTS` scales the number, `VIGIE_FUZZ_SEED` changes
//! the seed, for a longer or different local run). A failure names the input it saved.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used, reason = "a test binary")]

use vigie_fuzz::runner;

fn bounded(name: &str) {
    let target = vigie_fuzz::target(name).expect("a target of that name");
    let scale: f64 = std::env::var("VIGIE_FUZZ_INPUTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1.0);
    let seed: u64 = std::env::var("VIGIE_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed);
    let inputs = (target.ci_inputs as f64 * scale) as usize;
    let started = std::time::Instant::now();
    match runner::run(target, inputs, seed) {
        Ok(outcome) => {
            assert!(outcome.seeds > 0, "{name}: no seed corpus (fuzz/seeds/{name}/)");
            eprintln!(
                "{name}: {} seeds + {} mutated inputs in {:.1?}",
                outcome.seeds,
                outcome.inputs,
                started.elapsed()
            );
        }
        Err(failure) => panic!("{failure}"),
    }
}

#[test]
fn identifiers() {
    bounded("identifiers");
}

#[test]
fn events() {
    bounded("events");
}

#[test]
fn snapshot() {
    bounded("snapshot");
}

#[test]
fn ledger() {
    bounded("ledger");
}

#[test]
fn checkpoint() {
    bounded("checkpoint");
}

#[test]
fn scenario() {
    bounded("scenario");
}

#[test]
fn config() {
    bounded("config");
}

#[test]
fn dbsc() {
    bounded("dbsc");
}

#[test]
fn http_bodies() {
    bounded("http_bodies");
}

/// Every target has a libFuzzer harness that calls it, every harness a target, and the
/// committed seeds stay small.
#[test]
fn harnesses_and_seeds_match_the_targets() {
    let root = vigie_fuzz::repo_root();
    let mut harnesses: Vec<String> = std::fs::read_dir(root.join("fuzz/fuzz_targets"))
        .expect("fuzz/fuzz_targets")
        .map(|e| e.expect("entry").file_name().to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    harnesses.sort();
    let mut names: Vec<String> = vigie_fuzz::TARGETS.iter().map(|t| t.name.to_owned()).collect();
    names.sort();
    assert_eq!(harnesses, names, "fuzz/fuzz_targets/ and vigie_fuzz::TARGETS");
    let manifest = std::fs::read_to_string(root.join("fuzz/Cargo.toml")).expect("fuzz/Cargo.toml");
    for t in vigie_fuzz::TARGETS {
        let module = if t.name == "http_bodies" { "http" } else { t.name };
        let harness = std::fs::read_to_string(root.join(format!("fuzz/fuzz_targets/{}.rs", t.name))).expect("harness");
        assert!(harness.contains(&format!("vigie_fuzz::targets::{module}::run(data)")), "{} calls its target", t.name);
        assert!(manifest.contains(&format!("name = \"{}\"", t.name)), "{} is a bin of fuzz/Cargo.toml", t.name);
    }
    let mut total = 0;
    for seed in walk(&root.join("fuzz/seeds")) {
        let len = std::fs::metadata(&seed).expect("metadata").len();
        assert!(len <= 64 << 10, "{} is {len} bytes: keep seeds small", seed.display());
        total += len;
    }
    assert!(total <= 1 << 20, "the committed seeds take {total} bytes");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out
}
