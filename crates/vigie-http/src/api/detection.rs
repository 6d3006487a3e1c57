//! The detector's human side over the API: `POST /v1/agents/{id}/lift-throttle` (the agent's
//! manager or a security officer lifts the throttle the detector put on it past a passed
//! step-up or a campaign link), `POST /v1/campaigns` and `GET /v1/campaigns` (a manager
//! declares a campaign that widens the thresholds for a bounded time), `POST /v1/relationships`
//! (an agent records a follow-up, an assignment or a caseload entry, judged by the detector),
//! `POST /v1/service-accounts` (a security officer binds an integration to its key) and
//! `POST /v1/token` (an integration signs in with a client assertion).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use vigie_core::campaign::CampaignDeclaration;

use crate::actions::detection::{self, CampaignRequest, RelationshipRequest, ServiceAccountRequest};
use crate::actions::{sign_in, store_err};
use crate::api::persons::Reason;
use crate::api::sign_in::session_response;
use crate::shared::body::Body;
use crate::shared::caller::{ApiSession, Write};
use crate::shared::client::Client;
use crate::shared::extract::Path;
use crate::shared::params::agent_id;
use crate::shared::problem::Problem;
use crate::shared::state::AppState;

/// `POST /v1/agents/{id}/lift-throttle`
pub async fn lift_throttle(me: ApiSession<Write>, Path(id): Path<String>) -> Result<Response, Problem> {
    let id = agent_id(&id)?;
    me.run(move |st, authed, client| {
        let lifted = detection::lift_throttle(st, authed, client, id)?;
        Ok(Json(json!({ "agent": id.to_string(), "lifted": lifted })))
    })
    .await
}

fn campaign_json(c: &CampaignDeclaration) -> serde_json::Value {
    json!({
        "organization": c.org.to_string(),
        "team": c.team.map(|t| t.to_string()),
        "declared_by": c.declared_by.to_string(),
        "reason": c.reason.as_str(),
        "persons_per_agent": c.persons_per_agent,
        "from": c.from.to_string(),
        "until": c.until.to_string(),
    })
}

/// `POST /v1/campaigns`
pub async fn declare(me: ApiSession<Write>, Body(req): Body<CampaignRequest>) -> Result<Response, Problem> {
    me.run(move |st, authed, client| {
        let c = detection::declare_campaign(st, authed, client, req)?;
        Ok((StatusCode::CREATED, Json(campaign_json(&c))))
    })
    .await
}

/// `GET /v1/campaigns`: the caller's organization's campaigns not yet ended.
pub async fn list(me: ApiSession) -> Result<Response, Problem> {
    me.run(move |st, authed, _| {
        let all = st.accounts.active_campaigns(st.clock.now()).map_err(store_err)?;
        let mine: Vec<_> = all.iter().filter(|c| c.org == authed.caller.org.id).map(campaign_json).collect();
        Ok(Json(json!({ "campaigns": mine })))
    })
    .await
}

/// `POST /v1/relationships` (a `Vigie-Reason` header answers a friction prompt)
pub async fn create_relationship(
    me: ApiSession<Write>,
    reason: Reason,
    Body(req): Body<RelationshipRequest>,
) -> Result<Response, Problem> {
    let Reason(reason) = reason;
    me.run(move |st, authed, client| {
        let r = detection::create_relationship(st, authed, client, req, reason)?;
        Ok((
            StatusCode::CREATED,
            Json(json!({
                "person": r.person.to_string(),
                "kind": r.kind.as_str(),
                "valid_from": vigie_core::time::format_date(r.valid_from),
                "valid_to": r.valid_to.map(vigie_core::time::format_date),
            })),
        ))
    })
    .await
}

/// `POST /v1/service-accounts`
pub async fn register_service(
    me: ApiSession<Write>,
    Body(req): Body<ServiceAccountRequest>,
) -> Result<Response, Problem> {
    me.run(move |st, authed, client| {
        let s = detection::register_service_account(st, authed, client, req)?;
        Ok((
            StatusCode::CREATED,
            Json(json!({
                "agent": s.agent.to_string(),
                "key": s.key.kind(),
                "persons_hour": s.envelope.persons_hour,
                "persons_day": s.envelope.persons_day,
            })),
        ))
    })
    .await
}

/// `POST /v1/token`: a service account's client assertion for an access token (no refresh
/// token: it signs a new assertion when this one expires).
pub async fn token(
    State(state): State<Arc<AppState>>,
    client: Client,
    Body(req): Body<sign_in::TokenRequest>,
) -> Result<Response, Problem> {
    let st = state.clone();
    let tokens = tokio::task::spawn_blocking(move || sign_in::service_sign_in(&st, &client, &req))
        .await
        .map_err(|_| Problem::internal())??;
    Ok(session_response(&state, &tokens, None).into_response())
}
