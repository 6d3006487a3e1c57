//! File modes under a usual umask (022): everything the ledger creates for itself (its
//! directory, segments, tiles and their directories, the checkpoint, the lock, the signing key,
//! the month keys) is the owner's only; a witness directory keeps its owner's modes. One test in
//! its own binary, because the umask is the process's.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::event;
use vigie_core::ports::AccessLedger;
use vigie_ledger::{Ledger, LedgerOptions, Witness};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file and directory under `dir`, recursively (not `dir` itself).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        out.push(path.clone());
        if path.is_dir() {
            walk(&path, out);
        }
    }
}

#[test]
fn the_ledger_creates_its_files_0600_and_its_directories_0700_under_umask_022() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let options = LedgerOptions {
        key_file: Some(data.join("ledger.key")),
        seal_keys: Some(data.join("ledger-keys")),
        witnesses: vec![Witness::Directory(root.path().join("witness"))],
        segment_bytes: 4096,
        ..LedgerOptions::default()
    };
    let ledger = Ledger::open(&data.join("ledger"), options).unwrap();
    for n in 0..600 {
        ledger.append(&[event(n)]).unwrap();
    }
    drop(ledger);
    let mut paths = Vec::new();
    walk(&data, &mut paths);
    let names: Vec<String> = paths.iter().map(|p| p.strip_prefix(&data).unwrap().display().to_string()).collect();
    for expected in
        ["ledger.key", "ledger-keys", "ledger/LOCK", "ledger/checkpoint", "ledger/00000001.log", "ledger/tile/0/000"]
    {
        assert!(names.iter().any(|n| n == expected), "{expected} in {names:?}");
    }
    assert_eq!(mode(&data), 0o700, "the directory the ledger created");
    for path in &paths {
        let want = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(path), want, "{}", path.display());
    }
    // Another party's storage keeps that party's modes (here the umask's).
    assert_eq!(mode(&root.path().join("witness/checkpoint")), 0o644);
}
