//! The exfiltration detector: contains mass extraction by a legitimate account within
//! seconds, and explains every verdict.
//!
//! Pure: time comes from the events, canaries and thresholds from the caller. It sees every
//! event of the guarded path (allowed or denied) before the ledger, through
//! [`crate::ports::Detector`], with what the session layer knows ([`DetectContext`]).
//!
//! Signals, in layers (each verdict lists the ones that fired, their values and thresholds):
//! - **session context**: a network or browser new to the account, concurrent sessions, a
//!   young or dormant account, a credential changed in the last day, an hour the account never
//!   works, an account created or approved by an account under suspicion;
//! - **hard quotas** of distinct persons per account (hour, day, week: exact counts over
//!   windows of whole minutes or hours), stricter on probation and for accounts whose creator
//!   is under suspicion; per organization (the sum
//!   of its accounts: approximate, HyperLogLog); outside lookups per day; scope lines per hour;
//! - **self baselines**: today's and this hour's distinct persons against the account's own
//!   median/MAD and EWMA, CUSUM for slow ramps, new-person, denied and lookup ratios; frozen
//!   while the account is flagged;
//! - **peer baselines**: the peer group's (organization kind × role) percentile of daily
//!   distinct persons, and the group's total against its usual day;
//! - **enumeration**: ascending ids, lookups that miss, scripted cadence, deep pagination;
//! - **canaries**: a canary read or looked up by its key is a tripwire; a refused view of one
//!   is when corroborated (walking ids, probing, a day mostly refused, a second canary), and
//!   asks for a step-up alone;
//! - **lifecycle**: an account creating or approving accounts unusually is held and under
//!   suspicion; the accounts it made share its risk.
//!
//! The ladder: allow → friction (say why, from a closed list) → step-up → throttle (one new
//! person per time-out once over a quota, time-outs 1 → 5 → 60 min) → suspend the session
//! (twice a quota attempted, corroborated by enumeration, context, suspicion or probation) →
//! suspend the account (a canary; two session suspensions in a day). **Statistical signals
//! only ever ask for a step-up**: throttling needs a hard quota, suspension a tripwire.
//!
//! Any layer can be switched off ([`Layers`], for the simulator's ablation study): its signals
//! then decide nothing, while every baseline and window keeps learning as usual.

pub mod account;
pub mod baseline;
pub mod config;
mod creations;
pub mod hll;
pub mod link;
pub mod org;
pub mod places;
pub mod shared_counts;
pub mod snapshot;
pub mod surge;
pub mod window;

use std::sync::Mutex;

pub use config::{DetectConfig, Layer, Layers, Statistics, Thresholds};

use crate::campaign::CampaignDeclaration;
use crate::event::{AccessAction, AccessEvent, Decision, EventHead, Verdict, VerdictAction};
use crate::ids::{AgentId, OrgId};
use crate::org::{OrgKind, Role};
use crate::ports::{DetectContext, LifecycleAction, LifecycleKind, RelationshipEvent};
use account::{Account, insist, novelty};
use baseline::PeerHistogram;
use org::{GroupState, OrgState};
use window::{DAY_MS, HOUR_MS, WEEK_MS};

const LOOKUP_WINDOW_MS: i64 = 10 * 60_000;
/// How stale an organization's note of an account's activity may get. The note only says
/// whether the account was active in the week (its quotas then count in the organization's);
/// a change of quotas (probation, suspicion) is noted at once. An hour's staleness against a
/// week's horizon changes nothing measurable, and an agent reading a record every few minutes
/// no longer writes to its organization's map at every read.
const ORG_SEEN_MS: i64 = HOUR_MS;
/// Escalating throttle time-outs on repeats.
const THROTTLE_MS: [i64; 3] = [60_000, 5 * 60_000, 60 * 60_000];
/// Cadence: at most this mean gap, and a coefficient of variation below this, over the last
/// 16 requests is a script (people hesitate; cron jobs and loops do not).
const SCRIPTED_MEAN_MS: f64 = 10_000.0;
const SCRIPTED_CV: f64 = 0.15;
/// How long an account stays under suspicion (its creations share its risk).
const SUSPICION_MS: i64 = WEEK_MS;
/// Days of the ledger replayed at start-up: the baselines' 28 days.
pub const REPLAY_MS: i64 = 28 * DAY_MS;

/// The detector's maps: hashbrown with foldhash, keyed per process. The keys (agents,
/// organizations, persons) are partly chosen by callers, so the hash must be keyed against
/// flooding; foldhash is (a folded multiply under a random seed) and costs a few nanoseconds
/// where SipHash-1-3 costs tens, which matters at several lookups per event.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// Everything the detector remembers. One lock: a decision is a few map operations.
#[derive(Debug, Default)]
pub struct State {
    /// In place, not boxed: with tens of thousands of accounts the map's slots do not stay in
    /// cache (its control bytes do), so finding a boxed account cost two misses, the slot and
    /// then the state; in place the slot is the state.
    pub accounts: FastMap<AgentId, Account>,
    /// Every account's remembered persons and their last touches, in one table keyed by
    /// (agent, person) so that a person's slot can be looked for before the account's state
    /// arrives from memory (`places.rs`).
    pub places: places::Places,
    pub orgs: FastMap<OrgId, OrgState>,
    pub groups: FastMap<(OrgKind, Role), GroupState>,
    pub peers: FastMap<(OrgKind, Role), PeerHistogram>,
    /// Accounts under suspicion, until when.
    pub suspects: FastMap<AgentId, i64>,
    /// Each peer group's level on the day being completed (seasonal adjustment of the CUSUM).
    /// Not in snapshots: it is rebuilt within a day, and the replay rebuilds it too.
    pub levels: FastMap<(OrgKind, Role), account::DayLevel>,
    /// Teams' and organizations' levels today (`surge.rs`). Not in snapshots: rebuilt within
    /// the day.
    pub surges: FastMap<u64, surge::SurgeGroup>,
    /// Campaigns declared by managers, until they end.
    pub campaigns: Vec<CampaignDeclaration>,
    /// Sessions sighted from shared infrastructure, and the campaigns they linked.
    pub linker: link::Linker,
    /// Per organization kind: persons new to their reader read today in sessions with an
    /// unusual context, and the usual day (the kind-wide counter).
    pub kinds: [KindDay; 5],
    /// Relationships created today per organization: (day, count).
    pub org_created: FastMap<OrgId, (i64, u32)>,
    /// Canaries of governed extracts and their extract's number: any touch suspends. Not in
    /// snapshots: the registry holds them, and the binary hands them over at start.
    pub extract_canaries: FastMap<crate::ids::PersonId, u32>,
}

/// One organization kind's day of persons new to their reader in unusual sessions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KindDay {
    pub day: i64,
    pub today: u32,
    pub history: baseline::DailyHistory,
}

impl KindDay {
    fn roll(&mut self, day: i64) {
        if day > self.day {
            if self.day != 0 {
                self.history.push(self.today);
                // Days without any such reading count as zero.
                for _ in 1..(day - self.day).min(baseline::HISTORY_DAYS as i64) {
                    self.history.push(0);
                }
            }
            self.day = day;
            self.today = 0;
        }
    }
}

impl State {
    /// Applies the organizations' and peer groups' pending sketch inserts (before reading the
    /// sketches from outside: snapshots).
    pub fn flush_sketches(&mut self) {
        self.orgs.values_mut().for_each(OrgState::flush);
        self.groups.values_mut().for_each(GroupState::flush);
    }
}

