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
    /// The `WWW-Authenticate` challenge of a 401 (RFC 6750 §3), if any. An enum, not the
    /// string: every `Result` of the crate carries a `Problem`, so it stays small.
    #[serde(skip)]
    pub www_authenticate: Option<Challenge>,
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
            www_authenticate: None,
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

    /// A page's form posted without its content type.
    pub fn unsupported_form() -> Self {
        Self::new(
            "unsupported-media-type",
            "Unsupported media type",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the form as application/x-www-form-urlencoded",
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
        p.www_authenticate = Some(Challenge::Authenticate);
        p
    }

    /// A bearer token that opens nothing: unknown, forged, revoked, of an ended or expired
    /// session, or malformed. The same answer for each (a forger learns nothing from it), and
    /// refreshing does not help: sign in again.
    pub fn invalid_token() -> Self {
        let mut p = Self::new(
            "invalid-token",
            "Invalid token",
            StatusCode::UNAUTHORIZED,
            "the token is not valid (unknown, revoked or of an ended session): sign in again; refreshing will not help",
        );
        p.www_authenticate = Some(Challenge::InvalidToken);
        p
    }

    /// An access token whose time is over while its session lives: refreshing helps
    /// (`POST /v1/session/refresh` with the refresh token). Told only to a token that was
    /// genuinely issued, which a forger cannot present.
    pub fn token_expired() -> Self {
        let mut p = Self::new(
            "token-expired",
            "Access token expired",
            StatusCode::UNAUTHORIZED,
            "the access token has expired: get a new one with POST /v1/session/refresh and the refresh token",
        );
        p.www_authenticate = Some(Challenge::ExpiredToken);
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

    /// Too many requests from this session or account: nothing was done; `Retry-After` says
    /// when the next is taken.
    pub fn rate_limited(retry_after_ms: i64) -> Self {
        let secs = u64::try_from(retry_after_ms).unwrap_or(0).div_ceil(1000).max(1);
        let mut p = Self::new(
            "rate-limited",
            "Too many requests",
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many requests from this session or account; nothing was done, retry in {secs} s"),
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
        p.www_authenticate = Some(Challenge::StepUp);
        p
    }
    /// The session was ended by this request (presented from another context, step-up failed
    /// or ignored, account disabled). The reason is the caller's own business: it is told.
    pub fn session_ended(reason: &str) -> Self {
        let mut p = Self::new(
            "session-ended",
            "Session ended",
            StatusCode::UNAUTHORIZED,
            format!("{SESSION_ENDED_PREFIX}{reason}); sign in again"),
        );
        p.www_authenticate = Some(Challenge::InvalidToken);
        p
    }
    /// Why a session ended, as [`Problem::session_ended`] wrote it (`suspended`,
    /// `account_suspended`, `step_up_failed`…): a page tells an agent what happened and what
    /// to do next from it (signing in again does not help a suspended account).
    pub fn ended_because(&self) -> Option<&str> {
        if !self.kind.ends_with(":session-ended") {
            return None;
        }
        self.detail.strip_prefix(SESSION_ENDED_PREFIX)?.split_once(')').map(|(reason, _)| reason)
    }
    /// The caller is signed in but may not do this (not an administrator, other organization,
    /// own request…): the reason names the rule.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new("forbidden", "Forbidden", StatusCode::FORBIDDEN, detail)
    }
    /// Categories asked for by name that the caller may never read, whoever the person: each
    /// named, with the policy that forbids it (in `invalid-params`: `name` the field, `reason`
    /// the policy). Says nothing about any person: it depends on the caller alone.
    pub fn never_permitted(reasons: &[vigie_core::event::Reason]) -> Self {
        let mut named: Vec<(String, String)> = Vec::new();
        for r in reasons {
            let field = r.category.as_str().to_owned();
            let why = match &r.policy {
                Some(policy) => format!("forbidden by policy {policy}"),
                None => "no policy permits it to your organization and role".to_owned(),
            };
            if !named.iter().any(|(f, _)| *f == field) {
                named.push((field, why));
            }
        }
        let list = named.iter().map(|(f, why)| format!("{f} ({why})")).collect::<Vec<_>>().join(", ");
        let mut p = Self::new(
            "field-not-permitted",
            "Field never permitted",
            StatusCode::FORBIDDEN,
            format!("you may never read {list}, whatever the person; ask again without it (this refusal was recorded)"),
        );
        p.invalid_params = named.into_iter().map(|(name, reason)| InvalidParam { name, reason }).collect();
        p
    }
    /// A conflict with the current state (login taken, request already decided, link used).
    /// A console form that was used already, expired, or was not issued to this session (a
    /// replay, or a forged post).
    pub fn form_stale() -> Self {
        Self::new(
            "form-stale",
            "Form no longer valid",
            StatusCode::CONFLICT,
            "this form was used already, expired, or was not issued to this session: reload the page",
        )
    }

    /// The console is opened only by a passkey sign-in.
    pub fn passkey_only() -> Self {
        Self::new(
            "passkey-only",
            "Passkey sign-in required",
            StatusCode::FORBIDDEN,
            "the security console is opened only by a session signed in with a passkey",
        )
    }

    /// A capability this node does not have (not a failure: asking again will not help).
    pub fn not_implemented(detail: impl Into<String>) -> Self {
        Self::new("not-implemented", "Not implemented on this node", StatusCode::NOT_IMPLEMENTED, detail)
    }

    /// What was asked for existed and no longer may be had (an extract past its expiry).
    pub fn gone(detail: impl Into<String>) -> Self {
        Self::new("gone", "Gone", StatusCode::GONE, detail)
    }

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
    /// The answer to a request the HTTP layer refused before any handler saw it (hyper's own
    /// 400, 414 and 431, and a body sent too slowly): the status, named.
    pub fn server_refusal(status: StatusCode, max_header_bytes: usize) -> Self {
        match status.as_u16() {
            400 => Self::new(
                "malformed-request",
                "Malformed request",
                status,
                "the request line or a header is not valid HTTP/1.1",
            ),
            408 => Self::request_timeout(),
            414 => Self::new("uri-too-long", "URI too long", status, "the request's URI is too long"),
            431 => Self::new(
                "header-too-large",
                "Request header fields too large",
                status,
                format!("the request's line and headers exceed {max_header_bytes} bytes"),
            ),
            _ => Self::new("refused", "Request refused", status, status.canonical_reason().unwrap_or("refused")),
        }
    }
    /// A body that did not arrive within the body timeout: the connection is closed.
    pub fn request_timeout() -> Self {
        Self::new(
            "request-timeout",
            "Request timeout",
            StatusCode::REQUEST_TIMEOUT,
            "the request's body did not arrive in time; send it again at once",
        )
    }
    /// The server serves as many requests as it may and as many wait: this one is not served.
    pub fn overloaded() -> Self {
        let mut p = Self::new(
            "overloaded",
            "Server overloaded",
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is serving as many requests as it can; nothing was done, send it again after the delay",
        );
        p.retry_after_secs = Some(1);
        p
    }
    /// The server holds as many connections as it may (all clients, or this client's share):
    /// this one is closed at once.
    pub fn too_many_connections() -> Self {
        let mut p = Self::new(
            "too-many-connections",
            "Too many connections",
            StatusCode::SERVICE_UNAVAILABLE,
            "the server holds as many connections as it may; retry shortly, reusing one connection",
        );
        p.retry_after_secs = Some(1);
        p
    }
    pub fn internal() -> Self {
        Self::new("internal", "Internal error", StatusCode::INTERNAL_SERVER_ERROR, "the request failed; it was logged")
    }
}

/// The `WWW-Authenticate` challenges Vigie answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    Authenticate,
    InvalidToken,
    ExpiredToken,
    StepUp,
}

