//! What a system is measured on (research note §7): persons exposed before containment (REBC),
//! time to detect (TTD) and to contain (TTC) per incident; false step-ups, throttles and
//! suspensions per 1 000 benign agent-days.
//!
//! - **Exposed**: distinct persons whose fields were returned to the attacker's sessions.
//! - **Contained**: at the first action of the system (a throttle, a session ended, an account
//!   suspended, a sign-in refused) after which the attacker's accounts got at most one new
//!   person in any hour for the rest of the run. REBC counts the persons exposed before it;
//!   an incident that was never contained counts all it exposed.
//! - **Detected**: the first step-up or stricter verdict on an attacker's request (or the first
//!   action, whichever is first).
//! - **Flags** on benign agent-days: an agent-day counts once per kind of action, however many
//!   requests it hit.

use vigie_core::detect::{FastMap, FastSet};
use vigie_core::ids::PersonId;

use crate::time::HOUR;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Flag {
    Friction = 1,
    StepUp = 2,
    Throttle = 4,
    SuspendSession = 8,
    SuspendAccount = 16,
}

/// One incident as one system saw it.
#[derive(Debug, Default, Clone)]
pub struct IncidentLog {
    pub exposed: FastSet<PersonId>,
    pub per_account: FastMap<u32, FastSet<PersonId>>,
    /// (time, account) of each person exposed for the first time.
    pub releases: Vec<(i64, u32)>,
    /// (time, account, rank, ends access) of each action taken against the attacker.
    pub actions: Vec<(i64, u32, u8, bool)>,
    pub detected: Option<i64>,
    pub creations: u32,
    pub creations_held: u32,
    /// The attacker's first request about a canary that reached the system, and the first
    /// end of its access after it.
    pub canary_touch: Option<i64>,
    pub ended_after_canary: Option<i64>,
    /// The attacker's last request that brought it no new person (refused, denied, withheld).
    pub last_refused: Option<i64>,
    /// The signals in the system's verdicts on the attacker's requests: name → requests.
    pub signals: std::collections::BTreeMap<String, u32>,
    /// The signals of the first verdict that throttled or ended the attacker's access.
    pub contained_by: Option<Vec<String>>,
    /// Campaign alerts: (when, how many of the incident's accounts one alert named), growing.
    pub links: Vec<(i64, u32)>,
}

/// Everything one system measured in one run.
#[derive(Debug, Default, Clone)]
pub struct SystemMetrics {
    /// Benign (account, day) → the flags it got.
    pub flags: FastMap<(u32, i32), u8>,
    pub incidents: Vec<IncidentLog>,
    /// Persons returned to benign agents that were canaries.
    pub benign_canary: u64,
    /// Why benign agent-days were flagged: (flag, signal name) → agent-days.
    pub reasons: FastMap<(u8, String), u64>,
    /// The signals of each flagged benign agent-day's first flag of each kind.
    pub day_reasons: FastMap<(u32, i32), Vec<(u8, String)>>,
}

impl SystemMetrics {
    pub fn new(incidents: usize) -> Self {
        SystemMetrics { incidents: vec![IncidentLog::default(); incidents], ..Default::default() }
    }

    pub fn flag(&mut self, agent: u32, day: i32, f: Flag, reasons: &[String]) {
        let bits = self.flags.entry((agent, day)).or_default();
        if *bits & f as u8 == 0 {
            let mut names: Vec<&str> = reasons.iter().map(|r| signal_name(r)).collect();
            names.sort_unstable();
            names.dedup();
            let day_reasons = self.day_reasons.entry((agent, day)).or_default();
            for n in names {
                *self.reasons.entry((f as u8, n.to_owned())).or_default() += 1;
                day_reasons.push((f as u8, n.to_owned()));
            }
        }
        *bits |= f as u8;
    }

