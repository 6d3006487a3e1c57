//! The sealed stanza of Vigie's extracts: a file key that opens only with **both** the
//! recipient's X25519 key and a per-extract secret that Vigie releases, to that recipient, while
//! the extract is within its retention and not declared deleted.
//!
//! An extract's age file carries one recipient stanza:
//!
//! ```text
//! -> vigie X12 <epk, base64 without padding>
//! <ChaCha20-Poly1305 of the 16-byte file key, base64 without padding>
//! ```
//!
//! built like age's native X25519 stanza, with Vigie's opening secret `S` mixed into the key:
//! `wrap key = HKDF-SHA256(salt = epk ‖ pk, info = "vigie-extract/v1 seal X12",
//! ikm = X25519(esk, pk) ‖ S)`. Without `S` the recipient's key alone cannot unwrap it; without
//! the recipient's key `S` alone cannot either (a transfer server, a backup, a stolen copy of
//! the file, or Vigie's own operators hold neither both).
//!
//! `age-plugin-vigie` (the recipient's side, started by any age client for an
//! `AGE-PLUGIN-VIGIE-1…` identity) asks Vigie for `S` with an [`OpenRequest`] signed by the
//! recipient's Ed25519 key (the one its deletion receipts are signed with); Vigie ledgers the
//! opening and answers an [`OpenReply`] holding `S` sealed to the recipient's X25519 key, or
//! refuses after expiry or once the recipient confirmed deletion.
//!
//! Keys and strings:
//! - recipient `age1vigie1…`: the recipient's X25519 public key (Bech32, age's plugin
//!   recipient convention, so an extract request names it like any age recipient);
//! - identity `AGE-PLUGIN-VIGIE-1…`: version 1, the X25519 secret, the Ed25519 seed, Vigie's
//!   base URL (Bech32 without the length limit, as age does).
//!
//! What it cannot do: a recipient that decrypted the file while it was allowed to can keep the
//! plaintext (or `S`). Expiry binds the file at rest, on the transfer server and in backups,
//! which is where the 2023 files were taken from, more than a year after they were made.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

/// The plugin's name: age clients run `age-plugin-vigie` for `AGE-PLUGIN-VIGIE-1…` identities.
pub const PLUGIN_NAME: &str = "vigie";
/// The recipient stanza's tag.
pub const STANZA_TAG: &str = "vigie";
/// The Bech32 prefix of a recipient (`age1vigie1…`).
pub const RECIPIENT_HRP: &str = "age1vigie";
/// The Bech32 prefix of an identity (upper case in files: `AGE-PLUGIN-VIGIE-1…`).
pub const IDENTITY_HRP: &str = "age-plugin-vigie-";
/// The opening request's format.
pub const OPEN_FORMAT: &str = "vigie-extract-open/1";
/// How far an opening request's date may be from Vigie's clock, in seconds.
pub const OPEN_SKEW_SECONDS: i64 = 300;

const IDENTITY_VERSION: u8 = 1;
const FILE_KEY_BYTES: usize = 16;

/// What is wrong with a key, a stanza or an opening.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("not a Vigie recipient (age1vigie1…, a 32-byte X25519 key): {0}")]
    Recipient(String),
    #[error("not a Vigie identity (AGE-PLUGIN-VIGIE-1…): {0}")]
    Identity(String),
    #[error("the vigie stanza is malformed: {0}")]
    Stanza(String),
    #[error(
        "the file key does not unwrap: the file was not sealed to this identity, or the opening secret is not this extract's"
    )]
    Unwrap,
    #[error("Vigie's reply does not open with this identity")]
    Reply,
    #[error("the opening request is malformed: {0}")]
    Request(String),
}

