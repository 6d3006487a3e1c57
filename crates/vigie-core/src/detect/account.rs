//! One account's detection state: its distinct-person windows, its enumeration and
//! throttle state, its session novelty, today's tallies and its own baselines. Bounded: apart
//! from the distinct-person sets, a few hundred bytes (see [`Account::bytes`]).

use std::collections::VecDeque;

use super::baseline::{Cusum, DailyHistory, Ewma, HourProfile, MIN_HISTORY_DAYS, Robust};
use super::window::{DAY_MS, DistinctWindows, HOUR_MS};
use crate::org::{OrgKind, Role};

/// Inter-request gaps remembered for the cadence signal.
pub const CADENCE: usize = 16;
/// Networks remembered per account (most recent first replaced last).
pub const NETWORKS: usize = 8;
/// Five-minute buckets of an hour.
const BUCKETS: usize = 12;
const BUCKET_MS: i64 = 5 * 60_000;

/// Counts over the last hour in five-minute buckets (scope lines, refused new persons).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HourBuckets {
    counts: [u32; BUCKETS],
    /// The bucket index (five-minute periods since the epoch) of the newest bucket.
    newest: i64,
}

impl HourBuckets {
    fn advance(&mut self, now: i64) {
        let b = now.div_euclid(BUCKET_MS);
        if b <= self.newest {
            return;
        }
        let steps = (b - self.newest).min(BUCKETS as i64);
        for i in 1..=steps {
            self.counts[((self.newest + i).rem_euclid(BUCKETS as i64)) as usize] = 0;
        }
        self.newest = b;
    }

    pub fn add(&mut self, now: i64, n: u32) {
        self.advance(now);
        let i = self.newest.rem_euclid(BUCKETS as i64) as usize;
        self.counts[i] = self.counts[i].saturating_add(n);
    }

    pub fn total(&mut self, now: i64) -> u32 {
        self.advance(now);
        self.counts.iter().fold(0u32, |s, &c| s.saturating_add(c))
    }

    pub fn raw(&self) -> ([u32; BUCKETS], i64) {
        (self.counts, self.newest)
    }

    pub fn from_raw(counts: [u32; BUCKETS], newest: i64) -> Self {
        HourBuckets { counts, newest }
    }

    /// The end of the newest bucket, if any bucket counts something (a bound on the latest
    /// addition: nothing is left to count an hour after it).
    pub fn latest(&self) -> Option<i64> {
        self.counts.iter().any(|&c| c > 0).then(|| (self.newest + 1).saturating_mul(BUCKET_MS) - 1)
    }
}

/// Today's tallies (calendar day in UTC), folded into the baselines when the day ends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Day {
    /// Days since the epoch; `i64::MIN` before the first event.
    pub index: i64,
    pub distinct: u32,
    /// Persons new to the account (not read by it in the week before).
    pub new: u32,
    pub events: u32,
    pub denied: u32,
    pub lookups: u32,
    pub views: u32,
    /// Lookups that found nobody the agent may read.
    pub outside_lookups: u32,
    /// New persons refused (over a quota).
    pub refused_new: u32,
    /// Bit h: active in hour h (UTC).
    pub hours: u32,
    /// The day had a verdict stricter than friction (or a statistical alarm): it does not
    /// enter the baselines (baselines are frozen while an account is flagged).
    pub flagged: bool,
    /// The current hour (hours since the epoch) and its distinct persons.
    pub hour_index: i64,
    pub hour_distinct: u32,
    /// Relationships the account created today, and those "self-justified": created for a
    /// person it had just found by an exact lookup, or read by it right after.
    pub created: u32,
    pub justified: u32,
}

/// The rungs past a passed step-up (capability "a step-up proves who, not why").
pub mod insist {
    /// Nothing asked beyond the step-up.
    pub const NONE: u8 = 0;
    /// A reason was asked for the agent's manager; not given yet.
    pub const REASON_ASKED: u8 = 1;
    /// The reason was given (it went to the manager with the alert).
    pub const REASON_GIVEN: u8 = 2;
    /// Throttled to the account's own usual pace until a human lifts it.
    pub const PACE: u8 = 3;
}

