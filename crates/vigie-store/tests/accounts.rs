//! Credentials, the TOTP replay guard and sessions (the AccountStore port).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::*;
use vigie_core::lifecycle::OrgFreeze;
use vigie_core::ports::{AccountStore, Credentials, NewSession, SignInContext, StoredPasskey};
use vigie_core::signin::ClientContext;
use vigie_core::signin::UaFamily;
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
    store
        .set_credentials(a(1), &credentials("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", 1), Some(Timestamp(1)))
        .unwrap();
    let c = store.credentials(a(1)).unwrap().unwrap();
    assert_eq!(c.password.0, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA");
    assert_eq!(c.totp.as_bytes(), &[1; 20]);
    // Debug never shows the secrets.
    let shown = format!("{c:?}");
    assert!(!shown.contains("argon2id") && !shown.contains("[1, 1"), "{shown}");

    store.set_credentials(a(1), &credentials("$argon2id$new", 2), Some(Timestamp(1))).unwrap();
    let c = store.credentials(a(1)).unwrap().unwrap();
    assert_eq!((c.password.0.as_str(), c.totp.as_bytes()), ("$argon2id$new", &[2u8; 20][..]));
    assert!(store.set_password(a(1), &PasswordHash("$argon2id$rehashed".into())).unwrap());
    assert_eq!(store.credentials(a(1)).unwrap().unwrap().password.0, "$argon2id$rehashed");
    assert!(!store.set_password(a(2), &PasswordHash("x".into())).unwrap());

    let e = store.set_credentials(a(999), &credentials("x", 3), Some(Timestamp(1))).unwrap_err();
    assert!(e.to_string().contains("A999"), "{e}");
}

#[test]
fn a_totp_step_is_accepted_once_and_never_an_older_one() {
    let (_dir, store) = world();
    assert!(!store.consume_totp_step(a(1), 100).unwrap(), "no credentials");
    store.set_credentials(a(1), &credentials("h", 1), Some(Timestamp(1))).unwrap();
    assert_eq!(store.totp_last_step(a(1)).unwrap(), None);
    assert!(store.consume_totp_step(a(1), 100).unwrap());
    assert!(!store.consume_totp_step(a(1), 100).unwrap(), "replay");
    assert!(!store.consume_totp_step(a(1), 99).unwrap(), "older step");
    assert!(store.consume_totp_step(a(1), 101).unwrap());
    assert_eq!(store.totp_last_step(a(1)).unwrap(), Some(101));
    // Changing the secrets keeps the replay guard.
    store.set_credentials(a(1), &credentials("h2", 2), Some(Timestamp(1))).unwrap();
    assert!(!store.consume_totp_step(a(1), 101).unwrap());
}

#[test]
fn a_totp_step_race_has_one_winner() {
    let (_dir, store) = world();
    store.set_credentials(a(1), &credentials("h", 1), Some(Timestamp(1))).unwrap();
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
        agent: a(agent_n),
        refresh_hash: [token; 32],
        access_hash: [token.wrapping_add(100); 32],
        access_expires_at: Timestamp(created + ttl.min(300_000)),
        created_at: Timestamp(created),
        expires_at: Timestamp(created + ttl),
        method: "password_totp".into(),
        mfa: true,
        credential: if token == 8 { Some(vec![1, 2, 3]) } else { None },
        source: "192.0.2.7".into(),
        context: ClientContext::new("192.0.2.7".parse().unwrap(), "Mozilla/5.0 Firefox/128.0"),
        user_agent: "Mozilla/5.0 Firefox/128.0".into(),
        probation_until: (token == 8).then_some(Timestamp(created + 14 * 24 * 3_600_000)),
        sign_in: SignInContext::default(),
    }
}

/// Every request's first read brings the session's account and organization with it, as they
/// stand at that moment: a suspension takes effect on the next request.
#[test]
fn a_session_by_access_token_comes_with_its_account_and_organization_as_they_stand() {
    use vigie_core::ports::Registry;
    let (_dir, store) = world();
    let t0 = 1_770_000_000_000;
    store.create_session(&new_session(1, 1, t0, 60_000), 2).unwrap();
    let found = store.session_by_access(&[101; 32], Timestamp(t0 + 1)).unwrap().unwrap();
    let agent = store.agent(a(1)).unwrap().unwrap();
    let org = store.organization(agent.org).unwrap().unwrap();
    assert_eq!(found.agent.as_ref(), Some(&agent));
    assert_eq!(found.org.as_ref(), Some(&org));
    assert!(agent.active && org.active);

    store.set_agent_active(a(1), false).unwrap();
    let found = store.session_by_access(&[101; 32], Timestamp(t0 + 2)).unwrap().unwrap();
    assert_eq!(found.agent.map(|a| a.active), Some(false), "a suspended account read as active");
    assert_eq!(found.org, Some(org));
}

