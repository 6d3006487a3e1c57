//! The `COPY` bulk load against a real server: atomic (a load that fails, is dropped or whose
//! process dies leaves the previous registry as it was), refused over an existing registry
//! without `replace`, one at a time, and checked before it is published.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::world::*;
use vigie_core::ports::Registry;
use vigie_core::relationship::RelationshipKind;
use vigie_store_pg::load::{PgLoadError, PgLoader};
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
