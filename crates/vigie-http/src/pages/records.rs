//! My scope and a person's record, through the guard as in the API (same decisions, same
//! ledger entries). When the detector asks for a reason (the friction rung), the page asks the
//! agent to choose one from the closed list and asks for itself again with `?reason=`; no free
//! text, which would invite a person's name into the ledger.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use vigie_core::guard::{GuardError, RequestMeta};
use vigie_core::person::FilteredRecord;
use vigie_core::ports::AccessReason;
use vigie_core::time::format_date;
use vigie_core::{CategorySet, DataCategory, PersonId};

use crate::actions::verdicts::enforce;
use crate::shared::auth::Authed;
use crate::shared::caller::PageSession;
use crate::shared::params::{parse_reason, request_id, with_reason};
use crate::shared::problem::Problem;
use crate::shared::render::{esc, page};

/// `GET /scope`; `?reason=` answers the prompt for a reason (see [`reason_prompt`]).
pub async fn scope_page(me: PageSession, Query(q): Query<HashMap<String, String>>) -> Response {
    let after = q.get("after").and_then(|a| a.parse::<PersonId>().ok());
    let reason = reason_param(&q);
    me.render(move |st, authed, client| {
        // Bad input is refused before the guard, on a page that keeps the menu.
        let reason = reason?;
        if authed.step_up_pending {
            return Err(Problem::step_up_required("confirm it is you before seeing more records"));
        }
        let meta = RequestMeta { request: request_id(), at: st.clock.now() };
        let page_ = match st.guard.scope(&with_reason(&authed.caller, reason), meta, after, 50) {
            Ok(p) => p,
            Err(GuardError::ReasonRequired) => {
                let keep: Vec<(&str, String)> = after.map(|a| ("after", a.to_string())).into_iter().collect();
                return Ok(reason_prompt(authed, "/scope", &keep));
            }
            Err(e) => return Err(enforce(st, authed, client, e)),
        };
        let mut body =
            String::from("<table><thead><tr><th>Person</th><th>Name</th><th>Through</th></tr></thead><tbody>");
        for e in &page_.entries {
            let _ = write!(
                body,
                "<tr><td><a href=\"/persons/{0}\">{0}</a></td><td>{1} {2}</td><td>{3}</td></tr>",
                esc(&e.id.to_string()),
                esc(&e.last_name),
                esc(&e.first_name),
                esc(e.relationship.as_str())
            );
        }
        body.push_str("</tbody></table>");
        if page_.entries.is_empty() {
            body.push_str("<p>No one in your scope.</p>");
        }
        if let Some(next) = page_.next_after {
            let _ = write!(body, "<p><a href=\"/scope?after={0}\">Next page</a></p>", esc(&next.to_string()));
        }
        Ok(page("My scope", Some(authed), &body))
    })
    .await
}

/// `GET /persons/{id}`; `?reason=` answers the prompt for a reason (see [`reason_prompt`]).
pub async fn person_page(
    me: PageSession,
    Path(id): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let id = id.parse::<PersonId>().map_err(|_| Problem::invalid("id", "a person id looks like P123"));
    let reason =
        query.map_err(|_| Problem::invalid("query", "not a valid query string")).and_then(|Query(q)| reason_param(&q));
    me.render(move |st, authed, client| {
        // Bad input is refused before the guard, on a page that keeps the menu.
        let (id, reason) = (id?, reason?);
        if authed.step_up_pending {
            return Err(Problem::step_up_required("confirm it is you before seeing more records"));
        }
        let meta = RequestMeta { request: request_id(), at: st.clock.now() };
        let r = match st.guard.read(&with_reason(&authed.caller, reason), meta, id, CategorySet::ALL) {
            Ok(r) => r,
            Err(GuardError::ReasonRequired) => return Ok(reason_prompt(authed, &format!("/persons/{id}"), &[])),
            Err(e) => return Err(enforce(st, authed, client, e)),
        };
        let mut body = String::from("<dl class=\"record\">");
        record(&mut body, &r);
        body.push_str("</dl>");
        let missing: Vec<&str> =
            DataCategory::ALL.iter().filter(|c| !r.categories.contains(**c)).map(|c| c.as_str()).collect();
        if !missing.is_empty() {
            let _ =
                write!(body, "<p class=\"note\">Not shown (not permitted to you): {}</p>", esc(&missing.join(", ")));
        }
        match reason {
            Some(r) => {
                let _ = write!(
                    body,
                    "<p class=\"note\">This consultation is recorded in the ledger. Your reason: {}.</p>",
                    esc(reason_label(r))
                );
            }
            None => body.push_str("<p class=\"note\">This consultation is recorded in the ledger.</p>"),
        }
        Ok(page(&format!("Person {id}"), Some(authed), &body))
    })
    .await
}

