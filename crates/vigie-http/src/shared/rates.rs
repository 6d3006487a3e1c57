//! Request-rate limits per session and per account: token buckets, checked once the session is
//! known and before any work on its behalf. The detector's quotas count distinct persons, so one
//! token re-reading the same few persons went unchecked: ~14 000 ledgered reads a second, about
//! 13 GB of ledger an hour until the disk filled and the ledger failed closed for everyone. An
//! agent reads a record every few seconds and a page asks for a handful of resources; the
//! defaults are many times that, and a bulk need is an extract, not a loop over the API.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use vigie_core::ids::{AgentId, SessionId};
use vigie_core::time::Timestamp;

/// A sustained rate and the burst above it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

/// The limits: per session, and per account (all its sessions together, up to five).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateSettings {
    /// 10 requests a second, bursts of 60: a person at a browser never nears it (a record page
    /// is one request, a scope page one more), a script re-reading records is held to 36 000
    /// an hour, a few MB of ledger.
    pub session: Rate,
    /// 20 a second, bursts of 120: two busy sessions of the same agent.
    pub account: Rate,
}

impl Default for RateSettings {
    fn default() -> Self {
        RateSettings { session: Rate { per_second: 10, burst: 60 }, account: Rate { per_second: 20, burst: 120 } }
    }
}

impl RateSettings {
    /// Limits no client reaches: for `vigie bench`, which measures the guard at full speed
    /// through one session, and for test harnesses reading in bulk on a fixed clock (whose
    /// buckets never refill). Never from a configuration file.
    pub fn dangerous_unlimited() -> Self {
        let r = Rate { per_second: u32::MAX / 1000, burst: u32::MAX / 1000 };
        RateSettings { session: r, account: r }
    }
}

/// Buckets kept at most; past it, those full again (idle) are dropped.
const MAX_BUCKETS: usize = 100_000;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Thousandths of a request.
    milli: i64,
    at_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Session(u64),
    Account(u64),
}

/// The buckets (see the module).
#[derive(Debug)]
pub struct RequestRates {
    settings: RateSettings,
    buckets: Mutex<HashMap<Key, Bucket>>,
}

impl RequestRates {
    pub fn new(settings: RateSettings) -> RequestRates {
        RequestRates { settings, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one request from the session's bucket and the account's, or neither: `Err` is
    /// the time until both have one again, in milliseconds.
    pub fn admit(&self, session: SessionId, agent: AgentId, now: Timestamp) -> Result<(), i64> {
        let now_ms = now.millis();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_BUCKETS {
            let s = self.settings;
            buckets.retain(|k, b| {
                let rate = match k {
                    Key::Session(_) => s.session,
                    Key::Account(_) => s.account,
                };
                refill(*b, rate, now_ms).milli < i64::from(rate.burst) * 1000
            });
        }
        let checks =
            [(Key::Session(session.0), self.settings.session), (Key::Account(agent.get()), self.settings.account)];
        let mut wait = 0;
        let mut next = [Bucket { milli: 0, at_ms: now_ms }; 2];
        for (i, (key, rate)) in checks.iter().enumerate() {
            let full = Bucket { milli: i64::from(rate.burst) * 1000, at_ms: now_ms };
            let b = refill(buckets.get(key).copied().unwrap_or(full), *rate, now_ms);
            if b.milli < 1000 {
                let per_ms = i64::from(rate.per_second.max(1));
                wait = wait.max((1000 - b.milli + per_ms - 1) / per_ms);
            }
            next[i] = b;
        }
        if wait > 0 {
            return Err(wait);
        }
        for (i, (key, _)) in checks.iter().enumerate() {
            buckets.insert(*key, Bucket { milli: next[i].milli - 1000, at_ms: now_ms });
        }
        Ok(())
    }
}

/// The bucket at `now_ms`: refilled at the rate since it was last seen, up to the burst.
fn refill(b: Bucket, rate: Rate, now_ms: i64) -> Bucket {
    let elapsed = (now_ms - b.at_ms).max(0);
    let milli = b.milli.saturating_add(elapsed.saturating_mul(i64::from(rate.per_second)));
    Bucket { milli: milli.min(i64::from(rate.burst) * 1000), at_ms: now_ms.max(b.at_ms) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(s: u64, a: u64) -> (SessionId, AgentId) {
        (SessionId(s), AgentId::new(a).unwrap())
    }

    #[test]
    fn a_session_gets_its_burst_then_its_rate() {
        let r = RequestRates::new(RateSettings {
            session: Rate { per_second: 2, burst: 3 },
            account: Rate { per_second: 100, burst: 100 },
        });
        let (s, a) = ids(1, 1);
        let t = Timestamp(1_000_000);
        for _ in 0..3 {
            r.admit(s, a, t).unwrap();
        }
        // Empty: the next in 500 ms (two a second).
        assert_eq!(r.admit(s, a, t), Err(500));
        assert_eq!(r.admit(s, a, t.plus_millis(499)), Err(1));
        r.admit(s, a, t.plus_millis(500)).unwrap();
        // Another session of another account is not held back.
        let (s2, a2) = ids(2, 2);
        r.admit(s2, a2, t).unwrap();
    }

    #[test]
    fn an_account_is_held_across_its_sessions() {
        let r = RequestRates::new(RateSettings {
            session: Rate { per_second: 100, burst: 100 },
            account: Rate { per_second: 1, burst: 4 },
        });
        let t = Timestamp(0);
        for s in 1..=4 {
            let (s, a) = ids(s, 7);
            r.admit(s, a, t).unwrap();
        }
        let (s5, a) = ids(5, 7);
        assert_eq!(r.admit(s5, a, t), Err(1000));
        // Refused requests take nothing: the next second lets one through.
        r.admit(s5, a, t.plus_millis(1000)).unwrap();
    }
}
