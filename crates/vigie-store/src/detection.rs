//! What the detector needs from the store beyond persons and sessions: service accounts and the
//! key they are bound to, campaigns declared by managers, and the canaries placed inside
//! organizations' scope lists. Each write here is ledgered by its caller before it is made
//! (a grant is recorded before it takes effect).

use rusqlite::OptionalExtension;
use vigie_core::campaign::CampaignDeclaration;
use vigie_core::ids::{AgentId, OrgId, PersonId, TeamId};
use vigie_core::ports::{AccessReason, StoreError};
use vigie_core::service::{BoundKey, Envelope, ServiceAccount};
use vigie_core::time::Timestamp;

use crate::Store;
use crate::codec;
use crate::error::corrupt;

impl Store {
    /// Registers (or replaces) a service account's key and envelope. The account must exist.
    pub fn register_service_account(
        &self,
        s: &ServiceAccount,
        at: Timestamp,
        by: Option<AgentId>,
    ) -> Result<(), StoreError> {
        let (kind, key): (&str, &[u8]) = match &s.key {
            BoundKey::ClientAssertionEs256 { public_key } => ("client_assertion_es256", public_key),
            BoundKey::TlsCertificate { sha256 } => ("tls_certificate", sha256),
        };
        self.with_conn(|conn| {
            conn.prepare_cached(
                "INSERT INTO service_accounts (agent, key_kind, key, persons_hour, persons_day, registered_at_ms, registered_by) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (agent) DO UPDATE SET key_kind = ?2, key = ?3, persons_hour = ?4, persons_day = ?5, \
                 registered_at_ms = ?6, registered_by = ?7",
            )?
            .execute(rusqlite::params![
                s.agent.as_i64(),
                kind,
                key,
                i64::from(s.envelope.persons_hour),
                i64::from(s.envelope.persons_day),
                at.millis(),
                by.map(AgentId::as_i64),
            ])?;
            Ok(())
        })
    }

    /// A service account's key and envelope, if the agent is one. A row that does not make a
    /// valid service account (no key, a bad envelope) is an error, never an account without one.
    pub fn service_account(&self, agent: AgentId) -> Result<Option<ServiceAccount>, StoreError> {
        self.with_conn(|conn| {
            let row = conn
                .prepare_cached(
                    "SELECT key_kind, key, persons_hour, persons_day FROM service_accounts WHERE agent = ?1",
                )?
                .query_row([agent.as_i64()], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))
                })
                .optional()?;
            let Some((kind, key, hour, day)) = row else { return Ok(None) };
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

    /// Stores a declared campaign; returns its id.
    pub fn store_campaign(&self, c: &CampaignDeclaration) -> Result<u64, StoreError> {
        self.with_conn(|conn| {
            let id: i64 = conn
                .prepare_cached(
                    "INSERT INTO campaigns (org, team, declared_by, reason, persons_per_agent, from_ms, until_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
                )?
                .query_row(
                    rusqlite::params![
                        c.org.as_i64(),
                        c.team.map(TeamId::as_i64),
                        c.declared_by.as_i64(),
                        c.reason.as_str(),
                        i64::from(c.persons_per_agent),
                        c.from.millis(),
                        c.until.millis(),
                    ],
                    |r| r.get(0),
                )?;
            u64::try_from(id).map_err(|_| corrupt("campaigns.id is negative"))
        })
    }

    /// The campaigns not yet ended at `now` (the detector is given them at start).
    pub fn active_campaigns(&self, now: Timestamp) -> Result<Vec<CampaignDeclaration>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT org, team, declared_by, reason, persons_per_agent, from_ms, until_ms FROM campaigns \
                 WHERE until_ms > ?1 ORDER BY id",
            )?;
            let mut rows = stmt.query([now.millis()])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let reason: String = r.get(3)?;
                let persons: i64 = r.get(4)?;
                out.push(CampaignDeclaration {
                    org: codec::parse(r.get(0)?, OrgId::from_i64, "campaigns.org")?,
                    team: r
                        .get::<_, Option<i64>>(1)?
                        .map(|t| codec::parse(t, TeamId::from_i64, "campaigns.team"))
                        .transpose()?,
                    declared_by: codec::parse(r.get(2)?, AgentId::from_i64, "campaigns.declared_by")?,
                    reason: AccessReason::parse(&reason)
                        .ok_or_else(|| corrupt(format!("campaigns.reason {reason:?}")))?,
                    persons_per_agent: u32::try_from(persons).map_err(|_| corrupt("campaigns.persons_per_agent"))?,
                    from: Timestamp(r.get(5)?),
                    until: Timestamp(r.get(6)?),
                });
            }
            Ok(out)
        })
    }

    /// The canaries placed in organizations' scope lists (a subset of [`Store::canaries`]).
    pub fn scope_canaries(&self) -> Result<Vec<PersonId>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT person_id FROM canaries WHERE in_scope = 1 ORDER BY person_id")?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(codec::parse(r.get(0)?, PersonId::from_i64, "canaries.person_id")?);
            }
            Ok(out)
        })
    }
}

/// Relationships created at run time, after the detector allowed them and the ledger recorded
/// them (the bulk load writes the generator's through the loader).
pub(crate) const INSERT_RELATIONSHIP: &str = "INSERT INTO relationships (kind, person, org, agent, session, valid_from, valid_to) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

impl Store {
    pub(crate) fn create_relationship_db(&self, r: &vigie_core::relationship::Relationship) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            conn.prepare_cached(INSERT_RELATIONSHIP)?.execute(rusqlite::params![
                codec::kind_code(r.kind),
                r.person.as_i64(),
                r.org.as_i64(),
                r.agent.map(AgentId::as_i64),
                r.session.map(|s| s.as_i64()),
                codec::day(r.valid_from),
                r.valid_to.map(codec::day),
            ])?;
            Ok(())
        })
    }
}
