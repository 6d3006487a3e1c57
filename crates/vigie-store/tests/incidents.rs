//! Incidents, decisions and notifications (the IncidentStore port).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::*;
use vigie_core::category::{CategorySet, DataCategory};
use vigie_core::ids::{IncidentId, PersonId};
use vigie_core::incident::notice::LetterKind;
use vigie_core::incident::store::{Decision, IncidentStore, NewIncident, Notice, NoticeState};
use vigie_core::incident::{Author, IncidentState, Selector, Window};
use vigie_core::time::Timestamp;

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

#[test]
fn incidents_keep_their_selectors_decisions_and_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_world(dir.path());
    let id = store.create_incident(&new_incident()).unwrap();
    let i = store.incident(id).unwrap().unwrap();
    assert_eq!(i.selectors, new_incident().selectors);
    assert_eq!((i.state, i.alert, i.awareness_at), (IncidentState::Open, Some(3), Timestamp(900)));
    let d = |target: Selector, accepted| Decision {
        incident: id,
        target,
        accepted,
        by: Author::Officer(a(2)),
        at: Timestamp(5),
        why: "w".into(),
    };
    store.decide(&d(Selector::Agent(a(8)), true)).unwrap();
    store.decide(&d(Selector::Agent(a(9)), false)).unwrap();
    let i = store.incident(id).unwrap().unwrap();
    assert_eq!(i.selectors.last(), Some(&Selector::Agent(a(8))), "accepted: held; refused: not");
    assert_eq!(i.selectors.len(), 3);
    assert_eq!(store.decisions(id).unwrap().len(), 2);
    // Compare and set: a state moves only from the one expected.
    assert!(store.set_state(id, IncidentState::Open, IncidentState::Notifying, Timestamp(6)).unwrap());
    assert!(!store.set_state(id, IncidentState::Open, IncidentState::Notifying, Timestamp(7)).unwrap());
    assert!(store.incident(IncidentId::new(99).unwrap()).unwrap().is_none());
}

#[test]
fn notices_are_created_once_and_move_only_from_the_state_expected() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_world(dir.path());
    let id = store.create_incident(&new_incident()).unwrap();
    let all: Vec<Notice> = (1..=5).map(|p| notice(id, p, p != 3)).collect();
    assert!(store.create_notices(&all).unwrap());
    assert!(!store.create_notices(&all).unwrap(), "a second campaign is refused");
    let c = store.notice_counts(id).unwrap();
    assert_eq!((c.pending, c.no_address), (4, 1));
    let p1 = PersonId::new(1).unwrap();
    assert!(store.move_notice(id, p1, NoticeState::Pending, NoticeState::Sending, Timestamp(40), None).unwrap());
    assert!(!store.move_notice(id, p1, NoticeState::Pending, NoticeState::Sending, Timestamp(41), None).unwrap());
    assert_eq!(store.notice(id, p1).unwrap().unwrap().attempts, 1);
    // A stop with a message in flight: in doubt at the next start.
    assert_eq!(store.sending_to_in_doubt(id, Timestamp(50)).unwrap(), 1);
    assert_eq!(store.notice(id, p1).unwrap().unwrap().state, NoticeState::InDoubt);
    let pending = store.notices(id, NoticeState::Pending, None, 2).unwrap();
    assert_eq!(pending.iter().map(|n| n.person.get()).collect::<Vec<_>>(), vec![2, 4]);
    let after = store.notices(id, NoticeState::Pending, Some(PersonId::new(4).unwrap()), 10).unwrap();
    assert_eq!(after.iter().map(|n| n.person.get()).collect::<Vec<_>>(), vec![5]);
}

#[test]
fn duplicates_lead_to_their_original_and_canaries_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_world(dir.path());
    // small_world: P21 duplicates P1; P99 is the canary.
    assert_eq!(IncidentStore::canaries(&store).unwrap(), [p(99)].into_iter().collect());
    let persons: Vec<PersonId> = (1..=50).map(p).collect();
    let originals = store.originals(&persons).unwrap();
    assert_eq!(originals.into_iter().collect::<Vec<_>>(), vec![(p(21), p(1))]);
    let recipients = store.recipients(&[p(1), p(2), p(12_345)]).unwrap();
    assert_eq!(
        recipients.iter().map(|r| r.person).collect::<Vec<_>>(),
        vec![p(1), p(2)],
        "an unknown person is left out"
    );
}
