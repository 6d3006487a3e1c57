//! `GET /v1/me`: who the session is, and what it may do now.

use axum::Json;
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};
use vigie_core::org::{Agent, Organization};

use crate::shared::caller::ApiSession;
use crate::shared::problem::Problem;

/// An agent as the API shows it.
#[derive(Serialize, Debug)]
pub struct AgentView {
    pub id: String,
    pub login: String,
    pub display_name: String,
    pub role: &'static str,
    pub organization: OrgView,
}

/// An organization as the API shows it.
#[derive(Serialize, Debug)]
pub struct OrgView {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
}

pub fn agent_view(agent: &Agent, org: &Organization) -> AgentView {
    AgentView {
        id: agent.id.to_string(),
        login: agent.login.to_string(),
        display_name: agent.display_name.clone(),
        role: agent.role.as_str(),
        organization: OrgView { id: org.id.to_string(), name: org.name.clone(), kind: org.kind.as_str() },
    }
}

/// `GET /v1/me`
pub async fn me(me: ApiSession) -> Result<Response, Problem> {
    me.run(|_, authed, _| {
        let mut v = serde_json::to_value(agent_view(&authed.caller.agent, &authed.caller.org)).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.insert("session".into(), json!(authed.session.id.0.to_string()));
            m.insert("elevated".into(), json!(authed.caller.elevated));
            m.insert("recent_factor".into(), json!(authed.recent_factor()));
            m.insert("step_up_pending".into(), json!(authed.step_up_pending));
            m.insert("probation".into(), json!(authed.caller.probation));
        }
        Ok(Json(v))
    })
    .await
}
