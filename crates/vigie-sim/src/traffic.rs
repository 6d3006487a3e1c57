//! Benign traffic: what the agency's accounts do all day, with the things that make real
//! detectors raise false alarms (research note §9): daily and weekly rhythms, public holidays
//! and the summer, overseas time zones, leave and returns from long leave, caseloads handed
//! over, cover for absent colleagues, convocation campaigns, training cohorts starting, new
//! hires on probation, leavers, front desks whose relationships arrive late (benign denials),
//! typos and retries, shared office networks, telework, new laptops, concurrent sessions;
//! front desks recording each inbound contact (a relationship created, then read), managers
//! declaring most convocation campaigns, surges of a team, an agency or a region (scenario
//! files), mobile carriers' networks shared by many agents, browser builds rolled out to whole
//! organizations at once, devices bound or not, misclicks on a scope list's lines (where its
//! canaries are), and integrations with a key-bound credential and a declared envelope.

use rand::Rng;
use rand::seq::SliceRandom;
use vigie_core::ids::{OrgId, PersonId, TeamId};
use vigie_core::relationship::{Relationship, RelationshipKind};

use crate::rng::{Rand, exponential, poisson, rand_for};
use crate::time::{DAY, HOUR, MINUTE};
use crate::world::{Reach, SimWorld, Work};

/// Who sends a request: the account's owner, or an attacker (the incident's index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    Benign,
    Attack(u16),
}

/// Where a request comes from, relative to the session's sign-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Net {
    /// The network and browser the session was opened from.
    Same,
    /// Another network (a cookie replayed elsewhere): the session binding ends it.
    Foreign,
}

/// What a request does.
#[derive(Clone, Debug)]
pub enum Op {
    /// Open a person's record.
    View(PersonId),
    /// An exact lookup by NIR and birth date (or France Travail id, `by_ft`): of this person,
    /// or (`typo`) a mistyped key that matches nobody.
    Lookup { person: PersonId, typo: bool, by_ft: bool },
    /// The registry gains a relationship (not a request: the world changing).
    Relate(Relationship),
    /// The account creates a relationship (an inbound contact recorded, a follow-up declared):
    /// judged by the detectors, then in the registry.
    Create(Relationship),
}

/// One request of the simulated stream.
#[derive(Clone, Debug)]
pub struct Request {
    pub at: i64,
    /// Index of the account in [`SimWorld::agents`].
    pub agent: u32,
    /// The session it presents (an index into the run's sessions).
    pub session: u32,
    pub op: Op,
    pub who: Who,
    pub net: Net,
    /// The reason the owner gives when asked (a reassigned caseload, a campaign…).
    pub reason: Option<vigie_core::ports::AccessReason>,
}

/// A session: opened once, presented by its requests. Its sign-in context is what the session
/// layer learnt (network, browser, the account's age and last sign-in).
#[derive(Clone, Debug)]
pub struct SimSession {
    pub agent: u32,
    pub sign_in: vigie_core::ports::SignInContext,
    pub probation: bool,
}

/// Per-account events planned for the whole run: leave, bursts, arrivals and departures.
#[derive(Debug, Default)]
pub struct Plan {
    /// Per account: days off (besides weekends and holidays).
    pub leave: Vec<Vec<(i32, i32)>>,
    /// Per account: extra persons to read on a day, from another reach (a caseload handed
    /// over, a cover, a campaign), with the reason the owner gives.
    pub bursts: Vec<Vec<Burst>>,
    /// Per account: the last sign-in before the run (long leave: dormant when it returns).
    pub previous_sign_in: Vec<Option<i64>>,
    /// Campaigns declared by managers, with the moment they are declared (the morning).
    pub declarations: Vec<(i64, vigie_core::campaign::CampaignDeclaration)>,
    /// The surges of the scenario files.
    pub surges: Vec<SurgePlan>,
}

/// A surge drawn from a scenario: its accounts read `factor` times their usual on its days.
#[derive(Clone, Debug)]
pub struct SurgePlan {
    /// Index of the scenario.
    pub scenario: usize,
    /// Indexes of the accounts covered, sorted.
    pub agents: Vec<u32>,
    pub from: i32,
    pub to: i32,
    pub factor: f64,
}

