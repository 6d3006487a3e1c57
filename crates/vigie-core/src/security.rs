//! Security events: what happened to accounts, credentials and sessions (not to persons'
//! data, which is the access event's business). Sign-ins, step-ups, sessions ended and why,
//! passkeys added and removed, account requests, approvals, enrolments, disablements, and
//! freezes of an organization's account creation.
//!
//! They go into the same ledger as access events, in their own canonical encoding (first byte
//! [`SECURITY_ENCODING_V1`], distinct from the access event's), so the ledger tells one story
//! in order and an investigator sees "account created by A, approved by B, enrolled, then read
//! 40 persons" in one place. They hold ids, network prefixes and browser families, never a
//! secret and never a person's data.

use crate::ids::{AgentId, OrgId, SessionId};
use crate::time::Timestamp;

pub const SECURITY_ENCODING_V1: u8 = 0x20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecurityKind {
    SignIn,
    SignInFailed,
    SessionEnded,
    SessionRefused,
    StepUpDemanded,
    StepUp,
    StepUpFailed,
    PasskeyAdded,
    PasskeyRemoved,
    AccountRequested,
    AccountApproved,
    AccountRejected,
    EnrolmentSent,
    Enrolled,
    AccountDisabled,
    IdentityLinked,
    DeviceBound,
    /// Account creation in an organization frozen (an account of it was suspended).
    OrgCreationFrozen,
    /// The freeze lifted by a security officer.
    OrgCreationUnfrozen,
    /// Damaged bytes after the last published checkpoint cut from the ledger at start (the
    /// details say how many, which indexes at most, and where they were kept).
    LedgerTailCut,
    /// The keyring sealing second-factor secrets rotated by the operator (new key, keys retired).
    SecretsKeyRotated,
    /// A throttle the detector put on an account past a passed step-up (or a campaign link)
    /// lifted by its manager or a security officer.
    DetectorThrottleLifted,
    /// A campaign declared by a manager: thresholds widen for a bounded time.
    CampaignDeclared,
    /// A relationship an account asked to create (a follow-up, an assignment, a caseload
    /// entry): the detector's verdict, and whether it was created.
    RelationshipRequested,
    /// A service account's key and envelope registered by a security officer.
    ServiceAccountRegistered,
    /// An incident opened: its window and what it starts from.
    IncidentOpened,
    /// A proposed expansion of an incident accepted by an officer.
    IncidentExpansionAccepted,
    /// A proposed expansion of an incident refused by an officer.
    IncidentExpansionRefused,
    /// An incident scoped: the counts, the checkpoint cited, the digest of the person list.
    IncidentScoped,
    /// The notifications of an incident drafted and their sending started.
    IncidentNotified,
    /// An incident closed.
    IncidentClosed,
    /// Password sign-ins failed on one login from many networks within the hour: someone is
    /// trying to lock its agent out, or to guess from everywhere at once (the details name the
    /// login and how many networks).
    SignInTargeted,
    /// A security officer re-enabled an account (after a suspension by the detector or by hand).
    AccountReinstated,
    /// A security officer ran a full verification of the ledger.
    LedgerVerified,
    /// A bulk extract asked for: purpose, legal basis, relationship, fields, recipient key,
    /// retention.
    ExtractRequested,
    /// An extract approved by a second person.
    ExtractApproved,
    /// An extract refused by an approver.
    ExtractRefused,
    /// Production of an extract started (its rows follow as access entries).
    ExtractProductionStarted,
    /// An extract produced: rows, canaries, fields, the ciphertext's hash.
    ExtractProduced,
    /// An extract's ciphertext handed out.
    ExtractDownloaded,
    /// An extract's file key unwrapped for its recipient (Vigie's age plugin).
    ExtractOpened,
    /// The recipient's signed deletion receipt accepted.
    ExtractDeleted,
    /// An extract past its retention without a deletion receipt.
    ExtractOverdue,
    /// An attempt to approve or refuse an extract that the four-eyes rules turned down (one's
    /// own request, a related account, no fresh second factor…): the details say which rule.
    ExtractDecisionRefused,
    /// An opening of an extract refused because it expired or its deletion was confirmed:
    /// someone still holds the file and the recipient's key (the details say why, and from
    /// where).
    ExtractOpenRefused,
}

