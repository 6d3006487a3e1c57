//! One suite, two stores, for incidents: the core's `IncidentStore` port (incidents, decisions,
//! notices, and the registry's answers scoping needs) and `peer_agents`, run against the
//! embedded SQLite store and a real PostgreSQL from the same registry, asserting the same
//! answers. The SQLite store's incident tests live here only (one body, both stores),
//! with what several nodes sharing one database add: two campaigns started at once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[macro_use]
mod common;

use std::collections::HashSet;
use std::sync::{Arc, Barrier};

use common::world::*;
use vigie_core::category::{CategorySet, DataCategory};
use vigie_core::ids::{IncidentId, PersonId, SessionId};
use vigie_core::incident::notice::{LetterKind, Recipient};
use vigie_core::incident::store::{Decision, IncidentStore, NewIncident, Notice, NoticeCounts, NoticeState};
use vigie_core::incident::{Author, Incident, IncidentState, Selector, Window};
use vigie_core::org::{Agent, OrgKind};
use vigie_core::person::Sex;
use vigie_core::ports::{AccountStore, Registry, StoreError};
use vigie_core::time::Timestamp;

/// What the suite uses of a store: the port, and the stores' own lists.
trait Store: IncidentStore + Registry + AccountStore + Send + Sync + 'static {
    fn peers(&self, agent: &Agent, kind: OrgKind, limit: usize) -> Result<Vec<vigie_core::ids::AgentId>, StoreError>;
    fn canary_list(&self) -> Result<Vec<PersonId>, StoreError>;
}

macro_rules! delegate {
    ($t:ty) => {
        impl Store for $t {
            fn peers(
                &self,
                agent: &Agent,
                kind: OrgKind,
                limit: usize,
            ) -> Result<Vec<vigie_core::ids::AgentId>, StoreError> {
                self.peer_agents(agent, kind, limit)
            }
            fn canary_list(&self) -> Result<Vec<PersonId>, StoreError> {
                self.canaries()
            }
        }
    };
}
delegate!(vigie_store::Store);
delegate!(vigie_store_pg::PgStore);

fn new_incident() -> NewIncident {
    NewIncident {
        title: "Comptes compromis".into(),
        opened_at: Timestamp(1_000),
        opened_by: Author::Operator,
        awareness_at: Timestamp(900),
        window: Window::new(Timestamp(0), Timestamp(1_000)).unwrap(),
        selectors: vec![Selector::Agent(a(7)), Selector::Network("203.0.113.0/24".parse().unwrap())],
        alert: Some(3),
    }
}

fn notice(i: IncidentId, p: u64, email: bool) -> Notice {
    Notice {
        incident: i,
        person: PersonId::new(p).unwrap(),
        kind: LetterKind::Standard,
        categories: CategorySet::EMPTY.with(DataCategory::Contact),
        first: Timestamp(10),
        last: Timestamp(20),
        email: email.then(|| format!("p{p}@example.invalid")),
        state: if email { NoticeState::Pending } else { NoticeState::NoAddress },
        attempts: 0,
        message_id: format!("<vigie.{i}.P{p}@example.invalid>"),
        updated: Timestamp(30),
        error: None,
    }
}

fn ids(notices: &[Notice]) -> Vec<u64> {
    notices.iter().map(|n| n.person.get()).collect()
}

