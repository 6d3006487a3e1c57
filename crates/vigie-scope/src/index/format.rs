//! The index file format: one file per contiguous run of entries of one ledger segment.
//!
//! ```text
//! header (clear, big-endian):
//!   magic "VGIX" 0 0 0 1 | segment u32 | first_index u64 | entry_count u64
//!   | start_offset u64 | last_offset u64 | end_offset u64 | first_leaf [32] | last_leaf [32]
//!   | sealed u8
//!   | n_parts u32 | n_parts × part | SHA-256 of everything before it [32]
//! part (one per month of entry time):
//!   period u32 | state u8 (0 readable, 1 shredded) | entries u64 | access_rows u32
//!   | security_rows u32 | min_at i64 | max_at i64 | body_offset u64 | body_len u64
//! part body: blocks, each `len u32 | payload`; payload is zstd(plain), sealed with
//!   XChaCha20-Poly1305 (`nonce [24] | ciphertext+tag`) under a key derived from the month's
//!   ledger key when the ledger seals its bodies. The first block is the part's directory.
//! ```
//!
//! The header says which entries the file claims to index (`first_index`, `entry_count`) and
//! where they lie in the segment (`start_offset`..`end_offset`, with the first and last leaf
//! hashes); a reader checks those claims against the segment before using the file. Rows are
//! sealed with the month's key so that shredding a month's key (retention) makes its index as
//! unreadable as its entries; the counts stay in clear, so a shredded month is reported with how
//! many entries it held.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::IndexError;

pub const MAGIC: [u8; 8] = *b"VGIX\0\0\0\x01";
/// Rows per row group: the unit of decompression.
pub const GROUP_ROWS: usize = 1 << 16;
/// The columns of the access rows, in block order within a row group.
pub const COLUMNS: usize = 7;
pub const COL_IDX: usize = 0;
pub const COL_OFFSET: usize = 1;
pub const COL_AT: usize = 2;
pub const COL_AGENT: usize = 3;
pub const COL_SESSION: usize = 4;
pub const COL_PERSON: usize = 5;
pub const COL_PACKED: usize = 6;
/// Byte width of each column's values.
pub const WIDTH: [usize; COLUMNS] = [4, 8, 8, 8, 8, 8, 4];

const FIXED_HEADER: usize = 8 + 4 + 8 + 8 + 8 + 8 + 8 + 32 + 32 + 1 + 4;
const PART_LEN: usize = 4 + 1 + 8 + 4 + 4 + 8 + 8 + 8 + 8;
/// An upper bound that no real file approaches (a part per month of a segment).
const MAX_PARTS: usize = 4096;

/// What the file claims to index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub segment: u32,
    pub first_index: u64,
    pub entry_count: u64,
    pub start_offset: u64,
    /// Where the last record covered starts (its leaf is `last_leaf`).
    pub last_offset: u64,
    pub end_offset: u64,
    pub first_leaf: [u8; 32],
    pub last_leaf: [u8; 32],
    pub sealed: bool,
    pub parts: Vec<PartMeta>,
}

/// One month's rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartMeta {
    /// `year × 100 + month` of the entries' times; 0 for a ledger that does not seal.
    pub period: u32,
    /// The month's key was gone when the index was built: no rows, counts only.
    pub shredded: bool,
    pub entries: u64,
    pub access_rows: u32,
    pub security_rows: u32,
    pub min_at: i64,
    pub max_at: i64,
    pub body_offset: u64,
    pub body_len: u64,
}

