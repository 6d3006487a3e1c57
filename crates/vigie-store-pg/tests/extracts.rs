//! One suite, two stores, for governed extracts: the core's `ExtractStore` port run against the
//! embedded SQLite store and a real PostgreSQL from the same registry, asserting the same
//! answers: requests filed and decided once, the persons an extract takes (counted, streamed in
//! id order, past many fetches), a production's commit (its canaries in the registry and the
//! extract produced, all or nothing), receipts, hand-overs and overdue extracts, and what
//! several nodes sharing one database add: productions committed at the same moment.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[macro_use]
mod common;

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::{Arc, Barrier};

use common::world::*;
use time::macros::date;
use vigie_core::category::{CategorySet, DataCategory};
use vigie_core::extract::store::{ExtractStore, NewExtract, PlacedCanary, Production, for_each_person};
use vigie_core::extract::{Extract, ExtractId, ExtractState, LegalBasis};
use vigie_core::ids::PersonId;
use vigie_core::person::Person;
use vigie_core::ports::{Registry, StoreError};
use vigie_core::relationship::{Relationship, RelationshipKind};
use vigie_core::time::Timestamp;

/// What the suite uses of a store: the port, the registry, and the stores' own canary list.
trait Store: ExtractStore + Registry + Send + Sync + 'static {
    fn canary_list(&self) -> Result<Vec<PersonId>, StoreError>;
}

impl Store for vigie_store::Store {
    fn canary_list(&self) -> Result<Vec<PersonId>, StoreError> {
        self.canaries()
    }
}

impl Store for vigie_store_pg::PgStore {
    fn canary_list(&self) -> Result<Vec<PersonId>, StoreError> {
        self.canaries()
    }
}

fn x(n: u64) -> ExtractId {
    ExtractId::new(n).unwrap()
}

/// The subcontractor (organization 5, agent 8) asks for its assignments (persons 14 to 20).
fn request(at: i64) -> NewExtract {
    NewExtract {
        org: o(5),
        requested_by: a(8),
        purpose: "document_processing".into(),
        description: "Courriers\tde convocation \\ lot 1".into(),
        legal_basis: LegalBasis::PublicTask,
        relationship: RelationshipKind::Assignment,
        fields: CategorySet::EMPTY.with(DataCategory::Identity).with(DataCategory::Contact),
        recipient: "age1vigie1recipient".into(),
        receipt_key: "cmVjZWlwdC1rZXk=".into(),
        expires_at: Timestamp(at + 90_000),
        created_at: Timestamp(at),
    }
}

/// The extract `request(at)` files as extract `id`, before any decision.
fn filed(id: u64, at: i64) -> Extract {
    let r = request(at);
    Extract {
        id: x(id),
        org: r.org,
        requested_by: r.requested_by,
        purpose: r.purpose.parse().unwrap(),
        description: r.description,
        legal_basis: r.legal_basis,
        relationship: r.relationship,
        fields: r.fields,
        recipient: r.recipient,
        receipt_key: r.receipt_key,
        expires_at: r.expires_at,
        created_at: r.created_at,
        state: ExtractState::Requested,
        decided_by: None,
        decided_at: None,
        produced_at: None,
        rows: None,
        canaries: None,
        ciphertext_sha256: None,
        deleted_at: None,
        downloaded_at: None,
    }
}

/// Canary `number` of an extract: a person of its own with a watched e-mail and phone.
fn canary(number: u32) -> PlacedCanary {
    let n = 500 + u64::from(number);
    let mut person = person(n);
    person.email = Some(format!("canari.{number:04}@canari.vigie.invalid"));
    person.phone = Some(format!("06{number:08}"));
    PlacedCanary {
        number,
        // The service gives a placeholder; the store numbers it.
        person: Person { id: p(1), ..person },
        email: format!("canari.{number:04}@canari.vigie.invalid"),
        phone: format!("336{number:08}"),
    }
}

fn production(at: i64, rows: u64, numbers: &[u32]) -> Production {
    Production {
        at: Timestamp(at),
        rows,
        sha256_hex: format!("{at:064x}"),
        canaries: numbers.iter().map(|n| canary(*n)).collect(),
    }
}

