//! Single sign-on: Vigie as an OpenID Connect relying party (`vigie-oidc`), so an agency can
//! plug its identity provider (ProConnect for French public agents).
//!
//! The provider says who the person is; Vigie still decides what a sign-in is worth. An
//! identity is linked to an agent once (by its issuer and subject; the first time by a
//! verified e-mail address that exactly one active agent has), and a login whose `acr`/`amr`
//! does not show several factors must pass Vigie's own second factor before a session opens.
//! Roles that sign in with a passkey only (administrators) never get a session from the
//! provider alone.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sha2::Digest;
use vigie_core::ids::AgentId;
use vigie_core::org::{Agent, Organization};
use vigie_core::security::{SecurityEvent, SecurityKind};
use vigie_oidc::{FederatedIdentity, OidcClient, PendingLogin};

use crate::pages;
use crate::pending::Pending;
use crate::problem::Problem;
use crate::session::{self, Client, Opening};
use crate::state::AppState;

/// Cookie that carries a single sign-on login waiting for Vigie's second factor (5 minutes).
pub const SECOND_FACTOR_COOKIE: &str = "__Host-vigie_sso";
/// Cookie that ties a login started at the provider to the browser that started it, so that
/// nobody can hand a victim a callback URL that signs them in as someone else (login CSRF).
pub const STATE_COOKIE: &str = "__Host-vigie_oidc";

#[derive(Debug)]
pub struct Sso {
    pub client: OidcClient,
    pub logins: Pending<PendingLogin>,
    pub second_factor: Pending<AgentId>,
}

impl Sso {
    pub fn new(client: OidcClient) -> Self {
        Sso { client, logins: Pending::new(10 * 60 * 1000, 10_000), second_factor: Pending::new(5 * 60 * 1000, 10_000) }
    }
}

fn sso(state: &AppState) -> Result<&Sso, Problem> {
    state.sso.as_ref().ok_or_else(Problem::sso_not_configured)
}

