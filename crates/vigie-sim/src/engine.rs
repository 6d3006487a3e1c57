//! One run: a world, its benign traffic and the incidents of the scenarios, replayed day by
//! day on the simulated clock through the real guard, and judged by every system.
//!
//! Each request goes once through [`Guard`] (relationships, Cedar, the record fetch, the
//! ledger port) with a detector that only records the events the guard produces. Every
//! system then judges those same events with its own detector and state, and applies the
//! guard's own release rule ([`VerdictAction::effective`]; the strictest verdict of a request
//! withholds all of it). Systems without relationships judge the events a broad-access
//! registry would have produced (every existing person, every category asked).

use std::sync::{Arc, Mutex};

use vigie_core::authz::Authz;
use vigie_core::category::{CategorySet, DataCategory};
use vigie_core::event::{AccessEvent, Decision, Verdict, VerdictAction};
use vigie_core::guard::{Caller, Guard, LookupKey, RequestMeta};
use vigie_core::ids::{PersonId, RequestId, SessionId};
use vigie_core::ports::{
    AccessLedger, AccessReason, DetectContext, Detector, LedgerError, LedgerReceipt, LifecycleAction, LifecycleKind,
};
use vigie_core::time::Timestamp;

use crate::attack::{self, Attacks};
use crate::metrics::{Flag, SystemMetrics};
use crate::scenario::{Access, Scenario};
use crate::systems::{SystemDetector, SystemSpec};
use crate::time::{HOUR, SimClock};
use crate::traffic::{self, Net, Op, Plan, Request, SimSession, Who};
use crate::world::{SimWorld, WorldSize};

/// What a run needs.
#[derive(Clone, Debug)]
pub struct RunParams {
    pub seed: u64,
    pub size: WorldSize,
    pub days: u32,
    pub warmup_days: u32,
    pub start: time::Date,
    pub systems: Vec<SystemSpec>,
}

/// Progress of a run, for a bar.
#[derive(Clone, Copy, Debug)]
pub enum Progress {
    /// Building the registry: persons done of total.
    World { done: u64, total: u64 },
    /// A simulated day done (of `days`), with the requests so far.
    Day { day: u32, days: u32, requests: u64 },
}

/// What one run measured, per system.
#[derive(Debug)]
pub struct RunOutcome {
    pub seed: u64,
    pub incidents: Vec<attack::Incident>,
    pub systems: Vec<(SystemSpec, SystemMetrics)>,
    pub requests: u64,
    pub events: u64,
    pub accounts: usize,
    pub persons: u64,
    /// Benign agent-days of the evaluation days (the denominator of false-positive rates).
    pub agent_days: u64,
    /// Benign agent-days per organization kind and work (`agency (front_desk)`).
    pub agent_days_by_kind: Vec<(String, u64)>,
    pub agent_days_per_day: Vec<u64>,
    pub build_seconds: f64,
    pub run_seconds: f64,
    /// The organization kind and the work of each account (by index).
    pub agent_kinds: Vec<vigie_core::org::OrgKind>,
    pub agent_work: Vec<crate::world::Work>,
    /// Each account's agent id (by index), for alerts that name accounts.
    pub agent_ids: Vec<u64>,
    /// The surges of the scenarios: their benign agent-days (evaluation days).
    pub surges: Vec<SurgeOutcome>,
}

/// A surge's agent-days: (account, day) pairs with benign work on the surge's days.
#[derive(Debug, Clone)]
pub struct SurgeOutcome {
    pub scenario: usize,
    pub agent_days: Vec<(u32, i32)>,
}

impl RunOutcome {
    pub fn kind_of(&self, agent: u32) -> Option<vigie_core::org::OrgKind> {
        self.agent_kinds.get(agent as usize).copied()
    }
}

/// Records the events the guard produces (and allows them: each system judges for itself).
#[derive(Debug, Default)]
struct Tap {
    events: Mutex<Vec<AccessEvent>>,
}

impl Detector for Tap {
    fn assess(&self, event: &AccessEvent, _context: &DetectContext) -> Verdict {
        if let Ok(mut v) = self.events.lock() {
            v.push(event.clone());
        }
        Verdict::allow()
    }
}

