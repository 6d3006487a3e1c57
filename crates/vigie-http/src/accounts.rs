//! The four-eyes account lifecycle over HTTP: requests, approvals, rejections, enrolment
//! links, disablement, and freezes of an organization's account creation. The rules are
//! `vigie_core::lifecycle`'s; this module reads what they need, asks (the rules, then the
//! detector), writes, ledgers, and mails the enrolment link to the new agent's own address.
//! No response ever contains an enrolment link.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use vigie_core::event::VerdictAction;
use vigie_core::guard::GuardError;
use vigie_core::ids::{AgentId, Login, OrgId, TeamId};
use vigie_core::lifecycle::{self, AccountRequest, Actor, Refusal, RequestState};
use vigie_core::org::{Agent, Organization, Role};
use vigie_core::ports::{Approval, Credentials, LifecycleAction, LifecycleKind};
use vigie_core::security::{SecurityEvent, SecurityKind};
use vigie_core::signin::{self, EndReason, PasswordHash, Secret, SessionToken, TotpCode, TotpSecret};
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use crate::json::Body;
use crate::passkey;
use crate::problem::Problem;
use crate::session::{Authed, Client, with_session};
use crate::state::AppState;

fn store_err(e: vigie_core::ports::StoreError) -> Problem {
    tracing::error!(error = %e, "account store");
    Problem::unavailable()
}

fn refusal(r: Refusal) -> Problem {
    match r {
        Refusal::StepUpRequired => Problem::step_up_required(r.to_string()),
        Refusal::NotPending | Refusal::Expired => Problem::conflict(r.to_string()),
        Refusal::OrganizationFrozen => Problem::creation_frozen(r.to_string()),
        _ => Problem::forbidden(r.to_string()),
    }
}

fn actor<'a>(state: &AppState, authed: &'a Authed) -> Result<Actor<'a>, Problem> {
    let origin = state.accounts.account_origin(authed.caller.agent.id).map_err(store_err)?;
    Ok(Actor {
        agent: &authed.caller.agent,
        org: &authed.caller.org,
        elevated: authed.recent_factor(),
        created_by: origin.created_by,
    })
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    login: String,
    display_name: String,
    email: String,
    role: String,
    team: Option<String>,
    justification: String,
}

fn text(field: &str, v: &str, max: usize) -> Result<String, Problem> {
    let v = v.trim();
    if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(Problem::invalid(field, format!("1 to {max} printable characters")));
    }
    Ok(v.to_owned())
}

/// A plausible mailbox: one `@`, a dotted domain, no spaces or angle brackets (it goes into a
/// mail header).
fn email(v: &str) -> Result<String, Problem> {
    let v = v.trim();
    let ok = v.len() <= 254
        && v.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.') && !d.contains('@')
        })
        && !v.chars().any(|c| c.is_whitespace() || c.is_control() || "<>,;\"()[]\\".contains(c));
    if !ok {
        return Err(Problem::invalid("email", "an address such as name@organization.fr"));
    }
    Ok(v.to_ascii_lowercase())
}

impl NewRequest {
    pub fn parse(self, actor: &Agent, now: vigie_core::time::Timestamp) -> Result<AccountRequest, Problem> {
        let login: Login =
            self.login.parse().map_err(|e: vigie_core::ids::IdError| Problem::invalid("login", e.to_string()))?;
        let role = Role::parse(&self.role)
            .ok_or_else(|| Problem::invalid("role", "one of advisor, manager, account_admin, security_officer"))?;
        let team = match self.team {
            Some(t) => Some(t.parse::<TeamId>().map_err(|e| Problem::invalid("team", e.to_string()))?),
            None => None,
        };
        Ok(AccountRequest {
            id: 0,
            org: actor.org,
            requested_by: actor.id,
            login,
            display_name: text("display_name", &self.display_name, 100)?,
            email: email(&self.email)?,
            role,
            team,
            justification: text("justification", &self.justification, 500)?,
            created_at: now,
            expires_at: now.plus_millis(lifecycle::REQUEST_TTL_MS),
            state: RequestState::Pending,
            decided_by: None,
            decided_at: None,
            agent: None,
        })
    }
}

