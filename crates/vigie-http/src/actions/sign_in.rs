//! Signing in: password and TOTP under the throttle, and opening a session for an agent who
//! proved who they are, ledgered before any token is handed out.

use std::net::IpAddr;
use std::sync::Arc;

use vigie_core::ids::Login;
use vigie_core::org::{Agent, Organization};
use vigie_core::ports::{NewSession, SignInContext};
use vigie_core::security::{SecurityEvent, SecurityKind};
use vigie_core::signin::{self, EndReason, PasswordHash, Secret, ThrottleKey, TotpCode};

use crate::shared::client::Client;
use crate::shared::problem::Problem;
use crate::shared::state::AppState;
use crate::shared::tokens::{Tokens, random_token};

/// How a session was opened, for the ledger and the sessions page.
#[derive(Clone, Debug)]
pub struct Opening {
    pub method: &'static str,
    pub mfa: bool,
    pub credential: Option<Vec<u8>>,
    /// A service account's key-bound sign-in: its envelope goes to the detector (never a
    /// step-up), and no refresh token is issued (it signs a new assertion instead).
    pub service: Option<vigie_core::service::Envelope>,
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
    // A service account's credentials are its key: no password, passkey or single sign-on
    // opens it (an infostealer's haul of passwords must not), only its client assertion.
    if opening.service.is_none()
        && state.accounts.service_account(agent.id).map_err(|_| Problem::unavailable())?.is_some()
    {
        tracing::info!(agent = %agent.id, method = opening.method, "a service account's sign-in without its key refused");
        return Err(Problem::bad_credentials());
    }
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
        service: opening.service,
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
    // account actions for the elevation window (`Authed::recent_factor`), but does not elevate
    // the session: a step-up the detector asks for because of what the session does must be
    // met by a proof given after (a cookie stolen right after sign-in must not inherit it).
    Ok(Tokens {
        session: id,
        access,
        access_expires_at: session.access_expires_at,
        refresh: opening.service.is_none().then_some(refresh),
        session_expires_at: session.expires_at,
    })
}

/// Signs in with password and code and opens the session: what `POST /v1/login` and the
/// sign-in form both do. Returns the tokens with the agent and organization.
pub async fn with_password(
    state: &Arc<AppState>,
    client: Client,
    login: Login,
    password: Secret,
    code: TotpCode,
) -> Result<(Tokens, Agent, Organization), Problem> {
    let (agent, org) = password_sign_in(state, &client, login, password, code).await?;
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        let opening = Opening { method: "password_totp", mfa: true, credential: None, service: None };
        open_session(&st, &agent, &org, opening, &client).map(|t| (t, agent, org))
    })
    .await
    .map_err(|_| Problem::internal())?
}

enum LoginFailure {
    BadCredentials,
    /// Password and code were right, but this role signs in with a passkey.
    PasskeyRequired,
    Store,
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
    // The budgets this attempt counts against: the login from this network, and unless the
    // login signed in from here before, the login from anywhere and the network for any login
    // (see vigie_core::signin::throttle).
    let keys = begin_attempt(state, &login, client.ip, now)?;
    let succeeded =
        |throttle: &mut vigie_core::signin::LoginThrottle| attempt_succeeded(throttle, &keys, &login, client.ip, now);
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
            succeeded(&mut throttle);
            Ok(who)
        }
        Err(LoginFailure::PasskeyRequired) => {
            succeeded(&mut throttle);
            Err(Problem::forbidden("this role signs in with a passkey only"))
        }
        Err(LoginFailure::BadCredentials) => {
            let targeted = throttle.failed_from(login.as_str(), client.ip, now);
            drop(throttle);
            if let Some(networks) = targeted {
                targeted_lockout(state, &login, networks, now);
            }
            tracing::warn!(login = %login, source = %client.ip, "sign-in failed");
            let failed = SecurityEvent::new(now, SecurityKind::SignInFailed)
                .context(client.describe())
                .detail("login", login.as_str())
                .detail("method", "password_totp");
            let _ = state.record(&[failed]);
            Err(Problem::bad_credentials())
        }
        Err(LoginFailure::Store) => {
            for key in &keys {
                throttle.refund(key);
            }
            tracing::error!(login = %login, "sign-in failed: store unavailable");
            Err(Problem::unavailable())
        }
    }
}

/// Failures on one login from many networks within the hour: someone is trying to lock this
/// agent out (or to guess its password from everywhere at once). Logged at warning level with
/// the login and ledgered as `auth.targeted_lockout`, which the security team's SIEM alerts on.
fn targeted_lockout(state: &AppState, login: &Login, networks: usize, now: vigie_core::time::Timestamp) {
    tracing::warn!(login = %login, networks, "sign-in failures on one login from many networks: a targeted lockout attempt");
    let event = SecurityEvent::new(now, SecurityKind::SignInTargeted)
        .detail("login", login.as_str())
        .detail("networks", networks);
    let _ = state.record(&[event]);
}