both!(incidents_keep_their_selectors_decisions_and_state, incidents_keep_their_state);
fn incidents_keep_their_state<S: Store>(s: &Arc<S>) {
    let id = s.create_incident(&new_incident()).unwrap();
    assert_eq!(id.get(), 1);
    let expected = Incident {
        id,
        title: "Comptes compromis".into(),
        opened_at: Timestamp(1_000),
        opened_by: Author::Operator,
        awareness_at: Timestamp(900),
        window: new_incident().window,
        selectors: new_incident().selectors,
        alert: Some(3),
        state: IncidentState::Open,
        closed_at: None,
    };
    assert_eq!(s.incident(id).unwrap(), Some(expected.clone()));
    let d = |target: Selector, accepted| Decision {
        incident: id,
        target,
        accepted,
        by: Author::Officer(a(2)),
        at: Timestamp(5),
        why: "w".into(),
    };
    s.decide(&d(Selector::Agent(a(8)), true)).unwrap();
    s.decide(&d(Selector::Agent(a(9)), false)).unwrap();
    // Accepting a selector the incident holds records the decision and keeps its place.
    s.decide(&d(Selector::Agent(a(7)), true)).unwrap();
    let session = Selector::Session(SessionId(0x1234));
    s.decide(&Decision { by: Author::Operator, at: Timestamp(6), why: "cookie".into(), ..d(session.clone(), true) })
        .unwrap();
    let i = s.incident(id).unwrap().unwrap();
    assert_eq!(
        i.selectors,
        [new_incident().selectors, vec![Selector::Agent(a(8)), session.clone()]].concat(),
        "accepted: held, in order; refused or held already: not added"
    );
    assert_eq!(
        s.decisions(id).unwrap(),
        vec![
            d(Selector::Agent(a(8)), true),
            d(Selector::Agent(a(9)), false),
            d(Selector::Agent(a(7)), true),
            Decision { by: Author::Operator, at: Timestamp(6), why: "cookie".into(), ..d(session, true) },
        ],
        "every decision, in the order taken"
    );
    assert!(s.decide(&Decision { incident: IncidentId::new(99).unwrap(), ..d(Selector::Agent(a(1)), true) }).is_err());

    // Compare and set: a state moves only from the one expected; closing dates it.
    assert!(s.set_state(id, IncidentState::Open, IncidentState::Notifying, Timestamp(6)).unwrap());
    assert!(!s.set_state(id, IncidentState::Open, IncidentState::Notifying, Timestamp(7)).unwrap());
    assert_eq!(s.incident(id).unwrap().unwrap().closed_at, None);
    assert!(s.set_state(id, IncidentState::Notifying, IncidentState::Closed, Timestamp(8)).unwrap());
    assert!(!s.set_state(id, IncidentState::Notifying, IncidentState::Closed, Timestamp(9)).unwrap());
    let closed = s.incident(id).unwrap().unwrap();
    assert_eq!((closed.state, closed.closed_at), (IncidentState::Closed, Some(Timestamp(8))));
    assert!(
        !s.set_state(IncidentId::new(99).unwrap(), IncidentState::Open, IncidentState::Closed, Timestamp(9)).unwrap()
    );
    assert!(s.incident(IncidentId::new(99).unwrap()).unwrap().is_none());

    // An officer's incident with a seed given twice (kept once), no alert; listed newest first.
    let second = NewIncident {
        title: "Poste volé".into(),
        opened_by: Author::Officer(a(10)),
        selectors: vec![Selector::Agent(a(4)), Selector::Agent(a(4)), Selector::Agent(a(5))],
        alert: None,
        ..new_incident()
    };
    let id2 = s.create_incident(&second).unwrap();
    assert_eq!(id2.get(), 2);
    let i2 = s.incident(id2).unwrap().unwrap();
    assert_eq!((i2.opened_by, i2.alert, i2.state), (Author::Officer(a(10)), None, IncidentState::Open));
    assert_eq!(i2.selectors, vec![Selector::Agent(a(4)), Selector::Agent(a(5))]);
    let listed = s.incidents(10).unwrap();
    assert_eq!(listed.iter().map(|i| i.id).collect::<Vec<_>>(), vec![id2, id]);
    assert_eq!(listed[1], closed, "listed with their selectors");
    assert_eq!(s.incidents(1).unwrap(), vec![i2]);
    assert!(s.incidents(0).unwrap().is_empty());
    assert!(s.create_incident(&NewIncident { opened_by: Author::Officer(a(999)), ..new_incident() }).is_err());
}

