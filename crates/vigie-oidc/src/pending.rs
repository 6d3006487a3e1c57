//! The server-side half of a sign-in in progress.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// How long a sign-in may take between [`crate::OidcClient::begin`] and
/// [`crate::OidcClient::complete`]. Long enough for an agent to find their second factor, short
/// enough that a leaked callback URL or a forgotten tab is useless soon.
pub const PENDING_LOGIN_TTL: Duration = Duration::from_secs(10 * 60);

/// What [`crate::OidcClient::begin`] generated and [`crate::OidcClient::complete`] checks
/// against: the `state` (CSRF), the `nonce` (ID token replay) and the PKCE verifier (code
/// interception).
///
/// Keep it server side, keyed by [`PendingLogin::state`], and remove it from the store when the
/// callback arrives, before calling `complete` (which takes it by value): a pending login is
/// used once. It is `Serialize` so the store may be a database shared by several instances; the
/// verifier and nonce must then stay in that store, never in a client-visible cookie.
#[derive(Serialize, Deserialize)]
pub struct PendingLogin {
    pub(crate) state: String,
    pub(crate) nonce: String,
    pub(crate) pkce_verifier: String,
    /// Unix seconds.
    pub(crate) created_at: u64,
}

impl PendingLogin {
    pub(crate) fn new(state: String, nonce: String, pkce_verifier: String, now: SystemTime) -> Self {
        Self { state, nonce, pkce_verifier, created_at: unix_secs(now) }
    }

    /// The `state` sent to the provider, which comes back on the callback: the key to store this
    /// pending login under.
    pub fn state(&self) -> &str {
        &self.state
    }

    /// When [`crate::OidcClient::begin`] created it.
    pub fn created_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.created_at)
    }

    /// Whether it is older than [`PENDING_LOGIN_TTL`] at `now`: stores can purge on this.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.age(now) > PENDING_LOGIN_TTL
    }

    pub(crate) fn age(&self, now: SystemTime) -> Duration {
        Duration::from_secs(unix_secs(now).saturating_sub(self.created_at))
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("state", &self.state)
            .field("nonce", &"<redacted>")
            .field("pkce_verifier", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(now: SystemTime) -> PendingLogin {
        PendingLogin::new("st".into(), "the-nonce".into(), "the-verifier".into(), now)
    }

    #[test]
    fn debug_hides_nonce_and_verifier() {
        let shown = format!("{:?}", pending(SystemTime::now()));
        assert!(!shown.contains("the-nonce") && !shown.contains("the-verifier"), "{shown}");
        assert!(shown.contains("\"st\""));
    }

    #[test]
    fn expires_after_the_ttl() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let p = pending(t0);
        assert!(!p.is_expired(t0));
        assert!(!p.is_expired(t0 + PENDING_LOGIN_TTL));
        assert!(p.is_expired(t0 + PENDING_LOGIN_TTL + Duration::from_secs(1)));
        // A clock that went backwards does not make it older.
        assert!(!p.is_expired(t0 - Duration::from_secs(60)));
    }
}
