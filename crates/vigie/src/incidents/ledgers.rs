//! The ledgers an incident is scoped on: the node's own, or every node's of a cluster.
//!
//! Among several nodes each writes its own ledger (its own origin, key and witnesses), and an
//! agent's reads may sit in several of them: its sessions moved when a node died, or its
//! sign-in was answered by one node and its reads by the owner of its key group. Scoping reads
//! them all, as the cluster's table in PostgreSQL lists them (re-read at each question, so a
//! node that joined since is included), and merges what they found:
//!
//! - network selectors are resolved to sessions on every ledger first (a sign-in recorded by
//!   one node names a session whose reads another node recorded), then each ledger is asked for
//!   the resolved sessions too;
//! - each ledger is checked on its own (its checkpoint, witnesses and last verification); a
//!   problem on any of them makes the result unverified, named by node;
//! - an entry is cited by its node and its index in that node's ledger. Inside the merged
//!   result the node's position rides in the index's high bits ([`NODE_SHIFT`]): a ledger
//!   would need 2⁴⁸ entries to reach them. [`EntryRef`] splits it again for every file, proof
//!   and screen that names an entry.
//!
//! A node with nothing in the window (it joined later, or was idle) contributes nothing; the
//! window must still meet at least one ledger.

use std::collections::HashMap;
use std::path::PathBuf;

use vigie_core::incident::Selector;
use vigie_ledger::note::NoteVerifier;
use vigie_ledger::seal::KeyRing;
use vigie_scope::{Found, LedgerSource, Query, ScopeError, Trust};
use vigie_store_pg::StoreUrl;

/// Where a merged result's entry indexes keep their node's position.
pub const NODE_SHIFT: u32 = 48;
const INDEX_MASK: u64 = (1 << NODE_SHIFT) - 1;

/// Where the service reads ledgers from.
#[derive(Clone, Debug)]
pub enum Ledgers {
    /// This node's own ledger (the embedded store, or a single node on PostgreSQL).
    Own(OwnLedger),
    /// Every node of the cluster on this PostgreSQL database.
    Cluster(ClusterLedgers),
}

/// A cluster's ledgers: its database, and which node this is.
#[derive(Clone, Debug)]
pub struct ClusterLedgers {
    pub url: StoreUrl,
    pub ca_file: Option<PathBuf>,
    /// This node's name: only its own ledger's scoping index is brought up to date here; the
    /// others' are read as their nodes left them (what they do not cover is read from the log,
    /// with the same answer), never written to.
    pub node: String,
}

/// One ledger, as the service was configured with it.
#[derive(Clone, Debug)]
pub struct OwnLedger {
    pub dir: PathBuf,
    pub keys_dir: Option<PathBuf>,
    pub verifier: Option<NoteVerifier>,
    pub witness_dirs: Vec<PathBuf>,
}

/// One ledger to read: which node's (`None` for a node on its own) and how.
#[derive(Debug)]
pub struct Part {
    pub node: Option<String>,
    pub source: LedgerSource,
}

impl Part {
    /// Whether this process may bring the ledger's scoping index up to date: its own ledger
    /// only (another node's directory may be mounted read-only here, and is that node's to write).
    fn refreshes(&self, ledgers: &Ledgers, asked: bool) -> bool {
        asked
            && match (ledgers, &self.node) {
                (Ledgers::Own(_), _) => true,
                (Ledgers::Cluster(c), Some(n)) => *n == c.node,
                (Ledgers::Cluster(_), None) => false,
            }
    }
}

/// What one ledger said about itself during a query.
#[derive(Clone, Debug)]
pub struct PartTrust {
    pub node: Option<String>,
    pub dir: PathBuf,
    pub trust: Trust,
}

/// A query's result over every ledger, and each ledger's trust.
#[derive(Debug, Default)]
pub struct Merged {
    /// Rows of every ledger; indexes carry the node's position (see [`EntryRef`]). `trust` holds
    /// every ledger's problems, named by node, and no checkpoint: those are in `parts`.
    pub found: Found,
    pub parts: Vec<PartTrust>,
}

impl Merged {
    /// Each ledger's checkpoint cited: (origin, size, root in base64).
    pub fn checkpoints(&self) -> Vec<(String, u64, String)> {
        self.parts
            .iter()
            .filter_map(|p| p.trust.checkpoint.as_ref())
            .map(|c| (c.checkpoint.origin.clone(), c.checkpoint.size, base64_root(&c.checkpoint.root.0)))
            .collect()
    }

