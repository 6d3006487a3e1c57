//! The schema and its migrations, and the settings every connection runs with.
//!
//! Migrations are ordered SQL scripts; the database's `PRAGMA user_version` is the number of
//! scripts applied, and each script runs in its own transaction together with the version bump,
//! so a crash leaves the database at one version or the next, never in between. A database
//! whose version is newer than [`SCHEMA_VERSION`] is refused rather than guessed at. The
//! `application_id` header field marks the file as Vigie's, so that another SQLite file given
//! by mistake is refused instead of being "migrated".
//!
//! Sizing: the persons and relationships tables hold tens of millions of rows, so their
//! enumerations are small integers (a 0/1 flag or a code below 128 takes at most one byte in a
//! SQLite record) while the small tables keep readable text. Dates are ISO `YYYY-MM-DD` text:
//! they sort as dates, read well in the `sqlite3` shell, and compare with a bound parameter.

use std::time::Duration;

use rusqlite::Connection;

/// `PRAGMA application_id` of a Vigie database: "VIGI" in ASCII.
pub(crate) const APPLICATION_ID: i64 = 0x5649_4749;

/// The schema version this binary writes and reads.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Migration `i` takes the database from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7, V8];

const V1: &str = r#"
-- Partner organizations and agencies. A partner whose contract ended keeps its row (the
-- ledger refers to it) with active = 0.
CREATE TABLE organizations (
    id     INTEGER PRIMARY KEY,
    kind   TEXT NOT NULL CHECK (kind IN ('agency', 'cap_emploi', 'mission_locale', 'training_org', 'subcontractor')),
    name   TEXT NOT NULL,
    active INTEGER NOT NULL CHECK (active IN (0, 1))
) STRICT;

CREATE TABLE teams (
    id   INTEGER PRIMARY KEY,
    org  INTEGER NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL
) STRICT;
CREATE INDEX teams_by_org ON teams (org);

CREATE TABLE agents (
    id           INTEGER PRIMARY KEY,
    login        TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    email        TEXT NOT NULL,
    org          INTEGER NOT NULL REFERENCES organizations (id),
    role         TEXT NOT NULL CHECK (role IN ('advisor', 'manager', 'account_admin', 'security_officer')),
    team         INTEGER REFERENCES teams (id),
    active       INTEGER NOT NULL CHECK (active IN (0, 1))
) STRICT;
-- Scope pages of agency advisors go through their team's members.
CREATE INDEX agents_by_team ON agents (team) WHERE team IS NOT NULL;
CREATE INDEX agents_by_org ON agents (org);

CREATE TABLE training_sessions (
    id        INTEGER PRIMARY KEY,
    org       INTEGER NOT NULL REFERENCES organizations (id),
    name      TEXT NOT NULL,
    starts_on TEXT NOT NULL,
    ends_on   TEXT NOT NULL
) STRICT;
CREATE INDEX training_sessions_by_org ON training_sessions (org);

-- The data subjects. `id` is the rowid: persons loaded in id order are appended, never split.
CREATE TABLE persons (
    id               INTEGER PRIMARY KEY,
    ft_id            TEXT NOT NULL,
    nir              TEXT NOT NULL,
    last_name        TEXT NOT NULL,
    first_name       TEXT NOT NULL,
    birth_date       TEXT NOT NULL,
    birth_place_code TEXT NOT NULL,
    birth_place_name TEXT NOT NULL,
    sex              TEXT NOT NULL CHECK (sex IN ('M', 'F')),
    email            TEXT,
    phone            TEXT,
    street           TEXT NOT NULL,
    postcode         TEXT NOT NULL,
    commune          TEXT NOT NULL,
    commune_code     TEXT NOT NULL,
    status           INTEGER NOT NULL CHECK (status IN (1, 2, 3)), -- 1 registered, 2 deregistered, 3 identified
    registered_on    TEXT NOT NULL,
    deregistered_on  TEXT,
    youth            INTEGER NOT NULL CHECK (youth IN (0, 1)),
    rqth             INTEGER NOT NULL CHECK (rqth IN (0, 1))
) STRICT;
-- Exact lookups only: NIR + birth date, France Travail id (+ birth date checked on the row).
CREATE INDEX persons_by_nir ON persons (nir, birth_date);
CREATE INDEX persons_by_ft_id ON persons (ft_id);

