//! Second-factor secrets sealed in their rows: the TOTP secret of `credentials` is stored as
//! `nonce [24] ‖ ciphertext ‖ tag [16]` (XChaCha20-Poly1305) with the id of the keyring's key in
//! `totp_key`, so that a copy of `vigie.db` alone gives nobody's second factor.
//!
//! The associated data binds the ciphertext to its row and key: `vigie/credentials.totp_secret/1
//! ‖ 0x00 ‖ agent id (i64, big-endian) ‖ key id`. A sealed secret copied onto another agent's row
//! (by someone who can write the database but not read the key) fails to open there, and the
//! sign-in is refused rather than checked against an attacker's secret. Nonces are random
//! (24 bytes: no coordination across processes or restarts is needed).
//!
//! Three moments touch every row: opening a database whose rows are still clear (written before
//! sealing existed) seals them all, then rewrites the file (`VACUUM`) so that no free page or
//! cell keeps the clear bytes (a test shows that without it the current secrets survive in pages
//! SQLite freed earlier); a rotation (`Store::rotate_secrets_key`) re-seals every row under a new
//! key, rewrites the file the same way and retires the old key; reading a row opens it. Passkeys and DBSC device keys are
//! public keys and stay clear; passwords are Argon2id hashes.

use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rusqlite::Connection;
use vigie_core::ids::AgentId;

use crate::error::{DbError, corrupt};
use crate::keyring::{KeyId, Keyring, KeyringError, SecretKey};

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const AAD_LABEL: &[u8] = b"vigie/credentials.totp_secret/1\0";

/// The keyring of an open store: loaded at open, created with the first secret it seals.
#[derive(Debug)]
pub(crate) struct Secrets {
    path: PathBuf,
    ring: RwLock<Option<Keyring>>,
}

/// What a rotation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// The new sealing key.
    pub key: KeyId,
    /// The keys removed from the keyring.
    pub retired: Vec<KeyId>,
    /// Rows re-sealed under the new key.
    pub resealed: usize,
}

