//! The server under abuse and its refusals, as a client meets them:
//!
//! - slow and idle connections are closed after their timeouts, a body announced too large is
//!   refused at once, a header too large and a malformed request get problem+json like every
//!   other refusal, and connections past the cap (all clients, or one client's share) get a 503
//!   problem with `Retry-After`;
//! - a refused token says what to do (RFC 6750): none sent, authenticate; an expired access
//!   token, refresh; a forged, revoked or malformed one, sign in again, the same answer for each;
//!   the `Bearer` scheme name is case-insensitive;
//! - a field the caller may never read is refused by name (403, the policy named), alone or mixed
//!   with others, and the refusal is ledgered; a repeated query parameter is refused;
//! - logout with cookies checks the origin like every other state change.
//!
//! Time in these tests is a deadline (a read that waits at most so long), never a measurement.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Backend, Setup, TestApp, problem_type};
use reqwest::StatusCode;
use serde_json::{Value, json};
use vigie_core::event::Decision;
use vigie_core::org::OrgKind;
use vigie_http::shared::limits::ServerLimits;

// Every test here runs on both stores.
on_both_stores!(
    slow_and_idle_connections_are_closed_after_their_timeouts,
    the_servers_own_refusals_are_problem_json,
    empty_or_untyped_page_forms_get_an_error_page,
    connections_past_the_cap_get_a_503_problem_and_the_rest_are_served,
    logout_with_cookies_must_come_from_our_origin,
    a_refused_token_says_whether_refreshing_helps_and_tells_a_forger_nothing,
    a_field_never_permitted_is_refused_by_name_and_the_refusal_ledgered,
    one_token_re_reading_the_same_person_is_held_to_its_rate,
    failures_on_a_login_from_elsewhere_do_not_lock_its_agent_out,
);

/// Sends `request` on a new connection and reads until the server closes it (at most 30 s):
/// the status, the head and the body.
fn exchange(t: &TestApp, request: &[u8]) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", t.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // The server may refuse before reading it all: what it answered is what counts.
    let _ = s.write_all(request);
    read_answer(&mut s)
}

fn read_answer(s: &mut TcpStream) -> (u16, String, String) {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if out.is_empty() => panic!("no answer: {e}"),
            Err(_) => break,
        }
    }
    split(&String::from_utf8_lossy(&out))
}

fn split(text: &str) -> (u16, String, String) {
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}

/// Whether the server closes `s` (EOF or reset) within 30 s, reading and discarding the rest.
fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

fn assert_problem(status: u16, head: &str, body: &str, want_status: u16, want_type: &str) {
    assert_eq!(status, want_status, "{head}\n{body}");
    assert!(head.contains("content-type: application/problem+json"), "{head}");
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    assert_eq!(v["type"], want_type, "{body}");
    assert_eq!(v["status"], want_status, "{body}");
}

fn quick() -> ServerLimits {
    ServerLimits {
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        ..ServerLimits::default()
    }
}

