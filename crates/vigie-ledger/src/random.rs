//! Reading single records back by where they are (segment number, byte offset), for tools that
//! found them through an index: incident scoping re-reads every entry its answer relies on, so
//! that an index is never believed over the log. Each read checks the record as the walk does
//! (length bounds, the 4-byte check against the leaf hash, the envelope) and returns the leaf
//! hash with it.
//!
//! Also the listing of segments with their first index, for tools that go segment by segment.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::entries::{Entry, Located, decode_entry};
use crate::error::{Corruption, Fault, VerifyError};
use crate::format::{self, RECORD_OVERHEAD};
use crate::merkle::leaf_hash;
use crate::seal::KeyRing;
use crate::walk::{self, io_error};

/// A segment file of a ledger directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    pub number: u32,
    pub path: PathBuf,
    /// Bytes in the file when listed (records, and in the last segment maybe reserved zeros).
    pub len: u64,
    /// The first entry index its header declares (`None`: no readable header).
    pub first_index: Option<u64>,
}

/// The segments of the ledger in `dir`, in number order, with their headers' first index.
pub fn list_segments(dir: &Path) -> Result<Vec<SegmentInfo>, VerifyError> {
    walk::list(dir)?
        .segments
        .into_iter()
        .map(|s| {
            let first_index = walk::first_index(&s)?;
            Ok(SegmentInfo { number: s.number, path: s.path, len: s.len, first_index })
        })
        .collect()
}

/// Reads records at known places, keeping the segment files it opened.
#[derive(Debug)]
pub struct RecordReader {
    dir: PathBuf,
    files: HashMap<u32, File>,
    buf: Vec<u8>,
}

impl RecordReader {
    pub fn new(dir: &Path) -> Self {
        RecordReader { dir: dir.to_path_buf(), files: HashMap::new(), buf: Vec::new() }
    }

    fn file(&mut self, segment: u32) -> Result<&File, VerifyError> {
        if !self.files.contains_key(&segment) {
            let path = self.dir.join(format::segment_name(segment));
            let file = File::open(&path).map_err(|e| io_error(&path, e))?;
            // Enough for a scoping run's segments; beyond, start over rather than hold every
            // descriptor of a long ledger.
            if self.files.len() >= 64 {
                self.files.clear();
            }
            self.files.insert(segment, file);
        }
        let path = self.dir.join(format::segment_name(segment));
        self.files.get(&segment).ok_or_else(|| io_error(&path, std::io::ErrorKind::NotFound.into()))
    }

    /// The entry `index` whose record starts at `offset` of segment `segment`, checked, and
    /// opened with `keys` if sealed. The index is the caller's claim: it is returned as given,
    /// the record's content is what was read.
    pub fn entry(
        &mut self,
        segment: u32,
        offset: u64,
        index: u64,
        keys: Option<&KeyRing>,
    ) -> Result<Entry, VerifyError> {
        let path = self.dir.join(format::segment_name(segment));
        let corrupt = |fault| VerifyError::Corrupt(Corruption { segment: path.clone(), index, offset, fault });
        let mut len = [0u8; 4];
        {
            let file = self.file(segment)?;
            file.read_exact_at(&mut len, offset).map_err(|_| corrupt(Fault::TruncatedRecord))?;
        }
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 || len > format::MAX_ENVELOPE_LEN {
            return Err(corrupt(Fault::BadEnvelope));
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.resize(len + 4, 0);
        let read = self.file(segment)?.read_exact_at(&mut buf, offset + 4);
        if read.is_err() {
            self.buf = buf;
            return Err(corrupt(Fault::TruncatedRecord));
        }
        let (envelope, check) = buf.split_at(len);
        let leaf = leaf_hash(envelope);
        let result = if leaf.0[..4] != *check {
            Err(corrupt(Fault::CheckMismatch))
        } else if format::check_envelope(envelope).is_err() {
            Err(corrupt(Fault::BadEnvelope))
        } else {
            decode_entry(Located { index, leaf, segment, offset, record_len: record_len(len) }, envelope, keys)
                .ok_or_else(|| corrupt(Fault::BadEnvelope))
        };
        self.buf = buf;
        result
    }
}

/// The bytes a record of an envelope of `len` bytes takes in a segment.
pub fn record_len(envelope_len: usize) -> u64 {
    envelope_len as u64 + RECORD_OVERHEAD
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Entries, Ledger, LedgerOptions};

    #[test]
    fn records_read_back_by_place_equal_the_walk_and_damage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let options = LedgerOptions { segment_bytes: 1024, ..LedgerOptions::default() };
        let ledger = Ledger::open(dir.path(), options).unwrap();
        let bodies: Vec<String> = (0..300).map(|i| format!("entry number {i}")).collect();
        for chunk in bodies.chunks(7) {
            ledger.append_bodies(chunk).unwrap();
        }
        drop(ledger);
        let walked: Vec<Entry> = Entries::open(dir.path()).unwrap().map(Result::unwrap).collect();
        assert_eq!(walked.len(), 300);
        let segments = list_segments(dir.path()).unwrap();
        assert!(segments.len() > 3, "several segments: {segments:?}");
        // Each segment read alone yields exactly its own entries.
        let mut count = 0;
        for (k, s) in segments.iter().enumerate() {
            let alone: Vec<Entry> = Entries::segment(dir.path(), k).unwrap().map(Result::unwrap).collect();
            assert!(alone.iter().all(|e| e.segment == s.number));
            assert_eq!(alone.first().map(|e| e.index), s.first_index);
            count += alone.len();
        }
        assert_eq!(count, 300);
        let mut reader = RecordReader::new(dir.path());
        for e in walked.iter().rev() {
            assert_eq!(&reader.entry(e.segment, e.offset, e.index, None).unwrap(), e);
        }
        // A flipped byte in a record is named, never returned as an entry.
        let victim = &walked[123];
        let path = dir.path().join(format::segment_name(victim.segment));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[victim.offset as usize + 6] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let mut reader = RecordReader::new(dir.path());
        let err = reader.entry(victim.segment, victim.offset, victim.index, None).unwrap_err();
        assert!(err.to_string().contains("123"), "{err}");
        // A wrong offset is refused too.
        assert!(reader.entry(victim.segment, victim.offset + 1, victim.index, None).is_err());
    }
}
