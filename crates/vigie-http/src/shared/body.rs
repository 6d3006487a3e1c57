//! The JSON body extractor: axum's, with every rejection turned into problem+json that names
//! the offending field (unknown, missing or mistyped) instead of plain text.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::shared::problem::Problem;

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
            let (field, detail) = data_error(&e.body_text());
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

/// Turns axum's data error (`…: <path>: <serde message> at line L column C`) into the field at
/// fault and a message that names it but never echoes a value the client sent (a NIR typed as
/// a number must not come back in an error, nor reach a log through one).
fn data_error(text: &str) -> (Option<String>, String) {
    let message = serde_detail(text);
    // serde_path_to_error puts the field path first, `.` for the root.
    let (path, rest) = match message.split_once(": ") {
        Some((p, rest)) if !p.contains(' ') && p != "." => (Some(p.to_owned()), rest.to_owned()),
        Some((".", rest)) => (None, rest.to_owned()),
        _ => (None, message.clone()),
    };
    let rest = rest.rsplit_once(" at line ").map_or(rest.as_str(), |(m, _)| m).to_owned();
    let names_a_field = rest.starts_with("unknown field") || rest.starts_with("missing field");
    let field = path.or_else(|| if names_a_field { backticked(&rest) } else { None });
    let detail = if names_a_field { rest } else { strip_values(&rest) };
    let detail = match &field {
        Some(f) if !detail.contains(f.as_str()) => format!("{f}: {detail}"),
        _ => detail,
    };
    (field, detail)
}

/// Removes the values serde quotes in backticks ("invalid type: integer `282…`, expected …").
fn strip_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for c in message.chars() {
        match c {
            '`' if !inside => {
                inside = true;
                out.push_str("(value)");
            }
            '`' => inside = false,
            _ if inside => {}
            _ => out.push(c),
        }
    }
    out.replace(" (value)", "")
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
    fn values_are_never_echoed() {
        let (field, detail) = data_error(
            "Failed to deserialize the JSON body into the target type: nir: invalid type: integer `282056613642257`, expected a string at line 1 column 22",
        );
        assert_eq!(field.as_deref(), Some("nir"));
        assert!(!detail.contains("282056613642257"), "{detail}");
        assert!(detail.contains("nir") && detail.contains("expected a string"), "{detail}");
        let (field, detail) = data_error(
            "Failed to deserialize the JSON body into the target type: unknown field `pasword`, expected one of `login`, `password`, `totp` at line 1 column 11",
        );
        assert_eq!(field.as_deref(), Some("pasword"));
        assert!(detail.starts_with("unknown field `pasword`"));
        let (field, _) = data_error(
            "Failed to deserialize the JSON body into the target type: missing field `totp` at line 1 column 40",
        );
        assert_eq!(field.as_deref(), Some("totp"));
    }

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
