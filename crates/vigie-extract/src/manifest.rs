//! The manifest that travels with an extract, signed by Vigie, and the deletion receipt that
//! comes back, signed by the recipient.
//!
//! The manifest is a JSON document (`vigie-extract-manifest/1`) naming the extract, its
//! organization and recipient key, the purpose and legal basis, the fields and columns, the
//! number of rows in the file, the expiry, and the SHA-256 of the ciphertext; its detached
//! signature is Ed25519 over the manifest's exact bytes, base64 in `<manifest>.sig`. A recipient
//! checks the origin with the public key published by the deployment, the ciphertext with the
//! hash, before decrypting anything.
//!
//! The receipt (`vigie-deletion-receipt/1`) names the extract and the ciphertext's hash, and is
//! signed with the Ed25519 key the recipient registered in its request. Vigie accepts it only for
//! a produced extract whose id and hash it names, under that key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::ExtractError;

pub const MANIFEST_FORMAT: &str = "vigie-extract-manifest/1";
pub const RECEIPT_FORMAT: &str = "vigie-deletion-receipt/1";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub extract: String,
    pub organization: String,
    pub recipient: String,
    pub purpose: String,
    pub description: String,
    pub legal_basis: String,
    pub legal_basis_article: String,
    pub relationship: String,
    pub fields: Vec<String>,
    pub columns: Vec<String>,
    /// Whether `ref` stands in for the person's identifiers (a pseudonym unique to the file).
    pub pseudonymized_ids: bool,
    /// Rows in the file (after the header).
    pub rows: u64,
    /// The date (UTC, inclusive) by which the file must be deleted.
    pub expires_on: String,
    pub produced_at: String,
    pub file: String,
    pub ciphertext_sha256: String,
    pub ciphertext_bytes: u64,
    /// The public key (Ed25519, base64) whose signature the `.sig` file holds.
    pub signing_key: String,
    /// How the file opens: [`OPENS_WITH_PLUGIN`] (sealed: the recipient's key and Vigie's
    /// release, refused after `expires_on`) or [`OPENS_OFFLINE`].
    pub opens_with: String,
}

pub const OPENS_WITH_PLUGIN: &str = "age-plugin-vigie, until expires_on";
pub const OPENS_OFFLINE: &str = "the recipient's age key alone (offline: expiry not enforced)";

impl Manifest {
    /// The manifest's bytes (pretty JSON, ending in a newline) and their detached signature.
    pub fn sign(&self, key: &SigningKey) -> Result<(Vec<u8>, String), ExtractError> {
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|e| ExtractError::Encrypt(e.to_string()))?;
        bytes.push(b'\n');
        let sig = key.sign(&bytes);
        Ok((bytes, B64.encode(sig.to_bytes())))
    }
}

/// Checks a manifest's signature with the deployment's public key (base64).
pub fn verify_manifest(bytes: &[u8], signature_b64: &str, key_b64: &str) -> bool {
    let Some(key) = verifying_key(key_b64) else { return false };
    let Some(sig) = signature(signature_b64) else { return false };
    key.verify(bytes, &sig).is_ok()
}

/// A recipient's statement that it deleted every copy of an extract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    pub format: String,
    pub extract: String,
    pub ciphertext_sha256: String,
    /// When the recipient deleted it (RFC 3339).
    pub deleted_at: String,
    /// Free text: what was deleted, where, how.
    pub statement: String,
}

impl Receipt {
    /// The receipt's bytes and their signature by the recipient's key (the recipient's tool).
    pub fn sign(&self, key: &SigningKey) -> Result<(Vec<u8>, String), ExtractError> {
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|e| ExtractError::MalformedReceipt(e.to_string()))?;
        bytes.push(b'\n');
        Ok((bytes.clone(), B64.encode(key.sign(&bytes).to_bytes())))
    }
}

