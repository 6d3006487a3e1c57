//! Checkpoints as C2SP signed notes (c2sp.org/signed-note, c2sp.org/tlog-checkpoint), signed
//! with Ed25519.
//!
//! A checkpoint's text is `<origin>\n<size>\n<base64 root>\n`; the note is the text, a blank
//! line, and one line per signature, `— <key name> <base64(key id ‖ signature)>\n`, where the key
//! id is the first 4 bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key) (0x01: Ed25519) and
//! the signature is over the text. A verifier key is written `<name>+<hex key id>+<base64(0x01
//! ‖ public key)>` (what witnesses pin), and the signing key file holds
//! `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ seed)>`, as Go's `sumdb/note` does, so that
//! other tools in the ecosystem read both.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::merkle::Hash;

const ED25519: u8 = 0x01;
const EM_DASH_SPACE: &str = "\u{2014} ";

/// Why a key, note or checkpoint was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed key: {0}")]
    BadKey(&'static str),
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("no signature by {0} (the checkpoint is unsigned or signed by another key)")]
    NotSignedBy(String),
    #[error("the signature by {0} does not verify")]
    BadSignature(String),
    #[error("malformed checkpoint: {0}")]
    BadCheckpoint(&'static str),
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('+') && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let digest = Sha256::new().chain_update(name).chain_update([b'\n', ED25519]).chain_update(public).finalize();
    let mut id = [0u8; 4];
    id.copy_from_slice(&digest[..4]);
    id
}

fn hex4(id: [u8; 4]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// The log's signing key and its name (the checkpoint origin). Redacted in `Debug`.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key: SigningKey,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner").field("name", &self.name).field("key", &"<redacted>").finish()
    }
}

impl NoteSigner {
    /// A signer from a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::BadKey("the key name must be non-empty, without '+' or spaces"));
        }
        Ok(NoteSigner { name: name.to_owned(), key: SigningKey::from_bytes(&seed) })
    }

    /// A fresh key from the operating system's random source.
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        use rand::RngCore;
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        Self::from_seed(name, seed)
    }

    /// Parses `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 ‖ seed)>`.
    pub fn parse(skey: &str) -> Result<Self, NoteError> {
        let rest = skey.trim_end().strip_prefix("PRIVATE+KEY+").ok_or(NoteError::BadKey("not a private key"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(material), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::BadKey("expected PRIVATE+KEY+<name>+<id>+<key>"));
        };
        let raw = STANDARD.decode(material).map_err(|_| NoteError::BadKey("key is not base64"))?;
        let (Some(&ED25519), Ok(seed)) = (raw.first(), <[u8; 32]>::try_from(raw.get(1..).unwrap_or_default())) else {
            return Err(NoteError::BadKey("not an Ed25519 key"));
        };
        let signer = Self::from_seed(name, seed)?;
        if hex4(signer.key_id()) != id {
            return Err(NoteError::BadKey("key id does not match the key"));
        }
        Ok(signer)
    }

    /// The private key file's text (secret!).
    pub fn to_skey(&self) -> String {
        let mut raw = vec![ED25519];
        raw.extend_from_slice(&self.key.to_bytes());
        format!("PRIVATE+KEY+{}+{}+{}", self.name, hex4(self.key_id()), STANDARD.encode(raw))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> [u8; 4] {
        key_id(&self.name, self.key.verifying_key().as_bytes())
    }

    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier { name: self.name.clone(), key: self.key.verifying_key() }
    }

    /// Signs `text` (which must end in a newline) as a one-signature note.
    pub fn sign(&self, text: &str) -> String {
        let signature = self.key.sign(text.as_bytes());
        let mut blob = self.key_id().to_vec();
        blob.extend_from_slice(&signature.to_bytes());
        format!("{text}\n{EM_DASH_SPACE}{} {}\n", self.name, STANDARD.encode(blob))
    }
}

/// A public key that checks notes: what a witness or an auditor pins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Parses `<name>+<hex id>+<base64(0x01 ‖ public key)>`.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        // The base64 key may itself contain '+'.
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(material), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::BadKey("expected <name>+<id>+<key>"));
        };
        if !valid_name(name) {
            return Err(NoteError::BadKey("bad key name"));
        }
        let raw = STANDARD.decode(material).map_err(|_| NoteError::BadKey("key is not base64"))?;
        let (Some(&ED25519), Ok(public)) = (raw.first(), <[u8; 32]>::try_from(raw.get(1..).unwrap_or_default())) else {
            return Err(NoteError::BadKey("not an Ed25519 key"));
        };
        if hex4(key_id(name, &public)) != id {
            return Err(NoteError::BadKey("key id does not match the key"));
        }
        let key = VerifyingKey::from_bytes(&public).map_err(|_| NoteError::BadKey("not a valid Ed25519 point"))?;
        Ok(NoteVerifier { name: name.to_owned(), key })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> [u8; 4] {
        key_id(&self.name, self.key.as_bytes())
    }

    /// Checks that `note` carries a valid signature by this key and returns its text. Other
    /// signatures (a witness's cosignature) are ignored.
    pub fn open<'a>(&self, note: &'a str) -> Result<&'a str, NoteError> {
        let split = note.rfind("\n\n").ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
        if text.is_empty() || !sigs.ends_with('\n') {
            return Err(NoteError::Malformed("the note must end with a newline"));
        }
        let mut found = false;
        for line in sigs.lines() {
            let rest = line
                .strip_prefix(EM_DASH_SPACE)
                .ok_or(NoteError::Malformed("a signature line must start with '— '"))?;
            let (name, blob) =
                rest.split_once(' ').ok_or(NoteError::Malformed("signature line without a signature"))?;
            let blob = STANDARD.decode(blob).map_err(|_| NoteError::Malformed("signature is not base64"))?;
            if name != self.name || blob.get(..4) != Some(&self.key_id()[..]) {
                continue;
            }
            found = true;
            let signature = blob
                .get(4..)
                .and_then(|s| <[u8; 64]>::try_from(s).ok())
                .map(|s| Signature::from_bytes(&s))
                .ok_or_else(|| NoteError::BadSignature(self.name.clone()))?;
            self.key.verify(text.as_bytes(), &signature).map_err(|_| NoteError::BadSignature(self.name.clone()))?;
        }
        if !found {
            return Err(NoteError::NotSignedBy(self.to_string()));
        }
        Ok(text)
    }
}

