//! The systems compared on the same stream: what happened (no guard), the controls one could
//! add to it (static quotas, a SIEM's daily batch), and Vigie, whole and with each layer
//! removed in turn.

use std::sync::Mutex;

use vigie_core::detect::config::{Layer, Layers};
use vigie_core::detect::{DetectConfig, ExfiltrationDetector, FastMap, FastSet, Thresholds};
use vigie_core::event::{AccessEvent, Verdict, VerdictAction};
use vigie_core::ids::{AgentId, PersonId};
use vigie_core::org::{OrgKind, Role};
use vigie_core::ports::{DetectContext, Detector, LifecycleAction};

use crate::time::{DAY, HOUR};

/// A system under test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemSpec {
    pub name: String,
    pub kind: SystemKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SystemKind {
    /// A password opens the account, any account reads anyone (what happened).
    NoGuard,
    /// The same, with fixed per-role quotas of distinct persons (a gateway's rate limit).
    StaticQuotas,
    /// The same, with a nightly anomaly job that suspends the accounts it flags (a SIEM's
    /// cadence).
    DailyBatch,
    /// Vigie: strong sign-in and session binding, relationships and Cedar, the detector's
    /// layers. Each flag off is an ablation.
    Vigie { sign_in: bool, relationships: bool, layers: Layers },
}

impl SystemSpec {
    /// The systems of a comparison: the three baselines, Vigie, and (with `ablations`) Vigie
    /// without each of its parts.
    pub fn standard(ablations: bool) -> Vec<SystemSpec> {
        let vigie = |name: &str, sign_in, relationships, layers| SystemSpec {
            name: name.to_owned(),
            kind: SystemKind::Vigie { sign_in, relationships, layers },
        };
        let mut v = vec![
            SystemSpec { name: "no_guard".into(), kind: SystemKind::NoGuard },
            SystemSpec { name: "static_quotas".into(), kind: SystemKind::StaticQuotas },
            SystemSpec { name: "daily_batch".into(), kind: SystemKind::DailyBatch },
            vigie("vigie", true, true, Layers::ALL),
        ];
        if ablations {
            v.push(vigie("vigie-sign_in", false, true, Layers::ALL));
            v.push(vigie("vigie-relationships", true, false, Layers::ALL));
            for l in Layer::ALL {
                v.push(vigie(&format!("vigie-{}", l.as_str()), true, true, Layers::ALL.without(l)));
            }
        }
        v
    }

    /// Whether the system checks relationships (else every account reads anyone).
    pub fn relationships(&self) -> bool {
        matches!(self.kind, SystemKind::Vigie { relationships: true, .. })
    }

    /// Whether sign-in needs a second factor and sessions are bound to their client.
    pub fn sign_in(&self) -> bool {
        matches!(self.kind, SystemKind::Vigie { sign_in: true, .. })
    }

    /// The system's detector, configured with the world's canaries (those placed in scope
    /// lists among them).
    pub fn detector(&self, canaries: &[PersonId], scope_canaries: &[PersonId]) -> SystemDetector {
        match &self.kind {
            SystemKind::NoGuard => SystemDetector::None,
            SystemKind::StaticQuotas => SystemDetector::Static(StaticQuotas::default()),
            SystemKind::DailyBatch => SystemDetector::Batch(DailyBatch::default()),
            SystemKind::Vigie { layers, .. } => {
                let mut config = DetectConfig::with_canaries(canaries.iter().copied());
                config.scope_canaries = scope_canaries.iter().copied().collect();
                config.layers = *layers;
                SystemDetector::Vigie(Box::new(ExfiltrationDetector::new(config)))
            }
        }
    }
}

/// A system's detector.
#[derive(Debug)]
pub enum SystemDetector {
    None,
    Static(StaticQuotas),
    Batch(DailyBatch),
    Vigie(Box<ExfiltrationDetector>),
}

impl SystemDetector {
    pub fn assess(&self, e: &AccessEvent, ctx: &DetectContext) -> Verdict {
        match self {
            SystemDetector::None => Verdict::allow(),
            SystemDetector::Static(s) => s.assess(e, ctx),
            SystemDetector::Batch(b) => b.assess(e, ctx),
            SystemDetector::Vigie(v) => v.assess(e, ctx),
        }
    }

    pub fn lifecycle(&self, a: &LifecycleAction) -> Verdict {
        match self {
            SystemDetector::Vigie(v) => v.lifecycle(a),
            _ => Verdict::allow(),
        }
    }

    pub fn relationship(&self, e: &vigie_core::ports::RelationshipEvent, ctx: &DetectContext) -> Verdict {
        match self {
            SystemDetector::Vigie(v) => v.relationship(e, ctx),
            _ => Verdict::allow(),
        }
    }

    pub fn declare_campaign(&self, c: &vigie_core::campaign::CampaignDeclaration) {
        if let SystemDetector::Vigie(v) = self {
            v.declare_campaign(c);
        }
    }