#[test]
fn sessions_are_found_by_either_token_and_end_every_way() {
    let (_dir, store) = world();
    let t0 = 1_770_000_000_000;
    let (id1, ended) = store.create_session(&new_session(1, 1, t0, 60_000), 2).unwrap();
    assert!(ended.is_empty());
    let (id2, _) = store.create_session(&new_session(2, 1, t0 + 1, 3_600_000), 2).unwrap();
    let (id3, _) = store.create_session(&new_session(3, 2, t0, 3_600_000), 2).unwrap();
    assert!(id1 != id2 && id2 != id3);

    let s = store.session_by_access(&[101; 32], Timestamp(t0 + 1)).unwrap().unwrap().session;
    assert_eq!((s.id, s.agent, s.mfa, s.source.as_str()), (id1, a(1), true, "192.0.2.7"));
    assert_eq!(s.context.network, "192.0.2.0/24");
    assert_eq!((s.created_at, s.expires_at, s.last_seen), (Timestamp(t0), Timestamp(t0 + 60_000), Timestamp(t0)));
    assert!(
        store.session_by_access(&[1; 32], Timestamp(t0)).unwrap().is_none(),
        "a refresh token is not an access token"
    );
    assert_eq!(store.session_by_refresh(&[1; 32]).unwrap().unwrap().id, id1);
    assert!(store.session_by_refresh(&[101; 32]).unwrap().is_none(), "an access token is not a refresh token");
    // The access token's own expiry is checked at read.
    assert!(store.session_by_access(&[101; 32], Timestamp(t0 + 59_999)).unwrap().is_some());
    assert!(store.session_by_access(&[101; 32], Timestamp(t0 + 60_000)).unwrap().is_none());
    // Rotation: the old access token stops working at once.
    assert!(store.rotate_access(id1, &[55; 32], Timestamp(t0 + 50_000)).unwrap());
    assert!(store.session_by_access(&[101; 32], Timestamp(t0 + 1)).unwrap().is_none());
    assert_eq!(store.session_by_access(&[55; 32], Timestamp(t0 + 1)).unwrap().unwrap().session.id, id1);

    store.touch_session(id2, Timestamp(t0 + 5_000)).unwrap();
    store.demand_step_up(id2, Timestamp(t0 + 6_000)).unwrap();
    store.demand_step_up(id2, Timestamp(t0 + 7_000)).unwrap(); // the first demand is kept
    let s2 = store.session_by_id(id2).unwrap().unwrap();
    assert_eq!((s2.last_seen, s2.step_up_demanded_at), (Timestamp(t0 + 5_000), Some(Timestamp(t0 + 6_000))));
    store.elevate(id2, Timestamp(t0 + 900_000)).unwrap();
    let s2 = store.session_by_id(id2).unwrap().unwrap();
    assert_eq!((s2.elevated_until, s2.step_up_demanded_at), (Some(Timestamp(t0 + 900_000)), None));

    assert_eq!(store.purge_expired_sessions(Timestamp(t0 + 60_000)).unwrap(), 1);
    assert!(store.end_session(id2).unwrap());
    assert!(!store.end_session(id2).unwrap(), "already ended");
    store.create_session(&new_session(4, 2, t0, 3_600_000), 2).unwrap();
    assert_eq!(store.end_sessions_of(a(2)).unwrap().len(), 2);
    assert!(store.session_by_id(id3).unwrap().is_none());

    // Ids are never reused, even after deleting the newest session.
    let (id5, _) = store.create_session(&new_session(5, 1, t0, 1000), 2).unwrap();
    store.end_session(id5).unwrap();
    let (id6, _) = store.create_session(&new_session(6, 1, t0, 1000), 2).unwrap();
    assert!(id6.0 > id5.0);
    assert!(store.create_session(&new_session(7, 999, t0, 1), 2).is_err(), "unknown agent");
    assert!(store.create_session(&new_session(6, 1, t0, 1), 2).is_err(), "same token twice");

    // Sessions opened by a passkey end with it.
    let (id8, _) = store.create_session(&new_session(8, 3, t0, 3_600_000), 2).unwrap();
    let s8 = store.session_by_id(id8).unwrap().unwrap();
    assert_eq!(s8.probation_until, Some(Timestamp(t0 + 14 * 24 * 3_600_000)), "probation read back");
    assert_eq!(store.end_sessions_by_credential(&[1, 2, 3]).unwrap(), vec![id8]);
}