impl fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = vec![ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{}+{}", self.name, hex4(self.key_id()), STANDARD.encode(raw))
    }
}

/// A checkpoint: the log's origin, size and root (tlog-checkpoint; no extension lines).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The note text the signature covers.
    pub fn text(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, STANDARD.encode(self.root.0))
    }

    /// Signs it as a note.
    pub fn sign(&self, signer: &NoteSigner) -> String {
        signer.sign(&self.text())
    }

    /// Reads a checkpoint note signed by `verifier`, whose origin must be the verifier's name.
    pub fn open(note: &str, verifier: &NoteVerifier) -> Result<Checkpoint, NoteError> {
        let text = verifier.open(note)?;
        let mut lines = text.lines();
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next()) else {
            return Err(NoteError::BadCheckpoint("fewer than three lines"));
        };
        if origin != verifier.name() {
            return Err(NoteError::BadCheckpoint("origin is not the log's name"));
        }
        if size.is_empty() || !size.bytes().all(|b| b.is_ascii_digit()) || (size.len() > 1 && size.starts_with('0')) {
            return Err(NoteError::BadCheckpoint("size is not a decimal number"));
        }
        let size = size.parse().map_err(|_| NoteError::BadCheckpoint("size out of range"))?;
        let root = STANDARD.decode(root).ok().and_then(|r| <[u8; 32]>::try_from(r).ok());
        let root = root.ok_or(NoteError::BadCheckpoint("root is not a base64 SHA-256 hash"))?;
        Ok(Checkpoint { origin: origin.to_owned(), size, root: Hash(root) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The signed-note vector of Go's golang.org/x/mod/sumdb/note (note.go, note_test.go).
    const SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const TEXT: &str =
        "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const SIGNED: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    #[test]
    fn go_sumdb_note_vector() {
        let signer = NoteSigner::parse(SKEY).unwrap();
        assert_eq!(signer.verifier().to_string(), VKEY);
        assert_eq!(signer.to_skey(), SKEY);
        // Ed25519 is deterministic: signing the text reproduces the published note byte for byte.
        assert_eq!(signer.sign(TEXT), SIGNED);
        let verifier = NoteVerifier::parse(VKEY).unwrap();
        assert_eq!(verifier.open(SIGNED), Ok(TEXT));
    }

    #[test]
    fn mangled_keys_and_notes_are_refused() {
        assert!(NoteVerifier::parse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").is_err());
        assert!(NoteVerifier::parse("PeterNeumann+c74f20a3+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").is_err());
        assert!(NoteVerifier::parse("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").is_err());
        assert!(NoteSigner::parse(&SKEY.replace("c74f20a3", "c74f20a4")).is_err());
        let verifier = NoteVerifier::parse(VKEY).unwrap();
        assert!(matches!(
            verifier.open(&SIGNED.replace("cryptography", "cryptographY")),
            Err(NoteError::BadSignature(_))
        ));
        let other = NoteSigner::from_seed("PeterNeumann", [7; 32]).unwrap();
        assert!(matches!(verifier.open(&other.sign(TEXT)), Err(NoteError::NotSignedBy(_))));
        assert!(verifier.open(TEXT).is_err());
    }

    #[test]
    fn checkpoints_round_trip_and_refuse_another_key() {
        let signer = NoteSigner::from_seed("vigie.test/ledger", [1; 32]).unwrap();
        let cp = Checkpoint { origin: "vigie.test/ledger".into(), size: 8, root: Hash([9; 32]) };
        let note = cp.sign(&signer);
        assert!(note.starts_with("vigie.test/ledger\n8\nCQkJ"), "{note}");
        assert_eq!(Checkpoint::open(&note, &signer.verifier()), Ok(cp.clone()));
        let other = NoteSigner::from_seed("vigie.test/ledger", [2; 32]).unwrap();
        assert!(matches!(Checkpoint::open(&cp.sign(&other), &signer.verifier()), Err(NoteError::NotSignedBy(_))));
        // A cosignature by someone else is ignored.
        let cosigned = format!("{note}{EM_DASH_SPACE}witness.example AAAAAAAA\n");
        assert_eq!(Checkpoint::open(&cosigned, &signer.verifier()), Ok(cp));
        let bad = signer.sign("vigie.test/ledger\n08\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n");
        assert!(Checkpoint::open(&bad, &signer.verifier()).is_err());
    }
}
