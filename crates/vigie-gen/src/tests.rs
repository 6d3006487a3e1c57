//! Properties of a generated registry, checked on a 20 000-person sample (generated once).

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use time::macros::date;
use vigie_core::nir::NirSex;
use vigie_core::org::{OrgKind, Role};
use vigie_core::person::{RegistrationStatus, Sex};
use vigie_core::relationship::RelationshipKind;
use vigie_core::{AgentId, Nir, OrgId, SessionGroupId};

use super::*;

const N: u64 = 20_000;

fn params() -> GenParams {
    GenParams { seed: 42, persons: N, as_of: date!(2026 - 03 - 02) }
}

fn sample() -> &'static (GenParams, World, Vec<GenPerson>) {
    static SAMPLE: OnceLock<(GenParams, World, Vec<GenPerson>)> = OnceLock::new();
    SAMPLE.get_or_init(|| {
        let p = params();
        let w = world(&p);
        let persons = persons(&p, &w).collect();
        (p, w, persons)
    })
}

fn share(count: usize, of: usize) -> f64 {
    count as f64 / of.max(1) as f64
}

#[test]
fn generation_is_deterministic_and_random_access() {
    let (p, w, all) = sample();
    assert_eq!(all.len() as u64, N);
    for (i, g) in all.iter().enumerate() {
        assert_eq!(g.person.id.get(), i as u64 + 1);
    }
    let w2 = world(p);
    assert_eq!(w.orgs, w2.orgs);
    assert_eq!(w.agents, w2.agents);
    assert_eq!(w.teams, w2.teams);
    assert_eq!(w.sessions, w2.sessions);
    for id in [1, 2, 999, 1000, 1001, 7_777, N] {
        assert_eq!(person_at(p, &w2, id), all[id as usize - 1], "person {id}");
    }
    let other = GenParams { seed: 43, ..p.clone() };
    let w3 = world(&other);
    let differ = (1..=200).filter(|&id| person_at(&other, &w3, id).person != all[id as usize - 1].person).count();
    assert!(differ > 190, "{differ}");
    assert_ne!(w3.agents, w.agents);
}

#[test]
fn nirs_match_sex_birth_date_and_birthplace() {
    let (_, _, all) = sample();
    let (mut nia, mut abroad, mut corsica20) = (0, 0, 0);
    for g in all {
        let p = &g.person;
        let nir = Nir::parse(p.nir.as_str()).unwrap();
        let s = nir.as_str();
        assert_eq!(nir.sex() == NirSex::Male, p.sex == Sex::Male);
        assert_eq!(s[1..3].parse::<i32>().unwrap(), p.birth_date.year() % 100);
        assert_eq!(s[3..5].parse::<u8>().unwrap(), u8::from(p.birth_date.month()));
        if g.duplicate_of.is_none() {
            assert_eq!(nir.birth_place_code(), p.birth_place.code);
        } else {
            assert_eq!(&nir.birth_place_code()[..2], &p.birth_place.code[..2]);
        }
        nia += usize::from(matches!(&s[..1], "7" | "8"));
        abroad += usize::from(p.birth_place.code.starts_with("99"));
        if p.birth_place.code.starts_with("20") {
            assert!(p.birth_date.year() < 1976);
            corsica20 += 1;
        }
        if p.birth_place.code.starts_with("2A") || p.birth_place.code.starts_with("2B") {
            assert!(p.birth_date.year() >= 1976);
        }
        let age = dates::age_on(p.birth_date, date!(2026 - 03 - 02));
        assert!((16..=70).contains(&age), "{age}");
        assert_eq!(p.youth, age <= 25);
    }
    assert!((0.01..0.025).contains(&share(nia, all.len())), "NIA {nia}");
    assert!((0.065..0.095).contains(&share(abroad, all.len())), "abroad {abroad}");
    assert!(corsica20 > 0);
}

