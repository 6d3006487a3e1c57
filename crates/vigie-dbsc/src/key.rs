//! The public key a session is bound to: read from the registration proof's JWK, kept in a
//! small versioned byte form for the store, named by its RFC 7638 thumbprint, and used to check
//! every refresh proof.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Verifier as _;
use rsa::signature::Verifier as _;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPublicKey};
use serde::Deserialize;
use serde::de::IgnoredAny;
use sha2::{Digest, Sha256};

use crate::error::{DbscError, JwtPart};

/// Smallest RSA modulus accepted. 2048 bits is what TPMs hold and the floor of current guidance
/// (NIST SP 800-131A); anything shorter is refused outright.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted: bounds the cost of verifying an attacker's registration.
pub const MAX_RSA_BITS: usize = 4096;

/// The two signature algorithms DBSC allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// ECDSA on P-256 with SHA-256, signature as the 64-byte `r||s` (RFC 7518 §3.4).
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
    Rs256,
}

impl Algorithm {
    /// The JWS `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::Rs256 => "RS256",
        }
    }

    /// Exactly "ES256" or "RS256"; everything else (`none`, `HS256`, `PS256`, case variants) is
    /// refused by the caller.
    pub(crate) fn from_jws(alg: &str) -> Option<Self> {
        match alg {
            "ES256" => Some(Algorithm::Es256),
            "RS256" => Some(Algorithm::Rs256),
            _ => None,
        }
    }

    fn key_kind(self) -> &'static str {
        match self {
            Algorithm::Es256 => "EC P-256",
            Algorithm::Rs256 => "RSA",
        }
    }
}

/// A session's registered public key. Compare, store with [`BoundKey::to_bytes`], reload with
/// [`BoundKey::from_bytes`]; the private half never leaves the browser.
#[derive(Clone, PartialEq, Eq)]
pub struct BoundKey(Inner);

#[derive(Clone, PartialEq, Eq)]
enum Inner {
    Es256(p256::ecdsa::VerifyingKey),
    Rs256(RsaPublicKey),
}

/// Version byte of the stored form; bump it (and keep reading the old one) if the layout changes.
const FORMAT_V1: u8 = 1;
const TAG_ES256: u8 = 1;
const TAG_RS256: u8 = 2;

impl BoundKey {
    /// The algorithm this key verifies; a proof with any other `alg` is refused.
    pub fn algorithm(&self) -> Algorithm {
        match self.0 {
            Inner::Es256(_) => Algorithm::Es256,
            Inner::Rs256(_) => Algorithm::Rs256,
        }
    }

    /// The stored form, stable across releases:
    /// `[1 (format), 1 (ES256), 65-byte uncompressed SEC1 point]` or
    /// `[1 (format), 2 (RS256), u16 BE len, n (big-endian, minimal), u16 BE len, e]`.
    pub fn to_bytes(&self) -> Vec<u8> {
        match &self.0 {
            Inner::Es256(key) => {
                let point = key.to_sec1_point(false);
                let mut out = Vec::with_capacity(2 + point.len());
                out.extend_from_slice(&[FORMAT_V1, TAG_ES256]);
                out.extend_from_slice(point.as_bytes());
                out
            }
            Inner::Rs256(key) => {
                let n = key.n().to_bytes_be();
                let e = key.e().to_bytes_be();
                let mut out = Vec::with_capacity(6 + n.len() + e.len());
                out.extend_from_slice(&[FORMAT_V1, TAG_RS256]);
                for part in [&n, &e] {
                    // Both fit: n is at most MAX_RSA_BITS / 8 = 512 bytes, e at most 5.
                    out.extend_from_slice(&u16::try_from(part.len()).unwrap_or(u16::MAX).to_be_bytes());
                    out.extend_from_slice(part);
                }
                out
            }
        }
    }

