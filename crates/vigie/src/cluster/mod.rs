//! This node among several (ARCHITECTURE.md, "PostgreSQL and several nodes"): its lease in
//! PostgreSQL, the key groups it owns, and the thread that keeps both.
//!
//! - [`Node`] answers the HTTP layer's question "which node judges this agent?"
//!   (`vigie_http::shared::cluster::Cluster`): here when this node owns the agent's key group,
//!   has rebuilt its state, and its lease is live by its own clock (measured from when the
//!   heartbeat was *sent*, so it stops before the database lets another node start); the owner's
//!   address otherwise; nobody during a hand-over.
//! - The heartbeat thread ([`start`]) renews the lease, reads who owns what, gives groups up
//!   when it holds more than its share (after the requests it admitted are answered, so durable),
//!   claims free groups and groups of nodes whose lease is over when it holds fewer, and rebuilds
//!   the detector state of the agents it claimed from the other nodes' ledgers ([`rebuild`])
//!   before judging them.
//! - [`fence::Fenced`] wraps the detector: an event of an agent this node does not judge is
//!   refused (a race between a placement and a lost lease), never judged with partial state.

pub mod fence;
pub mod rebuild;
pub mod sketches;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

use vigie_core::detect::ExfiltrationDetector;
use vigie_core::ids::AgentId;
use vigie_core::route::{KEY_GROUPS, key_group};
use vigie_core::time::Clock;
use vigie_http::shared::cluster::{Cluster, Place};
use vigie_store_pg::cluster::{ClusterDb, ClusterError, View};

use crate::config_cluster::ClusterSettings;

/// A key group this node does not own.
const OTHER: u8 = 0;
/// Claimed; its agents' state is being rebuilt: nobody judges them yet.
const REBUILDING: u8 = 1;
/// Owned and judged here.
const JUDGING: u8 = 2;

/// This node's view of the cluster, shared with the HTTP layer and the detector's fence.
pub struct Node {
    pub settings: ClusterSettings,
    key: [u8; 32],
    groups: Vec<AtomicU8>,
    /// Each group's owner's address, as of the last heartbeat.
    owners: RwLock<Vec<Option<SocketAddr>>>,
    base: Instant,
    /// The lease's end by this node's monotonic clock (ms after `base`).
    lease_until: AtomicU64,
    /// Replaced by another process under its name: never judges again.
    superseded: AtomicBool,
    /// Its clock is off the database's by more than the bound: does not judge until it is not.
    skewed: AtomicBool,
    gate: tokio::sync::RwLock<()>,
    /// When this node last took over groups, and how long the rebuild took (for the operator).
    pub last_takeover: std::sync::Mutex<Option<Takeover>>,
}

/// One take-over of key groups.
#[derive(Debug, Clone)]
pub struct Takeover {
    pub groups: usize,
    pub events: usize,
    pub rebuild_ms: u64,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("node", &self.settings.node)
            .field("judging", &self.judging())
            .finish_non_exhaustive()
    }
}

impl Node {
    pub fn new(settings: ClusterSettings, key: [u8; 32]) -> Node {
        Node {
            settings,
            key,
            groups: (0..KEY_GROUPS).map(|_| AtomicU8::new(OTHER)).collect(),
            owners: RwLock::new(vec![None; usize::from(KEY_GROUPS)]),
            base: Instant::now(),
            lease_until: AtomicU64::new(0),
            superseded: AtomicBool::new(false),
            skewed: AtomicBool::new(false),
            gate: tokio::sync::RwLock::new(()),
            last_takeover: std::sync::Mutex::new(None),
        }
    }

    fn ms(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.base).as_millis() as u64
    }

    fn lease_live(&self) -> bool {
        self.ms(Instant::now()) < self.lease_until.load(Ordering::SeqCst)
            && !self.superseded.load(Ordering::SeqCst)
            && !self.skewed.load(Ordering::SeqCst)
    }

    /// Whether this node may judge key group `kg` now.
    pub fn judges(&self, kg: u16) -> bool {
        self.groups.get(usize::from(kg)).is_some_and(|g| g.load(Ordering::SeqCst) == JUDGING) && self.lease_live()
    }

    /// Key groups judged here.
    pub fn judging(&self) -> usize {
        self.groups.iter().filter(|g| g.load(Ordering::SeqCst) == JUDGING).count()
    }
}