/// Session-context signals, computed at the first event of each session.
pub mod novelty {
    pub const NEW_NETWORK: u16 = 1;
    pub const NEW_BROWSER: u16 = 1 << 1;
    pub const CONCURRENT: u16 = 1 << 2;
    pub const YOUNG: u16 = 1 << 3;
    pub const DORMANT: u16 = 1 << 4;
    pub const CREDENTIAL_RESET: u16 = 1 << 5;
    /// A browser build the account never used (with a known build).
    pub const NEW_BUILD: u16 = 1 << 6;
    /// Not bound to a device where the account's sessions usually are.
    pub const UNBOUND: u16 = 1 << 7;
    /// A tool's user agent (a script, not a browser).
    pub const TOOL: u16 = 1 << 8;

    /// The signals that count as context (a build new to the account does not: browsers
    /// update every few weeks, all at once; it only helps link campaigns).
    pub const NAMES: [(u16, &str); 8] = [
        (NEW_NETWORK, "new_network"),
        (NEW_BROWSER, "new_browser"),
        (CONCURRENT, "concurrent_sessions"),
        (YOUNG, "young_account"),
        (DORMANT, "dormant_account"),
        (CREDENTIAL_RESET, "credential_reset"),
        (UNBOUND, "unbound_device"),
        (TOOL, "tool_user_agent"),
    ];
}

/// One account's state. Split by how often it is touched: the fields below are read or
/// written by every event and stay together (a few cache lines: with 50 000 accounts every
/// event's account is a cache miss, and each further line is another); [`Cold`] holds what
/// only a session's first event, a quota, a lookup miss or the end of an hour or a day needs,
/// behind one pointer. The hot part keeps copies of the few baseline figures every event
/// compares with, refreshed by [`Account::derive`] whenever the cold part changes them.
#[derive(Clone, Debug)]
pub struct Account {
    // Today's tallies and the distinct-person windows.
    pub day: Day,
    pub persons: DistinctWindows,
    /// The account's kind and role, from its events (for folding its days into its peers').
    pub peer: Option<(OrgKind, Role)>,
    // Enumeration and cadence.
    pub last_person: Option<u64>,
    pub run: u32,
    pub last_at: i64,
    pub last_request: u128,
    pub gaps: [u32; CADENCE],
    pub gaps_len: u8,
    pub gaps_next: u8,
    // Throttle: the time-out in force and its rung (1 → 5 → 60 min).
    pub rung: u8,
    // The ladder's memory.
    pub suspended: bool,
    pub session_novelty: u16,
    pub throttled_until: i64,
    pub session: u64,
    pub reason_until: i64,
    pub flagged_until: i64,
    pub cusum_alarm_until: i64,
    /// After a passed step-up: new persons read while still far off the baselines today, and
    /// the rung reached ([`insist`]).
    pub deviant: u32,
    pub insist: u8,
    /// The account's bucket in its surge groups' histograms today, and which day
    /// (see `surge.rs`); `u8::MAX`: in none.
    pub surge_bucket: u8,
    pub surge_day: i32,
    /// The campaign this account was linked to (0: none; see `link.rs`), and the linker's
    /// generation when it last looked.
    pub link: u32,
    pub link_gen: u32,
    // Baselines every event compares with.
    pub hourly: Ewma,
    pub denied_ratio: Ewma,
    pub lookup_ratio: Ewma,
    /// Copies of the cold part's figures (see [`Account::derive`]).
    pub derived: Derived,
    pub cold: Box<Cold>,
}

/// What the hot path reads of the cold part, kept in the hot part: recomputed by
/// [`Account::derive`] (at the end of a day, after a restore) and updated in place where the
/// cold part changes on the way (a miss, a refusal, a scope page).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Derived {
    /// The daily distinct-person baseline (median, spread), once there is one.
    pub self_base: Option<Robust>,
    /// The usual number of persons new to the account in a day (median), 0 without history.
    pub new_usual: f64,
    /// Bit h: the account has never worked in hour h (UTC), once its profile is long enough.
    pub unusual_hours: u32,
    /// The latest lookup miss, refusal and scope page (the cold lists need reading only
    /// within their window of these).
    pub last_miss: i64,
    pub last_refused: i64,
    pub last_scope: i64,
    /// Some person was ever refused (the cold list of recent refusals is not empty).
    pub refused_any: bool,
    /// The latest relationship this account created (the cold list of recent creations needs
    /// reading only within [`RECENT_CREATED_MS`] of it).
    pub last_created: i64,
    /// When the organization last heard of this account, and with which quotas.
    pub org_seen_at: i64,
    pub org_seen_quotas: [u32; 3],
}

impl Default for Derived {
    fn default() -> Self {
        Derived {
            self_base: None,
            new_usual: 0.0,
            unusual_hours: 0,
            last_miss: i64::MIN,
            last_refused: i64::MIN,
            last_scope: i64::MIN,
            refused_any: false,
            last_created: i64::MIN,
            org_seen_at: i64::MIN,
            org_seen_quotas: [0; 3],
        }
    }
}

