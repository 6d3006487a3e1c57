//! Building index files from the log: a segment's entries from a given index to its current end
//! are read (every record checked by the ledger's walk), opened with the month keys, and written
//! as one file, atomically (temporary file, sync, rename). Files are only ever added: a segment
//! still being appended gets a file for what it holds now, and the next refresh adds one for
//! what came after.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use vigie_core::event::EventHead;
use vigie_core::incident::scope::ScopeRow;
use vigie_ledger::seal::{KeyRing, Period, Unsealed};
use vigie_ledger::{Entries, EntryKind, SegmentInfo};

use super::format::{self, COLUMNS, GROUP_ROWS, Header, PartMeta, WIDTH};
use super::read::coverage;
use super::{IndexError, Row, index_dir};

/// What a refresh did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildReport {
    pub files_written: usize,
    pub entries_indexed: u64,
    /// Files that did not match their segment, moved to `index/stale/` (kept as evidence).
    pub stale_moved: Vec<PathBuf>,
}

#[derive(Default)]
struct PartAcc {
    entries: u64,
    shredded: bool,
    rows: Vec<Row>,
    security: Vec<(u64, u64, Vec<u8>)>,
    min_at: i64,
    max_at: i64,
}

/// The file name of the index of segment `segment` from entry `first_index`.
pub fn file_name(segment: u32, first_index: u64) -> String {
    format!("{segment:08}-{first_index:020}.vgix")
}

/// Indexes the entries of the segment at position `k` of the ledger's listing from entry
/// `from_index` (its first entry, or where the last index file of it ends) to its current end.
/// Returns the file written and the entries it covers; `None` if there was nothing to index.
pub fn build_segment(
    ledger: &Path,
    keys: Option<&KeyRing>,
    segment: &SegmentInfo,
    k: usize,
    from_index: u64,
) -> Result<Option<(PathBuf, u64)>, IndexError> {
    build_segment_mapped(ledger, keys, segment, k, from_index, |_| {})
}

/// [`build_segment`], with each row passed through `map` before it is written: what a forger
/// holding the month keys could do, for the tests that show such an index is caught.
#[doc(hidden)]
pub fn build_segment_mapped(
    ledger: &Path,
    keys: Option<&KeyRing>,
    segment: &SegmentInfo,
    k: usize,
    from_index: u64,
    map: impl Fn(&mut Row),
) -> Result<Option<(PathBuf, u64)>, IndexError> {
    let mut entries = Entries::segment(ledger, k)?.starting_at(from_index);
    if let Some(dir) = keys.map(KeyRing::dir) {
        entries = entries.with_keys(dir);
    }
    let mut parts: BTreeMap<u32, PartAcc> = BTreeMap::new();
    let mut first: Option<(u64, u64, [u8; 32])> = None;
    let mut last: Option<(u64, u64, u64, [u8; 32])> = None;
    let mut count = 0u64;
    let mut sealed_any = false;
    for entry in entries {
        let e = entry?;
        count += 1;
        first.get_or_insert((e.index, e.offset, e.leaf.0));
        last = Some((e.index, e.offset, e.offset + e.record_len, e.leaf.0));
        let period = match e.sealed {
            Some((p, _)) => {
                sealed_any = true;
                p.0
            }
            None => 0,
        };
        let part =
            parts.entry(period).or_insert_with(|| PartAcc { min_at: i64::MAX, max_at: i64::MIN, ..PartAcc::default() });
        part.entries += 1;
        if e.kind != EntryKind::Opaque {
            part.min_at = part.min_at.min(e.at);
            part.max_at = part.max_at.max(e.at);
        }
        match e.sealed {
            Some((_, Unsealed::Shredded)) => {
                part.shredded = true;
                continue;
            }
            Some((_, Unsealed::Undecryptable)) => {
                return Err(IndexError::Entry {
                    index: e.index,
                    what: "its sealed body does not open with its month's key (a wrong key file, or damage)".into(),
                });
            }
            _ => {}
        }
        match e.kind {
            EntryKind::Access => {
                let head = EventHead::decode(&e.body).ok_or_else(|| IndexError::Entry {
                    index: e.index,
                    what: "an access entry whose body is not an access event".into(),
                })?;
                let mut row = Row::from_scope(&ScopeRow::from_head(e.index, &head), e.offset);
                map(&mut row);
                part.rows.push(row);
            }
            EntryKind::Security => part.security.push((e.index, e.offset, e.body)),
            EntryKind::Opaque => {}
        }
    }
    let (Some(first), Some(last)) = (first, last) else { return Ok(None) };
    let mut header = Header {
        segment: segment.number,
        first_index: first.0,
        entry_count: count,
        start_offset: first.1,
        last_offset: last.1,
        end_offset: last.2,
        first_leaf: first.2,
        last_leaf: last.3,
        sealed: sealed_any,
        parts: Vec::new(),
    };
    // A part whose month was shredded keeps its counts and loses its rows.
    for acc in parts.values_mut() {
        if acc.shredded {
            acc.rows.clear();
            acc.security.clear();
        }
        if acc.min_at > acc.max_at {
            (acc.min_at, acc.max_at) = (0, 0);
        }
    }
    let placeholder: Vec<PartMeta> = parts
        .iter()
        .map(|(period, a)| PartMeta {
            period: *period,
            shredded: a.shredded,
            entries: a.entries,
            access_rows: 0,
            security_rows: 0,
            min_at: a.min_at,
            max_at: a.max_at,
            body_offset: 0,
            body_len: 0,
        })
        .collect();
    header.parts = placeholder;
    let body_start = header.encoded_len() as u64;
    let mut body = Vec::new();
    for (p, (period, acc)) in parts.into_iter().enumerate() {
        let key = match (keys, period) {
            (Some(keys), period) if period != 0 && !acc.shredded => {
                let month = keys
                    .get(Period(period))
                    .map_err(|e| IndexError::Io(format!("reading the key of {}: {e}", Period(period))))?
                    .ok_or_else(|| IndexError::Io(format!("the key of {} vanished while indexing", Period(period))))?;
                Some(format::derive_key(&month)?)
            }
            _ => None,
        };
        let part_start = body.len() as u64;
        let meta = &mut header.parts[p];
        if !acc.shredded {
            meta.access_rows = u32::try_from(acc.rows.len()).map_err(|_| IndexError::Io("too many rows".into()))?;
            meta.security_rows =
                u32::try_from(acc.security.len()).map_err(|_| IndexError::Io("too many rows".into()))?;
            write_part(&mut body, part_start, body_start, &header_ids(&header), p as u32, acc, key.as_ref())?;
        }
        let meta = &mut header.parts[p];
        meta.body_offset = body_start + part_start;
        meta.body_len = body.len() as u64 - part_start;
    }
    let mut file = header.encode();
    file.extend_from_slice(&body);
    let dir = index_dir(ledger);
    let path = dir.join(file_name(segment.number, first.0));
    write_atomically(&dir, &path, &file)?;
    Ok(Some((path, count)))
}

