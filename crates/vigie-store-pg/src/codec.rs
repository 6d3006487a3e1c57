//! Rows to domain types. Every value read is parsed into the core's types here (ids, NIR,
//! enumerations), so a malformed row becomes an error naming the table and column, never a
//! half-valid value, and never the value itself, which may be personal data. The column lists
//! and codes are the SQLite store's.

use postgres::Row;
use postgres::types::Type;
use vigie_core::ids::{AgentId, FtId, Login, OrgId, PersonId, SessionGroupId, TeamId};
use vigie_core::nir::Nir;
use vigie_core::org::{Agent, OrgKind, Organization, Role};
use vigie_core::person::{Address, BirthPlace, Person, RegistrationStatus, Sex};
use vigie_core::relationship::{Relationship, RelationshipKind};

use crate::error::{DbError, corrupt};

pub(crate) fn status_code(s: RegistrationStatus) -> i16 {
    match s {
        RegistrationStatus::Registered => 1,
        RegistrationStatus::Deregistered => 2,
        RegistrationStatus::Identified => 3,
    }
}

fn status_from_code(code: i16) -> Option<RegistrationStatus> {
    [RegistrationStatus::Registered, RegistrationStatus::Deregistered, RegistrationStatus::Identified]
        .into_iter()
        .find(|s| status_code(*s) == code)
}

/// The stored code of a relationship kind (the SQLite store's codes).
pub(crate) fn kind_code(k: RelationshipKind) -> i16 {
    match k {
        RelationshipKind::Caseload => 1,
        RelationshipKind::Enrolment => 2,
        RelationshipKind::FollowUp => 3,
        RelationshipKind::Assignment => 4,
    }
}

pub(crate) fn kind_from_code(code: i16) -> Option<RelationshipKind> {
    RelationshipKind::ALL.into_iter().find(|k| kind_code(*k) == code)
}

pub(crate) const PERSON_COLUMNS: &str = "id, ft_id, nir, last_name, first_name, birth_date, birth_place_code, \
     birth_place_name, sex, email, phone, street, postcode, commune, commune_code, status, registered_on, \
     deregistered_on, youth, rqth";

/// The binary `COPY` types of [`PERSON_COLUMNS`], in order (the V1 column types).
pub(crate) const PERSON_TYPES: [Type; 20] = [
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::DATE,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT2,
    Type::DATE,
    Type::DATE,
    Type::BOOL,
    Type::BOOL,
];

pub(crate) fn person(row: &Row) -> Result<Person, DbError> {
    let id = parse(row.try_get::<_, i64>(0)?, PersonId::from_i64, "persons.id")?;
    let bad = |column: &str| corrupt(format!("persons.{column} of {id}"));
    Ok(Person {
        id,
        ft_id: row.try_get::<_, String>(1)?.parse::<FtId>().map_err(|_| bad("ft_id"))?,
        nir: Nir::parse(&row.try_get::<_, String>(2)?).map_err(|_| bad("nir"))?,
        last_name: row.try_get(3)?,
        first_name: row.try_get(4)?,
        birth_date: row.try_get(5)?,
        birth_place: BirthPlace { code: row.try_get(6)?, name: row.try_get(7)? },
        sex: Sex::parse(&row.try_get::<_, String>(8)?).ok_or_else(|| bad("sex"))?,
        email: row.try_get(9)?,
        phone: row.try_get(10)?,
        address: Address {
            street: row.try_get(11)?,
            postcode: row.try_get(12)?,
            commune: row.try_get(13)?,
            commune_code: row.try_get(14)?,
        },
        status: status_from_code(row.try_get(15)?).ok_or_else(|| bad("status"))?,
        registered_on: row.try_get(16)?,
        deregistered_on: row.try_get(17)?,
        youth: row.try_get(18)?,
        rqth: row.try_get(19)?,
    })
}

pub(crate) const AGENT_COLUMNS: &str = "id, login, display_name, email, org, role, team, active";
/// [`AGENT_COLUMNS`] with the `a.` prefix, for joins.
pub(crate) const AGENT_COLUMNS_A: &str = "a.id, a.login, a.display_name, a.email, a.org, a.role, a.team, a.active";

