//! The simulated agency: the generator's registry held in memory (the [`Registry`] port the
//! guard reads, with relationships that appear during the run), its accounts, and each
//! account's working profile.

use std::sync::{Arc, RwLock};

use rand::Rng;
use vigie_core::ids::{AgentId, FtId, Login, OrgId, PersonId, TeamId};
use vigie_core::nir::Nir;
use vigie_core::org::{Agent, OrgKind, Organization, Role};
use vigie_core::person::{Person, ScopeEntry};
use vigie_core::ports::{Registry, StoreError};
use vigie_core::relationship::{Relationship, RelationshipKind};
use vigie_gen::GenParams;

use crate::rng::{Rand, normal};
use crate::time::SimClock;

/// What an account does all day: the traffic model picks its requests from this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Work {
    /// An agency or Cap emploi advisor following a caseload.
    Caseload,
    /// A team manager overseeing its team's caseloads.
    Oversight,
    /// A front-desk or phone agent: reaches persons who call or come in, by exact lookup.
    FrontDesk,
    /// A mission locale, training organization or subcontractor agent: its organization's
    /// follow-ups, enrolments or assignments.
    Partner,
    /// A partner software's integration account: steady volume at a machine's cadence.
    Service,
    /// Account administrators and security officers: no one's data.
    Admin,
}

impl Work {
    pub const ALL: [Work; 6] =
        [Work::Caseload, Work::Oversight, Work::FrontDesk, Work::Partner, Work::Service, Work::Admin];

    pub fn parse(s: &str) -> Option<Work> {
        Self::ALL.into_iter().find(|w| w.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Work::Caseload => "caseload",
            Work::Oversight => "oversight",
            Work::FrontDesk => "front_desk",
            Work::Partner => "partner",
            Work::Service => "service",
            Work::Admin => "admin",
        }
    }
}

/// One account of the simulated agency and how it works.
#[derive(Clone, Debug)]
pub struct SimAgent {
    pub agent: Agent,
    pub kind: OrgKind,
    pub work: Work,
    /// Median distinct persons on a working day (heavy-tailed across accounts of one role).
    pub daily: f64,
    /// Local time minus UTC, in hours (overseas départements: −4 to +4).
    pub utc_offset_h: i64,
    /// Local hour the working day starts.
    pub start_hour: f64,
    /// Does not work on Wednesdays (part time).
    pub off_wednesday: bool,
    /// The network the account usually signs in from (its site's NAT, shared) and its
    /// telework network.
    pub office_net: u64,
    pub home_net: u64,
    /// The providers of those networks (the site's operator, a consumer ISP).
    pub office_provider: u64,
    pub home_provider: u64,
    pub browser: vigie_core::signin::UaFamily,
    /// The account's sessions are bound to its device (DBSC: Chrome or Edge on a Windows PC
    /// with a TPM) when it works from its own computer.
    pub binds: bool,
    /// Created during the run (a new hire): its creation time.
    pub created_at: Option<i64>,
    /// Leaves during the run: the day index it stops working.
    pub leaves_on: Option<i32>,
}

impl SimAgent {
    /// The exact browser build the account runs on `day`: its organization's fleet, updated
    /// every four weeks, rolled out over a week (so a new build appears for whole
    /// organizations at once, the commonest benign "new build").
    pub fn build_on(&self, day: i32) -> u32 {
        let version = (day + 28 * 10 + (self.agent.org.get() % 7) as i32).div_euclid(28) as u32;
        (self.browser as u32) << 24 | (version & 0xff_ffff)
    }
}

/// One person's lookup keys (the rest of the record is generated on demand).
#[derive(Clone, Copy, Debug)]
struct Keys {
    nir: Nir,
    ft: FtId,
    birth: time::Date,
}

