//! Bulk load of a whole registry with `COPY`, atomically.
//!
//! A [`PgLoader`] builds a complete registry in a schema of its own (`vigie_load`), invisible
//! to running nodes, with the current migrations applied; its secondary indexes and foreign keys
//! are dropped while rows stream in (four `COPY … FROM STDIN` streams, one connection and one
//! thread each: persons, relationships, canaries, duplicates; the small tables go through the
//! control connection), then rebuilt, which also checks every reference. [`PgLoader::finish`]
//! swaps the new schema in with two renames in one transaction under the migrations' advisory
//! lock: readers see the previous registry or the new one, never a mix.
//!
//! The swap replaces the whole schema: besides the registry, the accounts, sessions, incidents
//! and extracts of the previous one go with it (the new schema has them empty). An incident is
//! the record of a breach and of who was told, and each person's notice and its state are kept
//! nowhere else (the ledger has the incident's steps and counts, not the notices), while the
//! new registry may give the same person ids to other people: carrying incidents over would
//! risk a letter to the wrong person. So a load refuses, at start and again at the swap, to
//! replace a schema that holds any, unless started with [`PgLoadOptions::discard_incidents`]
//! ([`PgLoadError::Incidents`]). The swap locks the incidents table against writes while it
//! counts them, so one opened during the load is seen; one opened after the swap lands in the
//! new schema. Either way incident ids continue from the previous schema's sequence, never
//! reused, since ledgers name them.
//!
//! Extracts get the same care ([`PgLoadOptions::discard_extracts`], [`PgLoadError::Extracts`]):
//! an extract is the record of who holds a file of persons, until when, and whether they
//! confirmed its deletion; it is what overdue files are raised from and what a recipient's
//! plugin is refused against. It cannot be carried over either: its canaries are persons of the
//! old registry, and its pseudonyms open to the old registry's person ids. Its id continues from
//! the previous schema's sequence: a file's pseudonyms and its sealed stanza carry the extract's
//! number, so an id given again would attribute an old leaked file to a new recipient.
//!
//! An interrupted load (an error, a dropped loader, a killed process) leaves the previous
//! registry as it was: the partial schema is dropped by the loader if it can, and by the next
//! load otherwise. Memory is bounded: each stream buffers at most [`CHUNK`] bytes and its
//! channel holds [`DEPTH`] chunks, whatever the number of persons.
//!
//! Rows are written in `COPY`'s text format (tab-separated, `\N` for NULL, backslash escapes),
//! the one PostgreSQL parses fastest after binary, and readable when something goes wrong.

use std::io::Write;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use vigie_core::ids::PersonId;
use vigie_core::org::{Agent, Organization, Team};
use vigie_core::person::Person;
use vigie_core::relationship::{Relationship, TrainingSession};
use vigie_core::time::format_date;

use crate::codec;
use crate::connect;
use crate::schema::{self, LOCK_KEY};
use crate::target::StoreUrl;

/// The schema a load builds in.
const LOAD_SCHEMA: &str = "vigie_load";
/// Session-level advisory lock held by a load from start to finish: one load at a time.
const LOAD_LOCK_KEY: i64 = 0x5649_4c44;
/// Bytes a stream buffers before handing them to its connection's thread.
pub const CHUNK: usize = 256 * 1024;
/// Chunks a stream's channel holds (back-pressure on the generator when the server is slower).
pub const DEPTH: usize = 4;

/// Why a bulk load failed. The live registry is untouched by any of them.
#[derive(Debug, thiserror::Error)]
pub enum PgLoadError {
    #[error(transparent)]
    Open(#[from] crate::PgOpenError),
    #[error("PostgreSQL at {target}: another load is running (it holds the load lock); wait for it to finish")]
    Busy { target: String },
    #[error("PostgreSQL at {target} already has a registry: refusing to replace it without --replace")]
    Exists { target: String },
    #[error(
        "PostgreSQL at {target} holds {count} incident(s), the record of breaches and of who was notified: \
         replacing the registry would discard them, which this load was not told to do (`vigie generate --replace --discard-incidents`)"
    )]
    Incidents { target: String, count: u64 },
    #[error(
        "PostgreSQL at {target} holds {count} extract(s), the record of who holds a file of persons: \
         replacing the registry would discard them, which this load was not told to do (`vigie generate --replace --discard-extracts`)"
    )]
    Extracts { target: String, count: u64 },
    #[error("loading into PostgreSQL at {target}: {what}: {detail}")]
    Server { target: String, what: &'static str, detail: String },
    #[error("refusing to publish the load into PostgreSQL at {target}: {detail}")]
    Inconsistent { target: String, detail: String },
}