impl SecurityKind {
    const ALL: [SecurityKind; 45] = [
        Self::SignIn,
        Self::SignInFailed,
        Self::SessionEnded,
        Self::SessionRefused,
        Self::StepUpDemanded,
        Self::StepUp,
        Self::StepUpFailed,
        Self::PasskeyAdded,
        Self::PasskeyRemoved,
        Self::AccountRequested,
        Self::AccountApproved,
        Self::AccountRejected,
        Self::EnrolmentSent,
        Self::Enrolled,
        Self::AccountDisabled,
        Self::IdentityLinked,
        Self::DeviceBound,
        Self::OrgCreationFrozen,
        Self::OrgCreationUnfrozen,
        Self::LedgerTailCut,
        Self::SecretsKeyRotated,
        Self::DetectorThrottleLifted,
        Self::CampaignDeclared,
        Self::RelationshipRequested,
        Self::ServiceAccountRegistered,
        Self::IncidentOpened,
        Self::IncidentExpansionAccepted,
        Self::IncidentExpansionRefused,
        Self::IncidentScoped,
        Self::IncidentNotified,
        Self::IncidentClosed,
        Self::SignInTargeted,
        Self::AccountReinstated,
        Self::LedgerVerified,
        Self::ExtractRequested,
        Self::ExtractApproved,
        Self::ExtractRefused,
        Self::ExtractProductionStarted,
        Self::ExtractProduced,
        Self::ExtractDownloaded,
        Self::ExtractOpened,
        Self::ExtractDeleted,
        Self::ExtractOverdue,
        Self::ExtractDecisionRefused,
        Self::ExtractOpenRefused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "auth.success",
            Self::SignInFailed => "auth.failure",
            Self::SessionEnded => "session.ended",
            Self::SessionRefused => "session.refused",
            Self::StepUpDemanded => "stepup.demanded",
            Self::StepUp => "stepup.success",
            Self::StepUpFailed => "stepup.failure",
            Self::PasskeyAdded => "credential.enrolled",
            Self::PasskeyRemoved => "credential.removed",
            Self::AccountRequested => "account.request.created",
            Self::AccountApproved => "account.request.approved",
            Self::AccountRejected => "account.request.rejected",
            Self::EnrolmentSent => "account.enrolment_sent",
            Self::Enrolled => "account.activated",
            Self::AccountDisabled => "account.disabled",
            Self::IdentityLinked => "identity.linked",
            Self::DeviceBound => "session.dbsc_registered",
            Self::OrgCreationFrozen => "organization.creation_frozen",
            Self::OrgCreationUnfrozen => "organization.creation_unfrozen",
            Self::LedgerTailCut => "ledger.tail_cut",
            Self::SecretsKeyRotated => "secrets.key_rotated",
            Self::DetectorThrottleLifted => "detector.throttle_lifted",
            Self::CampaignDeclared => "campaign.declared",
            Self::RelationshipRequested => "relationship.requested",
            Self::ServiceAccountRegistered => "service_account.registered",
            Self::IncidentOpened => "incident.opened",
            Self::IncidentExpansionAccepted => "incident.expansion.accepted",
            Self::IncidentExpansionRefused => "incident.expansion.refused",
            Self::IncidentScoped => "incident.scoped",
            Self::IncidentNotified => "incident.notified",
            Self::IncidentClosed => "incident.closed",
            Self::SignInTargeted => "auth.targeted_lockout",
            Self::AccountReinstated => "account.reinstated",
            Self::LedgerVerified => "ledger.verified",
            Self::ExtractRequested => "extract.requested",
            Self::ExtractApproved => "extract.approved",
            Self::ExtractRefused => "extract.refused",
            Self::ExtractProductionStarted => "extract.production_started",
            Self::ExtractProduced => "extract.produced",
            Self::ExtractDownloaded => "extract.downloaded",
            Self::ExtractOpened => "extract.opened",
            Self::ExtractDeleted => "extract.deleted",
            Self::ExtractOverdue => "extract.overdue",
            Self::ExtractDecisionRefused => "extract.decision_refused",
            Self::ExtractOpenRefused => "extract.open_refused",
        }
    }

    /// Stable code in the encoding: its position in `ALL` plus one. Append new kinds at the end.
    pub fn code(self) -> u8 {
        Self::ALL.iter().position(|k| *k == self).map_or(0, |i| i as u8 + 1)
    }

    pub fn from_code(c: u8) -> Option<Self> {
        Self::ALL.get(usize::from(c).checked_sub(1)?).copied()
    }
}

