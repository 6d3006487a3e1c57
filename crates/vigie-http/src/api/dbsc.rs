//! Device Bound Session Credentials (W3C draft; Chrome on Windows with a TPM) as a progressive
//! enhancement: a browser that offers it binds its session to a key the device will not export,
//! and from then on the short access cookie can only be renewed by proving possession of that
//! key. An infostealer that copies the cookies gets, at most, the minutes left on the access
//! cookie; the refresh cookie alone no longer renews a bound session.
//!
//! * Every browser sign-in answers with `Secure-Session-Registration` (a fresh challenge;
//!   `actions::dbsc::offer`).
//! * `POST /dbsc/register`: the browser's proof (`Secure-Session-Response`, a `dbsc+jwt`
//!   carrying its public key, over our challenge) binds the session (`session.dbsc_registered`
//!   in the ledger); the answer is the session instructions (refresh URL, cookie kept alive).
//! * `POST /dbsc/refresh`: without a proof, 403 with a fresh `Secure-Session-Challenge`; with a
//!   valid one, a new access cookie. A proof that fails ends the session
//!   (`device_proof_failed`) and tells the browser to stop (`"continue": false`).
//!
//! Browsers without DBSC ignore the header and keep the ordinary, context-bound refresh.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use vigie_core::security::SecurityKind;
use vigie_core::signin::EndReason;
use vigie_dbsc::{BoundKey, CHALLENGE_HEADER, RESPONSE_HEADER, SESSION_ID_HEADER};

use crate::actions::dbsc::{REFRESH_PATH, challenge};
use crate::shared::auth::{authenticate, end_session, rotate_access};
use crate::shared::client::Client;
use crate::shared::problem::Problem;
use crate::shared::state::{ACCESS_COOKIE, AppState};
use crate::shared::tokens::{self, Presented};

fn instructions(state: &AppState, session: vigie_core::SessionId) -> serde_json::Value {
    let origin = state.settings.public_origin.origin().ascii_serialization();
    vigie_dbsc::session_instructions(
        &session.0.to_string(),
        REFRESH_PATH,
        &origin,
        ACCESS_COOKIE,
        "Path=/; Secure; HttpOnly; SameSite=Strict",
    )
}

fn proof(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    match headers.get(RESPONSE_HEADER).map(|v| v.to_str()) {
        None => Ok(None),
        Some(Ok(v)) => {
            vigie_dbsc::parse_response_header(v).map(Some).map_err(|e| Problem::invalid(RESPONSE_HEADER, e.to_string()))
        }
        Some(Err(_)) => Err(Problem::invalid(RESPONSE_HEADER, "not ASCII")),
    }
}

/// `POST /dbsc/register`: binds the signed-in session to the device key in the proof.
pub async fn register(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let jwt = proof(&headers)?.ok_or_else(|| Problem::invalid(RESPONSE_HEADER, "missing: the registration proof"))?;
    let presented = Presented::from_headers(&headers);
    let st = state.clone();
    let body = tokio::task::spawn_blocking(move || {
        let authed = authenticate(&st, &presented, &client)?;
        let now = st.clock.now();
        let key = st
            .dbsc
            .lock()
            .map_err(|_| Problem::internal())?
            .redeem_registration(&jwt, now.seconds())
            .map_err(|e| Problem::forbidden(format!("device binding refused: {e}")))?;
        if authed.session.device_key.is_some() {
            return Err(Problem::conflict("this session is already bound to a device key; a key is never replaced"));
        }
        // Recorded before it takes effect: binding changes what renews the session.
        st.record(&[authed
            .event(now, SecurityKind::DeviceBound, &client)
            .detail("key", key.thumbprint())
            .detail("alg", key.algorithm().as_str())])?;
        if !st.accounts.bind_device(authed.session.id, &key.to_bytes()).map_err(|_| Problem::unavailable())? {
            return Err(Problem::conflict("this session is already bound to a device key; a key is never replaced"));
        }
        Ok::<_, Problem>(instructions(&st, authed.session.id))
    })
    .await
    .map_err(|_| Problem::internal())??;
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

/// 403 with a fresh `Secure-Session-Challenge` for the session: the browser signs it and
/// comes back.
fn ask_for_proof(st: &AppState, sid: vigie_core::SessionId) -> Result<Response, Problem> {
    let c = challenge(st).ok_or_else(Problem::internal)?;
    let h = vigie_dbsc::challenge_header(&c, &sid.0.to_string()).map_err(|_| Problem::internal())?;
    let mut resp = StatusCode::FORBIDDEN.into_response();
    if let Ok(v) = HeaderValue::from_str(&h) {
        resp.headers_mut().insert(CHALLENGE_HEADER, v);
    }
    Ok(resp)
}

/// `POST /dbsc/refresh`: a new access cookie for a proof of the device key.
pub async fn refresh(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let sid = headers
        .get(SESSION_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| vigie_dbsc::parse_session_id_header(v).ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(vigie_core::SessionId)
        .ok_or_else(|| Problem::invalid(SESSION_ID_HEADER, "missing or not a session id"))?;
    let jwt = proof(&headers)?;
    let presented = Presented::from_headers(&headers);
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        let now = st.clock.now();
        // The refresh cookie identifies the session; its binding to the client is checked too.
        let refresh = presented.refresh.as_ref().ok_or_else(Problem::unauthenticated)?;
        let session = st
            .accounts
            .session_by_refresh(&refresh.hash())
            .map_err(|_| Problem::unavailable())?
            .filter(|s| s.id == sid)
            .ok_or_else(Problem::unauthenticated)?;
        let key =
            session.device_key.as_deref().ok_or_else(|| Problem::forbidden("this session is not device-bound"))?;
        let key = BoundKey::from_bytes(key).map_err(|_| Problem::unavailable())?;
        let Some(jwt) = jwt else {
            // First leg: ask for a proof over a fresh challenge.
            return ask_for_proof(&st, sid);
        };
        let verified = st.dbsc.lock().map_err(|_| Problem::internal())?.redeem_refresh(&jwt, &key, now.seconds());
        if let Err(vigie_dbsc::DbscError::ChallengeUnknownOrReused) = verified {
            // A stale or evicted challenge says nothing about the key: ask again.
            return ask_for_proof(&st, sid);
        }
        if let Err(e) = verified {
            tracing::warn!(session = sid.0, error = %e, "device-bound refresh failed: session ended");
            end_session(&st, &session, EndReason::DeviceProofFailed, Some(&client))?;
            let mut resp = (StatusCode::FORBIDDEN, axum::Json(vigie_dbsc::terminate_instructions(&sid.0.to_string())))
                .into_response();
            resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return Ok(resp);
        }
        // The context binding holds for device-bound sessions too.
        let proven = Presented {
            access: None,
            refresh: presented.refresh.clone(),
            cookies: true,
            device_proven: true,
            bearer: false,
        };
        let authed = authenticate(&st, &proven, &client);
        let authed = match authed {
            Ok(a) => a,
            Err(p) => return Err(p),
        };
        let tokens = match authed.refreshed {
            Some(t) => t,
            None => rotate_access(&st, &authed.session)?,
        };
        let mut resp = (StatusCode::OK, axum::Json(instructions(&st, sid))).into_response();
        for c in tokens::cookies(&st, &tokens) {
            resp.headers_mut().append(header::SET_COOKIE, c);
        }
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(resp)
    })
    .await
    .map_err(|_| Problem::internal())?
}