fn random32() -> [u8; 32] {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

/// X25519 of a secret and a point; refuses the all-zero result (a low-order point).
fn agree(secret: &[u8; 32], public: &[u8; 32]) -> Option<Zeroizing<[u8; 32]>> {
    let shared = Zeroizing::new(x25519_dalek::x25519(*secret, *public));
    if shared.iter().all(|b| *b == 0) { None } else { Some(shared) }
}

fn public_of(secret: &[u8; 32]) -> [u8; 32] {
    x25519_dalek::x25519(*secret, x25519_dalek::X25519_BASEPOINT_BYTES)
}

fn bech32_bytes(text: &str, hrp: &str) -> Result<Vec<u8>, String> {
    age_core::primitives::bech32_decode(
        text,
        |e| e.to_string(),
        |got| {
            if got.as_str().eq_ignore_ascii_case(hrp) {
                Ok(())
            } else {
                Err(format!("its prefix is {:?}, not {hrp:?}", got.as_str()))
            }
        },
        |_, bytes| Ok(bytes.collect()),
    )
}

/// A recipient's X25519 public key, written `age1vigie1…`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RecipientKey(pub [u8; 32]);

impl std::fmt::Debug for RecipientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

impl std::fmt::Display for RecipientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        age_core::primitives::bech32_encode_to_fmt(f, bech32::Hrp::parse_unchecked(RECIPIENT_HRP), &self.0)
    }
}

impl std::str::FromStr for RecipientKey {
    type Err = SealError;
    fn from_str(s: &str) -> Result<Self, SealError> {
        let s = s.trim();
        if !s.to_ascii_lowercase().starts_with("age1vigie1") {
            return Err(SealError::Recipient(format!("{s:?} does not start with age1vigie1")));
        }
        let bytes = bech32_bytes(s, RECIPIENT_HRP).map_err(SealError::Recipient)?;
        let key: [u8; 32] =
            bytes.try_into().map_err(|b: Vec<u8>| SealError::Recipient(format!("{} bytes, not 32", b.len())))?;
        if agree(&random32(), &key).is_none() {
            return Err(SealError::Recipient("a low-order point, not a public key".into()));
        }
        Ok(RecipientKey(key))
    }
}

/// The recipient's secrets and where its Vigie answers: what `AGE-PLUGIN-VIGIE-1…` holds.
pub struct Identity {
    secret: Zeroizing<[u8; 32]>,
    signing: SigningKey,
    url: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("recipient", &self.recipient()).field("url", &self.url).finish_non_exhaustive()
    }
}

impl Identity {
    /// A new identity whose openings go to `url` (Vigie's base URL, `https://…`).
    pub fn generate(url: &str) -> Result<Self, SealError> {
        let url = check_url(url).map_err(SealError::Identity)?;
        let mut seed = random32();
        let signing = SigningKey::from_bytes(&seed);
        seed.zeroize();
        Ok(Identity { secret: Zeroizing::new(random32()), signing, url })
    }

