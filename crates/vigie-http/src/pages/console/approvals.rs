//! Approvals (`/console/approvals`): the pending account requests an officer may decide, with
//! what the approver must see (who asked, the team, the mail domain the enrolment link goes to,
//! the purpose), deciding through the same four-eyes action as `/accounts`, like every other
//! console action: a single-use token for that request and that decision, a factor in the last
//! 15 minutes, and the decision ledgered with its author before it takes effect.
//!
//! Extract requests (issue 21) are listed here too and decided the same way, through the
//! extract service the API calls (`ExtractService::decide`); a decision its four-eyes rules turn
//! down is shown in plain words.

use askama::Template;
use axum::response::Response;
use vigie_core::extract::service::ExtractFailure;
use vigie_core::lifecycle::RequestState;

use crate::actions::accounts;
use crate::pages::console::TokenForm;
use crate::shared::auth::Authed;
use crate::shared::caller::{Console, Fresh, PageSession};
use crate::shared::extract::{PageForm, PagePath, PageQuery};
use crate::shared::forms;
use crate::shared::problem::Problem;
use crate::shared::render::{Chrome, page, see_other};
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
    /// The single-use tokens of its two forms.
    approve_token: String,
    reject_token: String,
}

/// Where the form deciding account request `id` posts (`approve` or `reject`).
fn account_action(id: u64, decision: &str) -> String {
    format!("/console/approvals/accounts/{id}/{decision}")
}

/// An extract request as the approvals page lists it.
#[derive(Debug)]
pub struct ExtractRow {
    pub id: String,
    pub asked_by: String,
    pub purpose: String,
    pub fields: String,
    pub recipient: String,
    /// The single-use tokens of its two forms.
    pub approve_token: String,
    pub refuse_token: String,
}

/// Where the form deciding extract `id` posts (`approve` or `refuse`).
fn extract_action(id: &str, decision: &str) -> String {
    format!("/console/approvals/extracts/{id}/{decision}")
}

/// The extract requests waiting for a decision, with what the approver must see: who asks, the
/// purpose and its legal basis, the fields, the recipient's key and the retention. `None` when
/// the binary wired no extract service.
pub fn extract_requests(st: &AppState, authed: &Authed) -> Result<Option<Vec<ExtractRow>>, Problem> {
    let Some(svc) = st.extracts.as_deref() else { return Ok(None) };
    let list = svc.list(500).map_err(|e| {
        tracing::error!(error = %e, "listing extracts");
        Problem::unavailable()
    })?;
    Ok(Some(
        list.into_iter()
            .filter(|x| x.state == vigie_core::extract::ExtractState::Requested)
            .map(|x| ExtractRow {
                id: x.id.to_string(),
                asked_by: format!("{} ({})", x.requested_by, x.org),
                purpose: format!(
                    "{} — {} ({}), {} until {}",
                    x.purpose,
                    x.description,
                    x.legal_basis.article(),
                    x.relationship.as_str(),
                    vigie_core::time::format_date(x.expires_at.date())
                ),
                fields: x.fields.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "),
                recipient: x.recipient,
                approve_token: forms::issue(st, authed, &extract_action(&x.id.to_string(), "approve")),
                refuse_token: forms::issue(st, authed, &extract_action(&x.id.to_string(), "refuse")),
            })
            .collect(),
    ))
}

#[derive(Template)]
#[template(path = "console/approvals.html")]
struct ApprovalsPage {
    c: Chrome,
    requests: Vec<RequestRow>,
    extracts: Option<Vec<ExtractRow>>,
    done: bool,
}

/// `GET /console/approvals`
pub async fn approvals_page(me: PageSession<Console>, PageQuery(q): PageQuery) -> Response {
    let done = q.get("done").is_some_and(|v| v == "1");
    me.render(move |st, authed, _, ctx| {
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
                approve_token: forms::issue(st, authed, &account_action(r.id, "approve")),
                reject_token: forms::issue(st, authed, &account_action(r.id, "reject")),
            })
            .collect();
        let extracts = extract_requests(st, authed)?;
        Ok(page(&ApprovalsPage { c: ctx.console_chrome(t.console.approvals_title), requests, extracts, done }))
    })
    .await
}

/// `POST /console/approvals/accounts/{id}/{approve|reject}`: the account request decided by the
/// four-eyes action `/accounts` and the API use, once per token, with a recent factor.
pub async fn decide_account_form(
    me: PageSession<(Console, Fresh)>,
    PagePath((id, decision)): PagePath<(u64, String)>,
    PageForm(form): PageForm<TokenForm>,
) -> Response {
    let path = account_action(id, &decision);
    me.render(move |st, authed, client, _| {
        let approve = match decision.as_str() {
            "approve" => true,
            "reject" => false,
            _ => return Err(Problem::invalid("decision", "approve or reject")),
        };
        forms::redeem(st, authed, &path, form.token.as_deref())?;
        if approve {
            accounts::approve_request(st, authed, client, id)?;
        } else {
            accounts::reject_request(st, authed, client, id)?;
        }
        Ok(see_other("/console/approvals?done=1"))
    })
    .await
}

/// `POST /console/approvals/extracts/{id}/{approve|refuse}`: the extract request decided by the
/// service the API calls, once per token, with a recent factor; a refusal of the four-eyes
/// rules (one's own request, an account one created, …) is answered in plain words.
pub async fn decide_extract_form(
    me: PageSession<(Console, Fresh)>,
    PagePath((id, decision)): PagePath<(String, String)>,
    PageForm(form): PageForm<TokenForm>,
) -> Response {
    let path = extract_action(&id, &decision);
    let parsed = id.parse::<vigie_core::extract::ExtractId>().map_err(|e| Problem::invalid("extract", e.to_string()));
    me.render(move |st, authed, _, ctx| {
        let id = parsed?;
        let approve = match decision.as_str() {
            "approve" => true,
            "refuse" => false,
            _ => return Err(Problem::invalid("decision", "approve or refuse")),
        };
        forms::redeem(st, authed, &path, form.token.as_deref())?;
        let svc = st.extracts.as_deref().ok_or_else(Problem::unavailable)?;
        // The gate proved a factor in the elevation window.
        svc.decide(id, &authed.caller.agent, true, approve).map_err(|e| match e {
            ExtractFailure::NotFound(id) => Problem::not_found_detail(format!("no extract {id}")),
            ExtractFailure::Refused(why) => Problem::forbidden(ctx.t().console.extracts.refusal(&why)),
            ExtractFailure::Gone(why) => Problem::gone(why),
            ExtractFailure::Internal(why) => {
                tracing::error!(error = %why, "extract service");
                Problem::unavailable()
            }
        })?;
        Ok(see_other("/console/approvals?done=1"))
    })
    .await
}