impl Secrets {
    /// Loads the keyring at `path` if it exists. A database with sealed rows and no keyring is
    /// refused by the caller (`check`), never given a new key.
    pub(crate) fn load(path: &Path) -> Result<Secrets, KeyringError> {
        Ok(Secrets { path: path.to_path_buf(), ring: RwLock::new(Keyring::load(path)?) })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The ids of the keys the keyring holds (none if it does not exist yet).
    pub(crate) fn ids(&self) -> Vec<KeyId> {
        self.ring.read().unwrap_or_else(PoisonError::into_inner).as_ref().map(Keyring::ids).unwrap_or_default()
    }

    /// Seals `clear` for `agent`'s row under the current key, creating the keyring (0600) if
    /// there is none yet. Returns the key id and the sealed bytes.
    pub(crate) fn seal(&self, agent: i64, clear: &[u8]) -> Result<(KeyId, Vec<u8>), DbError> {
        let (id, key) = self.current()?;
        Ok((id, seal_with(&key, id, agent, clear)?))
    }

    /// Opens `sealed`, found in `agent`'s row under key `id`.
    pub(crate) fn open(&self, agent: AgentId, id: &str, sealed: &[u8]) -> Result<Vec<u8>, DbError> {
        let what = || format!("credentials.totp_secret of {agent}");
        let id = KeyId::parse(id).ok_or_else(|| corrupt(format!("{}: key id {id:?}", what())))?;
        if self.ring.read().unwrap_or_else(PoisonError::into_inner).as_ref().and_then(|r| r.get(id)).is_none() {
            // Sealed by another process since this one loaded the keyring (an operator's
            // command creating it beside the server): read it again.
            let fresh = Keyring::load(&self.path).map_err(|e| corrupt(format!("reading the keyring: {e}")))?;
            if fresh.as_ref().is_some_and(|r| r.get(id).is_some()) {
                *self.ring.write().unwrap_or_else(PoisonError::into_inner) = fresh;
            }
        }
        let ring = self.ring.read().unwrap_or_else(PoisonError::into_inner);
        let key = ring.as_ref().and_then(|r| r.get(id)).ok_or_else(|| {
            corrupt(format!(
                "{}: sealed under key {id}, which the keyring {} does not hold",
                what(),
                self.path.display()
            ))
        })?;
        open_with(key, id, agent.as_i64(), sealed).ok_or_else(|| {
            corrupt(format!("{}: does not open under key {id} (altered, or moved from another row)", what()))
        })
    }

    fn current(&self) -> Result<(KeyId, SecretKey), DbError> {
        if let Some((id, key)) =
            self.ring.read().unwrap_or_else(PoisonError::into_inner).as_ref().and_then(|r| r.current())
        {
            return Ok((*id, key.clone()));
        }
        let mut ring = self.ring.write().unwrap_or_else(PoisonError::into_inner);
        if ring.is_none() {
            let made = Keyring::generate()
                .create_or_load(&self.path)
                .map_err(|e| corrupt(format!("creating the keyring: {e}")))?;
            *ring = Some(made);
        }
        let (id, key) = ring.as_ref().and_then(|r| r.current()).ok_or_else(|| corrupt("empty keyring"))?;
        Ok((*id, key.clone()))
    }

    /// Seals every row still holding a clear secret (a database from before sealing), then
    /// rewrites the file so that the clear bytes are nowhere in it. Returns the rows sealed.
    pub(crate) fn seal_clear_rows(&self, conn: &Connection) -> Result<usize, DbError> {
        let clear: Vec<(i64, Vec<u8>)> = {
            let mut stmt = conn.prepare("SELECT agent, totp_secret FROM credentials WHERE totp_key IS NULL")?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?
        };
        if clear.is_empty() {
            return Ok(0);
        }
        // secure_delete: the cells the updates free are zeroed, not left as they were.
        conn.execute_batch("PRAGMA secure_delete = ON")?;
        let tx = conn.unchecked_transaction()?;
        for (agent, secret) in &clear {
            let (id, sealed) = self.seal(*agent, secret)?;
            tx.execute(
                "UPDATE credentials SET totp_secret = ?2, totp_key = ?3 WHERE agent = ?1",
                (agent, sealed, id.to_string()),
            )?;
        }
        tx.commit()?;
        // Earlier writes of these rows (a reset, a page split) may have left clear copies in
        // free pages and cells that secure_delete did not cover: VACUUM rewrites the file from
        // the live rows only, and the WAL is then emptied so that it holds none either.
        conn.execute_batch("VACUUM; PRAGMA secure_delete = OFF")?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(clear.len())
    }

    /// Refuses a keyring that cannot open the database's rows: a missing file (the database
    /// holds sealed rows), or one without a key the rows were sealed under.
    pub(crate) fn check(&self, conn: &Connection) -> Result<(), String> {
        let used: Vec<String> = {
            let mut stmt = conn
                .prepare("SELECT DISTINCT totp_key FROM credentials WHERE totp_key IS NOT NULL")
                .map_err(|e| e.to_string())?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| e.to_string())?;
            rows.collect::<Result<_, _>>().map_err(|e| e.to_string())?
        };
        let held = self.ids();
        let missing: Vec<&String> =
            used.iter().filter(|u| !KeyId::parse(u).is_some_and(|id| held.contains(&id))).collect();
        match missing.first() {
            None => Ok(()),
            Some(_) if held.is_empty() => Err(format!(
                "the database holds second-factor secrets sealed under key {}, and there is no keyring: restore it \
                 from its backup (without it every agent must be given a new TOTP secret)",
                join(&missing)
            )),
            Some(_) => Err(format!(
                "the keyring holds {} but the database has secrets sealed under {}: is this the keyring of this \
                 database?",
                held.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                join(&missing)
            )),
        }
    }

