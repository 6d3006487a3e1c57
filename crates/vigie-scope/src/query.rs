//! Queries over a ledger for an incident: the access entries its selectors held within its
//! window, the security events it needs (sign-ins name sessions' networks; four-eyes records),
//! and the entries that touched given persons (canaries), found through the index and the
//! uncovered tail of the log, then each read back from the log and checked before it counts.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use rand::Rng;
use vigie_core::event::EventHead;
use vigie_core::ids::{AgentId, PersonId, SessionId};
use vigie_core::incident::expand::{Compromised, SecurityRow, Sessions};
use vigie_core::incident::scope::ScopeRow;
use vigie_core::incident::{Selector, Window};
use vigie_core::security::SecurityEvent;
use vigie_ledger::note::NoteVerifier;
use vigie_ledger::seal::{KeyRing, Period, Unsealed};
use vigie_ledger::{Entries, EntryKind, RecordReader, TIME_DISORDER_MS};

use crate::index::format::{COL_PERSON, COL_SESSION};
use crate::index::read::{Coverage, coverage, u64_values};
use crate::index::{IndexError, PartReader, Row, refresh};
use crate::tiles::Tiles;
use crate::trust::{self, Trust};

/// How long before a window sessions may have signed in and still be used in it: a session
/// lives a working day at most (`signin::session` policy), doubled for safety.
pub const SESSION_LOOKBACK_MS: i64 = 2 * 24 * 3_600_000;
/// Rows checked against the log at random in every index part read, besides those relied on.
pub const SAMPLE_PER_PART: usize = 8;

/// A ledger to scope: its directory, month keys, log key and witnesses.
#[derive(Debug)]
pub struct LedgerSource {
    pub dir: PathBuf,
    pub keys: Option<KeyRing>,
    pub verifier: Option<NoteVerifier>,
    pub witness_dirs: Vec<PathBuf>,
}

/// What to find.
#[derive(Clone, Debug)]
pub struct Query {
    pub window: Window,
    pub selectors: Vec<Selector>,
    /// Entries touching these persons in the window, whoever read them (canaries).
    pub persons: HashSet<PersonId>,
    /// Also return the security events (sign-ins, four-eyes records) up to the window's end.
    /// Network selectors need them whatever this says (a network stands for its sessions).
    pub security: bool,
}

/// Why scoping could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    #[error("{0}")]
    Index(#[from] IndexError),
    #[error(
        "the index disagrees with the log at entry {index} ({what}); the index is not used over the log: rebuild it \
         with `vigie ledger index --rebuild` and look for who changed it"
    )]
    IndexMismatch { index: u64, what: String },
    #[error("the log does not back an entry the answer relies on: {0}")]
    Log(String),
    #[error("the window {from}..{to} lies outside the ledger (its entries span {first}..{last})")]
    OutsideLedger { from: i64, to: i64, first: i64, last: i64 },
    #[error("the ledger has no entries")]
    EmptyLedger,
}

/// Counters of what was read and checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub index_files: usize,
    pub parts_read: usize,
    pub tail_entries_read: u64,
    pub rows_checked: u64,
    pub sample_checked: u64,
    /// Entries relied on that are newer than the checkpoint (not yet under a signed tree).
    pub after_checkpoint: u64,
}

/// What a query found, every row checked against the log.
#[derive(Debug, Default)]
pub struct Found {
    /// Access entries the selectors held in the window.
    pub rows: Vec<ScopeRow>,
    /// Access entries of any account in the window touching the query's persons.
    pub person_rows: Vec<ScopeRow>,
    /// Security events from a session lifetime before the window to its end, in ledger order.
    pub security: Vec<SecurityRow>,
    pub sessions: Sessions,
    /// Months in (or overlapping) the window whose keys are shredded, with their entry counts.
    pub shredded: Vec<(Period, u64)>,
    pub trust: Trust,
    pub stats: Stats,
    /// The ledger's first and last entry times.
    pub span: Option<(i64, i64)>,
}