/// The registry in memory: relationships per person (the generator's, plus those created
/// during the run), the lookup indexes, and the generator to produce a record when the guard
/// releases one.
pub struct SimRegistry {
    params: GenParams,
    gen_world: vigie_gen::World,
    keys: Vec<Keys>,
    by_nir: Vec<(Nir, u32)>,
    by_ft: Vec<(FtId, u32)>,
    /// The generator's relationships, per person (index = id − 1): fixed for the run.
    relationships: Vec<Vec<Relationship>>,
    /// Relationships that appeared during the run, per person index, each with the moment
    /// (ms) the registry learned of it: a guarded request sees those known at its own moment
    /// ([`RegistryAt`]), so a day's requests can go through the guard in any order.
    added: RwLock<foldhash::HashMap<u32, Vec<(i64, Relationship)>>>,
    agents: foldhash::HashMap<AgentId, Agent>,
    orgs: foldhash::HashMap<OrgId, Organization>,
}

impl std::fmt::Debug for SimRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimRegistry").field("persons", &self.keys.len()).finish_non_exhaustive()
    }
}

impl SimRegistry {
    pub fn persons(&self) -> u64 {
        self.keys.len() as u64
    }

    /// A person's exact lookup keys (what a front desk is told, or a leaked file holds).
    pub fn nir_key(&self, p: PersonId) -> Option<(Nir, time::Date)> {
        self.keys.get(index(p)?).map(|k| (k.nir, k.birth))
    }

    pub fn ft_key(&self, p: PersonId) -> Option<(FtId, time::Date)> {
        self.keys.get(index(p)?).map(|k| (k.ft, k.birth))
    }

    /// Adds a relationship (a caseload handed over, a cover, an inbound contact, an enrolment)
    /// that the registry learns of at `known_at` (ms): requests from that moment see it.
    pub fn add(&self, r: Relationship, known_at: i64) {
        let Some(i) = index(r.person).and_then(|i| u32::try_from(i).ok()) else { return };
        if i as usize >= self.relationships.len() {
            return;
        }
        if let Ok(mut added) = self.added.write() {
            added.entry(i).or_default().push((known_at, r));
        }
    }

    /// The registry as a request at `at` (ms) sees it.
    pub fn at(self: &Arc<Self>, at: i64) -> RegistryAt {
        RegistryAt { registry: self.clone(), at }
    }

    /// The relationships of `person` active on `day` and known at `at`.
    fn relationships_at(&self, person: PersonId, day: time::Date, at: i64) -> Result<Vec<Relationship>, StoreError> {
        let Some(i) = index(person) else { return Ok(Vec::new()) };
        let mut out: Vec<Relationship> = match self.relationships.get(i) {
            Some(rs) => rs.iter().filter(|r| r.is_active_on(day)).cloned().collect(),
            None => return Ok(Vec::new()),
        };
        let added = self.added.read().map_err(|_| StoreError("registry lock poisoned".into()))?;
        if let Some(more) = added.get(&(i as u32)) {
            out.extend(more.iter().filter(|(k, r)| *k <= at && r.is_active_on(day)).map(|(_, r)| r.clone()));
        }
        Ok(out)
    }

    pub fn add_agent(&mut self, a: Agent) {
        self.agents.insert(a.id, a);
    }
}

fn index(p: PersonId) -> Option<usize> {
    usize::try_from(p.get()).ok()?.checked_sub(1)
}

fn id_of(i: u32) -> Option<PersonId> {
    PersonId::new(u64::from(i) + 1)
}

/// The registry as seen by a request at one moment: relationships the registry had not yet
/// learned of are not there.
#[derive(Debug, Clone)]
pub struct RegistryAt {
    registry: Arc<SimRegistry>,
    at: i64,
}

impl Registry for RegistryAt {
    fn active_relationships(&self, person: PersonId, day: time::Date) -> Result<Vec<Relationship>, StoreError> {
        self.registry.relationships_at(person, day, self.at)
    }

    fn person(&self, person: PersonId) -> Result<Option<Person>, StoreError> {
        self.registry.person(person)
    }

    fn find_by_nir(&self, nir: &Nir, birth: time::Date) -> Result<Vec<PersonId>, StoreError> {
        self.registry.find_by_nir(nir, birth)
    }

    fn find_by_ft_id(&self, ft: &FtId, birth: time::Date) -> Result<Vec<PersonId>, StoreError> {
        self.registry.find_by_ft_id(ft, birth)
    }

