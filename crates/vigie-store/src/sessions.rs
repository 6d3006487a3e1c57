//! Server-side sessions: two secrets per session (a refresh token for the working day, an
//! access token for minutes), found by their SHA-256 (the tokens themselves are never stored,
//! so a copy of the database opens nothing), the client context they are bound to, the
//! step-up state, and their ending: one at a time, all of an agent's, all opened by a passkey.
//!
//! Expiry of the access token is checked in the query; the session's own expiry, idle time-out
//! and binding are decided by `vigie_core::signin::session::check` on the record. Each session
//! also carries its sign-in context for the detector, completed here from the account.

use rusqlite::{OptionalExtension, Row};
use vigie_core::ids::{AgentId, SessionId};
use vigie_core::ports::{AccessSession, NewSession, SessionRecord, SignInContext, StoreError};
use vigie_core::signin::{ClientContext, UaFamily};
use vigie_core::time::Timestamp;

use crate::Store;
use crate::accounts::no_such_agent;
use crate::codec;
use crate::error::{DbError, corrupt};

/// The columns [`session_row`] reads, in order (a macro, so that statements can be literals).
macro_rules! session_columns {
    () => {
        "id, agent, created_at_ms, expires_at_ms, last_seen_ms, access_expires_ms, method, mfa, credential, source, \
         network, ua_family, user_agent, elevated_until_ms, step_up_demanded_ms, device_key, probation_until_ms, \
         network_key, sign_in_ua_family, account_created_at_ms, created_by, approved_by, previous_sign_in_ms, \
         concurrent_sessions, credential_changed_at_ms, sign_in_provider, sign_in_build, sign_in_device_bound, \
         service_persons_hour, service_persons_day"
    };
}
const SESSION_COLUMNS: &str = session_columns!();

/// Session lookup on every request: one probe of the access-hash unique index, and the
/// session's account and organization by primary key, in one statement (one read transaction,
/// one connection checkout: three separate statements cost a guarded read about 10 µs more
/// under load). The row carries the sign-in context too, so the guarded read needs no other
/// lookup for the detector. Columns: the session's ([`SESSION_COLUMNS`]), then the agent's
/// ([`codec::AGENT_COLUMNS`], NULL when the account is gone), then the organization's
/// ([`codec::ORG_COLUMNS`]); SQLite flattens the subqueries into index searches (the query-plan
/// test checks it).
pub const SESSION_BY_ACCESS_SQL: &str = concat!(
    "SELECT s.*, a.*, o.* FROM (SELECT ",
    session_columns!(),
    " FROM sessions WHERE access_hash = ?1 AND access_expires_ms > ?2) s LEFT JOIN (SELECT ",
    codec::agent_columns!(),
    " FROM agents) a ON a.id = s.agent LEFT JOIN (SELECT ",
    codec::org_columns!(),
    " FROM organizations) o ON o.id = a.org"
);

/// Where the agent's and the organization's columns start in [`SESSION_BY_ACCESS_SQL`].
const ACCESS_AGENT_AT: usize = codec::column_count(SESSION_COLUMNS);
const ACCESS_ORG_AT: usize = ACCESS_AGENT_AT + codec::column_count(codec::AGENT_COLUMNS);

/// Creates a session in one statement, filling the sign-in context the account knows: its
/// previous sign-in, its other live sessions (counted before this one exists), its last
/// credential change. One statement, so the reads and the write share the write lock.
const INSERT_SESSION_SQL: &str = "INSERT INTO sessions (agent, refresh_hash, access_hash, access_expires_ms, created_at_ms, \
     expires_at_ms, last_seen_ms, method, mfa, credential, source, network, ua_family, user_agent, probation_until_ms, \
     network_key, sign_in_ua_family, account_created_at_ms, created_by, approved_by, previous_sign_in_ms, \
     concurrent_sessions, credential_changed_at_ms, sign_in_provider, sign_in_build, sign_in_device_bound, \
     service_persons_hour, service_persons_day) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?5, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, \
     (SELECT last_sign_in_ms FROM agents WHERE id = ?1), \
     (SELECT min(count(*), 255) FROM sessions WHERE agent = ?1 AND expires_at_ms > ?5), \
     (SELECT credential_changed_ms FROM agents WHERE id = ?1), ?20, ?21, ?22, ?23, ?24) \
     RETURNING id";

