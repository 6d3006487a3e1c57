//! The walker: reads a ledger directory's segments in order and re-checks everything it reads
//! (numbering, headers, record framing and checks, envelopes) and computes each entry's leaf
//! hash. Opening, verifying and reading entries
//! are all this one walk, so a check added here protects all three.

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::{Corruption, Fault, VerifyError};
use crate::format::{self, HEADER_LEN, HeaderFault, RECORD_OVERHEAD, SegmentHeader};
use crate::merkle::{Hash, leaf_hash};

/// A segment file found in the directory.
#[derive(Clone, Debug)]
pub(crate) struct SegmentFile {
    pub number: u32,
    pub path: PathBuf,
    pub len: u64,
}

/// The directory's segment files in number order, and leftover temporary files.
#[derive(Debug)]
pub(crate) struct Listing {
    pub segments: Vec<SegmentFile>,
    pub temp_files: Vec<PathBuf>,
}

pub(crate) fn io_error(path: &Path, source: io::Error) -> VerifyError {
    VerifyError::Io { path: path.to_path_buf(), source }
}

/// Lists a ledger directory. Files that are neither segments nor temporary segments (the lock
/// file, an operator's notes) are left alone.
pub(crate) fn list(dir: &Path) -> Result<Listing, VerifyError> {
    let mut segments = Vec::new();
    let mut temp_files = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
        let entry = entry.map_err(|e| io_error(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = entry.path();
        if let Some(number) = format::parse_segment_name(name) {
            let len = entry.metadata().map_err(|e| io_error(&path, e))?.len();
            segments.push(SegmentFile { number, path, len });
        } else if format::is_temp_segment_name(name) {
            temp_files.push(path);
        }
    }
    segments.sort_by_key(|s| s.number);
    Ok(Listing { segments, temp_files })
}

/// A segment's header; `None` if the file is shorter than one or it does not decode (the walk
/// names which, on entering the segment).
fn read_header(segment: &SegmentFile) -> Result<Option<SegmentHeader>, VerifyError> {
    let mut raw = [0u8; HEADER_LEN as usize];
    let mut file = File::open(&segment.path).map_err(|e| io_error(&segment.path, e))?;
    if file.read_exact(&mut raw).is_err() {
        return Ok(None);
    }
    Ok(SegmentHeader::decode(&raw).ok())
}

/// The first entry index a segment's header declares; `None` if it has no readable header.
pub(crate) fn first_index(segment: &SegmentFile) -> Result<Option<u64>, VerifyError> {
    Ok(read_header(segment)?.map(|h| h.first_index))
}

/// Where a record was read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Position {
    pub index: u64,
    pub leaf: Hash,
    /// The segment's number and the record's offset in it (where its length prefix starts).
    pub segment: u32,
    pub offset: u64,
    /// The record's length in the segment (length prefix, envelope, check).
    pub len: u64,
}

struct OpenSegment {
    reader: BufReader<File>,
    offset: u64,
}

/// Reads records in order across segments, checking each one.
pub(crate) struct Walker {
    dir: PathBuf,
    segments: Vec<SegmentFile>,
    /// Position in `segments` of the segment being read (or to be opened next).
    pos: usize,
    current: Option<OpenSegment>,
    next_index: u64,
    limit: Option<u64>,
    done_bytes: u64,
    failed: bool,
    /// Where the records of the segment entered last end (its zeros, if any, start there).
    records_end: u64,
    /// Zeros found reserved at the end of the last segment.
    reserved_bytes: u64,
}

impl std::fmt::Debug for Walker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Walker")
            .field("dir", &self.dir)
            .field("segment", &self.pos)
            .field("next_index", &self.next_index)
            .finish_non_exhaustive()
    }
}

const READ_BUFFER: usize = 1 << 20;

impl Walker {
    /// A walk over `segments` (from [`list`]), stopping after `limit` entries if given.
    pub fn new(dir: &Path, segments: Vec<SegmentFile>, limit: Option<u64>) -> Self {
        Walker {
            dir: dir.to_path_buf(),
            segments,
            pos: 0,
            current: None,
            next_index: 0,
            limit,
            done_bytes: 0,
            failed: false,
            records_end: 0,
            reserved_bytes: 0,
        }
    }

    /// After a complete walk, the zeros reserved at the end of the last segment (counted in
    /// [`Self::progress`], so that a progress bar ends full, but no part of the log).
    pub fn reserved_bytes(&self) -> u64 {
        self.reserved_bytes
    }

    /// Where the records of the segment entered last end: after a complete walk, the offset at
    /// which the writer appends next in the last segment (zeros it reserved may follow).
    pub fn records_end(&self) -> u64 {
        self.records_end
    }

    pub fn segments(&self) -> &[SegmentFile] {
        &self.segments
    }

