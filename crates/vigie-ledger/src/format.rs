//! The ledger's segment format, version 1: file names, segment headers, the entry envelope (the
//! bytes hashed into the tree) and record framing. Every byte this crate puts in a segment is
//! decided here and read back by the one walker.
//!
//! A segment is `header | record*`. The header (24 bytes) is
//! `magic "VIGIEML1" | version u32 (1) | reserved u32 (0) | first_index u64`, and a record is
//! `len u32 | envelope (len bytes) | check [4]`, integers big-endian, where `check` is the first
//! four bytes of the entry's RFC 6962 leaf hash `SHA-256(0x00 ‖ envelope)`. The check only finds
//! torn writes; tampering is found by the tree (hash tiles, signed checkpoints).
//!
//! The last segment may end in zero bytes after its last record: space the running writer
//! reserved ahead of its appends (so that a sync writes data, not the file's new size), left
//! there by a crash. No record has a zero length, so a zero length field followed by nothing but
//! zeros to the end of the last segment is the end of the log; zeros anywhere else, or followed
//! by anything else, are damage. The writer cuts its reserve before it starts a new segment and
//! when it closes.
//!
//! The envelope, version 1, is `version u8 (0x01) | kind u8 | time i64 | body`: the kind is
//! 0x00 (opaque bytes), 0x01 (an access event, `AccessEvent::encode`) or 0x02 (a security event,
//! `SecurityEvent::encode`), the time is the event's, in milliseconds since the Unix epoch (0
//! for opaque bytes), and the body runs to the end of the envelope. Version 2 carries the body
//! sealed with its month's key ([`crate::seal`]).

use crate::merkle::{Hash, leaf_hash};

/// First bytes of every segment file.
pub const MAGIC: [u8; 8] = *b"VIGIEML1";
/// The only segment format version this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Length of a segment header in bytes.
pub const HEADER_LEN: u64 = 24;
/// Bytes a record adds around its envelope: the length prefix and the check.
pub const RECORD_OVERHEAD: u64 = 4 + 4;
/// Largest envelope the writer accepts. An encoded access event is about a hundred bytes; the
/// bound keeps a damaged length field from asking a reader for gigabytes.
pub const MAX_ENVELOPE_LEN: usize = 16 << 20;
/// The envelope format version written by this crate.
pub const ENVELOPE_V1: u8 = 0x01;
/// Bytes of an envelope before its body.
pub const ENVELOPE_HEADER_LEN: usize = 10;

/// What an entry's body is.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum EntryKind {
    /// Bytes appended through [`crate::Ledger::append_bodies`].
    Opaque,
    /// `vigie_core::event::AccessEvent::encode` output.
    Access,
    /// `vigie_core::security::SecurityEvent::encode` output.
    Security,
}

impl EntryKind {
    pub fn code(self) -> u8 {
        match self {
            EntryKind::Opaque => 0x00,
            EntryKind::Access => 0x01,
            EntryKind::Security => 0x02,
        }
    }

    pub fn from_code(code: u8) -> Option<EntryKind> {
        match code {
            0x00 => Some(EntryKind::Opaque),
            0x01 => Some(EntryKind::Access),
            0x02 => Some(EntryKind::Security),
            _ => None,
        }
    }
}

/// An entry's envelope, decoded (borrowing its body).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Envelope<'a> {
    pub kind: EntryKind,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    pub body: &'a [u8],
}

impl Envelope<'_> {
    /// Appends the canonical encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(ENVELOPE_V1);
        out.push(self.kind.code());
        out.extend_from_slice(&self.at.to_be_bytes());
        out.extend_from_slice(self.body);
    }
}

/// Why an envelope cannot be read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EnvelopeFault {
    TooShort,
    UnsupportedVersion(u8),
    UnknownKind(u8),
}

/// Reads an envelope written by [`Envelope::encode`].
pub fn decode_envelope(b: &[u8]) -> Result<Envelope<'_>, EnvelopeFault> {
    let (Some(head), Some(body)) = (b.get(..ENVELOPE_HEADER_LEN), b.get(ENVELOPE_HEADER_LEN..)) else {
        return Err(EnvelopeFault::TooShort);
    };
    if head[0] != ENVELOPE_V1 {
        return Err(EnvelopeFault::UnsupportedVersion(head[0]));
    }
    let kind = EntryKind::from_code(head[1]).ok_or(EnvelopeFault::UnknownKind(head[1]))?;
    let mut at = [0u8; 8];
    at.copy_from_slice(&head[2..10]);
    Ok(Envelope { kind, at: i64::from_be_bytes(at), body })
}