fn session_row(row: &Row<'_>) -> Result<SessionRecord, DbError> {
    let id: i64 = row.get(0)?;
    let ua: String = row.get(11)?;
    Ok(SessionRecord {
        id: SessionId(u64::try_from(id).map_err(|_| corrupt("sessions.id is negative"))?),
        agent: codec::parse(row.get(1)?, AgentId::from_i64, "sessions.agent")?,
        created_at: Timestamp(row.get(2)?),
        expires_at: Timestamp(row.get(3)?),
        last_seen: Timestamp(row.get(4)?),
        access_expires_at: Timestamp(row.get(5)?),
        method: row.get(6)?,
        mfa: row.get(7)?,
        credential: row.get(8)?,
        source: row.get(9)?,
        context: ClientContext {
            network: row.get(10)?,
            ua_family: UaFamily::parse(&ua).ok_or_else(|| corrupt(format!("sessions.ua_family {ua:?}")))?,
        },
        user_agent: row.get(12)?,
        elevated_until: row.get::<_, Option<i64>>(13)?.map(Timestamp),
        step_up_demanded_at: row.get::<_, Option<i64>>(14)?.map(Timestamp),
        device_key: row.get(15)?,
        probation_until: row.get::<_, Option<i64>>(16)?.map(Timestamp),
        sign_in: sign_in_context(row, 17)?,
    })
}

/// The sign-in context from its thirteen columns, starting at `at`.
fn sign_in_context(row: &Row<'_>, at: usize) -> Result<SignInContext, DbError> {
    let ua: Option<String> = row.get(at + 1)?;
    let ua_family = match ua {
        Some(ua) => Some(UaFamily::parse(&ua).ok_or_else(|| corrupt(format!("sessions.sign_in_ua_family {ua:?}")))?),
        None => None,
    };
    let concurrent: i64 = row.get(at + 6)?;
    Ok(SignInContext {
        network: network_from_column(row.get(at)?),
        ua_family,
        account_created_at: row.get::<_, Option<i64>>(at + 2)?.map(Timestamp),
        created_by: row.get::<_, Option<i64>>(at + 3)?.and_then(AgentId::from_i64),
        approved_by: row.get::<_, Option<i64>>(at + 4)?.and_then(AgentId::from_i64),
        previous_sign_in: row.get::<_, Option<i64>>(at + 5)?.map(Timestamp),
        concurrent_sessions: u8::try_from(concurrent)
            .map_err(|_| corrupt(format!("sessions.concurrent_sessions {concurrent}")))?,
        credential_changed_at: row.get::<_, Option<i64>>(at + 7)?.map(Timestamp),
        provider: network_from_column(row.get(at + 8)?),
        build: u32::try_from(row.get::<_, i64>(at + 9)?).map_err(|_| corrupt("sessions.sign_in_build"))?,
        device_bound: row.get(at + 10)?,
        service: match (row.get::<_, Option<i64>>(at + 11)?, row.get::<_, Option<i64>>(at + 12)?) {
            (Some(h), Some(d)) => Some(vigie_core::service::Envelope {
                persons_hour: u32::try_from(h).map_err(|_| corrupt("sessions.service_persons_hour"))?,
                persons_day: u32::try_from(d).map_err(|_| corrupt("sessions.service_persons_day"))?,
            }),
            (None, None) => None,
            _ => return Err(corrupt("sessions.service_persons_hour and _day: one without the other")),
        },
    })
}

/// SQLite integers are signed: the network key is stored with the same 64 bits.
fn network_to_column(key: u64) -> i64 {
    i64::from_be_bytes(key.to_be_bytes())
}

fn network_from_column(v: i64) -> u64 {
    u64::from_be_bytes(v.to_be_bytes())
}

fn session_id(id: i64) -> Result<SessionId, DbError> {
    u64::try_from(id).map(SessionId).map_err(|_| corrupt("sessions.id is negative"))
}