async fn slow_and_idle_connections_are_closed_after_their_timeouts(backend: Backend) {
    let t = Setup::new().store(backend).limits(quick()).start().await;
    tokio::task::spawn_blocking(move || {
        // Half a head, then nothing (slowloris): closed once the header timeout runs out.
        let mut s = TcpStream::connect(("127.0.0.1", t.port)).unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").unwrap();
        assert!(closed_by_server(&mut s), "a slow head holds its connection");

        // A keep-alive connection left idle after a request: closed too.
        let mut s = TcpStream::connect(("127.0.0.1", t.port)).unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut first = [0u8; 17];
        s.read_exact(&mut first).unwrap();
        assert_eq!(&first, b"HTTP/1.1 200 OK\r\n");
        assert!(closed_by_server(&mut s), "an idle keep-alive connection stays open");

        // A body sent too slowly: 408 problem, then closed.
        let mut s = TcpStream::connect(("127.0.0.1", t.port)).unwrap();
        s.write_all(b"POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"lo")
            .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let (status, head, body) = read_answer(&mut s);
        assert_problem(status, &head, &body, 408, "urn:vigie:problem:request-timeout");
        assert!(head.contains("connection: close"), "{head}");

        // A body announced larger than any request takes: 413 at once. The body timeout is one
        // second, so a server that waited for the body would have answered 408.
        let (status, head, body) = exchange(
            &t,
            b"POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n",
        );
        assert_problem(status, &head, &body, 413, "urn:vigie:problem:payload-too-large");
    })
    .await
    .unwrap();
}

async fn the_servers_own_refusals_are_problem_json(backend: Backend) {
    let t = Setup::new().store(backend).start().await;
    let (agent, _, _) = t.advisor(OrgKind::Agency);
    let token = t.login(&agent).await;
    tokio::task::spawn_blocking(move || {
        // A 200 KB header.
        let big = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(200 * 1024));
        let (status, head, body) = exchange(&t, big.as_bytes());
        assert_problem(status, &head, &body, 431, "urn:vigie:problem:header-too-large");
        // A malformed request line; a header without a colon.
        for bad in [&b"GET / HTTP/1.1 extra words\r\nHost: x\r\n\r\n"[..], b"GET / HTTP/1.1\r\nno colon here\r\n\r\n"] {
            let (status, head, body) = exchange(&t, bad);
            assert_problem(status, &head, &body, 400, "urn:vigie:problem:malformed-request");
        }
        // A URI longer than the head may be: 414 or 431 as hyper sees it, problem+json either way.
        let long = format!("GET /v1/persons/P1?{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70 * 1024));
        let (status, head, body) = exchange(&t, long.as_bytes());
        assert!(status == 414 || status == 431, "{head}");
        assert!(head.contains("content-type: application/problem+json"), "{head}");
        assert!(serde_json::from_str::<Value>(&body).is_ok(), "{body}");
        // A path id that is not UTF-8 once decoded.
        let req = format!("GET /v1/agents/%00%FF7/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n");
        let (status, head, body) = exchange(&t, req.as_bytes());
        assert_problem(status, &head, &body, 400, "urn:vigie:problem:invalid-request");
        assert!(body.contains("\"id\""), "{body}");
    })
    .await
    .unwrap();
}

async fn empty_or_untyped_page_forms_get_an_error_page(backend: Backend) {
    let t = Setup::new().store(backend).start().await;
    let origin = t.base.replace("127.0.0.1", "localhost");
    for path in ["/login", "/accounts/requests", "/step-up"] {
        for content_type in [None, Some("application/x-www-form-urlencoded")] {
            let mut req = t.http.post(t.url(path)).header("origin", origin.as_str()).body("");
            if let Some(c) = content_type {
                req = req.header("content-type", c);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status();
            let ctype = resp.headers()["content-type"].to_str().unwrap().to_owned();
            let body = resp.text().await.unwrap();
            // Signed out, the session pages send the browser to sign in first; otherwise the
            // form's own refusal, as a page.
            assert!(
                status.is_client_error() || status == StatusCode::SEE_OTHER,
                "{path} {content_type:?}: {status} {body}"
            );
            if status.is_client_error() {
                assert!(ctype.starts_with("text/html"), "{path} {content_type:?}: {ctype} {body}");
            }
        }
    }
}

async fn connections_past_the_cap_get_a_503_problem_and_the_rest_are_served(backend: Backend) {
    let limits = ServerLimits {
        max_connections: 4,
        max_connections_per_client: 3,
        header_timeout: Duration::from_secs(120),
        ..ServerLimits::default()
    };
    let t = Setup::new().store(backend).limits(limits).start().await;
    tokio::task::spawn_blocking(move || {
        let open = |from: &str| {
            let socket = socket2_connect(from, t.port);
            let mut s = socket;
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut first = [0u8; 17];
            s.read_exact(&mut first).unwrap();
            assert_eq!(&first, b"HTTP/1.1 200 OK\r\n", "from {from}");
            s
        };
        let refused = |from: &str| {
            let mut s = socket2_connect(from, t.port);
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let (status, head, body) = read_answer(&mut s);
            assert_problem(status, &head, &body, 503, "urn:vigie:problem:too-many-connections");
            assert!(head.contains("retry-after: 1"), "{head}");
        };
        // One client's share is three.
        let a: Vec<TcpStream> = (0..3).map(|_| open("127.0.0.1")).collect();
        refused("127.0.0.1");
        // Another client is served, up to the cap of four for all.
        let b = open("127.0.0.2");
        refused("127.0.0.3");
        // A connection closed frees its slot.
        drop(b);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let mut s = socket2_connect("127.0.0.3", t.port);
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
            let (status, _, _) = read_answer(&mut s);
            if status == 200 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the slot was never freed");
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(a);
    })
    .await
    .unwrap();
}

/// A connection from a given loopback address (127.0.0.0/8 is all local), to play several
/// clients.
fn socket2_connect(from: &str, port: u16) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let stream = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
        socket.connect(format!("127.0.0.1:{port}").parse().unwrap()).await.unwrap()
    });
    let std = stream.into_std().unwrap();
    std.set_nonblocking(false).unwrap();
    std
}

