//! The guarded endpoints under `/v1`: my scope, a person's record, exact lookup, and `me`.
//! Each one parses its input into core types, resolves the session and calls the guard on the
//! blocking pool (the store and the ledger's durable append block); none reads persons itself.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use vigie_core::guard::{Caller, GuardError, LookupKey, Released, RequestMeta};
use vigie_core::ids::{FtId, PersonId};
use vigie_core::nir::Nir;
use vigie_core::person::FilteredRecord;
use vigie_core::ports::AccessReason;
use vigie_core::security::{SecurityEvent, SecurityKind};
use vigie_core::time::{format_date, parse_date};
use vigie_core::{CategorySet, DataCategory};

use crate::json::Body;
use crate::problem::Problem;
use crate::session::{Authed, Client, Presented, agent_view, authenticate, with_session};
use crate::state::AppState;

/// Runs `f` with the authenticated caller on the blocking pool, awaits the ledger's answer for
/// what `f` released (the data leaves only once its events are durable), and stamps the
/// response with its request id and `Cache-Control: no-store` (personal data is never cached). A session
/// with a step-up pending is served nothing until it steps up; a step-up the guard demands is
/// recorded on the session (ignored for too long, the session ends). A `Vigie-Reason` header
/// puts the agent's reason on the caller for this request only (it meets a `Friction` verdict).
async fn guarded<F, T>(state: Arc<AppState>, headers: &HeaderMap, client: Client, f: F) -> Result<Response, Problem>
where
    F: FnOnce(&AppState, &Caller, RequestMeta) -> Released<T> + Send + 'static,
    T: Serialize + Send + Unpin + 'static,
{
    let request = crate::pages::request_id();
    let reason = reason_header(headers)?;
    let presented = Presented::from_headers(headers);
    let st = state.clone();
    // The session and the guard's decisions on a blocking thread; the wait for the ledger's
    // sync on none: the request awaits it, and the data leaves only once it is durable.
    let (mut authed, client, released) = tokio::task::spawn_blocking(move || {
        let authed = authenticate(&st, &presented, &client)?;
        if authed.step_up_pending {
            return Ok((authed, client, Err(Problem::step_up_required(STEP_UP_DETAIL))));
        }
        let meta = RequestMeta { request, at: st.clock.now() };
        let released = f(&st, &with_reason(&authed.caller, reason), meta);
        Ok::<_, Problem>((authed, client, Ok(released)))
    })
    .await
    .map_err(|_| Problem::internal())??;
    let refreshed = authed.refreshed.take();
    let resp = match released {
        Err(problem) => problem.into_response(),
        Ok(released) => match released.await {
            Ok(body) => axum::Json(body).into_response(),
            // Enforcing a verdict may write (a step-up demanded, a session ended): off the
            // async threads, as every store write is.
            Err(e) => {
                let st = state.clone();
                tokio::task::spawn_blocking(move || enforce(&st, &authed, &client, e))
                    .await
                    .map_err(|_| Problem::internal())?
                    .into_response()
            }
        },
    };
    let mut resp = crate::session::finish(&state, resp, refreshed);
    if let Ok(v) = HeaderValue::from_str(&request.to_string()) {
        resp.headers_mut().insert("x-request-id", v);
    }
    Ok(resp)
}

/// The `Vigie-Reason` header, if sent: exactly one value from the closed list.
fn reason_header(headers: &HeaderMap) -> Result<Option<AccessReason>, Problem> {
    let mut values = headers.get_all(REASON_HEADER).iter();
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(Problem::invalid_reason(REASON_HEADER, "several values"));
    }
    parse_reason(REASON_HEADER, value.as_bytes()).map(Some)
}

const REASON_HEADER: &str = "Vigie-Reason";

/// Longer than any reason: anything longer is refused without being looked at further.
const MAX_REASON_LEN: usize = 32;

/// A reason an agent gives (the `Vigie-Reason` header, the pages' `reason` field), parsed from
/// raw bytes; anything but one of the closed list is a 400 naming `field`. The value is echoed
/// back only when it is a short printable ASCII word.
pub(crate) fn parse_reason(field: &str, raw: &[u8]) -> Result<AccessReason, Problem> {
    let word = std::str::from_utf8(raw)
        .ok()
        .filter(|s| !s.is_empty() && s.len() <= MAX_REASON_LEN && s.bytes().all(|b| b.is_ascii_graphic()));
    word.and_then(AccessReason::parse).ok_or_else(|| match word {
        Some(w) => Problem::invalid_reason(field, &format!("{w:?}")),
        None => Problem::invalid_reason(field, "a value that is not a short ASCII word"),
    })
}

