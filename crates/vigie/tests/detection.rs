//! The detector's human side over the API: a manager declares a campaign (refused without a
//! reason or beyond two weeks), a manager or a security officer lifts a throttle (nobody else),
//! an agent creates a relationship by a person's key (judged by the detector, ledgered), a
//! security officer binds a service account to its key (refused without one), and the service
//! account signs in with a client assertion (once). The real app on port 0 with a fresh data
//! directory per test and a fixed clock (see `common`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test binary: failing loudly is the point"
)]

mod common;

use std::sync::{Arc, Mutex};

use common::{Backend, Setup, problem_type};
use reqwest::StatusCode;
use serde_json::{Value, json};
use vigie_core::event::{AccessEvent, Verdict, VerdictAction};
use vigie_core::ids::AgentId;
use vigie_core::org::{OrgKind, Role};
use vigie_core::ports::{DetectContext, Detector, RelationshipEvent};
use vigie_core::security::SecurityKind;
use vigie_core::time::Timestamp;

// Every test here runs on both stores.
on_both_stores!(
    a_manager_declares_a_campaign_and_bad_declarations_are_refused,
    only_the_agents_manager_or_a_security_officer_lifts_its_throttle,
    a_relationship_is_created_by_key_when_the_detector_allows_it,
    a_service_account_is_bound_to_a_key_and_signs_in_with_an_assertion_once,
);

/// Allows reads, answers relationships as told, and records what it was told.
#[derive(Default)]
struct Recorder {
    lifts: Mutex<Vec<AgentId>>,
    campaigns: Mutex<usize>,
    relationship: Mutex<Option<VerdictAction>>,
    contexts: Mutex<Vec<DetectContext>>,
}

impl Detector for Recorder {
    fn assess(&self, _: &AccessEvent, ctx: &DetectContext) -> Verdict {
        self.contexts.lock().unwrap().push(*ctx);
        Verdict::allow()
    }
    fn relationship(&self, _: &RelationshipEvent, _: &DetectContext) -> Verdict {
        let action = self.relationship.lock().unwrap().unwrap_or(VerdictAction::Allow);
        Verdict { action, reasons: vec!["test=1".into()] }
    }
    fn declare_campaign(&self, _: &vigie_core::campaign::CampaignDeclaration) {
        *self.campaigns.lock().unwrap() += 1;
    }
    fn lift(&self, agent: AgentId, _: AgentId, _: Timestamp) -> bool {
        self.lifts.lock().unwrap().push(agent);
        true
    }
}

