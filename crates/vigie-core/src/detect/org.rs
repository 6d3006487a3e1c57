//! Counts across accounts: distinct persons read by all accounts of one organization, and by
//! all accounts of one peer group (organization kind × role), over sliding windows.
//!
//! **Approximate**: HyperLogLog ([`super::hll`]), p = 11 for an organization (standard error
//! ≈ 2.3 %) and p = 12 for a peer group (≈ 1.6 %). An estimate costs a pass over the registers,
//! so it is not made per event: the last estimate plus the inserts since is an upper bound of
//! the count (a window only loses persons as time passes), and only when that bound nears the
//! quota is the estimate made again, at most once a second (and at least once an hour, as
//! accounts come and go). Between two estimates an organization may overshoot its quota by
//! what its accounts read in that second, which each account's exact quotas still bound.

use super::hll::SlidingHll;
use super::window::{DAY_MS, HOUR_MS, WEEK_MS};
use crate::ids::AgentId;
use crate::time::Timestamp;

const REFRESH_MS: i64 = 1_000;
/// Inserts are applied to a sketch in batches of this many: one insert alone waits for its
/// register to come from memory (an organization's sketch is 32 KiB, a thousand of them do not
/// stay in cache), a batch lets those loads overlap. Applied before any estimate and snapshot.
const BATCH: usize = 16;

/// How often a sketch's expired pairs are dropped: only to give memory back (estimates skip
/// what lies outside their window anyway, and inserts trim the register they touch).
const EXPIRE_MS: i64 = 10 * 60_000;
pub const ORG_PRECISION: u8 = 11;
pub const GROUP_PRECISION: u8 = 12;
/// Pairs in place per register of a peer group's sketch: a group's registers see hundreds of
/// persons a day (lists of six or seven pairs), an organization's a handful (the default four).
pub const GROUP_SLOTS: usize = 8;

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
    pub accounts: super::FastMap<AgentId, (i64, [u32; 3])>,
    pub estimate: Estimate,
    pub quota: [u64; 3],
    pub refreshed: i64,
    /// Persons inserted since the last estimate.
    pub inserts: u64,
    /// When the sketch last dropped its expired pairs (not kept in snapshots).
    pub hll_expired: i64,
    /// Hashed persons not yet applied to the sketch (see [`BATCH`]).
    pub pending: Pending,
}

impl OrgState {
    pub fn new(key: u64) -> Self {
        OrgState {
            hll: SlidingHll::new(ORG_PRECISION, WEEK_MS, key),
            accounts: super::FastMap::default(),
            estimate: Estimate::default(),
            quota: [u64::MAX; 3],
            refreshed: i64::MIN,
            inserts: 0,
            hll_expired: i64::MIN,
            pending: Pending::default(),
        }
    }

    pub fn insert(&mut self, person: u64, at: Timestamp) {
        self.insert_hashed(self.hll.hash(person), at);
    }

    /// [`OrgState::insert`] of a person hashed by a sketch with the same key.
    pub fn insert_hashed(&mut self, hash: u64, at: Timestamp) {
        self.pending.push(&mut self.hll, hash, at);
        self.inserts += 1;
    }

    /// Applies the pending inserts to the sketch.
    pub fn flush(&mut self) {
        self.pending.flush(&mut self.hll);
    }

    /// Asks for the lines an insert will write (the pending batch's next slot and its length),
    /// so that they come from memory while the account is judged.
    pub fn warm(&self) {
        let p = &self.pending;
        std::hint::black_box(p.items.get(p.len).map_or(0, |i| i.0) ^ self.inserts);
    }

    /// The windows (0 hour, 1 day, 2 week) whose estimate has reached the organization's quota,
    /// re-estimating only when the bound nears it.
    pub fn over_quota(&mut self, now: i64, percent: u32) -> [bool; 3] {
        let est = [self.estimate.hour, self.estimate.day, self.estimate.week];
        let near = (0..3).any(|w| (est[w] + self.inserts as f64) >= 0.9 * self.quota[w] as f64);
        if near || now.saturating_sub(self.refreshed) >= HOUR_MS {
            self.refresh(now, percent);
        }
        let est = [self.estimate.hour, self.estimate.day, self.estimate.week];
        [0, 1, 2].map(|w| est[w] >= self.quota[w] as f64)
    }

    /// Notes an account's activity (and its quotas, which probation or suspicion may lower).
    pub fn seen(&mut self, agent: AgentId, at: i64, quotas: [u32; 3]) {
        self.accounts.insert(agent, (at, quotas));
    }