    fn scope_page(
        &self,
        agent: &Agent,
        after: Option<PersonId>,
        limit: usize,
        day: time::Date,
    ) -> Result<Vec<(ScopeEntry, Relationship)>, StoreError> {
        self.registry.scope_page(agent, after, limit, day)
    }

    fn agent(&self, id: AgentId) -> Result<Option<Agent>, StoreError> {
        self.registry.agent(id)
    }

    fn organization(&self, id: OrgId) -> Result<Option<Organization>, StoreError> {
        self.registry.organization(id)
    }
}

/// Everything the registry knows by the end of the run (the traffic model's view).
impl Registry for SimRegistry {
    fn active_relationships(&self, person: PersonId, day: time::Date) -> Result<Vec<Relationship>, StoreError> {
        self.relationships_at(person, day, i64::MAX)
    }

    fn person(&self, person: PersonId) -> Result<Option<Person>, StoreError> {
        if person.get() > self.persons() {
            return Ok(None);
        }
        Ok(Some(vigie_gen::person_at(&self.params, &self.gen_world, person.get()).person))
    }

    fn find_by_nir(&self, nir: &Nir, birth: time::Date) -> Result<Vec<PersonId>, StoreError> {
        let start = self.by_nir.partition_point(|(n, _)| n < nir);
        Ok(self.by_nir[start..]
            .iter()
            .take_while(|(n, _)| n == nir)
            .filter(|(_, i)| self.keys.get(*i as usize).is_some_and(|k| k.birth == birth))
            .filter_map(|&(_, i)| id_of(i))
            .collect())
    }

    fn find_by_ft_id(&self, ft: &FtId, birth: time::Date) -> Result<Vec<PersonId>, StoreError> {
        let start = self.by_ft.partition_point(|(n, _)| n < ft);
        Ok(self.by_ft[start..]
            .iter()
            .take_while(|(n, _)| n == ft)
            .filter(|(_, i)| self.keys.get(*i as usize).is_some_and(|k| k.birth == birth))
            .filter_map(|&(_, i)| id_of(i))
            .collect())
    }

    /// Not used by the simulated traffic (scope lists are driven through [`SimWorld::reach`]);
    /// answers from the relationships anyway, slowly, so that the port is complete.
    fn scope_page(
        &self,
        agent: &Agent,
        after: Option<PersonId>,
        limit: usize,
        day: time::Date,
    ) -> Result<Vec<(ScopeEntry, Relationship)>, StoreError> {
        let from = after.and_then(index).map_or(0, |i| i + 1);
        let mut out = Vec::new();
        for i in from..self.relationships.len() {
            if out.len() >= limit {
                break;
            }
            let Some(id) = id_of(i as u32) else { continue };
            let rs = self.active_relationships(id, day)?;
            let Some(r) = rs.iter().find(|r| {
                r.is_active_on(day)
                    && r.org == agent.org
                    && (r.kind != RelationshipKind::Caseload
                        || r.agent == Some(agent.id)
                        || (r.team.is_some() && r.team == agent.team))
            }) else {
                continue;
            };
            let p = vigie_gen::person_at(&self.params, &self.gen_world, id.get()).person;
            out.push((
                ScopeEntry { id, last_name: p.last_name, first_name: p.first_name, relationship: r.kind },
                r.clone(),
            ));
        }
        Ok(out)
    }

    fn agent(&self, id: AgentId) -> Result<Option<Agent>, StoreError> {
        Ok(self.agents.get(&id).cloned())
    }

    fn organization(&self, id: OrgId) -> Result<Option<Organization>, StoreError> {
        Ok(self.orgs.get(&id).cloned())
    }
}

/// Persons an account reaches through the relationships it was given, with their validity as
/// day indexes of the run (`[from, to)`).
#[derive(Clone, Debug, Default)]
pub struct Reach {
    pub persons: Vec<(PersonId, i32, i32)>,
}

