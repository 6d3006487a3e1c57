//! My passkeys: `GET /v1/passkeys`, registering one (`/v1/passkeys/register/*`) and removing
//! one (`DELETE /v1/passkeys/{id}`, which ends the sessions it opened). A passkey is the key to
//! the account: adding or removing one needs a second factor confirmed in the last 15 minutes.

use crate::shared::extract::Path;
use axum::Json;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use vigie_core::ports::StoredPasskey;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use crate::actions::passkeys::{self, finish_registration, label, passkey_id, start_registration};
use crate::actions::store_err;
use crate::shared::body::Body;
use crate::shared::caller::{ApiSession, Fresh};
use crate::shared::problem::Problem;

/// A passkey as the API shows it.
pub fn passkey_json(p: &StoredPasskey) -> serde_json::Value {
    json!({
        "id": passkey_id(p),
        "label": p.label,
        "created_at": p.created_at.to_string(),
        "last_used": p.last_used.map(|t| t.to_string()),
    })
}

/// `GET /v1/passkeys`
pub async fn list(me: ApiSession) -> Result<Response, Problem> {
    me.run(|st, authed, _| {
        let keys = st.accounts.passkeys_of(authed.caller.agent.id).map_err(store_err)?;
        Ok(Json(json!({ "passkeys": keys.iter().map(passkey_json).collect::<Vec<_>>() })))
    })
    .await
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RegisterStart {
    label: Option<String>,
}

/// `POST /v1/passkeys/register/start`
pub async fn register_start(me: ApiSession<Fresh>, Body(req): Body<RegisterStart>) -> Result<Response, Problem> {
    label(req.label)?;
    me.run(|st, authed, _| start_registration(st, &authed.caller.agent).map(Json)).await
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RegisterFinish {
    ceremony: String,
    credential: RegisterPublicKeyCredential,
    label: Option<String>,
}

/// `POST /v1/passkeys/register/finish`
pub async fn register_finish(me: ApiSession<Fresh>, Body(req): Body<RegisterFinish>) -> Result<Response, Problem> {
    let label = label(req.label)?;
    me.run(move |st, authed, client| {
        let (agent, org) = (&authed.caller.agent, &authed.caller.org);
        let p = finish_registration(st, agent, org, &req.ceremony, &req.credential, &label, client)?;
        Ok((StatusCode::CREATED, Json(passkey_json(&p))))
    })
    .await
}

/// `DELETE /v1/passkeys/{id}`
pub async fn remove(me: ApiSession<Fresh>, Path(id): Path<String>) -> Result<Response, Problem> {
    let cred = passkeys::parse_passkey_id(&id)?;
    me.run(move |st, authed, client| {
        passkeys::remove_passkey(st, &authed.caller.agent, &authed.caller.org, &cred, client)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
