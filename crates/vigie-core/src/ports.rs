//! Ports: what the core needs from the outside world, as small traits. Adapters (the SQLite
//! store, the ledger file writer, later PostgreSQL and the Merkle log) implement them; the
//! guard only ever sees these traits.

use crate::event::AccessEvent;
use crate::ids::{AgentId, FtId, OrgId, PersonId, SessionId};
use crate::nir::Nir;
use crate::org::{Agent, Organization};
use crate::person::{Person, ScopeEntry};
use crate::relationship::Relationship;
use crate::signin::ClientContext;
use crate::time::Timestamp;

/// A failure of a storage adapter. On the decision path it means Deny.
#[derive(Debug, thiserror::Error)]
#[error("storage unavailable: {0}")]
pub struct StoreError(pub String);

/// The registry of persons and their relationships, read on the guarded path.
pub trait Registry: Send + Sync {
    /// The active relationships of a person on `day`. Empty for a person who does not exist:
    /// the guard relies on this to answer "not found" the same way for both.
    fn active_relationships(&self, person: PersonId, day: time::Date) -> Result<Vec<Relationship>, StoreError>;

    /// A person's full record; only the guard calls this, and only after authorization.
    fn person(&self, person: PersonId) -> Result<Option<Person>, StoreError>;

    /// Persons whose NIR and birth date are exactly these (duplicates in the registry may give several).
    fn find_by_nir(&self, nir: &Nir, birth_date: time::Date) -> Result<Vec<PersonId>, StoreError>;

    /// Persons whose France Travail id and birth date are exactly these.
    fn find_by_ft_id(&self, ft_id: &FtId, birth_date: time::Date) -> Result<Vec<PersonId>, StoreError>;

    /// One page of the persons an agent reaches through active relationships on `day`, ordered by
    /// person id, strictly after `after`. Each comes with the relationship that reaches it.
    fn scope_page(
        &self,
        agent: &Agent,
        after: Option<PersonId>,
        limit: usize,
        day: time::Date,
    ) -> Result<Vec<(ScopeEntry, Relationship)>, StoreError>;

    fn agent(&self, id: AgentId) -> Result<Option<Agent>, StoreError>;
    fn organization(&self, id: crate::ids::OrgId) -> Result<Option<Organization>, StoreError>;

    /// Creates a relationship an account declared (a follow-up, an assignment, a caseload
    /// entry), after the detector allowed it and the ledger recorded it. A registry that
    /// cannot write refuses.
    fn create_relationship(&self, _r: &Relationship) -> Result<(), StoreError> {
        Err(StoreError("this registry does not create relationships".into()))
    }
}

/// A failure to make an event durable. The guard then returns no data.
#[derive(Debug, thiserror::Error)]
#[error("access ledger unavailable: {0}")]
pub struct LedgerError(pub String);

/// Proof that events were made durable: their positions in the ledger.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LedgerReceipt {
    /// Index of the first appended event.
    pub first: u64,
    pub count: u64,
}

/// The append-only access ledger. `append` returns only once the events are durable
/// (written and synced); the guard releases data only after it returns `Ok`.
pub trait AccessLedger: Send + Sync {
    fn append(&self, events: &[AccessEvent]) -> Result<LedgerReceipt, LedgerError>;
    /// Hands the events to the ledger and returns at once: the answer is `append`'s, known
    /// once they are durable, by blocking on it or awaiting it. A server awaits it, so that no
    /// thread is held while the disk syncs. By default, `append` itself.
    fn submit(&self, events: &[AccessEvent]) -> Durability {
        Durability::ready(self.append(events))
    }
    /// Appends security events (sign-ins, sessions, accounts), durably, in the same order.
    fn record(&self, events: &[crate::security::SecurityEvent]) -> Result<LedgerReceipt, LedgerError>;
}

/// An append handed to the ledger: its answer once the entries are durable (or failed).
/// [`Durability::wait`] blocks for it; as a future it completes with the same answer and holds
/// no thread meanwhile.
#[must_use = "an append is known durable only once its answer is taken"]
pub struct Durability(Answer);

enum Answer {
    Ready(Option<Result<LedgerReceipt, LedgerError>>),
    Pending(Box<dyn PendingAppend>),
}

