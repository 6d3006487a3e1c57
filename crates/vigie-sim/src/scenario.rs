//! Attacks are data: a scenario file (TOML) says who is attacked, how the attacker got in,
//! what it reads and how fast, and what the guard must reach. Parameters given as `[low,
//! high]` are drawn per seed from that range (fixed before any tuning). Bad files are refused
//! with the line and the key: unknown keys, impossible times, a missing organization.
//!
//! A scenario file holds either an `[attack]` or a `[surge]`: a benign surge of a team, an
//! agency or a whole region (the calls after a breach notification, a convocation campaign),
//! declared by the managers or not, whose false positives are measured on its own agent-days.
//!
//! ```toml
//! name = "stolen-session-fast-bulk"
//! summary = "An advisor's session cookie, stolen by an infostealer, replayed by a script."
//!
//! [attack]
//! victim = "agency/advisor"      # organization kind / role of the account taken over
//! access = "stolen_session"      # stolen_session | stolen_password | phished_second_factor
//!                                # | created_accounts | own_account
//! network = "victim"             # victim (the victim's machine) | foreign (replayed elsewhere)
//! targets = "leaked_keys"        # sequential_ids | leaked_keys | reach | mimicry
//! start_day = [31, 85]           # day of the run (evaluation days only)
//! start_hour = [9, 17]           # local time of the victim's site
//! pace_per_minute = [100, 300]   # new persons a minute the attacker asks for
//! duration_hours = 8             # how long it goes on if nothing stops it
//! jitter = 0.05                  # coefficient of variation of the gaps (0: a metronome)
//!
//! [goal]
//! exposed_p95 = 50               # persons exposed before containment, p95 over seeds
//! contain_seconds = 60           # time to contain, p95
//! ```
//!
//! More `[attack]` keys: `victim_by = "scope_size"` (the largest scopes), `work = "service"`
//! (the victim's work: caseload, oversight, front_desk, partner, service), `targets =
//! "scope_list"` (its scope list walked in order) or `"ft_id_keys"` (lookups by France
//! Travail id), `hit_rate` (the share of leaked keys that match someone), `fabricate = true`
//! with `lookup_first = true` (look up → create a relationship → read), `orgs` (accounts
//! spread one per organization), `infrastructure = "shared"` (one operator's network, provider
//! and browser build for every account), `stagger_minutes` (each account starts that much
//! after the previous one). More goals: `detect_hours`, `link_accounts` and `link_hours` (an
//! alert linking that many of the incident's accounts within that many hours).

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;
use vigie_core::org::{OrgKind, Role};

/// A scenario, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub summary: String,
    /// An attack, or (`None`) a benign surge.
    pub attack: Option<Attack>,
    pub surge: Option<Surge>,
    pub goal: Goal,
    /// Where it was read from (for the report).
    pub file: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Attack {
    pub victim_kind: OrgKind,
    pub victim_role: Role,
    /// A named organization, if the scenario targets one.
    pub org: Option<String>,
    pub access: Access,
    pub network: Network,
    pub targets: Targets,
    pub start_day: Range,
    pub start_hour: Range,
    pub pace_per_minute: Range,
    pub duration_hours: Range,
    pub jitter: Range,
    /// Distributed: this many accounts of one organization, at once.
    pub accounts: Range,
    /// With `created_accounts`: how many the hacked administrator asks for.
    pub created: Range,
    /// The attacker creates a relationship to each target before reading it.
    pub fabricate: bool,
    /// Started while the victim's organization is in a benign burst (a campaign).
    pub during_burst: bool,
    /// Keeps each account under this many new persons a day (low-and-slow), if set.
    pub daily_cap: Option<Range>,
    /// The victim's credentials were just reset (social engineering at a help desk).
    pub credentials_reset: bool,
    /// How the victim is chosen.
    pub victim_by: VictimBy,
    /// The victim's work, if the scenario needs one (a service account).
    pub work: Option<crate::world::Work>,
    /// The share of leaked keys that match a person (the rest match nobody).
    pub hit_rate: Range,
    /// With `fabricate`: look the key up first, then create, then read.
    pub lookup_first: bool,
    /// Accounts spread one per organization over this many organizations.
    pub orgs: Option<Range>,
    /// Every account driven from one operator's network, provider and browser build.
    pub shared_infrastructure: bool,
    /// Minutes between one account's start and the next's.
    pub stagger_minutes: Range,
}

