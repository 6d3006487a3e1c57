//! The keyring that seals second-factor secrets at rest: a small text file kept apart from
//! `vigie.db` (by default `<data dir>/secrets.key`, mode 0600), so that a copy of the database
//! alone (a backup, a stolen file) gives nobody's second factor.
//!
//! ```text
//! # comment lines
//! 6f3a9c21 <64 hex digits: the key>
//! 0b17e4d2 <64 hex digits>
//! ```
//!
//! Each key is named by its id, the first four bytes of SHA-256(`vigie secrets key` ‖ key) in
//! hex, so a mistyped or damaged line is caught at load (its id does not match), and a sealed
//! row names the key that opens it. The first key seals; the others only open, and are there
//! only while a rotation re-seals the rows (`Store::rotate_secrets_key`), after which they are
//! retired (removed from the file). The file is replaced atomically (temporary file, fsync,
//! rename, fsync of the directory), so a crash leaves the old keyring or the new one; it is
//! created by a link that fails if it exists, so that two processes sealing their first secret
//! at once end up with one keyring, not one overwriting the other's.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The keyring's default file name in the data directory.
pub const SECRETS_KEY_FILE: &str = "secrets.key";

/// A key's id: four bytes derived from the key, printed as eight hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 4]);

impl KeyId {
    fn of(key: &[u8; 32]) -> KeyId {
        let digest = Sha256::new().chain_update(b"vigie secrets key").chain_update(key).finalize();
        KeyId([digest[0], digest[1], digest[2], digest[3]])
    }

    /// Parses eight hex digits.
    pub fn parse(s: &str) -> Option<KeyId> {
        let bytes = hex::decode(s).ok()?;
        Some(KeyId(bytes.try_into().ok()?))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// One key: 32 random bytes. Never printed.
#[derive(Clone)]
pub(crate) struct SecretKey(pub(crate) [u8; 32]);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(••••)")
    }
}

/// The keys in the keyring file, the sealing one first.
#[derive(Clone, Debug)]
pub(crate) struct Keyring {
    pub(crate) keys: Vec<(KeyId, SecretKey)>,
}

/// Why a keyring file cannot be used. One line, naming the line when it is one.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{} line {line}: {reason}", path.display())]
    Malformed { path: PathBuf, line: usize, reason: &'static str },
    #[error("{} holds no key", path.display())]
    Empty { path: PathBuf },
}

impl Keyring {
    /// A keyring with one new random key.
    pub(crate) fn generate() -> Keyring {
        Keyring { keys: vec![new_key()] }
    }

    /// The sealing key.
    pub(crate) fn current(&self) -> Option<&(KeyId, SecretKey)> {
        self.keys.first()
    }

    pub(crate) fn get(&self, id: KeyId) -> Option<&SecretKey> {
        self.keys.iter().find(|(k, _)| *k == id).map(|(_, key)| key)
    }

    pub(crate) fn ids(&self) -> Vec<KeyId> {
        self.keys.iter().map(|(id, _)| *id).collect()
    }

