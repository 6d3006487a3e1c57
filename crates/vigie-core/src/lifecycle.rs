//! The four-eyes account lifecycle, as pure rules.
//!
//! Creating an agent is a *request*; it becomes an account only when a second person approves
//! it: a different `account_admin` of the same organization, or a `security_officer` of that
//! organization or of an agency. Requests for the two administrative roles need a security
//! officer. Nobody approves their own request, nor a request from the account that asked for
//! their own creation (two accounts of one intruder approving each other). The new account has
//! no credentials: a single-use enrolment link goes to the person's own address, never to the
//! requester or the approver, and expires. New accounts are on probation for 14 days.
//!
//! When the detector suspends an account, account creation in its organization is frozen
//! ([`OrgFreeze`]): no new request and no approval there until a security officer lifts it, so
//! that an intruder caught in one account cannot have a second one approved meanwhile.
//!
//! Everything a lifecycle step needs to know is passed in; the HTTP layer reads it from the
//! store, asks here, then writes and ledgers.

use crate::ids::{AgentId, OrgId};
use crate::org::{Agent, OrgKind, Organization, Role};
use crate::time::Timestamp;

/// A pending request expires after 72 hours.
pub const REQUEST_TTL_MS: i64 = 72 * 3600 * 1000;
/// An enrolment link works once, within 24 hours.
pub const ENROLMENT_TTL_MS: i64 = 24 * 3600 * 1000;
/// New accounts are on probation (stricter quotas in the detector) for 14 days.
pub const PROBATION_MS: i64 = 14 * 24 * 3600 * 1000;
/// At most this many requests per requester per day: an account administrator creating
/// accounts in bulk is itself a signal, and a hijacked one is slowed down.
pub const MAX_REQUESTS_PER_DAY: usize = 20;

/// Roles that sign in with a passkey only (they can create or watch accounts).
pub fn passkey_required(role: Role) -> bool {
    matches!(role, Role::AccountAdmin | Role::SecurityOfficer)
}

/// Roles whose creation must be approved by a security officer.
fn privileged(role: Role) -> bool {
    passkey_required(role)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestState {
    Pending,
    Approved,
    Rejected,
    Expired,
}

impl RequestState {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Approved => "approved",
            RequestState::Rejected => "rejected",
            RequestState::Expired => "expired",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Rejected, Self::Expired].into_iter().find(|r| r.as_str() == s)
    }
}

/// A request to create an account, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRequest {
    pub id: u64,
    pub org: OrgId,
    pub requested_by: AgentId,
    pub login: crate::ids::Login,
    pub display_name: String,
    pub email: String,
    pub role: Role,
    pub team: Option<crate::ids::TeamId>,
    pub justification: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub state: RequestState,
    pub decided_by: Option<AgentId>,
    pub decided_at: Option<Timestamp>,
    pub agent: Option<AgentId>,
}

impl AccountRequest {
    /// The state as of `now`: a pending request past its expiry is expired.
    pub fn state_at(&self, now: Timestamp) -> RequestState {
        if self.state == RequestState::Pending && now >= self.expires_at { RequestState::Expired } else { self.state }
    }
}

/// Why a lifecycle step is refused. The text is shown to the person (it names no one else's
/// data) and recorded in the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("only an account_admin or a security_officer can request, approve or disable accounts")]
    NotAnAdministrator,
    #[error("an account of another organization")]
    OtherOrganization,
    #[error("you cannot approve your own request")]
    OwnRequest,
    #[error("you cannot approve a request from the account that asked for yours")]
    RequestedByYourCreator,
    #[error("you cannot approve a request from an account you asked for or approved")]
    RequestedByYourCreation,
    #[error("you cannot disable your own account")]
    Yourself,
    #[error("only a security_officer can disable a security_officer")]
    OfficerOnly,
    #[error("requests for account_admin or security_officer accounts must be approved by a security_officer")]
    NeedsSecurityOfficer,
    #[error("the request is no longer pending")]
    NotPending,
    #[error("the request has expired")]
    Expired,
    #[error("a fresh second factor is needed first (step-up)")]
    StepUpRequired,
    #[error("your organization or account is not active")]
    Inactive,
    #[error("too many account requests today")]
    TooManyRequests,
    #[error("a security_officer of an organization cannot be created by a partner's account_admin")]
    RoleNotGrantable,
    #[error(
        "account creation in this organization is frozen since one of its accounts was suspended by the detector; a security_officer must lift the freeze"
    )]
    OrganizationFrozen,
    #[error("only a security_officer can lift a freeze on account creation")]
    LiftNeedsSecurityOfficer,
    #[error("only the agent's manager (its team's) or a security_officer can lift the detector's throttle on it")]
    NotItsManager,
    #[error("only a security_officer registers a service account's key")]
    ServiceNeedsSecurityOfficer,
}

