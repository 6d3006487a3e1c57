//! The [`AccountStore`] port over PostgreSQL: agents by login and address, credentials (an
//! Argon2id PHC string and a TOTP secret sealed with the same keyring format as the SQLite
//! store), the TOTP replay guard, passkeys, four-eyes account requests, enrolment links,
//! freezes, federated identities, service accounts and campaigns. Sessions are in
//! `sessions.rs`. Each method is the SQLite store's statement in PostgreSQL's dialect, with
//! the same transactions; approving a request locks `agents` so that two nodes approving at
//! once cannot take the same new id.

use postgres::error::SqlState;
use vigie_core::campaign::CampaignDeclaration;
use vigie_core::ids::{AgentId, Login, OrgId, SessionId, TeamId};
use vigie_core::lifecycle::{AccountRequest, OrgFreeze, RequestState};
use vigie_core::org::{Agent, Role};
use vigie_core::ports::{
    AccessReason, AccessSession, AccountOrigin, AccountStore, Approval, Credentials, NewSession, SessionRecord,
    StoreError, StoredPasskey,
};
use vigie_core::service::{BoundKey, Envelope, ServiceAccount};
use vigie_core::signin::{PasswordHash, TotpSecret};
use vigie_core::time::Timestamp;

use crate::PgStore;
use crate::codec::{self, AGENT_COLUMNS};
use crate::error::{DbError, corrupt};
use crate::sessions::sid;

const CREDENTIAL_CHANGED_SQL: &str = "UPDATE agents SET credential_changed_ms = $2 WHERE id = $1";

const REQUEST_COLUMNS: &str = "id, org, requested_by, login, display_name, email, role, team, justification, \
     created_at_ms, expires_at_ms, state, decided_by, decided_at_ms, agent";

fn request_row(row: &postgres::Row) -> Result<AccountRequest, DbError> {
    let id: i64 = row.try_get(0)?;
    let login: String = row.try_get(3)?;
    let role: String = row.try_get(6)?;
    let state: String = row.try_get(11)?;
    Ok(AccountRequest {
        id: u64::try_from(id).map_err(|_| corrupt("account_requests.id is negative"))?,
        org: codec::parse(row.try_get(1)?, OrgId::from_i64, "account_requests.org")?,
        requested_by: codec::parse(row.try_get(2)?, AgentId::from_i64, "account_requests.requested_by")?,
        login: login.parse::<Login>().map_err(|_| corrupt(format!("account_requests.login {login:?}")))?,
        display_name: row.try_get(4)?,
        email: row.try_get(5)?,
        role: Role::parse(&role).ok_or_else(|| corrupt(format!("account_requests.role {role:?}")))?,
        team: row.try_get::<_, Option<i64>>(7)?.and_then(TeamId::from_i64),
        justification: row.try_get(8)?,
        created_at: Timestamp(row.try_get(9)?),
        expires_at: Timestamp(row.try_get(10)?),
        state: RequestState::parse(&state).ok_or_else(|| corrupt(format!("account_requests.state {state:?}")))?,
        decided_by: row.try_get::<_, Option<i64>>(12)?.and_then(AgentId::from_i64),
        decided_at: row.try_get::<_, Option<i64>>(13)?.map(Timestamp),
        agent: row.try_get::<_, Option<i64>>(14)?.and_then(AgentId::from_i64),
    })
}

const PASSKEY_COLUMNS: &str = "credential_id, agent, user_handle, label, passkey, created_at_ms, last_used_ms";

fn passkey_row(row: &postgres::Row) -> Result<StoredPasskey, DbError> {
    let handle: Vec<u8> = row.try_get(2)?;
    Ok(StoredPasskey {
        credential_id: row.try_get(0)?,
        agent: codec::parse(row.try_get(1)?, AgentId::from_i64, "passkeys.agent")?,
        user_handle: handle.try_into().map_err(|_| corrupt("passkeys.user_handle is not 16 bytes"))?,
        label: row.try_get(3)?,
        passkey: row.try_get(4)?,
        created_at: Timestamp(row.try_get(5)?),
        last_used: row.try_get::<_, Option<i64>>(6)?.map(Timestamp),
    })
}

