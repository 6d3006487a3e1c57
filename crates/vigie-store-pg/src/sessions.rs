//! Server-side sessions over PostgreSQL: the same rows and semantics as the SQLite store's
//! (`vigie-store/src/sessions.rs`): created with the sign-in context in one transaction that
//! also ends the oldest sessions beyond the cap; found by access token together with the
//! account and its organization in one statement (the guarded read's only session query).

use vigie_core::ids::{AgentId, SessionId};
use vigie_core::ports::{AccessSession, NewSession, SessionRecord, SignInContext, StoreError};
use vigie_core::signin::{ClientContext, UaFamily};
use vigie_core::time::Timestamp;

use crate::PgStore;
use crate::codec::{self, AGENT_COLUMNS_A, ORG_COLUMNS_O};
use crate::error::{DbError, corrupt};

pub(crate) const SESSION_COLUMNS: &str = "s.id, s.agent, s.created_at_ms, s.expires_at_ms, s.last_seen_ms, \
     s.access_expires_ms, s.method, s.mfa, s.credential, s.source, s.network, s.ua_family, s.user_agent, \
     s.elevated_until_ms, s.step_up_demanded_ms, s.device_key, s.probation_until_ms, s.network_key, \
     s.sign_in_ua_family, s.account_created_at_ms, s.created_by, s.approved_by, s.previous_sign_in_ms, \
     s.concurrent_sessions, s.credential_changed_at_ms, s.sign_in_provider, s.sign_in_build, \
     s.sign_in_device_bound, s.service_persons_hour, s.service_persons_day";
const SESSION_COLUMN_COUNT: usize = 30;
const AGENT_COLUMN_COUNT: usize = 8;

const INSERT_SESSION_SQL: &str = "INSERT INTO sessions (agent, refresh_hash, access_hash, access_expires_ms, \
     created_at_ms, expires_at_ms, last_seen_ms, method, mfa, credential, source, network, ua_family, user_agent, \
     probation_until_ms, network_key, sign_in_ua_family, account_created_at_ms, created_by, approved_by, \
     previous_sign_in_ms, concurrent_sessions, credential_changed_at_ms, sign_in_provider, sign_in_build, \
     sign_in_device_bound, service_persons_hour, service_persons_day) \
     VALUES ($1, $2, $3, $4, $5, $6, $5, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, \
     (SELECT last_sign_in_ms FROM agents WHERE id = $1), \
     (SELECT least(count(*), 255) FROM sessions WHERE agent = $1 AND expires_at_ms > $5), \
     (SELECT credential_changed_ms FROM agents WHERE id = $1), $20, $21, $22, $23, $24) RETURNING id";

fn session_row(row: &postgres::Row) -> Result<SessionRecord, DbError> {
    let ua: String = row.try_get(11)?;
    Ok(SessionRecord {
        id: session_id(row.try_get(0)?)?,
        agent: codec::parse(row.try_get(1)?, AgentId::from_i64, "sessions.agent")?,
        created_at: Timestamp(row.try_get(2)?),
        expires_at: Timestamp(row.try_get(3)?),
        last_seen: Timestamp(row.try_get(4)?),
        access_expires_at: Timestamp(row.try_get(5)?),
        method: row.try_get(6)?,
        mfa: row.try_get(7)?,
        credential: row.try_get(8)?,
        source: row.try_get(9)?,
        context: ClientContext {
            network: row.try_get(10)?,
            ua_family: UaFamily::parse(&ua).ok_or_else(|| corrupt(format!("sessions.ua_family {ua:?}")))?,
        },
        user_agent: row.try_get(12)?,
        elevated_until: row.try_get::<_, Option<i64>>(13)?.map(Timestamp),
        step_up_demanded_at: row.try_get::<_, Option<i64>>(14)?.map(Timestamp),
        device_key: row.try_get(15)?,
        probation_until: row.try_get::<_, Option<i64>>(16)?.map(Timestamp),
        sign_in: sign_in_context(row, 17)?,
    })
}

