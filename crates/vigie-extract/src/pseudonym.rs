//! Per-extract pseudonyms.
//!
//! A row's `ref` is AES-128 (the deployment's pseudonym key) of the block `extract u32 ‖ subject
//! u64 ‖ 0u32`, written as `vx` and 26 base32 characters. A block cipher is a keyed permutation,
//! so: the same person has a different pseudonym in every extract (the recipient links nothing
//! across extracts, nor back to the registry); two rows of one extract never share one; and
//! Vigie alone opens one to the extract and the person. A string that was not made by Vigie opens
//! to a block with four zero bytes with probability 2⁻³², and then must also name an extract
//! that exists and a person it held: that is how [`crate::attribute`] bounds a false attribution
//! from one row. The subject is a person id, or a canary's index with the top bit set.

use aes::Aes128;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit, generic_array::GenericArray};
use vigie_core::PersonId;
use vigie_core::extract::ExtractId;

use crate::keys::ExtractKeys;

const CANARY_BIT: u64 = 1 << 63;
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Whom a pseudonym stands for.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Subject {
    Person(PersonId),
    /// The extract's canary number `n` (0-based).
    Canary(u32),
}

/// Makes and opens pseudonyms.
pub struct Pseudonyms {
    cipher: Aes128,
}

impl std::fmt::Debug for Pseudonyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonyms")
    }
}

impl Pseudonyms {
    pub fn new(keys: &ExtractKeys) -> Self {
        Pseudonyms { cipher: Aes128::new(GenericArray::from_slice(&keys.pseudonym)) }
    }

    /// The pseudonym of `subject` in `extract`, appended to `out` (28 ASCII bytes).
    pub fn write(&self, extract: ExtractId, subject: Subject, out: &mut Vec<u8>) {
        let value = match subject {
            Subject::Person(p) => p.get(),
            Subject::Canary(n) => CANARY_BIT | u64::from(n),
        };
        let mut block = [0u8; 16];
        block[..4].copy_from_slice(&extract.get().to_be_bytes());
        block[4..12].copy_from_slice(&value.to_be_bytes());
        let mut b = GenericArray::from(block);
        self.cipher.encrypt_block(&mut b);
        out.extend_from_slice(b"vx");
        base32(&b.into(), out);
    }

    pub fn make(&self, extract: ExtractId, subject: Subject) -> String {
        let mut out = Vec::with_capacity(28);
        self.write(extract, subject, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// Opens a pseudonym: the extract and the subject, or `None` for anything Vigie did not make.
    pub fn open(&self, text: &str) -> Option<(ExtractId, Subject)> {
        let body = text.trim().strip_prefix("vx")?;
        let bytes = unbase32(body)?;
        let mut b = GenericArray::from(bytes);
        self.cipher.decrypt_block(&mut b);
        let block: [u8; 16] = b.into();
        if block[12..] != [0, 0, 0, 0] {
            return None;
        }
        let extract = ExtractId::new(u64::from(u32::from_be_bytes(block[..4].try_into().ok()?)))?;
        let value = u64::from_be_bytes(block[4..12].try_into().ok()?);
        let subject = if value & CANARY_BIT != 0 {
            Subject::Canary(u32::try_from(value & !CANARY_BIT).ok()?)
        } else {
            Subject::Person(PersonId::new(value)?)
        };
        Some((extract, subject))
    }
}

fn base32(bytes: &[u8; 16], out: &mut Vec<u8>) {
    let n = u128::from_be_bytes(*bytes);
    // 128 bits in 26 groups of 5 (the last group padded with two zero bits).
    for i in 0..26 {
        let shift = 128i32 - 5 * (i + 1);
        let v = if shift >= 0 { (n >> shift) & 31 } else { (n << -shift) & 31 };
        out.push(ALPHABET[v as usize]);
    }
}

fn unbase32(s: &str) -> Option<[u8; 16]> {
    let b = s.as_bytes();
    if b.len() != 26 {
        return None;
    }
    let mut n: u128 = 0;
    for (i, c) in b.iter().enumerate() {
        let v = ALPHABET.iter().position(|a| a == c)? as u128;
        let shift = 128i32 - 5 * (i as i32 + 1);
        if shift >= 0 {
            n |= v << shift;
        } else {
            if v & ((1 << -shift) - 1) != 0 {
                return None;
            }
            n |= v >> -shift;
        }
    }
    Some(n.to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: u64) -> PersonId {
        PersonId::new(n).unwrap()
    }

    #[test]
    fn a_pseudonym_opens_to_its_extract_and_person_only_with_the_key() {
        let keys = ExtractKeys::from_secret(&[7; 32]);
        let ps = Pseudonyms::new(&keys);
        let x1 = ExtractId::new(1).unwrap();
        let x2 = ExtractId::new(2).unwrap();
        let a = ps.make(x1, Subject::Person(p(42)));
        let b = ps.make(x2, Subject::Person(p(42)));
        assert_eq!(a.len(), 28);
        assert_ne!(a, b, "the same person differs across extracts");
        assert_eq!(ps.open(&a), Some((x1, Subject::Person(p(42)))));
        assert_eq!(ps.open(&b), Some((x2, Subject::Person(p(42)))));
        let c = ps.make(x1, Subject::Canary(3));
        assert_eq!(ps.open(&c), Some((x1, Subject::Canary(3))));
        let other = Pseudonyms::new(&ExtractKeys::from_secret(&[8; 32]));
        assert_eq!(other.open(&a), None, "another deployment's key opens nothing");
        // A changed character opens to a block without its zeros.
        let mut bad = a.clone().into_bytes();
        bad[10] = if bad[10] == b'a' { b'b' } else { b'a' };
        assert_eq!(ps.open(std::str::from_utf8(&bad).unwrap()), None);
        for junk in ["", "vx", "vxAAAA", "1234567A", &a[..27]] {
            assert_eq!(ps.open(junk), None, "{junk}");
        }
    }
}
