//! Vigie's HTTP API (axum): JSON under `/v1`, problem+json errors (RFC 9457).
//!
//! Only this crate knows axum and webauthn-rs. The JSON API is under `/v1` (see the README's
//! API section), the partner pages at `/`, single sign-on under `/auth/oidc`. Every route
//! that touches a person's data goes through `vigie_core::guard::Guard`.

pub mod accounts;
pub mod api;
pub mod dbsc;
pub mod json;
pub mod outbox;
pub mod pages;
pub mod passkey;
pub mod pending;
pub mod problem;
pub mod session;
pub mod sso;
pub mod state;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::routing::{delete, get, post};
use tower_http::set_header::SetResponseHeaderLayer;

pub use state::{AppState, HttpSettings};

/// The application's router, with its body limit and security headers.
pub fn router(state: Arc<AppState>) -> Router {
    let mut app = Router::new()
        // JSON API
        .route("/v1/login", post(session::login))
        .route("/v1/login/passkey/start", post(passkey::login_start))
        .route("/v1/login/passkey/finish", post(passkey::login_finish))
        .route("/v1/logout", post(session::logout))
        .route("/v1/session/refresh", post(session::refresh))
        .route("/v1/sessions", get(session::list))
        .route("/v1/sessions/{id}", delete(session::revoke))
        .route("/v1/step-up", post(passkey::step_up_totp))
        .route("/v1/step-up/passkey/start", post(passkey::step_up_start))
        .route("/v1/step-up/passkey/finish", post(passkey::step_up_finish))
        .route("/v1/passkeys", get(passkey::list))
        .route("/v1/passkeys/register/start", post(passkey::register_start))
        .route("/v1/passkeys/register/finish", post(passkey::register_finish))
        .route("/v1/passkeys/{id}", delete(passkey::remove))
        .route("/v1/account-requests", get(accounts::list).post(accounts::create))
        .route("/v1/account-requests/{id}/approve", post(accounts::approve))
        .route("/v1/account-requests/{id}/reject", post(accounts::reject))
        .route("/v1/agents/{id}/disable", post(accounts::disable))
        .route("/v1/organizations/{id}/freeze", get(accounts::freeze_state))
        .route("/v1/organizations/{id}/unfreeze", post(accounts::unfreeze))
        .route("/v1/agents/{id}/sessions", get(accounts::agent_sessions).delete(accounts::end_agent_sessions))
        .route("/v1/enrol/{token}", get(accounts::enrol_info))
        .route("/v1/enrol/{token}/password", post(accounts::enrol_password))
        .route("/v1/enrol/{token}/confirm", post(accounts::enrol_confirm))
        .route("/v1/enrol/{token}/passkey/start", post(accounts::enrol_passkey_start))
        .route("/v1/enrol/{token}/passkey/finish", post(accounts::enrol_passkey_finish))
        .route("/v1/me", get(api::me))
        .route("/v1/scope", get(api::scope))
        .route("/v1/persons/{id}", get(api::person))
        .route("/v1/lookup", post(api::lookup))
        .route("/v1/alerts", get(api::alerts))
        .route("/healthz", get(|| async { "ok" }))
        // Device Bound Session Credentials
        .route(dbsc::REGISTER_PATH, post(dbsc::register))
        .route(dbsc::REFRESH_PATH, post(dbsc::refresh))
        // Single sign-on
        .route("/auth/oidc/start", get(sso::start))
        .route("/auth/oidc/callback", get(sso::callback))
        .route("/auth/oidc/second-factor", post(pages::second_factor_form))
        // Pages
        .route("/", get(pages::home))
        .route("/login", get(pages::login_page).post(pages::login_form))
        .route("/login/second-factor", get(pages::second_factor_page))
        .route("/logout", post(pages::logout_form))
        .route("/scope", get(pages::scope_page))
        .route("/persons/{id}", get(pages::person_page))
        .route("/sessions", get(pages::sessions_page))
        .route("/sessions/{id}/revoke", post(pages::revoke_form))
        .route("/passkeys/{id}/remove", post(pages::remove_passkey_form))
        .route("/step-up", get(pages::step_up_page).post(pages::step_up_form))
        .route("/accounts", get(pages::accounts_page))
        .route("/accounts/requests", post(pages::request_form))
        .route("/accounts/requests/{id}/approve", post(pages::approve_form))
        .route("/accounts/requests/{id}/reject", post(pages::reject_form))
        .route("/enrol/{token}", get(pages::enrol_page))
        .route("/enrol/{token}/password", post(pages::enrol_password_form))
        .route("/enrol/{token}/confirm", post(pages::enrol_confirm_form))
        .route("/static/vigie.js", get(pages::static_js))
        .route("/static/vigie.css", get(pages::static_css));
    if state.settings.dangerous_unguarded_bench_route {
        app = app.route("/bench/unguarded/persons/{id}", get(api::unguarded_person));
    }
    app.fallback(|| async { problem::Problem::route_not_found() })
        .method_not_allowed_fallback(|| async { problem::Problem::method_not_allowed() })
        .layer(DefaultBodyLimit::max(json::BODY_LIMIT))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        // Pages set their own policy (same-origin script and style); everything else gets none.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        ))
        .with_state(state)
}

/// Serves `router` on an already-bound listener until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
