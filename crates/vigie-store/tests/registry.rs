//! The Registry port on the hand-made registry of `common::small_world`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::*;
use time::macros::date;
use vigie_core::ports::Registry;
use vigie_core::relationship::RelationshipKind;
use vigie_store::Store;

fn world() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = small_world(dir.path());
    (dir, store)
}

#[test]
fn a_person_round_trips() {
    let (_dir, store) = world();
    for n in [1, 5, 10, 21, 99] {
        assert_eq!(store.person(p(n)).unwrap(), Some(small_world_person(n)), "P{n}");
    }
    assert_eq!(store.person(p(12345)).unwrap(), None);
}

#[test]
fn active_relationships_of_a_person() {
    let (_dir, store) = world();
    let rels = store.active_relationships(p(3), TODAY).unwrap();
    assert_eq!(rels.len(), 2);
    assert!(rels.iter().all(|r| r.kind == RelationshipKind::Caseload && r.team == Some(t(1))));
    assert_eq!(rels.iter().map(|r| r.agent).collect::<Vec<_>>(), vec![Some(a(1)), Some(a(2))]);

    // Expired on 2026-01-01 (exclusive end): active the day before, not on the day.
    assert!(store.active_relationships(p(5), TODAY).unwrap().is_empty());
    assert_eq!(store.active_relationships(p(5), date!(2025 - 12 - 31)).unwrap().len(), 1);
    assert!(store.active_relationships(p(5), date!(2026 - 01 - 01)).unwrap().is_empty());
    // Not yet started.
    assert!(store.active_relationships(p(10), TODAY).unwrap().is_empty());
    assert_eq!(store.active_relationships(p(10), date!(2026 - 06 - 01)).unwrap().len(), 1);

    // Organization-level relationships carry no team; enrolments their session.
    let enrolment = &store.active_relationships(p(11), TODAY).unwrap()[0];
    assert_eq!((enrolment.kind, enrolment.team, enrolment.agent), (RelationshipKind::Enrolment, None, None));
    assert_eq!(enrolment.session.map(|s| s.get()), Some(1));
    assert_eq!(enrolment.org, o(4));

    // Nonexistent person and canary: the same empty answer.
    assert!(store.active_relationships(p(4242), TODAY).unwrap().is_empty());
    assert!(store.active_relationships(p(99), TODAY).unwrap().is_empty());
}

#[test]
fn exact_lookups() {
    let (_dir, store) = world();
    let born = date!(1985 - 05 - 14);
    // P21 duplicates P1: same NIR and birth date, two ids.
    assert_eq!(store.find_by_nir(&nir_of(1), born).unwrap(), vec![p(1), p(21)]);
    assert_eq!(store.find_by_nir(&nir_of(2), born).unwrap(), vec![p(2)]);
    assert!(store.find_by_nir(&nir_of(2), date!(1985 - 05 - 15)).unwrap().is_empty());
    assert!(store.find_by_nir(&nir_of(777), born).unwrap().is_empty());
    assert_eq!(store.find_by_ft_id(&ft_id_of(7), born).unwrap(), vec![p(7)]);
    assert!(store.find_by_ft_id(&ft_id_of(7), date!(1990 - 01 - 01)).unwrap().is_empty());
    assert!(store.find_by_ft_id(&ft_id_of(777), born).unwrap().is_empty());
    assert_eq!(store.duplicate_of(p(21)).unwrap(), Some(p(1)));
    assert_eq!(store.duplicate_of(p(1)).unwrap(), None);
    assert_eq!(store.canaries().unwrap(), vec![p(99)]);
    assert!(store.is_canary(p(99)).unwrap());
    assert!(!store.is_canary(p(1)).unwrap());
}

#[test]
fn agents_and_organizations() {
    let (_dir, store) = world();
    let agent1 = store.agent(a(1)).unwrap().unwrap();
    assert_eq!(agent1, agent(1, 1, vigie_core::org::Role::Advisor, Some(1)));
    assert_eq!(store.agent(a(500)).unwrap(), None);
    let inactive = store.organization(o(6)).unwrap().unwrap();
    assert!(!inactive.active);
    assert_eq!(inactive.kind, vigie_core::org::OrgKind::TrainingOrg);
    assert_eq!(store.organization(o(500)).unwrap(), None);
}

