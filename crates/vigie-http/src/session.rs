//! Sign-in and sessions over HTTP: login with password + TOTP, logout, and turning a presented
//! token (cookie or bearer header) into the `Caller` the guard needs.
//!
//! The throttle is consulted before any hashing; unknown accounts are verified against a dummy
//! hash so they cost the same time as known ones; every failure gets the same 401.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use vigie_core::guard::Caller;
use vigie_core::ids::Login;
use vigie_core::ports::NewSession;
use vigie_core::signin::{self, PasswordHash, Secret, SessionToken, ThrottleKey, TotpCode};

use crate::json::Body;
use crate::problem::Problem;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    login: String,
    password: String,
    totp: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest").field("login", &self.login).finish_non_exhaustive()
    }
}

#[derive(Serialize)]
pub struct LoginResponse {
    token: String,
    expires_at: String,
    agent: AgentView,
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse").field("agent", &self.agent).finish_non_exhaustive()
    }
}

#[derive(Serialize, Debug)]
pub struct AgentView {
    pub id: String,
    pub login: String,
    pub display_name: String,
    pub role: &'static str,
    pub organization: OrgView,
}

#[derive(Serialize, Debug)]
pub struct OrgView {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
}

pub fn agent_view(caller: &Caller) -> AgentView {
    AgentView {
        id: caller.agent.id.to_string(),
        login: caller.agent.login.to_string(),
        display_name: caller.agent.display_name.clone(),
        role: caller.agent.role.as_str(),
        organization: OrgView {
            id: caller.org.id.to_string(),
            name: caller.org.name.clone(),
            kind: caller.org.kind.as_str(),
        },
    }
}

enum LoginFailure {
    BadCredentials,
    Store,
}

pub async fn login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Body(req): Body<LoginRequest>,
) -> Result<Response, Problem> {
    let login: Login =
        req.login.parse().map_err(|e: vigie_core::ids::IdError| Problem::invalid("login", e.to_string()))?;
    let code: TotpCode =
        req.totp.parse().map_err(|e: signin::totp::TotpCodeError| Problem::invalid("totp", e.to_string()))?;
    if req.password.is_empty() || req.password.len() > 256 {
        return Err(Problem::invalid("password", "between 1 and 256 bytes"));
    }
    let password = Secret::new(req.password);

    let now = state.clock.now();
    let peer = SocketAddr::new(client_ip(&headers, peer.ip(), &state.settings.trusted_proxies), peer.port());
    let account_key = ThrottleKey::Account(login.to_string());
    let network_key = ThrottleKey::network(peer.ip());
    {
        // Count the attempt now (see `LoginThrottle::begin_attempt`), before any hashing.
        let mut throttle = state.throttle.lock().map_err(|_| Problem::internal())?;
        throttle.begin_attempt(&account_key, now).map_err(|ms| throttled(&login, peer, ms))?;
        if let Err(ms) = throttle.begin_attempt(&network_key, now) {
            throttle.refund(&account_key);
            return Err(throttled(&login, peer, ms));
        }
    }

    let permit = state.hashing.clone().acquire_owned().await.map_err(|_| Problem::internal())?;
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(200)
        .collect::<String>();
    let st = state.clone();
    let login_for_check = login.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let result = check_and_open(&st, &login_for_check, &password, code, peer, user_agent);
        drop(permit);
        result
    })
    .await
    .map_err(|_| Problem::internal())?;

    let mut throttle = state.throttle.lock().map_err(|_| Problem::internal())?;
    match outcome {
        Ok((token, caller, expires_at)) => {
            throttle.record_success(&account_key);
            throttle.refund(&network_key);
            drop(throttle);
            tracing::info!(agent = %caller.agent.id, source = %peer.ip(), "signed in");
            let body = LoginResponse {
                token: token.expose().to_owned(),
                expires_at: expires_at.to_string(),
                agent: agent_view(&caller),
            };
            let max_age = state.settings.session_ttl.as_secs();
            let cookie = format!(
                "{}={}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict",
                state.settings.cookie_name,
                token.expose()
            );
            let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(resp)
        }
        Err(LoginFailure::BadCredentials) => {
            // Already counted by `begin_attempt`.
            tracing::warn!(login = %login, source = %peer.ip(), "sign-in failed");
            Err(Problem::bad_credentials())
        }
        Err(LoginFailure::Store) => {
            throttle.refund(&account_key);
            throttle.refund(&network_key);
            tracing::error!(login = %login, "sign-in failed: store unavailable");
            Err(Problem::unavailable())
        }
    }
}

fn throttled(login: &Login, peer: SocketAddr, retry_after_ms: i64) -> Problem {
    tracing::warn!(login = %login, source = %peer.ip(), retry_after_ms, "sign-in throttled");
    Problem::throttled(retry_after_ms)
}

