//! Inclusion proofs for single entries, from the hash tiles, against the latest checkpoint:
//! what `vigie ledger prove` prints and what an auditor checks with the log's public key alone.

use std::path::Path;

use crate::error::VerifyError;
use crate::merkle::{self, Hash, ProofError};
use crate::note::NoteVerifier;
use crate::tiles::TileSource;
use crate::walk::{self, Walker};

/// An entry, its inclusion proof and the signed checkpoint the proof leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionReceipt {
    pub index: u64,
    pub leaf: Hash,
    pub size: u64,
    pub root: Hash,
    /// Sibling hashes, leaf side first.
    pub proof: Vec<Hash>,
    /// The checkpoint note (signed) whose size and root these are.
    pub checkpoint: String,
}

/// Why an entry could not be proved.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    #[error("{0}")]
    Ledger(#[from] VerifyError),
    #[error("the ledger has no checkpoint yet")]
    NoCheckpoint,
    #[error("entry {index} is not in the latest checkpoint (size {size}); it will be within a second")]
    NotYetCheckpointed { index: u64, size: u64 },
    #[error("reading the proof's hashes: {0}")]
    Tiles(#[from] ProofError<crate::tiles::TileReadError>),
    #[error("the proof built from the tiles does not verify against the checkpoint ({0}): run `vigie ledger verify`")]
    DoesNotVerify(merkle::VerifyProofError),
}

/// Proves entry `index` of the ledger in `dir` against its latest checkpoint (checked with
/// `verifier`). The entry's leaf hash is recomputed from its segment record.
pub fn prove(dir: &Path, verifier: &NoteVerifier, index: u64) -> Result<InclusionReceipt, ProveError> {
    let checkpoint = crate::verify::latest_checkpoint(dir, verifier)?.ok_or(ProveError::NoCheckpoint)?;
    let note = std::fs::read_to_string(dir.join(crate::CHECKPOINT_FILE))
        .map_err(|source| VerifyError::Io { path: dir.join(crate::CHECKPOINT_FILE), source })?;
    if index >= checkpoint.size {
        return Err(ProveError::NotYetCheckpointed { index, size: checkpoint.size });
    }
    let leaf = leaf_at(dir, index)?;
    let source = TileSource { dir, size: checkpoint.size };
    let proof = merkle::inclusion_proof(&source, index, checkpoint.size)?;
    merkle::verify_inclusion(index, checkpoint.size, &leaf, &proof, &checkpoint.root)
        .map_err(ProveError::DoesNotVerify)?;
    Ok(InclusionReceipt { index, leaf, size: checkpoint.size, root: checkpoint.root, proof, checkpoint: note })
}

/// The leaf hash of entry `index`, read from its segment (skipping earlier segments by their
/// headers' first index).
fn leaf_at(dir: &Path, index: u64) -> Result<Hash, VerifyError> {
    let listing = walk::list(dir)?;
    let mut walker = Walker::new(dir, listing.segments, Some(index + 1));
    walker.skip_to(index)?;
    let mut body = Vec::new();
    while let Some(pos) = walker.next_into(&mut body)? {
        if pos.index == index {
            return Ok(pos.leaf);
        }
    }
    Err(VerifyError::Io {
        path: dir.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, format!("entry {index} is not in the segments")),
    })
}
