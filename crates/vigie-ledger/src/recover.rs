//! Recovery at startup: walk the whole ledger, cut a torn tail, refuse anything else.
//!
//! A crash can only tear the batch being written when it happened, and that batch is always at
//! the end of the last segment (segments are synced before the next one is created, and
//! created whole under a temporary name). So damage there, with no valid entry after it, is a
//! torn write of entries nobody was told were durable: it is cut and reported. Damage anywhere
//! else, or followed by a valid entry, is corruption or tampering: the ledger refuses to open and
//! names the segment, entry and byte, because writing after it would bury the evidence.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::{Corruption, Fault, OpenError, VerifyError};
use crate::format::{self, ChainHash, HEADER_LEN, SegmentHeader};
use crate::walk::{self, Walker};

/// What [`crate::Ledger::open`] found and did.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct OpenReport {
    /// Whether the ledger was empty and its first segment was created.
    pub created: bool,
    pub segments: usize,
    /// Entries found (after cutting a torn tail).
    pub entries: u64,
    pub torn_tail: Option<TornTail>,
    /// Leftover temporary segments (from a crash while creating a segment) that were removed.
    pub removed_temp_files: Vec<PathBuf>,
}

/// A torn write cut from the end of the last segment.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TornTail {
    pub segment: PathBuf,
    /// Byte offset where the segment now ends.
    pub offset: u64,
    /// Index the first cut record would have had; no cut record was ever acknowledged.
    pub first_index: u64,
    /// Bytes removed.
    pub bytes: u64,
    pub fault: Fault,
}

/// The state the writer resumes from.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub report: OpenReport,
    pub next_index: u64,
    pub chain: ChainHash,
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
/// name, renamed into place, then the directory synced. Returns the file, opened for appending.
pub(crate) fn create_segment(dir: &Path, number: u32, header: &SegmentHeader) -> Result<File, std::io::Error> {
    use std::io::Write;
    let temp = dir.join(format::temp_segment_name(number));
    let path = dir.join(format::segment_name(number));
    if path.exists() {
        return Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, format!("{} exists", path.display())));
    }
    let mut file = OpenOptions::new().append(true).create_new(true).open(&temp)?;
    file.write_all(&header.encode())?;
    file.sync_all()?;
    fs::rename(&temp, &path)?;
    sync_dir(dir)?;
    Ok(file)
}

/// Walks the ledger in `dir` (which exists and is locked), cuts a torn tail, creates the first
/// segment of an empty ledger.
pub(crate) fn recover(dir: &Path) -> Result<Recovered, OpenError> {
    let listing = walk::list(dir)?;
    let mut report = OpenReport::default();
    for temp in &listing.temp_files {
        fs::remove_file(temp).map_err(io(temp))?;
        report.removed_temp_files.push(temp.clone());
    }
    if !listing.temp_files.is_empty() {
        sync_dir(dir).map_err(io(dir))?;
    }
    let Some(last) = listing.segments.last().cloned() else {
        let header = SegmentHeader { first_index: 0, start_chain: ChainHash::GENESIS };
        create_segment(dir, 0, &header).map_err(io(dir))?;
        report.created = true;
        report.segments = 1;
        return Ok(Recovered {
            report,
            next_index: 0,
            chain: ChainHash::GENESIS,
            last: (dir.join(format::segment_name(0)), 0, HEADER_LEN),
        });
    };
    report.segments = listing.segments.len();
    let mut walker = Walker::new(dir, listing.segments, None);
    let mut body = Vec::new();
    let mut last_len = last.len;
    loop {
        match walker.next_into(&mut body) {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(VerifyError::Corrupt(c)) if c.segment == last.path && c.fault.is_record_fault() => {
                let tail = read_tail(&last.path, c.offset)?;
                if format::valid_entry_follows(&walker.chain(), c.index, &tail) {
                    return Err(OpenError::Corrupt(c));
                }
                cut(&last.path, c.offset)?;
                last_len = c.offset;
                report.torn_tail = Some(torn_tail(c, tail.len() as u64));
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    report.entries = walker.next_index();
    Ok(Recovered {
        report,
        next_index: walker.next_index(),
        chain: walker.chain(),
        last: (last.path, last.number, last_len),
    })
}

fn torn_tail(c: Corruption, bytes: u64) -> TornTail {
    TornTail { segment: c.segment, offset: c.offset, first_index: c.index, bytes, fault: c.fault }
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
