//! A declared campaign: a manager says ahead that a team or a whole organization will read
//! more persons than usual for a while (a convocation campaign, the calls after a breach
//! notification, a cohort starting), with a reason from the closed list, a volume and an end.
//! The detector widens its thresholds for that team or organization, by the declared volume
//! and only until the declared end; the declaration is ledgered before it takes effect.
//!
//! Built once, checked: [`CampaignDeclaration::new`] refuses a declaration without a reason,
//! with a reason outside the closed list, longer than [`MAX_CAMPAIGN_DAYS`], ending before it
//! starts, with no volume or an absurd one, or by someone who does not manage the people it
//! covers. A declaration never lowers a hard quota and never widens anything beyond its end.

use crate::ids::{AgentId, OrgId, TeamId};
use crate::org::{Agent, OrgKind, Organization, Role};
use crate::ports::AccessReason;
use crate::time::Timestamp;

/// The longest campaign one declaration covers: two weeks. A longer surge is a new normal for
/// the baselines to learn (28 days), or a new declaration with its own reason and its own
/// entry in the ledger; a campaign that never ends would be a standing exemption.
pub const MAX_CAMPAIGN_DAYS: i64 = 14;
/// The most persons a day one declaration adds per agent: above a full caseload review.
pub const MAX_CAMPAIGN_PERSONS: u32 = 1_000;

const DAY_MS: i64 = 24 * 3_600_000;

/// A checked campaign declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CampaignDeclaration {
    pub org: OrgId,
    /// The team it covers; `None`: the whole organization.
    pub team: Option<TeamId>,
    pub declared_by: AgentId,
    pub reason: AccessReason,
    /// Persons a day each covered agent may read beyond its usual.
    pub persons_per_agent: u32,
    pub from: Timestamp,
    pub until: Timestamp,
}

/// Why a declaration is refused. Each message names the field and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CampaignError {
    #[error("reason: a campaign needs a reason from the list ({list})", list = reasons())]
    MissingReason,
    #[error("reason: `{0}` is not one of {list}", list = reasons())]
    UnknownReason(String),
    /// Its length in tenths of a day.
    #[error("until: a campaign lasts at most {MAX_CAMPAIGN_DAYS} days, this one {}.{}", .0 / 10, .0 % 10)]
    TooLong(u32),
    #[error("until: the campaign ends before it starts")]
    EndsBeforeStart,
    #[error("persons_per_agent: between 1 and {MAX_CAMPAIGN_PERSONS}, got {0}")]
    Persons(u32),
    #[error("declared_by: only a manager of the organization (or an agency's security officer) declares a campaign")]
    NotAManager,
    #[error("team: the team is not one of the organization's")]
    ForeignTeam,
}

fn reasons() -> String {
    AccessReason::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
}

impl CampaignDeclaration {
    /// Checks a declaration by `by` (of organization `by_org`) for `org`. `reason` is the text
    /// given (`None` or blank: none given). `team`, when given, must be one of `org`'s:
    /// `team_of_org` answers that (the caller knows the teams).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        by: &Agent,
        by_org: &Organization,
        org: OrgId,
        team: Option<TeamId>,
        team_of_org: bool,
        reason: Option<&str>,
        persons_per_agent: u32,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<CampaignDeclaration, CampaignError> {
        let reason = match reason.map(str::trim) {
            None | Some("") => return Err(CampaignError::MissingReason),
            Some(r) => {
                AccessReason::parse(r).ok_or_else(|| CampaignError::UnknownReason(r.chars().take(40).collect()))?
            }
        };
        let manager = by.active && by.role == Role::Manager && by.org == org;
        let officer =
            by.active && by.role == Role::SecurityOfficer && (by.org == org || by_org.kind == OrgKind::Agency);
        if !(manager || officer) {
            return Err(CampaignError::NotAManager);
        }
        if team.is_some() && !team_of_org {
            return Err(CampaignError::ForeignTeam);
        }
        // A manager covers its own team unless it names none (the whole organization).
        if until.millis() <= from.millis() {
            return Err(CampaignError::EndsBeforeStart);
        }
        let span = until.millis() - from.millis();
        if span > MAX_CAMPAIGN_DAYS * DAY_MS {
            let tenths = (span / (DAY_MS / 10)).min(i64::from(u32::MAX)) as u32;
            return Err(CampaignError::TooLong(tenths));
        }
        if persons_per_agent == 0 || persons_per_agent > MAX_CAMPAIGN_PERSONS {
            return Err(CampaignError::Persons(persons_per_agent));
        }
        Ok(CampaignDeclaration { org, team, declared_by: by.id, reason, persons_per_agent, from, until })
    }