/// Counts an attempt to prove `login`'s factors from `ip` against the budgets it falls under
/// (see `vigie_core::signin::throttle`): the login from this network, and unless the login
/// signed in from here before, the login from anywhere and the network. Refused while any is
/// waiting out its delay (nothing counted then).
pub(crate) fn begin_attempt(
    state: &AppState,
    login: &Login,
    ip: IpAddr,
    now: vigie_core::time::Timestamp,
) -> Result<Vec<ThrottleKey>, Problem> {
    let mut throttle = state.throttle.lock().map_err(|_| Problem::internal())?;
    let keys = throttle.password_keys(login.as_str(), ip, now);
    for (i, key) in keys.iter().enumerate() {
        if let Err(ms) = throttle.begin_attempt(key, now) {
            for begun in &keys[..i] {
                throttle.refund(begun);
            }
            return Err(throttled(login, ip, ms));
        }
    }
    Ok(keys)
}

/// The attempt succeeded: its budgets are cleared (a shared network's only refunded) and the
/// network is known for the login from now on.
pub(crate) fn attempt_succeeded(
    throttle: &mut vigie_core::signin::LoginThrottle,
    keys: &[ThrottleKey],
    login: &Login,
    ip: IpAddr,
    now: vigie_core::time::Timestamp,
) {
    for key in keys {
        match key {
            // A success from a shared network takes back its own attempt only.
            ThrottleKey::Network(_) => throttle.refund(key),
            _ => throttle.record_success(key),
        }
    }
    throttle.signed_in_from(login.as_str(), ip, now);
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

/// A service account's token request (RFC 7523 §2.2: a client assertion, the client
/// credentials grant), as JSON.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub grant_type: String,
    pub client_assertion_type: String,
    pub client_assertion: String,
}

impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest").field("grant_type", &self.grant_type).finish_non_exhaustive()
    }
}

/// RFC 7523's client assertion type.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A service account signs in with a client assertion signed by the key registered with it:
/// the session carries its envelope to the detector and gets no refresh token. Any failure
/// (unknown account, not a service account, a bad signature or claim, a replayed assertion)
/// answers the same 401, and is logged with its reason. Blocking.
pub fn service_sign_in(state: &AppState, client: &Client, req: &TokenRequest) -> Result<Tokens, Problem> {
    if req.grant_type != "client_credentials" {
        return Err(Problem::invalid("grant_type", "client_credentials expected"));
    }
    if req.client_assertion_type != JWT_BEARER {
        return Err(Problem::invalid("client_assertion_type", JWT_BEARER));
    }
    let now = state.clock.now();
    let refuse = |why: &str| {
        tracing::info!(why, source = %client.ip, "service sign-in refused");
        Problem::bad_credentials()
    };
    let sub = vigie_dbsc::unverified_subject(&req.client_assertion).map_err(|e| refuse(&e.to_string()))?;
    let login: vigie_core::ids::Login = sub.parse().map_err(|_| refuse("sub is not a login"))?;
    let agent = state
        .accounts
        .agent_by_login(&login)
        .map_err(|_| Problem::unavailable())?
        .ok_or_else(|| refuse("no such account"))?;
    let service = state
        .accounts
        .service_account(agent.id)
        .map_err(|_| Problem::unavailable())?
        .ok_or_else(|| refuse("not a service account"))?;
    let vigie_core::service::BoundKey::ClientAssertionEs256 { public_key } = &service.key else {
        return Err(refuse("its key is not a client assertion key"));
    };
    let audience = state.settings.public_origin.join("v1/token").map_err(|_| Problem::internal())?;
    let assertion = vigie_dbsc::verify_assertion(
        &req.client_assertion,
        public_key,
        login.as_str(),
        audience.as_str(),
        now.millis().div_euclid(1000),
    )
    .map_err(|e| refuse(&e.to_string()))?;
    let seen = format!("{}:{}", agent.id, assertion.jti);
    if state.assertions.take(&seen, now).is_some() {
        state.assertions.put_as(seen, (), now);
        return Err(refuse("assertion replayed"));
    }
    state.assertions.put_as(seen, (), now);
    let org = state
        .registry
        .organization(agent.org)
        .map_err(|_| Problem::unavailable())?
        .ok_or_else(|| refuse("no organization"))?;
    if !agent.active || !org.active {
        return Err(refuse("account or organization inactive"));
    }
    let opening = Opening { method: "client_assertion", mfa: true, credential: None, service: Some(service.envelope) };
    open_session(state, &agent, &org, opening, client)
}
