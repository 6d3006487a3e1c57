//! Sessions over HTTP: opening one (after a password + TOTP, a passkey, or single sign-on),
//! turning presented tokens into the `Caller` the guard needs, refreshing the short access
//! token, ending sessions and saying why.
//!
//! A session hands out two secrets (see `vigie_core::signin::session`): a refresh token for
//! the working day and an access token for five minutes. Browsers get them as two `__Host-`
//! cookies (HttpOnly, Secure, SameSite=Strict) and are refreshed transparently; API clients
//! get them in the sign-in response, send the access token as `Authorization: Bearer`, and
//! call `POST /v1/session/refresh` with the refresh token. Every presentation of either token
//! is checked against the client context seen at sign-in: from elsewhere, the session ends
//! and a security event is ledgered.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use vigie_core::guard::Caller;
use vigie_core::ids::{Login, SessionId};
use vigie_core::org::{Agent, Organization};
use vigie_core::ports::{NewSession, SessionRecord, SignInContext};
use vigie_core::security::{SecurityEvent, SecurityKind};
use vigie_core::signin::{
    self, Check, ClientContext, EndReason, PasswordHash, Secret, SessionToken, ThrottleKey, TotpCode,
};
use vigie_core::time::Timestamp;

use crate::json::Body;
use crate::problem::Problem;
use crate::state::{ACCESS_COOKIE, AppState, REFRESH_COOKIE};

/// Where a request comes from: the client address (through trusted proxies only), its
/// binding context, and its user agent (truncated).
#[derive(Clone, Debug)]
pub struct Client {
    pub ip: IpAddr,
    pub context: ClientContext,
    pub user_agent: String,
}

impl Client {
    pub fn describe(&self) -> String {
        format!("{} {}", self.context.network, self.context.ua_family.as_str())
    }
}

impl FromRequestParts<Arc<AppState>> for Client {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Problem> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()).ok_or_else(Problem::internal)?;
        let ip = client_ip(&parts.headers, peer, &state.settings.trusted_proxies);
        let user_agent: String = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(200)
            .collect();
        Ok(Client { ip, context: ClientContext::new(ip, &user_agent), user_agent })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    login: String,
    password: String,
    totp: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest").field("login", &self.login).finish_non_exhaustive()
    }
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

#[derive(Serialize)]
pub struct SessionResponse {
    access_token: String,
    access_expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    session_expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<AgentView>,
}

impl std::fmt::Debug for SessionResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionResponse").field("agent", &self.agent).finish_non_exhaustive()
    }
}

#[derive(Serialize, Debug)]
pub struct AgentView {
    pub id: String,
    pub login: String,
    pub display_name: String,
    pub role: &'static str,
    pub organization: OrgView,
}

#[derive(Serialize, Debug)]
pub struct OrgView {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
}

pub fn agent_view(agent: &Agent, org: &Organization) -> AgentView {
    AgentView {
        id: agent.id.to_string(),
        login: agent.login.to_string(),
        display_name: agent.display_name.clone(),
        role: agent.role.as_str(),
        organization: OrgView { id: org.id.to_string(), name: org.name.clone(), kind: org.kind.as_str() },
    }
}

fn random_token() -> SessionToken {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    SessionToken::from_random(raw)
}

/// How a session was opened, for the ledger and the sessions page.
#[derive(Clone, Debug)]
pub struct Opening {
    pub method: &'static str,
    pub mfa: bool,
    pub credential: Option<Vec<u8>>,
}