/// The ids of every page of `agent`'s scope, `limit` at a time.
fn all_pages(store: &Store, agent_n: u64, limit: usize) -> Vec<Vec<u64>> {
    let agent = store.agent(a(agent_n)).unwrap().unwrap();
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = store.scope_page(&agent, after, limit, TODAY).unwrap();
        if page.is_empty() {
            return pages;
        }
        for (entry, rel) in &page {
            assert_eq!(entry.id, rel.person);
            assert_eq!(entry.relationship, rel.kind);
            assert!(rel.is_active_on(TODAY));
        }
        after = page.last().map(|(e, _)| e.id);
        pages.push(page.iter().map(|(e, _)| e.id.get()).collect());
    }
}

#[test]
fn scope_pages_by_org_kind_and_role() {
    let (_dir, store) = world();
    let flat = |agent_n| all_pages(&store, agent_n, 100).concat();
    // Team T1 (A1, A2, A3): caseloads of A1 and A2, P3 once, P5 expired.
    assert_eq!(flat(1), vec![1, 2, 3, 4]);
    assert_eq!(flat(2), vec![1, 2, 3, 4]);
    assert_eq!(flat(3), vec![1, 2, 3, 4], "manager sees the team");
    assert_eq!(flat(4), vec![6], "other team");
    assert_eq!(flat(5), vec![7], "no team: own caseload");
    assert_eq!(flat(11), vec![22], "cap emploi");
    assert_eq!(flat(6), vec![8, 9], "mission locale: follow-ups, P10 not yet");
    assert_eq!(flat(7), vec![11, 12], "training org: its enrolments");
    assert_eq!(flat(8), (14..=20).collect::<Vec<_>>(), "subcontractor: assignments");
    assert!(flat(12).is_empty(), "inactive organization");
    assert!(flat(9).is_empty(), "account admin");
    assert!(flat(10).is_empty(), "security officer");

    let page = store.scope_page(&store.agent(a(1)).unwrap().unwrap(), None, 10, TODAY).unwrap();
    let (entry, rel) = &page[0];
    assert_eq!((entry.last_name.as_str(), entry.first_name.as_str()), ("NOM1", "Prénom1"));
    assert_eq!((rel.agent, rel.team, rel.org), (Some(a(1)), Some(t(1)), o(1)));
}

#[test]
fn scope_pages_are_keyset_paginated() {
    let (_dir, store) = world();
    assert_eq!(all_pages(&store, 8, 3), vec![vec![14, 15, 16], vec![17, 18, 19], vec![20]]);
    assert_eq!(all_pages(&store, 1, 2), vec![vec![1, 2], vec![3, 4]]);
    assert_eq!(all_pages(&store, 1, 1), vec![vec![1], vec![2], vec![3], vec![4]]);
    let a8 = store.agent(a(8)).unwrap().unwrap();
    assert!(store.scope_page(&a8, None, 0, TODAY).unwrap().is_empty());
    assert!(store.scope_page(&a8, Some(p(20)), 10, TODAY).unwrap().is_empty());
    // A day when nothing had started yet.
    assert!(store.scope_page(&a8, None, 10, date!(2024 - 12 - 31)).unwrap().is_empty());
}

#[test]
fn the_team_of_a_caseload_is_the_holders_current_team() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_world(dir.path());
    drop(store);
    // Move A2 from T1 to T2 behind the store's back, as an account admin would.
    let conn = rusqlite::Connection::open(dir.path().join("vigie.db")).unwrap();
    conn.execute("UPDATE agents SET team = 2 WHERE id = 2", []).unwrap();
    drop(conn);
    let store = Store::open(dir.path()).unwrap();
    let teams: Vec<_> = store.active_relationships(p(4), TODAY).unwrap().iter().map(|r| r.team).collect();
    assert_eq!(teams, vec![Some(t(2))]);
    assert_eq!(all_pages(&store, 1, 100).concat(), vec![1, 2, 3]);
    assert_eq!(all_pages(&store, 4, 100).concat(), vec![3, 4, 6]);
}

#[test]
fn concurrent_readers_each_get_a_connection() {
    let (_dir, store) = world();
    let store = std::sync::Arc::new(store);
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || {
                for _ in 0..200 {
                    let n = 1 + i % 20;
                    assert!(store.person(p(n)).unwrap().is_some());
                    store.active_relationships(p(n), TODAY).unwrap();
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
}
