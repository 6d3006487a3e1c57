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
//!
//! Each method comes in two forms: `read` blocks until the events are durable and returns the
//! data; `read_released` returns at once a [`Released`], whose data comes out only through
//! [`Released::wait`] or by awaiting it, once the ledger has answered. A server awaits, so that
//! no thread is held while the disk syncs.

use std::sync::Arc;

use crate::authz::{AuthContext, Authz};
use crate::category::{CategorySet, DataCategory};
use crate::event::{AccessAction, AccessEvent, Actor, Decision, Effect, Reason, VerdictAction};
use crate::ids::{FtId, PersonId, RequestId, SessionId};
use crate::nir::Nir;
use crate::org::{Agent, Organization};
use crate::person::{FilteredRecord, Person, ScopeEntry};
use crate::ports::{AccessLedger, Detector, Durability, Registry, StoreError};
use crate::relationship::{Relationship, RelationshipKind};
use crate::time::Timestamp;

/// Who is asking, as established by the session (never by the request body).
#[derive(Clone, Debug)]
pub struct Caller {
    pub agent: Agent,
    pub org: Organization,
    pub session: SessionId,
    pub mfa: bool,
    /// The session completed a step-up recently (within the elevation window): a detector's
    /// demand for a fresh second factor is already met.
    pub elevated: bool,
    /// The account is on probation (new): the detector applies stricter quotas.
    pub probation: bool,
    /// The reason the agent gave for this request, if any (meets a `Friction` verdict).
    pub reason: Option<crate::ports::AccessReason>,
    /// What the session layer learnt at sign-in (the detector's session-context signals).
    pub sign_in: crate::ports::SignInContext,
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
    /// The detector asks for a fresh second factor before anything more is released: the
    /// events are ledgered, nothing leaves.
    #[error("a step-up is required")]
    StepUpRequired,
    /// The detector asks the agent to say why (a reason from the closed list) before
    /// anything more is released: the events are ledgered, nothing leaves.
    #[error("a reason is required")]
    ReasonRequired,
    /// The account reached a quota: nothing is released for now.
    #[error("throttled")]
    Throttled,
    /// The detector ends the session (a tripwire with corroboration).
    #[error("session suspended")]
    SessionSuspended,
    /// The detector disables the account (a canary).
    #[error("account suspended")]
    AccountSuspended,
    /// Categories asked for by name that the caller may never read, whoever the person (see
    /// [`Guard::never_permitted`]), each with the reason that denies it: refused whole, the
    /// refusal ledgered.
    #[error("categories never permitted to this caller")]
    NeverPermitted(Vec<Reason>),
}

/// What the guard decided to release, held until the request's events are durable: the data
/// comes out only through [`Released::wait`] or by awaiting it, and only if the ledger
/// acknowledged the events; a ledger failure turns it into `GuardError::Unavailable`.
#[must_use = "the data leaves only through wait() or .await, once its ledger entry is durable"]
pub struct Released<T> {
    outcome: Option<Result<T, GuardError>>,
    /// `None` when the outcome is an error decided before anything was submitted.
    durable: Option<Durability>,
}

impl<T> Released<T> {
    fn new(outcome: Result<T, GuardError>, durable: Durability) -> Released<T> {
        Released { outcome: Some(outcome), durable: Some(durable) }
    }

    fn failed(error: GuardError) -> Released<T> {
        Released { outcome: Some(Err(error)), durable: None }
    }

    /// Transforms the data while it is still held (shaping a response, say): what comes out is
    /// released under the same condition.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Released<U> {
        Released { outcome: self.outcome.map(|o| o.map(f)), durable: self.durable }
    }

    /// [`Released::map`] with a step that may refuse (nothing found, say).
    pub fn and_then<U>(self, f: impl FnOnce(T) -> Result<U, GuardError>) -> Released<U> {
        Released { outcome: self.outcome.map(|o| o.and_then(f)), durable: self.durable }
    }

    /// Blocks until the events are durable, then hands over the outcome.
    pub fn wait(mut self) -> Result<T, GuardError> {
        let outcome = self.outcome.take().unwrap_or(Err(GuardError::Unavailable("released twice".into())));
        match self.durable.take().map(Durability::wait) {
            Some(Err(e)) => Err(GuardError::Unavailable(e.to_string())),
            Some(Ok(_)) | None => outcome,
        }
    }
}

impl<T: Unpin> std::future::Future for Released<T> {
    type Output = Result<T, GuardError>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let this = &mut *self;
        if let Some(durable) = &mut this.durable {
            match std::pin::Pin::new(durable).poll(cx) {
                std::task::Poll::Pending => return std::task::Poll::Pending,
                std::task::Poll::Ready(answer) => {
                    this.durable = None;
                    if let Err(e) = answer {
                        this.outcome = None;
                        return std::task::Poll::Ready(Err(GuardError::Unavailable(e.to_string())));
                    }
                }
            }
        }
        std::task::Poll::Ready(this.outcome.take().unwrap_or(Err(GuardError::Unavailable("released twice".into()))))
    }
}