/// The detector.
#[derive(Debug)]
pub struct ExfiltrationDetector {
    config: DetectConfig,
    /// The thresholds of every (organization kind, role), looked up by index rather than
    /// hashed per event.
    table: Vec<Thresholds>,
    state: Mutex<State>,
}

/// What the detector holds, for the memory figure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    pub accounts: usize,
    /// Per-account state outside the distinct-person sets, all accounts.
    pub account_bytes: usize,
    /// The exact distinct-person sets (a map entry and heap entries per person and window).
    pub distinct_bytes: usize,
    pub distinct_persons: usize,
    /// Organizations' and peer groups' approximate counters.
    pub shared_bytes: usize,
}

/// One signal's contribution: the rung it asks for and why.
struct Signals {
    list: Vec<(VerdictAction, String)>,
}

impl Signals {
    fn push(&mut self, action: VerdictAction, reason: String) {
        self.list.push((action, reason));
    }
    fn strictest(&self) -> VerdictAction {
        self.list.iter().map(|(a, _)| *a).max_by_key(|a| a.rank()).unwrap_or(VerdictAction::Allow)
    }

    /// The verdict to hand back: the strictest rung the caller has not already met (a session
    /// that passed a step-up still owes a reason if one is asked, and the other way round);
    /// when every rung asked is met, the strictest, for the record.
    fn decide(&self, elevated: bool, reason: bool) -> VerdictAction {
        let met = |a: VerdictAction| match a {
            VerdictAction::StepUp => elevated,
            VerdictAction::Friction => reason,
            VerdictAction::Allow => true,
            _ => false,
        };
        self.list
            .iter()
            .map(|(a, _)| *a)
            .filter(|a| !met(*a))
            .max_by_key(|a| a.rank())
            .unwrap_or_else(|| self.strictest())
    }
}

impl ExfiltrationDetector {
    pub fn new(config: DetectConfig) -> Self {
        Self::with_state(config, State::default())
    }

    /// A detector resuming from a snapshot's state.
    pub fn with_state(config: DetectConfig, state: State) -> Self {
        let mut table =
            vec![Thresholds::default_for(OrgKind::Agency, Role::Advisor); OrgKind::ALL.len() * Role::ALL.len()];
        for kind in OrgKind::ALL {
            for role in Role::ALL {
                table[table_index(kind, role)] = config.thresholds(kind, role);
            }
        }
        ExfiltrationDetector { config, table, state: Mutex::new(state) }
    }

    fn thresholds(&self, kind: OrgKind, role: Role) -> Thresholds {
        self.table.get(table_index(kind, role)).copied().unwrap_or_else(|| self.config.thresholds(kind, role))
    }

    pub fn config(&self) -> &DetectConfig {
        &self.config
    }

    /// Runs `f` on the state (snapshots), its sketches' pending inserts applied first.
    pub fn with_state_ref<R>(&self, f: impl FnOnce(&State) -> R) -> Option<R> {
        self.state.lock().ok().map(|mut s| {
            s.flush_sketches();
            f(&s)
        })
    }

    /// Rebuilds the state from the ledger's access events (oldest first) so that a restart
    /// neither hands every account a fresh quota nor forgets its baselines: windows, today's
    /// tallies, daily histories, peer groups and organizations' counts. Events older than
    /// [`REPLAY_MS`] before `now`, or not after `after` (a snapshot's position), are skipped.
    /// Returns how many events were applied.
    pub fn replay(&self, heads: impl IntoIterator<Item = EventHead>, now: crate::time::Timestamp) -> usize {
        self.replay_after(heads, now, i64::MIN)
    }

    pub fn replay_after(
        &self,
        heads: impl IntoIterator<Item = EventHead>,
        now: crate::time::Timestamp,
        after: i64,
    ) -> usize {
        let Ok(mut guard) = self.state.lock() else { return 0 };
        let st = &mut *guard;
        let s = &self.config.stats;
        let mut applied = 0;
        for h in heads {
            let at = h.at.millis();
            // The times come from the ledger's files: one no clock could have stamped (further
            // than a snapshot's bound from the epoch) is skipped, not subtracted from now (which
            // overflowed on i64::MIN) nor carried into windows and until-times.
            if at.unsigned_abs() >= snapshot::TIME_BOUND {
                continue;
            }
            let age = now.millis().saturating_sub(at);
            if age >= REPLAY_MS || at <= after {
                continue;
            }
            let peer = (h.org_kind, h.role);
            st.places.sweep(at);
            let a = st.accounts.entry(h.agent).or_default();
            a.peer = Some(peer);
            let level = st.levels.entry(peer).or_default();
            if let Some(done) = a.roll(at, (s.cusum_k, s.cusum_h), |d, r| level.level(d, r)) {
                st.peers.entry(done.peer).or_default().add(done.distinct);
            }
            let released = !h.returned.is_empty() && h.action != AccessAction::ScopeList;
            let person = h.person.filter(|_| released);
            observe_tallies(a, at, h.action, h.decision);
            // What the detector said then: a flagged day stays out of the baselines, and
            // suspicion (its creations share the risk) survives the restart.
            if h.verdict.rank() >= VerdictAction::StepUp.rank() {
                a.day.flagged = true;
            }
            if h.verdict.rank() >= VerdictAction::SuspendSession.rank() && age < SUSPICION_MS {
                st.suspects.insert(h.agent, at + SUSPICION_MS);
            }
            if let Some(p) = person {
                let last = st.places.get(h.agent.get(), p.get());
                if age < WEEK_MS {
                    a.persons.touch(&mut st.places, h.agent, p, h.at);
                }
                count_release(a, at, last);
                let q = self.thresholds(h.org_kind, h.role);
                let key = self.config.hll_key;
                let org = st.orgs.entry(h.org).or_insert_with(|| OrgState::new(key));
                org.seen(h.agent, at, [q.quota_hour, q.quota_day, q.quota_week]);
                org.insert(p.get(), h.at);
                st.groups.entry(peer).or_insert_with(|| GroupState::new(key)).insert(p.get(), h.at);
            }
            applied += 1;
        }
        applied
    }

    /// Accounts with state.
    pub fn accounts(&self) -> usize {
        self.state.lock().map_or(0, |s| s.accounts.len())
    }

    /// What the state holds, in bytes.
    pub fn memory(&self) -> Memory {
        let Ok(st) = self.state.lock() else { return Memory::default() };
        let entry = std::mem::size_of::<(AgentId, Account)>() + 1;
        Memory {
            accounts: st.accounts.len(),
            // The map holds the accounts in place: its slots, then what each holds beyond them.
            account_bytes: st.accounts.values().map(|a| a.bytes() - std::mem::size_of::<Account>()).sum::<usize>()
                + st.accounts.capacity() * entry,
            distinct_bytes: st.places.heap_bytes(),
            distinct_persons: st.places.len(),
            shared_bytes: st.orgs.values().map(OrgState::bytes).sum::<usize>()
                + st.groups.values().map(GroupState::bytes).sum::<usize>()
                + st.peers.values().map(|p| p.counts.len() * 4).sum::<usize>(),
        }
    }