/// What a ledger hands back for an append it has queued.
pub trait PendingAppend: Send {
    /// Blocks until the answer is known.
    fn wait(self: Box<Self>) -> Result<LedgerReceipt, LedgerError>;
    /// The answer if known; else registers `cx`'s waker, woken once it is.
    fn poll_answer(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<LedgerReceipt, LedgerError>>;
}

impl Durability {
    pub fn ready(answer: Result<LedgerReceipt, LedgerError>) -> Durability {
        Durability(Answer::Ready(Some(answer)))
    }

    pub fn pending(append: Box<dyn PendingAppend>) -> Durability {
        Durability(Answer::Pending(append))
    }

    pub fn wait(self) -> Result<LedgerReceipt, LedgerError> {
        match self.0 {
            Answer::Ready(answer) => answer.unwrap_or_else(|| Err(LedgerError("the answer was already taken".into()))),
            Answer::Pending(append) => append.wait(),
        }
    }
}

impl std::future::Future for Durability {
    type Output = Result<LedgerReceipt, LedgerError>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        match &mut self.0 {
            Answer::Ready(answer) => std::task::Poll::Ready(
                answer.take().unwrap_or_else(|| Err(LedgerError("the answer was already taken".into()))),
            ),
            Answer::Pending(append) => append.poll_answer(cx),
        }
    }
}

impl std::fmt::Debug for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Answer::Ready(_) => "Durability(ready)",
            Answer::Pending(_) => "Durability(pending)",
        })
    }
}

/// The detection hook on the guarded path. The foundation's detector allows everything; the
/// detection issue fills it. It sees every event, allowed or denied, before the ledger.
pub trait Detector: Send + Sync {
    fn assess(&self, event: &AccessEvent, context: &DetectContext) -> crate::event::Verdict;

    /// An account-lifecycle action about to be taken (a request for a new account, an
    /// approval): the detector may find it unusual for that account and hold it back
    /// (`Throttle`), and remembers who is under suspicion so that the accounts it creates share
    /// its risk. The foundation's detector allows everything.
    fn lifecycle(&self, _action: &LifecycleAction) -> crate::event::Verdict {
        crate::event::Verdict::allow()
    }

    /// A relationship an account is about to create (a follow-up, an enrolment, an assignment,
    /// a caseload entry): creating one is what turns "outside my scope" into "in my scope", so
    /// it is judged like a read. `Throttle` or stricter: the creation is refused.
    fn relationship(&self, _event: &RelationshipEvent, _context: &DetectContext) -> crate::event::Verdict {
        crate::event::Verdict::allow()
    }

    /// A campaign a manager declared (already ledgered): thresholds widen for the team or
    /// organization it covers until it ends.
    fn declare_campaign(&self, _campaign: &crate::campaign::CampaignDeclaration) {}

    /// A human (the agent's manager or a security officer) lifts the throttle the detector put
    /// on `agent` after its behaviour stayed far off its baselines past a step-up; the decision
    /// is ledgered before this is called. Returns whether a throttle was in force.
    fn lift(&self, _agent: AgentId, _by: AgentId, _at: Timestamp) -> bool {
        false
    }

    /// A security officer reinstated `agent` after the detector (or an officer) suspended it;
    /// the decision is ledgered and the account enabled before this is called. The detector
    /// stops holding the account as suspended, and lifts its throttle as [`Detector::lift`]
    /// does (the officer vouches for the account); its baselines and signals stay. Returns
    /// whether the detector held it suspended. A wrapper must forward it: with the default,
    /// the account's next read would suspend it again.
    fn reinstate(&self, _agent: AgentId, _by: AgentId, _at: Timestamp) -> bool {
        false
    }

    /// Canaries of governed extracts, each with its extract's number: any later lookup or read
    /// of one suspends the account, and the verdict names the extract. Called at start with
    /// every extract's canaries and after each production.
    fn add_extract_canaries(&self, _canaries: &[(crate::ids::PersonId, u32)]) {}
}

/// A relationship about to be created by an account, as the detector sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelationshipEvent {
    pub at: Timestamp,
    pub request: crate::ids::RequestId,
    pub actor: crate::event::Actor,
    pub person: PersonId,
    pub kind: crate::relationship::RelationshipKind,
}