-- Decoy persons: they exist like any other, but nobody has a reason to read them.
CREATE TABLE canaries (
    person_id INTEGER PRIMARY KEY REFERENCES persons (id)
) STRICT;

-- Registry duplicates (one human, several records), as the generator planted them.
CREATE TABLE duplicates (
    person_id    INTEGER PRIMARY KEY REFERENCES persons (id),
    duplicate_of INTEGER NOT NULL REFERENCES persons (id)
) STRICT;
CREATE INDEX duplicates_by_original ON duplicates (duplicate_of);

-- The only way an agent reaches a person. kind: 1 caseload, 2 enrolment, 3 follow-up,
-- 4 assignment (RelationshipKind::code). valid_to is exclusive; NULL means open-ended.
-- A caseload's team is not stored: it is the holding agent's current team.
CREATE TABLE relationships (
    kind       INTEGER NOT NULL CHECK (kind BETWEEN 1 AND 4),
    person     INTEGER NOT NULL REFERENCES persons (id),
    org        INTEGER NOT NULL REFERENCES organizations (id),
    agent      INTEGER REFERENCES agents (id),
    session    INTEGER REFERENCES training_sessions (id),
    valid_from TEXT NOT NULL,
    valid_to   TEXT,
    CHECK (kind <> 1 OR agent IS NOT NULL)
) STRICT;
-- The guarded read: a person's relationships.
CREATE INDEX relationships_by_person ON relationships (person);
-- Scope pages, in person order: an advisor's (or a team's) caseloads, an organization's
-- follow-ups, enrolments and assignments. They carry the validity dates so that a page is
-- decided from the index alone: only the rows of the page itself are read from the table.
CREATE INDEX relationships_by_agent ON relationships (agent, person, valid_from, valid_to) WHERE kind = 1;
CREATE INDEX relationships_by_org ON relationships (org, kind, person, valid_from, valid_to);

-- Sign-in secrets, one row per agent: an Argon2id PHC string and a TOTP secret, with the last
-- TOTP step accepted (a code is refused unless its step is later: replay protection).
CREATE TABLE credentials (
    agent          INTEGER PRIMARY KEY REFERENCES agents (id),
    password_hash  TEXT NOT NULL,
    totp_secret    BLOB NOT NULL,
    totp_last_step INTEGER
) STRICT;

-- Later, in their own migrations:
--  * passkeys (WebAuthn): several per agent, keyed by credential id, with the public key, the
--    signature counter, a label, created/last-used times;
--  * account approvals (four eyes): who asked, for which new or changed account, who approved
--    or refused and when; new accounts on probation until then.

-- Server-side sessions. The token is never stored, only its SHA-256, so a copy of this file
-- opens no session. AUTOINCREMENT: a session id is never reused, since the ledger names it.
CREATE TABLE sessions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash    BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    agent         INTEGER NOT NULL REFERENCES agents (id),
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL,
    mfa           INTEGER NOT NULL CHECK (mfa IN (0, 1)),
    source        TEXT NOT NULL,
    user_agent    TEXT NOT NULL
) STRICT;
CREATE INDEX sessions_by_agent ON sessions (agent);
CREATE INDEX sessions_by_expiry ON sessions (expires_at_ms);
"#;

