//! The detector's human side: a manager or a security officer lifting the throttle the detector
//! put on an account (past a passed step-up, or a campaign link), a manager declaring a
//! campaign, an agent creating a relationship (judged by the detector like a read), a security
//! officer registering a service account's key, and a service account signing in with a client
//! assertion. Every grant is ledgered before it takes effect.

use serde::Deserialize;
use vigie_core::campaign::{CampaignDeclaration, CampaignError};
use vigie_core::event::{Actor as EventActor, VerdictAction};
use vigie_core::guard::GuardError;
use vigie_core::ids::{AgentId, FtId, PersonId};
use vigie_core::lifecycle::{self, Actor};
use vigie_core::nir::Nir;
use vigie_core::org::{Agent, OrgKind};
use vigie_core::ports::{DetectContext, RelationshipEvent};
use vigie_core::relationship::{Relationship, RelationshipKind};
use vigie_core::security::SecurityKind;
use vigie_core::service::{BoundKey, Envelope, ServiceAccount, ServiceAccountError};
use vigie_core::time::{Timestamp, parse_date};

use crate::actions::accounts::refusal;
use crate::actions::store_err;
use crate::actions::verdicts::{STEP_UP_DETAIL, demand_step_up, enforce};
use crate::shared::auth::Authed;
use crate::shared::client::Client;
use crate::shared::params::request_id;
use crate::shared::problem::Problem;
use crate::shared::state::AppState;

fn actor<'a>(st: &AppState, authed: &'a Authed) -> Result<Actor<'a>, Problem> {
    let origin = st.accounts.account_origin(authed.caller.agent.id).map_err(store_err)?;
    Ok(Actor {
        agent: &authed.caller.agent,
        org: &authed.caller.org,
        elevated: authed.recent_factor(),
        created_by: origin.created_by,
    })
}

fn agent(st: &AppState, id: AgentId) -> Result<Agent, Problem> {
    st.registry.agent(id).map_err(store_err)?.ok_or_else(Problem::not_found)
}

/// Lifts the detector's throttle on `subject`: its manager or a security officer, stepped up;
/// recorded before it takes effect. Returns whether a throttle was in force.
pub fn lift_throttle(st: &AppState, authed: &Authed, client: &Client, subject: AgentId) -> Result<bool, Problem> {
    let now = st.clock.now();
    let subject = agent(st, subject)?;
    lifecycle::may_lift_throttle(&actor(st, authed)?, &subject).map_err(refusal)?;
    st.record(&[authed.event(now, SecurityKind::DetectorThrottleLifted, client).subject(subject.id)])?;
    Ok(st.guard.detector.lift(subject.id, authed.caller.agent.id, now))
}

/// A campaign as a manager declares it.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct CampaignRequest {
    /// `team` (the manager's own) or `organization` (all of it).
    pub scope: String,
    pub reason: Option<String>,
    pub persons_per_agent: u32,
    /// How long, from now.
    pub hours: u32,
}

/// Declares a campaign: checked by the core (a reason from the closed list, at most two weeks,
/// a bounded volume, by a manager of the organization or a security officer), ledgered, stored,
/// then given to the detector.
pub fn declare_campaign(
    st: &AppState,
    authed: &Authed,
    client: &Client,
    req: CampaignRequest,
) -> Result<CampaignDeclaration, Problem> {
    let now = st.clock.now();
    let me = &authed.caller;
    let team = match req.scope.as_str() {
        "team" => Some(
            me.agent
                .team
                .ok_or_else(|| Problem::invalid("scope", "you have no team: declare it for the organization"))?,
        ),
        "organization" => None,
        other => {
            return Err(Problem::invalid(
                "scope",
                format!("`{}`: team or organization", other.chars().take(32).collect::<String>()),
            ));
        }
    };
    let until = Timestamp(now.millis().saturating_add(i64::from(req.hours) * 3_600_000));
    let c = CampaignDeclaration::new(
        &me.agent,
        &me.org,
        me.agent.org,
        team,
        true,
        req.reason.as_deref(),
        req.persons_per_agent,
        now,
        until,
    )
    .map_err(campaign_problem)?;
    if !authed.recent_factor() {
        return Err(Problem::step_up_required("declaring a campaign needs a second factor from the last 15 minutes"));
    }
    st.record(&[authed
        .event(now, SecurityKind::CampaignDeclared, client)
        .detail("organization", c.org)
        .detail("team", c.team.map_or("all".to_owned(), |t| t.to_string()))
        .detail("reason", c.reason.as_str())
        .detail("persons_per_agent", c.persons_per_agent)
        .detail("until", c.until)])?;
    st.accounts.store_campaign(&c).map_err(store_err)?;
    st.guard.detector.declare_campaign(&c);
    Ok(c)
}

