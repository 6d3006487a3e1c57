//! The ledger handle: open a directory, append durably, read back, prove, verify.
//!
//! `Ledger` is the file-backed [`AccessLedger`]: `append` returns only once the events are
//! written and synced, and fails closed (an error, never a silent drop) once the writer has
//! failed. One process holds a ledger directory at a time, through a lock file.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use vigie_core::event::AccessEvent;
use vigie_core::ports::{AccessLedger, Durability, LedgerError, LedgerReceipt};

use crate::entries::Entries;
use crate::error::{OpenError, VerifyError};
use crate::format::{self, EntryKind, Envelope};
use crate::note::{NoteSigner, NoteVerifier};
use crate::recover::{self, OpenReport};
use crate::scan::{self, Published};
use crate::verify::{self, VerifyOptions, VerifyReport};
use crate::witness::{self, Publisher, Witness};
use crate::writer::{self, Head, LedgerStats, Request, Shared, Writer, WriterConfig};

/// Name of the lock file inside the ledger directory.
pub const LOCK_FILE: &str = "LOCK";

/// How the ledger batches, rolls, signs and publishes.
#[derive(Clone, Debug)]
pub struct LedgerOptions {
    /// A new segment is started before the next batch once the current one reaches this size.
    pub segment_bytes: u64,
    /// Most entries made durable by one fsync (a single larger append is still taken whole).
    pub max_batch_entries: usize,
    /// How long the writer waits for more appends before syncing a batch that is not full.
    /// Zero by default: appends queue up while the previous fsync runs, which batches them
    /// without adding latency at low load; a linger only helps a disk whose fsync is cheaper
    /// than the wait.
    pub linger: Duration,
    /// A checkpoint is published at least this often while entries arrive, and at close.
    pub checkpoint_interval: Duration,
    /// Appends fail once the log has grown past its last published checkpoint for this long:
    /// whatever stops checkpoints (a full disk, a witness directory gone, an obstacle planted
    /// by an intruder) stops data from leaving too, rather than letting the log run on
    /// unwitnessed, where a later rollback would go unnoticed.
    pub checkpoint_deadline: Duration,
    /// Name of the key created at first start, which is also the checkpoints' origin line.
    pub origin: String,
    /// The signing key file; `<ledger>/ledger.key` if `None` (the server passes
    /// `<data>/ledger.key`, outside the directory it hands to auditors).
    pub key_file: Option<PathBuf>,
    /// Where each checkpoint is pushed besides `<ledger>/checkpoint`.
    pub witnesses: Vec<Witness>,
    /// Seal access and security event bodies with a key per month kept in this directory
    /// (retention by crypto-shredding, see [`crate::seal`]); clear bodies if `None`.
    pub seal_keys: Option<PathBuf>,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            segment_bytes: 256 << 20,
            max_batch_entries: 4096,
            linger: Duration::ZERO,
            checkpoint_interval: Duration::from_secs(1),
            checkpoint_deadline: Duration::from_secs(10),
            origin: "vigie/ledger".into(),
            key_file: None,
            witnesses: Vec::new(),
            seal_keys: None,
        }
    }
}

impl LedgerOptions {
    /// The key file these options use for the ledger in `dir`.
    pub fn key_path(&self, dir: &Path) -> PathBuf {
        self.key_file.clone().unwrap_or_else(|| dir.join(crate::key::DEFAULT_KEY_FILE))
    }

    /// The witness directories among the witnesses.
    pub fn witness_dirs(&self) -> Vec<PathBuf> {
        self.witnesses
            .iter()
            .filter_map(|w| match w {
                Witness::Directory(d) => Some(d.clone()),
                Witness::Http(_) => None,
            })
            .collect()
    }
}