    pub fn lift(&self, agent: AgentId, by: AgentId, at: vigie_core::time::Timestamp) -> bool {
        match self {
            SystemDetector::Vigie(v) => v.lift(agent, by, at),
            _ => false,
        }
    }

    /// The nightly job, for the systems that have one: accounts to suspend.
    pub fn nightly(&self, day_end_ms: i64) -> Vec<AgentId> {
        match self {
            SystemDetector::Batch(b) => b.run(day_end_ms),
            _ => Vec::new(),
        }
    }
}

/// Fixed quotas of distinct persons per account, per hour and per day, by organization kind
/// and role (Vigie's default quotas, so that the comparison is of the layers, not of the
/// numbers): over one, new persons are refused until the window ends.
#[derive(Debug, Default)]
pub struct StaticQuotas {
    state: Mutex<FastMap<AgentId, Window>>,
}

#[derive(Debug, Default)]
struct Window {
    hour: i64,
    day: i64,
    hour_set: FastSet<PersonId>,
    day_set: FastSet<PersonId>,
}

impl StaticQuotas {
    fn assess(&self, e: &AccessEvent, _ctx: &DetectContext) -> Verdict {
        let Some(p) = e.person.filter(|_| !e.returned.is_empty()) else { return Verdict::allow() };
        let Ok(mut st) = self.state.lock() else {
            return Verdict { action: VerdictAction::Throttle, reasons: vec!["state_unavailable".into()] };
        };
        let w = st.entry(e.actor.agent).or_default();
        let now = e.at.millis();
        if now / HOUR != w.hour {
            w.hour = now / HOUR;
            w.hour_set.clear();
        }
        if now / DAY != w.day {
            w.day = now / DAY;
            w.day_set.clear();
        }
        let t = Thresholds::default_for(e.actor.org_kind, e.actor.role);
        let new_hour = !w.hour_set.contains(&p);
        let new_day = !w.day_set.contains(&p);
        if (new_hour && w.hour_set.len() as u32 >= t.quota_hour) || (new_day && w.day_set.len() as u32 >= t.quota_day) {
            return Verdict {
                action: VerdictAction::Throttle,
                reasons: vec![format!("static_quota hour={} day={}", t.quota_hour, t.quota_day)],
            };
        }
        w.hour_set.insert(p);
        w.day_set.insert(p);
        Verdict::allow()
    }
}

/// A SIEM's nightly job: at the end of each day, every account whose distinct persons that day
/// exceed both three times its own median of the previous 28 active days (at least 20) and the
/// peer group's 99th percentile of that day is suspended (the SOC acts on the morning report).
#[derive(Debug, Default)]
pub struct DailyBatch {
    state: Mutex<BatchState>,
}

#[derive(Debug, Default)]
struct BatchState {
    today: FastMap<AgentId, ((OrgKind, Role), FastSet<PersonId>)>,
    history: FastMap<AgentId, Vec<u32>>,
}

impl DailyBatch {
    fn assess(&self, e: &AccessEvent, _ctx: &DetectContext) -> Verdict {
        let Ok(mut st) = self.state.lock() else { return Verdict::allow() };
        if let Some(p) = e.person.filter(|_| !e.returned.is_empty()) {
            st.today
                .entry(e.actor.agent)
                .or_insert_with(|| ((e.actor.org_kind, e.actor.role), FastSet::default()))
                .1
                .insert(p);
        }
        Verdict::allow()
    }

    /// Runs the job over the day that just ended; returns the accounts it suspends.
    pub fn run(&self, _day_end_ms: i64) -> Vec<AgentId> {
        let Ok(mut st) = self.state.lock() else { return Vec::new() };
        let today = std::mem::take(&mut st.today);
        let mut by_peer: FastMap<(OrgKind, Role), Vec<u32>> = FastMap::default();
        for (peer, set) in today.values() {
            by_peer.entry(*peer).or_default().push(set.len() as u32);
        }
        let p99: FastMap<(OrgKind, Role), u32> = by_peer
            .into_iter()
            .map(|(k, mut v)| {
                v.sort_unstable();
                let i = ((v.len() as f64) * 0.99).ceil() as usize;
                (k, v[i.saturating_sub(1).min(v.len() - 1)])
            })
            .collect();
        let mut flagged = Vec::new();
        for (agent, (peer, set)) in &today {
            let n = set.len() as u32;
            let hist = st.history.entry(*agent).or_default();
            let mut sorted = hist.clone();
            sorted.sort_unstable();
            let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0);
            if n > (3 * median).max(20) && n >= p99.get(peer).copied().unwrap_or(0) {
                flagged.push(*agent);
            }
            hist.push(n);
            if hist.len() > 28 {
                hist.remove(0);
            }
        }
        flagged.sort_unstable();
        flagged
    }
}
