//! Campaigns across accounts and organizations: one infostealer or phishing campaign yields
//! many partners' sessions, driven by one operator from shared infrastructure. Each account
//! alone stays under its quotas; what they share gives them away.
//!
//! At a session's first event, if its network is new to the account and it has another
//! novelty (a browser build the account never used, no device binding where its sessions are
//! usually bound, a tool's user agent), the session is **sighted** under its network's key and,
//! when known, under its provider and exact build. Once `link_accounts` accounts of at least
//! `link_orgs` organizations are sighted under one key within `link_window_ms`, they are
//! **linked**: one campaign, named in one alert with its accounts and what links them
//! (`via=network` or `via=provider+build`); every later sighting under the key joins it.
//! Linked accounts' new persons are throttled (see `mod.rs`): the link is structural evidence
//! (several organizations' accounts, each behaving unlike itself, from one place), not a score.
//!
//! Bounded: only suspicious sessions are sighted; a key keeps at most [`PER_KEY`] sightings
//! and the table at most [`KEYS`] keys, the stalest dropped first.

use super::FastMap;
use crate::ids::{AgentId, OrgId};

/// Sightings kept per key, and keys kept.
pub const PER_KEY: usize = 64;
pub const KEYS: usize = 8_192;

/// One suspicious session start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sighting {
    pub agent: AgentId,
    pub org: OrgId,
    pub at: i64,
}

/// A campaign: accounts linked by what their sessions share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Campaign {
    /// 1, 2, …: its number in this detector.
    pub id: u32,
    pub key: u64,
    pub via: Via,
    pub accounts: Vec<AgentId>,
    pub orgs: u32,
    /// When it was linked, and when it last grew.
    pub at: i64,
    pub grew: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Network,
    ProviderBuild,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Network => "network",
            Via::ProviderBuild => "provider+build",
        }
    }
}

/// The sightings and the campaigns found. `generation` changes whenever a campaign forms or
/// grows, so that an account checks whether it was linked only then (one comparison an event).
#[derive(Clone, Debug, Default)]
pub struct Linker {
    pub sightings: FastMap<u64, Vec<Sighting>>,
    pub campaigns: Vec<Campaign>,
    pub members: FastMap<AgentId, u32>,
    pub generation: u32,
    /// Sessions started with each browser build today and yesterday: (day, today, yesterday).
    /// A build links accounts only if it is rare: a fleet's update gives hundreds of accounts
    /// the same new build on the same day, an operator's tool only its own sessions.
    pub builds: FastMap<u32, (i64, u32, u32)>,
}

/// The key of a network, and of a (provider, build) pair: tagged so that they never collide.
pub fn network_key(network: u64) -> u64 {
    network & !1
}