    /// Re-seals every row under a new key, then retires the others. Crash-safe: the keyring
    /// holds both keys until every row is re-sealed and committed.
    pub(crate) fn rotate(&self, conn: &Connection) -> Result<Rotation, DbError> {
        let rows: Vec<(i64, Vec<u8>, Option<String>)> = {
            let mut stmt = conn.prepare("SELECT agent, totp_secret, totp_key FROM credentials")?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<_, _>>()?
        };
        self.reseal_all(rows, |new_id, resealed| {
            conn.execute_batch("PRAGMA secure_delete = ON")?;
            let tx = conn.unchecked_transaction()?;
            for (agent, sealed) in resealed {
                tx.execute(
                    "UPDATE credentials SET totp_secret = ?2, totp_key = ?3 WHERE agent = ?1",
                    (agent, sealed, new_id.to_string()),
                )?;
            }
            tx.commit()?;
            // The rows' earlier ciphertexts, under the key being retired, may survive in free
            // pages (a page split copies cells): rewritten away, so that the retired key opens
            // nothing in this file, whatever copy of it is kept.
            conn.execute_batch("VACUUM; PRAGMA secure_delete = OFF")?;
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
    }

    /// The rotation, whatever the store: every row (agent, stored bytes, key id or `None` if
    /// clear) is opened and re-sealed under a new key before anything changes; the keyring is
    /// written with both keys; `write` stores the re-sealed rows (all or none, committed when it
    /// returns); only then are the old keys retired. Crash-safe: until `write` has committed,
    /// the keyring still holds the keys the rows are under.
    fn reseal_all<E: From<DbError>>(
        &self,
        rows: Vec<(i64, Vec<u8>, Option<String>)>,
        write: impl FnOnce(KeyId, &[(i64, Vec<u8>)]) -> Result<(), E>,
    ) -> Result<Rotation, E> {
        let mut guard = self.ring.write().unwrap_or_else(PoisonError::into_inner);
        let old = guard.clone().unwrap_or_else(|| Keyring { keys: Vec::new() });
        let both = old.with_new_key();
        let (new_id, new_key) = both.current().cloned().ok_or_else(|| corrupt("empty keyring"))?;
        let mut resealed = Vec::with_capacity(rows.len());
        for (agent, stored, id) in rows {
            let agent_id = u64::try_from(agent)
                .ok()
                .and_then(AgentId::new)
                .ok_or_else(|| corrupt(format!("credentials.agent {agent}")))?;
            let clear = match id {
                None => stored,
                Some(id) => {
                    let kid = KeyId::parse(&id).ok_or_else(|| corrupt(format!("credentials.totp_key {id:?}")))?;
                    let key = old.get(kid).ok_or_else(|| {
                        corrupt(format!("credentials of {agent_id}: sealed under key {id}, not in the keyring"))
                    })?;
                    open_with(key, kid, agent, &stored).ok_or_else(|| {
                        corrupt(format!("credentials.totp_secret of {agent_id} does not open under key {id}"))
                    })?
                }
            };
            resealed.push((agent, seal_with(&new_key, new_id, agent, &clear)?));
        }
        both.store(&self.path).map_err(|e| corrupt(format!("writing the keyring: {e}")))?;
        *guard = Some(both.clone());
        write(new_id, &resealed)?;
        let only = both.current_only();
        only.store(&self.path).map_err(|e| corrupt(format!("retiring the old keys from the keyring: {e}")))?;
        *guard = Some(only);
        Ok(Rotation { key: new_id, retired: old.ids(), resealed: resealed.len() })
    }
}

/// The keyring sealing second-factor secrets, for a store that is not this crate's SQLite
/// file (the PostgreSQL store): the same sealed format, associated data and keyring file, so
/// that a secret sealed by one store opens in the other and a copy of either database alone
/// gives nobody's second factor.
#[derive(Debug)]
pub struct SecretSealer(Secrets);

impl SecretSealer {
    /// Loads the keyring at `path` if it exists (it is created with the first secret sealed).
    pub fn load(path: &Path) -> Result<SecretSealer, KeyringError> {
        Secrets::load(path).map(SecretSealer)
    }

    /// The keyring file.
    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// The ids of the keys the keyring holds.
    pub fn key_ids(&self) -> Vec<KeyId> {
        self.0.ids()
    }

    /// Seals `clear` for `agent`'s row: the key id (as stored in `totp_key`) and the bytes.
    pub fn seal(&self, agent: AgentId, clear: &[u8]) -> Result<(String, Vec<u8>), vigie_core::ports::StoreError> {
        let (id, sealed) = self.0.seal(agent.as_i64(), clear)?;
        Ok((id.to_string(), sealed))
    }

    /// Opens `sealed`, found in `agent`'s row under key `key_id`; an error if it does not open
    /// there (altered, moved from another row, or a key the keyring lacks).
    pub fn open(&self, agent: AgentId, key_id: &str, sealed: &[u8]) -> Result<Vec<u8>, vigie_core::ports::StoreError> {
        Ok(self.0.open(agent, key_id, sealed)?)
    }

    /// Re-seals every row under a new key and retires the others, as the SQLite store's
    /// rotation does: `rows` are (agent, stored bytes, key id); `write` stores the re-sealed
    /// rows (agent, key id, bytes), all or none, committed when it returns Ok. The keyring holds
    /// both keys until then.
    pub fn rotate<E: From<vigie_core::ports::StoreError>>(
        &self,
        rows: Vec<(AgentId, Vec<u8>, String)>,
        write: impl FnOnce(&[(AgentId, String, Vec<u8>)]) -> Result<(), E>,
    ) -> Result<Rotation, E> {
        let rows = rows.into_iter().map(|(a, bytes, key)| (a.as_i64(), bytes, Some(key))).collect();
        let rotated = self.0.reseal_all(rows, |new_id, resealed| {
            let key = new_id.to_string();
            let rows: Vec<(AgentId, String, Vec<u8>)> = resealed
                .iter()
                .filter_map(|(a, bytes)| Some((AgentId::from_i64(*a)?, key.clone(), bytes.clone())))
                .collect();
            write(&rows).map_err(Wrapped)
        });
        match rotated {
            Ok(r) => Ok(r),
            Err(Wrapped(e)) => Err(e),
        }
    }
}

/// A caller's error carried through [`Secrets::reseal_all`], or one of this module's.
struct Wrapped<E>(E);

impl<E: From<vigie_core::ports::StoreError>> From<DbError> for Wrapped<E> {
    fn from(e: DbError) -> Self {
        Wrapped(E::from(e.into()))
    }
}

fn join(ids: &[&String]) -> String {
    ids.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

fn aad(agent: i64, id: KeyId) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + 12);
    aad.extend_from_slice(AAD_LABEL);
    aad.extend_from_slice(&agent.to_be_bytes());
    aad.extend_from_slice(&id.0);
    aad
}

fn seal_with(key: &SecretKey, id: KeyId, agent: i64, clear: &[u8]) -> Result<Vec<u8>, DbError> {
    use rand::RngCore;
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let cipher = XChaCha20Poly1305::new(Key::from_slice(&key.0));
    let sealed = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: clear, aad: &aad(agent, id) })
        .map_err(|_| corrupt("sealing a secret failed"))?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

