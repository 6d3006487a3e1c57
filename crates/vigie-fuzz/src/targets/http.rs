//! The API's request bodies, query strings and path ids, through the real router: the app is
//! built once per process (a generated registry, the ledger, the policies, a signed-in agency
//! advisor) and each input is one in-memory request (`tower::ServiceExt::oneshot`), so no socket
//! and no server per input. Only the router's public routes are used, not the HTTP crate's
//! modules: the body types and the handlers' parsing into domain types can move freely.
//!
//! Input: `route | flags | bytes`. The route picks one of [`ROUTES`]; the bytes are the body (or
//! the path id, or the query string). Flag bit 0 leaves the content type out; bit 1 sends no
//! credentials. Properties: no answer is a 5xx (bad input is the client's fault, and nothing
//! here makes the ledger or the store fail), and every error of the JSON API (`/v1/`) is
//! problem+json.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, header};
use tower::ServiceExt;
use vigie_core::org::{OrgKind, Role};
use vigie_core::ports::NoDetection;
use vigie_core::signin::totp::code_at;
use vigie_core::time::{Clock, FixedClock, Timestamp};

/// What a route expects: a JSON body, a form, a path id or a query string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Json,
    Form,
    PathId,
    Query,
}

/// The routes that parse client input. Routes that would end the harness's own session
/// (logout, revocations) are left out.
const ROUTES: &[(&str, &str, Shape)] = &[
    ("POST", "/v1/login", Shape::Json),
    ("POST", "/v1/lookup", Shape::Json),
    ("POST", "/v1/step-up", Shape::Json),
    ("POST", "/v1/login/passkey/finish", Shape::Json),
    ("POST", "/v1/step-up/passkey/finish", Shape::Json),
    ("POST", "/v1/passkeys/register/start", Shape::Json),
    ("POST", "/v1/passkeys/register/finish", Shape::Json),
    ("POST", "/v1/account-requests", Shape::Json),
    ("POST", "/v1/enrol/fuzz-token/password", Shape::Json),
    ("POST", "/v1/enrol/fuzz-token/confirm", Shape::Json),
    ("POST", "/v1/enrol/fuzz-token/passkey/finish", Shape::Json),
    ("GET", "/v1/persons/{}", Shape::PathId),
    ("GET", "/v1/scope?{}", Shape::Query),
    ("GET", "/v1/agents/{}/sessions", Shape::PathId),
    ("GET", "/v1/organizations/{}/freeze", Shape::PathId),
    ("POST", "/login", Shape::Form),
    ("POST", "/step-up", Shape::Form),
    ("POST", "/accounts/requests", Shape::Form),
    ("GET", "/persons/{}", Shape::PathId),
];

const ORIGIN: &str = "http://localhost:8080";

/// The route byte that selects `path` (for the seeds).
pub fn route(path: &str) -> u8 {
    ROUTES.iter().position(|(_, p, _)| *p == path).expect("a route of the table") as u8
}

struct Harness {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    access_token: String,
    _app: vigie::app::App,
    _dir: tempfile::TempDir,
}

fn as_of() -> time::Date {
    time::Date::from_calendar_date(2026, time::Month::November, 2).expect("a date")
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let dir = crate::scratch_dir();
        let params = vigie_gen::GenParams { seed: 7, persons: 400, as_of: as_of() };
        vigie::generate::generate(dir.path(), &params, false, false).expect("generate a registry");
        let mut settings = vigie::app::settings(dir.path(), ORIGIN).expect("settings");
        settings.detection = None;
        let noon = Timestamp::from_date(as_of()).plus_millis(12 * 3_600_000);
        let clock = Arc::new(FixedClock::at(noon));
        let app = vigie::app::open_with_detector(dir.path(), None, settings, clock.clone(), Arc::new(NoDetection))
            .expect("open the app");
        let (agent, _, _) = vigie::demo::pick_accounts(&app.store, as_of())
            .expect("accounts")
            .into_iter()
            .find(|(a, o, p)| o.kind == OrgKind::Agency && a.role == Role::Advisor && p.is_some())
            .expect("an agency advisor with a caseload");
        let issued = vigie::credentials::issue(app.store.as_ref(), agent.id).expect("credentials");
        let router = vigie_http::router(app.state.clone());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let login = serde_json::json!({
            "login": agent.login.as_str(),
            "password": issued.password.expose(),
            "totp": code_at(&issued.totp, clock.now().seconds()),
        });
        let (status, body) = runtime.block_on(send(&router, json_post("/v1/login", login.to_string().into_bytes())));
        assert_eq!(status, 200, "the harness signs in: {}", String::from_utf8_lossy(&body));
        let answer: serde_json::Value = serde_json::from_slice(&body).expect("a JSON answer");
        let access_token = answer["access_token"].as_str().expect("an access token").to_owned();
        Harness { runtime, router, access_token, _app: app, _dir: dir }
    })
}

