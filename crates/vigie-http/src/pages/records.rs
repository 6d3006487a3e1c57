//! My scope and a person's record, through the guard as in the API (same decisions, same
//! ledger entries), shown with labels an agent reads and French dates. When the detector asks
//! for a reason (the friction rung), the page asks the agent to choose one from the closed
//! list and asks for itself again with `?reason=`; no free text, which would invite a
//! person's name into the ledger.

use std::collections::HashMap;

use askama::Template;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::StatusCode;
use axum::response::Response;
use vigie_core::guard::{GuardError, RequestMeta};
use vigie_core::person::{FilteredRecord, Sex};
use vigie_core::ports::AccessReason;
use vigie_core::scope_search::ScopeQuery;
use vigie_core::{CategorySet, DataCategory, PersonId};

use crate::actions::verdicts::enforce;
use crate::shared::caller::PageSession;
use crate::shared::extract::{PagePath, PageQuery};
use crate::shared::i18n::Messages;
use crate::shared::params::{parse_reason, request_id, with_reason};
use crate::shared::problem::Problem;
use crate::shared::render::{Chrome, PageCtx, page, page_with_status};

/// A person in the scope list.
#[derive(Debug)]
struct ScopeRow {
    id: PersonId,
    last_name: String,
    first_name: String,
    through: &'static str,
}

#[derive(Template)]
#[template(path = "pages/scope.html")]
struct ScopePage {
    c: Chrome,
    entries: Vec<ScopeRow>,
    /// The next page's link (its query string), if there is one.
    next: Option<String>,
    /// The previous page's link, past the first page.
    previous: Option<String>,
    /// Past the first page: a link back to it.
    paged: bool,
    /// How many persons the scope holds ("at least" past [`COUNT_CAP`]).
    count: String,
    /// The search within the scope, as typed, when there is one.
    query: Option<String>,
}

/// Persons counted in a scope, at most: the count is for the agent's bearings, not a figure
/// worth a long query on a large caseload.
const COUNT_CAP: usize = 5000;

/// Pages kept behind, for "previous" (the cursor is a person id, which only goes forward).
const TRAIL_CAP: usize = 100;

/// The trail of the pages before this one: the `after` of each (`0` for the first page).
fn trail(q: &HashMap<String, String>) -> Vec<u64> {
    q.get("trail")
        .map(|t| t.split(',').filter_map(|x| x.parse::<u64>().ok()).take(TRAIL_CAP).collect())
        .unwrap_or_default()
}

fn page_link(after: Option<u64>, trail: &[u64], search: Option<&str>) -> String {
    let mut q = Vec::new();
    if let Some(s) = search {
        q.push(url::form_urlencoded::Serializer::new(String::new()).append_pair("q", s).finish());
    }
    if let Some(a) = after.filter(|a| *a > 0) {
        q.push(format!("after=P{a}"));
    }
    if !trail.is_empty() {
        q.push(format!("trail={}", trail.iter().map(u64::to_string).collect::<Vec<_>>().join("%2C")));
    }
    if q.is_empty() { "/scope".to_owned() } else { format!("/scope?{}", q.join("&")) }
}

/// `GET /scope`; `?reason=` answers the prompt for a reason (see [`reason_prompt`]).
pub async fn scope_page(me: PageSession, PageQuery(q): PageQuery) -> Response {
    let after = q.get("after").and_then(|a| a.parse::<PersonId>().ok());
    let behind = trail(&q);
    let reason = reason_param(&q);
    let search = q.get("q").map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let parsed = search.as_deref().map(ScopeQuery::parse).transpose().map_err(|e| Problem::invalid("q", e.to_string()));
    me.render(move |st, authed, client, ctx| {
        // Bad input is refused before the guard, on a page that keeps the menu.
        let reason = reason?;
        let parsed = parsed?;
        if authed.step_up_pending {
            return Err(Problem::step_up_required("confirm it is you before seeing more records"));
        }
        let meta = RequestMeta { request: request_id(), at: st.clock.now() };
        let caller = with_reason(&authed.caller, reason);
        let list = match &parsed {
            None => st.guard.scope(&caller, meta, after, 50),
            // Filtered within the scope by the guard: never a person outside it.
            Some(query) => st.guard.scope_search(&caller, meta, query, after, 50),
        };
        let list = match list {
            Ok(p) => p,
            Err(GuardError::ReasonRequired) => {
                let mut keep: Vec<(&str, String)> = after.map(|a| ("after", a.to_string())).into_iter().collect();
                keep.extend(search.clone().map(|s| ("q", s)));
                return Ok(reason_prompt(ctx, "/scope", keep));
            }
            Err(e) => return Err(enforce(st, authed, client, e)),
        };
        let t = ctx.t();
        let entries = list
            .entries
            .into_iter()
            .map(|e| ScopeRow {
                id: e.id,
                last_name: e.last_name,
                first_name: e.first_name,
                through: t.relationship(e.relationship),
            })
            .collect();
        let reach =
            st.registry.scope_page(&authed.caller.agent, None, COUNT_CAP, meta.at.date()).map_or(0, |r| r.len());
        let count = if reach >= COUNT_CAP { format!("≥ {COUNT_CAP}") } else { reach.to_string() };
        let here = after.map_or(0, PersonId::get);
        let next = list.next_after.map(|n| {
            let mut t = behind.clone();
            t.push(here);
            page_link(Some(n.get()), &t[t.len().saturating_sub(TRAIL_CAP)..], search.as_deref())
        });
        let previous = after.map(|_| match behind.split_last() {
            Some((prev, rest)) => page_link(Some(*prev), rest, search.as_deref()),
            None => page_link(None, &[], search.as_deref()),
        });
        Ok(page(&ScopePage {
            c: ctx.chrome(t.scope_title),
            entries,
            next,
            previous,
            paged: after.is_some(),
            count,
            query: search,
        }))
    })
    .await
}

