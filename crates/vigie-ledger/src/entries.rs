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
    /// Where the record is: its segment's number and the offset of its length prefix there
    /// ([`RecordReader`] reads it back from these).
    pub segment: u32,
    pub offset: u64,
    /// The record's length in the segment: the next record starts at `offset + record_len`.
    pub record_len: u64,
}

/// An iterator over a ledger's entries, checking each record as it reads. It yields the first
/// error it meets and then ends.
#[derive(Debug)]
pub struct Entries {
    walker: Walker,
    envelope: Vec<u8>,
    keys: Option<KeyRing>,
    /// Entries whose time is not after this are read and checked but neither opened nor
    /// yielded ([`Entries::open_after`]).
    after: Option<i64>,
    /// Entries before this index are read and checked but neither opened nor yielded.
    from_index: u64,
}

/// How far an entry's time may lie after that of an entry appended later: events are stamped
/// when their request starts and appended when it ends, concurrent requests in whatever order
/// they finish, and a clock may be stepped back. [`Entries::open_after`] starts reading this much
/// before where the times say it could, so that no entry after its bound is missed.
pub const TIME_DISORDER_MS: i64 = 24 * 3_600_000;

impl Entries {
    /// Reads every entry of the ledger in `dir`. On a ledger that is open for appending, use
    /// [`crate::Ledger::entries`] instead, which stops at the last durable entry.
    pub fn open(dir: &Path) -> Result<Self, VerifyError> {
        Self::open_limited(dir, None)
    }

    pub(crate) fn open_limited(dir: &Path, limit: Option<u64>) -> Result<Self, VerifyError> {
        let listing = walk::list(dir)?;
        Ok(Entries {
            walker: Walker::new(dir, listing.segments, limit),
            envelope: Vec::new(),
            keys: None,
            after: None,
            from_index: 0,
        })
    }

    /// Reads the entries whose time is after `after` (milliseconds since the Unix epoch), to
    /// replay recent events without reading a long ledger whole: the walk starts at the last
    /// segment whose first entry is older than `after` by [`TIME_DISORDER_MS`] (found by reading
    /// one entry of a few segments), and entries not after `after` are checked but not opened
    /// (a sealed body is not decrypted) nor yielded. Opaque entries (time 0) are never after.
    pub fn open_after(dir: &Path, after: i64) -> Result<Self, VerifyError> {
        let listing = walk::list(dir)?;
        let bound = after.saturating_sub(TIME_DISORDER_MS);
        // Segments are in append order: find the last one whose first entry is at or before
        // `bound` (every entry before that segment is then at or before `after`), by bisection.
        // A segment whose first entry cannot be read (a torn write after a crash, before the
        // ledger's recovery cuts it) counts as later: the walk starts before it and meets the
        // damage where a walk from the start would, after yielding what comes before.
        let (mut lo, mut hi) = (0, listing.segments.len());
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            match first_time(dir, &listing.segments, mid) {
                Ok(Some(at)) if at <= bound => lo = mid,
                _ => hi = mid,
            }
        }
        let mut walker = Walker::new(dir, listing.segments, None);
        walker.skip_to_segment(lo);
        Ok(Entries { walker, envelope: Vec::new(), keys: None, after: Some(after), from_index: 0 })
    }

    /// Reads only the segment at position `k` of the directory's listing (in number order),
    /// from its first entry to its last: what a per-segment index is built from.
    pub fn segment(dir: &Path, k: usize) -> Result<Self, VerifyError> {
        let listing = walk::list(dir)?;
        // The walk ends where the next segment starts.
        let limit = match listing.segments.get(k + 1) {
            Some(next) => walk::first_index(next)?,
            None => None,
        };
        let mut walker = Walker::new(dir, listing.segments, limit);
        walker.skip_to_segment(k);
        Ok(Entries { walker, envelope: Vec::new(), keys: None, after: None, from_index: 0 })
    }

    /// The entry the walker just read into `self.envelope`, opened if sealed.
    fn entry(&mut self, pos: walk::Position) -> Option<Result<Entry, VerifyError>> {
        let at =
            Located { index: pos.index, leaf: pos.leaf, segment: pos.segment, offset: pos.offset, record_len: pos.len };
        // The walker has checked the envelope; a failure here cannot happen and ends the walk.
        decode_entry(at, &self.envelope, self.keys.as_ref()).map(Ok)
    }

    /// Skips (checks but neither opens nor yields) the entries before `index`.
    pub fn starting_at(mut self, index: u64) -> Self {
        self.from_index = index;
        self
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
        loop {
            let pos = match self.walker.next_into(&mut self.envelope) {
                Ok(Some(pos)) => pos,
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            };
            if pos.index < self.from_index {
                continue;
            }
            if self.after.is_some_and(|after| envelope_time(&self.envelope).is_none_or(|at| at <= after)) {
                continue;
            }
            return self.entry(pos);
        }
    }
}

/// Where an entry was read, and its leaf hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Located {
    pub index: u64,
    pub leaf: Hash,
    pub segment: u32,
    pub offset: u64,
    pub record_len: u64,
}

/// The entry whose (checked) envelope is `envelope`, opened with `keys` if sealed (without keys,
/// a sealed body is reported shredded). `None` if the envelope does not decode.
pub fn decode_entry(at: Located, envelope: &[u8], keys: Option<&KeyRing>) -> Option<Entry> {
    if let Some(sealed) = seal::parse_sealed(envelope) {
        let (state, body) = match keys {
            Some(keys) => seal::open(&sealed, keys),
            None => (Unsealed::Shredded, Vec::new()),
        };
        return Some(Entry {
            index: at.index,
            kind: sealed.kind,
            at: sealed.at,
            body,
            leaf: at.leaf,
            sealed: Some((sealed.period, state)),
            segment: at.segment,
            offset: at.offset,
            record_len: at.record_len,
        });
    }
    format::decode_envelope(envelope).ok().map(|e| Entry {
        index: at.index,
        kind: e.kind,
        at: e.at,
        body: e.body.to_vec(),
        leaf: at.leaf,
        sealed: None,
        segment: at.segment,
        offset: at.offset,
        record_len: at.record_len,
    })
}

/// An envelope's time, clear or sealed, without opening it.
fn envelope_time(envelope: &[u8]) -> Option<i64> {
    match seal::parse_sealed(envelope) {
        Some(sealed) => Some(sealed.at),
        None => format::decode_envelope(envelope).ok().map(|e| e.at),
    }
}

/// The time of the first entry of `segments[k]`, if it has one.
fn first_time(dir: &Path, segments: &[walk::SegmentFile], k: usize) -> Result<Option<i64>, VerifyError> {
    let mut walker = Walker::new(dir, segments.to_vec(), None);
    walker.skip_to_segment(k);
    let mut envelope = Vec::new();
    Ok(walker.next_into(&mut envelope)?.and_then(|_| envelope_time(&envelope)))
}
