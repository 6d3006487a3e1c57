//! The access event: the one record of what happened on the guarded path.
//!
//! The guard produces it, the detector consumes it, the ledger stores its canonical encoding,
//! the simulator scores it, incident scoping reads it back. It holds ids and categories, never
//! a person's data (no name, NIR or contact detail can be put in it: there is no field for them).
//!
//! The canonical encoding is written by hand, versioned, and independent of field order in the
//! struct, so that a refactor cannot silently change what the ledger hashes.

use std::sync::Arc;

use crate::category::{CategorySet, DataCategory};
use crate::ids::{AgentId, OrgId, PersonId, RequestId, SessionId};
use crate::org::{OrgKind, Role};
use crate::relationship::RelationshipKind;
use crate::time::Timestamp;

/// What the agent asked for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AccessAction {
    /// Read one person's record by internal id.
    View,
    /// Exact lookup by NIR + birth date.
    LookupByNir,
    /// Exact lookup by France Travail id + birth date.
    LookupByFtId,
    /// One line of the agent's scope list (names only).
    ScopeList,
    /// One row of a governed bulk extract (the actor is the requester, the request id names
    /// the extract).
    Extract,
}

impl AccessAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessAction::View => "view",
            AccessAction::LookupByNir => "lookup_nir",
            AccessAction::LookupByFtId => "lookup_ft_id",
            AccessAction::ScopeList => "scope_list",
            AccessAction::Extract => "extract",
        }
    }
    pub fn code(self) -> u8 {
        match self {
            AccessAction::View => 1,
            AccessAction::LookupByNir => 2,
            AccessAction::LookupByFtId => 3,
            AccessAction::ScopeList => 4,
            AccessAction::Extract => 5,
        }
    }
    pub fn from_code(c: u8) -> Option<Self> {
        [Self::View, Self::LookupByNir, Self::LookupByFtId, Self::ScopeList, Self::Extract]
            .into_iter()
            .find(|a| a.code() == c)
    }
}

/// The authorization outcome for the request as a whole.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Decision {
    /// At least one category was returned.
    Allow,
    /// The person exists or not; nothing was returned, and the caller was told "not found".
    Deny,
    /// An exact lookup matched nobody.
    NoMatch,
    /// An error on the decision path (store, policy evaluation): denied.
    Error,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::NoMatch => "no_match",
            Decision::Error => "error",
        }
    }
    pub fn code(self) -> u8 {
        match self {
            Decision::Allow => 1,
            Decision::Deny => 2,
            Decision::NoMatch => 3,
            Decision::Error => 4,
        }
    }
    pub fn from_code(c: u8) -> Option<Self> {
        [Self::Allow, Self::Deny, Self::NoMatch, Self::Error].into_iter().find(|d| d.code() == c)
    }
}

/// Why one category was or was not returned.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Effect {
    /// A permit policy matched and no forbid did.
    Permit,
    /// A forbid policy matched.
    Forbid,
    /// No permit policy matched (default deny).
    NoPermit,
    /// Evaluation errored: denied (Cedar skips erroring policies, including forbids).
    EvalError,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Permit => "permit",
            Effect::Forbid => "forbid",
            Effect::NoPermit => "no_permit",
            Effect::EvalError => "error",
        }
    }
    pub fn code(self) -> u8 {
        match self {
            Effect::Permit => 1,
            Effect::Forbid => 2,
            Effect::NoPermit => 3,
            Effect::EvalError => 4,
        }
    }
}

/// One line of a decision's explanation: the category, the effect, and the policy that
/// determined it (`None` for default deny).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Reason {
    pub category: DataCategory,
    pub effect: Effect,
    pub policy: Option<Arc<str>>,
}

/// The detector's verdict on an event. The foundation's detector always says `Allow`; the
/// detection issue adds the ladder (friction, step-up, throttle, suspend).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Verdict {
    pub action: VerdictAction,
    /// Signals and thresholds that led to it, as `name=value` strings.
    pub reasons: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum VerdictAction {
    Allow,
    /// Release once the agent says why, from a closed list of reasons (the friction rung):
    /// a request that carries a reason passes, and the reason goes to the ledger.
    Friction,
    /// Release nothing until the agent proves a fresh second factor (a step-up); a session
    /// that is already elevated passes.
    StepUp,
    /// Release nothing for now: the account has reached a quota (retry later).
    Throttle,
    /// End the session: a tripwire with corroboration.
    SuspendSession,
    /// Disable the account and end its sessions: a canary, or a suspended account.
    SuspendAccount,
}

