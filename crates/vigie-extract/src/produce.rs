//! Producing an extract's file: rows → CSV → age (to the recipient: sealed with Vigie's opening
//! secret, or a plain X25519 key where the deployment allows it) → a `.partial`
#![allow(
    deprecated,
    reason = "age 0.13 deprecates classic X25519 recipients in favour of post-quantum ones, which Debian's age 1.1.1 (the recipients' tool) cannot decrypt; the issue asks for X25519"
)]
//! file created 0600, hashed (SHA-256) as it is written, synced, and renamed to its final name
//! only by [`Produced::publish`]. The plaintext exists only in a 64 KiB buffer in memory: a
//! production killed at any point leaves a `.partial` file of ciphertext (removed by the next
//! production) and nothing else.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sha2::{Digest, Sha256};
use vigie_core::extract::ExtractId;
use vigie_core::person::Person;

use crate::ExtractError;
use crate::columns::{self, Column};
use crate::pseudonym::{Pseudonyms, Subject};

/// Who an extract's file is encrypted to.
#[derive(Clone, Debug)]
pub enum Recipient {
    /// `age1vigie1…`: sealed to the recipient's X25519 key *and* the extract's opening secret,
    /// which Vigie releases (to `age-plugin-vigie`, ledgered) only before expiry and deletion.
    Sealed(vigie_seal::RecipientKey),
    /// `age1…`: a plain age X25519 recipient; the file opens offline, without Vigie, forever.
    /// Accepted only where the deployment says `insecure_offline_recipients`.
    Offline(age::x25519::Recipient),
}

impl Recipient {
    pub fn is_sealed(&self) -> bool {
        matches!(self, Recipient::Sealed(_))
    }
}

/// Parses a recipient: `age1vigie1…` (made by `age-plugin-vigie --generate`) or a plain age
/// X25519 key (`age1…`, made by `age-keygen`).
pub fn recipient(text: &str) -> Result<Recipient, ExtractError> {
    let text = text.trim();
    if text.to_ascii_lowercase().starts_with("age1vigie1") {
        return text
            .parse()
            .map(Recipient::Sealed)
            .map_err(|e: vigie_seal::SealError| ExtractError::RecipientKey(e.to_string()));
    }
    age::x25519::Recipient::from_str(text)
        .map(Recipient::Offline)
        .map_err(|e| ExtractError::RecipientKey(format!("{text:?}: {e}")))
}

/// The age recipient that writes an extract's `vigie` stanza.
struct SealedAgeRecipient<'a> {
    extract: String,
    to: &'a vigie_seal::RecipientKey,
    opening: &'a vigie_seal::OpeningSecret,
}

impl age::Recipient for SealedAgeRecipient<'_> {
    fn wrap_file_key(
        &self,
        file_key: &age_core::format::FileKey,
    ) -> Result<(Vec<age_core::format::Stanza>, std::collections::HashSet<String>), age::EncryptError> {
        use age_core::secrecy::ExposeSecret;
        let stanza = vigie_seal::SealedStanza::wrap(file_key.expose_secret(), &self.extract, self.to, self.opening)
            .map_err(|e| age::EncryptError::Io(std::io::Error::other(e.to_string())))?;
        // A label of its own: age refuses to add any other recipient's stanza beside this one,
        // which would open the file without Vigie.
        let labels = std::iter::once(format!("vigie-sealed-{}", self.extract)).collect();
        Ok((
            vec![age_core::format::Stanza {
                tag: vigie_seal::STANZA_TAG.into(),
                args: stanza.args(),
                body: stanza.body,
            }],
            labels,
        ))
    }
}

/// The file names of an extract in its directory.
pub fn file_name(extract: ExtractId) -> String {
    format!("{extract}.csv.age")
}

struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

const FLUSH_AT: usize = 64 * 1024;

/// A production under way.
pub struct Producer<'p> {
    extract: ExtractId,
    columns: Vec<Column>,
    pseudonyms: &'p Pseudonyms,
    out: age::stream::StreamWriter<Hashing<BufWriter<File>>>,
    buf: Vec<u8>,
    reference: Vec<u8>,
    partial: PathBuf,
    /// Canaries still to write: (before real row, canary number, the person), in order.
    canaries: std::vec::IntoIter<(u64, u32, Person)>,
    next_canary: Option<(u64, u32, Person)>,
    real_rows: u64,
    canary_rows: u64,
}