both!(notices_are_created_once_and_move_only_from_the_state_expected, notices_move);
fn notices_move<S: Store>(s: &Arc<S>) {
    let id = s.create_incident(&new_incident()).unwrap();
    assert!(s.create_notices(&[]).unwrap(), "nothing to create");
    let all: Vec<Notice> = (1..=5).map(|p| notice(id, p, p != 3)).collect();
    assert!(s.create_notices(&all).unwrap());
    assert!(!s.create_notices(&all).unwrap(), "a second campaign is refused");
    assert!(!s.create_notices(&[notice(id, 6, true)]).unwrap(), "even one of other persons");
    assert_eq!(s.notice(id, p(6)).unwrap(), None);
    assert!(s.create_notices(&[notice(IncidentId::new(99).unwrap(), 1, true)]).is_err(), "unknown incident");
    for n in &all {
        assert_eq!(s.notice(id, n.person).unwrap().as_ref(), Some(n), "P{} round trips", n.person);
    }
    let serious = Notice {
        kind: LetterKind::Serious,
        categories: CategorySet::EMPTY.with(DataCategory::Nir).with(DataCategory::Contact),
        ..notice(IncidentId::new(2).unwrap(), 1, true)
    };
    let id2 = s.create_incident(&new_incident()).unwrap();
    assert_eq!(id2, serious.incident);
    assert!(s.create_notices(std::slice::from_ref(&serious)).unwrap(), "another incident's campaign");
    assert_eq!(s.notice(id2, p(1)).unwrap(), Some(serious));

    let c = s.notice_counts(id).unwrap();
    assert_eq!(c, NoticeCounts { pending: 4, no_address: 1, ..NoticeCounts::default() });
    assert!(s.move_notice(id, p(1), NoticeState::Pending, NoticeState::Sending, Timestamp(40), None).unwrap());
    assert!(!s.move_notice(id, p(1), NoticeState::Pending, NoticeState::Sending, Timestamp(41), None).unwrap());
    assert_eq!(s.notice(id, p(1)).unwrap().unwrap().attempts, 1);
    assert!(!s.move_notice(id, p(77), NoticeState::Pending, NoticeState::Sending, Timestamp(41), None).unwrap());
    // A stop with a message in flight: in doubt at the next start.
    assert_eq!(s.sending_to_in_doubt(id, Timestamp(50)).unwrap(), 1);
    assert_eq!(s.sending_to_in_doubt(id, Timestamp(51)).unwrap(), 0);
    let doubt = s.notice(id, p(1)).unwrap().unwrap();
    assert_eq!(
        (doubt.state, doubt.updated, doubt.error.as_deref()),
        (NoticeState::InDoubt, Timestamp(50), Some("the sender stopped while this message was in flight"))
    );
    // Sent, refused for good, and a retry counted as a second attempt.
    assert!(s.move_notice(id, p(2), NoticeState::Pending, NoticeState::Sending, Timestamp(60), None).unwrap());
    assert!(s.move_notice(id, p(2), NoticeState::Sending, NoticeState::Sent, Timestamp(61), None).unwrap());
    assert!(s.move_notice(id, p(4), NoticeState::Pending, NoticeState::Sending, Timestamp(62), None).unwrap());
    assert!(s.move_notice(id, p(4), NoticeState::Sending, NoticeState::Pending, Timestamp(63), Some("451")).unwrap());
    assert!(s.move_notice(id, p(4), NoticeState::Pending, NoticeState::Sending, Timestamp(64), None).unwrap());
    assert!(
        s.move_notice(id, p(4), NoticeState::Sending, NoticeState::Failed, Timestamp(65), Some("550 5.1.1")).unwrap()
    );
    let failed = s.notice(id, p(4)).unwrap().unwrap();
    assert_eq!((failed.attempts, failed.updated, failed.error.as_deref()), (2, Timestamp(65), Some("550 5.1.1")));
    assert_eq!(s.notice(id, p(2)).unwrap().unwrap().attempts, 1);
    assert_eq!(
        s.notice_counts(id).unwrap(),
        NoticeCounts { pending: 1, sending: 0, in_doubt: 1, sent: 1, failed: 1, no_address: 1 }
    );

    // Pages by person id, after the last one seen.
    assert_eq!(ids(&s.notices(id, NoticeState::Pending, None, 10).unwrap()), vec![5]);
    assert_eq!(ids(&s.notices(id, NoticeState::NoAddress, None, 10).unwrap()), vec![3]);
    assert_eq!(ids(&s.notices(id, NoticeState::InDoubt, None, 10).unwrap()), vec![1]);
    assert!(s.notices(id, NoticeState::Pending, Some(p(5)), 10).unwrap().is_empty());
    assert!(s.notices(id, NoticeState::Pending, None, 0).unwrap().is_empty());
    assert!(s.notices(id, NoticeState::Sending, None, 10).unwrap().is_empty());
}

