//! Incidents, for security officers with a second factor confirmed in the last elevation window
//! (every action, reads included: an incident's files name persons):
//!
//! - `GET /v1/incidents`, `POST /v1/incidents` (open), `GET /v1/incidents/{id}` (with its
//!   decisions, last scope and notifications);
//! - `POST …/{id}/scope` (`{"force": false}`), `GET …/{id}/proposals`,
//!   `POST …/{id}/decisions` (`{"target": "agent:A12", "accept": true}`);
//! - `POST …/{id}/notify`, `POST …/{id}/resume`, `GET …/{id}/notices[/{person}]`;
//! - `POST …/{id}/close`; `GET …/{id}/files/{name}` (the drafts and lists, to download).
//!
//! The work is the incident service's (`vigie_core::incident::service`); an incident's files
//! are served only by name from a fixed list, never by path.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use vigie_core::ids::IncidentId;
use vigie_core::incident::scope::{AccountPart, Counts};
use vigie_core::incident::service::{IncidentError, IncidentService, OpenRequest, ScopeSummary};
use vigie_core::incident::store::{Notice, NoticeCounts};
use vigie_core::incident::{Author, Incident, NetPrefix, Selector, Window};
use vigie_core::time::Timestamp;

use crate::shared::body::Body;
use crate::shared::caller::{ApiSession, Fresh, Officer, Recent};
use crate::shared::extract::Path;
use crate::shared::params::person_id;
use crate::shared::problem::Problem;
use crate::shared::state::AppState;

fn incident_id(raw: &str) -> Result<IncidentId, Problem> {
    raw.parse().map_err(|e: vigie_core::ids::IdError| Problem::invalid("id", e.to_string()))
}

fn service(st: &AppState) -> Result<&dyn IncidentService, Problem> {
    st.incidents.as_deref().ok_or_else(|| Problem::not_implemented("breach incidents are not wired on this node"))
}

fn refused(e: IncidentError) -> Problem {
    match e {
        IncidentError::NotFound(id) => Problem::not_found_detail(format!("no incident {id}")),
        IncidentError::BadRequest(why) => Problem::invalid("incident", why),
        IncidentError::Transition(t) => Problem::conflict(t.to_string()),
        IncidentError::Conflict(why) => Problem::conflict(why),
        IncidentError::Unverified(_) => Problem::conflict(e.to_string()),
        IncidentError::Unavailable(why) => {
            tracing::error!(error = %why, "incident service");
            Problem::unavailable()
        }
    }
}

fn by(authed: &crate::shared::auth::Authed) -> Author {
    Author::Officer(authed.caller.agent.id)
}

fn time(t: Timestamp) -> String {
    t.to_string()
}

pub fn incident_json(i: &Incident) -> Value {
    json!({
        "id": i.id.to_string(),
        "title": i.title,
        "state": i.state.as_str(),
        "opened_at": time(i.opened_at),
        "opened_by": i.opened_by.to_string(),
        "awareness_at": time(i.awareness_at),
        "notification_deadline": time(i.notification_deadline()),
        "window": { "from": time(i.window.from()), "to": time(i.window.to()) },
        "selectors": i.selectors.iter().map(Selector::to_string).collect::<Vec<_>>(),
        "alert": i.alert,
        "closed_at": i.closed_at.map(time),
    })
}

fn counts_json(c: &Counts) -> Value {
    json!({
        "persons": c.persons, "records": c.records, "nir": c.nir, "sensitive": c.sensitive,
        "contact": c.contact, "identity_only": c.identity_only, "released_entries": c.released_entries,
        "pairs": c.pairs, "denied_entries": c.denied_entries, "withheld_entries": c.withheld_entries,
        "unmatched_lookups": c.unmatched_lookups,
    })
}

fn account_json(a: &AccountPart) -> Value {
    json!({
        "agent": a.agent.to_string(),
        "sessions": a.sessions.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "released_entries": a.released_entries, "persons": a.persons, "denied": a.denied,
        "withheld": a.withheld, "unmatched_lookups": a.unmatched_lookups,
        "first": time(a.first), "last": time(a.last),
    })
}

