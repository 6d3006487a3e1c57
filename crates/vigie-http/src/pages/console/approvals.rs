//! Approvals (`/console/approvals`): the pending account requests an officer may decide, with
//! what the approver must see (who asked, the team, the mail domain the enrolment link goes to,
//! the purpose), deciding through the same four-eyes action as `/accounts`.
//!
//! Extract requests (issue 21) are to be listed here too: [`extract_requests`] is the hook.

use askama::Template;
use axum::response::Response;
use vigie_core::lifecycle::RequestState;

use crate::actions::accounts;
use crate::shared::auth::Authed;
use crate::shared::caller::{Console, PageSession};
use crate::shared::problem::Problem;
use crate::shared::render::{Chrome, page};
use crate::shared::state::AppState;

#[derive(Debug)]
struct RequestRow {
    id: u64,
    asked_by: String,
    name: String,
    login: String,
    role: &'static str,
    team: String,
    mail_domain: String,
    purpose: String,
    asked_at: String,
}

/// An extract request as the approvals page lists it.
#[derive(Debug)]
pub struct ExtractRow {
    pub id: String,
    pub asked_by: String,
    pub purpose: String,
    pub fields: String,
    pub recipient: String,
    /// Where the officer decides it.
    pub link: String,
}

/// The extract requests waiting for this officer. Until governed extracts are wired into the
/// HTTP state (issue 21), there are none to list, and the page says so.
pub fn extract_requests(_st: &AppState, _authed: &Authed) -> Result<Option<Vec<ExtractRow>>, Problem> {
    Ok(None)
}

#[derive(Template)]
#[template(path = "console/approvals.html")]
struct ApprovalsPage {
    c: Chrome,
    requests: Vec<RequestRow>,
    extracts: Option<Vec<ExtractRow>>,
}

/// `GET /console/approvals`
pub async fn approvals_page(me: PageSession<Console>) -> Response {
    me.render(|st, authed, _, ctx| {
        let t = ctx.t();
        let now = st.clock.now();
        let requests = accounts::visible_requests(st, authed)?
            .into_iter()
            .filter(|r| r.state_at(now) == RequestState::Pending)
            .map(|r| RequestRow {
                id: r.id,
                asked_by: r.requested_by.to_string(),
                name: r.display_name,
                login: r.login.as_str().to_owned(),
                role: t.role(r.role),
                team: r.team.map_or_else(|| t.none.to_owned(), |t| t.to_string()),
                mail_domain: r.email.rsplit_once('@').map_or_else(|| r.email.clone(), |(_, d)| d.to_owned()),
                purpose: r.justification,
                asked_at: t.moment(r.created_at),
            })
            .collect();
        let extracts = extract_requests(st, authed)?;
        Ok(page(&ApprovalsPage { c: ctx.console_chrome(t.console.approvals_title), requests, extracts }))
    })
    .await
}
