//! Password hashing with Argon2id at OWASP's recommended parameters.
//!
//! m = 19 MiB, t = 2, p = 1 (OWASP Password Storage Cheat Sheet, first recommended set): about
//! 20-40 ms on this class of machine, which bounds offline guessing and, with the throttle in
//! front, online guessing. Hashes are PHC strings, so parameters can be raised later and old
//! hashes still verify.

use std::fmt;

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// A secret string (password) that never prints itself.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(••••)")
    }
}

/// A PHC-format Argon2id hash.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(••••)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("a password must have at least 12 characters")]
    TooShort,
    #[error("a password must have at most 256 characters")]
    TooLong,
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// OWASP's Argon2id parameters (see the module doc for why).
pub const M_COST_KIB: u32 = 19 * 1024;
pub const T_COST: u32 = 2;
pub const P_COST: u32 = 1;

fn argon2() -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password with a caller-supplied random salt (16 bytes from the OS, in the adapter).
pub fn hash_password(password: &Secret, salt: &[u8; 16]) -> Result<PasswordHash, PasswordError> {
    let len = password.0.chars().count();
    if len < 12 {
        return Err(PasswordError::TooShort);
    }
    if password.0.len() > 256 {
        return Err(PasswordError::TooLong);
    }
    let salt = SaltString::encode_b64(salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    let hash = argon2()?.hash_password(password.0.as_bytes(), &salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(PasswordHash(hash.to_string()))
}

/// Verifies a password against a PHC hash in constant time. A malformed hash verifies nothing.
pub fn verify_password(hash: &PasswordHash, password: &Secret) -> bool {
    if password.0.len() > 256 {
        return false;
    }
    let Ok(parsed) = argon2::password_hash::PasswordHash::new(&hash.0) else {
        return false;
    };
    let Ok(a) = argon2() else {
        return false;
    };
    a.verify_password(password.0.as_bytes(), &parsed).is_ok()
}

/// A fixed hash to verify against when the account does not exist, so that an unknown login
/// costs the same time as a wrong password and timing does not reveal which accounts exist.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$dmlnaWUtZHVtbXktc2FsdA$r0mRDeBCP3OFmhPbqv9L4SNAfRMxI6ho9FN1sALL9xI";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let pw = Secret::new("correct horse battery staple");
        let h = hash_password(&pw, &[7u8; 16]).unwrap();
        assert!(h.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password(&h, &pw));
        assert!(!verify_password(&h, &Secret::new("correct horse battery stapl")));
        assert!(!verify_password(&PasswordHash("garbage".into()), &pw));
        assert!(format!("{pw:?} {h:?}").contains("••••"));
        assert!(!format!("{pw:?}").contains("horse"));
    }

    #[test]
    fn policy_on_length() {
        assert!(matches!(hash_password(&Secret::new("short"), &[0; 16]), Err(PasswordError::TooShort)));
        assert!(matches!(hash_password(&Secret::new("x".repeat(300)), &[0; 16]), Err(PasswordError::TooLong)));
    }

    #[test]
    fn dummy_hash_is_well_formed_and_matches_nothing_likely() {
        let h = PasswordHash(DUMMY_HASH.to_owned());
        assert!(argon2::password_hash::PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify_password(&h, &Secret::new("password1234")));
    }
}
