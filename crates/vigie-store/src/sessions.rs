//! Server-side sessions: created at sign-in, found by the SHA-256 of their secret token (the
//! token itself is never stored, so a copy of the database opens nothing), refreshed on use,
//! ended one at a time, all of an agent's at once (suspension, password change), or by expiry.
//!
//! Expiry is checked in the query, against the `now` passed in: an expired session is never
//! returned even if the purge has not run yet.

use vigie_core::ids::{AgentId, SessionId};
use vigie_core::ports::{NewSession, SessionRecord, StoreError};
use vigie_core::time::Timestamp;

use crate::Store;
use crate::accounts::no_such_agent;
use crate::codec;
use crate::error::corrupt;

/// Session lookup on every request: one probe of the token-hash unique index.
pub const SESSION_BY_TOKEN_SQL: &str = "SELECT id, agent, created_at_ms, expires_at_ms, mfa, source, user_agent \
     FROM sessions WHERE token_hash = ?1 AND expires_at_ms > ?2";

impl Store {
    pub(crate) fn create_session_db(&self, s: &NewSession) -> Result<SessionId, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(
                "INSERT INTO sessions (token_hash, agent, created_at_ms, expires_at_ms, last_seen_ms, mfa, source, user_agent) \
                 VALUES (?1, ?2, ?3, ?4, ?3, ?5, ?6, ?7) RETURNING id",
            )?;
            let row = (
                &s.token_hash[..],
                s.agent.as_i64(),
                s.created_at.millis(),
                s.expires_at.millis(),
                s.mfa,
                &s.source,
                &s.user_agent,
            );
            let id: i64 = stmt.query_row(row, |r| r.get(0)).map_err(|e| no_such_agent(e, s.agent))?;
            u64::try_from(id).map(SessionId).map_err(|_| corrupt("sessions.id is negative"))
        })
    }

    pub(crate) fn session_db(
        &self,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(SESSION_BY_TOKEN_SQL)?;
            let mut rows = stmt.query((&token_hash[..], now.millis()))?;
            let Some(row) = rows.next()? else { return Ok(None) };
            let id: i64 = row.get(0)?;
            Ok(Some(SessionRecord {
                id: SessionId(u64::try_from(id).map_err(|_| corrupt("sessions.id is negative"))?),
                agent: codec::parse(row.get(1)?, AgentId::from_i64, "sessions.agent")?,
                created_at: Timestamp(row.get(2)?),
                expires_at: Timestamp(row.get(3)?),
                mfa: row.get(4)?,
                source: row.get(5)?,
                user_agent: row.get(6)?,
            }))
        })
    }

    pub(crate) fn end_session_db(&self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?;
            stmt.execute([&token_hash[..]])?;
            Ok(())
        })
    }

    /// Records that a live session was used at `now` (for idle timeouts and the sessions
    /// page). Returns false if there is no such live session.
    pub fn touch_session(&self, token_hash: &[u8; 32], now: Timestamp) -> Result<bool, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(
                "UPDATE sessions SET last_seen_ms = max(last_seen_ms, ?2) WHERE token_hash = ?1 AND expires_at_ms > ?2",
            )?;
            Ok(stmt.execute((&token_hash[..], now.millis()))? == 1)
        })
    }

    /// When a live session was last used.
    pub fn session_last_seen(&self, token_hash: &[u8; 32], now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT last_seen_ms FROM sessions WHERE token_hash = ?1 AND expires_at_ms > ?2")?;
            let mut rows = stmt.query((&token_hash[..], now.millis()))?;
            Ok(match rows.next()? {
                Some(row) => Some(Timestamp(row.get(0)?)),
                None => None,
            })
        })
    }

    /// Ends every session of an agent (suspension, password or TOTP reset). Returns how many.
    pub fn end_sessions_of(&self, agent: AgentId) -> Result<usize, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached("DELETE FROM sessions WHERE agent = ?1")?;
            Ok(stmt.execute([agent.as_i64()])?)
        })
    }

    /// Deletes the sessions expired at `now`. Returns how many.
    pub fn purge_expired_sessions(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached("DELETE FROM sessions WHERE expires_at_ms <= ?1")?;
            Ok(stmt.execute([now.millis()])?)
        })
    }
}
