//! What the detector reads from the store beyond persons and sessions: service accounts bound
//! to a key, campaigns declared by managers, canaries placed in scope lists.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::*;
use vigie_core::campaign::CampaignDeclaration;
use vigie_core::ids::{AgentId, OrgId, PersonId, TeamId};
use vigie_core::ports::AccessReason;
use vigie_core::service::{BoundKey, Envelope, ServiceAccount};
use vigie_core::time::Timestamp;
use vigie_store::{LoadOptions, Store};

fn es256() -> BoundKey {
    let mut k = vec![0x04];
    k.extend([9u8; 64]);
    BoundKey::ClientAssertionEs256 { public_key: k }
}

#[test]
fn a_service_account_round_trips_and_a_keyless_row_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_world(dir.path());
    let agent = AgentId::new(8).unwrap();
    assert_eq!(store.service_account(agent).unwrap(), None);
    let s = ServiceAccount::new(agent, Some(es256()), Envelope { persons_hour: 40, persons_day: 300 }).unwrap();
    store.register_service_account(&s, Timestamp(1_780_000_000_000), AgentId::new(9)).unwrap();
    assert_eq!(store.service_account(agent).unwrap(), Some(s.clone()));
    // Replaced by a TLS certificate and a new envelope.
    let t = ServiceAccount::new(
        agent,
        Some(BoundKey::TlsCertificate { sha256: [3; 32] }),
        Envelope { persons_hour: 10, persons_day: 50 },
    )
    .unwrap();
    store.register_service_account(&t, Timestamp(1_780_000_000_001), None).unwrap();
    assert_eq!(store.service_account(agent).unwrap(), Some(t));
    // The schema refuses a row without a key or with an envelope upside down.
    let conn = rusqlite::Connection::open(dir.path().join("vigie.db")).unwrap();
    for (key, hour, day) in [(&b""[..], 10, 50), (&b"k"[..], 60, 50), (&b"k"[..], 0, 50)] {
        let r = conn.execute(
            "INSERT INTO service_accounts (agent, key_kind, key, persons_hour, persons_day, registered_at_ms) VALUES (7, 'tls_certificate', ?1, ?2, ?3, 0)",
            rusqlite::params![key, hour, day],
        );
        assert!(r.is_err(), "{key:?} {hour} {day}");
    }
    // A row the core would not accept (a certificate thumbprint of the wrong size) is an
    // error, not a service account without a key.
    conn.execute(
        "INSERT INTO service_accounts (agent, key_kind, key, persons_hour, persons_day, registered_at_ms) VALUES (7, 'tls_certificate', x'0102', 10, 50, 0)",
        [],
    )
    .unwrap();
    drop(conn);
    let e = store.service_account(AgentId::new(7).unwrap()).unwrap_err();
    assert!(e.to_string().contains("service_accounts.key"), "{e}");
}

#[test]
fn declared_campaigns_are_kept_until_they_end() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_world(dir.path());
    let day = 86_400_000;
    let c = CampaignDeclaration {
        org: OrgId::new(1).unwrap(),
        team: TeamId::new(1),
        declared_by: AgentId::new(3).unwrap(),
        reason: AccessReason::Campaign,
        persons_per_agent: 150,
        from: Timestamp(10 * day),
        until: Timestamp(13 * day),
    };
    let id = store.store_campaign(&c).unwrap();
    assert!(id >= 1);
    assert_eq!(store.active_campaigns(Timestamp(11 * day)).unwrap(), vec![c]);
    assert!(store.active_campaigns(Timestamp(13 * day)).unwrap().is_empty());
}

#[test]
fn canaries_placed_in_scope_lists_are_a_subset_of_the_canaries() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Store::bulk_load(dir.path(), &LoadOptions::default()).unwrap();
    fill_small_world(&mut l);
    l.add_person(&small_world_person(23), true, None).unwrap();
    l.mark_scope_canary(PersonId::new(23).unwrap()).unwrap();
    let store = l.finish().unwrap();
    assert_eq!(store.scope_canaries().unwrap(), vec![PersonId::new(23).unwrap()]);
    assert_eq!(store.canaries().unwrap(), vec![PersonId::new(23).unwrap(), PersonId::new(99).unwrap()]);
}
