//! The storage extracts need, as a port: the requests and their life (each move a compare and
//! set on the state), the persons an extract takes (streamed in id order), the quota they count
//! against, and the canaries each carries. The embedded store and the PostgreSQL store implement
//! it; the extract service (`vigie::extracts`) uses it.

use std::ops::ControlFlow;

use crate::category::CategorySet;
use crate::ids::{AgentId, OrgId, PersonId};
use crate::person::Person;
use crate::ports::StoreError;
use crate::relationship::RelationshipKind;
use crate::time::Timestamp;

use super::{Extract, ExtractId, LegalBasis};

/// A request as it is filed (the store gives it its id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewExtract {
    pub org: OrgId,
    pub requested_by: AgentId,
    pub purpose: String,
    pub description: String,
    pub legal_basis: LegalBasis,
    pub relationship: RelationshipKind,
    pub fields: CategorySet,
    pub recipient: String,
    pub receipt_key: String,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
}

/// A canary placed in an extract, ready to be added to the registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacedCanary {
    pub number: u32,
    pub person: Person,
    /// Normalized contact points, as attribution compares them.
    pub email: String,
    pub phone: String,
}

/// What a production leaves in the store, in one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Production {
    pub at: Timestamp,
    pub rows: u64,
    pub sha256_hex: String,
    pub canaries: Vec<PlacedCanary>,
}

/// The extract side of the store. Object safe: the service holds it as `Arc<dyn …>` whichever
/// store is behind it.
pub trait ExtractStore: Send + Sync {
    /// Files a request, in state `requested`, under the next id (ids are never given twice,
    /// since ledgers, pseudonyms and files name them).
    fn create_extract(&self, x: &NewExtract) -> Result<Extract, StoreError>;
    fn extract(&self, id: ExtractId) -> Result<Option<Extract>, StoreError>;
    /// The newest extracts first.
    fn extracts(&self, limit: usize) -> Result<Vec<Extract>, StoreError>;
    /// Approves or refuses a request still pending. `false` if it was not pending any more.
    fn decide_extract(&self, id: ExtractId, approve: bool, by: AgentId, at: Timestamp) -> Result<bool, StoreError>;
    /// Persons the organization's produced extracts held since `since` (the quota's count).
    fn extracted_since(&self, org: OrgId, since: Timestamp) -> Result<u64, StoreError>;
    /// How many distinct persons `org` reaches through `kind` relationships active on `on`
    /// (from `on` included to their end included).
    fn count_extract_persons(&self, org: OrgId, kind: RelationshipKind, on: time::Date) -> Result<u64, StoreError>;
    /// Streams the persons [`ExtractStore::count_extract_persons`] counts, in id order, each
    /// once, to `f`, which stops the walk with `Break` (the walk then ends `Ok`). Memory stays
    /// bounded whatever their number; the store may run `f` on a thread of its own, hence `Send`.
    /// [`for_each_person`] carries the caller's own error out instead.
    fn for_each_extract_person(
        &self,
        org: OrgId,
        kind: RelationshipKind,
        on: time::Date,
        f: &mut (dyn FnMut(Person) -> ControlFlow<()> + Send),
    ) -> Result<(), StoreError>;
    /// Records a production: adds the canaries to the registry (ids after the largest) as
    /// canaries of the extract, and marks the extract produced, all in one transaction, only if
    /// it is still approved. Returns the canaries' ids in the order given; `Ok(None)` (and
    /// nothing written) if the extract was no longer approved.
    fn commit_production(&self, id: ExtractId, p: &Production) -> Result<Option<Vec<PersonId>>, StoreError>;
    /// Records an accepted deletion receipt. `false` if the extract was not produced.
    fn record_extract_deleted(&self, id: ExtractId, at: Timestamp) -> Result<bool, StoreError>;
    /// Notes that the ciphertext was handed over at `at`, if it was not before (the first
    /// hand-over is kept; each one is in the ledger).
    fn record_extract_downloaded(&self, id: ExtractId, at: Timestamp) -> Result<(), StoreError>;
    /// Produced extracts past their retention at `now` without a receipt, by id, and whether
    /// each was already noted (ledgered and alerted once).
    fn overdue_extracts(&self, now: Timestamp) -> Result<Vec<(Extract, bool)>, StoreError>;
    fn note_extract_overdue(&self, id: ExtractId) -> Result<(), StoreError>;
    /// The extract canaries whose normalized e-mail (if given, else phone) is this:
    /// (extract, number). Neither given: none.
    fn extract_canaries_by(
        &self,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Vec<(ExtractId, u32)>, StoreError>;
    /// Every extract canary, by person id: person → extract (the detector names the extract in
    /// its alert).
    fn extract_canaries(&self) -> Result<Vec<(PersonId, ExtractId)>, StoreError>;
}

/// [`ExtractStore::for_each_extract_person`] with a callback that fails with an error of its
/// own, returned as it is (a store failure becomes `E` too).
pub fn for_each_person<S, E>(
    store: &S,
    org: OrgId,
    kind: RelationshipKind,
    on: time::Date,
    mut f: impl FnMut(Person) -> Result<(), E> + Send,
) -> Result<(), E>
where
    S: ExtractStore + ?Sized,
    E: From<StoreError> + Send,
{
    let mut failed = None;
    store.for_each_extract_person(org, kind, on, &mut |p| match f(p) {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => {
            failed = Some(e);
            ControlFlow::Break(())
        }
    })?;
    failed.map_or(Ok(()), Err)
}
