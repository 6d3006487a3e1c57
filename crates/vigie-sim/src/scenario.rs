//! Attacks are data: a scenario file (TOML) says who is attacked, how the attacker got in,
//! what it reads and how fast, and what the guard must reach. Parameters given as `[low,
//! high]` are drawn per seed from that range (fixed before any tuning). Bad files are refused
//! with the line and the key: unknown keys, impossible times, a missing organization.
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

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;
use vigie_core::org::{OrgKind, Role};

/// A scenario, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub summary: String,
    pub attack: Attack,
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
}

impl Access {
    /// Whether the attacker can pass a step-up.
    pub fn passes_step_up(self) -> bool {
        matches!(self, Access::PhishedSecondFactor | Access::CreatedAccounts | Access::OwnAccount)
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
    attack: Spanned<RawAttack>,
    #[serde(default)]
    goal: RawGoal,
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
    let a = raw.attack.into_inner();
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
    let start_day = range(&a.start_day, "attack.start_day", 0.0, f64::MAX).and_then(|r| {
        if r.low < first_attack_day || r.high > last_day {
            Err(err(
                a.start_day.span(),
                "attack.start_day",
                format!(
                    "[{}, {}]: attacks start on evaluation days {first_attack_day}–{last_day} (after the warm-up)",
                    r.low, r.high
                ),
            ))
        } else {
            Ok(r)
        }
    })?;
    let scenario = Scenario {
        name,
        summary: raw.summary,
        attack: Attack {
            victim_kind: kind,
            victim_role: role,
            org: a.org.map(|o| o.into_inner()),
            access: a.access,
            network: a.network,
            targets: a.targets,
            start_day,
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
        },
        goal: Goal {
            exposed_p95: positive(&raw.goal.exposed_p95, "goal.exposed_p95", &err)?,
            contain_seconds: positive(&raw.goal.contain_seconds, "goal.contain_seconds", &err)?,
            exposed_per_account_p95: positive(&raw.goal.exposed_per_account_p95, "goal.exposed_per_account_p95", &err)?,
            detect_days: positive(&raw.goal.detect_days, "goal.detect_days", &err)?,
            creations_held: raw.goal.creations_held,
            canary_suspend_seconds: positive(&raw.goal.canary_suspend_seconds, "goal.canary_suspend_seconds", &err)?,
        },
        file: file.to_owned(),
    };
    Ok(scenario)
}

fn positive(
    v: &Option<Spanned<f64>>,
    key: &str,
    err: &impl Fn(std::ops::Range<usize>, &str, String) -> ScenarioError,
) -> Result<Option<f64>, ScenarioError> {
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
        assert_eq!(s.attack.victim_kind, OrgKind::Agency);
        assert_eq!(s.attack.pace_per_minute, Range { low: 100.0, high: 300.0 });
        assert_eq!(s.goal.exposed_p95, Some(50.0));
        assert_eq!(s.attack.start_hour, Range { low: 9.0, high: 17.0 });
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
        assert_eq!(parse("ok.toml", &text, &bounds()).unwrap().attack.org.as_deref(), Some("Agence Lyon Part-Dieu"));
    }

    #[test]
    fn not_toml_is_refused_with_a_line() {
        let e = parse("junk.toml", "name = \"x\"\n[attack\n", &bounds()).unwrap_err();
        assert_eq!(e.line, 2, "{e}");
    }
}