#[test]
fn a_third_session_ends_the_least_recently_used() {
    let (_dir, store) = world();
    let t0 = 1_770_000_000_000;
    let (first, _) = store.create_session(&new_session(1, 1, t0, 3_600_000), 2).unwrap();
    let (second, _) = store.create_session(&new_session(2, 1, t0 + 10, 3_600_000), 2).unwrap();
    store.touch_session(first, Timestamp(t0 + 20)).unwrap(); // the first is now the most recent
    let (third, ended) = store.create_session(&new_session(3, 1, t0 + 30, 3_600_000), 2).unwrap();
    assert_eq!(ended, vec![second]);
    let live: Vec<_> = store.sessions_of(a(1), Timestamp(t0 + 40)).unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(live, vec![third, first]);
}

#[test]
fn a_session_carries_its_sign_in_context_and_the_next_sees_this_one_as_previous() {
    let (_dir, store) = world();
    let t0 = 1_770_000_000_000;
    let mut first = new_session(1, 1, t0, 3_600_000);
    first.sign_in = SignInContext {
        network: u64::MAX - 5, // the high bit set: stored as a negative SQLite integer
        ua_family: Some(UaFamily::Firefox),
        account_created_at: Some(Timestamp(t0 - 1_000)),
        created_by: Some(a(9)),
        approved_by: Some(a(10)),
        // Filled by the store, whatever is given.
        previous_sign_in: Some(Timestamp(42)),
        concurrent_sessions: 9,
        credential_changed_at: Some(Timestamp(42)),
        provider: u64::MAX - 7,
        build: 0x0200_0083,
        device_bound: true,
        service: Some(vigie_core::service::Envelope { persons_hour: 40, persons_day: 300 }),
    };
    let (id1, _) = store.create_session(&first, 5).unwrap();
    let s1 = store.session_by_access(&[101; 32], Timestamp(t0)).unwrap().unwrap().session;
    assert_eq!(
        s1.sign_in,
        SignInContext { previous_sign_in: None, concurrent_sessions: 0, credential_changed_at: None, ..first.sign_in },
        "the first sign-in: no previous one, no other session, no credential change known"
    );

    let (id2, _) = store.create_session(&new_session(2, 1, t0 + 60_000, 3_600_000), 5).unwrap();
    let s2 = store.session_by_id(id2).unwrap().unwrap();
    assert_eq!(s2.sign_in.previous_sign_in, Some(Timestamp(t0)), "the first sign-in is the second's previous");
    assert_eq!(s2.sign_in.concurrent_sessions, 1);
    assert_eq!((s2.sign_in.network, s2.sign_in.ua_family, s2.sign_in.created_by), (0, None, None));
    assert_eq!(
        (s2.sign_in.provider, s2.sign_in.build, s2.sign_in.device_bound, s2.sign_in.service),
        (0, 0, false, None)
    );
    // Read back the same every way.
    assert_eq!(store.session_by_refresh(&[2; 32]).unwrap().unwrap().sign_in, s2.sign_in);
    assert_eq!(store.sessions_of(a(1), Timestamp(t0 + 60_000)).unwrap()[0].sign_in, s2.sign_in);
    assert_eq!(store.session_by_id(id1).unwrap().unwrap().sign_in, s1.sign_in, "the first is unchanged");
}

