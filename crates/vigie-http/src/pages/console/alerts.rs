//! The alert queue (`/console/alerts`): newest first, filtered by state, verdict, account and
//! organization, pages of 50 by alert number (keyset), refreshed by the console script from
//! `/console/alerts/rows`; an alert (`/console/alerts/{n}`) with its reasons in words, its blast
//! radius so far read from the ledger, and the one-click responses.

use askama::Template;
use axum::response::Response;
use vigie_alerts::{QueueFilter, Queued};
use vigie_core::console::{BlastRadius, blast_radius};
use vigie_core::ids::AgentId;
use vigie_core::incident::Window;
use vigie_core::time::Timestamp;

use crate::actions::console::{Done, Response as Act, respond};
use crate::pages::console::{ResponseButton, TokenForm, response_buttons};
use crate::shared::caller::{Console, Fresh, PageSession};
use crate::shared::extract::{PageForm, PagePath, PageQuery};
use crate::shared::forms;
use crate::shared::i18n::Messages;
use crate::shared::problem::Problem;
use crate::shared::render::{Chrome, page, see_other};
use crate::shared::state::AppState;

/// Alerts per page of the queue.
pub const PAGE: usize = 50;

/// The verdicts a queue can be filtered by.
const VERDICTS: [&str; 6] = ["friction", "step_up", "throttle", "suspend_session", "suspend_account", "alert"];

/// One row of the queue, in words.
#[derive(Debug)]
pub struct Row {
    pub id: u64,
    pub when: String,
    pub agent: String,
    pub organization: String,
    pub verdict: &'static str,
    pub verdict_key: String,
    pub why: String,
    pub status: String,
    pub open: bool,
}

pub fn row(t: &'static Messages, q: &Queued) -> Row {
    let a = &q.alert;
    let why: Vec<String> = a.reasons.iter().map(|r| t.console.reason(r)).collect();
    let status = match &q.handling {
        Some(h) => format!("{} · {} · {}", t.console.response(&h.response), h.by, t.moment(Timestamp(h.at_ms))),
        None => t.console.status_open.to_owned(),
    };
    Row {
        id: q.id,
        when: t.moment(Timestamp(a.at_ms)),
        agent: a.agent.clone(),
        organization: a.organization.clone(),
        verdict: t.console.verdict(&a.verdict),
        verdict_key: a.verdict.to_string(),
        why: why.join(" ; "),
        status,
        open: q.handling.is_none(),
    }
}

/// The queue's filters, parsed from the page's query (a bad value is refused, naming it).
#[derive(Debug, Default)]
pub struct Filters {
    pub filter: QueueFilter,
    /// The query string of the filters alone (for the next page's link and the refresh).
    pub query: String,
}

fn filters(q: &std::collections::HashMap<String, String>) -> Result<Filters, Problem> {
    for k in q.keys() {
        if !["open", "verdict", "agent", "org", "before", "after"].contains(&k.as_str()) {
            return Err(Problem::invalid(k, "not a filter of the queue"));
        }
    }
    let mut f = QueueFilter { open_only: q.get("open").is_some_and(|v| v == "1"), ..Default::default() };
    if let Some(v) = q.get("verdict").filter(|v| !v.is_empty()) {
        let v = VERDICTS.iter().find(|x| **x == v).ok_or_else(|| Problem::invalid("verdict", "not a verdict"))?;
        f.verdict = Some((*v).to_owned());
    }
    if let Some(a) = q.get("agent").filter(|v| !v.is_empty()) {
        let a: AgentId = a.trim().parse().map_err(|_| Problem::invalid("agent", "an account looks like A12"))?;
        f.agent = Some(a.to_string());
    }
    if let Some(o) = q.get("org").filter(|v| !v.is_empty()) {
        let o: vigie_core::ids::OrgId =
            o.trim().parse().map_err(|_| Problem::invalid("org", "an organization looks like O3"))?;
        f.organization = Some(o.to_string());
    }
    let number = |k: &str| {
        q.get(k).filter(|v| !v.is_empty()).map(|v| v.parse::<u64>().map_err(|_| Problem::invalid(k, "an alert number")))
    };
    f.before = number("before").transpose()?;
    f.after = number("after").transpose()?;
    let mut parts = Vec::new();
    if f.open_only {
        parts.push("open=1".to_owned());
    }
    for (k, v) in [("verdict", &f.verdict), ("agent", &f.agent), ("org", &f.organization)] {
        if let Some(v) = v {
            parts.push(format!("{k}={v}"));
        }
    }
    Ok(Filters { filter: f, query: parts.join("&") })
}

