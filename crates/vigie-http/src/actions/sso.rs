//! Single sign-on: Vigie as an OpenID Connect relying party (`vigie-oidc`), so an agency can
//! plug its identity provider (ProConnect for French public agents).
//!
//! The provider says who the person is; Vigie still decides what a sign-in is worth. An
//! identity is linked to an agent once (by its issuer and subject; the first time by a
//! verified e-mail address that exactly one active agent has), and a login whose `acr`/`amr`
//! does not show several factors must pass Vigie's own second factor before a session opens.
//! Roles that sign in with a passkey only (administrators) never get a session from the
//! provider alone.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use vigie_core::org::{Agent, Organization};
use vigie_core::security::{SecurityEvent, SecurityKind};
use vigie_oidc::FederatedIdentity;

use crate::actions::sign_in::{Opening, attempt_succeeded, begin_attempt, check_totp, open_session};
use crate::shared::client::Client;
use crate::shared::problem::Problem;
use crate::shared::render;
use crate::shared::state::{AppState, Sso};
use crate::shared::tokens::{self, cookie};

/// Cookie that carries a single sign-on login waiting for Vigie's second factor (5 minutes).
pub const SECOND_FACTOR_COOKIE: &str = "__Host-vigie_sso";
/// Cookie that ties a login started at the provider to the browser that started it, so that
/// nobody can hand a victim a callback URL that signs them in as someone else (login CSRF).
pub const STATE_COOKIE: &str = "__Host-vigie_oidc";

/// Single sign-on's state, or 404 when it is not configured.
pub fn sso(state: &AppState) -> Result<&Sso, Problem> {
    state.sso.as_ref().ok_or_else(Problem::sso_not_configured)
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

/// Opens the session a federated identity is worth, or sends the browser to the second factor
/// Vigie still owes (or to the passkey sign-in, for roles that sign in with a passkey only).
pub fn finish(state: &AppState, id: &FederatedIdentity, client: &Client) -> Result<Response, Problem> {
    let sso = sso(state)?;
    let (agent, org) = resolve(state, id, client)?;
    let passkey_only = vigie_core::lifecycle::passkey_required(agent.role);
    if id.multi_factor && !passkey_only {
        let tokens = open_session(
            state,
            &agent,
            &org,
            Opening { method: "oidc", mfa: true, credential: None, service: None },
            client,
        )?;
        return Ok(redirect_with_cookies("/", tokens::cookies(state, &tokens)));
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
    let mut resp = render::continue_page(to);
    *resp.status_mut() = StatusCode::OK;
    for c in cookies {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

pub fn second_factor_pending(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SECOND_FACTOR_COOKIE).map(str::to_owned)
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
    // Guesses count against the same budgets as at the password sign-in.
    let keys = begin_attempt(state, &agent.login, client.ip, now)?;
    if !check_totp(state, &agent, code)? || !agent.active || !org.active {
        let _ = state.record(&[SecurityEvent::new(now, SecurityKind::SignInFailed)
            .by(agent.id, org.id)
            .context(client.describe())
            .detail("method", "oidc+totp")]);
        return Err(Problem::bad_credentials());
    }
    if let Ok(mut t) = state.throttle.lock() {
        attempt_succeeded(&mut t, &keys, &agent.login, client.ip, now);
    }
    let tokens = open_session(
        state,
        &agent,
        &org,
        Opening { method: "oidc+totp", mfa: true, credential: None, service: None },
        client,
    )?;
    let mut cookies = tokens::cookies(state, &tokens);
    if let Ok(v) =
        HeaderValue::from_str(&format!("{SECOND_FACTOR_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"))
    {
        cookies.push(v);
    }
    Ok(redirect_with_cookies("/", cookies))
}
