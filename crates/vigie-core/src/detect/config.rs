//! The detector's settings: thresholds per organization kind and role, the statistical
//! parameters shared by all, shadow mode, canaries. Every default carries its reason.

use std::collections::{HashMap, HashSet};

use crate::ids::PersonId;
use crate::org::{OrgKind, Role};

/// Quotas and signal thresholds for one kind of account. Defaults are in
/// [`Thresholds::default_for`], with the reason for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// Distinct persons whose data was returned, per sliding hour / day / week.
    pub quota_hour: u32,
    pub quota_day: u32,
    pub quota_week: u32,
    /// A step-up is asked at this percentage of any quota (half of it when the session's
    /// context is unusual: novelty with volume).
    pub step_up_percent: u32,
    /// Ascending person ids (gap ≤ 3) in a row: sequential enumeration.
    pub sequential_run: u32,
    /// Exact lookups that matched nobody (or nobody reachable) within 10 minutes: probing.
    pub lookup_misses: u32,
    /// Quotas of an account on probation (its first 14 days), in percent of these.
    pub probation_percent: u32,
    /// Persons new to the account (not read by it in the week before) in one day, in percent
    /// of `quota_day`, from which the agent is asked why (friction).
    pub friction_new_percent: u32,
    /// Exact lookups per day that found nobody the agent may read: beyond, lookups are
    /// throttled until the day ends (a lookup outside one's relationships is a guess).
    pub outside_lookups_day: u32,
    /// Lines of the scope list per hour: paging through far more than one's caseload is
    /// harvesting names.
    pub scope_lines_hour: u32,
    /// Relationships (follow-ups, enrolments, assignments, caseload entries) one account may
    /// create per hour and per day: creating one is what puts a person in one's scope. Over
    /// the hour's, no more creations that day.
    pub relationships_hour: u32,
    pub relationships_day: u32,
}

impl Thresholds {
    /// Defaults sized on the synthetic registry's caseloads (agency advisors follow up to 350
    /// persons, some "guided" modalities over 1 000; partners follow their cohorts): a day's
    /// quota above a full caseload review, an hour's above a busy morning, a week's below what
    /// a bulk extraction needs. Administrators and security officers read no one's data:
    /// their quotas are tiny. Friction at 30 % of the day's quota in persons new to the
    /// account: a reassigned caseload (the commonest benign burst) says so once, with a
    /// reason, instead of being throttled. 20 outside lookups a day: a front desk's typos and
    /// retries stay under it, a NIR guesser does not. 3 000 scope lines an hour: three full
    /// passes over the largest caseloads.
    pub fn default_for(kind: OrgKind, role: Role) -> Thresholds {
        let (hour, day, week) = match (kind, role) {
            (_, Role::AccountAdmin | Role::SecurityOfficer) => (5, 10, 20),
            (OrgKind::Agency | OrgKind::CapEmploi, Role::Manager) => (300, 1_500, 4_000),
            (OrgKind::Agency | OrgKind::CapEmploi, _) => (150, 600, 2_000),
            (OrgKind::MissionLocale, _) => (100, 400, 1_200),
            (OrgKind::TrainingOrg, _) => (60, 200, 500),
            (OrgKind::Subcontractor, _) => (100, 400, 1_500),
        };
        // Creations: a front desk records every inbound contact (tens a day, a busy Monday's
        // extreme over a hundred), a manager reassigns, an enrolment desk registers a cohort
        // (30 at once); a fabricator creates one per person it wants, tens a minute.
        let (rel_hour, rel_day) = match (kind, role) {
            (_, Role::AccountAdmin | Role::SecurityOfficer) => (5, 10),
            (OrgKind::Agency | OrgKind::CapEmploi, Role::Manager) => (100, 400),
            (OrgKind::Agency | OrgKind::CapEmploi, _) => (40, 200),
            (OrgKind::MissionLocale, _) => (30, 100),
            (OrgKind::TrainingOrg, _) => (40, 120),
            (OrgKind::Subcontractor, _) => (40, 150),
        };
        Thresholds {
            quota_hour: hour,
            quota_day: day,
            quota_week: week,
            step_up_percent: 80,
            sequential_run: 20,
            lookup_misses: 10,
            probation_percent: 25,
            friction_new_percent: 30,
            outside_lookups_day: 20,
            scope_lines_hour: 3_000,
            relationships_hour: rel_hour,
            relationships_day: rel_day,
        }
    }

