//! Server-rendered pages for partner agents, one module per area: signing in (password and
//! TOTP, passkey, single sign-on), my scope and a person's record, my sessions and passkeys,
//! step-up, account requests and approvals, enrolment. Each handler takes the caller through
//! a gate ([`PageSession`](crate::shared::caller::PageSession)), calls an action or the guard,
//! and renders a template with [`render`](crate::shared::render) (templates in
//! `templates/pages/`, words from [`i18n`](crate::shared::i18n)); forms post to page routes that answer
//! with a redirect or the page again. A refusal is an error page with the menu.
//!
//! Depends on `shared` and `actions`; never on `api`.

pub mod accounts;
pub mod console;
pub mod enrolment;
pub mod records;
pub mod sessions;
pub mod sign_in;
pub mod sso;
pub mod step_up;

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::shared::state::AppState;

/// The pages' routes, with their script and stylesheet.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(sign_in::home))
        .route("/login", get(sign_in::login_page).post(sign_in::login_form))
        .route("/login/second-factor", get(sign_in::second_factor_page))
        .route("/logout", post(sign_in::logout_form))
        .route("/lang/{code}", get(sign_in::switch_language))
        .route("/auth/oidc/start", get(sso::start))
        .route("/auth/oidc/callback", get(sso::callback))
        .route("/auth/oidc/second-factor", post(sign_in::second_factor_form))
        .route("/scope", get(records::scope_page))
        .route("/persons/{id}", get(records::person_page))
        .route("/sessions", get(sessions::sessions_page))
        .route("/sessions/{id}/revoke", post(sessions::revoke_form))
        .route("/passkeys/{id}/remove", get(sessions::remove_passkey_page).post(sessions::remove_passkey_form))
        .route("/step-up", get(step_up::step_up_page).post(step_up::step_up_form))
        .route("/accounts", get(accounts::accounts_page))
        .route("/accounts/requests", post(accounts::request_form))
        .route("/accounts/requests/{id}/approve", post(accounts::approve_form))
        .route("/accounts/requests/{id}/reject", post(accounts::reject_form))
        .route("/enrol/{token}", get(enrolment::enrol_page))
        .route("/enrol/{token}/password", post(enrolment::password_form))
        .route("/enrol/{token}/confirm", post(enrolment::confirm_form))
        .route("/static/vigie.js", get(static_js))
        .route("/static/vigie.css", get(static_css))
        .route("/static/console.js", get(console_js))
        .merge(console::routes())
}

async fn console_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")],
        include_str!("../../static/console.js"),
    )
        .into_response()
}

async fn static_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")],
        include_str!("../../static/vigie.js"),
    )
        .into_response()
}

async fn static_css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")],
        include_str!("../../static/vigie.css"),
    )
        .into_response()
}