fn persons_of<S: Store>(s: &S, on: time::Date) -> Vec<u64> {
    let mut out = Vec::new();
    s.for_each_extract_person(o(5), RelationshipKind::Assignment, on, &mut |p| {
        out.push(p.id.get());
        ControlFlow::Continue(())
    })
    .unwrap();
    out
}

both!(requests_are_filed_listed_and_decided_once, requests);
fn requests<S: Store>(s: &Arc<S>) {
    assert!(s.extracts(10).unwrap().is_empty());
    let first = s.create_extract(&request(1_000)).unwrap();
    assert_eq!(first, filed(1, 1_000), "stored as asked, tab and backslash included");
    assert_eq!(s.extract(x(1)).unwrap(), Some(first.clone()));
    let second = s.create_extract(&NewExtract { legal_basis: LegalBasis::Contract, ..request(2_000) }).unwrap();
    assert_eq!(second.id, x(2));
    assert_eq!(second.legal_basis, LegalBasis::Contract);
    assert_eq!(s.extracts(10).unwrap(), vec![second.clone(), first.clone()], "newest first");
    assert_eq!(s.extracts(1).unwrap(), vec![second.clone()]);
    assert!(s.extracts(0).unwrap().is_empty());
    assert_eq!(s.extract(x(3)).unwrap(), None);
    // A requester or an organization the registry does not know is refused.
    assert!(s.create_extract(&NewExtract { requested_by: a(999), ..request(3_000) }).is_err());
    assert!(s.create_extract(&NewExtract { org: o(999), ..request(3_000) }).is_err());

    // Compare and set: decided once, from `requested` only.
    assert!(s.decide_extract(x(1), true, a(10), Timestamp(1_500)).unwrap());
    assert!(!s.decide_extract(x(1), false, a(3), Timestamp(1_600)).unwrap(), "decided already");
    assert!(s.decide_extract(x(2), false, a(3), Timestamp(2_500)).unwrap());
    assert!(!s.decide_extract(x(2), true, a(10), Timestamp(2_600)).unwrap());
    assert!(!s.decide_extract(x(9), true, a(10), Timestamp(2_600)).unwrap(), "no such extract");
    let approved = s.extract(x(1)).unwrap().unwrap();
    assert_eq!(
        approved,
        Extract { state: ExtractState::Approved, decided_by: Some(a(10)), decided_at: Some(Timestamp(1_500)), ..first }
    );
    let refused = s.extract(x(2)).unwrap().unwrap();
    assert_eq!(
        (refused.state, refused.decided_by, refused.decided_at),
        (ExtractState::Refused, Some(a(3)), Some(Timestamp(2_500)))
    );
    // Neither counts against the quota: nothing was produced.
    assert_eq!(s.extracted_since(o(5), Timestamp(0)).unwrap(), 0);
}

/// Around the subcontractor's seven assignments: one that ends on the day (it counts), one
/// that starts the day after (it does not), one given twice (counted once), and another
/// organization's (not its).
fn edges(l: &mut dyn Fill) {
    l.relationship(&Relationship { valid_to: Some(TODAY), ..rel(RelationshipKind::Assignment, 21, 5, None) });
    l.relationship(&Relationship {
        valid_from: date!(2026 - 03 - 16),
        ..rel(RelationshipKind::Assignment, 22, 5, None)
    });
    l.relationship(&rel(RelationshipKind::Assignment, 14, 5, None));
    l.relationship(&rel(RelationshipKind::Enrolment, 15, 5, None));
    l.relationship(&rel(RelationshipKind::Assignment, 1, 4, None));
}

