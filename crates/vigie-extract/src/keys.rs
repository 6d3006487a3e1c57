//! The deployment's extract secret (32 random bytes in a 0600 file, apart from the database)
//! and the keys derived from it, one per use, so that no key serves two purposes.

use ed25519_dalek::SigningKey;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Keys derived from the extract secret.
pub struct ExtractKeys {
    pub(crate) pseudonym: [u8; 16],
    pub(crate) canary: [u8; 32],
    opening: [u8; 32],
    signing: SigningKey,
}

impl std::fmt::Debug for ExtractKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtractKeys").field("verifying_key", &self.verifying_key_base64()).finish_non_exhaustive()
    }
}

fn derive(secret: &[u8; 32], label: &str) -> [u8; 32] {
    // HMAC-SHA256 as a PRF keyed by the secret (HKDF-Expand with one block).
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable_key());
    mac.update(b"vigie-extract/1 ");
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().into()
}

/// HMAC takes a key of any length: this cannot happen.
fn unreachable_key() -> Hmac<Sha256> {
    #[allow(clippy::expect_used, reason = "HMAC accepts keys of any length")]
    <Hmac<Sha256> as Mac>::new_from_slice(&[0u8; 32]).expect("HMAC accepts keys of any length")
}

impl ExtractKeys {
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        let mut pseudonym = [0u8; 16];
        pseudonym.copy_from_slice(&derive(secret, "pseudonym")[..16]);
        ExtractKeys {
            pseudonym,
            canary: derive(secret, "canary"),
            opening: derive(secret, "opening"),
            signing: SigningKey::from_bytes(&derive(secret, "manifest-signing")),
        }
    }

    pub fn signing(&self) -> &SigningKey {
        &self.signing
    }

    /// The manifest-signing public key, base64 (what recipients pin).
    pub fn verifying_key_base64(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(self.signing.verifying_key().as_bytes())
    }

    /// The opening secret of one extract's sealed stanza (see `vigie_seal`): derived, never
    /// stored, released to the recipient's plugin only while the extract may be opened.
    pub fn opening(&self, extract: u32) -> vigie_seal::OpeningSecret {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.opening).unwrap_or_else(|_| unreachable_key());
        mac.update(b"open ");
        mac.update(&extract.to_be_bytes());
        vigie_seal::OpeningSecret(zeroize::Zeroizing::new(mac.finalize().into_bytes().into()))
    }

    /// A keyed PRF for the canaries and the row order of one extract.
    pub(crate) fn canary_prf(&self, extract: u32, label: &str, index: u64) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.canary).unwrap_or_else(|_| unreachable_key());
        mac.update(&extract.to_be_bytes());
        mac.update(label.as_bytes());
        mac.update(&index.to_be_bytes());
        mac.finalize().into_bytes().into()
    }
}