/// The rarely touched part of an account's state.
#[derive(Clone, Debug, Default)]
pub struct Cold {
    pub misses: VecDeque<i64>,
    pub scope_lines: HourBuckets,
    pub refused: HourBuckets,
    /// The last persons refused, so that asking again for the same one is one attempt.
    pub refused_recent: [u64; 8],
    pub session_suspensions: VecDeque<i64>,
    pub suspended_session: u64,
    // Session context.
    pub networks: [u64; NETWORKS],
    pub networks_next: u8,
    pub browsers: u16,
    // The daily baselines.
    pub distinct_history: DailyHistory,
    pub new_history: DailyHistory,
    pub cusum: Cusum,
    pub hours: HourProfile,
    // Lifecycle: account requests and approvals of the last week.
    pub creations: VecDeque<i64>,
    /// Persons looked up today and denied (matched, out of reach), with the lookup request
    /// that found them (its id's low 64 bits). A request one of whose persons the account
    /// reads later the same day (an inbound contact whose relationship arrived late) is no
    /// longer an outside lookup: a front desk is not a NIR guesser. At most [`OUTSIDE_KEPT`].
    pub outside: Vec<(u64, u64)>,
    /// The lookup request whose candidates are being seen (a key can match several records:
    /// a person and their re-registrations, one event each), whether one of them was a person
    /// the agent may read (the others are then homonyms, not guesses), and whether the
    /// request was counted as a miss and an outside lookup. A request counts once.
    pub lookup_request: u128,
    pub lookup_found: bool,
    pub lookup_outside: bool,
    /// The latest refused view of a canary that did not suspend: when (0: none), which.
    pub canary_probe: (i64, u64),
    /// Browser builds seen (most recent replaced first), and whether a session of the account
    /// was ever bound to a device.
    pub builds: [u32; 4],
    pub builds_next: u8,
    pub bound_seen: bool,
    /// Relationships created in the last hour (five-minute buckets), the daily histories of
    /// creations and of self-justified ones, the last few created (person, when), and the day
    /// (days since the epoch) on which creations stopped after the hour's quota.
    pub created: HourBuckets,
    pub created_history: DailyHistory,
    pub justified_history: DailyHistory,
    pub recent_created: [(u64, i64); 8],
    pub recent_next: u8,
    /// Bit i: the creation in slot i was for a person found by an exact lookup; read: its
    /// person was read since.
    pub recent_via_lookup: u8,
    pub recent_read: u8,
    pub creations_stopped: i64,
    /// The reason given when the manager's reason was asked, and since when the account's
    /// pace is throttled (`i64::MIN`: not).
    pub insist_reason: Option<crate::ports::AccessReason>,
    pub pace_since: i64,
}

/// How long after creating a relationship a read of its person counts as self-justified.
pub const RECENT_CREATED_MS: i64 = 30 * 60_000;

impl Cold {
    /// Whether `person`'s relationship was created by this account within
    /// [`RECENT_CREATED_MS`] of `now`.
    pub fn created_recently(&self, person: u64, now: i64) -> bool {
        self.recent_created.iter().any(|&(p, at)| p == person && now - at < RECENT_CREATED_MS)
    }

    pub fn note_created(&mut self, person: u64, now: i64, via_lookup: bool) {
        let i = usize::from(self.recent_next);
        self.recent_created[i] = (person, now);
        let bit = 1u8 << i;
        self.recent_via_lookup = if via_lookup { self.recent_via_lookup | bit } else { self.recent_via_lookup & !bit };
        self.recent_read &= !bit;
        self.recent_next = ((i + 1) % self.recent_created.len()) as u8;
    }

    /// Whether a build is known to the account; learns it. Unknown builds (0) are known.
    pub fn learn_build(&mut self, build: u32) -> bool {
        if build == 0 {
            return true;
        }
        let known = self.builds.contains(&build);
        if !known {
            self.builds[usize::from(self.builds_next)] = build;
            self.builds_next = ((usize::from(self.builds_next) + 1) % self.builds.len()) as u8;
        }
        known
    }
}

/// Denied lookups remembered a day for [`Cold::outside`].
pub const OUTSIDE_KEPT: usize = 64;

