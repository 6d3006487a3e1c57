//! The account lifecycle under the detector: a suspension freezes the organization's account
//! creation until a security officer lifts it, the lifecycle hook can hold back a request or
//! an approval, and the sign-in context of a session reaches the detector. The real app on
//! port 0 with a fresh data directory per test, a fixed clock and fake detectors (see
//! `common`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test binary: failing loudly is the point"
)]

mod common;

use std::sync::{Arc, Mutex};

use common::{Backend, Setup, TestApp, problem_type};
use reqwest::StatusCode;
use serde_json::{Value, json};
use vigie_core::event::{AccessEvent, Verdict, VerdictAction};
use vigie_core::org::{Agent, OrgKind, Role};
use vigie_core::ports::{DetectContext, Detector, LifecycleAction, LifecycleKind, SignInContext};
use vigie_core::security::SecurityKind;
use vigie_core::signin::UaFamily;

// Every test here runs on both stores.
on_both_stores!(
    a_suspension_freezes_account_creation_until_a_security_officer_lifts_it,
    the_lifecycle_hook_can_hold_back_a_request_or_an_approval,
    the_sign_in_context_of_the_session_reaches_the_detector,
);

/// 2 000 persons, the test's detector, other networks played through `X-Forwarded-For`.
async fn start(backend: Backend, detector: Arc<dyn Detector>) -> TestApp {
    Setup::new().store(backend).persons(2_000).trust_loopback_proxy().detector(detector).start().await
}

/// A new advisor's request, at the requester's own domain.
fn new_request(requester: &Agent, login: &str) -> Value {
    let domain = requester.email.rsplit_once('@').unwrap().1;
    json!({
        "login": login, "display_name": "Nouvel Agent", "email": format!("{login}@{domain}"),
        "role": "advisor", "justification": "hired on 2026-11-02",
    })
}

/// Suspends the account on any read (a canary, as far as the test is concerned).
struct SuspendOnRead;
impl Detector for SuspendOnRead {
    fn assess(&self, _: &AccessEvent, _: &DetectContext) -> Verdict {
        Verdict { action: VerdictAction::SuspendAccount, reasons: vec!["test=1".into()] }
    }
}