/// Verifies password and code, then opens the session. Runs on the blocking pool.
fn check_and_open(
    state: &AppState,
    login: &Login,
    password: &Secret,
    code: TotpCode,
    peer: SocketAddr,
    user_agent: String,
) -> Result<(SessionToken, Caller, vigie_core::time::Timestamp), LoginFailure> {
    let agent = state.accounts.agent_by_login(login).map_err(|_| LoginFailure::Store)?;
    let credentials = match &agent {
        Some(a) => state.accounts.credentials(a.id).map_err(|_| LoginFailure::Store)?,
        None => None,
    };
    // Always hash, so an unknown login or an account without credentials takes the same time.
    let dummy = PasswordHash(signin::password::DUMMY_HASH.to_owned());
    let password_ok = signin::verify_password(credentials.as_ref().map_or(&dummy, |c| &c.password), password);
    let (Some(agent), Some(credentials)) = (agent, credentials) else {
        return Err(LoginFailure::BadCredentials);
    };
    let now = state.clock.now();
    let step = signin::totp::verify(&credentials.totp, code, now.seconds(), None);
    if !password_ok {
        return Err(LoginFailure::BadCredentials);
    }
    let Some(step) = step else {
        return Err(LoginFailure::BadCredentials);
    };
    // The code is spent even if the account turns out inactive below: a code is used once.
    if !state.accounts.consume_totp_step(agent.id, step).map_err(|_| LoginFailure::Store)? {
        return Err(LoginFailure::BadCredentials);
    }
    let org =
        state.registry.organization(agent.org).map_err(|_| LoginFailure::Store)?.ok_or(LoginFailure::BadCredentials)?;
    if !agent.active || !org.active {
        return Err(LoginFailure::BadCredentials);
    }
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = SessionToken::from_random(raw);
    let ttl_ms = i64::try_from(state.settings.session_ttl.as_millis()).unwrap_or(i64::MAX);
    let expires_at = now.plus_millis(ttl_ms);
    let session = NewSession {
        token_hash: token.hash(),
        agent: agent.id,
        created_at: now,
        expires_at,
        mfa: true,
        source: peer.ip().to_string(),
        user_agent,
    };
    let id = state.accounts.create_session(&session).map_err(|_| LoginFailure::Store)?;
    Ok((token, Caller { agent, org, session: id, mfa: true }, expires_at))
}

pub async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, Problem> {
    let token = presented_token(&headers, state.settings.cookie_name).ok_or_else(Problem::unauthenticated)?;
    let st = state.clone();
    tokio::task::spawn_blocking(move || st.accounts.end_session(&token.hash()))
        .await
        .map_err(|_| Problem::internal())?
        .map_err(|_| Problem::unavailable())?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let clear = format!("{}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict", state.settings.cookie_name);
    if let Ok(v) = HeaderValue::from_str(&clear) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// The client's address: the TCP peer, unless the peer is a trusted proxy, in which case the
/// rightmost `X-Forwarded-For` address that is not itself a trusted proxy (the leftmost ones
/// are the client's to forge).
pub fn client_ip(headers: &HeaderMap, peer: std::net::IpAddr, trusted: &[std::net::IpAddr]) -> std::net::IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

/// The token from `Authorization: Bearer …` or from the session cookie. Malformed tokens are
/// treated as absent.
pub fn presented_token(headers: &HeaderMap, cookie_name: &str) -> Option<SessionToken> {
    if let Some(auth) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return auth.strip_prefix("Bearer ").and_then(|t| SessionToken::parse(t.trim()));
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == cookie_name)
        .and_then(|(_, v)| SessionToken::parse(v))
}

/// Resolves a token to the caller. Blocking (store reads): call from the blocking pool.
pub fn authenticate(state: &AppState, token: &SessionToken) -> Result<Caller, Problem> {
    let now = state.clock.now();
    let session = state
        .accounts
        .session(&token.hash(), now)
        .map_err(|_| Problem::unavailable())?
        .ok_or_else(Problem::unauthenticated)?;
    let agent = state
        .registry
        .agent(session.agent)
        .map_err(|_| Problem::unavailable())?
        .ok_or_else(Problem::unauthenticated)?;
    let org = state
        .registry
        .organization(agent.org)
        .map_err(|_| Problem::unavailable())?
        .ok_or_else(Problem::unauthenticated)?;
    if !agent.active || !org.active {
        return Err(Problem::unauthenticated());
    }
    Ok(Caller { agent, org, session: session.id, mfa: session.mfa })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: std::net::IpAddr = "10.0.0.1".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6, 192.0.2.7"));
        assert_eq!(client_ip(&h, proxy, &[proxy]), "192.0.2.7".parse::<std::net::IpAddr>().unwrap());
        assert_eq!(
            client_ip(&h, "192.0.2.99".parse().unwrap(), &[proxy]),
            "192.0.2.99".parse::<std::net::IpAddr>().unwrap()
        );
        assert_eq!(client_ip(&HeaderMap::new(), proxy, &[proxy]), proxy);
        h.insert("x-forwarded-for", HeaderValue::from_static("garbage"));
        assert_eq!(client_ip(&h, proxy, &[proxy]), proxy);
    }
}
