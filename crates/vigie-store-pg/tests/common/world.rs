//! The hand-made registry of the SQLite store's tests (`vigie-store/tests/common`), loaded
//! through either store's bulk loader, so that one suite runs against both.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use time::macros::date;
use vigie_core::ids::{AgentId, FtId, Login, OrgId, PersonId, SessionGroupId, TeamId};
use vigie_core::nir::Nir;
use vigie_core::org::{Agent, OrgKind, Organization, Role, Team};
use vigie_core::person::{Address, BirthPlace, Person, RegistrationStatus, Sex};
use vigie_core::relationship::{Relationship, RelationshipKind, TrainingSession};

pub fn p(n: u64) -> PersonId {
    PersonId::new(n).unwrap()
}
pub fn a(n: u64) -> AgentId {
    AgentId::new(n).unwrap()
}
pub fn o(n: u64) -> OrgId {
    OrgId::new(n).unwrap()
}
pub fn t(n: u64) -> TeamId {
    TeamId::new(n).unwrap()
}

pub const TODAY: time::Date = date!(2026 - 03 - 15);

pub fn nir_of(n: u64) -> Nir {
    Nir::from_body(&format!("18505750{:05}", n % 100_000)).unwrap()
}

pub fn ft_id_of(n: u64) -> FtId {
    format!("{:07}A", n % 10_000_000).parse().unwrap()
}

pub fn person(n: u64) -> Person {
    Person {
        id: p(n),
        ft_id: ft_id_of(n),
        // A tab and a backslash: COPY's text format must escape them.
        last_name: if n == 4 { "NOM\t4\\".into() } else { format!("NOM{n}") },
        first_name: format!("Prénom{n}"),
        birth_date: date!(1985 - 05 - 14),
        birth_place: BirthPlace { code: "75056".into(), name: "Paris".into() },
        sex: Sex::Male,
        nir: if n == 21 { nir_of(1) } else { nir_of(n) },
        email: (!n.is_multiple_of(3)).then(|| format!("p{n}@example.org")),
        phone: n.is_multiple_of(2).then(|| "0612345678".to_owned()),
        address: Address {
            street: format!("{} rue de la République", n % 200 + 1),
            postcode: "69002".into(),
            commune: "Lyon".into(),
            commune_code: "69382".into(),
        },
        status: if n.is_multiple_of(5) { RegistrationStatus::Deregistered } else { RegistrationStatus::Registered },
        registered_on: date!(2021 - 02 - 01),
        deregistered_on: n.is_multiple_of(5).then_some(date!(2024 - 07 - 01)),
        youth: n.is_multiple_of(7),
        rqth: n.is_multiple_of(11),
    }
}

pub fn org(n: u64, kind: OrgKind, active: bool) -> Organization {
    Organization { id: o(n), kind, name: format!("{} {n}", kind.as_str()), active }
}

pub fn agent(n: u64, org: u64, role: Role, team: Option<u64>) -> Agent {
    Agent {
        id: a(n),
        login: format!("agent{n}@org{org}").parse::<Login>().unwrap(),
        display_name: format!("Agent {n}"),
        email: format!("agent{n}@example.org"),
        org: o(org),
        role,
        team: team.map(t),
        active: true,
    }
}

pub fn rel(kind: RelationshipKind, person: u64, org: u64, agent: Option<u64>) -> Relationship {
    Relationship {
        kind,
        person: p(person),
        org: o(org),
        agent: agent.map(a),
        team: None,
        session: None,
        valid_from: date!(2025 - 01 - 01),
        valid_to: None,
    }
}

/// What both loaders take.
pub trait Fill {
    fn org(&mut self, o: &Organization);
    fn team(&mut self, t: &Team);
    fn agent(&mut self, a: &Agent);
    fn session(&mut self, s: &TrainingSession);
    fn person(&mut self, p: &Person, canary: bool, duplicate_of: Option<PersonId>);
    fn scope_canary(&mut self, p: PersonId);
    fn relationship(&mut self, r: &Relationship);
}