fn sign_in_context(row: &postgres::Row, at: usize) -> Result<SignInContext, DbError> {
    let ua_family = match row.try_get::<_, Option<String>>(at + 1)? {
        Some(ua) => Some(UaFamily::parse(&ua).ok_or_else(|| corrupt(format!("sessions.sign_in_ua_family {ua:?}")))?),
        None => None,
    };
    let concurrent: i64 = row.try_get(at + 6)?;
    let build: i64 = row.try_get(at + 9)?;
    Ok(SignInContext {
        network: network_from_column(row.try_get(at)?),
        ua_family,
        account_created_at: row.try_get::<_, Option<i64>>(at + 2)?.map(Timestamp),
        created_by: row.try_get::<_, Option<i64>>(at + 3)?.and_then(AgentId::from_i64),
        approved_by: row.try_get::<_, Option<i64>>(at + 4)?.and_then(AgentId::from_i64),
        previous_sign_in: row.try_get::<_, Option<i64>>(at + 5)?.map(Timestamp),
        concurrent_sessions: u8::try_from(concurrent)
            .map_err(|_| corrupt(format!("sessions.concurrent_sessions {concurrent}")))?,
        credential_changed_at: row.try_get::<_, Option<i64>>(at + 7)?.map(Timestamp),
        provider: network_from_column(row.try_get(at + 8)?),
        build: u32::try_from(build).map_err(|_| corrupt("sessions.sign_in_build"))?,
        device_bound: row.try_get(at + 10)?,
        service: match (row.try_get::<_, Option<i64>>(at + 11)?, row.try_get::<_, Option<i64>>(at + 12)?) {
            (Some(h), Some(d)) => Some(vigie_core::service::Envelope {
                persons_hour: u32::try_from(h).map_err(|_| corrupt("sessions.service_persons_hour"))?,
                persons_day: u32::try_from(d).map_err(|_| corrupt("sessions.service_persons_day"))?,
            }),
            (None, None) => None,
            _ => return Err(corrupt("sessions.service_persons_hour and _day: one without the other")),
        },
    })
}

/// A network key (any 64 bits) as a signed column, and back.
fn network_to_column(key: u64) -> i64 {
    i64::from_be_bytes(key.to_be_bytes())
}

fn network_from_column(v: i64) -> u64 {
    u64::from_be_bytes(v.to_be_bytes())
}

pub(crate) fn session_id(id: i64) -> Result<SessionId, DbError> {
    u64::try_from(id).map(SessionId).map_err(|_| corrupt("sessions.id is negative"))
}

pub(crate) fn sid(id: SessionId) -> i64 {
    i64::try_from(id.0).unwrap_or(-1)
}