#[test]
fn about_fifteen_percent_are_re_registrations() {
    let (p, _, all) = sample();
    let dups: Vec<&GenPerson> = all.iter().filter(|g| g.duplicate_of.is_some()).collect();
    let s = share(dups.len(), all.len());
    assert!((0.14..0.16).contains(&s), "{s}");
    let mut same_nir = 0;
    for d in &dups {
        let orig = &all[d.duplicate_of.unwrap().get() as usize - 1];
        assert!(orig.person.id < d.person.id);
        assert!(orig.duplicate_of.is_none() && !orig.canary);
        assert_eq!(orig.person.birth_date, d.person.birth_date);
        assert_eq!(orig.person.sex, d.person.sex);
        assert_ne!(orig.person.ft_id, d.person.ft_id);
        same_nir += usize::from(orig.person.nir == d.person.nir);
        let changed = orig.person.last_name != d.person.last_name
            || orig.person.first_name != d.person.first_name
            || orig.person.email != d.person.email
            || orig.person.phone != d.person.phone
            || orig.person.address != d.person.address;
        assert!(changed, "{}", d.person.id);
        assert!(d.person.registered_on > orig.person.registered_on || d.person.registered_on >= p.as_of);
    }
    let s = share(same_nir, dups.len());
    assert!((0.85..0.95).contains(&s), "same NIR {s}");
}

#[test]
fn canaries_are_one_per_block_and_unreachable() {
    let (_, _, all) = sample();
    for block in all.chunks(1000) {
        assert_eq!(block.iter().filter(|g| g.canary).count(), 1);
    }
    let canaries: HashSet<_> = all.iter().filter(|g| g.canary).map(|g| g.person.id).collect();
    for g in all {
        if g.canary {
            assert!(g.relationships.is_empty() && g.duplicate_of.is_none());
            assert!(g.person.email.is_some() && g.person.phone.is_some());
        }
        assert!(g.duplicate_of.is_none_or(|o| !canaries.contains(&o)));
        assert!(g.relationships.iter().all(|r| r.person == g.person.id));
    }
    // Offsets inside blocks depend on the seed.
    let offsets: HashSet<_> = all.chunks(1000).map(|b| b.iter().position(|g| g.canary)).collect();
    assert!(offsets.len() > 10);
}

#[test]
fn statuses_and_dates_are_consistent() {
    let (p, _, all) = sample();
    let count = |s| all.iter().filter(|g| g.person.status == s).count();
    assert!((0.42..0.48).contains(&share(count(RegistrationStatus::Registered), all.len())));
    assert!((0.37..0.43).contains(&share(count(RegistrationStatus::Deregistered), all.len())));
    assert!((0.12..0.18).contains(&share(count(RegistrationStatus::Identified), all.len())));
    let rqth = all.iter().filter(|g| g.person.rqth).count();
    assert!((0.02..0.04).contains(&share(rqth, all.len())));
    let oldest = dates::years_before(p.as_of, 20);
    for g in all {
        let x = &g.person;
        assert!(x.registered_on <= p.as_of && x.registered_on >= oldest);
        assert!(x.registered_on >= dates::years_before(x.birth_date, -16));
        match x.status {
            RegistrationStatus::Deregistered => {
                let left = x.deregistered_on.unwrap();
                assert!(left > x.registered_on && left <= p.as_of);
            }
            _ => assert!(x.deregistered_on.is_none()),
        }
    }
}

#[test]
fn names_and_contacts_are_plausible() {
    let (_, _, all) = sample();
    let d = data::data();
    let mut ft_ids = HashSet::new();
    let (mut no_email, mut no_phone) = (0, 0);
    for g in all {
        let p = &g.person;
        assert!(ft_ids.insert(p.ft_id), "FtId reused");
        if g.duplicate_of.is_none() {
            assert!(names::is_first_name_of(d, p.sex, &p.first_name), "{} {:?}", p.first_name, p.sex);
        }
        match &p.email {
            Some(e) => {
                let (local, domain) = e.split_once('@').unwrap();
                assert!(!local.is_empty() && local.is_ascii() && domain.contains('.'), "{e}");
                assert!(
                    local.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b)),
                    "{e}"
                );
            }
            None => no_email += 1,
        }
        match &p.phone {
            Some(ph) => assert!(ph.len() == 14 && (ph.starts_with("06 ") || ph.starts_with("07 ")), "{ph}"),
            None => no_phone += 1,
        }
        assert!(p.address.postcode.len() == 5 && p.address.street.contains(' '));
        assert!(!p.last_name.is_empty() && !p.first_name.is_empty());
    }
    assert!((0.07..0.13).contains(&share(no_email, all.len())), "{no_email}");
    assert!((0.04..0.10).contains(&share(no_phone, all.len())), "{no_phone}");
    // Homonyms occur: some (first, last) pairs repeat.
    let mut pairs: HashMap<(&str, &str), usize> = HashMap::new();
    for g in all {
        *pairs.entry((&g.person.first_name, &g.person.last_name)).or_default() += 1;
    }
    assert!(pairs.values().filter(|&&c| c > 1).count() > 50);
}

