//! Benign surges are not attacks: peer-group-aware relief of the statistical tests, and
//! campaigns declared by a manager.
//!
//! When a whole team, agency or region works harder together (the calls after a breach
//! notification, a convocation campaign, an intake), each member's day is far above its own
//! median, and a test against the member's own history alone would ask each of them for a
//! step-up. So each account is also placed, today, in a histogram of its groups (its team,
//! and its organization): the bucket of its ratio today/own median, in half-octaves. A group's
//! **level** is the median ratio of its members active today; a member's statistical tests
//! (its day and hour against its own baseline and its peers' percentile) are divided by that
//! level, at least 1, at most [`super::Statistics::surge_cap`], once the group has
//! [`super::Statistics::surge_min_accounts`] members with baselines. Everyone in an
//! organization follows the same day (they open and close together), so the comparison holds
//! at any hour: at ten in the morning the group's members are at a fraction of their usual day,
//! and so is an ordinary member. A median does not follow a few taken-over accounts: an
//! attacker moves its own ratio, not its colleagues'.
//!
//! A **declared campaign** ([`crate::campaign::CampaignDeclaration`]) adds its volume to what
//! each covered agent may read that day before any statistical test counts it, and widens its
//! hard quotas by as much (never more than doubles them), until its end.

use super::FastMap;
use crate::campaign::CampaignDeclaration;
use crate::ids::{OrgId, TeamId};

/// Half-octave buckets of a ratio from 1/4 to 4 and beyond: `[0, 1/4)`, `[1/4, 0.35)`, … `[4, ∞)`.
pub const BUCKETS: usize = 10;

/// One group's members today, by the bucket of their ratio.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SurgeGroup {
    /// Days since the epoch the counts are of.
    pub day: i64,
    pub counts: [u16; BUCKETS],
    pub members: u16,
    /// The last days' levels and members, for the CUSUM's seasonal adjustment of a completed
    /// day (an account completes a day at its next event: the next morning, or after a
    /// weekend or a leave).
    pub past: [(i64, f32, u16); PAST_DAYS],
}

/// Completed days a group remembers.
pub const PAST_DAYS: usize = 8;

impl SurgeGroup {
    fn roll(&mut self, day: i64) {
        if day != self.day {
            if self.members > 0 {
                let slot = self.day.rem_euclid(PAST_DAYS as i64) as usize;
                self.past[slot] = (self.day, self.level(1).unwrap_or(1.0) as f32, self.members);
            }
            self.day = day;
            self.counts = [0; BUCKETS];
            self.members = 0;
        }
    }

    /// The median ratio of the members, once there are `min` of them.
    pub fn level(&self, min: u16) -> Option<f64> {
        if self.members < min.max(1) {
            return None;
        }
        let half = u32::from(self.members).div_ceil(2);
        let mut seen = 0u32;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += u32::from(c);
            if seen >= half {
                return Some(ratio_of(b));
            }
        }
        None
    }
}

/// The bucket of a ratio (today over the account's own median).
pub fn bucket(ratio: f64) -> u8 {
    // NaN and anything below a quarter fall in the first bucket.
    if ratio.is_nan() || ratio < 0.25 {
        return 0;
    }
    ((2.0 * (ratio / 0.25).log2()).floor() as i64 + 1).clamp(1, BUCKETS as i64 - 1) as u8
}

/// The geometric middle of a bucket.
pub fn ratio_of(b: usize) -> f64 {
    if b == 0 { 0.125 } else { 0.25 * 2f64.powf((b as f64 - 1.0) / 2.0 + 0.25) }
}

/// The keys of an account's groups: its organization and, if it has one, its team.
pub fn keys(org: OrgId, team: Option<TeamId>) -> [Option<u64>; 2] {
    [Some(org.get() << 1), team.map(|t| (t.get() << 1) | 1)]
}