async fn a_suspension_freezes_account_creation_until_a_security_officer_lifts_it(backend: Backend) {
    let t = start(backend, Arc::new(SuspendOnRead)).await;
    let (advisor, org, in_scope) = t.advisor(OrgKind::Agency);
    let admin = t.agent_where(|a, _| a.org == org.id && a.role == Role::AccountAdmin);
    let officer = t.agent_where(|a, o| a.role == Role::SecurityOfficer && o.kind == OrgKind::Agency);
    let outsider = t.agent_where(|a, _| a.org != org.id && a.role == Role::AccountAdmin);

    // A request made before the suspension waits for its approval.
    let ta = t.passkey_session(&admin);
    let (status, body) = t.post_auth(&ta, "/v1/account-requests", new_request(&admin, "before.freeze")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let pending = serde_json::from_str::<Value>(&body).unwrap()["id"].as_str().unwrap().to_owned();
    let freeze_path = format!("/v1/organizations/{}/freeze", org.id);
    let (status, body) = t.get(&ta, &freeze_path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["frozen"], false);

    // The detector suspends the advisor: disabled, and its organization frozen.
    let token = t.login_full(&advisor).await.0;
    let (status, body) = t.get(&token, &format!("/v1/persons/{in_scope}")).await;
    assert_eq!((status, problem_type(&body).as_str()), (StatusCode::UNAUTHORIZED, "urn:vigie:problem:session-ended"));
    assert!(!t.store.agent(advisor.id).unwrap().unwrap().active, "the account is disabled");
    let freeze = t.store.org_creation_frozen(org.id).unwrap().expect("the organization is frozen");
    assert_eq!((freeze.agent, freeze.reason.as_str()), (Some(advisor.id), "account_suspended"));
    let frozen_event =
        t.security_events().into_iter().find(|e| e.kind == SecurityKind::OrgCreationFrozen).expect("ledgered");
    assert_eq!(frozen_event.subject, Some(advisor.id));
    assert!(frozen_event.details.contains(&("organization".to_owned(), org.id.to_string())));

    // No new request, no approval of a pending one.
    let ta = t.passkey_session(&admin);
    let (status, body) = t.post_auth(&ta, "/v1/account-requests", new_request(&admin, "during.freeze")).await;
    assert_eq!((status, problem_type(&body).as_str()), (StatusCode::LOCKED, "urn:vigie:problem:creation-frozen"));
    assert!(body.contains("security_officer must lift"), "{body}");
    let to = t.passkey_session(&officer);
    let approve = format!("/v1/account-requests/{pending}/approve");
    let (status, body) = t.post_auth(&to, &approve, json!({})).await;
    assert_eq!((status, problem_type(&body).as_str()), (StatusCode::LOCKED, "urn:vigie:problem:creation-frozen"));
    assert!(t.store.agent_by_login(&"before.freeze".parse().unwrap()).unwrap().is_none(), "nothing created");

    // Its administrators and security officers see the freeze; others do not.
    let (status, body) = t.get(&ta, &freeze_path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let state: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((state["frozen"].clone(), state["agent"].clone()), (json!(true), json!(advisor.id.to_string())));
    assert_eq!(t.get(&to, &freeze_path).await.0, StatusCode::OK);
    assert_eq!(t.get(&t.passkey_session(&outsider), &freeze_path).await.0, StatusCode::FORBIDDEN);

    // Only a security officer lifts it.
    let unfreeze = format!("/v1/organizations/{}/unfreeze", org.id);
    let (status, body) = t.post_auth(&ta, &unfreeze, json!({})).await;
    assert_eq!((status, problem_type(&body).as_str()), (StatusCode::FORBIDDEN, "urn:vigie:problem:forbidden"));
    let (status, _) = t.post_auth(&t.passkey_session(&outsider), &unfreeze, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(t.store.org_creation_frozen(org.id).unwrap().is_some(), "still frozen");
    let (status, body) = t.post_auth(&to, &unfreeze, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["frozen"], false);
    assert!(t.store.org_creation_frozen(org.id).unwrap().is_none());
    let lifted =
        t.security_events().into_iter().find(|e| e.kind == SecurityKind::OrgCreationUnfrozen).expect("ledgered");
    assert_eq!(lifted.agent, Some(officer.id));
    assert!(lifted.details.contains(&("organization".to_owned(), org.id.to_string())));
    let (status, _) = t.post_auth(&to, &unfreeze, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "nothing left to lift");

    // Requests and approvals work again.
    let (status, body) = t.post_auth(&ta, "/v1/account-requests", new_request(&admin, "after.freeze")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = t.post_auth(&to, &approve, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(t.store.agent_by_login(&"before.freeze".parse().unwrap()).unwrap().is_some());
}

/// Throttles the lifecycle actions of the kinds listed, and remembers every action it saw.
#[derive(Default)]
struct ThrottleLifecycle {
    kinds: Mutex<Vec<LifecycleKind>>,
    seen: Mutex<Vec<LifecycleAction>>,
}

impl Detector for ThrottleLifecycle {
    fn assess(&self, _: &AccessEvent, _: &DetectContext) -> Verdict {
        Verdict::allow()
    }

    fn lifecycle(&self, action: &LifecycleAction) -> Verdict {
        self.seen.lock().unwrap().push(*action);
        if self.kinds.lock().unwrap().contains(&action.kind) {
            Verdict { action: VerdictAction::Throttle, reasons: vec!["lifecycle=unusual".into()] }
        } else {
            Verdict::allow()
        }
    }
}

async fn the_lifecycle_hook_can_hold_back_a_request_or_an_approval(backend: Backend) {
    let detector = Arc::new(ThrottleLifecycle::default());
    let t = start(backend, detector.clone()).await;
    let admin = t.agent_where(|a, o| a.role == Role::AccountAdmin && o.kind == OrgKind::Agency);
    let officer = t.agent_where(|a, o| a.role == Role::SecurityOfficer && o.kind == OrgKind::Agency);
    let ta = t.passkey_session(&admin);

    *detector.kinds.lock().unwrap() = vec![LifecycleKind::Request];
    let (status, body) = t.post_auth(&ta, "/v1/account-requests", new_request(&admin, "held.back")).await;
    assert_eq!(
        (status, problem_type(&body).as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "urn:vigie:problem:quota-reached")
    );
    assert!(body.contains("account creations"), "{body}");
    assert!(t.store.requests(Some(admin.org), 10).unwrap().is_empty(), "nothing created");
    assert!(!t.security_events().iter().any(|e| e.kind == SecurityKind::AccountRequested));
    let seen = detector.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].actor, seen[0].org, seen[0].kind), (admin.id, admin.org, LifecycleKind::Request));
    assert_eq!(seen[0].at, t.now());

    *detector.kinds.lock().unwrap() = vec![LifecycleKind::Approval];
    let (status, body) = t.post_auth(&ta, "/v1/account-requests", new_request(&admin, "held.back")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"].as_str().unwrap().to_owned();
    let to = t.passkey_session(&officer);
    let (status, body) = t.post_auth(&to, &format!("/v1/account-requests/{id}/approve"), json!({})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(t.store.agent_by_login(&"held.back".parse().unwrap()).unwrap().is_none(), "no account");
    let request = t.store.request(id.parse().unwrap()).unwrap().unwrap();
    assert_eq!(request.state, vigie_core::lifecycle::RequestState::Pending, "still waiting");
    let last = *detector.seen.lock().unwrap().last().unwrap();
    assert_eq!((last.actor, last.org, last.kind), (officer.id, admin.org, LifecycleKind::Approval));

    detector.kinds.lock().unwrap().clear();
    let (status, body) = t.post_auth(&to, &format!("/v1/account-requests/{id}/approve"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Allows everything and keeps the context of every assessment.
#[derive(Default)]
struct RecordContext {
    contexts: Mutex<Vec<DetectContext>>,
}

impl Detector for RecordContext {
    fn assess(&self, _: &AccessEvent, context: &DetectContext) -> Verdict {
        self.contexts.lock().unwrap().push(*context);
        Verdict::allow()
    }
}

async fn the_sign_in_context_of_the_session_reaches_the_detector(backend: Backend) {
    let detector = Arc::new(RecordContext::default());
    let t = start(backend, detector.clone()).await;
    let (advisor, _, in_scope) = t.advisor(OrgKind::Agency);

    let first = t.login_full(&advisor).await.0;
    let first_at = t.now();
    assert_eq!(t.get(&first, &format!("/v1/persons/{in_scope}")).await.0, StatusCode::OK);
    let context = *detector.contexts.lock().unwrap().last().unwrap();
    assert_eq!(context.sign_in.previous_sign_in, None, "its first sign-in");
    assert_eq!(context.sign_in.concurrent_sessions, 0);
    assert_eq!(context.sign_in.network, SignInContext::network_key("127.0.0.0/24"));

    // A second sign-in, from another network and browser, while the first is live.
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    let second = t.login_from(&advisor, "198.51.100.7", firefox).await.0;
    let resp = t
        .http
        .get(format!("{}/v1/persons/{in_scope}", t.base))
        .bearer_auth(&second)
        .header("x-forwarded-for", "198.51.100.7")
        .header("user-agent", firefox)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let context = *detector.contexts.lock().unwrap().last().unwrap();
    let sign_in = context.sign_in;
    assert_eq!(sign_in.previous_sign_in, Some(first_at), "the first sign-in, remembered");
    assert_eq!(sign_in.concurrent_sessions, 1, "the first session was live");
    assert_eq!(sign_in.network, SignInContext::network_key("198.51.100.0/24"));
    assert_eq!(sign_in.ua_family, Some(UaFamily::Firefox));
    assert_eq!(sign_in.credential_changed_at, None, "issued by the test helper, which has no clock");
    // An account loaded by the operator: no four-eyes origin.
    assert_eq!((sign_in.account_created_at, sign_in.created_by, sign_in.approved_by), (None, None, None));
}
