//! The last alerts, in memory, for the console (`GET /v1/alerts`). Friction alerts, frequent
//! and benign-leaning, are kept apart with their own capacity: a burst of them never pushes a
//! suspension out of the console.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::Alert;

/// The last alerts, in memory, newest last.
#[derive(Debug)]
pub struct AlertFeed {
    capacity: usize,
    lanes: Mutex<Lanes>,
}

#[derive(Debug, Default)]
struct Lanes {
    /// Order of arrival across both lanes.
    next: u64,
    /// Alerts that leave the process (suspensions, throttles, step-ups, shadow decisions).
    notable: VecDeque<(u64, Alert)>,
    /// Friction alone: only here.
    friction: VecDeque<(u64, Alert)>,
}

impl AlertFeed {
    /// Keeps the newest `capacity` notable alerts, and as many friction alerts besides.
    pub fn new(capacity: usize) -> Self {
        AlertFeed { capacity: capacity.max(1), lanes: Mutex::new(Lanes::default()) }
    }

    pub(crate) fn push(&self, a: Alert) {
        if let Ok(mut lanes) = self.lanes.lock() {
            let seq = lanes.next;
            lanes.next += 1;
            let lane = if a.leaves_the_process() { &mut lanes.notable } else { &mut lanes.friction };
            if lane.len() == self.capacity {
                lane.pop_front();
            }
            lane.push_back((seq, a));
        }
    }

    /// The newest `limit` alerts that `keep` accepts, newest first.
    pub fn recent(&self, limit: usize, keep: impl Fn(&Alert) -> bool) -> Vec<Alert> {
        let Ok(lanes) = self.lanes.lock() else { return Vec::new() };
        let mut notable = lanes.notable.iter().rev().filter(|(_, a)| keep(a)).peekable();
        let mut friction = lanes.friction.iter().rev().filter(|(_, a)| keep(a)).peekable();
        let mut out = Vec::new();
        while out.len() < limit {
            let newer = match (notable.peek(), friction.peek()) {
                (Some((n, _)), Some((f, _))) if f > n => friction.next(),
                (Some(_), _) => notable.next(),
                (None, _) => friction.next(),
            };
            match newer {
                Some((_, a)) => out.push(a.clone()),
                None => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use vigie_core::event::{Verdict, VerdictAction};
    use vigie_core::ids::{AgentId, OrgId};
    use vigie_core::ports::{LifecycleAction, LifecycleKind};
    use vigie_core::time::Timestamp;

    use super::*;

    fn alert(agent: u64, action: VerdictAction) -> Alert {
        let a = LifecycleAction {
            at: Timestamp(1_780_000_000_000),
            actor: AgentId::new(agent).unwrap(),
            org: OrgId::new(1).unwrap(),
            kind: LifecycleKind::Request,
        };
        Alert::from_lifecycle(&a, &Verdict { action, reasons: Vec::new() })
    }

    #[test]
    fn friction_never_pushes_a_suspension_out() {
        let feed = AlertFeed::new(2);
        feed.push(alert(1, VerdictAction::SuspendAccount));
        for agent in 2..=10 {
            feed.push(alert(agent, VerdictAction::Friction));
        }
        feed.push(alert(11, VerdictAction::Throttle));
        let agents = |v: Vec<Alert>| v.into_iter().map(|a| a.agent).collect::<Vec<_>>();
        assert_eq!(agents(feed.recent(10, |_| true)), ["A11", "A10", "A9", "A1"], "newest first, across lanes");
        assert_eq!(agents(feed.recent(2, |_| true)), ["A11", "A10"]);
        assert_eq!(agents(feed.recent(10, |a| a.verdict != "friction")), ["A11", "A1"]);
        feed.push(alert(12, VerdictAction::StepUp));
        assert_eq!(
            agents(feed.recent(10, |_| true)),
            ["A12", "A11", "A10", "A9"],
            "a notable one evicts the oldest notable"
        );
        assert!(AlertFeed::new(5).recent(10, |_| true).is_empty());
    }
}
