//! Login throttle: exponential back-off, consulted before any password is hashed, so guessing is
//! slow and cannot be used to burn CPU, without handing an attacker a way to lock a named agent
//! out.
//!
//! A password attempt for a login from a network (an IPv4 /24 or IPv6 /64, since agencies share
//! NAT addresses) counts against up to three budgets ([`LoginThrottle::password_keys`]):
//!
//! - the login *from that network*: 3 failures free, then waits of 1 s, 2 s, 4 s … up to 15 min
//!   after each further failure. Guessing from one place is as slow as it always was, and it
//!   holds back that place only;
//! - the login from anywhere, and the network for any login, but only from a network where the
//!   login has never signed in ("known" networks are remembered for 30 days after a success):
//!   10 and 20 failures free, then the same back-off. Guessing spread over many networks, or one
//!   network trying many logins, stays slow.
//!
//! So an attacker failing on an agent's login, from as many networks as he likes, never delays
//! that agent at the office where he signs in every day, and the failures of one shared NAT do
//! not hold back the colleagues who sign in from it. What is left: an agent signing in for the
//! first time from a new network while his login is under attack waits with the attacker; his
//! passkey sign-in is never held back by password failures (it counts on the network alone).
//!
//! Failures on one login from many networks within the hour (5 by default) are a targeted
//! lockout attempt, reported once per hour by [`LoginThrottle::failed_from`] for an alert.
//! A quiet hour forgets a count. The tables are bounded: past `capacity` keys the stalest
//! entries are dropped.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::time::Timestamp;

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum ThrottleKey {
    /// Keyed by the login as typed (existing or not, so probing unknown logins is throttled too).
    Account(String),
    /// An IPv4 /24 or an IPv6 /64.
    Network([u8; 8]),
    /// A login from one network.
    AccountFrom(String, [u8; 8]),
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

    fn network_bytes(ip: IpAddr) -> [u8; 8] {
        match Self::network(ip) {
            ThrottleKey::Network(k) => k,
            _ => [0; 8],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures of a login from networks where it never signed in, all together.
    pub free_failures_account: u32,
    pub free_failures_network: u32,
    /// Failures of a login from one network.
    pub free_failures_account_network: u32,
    /// How long a network where a login signed in stays known for it.
    pub known_for_ms: i64,
    /// Distinct networks failing on one login within `forget_after_ms` that make a targeted
    /// lockout attempt.
    pub targeted_networks: usize,
    pub base_delay_ms: i64,
    pub max_delay_ms: i64,
    pub forget_after_ms: i64,
    pub capacity: usize,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            free_failures_account: 10,
            free_failures_network: 20,
            free_failures_account_network: 3,
            known_for_ms: 30 * 24 * 60 * 60 * 1_000,
            targeted_networks: 5,
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

/// What the throttle remembers of one login: where it signed in, where it failed.
#[derive(Clone, Debug, Default)]
struct Seen {
    /// Networks where the login signed in, with when last.
    known: Vec<([u8; 8], Timestamp)>,
    /// Networks where it failed, with when last.
    failed: Vec<([u8; 8], Timestamp)>,
    /// When a targeted lockout attempt was last reported.
    reported: Option<Timestamp>,
}

/// Networks remembered per login, each list; the oldest go first.
const MAX_NETWORKS_PER_LOGIN: usize = 16;

#[derive(Debug, Default)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    entries: HashMap<ThrottleKey, Entry>,
    logins: HashMap<String, Seen>,
}

impl LoginThrottle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        LoginThrottle { policy, entries: HashMap::new(), logins: HashMap::new() }
    }

    /// The budgets a password attempt for `login` from `ip` counts against (see the module):
    /// the login from this network always; the login from anywhere and the network for any
    /// login only when the login never signed in from this network.
    pub fn password_keys(&self, login: &str, ip: IpAddr, now: Timestamp) -> Vec<ThrottleKey> {
        let net = ThrottleKey::network_bytes(ip);
        let mut keys = vec![ThrottleKey::AccountFrom(login.to_owned(), net)];
        if !self.is_known(login, net, now) {
            keys.push(ThrottleKey::Account(login.to_owned()));
            keys.push(ThrottleKey::Network(net));
        }
        keys
    }

    /// Whether `login` signed in from this network within `known_for_ms`.
    fn is_known(&self, login: &str, net: [u8; 8], now: Timestamp) -> bool {
        self.logins
            .get(login)
            .is_some_and(|s| s.known.iter().any(|(n, at)| *n == net && now.0 - at.0 < self.policy.known_for_ms))
    }

    /// A sign-in of `login` from `ip` succeeded: the network is known for it from now on.
    pub fn signed_in_from(&mut self, login: &str, ip: IpAddr, now: Timestamp) {
        let net = ThrottleKey::network_bytes(ip);
        self.bound_logins(login, now);
        let seen = self.logins.entry(login.to_owned()).or_default();
        remember(&mut seen.known, net, now);
    }

    /// A password attempt of `login` from `ip` failed. Returns the number of distinct networks
    /// that failed on it within the hour when that makes a targeted lockout attempt, once an
    /// hour per login: for an alert.
    pub fn failed_from(&mut self, login: &str, ip: IpAddr, now: Timestamp) -> Option<usize> {
        let net = ThrottleKey::network_bytes(ip);
        let p = self.policy;
        self.bound_logins(login, now);
        let seen = self.logins.entry(login.to_owned()).or_default();
        remember(&mut seen.failed, net, now);
        let networks = seen.failed.iter().filter(|(_, at)| now.0 - at.0 < p.forget_after_ms).count();
        let reported_lately = seen.reported.is_some_and(|at| now.0 - at.0 < p.forget_after_ms);
        if networks >= p.targeted_networks && !reported_lately {
            seen.reported = Some(now);
            return Some(networks);
        }
        None
    }

    /// Keeps the logins' table within `capacity`: the logins with nothing left to remember go
    /// first, then the stalest.
    fn bound_logins(&mut self, login: &str, now: Timestamp) {
        if self.logins.len() < self.policy.capacity || self.logins.contains_key(login) {
            return;
        }
        let p = self.policy;
        let last = |s: &Seen| s.known.iter().chain(&s.failed).map(|(_, at)| at.0).max().unwrap_or(i64::MIN);
        self.logins.retain(|_, s| now.0 - last(s) < p.known_for_ms);
        if self.logins.len() >= p.capacity {
            let mut ages: Vec<i64> = self.logins.values().map(last).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 10];
            self.logins.retain(|_, s| last(s) > cut);
        }
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
            ThrottleKey::AccountFrom(..) => self.policy.free_failures_account_network,
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

/// Notes `net` at `now` in a list of networks, keeping the newest [`MAX_NETWORKS_PER_LOGIN`].
fn remember(list: &mut Vec<([u8; 8], Timestamp)>, net: [u8; 8], now: Timestamp) {
    match list.iter_mut().find(|(n, _)| *n == net) {
        Some(entry) => entry.1 = now,
        None => {
            if list.len() >= MAX_NETWORKS_PER_LOGIN {
                let oldest = list.iter().enumerate().min_by_key(|(_, (_, at))| at.0).map(|(i, _)| i);
                if let Some(i) = oldest {
                    list.swap_remove(i);
                }
            }
            list.push((net, now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_backoff_doubles_and_caps() {
        let mut t = LoginThrottle::new(ThrottlePolicy::default());
        let k = ThrottleKey::AccountFrom("x".into(), [1; 8]);
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
        let k = ThrottleKey::AccountFrom("x".into(), [1; 8]);
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

    /// Tries a password sign-in of `login` from `ip` as the sign-in action does: every budget
    /// begun, a failure left counted, a success cleared. `Ok(true)` if it got to the password.
    fn attempt(t: &mut LoginThrottle, login: &str, ip: &str, ok: bool, now: Timestamp) -> Result<(), i64> {
        let ip: IpAddr = ip.parse().unwrap();
        let keys = t.password_keys(login, ip, now);
        for (i, k) in keys.iter().enumerate() {
            if let Err(ms) = t.begin_attempt(k, now) {
                for done in &keys[..i] {
                    t.refund(done);
                }
                return Err(ms);
            }
        }
        if ok {
            for k in &keys {
                match k {
                    ThrottleKey::Network(_) => t.refund(k),
                    _ => t.record_success(k),
                }
            }
            t.signed_in_from(login, ip, now);
        } else {
            let _ = t.failed_from(login, ip, now);
        }
        Ok(())
    }

    #[test]
    fn an_attacker_failing_on_a_login_does_not_lock_its_agent_out_where_he_signs_in() {
        let mut t = LoginThrottle::new(ThrottlePolicy::default());
        let now = Timestamp(1_000_000);
        // The agent signs in at the office.
        attempt(&mut t, "agent", "192.0.2.10", true, now).unwrap();
        // An attacker guesses once each time the wait runs out, from one network and from many.
        let mut at = now;
        for i in 0..200 {
            at = at.plus_millis(15 * 60 * 1_000);
            let _ = attempt(&mut t, "agent", "203.0.113.5", false, at);
            let _ = attempt(&mut t, "agent", &format!("198.51.{}.1", i % 50), false, at);
        }
        // The attacker's own network is held back…
        assert!(attempt(&mut t, "agent", "203.0.113.5", false, at).is_err());
        // …the agent at the office is not, even after a mistyped password or two.
        attempt(&mut t, "agent", "192.0.2.11", false, at).unwrap();
        attempt(&mut t, "agent", "192.0.2.11", true, at).unwrap();
    }

    #[test]
    fn a_shared_network_failing_does_not_hold_back_colleagues_who_sign_in_from_it() {
        let mut t = LoginThrottle::new(ThrottlePolicy::default());
        let now = Timestamp(0);
        attempt(&mut t, "colleague", "192.0.2.50", true, now).unwrap();
        // Someone behind the same NAT fails on many logins.
        for i in 0..100 {
            let _ = attempt(&mut t, &format!("victim{i}"), "192.0.2.99", false, now);
        }
        assert!(
            attempt(&mut t, "other", "192.0.2.98", false, now).is_err(),
            "the network is held back for the guesser"
        );
        attempt(&mut t, "colleague", "192.0.2.51", true, now).unwrap();
    }

    #[test]
    fn guessing_stays_slow_from_one_network_and_from_many() {
        let mut t = LoginThrottle::new(ThrottlePolicy::default());
        let now = Timestamp(0);
        // From one network: three free, the fourth starts the back-off.
        let admitted = (0..50).filter(|_| attempt(&mut t, "a", "203.0.113.1", false, now).is_ok()).count();
        assert_eq!(admitted, 4);
        // From a hundred networks at once: the login's own budget (ten free) holds them all.
        let admitted = (0..100).filter(|i| attempt(&mut t, "b", &format!("198.51.{i}.1"), false, now).is_ok()).count();
        assert_eq!(admitted, 11);
        // One network trying many logins: twenty free.
        let admitted =
            (0..100).filter(|i| attempt(&mut t, &format!("c{i}"), "203.0.113.200", false, now).is_ok()).count();
        assert!(admitted <= 21, "{admitted}");
    }

    #[test]
    fn failures_from_many_networks_on_one_login_are_reported_once_an_hour() {
        let mut t = LoginThrottle::new(ThrottlePolicy::default());
        let now = Timestamp(0);
        let reports: Vec<Option<usize>> =
            (0..8).map(|i| t.failed_from("agent", format!("198.51.{i}.1").parse().unwrap(), now)).collect();
        assert_eq!(reports, vec![None, None, None, None, Some(5), None, None, None]);
        // The same network again and again is not a targeted attempt.
        for _ in 0..50 {
            assert_eq!(t.failed_from("other", "203.0.113.1".parse().unwrap(), now), None);
        }
        // An hour later, reported again.
        let later = now.plus_millis(60 * 60 * 1_000);
        let again: Vec<Option<usize>> =
            (0..5).map(|i| t.failed_from("agent", format!("198.51.{i}.1").parse().unwrap(), later)).collect();
        assert_eq!(again.last(), Some(&Some(5)));
    }
}
