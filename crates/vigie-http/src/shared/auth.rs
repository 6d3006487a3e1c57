//! Turning presented tokens into the `Caller` the guard needs, and the checks that go with it.
//!
//! Every presentation of either token is checked against the client context seen at sign-in:
//! from elsewhere, the session ends and a security event is ledgered. Handlers do not call
//! [`authenticate`] themselves: the extractors of [`crate::shared::caller`] do, on the blocking
//! pool, in the same trip as the handler's own work.

use axum::http::{HeaderMap, header};
use vigie_core::guard::Caller;
use vigie_core::ports::SessionRecord;
use vigie_core::security::{SecurityEvent, SecurityKind};
use vigie_core::signin::{self, Check, EndReason};
use vigie_core::time::Timestamp;

use crate::shared::client::Client;
use crate::shared::problem::Problem;
use crate::shared::state::AppState;
use crate::shared::tokens::{Presented, Tokens, random_token};

/// An authenticated request: the caller, its session, and a new access cookie if the
/// request was refreshed on the way.
#[derive(Debug)]
pub struct Authed {
    pub caller: Caller,
    pub session: SessionRecord,
    pub step_up_pending: bool,
    pub refreshed: Option<Tokens>,
    /// Signed in with a second factor Vigie verified (not a provider's word alone) within the
    /// elevation window.
    pub fresh_sign_in: bool,
}

impl Authed {
    /// A second factor proven in the elevation window, by a step-up or at sign-in: what
    /// account actions and passkey changes ask for. Reads ask more: a step-up the detector
    /// demanded is met only by `caller.elevated` (a step-up).
    pub fn recent_factor(&self) -> bool {
        self.caller.elevated || self.fresh_sign_in
    }

    /// A security event of this caller's doing: by its agent, in its session, from `client`.
    pub fn event(&self, at: Timestamp, kind: SecurityKind, client: &Client) -> SecurityEvent {
        SecurityEvent::new(at, kind)
            .by(self.caller.agent.id, self.caller.org.id)
            .session(self.session.id)
            .context(client.describe())
    }
}

/// Ends a session and ledgers why, with the context it was bound to and the one seen.
pub fn end_session(
    state: &AppState,
    s: &SessionRecord,
    reason: EndReason,
    seen: Option<&Client>,
) -> Result<(), Problem> {
    let now = state.clock.now();
    let ended = state.accounts.end_session(s.id).map_err(|_| Problem::unavailable())?;
    if !ended {
        return Ok(());
    }
    let mut e = SecurityEvent::new(now, SecurityKind::SessionEnded)
        .session(s.id)
        .subject(s.agent)
        .detail("reason", reason.as_str())
        .detail("bound_to", format!("{} {}", s.context.network, s.context.ua_family.as_str()));
    if let Some(c) = seen {
        e = e.context(c.describe());
    }
    if reason == EndReason::ContextChanged {
        tracing::warn!(session = s.id.0, agent = %s.agent, bound = %s.context.network, seen = ?seen.map(Client::describe), "session token presented from another context: session ended");
    }
    state.record(&[e])
}