    fn judge(&self, st: &mut State, e: &AccessEvent, ctx: &DetectContext) -> Verdict {
        let now = e.at.millis();
        let s = &self.config.stats;
        let peer = (e.actor.org_kind, e.actor.role);
        let agent = e.actor.agent;
        let mut out = Signals { list: Vec::new() };
        let on = self.config.layers;

        // Thresholds: stricter on probation and when the account's maker is under suspicion
        // (a context signal that the lifecycle layer feeds: either off, no maker is suspect).
        let mut t = self.thresholds(e.actor.org_kind, e.actor.role);
        let maker_risk = on.contains(Layer::Context) && on.contains(Layer::Lifecycle);
        let suspect_maker = [ctx.sign_in.created_by, ctx.sign_in.approved_by]
            .into_iter()
            .flatten()
            .filter(|_| maker_risk)
            .find(|m| st.suspects.get(m).is_some_and(|&until| now < until));
        let mut scale_percent = 100u64;
        if ctx.probation {
            scale_percent = scale_percent * u64::from(t.probation_percent) / 100;
        }
        if suspect_maker.is_some() {
            scale_percent /= 2;
        }
        if scale_percent < 100 {
            let scale = |q: u32| (u64::from(q) * scale_percent / 100).max(1) as u32;
            t.quota_hour = scale(t.quota_hour);
            t.quota_day = scale(t.quota_day);
            t.quota_week = scale(t.quota_week);
        }
        // A service account's quotas are the envelope it declared (approved with it).
        let service = ctx.sign_in.service;
        if let Some(env) = service {
            t.quota_hour = env.persons_hour.max(1);
            t.quota_day = env.persons_day.max(t.quota_hour);
            t.quota_week = env.persons_day.saturating_mul(7);
        }
        // A declared campaign widens the hard quotas by its volume (at most doubling them).
        let surges_on = on.contains(Layer::Surges);
        let declared = if surges_on && !st.campaigns.is_empty() {
            st.campaigns.retain(|c| c.until.millis() > now - DAY_MS);
            surge::declared(&st.campaigns, e.actor.org, ctx.team, now)
        } else {
            0
        };
        if declared > 0 {
            t.quota_hour = t.quota_hour.saturating_add(declared.min(t.quota_hour));
            t.quota_day = t.quota_day.saturating_add(declared.min(t.quota_day));
            t.quota_week = t.quota_week.saturating_add(declared.saturating_mul(5).min(t.quota_week));
        }
        let quotas = [t.quota_hour, t.quota_day, t.quota_week];
        let gkeys = surge::keys(e.actor.org, ctx.team);

        let State {
            accounts,
            places,
            orgs,
            groups,
            peers,
            suspects,
            levels,
            surges,
            campaigns: _,
            linker,
            kinds,
            org_created: _,
            extract_canaries,
        } = st;
        // The person's last touch is looked for first, then the account and the organization:
        // all three are likely out of cache, and their addresses follow from the event alone,
        // so their loads overlap (the account's and the person's were one after the other when
        // each account had its own table of persons: 1.2 times slower).
        let candidate = !e.returned.is_empty() && e.action != AccessAction::ScopeList;
        let person = e.person.filter(|_| candidate);
        let last = person.and_then(|p| places.get(agent.get(), p.get()));
        let a = accounts.entry(agent).or_default();
        a.persons.warm(e.at);
        let key = self.config.hll_key;
        let org = orgs.entry(e.actor.org).or_insert_with(|| OrgState::new(key));
        org.warm();
        a.peer = Some(peer);
        let level = levels.entry(peer).or_default();
        let (cap, min_members) = (s.surge_cap, s.surge_min_accounts);
        if let Some(done) = a.roll(now, (s.cusum_k, s.cusum_h), |d, r| {
            let group = if surges_on { surge::day_level(surges, gkeys, d, min_members, cap) } else { 1.0 };
            level.level(d, r).max(group)
        }) {
            peers.entry(done.peer).or_default().add(done.distinct);
        }
        if a.suspended {
            return Verdict { action: VerdictAction::SuspendAccount, reasons: vec!["account_suspended=1".into()] };
        }
        // Tripwire: a canary person. Canaries are in no relationship and no benign source, so
        // a canary read or looked up by its exact key is never chance. A view of one that the
        // relationship check refused released nothing: it suspends when the account is walking
        // ids, probing, mostly refused today or met another canary this week; alone (a stale
        // link or a mistyped id meeting one of the registry's canaries) it asks for a step-up.
        let mut canary_denied = None;
        if let Some(p) = e.person
            && on.contains(Layer::Canaries)
            && (self.config.canaries.contains(&p)
                || (!extract_canaries.is_empty() && extract_canaries.contains_key(&p)))
        {
            // An extract's canary is in a file handed to one recipient and in nobody's
            // relationships: whoever looks it up or reads it has the file (or a copy).
            let extract = extract_canaries.get(&p).copied();
            // A canary placed in a scope list has a (plausible) relationship: the check releases
            // it, and a list misclick is possible. Its read suspends during a burst.
            let in_scope = self.config.scope_canaries.contains(&p);
            let released = e.decision == Decision::Allow && !e.returned.is_empty();
            let burst = in_scope && {
                let hour = a.persons.at(e.at).hour + 1;
                hour >= s.scope_canary_burst && f64::from(hour) >= 3.0 * f64::from(a.hourly.mean)
            };
            let looked_up = matches!(e.action, AccessAction::LookupByNir | AccessAction::LookupByFtId);
            let walking = a.last_person.is_some_and(|last| p.get() > last && p.get() - last <= 3) && a.run + 1 >= 3;
            let probing = now.saturating_sub(a.derived.last_miss) < LOOKUP_WINDOW_MS
                && a.cold.misses.iter().filter(|&&t| now - t < LOOKUP_WINDOW_MS).count() >= 3;
            let refused = a.day.denied >= 10 && 2 * a.day.denied >= a.day.views;
            // Another canary the same day: a walk meets one per block of ids, a stale link or
            // a misclick hardly twice in a day.
            let (before, seen) = a.cold.canary_probe;
            let again = before != 0 && now - before < DAY_MS && seen != p.get();
            let corroboration: Vec<&str> = [
                (released && !in_scope, "released"),
                (burst, "burst_in_hour"),
                (looked_up, "exact_key"),
                (walking, "walking_ids"),
                (probing, "probing"),
                (refused, "mostly_refused_today"),
                (again, "second_canary_24h"),
                (extract.is_some(), "extract_canary"),
            ]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
            a.cold.canary_probe = (now, p.get());
            if !corroboration.is_empty() {
                a.suspended = true;
                suspects.insert(agent, now + SUSPICION_MS);
                let mut reasons = vec![format!("canary={p}"), format!("canary_by={}", corroboration.join(","))];
                if let Some(x) = extract {
                    reasons.push(format!("extract=X{x}"));
                }
                return Verdict { action: VerdictAction::SuspendAccount, reasons };
            }
            canary_denied = Some(p);
        }
        if let Some(p) = canary_denied {
            let in_scope = self.config.scope_canaries.contains(&p);
            if in_scope && e.decision == Decision::Allow {
                out.push(VerdictAction::StepUp, format!("canary_in_scope={p} corroborated=0"));
            } else if in_scope {
                // A scope canary the relationship check refused: it was in some organization's
                // list, so a stale link of a former colleague's caseload reaches it as it reaches
                // any other former line (an identifier-space canary was in nobody's). Nothing was
                // released; the reason goes to the ledger, and any corroboration above suspends.
                out.push(VerdictAction::Allow, format!("canary_in_scope_denied={p} corroborated=0"));
            } else {
                out.push(VerdictAction::StepUp, format!("canary_denied={p} corroborated=0"));
            }
        }
        if a.throttled_until != 0 && now - a.throttled_until > DAY_MS {
            a.throttled_until = 0;
            a.rung = 0;
        }

        // Session context, computed at a session's first event.
        let mut link_formed = None;
        if a.session != e.actor.session.0 {
            a.session = e.actor.session.0;
            a.session_novelty = session_novelty(a, ctx, now, s);
            let n = a.session_novelty;
            let other = n & (novelty::NEW_BUILD | novelty::UNBOUND | novelty::TOOL) != 0;
            let si = &ctx.sign_in;
            let day = now.div_euclid(DAY_MS);
            linker.saw_build(si.build, day);
            if on.contains(Layer::Links) && n & novelty::NEW_NETWORK != 0 && other {
                let sighting = link::Sighting { agent, org: e.actor.org, at: now };
                let (w, k, o) = (s.link_window_ms, s.link_accounts, s.link_orgs);
                let by_network = (si.network != 0)
                    .then(|| linker.sight(link::network_key(si.network), link::Via::Network, sighting, w, k, o))
                    .flatten();
                // One provider and one build: only a build almost nobody else runs (three
                // sessions a day for each account sighted with it at most).
                let key = link::build_key(si.provider, si.build);
                let sighted = linker.sightings.get(&key).map_or(0, Vec::len) as u32 + 1;
                let by_build = (si.provider != 0
                    && si.build != 0
                    && n & novelty::NEW_BUILD != 0
                    && linker.rare_build(si.build, day, 3 * sighted))
                .then(|| linker.sight(key, link::Via::ProviderBuild, sighting, w, k, o))
                .flatten();
                link_formed = by_network.or(by_build);
            }
        }
        if a.link_gen != linker.generation {
            a.link_gen = linker.generation;
            if let Some(&id) = linker.members.get(&agent) {
                a.link = id;
            }
        }
        // Context off: the novelty is still learnt (above), it only says nothing.
        let novelty_bits = if on.contains(Layer::Context) { a.session_novelty } else { 0 };
        let mut context: Vec<&str> =
            novelty::NAMES.iter().filter(|(bit, _)| novelty_bits & bit != 0).map(|(_, n)| *n).collect();
        let hour_of_day = (now.rem_euclid(DAY_MS) / HOUR_MS) as usize;
        if on.contains(Layer::Context) && a.unusual_hour(hour_of_day) {
            context.push("unusual_hour");
        }
        let mut risk = context.len() as u32;
        if suspect_maker.is_some() {
            context.push("maker_under_suspicion");
            risk += 2;
        }
        if let Some(m) = suspect_maker {
            out.push(VerdictAction::Allow, format!("maker_under_suspicion={m} quotas_at=50%"));
        }
        // Corroboration: a context that says someone else may hold the session (a young
        // account or a concurrent session alone does not).
        let foreign = novelty_bits
            & (novelty::NEW_NETWORK
                | novelty::NEW_BROWSER
                | novelty::DORMANT
                | novelty::CREDENTIAL_RESET
                | novelty::UNBOUND
                | novelty::TOOL)
            != 0;

        // Enumeration.
        if let Some(p) = e.person.filter(|_| e.action != AccessAction::ScopeList) {
            let id = p.get();
            a.run = match a.last_person {
                Some(last) if id == last => a.run,
                Some(last) if id > last && id - last <= 3 => a.run + 1,
                _ => 1,
            };
            a.last_person = Some(id);
        }
        let lookup = matches!(e.action, AccessAction::LookupByNir | AccessAction::LookupByFtId);
        if lookup {
            observe_lookup(a, e, now);
        }
        // The list of misses is read only within the window of the latest one.
        let misses = if now.saturating_sub(a.derived.last_miss) < LOOKUP_WINDOW_MS {
            let m = &mut a.cold.misses;
            while m.front().is_some_and(|&t| now - t >= LOOKUP_WINDOW_MS) || m.len() > 4 * t.lookup_misses as usize {
                m.pop_front();
            }
            m.len()
        } else {
            0
        };
        let enumeration = on.contains(Layer::Enumeration);
        let sequential = enumeration && a.run >= t.sequential_run;
        let probing = enumeration && misses as u32 >= t.lookup_misses;
        // The cadence is learnt whatever the layers.
        let scripted = match a.cadence(now, e.request.0) {
            Some((mean, sd)) if enumeration && mean <= SCRIPTED_MEAN_MS && sd < SCRIPTED_CV * mean.max(1.0) => {
                Some((mean, sd))
            }
            _ => None,
        };
        if e.action == AccessAction::ScopeList {
            a.cold.scope_lines.add(now, 1);
            a.derived.last_scope = now;
        }
        let scope_lines =
            if now.saturating_sub(a.derived.last_scope) < HOUR_MS { a.cold.scope_lines.total(now) } else { 0 };
        if sequential {
            out.push(VerdictAction::StepUp, format!("sequential_run={} threshold={}", a.run, t.sequential_run));
            // A walk that goes on after a passed step-up, from a session taken over (reset
            // credentials, a network or browser new to the account) or on a day of refusals:
            // the factor was proven by whoever holds the account now, and it is a script.
            let refused_day = a.day.denied >= 10 && 2 * a.day.denied >= a.day.views;
            if ctx.elevated && a.run >= s.walk_after_step_up && (foreign || refused_day) {
                let mut by = context.clone();
                if refused_day {
                    by.push("mostly_refused_today");
                }
                out.push(
                    VerdictAction::SuspendSession,
                    format!(
                        "walk_after_step_up run={} threshold={} corroborated_by={}",
                        a.run,
                        s.walk_after_step_up,
                        by.join(",")
                    ),
                );
            }
        }
        if probing {
            out.push(VerdictAction::StepUp, format!("lookup_misses_10min={misses} threshold={}", t.lookup_misses));
        }
        let hard = on.contains(Layer::Quotas);
        if hard && scope_lines > t.scope_lines_hour {
            out.push(VerdictAction::StepUp, format!("scope_lines_hour={scope_lines} threshold={}", t.scope_lines_hour));
        }
        if hard && lookup && a.day.outside_lookups > t.outside_lookups_day {
            out.push(
                VerdictAction::Throttle,
                format!("outside_lookups_day={} quota={}", a.day.outside_lookups, t.outside_lookups_day),
            );
        }

        // A campaign across organizations: a linked account reads no new person.
        let linked_now = on.contains(Layer::Links) && a.link != 0;

        // What this event would add to the account's windows.
        let d = a.persons.at(e.at);
        let adds = if person.is_some() { a.persons.adds(last, e.at) } else { [0; 3] };
        let refused_hour =
            if now.saturating_sub(a.derived.last_refused) < HOUR_MS { a.cold.refused.total(now) } else { 0 };
        let step_up_percent = if risk >= 1 { (t.step_up_percent / 2).max(1) } else { t.step_up_percent };
        let projected = [d.hour + adds[0], d.day + adds[1], d.week + adds[2]];
        let new_to_account = adds[2] == 1;
        if let Some((mean, sd)) = scripted
            && u64::from(projected[0]) * 5 >= u64::from(t.quota_hour)
        {
            out.push(VerdictAction::StepUp, format!("scripted_cadence mean_ms={mean:.0} sd_ms={sd:.0}"));
        }

        // Hard quotas: over one, new persons are refused; one is admitted per time-out.
        let names = ["hour", "day", "week"];
        let exceeded: Vec<usize> = (0..3).filter(|&w| hard && projected[w] > quotas[w] && adds[w] == 1).collect();
        let again = person.is_some_and(|p| a.derived.refused_any && a.cold.refused_recent.contains(&p.get()));
        let attempt = |w: usize| if again { 0 } else { adds[w] };
        let attempted = [d.hour + refused_hour + attempt(0), d.day + a.day.refused_new + attempt(1)];
        // An account on probation trying twice its (reduced) quota is corroboration enough: a new
        // hire reads its first caseload at a human pace, under those quotas.
        let corroborated =
            sequential || probing || scripted.is_some() || foreign || suspect_maker.is_some() || ctx.probation;
        if !exceeded.is_empty() {
            for &w in &exceeded {
                out.push(
                    VerdictAction::Allow,
                    format!("distinct_persons_{}={} quota={}", names[w], projected[w], quotas[w]),
                );
            }
            if ctx.probation {
                // On probation the quotas are the whole allowance: no person trickles through
                // a time-out (an account a week old has no backlog a token would serve).
                out.push(VerdictAction::Throttle, "probation_no_token=1".into());
            } else if a.throttled_until != 0 && now >= a.throttled_until {
                let timeout = THROTTLE_MS[usize::from(a.rung).min(THROTTLE_MS.len() - 1)];
                a.rung = a.rung.saturating_add(1);
                a.throttled_until = now + timeout;
                out.push(VerdictAction::Allow, format!("throttle_token=1 next_in_ms={timeout} repeat={}", a.rung));
            } else if a.throttled_until == 0 {
                let timeout = THROTTLE_MS[usize::from(a.rung).min(THROTTLE_MS.len() - 1)];
                a.rung = a.rung.saturating_add(1);
                a.throttled_until = now + timeout;
                out.push(VerdictAction::Throttle, format!("throttle_ms={timeout} repeat={}", a.rung));
            } else {
                out.push(VerdictAction::Throttle, format!("throttled_for_ms={}", a.throttled_until - now));
            }
        }
        let doubled = attempted[0] >= quotas[0].saturating_mul(2) || attempted[1] >= quotas[1].saturating_mul(2);
        if hard && doubled && (!exceeded.is_empty() || out.strictest() != VerdictAction::Allow) {
            if corroborated {
                out.push(
                    VerdictAction::SuspendSession,
                    format!(
                        "attempted_persons hour={} day={} twice_quota={}/{} corroborated_by={}",
                        attempted[0],
                        attempted[1],
                        quotas[0],
                        quotas[1],
                        corroboration(sequential, probing, scripted.is_some(), ctx.probation, &context)
                    ),
                );
            } else {
                out.push(
                    VerdictAction::Throttle,
                    format!("attempted_persons hour={} day={}", attempted[0], attempted[1]),
                );
            }
        }

        // Near a quota: a step-up (at half the usual point when the context is unusual).
        let near =
            hard && (0..3).any(|w| u64::from(projected[w]) * 100 >= u64::from(quotas[w]) * u64::from(step_up_percent));
        if near && exceeded.is_empty() {
            out.push(
                VerdictAction::StepUp,
                format!(
                    "distinct_persons hour={}/{} day={}/{} week={}/{} step_up_at={step_up_percent}%",
                    projected[0], quotas[0], projected[1], quotas[1], projected[2], quotas[2]
                ),
            );
        }
        if !context.is_empty() && (near || out.list.iter().any(|(a, _)| a.rank() >= VerdictAction::StepUp.rank())) {
            out.push(VerdictAction::Allow, format!("context={}", context.join(",")));
        }

        // The organization's and the peer group's shared counts.
        // The organization's list of active accounts needs minutes, not milliseconds.
        if now.saturating_sub(a.derived.org_seen_at) >= ORG_SEEN_MS || a.derived.org_seen_quotas != quotas {
            org.seen(agent, now, quotas);
            a.derived.org_seen_at = now;
            a.derived.org_seen_quotas = quotas;
        }
        let group = groups.entry(peer).or_insert_with(|| GroupState::new(key));
        if new_to_account {
            let over = org.over_quota(now, s.org_quota_percent);
            let est = [org.estimate.hour, org.estimate.day, org.estimate.week];
            // Both counts refresh (and the group's history grows) with the layer off.
            let shared = on.contains(Layer::OrgQuotas);
            for w in 0..3 {
                if shared && over[w] {
                    out.push(
                        VerdictAction::Throttle,
                        format!(
                            "org_distinct_persons_{}≈{:.0} org_quota={} approximate=hll",
                            names[w], est[w], org.quota[w]
                        ),
                    );
                }
            }
            if let Some((day, usual)) = group.unusual_day(now, s.peer_group_factor)
                && shared
            {
                out.push(
                    VerdictAction::StepUp,
                    format!("peer_group_day≈{day:.0} usual≈{usual:.0} factor={} approximate=hll", s.peer_group_factor),
                );
            }
        }

        // Statistics (a step-up at most), each against the account's own history and its
        // peers' percentile, after what a declared campaign allows and relieved by the level
        // of its team or organization today (`surge.rs`). One that fires is a *deviation*: past
        // a passed step-up, the ladder goes on (`insist` below).
        let today = a.day.distinct + adds_since(person, last, now, DAY_MS);
        let this_hour = a.day.hour_distinct + adds_since(person, last, now, HOUR_MS);
        let own = on.contains(Layer::SelfBaseline);
        let mut relief_memo: Option<f64> = None;
        let day_index = now.div_euclid(DAY_MS);
        let (min_members, cap) = (s.surge_min_accounts, s.surge_cap);
        let mut relief = || {
            *relief_memo.get_or_insert_with(|| {
                if surges_on { surge::relief(surges, gkeys, day_index, min_members, cap) } else { 1.0 }
            })
        };
        // What the statistics count: beyond the declared volume, divided by the group's level.
        let mut adjusted = |x: u32| f64::from(x.saturating_sub(declared)) / relief();
        let mut deviation: Option<String> = None;
        if let Some(base) = a.derived.self_base.filter(|_| own) {
            let fires = |x: f64| {
                let z = (x - base.median) / base.sigma;
                (x >= f64::from(s.min_volume) && x >= s.self_factor * base.median && z >= s.self_z).then_some(z)
            };
            if fires(f64::from(today)).is_some()
                && let x = adjusted(today)
                && let Some(z) = fires(x)
            {
                out.push(
                    VerdictAction::StepUp,
                    format!("self_distinct_today={today} median={:.0} z={z:.1} threshold={}", base.median, s.self_z),
                );
                deviation = Some(format!(
                    "read {today} persons today, {:.1} times its usual {:.0}",
                    x / base.median.max(1.0),
                    base.median
                ));
            }
        }
        if own && a.hourly.n >= 40 {
            let mean = f64::from(a.hourly.mean);
            let sd = a.hourly.sd().max(1.0);
            let fires = |x: f64| {
                let z = (x - mean) / sd;
                (x >= f64::from(s.min_volume) && x >= s.self_factor * mean && z >= s.self_z).then_some(z)
            };
            if fires(f64::from(this_hour)).is_some()
                && let x = adjusted(this_hour)
                && let Some(z) = fires(x)
            {
                out.push(
                    VerdictAction::StepUp,
                    format!("self_distinct_hour={this_hour} mean={mean:.1} z={z:.1} threshold={}", s.self_z),
                );
                deviation.get_or_insert_with(|| {
                    format!("read {this_hour} persons this hour, {:.1} times its usual {mean:.1}", x / mean.max(1.0))
                });
            }
        }
        if own && now < a.cusum_alarm_until && new_to_account {
            if ctx.elevated {
                // The owner proved presence since the alarm: the drift is theirs. The sum
                // starts again (the design's "pass → continue, with the counter reset").
                a.cold.cusum.s = 0.0;
                a.cusum_alarm_until = i64::MIN;
                out.push(VerdictAction::Allow, "cusum_reset_by_step_up=1".into());
            } else {
                out.push(VerdictAction::StepUp, format!("cusum={:.1} threshold={}", a.cold.cusum.s, s.cusum_h));
            }
        }
        let denied_today = a.day.denied + u32::from(e.action == AccessAction::View && e.decision != Decision::Allow);
        let views_today = a.day.views + u32::from(e.action == AccessAction::View);
        if own && denied_today >= 10 && views_today > 0 {
            let ratio = f64::from(denied_today) / f64::from(views_today);
            let usual = if a.denied_ratio.n >= 10 { f64::from(a.denied_ratio.mean) } else { 0.0 };
            if ratio >= 0.5 && ratio >= 3.0 * usual {
                out.push(
                    VerdictAction::StepUp,
                    format!("denied_today={denied_today} ratio={ratio:.2} usual={usual:.2}"),
                );
            }
        }
        let lookups_today = a.day.lookups + u32::from(lookup);
        if own && lookups_today >= 20 {
            let ratio = f64::from(lookups_today) / f64::from(lookups_today + views_today);
            // Only against the account's own habit: a front desk may do nothing but lookups.
            if a.lookup_ratio.n >= 10
                && let usual = f64::from(a.lookup_ratio.mean)
                && ratio >= 0.8
                && ratio >= 3.0 * usual
            {
                out.push(
                    VerdictAction::StepUp,
                    format!("lookups_today={lookups_today} lookup_ratio={ratio:.2} usual={usual:.2}"),
                );
            }
        }
        if on.contains(Layer::PeerBaseline)
            && today >= s.min_volume
            && let Some(q) = peers.get_mut(&peer).and_then(|h| h.quantile_memo(s.peer_quantile, s.peer_min_days))
            && f64::from(today) > s.peer_factor * q
            && adjusted(today) > s.peer_factor * q
        {
            out.push(
                VerdictAction::StepUp,
                format!("peer_distinct_today={today} peer_q{}={q:.0} factor={}", s.peer_quantile, s.peer_factor),
            );
            deviation.get_or_insert_with(|| {
                format!("read {today} persons today, {:.1} times its peers' {:.0}", f64::from(today) / q.max(1.0), q)
            });
        }
        // Relationships this account created and read at once, or created for persons it found
        // by an exact lookup, far beyond its habit (`creations.rs` counts them).
        if on.contains(Layer::Creations)
            && let Some(why) = creations::justified_signal(a, s, &mut adjusted)
        {
            out.push(VerdictAction::StepUp, why.clone());
            deviation.get_or_insert(why);
        }
        // The kind-wide counter: many small extractions in unusual sessions add up.
        let kind_index = e.actor.org_kind as usize;
        if on.contains(Layer::Links)
            && new_to_account
            && foreign
            && let Some(k) = kinds.get_mut(kind_index)
        {
            k.roll(day_index);
            if let Some(base) = k.history.robust()
                && f64::from(k.today) >= f64::from(s.min_volume).max(s.kind_new_factor * base.median.max(base.mean))
            {
                out.push(
                    VerdictAction::StepUp,
                    format!(
                        "kind_new_persons_today={} usual={:.0} factor={} kind={}",
                        k.today,
                        base.median,
                        s.kind_new_factor,
                        e.actor.org_kind.as_str()
                    ),
                );
            }
        }
        // A campaign across organizations: the linked account reads no new person, and the
        // session that formed or grew the campaign carries the alert naming every account.
        if linked_now && (new_to_account || link_formed.is_some()) {
            let words = match link_formed {
                Some(id) => linker.describe(id),
                None => format!("campaign_link={}", a.link),
            };
            out.push(VerdictAction::Throttle, words);
        }

        // Friction: many persons new to the account, or an unusual context reading new persons.
        if let Some(r) = ctx.reason {
            a.reason_until = now + s.reason_valid_ms;
            out.push(VerdictAction::Allow, format!("reason={}", r.as_str()));
        }
        let reason_active = now < a.reason_until;
        if new_to_account && !reason_active {
            let new_today = a.day.new + 1;
            let friction_at = (u64::from(t.quota_day) * u64::from(t.friction_new_percent) / 100).max(1) as u32;
            let usual = a.derived.new_usual;
            if own && new_today >= friction_at && f64::from(new_today) >= 3.0 * usual {
                out.push(
                    VerdictAction::Friction,
                    format!("new_persons_today={new_today} friction_at={friction_at} usual={usual:.0}"),
                );
            } else if risk >= 2 {
                out.push(VerdictAction::Friction, format!("context={} new_person=1", context.join(",")));
            }
        }

        // A passed step-up proves who, not why. Past one, an account still far off its own and
        // its peers' baselines is asked a reason that goes to its manager, then throttled to
        // its own usual pace until a human lifts it (`Detector::lift`).
        let new_today = person.is_some() && adds_since(person, last, now, DAY_MS) == 1;
        if on.contains(Layer::Insist) && service.is_none() {
            if a.insist == insist::PACE {
                let (pace_hour, pace_day) = pace(a, s);
                if new_today && (today > pace_day || this_hour > pace_hour) {
                    out.push(
                        VerdictAction::Throttle,
                        format!(
                            "pace_throttle hour={this_hour}/{pace_hour} day={today}/{pace_day} lift=manager_or_security_officer"
                        ),
                    );
                }
            } else if ctx.elevated
                && let Some(words) = &deviation
            {
                if a.insist == insist::NONE && a.deviant >= s.insist_reason_after {
                    a.insist = insist::REASON_ASKED;
                }
                if a.insist == insist::REASON_ASKED {
                    match ctx.reason {
                        Some(r) => {
                            a.insist = insist::REASON_GIVEN;
                            a.cold.insist_reason = Some(r);
                            out.push(VerdictAction::Allow, format!("manager_reason={}", r.as_str()));
                        }
                        None => out.push(
                            VerdictAction::Friction,
                            format!(
                                "manager_review=1 deviant={} deviation=\"{words}, after a passed step-up\"",
                                a.deviant
                            ),
                        ),
                    }
                }
                if a.insist == insist::REASON_GIVEN && a.deviant >= s.insist_throttle_after {
                    a.insist = insist::PACE;
                    a.cold.pace_since = now;
                    let (pace_hour, pace_day) = pace(a, s);
                    out.push(
                        VerdictAction::Throttle,
                        format!(
                            "pace_throttle=1 hour={pace_hour} day={pace_day} deviant={} reason_given={} deviation=\"{words}, after a passed step-up and a reason for the manager\" lift=manager_or_security_officer",
                            a.deviant,
                            a.cold.insist_reason.map_or("none", |r| r.as_str())
                        ),
                    );
                }
            }
        }

        // A service account answers no step-up and no prompt: its statistical signals stay in
        // the record (and the alert of a throttle), its envelope throttles.
        if service.is_some() {
            for (action, reason) in &mut out.list {
                if matches!(action, VerdictAction::StepUp | VerdictAction::Friction) {
                    *action = VerdictAction::Allow;
                    reason.insert_str(0, "service_no_step_up:");
                }
            }
        }

        // The ladder's memory: repeated session suspensions suspend the account.
        let mut action = out.decide(ctx.elevated, ctx.reason.is_some());
        if action == VerdictAction::SuspendSession {
            let c = &mut *a.cold;
            while c.session_suspensions.front().is_some_and(|&t| now - t >= DAY_MS) {
                c.session_suspensions.pop_front();
            }
            if c.suspended_session != a.session {
                c.suspended_session = a.session;
                c.session_suspensions.push_back(now);
            }
            if c.session_suspensions.len() >= 2 {
                a.suspended = true;
                action = VerdictAction::SuspendAccount;
                out.push(action, format!("session_suspensions_24h={}", c.session_suspensions.len()));
            }
        }
        if action.rank() >= VerdictAction::SuspendSession.rank() {
            suspects.insert(agent, now + SUSPICION_MS);
        }

        // Observe: what will leave, and today's tallies.
        let effective = match action {
            VerdictAction::StepUp if ctx.elevated => VerdictAction::Allow,
            VerdictAction::Friction if ctx.reason.is_some() => VerdictAction::Allow,
            other => other,
        };
        let shadow = self.config.shadow.contains(&e.actor.org_kind);
        let releases = person.is_some() && (effective == VerdictAction::Allow || shadow);
        observe_tallies(a, now, e.action, e.decision);
        if action.rank() >= VerdictAction::StepUp.rank() {
            a.day.flagged = true;
        }
        if let Some(p) = person {
            if releases {
                // Created by this account just now: a read of it is self-justified, and a
                // lookup that found it is not forgiven (lookup → create → read).
                let self_created = now.saturating_sub(a.derived.last_created) < account::RECENT_CREATED_MS
                    && creations::read_created(a, p, now);
                if a.day.outside_lookups > 0
                    && !self_created
                    && let Some(&(_, request)) = a.cold.outside.iter().find(|(x, _)| *x == p.get())
                {
                    resolve_outside(a, request);
                }
                if deviation.is_some() && ctx.elevated && new_today {
                    a.deviant += 1;
                }
                if new_to_account
                    && foreign
                    && let Some(k) = kinds.get_mut(kind_index)
                {
                    k.roll(day_index);
                    k.today += 1;
                }
                a.persons.touch(places, agent, p, e.at);
                count_release(a, now, last);
                if surges_on
                    && new_today
                    && let Some(base) = a.derived.self_base
                {
                    let ratio = f64::from(a.day.distinct) / base.median.max(1.0);
                    (a.surge_bucket, a.surge_day) =
                        surge::note(surges, gkeys, (a.surge_bucket, a.surge_day), day_index, ratio);
                }
                // One keyed hash for both sketches when they share the key.
                let h = org.hll.hash(p.get());
                org.insert_hashed(h, e.at);
                if group.hll.same_key(&org.hll) {
                    group.insert_hashed(h, e.at);
                } else {
                    group.insert(p.get(), e.at);
                }
            } else if new_to_account && !again {
                a.cold.refused.add(now, 1);
                a.derived.last_refused = now;
                a.derived.refused_any = true;
                a.day.refused_new += 1;
                let slot = (a.day.refused_new as usize) % a.cold.refused_recent.len();
                a.cold.refused_recent[slot] = p.get();
            }
        }
        let reasons = if out.list.is_empty() { Vec::new() } else { out.list.into_iter().map(|(_, r)| r).collect() };
        Verdict { action, reasons }
    }

