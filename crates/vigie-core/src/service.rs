//! Service accounts: a partner software's integration, which reads at a machine's steady pace
//! and cannot answer a step-up (nobody is at a keyboard). Such an account gets its own ladder:
//! it proves itself with a key it holds (a signed client assertion, RFC 7523, or a TLS client
//! certificate) rather than a password or a cookie an infostealer could lift, it declares the
//! volume it reads (its envelope, approved with the account), and the detector throttles it
//! beyond that envelope and alerts, never asking it for a step-up it cannot give.
//!
//! [`ServiceAccount::new`] refuses an account without a bound key, or with an envelope that is
//! empty or absurd: a service account is defined by its key and its envelope.

use crate::ids::AgentId;

/// The key a service account's credentials are bound to.
#[derive(Clone, PartialEq, Eq)]
pub enum BoundKey {
    /// Client assertions (RFC 7523 `private_key_jwt`) signed with this key: an ES256 public key
    /// as an uncompressed SEC1 point (65 bytes, `0x04 ‖ x ‖ y`).
    ClientAssertionEs256 { public_key: Vec<u8> },
    /// Mutual TLS (RFC 8705): the SHA-256 thumbprint of the client certificate, checked by the
    /// TLS-terminating proxy and passed on.
    TlsCertificate { sha256: [u8; 32] },
}

impl std::fmt::Debug for BoundKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BoundKey::ClientAssertionEs256 { public_key } => {
                write!(f, "ClientAssertionEs256({} bytes)", public_key.len())
            }
            BoundKey::TlsCertificate { sha256 } => write!(f, "TlsCertificate({:02x}{:02x}…)", sha256[0], sha256[1]),
        }
    }
}

impl BoundKey {
    pub fn kind(&self) -> &'static str {
        match self {
            BoundKey::ClientAssertionEs256 { .. } => "client_assertion_es256",
            BoundKey::TlsCertificate { .. } => "tls_certificate",
        }
    }
}

/// What a service account declared it reads: distinct persons per hour and per day. Beyond
/// it, the detector throttles new persons and alerts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Envelope {
    pub persons_hour: u32,
    pub persons_day: u32,
}

/// A service account, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceAccount {
    pub agent: AgentId,
    pub key: BoundKey,
    pub envelope: Envelope,
}

/// Why a service account is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ServiceAccountError {
    #[error(
        "key: a service account needs a bound key (a client assertion key or a TLS client certificate): it never signs in with a password"
    )]
    NoBoundKey,
    #[error("key: an ES256 public key is an uncompressed point of 65 bytes starting with 0x04, got {0} bytes")]
    BadKey(usize),
    #[error("envelope: persons_hour and persons_day must be positive")]
    EmptyEnvelope,
    #[error("envelope: persons_hour ({0}) cannot exceed persons_day ({1})")]
    HourOverDay(u32, u32),
    #[error("envelope: persons_day {0} is absurd (at most {MAX_ENVELOPE_DAY}); a bulk transfer is an approved extract")]
    TooLarge(u32),
}

/// The largest daily envelope: beyond it the need is a governed bulk extract, not an API.
pub const MAX_ENVELOPE_DAY: u32 = 100_000;

impl ServiceAccount {
    pub fn new(
        agent: AgentId,
        key: Option<BoundKey>,
        envelope: Envelope,
    ) -> Result<ServiceAccount, ServiceAccountError> {
        let key = key.ok_or(ServiceAccountError::NoBoundKey)?;
        if let BoundKey::ClientAssertionEs256 { public_key } = &key
            && (public_key.len() != 65 || public_key[0] != 0x04)
        {
            return Err(ServiceAccountError::BadKey(public_key.len()));
        }
        if envelope.persons_hour == 0 || envelope.persons_day == 0 {
            return Err(ServiceAccountError::EmptyEnvelope);
        }
        if envelope.persons_hour > envelope.persons_day {
            return Err(ServiceAccountError::HourOverDay(envelope.persons_hour, envelope.persons_day));
        }
        if envelope.persons_day > MAX_ENVELOPE_DAY {
            return Err(ServiceAccountError::TooLarge(envelope.persons_day));
        }
        Ok(ServiceAccount { agent, key, envelope })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent() -> AgentId {
        AgentId::new(9).unwrap()
    }

    fn es256() -> BoundKey {
        let mut k = vec![0x04];
        k.extend([7u8; 64]);
        BoundKey::ClientAssertionEs256 { public_key: k }
    }

    #[test]
    fn a_key_bound_account_with_an_envelope_is_accepted() {
        let env = Envelope { persons_hour: 40, persons_day: 300 };
        let s = ServiceAccount::new(agent(), Some(es256()), env).unwrap();
        assert_eq!(s.envelope, env);
        assert!(ServiceAccount::new(agent(), Some(BoundKey::TlsCertificate { sha256: [1; 32] }), env).is_ok());
        assert_eq!(format!("{:?}", es256()), "ClientAssertionEs256(65 bytes)");
    }

    #[test]
    fn refusals_name_the_problem() {
        let env = Envelope { persons_hour: 40, persons_day: 300 };
        let cases = [
            (ServiceAccount::new(agent(), None, env), "key: a service account needs a bound key"),
            (
                ServiceAccount::new(agent(), Some(BoundKey::ClientAssertionEs256 { public_key: vec![4; 33] }), env),
                "key: an ES256 public key is an uncompressed point of 65 bytes",
            ),
            (
                ServiceAccount::new(agent(), Some(es256()), Envelope { persons_hour: 0, persons_day: 10 }),
                "envelope: persons_hour and persons_day must be positive",
            ),
            (
                ServiceAccount::new(agent(), Some(es256()), Envelope { persons_hour: 50, persons_day: 10 }),
                "envelope: persons_hour (50) cannot exceed persons_day (10)",
            ),
            (
                ServiceAccount::new(agent(), Some(es256()), Envelope { persons_hour: 50, persons_day: 200_000 }),
                "envelope: persons_day 200000 is absurd",
            ),
        ];
        for (got, want) in cases {
            let e = got.unwrap_err().to_string();
            assert!(e.starts_with(want), "{e} (wanted {want})");
        }
    }
}
