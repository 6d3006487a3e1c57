//! axum's path, query and form extractors with refusals that tell the client what is wrong:
//! problem+json for the API ([`Path`], [`Query`]), an error page for the pages ([`PagePath`],
//! [`PageQuery`], [`PageForm`]). axum's own answer plain text (a path id that is not UTF-8, a
//! form with no content type), and its query map takes the last of a repeated parameter: a
//! parameter sent twice is refused here, naming it, rather than one of its values silently
//! winning.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::Response;
use serde::de::DeserializeOwned;

use crate::shared::problem::Problem;
use crate::shared::render::{self, PageCtx};
use crate::shared::state::AppState;

/// A route's path parameters; a segment that does not decode (percent-encoded bytes that are
/// not UTF-8) or parse is a 400 problem naming `id`.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(_) => Err(path_problem()),
        }
    }
}

fn path_problem() -> Problem {
    Problem::invalid(
        "id",
        "not a valid path segment: percent-encoded bytes that are not UTF-8, or not the expected form",
    )
}

/// A query string's parameters, each at most once (see the module).
#[derive(Debug, Default)]
pub struct Query(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        query_params(parts.uri.query().unwrap_or("")).map(Query)
    }
}

/// Parses a query string: UTF-8 once decoded, and no parameter twice.
pub fn query_params(raw: &str) -> Result<HashMap<String, String>, Problem> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        // The decoder replaces bytes that are not UTF-8; a URI cannot carry U+FFFD itself.
        if k.contains('\u{FFFD}') || v.contains('\u{FFFD}') {
            return Err(Problem::invalid("query", "percent-encoded bytes that are not UTF-8"));
        }
        let name = k.chars().take(32).collect::<String>();
        if out.insert(k.into_owned(), v.into_owned()).is_some() {
            return Err(Problem::invalid(&name, "repeated query parameter: send it once"));
        }
    }
    Ok(out)
}

/// [`Path`] for a page: the refusal is an error page.
#[derive(Debug)]
pub struct PagePath<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<Arc<AppState>> for PagePath<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Response> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(PagePath(v)),
            Err(_) => Err(page_refusal(parts, state, &path_problem()).await),
        }
    }
}

/// [`Query`] for a page: the refusal is an error page.
#[derive(Debug, Default)]
pub struct PageQuery(pub HashMap<String, String>);

impl FromRequestParts<Arc<AppState>> for PageQuery {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Response> {
        match query_params(parts.uri.query().unwrap_or("")) {
            Ok(q) => Ok(PageQuery(q)),
            Err(p) => Err(page_refusal(parts, state, &p).await),
        }
    }
}

/// A page's form (`application/x-www-form-urlencoded`); an empty, untyped or malformed one is
/// an error page naming the field at fault, never echoing a value.
#[derive(Debug)]
pub struct PageForm<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<Arc<AppState>> for PageForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Ok(ctx) = PageCtx::from_request_parts(&mut parts, state).await;
        match axum::Form::<T>::from_request(Request::from_parts(parts, body), state).await {
            Ok(axum::Form(v)) => Ok(PageForm(v)),
            Err(e) => Err(render::problem_page(&form_problem(&e), &ctx)),
        }
    }
}

fn form_problem(e: &FormRejection) -> Problem {
    match e {
        FormRejection::InvalidFormContentType(_) => Problem::unsupported_form(),
        _ if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            Problem::too_large(crate::shared::body::BODY_LIMIT)
        }
        _ => {
            let text = e.body_text();
            let field = ["missing field `", "unknown field `"].iter().find_map(|p| {
                let start = text.find(p)? + p.len();
                let len = text[start..].find('`')?;
                Some(text[start..start + len].chars().take(32).collect::<String>())
            });
            match field {
                Some(f) if text.contains("missing field") => Problem::invalid(&f, "missing from the form"),
                Some(f) => Problem::invalid(&f, "not a field of this form"),
                None => Problem::invalid("form", "a field is not of the expected form"),
            }
        }
    }
}

async fn page_refusal(parts: &mut Parts, state: &Arc<AppState>, p: &Problem) -> Response {
    let Ok(ctx) = PageCtx::from_request_parts(parts, state).await;
    render::problem_page(p, &ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_or_undecodable_parameter_is_refused_by_name() {
        let q = query_params("fields=contact&x=%C3%A9").unwrap();
        assert_eq!((q["fields"].as_str(), q["x"].as_str()), ("contact", "é"));
        let p = query_params("fields=contact&fields=nir").unwrap_err();
        assert_eq!((p.status, p.invalid_params[0].name.as_str()), (400, "fields"));
        let p = query_params("id=%00%FF7").unwrap_err();
        assert_eq!((p.status, p.invalid_params[0].name.as_str()), (400, "query"));
        assert!(query_params("").unwrap().is_empty());
    }
}
