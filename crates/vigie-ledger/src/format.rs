//! The ledger's on-disk format, version 1: segment file names, segment headers, record framing
//! and the hash chain. Every byte this crate puts on disk is decided here, so that the RFC 6962
//! Merkle log that replaces this format later swaps this module (and the walker that reads it),
//! not the writer's batching or the ledger's API.
//!
//! A segment is `header | record*`. The header (56 bytes) is
//! `magic "VIGIELG1" | version u32 | reserved u32 (0) | first_index u64 | start_chain [32]`,
//! and a record is `len u32 | body | chain [32]`, all integers big-endian, with
//! `chain_i = SHA-256("vigie-ledger-v1" || chain_{i-1} || i u64 || len u32 || body)` and
//! `chain_{-1}` = 32 zero bytes. Each segment's header repeats the chain hash and entry index it
//! starts from, so a missing, reordered or swapped segment breaks the chain at its first byte.

use std::fmt;

use sha2::{Digest, Sha256};

/// First bytes of every segment file.
pub const MAGIC: [u8; 8] = *b"VIGIELG1";
/// The only format version this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Length of a segment header in bytes.
pub const HEADER_LEN: u64 = 56;
/// Domain separation prefix of every chain hash.
pub const DOMAIN: &[u8] = b"vigie-ledger-v1";
/// Bytes a record adds around its body: the length prefix and the chain hash.
pub const RECORD_OVERHEAD: u64 = 4 + 32;
/// Largest body the writer accepts. An encoded access event is a few hundred bytes; the bound
/// keeps a damaged length field from asking a reader for gigabytes.
pub const MAX_BODY_LEN: usize = 16 << 20;

/// A chain hash: the SHA-256 that binds an entry to every entry before it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// The chain hash "before" entry 0.
    pub const GENESIS: ChainHash = ChainHash([0; 32]);

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({})", self.to_hex())
    }
}

/// The chain hash of entry `index` with this `body`, following `prev`.
pub fn chain_hash(prev: &ChainHash, index: u64, body: &[u8]) -> ChainHash {
    // Bodies are bounded by MAX_BODY_LEN on write and by a u32 length on read.
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let digest = Sha256::new()
        .chain_update(DOMAIN)
        .chain_update(prev.0)
        .chain_update(index.to_be_bytes())
        .chain_update(len.to_be_bytes())
        .chain_update(body)
        .finalize();
    ChainHash(digest.into())
}

/// Appends `len u32 | body` to `out`: a record without its chain hash, as appenders prepare it
/// before the writer thread chains it. `None` if the body is longer than [`MAX_BODY_LEN`].
pub fn push_framed(out: &mut Vec<u8>, body: &[u8]) -> Option<()> {
    if body.len() > MAX_BODY_LEN {
        return None;
    }
    let len = u32::try_from(body.len()).ok()?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    Some(())
}

/// The header at the start of every segment.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SegmentHeader {
    /// Index of the segment's first entry (the number of entries in all earlier segments).
    pub first_index: u64,
    /// Chain hash of the last entry of the previous segment ([`ChainHash::GENESIS`] for the first).
    pub start_chain: ChainHash,
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
        out[24..56].copy_from_slice(&self.start_chain.0);
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
        let mut chain = [0u8; 32];
        chain.copy_from_slice(&b[24..56]);
        Ok(SegmentHeader { first_index: u64::from_be_bytes(first), start_chain: ChainHash(chain) })
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

/// The record at `at` in `buf`, if its framing fits: `(body, stored chain, end offset)`.
fn record_at(buf: &[u8], at: usize) -> Option<(&[u8], ChainHash, usize)> {
    let len_bytes: [u8; 4] = buf.get(at..at.checked_add(4)?)?.try_into().ok()?;
    let len = usize::try_from(u32::from_be_bytes(len_bytes)).ok()?;
    let body_end = at.checked_add(4)?.checked_add(len)?;
    let end = body_end.checked_add(32)?;
    let body = buf.get(at + 4..body_end)?;
    let chain: [u8; 32] = buf.get(body_end..end)?.try_into().ok()?;
    Some((body, ChainHash(chain), end))
}

/// How many entries after a damaged one [`valid_entry_follows`] looks for, i.e. how many
/// consecutive damaged records it can see past.
pub const RESYNC_SPAN: u64 = 8;

