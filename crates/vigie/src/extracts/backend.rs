//! What the extract service asks of a store, whichever it is: the extract side
//! ([`ExtractStore`]), the registry (the requester, its organization) and the accounts (who
//! created and approved whom, for the four-eyes rules; the command line's TOTP check). The
//! embedded store and the PostgreSQL store both answer it.

use vigie_core::extract::store::ExtractStore;
use vigie_core::ids::AgentId;
use vigie_core::ports::{AccountStore, Registry, StoreError};

/// The store behind the extract service and its command line.
pub trait ExtractBackend: ExtractStore + Registry + AccountStore {
    /// The last TOTP step `agent` used, if any (the command line checks a code against it
    /// before consuming its step).
    fn totp_last_step(&self, agent: AgentId) -> Result<Option<i64>, StoreError>;
}

impl ExtractBackend for vigie_store::Store {
    fn totp_last_step(&self, agent: AgentId) -> Result<Option<i64>, StoreError> {
        vigie_store::Store::totp_last_step(self, agent)
    }
}

impl ExtractBackend for vigie_store_pg::PgStore {
    fn totp_last_step(&self, agent: AgentId) -> Result<Option<i64>, StoreError> {
        vigie_store_pg::PgStore::totp_last_step(self, agent)
    }
}
