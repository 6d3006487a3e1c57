//! The session model: what a stolen cookie is worth, and for how long.
//!
//! A sign-in opens a server-side *session* (one working day at most, ended by an idle time-out)
//! and hands out two secrets: a *refresh* token that lives as long as the session, and an
//! *access* token that lives at most five minutes and is re-issued from the refresh token. Both
//! are bound to the [`ClientContext`] seen at sign-in (the source network and the browser
//! family): a token presented from another context ends the session, whatever it was for.
//! A stolen access cookie is therefore worth minutes at most, and a stolen refresh cookie
//! nothing from the thief's own network or browser.
//!
//! Everything here is a pure decision on values the HTTP layer reads from the store.

use std::net::IpAddr;

use crate::time::Timestamp;

/// Durations of the session model. The defaults are the safe ones; `vigie serve`'s
/// configuration can shorten them and lengthen them only within the bounds of `validate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Lifetime of an access token (≤ 5 min).
    pub access_ttl_ms: i64,
    /// Absolute lifetime of a session (≤ 10 h, one working day).
    pub session_ttl_ms: i64,
    /// A session unused for this long ends.
    pub idle_timeout_ms: i64,
    /// Live sessions per agent; opening one more ends the least recently used.
    pub max_concurrent: usize,
    /// How long a successful step-up elevates the session.
    pub elevation_ms: i64,
    /// How long a demanded step-up may wait before the session is ended for ignoring it.
    pub step_up_timeout_ms: i64,
}

pub const MAX_ACCESS_TTL_MS: i64 = 5 * 60 * 1000;
pub const MAX_SESSION_TTL_MS: i64 = 10 * 3600 * 1000;

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            access_ttl_ms: MAX_ACCESS_TTL_MS,
            session_ttl_ms: 8 * 3600 * 1000,
            idle_timeout_ms: 30 * 60 * 1000,
            max_concurrent: 2,
            elevation_ms: 15 * 60 * 1000,
            step_up_timeout_ms: 5 * 60 * 1000,
        }
    }
}

impl SessionPolicy {
    /// Checks the bounds; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let minute = 60_000;
        if !(10_000..=MAX_ACCESS_TTL_MS).contains(&self.access_ttl_ms) {
            return Err(format!("access_ttl: must be between 10 s and 5 min, got {} ms", self.access_ttl_ms));
        }
        if !(5 * minute..=MAX_SESSION_TTL_MS).contains(&self.session_ttl_ms) {
            return Err(format!("session_ttl: must be between 5 min and 10 h, got {} ms", self.session_ttl_ms));
        }
        if !(minute..=self.session_ttl_ms).contains(&self.idle_timeout_ms) {
            return Err(format!(
                "idle_timeout: must be between 1 min and the session's lifetime, got {} ms",
                self.idle_timeout_ms
            ));
        }
        if !(1..=5).contains(&self.max_concurrent) {
            return Err(format!("max_concurrent_sessions: must be between 1 and 5, got {}", self.max_concurrent));
        }
        if !(minute..=15 * minute).contains(&self.elevation_ms) {
            return Err(format!("elevation: must be between 1 and 15 min, got {} ms", self.elevation_ms));
        }
        Ok(())
    }
}

/// The browser family, from the `User-Agent` header. Coarse on purpose: a browser updates
/// itself mid-day (the major version changes), but an infostealer's replay rarely comes from
/// the same family *and* the same network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UaFamily {
    Edge,
    Chrome,
    Firefox,
    Safari,
    /// curl, python-requests, Go, Java, reqwest…: scripts and integrations.
    Tool,
    Other,
}

