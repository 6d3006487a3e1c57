//! One suite, two stores: the core's ports (`Registry`, `AccountStore`) and the stores' own
//! reads, run against the embedded SQLite store and against a real PostgreSQL started by the
//! test (`common::Cluster`), from the same registry loaded by each store's bulk loader. A
//! behaviour that differs between the two fails here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[macro_use]
mod common;

use common::world::*;
use time::macros::date;
use vigie_core::campaign::CampaignDeclaration;
use vigie_core::ids::{Login, PersonId};
use vigie_core::lifecycle::{AccountRequest, OrgFreeze, RequestState};
use vigie_core::org::Role;
use vigie_core::ports::{
    AccessReason, AccountStore, Approval, Credentials, NewSession, Registry, SignInContext, StoreError, StoredPasskey,
};
use vigie_core::relationship::RelationshipKind;
use vigie_core::service::{BoundKey, Envelope, ServiceAccount};
use vigie_core::signin::{ClientContext, PasswordHash, TotpSecret, UaFamily};
use vigie_core::time::Timestamp;

/// The stores' own methods the suite uses besides the ports.
trait Store: Registry + AccountStore + Send + Sync + 'static {
    fn last_step(&self, agent: vigie_core::ids::AgentId) -> Result<Option<i64>, StoreError>;
    fn password(&self, agent: vigie_core::ids::AgentId, hash: &PasswordHash) -> Result<bool, StoreError>;
    fn purge(&self, now: Timestamp) -> Result<usize, StoreError>;
    fn canary_list(&self) -> Result<Vec<PersonId>, StoreError>;
    fn scope_canary_list(&self) -> Result<Vec<PersonId>, StoreError>;
    fn duplicate(&self, p: PersonId) -> Result<Option<PersonId>, StoreError>;
    fn canary(&self, p: PersonId) -> Result<bool, StoreError>;
}

macro_rules! delegate {
    ($t:ty) => {
        impl Store for $t {
            fn last_step(&self, agent: vigie_core::ids::AgentId) -> Result<Option<i64>, StoreError> {
                self.totp_last_step(agent)
            }
            fn password(&self, agent: vigie_core::ids::AgentId, hash: &PasswordHash) -> Result<bool, StoreError> {
                self.set_password(agent, hash)
            }
            fn purge(&self, now: Timestamp) -> Result<usize, StoreError> {
                self.purge_expired_sessions(now)
            }
            fn canary_list(&self) -> Result<Vec<PersonId>, StoreError> {
                self.canaries()
            }
            fn scope_canary_list(&self) -> Result<Vec<PersonId>, StoreError> {
                self.scope_canaries()
            }
            fn duplicate(&self, p: PersonId) -> Result<Option<PersonId>, StoreError> {
                self.duplicate_of(p)
            }
            fn canary(&self, p: PersonId) -> Result<bool, StoreError> {
                self.is_canary(p)
            }
        }
    };
}
delegate!(vigie_store::Store);
delegate!(vigie_store_pg::PgStore);

both!(a_person_round_trips, person_round_trips);
fn person_round_trips<S: Store>(s: &std::sync::Arc<S>) {
    for n in (1..=22).chain([99]) {
        assert_eq!(s.person(p(n)).unwrap(), Some(person(n)), "P{n}");
    }
    assert_eq!(s.person(p(12345)).unwrap(), None);
}