const FREEZE_COLUMNS: &str = "org, frozen_at_ms, reason, agent";

fn freeze_row(row: &postgres::Row) -> Result<OrgFreeze, DbError> {
    Ok(OrgFreeze {
        org: codec::parse(row.try_get(0)?, OrgId::from_i64, "org_freezes.org")?,
        frozen_at: Timestamp(row.try_get(1)?),
        reason: row.try_get(2)?,
        agent: row.try_get::<_, Option<i64>>(3)?.and_then(AgentId::from_i64),
    })
}

/// A foreign-key failure on an agent reference, said plainly.
pub(crate) fn no_such_agent(e: postgres::Error, agent: AgentId) -> DbError {
    if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) {
        return corrupt(format!("no agent {agent}"));
    }
    DbError::Pg(e)
}

fn request_key(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(-1)
}

impl PgStore {
    /// The last TOTP step accepted for `agent` (`None`: never used, or no credentials).
    pub fn totp_last_step(&self, agent: AgentId) -> Result<Option<i64>, StoreError> {
        self.with_conn(|c| {
            Ok(match c.query_opt("SELECT totp_last_step FROM credentials WHERE agent = $1", &[&agent.as_i64()])? {
                Some(row) => row.try_get(0)?,
                None => None,
            })
        })
    }

    /// Replaces only the password hash. Returns false if the agent has no credentials.
    pub fn set_password(&self, agent: AgentId, password: &PasswordHash) -> Result<bool, StoreError> {
        Ok(self.exec("UPDATE credentials SET password_hash = $2 WHERE agent = $1", &[&agent.as_i64(), &password.0])?
            == 1)
    }

    /// Issues a new enrolment link for `agent`, replacing any unused one.
    pub fn issue_enrolment(
        &self,
        agent: AgentId,
        hash: &[u8; 32],
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.with_conn(|c| {
            let mut tx = c.transaction()?;
            tx.execute("DELETE FROM enrolments WHERE agent = $1 AND used_at_ms IS NULL", &[&agent.as_i64()])?;
            tx.execute(
                "INSERT INTO enrolments (token_hash, agent, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4)",
                &[&&hash[..], &agent.as_i64(), &now.millis(), &expires_at.millis()],
            )
            .map_err(|e| no_such_agent(e, agent))?;
            tx.commit()?;
            Ok(())
        })
    }

    fn passkeys_where(
        &self,
        clause: &str,
        key: &(dyn postgres::types::ToSql + Sync),
    ) -> Result<Vec<StoredPasskey>, StoreError> {
        self.with_conn(|c| {
            c.query(
                &format!("SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE {clause} ORDER BY created_at_ms, credential_id"),
                &[key],
            )?
            .iter()
            .map(passkey_row)
            .collect()
        })
    }

    fn agent_ids(
        &self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Option<AgentId>, StoreError> {
        self.with_conn(|c| {
            Ok(c.query_opt(sql, params)?.map(|r| r.try_get::<_, i64>(0)).transpose()?.and_then(AgentId::from_i64))
        })
    }
}

impl AccountStore for PgStore {
    fn service_account(&self, agent: AgentId) -> Result<Option<ServiceAccount>, StoreError> {
        self.with_conn(|c| {
            let Some(r) = c.query_opt(
                "SELECT key_kind, key, persons_hour, persons_day FROM service_accounts WHERE agent = $1",
                &[&agent.as_i64()],
            )?
            else {
                return Ok(None);
            };
            let (kind, key, hour, day): (String, Vec<u8>, i64, i64) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
            let key = match kind.as_str() {
                "client_assertion_es256" => BoundKey::ClientAssertionEs256 { public_key: key },
                "tls_certificate" => BoundKey::TlsCertificate {
                    sha256: key.try_into().map_err(|_| corrupt("service_accounts.key: not 32 bytes"))?,
                },
                other => return Err(corrupt(format!("service_accounts.key_kind {other:?}"))),
            };
            let envelope = Envelope {
                persons_hour: u32::try_from(hour).map_err(|_| corrupt("service_accounts.persons_hour"))?,
                persons_day: u32::try_from(day).map_err(|_| corrupt("service_accounts.persons_day"))?,
            };
            ServiceAccount::new(agent, Some(key), envelope)
                .map(Some)
                .map_err(|e| corrupt(format!("service_accounts of {agent}: {e}")))
        })
    }