/// Whether a correctly chained entry appears anywhere after a damaged entry `index`.
///
/// `tail` holds the segment's bytes from the damaged record to the end of the file, and `prev`
/// is the chain hash before the damaged record. A write torn by a crash leaves only garbage,
/// zeros or a short file after the last durable record; damage followed by a valid entry is
/// something else (a flipped bit, an edit) and must not be cut away as a torn tail.
///
/// A record at any later offset counts if it chains, as one of the next [`RESYNC_SPAN`]
/// entries, on the 32 bytes just before it (the intact chain hash of its predecessor); this
/// covers damage to bodies and length fields, over one record or several. Damage to the
/// damaged record's own stored chain hash is covered by chaining the next record on the
/// recomputed hash instead.
pub fn valid_entry_follows(prev: &ChainHash, index: u64, tail: &[u8]) -> bool {
    if let Some((body, _, end)) = record_at(tail, 0) {
        let recomputed = chain_hash(prev, index, body);
        if let Some((next_body, stored, _)) = record_at(tail, end)
            && chain_hash(&recomputed, index.wrapping_add(1), next_body) == stored
        {
            return true;
        }
    }
    // The next record cannot start before the smallest possible damaged record ends.
    let first = RECORD_OVERHEAD as usize;
    (first..tail.len()).any(|at| {
        let Some((body, stored, _)) = record_at(tail, at) else { return false };
        let mut before = [0u8; 32];
        before.copy_from_slice(&tail[at - 32..at]);
        let before = ChainHash(before);
        // A real chain hash is never all zeros: this skips zero-filled tails without hashing.
        if stored == ChainHash::GENESIS || before == ChainHash::GENESIS {
            return false;
        }
        (1..=RESYNC_SPAN).any(|k| chain_hash(&before, index.wrapping_add(k), body) == stored)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_hash_is_pinned() {
        // A change here changes every ledger on disk: bump FORMAT_VERSION and the domain instead.
        // The pinned value was checked with Python: hashlib.sha256(b"vigie-ledger-v1" + bytes(32)
        // + (0).to_bytes(8, "big") + (5).to_bytes(4, "big") + b"hello").
        let h0 = chain_hash(&ChainHash::GENESIS, 0, b"hello");
        let mut input = Vec::new();
        input.extend_from_slice(b"vigie-ledger-v1");
        input.extend_from_slice(&[0; 32]);
        input.extend_from_slice(&0u64.to_be_bytes());
        input.extend_from_slice(&5u32.to_be_bytes());
        input.extend_from_slice(b"hello");
        assert_eq!(h0.0, <[u8; 32]>::from(Sha256::digest(&input)));
        assert_eq!(h0.to_hex(), "e1921184169230f53ccb6029b60cde2ef77d1da947b391f2545d554edad26f8a");
        assert_ne!(chain_hash(&h0, 1, b"hello"), chain_hash(&h0, 2, b"hello"));
    }

    #[test]
    fn header_round_trips_and_refuses_damage() {
        let h = SegmentHeader { first_index: 42, start_chain: ChainHash([7; 32]) };
        let bytes = h.encode();
        assert_eq!(&bytes[..8], b"VIGIELG1");
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
        assert_eq!(segment_name(0), "00000000.log");
        assert_eq!(segment_name(12), "00000012.log");
        assert_eq!(parse_segment_name("00000012.log"), Some(12));
        assert_eq!(parse_segment_name("0000012.log"), None);
        assert_eq!(parse_segment_name("0000001a.log"), None);
        assert_eq!(parse_segment_name("00000012.log.tmp"), None);
        assert!(is_temp_segment_name(&temp_segment_name(3)));
        assert!(!is_temp_segment_name("LOCK"));
    }

    fn records(bodies: &[&[u8]]) -> (Vec<u8>, Vec<usize>) {
        let mut chain = ChainHash::GENESIS;
        let mut out = Vec::new();
        let mut starts = Vec::new();
        for (i, b) in bodies.iter().enumerate() {
            starts.push(out.len());
            push_framed(&mut out, b).unwrap();
            chain = chain_hash(&chain, i as u64, b);
            out.extend_from_slice(&chain.0);
        }
        (out, starts)
    }

    #[test]
    fn damage_followed_by_valid_entries_is_recognised() {
        let (log, starts) = records(&[b"first entry", b"second entry", b"third"]);
        let prev = {
            let mut p = [0u8; 32];
            p.copy_from_slice(&log[starts[1] - 32..starts[1]]);
            ChainHash(p)
        };
        // Every single-bit flip inside entry 1 (body, length or chain) is followed by entry 2.
        for bit in 0..(starts[2] - starts[1]) * 8 {
            let mut tail = log[starts[1]..].to_vec();
            tail[bit / 8] ^= 1 << (bit % 8);
            assert!(valid_entry_follows(&prev, 1, &tail), "bit {bit}");
        }
        // A damaged last record, a short file or zeros: nothing valid follows.
        let mut last = log[starts[2]..].to_vec();
        last[10] ^= 4;
        let prev2 = ChainHash(log[starts[2] - 32..starts[2]].try_into().unwrap());
        assert!(!valid_entry_follows(&prev2, 2, &last));
        assert!(!valid_entry_follows(&prev, 1, &log[starts[1]..starts[2] + 10]));
        assert!(!valid_entry_follows(&prev, 1, &[0u8; 300]));
    }

    #[test]
    fn damage_over_several_records_followed_by_valid_entries_is_recognised() {
        let bodies: Vec<Vec<u8>> = (0..12).map(|i| format!("entry number {i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
        let (log, starts) = records(&refs);
        let prev = ChainHash(log[starts[2] - 32..starts[2]].try_into().unwrap());
        // Entries 2 to 6 overwritten with garbage (or zeros); 7 to 11 intact.
        for fill in [0x00u8, 0xa5] {
            let mut tail = log[starts[2]..].to_vec();
            tail[..starts[7] - starts[2]].fill(fill);
            assert!(valid_entry_follows(&prev, 2, &tail), "fill {fill:#x}");
        }
    }
}
