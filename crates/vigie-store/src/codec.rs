//! Rows to domain types and back. Every value read from the file is parsed into the core's
//! types here (ids, NIR, dates, enumerations), so a malformed row becomes an error naming the
//! table and column, never a half-valid value; and never the value itself, which may be
//! personal data.

use rusqlite::Row;
use vigie_core::ids::{AgentId, FtId, Login, OrgId, PersonId, SessionGroupId, TeamId};
use vigie_core::nir::Nir;
use vigie_core::org::{Agent, OrgKind, Organization, Role};
use vigie_core::person::{Address, BirthPlace, Person, RegistrationStatus, Sex};
use vigie_core::relationship::{Relationship, RelationshipKind};
use vigie_core::time::{format_date, parse_date};

use crate::error::{DbError, corrupt};

/// A date as stored: ISO `YYYY-MM-DD`.
pub(crate) fn day(d: time::Date) -> String {
    format_date(d)
}

pub(crate) fn status_code(s: RegistrationStatus) -> i64 {
    match s {
        RegistrationStatus::Registered => 1,
        RegistrationStatus::Deregistered => 2,
        RegistrationStatus::Identified => 3,
    }
}

fn status_from_code(code: i64) -> Option<RegistrationStatus> {
    match code {
        1 => Some(RegistrationStatus::Registered),
        2 => Some(RegistrationStatus::Deregistered),
        3 => Some(RegistrationStatus::Identified),
        _ => None,
    }
}

/// The stored code of a relationship kind. Written out rather than taken from the enum's
/// declaration order: the file outlives any refactor of the core.
pub(crate) fn kind_code(k: RelationshipKind) -> i64 {
    match k {
        RelationshipKind::Caseload => CASELOAD,
        RelationshipKind::Enrolment => 2,
        RelationshipKind::FollowUp => 3,
        RelationshipKind::Assignment => 4,
    }
}

/// The code of caseloads, which the SQL of this crate spells `1`.
pub(crate) const CASELOAD: i64 = 1;

pub(crate) fn kind_from_code(code: i64) -> Option<RelationshipKind> {
    RelationshipKind::ALL.into_iter().find(|k| kind_code(*k) == code)
}

/// The columns [`person`] reads, in order (a macro, so that statements can be literals).
macro_rules! person_columns {
    () => {
        "id, ft_id, nir, last_name, first_name, birth_date, birth_place_code, birth_place_name, sex, email, phone, \
         street, postcode, commune, commune_code, status, registered_on, deregistered_on, youth, rqth"
    };
}
/// The columns [`person`] reads, for statements built at run time.
pub(crate) const PERSON_COLUMNS: &str = person_columns!();
/// A person by id: every read of a record, guarded or not. A literal, so that the statement
/// cache is probed without formatting the text first.
pub(crate) const PERSON_BY_ID_SQL: &str = concat!("SELECT ", person_columns!(), " FROM persons WHERE id = ?1");

pub(crate) fn person(row: &Row<'_>) -> Result<Person, DbError> {
    let id = parse(row.get::<_, i64>(0)?, PersonId::from_i64, "persons.id")?;
    let bad = |column: &str| corrupt(format!("persons.{column} of {id}"));
    let date = |i: usize, column: &str| -> Result<time::Date, DbError> {
        parse_date(&row.get::<_, String>(i)?).ok_or_else(|| bad(column))
    };
    let deregistered_on = match row.get::<_, Option<String>>(17)? {
        Some(s) => Some(parse_date(&s).ok_or_else(|| bad("deregistered_on"))?),
        None => None,
    };
    Ok(Person {
        id,
        ft_id: row.get::<_, String>(1)?.parse::<FtId>().map_err(|_| bad("ft_id"))?,
        nir: Nir::parse(&row.get::<_, String>(2)?).map_err(|_| bad("nir"))?,
        last_name: row.get(3)?,
        first_name: row.get(4)?,
        birth_date: date(5, "birth_date")?,
        birth_place: BirthPlace { code: row.get(6)?, name: row.get(7)? },
        sex: Sex::parse(&row.get::<_, String>(8)?).ok_or_else(|| bad("sex"))?,
        email: row.get(9)?,
        phone: row.get(10)?,
        address: Address {
            street: row.get(11)?,
            postcode: row.get(12)?,
            commune: row.get(13)?,
            commune_code: row.get(14)?,
        },
        status: status_from_code(row.get(15)?).ok_or_else(|| bad("status"))?,
        registered_on: date(16, "registered_on")?,
        deregistered_on,
        youth: row.get(18)?,
        rqth: row.get(19)?,
    })
}

