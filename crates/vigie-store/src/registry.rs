//! The [`Registry`] port over SQLite: the reads of the guarded path (a person's active
//! relationships, the record itself, exact lookups, scope pages) and the lookups of agents,
//! organizations, canaries and duplicates. Every hot query is a `prepare_cached` statement on
//! an index; `tests/plan.rs` checks the plans.

use rusqlite::{Connection, Params};
use vigie_core::ids::{AgentId, FtId, OrgId, PersonId};
use vigie_core::nir::Nir;
use vigie_core::org::{Agent, Organization};
use vigie_core::person::{Person, ScopeEntry};
use vigie_core::ports::{Registry, StoreError};
use vigie_core::relationship::Relationship;

use crate::Store;
use crate::codec::{self, AGENT_COLUMNS, ORG_COLUMNS};
use crate::error::DbError;

/// The guarded read's first query: a person's relationships active on a day, with the holding
/// agent's current team for caseloads (see [`codec::RELATIONSHIP_COLUMNS`]).
pub const ACTIVE_RELATIONSHIPS_SQL: &str = "SELECT r.kind, r.person, r.org, r.agent, \
     CASE WHEN r.kind = 1 THEN a.team END, r.session, r.valid_from, r.valid_to \
     FROM relationships r LEFT JOIN agents a ON a.id = r.agent \
     WHERE r.person = ?1 AND r.valid_from <= ?2 AND (r.valid_to IS NULL OR r.valid_to > ?2) \
     ORDER BY r.rowid";

/// Exact lookup by NIR and birth date (duplicates in the registry give several ids).
pub const FIND_BY_NIR_SQL: &str = "SELECT id FROM persons WHERE nir = ?1 AND birth_date = ?2 ORDER BY id";
/// Exact lookup by France Travail id and birth date.
pub const FIND_BY_FT_ID_SQL: &str = "SELECT id FROM persons WHERE ft_id = ?1 AND birth_date = ?2 ORDER BY id";

impl Store {
    /// Whether `person` is a canary (a decoy nobody has a reason to read).
    pub fn is_canary(&self, person: PersonId) -> Result<bool, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM canaries WHERE person_id = ?1)")?;
            Ok(stmt.query_row([person.as_i64()], |r| r.get(0))?)
        })
    }

    /// Every canary, in id order (a few hundred: the detector keeps them in memory).
    pub fn canaries(&self) -> Result<Vec<PersonId>, StoreError> {
        self.with_conn(|conn| ids(conn, "SELECT person_id FROM canaries ORDER BY person_id", [], "canaries.person_id"))
    }

    /// The record `person` duplicates, if the registry knows it as a duplicate.
    pub fn duplicate_of(&self, person: PersonId) -> Result<Option<PersonId>, StoreError> {
        self.with_conn(|conn| {
            let found = ids(
                conn,
                "SELECT duplicate_of FROM duplicates WHERE person_id = ?1",
                [person.as_i64()],
                "duplicates.duplicate_of",
            )?;
            Ok(found.into_iter().next())
        })
    }
}

/// The person ids a one-column query returns.
fn ids(conn: &Connection, sql: &str, params: impl Params, column: &'static str) -> Result<Vec<PersonId>, DbError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(codec::parse(row.get(0)?, PersonId::from_i64, column)?);
    }
    Ok(out)
}

/// The first row of a query, read by `read`.
fn one<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    read: fn(&rusqlite::Row<'_>) -> Result<T, DbError>,
) -> Result<Option<T>, DbError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    rows.next()?.map(read).transpose()
}

impl Registry for Store {
    fn create_relationship(&self, r: &Relationship) -> Result<(), StoreError> {
        self.create_relationship_db(r)
    }

    fn active_relationships(&self, person: PersonId, day: time::Date) -> Result<Vec<Relationship>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(ACTIVE_RELATIONSHIPS_SQL)?;
            let mut rows = stmt.query((person.as_i64(), codec::day(day)))?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(codec::relationship(row, 0)?);
            }
            Ok(out)
        })
    }

    fn person(&self, person: PersonId) -> Result<Option<Person>, StoreError> {
        self.with_conn(|conn| one(conn, codec::PERSON_BY_ID_SQL, [person.as_i64()], codec::person))
    }

    fn find_by_nir(&self, nir: &Nir, birth_date: time::Date) -> Result<Vec<PersonId>, StoreError> {
        self.with_conn(|conn| ids(conn, FIND_BY_NIR_SQL, (nir.as_str(), codec::day(birth_date)), "persons.id"))
    }

    fn find_by_ft_id(&self, ft_id: &FtId, birth_date: time::Date) -> Result<Vec<PersonId>, StoreError> {
        self.with_conn(|conn| ids(conn, FIND_BY_FT_ID_SQL, (ft_id.as_str(), codec::day(birth_date)), "persons.id"))
    }

    fn scope_page(
        &self,
        agent: &Agent,
        after: Option<PersonId>,
        limit: usize,
        day: time::Date,
    ) -> Result<Vec<(ScopeEntry, Relationship)>, StoreError> {
        self.with_conn(|conn| crate::scope::page(conn, agent, after, limit, day))
    }

    fn agent(&self, id: AgentId) -> Result<Option<Agent>, StoreError> {
        self.with_conn(|conn| {
            one(conn, &format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = ?1"), [id.as_i64()], codec::agent)
        })
    }

    fn organization(&self, id: OrgId) -> Result<Option<Organization>, StoreError> {
        self.with_conn(|conn| {
            one(
                conn,
                &format!("SELECT {ORG_COLUMNS} FROM organizations WHERE id = ?1"),
                [id.as_i64()],
                codec::organization,
            )
        })
    }
}

impl Store {
    /// Up to `limit` active accounts of the same organization kind and role as `agent` (its
    /// peers, as the detector groups them), `agent` excepted, lowest ids first: a fixed sample,
    /// so the console's peer line does not move from one drawing to the next.
    pub fn peer_agents(
        &self,
        agent: &Agent,
        kind: vigie_core::org::OrgKind,
        limit: usize,
    ) -> Result<Vec<AgentId>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT a.id FROM agents a JOIN organizations o ON o.id = a.org \
                 WHERE o.kind = ?1 AND a.role = ?2 AND a.active = 1 AND a.id != ?3 ORDER BY a.id LIMIT ?4",
            )?;
            let ids = stmt
                .query_map(
                    rusqlite::params![
                        kind.as_str(),
                        agent.role.as_str(),
                        agent.id.as_i64(),
                        i64::try_from(limit).unwrap_or(i64::MAX)
                    ],
                    |r| r.get::<_, i64>(0),
                )?
                .collect::<Result<Vec<i64>, _>>()?;
            Ok(ids.into_iter().filter_map(AgentId::from_i64).collect())
        })
    }
}