/// One security event. `agent` is who acted (or tried to); `subject` whom it was about when
/// someone else (the account requested, approved or disabled; the session's owner).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityEvent {
    pub at: Timestamp,
    pub kind: SecurityKind,
    pub agent: Option<AgentId>,
    pub org: Option<OrgId>,
    pub session: Option<SessionId>,
    pub subject: Option<AgentId>,
    /// Source network and browser family, e.g. `192.0.2.0/24 chrome`.
    pub context: String,
    /// Short `key=value` details: the method, the reason, the request id, the credential.
    pub details: Vec<(String, String)>,
}

impl SecurityEvent {
    pub fn new(at: Timestamp, kind: SecurityKind) -> Self {
        SecurityEvent {
            at,
            kind,
            agent: None,
            org: None,
            session: None,
            subject: None,
            context: String::new(),
            details: Vec::new(),
        }
    }

    pub fn by(mut self, agent: AgentId, org: OrgId) -> Self {
        self.agent = Some(agent);
        self.org = Some(org);
        self
    }

    pub fn session(mut self, s: SessionId) -> Self {
        self.session = Some(s);
        self
    }

    pub fn subject(mut self, a: AgentId) -> Self {
        self.subject = Some(a);
        self
    }

    pub fn context(mut self, c: impl Into<String>) -> Self {
        self.context = c.into();
        self
    }

    pub fn detail(mut self, k: &str, v: impl ToString) -> Self {
        self.details.push((k.to_owned(), v.to_string()));
        self
    }

    /// Layout (big-endian): version u8 | at i64 | kind u8 | agent u64 | org u64 | session u64 |
    /// subject u64 (0 = none) | context str | n u8 | n × (key str, value str); strings as u16
    /// length + UTF-8, at most 255 details.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(SECURITY_ENCODING_V1);
        out.extend_from_slice(&self.at.0.to_be_bytes());
        out.push(self.kind.code());
        out.extend_from_slice(&self.agent.map_or(0, |a| a.get()).to_be_bytes());
        out.extend_from_slice(&self.org.map_or(0, |o| o.get()).to_be_bytes());
        out.extend_from_slice(&self.session.map_or(0, |s| s.0).to_be_bytes());
        out.extend_from_slice(&self.subject.map_or(0, |a| a.get()).to_be_bytes());
        put_str(out, &self.context);
        let n = self.details.len().min(255);
        out.push(n as u8);
        for (k, v) in &self.details[..n] {
            put_str(out, k);
            put_str(out, v);
        }
    }

    /// Decodes an encoded event; `None` if the bytes are not one.
    pub fn decode(b: &[u8]) -> Option<SecurityEvent> {
        let mut r = Reader { b, at: 0 };
        if r.u8()? != SECURITY_ENCODING_V1 {
            return None;
        }
        let at = Timestamp(r.u64()? as i64);
        let kind = SecurityKind::from_code(r.u8()?)?;
        // 0 is "none"; any other value must be a valid id (never read as "none": the ledger
        // would then say no one did what someone did).
        let agent = optional_id(r.u64()?, AgentId::new)?;
        let org = optional_id(r.u64()?, OrgId::new)?;
        let session = Some(r.u64()?).filter(|s| *s != 0).map(SessionId);
        let subject = optional_id(r.u64()?, AgentId::new)?;
        let context = r.str()?;
        let n = r.u8()?;
        let mut details = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            details.push((r.str()?, r.str()?));
        }
        (r.at == b.len()).then_some(SecurityEvent { at, kind, agent, org, session, subject, context, details })
    }
}