/// A row found in the index, with the segment it is in.
#[derive(Clone, Copy, Debug)]
struct Hit {
    segment: u32,
    row: Row,
}

/// Runs `query` on the ledger. The index is brought up to date first (closed segments, and the
/// open one when its uncovered tail is long), unless `refresh_index` is false.
pub fn run(src: &LedgerSource, query: &Query, refresh_index: bool) -> Result<Found, ScopeError> {
    if refresh_index {
        refresh(&src.dir, src.keys.as_ref(), 50_000, |_, _| {})?;
    }
    let mut found =
        Found { trust: trust::check(&src.dir, src.verifier.as_ref(), &src.witness_dirs), ..Found::default() };
    let cover = coverage(&src.dir)?;
    found.stats.index_files = cover.segments.iter().map(|s| s.files.len()).sum();
    let w = query.window;
    let security_from = w.from().0.saturating_sub(SESSION_LOOKBACK_MS);
    let mut shredded: HashMap<Period, u64> = HashMap::new();

    // Pass 1: security events (sessions, four-eyes records), from the index and the tail; only
    // when asked for or when a network must be resolved to its sessions.
    let want_security = query.security || query.selectors.iter().any(|s| matches!(s, Selector::Network(_)));
    let mut security: Vec<(u32, u64, u64, Vec<u8>)> = Vec::new();
    // Only networks to resolve: a record whose bytes lack every network's text cannot be a
    // sign-in from them, and is not decoded (there is one sign-in per session in the window).
    let needles: Option<Vec<String>> = if query.security {
        None
    } else {
        query
            .selectors
            .iter()
            .filter_map(|s| match s {
                Selector::Network(n) => Some(n.ipv4_text_prefix()),
                _ => None,
            })
            .collect()
    };
    let finders: Option<Vec<memchr::memmem::Finder<'_>>> =
        needles.as_ref().map(|n| n.iter().map(memchr::memmem::Finder::new).collect());
    let wanted = |bytes: &[u8]| finders.as_ref().is_none_or(|f| f.iter().any(|f| f.find(bytes).is_some()));
    let mut span: Option<(i64, i64)> = None;
    for seg in &cover.segments {
        for file in &seg.files {
            for (p, meta) in file.header().parts.iter().enumerate() {
                if meta.entries > 0 && meta.min_at != 0 {
                    span = Some(
                        span.map_or((meta.min_at, meta.max_at), |(a, b)| (a.min(meta.min_at), b.max(meta.max_at))),
                    );
                }
                if !want_security || meta.shredded || meta.max_at < security_from || meta.min_at >= w.to().0 {
                    continue;
                }
                // A month shredded since the index was built is counted in pass 2.
                let Some(part) = file.part(p, src.keys.as_ref())? else { continue };
                for (index, offset, bytes) in part.security_rows_where(wanted)? {
                    security.push((file.header().segment, index, offset, bytes));
                }
            }
        }
    }
    let mut tail = read_tails(src, &cover, security_from, w, &mut shredded, &mut found.stats, &mut span)?;
    if want_security {
        tail.security.retain(|t| wanted(&t.3));
    } else {
        tail.security.clear();
    }
    security.extend(tail.security.iter().cloned());
    security.sort_by_key(|s| s.1);
    for (_, index, _, bytes) in &security {
        if let Some(event) = SecurityEvent::decode(bytes)
            && event.at.0 < w.to().0
        {
            let row = SecurityRow { index: *index, event };
            found.sessions.learn(&row);
            found.security.push(row);
        }
    }
    found.span = span;
    let Some((first, last)) = span else { return Err(ScopeError::EmptyLedger) };
    if w.to().0 <= first || w.from().0 > last {
        return Err(ScopeError::OutsideLedger { from: w.from().0, to: w.to().0, first, last });
    }

    // Pass 2: access rows held by the selectors, and rows touching the persons.
    let held = Compromised::resolve(&query.selectors, &found.sessions);
    let agents: Vec<u64> = {
        let mut a: Vec<u64> = held.agents.iter().map(|a| a.get()).collect();
        a.sort_unstable();
        a
    };
    let sessions: HashSet<u64> = held.sessions.iter().map(|s| s.0).collect();
    let persons: HashSet<u64> = query.persons.iter().map(|p| p.get()).collect();
    let mut hits: Vec<Hit> = Vec::new();
    let mut person_hits: Vec<Hit> = Vec::new();
    let mut samples: Vec<Hit> = Vec::new();
    let mut rng = rand::thread_rng();
    for seg in &cover.segments {
        for file in &seg.files {
            for (p, meta) in file.header().parts.iter().enumerate() {
                if meta.max_at < w.from().0 || meta.min_at >= w.to().0 {
                    continue;
                }
                if meta.shredded {
                    *shredded.entry(Period(meta.period)).or_default() += meta.entries;
                    continue;
                }
                if meta.access_rows == 0 {
                    continue;
                }
                let Some(part) = file.part(p, src.keys.as_ref())? else {
                    // Its key was shredded after the index was built.
                    *shredded.entry(Period(meta.period)).or_default() += meta.entries;
                    continue;
                };
                found.stats.parts_read += 1;
                let segment = file.header().segment;
                scan_part(&part, &agents, &sessions, &persons, w, |row, by_person| {
                    let hit = Hit { segment, row };
                    if by_person {
                        person_hits.push(hit);
                    } else {
                        hits.push(hit);
                    }
                })?;
                // A sample of the part's rows, whatever they are, checked like the hits.
                // Drawn from one random group: a group's columns are decompressed as a whole, so
                // eight rows from eight groups cost eight groups' decompression a part.
                if !part.groups.is_empty() {
                    let g = rng.gen_range(0..part.groups.len());
                    let n = part.groups[g].rows as usize;
                    if n > 0 {
                        let wanted: Vec<usize> = (0..SAMPLE_PER_PART.min(n)).map(|_| rng.gen_range(0..n)).collect();
                        samples.extend(part.rows(g, &wanted)?.into_iter().map(|row| Hit { segment, row }));
                    }
                }
            }
        }
    }

    // Every hit is read back from the log before it counts; so is the sample.
    let size = found.trust.checkpoint.as_ref().map_or(0, |c| c.checkpoint.size);
    let tiles = Tiles::new(&src.dir, size);
    let mut reader = RecordReader::new(&src.dir);
    let check = |reader: &mut RecordReader, hit: &Hit, stats: &mut Stats| -> Result<ScopeRow, ScopeError> {
        let claimed = hit.row.to_scope().ok_or_else(|| ScopeError::IndexMismatch {
            index: hit.row.index,
            what: "a row with fields out of range".into(),
        })?;
        let entry = reader
            .entry(hit.segment, hit.row.offset, hit.row.index, src.keys.as_ref())
            .map_err(|e| ScopeError::IndexMismatch { index: hit.row.index, what: e.to_string() })?;
        if entry.kind != EntryKind::Access {
            return Err(ScopeError::IndexMismatch { index: hit.row.index, what: "not an access entry".into() });
        }
        if let Some((_, state)) = entry.sealed
            && state != Unsealed::Body
        {
            return Err(ScopeError::Log(format!("entry {}: its body cannot be opened ({state:?})", hit.row.index)));
        }
        let head = EventHead::decode(&entry.body)
            .ok_or_else(|| ScopeError::Log(format!("entry {}: not an access event", hit.row.index)))?;
        let actual = ScopeRow::from_head(hit.row.index, &head);
        if actual != claimed {
            return Err(ScopeError::IndexMismatch { index: hit.row.index, what: format!("the log says {actual:?}") });
        }
        match trust::leaf_matches(&tiles, hit.row.index, &entry.leaf) {
            Ok(true) => {}
            Ok(false) => stats.after_checkpoint += 1,
            Err(e) => return Err(ScopeError::Log(e)),
        }
        Ok(actual)
    };
    hits.sort_by_key(|h| (h.segment, h.row.offset));
    for hit in &hits {
        let row = check(&mut reader, hit, &mut found.stats)?;
        found.stats.rows_checked += 1;
        found.rows.push(row);
    }
    person_hits.sort_by_key(|h| (h.segment, h.row.offset));
    for hit in &person_hits {
        let row = check(&mut reader, hit, &mut found.stats)?;
        found.stats.rows_checked += 1;
        found.person_rows.push(row);
    }
    for hit in &samples {
        let mut ignored = Stats::default();
        check(&mut reader, hit, &mut ignored)?;
        found.stats.sample_checked += 1;
    }
    // Security events relied on are checked too: all of them when the caller asked for them
    // (expansion reads them all), else the sign-ins of the sessions a network selector holds.
    // The tail's were read from the log itself.
    let relied: HashSet<u64> = if query.security {
        security.iter().map(|s| s.1).collect()
    } else {
        found
            .security
            .iter()
            .filter(|r| r.event.session.is_some_and(|s| sessions.contains(&s.0)))
            .map(|r| r.index)
            .collect()
    };
    let from_tail: HashSet<u64> = tail.security.iter().map(|t| t.1).collect();
    for (segment, index, offset, bytes) in &security {
        if !relied.contains(index) || from_tail.contains(index) {
            continue;
        }
        let entry = reader
            .entry(*segment, *offset, *index, src.keys.as_ref())
            .map_err(|e| ScopeError::IndexMismatch { index: *index, what: e.to_string() })?;
        if entry.kind != EntryKind::Security || entry.body != *bytes {
            return Err(ScopeError::IndexMismatch {
                index: *index,
                what: "a security event differs from the log".into(),
            });
        }
        found.stats.rows_checked += 1;
    }
    // Rows of the tail were read from the log itself.
    for row in tail.access {
        if w.contains(row.at) {
            let by_selector = held.holds(row.agent, row.session);
            if by_selector {
                found.rows.push(row);
            }
            if row.person.is_some_and(|p| persons.contains(&p.get())) {
                found.person_rows.push(row);
            }
        }
    }
    found.rows.sort_by_key(|r| r.index);
    found.person_rows.sort_by_key(|r| r.index);
    let mut shredded: Vec<(Period, u64)> = shredded.into_iter().collect();
    shredded.sort();
    found.shredded = shredded;
    Ok(found)
}