/// Opens a session for an agent who proved who they are, ledgering the sign-in (and the
/// sessions it pushed over the concurrent limit) before handing out any token. Blocking.
pub fn open_session(
    state: &AppState,
    agent: &Agent,
    org: &Organization,
    opening: Opening,
    client: &Client,
) -> Result<Tokens, Problem> {
    let now = state.clock.now();
    let policy = &state.settings.policy;
    let access = random_token();
    let refresh = random_token();
    let origin = state.accounts.account_origin(agent.id).map_err(|_| Problem::unavailable())?;
    let probation_until = origin.probation_until.filter(|until| now < *until);
    // What the detector will know of this session; the store adds the account's previous
    // sign-in, its other live sessions and its last credential change.
    let sign_in = SignInContext {
        network: SignInContext::network_key(&client.context.network),
        ua_family: Some(client.context.ua_family),
        account_created_at: origin.created_at,
        created_by: origin.created_by,
        approved_by: origin.approved_by,
        ..SignInContext::default()
    };
    let session = NewSession {
        agent: agent.id,
        refresh_hash: refresh.hash(),
        access_hash: access.hash(),
        access_expires_at: now.plus_millis(policy.access_ttl_ms),
        created_at: now,
        expires_at: now.plus_millis(policy.session_ttl_ms),
        method: opening.method.to_owned(),
        mfa: opening.mfa,
        credential: opening.credential.clone(),
        source: client.ip.to_string(),
        context: client.context.clone(),
        user_agent: client.user_agent.clone(),
        probation_until,
        sign_in,
    };
    let (id, evicted) = state.accounts.create_session(&session, policy.max_concurrent).map_err(|e| {
        tracing::error!(error = %e, "opening a session");
        Problem::unavailable()
    })?;
    let mut events = vec![
        SecurityEvent::new(now, SecurityKind::SignIn)
            .by(agent.id, org.id)
            .session(id)
            .context(client.describe())
            .detail("method", opening.method),
    ];
    for old in evicted {
        events.push(
            SecurityEvent::new(now, SecurityKind::SessionEnded)
                .by(agent.id, org.id)
                .session(old)
                .context(client.describe())
                .detail("reason", EndReason::ConcurrentLimit.as_str())
                .detail("by_session", id.0),
        );
    }
    if let Err(p) = state.record(&events) {
        // No sign-in without its record: take the session back.
        let _ = state.accounts.end_session(id);
        return Err(p);
    }
    // A sign-in in which Vigie itself verified a second factor counts as a recent factor for
    // account actions for the elevation window ([`Authed::recent_factor`]), but does not elevate
    // the session: a step-up the detector asks for because of what the session does must be
    // met by a proof given after (a cookie stolen right after sign-in must not inherit it).
    Ok(Tokens {
        session: id,
        access,
        access_expires_at: session.access_expires_at,
        refresh: Some(refresh),
        session_expires_at: session.expires_at,
    })
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

/// The JSON answer to a sign-in or refresh, with the cookies for browsers.
pub fn session_response(state: &AppState, tokens: &Tokens, who: Option<(&Agent, &Organization)>) -> Response {
    let body = SessionResponse {
        access_token: tokens.access.expose().to_owned(),
        access_expires_at: tokens.access_expires_at.to_string(),
        refresh_token: tokens.refresh.as_ref().map(|t| t.expose().to_owned()),
        session_expires_at: tokens.session_expires_at.to_string(),
        agent: who.map(|(a, o)| agent_view(a, o)),
    };
    let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
    if tokens.refresh.is_some() {
        crate::dbsc::offer(state, &mut resp);
    }
    for c in cookies(state, tokens) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

enum LoginFailure {
    BadCredentials,
    /// Password and code were right, but this role signs in with a passkey.
    PasskeyRequired,
    Store,
}

/// `POST /v1/login`: password and TOTP code in one step (both are checked before anything is
/// said, and a failure does not say which was wrong).
pub async fn login(
    State(state): State<Arc<AppState>>,
    client: Client,
    Body(req): Body<LoginRequest>,
) -> Result<Response, Problem> {
    let login: Login =
        req.login.parse().map_err(|e: vigie_core::ids::IdError| Problem::invalid("login", e.to_string()))?;
    let code: TotpCode =
        req.totp.parse().map_err(|e: signin::totp::TotpCodeError| Problem::invalid("totp", e.to_string()))?;
    if req.password.is_empty() || req.password.len() > 256 {
        return Err(Problem::invalid("password", "between 1 and 256 bytes"));
    }
    let password = Secret::new(req.password);
    let (agent, org) = password_sign_in(&state, &client, login, password, code).await?;
    let st = state.clone();
    let tokens = tokio::task::spawn_blocking(move || {
        open_session(&st, &agent, &org, Opening { method: "password_totp", mfa: true, credential: None }, &client)
            .map(|t| (t, agent, org))
    })
    .await
    .map_err(|_| Problem::internal())??;
    Ok(session_response(&state, &tokens.0, Some((&tokens.1, &tokens.2))))
}

/// Checks a password and TOTP code under the throttle: the attempt is counted before any
/// hashing, unknown logins are hashed against a dummy, at most one hash per core runs.
pub async fn password_sign_in(
    state: &Arc<AppState>,
    client: &Client,
    login: Login,
    password: Secret,
    code: TotpCode,
) -> Result<(Agent, Organization), Problem> {
    let now = state.clock.now();
    let account_key = ThrottleKey::Account(login.to_string());
    let network_key = ThrottleKey::network(client.ip);
    {
        let mut throttle = state.throttle.lock().map_err(|_| Problem::internal())?;
        throttle.begin_attempt(&account_key, now).map_err(|ms| throttled(&login, client.ip, ms))?;
        if let Err(ms) = throttle.begin_attempt(&network_key, now) {
            throttle.refund(&account_key);
            return Err(throttled(&login, client.ip, ms));
        }
    }
    let permit = state.hashing.clone().acquire_owned().await.map_err(|_| Problem::internal())?;
    let st = state.clone();
    let login_for_check = login.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let result = check_password(&st, &login_for_check, &password, code);
        drop(permit);
        result
    })
    .await
    .map_err(|_| Problem::internal())?;

    let mut throttle = state.throttle.lock().map_err(|_| Problem::internal())?;
    match outcome {
        Ok(who) => {
            throttle.record_success(&account_key);
            throttle.refund(&network_key);
            Ok(who)
        }
        Err(LoginFailure::PasskeyRequired) => {
            throttle.record_success(&account_key);
            throttle.refund(&network_key);
            Err(Problem::forbidden("this role signs in with a passkey only"))
        }
        Err(LoginFailure::BadCredentials) => {
            drop(throttle);
            tracing::warn!(login = %login, source = %client.ip, "sign-in failed");
            let failed = SecurityEvent::new(now, SecurityKind::SignInFailed)
                .context(client.describe())
                .detail("login", login.as_str())
                .detail("method", "password_totp");
            let _ = state.record(&[failed]);
            Err(Problem::bad_credentials())
        }
        Err(LoginFailure::Store) => {
            throttle.refund(&account_key);
            throttle.refund(&network_key);
            tracing::error!(login = %login, "sign-in failed: store unavailable");
            Err(Problem::unavailable())
        }
    }
}

