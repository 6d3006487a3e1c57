//! Opening, refreshing and ending a session: `POST /v1/login` (password and TOTP in one
//! step), `/v1/login/passkey/*`, `/v1/session/refresh`, `/v1/logout`. A sign-in answers the
//! tokens in JSON and, for browsers, as cookies.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use vigie_core::ids::Login;
use vigie_core::org::{Agent, Organization};
use vigie_core::signin::{self, EndReason, Secret, SessionToken, ThrottleKey, TotpCode};
use webauthn_rs::prelude::PublicKeyCredential;

use crate::actions::{dbsc, passkeys, sign_in};
use crate::api::me::{AgentView, agent_view};
use crate::shared::auth::{authenticate, end_session, rotate_access};
use crate::shared::body::Body;
use crate::shared::caller::{ApiSession, Write};
use crate::shared::client::Client;
use crate::shared::problem::Problem;
use crate::shared::state::{AppState, REFRESH_COOKIE};
use crate::shared::tokens::{self, Presented, Tokens, cookie};

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
pub struct SessionResponse {
    access_token: String,
    access_expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    session_expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<AgentView>,
    /// Several nodes: the value to send as `Vigie-Route` on every request of this session, so
    /// that the load balancer sends it to the agent's node (see `shared::cluster`).
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<String>,
}

impl std::fmt::Debug for SessionResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionResponse").field("agent", &self.agent).finish_non_exhaustive()
    }
}

/// The JSON answer to a sign-in, a step-up or a refresh, with the cookies for browsers (and,
/// on a sign-in, the offer to bind the session to the device).
pub fn session_response(state: &AppState, tokens: &Tokens, who: Option<(&Agent, &Organization)>) -> Response {
    let body = SessionResponse {
        access_token: tokens.access.expose().to_owned(),
        access_expires_at: tokens.access_expires_at.to_string(),
        refresh_token: tokens.refresh.as_ref().map(|t| t.expose().to_owned()),
        session_expires_at: tokens.session_expires_at.to_string(),
        agent: who.map(|(a, o)| agent_view(a, o)),
        route: state.cluster.as_ref().zip(who).map(|(c, (a, _))| c.route(a.id)),
    };
    let route = body.route.clone();
    let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
    if let Some(route) = route {
        // The header for API clients to echo, the cookie for browsers (the load balancer reads
        // either; see docs/cluster). Not a secret, and not trusted by any node.
        let cookie = format!(
            "{}={route}; Path=/; Max-Age={}; Secure; SameSite=Strict",
            crate::shared::cluster::ROUTE_COOKIE,
            (tokens.session_expires_at.millis() - state.clock.now().millis()).max(0) / 1000
        );
        for (name, value) in [
            (header::HeaderName::from_static(crate::shared::cluster::ROUTE_HEADER), route),
            (header::SET_COOKIE, cookie),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().append(name, v);
            }
        }
    }
    if tokens.refresh.is_some() {
        dbsc::offer(state, &mut resp);
    }
    for c in tokens::cookies(state, tokens) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `POST /v1/login`: password and TOTP code in one step (both are checked before anything is
/// said, and a failure does not say which was wrong).
pub async fn login(
    State(state): State<Arc<AppState>>,
    client: Client,
    Body(req): Body<LoginRequest>,
) -> Result<Response, Problem> {
    let login: Login =
        req.login.parse().map_err(|e: vigie_core::ids::IdError| Problem::invalid("login", e.to_string()))?;
    let code: TotpCode =
        req.totp.parse().map_err(|e: signin::totp::TotpCodeError| Problem::invalid("totp", e.to_string()))?;
    if req.password.is_empty() || req.password.len() > 256 {
        return Err(Problem::invalid("password", "between 1 and 256 bytes"));
    }
    let (tokens, agent, org) = sign_in::with_password(&state, client, login, Secret::new(req.password), code).await?;
    Ok(session_response(&state, &tokens, Some((&agent, &org))))
}

/// `POST /v1/login/passkey/start`: a challenge for any of this site's passkeys.
pub async fn passkey_start(State(state): State<Arc<AppState>>) -> Result<Response, Problem> {
    Ok(axum::Json(passkeys::start_sign_in(&state)?).into_response())
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Assertion {
    pub ceremony: String,
    pub credential: PublicKeyCredential,
}

/// `POST /v1/login/passkey/finish`: verifies the assertion and opens a session bound to this
/// client. Failures count against the network's throttle.
pub async fn passkey_finish(
    State(state): State<Arc<AppState>>,
    client: Client,
    Body(req): Body<Assertion>,
) -> Result<Response, Problem> {
    let now = state.clock.now();
    let network_key = ThrottleKey::network(client.ip);
    state
        .throttle
        .lock()
        .map_err(|_| Problem::internal())?
        .begin_attempt(&network_key, now)
        .map_err(Problem::throttled)?;
    let st = state.clone();
    let (tokens, agent, org) = tokio::task::spawn_blocking(move || {
        let (agent, org, cred) = passkeys::verify_sign_in(&st, &req.ceremony, &req.credential)?;
        let opening = sign_in::Opening { method: "passkey", mfa: true, credential: Some(cred), service: None };
        let tokens = sign_in::open_session(&st, &agent, &org, opening, &client)?;
        Ok::<_, Problem>((tokens, agent, org))
    })
    .await
    .map_err(|_| Problem::internal())??;
    if let Ok(mut t) = state.throttle.lock() {
        t.refund(&network_key);
    }
    Ok(session_response(&state, &tokens, Some((&agent, &org))))
}

/// `POST /v1/session/refresh`: a new access token from the refresh token (`Authorization:
/// Bearer <refresh token>`, or the session cookie). From another context, the session ends.
pub async fn refresh(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let sent = headers.contains_key(header::AUTHORIZATION);
    let (token, bearer) = match tokens::bearer(&headers) {
        Some(offered) => (offered, true),
        None if sent => (None, false),
        None => (cookie(&headers, REFRESH_COOKIE).and_then(SessionToken::parse), false),
    };
    let token = token.ok_or_else(|| if bearer { Problem::invalid_token() } else { Problem::unauthenticated() })?;
    let st = state.clone();
    let tokens = tokio::task::spawn_blocking(move || {
        let presented = Presented { access: None, refresh: Some(token), cookies: true, device_proven: false, bearer };
        let authed = authenticate(&st, &presented, &client)?;
        match authed.refreshed {
            Some(t) => Ok(t),
            None => rotate_access(&st, &authed.session),
        }
    })
    .await
    .map_err(|_| Problem::internal())??;
    Ok(session_response(&state, &tokens, None))
}

/// `POST /v1/logout`: ends the session at once (both tokens stop working). A state change like
/// any other: with cookies, only from our own origin (another site must not sign agents out).
pub async fn logout(me: ApiSession<Write>) -> Result<Response, Problem> {
    let mut resp = me
        .run(|st, authed, client| {
            end_session(st, &authed.session, EndReason::Logout, Some(client))?;
            Ok(StatusCode::NO_CONTENT)
        })
        .await?;
    for c in tokens::clear_cookies() {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
}
