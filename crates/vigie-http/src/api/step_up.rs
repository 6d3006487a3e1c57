//! Step-up: `POST /v1/step-up` with a TOTP code, or `/v1/step-up/passkey/*` with one of the
//! agent's own passkeys. Success elevates the session for 15 minutes and answers a new access
//! token; a failure ends the session.

use axum::Json;
use axum::response::Response;
use serde::Deserialize;
use vigie_core::signin::TotpCode;

use crate::actions::step_up;
use crate::api::sign_in::{Assertion, session_response};
use crate::shared::body::Body;
use crate::shared::caller::{ApiSession, Write};
use crate::shared::problem::Problem;

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
pub async fn totp(me: ApiSession<Write>, Body(req): Body<TotpStepUp>) -> Result<Response, Problem> {
    let code: TotpCode = req
        .totp
        .parse()
        .map_err(|e: vigie_core::signin::totp::TotpCodeError| Problem::invalid("totp", e.to_string()))?;
    me.run(move |st, authed, client| {
        let tokens = step_up::with_totp(st, authed, client, code)?;
        Ok(session_response(st, &tokens, None))
    })
    .await
}

/// `POST /v1/step-up/passkey/start`: a challenge for one of the agent's own passkeys.
pub async fn passkey_start(me: ApiSession<Write>) -> Result<Response, Problem> {
    me.run(|st, authed, _| step_up::start_with_passkey(st, authed).map(Json)).await
}

/// `POST /v1/step-up/passkey/finish`
pub async fn passkey_finish(me: ApiSession<Write>, Body(req): Body<Assertion>) -> Result<Response, Problem> {
    me.run(move |st, authed, client| {
        let tokens = step_up::finish_with_passkey(st, authed, client, &req.ceremony, &req.credential)?;
        Ok(session_response(st, &tokens, None))
    })
    .await
}