pub fn request_json(r: &AccountRequest, now: vigie_core::time::Timestamp) -> serde_json::Value {
    json!({
        "id": r.id.to_string(),
        "organization": r.org.to_string(),
        "requested_by": r.requested_by.to_string(),
        "login": r.login.as_str(),
        "display_name": r.display_name,
        "email": r.email,
        "role": r.role.as_str(),
        "team": r.team.map(|t| t.to_string()),
        "justification": r.justification,
        "created_at": r.created_at.to_string(),
        "expires_at": r.expires_at.to_string(),
        "state": r.state_at(now).as_str(),
        "decided_by": r.decided_by.map(|a| a.to_string()),
        "agent": r.agent.map(|a| a.to_string()),
    })
}

/// `POST /v1/account-requests`: asks for an account in my organization.
pub async fn create(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Body(req): Body<NewRequest>,
) -> Result<Response, Problem> {
    with_session(state, &headers, client, true, move |st, authed, client| {
        let now = st.clock.now();
        let request = req.parse(&authed.caller.agent, now)?;
        create_request(st, authed, client, request).map(|r| (StatusCode::CREATED, axum::Json(request_json(&r, now))))
    })
    .await
}

pub fn create_request(
    st: &AppState,
    authed: &Authed,
    client: &Client,
    mut request: AccountRequest,
) -> Result<AccountRequest, Problem> {
    let now = st.clock.now();
    let made = st
        .accounts
        .requests_made_since(authed.caller.agent.id, now.plus_millis(-24 * 3600 * 1000))
        .map_err(store_err)?;
    lifecycle::may_request(&actor(st, authed)?, request.role, made).map_err(refusal)?;
    creation_open(st, request.org)?;
    if let Some(team) = request.team
        && st.accounts.team_org(team).map_err(store_err)? != Some(request.org)
    {
        return Err(Problem::invalid("team", "no such team in your organization"));
    }
    // The link goes to an address of the organization (the requester's own domain), so that a
    // requester cannot send the new account's link to a mailbox of their choosing elsewhere.
    let domain = |e: &str| e.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
    if domain(&request.email) != domain(&authed.caller.agent.email) {
        return Err(Problem::invalid(
            "email",
            format!(
                "must be an address of your organization (@{})",
                domain(&authed.caller.agent.email).unwrap_or_default()
            ),
        ));
    }
    ask_detector(st, authed, client, LifecycleKind::Request, request.org)?;
    let id = st
        .accounts
        .create_request(&request)
        .map_err(store_err)?
        .ok_or_else(|| Problem::conflict("this login is already taken or already requested"))?;
    request.id = id;
    st.record(&[SecurityEvent::new(now, SecurityKind::AccountRequested)
        .by(authed.caller.agent.id, authed.caller.org.id)
        .session(authed.session.id)
        .context(client.describe())
        .detail("request", id)
        .detail("login", request.login.as_str())
        .detail("role", request.role.as_str())])?;
    Ok(request)
}

/// Refuses account creation in `org` while it is frozen.
fn creation_open(st: &AppState, org: OrgId) -> Result<(), Problem> {
    let freeze = st.accounts.org_creation_frozen(org).map_err(store_err)?;
    lifecycle::creation_open(freeze.as_ref()).map_err(refusal)
}