    /// Whether it covers an agent of `org` (in `team`) at `at`.
    pub fn covers(&self, org: OrgId, team: Option<TeamId>, at: i64) -> bool {
        self.org == org
            && self.team.is_none_or(|t| Some(t) == team)
            && self.from.millis() <= at
            && at < self.until.millis()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(role: Role, org: u64) -> Agent {
        Agent {
            id: AgentId::new(7).unwrap(),
            login: "m.dupont".parse().unwrap(),
            display_name: "M".into(),
            email: "m@x.fr".into(),
            org: OrgId::new(org).unwrap(),
            role,
            team: TeamId::new(3),
            active: true,
        }
    }

    fn org(id: u64, kind: OrgKind) -> Organization {
        Organization { id: OrgId::new(id).unwrap(), kind, name: "Agence".into(), active: true }
    }

    const T: i64 = 1_780_272_000_000;

    fn declare(
        by: &Agent,
        reason: Option<&str>,
        days: f64,
        persons: u32,
    ) -> Result<CampaignDeclaration, CampaignError> {
        CampaignDeclaration::new(
            by,
            &org(by.org.get(), OrgKind::MissionLocale),
            OrgId::new(1).unwrap(),
            TeamId::new(3),
            true,
            reason,
            persons,
            Timestamp(T),
            Timestamp(T + (days * DAY_MS as f64) as i64),
        )
    }

    #[test]
    fn a_manager_declares_a_bounded_campaign() {
        let d = declare(&agent(Role::Manager, 1), Some("campaign"), 3.0, 150).unwrap();
        assert_eq!(d.reason, AccessReason::Campaign);
        assert!(d.covers(OrgId::new(1).unwrap(), TeamId::new(3), T + DAY_MS));
        assert!(!d.covers(OrgId::new(1).unwrap(), TeamId::new(4), T + DAY_MS));
        assert!(!d.covers(OrgId::new(1).unwrap(), TeamId::new(3), T + 3 * DAY_MS));
    }

    /// Each bad declaration is refused with the field named.
    #[test]
    fn bad_declarations_are_refused_naming_the_problem() {
        let m = agent(Role::Manager, 1);
        let cases: Vec<(Result<CampaignDeclaration, CampaignError>, &str)> = vec![
            (declare(&m, None, 3.0, 150), "reason: a campaign needs a reason"),
            (declare(&m, Some("  "), 3.0, 150), "reason: a campaign needs a reason"),
            (declare(&m, Some("because"), 3.0, 150), "reason: `because` is not one of"),
            (declare(&m, Some("campaign"), 15.0, 150), "until: a campaign lasts at most 14 days, this one 15.0"),
            (declare(&m, Some("campaign"), -1.0, 150), "until: the campaign ends before it starts"),
            (declare(&m, Some("campaign"), 3.0, 0), "persons_per_agent: between 1 and 1000, got 0"),
            (declare(&m, Some("campaign"), 3.0, 5_000), "persons_per_agent: between 1 and 1000, got 5000"),
            (declare(&agent(Role::Advisor, 1), Some("campaign"), 3.0, 150), "declared_by: only a manager"),
            (declare(&agent(Role::Manager, 2), Some("campaign"), 3.0, 150), "declared_by: only a manager"),
        ];
        for (got, want) in cases {
            let e = got.unwrap_err().to_string();
            assert!(e.starts_with(want), "{e} (wanted {want})");
        }
        let foreign = CampaignDeclaration::new(
            &m,
            &org(1, OrgKind::Agency),
            OrgId::new(1).unwrap(),
            TeamId::new(9),
            false,
            Some("campaign"),
            100,
            Timestamp(T),
            Timestamp(T + DAY_MS),
        );
        assert_eq!(foreign, Err(CampaignError::ForeignTeam));
    }
}