#[test]
fn world_is_well_formed() {
    let (_, w, _) = sample();
    assert_eq!(w.orgs.first().map(|o| o.id.get()), Some(1));
    assert_eq!(w.agents.first().map(|a| a.id.get()), Some(1));
    assert_eq!(w.teams.first().map(|t| t.id.get()), Some(1));
    assert_eq!(w.sessions.first().map(|s| s.id.get()), Some(1));
    let kinds = |k| w.orgs.iter().filter(|o| o.kind == k).count();
    assert_eq!((kinds(OrgKind::Agency), kinds(OrgKind::CapEmploi), kinds(OrgKind::MissionLocale)), (2, 1, 1));
    assert_eq!((kinds(OrgKind::TrainingOrg), kinds(OrgKind::Subcontractor)), (2, 1));
    let logins: HashSet<_> = w.agents.iter().map(|a| a.login.as_str()).collect();
    let emails: HashSet<_> = w.agents.iter().map(|a| a.email.as_str()).collect();
    assert_eq!((logins.len(), emails.len()), (w.agents.len(), w.agents.len()));
    for o in &w.orgs {
        let admins = w.agents.iter().filter(|a| a.org == o.id && a.role == Role::AccountAdmin).count();
        assert_eq!(admins, 1, "{}", o.name);
    }
    let officers: Vec<_> = w.agents.iter().filter(|a| a.role == Role::SecurityOfficer).collect();
    assert!(!officers.is_empty() && officers.iter().all(|a| a.org == w.orgs[0].id));
    for t in &w.teams {
        let members = |r| w.agents.iter().filter(|a| a.team == Some(t.id) && a.role == r).count();
        assert_eq!(members(Role::Manager), 1);
        assert!((6..=10).contains(&members(Role::Advisor)), "{}: {}", t.name, members(Role::Advisor));
    }
    for a in &w.agents {
        assert!(a.login.as_str().len() <= 64 && a.display_name.contains(' '));
    }
}

#[test]
fn relationships_reference_the_right_kinds() {
    let (p, w, all) = sample();
    let org_kind: HashMap<OrgId, OrgKind> = w.orgs.iter().map(|o| (o.id, o.kind)).collect();
    let agents: HashMap<AgentId, _> = w.agents.iter().map(|a| (a.id, a)).collect();
    let sessions: HashMap<SessionGroupId, _> = w.sessions.iter().map(|s| (s.id, s)).collect();
    let (mut active, mut ended, mut future) = (0, 0, 0);
    for g in all {
        for r in &g.relationships {
            let kind = org_kind[&r.org];
            match r.kind {
                RelationshipKind::Caseload => {
                    let a = agents[&r.agent.unwrap()];
                    assert!(matches!(kind, OrgKind::Agency | OrgKind::CapEmploi));
                    assert_eq!((a.org, a.role, a.team), (r.org, Role::Advisor, r.team));
                    assert_eq!(kind == OrgKind::CapEmploi, g.person.rqth);
                }
                RelationshipKind::FollowUp => assert!(kind == OrgKind::MissionLocale && g.person.youth),
                RelationshipKind::Enrolment => {
                    let s = sessions[&r.session.unwrap()];
                    assert_eq!(
                        (kind, s.org, r.valid_from, r.valid_to),
                        (OrgKind::TrainingOrg, r.org, s.starts_on, Some(s.ends_on))
                    );
                }
                RelationshipKind::Assignment => assert_eq!(kind, OrgKind::Subcontractor),
            }
            assert!(r.valid_to.is_none_or(|to| to > r.valid_from));
            if r.is_active_on(p.as_of) {
                active += 1;
            } else if r.valid_from > p.as_of {
                future += 1;
            } else {
                ended += 1;
            }
        }
    }
    assert!(active > 5_000 && ended > 1_000, "{active} active, {ended} ended");
    assert!(future < active / 10, "{future} in the future");
}