/// An account-lifecycle action, as the detector sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LifecycleAction {
    pub at: Timestamp,
    pub actor: AgentId,
    pub org: crate::ids::OrgId,
    pub kind: LifecycleKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LifecycleKind {
    /// Asked for a new account.
    Request,
    /// Approved someone else's request.
    Approval,
    /// Asked for a bulk extract (the persons of a relationship, in one file).
    ExtractRequest,
    /// Approved someone else's extract.
    ExtractApproval,
}

impl LifecycleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleKind::Request => "request",
            LifecycleKind::Approval => "approval",
            LifecycleKind::ExtractRequest => "extract_request",
            LifecycleKind::ExtractApproval => "extract_approval",
        }
    }
}

/// What the detector knows of the caller beyond the event (which the ledger stores): facts of
/// the account and session, from the session layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DetectContext {
    /// A new account (14 days after its approval): stricter quotas.
    pub probation: bool,
    /// The session passed a step-up recently: a `StepUp` verdict is met, data will leave.
    pub elevated: bool,
    /// The reason the agent gave for this request, if any: a `Friction` verdict is met.
    pub reason: Option<AccessReason>,
    /// What was learnt at sign-in about the account and the client.
    pub sign_in: SignInContext,
    /// The agent's team, if it has one (its surge group: a team working harder together is
    /// judged against its team-mates).
    pub team: Option<crate::ids::TeamId>,
}

/// Why an agent opens records outside its usual pattern, chosen from a closed list (never free
/// text: a text box invites a person's name into the ledger). Given with the `Vigie-Reason`
/// header or the page's prompt when the detector asks for it (the friction rung).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccessReason {
    /// Persons newly assigned to the agent (a caseload handed over).
    CaseloadTransfer,
    /// Covering for an absent colleague.
    ColleagueCover,
    /// A convocation or information campaign.
    Campaign,
    /// The person called or came in.
    InboundContact,
    /// A new cohort or intake starting.
    CohortStart,
}

impl AccessReason {
    pub const ALL: [AccessReason; 5] = [
        AccessReason::CaseloadTransfer,
        AccessReason::ColleagueCover,
        AccessReason::Campaign,
        AccessReason::InboundContact,
        AccessReason::CohortStart,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccessReason::CaseloadTransfer => "caseload_transfer",
            AccessReason::ColleagueCover => "colleague_cover",
            AccessReason::Campaign => "campaign",
            AccessReason::InboundContact => "inbound_contact",
            AccessReason::CohortStart => "cohort_start",
        }
    }

    pub fn parse(s: &str) -> Option<AccessReason> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What the session layer learnt at sign-in about the account and the client, copied onto the
/// session row so that the guarded path reads nothing more. The detector's session-context
/// signals (new network or browser for the account, concurrent sessions, account age,
/// dormancy, a recent credential change, who created the account) come from here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignInContext {
    /// A stable key of the client's network at sign-in (IPv4 /24 or IPv6 /64): the first eight
    /// bytes, big-endian, of the SHA-256 of the network's text form. 0 when unknown.
    pub network: u64,
    /// The browser family at sign-in (`None` when unknown).
    pub ua_family: Option<crate::signin::UaFamily>,
    /// When the account was created (`None` for accounts loaded before four-eyes creation).
    pub account_created_at: Option<Timestamp>,
    /// Who asked for the account, and who approved it.
    pub created_by: Option<AgentId>,
    pub approved_by: Option<AgentId>,
    /// The account's previous sign-in, before this one (`None`: its first).
    pub previous_sign_in: Option<Timestamp>,
    /// The account's other live sessions when this one opened.
    pub concurrent_sessions: u8,
    /// The last time a credential of the account was set or added (password and TOTP,
    /// passkey), if known.
    pub credential_changed_at: Option<Timestamp>,
    /// A key of the network's provider (its announcing prefix or autonomous system), coarser
    /// than [`Self::network`]: campaigns run from one provider's addresses. 0 when unknown.
    pub provider: u64,
    /// A key of the client's exact browser build (family and version), 0 when unknown:
    /// accounts of different organizations driven by one operator share a build.
    pub build: u32,
    /// The session is bound to a device key (DBSC): a copied cookie cannot renew it.
    pub device_bound: bool,
    /// The session was opened by a service account's key-bound credential (a signed client
    /// assertion or a TLS client certificate), with the volume the account declared: the
    /// detector never asks it for a step-up, and throttles it beyond its envelope.
    pub service: Option<crate::service::Envelope>,
}