/// A freeze on account creation in an organization, set when the detector suspends one of its
/// accounts: why, when, and the account that was suspended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgFreeze {
    pub org: OrgId,
    pub frozen_at: Timestamp,
    /// A short code, e.g. `account_suspended`.
    pub reason: String,
    pub agent: Option<AgentId>,
}

/// The freeze reason when the detector suspends an account.
pub const FROZEN_BY_SUSPENSION: &str = "account_suspended";

/// Account creation (a request, an approval) in an organization under `freeze`: refused while
/// one holds.
pub fn creation_open(freeze: Option<&OrgFreeze>) -> Result<(), Refusal> {
    match freeze {
        Some(_) => Err(Refusal::OrganizationFrozen),
        None => Ok(()),
    }
}

/// Who is acting: the agent, its organization, whether its session is elevated (a step-up in
/// the last 15 minutes), and who requested the actor's own account, if anyone did.
#[derive(Clone, Copy, Debug)]
pub struct Actor<'a> {
    pub agent: &'a Agent,
    pub org: &'a Organization,
    pub elevated: bool,
    pub created_by: Option<AgentId>,
}

fn administrator(actor: &Actor<'_>) -> Result<(), Refusal> {
    if !actor.agent.active || !actor.org.active {
        return Err(Refusal::Inactive);
    }
    if !matches!(actor.agent.role, Role::AccountAdmin | Role::SecurityOfficer) {
        return Err(Refusal::NotAnAdministrator);
    }
    Ok(())
}

/// May `actor` ask for an account with `role` in its own organization?
/// `requests_today`: how many requests the actor made in the last 24 hours.
pub fn may_request(actor: &Actor<'_>, role: Role, requests_today: usize) -> Result<(), Refusal> {
    administrator(actor)?;
    if role == Role::SecurityOfficer && actor.agent.role != Role::SecurityOfficer {
        return Err(Refusal::RoleNotGrantable);
    }
    if !actor.elevated {
        return Err(Refusal::StepUpRequired);
    }
    if requests_today >= MAX_REQUESTS_PER_DAY {
        return Err(Refusal::TooManyRequests);
    }
    Ok(())
}

/// Who created and approved the account that made a request (`None` for accounts loaded by
/// an operator).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequesterOrigin {
    pub created_by: Option<AgentId>,
    pub approved_by: Option<AgentId>,
}

/// May `actor` approve (or reject) `request` at `now`? `requester`: where the requesting
/// account came from. Two accounts of one intruder must not be able to vouch for each other
/// in either direction.
pub fn may_decide(
    actor: &Actor<'_>,
    request: &AccountRequest,
    requester: RequesterOrigin,
    now: Timestamp,
) -> Result<(), Refusal> {
    administrator(actor)?;
    match request.state_at(now) {
        RequestState::Pending => {}
        RequestState::Expired => return Err(Refusal::Expired),
        _ => return Err(Refusal::NotPending),
    }
    if request.requested_by == actor.agent.id {
        return Err(Refusal::OwnRequest);
    }
    if actor.created_by == Some(request.requested_by) {
        return Err(Refusal::RequestedByYourCreator);
    }
    if requester.created_by == Some(actor.agent.id) || requester.approved_by == Some(actor.agent.id) {
        return Err(Refusal::RequestedByYourCreation);
    }
    let same_org = actor.agent.org == request.org;
    let agency_officer = actor.agent.role == Role::SecurityOfficer && actor.org.kind == OrgKind::Agency;
    if !same_org && !agency_officer {
        return Err(Refusal::OtherOrganization);
    }
    if privileged(request.role) && actor.agent.role != Role::SecurityOfficer {
        return Err(Refusal::NeedsSecurityOfficer);
    }
    if !actor.elevated {
        return Err(Refusal::StepUpRequired);
    }
    Ok(())
}

