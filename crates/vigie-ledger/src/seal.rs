//! Retention by crypto-shredding: entry bodies sealed with a key per calendar month (UTC), so
//! that deleting a month's key makes that month's bodies unreadable while the tree, whose leaves
//! hash the sealed bytes, still verifies.
//!
//! A sealed envelope (version 2) is `0x02 | kind u8 | time i64 | period u32 | nonce [24] |
//! ciphertext`: the period is `year × 100 + month` of the time, the cipher XChaCha20-Poly1305
//! with the month's key, the first 18 bytes as associated data (so a body cannot be moved to
//! another kind, time or month), and the ciphertext the body plus a 16-byte tag. Keys are files
//! `<keys>/<YYYY-MM>.key` (32 random bytes in hex, mode 0600) created when a month's first entry
//! is sealed; [`shred_before`] deletes them.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use chacha20poly1305::aead::{Aead, AeadInPlace, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, XChaCha20Poly1305, XNonce};

use crate::format::EntryKind;

/// Envelope version of a sealed body.
pub const ENVELOPE_V2_SEALED: u8 = 0x02;
/// Bytes of a sealed envelope before its ciphertext.
pub const SEALED_HEADER_LEN: usize = 1 + 1 + 8 + 4 + 24;
const AAD_LEN: usize = 14;

/// A calendar month, `year × 100 + month` (UTC).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Period(pub u32);

impl Period {
    /// The month of a time in milliseconds since the Unix epoch.
    pub fn of_millis(millis: i64) -> Period {
        // Howard Hinnant's civil_from_days.
        let z = millis.div_euclid(86_400_000) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Period(u32::try_from(year.clamp(0, 9999) * 100 + month).unwrap_or(0))
    }

    /// Parses `YYYY-MM`.
    pub fn parse(s: &str) -> Option<Period> {
        let (y, m) = s.split_once('-')?;
        if y.len() != 4 || m.len() != 2 {
            return None;
        }
        let (y, m): (u32, u32) = (y.parse().ok()?, m.parse().ok()?);
        (1..=12).contains(&m).then_some(Period(y * 100 + m))
    }

    fn file_name(self) -> String {
        format!("{:04}-{:02}.key", self.0 / 100, self.0 % 100)
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.0 / 100, self.0 % 100)
    }
}

/// The month keys in a directory, loaded (or created) as needed and cached.
#[derive(Debug)]
pub struct KeyRing {
    dir: PathBuf,
    /// `None`: the key file does not exist (shredded, or never created).
    cache: Mutex<HashMap<Period, Option<[u8; 32]>>>,
}

impl KeyRing {
    pub fn new(dir: &Path) -> Self {
        KeyRing { dir: dir.to_path_buf(), cache: Mutex::new(HashMap::new()) }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn read(&self, period: Period) -> io::Result<Option<[u8; 32]>> {
        let text = match fs::read_to_string(self.dir.join(period.file_name())) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let text = text.trim();
        let mut key = [0u8; 32];
        if text.len() != 64 || !text.is_ascii() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("key {period} is not 64 hex digits")));
        }
        for (i, b) in key.iter_mut().enumerate() {
            *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("key {period} is not hex")))?;
        }
        Ok(Some(key))
    }

    /// The key of `period`, if it exists.
    pub fn get(&self, period: Period) -> io::Result<Option<[u8; 32]>> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(k) = cache.get(&period) {
            return Ok(*k);
        }
        let key = self.read(period)?;
        cache.insert(period, key);
        Ok(key)
    }

    /// The key of `period`, created (0600, synced) if it does not exist yet.
    pub fn get_or_create(&self, period: Period) -> io::Result<[u8; 32]> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(Some(k)) = cache.get(&period) {
            return Ok(*k);
        }
        if let Some(k) = self.read(period)? {
            cache.insert(period, Some(k));
            return Ok(k);
        }
        use rand::RngCore;
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        crate::private::create_dir_all(&self.dir)?;
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            // Whoever reads this key reads that month's accesses.
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        // Written whole under a temporary name, then renamed: a crash never leaves an empty or
        // half-written key that would refuse every append of the month.
        let path = self.dir.join(period.file_name());
        let temp = path.with_extension("key.tmp");
        match fs::remove_file(&temp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut file = options.open(&temp)?;
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        file.write_all(format!("{hex}\n").as_bytes())?;
        file.sync_all()?;
        fs::rename(&temp, &path)?;
        crate::recover::sync_dir(&self.dir)?;
        if let Some(parent) = self.dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::recover::sync_dir(parent)?;
        }
        cache.insert(period, Some(key));
        Ok(key)
    }
}