    /// Reads the keyring at `path`; `None` if there is no such file.
    pub(crate) fn load(path: &Path) -> Result<Option<Keyring>, KeyringError> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(KeyringError::Io { path: path.to_path_buf(), source }),
        };
        let malformed = |line, reason| KeyringError::Malformed { path: path.to_path_buf(), line, reason };
        let mut keys = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (id, key) = line.split_once(' ').ok_or_else(|| malformed(i + 1, "expected `<id> <key>`"))?;
            let id = KeyId::parse(id).ok_or_else(|| malformed(i + 1, "the id is not eight hex digits"))?;
            let key: [u8; 32] = hex::decode(key.trim())
                .ok()
                .and_then(|k| k.try_into().ok())
                .ok_or_else(|| malformed(i + 1, "the key is not 64 hex digits"))?;
            if KeyId::of(&key) != id {
                return Err(malformed(i + 1, "the key does not match its id (damaged or mistyped)"));
            }
            keys.push((id, SecretKey(key)));
        }
        if keys.is_empty() {
            return Err(KeyringError::Empty { path: path.to_path_buf() });
        }
        Ok(Some(Keyring { keys }))
    }

    /// Writes the keyring to `path` atomically, replacing it, readable and writable by the owner
    /// only.
    pub(crate) fn store(&self, path: &Path) -> Result<(), KeyringError> {
        let io_err = |source| KeyringError::Io { path: path.to_path_buf(), source };
        let tmp = self.write_temp(path)?;
        fs::rename(&tmp, path).map_err(io_err)?;
        sync_parent(path).map_err(io_err)
    }

    /// Creates the keyring file with these keys, unless one exists (another process made it
    /// meanwhile: a `vigie account` command beside the server): then that one is loaded and
    /// returned, never replaced, since rows may already be sealed under it.
    pub(crate) fn create_or_load(self, path: &Path) -> Result<Keyring, KeyringError> {
        let io_err = |source| KeyringError::Io { path: path.to_path_buf(), source };
        let tmp = self.write_temp(path)?;
        let linked = fs::hard_link(&tmp, path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                sync_parent(path).map_err(io_err)?;
                Ok(self)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Keyring::load(path)?.ok_or_else(|| KeyringError::Empty { path: path.to_path_buf() })
            }
            Err(e) => Err(io_err(e)),
        }
    }

    /// The keyring written and synced under a temporary name of its own beside `path`.
    fn write_temp(&self, path: &Path) -> Result<PathBuf, KeyringError> {
        use rand::RngCore;
        let mut text = String::from(
            "# Vigie: the keys sealing the second-factor secrets (TOTP) stored in vigie.db.\n\
             # Keep this file apart from copies of vigie.db; without it no agent's TOTP can be checked.\n\
             # The first key seals, the others only open during a rotation (vigie account rotate-secrets-key).\n",
        );
        for (id, key) in &self.keys {
            text.push_str(&format!("{id} {}\n", hex::encode(key.0)));
        }
        let tmp = path.with_extension(format!("key.{:016x}.tmp", rand::rngs::OsRng.next_u64()));
        let io_err = |source| KeyringError::Io { path: tmp.clone(), source };
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(io_err)?;
        if let Err(e) = file.write_all(text.as_bytes()).and_then(|()| file.sync_all()) {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(e));
        }
        Ok(tmp)
    }

    /// A copy with a new sealing key in front of the existing ones (a rotation's first step).
    pub(crate) fn with_new_key(&self) -> Keyring {
        let mut fresh = new_key();
        while self.get(fresh.0).is_some() {
            fresh = new_key();
        }
        let mut keys = vec![fresh];
        keys.extend(self.keys.iter().cloned());
        Keyring { keys }
    }

    /// Only the sealing key (a rotation's last step: the others are retired).
    pub(crate) fn current_only(&self) -> Keyring {
        Keyring { keys: self.keys.iter().take(1).cloned().collect() }
    }
}

fn sync_parent(path: &Path) -> io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all())
}

fn new_key() -> (KeyId, SecretKey) {
    use rand::RngCore;
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    (KeyId::of(&key), SecretKey(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keyring_round_trips_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECRETS_KEY_FILE);
        assert!(Keyring::load(&path).unwrap().is_none());
        let ring = Keyring::generate().with_new_key();
        ring.store(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let back = Keyring::load(&path).unwrap().unwrap();
        assert_eq!(back.ids(), ring.ids());
        assert_eq!(back.current().unwrap().1.0, ring.current().unwrap().1.0);
        assert!(!format!("{back:?}").contains(&hex::encode(ring.keys[0].1.0)), "keys never print");

        let text = fs::read_to_string(&path).unwrap();
        let first = text.lines().find(|l| !l.starts_with('#')).unwrap().to_owned();
        let (id, key) = first.split_once(' ').unwrap();
        let flipped = format!("{id} {}{}", if key.starts_with('0') { '1' } else { '0' }, &key[1..]);
        for (bad, why) in [
            (text.replace(&first, &flipped), "does not match its id"),
            (text.replace(&first, id), "expected"),
            (text.replace(&first, &format!("zz {key}")), "eight hex digits"),
            (text.replace(&first, &format!("{id} abcd")), "64 hex digits"),
            ("# nothing\n".to_owned(), "no key"),
        ] {
            fs::write(&path, bad).unwrap();
            let e = Keyring::load(&path).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(SECRETS_KEY_FILE), "{e}");
        }
    }
}
