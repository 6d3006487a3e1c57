//! Checking DBSC proofs: the compact JWS the browser sends in `Secure-Session-Response` when it
//! registers a session (signed by the new key, which it carries) and when it refreshes one
//! (signed by the key registered before).
//!
//! The JWS is parsed by hand, in this order: size, shape, header (`alg` on the allow-list,
//! `typ`, no `crit`), payload, signature encoding, the key, the signature, then the claims. So
//! nothing about the claims is believed before the signature is, and `alg` is never read from
//! the key or the key from `alg`: each must match the other.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::error::{DbscError, JwtPart, truncate};
use crate::key::{Algorithm, BoundKey, Jwk};

/// Largest proof accepted. Chrome's ES256 registration proof is about 400 bytes and an RS256
/// one with a 4096-bit key about 1.6 KiB; 8 KiB leaves room and keeps parsing cheap.
pub const MAX_PROOF_BYTES: usize = 8 * 1024;
/// Oldest `iat` accepted, when a proof carries one: the lifetime of a challenge is the real
/// bound, this only refuses a proof that says itself it is stale.
pub const MAX_PROOF_AGE_SECS: i64 = 300;
/// How far in the future an `iat` may be: the browser's clock may run ahead of ours.
pub const MAX_CLOCK_SKEW_SECS: i64 = 60;
/// The JWS `typ` of a DBSC proof.
pub const PROOF_TYP: &str = "dbsc+jwt";

/// Checks a registration proof: a well-formed `dbsc+jwt` signed with ES256 or RS256 by the key
/// it carries (in the `jwk` header, or the older drafts' `key` claim), whose `jti` is
/// `expected_challenge`. Returns the key to bind to the session.
///
/// The challenge must also be single-use: either consume it in a [`crate::Challenges`] (or use
/// [`crate::Challenges::redeem_registration`], which does both), or keep it per session and
/// delete it on first use.
pub fn verify_registration(jwt: &str, expected_challenge: &str, now_unix: i64) -> Result<BoundKey, DbscError> {
    let proof = Proof::parse(jwt)?;
    let key = match (proof.header_key, proof.payload.key) {
        (Some(jwk), None) | (None, Some(jwk)) => jwk.into_key()?,
        (Some(header), Some(claim)) => {
            let key = header.into_key()?;
            if claim.into_key()? != key {
                return Err(DbscError::KeyMismatch("the jwk header and the key claim name different keys"));
            }
            key
        }
        (None, None) => return Err(DbscError::MissingKey),
    };
    key.verify(proof.alg, proof.signing_input.as_bytes(), &proof.signature)?;
    check_claims(proof.payload.jti, proof.payload.iat, expected_challenge, now_unix)?;
    Ok(key)
}

/// Checks a refresh proof: a well-formed `dbsc+jwt` signed by the session's bound `key` with
/// that key's algorithm, whose `jti` is `expected_challenge`. A proof that embeds a key other
/// than `key` is refused: the embedded key is never used to verify.
pub fn verify_refresh(jwt: &str, key: &BoundKey, expected_challenge: &str, now_unix: i64) -> Result<(), DbscError> {
    let proof = Proof::parse(jwt)?;
    for embedded in [proof.header_key, proof.payload.key].into_iter().flatten() {
        if &embedded.into_key()? != key {
            return Err(DbscError::KeyMismatch("the proof embeds a key other than the session's bound key"));
        }
    }
    key.verify(proof.alg, proof.signing_input.as_bytes(), &proof.signature)?;
    check_claims(proof.payload.jti, proof.payload.iat, expected_challenge, now_unix)
}

/// The `jti` of a well-formed proof, **before any signature check**: only for finding which
/// outstanding challenge to check the proof against (the browser may sign any challenge it was
/// given). Never treat the result as authenticated; pass it to [`verify_refresh`] or
/// [`verify_registration`] as the expected challenge, then consume it.
pub fn unverified_challenge(jwt: &str) -> Result<String, DbscError> {
    let proof = Proof::parse(jwt)?;
    match proof.payload.jti {
        Some(jti) if !jti.is_empty() => Ok(jti),
        _ => Err(DbscError::MissingChallenge),
    }
}