    fn judge_lifecycle(&self, st: &mut State, act: &LifecycleAction) -> Verdict {
        let now = act.at.millis();
        let s = &self.config.stats;
        let under_suspicion = st.suspects.get(&act.actor).is_some_and(|&until| now < until);
        let a = st.accounts.entry(act.actor).or_default();
        if a.suspended {
            return Verdict { action: VerdictAction::SuspendAccount, reasons: vec!["account_suspended=1".into()] };
        }
        if matches!(act.kind, LifecycleKind::ExtractRequest | LifecycleKind::ExtractApproval) {
            // A bulk extract is the whole scope at once: an account the ladder is containing
            // (a manager's review asked, or throttled to its own pace) or under suspicion for
            // what it created does not turn to the bulk path instead. Extracts are not
            // account creations: they do not count against those quotas.
            let mut reasons = Vec::new();
            if a.insist != insist::NONE {
                reasons.push(format!("{}_while_contained=1", act.kind.as_str()));
            }
            if under_suspicion {
                reasons.push("actor_under_suspicion=1".into());
            }
            return if reasons.is_empty() {
                Verdict::allow()
            } else {
                Verdict { action: VerdictAction::Throttle, reasons }
            };
        }
        let creations = &mut a.cold.creations;
        while creations.front().is_some_and(|&t| now - t >= WEEK_MS) {
            creations.pop_front();
        }
        if !self.config.layers.contains(Layer::Lifecycle) {
            creations.push_back(now);
            return Verdict::allow();
        }
        let day = creations.iter().filter(|&&t| now - t < DAY_MS).count() as u32 + 1;
        let week = creations.len() as u32 + 1;
        let kind = act.kind.as_str();
        let mut reasons = Vec::new();
        if day > s.creations_day {
            reasons.push(format!("account_{kind}s_day={day} quota={}", s.creations_day));
        }
        if week > s.creations_week {
            reasons.push(format!("account_{kind}s_week={week} quota={}", s.creations_week));
        }
        if under_suspicion {
            reasons.push("actor_under_suspicion=1".into());
        }
        if reasons.is_empty() {
            a.cold.creations.push_back(now);
            return Verdict::allow();
        }
        // Held, and the account is under suspicion: what it created this week shares its risk.
        a.flagged_until = now + SUSPICION_MS;
        st.suspects.insert(act.actor, now + SUSPICION_MS);
        Verdict { action: VerdictAction::Throttle, reasons }
    }
}

