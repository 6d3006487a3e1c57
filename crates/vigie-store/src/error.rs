//! The store's errors: why a database cannot be opened ([`OpenError`]) or loaded
//! ([`LoadError`]), each a single line naming the file, and the internal query error that the
//! port methods turn into the core's [`StoreError`].

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;
use vigie_core::ports::StoreError;

/// Why a Vigie database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("data directory {} does not exist (create a registry with `vigie generate` or `vigie demo`)", path.display())]
    MissingDirectory { path: PathBuf },
    #[error("no Vigie database at {}{}", path.display(), if *partial_left { " (an unfinished load left a .partial file: run the load again)" } else { " (create or load one first)" })]
    MissingDatabase { path: PathBuf, partial_left: bool },
    #[error("{} is not a Vigie database: {why}", path.display())]
    NotVigie { path: PathBuf, why: &'static str },
    #[error("{} has schema version {found}, newer than the {supported} this binary knows: upgrade Vigie", path.display())]
    NewerSchema { path: PathBuf, found: i64, supported: i64 },
    #[error("{} is corrupt (quick_check: {detail}): restore it from a backup or reload it", path.display())]
    Corrupt { path: PathBuf, detail: String },
    #[error("{} is locked by another process (is a load or another server running?)", path.display())]
    Locked { path: PathBuf },
    #[error("{} could not be migrated to schema version {version}: {source}", path.display())]
    Migration { path: PathBuf, version: i64, source: rusqlite::Error },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {source}", path.display())]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("keyring {}", .0)]
    Keyring(#[from] crate::keyring::KeyringError),
    #[error("keyring {}: {reason}", path.display())]
    Secrets { path: PathBuf, reason: String },
}

impl OpenError {
    /// Classifies an SQLite error met while opening `path`.
    pub(crate) fn from_sqlite(path: &Path, e: rusqlite::Error) -> OpenError {
        let path = path.to_path_buf();
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => OpenError::NotVigie { path, why: "not an SQLite file" },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => OpenError::Locked { path },
            Some(ErrorCode::DatabaseCorrupt) => OpenError::Corrupt { path, detail: e.to_string() },
            _ => OpenError::Sqlite { path, source: e },
        }
    }
}

/// Why a bulk load failed. The partial file is left for the next load to remove; no
/// `vigie.db` is ever half-written.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{} already exists: refusing to overwrite it without `replace`", path.display())]
    Exists { path: PathBuf },
    #[error("loading {}: {what}: {source}", path.display())]
    Sqlite { path: PathBuf, what: &'static str, source: rusqlite::Error },
    #[error("loading {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{} is locked by another process (is a server still using it?)", path.display())]
    Locked { path: PathBuf },
    #[error("refusing to publish {}: {detail}", path.display())]
    Inconsistent { path: PathBuf, detail: String },
    #[error(transparent)]
    Open(#[from] OpenError),
}

/// A failed query, inside the crate. Port methods turn it into [`StoreError`]. Its messages
/// name tables and columns, never a person's data.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("inconsistent row: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Pool(&'static str),
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> StoreError {
        StoreError(e.to_string())
    }
}

/// Shorthand for an inconsistent row (a value the domain types refuse).
pub(crate) fn corrupt(what: impl Into<String>) -> DbError {
    DbError::Corrupt(what.into())
}
