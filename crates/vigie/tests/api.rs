//! The API test binary: the real app (store, ledger, Cedar policies, axum) on port 0 with a
//! fresh data directory per test, a fixed clock, and a real HTTP client.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test binary: failing loudly is the point"
)]

use std::path::Path;
use std::sync::{Arc, OnceLock};

use reqwest::StatusCode;
use serde_json::{Value, json};
use vigie::app::{self, App};
use vigie::credentials::{Issued, issue};
use vigie_core::event::{Decision, EventHead};
use vigie_core::ids::PersonId;
use vigie_core::org::{Agent, OrgKind, Organization, Role};
use vigie_core::ports::Registry;
use vigie_core::signin::totp::code_at;
use vigie_core::time::{Clock, FixedClock, Timestamp};
use vigie_gen::GenParams;

const PERSONS: u64 = 4_000;

fn as_of() -> time::Date {
    time::macros::date!(2026 - 11 - 02)
}

/// One generated registry per test binary; each test copies it into its own directory.
fn template() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let params = GenParams { seed: 7, persons: PERSONS, as_of: as_of() };
        vigie::generate::generate(dir.path(), &params, false, false).unwrap();
        dir
    })
    .path()
}

struct TestApp {
    base: String,
    http: reqwest::Client,
    clock: Arc<FixedClock>,
    app: App,
    dir: tempfile::TempDir,
}

