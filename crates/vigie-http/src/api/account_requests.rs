//! Account requests, four eyes: `POST /v1/account-requests` asks for an account in my
//! organization, a second administrator approves (`…/{id}/approve`: the enrolment link goes by
//! mail to the new agent, never in the answer) or rejects (`…/{id}/reject`).

use crate::shared::extract::Path;
use axum::Json;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use vigie_core::lifecycle::AccountRequest;
use vigie_core::time::Timestamp;

use crate::actions::accounts::{self, NewRequest};
use crate::shared::body::Body;
use crate::shared::caller::{ApiSession, Write};
use crate::shared::params::request_number;
use crate::shared::problem::Problem;

/// A request as the API shows it (its state as of `now`).
pub fn request_json(r: &AccountRequest, now: Timestamp) -> serde_json::Value {
    json!({
        "id": r.id.to_string(),
        "organization": r.org.to_string(),
        "requested_by": r.requested_by.to_string(),
        "login": r.login.as_str(),
        "display_name": r.display_name,
        "email": r.email,
        "role": r.role.as_str(),
        "team": r.team.map(|t| t.to_string()),
        "justification": r.justification,
        "created_at": r.created_at.to_string(),
        "expires_at": r.expires_at.to_string(),
        "state": r.state_at(now).as_str(),
        "decided_by": r.decided_by.map(|a| a.to_string()),
        "agent": r.agent.map(|a| a.to_string()),
    })
}

/// `POST /v1/account-requests`
pub async fn create(me: ApiSession<Write>, Body(req): Body<NewRequest>) -> Result<Response, Problem> {
    me.run(move |st, authed, client| {
        let now = st.clock.now();
        let request = req.parse(&authed.caller.agent, now)?;
        let r = accounts::create_request(st, authed, client, request)?;
        Ok((StatusCode::CREATED, Json(request_json(&r, now))))
    })
    .await
}

/// `GET /v1/account-requests`: my organization's requests (an agency's security officer sees
/// every organization's).
pub async fn list(me: ApiSession) -> Result<Response, Problem> {
    me.run(|st, authed, _| {
        let now = st.clock.now();
        let rs = accounts::visible_requests(st, authed)?;
        Ok(Json(json!({ "requests": rs.iter().map(|r| request_json(r, now)).collect::<Vec<_>>() })))
    })
    .await
}

/// `POST /v1/account-requests/{id}/approve`
pub async fn approve(me: ApiSession<Write>, Path(id): Path<String>) -> Result<Response, Problem> {
    let id = request_number(&id)?;
    me.run(move |st, authed, client| {
        let agent = accounts::approve_request(st, authed, client, id)?;
        Ok(Json(json!({
            "state": "approved",
            "agent": agent.to_string(),
            "enrolment": "a single-use link valid 24 hours was sent to the new agent's own address",
        })))
    })
    .await
}

/// `POST /v1/account-requests/{id}/reject`
pub async fn reject(me: ApiSession<Write>, Path(id): Path<String>) -> Result<Response, Problem> {
    let id = request_number(&id)?;
    me.run(move |st, authed, client| {
        accounts::reject_request(st, authed, client, id)?;
        Ok(Json(json!({ "state": "rejected" })))
    })
    .await
}
