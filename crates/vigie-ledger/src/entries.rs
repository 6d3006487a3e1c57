//! Reading the ledger back: every entry in order, with its index, kind, time, body (the
//! canonical encoding of an event) and leaf hash, for replaying the detector, incident scoping
//! and export tools. Reading re-checks each record as it goes, so a reader never hands out an
//! entry torn or damaged on disk (the tree itself is checked by `verify`).

use std::path::Path;

use crate::error::VerifyError;
use crate::format::{self, EntryKind};
use crate::merkle::Hash;
use crate::seal::{self, KeyRing, Period, Unsealed};
use crate::walk::{self, Walker};

/// One ledger entry.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Entry {
    pub index: u64,
    pub kind: EntryKind,
    /// The event's time, milliseconds since the Unix epoch (0 for opaque entries).
    pub at: i64,
    /// The bytes appended: for an access event, `AccessEvent::encode` output, which
    /// `vigie_core::event::EventHead::decode` reads back.
    pub body: Vec<u8>,
    /// The RFC 6962 leaf hash of the entry's envelope.
    pub leaf: Hash,
    /// For a sealed body, its month and whether it could be opened (`body` is empty if not).
    pub sealed: Option<(Period, Unsealed)>,
}

/// An iterator over a ledger's entries, checking each record as it reads. It yields the first
/// error it meets and then ends.
#[derive(Debug)]
pub struct Entries {
    walker: Walker,
    envelope: Vec<u8>,
    keys: Option<KeyRing>,
}

impl Entries {
    /// Reads every entry of the ledger in `dir`. On a ledger that is open for appending, use
    /// [`crate::Ledger::entries`] instead, which stops at the last durable entry.
    pub fn open(dir: &Path) -> Result<Self, VerifyError> {
        Self::open_limited(dir, None)
    }

    pub(crate) fn open_limited(dir: &Path, limit: Option<u64>) -> Result<Self, VerifyError> {
        let listing = walk::list(dir)?;
        Ok(Entries { walker: Walker::new(dir, listing.segments, limit), envelope: Vec::new(), keys: None })
    }

    /// Opens sealed bodies with the month keys in `keys_dir` (without it, or once a month's key
    /// is shredded, a sealed entry comes with an empty body).
    pub fn with_keys(mut self, keys_dir: &Path) -> Self {
        self.keys = Some(KeyRing::new(keys_dir));
        self
    }
}

impl Iterator for Entries {
    type Item = Result<Entry, VerifyError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.walker.next_into(&mut self.envelope) {
            // The walker has checked the envelope; a failure here cannot happen and ends the walk.
            Ok(Some(pos)) => {
                if let Some(sealed) = seal::parse_sealed(&self.envelope) {
                    let (state, body) = match &self.keys {
                        Some(keys) => seal::open(&sealed, keys),
                        None => (Unsealed::Shredded, Vec::new()),
                    };
                    return Some(Ok(Entry {
                        index: pos.index,
                        kind: sealed.kind,
                        at: sealed.at,
                        body,
                        leaf: pos.leaf,
                        sealed: Some((sealed.period, state)),
                    }));
                }
                format::decode_envelope(&self.envelope).ok().map(|e| {
                    Ok(Entry {
                        index: pos.index,
                        kind: e.kind,
                        at: e.at,
                        body: e.body.to_vec(),
                        leaf: pos.leaf,
                        sealed: None,
                    })
                })
            }
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}