impl SignInContext {
    /// The key of a network's text form (`192.0.2.0/24`), as stored in [`Self::network`].
    pub fn network_key(network: &str) -> u64 {
        use sha2::{Digest, Sha256};
        let d = Sha256::digest(network.as_bytes());
        u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
    }
}

/// The foundation's detector: allows everything, records nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoDetection;

impl Detector for NoDetection {
    fn assess(&self, _event: &AccessEvent, _context: &DetectContext) -> crate::event::Verdict {
        crate::event::Verdict::allow()
    }
}

/// An account's sign-in secrets as stored: an Argon2id hash and a TOTP secret.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub password: crate::signin::PasswordHash,
    pub totp: crate::signin::TotpSecret,
}

/// A server-side session to create. The store keeps the tokens' hashes, never the tokens.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub agent: AgentId,
    pub refresh_hash: [u8; 32],
    pub access_hash: [u8; 32],
    pub access_expires_at: Timestamp,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// How it was opened: `password_totp`, `passkey`, `oidc`, `oidc+totp`, `oidc+passkey`.
    pub method: String,
    /// Opened with two factors (or a passkey with user verification).
    pub mfa: bool,
    /// The passkey that opened it, if one did.
    pub credential: Option<Vec<u8>>,
    pub source: String,
    pub context: ClientContext,
    pub user_agent: String,
    /// The agent's probation end, if it is on probation at sign-in.
    pub probation_until: Option<Timestamp>,
    /// What the session layer learnt at sign-in (network key, browser family, the account's
    /// origin). The store fills `previous_sign_in`, `concurrent_sessions` and
    /// `credential_changed_at` itself, in the transaction that creates the session; what is
    /// given for them here is ignored.
    pub sign_in: SignInContext,
}

/// A session found by its access token, with the account it belongs to and that account's
/// organization, read together.
#[derive(Clone, Debug)]
pub struct AccessSession {
    pub session: SessionRecord,
    /// `None` if the account no longer exists.
    pub agent: Option<Agent>,
    /// `None` if the account or its organization no longer exists.
    pub org: Option<Organization>,
}

/// A session as read back from the store.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    pub id: SessionId,
    pub agent: AgentId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub last_seen: Timestamp,
    pub access_expires_at: Timestamp,
    pub method: String,
    pub mfa: bool,
    pub credential: Option<Vec<u8>>,
    pub source: String,
    pub context: ClientContext,
    pub user_agent: String,
    pub elevated_until: Option<Timestamp>,
    pub step_up_demanded_at: Option<Timestamp>,
    pub device_key: Option<Vec<u8>>,
    pub probation_until: Option<Timestamp>,
    /// The sign-in context, as stored when the session was created.
    pub sign_in: SignInContext,
}

impl SessionRecord {
    pub fn state(&self) -> crate::signin::SessionState {
        crate::signin::SessionState {
            bound_to: self.context.clone(),
            expires_at: self.expires_at,
            last_seen: self.last_seen,
            elevated_until: self.elevated_until,
            step_up_demanded_at: self.step_up_demanded_at,
        }
    }
}

/// A stored passkey: webauthn-rs's serialized credential, opaque to the core.
#[derive(Clone, Debug)]
pub struct StoredPasskey {
    pub credential_id: Vec<u8>,
    pub agent: AgentId,
    pub user_handle: [u8; 16],
    pub label: String,
    pub passkey: String,
    pub created_at: Timestamp,
    pub last_used: Option<Timestamp>,
}

/// Where an account came from: created with the foundation's loader (all `None`) or through
/// a four-eyes request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountOrigin {
    pub created_at: Option<Timestamp>,
    pub created_by: Option<AgentId>,
    pub approved_by: Option<AgentId>,
    pub probation_until: Option<Timestamp>,
}

/// The approval of a request, written at once: the request decided, the account created
/// (active, without credentials, on probation) and its enrolment link stored.
#[derive(Clone, Debug)]
pub struct Approval {
    pub request: u64,
    pub approver: AgentId,
    pub at: Timestamp,
    pub probation_until: Timestamp,
    pub enrolment_hash: [u8; 32],
    pub enrolment_expires_at: Timestamp,
}

