//! Authorization with Cedar: which categories of which person an agent may read.
//!
//! Schema and policies are texts handed in by the caller (the binary reads the files), parsed
//! and validated once in strict mode; a policy that fails validation refuses the start. Each
//! request gets a small entity slice built in code from the registry's active relationship
//! rows (never from client input), and one decision per data category. Any evaluation error
//! denies that category: Cedar skips an erroring policy, forbids included, so an error must
//! never be read as "no forbid applied".

mod cache;
mod slice;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{
    ActionConstraint, Authorizer as CedarAuthorizer, Context, Decision as CedarDecision, Entities, EntityId,
    EntityTypeName, EntityUid, Policy, PolicyId, PolicySet, Request, Schema, ValidationMode, Validator,
};

use crate::category::{CategorySet, DataCategory};
use crate::event::{Effect, Reason};
use crate::org::{Agent, OrgKind, Organization};
use crate::relationship::{Relationship, RelationshipKind};

/// Why the policies could not be loaded. Start-up stops with this message.
#[derive(Debug, thiserror::Error)]
pub enum PolicyLoadError {
    #[error("schema {file}: {message}")]
    Schema { file: String, message: String },
    #[error("policy file {file}: {message}")]
    Parse { file: String, message: String },
    #[error(
        "policy file {file}: policy #{index} has no @id(\"...\") annotation (every policy needs a unique id for the ledger)"
    )]
    MissingId { file: String, index: usize },
    #[error("policy file {file}: the id \"{id}\" is used twice")]
    DuplicateId { file: String, id: String },
    #[error("policies do not validate against the schema:\n{0}")]
    Validation(String),
    #[error("no policy permits anything: refusing to start with an empty policy set")]
    Empty,
    #[error(
        "schema {file}: action groups are not supported ({group} groups other actions); name the category actions one by one"
    )]
    ActionGroup { file: String, group: String },
}

/// The policies, schema and pre-parsed names, shared by every request (`Send + Sync`).
#[derive(Debug)]
pub struct Authz {
    schema: Schema,
    /// One policy set per category, holding only the policies whose action scope can apply to it,
    /// because Cedar evaluates every policy of a set (≈1 µs each).
    per_category: [PolicySet; 5],
    actions: [EntityUid; 5],
    names: Names,
    authorizer: CedarAuthorizer,
    policy_ids: HashMap<String, Arc<str>>,
    /// Every policy, for decisions taken once per job rather than per person (extracts).
    all: PolicySet,
    /// Outcomes already decided, when the policies allow it (see `cache`).
    memo: Option<cache::Memo>,
}

#[derive(Debug)]
struct Names {
    agent: EntityTypeName,
    org: EntityTypeName,
    team: EntityTypeName,
    person: EntityTypeName,
    org_kind: EntityTypeName,
    role: EntityTypeName,
}

/// What the session tells authorization about how the agent signed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthContext {
    pub mfa: bool,
}

/// The outcome for one person: the categories permitted, and a reason for every category asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthzOutcome {
    pub allowed: CategorySet,
    pub reasons: Vec<Reason>,
    /// The relationship that reaches the person from this agent, if any.
    pub relationship: Option<RelationshipKind>,
}