/// The caller, with the reason given for this request (borrowed as is when there is none).
pub(crate) fn with_reason(caller: &Caller, reason: Option<AccessReason>) -> Cow<'_, Caller> {
    match reason {
        None => Cow::Borrowed(caller),
        Some(r) => Cow::Owned(Caller { reason: Some(r), ..caller.clone() }),
    }
}

const STEP_UP_DETAIL: &str = "confirm it is you with a fresh second factor: POST /v1/step-up with a TOTP code, or a passkey through /v1/step-up/passkey/start and /finish";

/// Carries out what the guard's refusal asks of the session and the account, and answers.
/// A failure to carry it out answers 503 (still nothing released).
pub fn enforce(st: &AppState, authed: &Authed, client: &Client, e: GuardError) -> Problem {
    let outcome = match e {
        GuardError::StepUpRequired => {
            demand_step_up(st, authed, client).map(|()| Problem::step_up_required(STEP_UP_DETAIL))
        }
        GuardError::SessionSuspended => {
            crate::session::end_session(st, &authed.session, vigie_core::signin::EndReason::Suspended, Some(client))
                .map(|()| Problem::session_ended(vigie_core::signin::EndReason::Suspended.as_str()))
        }
        GuardError::AccountSuspended => {
            suspend_account(st, authed, client).map(|()| Problem::session_ended("account_suspended"))
        }
        other => Ok(guard_problem(other)),
    };
    outcome.unwrap_or_else(|p| p)
}

/// The detector's strongest rung: the account is disabled and every session of it ends, and
/// account creation in its organization is frozen until a security officer lifts it (an
/// intruder caught in one account must not have another approved meanwhile); the ledger
/// records a disablement by the detector, and the freeze.
fn suspend_account(st: &AppState, authed: &Authed, client: &Client) -> Result<(), Problem> {
    let now = st.clock.now();
    let agent = authed.caller.agent.id;
    let org = authed.caller.org.id;
    st.accounts.set_agent_active(agent, false).map_err(|_| Problem::unavailable())?;
    let ended = st.accounts.end_sessions_of(agent).map_err(|_| Problem::unavailable())?;
    let freeze = vigie_core::lifecycle::OrgFreeze {
        org,
        frozen_at: now,
        reason: vigie_core::lifecycle::FROZEN_BY_SUSPENSION.to_owned(),
        agent: Some(agent),
    };
    let frozen = st.accounts.freeze_org_creation(&freeze).map_err(|_| Problem::unavailable())?;
    tracing::warn!(agent = %agent, sessions = ended.len(), org = %org, frozen, "account suspended by the detector");
    let mut events = vec![
        SecurityEvent::new(now, SecurityKind::AccountDisabled)
            .subject(agent)
            .session(authed.session.id)
            .context(client.describe())
            .detail("by", "detector"),
    ];
    if frozen {
        events.push(
            SecurityEvent::new(now, SecurityKind::OrgCreationFrozen)
                .subject(agent)
                .detail("organization", org)
                .detail("reason", &freeze.reason)
                .detail("by", "detector"),
        );
    }
    for s in ended {
        events.push(
            SecurityEvent::new(now, SecurityKind::SessionEnded)
                .subject(agent)
                .session(s)
                .detail("reason", vigie_core::signin::EndReason::Suspended.as_str()),
        );
    }
    st.record(&events)
}

/// Records a step-up the guard asked for, on the session and in the ledger.
pub fn demand_step_up(st: &AppState, authed: &Authed, client: &Client) -> Result<(), Problem> {
    let now = st.clock.now();
    st.accounts.demand_step_up(authed.session.id, now).map_err(|_| Problem::unavailable())?;
    st.record(&[SecurityEvent::new(now, SecurityKind::StepUpDemanded)
        .by(authed.caller.agent.id, authed.caller.org.id)
        .session(authed.session.id)
        .context(client.describe())])
}

fn guard_problem(e: GuardError) -> Problem {
    match e {
        GuardError::NotFound => Problem::not_found(),
        GuardError::StepUpRequired => Problem::step_up_required(STEP_UP_DETAIL),
        GuardError::Throttled => Problem::quota_reached(),
        GuardError::ReasonRequired => Problem::reason_required(),
        GuardError::SessionSuspended => Problem::session_ended("suspended"),
        GuardError::AccountSuspended => Problem::session_ended("account_suspended"),
        GuardError::Unavailable(msg) => {
            tracing::error!(error = %msg, "guarded read denied: decision path failed");
            Problem::unavailable()
        }
    }
}