both!(active_relationships_of_a_person, active_relationships);
fn active_relationships<S: Store>(s: &std::sync::Arc<S>) {
    let rels = s.active_relationships(p(3), TODAY).unwrap();
    assert_eq!(rels.len(), 2);
    assert!(rels.iter().all(|r| r.kind == RelationshipKind::Caseload && r.team == Some(t(1))));
    assert_eq!(rels.iter().map(|r| r.agent).collect::<Vec<_>>(), vec![Some(a(1)), Some(a(2))]);
    assert!(s.active_relationships(p(5), TODAY).unwrap().is_empty());
    assert_eq!(s.active_relationships(p(5), date!(2025 - 12 - 31)).unwrap().len(), 1);
    assert!(s.active_relationships(p(5), date!(2026 - 01 - 01)).unwrap().is_empty(), "valid_to is exclusive");
    assert!(s.active_relationships(p(10), TODAY).unwrap().is_empty());
    assert_eq!(s.active_relationships(p(10), date!(2026 - 06 - 01)).unwrap().len(), 1);
    let enrolment = s.active_relationships(p(11), TODAY).unwrap().remove(0);
    assert_eq!((enrolment.kind, enrolment.team, enrolment.agent), (RelationshipKind::Enrolment, None, None));
    assert_eq!(enrolment.session.map(|s| s.get()), Some(1));
    assert!(s.active_relationships(p(99), TODAY).unwrap().is_empty());
    // A relationship created at run time is read back at once.
    s.create_relationship(&rel(RelationshipKind::FollowUp, 99, 3, None)).unwrap();
    assert_eq!(s.active_relationships(p(99), TODAY).unwrap().len(), 1);
    assert!(s.create_relationship(&rel(RelationshipKind::FollowUp, 4242, 3, None)).is_err(), "unknown person");
}

both!(exact_lookups_canaries_and_duplicates, exact_lookups);
fn exact_lookups<S: Store>(s: &std::sync::Arc<S>) {
    let born = date!(1985 - 05 - 14);
    assert_eq!(s.find_by_nir(&nir_of(1), born).unwrap(), vec![p(1), p(21)]);
    assert!(s.find_by_nir(&nir_of(2), date!(1985 - 05 - 15)).unwrap().is_empty());
    assert!(s.find_by_nir(&nir_of(777), born).unwrap().is_empty());
    assert_eq!(s.find_by_ft_id(&ft_id_of(7), born).unwrap(), vec![p(7)]);
    assert!(s.find_by_ft_id(&ft_id_of(7), date!(1990 - 01 - 01)).unwrap().is_empty());
    assert_eq!(s.duplicate(p(21)).unwrap(), Some(p(1)));
    assert_eq!(s.duplicate(p(1)).unwrap(), None);
    assert_eq!(s.canary_list().unwrap(), vec![p(99)]);
    assert_eq!(s.scope_canary_list().unwrap(), vec![p(99)]);
    assert!(s.canary(p(99)).unwrap() && !s.canary(p(1)).unwrap());
    assert_eq!(s.agent(a(1)).unwrap(), Some(agent(1, 1, Role::Advisor, Some(1))));
    assert_eq!(s.agent(a(500)).unwrap(), None);
    let inactive = s.organization(o(6)).unwrap().unwrap();
    assert!(!inactive.active);
    assert_eq!(s.organization(o(500)).unwrap(), None);
}

fn pages<S: Store>(s: &S, agent_n: u64, limit: usize) -> Vec<Vec<u64>> {
    let agent = s.agent(a(agent_n)).unwrap().unwrap();
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = s.scope_page(&agent, after, limit, TODAY).unwrap();
        if page.is_empty() {
            return out;
        }
        for (entry, rel) in &page {
            assert_eq!(entry.id, rel.person);
            assert!(rel.is_active_on(TODAY));
        }
        after = page.last().map(|(e, _)| e.id);
        out.push(page.iter().map(|(e, _)| e.id.get()).collect());
    }
}

