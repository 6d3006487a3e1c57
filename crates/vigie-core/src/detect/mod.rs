//! The exfiltration detector, first slice: hard quotas of distinct persons per account, canary
//! tripwires, enumeration signals, and the response ladder, each verdict explaining itself.
//!
//! Pure: time comes from the events, canaries and thresholds from the caller. It sees every
//! event of the guarded path (allowed or denied) before the ledger, through
//! [`crate::ports::Detector`]. Not built yet (the detection issue goes on): self and peer
//! baselines, CUSUM, organization-wide distinct counts, session-context signals, lifecycle
//! signals, alert sinks, snapshots.
//!
//! The ladder: allow → step-up (approaching a quota, enumeration) → throttle (a quota reached:
//! escalating time-outs 1 → 5 → 60 min on repeats) → suspend the session (a quota doubled with
//! an enumeration signal to corroborate) → suspend the account (a canary touched). **A
//! statistical signal alone never suspends**: suspension needs a tripwire (a canary, or a hard
//! quota multiple with corroboration).

pub mod hll;
pub mod window;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use crate::event::{AccessAction, AccessEvent, Decision, Verdict, VerdictAction};
use crate::ids::{AgentId, PersonId};
use crate::org::{OrgKind, Role};
use window::{Distinct, DistinctWindows};

/// Quotas and signal thresholds for one kind of account. Defaults are in
/// [`Thresholds::default_for`], with the reason for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// Distinct persons whose data was returned, per sliding hour / day / week.
    pub quota_hour: u32,
    pub quota_day: u32,
    pub quota_week: u32,
    /// A step-up is asked at this percentage of any quota.
    pub step_up_percent: u32,
    /// Ascending person ids (gap ≤ 3) in a row: sequential enumeration.
    pub sequential_run: u32,
    /// Exact lookups that matched nobody (or nobody reachable) within 10 minutes: probing.
    pub lookup_misses: u32,
    /// Quotas of an account on probation (its first 14 days), in percent of these.
    pub probation_percent: u32,
}

impl Thresholds {
    /// Defaults sized on the synthetic registry's caseloads (agency advisors follow up to 350
    /// persons, some "guided" modalities over 1 000; partners follow their cohorts): a day's
    /// quota above a full caseload review, an hour's above a busy morning, a week's below what
    /// a bulk extraction needs.
    pub fn default_for(kind: OrgKind, role: Role) -> Thresholds {
        let (hour, day, week) = match (kind, role) {
            (_, Role::AccountAdmin | Role::SecurityOfficer) => (5, 10, 20),
            (OrgKind::Agency | OrgKind::CapEmploi, Role::Manager) => (300, 1_500, 4_000),
            (OrgKind::Agency | OrgKind::CapEmploi, _) => (150, 600, 2_000),
            (OrgKind::MissionLocale, _) => (100, 400, 1_200),
            (OrgKind::TrainingOrg, _) => (60, 200, 500),
            (OrgKind::Subcontractor, _) => (100, 400, 1_500),
        };
        Thresholds {
            quota_hour: hour,
            quota_day: day,
            quota_week: week,
            step_up_percent: 80,
            sequential_run: 20,
            lookup_misses: 10,
            probation_percent: 25,
        }
    }

    /// Refuses absurd values, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.quota_hour == 0 || self.quota_day == 0 || self.quota_week == 0 {
            return Err("quota_hour, quota_day, quota_week: must be positive".into());
        }
        if !(self.quota_hour <= self.quota_day && self.quota_day <= self.quota_week) {
            return Err(format!(
                "quota_hour ≤ quota_day ≤ quota_week expected, got {} / {} / {}",
                self.quota_hour, self.quota_day, self.quota_week
            ));
        }
        if self.quota_week > 1_000_000 {
            return Err(format!("quota_week: {} is absurd (at most 1000000)", self.quota_week));
        }
        if !(1..=100).contains(&self.step_up_percent) {
            return Err(format!("step_up_percent: between 1 and 100, got {}", self.step_up_percent));
        }
        if self.sequential_run < 3 {
            return Err(format!("sequential_run: at least 3, got {}", self.sequential_run));
        }
        if self.lookup_misses == 0 {
            return Err("lookup_misses: must be positive".into());
        }
        if !(1..=100).contains(&self.probation_percent) {
            return Err(format!("probation_percent: between 1 and 100, got {}", self.probation_percent));
        }
        Ok(())
    }
}