impl SurgePlan {
    pub fn covers(&self, agent: u32, day: i32) -> bool {
        self.from <= day && day < self.to && self.agents.binary_search(&agent).is_ok()
    }
}

#[derive(Clone, Debug)]
pub struct Burst {
    pub from: i32,
    pub to: i32,
    /// Persons a day.
    pub per_day: f64,
    pub source: Source,
    pub reason: vigie_core::ports::AccessReason,
    /// Read within this many hours from the start of the day (a campaign: one hour).
    pub within_h: f64,
}

#[derive(Clone, Debug)]
pub enum Source {
    Team(TeamId),
    Agent(u32),
}

/// Benign behaviour rates, per account and week unless said otherwise.
mod rates {
    pub const HANDOVER_WEEK: f64 = 0.006;
    pub const COVER_WEEK: f64 = 0.012;
    pub const CAMPAIGN_DAY: f64 = 0.003;
    pub const LONG_LEAVE: f64 = 0.01;
    pub const TELEWORK_DAY: f64 = 0.22;
    pub const NEW_NETWORK_DAY: f64 = 0.02;
    pub const NEW_BROWSER_DAY: f64 = 0.004;
    pub const CONCURRENT_DAY: f64 = 0.05;
    pub const TYPO: f64 = 0.04;
    pub const LATE_RELATIONSHIP: f64 = 0.2;
    pub const NOT_HELD_VIEW: f64 = 0.02;
    /// A line of the scope list opened by mistake or curiosity, instead of the person meant
    /// (about 1 % of a list's lines are canaries).
    pub const LIST_MISCLICK: f64 = 0.002;
    /// Campaigns a manager declares ahead (the others are run by the agent alone).
    pub const CAMPAIGN_DECLARED: f64 = 0.8;
    /// Of days on a new network, those on a mobile carrier's shared addresses (the rest: a
    /// hotel, a partner's office, a relative's), and the carriers' pool of /24s in use.
    pub const CARRIER_SHARE: f64 = 0.5;
    pub const CARRIER_NETWORKS: u64 = 400;
    /// Of days on a new network, those on another device (not bound).
    pub const OTHER_DEVICE: f64 = 0.5;
}