/// Finds the rows of a part that match: by agent through the directory, by session or person by
/// scanning their columns. `emit(row, by_person)`.
fn scan_part(
    part: &PartReader<'_>,
    agents: &[u64],
    sessions: &HashSet<u64>,
    persons: &HashSet<u64>,
    w: Window,
    mut emit: impl FnMut(Row, bool),
) -> Result<(), IndexError> {
    let in_window = |r: &Row| w.contains(vigie_core::time::Timestamp(r.at));
    // By agent: the directory gives each agent's rows; read only their groups.
    let mut by_agent: HashMap<usize, Vec<usize>> = HashMap::new();
    for agent in agents {
        if let Some((first, rows)) = part.agent_rows(*agent) {
            for row in first..first + rows {
                let g = part.groups.partition_point(|gr| gr.first_row + gr.rows <= row);
                if let Some(gr) = part.groups.get(g) {
                    by_agent.entry(g).or_default().push((row - gr.first_row) as usize);
                }
            }
        }
    }
    let mut taken: HashSet<u64> = HashSet::new();
    for (g, positions) in by_agent {
        let gr = part.groups[g];
        if gr.max_at < w.from().0 || gr.min_at >= w.to().0 {
            continue;
        }
        for r in part.rows(g, &positions)? {
            if in_window(&r) {
                taken.insert(r.index);
                emit(r, false);
            }
        }
    }
    // By session and by person: scan those columns of the groups in the window.
    if sessions.is_empty() && persons.is_empty() {
        return Ok(());
    }
    for (g, gr) in part.groups.iter().enumerate() {
        if gr.max_at < w.from().0 || gr.min_at >= w.to().0 {
            continue;
        }
        let mut by_session = Vec::new();
        if !sessions.is_empty() {
            let col = part.column(g, COL_SESSION)?;
            by_session = u64_values(&col).enumerate().filter(|(_, s)| sessions.contains(s)).map(|(i, _)| i).collect();
        }
        let mut by_person = Vec::new();
        if !persons.is_empty() {
            let col = part.column(g, COL_PERSON)?;
            by_person = u64_values(&col).enumerate().filter(|(_, p)| persons.contains(p)).map(|(i, _)| i).collect();
        }
        if !by_session.is_empty() {
            for r in part.rows(g, &by_session)? {
                if in_window(&r) && !taken.contains(&r.index) {
                    taken.insert(r.index);
                    emit(r, false);
                }
            }
        }
        if !by_person.is_empty() {
            for r in part.rows(g, &by_person)? {
                if in_window(&r) {
                    emit(r, true);
                }
            }
        }
    }
    Ok(())
}

