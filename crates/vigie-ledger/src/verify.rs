//! Offline verification: re-hash every entry of a ledger directory, compare every hash tile
//! with the entries, check every published checkpoint (the ledger's own, and the current and past
//! checkpoints held by witness directories) for its signature and against the log, and name the
//! first entry, tile or checkpoint that cannot be trusted. This is what an auditor runs on a copy
//! of the ledger.

use std::path::{Path, PathBuf};

use crate::error::{CheckpointError, VerifyError};
use crate::merkle::Hash;
use crate::note::{Checkpoint, NoteError, NoteVerifier};
use crate::scan::{self, Published, TileMode, TreePass};
use crate::walk::{self, Walker};
use crate::witness;

/// What to check besides the entries and tiles.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// The log's public key. Without it, a ledger that has published checkpoints fails to
    /// verify (they cannot be checked).
    pub verifier: Option<NoteVerifier>,
    /// Witness directories whose `checkpoint` and `checkpoints` history are checked too.
    pub witness_dirs: Vec<PathBuf>,
}

/// What a successful verification covered.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VerifyReport {
    pub segments: usize,
    pub entries: u64,
    /// Bytes of the log (segments' headers and records; not the zeros a running writer keeps
    /// reserved ahead of its appends).
    pub bytes: u64,
    /// Root of the whole log.
    pub root: Hash,
    pub tiles_checked: u64,
    /// Each checkpoint checked: file and tree size.
    pub checkpoints: Vec<(PathBuf, u64)>,
}

/// Re-hashes every entry in `dir` and checks its tiles, and its checkpoints with the verifier
/// key found in `dir/ledger.key` if there is one (the default key location). Run it on a closed
/// ledger (or a copy).
pub fn verify(dir: &Path) -> Result<VerifyReport, VerifyError> {
    let verifier = crate::key::load(&dir.join(crate::key::DEFAULT_KEY_FILE)).ok().map(|s| s.verifier());
    verify_with(dir, &VerifyOptions { verifier, witness_dirs: Vec::new() }, |_, _| {})
}

const PROGRESS_STEP: u64 = 4 << 20;

/// The published checkpoints to check: the ledger's own and the witness directories'.
fn published(dir: &Path, options: &VerifyOptions) -> Result<Vec<Published>, VerifyError> {
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let mut add = |path: PathBuf| match std::fs::read_to_string(&path) {
        Ok(text) => {
            files.push((path, text));
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(VerifyError::Io { path, source }),
    };
    add(dir.join(crate::CHECKPOINT_FILE))?;
    for w in &options.witness_dirs {
        add(w.join(witness::CHECKPOINT_FILE))?;
    }
    for w in &options.witness_dirs {
        let path = w.join(witness::HISTORY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                for (k, note) in witness::parse_history(&text).into_iter().enumerate() {
                    files.push((PathBuf::from(format!("{}#{}", path.display(), k + 1)), note.to_owned()));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(VerifyError::Io { path, source }),
        }
    }
    let Some(verifier) = &options.verifier else {
        return match files.into_iter().next() {
            Some((path, _)) => Err(VerifyError::Checkpoint(CheckpointError::Unverifiable {
                path,
                source: NoteError::BadKey("no verifier key given: cannot check the checkpoint's signature"),
            })),
            None => Ok(Vec::new()),
        };
    };
    files
        .into_iter()
        .map(|(path, text)| match Checkpoint::open(&text, verifier) {
            Ok(checkpoint) => Ok(Published { path, checkpoint }),
            Err(source) => Err(VerifyError::Checkpoint(CheckpointError::Unverifiable { path, source })),
        })
        .collect()
}

/// Like [`verify`], with explicit options, calling `progress(done_bytes, total_bytes)` every few
/// MiB and at the end.
pub fn verify_with(
    dir: &Path,
    options: &VerifyOptions,
    progress: impl FnMut(u64, u64),
) -> Result<VerifyReport, VerifyError> {
    verify_limited(dir, options, || None, progress)
}

/// [`verify_with`] up to the entry count `limit` gives once the checkpoints are read (the durable
/// head of an open ledger: checkpoints never run ahead of it).
pub(crate) fn verify_limited(
    dir: &Path,
    options: &VerifyOptions,
    limit: impl FnOnce() -> Option<u64>,
    mut progress: impl FnMut(u64, u64),
) -> Result<VerifyReport, VerifyError> {
    let published = published(dir, options)?;
    let limit = limit();
    let listing = walk::list(dir)?;
    let mut walker = Walker::new(dir, listing.segments, limit);
    let mut pass = TreePass::new(dir, TileMode::Check, published.iter().map(|p| p.checkpoint.size));
    let (_, total) = walker.progress();
    let mut body = Vec::new();
    let mut reported = 0;
    while let Some(position) = walker.next_into(&mut body)? {
        pass.push(position.leaf);
        let (done, _) = walker.progress();
        if done - reported >= PROGRESS_STEP {
            progress(done, total);
            reported = done;
        }
    }
    let (done, _) = walker.progress();
    progress(done, total);
    if let Some((path, source)) = pass.io_error.take() {
        return Err(VerifyError::Io { path, source });
    }
    // Checkpoints first: a rollback or a rewrite is the finding, whatever the tiles say.
    let mut checkpoints = Vec::new();
    for p in &published {
        pass.check_checkpoint(&p.path, &p.checkpoint).map_err(VerifyError::Checkpoint)?;
        checkpoints.push((p.path.clone(), p.checkpoint.size));
    }
    if let Some(bad) = pass.first_bad_tile.take() {
        return Err(VerifyError::Tile(bad));
    }
    // The partial tiles of the latest checkpoint are those of the whole log when it is the last.
    if limit.is_none() && published.first().is_some_and(|p| p.checkpoint.size == pass.tree.size()) {
        for tile in pass.tree.partial_tiles() {
            pass.check_tile(&tile);
        }
        if let Some(bad) = pass.first_bad_tile.take() {
            return Err(VerifyError::Tile(bad));
        }
    }
    Ok(VerifyReport {
        segments: walker.segments().len(),
        entries: pass.tree.size(),
        // The log's bytes: the writer's reserve (zeros) at the end of a running ledger's last
        // segment is not part of it.
        bytes: done - walker.reserved_bytes(),
        root: pass.tree.root(),
        tiles_checked: pass.tiles_checked,
        checkpoints,
    })
}

/// Reads the ledger's own latest checkpoint, checked with `verifier`.
pub fn latest_checkpoint(dir: &Path, verifier: &NoteVerifier) -> Result<Option<Checkpoint>, VerifyError> {
    scan::read_checkpoint(&dir.join(crate::CHECKPOINT_FILE), verifier)
        .map(|p| p.map(|p| p.checkpoint))
        .map_err(VerifyError::Checkpoint)
}
