//! The storage an incident needs, as a port: incidents and their decisions, the registry's
//! answers scoping needs (duplicates, canaries, recipients), and the state of each person's
//! notification. The store adapter implements it; the incident service uses it.

use std::collections::{HashMap, HashSet};

use crate::category::CategorySet;
use crate::ids::{AgentId, IncidentId, PersonId};
use crate::ports::StoreError;
use crate::time::Timestamp;

use super::notice::{LetterKind, Recipient};
use super::{Author, Incident, IncidentState, Selector, Window};

/// A new incident, before the store gives it an id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewIncident {
    pub title: String,
    pub opened_at: Timestamp,
    pub opened_by: Author,
    pub awareness_at: Timestamp,
    pub window: Window,
    pub selectors: Vec<Selector>,
    pub alert: Option<u64>,
}

/// An officer's decision on a proposed expansion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub incident: IncidentId,
    pub target: Selector,
    pub accepted: bool,
    pub by: Author,
    pub at: Timestamp,
    /// Why it was proposed, as shown to the officer.
    pub why: String,
}

/// Where one person's notification stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NoticeState {
    /// To be sent.
    Pending,
    /// Handed to the mail server; its answer not yet recorded.
    Sending,
    /// A previous run stopped while it was `Sending`: whether the server took it is unknown
    /// until the relay's log says so (never sent again without that).
    InDoubt,
    /// The mail server accepted it.
    Sent,
    /// Refused for good by the server (a bad address): goes by post only.
    Failed,
    /// No e-mail address: goes by post only.
    NoAddress,
}

impl NoticeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeState::Pending => "pending",
            NoticeState::Sending => "sending",
            NoticeState::InDoubt => "in_doubt",
            NoticeState::Sent => "sent",
            NoticeState::Failed => "failed",
            NoticeState::NoAddress => "no_address",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        use NoticeState::*;
        [Pending, Sending, InDoubt, Sent, Failed, NoAddress].into_iter().find(|x| x.as_str() == s)
    }
}

/// One person's notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub incident: IncidentId,
    pub person: PersonId,
    pub kind: LetterKind,
    /// What was released of them, and when (what their letter says).
    pub categories: CategorySet,
    pub first: Timestamp,
    pub last: Timestamp,
    pub email: Option<String>,
    pub state: NoticeState,
    pub attempts: u32,
    /// The Message-ID it was (or will be) sent with: the same at every attempt.
    pub message_id: String,
    pub updated: Timestamp,
    pub error: Option<String>,
}

/// Counts of notifications by state.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct NoticeCounts {
    pub pending: u64,
    pub sending: u64,
    pub in_doubt: u64,
    pub sent: u64,
    pub failed: u64,
    pub no_address: u64,
}

/// The incident side of the store.
pub trait IncidentStore: Send + Sync {
    fn create_incident(&self, new: &NewIncident) -> Result<IncidentId, StoreError>;
    fn incident(&self, id: IncidentId) -> Result<Option<Incident>, StoreError>;
    fn incidents(&self, limit: usize) -> Result<Vec<Incident>, StoreError>;
    /// Adds a selector (an accepted expansion) and records the decision, accepted or not.
    fn decide(&self, decision: &Decision) -> Result<(), StoreError>;
    fn decisions(&self, incident: IncidentId) -> Result<Vec<Decision>, StoreError>;
    /// Moves the incident to `to` if it is in `from` (compare and set); `false` if it was not.
    fn set_state(
        &self,
        id: IncidentId,
        from: IncidentState,
        to: IncidentState,
        at: Timestamp,
    ) -> Result<bool, StoreError>;

    /// The original record of each of `persons` that is a registry duplicate.
    fn originals(&self, persons: &[PersonId]) -> Result<HashMap<PersonId, PersonId>, StoreError>;
    fn canaries(&self) -> Result<HashSet<PersonId>, StoreError>;
    /// The recipients of `persons`, as the registry holds them (missing persons are left out).
    fn recipients(&self, persons: &[PersonId]) -> Result<Vec<Recipient>, StoreError>;

    /// Creates the campaign's notices, all at once, once: `false` if the incident already has
    /// notices (a second campaign is refused, so nobody is written to twice).
    fn create_notices(&self, notices: &[Notice]) -> Result<bool, StoreError>;
    /// Up to `limit` notices in `state`, by person id, after `after`.
    fn notices(
        &self,
        incident: IncidentId,
        state: NoticeState,
        after: Option<PersonId>,
        limit: usize,
    ) -> Result<Vec<Notice>, StoreError>;
    fn notice(&self, incident: IncidentId, person: PersonId) -> Result<Option<Notice>, StoreError>;
    /// Moves a notice from `from` to `to`, counting an attempt when it goes to `Sending`;
    /// `false` if it was not in `from`.
    fn move_notice(
        &self,
        incident: IncidentId,
        person: PersonId,
        from: NoticeState,
        to: NoticeState,
        at: Timestamp,
        error: Option<&str>,
    ) -> Result<bool, StoreError>;
    /// At a start: every `Sending` notice becomes `InDoubt` (its outcome was not recorded).
    fn sending_to_in_doubt(&self, incident: IncidentId, at: Timestamp) -> Result<u64, StoreError>;
    fn notice_counts(&self, incident: IncidentId) -> Result<NoticeCounts, StoreError>;
}

/// Who acted, for a store row: an agent id or the operator.
pub fn author_of(a: Author) -> Option<AgentId> {
    match a {
        Author::Officer(id) => Some(id),
        Author::Operator => None,
    }
}