impl Plan {
    /// Draws leave, bursts and long-leave returns for every account of `world`.
    pub fn draw(world: &SimWorld, seed: u64, days: i32, scenarios: &[crate::scenario::Scenario]) -> Plan {
        let n = world.agents.len();
        let mut plan = Plan {
            leave: vec![Vec::new(); n],
            bursts: vec![Vec::new(); n],
            previous_sign_in: vec![None; n],
            declarations: Vec::new(),
            surges: Vec::new(),
        };
        let start = world.clock.start_ms();
        let weeks = f64::from(days) / 7.0;
        let mut by_team: foldhash::HashMap<TeamId, Vec<u32>> = Default::default();
        for (i, a) in world.agents.iter().enumerate() {
            if let (Work::Caseload, Some(t)) = (a.work, a.agent.team) {
                by_team.entry(t).or_default().push(i as u32);
            }
        }
        for (i, a) in world.agents.iter().enumerate() {
            let rng = &mut rand_for(seed, "plan", i as u64);
            // Two to three weeks of summer leave, mostly in August, and a week in autumn.
            let summer = rng.gen_range(-10..20);
            plan.leave[i].push((summer, summer + rng.gen_range(10..21)));
            if rng.gen_bool(0.5) {
                let d = rng.gen_range(20..days.max(21));
                plan.leave[i].push((d, d + rng.gen_range(3..8)));
            }
            if rng.gen_bool(rates::LONG_LEAVE) {
                // Back from a long leave (sick leave, parental leave): dormant on its return.
                let back = rng.gen_range(1..days.max(2));
                plan.leave[i].push((-200, back));
                plan.previous_sign_in[i] = Some(start - rng.gen_range(100..300) * DAY);
            }
            if a.work != Work::Caseload {
                continue;
            }
            let Some(team) = a.agent.team else { continue };
            let mates: Vec<u32> = by_team
                .get(&team)
                .map(|m| m.iter().copied().filter(|&j| j as usize != i).collect())
                .unwrap_or_default();
            if poisson(rng, rates::HANDOVER_WEEK * weeks) > 0
                && let Some(&from) = mates.choose(rng)
            {
                // A caseload handed over: most of it reviewed in the first three days.
                let d = rng.gen_range(0..days);
                let size = world.reach[from as usize].persons.len() as f64;
                let burst = Burst {
                    from: d,
                    to: d + 3,
                    per_day: size * 0.6 / 3.0,
                    source: Source::Agent(from),
                    reason: vigie_core::ports::AccessReason::CaseloadTransfer,
                    within_h: 8.0,
                };
                plan.bursts[i].push(burst);
            }
            if poisson(rng, rates::COVER_WEEK * weeks) > 0 && !mates.is_empty() {
                let d = rng.gen_range(0..days);
                plan.bursts[i].push(Burst {
                    from: d,
                    to: d + 5,
                    per_day: 8.0,
                    source: Source::Team(team),
                    reason: vigie_core::ports::AccessReason::ColleagueCover,
                    within_h: 8.0,
                });
            }
            for _ in 0..poisson(rng, rates::CAMPAIGN_DAY * f64::from(days)) {
                let d = rng.gen_range(0..days);
                let per_day = rng.gen_range(100.0..200.0);
                plan.bursts[i].push(Burst {
                    from: d,
                    to: d + 1,
                    per_day,
                    source: Source::Team(team),
                    reason: vigie_core::ports::AccessReason::Campaign,
                    within_h: 1.0,
                });
                // Most convocation campaigns are the team's: its manager declares them.
                let decl = &mut rand_for(seed, "declare", (i as u64) << 20 | d as u64);
                if decl.gen_bool(rates::CAMPAIGN_DECLARED) {
                    let day_start = world.clock.at(d, 0.0, a.utc_offset_h);
                    plan.declare(world, i, Some(team), day_start, 1, (per_day * 1.2).ceil() as u32);
                }
            }
        }
        for (k, sc) in scenarios.iter().enumerate() {
            if let Some(sg) = &sc.surge {
                plan.draw_surge(world, seed, k, sg);
            }
        }
        plan.declarations.sort_by_key(|(at, _)| *at);
        plan
    }

    /// A campaign declared by the manager of `agent`'s team (or its organization's first
    /// manager), from `from` for `days` days, `persons` a day per agent.
    fn declare(&mut self, world: &SimWorld, agent: usize, team: Option<TeamId>, from: i64, days: i64, persons: u32) {
        let a = &world.agents[agent];
        let manager = world
            .agents
            .iter()
            .find(|m| {
                m.agent.org == a.agent.org
                    && m.agent.role == vigie_core::org::Role::Manager
                    && (team.is_none() || m.agent.team == team)
            })
            .map_or(a.agent.id, |m| m.agent.id);
        self.declarations.push((
            from,
            vigie_core::campaign::CampaignDeclaration {
                org: a.agent.org,
                team,
                declared_by: manager,
                reason: vigie_core::ports::AccessReason::Campaign,
                persons_per_agent: persons.clamp(1, vigie_core::campaign::MAX_CAMPAIGN_PERSONS),
                from: vigie_core::time::Timestamp(from),
                until: vigie_core::time::Timestamp(from + days * DAY),
            },
        ));
    }

