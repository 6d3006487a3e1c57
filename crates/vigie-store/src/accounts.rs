//! Accounts for sign-in: agents by login, their credentials (an Argon2id PHC string and a TOTP
//! secret) and the TOTP replay guard. Part of the core's [`AccountStore`] port; the session
//! half is in `sessions.rs`.

use vigie_core::ids::{AgentId, Login, OrgId, SessionId, TeamId};
use vigie_core::lifecycle::{AccountRequest, OrgFreeze};
use vigie_core::org::Agent;
use vigie_core::ports::{
    AccessSession, AccountOrigin, AccountStore, Approval, Credentials, NewSession, SessionRecord, StoreError,
    StoredPasskey,
};
use vigie_core::signin::{PasswordHash, TotpSecret};
use vigie_core::time::Timestamp;

use crate::Store;
use crate::codec::{self, AGENT_COLUMNS};
use crate::error::{DbError, corrupt};

/// Records a credential change of an agent (with the credentials, or a passkey added).
pub(crate) const CREDENTIAL_CHANGED_SQL: &str = "UPDATE agents SET credential_changed_ms = ?2 WHERE id = ?1";

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
    fn service_account(&self, agent: AgentId) -> Result<Option<vigie_core::service::ServiceAccount>, StoreError> {
        Store::service_account(self, agent)
    }

    fn register_service_account(
        &self,
        account: &vigie_core::service::ServiceAccount,
        at: Timestamp,
        by: Option<AgentId>,
    ) -> Result<(), StoreError> {
        Store::register_service_account(self, account, at, by)
    }

    fn store_campaign(&self, campaign: &vigie_core::campaign::CampaignDeclaration) -> Result<u64, StoreError> {
        Store::store_campaign(self, campaign)
    }

    fn active_campaigns(&self, now: Timestamp) -> Result<Vec<vigie_core::campaign::CampaignDeclaration>, StoreError> {
        Store::active_campaigns(self, now)
    }

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
                conn.prepare_cached("SELECT password_hash, totp_secret, totp_key FROM credentials WHERE agent = ?1")?;
            let mut rows = stmt.query([agent.as_i64()])?;
            let Some(row) = rows.next()? else { return Ok(None) };
            let sealed: Vec<u8> = row.get(1)?;
            // Every row is sealed when the database is opened: a clear one now was written
            // behind this process's back, and is not trusted.
            let key: String = row
                .get::<_, Option<String>>(2)?
                .ok_or_else(|| corrupt(format!("credentials.totp_secret of {agent} is not sealed")))?;
            let secret = self.secrets.open(agent, &key, &sealed)?;
            let totp = TotpSecret::from_bytes(&secret)
                .ok_or_else(|| corrupt(format!("credentials.totp_secret of {agent}")))?;
            Ok(Some(Credentials { password: PasswordHash(row.get(0)?), totp }))
        })
    }

    /// Sets both secrets. The last TOTP step is kept: steps only grow with time, so keeping it
    /// never refuses a fresh code and still refuses one seen before the change.
    fn set_credentials(
        &self,
        agent: AgentId,
        credentials: &Credentials,
        changed_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let (key, sealed) = self.secrets.seal(agent.as_i64(), credentials.totp.as_bytes())?;
        self.with_conn(|conn| {
            let tx = conn.unchecked_transaction()?;
            tx.prepare_cached(
                "INSERT INTO credentials (agent, password_hash, totp_secret, totp_key) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (agent) DO UPDATE SET password_hash = excluded.password_hash, \
                 totp_secret = excluded.totp_secret, totp_key = excluded.totp_key",
            )?
            .execute((agent.as_i64(), &credentials.password.0, &sealed, key.to_string()))
            .map_err(|e| no_such_agent(e, agent))?;
            tx.prepare_cached(CREDENTIAL_CHANGED_SQL)?.execute((agent.as_i64(), changed_at.map(Timestamp::millis)))?;
            tx.commit()?;
            Ok(())
        })
    }

    fn consume_totp_step(&self, agent: AgentId, step: i64) -> Result<bool, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(CONSUME_TOTP_STEP_SQL)?;
            Ok(stmt.execute((agent.as_i64(), step))? == 1)
        })
    }

    fn create_session(&self, s: &NewSession, max_concurrent: usize) -> Result<(SessionId, Vec<SessionId>), StoreError> {
        self.create_session_db(s, max_concurrent)
    }

    fn session_by_access(&self, hash: &[u8; 32], now: Timestamp) -> Result<Option<AccessSession>, StoreError> {
        self.session_by_access_db(hash, now)
    }

    fn access_expired(&self, hash: &[u8; 32], now: Timestamp) -> Result<bool, StoreError> {
        self.access_expired_db(hash, now)
    }

    fn session_by_refresh(&self, hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        self.session_where("refresh_hash = ?1", &hash[..])
    }

    fn session_by_id(&self, id: SessionId) -> Result<Option<SessionRecord>, StoreError> {
        self.session_where("id = ?1", sid(id))
    }

    fn rotate_access(&self, id: SessionId, hash: &[u8; 32], expires_at: Timestamp) -> Result<bool, StoreError> {
        Ok(self.exec(
            "UPDATE sessions SET access_hash = ?2, access_expires_ms = ?3 WHERE id = ?1",
            (sid(id), &hash[..], expires_at.millis()),
        )? == 1)
    }

    fn touch_session(&self, id: SessionId, now: Timestamp) -> Result<(), StoreError> {
        self.exec("UPDATE sessions SET last_seen_ms = max(last_seen_ms, ?2) WHERE id = ?1", (sid(id), now.millis()))?;
        Ok(())
    }

    fn demand_step_up(&self, id: SessionId, at: Timestamp) -> Result<(), StoreError> {
        self.exec(
            "UPDATE sessions SET step_up_demanded_ms = coalesce(step_up_demanded_ms, ?2) WHERE id = ?1",
            (sid(id), at.millis()),
        )?;
        Ok(())
    }

    fn elevate(&self, id: SessionId, until: Timestamp) -> Result<(), StoreError> {
        self.exec(
            "UPDATE sessions SET elevated_until_ms = ?2, step_up_demanded_ms = NULL WHERE id = ?1",
            (sid(id), until.millis()),
        )?;
        Ok(())
    }

    fn bind_device(&self, id: SessionId, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.exec("UPDATE sessions SET device_key = ?2 WHERE id = ?1 AND device_key IS NULL", (sid(id), key))? == 1)
    }

    fn team_org(&self, team: TeamId) -> Result<Option<OrgId>, StoreError> {
        self.team_org_db(team)
    }

    fn end_session(&self, id: SessionId) -> Result<bool, StoreError> {
        Ok(self.exec("DELETE FROM sessions WHERE id = ?1", [sid(id)])? == 1)
    }

    fn end_sessions_of(&self, agent: AgentId) -> Result<Vec<SessionId>, StoreError> {
        self.delete_sessions_returning("agent = ?1", agent.as_i64())
    }

    fn end_sessions_by_credential(&self, credential_id: &[u8]) -> Result<Vec<SessionId>, StoreError> {
        self.delete_sessions_returning("credential = ?1", credential_id)
    }

    fn sessions_of(&self, agent: AgentId, now: Timestamp) -> Result<Vec<SessionRecord>, StoreError> {
        self.sessions_of_db(agent, now)
    }

    fn passkeys_of(&self, agent: AgentId) -> Result<Vec<StoredPasskey>, StoreError> {
        self.passkeys_where("agent = ?1", agent.as_i64())
    }

    fn passkeys_by_handle(&self, user_handle: &[u8; 16]) -> Result<Vec<StoredPasskey>, StoreError> {
        self.passkeys_where("user_handle = ?1", &user_handle[..])
    }

    fn add_passkey(&self, passkey: &StoredPasskey) -> Result<(), StoreError> {
        self.add_passkey_db(passkey)
    }

    fn update_passkey(&self, credential_id: &[u8], passkey: &str, now: Timestamp) -> Result<(), StoreError> {
        self.exec(
            "UPDATE passkeys SET passkey = ?2, last_used_ms = ?3 WHERE credential_id = ?1",
            (credential_id, passkey, now.millis()),
        )?;
        Ok(())
    }

    fn remove_passkey(&self, agent: AgentId, credential_id: &[u8]) -> Result<bool, StoreError> {
        Ok(self
            .exec("DELETE FROM passkeys WHERE agent = ?1 AND credential_id = ?2", (agent.as_i64(), credential_id))?
            == 1)
    }

    fn create_request(&self, request: &AccountRequest) -> Result<Option<u64>, StoreError> {
        self.create_request_db(request)
    }

    fn request(&self, id: u64) -> Result<Option<AccountRequest>, StoreError> {
        self.request_db(id)
    }

    fn requests(&self, org: Option<OrgId>, limit: usize) -> Result<Vec<AccountRequest>, StoreError> {
        self.requests_db(org, limit)
    }

    fn requests_made_since(&self, agent: AgentId, since: Timestamp) -> Result<usize, StoreError> {
        self.requests_made_since_db(agent, since)
    }

    fn approve_request(&self, approval: &Approval) -> Result<Option<AgentId>, StoreError> {
        self.approve_request_db(approval)
    }

    fn reject_request(&self, request: u64, by: AgentId, at: Timestamp) -> Result<bool, StoreError> {
        self.reject_request_db(request, by, at)
    }

    fn account_origin(&self, agent: AgentId) -> Result<AccountOrigin, StoreError> {
        self.account_origin_db(agent)
    }

    fn enrolment(&self, hash: &[u8; 32], now: Timestamp) -> Result<Option<AgentId>, StoreError> {
        self.enrolment_db(hash, now)
    }

    fn consume_enrolment(&self, hash: &[u8; 32], now: Timestamp) -> Result<bool, StoreError> {
        self.consume_enrolment_db(hash, now)
    }

    fn set_agent_active(&self, agent: AgentId, active: bool) -> Result<(), StoreError> {
        self.exec("UPDATE agents SET active = ?2 WHERE id = ?1", (agent.as_i64(), active))?;
        Ok(())
    }

    fn freeze_org_creation(&self, freeze: &OrgFreeze) -> Result<bool, StoreError> {
        self.freeze_org_creation_db(freeze)
    }

    fn unfreeze_org_creation(&self, org: OrgId) -> Result<Option<OrgFreeze>, StoreError> {
        self.unfreeze_org_creation_db(org)
    }

    fn org_creation_frozen(&self, org: OrgId) -> Result<Option<OrgFreeze>, StoreError> {
        self.org_creation_frozen_db(org)
    }

    fn federated_agent(&self, issuer: &str, subject: &str) -> Result<Option<AgentId>, StoreError> {
        self.federated_agent_db(issuer, subject)
    }

    fn link_identity(&self, issuer: &str, subject: &str, agent: AgentId, at: Timestamp) -> Result<bool, StoreError> {
        self.link_identity_db(issuer, subject, agent, at)
    }

    fn agents_by_email(&self, email: &str) -> Result<Vec<Agent>, StoreError> {
        self.agents_by_email_db(email)
    }
}

fn sid(id: SessionId) -> i64 {
    i64::try_from(id.0).unwrap_or(-1)
}

/// A foreign-key failure on an agent reference, said plainly.
pub(crate) fn no_such_agent(e: rusqlite::Error, agent: AgentId) -> DbError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => corrupt(format!("no agent {agent}")),
        _ => DbError::Sqlite(e),
    }
}