impl Authz {
    /// Parses and validates the schema and policy files (`(file name, text)` pairs).
    pub fn load(schema: (&str, &str), policies: &[(&str, &str)]) -> Result<Self, PolicyLoadError> {
        let (schema_file, schema_text) = schema;
        let (schema, _warnings) = Schema::from_cedarschema_str(schema_text)
            .map_err(|e| PolicyLoadError::Schema { file: schema_file.to_owned(), message: render(&e) })?;

        // Requests are built without the schema's action hierarchy (for speed), so `action in
        // <group>` would silently be false there and a forbid written that way would not apply.
        if let Some(group) = schema.action_groups().next() {
            return Err(PolicyLoadError::ActionGroup { file: schema_file.to_owned(), group: group.to_string() });
        }

        let mut all = PolicySet::new();
        let mut policy_ids = HashMap::new();
        for (file, text) in policies {
            let parsed = PolicySet::from_str(text)
                .map_err(|e| PolicyLoadError::Parse { file: (*file).to_owned(), message: render(&e) })?;
            for (index, policy) in parsed.policies().enumerate() {
                let id = policy
                    .annotation("id")
                    .ok_or_else(|| PolicyLoadError::MissingId { file: (*file).to_owned(), index: index + 1 })?
                    .to_owned();
                if policy_ids.contains_key(&id) {
                    return Err(PolicyLoadError::DuplicateId { file: (*file).to_owned(), id });
                }
                let renamed = policy.new_id(PolicyId::new(&id));
                all.add(renamed)
                    .map_err(|e| PolicyLoadError::Parse { file: (*file).to_owned(), message: render(&e) })?;
                policy_ids.insert(id.clone(), Arc::<str>::from(id));
            }
        }
        if !all.policies().any(|p| p.effect() == cedar_policy::Effect::Permit) {
            return Err(PolicyLoadError::Empty);
        }

        let validation = Validator::new(schema.clone()).validate(&all, ValidationMode::Strict);
        if !validation.validation_passed() {
            let msgs: Vec<String> = validation.validation_errors().map(|e| format!("  - {}", render(e))).collect();
            return Err(PolicyLoadError::Validation(msgs.join("\n")));
        }

        let action_type = type_name("Action")?;
        let actions =
            DataCategory::ALL.map(|c| EntityUid::from_type_name_and_id(action_type.clone(), EntityId::new(c.action())));
        let per_category = actions.clone().map(|action| {
            let mut set = PolicySet::new();
            for p in all.policies().filter(|p| may_apply(p, &action)) {
                // Ids are unique (checked above), so `add` cannot fail here; skip defensively.
                let _ = set.add(p.clone());
            }
            set
        });

        Ok(Authz {
            schema,
            per_category,
            actions,
            names: Names {
                agent: type_name("Agent")?,
                org: type_name("Organization")?,
                team: type_name("Team")?,
                person: type_name("Person")?,
                org_kind: type_name("OrgKind")?,
                role: type_name("Role")?,
            },
            authorizer: CedarAuthorizer::new(),
            memo: (!names_a_person(&all)).then(|| cache::Memo::new(MEMO_CAPACITY)),
            policy_ids,
            all,
        })
    }

    /// The validated schema (for tools that check entities or policies against it).
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Number of policies loaded (for the start-up log).
    pub fn policy_count(&self) -> usize {
        self.policy_ids.len()
    }

    /// Decides which of `requested` categories `agent` may read of the person whose active
    /// relationships are `relationships`. Never fails: errors deny and say so in the reasons.
    pub fn decide(
        &self,
        agent: &Agent,
        org: &Organization,
        person_key: u64,
        relationships: &[Relationship],
        ctx: AuthContext,
        requested: CategorySet,
    ) -> AuthzOutcome {
        let relationship = reaching_relationship(agent, org, relationships);
        let key = self.memo.as_ref().map(|_| cache::Key::new(agent, org, relationships, ctx.mfa, requested));
        if let Some(hit) = self.memo.as_ref().zip(key.as_ref()).and_then(|(memo, key)| memo.get(key)) {
            let relationship = if hit.allowed.is_empty() { None } else { relationship };
            return AuthzOutcome { allowed: hit.allowed, reasons: hit.reasons, relationship };
        }
        let outcome = self.evaluate(agent, org, person_key, relationships, ctx, requested);
        if let (Some(memo), Some(key)) = (&self.memo, key) {
            // Errors are not memoized: they are rare and each one should be seen afresh.
            if outcome.reasons.iter().all(|r| r.effect != Effect::EvalError) {
                memo.put(key, cache::Cached { allowed: outcome.allowed, reasons: outcome.reasons.clone() });
            }
        }
        let relationship = if outcome.allowed.is_empty() { None } else { relationship };
        AuthzOutcome { relationship, ..outcome }
    }

    /// Whether decisions are memoized (no policy names a `Person` literal), and how many are held.
    pub fn memo_len(&self) -> Option<usize> {
        self.memo.as_ref().map(cache::Memo::len)
    }

    /// Evaluates with Cedar, without the memo (what a memo miss costs; for benchmarks and tests).
    pub fn evaluate(
        &self,
        agent: &Agent,
        org: &Organization,
        person_key: u64,
        relationships: &[Relationship],
        ctx: AuthContext,
        requested: CategorySet,
    ) -> AuthzOutcome {
        let slice = self.slice(agent, org, person_key, relationships, ctx, None);
        let mut allowed = CategorySet::EMPTY;
        let mut reasons = Vec::with_capacity(5);
        for category in requested.iter() {
            let reason = match &slice {
                Ok((entities, principal, resource, context)) => {
                    self.decide_one(category, entities, principal, resource, context, None)
                }
                Err(()) => Reason { category, effect: Effect::EvalError, policy: None },
            };
            if reason.effect == Effect::Permit {
                allowed.insert(category);
            }
            reasons.push(reason);
        }
        AuthzOutcome { allowed, reasons, relationship: None }
    }