impl Reach {
    /// A person reachable on day `d`, drawn uniformly (a few tries: most are active).
    pub fn pick(&self, rng: &mut Rand, d: i32) -> Option<PersonId> {
        if self.persons.is_empty() {
            return None;
        }
        for _ in 0..12 {
            let (p, from, to) = self.persons[rng.gen_range(0..self.persons.len())];
            if from <= d && d < to {
                return Some(p);
            }
        }
        None
    }

    pub fn active_on(&self, d: i32) -> impl Iterator<Item = PersonId> + '_ {
        self.persons.iter().filter(move |(_, f, t)| *f <= d && d < *t).map(|(p, _, _)| *p)
    }
}

/// The whole simulated agency.
pub struct SimWorld {
    pub registry: Arc<SimRegistry>,
    pub orgs: Vec<Organization>,
    pub agents: Vec<SimAgent>,
    /// Per account (same index as `agents`): whom it reaches through its own relationships.
    pub reach: Vec<Reach>,
    /// Per team and per organization: whom they reach (managers, cover, reassignment).
    pub team_reach: foldhash::HashMap<TeamId, Reach>,
    pub org_reach: foldhash::HashMap<OrgId, Reach>,
    /// Every canary (identifier space and scope lists), and the canaries placed in scope lists
    /// by whom they reach (nobody works with them: they are not in the reaches above).
    pub canaries: Vec<PersonId>,
    pub scope_canaries: Vec<PersonId>,
    pub canary_agent: foldhash::HashMap<AgentId, Reach>,
    pub canary_team: foldhash::HashMap<TeamId, Reach>,
    pub canary_org: foldhash::HashMap<OrgId, Reach>,
    /// Each organization's region (INSEE code).
    pub regions: foldhash::HashMap<OrgId, &'static str>,
    pub clock: SimClock,
    next_agent: u64,
}

impl std::fmt::Debug for SimWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimWorld")
            .field("persons", &self.registry.persons())
            .field("accounts", &self.agents.len())
            .finish_non_exhaustive()
    }
}

/// Sizes of a world.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorldSize {
    pub persons: u64,
    /// At least this many accounts: front-desk agents and integration accounts are added to the
    /// generator's advisors until there are.
    pub accounts: usize,
}