/// Sign-in that a stolen password or cookie cannot open, and accounts that cannot multiply.
///
/// Sessions become two-level (a refresh token for the working day, an access token for five
/// minutes), bound to the client context seen at sign-in. The old table is dropped: sessions
/// are ephemeral, and every agent signs in again after the upgrade.
const V2: &str = r#"
DROP TABLE sessions;
CREATE TABLE sessions (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    agent                INTEGER NOT NULL REFERENCES agents (id),
    refresh_hash         BLOB NOT NULL UNIQUE CHECK (length(refresh_hash) = 32),
    access_hash          BLOB NOT NULL UNIQUE CHECK (length(access_hash) = 32),
    access_expires_ms    INTEGER NOT NULL,
    created_at_ms        INTEGER NOT NULL,
    expires_at_ms        INTEGER NOT NULL,
    last_seen_ms         INTEGER NOT NULL,
    -- 'password_totp', 'passkey', 'oidc', 'oidc+totp', 'oidc+passkey'
    method               TEXT NOT NULL,
    mfa                  INTEGER NOT NULL CHECK (mfa IN (0, 1)),
    -- The passkey that opened it (removing the passkey ends the session).
    credential           BLOB,
    source               TEXT NOT NULL,
    network              TEXT NOT NULL,
    ua_family            TEXT NOT NULL,
    user_agent           TEXT NOT NULL,
    elevated_until_ms    INTEGER,
    step_up_demanded_ms  INTEGER,
    -- DBSC: the device key the browser registered (vigie-dbsc BoundKey bytes).
    device_key           BLOB,
    -- The agent's probation end, copied at sign-in so the guarded read need not look it up.
    probation_until_ms   INTEGER
) STRICT;
CREATE INDEX sessions_by_agent ON sessions (agent);
CREATE INDEX sessions_by_expiry ON sessions (expires_at_ms);

-- Who created an account and when; probation follows from created_at.
ALTER TABLE agents ADD COLUMN created_at_ms INTEGER;
ALTER TABLE agents ADD COLUMN created_by INTEGER REFERENCES agents (id);
ALTER TABLE agents ADD COLUMN approved_by INTEGER REFERENCES agents (id);
ALTER TABLE agents ADD COLUMN probation_until_ms INTEGER;
-- Single sign-on links a provider's identity to an agent by verified address.
CREATE INDEX agents_by_email ON agents (email);

-- Passkeys (WebAuthn): several per agent. `passkey` is webauthn-rs's serialized credential
-- (public key, counter, backup state); `user_handle` is the random WebAuthn user id of the
-- agent, the same for all its passkeys.
CREATE TABLE passkeys (
    credential_id  BLOB PRIMARY KEY,
    agent          INTEGER NOT NULL REFERENCES agents (id),
    user_handle    BLOB NOT NULL CHECK (length(user_handle) = 16),
    label          TEXT NOT NULL,
    passkey        TEXT NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    last_used_ms   INTEGER
) STRICT;
CREATE INDEX passkeys_by_agent ON passkeys (agent);
CREATE INDEX passkeys_by_handle ON passkeys (user_handle);

-- Four eyes: a request to create an account, decided by someone else.
CREATE TABLE account_requests (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    org           INTEGER NOT NULL REFERENCES organizations (id),
    requested_by  INTEGER NOT NULL REFERENCES agents (id),
    login         TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    email         TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('advisor', 'manager', 'account_admin', 'security_officer')),
    team          INTEGER REFERENCES teams (id),
    justification TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'expired')),
    decided_by    INTEGER REFERENCES agents (id),
    decided_at_ms INTEGER,
    agent         INTEGER REFERENCES agents (id)
) STRICT;
CREATE INDEX account_requests_by_org ON account_requests (org, state);
CREATE INDEX account_requests_by_requester ON account_requests (requested_by, created_at_ms);
-- One pending request per login at a time.
CREATE UNIQUE INDEX account_requests_pending_login ON account_requests (login) WHERE state = 'pending';

-- Enrolment links: only the SHA-256 of the token is kept; used once, before expiry.
CREATE TABLE enrolments (
    token_hash    BLOB PRIMARY KEY CHECK (length(token_hash) = 32),
    agent         INTEGER NOT NULL REFERENCES agents (id),
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    used_at_ms    INTEGER
) STRICT;

-- Identities at an OpenID Connect provider, linked to an agent.
CREATE TABLE federated_identities (
    issuer        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    agent         INTEGER NOT NULL UNIQUE REFERENCES agents (id),
    linked_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (issuer, subject)
) STRICT
"#;

