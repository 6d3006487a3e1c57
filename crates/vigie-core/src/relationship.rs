//! Relationships: the only way an agent reaches a person. Each has a validity period and is
//! held by an organization, and for caseloads by one advisor (whose team shares it).

use crate::ids::{AgentId, OrgId, PersonId, SessionGroupId, TeamId};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum RelationshipKind {
    /// An advisor's caseload (agency or Cap emploi).
    Caseload,
    /// Enrolment in a training session.
    Enrolment,
    /// Follow-up by a youth office (mission locale).
    FollowUp,
    /// A subcontractor's assignment (processing this person's file).
    Assignment,
}

impl RelationshipKind {
    pub const ALL: [RelationshipKind; 4] = [
        RelationshipKind::Caseload,
        RelationshipKind::Enrolment,
        RelationshipKind::FollowUp,
        RelationshipKind::Assignment,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            RelationshipKind::Caseload => "caseload",
            RelationshipKind::Enrolment => "enrolment",
            RelationshipKind::FollowUp => "follow_up",
            RelationshipKind::Assignment => "assignment",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
    pub fn code(self) -> u8 {
        self as u8 + 1
    }
}

/// A relationship row. `valid_to` is exclusive; `None` means open-ended.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Relationship {
    pub kind: RelationshipKind,
    pub person: PersonId,
    pub org: OrgId,
    /// The advisor holding a caseload; `None` for organization-level relationships.
    pub agent: Option<AgentId>,
    /// The holding advisor's current team (caseloads only), filled by the store from the agent.
    pub team: Option<TeamId>,
    /// The training session, for enrolments.
    pub session: Option<SessionGroupId>,
    pub valid_from: time::Date,
    pub valid_to: Option<time::Date>,
}

impl Relationship {
    pub fn is_active_on(&self, day: time::Date) -> bool {
        self.valid_from <= day && self.valid_to.is_none_or(|end| day < end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn validity_is_half_open() {
        let r = Relationship {
            kind: RelationshipKind::Enrolment,
            person: PersonId::new(1).unwrap(),
            org: OrgId::new(1).unwrap(),
            agent: None,
            team: None,
            session: None,
            valid_from: date!(2026 - 01 - 10),
            valid_to: Some(date!(2026 - 03 - 10)),
        };
        assert!(!r.is_active_on(date!(2026 - 01 - 09)));
        assert!(r.is_active_on(date!(2026 - 01 - 10)));
        assert!(r.is_active_on(date!(2026 - 03 - 09)));
        assert!(!r.is_active_on(date!(2026 - 03 - 10)));
    }
}

/// A training session of a training organization; enrolments point to it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TrainingSession {
    pub id: SessionGroupId,
    pub org: OrgId,
    pub name: String,
    pub starts_on: time::Date,
    pub ends_on: time::Date,
}
