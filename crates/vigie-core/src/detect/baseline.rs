//! Baselines: what is usual for one account (its own past days and hours) and for its peers
//! (accounts of the same organization kind and role). Robust statistics only: a median and a
//! median absolute deviation over the last 28 active days, exponentially weighted means for
//! hours and ratios, a one-sided CUSUM for slow ramps, and a log-scale histogram for peer
//! percentiles. Each is a few dozen bytes, updated once per completed day or hour, never on
//! the hot path's common case.

/// Active days a self baseline needs before it judges (fewer: it stays silent).
pub const MIN_HISTORY_DAYS: usize = 10;
/// Active days remembered.
pub const HISTORY_DAYS: usize = 28;

/// The last [`HISTORY_DAYS`] active days' values of one daily feature (distinct persons, new
/// persons), oldest overwritten first. The median and spread are computed when a day is added
/// (once a day), not when they are read (on every event).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DailyHistory {
    values: [u16; HISTORY_DAYS],
    len: u8,
    next: u8,
    robust: Option<Robust>,
}

/// A robust centre and spread: the median and the scaled median absolute deviation
/// (1.4826 × MAD estimates the standard deviation of a normal distribution).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Robust {
    pub median: f64,
    pub sigma: f64,
    /// The mean of the same days: daily counts are skewed (a few busy days), so a CUSUM
    /// referenced on the median alone drifts upward on an ordinary month.
    pub mean: f64,
}

impl DailyHistory {
    pub fn push(&mut self, value: u32) {
        self.values[usize::from(self.next)] = value.min(u32::from(u16::MAX)) as u16;
        self.next = ((usize::from(self.next) + 1) % HISTORY_DAYS) as u8;
        self.len = (usize::from(self.len) + 1).min(HISTORY_DAYS) as u8;
        self.robust = self.compute();
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Median and spread, once there are [`MIN_HISTORY_DAYS`] days. The spread has floors: one
    /// person, a tenth of the median, and the counting noise of the median (√median, a
    /// Poisson count's spread): with a few persons a day the MAD of small integers is 1 or 2
    /// and would make an ordinary Monday look like three standard deviations (the simulator
    /// showed it: CUSUM step-ups on most advisors' days).
    pub fn robust(&self) -> Option<Robust> {
        self.robust
    }

    fn compute(&self) -> Option<Robust> {
        let n = self.len();
        if n < MIN_HISTORY_DAYS {
            return None;
        }
        let mut v: Vec<f64> = self.values[..n].iter().map(|&x| f64::from(x)).collect();
        let median = median_of(&mut v);
        let mut dev: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
        let mad = median_of(&mut dev);
        let mean = v.iter().sum::<f64>() / n as f64;
        Some(Robust { median, sigma: (1.4826 * mad).max(1.0).max(median / 10.0).max(median.sqrt()), mean })
    }

    pub fn raw(&self) -> ([u16; HISTORY_DAYS], u8, u8) {
        (self.values, self.len, self.next)
    }

    pub fn from_raw(values: [u16; HISTORY_DAYS], len: u8, next: u8) -> Option<Self> {
        if usize::from(len) > HISTORY_DAYS || usize::from(next) >= HISTORY_DAYS {
            return None;
        }
        let mut h = DailyHistory { values, len, next, robust: None };
        h.robust = h.compute();
        Some(h)
    }
}

fn median_of(v: &mut [f64]) -> f64 {
    v.sort_unstable_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// A one-sided (upward) CUSUM on a daily feature, in units of the baseline's spread:
/// `S ← max(0, S + (x − median)/σ − k)`, alarm when `S > h`. It accumulates small daily
/// excesses that no single day's z-score shows: the low-and-slow extraction.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cusum {
    pub s: f32,
}

impl Cusum {
    /// Adds a completed day; returns whether the alarm is raised.
    pub fn add(&mut self, x: f64, base: Robust, k: f64, h: f64) -> bool {
        // Referenced on the larger of median and mean, with at least a count's noise.
        let reference = base.median.max(base.mean);
        let z = (x - reference) / base.sigma.max(reference.sqrt());
        self.s = (f64::from(self.s) + z - k).max(0.0) as f32;
        f64::from(self.s) > h
    }
}

/// An exponentially weighted mean and variance (West's update), for features seen often
/// (distinct persons per active hour, daily ratios).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Ewma {
    pub mean: f32,
    pub var: f32,
    pub n: u16,
}

impl Ewma {
    pub fn add(&mut self, x: f64, alpha: f64) {
        if self.n == 0 {
            self.mean = x as f32;
            self.var = 0.0;
        } else {
            let mean = f64::from(self.mean);
            let diff = x - mean;
            let incr = alpha * diff;
            self.mean = (mean + incr) as f32;
            self.var = ((1.0 - alpha) * (f64::from(self.var) + diff * incr)) as f32;
        }
        self.n = self.n.saturating_add(1);
    }

    pub fn sd(&self) -> f64 {
        f64::from(self.var).max(0.0).sqrt()
    }
}

/// Which hours of the day an account works: per hour (0–23, UTC), how many active days had
/// activity in it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HourProfile {
    pub days_in_hour: [u16; 24],
    pub active_days: u16,
}

impl HourProfile {
    /// Folds a completed day given as a 24-bit mask of its active hours.
    pub fn add_day(&mut self, hours: u32) {
        for (h, c) in self.days_in_hour.iter_mut().enumerate() {
            if hours & (1 << h) != 0 {
                *c = c.saturating_add(1);
            }
        }
        self.active_days = self.active_days.saturating_add(1);
    }

    /// An hour in which this account was never active over at least
    /// [`MIN_HISTORY_DAYS`] active days.
    pub fn unusual(&self, hour: usize) -> bool {
        usize::from(self.active_days) >= MIN_HISTORY_DAYS && self.days_in_hour.get(hour).is_some_and(|&c| c == 0)
    }
}

