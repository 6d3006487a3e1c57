//! Files and directories the ledger creates for itself (segments, tiles, checkpoints, the lock,
//! keys, the bytes of a cut tail) are the owner's only, 0600 and 0700, whatever the process's
//! umask: the month keys open every sealed body, and the rest is the server's business. Modes
//! are given at creation (`open(2)`'s and `mkdir(2)`'s mode argument), so there is no moment
//! when a file exists with a wider mode. Witness directories are another party's storage and
//! keep the modes that party chose.
//!
//! Public because what is derived from the ledger (its scoping index, an incident's files and
//! letters, a Parquet export) holds the same personal data and follows the same rule.

use std::fs::{DirBuilder, OpenOptions};
use std::io;
use std::path::Path;

/// Options for creating a file readable and writable by the owner only.
pub fn file() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Creates `dir` and its missing parents, each reachable by the owner only.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}
