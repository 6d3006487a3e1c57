//! The report: per system, the false-positive rates; per scenario and system, exposure and
//! times over seeds, and whether Vigie reaches each goal. Rendered as a terminal table, JSON
//! and Markdown with SVG plots.

use std::fmt::Write as _;

use serde::Serialize;

use crate::engine::RunOutcome;
use crate::metrics::{Flag, containment, exposure_curve};
use crate::scenario::Scenario;
use crate::svg::{Chart, Series, render};

/// False-positive rates per 1 000 benign agent-days.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Rates {
    pub frictions: f64,
    pub step_ups: f64,
    pub throttles: f64,
    pub suspensions: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SystemSummary {
    pub system: String,
    pub rates: Rates,
    /// Per organization kind.
    pub by_kind: Vec<(String, Rates)>,
    /// The 95th percentile over evaluation days of each day's rate.
    pub worst_days_p95: Rates,
    pub benign_canary_touches: u64,
    /// The signals behind the flags: (action, signal, agent-days per 1 000), most frequent
    /// first.
    pub signals: Vec<SignalRate>,
    /// The same per organization kind and work (per 1 000 of that kind's agent-days).
    pub by_kind_signals: Vec<(String, Vec<SignalRate>)>,
}

/// One signal's rate: (action, signal, agent-days per 1 000).
pub type SignalRate = (String, String, f64);

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScenarioResult {
    pub system: String,
    pub rebc_median: f64,
    pub rebc_p95: f64,
    pub rebc_max: f64,
    pub rebc_per_account_p95: f64,
    pub exposed_total_median: f64,
    /// Seconds; `None` when some seed was never contained (p95 is then unbounded).
    pub ttc_median: Option<f64>,
    pub ttc_p95: Option<f64>,
    pub ttd_p95: Option<f64>,
    pub contained: f64,
    pub creations_held: Option<f64>,
    /// Incidents where the attacker touched a canary, and the p95 of the seconds until its
    /// access ended (`None`: some touch was never followed by an end).
    pub canary_touched: usize,
    pub canary_to_end_p95: Option<f64>,
    /// Hours until an alert linked the goal's number of the incident's accounts (5 without a
    /// goal), p95 (`None`: some incident never got one), and the most one alert linked
    /// (median over incidents).
    pub link_hours_p95: Option<f64>,
    pub linked_median: f64,
}