    /// Refuses absurd values, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.quota_hour == 0 || self.quota_day == 0 || self.quota_week == 0 {
            return Err("quota_hour, quota_day, quota_week: must be positive".into());
        }
        if !(self.quota_hour <= self.quota_day && self.quota_day <= self.quota_week) {
            return Err(format!(
                "quota_hour ≤ quota_day ≤ quota_week expected, got {} / {} / {}",
                self.quota_hour, self.quota_day, self.quota_week
            ));
        }
        if self.quota_week > 1_000_000 {
            return Err(format!("quota_week: {} is absurd (at most 1000000)", self.quota_week));
        }
        let percent = |key: &str, v: u32| {
            if (1..=100).contains(&v) { Ok(()) } else { Err(format!("{key}: between 1 and 100, got {v}")) }
        };
        percent("step_up_percent", self.step_up_percent)?;
        percent("probation_percent", self.probation_percent)?;
        percent("friction_new_percent", self.friction_new_percent)?;
        if self.sequential_run < 3 {
            return Err(format!("sequential_run: at least 3, got {}", self.sequential_run));
        }
        if self.lookup_misses == 0 {
            return Err("lookup_misses: must be positive".into());
        }
        if self.outside_lookups_day == 0 || self.outside_lookups_day > 10_000 {
            return Err(format!("outside_lookups_day: between 1 and 10000, got {}", self.outside_lookups_day));
        }
        if self.scope_lines_hour < 50 || self.scope_lines_hour > 1_000_000 {
            return Err(format!("scope_lines_hour: between 50 and 1000000, got {}", self.scope_lines_hour));
        }
        if self.relationships_hour == 0 || self.relationships_hour > self.relationships_day {
            return Err(format!(
                "relationships_hour: positive and at most relationships_day, got {} / {}",
                self.relationships_hour, self.relationships_day
            ));
        }
        if self.relationships_day > 100_000 {
            return Err(format!("relationships_day: {} is absurd (at most 100000)", self.relationships_day));
        }
        Ok(())
    }
}