/// Tells the detector about a lifecycle action about to be taken (in `org`) and carries out
/// its verdict: a throttle refuses this action only; a step-up, an ended session or a
/// suspended account are carried out as on the guarded path.
fn ask_detector(
    st: &AppState,
    authed: &Authed,
    client: &Client,
    kind: LifecycleKind,
    org: OrgId,
) -> Result<(), Problem> {
    let action = LifecycleAction { at: st.clock.now(), actor: authed.caller.agent.id, org, kind };
    let verdict = st.guard.detector.lifecycle(&action);
    let refused = match verdict.action {
        // The friction rung asks for a reason before data is shown; there is no data here,
        // and the request carries its own justification.
        VerdictAction::Allow | VerdictAction::Friction => return Ok(()),
        VerdictAction::StepUp if authed.caller.elevated => return Ok(()),
        VerdictAction::StepUp => Some(GuardError::StepUpRequired),
        VerdictAction::Throttle => None,
        VerdictAction::SuspendSession => Some(GuardError::SessionSuspended),
        VerdictAction::SuspendAccount => Some(GuardError::AccountSuspended),
    };
    tracing::warn!(
        agent = %action.actor,
        action = kind.as_str(),
        verdict = verdict.action.as_str(),
        reasons = ?verdict.reasons,
        "account lifecycle action refused by the detector"
    );
    match refused {
        // A throttle holds back this action only; the session and the account go on.
        None => Err(Problem::creation_throttled()),
        Some(e) => Err(crate::api::enforce(st, authed, client, e)),
    }
}

/// `GET /v1/account-requests`: my organization's requests (an agency's security officer sees
/// every organization's).
pub async fn list(State(state): State<Arc<AppState>>, client: Client, headers: HeaderMap) -> Result<Response, Problem> {
    with_session(state, &headers, client, false, |st, authed, _| {
        let now = st.clock.now();
        let rs = visible_requests(st, authed)?;
        Ok(axum::Json(json!({ "requests": rs.iter().map(|r| request_json(r, now)).collect::<Vec<_>>() })))
    })
    .await
}

pub fn visible_requests(st: &AppState, authed: &Authed) -> Result<Vec<AccountRequest>, Problem> {
    let a = &authed.caller;
    let org = match a.agent.role {
        Role::SecurityOfficer if a.org.kind == vigie_core::org::OrgKind::Agency => None,
        Role::SecurityOfficer | Role::AccountAdmin => Some(a.org.id),
        _ => return Err(refusal(Refusal::NotAnAdministrator)),
    };
    st.accounts.requests(org, 200).map_err(store_err)
}

fn agent_id(raw: &str) -> Result<AgentId, Problem> {
    raw.parse().map_err(|e: vigie_core::ids::IdError| Problem::invalid("id", e.to_string()))
}

fn request_id(raw: &str) -> Result<u64, Problem> {
    raw.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Problem::invalid("id", "a request id is a positive integer"))
}

/// `POST /v1/account-requests/{id}/approve`
pub async fn approve(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = request_id(&id)?;
    with_session(state, &headers, client, true, move |st, authed, client| {
        let agent = approve_request(st, authed, client, id)?;
        Ok(axum::Json(json!({
            "state": "approved",
            "agent": agent.to_string(),
            "enrolment": "a single-use link valid 24 hours was sent to the new agent's own address",
        })))
    })
    .await
}

fn requester_origin(st: &AppState, request: &AccountRequest) -> Result<lifecycle::RequesterOrigin, Problem> {
    let o = st.accounts.account_origin(request.requested_by).map_err(store_err)?;
    Ok(lifecycle::RequesterOrigin { created_by: o.created_by, approved_by: o.approved_by })
}

/// The request `id` and the acting administrator, if the request is one the actor may see:
/// another organization's request is not even acknowledged (404, as for none).
fn visible_request<'a>(st: &AppState, authed: &'a Authed, id: u64) -> Result<(AccountRequest, Actor<'a>), Problem> {
    let request = st.accounts.request(id).map_err(store_err)?.ok_or_else(Problem::not_found)?;
    let who = actor(st, authed)?;
    let agency_officer = who.agent.role == Role::SecurityOfficer && who.org.kind == vigie_core::org::OrgKind::Agency;
    if who.agent.org != request.org && !agency_officer {
        return Err(Problem::not_found());
    }
    Ok((request, who))
}