fn throttled(login: &Login, ip: IpAddr, retry_after_ms: i64) -> Problem {
    tracing::warn!(login = %login, source = %ip, retry_after_ms, "sign-in throttled");
    Problem::throttled(retry_after_ms)
}

/// Verifies password and code. Runs on the blocking pool.
fn check_password(
    state: &AppState,
    login: &Login,
    password: &Secret,
    code: TotpCode,
) -> Result<(Agent, Organization), LoginFailure> {
    let agent = state.accounts.agent_by_login(login).map_err(|_| LoginFailure::Store)?;
    let credentials = match &agent {
        Some(a) => state.accounts.credentials(a.id).map_err(|_| LoginFailure::Store)?,
        None => None,
    };
    // Always hash, so an unknown login or an account without credentials takes the same time.
    let dummy = PasswordHash(signin::password::DUMMY_HASH.to_owned());
    let password_ok = signin::verify_password(credentials.as_ref().map_or(&dummy, |c| &c.password), password);
    let (Some(agent), Some(credentials)) = (agent, credentials) else {
        return Err(LoginFailure::BadCredentials);
    };
    let step = signin::totp::verify(&credentials.totp, code, state.clock.now().seconds(), None);
    if !password_ok {
        return Err(LoginFailure::BadCredentials);
    }
    let Some(step) = step else {
        return Err(LoginFailure::BadCredentials);
    };
    // The code is spent even if the account turns out inactive below: a code is used once.
    if !state.accounts.consume_totp_step(agent.id, step).map_err(|_| LoginFailure::Store)? {
        return Err(LoginFailure::BadCredentials);
    }
    let org =
        state.registry.organization(agent.org).map_err(|_| LoginFailure::Store)?.ok_or(LoginFailure::BadCredentials)?;
    if !agent.active || !org.active {
        return Err(LoginFailure::BadCredentials);
    }
    if vigie_core::lifecycle::passkey_required(agent.role) {
        return Err(LoginFailure::PasskeyRequired);
    }
    Ok((agent, org))
}