impl<T> std::fmt::Debug for Released<T> {
    /// Shows whether the data is still held, never the data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Released").field("durable", &self.durable).finish_non_exhaustive()
    }
}

/// One page of an agent's scope, and where the next one starts (`None`: this was the last).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopePage {
    pub entries: Vec<ScopeEntry>,
    pub next_after: Option<PersonId>,
}

/// The most records one exact lookup returns (duplicates of one person in the registry).
pub const MAX_LOOKUP_MATCHES: usize = 100;

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
        self.read_released(caller, meta, person, requested).wait()
    }

    /// [`Guard::read`], returning as soon as the events are handed to the ledger.
    pub fn read_released(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        person: PersonId,
        requested: CategorySet,
    ) -> Released<FilteredRecord> {
        let day = meta.at.date();
        let relationships = self.registry.active_relationships(person, day);
        let candidates = match relationships {
            Ok(relationships) => vec![Candidate::<Person> { person: Some(person), relationships, data: None }],
            Err(e) => {
                return Released::failed(self.fail(caller, meta, AccessAction::View, Some(person), requested, e));
            }
        };
        self.pass(caller, meta, AccessAction::View, requested, candidates, |id| self.registry.person(id)).and_then(
            |released| released.into_iter().next().map(|(p, allowed)| p.filter(allowed)).ok_or(GuardError::NotFound),
        )
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
        self.lookup_released(caller, meta, key, requested).wait()
    }

    /// [`Guard::lookup`], returning as soon as the events are handed to the ledger.
    pub fn lookup_released(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        key: LookupKey,
        requested: CategorySet,
    ) -> Released<Vec<FilteredRecord>> {
        let day = meta.at.date();
        let (action, found) = match key {
            LookupKey::Nir(nir, birth) => (AccessAction::LookupByNir, self.registry.find_by_nir(&nir, birth)),
            LookupKey::FtId(ft, birth) => (AccessAction::LookupByFtId, self.registry.find_by_ft_id(&ft, birth)),
        };
        let ids = match found {
            Ok(ids) => ids,
            Err(e) => return Released::failed(self.fail(caller, meta, action, None, requested, e)),
        };
        let mut candidates = Vec::with_capacity(ids.len().max(1));
        for id in ids.into_iter().take(MAX_LOOKUP_MATCHES) {
            let relationships = match self.registry.active_relationships(id, day) {
                Ok(r) => r,
                Err(e) => return Released::failed(self.fail(caller, meta, action, Some(id), requested, e)),
            };
            candidates.push(Candidate::<Person> { person: Some(id), relationships, data: None });
        }
        if candidates.is_empty() {
            // Do the work a match out of reach costs (a relationship query, an authorization),
            // so that timing does not tell a miss from a person one may not see.
            if let Some(decoy) = PersonId::new(i64::MAX as u64) {
                let rels = self.registry.active_relationships(decoy, day).unwrap_or_default();
                let ctx = AuthContext { mfa: caller.mfa };
                std::hint::black_box(self.authz.decide(&caller.agent, &caller.org, decoy.get(), &rels, ctx, requested));
            }
            // A miss is ledgered too: misses are what enumeration looks like.
            candidates.push(Candidate { person: None, relationships: Vec::new(), data: None });
        }
        self.pass(caller, meta, action, requested, candidates, |id| self.registry.person(id)).and_then(|released| {
            if released.is_empty() {
                return Err(GuardError::NotFound);
            }
            Ok(released.into_iter().map(|(p, allowed)| p.filter(allowed)).collect())
        })
    }

    /// One page of the agent's scope: names only, each line authorized and ledgered.
    pub fn scope(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        after: Option<PersonId>,
        limit: usize,
    ) -> Result<ScopePage, GuardError> {
        self.scope_released(caller, meta, after, limit).wait()
    }

    /// [`Guard::scope`], returning as soon as the events are handed to the ledger.
    pub fn scope_released(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        after: Option<PersonId>,
        limit: usize,
    ) -> Released<ScopePage> {
        let limit = limit.clamp(1, MAX_SCOPE_PAGE);
        let requested = CategorySet::EMPTY.with(crate::category::DataCategory::Identity);
        let rows = match self.registry.scope_page(&caller.agent, after, limit, meta.at.date()) {
            Ok(rows) => rows,
            Err(e) => return Released::failed(self.fail(caller, meta, AccessAction::ScopeList, None, requested, e)),
        };
        // The cursor follows the store's page, not what was released, so a line that
        // authorization withholds does not end the pagination early.
        let next_after = if rows.len() == limit { rows.last().map(|(e, _)| e.id) } else { None };
        let candidates = rows
            .into_iter()
            .map(|(entry, rel)| Candidate { person: Some(entry.id), relationships: vec![rel], data: Some(entry) })
            .collect();
        self.pass(caller, meta, AccessAction::ScopeList, requested, candidates, |_| Ok(None))
            .map(|released| ScopePage { entries: released.into_iter().map(|(e, _)| e).collect(), next_after })
    }

    /// One page of a search within the caller's own scope (`crate::scope_search`): the scope's
    /// persons that `query` matches, released and ledgered exactly as lines of the scope list
    /// are; the scope is filtered, never widened.
    pub fn scope_search(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        query: &crate::scope_search::ScopeQuery,
        after: Option<PersonId>,
        limit: usize,
    ) -> Result<ScopePage, GuardError> {
        let limit = limit.clamp(1, MAX_SCOPE_PAGE);
        let requested = CategorySet::EMPTY.with(crate::category::DataCategory::Identity);
        let found = match crate::scope_search::search(
            self.registry.as_ref(),
            &caller.agent,
            query,
            after,
            limit,
            meta.at.date(),
        ) {
            Ok(found) => found,
            Err(e) => {
                return Released::failed(self.fail(caller, meta, AccessAction::ScopeList, None, requested, e)).wait();
            }
        };
        let candidates = found
            .rows
            .into_iter()
            .map(|(entry, rel)| Candidate { person: Some(entry.id), relationships: vec![rel], data: Some(entry) })
            .collect();
        self.pass(caller, meta, AccessAction::ScopeList, requested, candidates, |_| Ok(None))
            .map(|released| ScopePage {
                entries: released.into_iter().map(|(e, _)| e).collect(),
                next_after: found.next_after,
            })
            .wait()
    }

    /// The categories of `requested` that `caller` may never read, whoever the person: those
    /// denied even for a person tied to the caller by every kind of relationship, with a second
    /// factor proven. Each comes with the reason that denies it (a guardrail's `forbid`, or no
    /// permit at all). It depends on the caller alone, so refusing them says nothing about any
    /// person; a client that names such a category is refused explicitly rather than answered
    /// "not found" (the category alone) or silently without it (mixed with others).
    pub fn never_permitted(&self, caller: &Caller, requested: CategorySet) -> Vec<Reason> {
        // The id no one has (as for the decoy of a lookup that matched nobody).
        let Some(nobody) = PersonId::new(i64::MAX as u64) else { return Vec::new() };
        let closest = closest_relationships(caller, nobody);
        let outcome =
            self.authz.decide(&caller.agent, &caller.org, nobody.get(), &closest, AuthContext { mfa: true }, requested);
        let mut never = Vec::new();
        for category in requested.iter().filter(|c| !outcome.allowed.contains(*c)) {
            let mut reasons: Vec<Reason> = outcome
                .reasons
                .iter()
                .filter(|r| r.category == category && r.effect != Effect::Permit)
                .cloned()
                .collect();
            if reasons.is_empty() {
                reasons.push(Reason { category, effect: Effect::NoPermit, policy: None });
            }
            never.extend(reasons);
        }
        never
    }

    /// Refuses a request for categories the caller may never read (`never`, from
    /// [`Guard::never_permitted`]) without reading anything: the refusal is judged by the
    /// detector and ledgered like any denial, and answers `NeverPermitted` once durable (or
    /// the detector's stricter verdict).
    pub fn refuse_never_permitted<T>(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        action: AccessAction,
        person: Option<PersonId>,
        requested: CategorySet,
        never: Vec<Reason>,
    ) -> Released<T> {
        let context = detect_context(caller);
        let mut event = self.event(caller, meta, action, person, requested, Decision::Deny, never.clone());
        event.verdict = self.detector.assess(&event, &context);
        let outcome = match event.verdict.action.effective(caller.elevated, caller.reason.is_some()) {
            VerdictAction::StepUp => GuardError::StepUpRequired,
            VerdictAction::Throttle => GuardError::Throttled,
            VerdictAction::SuspendSession => GuardError::SessionSuspended,
            VerdictAction::SuspendAccount => GuardError::AccountSuspended,
            VerdictAction::Allow | VerdictAction::Friction => GuardError::NeverPermitted(never),
        };
        Released::new(Err(outcome), self.ledger.submit(&[event]))
    }

    /// The guarded path proper: authorize each candidate, fetch only what is permitted, let the
    /// detector judge, hand every event to the ledger, and hold what may leave until they are
    /// durable.
    fn pass<T>(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        action: AccessAction,
        requested: CategorySet,
        candidates: Vec<Candidate<T>>,
        fetch: impl Fn(PersonId) -> Result<Option<T>, StoreError>,
    ) -> Released<Vec<(T, CategorySet)>> {
        let ctx = AuthContext { mfa: caller.mfa };
        let mut events = Vec::with_capacity(candidates.len());
        let mut released = Vec::with_capacity(candidates.len());
        // The strictest verdict of the request's events decides for the whole request.
        let mut strictest = VerdictAction::Allow;
        let context = detect_context(caller);
        let mut judge = |event: &mut AccessEvent| {
            event.verdict = self.detector.assess(event, &context);
            let effective = event.verdict.action.effective(caller.elevated, caller.reason.is_some());
            if effective.rank() > strictest.rank() {
                strictest = effective;
            }
        };
        for c in candidates {
            let Some(person) = c.person else {
                let mut event = self.event(caller, meta, action, None, requested, Decision::NoMatch, Vec::new());
                judge(&mut event);
                events.push(event);
                continue;
            };
            let key = key_categories(action);
            let asked = CategorySet::from_bits(requested.bits() | key.bits()).unwrap_or(requested);
            let outcome = self.authz.decide(&caller.agent, &caller.org, person.get(), &c.relationships, ctx, asked);
            let mut reasons = outcome.reasons;
            // A lookup answers "this key is right"; it may do so only to whoever may read the
            // key's categories (else it is an oracle: a training organization guessing NIRs).
            let key_readable = key.iter().all(|k| outcome.allowed.contains(k));
            if !key_readable {
                reasons.push(Reason {
                    category: key.iter().find(|k| !outcome.allowed.contains(*k)).unwrap_or(DataCategory::Identity),
                    effect: Effect::NoPermit,
                    policy: Some(Arc::from(LOOKUP_KEY_RULE)),
                });
            }
            let permitted =
                CategorySet::from_bits(outcome.allowed.bits() & requested.bits()).unwrap_or(CategorySet::EMPTY);
            let mut returned = if key_readable { permitted } else { CategorySet::EMPTY };
            let mut decision = if returned.is_empty() { Decision::Deny } else { Decision::Allow };
            let mut data = None;
            if decision == Decision::Allow {
                data = match c.data {
                    Some(d) => Some(d),
                    None => match fetch(person) {
                        Ok(d) => d,
                        Err(e) => {
                            // Ledger the decisions already made for this request with the failure,
                            // then deny the whole request: nothing is released.
                            let reason = vec![store_reason("store error")];
                            events.push(self.event(
                                caller,
                                meta,
                                action,
                                Some(person),
                                requested,
                                Decision::Error,
                                reason,
                            ));
                            let _ = self.ledger.append(&events);
                            return Released::failed(GuardError::Unavailable(e.to_string()));
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
            judge(&mut event);
            if let Some(d) = data.filter(|_| !event.returned.is_empty()) {
                released.push((d, event.returned));
            }
            events.push(event);
        }
        if strictest != VerdictAction::Allow {
            // Withheld, all of it: the ledger says what was decided and why nothing left.
            released.clear();
            for event in &mut events {
                if !event.returned.is_empty() {
                    event.decision = Decision::Deny;
                    event.returned = CategorySet::EMPTY;
                    event.relationship = None;
                }
            }
        }
        let outcome = match strictest {
            VerdictAction::Allow => Ok(released),
            VerdictAction::Friction => Err(GuardError::ReasonRequired),
            VerdictAction::StepUp => Err(GuardError::StepUpRequired),
            VerdictAction::Throttle => Err(GuardError::Throttled),
            VerdictAction::SuspendSession => Err(GuardError::SessionSuspended),
            VerdictAction::SuspendAccount => Err(GuardError::AccountSuspended),
        };
        Released::new(outcome, self.ledger.submit(&events))
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

/// What the detector knows of the caller beyond the event.
fn detect_context(caller: &Caller) -> crate::ports::DetectContext {
    crate::ports::DetectContext {
        probation: caller.probation,
        elevated: caller.elevated,
        reason: caller.reason,
        sign_in: caller.sign_in,
        team: caller.agent.team,
    }
}

/// A relationship of every kind between the caller and nobody: the most any person can be to
/// the caller, for [`Guard::never_permitted`].
fn closest_relationships(caller: &Caller, nobody: PersonId) -> Vec<Relationship> {
    RelationshipKind::ALL
        .into_iter()
        .map(|kind| Relationship {
            kind,
            person: nobody,
            org: caller.org.id,
            agent: (kind == RelationshipKind::Caseload).then_some(caller.agent.id),
            team: if kind == RelationshipKind::Caseload { caller.agent.team } else { None },
            session: None,
            valid_from: time::Date::MIN,
            valid_to: None,
        })
        .collect()
}

/// The reason recorded when a lookup key's categories may not be read by the caller.
pub const LOOKUP_KEY_RULE: &str = "vigie:lookup-key-must-be-readable";

/// The categories a lookup's key reveals when it matches: the caller must be allowed them.
fn key_categories(action: AccessAction) -> CategorySet {
    match action {
        AccessAction::LookupByNir => CategorySet::EMPTY.with(DataCategory::Nir).with(DataCategory::Identity),
        AccessAction::LookupByFtId => CategorySet::EMPTY.with(DataCategory::Identity),
        AccessAction::View | AccessAction::ScopeList | AccessAction::Extract => CategorySet::EMPTY,
    }
}

fn store_reason(what: &'static str) -> Reason {
    Reason {
        category: crate::category::DataCategory::Identity,
        effect: Effect::EvalError,
        policy: Some(Arc::from(what)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    use time::macros::date;

    use super::*;
    use crate::authz::shipped;
    use crate::ids::{AgentId, Login, OrgId, TeamId};
    use crate::org::{OrgKind, Role};
    use crate::person::{Address, BirthPlace, RegistrationStatus, Sex};
    use crate::ports::{LedgerError, LedgerReceipt, NoDetection};
    use crate::relationship::RelationshipKind;

    #[derive(Default)]
    struct FakeRegistry {
        persons: HashMap<PersonId, Person>,
        relationships: HashMap<PersonId, Vec<Relationship>>,
        scope_rows: Vec<(ScopeEntry, Relationship)>,
        broken: AtomicBool,
    }

    impl Registry for FakeRegistry {
        fn active_relationships(&self, person: PersonId, _: time::Date) -> Result<Vec<Relationship>, StoreError> {
            if self.broken.load(Ordering::SeqCst) {
                return Err(StoreError("disk on fire".into()));
            }
            Ok(self.relationships.get(&person).cloned().unwrap_or_default())
        }
        fn person(&self, person: PersonId) -> Result<Option<Person>, StoreError> {
            Ok(self.persons.get(&person).cloned())
        }
        fn find_by_nir(&self, nir: &Nir, birth: time::Date) -> Result<Vec<PersonId>, StoreError> {
            let mut ids: Vec<_> =
                self.persons.values().filter(|p| p.nir == *nir && p.birth_date == birth).map(|p| p.id).collect();
            ids.sort();
            Ok(ids)
        }
        fn find_by_ft_id(&self, ft: &FtId, birth: time::Date) -> Result<Vec<PersonId>, StoreError> {
            let mut ids: Vec<_> =
                self.persons.values().filter(|p| p.ft_id == *ft && p.birth_date == birth).map(|p| p.id).collect();
            ids.sort();
            Ok(ids)
        }
        fn scope_page(
            &self,
            _: &Agent,
            after: Option<PersonId>,
            limit: usize,
            _: time::Date,
        ) -> Result<Vec<(ScopeEntry, Relationship)>, StoreError> {
            Ok(self.scope_rows.iter().filter(|(e, _)| Some(e.id) > after).take(limit).cloned().collect())
        }
        fn agent(&self, _: AgentId) -> Result<Option<Agent>, StoreError> {
            Ok(None)
        }
        fn organization(&self, _: OrgId) -> Result<Option<Organization>, StoreError> {
            Ok(None)
        }
    }

    #[derive(Default)]
    struct FakeLedger {
        events: Mutex<Vec<AccessEvent>>,
        failing: AtomicBool,
    }

    impl AccessLedger for FakeLedger {
        fn append(&self, events: &[AccessEvent]) -> Result<LedgerReceipt, crate::ports::LedgerError> {
            if self.failing.load(Ordering::SeqCst) {
                return Err(LedgerError("fsync failed".into()));
            }
            let mut all = self.events.lock().unwrap();
            let first = all.len() as u64;
            all.extend_from_slice(events);
            Ok(LedgerReceipt { first, count: events.len() as u64 })
        }
        fn record(
            &self,
            events: &[crate::security::SecurityEvent],
        ) -> Result<LedgerReceipt, crate::ports::LedgerError> {
            Ok(LedgerReceipt { first: 0, count: events.len() as u64 })
        }
    }

    fn pid(n: u64) -> PersonId {
        PersonId::new(n).unwrap()
    }

    fn person(n: u64) -> Person {
        Person {
            id: pid(n),
            ft_id: "1234567A".parse().unwrap(),
            last_name: "Martin".into(),
            first_name: "Léa".into(),
            birth_date: date!(1990 - 05 - 01),
            birth_place: BirthPlace { code: "75111".into(), name: "Paris 11e".into() },
            sex: Sex::Female,
            nir: Nir::from_body("2900575111005").unwrap(),
            email: Some("lea.martin@example.fr".into()),
            phone: None,
            address: Address {
                street: "1 rue de la Paix".into(),
                postcode: "75002".into(),
                commune: "Paris 2e".into(),
                commune_code: "75102".into(),
            },
            status: RegistrationStatus::Registered,
            registered_on: date!(2025 - 01 - 01),
            deregistered_on: None,
            youth: false,
            rqth: true,
        }
    }

    fn enrolment(n: u64, org: u64) -> Relationship {
        Relationship {
            kind: RelationshipKind::Enrolment,
            person: pid(n),
            org: OrgId::new(org).unwrap(),
            agent: None,
            team: None,
            session: None,
            valid_from: date!(2026 - 01 - 01),
            valid_to: None,
        }
    }

    fn caller() -> Caller {
        let org =
            Organization { id: OrgId::new(3).unwrap(), kind: OrgKind::TrainingOrg, name: "AFPA".into(), active: true };
        let agent = Agent {
            id: AgentId::new(9).unwrap(),
            login: "t.r@afpa".parse::<Login>().unwrap(),
            display_name: String::new(),
            email: String::new(),
            org: org.id,
            role: Role::Advisor,
            team: TeamId::new(1),
            active: true,
        };
        Caller {
            agent,
            org,
            session: SessionId(5),
            mfa: true,
            elevated: false,
            probation: false,
            reason: None,
            sign_in: Default::default(),
        }
    }

    fn meta() -> RequestMeta {
        RequestMeta { request: RequestId(77), at: Timestamp::from_date(date!(2026 - 11 - 02)) }
    }

    fn guard(registry: Arc<FakeRegistry>, ledger: Arc<FakeLedger>) -> Guard {
        Guard {
            authz: Arc::new(Authz::load(shipped::SCHEMA, shipped::POLICIES).unwrap()),
            registry,
            detector: Arc::new(NoDetection),
            ledger,
        }
    }

    fn world() -> (Arc<FakeRegistry>, Arc<FakeLedger>) {
        let mut r = FakeRegistry::default();
        r.persons.insert(pid(1), person(1));
        r.relationships.insert(pid(1), vec![enrolment(1, 3)]);
        r.relationships.insert(pid(2), vec![enrolment(2, 4)]); // another org's trainee
        r.persons.insert(pid(2), person(2));
        r.relationships.insert(pid(3), vec![enrolment(3, 3)]); // relationship, but no person row
        (Arc::new(r), Arc::new(FakeLedger::default()))
    }

    #[test]
    fn an_allowed_read_is_ledgered_with_its_reasons_then_released_cut_down() {
        let (r, l) = world();
        let g = guard(r, l.clone());
        let rec = g.read(&caller(), meta(), pid(1), CategorySet::ALL).unwrap();
        assert!(rec.identity.is_some() && rec.contact.is_some() && rec.status.is_some());
        assert!(rec.nir.is_none() && rec.sensitive.is_none());
        let events = l.events.lock().unwrap();
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!((e.decision, e.person, e.request), (Decision::Allow, Some(pid(1)), RequestId(77)));
        assert_eq!(e.returned, rec.categories);
        assert_eq!(e.relationship, Some(RelationshipKind::Enrolment));
        assert_eq!(e.reasons.len(), 5);
        let nir = e.reasons.iter().find(|r| r.category == crate::DataCategory::Nir).unwrap();
        assert_eq!(nir.effect, Effect::Forbid);
    }

    struct DemandStepUp;
    impl crate::ports::Detector for DemandStepUp {
        fn assess(&self, _event: &AccessEvent, _: &crate::ports::DetectContext) -> crate::event::Verdict {
            crate::event::Verdict { action: VerdictAction::StepUp, reasons: vec!["test=1".into()] }
        }
    }

    #[test]
    fn a_step_up_verdict_withholds_everything_until_the_session_is_elevated() {
        let (r, l) = world();
        let mut g = guard(r, l.clone());
        g.detector = Arc::new(DemandStepUp);
        assert!(matches!(g.read(&caller(), meta(), pid(1), CategorySet::ALL), Err(GuardError::StepUpRequired)));
        {
            let events = l.events.lock().unwrap();
            assert_eq!(events.len(), 1, "the withheld read is ledgered");
            assert_eq!((events[0].decision, events[0].returned), (Decision::Deny, CategorySet::EMPTY));
            assert_eq!(events[0].verdict.action, VerdictAction::StepUp);
        }
        let elevated = Caller { elevated: true, ..caller() };
        let rec = g.read(&elevated, meta(), pid(1), CategorySet::ALL).unwrap();
        assert!(rec.identity.is_some());
        assert_eq!(l.events.lock().unwrap()[1].decision, Decision::Allow);
    }

    #[test]
    fn a_lookup_key_only_answers_whoever_may_read_it() {
        let (r, l) = world();
        let g = guard(r, l.clone());
        let p = person(1);
        // The training organization reaches P1 but may not read NIRs: a NIR lookup must not
        // confirm the NIR (it would be an oracle), whatever categories are asked.
        for asked in [CategorySet::ALL, CategorySet::EMPTY.with(DataCategory::Identity)] {
            let r = g.lookup(&caller(), meta(), LookupKey::Nir(p.nir, p.birth_date), asked);
            assert!(matches!(r, Err(GuardError::NotFound)));
        }
        // Its France Travail id is identity, which it may read.
        let found = g.lookup(&caller(), meta(), LookupKey::FtId(p.ft_id, p.birth_date), CategorySet::ALL).unwrap();
        // P2 has the same id and birth date in this fake but is another organization's trainee.
        assert_eq!(found.iter().map(|r| r.id).collect::<Vec<_>>(), vec![pid(1)]);
        let events = l.events.lock().unwrap();
        let refused = &events[0];
        assert_eq!((refused.decision, refused.action), (Decision::Deny, AccessAction::LookupByNir));
        assert!(refused.reasons.iter().any(|r| r.policy.as_deref() == Some(LOOKUP_KEY_RULE)));
    }

    #[test]
    fn nothing_is_released_when_the_ledger_fails() {
        let (r, l) = world();
        l.failing.store(true, Ordering::SeqCst);
        let g = guard(r, l.clone());
        assert!(matches!(g.read(&caller(), meta(), pid(1), CategorySet::ALL), Err(GuardError::Unavailable(_))));
        assert!(matches!(g.scope(&caller(), meta(), None, 10), Err(GuardError::Unavailable(_))));
        assert!(l.events.lock().unwrap().is_empty());
    }

    type Answer = Result<LedgerReceipt, LedgerError>;

    /// A ledger whose answers the test gives by hand, after the guard has returned.
    #[derive(Default)]
    struct Gate {
        slot: Mutex<(Option<Answer>, Option<std::task::Waker>)>,
        ready: std::sync::Condvar,
        submitted: Mutex<Vec<AccessEvent>>,
    }

    impl Gate {
        fn answer(&self, answer: Result<LedgerReceipt, LedgerError>) {
            let waker = {
                let mut slot = self.slot.lock().unwrap();
                slot.0 = Some(answer);
                slot.1.take()
            };
            self.ready.notify_all();
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    struct GateLedger(Arc<Gate>);
    struct GatePending(Arc<Gate>);

    impl crate::ports::PendingAppend for GatePending {
        fn wait(self: Box<Self>) -> Result<LedgerReceipt, LedgerError> {
            let mut slot = self.0.slot.lock().unwrap();
            loop {
                if let Some(a) = slot.0.take() {
                    return a;
                }
                slot = self.0.ready.wait(slot).unwrap();
            }
        }
        fn poll_answer(
            &mut self,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<LedgerReceipt, LedgerError>> {
            let mut slot = self.0.slot.lock().unwrap();
            match slot.0.take() {
                Some(a) => std::task::Poll::Ready(a),
                None => {
                    slot.1 = Some(cx.waker().clone());
                    std::task::Poll::Pending
                }
            }
        }
    }

    impl AccessLedger for GateLedger {
        fn append(&self, _: &[AccessEvent]) -> Result<LedgerReceipt, LedgerError> {
            unreachable!("the guard's reads submit")
        }
        fn submit(&self, events: &[AccessEvent]) -> Durability {
            self.0.submitted.lock().unwrap().extend_from_slice(events);
            Durability::pending(Box::new(GatePending(self.0.clone())))
        }
        fn record(&self, _: &[crate::security::SecurityEvent]) -> Result<LedgerReceipt, LedgerError> {
            unreachable!()
        }
    }

    struct Flag(AtomicBool);
    impl std::task::Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn gated() -> (Guard, Arc<Gate>) {
        let (r, l) = world();
        let gate = Arc::new(Gate::default());
        let g = Guard { ledger: Arc::new(GateLedger(gate.clone())), ..guard(r, l) };
        (g, gate)
    }

    #[test]
    fn released_data_comes_out_only_once_the_ledger_has_answered() {
        use std::future::Future;
        let (g, gate) = gated();
        let mut released = g.read_released(&caller(), meta(), pid(1), CategorySet::ALL);
        assert_eq!(gate.submitted.lock().unwrap().len(), 1, "the event is handed over before anything leaves");
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = std::task::Waker::from(flag.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(std::pin::Pin::new(&mut released).poll(&mut cx).is_pending());
        assert!(std::pin::Pin::new(&mut released).poll(&mut cx).is_pending(), "still held when polled again");
        assert!(!flag.0.load(Ordering::SeqCst));
        gate.answer(Ok(LedgerReceipt { first: 0, count: 1 }));
        assert!(flag.0.load(Ordering::SeqCst), "the ledger's answer wakes the waiting request");
        match std::pin::Pin::new(&mut released).poll(&mut cx) {
            std::task::Poll::Ready(Ok(rec)) => assert!(rec.identity.is_some() && rec.nir.is_none()),
            other => panic!("expected the record, got {other:?}"),
        }
    }

    #[test]
    fn released_data_is_withheld_when_the_ledger_answers_with_a_failure() {
        use std::future::Future;
        let (g, gate) = gated();
        let mut released = g.read_released(&caller(), meta(), pid(1), CategorySet::ALL);
        let waker = std::task::Waker::from(Arc::new(Flag(AtomicBool::new(false))));
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(std::pin::Pin::new(&mut released).poll(&mut cx).is_pending());
        gate.answer(Err(LedgerError("fsync failed".into())));
        match std::pin::Pin::new(&mut released).poll(&mut cx) {
            std::task::Poll::Ready(Err(GuardError::Unavailable(m))) => assert!(m.contains("fsync failed"), "{m}"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
        // The blocking form withholds alike.
        let held = g.scope_released(&caller(), meta(), None, 10);
        gate.answer(Err(LedgerError("fsync failed".into())));
        assert!(matches!(held.wait(), Err(GuardError::Unavailable(_))));
    }

    #[test]
    fn waiting_for_released_data_blocks_until_the_ledger_answers() {
        let (g, gate) = gated();
        let released = g.read_released(&caller(), meta(), pid(1), CategorySet::ALL);
        let answered = Arc::new(AtomicBool::new(false));
        let answerer = {
            let (gate, answered) = (gate.clone(), answered.clone());
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(50));
                answered.store(true, Ordering::SeqCst);
                gate.answer(Ok(LedgerReceipt { first: 0, count: 1 }));
            })
        };
        let rec = released.wait().unwrap();
        assert!(answered.load(Ordering::SeqCst), "wait returned before the ledger answered");
        assert!(rec.identity.is_some());
        answerer.join().unwrap();
    }

    #[test]
    fn a_store_failure_denies_and_is_ledgered() {
        let (r, l) = world();
        r.broken.store(true, Ordering::SeqCst);
        let g = guard(r, l.clone());
        assert!(matches!(g.read(&caller(), meta(), pid(1), CategorySet::ALL), Err(GuardError::Unavailable(_))));
        let events = l.events.lock().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].decision, Decision::Error);
        assert!(events[0].returned.is_empty());
    }

    #[test]
    fn unreachable_nonexistent_and_inconsistent_all_say_not_found_and_are_ledgered() {
        let (r, l) = world();
        let g = guard(r, l.clone());
        for p in [2, 999, 3] {
            assert!(matches!(g.read(&caller(), meta(), pid(p), CategorySet::ALL), Err(GuardError::NotFound)), "P{p}");
        }
        let events = l.events.lock().unwrap();
        let decisions: Vec<_> = events.iter().map(|e| (e.person, e.decision)).collect();
        assert_eq!(
            decisions,
            vec![(Some(pid(2)), Decision::Deny), (Some(pid(999)), Decision::Deny), (Some(pid(3)), Decision::Error)]
        );
        assert!(events.iter().all(|e| e.returned.is_empty()));
    }

    #[test]
    fn scope_pagination_follows_the_store_even_when_lines_are_withheld() {
        let (r, l) = world();
        let mut r = Arc::try_unwrap(r).ok().unwrap();
        let line = |n: u64, org: u64| {
            (
                ScopeEntry {
                    id: pid(n),
                    last_name: "X".into(),
                    first_name: "Y".into(),
                    relationship: RelationshipKind::Enrolment,
                },
                enrolment(n, org),
            )
        };
        // The second line's relationship is another organization's: Cedar withholds it.
        r.scope_rows = vec![line(10, 3), line(11, 4), line(12, 3)];
        let g = guard(Arc::new(r), l.clone());
        let page = g.scope(&caller(), meta(), None, 2).unwrap();
        assert_eq!(page.entries.iter().map(|e| e.id).collect::<Vec<_>>(), vec![pid(10)]);
        assert_eq!(page.next_after, Some(pid(11)));
        let last = g.scope(&caller(), meta(), page.next_after, 2).unwrap();
        assert_eq!(last.entries.iter().map(|e| e.id).collect::<Vec<_>>(), vec![pid(12)]);
        assert_eq!(last.next_after, None);
        // Every line, withheld or not, was ledgered.
        assert_eq!(l.events.lock().unwrap().len(), 3);
    }
}
