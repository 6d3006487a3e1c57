//! What can go wrong when opening, reading or verifying a ledger, and where.
//!
//! Corruption is always located: the segment file, the index of the first entry that cannot be
//! trusted, and the byte offset in that file, so that an operator (or the DPO) can see exactly
//! which part of the record of accesses is in doubt.

use std::fmt;
use std::io;
use std::path::PathBuf;

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
    /// The header's start chain hash is not the previous segment's last chain hash.
    StartChainMismatch,
    /// A record runs past the end of its segment.
    TruncatedRecord,
    /// A record's stored chain hash is not the hash of its content and its predecessor.
    ChainMismatch,
}

impl Fault {
    /// Whether the fault is in a record (as a torn write leaves), rather than in the segment
    /// files' headers or numbering (which are written atomically and never torn).
    pub fn is_record_fault(self) -> bool {
        matches!(self, Fault::TruncatedRecord | Fault::ChainMismatch)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::MissingSegment => f.write_str("segment file is missing"),
            Fault::HeaderTruncated => f.write_str("segment header is truncated"),
            Fault::BadMagic => f.write_str("not a Vigie ledger segment (bad magic)"),
            Fault::UnsupportedVersion(v) => write!(f, "unsupported segment format version {v}"),
            Fault::BadReserved => f.write_str("reserved header bytes are not zero"),
            Fault::FirstIndexMismatch { expected, found } => write!(
                f,
                "header says the segment starts at entry {found}, but the previous segment ends at entry {expected}"
            ),
            Fault::StartChainMismatch => {
                f.write_str("header's start chain hash is not the previous segment's last chain hash")
            }
            Fault::TruncatedRecord => f.write_str("record runs past the end of the segment"),
            Fault::ChainMismatch => f.write_str("chain hash mismatch"),
        }
    }
}

/// Where a ledger stops being trustworthy.
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

/// Why a ledger could not be read or verified.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("ledger {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("ledger is corrupt: {0}")]
    Corrupt(Corruption),
}

/// Why a ledger could not be opened for appending.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("ledger {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("ledger {path} is already open in another process or handle")]
    Locked { path: PathBuf },
    /// Corruption that is not a torn tail: the ledger refuses to open rather than write after it.
    #[error("ledger is corrupt, refusing to open: {0}")]
    Corrupt(Corruption),
    #[error("cannot start the ledger writer thread: {0}")]
    Spawn(io::Error),
}

impl From<VerifyError> for OpenError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Io { path, source } => OpenError::Io { path, source },
            VerifyError::Corrupt(c) => OpenError::Corrupt(c),
        }
    }
}