both!(scope_pages_by_org_kind_and_role, scope_pages);
fn scope_pages<S: Store>(s: &std::sync::Arc<S>) {
    let flat = |n| pages(s.as_ref(), n, 100).concat();
    assert_eq!(flat(1), vec![1, 2, 3, 4]);
    assert_eq!(flat(3), vec![1, 2, 3, 4], "manager sees the team");
    assert_eq!(flat(4), vec![6], "other team");
    assert_eq!(flat(5), vec![7], "no team: own caseload");
    assert_eq!(flat(11), vec![22], "cap emploi");
    assert_eq!(flat(6), vec![8, 9], "mission locale: follow-ups, P10 not yet");
    assert_eq!(flat(7), vec![11, 12], "training org: its enrolments");
    assert_eq!(flat(8), (14..=20).collect::<Vec<_>>(), "subcontractor: assignments");
    assert!(flat(12).is_empty(), "inactive organization");
    assert!(flat(9).is_empty() && flat(10).is_empty(), "administrators reach nobody");
    assert_eq!(pages(s.as_ref(), 8, 3), vec![vec![14, 15, 16], vec![17, 18, 19], vec![20]]);
    let a8 = s.agent(a(8)).unwrap().unwrap();
    assert!(s.scope_page(&a8, None, 0, TODAY).unwrap().is_empty());
    let (entry, rel) = s.scope_page(&s.agent(a(1)).unwrap().unwrap(), None, 1, TODAY).unwrap().remove(0);
    assert_eq!((entry.last_name.as_str(), entry.first_name.as_str()), ("NOM1", "Prénom1"));
    assert_eq!((rel.agent, rel.team, rel.org), (Some(a(1)), Some(t(1)), o(1)));
}

fn credentials(password: &str, secret: u8) -> Credentials {
    Credentials { password: PasswordHash(password.into()), totp: TotpSecret::from_bytes(&[secret; 20]).unwrap() }
}