async fn logout_with_cookies_must_come_from_our_origin(backend: Backend) {
    let t = Setup::new().store(backend).start().await;
    let (agent, _, _) = t.advisor(OrgKind::Agency);
    let (access, refresh) = t.login_full(&agent).await;
    let cookies = format!("__Host-vigie_access={access}; __Host-vigie_session={refresh}");
    let resp = t
        .http
        .post(t.url("/v1/logout"))
        .header("cookie", cookies.clone())
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert_eq!((status, problem_type(&body).as_str()), (StatusCode::FORBIDDEN, "urn:vigie:problem:cross-origin"));
    let (status, body) = t.get(&access, "/v1/me").await;
    assert_eq!(status, StatusCode::OK, "another site signed the agent out: {body}");
    let ours = t.base.replace("127.0.0.1", "localhost");
    let resp = t.http.post(t.url("/v1/logout")).header("cookie", cookies).header("origin", ours).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(t.get(&access, "/v1/me").await.0, StatusCode::UNAUTHORIZED);
}

/// (status, WWW-Authenticate, body) of `GET /v1/me` with this `Authorization` header.
async fn me_with(t: &TestApp, authorization: Option<&str>) -> (StatusCode, String, String) {
    let mut req = t.http.get(t.url("/v1/me"));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let challenge = resp.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, challenge, resp.text().await.unwrap())
}

async fn a_refused_token_says_whether_refreshing_helps_and_tells_a_forger_nothing(backend: Backend) {
    let t = Setup::new().store(backend).start().await;
    let (agent, _, _) = t.advisor(OrgKind::Agency);

    let (status, challenge, body) = me_with(&t, None).await;
    assert_eq!((status, challenge.as_str()), (StatusCode::UNAUTHORIZED, "Bearer realm=\"vigie\""));
    assert_eq!(problem_type(&body), "urn:vigie:problem:unauthenticated");

    // The scheme name, whatever its case.
    let (access, refresh) = t.login_full(&agent).await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        assert_eq!(me_with(&t, Some(&format!("{scheme} {access}"))).await.0, StatusCode::OK, "{scheme}");
    }

    // Expired while the session lives: refreshing helps, and does.
    t.clock().advance_millis(301_000);
    let (status, challenge, body) = me_with(&t, Some(&format!("Bearer {access}"))).await;
    assert_eq!((status, problem_type(&body).as_str()), (StatusCode::UNAUTHORIZED, "urn:vigie:problem:token-expired"));
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let fresh = t.refresh(&refresh).await;
    assert_eq!(me_with(&t, Some(&format!("Bearer {fresh}"))).await.0, StatusCode::OK);

    // Revoked (signed out), forged, malformed: one answer, that refreshing will not help.
    let (status, _) = t.post_auth(&fresh, "/v1/logout", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let revoked = me_with(&t, Some(&format!("Bearer {fresh}"))).await;
    let forged = me_with(&t, Some(&format!("Bearer {}", "A".repeat(43)))).await;
    let malformed = me_with(&t, Some("Bearer not-a-token")).await;
    assert_eq!(revoked.0, StatusCode::UNAUTHORIZED);
    assert_eq!(problem_type(&revoked.2), "urn:vigie:problem:invalid-token");
    assert!(revoked.1.contains("error=\"invalid_token\""), "{}", revoked.1);
    assert_eq!(revoked, forged, "a revoked token and a forged one are told apart");
    assert_eq!(forged, malformed);
    // The refresh token of the ended session: sign in again, too.
    let resp = t.http.post(t.url("/v1/session/refresh")).bearer_auth(&refresh).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(problem_type(&resp.text().await.unwrap()), "urn:vigie:problem:invalid-token");
}