/// A month's cipher for one nonce prefix, kept by an appender across the entries of one append
/// (which are nearly always of one month) so that the key ring's lock is taken once per append,
/// not per entry. XChaCha20-Poly1305 with nonce `prefix ‖ n` is ChaCha20-Poly1305 keyed with
/// HChaCha20(key, prefix) and nonce `0000 ‖ n`; the prefix is fixed for a ledger handle, so the
/// HChaCha20 step is done here once instead of once per entry (the output is the same bytes,
/// which [`open`] reads with XChaCha20-Poly1305).
pub type MonthCipher = Option<(Period, [u8; 16], ChaCha20Poly1305)>;

/// Appends the sealed envelope of `body` to `out`, with `nonce` (unique per entry and key).
pub fn seal(
    out: &mut Vec<u8>,
    kind: EntryKind,
    at: i64,
    body: &[u8],
    keys: &KeyRing,
    cached: &mut MonthCipher,
    nonce: [u8; 24],
) -> io::Result<()> {
    let period = Period::of_millis(at);
    let mut prefix = [0u8; 16];
    prefix.copy_from_slice(&nonce[..16]);
    let cipher = match cached {
        Some((p, pre, cipher)) if *p == period && *pre == prefix => cipher,
        _ => {
            let key = keys.get_or_create(period)?;
            let subkey = chacha20::hchacha::<chacha20::cipher::consts::U10>(Key::from_slice(&key), (&prefix).into());
            &cached.insert((period, prefix, ChaCha20Poly1305::new(&subkey))).2
        }
    };
    let mut short_nonce = [0u8; 12];
    short_nonce[4..].copy_from_slice(&nonce[16..]);
    let start = out.len();
    out.push(ENVELOPE_V2_SEALED);
    out.push(kind.code());
    out.extend_from_slice(&at.to_be_bytes());
    out.extend_from_slice(&period.0.to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(body);
    let (head, rest) = out.split_at_mut(start + SEALED_HEADER_LEN);
    let aad = &head[start..start + AAD_LEN];
    let tag = cipher
        .encrypt_in_place_detached(Nonce::from_slice(&short_nonce), aad, rest)
        .map_err(|_| io::Error::other("sealing failed"))?;
    out.extend_from_slice(&tag);
    Ok(())
}

/// A sealed envelope's parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sealed<'a> {
    pub kind: EntryKind,
    pub at: i64,
    pub period: Period,
    nonce: &'a [u8],
    aad: &'a [u8],
    ciphertext: &'a [u8],
}

/// Reads a sealed envelope's header (without opening it).
pub fn parse_sealed(b: &[u8]) -> Option<Sealed<'_>> {
    if b.len() < SEALED_HEADER_LEN + 16 || b[0] != ENVELOPE_V2_SEALED {
        return None;
    }
    let kind = EntryKind::from_code(b[1])?;
    let at = i64::from_be_bytes(b[2..10].try_into().ok()?);
    let period = Period(u32::from_be_bytes(b[10..14].try_into().ok()?));
    Some(Sealed { kind, at, period, nonce: &b[14..38], aad: &b[..AAD_LEN], ciphertext: &b[SEALED_HEADER_LEN..] })
}

/// Why a sealed body could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsealed {
    Body,
    /// The month's key was deleted (retention): the body is gone for good.
    Shredded,
    /// The key does not open it (a wrong key file, or a damaged entry).
    Undecryptable,
}

/// Opens a sealed body with the key ring.
pub fn open(sealed: &Sealed<'_>, keys: &KeyRing) -> (Unsealed, Vec<u8>) {
    let key = match keys.get(sealed.period) {
        Ok(Some(k)) => k,
        Ok(None) => return (Unsealed::Shredded, Vec::new()),
        Err(_) => return (Unsealed::Undecryptable, Vec::new()),
    };
    let cipher = XChaCha20Poly1305::new(Key::from_slice(&key));
    match cipher.decrypt(XNonce::from_slice(sealed.nonce), Payload { msg: sealed.ciphertext, aad: sealed.aad }) {
        Ok(body) => (Unsealed::Body, body),
        Err(_) => (Unsealed::Undecryptable, Vec::new()),
    }
}

