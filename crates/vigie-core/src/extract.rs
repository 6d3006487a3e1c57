//! Governed bulk extracts, as pure rules: what a request must hold, who may approve it, and the
//! life an extract goes through.
//!
//! An extract is a job, never a query. A requester of an organization asks for the persons that
//! one of its relationships reaches (a subcontractor's assignments, a training organization's
//! enrolments) and for a set of fields, with a documented purpose, its legal basis, the
//! recipient's public key and a retention date. A *different* person approves it: a
//! `security_officer`, or a `manager` of the requester's own organization. Nobody approves their
//! own request, nor one from an account they created or approved, nor one from the account that
//! created or approved theirs (two accounts of one intruder vouching for each other), and an
//! approval needs a fresh second factor. Only an approved extract is produced. What Cedar allows
//! for the purpose is decided elsewhere (`authz::Authz::decide_extract`); this module holds the
//! rules that need no policy.

use std::fmt;
use std::str::FromStr;

use crate::category::CategorySet;
use crate::ids::{AgentId, OrgId};
use crate::org::{Agent, Organization, Role};
use crate::relationship::RelationshipKind;
use crate::time::Timestamp;

pub mod store;

/// The longest retention a request may ask for by default (`[extracts] max_retention_days`):
/// a file handed to a processor for one job should not outlive the job by much.
pub const DEFAULT_MAX_RETENTION_DAYS: u32 = 90;
/// A pending request expires after 7 days without a decision.
pub const REQUEST_TTL_MS: i64 = 7 * 24 * 3600 * 1000;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// An extract's id, `X` followed by a number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ExtractId(u32);

impl ExtractId {
    /// Ids are numbered from 1 and fit in 32 bits: the pseudonyms carry them.
    pub fn new(n: u64) -> Option<Self> {
        u32::try_from(n).ok().filter(|n| *n > 0).map(Self)
    }
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for ExtractId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "X{}", self.0)
    }
}

impl FromStr for ExtractId {
    type Err = crate::ids::IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const ERR: crate::ids::IdError = crate::ids::IdError {
            kind: "an extract id",
            expected: "'X' followed by a positive number without leading zeros, e.g. X42",
        };
        let digits = s.strip_prefix('X').ok_or(ERR)?;
        if digits.is_empty()
            || digits.len() > 10
            || digits.starts_with('0')
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(ERR);
        }
        digits.parse::<u64>().ok().and_then(Self::new).ok_or(ERR)
    }
}

/// The session an extract's ledger entries carry: `e0000000` then the extract's number (16 hex
/// digits), so that "this recipient's server leaked" is one session to scope
/// (`extract:X3` as an incident selector).
pub fn session_of(id: ExtractId) -> crate::ids::SessionId {
    crate::ids::SessionId(0xE000_0000_0000_0000 | u64::from(id.0))
}

/// The extract whose entries carry this session, if it is an extract's.
pub fn of_session(s: crate::ids::SessionId) -> Option<ExtractId> {
    (s.0 >> 32 == 0xE000_0000).then(|| ExtractId::new(s.0 & 0xFFFF_FFFF)).flatten()
}

/// The legal basis of the processing (GDPR Art. 6(1)); consent is not one a public service
/// hands files on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LegalBasis {
    /// Art. 6(1)(b): a contract with the person (a training contract).
    Contract,
    /// Art. 6(1)(c): a legal obligation of the controller.
    LegalObligation,
    /// Art. 6(1)(e): a task carried out in the public interest (the public employment service's
    /// mission, Code du travail L5312-1).
    PublicTask,
}

impl LegalBasis {
    pub const ALL: [LegalBasis; 3] = [LegalBasis::Contract, LegalBasis::LegalObligation, LegalBasis::PublicTask];
    pub fn as_str(self) -> &'static str {
        match self {
            LegalBasis::Contract => "contract",
            LegalBasis::LegalObligation => "legal_obligation",
            LegalBasis::PublicTask => "public_task",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.as_str() == s)
    }
    /// The article, for manifests and letters.
    pub fn article(self) -> &'static str {
        match self {
            LegalBasis::Contract => "GDPR Art. 6(1)(b)",
            LegalBasis::LegalObligation => "GDPR Art. 6(1)(c)",
            LegalBasis::PublicTask => "GDPR Art. 6(1)(e)",
        }
    }
}

