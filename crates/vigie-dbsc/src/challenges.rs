//! Outstanding DBSC challenges: issued with an expiry, each good for one proof. Bounded, so a
//! flood of issued-but-unused challenges costs a fixed amount of memory.

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::DbscError;
use crate::key::BoundKey;
use crate::proof::{unverified_challenge, verify_refresh, verify_registration};

/// Single-use challenges with an expiry, in memory. Not `Sync`-shared by itself: put it behind
/// the caller's `Mutex`, so that check-and-consume is one critical section.
pub struct Challenges {
    capacity: usize,
    ttl_secs: i64,
    /// challenge → (expiry, sequence number); the key of its entry in `by_expiry`.
    live: HashMap<String, (i64, u64)>,
    /// Oldest expiry first, for purging and for evicting when full.
    by_expiry: BTreeMap<(i64, u64), String>,
    next_seq: u64,
}

impl Challenges {
    /// How long a challenge stays good. The browser may keep a challenge it was given on one
    /// refresh and sign it only when the bound cookie next runs out, so this must exceed the
    /// cookie's lifetime (Vigie's is 300 s) plus TPM and network latency; 600 s does.
    pub const DEFAULT_TTL_SECS: i64 = 600;
    /// How many challenges may be outstanding. At most about two per bound session live at once
    /// (the one being answered and the next), so this covers tens of thousands of sessions in a
    /// few megabytes.
    pub const DEFAULT_CAPACITY: usize = 65_536;

    /// A store holding at most `capacity` (at least 1) challenges, each good for `ttl_secs`.
    pub fn new(capacity: usize, ttl_secs: i64) -> Self {
        Challenges {
            capacity: capacity.max(1),
            ttl_secs,
            live: HashMap::new(),
            by_expiry: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// A new challenge from 32 random bytes (the caller's CSPRNG), as unpadded base64url (43
    /// characters, safe in a header and a JWT). When the store is full, the challenge closest to
    /// expiry is dropped for it: an old unused challenge is worth less than a new one.
    pub fn issue(&mut self, now_unix: i64, random: &[u8; 32]) -> String {
        self.purge(now_unix);
        let challenge = URL_SAFE_NO_PAD.encode(random);
        self.remove(&challenge);
        while self.live.len() >= self.capacity {
            match self.by_expiry.pop_first() {
                Some((_, oldest)) => {
                    self.live.remove(&oldest);
                }
                None => break,
            }
        }
        let entry = (now_unix.saturating_add(self.ttl_secs), self.next_seq);
        self.next_seq = self.next_seq.wrapping_add(1);
        self.live.insert(challenge.clone(), entry);
        self.by_expiry.insert(entry, challenge.clone());
        challenge
    }

    /// Uses up `challenge`: true the first time, while it is unexpired; false if it was never
    /// issued, has expired, was evicted or was already used.
    pub fn consume(&mut self, challenge: &str, now_unix: i64) -> bool {
        self.purge(now_unix);
        match self.remove(challenge) {
            Some((expires, _)) => now_unix < expires,
            None => false,
        }
    }

    /// Number of outstanding challenges (some may be expired but not yet purged).
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// True when no challenge is outstanding.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Checks a registration proof against whichever outstanding challenge it signed, then uses
    /// that challenge up. Returns the key to bind.
    pub fn redeem_registration(&mut self, jwt: &str, now_unix: i64) -> Result<BoundKey, DbscError> {
        let challenge = self.live_challenge_of(jwt, now_unix)?;
        let key = verify_registration(jwt, &challenge, now_unix)?;
        self.consume_verified(&challenge, now_unix)?;
        Ok(key)
    }

    /// Checks a refresh proof by the session's `key` against whichever outstanding challenge it
    /// signed, then uses that challenge up. A replayed proof fails here even though its
    /// signature is good.
    pub fn redeem_refresh(&mut self, jwt: &str, key: &BoundKey, now_unix: i64) -> Result<(), DbscError> {
        let challenge = self.live_challenge_of(jwt, now_unix)?;
        verify_refresh(jwt, key, &challenge, now_unix)?;
        self.consume_verified(&challenge, now_unix)
    }

    /// The proof's (unverified) `jti` if it is outstanding: an unknown challenge is refused
    /// before any signature is checked, which keeps garbage cheap.
    fn live_challenge_of(&mut self, jwt: &str, now_unix: i64) -> Result<String, DbscError> {
        let challenge = unverified_challenge(jwt)?;
        self.purge(now_unix);
        match self.live.get(&challenge) {
            Some(&(expires, _)) if now_unix < expires => Ok(challenge),
            _ => Err(DbscError::ChallengeUnknownOrReused),
        }
    }

    fn consume_verified(&mut self, challenge: &str, now_unix: i64) -> Result<(), DbscError> {
        if self.consume(challenge, now_unix) { Ok(()) } else { Err(DbscError::ChallengeUnknownOrReused) }
    }

    fn remove(&mut self, challenge: &str) -> Option<(i64, u64)> {
        let entry = self.live.remove(challenge)?;
        self.by_expiry.remove(&entry);
        Some(entry)
    }

    /// Drops every challenge that has expired by `now_unix`.
    fn purge(&mut self, now_unix: i64) {
        while let Some(entry) = self.by_expiry.first_entry() {
            if entry.key().0 > now_unix {
                break;
            }
            let challenge = entry.remove();
            self.live.remove(&challenge);
        }
    }
}

impl std::fmt::Debug for Challenges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Challenges")
            .field("outstanding", &self.live.len())
            .field("capacity", &self.capacity)
            .field("ttl_secs", &self.ttl_secs)
            .finish()
    }
}

