//! Governed bulk extracts (`vigie_core::extract`):
//!
//! - `GET /v1/extracts` (security officers see every extract, others their organization's);
//!   `POST /v1/extracts` (a request, with a second factor in the elevation window);
//! - `GET /v1/extracts/{id}`; `POST …/{id}/approve`, `POST …/{id}/refuse` (another person,
//!   with a fresh second factor); `POST …/{id}/produce`;
//! - `GET …/{id}/files/{name}` (`{id}.csv.age`, `manifest.json`, `manifest.json.sig`: the
//!   ciphertext's hand-over is ledgered); `POST …/{id}/receipt` (the recipient's signed
//!   deletion receipt); `POST /v1/extracts/attribute` (officers: a leaked fragment, as text);
//!   `GET /v1/extracts/overdue` (officers);
//! - `POST …/{id}/open`: `age-plugin-vigie` asks for the extract's opening secret. No session:
//!   the request is signed by the recipient's registered key, and the answer is sealed to its
//!   X25519 key; after expiry or a deletion receipt, 410 (ledgered and alerted).
//!
//! The work is the extract service's; the rules (who asks, who approves, what a purpose
//! allows, quotas, retention) are in the core and Cedar, and every refusal names its reason.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use vigie_core::extract::service::{ExtractFailure, ExtractFile, ExtractService, RequestInput};
use vigie_core::extract::{Extract, ExtractId};
use vigie_core::org::Role;

use crate::shared::body::Body;
use crate::shared::caller::{ApiSession, Fresh, Officer, Read, Recent, Write};
use crate::shared::client::Client;
use crate::shared::extract::Path;
use crate::shared::problem::Problem;
use crate::shared::state::AppState;

fn extract_id(raw: &str) -> Result<ExtractId, Problem> {
    raw.parse().map_err(|e: vigie_core::ids::IdError| Problem::invalid("id", e.to_string()))
}

fn service(st: &AppState) -> Result<&dyn ExtractService, Problem> {
    st.extracts.as_deref().ok_or_else(|| {
        Problem::not_implemented(
            "governed extracts are not wired on this node (its application state has no extract service)",
        )
    })
}

fn refused(e: ExtractFailure) -> Problem {
    match e {
        ExtractFailure::NotFound(id) => Problem::not_found_detail(format!("no extract {id}")),
        ExtractFailure::Refused(why) => Problem::forbidden(why),
        ExtractFailure::Gone(why) => Problem::gone(why),
        ExtractFailure::Internal(why) => {
            tracing::error!(error = %why, "extract service");
            Problem::unavailable()
        }
    }
}

pub fn extract_json(x: &Extract) -> Value {
    json!({
        "id": x.id.to_string(),
        "state": x.state.as_str(),
        "organization": x.org.to_string(),
        "requested_by": x.requested_by.to_string(),
        "purpose": x.purpose.to_string(),
        "description": x.description,
        "legal_basis": x.legal_basis.as_str(),
        "relationship": x.relationship.as_str(),
        "fields": x.fields.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "recipient": x.recipient,
        "expires_at": x.expires_at.to_string(),
        "created_at": x.created_at.to_string(),
        "decided_by": x.decided_by.map(|a| a.to_string()),
        "decided_at": x.decided_at.map(|t| t.to_string()),
        "produced_at": x.produced_at.map(|t| t.to_string()),
        "rows": x.rows,
        "ciphertext_sha256": x.ciphertext_sha256,
        "deleted_at": x.deleted_at.map(|t| t.to_string()),
        "downloaded_at": x.downloaded_at.map(|t| t.to_string()),
    })
}

/// Whether the caller may see this extract: an officer, or one of its organization.
fn visible(me: &vigie_core::org::Agent, x: &Extract) -> bool {
    me.role == Role::SecurityOfficer || me.org == x.org
}

