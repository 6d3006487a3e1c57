//! The incident service as a port: what the API and the command line ask of incidents, answered
//! by the binary's wiring of the store, the ledger, scoping and the notification crate. The HTTP
//! layer sees incidents only through this trait, as it sees the store and the ledger through
//! theirs.

use crate::ids::{IncidentId, PersonId};
use crate::time::Timestamp;

use super::scope::{AccountPart, Counts};
use super::store::{Decision, Notice, NoticeCounts};
use super::{Author, Incident, Selector, TransitionError, Window};

/// An officer's request to open an incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenRequest {
    pub title: String,
    pub window: Window,
    /// When the controller became aware (default: now).
    pub awareness_at: Option<Timestamp>,
    pub selectors: Vec<Selector>,
    /// The alert it comes from (its agent becomes a selector when none is given).
    pub alert: Option<u64>,
}

/// A scoping result, as shown and stored.
#[derive(Clone, Debug, PartialEq)]
pub struct ScopeSummary {
    pub incident: IncidentId,
    /// Why the ledger could not be trusted (the result was forced); empty when verified.
    pub unverified: Vec<String>,
    pub counts: Counts,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    pub accounts: Vec<AccountPart>,
    /// The signed checkpoints cited, one per ledger read (one per node among several):
    /// origin, size, root (base64).
    pub checkpoints: Vec<(String, u64, String)>,
    /// Months in the window whose keys are shredded, with their entry counts.
    pub shredded: Vec<(String, u64)>,
    /// Entries relied on that no checkpoint covers yet.
    pub after_checkpoint: u64,
    /// Files written: (what, path).
    pub files: Vec<(String, String)>,
    pub seconds: f64,
}

/// A proposed expansion, as shown to the officer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposalView {
    pub target: Selector,
    pub why: Vec<String>,
    pub weak: bool,
    /// The ledger entries that show it: `1234`, or `n2:1234` (node n2's ledger) among several.
    pub evidence: Vec<String>,
}

/// What `notify` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyReport {
    pub persons: u64,
    pub serious: u64,
    pub standard: u64,
    pub with_email: u64,
    pub files: Vec<(String, String)>,
    /// Whether the e-mails are being sent (a relay is configured).
    pub sending: bool,
}

/// Why an incident action was refused or failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IncidentError {
    #[error("no incident {0}")]
    NotFound(IncidentId),
    #[error("{0}")]
    Transition(#[from] TransitionError),
    #[error("{0}")]
    BadRequest(String),
    #[error(
        "the ledger failed verification, so scoping refuses (force it to get a result marked unverified): {}",
        .0.join("; ")
    )]
    Unverified(Vec<String>),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
}

/// Incidents, end to end.
pub trait IncidentService: Send + Sync {
    fn open(&self, request: OpenRequest, by: Author) -> Result<Incident, IncidentError>;
    fn get(&self, id: IncidentId) -> Result<(Incident, Vec<Decision>), IncidentError>;
    fn list(&self, limit: usize) -> Result<Vec<Incident>, IncidentError>;
    /// Scopes the incident exactly; refused on an unverified ledger unless `force`.
    fn scope(&self, id: IncidentId, force: bool, by: Author) -> Result<ScopeSummary, IncidentError>;
    /// The last scoping result, if any.
    fn last_scope(&self, id: IncidentId) -> Result<Option<ScopeSummary>, IncidentError>;
    fn proposals(&self, id: IncidentId) -> Result<Vec<ProposalView>, IncidentError>;
    /// Accepts or refuses a proposed expansion (only a proposed one).
    fn decide(&self, id: IncidentId, target: Selector, accept: bool, by: Author) -> Result<Incident, IncidentError>;
    /// Drafts the notifications and starts sending; refused the second time.
    fn notify(&self, id: IncidentId, by: Author) -> Result<NotifyReport, IncidentError>;
    /// Goes on with a campaign that stopped (a crash, a restart).
    fn resume(&self, id: IncidentId, by: Author) -> Result<NotifyReport, IncidentError>;
    fn notices(&self, id: IncidentId) -> Result<NoticeCounts, IncidentError>;
    fn notice(&self, id: IncidentId, person: PersonId) -> Result<Option<Notice>, IncidentError>;
    fn close(&self, id: IncidentId, by: Author) -> Result<Incident, IncidentError>;
}