/// The ledger port in memory: counts what would be made durable (the simulator measures
/// containment, not the disk; the ledger has its own benchmark).
#[derive(Debug, Default)]
struct CountingLedger {
    count: std::sync::atomic::AtomicU64,
}

impl AccessLedger for CountingLedger {
    fn append(&self, events: &[AccessEvent]) -> Result<LedgerReceipt, LedgerError> {
        let n = events.len() as u64;
        let first = self.count.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        Ok(LedgerReceipt { first, count: n })
    }

    fn record(&self, events: &[vigie_core::security::SecurityEvent]) -> Result<LedgerReceipt, LedgerError> {
        Ok(LedgerReceipt { first: 0, count: events.len() as u64 })
    }
}

/// A system's run: its detector, what it has ended or suspended, what it measured.
struct SystemRun {
    spec: SystemSpec,
    detector: SystemDetector,
    /// Per session: elevated until (ms), ended.
    elevated_until: Vec<i64>,
    ended: Vec<bool>,
    /// Per account: suspended from (ms).
    suspended_from: Vec<i64>,
    /// Relationship creations this system refused, (account, person): the registry has them
    /// (one world for every system), so this system's reads through them are refused.
    refused_rel: vigie_core::detect::FastSet<(u32, PersonId)>,
    /// Per account: when its manager lifts a pace throttle (`i64::MAX`: none pending).
    lift_at: Vec<i64>,
    metrics: SystemMetrics,
}

/// How long a manager takes to look at a pace throttle on a benign agent and lift it.
const MANAGER_LIFT_MS: i64 = HOUR;

thread_local! {
    static TRACE: bool = std::env::var_os("VIGIE_SIM_TRACE").is_some();
}

/// How long a step-up elevates a session (the server's default).
const ELEVATION_MS: i64 = 15 * 60_000;
/// When the SOC acts on the nightly report: the next morning.
const SOC_MORNING_MS: i64 = 8 * HOUR;

