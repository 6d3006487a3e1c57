//! A memo of Cedar outcomes, keyed by everything Cedar sees except the person's id.
//!
//! Cedar is deterministic: the same request over the same entities always gives the same
//! answer. The slice the guard builds for a read holds the agent, its organization, the
//! person's relationship references and the context; the only part that changes from one
//! person of a caseload to the next is the person's uid. A policy can observe that uid only by
//! naming a `Person` entity literally (`resource == Person::"42"`): a person entity has no
//! parents, so `in` and equality against anything else do not depend on it. So when no policy
//! names a `Person` literal (checked at load; otherwise the memo is off), two reads whose keys
//! are equal get the same outcome, and the memo returns it without re-evaluating.
//! Bounded: cleared when full. Lives inside `Authz`, so a policy reload starts empty.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::category::CategorySet;
use crate::event::Reason;
use crate::ids::{AgentId, OrgId, TeamId};
use crate::org::{Agent, OrgKind, Organization, Role};
use crate::relationship::{Relationship, RelationshipKind};

/// One relationship row as the slice uses it: (kind, advisor, team, organization).
type Reference = (RelationshipKind, Option<AgentId>, Option<TeamId>, Option<OrgId>);

/// Everything that reaches Cedar for one read, but the person's uid.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) struct Key {
    agent: AgentId,
    agent_org: OrgId,
    role: Role,
    team: Option<TeamId>,
    agent_active: bool,
    org: OrgId,
    kind: OrgKind,
    org_active: bool,
    mfa: bool,
    requested: u8,
    /// The person's relationship references, sorted and deduplicated as Cedar's sets are:
    /// (kind, agent, team, org) of each row, as the slice uses them.
    references: Vec<Reference>,
}

impl Key {
    pub(crate) fn new(
        agent: &Agent,
        org: &Organization,
        relationships: &[Relationship],
        mfa: bool,
        requested: CategorySet,
    ) -> Key {
        let mut references: Vec<_> = relationships
            .iter()
            .map(|r| match r.kind {
                // Caseload rows contribute their advisor and team; org-level rows their org.
                RelationshipKind::Caseload => (r.kind, r.agent, r.team, None),
                _ => (r.kind, None, None, Some(r.org)),
            })
            .collect();
        references.sort_unstable();
        references.dedup();
        Key {
            agent: agent.id,
            agent_org: agent.org,
            role: agent.role,
            team: agent.team,
            agent_active: agent.active,
            org: org.id,
            kind: org.kind,
            org_active: org.active,
            mfa,
            requested: requested.bits(),
            references,
        }
    }
}

/// The cached part of an outcome (the relationship label is recomputed per read).
#[derive(Clone, Debug)]
pub(crate) struct Cached {
    pub allowed: CategorySet,
    pub reasons: Vec<Reason>,
}

#[derive(Debug)]
pub(crate) struct Memo {
    map: Mutex<HashMap<Key, Cached>>,
    capacity: usize,
}

impl Memo {
    pub(crate) fn new(capacity: usize) -> Memo {
        Memo { map: Mutex::new(HashMap::with_capacity(capacity.min(4096))), capacity }
    }

    pub(crate) fn get(&self, key: &Key) -> Option<Cached> {
        self.map.lock().ok()?.get(key).cloned()
    }

    pub(crate) fn put(&self, key: Key, value: Cached) {
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= self.capacity {
                map.clear();
            }
            map.insert(key, value);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.lock().map_or(0, |m| m.len())
    }
}