/// Deletes the keys of every month before `before` in `dir` (synced); returns the files removed.
pub fn shred_before(dir: &Path, before: Period) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(period) = name.to_str().and_then(|n| n.strip_suffix(".key")).and_then(Period::parse) else {
            continue;
        };
        if period < before {
            fs::remove_file(entry.path())?;
            removed.push(entry.path());
        }
    }
    removed.sort();
    if !removed.is_empty() {
        crate::recover::sync_dir(dir)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_utc_months() {
        assert_eq!(Period::of_millis(0), Period(197001));
        assert_eq!(Period::of_millis(1_760_000_000_000), Period(202510)); // 2025-10-09
        assert_eq!(Period::of_millis(951_782_400_000), Period(200002)); // 2000-02-29 00:00
        assert_eq!(Period::of_millis(951_868_799_999), Period(200002)); // 2000-02-29 23:59:59.999
        assert_eq!(Period::of_millis(951_868_800_000), Period(200003));
        assert_eq!(Period::of_millis(-1), Period(196912));
        assert_eq!(Period::parse("2026-11"), Some(Period(202611)));
        assert_eq!(Period::parse("2026-13"), None);
        assert_eq!(Period(202611).to_string(), "2026-11");
    }

    #[test]
    fn sealing_is_xchacha20_poly1305_with_the_nonce_written() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyRing::new(dir.path());
        let nonce: [u8; 24] = std::array::from_fn(|i| i as u8 * 7);
        let mut env = Vec::new();
        let mut cached = None;
        seal(&mut env, EntryKind::Security, 1_760_000_000_000, b"agent 7 signed in", &keys, &mut cached, nonce)
            .unwrap();
        let key = keys.get(Period(202510)).unwrap().unwrap();
        let direct = XChaCha20Poly1305::new(Key::from_slice(&key))
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: b"agent 7 signed in", aad: &env[..AAD_LEN] })
            .unwrap();
        assert_eq!(&env[SEALED_HEADER_LEN..], direct.as_slice());
        assert_eq!(&env[14..38], &nonce);
        // The cached cipher is reused for the same month and prefix only.
        let mut other = nonce;
        other[0] ^= 1;
        let mut env2 = Vec::new();
        seal(&mut env2, EntryKind::Security, 1_760_000_000_000, b"x", &keys, &mut cached, other).unwrap();
        assert_eq!(open(&parse_sealed(&env2).unwrap(), &keys), (Unsealed::Body, b"x".to_vec()));
    }

    #[test]
    fn sealed_bodies_open_with_their_month_key_and_not_after_shredding() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyRing::new(dir.path());
        let mut env = Vec::new();
        seal(&mut env, EntryKind::Access, 1_760_000_000_000, b"person 42", &keys, &mut None, [7; 24]).unwrap();
        assert_eq!(env.len(), SEALED_HEADER_LEN + 9 + 16);
        assert_eq!(&env[..2], &[0x02, 0x01]);
        assert_eq!(&env[10..14], &202510u32.to_be_bytes());
        let sealed = parse_sealed(&env).unwrap();
        assert_eq!((sealed.kind, sealed.at, sealed.period), (EntryKind::Access, 1_760_000_000_000, Period(202510)));
        assert_eq!(open(&sealed, &keys), (Unsealed::Body, b"person 42".to_vec()));
        // The metadata is bound to the ciphertext.
        let mut moved = env.clone();
        moved[9] ^= 1;
        assert_eq!(open(&parse_sealed(&moved).unwrap(), &keys).0, Unsealed::Undecryptable);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("2025-10.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(shred_before(dir.path(), Period(202510)).unwrap(), Vec::<PathBuf>::new());
        assert_eq!(shred_before(dir.path(), Period(202511)).unwrap(), vec![dir.path().join("2025-10.key")]);
        let fresh = KeyRing::new(dir.path());
        assert_eq!(open(&sealed, &fresh), (Unsealed::Shredded, Vec::new()));
    }
}