both!(a_large_campaign_is_created_at_once_and_paged_by_person, large_campaign);
/// The original test's paging, and a campaign of tens of thousands created at once and read
/// back page by page, in person order, each once.
fn large_campaign<S: Store>(s: &Arc<S>) {
    let id = s.create_incident(&new_incident()).unwrap();
    let all: Vec<Notice> = (1..=5).map(|p| notice(id, p, p != 3)).collect();
    assert!(s.create_notices(&all).unwrap());
    assert!(s.move_notice(id, p(1), NoticeState::Pending, NoticeState::Sending, Timestamp(40), None).unwrap());
    assert_eq!(s.sending_to_in_doubt(id, Timestamp(50)).unwrap(), 1);
    assert_eq!(ids(&s.notices(id, NoticeState::Pending, None, 2).unwrap()), vec![2, 4]);
    assert_eq!(ids(&s.notices(id, NoticeState::Pending, Some(p(4)), 10).unwrap()), vec![5]);

    let big = s.create_incident(&new_incident()).unwrap();
    // Given out of order, with every seventh person without an address.
    let persons: Vec<u64> = (1..=30_000u64).rev().collect();
    let notices: Vec<Notice> = persons.iter().map(|&n| notice(big, n, !n.is_multiple_of(7))).collect();
    assert!(s.create_notices(&notices).unwrap());
    let counts = s.notice_counts(big).unwrap();
    assert_eq!((counts.pending, counts.no_address), (30_000 - 4_285, 4_285));
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s.notices(big, NoticeState::Pending, after, 1_000).unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.person);
        seen.extend(ids(&page));
    }
    assert_eq!(seen, (1..=30_000u64).filter(|n| !n.is_multiple_of(7)).collect::<Vec<_>>());
    assert_eq!(s.notice(big, p(29_999)).unwrap().unwrap(), notice(big, 29_999, true));
}

