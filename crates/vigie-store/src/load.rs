//! Bulk loading: fills a new database with a whole registry (millions of persons) fast and in
//! bounded memory, and publishes it atomically.
//!
//! The loader writes `vigie.db.partial` with no journal and no syncs (a crash only loses a file
//! nobody reads), in large transactions through cached statements, with the secondary indexes
//! dropped; [`Loader::finish`] builds the indexes once (a sort, much faster than maintaining
//! them row by row), checks foreign keys, gathers planner statistics, switches the file to WAL,
//! syncs it and renames it to `vigie.db`. Until that rename, no `vigie.db` exists or the old one
//! is untouched; a partial file left by a crash is removed by the next load.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use vigie_core::ids::PersonId;
use vigie_core::org::{Agent, Organization, Team};
use vigie_core::person::Person;
use vigie_core::relationship::{Relationship, TrainingSession};

use crate::codec::{self, day};
use crate::error::LoadError;
use crate::progress::{LoadPhase, Progress, Row};
use crate::schema;
use crate::{DB_FILE, OpenOptions, PARTIAL_FILE, Store};

/// How to load.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Replace an existing `vigie.db` (refused otherwise, so a typo cannot wipe a registry).
    pub replace: bool,
    /// Run `PRAGMA foreign_key_check` before publishing: every relationship's person, org,
    /// agent and session must exist. One index probe per reference, a few seconds per million.
    pub check_foreign_keys: bool,
    /// Rows per transaction.
    pub batch_rows: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { replace: false, check_foreign_keys: true, batch_rows: 500_000 }
    }
}

/// A load in progress. Dropping it without [`Loader::finish`] removes the partial file.
pub struct Loader {
    dir: PathBuf,
    partial: PathBuf,
    conn: Option<Connection>,
    options: LoadOptions,
    /// The secondary indexes dropped at start, rebuilt at finish.
    indexes: Vec<(String, String)>,
    progress: Progress,
    rows_in_batch: u64,
}

impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader").field("partial", &self.partial).field("progress", &self.progress).finish()
    }
}

const INSERT_ORG: &str = "INSERT INTO organizations (id, kind, name, active) VALUES (?1, ?2, ?3, ?4)";
const INSERT_TEAM: &str = "INSERT INTO teams (id, org, name) VALUES (?1, ?2, ?3)";
const INSERT_AGENT: &str = "INSERT INTO agents (id, login, display_name, email, org, role, team, active) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const INSERT_SESSION: &str =
    "INSERT INTO training_sessions (id, org, name, starts_on, ends_on) VALUES (?1, ?2, ?3, ?4, ?5)";
pub(crate) const INSERT_PERSON: &str = "INSERT INTO persons (id, ft_id, nir, last_name, first_name, birth_date, birth_place_code, \
     birth_place_name, sex, email, phone, street, postcode, commune, commune_code, status, registered_on, \
     deregistered_on, youth, rqth) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)";
const INSERT_CANARY: &str = "INSERT INTO canaries (person_id) VALUES (?1)";
const MARK_SCOPE_CANARY: &str = "UPDATE canaries SET in_scope = 1 WHERE person_id = ?1";
const INSERT_DUPLICATE: &str = "INSERT INTO duplicates (person_id, duplicate_of) VALUES (?1, ?2)";
const INSERT_RELATIONSHIP: &str = "INSERT INTO relationships (kind, person, org, agent, session, valid_from, valid_to) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

impl Loader {
    pub(crate) fn start(dir: &Path, options: &LoadOptions) -> Result<Loader, LoadError> {
        create_private_dir(dir).map_err(|source| LoadError::Io { path: dir.to_path_buf(), source })?;
        let target = dir.join(DB_FILE);
        if target.exists() && !options.replace {
            return Err(LoadError::Exists { path: target });
        }
        let partial = dir.join(PARTIAL_FILE);
        remove_with_sidecars(&partial)?;
        let err = |what| {
            let path = partial.clone();
            move |source| LoadError::Sqlite { path, what, source }
        };
        // Created first, empty and 0600 whatever the umask: SQLite gives its journal, WAL and
        // shared-memory files the database file's mode, so all of them are the owner's only.
        create_private_file(&partial).map_err(|source| LoadError::Io { path: partial.clone(), source })?;
        let conn = Connection::open(&partial).map_err(err("creating the file"))?;
        // Why each setting: nobody else may open the partial file (exclusive); a crash only
        // loses this file, so no journal and no syncs; a 256 MiB page cache and two sorter
        // threads for the index builds, which spill to temporary files past that: memory stays
        // bounded at 43 million persons.
        conn.execute_batch(
            "PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; \
             PRAGMA foreign_keys = OFF; PRAGMA cache_size = -262144; PRAGMA threads = 2;",
        )
        .map_err(err("configuring the file"))?;
        conn.set_prepared_statement_cache_capacity(32);
        schema::migrate(&conn).map_err(|(_, e)| err("creating the schema")(e))?;
        let indexes = schema::bulk_indexes(&conn).map_err(err("listing indexes"))?;
        for (name, _) in &indexes {
            conn.execute_batch(&format!("DROP INDEX {name}")).map_err(err("dropping an index"))?;
        }
        conn.execute_batch("BEGIN").map_err(err("starting a transaction"))?;
        Ok(Loader {
            dir: dir.to_path_buf(),
            partial,
            conn: Some(conn),
            options: options.clone(),
            indexes,
            progress: Progress::default(),
            rows_in_batch: 0,
        })
    }

