//! Device Bound Session Credentials (`vigie-dbsc`): the `dbsc+jwt` proofs a browser sends when
//! it binds a session and when it refreshes one, the response and session-id headers, and a bound
//! key's stored bytes. All come from the client (or the store) and must be refused cleanly.
//!
//! Input: `mode | rest`. Mode bit 0: `rest` is `header JSON \n claims JSON`, which the harness
//! encodes and signs with a fixed P-256 key (ES256), so that the key, the claims and their checks
//! behind the signature are reached; otherwise `rest` is the proof text as sent. Properties:
//! nothing panics; a key that a registration returns round-trips through its stored bytes; a
//! proof that registers a key also refreshes with it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer as _;
use vigie_dbsc::{
    BoundKey, parse_response_header, parse_session_id_header, unverified_challenge, verify_refresh, verify_registration,
};

/// The challenge the proofs must carry, and "now" for their `iat`.
pub const CHALLENGE: &str = "fuzz-challenge-0123456789abcdef";
pub const NOW: i64 = 1_780_272_000;

/// The browser's key in the harness.
pub fn browser_key() -> SigningKey {
    SigningKey::from_slice(&[0x42; 32]).expect("a valid P-256 scalar")
}

/// The browser key's public JWK, as a `jwk` header member.
pub fn browser_jwk() -> String {
    let point = browser_key().verifying_key().to_sec1_point(false);
    let bytes = point.as_bytes();
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    format!(r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}}"#, b64(&bytes[1..33]), b64(&bytes[33..65]))
}

/// `header.claims.signature`, ES256 with [`browser_key`].
pub fn sign(header: &[u8], claims: &[u8]) -> String {
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
    let signature: p256::ecdsa::Signature = browser_key().sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let jwt = if mode & 1 != 0 {
        let (header, claims) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &b""[..]),
        };
        sign(header, claims)
    } else {
        String::from_utf8_lossy(rest).into_owned()
    };
    let _ = unverified_challenge(&jwt);
    let _ = parse_response_header(&jwt);
    let _ = parse_session_id_header(&jwt);
    if let Ok(key) = verify_registration(&jwt, CHALLENGE, NOW) {
        let bytes = key.to_bytes();
        assert_eq!(BoundKey::from_bytes(&bytes).as_ref(), Ok(&key), "a bound key round-trips through its bytes");
        let _ = key.thumbprint();
        assert!(verify_refresh(&jwt, &key, CHALLENGE, NOW).is_ok(), "a registration proof also proves the key");
    }
    if let Ok(key) = BoundKey::from_bytes(rest) {
        assert_eq!(BoundKey::from_bytes(&key.to_bytes()).as_ref(), Ok(&key));
        let _ = verify_refresh(&jwt, &key, CHALLENGE, NOW);
    }
}
