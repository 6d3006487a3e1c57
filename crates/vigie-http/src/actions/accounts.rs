//! The four-eyes account lifecycle: requests, approvals, rejections, disablement, ending an
//! agent's sessions, and freezes of an organization's account creation. The rules are
//! `vigie_core::lifecycle`'s; this module reads what they need, asks (the rules, then the
//! detector), writes, ledgers, and mails the enrolment link to the new agent's own address.
//! No answer ever contains an enrolment link.

use serde::Deserialize;
use vigie_core::event::VerdictAction;
use vigie_core::guard::GuardError;
use vigie_core::ids::{AgentId, Login, OrgId, SessionId, TeamId};
use vigie_core::lifecycle::{self, AccountRequest, Actor, OrgFreeze, Refusal, RequestState};
use vigie_core::org::{Agent, OrgKind, Role};
use vigie_core::ports::{Approval, LifecycleAction, LifecycleKind};
use vigie_core::security::{SecurityEvent, SecurityKind};
use vigie_core::signin::{EndReason, SessionToken};
use vigie_core::time::Timestamp;

use crate::actions::store_err;
use crate::actions::verdicts::enforce;
use crate::shared::auth::Authed;
use crate::shared::client::Client;
use crate::shared::problem::Problem;
use crate::shared::state::AppState;

/// The problem a lifecycle rule's refusal answers.
pub fn refusal(r: Refusal) -> Problem {
    match r {
        Refusal::StepUpRequired => Problem::step_up_required(r.to_string()),
        Refusal::NotPending | Refusal::Expired => Problem::conflict(r.to_string()),
        Refusal::OrganizationFrozen => Problem::creation_frozen(r.to_string()),
        _ => Problem::forbidden(r.to_string()),
    }
}

pub(crate) fn actor<'a>(state: &AppState, authed: &'a Authed) -> Result<Actor<'a>, Problem> {
    let origin = state.accounts.account_origin(authed.caller.agent.id).map_err(store_err)?;
    Ok(Actor {
        agent: &authed.caller.agent,
        org: &authed.caller.org,
        elevated: authed.recent_factor(),
        created_by: origin.created_by,
    })
}

/// An account request as a client sends it (the API's JSON body, the pages' form).
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    pub login: String,
    pub display_name: String,
    pub email: String,
    pub role: String,
    pub team: Option<String>,
    pub justification: String,
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
    /// The request, parsed, in the actor's organization.
    pub fn parse(self, actor: &Agent, now: Timestamp) -> Result<AccountRequest, Problem> {
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

/// Asks for an account in the caller's organization.
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
    st.record(&[authed
        .event(now, SecurityKind::AccountRequested, client)
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
        Some(e) => Err(enforce(st, authed, client, e)),
    }
}

/// The requests the caller may see: its organization's (an agency's security officer sees
/// every organization's). Administrators only.
pub fn visible_requests(st: &AppState, authed: &Authed) -> Result<Vec<AccountRequest>, Problem> {
    let a = &authed.caller;
    let org = match a.agent.role {
        Role::SecurityOfficer if a.org.kind == OrgKind::Agency => None,
        Role::SecurityOfficer | Role::AccountAdmin => Some(a.org.id),
        _ => return Err(refusal(Refusal::NotAnAdministrator)),
    };
    st.accounts.requests(org, 200).map_err(store_err)
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
    let agency_officer = who.agent.role == Role::SecurityOfficer && who.org.kind == OrgKind::Agency;
    if who.agent.org != request.org && !agency_officer {
        return Err(Problem::not_found());
    }
    Ok((request, who))
}

/// A second administrator approves: the link is mailed to the new agent, the approval is
/// ledgered, then the account exists. Returns the new agent's id.
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
    st.record(&[authed
        .event(now, SecurityKind::AccountApproved, client)
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
        .detail("expires_at", approval.enrolment_expires_at)
        // Names the request, so that an investigator (and incident expansion) ties the new
        // account to who asked for it and who approved it.
        .detail("request", request.id)])?;
    Ok(agent)
}

/// Rejects a request; anyone who could approve may reject, and the requester may withdraw
/// their own.
pub fn reject_request(st: &AppState, authed: &Authed, client: &Client, id: u64) -> Result<(), Problem> {
    let now = st.clock.now();
    let (request, who) = visible_request(st, authed, id)?;
    let own = request.requested_by == who.agent.id;
    if !own {
        lifecycle::may_decide(&who, &request, requester_origin(st, &request)?, now).map_err(refusal)?;
    }
    if !st.accounts.reject_request(id, authed.caller.agent.id, now).map_err(store_err)? {
        return Err(Problem::conflict("the request is no longer pending"));
    }
    st.record(&[authed
        .event(now, SecurityKind::AccountRejected, client)
        .detail("request", id)
        .detail("withdrawn", own)])
}