/// The detector's session context, and freezes of account creation.
///
/// Each session carries what was learnt at sign-in (`vigie_core::ports::SignInContext`), so
/// that the guarded read, which already reads the session row, reads nothing more. An agent
/// remembers its last sign-in (the next session's `previous_sign_in_ms`) and its last
/// credential change. Sessions opened before the upgrade keep the defaults (unknown).
const V3: &str = r#"
-- A stable key of the sign-in network (SHA-256 of its text form, first 8 bytes as a signed
-- integer); 0 when unknown.
ALTER TABLE sessions ADD COLUMN network_key INTEGER NOT NULL DEFAULT 0;
-- The browser family at sign-in, as the detector sees it (NULL: unknown).
ALTER TABLE sessions ADD COLUMN sign_in_ua_family TEXT;
ALTER TABLE sessions ADD COLUMN account_created_at_ms INTEGER;
ALTER TABLE sessions ADD COLUMN created_by INTEGER REFERENCES agents (id);
ALTER TABLE sessions ADD COLUMN approved_by INTEGER REFERENCES agents (id);
ALTER TABLE sessions ADD COLUMN previous_sign_in_ms INTEGER;
-- The agent's other live sessions when this one opened (before any was ended), at most 255.
ALTER TABLE sessions ADD COLUMN concurrent_sessions INTEGER NOT NULL DEFAULT 0
    CHECK (concurrent_sessions BETWEEN 0 AND 255);
ALTER TABLE sessions ADD COLUMN credential_changed_at_ms INTEGER;

-- Set in the transaction that creates a session.
ALTER TABLE agents ADD COLUMN last_sign_in_ms INTEGER;
-- Set with the credentials (password and TOTP) and with each passkey added.
ALTER TABLE agents ADD COLUMN credential_changed_ms INTEGER;

-- Account creation frozen in an organization (no request, no approval) since the detector
-- suspended one of its accounts (`agent`); a security officer lifts it (the row is deleted,
-- the ledger keeps both events).
CREATE TABLE org_freezes (
    org          INTEGER PRIMARY KEY REFERENCES organizations (id),
    frozen_at_ms INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    agent        INTEGER REFERENCES agents (id)
) STRICT
"#;

/// Second-factor secrets sealed at rest (`sealed.rs`).
///
/// `totp_key` names the keyring key a row's `totp_secret` is sealed under; `NULL` marks a
/// secret still in clear, written before this version, which the store seals when it opens the
/// database (SQL alone cannot: the key is not in the database).
const V4: &str = r#"
ALTER TABLE credentials ADD COLUMN totp_key TEXT CHECK (totp_key IS NULL OR length(totp_key) = 8)
"#;

/// The detector's blind spots (issue 22): more of the session's context (the network's
/// provider, the browser build, device binding, and a service account's envelope), service
/// accounts bound to a key, campaigns declared by managers, and canaries placed in scope lists.
const V5: &str = r#"
-- A key of the sign-in network's provider and of the exact browser build (0: unknown), and
-- whether the session was bound to a device key at sign-in.
ALTER TABLE sessions ADD COLUMN sign_in_provider INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN sign_in_build INTEGER NOT NULL DEFAULT 0 CHECK (sign_in_build >= 0);
ALTER TABLE sessions ADD COLUMN sign_in_device_bound INTEGER NOT NULL DEFAULT 0 CHECK (sign_in_device_bound IN (0, 1));
-- A session opened by a service account's key: the envelope it declared (NULL: a person's).
ALTER TABLE sessions ADD COLUMN service_persons_hour INTEGER CHECK (service_persons_hour > 0);
ALTER TABLE sessions ADD COLUMN service_persons_day INTEGER CHECK (service_persons_day > 0);

-- Integration accounts: the key their credentials are bound to (never a password), and the
-- volume they declared (persons an hour and a day), approved with the account.
CREATE TABLE service_accounts (
    agent            INTEGER PRIMARY KEY REFERENCES agents (id),
    key_kind         TEXT NOT NULL CHECK (key_kind IN ('client_assertion_es256', 'tls_certificate')),
    key              BLOB NOT NULL CHECK (length(key) > 0),
    persons_hour     INTEGER NOT NULL CHECK (persons_hour > 0),
    persons_day      INTEGER NOT NULL CHECK (persons_day >= persons_hour),
    registered_at_ms INTEGER NOT NULL,
    registered_by    INTEGER REFERENCES agents (id)
) STRICT;