pub fn approve_request(st: &AppState, authed: &Authed, client: &Client, id: u64) -> Result<AgentId, Problem> {
    let now = st.clock.now();
    let (request, who) = visible_request(st, authed, id)?;
    lifecycle::may_decide(&who, &request, requester_origin(st, &request)?, now).map_err(refusal)?;
    creation_open(st, request.org)?;
    ask_detector(st, authed, client, LifecycleKind::Approval, request.org)?;
    // The link is mailed before the account exists: a mail failure creates nothing, and a
    // race lost below leaves only a link that opens nothing.
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    let token = SessionToken::from_random(raw);
    let link = st.settings.public_origin.join(&format!("enrol/{}", token.expose())).map_err(|_| Problem::internal())?;
    let body = format!(
        "Bonjour {},\n\nAn account on Vigie was requested for you by your organization and approved by a second \
         administrator.\nSet up how you will sign in (valid 24 hours, usable once):\n\n{link}\n\nIf you did not expect \
         this message, do not open the link and tell your security officer.\n",
        request.display_name
    );
    st.outbox.send(&request.email, "Your Vigie account: set up your sign-in", &body).map_err(|e| {
        tracing::error!(error = %e, "enrolment mail not sent");
        Problem::unavailable()
    })?;
    let approval = Approval {
        request: id,
        approver: authed.caller.agent.id,
        at: now,
        probation_until: now.plus_millis(lifecycle::PROBATION_MS),
        enrolment_hash: token.hash(),
        enrolment_expires_at: now.plus_millis(lifecycle::ENROLMENT_TTL_MS),
    };
    // The approval is recorded before the account exists (a granted account without its
    // record would be the one thing an investigator could not see); the new agent's id
    // follows in the enrolment event.
    st.record(&[SecurityEvent::new(now, SecurityKind::AccountApproved)
        .by(authed.caller.agent.id, authed.caller.org.id)
        .session(authed.session.id)
        .context(client.describe())
        .detail("request", id)
        .detail("login", request.login.as_str())
        .detail("requested_by", request.requested_by)
        .detail("role", request.role.as_str())
        .detail("probation_until", approval.probation_until)])?;
    let agent = st
        .accounts
        .approve_request(&approval)
        .map_err(store_err)?
        .ok_or_else(|| Problem::conflict("the request was decided meanwhile, or its login was taken"))?;
    st.record(&[SecurityEvent::new(now, SecurityKind::EnrolmentSent)
        .by(authed.caller.agent.id, authed.caller.org.id)
        .subject(agent)
        .detail("to", &request.email)
        .detail("expires_at", approval.enrolment_expires_at)])?;
    Ok(agent)
}

/// `POST /v1/account-requests/{id}/reject`
pub async fn reject(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = request_id(&id)?;
    with_session(state, &headers, client, true, move |st, authed, client| {
        reject_request(st, authed, client, id)?;
        Ok(axum::Json(json!({ "state": "rejected" })))
    })
    .await
}

pub fn reject_request(st: &AppState, authed: &Authed, client: &Client, id: u64) -> Result<(), Problem> {
    let now = st.clock.now();
    let (request, who) = visible_request(st, authed, id)?;
    // Anyone who could approve may reject; the requester may withdraw their own request.
    let own = request.requested_by == who.agent.id;
    if !own {
        lifecycle::may_decide(&who, &request, requester_origin(st, &request)?, now).map_err(refusal)?;
    }
    if !st.accounts.reject_request(id, authed.caller.agent.id, now).map_err(store_err)? {
        return Err(Problem::conflict("the request is no longer pending"));
    }
    st.record(&[SecurityEvent::new(now, SecurityKind::AccountRejected)
        .by(authed.caller.agent.id, authed.caller.org.id)
        .session(authed.session.id)
        .context(client.describe())
        .detail("request", id)
        .detail("withdrawn", own)])
}