    /// From the bytes an age client passes the plugin (the identity's Bech32 payload).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let bad = |m: &str| SealError::Identity(m.to_owned());
        let (&version, rest) = bytes.split_first().ok_or_else(|| bad("empty"))?;
        if version != IDENTITY_VERSION {
            return Err(SealError::Identity(format!("version {version}, this plugin reads version 1")));
        }
        if rest.len() < 64 {
            return Err(bad("too short to hold its keys"));
        }
        let mut secret = Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(&rest[..32]);
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&rest[32..64]);
        let url = std::str::from_utf8(&rest[64..]).map_err(|_| bad("its URL is not UTF-8"))?;
        let url = check_url(url).map_err(SealError::Identity)?;
        Ok(Identity { secret, signing: SigningKey::from_bytes(&seed), url })
    }

    /// From its text (`AGE-PLUGIN-VIGIE-1…`, either case).
    pub fn parse(text: &str) -> Result<Self, SealError> {
        let bytes = Zeroizing::new(bech32_bytes(text.trim(), IDENTITY_HRP).map_err(SealError::Identity)?);
        Self::from_bytes(&bytes)
    }

    /// The Bech32 payload (secret: handle like a private key).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut b = Zeroizing::new(Vec::with_capacity(65 + self.url.len()));
        b.push(IDENTITY_VERSION);
        b.extend_from_slice(self.secret.as_ref());
        b.extend_from_slice(self.signing.as_bytes());
        b.extend_from_slice(self.url.as_bytes());
        b
    }

    /// The identity's text, upper case, as age identity files hold it.
    pub fn encode(&self) -> Zeroizing<String> {
        let lower = Zeroizing::new(age_core::primitives::bech32_encode(
            bech32::Hrp::parse_unchecked(IDENTITY_HRP),
            &self.to_bytes(),
        ));
        Zeroizing::new(lower.to_ascii_uppercase())
    }

    pub fn recipient(&self) -> RecipientKey {
        RecipientKey(public_of(&self.secret))
    }

    /// The Ed25519 public key (base64) that openings and deletion receipts are signed with:
    /// what the extract request registers as its receipt key.
    pub fn receipt_key(&self) -> String {
        STANDARD.encode(self.signing.verifying_key().as_bytes())
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// Vigie's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// `https://host[:port][/path]`, or `http://` on loopback only (the tests, a local relay).
fn check_url(url: &str) -> Result<String, String> {
    let url = url.trim().trim_end_matches('/');
    let rest = if let Some(r) = url.strip_prefix("https://") {
        r
    } else if let Some(r) = url.strip_prefix("http://") {
        let loopback = ["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .any(|h| r.strip_prefix(h).is_some_and(|after| after.is_empty() || after.starts_with([':', '/'])));
        if !loopback {
            return Err(format!("{url}: plain http is allowed on loopback only; use https"));
        }
        r
    } else {
        return Err(format!("{url:?} is not an http(s) URL"));
    };
    if rest.is_empty() || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{url:?} has no host, or spaces"));
    }
    Ok(url.to_owned())
}

/// The per-extract secret Vigie mixes into the wrap key (derived from the deployment's extract
/// secret; never stored).
pub struct OpeningSecret(pub Zeroizing<[u8; 32]>);

impl std::fmt::Debug for OpeningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpeningSecret(…)")
    }
}

fn wrap_key(
    extract: &str,
    epk: &[u8; 32],
    pk: &[u8; 32],
    shared: &[u8; 32],
    opening: &OpeningSecret,
) -> Zeroizing<[u8; 32]> {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(epk);
    salt[32..].copy_from_slice(pk);
    let mut ikm = Zeroizing::new([0u8; 64]);
    ikm[..32].copy_from_slice(shared);
    ikm[32..].copy_from_slice(opening.0.as_ref());
    let label = format!("vigie-extract/v1 seal {extract}");
    Zeroizing::new(age_core::primitives::hkdf(&salt, label.as_bytes(), ikm.as_ref()))
}

/// A `vigie` stanza's arguments and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedStanza {
    pub extract: String,
    pub epk: [u8; 32],
    pub body: Vec<u8>,
}

impl SealedStanza {
    /// Wraps `file_key` for `extract` to `to` and `opening`.
    pub fn wrap(file_key: &[u8], extract: &str, to: &RecipientKey, opening: &OpeningSecret) -> Result<Self, SealError> {
        if file_key.len() != FILE_KEY_BYTES {
            return Err(SealError::Stanza(format!("a file key is 16 bytes, not {}", file_key.len())));
        }
        let esk = Zeroizing::new(random32());
        let epk = public_of(&esk);
        let shared = agree(&esk, &to.0).ok_or_else(|| SealError::Recipient("a low-order point".into()))?;
        let key = wrap_key(extract, &epk, &to.0, &shared, opening);
        Ok(SealedStanza { extract: extract.to_owned(), epk, body: age_core::primitives::aead_encrypt(&key, file_key) })
    }

