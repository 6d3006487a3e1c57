//! Reading the ledger back: every entry in order, with its index, body (the canonical encoding
//! of an access event) and chain hash, for incident scoping and export tools. Reading re-checks
//! the chain as it goes, so a reader never hands out an entry it could not vouch for.

use std::path::Path;

use crate::error::VerifyError;
use crate::format::ChainHash;
use crate::walk::{self, Walker};

/// One ledger entry.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Entry {
    pub index: u64,
    /// The bytes appended: for the access ledger, `AccessEvent::encode` output, which
    /// `vigie_core::event::EventHead::decode` reads back.
    pub body: Vec<u8>,
    pub chain: ChainHash,
}

/// An iterator over a ledger's entries, checking the chain as it reads. It yields the first
/// error it meets and then ends.
#[derive(Debug)]
pub struct Entries {
    walker: Walker,
}

impl Entries {
    /// Reads every entry of the ledger in `dir`. On a ledger that is open for appending, use
    /// [`crate::Ledger::entries`] instead, which stops at the last durable entry.
    pub fn open(dir: &Path) -> Result<Self, VerifyError> {
        Self::open_limited(dir, None)
    }

    pub(crate) fn open_limited(dir: &Path, limit: Option<u64>) -> Result<Self, VerifyError> {
        let listing = walk::list(dir)?;
        Ok(Entries { walker: Walker::new(dir, listing.segments, limit) })
    }
}

impl Iterator for Entries {
    type Item = Result<Entry, VerifyError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut body = Vec::new();
        match self.walker.next_into(&mut body) {
            Ok(Some(pos)) => Some(Ok(Entry { index: pos.index, body, chain: pos.chain })),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}
