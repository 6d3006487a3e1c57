//! Scenarios turned into incidents: a victim account (or several), a start, and the attacker's
//! requests, drawn per seed from the scenario's ranges. The stream is the same for every
//! system: an attacker that is refused keeps asking, and each system answers for itself.

use rand::Rng;
use rand::seq::SliceRandom;
use vigie_core::ids::PersonId;
use vigie_core::org::OrgKind;
use vigie_core::relationship::{Relationship, RelationshipKind};

use crate::rng::{Rand, normal, rand_for};
use crate::scenario::{Access, Network, Scenario, Targets, VictimBy};
use crate::time::{DAY, HOUR};
use crate::traffic::{Net, Op, Plan, Request, SimSession, Who};
use crate::world::{SimWorld, Work};

/// One incident of a run: a scenario played against chosen accounts.
#[derive(Clone, Debug)]
pub struct Incident {
    /// Index of the scenario.
    pub scenario: usize,
    /// The accounts the attacker reads through (indexes into the world's agents).
    pub accounts: Vec<u32>,
    /// The account taken over, when the attacker reads through accounts it created.
    pub admin: Option<u32>,
    pub access: Access,
    /// First malicious request (ms, UTC).
    pub start: i64,
    /// When created accounts become usable under four-eyes (a second administrator approves).
    pub approved_at: Option<i64>,
}

/// The attacker's requests of all incidents, and their sessions.
#[derive(Debug, Default)]
pub struct Attacks {
    pub incidents: Vec<Incident>,
    pub requests: Vec<Request>,
}

/// How long a second administrator takes to approve a request under four-eyes.
const APPROVAL_DELAY: i64 = 2 * HOUR;

