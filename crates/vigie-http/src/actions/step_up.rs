//! Step-up: a fresh second factor (a TOTP code, or one of the agent's own passkeys) elevates
//! the session for the elevation window and cycles its access token; a failure ends the
//! session (whoever holds it could not prove to be its owner).

use serde_json::json;
use vigie_core::security::SecurityKind;
use vigie_core::signin::{EndReason, TotpCode};
use webauthn_rs::prelude::{Passkey, PublicKeyCredential};

use crate::actions::passkeys::{parse_passkey, refused};
use crate::actions::sign_in::check_totp;
use crate::actions::store_err;
use crate::shared::auth::{Authed, end_session, rotate_access};
use crate::shared::client::Client;
use crate::shared::problem::Problem;
use crate::shared::state::{AppState, Ceremony};
use crate::shared::tokens::Tokens;

/// Checks the code and elevates; a wrong or reused code ends the session. Blocking.
pub fn with_totp(st: &AppState, authed: &Authed, client: &Client, code: TotpCode) -> Result<Tokens, Problem> {
    if vigie_core::lifecycle::passkey_required(authed.caller.agent.role) {
        return Err(Problem::forbidden("this role steps up with a passkey: use /v1/step-up/passkey/start"));
    }
    if !check_totp(st, &authed.caller.agent, code)? {
        return Err(fail(st, authed, client, "wrong or reused code"));
    }
    elevate(st, authed, client, "totp")
}

/// A challenge for one of the agent's own passkeys; returns the JSON for the browser.
pub fn start_with_passkey(st: &AppState, authed: &Authed) -> Result<serde_json::Value, Problem> {
    let keys = st.accounts.passkeys_of(authed.caller.agent.id).map_err(store_err)?;
    let keys: Vec<Passkey> = keys.iter().map(parse_passkey).collect::<Result<_, _>>()?;
    if keys.is_empty() {
        return Err(Problem::conflict("no passkey registered: step up with a TOTP code"));
    }
    let (rcr, auth) = st.webauthn.start_passkey_authentication(&keys).map_err(|e| refused(&e))?;
    let ceremony = st.ceremonies.put(Ceremony::StepUp { session: authed.session.id, state: auth }, st.clock.now());
    Ok(json!({ "ceremony": ceremony, "publicKey": rcr.public_key }))
}

/// Checks the assertion for the ceremony this session started, and elevates.
pub fn finish_with_passkey(
    st: &AppState,
    authed: &Authed,
    client: &Client,
    ceremony: &str,
    credential: &PublicKeyCredential,
) -> Result<Tokens, Problem> {
    let now = st.clock.now();
    let Some(Ceremony::StepUp { session, state: auth }) = st.ceremonies.take(ceremony, now) else {
        return Err(Problem::passkey_refused("unknown, expired or already used ceremony: start again"));
    };
    if session != authed.session.id {
        return Err(Problem::passkey_refused("this ceremony was started by another session"));
    }
    let result = match st.webauthn.finish_passkey_authentication(credential, &auth) {
        Ok(r) if r.user_verified() => r,
        Ok(_) => return Err(fail(st, authed, client, "user not verified")),
        Err(e) => return Err(fail(st, authed, client, &e.to_string())),
    };
    for stored in st.accounts.passkeys_of(authed.caller.agent.id).map_err(store_err)? {
        if stored.credential_id.as_slice() == result.cred_id().as_slice() {
            let mut pk = parse_passkey(&stored)?;
            pk.update_credential(&result);
            let json = serde_json::to_string(&pk).map_err(|_| Problem::internal())?;
            st.accounts.update_passkey(&stored.credential_id, &json, now).map_err(store_err)?;
        }
    }
    elevate(st, authed, client, "passkey")
}

/// Elevates the session after a successful step-up, and cycles its access token (a
/// privilege change gets a new token).
fn elevate(state: &AppState, authed: &Authed, client: &Client, method: &str) -> Result<Tokens, Problem> {
    let now = state.clock.now();
    let until = now.plus_millis(state.settings.policy.elevation_ms);
    // Recorded before it takes effect (a privilege granted without its record would be lost).
    state.record(&[authed.event(now, SecurityKind::StepUp, client).detail("method", method)])?;
    state.accounts.elevate(authed.session.id, until).map_err(store_err)?;
    rotate_access(state, &authed.session)
}

/// A failed step-up ends the session: whoever holds it could not prove to be its owner.
fn fail(state: &AppState, authed: &Authed, client: &Client, why: &str) -> Problem {
    let now = state.clock.now();
    let _ = state.record(&[authed.event(now, SecurityKind::StepUpFailed, client).detail("why", why)]);
    match end_session(state, &authed.session, EndReason::StepUpFailed, Some(client)) {
        Ok(()) => Problem::session_ended(EndReason::StepUpFailed.as_str()),
        Err(p) => p,
    }
}
