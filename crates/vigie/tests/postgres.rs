//! A node on PostgreSQL, end to end: `vigie generate --store` loads the registry with `COPY`, the
//! node serves guarded reads from it (sign-in, session, relationship, record, ledger), and when
//! the database goes away guarded reads are refused with a 503 (no record without its ledger
//! entry) until it is back. The server is a throw-away cluster (see
//! `vigie-store-pg/tests/common`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "../../vigie-store-pg/tests/common/mod.rs"]
mod pg;

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use vigie::app;
use vigie_core::org::{OrgKind, Role};
use vigie_core::ports::Registry;
use vigie_core::signin::totp::code_at;
use vigie_core::time::{Clock, FixedClock, Timestamp};
use vigie_gen::GenParams;
use vigie_store_pg::{PgOptions, StoreUrl};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_postgres_serves_guarded_reads_and_refuses_them_while_the_database_is_down() {
    let cluster = pg::Cluster::start();
    let url = StoreUrl::parse(&cluster.url()).unwrap();
    let as_of = time::macros::date!(2026 - 03 - 02);
    let params = GenParams { seed: 7, persons: 3_000, as_of };
    let report = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || vigie::generate::generate_postgres(&url, &params, false, false))
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(report.persons, 3_000);
    assert_eq!(cluster.psql("vigie", "SELECT count(*) FROM vigie.persons"), "3000");

    let dir = tempfile::Builder::new().prefix("vigie-node-").tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut settings = app::settings(dir.path(), &format!("http://localhost:{port}")).unwrap();
    settings.http.rates = vigie_http::shared::rates::RateSettings::dangerous_unlimited();
    let clock = Arc::new(FixedClock::at(Timestamp::from_date(as_of).plus_millis(12 * 3600 * 1000)));
    let options = PgOptions {
        checkout_timeout: std::time::Duration::from_millis(500),
        ..PgOptions::new(dir.path().join("secrets.key"))
    };
    let node = {
        let (dir, url, clock) = (dir.path().to_path_buf(), url.clone(), clock.clone());
        tokio::task::spawn_blocking(move || vigie::app_pg::open(&dir, None, settings, &url, &options, clock))
            .await
            .unwrap()
            .unwrap()
    };
    tokio::spawn(vigie_http::serve(listener, node.state.clone(), std::future::pending()));

    // An agency advisor with someone in scope, found through the ports.
    let store = node.store.clone();
    let (agent, person) = tokio::task::spawn_blocking(move || {
        (1..10_000u64)
            .filter_map(vigie_core::ids::AgentId::new)
            .map_while(|id| store.agent(id).unwrap())
            .filter(|a| a.active && a.role == Role::Advisor)
            .filter(|a| store.organization(a.org).unwrap().is_some_and(|o| o.kind == OrgKind::Agency && o.active))
            .find_map(|a| {
                let page = store.scope_page(&a, None, 1, as_of).unwrap();
                page.first().map(|(e, _)| (a.clone(), e.id))
            })
            .expect("an advisor with a scope")
    })
    .await
    .unwrap();
    let issued = vigie::credentials::issue(node.store.as_ref(), agent.id).unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let resp = http
        .post(format!("{base}/v1/login"))
        .json(&json!({"login": agent.login.as_str(), "password": issued.password.expose(), "totp": code_at(&issued.totp, clock.now().seconds())}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let token = resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();

    let read = |token: String| {
        let http = http.clone();
        let url = format!("{base}/v1/persons/{person}");
        async move {
            let resp = http.get(url).bearer_auth(token).send().await.unwrap();
            (resp.status(), resp.text().await.unwrap())
        }
    };
    let before = node.ledger.head().count;
    let (status, body) = read(token.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let record: Value = serde_json::from_str(&body).unwrap();
    let name = record["identity"]["last_name"].as_str().unwrap_or("").to_owned();
    assert!(!name.is_empty(), "no name in the record: {body}");
    assert!(node.ledger.head().count > before, "a read served without its ledger entry");

    // The database goes away: guarded reads are refused (503), no record leaves.
    cluster.stop();
    let (status, body) = read(token.clone()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(!body.contains(&name), "a record left while the database was down");

    // Back: the same session reads again.
    cluster.pg_ctl_start();
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        status = read(token.clone()).await.0;
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(status, StatusCode::OK, "not served again once the database was back");
}

/// Runs `vigie` with `args`; (exit success, stdout, stderr).
fn vigie(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(args)
        .env_remove("VIGIE_STORE_URL")
        .env_remove("VIGIE_SECRETS_KEY_FILE")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// How the first administrators of a PostgreSQL deployment get in: the operator's `vigie
/// account enrol` and `reset-credentials` work on the database (`--store`), the link is
/// ledgered in the node's ledger first, and both open the node that then serves: the link's
/// page and a sign-in with the printed credentials. Bad input is one line naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_enrols_and_resets_accounts_on_postgres() {
    let cluster = pg::Cluster::start();
    let url = StoreUrl::parse(&cluster.url()).unwrap();
    let as_of = vigie::app::WallClock.now().date();
    {
        let url = url.clone();
        let params = GenParams { seed: 7, persons: 2_000, as_of };
        tokio::task::spawn_blocking(move || vigie::generate::generate_postgres(&url, &params, false, false))
            .await
            .unwrap()
            .unwrap();
    }
    let dir = tempfile::Builder::new().prefix("vigie-node-").tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let store_url = cluster.url();
    let login = |role: &str| {
        cluster.psql(
            "vigie",
            &format!("SELECT login FROM vigie.agents WHERE role = '{role}' AND active ORDER BY id LIMIT 1"),
        )
    };
    let (officer, advisor) = (login("security_officer"), login("advisor"));
    assert!(!officer.is_empty() && !advisor.is_empty());

    // The officer's enrolment link, from the database, ledgered in the node's ledger.
    let (ok, link, err) = vigie(&[
        "account",
        "enrol",
        "--data-dir",
        &data,
        "--store",
        &store_url,
        "--public-url",
        "http://localhost:8080",
        &officer,
    ]);
    assert!(ok, "{err}");
    let link = link.trim().to_owned();
    assert!(link.starts_with("http://localhost:8080/enrol/"), "{link}");
    let stored = cluster.psql(
        "vigie",
        &format!(
            "SELECT count(*) FROM vigie.enrolments e JOIN vigie.agents a ON a.id = e.agent \
             WHERE a.login = '{officer}' AND e.used_at_ms IS NULL"
        ),
    );
    assert_eq!(stored, "1", "the link is in the database");

    // The advisor's new credentials, printed once.
    let (ok, printed, err) =
        vigie(&["account", "reset-credentials", "--data-dir", &data, "--store", &store_url, &advisor]);
    assert!(ok, "{err}");
    let field = |name: &str| {
        printed
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("no {name} in {printed}"))
    };
    let (password, totp) = (field("password"), field("totp"));

    // Bad input: one line each, nothing done.
    let (ok, _, err) =
        vigie(&["account", "reset-credentials", "--data-dir", &data, "--store", "mysql://x/y", &advisor]);
    assert!(!ok && err.contains("VIGIE_STORE_URL"), "{err}");
    let (ok, _, err) =
        vigie(&["account", "reset-credentials", "--data-dir", &data, "--store", &store_url, "nobody@example.org"]);
    assert!(!ok && err.contains("no account with login nobody@example.org"), "{err}");

    // The keyring rotated on PostgreSQL: every row re-sealed under one new key, the old one
    // retired from the file, and the rotation ledgered. The sign-in below opens the re-sealed
    // secret with the rotated keyring.
    let keys = || cluster.psql("vigie", "SELECT string_agg(DISTINCT totp_key, ',') FROM vigie.credentials");
    let before = keys();
    assert!(!before.is_empty() && !before.contains(','), "{before}");
    let (ok, said, err) = vigie(&["account", "rotate-secrets-key", "--data-dir", &data, "--store", &store_url]);
    assert!(ok, "{err}");
    let after = keys();
    assert!(!after.contains(',') && after != before, "{before} -> {after}");
    assert!(said.contains(&format!("re-sealed under key {after}; retired: {before}")), "{said}");
    let ring = vigie_store::SecretSealer::load(&dir.path().join("secrets.key")).unwrap();
    assert_eq!(ring.key_ids().iter().map(ToString::to_string).collect::<Vec<_>>(), vec![after.clone()]);

    // The node on this data directory and database: the link opens, the credentials sign in.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut settings = app::settings(dir.path(), "http://localhost:8080").unwrap();
    settings.http.rates = vigie_http::shared::rates::RateSettings::dangerous_unlimited();
    let options = PgOptions::new(dir.path().join("secrets.key"));
    let node = {
        let (dir, url) = (dir.path().to_path_buf(), url.clone());
        tokio::task::spawn_blocking(move || {
            vigie::app_pg::open(&dir, None, settings, &url, &options, Arc::new(vigie::app::WallClock))
        })
        .await
        .unwrap()
        .unwrap()
    };
    // With the node serving (it holds the serving lock, though it is in no cluster), the
    // rotation is refused, from an operator's own data directory, and nothing is re-sealed.
    let operator = tempfile::Builder::new().prefix("vigie-operator-").tempdir().unwrap();
    std::fs::set_permissions(operator.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let (operator_dir, ring_file) =
        (operator.path().to_str().unwrap().to_owned(), dir.path().join("secrets.key").to_str().unwrap().to_owned());
    let rotate = || {
        vigie(&[
            "account",
            "rotate-secrets-key",
            "--data-dir",
            &operator_dir,
            "--store",
            &store_url,
            "--secrets-key-file",
            &ring_file,
        ])
    };
    let (ok, _, err) = rotate();
    assert!(
        !ok && err.contains(
            "a node is serving on this database (it holds the serving lock): stop every node before rotating the keyring"
        ),
        "{err}"
    );
    assert_eq!(keys(), after, "nothing re-sealed beside a serving node");
    let ring = vigie_store::SecretSealer::load(&dir.path().join("secrets.key")).unwrap();
    assert_eq!(ring.key_ids().iter().map(ToString::to_string).collect::<Vec<_>>(), vec![after.clone()]);
    let sent = node
        .ledger
        .entries()
        .unwrap()
        .filter_map(|e| vigie_core::security::SecurityEvent::decode(&e.unwrap().body))
        .filter(|e| e.kind == vigie_core::security::SecurityKind::EnrolmentSent)
        .count();
    assert_eq!(sent, 1, "the enrolment link was ledgered in the node's ledger");
    let rotated = node
        .ledger
        .entries()
        .unwrap()
        .filter_map(|e| vigie_core::security::SecurityEvent::decode(&e.unwrap().body))
        .filter(|e| e.kind == vigie_core::security::SecurityKind::SecretsKeyRotated)
        .count();
    assert_eq!(rotated, 1, "the rotation was ledgered in the node's ledger");
    tokio::spawn(vigie_http::serve(listener, node.state.clone(), std::future::pending()));
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let path = link.trim_start_matches("http://localhost:8080");
    let resp = http.get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "the enrolment page");
    // The code from the printed secret, by Debian's oathtool (as an authenticator app would).
    let code = std::process::Command::new("oathtool").args(["--totp", "-b", &totp]).output().unwrap();
    assert!(code.status.success(), "oathtool: {}", String::from_utf8_lossy(&code.stderr));
    let code = String::from_utf8_lossy(&code.stdout).trim().to_owned();
    let resp = http
        .post(format!("{base}/v1/login"))
        .json(&json!({"login": advisor, "password": password, "totp": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{}", resp.text().await.unwrap());

    // The node gone, its serving lock is released: the rotation goes through.
    drop(node);
    let (ok, said, err) = rotate();
    assert!(ok, "{err}");
    assert!(said.contains(&format!("retired: {after}")), "{said}");
    assert_ne!(keys(), after, "re-sealed once no node serves");
}
