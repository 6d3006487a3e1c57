//! The JSON body extractor: axum's, with every rejection turned into problem+json that names
//! the offending field (unknown, missing or mistyped) instead of plain text.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// Maximum request body accepted anywhere in the API.
pub const BODY_LIMIT: usize = 16 * 1024;

#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(rejection) => Err(problem_for(rejection)),
        }
    }
}

fn problem_for(rejection: JsonRejection) -> Problem {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return Problem::too_large(BODY_LIMIT);
    }
    match rejection {
        JsonRejection::MissingJsonContentType(_) => Problem::unsupported_media_type(),
        JsonRejection::JsonDataError(e) => {
            let detail = serde_detail(&e.body_text());
            let field = backticked(&detail);
            Problem::bad_body(detail, field)
        }
        JsonRejection::JsonSyntaxError(e) => Problem::bad_body(serde_detail(&e.body_text()), None),
        other => {
            if other.body_text().contains("length limit") {
                Problem::too_large(BODY_LIMIT)
            } else {
                Problem::bad_body(other.body_text(), None)
            }
        }
    }
}

/// Keeps serde's own words ("unknown field `x`, expected one of …") and drops axum's prefix.
fn serde_detail(text: &str) -> String {
    let t = text.rsplit_once("target type: ").map_or(text, |(_, rest)| rest);
    let t = t.strip_prefix("Failed to parse the request body as JSON: ").unwrap_or(t);
    t.chars().take(300).collect()
}

/// The first `name` quoted in backticks by serde's message: the field at fault.
fn backticked(detail: &str) -> Option<String> {
    let start = detail.find('`')? + 1;
    let len = detail[start..].find('`')?;
    Some(detail[start..start + len].to_owned()).filter(|f| f.len() <= 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_are_extracted() {
        let d = serde_detail(
            "Failed to deserialize the JSON body into the target type: unknown field `pasword`, expected one of `login`, `password`, `totp` at line 1 column 11",
        );
        assert!(d.starts_with("unknown field `pasword`"));
        assert_eq!(backticked(&d).as_deref(), Some("pasword"));
        assert_eq!(backticked("missing field `totp` at line 1"), Some("totp".into()));
        assert_eq!(backticked("no quotes"), None);
    }
}
