//! A take-over's rebuild: the claimed agents' detector state, from what the other nodes
//! ledgered. Each node's ledger is in its data directory, which the others read (shared storage:
//! see ARCHITECTURE.md); every entry a node acknowledged was fsynced there before the read it
//! records was served, so a node killed with `kill -9` loses none of them.
//!
//! Only the events of agents in the claimed groups are applied (the last 28 days, as at a
//! restart). The quotas count distinct persons, so an event applied twice (a group that came
//! back to a node that had already replayed it) counts once there and makes other counts
//! stricter, never laxer.

use std::path::PathBuf;

use vigie_core::detect::ExfiltrationDetector;
use vigie_core::event::EventHead;
use vigie_core::route::key_group;
use vigie_core::time::Timestamp;

/// Replays into `detector` the events of `dirs`' ledgers whose agent's key group is `wanted`.
/// Returns the events applied. A ledger that cannot be read is named in a warning (its agents
/// start from what this node knows): the operator must see it.
pub fn replay(detector: &ExfiltrationDetector, dirs: &[PathBuf], wanted: &[bool], now: Timestamp) -> usize {
    let from = now.millis().saturating_sub(vigie_core::detect::REPLAY_MS);
    let mut applied = 0;
    for dir in dirs {
        let ledger = crate::app::ledger_dir(dir);
        if !ledger.exists() {
            continue;
        }
        let entries = match vigie_ledger::Entries::open_after(&ledger, from) {
            Ok(e) => e.with_keys(&crate::app::ledger_keys_dir(dir)),
            Err(e) => {
                tracing::error!(ledger = %ledger.display(), error = %e, "a node's ledger could not be read for a take-over: its agents' quotas start from this node's state");
                continue;
            }
        };
        let heads = entries
            .map_while(Result::ok)
            .filter_map(|e| EventHead::decode(&e.body))
            .filter(|h| wanted.get(usize::from(key_group(h.agent))).copied().unwrap_or(false));
        applied += detector.replay(heads, now);
    }
    applied
}