/// Runs one seed.
pub fn run(params: &RunParams, scenarios: &[Scenario], progress: &mut dyn FnMut(Progress)) -> RunOutcome {
    let began = std::time::Instant::now();
    let clock = SimClock::new(params.start);
    let total = params.size.persons;
    let mut world = SimWorld::build(params.seed, params.size, clock, |done| progress(Progress::World { done, total }));
    let days = params.days as i32;
    let plan = Plan::draw(&world, params.seed, days, scenarios);
    let mut sessions: Vec<SimSession> = Vec::new();
    let mut attacks = attack::plan(&mut world, &plan, scenarios, params.seed, &mut sessions);
    attacks.requests.sort_by_key(|r| r.at);
    let build_seconds = began.elapsed().as_secs_f64();
    let began = std::time::Instant::now();

    let authz = Arc::new(shipped_authz());
    let ledger: Arc<dyn AccessLedger> = Arc::new(CountingLedger::default());
    let n_agents = world.agents.len();
    let mut systems: Vec<SystemRun> = params
        .systems
        .iter()
        .map(|spec| SystemRun {
            detector: spec.detector(&world.canaries, &world.scope_canaries),
            spec: spec.clone(),
            elevated_until: Vec::new(),
            ended: Vec::new(),
            suspended_from: vec![i64::MAX; n_agents],
            refused_rel: Default::default(),
            lift_at: vec![i64::MAX; n_agents],
            metrics: SystemMetrics::new(attacks.incidents.len()),
        })
        .collect();
    let mut declared = 0usize;
    let mut surge_days: Vec<SurgeOutcome> =
        plan.surges.iter().map(|sp| SurgeOutcome { scenario: sp.scenario, agent_days: Vec::new() }).collect();
    let canaries: vigie_core::detect::FastSet<PersonId> = world.canaries.iter().copied().collect();

    // Account creations by hacked administrators, judged by each system's lifecycle check.
    for (k, inc) in attacks.incidents.iter().enumerate() {
        let Some(admin) = inc.admin else { continue };
        for sys in &mut systems {
            for _ in &inc.accounts {
                let v = sys.detector.lifecycle(&LifecycleAction {
                    at: Timestamp(inc.start),
                    actor: world.agents[admin as usize].agent.id,
                    org: world.agents[admin as usize].agent.org,
                    kind: LifecycleKind::Request,
                });
                // Under Vigie every creation waits for a second administrator (four-eyes),
                // whatever the detector says; elsewhere it is immediate.
                let held = sys.spec.sign_in() || v.action != VerdictAction::Allow;
                sys.metrics.creation(k, held);
            }
        }
    }

    // From an incident's start, its accounts' own traffic is no longer benign: what the guard
    // does to it (a throttle on a linked account, a suspension) is no false positive.
    let mut compromised = vec![i64::MAX; n_agents];
    for inc in &attacks.incidents {
        for &i in inc.accounts.iter().chain(inc.admin.iter()) {
            compromised[i as usize] = compromised[i as usize].min(inc.start);
        }
    }
    let mut last_sign_in = vec![None; n_agents];
    let mut attack_at = 0usize;
    let mut requests = 0u64;
    let mut events = 0u64;
    let mut agent_days = 0u64;
    let mut per_kind: std::collections::BTreeMap<String, u64> = Default::default();
    let mut per_day = Vec::new();
    let mut next_request = 1u128;
    for day in 0..days {
        let mut stream =
            traffic::benign_day(&world, &plan, params.seed, day, &mut sessions, &mut last_sign_in).requests;
        let day_end = clock.at(day + 1, 0.0, 0);
        while attack_at < attacks.requests.len() && attacks.requests[attack_at].at < day_end {
            stream.push(attacks.requests[attack_at].clone());
            attack_at += 1;
        }
        stream.sort_by_key(|r| (r.at, r.agent));
        for sys in &mut systems {
            sys.elevated_until.resize(sessions.len(), 0);
            sys.ended.resize(sessions.len(), false);
        }
        // Agent-days: accounts with a benign request today (evaluation days only).
        let evaluating = day >= params.warmup_days as i32;
        let mut active = vec![false; n_agents];
        for r in &stream {
            if r.who == Who::Benign && !matches!(r.op, Op::Relate(_)) && r.at < compromised[r.agent as usize] {
                active[r.agent as usize] = true;
            }
        }
        let today: u64 = active.iter().filter(|a| **a).count() as u64;
        if evaluating {
            for (sp, out) in plan.surges.iter().zip(&mut surge_days) {
                if sp.from <= day && day < sp.to {
                    out.agent_days.extend(sp.agents.iter().filter(|&&i| active[i as usize]).map(|&i| (i, day)));
                }
            }
            agent_days += today;
            per_day.push(today);
            for (i, a) in active.iter().enumerate() {
                if *a {
                    let w = &world.agents[i];
                    *per_kind.entry(format!("{} ({})", w.kind.as_str(), w.work.as_str())).or_default() += 1;
                }
            }
        }
        // The registry learns today's relationships, each at its moment; a request sees those
        // known at its own, so the day's requests can go through the guard on both cores.
        let mut day_requests: Vec<(&Request, RequestId)> = Vec::with_capacity(stream.len());
        for req in &stream {
            match &req.op {
                Op::Relate(r) => {
                    world.registry.add(r.clone(), req.at);
                    continue;
                }
                // Created by an account: in the registry from its moment (every system shares
                // the world), and judged by each system, which refuses the reads through the
                // creations it refused.
                Op::Create(r) => world.registry.add(r.clone(), req.at),
                _ => {}
            }
            day_requests.push((req, RequestId(next_request)));
            next_request += 1;
        }
        // Campaigns declared by managers before the day's work.
        while declared < plan.declarations.len() && plan.declarations[declared].0 < day_end {
            for sys in &mut systems {
                sys.detector.declare_campaign(&plan.declarations[declared].1);
            }
            declared += 1;
        }
        requests += day_requests.len() as u64;
        let produced = guard_pass(&authz, &ledger, &world, &sessions, &day_requests);
        events += produced.iter().map(|(rel, _)| rel.len() as u64).sum::<u64>();
        // Then every system judges the same events, in the stream's order; systems are
        // independent of one another, so they are judged on two threads.
        let ctx = JudgeContext {
            sessions: &sessions,
            attacks: &attacks,
            canaries: &canaries,
            evaluating,
            day,
            world: &world,
            compromised: &compromised,
        };
        let split = balanced_split(&systems);
        let (left, right) = systems.split_at_mut(split);
        let judge_all = |group: &mut [SystemRun]| {
            for sys in group {
                for ((req, _), (rel, broad)) in day_requests.iter().zip(&produced) {
                    let ev = if sys.spec.relationships() { rel } else { broad };
                    judge(sys, &ctx, req, ev);
                }
            }
        };
        std::thread::scope(|scope| {
            scope.spawn(|| judge_all(right));
            judge_all(left);
        });
        // The nightly batch, for the systems that have one.
        for sys in &mut systems {
            for agent in sys.detector.nightly(day_end) {
                if let Some(i) = world.agents.iter().position(|a| a.agent.id == agent) {
                    let from = day_end + SOC_MORNING_MS;
                    sys.suspended_from[i] = sys.suspended_from[i].min(from);
                    for (k, inc) in attacks.incidents.iter().enumerate() {
                        if inc.accounts.contains(&(i as u32)) {
                            sys.metrics.action(k, i as u32, day_end, VerdictAction::Throttle.rank(), true);
                            sys.metrics.action(k, i as u32, from, VerdictAction::SuspendAccount.rank(), true);
                        }
                    }
                    if evaluating && !attacks.incidents.iter().any(|inc| inc.accounts.contains(&(i as u32))) {
                        sys.metrics.flag(i as u32, day + 1, Flag::SuspendAccount, &["nightly_batch".to_owned()]);
                    }
                }
            }
        }
        progress(Progress::Day { day: day as u32 + 1, days: params.days, requests });
    }
    RunOutcome {
        seed: params.seed,
        incidents: attacks.incidents,
        systems: systems.into_iter().map(|s| (s.spec, s.metrics)).collect(),
        requests,
        events,
        accounts: world.agents.len(),
        persons: world.registry.persons(),
        agent_days,
        agent_days_by_kind: per_kind.into_iter().collect(),
        agent_days_per_day: per_day,
        build_seconds,
        run_seconds: began.elapsed().as_secs_f64(),
        agent_kinds: world.agents.iter().map(|a| a.kind).collect(),
        agent_work: world.agents.iter().map(|a| a.work).collect(),
        agent_ids: world.agents.iter().map(|a| a.agent.id.get()).collect(),
        surges: surge_days,
    }
}