-- Campaigns declared by managers (ledgered before they are stored): thresholds widen for the
-- team (or the whole organization, team NULL) until `until_ms`.
CREATE TABLE campaigns (
    id                INTEGER PRIMARY KEY,
    org               INTEGER NOT NULL REFERENCES organizations (id),
    team              INTEGER REFERENCES teams (id),
    declared_by       INTEGER NOT NULL REFERENCES agents (id),
    reason            TEXT NOT NULL,
    persons_per_agent INTEGER NOT NULL CHECK (persons_per_agent > 0),
    from_ms           INTEGER NOT NULL,
    until_ms          INTEGER NOT NULL CHECK (until_ms > from_ms)
) STRICT;
CREATE INDEX campaigns_by_end ON campaigns (until_ms);

-- Canaries placed inside organizations' scope lists (they have plausible relationships).
ALTER TABLE canaries ADD COLUMN in_scope INTEGER NOT NULL DEFAULT 0 CHECK (in_scope IN (0, 1))
"#;

/// Incidents and their notifications.
///
/// An incident's life is in the ledger (opened, expansions decided, scoped, notified, closed);
/// these tables hold its current state and each person's notification, so that a campaign can
/// resume after a stop and never write twice to anyone (one row per incident and person).
const V6: &str = r#"
CREATE TABLE incidents (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    title           TEXT NOT NULL,
    opened_at_ms    INTEGER NOT NULL,
    -- NULL: the operator (the command line with the data directory).
    opened_by       INTEGER REFERENCES agents (id),
    awareness_at_ms INTEGER NOT NULL,
    window_from_ms  INTEGER NOT NULL,
    window_to_ms    INTEGER NOT NULL CHECK (window_to_ms > window_from_ms),
    alert           INTEGER,
    state           TEXT NOT NULL CHECK (state IN ('open', 'notifying', 'closed')),
    closed_at_ms    INTEGER
) STRICT;

-- What an incident holds, in order: its seeds, then accepted expansions.
CREATE TABLE incident_selectors (
    incident INTEGER NOT NULL REFERENCES incidents (id),
    position INTEGER NOT NULL,
    selector TEXT NOT NULL,
    PRIMARY KEY (incident, position),
    UNIQUE (incident, selector)
) STRICT;

-- Officers' decisions on proposed expansions, accepted or refused.
CREATE TABLE incident_decisions (
    incident INTEGER NOT NULL REFERENCES incidents (id),
    target   TEXT NOT NULL,
    accepted INTEGER NOT NULL CHECK (accepted IN (0, 1)),
    by_agent INTEGER REFERENCES agents (id),
    at_ms    INTEGER NOT NULL,
    why      TEXT NOT NULL
) STRICT;
CREATE INDEX incident_decisions_by_incident ON incident_decisions (incident);

-- One row per incident and person: the campaign's state. No foreign key to persons: a person
-- removed from the registry later keeps the record that they were written to.
CREATE TABLE notices (
    incident   INTEGER NOT NULL REFERENCES incidents (id),
    person     INTEGER NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('nir_ou_sensible', 'coordonnees_ou_identite')),
    categories INTEGER NOT NULL CHECK (categories BETWEEN 1 AND 31),
    first_ms   INTEGER NOT NULL,
    last_ms    INTEGER NOT NULL,
    email      TEXT,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'in_doubt', 'sent', 'failed', 'no_address')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    message_id TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    error      TEXT,
    PRIMARY KEY (incident, person)
) STRICT, WITHOUT ROWID;
CREATE INDEX notices_by_state ON notices (incident, state, person)
"#;