impl Cluster for Node {
    fn place(&self, agent: AgentId) -> Place {
        let kg = key_group(agent);
        if self.judges(kg) {
            return Place::Here;
        }
        let owner = self.owners.read().ok().and_then(|o| o.get(usize::from(kg)).copied().flatten());
        match owner {
            Some(addr) if addr != self.settings.address => Place::Peer(addr),
            _ => Place::Unavailable,
        }
    }

    fn route(&self, agent: AgentId) -> String {
        vigie_core::route::issue(agent, &self.key)
    }

    fn verify_route(&self, value: &str) -> Option<u16> {
        vigie_core::route::verify(value, &self.key)
    }

    fn gate(&self) -> &tokio::sync::RwLock<()> {
        &self.gate
    }
}

/// The heartbeat thread; stopping it (drop) leaves the cluster cleanly.
#[derive(Debug)]
pub struct Running {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    lease_stop: Option<std::sync::mpsc::Sender<()>>,
    lease_thread: Option<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        // The groups first (the manager frees them), then the lease.
        drop(self.stop.take());
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::warn!("the cluster thread panicked");
        }
        drop(self.lease_stop.take());
        if let Some(t) = self.lease_thread.take()
            && t.join().is_err()
        {
            tracing::warn!("the cluster lease thread panicked");
        }
    }
}

/// What the heartbeat thread works with.
pub struct Heart {
    pub node: Arc<Node>,
    pub db: ClusterDb,
    pub detector: Option<Arc<ExfiltrationDetector>>,
    pub clock: Arc<dyn Clock>,
    /// This node's data directory (its own ledger is not replayed on a take-over: its events
    /// are already in its state).
    pub data_dir: PathBuf,
    pub sketches: sketches::Exchange,
}

impl std::fmt::Debug for Heart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heart").field("node", &self.node).field("db", &self.db).finish_non_exhaustive()
    }
}

/// Starts the lease thread (renewals only, on a connection of its own) and the thread that
/// manages the groups.
pub fn start(heart: Heart) -> anyhow::Result<Running> {
    let lease_db = heart.db.another().map_err(|e| anyhow::anyhow!("{e}"))?;
    let (lease_stop, lease_stopped) = std::sync::mpsc::channel::<()>();
    let (node, clock) = (heart.node.clone(), heart.clock.clone());
    let lease_thread = std::thread::Builder::new()
        .name("cluster-lease".into())
        .spawn(move || renew(&node, lease_db, clock.as_ref(), &lease_stopped))
        .map_err(|e| anyhow::anyhow!("cannot start the cluster lease thread: {e}"))?;
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("cluster-groups".into())
        .spawn(move || run(heart, &stopped))
        .map_err(|e| anyhow::anyhow!("cannot start the cluster thread: {e}"))?;
    Ok(Running {
        stop: Some(stop),
        thread: Some(thread),
        lease_stop: Some(lease_stop),
        lease_thread: Some(lease_thread),
    })
}

/// Renews the lease every heartbeat, and checks the clock every ten. A renewal that comes after
/// the lease lapsed (this process stalled, or the database was out of reach) first forgets every
/// group: the others may have taken them meanwhile, and the manager claims again from scratch.
fn renew(node: &Node, mut db: ClusterDb, clock: &dyn Clock, stopped: &std::sync::mpsc::Receiver<()>) {
    let mut beats: u64 = 0;
    let mut failing = false;
    loop {
        let sent = Instant::now();
        let renewed = db.reconnect_if_closed().and_then(|()| db.heartbeat(node.settings.lease));
        match renewed {
            Ok(()) => {
                if node.ms(sent) >= node.lease_until.load(Ordering::SeqCst)
                    && node.groups.iter().any(|g| g.load(Ordering::SeqCst) != OTHER)
                {
                    tracing::warn!(node = %node.settings.node, "the lease had lapsed: this node forgets its key groups and claims again");
                    for g in &node.groups {
                        g.store(OTHER, Ordering::SeqCst);
                    }
                }
                // Ends a tenth early: the database's lease started after `sent`.
                let lease = node.settings.lease - node.settings.lease / 10;
                node.lease_until.store(node.ms(sent + lease), Ordering::SeqCst);
                if failing {
                    tracing::warn!(node = %node.settings.node, "cluster lease renewed again");
                }
                failing = false;
            }
            Err(e) => {
                if !failing {
                    tracing::error!(node = %node.settings.node, error = %e, "cluster lease not renewed: this node stops judging when it ends");
                }
                failing = true;
                if matches!(e, ClusterError::Superseded(_)) {
                    node.superseded.store(true, Ordering::SeqCst);
                }
            }
        }
        if beats.is_multiple_of(10) {
            match db.check_clock(node.settings.max_skew, || clock.now().millis()) {
                Ok(_) => {
                    if node.skewed.swap(false, Ordering::SeqCst) {
                        tracing::warn!("this node's clock is back within the bound: judging again");
                    }
                }
                Err(e @ ClusterError::ClockSkew { .. }) => {
                    if !node.skewed.swap(true, Ordering::SeqCst) {
                        tracing::error!(error = %e, "this node stops judging");
                    }
                }
                Err(_) => {}
            }
        }
        beats += 1;
        match stopped.recv_timeout(node.settings.heartbeat) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            _ => break,
        }
    }
}

