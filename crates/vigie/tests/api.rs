//! The API test binary: the real app (store, ledger, Cedar policies, axum) on port 0 with a
//! fresh data directory per test, a fixed clock, and a real HTTP client, each test once on
//! SQLite and once on a real PostgreSQL (`sqlite::…`, `postgres::…`; see `common`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test binary: failing loudly is the point"
)]

mod common;

use std::sync::Arc;

use common::{Backend, Setup, TestApp, TestStore, problem_type};
use reqwest::StatusCode;
use serde_json::{Value, json};
use vigie_core::event::Decision;
use vigie_core::ids::PersonId;
use vigie_core::org::{Agent, OrgKind, Role};
use vigie_core::signin::totp::code_at;

// Every test here runs on both stores.
on_both_stores!(
    advisor_reads_own_caseload_and_gets_not_found_outside_it,
    field_selection_returns_only_asked_categories,
    training_org_never_obtains_a_nir_through_any_endpoint,
    out_of_scope_lookup_is_indistinguishable_from_a_nonexistent_person,
    lookups_take_exact_identifiers_only,
    scope_pages_are_minimal_and_keyset_paginated,
    sign_in_failures_look_alike_and_codes_are_single_use,
    repeated_failures_are_throttled_before_hashing,
    a_burst_of_concurrent_guesses_is_throttled_like_a_sequence,
    sessions_end_at_logout_and_cookies_work,
    bad_input_gets_problem_json_naming_the_field,
    the_ledger_holds_ids_and_categories_never_personal_data,
    admin_roles_read_nobody,
    a_token_replayed_from_another_context_ends_the_session,
    access_tokens_last_minutes_and_are_refreshed_from_the_session_until_idle,
    at_most_two_sessions_and_any_can_be_listed_and_revoked,
    the_guard_demands_a_step_up_and_a_failed_or_ignored_one_ends_the_session,
    an_account_needs_a_second_administrator_and_its_link_goes_to_the_new_agent,
    totp_codes_from_oathtool_are_accepted_once,
    malformed_or_replayed_webauthn_payloads_are_refused,
    a_device_bound_session_renews_its_cookie_only_with_the_device_key,
    cookie_authenticated_writes_must_come_from_our_origin,
    requests_and_enrolment_links_expire,
    touching_a_canary_suspends_the_account_at_once,
    past_the_quota_nothing_more_is_released,
    a_restart_keeps_sessions_used_codes_suspensions_and_the_ledger,
);

/// No detection; `X-Forwarded-For` believed from loopback, so that tests play other networks.
async fn start(backend: Backend) -> TestApp {
    Setup::new().store(backend).trust_loopback_proxy().start().await
}

