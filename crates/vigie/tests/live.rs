//! Live mode: shipped scenarios played over HTTP against the real server (wall clock, the
//! server's own detector), beside benign agents. What a demo shows must hold here.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test binary: failing loudly is the point"
)]

mod common;

use std::path::Path;
use std::time::Duration;

use vigie::app;
use vigie::live::{self, LiveOptions, LiveOutcome};
use vigie_core::time::Clock;
use vigie_gen::GenParams;

fn scenario(name: &str) -> vigie_sim::scenario::Scenario {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    vigie::simulate::live_scenario(&[dir.join(format!("{name}.toml"))], &dir).unwrap()
}

/// A fresh registry and the server on port 0 (see `common`); the scenario played; the outcome.
async fn play(name: &str) -> LiveOutcome {
    let today = common::today();
    let t = common::Setup::new().seed(11).persons(6_000).on(today).wall_clock().server_detector().start().await;
    let scenario = scenario(name);
    let cast = live::cast(&t.sqlite().store, &scenario, 2, today, &[], 5).unwrap();
    let mut opts = LiveOptions::new(t.base.clone());
    opts.warmup = Duration::from_secs(1);
    opts.linger = Duration::from_secs(2);
    opts.duration = Duration::from_secs(90);
    let out = live::play(&opts, &cast, &scenario, false).await.unwrap();
    drop(t);
    out
}

fn story(out: &LiveOutcome) -> String {
    out.lines.join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_session_read_at_script_pace_is_contained_within_the_goal() {
    let out = play("stolen-session-fast-bulk").await;
    let contained = out.contained_after.unwrap_or_else(|| panic!("not contained:\n{}", story(&out)));
    // The goal for this class: ≤ 50 persons, ≤ 60 s.
    assert!(out.exposed <= 50, "{} persons exposed:\n{}", out.exposed, story(&out));
    assert!(contained <= Duration::from_secs(60), "contained after {contained:?}:\n{}", story(&out));
    assert!(out.exposed > 0, "the attacker read nothing: the test did not exercise the guard:\n{}", story(&out));
    assert_eq!(out.benign_refused, 0, "benign agents refused:\n{}", story(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cookie_replayed_from_another_network_reads_nothing() {
    let out = play("cookie-replay-foreign").await;
    assert_eq!(out.exposed, 0, "{}", story(&out));
    assert!(out.contained_by.as_deref().is_some_and(|b| b.contains("context_changed")), "{}", story(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_enumeration_is_stopped_before_any_record_leaves() {
    let out = play("sequential-enumeration").await;
    assert!(out.contained_after.is_some(), "{}", story(&out));
    assert!(out.exposed <= 5, "{} persons exposed:\n{}", out.exposed, story(&out));
}

#[test]
fn live_mode_speaks_to_loopback_only_and_refuses_what_it_cannot_play() {
    for bad in ["http://192.0.2.7:8080", "http://example.org", "ftp://127.0.0.1/", "not a url"] {
        let e = live::check_base(bad).unwrap_err().to_string();
        assert!(e.contains("--live"), "{bad}: {e}");
    }
    assert_eq!(live::check_base("http://127.0.0.1:8080/").unwrap(), "http://127.0.0.1:8080");
    assert!(live::check_base("http://localhost:8080").is_ok());
    // Created accounts need a second administrator: live mode says so instead of faking it.
    let dir = tempfile::tempdir().unwrap();
    let params = GenParams { seed: 3, persons: 500, as_of: app::WallClock.now().date() };
    let (store, _) = vigie::generate::generate(dir.path(), &params, false, false).unwrap();
    let s = scenario("mission-locale-created-accounts");
    let e = live::cast(&store, &s, 1, params.as_of, &[], 1).unwrap_err().to_string();
    assert!(e.contains("created_accounts"), "{e}");
}
