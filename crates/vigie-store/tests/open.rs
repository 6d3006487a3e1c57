//! Creating and opening data directories, and every way opening refuses a wrong one.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::fs;
use std::time::Duration;

use vigie_store::{LoadError, OpenError, OpenOptions, SCHEMA_VERSION, Store};

fn one_line_naming(e: &dyn std::fmt::Display, path: &std::path::Path) -> String {
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    msg
}

#[test]
fn a_fresh_directory_gets_the_current_schema() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data").join("vigie");
    let store = Store::create(&dir).unwrap();
    assert_eq!(store.path(), dir.join("vigie.db"));
    drop(store);
    let conn = rusqlite::Connection::open(dir.join("vigie.db")).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!((version, mode.as_str()), (SCHEMA_VERSION, "wal"));
    drop(conn);
    Store::open(&dir).unwrap();
    assert!(!dir.join("vigie.db.partial").exists());
}

#[test]
fn create_refuses_an_existing_database() {
    let dir = tempfile::tempdir().unwrap();
    Store::create(dir.path()).unwrap();
    let e = Store::create(dir.path()).unwrap_err();
    assert!(matches!(e, LoadError::Exists { .. }), "{e}");
    one_line_naming(&e, &dir.path().join("vigie.db"));
}

#[test]
fn missing_directory_and_missing_database() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("nope");
    let e = Store::open(&missing).unwrap_err();
    assert!(matches!(e, OpenError::MissingDirectory { .. }), "{e}");
    one_line_naming(&e, &missing);

    let e = Store::open(root.path()).unwrap_err();
    assert!(matches!(e, OpenError::MissingDatabase { partial_left: false, .. }), "{e}");
    one_line_naming(&e, &root.path().join("vigie.db"));
    // Opening did not create anything.
    assert!(!root.path().join("vigie.db").exists());
}

#[test]
fn garbage_empty_and_foreign_files_are_not_vigie_databases() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vigie.db");
    fs::write(&db, b"this is not a database, just some text that is long enough to look like a header....").unwrap();
    let e = Store::open(dir.path()).unwrap_err();
    assert!(matches!(e, OpenError::NotVigie { .. }), "{e}");
    assert!(one_line_naming(&e, &db).contains("not an SQLite file"));

    fs::write(&db, b"").unwrap();
    let e = Store::open(dir.path()).unwrap_err();
    assert!(matches!(e, OpenError::NotVigie { .. }), "{e}");

    fs::remove_file(&db).unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
    drop(conn);
    let e = Store::open(dir.path()).unwrap_err();
    assert!(matches!(e, OpenError::NotVigie { .. }), "{e}");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    Store::create(dir.path()).unwrap();
    let db = dir.path().join("vigie.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1)).unwrap();
    drop(conn);
    let e = Store::open(dir.path()).unwrap_err();
    assert!(
        matches!(e, OpenError::NewerSchema { found, supported, .. } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{e}"
    );
    one_line_naming(&e, &db);
}

#[test]
fn a_corrupt_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    common::small_world(dir.path());
    let db = dir.path().join("vigie.db");
    let mut bytes = fs::read(&db).unwrap();
    assert!(bytes.len() > 8 * 4096, "{}", bytes.len());
    // Keep the header page, scribble over the rest.
    for (i, b) in bytes.iter_mut().enumerate().skip(4096) {
        *b = (i * 7 % 251) as u8;
    }
    fs::write(&db, &bytes).unwrap();
    let e = Store::open(dir.path()).unwrap_err();
    assert!(matches!(e, OpenError::Corrupt { .. }), "{e}");
    one_line_naming(&e, &db);
}

#[test]
fn a_locked_database_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    Store::create(dir.path()).unwrap();
    let db = dir.path().join("vigie.db");
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder.execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;").unwrap();
    let options = OpenOptions { busy_timeout: Duration::from_millis(50), ..OpenOptions::default() };
    let e = Store::open_with(dir.path(), &options).unwrap_err();
    assert!(matches!(e, OpenError::Locked { .. }), "{e}");
    one_line_naming(&e, &db);
    holder.execute_batch("COMMIT").unwrap();
    drop(holder);
    Store::open(dir.path()).unwrap();
}
