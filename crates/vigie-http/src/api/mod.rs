//! The JSON API under `/v1`, one module per resource. Handlers parse their input into core
//! types, take the caller through a gate ([`ApiSession`](crate::shared::caller::ApiSession)),
//! call an action or the guard, and answer JSON; every refusal is problem+json.
//!
//! Depends on `shared` and `actions`; never on `pages`.

pub mod account_requests;
pub mod agents;
pub mod alerts;
pub mod bench;
pub mod dbsc;
pub mod detection;
pub mod enrolment;
pub mod extracts;
pub mod incidents;
pub mod me;
pub mod organizations;
pub mod passkeys;
pub mod persons;
pub mod sessions;
pub mod sign_in;
pub mod step_up;

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get, post};

use crate::actions::dbsc::{REFRESH_PATH, REGISTER_PATH};
use crate::shared::state::AppState;

/// The API's routes.
pub fn routes(state: &AppState) -> Router<Arc<AppState>> {
    let mut api = Router::new()
        .route("/v1/login", post(sign_in::login))
        .route("/v1/login/passkey/start", post(sign_in::passkey_start))
        .route("/v1/login/passkey/finish", post(sign_in::passkey_finish))
        .route("/v1/logout", post(sign_in::logout))
        .route("/v1/session/refresh", post(sign_in::refresh))
        .route("/v1/sessions", get(sessions::list))
        .route("/v1/sessions/{id}", delete(sessions::revoke))
        .route("/v1/step-up", post(step_up::totp))
        .route("/v1/step-up/passkey/start", post(step_up::passkey_start))
        .route("/v1/step-up/passkey/finish", post(step_up::passkey_finish))
        .route("/v1/passkeys", get(passkeys::list))
        .route("/v1/passkeys/register/start", post(passkeys::register_start))
        .route("/v1/passkeys/register/finish", post(passkeys::register_finish))
        .route("/v1/passkeys/{id}", delete(passkeys::remove))
        .route("/v1/account-requests", get(account_requests::list).post(account_requests::create))
        .route("/v1/account-requests/{id}/approve", post(account_requests::approve))
        .route("/v1/account-requests/{id}/reject", post(account_requests::reject))
        .route("/v1/agents/{id}/disable", post(agents::disable))
        .route("/v1/agents/{id}/lift-throttle", post(detection::lift_throttle))
        .route("/v1/campaigns", get(detection::list).post(detection::declare))
        .route("/v1/relationships", post(detection::create_relationship))
        .route("/v1/service-accounts", post(detection::register_service))
        .route("/v1/token", post(detection::token))
        .route("/v1/agents/{id}/sessions", get(agents::sessions).delete(agents::end_sessions))
        .route("/v1/organizations/{id}/freeze", get(organizations::freeze))
        .route("/v1/organizations/{id}/unfreeze", post(organizations::unfreeze))
        .route("/v1/enrol/{token}", get(enrolment::info))
        .route("/v1/enrol/{token}/password", post(enrolment::password))
        .route("/v1/enrol/{token}/confirm", post(enrolment::confirm))
        .route("/v1/enrol/{token}/passkey/start", post(enrolment::passkey_start))
        .route("/v1/enrol/{token}/passkey/finish", post(enrolment::passkey_finish))
        .route("/v1/me", get(me::me))
        .route("/v1/scope", get(persons::scope))
        .route("/v1/persons/{id}", get(persons::person))
        .route("/v1/lookup", post(persons::lookup))
        .route("/v1/alerts", get(alerts::list))
        .route("/v1/incidents", get(incidents::list).post(incidents::open))
        .route("/v1/incidents/{id}", get(incidents::show))
        .route("/v1/incidents/{id}/scope", post(incidents::scope))
        .route("/v1/incidents/{id}/proposals", get(incidents::proposals))
        .route("/v1/incidents/{id}/decisions", post(incidents::decide))
        .route("/v1/incidents/{id}/notify", post(incidents::notify))
        .route("/v1/incidents/{id}/resume", post(incidents::resume))
        .route("/v1/incidents/{id}/notices", get(incidents::notices))
        .route("/v1/incidents/{id}/notices/{person}", get(incidents::notice))
        .route("/v1/incidents/{id}/close", post(incidents::close))
        .route("/v1/incidents/{id}/files/{name}", get(incidents::file))
        .route("/v1/extracts", get(extracts::list).post(extracts::request))
        .route("/v1/extracts/overdue", get(extracts::overdue))
        .route("/v1/extracts/attribute", post(extracts::attribute))
        .route("/v1/extracts/{id}", get(extracts::show))
        .route("/v1/extracts/{id}/approve", post(extracts::approve))
        .route("/v1/extracts/{id}/refuse", post(extracts::refuse))
        .route("/v1/extracts/{id}/produce", post(extracts::produce))
        .route("/v1/extracts/{id}/receipt", post(extracts::receipt))
        .route("/v1/extracts/{id}/open", post(extracts::open))
        .route("/v1/extracts/{id}/files/{name}", get(extracts::file))
        .route("/healthz", get(|| async { "ok" }))
        // Device Bound Session Credentials
        .route(REGISTER_PATH, post(dbsc::register))
        .route(REFRESH_PATH, post(dbsc::refresh));
    if state.settings.dangerous_unguarded_bench_route {
        api = api.route("/bench/unguarded/persons/{id}", get(bench::unguarded_person));
    }
    api
}