pub async fn me(State(state): State<Arc<AppState>>, client: Client, headers: HeaderMap) -> Result<Response, Problem> {
    with_session(state, &headers, client, false, |_, authed, _| {
        let mut v = serde_json::to_value(agent_view(&authed.caller.agent, &authed.caller.org)).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.insert("session".into(), json!(authed.session.id.0.to_string()));
            m.insert("elevated".into(), json!(authed.caller.elevated));
            m.insert("recent_factor".into(), json!(authed.recent_factor()));
            m.insert("step_up_pending".into(), json!(authed.step_up_pending));
            m.insert("probation".into(), json!(authed.caller.probation));
        }
        Ok(axum::Json(v))
    })
    .await
}

/// The categories asked for, from `?fields=a,b` or a body's `"fields": ["a", "b"]`; all when
/// absent. An unknown name is refused, naming it.
fn categories<'a>(fields: Option<impl Iterator<Item = &'a str>>) -> Result<CategorySet, Problem> {
    let Some(parts) = fields else { return Ok(CategorySet::ALL) };
    let mut set = CategorySet::EMPTY;
    for part in parts {
        let c: DataCategory = part.trim().parse().map_err(|e: vigie_core::category::UnknownCategory| {
            Problem::invalid("fields", format!("{e}, got {:?}", part.chars().take(32).collect::<String>()))
        })?;
        set.insert(c);
    }
    Ok(set)
}