/// `GET /v1/agents/{id}/sessions`: an agent's live sessions, for its administrators.
pub async fn agent_sessions(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = agent_id(&id)?;
    with_session(state, &headers, client, false, move |st, authed, _| {
        let target = managed(st, authed, id)?;
        let sessions = st.accounts.sessions_of(target.id, st.clock.now()).map_err(store_err)?;
        let views: Vec<_> = sessions.iter().map(|s| crate::session::session_view(s, authed.session.id)).collect();
        Ok(axum::Json(json!({ "agent": id.to_string(), "sessions": views })))
    })
    .await
}

/// `DELETE /v1/agents/{id}/sessions`: ends all of an agent's sessions at once (the account
/// stays active: the agent signs in again, with its own factors).
pub async fn end_agent_sessions(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = agent_id(&id)?;
    with_session(state, &headers, client, true, move |st, authed, client| {
        let target = managed(st, authed, id)?;
        let now = st.clock.now();
        let ended = st.accounts.end_sessions_of(target.id).map_err(store_err)?;
        let events: Vec<_> = ended
            .iter()
            .map(|s| {
                SecurityEvent::new(now, SecurityKind::SessionEnded)
                    .by(authed.caller.agent.id, authed.caller.org.id)
                    .session(*s)
                    .subject(target.id)
                    .context(client.describe())
                    .detail("reason", EndReason::Revoked.as_str())
            })
            .collect();
        st.record(&events)?;
        Ok(axum::Json(json!({ "agent": id.to_string(), "ended": ended.len() })))
    })
    .await
}

/// The agent `id`, if the caller may manage its sessions (another organization's agent is
/// not acknowledged).
fn managed(st: &AppState, authed: &Authed, id: AgentId) -> Result<Agent, Problem> {
    let target = st.registry.agent(id).map_err(store_err)?.ok_or_else(Problem::not_found)?;
    lifecycle::may_manage_sessions(&actor(st, authed)?, &target).map_err(|r| match r {
        Refusal::OtherOrganization => Problem::not_found(),
        r => refusal(r),
    })?;
    Ok(target)
}

/// `POST /v1/agents/{id}/disable`: the account stops working at once; its sessions end.
pub async fn disable(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = agent_id(&id)?;
    with_session(state, &headers, client, true, move |st, authed, client| {
        disable_agent(st, authed, client, id)?;
        Ok(axum::Json(json!({ "agent": id.to_string(), "active": false })))
    })
    .await
}

pub fn disable_agent(st: &AppState, authed: &Authed, client: &Client, id: AgentId) -> Result<(), Problem> {
    let now = st.clock.now();
    let target = st.registry.agent(id).map_err(store_err)?.ok_or_else(Problem::not_found)?;
    let who = actor(st, authed)?;
    lifecycle::may_disable(&who, &target).map_err(|r| match r {
        Refusal::OtherOrganization => Problem::not_found(),
        r => refusal(r),
    })?;
    st.accounts.set_agent_active(id, false).map_err(store_err)?;
    let ended = st.accounts.end_sessions_of(id).map_err(store_err)?;
    let mut events = vec![
        SecurityEvent::new(now, SecurityKind::AccountDisabled)
            .by(authed.caller.agent.id, authed.caller.org.id)
            .session(authed.session.id)
            .subject(id)
            .context(client.describe()),
    ];
    for s in ended {
        events.push(
            SecurityEvent::new(now, SecurityKind::SessionEnded)
                .subject(id)
                .session(s)
                .detail("reason", EndReason::AccountDisabled.as_str()),
        );
    }
    st.record(&events)
}

// ---- Freezes of account creation ----------------------------------------------------------