/// Accounts, credentials, sessions, passkeys, account requests and federated identities.
pub trait AccountStore: Send + Sync {
    /// A service account's key and envelope, if `agent` is one (`None` for a person's account).
    fn service_account(&self, _agent: AgentId) -> Result<Option<crate::service::ServiceAccount>, StoreError> {
        Ok(None)
    }
    /// Registers (or replaces) a service account's key and envelope, recorded in the ledger first.
    fn register_service_account(
        &self,
        _account: &crate::service::ServiceAccount,
        _at: Timestamp,
        _by: Option<AgentId>,
    ) -> Result<(), StoreError> {
        Err(StoreError("this store does not keep service accounts".into()))
    }
    /// Stores a campaign a manager declared (recorded in the ledger first); returns its id.
    fn store_campaign(&self, _campaign: &crate::campaign::CampaignDeclaration) -> Result<u64, StoreError> {
        Err(StoreError("this store does not keep campaigns".into()))
    }
    /// The declared campaigns not yet ended at `now`.
    fn active_campaigns(&self, _now: Timestamp) -> Result<Vec<crate::campaign::CampaignDeclaration>, StoreError> {
        Ok(Vec::new())
    }
    fn agent_by_login(&self, login: &crate::ids::Login) -> Result<Option<Agent>, StoreError>;
    fn credentials(&self, agent: AgentId) -> Result<Option<Credentials>, StoreError>;
    /// Sets both secrets, and records `changed_at` as the account's last credential change
    /// (`None`: the time is not known, as from a tool without a clock; recorded as unknown).
    fn set_credentials(
        &self,
        agent: AgentId,
        credentials: &Credentials,
        changed_at: Option<Timestamp>,
    ) -> Result<(), StoreError>;
    /// Records `step` as the last TOTP step used, only if it is later than the one recorded.
    /// Returns false on a replay. Must be atomic.
    fn consume_totp_step(&self, agent: AgentId, step: i64) -> Result<bool, StoreError>;

