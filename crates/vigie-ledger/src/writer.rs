//! The writer thread and its group commit, and the publisher thread.
//!
//! Appenders frame their records and hash their leaves themselves (in parallel), send them over a
//! channel and wait, blocking on a condition variable or (a server's requests) awaiting a future
//! that the writer's answer wakes. The one writer takes whatever is queued (up to
//! `max_batch_entries`, optionally lingering a little for more), writes the batch with one
//! `write_all`, calls `fdatasync`, adds the leaves to the tree, and only then acknowledges every
//! appender in the batch. The hash tiles the batch completed go to the publisher thread, which
//! writes them (not synced: they are derived data, rebuilt from the entries at start-up) in order
//! before any checkpoint that covers them; creating tile files is the writer's costliest work after
//! the fsync, so it stays off the append path. Requests queue while an fsync is in progress, so
//! batches grow with load on their own and one fsync makes many entries durable.
//!
//! At least every `checkpoint_interval` while entries arrive (and when the ledger closes), the
//! writer hands the tree's size, root and right-edge tiles to the publisher thread, which signs
//! and publishes the checkpoint off the append path.
//!
//! Any I/O error poisons the writer for good: the failing batch and every later request get an
//! error, because after a failed write or fsync the file's state is unknown, and the guard must
//! then return no data rather than serve accesses the ledger cannot vouch for. Reopening the
//! ledger walks the file and cuts whatever was torn.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use vigie_core::ports::{LedgerError, LedgerReceipt};

use crate::format::{self, HEADER_LEN, SegmentHeader};
use crate::merkle::Hash;
use crate::recover::create_segment;
use crate::tiles::{self, Tile, TreeState};
use crate::witness::Publisher;

/// Zeros the writer keeps written ahead of its appends in the open segment. An `fdatasync`
/// after a write that grows a file must also commit the file's new size to the file system's
/// journal; one after a write over blocks already there writes the data alone. On this machine's
/// ext4 disk that made a sync of an append take about 1.4 times as long as one of an overwrite
/// (p50 150–200 µs against 100–140 µs). Each reserve (about 1 900 access events) costs one
/// batch a larger write in the same sync, which the entries queued behind it wait for: 256 KiB
/// kept that tail near the ledger's before the reserve, where 1 MiB doubled its p99 (README).
pub(crate) const RESERVE_BYTES: u64 = 256 << 10;

/// The last durable entry: how many entries the ledger holds and the tree's root.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Head {
    pub count: u64,
    pub root: Hash,
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
    /// Full hash tiles written.
    pub tiles: u64,
    /// Checkpoints signed and published.
    pub checkpoints: u64,
    /// Checkpoints that could not be published (disk or witness directory errors).
    pub checkpoint_failures: u64,
    /// Tile writes that failed (each failed tile is tried again until it is written).
    pub tile_failures: u64,
    /// Pushes to HTTP witnesses that failed (each is retried with the latest checkpoint).
    pub witness_push_failures: u64,
}

/// One append: records (`len | envelope | check`) back to back, and each one's leaf hash.
#[derive(Debug)]
pub(crate) struct Request {
    pub framed: Vec<u8>,
    pub leaves: Vec<Hash>,
    pub reply: Arc<Reply>,
}

impl Drop for Request {
    /// A request the writer never answered (it stopped) fails rather than leaving its appender
    /// waiting.
    fn drop(&mut self) {
        if !self.reply.answered.load(std::sync::atomic::Ordering::SeqCst) {
            self.reply.send(Err(LedgerError("ledger writer has stopped".into())));
        }
    }
}

/// Where the writer puts an appender's answer. A mutex and a condition variable rather than a
/// channel: an appender parks in the kernel at once, where a channel's receiver spins and yields
/// first, and with dozens of appenders waiting on each fsync that spinning took the CPU the
/// appenders and the writer need (perf: `sched_yield`, channel `recv`). An appender that awaits
/// leaves a waker instead, and holds no thread while the disk syncs.
#[derive(Debug, Default)]
pub(crate) struct Reply {
    slot: Mutex<Slot>,
    ready: std::sync::Condvar,
    answered: std::sync::atomic::AtomicBool,
}