fn org_id(raw: &str) -> Result<OrgId, Problem> {
    raw.parse().map_err(|e: vigie_core::ids::IdError| Problem::invalid("id", e.to_string()))
}

fn freeze_json(org: OrgId, freeze: Option<&lifecycle::OrgFreeze>) -> serde_json::Value {
    json!({
        "organization": org.to_string(),
        "frozen": freeze.is_some(),
        "frozen_at": freeze.map(|f| f.frozen_at.to_string()),
        "reason": freeze.map(|f| f.reason.as_str()),
        "agent": freeze.and_then(|f| f.agent).map(|a| a.to_string()),
    })
}

/// `GET /v1/organizations/{id}/freeze`: whether account creation there is frozen, since when
/// and why. For the organization's administrators and an agency's security officers.
pub async fn freeze_state(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let org = org_id(&id)?;
    with_session(state, &headers, client, false, move |st, authed, _| {
        lifecycle::may_see_freeze(&actor(st, authed)?, org).map_err(refusal)?;
        let freeze = st.accounts.org_creation_frozen(org).map_err(store_err)?;
        Ok(axum::Json(freeze_json(org, freeze.as_ref())))
    })
    .await
}

/// `POST /v1/organizations/{id}/unfreeze`: a security officer (stepped up) lifts the freeze.
/// Ledgered before it takes effect: it gives back the power to create accounts.
pub async fn unfreeze(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let org = org_id(&id)?;
    with_session(state, &headers, client, true, move |st, authed, client| {
        lift_freeze(st, authed, client, org)?;
        Ok(axum::Json(freeze_json(org, None)))
    })
    .await
}

pub fn lift_freeze(st: &AppState, authed: &Authed, client: &Client, org: OrgId) -> Result<(), Problem> {
    let now = st.clock.now();
    lifecycle::may_lift_freeze(&actor(st, authed)?, org).map_err(refusal)?;
    let Some(freeze) = st.accounts.org_creation_frozen(org).map_err(store_err)? else {
        return Err(Problem::conflict("account creation in this organization is not frozen"));
    };
    st.record(&[SecurityEvent::new(now, SecurityKind::OrgCreationUnfrozen)
        .by(authed.caller.agent.id, authed.caller.org.id)
        .session(authed.session.id)
        .context(client.describe())
        .detail("organization", org)
        .detail("frozen_at", freeze.frozen_at)
        .detail("reason", &freeze.reason)])?;
    st.accounts.unfreeze_org_creation(org).map_err(store_err)?;
    Ok(())
}

// ---- Enrolment -------------------------------------------------------------------------

/// A password and TOTP secret chosen during enrolment, waiting for the first code that proves
/// the authenticator app holds the secret.
#[derive(Debug)]
pub struct PendingSecrets {
    pub agent: AgentId,
    pub password: PasswordHash,
    pub totp: TotpSecret,
}

fn enrolment_token(raw: &str) -> Result<SessionToken, Problem> {
    SessionToken::parse(raw)
        .ok_or_else(|| Problem::invalid("token", "an enrolment link's token is 43 base64url characters"))
}

/// The agent an enrolment link opens, if it is valid now.
pub fn enrolment_agent(st: &AppState, token: &SessionToken) -> Result<(Agent, Organization), Problem> {
    let now = st.clock.now();
    let gone = || {
        Problem::conflict(
            "this enrolment link is unknown, expired or already used: ask your administrator for a new account request",
        )
    };
    let id = st.accounts.enrolment(&token.hash(), now).map_err(store_err)?.ok_or_else(gone)?;
    let agent = st.registry.agent(id).map_err(store_err)?.ok_or_else(gone)?;
    let org = st.registry.organization(agent.org).map_err(store_err)?.ok_or_else(gone)?;
    if !agent.active || !org.active {
        return Err(gone());
    }
    Ok((agent, org))
}