/// The pace an account throttled past its step-up keeps (persons an hour, a day): its own
/// usual, times `pace_factor`, never less than 5 and 10.
fn pace(a: &Account, s: &Statistics) -> (u32, u32) {
    let hour = if a.hourly.n >= 10 { (s.pace_factor * f64::from(a.hourly.mean)).ceil() } else { 0.0 };
    let day = a.derived.self_base.map_or(0.0, |b| (s.pace_factor * b.median).ceil());
    (hour.max(5.0) as u32, day.max(10.0) as u32)
}

/// The place of (kind, role) in the thresholds table (fieldless enums: their declaration
/// order).
fn table_index(kind: OrgKind, role: Role) -> usize {
    kind as usize * Role::ALL.len() + role as usize
}

/// A lookup's candidate: a request that finds nobody the agent may read is a miss (probing)
/// and an outside lookup, once per request whatever the number of records its key matched;
/// one that finds a person the agent may read is neither, its other candidates being the
/// same person's re-registrations or homonyms.
fn observe_lookup(a: &mut Account, e: &AccessEvent, now: i64) {
    let c = &mut *a.cold;
    if c.lookup_request != e.request.0 {
        c.lookup_request = e.request.0;
        c.lookup_found = false;
        c.lookup_outside = false;
    }
    let tag = e.request.0 as u64;
    if e.decision == Decision::Allow {
        c.lookup_found = true;
        if c.lookup_outside {
            // An earlier candidate of this request was counted: it was a homonym.
            c.lookup_outside = false;
            if c.misses.back() == Some(&now) {
                c.misses.pop_back();
            }
            resolve_outside(a, tag);
        }
        return;
    }
    if c.lookup_found {
        return;
    }
    if !c.lookup_outside {
        c.lookup_outside = true;
        c.misses.push_back(now);
        a.derived.last_miss = now;
        if a.day.outside_lookups == 0 {
            c.outside.clear();
        }
        a.day.outside_lookups += 1;
    }
    if let Some(p) = e.person
        && c.outside.len() < account::OUTSIDE_KEPT
    {
        c.outside.push((p.get(), tag));
    }
}