/// How a victim is chosen among the eligible accounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VictimBy {
    /// Uniformly.
    Random,
    /// Among the 5 % with the largest scopes (what an attacker who can choose picks).
    ScopeSize,
}

/// A benign surge: a team, an agency or a region reading more for a few days.
#[derive(Clone, Debug, PartialEq)]
pub struct Surge {
    pub scope: SurgeScope,
    pub start_day: Range,
    pub days: Range,
    /// How many times their usual volume the covered accounts read.
    pub factor: Range,
    /// Whether the managers declare it (a campaign declaration per team or organization).
    pub declared: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SurgeScope {
    Team,
    Agency,
    Region,
}

/// How the attacker holds the account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// A session cookie taken from the victim's browser: no password, no second factor; a
    /// step-up ends it.
    StolenSession,
    /// The password only: Vigie's sign-in asks for a second factor the attacker lacks.
    StolenPassword,
    /// Password and a phished one-time code, or a phished session with the factor at hand:
    /// step-ups pass.
    PhishedSecondFactor,
    /// A hacked account administrator asks for new accounts and extracts through them.
    CreatedAccounts,
    /// An insider or a subcontractor's own account (bulk extraction of what it holds).
    OwnAccount,
    /// A thief riding the victim's live session (malware on the victim's machine, remote
    /// control): the victim's own network, browser and device binding, and the victim answers
    /// the step-ups it is shown.
    RidesSession,
}