/// Governed bulk extracts (issue 21): the requests and their life, and the canary persons each
/// extract carries (also in `persons` and `canaries`, so that a lookup or read of one trips the
/// detector), with the contact points attribution matches.
const V7: &str = r#"
CREATE TABLE extracts (
    id                INTEGER PRIMARY KEY CHECK (id BETWEEN 1 AND 4294967295),
    org               INTEGER NOT NULL REFERENCES organizations (id),
    requested_by      INTEGER NOT NULL REFERENCES agents (id),
    purpose           TEXT NOT NULL,
    description       TEXT NOT NULL,
    legal_basis       TEXT NOT NULL,
    relationship      INTEGER NOT NULL CHECK (relationship BETWEEN 1 AND 4),
    fields            INTEGER NOT NULL CHECK (fields BETWEEN 1 AND 31),
    recipient         TEXT NOT NULL,
    receipt_key       TEXT NOT NULL,
    expires_at_ms     INTEGER NOT NULL,
    created_at_ms     INTEGER NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('requested', 'approved', 'refused', 'produced', 'deleted')),
    decided_by        INTEGER REFERENCES agents (id),
    decided_at_ms     INTEGER,
    produced_at_ms    INTEGER,
    rows              INTEGER,
    canaries          INTEGER,
    ciphertext_sha256 TEXT,
    deleted_at_ms     INTEGER,
    overdue_noted     INTEGER NOT NULL DEFAULT 0 CHECK (overdue_noted IN (0, 1))
) STRICT;
CREATE INDEX extracts_by_org ON extracts (org, produced_at_ms);
CREATE TABLE extract_canaries (
    person_id INTEGER PRIMARY KEY REFERENCES persons (id),
    extract   INTEGER NOT NULL REFERENCES extracts (id),
    number    INTEGER NOT NULL,
    email     TEXT NOT NULL,
    phone     TEXT NOT NULL,
    UNIQUE (extract, number)
) STRICT;
CREATE INDEX extract_canaries_by_email ON extract_canaries (email);
CREATE INDEX extract_canaries_by_phone ON extract_canaries (phone)
"#;

/// When an extract's ciphertext was first handed over (the security console's extracts page
/// shows it; every hand-over is in the ledger as `extract.downloaded`).
const V8: &str = r#"
ALTER TABLE extracts ADD COLUMN downloaded_at_ms INTEGER
"#;

/// Settings of every connection (those not stored in the file).
pub(crate) fn configure(conn: &Connection, busy_timeout: Duration) -> rusqlite::Result<()> {
    conn.busy_timeout(busy_timeout)?;
    // Why each setting:
    // - foreign_keys: SQLite leaves them off by default; a session for an unknown agent or a
    //   relationship to an unknown person must be refused, not stored.
    // - synchronous=NORMAL in WAL: a power loss may lose the last registry or session writes but
    //   never corrupts the file. Acceptable here because access evidence lives in the ledger,
    //   which syncs every append itself.
    // - cache_size: 16 MiB per connection (8 connections by default).
    // - mmap_size: reads of the first 2 GiB (SQLite's cap) go through the OS page cache
    //   without a syscall per page: about 1.5x on the guarded read (benches/bulk_load.rs).
    //   The cost: an I/O error on the disk surfaces as SIGBUS instead of an error code.
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -16384; \
         PRAGMA mmap_size = 2147483648;",
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// The schema version recorded in the file.
pub(crate) fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Applies every migration after the file's version, each in its own transaction.
/// On failure, returns the version that could not be reached.
pub(crate) fn migrate(conn: &Connection) -> Result<(), (i64, rusqlite::Error)> {
    let from = version(conn).map_err(|e| (0, e))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(from).unwrap_or(0)) {
        let to = i as i64 + 1;
        let script = format!(
            "BEGIN IMMEDIATE; {sql}; PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {to}; COMMIT;"
        );
        if let Err(e) = conn.execute_batch(&script) {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            return Err((to, e));
        }
    }
    Ok(())
}

