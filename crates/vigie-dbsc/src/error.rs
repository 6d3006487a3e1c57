//! What can be wrong with a proof, a header or a stored key. Every message says which check
//! failed, so a refusal in the logs can be explained without the proof at hand; the
//! attacker-supplied parts quoted in messages are truncated.

use std::fmt;

/// The part of a compact JWS a [`DbscError::Malformed`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtPart {
    /// The `header.payload.signature` shape itself.
    Structure,
    /// The protected header.
    Header,
    /// The claims.
    Payload,
    /// The signature.
    Signature,
}

impl fmt::Display for JwtPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JwtPart::Structure => "structure",
            JwtPart::Header => "header",
            JwtPart::Payload => "payload",
            JwtPart::Signature => "signature",
        })
    }
}

/// Why a DBSC proof, header value or stored key was refused. On the session path any of these
/// means the refresh (or registration) fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbscError {
    #[error("empty proof")]
    Empty,
    #[error("proof is {len} bytes, over the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("malformed JWT {part}: {detail}")]
    Malformed { part: JwtPart, detail: String },
    #[error("unsupported JWT alg {0:?}: only ES256 and RS256 are accepted")]
    UnsupportedAlg(String),
    #[error("wrong JWT typ {0:?}: expected \"dbsc+jwt\"")]
    WrongTyp(Option<String>),
    #[error("JWT header has a \"crit\" parameter; no JWS extension is understood here")]
    UnsupportedCrit,
    #[error("registration proof carries no public key (neither a \"jwk\" header nor a \"key\" claim)")]
    MissingKey,
    #[error("unusable public key: {0}")]
    BadKey(&'static str),
    #[error("JWT alg {alg} does not fit a {key} key")]
    KeyAlgMismatch { alg: &'static str, key: &'static str },
    #[error("key mismatch: {0}")]
    KeyMismatch(&'static str),
    #[error("proof has no jti (the server's challenge)")]
    MissingChallenge,
    #[error("proof jti is not the expected challenge")]
    WrongChallenge,
    #[error("proof signature does not verify")]
    BadSignature,
    #[error("proof iat {iat} is {age} s old, over the {max} s limit")]
    ProofTooOld { iat: i64, age: i64, max: i64 },
    #[error("proof iat {iat} is {ahead} s in the future, over the {max} s allowed clock skew")]
    IssuedInFuture { iat: i64, ahead: i64, max: i64 },
    #[error("challenge unknown, expired or already used")]
    ChallengeUnknownOrReused,
    #[error("stored bound key is unreadable: {0}")]
    StoredKey(&'static str),
    #[error("cannot write header value: {0}")]
    HeaderValue(&'static str),
    #[error("malformed request header: {0}")]
    BadHeader(&'static str),
}

impl DbscError {
    pub(crate) fn malformed(part: JwtPart, detail: impl Into<String>) -> Self {
        DbscError::Malformed { part, detail: truncate(&detail.into(), 120) }
    }
}

/// At most `max` characters of attacker-controlled text, so an error message stays a line.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_part_and_truncate() {
        let e = DbscError::malformed(JwtPart::Payload, "x".repeat(500));
        let msg = e.to_string();
        assert!(msg.starts_with("malformed JWT payload: xxx"));
        assert!(msg.chars().count() < 160);
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "abc…");
    }
}