impl Access {
    /// Whether the attacker can pass a step-up.
    pub fn passes_step_up(self) -> bool {
        matches!(
            self,
            Access::PhishedSecondFactor | Access::CreatedAccounts | Access::OwnAccount | Access::RidesSession
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// From the victim's own machine (the infostealer's host) or its site.
    Victim,
    /// From elsewhere: a replayed cookie on the attacker's network.
    Foreign,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Targets {
    /// Person ids in ascending order from a random start (an id-sequential scraper).
    SequentialIds,
    /// Exact lookups with keys from an earlier leak (search-driven).
    LeakedKeys,
    /// Exact lookups by France Travail id (and birth date) from a leak.
    FtIdKeys,
    /// The account's scope list, walked in its order (persons by id), every line read.
    ScopeList,
    /// What the account legitimately reaches (its caseload, its organization's files).
    Reach,
    /// The account's reach first, then persons of its region: a careful attacker.
    Mimicry,
}

/// A value, or a range drawn uniformly per seed.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Range {
    pub low: f64,
    pub high: f64,
}

impl Range {
    pub fn fixed(v: f64) -> Range {
        Range { low: v, high: v }
    }

    pub fn draw(&self, rng: &mut crate::rng::Rand) -> f64 {
        use rand::Rng;
        if self.high > self.low { rng.gen_range(self.low..=self.high) } else { self.low }
    }
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Goal {
    pub exposed_p95: Option<f64>,
    pub contain_seconds: Option<f64>,
    pub exposed_per_account_p95: Option<f64>,
    pub detect_days: Option<f64>,
    /// Every account creation must be held for approval.
    pub creations_held: bool,
    /// A canary touched by the attacker ends its access within this many seconds.
    pub canary_suspend_seconds: Option<f64>,
    pub detect_hours: Option<f64>,
    /// An alert linking at least this many of the incident's accounts, within `link_hours`.
    pub link_accounts: Option<f64>,
    pub link_hours: Option<f64>,
    /// A surge: false step-ups per 1 000 of its agent-days, and suspensions, at most.
    pub surge_step_ups_per_1000: Option<f64>,
    pub surge_suspensions: Option<f64>,
}

/// Why a scenario file is refused: where, which key, what.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{file}:{line}: {key}: {message}")]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub key: String,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Spanned<String>,
    #[serde(default)]
    summary: String,
    attack: Option<Spanned<RawAttack>>,
    surge: Option<Spanned<RawSurge>>,
    #[serde(default)]
    goal: RawGoal,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSurge {
    scope: SurgeScope,
    start_day: Spanned<RawRange>,
    days: Spanned<RawRange>,
    factor: Spanned<RawRange>,
    #[serde(default)]
    declared: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttack {
    victim: Spanned<String>,
    org: Option<Spanned<String>>,
    access: Access,
    #[serde(default = "victim_network")]
    network: Network,
    targets: Targets,
    start_day: Spanned<RawRange>,
    #[serde(default = "office_hours")]
    start_hour: Spanned<RawRange>,
    pace_per_minute: Spanned<RawRange>,
    duration_hours: Spanned<RawRange>,
    #[serde(default = "no_jitter")]
    jitter: Spanned<RawRange>,
    #[serde(default = "one")]
    accounts: Spanned<RawRange>,
    #[serde(default = "one")]
    created_accounts: Spanned<RawRange>,
    #[serde(default)]
    fabricate: bool,
    #[serde(default)]
    during_burst: bool,
    daily_cap: Option<Spanned<RawRange>>,
    #[serde(default)]
    credentials_reset: bool,
    #[serde(default = "random_victim")]
    victim_by: VictimBy,
    work: Option<Spanned<String>>,
    #[serde(default = "all_hit")]
    hit_rate: Spanned<RawRange>,
    #[serde(default)]
    lookup_first: bool,
    orgs: Option<Spanned<RawRange>>,
    infrastructure: Option<Spanned<String>>,
    #[serde(default = "no_stagger")]
    stagger_minutes: Spanned<RawRange>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGoal {
    exposed_p95: Option<Spanned<f64>>,
    contain_seconds: Option<Spanned<f64>>,
    exposed_per_account_p95: Option<Spanned<f64>>,
    detect_days: Option<Spanned<f64>>,
    #[serde(default)]
    creations_held: bool,
    canary_suspend_seconds: Option<Spanned<f64>>,
    detect_hours: Option<Spanned<f64>>,
    link_accounts: Option<Spanned<f64>>,
    link_hours: Option<Spanned<f64>>,
    surge_step_ups_per_1000: Option<Spanned<f64>>,
    surge_suspensions: Option<Spanned<f64>>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(untagged)]
enum RawRange {
    One(f64),
    Two([f64; 2]),
}

fn victim_network() -> Network {
    Network::Victim
}
fn office_hours() -> Spanned<RawRange> {
    Spanned::new(0..0, RawRange::Two([9.0, 17.0]))
}
fn no_jitter() -> Spanned<RawRange> {
    Spanned::new(0..0, RawRange::One(0.3))
}
fn one() -> Spanned<RawRange> {
    Spanned::new(0..0, RawRange::One(1.0))
}
fn all_hit() -> Spanned<RawRange> {
    Spanned::new(0..0, RawRange::One(1.0))
}
fn no_stagger() -> Spanned<RawRange> {
    Spanned::new(0..0, RawRange::One(0.0))
}
fn random_victim() -> VictimBy {
    VictimBy::Random
}

/// What a scenario may refer to: the run's days and the world's organizations.
#[derive(Clone, Debug)]
pub struct Bounds<'a> {
    pub warmup_days: u32,
    pub days: u32,
    pub org_names: &'a [String],
}

/// Reads and checks a scenario file.
pub fn load(path: &Path, bounds: &Bounds<'_>) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: file.clone(),
        line: 0,
        key: "-".into(),
        message: e.to_string(),
    })?;
    parse(&file, &text, bounds)
}

/// Checks a scenario's text (`file` names it in errors).
pub fn parse(file: &str, text: &str, bounds: &Bounds<'_>) -> Result<Scenario, ScenarioError> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let err = |span: std::ops::Range<usize>, key: &str, message: String| ScenarioError {
        file: file.to_owned(),
        line: line_of(span.start),
        key: key.to_owned(),
        message,
    };
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(0, |s| line_of(s.start));
        let message = e.message().to_owned();
        // The key is in the message for unknown fields (`unknown field `x``); name it.
        let key = message
            .strip_prefix("unknown field `")
            .and_then(|m| m.split('`').next())
            .or_else(|| message.strip_prefix("missing field `").and_then(|m| m.split('`').next()))
            .unwrap_or("-")
            .to_owned();
        // toml's span for an unknown key may cover its table; the key's own line is clearer.
        let line = text
            .lines()
            .position(|l| l.trim_start().strip_prefix(key.as_str()).is_some_and(|r| r.trim_start().starts_with('=')))
            .map_or(line, |i| i + 1);
        ScenarioError { file: file.to_owned(), line, key, message }
    })?;
    let name = raw.name.get_ref().trim().to_owned();
    if name.is_empty() || name.len() > 80 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(err(raw.name.span(), "name", "1 to 80 characters of a-z, 0-9, - and _".into()));
    }
    let range = |r: &Spanned<RawRange>, key: &str, min: f64, max: f64| -> Result<Range, ScenarioError> {
        let (low, high) = match *r.get_ref() {
            RawRange::One(v) => (v, v),
            RawRange::Two([l, h]) => (l, h),
        };
        if !(low.is_finite() && high.is_finite()) || low > high {
            return Err(err(r.span(), key, format!("[{low}, {high}] is not a range (low ≤ high)")));
        }
        if low < min || high > max {
            return Err(err(r.span(), key, format!("[{low}, {high}] outside [{min}, {max}]")));
        }
        Ok(Range { low, high })
    };
    let first_attack_day = f64::from(bounds.warmup_days);
    let last_day = f64::from(bounds.days.saturating_sub(1));
    let evaluation_days = |r: &Spanned<RawRange>, key: &str| {
        range(r, key, 0.0, f64::MAX).and_then(|x| {
            if x.low < first_attack_day || x.high > last_day {
                Err(err(
                    r.span(),
                    key,
                    format!(
                        "[{}, {}]: attacks and surges start on evaluation days {first_attack_day}–{last_day} (after the warm-up)",
                        x.low, x.high
                    ),
                ))
            } else {
                Ok(x)
            }
        })
    };
    let (attack, surge) = match (raw.attack, raw.surge) {
        (Some(a), None) => (Some(attack(a, bounds, &err, &range, &evaluation_days)?), None),
        (None, Some(sg)) => {
            let span = sg.span();
            let sg = sg.into_inner();
            let _ = span;
            let surge = Surge {
                scope: sg.scope,
                start_day: evaluation_days(&sg.start_day, "surge.start_day")?,
                days: range(&sg.days, "surge.days", 1.0, 30.0)?,
                factor: range(&sg.factor, "surge.factor", 1.0, 10.0)?,
                declared: sg.declared,
            };
            (None, Some(surge))
        }
        (Some(a), Some(_)) => {
            return Err(err(a.span(), "attack", "a scenario is an [attack] or a [surge], not both".into()));
        }
        (None, None) => {
            return Err(ScenarioError {
                file: file.to_owned(),
                line: 0,
                key: "attack".into(),
                message: "missing [attack] (or [surge])".into(),
            });
        }
    };
    let g = &raw.goal;
    let scenario = Scenario {
        name,
        summary: raw.summary,
        attack,
        surge,
        goal: Goal {
            exposed_p95: positive(&g.exposed_p95, "goal.exposed_p95", &err)?,
            contain_seconds: positive(&g.contain_seconds, "goal.contain_seconds", &err)?,
            exposed_per_account_p95: positive(&g.exposed_per_account_p95, "goal.exposed_per_account_p95", &err)?,
            detect_days: positive(&g.detect_days, "goal.detect_days", &err)?,
            creations_held: g.creations_held,
            canary_suspend_seconds: positive(&g.canary_suspend_seconds, "goal.canary_suspend_seconds", &err)?,
            detect_hours: positive(&g.detect_hours, "goal.detect_hours", &err)?,
            link_accounts: positive(&g.link_accounts, "goal.link_accounts", &err)?,
            link_hours: positive(&g.link_hours, "goal.link_hours", &err)?,
            surge_step_ups_per_1000: positive(&g.surge_step_ups_per_1000, "goal.surge_step_ups_per_1000", &err)?,
            surge_suspensions: positive(&g.surge_suspensions, "goal.surge_suspensions", &err)?,
        },
        file: file.to_owned(),
    };
    Ok(scenario)
}