    fn register_service_account(
        &self,
        s: &ServiceAccount,
        at: Timestamp,
        by: Option<AgentId>,
    ) -> Result<(), StoreError> {
        let (kind, key): (&str, &[u8]) = match &s.key {
            BoundKey::ClientAssertionEs256 { public_key } => ("client_assertion_es256", public_key),
            BoundKey::TlsCertificate { sha256 } => ("tls_certificate", sha256),
        };
        self.exec(
            "INSERT INTO service_accounts (agent, key_kind, key, persons_hour, persons_day, registered_at_ms, registered_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (agent) DO UPDATE SET key_kind = $2, key = $3, persons_hour = $4, persons_day = $5, \
             registered_at_ms = $6, registered_by = $7",
            &[
                &s.agent.as_i64(),
                &kind,
                &key,
                &i64::from(s.envelope.persons_hour),
                &i64::from(s.envelope.persons_day),
                &at.millis(),
                &by.map(AgentId::as_i64),
            ],
        )?;
        Ok(())
    }

    fn store_campaign(&self, c: &CampaignDeclaration) -> Result<u64, StoreError> {
        self.with_conn(|conn| {
            let id: i64 = conn
                .query_one(
                    "INSERT INTO campaigns (org, team, declared_by, reason, persons_per_agent, from_ms, until_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    &[
                        &c.org.as_i64(),
                        &c.team.map(TeamId::as_i64),
                        &c.declared_by.as_i64(),
                        &c.reason.as_str(),
                        &i64::from(c.persons_per_agent),
                        &c.from.millis(),
                        &c.until.millis(),
                    ],
                )?
                .try_get(0)?;
            u64::try_from(id).map_err(|_| corrupt("campaigns.id is negative"))
        })
    }

    fn active_campaigns(&self, now: Timestamp) -> Result<Vec<CampaignDeclaration>, StoreError> {
        self.with_conn(|c| {
            c.query(
                "SELECT org, team, declared_by, reason, persons_per_agent, from_ms, until_ms FROM campaigns \
                 WHERE until_ms > $1 ORDER BY id",
                &[&now.millis()],
            )?
            .iter()
            .map(|r| {
                let reason: String = r.try_get(3)?;
                let persons: i64 = r.try_get(4)?;
                Ok(CampaignDeclaration {
                    org: codec::parse(r.try_get(0)?, OrgId::from_i64, "campaigns.org")?,
                    team: codec::optional(r.try_get(1)?, TeamId::from_i64, "campaigns.team")?,
                    declared_by: codec::parse(r.try_get(2)?, AgentId::from_i64, "campaigns.declared_by")?,
                    reason: AccessReason::parse(&reason)
                        .ok_or_else(|| corrupt(format!("campaigns.reason {reason:?}")))?,
                    persons_per_agent: u32::try_from(persons).map_err(|_| corrupt("campaigns.persons_per_agent"))?,
                    from: Timestamp(r.try_get(5)?),
                    until: Timestamp(r.try_get(6)?),
                })
            })
            .collect()
        })
    }

    fn agent_by_login(&self, login: &Login) -> Result<Option<Agent>, StoreError> {
        self.with_conn(|c| {
            c.query_opt(&format!("SELECT {AGENT_COLUMNS} FROM agents WHERE login = $1"), &[&login.as_str()])?
                .as_ref()
                .map(codec::agent)
                .transpose()
        })
    }

