//! Organizations, agents (accounts) and their roles.

use crate::ids::{AgentId, Login, OrgId, TeamId};

/// The five kinds of organization that consult the registry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum OrgKind {
    /// A France Travail agency.
    Agency,
    /// Partner network for job seekers with a recognized disability.
    CapEmploi,
    /// Local office supporting 16-25 year olds.
    MissionLocale,
    /// Training organization: follows its trainees.
    TrainingOrg,
    /// A contractor processing documents or files for the agency.
    Subcontractor,
}

impl OrgKind {
    pub const ALL: [OrgKind; 5] =
        [OrgKind::Agency, OrgKind::CapEmploi, OrgKind::MissionLocale, OrgKind::TrainingOrg, OrgKind::Subcontractor];

    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Agency => "agency",
            OrgKind::CapEmploi => "cap_emploi",
            OrgKind::MissionLocale => "mission_locale",
            OrgKind::TrainingOrg => "training_org",
            OrgKind::Subcontractor => "subcontractor",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An account's role inside its organization.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Role {
    /// Follows persons: reaches its own and its team's relationships.
    Advisor,
    /// Leads a team: reaches the team's relationships.
    Manager,
    /// Creates and disables accounts of its organization; reads no person's data.
    AccountAdmin,
    /// Watches alerts and the ledger; reads no person's data.
    SecurityOfficer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Advisor, Role::Manager, Role::AccountAdmin, Role::SecurityOfficer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Advisor => "advisor",
            Role::Manager => "manager",
            Role::AccountAdmin => "account_admin",
            Role::SecurityOfficer => "security_officer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Organization {
    pub id: OrgId,
    pub kind: OrgKind,
    pub name: String,
    /// A partner whose contract ended keeps its row (for the ledger) but reads nothing.
    pub active: bool,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Agent {
    pub id: AgentId,
    pub login: Login,
    pub display_name: String,
    pub email: String,
    pub org: OrgId,
    pub role: Role,
    pub team: Option<TeamId>,
    pub active: bool,
}

/// A team of advisors (and their manager) inside an organization.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Team {
    pub id: TeamId,
    pub org: OrgId,
    pub name: String,
}
