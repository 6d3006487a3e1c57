//! Alerts reach the feed, the JSON-lines file and a webhook (signed, retried after a failure);
//! lifecycle actions raise them too; friction stays in the feed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a test binary")]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use vigie_alerts::{Alerter, AlertingDetector, Sinks, Webhook, signature};
use vigie_core::category::CategorySet;
use vigie_core::detect::{DetectConfig, ExfiltrationDetector};
use vigie_core::event::{AccessAction, AccessEvent, Actor, Decision, Verdict, VerdictAction};
use vigie_core::ids::{AgentId, OrgId, PersonId, RequestId, SessionId};
use vigie_core::org::{OrgKind, Role};
use vigie_core::ports::{DetectContext, Detector, LifecycleAction, LifecycleKind};
use vigie_core::time::Timestamp;

fn view(person: u64) -> AccessEvent {
    AccessEvent {
        at: Timestamp(1_780_000_000_000),
        request: RequestId(9),
        actor: Actor {
            agent: AgentId::new(5).unwrap(),
            org: OrgId::new(2).unwrap(),
            org_kind: OrgKind::TrainingOrg,
            role: Role::Advisor,
            session: SessionId(3),
        },
        action: AccessAction::View,
        person: PersonId::new(person),
        requested: CategorySet::ALL,
        returned: CategorySet::EMPTY,
        relationship: None,
        decision: Decision::Deny,
        reasons: Vec::new(),
        verdict: Verdict::allow(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_alert_reaches_the_feed_the_file_and_the_webhook() {
    // A webhook that refuses the first delivery, then checks the signature.
    let secret = b"shared secret".to_vec();
    let calls = Arc::new(AtomicU32::new(0));
    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let (c, r, s) = (calls.clone(), received.clone(), secret.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let (c, r, s) = (c.clone(), r.clone(), s.clone());
            async move {
                if c.fetch_add(1, Ordering::SeqCst) == 0 {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                let ts = headers["x-vigie-timestamp"].to_str().unwrap();
                assert_eq!(headers["x-vigie-signature"].to_str().unwrap(), signature(&s, ts, body.as_bytes()));
                r.lock().unwrap().push(body);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("alerts.jsonl");
    let sinks = Sinks {
        jsonl: Some(jsonl.clone()),
        webhook: Some(Webhook { url, secret, attempts: 3, first_backoff: Duration::from_millis(50) }),
        syslog: None,
        state_dir: None,
    };
    let alerter = Arc::new(Alerter::start(sinks, 100).unwrap());
    let detector = AlertingDetector {
        inner: ExfiltrationDetector::new(DetectConfig::with_canaries([PersonId::new(4242).unwrap()])),
        alerter: alerter.clone(),
    };
    assert_eq!(detector.assess(&view(1), &Default::default()).action, VerdictAction::Allow);
    assert!(alerter.feed.recent(10, |_| true).is_empty(), "an allow raises nothing");
    // A canary looked up by its exact key (no benign source holds one): the tripwire.
    let canary = AccessEvent { action: AccessAction::LookupByNir, ..view(4242) };
    assert_eq!(detector.assess(&canary, &Default::default()).action, VerdictAction::SuspendAccount);

    let feed = alerter.feed.recent(10, |_| true);
    assert_eq!(feed.len(), 1);
    assert_eq!(
        (feed[0].verdict.as_ref(), feed[0].reasons.clone()),
        ("suspend_account", vec!["canary=P4242".to_owned(), "canary_by=exact_key".to_owned()])
    );
    for _ in 0..100 {
        if alerter.delivered.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(alerter.delivered.load(Ordering::SeqCst), 1, "delivered on the second attempt");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let body: serde_json::Value = serde_json::from_str(&received.lock().unwrap()[0]).unwrap();
    assert_eq!(body["agent"], "A5");
    assert_eq!(body["person"], "P4242");
    let lines = std::fs::read_to_string(&jsonl).unwrap();
    assert_eq!(lines.lines().count(), 1);
    assert_eq!(serde_json::from_str::<serde_json::Value>(lines.trim()).unwrap()["verdict"], "suspend_account");
}

#[test]
fn the_feed_keeps_the_newest() {
    let alerter = Alerter::start(Sinks::default(), 2).unwrap();
    let d = AlertingDetector {
        inner: ExfiltrationDetector::new(DetectConfig::with_canaries((1..=3).filter_map(PersonId::new))),
        alerter: Arc::new(alerter),
    };
    for p in 1..=3 {
        let mut e = view(p);
        e.actor.agent = AgentId::new(p).unwrap();
        d.assess(&e, &Default::default());
    }
    let recent = d.alerter.feed.recent(10, |_| true);
    assert_eq!(recent.iter().map(|a| a.agent.as_str()).collect::<Vec<_>>(), ["A3", "A2"]);
    assert_eq!(d.alerter.feed.recent(10, |a| a.agent == "A2").len(), 1);
}

/// A detector that answers what it is told.
#[derive(Debug)]
struct Says(Verdict);

impl Detector for Says {
    fn assess(&self, _: &AccessEvent, _: &DetectContext) -> Verdict {
        self.0.clone()
    }
    fn lifecycle(&self, _: &LifecycleAction) -> Verdict {
        self.0.clone()
    }
}

#[test]
fn lifecycle_actions_raise_alerts_and_friction_stays_in_the_feed() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("alerts.jsonl");
    let alerter = Arc::new(Alerter::start(Sinks { jsonl: Some(jsonl.clone()), ..Sinks::default() }, 100).unwrap());
    let request = LifecycleAction {
        at: Timestamp(1_780_000_000_000),
        actor: AgentId::new(8).unwrap(),
        org: OrgId::new(2).unwrap(),
        kind: LifecycleKind::Request,
    };
    let says = |action, reasons: &[&str]| AlertingDetector {
        inner: Says(Verdict { action, reasons: reasons.iter().map(|r| (*r).to_owned()).collect() }),
        alerter: alerter.clone(),
    };
    assert_eq!(says(VerdictAction::Allow, &["x=1"]).lifecycle(&request).action, VerdictAction::Allow);
    assert!(alerter.feed.recent(10, |_| true).is_empty(), "an allow raises nothing");
    says(VerdictAction::Friction, &["unusual_hour=1"]).assess(&view(1), &DetectContext::default());
    says(VerdictAction::Friction, &["requests_week=3"]).lifecycle(&request);
    says(VerdictAction::Allow, &["requests_week=9", "shadow=1 would=throttle"]).lifecycle(&request);
    let v = says(VerdictAction::Throttle, &["requests_week=9 quota=5"]).lifecycle(&request);
    assert_eq!(v, Verdict { action: VerdictAction::Throttle, reasons: vec!["requests_week=9 quota=5".to_owned()] });

    let feed = alerter.feed.recent(10, |_| true);
    let summary: Vec<_> =
        feed.iter().map(|a| (a.event.as_ref(), a.action.as_ref(), a.verdict.as_ref(), a.shadow)).collect();
    assert_eq!(
        summary,
        [
            ("lifecycle", "request", "throttle", false),
            ("lifecycle", "request", "allow", true),
            ("lifecycle", "request", "friction", false),
            ("access", "view", "friction", false),
        ]
    );
    // The file gets the shadow decision and the throttle, never friction.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut lines = String::new();
    while lines.lines().count() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
        lines = std::fs::read_to_string(&jsonl).unwrap_or_default();
    }
    let lines: Vec<serde_json::Value> = lines.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.iter().map(|l| l["verdict"].as_str().unwrap()).collect::<Vec<_>>(), ["allow", "throttle"]);
    let throttle = &lines[1];
    assert_eq!(
        (&throttle["event"], &throttle["action"], &throttle["agent"]),
        (&"lifecycle".into(), &"request".into(), &"A8".into())
    );
    assert_eq!((&throttle["organization"], &throttle["reasons"][0]), (&"O2".into(), &"requests_week=9 quota=5".into()));
    assert!(throttle["session"].is_null() && throttle["person"].is_null());
}
