//! What the incident service asks of a store, whichever it is: the incident side
//! ([`IncidentStore`]), the registry and the accounts (who an account is, its organization, its
//! peers for the console's chart), and whether an extract was produced (an `extract:X`
//! selector). The embedded store and the PostgreSQL store both answer it.

use vigie_core::extract::ExtractId;
use vigie_core::extract::store::ExtractStore;
use vigie_core::ids::AgentId;
use vigie_core::incident::store::IncidentStore;
use vigie_core::org::{Agent, OrgKind};
use vigie_core::ports::{AccountStore, Registry, StoreError};

/// The store behind the incident service.
pub trait IncidentBackend: IncidentStore + Registry + AccountStore + ExtractStore {
    /// Up to `limit` active accounts of `agent`'s organization kind and role, `agent` excepted,
    /// lowest ids first (a fixed sample).
    fn peer_agents(&self, agent: &Agent, kind: OrgKind, limit: usize) -> Result<Vec<AgentId>, StoreError>;

    /// Whether extract `id` was produced (its rows are ledgered under a session of their own).
    fn extract_produced(&self, id: ExtractId) -> Result<bool, String> {
        ExtractStore::extract(self, id)
            .map(|x| x.is_some_and(|x| x.produced_at.is_some()))
            .map_err(|e| format!("the store: {e}"))
    }
}

impl IncidentBackend for vigie_store::Store {
    fn peer_agents(&self, agent: &Agent, kind: OrgKind, limit: usize) -> Result<Vec<AgentId>, StoreError> {
        vigie_store::Store::peer_agents(self, agent, kind, limit)
    }
}

impl IncidentBackend for vigie_store_pg::PgStore {
    fn peer_agents(&self, agent: &Agent, kind: OrgKind, limit: usize) -> Result<Vec<AgentId>, StoreError> {
        vigie_store_pg::PgStore::peer_agents(self, agent, kind, limit)
    }
}