/// Verifies a TOTP code for a signed-in agent (step-up, second factor after single sign-on),
/// consuming it. Blocking.
pub fn check_totp(state: &AppState, agent: &Agent, code: TotpCode) -> Result<bool, Problem> {
    let Some(credentials) = state.accounts.credentials(agent.id).map_err(|_| Problem::unavailable())? else {
        return Ok(false);
    };
    let Some(step) = signin::totp::verify(&credentials.totp, code, state.clock.now().seconds(), None) else {
        return Ok(false);
    };
    state.accounts.consume_totp_step(agent.id, step).map_err(|_| Problem::unavailable())
}

/// The client's address: the TCP peer, unless the peer is a trusted proxy, in which case the
/// rightmost `X-Forwarded-For` address that is not itself a trusted proxy (the leftmost ones
/// are the client's to forge).
pub fn client_ip(headers: &HeaderMap, peer: IpAddr, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
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
#[derive(Default, Debug)]
pub struct Presented {
    pub access: Option<SessionToken>,
    pub refresh: Option<SessionToken>,
    /// Came as cookies (a browser): may be refreshed transparently, and state-changing
    /// requests must come from our own origin.
    pub cookies: bool,
    /// The request proved possession of the session's device key (DBSC refresh): only then may
    /// a device-bound session's access token be renewed from the refresh cookie.
    pub device_proven: bool,
}

impl Presented {
    pub fn from_headers(headers: &HeaderMap) -> Presented {
        if let Some(auth) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
            return Presented {
                access: auth.strip_prefix("Bearer ").and_then(|t| SessionToken::parse(t.trim())),
                refresh: None,
                cookies: false,
                device_proven: false,
            };
        }
        Presented {
            access: cookie(headers, ACCESS_COOKIE).and_then(SessionToken::parse),
            refresh: cookie(headers, REFRESH_COOKIE).and_then(SessionToken::parse),
            cookies: true,
            device_proven: false,
        }
    }
}

/// An authenticated request: the caller, its session, and a new access cookie if the
/// request was refreshed on the way.
#[derive(Debug)]
pub struct Authed {
    pub caller: Caller,
    pub session: SessionRecord,
    pub step_up_pending: bool,
    pub refreshed: Option<Tokens>,
    /// Signed in with a second factor Vigie verified (not a provider's word alone) within the
    /// elevation window.
    pub fresh_sign_in: bool,
}

impl Authed {
    /// A second factor proven in the elevation window, by a step-up or at sign-in: what
    /// account actions and passkey changes ask for. Reads ask more: a step-up the detector
    /// demanded is met only by `caller.elevated` (a step-up).
    pub fn recent_factor(&self) -> bool {
        self.caller.elevated || self.fresh_sign_in
    }
}