impl Default for Account {
    fn default() -> Self {
        Account {
            day: Day { index: i64::MIN, hour_index: i64::MIN, ..Day::default() },
            persons: DistinctWindows::default(),
            peer: None,
            last_person: None,
            run: 0,
            last_at: i64::MIN,
            last_request: 0,
            gaps: [0; CADENCE],
            gaps_len: 0,
            gaps_next: 0,
            rung: 0,
            suspended: false,
            session_novelty: 0,
            throttled_until: 0,
            session: 0,
            reason_until: i64::MIN,
            flagged_until: i64::MIN,
            cusum_alarm_until: i64::MIN,
            deviant: 0,
            insist: insist::NONE,
            surge_bucket: u8::MAX,
            surge_day: i32::MIN,
            link: 0,
            link_gen: 0,
            hourly: Ewma::default(),
            denied_ratio: Ewma::default(),
            lookup_ratio: Ewma::default(),
            derived: Derived::default(),
            cold: Box::default(),
        }
    }
}

/// What a completed day hands to the peer group, if it enters the baselines.
#[derive(Debug)]
pub struct Completed {
    pub peer: (OrgKind, Role),
    pub distinct: u32,
}

impl Account {
    /// Starts a new hour or day when `now` is past the current one: a completed, unflagged
    /// period enters the baselines (a flagged one does not: frozen while flagged). Returns
    /// the completed day for the peer group. `cusum` is (k, h). `level` gives the peer group's
    /// level on a day (see [`DayLevel`]) from this account's ratio to its own median.
    pub fn roll(&mut self, now: i64, cusum: (f64, f64), level: impl FnOnce(i64, f64) -> f64) -> Option<Completed> {
        let hour = now.div_euclid(HOUR_MS);
        let day = now.div_euclid(DAY_MS);
        let flagged = self.day.flagged || now < self.flagged_until;
        if hour > self.day.hour_index {
            if self.day.hour_distinct > 0 && !flagged {
                self.hourly.add(f64::from(self.day.hour_distinct), 0.05);
            }
            self.day.hour_index = hour;
            self.day.hour_distinct = 0;
        }
        if day <= self.day.index {
            return None;
        }
        let d = std::mem::replace(&mut self.day, Day { index: day, hour_index: hour, ..Day::default() });
        // A new day: what was asked past a step-up starts again, but a pace throttle holds
        // until a human lifts it.
        self.deviant = 0;
        if self.insist != insist::PACE {
            self.insist = insist::NONE;
        }
        if d.events == 0 || d.index == i64::MIN {
            return None;
        }
        // The CUSUM runs on every active day (a drift must not hide behind its own flags);
        // the baseline it compares with is frozen while flagged.
        // Seasonally adjusted: a day when the whole peer group reads twice its usual (the
        // September intake, a Monday after a holiday) is not a drift of this account.
        let cold = &mut *self.cold;
        if let Some(base) = cold.distinct_history.robust()
            && let x = f64::from(d.distinct)
            && let group = level(d.index, x / base.median.max(1.0)).max(1.0)
            && cold.cusum.add(x / group, base, cusum.0, cusum.1)
        {
            self.cusum_alarm_until = (day + 1) * DAY_MS;
        }
        if d.flagged || now < self.flagged_until {
            return None;
        }
        cold.distinct_history.push(d.distinct);
        cold.new_history.push(d.new);
        if d.created > 0 || !cold.created_history.is_empty() {
            cold.created_history.push(d.created);
            cold.justified_history.push(d.justified);
        }
        cold.hours.add_day(d.hours);
        self.derive();
        if d.events > 0 {
            self.denied_ratio.add(f64::from(d.denied) / f64::from(d.events), 0.1);
        }
        if d.lookups + d.views > 0 {
            self.lookup_ratio.add(f64::from(d.lookups) / f64::from(d.lookups + d.views), 0.1);
        }
        self.peer.map(|peer| Completed { peer, distinct: d.distinct })
    }

    /// Remembers the gap since the previous request (cadence); events of one request share it.
    pub fn cadence(&mut self, now: i64, request: u128) -> Option<(f64, f64)> {
        if request != self.last_request && self.last_at != i64::MIN && now >= self.last_at {
            let gap = (now - self.last_at).min(i64::from(u32::MAX)) as u32;
            self.gaps[usize::from(self.gaps_next)] = gap;
            self.gaps_next = ((usize::from(self.gaps_next) + 1) % CADENCE) as u8;
            self.gaps_len = (usize::from(self.gaps_len) + 1).min(CADENCE) as u8;
        }
        if request != self.last_request {
            self.last_request = request;
            self.last_at = now;
        }
        if usize::from(self.gaps_len) < CADENCE {
            return None;
        }
        let n = CADENCE as f64;
        let mean = self.gaps.iter().map(|&g| f64::from(g)).sum::<f64>() / n;
        let var = self.gaps.iter().map(|&g| (f64::from(g) - mean).powi(2)).sum::<f64>() / n;
        Some((mean, var.sqrt()))
    }