    /// Reads what [`BoundKey::to_bytes`] wrote, re-checking the key as registration did. Anything
    /// else (unknown version or algorithm, truncation, trailing bytes, non-minimal integers, a
    /// point off the curve, a short modulus) is refused.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DbscError> {
        let (&version, rest) = bytes.split_first().ok_or(DbscError::StoredKey("empty"))?;
        if version != FORMAT_V1 {
            return Err(DbscError::StoredKey("unknown format version"));
        }
        let (&tag, body) = rest.split_first().ok_or(DbscError::StoredKey("no algorithm tag"))?;
        match tag {
            TAG_ES256 => {
                if body.len() != 65 || body[0] != 0x04 {
                    return Err(DbscError::StoredKey("an ES256 key is a 65-byte uncompressed point"));
                }
                p256::ecdsa::VerifyingKey::from_sec1_bytes(body)
                    .map(|k| BoundKey(Inner::Es256(k)))
                    .map_err(|_| DbscError::StoredKey("the point is not on P-256"))
            }
            TAG_RS256 => {
                let (n, body) = take_len_prefixed(body)?;
                let (e, body) = take_len_prefixed(body)?;
                if !body.is_empty() {
                    return Err(DbscError::StoredKey("trailing bytes"));
                }
                if n.first() == Some(&0) || e.first() == Some(&0) {
                    return Err(DbscError::StoredKey("non-minimal integer"));
                }
                rsa_key(n, e).map_err(|_| DbscError::StoredKey("not a usable RSA public key"))
            }
            _ => Err(DbscError::StoredKey("unknown algorithm tag")),
        }
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url): a stable name for the key that logs
    /// and the session record can carry without the key itself.
    pub fn thumbprint(&self) -> String {
        // RFC 7638 §3.2: the required members only, in lexicographic order, no whitespace. The
        // values are base64url, which needs no JSON escaping.
        let canonical = match &self.0 {
            Inner::Es256(key) => {
                let point = key.to_sec1_point(false);
                let bytes = point.as_bytes();
                format!(
                    r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                    URL_SAFE_NO_PAD.encode(&bytes[1..33]),
                    URL_SAFE_NO_PAD.encode(&bytes[33..65])
                )
            }
            Inner::Rs256(key) => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
                URL_SAFE_NO_PAD.encode(key.n().to_bytes_be())
            ),
        };
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// Checks `signature` over `signing_input` (the ASCII `header.payload`) for a proof that
    /// declared `alg`.
    pub(crate) fn verify(&self, alg: Algorithm, signing_input: &[u8], signature: &[u8]) -> Result<(), DbscError> {
        match (&self.0, alg) {
            (Inner::Es256(key), Algorithm::Es256) => {
                // JWS ES256 is exactly r||s; a DER signature (70-72 bytes) is refused rather than
                // converted, so there is one encoding and no malleability between two.
                if signature.len() != 64 {
                    return Err(DbscError::malformed(
                        JwtPart::Signature,
                        format!("an ES256 signature is 64 bytes (r||s), not {}; DER is refused", signature.len()),
                    ));
                }
                let sig = p256::ecdsa::Signature::from_slice(signature).map_err(|_| DbscError::BadSignature)?;
                key.verify(signing_input, &sig).map_err(|_| DbscError::BadSignature)
            }
            (Inner::Rs256(key), Algorithm::Rs256) => {
                if signature.len() != key.size() {
                    return Err(DbscError::malformed(
                        JwtPart::Signature,
                        format!(
                            "an RS256 signature is as long as the modulus ({} bytes), not {}",
                            key.size(),
                            signature.len()
                        ),
                    ));
                }
                let verifier = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key.clone());
                let sig = rsa::pkcs1v15::Signature::try_from(signature).map_err(|_| DbscError::BadSignature)?;
                verifier.verify(signing_input, &sig).map_err(|_| DbscError::BadSignature)
            }
            (_, alg) => Err(DbscError::KeyAlgMismatch { alg: alg.as_str(), key: self.algorithm().key_kind() }),
        }
    }
}

impl fmt::Debug for BoundKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundKey")
            .field("alg", &self.algorithm().as_str())
            .field("thumbprint", &self.thumbprint())
            .finish()
    }
}

/// A JSON Web Key as a proof carries it (RFC 7517). Only public EC P-256 and RSA keys are
/// turned into a [`BoundKey`]; unknown members (`kid`, `use`, `alg`…) are ignored.
#[derive(Deserialize)]
pub(crate) struct Jwk {
    kty: String,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
    // Private or symmetric members: a proof must never carry them (RFC 9449 §4.3 says the same
    // of DPoP), and one that does shows a broken or hostile client.
    d: Option<IgnoredAny>,
    p: Option<IgnoredAny>,
    q: Option<IgnoredAny>,
    dp: Option<IgnoredAny>,
    dq: Option<IgnoredAny>,
    qi: Option<IgnoredAny>,
    oth: Option<IgnoredAny>,
    k: Option<IgnoredAny>,
}