/// Draws one incident per scenario for `seed`, adding the accounts it creates to `world` and
/// the sessions it uses to `sessions`.
pub fn plan(
    world: &mut SimWorld,
    plan: &Plan,
    scenarios: &[Scenario],
    seed: u64,
    sessions: &mut Vec<SimSession>,
) -> Attacks {
    let mut out = Attacks::default();
    for (k, sc) in scenarios.iter().enumerate() {
        let rng = &mut rand_for(seed, "attack", k as u64);
        let Some(a) = &sc.attack else { continue };
        let want_kind = a.victim_kind;
        let want_role = a.victim_role;
        let org_name = a.org.as_deref();
        let mut eligible: Vec<u32> = world
            .agents
            .iter()
            .enumerate()
            .filter(|(i, s)| {
                s.kind == want_kind
                    && s.agent.role == want_role
                    && match a.work {
                        Some(w) => s.work == w,
                        None => matches!(s.work, Work::Caseload | Work::Partner | Work::Admin | Work::Oversight),
                    }
                    && s.created_at.is_none()
                    && (a.access == Access::CreatedAccounts
                        || !world.reach[*i].persons.is_empty()
                        || s.work != Work::Caseload)
                    && org_name.is_none_or(|n| world.orgs.iter().any(|o| o.id == s.agent.org && o.name == n))
            })
            .map(|(i, _)| i as u32)
            .collect();
        if a.victim_by == VictimBy::ScopeSize {
            // The attacker who can choose takes the largest scopes (the top 5 %).
            let size = |i: u32| scope_size(world, i as usize);
            eligible.sort_by_key(|&i| std::cmp::Reverse(size(i)));
            eligible.truncate((eligible.len() / 20).max(1));
        }
        let Some(&first) = (if a.during_burst {
            // A victim whose team runs a campaign during the evaluation days.
            eligible
                .iter()
                .filter(|&&i| {
                    plan.bursts[i as usize].iter().any(|b| b.within_h <= 1.0 && b.from >= a.start_day.low as i32)
                })
                .collect::<Vec<_>>()
                .choose(rng)
                .copied()
                .or_else(|| eligible.choose(rng))
        } else {
            eligible.choose(rng)
        }) else {
            continue;
        };
        let victim = world.agents[first as usize].clone();
        // Distributed: more accounts of the same organization and role; or, with `orgs`, one
        // account in each of that many organizations (a campaign across partners).
        let k_accounts = a.accounts.draw(rng).round().max(1.0) as usize;
        let mut accounts = vec![first];
        if let Some(orgs) = a.orgs {
            let n_orgs = orgs.draw(rng).round().max(1.0) as usize;
            let mut by_org: Vec<(vigie_core::ids::OrgId, Vec<u32>)> = Vec::new();
            for &i in &eligible {
                let org = world.agents[i as usize].agent.org;
                match by_org.iter_mut().find(|(o, _)| *o == org) {
                    Some((_, v)) => v.push(i),
                    None => by_org.push((org, vec![i])),
                }
            }
            by_org.retain(|(o, _)| *o != victim.agent.org);
            by_org.shuffle(rng);
            let mut per_org = vec![vec![first]];
            for (_, mut v) in by_org.into_iter().take(n_orgs.saturating_sub(1)) {
                v.shuffle(rng);
                per_org.push(v);
            }
            // Round robin over the organizations until `accounts` accounts.
            accounts.clear();
            let mut round = 0;
            while accounts.len() < k_accounts.max(per_org.len()) && round < 50 {
                for v in &per_org {
                    if let Some(&x) = v.get(round)
                        && accounts.len() < k_accounts.max(per_org.len())
                    {
                        accounts.push(x);
                    }
                }
                round += 1;
            }
        } else {
            let mut mates: Vec<u32> = eligible
                .iter()
                .copied()
                .filter(|&i| i != first && world.agents[i as usize].agent.org == victim.agent.org)
                .collect();
            mates.shuffle(rng);
            accounts.extend(mates.into_iter().take(k_accounts - 1));
        }
        // One operator's infrastructure: its network(s), their provider, its browser build.
        let operator = a.shared_infrastructure.then(|| {
            let nets: Vec<u64> = (0..rng.gen_range(1..=2)).map(|_| rng.r#gen::<u64>() | 1).collect();
            (nets, rng.r#gen::<u64>() | 1, rng.r#gen::<u32>() | 1)
        });
        let stagger = a.stagger_minutes.draw(rng);
        let hit_rate = a.hit_rate.draw(rng);

        let mut day = a.start_day.draw(rng).round() as i32;
        if a.during_burst
            && let Some(b) =
                plan.bursts[first as usize].iter().find(|b| b.within_h <= 1.0 && b.from >= a.start_day.low as i32)
        {
            day = b.from;
        }
        let hour = a.start_hour.draw(rng);
        let start = world.clock.at(day, hour, victim.utc_offset_h);
        let pace = a.pace_per_minute.draw(rng);
        let duration = (a.duration_hours.draw(rng) * HOUR as f64) as i64;
        let jitter = a.jitter.draw(rng);
        let cap = a.daily_cap.map(|c| c.draw(rng).round().max(1.0) as u32);
        let incident = out.incidents.len() as u16;

        let mut admin = None;
        let mut approved_at = None;
        if a.access == Access::CreatedAccounts {
            // The hacked administrator asks for accounts in its organization; they read through
            // them once a second administrator approves (four-eyes) — or at once without a guard.
            admin = Some(first);
            let n = a.created.draw(rng).round().max(1.0) as usize;
            accounts.clear();
            for _ in 0..n {
                let i = world.new_account(rng, victim.agent.org, victim.kind, Work::Caseload);
                world.agents[i].created_at = Some(start);
                world.agents[i].leaves_on = Some(0);
                accounts.push(i as u32);
            }
            approved_at = Some(start + APPROVAL_DELAY);
        }

        let per_account_pace = pace / accounts.len() as f64;
        for (n, &acct) in accounts.iter().enumerate() {
            let s = &world.agents[acct as usize];
            let day_n = day + ((n as f64 * stagger) / (24.0 * 60.0)) as i32;
            // The attacker's session: the victim's own (a stolen cookie, an infostealer or a
            // rider on the victim's machine) or one it opened itself (a phished factor, created
            // accounts), from its own network or its operator's shared one.
            let own_network = matches!(a.access, Access::PhishedSecondFactor | Access::StolenPassword);
            let (network, provider, build, ua) = match &operator {
                Some((nets, provider, build)) => {
                    (nets[n % nets.len()], *provider, *build, vigie_core::signin::UaFamily::Chrome)
                }
                None if own_network => (
                    rng.r#gen::<u64>() | 1,
                    rng.r#gen::<u64>() | 1,
                    rng.r#gen::<u32>() | 1,
                    vigie_core::signin::UaFamily::Tool,
                ),
                None => (s.office_net, s.office_provider, s.build_on(day_n), s.browser),
            };
            let victims_machine = operator.is_none() && !own_network;
            let sign_in = vigie_core::ports::SignInContext {
                network,
                ua_family: Some(ua),
                account_created_at: s.created_at.map(vigie_core::time::Timestamp),
                created_by: admin.map(|i| world.agents[i as usize].agent.id),
                approved_by: None,
                previous_sign_in: Some(vigie_core::time::Timestamp(start - DAY)),
                concurrent_sessions: 0,
                credential_changed_at: a.credentials_reset.then(|| vigie_core::time::Timestamp(start - HOUR)),
                provider,
                build,
                device_bound: victims_machine && s.binds,
                service: (s.work == Work::Service).then(|| crate::traffic::envelope(s)),
            };
            let session = sessions.len() as u32;
            sessions.push(SimSession { agent: acct, sign_in, probation: s.created_at.is_some() });
            let net = if a.network == Network::Foreign { Net::Foreign } else { Net::Same };
            let targets = targets(world, acct as usize, a.targets, rng, day, hit_rate);
            let mut t =
                start + (n as i64) * 7_000 + (n as f64 * stagger * 60_000.0) as i64 + approved_at.map_or(0, |_| 60_000);
            let end = start + duration;
            let gap_ms = 60_000.0 / per_account_pace.max(1e-6);
            let mut today = world.clock.day_of(t);
            let mut today_count = 0u32;
            for op in targets {
                if t >= end {
                    break;
                }
                if let Some(c) = cap {
                    if world.clock.day_of(t) != today {
                        today = world.clock.day_of(t);
                        today_count = 0;
                    }
                    if today_count >= c {
                        // Low and slow: wait for the victim's next working morning.
                        let next = world.clock.at(today + 1, hour, s.utc_offset_h);
                        t = next;
                        today = world.clock.day_of(t);
                        today_count = 0;
                        if t >= end {
                            break;
                        }
                    }
                    today_count += 1;
                }
                if a.fabricate
                    && let Some(p) = person_of(&op)
                {
                    let date = world.clock.date(world.clock.day_of(t));
                    if a.lookup_first {
                        // Look the key up (refused: not in scope yet), then create, then read.
                        out.requests.push(Request {
                            at: t - 2_000,
                            agent: acct,
                            session,
                            op: op.clone(),
                            who: Who::Attack(incident),
                            net,
                            reason: None,
                        });
                    }
                    out.requests.push(Request {
                        at: t - 1_000,
                        agent: acct,
                        session,
                        op: Op::Create(fabricated(world, acct as usize, p, date)),
                        who: Who::Attack(incident),
                        net,
                        reason: None,
                    });
                }
                out.requests.push(Request {
                    at: t,
                    agent: acct,
                    session,
                    op,
                    who: Who::Attack(incident),
                    net,
                    reason: None,
                });
                let g = gap_ms * (1.0 + jitter * normal(rng)).clamp(0.05, 5.0);
                t += g.max(1.0) as i64;
            }
        }
        out.incidents.push(Incident { scenario: k, accounts, admin, access: a.access, start, approved_at });
    }
    out
}

fn person_of(op: &Op) -> Option<PersonId> {
    match op {
        Op::View(p) | Op::Lookup { person: p, typo: false, .. } => Some(*p),
        Op::Lookup { .. } | Op::Relate(_) | Op::Create(_) => None,
    }
}

/// How many persons an account's scope holds today (its own, its team's or its
/// organization's reach, by its work).
fn scope_size(world: &SimWorld, i: usize) -> usize {
    let a = &world.agents[i];
    match a.work {
        Work::Caseload => world.reach[i].persons.len(),
        Work::Oversight => a.agent.team.and_then(|t| world.team_reach.get(&t)).map_or(0, |r| r.persons.len()),
        _ => world.org_reach.get(&a.agent.org).map_or(0, |r| r.persons.len()),
    }
}

/// The attacker's list of requests, in order; long enough for any pace and duration here.
fn targets(
    world: &SimWorld,
    acct: usize,
    how: Targets,
    rng: &mut Rand,
    day: i32,
    hit_rate: f64,
) -> impl Iterator<Item = Op> + use<> {
    let n = world.registry.persons().max(1);
    // Its scope, as its list shows it: the persons it reaches and the canaries placed there.
    let who = &world.agents[acct];
    let org = who.agent.org;
    let (reach, canaries) = match who.work {
        Work::Caseload => (world.reach.get(acct), world.canary_agent.get(&who.agent.id)),
        Work::Oversight => (
            who.agent.team.and_then(|t| world.team_reach.get(&t)),
            who.agent.team.and_then(|t| world.canary_team.get(&t)),
        ),
        _ => (world.org_reach.get(&org), world.canary_org.get(&org)),
    };
    let mut reach: Vec<PersonId> = reach
        .map(|r| r.active_on(day).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(canaries.map(|c| c.active_on(day).collect::<Vec<_>>()).unwrap_or_default())
        .collect();
    if reach.is_empty() {
        reach = crate::traffic::org_persons(world, org, day);
        reach.extend(world.canary_org.get(&org).map(|c| c.active_on(day).collect::<Vec<_>>()).unwrap_or_default());
    }
    reach.sort_unstable();
    reach.dedup();
    let list = reach.clone();
    reach.shuffle(rng);
    let start = rng.gen_range(1..=n);
    let seed: u64 = rng.r#gen();
    let mut region = crate::traffic::org_persons(world, org, day);
    region.shuffle(rng);
    let leaked = move |k: u64| {
        // A leaked file's keys: persons spread over the whole registry.
        let x = (seed ^ k).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        PersonId::new(x % n + 1)
    };
    // A key from the leak matches someone `hit_rate` of the time (stale or mistyped keys).
    let hits = move |k: u64| {
        let x = (seed ^ k ^ 0x5a5a).wrapping_mul(0xbf58_476d_1ce4_e5b9) >> 11;
        (x as f64 / (1u64 << 53) as f64) < hit_rate
    };
    let list: Box<dyn Iterator<Item = Op>> = match how {
        Targets::SequentialIds => {
            Box::new((0..).filter_map(move |k: u64| PersonId::new((start + k - 1) % n + 1)).map(Op::View))
        }
        Targets::LeakedKeys => Box::new(
            (0..).filter_map(move |k| leaked(k).map(|p| Op::Lookup { person: p, typo: !hits(k), by_ft: false })),
        ),
        Targets::FtIdKeys => Box::new(
            (0..).filter_map(move |k| leaked(k).map(|p| Op::Lookup { person: p, typo: !hits(k), by_ft: true })),
        ),
        Targets::ScopeList => Box::new(list.into_iter().map(Op::View)),
        Targets::Reach => {
            Box::new(reach.into_iter().map(Op::View).chain((0..).filter_map(leaked).map(|p| Op::Lookup {
                person: p,
                typo: false,
                by_ft: false,
            })))
        }
        Targets::Mimicry => Box::new(reach.into_iter().chain(region).map(Op::View)),
    };
    list.take(2_000_000)
}

/// A relationship the attacker creates to reach `p` (an appointment, a referral, an
/// enrolment, an assignment: whichever its organization holds).
fn fabricated(world: &SimWorld, i: usize, p: PersonId, date: time::Date) -> Relationship {
    let s = &world.agents[i];
    let kind = match s.kind {
        OrgKind::Agency | OrgKind::CapEmploi => RelationshipKind::Caseload,
        OrgKind::MissionLocale => RelationshipKind::FollowUp,
        OrgKind::TrainingOrg => RelationshipKind::Enrolment,
        OrgKind::Subcontractor => RelationshipKind::Assignment,
    };
    let caseload = kind == RelationshipKind::Caseload;
    Relationship {
        kind,
        person: p,
        org: s.agent.org,
        agent: caseload.then_some(s.agent.id),
        team: if caseload { s.agent.team } else { None },
        session: None,
        valid_from: date,
        valid_to: date.checked_add(time::Duration::days(30)),
    }
}