#[test]
fn concurrent_sessions_count_live_ones_before_the_limit_ends_any() {
    let (_dir, store) = world();
    let t0 = 1_770_000_000_000;
    // One already expired: not counted.
    store.create_session(&new_session(1, 1, t0, 1_000), 2).unwrap();
    let (_, ended) = store.create_session(&new_session(2, 1, t0 + 5_000, 3_600_000), 2).unwrap();
    assert!(ended.is_empty());
    let (_, ended) = store.create_session(&new_session(3, 1, t0 + 6_000, 3_600_000), 2).unwrap();
    assert!(ended.is_empty());
    let (id, ended) = store.create_session(&new_session(4, 1, t0 + 7_000, 3_600_000), 2).unwrap();
    assert_eq!(ended.len(), 1, "over the limit of two");
    assert_eq!(store.session_by_id(id).unwrap().unwrap().sign_in.concurrent_sessions, 2, "counted before the eviction");
    // Another agent's sessions are not counted.
    let (other, _) = store.create_session(&new_session(5, 2, t0 + 7_000, 3_600_000), 2).unwrap();
    assert_eq!(store.session_by_id(other).unwrap().unwrap().sign_in.concurrent_sessions, 0);
}

#[test]
fn the_last_credential_change_reaches_the_next_session() {
    let (_dir, store) = world();
    let t0 = 1_770_000_000_000;
    store.set_credentials(a(1), &credentials("h", 1), Some(Timestamp(t0 - 10_000))).unwrap();
    let (id, _) = store.create_session(&new_session(1, 1, t0, 3_600_000), 5).unwrap();
    assert_eq!(store.session_by_id(id).unwrap().unwrap().sign_in.credential_changed_at, Some(Timestamp(t0 - 10_000)));
    // A passkey added is a credential change too.
    let passkey = StoredPasskey {
        credential_id: vec![9; 16],
        agent: a(1),
        user_handle: [3; 16],
        label: "key".into(),
        passkey: "{}".into(),
        created_at: Timestamp(t0 + 1_000),
        last_used: None,
    };
    store.add_passkey(&passkey).unwrap();
    let (id, _) = store.create_session(&new_session(2, 1, t0 + 2_000, 3_600_000), 5).unwrap();
    assert_eq!(store.session_by_id(id).unwrap().unwrap().sign_in.credential_changed_at, Some(Timestamp(t0 + 1_000)));
    assert!(store.add_passkey(&passkey).is_err(), "the same passkey twice");
    // A rehash of the password is not a change of credential.
    store.set_password(a(1), &vigie_core::signin::PasswordHash("$argon2id$rehashed".into())).unwrap();
    let (id, _) = store.create_session(&new_session(3, 1, t0 + 3_000, 3_600_000), 5).unwrap();
    assert_eq!(store.session_by_id(id).unwrap().unwrap().sign_in.credential_changed_at, Some(Timestamp(t0 + 1_000)));
    // Credentials set at a time nobody knows: unknown, not an older time.
    store.set_credentials(a(1), &credentials("h2", 2), None).unwrap();
    let (id, _) = store.create_session(&new_session(4, 1, t0 + 4_000, 3_600_000), 5).unwrap();
    assert_eq!(store.session_by_id(id).unwrap().unwrap().sign_in.credential_changed_at, None);
}

#[test]
fn an_organization_is_frozen_once_and_unfrozen_by_deleting_the_freeze() {
    let (_dir, store) = world();
    assert_eq!(store.org_creation_frozen(o(3)).unwrap(), None);
    let freeze =
        OrgFreeze { org: o(3), frozen_at: Timestamp(5), reason: "account_suspended".into(), agent: Some(a(6)) };
    assert!(store.freeze_org_creation(&freeze).unwrap());
    let again = OrgFreeze { frozen_at: Timestamp(9), agent: None, ..freeze.clone() };
    assert!(!store.freeze_org_creation(&again).unwrap(), "already frozen: the first freeze is kept");
    assert_eq!(store.org_creation_frozen(o(3)).unwrap(), Some(freeze.clone()));
    assert_eq!(store.org_creation_frozen(o(4)).unwrap(), None, "one organization only");
    assert_eq!(store.unfreeze_org_creation(o(3)).unwrap(), Some(freeze));
    assert_eq!(store.unfreeze_org_creation(o(3)).unwrap(), None);
    assert_eq!(store.org_creation_frozen(o(3)).unwrap(), None);
    let unknown = OrgFreeze { org: o(999), ..again };
    assert!(store.freeze_org_creation(&unknown).is_err(), "an unknown organization");
}