/// The statistical layers' parameters, shared by every kind of account. Statistical signals
/// only ever ask for a step-up (a statistical score alone never throttles or suspends).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Statistics {
    /// A step-up when today's distinct persons exceed the account's own median of its last 28
    /// active days by this many robust standard deviations (1.4826 × MAD)… Default 6: at a
    /// normal distribution's tail that is one account-day in hundreds of millions; real days
    /// have heavier tails, so the other two conditions matter as much.
    pub self_z: f64,
    /// …and at least this many times the median…
    pub self_factor: f64,
    /// …and at least this many persons (a quiet account doubling from 3 to 7 is no signal).
    pub min_volume: u32,
    /// CUSUM on daily distinct persons (slow ramps): slack `k` and alarm level `h`, in robust
    /// standard deviations. k = 0.5 and h = 9 alarm after about four to five days at +2.5σ or
    /// two at +4.5σ, rarely on benign variation (h = 5 is the textbook value for a false alarm
    /// every ~500 in-control days). It was 8; on tuning seeds 1–3 (issue 22) the CUSUM was still
    /// the first source of false step-ups (3.4 per 1 000 agent-days, 7 for Cap emploi
    /// caseloads), and the low-and-slow scenario was detected in 3 days of its 7 allowed. At 10
    /// a ramp of 15 persons a day over a usual 40 took 8 days to alarm, past the 7 allowed.
    pub cusum_k: f64,
    pub cusum_h: f64,
    /// A step-up when today's distinct persons exceed `peer_factor` × the peer group's
    /// `peer_quantile` of daily counts (organization kind × role), once the group has
    /// `peer_min_days` completed account-days.
    pub peer_quantile: f64,
    pub peer_factor: f64,
    pub peer_min_days: u64,
    /// An organization's accounts together may read at most this percentage of what they could
    /// each read alone (the sum of their quotas), and never less than the largest single
    /// quota: a handful of stolen accounts of one partner do not multiply the exposure.
    pub org_quota_percent: u32,
    /// A step-up for the accounts of a peer group reading new persons while the group as a
    /// whole reads more than this many times its usual day (the median of its last seven).
    pub peer_group_factor: f64,
    /// A reason given for a friction prompt holds this long for the account: a working day (8 h),
    /// so that a reassigned caseload is explained once, not every hour.
    pub reason_valid_ms: i64,
    /// Session context: an account this young is new, one whose previous sign-in is this old
    /// was dormant, a credential changed this recently was just reset.
    pub young_account_ms: i64,
    pub dormant_ms: i64,
    pub credential_recent_ms: i64,
    /// Account requests and approvals by one account per day and per week beyond which the
    /// next is held (throttled) and the account is under suspicion for a week. An
    /// organization's administrator onboards a cohort in a few batches; ten a day is already
    /// a busy day, thirty a week a campaign.
    pub creations_day: u32,
    pub creations_week: u32,
    /// **A passed step-up proves who, not why.** New persons read while the account stays far
    /// off its own and its peers' baselines after a passed step-up: at this many, a reason is
    /// asked that goes to the agent's manager (the friction rung, once); at `insist_throttle_after`
    /// the account is throttled to its own usual pace until a human (its manager or a security
    /// officer) lifts it. 30 and 80: a reassigned caseload of ordinary size (60 persons a day
    /// over three days) stays under the second; an insider or a session rider reading a large
    /// scope reaches it after about a hundred persons past its step-up.
    pub insist_reason_after: u32,
    pub insist_throttle_after: u32,
    /// The pace an account throttled that way keeps: this many times its usual hour (EWMA) and
    /// day (median), never less than 5 persons an hour and 10 a day.
    pub pace_factor: f64,
    /// A walk over ascending ids that goes on this long after a passed step-up, in a session
    /// opened with reset credentials or from a network or browser new to the account (or on a
    /// day mostly refused), ends the session: who walks ids after proving a factor is a script
    /// in a taken-over account (the Cap emploi reset of 2024). Twice the walk that asks for
    /// the step-up.
    pub walk_after_step_up: u32,
    /// A canary placed in an organization's scope list (a plausible relationship) read during a
    /// burst (this many distinct persons in the last hour, and three times the account's usual
    /// hour) suspends the account; read alone (a misclick in a list), it asks for a step-up
    /// and alerts.
    pub scope_canary_burst: u32,
    /// Peer-group-aware baselines: a team or organization whose active accounts read together
    /// more than usual (the median of their days against their own medians) relieves each
    /// member's statistical tests by that level, up to `surge_cap`, once `surge_min_accounts`
    /// members have baselines. A median over the group does not follow a few taken-over
    /// accounts.
    pub surge_cap: f64,
    pub surge_min_accounts: u32,
    /// Campaigns across organizations: `link_accounts` accounts of at least `link_orgs`
    /// organizations whose sessions within `link_window_ms` came from one network new to each
    /// of them, each with another novelty (a build new to the account, no device binding where
    /// it usually binds, a tool's user agent), are linked: one alert names them and what links
    /// them, and their new persons are throttled. Three accounts of two organizations in 48 h:
    /// each of them new to the network and otherwise unlike itself, which benign colleagues on
    /// a carrier's shared addresses are not; the campaign grows as more accounts join it.
    pub link_accounts: u32,
    pub link_orgs: u32,
    pub link_window_ms: i64,
    /// A step-up when the relationships an account created today for persons it then read at
    /// once, or found by an exact lookup, exceed this many times its usual (and `min_volume`).
    pub justified_factor: f64,
    /// An organization's accounts together may create this percentage of the sum of their
    /// daily creation quotas (never less than the largest).
    pub org_relationships_percent: u32,
    /// Persons new to their reader read by accounts of one organization kind in sessions with
    /// an unusual context, today, beyond this many times the kind's usual day: the sum of many
    /// small extractions. A step-up for the accounts adding to it. 4: at 3, small kinds' own
    /// day-to-day noise made it the second source of partners' false step-ups (tuning seeds 1–3).
    pub kind_new_factor: f64,
}

impl Default for Statistics {
    fn default() -> Self {
        const DAY: i64 = 24 * 3_600_000;
        Statistics {
            self_z: 6.0,
            self_factor: 2.0,
            min_volume: 30,
            cusum_k: 0.5,
            cusum_h: 9.0,
            peer_quantile: 0.999,
            peer_factor: 1.5,
            peer_min_days: 200,
            org_quota_percent: 30,
            peer_group_factor: 3.0,
            reason_valid_ms: 8 * 3_600_000,
            young_account_ms: 30 * DAY,
            dormant_ms: 90 * DAY,
            credential_recent_ms: DAY,
            creations_day: 10,
            creations_week: 30,
            insist_reason_after: 30,
            insist_throttle_after: 80,
            pace_factor: 2.0,
            walk_after_step_up: 40,
            scope_canary_burst: 30,
            surge_cap: 3.0,
            surge_min_accounts: 5,
            link_accounts: 3,
            link_orgs: 2,
            link_window_ms: 48 * 3_600_000,
            justified_factor: 3.0,
            org_relationships_percent: 30,
            kind_new_factor: 4.0,
        }
    }
}