/// The detector's configuration: thresholds per organization kind and role, shadow mode per
/// organization kind (decide and log, never enforce), and the canary persons.
#[derive(Clone, Debug)]
pub struct DetectConfig {
    pub thresholds: HashMap<(OrgKind, Role), Thresholds>,
    pub shadow: HashSet<OrgKind>,
    pub canaries: HashSet<PersonId>,
}

impl DetectConfig {
    pub fn with_canaries(canaries: impl IntoIterator<Item = PersonId>) -> Self {
        let mut thresholds = HashMap::new();
        for k in OrgKind::ALL {
            for r in Role::ALL {
                thresholds.insert((k, r), Thresholds::default_for(k, r));
            }
        }
        DetectConfig { thresholds, shadow: HashSet::new(), canaries: canaries.into_iter().collect() }
    }

    fn thresholds(&self, kind: OrgKind, role: Role) -> Thresholds {
        self.thresholds.get(&(kind, role)).copied().unwrap_or_else(|| Thresholds::default_for(kind, role))
    }
}

const LOOKUP_WINDOW_MS: i64 = 10 * 60_000;
/// Escalating throttle time-outs on repeats.
const THROTTLE_MS: [i64; 3] = [60_000, 5 * 60_000, 60 * 60_000];

#[derive(Debug, Default)]
struct Account {
    persons: DistinctWindows,
    last_person: Option<u64>,
    run: u32,
    misses: VecDeque<i64>,
    throttled_until: i64,
    throttles: usize,
    suspended: bool,
}

/// The detector. One lock over the accounts' state: a decision is a few map operations.
#[derive(Debug)]
pub struct ExfiltrationDetector {
    config: DetectConfig,
    accounts: Mutex<HashMap<AgentId, Account>>,
}

impl ExfiltrationDetector {
    pub fn new(config: DetectConfig) -> Self {
        ExfiltrationDetector { config, accounts: Mutex::new(HashMap::new()) }
    }

    /// Rebuilds the distinct-person windows from the ledger's access events (oldest first),
    /// so that a restart does not hand every account a fresh quota. Events older than a week
    /// before `now` are skipped. Returns how many events were applied.
    pub fn replay(
        &self,
        heads: impl IntoIterator<Item = crate::event::EventHead>,
        now: crate::time::Timestamp,
    ) -> usize {
        let Ok(mut accounts) = self.accounts.lock() else { return 0 };
        let mut applied = 0;
        for h in heads {
            if now.millis() - h.at.millis() >= window::WEEK_MS
                || h.returned.is_empty()
                || h.action == AccessAction::ScopeList
            {
                continue;
            }
            if let Some(p) = h.person {
                accounts.entry(h.agent).or_default().persons.touch(p, h.at);
                applied += 1;
            }
        }
        applied
    }

    /// Accounts with state, for memory accounting.
    pub fn accounts(&self) -> usize {
        self.accounts.lock().map_or(0, |a| a.len())
    }