/// A compact JWS whose shape, header and encodings are valid, not yet verified.
struct Proof<'a> {
    alg: Algorithm,
    header_key: Option<Jwk>,
    payload: Payload,
    /// `header.payload` exactly as received: what the signature covers.
    signing_input: &'a str,
    signature: Vec<u8>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    typ: Option<String>,
    jwk: Option<Jwk>,
    crit: Option<IgnoredAny>,
}

/// The claims read. Others (`aud`, `sub`, `authorization`, anything a browser adds) are
/// ignored; see the crate documentation for why.
#[derive(Deserialize)]
struct Payload {
    jti: Option<String>,
    iat: Option<serde_json::Value>,
    key: Option<Jwk>,
}

impl<'a> Proof<'a> {
    fn parse(jwt: &'a str) -> Result<Self, DbscError> {
        if jwt.is_empty() {
            return Err(DbscError::Empty);
        }
        if jwt.len() > MAX_PROOF_BYTES {
            return Err(DbscError::TooLarge { len: jwt.len(), max: MAX_PROOF_BYTES });
        }
        let mut parts = jwt.split('.');
        let (header_b64, payload_b64, signature_b64) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(h), Some(p), Some(s), None) => (h, p, s),
            _ => {
                return Err(DbscError::malformed(
                    JwtPart::Structure,
                    "expected three dot-separated parts (header.payload.signature)",
                ));
            }
        };

        let header: Header = json_object(header_b64, JwtPart::Header)?;
        let alg =
            Algorithm::from_jws(&header.alg).ok_or_else(|| DbscError::UnsupportedAlg(truncate(&header.alg, 32)))?;
        match header.typ {
            Some(typ) if typ.eq_ignore_ascii_case(PROOF_TYP) => {}
            other => return Err(DbscError::WrongTyp(other.map(|t| truncate(&t, 32)))),
        }
        if header.crit.is_some() {
            return Err(DbscError::UnsupportedCrit);
        }

        let payload: Payload = json_object(payload_b64, JwtPart::Payload)?;

        if signature_b64.is_empty() {
            return Err(DbscError::malformed(JwtPart::Signature, "empty"));
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| DbscError::malformed(JwtPart::Signature, "not unpadded base64url"))?;

        let signing_input = &jwt[..header_b64.len() + 1 + payload_b64.len()];
        Ok(Proof { alg, header_key: header.jwk, payload, signing_input, signature })
    }
}

/// Decodes one base64url part into a JSON object of type `T`. Duplicate members of `T` are
/// refused (serde's derive does that), so a proof cannot say two things about its `alg` or `jti`.
pub(crate) fn json_object<T: DeserializeOwned>(part_b64: &str, part: JwtPart) -> Result<T, DbscError> {
    if part_b64.is_empty() {
        return Err(DbscError::malformed(part, "empty"));
    }
    let bytes = URL_SAFE_NO_PAD.decode(part_b64).map_err(|_| DbscError::malformed(part, "not unpadded base64url"))?;
    // serde would also read a struct from a JSON array, positionally; a JOSE header and a claims
    // set are objects.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(DbscError::malformed(part, "not a JSON object"));
    }
    serde_json::from_slice(&bytes).map_err(|e| DbscError::malformed(part, format!("invalid: {e}")))
}

fn check_claims(
    jti: Option<String>,
    iat: Option<serde_json::Value>,
    expected_challenge: &str,
    now_unix: i64,
) -> Result<(), DbscError> {
    match jti {
        None => return Err(DbscError::MissingChallenge),
        Some(jti) if jti.is_empty() => return Err(DbscError::MissingChallenge),
        Some(jti) if jti != expected_challenge => return Err(DbscError::WrongChallenge),
        Some(_) => {}
    }
    if let Some(iat) = iat {
        let iat = numeric_date(&iat)?;
        let ahead = iat.saturating_sub(now_unix);
        if ahead > MAX_CLOCK_SKEW_SECS {
            return Err(DbscError::IssuedInFuture { iat, ahead, max: MAX_CLOCK_SKEW_SECS });
        }
        let age = now_unix.saturating_sub(iat);
        if age > MAX_PROOF_AGE_SECS {
            return Err(DbscError::ProofTooOld { iat, age, max: MAX_PROOF_AGE_SECS });
        }
    }
    Ok(())
}