#[derive(Debug, Default)]
struct Slot {
    answer: Option<Result<LedgerReceipt, LedgerError>>,
    waker: Option<Waker>,
}

impl Reply {
    pub fn send(&self, answer: Result<LedgerReceipt, LedgerError>) {
        self.answered.store(true, std::sync::atomic::Ordering::SeqCst);
        let waker = {
            let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
            slot.answer = Some(answer);
            slot.waker.take()
        };
        self.ready.notify_one();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The answer if it has come; else leaves `cx`'s waker for [`Reply::send`] to wake.
    pub fn poll(&self, cx: &mut Context<'_>) -> Poll<Result<LedgerReceipt, LedgerError>> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(answer) = slot.answer.take() {
            return Poll::Ready(answer);
        }
        match &mut slot.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            w => *w = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Waits for the answer, or until `stopped` says the writer is gone. A request dropped
    /// unanswered is answered with an error by its `Drop`, and the channel drops what is queued
    /// once the writer's receiver is gone, so an answer always comes; `stopped` is a second
    /// guard, for the appenders that can tell.
    pub fn wait(&self, stopped: &dyn Fn() -> bool) -> Option<Result<LedgerReceipt, LedgerError>> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(a) = slot.answer.take() {
                return Some(a);
            }
            if stopped() {
                return None;
            }
            slot = self.ready.wait_timeout(slot, Duration::from_millis(100)).unwrap_or_else(PoisonError::into_inner).0;
        }
    }
}

/// State shared between the writer thread, the publisher and the appenders.
#[derive(Debug)]
pub(crate) struct Shared {
    pub head: Mutex<Head>,
    pub stats: Mutex<LedgerStats>,
    /// The latest checkpoint note published, and its tree size.
    pub checkpoint: Mutex<Option<String>>,
    pub published_size: std::sync::atomic::AtomicU64,
    /// Since when the durable log has been ahead of its last published checkpoint (`None`
    /// while a checkpoint covers it all): set by the writer when a batch outgrows the published
    /// size, moved forward by each checkpoint published.
    pub behind_since: Mutex<Option<Instant>>,
    /// Set once, on the first I/O error; from then on every append fails.
    pub failure: OnceLock<String>,
    /// Test hook: makes the next batch's write fail as a full or failing disk would.
    #[cfg(test)]
    pub fail_next_write: std::sync::atomic::AtomicBool,
}

