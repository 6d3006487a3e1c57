//! The friction rung end to end: a detector that asks for a reason, the `Vigie-Reason` header
//! of the API, the pages' prompt, and what the ledger keeps of a withheld read. The real app on
//! port 0 with a fresh data directory, a fixed clock and a fake detector (see `common`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test binary: failing loudly is the point"
)]

mod common;

use std::sync::{Arc, Mutex};

use common::Backend;
use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};
use vigie_core::event::{AccessEvent, Decision, EventHead, Verdict, VerdictAction};
use vigie_core::ids::PersonId;
use vigie_core::org::{Agent, OrgKind};
use vigie_core::ports::{AccessReason, DetectContext, Detector};

// Every test here runs on both stores.
on_both_stores!(
    the_api_withholds_until_a_reason_is_given_and_ledgers_the_withheld_read,
    a_reason_outside_the_list_is_bad_input_naming_the_header,
    the_pages_prompt_for_a_reason_and_show_the_record_once_given,
);

/// Asks for a reason whenever none is given, allows otherwise, and keeps every context it saw.
#[derive(Default)]
struct AskWhy {
    seen: Mutex<Vec<DetectContext>>,
}

impl Detector for AskWhy {
    fn assess(&self, _: &AccessEvent, context: &DetectContext) -> Verdict {
        self.seen.lock().unwrap().push(*context);
        match context.reason {
            None => Verdict { action: VerdictAction::Friction, reasons: vec!["test=friction".into()] },
            Some(r) => Verdict { action: VerdictAction::Allow, reasons: vec![format!("reason={}", r.as_str())] },
        }
    }
}

/// The shared test app, with the detector that asks why.
struct TestApp {
    app: common::TestApp,
    detector: Arc<AskWhy>,
}

impl std::ops::Deref for TestApp {
    type Target = common::TestApp;
    fn deref(&self) -> &common::TestApp {
        &self.app
    }
}

impl TestApp {
    async fn start(backend: Backend) -> TestApp {
        let detector = Arc::new(AskWhy::default());
        let app = common::Setup::new().store(backend).detector(detector.clone()).start().await;
        TestApp { app, detector }
    }

    /// The first agency advisor with a non-empty scope, and a person in it.
    fn account(&self) -> (Agent, PersonId) {
        let (agent, _, person) = self.app.advisor(OrgKind::Agency);
        (agent, person)
    }

    /// A GET with the token as bearer and the given `Vigie-Reason` values (none, one or more).
    async fn get(&self, token: &str, path: &str, reasons: &[HeaderValue]) -> (StatusCode, String) {
        let mut req = self.http.get(format!("{}{path}", self.base)).bearer_auth(token);
        for r in reasons {
            req = req.header("vigie-reason", r.clone());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.text().await.unwrap())
    }

    fn reasons_seen(&self) -> Vec<Option<AccessReason>> {
        self.detector.seen.lock().unwrap().iter().map(|c| c.reason).collect()
    }

    /// Every access event of the ledger: its head and its verdict's code (the byte after the
    /// authorization reasons, see `AccessEvent::encode`).
    fn ledger_events(&self) -> Vec<(EventHead, u8)> {
        self.app
            .ledger
            .entries()
            .unwrap()
            .map(|e| e.unwrap().body)
            .filter(|b| b.first() == Some(&vigie_core::event::EVENT_ENCODING_V1))
            .map(|b| {
                let head = EventHead::decode(&b).expect("every access event decodes");
                let mut at = 65; // after the decision (63) and the count of reasons (64)
                for _ in 0..b[64] {
                    at += 2; // category, effect
                    at += 2 + usize::from(u16::from_be_bytes([b[at], b[at + 1]])); // the policy id
                }
                (head, b[at])
            })
            .collect()
    }
}

/// The verdict's code in the encoding (`AccessEvent::encode`).
const FRICTION: u8 = 2;

fn reasons_of(problem: &Value) -> Vec<&str> {
    problem["reasons"].as_array().expect("a reasons array").iter().map(|r| r.as_str().unwrap()).collect()
}

