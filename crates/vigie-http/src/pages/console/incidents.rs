//! Incidents in the console (`/console/incidents`): the list; an incident with its last
//! scoping (counts by category, persons, the accounts and the time span, whether the ledger
//! was verified), its drafts and lists to download (served by the API's file route, by name),
//! and the sending status of its notifications; a button to scope it now.

use askama::Template;
use axum::response::Response;
use vigie_core::ids::IncidentId;
use vigie_core::incident::Author;
use vigie_core::incident::service::{IncidentError, IncidentService};

use crate::pages::console::TokenForm;
use crate::shared::caller::{Console, Fresh, PageSession};
use crate::shared::extract::{PageForm, PagePath};
use crate::shared::forms;
use crate::shared::problem::Problem;
use crate::shared::render::{Chrome, page, see_other};
use crate::shared::state::AppState;

fn service(st: &AppState) -> Result<&dyn IncidentService, Problem> {
    st.incidents.as_deref().ok_or_else(Problem::unavailable)
}

fn refused(e: IncidentError) -> Problem {
    match e {
        IncidentError::NotFound(id) => Problem::not_found_detail(format!("no incident {id}")),
        IncidentError::Unavailable(why) => {
            tracing::error!(error = %why, "incident service");
            Problem::unavailable()
        }
        e => Problem::conflict(e.to_string()),
    }
}

fn incident_id(raw: &str) -> Result<IncidentId, Problem> {
    raw.parse().map_err(|e: vigie_core::ids::IdError| Problem::invalid("id", e.to_string()))
}

#[derive(Debug)]
struct IncidentRow {
    id: String,
    title: String,
    state: String,
    opened: String,
    window: String,
}

#[derive(Template)]
#[template(path = "console/incidents.html")]
struct IncidentsPage {
    c: Chrome,
    incidents: Vec<IncidentRow>,
}

/// `GET /console/incidents`
pub async fn incidents_page(me: PageSession<Console>) -> Response {
    me.render(|st, _, _, ctx| {
        let t = ctx.t();
        let incidents = service(st)?
            .list(200)
            .map_err(refused)?
            .into_iter()
            .map(|i| IncidentRow {
                id: i.id.to_string(),
                title: i.title,
                state: i.state.as_str().to_owned(),
                opened: t.moment(i.opened_at),
                window: format!("{} → {}", t.moment(i.window.from()), t.moment(i.window.to())),
            })
            .collect();
        Ok(page(&IncidentsPage { c: ctx.console_chrome(t.console.incidents_title), incidents }))
    })
    .await
}

#[derive(Debug)]
struct Scoped {
    persons: u64,
    records: u64,
    by_category: Vec<(&'static str, u64)>,
    released_entries: u64,
    denied_entries: u64,
    withheld_entries: u64,
    accounts: Vec<String>,
    first: String,
    last: String,
    unverified: Vec<String>,
    checkpoint: String,
}

#[derive(Template)]
#[template(path = "console/incident.html")]
struct IncidentPage {
    c: Chrome,
    i: IncidentRow,
    selectors: String,
    opened_by: String,
    scoped: Option<Scoped>,
    files: Vec<(String, String)>,
    sending: Vec<(&'static str, u64)>,
    scope_action: String,
    scope_token: String,
}

/// `GET /console/incidents/{id}`
pub async fn incident_page(me: PageSession<Console>, PagePath(id): PagePath<String>) -> Response {
    let id = incident_id(&id);
    me.render(move |st, authed, _, ctx| {
        let id = id?;
        let t = ctx.t();
        let svc = service(st)?;
        let (i, _) = svc.get(id).map_err(refused)?;
        let last = svc.last_scope(id).map_err(refused)?;
        let files = last
            .as_ref()
            .map(|s| {
                s.files
                    .iter()
                    .filter_map(|(what, path)| {
                        let name = std::path::Path::new(path).file_name()?.to_str()?.to_owned();
                        Some((what.clone(), format!("/v1/incidents/{id}/files/{name}")))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let scoped = last.map(|s| Scoped {
            persons: s.counts.persons,
            records: s.counts.records,
            by_category: vec![
                (t.category(vigie_core::DataCategory::Nir), s.counts.nir),
                (t.category(vigie_core::DataCategory::Contact), s.counts.contact),
                (t.category(vigie_core::DataCategory::Sensitive), s.counts.sensitive),
            ],
            released_entries: s.counts.released_entries,
            denied_entries: s.counts.denied_entries,
            withheld_entries: s.counts.withheld_entries,
            accounts: s
                .accounts
                .iter()
                .take(20)
                .map(|a| {
                    format!(
                        "{} · {} {} · {} {}",
                        a.agent,
                        a.persons,
                        t.console.col_persons.to_lowercase(),
                        a.released_entries,
                        t.console.col_entries.to_lowercase()
                    )
                })
                .collect(),
            first: s.first.map(|f| t.moment(f)).unwrap_or_default(),
            last: s.last.map(|f| t.moment(f)).unwrap_or_default(),
            unverified: s.unverified,
            checkpoint: s.checkpoints.iter().map(|(o, n, _)| format!("{o} · {n}")).collect::<Vec<_>>().join(", "),
        });
        let n = svc.notices(id).map_err(refused)?;
        let sending = vec![
            ("pending", n.pending),
            ("sending", n.sending),
            ("in doubt", n.in_doubt),
            ("sent", n.sent),
            ("failed", n.failed),
            ("no address", n.no_address),
        ];
        let scope_action = format!("/console/incidents/{id}/scope");
        Ok(page(&IncidentPage {
            c: ctx.console_chrome(format!("{} {id}", t.console.incident_title)),
            selectors: i.selectors.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            opened_by: match i.opened_by {
                Author::Officer(a) => a.to_string(),
                Author::Operator => "operator".to_owned(),
            },
            i: IncidentRow {
                id: i.id.to_string(),
                title: i.title,
                state: i.state.as_str().to_owned(),
                opened: t.moment(i.opened_at),
                window: format!("{} → {}", t.moment(i.window.from()), t.moment(i.window.to())),
            },
            scoped,
            files,
            sending,
            scope_token: forms::issue(st, authed, &scope_action),
            scope_action,
        }))
    })
    .await
}

/// `POST /console/incidents/{id}/scope`: scopes it now (the service ledgers it).
pub async fn scope_form(
    me: PageSession<(Console, Fresh)>,
    PagePath(raw): PagePath<String>,
    PageForm(form): PageForm<TokenForm>,
) -> Response {
    let id = incident_id(&raw);
    let path = format!("/console/incidents/{raw}/scope");
    me.render(move |st, authed, _, _| {
        let id = id?;
        forms::redeem(st, authed, &path, form.token.as_deref())?;
        service(st)?.scope(id, false, Author::Officer(authed.caller.agent.id)).map_err(refused)?;
        Ok(see_other(&format!("/console/incidents/{id}")))
    })
    .await
}