/// Completed account-days of a peer group (organization kind × role): a histogram of daily
/// distinct persons on a log scale (four buckets per doubling: ±9 % resolution), for
/// percentiles without keeping every value.
#[derive(Clone, Debug)]
pub struct PeerHistogram {
    pub counts: Vec<u32>,
    pub total: u64,
    /// The last quantile asked, by (total, q, min_total): it changes only when a day is added.
    memo: Option<(u64, u64, u64, Option<u64>)>,
}

const PEER_BUCKETS: usize = 4 * 24 + 2;

impl Default for PeerHistogram {
    fn default() -> Self {
        PeerHistogram::from_counts(vec![0; PEER_BUCKETS], 0)
    }
}

/// Equal when the counts are: the memo is not part of the value.
impl PartialEq for PeerHistogram {
    fn eq(&self, other: &Self) -> bool {
        self.counts == other.counts && self.total == other.total
    }
}

impl Eq for PeerHistogram {}

impl PeerHistogram {
    pub fn from_counts(counts: Vec<u32>, total: u64) -> Self {
        PeerHistogram { counts, total, memo: None }
    }

    /// [`PeerHistogram::quantile`], remembered until the histogram changes (every event of
    /// the group asks the same one).
    pub fn quantile_memo(&mut self, q: f64, min_total: u64) -> Option<f64> {
        let key = (self.total, q.to_bits(), min_total);
        if let Some((t, qb, m, v)) = self.memo
            && (t, qb, m) == key
        {
            return v.map(f64::from_bits);
        }
        let v = self.quantile(q, min_total);
        self.memo = Some((key.0, key.1, key.2, v.map(f64::to_bits)));
        v
    }

    fn bucket(x: u32) -> usize {
        if x == 0 {
            return 0;
        }
        ((4.0 * f64::from(x).log2()).floor() as usize + 1).min(PEER_BUCKETS - 1)
    }

    /// The largest value a bucket holds.
    fn upper(b: usize) -> f64 {
        if b == 0 { 0.0 } else { 2f64.powf(b as f64 / 4.0) }
    }

    pub fn add(&mut self, x: u32) {
        let b = Self::bucket(x);
        if let Some(c) = self.counts.get_mut(b) {
            *c = c.saturating_add(1);
            self.total += 1;
        }
    }

    /// The `q` quantile (0–1), by the bucket's upper bound (so, rounded up), once there are
    /// `min_total` values.
    pub fn quantile(&self, q: f64, min_total: u64) -> Option<f64> {
        if self.total < min_total.max(1) {
            return None;
        }
        let rank = (q * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return Some(Self::upper(b));
            }
        }
        Some(Self::upper(PEER_BUCKETS - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_mad_ignore_an_outlier_and_wait_for_history() {
        let mut h = DailyHistory::default();
        for v in [40, 42, 38, 41, 39, 40, 43, 37, 40] {
            h.push(v);
        }
        assert_eq!(h.robust(), None, "nine days are not a baseline");
        h.push(900); // one extraordinary day
        let r = h.robust().unwrap();
        assert_eq!(r.median, 40.0);
        // The MAD says ~3; a count of 40 has a noise of √40 ≈ 6.3, the floor.
        assert!((r.sigma - 40f64.sqrt()).abs() < 0.01, "{r:?}");
        // The ring keeps 28 days.
        for _ in 0..40 {
            h.push(10);
        }
        assert_eq!(h.len(), HISTORY_DAYS);
        assert_eq!(h.robust().unwrap().median, 10.0);
    }

    #[test]
    fn cusum_catches_a_slow_ramp_that_no_single_day_shows() {
        let base = Robust { median: 40.0, sigma: 4.0, mean: 40.0 };
        let mut c = Cusum::default();
        // +2σ a day (σ at least a count's noise, √40): never beyond a z of 3, alarm after a
        // few days.
        let days = (1..=10).position(|_| c.add(53.0, base, 0.5, 5.0)).map(|d| d + 1);
        assert_eq!(days, Some(4));
        // Usual days bring it back down.
        let mut c = Cusum::default();
        for _ in 0..100 {
            assert!(!c.add(40.0, base, 0.5, 5.0));
        }
        assert_eq!(c.s, 0.0);
    }

    #[test]
    fn ewma_follows_the_mean() {
        let mut e = Ewma::default();
        for i in 0..200 {
            e.add(if i % 2 == 0 { 10.0 } else { 20.0 }, 0.05);
        }
        assert!((e.mean - 15.0).abs() < 1.0, "{e:?}");
        assert!((e.sd() - 5.0).abs() < 1.0, "{e:?}");
    }

    #[test]
    fn hour_profile_flags_only_never_seen_hours_after_enough_days() {
        let mut p = HourProfile::default();
        let office = (8..18).fold(0u32, |m, h| m | (1 << h));
        for _ in 0..9 {
            p.add_day(office);
        }
        assert!(!p.unusual(3), "nine days: silent");
        p.add_day(office);
        assert!(p.unusual(3));
        assert!(!p.unusual(9));
    }

    #[test]
    fn peer_quantiles_are_within_a_bucket() {
        let mut h = PeerHistogram::default();
        for i in 0..10_000u32 {
            h.add(i % 100); // uniform 0..99
        }
        assert_eq!(h.quantile(0.5, 20_000), None, "not enough days");
        let p50 = h.quantile(0.5, 100).unwrap();
        assert!((49.0..=60.0).contains(&p50), "{p50}");
        let p999 = h.quantile(0.999, 100).unwrap();
        assert!((99.0..=120.0).contains(&p999), "{p999}");
    }
}
