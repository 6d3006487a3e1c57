//! Relationships are events. Creating a follow-up, an enrolment, an assignment or a caseload
//! entry is what turns "outside my scope" into "in my scope", so the detector judges creations
//! like reads: quotas per account (hour and day; over the hour's, none more that day) and per
//! organization (a share of its accounts' quotas summed), the account's usual day of creations,
//! and **self-justified access**: a relationship created for a person the account had just
//! found by an exact lookup, or read by the same account right after its creation, far beyond
//! the account's habit (a front desk records every inbound contact and reads it; a fabricator
//! does the same tens of times a minute). A created relationship counts its person in the
//! account's distinct-person windows at the moment of its creation, so that relationships
//! created in bulk and read slowly still fill the hour they were created in.

use super::account::{Account, RECENT_CREATED_MS, insist};
use super::config::{Layer, Statistics};
use super::org::{GroupState, OrgState};
use super::window::DAY_MS;
use super::{ExfiltrationDetector, Signals, State, count_release, pace};
use crate::event::{Verdict, VerdictAction};
use crate::ids::PersonId;
use crate::ports::{DetectContext, RelationshipEvent};

/// A step-up when self-justified creations today are far beyond the account's habit.
/// Only against a history of its own (ten active days): an account's first days of
/// creations are its habit in the making, and its quotas bound them meanwhile.
/// `adjusted` turns a count into what the statistics see (beyond a declared campaign's volume,
/// divided by the surge level of the account's team or organization).
pub(super) fn justified_signal(a: &Account, s: &Statistics, adjusted: impl FnOnce(u32) -> f64) -> Option<String> {
    let today = a.day.justified;
    if today < s.min_volume {
        return None;
    }
    let usual = a.cold.justified_history.robust().map(|b| b.median.max(b.mean).max(1.0))?;
    (f64::from(today) >= s.justified_factor * usual && adjusted(today) >= s.justified_factor * usual)
        .then(|| format!("self_justified_today={today} usual={usual:.0} factor={}", s.justified_factor))
}

/// A read of `person` released to the account: whether the account created its relationship
/// within [`RECENT_CREATED_MS`]; the first such read counts as self-justified (unless the
/// creation already counted, having followed a lookup).
pub(super) fn read_created(a: &mut Account, person: PersonId, now: i64) -> bool {
    let c = &mut *a.cold;
    let Some(i) = c.recent_created.iter().position(|&(p, at)| p == person.get() && now - at < RECENT_CREATED_MS) else {
        return false;
    };
    let bit = 1u8 << i;
    if c.recent_read & bit == 0 {
        c.recent_read |= bit;
        if c.recent_via_lookup & bit == 0 {
            a.day.justified += 1;
        }
    }
    true
}