    /// A handle on the load's counters; clone it into the thread that draws progress.
    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }

    pub fn add_org(&mut self, org: &Organization) -> Result<(), LoadError> {
        self.insert(
            "inserting an organization",
            INSERT_ORG,
            (org.id.as_i64(), org.kind.as_str(), &org.name, org.active),
        )?;
        self.count(Row::Other)
    }

    pub fn add_team(&mut self, team: &Team) -> Result<(), LoadError> {
        self.insert("inserting a team", INSERT_TEAM, (team.id.as_i64(), team.org.as_i64(), &team.name))?;
        self.count(Row::Other)
    }

    pub fn add_agent(&mut self, agent: &Agent) -> Result<(), LoadError> {
        let row = (
            agent.id.as_i64(),
            agent.login.as_str(),
            &agent.display_name,
            &agent.email,
            agent.org.as_i64(),
            agent.role.as_str(),
            agent.team.map(|t| t.as_i64()),
            agent.active,
        );
        self.insert("inserting an agent", INSERT_AGENT, row)?;
        self.count(Row::Other)
    }

    pub fn add_session(&mut self, session: &TrainingSession) -> Result<(), LoadError> {
        let row =
            (session.id.as_i64(), session.org.as_i64(), &session.name, day(session.starts_on), day(session.ends_on));
        self.insert("inserting a training session", INSERT_SESSION, row)?;
        self.count(Row::Other)
    }

    /// Adds a person; `canary` marks a decoy, `duplicate_of` the record this one duplicates.
    pub fn add_person(&mut self, p: &Person, canary: bool, duplicate_of: Option<PersonId>) -> Result<(), LoadError> {
        let row = rusqlite::params![
            p.id.as_i64(),
            p.ft_id.as_str(),
            p.nir.as_str(),
            p.last_name,
            p.first_name,
            day(p.birth_date),
            p.birth_place.code,
            p.birth_place.name,
            p.sex.as_str(),
            p.email,
            p.phone,
            p.address.street,
            p.address.postcode,
            p.address.commune,
            p.address.commune_code,
            codec::status_code(p.status),
            day(p.registered_on),
            p.deregistered_on.map(day),
            p.youth,
            p.rqth,
        ];
        self.insert("inserting a person", INSERT_PERSON, row)?;
        if canary {
            self.insert("inserting a canary", INSERT_CANARY, [p.id.as_i64()])?;
        }
        if let Some(original) = duplicate_of {
            self.insert("inserting a duplicate", INSERT_DUPLICATE, [p.id.as_i64(), original.as_i64()])?;
        }
        self.count(Row::Person)
    }

    /// Marks a canary already added with [`Loader::add_person`] as placed in the scope lists
    /// of the organizations it has relationships with.
    pub fn mark_scope_canary(&mut self, person: PersonId) -> Result<(), LoadError> {
        self.insert("marking a scope canary", MARK_SCOPE_CANARY, [person.as_i64()])
    }

    /// Adds a relationship. Its `team` is not stored: it is read from the holding agent.
    pub fn add_relationship(&mut self, r: &Relationship) -> Result<(), LoadError> {
        let row = (
            codec::kind_code(r.kind),
            r.person.as_i64(),
            r.org.as_i64(),
            r.agent.map(|a| a.as_i64()),
            r.session.map(|s| s.as_i64()),
            day(r.valid_from),
            r.valid_to.map(day),
        );
        self.insert("inserting a relationship", INSERT_RELATIONSHIP, row)?;
        self.count(Row::Relationship)
    }

    /// Builds the indexes, checks, and publishes `vigie.db` atomically; returns it opened.
    pub fn finish(mut self) -> Result<Store, LoadError> {
        let Some(conn) = self.conn.take() else {
            return Err(self.sqlite_err("finishing", rusqlite::Error::InvalidQuery));
        };
        conn.execute_batch("COMMIT").map_err(|e| self.sqlite_err("committing", e))?;
        self.progress.set_phase(LoadPhase::Indexing);
        for (_, sql) in &self.indexes {
            conn.execute_batch(sql).map_err(|e| self.sqlite_err("building an index", e))?;
            self.progress.index_built(self.indexes.len());
        }
        if self.options.check_foreign_keys {
            self.progress.set_phase(LoadPhase::Checking);
            if let Some(detail) = dangling_reference(&conn).map_err(|e| self.sqlite_err("checking foreign keys", e))? {
                return Err(LoadError::Inconsistent { path: self.partial.clone(), detail });
            }
        }
        self.progress.set_phase(LoadPhase::Publishing);
        // Approximate statistics (a bounded sample per index) so the planner picks the scope
        // indexes on a large registry too; a full ANALYZE would read every index.
        conn.execute_batch("PRAGMA analysis_limit = 1000; ANALYZE;").map_err(|e| self.sqlite_err("analyzing", e))?;
        conn.close().map_err(|(_, e)| self.sqlite_err("closing", e))?;
        // Reopened in the normal locking mode to switch the file to WAL, the server's mode.
        let conn = Connection::open(&self.partial).map_err(|e| self.sqlite_err("reopening", e))?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .map_err(|e| self.sqlite_err("switching to WAL", e))?;
        conn.close().map_err(|(_, e)| self.sqlite_err("closing", e))?;
        sync(&self.partial)?;

        let target = self.dir.join(DB_FILE);
        if target.exists() {
            if !self.options.replace {
                return Err(LoadError::Exists { path: target });
            }
            retire(&target)?;
        }
        fs::rename(&self.partial, &target).map_err(|source| LoadError::Io { path: target.clone(), source })?;
        sync(&self.dir)?;
        let store = Store::open_with(&self.dir, &OpenOptions { quick_check: false, ..OpenOptions::default() })?;
        self.progress.set_phase(LoadPhase::Done);
        Ok(store)
    }

    fn insert(&mut self, what: &'static str, sql: &str, params: impl rusqlite::Params) -> Result<(), LoadError> {
        let Some(conn) = &self.conn else {
            return Err(self.sqlite_err(what, rusqlite::Error::InvalidQuery));
        };
        let result = conn.prepare_cached(sql).and_then(|mut stmt| stmt.execute(params));
        result.map(|_| ()).map_err(|e| self.sqlite_err(what, e))
    }

    /// Counts a row and commits the batch when full.
    fn count(&mut self, row: Row) -> Result<(), LoadError> {
        self.progress.count(row);
        self.rows_in_batch += 1;
        if self.rows_in_batch >= self.options.batch_rows {
            self.rows_in_batch = 0;
            if let Some(conn) = &self.conn {
                conn.execute_batch("COMMIT; BEGIN").map_err(|e| self.sqlite_err("committing a batch", e))?;
            }
        }
        Ok(())
    }

    fn sqlite_err(&self, what: &'static str, source: rusqlite::Error) -> LoadError {
        LoadError::Sqlite { path: self.partial.clone(), what, source }
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        // Abandoned before finish: the partial file is worthless. Best effort; the next load
        // removes it anyway.
        if let Some(conn) = self.conn.take() {
            drop(conn);
            let _ = remove_with_sidecars(&self.partial);
        }
    }
}

