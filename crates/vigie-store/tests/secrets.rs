//! Second-factor secrets at rest: a copy of `vigie.db` alone gives nobody's TOTP secret, a
//! database written before sealing is sealed (and scrubbed) when opened, a rotation re-seals
//! under a new key and retires the old one, and a sealed secret moved to another row or a
//! keyring that does not match is refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::path::Path;

use common::*;
use sha2::{Digest, Sha256};
use vigie_core::ports::{AccountStore, Credentials};
use vigie_core::signin::{PasswordHash, TotpSecret};
use vigie_core::time::Timestamp;
use vigie_store::{OpenOptions, SECRETS_KEY_FILE, Store};

/// A secret no SQLite page holds by chance: 20 bytes of SHA-256 of a label.
fn secret(label: &str) -> TotpSecret {
    TotpSecret::from_bytes(&Sha256::digest(label.as_bytes())[..20]).unwrap()
}

fn credentials(label: &str) -> Credentials {
    Credentials { password: PasswordHash("$argon2id$v=19$x".into()), totp: secret(label) }
}

/// Every encoding of the secret the code and the tools around it use: the raw bytes, base32
/// (what `vigie account reset-credentials` prints and the otpauth URI carries) in both cases,
/// hex and base64.
fn encodings(s: &TotpSecret) -> Vec<Vec<u8>> {
    use base64::Engine;
    let b32 = s.to_base32();
    vec![
        s.as_bytes().to_vec(),
        b32.clone().into_bytes(),
        b32.to_lowercase().into_bytes(),
        hex::encode(s.as_bytes()).into_bytes(),
        hex::encode_upper(s.as_bytes()).into_bytes(),
        base64::engine::general_purpose::STANDARD.encode(s.as_bytes()).into_bytes(),
    ]
}