/// An outside lookup request turned out to find someone the agent may read (a relationship
/// that arrived late, a re-registration): it no longer counts.
fn resolve_outside(a: &mut Account, request: u64) {
    let before = a.cold.outside.len();
    a.cold.outside.retain(|&(_, r)| r != request);
    if a.cold.outside.len() < before || a.cold.lookup_request as u64 == request {
        a.day.outside_lookups = a.day.outside_lookups.saturating_sub(1);
    }
}

/// Today's tallies of one event.
fn observe_tallies(a: &mut Account, now: i64, action: AccessAction, decision: Decision) {
    a.day.events += 1;
    a.day.hours |= 1 << ((now.rem_euclid(DAY_MS) / HOUR_MS) as u32);
    match action {
        AccessAction::View => {
            a.day.views += 1;
            if decision != Decision::Allow {
                a.day.denied += 1;
            }
        }
        AccessAction::LookupByNir | AccessAction::LookupByFtId => a.day.lookups += 1,
        // Extract rows are an approved job's, counted by the organization's extract quota.
        AccessAction::ScopeList | AccessAction::Extract => {}
    }
}

/// Counts a released person in today's and this hour's tallies (`last`: its previous touch).
fn count_release(a: &mut Account, now: i64, last: Option<i64>) {
    let day_start = now.div_euclid(DAY_MS) * DAY_MS;
    let hour_start = now.div_euclid(HOUR_MS) * HOUR_MS;
    if last.is_none_or(|l| l < day_start) {
        a.day.distinct += 1;
    }
    if last.is_none_or(|l| l < hour_start) {
        a.day.hour_distinct += 1;
    }
    if last.is_none_or(|l| now - l >= WEEK_MS) {
        a.day.new += 1;
    }
}

