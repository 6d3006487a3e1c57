//! Organizations' counts shared between nodes (ARCHITECTURE.md, "PostgreSQL and several
//! nodes"): an organization's agents may be judged on different nodes, each counting in its own
//! sketch what its agents read. Every second each node publishes the sketches that changed and
//! merges the others' into its own; a merge is exact with respect to the sketches
//! ([`super::hll::SlidingHll::merge`]: the union's sketch, whatever the order), so the nodes
//! converge on the organization's whole count. Pure: bytes in, bytes out; the binary carries
//! them through the database.

use super::ExfiltrationDetector;
use super::hll::SlidingHll;
use super::org::OrgState;
use super::window::{DAY_MS, HOUR_MS, WEEK_MS};
use crate::ids::OrgId;
use crate::time::Timestamp;

/// Why another node's sketch was not merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("the sketch does not decode")]
    Malformed,
    #[error(
        "the sketch was made with another hash key or precision ([detection] hll_key must be the same on every node)"
    )]
    Incompatible,
}

impl ExfiltrationDetector {
    /// The sketches of organizations whose count changed after `after` (ms: the latest time a
    /// sketch saw), each with that time and its encoding, pending inserts applied first.
    pub fn org_sketches(&self, after: i64) -> Vec<(OrgId, i64, Vec<u8>)> {
        let Ok(mut st) = self.state.lock() else { return Vec::new() };
        let mut out = Vec::new();
        for (org, state) in st.orgs.iter_mut() {
            state.flush();
            let latest = state.hll.latest_ms();
            if latest > after {
                let mut bytes = Vec::new();
                state.hll.encode(&mut bytes);
                out.push((*org, latest, bytes));
            }
        }
        out
    }

    /// Merges another node's sketch of `org` into this node's, and re-estimates its counts at
    /// `now` so that the next read is judged against the whole organization's.
    pub fn merge_org_sketch(&self, org: OrgId, bytes: &[u8], now: Timestamp) -> Result<(), MergeError> {
        let (other, used) = SlidingHll::decode(bytes).ok_or(MergeError::Malformed)?;
        if used != bytes.len() {
            return Err(MergeError::Malformed);
        }
        let Ok(mut st) = self.state.lock() else { return Ok(()) };
        let key = self.config.hll_key;
        let state = st.orgs.entry(org).or_insert_with(|| OrgState::new(key));
        state.flush();
        if !state.hll.merge(&other) {
            return Err(MergeError::Incompatible);
        }
        let [hour, day, week] = state.hll.estimates(now, [HOUR_MS, DAY_MS, WEEK_MS]);
        state.estimate = super::org::Estimate { hour, day, week };
        Ok(())
    }
}
