//! Passkeys (WebAuthn, through webauthn-rs): registering one, signing in with one, removing
//! one. Resident keys with user verification required, so sign-in needs no login name
//! (nothing to enumerate) and the key itself checks the person. Origin, RP id, challenge
//! (single use, server side), signature, user verification and counter are webauthn-rs's
//! checks. Ceremony state never leaves the server: the browser gets an opaque ceremony id.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use vigie_core::ids::AgentId;
use vigie_core::org::{Agent, Organization};
use vigie_core::ports::StoredPasskey;
use vigie_core::security::{SecurityEvent, SecurityKind};
use vigie_core::signin::EndReason;
use webauthn_rs::prelude::{Passkey, PublicKeyCredential, RegisterPublicKeyCredential, Uuid, WebauthnError};

use crate::actions::store_err;
use crate::shared::client::Client;
use crate::shared::problem::Problem;
use crate::shared::state::{AppState, Ceremony};

/// A ceremony webauthn-rs refused, with its reason.
pub fn refused(e: &WebauthnError) -> Problem {
    Problem::passkey_refused(format!("the passkey was refused: {e}"))
}

/// A stored passkey, as webauthn-rs needs it.
pub fn parse_passkey(p: &StoredPasskey) -> Result<Passkey, Problem> {
    serde_json::from_str(&p.passkey).map_err(|e| {
        tracing::error!(error = %e, "a stored passkey does not parse");
        Problem::unavailable()
    })
}

/// A passkey's id as it appears in paths: its credential id in base64url.
pub fn passkey_id(p: &StoredPasskey) -> String {
    URL_SAFE_NO_PAD.encode(&p.credential_id)
}

/// A passkey id from a path: base64url of at most 1023 bytes.
pub fn parse_passkey_id(raw: &str) -> Result<Vec<u8>, Problem> {
    URL_SAFE_NO_PAD
        .decode(raw.as_bytes())
        .ok()
        .filter(|c| !c.is_empty() && c.len() <= 1023)
        .ok_or_else(|| Problem::invalid("id", "a passkey id is base64url"))
}

/// A passkey's name as its owner gives it.
pub fn label(raw: Option<String>) -> Result<String, Problem> {
    let l = raw.unwrap_or_else(|| "passkey".to_owned());
    let l = l.trim();
    if l.is_empty() || l.chars().count() > 64 || l.chars().any(char::is_control) {
        return Err(Problem::invalid("label", "1 to 64 printable characters"));
    }
    Ok(l.to_owned())
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

/// Removes one of the agent's passkeys and ends the sessions it opened.
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

/// Starts a sign-in with any of this site's passkeys; returns the JSON for the browser.
pub fn start_sign_in(state: &AppState) -> Result<serde_json::Value, Problem> {
    let (mut rcr, auth) = state.webauthn.start_discoverable_authentication().map_err(|e| refused(&e))?;
    // A button press, not the browser's autofill (conditional) mediation.
    rcr.mediation = None;
    let ceremony = state.sign_ins.put(Ceremony::SignIn { state: auth }, state.clock.now());
    Ok(json!({ "ceremony": ceremony, "publicKey": rcr.public_key }))
}

/// Checks a discoverable assertion; returns the agent, its organization and the credential id.
pub fn verify_sign_in(
    state: &AppState,
    ceremony: &str,
    credential: &PublicKeyCredential,
) -> Result<(Agent, Organization, Vec<u8>), Problem> {
    let now = state.clock.now();
    let Some(Ceremony::SignIn { state: auth }) = state.sign_ins.take(ceremony, now) else {
        return Err(Problem::passkey_refused("unknown, expired or already used ceremony: start again"));
    };
    let (handle, cred_id) = state.webauthn.identify_discoverable_authentication(credential).map_err(|e| refused(&e))?;
    let keys = state.accounts.passkeys_by_handle(handle.as_bytes()).map_err(store_err)?;
    let Some(stored) = keys.iter().find(|k| k.credential_id == cred_id) else {
        return Err(Problem::passkey_refused("this passkey is not registered (removed, or for another site)"));
    };
    let mut passkey = parse_passkey(stored)?;
    let result =
        state.webauthn.finish_discoverable_authentication_v2(credential, auth, &passkey).map_err(|e| refused(&e))?;
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