fn only_params(params: &HashMap<String, String>, allowed: &[&str]) -> Result<(), Problem> {
    match params.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(Problem::invalid(
            &k.chars().take(32).collect::<String>(),
            format!("unknown query parameter (expected {})", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

pub async fn person(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, Problem> {
    let Path(id) = path.map_err(|_| Problem::invalid("id", "not a valid path segment"))?;
    let Query(params) = query.map_err(|_| Problem::invalid("query", "not a valid query string"))?;
    only_params(&params, &["fields"])?;
    let id: PersonId = id.parse().map_err(|e: vigie_core::ids::IdError| Problem::invalid("id", e.to_string()))?;
    let requested = categories(params.get("fields").map(|l| l.split(',')))?;
    guarded(state, &headers, client, move |st, caller, meta| {
        st.guard.read_released(caller, meta, id, requested).map(|r| record_json(&r))
    })
    .await
}

/// Debug shows no identifier: the NIR must not reach logs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupRequest {
    nir: Option<String>,
    ft_id: Option<String>,
    birth_date: String,
    fields: Option<Vec<String>>,
}

impl std::fmt::Debug for LookupRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LookupRequest").field("fields", &self.fields).finish_non_exhaustive()
    }
}

pub async fn lookup(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Body(req): Body<LookupRequest>,
) -> Result<Response, Problem> {
    let birth = parse_date(&req.birth_date).ok_or_else(|| Problem::invalid("birth_date", "a date YYYY-MM-DD"))?;
    let key = match (req.nir, req.ft_id) {
        (Some(nir), None) => {
            LookupKey::Nir(nir.parse::<Nir>().map_err(|e| Problem::invalid("nir", e.to_string()))?, birth)
        }
        (None, Some(ft)) => LookupKey::FtId(
            ft.parse::<FtId>().map_err(|e: vigie_core::ids::IdError| Problem::invalid("ft_id", e.to_string()))?,
            birth,
        ),
        _ => {
            return Err(Problem::invalid(
                "nir",
                "give exactly one of nir or ft_id, with birth_date (exact identifiers only: no names, prefixes or patterns)",
            ));
        }
    };
    let requested = categories(req.fields.as_ref().map(|l| l.iter().map(String::as_str)))?;
    guarded(state, &headers, client, move |st, caller, meta| {
        st.guard
            .lookup_released(caller, meta, key, requested)
            .map(|found| json!({ "matches": found.iter().map(record_json).collect::<Vec<_>>() }))
    })
    .await
}

pub async fn scope(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, Problem> {
    let Query(params) = query.map_err(|_| Problem::invalid("query", "not a valid query string"))?;
    only_params(&params, &["after", "limit"])?;
    let after = match params.get("after") {
        Some(a) => Some(a.parse::<PersonId>().map_err(|e| Problem::invalid("after", e.to_string()))?),
        None => None,
    };
    let limit = match params.get("limit") {
        Some(l) => l.parse::<usize>().ok().filter(|n| (1..=vigie_core::guard::MAX_SCOPE_PAGE).contains(n)).ok_or_else(
            || Problem::invalid("limit", format!("an integer from 1 to {}", vigie_core::guard::MAX_SCOPE_PAGE)),
        )?,
        None => 50,
    };
    guarded(state, &headers, client, move |st, caller, meta| {
        st.guard.scope_released(caller, meta, after, limit).map(|page| {
            let next = page.next_after.map(|id| id.to_string());
            let items: Vec<Value> = page
                .entries
                .iter()
                .map(|e| {
                    json!({
                        "id": e.id.to_string(),
                        "last_name": e.last_name,
                        "first_name": e.first_name,
                        "relationship": e.relationship.as_str(),
                    })
                })
                .collect();
            json!({ "items": items, "next_after": next })
        })
    })
    .await
}

/// The JSON of a filtered record: categories not permitted are absent, not null.
pub fn record_json(r: &FilteredRecord) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(r.id.to_string()));
    m.insert("categories".into(), json!(r.categories.iter().map(DataCategory::as_str).collect::<Vec<_>>()));
    if let Some(i) = &r.identity {
        m.insert(
            "identity".into(),
            json!({
                "ft_id": i.ft_id.as_str(),
                "last_name": i.last_name,
                "first_name": i.first_name,
                "birth_date": format_date(i.birth_date),
                "birth_place": { "code": i.birth_place.code, "name": i.birth_place.name },
                "sex": i.sex.as_str(),
            }),
        );
    }
    if let Some(n) = &r.nir {
        m.insert("nir".into(), json!(n.as_str()));
    }
    if let Some(c) = &r.contact {
        m.insert(
            "contact".into(),
            json!({
                "email": c.email,
                "phone": c.phone,
                "address": {
                    "street": c.address.street,
                    "postcode": c.address.postcode,
                    "commune": c.address.commune,
                    "commune_code": c.address.commune_code,
                },
            }),
        );
    }
    if let Some(s) = &r.status {
        m.insert(
            "status".into(),
            json!({
                "status": s.status.as_str(),
                "registered_on": format_date(s.registered_on),
                "deregistered_on": s.deregistered_on.map(format_date),
                "youth": s.youth,
            }),
        );
    }
    if let Some(s) = &r.sensitive {
        m.insert("sensitive".into(), json!({ "rqth": s.rqth }));
    }
    Value::Object(m)
}

/// The bench-only unguarded read (see `HttpSettings::dangerous_unguarded_bench_route`).
pub async fn unguarded_person(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    let Path(id) = path.map_err(|_| Problem::invalid("id", "not a valid path segment"))?;
    let id: PersonId = id.parse().map_err(|e: vigie_core::ids::IdError| Problem::invalid("id", e.to_string()))?;
    let st = state.clone();
    let person = tokio::task::spawn_blocking(move || st.registry.person(id))
        .await
        .map_err(|_| Problem::internal())?
        .map_err(|_| Problem::unavailable())?
        .ok_or_else(Problem::not_found)?;
    Ok(axum::Json(record_json(&person.filter(CategorySet::ALL))).into_response())
}

/// `GET /v1/alerts?limit=N`: the detector's recent alerts, newest first. Security officers
/// only: an agency's see every organization's, a partner's its own.
pub async fn alerts(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, Problem> {
    let Query(params) = query.map_err(|_| Problem::invalid("query", "not a valid query string"))?;
    only_params(&params, &["limit"])?;
    let limit = match params.get("limit") {
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| Problem::invalid("limit", "an integer from 1 to 1000"))?,
        None => 100,
    };
    with_session(state, &headers, client, false, move |st, authed, _| {
        let c = &authed.caller;
        if c.agent.role != vigie_core::org::Role::SecurityOfficer {
            return Err(Problem::forbidden("alerts are for security officers"));
        }
        let all = c.org.kind == vigie_core::org::OrgKind::Agency;
        let org = c.org.id.to_string();
        let alerts = st.alerts.as_ref().map(|f| f.recent(limit, |a| all || a.organization == org)).unwrap_or_default();
        Ok(axum::Json(json!({ "alerts": alerts, "detection": st.alerts.is_some() })))
    })
    .await
}
