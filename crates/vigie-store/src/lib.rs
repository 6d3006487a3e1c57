//! Vigie's embedded store: the registry of persons and relationships, organizations, agents,
//! their credentials and sessions, in one SQLite file (`<data dir>/vigie.db`).
//!
//! It implements the core's ports ([`vigie_core::ports::Registry`],
//! [`vigie_core::ports::AccountStore`]) and is the only crate that knows SQL. A [`Store`] is
//! opened from an existing data directory ([`Store::open`]), created empty ([`Store::create`]),
//! or filled in bulk by a [`Loader`] ([`Store::bulk_load`]) that publishes the database
//! atomically when it finishes. Readers on a blocking thread pool each take their own
//! connection from a small pool; SQLite runs in WAL mode so they never wait for a writer.
//!
//! The access ledger is not here: it is a separate append-only file with its own fsync
//! discipline, which is why the registry can run with `synchronous=NORMAL`.

mod accounts;
mod codec;
mod detection;
mod error;
mod extracts;
mod incidents;
mod keyring;
mod lifecycle;
mod load;
mod open;
mod plan;
mod pool;
mod progress;
mod registry;
mod schema;
mod scope;
mod sealed;
mod sessions;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{LoadError, OpenError};
pub use keyring::{KeyId, KeyringError, SECRETS_KEY_FILE};
pub use load::{LoadOptions, Loader};
pub use plan::QueryPlan;
pub use progress::{LoadPhase, Progress};
pub use schema::SCHEMA_VERSION;
pub use scope::Reach;
pub use sealed::{Rotation, SecretSealer};
pub use vigie_core::extract::store::{ExtractStore, NewExtract, PlacedCanary, Production};

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "vigie.db";
/// The name a bulk load writes to before it atomically renames it to [`DB_FILE`].
pub const PARTIAL_FILE: &str = "vigie.db.partial";

/// How to open a store.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// Connections kept for concurrent readers (at least 1).
    pub pool_size: usize,
    /// Run `PRAGMA quick_check` before accepting the file. It reads every page once: about 1 s
    /// for a million persons (300 MB) on a 2-core machine, so a minute or more on a full
    /// 43-million-person registry; such a server may prefer to run it out of band.
    pub quick_check: bool,
    /// How long a statement waits for a lock held by another connection before failing.
    pub busy_timeout: Duration,
    /// The keyring sealing second-factor secrets (see `keyring.rs`); `<dir>/secrets.key` if
    /// `None`. Created (0600) with the first secret sealed.
    pub secrets_key_file: Option<PathBuf>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions { pool_size: 8, quick_check: true, busy_timeout: Duration::from_secs(5), secrets_key_file: None }
    }
}

/// An open Vigie database. Cheap to share behind an `Arc`; every call takes a pooled connection.
pub struct Store {
    path: PathBuf,
    pool: pool::Pool,
    secrets: sealed::Secrets,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).field("pool_size", &self.pool.capacity()).finish()
    }
}

impl Store {
    /// Opens the database of an existing data directory, with the default [`OpenOptions`].
    pub fn open(dir: &Path) -> Result<Store, OpenError> {
        Store::open_with(dir, &OpenOptions::default())
    }

    /// Opens the database of an existing data directory. Refuses a missing directory or file,
    /// a file that is not a Vigie database, one written by a newer Vigie, a corrupt one and a
    /// locked one, each with a one-line error naming the path. Applies pending migrations.
    pub fn open_with(dir: &Path, options: &OpenOptions) -> Result<Store, OpenError> {
        open::open(dir, options)
    }

    /// Creates the data directory (if needed) and an empty database with the current schema.
    /// Refuses to replace an existing database.
    pub fn create(dir: &Path) -> Result<Store, LoadError> {
        Store::bulk_load(dir, &LoadOptions::default())?.finish()
    }

    /// Starts a bulk load into `dir/vigie.db.partial`; [`Loader::finish`] publishes it as
    /// `dir/vigie.db`. Refuses an existing database unless `options.replace` is set.
    pub fn bulk_load(dir: &Path, options: &LoadOptions) -> Result<Loader, LoadError> {
        Loader::start(dir, options)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The keyring file sealing second-factor secrets (it may not exist yet).
    pub fn secrets_key_path(&self) -> &Path {
        self.secrets.path()
    }

    /// Re-seals every stored second-factor secret under a new key and retires the keyring's
    /// other keys. Meant for the operator's command, with the server stopped: a running server
    /// keeps the keys it loaded and could not open the re-sealed rows.
    pub fn rotate_secrets_key(&self) -> Result<Rotation, vigie_core::ports::StoreError> {
        self.with_conn(|conn| self.secrets.rotate(conn))
    }

    /// Runs `f` on a pooled connection, turning its failure into the ports' error.
    pub(crate) fn with_conn<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, error::DbError>,
    ) -> Result<T, vigie_core::ports::StoreError> {
        let conn = self.pool.get()?;
        Ok(f(&conn)?)
    }
}
