//! Reading index files, after checking what each claims against the segment it indexes.

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use vigie_ledger::seal::{KeyRing, Period};
use vigie_ledger::{RecordReader, SegmentInfo, list_segments};

use super::format::{self, COLUMNS, Header, PartMeta, Reader, WIDTH};
use super::{IndexError, Row, index_dir};

/// An index file, its header read and checksummed.
#[derive(Debug)]
pub struct IndexFile {
    path: PathBuf,
    file: File,
    header: Header,
}

impl IndexFile {
    pub fn open(path: &Path) -> Result<IndexFile, IndexError> {
        let io = |e: std::io::Error| IndexError::Io(format!("{}: {e}", path.display()));
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut head = vec![0u8; len.min(1 << 16) as usize];
        file.read_exact_at(&mut head, 0).map_err(io)?;
        let header = match format::Header::decode(&head) {
            Ok((h, _)) => h,
            Err(IndexError::Format("part count beyond the file")) if len > head.len() as u64 => {
                // A header longer than the first read (many parts): read it whole.
                let mut all = vec![0u8; len.min(64 << 20) as usize];
                file.read_exact_at(&mut all, 0).map_err(io)?;
                format::Header::decode(&all)?.0
            }
            Err(e) => return Err(e),
        };
        if header.parts.iter().any(|p| p.body_offset.saturating_add(p.body_len) > len) {
            return Err(IndexError::Format("a part lies beyond the end of the file"));
        }
        Ok(IndexFile { path: path.to_path_buf(), file, header })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self, at: u64, len: usize) -> Result<Vec<u8>, IndexError> {
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, at).map_err(|e| IndexError::Io(format!("{}: {e}", self.path.display())))?;
        Ok(buf)
    }

    /// Opens part `p` with the month keys (`None` for a ledger that does not seal).
    /// `Ok(None)` when the part is shredded (at build time, or its key is gone now).
    pub fn part(&self, p: usize, keys: Option<&KeyRing>) -> Result<Option<PartReader<'_>>, IndexError> {
        let meta = *self.header.parts.get(p).ok_or(IndexError::Format("no such part"))?;
        if meta.shredded {
            return Ok(None);
        }
        let key = if self.header.sealed && meta.period != 0 {
            let keys =
                keys.ok_or_else(|| IndexError::Io("the index is sealed: the ledger's month keys are needed".into()))?;
            match keys
                .get(Period(meta.period))
                .map_err(|e| IndexError::Io(format!("month key {}: {e}", Period(meta.period))))?
            {
                Some(k) => Some(format::derive_key(&k)?),
                None => return Ok(None),
            }
        } else {
            None
        };
        // The directory: its length prefix, then its payload.
        let len_bytes = self.read(meta.body_offset, 4)?;
        let dir_len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as u64;
        if 4 + dir_len > meta.body_len {
            return Err(IndexError::Format("the part's directory runs past the part"));
        }
        let payload = self.read(meta.body_offset + 4, dir_len as usize)?;
        let aad = format::block_aad(self.header.segment, self.header.first_index, p as u32, meta.body_offset);
        // A directory holds at most a few entries per row (agents) plus one per group.
        let max_plain = 16
            + (meta.access_rows as usize) * 16
            + (meta.access_rows as usize / format::GROUP_ROWS + 1) * (24 + COLUMNS * 12)
            + 32;
        let dir = format::read_block(&payload, key.as_ref(), &aad, max_plain)?;
        let data_start = meta.body_offset + 4 + dir_len;
        PartReader::parse(self, p as u32, meta, key, &dir, data_start).map(Some)
    }
}

/// A row group's place and bounds.
#[derive(Clone, Copy, Debug)]
pub struct Group {
    pub first_row: u32,
    pub rows: u32,
    pub min_at: i64,
    pub max_at: i64,
    cols: [(u64, u32); COLUMNS],
}

/// An opened part of an index file.
#[derive(Debug)]
pub struct PartReader<'a> {
    file: &'a IndexFile,
    part: u32,
    pub meta: PartMeta,
    key: Option<[u8; 32]>,
    /// (agent, first row, rows), sorted by agent.
    agents: Vec<(u64, u32, u32)>,
    pub groups: Vec<Group>,
    security: (u64, u32, u32),
    data_start: u64,
}