fn open_with(key: &SecretKey, id: KeyId, agent: i64, sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let cipher = XChaCha20Poly1305::new(Key::from_slice(&key.0));
    cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: &aad(agent, id) }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_in_its_row_and_under_its_key() {
        let ring = Keyring::generate().with_new_key();
        let (id, key) = ring.keys[0].clone();
        let (other_id, other_key) = ring.keys[1].clone();
        let secret = b"12345678901234567890";
        let sealed = seal_with(&key, id, 7, secret).unwrap();
        assert_eq!(sealed.len(), NONCE_LEN + secret.len() + TAG_LEN);
        assert!(!sealed.windows(secret.len()).any(|w| w == secret));
        assert_eq!(open_with(&key, id, 7, &sealed).unwrap(), secret);
        assert_ne!(seal_with(&key, id, 7, secret).unwrap(), sealed, "a fresh nonce each time");
        assert!(open_with(&key, id, 8, &sealed).is_none(), "moved to another agent's row");
        assert!(open_with(&other_key, other_id, 7, &sealed).is_none(), "another key");
        assert!(open_with(&key, other_id, 7, &sealed).is_none(), "relabelled with another key id");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(open_with(&key, id, 7, &bad).is_none(), "byte {i} flipped");
        }
        assert!(open_with(&key, id, 7, &sealed[..20]).is_none(), "too short");
    }
}