fn run(mut heart: Heart, stopped: &std::sync::mpsc::Receiver<()>) {
    let every = heart.node.settings.heartbeat;
    let mut beats: u64 = 0;
    let mut failing = false;
    let mut exchanged = Instant::now();
    loop {
        if exchanged.elapsed() >= sketches::EVERY
            && let Some(detector) = heart.detector.clone()
        {
            exchanged = Instant::now();
            let now = heart.clock.now();
            if let Err(e) = heart.sketches.run(&mut heart.db, &detector, now) {
                tracing::warn!(error = %e, "organizations' counts not exchanged with the other nodes this time");
            }
        }
        match beat(&mut heart, beats) {
            Ok(()) => {
                if failing {
                    tracing::warn!(node = %heart.node.settings.node, "cluster tables readable again");
                }
                failing = false;
            }
            Err(e) => {
                if !failing {
                    tracing::error!(node = %heart.node.settings.node, error = %e, "cluster tables unreadable: no group claimed or given up meanwhile");
                }
                failing = true;
            }
        }
        beats += 1;
        match stopped.recv_timeout(every) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            _ => break,
        }
    }
    // A clean stop: the groups are free at once, the others take them without waiting out the lease.
    heart.node.lease_until.store(0, Ordering::SeqCst);
    let _exclusive = heart.node.gate.blocking_write();
    if let Err(e) = heart.db.leave() {
        tracing::warn!(error = %e, "leaving the cluster failed: the others take this node's agents when its lease ends");
    }
}

/// One round: read, give up or claim, rebuild.
fn beat(heart: &mut Heart, _n: u64) -> Result<(), ClusterError> {
    let node = heart.node.clone();
    heart.db.reconnect_if_closed()?;
    let view = heart.db.view()?;
    apply(&node, &view);
    let live = view.nodes.iter().filter(|p| p.live).count().max(1);
    let share = usize::from(KEY_GROUPS).div_ceil(live);
    let owned: Vec<u16> =
        (0..KEY_GROUPS).filter(|kg| node.groups[usize::from(*kg)].load(Ordering::SeqCst) != OTHER).collect();
    if owned.len() > share {
        give_up(heart, &owned[share..])?;
    } else if owned.len() < share && node.lease_live() {
        let claimed = heart.db.claim(share - owned.len())?;
        if !claimed.is_empty() {
            take_over(heart, &claimed, &view);
        }
    }
    Ok(())
}

/// Takes in the owners' addresses; forgets groups another node holds now (this node's lease
/// lapsed and they were taken).
fn apply(node: &Node, view: &View) {
    let me = view.nodes.iter().position(|p| p.name == node.settings.node);
    let addresses: Vec<Option<SocketAddr>> = view
        .owners
        .iter()
        .map(|o| o.and_then(|i| view.nodes.get(i)).filter(|p| p.live).and_then(|p| p.address.parse().ok()))
        .collect();
    let mut lost = 0;
    for (kg, owner) in view.owners.iter().enumerate() {
        if *owner != me && me.is_some() && node.groups[kg].swap(OTHER, Ordering::SeqCst) == JUDGING {
            lost += 1;
        }
    }
    if lost > 0 {
        tracing::warn!(groups = lost, "key groups taken by other nodes while this one's lease had lapsed");
    }
    if let Ok(mut o) = node.owners.write() {
        *o = addresses;
    }
}

/// Stops judging `groups`, waits for the requests already admitted to be answered (so their
/// ledger entries are durable), then frees them in the database for another node to claim.
fn give_up(heart: &mut Heart, groups: &[u16]) -> Result<(), ClusterError> {
    for kg in groups {
        heart.node.groups[usize::from(*kg)].store(OTHER, Ordering::SeqCst);
    }
    drop(heart.node.gate.blocking_write());
    heart.db.release(groups)?;
    tracing::info!(node = %heart.node.settings.node, groups = groups.len(), "key groups given up to balance the cluster");
    Ok(())
}

