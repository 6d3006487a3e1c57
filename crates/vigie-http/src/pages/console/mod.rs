//! The security console (`/console/…`): the alert queue and each alert's blast radius, an
//! account's view, approvals, incidents, the ledger, and an overview. Security officers signed
//! in with a passkey only (the [`Console`](crate::shared::caller::Console) gate); to anyone
//! else every console address answers 404, as an address that does not exist would.
//!
//! Server-rendered like the partner pages (same layout, catalogue and CSP), with one small
//! same-origin script (`static/console.js`) that refreshes the queue and the verification's
//! progress; every control is a link or a form first and works without it. Every form that
//! changes something carries a single-use token ([`forms`](crate::shared::forms)) and needs a
//! recent identity check when it acts on an account.

pub mod accounts;
pub mod alerts;
pub mod approvals;
pub mod chart;
pub mod extracts;
pub mod incidents;
pub mod ledger;
pub mod overview;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::shared::state::AppState;

/// The console's routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/console", get(overview::overview_page))
        .route("/console/alerts", get(alerts::queue_page))
        .route("/console/alerts/rows", get(alerts::queue_rows))
        .route("/console/alerts/{id}", get(alerts::alert_page))
        .route("/console/alerts/{id}/respond/{response}", post(alerts::respond_form))
        .route("/console/agents/{id}", get(accounts::account_page))
        .route("/console/agents/{id}/respond/{response}", post(accounts::respond_form))
        .route("/console/approvals", get(approvals::approvals_page))
        .route("/console/approvals/accounts/{id}/{decision}", post(approvals::decide_account_form))
        .route("/console/approvals/extracts/{id}/{decision}", post(approvals::decide_extract_form))
        .route("/console/extracts", get(extracts::extracts_page))
        .route("/console/incidents", get(incidents::incidents_page))
        .route("/console/incidents/{id}", get(incidents::incident_page))
        .route("/console/incidents/{id}/scope", post(incidents::scope_form))
        .route("/console/ledger", get(ledger::ledger_page))
        .route("/console/ledger/verify", post(ledger::verify_form))
}

/// The form every console action posts: its single-use token.
#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct TokenForm {
    pub token: Option<String>,
}

/// A response button as a template draws it: the path it posts to, its token, its label.
#[derive(Debug)]
pub struct ResponseButton {
    pub action: String,
    pub token: String,
    pub label: &'static str,
    pub danger: bool,
}

/// The response buttons for an account, posting under `base` (an alert's or an account's path).
pub fn response_buttons(
    st: &AppState,
    authed: &crate::shared::auth::Authed,
    t: &'static crate::shared::i18n_console::ConsoleMessages,
    base: &str,
    active: bool,
) -> Vec<ResponseButton> {
    use crate::actions::console::Response;
    Response::ALL
        .into_iter()
        .filter(|r| match r {
            Response::Suspend | Response::StepUp | Response::EndSessions => active,
            Response::Reinstate => !active,
            Response::Incident => st.incidents.is_some(),
        })
        .map(|r| {
            let action = format!("{base}/respond/{}", r.as_str());
            ResponseButton {
                token: crate::shared::forms::issue(st, authed, &action),
                action,
                label: t.response(r.as_str()),
                danger: r == Response::Suspend,
            }
        })
        .collect()
}
