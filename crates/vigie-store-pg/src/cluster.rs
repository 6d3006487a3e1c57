//! Several nodes on one database: membership with leases, ownership of key groups, and the
//! organizations' HyperLogLog registers, in the schema `vigie_cluster` (ARCHITECTURE.md,
//! "PostgreSQL and several nodes").
//!
//! Not in the schema `vigie`: a bulk load swaps that schema whole (see `load.rs`), and the
//! running nodes' leases and groups must survive a load. The tables are created here, under the
//! migrations' advisory lock, with `IF NOT EXISTS` (every statement is idempotent, so several
//! nodes joining at once create them once).
//!
//! Time is the database's: a lease runs until the server's `now() + lease`, and a group is free
//! to claim once its owner's lease is over *by the server's clock*. A node never compares its
//! own clock with another's; it measures its own lease from the moment it *sent* the heartbeat
//! (earlier than the server granted it), so it always stops judging before the others may start.
//!
//! Each node holds one connection of its own for this ([`ClusterDb`]), outside the store's pool:
//! requests that wait for the pool must not delay a heartbeat into a lost lease.

use std::time::Duration;

use postgres::error::SqlState;

use crate::error::PgOpenError;
use crate::target::StoreUrl;

/// Key groups of the cluster (the same as `vigie_core::route::KEY_GROUPS`).
pub const KEY_GROUPS: i32 = 4096;

const SCHEMA: &str = r#"
CREATE SCHEMA IF NOT EXISTS vigie_cluster;
CREATE TABLE IF NOT EXISTS vigie_cluster.settings (
    id        boolean PRIMARY KEY DEFAULT true CHECK (id),
    route_key bytea NOT NULL CHECK (length(route_key) = 32),
    hll_key   bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS vigie_cluster.nodes (
    name        text PRIMARY KEY,
    address     text NOT NULL,
    data_dir    text NOT NULL,
    origin      text NOT NULL,
    key_file    text NOT NULL,
    witness_dirs text[] NOT NULL,
    incarnation bigint NOT NULL,
    lease_until timestamptz NOT NULL,
    joined_at   timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS vigie_cluster.key_groups (
    kg    integer PRIMARY KEY CHECK (kg >= 0 AND kg < 4096),
    node  text REFERENCES vigie_cluster.nodes (name),
    epoch bigint NOT NULL DEFAULT 0
);
INSERT INTO vigie_cluster.key_groups (kg) SELECT g FROM generate_series(0, 4095) g ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS vigie_cluster.org_sketches (
    org        bigint NOT NULL,
    node       text NOT NULL REFERENCES vigie_cluster.nodes (name),
    sketch     bytea NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (org, node)
);
-- Each node's ledger public key (note verifier key), published once its ledger is open: what
-- the other nodes check its checkpoints with (never its signing key file).
ALTER TABLE vigie_cluster.nodes ADD COLUMN IF NOT EXISTS vkey text;
"#;

/// Why a node could not join, or a cluster call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{0}")]
    Open(#[from] PgOpenError),
    #[error("PostgreSQL at {target}: {detail}")]
    Db { target: String, detail: String },
    #[error(
        "node {name:?} is already running (its lease in PostgreSQL is live, at {address}); two processes cannot share a node name"
    )]
    NameTaken { name: String, address: String },
    #[error("ledger origin {origin:?} is already node {other:?}'s: each node needs its own ([ledger] origin)")]
    OriginTaken { origin: String, other: String },
    #[error(
        "this node's clock is {skew_ms} ms off the database's (PostgreSQL at {target}); at most {bound_ms} ms is allowed \
         ([cluster] max_clock_skew_ms): fix the node's time synchronization (NTP)"
    )]
    ClockSkew { target: String, skew_ms: i64, bound_ms: i64 },
    #[error("node {0:?} was replaced by another process under its name: this one stops judging")]
    Superseded(String),
}

/// What a node tells the others when it joins.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: String,
    /// Where the others forward requests to it (`host:port`).
    pub address: String,
    /// Its data directory (its ledger and keys), where the others read its ledger from.
    pub data_dir: String,
    /// Its ledger's origin line.
    pub origin: String,
    /// Its ledger's signing key file, and the directories its checkpoints are witnessed in:
    /// what a verification of every node's ledger needs.
    pub key_file: String,
    pub witness_dirs: Vec<String>,
}