impl Statistics {
    /// Refuses absurd values, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        let positive = |key: &str, v: f64, max: f64| {
            if v.is_finite() && v > 0.0 && v <= max {
                Ok(())
            } else {
                Err(format!("{key}: between 0 and {max}, got {v}"))
            }
        };
        positive("self_z", self.self_z, 100.0)?;
        positive("self_factor", self.self_factor, 100.0)?;
        positive("cusum_k", self.cusum_k, 10.0)?;
        positive("cusum_h", self.cusum_h, 1_000.0)?;
        positive("peer_factor", self.peer_factor, 100.0)?;
        positive("peer_group_factor", self.peer_group_factor, 100.0)?;
        if !(0.5..1.0).contains(&self.peer_quantile) {
            return Err(format!("peer_quantile: at least 0.5 and below 1, got {}", self.peer_quantile));
        }
        if !(1..=100).contains(&self.org_quota_percent) {
            return Err(format!("org_quota_percent: between 1 and 100, got {}", self.org_quota_percent));
        }
        if self.creations_day == 0 || self.creations_day > self.creations_week {
            return Err(format!(
                "creations_day: positive and at most creations_week, got {} / {}",
                self.creations_day, self.creations_week
            ));
        }
        if self.insist_reason_after == 0 || self.insist_reason_after >= self.insist_throttle_after {
            return Err(format!(
                "insist_reason_after: positive and below insist_throttle_after, got {} / {}",
                self.insist_reason_after, self.insist_throttle_after
            ));
        }
        if self.insist_throttle_after > 100_000 {
            return Err(format!("insist_throttle_after: {} is absurd (at most 100000)", self.insist_throttle_after));
        }
        positive("pace_factor", self.pace_factor, 100.0)?;
        positive("justified_factor", self.justified_factor, 100.0)?;
        positive("kind_new_factor", self.kind_new_factor, 100.0)?;
        if !(self.surge_cap.is_finite() && (1.0..=10.0).contains(&self.surge_cap)) {
            return Err(format!("surge_cap: between 1 and 10, got {}", self.surge_cap));
        }
        if self.walk_after_step_up < 3 {
            return Err(format!("walk_after_step_up: at least 3, got {}", self.walk_after_step_up));
        }
        if self.scope_canary_burst == 0 {
            return Err("scope_canary_burst: must be positive".into());
        }
        if self.surge_min_accounts < 3 {
            return Err(format!("surge_min_accounts: at least 3, got {}", self.surge_min_accounts));
        }
        if self.link_accounts < 2 || self.link_orgs == 0 || self.link_orgs > self.link_accounts {
            return Err(format!(
                "link_accounts: at least 2, and link_orgs between 1 and link_accounts, got {} / {}",
                self.link_accounts, self.link_orgs
            ));
        }
        if !(1..=100).contains(&self.org_relationships_percent) {
            return Err(format!(
                "org_relationships_percent: between 1 and 100, got {}",
                self.org_relationships_percent
            ));
        }
        for (key, v) in [
            ("link_window_hours", self.link_window_ms),
            ("reason_valid_minutes", self.reason_valid_ms),
            ("young_account_days", self.young_account_ms),
            ("dormant_days", self.dormant_ms),
            ("credential_recent_hours", self.credential_recent_ms),
        ] {
            if v <= 0 {
                return Err(format!("{key}: must be positive"));
            }
        }
        Ok(())
    }
}

/// The detector's configuration: thresholds per organization kind and role, statistical
/// parameters, shadow mode per organization kind (decide and log, never enforce), the canary
/// persons, and the key of the approximate counters' hash.
#[derive(Clone, Debug)]
pub struct DetectConfig {
    pub thresholds: HashMap<(OrgKind, Role), Thresholds>,
    pub stats: Statistics,
    pub shadow: HashSet<OrgKind>,
    /// Probed on every event: hashed like the detector's maps. Holds every canary, those of
    /// the identifier space and those placed in scope lists.
    pub canaries: super::FastSet<PersonId>,
    /// The canaries placed inside organizations' scope lists (a plausible relationship, in
    /// [`Self::canaries`] too): a read of one is released by the relationship check, so it
    /// suspends only during a burst (see [`Statistics::scope_canary_burst`]).
    pub scope_canaries: super::FastSet<PersonId>,
    /// Keys the HyperLogLog hash so that nobody can choose persons that do not count. Random
    /// at start-up; kept in snapshots.
    pub hll_key: u64,
    /// Which layers decide. All, always, in the server (its config has no key for it); the
    /// simulator switches one off at a time to measure what each layer contributes.
    pub layers: Layers,
}