    /// The stanza's arguments (after the tag).
    pub fn args(&self) -> Vec<String> {
        vec![self.extract.clone(), STANDARD_NO_PAD.encode(self.epk)]
    }

    /// Reads a stanza tagged `vigie`.
    pub fn from_parts(args: &[String], body: &[u8]) -> Result<Self, SealError> {
        let [extract, epk] = args else {
            return Err(SealError::Stanza(format!("{} arguments, not 2 (extract, ephemeral key)", args.len())));
        };
        if extract.len() > 16 || !extract.starts_with('X') || !extract[1..].bytes().all(|b| b.is_ascii_digit()) {
            return Err(SealError::Stanza(format!("{extract:?} is not an extract id (X<n>)")));
        }
        let epk: [u8; 32] = STANDARD_NO_PAD
            .decode(epk)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| SealError::Stanza("the ephemeral key is not 32 bytes of base64".into()))?;
        if body.len() != FILE_KEY_BYTES + 16 {
            return Err(SealError::Stanza(format!("a body of {} bytes, not 32", body.len())));
        }
        Ok(SealedStanza { extract: extract.clone(), epk, body: body.to_vec() })
    }

    /// The file key, with the recipient's identity and the extract's opening secret.
    pub fn unwrap(&self, identity: &Identity, opening: &OpeningSecret) -> Result<Zeroizing<[u8; 16]>, SealError> {
        let pk = identity.recipient();
        let shared = agree(&identity.secret, &self.epk).ok_or(SealError::Unwrap)?;
        let key = wrap_key(&self.extract, &self.epk, &pk.0, &shared, opening);
        let plain =
            age_core::primitives::aead_decrypt(&key, FILE_KEY_BYTES, &self.body).map_err(|_| SealError::Unwrap)?;
        let mut out = Zeroizing::new([0u8; 16]);
        use age_core::secrecy::ExposeSecret;
        out.copy_from_slice(plain.expose_secret());
        Ok(out)
    }
}

/// The plugin's request for an extract's opening secret, signed by the recipient's Ed25519 key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenRequest {
    pub format: String,
    pub extract: String,
    /// When the plugin asked (RFC 3339, UTC): Vigie refuses one more than
    /// [`OPEN_SKEW_SECONDS`] from its clock.
    pub at: String,
    /// 16 random bytes, base64: Vigie refuses a nonce it saw within the skew window.
    pub nonce: String,
    /// Ed25519 over [`OpenRequest::message`], base64.
    pub signature: String,
}

impl OpenRequest {
    pub fn new(identity: &Identity, extract: &str, at: &str) -> Self {
        let mut nonce = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut r = OpenRequest {
            format: OPEN_FORMAT.into(),
            extract: extract.into(),
            at: at.into(),
            nonce: STANDARD.encode(nonce),
            signature: String::new(),
        };
        r.signature = STANDARD.encode(identity.signing.sign(&r.message()).to_bytes());
        r
    }

    /// The signed bytes: the format, the extract, the date and the nonce, one per line.
    pub fn message(&self) -> Vec<u8> {
        format!("{}\n{}\n{}\n{}\n", OPEN_FORMAT, self.extract, self.at, self.nonce).into_bytes()
    }

    /// Checks the format, the nonce's length and the signature under `receipt_key` (base64).
    pub fn verify(&self, receipt_key: &str) -> Result<(), SealError> {
        if self.format != OPEN_FORMAT {
            return Err(SealError::Request(format!("format {:?}, expected {OPEN_FORMAT:?}", self.format)));
        }
        if STANDARD.decode(&self.nonce).map(|n| n.len()) != Ok(16) {
            return Err(SealError::Request("the nonce is not 16 bytes of base64".into()));
        }
        let key: [u8; 32] = STANDARD
            .decode(receipt_key.trim())
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| SealError::Request("the registered key is not an Ed25519 key".into()))?;
        let key =
            VerifyingKey::from_bytes(&key).map_err(|_| SealError::Request("the registered key is invalid".into()))?;
        let sig: [u8; 64] = STANDARD
            .decode(&self.signature)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| SealError::Request("the signature is not 64 bytes of base64".into()))?;
        key.verify(&self.message(), &Signature::from_bytes(&sig))
            .map_err(|_| SealError::Request("the signature does not verify with the recipient's registered key".into()))
    }
}