/// Ends a session and ledgers why, with the context it was bound to and the one seen.
pub fn end_session(
    state: &AppState,
    s: &SessionRecord,
    reason: EndReason,
    seen: Option<&Client>,
) -> Result<(), Problem> {
    let now = state.clock.now();
    let ended = state.accounts.end_session(s.id).map_err(|_| Problem::unavailable())?;
    if !ended {
        return Ok(());
    }
    let mut e = SecurityEvent::new(now, SecurityKind::SessionEnded)
        .session(s.id)
        .subject(s.agent)
        .detail("reason", reason.as_str())
        .detail("bound_to", format!("{} {}", s.context.network, s.context.ua_family.as_str()));
    if let Some(c) = seen {
        e = e.context(c.describe());
    }
    if reason == EndReason::ContextChanged {
        tracing::warn!(session = s.id.0, agent = %s.agent, bound = %s.context.network, seen = ?seen.map(Client::describe), "session token presented from another context: session ended");
    }
    state.record(&[e])
}

/// Resolves the presented tokens to a caller. Blocking (store reads): call from the blocking
/// pool. Any check that fails ends the session where the failure says the token is stolen or
/// stale, and answers 401.
pub fn authenticate(state: &AppState, presented: &Presented, client: &Client) -> Result<Authed, Problem> {
    let now = state.clock.now();
    let policy = &state.settings.policy;
    let mut record = None;
    let mut account = None;
    if let Some(access) = &presented.access
        && let Some(found) =
            state.accounts.session_by_access(&access.hash(), now).map_err(|_| Problem::unavailable())?
    {
        record = Some(found.session);
        account = Some((found.agent, found.org));
    }
    let mut refreshed = None;
    if record.is_none() && presented.cookies {
        // A browser whose access cookie has expired: refresh it from the session cookie.
        if let Some(refresh) = &presented.refresh {
            record = state.accounts.session_by_refresh(&refresh.hash()).map_err(|_| Problem::unavailable())?;
            if let Some(s) = &record {
                if s.device_key.is_some() && !presented.device_proven {
                    // A device-bound session renews its access cookie only with a proof of the
                    // device key (the browser does it at /dbsc/refresh): a copied refresh
                    // cookie alone renews nothing.
                    return Err(Problem::unauthenticated());
                }
                refreshed = Some(());
            }
        }
    }
    let Some(session) = record else {
        return Err(Problem::unauthenticated());
    };
    let (elevated, step_up_pending, touch) =
        match signin::session::check(policy, &session.state(), &client.context, now) {
            Check::End(reason) => {
                end_session(state, &session, reason, Some(client))?;
                return Err(Problem::session_ended(reason.as_str()));
            }
            Check::Live { elevated, step_up_pending, touch } => (elevated, step_up_pending, touch),
        };
    // Read with the session by access token; by refresh token (rare), read now.
    let (agent, org) = match account {
        Some(read) => read,
        None => {
            let agent = state.registry.agent(session.agent).map_err(|_| Problem::unavailable())?;
            let org = match &agent {
                Some(a) => state.registry.organization(a.org).map_err(|_| Problem::unavailable())?,
                None => None,
            };
            (agent, org)
        }
    };
    let (Some(agent), Some(org)) = (agent, org) else {
        end_session(state, &session, EndReason::AccountDisabled, Some(client))?;
        return Err(Problem::session_ended(EndReason::AccountDisabled.as_str()));
    };
    if !agent.active || !org.active {
        end_session(state, &session, EndReason::AccountDisabled, Some(client))?;
        return Err(Problem::session_ended(EndReason::AccountDisabled.as_str()));
    }
    if touch || refreshed.is_some() {
        state.accounts.touch_session(session.id, now).map_err(|_| Problem::unavailable())?;
    }
    let refreshed = match refreshed {
        Some(()) => Some(rotate_access(state, &session)?),
        None => None,
    };
    let probation = session.probation_until.is_some_and(|until| now < until);
    let caller = Caller {
        agent,
        org,
        session: session.id,
        mfa: session.mfa,
        elevated,
        probation,
        reason: None,
        sign_in: session.sign_in,
    };
    let fresh_sign_in = session.method != "oidc" && now < session.created_at.plus_millis(policy.elevation_ms);
    Ok(Authed { caller, session, step_up_pending, refreshed, fresh_sign_in })
}

