//! What scoping checks before it trusts a ledger, and what it says when it cannot.
//!
//! A full verification (`vigie ledger verify`, or the server's start-up check) re-hashes every
//! entry; it takes minutes on a large ledger, so scoping does not run it each time. It checks,
//! each time: the latest checkpoint's signature with the log's key; every witness directory's
//! checkpoint against it (a witness holding a later checkpoint, or another root at the same size,
//! or one the log is not consistent with, means the log was rolled back or rewritten); and the
//! record of the last full verification (`index/verified`), which must exist and have succeeded.
//! Then every entry its answer relies on is re-read from the log and its leaf hash compared with
//! the tiles under that checkpoint.

use std::fs;
use std::path::{Path, PathBuf};

use vigie_ledger::CHECKPOINT_FILE;
use vigie_ledger::merkle::{self, Hash};
use vigie_ledger::note::{Checkpoint, NoteVerifier};

use crate::index::index_dir;
use crate::tiles::Tiles;

/// The ledger's latest signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cited {
    pub note: String,
    pub checkpoint: Checkpoint,
}

/// What the checks found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trust {
    pub checkpoint: Option<Cited>,
    /// Why the ledger cannot be trusted; empty when it can.
    pub problems: Vec<String>,
    /// The last full verification: when (ms), how many entries, or why it failed.
    pub last_verification: Option<String>,
}

impl Trust {
    pub fn verified(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The record of the last full verification, in the index directory.
pub fn verification_record(ledger: &Path) -> PathBuf {
    index_dir(ledger).join("verified")
}

/// Records the outcome of a full verification (by `vigie ledger verify` or a start-up check):
/// `ok <entries> <time ms>` or `failed <time ms> <reason>`.
pub fn record_verification(ledger: &Path, outcome: Result<u64, &str>, at_ms: i64) -> std::io::Result<()> {
    let line = match outcome {
        Ok(entries) => format!("ok {entries} {at_ms}\n"),
        Err(why) => format!("failed {at_ms} {}\n", why.replace('\n', " ")),
    };
    let dir = index_dir(ledger);
    vigie_ledger::private::create_dir_all(&dir)?;
    let path = verification_record(ledger);
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut f = vigie_ledger::private::file().write(true).create(true).truncate(true).open(&tmp)?;
        f.write_all(line.as_bytes())?;
    }
    fs::rename(tmp, path)
}

/// Checks the ledger in `ledger` as described in the module doc.
pub fn check(ledger: &Path, verifier: Option<&NoteVerifier>, witness_dirs: &[PathBuf]) -> Trust {
    let mut t = Trust::default();
    let Some(verifier) = verifier else {
        t.problems.push("no verifier key: the checkpoint's signature cannot be checked".into());
        return t;
    };
    let note = match fs::read_to_string(ledger.join(CHECKPOINT_FILE)) {
        Ok(n) => n,
        Err(e) => {
            t.problems.push(format!("the ledger has no readable checkpoint ({e})"));
            return t;
        }
    };
    let checkpoint = match Checkpoint::open(&note, verifier) {
        Ok(c) => c,
        Err(e) => {
            t.problems.push(format!("the ledger's checkpoint does not verify: {e}"));
            return t;
        }
    };
    let tiles = Tiles::new(ledger, checkpoint.size);
    for w in witness_dirs {
        let path = w.join(CHECKPOINT_FILE);
        let theirs = match fs::read_to_string(&path).map(|n| Checkpoint::open(&n, verifier)) {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                t.problems.push(format!("witness {}: its checkpoint does not verify: {e}", path.display()));
                continue;
            }
            Err(e) => {
                t.problems.push(format!("witness {}: {e}", path.display()));
                continue;
            }
        };
        if theirs.size > checkpoint.size {
            t.problems.push(format!(
                "witness {} holds a later checkpoint (size {}) than the ledger's ({}): the log was rolled back",
                path.display(),
                theirs.size,
                checkpoint.size
            ));
        } else if theirs.size == checkpoint.size && theirs.root != checkpoint.root {
            t.problems.push(format!(
                "witness {} holds another root at size {}: the log was rewritten",
                path.display(),
                theirs.size
            ));
        } else if theirs.size < checkpoint.size && theirs.size > 0 {
            let consistent =
                merkle::consistency_proof(&tiles, theirs.size, checkpoint.size).ok().is_some_and(|proof| {
                    merkle::verify_consistency(theirs.size, checkpoint.size, &theirs.root, &checkpoint.root, &proof)
                        .is_ok()
                });
            if !consistent {
                t.problems.push(format!(
                    "witness {}: its checkpoint (size {}) is not consistent with the ledger's: the log was rewritten",
                    path.display(),
                    theirs.size
                ));
            }
        }
    }
    match fs::read_to_string(verification_record(ledger)) {
        Ok(line) => {
            let line = line.trim().to_owned();
            if let Some(rest) = line.strip_prefix("failed ") {
                let (at, why) = rest.split_once(' ').unwrap_or(("?", rest));
                t.problems.push(format!("the last full verification failed: {why} (at {at} ms)"));
            } else if !line.starts_with("ok ") {
                t.problems.push(format!("the record of the last verification is unreadable: {line}"));
            }
            t.last_verification = Some(line);
        }
        Err(_) => t.problems.push(
            "the ledger has never been fully verified here (run `vigie ledger verify`; the server's start-up check also records it)"
                .into(),
        ),
    }
    t.checkpoint = Some(Cited { note, checkpoint });
    t
}

/// Checks a re-read entry's leaf hash against the tiles; `Ok(false)` if the entry is after the
/// checkpoint (not yet covered by a signed tree).
pub fn leaf_matches(tiles: &Tiles, index: u64, leaf: &Hash) -> Result<bool, String> {
    if index >= tiles.size() {
        return Ok(false);
    }
    match tiles.leaf(index) {
        Ok(h) if h == *leaf => Ok(true),
        Ok(_) => Err(format!("entry {index}: its leaf hash differs from the hash tiles under the checkpoint")),
        Err(e) => Err(format!("entry {index}: {e}")),
    }
}
