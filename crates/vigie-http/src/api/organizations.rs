//! Freezes of an organization's account creation (set by the detector when it suspends one of
//! its accounts): `GET /v1/organizations/{id}/freeze` says whether, since when and why;
//! `POST …/unfreeze` lets a stepped-up security officer lift it.

use crate::shared::extract::Path;
use axum::Json;
use axum::response::Response;
use serde_json::json;
use vigie_core::ids::OrgId;
use vigie_core::lifecycle::OrgFreeze;

use crate::actions::accounts;
use crate::shared::caller::{ApiSession, Write};
use crate::shared::params::org_id;
use crate::shared::problem::Problem;

fn freeze_json(org: OrgId, freeze: Option<&OrgFreeze>) -> serde_json::Value {
    json!({
        "organization": org.to_string(),
        "frozen": freeze.is_some(),
        "frozen_at": freeze.map(|f| f.frozen_at.to_string()),
        "reason": freeze.map(|f| f.reason.as_str()),
        "agent": freeze.and_then(|f| f.agent).map(|a| a.to_string()),
    })
}

/// `GET /v1/organizations/{id}/freeze`
pub async fn freeze(me: ApiSession, Path(id): Path<String>) -> Result<Response, Problem> {
    let org = org_id(&id)?;
    me.run(move |st, authed, _| {
        let freeze = accounts::freeze_of(st, authed, org)?;
        Ok(Json(freeze_json(org, freeze.as_ref())))
    })
    .await
}

/// `POST /v1/organizations/{id}/unfreeze`
pub async fn unfreeze(me: ApiSession<Write>, Path(id): Path<String>) -> Result<Response, Problem> {
    let org = org_id(&id)?;
    me.run(move |st, authed, client| {
        accounts::lift_freeze(st, authed, client, org)?;
        Ok(Json(freeze_json(org, None)))
    })
    .await
}