async fn advisor_reads_own_caseload_and_gets_not_found_outside_it(backend: Backend) {
    let t = start(backend).await;
    let (agent, _, in_scope) = t.advisor(OrgKind::Agency);
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

async fn field_selection_returns_only_asked_categories(backend: Backend) {
    let t = start(backend).await;
    let (agent, _, in_scope) = t.advisor(OrgKind::Agency);
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

async fn training_org_never_obtains_a_nir_through_any_endpoint(backend: Backend) {
    let t = start(backend).await;
    let (agent, _, trainee) = t.advisor(OrgKind::TrainingOrg);
    let person = t.store.person(trainee).unwrap().unwrap();
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

    // Named, a field it may never read is refused by name (tests/hardening.rs has the rest).
    let (status, body) = t.get(&token, &format!("/v1/persons/{trainee}?fields=nir")).await;
    assert_eq!(
        (status, problem_type(&body).as_str()),
        (StatusCode::FORBIDDEN, "urn:vigie:problem:field-not-permitted")
    );
    bodies.push(body);

    let birth = vigie_core::time::format_date(person.birth_date);
    // A NIR lookup would confirm a guessed NIR: for a training organization it answers exactly
    // as for a NIR nobody has, whatever is asked.
    let ghost = vigie_core::Nir::from_body("1990199999999").unwrap().to_string();
    let (_, nobody) = t.post_auth(&token, "/v1/lookup", json!({"nir": ghost, "birth_date": birth})).await;
    for fields in [json!(null), json!(["identity"])] {
        let mut req = json!({"nir": nir, "birth_date": birth});
        if !fields.is_null() {
            req["fields"] = fields;
        }
        let (status, body) = t.post_auth(&token, "/v1/lookup", req).await;
        assert_eq!((status, &body), (StatusCode::NOT_FOUND, &nobody));
        bodies.push(body);
    }
    // Naming the NIR is refused whether the key matches or not: the same 403 for both.
    for fields in [json!(["nir"]), json!(["nir", "identity", "sensitive"])] {
        let (status, body) =
            t.post_auth(&token, "/v1/lookup", json!({"nir": nir, "birth_date": birth, "fields": fields})).await;
        let (_, ghost_body) =
            t.post_auth(&token, "/v1/lookup", json!({"nir": ghost, "birth_date": birth, "fields": fields})).await;
        assert_eq!((status, &body), (StatusCode::FORBIDDEN, &ghost_body));
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

async fn out_of_scope_lookup_is_indistinguishable_from_a_nonexistent_person(backend: Backend) {
    let t = start(backend).await;
    let (agent, _, in_scope) = t.advisor(OrgKind::Agency);
    let token = t.login(&agent).await;
    let outside = t.store.person(t.outside_scope_of(&agent)).unwrap().unwrap();
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
    let mine = t.store.person(in_scope).unwrap().unwrap();
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

async fn lookups_take_exact_identifiers_only(backend: Backend) {
    let t = start(backend).await;
    let (agent, _, _) = t.advisor(OrgKind::Agency);
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

async fn scope_pages_are_minimal_and_keyset_paginated(backend: Backend) {
    let t = start(backend).await;
    let (agent, _, _) = t.advisor(OrgKind::Agency);
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

async fn sign_in_failures_look_alike_and_codes_are_single_use(backend: Backend) {
    let t = start(backend).await;
    let (agent, _, _) = t.advisor(OrgKind::MissionLocale);
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

    t.clock().advance_millis(30_000); // the throttle allowed 3 failures; let the next code come
    let code = t.code(&issued);
    let ok = t.post("/v1/login", json!({"login": login, "password": issued.password.expose(), "totp": code})).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let cookies: Vec<String> =
        ok.headers().get_all("set-cookie").iter().map(|c| c.to_str().unwrap().to_owned()).collect();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    for cookie in &cookies {
        for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(attr), "{cookie}");
        }
    }
    assert!(cookies[0].starts_with("__Host-vigie_access=") && cookies[0].contains("Max-Age=300"), "{cookies:?}");
    assert!(cookies[1].starts_with("__Host-vigie_session="), "{cookies:?}");
    let replay = t.post("/v1/login", json!({"login": login, "password": issued.password.expose(), "totp": code})).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED, "a TOTP code is accepted once");
}

async fn repeated_failures_are_throttled_before_hashing(backend: Backend) {
    let t = start(backend).await;
    let (agent, _, _) = t.advisor(OrgKind::Subcontractor);
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
    t.clock().advance_millis(60_000);
    let _ = t.login(&agent).await;
}

async fn a_burst_of_concurrent_guesses_is_throttled_like_a_sequence(backend: Backend) {
    let t = start(backend).await;
    let (agent, _, _) = t.advisor(OrgKind::Agency);
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

async fn sessions_end_at_logout_and_cookies_work(backend: Backend) {
    let t = start(backend).await;
    let (agent, _, in_scope) = t.advisor(OrgKind::CapEmploi);
    let token = t.login(&agent).await;
    // The cookie form of the same token works too.
    let resp = t
        .http
        .get(format!("{}/v1/persons/{in_scope}", t.base))
        .header("cookie", format!("other=1; __Host-vigie_access={token}"))
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
    // A bearer token of an ended session: invalid (RFC 6750), sign in again.
    assert!(body.contains("urn:vigie:problem:invalid-token"), "{body}");
    // No session at all, or a forged token.
    let resp = t.http.get(format!("{}/v1/me", t.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = t.get(&"A".repeat(43), "/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Sessions expire.
    let token = {
        t.clock().advance_millis(30_000);
        t.login(&agent).await
    };
    t.clock().advance_millis(8 * 3600 * 1000 + 1);
    let (status, _) = t.get(&token, "/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn bad_input_gets_problem_json_naming_the_field(backend: Backend) {
    let t = start(backend).await;
    let (agent, _, _) = t.advisor(OrgKind::Agency);
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
    // On a connection of its own: the server answers before reading the whole body and closes
    // the connection, and a pooled one could be handed to the next request while it closes
    // (seen once in CI as a broken pipe on the next request).
    let resp =
        t.http.post(format!("{}/v1/login", t.base)).header("connection", "close").json(&huge).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(resp.headers().get("content-type").unwrap(), "application/problem+json");
    // Unknown routes and methods are problems too.
    let (status, body) = t.get(&token, "/v2/persons").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("no-such-route"));
    let resp = t.http.delete(format!("{}/v1/persons/P1", t.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}

async fn the_ledger_holds_ids_and_categories_never_personal_data(backend: Backend) {
    let t = start(backend).await;
    let (agent, _, in_scope) = t.advisor(OrgKind::Agency);
    let token = t.login(&agent).await;
    let person = t.store.person(in_scope).unwrap().unwrap();
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

async fn admin_roles_read_nobody(backend: Backend) {
    let t = start(backend).await;
    let (advisor, _, in_scope) = t.advisor(OrgKind::Agency);
    // An account admin of the same organization.
    let admin = (1..10_000u64)
        .filter_map(vigie_core::AgentId::new)
        .map_while(|id| t.store.agent(id).unwrap())
        .find(|a| a.org == advisor.org && a.role == Role::AccountAdmin)
        .expect("every organization has an account admin");
    // Administrators sign in with a passkey only.
    let issued = t.issue(&admin);
    let resp = t
        .post(
            "/v1/login",
            json!({"login": admin.login.as_str(), "password": issued.password.expose(), "totp": t.code(&issued)}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.text().await.unwrap().contains("passkey"));
    let token = t.passkey_session(&admin);
    let (status, _) = t.get(&token, &format!("/v1/persons/{in_scope}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = t.get(&token, "/v1/scope").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"items\":[]"), "{body}");
}

/// Always asks for a fresh second factor: plays the detector of the detection issue.
struct DemandStepUp;
impl vigie_core::ports::Detector for DemandStepUp {
    fn assess(
        &self,
        _: &vigie_core::event::AccessEvent,
        _: &vigie_core::ports::DetectContext,
    ) -> vigie_core::event::Verdict {
        vigie_core::event::Verdict { action: vigie_core::event::VerdictAction::StepUp, reasons: vec!["test=1".into()] }
    }
}

async fn a_token_replayed_from_another_context_ends_the_session(backend: Backend) {
    let t = start(backend).await;
    let (agent, _, in_scope) = t.advisor(OrgKind::TrainingOrg);
    let token = t.login(&agent).await;
    // Another browser family (an infostealer's replay rarely has the same one).
    let resp = t
        .http
        .get(format!("{}/v1/persons/{in_scope}", t.base))
        .bearer_auth(&token)
        .header("user-agent", "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/131.0 Safari/537.36")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(problem_type(&resp.text().await.unwrap()), "urn:vigie:problem:session-ended");
    let (status, _) = t.get(&token, "/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "ended for its owner too: the owner signs in again");
    assert_eq!(t.ended_because("context_changed"), 1);

    // The refresh token, from another network (the same browser family).
    t.clock().advance_millis(30_000);
    let issued = t.issue(&agent);
    let login: Value = t
        .post(
            "/v1/login",
            json!({"login": agent.login.as_str(), "password": issued.password.expose(), "totp": t.code(&issued)}),
        )
        .await
        .json()
        .await
        .unwrap();
    let refresh = login["refresh_token"].as_str().unwrap();
    let resp = t
        .http
        .post(format!("{}/v1/session/refresh", t.base))
        .bearer_auth(refresh)
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = t.get(login["access_token"].as_str().unwrap(), "/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(t.ended_because("context_changed"), 2);
    let ended =
        t.security_events().into_iter().rfind(|e| e.kind == vigie_core::security::SecurityKind::SessionEnded).unwrap();
    assert_eq!(ended.context, "203.0.113.0/24 other", "the event says where the replay came from");
}

async fn access_tokens_last_minutes_and_are_refreshed_from_the_session_until_idle(backend: Backend) {
    let t = start(backend).await;
    let (agent, _, _) = t.advisor(OrgKind::Agency);
    let issued = t.issue(&agent);
    let login: Value = t
        .post(
            "/v1/login",
            json!({"login": agent.login.as_str(), "password": issued.password.expose(), "totp": t.code(&issued)}),
        )
        .await
        .json()
        .await
        .unwrap();
    let (access, refresh) = (login["access_token"].as_str().unwrap(), login["refresh_token"].as_str().unwrap());
    assert_eq!(t.get(refresh, "/v1/me").await.0, StatusCode::UNAUTHORIZED, "a refresh token opens no data route");
    t.clock().advance_millis(5 * 60 * 1000);
    assert_eq!(t.get(access, "/v1/me").await.0, StatusCode::UNAUTHORIZED, "five minutes, no more");
    let resp = t.http.post(format!("{}/v1/session/refresh", t.base)).bearer_auth(refresh).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let fresh: Value = resp.json().await.unwrap();
    let access2 = fresh["access_token"].as_str().unwrap();
    assert!(fresh.get("refresh_token").is_none());
    assert_eq!(t.get(access2, "/v1/me").await.0, StatusCode::OK);
    // Idle for 30 minutes: the session ends, refresh or not.
    t.clock().advance_millis(30 * 60 * 1000);
    let resp = t.http.post(format!("{}/v1/session/refresh", t.base)).bearer_auth(refresh).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(problem_type(&resp.text().await.unwrap()), "urn:vigie:problem:session-ended");
    assert_eq!(t.ended_because("idle"), 1);
}

async fn at_most_two_sessions_and_any_can_be_listed_and_revoked(backend: Backend) {
    let t = start(backend).await;
    let (agent, _, _) = t.advisor(OrgKind::CapEmploi);
    let first = t.login(&agent).await;
    t.clock().advance_millis(30_000);
    let second = t.login(&agent).await;
    let (status, body) = t.get(&second, "/v1/sessions").await;
    assert_eq!(status, StatusCode::OK);
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 2);
    t.clock().advance_millis(30_000);
    let third = t.login(&agent).await;
    assert_eq!(t.get(&first, "/v1/me").await.0, StatusCode::UNAUTHORIZED, "the least recently used ended");
    assert_eq!(t.get(&second, "/v1/me").await.0, StatusCode::OK);
    assert_eq!(t.ended_because("concurrent_limit"), 1);
    // Revoke the second from the third.
    let (_, body) = t.get(&third, "/v1/sessions").await;
    let list: Value = serde_json::from_str(&body).unwrap();
    let other = list["sessions"].as_array().unwrap().iter().find(|s| s["current"] == false).unwrap()["id"].clone();
    let resp = t
        .http
        .delete(format!("{}/v1/sessions/{}", t.base, other.as_str().unwrap()))
        .bearer_auth(&third)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(t.get(&second, "/v1/me").await.0, StatusCode::UNAUTHORIZED, "revocation takes effect at once");
    let resp = t.http.delete(format!("{}/v1/sessions/999999", t.base)).bearer_auth(&third).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

async fn the_guard_demands_a_step_up_and_a_failed_or_ignored_one_ends_the_session(backend: Backend) {
    let t = Setup::new().store(backend).trust_loopback_proxy().detector(Arc::new(DemandStepUp)).start().await;
    let (agent, _, in_scope) = t.advisor(OrgKind::Agency);
    let path = format!("/v1/persons/{in_scope}");
    // A fresh sign-in does not meet a step-up the detector asks for: a cookie stolen right
    // after sign-in must not inherit the factor typed then (live mode found it served).
    let token = t.login(&agent).await;
    let (status, body) = t.get(&token, &path).await;
    assert_eq!(
        (status, problem_type(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "urn:vigie:problem:step-up-required"),
        "{body}"
    );
    t.clock().advance_millis(30_000);
    // Sixteen minutes later (refreshing the access token as clients do), the elevation has
    // lapsed: the demand is made, nothing released.
    let (_, refresh) = t.login_full(&agent).await;
    t.clock().advance_millis(16 * 60 * 1000);
    let token = t.refresh(&refresh).await;
    let (status, body) = t.get(&token, &path).await;
    assert_eq!(
        (status, problem_type(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "urn:vigie:problem:step-up-required")
    );
    let (status, _) = t.get(&token, "/v1/scope").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "nothing more while the step-up is pending");
    // A wrong code ends the session.
    let resp = t.post_auth(&token, "/v1/step-up", json!({"totp": "000000"})).await;
    assert_eq!((resp.0, problem_type(&resp.1).as_str()), (StatusCode::UNAUTHORIZED, "urn:vigie:problem:session-ended"));
    assert_eq!(t.ended_because("step_up_failed"), 1);

    // Ignored for five minutes: ended.
    let (_, refresh) = t.login_full(&agent).await;
    t.clock().advance_millis(16 * 60 * 1000);
    let token = t.refresh(&refresh).await;
    assert_eq!(t.get(&token, &path).await.0, StatusCode::UNAUTHORIZED);
    t.clock().advance_millis(5 * 60 * 1000);
    let resp = t.http.post(format!("{}/v1/session/refresh", t.base)).bearer_auth(&refresh).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(problem_type(&resp.text().await.unwrap()), "urn:vigie:problem:session-ended");
    assert_eq!(t.ended_because("step_up_ignored"), 1);

    // Done right: a new access token and fifteen minutes of elevation.
    let (_, refresh) = t.login_full(&agent).await;
    t.clock().advance_millis(16 * 60 * 1000);
    let token = t.refresh(&refresh).await;
    assert_eq!(t.get(&token, &path).await.0, StatusCode::UNAUTHORIZED);
    let issued = t.last_issued(&agent);
    let (status, body) = t.post_auth(&token, "/v1/step-up", json!({"totp": t.code(&issued)})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let elevated: Value = serde_json::from_str(&body).unwrap();
    let new_token = elevated["access_token"].as_str().unwrap();
    assert_eq!(t.get(&token, "/v1/me").await.0, StatusCode::UNAUTHORIZED, "the access token is cycled");
    assert_eq!(t.get(new_token, &path).await.0, StatusCode::OK);
    // The withheld read is in the ledger, with the verdict.
    let withheld =
        t.ledger_heads().into_iter().filter(|h| h.decision == Decision::Deny && h.person == Some(in_scope)).count();
    assert!(withheld >= 3, "every withheld read is ledgered ({withheld})");
}

/// An agency's account administrator and an agency's security officer.
fn admin_pair(t: &TestApp) -> (Agent, Agent) {
    let now = t.now();
    let pair = vigie::demo::admins(&*t.store, t.ledger.as_ref(), now).unwrap();
    assert_eq!(pair.len(), 2, "the generator gives agencies an account admin and a security officer");
    (pair[0].0.clone(), pair[1].0.clone())
}

fn outbox_files(t: &TestApp) -> Vec<String> {
    let dir = t.dir.path().join("outbox");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).into_iter().flatten() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "eml") {
            out.push(std::fs::read_to_string(p).unwrap());
        }
    }
    out
}

async fn an_account_needs_a_second_administrator_and_its_link_goes_to_the_new_agent(backend: Backend) {
    let t = start(backend).await;
    let (a, b) = admin_pair(&t);
    let ta = t.passkey_session(&a);
    let domain = a.email.rsplit_once('@').unwrap().1.to_owned();
    let new = json!({
        "login": "new.advisor", "display_name": "Nouvelle Conseillère", "email": format!("new.advisor@{domain}"),
        "role": "advisor", "justification": "hired on 2026-11-02",
    });
    let (status, body) = t.post_auth(&ta, "/v1/account-requests", new.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"].as_str().unwrap().to_owned();
    let (status, _) = t.post_auth(&ta, "/v1/account-requests", new.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "one pending request per login");
    let mut elsewhere = new.clone();
    elsewhere["login"] = json!("other.one");
    elsewhere["email"] = json!("other.one@attacker.example");
    let (status, body) = t.post_auth(&ta, "/v1/account-requests", elsewhere.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the link must go to the organization's domain");
    assert!(body.contains("email"), "{body}");
    elsewhere["email"] = json!(format!("other.one@{domain}"));
    elsewhere["team"] = json!("T999999");
    let (status, body) = t.post_auth(&ta, "/v1/account-requests", elsewhere).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a team of another organization (or none) is refused: {body}");
    assert!(body.contains("team"), "{body}");
    // The requester cannot approve.
    let (status, body) = t.post_auth(&ta, &format!("/v1/account-requests/{id}/approve"), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("your own request"));
    assert!(t.store.agent_by_login(&"new.advisor".parse().unwrap()).unwrap().is_none(), "nothing created");
    // The second administrator, not stepped up, cannot either.
    let (_, refresh) = t.passkey_session_full(&b);
    t.clock().advance_millis(16 * 60 * 1000);
    let tb = t.refresh(&refresh).await;
    let (status, body) = t.post_auth(&tb, &format!("/v1/account-requests/{id}/approve"), json!({})).await;
    assert_eq!(
        (status, problem_type(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "urn:vigie:problem:step-up-required")
    );
    // Freshly signed in: approved. The answer holds no link; the mail goes to the new agent.
    let tb = t.passkey_session(&b);
    let (status, body) = t.post_auth(&tb, &format!("/v1/account-requests/{id}/approve"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!body.contains("/enrol/"), "the approver never sees the link: {body}");
    let mails = outbox_files(&t);
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains(&format!("To: new.advisor@{domain}")));
    let token = mails[0].split("/enrol/").nth(1).unwrap()[..43].to_owned();
    let (status, _) = t.post_auth(&tb, &format!("/v1/account-requests/{id}/approve"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "decided once");

    // Enrolment: a short password is refused; a wrong first code keeps nothing.
    let info: Value = t.http.get(format!("{}/v1/enrol/{token}", t.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["login"], "new.advisor");
    let resp = t.post(&format!("/v1/enrol/{token}/password"), json!({"password": "short"})).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let password = "correct horse battery staple";
    let chosen: Value =
        t.post(&format!("/v1/enrol/{token}/password"), json!({"password": password})).await.json().await.unwrap();
    let secret = vigie_core::signin::TotpSecret::from_bytes(
        &vigie_core::signin::totp::base32_decode(chosen["totp_secret"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let resp = t.post(&format!("/v1/enrol/{token}/confirm"), json!({"totp": "000000"})).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let chosen: Value =
        t.post(&format!("/v1/enrol/{token}/password"), json!({"password": password})).await.json().await.unwrap();
    let secret2 = vigie_core::signin::TotpSecret::from_bytes(
        &vigie_core::signin::totp::base32_decode(chosen["totp_secret"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    assert_ne!(secret.as_bytes(), secret2.as_bytes());
    let code = code_at(&secret2, t.now().seconds());
    let resp = t.post(&format!("/v1/enrol/{token}/confirm"), json!({"totp": code})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = t.post(&format!("/v1/enrol/{token}/password"), json!({"password": password})).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT, "a link works once");

    // The new agent signs in; the ledger tells who asked and who approved.
    t.clock().advance_millis(30_000);
    let code = code_at(&secret2, t.now().seconds());
    let resp = t.post("/v1/login", json!({"login": "new.advisor", "password": password, "totp": code})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let new_token = resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let (_, me) = t.get(&new_token, "/v1/me").await;
    assert_eq!(serde_json::from_str::<Value>(&me).unwrap()["probation"], true, "new accounts are on probation");
    let (_, me) = t.get(&t.passkey_session(&a), "/v1/me").await;
    assert_eq!(serde_json::from_str::<Value>(&me).unwrap()["probation"], false);
    let new_agent = t.store.agent_by_login(&"new.advisor".parse().unwrap()).unwrap().unwrap();
    let origin = t.store.account_origin(new_agent.id).unwrap();
    assert_eq!((origin.created_by, origin.approved_by), (Some(a.id), Some(b.id)));
    assert!(origin.probation_until.unwrap().millis() - t.now().millis() > 13 * 24 * 3600 * 1000);
    let events = t.security_events();
    let find = |k| events.iter().find(|e| e.kind == k).unwrap();
    let asked = find(vigie_core::security::SecurityKind::AccountRequested);
    let approved = find(vigie_core::security::SecurityKind::AccountApproved);
    // The last link sent: the demo pair's own links were the operator's (ledgered with no actor).
    let sent = events.iter().rfind(|e| e.kind == vigie_core::security::SecurityKind::EnrolmentSent).unwrap();
    let by_operator =
        events.iter().filter(|e| e.kind == vigie_core::security::SecurityKind::EnrolmentSent && e.agent.is_none());
    assert_eq!(by_operator.count(), 2, "the operator's bootstrap links are ledgered too");
    assert_eq!(asked.agent, Some(a.id));
    assert_eq!(approved.agent, Some(b.id));
    assert!(approved.details.contains(&("requested_by".to_owned(), a.id.to_string())));
    assert_eq!((sent.agent, sent.subject), (Some(b.id), Some(new_agent.id)));

    // Its administrators see its sessions and can end them all at once.
    let tb = t.passkey_session(&b);
    let (status, body) = t.get(&tb, &format!("/v1/agents/{}/sessions", new_agent.id)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["sessions"].as_array().unwrap().len(), 1);
    let resp =
        t.http.delete(format!("{}/v1/agents/{}/sessions", t.base, new_agent.id)).bearer_auth(&tb).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(t.get(&new_token, "/v1/me").await.0, StatusCode::UNAUTHORIZED, "ended at once");
    let (status, _) = t.get(&new_token, &format!("/v1/agents/{}/sessions", b.id)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    t.clock().advance_millis(30_000);
    let code = code_at(&secret2, t.now().seconds());
    let resp = t.post("/v1/login", json!({"login": "new.advisor", "password": password, "totp": code})).await;
    let new_token = resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let (status, _) = t.get(&new_token, &format!("/v1/agents/{}/sessions", b.id)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an advisor manages no one's sessions");
    // Disabling ends its sessions at once.
    let (status, _) = t.post_auth(&tb, &format!("/v1/agents/{}/disable", new_agent.id), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(t.get(&new_token, "/v1/me").await.0, StatusCode::UNAUTHORIZED);
    t.clock().advance_millis(30_000);
    let code = code_at(&secret2, t.now().seconds());
    let resp = t.post("/v1/login", json!({"login": "new.advisor", "password": password, "totp": code})).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "a disabled account signs in no more");
    // Bad input: unknown role, unknown field, malformed email, request id.
    for (body, field) in [
        (json!({"login": "x.y", "display_name": "X", "email": "x@y.fr", "role": "god", "justification": "j"}), "role"),
        (
            json!({"login": "x.y", "display_name": "X", "email": "not an email", "role": "advisor", "justification": "j"}),
            "email",
        ),
        (
            json!({"login": "X Y", "display_name": "X", "email": "x@y.fr", "role": "advisor", "justification": "j"}),
            "login",
        ),
    ] {
        let (status, text) = t.post_auth(&tb, "/v1/account-requests", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
        assert!(text.contains(field), "{text}");
    }
    let (status, _) = t.post_auth(&tb, "/v1/account-requests/abc/approve", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let resp = t.http.get(format!("{}/v1/enrol/{}", t.base, "A".repeat(43))).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT, "an unknown link");
}

async fn totp_codes_from_oathtool_are_accepted_once(backend: Backend) {
    let t = start(backend).await;
    let (agent, _, _) = t.advisor(OrgKind::MissionLocale);
    let issued = t.issue(&agent);
    let now = time::OffsetDateTime::from_unix_timestamp(t.now().seconds()).unwrap();
    let at = format!(
        "{} UTC",
        now.format(&time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")).unwrap()
    );
    let out = std::process::Command::new("oathtool")
        .args(["--totp", "-b", &issued.totp.to_base32(), "--now", &at])
        .output()
        .expect("oathtool is installed (Debian package oathtool)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let code = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let body = json!({"login": agent.login.as_str(), "password": issued.password.expose(), "totp": code});
    assert_eq!(t.post("/v1/login", body.clone()).await.status(), StatusCode::OK);
    assert_eq!(t.post("/v1/login", body).await.status(), StatusCode::UNAUTHORIZED, "replay refused");
}

async fn malformed_or_replayed_webauthn_payloads_are_refused(backend: Backend) {
    let t = start(backend).await;
    let resp = t.post("/v1/login/passkey/finish", json!({})).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.unwrap().contains("ceremony"));
    let resp = t.post("/v1/login/passkey/finish", json!({"ceremony": "x", "credential": {"id": 3}})).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let start: Value = t.post("/v1/login/passkey/start", json!({})).await.json().await.unwrap();
    assert!(start["publicKey"]["challenge"].is_string());
    let credential = json!({
        "id": "AAAA", "rawId": "AAAA", "type": "public-key", "extensions": {},
        "response": {"authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA", "userHandle": "AAAAAAAAAAAAAAAAAAAAAA"},
    });
    let resp =
        t.post("/v1/login/passkey/finish", json!({"ceremony": start["ceremony"], "credential": credential})).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(problem_type(&resp.text().await.unwrap()), "urn:vigie:problem:passkey-refused");
    let resp =
        t.post("/v1/login/passkey/finish", json!({"ceremony": start["ceremony"], "credential": credential})).await;
    let text = resp.text().await.unwrap();
    assert!(text.contains("already used"), "a challenge is used once: {text}");
}

/// A browser's device key, in software (Chrome keeps it in the TPM): signs `dbsc+jwt` proofs.
struct DeviceKey(p256::ecdsa::SigningKey);

impl DeviceKey {
    fn new(seed: u8) -> Self {
        DeviceKey(p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap())
    }
    fn proof(&self, challenge: &str, with_key: bool) -> String {
        use base64::Engine;
        use p256::ecdsa::signature::Signer;
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let point = self.0.verifying_key().to_sec1_point(false);
        let p = point.as_bytes();
        let mut header = json!({"alg": "ES256", "typ": "dbsc+jwt"});
        if with_key {
            header["jwk"] = json!({"kty": "EC", "crv": "P-256", "x": b64(&p[1..33]), "y": b64(&p[33..65])});
        }
        let input =
            format!("{}.{}", b64(header.to_string().as_bytes()), b64(json!({"jti": challenge}).to_string().as_bytes()));
        let sig: p256::ecdsa::Signature = self.0.sign(input.as_bytes());
        format!("{input}.{}", b64(&sig.to_bytes()))
    }
}

fn quoted_param(header: &str, name: &str) -> String {
    let start = header.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
    header[start..].split('"').next().unwrap().to_owned()
}

async fn a_device_bound_session_renews_its_cookie_only_with_the_device_key(backend: Backend) {
    let t = start(backend).await;
    let (agent, _, _) = t.advisor(OrgKind::Agency);
    let issued = t.issue(&agent);
    let resp = t
        .post(
            "/v1/login",
            json!({"login": agent.login.as_str(), "password": issued.password.expose(), "totp": t.code(&issued)}),
        )
        .await;
    let offer = resp.headers().get("secure-session-registration").unwrap().to_str().unwrap().to_owned();
    assert!(offer.starts_with("(ES256 RS256);path=\"/dbsc/register\""), "{offer}");
    let login: Value = resp.json().await.unwrap();
    let (access, refresh) = (login["access_token"].as_str().unwrap(), login["refresh_token"].as_str().unwrap());
    let cookies = format!("__Host-vigie_access={access}; __Host-vigie_session={refresh}");
    let origin = t.base.replace("127.0.0.1", "localhost");
    let device = DeviceKey::new(0x42);

    // Registration: the proof over the offered challenge binds the session.
    let post = |path: &str, cookie: &str| {
        t.http.post(format!("{}{path}", t.base)).header("cookie", cookie.to_owned()).header("origin", origin.clone())
    };
    let resp = post("/dbsc/register", &cookies)
        .header("secure-session-response", format!("\"{}\"", device.proof(&quoted_param(&offer, "challenge"), true)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let instructions: Value = resp.json().await.unwrap();
    let sid = instructions["session_identifier"].as_str().unwrap().to_owned();
    assert_eq!(instructions["refresh_url"], "/dbsc/refresh");
    assert_eq!(instructions["credentials"][0]["name"], "__Host-vigie_access");
    let resp = post("/dbsc/register", &cookies)
        .header("secure-session-response", device.proof(&quoted_param(&offer, "challenge"), true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "a challenge is used once");

    // The refresh cookie alone (an infostealer's copy) renews nothing any more.
    let only_refresh = format!("__Host-vigie_session={refresh}");
    let resp = t.http.get(format!("{}/v1/me", t.base)).header("cookie", only_refresh.clone()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = t.http.post(format!("{}/v1/session/refresh", t.base)).bearer_auth(refresh).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // The browser's refresh: a challenge, then a proof with the device key.
    let resp = post("/dbsc/refresh", &only_refresh)
        .header("sec-secure-session-id", format!("\"{sid}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let c = resp.headers().get("secure-session-challenge").unwrap().to_str().unwrap().to_owned();
    let challenge = c.split('"').nth(1).unwrap().to_owned();
    let resp = post("/dbsc/refresh", &only_refresh)
        .header("sec-secure-session-id", format!("\"{sid}\""))
        .header("secure-session-response", format!("\"{}\"", device.proof(&challenge, false)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let set = resp.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    let fresh = set.split(';').next().unwrap().trim_start_matches("__Host-vigie_access=").to_owned();
    assert_eq!(t.get(&fresh, "/v1/me").await.0, StatusCode::OK);

    // Another key (the thief's): the session ends and the browser is told to stop.
    let resp = post("/dbsc/refresh", &only_refresh)
        .header("sec-secure-session-id", format!("\"{sid}\""))
        .send()
        .await
        .unwrap();
    let c = resp.headers().get("secure-session-challenge").unwrap().to_str().unwrap().to_owned();
    let challenge = c.split('"').nth(1).unwrap().to_owned();
    let resp = post("/dbsc/refresh", &only_refresh)
        .header("sec-secure-session-id", format!("\"{sid}\""))
        .header("secure-session-response", format!("\"{}\"", DeviceKey::new(0x17).proof(&challenge, false)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(resp.json::<Value>().await.unwrap()["continue"], false);
    assert_eq!(t.get(&fresh, "/v1/me").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(t.ended_because("device_proof_failed"), 1);
    assert!(t.security_events().iter().any(|e| e.kind == vigie_core::security::SecurityKind::DeviceBound));
    // Garbage headers are refused, naming the header.
    let resp = post("/dbsc/register", &cookies).header("secure-session-response", "not a jwt!").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.unwrap().contains("Secure-Session-Response"));
}

async fn cookie_authenticated_writes_must_come_from_our_origin(backend: Backend) {
    let t = start(backend).await;
    let (agent, _, _) = t.advisor(OrgKind::Agency);
    let (access, refresh) = t.login_full(&agent).await;
    let cookies = format!("__Host-vigie_access={access}; __Host-vigie_session={refresh}");
    let ours = t.base.replace("127.0.0.1", "localhost");
    for (origin, fetch_site, want) in [
        (Some("https://evil.example"), None, StatusCode::FORBIDDEN),
        (Some("null"), Some("cross-site"), StatusCode::FORBIDDEN),
        (None, None, StatusCode::FORBIDDEN),
        (Some("null"), Some("same-origin"), StatusCode::OK),
        (Some(ours.as_str()), None, StatusCode::OK),
    ] {
        let mut req = t.http.delete(format!("{}/v1/sessions/999999", t.base)).header("cookie", cookies.clone());
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(s) = fetch_site {
            req = req.header("sec-fetch-site", s);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let body = resp.text().await.unwrap();
        if want == StatusCode::FORBIDDEN {
            assert_eq!(
                (status, problem_type(&body).as_str()),
                (want, "urn:vigie:problem:cross-origin"),
                "{origin:?} {body}"
            );
        } else {
            // Past the origin check: the unknown session is what is refused.
            assert_eq!(status, StatusCode::NOT_FOUND, "{origin:?}: {body}");
        }
    }
}

async fn requests_and_enrolment_links_expire(backend: Backend) {
    let t = start(backend).await;
    let (a, b) = admin_pair(&t);
    let ask = |login: &str| json!({"login": login, "display_name": "X", "email": format!("{login}@{}", a.email.rsplit_once('@').unwrap().1), "role": "advisor", "justification": "j"});
    // A request left 72 hours is expired: it cannot be approved, and creates nothing.
    let (status, body) = t.post_auth(&t.passkey_session(&a), "/v1/account-requests", ask("late.one")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let late = serde_json::from_str::<Value>(&body).unwrap()["id"].as_str().unwrap().to_owned();
    t.clock().advance_millis(72 * 3600 * 1000);
    let (status, body) =
        t.post_auth(&t.passkey_session(&b), &format!("/v1/account-requests/{late}/approve"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("expired"), "{body}");
    assert!(t.store.agent_by_login(&"late.one".parse().unwrap()).unwrap().is_none());
    // An enrolment link unused for 24 hours opens nothing.
    let (_, body) = t.post_auth(&t.passkey_session(&a), "/v1/account-requests", ask("slow.one")).await;
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"].as_str().unwrap().to_owned();
    let (status, _) =
        t.post_auth(&t.passkey_session(&b), &format!("/v1/account-requests/{id}/approve"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let mail = outbox_files(&t).into_iter().find(|m| m.contains("To: slow.one@")).unwrap();
    let token = mail.split("/enrol/").nth(1).unwrap()[..43].to_owned();
    t.clock().advance_millis(24 * 3600 * 1000);
    let resp = t.http.get(format!("{}/v1/enrol/{token}", t.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let resp = t.post(&format!("/v1/enrol/{token}/passkey/start"), json!({})).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let resp = t.http.get(format!("{}/v1/enrol/not-a-token", t.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "a malformed link is named as such");
}

/// The exfiltration detector with the registry's canaries and an hourly quota of 3 persons.
fn low_quotas(store: &dyn TestStore) -> Arc<dyn vigie_core::ports::Detector> {
    let mut config = vigie_core::detect::DetectConfig::with_canaries(store.canary_list().unwrap());
    for t in config.thresholds.values_mut() {
        t.quota_hour = 3;
    }
    Arc::new(vigie_core::detect::ExfiltrationDetector::new(config))
}

async fn touching_a_canary_suspends_the_account_at_once(backend: Backend) {
    let t = Setup::new().store(backend).trust_loopback_proxy().server_detector().start().await;
    let (agent, _, in_scope) = t.advisor(OrgKind::Agency);
    let token = t.login(&agent).await;
    assert_eq!(t.get(&token, &format!("/v1/persons/{in_scope}")).await.0, StatusCode::OK);
    // Walking ids onto a canary: the refused view of a canary, corroborated by the walk (a
    // lone refused view of one only asks for a step-up; detect::tests has both).
    let canary = t.store.canary_list().unwrap()[0];
    for before in [canary.get() - 2, canary.get() - 1].map(|id| vigie_core::ids::PersonId::new(id).unwrap()) {
        let (status, body) = t.get(&token, &format!("/v1/persons/{before}")).await;
        assert!(status == StatusCode::OK || status == StatusCode::NOT_FOUND, "{status} {body}");
    }
    let (status, body) = t.get(&token, &format!("/v1/persons/{canary}")).await;
    assert_eq!((status, problem_type(&body).as_str()), (StatusCode::UNAUTHORIZED, "urn:vigie:problem:session-ended"));
    assert!(body.contains("account_suspended"), "{body}");
    assert!(!t.store.agent(agent.id).unwrap().unwrap().active, "the account is disabled");
    assert_eq!(t.get(&token, &format!("/v1/persons/{in_scope}")).await.0, StatusCode::UNAUTHORIZED);
    // The ledger says why: the canary read, its verdict, the disablement by the detector.
    let heads = t.ledger_heads();
    assert!(heads.iter().any(|h| h.person == Some(canary)));
    let disabled = t
        .security_events()
        .into_iter()
        .find(|e| e.kind == vigie_core::security::SecurityKind::AccountDisabled)
        .unwrap();
    assert_eq!(disabled.subject, Some(agent.id));
    assert!(disabled.details.contains(&("by".to_owned(), "detector".to_owned())));
    // The alert: in the feed for an agency security officer, in the JSON-lines file.
    let (_, officer) = admin_pair(&t);
    let token = t.passkey_session(&officer);
    let (status, body) = t.get(&token, "/v1/alerts").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let alerts: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(alerts["alerts"][0]["verdict"], "suspend_account");
    assert_eq!(alerts["alerts"][0]["reasons"][0], format!("canary={canary}"));
    assert_eq!(alerts["alerts"][0]["reasons"][1], "canary_by=walking_ids");
    let (status, _) = t.get(&t.passkey_session(&admin_pair(&t).0), "/v1/alerts").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "alerts are for security officers");
    let mut lines = String::new();
    for _ in 0..100 {
        lines = std::fs::read_to_string(t.dir.path().join("alerts.jsonl")).unwrap_or_default();
        if !lines.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(lines.contains("canary="), "{lines}");
}

async fn past_the_quota_nothing_more_is_released(backend: Backend) {
    let t = Setup::new().store(backend).trust_loopback_proxy().detector_from_data(low_quotas).start().await;
    let (agent, _, _) = t.advisor(OrgKind::Agency);
    // Stepped up (the quota's step-up rung is met): what is tested is the throttle.
    let (token, _) = t.login_full(&agent).await;
    t.clock().advance_millis(30_000);
    let (status, body) = t.post_auth(&token, "/v1/step-up", json!({"totp": t.code(&t.last_issued(&agent))})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = serde_json::from_str::<Value>(&body).unwrap()["access_token"].as_str().unwrap().to_owned();
    let (_, body) = t.get(&token, "/v1/scope?limit=10").await;
    let ids: Vec<String> = serde_json::from_str::<Value>(&body).unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(ids.len() >= 5, "a caseload to read");
    let mut statuses = Vec::new();
    for id in &ids[..5] {
        let resp = t.http.get(format!("{}/v1/persons/{id}", t.base)).bearer_auth(&token).send().await.unwrap();
        statuses.push((resp.status(), resp.headers().get("retry-after").is_some()));
    }
    assert_eq!(statuses[..3], [(StatusCode::OK, false); 3], "{statuses:?}");
    assert_eq!(statuses[3], (StatusCode::TOO_MANY_REQUESTS, true), "{statuses:?}");
    // Re-reading a person already read this hour adds no one: it stays open; a new one does not.
    assert_eq!(t.get(&token, &format!("/v1/persons/{}", ids[0])).await.0, StatusCode::OK);
    let (status, body) = t.get(&token, &format!("/v1/persons/{}", ids[4])).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    t.clock().advance_millis(61 * 60 * 1000);
    let token = t.login(&agent).await;
    assert_eq!(t.get(&token, &format!("/v1/persons/{}", ids[0])).await.0, StatusCode::OK, "an hour later");
}

/// What the store and the ledger hold outlives the process: a node restarted on the same data
/// directory (and database) still honours a session, still refuses a code already used, keeps
/// a suspended account suspended, and appends to the same ledger.
async fn a_restart_keeps_sessions_used_codes_suspensions_and_the_ledger(backend: Backend) {
    let t = Setup::new().store(backend).server_detector().start().await;
    let (agent, _, in_scope) = t.advisor(OrgKind::Agency);
    let issued = t.issue(&agent);
    let sign_in = json!({"login": agent.login.as_str(), "password": issued.password.expose(), "totp": t.code(&issued)});
    let resp = t.post("/v1/login", sign_in.clone()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let token = resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let read = format!("/v1/persons/{in_scope}");
    assert_eq!(t.get(&token, &read).await.0, StatusCode::OK);
    // Another advisor walks onto a canary and is suspended (as in the test above).
    let walker = t.agent_where(|a, o| o.kind == OrgKind::Agency && a.role == Role::Advisor && a.id != agent.id);
    let walking = t.login(&walker).await;
    let canary = t.store.canary_list().unwrap()[0];
    for id in [canary.get() - 2, canary.get() - 1, canary.get()] {
        let _ = t.get(&walking, &format!("/v1/persons/P{id}")).await;
    }
    assert!(!t.store.agent(walker.id).unwrap().unwrap().active, "suspended before the restart");
    let before = t.ledger_heads();

    let t = t.restart().await;
    assert_eq!(t.get(&token, &read).await.0, StatusCode::OK, "the session outlives the restart");
    assert_eq!(t.post("/v1/login", sign_in).await.status(), StatusCode::UNAUTHORIZED, "a used code stays used");
    t.clock().advance_millis(30_000);
    let again = json!({"login": agent.login.as_str(), "password": issued.password.expose(), "totp": t.code(&issued)});
    assert_eq!(t.post("/v1/login", again).await.status(), StatusCode::OK, "the credentials outlive it too");
    assert!(!t.store.agent(walker.id).unwrap().unwrap().active, "still suspended");
    let after = t.ledger_heads();
    assert_eq!(after[..before.len()], before[..], "the same ledger, appended to");
    assert_eq!(after.len(), before.len() + 1, "the read after the restart");
}