fn shipped_authz() -> Authz {
    match Authz::load(vigie_core::authz::shipped::SCHEMA, vigie_core::authz::shipped::POLICIES) {
        Ok(a) => a,
        // The shipped policies are validated by vigie-core's tests; a build where they fail
        // to load cannot simulate anything.
        #[allow(clippy::panic, reason = "the shipped policies load, or nothing can run")]
        Err(e) => panic!("shipped policies: {e}"),
    }
}

/// What an agent asks for: a benign agent what its work needs, an attacker everything.
fn requested(req: &Request) -> CategorySet {
    let base = CategorySet::EMPTY.with(DataCategory::Identity).with(DataCategory::Contact).with(DataCategory::Status);
    match req.who {
        Who::Benign => base,
        Who::Attack(_) => base.with(DataCategory::Nir).with(DataCategory::Sensitive),
    }
}

/// The day's requests through the real guard on two threads (contiguous halves): per request,
/// the events it produced and those a broad-access registry would have.
fn guard_pass(
    authz: &Arc<Authz>,
    ledger: &Arc<dyn AccessLedger>,
    world: &SimWorld,
    sessions: &[SimSession],
    requests: &[(&Request, RequestId)],
) -> Vec<(Vec<AccessEvent>, Vec<AccessEvent>)> {
    let half = requests.len() / 2;
    let run = |part: &[(&Request, RequestId)]| -> Vec<(Vec<AccessEvent>, Vec<AccessEvent>)> {
        let tap = Arc::new(Tap::default());
        part.iter()
            .map(|(req, id)| {
                let guard = Guard {
                    authz: authz.clone(),
                    registry: Arc::new(world.registry.at(req.at)),
                    detector: tap.clone(),
                    ledger: ledger.clone(),
                };
                let rel = through_guard(&guard, &tap, world, sessions, req, *id);
                let broad = broad_events(world, req, &rel);
                (rel, broad)
            })
            .collect()
    };
    let (first, second) = requests.split_at(half);
    std::thread::scope(|scope| {
        let later = scope.spawn(|| run(second));
        let mut out = run(first);
        match later.join() {
            Ok(rest) => out.extend(rest),
            // A panic in the guard pass is a bug in the simulator: let it surface.
            Err(e) => std::panic::resume_unwind(e),
        }
        out
    })
}