/// The record's fields, each under its label, category by category.
fn record(out: &mut String, r: &FilteredRecord) {
    let mut row = |label: &str, value: &str| {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", esc(label), esc(value));
    };
    row("Record", &r.id.to_string());
    if let Some(i) = &r.identity {
        row("France Travail id", i.ft_id.as_str());
        row("Last name", &i.last_name);
        row("First name", &i.first_name);
        row("Birth date", &format_date(i.birth_date));
        row("Birth place", &format!("{} ({})", i.birth_place.name, i.birth_place.code));
        row("Sex", i.sex.as_str());
    }
    if let Some(n) = &r.nir {
        row("NIR", n.as_str());
    }
    if let Some(c) = &r.contact {
        row("E-mail", c.email.as_deref().unwrap_or("—"));
        row("Phone", c.phone.as_deref().unwrap_or("—"));
        let a = &c.address;
        row("Address", &format!("{}, {} {}", a.street, a.postcode, a.commune));
    }
    if let Some(s) = &r.status {
        row("Status", s.status.as_str());
        row("Registered on", &format_date(s.registered_on));
        row("Deregistered on", &s.deregistered_on.map(format_date).unwrap_or_else(|| "—".into()));
        row("Youth", if s.youth { "yes" } else { "no" });
    }
    if let Some(s) = &r.sensitive {
        row("Recognised disabled worker (RQTH)", if s.rqth { "yes" } else { "no" });
    }
}

/// The friction rung's prompt, answered `428` as in the API: the agent says why, from the
/// closed list, and the same page is asked for again with `?reason=` (a plain GET form, no
/// script; `keep` carries the page's other parameters).
fn reason_prompt(authed: &Authed, action: &str, keep: &[(&str, String)]) -> Response {
    let mut body = format!(
        "<p>You are opening records you do not usually open. Say why to continue: your answer is recorded \
         in the ledger with this consultation.</p>\
         <form method=\"get\" action=\"{}\" data-problem=\"urn:vigie:problem:reason-required\">",
        esc(action)
    );
    for (name, value) in keep {
        let _ = write!(body, "<input type=\"hidden\" name=\"{}\" value=\"{}\">", esc(name), esc(value));
    }
    body.push_str("<label>Why <select name=\"reason\" required><option value=\"\">Choose a reason</option>");
    for r in AccessReason::ALL {
        let _ = write!(body, "<option value=\"{}\">{}</option>", esc(r.as_str()), esc(reason_label(r)));
    }
    body.push_str("</select></label><button>Continue</button></form>");
    let mut resp = page("Say why", Some(authed), &body);
    *resp.status_mut() = StatusCode::PRECONDITION_REQUIRED;
    resp
}

/// What the prompt shows for each reason (exhaustive: a new reason needs its label).
fn reason_label(r: AccessReason) -> &'static str {
    match r {
        AccessReason::CaseloadTransfer => "A caseload was handed over to me",
        AccessReason::ColleagueCover => "I am covering for an absent colleague",
        AccessReason::Campaign => "A convocation or information campaign",
        AccessReason::InboundContact => "The person called or came in",
        AccessReason::CohortStart => "A new cohort or intake is starting",
    }
}

/// The `reason` query parameter, if given: one of the closed list, else the error page.
fn reason_param(q: &HashMap<String, String>) -> Result<Option<AccessReason>, Problem> {
    q.get("reason").map(|r| parse_reason("reason", r.as_bytes())).transpose()
}