/// Resolves the presented tokens to a caller. Blocking (store reads): call from the blocking
/// pool. Any check that fails ends the session where the failure says the token is stolen or
/// stale, and answers 401.
pub fn authenticate(state: &AppState, presented: &Presented, client: &Client) -> Result<Authed, Problem> {
    let now = state.clock.now();
    let policy = &state.settings.policy;
    let mut record = None;
    let mut account = None;
    if let Some(access) = &presented.access
        && let Some(found) =
            state.accounts.session_by_access(&access.hash(), now).map_err(|_| Problem::unavailable())?
    {
        record = Some(found.session);
        account = Some((found.agent, found.org));
    }
    let mut refreshed = None;
    if record.is_none() && presented.cookies {
        // A browser whose access cookie has expired: refresh it from the session cookie.
        if let Some(refresh) = &presented.refresh {
            record = state.accounts.session_by_refresh(&refresh.hash()).map_err(|_| Problem::unavailable())?;
            if let Some(s) = &record {
                if s.device_key.is_some() && !presented.device_proven {
                    // A device-bound session renews its access cookie only with a proof of the
                    // device key (the browser does it at /dbsc/refresh): a copied refresh
                    // cookie alone renews nothing.
                    return Err(Problem::unauthenticated());
                }
                refreshed = Some(());
            }
        }
    }
    let Some(session) = record else {
        return Err(refused(state, presented, now)?);
    };
    let (elevated, step_up_pending, touch) =
        match signin::session::check(policy, &session.state(), &client.context, now) {
            Check::End(reason) => {
                end_session(state, &session, reason, Some(client))?;
                return Err(Problem::session_ended(reason.as_str()));
            }
            Check::Live { elevated, step_up_pending, touch } => (elevated, step_up_pending, touch),
        };
    // Read with the session by access token; by refresh token (rare), read now.
    let (agent, org) = match account {
        Some(read) => read,
        None => {
            let agent = state.registry.agent(session.agent).map_err(|_| Problem::unavailable())?;
            let org = match &agent {
                Some(a) => state.registry.organization(a.org).map_err(|_| Problem::unavailable())?,
                None => None,
            };
            (agent, org)
        }
    };
    let (Some(agent), Some(org)) = (agent, org) else {
        end_session(state, &session, EndReason::AccountDisabled, Some(client))?;
        return Err(Problem::session_ended(EndReason::AccountDisabled.as_str()));
    };
    if !agent.active || !org.active {
        end_session(state, &session, EndReason::AccountDisabled, Some(client))?;
        return Err(Problem::session_ended(EndReason::AccountDisabled.as_str()));
    }
    // Before any work on the session's behalf (a touch, a refresh, the handler's own).
    if let Err(wait_ms) = state.rates.admit(session.id, agent.id, now) {
        static LIMITED: crate::shared::log_limit::LogLimit = crate::shared::log_limit::LogLimit::every_secs(10);
        if let Some(skipped) = LIMITED.allow() {
            tracing::warn!(session = session.id.0, agent = %agent.id, skipped, "request rate limited (skipped: like refusals left out since the last line)");
        }
        return Err(Problem::rate_limited(wait_ms));
    }
    if touch || refreshed.is_some() {
        state.accounts.touch_session(session.id, now).map_err(|_| Problem::unavailable())?;
    }
    let refreshed = match refreshed {
        Some(()) => Some(rotate_access(state, &session)?),
        None => None,
    };
    let probation = session.probation_until.is_some_and(|until| now < until);
    let caller = Caller {
        agent,
        org,
        session: session.id,
        mfa: session.mfa,
        elevated,
        probation,
        reason: None,
        sign_in: session.sign_in,
    };
    let fresh_sign_in = session.method != "oidc" && now < session.created_at.plus_millis(policy.elevation_ms);
    Ok(Authed { caller, session, step_up_pending, refreshed, fresh_sign_in })
}

/// The refusal of tokens that found no session (RFC 6750): none sent, authenticate; a bearer
/// access token of a live session that has only expired, refresh; anything else a bearer sent
/// (forged, revoked, of an ended session, malformed), `invalid_token`, the same for each.
fn refused(state: &AppState, presented: &Presented, now: Timestamp) -> Result<Problem, Problem> {
    if !presented.bearer {
        return Ok(Problem::unauthenticated());
    }
    let expired = match &presented.access {
        Some(access) => state.accounts.access_expired(&access.hash(), now).map_err(|_| Problem::unavailable())?,
        None => false,
    };
    Ok(if expired { Problem::token_expired() } else { Problem::invalid_token() })
}

/// Issues a new access token for a live session.
pub fn rotate_access(state: &AppState, session: &SessionRecord) -> Result<Tokens, Problem> {
    let now = state.clock.now();
    let access = random_token();
    let expires = now.plus_millis(state.settings.policy.access_ttl_ms).min(session.expires_at);
    if !state.accounts.rotate_access(session.id, &access.hash(), expires).map_err(|_| Problem::unavailable())? {
        return Err(Problem::unauthenticated());
    }
    Ok(Tokens {
        session: session.id,
        access,
        access_expires_at: expires,
        refresh: None,
        session_expires_at: session.expires_at,
    })
}

/// Refuses a cookie-authenticated state-changing request that does not come from our own
/// origin (SameSite=Strict already keeps cross-site cookies away; this is the second lock).
pub fn same_origin(state: &AppState, headers: &HeaderMap, presented: &Presented) -> Result<(), Problem> {
    if !presented.cookies {
        return Ok(());
    }
    let ours = state.settings.public_origin.origin().ascii_serialization();
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(o) if o == ours => Ok(()),
        Some(o) if o != "null" => Err(Problem::cross_origin()),
        // Under `Referrer-Policy: no-referrer` Chromium sends `Origin: null` on form posts; a
        // missing or opaque origin must then be vouched for by Sec-Fetch-Site, which page
        // scripts cannot set (a sandboxed frame or data: URL elsewhere says cross-site).
        _ => match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
            Some("same-origin") => Ok(()),
            _ => Err(Problem::cross_origin()),
        },
    }
}