    pub fn refused(&mut self, k: usize, at: i64) {
        if let Some(inc) = self.incidents.get_mut(k)
            && inc.last_refused.is_none_or(|t| t < at)
        {
            inc.last_refused = Some(at);
        }
    }

    pub fn exposed(&mut self, k: usize, agent: u32, p: PersonId, at: i64) {
        let Some(inc) = self.incidents.get_mut(k) else { return };
        inc.per_account.entry(agent).or_default().insert(p);
        if inc.exposed.insert(p) {
            inc.releases.push((at, agent));
        }
    }

    pub fn canary(&mut self, k: usize, at: i64) {
        if let Some(inc) = self.incidents.get_mut(k)
            && inc.canary_touch.is_none()
        {
            inc.canary_touch = Some(at);
        }
    }

    pub fn action(&mut self, k: usize, agent: u32, at: i64, rank: u8, ends: bool) {
        if let Some(inc) = self.incidents.get_mut(k) {
            if ends && inc.ended_after_canary.is_none() && inc.canary_touch.is_some_and(|t| t <= at) {
                inc.ended_after_canary = Some(at);
            }
            inc.actions.push((at, agent, rank, ends));
            if inc.detected.is_none_or(|d| at < d) {
                inc.detected = Some(at);
            }
        }
    }

    pub fn detected(&mut self, k: usize, at: i64) {
        if let Some(inc) = self.incidents.get_mut(k)
            && inc.detected.is_none_or(|d| at < d)
        {
            inc.detected = Some(at);
        }
    }

    /// The names of the signals of a verdict on the attacker (`name=value …` → `name`).
    pub fn signals(&mut self, k: usize, reasons: &[String], action_rank: u8) {
        let Some(inc) = self.incidents.get_mut(k) else { return };
        let mut names: Vec<String> = reasons.iter().map(|r| signal_name(r).to_owned()).collect();
        names.sort_unstable();
        names.dedup();
        for n in &names {
            *inc.signals.entry(n.clone()).or_default() += 1;
        }
        if action_rank >= 3 && inc.contained_by.is_none() {
            inc.contained_by = Some(names);
        }
    }

    /// A campaign alert that named `n` of the incident's accounts.
    pub fn linked(&mut self, k: usize, at: i64, n: u32) {
        if let Some(inc) = self.incidents.get_mut(k)
            && inc.links.last().is_none_or(|&(_, m)| n > m)
        {
            inc.links.push((at, n));
        }
    }

    pub fn creation(&mut self, k: usize, held: bool) {
        if let Some(inc) = self.incidents.get_mut(k) {
            inc.creations += 1;
            inc.creations_held += u32::from(held);
        }
    }

    /// Agent-days with this flag.
    pub fn count(&self, f: Flag) -> u64 {
        self.flags.values().filter(|v| **v & f as u8 != 0).count() as u64
    }

    /// Agent-days with a suspension of either kind.
    pub fn suspensions(&self) -> u64 {
        self.flags.values().filter(|v| **v & (Flag::SuspendSession as u8 | Flag::SuspendAccount as u8) != 0).count()
            as u64
    }
}

/// A reason's signal name: `self_distinct_hour=45 mean=…` → `self_distinct_hour`.
pub fn signal_name(reason: &str) -> &str {
    reason.split(['=', ' ', ':']).next().unwrap_or(reason)
}

/// An incident's result under one system.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Containment {
    /// Persons exposed before containment (all, if never contained).
    pub rebc: u64,
    /// Persons exposed over the whole run.
    pub exposed_total: u64,
    /// The most any one attacker account exposed before containment.
    pub rebc_max_account: u64,
    pub contained: bool,
    pub ttc_seconds: Option<f64>,
    pub ttd_seconds: Option<f64>,
    pub creations: u32,
    pub creations_held: u32,
    /// Seconds from the attacker's first canary touch to the end of its access (`None`: no
    /// touch; infinite: never ended).
    pub canary_to_end_seconds: Option<f64>,
}

