//! My sessions: `GET /v1/sessions` lists them, `DELETE /v1/sessions/{id}` ends one (a device
//! I no longer trust). Administrators see an agent's sessions under `/v1/agents`.

use crate::shared::extract::Path;
use axum::Json;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::json;
use vigie_core::ids::SessionId;
use vigie_core::ports::SessionRecord;
use vigie_core::signin::EndReason;

use crate::actions::store_err;
use crate::shared::auth::end_session;
use crate::shared::caller::{ApiSession, Write};
use crate::shared::problem::Problem;

/// A session as the API shows it.
#[derive(Serialize, Debug)]
pub struct SessionView {
    pub id: String,
    pub current: bool,
    pub method: String,
    pub created_at: String,
    pub last_seen: String,
    pub expires_at: String,
    pub source: String,
    pub network: String,
    pub browser: &'static str,
    pub user_agent: String,
    pub device_bound: bool,
    pub elevated_until: Option<String>,
}

pub fn session_view(s: &SessionRecord, current: SessionId) -> SessionView {
    SessionView {
        id: s.id.0.to_string(),
        current: s.id == current,
        method: s.method.clone(),
        created_at: s.created_at.to_string(),
        last_seen: s.last_seen.to_string(),
        expires_at: s.expires_at.to_string(),
        source: s.source.clone(),
        network: s.context.network.clone(),
        browser: s.context.ua_family.as_str(),
        user_agent: s.user_agent.clone(),
        device_bound: s.device_key.is_some(),
        elevated_until: s.elevated_until.map(|t| t.to_string()),
    }
}

/// `GET /v1/sessions`: my live sessions.
pub async fn list(me: ApiSession) -> Result<Response, Problem> {
    me.run(|st, authed, _| {
        let sessions = st.accounts.sessions_of(authed.caller.agent.id, st.clock.now()).map_err(store_err)?;
        let views: Vec<SessionView> = sessions.iter().map(|s| session_view(s, authed.session.id)).collect();
        Ok(Json(json!({ "sessions": views })))
    })
    .await
}

/// `DELETE /v1/sessions/{id}`: ends one of my sessions.
pub async fn revoke(me: ApiSession<Write>, Path(id): Path<String>) -> Result<Response, Problem> {
    let id: u64 = id.parse().map_err(|_| Problem::invalid("id", "a session id is a positive integer"))?;
    me.run(move |st, authed, client| {
        match st.accounts.session_by_id(SessionId(id)).map_err(store_err)? {
            Some(s) if s.agent == authed.caller.agent.id => {
                end_session(st, &s, EndReason::Revoked, Some(client))?;
                Ok(StatusCode::NO_CONTENT)
            }
            // Another agent's session and a session that does not exist look the same.
            _ => Err(Problem::not_found()),
        }
    })
    .await
}