#[derive(Template)]
#[template(path = "console/alerts.html")]
struct QueuePage {
    c: Chrome,
    rows: Vec<Row>,
    verdicts: Vec<(&'static str, &'static str, bool)>,
    f: QueueFilter,
    query: String,
    /// The newest alert number shown (the refresh asks for rows above it).
    newest: u64,
    older: Option<u64>,
    paged: bool,
    detection: bool,
}

#[derive(Template)]
#[template(path = "console/alert_rows.html")]
struct RowsFragment {
    c: Chrome,
    rows: Vec<Row>,
}

/// `GET /console/alerts`
pub async fn queue_page(me: PageSession<Console>, PageQuery(q): PageQuery) -> Response {
    let parsed = filters(&q);
    me.render(move |st, _, _, ctx| {
        let Filters { filter, query } = parsed?;
        let t = ctx.t();
        let (queued, more) = st.alerts.as_ref().map(|f| f.queue(&filter, PAGE)).unwrap_or_default();
        let rows: Vec<Row> = queued.iter().map(|q| row(t, q)).collect();
        let newest = st.alerts.as_ref().map_or(0, |f| f.open_count().1);
        let verdicts =
            VERDICTS.iter().map(|v| (*v, t.console.verdict(v), filter.verdict.as_deref() == Some(v))).collect();
        Ok(page(&QueuePage {
            c: ctx.console_chrome(t.console.alerts_title),
            older: if more { rows.last().map(|r| r.id) } else { None },
            paged: filter.before.is_some(),
            rows,
            verdicts,
            f: filter,
            query,
            newest,
            detection: st.alerts.is_some(),
        }))
    })
    .await
}

/// `GET /console/alerts/rows`: the queue's first page of rows alone, for the refresh.
pub async fn queue_rows(me: PageSession<Console>, PageQuery(q): PageQuery) -> Response {
    let parsed = filters(&q);
    me.render(move |st, _, _, ctx| {
        let Filters { filter, .. } = parsed?;
        let t = ctx.t();
        let (queued, _) = st.alerts.as_ref().map(|f| f.queue(&filter, PAGE)).unwrap_or_default();
        let mut r = page(&RowsFragment { c: ctx.console_chrome(""), rows: queued.iter().map(|q| row(t, q)).collect() });
        if let Some(newest) = queued.first().and_then(|q| axum::http::HeaderValue::from_str(&q.id.to_string()).ok()) {
            r.headers_mut().insert("vigie-newest-alert", newest);
        }
        Ok(r)
    })
    .await
}

#[derive(Template)]
#[template(path = "console/alert.html")]
struct AlertPage {
    c: Chrome,
    r: Row,
    raw: Vec<(String, String)>,
    action: &'static str,
    person: Option<String>,
    session: Option<String>,
    blast: Option<Blast>,
    blast_error: Option<String>,
    buttons: Vec<ResponseButton>,
    agent_link: Option<String>,
    /// Who the account is and its organization, as the registry names them now.
    agent_name: Option<String>,
    org_name: Option<String>,
    done: bool,
}

/// The blast radius as the page shows it.
#[derive(Debug)]
pub struct Blast {
    pub since: String,
    pub persons: usize,
    pub released: usize,
    pub withheld: usize,
    pub by_category: Vec<(&'static str, usize)>,
}

impl Blast {
    pub fn of(t: &'static Messages, since: Timestamp, b: &BlastRadius) -> Blast {
        Blast {
            since: t.moment(since),
            persons: b.persons,
            released: b.released,
            withheld: b.withheld,
            by_category: b.by_category.iter().map(|(c, n)| (t.category(*c), *n)).collect(),
        }
    }
}

fn alert_id(raw: &str) -> Result<u64, Problem> {
    raw.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| Problem::invalid("alert", "an alert number, such as 12"))
}