    /// The node of an entry of the merged result, and its index in that node's ledger.
    pub fn entry(&self, merged_index: u64) -> EntryRef<'_> {
        let position = (merged_index >> NODE_SHIFT) as usize;
        EntryRef { node: self.parts.get(position).and_then(|p| p.node.as_deref()), index: merged_index & INDEX_MASK }
    }
}

/// An entry as it is cited: `1234` on a node on its own, `n2:1234` among several.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryRef<'a> {
    pub node: Option<&'a str>,
    pub index: u64,
}

impl std::fmt::Display for EntryRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.node {
            Some(n) => write!(f, "{n}:{}", self.index),
            None => write!(f, "{}", self.index),
        }
    }
}

pub fn base64_root(root: &[u8; 32]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(root)
}

impl Ledgers {
    /// The ledgers to read now.
    pub fn parts(&self) -> Result<Vec<Part>, String> {
        match self {
            Ledgers::Own(own) => Ok(vec![Part {
                node: None,
                source: LedgerSource {
                    dir: own.dir.clone(),
                    keys: own.keys_dir.as_deref().map(KeyRing::new),
                    verifier: own.verifier.clone(),
                    witness_dirs: own.witness_dirs.clone(),
                },
            }]),
            Ledgers::Cluster(ClusterLedgers { url, ca_file, .. }) => {
                let nodes = vigie_store_pg::cluster::registered_nodes(url, ca_file.as_deref())
                    .map_err(|e| format!("reading the cluster's nodes: {e}"))?;
                if nodes.is_empty() {
                    return Err(format!("no node has joined a cluster on {url}"));
                }
                nodes
                    .into_iter()
                    .map(|n| {
                        let data_dir = PathBuf::from(&n.data_dir);
                        let dir = crate::app::ledger_dir(&data_dir);
                        let keys = crate::app::ledger_keys_dir(&data_dir);
                        // Its public key as it published it, never its signing key file (which
                        // would let this node sign for it); named for its origin.
                        let vkey = n.vkey.as_deref().ok_or_else(|| {
                            format!(
                                "node {}: has published no ledger public key (not started since it joined with this \
                                 version of Vigie): start it once",
                                n.name
                            )
                        })?;
                        let verifier = NoteVerifier::parse(vkey)
                            .map_err(|e| format!("node {}: its published ledger key: {e}", n.name))?;
                        if verifier.name() != n.origin {
                            return Err(format!(
                                "node {}: its published ledger key is for {:?}, not its origin {:?}",
                                n.name,
                                verifier.name(),
                                n.origin
                            ));
                        }
                        Ok(Part {
                            node: Some(n.name),
                            source: LedgerSource {
                                dir,
                                keys: keys.is_dir().then(|| KeyRing::new(&keys)),
                                verifier: Some(verifier),
                                witness_dirs: n.witness_dirs.iter().map(PathBuf::from).collect(),
                            },
                        })
                    })
                    .collect()
            }
        }
    }