/// The explicit secondary indexes (`CREATE INDEX`, not those of UNIQUE or PRIMARY KEY) of the
/// persons-sized tables: a bulk load drops them and builds them once at the end.
pub(crate) fn bulk_indexes(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL \
         AND tbl_name IN ('persons', 'relationships', 'canaries', 'duplicates') ORDER BY name",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_reach_the_current_version_and_are_idempotent() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        assert_eq!(version(&conn).unwrap(), SCHEMA_VERSION);
        migrate(&conn).unwrap();
        assert_eq!(version(&conn).unwrap(), SCHEMA_VERSION);
        let app: i64 = conn.query_row("PRAGMA application_id", [], |r| r.get(0)).unwrap();
        assert_eq!(app, APPLICATION_ID);
        let names: Vec<String> = bulk_indexes(&conn).unwrap().into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&"persons_by_nir".to_owned()), "{names:?}");
        assert!(names.contains(&"relationships_by_person".to_owned()), "{names:?}");
    }

    /// A V2 database with an agent and a live session reaches the latest version: the session
    /// keeps working with an unknown sign-in context, and freezes can be stored.
    #[test]
    fn v3_adds_the_sign_in_context_and_freezes_to_a_v2_database() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        for (i, sql) in MIGRATIONS[..2].iter().enumerate() {
            conn.execute_batch(&format!("BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;", i + 1)).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO organizations VALUES (1, 'agency', 'Agence', 1);              INSERT INTO agents (id, login, display_name, email, org, role, active)              VALUES (1, 'a.b', 'A B', 'a@b.fr', 1, 'advisor', 1);              INSERT INTO sessions (agent, refresh_hash, access_hash, access_expires_ms, created_at_ms, expires_at_ms,              last_seen_ms, method, mfa, source, network, ua_family, user_agent)              VALUES (1, zeroblob(32), randomblob(32), 1, 1, 2, 1, 'passkey', 1, '192.0.2.1', '192.0.2.0/24', 'chrome', '')",
        )
        .unwrap();
        migrate(&conn).unwrap();
        assert_eq!(version(&conn).unwrap(), SCHEMA_VERSION);
        // V5: the provider, build, device binding and service envelope unknown.
        let v5: (i64, i64, i64, Option<i64>, Option<i64>) = conn
            .query_row(
                "SELECT sign_in_provider, sign_in_build, sign_in_device_bound, service_persons_hour, service_persons_day FROM sessions",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!(v5, (0, 0, 0, None, None));
        let row: (i64, Option<String>, Option<i64>, i64, Option<i64>) = conn
            .query_row(
                "SELECT network_key, sign_in_ua_family, previous_sign_in_ms, concurrent_sessions, credential_changed_at_ms                  FROM sessions",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!(row, (0, None, None, 0, None));
        let agent: (Option<i64>, Option<i64>) = conn
            .query_row("SELECT last_sign_in_ms, credential_changed_ms FROM agents", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!(agent, (None, None));
        conn.execute("INSERT INTO org_freezes VALUES (1, 5, 'account_suspended', 1)", []).unwrap();
        assert!(conn.execute("INSERT INTO org_freezes VALUES (1, 6, 'again', NULL)", []).is_err(), "one per org");
        assert!(conn.execute("INSERT INTO org_freezes VALUES (9, 6, 'x', NULL)", []).is_err(), "unknown org");
        assert!(conn.execute("UPDATE sessions SET concurrent_sessions = 256", []).is_err(), "capped");
    }

    /// A V3 database's clear TOTP secret reaches V4 marked clear (`totp_key` NULL), for the
    /// store to seal at open; a key id is eight characters.
    #[test]
    fn v4_marks_existing_totp_secrets_clear() {
        let conn = Connection::open_in_memory().unwrap();
        for (i, sql) in MIGRATIONS[..3].iter().enumerate() {
            conn.execute_batch(&format!("BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;", i + 1)).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO organizations VALUES (1, 'agency', 'Agence', 1); \
             INSERT INTO agents (id, login, display_name, email, org, role, active) VALUES (1, 'a.b', 'A B', 'a@b.fr', 1, 'advisor', 1); \
             INSERT INTO credentials (agent, password_hash, totp_secret) VALUES (1, 'h', zeroblob(20));",
        )
        .unwrap();
        migrate(&conn).unwrap();
        assert_eq!(version(&conn).unwrap(), SCHEMA_VERSION);
        let key: Option<String> = conn.query_row("SELECT totp_key FROM credentials", [], |r| r.get(0)).unwrap();
        assert_eq!(key, None);
        assert!(conn.execute("UPDATE credentials SET totp_key = 'abc'", []).is_err(), "eight hex digits");
        conn.execute("UPDATE credentials SET totp_key = '0a1b2c3d'", []).unwrap();
    }
}
