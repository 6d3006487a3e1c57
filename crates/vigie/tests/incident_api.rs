//! Incidents through the API, as security officers use them: the 2025 case (a hacked
//! administrator's account has two accounts created, which read files) scoped exactly after
//! the four-eyes records expand the incident; and every refusal the issue names. On both
//! stores: a node on PostgreSQL keeps its incidents and notices there.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test binary: failing loudly is the point"
)]

mod common;

use std::collections::BTreeMap;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use vigie_core::org::{OrgKind, Role};
use vigie_core::signin::totp::code_at;
use vigie_core::{CategorySet, DataCategory, PersonId};

fn iso(t: vigie_core::time::Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp(t.0.div_euclid(1000))
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn outbox_links(t: &TestApp) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(t.dir.path().join("outbox")).into_iter().flatten() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        if let Some(rest) = text.split("/enrol/").nth(1) {
            out.push(rest[..43].to_owned());
        }
    }
    out
}

/// Enrols through a link; returns the login's access token.
async fn enrol_and_sign_in(t: &TestApp, token: &str, login: &str) -> String {
    let password = "correct horse battery staple";
    let chosen: Value =
        t.post(&format!("/v1/enrol/{token}/password"), json!({"password": password})).await.json().await.unwrap();
    let secret = vigie_core::signin::TotpSecret::from_bytes(
        &vigie_core::signin::totp::base32_decode(chosen["totp_secret"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let resp =
        t.post(&format!("/v1/enrol/{token}/confirm"), json!({"totp": code_at(&secret, t.now().seconds())})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    t.clock().advance_millis(30_000);
    let resp = t
        .post("/v1/login", json!({"login": login, "password": password, "totp": code_at(&secret, t.now().seconds())}))
        .await;
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["access_token"].as_str().unwrap().to_owned()
}

/// Reads the scope list and the first `n` records; returns what the client received.
async fn read_like_an_intruder(t: &TestApp, token: &str, n: usize, got: &mut BTreeMap<PersonId, CategorySet>) {
    let (status, body) = t.get(token, "/v1/scope?limit=50").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page: Value = serde_json::from_str(&body).unwrap();
    let ids: Vec<String> =
        page["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect();
    for id in &ids {
        got.entry(id.parse().unwrap()).or_insert(CategorySet::EMPTY).insert(DataCategory::Identity);
    }
    for id in ids.iter().take(n) {
        let (status, body) = t.get(token, &format!("/v1/persons/{id}")).await;
        if status != StatusCode::OK {
            continue;
        }
        let v: Value = serde_json::from_str(&body).unwrap();
        let c: CategorySet = DataCategory::ALL.into_iter().filter(|c| v.get(c.as_str()).is_some()).collect();
        let e = got.entry(id.parse().unwrap()).or_insert(CategorySet::EMPTY);
        *e = CategorySet::from_bits(e.bits() | c.bits()).unwrap();
    }
}

fn persons_csv(body: &str) -> BTreeMap<PersonId, CategorySet> {
    let mut out = BTreeMap::new();
    for line in body.lines().skip(1) {
        for r in line.split(',').nth(1).unwrap().split(' ') {
            let (p, cats) = r.split_once(':').unwrap();
            out.insert(p.parse().unwrap(), cats.split('+').map(|c| c.parse().unwrap()).collect());
        }
    }
    out
}

on_both_stores!(
    accounts_created_by_a_hacked_administrator_are_found_through_the_four_eyes_records_and_scoped_exactly,
    incident_actions_are_refused_with_the_problem_named,
);

async fn accounts_created_by_a_hacked_administrator_are_found_through_the_four_eyes_records_and_scoped_exactly(
    backend: Backend,
) {
    let t = Setup::new().store(backend).start().await;
    let now = t.now();
    let pair = vigie::demo::admins(&*t.store, t.ledger.as_ref(), now).unwrap();
    let (admin, approver) = (pair[0].0.clone(), pair[1].0.clone());
    // The officer who investigates: the agency's security officer (who also approved: the
    // social engineering of the 2025 case).
    let officer = approver.clone();
    let team = t.agent_where(|a, _| a.org == admin.org && a.role == Role::Advisor && a.team.is_some()).team.unwrap();
    let domain = admin.email.rsplit_once('@').unwrap().1.to_owned();

    // The intruder, in the administrator's account, asks for two advisors; the approver says yes.
    let hacked = t.passkey_session(&admin);
    for login in ["renfort.un", "renfort.deux"] {
        let (status, body) = t
            .post_auth(
                &hacked,
                "/v1/account-requests",
                json!({"login": login, "display_name": "Renfort", "email": format!("{login}@{domain}"), "role": "advisor",
                       "team": team.to_string(), "justification": "renfort de l'équipe"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = serde_json::from_str::<Value>(&body).unwrap()["id"].as_str().unwrap().to_owned();
        let (status, body) =
            t.post_auth(&t.passkey_session(&approver), &format!("/v1/account-requests/{id}/approve"), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let links = outbox_links(&t);
    assert_eq!(links.len(), 2);
    let mut received = BTreeMap::new();
    for token in &links {
        // The outbox's order is the directory's: ask each link whose it is.
        let info: Value =
            t.http.get(format!("{}/v1/enrol/{token}", t.base)).send().await.unwrap().json().await.unwrap();
        let login = info["login"].as_str().unwrap().to_owned();
        let access = enrol_and_sign_in(&t, token, &login).await;
        read_like_an_intruder(&t, &access, 5, &mut received).await;
    }
    assert!(!received.is_empty(), "the created accounts read nothing: the test proves nothing");
    // Every entry under a checkpoint (published at least once a second).
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;

    let fresh = t.passkey_session(&officer);
    let window = json!({"title": "Compte administrateur piraté", "from": iso(now.plus_millis(-3_600_000)),
                        "to": iso(t.now().plus_millis(3_600_000)), "agents": [admin.id.to_string()]});
    let (status, body) = t.post_auth(&fresh, "/v1/incidents", window.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"].as_str().unwrap().to_owned();
    let (status, body) = t.post_auth(&fresh, &format!("/v1/incidents/{id}/scope"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let scope: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(scope["counts"]["persons"], 0, "the administrator's account itself reads no person: {body}");

    // The four-eyes records propose the two accounts it asked for.
    let (status, body) = t.get(&fresh, &format!("/v1/incidents/{id}/proposals")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let proposals: Value = serde_json::from_str(&body).unwrap();
    let targets: Vec<String> = proposals["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["why"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("requested by compromised"))
        })
        .map(|p| p["target"].as_str().unwrap().to_owned())
        .collect();
    let created: Vec<String> = ["renfort.un", "renfort.deux"]
        .iter()
        .map(|l| format!("agent:{}", t.store.agent_by_login(&l.parse().unwrap()).unwrap().unwrap().id))
        .collect();
    assert_eq!(targets.iter().collect::<std::collections::BTreeSet<_>>(), created.iter().collect(), "{body}");
    for target in &targets {
        let (status, body) = t
            .post_auth(&fresh, &format!("/v1/incidents/{id}/decisions"), json!({"target": target, "accept": true}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // A target that is not proposed is refused.
    let (status, body) = t
        .post_auth(&fresh, &format!("/v1/incidents/{id}/decisions"), json!({"target": "agent:A1", "accept": true}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (status, body) = t.post_auth(&fresh, &format!("/v1/incidents/{id}/scope"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, csv) = t.get(&fresh, &format!("/v1/incidents/{id}/files/persons.csv")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(persons_csv(&csv), received, "scoped ≠ what the created accounts received");
    // Each decision is in the ledger with its author.
    let accepted = t
        .security_events()
        .into_iter()
        .filter(|e| {
            e.kind == vigie_core::security::SecurityKind::IncidentExpansionAccepted && e.agent == Some(officer.id)
        })
        .count();
    assert_eq!(accepted, 2);
}

async fn incident_actions_are_refused_with_the_problem_named(backend: Backend) {
    let t = Setup::new().store(backend).start().await;
    let officer = t.agent_where(|a, o| a.role == Role::SecurityOfficer && o.kind == OrgKind::Agency);
    let (advisor, _, _) = t.advisor(OrgKind::Agency);
    // Something in the ledger to scope.
    let reader = t.login(&advisor).await;
    let _ = t.get(&reader, "/v1/scope?limit=5").await;
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let now = t.now();
    let good = json!({"title": "t", "from": iso(now.plus_millis(-3_600_000)), "to": iso(now.plus_millis(3_600_000)),
                      "agents": [advisor.id.to_string()]});

    // Not an officer: refused, whatever the request.
    let (status, body) = t.post_auth(&t.passkey_session(&advisor), "/v1/incidents", good.clone()).await;
    assert_eq!(
        (status, problem_type(&body).as_str()),
        (StatusCode::FORBIDDEN, "urn:vigie:problem:forbidden"),
        "{body}"
    );
    // An officer without a recent second factor: refused.
    let (_, refresh) = t.passkey_session_full(&officer);
    t.clock().advance_millis(16 * 60 * 1000);
    let stale = t.refresh(&refresh).await;
    let (status, body) = t.post_auth(&stale, "/v1/incidents", good.clone()).await;
    assert_eq!(
        (status, problem_type(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "urn:vigie:problem:step-up-required")
    );
    let (status, _) = t.get(&stale, "/v1/incidents").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "reading incidents needs it too");

    let fresh = t.passkey_session(&officer);
    let bad = |patch: Value| {
        let mut b = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    for (body, field, why) in [
        (bad(json!({"to": good["from"]})), "to", "empty"),
        (bad(json!({"from": good["to"], "to": good["from"]})), "to", "reversed"),
        (bad(json!({"from": "yesterday"})), "from", "RFC 3339"),
        (bad(json!({"networks": ["10.1.2.3"]})), "networks", "expected an address"),
        (bad(json!({"networks": ["10.1.2.7/24"]})), "networks", "did you mean 10.1.2.0/24"),
        (bad(json!({"agents": ["A999999"]})), "incident", "no account A999999"),
        (bad(json!({"sessions": ["00000000deadbeef"]})), "incident", "unknown session"),
        (bad(json!({"title": ""})), "incident", "title is empty"),
        (bad(json!({"from": "2001-01-01T00:00:00Z", "to": "2001-01-02T00:00:00Z"})), "incident", "outside the ledger"),
        (bad(json!({"extra": 1})), "extra", "unknown field"),
    ] {
        let (status, text) = t.post_auth(&fresh, "/v1/incidents", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {text}");
        assert!(text.contains(field) && text.contains(why), "{body}: {text}");
    }
    assert!(t.store.incidents(10).unwrap().is_empty(), "nothing half-written");

    let (status, body) = t.post_auth(&fresh, "/v1/incidents", good.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"].as_str().unwrap().to_owned();
    let (status, _) = t.get(&fresh, "/v1/incidents/I999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = t.get(&fresh, "/v1/incidents/999").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a malformed id");
    let (status, _) = t.get(&fresh, &format!("/v1/incidents/{id}/files/..%2fvigie.db")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "files are served by name from a list, never by path");
    // A second notify is refused.
    let (status, body) = t.post_auth(&fresh, &format!("/v1/incidents/{id}/notify"), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, body) = t.post_auth(&fresh, &format!("/v1/incidents/{id}/notify"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("already being notified"), "{body}");
}