impl Challenge {
    pub fn header(self) -> &'static str {
        match self {
            Challenge::Authenticate => CHALLENGE,
            Challenge::InvalidToken => INVALID_TOKEN,
            Challenge::ExpiredToken => EXPIRED_TOKEN,
            Challenge::StepUp => STEP_UP,
        }
    }
}

/// How a session-ended problem's detail starts, before its reason.
const SESSION_ENDED_PREFIX: &str = "the session has ended (";

/// No credential came: authenticate (RFC 6750 §3.1: no error code).
const CHALLENGE: &str = "Bearer realm=\"vigie\"";
/// A credential that opens nothing (RFC 6750 §3.1 `invalid_token`).
const INVALID_TOKEN: &str =
    "Bearer realm=\"vigie\", error=\"invalid_token\", error_description=\"the token is not valid: sign in again\"";
/// An access token past its time: `invalid_token` too, described so a client knows to refresh.
const EXPIRED_TOKEN: &str =
    "Bearer realm=\"vigie\", error=\"invalid_token\", error_description=\"the access token expired: refresh it\"";
/// A fresh second factor is needed (RFC 9470's error code for step-up authentication).
const STEP_UP: &str = "Bearer realm=\"vigie\", error=\"insufficient_user_authentication\", error_description=\"step up with a second factor\"";

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
        if let Some(challenge) = self.www_authenticate {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge.header()));
        }
        resp
    }
}
