//! The console's view of the ledger (`vigie_core::console::LedgerView`), answered from the same
//! source as scoping: an account's entries in a window read through the index and checked
//! against the log, the trust checks (checkpoint, witnesses, last verification), and a full
//! verification whose outcome is recorded where scoping reads it.

use vigie_core::console::{LedgerStatus, LedgerView};
use vigie_core::ids::AgentId;
use vigie_core::incident::scope::ScopeRow;
use vigie_core::incident::{Selector, Window};
use vigie_ledger::VerifyOptions;
use vigie_scope::Query;

use super::Incidents;

impl LedgerView for Incidents {
    fn accesses(&self, agent: AgentId, window: Window) -> Result<Vec<ScopeRow>, String> {
        let query =
            Query { window, selectors: vec![Selector::Agent(agent)], persons: Default::default(), security: false };
        match self.ledgers().run(&query, true) {
            Ok(merged) => {
                let mut rows = merged.found.rows;
                rows.sort_by_key(|r| (r.at.0, r.index));
                Ok(rows)
            }
            // Nothing written in that window (a ledger just started): nothing to show.
            Err(e) if e.outside() => Ok(Vec::new()),
            Err(e) => Err(e.to_string()),
        }
    }

    fn peer_accesses(&self, agent: AgentId, window: Window) -> Result<Option<(usize, Vec<ScopeRow>)>, String> {
        let store = self.store();
        let Some(me) = store.agent(agent).map_err(|e| e.to_string())? else { return Ok(None) };
        let Some(org) = store.organization(me.org).map_err(|e| e.to_string())? else { return Ok(None) };
        let peers = store.peer_agents(&me, org.kind, vigie_core::console::PEER_SAMPLE).map_err(|e| e.to_string())?;
        if peers.is_empty() {
            return Ok(Some((0, Vec::new())));
        }
        // One read of the index for the whole sample.
        let query = Query {
            window,
            selectors: peers.iter().map(|a| Selector::Agent(*a)).collect(),
            persons: Default::default(),
            security: false,
        };
        match self.ledgers().run(&query, true) {
            Ok(merged) => Ok(Some((peers.len(), merged.found.rows))),
            Err(e) if e.outside() => Ok(Some((peers.len(), Vec::new()))),
            Err(e) => Err(e.to_string()),
        }
    }

    fn status(&self) -> LedgerStatus {
        let src = self.own_source();
        let trust = vigie_scope::trust::check(&src.dir, src.verifier.as_ref(), &src.witness_dirs);
        let witnesses = src
            .witness_dirs
            .iter()
            .map(|w| {
                let name = w.display().to_string();
                let problem = trust.problems.iter().find(|p| p.contains(&name)).cloned();
                (name, problem)
            })
            .collect();
        LedgerStatus {
            checkpoint_size: trust.checkpoint.as_ref().map(|c| c.checkpoint.size),
            checkpoint: trust.checkpoint.as_ref().map(|c| {
                (c.checkpoint.origin.clone(), c.checkpoint.text().lines().nth(2).unwrap_or_default().to_owned())
            }),
            witnesses,
            problems: trust.problems,
            last_verification: trust.last_verification,
        }
    }

    fn verify(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<u64, String> {
        let src = self.own_source();
        let options = VerifyOptions { verifier: src.verifier.clone(), witness_dirs: src.witness_dirs.clone() };
        let result =
            vigie_ledger::verify_with(&src.dir, &options, progress).map(|r| r.entries).map_err(|e| e.to_string());
        let now = self.clock.now().millis();
        if let Err(e) =
            vigie_scope::record_verification(&src.dir, result.as_ref().map(|n| *n).map_err(String::as_str), now)
        {
            tracing::error!(error = %e, "the verification could not be recorded");
        }
        result
    }
}