pub fn enrolment_json(agent: &Agent, org: &Organization) -> serde_json::Value {
    json!({
        "login": agent.login.as_str(),
        "display_name": agent.display_name,
        "role": agent.role.as_str(),
        "organization": org.name,
        "methods": if lifecycle::passkey_required(agent.role) { vec!["passkey"] } else { vec!["passkey", "password_totp"] },
    })
}

/// `GET /v1/enrol/{token}`: what the link is for.
pub async fn enrol_info(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Result<Response, Problem> {
    let token = enrolment_token(&token)?;
    let st = state.clone();
    let (agent, org) =
        tokio::task::spawn_blocking(move || enrolment_agent(&st, &token)).await.map_err(|_| Problem::internal())??;
    Ok(axum::response::IntoResponse::into_response(axum::Json(enrolment_json(&agent, &org))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolPassword {
    password: String,
}

impl std::fmt::Debug for EnrolPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrolPassword").finish_non_exhaustive()
    }
}

pub fn check_new_password(p: &str, agent: &Agent) -> Result<(), Problem> {
    let n = p.chars().count();
    if !(12..=256).contains(&n) {
        return Err(Problem::invalid("password", "between 12 and 256 characters"));
    }
    if p.to_ascii_lowercase().contains(&agent.login.as_str().to_ascii_lowercase()) {
        return Err(Problem::invalid("password", "must not contain the login"));
    }
    Ok(())
}

/// `POST /v1/enrol/{token}/password`: chooses a password; answers a fresh TOTP secret to put
/// in an authenticator app. Nothing is stored until `/confirm` proves the app has it.
pub async fn enrol_password(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    Body(req): Body<EnrolPassword>,
) -> Result<Response, Problem> {
    let token = enrolment_token(&token)?;
    let (b32, uri) = choose_password(&state, token, req.password).await?;
    Ok(axum::response::IntoResponse::into_response(axum::Json(json!({
        "totp_secret": b32,
        "otpauth_uri": uri,
        "next": "confirm with a code from your app: POST /v1/enrol/{token}/confirm",
    }))))
}

/// Hashes the chosen password and draws a TOTP secret, kept aside until the first code.
/// Returns the secret in base32 and its `otpauth://` URI.
pub async fn choose_password(
    state: &Arc<AppState>,
    token: SessionToken,
    password: String,
) -> Result<(String, String), Problem> {
    let permit = state.hashing.clone().acquire_owned().await.map_err(|_| Problem::internal())?;
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        let (agent, _) = enrolment_agent(&st, &token)?;
        if lifecycle::passkey_required(agent.role) {
            return Err(Problem::forbidden("this role signs in with a passkey only: register one"));
        }
        check_new_password(&password, &agent)?;
        let mut salt = [0u8; 16];
        let mut secret = [0u8; 20];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        let hash = signin::hash_password(&Secret::new(password), &salt).map_err(|_| Problem::internal())?;
        drop(permit);
        let totp = TotpSecret::from_bytes(&secret).ok_or_else(Problem::internal)?;
        let uri = totp.otpauth_uri("Vigie", agent.login.as_str());
        let b32 = totp.to_base32();
        st.enrolling.put_as(
            hex::encode(token.hash()),
            PendingSecrets { agent: agent.id, password: hash, totp },
            st.clock.now(),
        );
        Ok((b32, uri))
    })
    .await
    .map_err(|_| Problem::internal())?
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolConfirm {
    totp: String,
}

impl std::fmt::Debug for EnrolConfirm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrolConfirm").finish_non_exhaustive()
    }
}

/// `POST /v1/enrol/{token}/confirm`: the first code from the app.
pub async fn enrol_confirm(
    State(state): State<Arc<AppState>>,
    client: Client,
    Path(token): Path<String>,
    Body(req): Body<EnrolConfirm>,
) -> Result<Response, Problem> {
    let token = enrolment_token(&token)?;
    let code: TotpCode =
        req.totp.parse().map_err(|e: signin::totp::TotpCodeError| Problem::invalid("totp", e.to_string()))?;
    confirm_enrolment(&state, token, code, client).await?;
    Ok(axum::response::IntoResponse::into_response(axum::Json(json!({ "enrolled": true, "next": "sign in" }))))
}

