//! The guarded endpoints under `/v1`: a person's record, exact lookup, my scope. Each one
//! parses its input into core types and calls the guard with the caller on the blocking pool
//! (the store and the ledger's durable append block); none reads persons itself. The data
//! leaves only once the ledger has answered that its events are durable.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::HeaderValue;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use vigie_core::event::AccessAction;
use vigie_core::guard::{Caller, LookupKey, Released, RequestMeta};
use vigie_core::ids::{FtId, PersonId};
use vigie_core::nir::Nir;
use vigie_core::person::FilteredRecord;
use vigie_core::ports::AccessReason;
use vigie_core::time::{format_date, parse_date};
use vigie_core::{CategorySet, DataCategory};

use crate::actions::verdicts::{STEP_UP_DETAIL, enforce};
use crate::shared::auth::authenticate;
use crate::shared::body::Body;
use crate::shared::caller::{ApiSession, finish};
use crate::shared::extract::{Path, Query};
use crate::shared::params::{only_params, parse_reason, request_id, with_reason};
use crate::shared::problem::Problem;
use crate::shared::state::AppState;

/// Runs `f` with the authenticated caller on the blocking pool, awaits the ledger's answer for
/// what `f` released (the data leaves only once its events are durable), and stamps the
/// response with its request id and `Cache-Control: no-store` (personal data is never cached). A session
/// with a step-up pending is served nothing until it steps up; a step-up the guard demands is
/// recorded on the session (ignored for too long, the session ends). A `Vigie-Reason` header
/// puts the agent's reason on the caller for this request only (it meets a `Friction` verdict).
async fn guarded<F, T>(me: ApiSession, reason: Reason, f: F) -> Result<Response, Problem>
where
    F: FnOnce(&AppState, &Caller, RequestMeta) -> Released<T> + Send + 'static,
    T: Serialize + Send + Unpin + 'static,
{
    let ApiSession { state, presented, client, .. } = me;
    let Reason(reason) = reason;
    let request = request_id();
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
    let mut resp = finish(&state, resp, refreshed);
    if let Ok(v) = HeaderValue::from_str(&request.to_string()) {
        resp.headers_mut().insert("x-request-id", v);
    }
    Ok(resp)
}

/// The `Vigie-Reason` header, if sent: exactly one value from the closed list; anything else
/// is refused before the caller is even looked up.
#[derive(Debug)]
pub struct Reason(pub Option<AccessReason>);

impl FromRequestParts<Arc<AppState>> for Reason {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &Arc<AppState>) -> Result<Self, Problem> {
        let mut values = parts.headers.get_all(REASON_HEADER).iter();
        let Some(value) = values.next() else { return Ok(Reason(None)) };
        if values.next().is_some() {
            return Err(Problem::invalid_reason(REASON_HEADER, "several values"));
        }
        parse_reason(REASON_HEADER, value.as_bytes()).map(|r| Reason(Some(r)))
    }
}

const REASON_HEADER: &str = "Vigie-Reason";

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

/// `GET /v1/persons/{id}?fields=a,b`
pub async fn person(
    me: ApiSession,
    reason: Reason,
    Path(id): Path<String>,
    Query(params): Query,
) -> Result<Response, Problem> {
    only_params(&params, &["fields"])?;
    let id: PersonId = id.parse().map_err(|e: vigie_core::ids::IdError| Problem::invalid("id", e.to_string()))?;
    let named = params.get("fields").map(|l| l.split(','));
    let explicit = named.is_some();
    let requested = categories(named)?;
    guarded(me, reason, move |st, caller, meta| {
        if explicit {
            let never = st.guard.never_permitted(caller, requested);
            if !never.is_empty() {
                return st.guard.refuse_never_permitted(caller, meta, AccessAction::View, Some(id), requested, never);
            }
        }
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

/// `POST /v1/lookup`: exact identifiers only (NIR or France Travail id, with the birth date).
pub async fn lookup(me: ApiSession, reason: Reason, Body(req): Body<LookupRequest>) -> Result<Response, Problem> {
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
    let explicit = req.fields.is_some();
    let requested = categories(req.fields.as_ref().map(|l| l.iter().map(String::as_str)))?;
    let action = match key {
        LookupKey::Nir(..) => AccessAction::LookupByNir,
        LookupKey::FtId(..) => AccessAction::LookupByFtId,
    };
    guarded(me, reason, move |st, caller, meta| {
        if explicit {
            // Refused whether anyone matches or not: it depends on the caller alone.
            let never = st.guard.never_permitted(caller, requested);
            if !never.is_empty() {
                return st.guard.refuse_never_permitted(caller, meta, action, None, requested, never);
            }
        }
        st.guard
            .lookup_released(caller, meta, key, requested)
            .map(|found| json!({ "matches": found.iter().map(record_json).collect::<Vec<_>>() }))
    })
    .await
}

/// `GET /v1/scope?after=P…&limit=N`: the persons my relationships reach, keyset-paginated.
pub async fn scope(me: ApiSession, reason: Reason, Query(params): Query) -> Result<Response, Problem> {
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
    guarded(me, reason, move |st, caller, meta| {
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