/// A benign surge under one system: its false positives per 1 000 of its own agent-days.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SurgeResult {
    pub system: String,
    pub agent_days: u64,
    pub rates: Rates,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GoalCheck {
    pub what: String,
    pub target: String,
    pub measured: String,
    pub met: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScenarioSummary {
    pub name: String,
    pub summary: String,
    pub incidents: usize,
    pub results: Vec<ScenarioResult>,
    /// For a surge scenario: its false positives, per system.
    pub surge: Vec<SurgeResult>,
    /// Vigie's signals on the attacker's requests: (signal, share of incidents where it took
    /// part), most frequent first; and those of the verdict that first throttled or ended it.
    pub signals: Vec<(String, f64)>,
    pub contained_by: Vec<(String, f64)>,
    pub goals: Vec<GoalCheck>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub seeds: Vec<u64>,
    pub seed_set: String,
    pub persons: u64,
    pub accounts: usize,
    pub days: u32,
    pub warmup_days: u32,
    pub agent_days: u64,
    pub requests: u64,
    pub events: u64,
    /// Median over seeds of the guarded events a second, all systems judged.
    pub events_per_second: f64,
    pub run_seconds_median: f64,
    pub systems: Vec<SystemSummary>,
    pub scenarios: Vec<ScenarioSummary>,
    pub fp_goals: Vec<GoalCheck>,
    #[serde(skip)]
    pub curves: Vec<(String, Vec<Series>)>,
}

/// Nearest-rank percentile (`q` in 0..=1) of finite values; 0 for none.
pub fn percentile(v: &[f64], q: f64) -> f64 {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

fn per_1000(n: u64, days: u64) -> f64 {
    if days == 0 { 0.0 } else { n as f64 * 1000.0 / days as f64 }
}

/// Sums the runs of all seeds into a report.
pub fn build(runs: &[RunOutcome], scenarios: &[Scenario], seed_set: &str, warmup_days: u32, days: u32) -> Report {
    let agent_days: u64 = runs.iter().map(|r| r.agent_days).sum();
    let mut systems = Vec::new();
    let names: Vec<String> =
        runs.first().map(|r| r.systems.iter().map(|s| s.0.name.clone()).collect()).unwrap_or_default();
    for (si, name) in names.iter().enumerate() {
        let count =
            |f: &dyn Fn(&crate::metrics::SystemMetrics) -> u64| runs.iter().map(|r| f(&r.systems[si].1)).sum::<u64>();
        let rates = Rates {
            frictions: per_1000(count(&|m| m.count(Flag::Friction)), agent_days),
            step_ups: per_1000(count(&|m| m.count(Flag::StepUp)), agent_days),
            throttles: per_1000(count(&|m| m.count(Flag::Throttle)), agent_days),
            suspensions: per_1000(count(&|m| m.suspensions()), agent_days),
        };
        // By kind and by day.
        let mut by_kind: std::collections::BTreeMap<String, (u64, [u64; 4])> = Default::default();
        let mut by_day: Vec<(u64, [u64; 4])> = Vec::new();
        for r in runs {
            let kind_of = |agent: u32| {
                let w = r.agent_work.get(agent as usize).map_or("", |w| w.as_str());
                r.kind_of(agent).map(|k| format!("{} ({w})", k.as_str()))
            };
            for (kind, n) in &r.agent_days_by_kind {
                by_kind.entry(kind.clone()).or_default().0 += n;
            }
            let base = by_day.len();
            by_day.extend(r.agent_days_per_day.iter().map(|&n| (n, [0; 4])));
            for (&(agent, day), &f) in &r.systems[si].1.flags {
                let bits = flag_bits(f);
                if let Some(k) = kind_of(agent) {
                    let e = by_kind.entry(k).or_default();
                    for (x, b) in e.1.iter_mut().zip(bits) {
                        *x += b;
                    }
                }
                let d = day - warmup_days as i32;
                if d >= 0
                    && let Some(e) = by_day.get_mut(base + d as usize)
                {
                    for (x, b) in e.1.iter_mut().zip(bits) {
                        *x += b;
                    }
                }
            }
        }
        let rates_of = |days: u64, c: [u64; 4]| Rates {
            frictions: per_1000(c[0], days),
            step_ups: per_1000(c[1], days),
            throttles: per_1000(c[2], days),
            suspensions: per_1000(c[3], days),
        };
        let worst = |i: usize| {
            let v: Vec<f64> = by_day.iter().filter(|d| d.0 > 0).map(|d| per_1000(d.1[i], d.0)).collect();
            percentile(&v, 0.95)
        };
        systems.push(SystemSummary {
            system: name.clone(),
            rates,
            by_kind: by_kind.into_iter().map(|(k, (d, c))| (k, rates_of(d, c))).collect(),
            worst_days_p95: Rates {
                frictions: worst(0),
                step_ups: worst(1),
                throttles: worst(2),
                suspensions: worst(3),
            },
            benign_canary_touches: count(&|m| m.benign_canary),
            signals: signals(runs, si, agent_days),
            by_kind_signals: kind_signals(runs, si),
        });
    }

    let mut out_scenarios = Vec::new();
    let mut curves = Vec::new();
    for (k, sc) in scenarios.iter().enumerate() {
        if sc.surge.is_some() {
            let surge = surge_results(runs, k, &names);
            let goals = surge.iter().find(|r| r.system == "vigie").map(|r| surge_goals(sc, r)).unwrap_or_default();
            let signals =
                names.iter().position(|n| n == "vigie").map(|si| surge_signals(runs, k, si)).unwrap_or_default();
            curves.push((sc.name.clone(), Vec::new()));
            out_scenarios.push(ScenarioSummary {
                name: sc.name.clone(),
                summary: sc.summary.clone(),
                incidents: 0,
                results: Vec::new(),
                surge,
                signals,
                contained_by: Vec::new(),
                goals,
            });
            continue;
        }
        let link_goal = sc.goal.link_accounts.unwrap_or(5.0) as u32;
        let mut results = Vec::new();
        let mut series = Vec::new();
        let mut incidents = 0;
        let mut signals: std::collections::BTreeMap<String, usize> = Default::default();
        let mut contained_by: std::collections::BTreeMap<String, usize> = Default::default();
        for (si, name) in names.iter().enumerate() {
            let mut rebc = Vec::new();
            let mut per_account = Vec::new();
            let mut total = Vec::new();
            let mut ttc = Vec::new();
            let mut ttd = Vec::new();
            let mut contained = 0usize;
            let mut held = (0u32, 0u32);
            let mut canary = Vec::new();
            let mut link_hours = Vec::new();
            let mut linked = Vec::new();
            let mut n = 0usize;
            for r in runs {
                for (i, inc) in r.incidents.iter().enumerate().filter(|(_, inc)| inc.scenario == k) {
                    let log = &r.systems[si].1.incidents[i];
                    let c = containment(log, inc.start);
                    n += 1;
                    link_hours.push(
                        log.links
                            .iter()
                            .find(|&&(_, m)| m >= link_goal)
                            .map_or(f64::INFINITY, |&(t, _)| (t - inc.start).max(0) as f64 / 3_600_000.0),
                    );
                    linked.push(f64::from(log.links.last().map_or(0, |&(_, m)| m)));
                    if name == "vigie" {
                        for s in log.signals.keys() {
                            *signals.entry(s.clone()).or_default() += 1;
                        }
                        for s in log.contained_by.iter().flatten() {
                            *contained_by.entry(s.clone()).or_default() += 1;
                        }
                    }
                    rebc.push(c.rebc as f64);
                    per_account.push(c.rebc_max_account as f64);
                    total.push(c.exposed_total as f64);
                    ttc.push(c.ttc_seconds.unwrap_or(f64::INFINITY));
                    ttd.push(c.ttd_seconds.unwrap_or(f64::INFINITY));
                    contained += usize::from(c.contained);
                    held.0 += c.creations;
                    held.1 += c.creations_held;
                    if let Some(x) = c.canary_to_end_seconds {
                        canary.push(x);
                    }
                    if series.len() == si && r.seed == runs[0].seed {
                        series.push(Series { name: name.clone(), points: exposure_curve(log, inc.start) });
                    }
                }
            }
            incidents = n;
            let bounded = |v: &[f64], q: f64| {
                let mut s = v.to_vec();
                s.sort_by(f64::total_cmp);
                let x = percentile_inf(&s, q);
                x.is_finite().then_some(x)
            };
            results.push(ScenarioResult {
                system: name.clone(),
                rebc_median: percentile(&rebc, 0.5),
                rebc_p95: percentile(&rebc, 0.95),
                rebc_max: percentile(&rebc, 1.0),
                rebc_per_account_p95: percentile(&per_account, 0.95),
                exposed_total_median: percentile(&total, 0.5),
                ttc_median: bounded(&ttc, 0.5),
                ttc_p95: bounded(&ttc, 0.95),
                ttd_p95: bounded(&ttd, 0.95),
                contained: if n == 0 { 0.0 } else { contained as f64 / n as f64 },
                creations_held: (held.0 > 0).then(|| f64::from(held.1) / f64::from(held.0)),
                canary_touched: canary.len(),
                canary_to_end_p95: bounded(&canary, 0.95),
                link_hours_p95: bounded(&link_hours, 0.95),
                linked_median: percentile(&linked, 0.5),
            });
        }
        let share = |m: std::collections::BTreeMap<String, usize>| {
            let mut v: Vec<(String, f64)> =
                m.into_iter().map(|(s, c)| (s, c as f64 / incidents.max(1) as f64)).collect();
            v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v
        };
        let goals = names
            .iter()
            .position(|n| n == "vigie")
            .map(|i| scenario_goals(sc, &results[i], incidents))
            .unwrap_or_default();
        curves.push((sc.name.clone(), series));
        out_scenarios.push(ScenarioSummary {
            name: sc.name.clone(),
            summary: sc.summary.clone(),
            incidents,
            results,
            surge: Vec::new(),
            signals: share(signals),
            contained_by: share(contained_by),
            goals,
        });
    }
    let fp_goals = systems
        .iter()
        .find(|s| s.system == "vigie")
        .map(|s| {
            let check = |what: &str, target: f64, v: f64| GoalCheck {
                what: format!("false {what} per 1 000 benign agent-days"),
                target: format!("≤ {target}"),
                measured: format!("{v:.3}"),
                met: v <= target,
            };
            let mut v = vec![
                check("suspensions", 0.01, s.rates.suspensions),
                check("throttles", 2.0, s.rates.throttles),
                check("step-ups", 5.0, s.rates.step_ups),
            ];
            // Not only overall: every organization kind and work.
            let worst = s.by_kind.iter().max_by(|a, b| a.1.step_ups.total_cmp(&b.1.step_ups));
            if let Some((kind, r)) = worst {
                v.push(GoalCheck {
                    what: "false step-ups per 1 000 benign agent-days, every organization kind and work (worst shown)"
                        .into(),
                    target: "≤ 10".into(),
                    measured: format!("{:.3} ({kind})", r.step_ups),
                    met: s.by_kind.iter().all(|(_, r)| r.step_ups <= 10.0),
                });
            }
            v
        })
        .unwrap_or_default();
    let med = |v: Vec<f64>| percentile(&v, 0.5);
    Report {
        seeds: runs.iter().map(|r| r.seed).collect(),
        seed_set: seed_set.to_owned(),
        persons: runs.first().map_or(0, |r| r.persons),
        accounts: runs.first().map_or(0, |r| r.accounts),
        days,
        warmup_days,
        agent_days,
        requests: runs.iter().map(|r| r.requests).sum(),
        events: runs.iter().map(|r| r.events).sum(),
        events_per_second: med(runs.iter().map(|r| r.events as f64 / r.run_seconds.max(1e-9)).collect()),
        run_seconds_median: med(runs.iter().map(|r| r.build_seconds + r.run_seconds).collect()),
        systems,
        scenarios: out_scenarios,
        fp_goals,
        curves,
    }
}

/// A surge's false positives under each system, on its own agent-days.
fn surge_results(runs: &[RunOutcome], k: usize, names: &[String]) -> Vec<SurgeResult> {
    names
        .iter()
        .enumerate()
        .map(|(si, name)| {
            let mut days = 0u64;
            let mut c = [0u64; 4];
            for r in runs {
                for sg in r.surges.iter().filter(|sg| sg.scenario == k) {
                    days += sg.agent_days.len() as u64;
                    for key in &sg.agent_days {
                        if let Some(&f) = r.systems[si].1.flags.get(key) {
                            for (x, b) in c.iter_mut().zip(flag_bits(f)) {
                                *x += b;
                            }
                        }
                    }
                }
            }
            SurgeResult {
                system: name.clone(),
                agent_days: days,
                rates: Rates {
                    frictions: per_1000(c[0], days),
                    step_ups: per_1000(c[1], days),
                    throttles: per_1000(c[2], days),
                    suspensions: per_1000(c[3], days),
                },
            }
        })
        .collect()
}

/// The signals of Vigie's flags on a surge's agent-days: ("action signal", share of them).
fn surge_signals(runs: &[RunOutcome], k: usize, si: usize) -> Vec<(String, f64)> {
    let mut days = 0usize;
    let mut count: std::collections::BTreeMap<String, usize> = Default::default();
    let label = |f: u8| match f {
        1 => "friction",
        2 => "step-up",
        4 => "throttle",
        8 => "suspend-session",
        _ => "suspend-account",
    };
    for r in runs {
        for sg in r.surges.iter().filter(|sg| sg.scenario == k) {
            days += sg.agent_days.len();
            for key in &sg.agent_days {
                for (f, name) in r.systems[si].1.day_reasons.get(key).into_iter().flatten() {
                    *count.entry(format!("{} {name}", label(*f))).or_default() += 1;
                }
            }
        }
    }
    let mut v: Vec<(String, f64)> = count.into_iter().map(|(n, c)| (n, c as f64 / days.max(1) as f64)).collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

fn surge_goals(sc: &Scenario, r: &SurgeResult) -> Vec<GoalCheck> {
    let mut g = Vec::new();
    if r.agent_days == 0 {
        g.push(GoalCheck {
            what: "surge agent-days".into(),
            target: "≥ 1".into(),
            measured: "none (no account covered on evaluation days)".into(),
            met: false,
        });
        return g;
    }
    if let Some(t) = sc.goal.surge_step_ups_per_1000 {
        g.push(GoalCheck {
            what: "false step-ups per 1 000 of the surge's agent-days".into(),
            target: format!("≤ {t}"),
            measured: format!("{:.2} over {} agent-days", r.rates.step_ups, r.agent_days),
            met: r.rates.step_ups <= t,
        });
    }
    if let Some(t) = sc.goal.surge_suspensions {
        g.push(GoalCheck {
            what: "false suspensions per 1 000 of the surge's agent-days".into(),
            target: format!("≤ {t}"),
            measured: format!("{:.2}", r.rates.suspensions),
            met: r.rates.suspensions <= t,
        });
    }
    g
}

fn signals(runs: &[RunOutcome], si: usize, agent_days: u64) -> Vec<(String, String, f64)> {
    let mut sum: std::collections::BTreeMap<(u8, String), u64> = Default::default();
    for r in runs {
        for ((f, name), n) in &r.systems[si].1.reasons {
            *sum.entry((*f, name.clone())).or_default() += n;
        }
    }
    let label = |f: u8| match f {
        1 => "friction",
        2 => "step-up",
        4 => "throttle",
        8 => "suspend session",
        _ => "suspend account",
    };
    let mut v: Vec<(String, String, f64)> =
        sum.into_iter().map(|((f, n), c)| (label(f).to_owned(), n, per_1000(c, agent_days))).collect();
    v.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.cmp(&b.0)).then_with(|| a.1.cmp(&b.1)));
    v
}

/// The signals of the flags per organization kind and work.
fn kind_signals(runs: &[RunOutcome], si: usize) -> Vec<(String, Vec<SignalRate>)> {
    let mut days: std::collections::BTreeMap<String, u64> = Default::default();
    let mut sum: std::collections::BTreeMap<String, std::collections::BTreeMap<(u8, String), u64>> = Default::default();
    for r in runs {
        for (kind, n) in &r.agent_days_by_kind {
            *days.entry(kind.clone()).or_default() += n;
        }
        for (&(agent, _), reasons) in &r.systems[si].1.day_reasons {
            let w = r.agent_work.get(agent as usize).map_or("", |w| w.as_str());
            let Some(kind) = r.kind_of(agent).map(|k| format!("{} ({w})", k.as_str())) else { continue };
            let e = sum.entry(kind).or_default();
            for (f, name) in reasons {
                *e.entry((*f, name.clone())).or_default() += 1;
            }
        }
    }
    let label = |f: u8| match f {
        1 => "friction",
        2 => "step-up",
        4 => "throttle",
        8 => "suspend session",
        _ => "suspend account",
    };
    sum.into_iter()
        .map(|(kind, m)| {
            let d = days.get(&kind).copied().unwrap_or(0);
            let mut v: Vec<SignalRate> =
                m.into_iter().map(|((f, n), c)| (label(f).to_owned(), n, per_1000(c, d))).collect();
            v.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.1.cmp(&b.1)));
            (kind, v)
        })
        .collect()
}

