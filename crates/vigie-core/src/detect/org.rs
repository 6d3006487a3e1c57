//! Counts across accounts: distinct persons read by all accounts of one organization, and by
//! all accounts of one peer group (organization kind × role), over sliding windows.
//!
//! **Approximate**: HyperLogLog ([`super::hll`]), p = 11 for an organization (standard error
//! ≈ 2.3 %) and p = 12 for a peer group (≈ 1.6 %). The estimates are refreshed at most once a
//! second; between refreshes an organization may overshoot its quota by what its accounts
//! read in that second, which each account's exact quotas still bound.

use std::collections::HashMap;

use super::hll::SlidingHll;
use super::window::{DAY_MS, HOUR_MS, WEEK_MS};
use crate::ids::AgentId;
use crate::time::Timestamp;

const REFRESH_MS: i64 = 1_000;
pub const ORG_PRECISION: u8 = 11;
pub const GROUP_PRECISION: u8 = 12;

/// Estimated distinct persons in the last hour, day and week.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Estimate {
    pub hour: f64,
    pub day: f64,
    pub week: f64,
}

/// One organization's shared counts and the quotas of its accounts active this week.
#[derive(Clone, Debug)]
pub struct OrgState {
    pub hll: SlidingHll,
    /// Accounts seen in the week: last activity and their [hour, day, week] quotas.
    pub accounts: HashMap<AgentId, (i64, [u32; 3])>,
    pub estimate: Estimate,
    pub quota: [u64; 3],
    pub refreshed: i64,
}

impl OrgState {
    pub fn new(key: u64) -> Self {
        OrgState {
            hll: SlidingHll::new(ORG_PRECISION, WEEK_MS, key),
            accounts: HashMap::new(),
            estimate: Estimate::default(),
            quota: [u64::MAX; 3],
            refreshed: i64::MIN,
        }
    }

    /// Notes an account's activity (and its quotas, which probation or suspicion may lower).
    pub fn seen(&mut self, agent: AgentId, at: i64, quotas: [u32; 3]) {
        self.accounts.insert(agent, (at, quotas));
    }

    /// Re-estimates at most once a second: the counts, and the organization's quotas as
    /// `percent` of the sum of its active accounts' quotas, never below the largest of them.
    pub fn refresh(&mut self, now: i64, percent: u32) {
        if now.saturating_sub(self.refreshed) < REFRESH_MS {
            return;
        }
        self.refreshed = now;
        self.hll.expire(Timestamp(now));
        let at = Timestamp(now);
        self.estimate = Estimate {
            hour: self.hll.estimate(at, HOUR_MS),
            day: self.hll.estimate(at, DAY_MS),
            week: self.hll.estimate(at, WEEK_MS),
        };
        self.accounts.retain(|_, (seen, _)| now - *seen < WEEK_MS);
        let mut sum = [0u64; 3];
        let mut max = [0u64; 3];
        for (_, q) in self.accounts.values() {
            for w in 0..3 {
                sum[w] += u64::from(q[w]);
                max[w] = max[w].max(u64::from(q[w]));
            }
        }
        for w in 0..3 {
            self.quota[w] = (sum[w] * u64::from(percent) / 100).max(max[w]);
        }
    }

    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.hll.bytes()
            + self.accounts.capacity() * (std::mem::size_of::<(AgentId, (i64, [u32; 3]))>() + 1)
    }
}

/// Days of a peer group's totals remembered for its "usual day".
const GROUP_DAYS: usize = 7;

/// A peer group's shared count and its usual day.
#[derive(Clone, Debug)]
pub struct GroupState {
    pub hll: SlidingHll,
    pub day_estimate: f64,
    pub refreshed: i64,
    /// The calendar day (days since the epoch) being counted, and the last days' totals.
    pub day: i64,
    pub history: Vec<f32>,
}

impl GroupState {
    pub fn new(key: u64) -> Self {
        GroupState {
            hll: SlidingHll::new(GROUP_PRECISION, DAY_MS, key),
            day_estimate: 0.0,
            refreshed: i64::MIN,
            day: i64::MIN,
            history: Vec::with_capacity(GROUP_DAYS),
        }
    }

    pub fn refresh(&mut self, now: i64) {
        let day = now.div_euclid(DAY_MS);
        if day != self.day {
            if self.day != i64::MIN && self.day_estimate > 0.0 {
                if self.history.len() == GROUP_DAYS {
                    self.history.remove(0);
                }
                self.history.push(self.day_estimate as f32);
            }
            self.day = day;
            self.refreshed = i64::MIN;
        }
        if now.saturating_sub(self.refreshed) < REFRESH_MS {
            return;
        }
        self.refreshed = now;
        self.hll.expire(Timestamp(now));
        self.day_estimate = self.hll.estimate(Timestamp(now), DAY_MS);
    }

    /// The median of the last days' totals, once there are three.
    pub fn usual(&self) -> Option<f64> {
        if self.history.len() < 3 {
            return None;
        }
        let mut v: Vec<f32> = self.history.clone();
        v.sort_unstable_by(|a, b| a.total_cmp(b));
        Some(f64::from(v[v.len() / 2]))
    }

    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.hll.bytes() + self.history.capacity() * 4
    }
}