    fn credentials(&self, agent: AgentId) -> Result<Option<Credentials>, StoreError> {
        let row = self.with_conn(|c| {
            c.query_opt(
                "SELECT password_hash, totp_secret, totp_key FROM credentials WHERE agent = $1",
                &[&agent.as_i64()],
            )?
            .map(|r| {
                Ok::<_, DbError>((r.try_get::<_, String>(0)?, r.try_get::<_, Vec<u8>>(1)?, r.try_get::<_, String>(2)?))
            })
            .transpose()
        })?;
        let Some((password, sealed, key)) = row else { return Ok(None) };
        let secret = self.secrets.open(agent, &key, &sealed)?;
        let totp = TotpSecret::from_bytes(&secret)
            .ok_or_else(|| StoreError(format!("inconsistent row: credentials.totp_secret of {agent}")))?;
        Ok(Some(Credentials { password: PasswordHash(password), totp }))
    }

    fn set_credentials(
        &self,
        agent: AgentId,
        credentials: &Credentials,
        changed_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let (key, sealed) = self.secrets.seal(agent, credentials.totp.as_bytes())?;
        self.with_conn(|c| {
            let mut tx = c.transaction()?;
            tx.execute(
                "INSERT INTO credentials (agent, password_hash, totp_secret, totp_key) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (agent) DO UPDATE SET password_hash = excluded.password_hash, \
                 totp_secret = excluded.totp_secret, totp_key = excluded.totp_key",
                &[&agent.as_i64(), &credentials.password.0, &sealed, &key],
            )
            .map_err(|e| no_such_agent(e, agent))?;
            tx.execute(CREDENTIAL_CHANGED_SQL, &[&agent.as_i64(), &changed_at.map(Timestamp::millis)])?;
            tx.commit()?;
            Ok(())
        })
    }

    fn consume_totp_step(&self, agent: AgentId, step: i64) -> Result<bool, StoreError> {
        // A compare-and-set in one statement: two requests racing with the same code (on two
        // nodes) cannot both see the old step.
        Ok(self.exec(
            "UPDATE credentials SET totp_last_step = $2 WHERE agent = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
            &[&agent.as_i64(), &step],
        )? == 1)
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
        self.session_where("s.refresh_hash = $1", &&hash[..])
    }

    fn session_by_id(&self, id: SessionId) -> Result<Option<SessionRecord>, StoreError> {
        self.session_where("s.id = $1", &sid(id))
    }

    fn rotate_access(&self, id: SessionId, hash: &[u8; 32], expires_at: Timestamp) -> Result<bool, StoreError> {
        Ok(self.exec(
            "UPDATE sessions SET access_hash = $2, access_expires_ms = $3 WHERE id = $1",
            &[&sid(id), &&hash[..], &expires_at.millis()],
        )? == 1)
    }

    fn touch_session(&self, id: SessionId, now: Timestamp) -> Result<(), StoreError> {
        self.exec(
            "UPDATE sessions SET last_seen_ms = greatest(last_seen_ms, $2) WHERE id = $1",
            &[&sid(id), &now.millis()],
        )?;
        Ok(())
    }

    fn demand_step_up(&self, id: SessionId, at: Timestamp) -> Result<(), StoreError> {
        self.exec(
            "UPDATE sessions SET step_up_demanded_ms = coalesce(step_up_demanded_ms, $2) WHERE id = $1",
            &[&sid(id), &at.millis()],
        )?;
        Ok(())
    }

    fn elevate(&self, id: SessionId, until: Timestamp) -> Result<(), StoreError> {
        self.exec(
            "UPDATE sessions SET elevated_until_ms = $2, step_up_demanded_ms = NULL WHERE id = $1",
            &[&sid(id), &until.millis()],
        )?;
        Ok(())
    }