    /// Runs `query` on every ledger and merges the results.
    pub fn run(&self, query: &Query, refresh_index: bool) -> Result<Merged, LedgersError> {
        let parts = self.parts().map_err(LedgersError::Nodes)?;
        if let [one] = parts.as_slice() {
            let found = vigie_scope::run(&one.source, query, one.refreshes(self, refresh_index))?;
            let trust = PartTrust { node: None, dir: one.source.dir.clone(), trust: found.trust.clone() };
            return Ok(Merged { found, parts: vec![trust] });
        }
        // A network stands for the sessions that signed in from it, on whichever node: resolve
        // it on every ledger before asking each for its rows.
        let mut query = query.clone();
        let networks: Vec<Selector> =
            query.selectors.iter().filter(|s| matches!(s, Selector::Network(_))).cloned().collect();
        if !networks.is_empty() {
            let probe = Query {
                window: query.window,
                selectors: networks.clone(),
                persons: Default::default(),
                security: false,
            };
            let mut sessions = vigie_core::incident::expand::Sessions::new();
            for part in &parts {
                match vigie_scope::run(&part.source, &probe, part.refreshes(self, refresh_index)) {
                    Ok(found) => found.security.iter().for_each(|r| sessions.learn(r)),
                    Err(ScopeError::OutsideLedger { .. } | ScopeError::EmptyLedger) => {}
                    Err(e) => return Err(in_node(part, e)),
                }
            }
            for n in &networks {
                if let Selector::Network(p) = n {
                    for s in sessions.in_network(*p) {
                        let s = Selector::Session(s);
                        if !query.selectors.contains(&s) {
                            query.selectors.push(s);
                        }
                    }
                }
            }
        }
        let mut merged = Merged::default();
        let mut outside = None;
        let mut shredded: HashMap<vigie_ledger::seal::Period, u64> = HashMap::new();
        for (position, part) in parts.iter().enumerate() {
            let node = part.node.clone().unwrap_or_default();
            let found = match vigie_scope::run(&part.source, &query, part.refreshes(self, refresh_index)) {
                Ok(found) => found,
                Err(e @ (ScopeError::OutsideLedger { .. } | ScopeError::EmptyLedger)) => {
                    // Nothing of this node's in the window; it is still checked and cited.
                    let trust = vigie_scope::trust::check(
                        &part.source.dir,
                        part.source.verifier.as_ref(),
                        &part.source.witness_dirs,
                    );
                    merged.found.trust.problems.extend(trust.problems.iter().map(|p| format!("node {node}: {p}")));
                    merged.parts.push(PartTrust { node: part.node.clone(), dir: part.source.dir.clone(), trust });
                    outside.get_or_insert(e);
                    continue;
                }
                Err(e) => return Err(in_node(part, e)),
            };
            let base = (position as u64) << NODE_SHIFT;
            let tag = |mut r: vigie_core::incident::scope::ScopeRow| {
                r.index |= base;
                r
            };
            let f = &mut merged.found;
            f.rows.extend(found.rows.into_iter().map(tag));
            f.person_rows.extend(found.person_rows.into_iter().map(tag));
            for mut s in found.security {
                s.index |= base;
                f.sessions.learn(&s);
                f.security.push(s);
            }
            for (p, n) in found.shredded {
                *shredded.entry(p).or_default() += n;
            }
            f.trust.problems.extend(found.trust.problems.iter().map(|p| format!("node {node}: {p}")));
            let s = &mut f.stats;
            s.index_files += found.stats.index_files;
            s.parts_read += found.stats.parts_read;
            s.tail_entries_read += found.stats.tail_entries_read;
            s.rows_checked += found.stats.rows_checked;
            s.sample_checked += found.stats.sample_checked;
            s.after_checkpoint += found.stats.after_checkpoint;
            f.span = match (f.span, found.span) {
                (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
                (x, None) | (None, x) => x,
            };
            merged.parts.push(PartTrust { node: part.node.clone(), dir: part.source.dir.clone(), trust: found.trust });
        }
        if merged.found.span.is_none()
            && let Some(e) = outside
        {
            return Err(e.into());
        }
        // Security events in time order across the ledgers (each ledger's own order is kept
        // for events of the same millisecond).
        merged.found.security.sort_by_key(|s| (s.event.at.0, s.index));
        merged.found.shredded = shredded.into_iter().collect();
        merged.found.shredded.sort_by_key(|(p, _)| p.0);
        Ok(merged)
    }
}

/// Why the ledgers could not answer.
#[derive(Debug, thiserror::Error)]
pub enum LedgersError {
    #[error("{0}")]
    Scope(Box<ScopeError>),
    #[error("node {node}: {error}")]
    Node { node: String, error: Box<ScopeError> },
    /// The cluster's list of nodes, or a node's key, could not be read.
    #[error("{0}")]
    Nodes(String),
}

impl From<ScopeError> for LedgersError {
    fn from(e: ScopeError) -> Self {
        LedgersError::Scope(Box::new(e))
    }
}

impl LedgersError {
    /// The window meets no ledger (nothing to find, rather than a failure).
    pub fn outside(&self) -> bool {
        matches!(self, LedgersError::Scope(e) if matches!(**e, ScopeError::OutsideLedger { .. } | ScopeError::EmptyLedger))
    }
}

fn in_node(part: &Part, error: ScopeError) -> LedgersError {
    match &part.node {
        Some(n) => LedgersError::Node { node: n.clone(), error: Box::new(error) },
        None => error.into(),
    }
}