impl UaFamily {
    pub fn of(user_agent: &str) -> UaFamily {
        let ua = user_agent.to_ascii_lowercase();
        if ua.contains("edg/") || ua.contains("edge/") {
            UaFamily::Edge
        } else if ua.contains("firefox/") {
            UaFamily::Firefox
        } else if ua.contains("chrome/") || ua.contains("chromium/") || ua.contains("crios/") {
            UaFamily::Chrome
        } else if ua.contains("safari/") && ua.contains("version/") {
            UaFamily::Safari
        } else if ["curl/", "python", "go-http", "java/", "reqwest", "wget", "okhttp", "node", "axios"]
            .iter()
            .any(|t| ua.contains(t))
        {
            UaFamily::Tool
        } else {
            UaFamily::Other
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UaFamily::Edge => "edge",
            UaFamily::Chrome => "chrome",
            UaFamily::Firefox => "firefox",
            UaFamily::Safari => "safari",
            UaFamily::Tool => "tool",
            UaFamily::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<UaFamily> {
        [Self::Edge, Self::Chrome, Self::Firefox, Self::Safari, Self::Tool, Self::Other]
            .into_iter()
            .find(|f| f.as_str() == s)
    }
}

/// Where a request comes from, as far as binding is concerned: the source network (an IPv4
/// /24 or an IPv6 /64: agencies share NAT pools, so the exact address may change within one)
/// and the browser family.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientContext {
    pub network: String,
    pub ua_family: UaFamily,
}

impl ClientContext {
    pub fn new(ip: IpAddr, user_agent: &str) -> Self {
        ClientContext { network: network_of(ip), ua_family: UaFamily::of(user_agent) }
    }
}

/// `192.0.2.0/24` or `2001:db8:1:2::/64`.
pub fn network_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => network_of(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The state of a session as the store holds it, for [`check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionState {
    pub bound_to: ClientContext,
    pub expires_at: Timestamp,
    pub last_seen: Timestamp,
    pub elevated_until: Option<Timestamp>,
    pub step_up_demanded_at: Option<Timestamp>,
}

/// Why a session ends. Recorded in the ledger and shown on the sessions page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    Logout,
    Expired,
    Idle,
    /// A token was presented from another network or browser family than at sign-in.
    ContextChanged,
    StepUpFailed,
    StepUpIgnored,
    /// Ended by the agent from the sessions page, or by an administrator.
    Revoked,
    /// A newer session pushed it over the concurrent-session limit.
    ConcurrentLimit,
    /// The passkey that opened it was removed.
    CredentialRemoved,
    AccountDisabled,
    /// A DBSC-bound session failed to prove possession of its key.
    DeviceProofFailed,
    /// The exfiltration detector ended it (a tripwire).
    Suspended,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Logout => "logout",
            EndReason::Expired => "expired",
            EndReason::Idle => "idle",
            EndReason::ContextChanged => "context_changed",
            EndReason::StepUpFailed => "step_up_failed",
            EndReason::StepUpIgnored => "step_up_ignored",
            EndReason::Revoked => "revoked",
            EndReason::ConcurrentLimit => "concurrent_limit",
            EndReason::CredentialRemoved => "credential_removed",
            EndReason::AccountDisabled => "account_disabled",
            EndReason::DeviceProofFailed => "device_proof_failed",
            EndReason::Suspended => "suspended",
        }
    }
}

/// What to do with a request presenting a session's token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Serve it. `elevated`: within a step-up window. `touch`: record the use (written at most
    /// once a minute, to keep the hot path read-only).
    Live { elevated: bool, step_up_pending: bool, touch: bool },
    /// End the session for this reason and refuse the request.
    End(EndReason),
}

/// The decision for a request at `now` from `seen`. Order matters: a session that has expired
/// ends as expired even if the context changed too (the context change of an expired token is
/// no threat); a live one presented from elsewhere ends, whatever else is true.
pub fn check(policy: &SessionPolicy, s: &SessionState, seen: &ClientContext, now: Timestamp) -> Check {
    if now >= s.expires_at {
        return Check::End(EndReason::Expired);
    }
    if now.millis() - s.last_seen.millis() >= policy.idle_timeout_ms {
        return Check::End(EndReason::Idle);
    }
    if *seen != s.bound_to {
        return Check::End(EndReason::ContextChanged);
    }
    let elevated = s.elevated_until.is_some_and(|t| now < t);
    if let Some(at) = s.step_up_demanded_at
        && !elevated
        && now.millis() - at.millis() >= policy.step_up_timeout_ms
    {
        return Check::End(EndReason::StepUpIgnored);
    }
    Check::Live {
        elevated,
        step_up_pending: s.step_up_demanded_at.is_some() && !elevated,
        touch: now.millis() - s.last_seen.millis() >= 60_000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(net: &str, ua: UaFamily) -> ClientContext {
        ClientContext { network: net.to_owned(), ua_family: ua }
    }

    #[test]
    fn browser_families() {
        let cases = [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                UaFamily::Chrome,
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                UaFamily::Edge,
            ),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", UaFamily::Firefox),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
                UaFamily::Safari,
            ),
            ("curl/8.5.0", UaFamily::Tool),
            ("python-requests/2.32", UaFamily::Tool),
            ("", UaFamily::Other),
        ];
        for (ua, want) in cases {
            assert_eq!(UaFamily::of(ua), want, "{ua}");
            assert_eq!(UaFamily::parse(want.as_str()), Some(want));
        }
    }

    #[test]
    fn networks() {
        assert_eq!(network_of("192.0.2.77".parse().unwrap()), "192.0.2.0/24");
        assert_eq!(network_of("::ffff:192.0.2.77".parse().unwrap()), "192.0.2.0/24");
        assert_eq!(network_of("2001:db8:1:2:3:4:5:6".parse().unwrap()), "2001:db8:1:2::/64");
    }

    /// A table: (state changes, seen context, minutes after sign-in) → decision.
    #[test]
    fn decisions() {
        let p = SessionPolicy::default();
        let t0 = Timestamp(1_700_000_000_000);
        let min = |m: i64| Timestamp(t0.millis() + m * 60_000);
        let home = ctx("192.0.2.0/24", UaFamily::Chrome);
        let base = SessionState {
            bound_to: home.clone(),
            expires_at: min(480),
            last_seen: t0,
            elevated_until: None,
            step_up_demanded_at: None,
        };
        let live = |elevated, pending, touch| Check::Live { elevated, step_up_pending: pending, touch };
        struct Case {
            name: &'static str,
            state: SessionState,
            seen: ClientContext,
            at: Timestamp,
            want: Check,
        }
        let cases = [
            Case {
                name: "same context",
                state: base.clone(),
                seen: home.clone(),
                at: min(0),
                want: live(false, false, false),
            },
            Case {
                name: "touch after a minute",
                state: base.clone(),
                seen: home.clone(),
                at: min(1),
                want: live(false, false, true),
            },
            Case {
                name: "other network",
                state: base.clone(),
                seen: ctx("198.51.100.0/24", UaFamily::Chrome),
                at: min(1),
                want: Check::End(EndReason::ContextChanged),
            },
            Case {
                name: "other browser",
                state: base.clone(),
                seen: ctx("192.0.2.0/24", UaFamily::Tool),
                at: min(1),
                want: Check::End(EndReason::ContextChanged),
            },
            Case {
                name: "idle",
                state: base.clone(),
                seen: home.clone(),
                at: min(30),
                want: Check::End(EndReason::Idle),
            },
            Case {
                name: "expired beats context change",
                state: SessionState { last_seen: min(479), ..base.clone() },
                seen: ctx("198.51.100.0/24", UaFamily::Tool),
                at: min(480),
                want: Check::End(EndReason::Expired),
            },
            Case {
                name: "elevated",
                state: SessionState { elevated_until: Some(min(15)), ..base.clone() },
                seen: home.clone(),
                at: min(14),
                want: live(true, false, true),
            },
            Case {
                name: "elevation lapses",
                state: SessionState { elevated_until: Some(min(15)), last_seen: min(14), ..base.clone() },
                seen: home.clone(),
                at: min(15),
                want: live(false, false, true),
            },
            Case {
                name: "step-up pending",
                state: SessionState { step_up_demanded_at: Some(min(1)), last_seen: min(1), ..base.clone() },
                seen: home.clone(),
                at: min(2),
                want: live(false, true, true),
            },
            Case {
                name: "step-up ignored",
                state: SessionState { step_up_demanded_at: Some(min(1)), last_seen: min(5), ..base.clone() },
                seen: home.clone(),
                at: min(6),
                want: Check::End(EndReason::StepUpIgnored),
            },
        ];
        for c in cases {
            assert_eq!(check(&p, &c.state, &c.seen, c.at), c.want, "{}", c.name);
        }
    }

    #[test]
    fn policy_bounds() {
        assert!(SessionPolicy::default().validate().is_ok());
        let bad = SessionPolicy { access_ttl_ms: 10 * 60_000, ..SessionPolicy::default() };
        assert!(bad.validate().unwrap_err().starts_with("access_ttl"));
        let bad = SessionPolicy { session_ttl_ms: 24 * 3_600_000, ..SessionPolicy::default() };
        assert!(bad.validate().unwrap_err().starts_with("session_ttl"));
        let bad = SessionPolicy { max_concurrent: 0, ..SessionPolicy::default() };
        assert!(bad.validate().unwrap_err().starts_with("max_concurrent"));
    }
}