impl ExfiltrationDetector {
    pub(super) fn judge_relationship(&self, st: &mut State, ev: &RelationshipEvent, ctx: &DetectContext) -> Verdict {
        let now = ev.at.millis();
        let s = &self.config.stats;
        let on = self.config.layers;
        let agent = ev.actor.agent;
        let peer = (ev.actor.org_kind, ev.actor.role);
        let mut t = self.thresholds(ev.actor.org_kind, ev.actor.role);
        if ctx.probation {
            let scale = |q: u32| (u64::from(q) * u64::from(t.probation_percent) / 100).max(1) as u32;
            t.relationships_hour = scale(t.relationships_hour);
            t.relationships_day = scale(t.relationships_day);
        }
        let key = self.config.hll_key;
        let surges_on = on.contains(Layer::Surges);
        let declared = if surges_on && !st.campaigns.is_empty() {
            super::surge::declared(&st.campaigns, ev.actor.org, ctx.team, now)
        } else {
            0
        };
        let State { accounts, places, orgs, groups, peers, levels, org_created, surges, .. } = st;
        let a = accounts.entry(agent).or_default();
        a.peer = Some(peer);
        let level = levels.entry(peer).or_default();
        if let Some(done) = a.roll(now, (s.cusum_k, s.cusum_h), |d, r| level.level(d, r)) {
            peers.entry(done.peer).or_default().add(done.distinct);
        }
        if a.suspended {
            return Verdict { action: VerdictAction::SuspendAccount, reasons: vec!["account_suspended=1".into()] };
        }
        let day_index = now.div_euclid(DAY_MS);
        let org = orgs.entry(ev.actor.org).or_insert_with(|| OrgState::new(key));
        let oc = org_created.entry(ev.actor.org).or_insert((day_index, 0));
        if oc.0 != day_index {
            *oc = (day_index, 0);
        }
        let via_lookup = a.day.outside_lookups > 0 && a.cold.outside.iter().any(|&(x, _)| x == ev.person.get());
        let mut out = Signals { list: Vec::new() };
        let hour = a.cold.created.total(now) + 1;
        let day = a.day.created + 1;
        if on.contains(Layer::Creations) {
            if a.cold.creations_stopped == day_index {
                out.push(
                    VerdictAction::Throttle,
                    format!("relationships_stopped_today=1 quota_hour={}", t.relationships_hour),
                );
            } else if hour > t.relationships_hour {
                a.cold.creations_stopped = day_index;
                out.push(
                    VerdictAction::Throttle,
                    format!("relationships_hour={hour} quota={} stopped_for_the_day=1", t.relationships_hour),
                );
            } else if day > t.relationships_day {
                out.push(VerdictAction::Throttle, format!("relationships_day={day} quota={}", t.relationships_day));
            }
            // The organization's accounts together (a share of their quotas summed).
            let members = org.accounts.len().max(1) as u64;
            let org_quota = (members * u64::from(t.relationships_day) * u64::from(s.org_relationships_percent) / 100)
                .max(u64::from(t.relationships_day));
            if u64::from(oc.1) + 1 > org_quota {
                out.push(VerdictAction::Throttle, format!("org_relationships_day={} org_quota={org_quota}", oc.1 + 1));
            }
            // Against the account's own history only (its quotas bound its first days), beyond
            // a declared campaign, relieved by its group's level today (a surge of calls).
            if let Some(usual) = a.cold.created_history.robust().map(|b| b.median.max(b.mean).max(1.0))
                && day >= s.min_volume
                && f64::from(day) >= s.justified_factor * usual
                && {
                    let relief = if surges_on {
                        let keys = super::surge::keys(ev.actor.org, ctx.team);
                        super::surge::relief(surges, keys, day_index, s.surge_min_accounts, s.surge_cap)
                    } else {
                        1.0
                    };
                    f64::from(day.saturating_sub(declared)) / relief >= s.justified_factor * usual
                }
            {
                out.push(
                    VerdictAction::StepUp,
                    format!("relationships_today={day} usual={usual:.0} factor={}", s.justified_factor),
                );
            }
            if via_lookup {
                out.push(VerdictAction::Allow, "relationship_after_lookup=1".into());
            }
        }
        if on.contains(Layer::Insist) && a.insist == insist::PACE {
            let usual = a.cold.created_history.robust().map_or(0.0, |b| b.median);
            let allowed = (s.pace_factor * usual).ceil().max(5.0) as u32;
            if day > allowed {
                let (h, d) = pace(a, s);
                out.push(
                    VerdictAction::Throttle,
                    format!(
                        "pace_throttle relationships={day}/{allowed} hour={h} day={d} lift=manager_or_security_officer"
                    ),
                );
            }
        }
        if ctx.sign_in.service.is_some() {
            for (action, reason) in &mut out.list {
                if matches!(action, VerdictAction::StepUp | VerdictAction::Friction) {
                    *action = VerdictAction::Allow;
                    reason.insert_str(0, "service_no_step_up:");
                }
            }
        }
        let action = out.decide(ctx.elevated, ctx.reason.is_some());
        let effective = action.effective(ctx.elevated, ctx.reason.is_some());
        if action.rank() >= VerdictAction::StepUp.rank() {
            a.day.flagged = true;
        }
        if effective == VerdictAction::Allow {
            a.cold.created.add(now, 1);
            a.day.created += 1;
            oc.1 += 1;
            a.cold.note_created(ev.person.get(), now, via_lookup);
            a.derived.last_created = now;
            if via_lookup {
                a.day.justified += 1;
            }
            // Counted at its creation: its person enters the windows now.
            let last = places.get(agent.get(), ev.person.get());
            a.persons.touch(places, agent, ev.person, ev.at);
            count_release(a, now, last);
            org.insert(ev.person.get(), ev.at);
            groups.entry(peer).or_insert_with(|| GroupState::new(key)).insert(ev.person.get(), ev.at);
        }
        let reasons = out.list.into_iter().map(|(_, r)| r).collect();
        Verdict { action, reasons }
    }
}
