//! The per-request entity slice: the agent, its organization and the person's relationship
//! references, built in code from the registry's rows (never from client input).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{Context, Entities, Entity, EntityUid, RestrictedExpression, Schema};

use super::{AuthContext, Authz, named_uid, uid};
use crate::org::{Agent, Organization};
use crate::relationship::{Relationship, RelationshipKind};

impl Authz {
    /// Builds the per-request entities: the agent, its organization and the person's relationship
    /// references. On the hot path `schema` is `None`: checking each slice against the schema
    /// costs about 40 µs per read, and the slices are built here from typed values only, so the
    /// tests check that every shape this function builds validates (and the policies use no
    /// action groups, which are what an unchecked slice would lose). Should a slice ever not
    /// match, Cedar errors and the category is denied.
    pub(super) fn slice(
        &self,
        agent: &Agent,
        org: &Organization,
        person_key: u64,
        relationships: &[Relationship],
        ctx: AuthContext,
        schema: Option<&Schema>,
    ) -> Result<(Entities, EntityUid, EntityUid, Context), ()> {
        let n = &self.names;
        let agent_uid = uid(&n.agent, agent.id.get());
        let org_uid = uid(&n.org, org.id.get());
        let person_uid = uid(&n.person, person_key);

        let mut agent_attrs = HashMap::with_capacity(4);
        agent_attrs.insert("org".to_owned(), RestrictedExpression::new_entity_uid(org_uid.clone()));
        agent_attrs
            .insert("role".to_owned(), RestrictedExpression::new_entity_uid(named_uid(&n.role, agent.role.as_str())));
        agent_attrs.insert("active".to_owned(), RestrictedExpression::new_bool(agent.active && agent.org == org.id));
        if let Some(team) = agent.team {
            agent_attrs.insert("team".to_owned(), RestrictedExpression::new_entity_uid(uid(&n.team, team.get())));
        }
        let agent_entity =
            Entity::new(agent_uid.clone(), agent_attrs, HashSet::from([org_uid.clone()])).map_err(|_| ())?;

        let org_attrs = HashMap::from([
            ("kind".to_owned(), RestrictedExpression::new_entity_uid(named_uid(&n.org_kind, org.kind.as_str()))),
            ("active".to_owned(), RestrictedExpression::new_bool(org.active)),
        ]);
        let org_entity = Entity::new(org_uid, org_attrs, HashSet::new()).map_err(|_| ())?;

        let mut advisors = Vec::new();
        let mut teams = Vec::new();
        let mut enrolled = Vec::new();
        let mut followed = Vec::new();
        let mut assigned = Vec::new();
        for r in relationships {
            match r.kind {
                RelationshipKind::Caseload => {
                    if let Some(a) = r.agent {
                        advisors.push(RestrictedExpression::new_entity_uid(uid(&n.agent, a.get())));
                    }
                    if let Some(t) = r.team {
                        teams.push(RestrictedExpression::new_entity_uid(uid(&n.team, t.get())));
                    }
                }
                RelationshipKind::Enrolment => {
                    enrolled.push(RestrictedExpression::new_entity_uid(uid(&n.org, r.org.get())))
                }
                RelationshipKind::FollowUp => {
                    followed.push(RestrictedExpression::new_entity_uid(uid(&n.org, r.org.get())))
                }
                RelationshipKind::Assignment => {
                    assigned.push(RestrictedExpression::new_entity_uid(uid(&n.org, r.org.get())))
                }
            }
        }
        let person_attrs = HashMap::from([
            ("caseloadAdvisors".to_owned(), RestrictedExpression::new_set(advisors)),
            ("caseloadTeams".to_owned(), RestrictedExpression::new_set(teams)),
            ("enrolledWith".to_owned(), RestrictedExpression::new_set(enrolled)),
            ("followedBy".to_owned(), RestrictedExpression::new_set(followed)),
            ("assignedTo".to_owned(), RestrictedExpression::new_set(assigned)),
        ]);
        let person_entity = Entity::new(person_uid.clone(), person_attrs, HashSet::new()).map_err(|_| ())?;

        let entities = Entities::from_entities([agent_entity, org_entity, person_entity], schema).map_err(|_| ())?;
        let context =
            Context::from_pairs([("mfa".to_owned(), RestrictedExpression::new_bool(ctx.mfa))]).map_err(|_| ())?;
        Ok((entities, agent_uid, person_uid, context))
    }

    /// The entities of an extract decision: the agent, its organization, and the request (its
    /// purpose token and relationship kind), validated against the schema (once per extract).
    pub(super) fn extract_slice(
        &self,
        agent: &Agent,
        org: &Organization,
        purpose: &str,
        relationship: RelationshipKind,
        ctx: AuthContext,
    ) -> Result<(Entities, EntityUid, EntityUid, Context), ()> {
        let (entities, agent_uid, _, context) = self.slice(agent, org, 0, &[], ctx, None)?;
        let ty = cedar_policy::EntityTypeName::from_str("ExtractRequest").map_err(|_| ())?;
        let request_uid = named_uid(&ty, "request");
        let attrs = HashMap::from([
            ("purpose".to_owned(), RestrictedExpression::new_string(purpose.to_owned())),
            ("relationship".to_owned(), RestrictedExpression::new_string(relationship.as_str().to_owned())),
        ]);
        let request = Entity::new(request_uid.clone(), attrs, HashSet::new()).map_err(|_| ())?;
        let all: Vec<Entity> = entities.into_iter().chain([request]).collect();
        let entities = Entities::from_entities(all, Some(&self.schema)).map_err(|_| ())?;
        Ok((entities, agent_uid, request_uid, context))
    }
}
