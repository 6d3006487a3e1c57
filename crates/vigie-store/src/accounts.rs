//! Accounts for sign-in: agents by login, their credentials (an Argon2id PHC string and a TOTP
//! secret) and the TOTP replay guard. Part of the core's [`AccountStore`] port; the session
//! half is in `sessions.rs`.

use vigie_core::ids::{AgentId, Login};
use vigie_core::org::Agent;
use vigie_core::ports::{AccountStore, Credentials, NewSession, SessionRecord, StoreError};
use vigie_core::signin::{PasswordHash, TotpSecret};
use vigie_core::time::Timestamp;

use crate::Store;
use crate::codec::{self, AGENT_COLUMNS};
use crate::error::{DbError, corrupt};

/// The replay guard: a compare-and-set in one statement, so two requests racing with the same
/// code cannot both see the old step and both succeed.
pub(crate) const CONSUME_TOTP_STEP_SQL: &str = "UPDATE credentials SET totp_last_step = ?2 \
     WHERE agent = ?1 AND (totp_last_step IS NULL OR totp_last_step < ?2)";

impl Store {
    /// The last TOTP step accepted for `agent` (`None`: never used, or no credentials).
    /// Pass it to `vigie_core::signin::totp::verify` so that a replayed code fails early;
    /// [`AccountStore::consume_totp_step`] remains the authority.
    pub fn totp_last_step(&self, agent: AgentId) -> Result<Option<i64>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached("SELECT totp_last_step FROM credentials WHERE agent = ?1")?;
            let mut rows = stmt.query([agent.as_i64()])?;
            Ok(match rows.next()? {
                Some(row) => row.get(0)?,
                None => None,
            })
        })
    }

    /// Replaces only the password hash (a rehash with stronger parameters at login, or a
    /// password change). Returns false if the agent has no credentials.
    pub fn set_password(&self, agent: AgentId, password: &PasswordHash) -> Result<bool, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached("UPDATE credentials SET password_hash = ?2 WHERE agent = ?1")?;
            Ok(stmt.execute((agent.as_i64(), &password.0))? == 1)
        })
    }
}

impl AccountStore for Store {
    fn agent_by_login(&self, login: &Login) -> Result<Option<Agent>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&format!("SELECT {AGENT_COLUMNS} FROM agents WHERE login = ?1"))?;
            let mut rows = stmt.query([login.as_str()])?;
            rows.next()?.map(codec::agent).transpose()
        })
    }

    fn credentials(&self, agent: AgentId) -> Result<Option<Credentials>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT password_hash, totp_secret FROM credentials WHERE agent = ?1")?;
            let mut rows = stmt.query([agent.as_i64()])?;
            let Some(row) = rows.next()? else { return Ok(None) };
            let secret: Vec<u8> = row.get(1)?;
            let totp = TotpSecret::from_bytes(&secret)
                .ok_or_else(|| corrupt(format!("credentials.totp_secret of {agent}")))?;
            Ok(Some(Credentials { password: PasswordHash(row.get(0)?), totp }))
        })
    }

    /// Sets both secrets. The last TOTP step is kept: steps only grow with time, so keeping it
    /// never refuses a fresh code and still refuses one seen before the change.
    fn set_credentials(&self, agent: AgentId, credentials: &Credentials) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(
                "INSERT INTO credentials (agent, password_hash, totp_secret) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (agent) DO UPDATE SET password_hash = excluded.password_hash, totp_secret = excluded.totp_secret",
            )?;
            stmt.execute((agent.as_i64(), &credentials.password.0, credentials.totp.as_bytes()))
                .map_err(|e| no_such_agent(e, agent))?;
            Ok(())
        })
    }

    fn consume_totp_step(&self, agent: AgentId, step: i64) -> Result<bool, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(CONSUME_TOTP_STEP_SQL)?;
            Ok(stmt.execute((agent.as_i64(), step))? == 1)
        })
    }

    fn create_session(&self, session: &NewSession) -> Result<vigie_core::ids::SessionId, StoreError> {
        self.create_session_db(session)
    }

    fn session(&self, token_hash: &[u8; 32], now: Timestamp) -> Result<Option<SessionRecord>, StoreError> {
        self.session_db(token_hash, now)
    }

    fn end_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.end_session_db(token_hash)
    }
}

/// A foreign-key failure on an agent reference, said plainly.
pub(crate) fn no_such_agent(e: rusqlite::Error, agent: AgentId) -> DbError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => corrupt(format!("no agent {agent}")),
        _ => DbError::Sqlite(e),
    }
}