impl Fill for vigie_store::Loader {
    fn org(&mut self, o: &Organization) {
        self.add_org(o).unwrap()
    }
    fn team(&mut self, t: &Team) {
        self.add_team(t).unwrap()
    }
    fn agent(&mut self, a: &Agent) {
        self.add_agent(a).unwrap()
    }
    fn session(&mut self, s: &TrainingSession) {
        self.add_session(s).unwrap()
    }
    fn person(&mut self, p: &Person, canary: bool, duplicate_of: Option<PersonId>) {
        self.add_person(p, canary, duplicate_of).unwrap()
    }
    fn scope_canary(&mut self, p: PersonId) {
        self.mark_scope_canary(p).unwrap()
    }
    fn relationship(&mut self, r: &Relationship) {
        self.add_relationship(r).unwrap()
    }
}

impl Fill for vigie_store_pg::load::PgLoader {
    fn org(&mut self, o: &Organization) {
        self.add_org(o)
    }
    fn team(&mut self, t: &Team) {
        self.add_team(t)
    }
    fn agent(&mut self, a: &Agent) {
        self.add_agent(a)
    }
    fn session(&mut self, s: &TrainingSession) {
        self.add_session(s)
    }
    fn person(&mut self, p: &Person, canary: bool, duplicate_of: Option<PersonId>) {
        self.add_person(p, canary, duplicate_of).unwrap()
    }
    fn scope_canary(&mut self, p: PersonId) {
        self.mark_scope_canary(p)
    }
    fn relationship(&mut self, r: &Relationship) {
        self.add_relationship(r).unwrap()
    }
}

/// See `vigie-store/tests/common/mod.rs` (`small_world`) for the table of who reaches whom.
/// P4's name holds a tab and a backslash; P99 is a canary, also marked as placed in scope lists.
pub fn fill_small_world(l: &mut (impl Fill + ?Sized)) {
    use OrgKind::*;
    use RelationshipKind::*;
    use Role::*;
    for (n, kind, active) in [
        (1, Agency, true),
        (2, CapEmploi, true),
        (3, MissionLocale, true),
        (4, TrainingOrg, true),
        (5, Subcontractor, true),
        (6, TrainingOrg, false),
    ] {
        l.org(&org(n, kind, active));
    }
    for (n, org) in [(1, 1), (2, 1), (3, 2)] {
        l.team(&Team { id: t(n), org: o(org), name: format!("Équipe {n}") });
    }
    for ag in [
        agent(1, 1, Advisor, Some(1)),
        agent(2, 1, Advisor, Some(1)),
        agent(3, 1, Manager, Some(1)),
        agent(4, 1, Advisor, Some(2)),
        agent(5, 1, Advisor, None),
        agent(6, 3, Advisor, None),
        agent(7, 4, Advisor, None),
        agent(8, 5, Advisor, None),
        agent(9, 1, AccountAdmin, None),
        agent(10, 1, SecurityOfficer, None),
        agent(11, 2, Advisor, Some(3)),
        agent(12, 6, Advisor, None),
    ] {
        l.agent(&ag);
    }
    l.session(&TrainingSession {
        id: SessionGroupId::new(1).unwrap(),
        org: o(4),
        name: "Soudure".into(),
        starts_on: date!(2026 - 01 - 05),
        ends_on: date!(2026 - 06 - 30),
    });
    for n in (1..=22).chain([99]) {
        l.person(&person(n), n == 99, (n == 21).then(|| p(1)));
    }
    l.scope_canary(p(99));
    let mut rels = vec![
        rel(Caseload, 1, 1, Some(1)),
        rel(Caseload, 2, 1, Some(1)),
        rel(Caseload, 3, 1, Some(1)),
        rel(Caseload, 3, 1, Some(2)),
        rel(Caseload, 4, 1, Some(2)),
        Relationship { valid_to: Some(date!(2026 - 01 - 01)), ..rel(Caseload, 5, 1, Some(2)) },
        rel(Caseload, 6, 1, Some(4)),
        rel(Caseload, 7, 1, Some(5)),
        rel(Caseload, 22, 2, Some(11)),
        rel(FollowUp, 8, 3, None),
        rel(FollowUp, 9, 3, None),
        Relationship { valid_from: date!(2026 - 06 - 01), ..rel(FollowUp, 10, 3, None) },
        Relationship { session: SessionGroupId::new(1), ..rel(Enrolment, 11, 4, None) },
        Relationship { session: SessionGroupId::new(1), ..rel(Enrolment, 12, 4, None) },
        rel(Enrolment, 13, 6, None),
    ];
    rels.extend((14..=20).map(|n| rel(Assignment, n, 5, None)));
    for r in &rels {
        l.relationship(r);
    }
}