fn campaign_problem(e: CampaignError) -> Problem {
    let field = match e {
        CampaignError::MissingReason | CampaignError::UnknownReason(_) => "reason",
        CampaignError::TooLong(_) | CampaignError::EndsBeforeStart => "hours",
        CampaignError::Persons(_) => "persons_per_agent",
        CampaignError::ForeignTeam => "scope",
        CampaignError::NotAManager => return Problem::forbidden(e.to_string()),
    };
    Problem::invalid(field, e.to_string())
}

/// A relationship as an agent creates it: by the person's exact key (the person called, came
/// in, was referred), never by browsing.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationshipRequest {
    pub nir: Option<String>,
    pub ft_id: Option<String>,
    pub birth_date: String,
}

/// Debug shows no identifier.
impl std::fmt::Debug for RelationshipRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelationshipRequest").finish_non_exhaustive()
    }
}

/// How long a created relationship holds: a follow-up until it is renewed by the organization's
/// own records (the registry's), four weeks.
const CREATED_DAYS: i64 = 28;

/// Creates a relationship between the caller and the person its key names, if the detector
/// allows it (creating one is what opens a person's record). The kind follows the caller's
/// organization: a caseload entry (agency, Cap emploi), a follow-up (mission locale), an
/// assignment (subcontractor); training organizations enrol through their sessions' registers.
pub fn create_relationship(
    st: &AppState,
    authed: &Authed,
    client: &Client,
    req: RelationshipRequest,
    reason: Option<vigie_core::ports::AccessReason>,
) -> Result<Relationship, Problem> {
    let now = st.clock.now();
    let me = &*crate::shared::params::with_reason(&authed.caller, reason);
    let birth = parse_date(&req.birth_date).ok_or_else(|| Problem::invalid("birth_date", "a date YYYY-MM-DD"))?;
    let found = match (&req.nir, &req.ft_id) {
        (Some(n), None) => {
            let nir: Nir = n.parse().map_err(|e: vigie_core::nir::NirError| Problem::invalid("nir", e.to_string()))?;
            st.registry.find_by_nir(&nir, birth)
        }
        (None, Some(f)) => {
            let ft: FtId = f.parse().map_err(|e: vigie_core::ids::IdError| Problem::invalid("ft_id", e.to_string()))?;
            st.registry.find_by_ft_id(&ft, birth)
        }
        _ => return Err(Problem::invalid("nir", "give exactly one of nir and ft_id")),
    }
    .map_err(store_err)?;
    // The earliest record the key names (its re-registrations follow it).
    let Some(person): Option<PersonId> = found.into_iter().min() else { return Err(Problem::not_found()) };
    let kind = match me.org.kind {
        OrgKind::Agency | OrgKind::CapEmploi => RelationshipKind::Caseload,
        OrgKind::MissionLocale => RelationshipKind::FollowUp,
        OrgKind::Subcontractor => RelationshipKind::Assignment,
        OrgKind::TrainingOrg => {
            return Err(Problem::forbidden("a training organization enrols through its sessions' registers"));
        }
    };
    let caseload = kind == RelationshipKind::Caseload;
    let today = now.date();
    let rel = Relationship {
        kind,
        person,
        org: me.org.id,
        agent: caseload.then_some(me.agent.id),
        team: if caseload { me.agent.team } else { None },
        session: None,
        valid_from: today,
        valid_to: today.checked_add(time::Duration::days(CREATED_DAYS)),
    };
    let event = RelationshipEvent {
        at: now,
        request: request_id(),
        actor: EventActor {
            agent: me.agent.id,
            org: me.org.id,
            org_kind: me.org.kind,
            role: me.agent.role,
            session: me.session,
        },
        person,
        kind,
    };
    let ctx = DetectContext {
        probation: me.probation,
        elevated: me.elevated,
        reason: me.reason,
        sign_in: me.sign_in,
        team: me.agent.team,
    };
    let verdict = st.guard.detector.relationship(&event, &ctx);
    let effective = verdict.action.effective(me.elevated, me.reason.is_some());
    let created = effective == VerdictAction::Allow;
    st.record(&[authed
        .event(now, SecurityKind::RelationshipRequested, client)
        .detail("person", person)
        .detail("kind", kind.as_str())
        .detail("verdict", verdict.action.as_str())
        .detail("reasons", verdict.reasons.join("; "))
        .detail("created", created)])?;
    match effective {
        VerdictAction::Allow => {
            st.registry.create_relationship(&rel).map_err(store_err)?;
            Ok(rel)
        }
        VerdictAction::Friction => Err(Problem::reason_required()),
        VerdictAction::StepUp => {
            demand_step_up(st, authed, client)?;
            Err(Problem::step_up_required(STEP_UP_DETAIL))
        }
        VerdictAction::Throttle => Err(Problem::quota_reached()),
        VerdictAction::SuspendSession => Err(enforce(st, authed, client, GuardError::SessionSuspended)),
        VerdictAction::SuspendAccount => Err(enforce(st, authed, client, GuardError::AccountSuspended)),
    }
}

