//! A small hand-made registry for the store's tests, and a synthetic one of any size for the
//! plan checks and the bulk-load benchmark.
// Test support: each test binary uses a different part; failing loudly is the point.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use time::macros::date;
use vigie_core::ids::{AgentId, FtId, Login, OrgId, PersonId, SessionGroupId, TeamId};
use vigie_core::nir::Nir;
use vigie_core::org::{Agent, OrgKind, Organization, Role, Team};
use vigie_core::person::{Address, BirthPlace, Person, RegistrationStatus, Sex};
use vigie_core::relationship::{Relationship, RelationshipKind, TrainingSession};
use vigie_store::{LoadOptions, Loader, Store};

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

/// The day the tests look at the registry.
pub const TODAY: time::Date = date!(2026 - 03 - 15);

/// A valid NIR unique to `n` (below 10^5), born in May 1985 in Paris.
pub fn nir_of(n: u64) -> Nir {
    Nir::from_body(&format!("18505750{:05}", n % 100_000)).unwrap()
}

/// A valid NIR unique to `n` for any `n` below 10^8.
pub fn synthetic_nir(n: u64) -> Nir {
    let (order, commune, year, sex) = (n % 1000, (n / 1000) % 1000, (n / 1_000_000) % 100, 1 + n % 2);
    Nir::from_body(&format!("{sex}{year:02}0575{commune:03}{order:03}")).unwrap()
}

pub fn ft_id_of(n: u64) -> FtId {
    format!("{:07}A", n % 10_000_000).parse().unwrap()
}

pub fn person(n: u64) -> Person {
    Person {
        id: p(n),
        ft_id: ft_id_of(n),
        last_name: format!("NOM{n}"),
        first_name: format!("Prénom{n}"),
        birth_date: date!(1985 - 05 - 14),
        birth_place: BirthPlace { code: "75056".into(), name: "Paris".into() },
        sex: Sex::Male,
        nir: nir_of(n),
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

/// The hand-made registry:
///
/// | org | kind | agents |
/// |---|---|---|
/// | O1 | agency | A1, A2 advisors and A3 manager of team T1; A4 advisor of T2; A5 advisor without team; A9 account admin; A10 security officer |
/// | O2 | cap_emploi | A11 advisor of T3 |
/// | O3 | mission_locale | A6 |
/// | O4 | training_org (session S1) | A7 |
/// | O5 | subcontractor | A8 |
/// | O6 | training_org, inactive | A12 |
///
/// Caseloads: A1 holds P1, P2, P3; A2 holds P3 (again), P4, and P5 until 2026-01-01 (expired);
/// A4 holds P6; A5 holds P7; A11 holds P22. Follow-ups of O3: P8, P9 and P10 (from 2026-06-01:
/// not yet). Enrolments of O4: P11, P12; of O6: P13. Assignments of O5: P14 to P20.
/// P21 duplicates P1 (same NIR and birth date). P99 is a canary, with no relationship.
pub fn small_world(dir: &Path) -> Store {
    let mut l = Store::bulk_load(dir, &LoadOptions::default()).unwrap();
    fill_small_world(&mut l);
    l.finish().unwrap()
}

/// Person `n` as `small_world` holds it: P21 has P1's NIR, the canary P99 a decoy's name.
pub fn small_world_person(n: u64) -> Person {
    let mut person = person(n);
    if n == 21 {
        person.nir = nir_of(1);
    }
    if n == 99 {
        person.last_name = "LEURRE".into();
    }
    person
}

pub fn fill_small_world(l: &mut Loader) {
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
        l.add_org(&org(n, kind, active)).unwrap();
    }
    for (n, org) in [(1, 1), (2, 1), (3, 2)] {
        l.add_team(&Team { id: t(n), org: o(org), name: format!("Équipe {n}") }).unwrap();
    }
    let agents = [
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
    ];
    for ag in &agents {
        l.add_agent(ag).unwrap();
    }
    l.add_session(&TrainingSession {
        id: SessionGroupId::new(1).unwrap(),
        org: o(4),
        name: "Soudure".into(),
        starts_on: date!(2026 - 01 - 05),
        ends_on: date!(2026 - 06 - 30),
    })
    .unwrap();
    for n in (1..=22).chain([99]) {
        l.add_person(&small_world_person(n), n == 99, (n == 21).then(|| p(1))).unwrap();
    }

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
        l.add_relationship(r).unwrap();
    }
}

/// Feeds a synthetic registry of `persons` persons into a loader: 100 agencies with 10 teams of
/// 8 advisors each, 50 missions locales, 200 training organizations, 5 subcontractors; about
/// 1.2 relationships per person, some expired. Returns the number of relationships.
pub fn fill_synthetic(l: &mut Loader, persons: u64) -> u64 {
    const AGENCIES: u64 = 100;
    const TEAMS_PER_AGENCY: u64 = 10;
    const ADVISORS_PER_TEAM: u64 = 8;
    const MISSIONS: u64 = 50;
    const TRAINING: u64 = 200;
    const SUBCONTRACTORS: u64 = 5;
    let mut org_id = 0;
    let mut next_org = |l: &mut Loader, kind| {
        org_id += 1;
        l.add_org(&org(org_id, kind, true)).unwrap();
        org_id
    };
    let mut advisors = Vec::new();
    let (mut team_id, mut agent_id) = (0, 0);
    for _ in 0..AGENCIES {
        let org_n = next_org(l, OrgKind::Agency);
        for _ in 0..TEAMS_PER_AGENCY {
            team_id += 1;
            l.add_team(&Team { id: t(team_id), org: o(org_n), name: format!("Équipe {team_id}") }).unwrap();
            for _ in 0..ADVISORS_PER_TEAM {
                agent_id += 1;
                l.add_agent(&agent(agent_id, org_n, Role::Advisor, Some(team_id))).unwrap();
                advisors.push((agent_id, org_n));
            }
        }
    }
    let missions: Vec<u64> = (0..MISSIONS).map(|_| next_org(l, OrgKind::MissionLocale)).collect();
    let training: Vec<u64> = (0..TRAINING).map(|_| next_org(l, OrgKind::TrainingOrg)).collect();
    let subcontractors: Vec<u64> = (0..SUBCONTRACTORS).map(|_| next_org(l, OrgKind::Subcontractor)).collect();
    for org_n in missions.iter().chain(&training).chain(&subcontractors) {
        agent_id += 1;
        l.add_agent(&agent(agent_id, *org_n, Role::Advisor, None)).unwrap();
    }
    let mut relationships = 0;
    let mut add = |l: &mut Loader, r: Relationship| {
        l.add_relationship(&r).unwrap();
        relationships += 1;
    };
    for n in 1..=persons {
        let mut person = person(n);
        person.nir = synthetic_nir(n);
        l.add_person(&person, false, None).unwrap();
        let h = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        if h % 10 < 9 {
            let (agent_n, org_n) = advisors[(h as usize / 10) % advisors.len()];
            let mut r = rel(RelationshipKind::Caseload, n, org_n, Some(agent_n));
            if h % 7 == 0 {
                r.valid_to = Some(date!(2025 - 06 - 01));
            }
            add(l, r);
        }
        match h % 20 {
            0..=1 => add(l, rel(RelationshipKind::FollowUp, n, missions[(h as usize / 20) % missions.len()], None)),
            2 => add(l, rel(RelationshipKind::Enrolment, n, training[(h as usize / 20) % training.len()], None)),
            3..=4 => add(
                l,
                rel(RelationshipKind::Assignment, n, subcontractors[(h as usize / 20) % subcontractors.len()], None),
            ),
            _ => {}
        }
    }
    relationships
}
