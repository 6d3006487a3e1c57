//! Vigie's production store: the registry (persons, relationships, organizations, agents), the
//! accounts, credentials, passkeys, sessions, the account lifecycle, incidents with their
//! notifications, and governed extracts in PostgreSQL, behind the same ports as the embedded
//! SQLite store ([`vigie_core::ports::Registry`], [`vigie_core::ports::AccountStore`],
//! [`vigie_core::incident::store::IncidentStore`], [`vigie_core::extract::store::ExtractStore`]).
//! Several Vigie nodes can share one database.
//!
//! [`PgStore::open`] parses the URL ([`StoreUrl`]), connects with back-off while the server is
//! unreachable, refuses a schema newer than this binary and applies the pending migrations,
//! then serves every call from a bounded pool (r2d2) of synchronous connections: the ports are
//! synchronous and called from the server's blocking threads, as the SQLite store's are. A
//! bulk load ([`load`]) streams a whole registry in with `COPY` into a fresh schema and swaps it
//! in atomically, replacing the whole previous schema: it refuses to discard incidents or
//! extracts unless told to.
//!
//! The access ledger is not here: each node keeps its own, on its own disk.

mod accounts;
pub mod audit;
pub mod cluster;
mod codec;
mod conn;
mod connect;
mod error;
mod extracts;
mod incidents;
pub mod load;
mod registry;
mod schema;
mod serving;
mod sessions;
mod target;
mod tls;

use std::path::PathBuf;
use std::time::Duration;

use r2d2_postgres::PostgresConnectionManager;
use vigie_core::ports::StoreError;
use vigie_store::SecretSealer;

pub use error::PgOpenError;
pub use schema::SCHEMA_VERSION;
pub use serving::ServingLock;
pub use target::StoreUrl;

use crate::conn::{Conn, Manager};
use crate::error::DbError;

/// How to open the PostgreSQL store.
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// Connections this node keeps at most (`[store] pool_size`). Every node has its own pool,
    /// and a serving node one more connection for its serving lock: the server's
    /// `max_connections` must cover the sum.
    pub pool_size: u32,
    /// How long a call waits for a connection (the server gone, or every connection busy)
    /// before failing, and the guarded read denying.
    pub checkout_timeout: Duration,
    /// How long the first connection is retried at start while the server is unreachable.
    pub startup_wait: Duration,
    /// Certificates (PEM) of the CA that signed the server's certificate, besides the web roots.
    pub ca_file: Option<PathBuf>,
    /// The keyring that seals second-factor secrets (created with the first secret sealed).
    pub secrets_key_file: PathBuf,
}

impl PgOptions {
    /// Defaults, with the keyring at `secrets_key_file`.
    pub fn new(secrets_key_file: PathBuf) -> PgOptions {
        PgOptions {
            pool_size: 8,
            checkout_timeout: Duration::from_secs(2),
            startup_wait: Duration::from_secs(30),
            ca_file: None,
            secrets_key_file,
        }
    }
}

/// An open PostgreSQL store. Cheap to share behind an `Arc`; every call takes a pooled
/// connection.
pub struct PgStore {
    url: StoreUrl,
    /// For the connections outside the pool (the serving lock's).
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    pool: Option<r2d2::Pool<Manager>>,
    secrets: SecretSealer,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &self.url)
            .field("pool_size", &self.pool.as_ref().map(r2d2::Pool::max_size))
            .finish()
    }
}