/// Spends the link and stores the credentials together; a wrong code keeps nothing (choose
/// the password again).
pub async fn confirm_enrolment(
    state: &Arc<AppState>,
    token: SessionToken,
    code: TotpCode,
    client: Client,
) -> Result<(), Problem> {
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        let (agent, org) = enrolment_agent(&st, &token)?;
        let now = st.clock.now();
        let pending = st
            .enrolling
            .take(&hex::encode(token.hash()), now)
            .filter(|p| p.agent == agent.id)
            .ok_or_else(|| Problem::conflict("choose a password first"))?;
        let Some(step) = signin::totp::verify(&pending.totp, code, now.seconds(), None) else {
            return Err(Problem::invalid(
                "totp",
                "this code does not match the secret: choose the password again and re-scan",
            ));
        };
        if !st.accounts.consume_enrolment(&token.hash(), now).map_err(store_err)? {
            return Err(Problem::conflict("this enrolment link was used meanwhile"));
        }
        st.record(&[SecurityEvent::new(now, SecurityKind::Enrolled)
            .by(agent.id, org.id)
            .context(client.describe())
            .detail("method", "password_totp")])?;
        st.accounts
            .set_credentials(agent.id, &Credentials { password: pending.password, totp: pending.totp }, Some(now))
            .map_err(store_err)?;
        st.accounts.consume_totp_step(agent.id, step).map_err(store_err)?;
        Ok(())
    })
    .await
    .map_err(|_| Problem::internal())?
}

/// `POST /v1/enrol/{token}/passkey/start`
pub async fn enrol_passkey_start(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
) -> Result<Response, Problem> {
    let token = enrolment_token(&token)?;
    let st = state.clone();
    let out = tokio::task::spawn_blocking(move || {
        let (agent, _) = enrolment_agent(&st, &token)?;
        passkey::start_registration(&st, &agent)
    })
    .await
    .map_err(|_| Problem::internal())??;
    Ok(axum::response::IntoResponse::into_response(axum::Json(out)))
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct EnrolPasskeyFinish {
    ceremony: String,
    credential: RegisterPublicKeyCredential,
    label: Option<String>,
}

/// `POST /v1/enrol/{token}/passkey/finish`: registers the passkey and spends the link; if the
/// link was spent meanwhile, the passkey is taken back.
pub async fn enrol_passkey_finish(
    State(state): State<Arc<AppState>>,
    client: Client,
    Path(token): Path<String>,
    Body(req): Body<EnrolPasskeyFinish>,
) -> Result<Response, Problem> {
    let token = enrolment_token(&token)?;
    let label = passkey::label(req.label.clone())?;
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        let (agent, org) = enrolment_agent(&st, &token)?;
        let stored = passkey::finish_registration(&st, &agent, &org, &req.ceremony, &req.credential, &label, &client)?;
        let now = st.clock.now();
        if !st.accounts.consume_enrolment(&token.hash(), now).map_err(store_err)? {
            let _ = st.accounts.remove_passkey(agent.id, &stored.credential_id);
            return Err(Problem::conflict("this enrolment link was used meanwhile"));
        }
        st.record(&[SecurityEvent::new(now, SecurityKind::Enrolled)
            .by(agent.id, org.id)
            .context(client.describe())
            .detail("method", "passkey")])
    })
    .await
    .map_err(|_| Problem::internal())??;
    Ok(axum::response::IntoResponse::into_response((
        StatusCode::CREATED,
        axum::Json(json!({ "enrolled": true, "next": "sign in with your passkey" })),
    )))
}