type Err<'a> = dyn Fn(std::ops::Range<usize>, &str, String) -> ScenarioError + 'a;
type RangeOf<'a> = dyn Fn(&Spanned<RawRange>, &str, f64, f64) -> Result<Range, ScenarioError> + 'a;
type DaysOf<'a> = dyn Fn(&Spanned<RawRange>, &str) -> Result<Range, ScenarioError> + 'a;

/// The `[attack]` table, checked.
fn attack(
    raw: Spanned<RawAttack>,
    bounds: &Bounds<'_>,
    err: &Err<'_>,
    range: &RangeOf<'_>,
    evaluation_days: &DaysOf<'_>,
) -> Result<Attack, ScenarioError> {
    let a = raw.into_inner();
    let (kind, role) = a
        .victim
        .get_ref()
        .split_once('/')
        .and_then(|(k, r)| Some((OrgKind::parse(k)?, Role::parse(r)?)))
        .ok_or_else(|| {
            err(
                a.victim.span(),
                "attack.victim",
                format!("`{}`: expected kind/role, e.g. agency/advisor (kinds: agency, cap_emploi, mission_locale, training_org, subcontractor; roles: advisor, manager, account_admin)", a.victim.get_ref()),
            )
        })?;
    if a.access == Access::CreatedAccounts && role != Role::AccountAdmin {
        return Err(err(a.victim.span(), "attack.victim", "created_accounts needs an account_admin victim".into()));
    }
    if let Some(org) = &a.org
        && !bounds.org_names.iter().any(|n| n == org.get_ref())
    {
        return Err(err(org.span(), "attack.org", format!("no organization named `{}` in this world", org.get_ref())));
    }
    let work = match &a.work {
        None => None,
        Some(w) => Some(crate::world::Work::parse(w.get_ref()).ok_or_else(|| {
            err(
                w.span(),
                "attack.work",
                format!("`{}`: one of caseload, oversight, front_desk, partner, service", w.get_ref()),
            )
        })?),
    };
    let shared_infrastructure = match &a.infrastructure {
        None => false,
        Some(i) if i.get_ref() == "shared" => true,
        Some(i) if i.get_ref() == "own" => false,
        Some(i) => {
            return Err(err(i.span(), "attack.infrastructure", format!("`{}`: shared or own", i.get_ref())));
        }
    };
    if a.lookup_first && !a.fabricate {
        return Err(err(a.victim.span(), "attack.lookup_first", "lookup_first needs fabricate = true".into()));
    }
    Ok(Attack {
        victim_kind: kind,
        victim_role: role,
        org: a.org.map(|o| o.into_inner()),
        access: a.access,
        network: a.network,
        targets: a.targets,
        start_day: evaluation_days(&a.start_day, "attack.start_day")?,
        start_hour: range(&a.start_hour, "attack.start_hour", 0.0, 23.99)?,
        pace_per_minute: range(&a.pace_per_minute, "attack.pace_per_minute", 0.001, 10_000.0)?,
        duration_hours: range(&a.duration_hours, "attack.duration_hours", 0.01, 24.0 * 60.0)?,
        jitter: range(&a.jitter, "attack.jitter", 0.0, 5.0)?,
        accounts: range(&a.accounts, "attack.accounts", 1.0, 50.0)?,
        created: range(&a.created_accounts, "attack.created_accounts", 1.0, 50.0)?,
        fabricate: a.fabricate,
        during_burst: a.during_burst,
        daily_cap: a.daily_cap.as_ref().map(|c| range(c, "attack.daily_cap", 1.0, 100_000.0)).transpose()?,
        credentials_reset: a.credentials_reset,
        victim_by: a.victim_by,
        work,
        hit_rate: range(&a.hit_rate, "attack.hit_rate", 0.0, 1.0)?,
        lookup_first: a.lookup_first,
        orgs: a.orgs.as_ref().map(|o| range(o, "attack.orgs", 1.0, 50.0)).transpose()?,
        shared_infrastructure,
        stagger_minutes: range(&a.stagger_minutes, "attack.stagger_minutes", 0.0, 24.0 * 60.0)?,
    })
}

