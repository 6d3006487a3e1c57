//! An agent's account, for its administrators: `POST /v1/agents/{id}/disable` (the account
//! stops working at once, its sessions end), `GET /v1/agents/{id}/sessions` and `DELETE` of
//! the same (every session ends; the account stays active).

use crate::shared::extract::Path;
use axum::Json;
use axum::response::Response;
use serde_json::json;

use crate::actions::{accounts, store_err};
use crate::api::sessions::session_view;
use crate::shared::caller::{ApiSession, Write};
use crate::shared::params::agent_id;
use crate::shared::problem::Problem;

/// `GET /v1/agents/{id}/sessions`
pub async fn sessions(me: ApiSession, Path(id): Path<String>) -> Result<Response, Problem> {
    let id = agent_id(&id)?;
    me.run(move |st, authed, _| {
        let target = accounts::managed(st, authed, id)?;
        let sessions = st.accounts.sessions_of(target.id, st.clock.now()).map_err(store_err)?;
        let views: Vec<_> = sessions.iter().map(|s| session_view(s, authed.session.id)).collect();
        Ok(Json(json!({ "agent": id.to_string(), "sessions": views })))
    })
    .await
}

/// `DELETE /v1/agents/{id}/sessions`
pub async fn end_sessions(me: ApiSession<Write>, Path(id): Path<String>) -> Result<Response, Problem> {
    let id = agent_id(&id)?;
    me.run(move |st, authed, client| {
        let ended = accounts::end_agent_sessions(st, authed, client, id)?;
        Ok(Json(json!({ "agent": id.to_string(), "ended": ended.len() })))
    })
    .await
}

/// `POST /v1/agents/{id}/disable`
pub async fn disable(me: ApiSession<Write>, Path(id): Path<String>) -> Result<Response, Problem> {
    let id = agent_id(&id)?;
    me.run(move |st, authed, client| {
        accounts::disable_agent(st, authed, client, id)?;
        Ok(Json(json!({ "agent": id.to_string(), "active": false })))
    })
    .await
}
