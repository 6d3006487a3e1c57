//! Passkeys (WebAuthn, through webauthn-rs) and step-up.
//!
//! * Registration: from a signed-in, elevated session (`/v1/passkeys/register/*`) or from an
//!   enrolment link (see `accounts.rs`). Resident keys with user verification required, so
//!   sign-in needs no login name (nothing to enumerate) and the key itself checks the person.
//! * Sign-in: `/v1/login/passkey/start` then `/finish`. Origin, RP id, challenge (single use,
//!   server side), signature, user verification and counter are webauthn-rs's checks.
//! * Step-up: `/v1/step-up` (TOTP) or `/v1/step-up/passkey/*`. Success elevates the session
//!   for 15 minutes and re-issues its access token; a failure ends the session.
//! * Removal: `DELETE /v1/passkeys/{id}` ends the sessions the passkey opened.
//!
//! Ceremony state never leaves the server: the browser gets an opaque ceremony id.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::json;
use vigie_core::ids::AgentId;
use vigie_core::org::{Agent, Organization};
use vigie_core::ports::StoredPasskey;
use vigie_core::security::{SecurityEvent, SecurityKind};
use vigie_core::signin::{EndReason, ThrottleKey, TotpCode};
use webauthn_rs::prelude::{Passkey, PublicKeyCredential, RegisterPublicKeyCredential, Uuid, WebauthnError};

use crate::json::Body;
use crate::problem::Problem;
use crate::session::{self, Authed, Client, Opening, end_session, with_session};
use crate::state::{AppState, Ceremony};

fn refused(e: &WebauthnError) -> Problem {
    Problem::passkey_refused(format!("the passkey was refused: {e}"))
}

fn store_err(e: vigie_core::ports::StoreError) -> Problem {
    tracing::error!(error = %e, "passkey store");
    Problem::unavailable()
}

fn parse_passkey(p: &StoredPasskey) -> Result<Passkey, Problem> {
    serde_json::from_str(&p.passkey).map_err(|e| {
        tracing::error!(error = %e, "a stored passkey does not parse");
        Problem::unavailable()
    })
}

/// The agent's WebAuthn user handle: the one of its existing passkeys, or a fresh random one.
fn user_handle(state: &AppState, agent: AgentId) -> Result<[u8; 16], Problem> {
    let existing = state.accounts.passkeys_of(agent).map_err(store_err)?;
    Ok(existing.first().map_or_else(|| *Uuid::new_v4().as_bytes(), |p| p.user_handle))
}

/// Starts registering a passkey for `agent`; returns the JSON for the browser.
pub fn start_registration(state: &AppState, agent: &Agent) -> Result<serde_json::Value, Problem> {
    let handle = user_handle(state, agent.id)?;
    let existing = state.accounts.passkeys_of(agent.id).map_err(store_err)?;
    let exclude: Vec<webauthn_rs::prelude::CredentialID> = existing.iter().map(|p| p.credential_id.clone()).collect();
    let (mut ccr, reg) = state
        .webauthn
        .start_passkey_registration(Uuid::from_bytes(handle), agent.login.as_str(), &agent.display_name, Some(exclude))
        .map_err(|e| refused(&e))?;
    // A resident (discoverable) key: sign-in then needs no login name.
    if let Some(sel) = ccr.public_key.authenticator_selection.as_mut() {
        sel.require_resident_key = true;
        sel.resident_key = Some(webauthn_rs_proto::ResidentKeyRequirement::Required);
    }
    let ceremony = state
        .ceremonies
        .put(Ceremony::Register { agent: agent.id, user_handle: handle, state: reg }, state.clock.now());
    Ok(json!({ "ceremony": ceremony, "publicKey": ccr.public_key }))
}

/// Finishes a registration started for `expected` (the caller's agent, or the enrolment's).
pub fn finish_registration(
    state: &AppState,
    expected: &Agent,
    org: &Organization,
    ceremony: &str,
    credential: &RegisterPublicKeyCredential,
    label: &str,
    client: &Client,
) -> Result<StoredPasskey, Problem> {
    let now = state.clock.now();
    let Some(Ceremony::Register { agent, user_handle, state: reg }) = state.ceremonies.take(ceremony, now) else {
        return Err(Problem::passkey_refused("unknown, expired or already used ceremony: start again"));
    };
    if agent != expected.id {
        return Err(Problem::passkey_refused("this ceremony was started for another account"));
    }
    let passkey = state.webauthn.finish_passkey_registration(credential, &reg).map_err(|e| refused(&e))?;
    let stored = StoredPasskey {
        credential_id: passkey.cred_id().to_vec(),
        agent,
        user_handle,
        label: label.to_owned(),
        passkey: serde_json::to_string(&passkey).map_err(|_| Problem::internal())?,
        created_at: now,
        last_used: None,
    };
    // Recorded before it takes effect.
    state.record(&[SecurityEvent::new(now, SecurityKind::PasskeyAdded)
        .by(agent, org.id)
        .context(client.describe())
        .detail("credential", URL_SAFE_NO_PAD.encode(&stored.credential_id))
        .detail("label", label)])?;
    state.accounts.add_passkey(&stored).map_err(|_| Problem::conflict("this passkey is already registered"))?;
    Ok(stored)
}

