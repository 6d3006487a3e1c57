//! The `COPY` bulk load against a real server: atomic (a load that fails, is dropped or whose
//! process dies leaves the previous registry as it was), refused over an existing registry
//! without `replace`, over incidents without `discard_incidents` and over extracts without
//! `discard_extracts`, one at a time, and checked before it is published.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::world::*;
use vigie_core::ports::Registry;
use vigie_core::relationship::RelationshipKind;
use vigie_store_pg::load::{PgLoadError, PgLoadOptions, PgLoader};
use vigie_store_pg::{PgOptions, PgStore, StoreUrl};

fn url(cluster: &common::Cluster) -> StoreUrl {
    StoreUrl::parse(&cluster.url()).unwrap()
}

fn loaded(cluster: &common::Cluster) -> StoreUrl {
    let url = url(cluster);
    let mut l = PgLoader::start(&url, false).unwrap();
    fill_small_world(&mut l);
    let counts = l.finish().unwrap();
    assert_eq!((counts.persons, counts.relationships, counts.canaries, counts.duplicates), (23, 22, 1, 1));
    url
}

fn persons(cluster: &common::Cluster) -> String {
    cluster.psql("vigie", "SELECT count(*) FROM vigie.persons")
}

fn schemas(cluster: &common::Cluster) -> String {
    cluster
        .psql("vigie", "SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace WHERE nspname LIKE 'vigie%'")
}

#[test]
fn an_abandoned_load_leaves_the_previous_registry_serving() {
    let cluster = common::Cluster::start();
    let url = loaded(&cluster);
    let keys = tempfile::tempdir().unwrap();
    let store = PgStore::open(&url, &PgOptions::new(keys.path().join("k"))).unwrap();
    let mut l = PgLoader::start(&url, true).unwrap();
    for n in 1000..1500 {
        l.add_person(&person(n), false, None).unwrap();
    }
    // Mid-load, nodes still read the previous registry.
    assert_eq!(store.person(p(1)).unwrap(), Some(person(1)));
    drop(l);
    assert_eq!(persons(&cluster), "23");
    assert_eq!(schemas(&cluster), "vigie", "the partial schema was left behind");
    assert_eq!(store.person(p(1)).unwrap(), Some(person(1)));
}

/// A loader whose process dies (its connections cut) leaves its partial schema: the registry
/// is untouched, and the next load removes the leftovers before it starts.
#[test]
fn a_crashed_load_is_cleaned_up_by_the_next() {
    let cluster = common::Cluster::start();
    let url = loaded(&cluster);
    let mut l = PgLoader::start(&url, true).unwrap();
    for n in 1000..1100 {
        l.add_person(&person(n), false, None).unwrap();
    }
    cluster.psql(
        "vigie",
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = 'vigie' AND pid <> pg_backend_pid()",
    );
    drop(l); // cannot clean up any more: its connections are gone
    assert_eq!(persons(&cluster), "23");
    assert_eq!(schemas(&cluster), "vigie,vigie_load");
    let mut l = PgLoader::start(&url, true).unwrap();
    fill_small_world(&mut l);
    l.add_person(&person(500), false, None).unwrap();
    l.finish().unwrap();
    assert_eq!(persons(&cluster), "24");
    assert_eq!(schemas(&cluster), "vigie");
}

#[test]
fn an_existing_registry_is_replaced_only_when_asked_and_atomically() {
    let cluster = common::Cluster::start();
    let url = loaded(&cluster);
    let e = PgLoader::start(&url, false).unwrap_err();
    assert!(matches!(e, PgLoadError::Exists { .. }), "{e}");
    assert!(e.to_string().contains("--replace"), "{e}");
    // A node serving meanwhile, on one connection: its prepared statements were planned
    // against the previous registry's tables.
    let keys = tempfile::tempdir().unwrap();
    let store = PgStore::open(&url, &PgOptions { pool_size: 1, ..PgOptions::new(keys.path().join("k")) }).unwrap();
    assert_eq!(store.person(p(105)).unwrap(), None);
    assert!(store.active_relationships(p(105), TODAY).unwrap().is_empty());
    let mut l = PgLoader::start(&url, true).unwrap();
    fill_small_world(&mut l);
    for n in 100..110 {
        l.add_person(&person(n), false, None).unwrap();
    }
    l.finish().unwrap();
    assert_eq!(persons(&cluster), "33");
    // The swap dropped those tables: the same statements read the new registry.
    assert_eq!(store.person(p(105)).unwrap(), Some(person(105)));
    assert_eq!(store.person(p(1)).unwrap(), Some(person(1)));
}