/// The bytes of the database and its sidecar files, as a copy of them would hold.
fn raw_database(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for name in ["vigie.db", "vigie.db-wal", "vigie.db-shm"] {
        if let Ok(bytes) = std::fs::read(dir.join(name)) {
            all.extend(bytes);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Which of the secrets appear in the bytes, in which encoding (every window of each needle
/// length hashed once, so that hundreds of secrets are looked for in one pass each).
fn found(bytes: &[u8], labels: &[&str]) -> Vec<String> {
    let mut windows: std::collections::HashMap<usize, std::collections::HashSet<&[u8]>> = Default::default();
    let mut out = Vec::new();
    for label in labels {
        for (i, e) in encodings(&secret(label)).iter().enumerate() {
            let set = windows.entry(e.len()).or_insert_with(|| bytes.windows(e.len()).collect());
            if set.contains(e.as_slice()) {
                out.push(format!("{label} (encoding {i})"));
            }
        }
    }
    out
}

#[test]
fn a_copy_of_the_database_alone_holds_no_totp_secret() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_world(dir.path());
    let labels: Vec<String> = (1..=12).map(|n| format!("agent {n}")).collect();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    for (n, label) in (1..=12).zip(&labels) {
        store.set_credentials(a(n), &credentials(label), Some(Timestamp(1))).unwrap();
    }
    // A reset replaces a secret: the old one must not linger either.
    store.set_credentials(a(1), &credentials("agent 1, reset"), Some(Timestamp(2))).unwrap();
    assert_eq!(store.credentials(a(1)).unwrap().unwrap().totp, secret("agent 1, reset"));
    assert_eq!(store.credentials(a(5)).unwrap().unwrap().totp, secret("agent 5"));
    let mut all = labels.clone();
    all.push("agent 1, reset");

    // The search finds what is there: a person's NIR is stored in clear.
    let nir = nir_of(1).as_str().to_owned();
    let while_open = raw_database(dir.path());
    assert!(contains(&while_open, nir.as_bytes()), "the search would see a clear value");
    assert_eq!(found(&while_open, &all), Vec::<String>::new(), "while the server runs (database and WAL)");
    drop(store);
    let closed = raw_database(dir.path());
    assert!(contains(&closed, nir.as_bytes()));
    assert_eq!(found(&closed, &all), Vec::<String>::new(), "after a clean stop");

    // The keyring, kept apart, is what opens them.
    assert!(dir.path().join(SECRETS_KEY_FILE).exists());
    let again = Store::open(dir.path()).unwrap();
    assert_eq!(again.credentials(a(12)).unwrap().unwrap().totp, secret("agent 12"));
}

#[test]
fn secrets_written_in_clear_before_sealing_are_sealed_and_scrubbed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    drop(small_world(dir.path()));
    // What an earlier Vigie wrote: clear secrets, one replaced by a reset, and many rows deleted
    // (agents that never existed, foreign keys off): without secure_delete SQLite
    // leaves the bytes of deleted rows in free space and in the pages it frees, where no row
    // points at them any more and no update of a live row reaches them.
    {
        let conn = rusqlite::Connection::open(dir.path().join("vigie.db")).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
        let put = "INSERT INTO credentials (agent, password_hash, totp_secret) VALUES (?1, 'h', ?2) \
                   ON CONFLICT (agent) DO UPDATE SET totp_secret = excluded.totp_secret";
        for (n, label) in [(1, "old 1"), (2, "old 2"), (1, "old 1, reset"), (3, "old 3")] {
            conn.execute(put, (n, secret(label).as_bytes())).unwrap();
        }
        for n in 1000..1400 {
            conn.execute(put, (n, secret(&format!("gone {n}")).as_bytes())).unwrap();
        }
        conn.execute("DELETE FROM credentials WHERE agent >= 1000", []).unwrap();
    }
    let gone: Vec<String> = (1000..1400).map(|n| format!("gone {n}")).collect();
    let mut labels = vec!["old 1", "old 2", "old 1, reset", "old 3"];
    labels.extend(gone.iter().map(String::as_str));
    let before = found(&raw_database(dir.path()), &labels);
    assert!(before.len() > 100, "the deleted rows' secrets are still in the file: {}", before.len());

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.credentials(a(1)).unwrap().unwrap().totp, secret("old 1, reset"));
    assert_eq!(store.credentials(a(3)).unwrap().unwrap().totp, secret("old 3"));
    assert_eq!(found(&raw_database(dir.path()), &labels), Vec::<String>::new(), "none left, even a deleted one");
    drop(store);
    assert_eq!(found(&raw_database(dir.path()), &labels), Vec::<String>::new());
}

#[test]
fn a_rotation_reseals_under_a_new_key_and_retires_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_world(dir.path());
    for n in 1..=4 {
        store.set_credentials(a(n), &credentials(&format!("r{n}")), None).unwrap();
    }
    let keyring = dir.path().join(SECRETS_KEY_FILE);
    let before = std::fs::read_to_string(&keyring).unwrap();
    let saved = dir.path().join("old.key");
    std::fs::copy(&keyring, &saved).unwrap();
    // Every ciphertext the retiring key has sealed here: the current ones, and those of resets
    // (a replaced row's bytes stay in the page's free space).
    let read = || -> Vec<Vec<u8>> {
        let conn = rusqlite::Connection::open(dir.path().join("vigie.db")).unwrap();
        let mut stmt = conn.prepare("SELECT totp_secret FROM credentials").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    let mut old_ciphertexts = read();
    for round in 0..20 {
        store.set_credentials(a(6), &credentials(&format!("reset {round}")), None).unwrap();
        old_ciphertexts.extend(read());
    }
    assert!(contains(&raw_database(dir.path()), &old_ciphertexts[0]), "the search sees a ciphertext");

    let rotation = store.rotate_secrets_key().unwrap();
    assert_eq!(rotation.resealed, 5);
    assert_eq!(rotation.retired.len(), 1);
    assert!(before.contains(&rotation.retired[0].to_string()));
    let after = std::fs::read_to_string(&keyring).unwrap();
    assert!(after.contains(&rotation.key.to_string()));
    assert!(!after.contains(&rotation.retired[0].to_string()), "the old key is retired:\n{after}");
    for n in 1..=4 {
        assert_eq!(store.credentials(a(n)).unwrap().unwrap().totp, secret(&format!("r{n}")), "A{n}");
    }
    // None of the ciphertexts the retired key opens is left in the file.
    let raw = raw_database(dir.path());
    assert!(old_ciphertexts.iter().all(|c| !contains(&raw, c)), "an old ciphertext survived the rotation");
    // New secrets are sealed under the new key too.
    store.set_credentials(a(5), &credentials("r5"), None).unwrap();
    drop(store);
    let keys: Vec<String> = {
        let conn = rusqlite::Connection::open(dir.path().join("vigie.db")).unwrap();
        let mut stmt = conn.prepare("SELECT DISTINCT totp_key FROM credentials").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(keys, vec![rotation.key.to_string()]);

    // The retired keyring opens nothing any more: the store refuses it, naming both keys.
    let options = OpenOptions { secrets_key_file: Some(saved.clone()), ..OpenOptions::default() };
    let e = Store::open_with(dir.path(), &options).unwrap_err().to_string();
    assert!(e.contains(&rotation.key.to_string()) && e.contains("old.key"), "{e}");
    let reopened = Store::open(dir.path()).unwrap();
    assert_eq!(reopened.credentials(a(5)).unwrap().unwrap().totp, secret("r5"));
}

#[test]
fn a_sealed_secret_moved_to_another_row_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_world(dir.path());
    store.set_credentials(a(1), &credentials("mine"), None).unwrap();
    store.set_credentials(a(2), &credentials("theirs"), None).unwrap();
    drop(store);
    {
        let conn = rusqlite::Connection::open(dir.path().join("vigie.db")).unwrap();
        conn.execute(
            "UPDATE credentials SET (totp_secret, totp_key) = (SELECT totp_secret, totp_key FROM credentials \
             WHERE agent = 1) WHERE agent = 2",
            [],
        )
        .unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.credentials(a(1)).unwrap().unwrap().totp, secret("mine"));
    let e = store.credentials(a(2)).unwrap_err().to_string();
    assert!(e.contains("A2") && e.contains("moved from another row"), "{e}");
}

#[test]
fn a_missing_keyring_is_refused_rather_than_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_world(dir.path());
    store.set_credentials(a(1), &credentials("kept"), None).unwrap();
    drop(store);
    std::fs::rename(dir.path().join(SECRETS_KEY_FILE), dir.path().join("elsewhere.key")).unwrap();
    let e = Store::open(dir.path()).unwrap_err().to_string();
    assert!(e.contains(SECRETS_KEY_FILE) && e.contains("restore it"), "{e}");
    assert!(!e.contains('\n'), "one line: {e}");
    assert!(!dir.path().join(SECRETS_KEY_FILE).exists(), "no new key was made up");
    // Pointed at where it is, the store opens.
    let options = OpenOptions { secrets_key_file: Some(dir.path().join("elsewhere.key")), ..OpenOptions::default() };
    let store = Store::open_with(dir.path(), &options).unwrap();
    assert_eq!(store.credentials(a(1)).unwrap().unwrap().totp, secret("kept"));
}

/// Two processes on one database (the server, and an operator's `vigie account` command), both
/// started before any keyring existed: the first secret sealed creates it, the other process
/// seals under the same key rather than replacing the file, and each opens the other's rows.
#[test]
fn two_processes_sealing_their_first_secret_share_one_keyring() {
    let dir = tempfile::tempdir().unwrap();
    drop(small_world(dir.path()));
    let server = Store::open(dir.path()).unwrap();
    let command = Store::open(dir.path()).unwrap();
    command.set_credentials(a(1), &credentials("by the command"), None).unwrap();
    server.set_credentials(a(2), &credentials("by the server"), None).unwrap();
    assert_eq!(server.credentials(a(1)).unwrap().unwrap().totp, secret("by the command"));
    assert_eq!(command.credentials(a(2)).unwrap().unwrap().totp, secret("by the server"));
    let keyring = std::fs::read_to_string(dir.path().join(SECRETS_KEY_FILE)).unwrap();
    assert_eq!(keyring.lines().filter(|l| !l.starts_with('#')).count(), 1, "{keyring}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