/// The agent `id`, if the caller may manage its sessions (another organization's agent is
/// not acknowledged).
pub fn managed(st: &AppState, authed: &Authed, id: AgentId) -> Result<Agent, Problem> {
    let target = st.registry.agent(id).map_err(store_err)?.ok_or_else(Problem::not_found)?;
    lifecycle::may_manage_sessions(&actor(st, authed)?, &target).map_err(|r| match r {
        Refusal::OtherOrganization => Problem::not_found(),
        r => refusal(r),
    })?;
    Ok(target)
}

/// Ends every session of an agent the caller manages (the account stays active: the agent
/// signs in again, with its own factors). Returns the sessions ended. Each ending is in the
/// ledger, with its author, before the sessions end (one opened in between is recorded after).
pub fn end_agent_sessions(
    st: &AppState,
    authed: &Authed,
    client: &Client,
    id: AgentId,
) -> Result<Vec<SessionId>, Problem> {
    let target = managed(st, authed, id)?;
    let now = st.clock.now();
    let ending = |sessions: &[SessionId]| -> Vec<SecurityEvent> {
        sessions
            .iter()
            .map(|s| {
                SecurityEvent::new(now, SecurityKind::SessionEnded)
                    .by(authed.caller.agent.id, authed.caller.org.id)
                    .session(*s)
                    .subject(target.id)
                    .context(client.describe())
                    .detail("reason", EndReason::Revoked.as_str())
            })
            .collect()
    };
    let live: Vec<SessionId> =
        st.accounts.sessions_of(target.id, now).map_err(store_err)?.iter().map(|s| s.id).collect();
    if !live.is_empty() {
        st.record(&ending(&live))?;
    }
    let ended = st.accounts.end_sessions_of(target.id).map_err(store_err)?;
    let late: Vec<SessionId> = ended.iter().copied().filter(|s| !live.contains(s)).collect();
    if !late.is_empty() {
        st.record(&ending(&late))?;
    }
    Ok(ended)
}

/// Disables an account at once; its sessions end.
pub fn disable_agent(st: &AppState, authed: &Authed, client: &Client, id: AgentId) -> Result<(), Problem> {
    let now = st.clock.now();
    let target = st.registry.agent(id).map_err(store_err)?.ok_or_else(Problem::not_found)?;
    let who = actor(st, authed)?;
    lifecycle::may_disable(&who, &target).map_err(|r| match r {
        Refusal::OtherOrganization => Problem::not_found(),
        r => refusal(r),
    })?;
    // In the ledger, with its author, before it takes effect; the sessions it ends after.
    st.record(&[authed.event(now, SecurityKind::AccountDisabled, client).subject(id)])?;
    st.accounts.set_agent_active(id, false).map_err(store_err)?;
    let ended = st.accounts.end_sessions_of(id).map_err(store_err)?;
    let mut events = Vec::new();
    for s in ended {
        events.push(
            SecurityEvent::new(now, SecurityKind::SessionEnded)
                .subject(id)
                .session(s)
                .detail("reason", EndReason::AccountDisabled.as_str()),
        );
    }
    if events.is_empty() { Ok(()) } else { st.record(&events) }
}

/// Whether account creation in `org` is frozen, since when and why; for the organization's
/// administrators and an agency's security officers.
pub fn freeze_of(st: &AppState, authed: &Authed, org: OrgId) -> Result<Option<OrgFreeze>, Problem> {
    lifecycle::may_see_freeze(&actor(st, authed)?, org).map_err(refusal)?;
    st.accounts.org_creation_frozen(org).map_err(store_err)
}

/// A security officer (stepped up) lifts a freeze. Ledgered before it takes effect: it gives
/// back the power to create accounts.
pub fn lift_freeze(st: &AppState, authed: &Authed, client: &Client, org: OrgId) -> Result<(), Problem> {
    let now = st.clock.now();
    lifecycle::may_lift_freeze(&actor(st, authed)?, org).map_err(refusal)?;
    let Some(freeze) = st.accounts.org_creation_frozen(org).map_err(store_err)? else {
        return Err(Problem::conflict("account creation in this organization is not frozen"));
    };
    st.record(&[authed
        .event(now, SecurityKind::OrgCreationUnfrozen, client)
        .detail("organization", org)
        .detail("frozen_at", freeze.frozen_at)
        .detail("reason", &freeze.reason)])?;
    st.accounts.unfreeze_org_creation(org).map_err(store_err)?;
    Ok(())
}
