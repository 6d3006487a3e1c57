//! The world: organizations, their teams and agents, training sessions, and the private tables
//! persons are assigned through (which advisors serve which département, with what capacity;
//! which training slot belongs to which session). Small (proportional to the number of agents,
//! not persons) and built once from the parameters.

use std::collections::HashSet;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use vigie_core::org::{Agent, OrgKind, Organization, Role, Team};
use vigie_core::relationship::TrainingSession;
use vigie_core::{AgentId, Login, OrgId, SessionGroupId, TeamId};

use crate::GenParams;
use crate::data::{Data, data};
use crate::dates::add_days;
use crate::model::{self, CAPACITY_MODALITIES};
use crate::names::{first_name, last_name};
use crate::orgs::{self, Sites, unique_slug};
use crate::rng::{Cumulative, Permutation, Stream, hash, rng_for};

/// Organizations, teams, agents and training sessions of a generated registry.
#[derive(Debug)]
pub struct World {
    pub orgs: Vec<Organization>,
    /// The region (INSEE code) of each organization's site, by organization (same order as
    /// `orgs`): which organizations a regional surge covers.
    pub regions: Vec<(OrgId, &'static str)>,
    pub teams: Vec<Team>,
    pub agents: Vec<Agent>,
    pub sessions: Vec<TrainingSession>,
    pub(crate) agencies: Pools,
    pub(crate) cap_emploi: Pools,
    /// Mission locales serving each département (by département index).
    pub(crate) missions_locales: Vec<Vec<OrgId>>,
    pub(crate) subcontractors: Vec<OrgId>,
    pub(crate) slots: Slots,
}

/// An advisor who can hold caseloads.
#[derive(Debug)]
pub(crate) struct Advisor {
    pub agent: AgentId,
    pub team: TeamId,
    pub capacity: u32,
}

/// One organization's advisors, drawn by capacity.
#[derive(Debug)]
pub(crate) struct Pool {
    pub org: OrgId,
    pub advisors: Vec<Advisor>,
    pub cum: Cumulative,
}

/// Caseload-holding organizations of one kind and the départements they serve.
#[derive(Debug, Default)]
pub(crate) struct Pools {
    pub pools: Vec<Pool>,
    pub serving: Vec<Vec<usize>>,
}

impl Pools {
    /// An organization serving `dept` (uniformly: each was sized for an equal share of it), then
    /// one of its advisors by capacity.
    pub(crate) fn pick(&self, rng: &mut ChaCha8Rng, dept: usize) -> Option<(OrgId, &Advisor)> {
        let serving = self.serving.get(dept).filter(|s| !s.is_empty())?;
        let pool = self.pools.get(serving[rng.gen_range(0..serving.len())])?;
        let advisor = pool.advisors.get(pool.cum.sample(rng))?;
        Some((pool.org, advisor))
    }
}

/// Training slots: person ids are permuted, and the first `total` positions are the seats of the
/// sessions in order (`ends` is cumulative), so every session gets exactly its size.
#[derive(Debug)]
pub(crate) struct Slots {
    pub total: u64,
    pub perm: Permutation,
    pub ends: Vec<u64>,
}

impl Slots {
    /// The index of the session person `id` holds a seat in, if any.
    pub(crate) fn session_of(&self, id: u64) -> Option<usize> {
        if self.total == 0 {
            return None;
        }
        let slot = self.perm.apply(id.wrapping_sub(1));
        (slot < self.total).then(|| self.ends.partition_point(|&end| end <= slot))
    }
}

fn scaled(persons: u64, per: u64, min: u64) -> usize {
    ((persons + per / 2) / per).max(min) as usize
}

/// Builds the world for these parameters (see the crate documentation for the formulas).
pub fn world(params: &GenParams) -> World {
    let data = data();
    let mut b = Builder {
        data,
        rng: rng_for(params.seed, Stream::World, 0),
        orgs: Vec::new(),
        teams: Vec::new(),
        agents: Vec::new(),
        locals: HashSet::new(),
        slugs: HashSet::new(),
        regions: Vec::new(),
    };
    let n = params.persons;
    let agencies = b.caseload_orgs(OrgKind::Agency, scaled(n, 25_000, 2), n as f64 * model::agency_caseload_share());
    // The national security team sits in the first agency: one officer per ten agencies.
    if let Some(first) = agencies.pools.first() {
        let (org, slug) = (first.org, b.slug_of(first.org));
        for _ in 0..(agencies.pools.len() / 10).max(1) {
            b.agent(org, &slug, "francetravail.fr", Role::SecurityOfficer, None);
        }
    }
    let cap_emploi =
        b.caseload_orgs(OrgKind::CapEmploi, scaled(n, 200_000, 1), n as f64 * model::cap_emploi_caseload_share());
    let missions = b.simple_orgs(OrgKind::MissionLocale, scaled(n, 100_000, 1), 3..=8);
    let training = b.simple_orgs(OrgKind::TrainingOrg, scaled(n, 20_000, 2), 2..=5);
    let subs = b.simple_orgs(OrgKind::Subcontractor, scaled(n, 500_000, 1), 3..=10);
    let (sessions, slots) = b.sessions(params, &training.0);
    World {
        missions_locales: missions.1.serving.iter().map(|v| v.iter().map(|&i| missions.0[i].0).collect()).collect(),
        subcontractors: subs.0.iter().map(|s| s.0).collect(),
        orgs: b.orgs,
        regions: b.regions,
        teams: b.teams,
        agents: b.agents,
        sessions,
        agencies,
        cap_emploi,
        slots,
    }
}

struct Builder {
    data: &'static Data,
    rng: ChaCha8Rng,
    orgs: Vec<Organization>,
    teams: Vec<Team>,
    agents: Vec<Agent>,
    /// Local parts of agents' logins and e-mails, unique across the world.
    locals: HashSet<String>,
    slugs: HashSet<String>,
    regions: Vec<(OrgId, &'static str)>,
}

impl Builder {
    fn slug_of(&self, org: OrgId) -> String {
        self.agents
            .iter()
            .find(|a| a.org == org)
            .and_then(|a| a.login.as_str().split_once('@').map(|(_, s)| s.to_owned()))
            .unwrap_or_default()
    }

