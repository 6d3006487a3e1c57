//! What the security console reads beyond the store: an account's accesses in a window read
//! back from the ledger (its timeline, its chart, an alert's blast radius), the ledger's state,
//! and a full verification on demand. [`LedgerView`] is the port (the binary answers it from
//! the ledger's index and log, every row checked against the log as incident scoping does);
//! the functions below are the pure summaries the pages show.

use std::collections::HashSet;

use crate::category::DataCategory;
use crate::ids::{AgentId, PersonId};
use crate::incident::Window;
use crate::incident::scope::ScopeRow;
use crate::time::Timestamp;

/// The ledger as the console reads it.
pub trait LedgerView: Send + Sync {
    /// The access entries of `agent` in `window`, oldest first, read back from the ledger.
    fn accesses(&self, agent: AgentId, window: Window) -> Result<Vec<ScopeRow>, String>;
    /// The ledger's size, last checkpoint, witnesses and last full verification.
    fn status(&self) -> LedgerStatus;
    /// Re-hashes every entry (minutes on a large ledger), reporting `(done, total)` bytes as it
    /// goes; the outcome is recorded where scoping reads it. Returns the entries verified.
    fn verify(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<u64, String>;
    /// The access entries in `window` of `agent`'s peers (active accounts of the same
    /// organization kind and role, a fixed sample of at most [`PEER_SAMPLE`]), and how many
    /// peers were sampled. `Ok(None)` where the view cannot list peers.
    fn peer_accesses(&self, agent: AgentId, window: Window) -> Result<Option<(usize, Vec<ScopeRow>)>, String> {
        let _ = (agent, window);
        Ok(None)
    }
}

/// At most this many peers are read for an account's chart: the mean of fifty accounts is a
/// steady reference, and reading more would slow the account's page for little.
pub const PEER_SAMPLE: usize = 50;

/// The peers' mean of distinct persons per hour, over `hours` hours from `from`: for each hour,
/// the sum over the `peers` sampled accounts of the persons each read in that hour, divided by
/// `peers` (an idle peer counts as zero, as it is part of what is usual). `None` throughout
/// without peers.
pub fn peer_mean_per_hour(rows: &[ScopeRow], peers: usize, from: Timestamp, hours: usize) -> Vec<Option<f64>> {
    if peers == 0 {
        return vec![None; hours];
    }
    let mut sets: Vec<HashSet<(AgentId, PersonId)>> = (0..hours).map(|_| HashSet::new()).collect();
    for r in rows {
        let Some(p) = r.person else { continue };
        let h = (r.at.0 - from.0).div_euclid(HOUR_MS);
        if let Some(set) = usize::try_from(h).ok().and_then(|h| sets.get_mut(h)) {
            set.insert((r.agent, p));
        }
    }
    sets.iter().map(|s| Some(s.len() as f64 / peers as f64)).collect()
}

/// The ledger's state, as the console shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LedgerStatus {
    /// Entries under the last signed checkpoint.
    pub checkpoint_size: Option<u64>,
    /// The checkpoint's origin line and root (base64).
    pub checkpoint: Option<(String, String)>,
    /// Each witness directory, and what was found there (`None`: it agrees).
    pub witnesses: Vec<(String, Option<String>)>,
    /// Why the ledger cannot be trusted now; empty when it can.
    pub problems: Vec<String>,
    /// The last full verification, as recorded (`ok <entries> <ms>` or `failed <ms> <why>`).
    pub last_verification: Option<String>,
}

/// What left for one account since a moment: the persons whose data was released, and how
/// many of them per category; the entries the detector held back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlastRadius {
    pub persons: usize,
    /// Persons released per category, in [`DataCategory::ALL`]'s order (zeros kept).
    pub by_category: Vec<(DataCategory, usize)>,
    /// Entries that released data.
    pub released: usize,
    /// Entries the detector kept back (nothing left with them).
    pub withheld: usize,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
}