async fn a_field_never_permitted_is_refused_by_name_and_the_refusal_ledgered(backend: Backend) {
    let t = Setup::new().store(backend).start().await;
    let (agent, _, trainee) = t.advisor(OrgKind::TrainingOrg);
    let outside = t.outside_scope_of(&agent);
    let token = t.login(&agent).await;
    let policy = "nir-and-rqth-never-for-training-orgs-or-subcontractors";
    let mut answers = Vec::new();
    for fields in ["nir", "nir,identity", "identity,sensitive"] {
        for person in [trainee, outside] {
            let before = t.ledger_heads().len();
            let (status, body) = t.get(&token, &format!("/v1/persons/{person}?fields={fields}")).await;
            assert_eq!(
                (status, problem_type(&body).as_str()),
                (StatusCode::FORBIDDEN, "urn:vigie:problem:field-not-permitted"),
                "{fields}: {body}"
            );
            assert!(body.contains(policy), "{body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            let named: Vec<&str> =
                v["invalid-params"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
            assert_eq!(named, vec![if fields.contains("nir") { "nir" } else { "sensitive" }], "{body}");
            // Ledgered: a denial of this person, nothing returned, the policy named.
            let heads = t.ledger_heads();
            assert_eq!(heads.len(), before + 1);
            let last = heads.last().unwrap();
            assert_eq!((last.person, last.decision), (Some(person), Decision::Deny));
            answers.push((fields, body));
        }
    }
    // The same answer in scope and out: it says nothing about the person.
    for pair in answers.chunks(2) {
        assert_eq!(pair[0], pair[1]);
    }
    let last = t
        .ledger
        .entries()
        .unwrap()
        .map(|e| e.unwrap().body)
        .filter(|b| b.first() == Some(&vigie_core::event::EVENT_ENCODING_V1))
        .last()
        .unwrap();
    assert!(vigie_core::event::EventHead::decode(&last).unwrap().returned.is_empty());
    assert!(last.windows(policy.len()).any(|w| w == policy.as_bytes()), "the reason names the policy");

    // A lookup naming the field: refused the same way, whether anyone matches or not.
    let person = t.store.person(trainee).unwrap().unwrap();
    let birth = vigie_core::time::format_date(person.birth_date);
    let (status, body) = t
        .post_auth(
            &token,
            "/v1/lookup",
            json!({"ft_id": person.ft_id.as_str(), "birth_date": birth, "fields": ["identity", "nir"]}),
        )
        .await;
    assert_eq!(
        (status, problem_type(&body).as_str()),
        (StatusCode::FORBIDDEN, "urn:vigie:problem:field-not-permitted"),
        "{body}"
    );

    // What it may read is served; an agency advisor reads the NIR of its caseload.
    let (status, body) = t.get(&token, &format!("/v1/persons/{trainee}?fields=identity")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (advisor, _, in_caseload) = t.advisor(OrgKind::Agency);
    let advisor_token = t.login(&advisor).await;
    let (status, body) = t.get(&advisor_token, &format!("/v1/persons/{in_caseload}?fields=nir")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A repeated parameter is refused, not taken last-wins.
    let (status, body) = t.get(&token, &format!("/v1/persons/{trainee}?fields=identity&fields=nir")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("repeated") && body.contains("\"fields\""), "{body}");
}

async fn one_token_re_reading_the_same_person_is_held_to_its_rate(backend: Backend) {
    use vigie_http::shared::rates::{Rate, RateSettings};
    let rates = RateSettings { session: Rate { per_second: 1, burst: 3 }, account: Rate { per_second: 1, burst: 5 } };
    let t = Setup::new().store(backend).rates(rates).start().await;
    let (agent, _, person) = t.advisor(OrgKind::Agency);
    let (token, _) = t.login_full(&agent).await;
    // A second session of the same account, opened without moving the clock.
    let other = t.passkey_session(&agent);
    let read = |token: String| {
        let t = &t;
        async move { t.get(&token, &format!("/v1/persons/{person}")).await.0 }
    };
    for _ in 0..3 {
        assert_eq!(read(token.clone()).await, StatusCode::OK);
    }
    let before = t.ledger_heads().len();
    let resp = t.http.get(t.url(&format!("/v1/persons/{person}"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_eq!(problem_type(&resp.text().await.unwrap()), "urn:vigie:problem:rate-limited");
    assert_eq!(t.ledger_heads().len(), before, "a refused request reads nothing");
    // The account's budget (five) holds across its sessions: the other session gets two of
    // its own three.
    assert_eq!(read(other.clone()).await, StatusCode::OK);
    assert_eq!(read(other.clone()).await, StatusCode::OK);
    assert_eq!(read(other.clone()).await, StatusCode::TOO_MANY_REQUESTS);
    // A second later, one more.
    t.clock().advance_millis(1_000);
    assert_eq!(read(token).await, StatusCode::OK);
}

/// "Someone keeps me out": an attacker failing on an agent's login, once each time the wait runs
/// out and from many networks, does not keep the agent out of the office network he signs in
/// from; the attempt is ledgered as a targeted lockout.
async fn failures_on_a_login_from_elsewhere_do_not_lock_its_agent_out(backend: Backend) {
    let t = Setup::new().store(backend).trust_loopback_proxy().start().await;
    let (agent, _, _) = t.advisor(OrgKind::Agency);
    t.login_from(&agent, "192.0.2.10", "Mozilla/5.0 Firefox/128.0").await;
    let wrong = json!({"login": agent.login.as_str(), "password": "not the password!", "totp": "000000"});
    let mut refused = 0;
    for round in 0..3 {
        for net in 0..8 {
            let resp = t
                .http
                .post(t.url("/v1/login"))
                .header("x-forwarded-for", format!("198.51.{net}.7"))
                .json(&wrong)
                .send()
                .await
                .unwrap();
            refused += u32::from(resp.status() == StatusCode::TOO_MANY_REQUESTS);
        }
        // The attacker's waits run out.
        t.clock().advance_millis(60_000 * (round + 1));
    }
    assert!(refused > 0, "the guessing was never held back");
    // At the office, the agent signs in (login_from asserts a 200).
    t.login_from(&agent, "192.0.2.33", "Mozilla/5.0 Firefox/128.0").await;
    let targeted: Vec<_> = t
        .security_events()
        .into_iter()
        .filter(|e| e.kind == vigie_core::security::SecurityKind::SignInTargeted)
        .collect();
    assert_eq!(targeted.len(), 1, "{targeted:?}");
    assert!(targeted[0].details.iter().any(|(k, v)| k == "login" && v == agent.login.as_str()));
}