#[test]
fn sessions_have_ten_to_thirty_trainees() {
    let (p, w, all) = sample();
    let mut trainees: HashMap<SessionGroupId, usize> = HashMap::new();
    for g in all {
        for r in g.relationships.iter().filter(|r| r.kind == RelationshipKind::Enrolment) {
            *trainees.entry(r.session.unwrap()).or_default() += 1;
            assert_eq!(g.person.status, RegistrationStatus::Registered);
        }
    }
    assert!(w.sessions.len() >= 20);
    for s in &w.sessions {
        let n = trainees.get(&s.id).copied().unwrap_or(0);
        // A canary may hold (and waste) one seat.
        assert!((9..=30).contains(&n), "{}: {n}", s.name);
    }
    let enrolled: usize = trainees.values().sum();
    let registered = all.iter().filter(|g| g.person.status == RegistrationStatus::Registered).count();
    assert!((0.07..0.09).contains(&share(enrolled, registered)));
    assert!(w.sessions.iter().any(|s| s.ends_on <= p.as_of) && w.sessions.iter().any(|s| s.ends_on > p.as_of));
}

#[test]
fn caseloads_follow_the_capacity_modalities() {
    let (p, w, all) = sample();
    let mut load: HashMap<AgentId, usize> = HashMap::new();
    for r in all.iter().flat_map(|g| &g.relationships) {
        if r.kind == RelationshipKind::Caseload && r.is_active_on(p.as_of) {
            *load.entry(r.agent.unwrap()).or_default() += 1;
        }
    }
    // Realized caseloads track capacity: compare the mean caseload of each modality.
    let mut by_modality: [(usize, usize); 4] = [(0, 0); 4];
    for pool in w.agencies.pools.iter().chain(&w.cap_emploi.pools) {
        for a in &pool.advisors {
            let m = model::CAPACITY_MODALITIES.iter().position(|m| (m.1..=m.2).contains(&a.capacity)).unwrap();
            by_modality[m].0 += 1;
            by_modality[m].1 += load.get(&a.agent).copied().unwrap_or(0);
        }
    }
    let mean = |m: usize| by_modality[m].1 as f64 / by_modality[m].0.max(1) as f64;
    assert!(by_modality[0].0 > 10 && by_modality[1].0 > 10, "{by_modality:?}");
    assert!(mean(0) < 80.0 && (80.0..180.0).contains(&mean(1)), "{by_modality:?}");
    if by_modality[2].0 > 0 {
        assert!(mean(2) > mean(1));
    }
    let total_capacity: u64 = w.agencies.pools.iter().flat_map(|p| &p.advisors).map(|a| u64::from(a.capacity)).sum();
    let agency_load: usize =
        w.agencies.pools.iter().flat_map(|p| &p.advisors).map(|a| load.get(&a.agent).copied().unwrap_or(0)).sum();
    let ratio = agency_load as f64 / total_capacity as f64;
    assert!((0.8..1.05).contains(&ratio), "load/capacity {ratio}");
}

#[test]
fn a_national_world_builds_and_serves_high_ids() {
    let p = GenParams { seed: 7, persons: 43_000_000, as_of: date!(2026 - 03 - 02) };
    let w = world(&p);
    let kinds = |k| w.orgs.iter().filter(|o| o.kind == k).count();
    assert_eq!(kinds(OrgKind::Agency), 1720);
    assert_eq!(kinds(OrgKind::CapEmploi), 215);
    assert_eq!(kinds(OrgKind::MissionLocale), 430);
    assert_eq!(kinds(OrgKind::TrainingOrg), 2150);
    assert_eq!(kinds(OrgKind::Subcontractor), 86);
    // Every département has agencies of its own at this scale (no regional or national fallback).
    assert_eq!(w.agencies.serving.len(), 101);
    assert!(w.agencies.serving.iter().all(|s| (1..100).contains(&s.len())));
    let officers = w.agents.iter().filter(|a| a.role == Role::SecurityOfficer).count();
    assert_eq!(officers, 172);
    // No agent was lost to an over-long login: every team is complete.
    let mut members: HashMap<_, (usize, usize)> = HashMap::new();
    for a in &w.agents {
        if let Some(t) = a.team {
            let m = members.entry(t).or_default();
            if a.role == Role::Manager { m.0 += 1 } else { m.1 += 1 }
        }
    }
    assert_eq!(members.len(), w.teams.len());
    assert!(members.values().all(|&(managers, advisors)| managers == 1 && (6..=10).contains(&advisors)));
    let logins: HashSet<_> = w.agents.iter().map(|a| a.login.as_str()).collect();
    assert_eq!(logins.len(), w.agents.len());
    for id in [42_999_999, 43_000_000, 21_500_000] {
        let g = person_at(&p, &w, id);
        assert_eq!(g.person.id.get(), id);
        assert!(g.duplicate_of.is_none_or(|o| o.get() < id));
    }
}