/// How to load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PgLoadOptions {
    /// Replace an existing registry (refused otherwise, so a typo cannot wipe one).
    pub replace: bool,
    /// Replace it even if it holds incidents, which are then lost with the rest of the
    /// previous schema (refused otherwise: they are the record of a breach and its notices).
    pub discard_incidents: bool,
    /// Replace it even if it holds extracts, which are then lost with the rest of the previous
    /// schema (refused otherwise: they record who holds a file of persons, and until when).
    pub discard_extracts: bool,
}

/// How many rows each table received.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadCounts {
    pub persons: u64,
    pub relationships: u64,
    pub canaries: u64,
    pub duplicates: u64,
}

/// A load in progress. Dropping it without [`PgLoader::finish`] drops the partial schema.
pub struct PgLoader {
    url: StoreUrl,
    control: postgres::Client,
    options: PgLoadOptions,
    small: Small,
    persons: Stream,
    relationships: Stream,
    canaries: Stream,
    duplicates: Stream,
    scope_canaries: Vec<i64>,
    /// Index and constraint definitions dropped at start, rebuilt at finish.
    deferred: Vec<String>,
    finished: bool,
}

impl std::fmt::Debug for PgLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLoader").field("url", &self.url).field("persons", &self.persons.rows).finish()
    }
}

/// The small tables, buffered (organizations, teams, agents and training sessions number in
/// the thousands) and copied at finish.
#[derive(Default)]
struct Small {
    orgs: Vec<u8>,
    teams: Vec<u8>,
    agents: Vec<u8>,
    sessions: Vec<u8>,
}

impl PgLoader {
    /// [`PgLoader::start_with`] `replace` and nothing else: a registry that holds incidents is
    /// not replaced.
    pub fn start(url: &StoreUrl, replace: bool) -> Result<PgLoader, PgLoadError> {
        PgLoader::start_with(url, &PgLoadOptions { replace, ..PgLoadOptions::default() })
    }

