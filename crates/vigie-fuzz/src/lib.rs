//! Fuzz targets for everything in Vigie that parses bytes it did not write itself: the ledger's
//! segments and records, checkpoints and signed notes, the detector's snapshot, the access and
//! security event decoders, scenario files, the configuration, identifiers, DBSC proofs and the
//! API's request bodies.
//!
//! Each target is a plain `fn(&[u8])` in [`targets`] that panics only when a property fails (a
//! parser panicked, or accepted something it cannot give back). The same functions run two ways:
//! - **bounded, in CI** (`cargo test -p vigie-fuzz`): [`runner::run`] feeds each target its seed
//!   corpus (`fuzz/seeds/<target>/`, plus repository files such as `scenarios/*.toml`) and a fixed
//!   number of inputs derived from it by [`mutate`], from a fixed seed, so that a failure
//!   replays; stable Rust, no instrumentation;
//! - **coverage-guided, for long runs**: the libFuzzer harnesses in `fuzz/fuzz_targets/` (one line
//!   each, calling the same function) under `cargo fuzz` (see `docs/fuzzing.md`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a fuzz harness: a broken property must abort loudly, and the harness's own set-up cannot fail on a sane machine"
)]

pub mod mutate;
pub mod runner;
pub mod seeds;
pub mod targets;

/// A fuzz target: its name (the file names under `fuzz/`), its function, how many mutated
/// inputs the bounded run gives it, and the longest input worth trying.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
    pub ci_inputs: usize,
    pub max_len: usize,
}

/// Every target. The bounded run's input counts keep each one to a few seconds on this machine.
pub const TARGETS: &[Target] = &[
    Target { name: "identifiers", run: targets::identifiers::run, ci_inputs: 150_000, max_len: 256 },
    Target { name: "events", run: targets::events::run, ci_inputs: 16_000, max_len: 4_096 },
    Target { name: "snapshot", run: targets::snapshot::run, ci_inputs: 1_500, max_len: 64 << 10 },
    Target { name: "ledger", run: targets::ledger::run, ci_inputs: 1_500, max_len: 64 << 10 },
    Target { name: "checkpoint", run: targets::checkpoint::run, ci_inputs: 16_000, max_len: 4_096 },
    Target { name: "scenario", run: targets::scenario::run, ci_inputs: 40_000, max_len: 8_192 },
    Target { name: "config", run: targets::config::run, ci_inputs: 15_000, max_len: 8_192 },
    Target { name: "dbsc", run: targets::dbsc::run, ci_inputs: 9_000, max_len: 8_192 },
    Target { name: "http_bodies", run: targets::http::run, ci_inputs: 4_000, max_len: 16 << 10 },
];

/// The target named `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// A fresh scratch directory, on tmpfs when there is one (each ledger input writes files), the
/// owner's only (the server refuses a data directory that others can read).
pub fn scratch_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let shm = std::path::Path::new("/dev/shm");
    let builder = || {
        let mut b = tempfile::Builder::new();
        b.prefix("vigie-fuzz-").permissions(std::fs::Permissions::from_mode(0o700));
        b
    };
    if shm.is_dir()
        && let Ok(dir) = builder().tempdir_in(shm)
    {
        return dir;
    }
    builder().tempdir().expect("a temporary directory")
}

/// The repository's root (where `fuzz/` and `scenarios/` are).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
