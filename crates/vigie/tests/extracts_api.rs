//! Governed extracts through the API: a partner asks, the same person cannot approve, an officer
//! approves with a fresh second factor, the requester produces and downloads, Debian's `age`
//! decrypts through `age-plugin-vigie` (Vigie releases the opening secret, ledgered), the
//! recipient's receipt closes it and the file no longer opens; refusals are problem+json naming
//! the problem.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test binary: failing loudly is the point"
)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use vigie_core::org::{OrgKind, Role};
use vigie_core::time::{Clock, Timestamp, format_date};

/// Debian's `age --decrypt` with Vigie's plugin on its PATH, off the server's threads.
async fn age_decrypt(identity: &std::path::Path, file: &std::path::Path) -> std::process::Output {
    let plugin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_age-plugin-vigie")).parent().unwrap().to_owned();
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

async fn post_anon(t: &TestApp, path: &str, body: Value) -> (StatusCode, String) {
    let r = t.post(path, body).await;
    (r.status(), r.text().await.unwrap())
}

async fn bytes(t: &TestApp, token: &str, path: &str) -> (StatusCode, Vec<u8>) {
    let r = reqwest::Client::new().get(t.url(path)).bearer_auth(token).send().await.unwrap();
    (r.status(), r.bytes().await.unwrap().to_vec())
}

on_both_stores!(an_extract_goes_through_its_life_over_the_api);

async fn an_extract_goes_through_its_life_over_the_api(backend: Backend) {
    // The wall clock: the plugin dates its requests by it, and Vigie refuses a stale one.
    let t = Setup::new().store(backend).on(today()).wall_clock().persons(4_000).server_detector().start().await;
    let requester = t.agent_where(|a, o| a.role == Role::Advisor && o.kind == OrgKind::Subcontractor);
    let other = t.agent_where(|a, o| a.role == Role::Advisor && o.kind == OrgKind::TrainingOrg);
    let officer = t.agent_where(|a, o| a.role == Role::SecurityOfficer && o.kind == OrgKind::Agency);
    let tok = t.login(&requester).await;
    let tok_other = t.login(&other).await;
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
    let recipient = identity.recipient().to_string();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&recipient));
    let signing = identity.signing_key().clone();
    let receipt_key = identity.receipt_key();
    let until = format_date(Timestamp(t.now().millis() + 30 * 86_400_000).date());
    let body = json!({
        "purpose": "document_processing", "description": "courriers", "legal_basis": "public_task",
        "relationship": "assignment", "fields": ["identity", "contact"], "recipient": recipient,
        "receipt_key": receipt_key, "retain_until": until,
    });

    // Bad input: over-broad, a bad key, an unknown field, a malformed id.
    let mut broad = body.clone();
    broad["fields"] = json!(["identity", "nir"]);
    let (status, text) = t.post_auth(&tok, "/v1/extracts", broad).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(text.contains("does not allow nir"), "{text}");
    let mut bad_key = body.clone();
    bad_key["recipient"] = json!("age1bogus");
    let (status, text) = t.post_auth(&tok, "/v1/extracts", bad_key).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(text.contains("age X25519 public key"), "{text}");
    // A plain age key would open the file offline, forever: refused unless the deployment says so.
    let mut offline = body.clone();
    offline["recipient"] = json!("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p");
    let (status, text) = t.post_auth(&tok, "/v1/extracts", offline).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(text.contains("insecure_offline_recipients"), "{text}");
    let mut unknown = body.clone();
    unknown["rows"] = json!(10);
    let (status, text) = t.post_auth(&tok, "/v1/extracts", unknown).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("rows"), "{text}");
    let (status, text) = t.get(&tok, "/v1/extracts/X0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(problem_type(&text).ends_with("invalid-request"), "{text}");

    // The request, then approvals: not by oneself, by an officer.
    let (status, text) = t.post_auth(&tok, "/v1/extracts", body).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let x: Value = serde_json::from_str(&text).unwrap();
    let id = x["id"].as_str().unwrap().to_owned();
    assert_eq!(x["state"], "requested");
    let (status, text) = t.post_auth(&tok, &format!("/v1/extracts/{id}/produce"), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    let (status, text) = t.post_auth(&tok, &format!("/v1/extracts/{id}/approve"), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(text.contains("your own"), "{text}");
    let (status, text) = t.post_auth(&tok_officer, &format!("/v1/extracts/{id}/approve"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    // Another organization does not see it.
    let (_, text) = t.get(&tok_other, "/v1/extracts").await;
    assert!(!text.contains(&id), "{text}");
    let (status, _) = t.get(&tok_other, &format!("/v1/extracts/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Produced, downloaded, decrypted by age, the manifest checked.
    let (status, text) = t.post_auth(&tok, &format!("/v1/extracts/{id}/produce"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let produced: Value = serde_json::from_str(&text).unwrap();
    let signing_key = produced["signing_key"].as_str().unwrap().to_owned();
    let (status, cipher) = bytes(&t, &tok, &format!("/v1/extracts/{id}/files/{id}.csv.age")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, manifest) = bytes(&t, &tok, &format!("/v1/extracts/{id}/files/manifest.json")).await;
    let (_, sig) = bytes(&t, &tok, &format!("/v1/extracts/{id}/files/manifest.json.sig")).await;
    assert!(vigie_extract::manifest::verify_manifest(&manifest, &String::from_utf8(sig).unwrap(), &signing_key));
    let (status, _) = bytes(&t, &tok_other, &format!("/v1/extracts/{id}/files/{id}.csv.age")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another organization's agent gets nothing");
    let (status, _) = bytes(&t, &tok, &format!("/v1/extracts/{id}/files/..%2Fvigie.db")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "files are served by name only");
    let file = t.dir.path().join("got.age");
    std::fs::write(&file, &cipher).unwrap();
    let m: Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(m["opens_with"], "age-plugin-vigie, until expires_on");
    let opened_before = t.security_events().iter().filter(|e| e.kind.as_str() == "extract.opened").count();
    let out = age_decrypt(&key_file, &file).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plain = String::from_utf8(out.stdout).unwrap();
    let opened = t.security_events().iter().filter(|e| e.kind.as_str() == "extract.opened").count();
    assert_eq!(opened, opened_before + 1, "the opening is ledgered");
    // The stanza holds no plain X25519 recipient: the recipient's key alone does not open it.
    let header = String::from_utf8_lossy(&cipher[..cipher.len().min(400)]).to_string();
    assert!(header.contains("-> vigie "), "{header}");
    assert!(!header.contains("-> X25519"), "{header}");

    // The opening endpoint: another key's signature, an address that does not match, a replay.
    let other_id = vigie_seal::Identity::generate(&t.url("")).unwrap();
    let now = vigie::app::WallClock.now().to_string();
    let forged = vigie_seal::OpenRequest::new(&other_id, &id, &now);
    let (status, text) =
        post_anon(&t, &format!("/v1/extracts/{id}/open"), serde_json::to_value(&forged).unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(text.contains("does not verify"), "{text}");
    let good = vigie_seal::OpenRequest::new(&identity, &id, &now);
    let (status, text) = post_anon(&t, "/v1/extracts/X999/open", serde_json::to_value(&good).unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let (status, text) = post_anon(&t, &format!("/v1/extracts/{id}/open"), serde_json::to_value(&good).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let reply: vigie_seal::OpenReply = serde_json::from_str(&text).unwrap();
    assert!(reply.open(&good, &other_id).is_err(), "the reply opens for its recipient only");
    reply.open(&good, &identity).unwrap();
    let (status, text) = post_anon(&t, &format!("/v1/extracts/{id}/open"), serde_json::to_value(&good).unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(text.contains("replay"), "{text}");
    let stale = vigie_seal::OpenRequest::new(&identity, &id, "2020-01-01T00:00:00Z");
    let (status, text) = post_anon(&t, &format!("/v1/extracts/{id}/open"), serde_json::to_value(&stale).unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(text.contains("check the clock"), "{text}");
    assert!(
        plain
            .starts_with("ref,last_name,first_name,birth_date,birth_place,sex,email,phone,street,postcode,commune\r\n"),
        "{}",
        &plain[..200]
    );
    assert_eq!(plain.lines().count() as u64 - 1, produced["rows_in_file"].as_u64().unwrap());

    // "The subcontractor's server leaked": an incident on this extract alone.
    let window = |extracts: Value| {
        json!({
            "title": "Serveur du prestataire",
            "from": Timestamp(t.now().millis() - 3_600_000).to_string(),
            "to": t.now().to_string(),
            "extracts": extracts,
        })
    };
    let (status, text) = t.post_auth(&tok_officer, "/v1/incidents", window(json!(["X0"]))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("extracts"), "{text}");
    let (status, text) = t.post_auth(&tok_officer, "/v1/incidents", window(json!([id]))).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    assert!(text.contains(&format!("extract:{id}")), "{text}");

    // The receipt: forged, then the recipient's.
    let receipt = vigie_extract::manifest::Receipt {
        format: vigie_extract::manifest::RECEIPT_FORMAT.into(),
        extract: id.clone(),
        ciphertext_sha256: m["ciphertext_sha256"].as_str().unwrap().to_owned(),
        deleted_at: "2026-12-07T12:00:00Z".into(),
        statement: "supprimé".into(),
    };
    let (doc, forged) = receipt.sign(&ed25519_dalek::SigningKey::from_bytes(&[6; 32])).unwrap();
    let doc = String::from_utf8(doc).unwrap();
    let (status, text) =
        t.post_auth(&tok, &format!("/v1/extracts/{id}/receipt"), json!({"receipt": doc, "signature": forged})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(text.contains("signature does not verify"), "{text}");
    let (_, good) = receipt.sign(&signing).unwrap();
    let (status, text) =
        t.post_auth(&tok, &format!("/v1/extracts/{id}/receipt"), json!({"receipt": doc, "signature": good})).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("\"state\":\"deleted\""), "{text}");
    // Deleted, says the recipient: the file no longer opens, and the attempt is an alert.
    let out = age_decrypt(&key_file, &file).await;
    assert!(!out.status.success(), "a deleted extract still opened");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no longer opens"), "{err}");
    assert!(err.contains("confirmed the deletion"), "{err}");

    // A canary of the extract looked up later (someone holding the file, or a copy, turning it
    // into identifiers): the account is suspended and the alert names the extract.
    let (canary, of) = t.store.extract_canaries().unwrap()[0];
    assert_eq!(of.to_string(), id);
    let c = t.store.person(canary).unwrap().unwrap();
    let looker = t.agent_where(|a, o| a.role == Role::Advisor && o.kind == OrgKind::Agency);
    let tok_looker = t.login(&looker).await;
    let (status, text) = t
        .post_auth(
            &tok_looker,
            "/v1/lookup",
            json!({"ft_id": c.ft_id.as_str(), "birth_date": format_date(c.birth_date)}),
        )
        .await;
    assert_ne!(status, StatusCode::OK, "{text}");
    let (_, alerts) = t.get(&tok_officer, "/v1/alerts").await;
    assert!(alerts.contains(&format!("extract={id}")), "the alert names the extract: {alerts}");
    let (status, _) = t.get(&tok_looker, "/v1/me").await;
    assert_ne!(status, StatusCode::OK, "the looker's session is ended");

    // Each step is in the ledger.
    let kinds: Vec<String> = t.security_events().iter().map(|e| e.kind.as_str().to_owned()).collect();
    assert!(alerts.contains("extract_open_refused"), "the refused opening is an alert: {alerts}");
    for k in [
        "extract.requested",
        "extract.approved",
        "extract.produced",
        "extract.downloaded",
        "extract.opened",
        "extract.deleted",
        "extract.open_refused",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }
    // Attribution is for officers.
    let (status, _) = t.post_auth(&tok, "/v1/extracts/attribute", json!({"csv": "a,b\n"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