impl DetectConfig {
    pub fn with_canaries(canaries: impl IntoIterator<Item = PersonId>) -> Self {
        let mut thresholds = HashMap::new();
        for k in OrgKind::ALL {
            for r in Role::ALL {
                thresholds.insert((k, r), Thresholds::default_for(k, r));
            }
        }
        DetectConfig {
            thresholds,
            stats: Statistics::default(),
            shadow: HashSet::new(),
            canaries: canaries.into_iter().collect(),
            scope_canaries: super::FastSet::default(),
            hll_key: 0x5eed_0fc0_ffee,
            layers: Layers::ALL,
        }
    }

    pub fn thresholds(&self, kind: OrgKind, role: Role) -> Thresholds {
        self.thresholds.get(&(kind, role)).copied().unwrap_or_else(|| Thresholds::default_for(kind, role))
    }
}

/// One layer of signals (see the module [`crate::detect`]), named for the simulator's
/// ablation study. Switching one off removes its verdicts, never its bookkeeping: baselines
/// go on learning (from what the other layers let through), so the measure is of the
/// decision alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    /// Session novelty, unusual hours, a maker under suspicion.
    Context,
    /// The account's hard quotas, outside lookups per day, scope lines per hour.
    Quotas,
    /// The organization's quota and the peer group's unusual day (approximate counts).
    OrgQuotas,
    /// The account against its own history: z-scores, CUSUM, ratios, friction on new persons.
    SelfBaseline,
    /// The account against its peer group's quantile.
    PeerBaseline,
    /// Sequential ids, lookups that miss, scripted cadence.
    Enumeration,
    /// Persons nobody has reason to read: a tripwire.
    Canaries,
    /// Holding unusual account creations, and the risk their accounts share.
    Lifecycle,
    /// After a passed step-up, behaviour still far off the baselines: a reason for the
    /// manager, then a throttle to the account's own pace until a human lifts it.
    Insist,
    /// Relationship creations: quotas per account and organization, self-justified access.
    Creations,
    /// Campaigns linking accounts of several organizations, and the kind-wide counters.
    Links,
    /// Peer-group-aware relief of the statistical tests, and declared campaigns.
    Surges,
}

impl Layer {
    pub const ALL: [Layer; 12] = [
        Layer::Context,
        Layer::Quotas,
        Layer::OrgQuotas,
        Layer::SelfBaseline,
        Layer::PeerBaseline,
        Layer::Enumeration,
        Layer::Canaries,
        Layer::Lifecycle,
        Layer::Insist,
        Layer::Creations,
        Layer::Links,
        Layer::Surges,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Context => "context",
            Layer::Quotas => "quotas",
            Layer::OrgQuotas => "org_quotas",
            Layer::SelfBaseline => "self_baseline",
            Layer::PeerBaseline => "peer_baseline",
            Layer::Enumeration => "enumeration",
            Layer::Canaries => "canaries",
            Layer::Lifecycle => "lifecycle",
            Layer::Insist => "insist",
            Layer::Creations => "creations",
            Layer::Links => "links",
            Layer::Surges => "surges",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// A set of layers: a bitset, so that asking whether one is on costs a bit test on the hot
/// path.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Layers(u16);

impl Layers {
    pub const ALL: Layers = {
        let mut bits = 0;
        let mut i = 0;
        while i < Layer::ALL.len() {
            bits |= Layer::ALL[i].bit();
            i += 1;
        }
        Layers(bits)
    };

    pub const fn contains(self, layer: Layer) -> bool {
        self.0 & layer.bit() != 0
    }

    pub const fn without(self, layer: Layer) -> Layers {
        Layers(self.0 & !layer.bit())
    }
}

/// The names of the layers on (a bare number would say nothing in a test failure).
impl std::fmt::Debug for Layers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(Layer::ALL.into_iter().filter(|l| self.contains(*l)).map(Layer::as_str)).finish()
    }
}