/// How many columns a comma-separated column list names.
pub(crate) const fn column_count(list: &str) -> usize {
    let bytes = list.as_bytes();
    let (mut i, mut n) = (0, 1);
    while i < bytes.len() {
        if bytes[i] == b',' {
            n += 1;
        }
        i += 1;
    }
    n
}

/// The columns [`agent`] reads, in order (a macro, so that statements can be literals).
macro_rules! agent_columns {
    () => {
        "id, login, display_name, email, org, role, team, active"
    };
}
pub(crate) use agent_columns;
pub(crate) const AGENT_COLUMNS: &str = agent_columns!();

pub(crate) fn agent(row: &Row<'_>) -> Result<Agent, DbError> {
    agent_at(row, 0)
}

/// Reads an agent from the columns of [`AGENT_COLUMNS`] starting at `at`.
pub(crate) fn agent_at(row: &Row<'_>, at: usize) -> Result<Agent, DbError> {
    let id = parse(row.get::<_, i64>(at)?, AgentId::from_i64, "agents.id")?;
    let bad = |column: &str| corrupt(format!("agents.{column} of {id}"));
    Ok(Agent {
        id,
        login: row.get::<_, String>(at + 1)?.parse::<Login>().map_err(|_| bad("login"))?,
        display_name: row.get(at + 2)?,
        email: row.get(at + 3)?,
        org: parse(row.get::<_, i64>(at + 4)?, OrgId::from_i64, "agents.org")?,
        role: Role::parse(&row.get::<_, String>(at + 5)?).ok_or_else(|| bad("role"))?,
        team: optional(row.get(at + 6)?, TeamId::from_i64, "agents.team")?,
        active: row.get(at + 7)?,
    })
}

/// The columns [`organization`] reads, in order (a macro, so that statements can be literals).
macro_rules! org_columns {
    () => {
        "id, kind, name, active"
    };
}
pub(crate) use org_columns;
pub(crate) const ORG_COLUMNS: &str = org_columns!();

pub(crate) fn organization(row: &Row<'_>) -> Result<Organization, DbError> {
    organization_at(row, 0)
}

/// Reads an organization from the columns of [`ORG_COLUMNS`] starting at `at`.
pub(crate) fn organization_at(row: &Row<'_>, at: usize) -> Result<Organization, DbError> {
    let id = parse(row.get::<_, i64>(at)?, OrgId::from_i64, "organizations.id")?;
    Ok(Organization {
        id,
        kind: OrgKind::parse(&row.get::<_, String>(at + 1)?)
            .ok_or_else(|| corrupt(format!("organizations.kind of {id}")))?,
        name: row.get(at + 2)?,
        active: row.get(at + 3)?,
    })
}

/// Reads a relationship from the eight columns starting at `at`, selected from
/// `relationships r LEFT JOIN agents a ON a.id = r.agent` as `r.kind, r.person, r.org, r.agent,
/// CASE WHEN r.kind = 1 THEN a.team END, r.session, r.valid_from, r.valid_to`: a caseload's
/// team is its holding agent's current team.
pub(crate) fn relationship(row: &Row<'_>, at: usize) -> Result<Relationship, DbError> {
    let bad = |column: &str| corrupt(format!("relationships.{column}"));
    let valid_to = match row.get::<_, Option<String>>(at + 7)? {
        Some(s) => Some(parse_date(&s).ok_or_else(|| bad("valid_to"))?),
        None => None,
    };
    Ok(Relationship {
        kind: kind_from_code(row.get(at)?).ok_or_else(|| bad("kind"))?,
        person: parse(row.get::<_, i64>(at + 1)?, PersonId::from_i64, "relationships.person")?,
        org: parse(row.get::<_, i64>(at + 2)?, OrgId::from_i64, "relationships.org")?,
        agent: optional(row.get(at + 3)?, AgentId::from_i64, "relationships.agent")?,
        team: optional(row.get(at + 4)?, TeamId::from_i64, "agents.team")?,
        session: optional(row.get(at + 5)?, SessionGroupId::from_i64, "relationships.session")?,
        valid_from: parse_date(&row.get::<_, String>(at + 6)?).ok_or_else(|| bad("valid_from"))?,
        valid_to,
    })
}

/// An id column, refused if not a valid id.
pub(crate) fn parse<T>(raw: i64, make: fn(i64) -> Option<T>, column: &'static str) -> Result<T, DbError> {
    make(raw).ok_or_else(|| corrupt(format!("{column} is not a valid id")))
}

fn optional<T>(raw: Option<i64>, make: fn(i64) -> Option<T>, column: &'static str) -> Result<Option<T>, DbError> {
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
