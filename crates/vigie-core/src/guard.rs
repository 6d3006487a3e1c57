//! The guarded read: the one path every request for a person's data takes.
//!
//! ```text
//! relationships ──► authorization ──► data fetch ──► detector ──► ledger ──► release
//! (active rows)     (Cedar, per        (only the      (verdict +   (durable     (only the
//!                    category)          permitted)     reasons)     append)      permitted)
//! ```
//! Every endpoint that touches a person (record view, exact lookup, scope list) calls
//! [`Guard::pass`]; none reads persons around it. Nothing is released before the ledger
//! acknowledged the events as durable, and every decision, allow or deny, is ledgered. A person
//! who does not exist and one who is out of reach take the same path and give the same answer.

use std::sync::Arc;

use crate::authz::{AuthContext, Authz};
use crate::category::CategorySet;
use crate::event::{AccessAction, AccessEvent, Actor, Decision, Effect, Reason};
use crate::ids::{FtId, PersonId, RequestId, SessionId};
use crate::nir::Nir;
use crate::org::{Agent, Organization};
use crate::person::{FilteredRecord, Person, ScopeEntry};
use crate::ports::{AccessLedger, Detector, Registry, StoreError};
use crate::relationship::Relationship;
use crate::time::Timestamp;

/// Who is asking, as established by the session (never by the request body).
#[derive(Clone, Debug)]
pub struct Caller {
    pub agent: Agent,
    pub org: Organization,
    pub session: SessionId,
    pub mfa: bool,
}

/// The request's id and time, chosen by the server.
#[derive(Clone, Copy, Debug)]
pub struct RequestMeta {
    pub request: RequestId,
    pub at: Timestamp,
}

/// An exact lookup key: never a fragment, a prefix or a pattern.
#[derive(Clone, Copy, Debug)]
pub enum LookupKey {
    Nir(Nir, time::Date),
    FtId(FtId, time::Date),
}

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// The person does not exist or is out of reach: deliberately the same.
    #[error("not found")]
    NotFound,
    /// The store or the ledger failed: denied, nothing released.
    #[error("{0}")]
    Unavailable(String),
}

/// The most persons one scope page may list.
pub const MAX_SCOPE_PAGE: usize = 100;

pub struct Guard {
    pub authz: Arc<Authz>,
    pub registry: Arc<dyn Registry>,
    pub detector: Arc<dyn Detector>,
    pub ledger: Arc<dyn AccessLedger>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").field("policies", &self.authz.policy_count()).finish_non_exhaustive()
    }
}

/// One person on its way through the guard: what is known of it before authorization.
struct Candidate<T> {
    person: Option<PersonId>,
    relationships: Vec<Relationship>,
    /// Data already in hand (scope lines come with the relationship query); fetched otherwise.
    data: Option<T>,
}

impl Guard {
    /// Reads one person's record, cut to the categories permitted.
    pub fn read(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        person: PersonId,
        requested: CategorySet,
    ) -> Result<FilteredRecord, GuardError> {
        let day = meta.at.date();
        let relationships = self.registry.active_relationships(person, day);
        let candidates = match relationships {
            Ok(relationships) => vec![Candidate::<Person> { person: Some(person), relationships, data: None }],
            Err(e) => {
                return Err(self.fail(caller, meta, AccessAction::View, Some(person), requested, e));
            }
        };
        let released =
            self.pass(caller, meta, AccessAction::View, requested, candidates, |id| self.registry.person(id))?;
        released.into_iter().next().map(|(p, allowed)| p.filter(allowed)).ok_or(GuardError::NotFound)
    }

    /// Finds persons by an exact key. Returns the reachable matches, cut to what is permitted;
    /// `NotFound` whether nobody matched or nobody reachable did.
    pub fn lookup(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        key: LookupKey,
        requested: CategorySet,
    ) -> Result<Vec<FilteredRecord>, GuardError> {
        let day = meta.at.date();
        let (action, found) = match key {
            LookupKey::Nir(nir, birth) => (AccessAction::LookupByNir, self.registry.find_by_nir(&nir, birth)),
            LookupKey::FtId(ft, birth) => (AccessAction::LookupByFtId, self.registry.find_by_ft_id(&ft, birth)),
        };
        let ids = found.map_err(|e| self.fail(caller, meta, action, None, requested, e))?;
        let mut candidates = Vec::with_capacity(ids.len().max(1));
        for id in ids.into_iter().take(MAX_SCOPE_PAGE) {
            let relationships = self
                .registry
                .active_relationships(id, day)
                .map_err(|e| self.fail(caller, meta, action, Some(id), requested, e))?;
            candidates.push(Candidate::<Person> { person: Some(id), relationships, data: None });
        }
        if candidates.is_empty() {
            // A miss is ledgered too: misses are what enumeration looks like.
            candidates.push(Candidate { person: None, relationships: Vec::new(), data: None });
        }
        let released = self.pass(caller, meta, action, requested, candidates, |id| self.registry.person(id))?;
        if released.is_empty() {
            return Err(GuardError::NotFound);
        }
        Ok(released.into_iter().map(|(p, allowed)| p.filter(allowed)).collect())
    }