    /// Starts a load: takes the load lock, drops what an interrupted load left, creates the
    /// load schema at the current version without its indexes and foreign keys, and opens the
    /// four streams. Refuses at once (before any row) when a registry exists and `replace` is
    /// not set, or when the schema holds incidents (extracts) and `discard_incidents`
    /// (`discard_extracts`) is not set.
    pub fn start_with(url: &StoreUrl, options: &PgLoadOptions) -> Result<PgLoader, PgLoadError> {
        let replace = options.replace;
        let tls = crate::tls::connector(None)?;
        let mut control = connect::first(url, &tls, std::time::Duration::from_secs(10))?;
        let target = url.to_string();
        let server = |what: &'static str| {
            let target = target.clone();
            move |e: postgres::Error| PgLoadError::Server { target: target.clone(), what, detail: connect::message(&e) }
        };
        let locked: bool =
            control.query_one("SELECT pg_try_advisory_lock($1)", &[&LOAD_LOCK_KEY]).map_err(server("locking"))?.get(0);
        if !locked {
            return Err(PgLoadError::Busy { target });
        }
        let live = schema::version_of(&mut control, "vigie").map_err(server("reading the live version"))?;
        if live > schema::SCHEMA_VERSION {
            return Err(
                crate::PgOpenError::NewerSchema { target, found: live, supported: schema::SCHEMA_VERSION }.into()
            );
        }
        if live > 0 && !replace {
            let persons: bool = control
                .query_one("SELECT EXISTS (SELECT 1 FROM vigie.persons)", &[])
                .map_err(server("reading the live registry"))?
                .get(0);
            if persons {
                return Err(PgLoadError::Exists { target });
            }
        }
        if !options.discard_incidents {
            let count = live_rows(&mut control, "incidents", false).map_err(server("counting the live incidents"))?;
            if count > 0 {
                return Err(PgLoadError::Incidents { target, count });
            }
        }
        if !options.discard_extracts {
            let count = live_rows(&mut control, "extracts", false).map_err(server("counting the live extracts"))?;
            if count > 0 {
                return Err(PgLoadError::Extracts { target, count });
            }
        }
        control
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {LOAD_SCHEMA} CASCADE"))
            .map_err(server("dropping an interrupted load"))?;
        schema::migrate(&mut control, LOAD_SCHEMA).map_err(|(_, e)| server("creating the load schema")(e))?;
        let deferred = defer_checks(&mut control).map_err(server("dropping indexes for the load"))?;
        let stream = |table: &'static str, columns: &'static str| Stream::open(url, &tls, table, columns);
        Ok(PgLoader {
            url: url.clone(),
            options: *options,
            small: Small::default(),
            persons: stream("persons", codec::PERSON_COLUMNS).map_err(server("opening the persons stream"))?,
            relationships: stream("relationships", "kind, person, org, agent, session, valid_from, valid_to")
                .map_err(server("opening the relationships stream"))?,
            canaries: stream("canaries", "person_id").map_err(server("opening the canaries stream"))?,
            duplicates: stream("duplicates", "person_id, duplicate_of")
                .map_err(server("opening the duplicates stream"))?,
            control,
            scope_canaries: Vec::new(),
            deferred,
            finished: false,
        })
    }

    /// Rows received so far.
    pub fn counts(&self) -> LoadCounts {
        LoadCounts {
            persons: self.persons.rows,
            relationships: self.relationships.rows,
            canaries: self.canaries.rows,
            duplicates: self.duplicates.rows,
        }
    }

    pub fn add_org(&mut self, o: &Organization) {
        row(
            &mut self.small.orgs,
            &[Some(&o.id.as_i64().to_string()), Some(o.kind.as_str()), Some(&o.name), Some(flag(o.active))],
        );
    }

    pub fn add_team(&mut self, t: &Team) {
        row(
            &mut self.small.teams,
            &[Some(&t.id.as_i64().to_string()), Some(&t.org.as_i64().to_string()), Some(&t.name)],
        );
    }

    pub fn add_agent(&mut self, a: &Agent) {
        row(
            &mut self.small.agents,
            &[
                Some(&a.id.as_i64().to_string()),
                Some(a.login.as_str()),
                Some(&a.display_name),
                Some(&a.email),
                Some(&a.org.as_i64().to_string()),
                Some(a.role.as_str()),
                a.team.map(|t| t.as_i64().to_string()).as_deref(),
                Some(flag(a.active)),
            ],
        );
    }

    pub fn add_session(&mut self, s: &TrainingSession) {
        row(
            &mut self.small.sessions,
            &[
                Some(&s.id.as_i64().to_string()),
                Some(&s.org.as_i64().to_string()),
                Some(&s.name),
                Some(&format_date(s.starts_on)),
                Some(&format_date(s.ends_on)),
            ],
        );
    }

    /// Adds a person; `canary` marks a decoy, `duplicate_of` the record this one duplicates.
    pub fn add_person(&mut self, p: &Person, canary: bool, duplicate_of: Option<PersonId>) -> Result<(), PgLoadError> {
        let id = p.id.as_i64().to_string();
        let mut buf = std::mem::take(&mut self.persons.buf);
        row(
            &mut buf,
            &[
                Some(&id),
                Some(p.ft_id.as_str()),
                Some(p.nir.as_str()),
                Some(&p.last_name),
                Some(&p.first_name),
                Some(&format_date(p.birth_date)),
                Some(&p.birth_place.code),
                Some(&p.birth_place.name),
                Some(p.sex.as_str()),
                p.email.as_deref(),
                p.phone.as_deref(),
                Some(&p.address.street),
                Some(&p.address.postcode),
                Some(&p.address.commune),
                Some(&p.address.commune_code),
                Some(&codec::status_code(p.status).to_string()),
                Some(&format_date(p.registered_on)),
                p.deregistered_on.map(format_date).as_deref(),
                Some(flag(p.youth)),
                Some(flag(p.rqth)),
            ],
        );
        self.persons.buf = buf;
        self.persons.row_done().map_err(|e| self.stream_failed("persons", e))?;
        if canary {
            row(&mut self.canaries.buf, &[Some(&id)]);
            self.canaries.row_done().map_err(|e| self.stream_failed("canaries", e))?;
        }
        if let Some(original) = duplicate_of {
            row(&mut self.duplicates.buf, &[Some(&id), Some(&original.as_i64().to_string())]);
            self.duplicates.row_done().map_err(|e| self.stream_failed("duplicates", e))?;
        }
        Ok(())
    }

    /// Marks a canary already added as placed in the scope lists (kept until finish: a few
    /// hundred ids).
    pub fn mark_scope_canary(&mut self, person: PersonId) {
        self.scope_canaries.push(person.as_i64());
    }

    /// Adds a relationship. Its `team` is not stored: it is read from the holding agent.
    pub fn add_relationship(&mut self, r: &Relationship) -> Result<(), PgLoadError> {
        row(
            &mut self.relationships.buf,
            &[
                Some(&codec::kind_code(r.kind).to_string()),
                Some(&r.person.as_i64().to_string()),
                Some(&r.org.as_i64().to_string()),
                r.agent.map(|a| a.as_i64().to_string()).as_deref(),
                r.session.map(|s| s.as_i64().to_string()).as_deref(),
                Some(&format_date(r.valid_from)),
                r.valid_to.map(format_date).as_deref(),
            ],
        );
        self.relationships.row_done().map_err(|e| self.stream_failed("relationships", e))
    }

    /// Ends the streams, copies the small tables, rebuilds indexes and foreign keys (which
    /// checks every reference), analyzes, and swaps the new registry in atomically.
    pub fn finish(mut self) -> Result<LoadCounts, PgLoadError> {
        let counts = self.counts();
        for (name, stream) in [
            ("persons", &mut self.persons),
            ("relationships", &mut self.relationships),
            ("canaries", &mut self.canaries),
            ("duplicates", &mut self.duplicates),
        ] {
            stream.finish().map_err(|detail| PgLoadError::Server {
                target: self.url.to_string(),
                what: "streaming rows",
                detail: format!("{name}: {detail}"),
            })?;
        }
        let target = self.url.to_string();
        let server = |what: &'static str| {
            let target = target.clone();
            move |e: postgres::Error| PgLoadError::Server { target: target.clone(), what, detail: connect::message(&e) }
        };
        let c = &mut self.control;
        c.batch_execute(&format!("SET search_path TO {LOAD_SCHEMA}")).map_err(server("setting the load schema"))?;
        for (table, columns, data) in [
            ("organizations", "id, kind, name, active", &self.small.orgs),
            ("teams", "id, org, name", &self.small.teams),
            ("agents", "id, login, display_name, email, org, role, team, active", &self.small.agents),
            ("training_sessions", "id, org, name, starts_on, ends_on", &self.small.sessions),
        ] {
            let mut w =
                c.copy_in(&format!("COPY {table} ({columns}) FROM STDIN")).map_err(server("copying a small table"))?;
            w.write_all(data).map_err(|e| PgLoadError::Server {
                target: target.clone(),
                what: "copying a small table",
                detail: e.to_string(),
            })?;
            w.finish().map_err(server("copying a small table"))?;
        }
        c.execute("UPDATE canaries SET in_scope = true WHERE person_id = ANY($1)", &[&self.scope_canaries])
            .map_err(server("marking scope canaries"))?;
        for ddl in &self.deferred {
            // Foreign keys are validated here: a relationship to a person that was never loaded
            // stops the load, and nothing is published.
            c.batch_execute(ddl).map_err(|e| match e.code() {
                Some(code) if *code == postgres::error::SqlState::FOREIGN_KEY_VIOLATION => {
                    PgLoadError::Inconsistent { target: target.clone(), detail: connect::message(&e) }
                }
                _ => server("rebuilding indexes and foreign keys")(e),
            })?;
        }
        c.batch_execute("ANALYZE").map_err(server("analyzing"))?;
        c.batch_execute("RESET search_path").map_err(server("resetting the search path"))?;
        let mut tx = c.transaction().map_err(server("swapping the registry in"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY]).map_err(server("swapping the registry in"))?;
        let live = schema::version_of(&mut tx, "vigie").map_err(server("swapping the registry in"))?;
        if live > 0 {
            if !self.options.replace {
                let persons: bool = tx
                    .query_one("SELECT EXISTS (SELECT 1 FROM vigie.persons)", &[])
                    .map_err(server("reading the live registry"))?
                    .get(0);
                if persons {
                    return Err(PgLoadError::Exists { target });
                }
            }
            // Counted under a lock that holds off new incidents until the swap commits: none
            // opened during the load is lost unseen.
            let incidents = live_rows(&mut tx, "incidents", true).map_err(server("counting the live incidents"))?;
            if incidents > 0 {
                if !self.options.discard_incidents {
                    return Err(PgLoadError::Incidents { target, count: incidents });
                }
                tracing::warn!(incidents, target = %target, "the load discards the previous schema's incidents, as told");
            }
            // The same for extracts: one requested or produced during the load is seen here.
            let extracts = live_rows(&mut tx, "extracts", true).map_err(server("counting the live extracts"))?;
            if extracts > 0 {
                if !self.options.discard_extracts {
                    return Err(PgLoadError::Extracts { target, count: extracts });
                }
                tracing::warn!(extracts, target = %target, "the load discards the previous schema's extracts, as told");
            }
            carry_ids(&mut tx, "incidents").map_err(server("carrying the incident ids over"))?;
            carry_ids(&mut tx, "extracts").map_err(server("carrying the extract ids over"))?;
            tx.batch_execute("ALTER SCHEMA vigie RENAME TO vigie_retired")
                .map_err(server("swapping the registry in"))?;
        }
        tx.batch_execute(&format!("ALTER SCHEMA {LOAD_SCHEMA} RENAME TO vigie"))
            .map_err(server("swapping the registry in"))?;
        if live > 0 {
            tx.batch_execute("DROP SCHEMA vigie_retired CASCADE").map_err(server("dropping the previous registry"))?;
        }
        tx.commit().map_err(server("swapping the registry in"))?;
        self.finished = true;
        Ok(counts)
    }

    fn stream_failed(&mut self, table: &'static str, sent: StreamClosed) -> PgLoadError {
        let _ = sent;
        let stream = match table {
            "persons" => &mut self.persons,
            "relationships" => &mut self.relationships,
            "canaries" => &mut self.canaries,
            _ => &mut self.duplicates,
        };
        let detail = stream.finish().err().unwrap_or_else(|| "the stream closed".into());
        PgLoadError::Server {
            target: self.url.to_string(),
            what: "streaming rows",
            detail: format!("{table}: {detail}"),
        }
    }
}

