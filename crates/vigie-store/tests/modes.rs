//! File modes under a usual umask (022): the data directory the loader creates is 0700, and the
//! database, its WAL and shared-memory files and the secrets keyring are 0600. One test in its
//! own binary, because the umask is the process's.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use vigie_core::ports::{AccountStore, Credentials};
use vigie_core::signin::{PasswordHash, TotpSecret};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_store_creates_its_directory_0700_and_its_files_0600_under_umask_022() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("vigie-data");
    let store = small_world(&dir);
    let totp = TotpSecret::from_bytes(&[7; 20]).unwrap();
    store.set_credentials(a(1), &Credentials { password: PasswordHash("h".into()), totp }, None).unwrap();
    // A second reader opens the shared-memory file, a write the WAL.
    assert!(store.credentials(a(1)).unwrap().is_some());
    let names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    for expected in ["vigie.db", "vigie.db-wal", "vigie.db-shm", "secrets.key"] {
        assert!(names.iter().any(|n| n == expected), "{expected} in {names:?}");
    }
    assert_eq!(mode(&dir), 0o700, "the data directory");
    for name in &names {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    // A control: under this umask a file created without a mode is readable by others.
    std::fs::write(root.path().join("control"), b"x").unwrap();
    assert_eq!(mode(&root.path().join("control")), 0o644);
}