impl<'a> PartReader<'a> {
    fn parse(
        file: &'a IndexFile,
        part: u32,
        meta: PartMeta,
        key: Option<[u8; 32]>,
        dir: &[u8],
        data_start: u64,
    ) -> Result<Self, IndexError> {
        let mut r = Reader { b: dir, at: 0 };
        let n_agents = r.u32()? as usize;
        if n_agents.saturating_mul(16) > r.left() {
            return Err(IndexError::Format("agent count beyond the directory"));
        }
        let mut agents = Vec::with_capacity(n_agents);
        let mut rows_seen = 0u64;
        for _ in 0..n_agents {
            let (agent, first, rows) = (r.u64()?, r.u32()?, r.u32()?);
            if u64::from(first) != rows_seen || rows == 0 || agents.last().is_some_and(|(a, _, _)| *a >= agent) {
                return Err(IndexError::Format("agent directory out of order"));
            }
            rows_seen += u64::from(rows);
            agents.push((agent, first, rows));
        }
        if rows_seen != u64::from(meta.access_rows) {
            return Err(IndexError::Format("agent directory does not cover the part's rows"));
        }
        let n_groups = r.u32()? as usize;
        if n_groups.saturating_mul(24 + COLUMNS * 12) > r.left() {
            return Err(IndexError::Format("group count beyond the directory"));
        }
        let mut groups = Vec::with_capacity(n_groups);
        let mut next_row = 0u32;
        for _ in 0..n_groups {
            let first_row = r.u32()?;
            let rows = r.u32()?;
            let (min_at, max_at) = (r.i64()?, r.i64()?);
            let mut cols = [(0u64, 0u32); COLUMNS];
            for c in &mut cols {
                *c = (r.u64()?, r.u32()?);
            }
            if first_row != next_row || rows == 0 || rows as usize > format::GROUP_ROWS {
                return Err(IndexError::Format("row groups out of order"));
            }
            next_row = first_row + rows;
            groups.push(Group { first_row, rows, min_at, max_at, cols });
        }
        if next_row != meta.access_rows {
            return Err(IndexError::Format("row groups do not cover the part's rows"));
        }
        let security = (r.u64()?, r.u32()?, r.u32()?);
        if security.2 != meta.security_rows {
            return Err(IndexError::Format("security row count mismatch"));
        }
        Ok(PartReader { file, part, meta, key, agents, groups, security, data_start })
    }

    fn block(&self, rel: u64, len: u32, max_plain: usize) -> Result<Vec<u8>, IndexError> {
        if len < 4 || rel.saturating_add(u64::from(len)) > self.meta.body_len {
            return Err(IndexError::Format("a block lies outside its part"));
        }
        let framed = self.file.read(self.data_start + rel, len as usize)?;
        let declared = u32::from_be_bytes([framed[0], framed[1], framed[2], framed[3]]);
        if declared != len - 4 {
            return Err(IndexError::Format("a block's length disagrees with the directory"));
        }
        let aad = format::block_aad(self.file.header.segment, self.file.header.first_index, self.part, rel);
        format::read_block(&framed[4..], self.key.as_ref(), &aad, max_plain)
    }

    /// Column `c` of group `g`, as raw little-endian values.
    pub fn column(&self, g: usize, c: usize) -> Result<Vec<u8>, IndexError> {
        let group = self.groups.get(g).ok_or(IndexError::Format("no such group"))?;
        let (rel, len) = group.cols[c];
        let want = group.rows as usize * WIDTH[c];
        let plain = self.block(rel, len, want)?;
        if plain.len() != want {
            return Err(IndexError::Format("a column's length disagrees with its group"));
        }
        Ok(plain)
    }

    /// The rows of group `g` at positions `wanted` (group-relative, ascending), all columns.
    pub fn rows(&self, g: usize, wanted: &[usize]) -> Result<Vec<Row>, IndexError> {
        let mut cols: Vec<Vec<u8>> = Vec::with_capacity(COLUMNS);
        for c in 0..COLUMNS {
            cols.push(self.column(g, c)?);
        }
        let first_index = self.file.header.first_index;
        Ok(wanted
            .iter()
            .map(|&i| Row {
                index: first_index + u64::from(le_u32(&cols[format::COL_IDX], i)),
                offset: le_u64(&cols[format::COL_OFFSET], i),
                at: le_u64(&cols[format::COL_AT], i) as i64,
                agent: le_u64(&cols[format::COL_AGENT], i),
                session: le_u64(&cols[format::COL_SESSION], i),
                person: le_u64(&cols[format::COL_PERSON], i),
                packed: le_u32(&cols[format::COL_PACKED], i),
            })
            .collect())
    }