#[test]
fn one_load_at_a_time() {
    let cluster = common::Cluster::start();
    let url = url(&cluster);
    let first = PgLoader::start(&url, false).unwrap();
    let e = PgLoader::start(&url, false).unwrap_err();
    assert!(matches!(e, PgLoadError::Busy { .. }), "{e}");
    drop(first);
    drop(PgLoader::start(&url, false).unwrap());
}

#[test]
fn a_dangling_reference_stops_the_load_before_it_is_published() {
    let cluster = common::Cluster::start();
    let url = loaded(&cluster);
    let mut l = PgLoader::start(&url, true).unwrap();
    fill_small_world(&mut l);
    l.add_relationship(&rel(RelationshipKind::FollowUp, 4242, 3, None)).unwrap();
    let e = l.finish().unwrap_err();
    assert!(matches!(e, PgLoadError::Inconsistent { .. }), "{e}");
    assert!(e.to_string().contains("relationships"), "{e}");
    assert_eq!(persons(&cluster), "23", "the previous registry is intact");
    assert_eq!(schemas(&cluster), "vigie");
}

#[test]
fn rows_that_break_a_rule_are_refused_and_nothing_is_published() {
    let cluster = common::Cluster::start();
    let url = loaded(&cluster);
    let mut l = PgLoader::start(&url, true).unwrap();
    fill_small_world(&mut l);
    l.add_person(&person(1), false, None).unwrap(); // the same id twice
    let e = l.finish().unwrap_err();
    assert!(e.to_string().contains("persons"), "{e}");
    assert_eq!(persons(&cluster), "23");
}

fn incident(title: &str) -> vigie_core::incident::store::NewIncident {
    use vigie_core::incident::{Author, Selector, Window};
    use vigie_core::time::Timestamp;
    vigie_core::incident::store::NewIncident {
        title: title.into(),
        opened_at: Timestamp(2_000),
        opened_by: Author::Officer(a(10)),
        awareness_at: Timestamp(1_900),
        window: Window::new(Timestamp(0), Timestamp(2_000)).unwrap(),
        selectors: vec![Selector::Agent(a(1))],
        alert: None,
    }
}