/// A node as the others see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    pub address: String,
    pub data_dir: String,
    pub live: bool,
}

/// The cluster as seen at one heartbeat: the nodes, and each key group's owner (an index into
/// `nodes`).
#[derive(Debug, Clone, Default)]
pub struct View {
    pub nodes: Vec<Peer>,
    pub owners: Vec<Option<usize>>,
}

/// The keys every node of the cluster shares, drawn by the first one (a CSPRNG's output:
/// `gen_random_uuid()`) into `vigie_cluster.settings`.
#[derive(Clone, Copy)]
pub struct ClusterKeys {
    /// Signs the routing values.
    pub route: [u8; 32],
    /// Keys the organizations' HyperLogLog hash, so that their sketches merge across nodes.
    pub hll: u64,
}

impl std::fmt::Debug for ClusterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterKeys(..)")
    }
}

/// A node's dedicated connection to the cluster tables.
pub struct ClusterDb {
    client: postgres::Client,
    url: StoreUrl,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    target: String,
    name: String,
    incarnation: i64,
}

impl std::fmt::Debug for ClusterDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterDb").field("target", &self.target).field("name", &self.name).finish_non_exhaustive()
    }
}

impl ClusterDb {
    /// Connects, creates the cluster tables if missing, checks the clock against the server's,
    /// waits out a previous incarnation's lease (a restart after a crash), refuses a name or an
    /// origin another live node holds, registers this node with a lease, and gives back the
    /// groups a previous incarnation held (their detector state is in its ledger, which the
    /// claimer replays). Returns the connection and the cluster's keys.
    /// Publishes this node's ledger public key (its note verifier key), for the other nodes'
    /// scoping and verification.
    pub fn publish_vkey(&mut self, vkey: &str) -> Result<(), ClusterError> {
        self.client
            .execute(
                "UPDATE vigie_cluster.nodes SET vkey = $3 WHERE name = $1 AND incarnation = $2",
                &[&self.name, &self.incarnation, &vkey],
            )
            .map_err(|e| db_error(&self.target, &e))?;
        Ok(())
    }

    pub fn join(
        url: &StoreUrl,
        ca_file: Option<&std::path::Path>,
        node: &NodeInfo,
        lease: Duration,
        max_skew: Duration,
        local_now_ms: impl Fn() -> i64,
    ) -> Result<(ClusterDb, ClusterKeys), ClusterError> {
        let tls = crate::tls::connector(ca_file)?;
        let client = crate::connect::first(url, &tls, Duration::from_secs(30))?;
        let mut db = ClusterDb {
            client,
            url: url.clone(),
            tls,
            target: url.to_string(),
            name: node.name.clone(),
            incarnation: 0,
        };
        // The schema's `IF NOT EXISTS` notices are not worth a log line each.
        db.client.batch_execute("SET client_min_messages = warning").map_err(|e| db_error(&db.target, &e))?;
        let mut tx = db.client.transaction().map_err(|e| db_error(&db.target, &e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&crate::schema::LOCK_KEY])
            .map_err(|e| db_error(&db.target, &e))?;
        tx.batch_execute(SCHEMA).map_err(|e| db_error(&db.target, &e))?;
        tx.commit().map_err(|e| db_error(&db.target, &e))?;
        db.ensure_route_key()?;
        db.check_clock(max_skew, &local_now_ms)?;
        let key = db.keys()?;
        // A previous incarnation's lease (a crash and a quick restart): wait it out rather than
        // judge beside a process that may still be running.
        let deadline = std::time::Instant::now() + lease * 4;
        loop {
            let row = db
                .client
                .query_opt(
                    "SELECT address, lease_until > now() FROM vigie_cluster.nodes WHERE name = $1",
                    &[&node.name],
                )
                .map_err(|e| db_error(&db.target, &e))?;
            match row {
                Some(r) if r.get::<_, bool>(1) => {
                    if std::time::Instant::now() >= deadline {
                        return Err(ClusterError::NameTaken { name: node.name.clone(), address: r.get(0) });
                    }
                    std::thread::sleep(lease / 4);
                }
                _ => break,
            }
        }
        let other: Option<String> = db
            .client
            .query_opt(
                "SELECT name FROM vigie_cluster.nodes WHERE origin = $1 AND name <> $2 AND lease_until > now()",
                &[&node.origin, &node.name],
            )
            .map_err(|e| db_error(&db.target, &e))?
            .map(|r| r.get(0));
        if let Some(other) = other {
            return Err(ClusterError::OriginTaken { origin: node.origin.clone(), other });
        }
        let lease_ms = lease.as_millis() as i64;
        let mut tx = db.client.transaction().map_err(|e| db_error(&db.target, &e))?;
        let incarnation: i64 = tx
            .query_one(
                "INSERT INTO vigie_cluster.nodes (name, address, data_dir, origin, key_file, witness_dirs, incarnation, \
                 lease_until, joined_at) \
                 VALUES ($1, $2, $3, $4, $6, $7, 1, now() + $5::bigint * interval '1 millisecond', now()) \
                 ON CONFLICT (name) DO UPDATE SET address = $2, data_dir = $3, origin = $4, key_file = $6, \
                 witness_dirs = $7, incarnation = nodes.incarnation + 1, lease_until = excluded.lease_until, \
                 joined_at = now() \
                 RETURNING incarnation",
                &[&node.name, &node.address, &node.data_dir, &node.origin, &lease_ms, &node.key_file, &node.witness_dirs],
            )
            .map_err(|e| db_error(&db.target, &e))?
            .get(0);
        tx.execute("UPDATE vigie_cluster.key_groups SET node = NULL, epoch = epoch + 1 WHERE node = $1", &[&node.name])
            .map_err(|e| db_error(&db.target, &e))?;
        tx.commit().map_err(|e| db_error(&db.target, &e))?;
        db.incarnation = incarnation;
        Ok((db, key))
    }