impl PgStore {
    /// Connects (retrying while unreachable, for at most `options.startup_wait`), refuses a
    /// newer schema, applies pending migrations, checks the keyring against the sealed rows.
    pub fn open(url: &StoreUrl, options: &PgOptions) -> Result<PgStore, PgOpenError> {
        let tls = tls::connector(options.ca_file.as_deref())?;
        let mut client = connect::first(url, &tls, options.startup_wait)?;
        let server = |e: postgres::Error| PgOpenError::Server { target: url.to_string(), detail: connect::message(&e) };
        let found = schema::version_of(&mut client, "vigie").map_err(server)?;
        if found > SCHEMA_VERSION {
            return Err(PgOpenError::NewerSchema { target: url.to_string(), found, supported: SCHEMA_VERSION });
        }
        schema::migrate(&mut client, "vigie").map_err(|(version, e)| PgOpenError::Migration {
            target: url.to_string(),
            version,
            detail: connect::message(&e),
        })?;
        let secrets = SecretSealer::load(&options.secrets_key_file)?;
        check_keyring(&mut client, &secrets)
            .map_err(|reason| PgOpenError::Secrets { path: options.secrets_key_file.clone(), reason })?;
        drop(client);
        let manager = Manager(PostgresConnectionManager::new(url.config.clone(), tls.clone()));
        let pool = r2d2::Pool::builder()
            .max_size(options.pool_size.max(1))
            .min_idle(Some(1))
            // A ping only for a connection idle for a while (see `conn`).
            .test_on_check_out(true)
            .connection_timeout(options.checkout_timeout)
            .error_handler(Box::new(LogErrors))
            .build_unchecked(manager);
        Ok(PgStore { url: url.clone(), tls, pool: Some(pool), secrets })
    }

    /// The server, as errors name it (no password).
    pub fn url(&self) -> &StoreUrl {
        &self.url
    }

    /// Re-seals every agent's TOTP secret under a new key and retires the keyring's others
    /// (`vigie account rotate-secrets-key --store`), as the SQLite store's rotation does. Every
    /// node must be stopped: a node keeps the keyring it loaded, and would seal a reset under a
    /// key about to be retired. So the rows are re-sealed in one transaction that first refuses
    /// while a node of a cluster on this database holds a live lease (naming them), then takes
    /// the serving lock exclusively without waiting, refusing while any node, single or in a
    /// cluster, holds it shared ([`PgStore::hold_serving_lock`]), and holds the table's lock.
    /// The table's files still hold the old ciphertext until [`PgStore::compact_credentials`].
    pub fn rotate_secrets_key(&self) -> Result<vigie_store::Rotation, StoreError> {
        self.with_conn(|c| {
            let mut tx = c.transaction()?;
            let live: Vec<String> =
                if tx.query_one("SELECT to_regclass('vigie_cluster.nodes') IS NOT NULL", &[])?.get::<_, bool>(0) {
                    tx.query("SELECT name FROM vigie_cluster.nodes WHERE lease_until > now() ORDER BY name", &[])?
                        .iter()
                        .map(|r| r.get(0))
                        .collect()
                } else {
                    Vec::new()
                };
            if !live.is_empty() {
                return Err(DbError::Store(format!(
                    "nodes {} are serving on this database: stop every node before rotating the keyring",
                    live.join(", ")
                )));
            }
            let free: bool =
                tx.query_one("SELECT pg_try_advisory_xact_lock($1)", &[&serving::SERVING_LOCK_KEY])?.get(0);
            if !free {
                return Err(DbError::Store(
                    "a node is serving on this database (it holds the serving lock): stop every node before \
                     rotating the keyring"
                        .to_owned(),
                ));
            }
            tx.batch_execute("LOCK TABLE vigie.credentials IN EXCLUSIVE MODE")?;
            let rows = tx
                .query("SELECT agent, totp_secret, totp_key FROM vigie.credentials", &[])?
                .iter()
                .map(|r| {
                    let agent: i64 = r.get(0);
                    let id = vigie_core::ids::AgentId::from_i64(agent)
                        .ok_or_else(|| error::corrupt(format!("credentials.agent {agent}")))?;
                    Ok((id, r.get::<_, Vec<u8>>(1), r.get::<_, String>(2)))
                })
                .collect::<Result<Vec<_>, DbError>>()?;
            self.secrets.rotate(rows, move |resealed| {
                for (agent, key, sealed) in resealed {
                    tx.execute(
                        "UPDATE vigie.credentials SET totp_secret = $2, totp_key = $3 WHERE agent = $1",
                        &[&agent.as_i64(), sealed, key],
                    )?;
                }
                tx.commit()?;
                Ok::<(), DbError>(())
            })
        })
    }