    /// The row range of `agent` in the part (sorted by agent), if it has rows.
    pub fn agent_rows(&self, agent: u64) -> Option<(u32, u32)> {
        self.agents.binary_search_by_key(&agent, |a| a.0).ok().map(|k| (self.agents[k].1, self.agents[k].2))
    }

    pub fn agent_count(&self) -> usize {
        self.agents.len()
    }

    /// The part's security events: (index, offset, encoded event).
    pub fn security_rows(&self) -> Result<Vec<(u64, u64, Vec<u8>)>, IndexError> {
        self.security_rows_where(|_| true)
    }

    /// The security rows whose bytes `keep` accepts (the others are not copied).
    pub fn security_rows_where(&self, keep: impl Fn(&[u8]) -> bool) -> Result<Vec<(u64, u64, Vec<u8>)>, IndexError> {
        let (rel, len, n) = self.security;
        if n == 0 {
            return Ok(Vec::new());
        }
        // Security events are small (a few hundred bytes); bound by the part's size.
        let plain = self.block(rel, len, (self.meta.body_len as usize).saturating_mul(64).max(1 << 20))?;
        let mut r = Reader { b: &plain, at: 0 };
        let mut out = Vec::new();
        for _ in 0..n {
            let index = r.u64()?;
            let offset = r.u64()?;
            let len = r.u32()? as usize;
            let bytes = r.take(len)?;
            if keep(bytes) {
                out.push((index, offset, bytes.to_vec()));
            }
        }
        if r.left() != 0 {
            return Err(IndexError::Format("trailing bytes after the security rows"));
        }
        Ok(out)
    }
}

fn le_u32(col: &[u8], i: usize) -> u32 {
    let b = &col[i * 4..i * 4 + 4];
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn le_u64(col: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&col[i * 8..i * 8 + 8]);
    u64::from_le_bytes(a)
}

/// Reads the values of a u64 column.
pub fn u64_values(col: &[u8]) -> impl Iterator<Item = u64> + '_ {
    col.chunks_exact(8).map(|c| {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        u64::from_le_bytes(a)
    })
}

/// One segment and the index files that cover its entries from its first, in a checked chain.
#[derive(Debug)]
pub struct SegmentCoverage {
    pub info: SegmentInfo,
    pub position: usize,
    pub files: Vec<IndexFile>,
    /// The first entry no file covers (`None`: none covered).
    pub covered_to: Option<u64>,
    /// Where that entry's record starts.
    pub covered_offset: u64,
}

/// Every segment of the ledger with its usable index files, and the files that do not match.
#[derive(Debug)]
pub struct Coverage {
    pub segments: Vec<SegmentCoverage>,
    pub stale: Vec<PathBuf>,
}

const SEGMENT_HEADER_LEN: u64 = 24;

