//! Client assertions (RFC 7523 §2.2, "private_key_jwt" of OpenID Connect Core §9): how a
//! service account proves itself with a key it holds instead of a password an infostealer
//! could lift. The integration signs a short-lived JWT with its ES256 private key; Vigie checks
//! it against the public key registered with the account, and opens a session bound to nothing
//! a browser could leak.
//!
//! Checked in this order, nothing believed before the signature: size and shape, header (`alg`
//! exactly `ES256`, `typ` absent or `JWT`, no `crit`), payload encoding, the signature with the
//! registered key, then the claims: `iss` and `sub` both the account's login, `aud` Vigie's
//! token endpoint, `exp` in the future but at most [`MAX_ASSERTION_LIFETIME_SECS`] ahead, `iat`
//! (if given) not in the future beyond [`crate::MAX_CLOCK_SKEW_SECS`], `jti` present (the caller
//! refuses a `jti` it has seen before its `exp`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::error::{DbscError, JwtPart};
use crate::key::{Algorithm, BoundKey};
use crate::proof::{MAX_CLOCK_SKEW_SECS, MAX_PROOF_BYTES};

/// The longest-lived assertion accepted: five minutes, as the token endpoint's answer is.
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 300;

/// A verified assertion: what the caller must remember to refuse a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    pub jti: String,
    pub exp: i64,
}

/// Why a client assertion was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    #[error("client_assertion: {0}")]
    Jwt(#[from] DbscError),
    #[error("client_assertion: alg must be ES256, got {0:?}")]
    Alg(String),
    #[error("client_assertion: typ must be absent or \"JWT\"")]
    Typ,
    #[error("client_assertion: the registered key is not an ES256 key")]
    Key,
    #[error("client_assertion: {0} must be the account's login")]
    Subject(&'static str),
    #[error("client_assertion: aud must be {0}")]
    Audience(String),
    #[error("client_assertion: expired or without exp")]
    Expired,
    #[error("client_assertion: exp is more than {MAX_ASSERTION_LIFETIME_SECS} s ahead")]
    TooLong,
    #[error("client_assertion: iat is in the future")]
    Future,
    #[error("client_assertion: no jti (a unique id, so that it cannot be replayed)")]
    NoJti,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    typ: Option<String>,
    crit: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<i64>,
    iat: Option<i64>,
    jti: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The signer named in an assertion, **before any check**: only to find which account's key to
/// verify it with. Never treat it as authenticated.
pub fn unverified_subject(jwt: &str) -> Result<String, AssertionError> {
    let (_, payload, _) = split(jwt)?;
    let claims: Claims = crate::proof::json_object(payload, JwtPart::Payload)?;
    claims.sub.ok_or(AssertionError::Subject("sub"))
}

/// Checks a client assertion for the account `login` whose registered ES256 public key is
/// `sec1` (an uncompressed point), for the token endpoint `audience`, at `now_unix`.
pub fn verify_assertion(
    jwt: &str,
    sec1: &[u8],
    login: &str,
    audience: &str,
    now_unix: i64,
) -> Result<Assertion, AssertionError> {
    let (header_b64, payload_b64, signature_b64) = split(jwt)?;
    let header: Header = crate::proof::json_object(header_b64, JwtPart::Header)?;
    if header.alg != "ES256" {
        return Err(AssertionError::Alg(header.alg.chars().take(16).collect()));
    }
    if header.typ.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case("JWT")) {
        return Err(AssertionError::Typ);
    }
    if header.crit.is_some() {
        return Err(DbscError::UnsupportedCrit.into());
    }
    let claims: Claims = crate::proof::json_object(payload_b64, JwtPart::Payload)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| DbscError::malformed(JwtPart::Signature, "not unpadded base64url"))?;
    let mut stored = vec![1u8, 1];
    stored.extend_from_slice(sec1);
    let key = BoundKey::from_bytes(&stored).map_err(|_| AssertionError::Key)?;
    let signing_input = &jwt[..header_b64.len() + 1 + payload_b64.len()];
    key.verify(Algorithm::Es256, signing_input.as_bytes(), &signature)?;
    // Only now are the claims believed.
    if claims.iss.as_deref() != Some(login) {
        return Err(AssertionError::Subject("iss"));
    }
    if claims.sub.as_deref() != Some(login) {
        return Err(AssertionError::Subject("sub"));
    }
    let aud_ok = match &claims.aud {
        Some(Audience::One(a)) => a == audience,
        Some(Audience::Many(v)) => v.iter().any(|a| a == audience),
        None => false,
    };
    if !aud_ok {
        return Err(AssertionError::Audience(audience.to_owned()));
    }
    let exp = claims.exp.filter(|&e| e > now_unix).ok_or(AssertionError::Expired)?;
    if exp - now_unix > MAX_ASSERTION_LIFETIME_SECS {
        return Err(AssertionError::TooLong);
    }
    if claims.iat.is_some_and(|iat| iat - now_unix > MAX_CLOCK_SKEW_SECS) {
        return Err(AssertionError::Future);
    }
    let jti = claims.jti.filter(|j| !j.is_empty() && j.len() <= 128).ok_or(AssertionError::NoJti)?;
    Ok(Assertion { jti, exp })
}