    fn org(&mut self, kind: OrgKind, name: String, slug_hint: &str, dept: usize) -> Option<(OrgId, String, String)> {
        let id = OrgId::new(self.orgs.len() as u64 + 1)?;
        self.regions.push((id, self.data.depts.get(dept).map_or("", |d| d.region)));
        let slug = unique_slug(slug_hint, 22, &mut self.slugs);
        let domain = if kind == OrgKind::Agency { "francetravail.fr".to_owned() } else { format!("{slug}.fr") };
        self.orgs.push(Organization { id, kind, name, active: true });
        self.agent(id, &slug, &domain, Role::AccountAdmin, None);
        Some((id, slug, domain))
    }

    fn agent(&mut self, org: OrgId, slug: &str, domain: &str, role: Role, team: Option<TeamId>) -> Option<AgentId> {
        let id = AgentId::new(self.agents.len() as u64 + 1)?;
        let sex =
            if self.rng.gen_range(0..2) == 0 { vigie_core::person::Sex::Male } else { vigie_core::person::Sex::Female };
        let year = self.rng.gen_range(1962..=2000);
        let first = first_name(self.data, &mut self.rng, sex, year, false);
        let last = last_name(self.data, &mut self.rng, false);
        let mut base = String::new();
        // At most 14 + 1 + 18 characters, a few digits, '@' and a slug of at most 22: under the
        // 64 a login may have.
        base.push_str(first.slug.get(..14).unwrap_or(&first.slug).trim_end_matches('-'));
        base.push('.');
        base.push_str(last.slug.get(..18).unwrap_or(&last.slug).trim_end_matches('-'));
        let mut local = base.clone();
        let mut k = 2;
        while self.locals.contains(&local) {
            local = format!("{base}{k}");
            k += 1;
        }
        let login: Login = format!("{local}@{slug}").parse().ok()?;
        self.locals.insert(local.clone());
        self.agents.push(Agent {
            id,
            login,
            display_name: format!("{} {}", first.text, last.text),
            email: format!("{local}@{domain}"),
            org,
            role,
            team,
            active: true,
        });
        Some(id)
    }

    fn capacity(&mut self) -> u32 {
        let mut u = self.rng.gen_range(0..100);
        for (share, lo, hi) in CAPACITY_MODALITIES {
            if u < share {
                return self.rng.gen_range(lo..=hi);
            }
            u -= share;
        }
        100
    }

    fn name_for(&mut self, kind: OrgKind, sites: &Sites, i: usize) -> (String, String) {
        let (dept, commune) = sites.sites[i];
        let city = self.data.communes[commune].short_name();
        let d = &self.data.depts[dept];
        // k-th organization of this kind in the same city (or département for Cap emploi).
        let k =
            sites.sites[..i]
                .iter()
                .filter(|(dd, c)| {
                    if kind == OrgKind::CapEmploi { *dd == dept } else { self.data.communes[*c].short_name() == city }
                })
                .count();
        match kind {
            OrgKind::Agency => (orgs::agency_name(city, k), format!("ft-{city}")),
            OrgKind::CapEmploi => (orgs::cap_emploi_name(d.code, city, k), format!("capemploi{}", d.code)),
            OrgKind::MissionLocale => (orgs::mission_locale_name(city, k), format!("ml-{city}")),
            OrgKind::TrainingOrg => {
                let name = orgs::training_org_name(&mut self.rng, city, d.name, k);
                let hint = name.clone();
                (name, hint)
            }
            OrgKind::Subcontractor => {
                let name = orgs::subcontractor_name(i);
                let hint = name.split(' ').next().unwrap_or("sous-traitant").to_owned();
                (name, hint)
            }
        }
    }

