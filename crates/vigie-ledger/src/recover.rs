//! Recovery at startup: walk the whole ledger, cut a torn tail, rebuild the tree (repairing
//! hash tiles), and check the log against every checkpoint it published.
//!
//! A crash can only tear the batch being written when it happened, and that batch is always at
//! the end of the last segment (segments are synced before the next one is created, and
//! created whole under a temporary name). So damage there, with no valid record after it and
//! after every published checkpoint, is most likely a torn write: it is kept aside
//! (`evidence`), cut and reported for what it is known to be, entries no checkpoint covers
//! (whether one was acknowledged, or removed by an intruder, the disk cannot say). Damage anywhere
//! else, or followed by a valid record, is corruption or tampering: the ledger refuses to open and
//! names the segment, entry and byte, because writing after it would bury the evidence. Then the
//! log must contain every checkpoint published (by us, or held by a witness directory): a log
//! shorter than a checkpoint, or whose first entries hash to another root, refuses to start.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::{Fault, OpenError, VerifyError};
use crate::evidence;
use crate::format::{self, HEADER_LEN, SegmentHeader};
use crate::scan::{Published, TileMode, TreePass};
use crate::tiles::TreeState;
use crate::walk::{self, Walker};

/// What [`crate::Ledger::open`] found and did.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct OpenReport {
    /// Whether the ledger was empty and its first segment was created.
    pub created: bool,
    /// Whether the signing key was created by this open.
    pub key_created: bool,
    pub segments: usize,
    /// Entries found (after cutting a torn tail).
    pub entries: u64,
    pub torn_tail: Option<TornTail>,
    /// Leftover temporary segments (from a crash while creating a segment) that were removed.
    pub removed_temp_files: Vec<PathBuf>,
    /// Hash tiles that were missing or did not match the entries and were rewritten.
    pub repaired_tiles: Vec<PathBuf>,
    /// The published checkpoints the log was checked against: file and tree size.
    pub checkpoints_checked: Vec<(PathBuf, u64)>,
}

/// Damage at the end of the last segment, after the last published checkpoint, that was cut.
///
/// What is known: the bytes come after every checkpoint the ledger and its witness directories
/// hold, so none of them covers these entries. What is not: whether any of them had been
/// acknowledged (a crash after the reply, before a checkpoint), or was damaged by someone with
/// access to the disk rather than by a crash. [`TornTail::describe`] says exactly that.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TornTail {
    pub segment: PathBuf,
    /// Byte offset where the segment now ends.
    pub offset: u64,
    /// Index the first cut record would have had.
    pub first_index: u64,
    /// At most this many entries were in the cut bytes (indexes `first_index` onwards).
    pub max_entries: u64,
    /// Bytes removed.
    pub bytes: u64,
    pub fault: Fault,
    /// The largest tree size of the published checkpoints (the ledger's own and its witness
    /// directories'); `None` if there was none.
    pub checkpoint_size: Option<u64>,
    /// Where the cut bytes were kept (in the ledger directory, 0600).
    pub kept: PathBuf,
}

impl TornTail {
    /// The last index the cut bytes may have held.
    pub fn last_index(&self) -> u64 {
        self.first_index + self.max_entries.saturating_sub(1)
    }

    /// One line saying what was cut and what is known about it, and no more.
    pub fn describe(&self) -> String {
        let checkpoint = match self.checkpoint_size {
            Some(size) => format!("the last published checkpoint (tree size {size})"),
            None => "any published checkpoint".to_owned(),
        };
        format!(
            "cut {} damaged bytes from the end of {} (from offset {}, {}): up to {} {}, indexes {} to {}, written \
             after {checkpoint}, so no checkpoint and no witness directory covers them; whether any of them had been \
             acknowledged before the stop, or was removed by someone with access to the disk, cannot be known from \
             the disk; the bytes are kept in {}",
            self.bytes,
            self.segment.display(),
            self.offset,
            self.fault,
            self.max_entries,
            if self.max_entries == 1 { "entry" } else { "entries" },
            self.first_index,
            self.last_index(),
            self.kept.display()
        )
    }
}

/// The state the writer resumes from.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub report: OpenReport,
    pub tree: TreeState,
    /// The segment to append to, its number and its length.
    pub last: (PathBuf, u32, u64),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OpenError + '_ {
    move |source| OpenError::Io { path: path.to_path_buf(), source }
}

/// Fsyncs a directory, so that files created, renamed or removed in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), std::io::Error> {
    File::open(dir)?.sync_all()
}

/// Creates segment `number` with its header, atomically: written and synced under a temporary
/// name, renamed into place, then the directory synced. Returns the file, opened for writing
/// and positioned after the header.
pub(crate) fn create_segment(dir: &Path, number: u32, header: &SegmentHeader) -> Result<File, std::io::Error> {
    use std::io::Write;
    let temp = dir.join(format::temp_segment_name(number));
    let path = dir.join(format::segment_name(number));
    if path.exists() {
        return Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, format!("{} exists", path.display())));
    }
    // Not in append mode: the writer writes at its own offset, over the zeros it reserves.
    let mut file = crate::private::file().write(true).create_new(true).open(&temp)?;
    file.write_all(&header.encode())?;
    file.sync_all()?;
    fs::rename(&temp, &path)?;
    sync_dir(dir)?;
    Ok(file)
}

