//! Enrolment through the single-use link mailed to a new agent: `GET /v1/enrol/{token}` says
//! what the link is for; a passkey (`…/passkey/start`, `…/passkey/finish`) or a password then
//! an authenticator app (`…/password`, then `…/confirm` with the first code) sets up how the
//! agent signs in. No session: the link is the credential.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;

use crate::shared::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use vigie_core::lifecycle;
use vigie_core::org::{Agent, Organization};
use vigie_core::signin::{self, TotpCode};
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use crate::actions::{enrolment, passkeys};
use crate::shared::body::Body;
use crate::shared::client::Client;
use crate::shared::problem::Problem;
use crate::shared::state::AppState;

fn enrolment_json(agent: &Agent, org: &Organization) -> serde_json::Value {
    json!({
        "login": agent.login.as_str(),
        "display_name": agent.display_name,
        "role": agent.role.as_str(),
        "organization": org.name,
        "methods": if lifecycle::passkey_required(agent.role) { vec!["passkey"] } else { vec!["passkey", "password_totp"] },
    })
}

/// `GET /v1/enrol/{token}`
pub async fn info(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Result<Response, Problem> {
    let token = enrolment::token(&token)?;
    let (agent, org) = enrolment::agent_of_async(&state, token).await?;
    Ok(Json(enrolment_json(&agent, &org)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolPassword {
    password: String,
}

impl std::fmt::Debug for EnrolPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrolPassword").finish_non_exhaustive()
    }
}

/// `POST /v1/enrol/{token}/password`: chooses a password; answers a fresh TOTP secret to put
/// in an authenticator app. Nothing is stored until `/confirm` proves the app has it.
pub async fn password(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    Body(req): Body<EnrolPassword>,
) -> Result<Response, Problem> {
    let token = enrolment::token(&token)?;
    let (b32, uri) = enrolment::choose_password(&state, token, req.password).await?;
    Ok(Json(json!({
        "totp_secret": b32,
        "otpauth_uri": uri,
        "next": "confirm with a code from your app: POST /v1/enrol/{token}/confirm",
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolConfirm {
    totp: String,
}

impl std::fmt::Debug for EnrolConfirm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrolConfirm").finish_non_exhaustive()
    }
}

/// `POST /v1/enrol/{token}/confirm`: the first code from the app.
pub async fn confirm(
    State(state): State<Arc<AppState>>,
    client: Client,
    Path(token): Path<String>,
    Body(req): Body<EnrolConfirm>,
) -> Result<Response, Problem> {
    let token = enrolment::token(&token)?;
    let code: TotpCode =
        req.totp.parse().map_err(|e: signin::totp::TotpCodeError| Problem::invalid("totp", e.to_string()))?;
    enrolment::confirm(&state, token, code, client).await?;
    Ok(Json(json!({ "enrolled": true, "next": "sign in" })).into_response())
}

/// `POST /v1/enrol/{token}/passkey/start`
pub async fn passkey_start(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Result<Response, Problem> {
    let token = enrolment::token(&token)?;
    let st = state.clone();
    let out = tokio::task::spawn_blocking(move || {
        let (agent, _) = enrolment::agent_of(&st, &token)?;
        passkeys::start_registration(&st, &agent)
    })
    .await
    .map_err(|_| Problem::internal())??;
    Ok(Json(out).into_response())
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct EnrolPasskeyFinish {
    ceremony: String,
    credential: RegisterPublicKeyCredential,
    label: Option<String>,
}

/// `POST /v1/enrol/{token}/passkey/finish`
pub async fn passkey_finish(
    State(state): State<Arc<AppState>>,
    client: Client,
    Path(token): Path<String>,
    Body(req): Body<EnrolPasskeyFinish>,
) -> Result<Response, Problem> {
    let token = enrolment::token(&token)?;
    let label = passkeys::label(req.label.clone())?;
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        enrolment::finish_passkey(&st, &token, &req.ceremony, &req.credential, &label, &client)
    })
    .await
    .map_err(|_| Problem::internal())??;
    Ok((StatusCode::CREATED, Json(json!({ "enrolled": true, "next": "sign in with your passkey" }))).into_response())
}