/// An open, append-only Merkle access ledger.
pub struct Ledger {
    dir: PathBuf,
    requests: Option<Sender<Request>>,
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
    publisher: Option<JoinHandle<()>>,
    verifier: NoteVerifier,
    witness_dirs: Vec<PathBuf>,
    checkpoint_deadline: Duration,
    seal: Option<Sealer>,
    report: OpenReport,
    _lock: File,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").field("dir", &self.dir).field("head", &self.head()).finish_non_exhaustive()
    }
}

impl Ledger {
    /// Opens (or creates) the ledger in `dir`: takes the lock, loads (or creates) the signing
    /// key, walks and checks every segment, cuts a torn tail from the last one, rebuilds the tree
    /// and its tiles, checks the log against every checkpoint it published (its own, and those in
    /// witness directories), publishes a checkpoint of what it found, and starts the writer.
    /// Refuses to open, saying where and how to investigate, if the ledger is damaged anywhere
    /// but a torn tail, or is older than a published checkpoint, or does not match one.
    pub fn open(dir: &Path, options: LedgerOptions) -> Result<Ledger, OpenError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OpenError::Io { path, source }
        };
        if !dir.exists() {
            crate::private::create_dir_all(dir).map_err(io(dir))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                recover::sync_dir(parent).map_err(io(parent))?;
            }
        }
        let lock_path = dir.join(LOCK_FILE);
        let lock =
            crate::private::file().create(true).truncate(false).write(true).open(&lock_path).map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(OpenError::Locked { path: dir.to_path_buf() });
            }
            Err(TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
        let key_path = options.key_path(dir);
        // A log that already published checkpoints keeps its key: a new one would leave every
        // earlier checkpoint unverifiable (and look like a forgery to the witnesses).
        if !key_path.exists() && dir.join(witness::CHECKPOINT_FILE).exists() {
            return Err(OpenError::Key {
                path: key_path,
                reason: "missing, but the log has published checkpoints under a key: restore the key file from \
                         its backup (a new key would not verify them); "
                    .to_owned()
                    + crate::error::INVESTIGATE,
            });
        }
        let (signer, key_created) = crate::key::load_or_create(&key_path, &options.origin)
            .map_err(|e| OpenError::Key { path: key_path.clone(), reason: e.to_string() })?;
        let verifier = signer.verifier();
        let witness_dirs = options.witness_dirs();
        let (published, missing) = published_checkpoints(dir, &witness_dirs, &verifier)?;
        let mut recovered = recover::recover(dir, &published)?;
        // Every open publishes to the ledger and every witness directory before anything is
        // appended, so a log with entries has a checkpoint in each: one that is not there was
        // deleted, or its witness is not mounted (and must not be written to as if it were).
        if let Some(path) = missing.into_iter().next().filter(|_| recovered.tree.size() > 0) {
            return Err(OpenError::Checkpoint(crate::CheckpointError::Missing {
                path,
                log_size: recovered.tree.size(),
            }));
        }
        recovered.report.key_created = key_created;
        let (last_path, segment, segment_len) = recovered.last;
        // Appends resume after the last record, over any zeros reserved before a crash.
        let mut file = OpenOptions::new().write(true).open(&last_path).map_err(io(&last_path))?;
        let reserved = file.metadata().map_err(io(&last_path))?.len();
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(segment_len)).map_err(io(&last_path))?;
        let tree = recovered.tree;
        let head = Head { count: tree.size(), root: tree.root() };

        let publisher = Publisher::new(dir, signer, &options.witnesses).map_err(io(dir))?;
        // What was found is published before anything is appended: entries acknowledged after
        // the last checkpoint before a crash are witnessed now (and a newly configured witness
        // gets the log's state at once), and the partial tiles are complete.
        let note = Some(publisher.publish(head.count, head.root, &tree.partial_tiles()).map_err(io(dir))?.0);

        let shared = Arc::new(Shared::new(head, note, head.count));
        let (tx, rx) = crossbeam_channel::unbounded();
        let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded();
        let publisher_thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("vigie-ledger-publish".into())
                .spawn(move || writer::run_publisher(publisher, jobs_rx, shared))
                .map_err(OpenError::Spawn)?
        };
        let writer = Writer {
            dir: dir.to_path_buf(),
            file,
            segment,
            segment_len,
            reserved: reserved.max(segment_len),
            published: (tree.size(), Instant::now()),
            tree,
            config: WriterConfig {
                segment_bytes: options.segment_bytes,
                max_batch_entries: options.max_batch_entries.max(1),
                linger: options.linger,
                checkpoint_interval: options.checkpoint_interval.max(Duration::from_millis(1)),
            },
            shared: Arc::clone(&shared),
            requests: rx,
            jobs: jobs_tx,
        };
        let handle = std::thread::Builder::new()
            .name("vigie-ledger-writer".into())
            .spawn(move || writer.run())
            .map_err(OpenError::Spawn)?;
        Ok(Ledger {
            dir: dir.to_path_buf(),
            requests: Some(tx),
            shared,
            writer: Some(handle),
            publisher: Some(publisher_thread),
            verifier,
            witness_dirs,
            checkpoint_deadline: options.checkpoint_deadline.max(options.checkpoint_interval),
            seal: options.seal_keys.as_deref().map(Sealer::new),
            report: recovered.report,
            _lock: lock,
        })
    }

    /// What opening found: entries, segments, a torn tail that was cut, tiles repaired.
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The last durable entry.
    pub fn head(&self) -> Head {
        self.shared.head()
    }

    pub fn stats(&self) -> LedgerStats {
        self.shared.stats()
    }

    /// The public key checkpoints are signed with (`<name>+<id>+<key>`), for witnesses to pin.
    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// The latest published checkpoint note.
    pub fn checkpoint(&self) -> Option<String> {
        self.shared.checkpoint.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Appends already-encoded bodies (as opaque entries), in order, as one contiguous run of
    /// entries. Blocks until they are durable.
    pub fn append_bodies<B: AsRef<[u8]>>(&self, bodies: &[B]) -> Result<LedgerReceipt, LedgerError> {
        let mut framed = Vec::with_capacity(bodies.iter().map(|b| b.as_ref().len() + 20).sum());
        let mut leaves = Vec::with_capacity(bodies.len());
        let mut envelope = Vec::new();
        for body in bodies {
            envelope.clear();
            Envelope { kind: EntryKind::Opaque, at: 0, body: body.as_ref() }.encode(&mut envelope);
            leaves.push(format::push_record(&mut framed, &envelope).ok_or_else(|| {
                LedgerError(format!("entry of {} bytes exceeds the ledger's limit", body.as_ref().len()))
            })?);
        }
        self.append_framed(framed, leaves)
    }

    /// Appends framed records and blocks until the writer has made them durable.
    fn append_framed(&self, framed: Vec<u8>, leaves: Vec<crate::merkle::Hash>) -> Result<LedgerReceipt, LedgerError> {
        match self.enqueue(framed, leaves)? {
            Queued::Done(receipt) => Ok(receipt),
            Queued::Waiting(reply) => {
                let writer_gone = || self.writer.as_ref().is_none_or(JoinHandle::is_finished);
                reply.wait(&writer_gone).ok_or_else(writer_stopped)?
            }
        }
    }

    /// Hands records to the writer; the answer comes through the returned reply.
    fn enqueue(&self, framed: Vec<u8>, leaves: Vec<crate::merkle::Hash>) -> Result<Queued, LedgerError> {
        if let Some(reason) = self.shared.failure.get() {
            return Err(LedgerError(reason.clone()));
        }
        if leaves.is_empty() {
            return Ok(Queued::Done(LedgerReceipt { first: self.head().count, count: 0 }));
        }
        self.check_witnessing()?;
        let reply = Arc::new(writer::Reply::default());
        let requests = self.requests.as_ref().ok_or_else(writer_stopped)?;
        requests.send(Request { framed, leaves, reply: Arc::clone(&reply) }).map_err(|_| writer_stopped())?;
        Ok(Queued::Waiting(reply))
    }

    /// Fails when the log has run unwitnessed for longer than the checkpoint deadline.
    fn check_witnessing(&self) -> Result<(), LedgerError> {
        let published = self.shared.published_size.load(std::sync::atomic::Ordering::SeqCst);
        if self.head().count <= published {
            return Ok(());
        }
        let behind = *self.shared.behind_since.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(since) = behind.map(|t| t.elapsed()).filter(|&s| s > self.checkpoint_deadline) else {
            return Ok(());
        };
        let stats = self.shared.stats();
        Err(LedgerError(format!(
            "no checkpoint published for {} s while the log grew from {published} to {} entries ({} checkpoint \
             failures): refusing to append, so that nothing leaves unwitnessed; check that {} and the witness \
             directories are writable",
            since.as_secs(),
            self.head().count,
            stats.checkpoint_failures,
            self.dir.join(witness::CHECKPOINT_FILE).display()
        )))
    }

    /// The durable entries, in order, re-checked as they are read (entries appended after this
    /// call are not included).
    pub fn entries(&self) -> Result<Entries, VerifyError> {
        let entries = Entries::open_limited(&self.dir, Some(self.head().count))?;
        Ok(match &self.seal {
            Some(sealer) => entries.with_keys(sealer.keys.dir()),
            None => entries,
        })
    }

    /// Verifies the entries up to the latest published checkpoint as [`crate::verify_with`]
    /// does, with this ledger's key and witness directories (tiles are written behind the
    /// appends, before the checkpoint that covers them; the right-edge tiles are left out).
    pub fn verify(&self) -> Result<VerifyReport, VerifyError> {
        let options = VerifyOptions { verifier: Some(self.verifier.clone()), witness_dirs: self.witness_dirs.clone() };
        let published = || Some(self.shared.published_size.load(std::sync::atomic::Ordering::SeqCst));
        verify::verify_limited(&self.dir, &options, published, |_, _| {})
    }

    #[cfg(test)]
    pub(crate) fn inject_write_failure(&self) {
        self.shared.fail_next_write.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The checkpoints the log must live up to: its own and the witness directories', each with a
/// valid signature by `verifier`.
fn published_checkpoints(
    dir: &Path,
    witness_dirs: &[PathBuf],
    verifier: &NoteVerifier,
) -> Result<(Vec<Published>, Vec<PathBuf>), OpenError> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    let paths = std::iter::once(dir.join(witness::CHECKPOINT_FILE))
        .chain(witness_dirs.iter().map(|w| w.join(witness::CHECKPOINT_FILE)));
    for path in paths {
        match scan::read_checkpoint(&path, verifier).map_err(OpenError::Checkpoint)? {
            Some(p) => out.push(p),
            None => missing.push(path),
        }
    }
    Ok((out, missing))
}

impl Ledger {
    /// Seals (when configured) and frames events as records, with each record's leaf hash.
    #[allow(clippy::type_complexity)]
    fn frame<E>(
        &self,
        events: &[E],
        kind: EntryKind,
        at: impl Fn(&E) -> i64,
        encode: impl Fn(&E, &mut Vec<u8>),
    ) -> Result<(Vec<u8>, Vec<crate::merkle::Hash>), LedgerError> {
        let mut framed = Vec::with_capacity(events.len() * 128);
        let mut leaves = Vec::with_capacity(events.len());
        let mut envelope = Vec::with_capacity(128);
        let mut body = Vec::new();
        let mut cipher = None;
        for event in events {
            envelope.clear();
            match &self.seal {
                Some(sealer) => {
                    body.clear();
                    encode(event, &mut body);
                    sealer
                        .seal(&mut envelope, kind, at(event), &body, &mut cipher)
                        .map_err(|e| LedgerError(format!("sealing an entry failed: {e}")))?;
                }
                None => {
                    Envelope { kind, at: at(event), body: &[] }.encode(&mut envelope);
                    encode(event, &mut envelope);
                }
            }
            leaves.push(
                format::push_record(&mut framed, &envelope).ok_or_else(|| {
                    LedgerError(format!("event of {} bytes exceeds the ledger's limit", envelope.len()))
                })?,
            );
        }
        Ok((framed, leaves))
    }
}

impl AccessLedger for Ledger {
    fn append(&self, events: &[AccessEvent]) -> Result<LedgerReceipt, LedgerError> {
        let (framed, leaves) = self.frame(events, EntryKind::Access, |e| e.at.0, AccessEvent::encode)?;
        self.append_framed(framed, leaves)
    }

    fn submit(&self, events: &[AccessEvent]) -> Durability {
        let queued = self
            .frame(events, EntryKind::Access, |e| e.at.0, AccessEvent::encode)
            .and_then(|(framed, leaves)| self.enqueue(framed, leaves));
        match queued {
            Ok(Queued::Done(receipt)) => Durability::ready(Ok(receipt)),
            Ok(Queued::Waiting(reply)) => Durability::pending(Box::new(PendingAppend(reply))),
            Err(e) => Durability::ready(Err(e)),
        }
    }

    fn record(&self, events: &[vigie_core::security::SecurityEvent]) -> Result<LedgerReceipt, LedgerError> {
        let (framed, leaves) =
            self.frame(events, EntryKind::Security, |e| e.at.0, vigie_core::security::SecurityEvent::encode)?;
        self.append_framed(framed, leaves)
    }
}

/// An append the writer has not answered yet.
enum Queued {
    Done(LedgerReceipt),
    Waiting(Arc<writer::Reply>),
}

fn writer_stopped() -> LedgerError {
    LedgerError("ledger writer has stopped".into())
}

/// A queued append, as the guard's port sees it. The writer answers every request it takes,
/// and a request it never takes (it stopped) is dropped with the channel (crossbeam drops what
/// is queued once the receiver is gone) and answers with an error as it goes (`Request`'s
/// `Drop`), so waiting on the reply alone cannot hang.
struct PendingAppend(Arc<writer::Reply>);

impl vigie_core::ports::PendingAppend for PendingAppend {
    fn wait(self: Box<Self>) -> Result<LedgerReceipt, LedgerError> {
        self.0.wait(&|| false).ok_or_else(writer_stopped)?
    }

    fn poll_answer(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<LedgerReceipt, LedgerError>> {
        self.0.poll(cx)
    }
}

impl Drop for Ledger {
    /// Stops the writer once it has served every request already sent, then the publisher thread
    /// once it has published the last checkpoint.
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(handle) = self.writer.take() {
            let _ = handle.join();
        }
        if let Some(handle) = self.publisher.take() {
            let _ = handle.join();
        }
    }
}

/// Seals bodies with the month keys and a nonce unique per entry: a random 16-byte prefix drawn
/// at open and a counter.
#[derive(Debug)]
struct Sealer {
    keys: crate::seal::KeyRing,
    prefix: [u8; 16],
    counter: std::sync::atomic::AtomicU64,
}

impl Sealer {
    fn new(dir: &Path) -> Self {
        use rand::RngCore;
        let mut prefix = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut prefix);
        Sealer { keys: crate::seal::KeyRing::new(dir), prefix, counter: std::sync::atomic::AtomicU64::new(0) }
    }

    fn seal(
        &self,
        out: &mut Vec<u8>,
        kind: EntryKind,
        at: i64,
        body: &[u8],
        cipher: &mut crate::seal::MonthCipher,
    ) -> std::io::Result<()> {
        let mut nonce = [0u8; 24];
        nonce[..16].copy_from_slice(&self.prefix);
        let n = self.counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        nonce[16..].copy_from_slice(&n.to_be_bytes());
        crate::seal::seal(out, kind, at, body, &self.keys, cipher, nonce)
    }
}