impl TestApp {
    async fn start() -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(template()).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
            }
        }
        let noon = Timestamp::from_date(as_of()).plus_millis(12 * 3600 * 1000);
        let clock = Arc::new(FixedClock::at(noon));
        let app = app::open_with_clock(dir.path(), None, app::http_settings(480), clock.clone()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(vigie_http::serve(listener, app.state.clone(), std::future::pending()));
        TestApp { base, http: reqwest::Client::new(), clock, app, dir }
    }

    /// The first advisor of this kind with a non-empty scope, and a person in it.
    fn account(&self, kind: OrgKind) -> (Agent, Organization, PersonId) {
        vigie::demo::pick_accounts(&self.app.store, as_of())
            .unwrap()
            .into_iter()
            .find(|(a, o, _)| o.kind == kind && a.role == Role::Advisor)
            .map(|(a, o, p)| (a, o, p.unwrap()))
            .unwrap_or_else(|| panic!("no {kind:?} advisor with a scope"))
    }

    fn issue(&self, agent: &Agent) -> Issued {
        issue(self.app.store.as_ref(), agent.id).unwrap()
    }

    fn code(&self, issued: &Issued) -> String {
        code_at(&issued.totp, self.clock.now().seconds())
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.http.post(format!("{}{path}", self.base)).json(&body).send().await.unwrap()
    }

    async fn login(&self, agent: &Agent) -> String {
        let issued = self.issue(agent);
        let resp = self
            .post("/v1/login", json!({"login": agent.login.as_str(), "password": issued.password.expose(), "totp": self.code(&issued)}))
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = resp.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    async fn get(&self, token: &str, path: &str) -> (StatusCode, String) {
        let resp = self.http.get(format!("{}{path}", self.base)).bearer_auth(token).send().await.unwrap();
        let status = resp.status();
        (status, resp.text().await.unwrap())
    }

    async fn post_auth(&self, token: &str, path: &str, body: Value) -> (StatusCode, String) {
        let resp = self.http.post(format!("{}{path}", self.base)).bearer_auth(token).json(&body).send().await.unwrap();
        let status = resp.status();
        (status, resp.text().await.unwrap())
    }

    /// A person with relationships, none of which reach `agent`.
    fn outside_scope_of(&self, agent: &Agent) -> PersonId {
        vigie::demo::out_of_scope(&self.app.store, agent, as_of(), PERSONS).expect("someone out of scope")
    }

    fn ledger_heads(&self) -> Vec<EventHead> {
        self.app
            .ledger
            .entries()
            .unwrap()
            .map(|e| EventHead::decode(&e.unwrap().body).expect("every ledger body decodes"))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advisor_reads_own_caseload_and_gets_not_found_outside_it() {
    let t = TestApp::start().await;
    let (agent, _, in_scope) = t.account(OrgKind::Agency);
    let token = t.login(&agent).await;

    let (status, body) = t.get(&token, &format!("/v1/persons/{in_scope}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let record: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(record["id"], in_scope.to_string());
    assert!(record["identity"]["last_name"].is_string());
    assert!(record["nir"].is_string(), "an agency advisor with MFA reads the NIR of its caseload");

    let outside = t.outside_scope_of(&agent);
    let (s_out, b_out) = t.get(&token, &format!("/v1/persons/{outside}")).await;
    let (s_none, b_none) = t.get(&token, "/v1/persons/P999999999").await;
    assert_eq!(s_out, StatusCode::NOT_FOUND);
    assert_eq!((s_out, &b_out), (s_none, &b_none), "out of scope is indistinguishable from nonexistent");

    // Every decision, allow and deny, is in the ledger, in order.
    let heads = t.ledger_heads();
    let decisions: Vec<_> = heads.iter().map(|h| (h.person, h.decision)).collect();
    assert!(decisions.contains(&(Some(in_scope), Decision::Allow)));
    assert!(decisions.contains(&(Some(outside), Decision::Deny)));
    assert!(decisions.contains(&(PersonId::new(999_999_999), Decision::Deny)));
    assert!(heads.iter().all(|h| h.agent == agent.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_selection_returns_only_asked_categories() {
    let t = TestApp::start().await;
    let (agent, _, in_scope) = t.account(OrgKind::Agency);
    let token = t.login(&agent).await;
    let (status, body) = t.get(&token, &format!("/v1/persons/{in_scope}?fields=contact")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["categories"], json!(["contact"]));
    assert!(v.get("identity").is_none() && v.get("nir").is_none());
    let (status, body) = t.get(&token, &format!("/v1/persons/{in_scope}?fields=contact,bogus")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("\"fields\""), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_org_never_obtains_a_nir_through_any_endpoint() {
    let t = TestApp::start().await;
    let (agent, _, trainee) = t.account(OrgKind::TrainingOrg);
    let person = t.app.store.person(trainee).unwrap().unwrap();
    let nir = person.nir.to_string();
    let token = t.login(&agent).await;
    let mut bodies = Vec::new();

    let (status, body) = t.get(&token, &format!("/v1/persons/{trainee}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(v.get("nir").is_none());
    assert!(v.get("sensitive").is_none());
    assert_eq!(v["categories"], json!(["identity", "contact", "status"]));
    bodies.push(body);

    let (status, body) = t.get(&token, &format!("/v1/persons/{trainee}?fields=nir")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    bodies.push(body);

    let birth = vigie_core::time::format_date(person.birth_date);
    // A NIR lookup would confirm a guessed NIR: for a training organization it answers exactly
    // as for a NIR nobody has, whatever is asked.
    let ghost = vigie_core::Nir::from_body("1990199999999").unwrap().to_string();
    let (_, nobody) = t.post_auth(&token, "/v1/lookup", json!({"nir": ghost, "birth_date": birth})).await;
    for fields in [json!(null), json!(["identity"]), json!(["nir"]), json!(["nir", "identity", "sensitive"])] {
        let mut req = json!({"nir": nir, "birth_date": birth});
        if !fields.is_null() {
            req["fields"] = fields;
        }
        let (status, body) = t.post_auth(&token, "/v1/lookup", req).await;
        assert_eq!((status, &body), (StatusCode::NOT_FOUND, &nobody));
        bodies.push(body);
    }
    let (_, body) =
        t.post_auth(&token, "/v1/lookup", json!({"ft_id": person.ft_id.as_str(), "birth_date": birth})).await;
    assert!(body.contains(person.ft_id.as_str()), "the trainee is found by its identifier: {body}");
    bodies.push(body);
    let (_, body) = t.get(&token, "/v1/scope?limit=100").await;
    bodies.push(body);
    let (_, body) = t.get(&token, "/v1/me").await;
    bodies.push(body);

    for b in &bodies {
        assert!(!b.contains(&nir), "a NIR leaked to a training organization: {b}");
        assert!(!b.contains(&nir[..13]), "a NIR body leaked: {b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_scope_lookup_is_indistinguishable_from_a_nonexistent_person() {
    let t = TestApp::start().await;
    let (agent, _, in_scope) = t.account(OrgKind::Agency);
    let token = t.login(&agent).await;
    let outside = t.app.store.person(t.outside_scope_of(&agent)).unwrap().unwrap();
    let birth = vigie_core::time::format_date(outside.birth_date);

    let (s1, b1) =
        t.post_auth(&token, "/v1/lookup", json!({"nir": outside.nir.to_string(), "birth_date": birth})).await;
    // A valid NIR that nobody has (key recomputed so it parses).
    let ghost = vigie_core::Nir::from_body("1990199999999").unwrap().to_string();
    let (s2, b2) = t.post_auth(&token, "/v1/lookup", json!({"nir": ghost, "birth_date": birth})).await;
    // The right NIR with the wrong birth date.
    let (s3, b3) =
        t.post_auth(&token, "/v1/lookup", json!({"nir": outside.nir.to_string(), "birth_date": "1900-01-01"})).await;
    let (s4, b4) =
        t.post_auth(&token, "/v1/lookup", json!({"ft_id": outside.ft_id.as_str(), "birth_date": birth})).await;
    assert_eq!(s1, StatusCode::NOT_FOUND);
    for (s, b) in [(s2, &b2), (s3, &b3), (s4, &b4)] {
        assert_eq!((s1, &b1), (s, b));
    }

    // The same lookup of a person in scope finds them.
    let mine = t.app.store.person(in_scope).unwrap().unwrap();
    let (s, b) = t
        .post_auth(
            &token,
            "/v1/lookup",
            json!({"nir": mine.nir.to_string(), "birth_date": vigie_core::time::format_date(mine.birth_date)}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(b.contains(&in_scope.to_string()));

    // Misses are ledgered too (no person), denials with the person.
    let heads = t.ledger_heads();
    assert!(heads.iter().any(|h| h.decision == Decision::NoMatch && h.person.is_none()));
    assert!(heads.iter().any(|h| h.decision == Decision::Deny && h.person == Some(outside.id)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_take_exact_identifiers_only() {
    let t = TestApp::start().await;
    let (agent, _, _) = t.account(OrgKind::Agency);
    let token = t.login(&agent).await;
    for (body, field) in [
        (json!({"last_name": "MARTIN", "birth_date": "1990-01-01"}), "last_name"),
        (json!({"nir": "1 90 01*", "birth_date": "1990-01-01"}), "nir"),
        (json!({"nir": "%", "birth_date": "1990-01-01"}), "nir"),
        (json!({"ft_id": "1234567", "birth_date": "1990-01-01"}), "ft_id"),
        (json!({"ft_id": "1234567A", "birth_date": "1990-13-01"}), "birth_date"),
        (json!({"birth_date": "1990-01-01"}), "nir"),
        (json!({"nir": "184037645108996", "ft_id": "1234567A", "birth_date": "1990-01-01"}), "nir"),
    ] {
        let (status, text) = t.post_auth(&token, "/v1/lookup", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {text}");
        let problem: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(problem["status"], 400);
        assert!(problem["invalid-params"][0]["name"] == field, "{body} → {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_pages_are_minimal_and_keyset_paginated() {
    let t = TestApp::start().await;
    let (agent, _, _) = t.account(OrgKind::Agency);
    let token = t.login(&agent).await;
    let (status, body) = t.get(&token, "/v1/scope?limit=3").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page: Value = serde_json::from_str(&body).unwrap();
    let items = page["items"].as_array().unwrap();
    assert!(!items.is_empty());
    for item in items {
        let mut keys: Vec<_> = item.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, vec!["first_name", "id", "last_name", "relationship"], "minimal fields only");
    }
    if let Some(next) = page["next_after"].as_str() {
        let (_, body2) = t.get(&token, &format!("/v1/scope?limit=3&after={next}")).await;
        let page2: Value = serde_json::from_str(&body2).unwrap();
        let first2 = page2["items"][0]["id"].as_str().unwrap().trim_start_matches('P').parse::<u64>().unwrap();
        assert!(first2 > next.trim_start_matches('P').parse::<u64>().unwrap());
    }
    for bad in ["/v1/scope?limit=0", "/v1/scope?limit=101", "/v1/scope?after=42", "/v1/scope?offset=3"] {
        let (status, body) = t.get(&token, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_failures_look_alike_and_codes_are_single_use() {
    let t = TestApp::start().await;
    let (agent, _, _) = t.account(OrgKind::MissionLocale);
    let issued = t.issue(&agent);
    let login = agent.login.as_str();
    let code = t.code(&issued);
    let wrong_code = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);

    let bad_pw = t.post("/v1/login", json!({"login": login, "password": "not the password", "totp": code})).await;
    let (s1, b1) = (bad_pw.status(), bad_pw.text().await.unwrap());
    let bad_code =
        t.post("/v1/login", json!({"login": login, "password": issued.password.expose(), "totp": wrong_code})).await;
    let (s2, b2) = (bad_code.status(), bad_code.text().await.unwrap());
    let unknown =
        t.post("/v1/login", json!({"login": "nobody.here", "password": "whatever it is", "totp": code})).await;
    let (s3, b3) = (unknown.status(), unknown.text().await.unwrap());
    assert_eq!(s1, StatusCode::UNAUTHORIZED);
    assert_eq!((s1, &b1), (s2, &b2));
    assert_eq!((s1, &b1), (s3, &b3));

    t.clock.advance_millis(30_000); // the throttle allowed 3 failures; let the next code come
    let code = t.code(&issued);
    let ok = t.post("/v1/login", json!({"login": login, "password": issued.password.expose(), "totp": code})).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let cookie = ok.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(cookie.starts_with("__Host-vigie_session="));
    let replay = t.post("/v1/login", json!({"login": login, "password": issued.password.expose(), "totp": code})).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED, "a TOTP code is accepted once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_are_throttled_before_hashing() {
    let t = TestApp::start().await;
    let (agent, _, _) = t.account(OrgKind::Subcontractor);
    let mut last = StatusCode::OK;
    for _ in 0..6 {
        last = t
            .post(
                "/v1/login",
                json!({"login": agent.login.as_str(), "password": "guess guess guess", "totp": "000000"}),
            )
            .await
            .status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    let resp = t
        .post("/v1/login", json!({"login": agent.login.as_str(), "password": "guess guess guess", "totp": "000000"}))
        .await;
    assert!(resp.headers().get("retry-after").is_some());
    // After the back-off, the right credentials work again.
    t.clock.advance_millis(60_000);
    let _ = t.login(&agent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_concurrent_guesses_is_throttled_like_a_sequence() {
    let t = TestApp::start().await;
    let (agent, _, _) = t.account(OrgKind::Agency);
    let _ = t.issue(&agent);
    let attempts = (0..30).map(|i| {
        let (http, base, login) = (t.http.clone(), t.base.clone(), agent.login.to_string());
        tokio::spawn(async move {
            let body = json!({"login": login, "password": "stolen but wrong", "totp": format!("{:06}", i)});
            http.post(format!("{base}/v1/login")).json(&body).send().await.unwrap().status()
        })
    });
    let mut statuses = Vec::new();
    for a in attempts.collect::<Vec<_>>() {
        statuses.push(a.await.unwrap());
    }
    let checked = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let throttled = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(checked + throttled, 30);
    assert!(checked <= 4, "{checked} guesses were checked; three free and one starting the back-off at most");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_at_logout_and_cookies_work() {
    let t = TestApp::start().await;
    let (agent, _, in_scope) = t.account(OrgKind::CapEmploi);
    let token = t.login(&agent).await;
    // The cookie form of the same token works too.
    let resp = t
        .http
        .get(format!("{}/v1/persons/{in_scope}", t.base))
        .header("cookie", format!("other=1; __Host-vigie_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers().get("cache-control").unwrap(), "no-store");
    assert!(resp.headers().get("x-request-id").is_some());
    let resp = t.http.post(format!("{}/v1/logout", t.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (status, body) = t.get(&token, &format!("/v1/persons/{in_scope}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("urn:vigie:problem:unauthenticated"));
    // No session at all, or a forged token.
    let resp = t.http.get(format!("{}/v1/me", t.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = t.get(&"A".repeat(43), "/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Sessions expire.
    let token = {
        t.clock.advance_millis(30_000);
        t.login(&agent).await
    };
    t.clock.advance_millis(8 * 3600 * 1000 + 1);
    let (status, _) = t.get(&token, "/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_problem_json_naming_the_field() {
    let t = TestApp::start().await;
    let (agent, _, _) = t.account(OrgKind::Agency);
    let token = t.login(&agent).await;
    for (path, field) in
        [("/v1/persons/42", "id"), ("/v1/persons/P0", "id"), ("/v1/persons/A12", "id"), ("/v1/persons/P1?x=1", "x")]
    {
        let (status, body) = t.get(&token, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        let p: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(p["invalid-params"][0]["name"], field, "{path}: {body}");
    }
    // A path that is not even UTF-8, and a value of the wrong type: named, never echoed.
    let (status, body) = t.get(&token, "/v1/persons/%FF").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("urn:vigie:problem:invalid-request"), "{body}");
    let (status, body) =
        t.post_auth(&token, "/v1/lookup", json!({"nir": 282056613642257u64, "birth_date": "1982-05-01"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!body.contains("282056613642257"), "a value came back in an error: {body}");
    let p: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(p["invalid-params"][0]["name"], "nir", "{body}");
    let resp = t.post("/v1/login", json!({"login": "a.b", "password": 123456789012u64, "totp": "123456"})).await;
    let text = resp.text().await.unwrap();
    assert!(!text.contains("123456789012") && text.contains("password"), "{text}");
    // Unknown and missing fields in a body, named.
    let resp = t.post("/v1/login", json!({"login": "a.b", "pasword": "x", "totp": "123456"})).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.headers().get("content-type").unwrap(), "application/problem+json");
    let p: Value = resp.json().await.unwrap();
    assert_eq!(p["invalid-params"][0]["name"], "pasword", "{p}");
    let resp = t.post("/v1/login", json!({"login": "a.b", "password": "x"})).await;
    let p: Value = resp.json().await.unwrap();
    assert_eq!(p["invalid-params"][0]["name"], "totp", "{p}");
    // Malformed login and code are named; wrong ones are not.
    let resp = t.post("/v1/login", json!({"login": "A B", "password": "x", "totp": "123456"})).await;
    let p: Value = resp.json().await.unwrap();
    assert_eq!(p["invalid-params"][0]["name"], "login");
    let resp = t.post("/v1/login", json!({"login": "a.b", "password": "x", "totp": "12345x"})).await;
    let p: Value = resp.json().await.unwrap();
    assert_eq!(p["invalid-params"][0]["name"], "totp");
    // Not JSON, not JSON content, too large.
    let resp = t
        .http
        .post(format!("{}/v1/login", t.base))
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = t.http.post(format!("{}/v1/login", t.base)).body("login=x").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = json!({"login": "a".repeat(100_000), "password": "x", "totp": "123456"});
    let resp = t.post("/v1/login", huge).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(resp.headers().get("content-type").unwrap(), "application/problem+json");
    // Unknown routes and methods are problems too.
    let (status, body) = t.get(&token, "/v2/persons").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("no-such-route"));
    let resp = t.http.delete(format!("{}/v1/persons/P1", t.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_holds_ids_and_categories_never_personal_data() {
    let t = TestApp::start().await;
    let (agent, _, in_scope) = t.account(OrgKind::Agency);
    let token = t.login(&agent).await;
    let person = t.app.store.person(in_scope).unwrap().unwrap();
    let (status, _) = t.get(&token, &format!("/v1/persons/{in_scope}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = t
        .post_auth(
            &token,
            "/v1/lookup",
            json!({"nir": person.nir.to_string(), "birth_date": vigie_core::time::format_date(person.birth_date)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut raw = Vec::new();
    for entry in std::fs::read_dir(t.dir.path().join("ledger")).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            raw.extend(std::fs::read(p).unwrap());
        }
    }
    let contains = |needle: &str| raw.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(!raw.is_empty());
    assert!(!contains(&person.nir.to_string()), "NIR in the ledger");
    assert!(!contains(&person.last_name), "name in the ledger");
    if let Some(email) = &person.email {
        assert!(!contains(email), "email in the ledger");
    }
    let allowed: Vec<_> = t.ledger_heads().into_iter().filter(|h| h.decision == Decision::Allow).collect();
    assert_eq!(allowed.len(), 2);
    assert!(allowed.iter().all(|h| h.person == Some(in_scope) && h.returned.contains(vigie_core::DataCategory::Nir)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_roles_read_nobody() {
    let t = TestApp::start().await;
    let (advisor, _, in_scope) = t.account(OrgKind::Agency);
    // An account admin of the same organization.
    let admin = (1..10_000u64)
        .filter_map(vigie_core::AgentId::new)
        .map_while(|id| t.app.store.agent(id).unwrap())
        .find(|a| a.org == advisor.org && a.role == Role::AccountAdmin)
        .expect("every organization has an account admin");
    let token = t.login(&admin).await;
    let (status, _) = t.get(&token, &format!("/v1/persons/{in_scope}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = t.get(&token, "/v1/scope").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"items\":[]"), "{body}");
}