/// May `actor` see and end `target`'s sessions (a device lost, a cookie stolen)? The
/// administrators of the target's organization and an agency's security officers.
pub fn may_manage_sessions(actor: &Actor<'_>, target: &Agent) -> Result<(), Refusal> {
    administrator(actor)?;
    let agency_officer = actor.agent.role == Role::SecurityOfficer && actor.org.kind == OrgKind::Agency;
    if actor.agent.org != target.org && !agency_officer {
        return Err(Refusal::OtherOrganization);
    }
    if !actor.elevated {
        return Err(Refusal::StepUpRequired);
    }
    Ok(())
}

/// May `actor` disable `target`? Disabling only takes rights away, so one person suffices:
/// an account_admin or security_officer of the target's organization, or an agency's
/// security officer. Nobody disables themselves by mistake.
pub fn may_disable(actor: &Actor<'_>, target: &Agent) -> Result<(), Refusal> {
    administrator(actor)?;
    let agency_officer = actor.agent.role == Role::SecurityOfficer && actor.org.kind == OrgKind::Agency;
    if actor.agent.org != target.org && !agency_officer {
        return Err(Refusal::OtherOrganization);
    }
    if actor.agent.id == target.id {
        return Err(Refusal::Yourself);
    }
    if target.role == Role::SecurityOfficer && actor.agent.role != Role::SecurityOfficer {
        return Err(Refusal::OfficerOnly);
    }
    if !actor.elevated {
        return Err(Refusal::StepUpRequired);
    }
    Ok(())
}

/// May `actor` see whether account creation in `org` is frozen? Its administrators and an
/// agency's security officers.
pub fn may_see_freeze(actor: &Actor<'_>, org: OrgId) -> Result<(), Refusal> {
    administrator(actor)?;
    let agency_officer = actor.agent.role == Role::SecurityOfficer && actor.org.kind == OrgKind::Agency;
    if actor.agent.org != org && !agency_officer {
        return Err(Refusal::OtherOrganization);
    }
    Ok(())
}

/// May `actor` lift the freeze on account creation in `org`? A security officer of the
/// organization or of an agency, stepped up: lifting gives back the power to create accounts,
/// so it takes the role that watches them, never an account_admin.
pub fn may_lift_freeze(actor: &Actor<'_>, org: OrgId) -> Result<(), Refusal> {
    administrator(actor)?;
    if actor.agent.role != Role::SecurityOfficer {
        return Err(Refusal::LiftNeedsSecurityOfficer);
    }
    may_see_freeze(actor, org)?;
    if !actor.elevated {
        return Err(Refusal::StepUpRequired);
    }
    Ok(())
}

/// May `actor` lift the throttle the detector put on `subject` (its pace past a passed step-up,
/// or a campaign link)? Its manager (a manager of its organization, of its team when it has
/// one) or a security officer of its organization or of an agency, stepped up: the human who
/// can ask the agent why, or the one who watches the alerts. Never the agent itself.
pub fn may_lift_throttle(actor: &Actor<'_>, subject: &Agent) -> Result<(), Refusal> {
    if !actor.agent.active || !actor.org.active {
        return Err(Refusal::Inactive);
    }
    if actor.agent.id == subject.id {
        return Err(Refusal::Yourself);
    }
    let manager = actor.agent.role == Role::Manager
        && actor.agent.org == subject.org
        && (subject.team.is_none() || subject.team == actor.agent.team);
    let officer = actor.agent.role == Role::SecurityOfficer
        && (actor.agent.org == subject.org || actor.org.kind == OrgKind::Agency);
    if !(manager || officer) {
        return Err(Refusal::NotItsManager);
    }
    if !actor.elevated {
        return Err(Refusal::StepUpRequired);
    }
    Ok(())
}

