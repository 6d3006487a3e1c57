//! RFC 9457 problem details: the one mapping from errors to HTTP responses.
//!
//! Every error the API returns is `application/problem+json` with a stable `type` URN, a title,
//! the status and a detail that names what is wrong (the field, for bad input) without hinting
//! at anything the caller may not know (which of password or code was wrong; whether a person
//! exists).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty", rename = "invalid-params")]
    pub invalid_params: Vec<InvalidParam>,
    /// Adds the accepted access reasons as an extension member, `"reasons": [...]`, for a client
    /// to build its prompt from (on `reason-required`, and on a refused `Vigie-Reason`). A flag,
    /// not the list: every `Result` of the crate carries a `Problem`, so it stays small.
    #[serde(rename = "reasons", skip_serializing_if = "std::ops::Not::not", serialize_with = "access_reasons")]
    pub with_reasons: bool,
    #[serde(skip)]
    pub retry_after_secs: Option<u64>,
    #[serde(skip)]
    pub www_authenticate: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct InvalidParam {
    pub name: String,
    pub reason: String,
}

impl Problem {
    fn new(slug: &str, title: &'static str, status: StatusCode, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("urn:vigie:problem:{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            invalid_params: Vec::new(),
            with_reasons: false,
            retry_after_secs: None,
            www_authenticate: false,
        }
    }

    /// Bad input, naming the field.
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        let mut p =
            Self::new("invalid-request", "Invalid request", StatusCode::BAD_REQUEST, format!("{field}: {reason}"));
        p.invalid_params.push(InvalidParam { name: field.to_owned(), reason });
        p
    }

    /// A body that is not the JSON expected (syntax, unknown or missing field, wrong type).
    pub fn bad_body(detail: impl Into<String>, field: Option<String>) -> Self {
        let detail = detail.into();
        let mut p = Self::new("invalid-body", "Invalid request body", StatusCode::BAD_REQUEST, detail.clone());
        if let Some(name) = field {
            p.invalid_params.push(InvalidParam { name, reason: detail });
        }
        p
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            "payload-too-large",
            "Request body too large",
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body exceeds {limit} bytes"),
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            "unsupported-media-type",
            "Unsupported media type",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the body as application/json",
        )
    }

    /// Wrong login, password or code: deliberately the same for each.
    pub fn bad_credentials() -> Self {
        Self::new("invalid-credentials", "Sign-in failed", StatusCode::UNAUTHORIZED, "invalid login, password or code")
    }

    pub fn unauthenticated() -> Self {
        let mut p = Self::new(
            "unauthenticated",
            "Authentication required",
            StatusCode::UNAUTHORIZED,
            "sign in first: send the session cookie or an Authorization: Bearer token",
        );
        p.www_authenticate = true;
        p
    }

    pub fn throttled(retry_after_ms: i64) -> Self {
        let secs = u64::try_from(retry_after_ms).unwrap_or(0).div_ceil(1000).max(1);
        let mut p = Self::new(
            "too-many-attempts",
            "Too many attempts",
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed sign-ins; retry in {secs} s"),
        );
        p.retry_after_secs = Some(secs);
        p
    }

    /// The same answer for a person who does not exist and one out of reach.
    pub fn not_found() -> Self {
        Self::new("not-found", "Not found", StatusCode::NOT_FOUND, "no person matches, or none you may see")
    }

    /// Something other than a person that does not exist (an incident, a file of it).
    pub fn not_found_detail(detail: impl Into<String>) -> Self {
        Self::new("not-found", "Not found", StatusCode::NOT_FOUND, detail)
    }

    pub fn route_not_found() -> Self {
        Self::new("no-such-route", "No such route", StatusCode::NOT_FOUND, "see the API section of the README")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            "method-not-allowed",
            "Method not allowed",
            StatusCode::METHOD_NOT_ALLOWED,
            "this route does not take this method",
        )
    }

    /// The decision path failed (store, ledger): denied, nothing released.
    pub fn unavailable() -> Self {
        Self::new(
            "unavailable",
            "Service unavailable",
            StatusCode::SERVICE_UNAVAILABLE,
            "the request was denied because a component on the decision path failed; it was logged",
        )
    }

    /// The detector throttles the account: a quota of distinct persons is reached.
    pub fn quota_reached() -> Self {
        let mut p = Self::new(
            "quota-reached",
            "Quota reached",
            StatusCode::TOO_MANY_REQUESTS,
            "you have consulted many different persons recently; nothing more is shown for now (this was recorded)",
        );
        p.retry_after_secs = Some(60);
        p
    }
    /// The detector asks the agent to say why before more is shown (the friction rung): the
    /// request is to be sent again with a `Vigie-Reason` header naming one of the reasons.
    /// The accepted values are also in `reasons`, machine-readable.
    pub fn reason_required() -> Self {
        let mut p = Self::new(
            "reason-required",
            "Reason required",
            StatusCode::PRECONDITION_REQUIRED,
            format!(
                "you are opening many records you do not usually open; send the request again with a Vigie-Reason header naming why: {}",
                reason_list()
            ),
        );
        p.with_reasons = true;
        p
    }

    /// A reason that is not one of the closed list (`got` describes what came, never more than
    /// a short word): names the field and lists the accepted values, also in `reasons`.
    pub fn invalid_reason(field: &str, got: &str) -> Self {
        let mut p = Self::invalid(field, format!("expected one of {}, got {got}", reason_list()));
        p.with_reasons = true;
        p
    }
    /// A fresh second factor is needed before this request (or any more data) is served.
    pub fn step_up_required(detail: impl Into<String>) -> Self {
        let mut p = Self::new("step-up-required", "Step-up required", StatusCode::UNAUTHORIZED, detail);
        p.www_authenticate = true;
        p
    }
    /// The session was ended by this request (presented from another context, step-up failed
    /// or ignored, account disabled). The reason is the caller's own business: it is told.
    pub fn session_ended(reason: &str) -> Self {
        let mut p = Self::new(
            "session-ended",
            "Session ended",
            StatusCode::UNAUTHORIZED,
            format!("the session has ended ({reason}); sign in again"),
        );
        p.www_authenticate = true;
        p
    }
    /// The caller is signed in but may not do this (not an administrator, other organization,
    /// own request…): the reason names the rule.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new("forbidden", "Forbidden", StatusCode::FORBIDDEN, detail)
    }
    /// A conflict with the current state (login taken, request already decided, link used).
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new("conflict", "Conflict", StatusCode::CONFLICT, detail)
    }
    /// Account creation in the organization is frozen (one of its accounts was suspended by the
    /// detector) until a security officer lifts it: 423, the organization is locked.
    pub fn creation_frozen(detail: impl Into<String>) -> Self {
        Self::new("creation-frozen", "Account creation frozen", StatusCode::LOCKED, detail)
    }
    /// The detector holds back an account request or approval for now.
    pub fn creation_throttled() -> Self {
        let mut p = Self::new(
            "quota-reached",
            "Quota reached",
            StatusCode::TOO_MANY_REQUESTS,
            "your account creations (requests and approvals) are unusual for this account; nothing was created for now (this was recorded)",
        );
        p.retry_after_secs = Some(60);
        p
    }
    /// A WebAuthn ceremony failed (bad signature, wrong origin, unknown or reused challenge,
    /// missing user verification). The detail names the check.
    pub fn passkey_refused(detail: impl Into<String>) -> Self {
        Self::new("passkey-refused", "Passkey refused", StatusCode::UNAUTHORIZED, detail)
    }
    /// A cross-site request to a cookie-authenticated route.
    pub fn cross_origin() -> Self {
        Self::new(
            "cross-origin",
            "Cross-origin request refused",
            StatusCode::FORBIDDEN,
            "state-changing requests must come from Vigie's own pages (Origin header)",
        )
    }
    pub fn sso_not_configured() -> Self {
        Self::new(
            "sso-not-configured",
            "Single sign-on not configured",
            StatusCode::NOT_FOUND,
            "no [oidc] section in the configuration",
        )
    }
    pub fn internal() -> Self {
        Self::new("internal", "Internal error", StatusCode::INTERNAL_SERVER_ERROR, "the request failed; it was logged")
    }
}

fn reason_list() -> String {
    vigie_core::ports::AccessReason::ALL.map(|r| r.as_str()).join(", ")
}

fn access_reasons<S: serde::Serializer>(_: &bool, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(vigie_core::ports::AccessReason::ALL.map(|r| r.as_str()))
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut resp = (status, body).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(v) = self.retry_after_secs.and_then(|secs| HeaderValue::from_str(&secs.to_string()).ok()) {
            h.insert(header::RETRY_AFTER, v);
        }
        if self.www_authenticate {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"vigie\""));
        }
        resp
    }
}