/// Where to cut the systems in two groups of about equal cost (Vigie's detector costs
/// about three times a baseline's).
fn balanced_split(systems: &[SystemRun]) -> usize {
    let cost = |s: &SystemRun| if matches!(s.spec.kind, crate::systems::SystemKind::Vigie { .. }) { 3i64 } else { 1 };
    let total: i64 = systems.iter().map(cost).sum();
    let mut prefix = 0i64;
    let mut best = (i64::MAX, 0usize);
    for (i, s) in systems.iter().enumerate() {
        prefix += cost(s);
        let imbalance = (2 * prefix - total).abs();
        if imbalance < best.0 {
            best = (imbalance, i + 1);
        }
    }
    best.1
}

/// What every system's judgement of one day shares.
struct JudgeContext<'a> {
    sessions: &'a [SimSession],
    attacks: &'a Attacks,
    canaries: &'a vigie_core::detect::FastSet<PersonId>,
    evaluating: bool,
    day: i32,
    world: &'a SimWorld,
    compromised: &'a [i64],
}

/// The request through the real guard; returns the events it produced.
fn through_guard(
    guard: &Guard,
    tap: &Tap,
    world: &SimWorld,
    sessions: &[SimSession],
    req: &Request,
    request: RequestId,
) -> Vec<AccessEvent> {
    let s = &sessions[req.session as usize];
    let a = &world.agents[req.agent as usize];
    let org = world.orgs.iter().find(|o| o.id == a.agent.org).cloned().unwrap_or_else(|| {
        vigie_core::org::Organization { id: a.agent.org, kind: a.kind, name: String::new(), active: true }
    });
    let caller = Caller {
        agent: a.agent.clone(),
        org,
        session: SessionId(u64::from(req.session) + 1),
        mfa: true,
        elevated: false,
        probation: s.probation,
        reason: None,
        sign_in: s.sign_in,
    };
    let meta = RequestMeta { request, at: Timestamp(req.at) };
    let asked = requested(req);
    match &req.op {
        Op::View(p) => {
            let _ = guard.read(&caller, meta, *p, asked);
        }
        Op::Lookup { person, typo, by_ft: false } => {
            if let Some((nir, birth)) = world.registry.nir_key(*person) {
                // A typo: the right NIR with the wrong birth date (nobody matches).
                let birth = if *typo { birth.next_day().unwrap_or(birth) } else { birth };
                let _ = guard.lookup(&caller, meta, LookupKey::Nir(nir, birth), asked);
            }
        }
        Op::Lookup { person, typo, by_ft: true } => {
            if let Some((ft, birth)) = world.registry.ft_key(*person) {
                let birth = if *typo { birth.next_day().unwrap_or(birth) } else { birth };
                let _ = guard.lookup(&caller, meta, LookupKey::FtId(ft, birth), asked);
            }
        }
        Op::Relate(_) | Op::Create(_) => {}
    }
    tap.events.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default()
}

