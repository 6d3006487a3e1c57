//! Four-eyes account requests, enrolment links, passkeys, federated identities and freezes of
//! an organization's account creation.
//!
//! Every multi-row step is one transaction: an approval decides the request, creates the
//! account and stores its enrolment link together, or does nothing.

use rusqlite::{OptionalExtension, Row};
use vigie_core::ids::{AgentId, Login, OrgId, TeamId};
use vigie_core::lifecycle::{AccountRequest, OrgFreeze, RequestState};
use vigie_core::org::{Agent, Role};
use vigie_core::ports::{AccountOrigin, Approval, StoreError, StoredPasskey};
use vigie_core::time::Timestamp;

use crate::Store;
use crate::codec::{self, AGENT_COLUMNS};
use crate::error::{DbError, corrupt};

const REQUEST_COLUMNS: &str = "id, org, requested_by, login, display_name, email, role, team, justification, \
     created_at_ms, expires_at_ms, state, decided_by, decided_at_ms, agent";

fn request_row(row: &Row<'_>) -> Result<AccountRequest, DbError> {
    let id: i64 = row.get(0)?;
    let login: String = row.get(3)?;
    let role: String = row.get(6)?;
    let state: String = row.get(11)?;
    Ok(AccountRequest {
        id: u64::try_from(id).map_err(|_| corrupt("account_requests.id is negative"))?,
        org: codec::parse(row.get(1)?, OrgId::from_i64, "account_requests.org")?,
        requested_by: codec::parse(row.get(2)?, AgentId::from_i64, "account_requests.requested_by")?,
        login: login.parse::<Login>().map_err(|_| corrupt(format!("account_requests.login {login:?}")))?,
        display_name: row.get(4)?,
        email: row.get(5)?,
        role: Role::parse(&role).ok_or_else(|| corrupt(format!("account_requests.role {role:?}")))?,
        team: row.get::<_, Option<i64>>(7)?.and_then(TeamId::from_i64),
        justification: row.get(8)?,
        created_at: Timestamp(row.get(9)?),
        expires_at: Timestamp(row.get(10)?),
        state: RequestState::parse(&state).ok_or_else(|| corrupt(format!("account_requests.state {state:?}")))?,
        decided_by: row.get::<_, Option<i64>>(12)?.and_then(AgentId::from_i64),
        decided_at: row.get::<_, Option<i64>>(13)?.map(Timestamp),
        agent: row.get::<_, Option<i64>>(14)?.and_then(AgentId::from_i64),
    })
}

const PASSKEY_COLUMNS: &str = "credential_id, agent, user_handle, label, passkey, created_at_ms, last_used_ms";

fn passkey_row(row: &Row<'_>) -> Result<StoredPasskey, DbError> {
    let handle: Vec<u8> = row.get(2)?;
    Ok(StoredPasskey {
        credential_id: row.get(0)?,
        agent: codec::parse(row.get(1)?, AgentId::from_i64, "passkeys.agent")?,
        user_handle: handle.try_into().map_err(|_| corrupt("passkeys.user_handle is not 16 bytes"))?,
        label: row.get(3)?,
        passkey: row.get(4)?,
        created_at: Timestamp(row.get(5)?),
        last_used: row.get::<_, Option<i64>>(6)?.map(Timestamp),
    })
}

const FREEZE_COLUMNS: &str = "org, frozen_at_ms, reason, agent";

fn freeze_row(row: &Row<'_>) -> Result<OrgFreeze, DbError> {
    Ok(OrgFreeze {
        org: codec::parse(row.get(0)?, OrgId::from_i64, "org_freezes.org")?,
        frozen_at: Timestamp(row.get(1)?),
        reason: row.get(2)?,
        agent: row.get::<_, Option<i64>>(3)?.and_then(AgentId::from_i64),
    })
}

fn collect<T>(mut rows: rusqlite::Rows<'_>, f: fn(&Row<'_>) -> Result<T, DbError>) -> Result<Vec<T>, DbError> {
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(f(row)?);
    }
    Ok(out)
}