    /// Creates a session; if the agent then has more than `max_concurrent` live sessions at
    /// `session.created_at`, ends the least recently used ones and returns their ids. In the
    /// same transaction, fills the session's sign-in context from the account (its previous
    /// sign-in, its other live sessions before any is ended, capped at 255, its last
    /// credential change) and records this sign-in as the account's last.
    fn create_session(
        &self,
        session: &NewSession,
        max_concurrent: usize,
    ) -> Result<(SessionId, Vec<SessionId>), StoreError>;
    /// The session whose current access token hashes to `hash`, if that token has not expired,
    /// with its account and the account's organization as they stand now (`None` when gone).
    /// Every authenticated request starts here, so an implementation should read all three
    /// at once (the SQLite store does it in one statement).
    fn session_by_access(&self, hash: &[u8; 32], now: Timestamp) -> Result<Option<AccessSession>, StoreError>;
    /// Whether `hash` is the access token of a live session whose access token has expired (so
    /// refreshing would help). Asked only after [`AccountStore::session_by_access`] found
    /// nothing, to tell a client what to do; an unknown, forged or revoked token is `false`
    /// alike. The default says `false`: "sign in again" is never wrong, only less helpful.
    fn access_expired(&self, hash: &[u8; 32], now: Timestamp) -> Result<bool, StoreError> {
        let _ = (hash, now);
        Ok(false)
    }
    /// The session whose refresh token hashes to `hash` (expiry is the caller's check).
    fn session_by_refresh(&self, hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError>;
    fn session_by_id(&self, id: SessionId) -> Result<Option<SessionRecord>, StoreError>;
    /// Replaces the access token. Returns false if the session is gone.
    fn rotate_access(&self, id: SessionId, hash: &[u8; 32], expires_at: Timestamp) -> Result<bool, StoreError>;
    fn touch_session(&self, id: SessionId, now: Timestamp) -> Result<(), StoreError>;
    /// Marks a demanded step-up (kept if one is already pending).
    fn demand_step_up(&self, id: SessionId, at: Timestamp) -> Result<(), StoreError>;
    /// Elevates the session until `until`, clears a pending step-up.
    fn elevate(&self, id: SessionId, until: Timestamp) -> Result<(), StoreError>;
    /// Binds the session to a device key, once: false if it is already bound (a key is never
    /// replaced).
    fn bind_device(&self, id: SessionId, key: &[u8]) -> Result<bool, StoreError>;
    /// The organization a team belongs to.
    fn team_org(&self, team: crate::ids::TeamId) -> Result<Option<OrgId>, StoreError>;
    /// Ends one session. Returns false if it was already gone.
    fn end_session(&self, id: SessionId) -> Result<bool, StoreError>;
    fn end_sessions_of(&self, agent: AgentId) -> Result<Vec<SessionId>, StoreError>;
    fn end_sessions_by_credential(&self, credential_id: &[u8]) -> Result<Vec<SessionId>, StoreError>;
    /// The agent's live sessions at `now`, most recently used first.
    fn sessions_of(&self, agent: AgentId, now: Timestamp) -> Result<Vec<SessionRecord>, StoreError>;

    fn passkeys_of(&self, agent: AgentId) -> Result<Vec<StoredPasskey>, StoreError>;
    fn passkeys_by_handle(&self, user_handle: &[u8; 16]) -> Result<Vec<StoredPasskey>, StoreError>;
    /// Adds a passkey; its `created_at` becomes the account's last credential change.
    fn add_passkey(&self, passkey: &StoredPasskey) -> Result<(), StoreError>;
    /// Stores the updated credential (counter, backup state) after a use.
    fn update_passkey(&self, credential_id: &[u8], passkey: &str, now: Timestamp) -> Result<(), StoreError>;
    /// Returns false if `agent` has no such passkey.
    fn remove_passkey(&self, agent: AgentId, credential_id: &[u8]) -> Result<bool, StoreError>;

    /// Stores a pending request; `None` if the login is already taken or pending.
    fn create_request(&self, request: &crate::lifecycle::AccountRequest) -> Result<Option<u64>, StoreError>;
    fn request(&self, id: u64) -> Result<Option<crate::lifecycle::AccountRequest>, StoreError>;
    /// Requests of an organization (all organizations when `None`), newest first.
    fn requests(&self, org: Option<OrgId>, limit: usize) -> Result<Vec<crate::lifecycle::AccountRequest>, StoreError>;
    fn requests_made_since(&self, agent: AgentId, since: Timestamp) -> Result<usize, StoreError>;
    /// Approves atomically; `None` if the request was no longer pending (a concurrent decision)
    /// or its login was taken meanwhile.
    fn approve_request(&self, approval: &Approval) -> Result<Option<AgentId>, StoreError>;
    /// Rejects; false if no longer pending.
    fn reject_request(&self, request: u64, by: AgentId, at: Timestamp) -> Result<bool, StoreError>;
    fn account_origin(&self, agent: AgentId) -> Result<AccountOrigin, StoreError>;
    /// The agent an unused, unexpired enrolment link belongs to.
    fn enrolment(&self, hash: &[u8; 32], now: Timestamp) -> Result<Option<AgentId>, StoreError>;
    /// Spends the link; false if it was already used or expired (single use, atomic).
    fn consume_enrolment(&self, hash: &[u8; 32], now: Timestamp) -> Result<bool, StoreError>;
    fn set_agent_active(&self, agent: AgentId, active: bool) -> Result<(), StoreError>;

    /// Freezes account creation in `freeze.org`; false (and the first freeze kept) if it is
    /// already frozen.
    fn freeze_org_creation(&self, freeze: &crate::lifecycle::OrgFreeze) -> Result<bool, StoreError>;
    /// Lifts the freeze; the freeze lifted, `None` if there was none.
    fn unfreeze_org_creation(&self, org: OrgId) -> Result<Option<crate::lifecycle::OrgFreeze>, StoreError>;
    /// The freeze on account creation in `org`, if any.
    fn org_creation_frozen(&self, org: OrgId) -> Result<Option<crate::lifecycle::OrgFreeze>, StoreError>;

    fn federated_agent(&self, issuer: &str, subject: &str) -> Result<Option<AgentId>, StoreError>;
    /// Links an identity; false if the agent or the identity is already linked.
    fn link_identity(&self, issuer: &str, subject: &str, agent: AgentId, at: Timestamp) -> Result<bool, StoreError>;
    fn agents_by_email(&self, email: &str) -> Result<Vec<Agent>, StoreError>;
}
