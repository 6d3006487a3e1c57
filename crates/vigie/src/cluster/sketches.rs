//! Organizations' counts across nodes: every second the heartbeat thread publishes this node's
//! sketches that changed into `vigie_cluster.org_sketches` and merges the others' written since
//! the last exchange (`vigie_core::detect::shared_counts`). Both sides look back a few seconds
//! more than needed: a row committed late, or a sketch merged twice, changes nothing (merging
//! is idempotent).

use std::time::Duration;

use vigie_core::detect::ExfiltrationDetector;
use vigie_core::ids::OrgId;
use vigie_core::time::Timestamp;
use vigie_store_pg::cluster::{ClusterDb, ClusterError};

/// How often the sketches are exchanged.
pub const EVERY: Duration = Duration::from_secs(1);
/// How far back each side looks again.
const OVERLAP_MS: i64 = 5_000;

/// What the last exchanges covered.
#[derive(Debug, Default)]
pub struct Exchange {
    published: i64,
    read: i64,
}

impl Exchange {
    pub fn new() -> Exchange {
        Exchange { published: i64::MIN, read: 0 }
    }

    /// Publishes, then merges. Returns the sketches published and merged.
    pub fn run(
        &mut self,
        db: &mut ClusterDb,
        detector: &ExfiltrationDetector,
        now: Timestamp,
    ) -> Result<(usize, usize), ClusterError> {
        let mine = detector.org_sketches(self.published.saturating_sub(OVERLAP_MS));
        let latest = mine.iter().map(|(_, l, _)| *l).max();
        let rows: Vec<(i64, Vec<u8>)> = mine.into_iter().map(|(org, _, bytes)| (org.as_i64(), bytes)).collect();
        db.publish_sketches(&rows)?;
        if let Some(l) = latest {
            self.published = self.published.max(l);
        }
        let theirs = db.others_sketches(self.read.saturating_sub(OVERLAP_MS))?;
        let mut merged = 0;
        for (org, bytes, written) in &theirs {
            self.read = self.read.max(*written);
            let Some(org) = OrgId::from_i64(*org) else { continue };
            match detector.merge_org_sketch(org, bytes, now) {
                Ok(()) => merged += 1,
                Err(e) => {
                    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
                    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                        tracing::error!(org = %org, error = %e, "another node's count of an organization was not merged: organization quotas count this node's agents only");
                    }
                }
            }
        }
        Ok((rows.len(), merged))
    }
}
