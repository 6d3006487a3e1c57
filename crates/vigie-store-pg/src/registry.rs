//! The [`Registry`] port over PostgreSQL: the reads of the guarded path (a person's active
//! relationships, the record itself, exact lookups, scope pages) and the lookups of agents,
//! organizations, canaries and duplicates. One indexed statement per call.

use vigie_core::ids::{AgentId, FtId, OrgId, PersonId};
use vigie_core::nir::Nir;
use vigie_core::org::{Agent, OrgKind, Organization};
use vigie_core::person::{Person, ScopeEntry};
use vigie_core::ports::{Registry, StoreError};
use vigie_core::relationship::{Relationship, RelationshipKind};
use vigie_store::Reach;

use crate::PgStore;
use crate::codec::{self, AGENT_COLUMNS, ORG_COLUMNS, PERSON_COLUMNS, RELATIONSHIP_COLUMNS};
use crate::error::{DbError, corrupt};

impl PgStore {
    /// Whether `person` is a canary (a decoy nobody has a reason to read).
    pub fn is_canary(&self, person: PersonId) -> Result<bool, StoreError> {
        self.with_conn(|c| {
            Ok(c.query_one("SELECT EXISTS (SELECT 1 FROM canaries WHERE person_id = $1)", &[&person.as_i64()])?
                .try_get(0)?)
        })
    }

    /// Every canary, in id order.
    pub fn canaries(&self) -> Result<Vec<PersonId>, StoreError> {
        self.person_ids("SELECT person_id FROM canaries ORDER BY person_id", &[])
    }

    /// The canaries placed inside organizations' scope lists.
    pub fn scope_canaries(&self) -> Result<Vec<PersonId>, StoreError> {
        self.person_ids("SELECT person_id FROM canaries WHERE in_scope ORDER BY person_id", &[])
    }

    /// The record `person` duplicates, if the registry knows it as a duplicate.
    pub fn duplicate_of(&self, person: PersonId) -> Result<Option<PersonId>, StoreError> {
        Ok(self
            .person_ids("SELECT duplicate_of FROM duplicates WHERE person_id = $1", &[&person.as_i64()])?
            .into_iter()
            .next())
    }

    /// Up to `limit` active accounts of organizations of `kind` with the same role as `agent`
    /// (its peers, as the detector groups them), `agent` excepted, lowest ids first: a fixed
    /// sample, so the console's peer line does not move from one drawing to the next. The
    /// SQLite store's `Store::peer_agents`, row for row.
    pub fn peer_agents(&self, agent: &Agent, kind: OrgKind, limit: usize) -> Result<Vec<AgentId>, StoreError> {
        self.with_conn(|c| {
            c.query_prepared(
                "SELECT a.id FROM agents a JOIN organizations o ON o.id = a.org \
                 WHERE o.kind = $1 AND a.role = $2 AND a.active AND a.id <> $3 ORDER BY a.id LIMIT $4",
                &[&kind.as_str(), &agent.role.as_str(), &agent.id.as_i64(), &i64::try_from(limit).unwrap_or(i64::MAX)],
            )?
            .iter()
            .map(|r| codec::parse(r.try_get(0)?, AgentId::from_i64, "agents.id"))
            .collect()
        })
    }