/// Containment of an incident that started at `start`: the extraction is contained from the
/// last release that came within an hour of the one before (after it, at most one new person
/// an hour), provided the attacker was still asking afterwards and got nothing (else it
/// simply stopped: not contained).
pub fn containment(log: &IncidentLog, start: i64) -> Containment {
    let mut releases = log.releases.clone();
    releases.sort_unstable();
    let mut sparse = releases.len().saturating_sub(1);
    while sparse >= 1 && releases[sparse].0 - releases[sparse - 1].0 >= HOUR {
        sparse -= 1;
    }
    let candidate = releases.get(sparse).map_or(start, |r| r.0);
    let contained_at = log.last_refused.filter(|&t| t > candidate).map(|_| candidate);
    let before = |t: i64| releases.iter().filter(|r| r.0 <= t).count() as u64;
    let rebc = contained_at.map_or(releases.len() as u64, before);
    let mut per_account: FastMap<u32, u64> = FastMap::default();
    for r in releases.iter().filter(|r| contained_at.is_none_or(|t| r.0 <= t)) {
        *per_account.entry(r.1).or_default() += 1;
    }
    Containment {
        rebc,
        exposed_total: log.exposed.len() as u64,
        rebc_max_account: per_account.values().copied().max().unwrap_or(0),
        contained: contained_at.is_some(),
        ttc_seconds: contained_at.map(|t| (t - start).max(0) as f64 / 1000.0),
        ttd_seconds: log.detected.map(|t| (t - start).max(0) as f64 / 1000.0),
        creations: log.creations,
        creations_held: log.creations_held,
        canary_to_end_seconds: log
            .canary_touch
            .map(|t| log.ended_after_canary.map_or(f64::INFINITY, |e| (e - t).max(0) as f64 / 1000.0)),
    }
}

/// Cumulative persons exposed at each release, in minutes since the attack began (for plots).
pub fn exposure_curve(log: &IncidentLog, start: i64) -> Vec<(f64, f64)> {
    let mut t: Vec<i64> = log.releases.iter().map(|r| r.0).collect();
    t.sort_unstable();
    let mut out = vec![(0.0, 0.0)];
    for (i, at) in t.iter().enumerate() {
        out.push(((at - start) as f64 / 60_000.0, (i + 1) as f64));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(releases: &[i64], refused: Option<i64>) -> IncidentLog {
        let mut l = IncidentLog::default();
        for (i, &t) in releases.iter().enumerate() {
            let p = PersonId::new(i as u64 + 1).unwrap();
            l.exposed.insert(p);
            l.releases.push((t, 0));
        }
        l.last_refused = refused;
        l
    }

    #[test]
    fn contained_from_the_last_dense_release() {
        // Ten persons in ten seconds, then one more two hours later; still refused at 3 h.
        let mut r: Vec<i64> = (0..10).map(|s| s * 1000).collect();
        r.push(9_000 + 2 * HOUR);
        let c = containment(&log(&r, Some(3 * HOUR)), 0);
        assert!(c.contained);
        assert_eq!(c.rebc, 10);
        assert_eq!(c.exposed_total, 11);
        assert_eq!(c.ttc_seconds, Some(9.0));
    }

    #[test]
    fn an_attacker_that_was_never_refused_was_not_contained() {
        let c = containment(&log(&[0, 1000, 2000], None), 0);
        assert!(!c.contained);
        assert_eq!(c.rebc, 3);
        assert_eq!(c.ttc_seconds, None);
        // Refused once early, then served to the end: not contained either.
        assert!(!containment(&log(&[0, 1000, 2000], Some(500)), 0).contained);
    }

    #[test]
    fn refused_from_the_start_is_contained_at_once() {
        let c = containment(&log(&[], Some(10)), 0);
        assert!(c.contained);
        assert_eq!((c.rebc, c.ttc_seconds), (0, Some(0.0)));
    }
}