/// `GET /auth/oidc/start`: to the provider.
pub async fn start(State(state): State<Arc<AppState>>) -> Result<Response, Problem> {
    let sso = sso(&state)?;
    let (url, pending) = sso.client.begin();
    let bind = hex::encode(sha2::Sha256::digest(pending.state().as_bytes()));
    sso.logins.put_as(pending.state().to_owned(), pending, state.clock.now());
    let mut resp = Redirect::to(&url).into_response();
    // Lax: the provider's redirect back is a top-level navigation from another site.
    if let Ok(v) =
        HeaderValue::from_str(&format!("{STATE_COOKIE}={bind}; Path=/; Max-Age=600; HttpOnly; Secure; SameSite=Lax"))
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

#[derive(Deserialize, Debug)]
pub struct Callback {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /auth/oidc/callback`: back from the provider.
pub async fn callback(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    query: Result<Query<Callback>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match callback_inner(&state, client, &headers, query).await {
        Ok(r) => r,
        Err(p) => pages::problem_page(&p),
    }
}

async fn callback_inner(
    state: &Arc<AppState>,
    client: Client,
    headers: &HeaderMap,
    query: Result<Query<Callback>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let sso = sso(state)?;
    let Query(q) = query.map_err(|_| Problem::invalid("query", "not a valid callback query"))?;
    if let Some(e) = q.error {
        let d = q.error_description.unwrap_or_default();
        return Err(Problem::forbidden(format!(
            "the identity provider refused the sign-in: {}{}",
            e.chars().take(64).collect::<String>(),
            if d.is_empty() { String::new() } else { format!(" ({})", d.chars().take(200).collect::<String>()) }
        )));
    }
    let (Some(returned_state), Some(code)) = (q.state, q.code) else {
        return Err(Problem::invalid("code", "the provider's answer has no code or state"));
    };
    let bind = hex::encode(sha2::Sha256::digest(returned_state.as_bytes()));
    if session::cookie(headers, STATE_COOKIE) != Some(bind.as_str()) {
        return Err(Problem::forbidden("this sign-in was not started from this browser: start again"));
    }
    let pending = sso
        .logins
        .take(&returned_state, state.clock.now())
        .ok_or_else(|| Problem::forbidden("unknown or expired sign-in attempt: start again"))?;
    let identity = sso.client.complete(pending, &returned_state, &code).await.map_err(|e| {
        tracing::warn!(error = %e, "single sign-on refused");
        Problem::forbidden(format!("single sign-on refused: {e}"))
    })?;
    let st = state.clone();
    tokio::task::spawn_blocking(move || finish(&st, &identity, &client)).await.map_err(|_| Problem::internal())?
}

/// The agent a federated identity stands for, linking it on first use.
fn resolve(state: &AppState, id: &FederatedIdentity, client: &Client) -> Result<(Agent, Organization), Problem> {
    let now = state.clock.now();
    let unknown = || Problem::forbidden("this identity is not linked to a Vigie account: ask your administrator");
    let agent = match state.accounts.federated_agent(&id.issuer, &id.subject).map_err(|_| Problem::unavailable())? {
        Some(a) => state.registry.agent(a).map_err(|_| Problem::unavailable())?.ok_or_else(unknown)?,
        None => {
            let email = id.email.as_deref().filter(|_| id.email_verified).ok_or_else(unknown)?;
            let candidates =
                state.accounts.agents_by_email(&email.to_ascii_lowercase()).map_err(|_| Problem::unavailable())?;
            // Only an account its owner has already enrolled (through the mailed link) can be
            // claimed by address: a freshly approved account is not an open door.
            let mut eligible = Vec::new();
            for a in candidates.into_iter().filter(|a| a.active) {
                let has_password = state.accounts.credentials(a.id).map_err(|_| Problem::unavailable())?.is_some();
                let has_passkey = !state.accounts.passkeys_of(a.id).map_err(|_| Problem::unavailable())?.is_empty();
                if has_password || has_passkey {
                    eligible.push(a);
                }
            }
            let mut active = eligible.into_iter();
            let (Some(agent), None) = (active.next(), active.next()) else {
                return Err(unknown());
            };
            if !state
                .accounts
                .link_identity(&id.issuer, &id.subject, agent.id, now)
                .map_err(|_| Problem::unavailable())?
            {
                return Err(unknown());
            }
            state.record(&[SecurityEvent::new(now, SecurityKind::IdentityLinked)
                .by(agent.id, agent.org)
                .context(client.describe())
                .detail("issuer", &id.issuer)
                .detail("subject", &id.subject)])?;
            agent
        }
    };
    let org = state.registry.organization(agent.org).map_err(|_| Problem::unavailable())?.ok_or_else(unknown)?;
    if !agent.active || !org.active {
        return Err(unknown());
    }
    Ok((agent, org))
}

fn finish(state: &AppState, id: &FederatedIdentity, client: &Client) -> Result<Response, Problem> {
    let sso = sso(state)?;
    let (agent, org) = resolve(state, id, client)?;
    let passkey_only = vigie_core::lifecycle::passkey_required(agent.role);
    if id.multi_factor && !passkey_only {
        let tokens = session::open_session(
            state,
            &agent,
            &org,
            Opening { method: "oidc", mfa: true, credential: None },
            client,
        )?;
        return Ok(redirect_with_cookies("/", session::cookies(state, &tokens)));
    }
    if passkey_only {
        // Administrators prove themselves with their passkey, whatever the provider says.
        return Ok(redirect_with_cookies("/login?passkey=required", Vec::new()));
    }
    // Vigie's own second factor is owed.
    let pending = sso.second_factor.put(agent.id, state.clock.now());
    let c = format!("{SECOND_FACTOR_COOKIE}={pending}; Path=/; Max-Age=300; HttpOnly; Secure; SameSite=Lax");
    let cookies = HeaderValue::from_str(&c).into_iter().collect();
    Ok(redirect_with_cookies("/login/second-factor", cookies))
}

/// Sets cookies, then moves on to `to` from a page of ours: after a redirect chain that began
/// at the provider, the browser would treat a plain redirect's next request as cross-site and
/// withhold the SameSite=Strict session cookies.
pub fn redirect_with_cookies(to: &str, cookies: Vec<HeaderValue>) -> Response {
    let mut resp = pages::continue_page(to);
    *resp.status_mut() = StatusCode::OK;
    for c in cookies {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

pub fn second_factor_pending(headers: &HeaderMap) -> Option<String> {
    session::cookie(headers, SECOND_FACTOR_COOKIE).map(str::to_owned)
}

/// Completes a single sign-on login with a TOTP code. The pending login is spent whatever the
/// outcome: a wrong code means signing in at the provider again.
pub fn second_factor_totp(
    state: &AppState,
    headers: &HeaderMap,
    code: vigie_core::signin::TotpCode,
    client: &Client,
) -> Result<Response, Problem> {
    let sso = sso(state)?;
    let now = state.clock.now();
    let id = second_factor_pending(headers).ok_or_else(|| Problem::forbidden("no single sign-on in progress"))?;
    let agent_id = sso
        .second_factor
        .take(&id, now)
        .ok_or_else(|| Problem::forbidden("the single sign-on expired: start again"))?;
    let agent =
        state.registry.agent(agent_id).map_err(|_| Problem::unavailable())?.ok_or_else(Problem::bad_credentials)?;
    let org = state
        .registry
        .organization(agent.org)
        .map_err(|_| Problem::unavailable())?
        .ok_or_else(Problem::bad_credentials)?;
    if vigie_core::lifecycle::passkey_required(agent.role) {
        return Err(Problem::forbidden("this role signs in with a passkey only"));
    }
    // Guesses count against the account, as at the password sign-in.
    let key = vigie_core::signin::ThrottleKey::Account(agent.login.to_string());
    state.throttle.lock().map_err(|_| Problem::internal())?.begin_attempt(&key, now).map_err(Problem::throttled)?;
    if !session::check_totp(state, &agent, code)? || !agent.active || !org.active {
        let _ = state.record(&[SecurityEvent::new(now, SecurityKind::SignInFailed)
            .by(agent.id, org.id)
            .context(client.describe())
            .detail("method", "oidc+totp")]);
        return Err(Problem::bad_credentials());
    }
    if let Ok(mut t) = state.throttle.lock() {
        t.record_success(&key);
    }
    let tokens = session::open_session(
        state,
        &agent,
        &org,
        Opening { method: "oidc+totp", mfa: true, credential: None },
        client,
    )?;
    let mut cookies = session::cookies(state, &tokens);
    if let Ok(v) =
        HeaderValue::from_str(&format!("{SECOND_FACTOR_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"))
    {
        cookies.push(v);
    }
    Ok(redirect_with_cookies("/", cookies))
}
