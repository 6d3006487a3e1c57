//! Identifiers, parsed once at the boundary. Nothing deeper in Vigie takes a raw string id.
//!
//! Internal ids (`PersonId`, `AgentId`, `OrgId`, `TeamId`) are positive 64-bit integers printed
//! with a one-letter prefix (`P123`, `A45`, `O6`, `T7`) so that an id of one kind pasted where
//! another is expected is refused instead of silently meaning something else.

use std::fmt;
use std::str::FromStr;

/// Why a string is not a valid identifier of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} must be {expected}")]
pub struct IdError {
    pub kind: &'static str,
    pub expected: &'static str,
}

macro_rules! internal_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub struct $name(u64);

        impl $name {
            pub const PREFIX: char = $prefix;
            /// Builds the id from its number; 0 is not a valid id.
            pub fn new(n: u64) -> Option<Self> {
                (n > 0 && n <= i64::MAX as u64).then_some(Self(n))
            }
            pub fn get(self) -> u64 {
                self.0
            }
            /// The value stored in SQL columns (always positive, fits in i64).
            pub fn as_i64(self) -> i64 {
                self.0 as i64
            }
            pub fn from_i64(n: i64) -> Option<Self> {
                u64::try_from(n).ok().and_then(Self::new)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                const ERR: IdError = IdError {
                    kind: $kind,
                    expected: concat!("'", $prefix, "' followed by a positive number without leading zeros, e.g. ", $prefix, "42"),
                };
                let digits = s.strip_prefix($prefix).ok_or(ERR)?;
                if digits.is_empty() || digits.len() > 18 || digits.starts_with('0')
                    || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ERR);
                }
                digits.parse::<u64>().ok().and_then(Self::new).ok_or(ERR)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, self.0)
            }
        }
    };
}

internal_id!(
    /// A data subject's internal id. Never derived from the NIR.
    PersonId, 'P', "a person id");
internal_id!(
    /// An account.
    AgentId, 'A', "an agent id");
internal_id!(
    /// A partner or agency organization.
    OrgId, 'O', "an organization id");
internal_id!(
    /// A team of advisors inside an organization (advisors reach their team's caseloads).
    TeamId, 'T', "a team id");
internal_id!(
    /// A training session of a training organization.
    SessionGroupId, 'S', "a training session id");
internal_id!(
    /// An incident under investigation (breach scoping and notification).
    IncidentId, 'I', "an incident id");

/// France Travail identifier: 7 digits followed by one uppercase letter (e.g. `1234567A`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FtId([u8; 8]);

impl FtId {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl FromStr for FtId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        const ERR: IdError = IdError {
            kind: "a France Travail identifier",
            expected: "7 digits followed by an uppercase letter, e.g. 1234567A",
        };
        let b = s.as_bytes();
        if b.len() != 8 || !b[..7].iter().all(u8::is_ascii_digit) || !b[7].is_ascii_uppercase() {
            return Err(ERR);
        }
        let mut raw = [0u8; 8];
        raw.copy_from_slice(b);
        Ok(FtId(raw))
    }
}

impl fmt::Display for FtId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for FtId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FtId(•••••••{})", self.0[7] as char)
    }
}

/// An account's sign-in name: 3 to 64 characters of lowercase letters, digits, `.`, `-`, `_`, `@`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Login(String);

impl Login {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Login {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let ok = (3..=64).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-_@".contains(&b));
        if ok {
            Ok(Login(s.to_owned()))
        } else {
            Err(IdError { kind: "a login", expected: "3 to 64 characters among a-z, 0-9, '.', '-', '_' and '@'" })
        }
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A request's id, chosen by the server (not the client), carried into the ledger.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct RequestId(pub u128);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// A server-side session's public id (not its secret token; the token is never stored).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SessionId(pub u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_ids_parse_with_their_prefix_only() {
        assert_eq!("P42".parse::<PersonId>().unwrap().get(), 42);
        assert!("A42".parse::<PersonId>().is_err());
        for bad in ["P", "P0", "P042", "P-1", "P1.5", "p42", "P99999999999999999999", " P4", "P4 "] {
            assert!(bad.parse::<PersonId>().is_err(), "{bad}");
        }
        assert_eq!(PersonId::new(7).unwrap().to_string(), "P7");
        assert!(PersonId::new(0).is_none());
        assert!(PersonId::new(u64::MAX).is_none());
    }

    #[test]
    fn ft_ids_and_logins() {
        assert_eq!("1234567A".parse::<FtId>().unwrap().as_str(), "1234567A");
        for bad in ["1234567", "1234567a", "123456AA", "12345678A", "１234567A"] {
            assert!(bad.parse::<FtId>().is_err(), "{bad}");
        }
        assert!("c.martin@agence-lyon".parse::<Login>().is_ok());
        for bad in ["ab", "Admin", "a b c", "x'; drop", &"a".repeat(65)] {
            assert!(bad.parse::<Login>().is_err(), "{bad}");
        }
    }
}