impl Header {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIXED_HEADER + self.parts.len() * PART_LEN + 32);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.segment.to_be_bytes());
        out.extend_from_slice(&self.first_index.to_be_bytes());
        out.extend_from_slice(&self.entry_count.to_be_bytes());
        out.extend_from_slice(&self.start_offset.to_be_bytes());
        out.extend_from_slice(&self.last_offset.to_be_bytes());
        out.extend_from_slice(&self.end_offset.to_be_bytes());
        out.extend_from_slice(&self.first_leaf);
        out.extend_from_slice(&self.last_leaf);
        out.push(u8::from(self.sealed));
        out.extend_from_slice(&(self.parts.len() as u32).to_be_bytes());
        for p in &self.parts {
            out.extend_from_slice(&p.period.to_be_bytes());
            out.push(u8::from(p.shredded));
            out.extend_from_slice(&p.entries.to_be_bytes());
            out.extend_from_slice(&p.access_rows.to_be_bytes());
            out.extend_from_slice(&p.security_rows.to_be_bytes());
            out.extend_from_slice(&p.min_at.to_be_bytes());
            out.extend_from_slice(&p.max_at.to_be_bytes());
            out.extend_from_slice(&p.body_offset.to_be_bytes());
            out.extend_from_slice(&p.body_len.to_be_bytes());
        }
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        out
    }

    /// The header's length when encoded.
    pub fn encoded_len(&self) -> usize {
        FIXED_HEADER + self.parts.len() * PART_LEN + 32
    }

    /// Decodes a header from the start of `b`; also returns its length.
    pub fn decode(b: &[u8]) -> Result<(Header, usize), IndexError> {
        let mut r = Reader { b, at: 0 };
        if r.take(8)? != MAGIC {
            return Err(IndexError::Format("not a Vigie index file (bad magic or version)"));
        }
        let segment = r.u32()?;
        let first_index = r.u64()?;
        let entry_count = r.u64()?;
        let start_offset = r.u64()?;
        let last_offset = r.u64()?;
        let end_offset = r.u64()?;
        let first_leaf = r.array32()?;
        let last_leaf = r.array32()?;
        let sealed = match r.u8()? {
            0 => false,
            1 => true,
            _ => return Err(IndexError::Format("bad sealed flag")),
        };
        let n = r.u32()? as usize;
        if n > MAX_PARTS || n * PART_LEN + 32 > b.len().saturating_sub(r.at) {
            return Err(IndexError::Format("part count beyond the file"));
        }
        let mut parts = Vec::with_capacity(n);
        for _ in 0..n {
            let period = r.u32()?;
            let shredded = match r.u8()? {
                0 => false,
                1 => true,
                _ => return Err(IndexError::Format("bad part state")),
            };
            parts.push(PartMeta {
                period,
                shredded,
                entries: r.u64()?,
                access_rows: r.u32()?,
                security_rows: r.u32()?,
                min_at: r.i64()?,
                max_at: r.i64()?,
                body_offset: r.u64()?,
                body_len: r.u64()?,
            });
        }
        let end = r.at;
        let digest = r.take(32)?;
        if Sha256::digest(&b[..end]).as_slice() != digest {
            return Err(IndexError::Format("header checksum mismatch"));
        }
        if end_offset <= last_offset
            || last_offset < start_offset
            || entry_count == 0
            || parts.iter().map(|p| p.entries).sum::<u64>() != entry_count
        {
            return Err(IndexError::Format("inconsistent header counts"));
        }
        Ok((
            Header {
                segment,
                first_index,
                entry_count,
                start_offset,
                last_offset,
                end_offset,
                first_leaf,
                last_leaf,
                sealed,
                parts,
            },
            r.at,
        ))
    }
}

/// A bounds-checked big-endian reader: every read is checked against the bytes left.
#[derive(Debug)]
pub struct Reader<'a> {
    pub b: &'a [u8],
    pub at: usize,
}

impl<'a> Reader<'a> {
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], IndexError> {
        let end = self.at.checked_add(n).ok_or(IndexError::Format("length overflow"))?;
        let s = self.b.get(self.at..end).ok_or(IndexError::Format("truncated"))?;
        self.at = end;
        Ok(s)
    }
    pub fn u8(&mut self) -> Result<u8, IndexError> {
        Ok(self.take(1)?[0])
    }
    pub fn u32(&mut self) -> Result<u32, IndexError> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().map_err(|_| IndexError::Format("truncated"))?))
    }
    pub fn u64(&mut self) -> Result<u64, IndexError> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().map_err(|_| IndexError::Format("truncated"))?))
    }
    pub fn i64(&mut self) -> Result<i64, IndexError> {
        Ok(self.u64()? as i64)
    }
    pub fn array32(&mut self) -> Result<[u8; 32], IndexError> {
        self.take(32)?.try_into().map_err(|_| IndexError::Format("truncated"))
    }
    pub fn left(&self) -> usize {
        self.b.len() - self.at
    }
}

/// The key that seals a month's index blocks, derived from the month's ledger key
/// (HKDF-Expand with SHA-256, one block): shredding the ledger key shreds the index with it.
pub fn derive_key(month_key: &[u8; 32]) -> Result<[u8; 32], IndexError> {
    // HMAC takes keys of any length: this cannot fail, but an error is an error, not a zero key.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(month_key)
        .map_err(|_| IndexError::Io("deriving the index key failed".into()))?;
    mac.update(b"vigie-scope index block key v1");
    mac.update(&[1]);
    Ok(mac.finalize().into_bytes().into())
}

/// Associated data of a block: which file, part and place it belongs to, so that blocks cannot
/// be swapped between files, parts or positions.
pub fn block_aad(segment: u32, first_index: u64, part: u32, offset: u64) -> [u8; 32] {
    let mut aad = [0u8; 32];
    aad[..8].copy_from_slice(&MAGIC);
    aad[8..12].copy_from_slice(&segment.to_be_bytes());
    aad[12..20].copy_from_slice(&first_index.to_be_bytes());
    aad[20..24].copy_from_slice(&part.to_be_bytes());
    aad[24..32].copy_from_slice(&offset.to_be_bytes());
    aad
}