#[derive(Template)]
#[template(path = "pages/person.html")]
struct PersonPage {
    c: Chrome,
    fields: Vec<(&'static str, String)>,
    /// The categories not shown, named for the agent.
    missing: String,
    reason: Option<&'static str>,
}

/// `GET /persons/{id}`; `?reason=` answers the prompt for a reason (see [`reason_prompt`]).
pub async fn person_page(
    me: PageSession,
    PagePath(id): PagePath<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let id = id.parse::<PersonId>().map_err(|_| Problem::invalid("id", "a person id looks like P123"));
    let reason =
        query.map_err(|_| Problem::invalid("query", "not a valid query string")).and_then(|Query(q)| reason_param(&q));
    me.render(move |st, authed, client, ctx| {
        // Bad input is refused before the guard, on a page that keeps the menu.
        let (id, reason) = (id?, reason?);
        if authed.step_up_pending {
            return Err(Problem::step_up_required("confirm it is you before seeing more records"));
        }
        let meta = RequestMeta { request: request_id(), at: st.clock.now() };
        let r = match st.guard.read(&with_reason(&authed.caller, reason), meta, id, CategorySet::ALL) {
            Ok(r) => r,
            Err(GuardError::ReasonRequired) => return Ok(reason_prompt(ctx, &format!("/persons/{id}"), Vec::new())),
            Err(e) => return Err(enforce(st, authed, client, e)),
        };
        let t = ctx.t();
        let missing: Vec<&str> =
            DataCategory::ALL.iter().filter(|c| !r.categories.contains(**c)).map(|c| t.category(*c)).collect();
        Ok(page(&PersonPage {
            c: ctx.chrome(format!("{} {id}", t.person_title)),
            fields: fields(t, &r),
            missing: missing.join(", "),
            reason: reason.map(|r| t.reason(r)),
        }))
    })
    .await
}

/// The record's fields, each under its label, category by category.
fn fields(t: &'static Messages, r: &FilteredRecord) -> Vec<(&'static str, String)> {
    let yes_no = |b: bool| if b { t.yes } else { t.no }.to_owned();
    let mut out = vec![(t.field_record, r.id.to_string())];
    if let Some(i) = &r.identity {
        out.push((t.field_ft_id, i.ft_id.as_str().to_owned()));
        out.push((t.field_last_name, i.last_name.clone()));
        out.push((t.field_first_name, i.first_name.clone()));
        out.push((t.field_birth_date, t.date(i.birth_date)));
        out.push((t.field_birth_place, format!("{} ({})", i.birth_place.name, i.birth_place.code)));
        out.push((t.field_sex, if i.sex == Sex::Male { t.sex_male } else { t.sex_female }.to_owned()));
    }
    if let Some(n) = &r.nir {
        out.push((t.field_nir, n.as_str().to_owned()));
    }
    if let Some(c) = &r.contact {
        out.push((t.field_email, c.email.clone().unwrap_or_else(|| t.none.to_owned())));
        out.push((t.field_phone, c.phone.clone().unwrap_or_else(|| t.none.to_owned())));
        let a = &c.address;
        out.push((t.field_address, format!("{}, {} {}", a.street, a.postcode, a.commune)));
    }
    if let Some(s) = &r.status {
        out.push((t.field_status, t.registration(s.status).to_owned()));
        out.push((t.field_registered_on, t.date(s.registered_on)));
        if let Some(d) = s.deregistered_on {
            out.push((t.field_deregistered_on, t.date(d)));
        }
        out.push((t.field_youth, yes_no(s.youth)));
    }
    if let Some(s) = &r.sensitive {
        out.push((t.field_rqth, yes_no(s.rqth)));
    }
    out
}

#[derive(Template)]
#[template(path = "pages/reason.html")]
struct ReasonPage<'a> {
    c: Chrome,
    action: &'a str,
    keep: Vec<(&'a str, String)>,
    reasons: Vec<(&'static str, &'static str)>,
}

/// The friction rung's prompt, answered `428` as in the API: the agent says why, from the
/// closed list, and the same page is asked for again with `?reason=` (a plain GET form, no
/// script; `keep` carries the page's other parameters).
fn reason_prompt(ctx: &PageCtx, action: &str, keep: Vec<(&str, String)>) -> Response {
    let t = ctx.t();
    let reasons = AccessReason::ALL.iter().map(|r| (r.as_str(), t.reason(*r))).collect();
    page_with_status(
        StatusCode::PRECONDITION_REQUIRED,
        &ReasonPage { c: ctx.chrome(t.say_why_title), action, keep, reasons },
    )
}

/// The `reason` query parameter, if given: one of the closed list, else the error page.
fn reason_param(q: &HashMap<String, String>) -> Result<Option<AccessReason>, Problem> {
    q.get("reason").map(|r| parse_reason("reason", r.as_bytes())).transpose()
}
