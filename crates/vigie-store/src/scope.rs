//! Scope pages: the persons an agent reaches through relationships active on a day, in person
//! id order, one keyset page at a time.
//!
//! Who reaches whom is decided by [`Reach::of`], a pure function of the agent and its
//! organization: advisors and managers of agencies and Cap emploi reach the caseloads held by
//! their team (or their own, without a team); those of missions locales, training
//! organizations and subcontractors reach their organization's follow-ups, enrolments and
//! assignments; account administrators and security officers reach nobody, nor does an
//! inactive account or organization. Each reach is one SQL statement that walks an index in
//! person order, groups a person's several relationships into one line, skips canaries and
//! stops at the page size.

use rusqlite::Connection;
use vigie_core::ids::{AgentId, OrgId, PersonId, TeamId};
use vigie_core::org::{Agent, OrgKind, Organization, Role};
use vigie_core::person::ScopeEntry;
use vigie_core::relationship::{Relationship, RelationshipKind};

use crate::codec::{self, ORG_COLUMNS};
use crate::error::{DbError, corrupt};

/// Which relationships bring persons into an agent's scope.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Reach {
    /// Caseloads held by the members of a team.
    Team(TeamId),
    /// Caseloads held by the agent itself (an advisor without a team).
    OwnCaseload(AgentId),
    /// Organization-level relationships of one kind.
    Org(OrgId, RelationshipKind),
    Nobody,
}

impl Reach {
    pub fn of(agent: &Agent, org: &Organization) -> Reach {
        if !agent.active || !org.active || agent.org != org.id {
            return Reach::Nobody;
        }
        match agent.role {
            Role::AccountAdmin | Role::SecurityOfficer => Reach::Nobody,
            Role::Advisor | Role::Manager => match org.kind {
                OrgKind::Agency | OrgKind::CapEmploi => agent.team.map_or(Reach::OwnCaseload(agent.id), Reach::Team),
                OrgKind::MissionLocale => Reach::Org(org.id, RelationshipKind::FollowUp),
                OrgKind::TrainingOrg => Reach::Org(org.id, RelationshipKind::Enrolment),
                OrgKind::Subcontractor => Reach::Org(org.id, RelationshipKind::Assignment),
            },
        }
    }
}

/// The statement of each reach. `?1` is the team, agent or organization, `?2` the kind (for
/// organizations; caseloads spell `kind = 1` so that the partial index on caseloads applies),
/// `?3` the last person id of the previous page (0 for the first), `?4` the day, `?5` the page
/// size. The inner query decides the page from a covering index and picks one relationship per
/// person (the oldest row); the outer one reads those rows and the persons' names.
macro_rules! scope_sql {
    ($reach:literal) => {
        concat!(
            "WITH page AS (SELECT r.person AS person, min(r.rowid) AS rid FROM relationships r WHERE ",
            $reach,
            " AND r.person > ?3 AND r.valid_from <= ?4 AND (r.valid_to IS NULL OR r.valid_to > ?4) \
             AND NOT EXISTS (SELECT 1 FROM canaries c WHERE c.person_id = r.person) \
             GROUP BY r.person ORDER BY r.person LIMIT ?5) \
             SELECT p.id, p.last_name, p.first_name, r.kind, r.person, r.org, r.agent, \
             CASE WHEN r.kind = 1 THEN a.team END, r.session, r.valid_from, r.valid_to \
             FROM page JOIN relationships r ON r.rowid = page.rid JOIN persons p ON p.id = page.person \
             LEFT JOIN agents a ON a.id = r.agent ORDER BY page.person"
        )
    };
}

pub const SCOPE_TEAM_SQL: &str = scope_sql!("r.agent IN (SELECT m.id FROM agents m WHERE m.team = ?1) AND r.kind = 1");
pub const SCOPE_AGENT_SQL: &str = scope_sql!("r.agent = ?1 AND r.kind = 1");
pub const SCOPE_ORG_SQL: &str = scope_sql!("r.org = ?1 AND r.kind = ?2");