    /// One page of the agent's scope: names only, each line authorized and ledgered.
    pub fn scope(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        after: Option<PersonId>,
        limit: usize,
    ) -> Result<Vec<ScopeEntry>, GuardError> {
        let limit = limit.clamp(1, MAX_SCOPE_PAGE);
        let requested = CategorySet::EMPTY.with(crate::category::DataCategory::Identity);
        let rows = self
            .registry
            .scope_page(&caller.agent, after, limit, meta.at.date())
            .map_err(|e| self.fail(caller, meta, AccessAction::ScopeList, None, requested, e))?;
        let candidates = rows
            .into_iter()
            .map(|(entry, rel)| Candidate { person: Some(entry.id), relationships: vec![rel], data: Some(entry) })
            .collect();
        let released = self.pass(caller, meta, AccessAction::ScopeList, requested, candidates, |_| Ok(None))?;
        Ok(released.into_iter().map(|(e, _)| e).collect())
    }

    /// The guarded path proper: authorize each candidate, fetch only what is permitted, let the
    /// detector judge, ledger every event durably, and only then hand back what may leave.
    fn pass<T>(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        action: AccessAction,
        requested: CategorySet,
        candidates: Vec<Candidate<T>>,
        fetch: impl Fn(PersonId) -> Result<Option<T>, StoreError>,
    ) -> Result<Vec<(T, CategorySet)>, GuardError> {
        let ctx = AuthContext { mfa: caller.mfa };
        let mut events = Vec::with_capacity(candidates.len());
        let mut released = Vec::with_capacity(candidates.len());
        for c in candidates {
            let Some(person) = c.person else {
                events.push(self.event(caller, meta, action, None, requested, Decision::NoMatch, Vec::new()));
                continue;
            };
            let outcome = self.authz.decide(&caller.agent, &caller.org, person.get(), &c.relationships, ctx, requested);
            let mut decision = if outcome.allowed.is_empty() { Decision::Deny } else { Decision::Allow };
            let mut returned = outcome.allowed;
            let mut reasons = outcome.reasons;
            let mut data = None;
            if decision == Decision::Allow {
                data = match c.data {
                    Some(d) => Some(d),
                    None => match fetch(person) {
                        Ok(d) => d,
                        Err(e) => {
                            return Err(self.fail(caller, meta, action, Some(person), requested, e));
                        }
                    },
                };
                if data.is_none() {
                    // Relationship rows without a person: inconsistent store; deny and say so.
                    decision = Decision::Error;
                    returned = CategorySet::EMPTY;
                    reasons.push(store_reason("person row missing"));
                }
            }
            let mut event = self.event(caller, meta, action, Some(person), requested, decision, reasons);
            event.returned = returned;
            event.relationship = if returned.is_empty() { None } else { outcome.relationship };
            event.verdict = self.detector.assess(&event);
            if let Some(d) = data.filter(|_| !returned.is_empty()) {
                released.push((d, returned));
            }
            events.push(event);
        }
        self.ledger.append(&events).map_err(|e| GuardError::Unavailable(e.to_string()))?;
        Ok(released)
    }

    /// Ledgers a failure on the decision path (best effort: the store may be what failed, the
    /// ledger may still work) and turns it into a denial.
    fn fail(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        action: AccessAction,
        person: Option<PersonId>,
        requested: CategorySet,
        error: StoreError,
    ) -> GuardError {
        let event =
            self.event(caller, meta, action, person, requested, Decision::Error, vec![store_reason("store error")]);
        let _ = self.ledger.append(&[event]);
        GuardError::Unavailable(error.to_string())
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        action: AccessAction,
        person: Option<PersonId>,
        requested: CategorySet,
        decision: Decision,
        reasons: Vec<Reason>,
    ) -> AccessEvent {
        AccessEvent {
            at: meta.at,
            request: meta.request,
            actor: Actor {
                agent: caller.agent.id,
                org: caller.org.id,
                org_kind: caller.org.kind,
                role: caller.agent.role,
                session: caller.session,
            },
            action,
            person,
            requested,
            returned: CategorySet::EMPTY,
            relationship: None,
            decision,
            reasons,
            verdict: crate::event::Verdict::allow(),
        }
    }
}

fn store_reason(what: &'static str) -> Reason {
    Reason {
        category: crate::category::DataCategory::Identity,
        effect: Effect::EvalError,
        policy: Some(Arc::from(what)),
    }
}