    /// Another connection for the same node (its lease is renewed on one connection and thread,
    /// the groups managed on another: a slow take-over never delays a renewal).
    pub fn another(&self) -> Result<ClusterDb, ClusterError> {
        let mut client = crate::connect::first(&self.url, &self.tls, Duration::from_secs(5))?;
        client.batch_execute("SET client_min_messages = warning").map_err(|e| db_error(&self.target, &e))?;
        Ok(ClusterDb {
            client,
            url: self.url.clone(),
            tls: self.tls.clone(),
            target: self.target.clone(),
            name: self.name.clone(),
            incarnation: self.incarnation,
        })
    }

    /// The server has no `pgcrypto` necessarily: the key is drawn from `gen_random_uuid()`
    /// (PostgreSQL 13+, a CSPRNG), two of them for 32 bytes.
    fn ensure_route_key(&mut self) -> Result<(), ClusterError> {
        self.client
            .execute(
                "INSERT INTO vigie_cluster.settings (route_key, hll_key) \
                 VALUES (uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()), \
                         ('x' || encode(substr(uuid_send(gen_random_uuid()), 1, 8), 'hex'))::bit(64)::bigint) \
                 ON CONFLICT DO NOTHING",
                &[],
            )
            .map_err(|e| db_error(&self.target, &e))?;
        Ok(())
    }

    fn keys(&mut self) -> Result<ClusterKeys, ClusterError> {
        let row = self
            .client
            .query_one("SELECT route_key, hll_key FROM vigie_cluster.settings", &[])
            .map_err(|e| db_error(&self.target, &e))?;
        let route: Vec<u8> = row.get(0);
        let hll: i64 = row.get(1);
        let route = route.try_into().map_err(|_| ClusterError::Db {
            target: self.target.clone(),
            detail: "vigie_cluster.settings.route_key is not 32 bytes".into(),
        })?;
        Ok(ClusterKeys { route, hll: hll as u64 })
    }

    /// Refuses a local clock further than `max_skew` from the server's. Returns the skew (ms,
    /// local minus server, corrected by half the round trip).
    pub fn check_clock(&mut self, max_skew: Duration, local_now_ms: impl Fn() -> i64) -> Result<i64, ClusterError> {
        let before = local_now_ms();
        let server: i64 = self
            .client
            .query_one("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint", &[])
            .map_err(|e| db_error(&self.target, &e))?
            .get(0);
        let after = local_now_ms();
        let skew = (before + after) / 2 - server;
        if skew.unsigned_abs() > max_skew.as_millis() as u64 {
            return Err(ClusterError::ClockSkew {
                target: self.target.clone(),
                skew_ms: skew,
                bound_ms: max_skew.as_millis() as i64,
            });
        }
        Ok(skew)
    }