impl Default for Challenges {
    fn default() -> Self {
        Challenges::new(Self::DEFAULT_CAPACITY, Self::DEFAULT_TTL_SECS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{ec_jwk, ec_key, ec_key_2, es256};
    use proptest::prelude::*;
    use serde_json::json;

    const NOW: i64 = 1_780_000_000;

    fn random(n: u8) -> [u8; 32] {
        [n; 32]
    }

    #[test]
    fn a_challenge_is_good_once() {
        let mut c = Challenges::default();
        let ch = c.issue(NOW, &random(1));
        assert_eq!(ch.len(), 43);
        assert!(c.consume(&ch, NOW + 1));
        assert!(!c.consume(&ch, NOW + 2), "replay");
        assert!(!c.consume("never-issued", NOW));
        assert!(c.is_empty());
    }

    #[test]
    fn a_challenge_expires() {
        let mut c = Challenges::new(10, 300);
        let a = c.issue(NOW, &random(1));
        let b = c.issue(NOW, &random(2));
        assert!(c.consume(&a, NOW + 299));
        assert!(!c.consume(&b, NOW + 300));
        assert_eq!(c.len(), 0, "expired entries are purged");
    }

    #[test]
    fn the_store_is_bounded_and_evicts_the_oldest() {
        let mut c = Challenges::new(3, 300);
        let issued: Vec<String> = (0..5).map(|i| c.issue(NOW + i64::from(i), &random(i))).collect();
        assert_eq!(c.len(), 3);
        assert!(!c.consume(&issued[0], NOW + 10));
        assert!(!c.consume(&issued[1], NOW + 10));
        assert!(c.consume(&issued[2], NOW + 10));
        assert!(c.consume(&issued[4], NOW + 10));
        let mut tiny = Challenges::new(0, 300);
        let a = tiny.issue(NOW, &random(1));
        assert_eq!(tiny.len(), 1);
        assert!(tiny.consume(&a, NOW));
    }

    #[test]
    fn reissuing_the_same_bytes_keeps_one_entry() {
        let mut c = Challenges::new(10, 300);
        let a = c.issue(NOW, &random(7));
        let b = c.issue(NOW + 200, &random(7));
        assert_eq!(a, b);
        assert_eq!(c.len(), 1);
        assert!(c.consume(&a, NOW + 450), "the later expiry holds");
    }

    #[test]
    fn redeem_registration_then_refresh_then_replay() {
        let mut c = Challenges::default();
        let sk = ec_key();
        let reg_ch = c.issue(NOW, &random(1));
        let reg = es256(&sk, &json!({"alg": "ES256", "typ": "dbsc+jwt", "jwk": ec_jwk(&sk)}), &json!({"jti": reg_ch}));
        let key = c.redeem_registration(&reg, NOW + 1).unwrap();
        assert_eq!(c.redeem_registration(&reg, NOW + 2), Err(DbscError::ChallengeUnknownOrReused));

        let ref_ch = c.issue(NOW + 10, &random(2));
        let refresh = es256(&sk, &json!({"alg": "ES256", "typ": "dbsc+jwt"}), &json!({"jti": ref_ch}));
        assert_eq!(c.redeem_refresh(&refresh, &key, NOW + 11), Ok(()));
        assert_eq!(c.redeem_refresh(&refresh, &key, NOW + 12), Err(DbscError::ChallengeUnknownOrReused));
    }

    #[test]
    fn a_failed_proof_does_not_use_the_challenge_up() {
        let mut c = Challenges::default();
        let sk = ec_key();
        let reg_ch = c.issue(NOW, &random(1));
        let reg = es256(&sk, &json!({"alg": "ES256", "typ": "dbsc+jwt", "jwk": ec_jwk(&sk)}), &json!({"jti": reg_ch}));
        let key = c.redeem_registration(&reg, NOW).unwrap();
        let ch = c.issue(NOW, &random(2));
        let forged = es256(&ec_key_2(), &json!({"alg": "ES256", "typ": "dbsc+jwt"}), &json!({"jti": ch}));
        assert_eq!(c.redeem_refresh(&forged, &key, NOW), Err(DbscError::BadSignature));
        let genuine = es256(&sk, &json!({"alg": "ES256", "typ": "dbsc+jwt"}), &json!({"jti": ch}));
        assert_eq!(c.redeem_refresh(&genuine, &key, NOW), Ok(()));
    }

    #[test]
    fn expired_or_unknown_challenges_are_refused_before_the_signature() {
        let mut c = Challenges::new(10, 300);
        let sk = ec_key();
        let ch = c.issue(NOW, &random(1));
        let reg = es256(&sk, &json!({"alg": "ES256", "typ": "dbsc+jwt", "jwk": ec_jwk(&sk)}), &json!({"jti": ch}));
        assert_eq!(c.redeem_registration(&reg, NOW + 300), Err(DbscError::ChallengeUnknownOrReused));
        let unknown = es256(
            &sk,
            &json!({"alg": "ES256", "typ": "dbsc+jwt", "jwk": ec_jwk(&sk)}),
            &json!({"jti": "never-issued"}),
        );
        assert_eq!(c.redeem_registration(&unknown, NOW), Err(DbscError::ChallengeUnknownOrReused));
    }

    proptest! {
        #[test]
        fn consume_is_true_at_most_once(
            ops in proptest::collection::vec((any::<bool>(), 0u8..8, 0i64..1000), 0..200),
        ) {
            let mut c = Challenges::new(4, 300);
            let mut used = std::collections::HashSet::new();
            for (issue, n, t) in ops {
                if issue {
                    let ch = c.issue(NOW + t, &random(n));
                    used.remove(&ch);
                } else {
                    let ch = URL_SAFE_NO_PAD.encode(random(n));
                    if c.consume(&ch, NOW + t) {
                        prop_assert!(used.insert(ch), "consumed twice without reissue");
                    }
                }
                prop_assert!(c.len() <= 4);
                prop_assert_eq!(c.live.len(), c.by_expiry.len());
            }
        }
    }
}