    /// Organizations with teams of advisors sized so their capacity covers `load` caseloads,
    /// spread over the départements by population.
    fn caseload_orgs(&mut self, kind: OrgKind, count: usize, load: f64) -> Pools {
        let sites = orgs::place(self.data, &mut self.rng, count);
        let total_pop = self.data.population.total().max(1) as f64;
        let mut loads = vec![0.0; sites.sites.len()];
        for (dept, serving) in sites.serving.iter().enumerate() {
            let share = load * self.data.depts[dept].population as f64 / total_pop / serving.len().max(1) as f64;
            for &i in serving {
                loads[i] += share;
            }
        }
        let mut pools = Vec::new();
        for (i, &org_load) in loads.iter().enumerate() {
            let (name, hint) = self.name_for(kind, &sites, i);
            let label = name.clone();
            let Some((org, slug, domain)) = self.org(kind, name, &hint, sites.sites[i].0) else { continue };
            let mut caps = Vec::new();
            let mut sum = 0u64;
            while caps.len() < 6 || (sum as f64) < org_load {
                let c = self.capacity();
                sum += u64::from(c);
                caps.push(c);
            }
            if caps.len() == 11 {
                caps.push(self.capacity());
            }
            let teams = caps.len().div_ceil(10);
            let mut advisors = Vec::with_capacity(caps.len());
            for t in 0..teams {
                let Some(team) = TeamId::new(self.teams.len() as u64 + 1) else { continue };
                self.teams.push(Team { id: team, org, name: format!("{label} – équipe {}", t + 1) });
                self.agent(org, &slug, &domain, Role::Manager, Some(team));
                let (lo, hi) = (t * caps.len() / teams, (t + 1) * caps.len() / teams);
                for &capacity in &caps[lo..hi] {
                    if let Some(agent) = self.agent(org, &slug, &domain, Role::Advisor, Some(team)) {
                        advisors.push(Advisor { agent, team, capacity });
                    }
                }
            }
            let cum = Cumulative::new(advisors.iter().map(|a| u64::from(a.capacity)));
            pools.push(Pool { org, advisors, cum });
        }
        Pools { pools, serving: sites.serving }
    }

    /// Organizations with a few advisors and no teams; returns (org, commune index) and sites.
    fn simple_orgs(
        &mut self,
        kind: OrgKind,
        count: usize,
        advisors: std::ops::RangeInclusive<usize>,
    ) -> (Vec<(OrgId, usize)>, Sites) {
        let sites = orgs::place(self.data, &mut self.rng, count);
        let mut out = Vec::new();
        for i in 0..sites.sites.len() {
            let (name, hint) = self.name_for(kind, &sites, i);
            let Some((org, slug, domain)) = self.org(kind, name, &hint, sites.sites[i].0) else { continue };
            for _ in 0..self.rng.gen_range(advisors.clone()) {
                self.agent(org, &slug, &domain, Role::Advisor, None);
            }
            out.push((org, sites.sites[i].1));
        }
        (out, sites)
    }

    /// Training sessions of 10 to 30 seats, enough for the expected enrolments.
    fn sessions(&mut self, params: &GenParams, training: &[(OrgId, usize)]) -> (Vec<TrainingSession>, Slots) {
        let target = (params.persons as f64 * model::P_REGISTERED * model::P_ENROLLED).round() as u64;
        let mut sizes: Vec<u64> = Vec::new();
        let mut left = if training.is_empty() || target < 10 { 0 } else { target };
        while left >= 40 {
            let s = self.rng.gen_range(10..=30);
            sizes.push(s);
            left -= s;
        }
        match left {
            20.. => sizes.extend([left / 2, left - left / 2]),
            10.. => sizes.push(left),
            _ => {
                for s in sizes.iter_mut().filter(|s| **s < 30) {
                    if left == 0 {
                        break;
                    }
                    *s += 1;
                    left -= 1;
                }
            }
        }
        let mut sessions = Vec::with_capacity(sizes.len());
        let mut ends = Vec::with_capacity(sizes.len());
        let mut total = 0;
        for (k, &size) in sizes.iter().enumerate() {
            let (org, commune) = training[k % training.len()];
            let Some(id) = SessionGroupId::new(sessions.len() as u64 + 1) else { continue };
            // Sessions started up to ten months ago or start within six weeks; some have ended.
            let starts_on = add_days(params.as_of, self.rng.gen_range(-300..=45));
            let ends_on = add_days(starts_on, self.rng.gen_range(20..=200));
            let title = orgs::TRAINING_TITLES[self.rng.gen_range(0..orgs::TRAINING_TITLES.len())];
            let city = self.data.communes[commune].short_name();
            let name = format!("{title} – {city}, {:02}/{}", u8::from(starts_on.month()), starts_on.year());
            sessions.push(TrainingSession { id, org, name, starts_on, ends_on });
            total += size;
            ends.push(total);
        }
        let perm = Permutation::new(params.persons, hash(params.seed, Stream::Slots, 0));
        (sessions, Slots { total, perm, ends })
    }
}