fn json_post(path: &str, body: Vec<u8>) -> Request<Body> {
    with_peer(Request::post(path).header(header::CONTENT_TYPE, "application/json"))
        .body(Body::from(body))
        .expect("a request")
}

fn with_peer(builder: axum::http::request::Builder) -> axum::http::request::Builder {
    builder.extension(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))))
}

/// Routes whose errors are tolerated as plain text (checked for "no 5xx" only). Empty: every
/// route's path ids, queries, bodies and forms are parsed by extractors whose refusals are
/// problem+json (the API) or an error page (the pages); it held `/v1/agents/` and
/// `/v1/organizations/` until their path ids were (docs/fuzzing.md).
const OPEN_PLAIN_TEXT_PATHS: &[&str] = &[];

async fn send(router: &axum::Router, request: Request<Body>) -> (u16, Vec<u8>) {
    let path = request.uri().path().to_owned();
    let api = path.starts_with("/v1/") && !OPEN_PLAIN_TEXT_PATHS.iter().any(|p| path.starts_with(p));
    let response = router.clone().oneshot(request).await.expect("the router is infallible");
    let status = response.status().as_u16();
    let content_type =
        response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.map(|b| b.to_vec()).unwrap_or_default();
    // The JSON API answers every error in problem+json; the pages answer theirs with an error
    // page (or problem+json, for what no page handles: an unknown route, a refused body).
    if api && status >= 400 {
        assert_eq!(content_type, "application/problem+json", "error {status} without problem+json");
    }
    let open = OPEN_PLAIN_TEXT_PATHS.iter().any(|p| path.starts_with(p));
    if !open && status >= 400 {
        assert!(
            content_type == "application/problem+json" || content_type.starts_with("text/html"),
            "error {status} for {path} as {content_type:?}"
        );
    }
    (status, body)
}

pub fn run(data: &[u8]) {
    let (Some(&route), Some(&flags)) = (data.first(), data.get(1)) else {
        return;
    };
    let bytes = &data[2..];
    let h = harness();
    let (method, path, shape) = ROUTES[usize::from(route) % ROUTES.len()];
    let uri = match shape {
        Shape::Json | Shape::Form => path.to_owned(),
        // Percent-encoded, so that any bytes make a valid URI and reach the route's parser.
        Shape::PathId => path.replace("{}", &percent(bytes)),
        Shape::Query => path.replace("{}", &query(bytes)),
    };
    let method = if method == "GET" { Method::GET } else { Method::POST };
    let mut builder = with_peer(Request::builder().method(method).uri(uri)).header(header::ORIGIN, ORIGIN);
    if flags & 1 == 0 {
        let content_type = if shape == Shape::Form { "application/x-www-form-urlencoded" } else { "application/json" };
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    if flags & 2 == 0 {
        builder = builder
            .header(header::AUTHORIZATION, format!("Bearer {}", h.access_token))
            .header(header::COOKIE, format!("__Host-vigie_access={}", h.access_token));
    }
    let body = if matches!(shape, Shape::Json | Shape::Form) { bytes.to_vec() } else { Vec::new() };
    let request = builder.body(Body::from(body)).expect("a request");
    let (status, answer) = h.runtime.block_on(send(&h.router, request));
    assert!(status < 500, "{status} for {path}: {}", String::from_utf8_lossy(&answer));
}

fn percent(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A query string: `&` and `=` kept as separators, everything else percent-encoded.
fn query(bytes: &[u8]) -> String {
    bytes
        .split(|&b| b == b'&')
        .map(|pair| pair.split(|&b| b == b'=').map(percent).collect::<Vec<_>>().join("="))
        .collect::<Vec<_>>()
        .join("&")
}