    /// Decides which of `requested` categories `agent` may put in a bulk extract for `purpose`
    /// through `relationship`, and whether rows may carry the real France Travail id (else a
    /// pseudonym). Taken once per extract, on the whole policy set. Never fails: errors deny.
    pub fn decide_extract(
        &self,
        agent: &Agent,
        org: &Organization,
        purpose: &str,
        relationship: RelationshipKind,
        ctx: AuthContext,
        requested: CategorySet,
    ) -> ExtractOutcome {
        let slice = self.extract_slice(agent, org, purpose, relationship, ctx);
        let mut allowed = CategorySet::EMPTY;
        let mut reasons = Vec::with_capacity(5);
        let decide = |action: &str| -> (Effect, Option<Arc<str>>) {
            let Ok((entities, principal, resource, context)) = &slice else { return (Effect::EvalError, None) };
            let Ok(action) =
                EntityTypeName::from_str("Action").map(|t| EntityUid::from_type_name_and_id(t, EntityId::new(action)))
            else {
                return (Effect::EvalError, None);
            };
            let Ok(request) = Request::new(principal.clone(), action, resource.clone(), context.clone(), None) else {
                return (Effect::EvalError, None);
            };
            let response = self.authorizer.is_authorized(&request, &self.all, entities);
            let diagnostics = response.diagnostics();
            if let Some(cedar_policy::AuthorizationError::PolicyEvaluationError(pe)) = diagnostics.errors().next() {
                return (Effect::EvalError, Some(self.intern(pe.policy_id().to_string())));
            }
            let mut determining: Vec<String> = diagnostics.reason().map(|id| id.to_string()).collect();
            determining.sort();
            let policy = determining.into_iter().next().map(|id| self.intern(id));
            match response.decision() {
                CedarDecision::Allow => (Effect::Permit, policy),
                CedarDecision::Deny if policy.is_some() => (Effect::Forbid, policy),
                CedarDecision::Deny => (Effect::NoPermit, None),
            }
        };
        for category in requested.iter() {
            let (effect, policy) = decide(category.extract_action());
            if effect == Effect::Permit {
                allowed.insert(category);
            }
            reasons.push(Reason { category, effect, policy });
        }
        let (ids, ids_policy) = decide("extractRealIds");
        ExtractOutcome {
            allowed,
            reasons,
            real_ids: ids == Effect::Permit && allowed.contains(DataCategory::Identity),
            real_ids_policy: ids_policy,
        }
    }

    fn decide_one(
        &self,
        category: DataCategory,
        entities: &Entities,
        principal: &EntityUid,
        resource: &EntityUid,
        context: &Context,
        schema: Option<&Schema>,
    ) -> Reason {
        let idx = category as usize;
        let request =
            match Request::new(principal.clone(), self.actions[idx].clone(), resource.clone(), context.clone(), schema)
            {
                Ok(r) => r,
                Err(_) => {
                    return Reason { category, effect: Effect::EvalError, policy: None };
                }
            };
        let response = self.authorizer.is_authorized(&request, &self.per_category[idx], entities);
        let diagnostics = response.diagnostics();
        if diagnostics.errors().next().is_some() {
            let policy = diagnostics.errors().next().map(|e| match e {
                cedar_policy::AuthorizationError::PolicyEvaluationError(pe) => self.intern(pe.policy_id().to_string()),
            });
            return Reason { category, effect: Effect::EvalError, policy };
        }
        let mut determining: Vec<&PolicyId> = diagnostics.reason().collect();
        determining.sort_by_key(|id| id.to_string());
        let policy = determining.first().map(|id| self.intern(id.to_string()));
        match response.decision() {
            CedarDecision::Allow => Reason { category, effect: Effect::Permit, policy },
            CedarDecision::Deny if policy.is_some() => Reason { category, effect: Effect::Forbid, policy },
            CedarDecision::Deny => Reason { category, effect: Effect::NoPermit, policy: None },
        }
    }

    fn intern(&self, id: String) -> Arc<str> {
        self.policy_ids.get(&id).cloned().unwrap_or_else(|| Arc::from(id))
    }
}