/// Loads the verifier of a key file (what `vigie ledger verify` uses when given no `--vkey`).
pub fn verifier_from_key_file(path: &Path) -> Result<NoteVerifier, OpenError> {
    crate::key::load(path)
        .map(|s: NoteSigner| s.verifier())
        .map_err(|e| OpenError::Key { path: path.to_path_buf(), reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_write_failure_fails_closed_and_reopen_cuts_it() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
        let ok = ledger.append_bodies(&[b"one".as_slice(), b"two"]).unwrap();
        assert_eq!(ok, LedgerReceipt { first: 0, count: 2 });
        ledger.inject_write_failure();
        let err = ledger.append_bodies(&[b"three".as_slice(), b"four"]).unwrap_err();
        assert!(err.0.contains("injected"), "{err}");
        // Every later append fails too, without reaching the writer's file.
        for _ in 0..3 {
            assert!(ledger.append_bodies(&[b"five"]).is_err());
        }
        assert_eq!(ledger.head().count, 2);
        drop(ledger);

        let reopened = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
        let report = reopened.open_report();
        assert_eq!(report.entries, 2);
        let torn = report.torn_tail.as_ref().expect("the half-written batch is cut");
        assert_eq!(torn.first_index, 2);
        let bodies: Vec<Vec<u8>> = reopened.entries().unwrap().map(|e| e.unwrap().body).collect();
        assert_eq!(bodies, vec![b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(reopened.append_bodies(&[b"again"]).unwrap().first, 2);
    }

    #[test]
    fn an_awaited_append_is_answered_with_the_writers_failure() {
        use vigie_core::ports::PendingAppend as _;
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
        ledger.inject_write_failure();
        let (framed, leaves) =
            ledger.frame(&[b"one".as_slice()], EntryKind::Opaque, |_| 0, |b, out| out.extend_from_slice(b)).unwrap();
        let Queued::Waiting(reply) = ledger.enqueue(framed, leaves).unwrap() else { panic!("an entry to wait for") };
        let mut pending = PendingAppend(reply);
        let waker = std::task::Waker::noop();
        let deadline = Instant::now() + Duration::from_secs(30);
        let answer = loop {
            match pending.poll_answer(&mut std::task::Context::from_waker(waker)) {
                std::task::Poll::Ready(answer) => break answer,
                std::task::Poll::Pending => {
                    assert!(Instant::now() < deadline, "the failed append was never answered");
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        };
        let err = answer.unwrap_err();
        assert!(err.0.contains("injected"), "{err}");
        // What comes after fails at once, without waiting for a writer that has given up.
        assert!(matches!(
            ledger.submit(&[]).wait(),
            Err(LedgerError(reason)) if reason.contains("injected")
        ));
    }

    #[test]
    fn pending_appends_all_fail_when_the_writer_fails() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Arc::new(Ledger::open(dir.path(), LedgerOptions::default()).unwrap());
        let results: Vec<Vec<Result<LedgerReceipt, LedgerError>>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|t| {
                    let ledger = Arc::clone(&ledger);
                    s.spawn(move || {
                        (0..200)
                            .map(|i| {
                                if t == 0 && i == 50 {
                                    ledger.inject_write_failure();
                                }
                                ledger.append_bodies(&[format!("{t}-{i}")])
                            })
                            .collect()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let durable = ledger.head().count;
        let all: Vec<_> = results.iter().flatten().collect();
        assert!(all.iter().any(|r| r.is_err()));
        for (t, per_thread) in results.iter().enumerate() {
            // Once a thread saw an error it never sees a success again.
            let first_err = per_thread.iter().position(Result::is_err).unwrap_or(per_thread.len());
            assert!(per_thread[first_err..].iter().all(Result::is_err), "thread {t}");
            for receipt in per_thread[..first_err].iter().map(|r| r.as_ref().unwrap()) {
                assert!(receipt.first < durable);
            }
        }
        let acknowledged = all.iter().filter(|r| r.is_ok()).count() as u64;
        assert_eq!(acknowledged, durable);
    }
}