    /// Renews this node's lease until the server's `now() + lease`. `Superseded` if another
    /// process took the name since (this one must stop judging for good).
    pub fn heartbeat(&mut self, lease: Duration) -> Result<(), ClusterError> {
        let lease_ms = lease.as_millis() as i64;
        let n = self
            .client
            .execute(
                "UPDATE vigie_cluster.nodes SET lease_until = now() + $3::bigint * interval '1 millisecond' \
                 WHERE name = $1 AND incarnation = $2",
                &[&self.name, &self.incarnation, &lease_ms],
            )
            .map_err(|e| db_error(&self.target, &e))?;
        if n == 0 {
            return Err(ClusterError::Superseded(self.name.clone()));
        }
        Ok(())
    }

    /// The nodes and the owner of every key group.
    pub fn view(&mut self) -> Result<View, ClusterError> {
        let rows = self
            .client
            .query("SELECT name, address, data_dir, lease_until > now() FROM vigie_cluster.nodes ORDER BY name", &[])
            .map_err(|e| db_error(&self.target, &e))?;
        let nodes: Vec<Peer> = rows
            .iter()
            .map(|r| Peer { name: r.get(0), address: r.get(1), data_dir: r.get(2), live: r.get(3) })
            .collect();
        let mut owners = vec![None; KEY_GROUPS as usize];
        for r in self
            .client
            .query("SELECT kg, node FROM vigie_cluster.key_groups WHERE node IS NOT NULL", &[])
            .map_err(|e| db_error(&self.target, &e))?
        {
            let kg: i32 = r.get(0);
            let node: String = r.get(1);
            if let (Some(slot), Some(i)) = (owners.get_mut(kg as usize), nodes.iter().position(|n| n.name == node)) {
                *slot = Some(i);
            }
        }
        Ok(View { nodes, owners })
    }

    /// Claims at most `want` key groups that nobody owns or whose owner's lease is over, while
    /// this node's own lease is live (checked in the same statement). Returns the groups claimed.
    pub fn claim(&mut self, want: usize) -> Result<Vec<u16>, ClusterError> {
        if want == 0 {
            return Ok(Vec::new());
        }
        let rows = self
            .client
            .query(
                "WITH me AS (SELECT 1 FROM vigie_cluster.nodes WHERE name = $1 AND incarnation = $2 AND lease_until > now()), \
                 free AS (SELECT k.kg FROM vigie_cluster.key_groups k LEFT JOIN vigie_cluster.nodes n ON n.name = k.node \
                          WHERE EXISTS (SELECT 1 FROM me) AND (k.node IS NULL OR n.lease_until <= now()) \
                          ORDER BY k.kg LIMIT $3 FOR UPDATE OF k SKIP LOCKED) \
                 UPDATE vigie_cluster.key_groups k SET node = $1, epoch = k.epoch + 1 FROM free WHERE k.kg = free.kg \
                 RETURNING k.kg",
                &[&self.name, &self.incarnation, &(want as i64)],
            )
            .map_err(|e| db_error(&self.target, &e))?;
        Ok(rows.iter().map(|r| r.get::<_, i32>(0) as u16).collect())
    }

    /// Gives up `groups` (this node stopped judging them and every read it judged is durable).
    pub fn release(&mut self, groups: &[u16]) -> Result<(), ClusterError> {
        let groups: Vec<i32> = groups.iter().map(|g| i32::from(*g)).collect();
        self.client
            .execute(
                "UPDATE vigie_cluster.key_groups SET node = NULL, epoch = epoch + 1 WHERE node = $1 AND kg = ANY($2)",
                &[&self.name, &groups],
            )
            .map_err(|e| db_error(&self.target, &e))?;
        Ok(())
    }

    /// Leaves the cluster on a clean stop: its groups are free at once, its lease is over.
    pub fn leave(&mut self) -> Result<(), ClusterError> {
        let mut tx = self.client.transaction().map_err(|e| db_error(&self.target, &e))?;
        tx.execute("UPDATE vigie_cluster.key_groups SET node = NULL, epoch = epoch + 1 WHERE node = $1", &[&self.name])
            .map_err(|e| db_error(&self.target, &e))?;
        tx.execute(
            "UPDATE vigie_cluster.nodes SET lease_until = now() WHERE name = $1 AND incarnation = $2",
            &[&self.name, &self.incarnation],
        )
        .map_err(|e| db_error(&self.target, &e))?;
        tx.commit().map_err(|e| db_error(&self.target, &e))
    }