pub fn build_key(provider: u64, build: u32) -> u64 {
    (provider.rotate_left(17) ^ u64::from(build).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1
}

impl Linker {
    /// Counts a session started with `build` on `day` (days since the epoch).
    pub fn saw_build(&mut self, build: u32, day: i64) {
        if build == 0 {
            return;
        }
        if self.builds.len() >= KEYS && !self.builds.contains_key(&build) {
            self.builds.retain(|_, (d, _, _)| day - *d <= 1);
            if self.builds.len() >= KEYS {
                return;
            }
        }
        let (d, today, yesterday) = self.builds.entry(build).or_insert((day, 0, 0));
        if *d != day {
            *yesterday = if day == *d + 1 { *today } else { 0 };
            *today = 0;
            *d = day;
        }
        *today = today.saturating_add(1);
    }

    /// Whether a build was seen by at most `n` sessions today and yesterday.
    pub fn rare_build(&self, build: u32, day: i64, n: u32) -> bool {
        self.builds.get(&build).is_none_or(|&(d, today, yesterday)| {
            let seen = if d == day {
                today + yesterday
            } else if d + 1 == day {
                today
            } else {
                0
            };
            seen <= n
        })
    }

    /// Sights a suspicious session start under `key`. Returns the campaign it formed or joined.
    pub fn sight(
        &mut self,
        key: u64,
        via: Via,
        s: Sighting,
        window_ms: i64,
        min_accounts: u32,
        min_orgs: u32,
    ) -> Option<u32> {
        if self.sightings.len() >= KEYS && !self.sightings.contains_key(&key) {
            let now = s.at;
            self.sightings.retain(|_, v| v.iter().any(|x| now - x.at < window_ms));
            if self.sightings.len() >= KEYS {
                return None;
            }
        }
        let list = self.sightings.entry(key).or_default();
        list.retain(|x| s.at - x.at < window_ms);
        match list.iter_mut().find(|x| x.agent == s.agent) {
            Some(x) => x.at = s.at,
            None => {
                if list.len() >= PER_KEY {
                    list.remove(0);
                }
                list.push(s);
            }
        }
        if let Some(c) = self.campaigns.iter_mut().find(|c| c.key == key && s.at - c.grew < window_ms) {
            if !c.accounts.contains(&s.agent) {
                c.accounts.push(s.agent);
                c.orgs = distinct_orgs(list);
                c.grew = s.at;
                self.members.insert(s.agent, c.id);
                self.generation = self.generation.wrapping_add(1);
            }
            return Some(c.id);
        }
        let orgs = distinct_orgs(list);
        if (list.len() as u32) < min_accounts || orgs < min_orgs {
            return None;
        }
        let id = self.campaigns.len() as u32 + 1;
        let accounts: Vec<AgentId> = list.iter().map(|x| x.agent).collect();
        for a in &accounts {
            self.members.insert(*a, id);
        }
        self.campaigns.push(Campaign { id, key, via, accounts, orgs, at: s.at, grew: s.at });
        self.generation = self.generation.wrapping_add(1);
        Some(id)
    }

    pub fn campaign(&self, id: u32) -> Option<&Campaign> {
        self.campaigns.get(usize::try_from(id).ok()?.checked_sub(1)?)
    }

    /// The alert's words for a campaign: its accounts and what links them.
    pub fn describe(&self, id: u32) -> String {
        match self.campaign(id) {
            Some(c) => format!(
                "campaign_link={} accounts={} orgs={} via={} linked={}",
                c.id,
                c.accounts.len(),
                c.orgs,
                c.via.as_str(),
                c.accounts.iter().map(|a| a.get().to_string()).collect::<Vec<_>>().join(",")
            ),
            None => format!("campaign_link={id}"),
        }
    }
}

fn distinct_orgs(list: &[Sighting]) -> u32 {
    let mut orgs: Vec<u64> = list.iter().map(|x| x.org.get()).collect();
    orgs.sort_unstable();
    orgs.dedup();
    orgs.len() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(agent: u64, org: u64, at: i64) -> Sighting {
        Sighting { agent: AgentId::new(agent).unwrap(), org: OrgId::new(org).unwrap(), at }
    }

    const H: i64 = 3_600_000;

    #[test]
    fn five_accounts_of_two_organizations_link_and_later_ones_join() {
        let mut l = Linker::default();
        let key = network_key(0xdead_beef);
        for i in 0..4 {
            assert_eq!(l.sight(key, Via::Network, s(i + 1, 10 + i % 3, i as i64 * H), 48 * H, 5, 2), None);
        }
        let id = l.sight(key, Via::Network, s(5, 11, 5 * H), 48 * H, 5, 2).unwrap();
        let c = l.campaign(id).unwrap();
        assert_eq!(c.accounts.len(), 5);
        assert_eq!(c.orgs, 3);
        assert!(l.describe(id).starts_with("campaign_link=1 accounts=5 orgs=3 via=network linked=1,2,3,4,5"));
        let g = l.generation;
        assert_eq!(l.sight(key, Via::Network, s(6, 12, 6 * H), 48 * H, 5, 2), Some(id));
        assert_eq!(l.campaign(id).unwrap().accounts.len(), 6);
        assert_ne!(l.generation, g);
        assert_eq!(l.members.get(&AgentId::new(6).unwrap()), Some(&id));
    }

    #[test]
    fn one_organization_or_an_old_sighting_does_not_link() {
        let mut l = Linker::default();
        let key = network_key(42);
        for i in 0..8 {
            assert_eq!(l.sight(key, Via::Network, s(i + 1, 10, i as i64 * H), 48 * H, 5, 2), None);
        }
        let mut l = Linker::default();
        for i in 0..5 {
            // One a day: never five within 48 hours.
            assert_eq!(l.sight(key, Via::Network, s(i + 1, 10 + i, i as i64 * 30 * H), 48 * H, 5, 2), None);
        }
        assert_ne!(network_key(7), build_key(7, 7));
    }
}
