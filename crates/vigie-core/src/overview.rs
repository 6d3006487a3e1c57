//! What the console's overview shows besides alerts: the records released per hour by
//! organization kind (counted as the guard hands them to the ledger), and the containment
//! figures of the last simulation report (`vigie simulate`). The ports the binary answers and
//! the pure counter; no I/O here.

use crate::event::AccessEvent;
use crate::org::OrgKind;
use crate::time::Timestamp;

const HOUR_MS: i64 = 3_600_000;

/// Records released per hour and organization kind, for the last [`HOURS_KEPT`] hours.
pub trait ReadsByKind: Send + Sync {
    /// For each organization kind, in [`OrgKind::ALL`]'s order, the records released in each of
    /// the `hours` hours before the hour that holds `now` and in that hour (oldest first),
    /// and since when the counts run (a restart starts them afresh).
    fn per_hour(&self, now: Timestamp, hours: usize) -> (Vec<(OrgKind, Vec<u32>)>, Timestamp);
}

/// Hours a counter keeps.
pub const HOURS_KEPT: usize = 48;

/// The counter behind [`ReadsByKind`]: a ring of hours, each with a count per organization kind.
#[derive(Clone, Debug)]
pub struct ReadCounts {
    since: Timestamp,
    /// (hour number since the epoch, counts per kind), by `hour % HOURS_KEPT`.
    ring: Vec<(i64, [u32; OrgKind::ALL.len()])>,
}

impl ReadCounts {
    pub fn new(since: Timestamp) -> ReadCounts {
        ReadCounts { since, ring: vec![(-1, [0; OrgKind::ALL.len()]); HOURS_KEPT] }
    }

    /// Counts the events whose data was released (some category returned).
    pub fn record(&mut self, events: &[AccessEvent]) {
        for e in events.iter().filter(|e| !e.returned.is_empty()) {
            let hour = e.at.0.div_euclid(HOUR_MS);
            let Some(kind) = OrgKind::ALL.iter().position(|k| *k == e.actor.org_kind) else { continue };
            let slot = &mut self.ring[usize::try_from(hour.rem_euclid(HOURS_KEPT as i64)).unwrap_or(0)];
            if slot.0 != hour {
                *slot = (hour, [0; OrgKind::ALL.len()]);
            }
            slot.1[kind] = slot.1[kind].saturating_add(1);
        }
    }

    pub fn per_hour(&self, now: Timestamp, hours: usize) -> (Vec<(OrgKind, Vec<u32>)>, Timestamp) {
        let hours = hours.min(HOURS_KEPT);
        let last = now.0.div_euclid(HOUR_MS);
        let out = OrgKind::ALL
            .iter()
            .enumerate()
            .map(|(k, kind)| {
                let counts = (0..hours)
                    .map(|i| {
                        let hour = last - (hours - 1 - i) as i64;
                        let slot = &self.ring[usize::try_from(hour.rem_euclid(HOURS_KEPT as i64)).unwrap_or(0)];
                        if slot.0 == hour { slot.1[k] } else { 0 }
                    })
                    .collect();
                (*kind, counts)
            })
            .collect();
        (out, self.since)
    }
}

/// The containment figures of one scenario of a simulation report, for Vigie.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioContainment {
    pub name: String,
    pub summary: String,
    /// Records exposed before containment, median over incidents.
    pub exposed_median: f64,
    /// Seconds to containment, median (`None`: some incident was never contained).
    pub time_to_contain_median: Option<f64>,
    /// Share of incidents contained (0–1).
    pub contained: f64,
}

/// The last simulation report, as the overview summarizes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Containment {
    /// When the report was written (the file's time).
    pub written: Option<Timestamp>,
    pub seeds: usize,
    pub days: u32,
    pub scenarios: Vec<ScenarioContainment>,
}

/// Where the last simulation report is read.
pub trait SimulationReport: Send + Sync {
    /// `Ok(None)`: no simulation has been run (no report where the server looks).
    fn last(&self) -> Result<Option<Containment>, String>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::{CategorySet, DataCategory};
    use crate::event::{AccessAction, Actor, Decision, Verdict};
    use crate::ids::{AgentId, OrgId, PersonId, RequestId, SessionId};
    use crate::org::Role;

    fn read(at: i64, kind: OrgKind, released: bool) -> AccessEvent {
        AccessEvent {
            at: Timestamp(at),
            request: RequestId(1),
            actor: Actor {
                agent: AgentId::new(1).unwrap(),
                org: OrgId::new(1).unwrap(),
                org_kind: kind,
                role: Role::Advisor,
                session: SessionId(1),
            },
            action: AccessAction::View,
            person: PersonId::new(1),
            requested: CategorySet::ALL,
            returned: if released { CategorySet::EMPTY.with(DataCategory::Identity) } else { CategorySet::EMPTY },
            relationship: None,
            decision: Decision::Allow,
            reasons: Vec::new(),
            verdict: Verdict::allow(),
        }
    }

    #[test]
    fn released_records_are_counted_per_hour_and_kind_and_old_hours_fall_out() {
        let mut c = ReadCounts::new(Timestamp(0));
        let h = HOUR_MS;
        c.record(&[
            read(10 * h + 5, OrgKind::TrainingOrg, true),
            read(10 * h + 6, OrgKind::TrainingOrg, true),
            read(10 * h + 7, OrgKind::TrainingOrg, false),
            read(11 * h, OrgKind::Agency, true),
        ]);
        let (counts, _) = c.per_hour(Timestamp(11 * h + 30), 3);
        let of = |k: OrgKind| counts.iter().find(|(x, _)| *x == k).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(of(OrgKind::TrainingOrg), [0, 2, 0], "a denial is not a read");
        assert_eq!(of(OrgKind::Agency), [0, 0, 1]);
        // Two days later the slots are reused: the old hours read zero, not their old counts.
        c.record(&[read((10 + HOURS_KEPT as i64) * h, OrgKind::Agency, true)]);
        let (counts, _) = c.per_hour(Timestamp((10 + HOURS_KEPT as i64) * h), 1);
        assert_eq!(counts.iter().find(|(k, _)| *k == OrgKind::TrainingOrg).unwrap().1, [0]);
        let (counts, _) = c.per_hour(Timestamp(11 * h), 2);
        assert_eq!(counts.iter().find(|(k, _)| *k == OrgKind::TrainingOrg).unwrap().1, [0, 0], "gone, not stale");
    }
}