/// A reload replaces the whole schema, incidents included. One that holds incidents (a breach
/// record, and each person's notice) is refused, whether they were there when the load started
/// or opened while it ran, and the incidents stay; told to discard them, the load does, and
/// incident ids go on from where they were (ledgers name them).
#[test]
fn a_registry_holding_incidents_is_replaced_only_when_told_to_discard_them() {
    use vigie_core::category::{CategorySet, DataCategory};
    use vigie_core::incident::notice::LetterKind;
    use vigie_core::incident::store::{IncidentStore, Notice, NoticeState};
    use vigie_core::time::Timestamp;

    let cluster = common::Cluster::start();
    let url = loaded(&cluster);
    let keys = tempfile::tempdir().unwrap();
    let store = PgStore::open(&url, &PgOptions::new(keys.path().join("k"))).unwrap();
    let incidents = |c: &common::Cluster| c.psql("vigie", "SELECT count(*) FROM vigie.incidents");

    // No incident yet: replaced as before (the unused id sequence carried over as it is).
    let mut l = PgLoader::start(&url, true).unwrap();
    fill_small_world(&mut l);
    l.finish().unwrap();

    // Opened while a load runs: seen at the swap, which is refused; nothing is published.
    let mut l = PgLoader::start(&url, true).unwrap();
    fill_small_world(&mut l);
    l.add_person(&person(100), false, None).unwrap();
    let id = store.create_incident(&incident("pendant le chargement")).unwrap();
    assert_eq!(id.get(), 1);
    let notice = Notice {
        incident: id,
        person: p(1),
        kind: LetterKind::Standard,
        categories: CategorySet::EMPTY.with(DataCategory::Contact),
        first: Timestamp(10),
        last: Timestamp(20),
        email: Some("p1@example.org".into()),
        state: NoticeState::Pending,
        attempts: 0,
        message_id: "<m1@example.invalid>".into(),
        updated: Timestamp(30),
        error: None,
    };
    assert!(store.create_notices(std::slice::from_ref(&notice)).unwrap());
    let e = l.finish().unwrap_err();
    assert!(matches!(e, PgLoadError::Incidents { count: 1, .. }), "{e}");
    assert!(e.to_string().contains("1 incident") && e.to_string().contains("--discard-incidents"), "{e}");
    assert_eq!(persons(&cluster), "23", "the previous registry is intact");
    assert_eq!(schemas(&cluster), "vigie");
    assert_eq!(store.notice(id, p(1)).unwrap(), Some(notice.clone()), "the incident and its notices stay");

    // There at the start: refused before a row is streamed; told to discard them but not to
    // replace, the registry is not replaced either.
    let e = PgLoader::start_with(&url, &PgLoadOptions { replace: true, ..PgLoadOptions::default() }).unwrap_err();
    assert!(matches!(e, PgLoadError::Incidents { count: 1, .. }), "{e}");
    let e =
        PgLoader::start_with(&url, &PgLoadOptions { discard_incidents: true, ..PgLoadOptions::default() }).unwrap_err();
    assert!(matches!(e, PgLoadError::Exists { .. }), "discarding incidents does not mean replacing: {e}");
    assert!(matches!(PgLoader::start(&url, true).unwrap_err(), PgLoadError::Incidents { count: 1, .. }));
    assert_eq!(schemas(&cluster), "vigie");
    assert_eq!(incidents(&cluster), "1");

    // Told to discard them: the new registry comes with no incidents, and ids are not reused.
    let mut l = PgLoader::start_with(
        &url,
        &PgLoadOptions { replace: true, discard_incidents: true, ..PgLoadOptions::default() },
    )
    .unwrap();
    fill_small_world(&mut l);
    l.add_person(&person(100), false, None).unwrap();
    l.finish().unwrap();
    assert_eq!(persons(&cluster), "24");
    assert_eq!(schemas(&cluster), "vigie");
    assert!(store.incident(id).unwrap().is_none());
    assert_eq!(store.notice(id, p(1)).unwrap(), None);
    assert!(store.incidents(10).unwrap().is_empty());
    let next = store.create_incident(&incident("après")).unwrap();
    assert_eq!(next.get(), id.get() + 1, "incident ids go on across the reload");
    assert_eq!(store.incident(next).unwrap().unwrap().title, "après");
    // With the incident table emptied again (as by an operator), replacing needs no more.
    cluster.psql("vigie", "DELETE FROM vigie.incident_selectors; DELETE FROM vigie.incidents");
    let mut l = PgLoader::start(&url, true).unwrap();
    fill_small_world(&mut l);
    l.finish().unwrap();
    assert_eq!(persons(&cluster), "23");
    assert_eq!(store.create_incident(&incident("encore")).unwrap().get(), next.get() + 1);
}

fn extract_request() -> vigie_core::extract::store::NewExtract {
    use vigie_core::category::{CategorySet, DataCategory};
    use vigie_core::extract::LegalBasis;
    use vigie_core::time::Timestamp;
    vigie_core::extract::store::NewExtract {
        org: o(5),
        requested_by: a(8),
        purpose: "document_processing".into(),
        description: "Courriers".into(),
        legal_basis: LegalBasis::PublicTask,
        relationship: RelationshipKind::Assignment,
        fields: CategorySet::EMPTY.with(DataCategory::Identity),
        recipient: "age1vigie1recipient".into(),
        receipt_key: "cmVjZWlwdC1rZXk=".into(),
        expires_at: Timestamp(90_000),
        created_at: Timestamp(1_000),
    }
}

