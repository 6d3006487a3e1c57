//! An account as the console shows it (`/console/agents/{id}`): who it is and whether it is
//! active, its lifecycle (who asked for it, who approved it, probation), its open sessions
//! (networks, browsers, device binding), how many persons its relationships reach, a chart of
//! the distinct persons it read per hour over two days against its own usual pace, its
//! timeline over 90 days read from the ledger, its alerts, and the responses.

use askama::Template;
use axum::response::Response;
use vigie_alerts::QueueFilter;
use vigie_core::console::{distinct_per_hour, hourly_baseline, peer_mean_per_hour, timeline};
use vigie_core::ids::AgentId;
use vigie_core::incident::Window;
use vigie_core::time::Timestamp;

use crate::actions::console::{Done, Response as Act, respond};
use crate::actions::store_err;
use crate::pages::console::alerts::{Row, row};
use crate::pages::console::{ResponseButton, TokenForm, chart, response_buttons};
use crate::shared::caller::{Console, Fresh, PageSession};
use crate::shared::extract::{PageForm, PagePath, PageQuery};
use crate::shared::forms;
use crate::shared::i18n::paris;
use crate::shared::problem::Problem;
use crate::shared::render::{Chrome, page, see_other};

const HOUR_MS: i64 = 3_600_000;
/// The chart's hours, and the days before them its baseline averages.
const CHART_HOURS: usize = 48;
const BASELINE_DAYS: usize = 7;
/// The timeline's reach.
pub const TIMELINE_DAYS: i64 = 90;
/// Relationships counted, at most (the count says "at least" past it).
const SCOPE_COUNT_CAP: usize = 1000;

#[derive(Debug)]
struct SessionRow {
    started: String,
    last_seen: String,
    network: String,
    method: String,
    bound: bool,
}

#[derive(Debug)]
struct TimelineRow {
    from: String,
    to: String,
    action: &'static str,
    entries: usize,
    persons: usize,
    outcome: String,
}

#[derive(Template)]
#[template(path = "console/account.html")]
struct AccountPage {
    c: Chrome,
    name: String,
    login: String,
    role: &'static str,
    org: String,
    active: bool,
    created_at: Option<String>,
    created_by: Option<String>,
    approved_by: Option<String>,
    probation_until: Option<String>,
    sessions: Vec<SessionRow>,
    scope_count: String,
    chart: String,
    /// Peers sampled for the chart's third line (`None`: no line).
    peers: Option<usize>,
    timeline: Vec<TimelineRow>,
    ledger_error: Option<String>,
    alerts: Vec<Row>,
    buttons: Vec<ResponseButton>,
    done: bool,
}

fn agent_id(raw: &str) -> Result<AgentId, Problem> {
    raw.parse::<AgentId>().map_err(|_| Problem::invalid("agent", "an account looks like A12"))
}