/// 1 if releasing `person` would add it to the calendar period of length `len` (day, hour).
fn adds_since(person: Option<crate::ids::PersonId>, last: Option<i64>, now: i64, len: i64) -> u32 {
    let start = now.div_euclid(len) * len;
    u32::from(person.is_some() && last.is_none_or(|l| l < start))
}

fn corroboration(sequential: bool, probing: bool, scripted: bool, probation: bool, context: &[&str]) -> String {
    let mut c: Vec<&str> = Vec::new();
    if probation {
        c.push("probation");
    }
    if sequential {
        c.push("sequential");
    }
    if probing {
        c.push("probing");
    }
    if scripted {
        c.push("scripted_cadence");
    }
    c.extend_from_slice(context);
    c.join(",")
}

/// The session-context signals of a session, from what the session layer learnt at sign-in.
fn session_novelty(a: &mut Account, ctx: &DetectContext, now: i64, s: &Statistics) -> u16 {
    let si = &ctx.sign_in;
    let mut f = 0;
    let c = &mut *a.cold;
    let had_history = c.has_history();
    if !c.learn_network(si.network) && had_history {
        f |= novelty::NEW_NETWORK;
    }
    if let Some(ua) = si.ua_family {
        let bit = 1u16 << (ua as u16);
        if c.browsers != 0 && c.browsers & bit == 0 {
            f |= novelty::NEW_BROWSER;
        }
        c.browsers |= bit;
    }
    if si.concurrent_sessions >= 1 {
        f |= novelty::CONCURRENT;
    }
    if si.account_created_at.is_some_and(|c| now - c.millis() < s.young_account_ms) {
        f |= novelty::YOUNG;
    }
    if si.previous_sign_in.is_some_and(|p| now - p.millis() >= s.dormant_ms) {
        f |= novelty::DORMANT;
    }
    if si.credential_changed_at.is_some_and(|c| now - c.millis() < s.credential_recent_ms) {
        f |= novelty::CREDENTIAL_RESET;
    }
    if !c.learn_build(si.build) && had_history {
        f |= novelty::NEW_BUILD;
    }
    if si.device_bound {
        c.bound_seen = true;
    } else if c.bound_seen {
        f |= novelty::UNBOUND;
    }
    // A tool's user agent where the account used none before (an integration always does).
    if si.ua_family == Some(crate::signin::UaFamily::Tool) && f & novelty::NEW_BROWSER != 0 {
        f |= novelty::TOOL;
    }
    f
}