/// Vigie's answer: the opening secret sealed to the recipient's X25519 key (an eavesdropper on
/// the way, a logging proxy, learns nothing it could use without the recipient's key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenReply {
    pub extract: String,
    /// The last day (UTC) the file may be kept, from the manifest.
    pub expires_on: String,
    pub epk: String,
    pub sealed: String,
}

fn reply_key(extract: &str, nonce: &str, epk: &[u8; 32], pk: &[u8; 32], shared: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut salt = Vec::with_capacity(64 + nonce.len());
    salt.extend_from_slice(epk);
    salt.extend_from_slice(pk);
    salt.extend_from_slice(nonce.as_bytes());
    let label = format!("vigie-extract/v1 open {extract}");
    Zeroizing::new(age_core::primitives::hkdf(&salt, label.as_bytes(), shared))
}

impl OpenReply {
    /// Seals `opening` to `to`, bound to the request's nonce.
    pub fn seal(
        request: &OpenRequest,
        to: &RecipientKey,
        opening: &OpeningSecret,
        expires_on: &str,
    ) -> Result<Self, SealError> {
        let esk = Zeroizing::new(random32());
        let epk = public_of(&esk);
        let shared = agree(&esk, &to.0).ok_or_else(|| SealError::Recipient("a low-order point".into()))?;
        let key = reply_key(&request.extract, &request.nonce, &epk, &to.0, &shared);
        Ok(OpenReply {
            extract: request.extract.clone(),
            expires_on: expires_on.into(),
            epk: STANDARD.encode(epk),
            sealed: STANDARD.encode(age_core::primitives::aead_encrypt(&key, opening.0.as_ref())),
        })
    }

