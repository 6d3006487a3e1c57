//! A small world run end to end: the shipped scenarios parse, a run is deterministic per seed,
//! and the systems differ where they must (no guard exposes what Vigie does not).

use std::path::PathBuf;

use vigie_sim::scenario::{Bounds, load, parse};
use vigie_sim::{RunParams, SystemSpec, WorldSize, run};

fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

fn small() -> RunParams {
    RunParams {
        seed: 7,
        size: WorldSize { persons: 30_000, accounts: 200 },
        days: 40,
        warmup_days: 30,
        start: vigie_sim::default_start(),
        systems: SystemSpec::standard(false),
    }
}

fn bounds(names: &[String]) -> Bounds<'_> {
    Bounds { warmup_days: 30, days: 40, org_names: names }
}

#[test]
fn every_shipped_scenario_reads() {
    let names = vigie_sim::org_names(7, 30_000, vigie_sim::default_start());
    let b = Bounds { warmup_days: 30, days: 90, org_names: &names };
    let mut n = 0;
    for e in std::fs::read_dir(scenarios_dir()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            load(&p, &b).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 11, "only {n} scenarios shipped");
}

const FAST_BULK: &str = r#"
name = "fast"
[attack]
victim = "agency/advisor"
access = "stolen_session"
targets = "reach"
start_day = [32, 36]
start_hour = [10, 11]
pace_per_minute = 200
duration_hours = 2
jitter = 0.05
[goal]
exposed_p95 = 50
"#;

const FOREIGN: &str = r#"
name = "foreign"
[attack]
victim = "agency/advisor"
access = "stolen_session"
network = "foreign"
targets = "sequential_ids"
start_day = 33
pace_per_minute = 100
duration_hours = 1
"#;

const CANARY: &str = r#"
name = "canary"
[attack]
victim = "agency/advisor"
access = "phished_second_factor"
targets = "sequential_ids"
start_day = 34
pace_per_minute = 200
duration_hours = 3
jitter = 0.1
[goal]
canary_suspend_seconds = 1
"#;

#[test]
fn a_small_run_compares_the_systems_and_is_deterministic() {
    let p = small();
    let names = vigie_sim::org_names(p.seed, p.size.persons, p.start);
    let scenarios: Vec<_> = [("fast", FAST_BULK), ("foreign", FOREIGN), ("canary", CANARY)]
        .iter()
        .map(|(f, t)| parse(f, t, &bounds(&names)).unwrap())
        .collect();
    let a = run(&p, &scenarios, &mut |_| {});
    let r = vigie_sim::report::build(std::slice::from_ref(&a), &scenarios, "custom", 30, 40);
    assert!(a.accounts >= 200, "{} accounts", a.accounts);
    assert!(a.agent_days > 500, "{} agent-days", a.agent_days);

    let result = |scenario: &str, system: &str| {
        r.scenarios
            .iter()
            .find(|s| s.name == scenario)
            .unwrap()
            .results
            .iter()
            .find(|x| x.system == system)
            .unwrap()
            .clone()
    };
    // Without a guard the fast bulk takes what it asks for (200 a minute for two hours, more
    // than its caseload: it goes on with leaked keys); Vigie stops it.
    let none = result("fast", "no_guard");
    let vigie = result("fast", "vigie");
    assert!(none.exposed_total_median > 5_000.0, "{none:?}");
    assert!(vigie.exposed_total_median < none.exposed_total_median / 10.0, "{vigie:?}");
    assert_eq!(vigie.contained, 1.0, "{vigie:?}");
    // A cookie from another network: the session binding ends it at once.
    let foreign = result("foreign", "vigie");
    assert_eq!(foreign.exposed_total_median, 0.0, "{foreign:?}");
    assert!(result("foreign", "no_guard").exposed_total_median > 1_000.0);
    // Walking ids with the second factor: the walk past the passed step-up ends the session
    // within seconds, at the latest at the first canary in its path.
    let canary = result("canary", "vigie");
    assert_eq!(canary.contained, 1.0, "{canary:?}");
    assert!(canary.rebc_p95 <= 5.0 && canary.ttc_p95.is_some_and(|t| t <= 60.0), "{canary:?}");
    assert!(canary.canary_touched == 0 || canary.canary_to_end_p95 == Some(0.0), "{canary:?}");
    assert!(result("canary", "no_guard").exposed_total_median > 1_000.0);

    // Same seed, same run.
    let b = run(&p, &scenarios, &mut |_| {});
    let r2 = vigie_sim::report::build(std::slice::from_ref(&b), &scenarios, "custom", 30, 40);
    assert_eq!(serde_json::to_string(&r.scenarios).unwrap(), serde_json::to_string(&r2.scenarios).unwrap());
    assert_eq!(serde_json::to_string(&r.systems).unwrap(), serde_json::to_string(&r2.systems).unwrap());
}