    /// Draws one surge scenario: whom it covers, when, how strong; declares it if the
    /// scenario says the managers do.
    fn draw_surge(&mut self, world: &SimWorld, seed: u64, k: usize, sg: &crate::scenario::Surge) {
        use crate::scenario::SurgeScope;
        use vigie_core::org::OrgKind;
        let rng = &mut rand_for(seed, "surge", k as u64);
        let working = |w: Work| matches!(w, Work::Caseload | Work::Oversight | Work::FrontDesk | Work::Partner);
        let agents: Vec<u32> = match sg.scope {
            SurgeScope::Team => {
                let mut teams: Vec<TeamId> = world.agents.iter().filter_map(|a| a.agent.team).collect();
                teams.sort_unstable();
                teams.dedup();
                let Some(&team) = teams.choose(rng) else { return };
                (0..world.agents.len() as u32)
                    .filter(|&i| {
                        world.agents[i as usize].agent.team == Some(team) && working(world.agents[i as usize].work)
                    })
                    .collect()
            }
            SurgeScope::Agency => {
                let agencies: Vec<OrgId> =
                    world.orgs.iter().filter(|o| o.kind == OrgKind::Agency).map(|o| o.id).collect();
                let Some(&org) = agencies.choose(rng) else { return };
                (0..world.agents.len() as u32)
                    .filter(|&i| world.agents[i as usize].agent.org == org && working(world.agents[i as usize].work))
                    .collect()
            }
            SurgeScope::Region => {
                let mut regions: Vec<&str> = world
                    .orgs
                    .iter()
                    .filter(|o| o.kind == OrgKind::Agency)
                    .filter_map(|o| world.regions.get(&o.id).copied())
                    .collect();
                regions.sort_unstable();
                regions.dedup();
                let Some(&region) = regions.choose(rng) else { return };
                let covered = |org: OrgId| {
                    world.regions.get(&org) == Some(&region)
                        && world.orgs.iter().any(|o| {
                            o.id == org
                                && matches!(o.kind, OrgKind::Agency | OrgKind::CapEmploi | OrgKind::MissionLocale)
                        })
                };
                (0..world.agents.len() as u32)
                    .filter(|&i| covered(world.agents[i as usize].agent.org) && working(world.agents[i as usize].work))
                    .collect()
            }
        };
        let from = sg.start_day.draw(rng).round() as i32;
        let to = from + sg.days.draw(rng).round().max(1.0) as i32;
        let factor = sg.factor.draw(rng);
        if sg.declared {
            // Each organization's (or the team's) manager declares it, with a generous volume.
            let mut seen: Vec<(OrgId, Option<TeamId>)> = Vec::new();
            for &i in &agents {
                let a = &world.agents[i as usize];
                let team = if sg.scope == SurgeScope::Team { a.agent.team } else { None };
                if seen.contains(&(a.agent.org, team)) {
                    continue;
                }
                seen.push((a.agent.org, team));
                let mut dailies: Vec<f64> = agents
                    .iter()
                    .map(|&j| &world.agents[j as usize])
                    .filter(|b| b.agent.org == a.agent.org)
                    .map(|b| b.daily)
                    .collect();
                dailies.sort_by(f64::total_cmp);
                let typical = dailies.get(dailies.len() * 3 / 4).copied().unwrap_or(20.0);
                let persons = ((factor - 1.0) * typical * 1.5).ceil() as u32;
                let at = world.clock.at(from, 0.0, a.utc_offset_h);
                self.declare(world, i as usize, team, at, i64::from(to - from), persons.max(10));
            }
        }
        self.surges.push(SurgePlan { scenario: k, agents, from, to, factor });
    }

    /// How many times its usual volume account `i` reads on `day` (1 outside surges).
    pub fn surge_factor(&self, i: u32, day: i32) -> f64 {
        self.surges.iter().filter(|s| s.covers(i, day)).map(|s| s.factor).fold(1.0, f64::max)
    }

    fn on_leave(&self, agent: usize, day: i32) -> bool {
        self.leave.get(agent).is_some_and(|l| l.iter().any(|&(f, t)| f <= day && day < t))
    }
}

/// The benign requests and sessions of one day, in no particular order.
#[derive(Debug)]
pub struct DayTraffic {
    pub requests: Vec<Request>,
}

