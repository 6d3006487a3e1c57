//! The last alerts, in memory, for the console (`GET /v1/alerts`, the console's queue). Friction
//! alerts, frequent and benign-leaning, are kept apart with their own capacity: a burst of them
//! never pushes a suspension out of the console.
//!
//! Each alert has a number, in order of arrival, that the console names it by; an alert is
//! open until an officer's response to it ([`Handling`]) is noted here (the response itself is
//! in the ledger, with its author, before it takes effect). A feed opened with a
//! [`Numbering`] keeps its numbers and its responses across restarts (see [`crate::numbering`]);
//! one without (tests, the simulator) numbers from 1 in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::Alert;
use crate::numbering::{Numbering, Restored};

/// An officer's response to an alert, as the queue shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handling {
    /// What was done: `suspend`, `reinstate`, `end_sessions`, `step_up`, `incident`, …
    pub response: String,
    /// The officer (agent id, as text).
    pub by: String,
    pub at_ms: i64,
}

/// Which alerts a queue shows.
#[derive(Clone, Debug, Default)]
pub struct QueueFilter {
    /// Open ones only (no response noted).
    pub open_only: bool,
    /// Only this verdict (`throttle`, `suspend_account`, …).
    pub verdict: Option<String>,
    /// Only this account (`A12`).
    pub agent: Option<String>,
    /// Only this organization (`O3`).
    pub organization: Option<String>,
    /// Only alerts numbered below this (the next page).
    pub before: Option<u64>,
    /// Only alerts numbered above this (what is new since the page was drawn).
    pub after: Option<u64>,
}

/// One alert of a queue, with its number and its handling.
#[derive(Clone, Debug)]
pub struct Queued {
    pub id: u64,
    pub alert: Alert,
    pub handling: Option<Handling>,
}

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
    /// Responses noted, by alert number (pruned with the alerts).
    handled: HashMap<u64, Handling>,
    /// Where the numbers are reserved and the responses journaled, if they outlive the process.
    numbering: Option<Numbering>,
}

impl AlertFeed {
    /// Keeps the newest `capacity` notable alerts, and as many friction alerts besides.
    pub fn new(capacity: usize) -> Self {
        AlertFeed { capacity: capacity.max(1), lanes: Mutex::new(Lanes::default()) }
    }

    /// A feed whose numbers go on from `restored` and are reserved in `numbering`, holding the
    /// restored alerts and their responses.
    pub fn durable(capacity: usize, numbering: Numbering, restored: Restored) -> Self {
        let feed = AlertFeed::new(capacity);
        if let Ok(mut lanes) = feed.lanes.lock() {
            lanes.next = restored.last;
            let capacity = feed.capacity;
            for a in restored.alerts {
                let lane = if a.leaves_the_process() { &mut lanes.notable } else { &mut lanes.friction };
                if lane.len() == capacity {
                    lane.pop_front();
                }
                lane.push_back((a.id, a));
            }
            lanes.handled = restored.handled.into_iter().collect();
            lanes.numbering = Some(numbering);
        }
        feed
    }

    /// Adds an alert (the alerter does, for every alert raised), numbering it; returns its
    /// number.
    pub fn push(&self, mut a: Alert) -> u64 {
        let Ok(mut lanes) = self.lanes.lock() else { return 0 };
        lanes.next += 1;
        let seq = lanes.next;
        a.id = seq;
        if let Some(numbering) = &mut lanes.numbering
            && let Err(e) = numbering.give(seq)
        {
            tracing::error!(error = %e, alert = seq, "alert numbering: cannot reserve numbers (a crash could give them again)");
        }
        let capacity = self.capacity;
        let Lanes { notable, friction, handled, .. } = &mut *lanes;
        let lane = if a.leaves_the_process() { notable } else { friction };
        if lane.len() == capacity
            && let Some((old, _)) = lane.pop_front()
        {
            handled.remove(&old);
        }
        lane.push_back((seq, a));
        seq
    }