/// Checks that `b` is an envelope this build reads: version 1 (clear) or 2 (sealed, see
/// [`crate::seal`]).
pub fn check_envelope(b: &[u8]) -> Result<(), EnvelopeFault> {
    match b.first() {
        Some(&crate::seal::ENVELOPE_V2_SEALED) => {
            crate::seal::parse_sealed(b).map(|_| ()).ok_or(EnvelopeFault::TooShort)
        }
        _ => decode_envelope(b).map(|_| ()),
    }
}

/// Appends the record of `envelope` (`len | envelope | check`) to `out` and returns the entry's
/// leaf hash. `None` if the envelope is longer than [`MAX_ENVELOPE_LEN`].
pub fn push_record(out: &mut Vec<u8>, envelope: &[u8]) -> Option<Hash> {
    if envelope.len() > MAX_ENVELOPE_LEN {
        return None;
    }
    let len = u32::try_from(envelope.len()).ok()?;
    let leaf = leaf_hash(envelope);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(envelope);
    out.extend_from_slice(&leaf.0[..4]);
    Some(leaf)
}

/// The header at the start of every segment.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SegmentHeader {
    /// Index of the segment's first entry (the number of entries in all earlier segments).
    pub first_index: u64,
}

/// Why a segment header is not a valid version 1 header.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HeaderFault {
    BadMagic,
    UnsupportedVersion(u32),
    BadReserved,
}