both!(two_campaigns_started_together_create_the_notices_once, concurrent_campaigns);
/// Two campaigns of one incident started at the same moment (two nodes, or two requests on
/// one): exactly one creates the notices, and nobody is written to twice.
fn concurrent_campaigns<S: Store>(s: &Arc<S>) {
    for round in 0..4 {
        let id = s.create_incident(&new_incident()).unwrap();
        // The two lists differ (one more person), as two scopings a moment apart could.
        let lists: Vec<Vec<Notice>> =
            [10_000u64, 10_001].iter().map(|&n| (1..=n).map(|p| notice(id, p, true)).collect()).collect();
        let start = Arc::new(Barrier::new(2));
        let results: Vec<Result<bool, StoreError>> = lists
            .into_iter()
            .map(|list| {
                let (s, start) = (s.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    s.create_notices(&list)
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        let created: Vec<usize> =
            results.iter().enumerate().filter(|(_, r)| matches!(r, Ok(true))).map(|(i, _)| i).collect();
        assert_eq!(created.len(), 1, "round {round}: {results:?}");
        // The second waits for the first (SQLite's write lock, PostgreSQL's row lock on the
        // incident), then finds its notices and is refused: not an error.
        assert!(
            matches!(results[1 - created[0]], Ok(false)),
            "round {round}: the second is refused, not failed: {results:?}"
        );
        let expected = if created[0] == 0 { 10_000 } else { 10_001 };
        assert_eq!(s.notice_counts(id).unwrap().pending, expected, "round {round}: one list, whole");
    }
}

both!(decisions_taken_together_each_keep_their_selector, concurrent_decisions);
/// Officers accepting different expansions of one incident at the same moment: each accepted
/// selector is held, at a position of its own, and every decision is recorded.
fn concurrent_decisions<S: Store>(s: &Arc<S>) {
    let id = s.create_incident(&new_incident()).unwrap();
    let start = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let (s, start) = (s.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for n in 0..10 {
                    let target = Selector::Session(SessionId(1_000 + t * 100 + n));
                    let decision = Decision {
                        incident: id,
                        target,
                        accepted: true,
                        by: Author::Operator,
                        at: Timestamp(5),
                        why: String::new(),
                    };
                    s.decide(&decision).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let held = s.incident(id).unwrap().unwrap().selectors;
    assert_eq!(held.len(), 2 + 40, "{held:?}");
    assert_eq!(held.iter().collect::<HashSet<_>>().len(), 42);
    assert_eq!(s.decisions(id).unwrap().len(), 40);
}

/// `originals` follows chains of duplicates; a loop leads nowhere.
fn chains(l: &mut dyn Fill) {
    l.person(&person(23), false, Some(p(21)));
    l.person(&person(24), false, Some(p(23)));
    l.person(&person(25), false, Some(p(26)));
    l.person(&person(26), false, Some(p(25)));
}

both!(duplicates_lead_to_their_original_and_canaries_are_listed, scoping_answers, chains);
fn scoping_answers<S: Store>(s: &Arc<S>) {
    // small_world: P21 duplicates P1; P99 is the canary. `chains`: P24 -> P23 -> P21 -> P1.
    assert_eq!(IncidentStore::canaries(s.as_ref()).unwrap(), [p(99)].into_iter().collect());
    assert_eq!(
        IncidentStore::canaries(s.as_ref()).unwrap(),
        s.canary_list().unwrap().into_iter().collect::<HashSet<_>>(),
        "the port and the detector's list agree"
    );
    let expected = vec![(21, 1), (23, 1), (24, 1)];
    let sorted = |m: std::collections::HashMap<PersonId, PersonId>| {
        let mut v: Vec<(u64, u64)> = m.into_iter().map(|(a, b)| (a.get(), b.get())).collect();
        v.sort_unstable();
        v
    };
    let persons: Vec<PersonId> = (1..=50).map(p).collect();
    assert_eq!(sorted(s.originals(&persons).unwrap()), expected);
    assert_eq!(sorted(s.originals(&[p(24), p(24), p(2)]).unwrap()), vec![(24, 1)]);
    assert!(s.originals(&[]).unwrap().is_empty());
    // Past 100 000 persons the whole duplicates table is read: the same answer.
    let many: Vec<PersonId> = (1..=100_001).map(p).collect();
    assert_eq!(sorted(s.originals(&many).unwrap()), expected);

    let recipient = |n: u64| Recipient {
        person: p(n),
        sex: Sex::Male,
        first_name: format!("Prénom{n}"),
        last_name: if n == 4 { "NOM\t4\\".into() } else { format!("NOM{n}") },
        street: format!("{} rue de la République", n % 200 + 1),
        postcode: "69002".into(),
        commune: "Lyon".into(),
        email: (!n.is_multiple_of(3)).then(|| format!("p{n}@example.org")),
    };
    assert_eq!(
        s.recipients(&[p(3), p(1), p(12_345), p(4), p(1)]).unwrap(),
        vec![recipient(3), recipient(1), recipient(4), recipient(1)],
        "in the order asked, an unknown person left out"
    );
    assert!(s.recipients(&[]).unwrap().is_empty());
}

both!(peer_agents_are_a_fixed_sample_of_the_same_kind_and_role, peers);
fn peers<S: Store>(s: &Arc<S>) {
    let agent = |n| s.agent(a(n)).unwrap().unwrap();
    let peers =
        |n, kind, limit| -> Vec<u64> { s.peers(&agent(n), kind, limit).unwrap().iter().map(|a| a.get()).collect() };
    // small_world: advisors 1, 2, 4, 5 in the agency (org 1), 11 at Cap emploi, 7 and 12 in
    // training organizations (12's is inactive: the account counts), 3 the agency's manager.
    assert_eq!(peers(1, OrgKind::Agency, 10), vec![2, 4, 5]);
    assert_eq!(peers(1, OrgKind::Agency, 2), vec![2, 4], "lowest ids first");
    assert_eq!(peers(4, OrgKind::Agency, 10), vec![1, 2, 5], "the agent itself excepted");
    assert_eq!(peers(1, OrgKind::CapEmploi, 10), vec![11], "another kind of organization");
    assert_eq!(peers(7, OrgKind::TrainingOrg, 10), vec![12]);
    assert!(peers(3, OrgKind::Agency, 10).is_empty(), "the only manager");
    assert!(peers(1, OrgKind::Agency, 0).is_empty());
    s.set_agent_active(a(2), false).unwrap();
    assert_eq!(peers(1, OrgKind::Agency, 10), vec![4, 5], "a suspended account is no peer");
}