    /// Recomputes the hot copies of the cold part's figures (after a day enters the
    /// baselines, after a restore).
    pub fn derive(&mut self) {
        let c = &*self.cold;
        let d = &mut self.derived;
        d.self_base = c.distinct_history.robust();
        d.new_usual = c.new_history.robust().map_or(0.0, |b| b.median);
        d.unusual_hours = if usize::from(c.hours.active_days) >= MIN_HISTORY_DAYS {
            (0..24).filter(|&h| c.hours.days_in_hour[h] == 0).fold(0u32, |m, h| m | 1 << h)
        } else {
            0
        };
        d.last_miss = c.misses.back().copied().unwrap_or(i64::MIN);
        d.last_refused = c.refused.latest().unwrap_or(i64::MIN);
        d.last_scope = c.scope_lines.latest().unwrap_or(i64::MIN);
        d.refused_any = c.refused_recent.iter().any(|&p| p != 0);
        d.last_created = c.recent_created.iter().filter(|(p, _)| *p != 0).map(|&(_, at)| at).max().unwrap_or(i64::MIN);
    }

    /// Whether hour `h` of the day (UTC) is one the account never works.
    pub fn unusual_hour(&self, h: usize) -> bool {
        self.derived.unusual_hours & (1 << h) != 0
    }

    /// Bytes held, outside the distinct-person sets.
    pub fn bytes(&self) -> usize {
        let c = &*self.cold;
        std::mem::size_of::<Self>()
            + std::mem::size_of::<Cold>()
            + (c.misses.capacity() + c.session_suspensions.capacity() + c.creations.capacity()) * 8
            + c.outside.capacity() * 16
    }
}

impl Cold {
    /// Whether a network is known to the account; learns it.
    pub fn learn_network(&mut self, network: u64) -> bool {
        if network == 0 {
            return true;
        }
        let known = self.networks.contains(&network);
        if !known {
            self.networks[usize::from(self.networks_next)] = network;
            self.networks_next = ((usize::from(self.networks_next) + 1) % NETWORKS) as u8;
        }
        known
    }

    /// Whether the account knew any network before (a first session has nothing to be new to).
    pub fn has_history(&self) -> bool {
        self.networks.iter().any(|&n| n != 0)
    }
}

/// A peer group's activity on one day relative to usual: the median, over the group's accounts
/// whose day has completed so far, of each account's distinct persons divided by its own
/// 28-day median. Seasons, Mondays and intakes move everyone; an attacker moves one account,
/// which a median over hundreds does not follow. Accounts complete a day at their next event
/// (the next morning, or after a weekend or a leave), so a few recent days are kept.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DayLevel {
    days: Vec<(i64, Vec<f32>)>,
}

/// Accounts a group's level needs before it adjusts anything, the most it keeps a day, and the
/// days it keeps.
const LEVEL_MIN: usize = 12;
const LEVEL_MAX: usize = 255;
const LEVEL_DAYS: usize = 8;

impl DayLevel {
    /// The level of `day` (1 until enough accounts completed it), then counts `ratio` in.
    pub fn level(&mut self, day: i64, ratio: f64) -> f64 {
        let i = match self.days.iter().position(|(d, _)| *d == day) {
            Some(i) => i,
            None => {
                if self.days.len() >= LEVEL_DAYS {
                    // The oldest day goes (a roll of a day older than all kept counts alone).
                    let (oldest, _) =
                        self.days.iter().enumerate().min_by_key(|(_, (d, _))| *d).unwrap_or((0, &(0, Vec::new())));
                    if self.days[oldest].0 > day {
                        return 1.0;
                    }
                    self.days.swap_remove(oldest);
                }
                self.days.push((day, Vec::new()));
                self.days.len() - 1
            }
        };
        let ratios = &mut self.days[i].1;
        let level = if ratios.len() >= LEVEL_MIN {
            let mut v = ratios.clone();
            v.sort_by(f32::total_cmp);
            f64::from(v[v.len() / 2])
        } else {
            1.0
        };
        if ratios.len() < LEVEL_MAX && ratio.is_finite() {
            ratios.push(ratio as f32);
        }
        level
    }
}