fn all_reasons() -> Vec<&'static str> {
    AccessReason::ALL.iter().map(|r| r.as_str()).collect()
}

async fn the_api_withholds_until_a_reason_is_given_and_ledgers_the_withheld_read(backend: Backend) {
    let t = TestApp::start(backend).await;
    let (agent, in_scope) = t.account();
    let person = t.app.store.person(in_scope).unwrap().unwrap();
    let token = t.login(&agent).await;
    let path = format!("/v1/persons/{in_scope}");

    // No reason: 428, the accepted reasons machine-readable, nothing of the person.
    let (status, body) = t.get(&token, &path, &[]).await;
    assert_eq!(status, StatusCode::PRECONDITION_REQUIRED, "{body}");
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["type"], "urn:vigie:problem:reason-required");
    assert_eq!(problem["status"], 428);
    assert_eq!(reasons_of(&problem), all_reasons());
    assert!(problem["detail"].as_str().unwrap().contains("Vigie-Reason"), "{body}");
    for secret in [person.last_name.as_str(), person.ft_id.as_str(), &person.nir.to_string(), "identity"] {
        assert!(!body.contains(secret), "withheld data leaked: {body}");
    }
    assert_eq!(t.reasons_seen(), vec![None]);

    // The withheld read is in the ledger: denied, nothing returned, the friction verdict.
    let events = t.ledger_events();
    let (head, verdict) = events.last().unwrap();
    assert_eq!(
        (head.person, head.decision, head.returned),
        (Some(in_scope), Decision::Deny, vigie_core::CategorySet::EMPTY)
    );
    assert_eq!(*verdict, FRICTION);

    // With a reason: served, and the detector was told which.
    let (status, body) = t.get(&token, &path, &[HeaderValue::from_static("caseload_transfer")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let record: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(record["id"], in_scope.to_string());
    assert_eq!(record["identity"]["last_name"], person.last_name.as_str());
    assert_eq!(t.reasons_seen().last(), Some(&Some(AccessReason::CaseloadTransfer)));
    let (head, _) = *t.ledger_events().last().unwrap();
    assert_eq!((head.person, head.decision), (Some(in_scope), Decision::Allow));

    // For that request only: the next one without a reason is withheld again.
    assert_eq!(t.get(&token, &path, &[]).await.0, StatusCode::PRECONDITION_REQUIRED);
    assert_eq!(t.reasons_seen().last(), Some(&None));

    // The scope list and the lookup take the header the same way.
    assert_eq!(t.get(&token, "/v1/scope", &[]).await.0, StatusCode::PRECONDITION_REQUIRED);
    let (status, body) = t.get(&token, "/v1/scope", &[HeaderValue::from_static("campaign")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(&in_scope.to_string()), "{body}");
    let lookup =
        json!({"ft_id": person.ft_id.as_str(), "birth_date": vigie_core::time::format_date(person.birth_date)});
    let post = |reason: Option<&'static str>| {
        let mut req = t.http.post(format!("{}/v1/lookup", t.base)).bearer_auth(&token).json(&lookup);
        if let Some(r) = reason {
            req = req.header("vigie-reason", r);
        }
        req.send()
    };
    assert_eq!(post(None).await.unwrap().status(), StatusCode::PRECONDITION_REQUIRED);
    let resp = post(Some("inbound_contact")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().contains(person.ft_id.as_str()));
    assert_eq!(t.reasons_seen().last(), Some(&Some(AccessReason::InboundContact)));
}

async fn a_reason_outside_the_list_is_bad_input_naming_the_header(backend: Backend) {
    let t = TestApp::start(backend).await;
    let (agent, in_scope) = t.account();
    let token = t.login(&agent).await;
    let path = format!("/v1/persons/{in_scope}");
    let ledgered = t.ledger_events().len();

    let bad = [
        vec![HeaderValue::from_static("because")],
        vec![HeaderValue::from_static("Caseload_Transfer")],
        vec![HeaderValue::from_static("")],
        vec![HeaderValue::from_bytes(b"caseload_transf\xe9r").unwrap()],
        vec![HeaderValue::from_str(&"campaign".repeat(1000)).unwrap()],
        vec![HeaderValue::from_static("campaign"), HeaderValue::from_static("cohort_start")],
    ];
    for values in &bad {
        let (status, body) = t.get(&token, &path, values).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{values:?}: {body}");
        let problem: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["type"], "urn:vigie:problem:invalid-request");
        assert_eq!(problem["invalid-params"][0]["name"], "Vigie-Reason", "{body}");
        assert!(problem["detail"].as_str().unwrap().contains("caseload_transfer, colleague_cover"), "{body}");
        assert_eq!(reasons_of(&problem), all_reasons());
        assert!(body.len() < 1000, "the value is not echoed at length: {body}");
    }
    let (_, body) = t.get(&token, &path, &bad[0]).await;
    assert!(body.contains("got \\\"because\\\""), "a short word is echoed: {body}");
    // Refused before the guard: nothing asked of the detector, nothing ledgered.
    assert!(t.reasons_seen().is_empty());
    assert_eq!(t.ledger_events().len(), ledgered);
}