/// Issues a new access token for a live session.
pub fn rotate_access(state: &AppState, session: &SessionRecord) -> Result<Tokens, Problem> {
    let now = state.clock.now();
    let access = random_token();
    let expires = now.plus_millis(state.settings.policy.access_ttl_ms).min(session.expires_at);
    if !state.accounts.rotate_access(session.id, &access.hash(), expires).map_err(|_| Problem::unavailable())? {
        return Err(Problem::unauthenticated());
    }
    Ok(Tokens {
        session: session.id,
        access,
        access_expires_at: expires,
        refresh: None,
        session_expires_at: session.expires_at,
    })
}

/// `POST /v1/session/refresh`: a new access token from the refresh token (`Authorization:
/// Bearer <refresh token>`, or the session cookie). From another context, the session ends.
pub async fn refresh(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let token = match headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        Some(auth) => auth.strip_prefix("Bearer ").and_then(|t| SessionToken::parse(t.trim())),
        None => cookie(&headers, REFRESH_COOKIE).and_then(SessionToken::parse),
    }
    .ok_or_else(Problem::unauthenticated)?;
    let st = state.clone();
    let tokens = tokio::task::spawn_blocking(move || {
        let presented = Presented { access: None, refresh: Some(token), cookies: true, device_proven: false };
        let authed = authenticate(&st, &presented, &client)?;
        match authed.refreshed {
            Some(t) => Ok(t),
            None => rotate_access(&st, &authed.session),
        }
    })
    .await
    .map_err(|_| Problem::internal())??;
    Ok(session_response(&state, &tokens, None))
}

/// `POST /v1/logout`: ends the session at once (both tokens stop working).
pub async fn logout(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let presented = Presented::from_headers(&headers);
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        let authed = authenticate(&st, &presented, &client)?;
        end_session(&st, &authed.session, EndReason::Logout, Some(&client))
    })
    .await
    .map_err(|_| Problem::internal())??;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    for c in clear_cookies() {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
}

/// Refuses a cookie-authenticated state-changing request that does not come from our own
/// origin (SameSite=Strict already keeps cross-site cookies away; this is the second lock).
pub fn same_origin(state: &AppState, headers: &HeaderMap, presented: &Presented) -> Result<(), Problem> {
    if !presented.cookies {
        return Ok(());
    }
    let ours = state.settings.public_origin.origin().ascii_serialization();
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(o) if o == ours => Ok(()),
        Some(o) if o != "null" => Err(Problem::cross_origin()),
        // Under `Referrer-Policy: no-referrer` Chromium sends `Origin: null` on form posts; a
        // missing or opaque origin must then be vouched for by Sec-Fetch-Site, which page
        // scripts cannot set (a sandboxed frame or data: URL elsewhere says cross-site).
        _ => match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
            Some("same-origin") => Ok(()),
            _ => Err(Problem::cross_origin()),
        },
    }
}

