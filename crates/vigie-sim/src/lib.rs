//! `vigie simulate`: the guard's containment measured on a synthetic agency.
//!
//! A world from the generator (persons, organizations, accounts, relationships), 90 days of
//! benign traffic with the bursts that cause false alarms in real agencies, incidents played
//! from scenario files, all replayed on a simulated clock through the real guard
//! ([`vigie_core::guard::Guard`]: relationships, Cedar, the ledger port) and judged by several
//! systems side by side: no guard, static quotas, a nightly batch, Vigie and Vigie without
//! each of its parts. Pure computation: no clock, no disk (the caller writes the report).

pub mod attack;
pub mod engine;
pub mod metrics;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod svg;
pub mod systems;
pub mod time;
pub mod traffic;
pub mod world;

pub use engine::{Progress, RunOutcome, RunParams, run};
pub use report::Report;
pub use scenario::{Scenario, ScenarioError};
pub use systems::SystemSpec;
pub use world::WorldSize;

/// Seeds used while choosing the detector's defaults. Never the ones the report is judged on.
pub const TUNING_SEEDS: std::ops::RangeInclusive<u64> = 1..=10;
/// Seeds the report is judged on (thresholds frozen before they run).
pub const EVALUATION_SEEDS: std::ops::RangeInclusive<u64> = 1001..=1020;

/// The first day of a run: a Monday in late August, so that the warm-up holds the summer
/// and the evaluation the September peak, the autumn holidays and two public holidays.
pub fn default_start() -> ::time::Date {
    ::time::macros::date!(2026 - 08 - 17)
}

/// The organization names of a seed's world (what a scenario may name).
pub fn org_names(seed: u64, persons: u64, start: ::time::Date) -> Vec<String> {
    let params = vigie_gen::GenParams { seed, persons: persons.max(1), as_of: start };
    vigie_gen::world(&params).orgs.into_iter().map(|o| o.name).collect()
}

/// Runs every seed and sums them into a report. `progress` hears from each run.
pub fn simulate(
    params: &RunParams,
    seeds: &[u64],
    seed_set: &str,
    scenarios: &[Scenario],
    progress: &mut dyn FnMut(u64, Progress),
) -> Report {
    let mut runs = Vec::new();
    for &seed in seeds {
        let p = RunParams { seed, ..params.clone() };
        runs.push(run(&p, scenarios, &mut |x| progress(seed, x)));
    }
    report::build(&runs, scenarios, seed_set, params.warmup_days, params.days)
}