    /// The opening secret, for the identity that asked with `request`.
    pub fn open(&self, request: &OpenRequest, identity: &Identity) -> Result<OpeningSecret, SealError> {
        if self.extract != request.extract {
            return Err(SealError::Reply);
        }
        let epk: [u8; 32] = STANDARD.decode(&self.epk).ok().and_then(|v| v.try_into().ok()).ok_or(SealError::Reply)?;
        let sealed = STANDARD.decode(&self.sealed).map_err(|_| SealError::Reply)?;
        let shared = agree(&identity.secret, &epk).ok_or(SealError::Reply)?;
        let key = reply_key(&request.extract, &request.nonce, &epk, &identity.recipient().0, &shared);
        let plain = age_core::primitives::aead_decrypt(&key, 32, &sealed).map_err(|_| SealError::Reply)?;
        let mut out = Zeroizing::new([0u8; 32]);
        use age_core::secrecy::ExposeSecret;
        out.copy_from_slice(plain.expose_secret());
        Ok(OpeningSecret(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opening(b: u8) -> OpeningSecret {
        OpeningSecret(Zeroizing::new([b; 32]))
    }

    #[test]
    fn identity_and_recipient_round_trip_in_age_s_conventions() {
        let id = Identity::generate("https://vigie.example.fr").unwrap();
        let text = id.encode();
        assert!(text.starts_with("AGE-PLUGIN-VIGIE-1"), "{}", &text[..20]);
        let back = Identity::parse(&text).unwrap();
        assert_eq!(back.recipient(), id.recipient());
        assert_eq!(back.receipt_key(), id.receipt_key());
        assert_eq!(back.url(), "https://vigie.example.fr");
        let r = id.recipient().to_string();
        assert!(r.starts_with("age1vigie1"), "{r}");
        assert_eq!(r.parse::<RecipientKey>().unwrap(), id.recipient());
        assert_eq!(r.to_uppercase().parse::<RecipientKey>().unwrap(), id.recipient());
    }

    #[test]
    fn bad_keys_and_urls_are_refused_with_the_reason() {
        assert!(matches!("age1qqqq".parse::<RecipientKey>(), Err(SealError::Recipient(_))));
        let plain = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
        assert!(plain.parse::<RecipientKey>().is_err(), "a plain X25519 recipient is not a Vigie one");
        let mut r = Identity::generate("https://v.example").unwrap().recipient().to_string();
        r.pop();
        r.push('q');
        assert!(r.parse::<RecipientKey>().is_err(), "a broken checksum");
        // A low-order point (zero) is not a key.
        assert!(RecipientKey([0; 32]).to_string().parse::<RecipientKey>().is_err());
        assert!(Identity::generate("http://vigie.example.fr").is_err(), "plain http off loopback");
        assert!(Identity::generate("ftp://x").is_err());
        assert!(Identity::generate("http://127.0.0.1:8080").is_ok());
        assert!(Identity::generate("http://[::1]:8080/vigie").is_ok());
        assert!(Identity::generate("http://127.0.0.1.evil.example").is_err(), "not loopback");
        assert!(Identity::from_bytes(&[2; 80]).is_err());
        assert!(Identity::from_bytes(&[1; 10]).is_err());
    }

    #[test]
    fn the_file_key_needs_both_the_recipient_and_the_opening_secret() {
        let id = Identity::generate("https://v.example").unwrap();
        let other = Identity::generate("https://v.example").unwrap();
        let fk = [7u8; 16];
        let s = SealedStanza::wrap(&fk, "X12", &id.recipient(), &opening(1)).unwrap();
        assert_eq!(*s.unwrap(&id, &opening(1)).unwrap(), fk);
        assert_eq!(s.unwrap(&id, &opening(2)), Err(SealError::Unwrap), "another extract's secret");
        assert_eq!(s.unwrap(&other, &opening(1)), Err(SealError::Unwrap), "another recipient");
        // The extract id is bound: the same stanza relabelled does not open.
        let mut relabelled = s.clone();
        relabelled.extract = "X13".into();
        assert_eq!(relabelled.unwrap(&id, &opening(1)), Err(SealError::Unwrap));
        let parsed = SealedStanza::from_parts(&s.args(), &s.body).unwrap();
        assert_eq!(parsed, s);
        assert!(SealedStanza::from_parts(&["X1".into()], &s.body).is_err());
        assert!(SealedStanza::from_parts(&["Y1".into(), s.args()[1].clone()], &s.body).is_err());
        assert!(SealedStanza::from_parts(&s.args(), &s.body[1..]).is_err());
    }

    #[test]
    fn an_opening_is_signed_and_its_reply_opens_only_for_the_asker() {
        let id = Identity::generate("https://v.example").unwrap();
        let other = Identity::generate("https://v.example").unwrap();
        let req = OpenRequest::new(&id, "X3", "2026-12-07T06:00:00Z");
        req.verify(&id.receipt_key()).unwrap();
        assert!(req.verify(&other.receipt_key()).is_err(), "another key");
        let mut forged = req.clone();
        forged.extract = "X4".into();
        assert!(forged.verify(&id.receipt_key()).is_err(), "an edited request");
        let reply = OpenReply::seal(&req, &id.recipient(), &opening(9), "2027-01-01").unwrap();
        assert_eq!(*reply.open(&req, &id).unwrap().0, [9u8; 32]);
        assert_eq!(reply.open(&req, &other).unwrap_err(), SealError::Reply);
        let again = OpenRequest::new(&id, "X3", "2026-12-07T06:00:00Z");
        assert_eq!(reply.open(&again, &id).unwrap_err(), SealError::Reply, "bound to its request's nonce");
    }
}