    /// Re-estimates at most once a second: the counts, and the organization's quotas as
    /// `percent` of the sum of its active accounts' quotas, never below the largest of them.
    fn refresh(&mut self, now: i64, percent: u32) {
        if now.saturating_sub(self.refreshed) < REFRESH_MS {
            return;
        }
        self.refreshed = now;
        self.inserts = 0;
        self.flush();
        if now.saturating_sub(self.hll_expired) >= EXPIRE_MS {
            self.hll.expire(Timestamp(now));
            self.hll_expired = now;
        }
        let [hour, day, week] = self.hll.estimates(Timestamp(now), [HOUR_MS, DAY_MS, WEEK_MS]);
        self.estimate = Estimate { hour, day, week };
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
pub const GROUP_DAYS: usize = 7;

/// A peer group's shared count and its usual day.
#[derive(Clone, Debug)]
pub struct GroupState {
    pub hll: SlidingHll,
    pub day_estimate: f64,
    pub refreshed: i64,
    /// The calendar day (days since the epoch) being counted, and the last days' totals.
    pub day: i64,
    pub history: Vec<f32>,
    /// Persons inserted since the last estimate.
    pub inserts: u64,
    /// When the sketch last dropped its expired pairs (not kept in snapshots).
    pub hll_expired: i64,
    /// Hashed persons not yet applied to the sketch (see [`BATCH`]).
    pub pending: Pending,
}

impl GroupState {
    pub fn new(key: u64) -> Self {
        GroupState {
            hll: SlidingHll::with_slots(GROUP_PRECISION, DAY_MS, key, GROUP_SLOTS),
            day_estimate: 0.0,
            refreshed: i64::MIN,
            day: i64::MIN,
            history: Vec::with_capacity(GROUP_DAYS),
            inserts: 0,
            hll_expired: i64::MIN,
            pending: Pending::default(),
        }
    }

    pub fn insert(&mut self, person: u64, at: Timestamp) {
        self.insert_hashed(self.hll.hash(person), at);
    }

    /// [`GroupState::insert`] of a person hashed by a sketch with the same key.
    pub fn insert_hashed(&mut self, hash: u64, at: Timestamp) {
        self.pending.push(&mut self.hll, hash, at);
        self.inserts += 1;
    }

    /// Applies the pending inserts to the sketch.
    pub fn flush(&mut self) {
        self.pending.flush(&mut self.hll);
    }

    /// The group's day so far and its usual day, if the day exceeds `factor` × its usual day
    /// (with a floor of 100), re-estimating only when the bound nears that. A new calendar
    /// day first records the last one's total.
    pub fn unusual_day(&mut self, now: i64, factor: f64) -> Option<(f64, f64)> {
        let day = now.div_euclid(DAY_MS);
        if day != self.day {
            if self.day != i64::MIN {
                self.estimate(now);
                if self.day_estimate > 0.0 {
                    if self.history.len() == GROUP_DAYS {
                        self.history.remove(0);
                    }
                    self.history.push(self.day_estimate as f32);
                }
            }
            self.day = day;
        }
        let usual = self.usual()?;
        let limit = factor * usual.max(100.0);
        if self.day_estimate + self.inserts as f64 >= 0.9 * limit && now.saturating_sub(self.refreshed) >= REFRESH_MS {
            self.estimate(now);
        }
        (self.day_estimate > limit).then_some((self.day_estimate, usual))
    }

    fn estimate(&mut self, now: i64) {
        self.refreshed = now;
        self.inserts = 0;
        self.flush();
        if now.saturating_sub(self.hll_expired) >= EXPIRE_MS {
            self.hll.expire(Timestamp(now));
            self.hll_expired = now;
        }
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

/// Hashed persons waiting to be applied to a sketch (see [`BATCH`]), in place: no allocation
/// of its own to miss in cache.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pending {
    items: [(u64, i64); BATCH],
    len: usize,
}

impl Pending {
    fn push(&mut self, hll: &mut SlidingHll, hash: u64, at: Timestamp) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = (hash, at.millis());
            self.len += 1;
        }
        if self.len >= BATCH {
            self.flush(hll);
        }
    }

    fn flush(&mut self, hll: &mut SlidingHll) {
        hll.insert_hashed_batch(&self.items[..self.len]);
        self.len = 0;
    }
}
