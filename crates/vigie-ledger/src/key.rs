//! The checkpoint signing key on disk: created at first start with mode 0600, in Go's
//! `sumdb/note` private key format, and read back at every start.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::note::NoteSigner;

/// Where [`crate::LedgerOptions::default`] keeps the key: inside the ledger directory. The
/// server keeps it in the data directory instead (`<data>/ledger.key`), so that a copy of the
/// ledger handed to an auditor does not carry the key.
pub const DEFAULT_KEY_FILE: &str = "ledger.key";

/// Why the key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Note(#[from] crate::note::NoteError),
}

/// Reads a key file.
pub fn load(path: &Path) -> Result<NoteSigner, KeyError> {
    let text = fs::read_to_string(path)?;
    Ok(NoteSigner::parse(text.trim_end())?)
}

/// Reads the key file, or creates it (mode 0600, synced) with a new key named `name` if it does
/// not exist. Returns the signer and whether it was created.
pub fn load_or_create(path: &Path, name: &str) -> Result<(NoteSigner, bool), KeyError> {
    match load(path) {
        Ok(signer) => return Ok((signer, false)),
        Err(KeyError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let signer = NoteSigner::generate(name)?;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        // The key is what makes a checkpoint the log's word: readable by the server's user only.
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(format!("{}\n", signer.to_skey()).as_bytes())?;
    file.sync_all()?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::recover::sync_dir(parent)?;
    }
    Ok((signer, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_created_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.key");
        let (created, fresh) = load_or_create(&path, "vigie.test/ledger").unwrap();
        assert!(fresh);
        let (again, fresh) = load_or_create(&path, "another-name").unwrap();
        assert!(!fresh);
        assert_eq!(again.verifier(), created.verifier());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        fs::write(&path, "garbage").unwrap();
        assert!(load_or_create(&path, "x").is_err());
    }
}