/// One page of `agent`'s scope on `day`, strictly after `after`.
pub(crate) fn page(
    conn: &Connection,
    agent: &Agent,
    after: Option<PersonId>,
    limit: usize,
    day: time::Date,
) -> Result<Vec<(ScopeEntry, Relationship)>, DbError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    // The organization as stored now, not as the caller last saw it: a partner switched off
    // a second ago reaches nobody.
    let org = {
        let mut stmt = conn.prepare_cached(&format!("SELECT {ORG_COLUMNS} FROM organizations WHERE id = ?1"))?;
        let mut rows = stmt.query([agent.org.as_i64()])?;
        match rows.next()? {
            Some(row) => codec::organization(row)?,
            None => return Ok(Vec::new()),
        }
    };
    let (sql, key, kind) = match Reach::of(agent, &org) {
        Reach::Nobody => return Ok(Vec::new()),
        Reach::Team(team) => (SCOPE_TEAM_SQL, team.as_i64(), RelationshipKind::Caseload),
        Reach::OwnCaseload(id) => (SCOPE_AGENT_SQL, id.as_i64(), RelationshipKind::Caseload),
        Reach::Org(id, kind) => (SCOPE_ORG_SQL, id.as_i64(), kind),
    };
    let after = after.map_or(0, PersonId::as_i64);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(sql)?;
    // Five parameters for every statement; the caseload ones leave ?2 unused.
    let mut rows = stmt.query((key, codec::kind_code(kind), after, codec::day(day), limit))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let id = codec::parse(row.get(0)?, PersonId::from_i64, "persons.id")?;
        let relationship = codec::relationship(row, 3)?;
        if relationship.person != id {
            return Err(corrupt("scope row mismatch"));
        }
        let entry = ScopeEntry { id, last_name: row.get(1)?, first_name: row.get(2)?, relationship: relationship.kind };
        out.push((entry, relationship));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_core::ids::Login;

    fn agent(role: Role, team: Option<u64>) -> Agent {
        Agent {
            id: AgentId::new(7).unwrap(),
            login: "x.y@z".parse::<Login>().unwrap(),
            display_name: "X".into(),
            email: "x@example.org".into(),
            org: OrgId::new(3).unwrap(),
            role,
            team: team.and_then(TeamId::new),
            active: true,
        }
    }

    fn org(kind: OrgKind) -> Organization {
        Organization { id: OrgId::new(3).unwrap(), kind, name: "O".into(), active: true }
    }

    #[test]
    fn reach_by_role_and_org_kind() {
        let t = TeamId::new(5).unwrap();
        let o = OrgId::new(3).unwrap();
        let a = AgentId::new(7).unwrap();
        let table = [
            (Role::Advisor, Some(5), OrgKind::Agency, Reach::Team(t)),
            (Role::Manager, Some(5), OrgKind::CapEmploi, Reach::Team(t)),
            (Role::Advisor, None, OrgKind::Agency, Reach::OwnCaseload(a)),
            (Role::Advisor, None, OrgKind::MissionLocale, Reach::Org(o, RelationshipKind::FollowUp)),
            (Role::Manager, None, OrgKind::TrainingOrg, Reach::Org(o, RelationshipKind::Enrolment)),
            (Role::Advisor, None, OrgKind::Subcontractor, Reach::Org(o, RelationshipKind::Assignment)),
            (Role::AccountAdmin, Some(5), OrgKind::Agency, Reach::Nobody),
            (Role::SecurityOfficer, None, OrgKind::TrainingOrg, Reach::Nobody),
        ];
        for (role, team, kind, expected) in table {
            assert_eq!(Reach::of(&agent(role, team), &org(kind)), expected, "{role:?} {kind:?}");
        }
    }

    #[test]
    fn inactive_accounts_and_partners_reach_nobody() {
        let mut a = agent(Role::Advisor, Some(5));
        a.active = false;
        assert_eq!(Reach::of(&a, &org(OrgKind::Agency)), Reach::Nobody);
        let mut o = org(OrgKind::Agency);
        o.active = false;
        assert_eq!(Reach::of(&agent(Role::Advisor, Some(5)), &o), Reach::Nobody);
        let mut elsewhere = agent(Role::Advisor, Some(5));
        elsewhere.org = OrgId::new(4).unwrap();
        assert_eq!(Reach::of(&elsewhere, &org(OrgKind::Agency)), Reach::Nobody);
    }
}