/// Where an extract stands. Each step is ledgered.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ExtractState {
    /// Asked for, waiting for a second person.
    Requested,
    /// Approved; not produced yet.
    Approved,
    /// Refused by an approver.
    Refused,
    /// Produced: the ciphertext is ready for download, its entries are in the ledger.
    Produced,
    /// The recipient sent a signed deletion receipt.
    Deleted,
}

impl ExtractState {
    pub const ALL: [ExtractState; 5] = [
        ExtractState::Requested,
        ExtractState::Approved,
        ExtractState::Refused,
        ExtractState::Produced,
        ExtractState::Deleted,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ExtractState::Requested => "requested",
            ExtractState::Approved => "approved",
            ExtractState::Refused => "refused",
            ExtractState::Produced => "produced",
            ExtractState::Deleted => "deleted",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A purpose's name: lower-case letters, digits and `_`, 3 to 64 characters (the policies test
/// it by equality, so it must be a token, not prose).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Purpose(String);

impl Purpose {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Purpose {
    type Err = Refusal;
    fn from_str(s: &str) -> Result<Self, Refusal> {
        let ok = (3..=64).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && s.as_bytes()[0].is_ascii_lowercase();
        if ok { Ok(Purpose(s.to_owned())) } else { Err(Refusal::MalformedPurpose) }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An extract as stored: the request and what happened to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extract {
    pub id: ExtractId,
    pub org: OrgId,
    pub requested_by: AgentId,
    pub purpose: Purpose,
    /// Free text: what the file is for, shown to the approver and in the manifest.
    pub description: String,
    pub legal_basis: LegalBasis,
    /// The relationship that defines the persons (with the requester's organization).
    pub relationship: RelationshipKind,
    /// The categories asked for; production gives only those Cedar permits for the purpose.
    pub fields: CategorySet,
    /// The recipient: `age1vigie1…` (sealed: opens with the recipient's key and Vigie's
    /// release, see `age-plugin-vigie`), or a plain age X25519 key `age1…` where the deployment
    /// allows files that open offline.
    pub recipient: String,
    /// The recipient's Ed25519 public key (base64) that signs its deletion receipt.
    pub receipt_key: String,
    /// The date after which the recipient must have deleted the file (and Vigie's plugin stops
    /// unwrapping it).
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
    pub state: ExtractState,
    pub decided_by: Option<AgentId>,
    pub decided_at: Option<Timestamp>,
    pub produced_at: Option<Timestamp>,
    /// Rows of real persons (canaries excluded).
    pub rows: Option<u64>,
    pub canaries: Option<u64>,
    /// SHA-256 of the ciphertext, hex.
    pub ciphertext_sha256: Option<String>,
    pub deleted_at: Option<Timestamp>,
    /// When the ciphertext was first handed over (each hand-over is ledgered).
    pub downloaded_at: Option<Timestamp>,
}

impl Extract {
    /// Whether a produced extract is past its retention and not confirmed deleted at `now`.
    pub fn overdue(&self, now: Timestamp) -> bool {
        self.state == ExtractState::Produced && now >= self.expires_at
    }
}

/// Why an extract step is refused. The text names the problem (and no one else's data).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("only an advisor or manager of an active partner organization can request an extract")]
    NotARequester,
    #[error("only a security_officer, or a manager of the requesting organization, can approve an extract")]
    NotAnApprover,
    #[error("you cannot approve your own extract request")]
    OwnRequest,
    #[error("you cannot approve a request from an account you created or approved")]
    RequestedByYourCreation,
    #[error("you cannot approve a request from the account that created or approved yours")]
    RequestedByYourCreator,
    #[error("a fresh second factor is needed first (step-up)")]
    StepUpRequired,
    #[error("the extract is {0}, not {1}")]
    WrongState(&'static str, &'static str),
    #[error("the request has expired without a decision")]
    Expired,
    #[error("the purpose must be a token of 3 to 64 lower-case letters, digits or '_' starting with a letter")]
    MalformedPurpose,
    #[error("the retention date {0} is not in the future")]
    RetentionInPast(String),
    #[error("the retention date is {days} days away; the longest allowed is {max} days")]
    RetentionTooLong { days: i64, max: u32 },
    #[error("no field was asked for")]
    NoFields,
    #[error("the purpose '{purpose}' allows no field of this request to {org_kind} organizations: {asked}")]
    PurposeAllowsNothing { purpose: String, org_kind: &'static str, asked: String },
    #[error("the purpose '{purpose}' does not allow {fields}; ask only for {allowed}")]
    OverBroad { purpose: String, fields: String, allowed: String },
    #[error("a {relationship} relationship does not reach persons for a {org_kind} organization")]
    WrongRelationship { relationship: &'static str, org_kind: &'static str },
    #[error("the description must say what the file is for (1 to 500 characters)")]
    Description,
    #[error(
        "the organization's extract quota is {quota} persons per 30 days; {used} already extracted, and this extract holds {asked}"
    )]
    OverQuota { quota: u64, used: u64, asked: u64 },
    #[error("the extract is past its retention date: it can no longer be produced or opened")]
    PastExpiry,
}

/// Who is acting on an extract: the agent, its organization, whether its session stepped up
/// recently, and where its account came from.
#[derive(Clone, Copy, Debug)]
pub struct Actor<'a> {
    pub agent: &'a Agent,
    pub org: &'a Organization,
    pub elevated: bool,
    pub created_by: Option<AgentId>,
    pub approved_by: Option<AgentId>,
}

/// Checks a request's own fields at `now`: a purpose, a description, fields, and a retention
/// date in the future and within `max_retention_days`.
pub fn check_request(
    description: &str,
    fields: CategorySet,
    expires_at: Timestamp,
    now: Timestamp,
    max_retention_days: u32,
) -> Result<(), Refusal> {
    let description = description.trim();
    if description.is_empty() || description.chars().count() > 500 {
        return Err(Refusal::Description);
    }
    if fields.is_empty() {
        return Err(Refusal::NoFields);
    }
    if expires_at <= now {
        return Err(Refusal::RetentionInPast(crate::time::format_date(expires_at.date())));
    }
    let days = (expires_at.millis() - now.millis() + DAY_MS - 1) / DAY_MS;
    if days > i64::from(max_retention_days) {
        return Err(Refusal::RetentionTooLong { days, max: max_retention_days });
    }
    Ok(())
}

/// May `actor` ask for an extract of its own organization's persons?
pub fn may_request(actor: &Actor<'_>) -> Result<(), Refusal> {
    let partner_role = matches!(actor.agent.role, Role::Advisor | Role::Manager);
    if !actor.agent.active || !actor.org.active || !partner_role {
        return Err(Refusal::NotARequester);
    }
    Ok(())
}

/// May `actor` approve (or refuse) `extract` at `now`? `requester`: where the requesting
/// account came from.
pub fn may_decide(
    actor: &Actor<'_>,
    extract: &Extract,
    requester: crate::lifecycle::RequesterOrigin,
    now: Timestamp,
) -> Result<(), Refusal> {
    if extract.requested_by == actor.agent.id {
        return Err(Refusal::OwnRequest);
    }
    let officer = actor.agent.role == Role::SecurityOfficer;
    let own_manager = actor.agent.role == Role::Manager && actor.agent.org == extract.org;
    if !actor.agent.active || !actor.org.active || !(officer || own_manager) {
        return Err(Refusal::NotAnApprover);
    }
    if extract.state != ExtractState::Requested {
        return Err(Refusal::WrongState(extract.state.as_str(), ExtractState::Requested.as_str()));
    }
    if now.millis() >= extract.created_at.millis() + REQUEST_TTL_MS {
        return Err(Refusal::Expired);
    }
    if requester.created_by == Some(actor.agent.id) || requester.approved_by == Some(actor.agent.id) {
        return Err(Refusal::RequestedByYourCreation);
    }
    if actor.created_by == Some(extract.requested_by) || actor.approved_by == Some(extract.requested_by) {
        return Err(Refusal::RequestedByYourCreator);
    }
    if !actor.elevated {
        return Err(Refusal::StepUpRequired);
    }
    Ok(())
}

/// May an approved extract be produced at `now`?
pub fn may_produce(extract: &Extract, now: Timestamp) -> Result<(), Refusal> {
    if extract.state != ExtractState::Approved {
        return Err(Refusal::WrongState(extract.state.as_str(), ExtractState::Approved.as_str()));
    }
    if now >= extract.expires_at {
        return Err(Refusal::PastExpiry);
    }
    Ok(())
}

/// The organization's extract quota over 30 days: `used` persons already extracted and `asked`
/// in this one.
pub fn within_quota(quota: u64, used: u64, asked: u64) -> Result<(), Refusal> {
    if used.saturating_add(asked) > quota { Err(Refusal::OverQuota { quota, used, asked }) } else { Ok(()) }
}

/// The window the quota counts over.
pub const QUOTA_WINDOW_MS: i64 = 30 * DAY_MS;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TeamId;
    use crate::lifecycle::RequesterOrigin;
    use crate::org::OrgKind;

    fn agent(id: u64, org: u64, role: Role) -> Agent {
        Agent {
            id: AgentId::new(id).unwrap(),
            login: format!("agent{id}").parse().unwrap(),
            display_name: format!("agent {id}"),
            email: format!("agent{id}@example.org"),
            org: OrgId::new(org).unwrap(),
            role,
            team: TeamId::new(1),
            active: true,
        }
    }

    fn org(id: u64, kind: OrgKind) -> Organization {
        Organization { id: OrgId::new(id).unwrap(), kind, active: true, name: format!("org {id}") }
    }

    fn extract(requested_by: u64) -> Extract {
        Extract {
            id: ExtractId::new(1).unwrap(),
            org: OrgId::new(7).unwrap(),
            requested_by: AgentId::new(requested_by).unwrap(),
            purpose: "document_processing".parse().unwrap(),
            description: "courriers".into(),
            legal_basis: LegalBasis::PublicTask,
            relationship: RelationshipKind::Assignment,
            fields: CategorySet::EMPTY,
            recipient: "age1…".into(),
            receipt_key: String::new(),
            expires_at: Timestamp(10 * DAY_MS),
            created_at: Timestamp(0),
            state: ExtractState::Requested,
            decided_by: None,
            decided_at: None,
            produced_at: None,
            rows: None,
            canaries: None,
            ciphertext_sha256: None,
            deleted_at: None,
            downloaded_at: None,
        }
    }

    fn actor<'a>(a: &'a Agent, o: &'a Organization, elevated: bool) -> Actor<'a> {
        Actor { agent: a, org: o, elevated, created_by: None, approved_by: None }
    }

    #[test]
    fn a_second_person_with_a_fresh_step_up_approves() {
        let (officer, agency) = (agent(2, 1, Role::SecurityOfficer), org(1, OrgKind::Agency));
        let manager = agent(3, 7, Role::Manager);
        let sub = org(7, OrgKind::Subcontractor);
        let x = extract(5);
        let now = Timestamp(1000);
        assert_eq!(may_decide(&actor(&officer, &agency, true), &x, RequesterOrigin::default(), now), Ok(()));
        assert_eq!(may_decide(&actor(&manager, &sub, true), &x, RequesterOrigin::default(), now), Ok(()));
        assert_eq!(
            may_decide(&actor(&officer, &agency, false), &x, RequesterOrigin::default(), now),
            Err(Refusal::StepUpRequired)
        );
        // A manager of another organization, an advisor: not approvers.
        let other = agent(4, 8, Role::Manager);
        assert_eq!(
            may_decide(&actor(&other, &org(8, OrgKind::Subcontractor), true), &x, RequesterOrigin::default(), now),
            Err(Refusal::NotAnApprover)
        );
        let advisor = agent(6, 7, Role::Advisor);
        assert_eq!(
            may_decide(&actor(&advisor, &sub, true), &x, RequesterOrigin::default(), now),
            Err(Refusal::NotAnApprover)
        );
    }

    #[test]
    fn self_and_related_approvals_are_refused() {
        let manager = agent(5, 7, Role::Manager);
        let sub = org(7, OrgKind::Subcontractor);
        let now = Timestamp(1000);
        assert_eq!(
            may_decide(&actor(&manager, &sub, true), &extract(5), RequesterOrigin::default(), now),
            Err(Refusal::OwnRequest)
        );
        let created = RequesterOrigin { created_by: AgentId::new(5), approved_by: None };
        assert_eq!(
            may_decide(&actor(&manager, &sub, true), &extract(9), created, now),
            Err(Refusal::RequestedByYourCreation)
        );
        let approved = RequesterOrigin { created_by: None, approved_by: AgentId::new(5) };
        assert_eq!(
            may_decide(&actor(&manager, &sub, true), &extract(9), approved, now),
            Err(Refusal::RequestedByYourCreation)
        );
        let mut made = actor(&manager, &sub, true);
        made.created_by = AgentId::new(9);
        assert_eq!(
            may_decide(&made, &extract(9), RequesterOrigin::default(), now),
            Err(Refusal::RequestedByYourCreator)
        );
    }

    #[test]
    fn a_decided_or_stale_request_is_not_decided_again() {
        let officer = agent(2, 1, Role::SecurityOfficer);
        let agency = org(1, OrgKind::Agency);
        let mut x = extract(5);
        assert_eq!(
            may_decide(&actor(&officer, &agency, true), &x, RequesterOrigin::default(), Timestamp(REQUEST_TTL_MS)),
            Err(Refusal::Expired)
        );
        x.state = ExtractState::Approved;
        assert!(matches!(
            may_decide(&actor(&officer, &agency, true), &x, RequesterOrigin::default(), Timestamp(0)),
            Err(Refusal::WrongState(..))
        ));
        assert_eq!(may_produce(&x, Timestamp(0)), Ok(()));
        assert_eq!(may_produce(&x, Timestamp(10 * DAY_MS)), Err(Refusal::PastExpiry));
    }

    #[test]
    fn retention_is_in_the_future_and_bounded() {
        let fields = CategorySet::from_iter([crate::category::DataCategory::Identity]);
        let now = Timestamp(DAY_MS);
        assert_eq!(check_request("x", fields, Timestamp(DAY_MS + 30 * DAY_MS), now, 90), Ok(()));
        assert!(matches!(check_request("x", fields, now, now, 90), Err(Refusal::RetentionInPast(_))));
        assert_eq!(
            check_request("x", fields, Timestamp(DAY_MS + 91 * DAY_MS), now, 90),
            Err(Refusal::RetentionTooLong { days: 91, max: 90 })
        );
        assert_eq!(check_request("x", CategorySet::EMPTY, Timestamp(2 * DAY_MS), now, 90), Err(Refusal::NoFields));
        assert_eq!(check_request("  ", fields, Timestamp(2 * DAY_MS), now, 90), Err(Refusal::Description));
    }

    #[test]
    fn ids_and_purposes_parse_strictly() {
        assert_eq!("X42".parse::<ExtractId>().map(|x| x.get()), Ok(42));
        for bad in ["X0", "X042", "42", "X", "X99999999999", "x1"] {
            assert!(bad.parse::<ExtractId>().is_err(), "{bad}");
        }
        assert!("document_processing".parse::<Purpose>().is_ok());
        for bad in ["", "ab", "Document", "1abc", "a b c", "é_abc"] {
            assert!(bad.parse::<Purpose>().is_err(), "{bad}");
        }
        assert_eq!(within_quota(100, 60, 40), Ok(()));
        assert!(within_quota(100, 60, 41).is_err());
    }
}

/// The extract service as the API sees it (the binary implements it over the store, the
/// ledger and the files).
pub mod service {
    use super::{Extract, ExtractId};
    use crate::org::Agent;

