//! Credentials, the TOTP replay guard and sessions (the AccountStore port).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::*;
use vigie_core::ports::{AccountStore, Credentials, NewSession};
use vigie_core::signin::{PasswordHash, TotpSecret};
use vigie_core::time::Timestamp;
use vigie_store::Store;

fn world() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = small_world(dir.path());
    (dir, store)
}

fn credentials(password: &str, secret: u8) -> Credentials {
    Credentials { password: PasswordHash(password.into()), totp: TotpSecret::from_bytes(&[secret; 20]).unwrap() }
}

#[test]
fn agents_by_login() {
    let (_dir, store) = world();
    let found = store.agent_by_login(&"agent7@org4".parse().unwrap()).unwrap().unwrap();
    assert_eq!(found.id, a(7));
    assert_eq!(store.agent_by_login(&"nobody@org4".parse().unwrap()).unwrap(), None);
}

#[test]
fn credentials_are_set_read_and_replaced() {
    let (_dir, store) = world();
    assert!(store.credentials(a(1)).unwrap().is_none());
    store.set_credentials(a(1), &credentials("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", 1)).unwrap();
    let c = store.credentials(a(1)).unwrap().unwrap();
    assert_eq!(c.password.0, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA");
    assert_eq!(c.totp.as_bytes(), &[1; 20]);
    // Debug never shows the secrets.
    let shown = format!("{c:?}");
    assert!(!shown.contains("argon2id") && !shown.contains("[1, 1"), "{shown}");

    store.set_credentials(a(1), &credentials("$argon2id$new", 2)).unwrap();
    let c = store.credentials(a(1)).unwrap().unwrap();
    assert_eq!((c.password.0.as_str(), c.totp.as_bytes()), ("$argon2id$new", &[2u8; 20][..]));
    assert!(store.set_password(a(1), &PasswordHash("$argon2id$rehashed".into())).unwrap());
    assert_eq!(store.credentials(a(1)).unwrap().unwrap().password.0, "$argon2id$rehashed");
    assert!(!store.set_password(a(2), &PasswordHash("x".into())).unwrap());

    let e = store.set_credentials(a(999), &credentials("x", 3)).unwrap_err();
    assert!(e.to_string().contains("A999"), "{e}");
}

#[test]
fn a_totp_step_is_accepted_once_and_never_an_older_one() {
    let (_dir, store) = world();
    assert!(!store.consume_totp_step(a(1), 100).unwrap(), "no credentials");
    store.set_credentials(a(1), &credentials("h", 1)).unwrap();
    assert_eq!(store.totp_last_step(a(1)).unwrap(), None);
    assert!(store.consume_totp_step(a(1), 100).unwrap());
    assert!(!store.consume_totp_step(a(1), 100).unwrap(), "replay");
    assert!(!store.consume_totp_step(a(1), 99).unwrap(), "older step");
    assert!(store.consume_totp_step(a(1), 101).unwrap());
    assert_eq!(store.totp_last_step(a(1)).unwrap(), Some(101));
    // Changing the secrets keeps the replay guard.
    store.set_credentials(a(1), &credentials("h2", 2)).unwrap();
    assert!(!store.consume_totp_step(a(1), 101).unwrap());
}

#[test]
fn a_totp_step_race_has_one_winner() {
    let (_dir, store) = world();
    store.set_credentials(a(1), &credentials("h", 1)).unwrap();
    let store = std::sync::Arc::new(store);
    for step in 1..=20 {
        let winners: usize = (0..4)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || store.consume_totp_step(a(1), step).unwrap())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| usize::from(h.join().unwrap()))
            .sum();
        assert_eq!(winners, 1, "step {step}");
    }
}

fn new_session(token: u8, agent_n: u64, created: i64, ttl: i64) -> NewSession {
    NewSession {
        token_hash: [token; 32],
        agent: a(agent_n),
        created_at: Timestamp(created),
        expires_at: Timestamp(created + ttl),
        mfa: true,
        source: "192.0.2.7".into(),
        user_agent: "Firefox".into(),
    }
}

#[test]
fn sessions_live_until_they_expire_or_end() {
    let (_dir, store) = world();
    let t0 = 1_770_000_000_000;
    let id1 = store.create_session(&new_session(1, 1, t0, 60_000)).unwrap();
    let id2 = store.create_session(&new_session(2, 1, t0, 3_600_000)).unwrap();
    let id3 = store.create_session(&new_session(3, 2, t0, 3_600_000)).unwrap();
    assert!(id1 != id2 && id2 != id3);

    let s = store.session(&[1; 32], Timestamp(t0 + 1)).unwrap().unwrap();
    assert_eq!(
        (s.id, s.agent, s.mfa, s.source.as_str(), s.user_agent.as_str()),
        (id1, a(1), true, "192.0.2.7", "Firefox")
    );
    assert_eq!((s.created_at, s.expires_at), (Timestamp(t0), Timestamp(t0 + 60_000)));
    assert!(store.session(&[9; 32], Timestamp(t0)).unwrap().is_none(), "unknown token");
    // Expiry is exclusive and checked at read, before any purge.
    assert!(store.session(&[1; 32], Timestamp(t0 + 59_999)).unwrap().is_some());
    assert!(store.session(&[1; 32], Timestamp(t0 + 60_000)).unwrap().is_none());
    assert!(!store.touch_session(&[1; 32], Timestamp(t0 + 60_000)).unwrap());

    assert!(store.touch_session(&[2; 32], Timestamp(t0 + 5_000)).unwrap());
    assert_eq!(store.session_last_seen(&[2; 32], Timestamp(t0 + 5_000)).unwrap(), Some(Timestamp(t0 + 5_000)));

    assert_eq!(store.purge_expired_sessions(Timestamp(t0 + 60_000)).unwrap(), 1);
    store.end_session(&[2; 32]).unwrap();
    assert!(store.session(&[2; 32], Timestamp(t0)).unwrap().is_none());
    store.end_session(&[2; 32]).unwrap(); // already ended: not an error

    store.create_session(&new_session(4, 2, t0, 3_600_000)).unwrap();
    assert_eq!(store.end_sessions_of(a(2)).unwrap(), 2);
    assert!(store.session(&[3; 32], Timestamp(t0)).unwrap().is_none());

    // Ids are never reused, even after deleting the newest session.
    let id5 = store.create_session(&new_session(5, 1, t0, 1)).unwrap();
    store.end_session(&[5; 32]).unwrap();
    let id6 = store.create_session(&new_session(6, 1, t0, 1)).unwrap();
    assert!(id6.0 > id5.0);

    assert!(store.create_session(&new_session(7, 999, t0, 1)).is_err(), "unknown agent");
    assert!(store.create_session(&new_session(6, 1, t0, 1)).is_err(), "same token twice");
}