fn percentile_inf(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn flag_bits(f: u8) -> [u64; 4] {
    [
        u64::from(f & Flag::Friction as u8 != 0),
        u64::from(f & Flag::StepUp as u8 != 0),
        u64::from(f & Flag::Throttle as u8 != 0),
        u64::from(f & (Flag::SuspendSession as u8 | Flag::SuspendAccount as u8) != 0),
    ]
}

fn scenario_goals(sc: &Scenario, r: &ScenarioResult, incidents: usize) -> Vec<GoalCheck> {
    let mut g = Vec::new();
    if incidents == 0 {
        g.push(GoalCheck {
            what: "incidents".into(),
            target: "≥ 1 per seed".into(),
            measured: "none could be placed (no eligible victim)".into(),
            met: false,
        });
        return g;
    }
    if let Some(t) = sc.goal.exposed_p95 {
        g.push(GoalCheck {
            what: "persons exposed before containment, p95 over seeds".into(),
            target: format!("≤ {t}"),
            measured: format!("{}", r.rebc_p95),
            met: r.rebc_p95 <= t,
        });
    }
    if let Some(t) = sc.goal.exposed_per_account_p95 {
        g.push(GoalCheck {
            what: "persons exposed per attacker account, p95".into(),
            target: format!("≤ {t}"),
            measured: format!("{}", r.rebc_per_account_p95),
            met: r.rebc_per_account_p95 <= t,
        });
    }
    if let Some(t) = sc.goal.contain_seconds {
        g.push(GoalCheck {
            what: "time to contain, p95".into(),
            target: format!("≤ {t} s"),
            measured: r.ttc_p95.map_or("not contained in every seed".into(), |v| format!("{v:.1} s")),
            met: r.ttc_p95.is_some_and(|v| v <= t),
        });
    }
    if let Some(t) = sc.goal.detect_hours {
        g.push(GoalCheck {
            what: "time to detect, p95".into(),
            target: format!("≤ {t} h"),
            measured: r.ttd_p95.map_or("not detected in every seed".into(), |v| format!("{:.2} h", v / 3_600.0)),
            met: r.ttd_p95.is_some_and(|v| v <= t * 3_600.0),
        });
    }
    if let Some(t) = sc.goal.link_hours {
        let n = sc.goal.link_accounts.unwrap_or(5.0);
        g.push(GoalCheck {
            what: format!("a campaign alert linking ≥ {n} of its accounts, p95"),
            target: format!("≤ {t} h"),
            measured: r
                .link_hours_p95
                .map_or(format!("not in every seed (median most linked: {})", r.linked_median), |v| {
                    format!("{v:.2} h")
                }),
            met: r.link_hours_p95.is_some_and(|v| v <= t),
        });
    }
    if let Some(t) = sc.goal.detect_days {
        g.push(GoalCheck {
            what: "time to detect, p95".into(),
            target: format!("≤ {t} days"),
            measured: r.ttd_p95.map_or("not detected in every seed".into(), |v| format!("{:.2} days", v / 86_400.0)),
            met: r.ttd_p95.is_some_and(|v| v <= t * 86_400.0),
        });
    }
    if let Some(t) = sc.goal.canary_suspend_seconds {
        // An attacker contained before it reached any canary leaves nothing to time: that is
        // said, and counted as met only if every incident was contained with nothing exposed.
        let before = r.canary_touched == 0 && r.contained >= 1.0 && r.rebc_max == 0.0;
        g.push(GoalCheck {
            what: "canary touched → access ended, p95".into(),
            target: format!("≤ {t} s"),
            measured: match (r.canary_touched, r.canary_to_end_p95) {
                (0, _) if before => "no canary reached: every incident contained before, nothing exposed".into(),
                (0, _) => "no canary touched in any seed".into(),
                (n, Some(v)) => format!("{v:.3} s over {n} touches"),
                (n, None) => format!("not always ended ({n} touches)"),
            },
            met: before || (r.canary_touched > 0 && r.canary_to_end_p95.is_some_and(|v| v <= t)),
        });
    }
    if sc.goal.creations_held {
        let v = r.creations_held.unwrap_or(0.0);
        g.push(GoalCheck {
            what: "account creations held for approval".into(),
            target: "100 %".into(),
            measured: format!("{:.0} %", v * 100.0),
            met: v >= 1.0,
        });
    }
    g
}

fn secs(v: Option<f64>) -> String {
    match v {
        None => "never".into(),
        Some(s) if s < 120.0 => format!("{s:.1} s"),
        Some(s) if s < 7200.0 => format!("{:.1} min", s / 60.0),
        Some(s) if s < 172_800.0 => format!("{:.1} h", s / 3600.0),
        Some(s) => format!("{:.1} d", s / 86_400.0),
    }
}

/// The terminal table.
pub fn table(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} seeds ({}), {} persons, {} accounts, {} days ({} warm-up), {} benign agent-days; {:.0} events/s",
        r.seeds.len(),
        r.seed_set,
        r.persons,
        r.accounts,
        r.days,
        r.warmup_days,
        r.agent_days,
        r.events_per_second
    );
    let _ = writeln!(s, "\nFalse positives per 1 000 benign agent-days");
    let _ = writeln!(s, "{:<26} {:>9} {:>9} {:>9} {:>11}", "system", "friction", "step-up", "throttle", "suspension");
    for x in &r.systems {
        let _ = writeln!(
            s,
            "{:<26} {:>9.2} {:>9.2} {:>9.2} {:>11.3}",
            x.system, x.rates.frictions, x.rates.step_ups, x.rates.throttles, x.rates.suspensions
        );
    }
    if let Some(v) = r.systems.iter().find(|x| x.system == "vigie") {
        let _ = writeln!(s, "\nVigie by organization kind (work)        friction   step-up  throttle  suspension");
        for (k, x) in &v.by_kind {
            let _ = writeln!(
                s,
                "  {k:<36} {:>9.2} {:>9.2} {:>9.2} {:>11.3}",
                x.frictions, x.step_ups, x.throttles, x.suspensions
            );
        }
        let _ = writeln!(s, "\nVigie's false positives by signal (agent-days per 1 000; a flag may have several)");
        for (action, signal, rate) in v.signals.iter().take(12) {
            let _ = writeln!(s, "  {action:<16} {signal:<28} {rate:>8.2}");
        }
    }
    for sc in &r.scenarios {
        if !sc.surge.is_empty() {
            let _ = writeln!(s, "\n{} (benign surge)", sc.name);
            let _ = writeln!(
                s,
                "{:<26} {:>11} {:>9} {:>9} {:>11}",
                "system", "agent-days", "step-up", "throttle", "suspension"
            );
            for x in &sc.surge {
                let _ = writeln!(
                    s,
                    "{:<26} {:>11} {:>9.2} {:>9.2} {:>11.3}",
                    x.system, x.agent_days, x.rates.step_ups, x.rates.throttles, x.rates.suspensions
                );
            }
            if !sc.signals.is_empty() {
                let _ = writeln!(s, "  vigie's flags on its agent-days: {}", shares(&sc.signals, 8));
            }
            for g in &sc.goals {
                let _ = writeln!(
                    s,
                    "  goal {}: {} {} (measured {})",
                    if g.met { "met" } else { "NOT met" },
                    g.what,
                    g.target,
                    g.measured
                );
            }
            continue;
        }
        let _ = writeln!(s, "\n{} ({} incidents)", sc.name, sc.incidents);
        let _ = writeln!(
            s,
            "{:<26} {:>10} {:>10} {:>12} {:>10} {:>10}",
            "system", "REBC med", "REBC p95", "exposed med", "TTC p95", "contained"
        );
        for x in &sc.results {
            let _ = writeln!(
                s,
                "{:<26} {:>10} {:>10} {:>12} {:>10} {:>9.0}%",
                x.system,
                x.rebc_median,
                x.rebc_p95,
                x.exposed_total_median,
                secs(x.ttc_p95),
                x.contained * 100.0
            );
        }
        if !sc.signals.is_empty() {
            let _ = writeln!(s, "  vigie's signals on the attacker: {}", shares(&sc.signals, 8));
            let _ = writeln!(s, "  first throttled or ended by: {}", shares(&sc.contained_by, 5));
        }
        for g in &sc.goals {
            let _ = writeln!(
                s,
                "  goal {}: {} {} (measured {})",
                if g.met { "met" } else { "NOT met" },
                g.what,
                g.target,
                g.measured
            );
        }
    }
    let _ = writeln!(s);
    for g in &r.fp_goals {
        let _ = writeln!(
            s,
            "goal {}: {} {} (measured {})",
            if g.met { "met" } else { "NOT met" },
            g.what,
            g.target,
            g.measured
        );
    }
    s
}