impl Store {
    pub(crate) fn create_request_db(&self, r: &AccountRequest) -> Result<Option<u64>, StoreError> {
        self.with_conn(|conn| {
            let tx = conn.unchecked_transaction()?;
            let taken = tx
                .prepare_cached("SELECT 1 FROM agents WHERE login = ?1")?
                .query_row([r.login.as_str()], |_| Ok(()))
                .optional()?
                .is_some();
            if taken {
                return Ok(None);
            }
            // A pending request left past its expiry no longer holds its login.
            tx.prepare_cached(
                "UPDATE account_requests SET state = 'expired' WHERE login = ?1 AND state = 'pending' AND expires_at_ms <= ?2",
            )?
            .execute((r.login.as_str(), r.created_at.millis()))?;
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO account_requests (org, requested_by, login, display_name, email, role, team, \
                     justification, created_at_ms, expires_at_ms, state) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'pending') \
                     ON CONFLICT DO NOTHING RETURNING id",
                )?
                .query_row(
                    rusqlite::params![
                        r.org.as_i64(),
                        r.requested_by.as_i64(),
                        r.login.as_str(),
                        &r.display_name,
                        &r.email,
                        r.role.as_str(),
                        r.team.map(TeamId::as_i64),
                        &r.justification,
                        r.created_at.millis(),
                        r.expires_at.millis(),
                    ],
                    |row| row.get::<_, i64>(0),
                )
                .optional()?;
            tx.commit()?;
            Ok(inserted.and_then(|id| u64::try_from(id).ok()))
        })
    }

    pub(crate) fn request_db(&self, id: u64) -> Result<Option<AccountRequest>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt =
                conn.prepare_cached(&format!("SELECT {REQUEST_COLUMNS} FROM account_requests WHERE id = ?1"))?;
            let mut rows = stmt.query([i64::try_from(id).unwrap_or(-1)])?;
            rows.next()?.map(request_row).transpose()
        })
    }

    pub(crate) fn requests_db(&self, org: Option<OrgId>, limit: usize) -> Result<Vec<AccountRequest>, StoreError> {
        self.with_conn(|conn| {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            match org {
                Some(org) => {
                    let mut stmt = conn.prepare_cached(&format!(
                        "SELECT {REQUEST_COLUMNS} FROM account_requests WHERE org = ?1 ORDER BY id DESC LIMIT ?2"
                    ))?;
                    collect(stmt.query((org.as_i64(), limit))?, request_row)
                }
                None => {
                    let mut stmt = conn.prepare_cached(&format!(
                        "SELECT {REQUEST_COLUMNS} FROM account_requests ORDER BY id DESC LIMIT ?1"
                    ))?;
                    collect(stmt.query([limit])?, request_row)
                }
            }
        })
    }

    pub(crate) fn requests_made_since_db(&self, agent: AgentId, since: Timestamp) -> Result<usize, StoreError> {
        self.with_conn(|conn| {
            let n: i64 = conn
                .prepare_cached(
                    "SELECT count(*) FROM account_requests WHERE requested_by = ?1 AND created_at_ms >= ?2",
                )?
                .query_row((agent.as_i64(), since.millis()), |r| r.get(0))?;
            Ok(usize::try_from(n).unwrap_or(0))
        })
    }

    pub(crate) fn approve_request_db(&self, a: &Approval) -> Result<Option<AgentId>, StoreError> {
        self.with_conn(|conn| {
            let tx = conn.unchecked_transaction()?;
            let request = {
                let mut stmt = tx.prepare_cached(&format!(
                    "SELECT {REQUEST_COLUMNS} FROM account_requests WHERE id = ?1 AND state = 'pending' AND expires_at_ms > ?2 \
                     AND (team IS NULL OR team IN (SELECT id FROM teams WHERE org = account_requests.org))"
                ))?;
                let mut rows = stmt.query((i64::try_from(a.request).unwrap_or(-1), a.at.millis()))?;
                match rows.next()? {
                    Some(row) => request_row(row)?,
                    None => return Ok(None),
                }
            };
            let taken = tx
                .prepare_cached("SELECT 1 FROM agents WHERE login = ?1")?
                .query_row([request.login.as_str()], |_| Ok(()))
                .optional()?
                .is_some();
            if taken {
                return Ok(None);
            }
            let agent: i64 = tx
                .prepare_cached(
                    "INSERT INTO agents (id, login, display_name, email, org, role, team, active, created_at_ms, created_by, \
                     approved_by, probation_until_ms) \
                     VALUES ((SELECT coalesce(max(id), 0) + 1 FROM agents), ?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8, ?9, ?10) RETURNING id",
                )?
                .query_row(
                    rusqlite::params![
                        request.login.as_str(),
                        &request.display_name,
                        &request.email,
                        request.org.as_i64(),
                        request.role.as_str(),
                        request.team.map(TeamId::as_i64),
                        a.at.millis(),
                        request.requested_by.as_i64(),
                        a.approver.as_i64(),
                        a.probation_until.millis(),
                    ],
                    |r| r.get(0),
                )?;
            tx.prepare_cached(
                "UPDATE account_requests SET state = 'approved', decided_by = ?2, decided_at_ms = ?3, agent = ?4 WHERE id = ?1",
            )?
            .execute((i64::try_from(a.request).unwrap_or(-1), a.approver.as_i64(), a.at.millis(), agent))?;
            tx.prepare_cached(
                "INSERT INTO enrolments (token_hash, agent, created_at_ms, expires_at_ms) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute((&a.enrolment_hash[..], agent, a.at.millis(), a.enrolment_expires_at.millis()))?;
            tx.commit()?;
            Ok(AgentId::from_i64(agent))
        })
    }

    pub(crate) fn reject_request_db(&self, request: u64, by: AgentId, at: Timestamp) -> Result<bool, StoreError> {
        Ok(self.exec(
            "UPDATE account_requests SET state = 'rejected', decided_by = ?2, decided_at_ms = ?3 \
             WHERE id = ?1 AND state = 'pending' AND expires_at_ms > ?3",
            (i64::try_from(request).unwrap_or(-1), by.as_i64(), at.millis()),
        )? == 1)
    }

    pub(crate) fn account_origin_db(&self, agent: AgentId) -> Result<AccountOrigin, StoreError> {
        self.with_conn(|conn| {
            let row = conn
                .prepare_cached(
                    "SELECT created_at_ms, created_by, approved_by, probation_until_ms FROM agents WHERE id = ?1",
                )?
                .query_row([agent.as_i64()], |r| {
                    Ok((
                        r.get::<_, Option<i64>>(0)?,
                        r.get::<_, Option<i64>>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                    ))
                })
                .optional()?;
            Ok(row.map_or_else(AccountOrigin::default, |(c, by, ap, p)| AccountOrigin {
                created_at: c.map(Timestamp),
                created_by: by.and_then(AgentId::from_i64),
                approved_by: ap.and_then(AgentId::from_i64),
                probation_until: p.map(Timestamp),
            }))
        })
    }

    pub(crate) fn enrolment_db(&self, hash: &[u8; 32], now: Timestamp) -> Result<Option<AgentId>, StoreError> {
        self.with_conn(|conn| {
            let agent: Option<i64> = conn
                .prepare_cached(
                    "SELECT agent FROM enrolments WHERE token_hash = ?1 AND used_at_ms IS NULL AND expires_at_ms > ?2",
                )?
                .query_row((&hash[..], now.millis()), |r| r.get(0))
                .optional()?;
            Ok(agent.and_then(AgentId::from_i64))
        })
    }

    pub(crate) fn consume_enrolment_db(&self, hash: &[u8; 32], now: Timestamp) -> Result<bool, StoreError> {
        Ok(self.exec(
            "UPDATE enrolments SET used_at_ms = ?2 WHERE token_hash = ?1 AND used_at_ms IS NULL AND expires_at_ms > ?2",
            (&hash[..], now.millis()),
        )? == 1)
    }

    /// An operator's enrolment link for an existing account (bootstrapping the first
    /// administrators, or a lost passkey): earlier unused links of the agent stop working.
    pub fn issue_enrolment(
        &self,
        agent: AgentId,
        hash: &[u8; 32],
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            let tx = conn.unchecked_transaction()?;
            tx.prepare_cached("DELETE FROM enrolments WHERE agent = ?1 AND used_at_ms IS NULL")?
                .execute([agent.as_i64()])?;
            tx.prepare_cached(
                "INSERT INTO enrolments (token_hash, agent, created_at_ms, expires_at_ms) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute((&hash[..], agent.as_i64(), now.millis(), expires_at.millis()))
            .map_err(|e| crate::accounts::no_such_agent(e, agent))?;
            tx.commit()?;
            Ok(())
        })
    }

    pub(crate) fn passkeys_where(
        &self,
        clause: &str,
        key: impl rusqlite::ToSql,
    ) -> Result<Vec<StoredPasskey>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE {clause} ORDER BY created_at_ms, credential_id"
            ))?;
            collect(stmt.query([key])?, passkey_row)
        })
    }

    pub(crate) fn add_passkey_db(&self, p: &StoredPasskey) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            let tx = conn.unchecked_transaction()?;
            tx.prepare_cached(
                "INSERT INTO passkeys (credential_id, agent, user_handle, label, passkey, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(rusqlite::params![
                &p.credential_id,
                p.agent.as_i64(),
                &p.user_handle[..],
                &p.label,
                &p.passkey,
                p.created_at.millis()
            ])?;
            tx.prepare_cached(crate::accounts::CREDENTIAL_CHANGED_SQL)?
                .execute((p.agent.as_i64(), p.created_at.millis()))?;
            tx.commit()?;
            Ok(())
        })
    }

    pub(crate) fn freeze_org_creation_db(&self, f: &OrgFreeze) -> Result<bool, StoreError> {
        Ok(self.exec(
            "INSERT INTO org_freezes (org, frozen_at_ms, reason, agent) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            (f.org.as_i64(), f.frozen_at.millis(), &f.reason, f.agent.map(AgentId::as_i64)),
        )? == 1)
    }

    pub(crate) fn unfreeze_org_creation_db(&self, org: OrgId) -> Result<Option<OrgFreeze>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt =
                conn.prepare_cached(&format!("DELETE FROM org_freezes WHERE org = ?1 RETURNING {FREEZE_COLUMNS}"))?;
            let mut rows = stmt.query([org.as_i64()])?;
            rows.next()?.map(freeze_row).transpose()
        })
    }

    pub(crate) fn org_creation_frozen_db(&self, org: OrgId) -> Result<Option<OrgFreeze>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&format!("SELECT {FREEZE_COLUMNS} FROM org_freezes WHERE org = ?1"))?;
            let mut rows = stmt.query([org.as_i64()])?;
            rows.next()?.map(freeze_row).transpose()
        })
    }

    pub(crate) fn team_org_db(&self, team: TeamId) -> Result<Option<OrgId>, StoreError> {
        self.with_conn(|conn| {
            let org: Option<i64> = conn
                .prepare_cached("SELECT org FROM teams WHERE id = ?1")?
                .query_row([team.as_i64()], |r| r.get(0))
                .optional()?;
            Ok(org.and_then(OrgId::from_i64))
        })
    }

    pub(crate) fn federated_agent_db(&self, issuer: &str, subject: &str) -> Result<Option<AgentId>, StoreError> {
        self.with_conn(|conn| {
            let agent: Option<i64> = conn
                .prepare_cached("SELECT agent FROM federated_identities WHERE issuer = ?1 AND subject = ?2")?
                .query_row((issuer, subject), |r| r.get(0))
                .optional()?;
            Ok(agent.and_then(AgentId::from_i64))
        })
    }

    pub(crate) fn link_identity_db(
        &self,
        issuer: &str,
        subject: &str,
        agent: AgentId,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        Ok(self.exec(
            "INSERT INTO federated_identities (issuer, subject, agent, linked_at_ms) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            (issuer, subject, agent.as_i64(), at.millis()),
        )? == 1)
    }

    pub(crate) fn agents_by_email_db(&self, email: &str) -> Result<Vec<Agent>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt =
                conn.prepare_cached(&format!("SELECT {AGENT_COLUMNS} FROM agents WHERE email = ?1 LIMIT 10"))?;
            collect(stmt.query([email])?, codec::agent)
        })
    }
}