    /// Publishes this node's registers of each organization's sketch (encoded by the caller).
    pub fn publish_sketches(&mut self, sketches: &[(i64, Vec<u8>)]) -> Result<(), ClusterError> {
        if sketches.is_empty() {
            return Ok(());
        }
        let mut tx = self.client.transaction().map_err(|e| db_error(&self.target, &e))?;
        for (org, sketch) in sketches {
            tx.execute(
                "INSERT INTO vigie_cluster.org_sketches (org, node, sketch, updated_at) VALUES ($1, $2, $3, now()) \
                 ON CONFLICT (org, node) DO UPDATE SET sketch = excluded.sketch, updated_at = now()",
                &[org, &self.name, sketch],
            )
            .map_err(|e| db_error(&self.target, &e))?;
        }
        tx.commit().map_err(|e| db_error(&self.target, &e))
    }

    /// The other nodes' sketches written after `after_ms` (the server's time, ms), per
    /// organization, with when each was written.
    pub fn others_sketches(&mut self, after_ms: i64) -> Result<Vec<(i64, Vec<u8>, i64)>, ClusterError> {
        let rows = self
            .client
            .query(
                "SELECT org, sketch, (extract(epoch FROM updated_at) * 1000)::bigint FROM vigie_cluster.org_sketches \
                 WHERE node <> $1 AND updated_at > to_timestamp($2::bigint / 1000.0)",
                &[&self.name, &after_ms],
            )
            .map_err(|e| db_error(&self.target, &e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }

    /// Reconnects if the connection was lost (the server restarted): one attempt, so that the
    /// heartbeat loop keeps its pace; the lease runs out meanwhile, which is the point.
    pub fn reconnect_if_closed(&mut self) -> Result<(), ClusterError> {
        if self.client.is_closed() {
            self.client = crate::connect::first(&self.url, &self.tls, Duration::ZERO)?;
        }
        Ok(())
    }
}

/// A node as registered, for tools that read every node's ledger.
#[derive(Debug, Clone)]
pub struct NodeRecord {
    pub name: String,
    pub data_dir: String,
    pub origin: String,
    pub key_file: String,
    pub witness_dirs: Vec<String>,
    /// Its ledger's public key, as it published it (`None`: not yet, or an older Vigie).
    pub vkey: Option<String>,
}

/// Every node that ever joined the cluster on `url` (live or not: a dead node's ledger is
/// verified too), by name. Read-only; an empty list if no cluster was ever formed there.
pub fn registered_nodes(url: &StoreUrl, ca_file: Option<&std::path::Path>) -> Result<Vec<NodeRecord>, ClusterError> {
    let tls = crate::tls::connector(ca_file)?;
    let mut client = crate::connect::first(url, &tls, Duration::from_secs(10))?;
    let target = url.to_string();
    let exists: bool = client
        .query_one("SELECT to_regclass('vigie_cluster.nodes') IS NOT NULL", &[])
        .map_err(|e| db_error(&target, &e))?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let has_vkey: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'vigie_cluster' \
             AND table_name = 'nodes' AND column_name = 'vkey')",
            &[],
        )
        .map_err(|e| db_error(&target, &e))?
        .get(0);
    let rows = client
        .query(
            if has_vkey {
                "SELECT name, data_dir, origin, key_file, witness_dirs, vkey FROM vigie_cluster.nodes ORDER BY name"
            } else {
                // Formed by an older Vigie that published no keys.
                "SELECT name, data_dir, origin, key_file, witness_dirs, NULL::text FROM vigie_cluster.nodes ORDER BY name"
            },
            &[],
        )
        .map_err(|e| db_error(&target, &e))?;
    Ok(rows
        .iter()
        .map(|r| NodeRecord {
            name: r.get(0),
            data_dir: r.get(1),
            origin: r.get(2),
            key_file: r.get(3),
            witness_dirs: r.get(4),
            vkey: r.get(5),
        })
        .collect())
}

fn db_error(target: &str, e: &postgres::Error) -> ClusterError {
    let detail = match e.code() {
        Some(c) if *c == SqlState::UNDEFINED_FUNCTION => {
            format!("{} (PostgreSQL 13 or later is needed)", crate::connect::message(e))
        }
        _ => crate::connect::message(e),
    };
    ClusterError::Db { target: target.to_owned(), detail }
}
