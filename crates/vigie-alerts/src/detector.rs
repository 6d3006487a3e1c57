//! The detector wrapper that turns verdicts into alerts, for access events and lifecycle actions.

use std::sync::Arc;

use vigie_core::event::{AccessEvent, Verdict};
use vigie_core::ids::AgentId;
use vigie_core::ports::{DetectContext, Detector, LifecycleAction, RelationshipEvent};
use vigie_core::time::Timestamp;

use crate::{Alert, Alerter, raises_alert};

/// A detector that raises an alert for every verdict other than a plain allow (and every shadow
/// decision), on the guarded path and on lifecycle actions alike. The verdict is returned as
/// the inner detector gave it.
#[derive(Debug)]
pub struct AlertingDetector<D> {
    pub inner: D,
    pub alerter: Arc<Alerter>,
}

impl<D: Detector> Detector for AlertingDetector<D> {
    fn assess(&self, event: &AccessEvent, context: &DetectContext) -> Verdict {
        let v = self.inner.assess(event, context);
        if raises_alert(&v) {
            self.alerter.emit(Alert::from_event(event, &v));
        }
        v
    }

    fn lifecycle(&self, action: &LifecycleAction) -> Verdict {
        let v = self.inner.lifecycle(action);
        if raises_alert(&v) {
            self.alerter.emit(Alert::from_lifecycle(action, &v));
        }
        v
    }

    fn relationship(&self, event: &RelationshipEvent, context: &DetectContext) -> Verdict {
        let v = self.inner.relationship(event, context);
        if raises_alert(&v) {
            self.alerter.emit(Alert::from_relationship(event, &v));
        }
        v
    }

    fn declare_campaign(&self, campaign: &vigie_core::campaign::CampaignDeclaration) {
        self.inner.declare_campaign(campaign);
    }

    fn lift(&self, agent: AgentId, by: AgentId, at: Timestamp) -> bool {
        self.inner.lift(agent, by, at)
    }

    fn reinstate(&self, agent: AgentId, by: AgentId, at: Timestamp) -> bool {
        self.inner.reinstate(agent, by, at)
    }

    fn add_extract_canaries(&self, canaries: &[(vigie_core::PersonId, u32)]) {
        self.inner.add_extract_canaries(canaries)
    }
}