/// The first dangling reference, if any, described without the row's data.
fn dangling_reference(conn: &Connection) -> rusqlite::Result<Option<String>> {
    let mut stmt = conn.prepare("PRAGMA foreign_key_check")?;
    let mut rows = stmt.query([])?;
    let Some(row) = rows.next()? else { return Ok(None) };
    let table: String = row.get(0)?;
    let rowid: Option<i64> = row.get(1)?;
    let parent: String = row.get(2)?;
    Ok(Some(format!("row {} of {table} refers to a missing row of {parent}", rowid.unwrap_or(0))))
}

/// Makes sure the database being replaced is not in use and leaves no WAL behind: a stale
/// `vigie.db-wal` next to the new file would be replayed into it.
fn retire(target: &Path) -> Result<(), LoadError> {
    let wal = sidecar(target, "-wal");
    if let Ok(conn) = Connection::open_with_flags(target, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE) {
        // Closing the last connection checkpoints and deletes the WAL; if it stays, someone
        // else has the database open.
        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        let _ = conn.close();
        if wal.exists() {
            return Err(LoadError::Locked { path: target.to_path_buf() });
        }
    }
    for suffix in ["-wal", "-shm", "-journal"] {
        remove_if_present(&sidecar(target, suffix))?;
    }
    Ok(())
}

fn remove_with_sidecars(path: &Path) -> Result<(), LoadError> {
    remove_if_present(path)?;
    for suffix in ["-journal", "-wal", "-shm"] {
        remove_if_present(&sidecar(path, suffix))?;
    }
    Ok(())
}

fn remove_if_present(path: &Path) -> Result<(), LoadError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(LoadError::Io { path: path.to_path_buf(), source: e })
        }
        _ => Ok(()),
    }
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates `dir` (and missing parents) as 0700: the data directory holds every person's record
/// and every agent's credentials. An existing directory is left as it is (the server refuses to
/// start on one that others can read).
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates an empty file readable and writable by the owner only.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map(drop)
}

/// fsync of a file or (on Unix) a directory, so a rename is durable.
fn sync(path: &Path) -> Result<(), LoadError> {
    File::open(path).and_then(|f| f.sync_all()).map_err(|source| LoadError::Io { path: path.to_path_buf(), source })
}