/// An optional id as encoded: `Some(None)` for 0, `Some(Some(id))` for a valid id, `None` (not
/// an encoding) for anything else.
fn optional_id<T>(n: u64, id: impl Fn(u64) -> Option<T>) -> Option<Option<T>> {
    if n == 0 { Some(None) } else { id(n).map(Some) }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let mut end = s.len().min(u16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&(end as u16).to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..end]);
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)?.try_into().ok().map(u64::from_be_bytes)
    }
    fn str(&mut self) -> Option<String> {
        let n = u16::from_be_bytes(self.take(2)?.try_into().ok()?);
        String::from_utf8(self.take(usize::from(n))?.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SecurityEvent {
        SecurityEvent::new(Timestamp(1_760_000_000_123), SecurityKind::AccountApproved)
            .by(AgentId::new(7).unwrap(), OrgId::new(3).unwrap())
            .session(SessionId(42))
            .subject(AgentId::new(99).unwrap())
            .context("192.0.2.0/24 chrome")
            .detail("request", 5)
            .detail("requested_by", "A6")
    }

    #[test]
    fn encoding_is_stable_and_round_trips() {
        let mut out = Vec::new();
        sample().encode(&mut out);
        let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
        // A change here changes ledger hashes: bump SECURITY_ENCODING_V1 instead.
        assert_eq!(
            hex,
            "2000000199c82cc07b0b00000000000000070000000000000003000000000000002a00000000000000630013\
             3139322e302e322e302f3234206368726f6d65020007726571756573740001350\
             00c7265717565737465645f627900024136"
                .replace(char::is_whitespace, "")
        );
        assert_eq!(SecurityEvent::decode(&out), Some(sample()));
        assert!(crate::event::EventHead::decode(&out).is_none(), "not mistaken for an access event");
    }

    #[test]
    fn decode_refuses_garbage() {
        let mut out = Vec::new();
        sample().encode(&mut out);
        for n in 0..out.len() {
            assert!(SecurityEvent::decode(&out[..n]).is_none(), "truncated at {n}");
        }
        out.push(0);
        assert!(SecurityEvent::decode(&out).is_none(), "trailing byte");
        for k in SecurityKind::ALL {
            assert_eq!(SecurityKind::from_code(k.code()), Some(k));
        }
        assert_eq!(SecurityKind::from_code(0), None);
    }

    /// Found by the `events` fuzz target: an organization id above `i64::MAX` (no valid id)
    /// was read as "no organization", and the event re-encoded to other bytes.
    #[test]
    fn an_id_out_of_range_is_refused_not_read_as_none() {
        let mut out = Vec::new();
        sample().encode(&mut out);
        // agent at 10..18, org at 18..26, session at 26..34, subject at 34..42.
        for at in [10, 18, 34] {
            let mut b = out.clone();
            b[at] = 0xf7;
            assert_eq!(SecurityEvent::decode(&b), None, "id at byte {at}");
        }
        let mut none = out.clone();
        none[18..26].copy_from_slice(&[0; 8]);
        assert_eq!(SecurityEvent::decode(&none).and_then(|e| e.org), None);
        assert!(SecurityEvent::decode(&none).is_some(), "0 is still \"no organization\"");
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        prop_compose! {
            fn security_event()(
                at in any::<i64>(),
                kind in prop::sample::select(SecurityKind::ALL.to_vec()),
                agent in prop::option::of(1..=i64::MAX as u64),
                org in prop::option::of(1..=i64::MAX as u64),
                session in prop::option::of(1..=u64::MAX),
                subject in prop::option::of(1..=i64::MAX as u64),
                context in "\\PC{0,60}",
                details in prop::collection::vec(("[a-z_]{1,12}", "\\PC{0,40}"), 0..8),
            ) -> SecurityEvent {
                SecurityEvent {
                    at: Timestamp(at), kind,
                    agent: agent.and_then(AgentId::new), org: org.and_then(OrgId::new),
                    session: session.map(SessionId), subject: subject.and_then(AgentId::new),
                    context, details,
                }
            }
        }

        proptest! {
            /// A security event's encoding decodes to the same event, and only it does: one
            /// byte more or less is refused.
            #[test]
            fn encode_then_decode_is_the_identity(e in security_event()) {
                let mut out = Vec::new();
                e.encode(&mut out);
                prop_assert_eq!(SecurityEvent::decode(&out), Some(e));
                prop_assert!(SecurityEvent::decode(&out[..out.len() - 1]).is_none());
                out.push(0);
                prop_assert!(SecurityEvent::decode(&out).is_none());
            }
        }
    }

    #[test]
    fn codes_of_existing_kinds_never_move() {
        // The ledger stores codes: new kinds are appended, never inserted.
        assert_eq!(SecurityKind::SignIn.code(), 1);
        assert_eq!(SecurityKind::DeviceBound.code(), 17);
        assert_eq!(SecurityKind::OrgCreationFrozen.code(), 18);
        assert_eq!(SecurityKind::OrgCreationUnfrozen.code(), 19);
        assert_eq!(SecurityKind::LedgerTailCut.code(), 20);
        assert_eq!(SecurityKind::SecretsKeyRotated.code(), 21);
    }
}