    fn bind_device(&self, id: SessionId, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.exec("UPDATE sessions SET device_key = $2 WHERE id = $1 AND device_key IS NULL", &[&sid(id), &key])?
            == 1)
    }

    fn team_org(&self, team: TeamId) -> Result<Option<OrgId>, StoreError> {
        self.with_conn(|c| {
            Ok(c.query_opt("SELECT org FROM teams WHERE id = $1", &[&team.as_i64()])?
                .map(|r| r.try_get::<_, i64>(0))
                .transpose()?
                .and_then(OrgId::from_i64))
        })
    }

    fn end_session(&self, id: SessionId) -> Result<bool, StoreError> {
        Ok(self.exec("DELETE FROM sessions WHERE id = $1", &[&sid(id)])? == 1)
    }

    fn end_sessions_of(&self, agent: AgentId) -> Result<Vec<SessionId>, StoreError> {
        self.delete_sessions_returning("agent = $1", &agent.as_i64())
    }

    fn end_sessions_by_credential(&self, credential_id: &[u8]) -> Result<Vec<SessionId>, StoreError> {
        self.delete_sessions_returning("credential = $1", &credential_id)
    }

    fn sessions_of(&self, agent: AgentId, now: Timestamp) -> Result<Vec<SessionRecord>, StoreError> {
        self.sessions_of_db(agent, now)
    }

    fn passkeys_of(&self, agent: AgentId) -> Result<Vec<StoredPasskey>, StoreError> {
        self.passkeys_where("agent = $1", &agent.as_i64())
    }

    fn passkeys_by_handle(&self, user_handle: &[u8; 16]) -> Result<Vec<StoredPasskey>, StoreError> {
        self.passkeys_where("user_handle = $1", &&user_handle[..])
    }

    fn add_passkey(&self, p: &StoredPasskey) -> Result<(), StoreError> {
        self.with_conn(|c| {
            let mut tx = c.transaction()?;
            tx.execute(
                "INSERT INTO passkeys (credential_id, agent, user_handle, label, passkey, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &p.credential_id,
                    &p.agent.as_i64(),
                    &&p.user_handle[..],
                    &p.label,
                    &p.passkey,
                    &p.created_at.millis(),
                ],
            )
            .map_err(|e| no_such_agent(e, p.agent))?;
            tx.execute(CREDENTIAL_CHANGED_SQL, &[&p.agent.as_i64(), &Some(p.created_at.millis())])?;
            tx.commit()?;
            Ok(())
        })
    }

    fn update_passkey(&self, credential_id: &[u8], passkey: &str, now: Timestamp) -> Result<(), StoreError> {
        self.exec(
            "UPDATE passkeys SET passkey = $2, last_used_ms = $3 WHERE credential_id = $1",
            &[&credential_id, &passkey, &now.millis()],
        )?;
        Ok(())
    }

    fn remove_passkey(&self, agent: AgentId, credential_id: &[u8]) -> Result<bool, StoreError> {
        Ok(self
            .exec("DELETE FROM passkeys WHERE agent = $1 AND credential_id = $2", &[&agent.as_i64(), &credential_id])?
            == 1)
    }

    fn create_request(&self, r: &AccountRequest) -> Result<Option<u64>, StoreError> {
        self.with_conn(|c| {
            let mut tx = c.transaction()?;
            if tx.query_opt("SELECT 1 FROM agents WHERE login = $1", &[&r.login.as_str()])?.is_some() {
                return Ok(None);
            }
            tx.execute(
                "UPDATE account_requests SET state = 'expired' WHERE login = $1 AND state = 'pending' AND expires_at_ms <= $2",
                &[&r.login.as_str(), &r.created_at.millis()],
            )?;
            let inserted = tx.query_opt(
                "INSERT INTO account_requests (org, requested_by, login, display_name, email, role, team, \
                 justification, created_at_ms, expires_at_ms, state) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending') ON CONFLICT DO NOTHING RETURNING id",
                &[
                    &r.org.as_i64(),
                    &r.requested_by.as_i64(),
                    &r.login.as_str(),
                    &r.display_name,
                    &r.email,
                    &r.role.as_str(),
                    &r.team.map(TeamId::as_i64),
                    &r.justification,
                    &r.created_at.millis(),
                    &r.expires_at.millis(),
                ],
            )?;
            let id = inserted.map(|row| row.try_get::<_, i64>(0)).transpose()?;
            tx.commit()?;
            Ok(id.and_then(|id| u64::try_from(id).ok()))
        })
    }

    fn request(&self, id: u64) -> Result<Option<AccountRequest>, StoreError> {
        self.with_conn(|c| {
            c.query_opt(&format!("SELECT {REQUEST_COLUMNS} FROM account_requests WHERE id = $1"), &[&request_key(id)])?
                .as_ref()
                .map(request_row)
                .transpose()
        })
    }

    fn requests(&self, org: Option<OrgId>, limit: usize) -> Result<Vec<AccountRequest>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_conn(|c| {
            let rows = match org {
                Some(org) => c.query(
                    &format!("SELECT {REQUEST_COLUMNS} FROM account_requests WHERE org = $1 ORDER BY id DESC LIMIT $2"),
                    &[&org.as_i64(), &limit],
                )?,
                None => c.query(
                    &format!("SELECT {REQUEST_COLUMNS} FROM account_requests ORDER BY id DESC LIMIT $1"),
                    &[&limit],
                )?,
            };
            rows.iter().map(request_row).collect()
        })
    }

    fn requests_made_since(&self, agent: AgentId, since: Timestamp) -> Result<usize, StoreError> {
        self.with_conn(|c| {
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM account_requests WHERE requested_by = $1 AND created_at_ms >= $2",
                    &[&agent.as_i64(), &since.millis()],
                )?
                .try_get(0)?;
            Ok(usize::try_from(n).unwrap_or(0))
        })
    }

    fn approve_request(&self, a: &Approval) -> Result<Option<AgentId>, StoreError> {
        self.with_conn(|c| {
            let mut tx = c.transaction()?;
            // New agent ids are max + 1: two nodes approving at once must not both take it.
            tx.batch_execute("LOCK TABLE agents IN SHARE ROW EXCLUSIVE MODE")?;
            let Some(row) = tx.query_opt(
                &format!(
                    "SELECT {REQUEST_COLUMNS} FROM account_requests WHERE id = $1 AND state = 'pending' AND expires_at_ms > $2 \
                     AND (team IS NULL OR team IN (SELECT id FROM teams WHERE org = account_requests.org)) FOR UPDATE"
                ),
                &[&request_key(a.request), &a.at.millis()],
            )?
            else {
                return Ok(None);
            };
            let request = request_row(&row)?;
            if tx.query_opt("SELECT 1 FROM agents WHERE login = $1", &[&request.login.as_str()])?.is_some() {
                return Ok(None);
            }
            let agent: i64 = tx
                .query_one(
                    "INSERT INTO agents (id, login, display_name, email, org, role, team, active, created_at_ms, created_by, \
                     approved_by, probation_until_ms) \
                     VALUES ((SELECT coalesce(max(id), 0) + 1 FROM agents), $1, $2, $3, $4, $5, $6, true, $7, $8, $9, $10) \
                     RETURNING id",
                    &[
                        &request.login.as_str(),
                        &request.display_name,
                        &request.email,
                        &request.org.as_i64(),
                        &request.role.as_str(),
                        &request.team.map(TeamId::as_i64),
                        &a.at.millis(),
                        &request.requested_by.as_i64(),
                        &a.approver.as_i64(),
                        &a.probation_until.millis(),
                    ],
                )?
                .try_get(0)?;
            tx.execute(
                "UPDATE account_requests SET state = 'approved', decided_by = $2, decided_at_ms = $3, agent = $4 WHERE id = $1",
                &[&request_key(a.request), &a.approver.as_i64(), &a.at.millis(), &agent],
            )?;
            tx.execute(
                "INSERT INTO enrolments (token_hash, agent, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4)",
                &[&&a.enrolment_hash[..], &agent, &a.at.millis(), &a.enrolment_expires_at.millis()],
            )?;
            tx.commit()?;
            Ok(AgentId::from_i64(agent))
        })
    }

    fn reject_request(&self, request: u64, by: AgentId, at: Timestamp) -> Result<bool, StoreError> {
        Ok(self.exec(
            "UPDATE account_requests SET state = 'rejected', decided_by = $2, decided_at_ms = $3 \
             WHERE id = $1 AND state = 'pending' AND expires_at_ms > $3",
            &[&request_key(request), &by.as_i64(), &at.millis()],
        )? == 1)
    }

    fn account_origin(&self, agent: AgentId) -> Result<AccountOrigin, StoreError> {
        self.with_conn(|c| {
            let Some(r) = c.query_opt(
                "SELECT created_at_ms, created_by, approved_by, probation_until_ms FROM agents WHERE id = $1",
                &[&agent.as_i64()],
            )?
            else {
                return Ok(AccountOrigin::default());
            };
            Ok(AccountOrigin {
                created_at: r.try_get::<_, Option<i64>>(0)?.map(Timestamp),
                created_by: r.try_get::<_, Option<i64>>(1)?.and_then(AgentId::from_i64),
                approved_by: r.try_get::<_, Option<i64>>(2)?.and_then(AgentId::from_i64),
                probation_until: r.try_get::<_, Option<i64>>(3)?.map(Timestamp),
            })
        })
    }

    fn enrolment(&self, hash: &[u8; 32], now: Timestamp) -> Result<Option<AgentId>, StoreError> {
        self.agent_ids(
            "SELECT agent FROM enrolments WHERE token_hash = $1 AND used_at_ms IS NULL AND expires_at_ms > $2",
            &[&&hash[..], &now.millis()],
        )
    }

    fn consume_enrolment(&self, hash: &[u8; 32], now: Timestamp) -> Result<bool, StoreError> {
        Ok(self.exec(
            "UPDATE enrolments SET used_at_ms = $2 WHERE token_hash = $1 AND used_at_ms IS NULL AND expires_at_ms > $2",
            &[&&hash[..], &now.millis()],
        )? == 1)
    }

    fn set_agent_active(&self, agent: AgentId, active: bool) -> Result<(), StoreError> {
        self.exec("UPDATE agents SET active = $2 WHERE id = $1", &[&agent.as_i64(), &active])?;
        Ok(())
    }

    fn freeze_org_creation(&self, f: &OrgFreeze) -> Result<bool, StoreError> {
        Ok(self.exec(
            "INSERT INTO org_freezes (org, frozen_at_ms, reason, agent) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[&f.org.as_i64(), &f.frozen_at.millis(), &f.reason, &f.agent.map(AgentId::as_i64)],
        )? == 1)
    }

    fn unfreeze_org_creation(&self, org: OrgId) -> Result<Option<OrgFreeze>, StoreError> {
        self.with_conn(|c| {
            c.query_opt(
                &format!("DELETE FROM org_freezes WHERE org = $1 RETURNING {FREEZE_COLUMNS}"),
                &[&org.as_i64()],
            )?
            .as_ref()
            .map(freeze_row)
            .transpose()
        })
    }

    fn org_creation_frozen(&self, org: OrgId) -> Result<Option<OrgFreeze>, StoreError> {
        self.with_conn(|c| {
            c.query_opt(&format!("SELECT {FREEZE_COLUMNS} FROM org_freezes WHERE org = $1"), &[&org.as_i64()])?
                .as_ref()
                .map(freeze_row)
                .transpose()
        })
    }

    fn federated_agent(&self, issuer: &str, subject: &str) -> Result<Option<AgentId>, StoreError> {
        self.agent_ids(
            "SELECT agent FROM federated_identities WHERE issuer = $1 AND subject = $2",
            &[&issuer, &subject],
        )
    }

    fn link_identity(&self, issuer: &str, subject: &str, agent: AgentId, at: Timestamp) -> Result<bool, StoreError> {
        Ok(self.exec(
            "INSERT INTO federated_identities (issuer, subject, agent, linked_at_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
            &[&issuer, &subject, &agent.as_i64(), &at.millis()],
        )? == 1)
    }

    fn agents_by_email(&self, email: &str) -> Result<Vec<Agent>, StoreError> {
        self.with_conn(|c| {
            c.query(&format!("SELECT {AGENT_COLUMNS} FROM agents WHERE email = $1 LIMIT 10"), &[&email])?
                .iter()
                .map(codec::agent)
                .collect()
        })
    }
}