/// Parses a receipt and checks it: its signature under `key_b64` (the key registered with the
/// request), its format, and that it names `extract` and `sha256_hex`.
pub fn check_receipt(
    bytes: &[u8],
    signature_b64: &str,
    key_b64: &str,
    extract: &str,
    sha256_hex: &str,
) -> Result<Receipt, ExtractError> {
    let receipt: Receipt = serde_json::from_slice(bytes).map_err(|e| ExtractError::MalformedReceipt(e.to_string()))?;
    if receipt.format != RECEIPT_FORMAT {
        return Err(ExtractError::MalformedReceipt(format!("format is '{}', not '{RECEIPT_FORMAT}'", receipt.format)));
    }
    if receipt.extract != extract {
        return Err(ExtractError::ReceiptMismatch { expected: extract.to_owned(), got: receipt.extract });
    }
    let key = verifying_key(key_b64).ok_or_else(|| ExtractError::ReceiptKey(key_b64.to_owned()))?;
    let sig = signature(signature_b64)
        .ok_or_else(|| ExtractError::MalformedReceipt("the signature is not 64 bytes of base64".into()))?;
    key.verify_strict(bytes, &sig).map_err(|_| ExtractError::BadReceiptSignature(extract.to_owned()))?;
    if !receipt.ciphertext_sha256.eq_ignore_ascii_case(sha256_hex) {
        return Err(ExtractError::ReceiptMismatch {
            expected: format!("ciphertext {sha256_hex}"),
            got: format!("ciphertext {}", receipt.ciphertext_sha256),
        });
    }
    if time::OffsetDateTime::parse(&receipt.deleted_at, &time::format_description::well_known::Rfc3339).is_err() {
        return Err(ExtractError::MalformedReceipt(format!(
            "deleted_at '{}' is not an RFC 3339 time",
            receipt.deleted_at
        )));
    }
    Ok(receipt)
}

/// Parses an Ed25519 public key given as base64 (what a request registers for receipts).
pub fn verifying_key(b64: &str) -> Option<VerifyingKey> {
    let raw = B64.decode(b64.trim()).ok()?;
    let arr: [u8; 32] = raw.try_into().ok()?;
    VerifyingKey::from_bytes(&arr).ok()
}

fn signature(b64: &str) -> Option<Signature> {
    let raw = B64.decode(b64.trim()).ok()?;
    let arr: [u8; 64] = raw.try_into().ok()?;
    Some(Signature::from_bytes(&arr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt() -> Receipt {
        Receipt {
            format: RECEIPT_FORMAT.into(),
            extract: "X7".into(),
            ciphertext_sha256: "ab".repeat(32),
            deleted_at: "2026-12-07T10:00:00Z".into(),
            statement: "deleted from the transfer server and the workstation".into(),
        }
    }

    #[test]
    fn a_receipt_verifies_only_under_the_registered_key_and_for_its_extract() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let pub_b64 = B64.encode(key.verifying_key().as_bytes());
        let (bytes, sig) = receipt().sign(&key).unwrap();
        assert!(check_receipt(&bytes, &sig, &pub_b64, "X7", &"ab".repeat(32)).is_ok());
        // Forged: signed by another key.
        let other = SigningKey::from_bytes(&[4; 32]);
        let (_, forged) = receipt().sign(&other).unwrap();
        assert!(matches!(
            check_receipt(&bytes, &forged, &pub_b64, "X7", &"ab".repeat(32)),
            Err(ExtractError::BadReceiptSignature(_))
        ));
        // Tampered bytes.
        let mut tampered = bytes.clone();
        let at = tampered.iter().position(|b| *b == b'w').unwrap();
        tampered[at] = b'W';
        assert!(check_receipt(&tampered, &sig, &pub_b64, "X7", &"ab".repeat(32)).is_err());
        // Another extract, another file.
        assert!(matches!(
            check_receipt(&bytes, &sig, &pub_b64, "X8", &"ab".repeat(32)),
            Err(ExtractError::ReceiptMismatch { .. })
        ));
        assert!(matches!(
            check_receipt(&bytes, &sig, &pub_b64, "X7", &"cd".repeat(32)),
            Err(ExtractError::ReceiptMismatch { .. })
        ));
        assert!(matches!(
            check_receipt(b"{not json", &sig, &pub_b64, "X7", ""),
            Err(ExtractError::MalformedReceipt(_))
        ));
    }
}
