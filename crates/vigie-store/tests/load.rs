//! Bulk loading: atomic publication, refusals, progress, consistency checks, query plans.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::*;
use vigie_core::ports::Registry;
use vigie_core::relationship::RelationshipKind;
use vigie_store::{LoadError, LoadOptions, LoadPhase, OpenError, Store};

#[test]
fn an_unfinished_load_leaves_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let mut loader = Store::bulk_load(dir.path(), &LoadOptions::default()).unwrap();
    fill_small_world(&mut loader);
    assert!(dir.path().join("vigie.db.partial").exists());
    assert!(!dir.path().join("vigie.db").exists());
    drop(loader);
    assert!(!dir.path().join("vigie.db").exists());
    assert!(!dir.path().join("vigie.db.partial").exists(), "dropped loader cleans up");
}

#[test]
fn a_crashed_load_is_cleaned_up_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let mut loader = Store::bulk_load(dir.path(), &LoadOptions::default()).unwrap();
    fill_small_world(&mut loader);
    std::mem::forget(loader); // as if the process died: no Drop
    let e = Store::open(dir.path()).unwrap_err();
    assert!(matches!(e, OpenError::MissingDatabase { partial_left: true, .. }), "{e}");
    assert!(e.to_string().contains(".partial"), "{e}");

    let store = small_world(dir.path());
    assert!(store.person(p(1)).unwrap().is_some());
    assert!(!dir.path().join("vigie.db.partial").exists());
}

#[test]
fn an_existing_database_is_replaced_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    drop(small_world(dir.path()));
    let e = Store::bulk_load(dir.path(), &LoadOptions::default()).unwrap_err();
    assert!(matches!(e, LoadError::Exists { .. }), "{e}");

    let mut loader = Store::bulk_load(dir.path(), &LoadOptions { replace: true, ..LoadOptions::default() }).unwrap();
    loader.add_org(&org(1, vigie_core::org::OrgKind::Agency, true)).unwrap();
    loader.add_person(&person(500), false, None).unwrap();
    // Until finish, the old database is intact and usable.
    assert!(Store::open(dir.path()).unwrap().person(p(1)).unwrap().is_some());
    let store = loader.finish().unwrap();
    assert!(store.person(p(1)).unwrap().is_none());
    assert!(store.person(p(500)).unwrap().is_some());
    for leftover in ["vigie.db.partial", "vigie.db-journal"] {
        assert!(!dir.path().join(leftover).exists(), "{leftover}");
    }
}

#[test]
fn replacing_a_database_in_use_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let old = small_world(dir.path());
    old.person(p(1)).unwrap(); // a server holding it open, its WAL present
    let loader = Store::bulk_load(dir.path(), &LoadOptions { replace: true, ..LoadOptions::default() }).unwrap();
    let e = loader.finish().unwrap_err();
    assert!(matches!(e, LoadError::Locked { .. }), "{e}");
    assert!(old.person(p(1)).unwrap().is_some());
}

#[test]
fn dangling_references_are_refused_at_finish() {
    let dir = tempfile::tempdir().unwrap();
    let mut loader = Store::bulk_load(dir.path(), &LoadOptions::default()).unwrap();
    loader.add_org(&org(1, vigie_core::org::OrgKind::MissionLocale, true)).unwrap();
    loader.add_relationship(&rel(RelationshipKind::FollowUp, 7, 1, None)).unwrap();
    let e = loader.finish().unwrap_err();
    assert!(matches!(e, LoadError::Inconsistent { .. }), "{e}");
    assert!(e.to_string().contains("persons"), "{e}");
    assert!(!dir.path().join("vigie.db").exists());
}

#[test]
fn invalid_rows_are_refused_as_they_come() {
    let dir = tempfile::tempdir().unwrap();
    let mut loader = Store::bulk_load(dir.path(), &LoadOptions::default()).unwrap();
    loader.add_person(&person(1), false, None).unwrap();
    let e = loader.add_person(&person(1), false, None).unwrap_err();
    assert!(e.to_string().contains("inserting a person"), "{e}");
    // A caseload must name its advisor.
    let e = loader.add_relationship(&rel(RelationshipKind::Caseload, 1, 1, None)).unwrap_err();
    assert!(e.to_string().contains("relationship"), "{e}");
}

#[test]
fn progress_counts_rows_and_phases() {
    let dir = tempfile::tempdir().unwrap();
    let mut loader = Store::bulk_load(dir.path(), &LoadOptions { batch_rows: 1000, ..LoadOptions::default() }).unwrap();
    let progress = loader.progress();
    assert_eq!(progress.phase(), LoadPhase::Loading);
    let relationships = fill_synthetic(&mut loader, 5_000);
    assert_eq!(progress.persons(), 5_000);
    assert_eq!(progress.relationships(), relationships);
    assert!(progress.rows() > 5_000 + relationships);
    let store = loader.finish().unwrap();
    assert_eq!(progress.phase(), LoadPhase::Done);
    let (built, total) = progress.indexes();
    assert!(built == total && total >= 5, "{built}/{total}");
    assert_eq!(store.find_by_nir(&synthetic_nir(4321), person(4321).birth_date).unwrap(), vec![p(4321)]);
}

#[test]
fn hot_queries_use_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let mut loader = Store::bulk_load(dir.path(), &LoadOptions::default()).unwrap();
    fill_synthetic(&mut loader, 20_000);
    let store = loader.finish().unwrap();
    let plans = store.query_plans().unwrap();
    assert_eq!(plans.len(), 10);
    for plan in &plans {
        println!("{}:\n  {}", plan.name, plan.steps.join("\n  "));
        assert!(plan.full_scans().is_empty(), "{}: {:#?}", plan.name, plan.steps);
        assert!(plan.steps.iter().any(|s| s.starts_with("SEARCH")), "{}: {:#?}", plan.name, plan.steps);
    }
    let find = |name: &str| plans.iter().find(|p| p.name == name).unwrap().steps.join(" | ");
    assert!(find("find_by_nir").contains("persons_by_nir"), "{}", find("find_by_nir"));
    assert!(find("find_by_ft_id").contains("persons_by_ft_id"), "{}", find("find_by_ft_id"));
    assert!(find("active_relationships").contains("relationships_by_person"), "{}", find("active_relationships"));
    // Scope pages are decided from the index alone (validity dates included).
    assert!(
        find("scope_page(organization)").contains("COVERING INDEX relationships_by_org"),
        "{}",
        find("scope_page(organization)")
    );
    assert!(
        find("scope_page(own caseload)").contains("COVERING INDEX relationships_by_agent"),
        "{}",
        find("scope_page(own caseload)")
    );
    assert!(find("scope_page(team)").contains("COVERING INDEX relationships_by_agent"), "{}", find("scope_page(team)"));
    assert!(find("scope_page(team)").contains("agents_by_team"), "{}", find("scope_page(team)"));
    // The same on the tiny hand-made registry (different statistics).
    let dir = tempfile::tempdir().unwrap();
    for plan in small_world(dir.path()).query_plans().unwrap() {
        assert!(plan.full_scans().is_empty(), "{}: {:#?}", plan.name, plan.steps);
    }
}