impl Drop for PgLoader {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Abandoned: the streams end (their rows land in the load schema), which is dropped.
        for s in [&mut self.persons, &mut self.relationships, &mut self.canaries, &mut self.duplicates] {
            let _ = s.finish();
        }
        if let Err(e) = self.control.batch_execute(&format!("DROP SCHEMA IF EXISTS {LOAD_SCHEMA} CASCADE")) {
            tracing::warn!(error = %connect::message(&e), "could not drop the interrupted load's schema (the next load will)");
        }
    }
}

/// The rows of `table` (`incidents` or `extracts`) in the live schema (none if it predates
/// the table). With `lock`, the table is locked against writes until the transaction ends.
fn live_rows(c: &mut impl postgres::GenericClient, table: &'static str, lock: bool) -> Result<u64, postgres::Error> {
    let exists: bool = c.query_one(&format!("SELECT to_regclass('vigie.{table}') IS NOT NULL"), &[])?.try_get(0)?;
    if !exists {
        return Ok(0);
    }
    if lock {
        c.batch_execute(&format!("LOCK TABLE vigie.{table} IN SHARE MODE"))?;
    }
    let count: i64 = c.query_one(&format!("SELECT count(*) FROM vigie.{table}"), &[])?.try_get(0)?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Starts the load schema's ids of `table` (`incidents` or `extracts`) after the last one the
/// live schema gave.
fn carry_ids(c: &mut impl postgres::GenericClient, table: &'static str) -> Result<(), postgres::Error> {
    let exists: bool = c.query_one(&format!("SELECT to_regclass('vigie.{table}') IS NOT NULL"), &[])?.try_get(0)?;
    if !exists {
        return Ok(());
    }
    let live: Option<String> =
        c.query_one(&format!("SELECT pg_get_serial_sequence('vigie.{table}', 'id')"), &[])?.try_get(0)?;
    let Some(live) = live else { return Ok(()) };
    // The name comes from the server, quoted as needed.
    let row = c.query_one(&format!("SELECT last_value, is_called FROM {live}"), &[])?;
    let (last, called): (i64, bool) = (row.try_get(0)?, row.try_get(1)?);
    c.execute(
        &format!("SELECT setval(pg_get_serial_sequence('{LOAD_SCHEMA}.{table}', 'id'), $1, $2)"),
        &[&last, &called],
    )?;
    Ok(())
}

/// Drops the load schema's secondary indexes and foreign keys, returning the statements that
/// rebuild them (indexes first, then foreign keys, which use the primary keys).
fn defer_checks(c: &mut postgres::Client) -> Result<Vec<String>, postgres::Error> {
    let mut tx = c.transaction()?;
    let indexes: Vec<(String, String)> = tx
        .query(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i \
             WHERE i.schemaname = $1 AND NOT EXISTS (SELECT 1 FROM pg_constraint k \
               JOIN pg_namespace n ON n.oid = k.connamespace WHERE n.nspname = $1 AND k.conname = i.indexname) \
             ORDER BY i.indexname",
            &[&LOAD_SCHEMA],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let fks: Vec<(String, String, String)> = tx
        .query(
            "SELECT (SELECT c.relname::text FROM pg_class c WHERE c.oid = k.conrelid), k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k \
             JOIN pg_namespace n ON n.oid = k.connamespace WHERE n.nspname = $1 AND k.contype = 'f' ORDER BY k.conname",
            &[&LOAD_SCHEMA],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let mut rebuild = Vec::new();
    for (name, def) in &indexes {
        tx.batch_execute(&format!("DROP INDEX {LOAD_SCHEMA}.\"{name}\""))?;
        rebuild.push(def.clone());
    }
    for (table, name, def) in &fks {
        tx.batch_execute(&format!("ALTER TABLE {LOAD_SCHEMA}.{table} DROP CONSTRAINT \"{name}\""))?;
        rebuild.push(format!("ALTER TABLE {LOAD_SCHEMA}.{table} ADD CONSTRAINT \"{name}\" {def}"));
    }
    tx.commit()?;
    Ok(rebuild)
}

/// The channel to a stream's thread closed: the thread stopped on an error, which
/// [`Stream::finish`] returns.
#[derive(Debug)]
struct StreamClosed;

/// One `COPY … FROM STDIN` on its own connection, fed from a thread.
struct Stream {
    buf: Vec<u8>,
    rows: u64,
    tx: Option<SyncSender<Vec<u8>>>,
    thread: Option<JoinHandle<Result<u64, String>>>,
}

impl Stream {
    fn open(
        url: &StoreUrl,
        tls: &tokio_postgres_rustls::MakeRustlsConnect,
        table: &'static str,
        columns: &'static str,
    ) -> Result<Stream, postgres::Error> {
        let mut client = url.config.connect(tls.clone())?;
        client.batch_execute(&format!("SET search_path TO {LOAD_SCHEMA}"))?;
        let (tx, rx) = sync_channel::<Vec<u8>>(DEPTH);
        let thread = std::thread::spawn(move || -> Result<u64, String> {
            let mut w =
                client.copy_in(&format!("COPY {table} ({columns}) FROM STDIN")).map_err(|e| connect::message(&e))?;
            for chunk in rx {
                w.write_all(&chunk).map_err(|e| e.to_string())?;
            }
            w.finish().map_err(|e| connect::message(&e))
        });
        Ok(Stream { buf: Vec::with_capacity(CHUNK), rows: 0, tx: Some(tx), thread: Some(thread) })
    }

    /// Counts a row written to `buf`, and hands the buffer over when it is full.
    fn row_done(&mut self) -> Result<(), StreamClosed> {
        self.rows += 1;
        if self.buf.len() >= CHUNK {
            let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
            self.tx.as_ref().ok_or(StreamClosed)?.send(full).map_err(|_| StreamClosed)?;
        }
        Ok(())
    }

    /// Sends what is buffered, ends the `COPY` and returns its error, if any.
    fn finish(&mut self) -> Result<(), String> {
        if let Some(tx) = self.tx.take() {
            let rest = std::mem::take(&mut self.buf);
            if !rest.is_empty() {
                let _ = tx.send(rest);
            }
        }
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| "the stream's thread panicked".to_string())?.map(|_| ()),
            None => Ok(()),
        }
    }
}

fn flag(b: bool) -> &'static str {
    if b { "t" } else { "f" }
}

/// Appends one row in `COPY`'s text format.
fn row(buf: &mut Vec<u8>, fields: &[Option<&str>]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            buf.push(b'\t');
        }
        match f {
            None => buf.extend_from_slice(b"\\N"),
            Some(s) => escape(buf, s),
        }
    }
    buf.push(b'\n');
}

fn escape(buf: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            _ => buf.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_what_would_split_a_row_or_a_field() {
        let mut buf = Vec::new();
        row(&mut buf, &[Some("a\tb"), None, Some("c\\d\ne\r"), Some("\\N")]);
        assert_eq!(buf, b"a\\tb\t\\N\tc\\\\d\\ne\\r\t\\\\N\n");
    }
}