/// Lists the ledger's segments and checks each index file's claims against its segment: the
/// chain of files starts at the segment's first entry and first record, each file starts where
/// the previous one ended, its byte range lies in the segment, and its first and last leaf
/// hashes are those of the records at the places it names (read back from the log). A file that
/// fails any of these is listed as stale and not used.
pub fn coverage(ledger: &Path) -> Result<Coverage, IndexError> {
    let segments = list_segments(ledger)?;
    let dir = index_dir(ledger);
    let mut by_segment: std::collections::BTreeMap<u32, Vec<(u64, PathBuf)>> = Default::default();
    let mut stale = Vec::new();
    match fs::read_dir(&dir) {
        Ok(rd) => {
            for entry in rd.flatten() {
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                let Some(stem) = name.strip_suffix(".vgix") else { continue };
                let parsed =
                    stem.split_once('-').and_then(|(s, f)| Some((s.parse::<u32>().ok()?, f.parse::<u64>().ok()?)));
                match parsed {
                    Some((s, f)) => by_segment.entry(s).or_default().push((f, entry.path())),
                    None => stale.push(entry.path()),
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(IndexError::Io(format!("{}: {e}", dir.display()))),
    }
    let mut reader = RecordReader::new(ledger);
    let mut out = Vec::with_capacity(segments.len());
    for (position, info) in segments.into_iter().enumerate() {
        let mut files = Vec::new();
        let mut candidates = by_segment.remove(&info.number).unwrap_or_default();
        candidates.sort();
        let mut next_index = info.first_index;
        let mut next_offset = SEGMENT_HEADER_LEN;
        for (first, path) in candidates {
            let file = match IndexFile::open(&path) {
                Ok(f) => f,
                Err(_) => {
                    stale.push(path);
                    continue;
                }
            };
            let h = file.header();
            let chained = Some(first) == next_index
                && h.first_index == first
                && h.segment == info.number
                && h.start_offset == next_offset
                && h.end_offset <= info.len;
            let leaves_match = chained
                && reader
                    .entry(info.number, h.start_offset, h.first_index, None)
                    .is_ok_and(|e| e.leaf.0 == h.first_leaf)
                && reader
                    .entry(info.number, h.last_offset, h.first_index + h.entry_count - 1, None)
                    .is_ok_and(|e| e.leaf.0 == h.last_leaf && h.last_offset + e.record_len == h.end_offset);
            if !leaves_match {
                stale.push(path);
                continue;
            }
            next_index = Some(h.first_index + h.entry_count);
            next_offset = h.end_offset;
            files.push(file);
        }
        let covered_to = if files.is_empty() { None } else { next_index };
        out.push(SegmentCoverage { info, position, files, covered_to, covered_offset: next_offset });
    }
    // Files for segments that do not exist.
    for (_, files) in by_segment {
        stale.extend(files.into_iter().map(|(_, p)| p));
    }
    Ok(Coverage { segments: out, stale })
}

/// Checks an index file row by row against the log: every access entry it claims to cover is
/// read from its segment (opened with the month keys) and compared with the file's row, and
/// every security event likewise. What `vigie ledger index --check` runs; slow (it reads the
/// log), so scoping itself only samples. Returns the rows checked.
pub fn check_file(ledger: &Path, keys: Option<&KeyRing>, file: &IndexFile) -> Result<u64, IndexError> {
    use vigie_core::event::EventHead;
    use vigie_core::incident::scope::ScopeRow;
    use vigie_ledger::{Entries, EntryKind};
    let h = file.header();
    let position = list_segments(ledger)?
        .iter()
        .position(|s| s.number == h.segment)
        .ok_or_else(|| IndexError::Stale { path: file.path().to_path_buf(), what: "its segment is gone".into() })?;
    let mut rows: std::collections::HashMap<u64, Row> = std::collections::HashMap::new();
    let mut security: std::collections::HashMap<u64, Vec<u8>> = std::collections::HashMap::new();
    for p in 0..h.parts.len() {
        let Some(part) = file.part(p, keys)? else { continue };
        for g in 0..part.groups.len() {
            let all: Vec<usize> = (0..part.groups[g].rows as usize).collect();
            for r in part.rows(g, &all)? {
                rows.insert(r.index, r);
            }
        }
        for (index, _, bytes) in part.security_rows()? {
            security.insert(index, bytes);
        }
    }
    let mut entries = Entries::segment(ledger, position)?.starting_at(h.first_index);
    if let Some(k) = keys {
        entries = entries.with_keys(k.dir());
    }
    let mismatch = |index: u64, what: &str| IndexError::Stale {
        path: file.path().to_path_buf(),
        what: format!("entry {index}: {what}"),
    };
    let mut checked = 0u64;
    for e in entries.take(h.entry_count as usize) {
        let e = e?;
        if matches!(e.sealed, Some((_, vigie_ledger::seal::Unsealed::Shredded))) {
            continue;
        }
        match e.kind {
            EntryKind::Access => {
                let head =
                    EventHead::decode(&e.body).ok_or_else(|| mismatch(e.index, "not an access event in the log"))?;
                let want = Row::from_scope(&ScopeRow::from_head(e.index, &head), e.offset);
                match rows.remove(&e.index) {
                    Some(got) if got == want => checked += 1,
                    Some(_) => return Err(mismatch(e.index, "its row differs from the log")),
                    None => return Err(mismatch(e.index, "missing from the index")),
                }
            }
            EntryKind::Security => match security.remove(&e.index) {
                Some(b) if b == e.body => checked += 1,
                Some(_) => return Err(mismatch(e.index, "its security event differs from the log")),
                None => return Err(mismatch(e.index, "security event missing from the index")),
            },
            EntryKind::Opaque => {}
        }
    }
    if let Some(extra) = rows.keys().chain(security.keys()).min() {
        return Err(mismatch(*extra, "in the index but not in the log"));
    }
    Ok(checked)
}