fn split(jwt: &str) -> Result<(&str, &str, &str), DbscError> {
    if jwt.is_empty() {
        return Err(DbscError::Empty);
    }
    if jwt.len() > MAX_PROOF_BYTES {
        return Err(DbscError::TooLarge { len: jwt.len(), max: MAX_PROOF_BYTES });
    }
    let mut parts = jwt.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) if !s.is_empty() => Ok((h, p, s)),
        _ => Err(DbscError::malformed(
            JwtPart::Structure,
            "expected three dot-separated parts (header.payload.signature)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{ec_key, ec_key_2, es256};
    use serde_json::json;

    const NOW: i64 = 1_780_000_000;
    const AUD: &str = "https://vigie.example.org/v1/token";

    fn point(sk: &p256::ecdsa::SigningKey) -> Vec<u8> {
        sk.verifying_key().to_sec1_point(false).as_bytes().to_vec()
    }

    fn assertion(claims: serde_json::Value) -> String {
        es256(&ec_key(), &json!({"alg": "ES256", "typ": "JWT"}), &claims)
    }

    fn good() -> serde_json::Value {
        json!({"iss": "sync@partner", "sub": "sync@partner", "aud": AUD, "exp": NOW + 120, "iat": NOW, "jti": "a1"})
    }

    #[test]
    fn a_good_assertion_verifies_with_the_registered_key_only() {
        let key = point(&ec_key());
        let a = verify_assertion(&assertion(good()), &key, "sync@partner", AUD, NOW).unwrap();
        assert_eq!(a, Assertion { jti: "a1".into(), exp: NOW + 120 });
        assert_eq!(unverified_subject(&assertion(good())).unwrap(), "sync@partner");
        let other = point(&ec_key_2());
        let e = verify_assertion(&assertion(good()), &other, "sync@partner", AUD, NOW).unwrap_err();
        assert_eq!(e, AssertionError::Jwt(DbscError::BadSignature));
    }

    #[test]
    fn each_bad_claim_is_refused_naming_it() {
        let key = point(&ec_key());
        let with = |k: &str, v: serde_json::Value| {
            let mut c = good();
            c[k] = v;
            verify_assertion(&assertion(c), &key, "sync@partner", AUD, NOW).unwrap_err().to_string()
        };
        assert!(with("iss", json!("other@x")).contains("iss must be the account's login"));
        assert!(with("sub", json!("other@x")).contains("sub must be the account's login"));
        assert!(with("aud", json!("https://elsewhere/v1/token")).contains("aud must be"));
        assert!(with("exp", json!(NOW - 1)).contains("expired"));
        assert!(with("exp", json!(NOW + 3_600)).contains("more than 300 s ahead"));
        assert!(with("iat", json!(NOW + 600)).contains("iat is in the future"));
        assert!(with("jti", json!("")).contains("no jti"));
        let none = es256(&ec_key(), &json!({"alg": "ES256", "typ": "dpop+jwt"}), &good());
        assert_eq!(verify_assertion(&none, &key, "sync@partner", AUD, NOW).unwrap_err(), AssertionError::Typ);
        let hs = format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#),
            URL_SAFE_NO_PAD.encode(good().to_string())
        );
        assert!(matches!(verify_assertion(&hs, &key, "sync@partner", AUD, NOW), Err(AssertionError::Alg(_))));
        assert!(verify_assertion("not.a.jwt.at.all", &key, "sync@partner", AUD, NOW).is_err());
        assert_eq!(
            verify_assertion(&assertion(good()), &key[..33], "sync@partner", AUD, NOW).unwrap_err(),
            AssertionError::Key
        );
    }
}
