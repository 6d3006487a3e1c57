//! An alert keeps its number across restarts, clean or not: the feed the console reads, the
//! JSON-lines file (each line's `id`) and `numbering::find` (behind `vigie incident open
//! --alert N`) agree on it; a crash never gives a number twice; an officer's response outlives
//! the restart; a file written before alerts were numbered keeps the line numbers the CLI used.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a test binary")]

use std::path::Path;
use std::time::{Duration, Instant};

use vigie_alerts::{Alert, Alerter, Handling, QueueFilter, Sinks, numbering};
use vigie_core::event::{Verdict, VerdictAction};
use vigie_core::ids::{AgentId, OrgId};
use vigie_core::ports::{LifecycleAction, LifecycleKind};
use vigie_core::time::Timestamp;

fn alert(agent: u64, action: VerdictAction) -> Alert {
    let a = LifecycleAction {
        at: Timestamp(1_780_000_000_000 + agent as i64),
        actor: AgentId::new(agent).unwrap(),
        org: OrgId::new(1).unwrap(),
        kind: LifecycleKind::Request,
    };
    Alert::from_lifecycle(&a, &Verdict { action, reasons: vec![format!("requests_week={agent}")] })
}

fn start(dir: &Path) -> Alerter {
    let sinks = Sinks { jsonl: Some(dir.join("alerts.jsonl")), state_dir: Some(dir.to_path_buf()), ..Sinks::default() };
    Alerter::start(sinks, 100).unwrap()
}

/// (number, agent) of the queue, newest first.
fn queue(a: &Alerter) -> Vec<(u64, String)> {
    a.feed.queue(&QueueFilter::default(), 100).0.into_iter().map(|q| (q.id, q.alert.agent)).collect()
}

/// Waits for the worker to have written `n` lines (a deadline, not a measurement).
fn lines(dir: &Path, n: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(dir.join("alerts.jsonl")).unwrap_or_default();
        let v: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        if v.len() >= n || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn an_alert_keeps_its_number_and_its_response_across_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(dir.path());
    a.emit(alert(1, VerdictAction::Throttle));
    a.emit(alert(2, VerdictAction::Friction)); // stays in the process, but takes a number
    a.emit(alert(3, VerdictAction::SuspendAccount));
    assert_eq!(queue(&a), [(3, "A3".into()), (2, "A2".into()), (1, "A1".into())]);
    a.feed.handle(3, Handling { response: "suspend".into(), by: "A9".into(), at_ms: 5 });
    drop(a);
    // The file names each alert by the number the console showed.
    let written = lines(dir.path(), 2);
    let ids: Vec<(u64, &str)> =
        written.iter().map(|l| (l["id"].as_u64().unwrap(), l["agent"].as_str().unwrap())).collect();
    assert_eq!(ids, [(1, "A1"), (3, "A3")]);

    let a = start(dir.path());
    assert_eq!(queue(&a), [(3, "A3".into()), (1, "A1".into())], "the file's alerts, under their numbers");
    assert_eq!(a.feed.get(3).unwrap().handling.unwrap().response, "suspend", "the response outlives the restart");
    assert!(a.feed.get(1).unwrap().handling.is_none());
    a.emit(alert(4, VerdictAction::Throttle));
    assert_eq!(a.feed.get(4).map(|q| q.alert.agent), Some("A4".into()), "a clean stop leaves no gap");
    drop(a);
    assert_eq!(numbering::find(&dir.path().join("alerts.jsonl"), 3).unwrap().unwrap().agent, "A3");
    assert_eq!(numbering::find(&dir.path().join("alerts.jsonl"), 4).unwrap().unwrap().agent, "A4");
    assert!(numbering::find(&dir.path().join("alerts.jsonl"), 2).unwrap().is_none(), "friction is not in the file");
}

#[test]
fn a_crash_never_gives_a_number_twice() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(dir.path());
    a.emit(alert(1, VerdictAction::Throttle));
    a.emit(alert(2, VerdictAction::Friction));
    lines(dir.path(), 1);
    // A crash: no drop, so the mark is never lowered (and friction alert 2 is in no file).
    std::mem::forget(a);
    let a = start(dir.path());
    a.emit(alert(5, VerdictAction::Throttle));
    let ids: Vec<u64> = queue(&a).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, [numbering::BLOCK + 1, 1], "after the reserved block, never 2 again");
}

#[test]
fn a_file_from_before_numbering_keeps_its_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let mut old = String::new();
    for agent in 1..=3 {
        let mut v = serde_json::to_value(alert(agent, VerdictAction::Throttle)).unwrap();
        v.as_object_mut().unwrap().remove("id");
        old.push_str(&format!("{v}\n"));
    }
    std::fs::write(dir.path().join("alerts.jsonl"), old).unwrap();
    assert_eq!(numbering::find(&dir.path().join("alerts.jsonl"), 2).unwrap().unwrap().agent, "A2");
    let a = start(dir.path());
    a.emit(alert(4, VerdictAction::Throttle));
    assert_eq!(queue(&a), [(4, "A4".into())], "numbered after the old lines");
    drop(a);
    assert_eq!(numbering::find(&dir.path().join("alerts.jsonl"), 4).unwrap().unwrap().agent, "A4");
    assert_eq!(numbering::find(&dir.path().join("alerts.jsonl"), 3).unwrap().unwrap().agent, "A3");
}

#[test]
fn a_damaged_mark_stops_the_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("alerts.next"), "twelve").unwrap();
    let sinks = Sinks { state_dir: Some(dir.path().to_path_buf()), ..Sinks::default() };
    let err = Alerter::start(sinks, 10).unwrap_err().to_string();
    assert!(err.contains("alerts.next") && err.contains("not a number"), "{err}");
}