impl PgStore {
    pub(crate) fn create_session_db(
        &self,
        s: &NewSession,
        max_concurrent: usize,
    ) -> Result<(SessionId, Vec<SessionId>), StoreError> {
        self.with_conn(|c| {
            let mut tx = c.transaction()?;
            let agent = s.agent.as_i64();
            let id: i64 = tx
                .query_one(
                    INSERT_SESSION_SQL,
                    &[
                        &agent,
                        &&s.refresh_hash[..],
                        &&s.access_hash[..],
                        &s.access_expires_at.millis(),
                        &s.created_at.millis(),
                        &s.expires_at.millis(),
                        &s.method,
                        &s.mfa,
                        &s.credential,
                        &s.source,
                        &s.context.network,
                        &s.context.ua_family.as_str(),
                        &s.user_agent,
                        &s.probation_until.map(Timestamp::millis),
                        &network_to_column(s.sign_in.network),
                        &s.sign_in.ua_family.map(UaFamily::as_str),
                        &s.sign_in.account_created_at.map(Timestamp::millis),
                        &s.sign_in.created_by.map(AgentId::as_i64),
                        &s.sign_in.approved_by.map(AgentId::as_i64),
                        &network_to_column(s.sign_in.provider),
                        &i64::from(s.sign_in.build),
                        &s.sign_in.device_bound,
                        &s.sign_in.service.map(|e| i64::from(e.persons_hour)),
                        &s.sign_in.service.map(|e| i64::from(e.persons_day)),
                    ],
                )
                .map_err(|e| crate::accounts::no_such_agent(e, s.agent))?
                .try_get(0)?;
            tx.execute("UPDATE agents SET last_sign_in_ms = $2 WHERE id = $1", &[&agent, &s.created_at.millis()])?;
            let others: Vec<i64> = tx
                .query(
                    "SELECT id FROM sessions WHERE agent = $1 AND id <> $2 AND expires_at_ms > $3 \
                     ORDER BY last_seen_ms DESC, id DESC",
                    &[&agent, &id, &s.created_at.millis()],
                )?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            let mut ended = Vec::new();
            for old in others.into_iter().skip(max_concurrent.saturating_sub(1)) {
                tx.execute("DELETE FROM sessions WHERE id = $1", &[&old])?;
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
        self.with_conn(|c| {
            let Some(row) = c.query_opt_prepared(
                &format!(
                    "SELECT {SESSION_COLUMNS}, {AGENT_COLUMNS_A}, {ORG_COLUMNS_O} FROM sessions s \
                     LEFT JOIN agents a ON a.id = s.agent LEFT JOIN organizations o ON o.id = a.org \
                     WHERE s.access_hash = $1 AND s.access_expires_ms > $2"
                ),
                &[&&hash[..], &now.millis()],
            )?
            else {
                return Ok(None);
            };
            let session = session_row(&row)?;
            let agent_at = SESSION_COLUMN_COUNT;
            let org_at = agent_at + AGENT_COLUMN_COUNT;
            let agent = match row.try_get::<_, Option<i64>>(agent_at)? {
                Some(_) => Some(codec::agent_at(&row, agent_at)?),
                None => None,
            };
            let org = match row.try_get::<_, Option<i64>>(org_at)? {
                Some(_) => Some(codec::organization_at(&row, org_at)?),
                None => None,
            };
            Ok(Some(AccessSession { session, agent, org }))
        })
    }

    pub(crate) fn access_expired_db(&self, hash: &[u8; 32], now: Timestamp) -> Result<bool, StoreError> {
        self.with_conn(|c| {
            Ok(c.query_opt(
                "SELECT 1 FROM sessions WHERE access_hash = $1 AND access_expires_ms <= $2 AND expires_at_ms > $2",
                &[&&hash[..], &now.millis()],
            )?
            .is_some())
        })
    }

    pub(crate) fn session_where(
        &self,
        clause: &str,
        key: &(dyn postgres::types::ToSql + Sync),
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.with_conn(|c| {
            c.query_opt(&format!("SELECT {SESSION_COLUMNS} FROM sessions s WHERE {clause}"), &[key])?
                .as_ref()
                .map(session_row)
                .transpose()
        })
    }

    pub(crate) fn delete_sessions_returning(
        &self,
        clause: &str,
        key: &(dyn postgres::types::ToSql + Sync),
    ) -> Result<Vec<SessionId>, StoreError> {
        self.with_conn(|c| {
            c.query(&format!("DELETE FROM sessions WHERE {clause} RETURNING id"), &[key])?
                .iter()
                .map(|r| session_id(r.try_get(0)?))
                .collect()
        })
    }

    pub(crate) fn sessions_of_db(&self, agent: AgentId, now: Timestamp) -> Result<Vec<SessionRecord>, StoreError> {
        self.with_conn(|c| {
            c.query(
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.agent = $1 AND s.expires_at_ms > $2 \
                     ORDER BY s.last_seen_ms DESC, s.id DESC"
                ),
                &[&agent.as_i64(), &now.millis()],
            )?
            .iter()
            .map(session_row)
            .collect()
        })
    }

    /// Deletes the sessions expired at `now`; returns how many.
    pub fn purge_expired_sessions(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.exec("DELETE FROM sessions WHERE expires_at_ms <= $1", &[&now.millis()])
    }

    /// Runs one statement; the rows it changed.
    pub(crate) fn exec(&self, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> Result<usize, StoreError> {
        self.with_conn(|c| Ok(usize::try_from(c.execute(sql, params)?).unwrap_or(usize::MAX)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_column_counts_match_the_lists() {
        assert_eq!(SESSION_COLUMNS.split(',').count(), SESSION_COLUMN_COUNT);
        assert_eq!(AGENT_COLUMNS_A.split(',').count(), AGENT_COLUMN_COUNT);
    }

    #[test]
    fn network_keys_round_trip_through_the_signed_column() {
        for k in [0u64, 1, u64::MAX, 1 << 63] {
            assert_eq!(network_from_column(network_to_column(k)), k);
        }
    }
}
