//! The PostgreSQL store's errors: why it cannot be opened ([`PgOpenError`], one line naming
//! the server without its password) and the internal query error that port methods turn into
//! the core's [`StoreError`].

use std::path::PathBuf;

use vigie_core::ports::StoreError;

/// Why the PostgreSQL store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum PgOpenError {
    #[error("store URL: {reason}")]
    BadUrl { reason: String },
    #[error("PostgreSQL at {target} is unreachable after {attempts} attempts over {waited_s} s: {last}")]
    Unreachable { target: String, attempts: u32, waited_s: u64, last: String },
    #[error("PostgreSQL at {target} refused the credentials: {detail} (check the user and VIGIE_STORE_URL's password)")]
    Authentication { target: String, detail: String },
    #[error("PostgreSQL at {target}: the database does not exist ({detail}); create it first (createdb)")]
    NoDatabase { target: String, detail: String },
    #[error(
        "PostgreSQL at {target} has Vigie schema version {found}, newer than the {supported} this binary knows: upgrade Vigie"
    )]
    NewerSchema { target: String, found: i64, supported: i64 },
    #[error("PostgreSQL at {target}: migration to schema version {version} failed: {detail}")]
    Migration { target: String, version: i64, detail: String },
    #[error("PostgreSQL at {target}: {detail}")]
    Server { target: String, detail: String },
    #[error("store ca_file {}: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
    #[error("TLS to PostgreSQL: {0}")]
    Tls(String),
    #[error("keyring {0}")]
    Keyring(#[from] vigie_store::KeyringError),
    #[error("keyring {}: {reason}", path.display())]
    Secrets { path: PathBuf, reason: String },
}

/// A failed query, inside the crate. Its messages name tables and columns, never a person's
/// data.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    #[error("{0}")]
    Pg(#[from] postgres::Error),
    #[error("database unavailable: {0}")]
    Pool(String),
    #[error("inconsistent row: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Store(String),
}

impl From<StoreError> for DbError {
    fn from(e: StoreError) -> DbError {
        DbError::Store(e.0)
    }
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> StoreError {
        StoreError(match e {
            // The server's own message (constraint, column) without the row's values, which
            // PostgreSQL puts in `detail`, not in the message.
            DbError::Pg(e) => match e.as_db_error() {
                Some(db) => format!("PostgreSQL: {} ({})", db.message(), db.code().code()),
                None => format!("PostgreSQL: {e}"),
            },
            other => other.to_string(),
        })
    }
}

/// Shorthand for an inconsistent row (a value the domain types refuse).
pub(crate) fn corrupt(what: impl Into<String>) -> DbError {
    DbError::Corrupt(what.into())
}