pub fn label(raw: Option<String>) -> Result<String, Problem> {
    let l = raw.unwrap_or_else(|| "passkey".to_owned());
    let l = l.trim();
    if l.is_empty() || l.chars().count() > 64 || l.chars().any(char::is_control) {
        return Err(Problem::invalid("label", "1 to 64 printable characters"));
    }
    Ok(l.to_owned())
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RegisterStart {
    label: Option<String>,
}

/// `POST /v1/passkeys/register/start`: needs an elevated session (a passkey is the key to the
/// account: adding one is a sensitive action).
pub async fn register_start(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Body(req): Body<RegisterStart>,
) -> Result<Response, Problem> {
    label(req.label)?;
    with_session(state, &headers, client, true, |st, authed, _| {
        require_elevated(authed)?;
        start_registration(st, &authed.caller.agent).map(axum::Json)
    })
    .await
}

pub fn require_elevated(authed: &Authed) -> Result<(), Problem> {
    if authed.recent_factor() {
        Ok(())
    } else {
        Err(Problem::step_up_required(
            "this action needs a second factor confirmed in the last 15 minutes: step up first",
        ))
    }
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RegisterFinish {
    ceremony: String,
    credential: RegisterPublicKeyCredential,
    label: Option<String>,
}

pub async fn register_finish(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Body(req): Body<RegisterFinish>,
) -> Result<Response, Problem> {
    let label = label(req.label)?;
    with_session(state, &headers, client, true, move |st, authed, client| {
        require_elevated(authed)?;
        let p = finish_registration(
            st,
            &authed.caller.agent,
            &authed.caller.org,
            &req.ceremony,
            &req.credential,
            &label,
            client,
        )?;
        Ok((StatusCode::CREATED, axum::Json(passkey_json(&p))))
    })
    .await
}

pub fn passkey_json(p: &StoredPasskey) -> serde_json::Value {
    json!({
        "id": URL_SAFE_NO_PAD.encode(&p.credential_id),
        "label": p.label,
        "created_at": p.created_at.to_string(),
        "last_used": p.last_used.map(|t| t.to_string()),
    })
}

/// `GET /v1/passkeys`
pub async fn list(State(state): State<Arc<AppState>>, client: Client, headers: HeaderMap) -> Result<Response, Problem> {
    with_session(state, &headers, client, false, |st, authed, _| {
        let keys = st.accounts.passkeys_of(authed.caller.agent.id).map_err(store_err)?;
        Ok(axum::Json(json!({ "passkeys": keys.iter().map(passkey_json).collect::<Vec<_>>() })))
    })
    .await
}

/// `DELETE /v1/passkeys/{id}`: removes one of my passkeys and ends the sessions it opened.
pub async fn remove(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let cred = URL_SAFE_NO_PAD
        .decode(id.as_bytes())
        .ok()
        .filter(|c| !c.is_empty() && c.len() <= 1023)
        .ok_or_else(|| Problem::invalid("id", "a passkey id is base64url"))?;
    with_session(state, &headers, client, true, move |st, authed, client| {
        require_elevated(authed)?;
        remove_passkey(st, &authed.caller.agent, &authed.caller.org, &cred, client)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

pub fn remove_passkey(
    state: &AppState,
    agent: &Agent,
    org: &Organization,
    cred: &[u8],
    client: &Client,
) -> Result<(), Problem> {
    let now = state.clock.now();
    if !state.accounts.remove_passkey(agent.id, cred).map_err(store_err)? {
        return Err(Problem::not_found());
    }
    let ended = state.accounts.end_sessions_by_credential(cred).map_err(store_err)?;
    let mut events = vec![
        SecurityEvent::new(now, SecurityKind::PasskeyRemoved)
            .by(agent.id, org.id)
            .context(client.describe())
            .detail("credential", URL_SAFE_NO_PAD.encode(cred)),
    ];
    for s in ended {
        events.push(
            SecurityEvent::new(now, SecurityKind::SessionEnded)
                .by(agent.id, org.id)
                .session(s)
                .detail("reason", EndReason::CredentialRemoved.as_str()),
        );
    }
    state.record(&events)
}

/// `POST /v1/login/passkey/start`: a challenge for any of this site's passkeys.
pub async fn login_start(State(state): State<Arc<AppState>>) -> Result<Response, Problem> {
    let (mut rcr, auth) = state.webauthn.start_discoverable_authentication().map_err(|e| refused(&e))?;
    // A button press, not the browser's autofill (conditional) mediation.
    rcr.mediation = None;
    let ceremony = state.sign_ins.put(Ceremony::SignIn { state: auth }, state.clock.now());
    Ok(axum::Json(json!({ "ceremony": ceremony, "publicKey": rcr.public_key })).into_response())
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Assertion {
    ceremony: String,
    credential: PublicKeyCredential,
}

/// `POST /v1/login/passkey/finish`: verifies the assertion and opens a session bound to this
/// client. Failures count against the network's throttle.
pub async fn login_finish(
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
    let outcome = tokio::task::spawn_blocking(move || {
        let who = verify_sign_in(&st, &req)?;
        let (agent, org, cred) = who;
        let tokens = session::open_session(
            &st,
            &agent,
            &org,
            Opening { method: "passkey", mfa: true, credential: Some(cred) },
            &client,
        )?;
        Ok::<_, Problem>((tokens, agent, org))
    })
    .await
    .map_err(|_| Problem::internal())?;
    match outcome {
        Ok((tokens, agent, org)) => {
            if let Ok(mut t) = state.throttle.lock() {
                t.refund(&network_key);
            }
            Ok(session::session_response(&state, &tokens, Some((&agent, &org))))
        }
        Err(p) => Err(p),
    }
}

/// Checks a discoverable assertion; returns the agent, its organization and the credential id.
fn verify_sign_in(state: &AppState, req: &Assertion) -> Result<(Agent, Organization, Vec<u8>), Problem> {
    let now = state.clock.now();
    let Some(Ceremony::SignIn { state: auth }) = state.sign_ins.take(&req.ceremony, now) else {
        return Err(Problem::passkey_refused("unknown, expired or already used ceremony: start again"));
    };
    let (handle, cred_id) =
        state.webauthn.identify_discoverable_authentication(&req.credential).map_err(|e| refused(&e))?;
    let keys = state.accounts.passkeys_by_handle(handle.as_bytes()).map_err(store_err)?;
    let Some(stored) = keys.iter().find(|k| k.credential_id == cred_id) else {
        return Err(Problem::passkey_refused("this passkey is not registered (removed, or for another site)"));
    };
    let mut passkey = parse_passkey(stored)?;
    let result = state
        .webauthn
        .finish_discoverable_authentication_v2(&req.credential, auth, &passkey)
        .map_err(|e| refused(&e))?;
    if !result.user_verified() {
        return Err(Problem::passkey_refused("the authenticator did not verify the user"));
    }
    passkey.update_credential(&result);
    let json = serde_json::to_string(&passkey).map_err(|_| Problem::internal())?;
    state.accounts.update_passkey(&stored.credential_id, &json, now).map_err(store_err)?;
    let agent = state.registry.agent(stored.agent).map_err(store_err)?;
    let org = match &agent {
        Some(a) => state.registry.organization(a.org).map_err(store_err)?,
        None => None,
    };
    match (agent, org) {
        (Some(a), Some(o)) if a.active && o.active => Ok((a, o, stored.credential_id.clone())),
        _ => Err(Problem::passkey_refused("this account is disabled")),
    }
}

fn elevated_response(state: &AppState, tokens: &session::Tokens) -> Response {
    session::session_response(state, tokens, None)
}

/// Elevates the session after a successful step-up, and cycles its access token (a
/// privilege change gets a new token).
fn elevate(state: &AppState, authed: &Authed, client: &Client, method: &str) -> Result<session::Tokens, Problem> {
    let now = state.clock.now();
    let until = now.plus_millis(state.settings.policy.elevation_ms);
    // Recorded before it takes effect (a privilege granted without its record would be lost).
    state.record(&[SecurityEvent::new(now, SecurityKind::StepUp)
        .by(authed.caller.agent.id, authed.caller.org.id)
        .session(authed.session.id)
        .context(client.describe())
        .detail("method", method)])?;
    state.accounts.elevate(authed.session.id, until).map_err(store_err)?;
    session::rotate_access(state, &authed.session)
}

/// A failed step-up ends the session: whoever holds it could not prove to be its owner.
fn fail_step_up(state: &AppState, authed: &Authed, client: &Client, why: &str) -> Problem {
    let now = state.clock.now();
    let _ = state.record(&[SecurityEvent::new(now, SecurityKind::StepUpFailed)
        .by(authed.caller.agent.id, authed.caller.org.id)
        .session(authed.session.id)
        .context(client.describe())
        .detail("why", why)]);
    match end_session(state, &authed.session, EndReason::StepUpFailed, Some(client)) {
        Ok(()) => Problem::session_ended(EndReason::StepUpFailed.as_str()),
        Err(p) => p,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpStepUp {
    totp: String,
}

impl std::fmt::Debug for TotpStepUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpStepUp").finish_non_exhaustive()
    }
}

/// `POST /v1/step-up` with a TOTP code.
pub async fn step_up_totp(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Body(req): Body<TotpStepUp>,
) -> Result<Response, Problem> {
    let code: TotpCode = req
        .totp
        .parse()
        .map_err(|e: vigie_core::signin::totp::TotpCodeError| Problem::invalid("totp", e.to_string()))?;
    with_session(state, &headers, client, true, move |st, authed, client| {
        let tokens = step_up_totp_blocking(st, authed, client, code)?;
        Ok(elevated_response(st, &tokens))
    })
    .await
}

/// Checks the code and elevates; a wrong or reused code ends the session.
pub fn step_up_totp_blocking(
    st: &AppState,
    authed: &Authed,
    client: &Client,
    code: TotpCode,
) -> Result<session::Tokens, Problem> {
    if vigie_core::lifecycle::passkey_required(authed.caller.agent.role) {
        return Err(Problem::forbidden("this role steps up with a passkey: use /v1/step-up/passkey/start"));
    }
    if !session::check_totp(st, &authed.caller.agent, code)? {
        return Err(fail_step_up(st, authed, client, "wrong or reused code"));
    }
    elevate(st, authed, client, "totp")
}

/// `POST /v1/step-up/passkey/start`: a challenge for one of the agent's own passkeys.
pub async fn step_up_start(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    with_session(state, &headers, client, true, |st, authed, _| {
        let keys = st.accounts.passkeys_of(authed.caller.agent.id).map_err(store_err)?;
        let keys: Vec<Passkey> = keys.iter().map(parse_passkey).collect::<Result<_, _>>()?;
        if keys.is_empty() {
            return Err(Problem::conflict("no passkey registered: step up with a TOTP code"));
        }
        let (rcr, auth) = st.webauthn.start_passkey_authentication(&keys).map_err(|e| refused(&e))?;
        let ceremony = st.ceremonies.put(Ceremony::StepUp { session: authed.session.id, state: auth }, st.clock.now());
        Ok(axum::Json(json!({ "ceremony": ceremony, "publicKey": rcr.public_key })))
    })
    .await
}

/// `POST /v1/step-up/passkey/finish`
pub async fn step_up_finish(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Body(req): Body<Assertion>,
) -> Result<Response, Problem> {
    with_session(state, &headers, client, true, move |st, authed, client| {
        let now = st.clock.now();
        let Some(Ceremony::StepUp { session, state: auth }) = st.ceremonies.take(&req.ceremony, now) else {
            return Err(Problem::passkey_refused("unknown, expired or already used ceremony: start again"));
        };
        if session != authed.session.id {
            return Err(Problem::passkey_refused("this ceremony was started by another session"));
        }
        let result = match st.webauthn.finish_passkey_authentication(&req.credential, &auth) {
            Ok(r) if r.user_verified() => r,
            Ok(_) => return Err(fail_step_up(st, authed, client, "user not verified")),
            Err(e) => return Err(fail_step_up(st, authed, client, &e.to_string())),
        };
        for stored in st.accounts.passkeys_of(authed.caller.agent.id).map_err(store_err)? {
            if stored.credential_id.as_slice() == result.cred_id().as_slice() {
                let mut pk = parse_passkey(&stored)?;
                pk.update_credential(&result);
                let json = serde_json::to_string(&pk).map_err(|_| Problem::internal())?;
                st.accounts.update_passkey(&stored.credential_id, &json, now).map_err(store_err)?;
            }
        }
        let tokens = elevate(st, authed, client, "passkey")?;
        Ok(elevated_response(st, &tokens))
    })
    .await
}
