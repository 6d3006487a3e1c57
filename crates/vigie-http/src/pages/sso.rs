//! Single sign-on in the browser: `/auth/oidc/start` sends the agent to the organization's
//! identity provider (ProConnect for French public agents), `/auth/oidc/callback` brings it
//! back. What a federated login is worth is decided in `actions::sso`.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sha2::Digest;

use crate::actions::sso::{STATE_COOKIE, finish, sso};
use crate::shared::client::Client;
use crate::shared::problem::Problem;
use crate::shared::render::{self, PageCtx};
use crate::shared::state::AppState;
use crate::shared::tokens::cookie;

/// `GET /auth/oidc/start`: to the provider.
pub async fn start(State(state): State<Arc<AppState>>) -> Result<Response, Problem> {
    let sso = sso(&state)?;
    let (url, pending) = sso.client.begin();
    let bind = hex::encode(sha2::Sha256::digest(pending.state().as_bytes()));
    sso.logins.put_as(pending.state().to_owned(), pending, state.clock.now());
    let mut resp = Redirect::to(&url).into_response();
    // Lax: the provider's redirect back is a top-level navigation from another site.
    if let Ok(v) =
        HeaderValue::from_str(&format!("{STATE_COOKIE}={bind}; Path=/; Max-Age=600; HttpOnly; Secure; SameSite=Lax"))
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

#[derive(Deserialize, Debug)]
pub struct Callback {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /auth/oidc/callback`: back from the provider.
pub async fn callback(
    State(state): State<Arc<AppState>>,
    ctx: PageCtx,
    client: Client,
    headers: HeaderMap,
    query: Result<Query<Callback>, QueryRejection>,
) -> Response {
    match callback_inner(&state, client, &headers, query).await {
        Ok(r) => r,
        Err(p) => render::problem_page(&p, &ctx),
    }
}

async fn callback_inner(
    state: &Arc<AppState>,
    client: Client,
    headers: &HeaderMap,
    query: Result<Query<Callback>, QueryRejection>,
) -> Result<Response, Problem> {
    let sso = sso(state)?;
    let Query(q) = query.map_err(|_| Problem::invalid("query", "not a valid callback query"))?;
    if let Some(e) = q.error {
        let d = q.error_description.unwrap_or_default();
        return Err(Problem::forbidden(format!(
            "the identity provider refused the sign-in: {}{}",
            e.chars().take(64).collect::<String>(),
            if d.is_empty() { String::new() } else { format!(" ({})", d.chars().take(200).collect::<String>()) }
        )));
    }
    let (Some(returned_state), Some(code)) = (q.state, q.code) else {
        return Err(Problem::invalid("code", "the provider's answer has no code or state"));
    };
    let bind = hex::encode(sha2::Sha256::digest(returned_state.as_bytes()));
    if cookie(headers, STATE_COOKIE) != Some(bind.as_str()) {
        return Err(Problem::forbidden("this sign-in was not started from this browser: start again"));
    }
    let pending = sso
        .logins
        .take(&returned_state, state.clock.now())
        .ok_or_else(|| Problem::forbidden("unknown or expired sign-in attempt: start again"))?;
    let identity = sso.client.complete(pending, &returned_state, &code).await.map_err(|e| {
        tracing::warn!(error = %e, "single sign-on refused");
        Problem::forbidden(format!("single sign-on refused: {e}"))
    })?;
    let st = state.clone();
    tokio::task::spawn_blocking(move || finish(&st, &identity, &client)).await.map_err(|_| Problem::internal())?
}