impl Shared {
    pub fn new(head: Head, checkpoint: Option<String>, published_size: u64) -> Self {
        Shared {
            published_size: std::sync::atomic::AtomicU64::new(published_size),
            behind_since: Mutex::new(None),
            head: Mutex::new(head),
            stats: Mutex::new(LedgerStats::default()),
            checkpoint: Mutex::new(checkpoint),
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

    fn count(&self, f: impl FnOnce(&mut LedgerStats)) {
        f(&mut self.stats.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// Batching, rolling and checkpoint parameters of the writer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WriterConfig {
    pub segment_bytes: u64,
    pub max_batch_entries: usize,
    pub linger: Duration,
    pub checkpoint_interval: Duration,
}

/// The publisher thread's work, in order.
#[derive(Debug)]
pub(crate) enum Job {
    /// Full tiles completed by a batch.
    Tiles(Vec<Tile>),
    /// A checkpoint: a tree size, its root and its right-edge tiles.
    Checkpoint { size: u64, root: Hash, partial: Vec<Tile> },
}

/// The writer thread's state: the open segment and the tree so far.
pub(crate) struct Writer {
    pub dir: PathBuf,
    pub file: File,
    pub segment: u32,
    /// Where the next record goes in the open segment.
    pub segment_len: u64,
    /// The open segment's length on disk: zeros from `segment_len` up to here (see
    /// [`RESERVE_BYTES`]). The file's position is always `segment_len`.
    pub reserved: u64,
    pub tree: TreeState,
    pub config: WriterConfig,
    pub shared: Arc<Shared>,
    pub requests: Receiver<Request>,
    pub jobs: Sender<Job>,
    /// Tree size of the last checkpoint handed over, and when.
    pub published: (u64, Instant),
}

impl Writer {
    /// Serves requests until every appender handle is gone, then hands over a last checkpoint.
    pub fn run(mut self) {
        let mut batch = Vec::new();
        let mut buf = Vec::new();
        let mut full = Vec::new();
        loop {
            let wait = until_checkpoint(
                self.tree.size() > self.published.0,
                self.published.1.elapsed(),
                self.config.checkpoint_interval,
            );
            let first = match self.requests.recv_timeout(wait) {
                Ok(r) => r,
                Err(RecvTimeoutError::Timeout) => {
                    // A checkpoint handed over but not published (it failed) is offered again.
                    let published = self.shared.published_size.load(std::sync::atomic::Ordering::SeqCst);
                    if published < self.published.0 {
                        self.published.0 = published;
                    }
                    self.maybe_checkpoint(true);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            batch.push(first);
            self.gather(&mut batch);
            if let Some(reason) = self.shared.failure.get() {
                fail_all(&mut batch, reason);
                continue;
            }
            match self.commit(&batch, &mut buf, &mut full) {
                Ok(first_index) => {
                    acknowledge(&mut batch, first_index);
                    self.maybe_checkpoint(false);
                }
                Err(e) => {
                    let reason = format!("writing {} failed: {e}", format::segment_name(self.segment));
                    let reason = self.shared.failure.get_or_init(|| reason);
                    fail_all(&mut batch, reason);
                }
            }
        }
        if self.shared.failure.get().is_none() {
            // A closed ledger keeps no reserve. Should the cut fail, the zeros stay: they read
            // as the end of the log.
            let _ = self.trim();
            self.maybe_checkpoint(true);
        }
    }

    /// Hands a checkpoint of the durable tree to the publisher if the tree grew and the
    /// interval has passed (or `now`).
    fn maybe_checkpoint(&mut self, now: bool) {
        let size = self.tree.size();
        let (last, at) = self.published;
        if size == last || (!now && at.elapsed() < self.config.checkpoint_interval) {
            return;
        }
        let job = Job::Checkpoint { size, root: self.tree.root(), partial: self.tree.partial_tiles() };
        if self.jobs.send(job).is_ok() {
            self.published = (size, Instant::now());
        }
    }

    /// Adds queued requests to `batch`, up to the entry limit, waiting at most `linger` for them.
    fn gather(&self, batch: &mut Vec<Request>) {
        let deadline = Instant::now() + self.config.linger;
        let mut entries: usize = batch.iter().map(|r| r.leaves.len()).sum();
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
            entries += next.leaves.len();
            batch.push(next);
        }
    }

    /// Writes and syncs one batch, then adds its leaves to the tree (collecting the tiles they
    /// complete in `full`); returns the index of its first entry.
    fn commit(&mut self, batch: &[Request], buf: &mut Vec<u8>, full: &mut Vec<Tile>) -> io::Result<u64> {
        if self.segment_len >= self.config.segment_bytes && self.segment_len > HEADER_LEN {
            self.roll()?;
        }
        let first_index = self.tree.size();
        let data: &[u8] = if let [only] = batch {
            &only.framed
        } else {
            buf.clear();
            for request in batch {
                buf.extend_from_slice(&request.framed);
            }
            buf
        };
        #[cfg(test)]
        if self.shared.fail_next_write.swap(false, std::sync::atomic::Ordering::SeqCst) {
            // Half the batch reaches the file, as when a disk fills up mid-write.
            let _ = self.file.write_all(&data[..data.len() / 2]);
            return Err(io::Error::other("injected write failure"));
        }
        let end = self.segment_len + data.len() as u64;
        if end > self.reserved {
            self.reserve(end)?;
        }
        self.file.write_all(data)?;
        self.file.sync_data()?;
        self.segment_len = end;
        let bytes = data.len() as u64;
        for request in batch {
            for leaf in &request.leaves {
                self.tree.push(*leaf, |t| full.push(t));
            }
        }
        if !full.is_empty() {
            // A gone publisher means the ledger is closing: its last tiles are rebuilt at start-up.
            let _ = self.jobs.send(Job::Tiles(std::mem::take(full)));
        }
        let count = self.tree.size();
        *self.shared.head.lock().unwrap_or_else(PoisonError::into_inner) = Head { count, root: self.tree.root() };
        self.shared.behind_since.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert_with(Instant::now);
        self.shared.count(|s| {
            s.batches += 1;
            s.entries += count - first_index;
            s.bytes += bytes;
        });
        Ok(first_index)
    }

    /// Writes zeros after `end` up to the next reserve (never past the segment's size, so a
    /// segment ends where it would without), then moves back to `segment_len`. They reach the
    /// disk with the batch about to be written, in its one sync.
    fn reserve(&mut self, end: u64) -> io::Result<()> {
        static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
        let target = if end >= self.config.segment_bytes {
            end
        } else {
            end.saturating_add(RESERVE_BYTES).min(self.config.segment_bytes)
        };
        if target > end {
            self.file.seek(SeekFrom::Start(end))?;
            let mut left = target - end;
            while left > 0 {
                let n = usize::try_from(left.min(ZEROS.len() as u64)).unwrap_or(ZEROS.len());
                self.file.write_all(&ZEROS[..n])?;
                left -= n as u64;
            }
            self.file.seek(SeekFrom::Start(self.segment_len))?;
        }
        self.reserved = target;
        Ok(())
    }

    /// Cuts the open segment's unused reserve, so that only the last segment of a running
    /// ledger ends in zeros (the walker refuses them anywhere else) and a closed one has none.
    fn trim(&mut self) -> io::Result<()> {
        if self.reserved > self.segment_len {
            self.file.set_len(self.segment_len)?;
            self.file.sync_all()?;
            self.reserved = self.segment_len;
        }
        Ok(())
    }

    /// Starts the next segment. The current one was synced by the batch that filled it; its
    /// reserve is cut (and synced) first, so that a crash never leaves zeros before a newer
    /// segment.
    fn roll(&mut self) -> io::Result<()> {
        self.trim()?;
        let number = self.segment.checked_add(1).ok_or_else(|| io::Error::other("segment numbers exhausted"))?;
        let header = SegmentHeader { first_index: self.tree.size() };
        self.file = create_segment(&self.dir, number, &header)?;
        self.segment = number;
        self.segment_len = HEADER_LEN;
        self.reserved = HEADER_LEN;
        self.shared.count(|s| s.rolls += 1);
        Ok(())
    }
}

/// How long the publisher waits before trying again the tiles it could not write.
pub(crate) const TILE_RETRY: Duration = Duration::from_secs(1);

/// The publisher thread: writes tiles and publishes checkpoints, in order, until the writer is
/// gone. A tile that cannot be written (descriptors exhausted, a full disk for a moment) is
/// counted and kept, and written again before the next job and at least every [`TILE_RETRY`]
/// until it is: a server that ran out of descriptors under a connection flood has all its
/// tiles once the flood is over, without a restart (before, `vigie ledger verify` failed until
/// one rebuilt them). A tile never holds a checkpoint back (an intruder who blocks one tile file
/// must not stop the witnessing). A checkpoint that cannot be published is counted, and appends
/// stop once the log has run [`crate::LedgerOptions::checkpoint_deadline`] ahead of its last
/// published checkpoint.
pub(crate) fn run_publisher(publisher: Publisher, jobs: Receiver<Job>, shared: Arc<Shared>) {
    let mut unwritten: Vec<Tile> = Vec::new();
    let receive = |unwritten: &Vec<Tile>| -> Result<Option<Job>, ()> {
        if unwritten.is_empty() {
            return jobs.recv().map(Some).map_err(|_| ());
        }
        match jobs.recv_timeout(TILE_RETRY) {
            Ok(job) => Ok(Some(job)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(()),
        }
    };
    let mut next = receive(&unwritten);
    loop {
        let job = match next {
            Ok(Some(job)) => job,
            Ok(None) => {
                write_tiles(&publisher, &shared, Vec::new(), &mut unwritten);
                next = receive(&unwritten);
                continue;
            }
            // The writer is gone: one last try; what is still unwritten is rebuilt at start-up.
            Err(()) => {
                write_tiles(&publisher, &shared, Vec::new(), &mut unwritten);
                return;
            }
        };
        match job {
            Job::Tiles(full) => {
                write_tiles(&publisher, &shared, full, &mut unwritten);
                next = receive(&unwritten);
            }
            Job::Checkpoint { mut size, mut root, mut partial } => {
                // Only the newest of consecutive checkpoints matters behind a slow disk.
                let mut queued = None;
                loop {
                    match jobs.try_recv() {
                        Ok(Job::Checkpoint { size: s, root: r, partial: p }) => (size, root, partial) = (s, r, p),
                        Ok(tiles) => {
                            queued = Some(tiles);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                if !unwritten.is_empty() {
                    write_tiles(&publisher, &shared, Vec::new(), &mut unwritten);
                }
                match publisher.publish(size, root, &partial) {
                    Ok((note, tiles_written)) => {
                        *shared.checkpoint.lock().unwrap_or_else(PoisonError::into_inner) = Some(note);
                        shared.published_size.store(size, std::sync::atomic::Ordering::SeqCst);
                        {
                            // Still behind (entries came meanwhile): the lag starts now.
                            let head = shared.head().count;
                            *shared.behind_since.lock().unwrap_or_else(PoisonError::into_inner) =
                                (head > size).then(Instant::now);
                        }
                        shared.count(|s| {
                            s.checkpoints += 1;
                            s.tile_failures += u64::from(!tiles_written);
                        });
                    }
                    Err(_) => shared.count(|s| s.checkpoint_failures += 1),
                }
                let failures = publisher.http_failures();
                shared.count(|s| s.witness_push_failures = failures);
                next = match queued {
                    Some(job) => Ok(Some(job)),
                    None => receive(&unwritten),
                };
            }
        }
    }
}

/// Writes the tiles left from before, then `full`, in order; those that fail stay in
/// `unwritten` for the next try.
fn write_tiles(publisher: &Publisher, shared: &Shared, full: Vec<Tile>, unwritten: &mut Vec<Tile>) {
    let tried = std::mem::take(unwritten).into_iter().chain(full);
    let (mut written, mut failed) = (0u64, 0u64);
    for tile in tried {
        let ok = tiles::write_tile(&publisher.dir, &tile)
            .and_then(|()| tiles::remove_partials(&publisher.dir, tile.level, tile.index, None));
        match ok {
            Ok(()) => written += 1,
            Err(_) => {
                failed += 1;
                unwritten.push(tile);
            }
        }
    }
    shared.count(|s| {
        s.tiles += written;
        s.tile_failures += failed;
    });
}

/// How long the writer waits for a request before handing over a checkpoint: when the tree has
/// grown since the last one, only what is left of the interval since that one, so that an
/// entry waits at most one interval for a checkpoint (waiting a whole interval after each
/// request let entries arriving just under an interval apart wait nearly two); otherwise the
/// whole interval (nothing to publish, no checkpoint).
fn until_checkpoint(grown: bool, since_last: Duration, interval: Duration) -> Duration {
    if grown { interval.saturating_sub(since_last) } else { interval }
}

fn acknowledge(batch: &mut Vec<Request>, mut first: u64) {
    for request in batch.drain(..) {
        let count = request.leaves.len() as u64;
        // An appender that gave up waiting is no longer there to tell; its entries are durable.
        request.reply.send(Ok(LedgerReceipt { first, count }));
        first += count;
    }
}

fn fail_all(batch: &mut Vec<Request>, reason: &str) {
    for request in batch.drain(..) {
        request.reply.send(Err(LedgerError(reason.to_owned())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry waits at most one checkpoint interval for its checkpoint: after a request, the
    /// writer waits only the rest of the interval since the last checkpoint.
    #[test]
    fn a_grown_tree_waits_only_the_rest_of_the_interval() {
        let s = Duration::from_millis;
        // (tree grown since the last checkpoint, time since it) → wait before handing one over
        for (grown, since, wait) in [
            (false, s(0), s(1000)),
            (false, s(5000), s(1000)),
            (true, s(0), s(1000)),
            (true, s(900), s(100)),
            (true, s(1000), s(0)),
            (true, s(3000), s(0)),
        ] {
            assert_eq!(until_checkpoint(grown, since, s(1000)), wait, "grown {grown}, {since:?} since");
        }
    }
}