impl VerdictAction {
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictAction::Allow => "allow",
            VerdictAction::Friction => "friction",
            VerdictAction::StepUp => "step_up",
            VerdictAction::Throttle => "throttle",
            VerdictAction::SuspendSession => "suspend_session",
            VerdictAction::SuspendAccount => "suspend_account",
        }
    }

    /// What the verdict amounts to for a request: a step-up already met (the session is
    /// elevated) or a friction prompt already answered (a reason was given) lets it pass. The
    /// guard and the simulator apply it alike.
    pub fn effective(self, elevated: bool, reason_given: bool) -> VerdictAction {
        match self {
            VerdictAction::StepUp if elevated => VerdictAction::Allow,
            VerdictAction::Friction if reason_given => VerdictAction::Allow,
            a => a,
        }
    }

    /// How strict: the guard applies the strictest verdict of a request.
    pub fn rank(self) -> u8 {
        match self {
            VerdictAction::Allow => 0,
            VerdictAction::Friction => 1,
            VerdictAction::StepUp => 2,
            VerdictAction::Throttle => 3,
            VerdictAction::SuspendSession => 4,
            VerdictAction::SuspendAccount => 5,
        }
    }
}

impl Verdict {
    pub fn allow() -> Self {
        Verdict { action: VerdictAction::Allow, reasons: Vec::new() }
    }
}

/// Who made the request, as the guard knows it from the session.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Actor {
    pub agent: AgentId,
    pub org: OrgId,
    pub org_kind: OrgKind,
    pub role: Role,
    pub session: SessionId,
}

/// What happened on the guarded path, for one person (or one lookup that matched nobody).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AccessEvent {
    pub at: Timestamp,
    pub request: RequestId,
    pub actor: Actor,
    pub action: AccessAction,
    /// `None` only for a lookup that matched nobody.
    pub person: Option<PersonId>,
    pub requested: CategorySet,
    pub returned: CategorySet,
    /// The relationship kind that justified the access, if one did.
    pub relationship: Option<RelationshipKind>,
    pub decision: Decision,
    pub reasons: Vec<Reason>,
    pub verdict: Verdict,
}

/// Version byte of the canonical encoding below.
pub const EVENT_ENCODING_V1: u8 = 1;