/// `GET /console/agents/{id}`
pub async fn account_page(
    me: PageSession<Console>,
    PagePath(id): PagePath<String>,
    PageQuery(q): PageQuery,
) -> Response {
    let id = agent_id(&id);
    let done = q.get("done").is_some_and(|v| v == "1");
    me.render(move |st, authed, _, ctx| {
        let id = id?;
        let t = ctx.t();
        let c = t.console;
        let agent = st.registry.agent(id).map_err(store_err)?.ok_or_else(Problem::not_found)?;
        let org = st.registry.organization(agent.org).map_err(store_err)?;
        let now = st.clock.now();
        let origin = st.accounts.account_origin(id).map_err(store_err)?;
        let sessions = st
            .accounts
            .sessions_of(id, now)
            .map_err(store_err)?
            .iter()
            .map(|s| SessionRow {
                started: t.moment(s.created_at),
                last_seen: t.moment(s.last_seen),
                network: format!("{} {}", s.context.network, s.context.ua_family.as_str()),
                method: s.method.clone(),
                bound: s.device_key.is_some(),
            })
            .collect();
        let reach = st.registry.scope_page(&agent, None, SCOPE_COUNT_CAP, now.date()).map_err(store_err)?.len();
        let scope_count = if reach == SCOPE_COUNT_CAP { format!("≥ {reach}") } else { reach.to_string() };

        // One read of the ledger: 90 days, of which the chart takes the last 8.
        let hour_now = now.0.div_euclid(HOUR_MS) * HOUR_MS + HOUR_MS;
        let from = Timestamp(hour_now - TIMELINE_DAYS * 24 * HOUR_MS);
        let (mut chart_svg, mut lines, mut ledger_error, mut peers) = (String::new(), Vec::new(), None, None);
        if let Some(view) = &st.ledger_view {
            let window =
                Window::new(from, Timestamp(hour_now)).map_err(|e| Problem::invalid("window", e.to_string()))?;
            match view.accesses(id, window) {
                Ok(rows) => {
                    let hours = CHART_HOURS + BASELINE_DAYS * 24;
                    let chart_from = Timestamp(hour_now - (hours as i64) * HOUR_MS);
                    let per_hour = distinct_per_hour(&rows, chart_from, hours);
                    let baseline = hourly_baseline(&per_hour, CHART_HOURS, BASELINE_DAYS);
                    let shown = per_hour.get(hours - CHART_HOURS..).unwrap_or_default();
                    let labels: Vec<String> = (0..CHART_HOURS)
                        .map(|h| {
                            let at = paris(Timestamp(hour_now - ((CHART_HOURS - h) as i64) * HOUR_MS));
                            if at.hour().is_multiple_of(6) { format!("{:02}h", at.hour()) } else { String::new() }
                        })
                        .collect();
                    // The peers over the chart's hours only (one index read for the sample).
                    let shown_from = Timestamp(hour_now - (CHART_HOURS as i64) * HOUR_MS);
                    let peer_line =
                        match Window::new(shown_from, Timestamp(hour_now)).map(|w| view.peer_accesses(id, w)) {
                            Ok(Ok(Some((n, rows)))) if n > 0 => {
                                peers = Some(n);
                                peer_mean_per_hour(&rows, n, shown_from, CHART_HOURS)
                            }
                            Ok(Err(e)) => {
                                ledger_error = Some(e);
                                Vec::new()
                            }
                            _ => Vec::new(),
                        };
                    chart_svg = chart::lines(c.chart_title, shown, &baseline, &peer_line, &labels);
                    lines = timeline(&rows, 200)
                        .into_iter()
                        .map(|l| TimelineRow {
                            from: t.moment(l.from),
                            to: t.moment(l.to),
                            action: c.action(l.action.as_str()),
                            entries: l.entries,
                            persons: l.persons,
                            outcome: if l.released {
                                c.outcome_released.to_owned()
                            } else {
                                format!("{} ({})", c.outcome_withheld, c.verdict(l.verdict.as_str()))
                            },
                        })
                        .collect();
                }
                Err(e) => ledger_error = Some(e),
            }
        }
        let alerts = st
            .alerts
            .as_ref()
            .map(|f| f.queue(&QueueFilter { agent: Some(id.to_string()), ..Default::default() }, 20).0)
            .unwrap_or_default()
            .iter()
            .map(|q| row(t, q))
            .collect();
        let who = |a: Option<AgentId>| a.map(|a| a.to_string());
        Ok(page(&AccountPage {
            c: ctx.console_chrome(format!("{} {id}", c.account_title)),
            name: agent.display_name.clone(),
            login: agent.login.as_str().to_owned(),
            role: t.role(agent.role),
            org: org.map_or_else(|| agent.org.to_string(), |o| format!("{} ({})", o.name, o.id)),
            active: agent.active,
            created_at: origin.created_at.map(|at| t.moment(at)),
            created_by: who(origin.created_by),
            approved_by: who(origin.approved_by),
            probation_until: origin.probation_until.filter(|p| p.0 > now.0).map(|p| t.moment(p)),
            sessions,
            scope_count,
            chart: chart_svg,
            peers,
            timeline: lines,
            ledger_error,
            alerts,
            buttons: response_buttons(st, authed, c, &format!("/console/agents/{id}"), agent.active),
            done,
        }))
    })
    .await
}

/// `POST /console/agents/{id}/respond/{response}`
pub async fn respond_form(
    me: PageSession<(Console, Fresh)>,
    PagePath((id, response)): PagePath<(String, String)>,
    PageForm(form): PageForm<TokenForm>,
) -> Response {
    let parsed = agent_id(&id).and_then(|id| {
        Act::parse(&response).map(|r| (id, r)).ok_or_else(|| Problem::invalid("response", "not a response"))
    });
    let path = format!("/console/agents/{id}/respond/{response}");
    me.render(move |st, authed, client, _| {
        let (id, response) = parsed?;
        forms::redeem(st, authed, &path, form.token.as_deref())?;
        Ok(match respond(st, authed, client, id, response, None)? {
            Done::Incident(i) => see_other(&format!("/console/incidents/{}", i.id)),
            Done::Account => see_other(&format!("/console/agents/{id}?done=1")),
        })
    })
    .await
}