    fn judge(&self, a: &mut Account, e: &AccessEvent, context: &crate::ports::DetectContext) -> Verdict {
        let now = e.at.millis();
        let mut t = self.config.thresholds(e.actor.org_kind, e.actor.role);
        let mut reasons = Vec::new();
        if context.probation {
            let scale = |q: u32| (u64::from(q) * u64::from(t.probation_percent) / 100).max(1) as u32;
            t.quota_hour = scale(t.quota_hour);
            t.quota_day = scale(t.quota_day);
            t.quota_week = scale(t.quota_week);
        }
        if a.suspended {
            return Verdict { action: VerdictAction::SuspendAccount, reasons: vec!["account_suspended=1".into()] };
        }
        // Tripwire: a canary person, whatever the decision (a denied canary probe is a probe).
        if let Some(p) = e.person
            && self.config.canaries.contains(&p)
        {
            a.suspended = true;
            return Verdict { action: VerdictAction::SuspendAccount, reasons: vec![format!("canary={p}")] };
        }
        // Enumeration: ascending ids, lookups that miss.
        if let Some(p) = e.person.filter(|_| e.action != AccessAction::ScopeList) {
            let id = p.get();
            a.run = match a.last_person {
                Some(last) if id > last && id - last <= 3 => a.run + 1,
                _ => 1,
            };
            a.last_person = Some(id);
        }
        let lookup = matches!(e.action, AccessAction::LookupByNir | AccessAction::LookupByFtId);
        if lookup && e.decision != Decision::Allow {
            a.misses.push_back(now);
        }
        while a.misses.front().is_some_and(|&m| now - m >= LOOKUP_WINDOW_MS) {
            a.misses.pop_front();
        }
        let sequential = a.run >= t.sequential_run;
        let probing = a.misses.len() as u32 >= t.lookup_misses;
        if sequential {
            reasons.push(format!("sequential_run={} threshold={}", a.run, t.sequential_run));
        }
        if probing {
            reasons.push(format!("lookup_misses_10min={} threshold={}", a.misses.len(), t.lookup_misses));
        }
        // Quotas of distinct persons whose data was returned.
        let released = !e.returned.is_empty() && e.action != AccessAction::ScopeList;
        let d = match e.person {
            Some(p) if released => {
                a.persons.touch(p, e.at);
                a.persons.at(e.at)
            }
            _ => a.persons.at(e.at),
        };
        let over = |n: u32, q: u32| n > q;
        let quota = [("hour", d.hour, t.quota_hour), ("day", d.day, t.quota_day), ("week", d.week, t.quota_week)];
        let exceeded: Vec<_> = quota.iter().filter(|(_, n, q)| over(*n, *q)).collect();
        let doubled = quota.iter().any(|(_, n, q)| over(*n, q.saturating_mul(2)));
        let near = quota.iter().any(|(_, n, q)| u64::from(*n) * 100 >= u64::from(*q) * u64::from(t.step_up_percent));
        for (w, n, q) in &exceeded {
            reasons.push(format!("distinct_persons_{w}={n} quota={q}"));
        }
        if context.probation && (near || !exceeded.is_empty()) {
            reasons.push(format!("probation=1 quotas_at={}%", t.probation_percent));
        }
        // The ladder.
        let action = if doubled && (sequential || probing) {
            VerdictAction::SuspendSession
        } else if !exceeded.is_empty() {
            if now >= a.throttled_until {
                let timeout = THROTTLE_MS[a.throttles.min(THROTTLE_MS.len() - 1)];
                a.throttles += 1;
                a.throttled_until = now + timeout;
                reasons.push(format!("throttle_ms={timeout} repeat={}", a.throttles));
            }
            VerdictAction::Throttle
        } else if now < a.throttled_until {
            reasons.push(format!("throttled_for_ms={}", a.throttled_until - now));
            VerdictAction::Throttle
        } else if near || sequential || probing {
            if near && exceeded.is_empty() {
                reasons.push(near_reason(&d, &t));
            }
            VerdictAction::StepUp
        } else {
            VerdictAction::Allow
        };
        Verdict { action, reasons }
    }
}

fn near_reason(d: &Distinct, t: &Thresholds) -> String {
    format!(
        "distinct_persons hour={}/{} day={}/{} week={}/{} step_up_at={}%",
        d.hour, t.quota_hour, d.day, t.quota_day, d.week, t.quota_week, t.step_up_percent
    )
}

impl crate::ports::Detector for ExfiltrationDetector {
    fn assess(&self, event: &AccessEvent, context: &crate::ports::DetectContext) -> Verdict {
        let Ok(mut accounts) = self.accounts.lock() else {
            // A poisoned lock: the state is unknown; fall back to asking for a step-up rather
            // than allowing blindly (the relationship check still applies).
            return Verdict { action: VerdictAction::StepUp, reasons: vec!["detector_state_unavailable=1".into()] };
        };
        let account = accounts.entry(event.actor.agent).or_default();
        let mut verdict = self.judge(account, event, context);
        if self.config.shadow.contains(&event.actor.org_kind) && verdict.action != VerdictAction::Allow {
            verdict.reasons.push(format!("shadow=1 would={}", verdict.action.as_str()));
            verdict.action = VerdictAction::Allow;
        }
        verdict
    }
}

#[cfg(test)]
mod tests;
