//! Session tokens: 32 random bytes (from the OS, in the adapter), shown once to the client as
//! base64url, stored only as their SHA-256 so a stolen database copy opens no session.

use std::fmt;

use sha2::{Digest, Sha256};

/// The secret half of a session, as handed to the client.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    pub fn from_random(bytes: [u8; 32]) -> Self {
        SessionToken(b64url(&bytes))
    }

    /// Accepts a token presented by a client: exactly 43 base64url characters.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 43 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            .then(|| SessionToken(s.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps and looks up.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(••••)")
    }
}

fn b64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_chars_and_parse_back() {
        let t = SessionToken::from_random([0xfb; 32]);
        assert_eq!(t.expose().len(), 43);
        assert_eq!(SessionToken::parse(t.expose()), Some(t.clone()));
        assert!(SessionToken::parse("short").is_none());
        assert!(SessionToken::parse(&"+".repeat(43)).is_none());
        assert_ne!(t.hash(), SessionToken::from_random([0xfa; 32]).hash());
        assert_eq!(b64url(b"foob"), "Zm9vYg");
    }
}