/// What an extract may carry: the categories permitted (with a reason for each asked), and
/// whether the real France Travail id may leave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtractOutcome {
    pub allowed: CategorySet,
    pub reasons: Vec<Reason>,
    pub real_ids: bool,
    pub real_ids_policy: Option<Arc<str>>,
}

/// The relationship kind through which `agent` reaches the person, mirroring the policies'
/// conditions (used only to label the ledger entry; the decision is Cedar's).
fn reaching_relationship(
    agent: &Agent,
    org: &Organization,
    relationships: &[Relationship],
) -> Option<RelationshipKind> {
    relationships.iter().find_map(|r| {
        let reaches = match (org.kind, r.kind) {
            (OrgKind::Agency | OrgKind::CapEmploi, RelationshipKind::Caseload) => {
                r.agent == Some(agent.id) || (agent.team.is_some() && r.team == agent.team)
            }
            (OrgKind::MissionLocale, RelationshipKind::FollowUp)
            | (OrgKind::TrainingOrg, RelationshipKind::Enrolment)
            | (OrgKind::Subcontractor, RelationshipKind::Assignment) => r.org == org.id,
            _ => false,
        };
        reaches.then_some(r.kind)
    })
}

/// Decisions held in the memo at most (a few MB); past it the memo starts over.
const MEMO_CAPACITY: usize = 100_000;

/// Whether any policy names a `Person` entity literally, in its scope or its conditions, which
/// would make decisions depend on the person's uid and rule the memo out. Read from the JSON
/// form, where every entity literal is `{"type": "...", "id": "..."}`; if a policy cannot be
/// rendered, assume it does.
fn names_a_person(policies: &PolicySet) -> bool {
    policies.policies().any(|p| match p.to_json() {
        Ok(json) => json.to_string().contains("\"type\":\"Person\""),
        Err(_) => true,
    })
}

/// Whether `policy` can apply to `action` judging by its scope alone. Unknown shapes are kept.
fn may_apply(policy: &Policy, action: &EntityUid) -> bool {
    match policy.action_constraint() {
        ActionConstraint::Any => true,
        ActionConstraint::Eq(a) => &a == action,
        ActionConstraint::In(list) => list.iter().any(|a| a == action),
    }
}

fn type_name(name: &str) -> Result<EntityTypeName, PolicyLoadError> {
    EntityTypeName::from_str(name)
        .map_err(|e| PolicyLoadError::Schema { file: "(built-in names)".to_owned(), message: render(&e) })
}

pub(super) fn uid(ty: &EntityTypeName, id: u64) -> EntityUid {
    EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id.to_string()))
}

pub(super) fn named_uid(ty: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
}

fn render(e: &dyn std::fmt::Display) -> String {
    e.to_string()
}

/// The repository's policy files, embedded so that tests and the default build use exactly them.
pub mod shipped {
    pub const SCHEMA: (&str, &str) =
        ("policies/vigie.cedarschema", include_str!("../../../../policies/vigie.cedarschema"));
    pub const POLICIES: &[(&str, &str)] = &[
        ("policies/read-access.cedar", include_str!("../../../../policies/read-access.cedar")),
        ("policies/guardrails.cedar", include_str!("../../../../policies/guardrails.cedar")),
        ("policies/extracts.cedar", include_str!("../../../../policies/extracts.cedar")),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AgentId, Login, OrgId, PersonId, TeamId};
    use crate::org::Role;
    use time::macros::date;

    fn authz() -> Authz {
        Authz::load(shipped::SCHEMA, shipped::POLICIES).unwrap()
    }

    fn org(id: u64, kind: OrgKind) -> Organization {
        Organization { id: OrgId::new(id).unwrap(), kind, name: format!("org{id}"), active: true }
    }

    fn agent(id: u64, org: &Organization, role: Role, team: Option<u64>) -> Agent {
        Agent {
            id: AgentId::new(id).unwrap(),
            login: format!("agent{id}").parse::<Login>().unwrap(),
            display_name: String::new(),
            email: String::new(),
            org: org.id,
            role,
            team: team.and_then(TeamId::new),
            active: true,
        }
    }