/// Walks the ledger in `dir` (which exists and is locked), cuts a torn tail, rebuilds the tree
/// and repairs its tiles, checks the `published` checkpoints, and creates the first segment of
/// an empty ledger.
pub(crate) fn recover(dir: &Path, published: &[Published]) -> Result<Recovered, OpenError> {
    let listing = walk::list(dir)?;
    let mut report = OpenReport::default();
    for temp in &listing.temp_files {
        fs::remove_file(temp).map_err(io(temp))?;
        report.removed_temp_files.push(temp.clone());
    }
    if !listing.temp_files.is_empty() {
        sync_dir(dir).map_err(io(dir))?;
    }
    let mut pass = TreePass::new(dir, TileMode::Collect, published.iter().map(|p| p.checkpoint.size));
    let last = match listing.segments.last().cloned() {
        Some(last) => {
            report.segments = listing.segments.len();
            let mut walker = Walker::new(dir, listing.segments, None);
            let mut body = Vec::new();
            let last_len = loop {
                match walker.next_into(&mut body) {
                    Ok(Some(position)) => pass.push(position.leaf),
                    // Zeros the writer had reserved may follow the last record: appends resume
                    // after the record, over them.
                    Ok(None) => break walker.records_end(),
                    Err(VerifyError::Corrupt(c)) if c.segment == last.path && c.fault.is_record_fault() => {
                        // A checkpoint covering the damaged entry means it was acknowledged:
                        // damage, not a torn write. Refuse and keep every byte as evidence.
                        if let Some(p) =
                            published.iter().filter(|p| p.checkpoint.size > c.index).max_by_key(|p| p.checkpoint.size)
                        {
                            return Err(OpenError::Covered {
                                corruption: c,
                                checkpoint_size: p.checkpoint.size,
                                path: p.path.clone(),
                            });
                        }
                        let tail = read_tail(&last.path, c.offset)?;
                        if format::valid_record_follows(&tail) {
                            return Err(OpenError::Corrupt(c));
                        }
                        // Kept aside before it is cut: evidence, whatever it turns out to be.
                        let max_entries = evidence::max_entries(&tail);
                        let kept = evidence::keep(dir, &tail, c.index, max_entries).map_err(io(dir))?;
                        cut(&last.path, c.offset)?;
                        let end = c.offset;
                        report.torn_tail = Some(TornTail {
                            segment: c.segment,
                            offset: c.offset,
                            first_index: c.index,
                            max_entries,
                            bytes: tail.len() as u64,
                            fault: c.fault,
                            checkpoint_size: published.iter().map(|p| p.checkpoint.size).max(),
                            kept,
                        });
                        break end;
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            (last.path, last.number, last_len)
        }
        None => {
            create_segment(dir, 0, &SegmentHeader { first_index: 0 }).map_err(io(dir))?;
            report.created = true;
            report.segments = 1;
            (dir.join(format::segment_name(0)), 0, HEADER_LEN)
        }
    };
    if let Some((path, source)) = pass.io_error.take() {
        return Err(OpenError::Io { path, source });
    }
    for p in published {
        pass.check_checkpoint(&p.path, &p.checkpoint).map_err(OpenError::Checkpoint)?;
        report.checkpoints_checked.push((p.path.clone(), p.checkpoint.size));
    }
    report.entries = pass.tree.size();
    if !pass.tiles_repaired.is_empty() {
        // The log is consistent with what it published: its tiles can be rebuilt from it.
        report.repaired_tiles = repair_tiles(dir, report.entries)?;
    }
    Ok(Recovered { report, tree: pass.tree, last })
}

/// Walks the first `entries` entries again, rewriting every full tile that does not match.
fn repair_tiles(dir: &Path, entries: u64) -> Result<Vec<PathBuf>, OpenError> {
    let listing = walk::list(dir)?;
    let mut walker = Walker::new(dir, listing.segments, Some(entries));
    let mut pass = TreePass::new(dir, TileMode::Repair, []);
    let mut body = Vec::new();
    while let Some(position) = walker.next_into(&mut body)? {
        pass.push(position.leaf);
    }
    if let Some((path, source)) = pass.io_error.take() {
        return Err(OpenError::Io { path, source });
    }
    Ok(pass.tiles_repaired)
}

fn read_tail(path: &Path, offset: u64) -> Result<Vec<u8>, OpenError> {
    let mut file = File::open(path).map_err(io(path))?;
    file.seek(SeekFrom::Start(offset)).map_err(io(path))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).map_err(io(path))?;
    Ok(tail)
}

fn cut(path: &Path, len: u64) -> Result<(), OpenError> {
    let file = OpenOptions::new().write(true).open(path).map_err(io(path))?;
    file.set_len(len).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}
