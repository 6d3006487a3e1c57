//! The writer thread and its group commit.
//!
//! Appenders send framed bodies over a channel and wait. The one writer takes whatever is
//! queued (up to `max_batch_entries`, optionally lingering a little for more), chains the
//! records, writes the batch with one `write_all`, calls `fdatasync`, and only then
//! acknowledges every appender in the batch. Requests queue while an fsync is in progress, so
//! batches grow with load on their own and one fsync makes many entries durable.
//!
//! Any I/O error poisons the writer for good: the failing batch and every later request get an
//! error, because after a failed write or fsync the file's state is unknown, and the guard must
//! then return no data rather than serve accesses the ledger cannot vouch for. Reopening the
//! ledger walks the file and cuts whatever was torn.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use vigie_core::ports::{LedgerError, LedgerReceipt};

use crate::format::{self, ChainHash, HEADER_LEN, SegmentHeader, chain_hash};
use crate::recover::create_segment;

/// The last durable entry: how many entries the ledger holds and the chain hash of the last.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Head {
    pub count: u64,
    pub chain: ChainHash,
}

/// Counters of the writer's work since the ledger was opened.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct LedgerStats {
    /// Batches made durable (one `write_all` and one `fdatasync` each).
    pub batches: u64,
    pub entries: u64,
    /// Record bytes written (headers of new segments not counted).
    pub bytes: u64,
    /// Segments created by rolling over.
    pub rolls: u64,
}

/// One append: framed records (`len | body`, see [`format::push_framed`]) and where each ends.
#[derive(Debug)]
pub(crate) struct Request {
    pub framed: Vec<u8>,
    pub ends: Vec<usize>,
    pub reply: Sender<Result<LedgerReceipt, LedgerError>>,
}

/// State shared between the writer thread and the appenders.
#[derive(Debug)]
pub(crate) struct Shared {
    pub head: Mutex<Head>,
    pub stats: Mutex<LedgerStats>,
    /// Set once, on the first I/O error; from then on every append fails.
    pub failure: OnceLock<String>,
    /// Test hook: makes the next batch's write fail as a full or failing disk would.
    #[cfg(test)]
    pub fail_next_write: std::sync::atomic::AtomicBool,
}

impl Shared {
    pub fn new(head: Head) -> Self {
        Shared {
            head: Mutex::new(head),
            stats: Mutex::new(LedgerStats::default()),
            failure: OnceLock::new(),
            #[cfg(test)]
            fail_next_write: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn head(&self) -> Head {
        *self.head.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn stats(&self) -> LedgerStats {
        *self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Batching and rolling parameters of the writer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WriterConfig {
    pub segment_bytes: u64,
    pub max_batch_entries: usize,
    pub linger: Duration,
}

/// The writer thread's state: the open segment and the chain so far.
pub(crate) struct Writer {
    pub dir: PathBuf,
    pub file: File,
    pub segment: u32,
    pub segment_len: u64,
    pub next_index: u64,
    pub chain: ChainHash,
    pub config: WriterConfig,
    pub shared: Arc<Shared>,
    pub requests: Receiver<Request>,
}

impl Writer {
    /// Serves requests until every appender handle is gone.
    pub fn run(mut self) {
        let mut batch = Vec::new();
        let mut buf = Vec::new();
        while let Ok(first) = self.requests.recv() {
            batch.push(first);
            self.gather(&mut batch);
            if let Some(reason) = self.shared.failure.get() {
                fail_all(&mut batch, reason);
                continue;
            }
            match self.commit(&batch, &mut buf) {
                Ok(first_index) => acknowledge(&mut batch, first_index),
                Err(e) => {
                    let reason = format!("writing {} failed: {e}", format::segment_name(self.segment));
                    let reason = self.shared.failure.get_or_init(|| reason);
                    fail_all(&mut batch, reason);
                }
            }
        }
    }

    /// Adds queued requests to `batch`, up to the entry limit, waiting at most `linger` for them.
    fn gather(&self, batch: &mut Vec<Request>) {
        let deadline = Instant::now() + self.config.linger;
        let mut entries: usize = batch.iter().map(|r| r.ends.len()).sum();
        while entries < self.config.max_batch_entries {
            let next = match self.requests.try_recv() {
                Ok(r) => r,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) if self.config.linger.is_zero() => break,
                Err(TryRecvError::Empty) => match self.requests.recv_deadline(deadline) {
                    Ok(r) => r,
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                },
            };
            entries += next.ends.len();
            batch.push(next);
        }
    }

    /// Chains, writes and syncs one batch; returns the index of its first entry.
    fn commit(&mut self, batch: &[Request], buf: &mut Vec<u8>) -> io::Result<u64> {
        if self.segment_len >= self.config.segment_bytes && self.segment_len > HEADER_LEN {
            self.roll()?;
        }
        buf.clear();
        let first_index = self.next_index;
        let mut index = self.next_index;
        let mut chain = self.chain;
        for request in batch {
            let mut start = 0;
            for &end in &request.ends {
                let record = request.framed.get(start..end).unwrap_or_default();
                let body = record.get(4..).unwrap_or_default();
                chain = chain_hash(&chain, index, body);
                buf.extend_from_slice(record);
                buf.extend_from_slice(&chain.0);
                index += 1;
                start = end;
            }
        }
        #[cfg(test)]
        if self.shared.fail_next_write.swap(false, std::sync::atomic::Ordering::SeqCst) {
            // Half the batch reaches the file, as when a disk fills up mid-write.
            let _ = self.file.write_all(&buf[..buf.len() / 2]);
            return Err(io::Error::other("injected write failure"));
        }
        self.file.write_all(buf)?;
        self.file.sync_data()?;
        self.segment_len += buf.len() as u64;
        self.next_index = index;
        self.chain = chain;
        *self.shared.head.lock().unwrap_or_else(PoisonError::into_inner) = Head { count: index, chain };
        let mut stats = self.shared.stats.lock().unwrap_or_else(PoisonError::into_inner);
        stats.batches += 1;
        stats.entries += index - first_index;
        stats.bytes += buf.len() as u64;
        Ok(first_index)
    }

    /// Starts the next segment. The current one was synced by the batch that filled it.
    fn roll(&mut self) -> io::Result<()> {
        let number = self.segment.checked_add(1).ok_or_else(|| io::Error::other("segment numbers exhausted"))?;
        let header = SegmentHeader { first_index: self.next_index, start_chain: self.chain };
        self.file = create_segment(&self.dir, number, &header)?;
        self.segment = number;
        self.segment_len = HEADER_LEN;
        self.shared.stats.lock().unwrap_or_else(PoisonError::into_inner).rolls += 1;
        Ok(())
    }
}

fn acknowledge(batch: &mut Vec<Request>, mut first: u64) {
    for request in batch.drain(..) {
        let count = request.ends.len() as u64;
        // An appender that gave up waiting is no longer there to tell; its entries are durable.
        let _ = request.reply.send(Ok(LedgerReceipt { first, count }));
        first += count;
    }
}

fn fail_all(batch: &mut Vec<Request>, reason: &str) {
    for request in batch.drain(..) {
        let _ = request.reply.send(Err(LedgerError(reason.to_owned())));
    }
}
