//! The ledger handle: open a directory, append durably, read back, verify.
//!
//! `Ledger` is the file-backed [`AccessLedger`]: `append` returns only once the events are
//! written and synced, and fails closed (an error, never a silent drop) once the writer has
//! failed. One process holds a ledger directory at a time, through a lock file.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;
use vigie_core::event::AccessEvent;
use vigie_core::ports::{AccessLedger, LedgerError, LedgerReceipt};

use crate::entries::Entries;
use crate::error::{OpenError, VerifyError};
use crate::format;
use crate::recover::{self, OpenReport};
use crate::verify::{self, VerifyReport};
use crate::writer::{Head, LedgerStats, Request, Shared, Writer, WriterConfig};

/// Name of the lock file inside the ledger directory.
pub const LOCK_FILE: &str = "LOCK";

/// How the ledger batches and rolls.
#[derive(Clone, Copy, Debug)]
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
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions { segment_bytes: 256 << 20, max_batch_entries: 1024, linger: Duration::ZERO }
    }
}

/// An open, append-only, hash-chained access ledger.
pub struct Ledger {
    dir: PathBuf,
    requests: Option<Sender<Request>>,
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
    report: OpenReport,
    _lock: File,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").field("dir", &self.dir).field("head", &self.head()).finish_non_exhaustive()
    }
}

impl Ledger {
    /// Opens (or creates) the ledger in `dir`: takes the lock, walks and checks every segment,
    /// cuts a torn tail from the last one, and starts the writer thread. Refuses to open, naming
    /// the segment, entry and byte, if the ledger is damaged anywhere else.
    pub fn open(dir: &Path, options: LedgerOptions) -> Result<Ledger, OpenError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OpenError::Io { path, source }
        };
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(io(dir))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                recover::sync_dir(parent).map_err(io(parent))?;
            }
        }
        let lock_path = dir.join(LOCK_FILE);
        let lock =
            OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(OpenError::Locked { path: dir.to_path_buf() });
            }
            Err(TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
        let recovered = recover::recover(dir)?;
        let (last_path, segment, segment_len) = recovered.last;
        let file = OpenOptions::new().append(true).open(&last_path).map_err(io(&last_path))?;
        let head = Head { count: recovered.next_index, chain: recovered.chain };
        let shared = Arc::new(Shared::new(head));
        let (tx, rx) = crossbeam_channel::unbounded();
        let writer = Writer {
            dir: dir.to_path_buf(),
            file,
            segment,
            segment_len,
            next_index: recovered.next_index,
            chain: recovered.chain,
            config: WriterConfig {
                segment_bytes: options.segment_bytes,
                max_batch_entries: options.max_batch_entries.max(1),
                linger: options.linger,
            },
            shared: Arc::clone(&shared),
            requests: rx,
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
            report: recovered.report,
            _lock: lock,
        })
    }

    /// What opening found: entries, segments, a torn tail that was cut.
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

    /// Appends already-encoded bodies, in order, as one contiguous run of entries. Blocks until
    /// they are durable.
    pub fn append_bodies<B: AsRef<[u8]>>(&self, bodies: &[B]) -> Result<LedgerReceipt, LedgerError> {
        let mut framed = Vec::with_capacity(bodies.iter().map(|b| b.as_ref().len() + 4).sum());
        let mut ends = Vec::with_capacity(bodies.len());
        for body in bodies {
            format::push_framed(&mut framed, body.as_ref()).ok_or_else(|| {
                LedgerError(format!("entry of {} bytes exceeds the ledger's limit", body.as_ref().len()))
            })?;
            ends.push(framed.len());
        }
        self.submit(framed, ends)
    }

    fn submit(&self, framed: Vec<u8>, ends: Vec<usize>) -> Result<LedgerReceipt, LedgerError> {
        if let Some(reason) = self.shared.failure.get() {
            return Err(LedgerError(reason.clone()));
        }
        if ends.is_empty() {
            return Ok(LedgerReceipt { first: self.head().count, count: 0 });
        }
        let stopped = || LedgerError("ledger writer has stopped".into());
        let (reply, acknowledged) = crossbeam_channel::bounded(1);
        let requests = self.requests.as_ref().ok_or_else(stopped)?;
        requests.send(Request { framed, ends, reply }).map_err(|_| stopped())?;
        acknowledged.recv().map_err(|_| stopped())?
    }

    /// The durable entries, in order, re-checked as they are read (entries appended after this
    /// call are not included).
    pub fn entries(&self) -> Result<Entries, VerifyError> {
        Entries::open_limited(&self.dir, Some(self.head().count))
    }

    /// Re-hashes every durable entry, as [`crate::verify`] does on a closed ledger.
    pub fn verify(&self) -> Result<VerifyReport, VerifyError> {
        verify::verify_limited(&self.dir, Some(self.head().count), |_, _| {})
    }

    #[cfg(test)]
    pub(crate) fn inject_write_failure(&self) {
        self.shared.fail_next_write.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Ledger {
    fn append_encoded<E>(&self, events: &[E], encode: impl Fn(&E, &mut Vec<u8>)) -> Result<LedgerReceipt, LedgerError> {
        let mut framed = Vec::with_capacity(events.len() * 160);
        let mut ends = Vec::with_capacity(events.len());
        let mut body = Vec::with_capacity(160);
        for event in events {
            body.clear();
            encode(event, &mut body);
            format::push_framed(&mut framed, &body)
                .ok_or_else(|| LedgerError(format!("event of {} bytes exceeds the ledger's limit", body.len())))?;
            ends.push(framed.len());
        }
        self.submit(framed, ends)
    }
}

impl AccessLedger for Ledger {
    fn append(&self, events: &[AccessEvent]) -> Result<LedgerReceipt, LedgerError> {
        self.append_encoded(events, AccessEvent::encode)
    }

    fn record(&self, events: &[vigie_core::security::SecurityEvent]) -> Result<LedgerReceipt, LedgerError> {
        self.append_encoded(events, vigie_core::security::SecurityEvent::encode)
    }
}

impl Drop for Ledger {
    /// Stops the writer once it has served every request already sent.
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(handle) = self.writer.take() {
            let _ = handle.join();
        }
    }
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