/// Rebuilds the claimed groups' detector state from the other nodes' ledgers, then judges them.
fn take_over(heart: &mut Heart, claimed: &[u16], view: &View) {
    let started = Instant::now();
    for kg in claimed {
        heart.node.groups[usize::from(*kg)].store(REBUILDING, Ordering::SeqCst);
    }
    let mut events = 0;
    if let Some(detector) = &heart.detector {
        let mut wanted = vec![false; usize::from(KEY_GROUPS)];
        for kg in claimed {
            wanted[usize::from(*kg)] = true;
        }
        let others: Vec<PathBuf> = view
            .nodes
            .iter()
            .filter(|p| p.name != heart.node.settings.node)
            .map(|p| PathBuf::from(&p.data_dir))
            .filter(|d| *d != heart.data_dir)
            .collect();
        events = rebuild::replay(detector, &others, &wanted, heart.clock.now());
    }
    for kg in claimed {
        // Unless the view in between found it taken (this node's lease lapsed meanwhile).
        let _ = heart.node.groups[usize::from(*kg)].compare_exchange(
            REBUILDING,
            JUDGING,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }
    let rebuild_ms = started.elapsed().as_millis() as u64;
    tracing::info!(node = %heart.node.settings.node, groups = claimed.len(), events, rebuild_ms, "key groups taken over");
    if let Ok(mut t) = heart.node.last_takeover.lock() {
        *t = Some(Takeover { groups: claimed.len(), events, rebuild_ms });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn node() -> Node {
        let settings = crate::config_cluster::ClusterConfig {
            node: "a".into(),
            address: Some("127.0.0.1:1".parse().unwrap()),
            heartbeat_ms: 100,
            lease_ms: 500,
            max_clock_skew_ms: 1000,
        }
        .settings("127.0.0.1:1".parse().unwrap(), &["127.0.0.1".parse().unwrap()])
        .unwrap();
        Node::new(settings, [3; 32])
    }

    #[test]
    fn an_agent_is_judged_here_only_while_its_group_is_owned_rebuilt_and_the_lease_live() {
        let n = node();
        let agent = AgentId::new(42).unwrap();
        let kg = usize::from(key_group(agent));
        let peer: SocketAddr = "127.0.0.1:2".parse().unwrap();
        // Nobody known: refused, never judged here.
        assert_eq!(n.place(agent), Place::Unavailable);
        // Another node owns it: forwarded.
        n.owners.write().unwrap()[kg] = Some(peer);
        assert_eq!(n.place(agent), Place::Peer(peer));
        // Claimed here but still rebuilding: refused (the owners' table says this node).
        n.owners.write().unwrap()[kg] = Some(n.settings.address);
        n.groups[kg].store(REBUILDING, Ordering::SeqCst);
        n.lease_until.store(n.ms(Instant::now()) + 10_000, Ordering::SeqCst);
        assert_eq!(n.place(agent), Place::Unavailable);
        assert!(!n.judges(key_group(agent)));
        n.groups[kg].store(JUDGING, Ordering::SeqCst);
        assert_eq!(n.place(agent), Place::Here);
        // The lease lapsed by this node's clock: it stops at once.
        n.lease_until.store(0, Ordering::SeqCst);
        assert_eq!(n.place(agent), Place::Unavailable);
        assert!(!n.judges(key_group(agent)));
        // A clock off the database's, or a node replaced under its name: the same.
        n.lease_until.store(n.ms(Instant::now()) + 10_000, Ordering::SeqCst);
        n.skewed.store(true, Ordering::SeqCst);
        assert!(!n.judges(key_group(agent)));
        n.skewed.store(false, Ordering::SeqCst);
        n.superseded.store(true, Ordering::SeqCst);
        assert!(!n.judges(key_group(agent)));
    }

    #[test]
    fn the_routing_value_is_the_clusters_and_names_the_agents_group() {
        let n = node();
        let agent = AgentId::new(7).unwrap();
        let value = n.route(agent);
        assert_eq!(n.verify_route(&value), Some(key_group(agent)));
        assert_eq!(Node::new(n.settings.clone(), [4; 32]).verify_route(&value), None, "another cluster's key");
    }
}