impl Jwk {
    pub(crate) fn into_key(self) -> Result<BoundKey, DbscError> {
        let private = [&self.d, &self.p, &self.q, &self.dp, &self.dq, &self.qi, &self.oth, &self.k];
        if private.iter().any(|m| m.is_some()) {
            return Err(DbscError::BadKey("the JWK carries private or symmetric key material"));
        }
        match self.kty.as_str() {
            "EC" => {
                if self.crv.as_deref() != Some("P-256") {
                    return Err(DbscError::BadKey("only the P-256 curve is accepted"));
                }
                let x = coordinate(self.x.as_deref())?;
                let y = coordinate(self.y.as_deref())?;
                let mut sec1 = [0u8; 65];
                sec1[0] = 0x04;
                sec1[1..33].copy_from_slice(&x);
                sec1[33..65].copy_from_slice(&y);
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                    .map(|k| BoundKey(Inner::Es256(k)))
                    .map_err(|_| DbscError::BadKey("the EC point is not on P-256"))
            }
            "RSA" => {
                let n = b64_member(self.n.as_deref(), "the RSA JWK needs n")?;
                let e = b64_member(self.e.as_deref(), "the RSA JWK needs e")?;
                rsa_key(strip_zeros(&n), strip_zeros(&e))
            }
            _ => Err(DbscError::BadKey("only EC and RSA JWKs are accepted")),
        }
    }
}

fn coordinate(member: Option<&str>) -> Result<[u8; 32], DbscError> {
    let bytes = b64_member(member, "the EC JWK needs x and y")?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| DbscError::BadKey("a P-256 coordinate is 32 bytes"))
}