pub fn scope_json(s: &ScopeSummary) -> Value {
    json!({
        "incident": s.incident.to_string(),
        "verified": s.unverified.is_empty(),
        "unverified": s.unverified,
        "counts": counts_json(&s.counts),
        "first": s.first.map(time),
        "last": s.last.map(time),
        "accounts": s.accounts.iter().map(account_json).collect::<Vec<_>>(),
        // One per ledger read (one per node among several); `checkpoint` is the first, as
        // before several nodes.
        "checkpoint": s.checkpoints.first().map(|(o, n, r)| json!({"origin": o, "size": n, "root": r})),
        "checkpoints": s.checkpoints.iter().map(|(o, n, r)| json!({"origin": o, "size": n, "root": r})).collect::<Vec<_>>(),
        "shredded": s.shredded.iter().map(|(m, n)| json!({"month": m, "entries": n})).collect::<Vec<_>>(),
        "after_checkpoint": s.after_checkpoint,
        "files": s.files.iter().map(|(w, p)| json!({"what": w, "name": file_name(p)})).collect::<Vec<_>>(),
        "seconds": s.seconds,
    })
}

fn notices_json(n: &NoticeCounts) -> Value {
    json!({
        "pending": n.pending, "sending": n.sending, "in_doubt": n.in_doubt, "sent": n.sent,
        "failed": n.failed, "no_address": n.no_address,
    })
}

fn notice_json(n: &Notice) -> Value {
    json!({
        "person": n.person.to_string(),
        "letter": n.kind.as_str(),
        "state": n.state.as_str(),
        "attempts": n.attempts,
        "message_id": n.message_id,
        "updated": time(n.updated),
        "error": n.error,
    })
}

/// The file names an incident has, and their media types.
const FILES: &[(&str, &str)] = &[
    ("cnil.md", "text/markdown; charset=utf-8"),
    ("cnil.pdf", "application/pdf"),
    ("persons.csv", "text/csv; charset=utf-8"),
    ("refused.csv", "text/csv; charset=utf-8"),
    ("accounts.csv", "text/csv; charset=utf-8"),
    ("entries.txt", "text/plain; charset=utf-8"),
    ("proofs.jsonl", "application/jsonl"),
    ("publipostage.csv", "text/csv; charset=utf-8"),
];

fn file_name(path: &str) -> String {
    std::path::Path::new(path).file_name().and_then(|n| n.to_str()).unwrap_or("").to_owned()
}