fn header_ids(h: &Header) -> (u32, u64) {
    (h.segment, h.first_index)
}

/// Writes a part's blocks: the directory first, then the row groups' columns, then the
/// security events. Offsets in the directory are from the start of the file.
fn write_part(
    body: &mut Vec<u8>,
    part_start: u64,
    body_start: u64,
    ids: &(u32, u64),
    part: u32,
    mut acc: PartAcc,
    key: Option<&[u8; 32]>,
) -> Result<(), IndexError> {
    acc.rows.sort_by_key(|r| (r.agent, r.at, r.index));
    // The directory's size is known before its content: agents and groups have fixed-size
    // entries. Blocks after it are written to a scratch buffer, then placed after it.
    let mut agents: Vec<(u64, u32, u32)> = Vec::new();
    for (i, r) in acc.rows.iter().enumerate() {
        match agents.last_mut() {
            Some(a) if a.0 == r.agent => a.2 += 1,
            _ => agents.push((r.agent, i as u32, 1)),
        }
    }
    let mut blocks = Vec::new();
    let mut groups = Vec::new();
    // Offsets are decided once the directory's framed length is known, which depends on its
    // compressed size: write the data blocks with offsets relative to their scratch buffer and
    // encode those relative offsets (the reader adds the directory's end).
    for (g, chunk) in acc.rows.chunks(GROUP_ROWS).enumerate() {
        let first_row = (g * GROUP_ROWS) as u32;
        let min_at = chunk.iter().map(|r| r.at).min().unwrap_or(0);
        let max_at = chunk.iter().map(|r| r.at).max().unwrap_or(0);
        let mut cols = [(0u64, 0u32); COLUMNS];
        for (c, col) in cols.iter_mut().enumerate() {
            let mut plain = Vec::with_capacity(chunk.len() * WIDTH[c]);
            for r in chunk {
                match c {
                    format::COL_IDX => plain.extend_from_slice(&((r.index - ids.1) as u32).to_le_bytes()),
                    format::COL_OFFSET => plain.extend_from_slice(&r.offset.to_le_bytes()),
                    format::COL_AT => plain.extend_from_slice(&r.at.to_le_bytes()),
                    format::COL_AGENT => plain.extend_from_slice(&r.agent.to_le_bytes()),
                    format::COL_SESSION => plain.extend_from_slice(&r.session.to_le_bytes()),
                    format::COL_PERSON => plain.extend_from_slice(&r.person.to_le_bytes()),
                    _ => plain.extend_from_slice(&r.packed.to_le_bytes()),
                }
            }
            let at = blocks.len() as u64;
            let aad = format::block_aad(ids.0, ids.1, part, at);
            format::write_block(&mut blocks, &plain, key, &aad)?;
            *col = (at, (blocks.len() as u64 - at) as u32);
        }
        groups.push((first_row, chunk.len() as u32, min_at, max_at, cols));
    }
    let security_at = blocks.len() as u64;
    if !acc.security.is_empty() {
        let mut plain = Vec::new();
        for (index, offset, bytes) in &acc.security {
            plain.extend_from_slice(&index.to_be_bytes());
            plain.extend_from_slice(&offset.to_be_bytes());
            plain.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            plain.extend_from_slice(bytes);
        }
        let aad = format::block_aad(ids.0, ids.1, part, security_at);
        format::write_block(&mut blocks, &plain, key, &aad)?;
    }
    let security_len = (blocks.len() as u64 - security_at) as u32;

    let mut dir = Vec::new();
    dir.extend_from_slice(&(agents.len() as u32).to_be_bytes());
    for (agent, first, rows) in &agents {
        dir.extend_from_slice(&agent.to_be_bytes());
        dir.extend_from_slice(&first.to_be_bytes());
        dir.extend_from_slice(&rows.to_be_bytes());
    }
    dir.extend_from_slice(&(groups.len() as u32).to_be_bytes());
    for (first_row, rows, min_at, max_at, cols) in &groups {
        dir.extend_from_slice(&first_row.to_be_bytes());
        dir.extend_from_slice(&rows.to_be_bytes());
        dir.extend_from_slice(&min_at.to_be_bytes());
        dir.extend_from_slice(&max_at.to_be_bytes());
        for (off, len) in cols {
            dir.extend_from_slice(&off.to_be_bytes());
            dir.extend_from_slice(&len.to_be_bytes());
        }
    }
    dir.extend_from_slice(&security_at.to_be_bytes());
    dir.extend_from_slice(&security_len.to_be_bytes());
    dir.extend_from_slice(&(acc.security.len() as u32).to_be_bytes());
    let dir_at = body_start + part_start;
    let aad = format::block_aad(ids.0, ids.1, part, dir_at);
    format::write_block(body, &dir, key, &aad)?;
    // Data blocks follow the directory; their AAD used offsets relative to the data area, and
    // the reader computes the same.
    body.extend_from_slice(&blocks);
    Ok(())
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    let io = |what: &str, e: std::io::Error| IndexError::Io(format!("{what} {}: {e}", path.display()));
    vigie_ledger::private::create_dir_all(dir).map_err(|e| io("creating the directory of", e))?;
    // A name of this writer's own (random: processes on other hosts, or in containers, may share
    // a pid), created new: two writers of one index (threads, or a tool beside the node) each
    // write a whole file, and the last rename wins.
    let tmp = path.with_extension(format!("vgix.{:016x}.tmp", rand::random::<u64>()));
    let mut f =
        OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(|e| io("creating", e))?;
    f.write_all(bytes).map_err(|e| io("writing", e))?;
    f.sync_data().map_err(|e| io("syncing", e))?;
    drop(f);
    fs::rename(&tmp, path).map_err(|e| io("publishing", e))?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Brings the index of the ledger in `ledger` up to date: each segment gets a file for the
/// entries no file covers yet. The last segment (still being appended) is indexed only when at
/// least `min_tail` of its entries are uncovered (queries read an uncovered tail from the log).
/// Files that do not match their segment are moved to `index/stale/`, never used.
/// `progress(segments done, segments)` is called after each segment.
pub fn refresh(
    ledger: &Path,
    keys: Option<&KeyRing>,
    min_tail: u64,
    mut progress: impl FnMut(usize, usize),
) -> Result<BuildReport, IndexError> {
    let mut report = BuildReport::default();
    let cover = coverage(ledger)?;
    let total = cover.segments.len();
    report.stale_moved = cover.stale.clone();
    if !cover.stale.is_empty() {
        let stale_dir = index_dir(ledger).join("stale");
        vigie_ledger::private::create_dir_all(&stale_dir)
            .map_err(|e| IndexError::Io(format!("creating {}: {e}", stale_dir.display())))?;
        for path in &cover.stale {
            if let Some(name) = path.file_name() {
                let _ = fs::rename(path, stale_dir.join(name));
            }
        }
    }
    for (k, seg) in cover.segments.iter().enumerate() {
        let Some(first) = seg.info.first_index else { continue };
        let next_first = cover.segments.get(k + 1).and_then(|s| s.info.first_index);
        let from = seg.covered_to.unwrap_or(first);
        let uncovered = next_first.map(|n| n.saturating_sub(from));
        let worth = match uncovered {
            Some(n) => n > 0,
            // The last segment: its entry count is unknown without reading; index it when its
            // uncovered bytes hold `min_tail` entries or more (records are at least 50 bytes).
            None => seg.info.len.saturating_sub(seg.covered_offset) >= min_tail.saturating_mul(50).max(1),
        };
        if worth && let Some((_, count)) = build_segment(ledger, keys, &seg.info, k, from)? {
            report.files_written += 1;
            report.entries_indexed += count;
        }
        progress(k + 1, total);
    }
    Ok(report)
}