both!(the_persons_of_an_extract_are_counted_and_streamed_in_id_order, persons, edges);
fn persons<S: Store>(s: &Arc<S>) {
    let expected: Vec<u64> = (14..=21).collect();
    assert_eq!(s.count_extract_persons(o(5), RelationshipKind::Assignment, TODAY).unwrap(), 8);
    assert_eq!(persons_of(s.as_ref(), TODAY), expected, "each once, in id order, the last day included");
    assert_eq!(persons_of(s.as_ref(), date!(2026 - 03 - 16)), [14, 15, 16, 17, 18, 19, 20, 22]);
    assert_eq!(s.count_extract_persons(o(5), RelationshipKind::Enrolment, TODAY).unwrap(), 1);
    assert_eq!(s.count_extract_persons(o(4), RelationshipKind::Assignment, TODAY).unwrap(), 1);
    assert_eq!(s.count_extract_persons(o(2), RelationshipKind::Assignment, TODAY).unwrap(), 0);
    assert!(persons_of(s.as_ref(), date!(2024 - 12 - 31)).is_empty(), "before any relationship");

    // The records are the registry's, whole.
    let mut records = Vec::new();
    s.for_each_extract_person(o(5), RelationshipKind::Assignment, TODAY, &mut |p| {
        records.push(p);
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(records, expected.iter().map(|n| person(*n)).collect::<Vec<_>>());

    // `Break` stops the walk, which ends well.
    let mut seen = Vec::new();
    s.for_each_extract_person(o(5), RelationshipKind::Assignment, TODAY, &mut |p| {
        seen.push(p.id.get());
        if seen.len() == 3 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    })
    .unwrap();
    assert_eq!(seen, [14, 15, 16]);

    // The caller's own error comes out as it is, after the rows before it.
    #[derive(Debug, PartialEq)]
    enum Stop {
        At(u64),
        Store(String),
    }
    impl From<StoreError> for Stop {
        fn from(e: StoreError) -> Self {
            Stop::Store(e.0)
        }
    }
    let mut before = 0;
    let r = for_each_person(s.as_ref(), o(5), RelationshipKind::Assignment, TODAY, |p| {
        if p.id.get() == 17 {
            return Err(Stop::At(17));
        }
        before += 1;
        Ok(())
    });
    assert_eq!((r, before), (Err(Stop::At(17)), 3));
    assert_eq!(for_each_person::<_, Stop>(s.as_ref(), o(5), RelationshipKind::Assignment, TODAY, |_| Ok(())), Ok(()));
}

/// A national subcontractor: 2 500 more persons assigned (more than PostgreSQL's fetches of
/// 1 024), their ids interleaved with unassigned persons.
fn many(l: &mut dyn Fill) {
    for n in 1_000..6_000u64 {
        l.person(&person(n), false, None);
        if n % 2 == 0 {
            l.relationship(&rel(RelationshipKind::Assignment, n, 5, None));
        }
    }
}

both!(a_large_extract_is_streamed_whole_in_order, large, many);
fn large<S: Store>(s: &Arc<S>) {
    let expected: Vec<u64> = (14..=20).chain((1_000..6_000).filter(|n| n % 2 == 0)).collect();
    assert_eq!(s.count_extract_persons(o(5), RelationshipKind::Assignment, TODAY).unwrap(), expected.len() as u64);
    assert_eq!(persons_of(s.as_ref(), TODAY), expected);
    // Stopped after the first fetch, and again well into the third.
    for stop in [10usize, 2_100] {
        let mut seen = 0;
        s.for_each_extract_person(o(5), RelationshipKind::Assignment, TODAY, &mut |_| {
            seen += 1;
            if seen == stop { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        })
        .unwrap();
        assert_eq!(seen, stop);
    }
}

both!(a_production_commits_the_extract_and_its_canaries_together, produce);
fn produce<S: Store>(s: &Arc<S>) {
    s.create_extract(&request(1_000)).unwrap();
    // Not approved: nothing is written.
    assert_eq!(s.commit_production(x(1), &production(5_000, 7, &[3, 1])).unwrap(), None);
    assert_eq!(s.extract(x(1)).unwrap().unwrap().state, ExtractState::Requested);
    assert!(s.decide_extract(x(1), true, a(10), Timestamp(1_500)).unwrap());

    let ids = s.commit_production(x(1), &production(5_000, 7, &[3, 1, 2])).unwrap().unwrap();
    assert_eq!(ids, [p(100), p(101), p(102)], "numbered after the largest id (the canary P99), in order");
    let x1 = s.extract(x(1)).unwrap().unwrap();
    assert_eq!(
        (x1.state, x1.produced_at, x1.rows, x1.canaries, x1.ciphertext_sha256.as_deref()),
        (ExtractState::Produced, Some(Timestamp(5_000)), Some(7), Some(3), Some(format!("{:064x}", 5_000).as_str()))
    );
    for (id, number) in ids.iter().zip([3, 1, 2]) {
        assert_eq!(s.person(*id).unwrap(), Some(Person { id: *id, ..canary(number).person }), "{id}");
    }
    assert_eq!(s.canary_list().unwrap(), [p(99), p(100), p(101), p(102)], "canaries of the registry");
    assert_eq!(s.extract_canaries().unwrap(), [(p(100), x(1)), (p(101), x(1)), (p(102), x(1))]);
    assert_eq!(s.extract_canaries_by(Some("canari.0001@canari.vigie.invalid"), None).unwrap(), [(x(1), 1)]);
    assert_eq!(s.extract_canaries_by(None, Some("33600000002")).unwrap(), [(x(1), 2)]);
    assert_eq!(
        s.extract_canaries_by(Some("canari.0003@canari.vigie.invalid"), Some("33600000002")).unwrap(),
        [(x(1), 3)],
        "the e-mail when both are given"
    );
    assert!(s.extract_canaries_by(Some("p1@example.org"), None).unwrap().is_empty());
    assert!(s.extract_canaries_by(None, None).unwrap().is_empty());
    // Produced once: a second commit (another node, a retry) changes nothing.
    assert_eq!(s.commit_production(x(1), &production(6_000, 9, &[4])).unwrap(), None);
    assert_eq!(s.extract(x(1)).unwrap().unwrap(), x1);
    assert_eq!(s.person(p(103)).unwrap(), None);

    // The quota counts the real rows produced since a time, per organization.
    assert_eq!(s.extracted_since(o(5), Timestamp(0)).unwrap(), 7);
    assert_eq!(s.extracted_since(o(5), Timestamp(5_000)).unwrap(), 7);
    assert_eq!(s.extracted_since(o(5), Timestamp(5_001)).unwrap(), 0);
    assert_eq!(s.extracted_since(o(4), Timestamp(0)).unwrap(), 0);
    s.create_extract(&request(7_000)).unwrap();
    assert!(s.decide_extract(x(2), true, a(10), Timestamp(7_500)).unwrap());
    assert_eq!(s.commit_production(x(2), &production(8_000, 5, &[1, 9])).unwrap().unwrap(), [p(103), p(104)]);
    assert_eq!(s.extracted_since(o(5), Timestamp(0)).unwrap(), 12);
    assert_eq!(s.extracted_since(o(5), Timestamp(6_000)).unwrap(), 5);
    // Canary numbers are per extract: X2's number 1 is its own.
    assert_eq!(
        s.extract_canaries_by(Some("canari.0001@canari.vigie.invalid"), None).unwrap(),
        [(x(1), 1), (x(2), 1)],
        "by person id"
    );
}

both!(a_production_that_fails_midway_leaves_nothing, atomic);
/// The commit fails after the extract's row and its first canaries are written (a canary
/// number given twice breaks `UNIQUE (extract, number)`): all of it is rolled back, and the
/// next attempt numbers its canaries as if the first had never been.
fn atomic<S: Store>(s: &Arc<S>) {
    s.create_extract(&request(1_000)).unwrap();
    assert!(s.decide_extract(x(1), true, a(10), Timestamp(1_500)).unwrap());
    assert!(s.commit_production(x(1), &production(5_000, 7, &[1, 2, 1])).is_err());
    let x1 = s.extract(x(1)).unwrap().unwrap();
    assert_eq!((x1.state, x1.produced_at, x1.rows), (ExtractState::Approved, None, None), "still approved");
    assert_eq!(s.person(p(100)).unwrap(), None, "no canary person added");
    assert_eq!(s.canary_list().unwrap(), [p(99)]);
    assert!(s.extract_canaries().unwrap().is_empty());
    assert_eq!(s.extracted_since(o(5), Timestamp(0)).unwrap(), 0, "nothing counted against the quota");

    assert_eq!(s.commit_production(x(1), &production(6_000, 7, &[1, 2])).unwrap().unwrap(), [p(100), p(101)]);
    assert_eq!(s.extract(x(1)).unwrap().unwrap().state, ExtractState::Produced);
}

both!(receipts_hand_overs_and_overdue_extracts, after_production);
fn after_production<S: Store>(s: &Arc<S>) {
    for (n, at) in [(1, 1_000), (2, 2_000), (3, 3_000)] {
        s.create_extract(&request(at)).unwrap();
        assert!(s.decide_extract(x(n), true, a(10), Timestamp(at + 1)).unwrap());
    }
    // Not produced: no receipt; a hand-over is noted all the same (the service refuses first).
    assert!(!s.record_extract_deleted(x(1), Timestamp(1_100)).unwrap());
    for n in [1, 2] {
        assert!(s.commit_production(x(n), &production(4_000 + n as i64, 1, &[1])).unwrap().is_some());
    }
    // The first hand-over is kept.
    s.record_extract_downloaded(x(1), Timestamp(4_500)).unwrap();
    s.record_extract_downloaded(x(1), Timestamp(4_600)).unwrap();
    assert_eq!(s.extract(x(1)).unwrap().unwrap().downloaded_at, Some(Timestamp(4_500)));
    assert_eq!(s.extract(x(2)).unwrap().unwrap().downloaded_at, None);

    // X1 expires at 91 000, X2 at 92 000; X3 was never produced.
    assert!(s.overdue_extracts(Timestamp(90_999)).unwrap().is_empty());
    let overdue = s.overdue_extracts(Timestamp(91_000)).unwrap();
    assert_eq!(overdue.iter().map(|(e, noted)| (e.id, *noted)).collect::<Vec<_>>(), [(x(1), false)]);
    assert_eq!(overdue[0].0, s.extract(x(1)).unwrap().unwrap());
    s.note_extract_overdue(x(1)).unwrap();
    let overdue = s.overdue_extracts(Timestamp(200_000)).unwrap();
    assert_eq!(overdue.iter().map(|(e, noted)| (e.id, *noted)).collect::<Vec<_>>(), [(x(1), true), (x(2), false)]);

    // A receipt closes a produced extract, once; it is overdue no more.
    assert!(s.record_extract_deleted(x(1), Timestamp(95_000)).unwrap());
    assert!(!s.record_extract_deleted(x(1), Timestamp(96_000)).unwrap());
    assert!(!s.record_extract_deleted(x(3), Timestamp(96_000)).unwrap());
    let x1 = s.extract(x(1)).unwrap().unwrap();
    assert_eq!((x1.state, x1.deleted_at), (ExtractState::Deleted, Some(Timestamp(95_000))));
    let overdue = s.overdue_extracts(Timestamp(200_000)).unwrap();
    assert_eq!(overdue.iter().map(|(e, _)| e.id).collect::<Vec<_>>(), [x(2)]);
}

both!(productions_committed_together_take_their_own_canary_ids, concurrent);
/// Four extracts produced at the same moment (four nodes), and one extract's production
/// committed twice at once: each canary gets an id of its own, and an extract is produced once.
fn concurrent<S: Store>(s: &Arc<S>) {
    for n in 1..=4u64 {
        s.create_extract(&request(n as i64 * 1_000)).unwrap();
        assert!(s.decide_extract(x(n), true, a(10), Timestamp(5_000)).unwrap());
    }
    let start = Arc::new(Barrier::new(5));
    let handles: Vec<_> = [1u64, 2, 3, 4, 4]
        .into_iter()
        .map(|n| {
            let (s, start) = (s.clone(), start.clone());
            std::thread::spawn(move || {
                let numbers: Vec<u32> = (1..=50).collect();
                start.wait();
                (n, s.commit_production(x(n), &production(6_000, 3, &numbers)))
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut ids = HashSet::new();
    let mut fourth = Vec::new();
    for (n, r) in results {
        match r.unwrap() {
            Some(given) => {
                assert_eq!(given.len(), 50);
                ids.extend(given);
                if n == 4 {
                    fourth.push(true);
                }
            }
            None => {
                assert_eq!(n, 4, "only the extract committed twice is refused once");
                fourth.push(false);
            }
        }
    }
    fourth.sort();
    assert_eq!(fourth, [false, true], "X4 produced once");
    assert_eq!(ids.len(), 200, "no id given twice");
    assert_eq!(ids, (100..300).map(p).collect::<HashSet<_>>(), "after the largest, without holes");
    assert_eq!(s.extract_canaries().unwrap().len(), 200);
    assert_eq!(s.canary_list().unwrap().len(), 201);
    assert_eq!(s.extracted_since(o(5), Timestamp(0)).unwrap(), 12);
}