/// The events a broad-access registry would have produced: every existing person matched is
/// returned with every category asked.
fn broad_events(world: &SimWorld, req: &Request, rel: &[AccessEvent]) -> Vec<AccessEvent> {
    let asked = requested(req);
    rel.iter()
        .map(|e| {
            let mut b = e.clone();
            b.reasons.clear();
            let exists = e.person.is_some_and(|p| p.get() <= world.registry.persons());
            let typo = matches!(req.op, Op::Lookup { typo: true, .. });
            if exists && !typo {
                b.decision = Decision::Allow;
                b.returned = asked;
            } else {
                b.decision = if e.person.is_some() { Decision::Deny } else { Decision::NoMatch };
                b.returned = CategorySet::EMPTY;
                b.relationship = None;
            }
            b
        })
        .collect()
}

/// One system's answer to one request: the ladder as the server applies it (a benign owner
/// passes step-ups and gives reasons; an attacker gives reasons but passes a step-up only if
/// it holds the second factor), then what leaves.
fn judge(sys: &mut SystemRun, ctx: &JudgeContext<'_>, req: &Request, events: &[AccessEvent]) {
    let attack = match req.who {
        Who::Attack(k) => Some(k as usize),
        Who::Benign => None,
    };
    if let Op::Create(r) = &req.op {
        // A refused creation brings the attacker nothing: containment counts it.
        if !judge_create(sys, ctx, req, r)
            && let Some(k) = attack
        {
            sys.metrics.refused(k, req.at);
        }
        return;
    }
    let released = judge_request(sys, ctx, req, events);
    // An attacker that asked and got nothing: what containment is measured by (a registry
    // read to the end is not containment: re-reads are still served).
    if let Some(k) = attack
        && !released
    {
        sys.metrics.refused(k, req.at);
    }
}

/// A relationship creation under one system: judged by its detector with the ladder as for a
/// read (a benign agent passes step-ups and gives reasons). Returns whether it was allowed; a
/// refused one is remembered so that the system's reads through it are refused too.
fn judge_create(
    sys: &mut SystemRun,
    jc: &JudgeContext<'_>,
    req: &Request,
    r: &vigie_core::relationship::Relationship,
) -> bool {
    let s = req.session as usize;
    let a = req.agent;
    if sys.suspended_from[a as usize] <= req.at || sys.ended[s] {
        sys.refused_rel.insert((a, r.person));
        return false;
    }
    let attack = match req.who {
        Who::Attack(k) => Some(k as usize),
        Who::Benign => None,
    };
    let w = &jc.world.agents[a as usize];
    let session = &jc.sessions[s];
    let event = vigie_core::ports::RelationshipEvent {
        at: Timestamp(req.at),
        request: RequestId(0),
        actor: vigie_core::event::Actor {
            agent: w.agent.id,
            org: w.agent.org,
            org_kind: w.kind,
            role: w.agent.role,
            session: SessionId(u64::from(req.session) + 1),
        },
        person: r.person,
        kind: r.kind,
    };
    let mut ctx = DetectContext {
        probation: session.probation,
        elevated: sys.elevated_until[s] > req.at,
        reason: None,
        sign_in: session.sign_in,
        team: w.agent.team,
    };
    for _round in 0..3 {
        let v = sys.detector.relationship(&event, &ctx);
        if let Some(k) = attack {
            sys.metrics.signals(k, &v.reasons, v.action.rank());
            if v.action.rank() >= VerdictAction::StepUp.rank() {
                sys.metrics.detected(k, req.at);
            }
        } else if v.action != VerdictAction::Allow && jc.evaluating && req.at < jc.compromised[a as usize] {
            let f = match v.action.effective(ctx.elevated, ctx.reason.is_some()) {
                VerdictAction::Allow => None,
                VerdictAction::Friction => Some(Flag::Friction),
                VerdictAction::StepUp => Some(Flag::StepUp),
                VerdictAction::Throttle => Some(Flag::Throttle),
                VerdictAction::SuspendSession => Some(Flag::SuspendSession),
                VerdictAction::SuspendAccount => Some(Flag::SuspendAccount),
            };
            if let Some(f) = f {
                sys.metrics.flag(a, jc.day, f, &v.reasons);
            }
        }
        match v.action.effective(ctx.elevated, ctx.reason.is_some()) {
            VerdictAction::Allow => return true,
            VerdictAction::Friction => ctx.reason = Some(req.reason.unwrap_or(AccessReason::InboundContact)),
            VerdictAction::StepUp => {
                if !attack.is_none_or(|k| jc.attacks.incidents[k].access.passes_step_up()) {
                    sys.ended[s] = true;
                    if let Some(k) = attack {
                        sys.metrics.action(k, a, req.at, VerdictAction::SuspendSession.rank(), true);
                    }
                    break;
                }
                sys.elevated_until[s] = req.at + ELEVATION_MS;
                ctx.elevated = true;
            }
            other => {
                if let Some(k) = attack {
                    sys.metrics.action(
                        k,
                        a,
                        req.at,
                        other.rank(),
                        other.rank() >= VerdictAction::SuspendSession.rank(),
                    );
                }
                match other {
                    VerdictAction::SuspendSession => sys.ended[s] = true,
                    VerdictAction::SuspendAccount => sys.suspended_from[a as usize] = req.at,
                    _ => {}
                }
                break;
            }
        }
    }
    sys.refused_rel.insert((a, r.person));
    false
}

