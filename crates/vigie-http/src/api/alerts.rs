//! `GET /v1/alerts?limit=N`: the detector's recent alerts, newest first. Security officers
//! only: an agency's see every organization's, a partner's its own.

use axum::Json;
use axum::response::Response;
use serde_json::json;
use vigie_core::org::OrgKind;

use crate::shared::caller::{ApiSession, Officer};
use crate::shared::extract::Query;
use crate::shared::params::only_params;
use crate::shared::problem::Problem;

/// `GET /v1/alerts`
pub async fn list(me: ApiSession<Officer>, Query(params): Query) -> Result<Response, Problem> {
    only_params(&params, &["limit"])?;
    let limit = match params.get("limit") {
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| Problem::invalid("limit", "an integer from 1 to 1000"))?,
        None => 100,
    };
    me.run(move |st, authed, _| {
        let c = &authed.caller;
        let all = c.org.kind == OrgKind::Agency;
        let org = c.org.id.to_string();
        let alerts = st.alerts.as_ref().map(|f| f.recent(limit, |a| all || a.organization == org)).unwrap_or_default();
        Ok(Json(json!({ "alerts": alerts, "detection": st.alerts.is_some() })))
    })
    .await
}