    /// What a requester asks for, as typed.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct RequestInput {
        pub purpose: String,
        pub description: String,
        pub legal_basis: String,
        pub relationship: String,
        pub fields: Vec<String>,
        pub recipient: String,
        pub receipt_key: String,
        /// The last day the recipient may keep the file (`YYYY-MM-DD`, UTC; it expires at the
        /// end of that day).
        pub retain_until: String,
    }

    /// Why an extract step failed: refused (the caller's request) or broken (Vigie's side).
    #[derive(Debug, thiserror::Error)]
    pub enum ExtractFailure {
        #[error("{0}")]
        Refused(String),
        #[error("no extract {0}")]
        NotFound(ExtractId),
        /// The extract may no longer be opened (past its retention, or its deletion confirmed).
        #[error("{0}")]
        Gone(String),
        #[error("{0}")]
        Internal(String),
    }

    impl From<super::Refusal> for ExtractFailure {
        fn from(r: super::Refusal) -> Self {
            ExtractFailure::Refused(r.to_string())
        }
    }

    impl From<crate::ports::StoreError> for ExtractFailure {
        fn from(e: crate::ports::StoreError) -> Self {
            ExtractFailure::Internal(e.to_string())
        }
    }

    /// One of an extract's files, served by name only.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum ExtractFile {
        Ciphertext,
        Manifest,
        Signature,
    }

    /// The evidence for one extract named by attribution.
    #[derive(Clone, Debug, PartialEq)]
    pub struct Named {
        pub extract: ExtractId,
        pub pseudonym_rows: u64,
        pub canaries: u64,
        pub log10_false: f64,
    }

    /// What production did.
    #[derive(Clone, Debug)]
    pub struct Produced {
        pub extract: Extract,
        pub rows: u64,
        pub canaries: u64,
        pub bytes: u64,
        pub columns: Vec<String>,
        pub pseudonymized: bool,
    }

    /// `age-plugin-vigie`'s request for an extract's opening secret (`vigie_seal::OpenRequest`,
    /// field for field): signed by the recipient's registered Ed25519 key.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct OpenInput {
        pub format: String,
        pub at: String,
        pub nonce: String,
        pub signature: String,
    }

    /// Vigie's answer (`vigie_seal::OpenReply`): the opening secret sealed to the recipient.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Opened {
        pub expires_on: String,
        pub epk: String,
        pub sealed: String,
    }

    pub trait ExtractService: Send + Sync {
        /// Releases an extract's opening secret to its recipient's plugin, ledgered first;
        /// refused after expiry or a deletion receipt (ledgered and alerted: someone still holds
        /// the file), on a bad signature, a stale date or a replayed nonce. `from`: the client's
        /// address, for the ledger.
        fn open(&self, id: ExtractId, input: &OpenInput, from: &str) -> Result<Opened, ExtractFailure>;
        fn request(&self, by: &Agent, input: &RequestInput) -> Result<Extract, ExtractFailure>;
        /// `elevated`: the approver proved a second factor in the elevation window.
        fn decide(&self, id: ExtractId, by: &Agent, elevated: bool, approve: bool) -> Result<Extract, ExtractFailure>;
        fn produce(&self, id: ExtractId, by: &Agent) -> Result<Produced, ExtractFailure>;
        fn get(&self, id: ExtractId) -> Result<Extract, ExtractFailure>;
        fn list(&self, limit: usize) -> Result<Vec<Extract>, ExtractFailure>;
        /// A produced file, opened for reading (the caller streams it: an extract of millions
        /// of persons is hundreds of megabytes), for the requester, a manager of its
        /// organization or an officer, before expiry; the ciphertext's hand-over is ledgered.
        fn file(&self, id: ExtractId, by: &Agent, which: ExtractFile) -> Result<std::fs::File, ExtractFailure>;
        fn receipt(&self, id: ExtractId, bytes: &[u8], signature: &str) -> Result<Extract, ExtractFailure>;
        /// The extracts a leaked fragment names (false attribution bound below 10⁻⁶), and the
        /// rows read.
        fn attribute(&self, leak: &[u8]) -> Result<(u64, Vec<Named>), ExtractFailure>;
        fn overdue(&self) -> Result<Vec<Extract>, ExtractFailure>;
        /// The public key (Ed25519, base64) manifests are signed with.
        fn signing_key(&self) -> String;
    }
}
