//! The detector wrapper that turns verdicts into alerts, for access events and lifecycle actions.

use std::sync::Arc;

use vigie_core::event::{AccessEvent, Verdict};
use vigie_core::ports::{DetectContext, Detector, LifecycleAction};

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
}