/// Compresses `plain`, seals it if a key is given, and frames it (`len u32 | payload`).
pub fn write_block(out: &mut Vec<u8>, plain: &[u8], key: Option<&[u8; 32]>, aad: &[u8; 32]) -> Result<(), IndexError> {
    let compressed = zstd::bulk::compress(plain, 1).map_err(|e| IndexError::Io(format!("compressing: {e}")))?;
    let payload = match key {
        None => compressed,
        Some(key) => {
            use rand::RngCore;
            let mut nonce = [0u8; 24];
            rand::thread_rng().fill_bytes(&mut nonce);
            let cipher = XChaCha20Poly1305::new(key.into());
            let sealed = cipher
                .encrypt(XNonce::from_slice(&nonce), Payload { msg: &compressed, aad })
                .map_err(|_| IndexError::Io("sealing an index block failed".into()))?;
            let mut p = Vec::with_capacity(24 + sealed.len());
            p.extend_from_slice(&nonce);
            p.extend_from_slice(&sealed);
            p
        }
    };
    let len = u32::try_from(payload.len()).map_err(|_| IndexError::Io("index block over 4 GiB".into()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

/// Opens a framed block's payload (without its length prefix): unseals and decompresses it,
/// refusing a plain size above `max_plain` (a damaged or hostile file must not make us allocate).
pub fn read_block(
    payload: &[u8],
    key: Option<&[u8; 32]>,
    aad: &[u8; 32],
    max_plain: usize,
) -> Result<Vec<u8>, IndexError> {
    let opened;
    let compressed = match key {
        None => payload,
        Some(key) => {
            if payload.len() < 24 + 16 {
                return Err(IndexError::Format("sealed block too short"));
            }
            let cipher = XChaCha20Poly1305::new(key.into());
            opened = cipher.decrypt(XNonce::from_slice(&payload[..24]), Payload { msg: &payload[24..], aad }).map_err(
                |_| IndexError::Format("an index block does not open with its month's key (damaged, moved or forged)"),
            )?;
            &opened
        }
    };
    // Decompression stops at `max_plain` bytes: a block claiming more is refused.
    zstd::bulk::decompress(compressed, max_plain)
        .map_err(|_| IndexError::Format("an index block does not decompress within the size its rows allow"))
}

/// Packs the small fields of a row into 32 bits.
pub fn pack(action: u8, requested: u8, returned: u8, decision: u8, verdict: u8) -> u32 {
    u32::from(action)
        | u32::from(requested) << 8
        | u32::from(returned) << 16
        | u32::from(decision & 0xF) << 24
        | u32::from(verdict & 0xF) << 28
}

/// The inverse of [`pack`]: (action, requested, returned, decision, verdict).
pub fn unpack(p: u32) -> (u8, u8, u8, u8, u8) {
    (p as u8, (p >> 8) as u8, (p >> 16) as u8, ((p >> 24) & 0xF) as u8, (p >> 28) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            segment: 3,
            first_index: 1000,
            entry_count: 30,
            start_offset: 24,
            last_offset: 8900,
            end_offset: 9000,
            first_leaf: [1; 32],
            last_leaf: [2; 32],
            sealed: true,
            parts: vec![
                PartMeta {
                    period: 202611,
                    shredded: false,
                    entries: 20,
                    access_rows: 18,
                    security_rows: 2,
                    min_at: 5,
                    max_at: 9,
                    body_offset: 400,
                    body_len: 77,
                },
                PartMeta {
                    period: 202612,
                    shredded: true,
                    entries: 10,
                    access_rows: 0,
                    security_rows: 0,
                    min_at: 10,
                    max_at: 12,
                    body_offset: 477,
                    body_len: 0,
                },
            ],
        }
    }

    #[test]
    fn headers_round_trip_and_any_damage_is_refused() {
        let h = header();
        let bytes = h.encode();
        assert_eq!(bytes.len(), h.encoded_len());
        let (back, len) = Header::decode(&bytes).unwrap();
        assert_eq!((back, len), (h, bytes.len()));
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            assert!(Header::decode(&b).is_err(), "a flip at byte {i} went unnoticed");
        }
        for n in 0..bytes.len() {
            assert!(Header::decode(&bytes[..n]).is_err());
        }
    }

    #[test]
    fn blocks_round_trip_sealed_and_refuse_another_place_or_key() {
        let key = derive_key(&[7; 32]).unwrap();
        let plain: Vec<u8> = (0..10_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let aad = block_aad(1, 2, 0, 64);
        let mut out = Vec::new();
        write_block(&mut out, &plain, Some(&key), &aad).unwrap();
        let payload = &out[4..];
        assert_eq!(read_block(payload, Some(&key), &aad, plain.len()).unwrap(), plain);
        assert!(read_block(payload, Some(&key), &block_aad(1, 2, 0, 65), plain.len()).is_err(), "moved");
        assert!(read_block(payload, Some(&derive_key(&[8; 32]).unwrap()), &aad, plain.len()).is_err(), "another month");
        assert!(read_block(payload, Some(&key), &aad, plain.len() - 1).is_err(), "more than allowed");
        let mut clear = Vec::new();
        write_block(&mut clear, &plain, None, &aad).unwrap();
        assert_eq!(read_block(&clear[4..], None, &aad, plain.len()).unwrap(), plain);
    }

    #[test]
    fn small_fields_pack_and_unpack() {
        assert_eq!(unpack(pack(4, 0x1f, 0x03, 2, 6)), (4, 0x1f, 0x03, 2, 6));
    }
}