/// Authenticates on the blocking pool and runs `f`; adds the refreshed cookies, if any, and
/// `Cache-Control: no-store` to the response. For state-changing routes, pass `write = true`:
/// the origin is checked first.
pub async fn with_session<F, R>(
    state: Arc<AppState>,
    headers: &HeaderMap,
    client: Client,
    write: bool,
    f: F,
) -> Result<Response, Problem>
where
    F: FnOnce(&AppState, &Authed, &Client) -> Result<R, Problem> + Send + 'static,
    R: IntoResponse + Send + 'static,
{
    let presented = Presented::from_headers(headers);
    if write {
        same_origin(&state, headers, &presented)?;
    }
    let st = state.clone();
    let (result, refreshed) = tokio::task::spawn_blocking(move || {
        let authed = authenticate(&st, &presented, &client)?;
        let result = f(&st, &authed, &client);
        Ok::<_, Problem>((result, authed.refreshed))
    })
    .await
    .map_err(|_| Problem::internal())??;
    let resp = match result {
        Ok(r) => r.into_response(),
        Err(p) => p.into_response(),
    };
    Ok(finish(&state, resp, refreshed))
}

/// What every authenticated answer carries: the cookies of tokens refreshed on the way, and
/// `Cache-Control: no-store`.
pub(crate) fn finish(state: &AppState, mut resp: Response, refreshed: Option<Tokens>) -> Response {
    if let Some(t) = refreshed {
        for c in cookies(state, &t) {
            resp.headers_mut().append(header::SET_COOKIE, c);
        }
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[derive(Serialize, Debug)]
pub struct SessionView {
    pub id: String,
    pub current: bool,
    pub method: String,
    pub created_at: String,
    pub last_seen: String,
    pub expires_at: String,
    pub source: String,
    pub network: String,
    pub browser: &'static str,
    pub user_agent: String,
    pub device_bound: bool,
    pub elevated_until: Option<String>,
}

pub fn session_view(s: &SessionRecord, current: SessionId) -> SessionView {
    SessionView {
        id: s.id.0.to_string(),
        current: s.id == current,
        method: s.method.clone(),
        created_at: s.created_at.to_string(),
        last_seen: s.last_seen.to_string(),
        expires_at: s.expires_at.to_string(),
        source: s.source.clone(),
        network: s.context.network.clone(),
        browser: s.context.ua_family.as_str(),
        user_agent: s.user_agent.clone(),
        device_bound: s.device_key.is_some(),
        elevated_until: s.elevated_until.map(|t| t.to_string()),
    }
}

/// `GET /v1/sessions`: my live sessions.
pub async fn list(State(state): State<Arc<AppState>>, client: Client, headers: HeaderMap) -> Result<Response, Problem> {
    with_session(state, &headers, client, false, |st, authed, _| {
        let now = st.clock.now();
        let sessions = st.accounts.sessions_of(authed.caller.agent.id, now).map_err(|_| Problem::unavailable())?;
        let views: Vec<SessionView> = sessions.iter().map(|s| session_view(s, authed.session.id)).collect();
        Ok(axum::Json(serde_json::json!({ "sessions": views })))
    })
    .await
}

/// `DELETE /v1/sessions/{id}`: ends one of my sessions (a device I no longer trust).
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, Problem> {
    let id: u64 = id.parse().map_err(|_| Problem::invalid("id", "a session id is a positive integer"))?;
    with_session(state, &headers, client, true, move |st, authed, client| {
        let target = st.accounts.session_by_id(SessionId(id)).map_err(|_| Problem::unavailable())?;
        match target {
            Some(s) if s.agent == authed.caller.agent.id => {
                end_session(st, &s, EndReason::Revoked, Some(client))?;
                Ok(StatusCode::NO_CONTENT)
            }
            // Another agent's session and a session that does not exist look the same.
            _ => Err(Problem::not_found()),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6, 192.0.2.7"));
        assert_eq!(client_ip(&h, proxy, &[proxy]), "192.0.2.7".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(&h, "192.0.2.99".parse().unwrap(), &[proxy]), "192.0.2.99".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(&HeaderMap::new(), proxy, &[proxy]), proxy);
        h.insert("x-forwarded-for", HeaderValue::from_static("garbage"));
        assert_eq!(client_ip(&h, proxy, &[proxy]), proxy);
    }

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
        assert!(!p.cookies && p.access.is_none() && p.refresh.is_none());
    }
}
