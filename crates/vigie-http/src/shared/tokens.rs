//! The secrets a session hands out and how a request presents them.
//!
//! A session has two tokens (see `vigie_core::signin::session`): a refresh token for the
//! working day and an access token for five minutes. Browsers get them as two `__Host-`
//! cookies (HttpOnly, Secure, SameSite=Strict) and are refreshed transparently; API clients
//! get them in the sign-in response, send the access token as `Authorization: Bearer`, and
//! call `POST /v1/session/refresh` with the refresh token.

use axum::http::{HeaderMap, HeaderValue, header};
use rand::RngCore;
use vigie_core::ids::SessionId;
use vigie_core::signin::SessionToken;
use vigie_core::time::Timestamp;

use crate::shared::state::{ACCESS_COOKIE, AppState, REFRESH_COOKIE};

/// A fresh token from the operating system's generator.
pub fn random_token() -> SessionToken {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    SessionToken::from_random(raw)
}

/// The tokens of a freshly opened (or refreshed) session.
pub struct Tokens {
    pub session: SessionId,
    pub access: SessionToken,
    pub access_expires_at: Timestamp,
    /// `None` on a refresh: the refresh token does not change.
    pub refresh: Option<SessionToken>,
    pub session_expires_at: Timestamp,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens").field("session", &self.session).finish_non_exhaustive()
    }
}

/// `Set-Cookie` values for the tokens.
pub fn cookies(state: &AppState, tokens: &Tokens) -> Vec<HeaderValue> {
    let now = state.clock.now();
    let secs = |t: Timestamp| (t.millis() - now.millis()).max(0) / 1000;
    let mut out = Vec::with_capacity(2);
    let mut push = |name: &str, value: &str, max_age: i64| {
        let c = format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict");
        if let Ok(v) = HeaderValue::from_str(&c) {
            out.push(v);
        }
    };
    push(ACCESS_COOKIE, tokens.access.expose(), secs(tokens.access_expires_at));
    if let Some(r) = &tokens.refresh {
        push(REFRESH_COOKIE, r.expose(), secs(tokens.session_expires_at));
    }
    out
}

/// `Set-Cookie` values that clear both cookies.
pub fn clear_cookies() -> Vec<HeaderValue> {
    [ACCESS_COOKIE, REFRESH_COOKIE]
        .iter()
        .filter_map(|n| {
            HeaderValue::from_str(&format!("{n}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict")).ok()
        })
        .collect()
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The tokens a request presents: a bearer access token, or the two cookies.
#[derive(Default, Debug, Clone)]
pub struct Presented {
    pub access: Option<SessionToken>,
    pub refresh: Option<SessionToken>,
    /// Came as cookies (a browser): may be refreshed transparently, and state-changing
    /// requests must come from our own origin.
    pub cookies: bool,
    /// The request proved possession of the session's device key (DBSC refresh): only then may
    /// a device-bound session's access token be renewed from the refresh cookie.
    pub device_proven: bool,
    /// A bearer credential was sent (well-formed or not): a refusal then says `invalid_token`
    /// (RFC 6750), where a request with none is only asked to authenticate.
    pub bearer: bool,
}

/// The credential of an `Authorization: Bearer …` header, the scheme name matched without
/// regard to case (RFC 7235 §2.1): `None` without the header or with another scheme;
/// `Some(None)` for a bearer credential that is not a well-formed token.
pub fn bearer(headers: &HeaderMap) -> Option<Option<SessionToken>> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = auth.trim_start().split_once(' ').unwrap_or((auth, ""));
    scheme.eq_ignore_ascii_case("bearer").then(|| SessionToken::parse(credential.trim()))
}

impl Presented {
    pub fn from_headers(headers: &HeaderMap) -> Presented {
        if headers.contains_key(header::AUTHORIZATION) {
            let offered = bearer(headers);
            return Presented {
                access: offered.clone().flatten(),
                refresh: None,
                cookies: false,
                device_proven: false,
                bearer: offered.is_some(),
            };
        }
        Presented {
            access: cookie(headers, ACCESS_COOKIE).and_then(SessionToken::parse),
            refresh: cookie(headers, REFRESH_COOKIE).and_then(SessionToken::parse),
            cookies: true,
            device_proven: false,
            bearer: false,
        }
    }

    /// Whether any token came at all (a browser that was signed in, or a client that tried).
    pub fn any(&self) -> bool {
        self.access.is_some() || self.refresh.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_wins_over_cookies_and_malformed_tokens_are_absent() {
        let mut h = HeaderMap::new();
        let tok = "A".repeat(43);
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{ACCESS_COOKIE}={tok}; {REFRESH_COOKIE}={tok}")).unwrap(),
        );
        let p = Presented::from_headers(&h);
        assert!(p.cookies && p.access.is_some() && p.refresh.is_some());
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer nope"));
        let p = Presented::from_headers(&h);
        assert!(!p.cookies && p.access.is_none() && p.refresh.is_none() && p.bearer);
    }

    #[test]
    fn the_bearer_scheme_name_is_case_insensitive() {
        let tok = "A".repeat(43);
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("{scheme} {tok}")).unwrap());
            let p = Presented::from_headers(&h);
            assert!(p.bearer && p.access.is_some(), "{scheme}");
        }
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Basic {tok}")).unwrap());
        let p = Presented::from_headers(&h);
        assert!(!p.bearer && p.access.is_none() && !p.cookies);
    }
}