fn judge_request(sys: &mut SystemRun, jc: &JudgeContext<'_>, req: &Request, events: &[AccessEvent]) -> bool {
    let JudgeContext { sessions, attacks, canaries, evaluating, day, world, compromised } = *jc;
    let s = req.session as usize;
    let a = req.agent;
    let attack = match req.who {
        Who::Attack(k) => Some(k as usize),
        Who::Benign => None,
    };
    let benign_day = attack.is_none() && evaluating && req.at < compromised[a as usize];
    let flag = |sys: &mut SystemRun, f: Flag, reasons: &[String]| {
        if benign_day {
            if TRACE.with(|t| *t) && f as u8 >= Flag::Throttle as u8 && sys.spec.name == "vigie" {
                let w = &world.agents[a as usize];
                eprintln!("TRACE day {day} agent {a} {} ({}) {:?}: {reasons:?}", w.kind.as_str(), w.work.as_str(), f);
            }
            sys.metrics.flag(a, day, f, reasons);
        }
    };
    if sys.suspended_from[a as usize] <= req.at || sys.ended[s] {
        return false;
    }
    if let Some(k) = attack {
        let inc = &attacks.incidents[k];
        if sys.spec.sign_in() {
            // A password alone does not open a session; a cookie presented from another
            // network or browser ends the session it belongs to.
            if inc.access == Access::StolenPassword || req.net == Net::Foreign {
                sys.ended[s] = true;
                sys.metrics.action(k, a, req.at, VerdictAction::SuspendSession.rank(), true);
                return false;
            }
            if inc.approved_at.is_some_and(|t| req.at < t) {
                return false;
            }
        }
    }
    let session = &sessions[s];
    // Reads through a relationship this system refused to create are refused.
    let converted: Vec<AccessEvent>;
    let events = if !sys.refused_rel.is_empty()
        && events.iter().any(|e| e.person.is_some_and(|p| sys.refused_rel.contains(&(a, p))) && !e.returned.is_empty())
    {
        converted = events
            .iter()
            .map(|e| {
                let mut e = e.clone();
                if e.person.is_some_and(|p| sys.refused_rel.contains(&(a, p))) {
                    e.decision = Decision::Deny;
                    e.returned = CategorySet::EMPTY;
                    e.relationship = None;
                }
                e
            })
            .collect();
        &converted[..]
    } else {
        events
    };
    if let Some(k) = attack
        && events.iter().any(|e| e.person.is_some_and(|p| canaries.contains(&p)))
    {
        sys.metrics.canary(k, req.at);
    }
    // A manager lifts a pace throttle on a benign agent an hour after it.
    if sys.lift_at[a as usize] <= req.at {
        sys.lift_at[a as usize] = i64::MAX;
        let w = &world.agents[a as usize];
        sys.detector.lift(w.agent.id, w.agent.id, Timestamp(req.at));
    }
    let mut ctx = DetectContext {
        probation: session.probation,
        elevated: sys.elevated_until[s] > req.at,
        reason: None,
        sign_in: session.sign_in,
        team: world.agents[a as usize].agent.team,
    };
    for _round in 0..3 {
        let mut strictest = VerdictAction::Allow;
        let mut raw = VerdictAction::Allow;
        let mut reasons: Vec<String> = Vec::new();
        for e in events {
            let verdict = sys.detector.assess(e, &ctx);
            let v = verdict.action;
            if v != VerdictAction::Allow || attack.is_some() {
                reasons.extend(verdict.reasons);
            }
            if v.rank() > raw.rank() {
                raw = v;
            }
            let eff = v.effective(ctx.elevated, ctx.reason.is_some());
            if eff.rank() > strictest.rank() {
                strictest = eff;
            }
        }
        if let Some(k) = attack {
            if raw.rank() >= VerdictAction::StepUp.rank() {
                sys.metrics.detected(k, req.at);
            }
            sys.metrics.signals(k, &reasons, strictest.rank());
            // A campaign alert: how many of this incident's accounts it names.
            if let Some(list) = reasons.iter().find_map(|r| r.split("linked=").nth(1)) {
                let named: Vec<u64> = list.split([',', ' ']).filter_map(|x| x.parse().ok()).collect();
                let n = attacks.incidents[k]
                    .accounts
                    .iter()
                    .filter(|&&i| named.contains(&world.agents[i as usize].agent.id.get()))
                    .count() as u32;
                sys.metrics.linked(k, req.at, n);
            }
        } else if strictest == VerdictAction::Throttle
            && reasons.iter().any(|r| r.starts_with("pace_throttle"))
            && sys.lift_at[a as usize] == i64::MAX
        {
            sys.lift_at[a as usize] = req.at + MANAGER_LIFT_MS;
        }
        match strictest {
            VerdictAction::Allow => {
                let mut released = false;
                for e in events.iter().filter(|e| !e.returned.is_empty()) {
                    released = true;
                    let Some(p) = e.person else { continue };
                    match attack {
                        Some(k) => sys.metrics.exposed(k, a, p, req.at),
                        None => {
                            if canaries.contains(&p) && evaluating {
                                sys.metrics.benign_canary += 1;
                            }
                        }
                    }
                }
                return released;
            }
            VerdictAction::Friction => {
                flag(sys, Flag::Friction, &reasons);
                ctx.reason = Some(req.reason.unwrap_or(AccessReason::Campaign));
            }
            VerdictAction::StepUp => {
                flag(sys, Flag::StepUp, &reasons);
                let passes = attack.is_none_or(|k| attacks.incidents[k].access.passes_step_up());
                if !passes {
                    // A failed step-up ends the session.
                    sys.ended[s] = true;
                    if let Some(k) = attack {
                        sys.metrics.action(k, a, req.at, VerdictAction::SuspendSession.rank(), true);
                    }
                    return false;
                }
                sys.elevated_until[s] = req.at + ELEVATION_MS;
                ctx.elevated = true;
            }
            VerdictAction::Throttle => {
                flag(sys, Flag::Throttle, &reasons);
                if let Some(k) = attack {
                    sys.metrics.action(k, a, req.at, VerdictAction::Throttle.rank(), false);
                }
                return false;
            }
            VerdictAction::SuspendSession => {
                flag(sys, Flag::SuspendSession, &reasons);
                sys.ended[s] = true;
                if let Some(k) = attack {
                    sys.metrics.action(k, a, req.at, VerdictAction::SuspendSession.rank(), true);
                }
                return false;
            }
            VerdictAction::SuspendAccount => {
                flag(sys, Flag::SuspendAccount, &reasons);
                sys.suspended_from[a as usize] = req.at;
                if let Some(k) = attack {
                    sys.metrics.action(k, a, req.at, VerdictAction::SuspendAccount.rank(), true);
                }
                return false;
            }
        }
    }
    false
}
