//! Test-only stand-ins for the browser: software keys (a P-256 key from a fixed seed, an RSA
//! 2048 key generated once per test binary from a fixed seed) that sign `dbsc+jwt` proofs the
//! way Chrome does, raw `r||s` for ES256.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer as _;
use rand::SeedableRng;
use rsa::RsaPrivateKey;
use rsa::signature::{SignatureEncoding as _, Signer as _};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn ec_key() -> SigningKey {
    SigningKey::from_slice(&[0x42; 32]).unwrap()
}

pub fn ec_key_2() -> SigningKey {
    SigningKey::from_slice(&[0x17; 32]).unwrap()
}

pub fn ec_jwk(sk: &SigningKey) -> Value {
    let point = sk.verifying_key().to_sec1_point(false);
    let bytes = point.as_bytes();
    json!({"kty": "EC", "crv": "P-256", "x": b64(&bytes[1..33]), "y": b64(&bytes[33..65])})
}

pub fn rsa_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0xdb5c);
        RsaPrivateKey::new(&mut rng, 2048).unwrap()
    })
}

pub fn rsa_jwk() -> Value {
    let key = rsa_key();
    json!({"kty": "RSA", "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be())})
}

/// `header.payload.signature`, ES256 over the given JSON.
pub fn es256(sk: &SigningKey, header: &Value, payload: &Value) -> String {
    sign_es256(sk, &format!("{}.{}", b64(header.to_string().as_bytes()), b64(payload.to_string().as_bytes())))
}

/// Appends an ES256 signature (JWS `r||s`) to an already encoded `header.payload`.
pub fn sign_es256(sk: &SigningKey, input: &str) -> String {
    let sig: p256::ecdsa::Signature = sk.sign(input.as_bytes());
    format!("{input}.{}", b64(&sig.to_bytes()))
}

/// `header.payload.signature`, RS256 with [`rsa_key`].
pub fn rs256(header: &Value, payload: &Value) -> String {
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(payload.to_string().as_bytes()));
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(rsa_key().clone());
    let sig = signer.sign(input.as_bytes());
    format!("{input}.{}", b64(&sig.to_vec()))
}

/// The DER (X9.62 `SEQUENCE { INTEGER r, INTEGER s }`) form of a raw 64-byte ECDSA signature,
/// as a TPM returns it before the JWS conversion.
pub fn der_from_raw(raw: &[u8]) -> Vec<u8> {
    fn integer(bytes: &[u8]) -> Vec<u8> {
        let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len() - 1);
        let mut body = bytes[first..].to_vec();
        if body[0] & 0x80 != 0 {
            body.insert(0, 0);
        }
        let mut out = vec![0x02, body.len() as u8];
        out.extend(body);
        out
    }
    let mut body = integer(&raw[..32]);
    body.extend(integer(&raw[32..]));
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}