impl SimWorld {
    /// Builds the world for `seed`: the generator's registry (persons, organizations, agents,
    /// relationships) and the accounts and profiles the generator does not have. `progress` is
    /// called with the persons done.
    pub fn build(seed: u64, size: WorldSize, clock: SimClock, mut progress: impl FnMut(u64)) -> SimWorld {
        let params = GenParams { seed, persons: size.persons.max(1), as_of: clock.start_date() };
        let gen_world = vigie_gen::world(&params);
        let n = params.persons as usize;
        let mut keys = Vec::with_capacity(n);
        let mut relationships = Vec::with_capacity(n);
        let mut canaries = Vec::new();
        let mut scope_canaries = Vec::new();
        let mut by_agent: foldhash::HashMap<AgentId, Reach> = Default::default();
        let mut team_reach: foldhash::HashMap<TeamId, Reach> = Default::default();
        let mut org_reach: foldhash::HashMap<OrgId, Reach> = Default::default();
        let mut canary_agent: foldhash::HashMap<AgentId, Reach> = Default::default();
        let mut canary_team: foldhash::HashMap<TeamId, Reach> = Default::default();
        let mut canary_org: foldhash::HashMap<OrgId, Reach> = Default::default();
        for (i, g) in vigie_gen::persons(&params, &gen_world).enumerate() {
            if i % 65_536 == 0 {
                progress(i as u64);
            }
            let p = &g.person;
            keys.push(Keys { nir: p.nir, ft: p.ft_id, birth: p.birth_date });
            if g.canary || g.scope_canary {
                canaries.push(p.id);
            }
            if g.scope_canary {
                scope_canaries.push(p.id);
            }
            let (agents, teams, orgs) = if g.scope_canary {
                (&mut canary_agent, &mut canary_team, &mut canary_org)
            } else {
                (&mut by_agent, &mut team_reach, &mut org_reach)
            };
            for r in &g.relationships {
                let from = clock.day_index(r.valid_from);
                let to = r.valid_to.map_or(i32::MAX, |d| clock.day_index(d));
                let entry = (p.id, from, to);
                if let (RelationshipKind::Caseload, Some(a)) = (r.kind, r.agent) {
                    agents.entry(a).or_default().persons.push(entry);
                    if let Some(t) = r.team {
                        teams.entry(t).or_default().persons.push(entry);
                    }
                }
                orgs.entry(r.org).or_default().persons.push(entry);
            }
            relationships.push(g.relationships);
        }
        progress(n as u64);
        let mut by_nir: Vec<(Nir, u32)> = keys.iter().enumerate().map(|(i, k)| (k.nir, i as u32)).collect();
        by_nir.sort_unstable();
        let mut by_ft: Vec<(FtId, u32)> = keys.iter().enumerate().map(|(i, k)| (k.ft, i as u32)).collect();
        by_ft.sort_unstable();

        let orgs = gen_world.orgs.clone();
        let regions = gen_world.regions.iter().copied().collect();
        let kind_of: foldhash::HashMap<OrgId, OrgKind> = orgs.iter().map(|o| (o.id, o.kind)).collect();
        let mut rng = crate::rng::rand_for(seed, "world", 0);
        let mut agents = Vec::new();
        let mut reach = Vec::new();
        for a in &gen_world.agents {
            let kind = kind_of.get(&a.org).copied().unwrap_or(OrgKind::Agency);
            let own = by_agent.remove(&a.id).unwrap_or_default();
            let work = match (kind, a.role) {
                (_, Role::AccountAdmin | Role::SecurityOfficer) => Work::Admin,
                (OrgKind::Agency | OrgKind::CapEmploi, Role::Manager) => Work::Oversight,
                (OrgKind::Agency | OrgKind::CapEmploi, _) => Work::Caseload,
                _ => Work::Partner,
            };
            let caseload = own.persons.len() as f64;
            agents.push(profile(&mut rng, a.clone(), kind, work, caseload));
            reach.push(own);
        }
        let max_agent = gen_world.agents.iter().map(|a| a.id.get()).max().unwrap_or(0);
        let registry = SimRegistry {
            params,
            gen_world,
            keys,
            by_nir,
            by_ft,
            relationships,
            added: RwLock::new(Default::default()),
            agents: Default::default(),
            orgs: orgs.iter().map(|o| (o.id, o.clone())).collect(),
        };
        let mut world = SimWorld {
            registry: Arc::new(registry),
            orgs,
            agents,
            reach,
            team_reach,
            org_reach,
            canaries,
            scope_canaries,
            canary_agent,
            canary_team,
            canary_org,
            regions,
            clock,
            next_agent: max_agent + 1,
        };
        world.add_accounts(&mut rng, size.accounts);
        if let Some(reg) = Arc::get_mut(&mut world.registry) {
            for a in &world.agents {
                reg.add_agent(a.agent.clone());
            }
        }
        world
    }

    /// Front-desk agents in agencies (one per eight advisors, as platforms and reception
    /// desks are staffed) and integration accounts (one per subcontractor, one per ten
    /// training organizations), then more front-desk agents until `min` accounts.
    fn add_accounts(&mut self, rng: &mut Rand, min: usize) {
        let agencies: Vec<OrgId> = self.orgs.iter().filter(|o| o.kind == OrgKind::Agency).map(|o| o.id).collect();
        let advisors = self.agents.iter().filter(|a| a.work == Work::Caseload).count();
        let front = (advisors / 8).max(agencies.len());
        let partners: Vec<OrgId> = self
            .orgs
            .iter()
            .filter(|o| o.kind == OrgKind::Subcontractor)
            .chain(self.orgs.iter().filter(|o| o.kind == OrgKind::TrainingOrg).step_by(10))
            .map(|o| o.id)
            .collect();
        for &org in &partners {
            self.new_account(rng, org, OrgKind::Subcontractor, Work::Service);
        }
        if agencies.is_empty() {
            return;
        }
        let mut i = 0;
        while i < front || self.agents.len() < min {
            let org = agencies[i % agencies.len()];
            self.new_account(rng, org, OrgKind::Agency, Work::FrontDesk);
            i += 1;
        }
    }