    /// Rewrites the credentials table (`VACUUM FULL`) so that its files keep no ciphertext
    /// under a key a rotation retired: run after [`PgStore::rotate_secrets_key`], apart from it
    /// because the rotation is done and worth recording even if this fails (it can be run
    /// again). Older copies in the write-ahead log, in its archive and in backups are the
    /// database's to expire: a retired key must be kept as long as those backups are.
    pub fn compact_credentials(&self) -> Result<(), StoreError> {
        self.with_conn(|c| Ok(c.batch_execute("VACUUM FULL vigie.credentials")?))
    }

    /// Runs `f` on a pooled connection, turning its failure into the ports' error.
    ///
    /// The synchronous client drives each connection with a runtime of its own, which tokio
    /// refuses to start on a thread that is running async tasks (it panics). The server calls
    /// the ports from its blocking threads, where this is fine; a call made from an async task
    /// by mistake is moved off the executor instead of bringing the request down.
    pub(crate) fn with_conn<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T, DbError> + Send) -> Result<T, StoreError>
    where
        T: Send,
    {
        let run = || {
            let mut conn = self
                .pool()
                .get()
                .map_err(|e| DbError::Pool(format!("no connection to PostgreSQL at {} ({e})", self.url)))?;
            match f(&mut conn) {
                Ok(v) => {
                    conn.used();
                    Ok::<T, StoreError>(v)
                }
                // The server went away under this call (the pool drops the connection on its
                // return): say which server, as a failed checkout does.
                Err(DbError::Pg(e)) if conn.is_closed() => {
                    Err(DbError::Pool(format!("lost the connection to PostgreSQL at {} ({e})", self.url)).into())
                }
                Err(e) => Err(e.into()),
            }
        };
        off_the_executor(run)
    }

    fn pool(&self) -> &r2d2::Pool<Manager> {
        // `None` only inside `drop`.
        match &self.pool {
            Some(p) => p,
            None => unreachable!("the pool is taken only when the store is dropped"),
        }
    }
}

/// Runs `f` where a blocking call is allowed: here, unless the thread is a runtime's worker,
/// in which case `block_in_place` (multi-threaded runtime) or a scoped thread (current-thread
/// runtime) is used.
pub(crate) fn off_the_executor<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Err(_) => f(),
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        Ok(_) => std::thread::scope(|s| match s.spawn(f).join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        }),
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Closing a connection blocks on its runtime: the same care as a call.
        if let Some(pool) = self.pool.take() {
            off_the_executor(move || drop(pool));
        }
    }
}

/// Refuses a keyring that cannot open the rows: one missing while rows are sealed, or one
/// without a key they were sealed under.
fn check_keyring(client: &mut postgres::Client, secrets: &SecretSealer) -> Result<(), String> {
    let used: Vec<String> = client
        .query("SELECT DISTINCT totp_key FROM vigie.credentials", &[])
        .map_err(|e| connect::message(&e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let held: Vec<String> = secrets.key_ids().iter().map(ToString::to_string).collect();
    let missing: Vec<&String> = used.iter().filter(|u| !held.contains(u)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let missing = missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
    Err(if held.is_empty() {
        format!(
            "the database holds second-factor secrets sealed under key {missing}, and there is no keyring: restore it from its backup"
        )
    } else {
        format!("the keyring holds {} but the database has secrets sealed under {missing}", held.join(", "))
    })
}

/// The pool's background connection failures, logged (a checkout reports its own).
#[derive(Debug)]
struct LogErrors;

impl r2d2::HandleError<postgres::Error> for LogErrors {
    fn handle_error(&self, error: postgres::Error) {
        tracing::warn!(error = %connect::message(&error), "PostgreSQL connection failed");
    }
}