impl crate::ports::Detector for ExfiltrationDetector {
    fn assess(&self, event: &AccessEvent, context: &DetectContext) -> Verdict {
        let Ok(mut st) = self.state.lock() else {
            // A poisoned lock: the state is unknown; fall back to asking for a step-up rather
            // than allowing blindly (the relationship check still applies).
            return Verdict { action: VerdictAction::StepUp, reasons: vec!["detector_state_unavailable=1".into()] };
        };
        let mut verdict = self.judge(&mut st, event, context);
        // A few slots of the table of touches looked at for persons out of the week.
        st.places.sweep(event.at.millis());
        if self.config.shadow.contains(&event.actor.org_kind) && verdict.action != VerdictAction::Allow {
            verdict.reasons.push(format!("shadow=1 would={}", verdict.action.as_str()));
            verdict.action = VerdictAction::Allow;
        }
        verdict
    }

    fn lifecycle(&self, action: &LifecycleAction) -> Verdict {
        let Ok(mut st) = self.state.lock() else {
            return Verdict { action: VerdictAction::Throttle, reasons: vec!["detector_state_unavailable=1".into()] };
        };
        self.judge_lifecycle(&mut st, action)
    }

    fn relationship(&self, event: &RelationshipEvent, context: &DetectContext) -> Verdict {
        let Ok(mut st) = self.state.lock() else {
            // Unknown state: no creation (a relationship opens a person's record).
            return Verdict { action: VerdictAction::Throttle, reasons: vec!["detector_state_unavailable=1".into()] };
        };
        let mut verdict = self.judge_relationship(&mut st, event, context);
        if self.config.shadow.contains(&event.actor.org_kind) && verdict.action != VerdictAction::Allow {
            verdict.reasons.push(format!("shadow=1 would={}", verdict.action.as_str()));
            verdict.action = VerdictAction::Allow;
        }
        verdict
    }

    fn declare_campaign(&self, campaign: &CampaignDeclaration) {
        if let Ok(mut st) = self.state.lock() {
            let now = campaign.from.millis();
            st.campaigns.retain(|c| c.until.millis() > now);
            if !st.campaigns.contains(campaign) {
                st.campaigns.push(campaign.clone());
            }
        }
    }

    fn add_extract_canaries(&self, canaries: &[(crate::ids::PersonId, u32)]) {
        if let Ok(mut st) = self.state.lock() {
            st.extract_canaries.extend(canaries.iter().copied());
        }
    }

    fn reinstate(&self, agent: AgentId, by: AgentId, at: crate::time::Timestamp) -> bool {
        let held = match self.state.lock() {
            Ok(mut st) => st.accounts.get_mut(&agent).is_some_and(|a| std::mem::replace(&mut a.suspended, false)),
            Err(_) => return false,
        };
        self.lift(agent, by, at);
        held
    }

    fn lift(&self, agent: AgentId, _by: AgentId, _at: crate::time::Timestamp) -> bool {
        let Ok(mut guard) = self.state.lock() else { return false };
        let st = &mut *guard;
        let Some(a) = st.accounts.get_mut(&agent) else { return false };
        let was = a.insist == insist::PACE || a.link != 0;
        a.insist = insist::NONE;
        a.deviant = 0;
        a.cold.insist_reason = None;
        // A campaign link is lifted too: the human vouches for the account.
        if a.link != 0 {
            a.link = 0;
            st.linker.members.remove(&agent);
        }
        was
    }
}

#[cfg(test)]
mod tests;
