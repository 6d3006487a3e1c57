//! Opening an existing database: every check that turns a wrong file into a clear one-line
//! error before the server starts (missing, foreign, newer, corrupt, locked), then migrations
//! and WAL mode.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::error::OpenError;
use crate::keyring::SECRETS_KEY_FILE;
use crate::pool::Pool;
use crate::schema::{self, APPLICATION_ID, SCHEMA_VERSION};
use crate::sealed::Secrets;
use crate::{DB_FILE, OpenOptions, PARTIAL_FILE, Store};

pub(crate) fn open(dir: &Path, options: &OpenOptions) -> Result<Store, OpenError> {
    if !dir.is_dir() {
        return Err(OpenError::MissingDirectory { path: dir.to_path_buf() });
    }
    let path = dir.join(DB_FILE);
    if !path.is_file() {
        return Err(OpenError::MissingDatabase { path, partial_left: dir.join(PARTIAL_FILE).exists() });
    }
    if std::fs::metadata(&path).map(|m| m.len() == 0).unwrap_or(false) {
        return Err(OpenError::NotVigie { path, why: "the file is empty" });
    }
    let sqlite = |e| OpenError::from_sqlite(&path, e);
    // No CREATE flag: a file that vanished between the check and here is an error, not a new db.
    let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(sqlite)?;
    schema::configure(&conn, options.busy_timeout).map_err(sqlite)?;

    // The first read of the header: a non-SQLite file fails here with SQLITE_NOTADB.
    let application_id: i64 = conn.query_row("PRAGMA application_id", [], |r| r.get(0)).map_err(sqlite)?;
    if application_id != APPLICATION_ID {
        return Err(OpenError::NotVigie { path, why: "an SQLite file, but not one Vigie wrote" });
    }
    let found = schema::version(&conn).map_err(sqlite)?;
    if found > SCHEMA_VERSION {
        return Err(OpenError::NewerSchema { path, found, supported: SCHEMA_VERSION });
    }
    if options.quick_check {
        quick_check(&conn, &path)?;
    }
    // Persistent in the file; a no-op when already in WAL. Needs the write lock once, which is
    // where a database held by an exclusive loader or another process shows up as locked.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(sqlite)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(OpenError::Locked { path });
    }
    schema::migrate(&conn).map_err(|(version, source)| match OpenError::from_sqlite(&path, source) {
        OpenError::Sqlite { path, source } => OpenError::Migration { path, version, source },
        other => other,
    })?;
    // Second-factor secrets: the keyring must open every sealed row, and rows still clear (from
    // before sealing) are sealed now, before anything reads them.
    let key_path = options.secrets_key_file.clone().unwrap_or_else(|| dir.join(SECRETS_KEY_FILE));
    let secrets = Secrets::load(&key_path)?;
    secrets.check(&conn).map_err(|reason| OpenError::Secrets { path: key_path.clone(), reason })?;
    let sealed = secrets
        .seal_clear_rows(&conn)
        .map_err(|e| OpenError::Secrets { path: key_path.clone(), reason: format!("sealing clear secrets: {e}") })?;
    if sealed > 0 {
        tracing::warn!(rows = sealed, keyring = %key_path.display(), "TOTP secrets stored in clear were sealed");
    }
    let pool = Pool::new(path.clone(), conn, options.pool_size, options.busy_timeout);
    Ok(Store { path, pool, secrets })
}

/// `PRAGMA quick_check`: every page and record well-formed (not the index-to-table
/// consistency of the full `integrity_check`, which costs several times more).
fn quick_check(conn: &Connection, path: &Path) -> Result<(), OpenError> {
    let sqlite = |e| OpenError::from_sqlite(path, e);
    let mut stmt = conn.prepare("PRAGMA quick_check(5)").map_err(sqlite)?;
    let lines: Vec<String> =
        stmt.query_map([], |r| r.get(0)).map_err(sqlite)?.collect::<Result<_, _>>().map_err(sqlite)?;
    if lines.len() == 1 && lines[0] == "ok" {
        return Ok(());
    }
    Err(OpenError::Corrupt { path: path.to_path_buf(), detail: lines.join("; ").replace('\n', " ") })
}