/// The blast radius of `rows` (an account's entries since an alert's first signal).
pub fn blast_radius(rows: &[ScopeRow]) -> BlastRadius {
    let mut persons: HashSet<PersonId> = HashSet::new();
    let mut per_cat: Vec<HashSet<PersonId>> = DataCategory::ALL.iter().map(|_| HashSet::new()).collect();
    let mut out = BlastRadius::default();
    for r in rows {
        if r.withheld() {
            out.withheld += 1;
        }
        let (true, Some(p)) = (r.released(), r.person) else { continue };
        out.released += 1;
        persons.insert(p);
        for (i, c) in DataCategory::ALL.iter().enumerate() {
            if r.returned.contains(*c)
                && let Some(set) = per_cat.get_mut(i)
            {
                set.insert(p);
            }
        }
        out.first = Some(out.first.map_or(r.at, |f| if r.at.0 < f.0 { r.at } else { f }));
        out.last = Some(out.last.map_or(r.at, |l| if r.at.0 > l.0 { r.at } else { l }));
    }
    out.persons = persons.len();
    out.by_category = DataCategory::ALL.iter().zip(per_cat).map(|(c, s)| (*c, s.len())).collect();
    out
}

const HOUR_MS: i64 = 3_600_000;

/// Distinct persons reached (released or not) per hour, for the `hours` hours from `from`.
pub fn distinct_per_hour(rows: &[ScopeRow], from: Timestamp, hours: usize) -> Vec<u32> {
    let mut sets: Vec<HashSet<PersonId>> = (0..hours).map(|_| HashSet::new()).collect();
    for r in rows {
        let Some(p) = r.person else { continue };
        let h = (r.at.0 - from.0).div_euclid(HOUR_MS);
        if let Some(set) = usize::try_from(h).ok().and_then(|h| sets.get_mut(h)) {
            set.insert(p);
        }
    }
    sets.iter().map(|s| u32::try_from(s.len()).unwrap_or(u32::MAX)).collect()
}

/// The account's own baseline for each of the last `hours` hours of `per_hour`: the mean of the
/// same hour of the day over the days before (as many as `per_hour` holds, at most `days`).
/// `None` for an hour with no earlier day to compare with.
pub fn hourly_baseline(per_hour: &[u32], hours: usize, days: usize) -> Vec<Option<f64>> {
    let start = per_hour.len().saturating_sub(hours);
    (start..per_hour.len())
        .map(|i| {
            let earlier: Vec<u32> =
                (1..=days).filter_map(|d| i.checked_sub(d * 24)).filter_map(|j| per_hour.get(j).copied()).collect();
            if earlier.is_empty() {
                None
            } else {
                Some(earlier.iter().map(|v| f64::from(*v)).sum::<f64>() / earlier.len() as f64)
            }
        })
        .collect()
}

/// One line of an account's timeline: consecutive entries of one action and one outcome, in one
/// session, grouped (a scope list of fifty lines is one line here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineLine {
    pub from: Timestamp,
    pub to: Timestamp,
    pub action: crate::event::AccessAction,
    pub session: crate::ids::SessionId,
    pub entries: usize,
    pub persons: usize,
    pub released: bool,
    pub verdict: crate::event::VerdictAction,
}