/// `GET /v1/extracts`
pub async fn list(me: ApiSession<Read>) -> Result<Response, Problem> {
    me.run(|st, authed, _| {
        let me = &authed.caller.agent;
        let list = service(st)?.list(500).map_err(refused)?;
        let shown: Vec<Value> = list.iter().filter(|x| visible(me, x)).map(extract_json).collect();
        Ok(Json(json!({ "extracts": shown, "signing_key": service(st)?.signing_key() })))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestBody {
    purpose: String,
    description: String,
    legal_basis: String,
    relationship: String,
    fields: Vec<String>,
    recipient: String,
    receipt_key: String,
    retain_until: String,
}

/// `POST /v1/extracts`
pub async fn request(me: ApiSession<Fresh>, Body(b): Body<RequestBody>) -> Result<Response, Problem> {
    let input = RequestInput {
        purpose: b.purpose,
        description: b.description,
        legal_basis: b.legal_basis,
        relationship: b.relationship,
        fields: b.fields,
        recipient: b.recipient,
        receipt_key: b.receipt_key,
        retain_until: b.retain_until,
    };
    me.run(move |st, authed, _| {
        let x = service(st)?.request(&authed.caller.agent, &input).map_err(refused)?;
        Ok((StatusCode::CREATED, Json(extract_json(&x))))
    })
    .await
}

/// `GET /v1/extracts/{id}`
pub async fn show(me: ApiSession<Read>, Path(id): Path<String>) -> Result<Response, Problem> {
    let id = extract_id(&id)?;
    me.run(move |st, authed, _| {
        let x = service(st)?.get(id).map_err(refused)?;
        if !visible(&authed.caller.agent, &x) {
            return Err(Problem::not_found_detail(format!("no extract {id}")));
        }
        Ok(Json(extract_json(&x)))
    })
    .await
}

async fn decide(me: ApiSession<Fresh>, id: String, approve: bool) -> Result<Response, Problem> {
    let id = extract_id(&id)?;
    me.run(move |st, authed, _| {
        // The gate proved a second factor in the elevation window.
        let x = service(st)?.decide(id, &authed.caller.agent, true, approve).map_err(refused)?;
        Ok(Json(extract_json(&x)))
    })
    .await
}

/// `POST /v1/extracts/{id}/approve`
pub async fn approve(me: ApiSession<Fresh>, Path(id): Path<String>) -> Result<Response, Problem> {
    decide(me, id, true).await
}

/// `POST /v1/extracts/{id}/refuse`
pub async fn refuse(me: ApiSession<Fresh>, Path(id): Path<String>) -> Result<Response, Problem> {
    decide(me, id, false).await
}

/// `POST /v1/extracts/{id}/produce`
pub async fn produce(me: ApiSession<Fresh>, Path(id): Path<String>) -> Result<Response, Problem> {
    let id = extract_id(&id)?;
    me.run(move |st, authed, _| {
        let svc = service(st)?;
        let p = svc.produce(id, &authed.caller.agent).map_err(refused)?;
        let mut v = extract_json(&p.extract);
        v["rows_in_file"] = json!(p.rows + p.canaries);
        v["bytes"] = json!(p.bytes);
        v["columns"] = json!(p.columns);
        v["pseudonymized_ids"] = json!(p.pseudonymized);
        v["signing_key"] = json!(svc.signing_key());
        Ok(Json(v))
    })
    .await
}

/// `GET /v1/extracts/{id}/files/{name}`
pub async fn file(me: ApiSession<Recent>, Path((id, name)): Path<(String, String)>) -> Result<Response, Problem> {
    let id = extract_id(&id)?;
    let which = match name.as_str() {
        n if n == format!("{id}.csv.age") => ExtractFile::Ciphertext,
        "manifest.json" => ExtractFile::Manifest,
        "manifest.json.sig" => ExtractFile::Signature,
        _ => return Err(Problem::invalid("name", format!("one of {id}.csv.age, manifest.json, manifest.json.sig"))),
    };
    me.run(move |st, authed, _| {
        let file = service(st)?.file(id, &authed.caller.agent, which).map_err(refused)?;
        let length = file.metadata().map(|m| m.len()).ok();
        // Streamed in 64 KiB reads: a file of a million persons never sits in memory.
        let stream = tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(file), 64 * 1024);
        let media = match which {
            ExtractFile::Ciphertext => "application/octet-stream",
            ExtractFile::Manifest => "application/json",
            ExtractFile::Signature => "text/plain; charset=utf-8",
        };
        let mut r = axum::body::Body::from_stream(stream).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
        if let Some(n) = length {
            r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}-{name}\"")) {
            r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
        }
        Ok(r)
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptBody {
    /// The receipt document (JSON, `vigie-deletion-receipt/1`), exactly as signed.
    receipt: String,
    /// Its Ed25519 signature by the recipient's registered key (base64).
    signature: String,
}

/// `POST /v1/extracts/{id}/receipt`
pub async fn receipt(
    me: ApiSession<Write>,
    Path(id): Path<String>,
    Body(b): Body<ReceiptBody>,
) -> Result<Response, Problem> {
    let id = extract_id(&id)?;
    me.run(move |st, authed, _| {
        let svc = service(st)?;
        let x = svc.get(id).map_err(refused)?;
        if !visible(&authed.caller.agent, &x) {
            return Err(Problem::not_found_detail(format!("no extract {id}")));
        }
        let x = svc.receipt(id, b.receipt.as_bytes(), &b.signature).map_err(refused)?;
        Ok(Json(extract_json(&x)))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeBody {
    /// The leaked rows as CSV text (a fragment: the body limit applies; whole files with
    /// `vigie extract attribute`).
    csv: String,
}

/// `POST /v1/extracts/attribute`
pub async fn attribute(me: ApiSession<(Officer, Recent)>, Body(b): Body<AttributeBody>) -> Result<Response, Problem> {
    me.run(move |st, _, _| {
        let (rows, named) = service(st)?.attribute(b.csv.as_bytes()).map_err(refused)?;
        Ok(Json(json!({
            "rows": rows,
            "named": named.iter().map(|n| json!({
                "extract": n.extract.to_string(),
                "pseudonym_rows": n.pseudonym_rows,
                "canaries": n.canaries,
                "false_attribution_log10": n.log10_false,
            })).collect::<Vec<_>>(),
        })))
    })
    .await
}

/// `GET /v1/extracts/overdue`
pub async fn overdue(me: ApiSession<(Officer, Recent)>) -> Result<Response, Problem> {
    me.run(|st, _, _| {
        let list = service(st)?.overdue().map_err(refused)?;
        Ok(Json(json!({ "extracts": list.iter().map(extract_json).collect::<Vec<_>>() })))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenBody {
    format: String,
    extract: String,
    at: String,
    nonce: String,
    signature: String,
}

/// `POST /v1/extracts/{id}/open`: no session; the signature is the credential.
pub async fn open(
    axum::extract::State(st): axum::extract::State<std::sync::Arc<AppState>>,
    client: Client,
    Path(id): Path<String>,
    Body(b): Body<OpenBody>,
) -> Result<Response, Problem> {
    let id = extract_id(&id)?;
    if b.extract != id.to_string() {
        return Err(Problem::invalid("extract", format!("{} does not match the address's {id}", b.extract)));
    }
    let input =
        vigie_core::extract::service::OpenInput { format: b.format, at: b.at, nonce: b.nonce, signature: b.signature };
    let from = client.ip.to_string();
    let opened = tokio::task::spawn_blocking(move || service(&st)?.open(id, &input, &from).map_err(refused))
        .await
        .map_err(|_| Problem::internal())??;
    Ok(Json(json!({
        "extract": id.to_string(),
        "expires_on": opened.expires_on,
        "epk": opened.epk,
        "sealed": opened.sealed,
    }))
    .into_response())
}
