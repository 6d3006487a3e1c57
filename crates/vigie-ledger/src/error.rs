//! What can go wrong when opening, reading or verifying a ledger, and where.
//!
//! Every problem is located: the segment file, entry and byte offset of damaged entries; the
//! tile file and the first entry it covers; the checkpoint file and both tree sizes. An operator
//! (or the DPO) sees exactly which part of the record of accesses is in doubt.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::merkle::Hash;
use crate::note::NoteError;

/// What is wrong at a [`Corruption`]'s location.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fault {
    /// A segment before the last one is missing (the numbering has a gap).
    MissingSegment,
    /// The file is shorter than a segment header.
    HeaderTruncated,
    /// The file does not start with the segment magic.
    BadMagic,
    /// The header names a format version this build does not read.
    UnsupportedVersion(u32),
    /// The header's reserved bytes are not zero.
    BadReserved,
    /// The header's first entry index is not where the previous segment ended: a segment was
    /// removed, reordered or replaced.
    FirstIndexMismatch { expected: u64, found: u64 },
    /// A record runs past the end of its segment.
    TruncatedRecord,
    /// A record's check bytes are not those of its envelope's leaf hash.
    CheckMismatch,
    /// A record's envelope is too short, or of a version or kind this build does not know.
    BadEnvelope,
}

impl Fault {
    /// Whether the fault is in a record as a torn write leaves it, rather than in the segment
    /// files' headers or numbering (which are written atomically and never torn).
    pub fn is_record_fault(self) -> bool {
        matches!(self, Fault::TruncatedRecord | Fault::CheckMismatch)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::MissingSegment => f.write_str("segment file is missing"),
            Fault::HeaderTruncated => f.write_str("segment header is truncated"),
            Fault::BadMagic => f.write_str("not a Vigie Merkle ledger segment (bad magic)"),
            Fault::UnsupportedVersion(v) => write!(f, "unsupported segment format version {v}"),
            Fault::BadReserved => f.write_str("reserved header bytes are not zero"),
            Fault::FirstIndexMismatch { expected, found } => write!(
                f,
                "header says the segment starts at entry {found}, but the previous segment ends at entry {expected}"
            ),
            Fault::TruncatedRecord => f.write_str("record runs past the end of the segment"),
            Fault::CheckMismatch => f.write_str("record check does not match its content"),
            Fault::BadEnvelope => f.write_str("entry envelope is malformed or of an unknown version or kind"),
        }
    }
}

/// Where a ledger's segments stop being trustworthy.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Corruption {
    /// The segment file.
    pub segment: PathBuf,
    /// Index of the first entry that cannot be trusted.
    pub index: u64,
    /// Byte offset of that entry's record (or of the header) in the segment file.
    pub offset: u64,
    pub fault: Fault,
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: entry {} at byte {}: {}", self.segment.display(), self.index, self.offset, self.fault)
    }
}

/// A hash tile that does not hold the hashes the entries give.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TileMismatch {
    pub path: PathBuf,
    pub level: u32,
    pub index: u64,
    /// The first entry whose hash (or subtree hash) the tile gets wrong.
    pub first_entry: u64,
    /// Whether the file is missing (rather than different).
    pub missing: bool,
}

impl fmt::Display for TileMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.missing { "is missing" } else { "does not match the entries" };
        write!(
            f,
            "hash tile {} (level {}) {what}, first at entry {}",
            self.path.display(),
            self.level,
            self.first_entry
        )
    }
}

/// A published checkpoint the log does not live up to.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint {path}: {source}")]
    Unverifiable { path: PathBuf, source: NoteError },
    #[error(
        "checkpoint {path} covers {checkpoint_size} entries but the log holds only {log_size}: \
         the log was rolled back or entries were deleted"
    )]
    RolledBack { path: PathBuf, checkpoint_size: u64, log_size: u64 },
    #[error(
        "checkpoint {path} says the first {size} entries have root {published}, but the log's first {size} \
         entries hash to {found}: entries were rewritten{}",
        first_bad_entry.map(|e| format!(" (the hash tiles first disagree with the entries at entry {e})")).unwrap_or_default()
    )]
    Inconsistent { path: PathBuf, size: u64, published: Hash, found: Hash, first_bad_entry: Option<u64> },
    #[error(
        "checkpoint {path} is missing while the log holds {log_size} entries: checkpoints were deleted, or a \
         witness directory is not mounted (a witness directory newly added to a running log starts with a copy \
         of the ledger's checkpoint, made once `vigie ledger verify` passes)"
    )]
    Missing { path: PathBuf, log_size: u64 },
}

/// Why a ledger could not be read or verified.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("ledger {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("ledger is corrupt: {0}")]
    Corrupt(Corruption),
    #[error("ledger is corrupt: {0}")]
    Tile(TileMismatch),
    #[error("ledger does not match a published checkpoint: {0}")]
    Checkpoint(CheckpointError),
}

/// How an operator investigates a ledger that refused to start.
pub const INVESTIGATE: &str = "investigate with `vigie ledger verify` (on a copy of the data directory), compare \
     with the witnesses' copies of the checkpoint, and keep every file as evidence: do not delete the checkpoint \
     or the segments to get past this";

/// Why a ledger could not be opened for appending.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("ledger {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("ledger {path} is already open in another process or handle")]
    Locked { path: PathBuf },
    /// Corruption that is not a torn tail: the ledger refuses to open rather than write after it.
    #[error("ledger is corrupt, refusing to start: {0}; {INVESTIGATE}")]
    Corrupt(Corruption),
    #[error("ledger fails its start-up check, refusing to start: {0}; {INVESTIGATE}")]
    Checkpoint(CheckpointError),
    /// The end of the log is damaged or missing below what a published checkpoint covers:
    /// acknowledged entries, so not a torn write to cut. Nothing is cut.
    #[error(
        "ledger fails its start-up check, refusing to start: {corruption}, but checkpoint {} covers {checkpoint_size} \
         entries: acknowledged entries were damaged or removed (nothing was cut); {INVESTIGATE}",
        path.display()
    )]
    Covered { corruption: Corruption, checkpoint_size: u64, path: PathBuf },
    #[error("ledger signing key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("cannot start a ledger thread: {0}")]
    Spawn(io::Error),
}

impl From<VerifyError> for OpenError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Io { path, source } => OpenError::Io { path, source },
            VerifyError::Corrupt(c) => OpenError::Corrupt(c),
            // Start-up repairs tiles instead of refusing; this arm is not reached from it.
            VerifyError::Tile(t) => OpenError::Io { path: t.path.clone(), source: io::Error::other(t.to_string()) },
            VerifyError::Checkpoint(c) => OpenError::Checkpoint(c),
        }
    }
}