/// `rows` (oldest first) grouped into timeline lines, newest first, at most `limit`.
pub fn timeline(rows: &[ScopeRow], limit: usize) -> Vec<TimelineLine> {
    let mut out: Vec<(TimelineLine, HashSet<PersonId>)> = Vec::new();
    for r in rows.iter().rev() {
        let same = out.last().is_some_and(|(l, _)| {
            l.action == r.action && l.session == r.session && l.released == r.released() && l.verdict == r.verdict
        });
        if same {
            if let Some((l, persons)) = out.last_mut() {
                l.from = r.at;
                l.entries += 1;
                persons.extend(r.person);
                l.persons = persons.len();
            }
            continue;
        }
        if out.len() == limit {
            break;
        }
        let persons: HashSet<PersonId> = r.person.into_iter().collect();
        out.push((
            TimelineLine {
                from: r.at,
                to: r.at,
                action: r.action,
                session: r.session,
                entries: 1,
                persons: persons.len(),
                released: r.released(),
                verdict: r.verdict,
            },
            persons,
        ));
    }
    out.into_iter().map(|(l, _)| l).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::CategorySet;
    use crate::event::{AccessAction, Decision, VerdictAction};
    use crate::ids::SessionId;

    fn row(i: u64, at: i64, person: u64, released: bool, verdict: VerdictAction) -> ScopeRow {
        let cats = CategorySet::EMPTY.with(DataCategory::Identity).with(DataCategory::Contact);
        ScopeRow {
            index: i,
            at: Timestamp(at),
            agent: AgentId::new(7).unwrap(),
            session: SessionId(1),
            action: AccessAction::View,
            person: PersonId::new(person),
            requested: cats,
            returned: if released { cats } else { CategorySet::EMPTY },
            decision: Decision::Allow,
            verdict,
        }
    }

    #[test]
    fn the_peer_line_is_the_mean_over_the_sampled_peers_idle_ones_included() {
        let of = |agent: u64, at: i64, person: u64| ScopeRow {
            agent: AgentId::new(agent).unwrap(),
            ..row(0, at, person, true, VerdictAction::Allow)
        };
        // Hour 0: peer 8 reads persons 1, 1, 2; peer 9 reads person 1. Hour 1: peer 9, person 3.
        let rows = [of(8, 10, 1), of(8, 20, 1), of(8, 30, 2), of(9, 40, 1), of(9, HOUR_MS + 5, 3)];
        // Four peers sampled, two of them idle.
        assert_eq!(peer_mean_per_hour(&rows, 4, Timestamp(0), 3), [Some(0.75), Some(0.25), Some(0.0)]);
        assert_eq!(peer_mean_per_hour(&rows, 0, Timestamp(0), 2), [None, None], "no peers, no line");
    }

    #[test]
    fn blast_radius_counts_persons_released_not_entries() {
        let rows = [
            row(0, 1000, 1, true, VerdictAction::Allow),
            row(1, 2000, 1, true, VerdictAction::Allow),
            row(2, 3000, 2, true, VerdictAction::Allow),
            row(3, 4000, 3, false, VerdictAction::Throttle),
        ];
        let b = blast_radius(&rows);
        assert_eq!((b.persons, b.released, b.withheld), (2, 3, 1));
        assert_eq!(b.by_category.iter().find(|(c, _)| *c == DataCategory::Contact).map(|(_, n)| *n), Some(2));
        assert_eq!(b.by_category.iter().find(|(c, _)| *c == DataCategory::Nir).map(|(_, n)| *n), Some(0));
        assert_eq!((b.first, b.last), (Some(Timestamp(1000)), Some(Timestamp(3000))));
    }

    #[test]
    fn hours_count_distinct_persons_and_the_baseline_is_the_same_hour_on_earlier_days() {
        let rows = [
            row(0, 10, 1, true, VerdictAction::Allow),
            row(1, 20, 1, true, VerdictAction::Allow),
            row(2, 30, 2, true, VerdictAction::Allow),
            row(3, 24 * HOUR_MS + 5, 3, true, VerdictAction::Allow),
            row(4, -5, 9, true, VerdictAction::Allow),
        ];
        let h = distinct_per_hour(&rows, Timestamp(0), 48);
        assert_eq!((h[0], h[1], h[24], h.len()), (2, 0, 1, 48));
        let b = hourly_baseline(&h, 24, 7);
        assert_eq!(b.len(), 24);
        assert_eq!(b[0], Some(2.0), "hour 24 compared with hour 0");
        assert_eq!(hourly_baseline(&h[..24], 24, 7)[0], None, "no earlier day");
    }

    #[test]
    fn the_timeline_groups_runs_newest_first() {
        let rows = [
            row(0, 1000, 1, true, VerdictAction::Allow),
            row(1, 2000, 2, true, VerdictAction::Allow),
            row(2, 3000, 3, false, VerdictAction::Throttle),
        ];
        let t = timeline(&rows, 10);
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].verdict, t[0].entries), (VerdictAction::Throttle, 1));
        assert_eq!((t[1].entries, t[1].persons, t[1].from, t[1].to), (2, 2, Timestamp(1000), Timestamp(2000)));
        assert_eq!(timeline(&rows, 1).len(), 1);
    }
}
