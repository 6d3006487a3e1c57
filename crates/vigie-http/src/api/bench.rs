//! The bench-only unguarded read (see `HttpSettings::dangerous_unguarded_bench_route`): the
//! store's record with no session, no authorization and no ledger, to measure what the guard
//! costs. Mounted only by `vigie bench`.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use vigie_core::CategorySet;

use crate::api::persons::record_json;
use crate::shared::params::person_id;
use crate::shared::problem::Problem;
use crate::shared::state::AppState;

/// `GET /bench/unguarded/persons/{id}`
pub async fn unguarded_person(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    let Path(id) = path.map_err(|_| Problem::invalid("id", "not a valid path segment"))?;
    let id = person_id(&id)?;
    let st = state.clone();
    let person = tokio::task::spawn_blocking(move || st.registry.person(id))
        .await
        .map_err(|_| Problem::internal())?
        .map_err(|_| Problem::unavailable())?
        .ok_or_else(Problem::not_found)?;
    Ok(axum::Json(record_json(&person.filter(CategorySet::ALL))).into_response())
}
