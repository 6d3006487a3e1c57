//! The detector of a node among several: judges only the agents whose key group this node
//! judges. The HTTP layer already sends each request to its agent's node; this is the second
//! lock, for a request admitted just before this node's lease lapsed or its group moved: it is
//! refused (a throttle whose reason says why), never judged against a partial state.

use std::sync::Arc;

use vigie_core::event::{AccessEvent, Verdict, VerdictAction};
use vigie_core::ports::{DetectContext, Detector, LifecycleAction, RelationshipEvent};
use vigie_core::route::key_group;

use super::Node;

pub struct Fenced {
    pub inner: Arc<dyn Detector>,
    pub node: Arc<Node>,
}

impl std::fmt::Debug for Fenced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fenced").field("node", &self.node).finish_non_exhaustive()
    }
}

fn refused() -> Verdict {
    Verdict { action: VerdictAction::Throttle, reasons: vec!["cluster=not_this_node".into()] }
}

impl Detector for Fenced {
    fn assess(&self, event: &AccessEvent, context: &DetectContext) -> Verdict {
        if !self.node.judges(key_group(event.actor.agent)) {
            return refused();
        }
        self.inner.assess(event, context)
    }

    fn lifecycle(&self, action: &LifecycleAction) -> Verdict {
        if !self.node.judges(key_group(action.actor)) {
            return refused();
        }
        self.inner.lifecycle(action)
    }

    fn relationship(&self, event: &RelationshipEvent, context: &DetectContext) -> Verdict {
        if !self.node.judges(key_group(event.actor.agent)) {
            return refused();
        }
        self.inner.relationship(event, context)
    }

    fn declare_campaign(&self, campaign: &vigie_core::campaign::CampaignDeclaration) {
        self.inner.declare_campaign(campaign)
    }

    fn lift(
        &self,
        agent: vigie_core::ids::AgentId,
        by: vigie_core::ids::AgentId,
        at: vigie_core::time::Timestamp,
    ) -> bool {
        self.inner.lift(agent, by, at)
    }

    fn reinstate(
        &self,
        agent: vigie_core::ids::AgentId,
        by: vigie_core::ids::AgentId,
        at: vigie_core::time::Timestamp,
    ) -> bool {
        self.inner.reinstate(agent, by, at)
    }

    fn add_extract_canaries(&self, canaries: &[(vigie_core::ids::PersonId, u32)]) {
        self.inner.add_extract_canaries(canaries)
    }
}