fn b64_member(member: Option<&str>, missing: &'static str) -> Result<Vec<u8>, DbscError> {
    let text = member.ok_or(DbscError::BadKey(missing))?;
    URL_SAFE_NO_PAD.decode(text).map_err(|_| DbscError::BadKey("a JWK member is not base64url"))
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn rsa_key(n: &[u8], e: &[u8]) -> Result<BoundKey, DbscError> {
    let n = BigUint::from_bytes_be(n);
    let bits = n.bits();
    if bits < MIN_RSA_BITS {
        return Err(DbscError::BadKey("the RSA modulus is under 2048 bits"));
    }
    if bits > MAX_RSA_BITS {
        return Err(DbscError::BadKey("the RSA modulus is over 4096 bits"));
    }
    RsaPublicKey::new(n, BigUint::from_bytes_be(e))
        .map(|k| BoundKey(Inner::Rs256(k)))
        .map_err(|_| DbscError::BadKey("the RSA public exponent is out of range"))
}

fn take_len_prefixed(bytes: &[u8]) -> Result<(&[u8], &[u8]), DbscError> {
    let (len, rest) = bytes.split_at_checked(2).ok_or(DbscError::StoredKey("truncated"))?;
    let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
    rest.split_at_checked(len).ok_or(DbscError::StoredKey("truncated"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit;
    use proptest::prelude::*;

    fn jwk(value: serde_json::Value) -> Result<BoundKey, DbscError> {
        serde_json::from_value::<Jwk>(value).unwrap().into_key()
    }

    #[test]
    fn rfc7638_thumbprint_vector() {
        // RFC 7638 §3.1.
        let key = jwk(serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        }))
        .unwrap();
        assert_eq!(key.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        assert_eq!(key.algorithm(), Algorithm::Rs256);
    }

    #[test]
    fn ec_thumbprint_is_over_the_canonical_members() {
        let sk = testkit::ec_key();
        let key = jwk(testkit::ec_jwk(&sk)).unwrap();
        let jwk = testkit::ec_jwk(&sk);
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        );
        assert_eq!(key.thumbprint(), URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())));
        assert_eq!(key.thumbprint().len(), 43);
    }

    #[test]
    fn stored_form_round_trips_for_both_algorithms() {
        for key in [jwk(testkit::ec_jwk(&testkit::ec_key())).unwrap(), jwk(testkit::rsa_jwk()).unwrap()] {
            let bytes = key.to_bytes();
            assert_eq!(bytes[0], FORMAT_V1);
            let back = BoundKey::from_bytes(&bytes).unwrap();
            assert_eq!(back, key);
            assert_eq!(back.thumbprint(), key.thumbprint());
        }
        assert_eq!(jwk(testkit::ec_jwk(&testkit::ec_key())).unwrap().to_bytes().len(), 67);
    }

    #[test]
    fn stored_form_refuses_anything_else() {
        let ec = jwk(testkit::ec_jwk(&testkit::ec_key())).unwrap().to_bytes();
        let rsa = jwk(testkit::rsa_jwk()).unwrap().to_bytes();
        let mut bad_version = ec.clone();
        bad_version[0] = 2;
        let mut bad_tag = ec.clone();
        bad_tag[1] = 9;
        let mut off_curve = ec.clone();
        off_curve[66] ^= 1;
        let mut trailing = rsa.clone();
        trailing.push(0);
        let cases: Vec<(&[u8], &str)> = vec![
            (&[], "empty"),
            (&[1], "no algorithm tag"),
            (&bad_version, "unknown format version"),
            (&bad_tag, "unknown algorithm tag"),
            (&ec[..66], "an ES256 key is a 65-byte uncompressed point"),
            (&off_curve, "the point is not on P-256"),
            (&rsa[..100], "truncated"),
            (&trailing, "trailing bytes"),
        ];
        for (bytes, why) in cases {
            assert_eq!(BoundKey::from_bytes(bytes), Err(DbscError::StoredKey(why)), "{why}");
        }
    }

    #[test]
    fn jwk_refusals() {
        let ec = testkit::ec_jwk(&testkit::ec_key());
        let with = |k: &str, v: serde_json::Value| {
            let mut j = ec.clone();
            j[k] = v;
            jwk(j)
        };
        assert_eq!(
            with("d", "AAAA".into()),
            Err(DbscError::BadKey("the JWK carries private or symmetric key material"))
        );
        assert_eq!(with("crv", "P-384".into()), Err(DbscError::BadKey("only the P-256 curve is accepted")));
        assert_eq!(with("kty", "OKP".into()), Err(DbscError::BadKey("only EC and RSA JWKs are accepted")));
        assert_eq!(with("x", "AQAB".into()), Err(DbscError::BadKey("a P-256 coordinate is 32 bytes")));
        assert_eq!(with("x", "!!".into()), Err(DbscError::BadKey("a JWK member is not base64url")));
        // (x, y+1) is not on the curve.
        let mut y = URL_SAFE_NO_PAD.decode(ec["y"].as_str().unwrap()).unwrap();
        y[31] ^= 1;
        assert_eq!(
            with("y", URL_SAFE_NO_PAD.encode(&y).into()),
            Err(DbscError::BadKey("the EC point is not on P-256"))
        );
        let mut rsa = testkit::rsa_jwk();
        rsa["n"] = URL_SAFE_NO_PAD.encode([0xc5u8; 128]).into();
        assert_eq!(jwk(rsa), Err(DbscError::BadKey("the RSA modulus is under 2048 bits")));
        let mut rsa = testkit::rsa_jwk();
        rsa["n"] = URL_SAFE_NO_PAD.encode([0xc5u8; 513]).into();
        assert_eq!(jwk(rsa), Err(DbscError::BadKey("the RSA modulus is over 4096 bits")));
    }

    #[test]
    fn rsa_leading_zero_in_jwk_names_the_same_key() {
        let mut j = testkit::rsa_jwk();
        let mut n = vec![0u8];
        n.extend(URL_SAFE_NO_PAD.decode(j["n"].as_str().unwrap()).unwrap());
        j["n"] = URL_SAFE_NO_PAD.encode(n).into();
        assert_eq!(jwk(j).unwrap(), jwk(testkit::rsa_jwk()).unwrap());
    }

    #[test]
    fn debug_shows_algorithm_and_thumbprint() {
        let key = jwk(testkit::ec_jwk(&testkit::ec_key())).unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains("ES256") && shown.contains(&key.thumbprint()));
    }

    proptest! {
        #[test]
        fn from_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = BoundKey::from_bytes(&bytes);
        }

        #[test]
        fn from_bytes_never_panics_on_near_misses(tag in 0u8..4, body in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut bytes = vec![FORMAT_V1, tag];
            bytes.extend(body);
            let _ = BoundKey::from_bytes(&bytes);
        }
    }
}