/// The account's first signal still held: its oldest alert in the queue.
fn first_signal(st: &AppState, agent: &str, fallback: i64) -> i64 {
    let Some(feed) = &st.alerts else { return fallback };
    let f = QueueFilter { agent: Some(agent.to_owned()), ..Default::default() };
    feed.queue(&f, 10_000).0.iter().map(|q| q.alert.at_ms).min().unwrap_or(fallback)
}

/// `GET /console/alerts/{n}`
pub async fn alert_page(me: PageSession<Console>, PagePath(id): PagePath<String>, PageQuery(q): PageQuery) -> Response {
    let id = alert_id(&id);
    let done = q.get("done").is_some_and(|v| v == "1");
    me.render(move |st, authed, _, ctx| {
        let id = id?;
        let t = ctx.t();
        let q = st.alerts.as_ref().and_then(|f| f.get(id)).ok_or_else(Problem::not_found)?;
        let agent: Option<AgentId> = q.alert.agent.parse().ok();
        let (mut blast, mut blast_error) = (None, None);
        if let (Some(view), Some(agent)) = (&st.ledger_view, agent) {
            let since = Timestamp(first_signal(st, &q.alert.agent, q.alert.at_ms));
            let window = Window::new(since, st.clock.now().plus_millis(1))
                .map_err(|e| Problem::invalid("window", e.to_string()))?;
            match view.accesses(agent, window) {
                Ok(rows) => blast = Some(Blast::of(t, since, &blast_radius(&rows))),
                Err(e) => blast_error = Some(e),
            }
        }
        let known = agent.and_then(|a| st.registry.agent(a).ok().flatten());
        let active = known.as_ref().is_some_and(|a| a.active);
        let org_name = known.as_ref().and_then(|a| st.registry.organization(a.org).ok().flatten()).map(|o| o.name);
        let agent_name = known.map(|a| format!("{} ({})", a.display_name, a.login));
        let buttons = if agent.is_some() {
            response_buttons(st, authed, t.console, &format!("/console/alerts/{id}"), active)
        } else {
            Vec::new()
        };
        Ok(page(&AlertPage {
            c: ctx.console_chrome(format!("{} {id}", t.console.alert_title)),
            raw: q.alert.reasons.iter().map(|r| (t.console.reason(r), r.clone())).collect(),
            action: t.console.action(&q.alert.action),
            person: q.alert.person.clone(),
            session: q.alert.session.clone(),
            r: row(t, &q),
            blast,
            blast_error,
            buttons,
            agent_link: agent.map(|a| format!("/console/agents/{a}")),
            agent_name,
            org_name,
            done,
        }))
    })
    .await
}

/// `POST /console/alerts/{n}/respond/{response}`: one click, on the alert's account.
pub async fn respond_form(
    me: PageSession<(Console, Fresh)>,
    PagePath((id, response)): PagePath<(String, String)>,
    PageForm(form): PageForm<TokenForm>,
) -> Response {
    let parsed = alert_id(&id).and_then(|id| {
        Act::parse(&response).map(|r| (id, r)).ok_or_else(|| Problem::invalid("response", "not a response"))
    });
    let path = format!("/console/alerts/{id}/respond/{response}");
    me.render(move |st, authed, client, _| {
        let (id, response) = parsed?;
        forms::redeem(st, authed, &path, form.token.as_deref())?;
        let q = st.alerts.as_ref().and_then(|f| f.get(id)).ok_or_else(Problem::not_found)?;
        let agent: AgentId = q.alert.agent.parse().map_err(|_| Problem::invalid("alert", "concerns no account"))?;
        Ok(match respond(st, authed, client, agent, response, Some(id))? {
            Done::Incident(i) => see_other(&format!("/console/incidents/{}", i.id)),
            Done::Account => see_other(&format!("/console/alerts/{id}?done=1")),
        })
    })
    .await
}