impl std::fmt::Debug for Producer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("extract", &self.extract).field("rows", &self.real_rows).finish()
    }
}

/// A file written completely, not yet published.
#[derive(Debug)]
pub struct Produced {
    pub partial: PathBuf,
    pub sha256: [u8; 32],
    pub bytes: u64,
    pub real_rows: u64,
    pub canary_rows: u64,
}

impl<'p> Producer<'p> {
    /// Starts writing `dir/<extract>.csv.age.partial` (replacing one an interrupted production
    /// left). `canaries`: (before which real row, canary number, person), sorted.
    pub fn create(
        dir: &Path,
        extract: ExtractId,
        columns: Vec<Column>,
        recipient: &Recipient,
        opening: &vigie_seal::OpeningSecret,
        pseudonyms: &'p Pseudonyms,
        canaries: Vec<(u64, u32, Person)>,
    ) -> Result<Self, ExtractError> {
        let partial = dir.join(format!("{}.partial", file_name(extract)));
        match std::fs::remove_file(&partial) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        let file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&partial)?;
        let sink = Hashing { inner: BufWriter::with_capacity(1 << 20, file), hash: Sha256::new(), bytes: 0 };
        let sealed;
        let to: &dyn age::Recipient = match recipient {
            Recipient::Sealed(key) => {
                sealed = SealedAgeRecipient { extract: extract.to_string(), to: key, opening };
                &sealed
            }
            Recipient::Offline(key) => key,
        };
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(to)).map_err(|e| ExtractError::Encrypt(e.to_string()))?;
        let out = encryptor.wrap_output(sink)?;
        let mut buf = Vec::with_capacity(FLUSH_AT + 4096);
        columns::header(&columns, &mut buf);
        let mut canaries = canaries.into_iter();
        let next_canary = canaries.next();
        Ok(Producer {
            extract,
            columns,
            pseudonyms,
            out,
            buf,
            reference: Vec::with_capacity(32),
            partial,
            canaries,
            next_canary,
            real_rows: 0,
            canary_rows: 0,
        })
    }

    fn write_row(&mut self, person: &Person, subject: Subject) -> Result<(), ExtractError> {
        self.reference.clear();
        self.pseudonyms.write(self.extract, subject, &mut self.reference);
        columns::row(&self.columns, person, &self.reference, &mut self.buf);
        if self.buf.len() >= FLUSH_AT {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn canaries_before(&mut self, row: u64) -> Result<(), ExtractError> {
        while let Some((at, n, p)) = self.next_canary.take() {
            if at > row {
                self.next_canary = Some((at, n, p));
                break;
            }
            self.write_row(&p, Subject::Canary(n))?;
            self.canary_rows += 1;
            self.next_canary = self.canaries.next();
        }
        Ok(())
    }

    /// Writes a real person's row (and the canaries placed before it).
    pub fn push(&mut self, person: &Person) -> Result<(), ExtractError> {
        self.canaries_before(self.real_rows)?;
        self.write_row(person, Subject::Person(person.id))?;
        self.real_rows += 1;
        Ok(())
    }

    /// Writes the canaries left, closes the age stream, syncs the file.
    pub fn finish(mut self) -> Result<Produced, ExtractError> {
        self.canaries_before(u64::MAX)?;
        self.out.write_all(&self.buf)?;
        let sink = self.out.finish()?;
        let Hashing { inner, hash, bytes } = sink;
        let file = inner.into_inner().map_err(|e| ExtractError::Io(e.into_error()))?;
        file.sync_all()?;
        Ok(Produced {
            partial: self.partial,
            sha256: hash.finalize().into(),
            bytes,
            real_rows: self.real_rows,
            canary_rows: self.canary_rows,
        })
    }
}

impl Produced {
    /// Renames the file to its final name and syncs the directory.
    pub fn publish(&self) -> Result<PathBuf, ExtractError> {
        let name = self.partial.with_extension("");
        std::fs::rename(&self.partial, &name)?;
        if let Some(dir) = name.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(name)
    }
}
