//! Offline verification: re-hash every entry of a ledger directory and name the first one that
//! cannot be trusted. This is what an auditor runs on a copy of the ledger.

use std::path::Path;

use crate::error::VerifyError;
use crate::format::ChainHash;
use crate::walk::{self, Walker};

/// What a successful verification covered.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct VerifyReport {
    pub segments: usize,
    pub entries: u64,
    pub bytes: u64,
    /// Chain hash of the last entry ([`ChainHash::GENESIS`] for an empty ledger).
    pub head: ChainHash,
}

/// Re-hashes every entry in `dir`. Run it on a closed ledger (or a copy): on a ledger being
/// written, a batch in flight at the end reads as a truncated record.
pub fn verify(dir: &Path) -> Result<VerifyReport, VerifyError> {
    verify_with_progress(dir, |_, _| {})
}

/// Like [`verify`], calling `progress(done_bytes, total_bytes)` every few MiB and at the end.
pub fn verify_with_progress(dir: &Path, progress: impl FnMut(u64, u64)) -> Result<VerifyReport, VerifyError> {
    verify_limited(dir, None, progress)
}

const PROGRESS_STEP: u64 = 4 << 20;

pub(crate) fn verify_limited(
    dir: &Path,
    limit: Option<u64>,
    mut progress: impl FnMut(u64, u64),
) -> Result<VerifyReport, VerifyError> {
    let listing = walk::list(dir)?;
    let mut walker = Walker::new(dir, listing.segments, limit);
    let (_, total) = walker.progress();
    let mut body = Vec::new();
    let mut reported = 0;
    while walker.next_into(&mut body)?.is_some() {
        let (done, _) = walker.progress();
        if done - reported >= PROGRESS_STEP {
            progress(done, total);
            reported = done;
        }
    }
    let (done, _) = walker.progress();
    progress(done, total);
    Ok(VerifyReport {
        segments: walker.segments().len(),
        entries: walker.next_index(),
        bytes: done,
        head: walker.chain(),
    })
}
