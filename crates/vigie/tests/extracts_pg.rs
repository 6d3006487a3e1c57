//! Governed extracts on a node whose store is PostgreSQL, end to end through the API, as
//! `extracts_api.rs` runs them on the embedded store: a subcontractor's advisor asks, cannot
//! approve its own request, a security officer approves with a fresh second factor, the
//! requester produces and downloads, Debian's `age` decrypts through `age-plugin-vigie` (Vigie
//! releases the opening secret, ledgered), the canaries are persons of the PostgreSQL registry
//! that trip the detector, an incident on `extract:X` scopes the file's rows exactly, and the
//! recipient's receipt closes it so the file no longer opens. The server is a throw-away
//! cluster (see `vigie-store-pg/tests/common`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "../../vigie-store-pg/tests/common/mod.rs"]
mod pg;

use std::path::Path;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use vigie::app;
use vigie_core::extract::store::ExtractStore;
use vigie_core::extract::{ExtractId, ExtractState};
use vigie_core::org::{Agent, OrgKind, Role};
use vigie_core::ports::Registry;
use vigie_core::security::SecurityEvent;
use vigie_core::signin::totp::code_at;
use vigie_core::time::{Clock, Timestamp, format_date};
use vigie_gen::GenParams;
use vigie_store_pg::{PgOptions, PgStore, StoreUrl};