both!(credentials_and_the_totp_replay_guard, credentials_and_totp);
fn credentials_and_totp<S: Store>(s: &std::sync::Arc<S>) {
    assert_eq!(s.agent_by_login(&"agent7@org4".parse::<Login>().unwrap()).unwrap().map(|a| a.id), Some(a(7)));
    assert!(s.credentials(a(1)).unwrap().is_none());
    assert!(!s.consume_totp_step(a(1), 100).unwrap(), "no credentials");
    s.set_credentials(a(1), &credentials("$argon2id$one", 1), Some(Timestamp(1))).unwrap();
    let c = s.credentials(a(1)).unwrap().unwrap();
    assert_eq!((c.password.0.as_str(), c.totp.as_bytes()), ("$argon2id$one", &[1u8; 20][..]));
    s.set_credentials(a(1), &credentials("$argon2id$two", 2), Some(Timestamp(2))).unwrap();
    assert_eq!(s.credentials(a(1)).unwrap().unwrap().totp.as_bytes(), &[2u8; 20]);
    assert!(s.password(a(1), &PasswordHash("$argon2id$rehashed".into())).unwrap());
    assert!(!s.password(a(2), &PasswordHash("x".into())).unwrap());
    assert!(s.set_credentials(a(999), &credentials("x", 3), None).is_err(), "unknown agent");
    assert_eq!(s.last_step(a(1)).unwrap(), None);
    assert!(s.consume_totp_step(a(1), 100).unwrap());
    assert!(!s.consume_totp_step(a(1), 100).unwrap(), "replay");
    assert!(!s.consume_totp_step(a(1), 99).unwrap(), "older step");
    assert_eq!(s.last_step(a(1)).unwrap(), Some(100));
    // Racing threads with the same step: one wins (two nodes behave as two threads here).
    for step in 101..=110 {
        let winners: usize = (0..4)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || s.consume_totp_step(a(1), step).unwrap())
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

both!(sessions_are_found_by_either_token_and_end_every_way, sessions);
fn sessions<S: Store>(s: &std::sync::Arc<S>) {
    let t0 = 1_770_000_000_000;
    let (id1, ended) = s.create_session(&new_session(1, 1, t0, 60_000), 2).unwrap();
    assert!(ended.is_empty());
    let (id2, _) = s.create_session(&new_session(2, 1, t0 + 1, 3_600_000), 2).unwrap();
    let (id3, _) = s.create_session(&new_session(3, 2, t0, 3_600_000), 2).unwrap();
    let found = s.session_by_access(&[101; 32], Timestamp(t0 + 1)).unwrap().unwrap();
    assert_eq!((found.session.id, found.session.agent, found.session.mfa), (id1, a(1), true));
    assert_eq!(found.agent, s.agent(a(1)).unwrap());
    assert_eq!(found.org, s.organization(o(1)).unwrap());
    assert_eq!(found.session.context.network, "192.0.2.0/24");
    assert!(s.session_by_access(&[1; 32], Timestamp(t0)).unwrap().is_none(), "a refresh token is not an access token");
    assert_eq!(s.session_by_refresh(&[1; 32]).unwrap().unwrap().id, id1);
    assert!(s.session_by_access(&[101; 32], Timestamp(t0 + 60_000)).unwrap().is_none(), "access expired");
    assert!(!s.access_expired(&[101; 32], Timestamp(t0 + 60_000)).unwrap(), "the session ended with it");
    assert!(s.rotate_access(id1, &[55; 32], Timestamp(t0 + 50_000)).unwrap());
    assert!(s.session_by_access(&[101; 32], Timestamp(t0 + 1)).unwrap().is_none());
    s.set_agent_active(a(1), false).unwrap();
    let found = s.session_by_access(&[55; 32], Timestamp(t0 + 1)).unwrap().unwrap();
    assert_eq!(found.agent.map(|a| a.active), Some(false), "a suspension is read at the next request");
    s.set_agent_active(a(1), true).unwrap();

    s.touch_session(id2, Timestamp(t0 + 5_000)).unwrap();
    s.touch_session(id2, Timestamp(t0 + 4_000)).unwrap(); // never backwards
    s.demand_step_up(id2, Timestamp(t0 + 6_000)).unwrap();
    s.demand_step_up(id2, Timestamp(t0 + 7_000)).unwrap();
    let s2 = s.session_by_id(id2).unwrap().unwrap();
    assert_eq!((s2.last_seen, s2.step_up_demanded_at), (Timestamp(t0 + 5_000), Some(Timestamp(t0 + 6_000))));
    s.elevate(id2, Timestamp(t0 + 900_000)).unwrap();
    let s2 = s.session_by_id(id2).unwrap().unwrap();
    assert_eq!((s2.elevated_until, s2.step_up_demanded_at), (Some(Timestamp(t0 + 900_000)), None));
    assert!(s.bind_device(id2, b"key").unwrap());
    assert!(!s.bind_device(id2, b"other").unwrap(), "bound once");
    assert_eq!(s.session_by_id(id2).unwrap().unwrap().device_key.as_deref(), Some(&b"key"[..]));

    assert_eq!(s.purge(Timestamp(t0 + 60_000)).unwrap(), 1);
    assert!(s.end_session(id2).unwrap());
    assert!(!s.end_session(id2).unwrap(), "already ended");
    s.create_session(&new_session(4, 2, t0, 3_600_000), 2).unwrap();
    assert_eq!(s.end_sessions_of(a(2)).unwrap().len(), 2);
    assert!(s.session_by_id(id3).unwrap().is_none());
    let (id5, _) = s.create_session(&new_session(5, 1, t0, 1000), 2).unwrap();
    s.end_session(id5).unwrap();
    let (id6, _) = s.create_session(&new_session(6, 1, t0, 1000), 2).unwrap();
    assert!(id6.0 > id5.0, "ids are never reused");
    assert!(s.create_session(&new_session(7, 999, t0, 1), 2).is_err(), "unknown agent");
    assert!(s.create_session(&new_session(6, 1, t0, 1), 2).is_err(), "same token twice");
    let (id8, _) = s.create_session(&new_session(8, 3, t0, 3_600_000), 2).unwrap();
    assert_eq!(s.session_by_id(id8).unwrap().unwrap().probation_until, Some(Timestamp(t0 + 14 * 24 * 3_600_000)));
    assert_eq!(s.end_sessions_by_credential(&[1, 2, 3]).unwrap(), vec![id8]);
}

both!(a_session_carries_its_sign_in_context, sign_in_context);
fn sign_in_context<S: Store>(s: &std::sync::Arc<S>) {
    let t0 = 1_770_000_000_000;
    s.set_credentials(a(1), &credentials("h", 1), Some(Timestamp(t0 - 10_000))).unwrap();
    let mut first = new_session(1, 1, t0, 3_600_000);
    first.sign_in = SignInContext {
        network: u64::MAX - 5,
        ua_family: Some(UaFamily::Firefox),
        account_created_at: Some(Timestamp(t0 - 1_000)),
        created_by: Some(a(9)),
        approved_by: Some(a(10)),
        previous_sign_in: Some(Timestamp(42)),
        concurrent_sessions: 9,
        credential_changed_at: Some(Timestamp(42)),
        provider: u64::MAX - 7,
        build: 0x0200_0083,
        device_bound: true,
        service: Some(Envelope { persons_hour: 40, persons_day: 300 }),
    };
    let (id1, _) = s.create_session(&first, 2).unwrap();
    let s1 = s.session_by_id(id1).unwrap().unwrap();
    assert_eq!(
        s1.sign_in,
        SignInContext {
            previous_sign_in: None,
            concurrent_sessions: 0,
            credential_changed_at: Some(Timestamp(t0 - 10_000)),
            ..first.sign_in
        }
    );
    let (id2, _) = s.create_session(&new_session(2, 1, t0 + 60_000, 3_600_000), 2).unwrap();
    let s2 = s.session_by_id(id2).unwrap().unwrap();
    assert_eq!((s2.sign_in.previous_sign_in, s2.sign_in.concurrent_sessions), (Some(Timestamp(t0)), 1));
    assert_eq!(s.session_by_refresh(&[2; 32]).unwrap().unwrap().sign_in, s2.sign_in);
    // The third ends the least recently used (the first).
    let (id3, ended) = s.create_session(&new_session(3, 1, t0 + 70_000, 3_600_000), 2).unwrap();
    assert_eq!(ended, vec![id1]);
    let live: Vec<_> = s.sessions_of(a(1), Timestamp(t0 + 80_000)).unwrap().into_iter().map(|x| x.id).collect();
    assert_eq!(live, vec![id3, id2]);
}

both!(passkeys_are_added_used_and_removed, passkeys);
fn passkeys<S: Store>(s: &std::sync::Arc<S>) {
    let key = |n: u8| StoredPasskey {
        credential_id: vec![n; 16],
        agent: a(1),
        user_handle: [3; 16],
        label: format!("key {n}"),
        passkey: "{}".into(),
        created_at: Timestamp(1_000 + i64::from(n)),
        last_used: None,
    };
    s.add_passkey(&key(1)).unwrap();
    s.add_passkey(&key(2)).unwrap();
    assert!(s.add_passkey(&key(1)).is_err(), "the same passkey twice");
    assert_eq!(s.passkeys_of(a(1)).unwrap().len(), 2);
    assert_eq!(
        s.passkeys_by_handle(&[3; 16]).unwrap().iter().map(|k| k.label.clone()).collect::<Vec<_>>(),
        ["key 1", "key 2"]
    );
    s.update_passkey(&[1; 16], "{\"counter\":2}", Timestamp(5_000)).unwrap();
    let k1 = s.passkeys_of(a(1)).unwrap().remove(0);
    assert_eq!((k1.passkey.as_str(), k1.last_used), ("{\"counter\":2}", Some(Timestamp(5_000))));
    assert!(s.remove_passkey(a(1), &[2; 16]).unwrap());
    assert!(!s.remove_passkey(a(2), &[1; 16]).unwrap(), "another agent's passkey");
    assert_eq!(s.passkeys_of(a(1)).unwrap().len(), 1);
}

both!(an_account_request_is_approved_once_with_its_enrolment, lifecycle);
fn lifecycle<S: Store>(s: &std::sync::Arc<S>) {
    let request = AccountRequest {
        id: 0,
        org: o(1),
        requested_by: a(9),
        login: "new.agent@org1".parse().unwrap(),
        display_name: "New Agent".into(),
        email: "new@example.org".into(),
        role: Role::Advisor,
        team: Some(t(1)),
        justification: "arrival".into(),
        created_at: Timestamp(1_000),
        expires_at: Timestamp(100_000),
        state: RequestState::Pending,
        decided_by: None,
        decided_at: None,
        agent: None,
    };
    let id = s.create_request(&request).unwrap().unwrap();
    assert_eq!(s.create_request(&request).unwrap(), None, "one pending request per login");
    assert_eq!(s.requests(Some(o(1)), 10).unwrap().len(), 1);
    assert_eq!(s.requests(Some(o(2)), 10).unwrap().len(), 0);
    assert_eq!(s.requests_made_since(a(9), Timestamp(0)).unwrap(), 1);
    let approval = Approval {
        request: id,
        approver: a(10),
        at: Timestamp(2_000),
        probation_until: Timestamp(50_000),
        enrolment_hash: [7; 32],
        enrolment_expires_at: Timestamp(9_000),
    };
    let agent = s.approve_request(&approval).unwrap().unwrap();
    assert_eq!(s.approve_request(&approval).unwrap(), None, "approved once");
    assert_eq!(s.request(id).unwrap().unwrap().state, RequestState::Approved);
    let origin = s.account_origin(agent).unwrap();
    assert_eq!((origin.created_by, origin.approved_by), (Some(a(9)), Some(a(10))));
    assert_eq!(origin.probation_until, Some(Timestamp(50_000)));
    assert_eq!(s.enrolment(&[7; 32], Timestamp(3_000)).unwrap(), Some(agent));
    assert!(s.consume_enrolment(&[7; 32], Timestamp(3_000)).unwrap());
    assert!(!s.consume_enrolment(&[7; 32], Timestamp(3_001)).unwrap(), "used once");
    assert_eq!(s.enrolment(&[7; 32], Timestamp(3_000)).unwrap(), None);
    let other = AccountRequest { login: "other@org1".parse().unwrap(), ..request };
    let id2 = s.create_request(&other).unwrap().unwrap();
    assert!(s.reject_request(id2, a(10), Timestamp(3_000)).unwrap());
    assert!(!s.reject_request(id2, a(10), Timestamp(3_000)).unwrap());
    // Identities, addresses, freezes.
    assert!(s.link_identity("https://idp", "sub-1", agent, Timestamp(4_000)).unwrap());
    assert!(!s.link_identity("https://idp", "sub-1", a(1), Timestamp(4_000)).unwrap());
    assert_eq!(s.federated_agent("https://idp", "sub-1").unwrap(), Some(agent));
    assert_eq!(s.agents_by_email("agent3@example.org").unwrap().iter().map(|x| x.id).collect::<Vec<_>>(), vec![a(3)]);
    assert_eq!(s.team_org(t(3)).unwrap(), Some(o(2)));
    let freeze =
        OrgFreeze { org: o(3), frozen_at: Timestamp(5), reason: "account_suspended".into(), agent: Some(a(6)) };
    assert!(s.freeze_org_creation(&freeze).unwrap());
    assert!(!s.freeze_org_creation(&OrgFreeze { frozen_at: Timestamp(9), ..freeze.clone() }).unwrap());
    assert_eq!(s.org_creation_frozen(o(3)).unwrap(), Some(freeze.clone()));
    assert_eq!(s.unfreeze_org_creation(o(3)).unwrap(), Some(freeze));
    assert_eq!(s.org_creation_frozen(o(3)).unwrap(), None);
}

both!(service_accounts_and_campaigns, service_and_campaigns);
fn service_and_campaigns<S: Store>(s: &std::sync::Arc<S>) {
    assert!(s.service_account(a(8)).unwrap().is_none());
    let account = ServiceAccount::new(
        a(8),
        Some(BoundKey::TlsCertificate { sha256: [4; 32] }),
        Envelope { persons_hour: 50, persons_day: 400 },
    )
    .unwrap();
    s.register_service_account(&account, Timestamp(1), Some(a(10))).unwrap();
    assert_eq!(s.service_account(a(8)).unwrap(), Some(account));
    let campaign = CampaignDeclaration {
        org: o(1),
        team: Some(t(1)),
        declared_by: a(3),
        reason: AccessReason::Campaign,
        persons_per_agent: 200,
        from: Timestamp(1_000),
        until: Timestamp(5_000),
    };
    s.store_campaign(&campaign).unwrap();
    assert_eq!(s.active_campaigns(Timestamp(4_999)).unwrap(), vec![campaign]);
    assert!(s.active_campaigns(Timestamp(5_000)).unwrap().is_empty());
}