/// A reload replaces the whole schema, extracts included: the record of who holds a file of
/// persons, whose canaries are persons of the old registry. One that holds extracts is refused,
/// whether they were there when the load started or filed while it ran, and they stay; told to
/// discard them (which discarding incidents does not say), the load does, and extract numbers
/// go on from where they were (pseudonyms and sealed files carry them).
#[test]
fn a_registry_holding_extracts_is_replaced_only_when_told_to_discard_them() {
    use vigie_core::extract::ExtractState;
    use vigie_core::extract::store::{ExtractStore, PlacedCanary, Production};
    use vigie_core::time::Timestamp;

    let cluster = common::Cluster::start();
    let url = loaded(&cluster);
    let keys = tempfile::tempdir().unwrap();
    let store = PgStore::open(&url, &PgOptions::new(keys.path().join("k"))).unwrap();
    let extracts = |c: &common::Cluster| c.psql("vigie", "SELECT count(*) FROM vigie.extracts");

    // Filed and produced while a load runs: seen at the swap, which is refused.
    let mut l = PgLoader::start(&url, true).unwrap();
    fill_small_world(&mut l);
    let x = store.create_extract(&extract_request()).unwrap();
    assert_eq!(x.id.get(), 1);
    assert!(store.decide_extract(x.id, true, a(10), Timestamp(1_500)).unwrap());
    let canary =
        PlacedCanary { number: 1, person: person(500), email: "c@canari.invalid".into(), phone: "33600000001".into() };
    let production = Production { at: Timestamp(2_000), rows: 7, sha256_hex: "00".repeat(32), canaries: vec![canary] };
    assert_eq!(store.commit_production(x.id, &production).unwrap(), Some(vec![p(100)]));
    let e = l.finish().unwrap_err();
    assert!(matches!(e, PgLoadError::Extracts { count: 1, .. }), "{e}");
    assert!(e.to_string().contains("1 extract") && e.to_string().contains("--discard-extracts"), "{e}");
    assert_eq!(persons(&cluster), "24", "the previous registry is intact, its canary included");
    assert_eq!(schemas(&cluster), "vigie");
    assert_eq!(store.extract(x.id).unwrap().unwrap().state, ExtractState::Produced, "the extract stays");

    // There at the start: refused before a row is streamed, even when told to discard incidents.
    for options in [
        PgLoadOptions { replace: true, ..PgLoadOptions::default() },
        PgLoadOptions { replace: true, discard_incidents: true, ..PgLoadOptions::default() },
    ] {
        let e = PgLoader::start_with(&url, &options).unwrap_err();
        assert!(matches!(e, PgLoadError::Extracts { count: 1, .. }), "{options:?}: {e}");
    }
    let e =
        PgLoader::start_with(&url, &PgLoadOptions { discard_extracts: true, ..PgLoadOptions::default() }).unwrap_err();
    assert!(matches!(e, PgLoadError::Exists { .. }), "discarding extracts does not mean replacing: {e}");
    assert_eq!(extracts(&cluster), "1");

    // Told to discard them: the new registry comes without them, and numbers are not given again.
    let options = PgLoadOptions { replace: true, discard_extracts: true, ..PgLoadOptions::default() };
    let mut l = PgLoader::start_with(&url, &options).unwrap();
    fill_small_world(&mut l);
    l.finish().unwrap();
    assert_eq!(persons(&cluster), "23");
    assert_eq!(store.extract(x.id).unwrap(), None);
    assert!(store.extract_canaries().unwrap().is_empty());
    let next = store.create_extract(&extract_request()).unwrap();
    assert_eq!(next.id.get(), x.id.get() + 1, "extract numbers go on across the reload");
}