/// Places an account (whose current bucket and day are `at`) in the bucket of `ratio` today in
/// each of its groups; returns its new (bucket, day).
pub fn note(
    groups: &mut FastMap<u64, SurgeGroup>,
    keys: [Option<u64>; 2],
    at: (u8, i32),
    day: i64,
    ratio: f64,
) -> (u8, i32) {
    let b = bucket(ratio);
    let today = day as i32;
    if at == (b, today) {
        return at;
    }
    for key in keys.into_iter().flatten() {
        let g = groups.entry(key).or_default();
        g.roll(day);
        if at.1 == today && g.day == day && usize::from(at.0) < BUCKETS {
            g.counts[usize::from(at.0)] = g.counts[usize::from(at.0)].saturating_sub(1);
        } else {
            g.members = g.members.saturating_add(1);
        }
        g.counts[usize::from(b)] = g.counts[usize::from(b)].saturating_add(1);
    }
    (b, today)
}

/// The relief of an account's statistical tests today: the highest level of its groups that
/// have enough members, between 1 and `cap`.
pub fn relief(groups: &FastMap<u64, SurgeGroup>, keys: [Option<u64>; 2], day: i64, min: u32, cap: f64) -> f64 {
    let min = u16::try_from(min).unwrap_or(u16::MAX);
    keys.into_iter()
        .flatten()
        .filter_map(|k| groups.get(&k))
        .filter(|g| g.day == day)
        .filter_map(|g| g.level(min))
        .fold(1.0f64, f64::max)
        .clamp(1.0, cap)
}

/// The level of a completed day `day` for the CUSUM (1 when unknown or when the group had
/// fewer than `min` members: an account alone is its own level).
pub fn day_level(groups: &FastMap<u64, SurgeGroup>, keys: [Option<u64>; 2], day: i64, min: u32, cap: f64) -> f64 {
    let min = u16::try_from(min).unwrap_or(u16::MAX);
    keys.into_iter()
        .flatten()
        .filter_map(|k| groups.get(&k))
        .filter_map(|g| {
            if g.day == day {
                return g.level(min);
            }
            let (d, level, members) = g.past[day.rem_euclid(PAST_DAYS as i64) as usize];
            (d == day && members >= min).then_some(f64::from(level))
        })
        .fold(1.0f64, f64::max)
        .clamp(1.0, cap)
}

/// The persons a day a declared campaign adds for an agent of `org` (in `team`) at `now`: the
/// largest of the campaigns covering it, 0 without one.
pub fn declared(campaigns: &[CampaignDeclaration], org: OrgId, team: Option<TeamId>, now: i64) -> u32 {
    campaigns.iter().filter(|c| c.covers(org, team, now)).map(|c| c.persons_per_agent).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_half_octaves() {
        assert_eq!(bucket(0.0), 0);
        assert_eq!(bucket(0.2), 0);
        assert_eq!(bucket(0.25), 1);
        assert_eq!(bucket(1.0), 5);
        assert_eq!(bucket(1.5), 6);
        assert_eq!(bucket(2.0), 7);
        assert_eq!(bucket(100.0), 9);
        assert_eq!(bucket(f64::NAN), 0);
        for b in 1..BUCKETS - 1 {
            assert_eq!(usize::from(bucket(ratio_of(b))), b);
        }
    }

    #[test]
    fn a_group_level_is_its_median_and_a_few_outliers_do_not_move_it() {
        let mut g: FastMap<u64, SurgeGroup> = FastMap::default();
        let k = keys(OrgId::new(5).unwrap(), None);
        let mut at = Vec::new();
        for i in 0..20 {
            // Twenty colleagues at their usual day, two of them taken over at 20 times it.
            let r = if i < 2 { 20.0 } else { 1.0 };
            at.push(note(&mut g, k, (u8::MAX, i32::MIN), 100, r));
        }
        let level = relief(&g, k, 100, 5, 3.0);
        assert!((0.9..1.3).contains(&level), "{level}");
        // The whole organization doubles: the level follows.
        for (i, pos) in at.iter_mut().enumerate().skip(2) {
            *pos = note(&mut g, k, *pos, 100, 2.1 + i as f64 * 0.01);
        }
        let level = relief(&g, k, 100, 5, 3.0);
        assert!((1.8..2.6).contains(&level), "{level}");
        // Not enough members: no relief.
        assert_eq!(relief(&g, k, 100, 50, 3.0), 1.0);
        // Another day: nothing known yet.
        assert_eq!(relief(&g, k, 101, 5, 3.0), 1.0);
    }
}
