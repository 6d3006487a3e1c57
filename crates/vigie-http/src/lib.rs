//! Vigie's HTTP side (axum): the JSON API under `/v1`, the partner pages at `/`, single
//! sign-on under `/auth/oidc`, device binding under `/dbsc`.
//!
//! Only this crate knows axum and webauthn-rs. Four layers, each depending only on the ones
//! before it (see ARCHITECTURE.md beside this crate's manifest):
//!
//! * [`shared`]: what every handler uses (state, the refusal type, extractors of the caller
//!   behind gates, authentication, rendering a page);
//! * [`actions`]: what the API and the pages both do (sign-in, step-up, passkeys, the account
//!   lifecycle, enrolment, single sign-on, carrying out the guard's verdicts);
//! * [`api`] and [`pages`]: the handlers, one module per resource or area; neither knows the
//!   other.
//!
//! Every route that touches a person's data goes through `vigie_core::guard::Guard`.

pub mod actions;
pub mod api;
pub mod pages;
pub mod server;
pub mod shared;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;

pub use shared::state::{AppState, HttpSettings};

use crate::shared::problem::Problem;

/// The application's router, with its body limit and security headers.
pub fn router(state: Arc<AppState>) -> Router {
    api::routes(&state)
        .merge(pages::routes())
        .fallback(|| async { Problem::route_not_found() })
        .method_not_allowed_fallback(|| async { Problem::method_not_allowed() })
        // Several nodes: each request to the node that judges its session's agent.
        .layer(axum::middleware::from_fn_with_state(state.clone(), shared::cluster::route))
        .layer(DefaultBodyLimit::max(shared::body::BODY_LIMIT))
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

pub use server::serve;