/// An RFC 7519 NumericDate in whole seconds. Chrome wrote it as a JSON number from a double,
/// so an integral float is accepted; a fraction, a string or anything out of range is not.
fn numeric_date(value: &serde_json::Value) -> Result<i64, DbscError> {
    const NOT_A_DATE: &str = "iat is not a NumericDate in whole seconds";
    let number = value.as_number().ok_or_else(|| DbscError::malformed(JwtPart::Payload, NOT_A_DATE))?;
    if let Some(i) = number.as_i64() {
        return Ok(i);
    }
    match number.as_f64() {
        // 2^53: every integer below is exact in a double.
        Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => Ok(f as i64),
        _ => Err(DbscError::malformed(JwtPart::Payload, NOT_A_DATE)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{self, b64, ec_jwk, ec_key, ec_key_2, es256, rs256, rsa_jwk};
    use hmac::{Hmac, Mac};
    use proptest::prelude::*;
    use serde_json::json;

    const NOW: i64 = 1_780_000_000;
    const CHALLENGE: &str = "c2VydmVyLWNoYWxsZW5nZQ";

    fn es_registration(challenge: &str) -> String {
        let sk = ec_key();
        es256(&sk, &json!({"alg": "ES256", "typ": "dbsc+jwt", "jwk": ec_jwk(&sk)}), &json!({"jti": challenge}))
    }

    fn es_bound() -> BoundKey {
        verify_registration(&es_registration(CHALLENGE), CHALLENGE, NOW).unwrap()
    }

    fn rs_bound() -> BoundKey {
        let jwt = rs256(&json!({"alg": "RS256", "typ": "dbsc+jwt", "jwk": rsa_jwk()}), &json!({"jti": CHALLENGE}));
        verify_registration(&jwt, CHALLENGE, NOW).unwrap()
    }

    fn es_refresh(challenge: &str) -> String {
        es256(&ec_key(), &json!({"alg": "ES256", "typ": "dbsc+jwt"}), &json!({"jti": challenge}))
    }

    fn malformed(part: JwtPart) -> impl Fn(&DbscError) -> bool {
        move |e| matches!(e, DbscError::Malformed { part: p, .. } if *p == part)
    }

    #[test]
    fn es256_registration_and_refresh_are_accepted() {
        let key = es_bound();
        assert_eq!(key.algorithm(), Algorithm::Es256);
        assert_eq!(verify_refresh(&es_refresh("next"), &key, "next", NOW), Ok(()));
    }

    #[test]
    fn rs256_registration_and_refresh_are_accepted() {
        let key = rs_bound();
        assert_eq!(key.algorithm(), Algorithm::Rs256);
        let refresh = rs256(&json!({"alg": "RS256", "typ": "dbsc+jwt"}), &json!({"jti": "next"}));
        assert_eq!(verify_refresh(&refresh, &key, "next", NOW), Ok(()));
    }

    #[test]
    fn older_draft_shape_is_accepted() {
        // Pre-#216: the key in a `key` claim, with aud, iat and (on refresh) sub.
        let sk = ec_key();
        let jwt = es256(
            &sk,
            &json!({"alg": "ES256", "typ": "dbsc+jwt"}),
            &json!({"aud": "https://vigie.example/dbsc/register", "jti": CHALLENGE, "iat": NOW - 3,
                    "key": ec_jwk(&sk), "authorization": "ac"}),
        );
        assert_eq!(verify_registration(&jwt, CHALLENGE, NOW), Ok(es_bound()));
        let refresh = es256(
            &sk,
            &json!({"alg": "ES256", "typ": "dbsc+jwt"}),
            &json!({"jti": "r", "iat": NOW as f64, "sub": "sid", "key": ec_jwk(&sk)}),
        );
        assert_eq!(verify_refresh(&refresh, &es_bound(), "r", NOW), Ok(()));
    }

    #[test]
    fn typ_is_case_insensitive() {
        let sk = ec_key();
        let jwt = es256(&sk, &json!({"alg": "ES256", "typ": "DBSC+JWT", "jwk": ec_jwk(&sk)}), &json!({"jti": "c"}));
        assert!(verify_registration(&jwt, "c", NOW).is_ok());
    }

    #[test]
    fn wrong_jti_is_refused() {
        assert_eq!(verify_registration(&es_registration("other"), CHALLENGE, NOW), Err(DbscError::WrongChallenge));
        assert_eq!(verify_refresh(&es_refresh("other"), &es_bound(), "next", NOW), Err(DbscError::WrongChallenge));
        let no_jti = es256(&ec_key(), &json!({"alg": "ES256", "typ": "dbsc+jwt"}), &json!({}));
        assert_eq!(verify_refresh(&no_jti, &es_bound(), "next", NOW), Err(DbscError::MissingChallenge));
        let empty_jti = es256(&ec_key(), &json!({"alg": "ES256", "typ": "dbsc+jwt"}), &json!({"jti": ""}));
        assert_eq!(verify_refresh(&empty_jti, &es_bound(), "", NOW), Err(DbscError::MissingChallenge));
    }

    #[test]
    fn refresh_signed_by_another_key_is_refused() {
        let other = es256(&ec_key_2(), &json!({"alg": "ES256", "typ": "dbsc+jwt"}), &json!({"jti": "next"}));
        assert_eq!(verify_refresh(&other, &es_bound(), "next", NOW), Err(DbscError::BadSignature));
        // The same, carrying its own key: named as a mismatch before any signature check.
        let sk2 = ec_key_2();
        let other =
            es256(&sk2, &json!({"alg": "ES256", "typ": "dbsc+jwt", "jwk": ec_jwk(&sk2)}), &json!({"jti": "next"}));
        assert_eq!(
            verify_refresh(&other, &es_bound(), "next", NOW),
            Err(DbscError::KeyMismatch("the proof embeds a key other than the session's bound key"))
        );
        // An RS256 proof against an ES256 binding, and the reverse.
        let rs = rs256(&json!({"alg": "RS256", "typ": "dbsc+jwt"}), &json!({"jti": "next"}));
        assert_eq!(
            verify_refresh(&rs, &es_bound(), "next", NOW),
            Err(DbscError::KeyAlgMismatch { alg: "RS256", key: "EC P-256" })
        );
        assert_eq!(
            verify_refresh(&es_refresh("next"), &rs_bound(), "next", NOW),
            Err(DbscError::KeyAlgMismatch { alg: "ES256", key: "RSA" })
        );
    }

    #[test]
    fn registration_with_two_different_keys_is_refused() {
        let sk = ec_key();
        let jwt = es256(
            &sk,
            &json!({"alg": "ES256", "typ": "dbsc+jwt", "jwk": ec_jwk(&sk)}),
            &json!({"jti": CHALLENGE, "key": ec_jwk(&ec_key_2())}),
        );
        assert_eq!(
            verify_registration(&jwt, CHALLENGE, NOW),
            Err(DbscError::KeyMismatch("the jwk header and the key claim name different keys"))
        );
        let no_key = es256(&sk, &json!({"alg": "ES256", "typ": "dbsc+jwt"}), &json!({"jti": CHALLENGE}));
        assert_eq!(verify_registration(&no_key, CHALLENGE, NOW), Err(DbscError::MissingKey));
        // A registration signed by a key other than the one it carries.
        let lying =
            es256(&ec_key_2(), &json!({"alg": "ES256", "typ": "dbsc+jwt", "jwk": ec_jwk(&sk)}), &json!({"jti": "c"}));
        assert_eq!(verify_registration(&lying, "c", NOW), Err(DbscError::BadSignature));
        // ES256 with an RSA key.
        let mixed = es256(&sk, &json!({"alg": "ES256", "typ": "dbsc+jwt", "jwk": rsa_jwk()}), &json!({"jti": "c"}));
        assert_eq!(verify_registration(&mixed, "c", NOW), Err(DbscError::KeyAlgMismatch { alg: "ES256", key: "RSA" }));
    }

    #[test]
    fn tampered_payload_is_refused() {
        let jwt = es_registration(CHALLENGE);
        let parts: Vec<&str> = jwt.split('.').collect();
        let forged = b64(json!({"jti": "attacker"}).to_string().as_bytes());
        let tampered = format!("{}.{}.{}", parts[0], forged, parts[2]);
        assert_eq!(verify_registration(&tampered, "attacker", NOW), Err(DbscError::BadSignature));
        // A flipped signature bit.
        let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        sig[10] ^= 1;
        let flipped = format!("{}.{}.{}", parts[0], parts[1], b64(&sig));
        assert_eq!(verify_registration(&flipped, CHALLENGE, NOW), Err(DbscError::BadSignature));
        // Swapping in another header changes the signing input.
        let header = b64(json!({"alg": "ES256", "typ": "dbsc+jwt", "jwk": ec_jwk(&ec_key()), "kid": "x"})
            .to_string()
            .as_bytes());
        let reheaded = format!("{}.{}.{}", header, parts[1], parts[2]);
        assert_eq!(verify_registration(&reheaded, CHALLENGE, NOW), Err(DbscError::BadSignature));
    }

    #[test]
    fn alg_none_and_others_are_refused() {
        let sk = ec_key();
        let payload = b64(json!({"jti": CHALLENGE}).to_string().as_bytes());
        for alg in ["none", "None", "HS256", "PS256", "ES384", "RS512", "es256", "EdDSA", ""] {
            let header = b64(json!({"alg": alg, "typ": "dbsc+jwt", "jwk": ec_jwk(&sk)}).to_string().as_bytes());
            for sig in ["", "AAAA"] {
                let jwt = format!("{header}.{payload}.{sig}");
                assert_eq!(verify_registration(&jwt, CHALLENGE, NOW), Err(DbscError::UnsupportedAlg(alg.into())));
                assert_eq!(
                    verify_refresh(&jwt, &es_bound(), CHALLENGE, NOW),
                    Err(DbscError::UnsupportedAlg(alg.into()))
                );
            }
        }
        let no_alg = b64(json!({"typ": "dbsc+jwt"}).to_string().as_bytes());
        assert!(malformed(JwtPart::Header)(
            &verify_registration(&format!("{no_alg}.{payload}.AAAA"), "c", NOW).unwrap_err()
        ));
    }

    #[test]
    fn hs256_keyed_with_the_public_key_is_refused() {
        // The classic confusion: an HMAC whose secret is the verifier's public key, in the two
        // forms a confused verifier might use (the JWK JSON, the SEC1 point).
        let key = es_bound();
        let jwk_json = ec_jwk(&ec_key()).to_string();
        for secret in [jwk_json.as_bytes().to_vec(), key.to_bytes()[2..].to_vec()] {
            let header = b64(json!({"alg": "HS256", "typ": "dbsc+jwt"}).to_string().as_bytes());
            let payload = b64(json!({"jti": "next"}).to_string().as_bytes());
            let input = format!("{header}.{payload}");
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&secret).unwrap();
            mac.update(input.as_bytes());
            let jwt = format!("{input}.{}", b64(&mac.finalize().into_bytes()));
            assert_eq!(verify_refresh(&jwt, &key, "next", NOW), Err(DbscError::UnsupportedAlg("HS256".into())));
        }
    }

    #[test]
    fn wrong_or_missing_typ_is_refused() {
        let sk = ec_key();
        for typ in [json!("jwt"), json!("JWT"), json!("dpop+jwt"), json!("application/dbsc+jwt")] {
            let jwt = es256(&sk, &json!({"alg": "ES256", "typ": typ, "jwk": ec_jwk(&sk)}), &json!({"jti": "c"}));
            assert_eq!(
                verify_registration(&jwt, "c", NOW),
                Err(DbscError::WrongTyp(Some(typ.as_str().unwrap().into())))
            );
        }
        let jwt = es256(&sk, &json!({"alg": "ES256", "jwk": ec_jwk(&sk)}), &json!({"jti": "c"}));
        assert_eq!(verify_registration(&jwt, "c", NOW), Err(DbscError::WrongTyp(None)));
        let jwt = es256(&sk, &json!({"alg": "ES256", "typ": 1, "jwk": ec_jwk(&sk)}), &json!({"jti": "c"}));
        assert!(malformed(JwtPart::Header)(&verify_registration(&jwt, "c", NOW).unwrap_err()));
    }

    #[test]
    fn crit_is_refused() {
        let sk = ec_key();
        let jwt = es256(
            &sk,
            &json!({"alg": "ES256", "typ": "dbsc+jwt", "jwk": ec_jwk(&sk), "crit": ["exp"]}),
            &json!({"jti": "c"}),
        );
        assert_eq!(verify_registration(&jwt, "c", NOW), Err(DbscError::UnsupportedCrit));
    }

    #[test]
    fn truncated_garbage_empty_and_huge_inputs_are_refused() {
        let key = es_bound();
        let jwt = es_registration(CHALLENGE);
        let (input, _) = jwt.rsplit_once('.').unwrap();
        let structure = malformed(JwtPart::Structure);
        assert_eq!(verify_registration("", "c", NOW), Err(DbscError::Empty));
        assert_eq!(verify_refresh("", &key, "c", NOW), Err(DbscError::Empty));
        assert!(structure(&verify_registration(input, CHALLENGE, NOW).unwrap_err()));
        assert!(structure(&verify_registration("garbage", CHALLENGE, NOW).unwrap_err()));
        assert!(structure(&verify_registration(&format!("{jwt}.extra"), CHALLENGE, NOW).unwrap_err()));
        assert!(malformed(JwtPart::Signature)(&verify_registration(&format!("{input}."), CHALLENGE, NOW).unwrap_err()));
        // Cut in the middle of the signature: decodes to a short signature.
        let cut = &jwt[..jwt.len() - 10];
        assert!(verify_registration(cut, CHALLENGE, NOW).is_err());
        assert!(malformed(JwtPart::Header)(&verify_registration("..", CHALLENGE, NOW).unwrap_err()));
        assert!(malformed(JwtPart::Header)(&verify_registration("a.b.c", CHALLENGE, NOW).unwrap_err()));
        // Valid base64url of something that is not JSON, or JSON that is not an object.
        for header in [b64(b"\x00\xff not json"), b64(b"[\"ES256\", \"dbsc+jwt\"]"), b64(b"\"ES256\"")] {
            let bad = format!("{header}.{}", &jwt[jwt.find('.').unwrap() + 1..]);
            assert!(malformed(JwtPart::Header)(&verify_registration(&bad, CHALLENGE, NOW).unwrap_err()));
        }
        let huge = format!("{jwt}{}", "A".repeat(MAX_PROOF_BYTES));
        assert_eq!(
            verify_registration(&huge, CHALLENGE, NOW),
            Err(DbscError::TooLarge { len: huge.len(), max: MAX_PROOF_BYTES })
        );
        assert!(matches!(verify_refresh(&huge, &key, CHALLENGE, NOW), Err(DbscError::TooLarge { .. })));
    }

    #[test]
    fn non_base64url_parts_are_refused() {
        let jwt = es_registration(CHALLENGE);
        let parts: Vec<&str> = jwt.split('.').collect();
        let std_b64 = |s: &str| s.replace('-', "+").replace('_', "/");
        let cases = [
            (format!("{}=.{}.{}", parts[0], parts[1], parts[2]), JwtPart::Header),
            (format!("{}.{}*.{}", parts[0], parts[1], parts[2]), JwtPart::Payload),
            (format!("{}.{}.{}==", parts[0], parts[1], parts[2]), JwtPart::Signature),
            (format!("{}.{}.{} ", parts[0], parts[1], parts[2]), JwtPart::Signature),
            (format!("{}.{}.{}", parts[0], parts[1], std_b64(parts[2]) + "+/"), JwtPart::Signature),
            (format!("é{}.{}.{}", parts[0], parts[1], parts[2]), JwtPart::Header),
        ];
        for (jwt, part) in cases {
            assert!(malformed(part)(&verify_registration(&jwt, CHALLENGE, NOW).unwrap_err()), "{jwt}");
        }
    }

    #[test]
    fn der_encoded_es256_signature_is_refused() {
        let jwt = es_refresh("next");
        let (input, sig_b64) = jwt.rsplit_once('.').unwrap();
        let raw = URL_SAFE_NO_PAD.decode(sig_b64).unwrap();
        let der = testkit::der_from_raw(&raw);
        let der_jwt = format!("{input}.{}", b64(&der));
        let err = verify_refresh(&der_jwt, &es_bound(), "next", NOW).unwrap_err();
        assert!(malformed(JwtPart::Signature)(&err));
        assert!(err.to_string().contains("DER is refused"), "{err}");
        // An RS256 signature one byte short.
        let rs = rs256(&json!({"alg": "RS256", "typ": "dbsc+jwt"}), &json!({"jti": "next"}));
        let (input, sig_b64) = rs.rsplit_once('.').unwrap();
        let mut sig = URL_SAFE_NO_PAD.decode(sig_b64).unwrap();
        sig.remove(0);
        let short = format!("{input}.{}", b64(&sig));
        assert!(malformed(JwtPart::Signature)(&verify_refresh(&short, &rs_bound(), "next", NOW).unwrap_err()));
    }

    #[test]
    fn duplicate_members_are_refused() {
        let sk = ec_key();
        let header = b64(json!({"alg": "ES256", "typ": "dbsc+jwt"}).to_string().as_bytes());
        let payload = b64(br#"{"jti":"next","jti":"other"}"#);
        let jwt = testkit::sign_es256(&sk, &format!("{header}.{payload}"));
        assert!(malformed(JwtPart::Payload)(&verify_refresh(&jwt, &es_bound(), "next", NOW).unwrap_err()));
        let header = b64(br#"{"alg":"ES256","alg":"none","typ":"dbsc+jwt"}"#);
        let jwt = testkit::sign_es256(&sk, &format!("{header}.{}", b64(br#"{"jti":"next"}"#)));
        assert!(malformed(JwtPart::Header)(&verify_refresh(&jwt, &es_bound(), "next", NOW).unwrap_err()));
    }

    #[test]
    fn iat_when_present_must_be_recent() {
        let key = es_bound();
        let with_iat = |iat: serde_json::Value| {
            es256(&ec_key(), &json!({"alg": "ES256", "typ": "dbsc+jwt"}), &json!({"jti": "n", "iat": iat}))
        };
        assert_eq!(verify_refresh(&with_iat(json!(NOW)), &key, "n", NOW), Ok(()));
        assert_eq!(verify_refresh(&with_iat(json!(NOW - MAX_PROOF_AGE_SECS)), &key, "n", NOW), Ok(()));
        assert_eq!(verify_refresh(&with_iat(json!(NOW + MAX_CLOCK_SKEW_SECS)), &key, "n", NOW), Ok(()));
        assert_eq!(
            verify_refresh(&with_iat(json!(NOW - 301)), &key, "n", NOW),
            Err(DbscError::ProofTooOld { iat: NOW - 301, age: 301, max: MAX_PROOF_AGE_SECS })
        );
        assert_eq!(
            verify_refresh(&with_iat(json!(NOW + 61)), &key, "n", NOW),
            Err(DbscError::IssuedInFuture { iat: NOW + 61, ahead: 61, max: MAX_CLOCK_SKEW_SECS })
        );
        for bad in [json!("1780000000"), json!(1.5), json!(1e300), json!(u64::MAX), json!([1])] {
            let err = verify_refresh(&with_iat(bad.clone()), &key, "n", NOW).unwrap_err();
            assert!(malformed(JwtPart::Payload)(&err), "{bad}: {err}");
        }
        // `"iat": null` reads as no iat, like a missing one.
        assert_eq!(verify_refresh(&with_iat(json!(null)), &key, "n", NOW), Ok(()));
        assert!(matches!(
            verify_refresh(&with_iat(json!(i64::MIN)), &key, "n", i64::MAX),
            Err(DbscError::ProofTooOld { .. })
        ));
    }

    #[test]
    fn unverified_challenge_reads_jti_of_well_formed_proofs_only() {
        assert_eq!(unverified_challenge(&es_refresh("abc")), Ok("abc".into()));
        let no_jti = es256(&ec_key(), &json!({"alg": "ES256", "typ": "dbsc+jwt"}), &json!({}));
        assert_eq!(unverified_challenge(&no_jti), Err(DbscError::MissingChallenge));
        let header = b64(json!({"alg": "none", "typ": "dbsc+jwt"}).to_string().as_bytes());
        let payload = b64(json!({"jti": "abc"}).to_string().as_bytes());
        assert_eq!(
            unverified_challenge(&format!("{header}.{payload}.")),
            Err(DbscError::UnsupportedAlg("none".into()))
        );
    }

    #[test]
    fn error_messages_say_what_was_wrong() {
        let header = b64(json!({"alg": "x".repeat(100), "typ": "dbsc+jwt"}).to_string().as_bytes());
        let err = verify_registration(&format!("{header}.e30.AAAA"), "c", NOW).unwrap_err();
        assert!(err.to_string().starts_with("unsupported JWT alg \"xxxx"), "{err}");
        assert!(err.to_string().len() < 100, "{err}");
        assert_eq!(
            DbscError::WrongTyp(Some("jwt".into())).to_string(),
            "wrong JWT typ Some(\"jwt\"): expected \"dbsc+jwt\""
        );
    }

    proptest! {
        #[test]
        fn verify_never_panics_on_arbitrary_strings(s in ".{0,300}", challenge in ".{0,20}", now in any::<i64>()) {
            let key = es_bound();
            let _ = verify_registration(&s, &challenge, now);
            let _ = verify_refresh(&s, &key, &challenge, now);
            let _ = unverified_challenge(&s);
        }

        #[test]
        fn verify_never_panics_on_three_arbitrary_parts(
            h in proptest::collection::vec(any::<u8>(), 0..200),
            p in proptest::collection::vec(any::<u8>(), 0..200),
            s in proptest::collection::vec(any::<u8>(), 0..300),
            now in any::<i64>(),
        ) {
            let jwt = format!("{}.{}.{}", b64(&h), b64(&p), b64(&s));
            let _ = verify_registration(&jwt, "c", now);
            let _ = verify_refresh(&jwt, &es_bound(), "c", now);
            let _ = verify_refresh(&jwt, &rs_bound(), "c", now);
        }

        #[test]
        fn verify_never_panics_on_valid_headers_with_arbitrary_payloads(
            payload in "\\{.{0,200}",
            sig in proptest::collection::vec(any::<u8>(), 0..600),
            rsa in any::<bool>(),
            now in any::<i64>(),
        ) {
            let alg = if rsa { "RS256" } else { "ES256" };
            let header = json!({"alg": alg, "typ": "dbsc+jwt", "jwk": if rsa { rsa_jwk() } else { ec_jwk(&ec_key()) }});
            let jwt = format!("{}.{}.{}", b64(header.to_string().as_bytes()), b64(payload.as_bytes()), b64(&sig));
            let _ = verify_registration(&jwt, "c", now);
            let _ = verify_refresh(&jwt, &es_bound(), "c", now);
            let _ = verify_refresh(&jwt, &rs_bound(), "c", now);
        }

        #[test]
        fn signed_proofs_with_any_iat_and_clock_never_panic(iat in any::<i64>(), now in any::<i64>()) {
            let jwt = es256(&ec_key(), &json!({"alg": "ES256", "typ": "dbsc+jwt"}), &json!({"jti": "n", "iat": iat}));
            let _ = verify_refresh(&jwt, &es_bound(), "n", now);
        }
    }
}