impl SegmentHeader {
    pub fn encode(&self) -> [u8; HEADER_LEN as usize] {
        let mut out = [0u8; HEADER_LEN as usize];
        out[..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
        // 12..16 reserved, zero.
        out[16..24].copy_from_slice(&self.first_index.to_be_bytes());
        out
    }

    pub fn decode(b: &[u8; HEADER_LEN as usize]) -> Result<Self, HeaderFault> {
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        if b[..8] != MAGIC {
            return Err(HeaderFault::BadMagic);
        }
        let version = word(8);
        if version != FORMAT_VERSION {
            return Err(HeaderFault::UnsupportedVersion(version));
        }
        if word(12) != 0 {
            return Err(HeaderFault::BadReserved);
        }
        let mut first = [0u8; 8];
        first.copy_from_slice(&b[16..24]);
        Ok(SegmentHeader { first_index: u64::from_be_bytes(first) })
    }
}

/// File name of segment `number`: eight decimal digits and `.log`.
pub fn segment_name(number: u32) -> String {
    format!("{number:08}.log")
}

/// Name under which a segment is written before it is renamed into place, so that a segment
/// never exists under its real name without its whole header.
pub fn temp_segment_name(number: u32) -> String {
    format!("{number:08}.log.tmp")
}

/// The segment number of a file name produced by [`segment_name`].
pub fn parse_segment_name(name: &str) -> Option<u32> {
    let digits = name.strip_suffix(".log")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether a file name is a leftover from [`temp_segment_name`].
pub fn is_temp_segment_name(name: &str) -> bool {
    name.strip_suffix(".tmp").and_then(parse_segment_name).is_some()
}

/// The record at `at` in `buf` if its framing fits and its check matches its envelope:
/// `(envelope, end offset)`.
fn checked_record_at(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let len_bytes: [u8; 4] = buf.get(at..at.checked_add(4)?)?.try_into().ok()?;
    let len = usize::try_from(u32::from_be_bytes(len_bytes)).ok()?;
    if !(ENVELOPE_HEADER_LEN..=MAX_ENVELOPE_LEN).contains(&len) {
        return None;
    }
    let body_end = at.checked_add(4)?.checked_add(len)?;
    let end = body_end.checked_add(4)?;
    let check = buf.get(body_end..end)?;
    let envelope = buf.get(at + 4..body_end)?;
    // Cheap filter before hashing: an envelope starts with its version.
    if !matches!(envelope.first(), Some(&ENVELOPE_V1 | &crate::seal::ENVELOPE_V2_SEALED)) {
        return None;
    }
    (leaf_hash(envelope).0[..4] == *check).then_some((envelope, end))
}

/// Whether a complete, correctly checked record starts at any offset after the damaged record at
/// the start of `tail`. A write torn by a crash leaves only garbage, zeros or a short file after
/// the last durable record; damage followed by a valid record is something else (a flipped bit,
/// an edit) and must not be cut away as a torn tail.
///
/// The scan hashes candidate envelopes; a hostile tail could make that quadratic, so past a
/// budget of hashed bytes it answers `true` (refuse to cut: the safe side).
pub fn valid_record_follows(tail: &[u8]) -> bool {
    const BUDGET: usize = 1 << 30;
    let mut hashed = 0usize;
    for at in 1..tail.len() {
        if checked_record_at(tail, at).is_some() {
            return true;
        }
        let len = tail.get(at..at + 4).and_then(|b| b.try_into().ok()).map_or(0, u32::from_be_bytes) as usize;
        hashed = hashed.saturating_add(len.min(tail.len()));
        if hashed > BUDGET {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_and_record_are_pinned() {
        // A change here changes every ledger on disk and every leaf hash: bump the envelope
        // version instead. Golden bytes, written out by hand from the layout in the module doc.
        let mut envelope = Vec::new();
        Envelope { kind: EntryKind::Access, at: 1_760_000_000_123, body: b"hello" }.encode(&mut envelope);
        assert_eq!(
            envelope,
            [0x01, 0x01, 0x00, 0x00, 0x01, 0x99, 0xc8, 0x2c, 0xc0, 0x7b, b'h', b'e', b'l', b'l', b'o']
        );
        assert_eq!(
            leaf_hash(&envelope).to_hex(),
            "49d4d91507085f6782ff4126b893fc5888087bca86e4268e1a2ce6323e38761f",
            "the leaf hash of the golden envelope, computed with Python hashlib"
        );
        let mut record = Vec::new();
        let leaf = push_record(&mut record, &envelope).unwrap();
        assert_eq!(&record[..4], &15u32.to_be_bytes());
        assert_eq!(&record[4..19], envelope.as_slice());
        assert_eq!(&record[19..], &leaf.0[..4]);
        let decoded = decode_envelope(&envelope).unwrap();
        assert_eq!((decoded.kind, decoded.at, decoded.body), (EntryKind::Access, 1_760_000_000_123, &b"hello"[..]));
    }

    #[test]
    fn envelope_refuses_unknown_versions_and_kinds() {
        assert_eq!(decode_envelope(&[1, 1, 0]), Err(EnvelopeFault::TooShort));
        assert_eq!(decode_envelope(&[2, 1, 0, 0, 0, 0, 0, 0, 0, 0]), Err(EnvelopeFault::UnsupportedVersion(2)));
        assert_eq!(decode_envelope(&[1, 9, 0, 0, 0, 0, 0, 0, 0, 0]), Err(EnvelopeFault::UnknownKind(9)));
        assert!(decode_envelope(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_ok());
    }

    #[test]
    fn header_round_trips_and_refuses_damage() {
        let h = SegmentHeader { first_index: 42 };
        let bytes = h.encode();
        assert_eq!(&bytes[..8], b"VIGIEML1");
        assert_eq!(SegmentHeader::decode(&bytes), Ok(h));
        let mut bad = bytes;
        bad[0] ^= 1;
        assert_eq!(SegmentHeader::decode(&bad), Err(HeaderFault::BadMagic));
        let mut bad = bytes;
        bad[11] = 2;
        assert_eq!(SegmentHeader::decode(&bad), Err(HeaderFault::UnsupportedVersion(2)));
        let mut bad = bytes;
        bad[13] = 1;
        assert_eq!(SegmentHeader::decode(&bad), Err(HeaderFault::BadReserved));
    }

    #[test]
    fn segment_names() {
        assert_eq!(segment_name(12), "00000012.log");
        assert_eq!(parse_segment_name("00000012.log"), Some(12));
        assert_eq!(parse_segment_name("0000012.log"), None);
        assert_eq!(parse_segment_name("00000012.log.tmp"), None);
        assert!(is_temp_segment_name(&temp_segment_name(3)));
        assert!(!is_temp_segment_name("LOCK"));
    }

    #[test]
    fn damage_followed_by_a_valid_record_is_recognised() {
        let mut log = Vec::new();
        let mut starts = Vec::new();
        for i in 0..3u8 {
            starts.push(log.len());
            let mut env = Vec::new();
            Envelope { kind: EntryKind::Opaque, at: 0, body: &[i; 7] }.encode(&mut env);
            push_record(&mut log, &env).unwrap();
        }
        for bit in 0..(starts[2] - starts[1]) * 8 {
            let mut tail = log[starts[1]..].to_vec();
            tail[bit / 8] ^= 1 << (bit % 8);
            assert!(valid_record_follows(&tail), "bit {bit}");
        }
        let mut last = log[starts[2]..].to_vec();
        last[6] ^= 4;
        assert!(!valid_record_follows(&last));
        assert!(!valid_record_follows(&log[starts[1]..starts[2] + 10]));
        assert!(!valid_record_follows(&[0u8; 300]));
    }
}
