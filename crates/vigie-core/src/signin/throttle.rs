//! Login throttle: exponential back-off per account and per source network, consulted before
//! any password is hashed, so guessing is slow and cannot be used to burn CPU.
//!
//! Defaults: an account may fail 3 times freely, then waits 1 s, 2 s, 4 s … up to 15 min after
//! each further failure; a source network (an IPv4 /24 or IPv6 /64, since agencies share NAT
//! addresses) may fail 20 times freely before the same back-off. A quiet hour forgets the count.
//! The table is bounded: past `capacity` keys the stalest entries are dropped.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::time::Timestamp;

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum ThrottleKey {
    /// Keyed by the login as typed (existing or not, so probing unknown logins is throttled too).
    Account(String),
    /// An IPv4 /24 or an IPv6 /64.
    Network([u8; 8]),
}

impl ThrottleKey {
    pub fn network(ip: IpAddr) -> Self {
        let mut k = [0u8; 8];
        match ip {
            IpAddr::V4(v4) => k[..3].copy_from_slice(&v4.octets()[..3]),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => k[..3].copy_from_slice(&v4.octets()[..3]),
                None => k.copy_from_slice(&v6.octets()[..8]),
            },
        }
        ThrottleKey::Network(k)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub free_failures_account: u32,
    pub free_failures_network: u32,
    pub base_delay_ms: i64,
    pub max_delay_ms: i64,
    pub forget_after_ms: i64,
    pub capacity: usize,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            free_failures_account: 3,
            free_failures_network: 20,
            base_delay_ms: 1_000,
            max_delay_ms: 15 * 60 * 1_000,
            forget_after_ms: 60 * 60 * 1_000,
            capacity: 100_000,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    blocked_until: Timestamp,
    last_failure: Timestamp,
}

#[derive(Debug, Default)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    entries: HashMap<ThrottleKey, Entry>,
}

impl LoginThrottle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        LoginThrottle { policy, entries: HashMap::new() }
    }

    /// `Err(ms)` if `key` must wait `ms` more milliseconds before its next attempt.
    pub fn check(&self, key: &ThrottleKey, now: Timestamp) -> Result<(), i64> {
        match self.entries.get(key) {
            Some(e) if e.blocked_until > now && now.0 - e.last_failure.0 < self.policy.forget_after_ms => {
                Err(e.blocked_until.0 - now.0)
            }
            _ => Ok(()),
        }
    }

    pub fn record_failure(&mut self, key: ThrottleKey, now: Timestamp) {
        let free = self.free(&key);
        if self.entries.len() >= self.policy.capacity && !self.entries.contains_key(&key) {
            self.evict(now);
        }
        let p = self.policy;
        let e = self.entries.entry(key).or_insert(Entry { failures: 0, blocked_until: now, last_failure: now });
        if now.0 - e.last_failure.0 >= p.forget_after_ms {
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        e.last_failure = now;
        if e.failures > free {
            let exp = (e.failures - free - 1).min(30);
            let delay = p.base_delay_ms.saturating_mul(1i64 << exp).min(p.max_delay_ms);
            e.blocked_until = now.plus_millis(delay);
        }
    }

    pub fn record_success(&mut self, key: &ThrottleKey) {
        self.entries.remove(key);
    }

    /// Checks `key` and, if it may try, counts the attempt as a failure at once. Counting before
    /// the (slow) password check is what stops a burst of concurrent attempts from all passing
    /// the check before any failure is recorded; a success then clears or refunds it.
    pub fn begin_attempt(&mut self, key: &ThrottleKey, now: Timestamp) -> Result<(), i64> {
        self.check(key, now)?;
        self.record_failure(key.clone(), now);
        Ok(())
    }

    /// Takes back one attempt counted by `begin_attempt` (a success from a shared network, or
    /// an attempt that failed for a reason of ours, such as the store being unavailable).
    pub fn refund(&mut self, key: &ThrottleKey) {
        let free = self.free(key);
        if let Some(e) = self.entries.get_mut(key) {
            e.failures = e.failures.saturating_sub(1);
            if e.failures <= free {
                e.blocked_until = e.last_failure;
            }
        }
    }

    fn free(&self, key: &ThrottleKey) -> u32 {
        match key {
            ThrottleKey::Account(_) => self.policy.free_failures_account,
            ThrottleKey::Network(_) => self.policy.free_failures_network,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn evict(&mut self, now: Timestamp) {
        let forget = self.policy.forget_after_ms;
        self.entries.retain(|_, e| now.0 - e.last_failure.0 < forget);
        if self.entries.len() >= self.policy.capacity {
            // Still full: drop the oldest tenth (those closest to being forgotten anyway).
            let mut ages: Vec<i64> = self.entries.values().map(|e| e.last_failure.0).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 10];
            self.entries.retain(|_, e| e.last_failure.0 > cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_backoff_doubles_and_caps() {
        let mut t = LoginThrottle::new(ThrottlePolicy::default());
        let k = ThrottleKey::Account("x".into());
        let now = Timestamp(1_000_000);
        for _ in 0..3 {
            assert!(t.check(&k, now).is_ok());
            t.record_failure(k.clone(), now);
        }
        assert!(t.check(&k, now).is_ok(), "three failures are free");
        t.record_failure(k.clone(), now);
        assert_eq!(t.check(&k, now), Err(1_000));
        t.record_failure(k.clone(), now);
        assert_eq!(t.check(&k, now), Err(2_000));
        for _ in 0..40 {
            t.record_failure(k.clone(), now);
        }
        assert_eq!(t.check(&k, now), Err(15 * 60 * 1_000));
        assert!(t.check(&k, now.plus_millis(15 * 60 * 1_000)).is_ok());
        t.record_success(&k);
        assert!(t.check(&k, now).is_ok());
    }

    #[test]
    fn networks_are_prefixes() {
        let a = ThrottleKey::network("192.0.2.10".parse().unwrap());
        let b = ThrottleKey::network("192.0.2.200".parse().unwrap());
        let c = ThrottleKey::network("192.0.3.10".parse().unwrap());
        let d = ThrottleKey::network("::ffff:192.0.2.7".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, d);
        let mut t = LoginThrottle::new(ThrottlePolicy::default());
        for _ in 0..20 {
            t.record_failure(a.clone(), Timestamp(0));
        }
        assert!(t.check(&b, Timestamp(0)).is_ok());
        t.record_failure(a.clone(), Timestamp(0));
        assert!(t.check(&b, Timestamp(0)).is_err());
    }

    #[test]
    fn attempts_are_counted_before_they_are_checked() {
        let mut t = LoginThrottle::new(ThrottlePolicy::default());
        let k = ThrottleKey::Account("x".into());
        // A burst: every attempt is begun before any result is known.
        let admitted = (0..60).filter(|_| t.begin_attempt(&k, Timestamp(0)).is_ok()).count();
        assert_eq!(admitted, 4, "three free attempts, and the fourth that starts the back-off");
        let n = ThrottleKey::network("192.0.2.1".parse().unwrap());
        for _ in 0..20 {
            t.begin_attempt(&n, Timestamp(0)).unwrap();
            t.refund(&n); // successes from a shared network do not add up
        }
        assert!(t.check(&n, Timestamp(0)).is_ok());
    }

    #[test]
    fn bounded() {
        let mut t = LoginThrottle::new(ThrottlePolicy { capacity: 100, ..ThrottlePolicy::default() });
        for i in 0..1_000 {
            t.record_failure(ThrottleKey::Account(i.to_string()), Timestamp(i));
        }
        assert!(t.len() <= 100);
    }
}