impl AccessEvent {
    /// Appends the canonical, versioned binary encoding of the event to `out`.
    ///
    /// Layout (all integers big-endian; strings as u16 length + UTF-8):
    /// version u8 | at i64 | request u128 | agent u64 | org u64 | org_kind u8 | role u8 |
    /// session u64 | action u8 | person u64 (0 = none) | requested u8 | returned u8 |
    /// relationship u8 (0 = none) | decision u8 | n_reasons u8 | n × (category u8, effect u8,
    /// policy str) | verdict u8 | n_verdict_reasons u8 | n × str
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(EVENT_ENCODING_V1);
        out.extend_from_slice(&self.at.0.to_be_bytes());
        out.extend_from_slice(&self.request.0.to_be_bytes());
        out.extend_from_slice(&self.actor.agent.get().to_be_bytes());
        out.extend_from_slice(&self.actor.org.get().to_be_bytes());
        out.push(self.actor.org_kind as u8 + 1);
        out.push(self.actor.role as u8 + 1);
        out.extend_from_slice(&self.actor.session.0.to_be_bytes());
        out.push(self.action.code());
        out.extend_from_slice(&self.person.map_or(0, PersonId::get).to_be_bytes());
        out.push(self.requested.bits());
        out.push(self.returned.bits());
        out.push(self.relationship.map_or(0, RelationshipKind::code));
        out.push(self.decision.code());
        let reasons = &self.reasons[..self.reasons.len().min(255)];
        out.push(reasons.len() as u8);
        for r in reasons {
            out.push(r.category as u8 + 1);
            out.push(r.effect.code());
            put_str(out, r.policy.as_deref().unwrap_or(""));
        }
        out.push(match self.verdict.action {
            VerdictAction::Allow => 1,
            VerdictAction::Friction => 2,
            VerdictAction::StepUp => 3,
            VerdictAction::Throttle => 4,
            VerdictAction::SuspendSession => 5,
            VerdictAction::SuspendAccount => 6,
        });
        let vr = &self.verdict.reasons[..self.verdict.reasons.len().min(255)];
        out.push(vr.len() as u8);
        for r in vr {
            put_str(out, r);
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The fixed-size head of an encoded event, decoded back for scoping and verification tools.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EventHead {
    pub at: Timestamp,
    pub request: RequestId,
    pub agent: AgentId,
    pub org: OrgId,
    pub org_kind: OrgKind,
    pub role: Role,
    pub session: SessionId,
    pub action: AccessAction,
    pub person: Option<PersonId>,
    pub requested: CategorySet,
    pub returned: CategorySet,
    pub decision: Decision,
    /// The detector's verdict (after the reasons, so read past them).
    pub verdict: VerdictAction,
}

impl EventHead {
    /// Decodes the head of a v1 encoding; `None` if it is not one.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() < 64 || b[0] != EVENT_ENCODING_V1 {
            return None;
        }
        let u64_at = |i: usize| b.get(i..i + 8).and_then(|s| s.try_into().ok()).map(u64::from_be_bytes);
        let at = Timestamp(u64_at(1)? as i64);
        let request = RequestId(u128::from_be_bytes(b.get(9..25)?.try_into().ok()?));
        let agent = AgentId::new(u64_at(25)?)?;
        let org = OrgId::new(u64_at(33)?)?;
        let org_kind = *OrgKind::ALL.get(usize::from(b[41]).checked_sub(1)?)?;
        let role = *Role::ALL.get(usize::from(b[42]).checked_sub(1)?)?;
        let session = SessionId(u64_at(43)?);
        let action = AccessAction::from_code(b[51])?;
        // 0 is a lookup that matched nobody; anything else must be a valid id, not read as
        // "nobody" (incident scoping would then miss a person who was read).
        let person = match u64_at(52)? {
            0 => None,
            n => Some(PersonId::new(n)?),
        };
        let requested = CategorySet::from_bits(b[60])?;
        let returned = CategorySet::from_bits(b[61])?;
        let decision = Decision::from_code(*b.get(63)?)?;
        // n_reasons × (category, effect, u16 length, policy), then the verdict.
        let mut pos = 65usize;
        for _ in 0..*b.get(64)? {
            let len = u16::from_be_bytes(b.get(pos + 2..pos + 4)?.try_into().ok()?);
            pos += 4 + usize::from(len);
        }
        let verdict = match *b.get(pos)? {
            1 => VerdictAction::Allow,
            2 => VerdictAction::Friction,
            3 => VerdictAction::StepUp,
            4 => VerdictAction::Throttle,
            5 => VerdictAction::SuspendSession,
            6 => VerdictAction::SuspendAccount,
            _ => return None,
        };
        Some(EventHead {
            at,
            request,
            agent,
            org,
            org_kind,
            role,
            session,
            action,
            person,
            requested,
            returned,
            decision,
            verdict,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> AccessEvent {
        AccessEvent {
            at: Timestamp(1_760_000_000_123),
            request: RequestId(0xfeed),
            actor: Actor {
                agent: AgentId::new(7).unwrap(),
                org: OrgId::new(3).unwrap(),
                org_kind: OrgKind::TrainingOrg,
                role: Role::Advisor,
                session: SessionId(99),
            },
            action: AccessAction::View,
            person: PersonId::new(1234),
            requested: CategorySet::ALL,
            returned: CategorySet::EMPTY.with(DataCategory::Identity),
            relationship: Some(RelationshipKind::Enrolment),
            decision: Decision::Allow,
            reasons: vec![
                Reason { category: DataCategory::Identity, effect: Effect::Permit, policy: Some("p1".into()) },
                Reason { category: DataCategory::Nir, effect: Effect::Forbid, policy: Some("p2".into()) },
            ],
            verdict: Verdict::allow(),
        }
    }

    #[test]
    fn encoding_is_stable() {
        let mut out = Vec::new();
        sample().encode(&mut out);
        // A change here changes every ledger hash: bump EVENT_ENCODING_V1 instead.
        let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "0100000199c82cc07b0000000000000000000000000000feed00000000000000070000000000000003040100000000000000630100000000000004d21f010201020101000270310202000270320100"
        );
        let head = EventHead::decode(&out).unwrap();
        assert_eq!(head.person, PersonId::new(1234));
        assert_eq!(head.decision, Decision::Allow);
        assert_eq!(head.returned, CategorySet::EMPTY.with(DataCategory::Identity));
        assert_eq!((head.session, head.requested), (SessionId(99), CategorySet::ALL));
    }

    #[test]
    fn decode_refuses_garbage() {
        assert!(EventHead::decode(&[]).is_none());
        assert!(EventHead::decode(&[2; 80]).is_none());
    }

    /// A person id above `i64::MAX` was read as "nobody" (the same flaw as the security event's
    /// ids, which the `events` fuzz target found).
    #[test]
    fn a_person_id_out_of_range_is_refused_not_read_as_nobody() {
        let mut out = Vec::new();
        sample().encode(&mut out);
        out[52] = 0x80;
        assert_eq!(EventHead::decode(&out), None);
        out[52..60].copy_from_slice(&[0; 8]);
        assert_eq!(EventHead::decode(&out).map(|h| h.person), Some(None), "0 is still nobody");
    }

    mod properties {
        use super::super::*;
        use crate::relationship::RelationshipKind;
        use proptest::prelude::*;

        fn verdict_action() -> impl Strategy<Value = VerdictAction> {
            prop::sample::select(vec![
                VerdictAction::Allow,
                VerdictAction::Friction,
                VerdictAction::StepUp,
                VerdictAction::Throttle,
                VerdictAction::SuspendSession,
                VerdictAction::SuspendAccount,
            ])
        }

        fn reason() -> impl Strategy<Value = Reason> {
            (
                prop::sample::select(DataCategory::ALL.to_vec()),
                prop::sample::select(vec![Effect::Permit, Effect::Forbid, Effect::NoPermit, Effect::EvalError]),
                prop::option::of("\\PC{0,40}"),
            )
                .prop_map(|(category, effect, policy)| Reason {
                    category,
                    effect,
                    policy: policy.map(Into::into),
                })
        }

        prop_compose! {
            fn access_event()(
                at in any::<i64>(), request in any::<u128>(),
                agent in 1..=i64::MAX as u64, org in 1..=i64::MAX as u64, session in any::<u64>(),
                org_kind in prop::sample::select(OrgKind::ALL.to_vec()),
                role in prop::sample::select(Role::ALL.to_vec()),
                action in prop::sample::select(vec![AccessAction::View, AccessAction::LookupByNir, AccessAction::LookupByFtId, AccessAction::ScopeList]),
                person in prop::option::of(1..=i64::MAX as u64),
                requested in 0u8..32, returned in 0u8..32,
                relationship in prop::option::of(prop::sample::select(RelationshipKind::ALL.to_vec())),
                decision in prop::sample::select(vec![Decision::Allow, Decision::Deny, Decision::NoMatch, Decision::Error]),
                reasons in prop::collection::vec(reason(), 0..6),
                verdict in verdict_action(),
                verdict_reasons in prop::collection::vec("\\PC{0,30}", 0..4),
            ) -> AccessEvent {
                AccessEvent {
                    at: Timestamp(at),
                    request: RequestId(request),
                    actor: Actor {
                        agent: AgentId::new(agent).unwrap(),
                        org: OrgId::new(org).unwrap(),
                        org_kind, role, session: SessionId(session),
                    },
                    action,
                    person: person.and_then(PersonId::new),
                    requested: CategorySet::from_bits(requested).unwrap(),
                    returned: CategorySet::from_bits(returned).unwrap(),
                    relationship, decision, reasons,
                    verdict: Verdict { action: verdict, reasons: verdict_reasons },
                }
            }
        }

        proptest! {
            /// Whatever the event, the head read back from its encoding is the event's: the
            /// detector's replay and incident scoping see what the guard decided.
            #[test]
            fn the_head_decoded_from_an_encoding_is_the_events(e in access_event()) {
                let mut out = Vec::new();
                e.encode(&mut out);
                let head = EventHead::decode(&out).expect("an encoded event decodes");
                prop_assert_eq!(head, EventHead {
                    at: e.at, request: e.request, agent: e.actor.agent, org: e.actor.org,
                    org_kind: e.actor.org_kind, role: e.actor.role, session: e.actor.session,
                    action: e.action, person: e.person, requested: e.requested,
                    returned: e.returned, decision: e.decision, verdict: e.verdict.action,
                });
                // An encoding cut anywhere before the verdict is refused, not read as another
                // event (the head does not read the verdict's reasons after it).
                let verdict_at = 65 + e.reasons.iter().map(|r| 4 + r.policy.as_deref().map_or(0, str::len)).sum::<usize>();
                prop_assert_eq!(out[verdict_at], e.verdict.action.rank() + 1);
                for cut in [0, 63, 64, verdict_at - 1, verdict_at] {
                    prop_assert!(EventHead::decode(&out[..cut]).is_none(), "cut at {}", cut);
                }
            }
        }
    }
}