    /// The alerts `filter` keeps, newest first, at most `limit`; and whether more follow.
    pub fn queue(&self, filter: &QueueFilter, limit: usize) -> (Vec<Queued>, bool) {
        let Ok(lanes) = self.lanes.lock() else { return (Vec::new(), false) };
        let keep = |(id, a): &&(u64, Alert)| {
            filter.before.is_none_or(|b| *id < b)
                && filter.after.is_none_or(|b| *id > b)
                && filter.verdict.as_deref().is_none_or(|v| a.verdict == v)
                && filter.agent.as_deref().is_none_or(|v| a.agent == v)
                && filter.organization.as_deref().is_none_or(|v| a.organization == v)
                && (!filter.open_only || !lanes.handled.contains_key(id))
        };
        let mut notable = lanes.notable.iter().rev().filter(keep).peekable();
        let mut friction = lanes.friction.iter().rev().filter(keep).peekable();
        let mut out = Vec::with_capacity(limit.min(1000));
        loop {
            let newer = match (notable.peek(), friction.peek()) {
                (Some((n, _)), Some((f, _))) if f > n => friction.next(),
                (Some(_), _) => notable.next(),
                (None, _) => friction.next(),
            };
            let Some((id, a)) = newer else { return (out, false) };
            if out.len() == limit {
                return (out, true);
            }
            out.push(Queued { id: *id, alert: a.clone(), handling: lanes.handled.get(id).cloned() });
        }
    }

    /// Alert number `id`, if still held.
    pub fn get(&self, id: u64) -> Option<Queued> {
        let lanes = self.lanes.lock().ok()?;
        let find = |lane: &VecDeque<(u64, Alert)>| {
            lane.binary_search_by_key(&id, |(s, _)| *s).ok().and_then(|i| lane.get(i)).map(|(_, a)| a.clone())
        };
        let alert = find(&lanes.notable).or_else(|| find(&lanes.friction))?;
        Some(Queued { id, alert, handling: lanes.handled.get(&id).cloned() })
    }

    /// Notes a response on alert `id` and on every other open alert of the same account (the
    /// response is to the account). Returns how many were noted.
    pub fn handle(&self, id: u64, handling: Handling) -> usize {
        let Some(agent) = self.get(id).map(|q| q.alert.agent) else { return 0 };
        let Ok(mut lanes) = self.lanes.lock() else { return 0 };
        let Lanes { notable, friction, handled, .. } = &mut *lanes;
        let ids: Vec<u64> = notable
            .iter()
            .chain(friction.iter())
            .filter(|(s, a)| *s == id || (!agent.is_empty() && a.agent == agent && !handled.contains_key(s)))
            .map(|(s, _)| *s)
            .collect();
        for s in &ids {
            handled.insert(*s, handling.clone());
        }
        if let Some(numbering) = &lanes.numbering
            && let Err(e) = numbering.note(&ids, &handling)
        {
            tracing::error!(error = %e, alert = id, "alert response not journaled: the queue will show it open after a restart");
        }
        ids.len()
    }

    /// Alerts held with no response noted, and the newest alert's number.
    pub fn open_count(&self) -> (usize, u64) {
        let Ok(lanes) = self.lanes.lock() else { return (0, 0) };
        let open =
            lanes.notable.iter().chain(lanes.friction.iter()).filter(|(s, _)| !lanes.handled.contains_key(s)).count();
        (open, lanes.next)
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

    #[test]
    fn the_queue_pages_newest_first_and_a_response_closes_the_accounts_open_alerts() {
        let feed = AlertFeed::new(100);
        let ids: Vec<u64> = (1..=5).map(|n| feed.push(alert(n % 2 + 1, VerdictAction::Throttle))).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
        let (page, more) = feed.queue(&QueueFilter::default(), 2);
        assert_eq!((page.iter().map(|q| q.id).collect::<Vec<_>>(), more), (vec![5, 4], true));
        let (page, more) = feed.queue(&QueueFilter { before: Some(4), ..Default::default() }, 2);
        assert_eq!((page.iter().map(|q| q.id).collect::<Vec<_>>(), more), (vec![3, 2], true));
        let (page, more) = feed.queue(&QueueFilter { before: Some(2), ..Default::default() }, 2);
        assert_eq!((page.len(), more), (1, false));
        let h = Handling { response: "suspend".into(), by: "A9".into(), at_ms: 1 };
        // Alerts 1, 3, 5 are A2's.
        assert_eq!(feed.handle(3, h.clone()), 3);
        let open = QueueFilter { open_only: true, ..Default::default() };
        assert_eq!(feed.queue(&open, 10).0.iter().map(|q| q.id).collect::<Vec<_>>(), [4, 2]);
        assert_eq!(feed.get(5).and_then(|q| q.handling), Some(h));
        assert_eq!(feed.open_count(), (2, 5));
        let only = QueueFilter { agent: Some("A1".into()), after: Some(2), ..Default::default() };
        assert_eq!(feed.queue(&only, 10).0.iter().map(|q| q.id).collect::<Vec<_>>(), [4]);
        assert!(feed.get(99).is_none());
        assert_eq!(feed.handle(99, Handling { response: "x".into(), by: "A9".into(), at_ms: 1 }), 0);
    }
}