    /// Starts the walk at the segment holding entry `index` (found by the segments' headers),
    /// without reading the entries before it. Only for a walk that has not started.
    pub fn skip_to(&mut self, index: u64) -> Result<(), VerifyError> {
        let mut start = (0usize, 0u64);
        for (k, segment) in self.segments.iter().enumerate().skip(1) {
            match read_header(segment)? {
                Some(h) if h.first_index <= index => start = (k, h.first_index),
                _ => break,
            }
        }
        (self.pos, self.next_index) = start;
        Ok(())
    }

    /// Starts the walk at the `k`th segment (at its header's first index), without reading the
    /// segments before it. Only for a walk that has not started. A header that cannot be read
    /// is reported by the walk itself, as it would be in a walk from the start.
    pub fn skip_to_segment(&mut self, k: usize) {
        let Some(segment) = self.segments.get(k) else { return };
        let first_index = read_header(segment).ok().flatten().map_or(0, |h| h.first_index);
        (self.pos, self.next_index) = (k, first_index);
    }

    /// Bytes read so far, and the total size of the segments.
    pub fn progress(&self) -> (u64, u64) {
        (self.done_bytes, self.segments.iter().map(|s| s.len).sum())
    }

    /// Reads the next entry's envelope into `body`. `Ok(None)` at the end (or the limit). After
    /// an error the walker stays where it was: `next_index` counts the good entries.
    pub fn next_into(&mut self, body: &mut Vec<u8>) -> Result<Option<Position>, VerifyError> {
        if self.failed {
            return Ok(None);
        }
        let result = self.step(body);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn step(&mut self, body: &mut Vec<u8>) -> Result<Option<Position>, VerifyError> {
        loop {
            if self.limit.is_some_and(|l| self.next_index >= l) {
                return Ok(None);
            }
            let Some(segment) = self.segments.get(self.pos) else {
                return Ok(None);
            };
            let len = segment.len;
            if self.current.is_none() {
                self.current = Some(self.enter()?);
            }
            let offset = self.current.as_ref().map_or(len, |c| c.offset);
            if offset < len
                && let Some(position) = self.read_record(body)?
            {
                return Ok(Some(position));
            }
            // The end of the segment, or the zeros reserved after its records.
            self.current = None;
            self.pos += 1;
        }
    }

    fn corruption(&self, offset: u64, fault: Fault) -> VerifyError {
        let segment = match self.segments.get(self.pos) {
            Some(s) => s.path.clone(),
            None => self.dir.join(format::segment_name(u32::try_from(self.pos).unwrap_or(u32::MAX))),
        };
        VerifyError::Corrupt(Corruption { segment, index: self.next_index, offset, fault })
    }

    /// Opens `segments[pos]` and checks its number and header against the walk so far.
    fn enter(&mut self) -> Result<OpenSegment, VerifyError> {
        let expected_number = u32::try_from(self.pos).unwrap_or(u32::MAX);
        let Some(segment) = self.segments.get(self.pos) else {
            return Err(self.corruption(0, Fault::MissingSegment));
        };
        if segment.number != expected_number {
            // Name the missing file, not the one found after the gap.
            let missing = self.dir.join(format::segment_name(expected_number));
            return Err(VerifyError::Corrupt(Corruption {
                segment: missing,
                index: self.next_index,
                offset: 0,
                fault: Fault::MissingSegment,
            }));
        }
        if segment.len < HEADER_LEN {
            return Err(self.corruption(0, Fault::HeaderTruncated));
        }
        let path = segment.path.clone();
        let file = File::open(&path).map_err(|e| io_error(&path, e))?;
        let mut reader = BufReader::with_capacity(READ_BUFFER, file);
        let mut raw = [0u8; HEADER_LEN as usize];
        reader.read_exact(&mut raw).map_err(|e| io_error(&path, e))?;
        let header = SegmentHeader::decode(&raw).map_err(|f| {
            self.corruption(
                0,
                match f {
                    HeaderFault::BadMagic => Fault::BadMagic,
                    HeaderFault::UnsupportedVersion(v) => Fault::UnsupportedVersion(v),
                    HeaderFault::BadReserved => Fault::BadReserved,
                },
            )
        })?;
        if header.first_index != self.next_index {
            return Err(
                self.corruption(0, Fault::FirstIndexMismatch { expected: self.next_index, found: header.first_index })
            );
        }
        self.done_bytes += HEADER_LEN;
        self.records_end = HEADER_LEN;
        Ok(OpenSegment { reader, offset: HEADER_LEN })
    }

    /// Reads the record at the current offset; `None` if only zeros follow to the segment's end
    /// (space the writer reserved: see [`format`]).
    fn read_record(&mut self, body: &mut Vec<u8>) -> Result<Option<Position>, VerifyError> {
        let (len_total, path) = match self.segments.get(self.pos) {
            Some(s) => (s.len, s.path.clone()),
            None => return Err(self.corruption(0, Fault::MissingSegment)),
        };
        let Some(current) = self.current.as_mut() else {
            return Err(self.corruption(0, Fault::MissingSegment));
        };
        let offset = current.offset;
        let remaining = len_total - offset;
        let last = self.pos + 1 == self.segments.len();
        if !last && remaining < RECORD_OVERHEAD {
            return Err(self.corruption(offset, Fault::TruncatedRecord));
        }
        let mut len_bytes = [0u8; 4];
        let head = usize::try_from(remaining.min(4)).unwrap_or(4);
        let got = read_up_to(&mut current.reader, &mut len_bytes[..head]).map_err(|e| io_error(&path, e))?;
        if last && len_bytes == [0; 4] {
            // No record is empty: in the last segment, zeros to its end are the space the
            // writer reserves ahead of its appends (a short read: it trimmed them meanwhile).
            let rest = remaining - got as u64;
            if got < head || rest_is_zeros(&mut current.reader, rest).map_err(|e| io_error(&path, e))? {
                self.done_bytes += remaining;
                self.reserved_bytes = remaining;
                return Ok(None);
            }
            // What a zero length with bytes after it always read as: a record whose check
            // fails (torn, if nothing valid follows).
            return Err(self.corruption(offset, Fault::CheckMismatch));
        }
        if remaining < RECORD_OVERHEAD || got < 4 {
            return Err(self.corruption(offset, Fault::TruncatedRecord));
        }
        let len = u64::from(u32::from_be_bytes(len_bytes));
        if len + RECORD_OVERHEAD > remaining {
            return Err(self.corruption(offset, Fault::TruncatedRecord));
        }
        if len > format::MAX_ENVELOPE_LEN as u64 {
            // Never written by the ledger: damage, and not worth allocating for.
            return Err(self.corruption(offset, Fault::BadEnvelope));
        }
        body.clear();
        body.resize(len as usize, 0);
        current.reader.read_exact(body).map_err(|e| io_error(&path, e))?;
        let mut stored = [0u8; 4];
        current.reader.read_exact(&mut stored).map_err(|e| io_error(&path, e))?;
        let leaf = leaf_hash(body);
        if leaf.0[..4] != stored {
            return Err(self.corruption(offset, Fault::CheckMismatch));
        }
        if format::check_envelope(body).is_err() {
            return Err(self.corruption(offset, Fault::BadEnvelope));
        }
        current.offset += len + RECORD_OVERHEAD;
        self.records_end = current.offset;
        self.done_bytes += len + RECORD_OVERHEAD;
        let segment = self.segments.get(self.pos).map_or(0, |s| s.number);
        let position = Position { index: self.next_index, leaf, segment, offset, len: len + RECORD_OVERHEAD };
        self.next_index += 1;
        Ok(Some(position))
    }
}

/// Fills `buf` as far as the file goes; returns how many bytes were read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Whether the next `n` bytes are all zeros. A file that ends sooner counts as zeros: the
/// writer trims its reserved space when it rolls over or closes, maybe after the listing.
fn rest_is_zeros(reader: &mut impl Read, mut n: u64) -> io::Result<bool> {
    let mut chunk = [0u8; 8192];
    while n > 0 {
        let want = usize::try_from(n.min(chunk.len() as u64)).unwrap_or(chunk.len());
        let got = read_up_to(reader, &mut chunk[..want])?;
        if chunk[..got].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        if got < want {
            break;
        }
        n -= got as u64;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Ledger, LedgerOptions};

    /// A reader that listed the last segment while the writer had zeros reserved, and reads it
    /// after the writer cut them (at a roll or a close), finds the same records and a clean end.
    #[test]
    fn a_reserve_cut_after_the_listing_reads_as_the_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = Ledger::open(dir.path(), LedgerOptions::default()).expect("open");
        let bodies: Vec<String> = (0..10).map(|i| format!("entry {i}")).collect();
        ledger.append_bodies(&bodies).expect("append");
        let listing = list(dir.path()).expect("list");
        let listed = listing.segments[0].len;
        drop(ledger);
        let now = fs::metadata(&listing.segments[0].path).expect("metadata").len();
        assert!(now < listed, "the close cut nothing ({now} of {listed} bytes)");

        let mut walker = Walker::new(dir.path(), listing.segments, None);
        let mut body = Vec::new();
        let mut entries = 0;
        while walker.next_into(&mut body).expect("a clean walk").is_some() {
            entries += 1;
        }
        assert_eq!((entries, walker.records_end()), (10, now));
    }

    #[test]
    fn zeros_are_recognised_up_to_a_short_file() {
        let zeros = [0u8; 20_000];
        assert!(rest_is_zeros(&mut &zeros[..], 20_000).expect("read"));
        assert!(rest_is_zeros(&mut &zeros[..], 50_000).expect("read"), "a file cut short is zeros to its end");
        let mut stray = zeros;
        stray[17_000] = 1;
        assert!(!rest_is_zeros(&mut &stray[..], 20_000).expect("read"));
        assert!(rest_is_zeros(&mut &stray[..], 17_000).expect("read"), "only the bytes asked for are looked at");
    }
}