fn body(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

fn invalid_param(s: &str) -> String {
    body(s)["invalid-params"][0]["name"].as_str().unwrap_or_default().to_owned()
}

async fn a_manager_declares_a_campaign_and_bad_declarations_are_refused(backend: Backend) {
    let rec = Arc::new(Recorder::default());
    let t = Setup::new().store(backend).persons(2_000).detector(rec.clone()).start().await;
    let manager = t.agent_where(|a, o| a.role == Role::Manager && o.kind == OrgKind::Agency && a.team.is_some());
    let token = t.passkey_session(&manager);
    let ok = json!({"scope": "team", "reason": "campaign", "persons_per_agent": 150, "hours": 72});
    let (status, text) = t.post_auth(&token, "/v1/campaigns", ok.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    assert_eq!(body(&text)["team"], json!(manager.team.unwrap().to_string()));
    assert_eq!(*rec.campaigns.lock().unwrap(), 1);
    let declared = t.security_events().into_iter().find(|e| e.kind == SecurityKind::CampaignDeclared).unwrap();
    assert!(declared.details.contains(&("reason".to_owned(), "campaign".to_owned())), "{declared:?}");
    let (status, text) = t.get(&token, "/v1/campaigns").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body(&text)["campaigns"].as_array().unwrap().len(), 1, "{text}");

    for (change, field, detail) in [
        (json!({"reason": null}), "reason", "reason: a campaign needs a reason"),
        (json!({"reason": "because"}), "reason", "is not one of"),
        (json!({"hours": 15 * 24}), "hours", "a campaign lasts at most 14 days"),
        (json!({"persons_per_agent": 0}), "persons_per_agent", "between 1 and 1000"),
        (json!({"scope": "region"}), "scope", "team or organization"),
    ] {
        let mut req = ok.clone();
        for (k, v) in change.as_object().unwrap() {
            req[k] = v.clone();
        }
        let (status, text) = t.post_auth(&token, "/v1/campaigns", req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
        assert_eq!(invalid_param(&text), field, "{text}");
        assert!(text.contains(detail), "{text}");
    }
    let (status, text) = t.post_auth(&token, "/v1/campaigns", json!({"scope": "team", "hours": 3})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a missing field: {text}");
    // An advisor does not declare campaigns.
    let advisor = t.agent_where(|a, o| a.role == Role::Advisor && o.kind == OrgKind::Agency);
    let (status, text) = t.post_auth(&t.passkey_session(&advisor), "/v1/campaigns", ok).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert_eq!(*rec.campaigns.lock().unwrap(), 1);
}

async fn only_the_agents_manager_or_a_security_officer_lifts_its_throttle(backend: Backend) {
    let rec = Arc::new(Recorder::default());
    let t = Setup::new().store(backend).persons(2_000).detector(rec.clone()).start().await;
    let manager = t.agent_where(|a, o| a.role == Role::Manager && o.kind == OrgKind::Agency && a.team.is_some());
    let subject = t.agent_where(|a, _| a.role == Role::Advisor && a.team == manager.team);
    let other = t.agent_where(|a, _| a.role == Role::Manager && a.team.is_some() && a.team != manager.team);
    let path = format!("/v1/agents/{}/lift-throttle", subject.id);
    for who in [&other, &subject] {
        let (status, text) = t.post_auth(&t.passkey_session(who), &path, json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    }
    assert!(rec.lifts.lock().unwrap().is_empty());
    let (status, text) = t.post_auth(&t.passkey_session(&manager), &path, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(body(&text)["lifted"], true);
    assert_eq!(*rec.lifts.lock().unwrap(), vec![subject.id]);
    let lifted = t.security_events().into_iter().find(|e| e.kind == SecurityKind::DetectorThrottleLifted).unwrap();
    assert_eq!((lifted.agent, lifted.subject), (Some(manager.id), Some(subject.id)));
    let (status, _) = t.post_auth(&t.passkey_session(&manager), "/v1/agents/A999999/lift-throttle", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn a_relationship_is_created_by_key_when_the_detector_allows_it(backend: Backend) {
    let rec = Arc::new(Recorder::default());
    let t = Setup::new().store(backend).persons(2_000).detector(rec.clone()).start().await;
    let advisor = t.agent_where(|a, o| a.role == Role::Advisor && o.kind == OrgKind::MissionLocale);
    let token = t.passkey_session(&advisor);
    let person = t.outside_scope_of(&advisor);
    let record = t.store.person(person).unwrap().unwrap();
    let key = json!({"ft_id": record.ft_id.as_str(), "birth_date": vigie_core::time::format_date(record.birth_date)});
    let (status, _) = t.get(&token, &format!("/v1/persons/{person}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "out of scope before");
    // Refused by the detector: nothing created.
    *rec.relationship.lock().unwrap() = Some(VerdictAction::Throttle);
    let (status, text) = t.post_auth(&token, "/v1/relationships", key.clone()).await;
    assert_eq!(
        (status, problem_type(&text).as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "urn:vigie:problem:quota-reached"),
        "{text}"
    );
    let (status, _) = t.get(&token, &format!("/v1/persons/{person}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "still out of scope");
    // Allowed: a follow-up, ledgered, and the record opens.
    *rec.relationship.lock().unwrap() = None;
    let (status, text) = t.post_auth(&token, "/v1/relationships", key).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    assert_eq!(body(&text)["kind"], "follow_up");
    let (status, text) = t.get(&token, &format!("/v1/persons/{person}")).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let events: Vec<_> =
        t.security_events().into_iter().filter(|e| e.kind == SecurityKind::RelationshipRequested).collect();
    assert_eq!(events.len(), 2);
    assert!(events[0].details.contains(&("created".to_owned(), "false".to_owned())), "{:?}", events[0]);
    assert!(events[1].details.contains(&("created".to_owned(), "true".to_owned())), "{:?}", events[1]);
    // Bad input, named.
    for (req, field) in [
        (json!({"birth_date": "2000-01-01"}), "nir"),
        (json!({"ft_id": "1234567A", "birth_date": "yesterday"}), "birth_date"),
        (json!({"ft_id": "x", "birth_date": "2000-01-01"}), "ft_id"),
    ] {
        let (status, text) = t.post_auth(&token, "/v1/relationships", req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
        assert_eq!(invalid_param(&text), field, "{text}");
    }
    let (status, _) =
        t.post_auth(&token, "/v1/relationships", json!({"ft_id": "9999999Z", "birth_date": "2000-01-01"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A service account's client assertion, signed with its key.
fn assertion(key: &p256::ecdsa::SigningKey, login: &str, audience: &str, now: i64, jti: &str) -> String {
    use base64::Engine;
    use p256::ecdsa::signature::Signer;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let header = json!({"alg": "ES256", "typ": "JWT"});
    let claims = json!({"iss": login, "sub": login, "aud": audience, "exp": now + 120, "iat": now, "jti": jti});
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let sig: p256::ecdsa::Signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&sig.to_bytes()))
}

async fn a_service_account_is_bound_to_a_key_and_signs_in_with_an_assertion_once(backend: Backend) {
    use base64::Engine;
    let rec = Arc::new(Recorder::default());
    let t = Setup::new().store(backend).persons(2_000).detector(rec.clone()).start().await;
    let officer = t.agent_where(|a, o| a.role == Role::SecurityOfficer && o.kind == OrgKind::Agency);
    let service = t.agent_where(|a, o| a.role == Role::Advisor && o.kind == OrgKind::Subcontractor);
    let token = t.passkey_session(&officer);
    let key = p256::ecdsa::SigningKey::from_slice(&[42; 32]).unwrap();
    let public =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.verifying_key().to_sec1_point(false).as_bytes());
    let without = json!({"agent": service.id.to_string(), "persons_hour": 40, "persons_day": 300});
    let (status, text) = t.post_auth(&token, "/v1/service-accounts", without).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert_eq!(invalid_param(&text), "key");
    assert!(text.contains("a service account needs a bound key"), "{text}");
    let upside_down = json!({"agent": service.id.to_string(), "persons_hour": 400, "persons_day": 300,
        "key": {"kind": "client_assertion_es256", "public_key": public}});
    let (status, text) = t.post_auth(&token, "/v1/service-accounts", upside_down).await;
    assert_eq!((status, invalid_param(&text).as_str()), (StatusCode::BAD_REQUEST, "envelope"), "{text}");
    let good = json!({"agent": service.id.to_string(), "persons_hour": 40, "persons_day": 300,
        "key": {"kind": "client_assertion_es256", "public_key": public}});
    // Only a security officer registers one.
    let admin = t.agent_where(|a, _| a.role == Role::AccountAdmin && a.org == service.org);
    let (status, _) = t.post_auth(&t.passkey_session(&admin), "/v1/service-accounts", good.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let before = t.passkey_session(&service);
    let (status, text) = t.post_auth(&token, "/v1/service-accounts", good).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    assert!(t.security_events().iter().any(|e| e.kind == SecurityKind::ServiceAccountRegistered));
    assert!(!before.is_empty(), "before its key was bound, a person's sign-in opened it");
    // Bound to its key: no other credential opens it any more.
    {
        use vigie_http::actions::sign_in::{Opening, open_session};
        let org = t.store.organization(service.org).unwrap().unwrap();
        for method in ["password_totp", "passkey", "oidc"] {
            let opening = Opening { method, mfa: true, credential: None, service: None };
            let refused = open_session(&t.state, &service, &org, opening, &t.client());
            assert!(refused.is_err(), "{method} opened a service account");
        }
    }

    let audience = format!("{}/v1/token", t.origin);
    let now = t.now().seconds();
    let jwt = assertion(&key, service.login.as_str(), &audience, now, "first");
    let request = |a: &str| {
        json!({"grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": a})
    };
    let resp = t.post("/v1/token", request(&jwt)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let answer: Value = resp.json().await.unwrap();
    assert!(answer.get("refresh_token").is_none(), "no refresh token for a service: {answer}");
    let access = answer["access_token"].as_str().unwrap().to_owned();
    // Its reads reach the detector with its envelope (never a step-up).
    let in_scope = t.store.scope_page(&service, None, 1, t.as_of).unwrap();
    let (entry, _) = in_scope.first().expect("the subcontractor's account has someone in scope");
    let (status, text) = t.get(&access, &format!("/v1/persons/{}", entry.id)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let ctx = rec.contexts.lock().unwrap().last().copied().unwrap();
    assert_eq!(ctx.sign_in.service.map(|e| e.persons_hour), Some(40));
    // The same assertion again, another account's key, another audience: the same 401.
    assert_eq!(t.post("/v1/token", request(&jwt)).await.status(), StatusCode::UNAUTHORIZED, "replayed");
    let other = p256::ecdsa::SigningKey::from_slice(&[43; 32]).unwrap();
    let forged = assertion(&other, service.login.as_str(), &audience, now, "second");
    assert_eq!(t.post("/v1/token", request(&forged)).await.status(), StatusCode::UNAUTHORIZED);
    let elsewhere = assertion(&key, service.login.as_str(), "https://elsewhere/v1/token", now, "third");
    assert_eq!(t.post("/v1/token", request(&elsewhere)).await.status(), StatusCode::UNAUTHORIZED);
    let mut wrong_grant = request(&assertion(&key, service.login.as_str(), &audience, now, "fourth"));
    wrong_grant["grant_type"] = json!("password");
    let resp = t.post("/v1/token", wrong_grant).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}
