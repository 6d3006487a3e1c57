//! `[cluster]`: this node's place among several on one PostgreSQL (ARCHITECTURE.md,
//! "PostgreSQL and several nodes"). Absent: a single node, as before. Present: the store must be
//! PostgreSQL, and each node has its own `name`, data directory and `[ledger] origin`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::bail;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// This node's name, unique in the cluster (letters, digits, `-`, `_`, `.`; 1 to 63).
    pub node: String,
    /// Where the other nodes reach this one to forward an agent's requests; default `listen`.
    /// Must be reachable from them (not `0.0.0.0`).
    pub address: Option<SocketAddr>,
    /// How often the node renews its lease and reads the cluster (50 to 5 000 ms, default 100).
    #[serde(default = "default_heartbeat")]
    pub heartbeat_ms: u64,
    /// How long a lease lasts past its last renewal (at least 3 heartbeats, at most 60 000 ms;
    /// default 500). A node silent that long loses its agents to the others: with the default,
    /// a killed node's agents are judged again elsewhere within about 0.6 s.
    #[serde(default = "default_lease")]
    pub lease_ms: u64,
    /// The most this node's clock may differ from the database's (10 to 60 000 ms, default 1 000).
    /// Detection windows and the ledger's times come from each node's clock; a node further off
    /// refuses to start, and stops judging while it is.
    #[serde(default = "default_skew")]
    pub max_clock_skew_ms: u64,
}

fn default_heartbeat() -> u64 {
    100
}
fn default_lease() -> u64 {
    500
}
fn default_skew() -> u64 {
    1_000
}

/// The checked settings.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    pub node: String,
    pub address: SocketAddr,
    pub heartbeat: Duration,
    pub lease: Duration,
    pub max_skew: Duration,
}

impl ClusterConfig {
    /// The checked settings. `trusted_proxies` must hold this node's own address: the other
    /// nodes forward requests from their addresses, and a node that does not trust them sees a
    /// session presented from another network and ends it (every node's address belongs there,
    /// as HAProxy's does; this node can check only its own).
    pub fn settings(
        &self,
        listen: SocketAddr,
        trusted_proxies: &[std::net::IpAddr],
    ) -> anyhow::Result<ClusterSettings> {
        let ok_name = !self.node.is_empty()
            && self.node.len() <= 63
            && self.node.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok_name {
            bail!("cluster.node: {:?} must be 1 to 63 letters, digits, '-', '_' or '.'", self.node);
        }
        let address = self.address.unwrap_or(listen);
        if address.ip().is_unspecified() {
            bail!("cluster.address: {address} is not an address other nodes can reach; set it to this node's own");
        }
        if !trusted_proxies.contains(&address.ip()) {
            bail!(
                "cluster.address: {} is not in trusted_proxies; list every node's address there (and HAProxy's): \
                 a request another node forwards would otherwise look like a session used from another network, \
                 which ends it",
                address.ip()
            );
        }
        if !(50..=5_000).contains(&self.heartbeat_ms) {
            bail!("cluster.heartbeat_ms: must be between 50 and 5000, got {}", self.heartbeat_ms);
        }
        if self.lease_ms < 3 * self.heartbeat_ms || self.lease_ms > 60_000 {
            bail!(
                "cluster.lease_ms: must be at least 3 heartbeats ({}) and at most 60000, got {}",
                3 * self.heartbeat_ms,
                self.lease_ms
            );
        }
        if !(10..=60_000).contains(&self.max_clock_skew_ms) {
            bail!("cluster.max_clock_skew_ms: must be between 10 and 60000, got {}", self.max_clock_skew_ms);
        }
        Ok(ClusterSettings {
            node: self.node.clone(),
            address,
            heartbeat: Duration::from_millis(self.heartbeat_ms),
            lease: Duration::from_millis(self.lease_ms),
            max_skew: Duration::from_millis(self.max_clock_skew_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_cluster_settings_are_named() {
        let listen: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let ok = ClusterConfig {
            node: "a".into(),
            address: None,
            heartbeat_ms: 100,
            lease_ms: 500,
            max_clock_skew_ms: 1000,
        };
        let trusted = [listen.ip()];
        assert_eq!(ok.settings(listen, &trusted).unwrap().address, listen);
        let err = |f: fn(&mut ClusterConfig)| {
            let mut c = ok.clone();
            f(&mut c);
            format!("{:#}", c.settings(listen, &trusted).unwrap_err())
        };
        assert!(format!("{:#}", ok.settings(listen, &[]).unwrap_err()).contains("not in trusted_proxies"));
        assert!(err(|c| c.node = "a b".into()).contains("cluster.node"));
        assert!(err(|c| c.node = String::new()).contains("cluster.node"));
        assert!(err(|c| c.address = Some("0.0.0.0:1".parse().unwrap())).contains("cluster.address"));
        assert!(err(|c| c.lease_ms = 200).contains("cluster.lease_ms"));
        assert!(err(|c| c.heartbeat_ms = 10).contains("cluster.heartbeat_ms"));
        assert!(err(|c| c.max_clock_skew_ms = 0).contains("cluster.max_clock_skew_ms"));
    }
}
