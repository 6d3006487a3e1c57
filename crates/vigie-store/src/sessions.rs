//! Server-side sessions: two secrets per session (a refresh token for the working day, an
//! access token for minutes), found by their SHA-256 (the tokens themselves are never stored,
//! so a copy of the database opens nothing), the client context they are bound to, the
//! step-up state, and their ending: one at a time, all of an agent's, all opened by a passkey.
//!
//! Expiry of the access token is checked in the query; the session's own expiry, idle time-out
//! and binding are decided by `vigie_core::signin::session::check` on the record.

use rusqlite::{OptionalExtension, Row};
use vigie_core::ids::{AgentId, SessionId};
use vigie_core::ports::{NewSession, SessionRecord, StoreError};
use vigie_core::signin::{ClientContext, UaFamily};
use vigie_core::time::Timestamp;

use crate::Store;
use crate::accounts::no_such_agent;
use crate::codec;
use crate::error::{DbError, corrupt};

const SESSION_COLUMNS: &str = "id, agent, created_at_ms, expires_at_ms, last_seen_ms, access_expires_ms, method, mfa, \
     credential, source, network, ua_family, user_agent, elevated_until_ms, step_up_demanded_ms, device_key, probation_until_ms";

/// Session lookup on every request: one probe of the access-hash unique index.
pub const SESSION_BY_ACCESS_SQL: &str = "SELECT id, agent, created_at_ms, expires_at_ms, last_seen_ms, access_expires_ms, \
     method, mfa, credential, source, network, ua_family, user_agent, elevated_until_ms, step_up_demanded_ms, device_key, \
     probation_until_ms FROM sessions WHERE access_hash = ?1 AND access_expires_ms > ?2";

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
    })
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
                .prepare_cached(
                    "INSERT INTO sessions (agent, refresh_hash, access_hash, access_expires_ms, created_at_ms, expires_at_ms, \
                     last_seen_ms, method, mfa, credential, source, network, ua_family, user_agent, probation_until_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?5, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) RETURNING id",
                )?
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
                    ],
                    |r| r.get(0),
                )
                .map_err(|e| no_such_agent(e, s.agent))?;
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
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(SESSION_BY_ACCESS_SQL)?;
            let mut rows = stmt.query((&hash[..], now.millis()))?;
            rows.next()?.map(session_row).transpose()
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