    /// A new account in `org` (a generated agent of the simulation; `created_at` unset: it
    /// exists from the start). Returns its index.
    pub fn new_account(&mut self, rng: &mut Rand, org: OrgId, kind: OrgKind, work: Work) -> usize {
        let kind = self.orgs.iter().find(|o| o.id == org).map_or(kind, |o| o.kind);
        let n = self.next_agent;
        self.next_agent += 1;
        let id = AgentId::new(n).unwrap_or_else(unreachable_agent);
        let login: Login = format!("sim.{n}").parse().unwrap_or_else(|_| fallback_login());
        let agent = Agent {
            id,
            login,
            display_name: format!("Simulated agent {n}"),
            email: format!("sim.{n}@agency.invalid"),
            org,
            role: Role::Advisor,
            team: None,
            active: true,
        };
        let caseload = if work == Work::Service { 400.0 } else { 0.0 };
        self.agents.push(profile(rng, agent.clone(), kind, work, caseload));
        self.reach.push(Reach::default());
        if let Some(reg) = Arc::get_mut(&mut self.registry) {
            reg.add_agent(agent);
        }
        self.agents.len() - 1
    }
}

#[allow(clippy::unwrap_used, reason = "1 is a valid agent id")]
fn unreachable_agent() -> AgentId {
    AgentId::new(1).unwrap()
}

#[allow(clippy::unwrap_used, reason = "a constant valid login")]
fn fallback_login() -> Login {
    "sim.agent".parse().unwrap()
}

/// An account's working profile: volume heavy-tailed (log-normal, σ = 0.5) around its role's
/// median, hours, part time, overseas time zone, networks.
fn profile(rng: &mut Rand, agent: Agent, kind: OrgKind, work: Work, caseload: f64) -> SimAgent {
    let median = match work {
        // Each person of the caseload seen every three to four weeks.
        Work::Caseload => (caseload / 18.0).clamp(3.0, 60.0),
        Work::Oversight => 12.0,
        Work::FrontDesk => 22.0,
        Work::Partner => match kind {
            OrgKind::TrainingOrg => 10.0,
            OrgKind::MissionLocale => 14.0,
            _ => 25.0,
        },
        Work::Service => 120.0,
        Work::Admin => 0.0,
    };
    let sigma = if work == Work::Service { 0.15 } else { 0.5 };
    let daily = median * (sigma * normal(rng)).exp();
    // Overseas départements hold about 3 % of job seekers: a few sites run on their clock.
    let overseas = matches!(kind, OrgKind::Agency | OrgKind::MissionLocale) && agent.org.get() % 33 == 7;
    let utc_offset_h = if overseas { [-4, -3, 3, 4][(agent.org.get() % 4) as usize] } else { 2 };
    let site = agent.org.get().wrapping_mul(0x9e37_79b9_7f4a_7c15);
    // Providers: the site's operator (a few national ones), a consumer ISP at home (four).
    let office_provider = 0x0ff1_ce00 + agent.org.get() % 6;
    let home_provider = 0x40_4e00 + rng.gen_range(0..4u64);
    let browser =
        if rng.gen_bool(0.7) { vigie_core::signin::UaFamily::Edge } else { vigie_core::signin::UaFamily::Chrome };
    SimAgent {
        kind,
        work,
        daily,
        utc_offset_h,
        start_hour: 8.0 + 1.2 * rng.r#gen::<f64>(),
        off_wednesday: work != Work::Service && rng.gen_bool(0.12),
        office_net: site,
        home_net: rng.r#gen::<u64>() | 1,
        office_provider,
        home_provider,
        browser: if work == Work::Service { vigie_core::signin::UaFamily::Tool } else { browser },
        binds: work != Work::Service && rng.gen_bool(0.6),
        created_at: None,
        leaves_on: None,
        agent,
    }
}