    fn rel(kind: RelationshipKind, org: u64, agent: Option<u64>, team: Option<u64>) -> Relationship {
        Relationship {
            kind,
            person: PersonId::new(1).unwrap(),
            org: OrgId::new(org).unwrap(),
            agent: agent.and_then(AgentId::new),
            team: team.and_then(TeamId::new),
            session: None,
            valid_from: date!(2026 - 01 - 01),
            valid_to: None,
        }
    }

    fn cats(s: &str) -> CategorySet {
        s.split(',').filter(|x| !x.is_empty()).map(|x| x.parse::<DataCategory>().unwrap()).collect()
    }

    /// (case, org kind, role, agent team, relationships, mfa, expected categories)
    #[test]
    fn decision_table() {
        use OrgKind::*;
        use RelationshipKind::*;
        use Role::*;
        let own = |team| rel(Caseload, 1, Some(10), team);
        let teammate = rel(Caseload, 1, Some(11), Some(5));
        let other_team = rel(Caseload, 1, Some(12), Some(6));
        type Case = (&'static str, OrgKind, Role, Option<u64>, Vec<Relationship>, bool, &'static str);
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            ("advisor, own caseload", Agency, Advisor, Some(5), vec![own(Some(5))], true, "identity,nir,contact,status,sensitive"),
            ("advisor, own caseload, no mfa", Agency, Advisor, Some(5), vec![own(Some(5))], false, "identity,contact,status"),
            ("advisor, teammate's caseload: no RQTH", Agency, Advisor, Some(5), vec![teammate.clone()], true, "identity,nir,contact,status"),
            ("advisor, other team's caseload", Agency, Advisor, Some(5), vec![other_team.clone()], true, ""),
            ("advisor, nobody", Agency, Advisor, Some(5), vec![], true, ""),
            ("advisor without a team, own caseload", Agency, Advisor, None, vec![own(None)], true, "identity,nir,contact,status,sensitive"),
            ("advisor without a team, a team's caseload", Agency, Advisor, None, vec![other_team.clone()], true, ""),
            ("manager, team caseload", Agency, Manager, Some(5), vec![teammate.clone()], true, "identity,nir,contact,status"),
            ("cap emploi advisor, own caseload", CapEmploi, Advisor, Some(5), vec![own(Some(5))], true, "identity,nir,contact,status,sensitive"),
            ("account admin, own caseload", Agency, AccountAdmin, Some(5), vec![own(Some(5))], true, ""),
            ("security officer, team caseload", Agency, SecurityOfficer, Some(5), vec![teammate], true, ""),
            ("mission locale, followed", MissionLocale, Advisor, None, vec![rel(FollowUp, 1, None, None)], true, "identity,contact,status"),
            ("mission locale, followed elsewhere", MissionLocale, Advisor, None, vec![rel(FollowUp, 2, None, None)], true, ""),
            ("training org, enrolled", TrainingOrg, Advisor, None, vec![rel(Enrolment, 1, None, None)], true, "identity,contact,status"),
            ("training org, enrolled elsewhere", TrainingOrg, Advisor, None, vec![rel(Enrolment, 2, None, None)], true, ""),
            ("training org, caseload rel of its own id", TrainingOrg, Advisor, Some(5), vec![own(Some(5))], true, ""),
            ("subcontractor, assigned", Subcontractor, Advisor, None, vec![rel(Assignment, 1, None, None)], true, "identity,contact"),
            ("subcontractor, enrolment is not assignment", Subcontractor, Advisor, None, vec![rel(Enrolment, 1, None, None)], true, ""),
        ];
        let a = authz();
        for (case, kind, role, team, rels, mfa, expected) in cases {
            let o = org(1, kind);
            let ag = agent(10, &o, role, team);
            let out = a.decide(&ag, &o, 1, &rels, AuthContext { mfa }, CategorySet::ALL);
            assert_eq!(out.allowed, cats(expected), "{case}: {:?}", out.reasons);
            assert_eq!(out.reasons.len(), 5, "{case}: a reason per category");
            assert!(out.reasons.iter().all(|r| r.effect != Effect::EvalError), "{case}: {:?}", out.reasons);
        }
    }

    /// The hot path builds slices and requests without schema checks; this proves every shape it
    /// builds (each role, with and without a team, each relationship kind, both MFA values)
    /// passes the strict schema check, so nothing is lost by skipping it.
    #[test]
    fn every_slice_and_request_shape_validates_against_the_schema() {
        let a = authz();
        for kind in OrgKind::ALL {
            for role in Role::ALL {
                for team in [None, Some(5)] {
                    for mfa in [false, true] {
                        let o = org(1, kind);
                        let ag = agent(10, &o, role, team);
                        let rels: Vec<_> =
                            RelationshipKind::ALL.iter().map(|k| rel(*k, 1, Some(11), Some(5))).collect();
                        for rels in [&rels[..], &[]] {
                            let (entities, p, r, c) = a
                                .slice(&ag, &o, 1, rels, AuthContext { mfa }, Some(&a.schema))
                                .unwrap_or_else(|()| panic!("slice for {kind:?} {role:?} does not validate"));
                            for category in DataCategory::ALL {
                                let reason = a.decide_one(category, &entities, &p, &r, &c, Some(&a.schema));
                                assert_ne!(reason.effect, Effect::EvalError, "{kind:?} {role:?} {category}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_memo_agrees_with_cedar_on_every_shape() {
        let a = authz();
        assert!(a.memo_len().is_some(), "shipped policies name no Person literal");
        let mut checked = 0;
        for kind in OrgKind::ALL {
            for role in Role::ALL {
                for team in [None, Some(5), Some(6)] {
                    for mfa in [false, true] {
                        let o = org(1, kind);
                        let ag = agent(10, &o, role, team);
                        let all: Vec<_> = [
                            rel(RelationshipKind::Caseload, 1, Some(10), Some(5)),
                            rel(RelationshipKind::Caseload, 1, Some(11), Some(6)),
                            rel(RelationshipKind::Enrolment, 1, None, None),
                            rel(RelationshipKind::FollowUp, 2, None, None),
                            rel(RelationshipKind::Assignment, 1, None, None),
                        ]
                        .into();
                        // Every subset of the relationships, twice (the second read is a memo hit).
                        for mask in 0u32..32 {
                            let rels: Vec<_> = all
                                .iter()
                                .enumerate()
                                .filter(|(i, _)| mask & (1 << i) != 0)
                                .map(|(_, r)| r.clone())
                                .collect();
                            for person in [1u64, 2] {
                                let ctx = AuthContext { mfa };
                                let fresh = a.evaluate(&ag, &o, person, &rels, ctx, CategorySet::ALL);
                                let memo = a.decide(&ag, &o, person, &rels, ctx, CategorySet::ALL);
                                assert_eq!(memo.allowed, fresh.allowed, "{kind:?} {role:?} {team:?} {mask}");
                                assert_eq!(memo.reasons, fresh.reasons);
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(a.memo_len().unwrap() > 0);
        assert_eq!(checked, 5 * 4 * 3 * 2 * 32 * 2);
    }

    #[test]
    fn a_policy_naming_a_person_turns_the_memo_off_and_is_obeyed() {
        let special = "@id(\"vip\") forbid (principal, action, resource == Person::\"2\");";
        let mut files = shipped::POLICIES.to_vec();
        files.push(("vip.cedar", special));
        let a = Authz::load(shipped::SCHEMA, &files).unwrap();
        assert_eq!(a.memo_len(), None);
        let o = org(1, OrgKind::Agency);
        let ag = agent(10, &o, Role::Advisor, Some(5));
        let rels = vec![rel(RelationshipKind::Caseload, 1, Some(10), Some(5))];
        let ctx = AuthContext { mfa: true };
        assert!(!a.decide(&ag, &o, 1, &rels, ctx, CategorySet::ALL).allowed.is_empty());
        assert!(a.decide(&ag, &o, 2, &rels, ctx, CategorySet::ALL).allowed.is_empty(), "same slice, other person");
        // The same in a condition, with spaces the parser accepts.
        let cond = "@id(\"vip2\") forbid (principal, action, resource) when { resource == Person :: \"2\" };";
        let mut files = shipped::POLICIES.to_vec();
        files.push(("vip2.cedar", cond));
        assert_eq!(Authz::load(shipped::SCHEMA, &files).unwrap().memo_len(), None);
    }

    #[test]
    fn training_orgs_never_get_nir_even_with_every_relationship() {
        let a = authz();
        for kind in [OrgKind::TrainingOrg, OrgKind::Subcontractor] {
            let o = org(1, kind);
            let ag = agent(10, &o, Role::Advisor, Some(5));
            let rels: Vec<_> = RelationshipKind::ALL.iter().map(|k| rel(*k, 1, Some(10), Some(5))).collect();
            let out = a.decide(&ag, &o, 1, &rels, AuthContext { mfa: true }, CategorySet::ALL);
            assert!(!out.allowed.contains(DataCategory::Nir));
            assert!(!out.allowed.contains(DataCategory::Sensitive));
            let nir = out.reasons.iter().find(|r| r.category == DataCategory::Nir).unwrap();
            assert_eq!(nir.effect, Effect::Forbid);
            assert_eq!(nir.policy.as_deref(), Some("nir-and-rqth-never-for-training-orgs-or-subcontractors"));
        }
    }

    #[test]
    fn inactive_account_or_org_reads_nothing_and_reasons_name_the_policy() {
        let a = authz();
        let mut o = org(1, OrgKind::Agency);
        let mut ag = agent(10, &o, Role::Advisor, Some(5));
        let rels = vec![rel(RelationshipKind::Caseload, 1, Some(10), Some(5))];
        ag.active = false;
        let out = a.decide(&ag, &o, 1, &rels, AuthContext { mfa: true }, CategorySet::ALL);
        assert!(out.allowed.is_empty());
        assert!(out.reasons.iter().all(|r| r.policy.as_deref() == Some("account-and-organization-active")));
        ag.active = true;
        o.active = false;
        assert!(a.decide(&ag, &o, 1, &rels, AuthContext { mfa: true }, CategorySet::ALL).allowed.is_empty());
        // An agent presented with an organization that is not its own is inactive for Cedar.
        let other = org(2, OrgKind::Agency);
        assert!(a.decide(&ag, &other, 1, &rels, AuthContext { mfa: true }, CategorySet::ALL).allowed.is_empty());
    }

    #[test]
    fn permit_reason_names_the_relationship_policy() {
        let a = authz();
        let o = org(1, OrgKind::TrainingOrg);
        let ag = agent(10, &o, Role::Advisor, None);
        let out = a.decide(
            &ag,
            &o,
            1,
            &[rel(RelationshipKind::Enrolment, 1, None, None)],
            AuthContext { mfa: true },
            CategorySet::EMPTY.with(DataCategory::Contact),
        );
        assert_eq!(out.reasons[0].policy.as_deref(), Some("training-org-reads-enrolled"));
        assert_eq!(out.relationship, Some(RelationshipKind::Enrolment));
    }

    #[test]
    fn bad_policies_stop_the_start_with_the_file_named() {
        let typo = "@id(\"x\") permit(principal is Agent, action == Action::\"readNir\", resource is Person) when { resource.caseloadTeam.contains(principal) };";
        let err = Authz::load(shipped::SCHEMA, &[("typo.cedar", typo)]).unwrap_err().to_string();
        assert!(err.contains("caseloadTeam"), "{err}");
        let no_id = "permit(principal, action, resource);";
        let err = Authz::load(shipped::SCHEMA, &[("noid.cedar", no_id)]).unwrap_err().to_string();
        assert!(err.contains("noid.cedar") && err.contains("@id"), "{err}");
        let err = Authz::load(shipped::SCHEMA, &[("bad.cedar", "permit(")]).unwrap_err().to_string();
        assert!(err.contains("bad.cedar"), "{err}");
        let dup = "@id(\"a\") permit(principal, action, resource);\n@id(\"a\") forbid(principal, action, resource);";
        assert!(matches!(
            Authz::load(shipped::SCHEMA, &[("dup.cedar", dup)]),
            Err(PolicyLoadError::DuplicateId { .. })
        ));
        let only_forbid = "@id(\"f\") forbid(principal, action, resource);";
        assert!(matches!(Authz::load(shipped::SCHEMA, &[("f.cedar", only_forbid)]), Err(PolicyLoadError::Empty)));
        assert!(Authz::load(("s", "entity ;"), shipped::POLICIES).is_err());
        // A guardrail written against an action group would be skipped on the hot path: refused.
        let grouped = shipped::SCHEMA.1.replace(
            "action readIdentity, readNir, readContact, readStatus, readSensitive",
            "action readPrivate;\naction readIdentity, readContact, readStatus\n  appliesTo { principal: [Agent], resource: [Person], context: ReadContext };\naction readNir, readSensitive in [readPrivate]",
        );
        assert_ne!(grouped, shipped::SCHEMA.1);
        let err = Authz::load(("grouped.cedarschema", &grouped), shipped::POLICIES).unwrap_err();
        assert!(matches!(err, PolicyLoadError::ActionGroup { .. }), "{err}");
    }
}