/// A service account as a security officer registers it.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountRequest {
    pub agent: String,
    pub key: Option<KeyRequest>,
    pub persons_hour: u32,
    pub persons_day: u32,
}

/// The key a service account's credentials are bound to.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
pub enum KeyRequest {
    /// An ES256 public key, its uncompressed point in base64url (65 bytes).
    ClientAssertionEs256 { public_key: String },
    /// A TLS client certificate's SHA-256 thumbprint, in hex.
    TlsCertificate { sha256: String },
}

/// Registers a service account: checked by the core (a bound key, a sane envelope), allowed to
/// a security officer stepped up, ledgered, stored.
pub fn register_service_account(
    st: &AppState,
    authed: &Authed,
    client: &Client,
    req: ServiceAccountRequest,
) -> Result<ServiceAccount, Problem> {
    use base64::Engine;
    let now = st.clock.now();
    let id: AgentId =
        req.agent.parse().map_err(|e: vigie_core::ids::IdError| Problem::invalid("agent", e.to_string()))?;
    let subject = agent(st, id)?;
    let key = match req.key {
        None => None,
        Some(KeyRequest::ClientAssertionEs256 { public_key }) => Some(BoundKey::ClientAssertionEs256 {
            public_key: base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(public_key.trim_end_matches('='))
                .map_err(|_| Problem::invalid("key", "public_key: not base64url"))?,
        }),
        Some(KeyRequest::TlsCertificate { sha256 }) => {
            let bytes: Vec<u8> = (0..sha256.len())
                .step_by(2)
                .map(|i| sha256.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
                .collect::<Option<_>>()
                .ok_or_else(|| Problem::invalid("key", "sha256: not hexadecimal"))?;
            let sha256 =
                bytes.try_into().map_err(|_| Problem::invalid("key", "sha256: a SHA-256 thumbprint is 32 bytes"))?;
            Some(BoundKey::TlsCertificate { sha256 })
        }
    };
    let envelope = Envelope { persons_hour: req.persons_hour, persons_day: req.persons_day };
    let account = ServiceAccount::new(subject.id, key, envelope).map_err(|e| {
        let field = match e {
            ServiceAccountError::NoBoundKey | ServiceAccountError::BadKey(_) => "key",
            _ => "envelope",
        };
        Problem::invalid(field, e.to_string())
    })?;
    lifecycle::may_register_service(&actor(st, authed)?, &subject).map_err(refusal)?;
    st.record(&[authed
        .event(now, SecurityKind::ServiceAccountRegistered, client)
        .subject(subject.id)
        .detail("key", account.key.kind())
        .detail("persons_hour", envelope.persons_hour)
        .detail("persons_day", envelope.persons_day)])?;
    st.accounts.register_service_account(&account, now, Some(authed.caller.agent.id)).map_err(store_err)?;
    Ok(account)
}
