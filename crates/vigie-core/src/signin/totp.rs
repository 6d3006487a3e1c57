//! TOTP (RFC 6238) with HMAC-SHA1, 30-second steps and 6 digits, the parameters every
//! authenticator app and `oathtool --totp` use by default.
//!
//! A code is accepted for the current step or one step either side (clock drift), and only for
//! a step later than the last one accepted for the account: the caller stores that step, so a
//! code cannot be replayed even within its validity window.

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// RFC 6238 time step.
pub const STEP_SECONDS: i64 = 30;
/// Steps accepted either side of now.
pub const DRIFT_STEPS: i64 = 1;

/// A TOTP shared secret (20 bytes, the HMAC-SHA1 block recommendation of RFC 4226).
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl TotpSecret {
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        (16..=64).contains(&bytes.len()).then(|| TotpSecret(bytes.to_vec()))
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    /// RFC 4648 base32 without padding, as authenticator apps and `oathtool -b` expect.
    pub fn to_base32(&self) -> String {
        base32_encode(&self.0)
    }
    /// The `otpauth://` URI that authenticator apps import (as a QR code or pasted).
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits=6&period=30",
            pct(issuer),
            pct(account),
            self.to_base32(),
            pct(issuer)
        )
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(••••)")
    }
}

/// A 6-digit code as typed by the user (spaces tolerated).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TotpCode(u32);

impl fmt::Debug for TotpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpCode(••••••)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a TOTP code is 6 digits")]
pub struct TotpCodeError;

impl FromStr for TotpCode {
    type Err = TotpCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits: Vec<u8> = s.bytes().filter(|b| *b != b' ').collect();
        if digits.len() != 6 || !digits.iter().all(u8::is_ascii_digit) {
            return Err(TotpCodeError);
        }
        Ok(TotpCode(digits.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))))
    }
}

/// HOTP value (RFC 4226) for `counter`, truncated to `digits` digits.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return u32::MAX; // HMAC accepts any key length; never a valid code anyway.
    };
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h[19] & 0x0f);
    let bin = (u32::from(h[offset]) & 0x7f) << 24
        | u32::from(h[offset + 1]) << 16
        | u32::from(h[offset + 2]) << 8
        | u32::from(h[offset + 3]);
    bin % 10u32.pow(digits)
}

/// The step number at Unix time `unix_seconds`.
pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// Checks `code` at `unix_seconds`, refusing any step ≤ `last_used_step`. Returns the matched
/// step, which the caller must record (atomically) before treating the code as accepted.
pub fn verify(secret: &TotpSecret, code: TotpCode, unix_seconds: i64, last_used_step: Option<i64>) -> Option<i64> {
    let now = step_at(unix_seconds);
    let mut matched = None;
    // Check every candidate step, without early exit, so timing does not tell which matched.
    for step in (now - DRIFT_STEPS)..=(now + DRIFT_STEPS) {
        let Ok(counter) = u64::try_from(step) else {
            continue;
        };
        let expected = hotp(&secret.0, counter, 6);
        let ok: bool = expected.to_be_bytes().ct_eq(&code.0.to_be_bytes()).into();
        if ok && last_used_step.is_none_or(|last| step > last) && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

/// The current code (for tests, the demo printout and the simulator's agents).
pub fn code_at(secret: &TotpSecret, unix_seconds: i64) -> String {
    format!("{:06}", hotp(&secret.0, step_at(unix_seconds).max(0) as u64, 6))
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn base32_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in data {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(B32[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(B32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes RFC 4648 base32 (case-insensitive, padding and spaces ignored).
pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in s.bytes().filter(|c| *c != b'=' && *c != b' ') {
        let v = B32.iter().position(|x| *x == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            out.push((buffer >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    Some(out)
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows (8 digits), seed "12345678901234567890".
    #[test]
    fn rfc6238_vectors() {
        let seed = b"12345678901234567890";
        for (t, expected) in [
            (59i64, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(hotp(seed, step_at(t) as u64, 8), expected, "t={t}");
        }
    }

    /// RFC 4226 Appendix D.
    #[test]
    fn rfc4226_vectors() {
        let seed = b"12345678901234567890";
        let expected = [755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489];
        for (c, e) in expected.iter().enumerate() {
            assert_eq!(hotp(seed, c as u64, 6), *e);
        }
    }

    #[test]
    fn replay_and_drift() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890").unwrap();
        let t = 1_700_000_000;
        let code: TotpCode = code_at(&secret, t).parse().unwrap();
        let step = verify(&secret, code, t, None).unwrap();
        assert_eq!(step, step_at(t));
        assert_eq!(verify(&secret, code, t, Some(step)), None, "replay refused");
        assert!(verify(&secret, code, t + 30, None).is_some(), "one step of drift accepted");
        assert!(verify(&secret, code, t + 90, None).is_none(), "three steps later refused");
        let other: TotpCode =
            format!("{:06}", (hotp(secret.as_bytes(), step as u64, 6) + 1) % 1_000_000).parse().unwrap();
        assert!(verify(&secret, other, t, None).is_none() || other == code);
    }

    #[test]
    fn base32_round_trip_and_rfc4648_vectors() {
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_encode(b"f"), "MY");
        assert_eq!(base32_decode("MZXW6YTBOI======").unwrap(), b"foobar");
        let s = TotpSecret::from_bytes(&[0xAB; 20]).unwrap();
        assert_eq!(base32_decode(&s.to_base32()).unwrap(), s.as_bytes());
        assert!(base32_decode("M1").is_none());
        assert!(s.otpauth_uri("Vigie", "c.martin@agence").starts_with("otpauth://totp/Vigie:c.martin@agence?secret="));
    }

    #[test]
    fn codes_parse_strictly() {
        assert!("123 456".parse::<TotpCode>().is_ok());
        for bad in ["", "12345", "1234567", "12345a", "１２３４５６"] {
            assert!(bad.parse::<TotpCode>().is_err(), "{bad}");
        }
    }
}