    fn person_ids(
        &self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<PersonId>, StoreError> {
        self.with_conn(|c| {
            c.query(sql, params)?
                .iter()
                .map(|r| codec::parse(r.try_get(0)?, PersonId::from_i64, "persons.id"))
                .collect()
        })
    }
}

/// The guarded read's first query: a person's relationships active on a day.
const ACTIVE_RELATIONSHIPS_SQL: &str = "SELECT r.kind, r.person, r.org, r.agent, CASE WHEN r.kind = 1 THEN a.team END, r.session, r.valid_from, r.valid_to \
     FROM relationships r LEFT JOIN agents a ON a.id = r.agent \
     WHERE r.person = $1 AND r.valid_from <= $2 AND (r.valid_to IS NULL OR r.valid_to > $2) ORDER BY r.id";

impl Registry for PgStore {
    fn create_relationship(&self, r: &Relationship) -> Result<(), StoreError> {
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO relationships (kind, person, org, agent, session, valid_from, valid_to) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &codec::kind_code(r.kind),
                    &r.person.as_i64(),
                    &r.org.as_i64(),
                    &r.agent.map(AgentId::as_i64),
                    &r.session.map(|s| s.as_i64()),
                    &r.valid_from,
                    &r.valid_to,
                ],
            )?;
            Ok(())
        })
    }

    fn active_relationships(&self, person: PersonId, day: time::Date) -> Result<Vec<Relationship>, StoreError> {
        self.with_conn(|c| {
            c.query_prepared(ACTIVE_RELATIONSHIPS_SQL, &[&person.as_i64(), &day])?
                .iter()
                .map(|r| codec::relationship(r, 0))
                .collect()
        })
    }

    fn person(&self, person: PersonId) -> Result<Option<Person>, StoreError> {
        self.with_conn(|c| {
            c.query_opt_prepared(&format!("SELECT {PERSON_COLUMNS} FROM persons WHERE id = $1"), &[&person.as_i64()])?
                .as_ref()
                .map(codec::person)
                .transpose()
        })
    }

    fn find_by_nir(&self, nir: &Nir, birth_date: time::Date) -> Result<Vec<PersonId>, StoreError> {
        self.person_ids(
            "SELECT id FROM persons WHERE nir = $1 AND birth_date = $2 ORDER BY id",
            &[&nir.as_str(), &birth_date],
        )
    }

    fn find_by_ft_id(&self, ft_id: &FtId, birth_date: time::Date) -> Result<Vec<PersonId>, StoreError> {
        self.person_ids(
            "SELECT id FROM persons WHERE ft_id = $1 AND birth_date = $2 ORDER BY id",
            &[&ft_id.as_str(), &birth_date],
        )
    }

    fn scope_page(
        &self,
        agent: &Agent,
        after: Option<PersonId>,
        limit: usize,
        day: time::Date,
    ) -> Result<Vec<(ScopeEntry, Relationship)>, StoreError> {
        self.with_conn(|c| scope_page(c, agent, after, limit, day))
    }

    fn agent(&self, id: AgentId) -> Result<Option<Agent>, StoreError> {
        self.with_conn(|c| {
            c.query_opt_prepared(&format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = $1"), &[&id.as_i64()])?
                .as_ref()
                .map(codec::agent)
                .transpose()
        })
    }

    fn organization(&self, id: OrgId) -> Result<Option<Organization>, StoreError> {
        self.with_conn(|c| {
            c.query_opt_prepared(&format!("SELECT {ORG_COLUMNS} FROM organizations WHERE id = $1"), &[&id.as_i64()])?
                .as_ref()
                .map(codec::organization)
                .transpose()
        })
    }
}

/// A page of an agent's scope, in person order, canaries left out (the SQLite store's
/// semantics: one row per person, its first active relationship of the reach).
fn scope_page(
    c: &mut postgres::Client,
    agent: &Agent,
    after: Option<PersonId>,
    limit: usize,
    day: time::Date,
) -> Result<Vec<(ScopeEntry, Relationship)>, DbError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let Some(org) =
        c.query_opt(&format!("SELECT {ORG_COLUMNS} FROM organizations WHERE id = $1"), &[&agent.org.as_i64()])?
    else {
        return Ok(Vec::new());
    };
    let org = codec::organization(&org)?;
    let after = after.map_or(0, PersonId::as_i64);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let page = |reach: &str| {
        format!(
            "WITH page AS (SELECT r.person AS person, min(r.id) AS rid FROM relationships r WHERE {reach} \
             AND r.person > $2 AND r.valid_from <= $3 AND (r.valid_to IS NULL OR r.valid_to > $3) \
             AND NOT EXISTS (SELECT 1 FROM canaries c WHERE c.person_id = r.person) \
             GROUP BY r.person ORDER BY r.person LIMIT $4) \
             SELECT p.id, p.last_name, p.first_name, {RELATIONSHIP_COLUMNS} \
             FROM page JOIN relationships r ON r.id = page.rid JOIN persons p ON p.id = page.person \
             LEFT JOIN agents a ON a.id = r.agent ORDER BY page.person"
        )
    };
    let caseload = codec::kind_code(RelationshipKind::Caseload);
    let rows = match Reach::of(agent, &org) {
        Reach::Nobody => return Ok(Vec::new()),
        Reach::Team(team) => c.query(
            &page("r.agent IN (SELECT m.id FROM agents m WHERE m.team = $1) AND r.kind = $5"),
            &[&team.as_i64(), &after, &day, &limit, &caseload],
        )?,
        Reach::OwnCaseload(id) => {
            c.query(&page("r.agent = $1 AND r.kind = $5"), &[&id.as_i64(), &after, &day, &limit, &caseload])?
        }
        Reach::Org(id, kind) => c.query(
            &page("r.org = $1 AND r.kind = $5"),
            &[&id.as_i64(), &after, &day, &limit, &codec::kind_code(kind)],
        )?,
    };
    rows.iter()
        .map(|row| {
            let id = codec::parse(row.try_get(0)?, PersonId::from_i64, "persons.id")?;
            let relationship = codec::relationship(row, 3)?;
            if relationship.person != id {
                return Err(corrupt("scope row mismatch"));
            }
            let entry = ScopeEntry {
                id,
                last_name: row.try_get(1)?,
                first_name: row.try_get(2)?,
                relationship: relationship.kind,
            };
            Ok((entry, relationship))
        })
        .collect()
}
