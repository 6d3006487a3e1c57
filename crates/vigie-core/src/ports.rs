//! Ports: what the core needs from the outside world, as small traits. Adapters (the SQLite
//! store, the ledger file writer, later PostgreSQL and the Merkle log) implement them; the
//! guard only ever sees these traits.

use crate::event::AccessEvent;
use crate::ids::{AgentId, FtId, PersonId};
use crate::nir::Nir;
use crate::org::{Agent, Organization};
use crate::person::{Person, ScopeEntry};
use crate::relationship::Relationship;

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
}

/// The detection hook on the guarded path. The foundation's detector allows everything; the
/// detection issue fills it. It sees every event, allowed or denied, before the ledger.
pub trait Detector: Send + Sync {
    fn assess(&self, event: &AccessEvent) -> crate::event::Verdict;
}

/// The foundation's detector: allows everything, records nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoDetection;

impl Detector for NoDetection {
    fn assess(&self, _event: &AccessEvent) -> crate::event::Verdict {
        crate::event::Verdict::allow()
    }
}

/// An account's sign-in secrets as stored: an Argon2id hash and a TOTP secret.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub password: crate::signin::PasswordHash,
    pub totp: crate::signin::TotpSecret,
}

/// A server-side session to create. The store keeps the token's hash, never the token.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub token_hash: [u8; 32],
    pub agent: AgentId,
    pub created_at: crate::time::Timestamp,
    pub expires_at: crate::time::Timestamp,
    /// Opened with a second factor (always true in this version: TOTP is required).
    pub mfa: bool,
    /// Source address at login (the session-binding issue checks it on refresh).
    pub source: String,
    pub user_agent: String,
}

/// A live session as read back from the store.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    pub id: crate::ids::SessionId,
    pub agent: AgentId,
    pub created_at: crate::time::Timestamp,
    pub expires_at: crate::time::Timestamp,
    pub mfa: bool,
    pub source: String,
    pub user_agent: String,
}

/// Accounts, credentials and sessions, for sign-in. Passkeys and approvals come later.
pub trait AccountStore: Send + Sync {
    fn agent_by_login(&self, login: &crate::ids::Login) -> Result<Option<Agent>, StoreError>;
    fn credentials(&self, agent: AgentId) -> Result<Option<Credentials>, StoreError>;
    fn set_credentials(&self, agent: AgentId, credentials: &Credentials) -> Result<(), StoreError>;
    /// Records `step` as the last TOTP step used, only if it is later than the one recorded.
    /// Returns false on a replay. Must be atomic.
    fn consume_totp_step(&self, agent: AgentId, step: i64) -> Result<bool, StoreError>;
    fn create_session(&self, session: &NewSession) -> Result<crate::ids::SessionId, StoreError>;
    /// A session by its token hash, if it exists and has not expired at `now`.
    fn session(&self, token_hash: &[u8; 32], now: crate::time::Timestamp) -> Result<Option<SessionRecord>, StoreError>;
    fn end_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError>;
}