/// Generates day `day`'s benign traffic, opening sessions in `sessions`.
pub fn benign_day(
    world: &SimWorld,
    plan: &Plan,
    seed: u64,
    day: i32,
    sessions: &mut Vec<SimSession>,
    last_sign_in: &mut [Option<i64>],
) -> DayTraffic {
    let mut out = Vec::new();
    let clock = world.clock;
    let date = clock.date(day);
    for (i, a) in world.agents.iter().enumerate() {
        if a.work == Work::Admin || plan.on_leave(i, day) || a.leaves_on.is_some_and(|d| day >= d) {
            continue;
        }
        let service = a.work == Work::Service;
        if !service && (!clock.working(day) || (a.off_wednesday && date.weekday() == time::Weekday::Wednesday)) {
            continue;
        }
        let rng = &mut rand_for(seed, "day", (i as u64) << 20 | day as u64);
        let scale = if service { 1.0 } else { clock.season(day) * clock.weekday_factor(day) };
        let surge = if plan.surges.is_empty() { 1.0 } else { plan.surge_factor(i as u32, day) };
        let mut n = poisson(rng, a.daily * scale * surge);
        let bursts: Vec<&Burst> = plan.bursts[i].iter().filter(|b| b.from <= day && day < b.to).collect();
        if n == 0 && bursts.is_empty() {
            continue;
        }
        // The day's session (a second, concurrent one now and then: another tab, a second PC).
        let day_start = clock.at(day, a.start_hour, a.utc_offset_h);
        let new_network = rng.gen_bool(rates::NEW_NETWORK_DAY);
        let (network, provider) = if new_network {
            // Elsewhere: half the time a mobile carrier's shared addresses (a pool many agents
            // of many organizations meet), else a network nobody else uses.
            let more = &mut rand_for(seed, "net", (i as u64) << 20 | day as u64);
            if more.gen_bool(rates::CARRIER_SHARE) {
                let carrier = more.gen_range(0..3u64);
                let net =
                    (0xca77_1e40_0000 + carrier * rates::CARRIER_NETWORKS + more.gen_range(0..rates::CARRIER_NETWORKS))
                        << 1;
                (net | 1, 0xca77_1e40 + carrier)
            } else {
                (rng.r#gen::<u64>() | 1, 0x0e15_e000 + more.gen_range(0..40u64))
            }
        } else if !service && rng.gen_bool(rates::TELEWORK_DAY) {
            (a.home_net, a.home_provider)
        } else {
            (a.office_net, a.office_provider)
        };
        let browser =
            if rng.gen_bool(rates::NEW_BROWSER_DAY) { vigie_core::signin::UaFamily::Firefox } else { a.browser };
        let other_device =
            new_network && rand_for(seed, "device", (i as u64) << 20 | day as u64).gen_bool(rates::OTHER_DEVICE);
        let prev = last_sign_in[i].or(plan.previous_sign_in[i]);
        let sign_in = vigie_core::ports::SignInContext {
            network,
            ua_family: Some(browser),
            account_created_at: a.created_at.map(vigie_core::time::Timestamp),
            created_by: None,
            approved_by: None,
            previous_sign_in: prev.map(vigie_core::time::Timestamp),
            concurrent_sessions: u8::from(rng.gen_bool(rates::CONCURRENT_DAY)),
            credential_changed_at: None,
            provider,
            build: if browser == a.browser { a.build_on(day) } else { 0x0f00_0000 | (day as u32 / 28) },
            device_bound: a.binds && !other_device && browser == a.browser,
            service: service.then(|| envelope(a)),
        };
        last_sign_in[i] = Some(day_start);
        let probation = a.created_at.is_some_and(|c| day_start - c < 14 * DAY);
        let session = sessions.len() as u32;
        sessions.push(SimSession { agent: i as u32, sign_in, probation });
        let hours = if service { 10.0 } else { 8.5 };
        let when = |rng: &mut Rand, within: f64| -> i64 {
            // A lunch dip: a draw in 12:00–13:30 is moved to the afternoon half the time.
            let mut h = rng.r#gen::<f64>() * within;
            if (4.0..5.5).contains(&h) && rng.gen_bool(0.5) {
                h += 1.5;
            }
            day_start + (h * HOUR as f64) as i64
        };
        let push_view = |out: &mut Vec<Request>, rng: &mut Rand, at: i64, p: PersonId, reason| {
            // Repeats: the same record opened again within minutes (distinct ≪ total).
            let repeats = 1 + poisson(rng, 0.6);
            for r in 0..repeats {
                let t = at + i64::from(r) * (exponential(rng, 4.0) * MINUTE as f64) as i64;
                out.push(Request {
                    at: t,
                    agent: i as u32,
                    session,
                    op: Op::View(p),
                    who: Who::Benign,
                    net: Net::Same,
                    reason,
                });
            }
        };
        match a.work {
            Work::Caseload | Work::Oversight | Work::Partner => {
                let reach: Option<&Reach> = match a.work {
                    Work::Caseload => world.reach.get(i),
                    Work::Oversight => a.agent.team.and_then(|t| world.team_reach.get(&t)),
                    _ => world.org_reach.get(&a.agent.org),
                };
                let team = a.agent.team.and_then(|t| world.team_reach.get(&t));
                for _ in 0..n {
                    let from_team = a.work == Work::Caseload && rng.gen_bool(0.15);
                    let src = if from_team { team } else { reach };
                    let Some(p) = src.and_then(|r| r.pick(rng, day)) else { continue };
                    let p = if rng.gen_bool(rates::NOT_HELD_VIEW) {
                        // A record whose relationship ended or has not arrived: a benign denial.
                        PersonId::new(rng.gen_range(1..=world.registry.persons())).unwrap_or(p)
                    } else {
                        p
                    };
                    // Now and then a line of the scope list opened by mistake: about one line in
                    // a hundred is a canary placed there.
                    let p = match misclick(world, a, i, seed, day, out.len()) {
                        Some(c) => c,
                        None => p,
                    };
                    let at = when(rng, hours);
                    push_view(&mut out, rng, at, p, None);
                }
                // A training organization reads its new cohort on the day the session starts.
                if a.kind == vigie_core::org::OrgKind::TrainingOrg
                    && let Some(r) = world.org_reach.get(&a.agent.org)
                {
                    for (p, from, _) in &r.persons {
                        if *from == day && rng.gen_bool(0.5) {
                            let at = when(rng, 3.0);
                            push_view(&mut out, rng, at, *p, Some(vigie_core::ports::AccessReason::CohortStart));
                        }
                    }
                }
            }
            Work::FrontDesk => {
                n = n.max(1);
                let org_reach = world.org_reach.get(&a.agent.org);
                for _ in 0..n {
                    // Someone calls or comes in: an exact lookup (mistyped now and then, then
                    // retyped), the contact creates the relationship (late a fifth of the time:
                    // the lookup is denied until it arrives), then the record is opened.
                    let Some(p) = org_reach.and_then(|r| r.pick(rng, day)) else { continue };
                    let at = when(rng, hours);
                    let mut t = at;
                    if rng.gen_bool(rates::TYPO) {
                        out.push(lookup(i, session, t, p, true));
                        t += 30_000;
                    }
                    let late = rng.gen_bool(rates::LATE_RELATIONSHIP);
                    let rel_at = if late { t + (rng.gen_range(0.5..4.0) * HOUR as f64) as i64 } else { t - 1 };
                    if late {
                        // The contact came through another channel (an appointment booked online):
                        // its relationship arrives later; the lookup is refused, then retried.
                        out.push(relate(i, session, rel_at, inbound(world, i, p, date)));
                        out.push(lookup(i, session, t, p, false));
                        out.push(lookup(i, session, rel_at + 60_000, p, false));
                    } else {
                        // The agent records the contact (a relationship it creates, by the key it
                        // was given), then opens the record.
                        out.push(Request {
                            at: rel_at,
                            agent: i as u32,
                            session,
                            op: Op::Create(inbound(world, i, p, date)),
                            who: Who::Benign,
                            net: Net::Same,
                            reason: None,
                        });
                    }
                    push_view(
                        &mut out,
                        rng,
                        rel_at.max(t) + 90_000,
                        p,
                        Some(vigie_core::ports::AccessReason::InboundContact),
                    );
                }
            }
            Work::Service => {
                // An integration: steady, machine-paced, over its organization's files.
                let reach = world.org_reach.get(&a.agent.org);
                let gap = (hours * HOUR as f64) / f64::from(n.max(1));
                for k in 0..n {
                    let Some(p) = reach.and_then(|r| r.pick(rng, day)) else { continue };
                    let at = day_start + (gap * f64::from(k) + rng.gen_range(-0.1..0.1) * gap) as i64;
                    out.push(Request {
                        at,
                        agent: i as u32,
                        session,
                        op: Op::View(p),
                        who: Who::Benign,
                        net: Net::Same,
                        reason: None,
                    });
                }
            }
            Work::Admin => {}
        }
        for b in bursts {
            let count = poisson(rng, b.per_day);
            let src: Option<&Reach> = match b.source {
                Source::Team(t) => world.team_reach.get(&t),
                Source::Agent(j) => world.reach.get(j as usize),
            };
            for _ in 0..count {
                let Some(p) = src.and_then(|r| r.pick(rng, day)) else { continue };
                if let Source::Agent(_) = b.source {
                    // The handed-over caseload's relationships, transferred to this account.
                    out.push(relate(i, session, day_start - 1, caseload(world, i, p, date)));
                }
                let at = when(rng, b.within_h);
                push_view(&mut out, rng, at, p, Some(b.reason));
            }
        }
    }
    DayTraffic { requests: out }
}

/// What a service account declared it reads: with room above its steady volume (an
/// integration's volume is planned; its envelope is approved with it).
pub fn envelope(a: &crate::world::SimAgent) -> vigie_core::service::Envelope {
    vigie_core::service::Envelope {
        persons_hour: (a.daily * 0.35).ceil().max(10.0) as u32,
        persons_day: (a.daily * 2.0).ceil().max(50.0) as u32,
    }
}

/// A scope list's line opened instead of the person meant: rarely, and then a canary of the
/// account's scope about one time in a hundred (their share of its list).
fn misclick(world: &SimWorld, a: &crate::world::SimAgent, i: usize, seed: u64, day: i32, k: usize) -> Option<PersonId> {
    let rng = &mut rand_for(seed, "misclick", (i as u64) << 40 | (day as u64) << 20 | k as u64);
    if !rng.gen_bool(rates::LIST_MISCLICK) {
        return None;
    }
    let canaries: Option<&Reach> = match a.work {
        Work::Caseload => world.canary_agent.get(&a.agent.id),
        Work::Oversight => a.agent.team.and_then(|t| world.canary_team.get(&t)),
        _ => world.canary_org.get(&a.agent.org),
    };
    let reach: Option<&Reach> = match a.work {
        Work::Caseload => world.reach.get(i),
        Work::Oversight => a.agent.team.and_then(|t| world.team_reach.get(&t)),
        _ => world.org_reach.get(&a.agent.org),
    };
    let lines = reach.map_or(0, |r| r.persons.len()) + canaries.map_or(0, |c| c.persons.len());
    let c = canaries?;
    if lines == 0 || !rng.gen_bool((c.persons.len() as f64 / lines as f64).min(1.0)) {
        return None;
    }
    c.pick(rng, day)
}

fn lookup(agent: usize, session: u32, at: i64, person: PersonId, typo: bool) -> Request {
    Request {
        at,
        agent: agent as u32,
        session,
        op: Op::Lookup { person, typo, by_ft: false },
        who: Who::Benign,
        net: Net::Same,
        reason: None,
    }
}

fn relate(agent: usize, session: u32, at: i64, r: Relationship) -> Request {
    Request { at, agent: agent as u32, session, op: Op::Relate(r), who: Who::Benign, net: Net::Same, reason: None }
}

/// A caseload relationship held by account `i` from `date` for a week (a cover, a handover).
pub fn caseload(world: &SimWorld, i: usize, p: PersonId, date: time::Date) -> Relationship {
    let a = &world.agents[i].agent;
    Relationship {
        kind: RelationshipKind::Caseload,
        person: p,
        org: a.org,
        agent: Some(a.id),
        team: a.team,
        session: None,
        valid_from: date,
        valid_to: date.checked_add(time::Duration::days(28)),
    }
}

/// The relationship an inbound contact creates: the front-desk agent holds the person for two
/// days.
fn inbound(world: &SimWorld, i: usize, p: PersonId, date: time::Date) -> Relationship {
    let mut r = caseload(world, i, p, date);
    r.valid_to = date.checked_add(time::Duration::days(2));
    r
}

/// An organization's persons (for attackers and tests).
pub fn org_persons(world: &SimWorld, org: OrgId, day: i32) -> Vec<PersonId> {
    world.org_reach.get(&org).map(|r| r.active_on(day).collect()).unwrap_or_default()
}