/// `GET /v1/incidents`
pub async fn list(me: ApiSession<(Officer, Recent)>) -> Result<Response, Problem> {
    me.run(|st, _, _| {
        let list = service(st)?.list(200).map_err(refused)?;
        Ok(Json(json!({ "incidents": list.iter().map(incident_json).collect::<Vec<_>>() })))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenBody {
    title: String,
    from: String,
    to: String,
    #[serde(default)]
    awareness_at: Option<String>,
    #[serde(default)]
    agents: Vec<String>,
    #[serde(default)]
    sessions: Vec<String>,
    #[serde(default)]
    networks: Vec<String>,
    /// Bulk extracts whose file leaked (`X3`): exactly the rows each file held.
    #[serde(default)]
    extracts: Vec<String>,
    #[serde(default)]
    alert: Option<u64>,
}

fn parse_time(field: &str, s: &str) -> Result<Timestamp, Problem> {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(s, &Rfc3339)
        .map(|t| Timestamp(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)))
        .map_err(|_| Problem::invalid(field, "an RFC 3339 time, e.g. 2026-12-01T08:00:00Z"))
}

impl OpenBody {
    fn parse(self) -> Result<OpenRequest, Problem> {
        let from = parse_time("from", &self.from)?;
        let to = parse_time("to", &self.to)?;
        let window = Window::new(from, to).map_err(|e| Problem::invalid("to", e.to_string()))?;
        let awareness_at = self.awareness_at.as_deref().map(|a| parse_time("awareness_at", a)).transpose()?;
        let mut selectors = Vec::new();
        for a in &self.agents {
            selectors.push(Selector::Agent(
                a.parse().map_err(|e: vigie_core::ids::IdError| Problem::invalid("agents", e.to_string()))?,
            ));
        }
        for s in &self.sessions {
            let id = vigie_core::incident::parse_session(s)
                .ok_or_else(|| Problem::invalid("sessions", format!("{s:?} is not a session id (16 hex digits)")))?;
            selectors.push(Selector::Session(id));
        }
        for x in &self.extracts {
            let x: vigie_core::extract::ExtractId =
                x.parse().map_err(|e: vigie_core::ids::IdError| Problem::invalid("extracts", e.to_string()))?;
            selectors.push(Selector::Session(vigie_core::extract::session_of(x)));
        }
        for n in &self.networks {
            let p: NetPrefix = n
                .parse()
                .map_err(|e: vigie_core::incident::NetPrefixError| Problem::invalid("networks", e.to_string()))?;
            selectors.push(Selector::Network(p));
        }
        Ok(OpenRequest { title: self.title, window, awareness_at, selectors, alert: self.alert })
    }
}

/// `POST /v1/incidents`
pub async fn open(me: ApiSession<(Officer, Fresh)>, Body(body): Body<OpenBody>) -> Result<Response, Problem> {
    let request = body.parse()?;
    me.run(move |st, authed, _| {
        let i = service(st)?.open(request, by(authed)).map_err(refused)?;
        Ok((StatusCode::CREATED, Json(incident_json(&i))))
    })
    .await
}

/// `GET /v1/incidents/{id}`
pub async fn show(me: ApiSession<(Officer, Recent)>, Path(id): Path<String>) -> Result<Response, Problem> {
    let id = incident_id(&id)?;
    me.run(move |st, _, _| {
        let svc = service(st)?;
        let (i, decisions) = svc.get(id).map_err(refused)?;
        let scope = svc.last_scope(id).map_err(refused)?;
        let notices = svc.notices(id).map_err(refused)?;
        let mut v = incident_json(&i);
        v["decisions"] = json!(decisions
            .iter()
            .map(|d| json!({"target": d.target.to_string(), "accepted": d.accepted, "by": d.by.to_string(), "at": time(d.at), "why": d.why}))
            .collect::<Vec<_>>());
        v["scope"] = scope.as_ref().map_or(Value::Null, scope_json);
        v["notices"] = notices_json(&notices);
        Ok(Json(v))
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeBody {
    #[serde(default)]
    force: bool,
}

/// `POST /v1/incidents/{id}/scope`
pub async fn scope(
    me: ApiSession<(Officer, Fresh)>,
    Path(id): Path<String>,
    Body(body): Body<ScopeBody>,
) -> Result<Response, Problem> {
    let id = incident_id(&id)?;
    me.run(move |st, authed, _| {
        let s = service(st)?.scope(id, body.force, by(authed)).map_err(refused)?;
        Ok(Json(scope_json(&s)))
    })
    .await
}

/// `GET /v1/incidents/{id}/proposals`
pub async fn proposals(me: ApiSession<(Officer, Recent)>, Path(id): Path<String>) -> Result<Response, Problem> {
    let id = incident_id(&id)?;
    me.run(move |st, _, _| {
        let p = service(st)?.proposals(id).map_err(refused)?;
        let list: Vec<Value> = p
            .iter()
            .map(|p| json!({"target": p.target.to_string(), "why": p.why, "weak": p.weak, "evidence": p.evidence}))
            .collect();
        Ok(Json(json!({ "proposals": list })))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    target: String,
    accept: bool,
}

/// `POST /v1/incidents/{id}/decisions`
pub async fn decide(
    me: ApiSession<(Officer, Fresh)>,
    Path(id): Path<String>,
    Body(body): Body<DecisionBody>,
) -> Result<Response, Problem> {
    let id = incident_id(&id)?;
    let target: Selector = body
        .target
        .parse()
        .map_err(|e: vigie_core::incident::SelectorError| Problem::invalid("target", e.to_string()))?;
    me.run(move |st, authed, _| {
        let i = service(st)?.decide(id, target, body.accept, by(authed)).map_err(refused)?;
        Ok(Json(incident_json(&i)))
    })
    .await
}

fn notify_json(r: &vigie_core::incident::service::NotifyReport) -> Value {
    json!({
        "persons": r.persons, "serious": r.serious, "standard": r.standard, "with_email": r.with_email,
        "sending": r.sending,
        "files": r.files.iter().map(|(w, p)| json!({"what": w, "name": file_name(p)})).collect::<Vec<_>>(),
    })
}

/// `POST /v1/incidents/{id}/notify`: the drafts and letters are written before the answer; the
/// e-mails go out in the background (`GET …/notices` follows them).
pub async fn notify(me: ApiSession<(Officer, Fresh)>, Path(id): Path<String>) -> Result<Response, Problem> {
    let id = incident_id(&id)?;
    me.run(move |st, authed, _| {
        let r = service(st)?.notify(id, by(authed)).map_err(refused)?;
        Ok((StatusCode::ACCEPTED, Json(notify_json(&r))))
    })
    .await
}

/// `POST /v1/incidents/{id}/resume`
pub async fn resume(me: ApiSession<(Officer, Fresh)>, Path(id): Path<String>) -> Result<Response, Problem> {
    let id = incident_id(&id)?;
    me.run(move |st, authed, _| {
        let r = service(st)?.resume(id, by(authed)).map_err(refused)?;
        Ok((StatusCode::ACCEPTED, Json(notify_json(&r))))
    })
    .await
}

/// `GET /v1/incidents/{id}/notices`
pub async fn notices(me: ApiSession<(Officer, Recent)>, Path(id): Path<String>) -> Result<Response, Problem> {
    let id = incident_id(&id)?;
    me.run(move |st, _, _| {
        let n = service(st)?.notices(id).map_err(refused)?;
        Ok(Json(notices_json(&n)))
    })
    .await
}

/// `GET /v1/incidents/{id}/notices/{person}`
pub async fn notice(
    me: ApiSession<(Officer, Recent)>,
    Path((id, person)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let id = incident_id(&id)?;
    let person = person_id(&person)?;
    me.run(move |st, _, _| {
        let n = service(st)?
            .notice(id, person)
            .map_err(refused)?
            .ok_or_else(|| Problem::not_found_detail(format!("{person} is not among the persons notified for {id}")))?;
        Ok(Json(notice_json(&n)))
    })
    .await
}

/// `POST /v1/incidents/{id}/close`
pub async fn close(me: ApiSession<(Officer, Fresh)>, Path(id): Path<String>) -> Result<Response, Problem> {
    let id = incident_id(&id)?;
    me.run(move |st, authed, _| {
        let i = service(st)?.close(id, by(authed)).map_err(refused)?;
        Ok(Json(incident_json(&i)))
    })
    .await
}

/// `GET /v1/incidents/{id}/files/{name}`: one of the incident's files, by name.
pub async fn file(
    me: ApiSession<(Officer, Recent)>,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let id = incident_id(&id)?;
    let Some(&(name, media)) = FILES.iter().find(|(n, _)| *n == name) else {
        return Err(Problem::invalid(
            "name",
            format!("one of {}", FILES.iter().map(|f| f.0).collect::<Vec<_>>().join(", ")),
        ));
    };
    me.run(move |st, _, _| {
        let dir = st.incident_files.as_ref().ok_or_else(Problem::unavailable)?.join(id.to_string());
        service(st)?.get(id).map_err(refused)?;
        let path = if name == "publipostage.csv" { dir.join("letters").join(name) } else { dir.join(name) };
        let bytes =
            std::fs::read(&path).map_err(|_| Problem::not_found_detail(format!("incident {id} has no {name} yet")))?;
        let mut r = bytes.into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}-{name}\"")) {
            r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
        }
        Ok(r)
    })
    .await
}