fn shares(v: &[(String, f64)], n: usize) -> String {
    if v.is_empty() {
        return "none".into();
    }
    v.iter().take(n).map(|(name, x)| format!("{name} ({:.0} %)", x * 100.0)).collect::<Vec<_>>().join(", ")
}

/// The Markdown report; `plots` are written beside it by the caller as `<name>.svg`.
pub fn markdown(r: &Report) -> (String, Vec<(String, String)>) {
    let mut s = String::new();
    let mut plots = Vec::new();
    let _ = writeln!(s, "# Vigie containment report\n");
    let _ = writeln!(
        s,
        "{} seeds ({}: {:?}), {} persons, {} accounts, {} simulated days of which {} warm-up; {} benign agent-days judged; {} requests, {} guarded events, {:.0} events/s (median over seeds, all systems judged), {:.0} s per seed (median).\n",
        r.seeds.len(),
        r.seed_set,
        r.seeds,
        r.persons,
        r.accounts,
        r.days,
        r.warmup_days,
        r.agent_days,
        r.requests,
        r.events,
        r.events_per_second,
        r.run_seconds_median
    );
    let _ = writeln!(s, "## False positives (per 1 000 benign agent-days)\n");
    let _ = writeln!(
        s,
        "| system | friction | step-up | throttle | suspension | worst 5 % of days (step-up / throttle / suspension) | benign canary touches |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---|---:|");
    for x in &r.systems {
        let _ = writeln!(
            s,
            "| {} | {:.2} | {:.2} | {:.2} | {:.3} | {:.1} / {:.1} / {:.1} | {} |",
            x.system,
            x.rates.frictions,
            x.rates.step_ups,
            x.rates.throttles,
            x.rates.suspensions,
            x.worst_days_p95.step_ups,
            x.worst_days_p95.throttles,
            x.worst_days_p95.suspensions,
            x.benign_canary_touches
        );
    }
    if let Some(v) = r.systems.iter().find(|x| x.system == "vigie") {
        let _ = writeln!(s, "\nVigie by organization kind and work:\n");
        let _ = writeln!(s, "| kind (work) | friction | step-up | throttle | suspension |");
        let _ = writeln!(s, "|---|---:|---:|---:|---:|");
        for (k, x) in &v.by_kind {
            let _ = writeln!(
                s,
                "| {k} | {:.2} | {:.2} | {:.2} | {:.3} |",
                x.frictions, x.step_ups, x.throttles, x.suspensions
            );
        }
    }
    if let Some(v) = r.systems.iter().find(|x| x.system == "vigie") {
        let _ = writeln!(
            s,
            "\nWhat Vigie's false positives were made of (benign agent-days per 1 000 on which the signal took part in the flag):\n"
        );
        let _ = writeln!(s, "| action | signal | per 1 000 agent-days |");
        let _ = writeln!(s, "|---|---|---:|");
        for (action, signal, rate) in &v.signals {
            let _ = writeln!(s, "| {action} | {signal} | {rate:.2} |");
        }
        let _ = writeln!(
            s,
            "\nThe same by organization kind and work (per 1 000 of its agent-days; the five most frequent):\n"
        );
        let _ = writeln!(s, "| kind (work) | signals |");
        let _ = writeln!(s, "|---|---|");
        for (kind, list) in &v.by_kind_signals {
            let top: Vec<String> = list.iter().take(5).map(|(a, n, r)| format!("{a} {n} {r:.2}")).collect();
            let _ = writeln!(s, "| {kind} | {} |", top.join(", "));
        }
    }
    let _ = writeln!(s, "\n## Goals\n");
    let _ = writeln!(s, "| scenario | goal | target | measured | |");
    let _ = writeln!(s, "|---|---|---|---|---|");
    for g in &r.fp_goals {
        let _ = writeln!(
            s,
            "| all benign traffic | {} | {} | {} | {} |",
            g.what,
            g.target,
            g.measured,
            if g.met { "met" } else { "**NOT met**" }
        );
    }
    for sc in &r.scenarios {
        for g in &sc.goals {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                sc.name,
                g.what,
                g.target,
                g.measured,
                if g.met { "met" } else { "**NOT met**" }
            );
        }
    }
    let _ = writeln!(s, "\n## Scenarios\n");
    for (sc, (name, series)) in r.scenarios.iter().zip(&r.curves) {
        let _ = writeln!(s, "### {}\n\n{}\n", sc.name, sc.summary);
        if !sc.surge.is_empty() {
            let _ = writeln!(s, "| system | agent-days | friction | step-up | throttle | suspension |");
            let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
            for x in &sc.surge {
                let _ = writeln!(
                    s,
                    "| {} | {} | {:.2} | {:.2} | {:.2} | {:.3} |",
                    x.system, x.agent_days, x.rates.frictions, x.rates.step_ups, x.rates.throttles, x.rates.suspensions
                );
            }
            if !sc.signals.is_empty() {
                let _ = writeln!(s, "\nVigie's flags on its agent-days (share of them): {}.", shares(&sc.signals, 10));
            }
            let _ = writeln!(s);
            continue;
        }
        if !sc.signals.is_empty() {
            let _ = writeln!(
                s,
                "Vigie's signals on the attacker's requests (share of incidents): {}.\n\nFirst throttled or ended by: {}.\n",
                shares(&sc.signals, 12),
                shares(&sc.contained_by, 6)
            );
        }
        let _ = writeln!(
            s,
            "| system | REBC median | REBC p95 | per account p95 | exposed in all (median) | TTD p95 | TTC median | TTC p95 | contained |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for x in &sc.results {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {:.0} % |",
                x.system,
                x.rebc_median,
                x.rebc_p95,
                x.rebc_per_account_p95,
                x.exposed_total_median,
                secs(x.ttd_p95),
                secs(x.ttc_median),
                secs(x.ttc_p95),
                x.contained * 100.0
            );
        }
        let file = format!("{name}.svg");
        let chart = Chart {
            title: format!(
                "{name}: persons exposed since the attack began (seed {})",
                r.seeds.first().copied().unwrap_or(0)
            ),
            x_label: "minutes since the first malicious request".into(),
            y_label: "distinct persons exposed".into(),
            series: series.clone(),
            log_y: true,
            hlines: sc
                .goals
                .iter()
                .filter(|g| g.what.starts_with("persons exposed before"))
                .filter_map(|g| g.target.trim_start_matches("≤ ").parse::<f64>().ok().map(|v| (v, format!("goal {v}"))))
                .collect(),
        };
        plots.push((file.clone(), render(&chart)));
        let _ = writeln!(s, "\n![{name}]({file})\n");
    }
    (s, plots)
}