/// Debian's `age --decrypt` with Vigie's plugin on its PATH, off the server's threads.
async fn age_decrypt(identity: &Path, file: &Path) -> std::process::Output {
    let plugin_dir = Path::new(env!("CARGO_BIN_EXE_age-plugin-vigie")).parent().unwrap().to_owned();
    let path = format!("{}:{}", plugin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let (identity, file) = (identity.to_owned(), file.to_owned());
    tokio::task::spawn_blocking(move || {
        std::process::Command::new("age")
            .env("PATH", path)
            .arg("-d")
            .arg("-i")
            .arg(identity)
            .arg(file)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// A node on PostgreSQL, serving, and a client for it.
struct Node {
    node: vigie::app_pg::PgApp,
    base: String,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl Node {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, token: &str, path: &str) -> (StatusCode, String) {
        let r = self.http.get(self.url(path)).bearer_auth(token).send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    }

    async fn bytes(&self, token: &str, path: &str) -> (StatusCode, Vec<u8>) {
        let r = self.http.get(self.url(path)).bearer_auth(token).send().await.unwrap();
        (r.status(), r.bytes().await.unwrap().to_vec())
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> (StatusCode, String) {
        let r = self.http.post(self.url(path)).bearer_auth(token).json(&body).send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    }

    fn store(&self) -> &PgStore {
        &self.node.store
    }

    /// The first active agent `pick` accepts, through the registry port.
    fn agent_where(&self, pick: impl Fn(&Agent, OrgKind) -> bool) -> Agent {
        (1..100_000u64)
            .filter_map(vigie_core::ids::AgentId::new)
            .map_while(|id| self.store().agent(id).unwrap())
            .find(|a| a.active && pick(a, self.store().organization(a.org).unwrap().unwrap().kind))
            .expect("such an agent")
    }

    /// Signs in with password and TOTP (a fresh second factor for the elevation window).
    async fn login(&self, agent: &Agent) -> String {
        let issued = vigie::credentials::issue(self.node.store.as_ref(), agent.id).unwrap();
        let code = code_at(&issued.totp, app::WallClock.now().seconds());
        let body = json!({"login": agent.login.as_str(), "password": issued.password.expose(), "totp": code});
        let r = self.http.post(self.url("/v1/login")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
    }

    /// A session opened in process as a passkey sign-in would (officers have no password).
    fn passkey_session(&self, agent: &Agent) -> String {
        use vigie_http::actions::sign_in::{Opening, open_session};
        let org = self.store().organization(agent.org).unwrap().unwrap();
        let ip: std::net::IpAddr = std::net::Ipv4Addr::LOCALHOST.into();
        let client = vigie_http::shared::client::Client {
            ip,
            context: vigie_core::signin::ClientContext::new(ip, ""),
            user_agent: String::new(),
        };
        let opening = Opening { method: "passkey", mfa: true, credential: Some(vec![7; 16]), service: None };
        open_session(&self.node.state, agent, &org, opening, &client).unwrap().access.expose().to_owned()
    }

    fn security_events(&self) -> Vec<SecurityEvent> {
        self.node.ledger.entries().unwrap().filter_map(|e| SecurityEvent::decode(&e.unwrap().body)).collect()
    }

    fn count(&self, kind: &str) -> usize {
        self.security_events().iter().filter(|e| e.kind.as_str() == kind).count()
    }
}

/// A registry of 4 000 persons loaded into a fresh cluster with `COPY`, and a node on it with
/// the server's detector, on the wall clock (the plugin dates its requests by it).
async fn start(cluster: &pg::Cluster) -> Node {
    let url = StoreUrl::parse(&cluster.url()).unwrap();
    let today = app::WallClock.now().date();
    let params = GenParams { seed: 2023, persons: 4_000, as_of: today };
    {
        let url = url.clone();
        tokio::task::spawn_blocking(move || vigie::generate::generate_postgres(&url, &params, false, false))
            .await
            .unwrap()
            .unwrap();
    }
    let dir = tempfile::Builder::new().prefix("vigie-node-").tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut settings = app::settings(dir.path(), &format!("http://localhost:{port}")).unwrap();
    settings.http.rates = vigie_http::shared::rates::RateSettings::dangerous_unlimited();
    let options = PgOptions::new(dir.path().join("secrets.key"));
    let node = {
        let data = dir.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            vigie::app_pg::open(&data, None, settings, &url, &options, Arc::new(app::WallClock))
        })
        .await
        .unwrap()
        .unwrap()
    };
    tokio::spawn(vigie_http::serve(listener, node.state.clone(), std::future::pending()));
    Node { node, base: format!("http://127.0.0.1:{port}"), http: reqwest::Client::new(), dir }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extract_goes_through_its_life_on_a_postgres_node() {
    let cluster = pg::Cluster::start();
    let t = start(&cluster).await;
    let requester = t.agent_where(|a, k| a.role == Role::Advisor && k == OrgKind::Subcontractor);
    let officer = t.agent_where(|a, k| a.role == Role::SecurityOfficer && k == OrgKind::Agency);
    let looker = t.agent_where(|a, k| a.role == Role::Advisor && k == OrgKind::Agency);
    let tok = t.login(&requester).await;
    let tok_officer = t.passkey_session(&officer);

    // The recipient's identity, made by the plugin: its age1vigie1 recipient and receipt key.
    let key_file = t.dir.path().join("vigie-identity.txt");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_age-plugin-vigie"))
        .args(["--generate", "--url", &t.url("")])
        .arg("-o")
        .arg(&key_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let identity = age_plugin_vigie::read_identity(key_file.to_str().unwrap()).unwrap();
    let until = format_date(Timestamp(app::WallClock.now().millis() + 30 * 86_400_000).date());
    let body = json!({
        "purpose": "document_processing", "description": "courriers", "legal_basis": "public_task",
        "relationship": "assignment", "fields": ["identity", "contact"],
        "recipient": identity.recipient().to_string(), "receipt_key": identity.receipt_key(),
        "retain_until": until,
    });

    // Requested (in PostgreSQL), refused to its own requester, approved by an officer.
    let (status, text) = t.post(&tok, "/v1/extracts", body).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let id = serde_json::from_str::<Value>(&text).unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(id, "X1");
    let x: ExtractId = id.parse().unwrap();
    assert_eq!(cluster.psql("vigie", "SELECT state FROM vigie.extracts WHERE id = 1"), "requested");
    let (status, text) = t.post(&tok, &format!("/v1/extracts/{id}/approve"), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(text.contains("your own"), "{text}");
    let (status, text) = t.post(&tok_officer, &format!("/v1/extracts/{id}/approve"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let approved = t.store().extract(x).unwrap().unwrap();
    assert_eq!((approved.state, approved.decided_by), (ExtractState::Approved, Some(officer.id)));

    // Produced: every real row ledgered under the extract's session; the canaries are persons
    // of the registry, marked as canaries of this extract.
    let (status, text) = t.post(&tok, &format!("/v1/extracts/{id}/produce"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let produced: Value = serde_json::from_str(&text).unwrap();
    let rows = produced["rows"].as_u64().unwrap();
    let in_file = produced["rows_in_file"].as_u64().unwrap();
    let stored = t.store().extract(x).unwrap().unwrap();
    assert_eq!(stored.state, ExtractState::Produced);
    assert_eq!(stored.rows, Some(rows));
    let canaries = stored.canaries.unwrap();
    assert!(rows > 20 && canaries >= 8 && in_file == rows + canaries, "{text}");
    let persons = t.store().count_extract_persons(stored.org, stored.relationship, stored.created_at.date()).unwrap();
    assert_eq!(rows, persons, "every person the subcontractor is assigned, once");
    let placed = t.store().extract_canaries().unwrap();
    assert_eq!(placed.len() as u64, canaries);
    assert!(placed.iter().all(|(_, of)| *of == x));
    let registry_canaries: std::collections::HashSet<_> = t.store().canaries().unwrap().into_iter().collect();
    let mut canary_names = Vec::new();
    for (p, _) in &placed {
        assert!(p.get() > 4_000, "numbered after the registry's persons: {p}");
        assert!(registry_canaries.contains(p), "{p} is a canary of the registry");
        canary_names.push(t.store().person(*p).unwrap().unwrap().last_name);
    }
    let produced_event = t.security_events().into_iter().find(|e| e.kind.as_str() == "extract.produced").unwrap();
    let detail = |k: &str| produced_event.details.iter().find(|(d, _)| d == k).map(|(_, v)| v.clone());
    assert_eq!(detail("entries"), Some(rows.to_string()), "one access entry per real row");

    // Downloaded, the manifest checked, decrypted by Debian's age through the plugin.
    let (status, cipher) = t.bytes(&tok, &format!("/v1/extracts/{id}/files/{id}.csv.age")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, manifest) = t.bytes(&tok, &format!("/v1/extracts/{id}/files/manifest.json")).await;
    let (_, sig) = t.bytes(&tok, &format!("/v1/extracts/{id}/files/manifest.json.sig")).await;
    let signing_key = produced["signing_key"].as_str().unwrap();
    assert!(vigie_extract::manifest::verify_manifest(&manifest, &String::from_utf8(sig).unwrap(), signing_key));
    let m: Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(m["rows"].as_u64(), Some(in_file));
    assert!(t.store().extract(x).unwrap().unwrap().downloaded_at.is_some(), "the hand-over is noted");
    let file = t.dir.path().join("got.age");
    std::fs::write(&file, &cipher).unwrap();
    let out = age_decrypt(&key_file, &file).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plain = String::from_utf8(out.stdout).unwrap();
    assert!(plain.starts_with("ref,last_name,first_name,birth_date,"), "{}", &plain[..80]);
    assert_eq!(plain.lines().count() as u64 - 1, in_file);
    for name in &canary_names {
        assert!(plain.contains(name.as_str()), "canary {name} is in the file");
    }
    assert_eq!(t.count("extract.opened"), 1, "the opening is ledgered");

    // "The subcontractor's server leaked": an incident on this extract alone is accepted, and
    // scopes exactly its real rows.
    let now = app::WallClock.now();
    let window = json!({
        "title": "Serveur du prestataire",
        "from": Timestamp(now.millis() - 3_600_000).to_string(),
        "to": Timestamp(now.millis() + 60_000).to_string(),
        "extracts": [id],
    });
    let (status, text) = t.post(&tok_officer, "/v1/incidents", window).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    assert!(text.contains(&format!("extract:{id}")), "{text}");
    let incident = serde_json::from_str::<Value>(&text).unwrap()["id"].as_str().unwrap().to_owned();
    let (status, text) = t.post(&tok_officer, &format!("/v1/incidents/{incident}/scope"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let scope: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(scope["counts"]["persons"].as_u64(), Some(rows), "{text}");
    // An extract that was never produced is refused as a selector.
    let (status, text) = t
        .post(&tok_officer, "/v1/incidents", json!({"title": "t", "from": now.to_string(), "to": Timestamp(now.millis() + 1).to_string(), "extracts": ["X2"]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("no extract X2 was produced"), "{text}");

    // The recipient's deletion receipt closes it: the file no longer opens.
    let receipt = vigie_extract::manifest::Receipt {
        format: vigie_extract::manifest::RECEIPT_FORMAT.into(),
        extract: id.clone(),
        ciphertext_sha256: m["ciphertext_sha256"].as_str().unwrap().to_owned(),
        deleted_at: "2026-12-07T12:00:00Z".into(),
        statement: "supprimé".into(),
    };
    let (doc, signature) = receipt.sign(identity.signing_key()).unwrap();
    let doc = String::from_utf8(doc).unwrap();
    let (status, text) =
        t.post(&tok, &format!("/v1/extracts/{id}/receipt"), json!({"receipt": doc, "signature": signature})).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(cluster.psql("vigie", "SELECT state FROM vigie.extracts WHERE id = 1"), "deleted");
    let out = age_decrypt(&key_file, &file).await;
    assert!(!out.status.success(), "a deleted extract still opened");
    assert!(String::from_utf8_lossy(&out.stderr).contains("confirmed the deletion"));

    // A canary looked up later (someone holding the file turning it into identifiers): the
    // detector, told of the canaries by this node, suspends the account and names the extract.
    let c = t.store().person(placed[0].0).unwrap().unwrap();
    let tok_looker = t.login(&looker).await;
    let lookup = json!({"ft_id": c.ft_id.as_str(), "birth_date": format_date(c.birth_date)});
    let (status, text) = t.post(&tok_looker, "/v1/lookup", lookup).await;
    assert_ne!(status, StatusCode::OK, "{text}");
    let (_, alerts) = t.get(&tok_officer, "/v1/alerts").await;
    assert!(alerts.contains(&format!("extract={id}")), "the alert names the extract: {alerts}");
    assert!(alerts.contains("extract_open_refused"), "the refused opening is an alert: {alerts}");
    let (status, _) = t.get(&tok_looker, "/v1/me").await;
    assert_ne!(status, StatusCode::OK, "the looker's session is ended");

    let kinds: Vec<String> = t.security_events().iter().map(|e| e.kind.as_str().to_owned()).collect();
    for k in [
        "extract.requested",
        "extract.decision_refused",
        "extract.approved",
        "extract.production_started",
        "extract.produced",
        "extract.downloaded",
        "extract.opened",
        "extract.deleted",
        "extract.open_refused",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }
}