fn positive(v: &Option<Spanned<f64>>, key: &str, err: &Err<'_>) -> Result<Option<f64>, ScenarioError> {
    match v {
        None => Ok(None),
        Some(s) if s.get_ref().is_finite() && *s.get_ref() >= 0.0 => Ok(Some(*s.get_ref())),
        Some(s) => Err(err(s.span(), key, format!("{} must be a non-negative number", s.get_ref()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> Bounds<'static> {
        static ORGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        Bounds { warmup_days: 30, days: 90, org_names: ORGS.get_or_init(|| vec!["Agence Lyon Part-Dieu".into()]) }
    }

    const GOOD: &str = r#"
name = "fast-bulk"
summary = "test"

[attack]
victim = "agency/advisor"
access = "stolen_session"
targets = "leaked_keys"
start_day = [31, 85]
pace_per_minute = [100, 300]
duration_hours = 8

[goal]
exposed_p95 = 50
"#;

    #[test]
    fn a_good_file_reads() {
        let s = parse("good.toml", GOOD, &bounds()).unwrap();
        let a = s.attack.as_ref().unwrap();
        assert_eq!(a.victim_kind, OrgKind::Agency);
        assert_eq!(a.pace_per_minute, Range { low: 100.0, high: 300.0 });
        assert_eq!(s.goal.exposed_p95, Some(50.0));
        assert_eq!(a.start_hour, Range { low: 9.0, high: 17.0 });
        assert_eq!(a.victim_by, VictimBy::Random);
        assert_eq!(a.hit_rate, Range { low: 1.0, high: 1.0 });
    }

    /// Each bad file is refused with the line and the key named.
    #[test]
    fn bad_files_name_the_line_and_the_key() {
        let cases: &[(&str, &str, usize, &str)] = &[
            ("duration_hours = 8", "duration_hours = 8\nspeed = 3", 12, "speed"),
            ("start_day = [31, 85]", "start_day = [3, 85]", 9, "attack.start_day"),
            ("start_day = [31, 85]", "start_day = [31, 120]", 9, "attack.start_day"),
            ("start_day = [31, 85]", "start_day = [31, 85]\nstart_hour = 25", 10, "attack.start_hour"),
            ("start_day = [31, 85]", "start_day = [60, 40]", 9, "attack.start_day"),
            ("duration_hours = 8", "duration_hours = -1", 11, "attack.duration_hours"),
            (
                "victim = \"agency/advisor\"",
                "victim = \"agency/advisor\"\norg = \"Agence Nulle Part\"",
                7,
                "attack.org",
            ),
            ("victim = \"agency/advisor\"", "victim = \"bank/advisor\"", 6, "attack.victim"),
            ("exposed_p95 = 50", "exposed_p95 = 50\nexposed = 3", 15, "exposed"),
            ("pace_per_minute = [100, 300]", "", 0, "pace_per_minute"),
            ("duration_hours = 8", "duration_hours = 8\nwork = \"robot\"", 12, "attack.work"),
            ("duration_hours = 8", "duration_hours = 8\nhit_rate = 1.5", 12, "attack.hit_rate"),
            ("duration_hours = 8", "duration_hours = 8\ninfrastructure = \"cloud\"", 12, "attack.infrastructure"),
            ("duration_hours = 8", "duration_hours = 8\nlookup_first = true", 6, "attack.lookup_first"),
            ("duration_hours = 8", "duration_hours = 8\nvictim_by = \"luck\"", 0, "-"),
            ("exposed_p95 = 50", "exposed_p95 = 50\nlink_accounts = -5", 15, "goal.link_accounts"),
            ("exposed_p95 = 50", "exposed_p95 = 50\nsurge_suspensions = -1", 15, "goal.surge_suspensions"),
        ];
        for (from, to, line, key) in cases {
            let text = GOOD.replacen(from, to, 1);
            let e = parse("bad.toml", &text, &bounds()).unwrap_err();
            assert_eq!(&e.key, key, "{e}");
            if *line > 0 {
                assert_eq!(e.line, *line, "{e}");
            }
            assert!(e.to_string().starts_with("bad.toml:"), "{e}");
        }
    }

    #[test]
    fn a_named_organization_must_exist() {
        let text = GOOD.replacen(
            "victim = \"agency/advisor\"",
            "victim = \"agency/advisor\"\norg = \"Agence Lyon Part-Dieu\"",
            1,
        );
        assert_eq!(
            parse("ok.toml", &text, &bounds()).unwrap().attack.unwrap().org.as_deref(),
            Some("Agence Lyon Part-Dieu")
        );
    }

    const SURGE: &str = r#"
name = "regional-surge"
[surge]
scope = "region"
start_day = [31, 80]
days = [3, 7]
factor = [1.5, 2.5]
declared = false
[goal]
surge_step_ups_per_1000 = 10
surge_suspensions = 0
"#;

    #[test]
    fn a_surge_reads_and_an_attack_with_a_surge_does_not() {
        let s = parse("surge.toml", SURGE, &bounds()).unwrap();
        assert!(s.attack.is_none());
        let sg = s.surge.unwrap();
        assert_eq!(sg.scope, SurgeScope::Region);
        assert_eq!(sg.factor, Range { low: 1.5, high: 2.5 });
        assert_eq!(s.goal.surge_step_ups_per_1000, Some(10.0));
        let both = GOOD.replace("[goal]", "[surge]\nscope = \"team\"\nstart_day = 40\ndays = 3\nfactor = 2\n[goal]");
        assert_eq!(parse("both.toml", &both, &bounds()).unwrap_err().key, "attack");
        let bad_scope = SURGE.replace("\"region\"", "\"planet\"");
        assert!(parse("s.toml", &bad_scope, &bounds()).is_err());
        let unknown = SURGE.replace("declared = false", "declared = false\nintensity = 3");
        let e = parse("s.toml", &unknown, &bounds()).unwrap_err();
        assert_eq!((e.key.as_str(), e.line), ("intensity", 9), "{e}");
        let early = SURGE.replace("[31, 80]", "[3, 80]");
        assert_eq!(parse("s.toml", &early, &bounds()).unwrap_err().key, "surge.start_day");
        let empty = "name = \"x\"\n";
        assert_eq!(parse("e.toml", empty, &bounds()).unwrap_err().key, "attack");
    }

    #[test]
    fn not_toml_is_refused_with_a_line() {
        let e = parse("junk.toml", "name = \"x\"\n[attack\n", &bounds()).unwrap_err();
        assert_eq!(e.line, 2, "{e}");
    }
}