struct Tail {
    access: Vec<ScopeRow>,
    security: Vec<(u32, u64, u64, Vec<u8>)>,
}

/// Reads the entries no index file covers, straight from the log.
fn read_tails(
    src: &LedgerSource,
    cover: &Coverage,
    security_from: i64,
    w: Window,
    shredded: &mut HashMap<Period, u64>,
    stats: &mut Stats,
    span: &mut Option<(i64, i64)>,
) -> Result<Tail, ScopeError> {
    let mut tail = Tail { access: Vec::new(), security: Vec::new() };
    for (k, seg) in cover.segments.iter().enumerate() {
        let Some(first) = seg.info.first_index else { continue };
        let from = seg.covered_to.unwrap_or(first);
        let next = cover.segments.get(k + 1).and_then(|s| s.info.first_index);
        if next.is_some_and(|n| n <= from) {
            continue;
        }
        let mut entries = Entries::segment(&src.dir, seg.position).map_err(IndexError::from)?.starting_at(from);
        if let Some(keys) = &src.keys {
            entries = entries.with_keys(keys.dir());
        }
        for e in entries {
            let e = e.map_err(IndexError::from)?;
            stats.tail_entries_read += 1;
            if e.kind != EntryKind::Opaque {
                *span = Some(span.map_or((e.at, e.at), |(a, b)| (a.min(e.at), b.max(e.at))));
            }
            if e.at < security_from.saturating_sub(TIME_DISORDER_MS) || e.at >= w.to().0 {
                continue;
            }
            if let Some((period, Unsealed::Shredded)) = e.sealed {
                if w.contains(vigie_core::time::Timestamp(e.at)) {
                    *shredded.entry(period).or_default() += 1;
                }
                continue;
            }
            match e.kind {
                EntryKind::Access => {
                    if let Some(head) = EventHead::decode(&e.body) {
                        tail.access.push(ScopeRow::from_head(e.index, &head));
                    }
                }
                EntryKind::Security => tail.security.push((e.segment, e.index, e.offset, e.body)),
                EntryKind::Opaque => {}
            }
        }
    }
    Ok(tail)
}

/// The agents and sessions a query's selectors hold, for reports.
pub fn held(query: &Query, sessions: &Sessions) -> (Vec<AgentId>, Vec<SessionId>) {
    let c = Compromised::resolve(&query.selectors, sessions);
    let mut a: Vec<AgentId> = c.agents.into_iter().collect();
    a.sort();
    let mut s: Vec<SessionId> = c.sessions.into_iter().collect();
    s.sort_by_key(|s| s.0);
    (a, s)
}

/// The ledger directory's path, for messages.
pub fn describe(src: &LedgerSource) -> &Path {
    &src.dir
}