/// May `actor` register a service account's key and envelope for `subject`? A security
/// officer of its organization or of an agency, stepped up (a key opens the registry to a
/// machine: the role that watches, never an account_admin alone).
pub fn may_register_service(actor: &Actor<'_>, subject: &Agent) -> Result<(), Refusal> {
    administrator(actor)?;
    if actor.agent.role != Role::SecurityOfficer {
        return Err(Refusal::ServiceNeedsSecurityOfficer);
    }
    if actor.agent.org != subject.org && actor.org.kind != OrgKind::Agency {
        return Err(Refusal::OtherOrganization);
    }
    if !actor.elevated {
        return Err(Refusal::StepUpRequired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Login;

    fn org(n: u64, kind: OrgKind) -> Organization {
        Organization { id: OrgId::new(n).unwrap(), name: format!("org {n}"), kind, active: true }
    }

    #[test]
    fn who_may_lift_a_throttle_and_register_a_service_key() {
        let agency = org(1, OrgKind::Agency);
        let partner = org(2, OrgKind::TrainingOrg);
        let mut subject = agent(10, 1, Role::Advisor);
        subject.team = crate::ids::TeamId::new(5);
        let mut manager = agent(11, 1, Role::Manager);
        manager.team = crate::ids::TeamId::new(5);
        let mut other_team = agent(12, 1, Role::Manager);
        other_team.team = crate::ids::TeamId::new(6);
        let officer = agent(13, 1, Role::SecurityOfficer);
        let partner_manager = agent(14, 2, Role::Manager);
        let act = |a, o, elevated| Actor { agent: a, org: o, elevated, created_by: None };
        assert_eq!(may_lift_throttle(&act(&manager, &agency, true), &subject), Ok(()));
        assert_eq!(may_lift_throttle(&act(&officer, &agency, true), &subject), Ok(()));
        assert_eq!(may_lift_throttle(&act(&other_team, &agency, true), &subject), Err(Refusal::NotItsManager));
        assert_eq!(may_lift_throttle(&act(&partner_manager, &partner, true), &subject), Err(Refusal::NotItsManager));
        assert_eq!(may_lift_throttle(&act(&subject, &agency, true), &subject), Err(Refusal::Yourself));
        assert_eq!(may_lift_throttle(&act(&officer, &agency, false), &subject), Err(Refusal::StepUpRequired));
        let service = agent(20, 2, Role::Advisor);
        assert_eq!(may_register_service(&act(&officer, &agency, true), &service), Ok(()));
        let admin = agent(21, 2, Role::AccountAdmin);
        assert_eq!(
            may_register_service(&act(&admin, &partner, true), &service),
            Err(Refusal::ServiceNeedsSecurityOfficer)
        );
    }

    fn agent(n: u64, org: u64, role: Role) -> Agent {
        Agent {
            id: AgentId::new(n).unwrap(),
            login: format!("agent{n}").parse().unwrap(),
            display_name: format!("Agent {n}"),
            email: format!("agent{n}@example.org"),
            org: OrgId::new(org).unwrap(),
            role,
            team: None,
            active: true,
        }
    }

    fn request(by: u64, org: u64, role: Role) -> AccountRequest {
        AccountRequest {
            id: 1,
            org: OrgId::new(org).unwrap(),
            requested_by: AgentId::new(by).unwrap(),
            login: "new.agent".parse::<Login>().unwrap(),
            display_name: "New Agent".into(),
            email: "new.agent@example.org".into(),
            role,
            team: None,
            justification: "hired".into(),
            created_at: Timestamp(0),
            expires_at: Timestamp(REQUEST_TTL_MS),
            state: RequestState::Pending,
            decided_by: None,
            decided_at: None,
            agent: None,
        }
    }

    /// (actor role, actor org kind, actor org, elevated, created_by, request by, request org,
    /// request role, at) → outcome.
    #[test]
    fn approval_table() {
        use Refusal::*;
        use Role::*;
        let partner = 2;
        let agency = 1;
        type Case = (&'static str, Role, u64, bool, Option<u64>, u64, u64, Role, i64, Result<(), Refusal>);
        let cases: &[Case] = &[
            ("second admin of the org", AccountAdmin, partner, true, None, 10, partner, Advisor, 1, Ok(())),
            ("requester approving self", AccountAdmin, partner, true, None, 11, partner, Advisor, 1, Err(OwnRequest)),
            ("not stepped up", AccountAdmin, partner, false, None, 10, partner, Advisor, 1, Err(StepUpRequired)),
            ("advisor", Advisor, partner, true, None, 10, partner, Advisor, 1, Err(NotAnAdministrator)),
            ("admin of another org", AccountAdmin, 3, true, None, 10, partner, Advisor, 1, Err(OtherOrganization)),
            ("agency security officer", SecurityOfficer, agency, true, None, 10, partner, Advisor, 1, Ok(())),
            (
                "admin role needs officer",
                AccountAdmin,
                partner,
                true,
                None,
                10,
                partner,
                AccountAdmin,
                1,
                Err(NeedsSecurityOfficer),
            ),
            ("officer approves admin", SecurityOfficer, partner, true, None, 10, partner, AccountAdmin, 1, Ok(())),
            (
                "created by the requester",
                AccountAdmin,
                partner,
                true,
                Some(10),
                10,
                partner,
                Advisor,
                1,
                Err(RequestedByYourCreator),
            ),
            ("expired", AccountAdmin, partner, true, None, 10, partner, Advisor, REQUEST_TTL_MS, Err(Expired)),
        ];
        for (name, role, org_n, elevated, created_by, by, req_org, req_role, at, want) in cases.iter().cloned() {
            let kind = if org_n == agency { OrgKind::Agency } else { OrgKind::TrainingOrg };
            let o = org(org_n, kind);
            let a = agent(11, org_n, role);
            let actor = Actor { agent: &a, org: &o, elevated, created_by: created_by.and_then(AgentId::new) };
            assert_eq!(
                may_decide(&actor, &request(by, req_org, req_role), RequesterOrigin::default(), Timestamp(at)),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn decided_requests_stay_decided() {
        let o = org(2, OrgKind::TrainingOrg);
        let a = agent(11, 2, Role::AccountAdmin);
        let actor = Actor { agent: &a, org: &o, elevated: true, created_by: None };
        let mut r = request(10, 2, Role::Advisor);
        r.state = RequestState::Approved;
        assert_eq!(may_decide(&actor, &r, RequesterOrigin::default(), Timestamp(1)), Err(Refusal::NotPending));
        r.state = RequestState::Rejected;
        assert_eq!(may_decide(&actor, &r, RequesterOrigin::default(), Timestamp(1)), Err(Refusal::NotPending));
    }

    #[test]
    fn accounts_of_one_intruder_cannot_vouch_for_each_other() {
        let o = org(2, OrgKind::TrainingOrg);
        let a = agent(11, 2, Role::AccountAdmin);
        let actor = Actor { agent: &a, org: &o, elevated: true, created_by: None };
        let r = request(10, 2, Role::Advisor);
        let made_by_me = RequesterOrigin { created_by: Some(a.id), approved_by: None };
        assert_eq!(may_decide(&actor, &r, made_by_me, Timestamp(1)), Err(Refusal::RequestedByYourCreation));
        let approved_by_me = RequesterOrigin { created_by: None, approved_by: Some(a.id) };
        assert_eq!(may_decide(&actor, &r, approved_by_me, Timestamp(1)), Err(Refusal::RequestedByYourCreation));
    }

    #[test]
    fn requesting() {
        let o = org(2, OrgKind::TrainingOrg);
        let admin = agent(10, 2, Role::AccountAdmin);
        let actor = Actor { agent: &admin, org: &o, elevated: true, created_by: None };
        assert_eq!(may_request(&actor, Role::Advisor, 0), Ok(()));
        assert_eq!(may_request(&actor, Role::SecurityOfficer, 0), Err(Refusal::RoleNotGrantable));
        assert_eq!(may_request(&actor, Role::Advisor, MAX_REQUESTS_PER_DAY), Err(Refusal::TooManyRequests));
        let lazy = Actor { elevated: false, ..actor };
        assert_eq!(may_request(&lazy, Role::Advisor, 0), Err(Refusal::StepUpRequired));
        let adv = agent(12, 2, Role::Advisor);
        let actor = Actor { agent: &adv, org: &o, elevated: true, created_by: None };
        assert_eq!(may_request(&actor, Role::Advisor, 0), Err(Refusal::NotAnAdministrator));
        let mut inactive = org(2, OrgKind::TrainingOrg);
        inactive.active = false;
        let actor = Actor { agent: &admin, org: &inactive, elevated: true, created_by: None };
        assert_eq!(may_request(&actor, Role::Advisor, 0), Err(Refusal::Inactive));
    }

    #[test]
    fn disabling() {
        let o = org(2, OrgKind::TrainingOrg);
        let admin = agent(10, 2, Role::AccountAdmin);
        let actor = Actor { agent: &admin, org: &o, elevated: true, created_by: None };
        assert_eq!(may_disable(&actor, &agent(20, 2, Role::Advisor)), Ok(()));
        assert_eq!(may_disable(&actor, &admin), Err(Refusal::Yourself));
        assert_eq!(may_disable(&actor, &agent(21, 2, Role::SecurityOfficer)), Err(Refusal::OfficerOnly));
        assert_eq!(may_disable(&actor, &agent(20, 3, Role::Advisor)), Err(Refusal::OtherOrganization));
        let agency = org(1, OrgKind::Agency);
        let officer = agent(30, 1, Role::SecurityOfficer);
        let actor = Actor { agent: &officer, org: &agency, elevated: true, created_by: None };
        assert_eq!(may_disable(&actor, &agent(20, 3, Role::Advisor)), Ok(()));
        assert_eq!(may_manage_sessions(&actor, &agent(20, 3, Role::Advisor)), Ok(()));
        let o = org(2, OrgKind::TrainingOrg);
        let adv = agent(12, 2, Role::Advisor);
        let actor = Actor { agent: &adv, org: &o, elevated: true, created_by: None };
        assert_eq!(may_manage_sessions(&actor, &agent(20, 2, Role::Advisor)), Err(Refusal::NotAnAdministrator));
    }

    #[test]
    fn a_frozen_organization_creates_nothing() {
        let freeze = OrgFreeze {
            org: OrgId::new(2).unwrap(),
            frozen_at: Timestamp(1),
            reason: FROZEN_BY_SUSPENSION.into(),
            agent: AgentId::new(20),
        };
        assert_eq!(creation_open(None), Ok(()));
        assert_eq!(creation_open(Some(&freeze)), Err(Refusal::OrganizationFrozen));
        assert!(Refusal::OrganizationFrozen.to_string().contains("security_officer must lift"));
    }

    /// (actor role, actor org, elevated, frozen org) → may see, may lift.
    #[test]
    fn lifecycle_freeze_table() {
        use Refusal::*;
        use Role::*;
        let (agency, partner, other) = (1, 2, 3);
        type Case = (&'static str, Role, u64, bool, Result<(), Refusal>, Result<(), Refusal>);
        let cases: &[Case] = &[
            ("officer of the org", SecurityOfficer, partner, true, Ok(()), Ok(())),
            ("officer of the org, not stepped up", SecurityOfficer, partner, false, Ok(()), Err(StepUpRequired)),
            ("agency officer", SecurityOfficer, agency, true, Ok(()), Ok(())),
            ("account admin of the org", AccountAdmin, partner, true, Ok(()), Err(LiftNeedsSecurityOfficer)),
            (
                "officer of another partner",
                SecurityOfficer,
                other,
                true,
                Err(OtherOrganization),
                Err(OtherOrganization),
            ),
            (
                "admin of another partner",
                AccountAdmin,
                other,
                true,
                Err(OtherOrganization),
                Err(LiftNeedsSecurityOfficer),
            ),
            ("advisor of the org", Advisor, partner, true, Err(NotAnAdministrator), Err(NotAnAdministrator)),
        ];
        let frozen = OrgId::new(partner).unwrap();
        for (name, role, org_n, elevated, see, lift) in cases.iter().cloned() {
            let kind = if org_n == agency { OrgKind::Agency } else { OrgKind::MissionLocale };
            let o = org(org_n, kind);
            let a = agent(11, org_n, role);
            let actor = Actor { agent: &a, org: &o, elevated, created_by: None };
            assert_eq!(may_see_freeze(&actor, frozen), see, "see: {name}");
            assert_eq!(may_lift_freeze(&actor, frozen), lift, "lift: {name}");
        }
    }
}