impl Store {
    pub(crate) fn create_session_db(
        &self,
        s: &NewSession,
        max_concurrent: usize,
    ) -> Result<(SessionId, Vec<SessionId>), StoreError> {
        self.with_conn(|conn| {
            let tx = conn.unchecked_transaction()?;
            let id: i64 = tx
                .prepare_cached(INSERT_SESSION_SQL)?
                .query_row(
                    rusqlite::params![
                        s.agent.as_i64(),
                        &s.refresh_hash[..],
                        &s.access_hash[..],
                        s.access_expires_at.millis(),
                        s.created_at.millis(),
                        s.expires_at.millis(),
                        &s.method,
                        s.mfa,
                        s.credential.as_deref(),
                        &s.source,
                        &s.context.network,
                        s.context.ua_family.as_str(),
                        &s.user_agent,
                        s.probation_until.map(Timestamp::millis),
                        network_to_column(s.sign_in.network),
                        s.sign_in.ua_family.map(UaFamily::as_str),
                        s.sign_in.account_created_at.map(Timestamp::millis),
                        s.sign_in.created_by.map(AgentId::as_i64),
                        s.sign_in.approved_by.map(AgentId::as_i64),
                        network_to_column(s.sign_in.provider),
                        i64::from(s.sign_in.build),
                        s.sign_in.device_bound,
                        s.sign_in.service.map(|e| i64::from(e.persons_hour)),
                        s.sign_in.service.map(|e| i64::from(e.persons_day)),
                    ],
                    |r| r.get(0),
                )
                .map_err(|e| no_such_agent(e, s.agent))?;
            // This sign-in is the next one's previous.
            tx.prepare_cached("UPDATE agents SET last_sign_in_ms = ?2 WHERE id = ?1")?
                .execute((s.agent.as_i64(), s.created_at.millis()))?;
            // Over the limit: end the least recently used of the others.
            let mut stmt = tx.prepare_cached(
                "SELECT id FROM sessions WHERE agent = ?1 AND id <> ?2 AND expires_at_ms > ?3 \
                 ORDER BY last_seen_ms DESC, id DESC",
            )?;
            let others: Vec<i64> = stmt
                .query_map((s.agent.as_i64(), id, s.created_at.millis()), |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            drop(stmt);
            let keep = max_concurrent.saturating_sub(1);
            let mut ended = Vec::new();
            for old in others.into_iter().skip(keep) {
                tx.prepare_cached("DELETE FROM sessions WHERE id = ?1")?.execute([old])?;
                ended.push(session_id(old)?);
            }
            tx.commit()?;
            Ok((session_id(id)?, ended))
        })
    }

    pub(crate) fn session_by_access_db(
        &self,
        hash: &[u8; 32],
        now: Timestamp,
    ) -> Result<Option<AccessSession>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(SESSION_BY_ACCESS_SQL)?;
            let mut rows = stmt.query((&hash[..], now.millis()))?;
            let Some(row) = rows.next()? else { return Ok(None) };
            let session = session_row(row)?;
            let present = |at: usize| row.get::<_, Option<i64>>(at).map(|id| id.is_some());
            let agent = if present(ACCESS_AGENT_AT)? { Some(codec::agent_at(row, ACCESS_AGENT_AT)?) } else { None };
            let org = if present(ACCESS_ORG_AT)? { Some(codec::organization_at(row, ACCESS_ORG_AT)?) } else { None };
            Ok(Some(AccessSession { session, agent, org }))
        })
    }

    /// See `AccountStore::access_expired`: the row exists, its access token is past its time,
    /// the session is not.
    pub(crate) fn access_expired_db(&self, hash: &[u8; 32], now: Timestamp) -> Result<bool, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT 1 FROM sessions WHERE access_hash = ?1 AND access_expires_ms <= ?2 AND expires_at_ms > ?2",
            )?;
            Ok(stmt.exists((&hash[..], now.millis()))?)
        })
    }

    pub(crate) fn session_where(
        &self,
        clause: &str,
        key: impl rusqlite::ToSql,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE {clause}"))?;
            let mut rows = stmt.query([key])?;
            rows.next()?.map(session_row).transpose()
        })
    }

    pub(crate) fn exec(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize, StoreError> {
        self.with_conn(|conn| Ok(conn.prepare_cached(sql)?.execute(params)?))
    }

    pub(crate) fn delete_sessions_returning(
        &self,
        clause: &str,
        key: impl rusqlite::ToSql,
    ) -> Result<Vec<SessionId>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&format!("DELETE FROM sessions WHERE {clause} RETURNING id"))?;
            let ids: Vec<i64> = stmt.query_map([key], |r| r.get(0))?.collect::<Result<_, _>>()?;
            ids.into_iter().map(session_id).collect()
        })
    }

    pub(crate) fn sessions_of_db(&self, agent: AgentId, now: Timestamp) -> Result<Vec<SessionRecord>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE agent = ?1 AND expires_at_ms > ?2 \
                 ORDER BY last_seen_ms DESC, id DESC"
            ))?;
            let mut rows = stmt.query((agent.as_i64(), now.millis()))?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(session_row(row)?);
            }
            Ok(out)
        })
    }

    /// Deletes the sessions expired at `now`. Returns how many.
    pub fn purge_expired_sessions(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.exec("DELETE FROM sessions WHERE expires_at_ms <= ?1", [now.millis()])
    }

    /// Whether a session id exists (tests and tools).
    pub fn session_exists(&self, id: SessionId) -> Result<bool, StoreError> {
        self.with_conn(|conn| {
            Ok(conn
                .prepare_cached("SELECT 1 FROM sessions WHERE id = ?1")?
                .query_row([id.0 as i64], |_| Ok(()))
                .optional()?
                .is_some())
        })
    }
}
