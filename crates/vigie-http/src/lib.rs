//! Vigie's HTTP API (axum): JSON under `/v1`, problem+json errors (RFC 9457).
//!
//! Only this crate knows axum. Routes: `POST /v1/login`, `POST /v1/logout`, `GET /v1/me`,
//! `GET /v1/scope`, `GET /v1/persons/{id}`, `POST /v1/lookup`, `GET /healthz`. Every route that
//! touches a person's data goes through `vigie_core::guard::Guard`.

pub mod api;
pub mod json;
pub mod problem;
pub mod session;
pub mod state;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;

pub use state::{AppState, HttpSettings};

/// The application's router, with its body limit and security headers.
pub fn router(state: Arc<AppState>) -> Router {
    let mut v1 = Router::new()
        .route("/v1/login", post(session::login))
        .route("/v1/logout", post(session::logout))
        .route("/v1/me", get(api::me))
        .route("/v1/scope", get(api::scope))
        .route("/v1/persons/{id}", get(api::person))
        .route("/v1/lookup", post(api::lookup))
        .route("/healthz", get(|| async { "ok" }));
    if state.settings.dangerous_unguarded_bench_route {
        v1 = v1.route("/bench/unguarded/persons/{id}", get(api::unguarded_person));
    }
    v1.fallback(|| async { problem::Problem::route_not_found() })
        .method_not_allowed_fallback(|| async { problem::Problem::method_not_allowed() })
        .layer(DefaultBodyLimit::max(json::BODY_LIMIT))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::overriding(
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