/// Reads an agent from the columns of [`AGENT_COLUMNS`] starting at `at`.
pub(crate) fn agent_at(row: &Row, at: usize) -> Result<Agent, DbError> {
    let id = parse(row.try_get::<_, i64>(at)?, AgentId::from_i64, "agents.id")?;
    let bad = |column: &str| corrupt(format!("agents.{column} of {id}"));
    Ok(Agent {
        id,
        login: row.try_get::<_, String>(at + 1)?.parse::<Login>().map_err(|_| bad("login"))?,
        display_name: row.try_get(at + 2)?,
        email: row.try_get(at + 3)?,
        org: parse(row.try_get::<_, i64>(at + 4)?, OrgId::from_i64, "agents.org")?,
        role: Role::parse(&row.try_get::<_, String>(at + 5)?).ok_or_else(|| bad("role"))?,
        team: optional(row.try_get(at + 6)?, TeamId::from_i64, "agents.team")?,
        active: row.try_get(at + 7)?,
    })
}

pub(crate) fn agent(row: &Row) -> Result<Agent, DbError> {
    agent_at(row, 0)
}

pub(crate) const ORG_COLUMNS: &str = "id, kind, name, active";
pub(crate) const ORG_COLUMNS_O: &str = "o.id, o.kind, o.name, o.active";

/// Reads an organization from the columns of [`ORG_COLUMNS`] starting at `at`.
pub(crate) fn organization_at(row: &Row, at: usize) -> Result<Organization, DbError> {
    let id = parse(row.try_get::<_, i64>(at)?, OrgId::from_i64, "organizations.id")?;
    Ok(Organization {
        id,
        kind: OrgKind::parse(&row.try_get::<_, String>(at + 1)?)
            .ok_or_else(|| corrupt(format!("organizations.kind of {id}")))?,
        name: row.try_get(at + 2)?,
        active: row.try_get(at + 3)?,
    })
}

pub(crate) fn organization(row: &Row) -> Result<Organization, DbError> {
    organization_at(row, 0)
}

/// The eight relationship columns, from `relationships r LEFT JOIN agents a ON a.id = r.agent`:
/// a caseload's team is its holding agent's current team.
pub(crate) const RELATIONSHIP_COLUMNS: &str =
    "r.kind, r.person, r.org, r.agent, CASE WHEN r.kind = 1 THEN a.team END, r.session, r.valid_from, r.valid_to";

/// Reads a relationship from the columns of [`RELATIONSHIP_COLUMNS`] starting at `at`.
pub(crate) fn relationship(row: &Row, at: usize) -> Result<Relationship, DbError> {
    Ok(Relationship {
        kind: kind_from_code(row.try_get(at)?).ok_or_else(|| corrupt("relationships.kind"))?,
        person: parse(row.try_get::<_, i64>(at + 1)?, PersonId::from_i64, "relationships.person")?,
        org: parse(row.try_get::<_, i64>(at + 2)?, OrgId::from_i64, "relationships.org")?,
        agent: optional(row.try_get(at + 3)?, AgentId::from_i64, "relationships.agent")?,
        team: optional(row.try_get(at + 4)?, TeamId::from_i64, "agents.team")?,
        session: optional(row.try_get(at + 5)?, SessionGroupId::from_i64, "relationships.session")?,
        valid_from: row.try_get(at + 6)?,
        valid_to: row.try_get(at + 7)?,
    })
}

/// An id column, refused if not a valid id.
pub(crate) fn parse<T>(raw: i64, make: fn(i64) -> Option<T>, column: &'static str) -> Result<T, DbError> {
    make(raw).ok_or_else(|| corrupt(format!("{column} is not a valid id")))
}

pub(crate) fn optional<T>(
    raw: Option<i64>,
    make: fn(i64) -> Option<T>,
    column: &'static str,
) -> Result<Option<T>, DbError> {
    raw.map(|n| parse(n, make, column)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for k in RelationshipKind::ALL {
            assert_eq!(kind_from_code(kind_code(k)), Some(k));
        }
        for s in [RegistrationStatus::Registered, RegistrationStatus::Deregistered, RegistrationStatus::Identified] {
            assert_eq!(status_from_code(status_code(s)), Some(s));
        }
        assert_eq!(kind_from_code(0), None);
        assert_eq!(status_from_code(4), None);
    }
}