async fn the_pages_prompt_for_a_reason_and_show_the_record_once_given(backend: Backend) {
    let t = TestApp::start(backend).await;
    let (agent, in_scope) = t.account();
    let person = t.app.store.person(in_scope).unwrap().unwrap();
    let token = t.login(&agent).await;
    let path = format!("/persons/{in_scope}");

    // The prompt: a GET form to the same page, a closed list, no record.
    let (status, html) = t.page(&token, &path).await;
    assert_eq!(status, StatusCode::PRECONDITION_REQUIRED, "{html}");
    assert!(html.contains("Motif de consultation"), "in French first: {html}");
    assert!(html.contains("enregistrée dans le journal"), "{html}");
    assert!(html.contains(&format!("<form method=\"get\" action=\"{path}\"")), "{html}");
    assert!(html.contains("<select name=\"reason\" required>"), "{html}");
    for r in AccessReason::ALL {
        assert!(html.contains(&format!("<option value=\"{}\">", r.as_str())), "{} missing: {html}", r.as_str());
    }
    assert_eq!(html.matches("<option").count(), AccessReason::ALL.len() + 1, "the reasons and a placeholder");
    assert!(!html.contains("<script>"), "no inline script");
    assert!(!html.contains(&person.last_name), "nothing of the person before a reason: {html}");

    // Answered: the record, and the detector was told why.
    let (status, html) = t.page(&token, &format!("{path}?reason=colleague_cover")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(&person.last_name), "{html}");
    assert!(html.contains("Je remplace un collègue absent"), "{html}");
    assert_eq!(t.reasons_seen().last(), Some(&Some(AccessReason::ColleagueCover)));

    // A value outside the list: the error page, naming the field and the accepted values.
    let seen = t.reasons_seen().len();
    let (status, html) = t.page(&token, &format!("{path}?reason=because")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(html.contains("data-problem=\"urn:vigie:problem:invalid-request\""), "{html}");
    assert!(html.contains("reason: expected one of caseload_transfer"), "{html}");
    assert!(!html.contains(&person.last_name), "{html}");
    let (status, _) = t.page(&token, &format!("{path}?reason=%C3%A9t%C3%A9")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(t.reasons_seen().len(), seen, "refused before the guard");

    // The scope page prompts the same way, and keeps its place in the list.
    let (status, html) = t.page(&token, "/scope?after=P1").await;
    assert_eq!(status, StatusCode::PRECONDITION_REQUIRED, "{html}");
    assert!(html.contains("<form method=\"get\" action=\"/scope\""), "{html}");
    assert!(html.contains("<input type=\"hidden\" name=\"after\" value=\"P1\">"), "{html}");
    let (status, html) = t.page(&token, "/scope?reason=cohort_start").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(&format!("/persons/{in_scope}")), "{html}");
    assert_eq!(t.reasons_seen().last(), Some(&Some(AccessReason::CohortStart)));
}
