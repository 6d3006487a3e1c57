//! Snapshots of the detector's [`State`], so that a restart resumes from the last snapshot and
//! replays only the ledger's events after it instead of the last 28 days.
//!
//! Format (version 3), little-endian throughout:
//!
//! ```text
//! "VGDS" | version u8 | position i64 | body | SHA-256 of everything before it (32 bytes)
//! ```
//!
//! `position` is the time (ms) of the last ledger event folded into the state: the caller
//! replays the events after it. The body holds every field of the state: accounts (their
//! distinct-person windows, enumeration, cadence and throttle state, session context, today's
//! tallies, baselines), organizations and peer groups (their HyperLogLogs in
//! [`SlidingHll::encode`]'s format, which carries its own hash key), peer histograms and the
//! accounts under suspicion. The accounts' windows are stored as each (account, person)'s
//! **last** touch only, in one list after the accounts (the detector keeps them in one table),
//! and rebuilt with [`DistinctWindows::from_entries`]: the counts and last touches are exactly
//! the original's (a window counts the persons whose last touch lies in its buckets). Version 1
//! kept each account's list inside the account; version 2 had no relationship creations, no
//! rung past a passed step-up (the pace throttle a human lifts), no declared campaigns and no
//! campaign links. Both are refused like any unknown version, and the server then rebuilds
//! the state from the ledger, saying so (a pace throttle in force is then lost: the detector
//! raises it again at the account's next deviation).
//!
//! The checksum detects corruption (a torn write, a flipped bit), not tampering: whoever can
//! write the data directory can also rewrite the ledger's replay. [`decode`] checks the magic,
//! the version and the checksum before parsing, bounds every count by the bytes left (a hostile
//! file cannot make it allocate more than its own size allows), range-checks every index and
//! time, and never panics: it returns a [`SnapshotError`] saying where it stopped.

use std::collections::VecDeque;

use sha2::{Digest, Sha256};

use super::account::{Account, CADENCE, Cold, Day, Derived, HourBuckets, NETWORKS};
use super::baseline::{Cusum, DailyHistory, Ewma, HISTORY_DAYS, HourProfile, PeerHistogram};
use super::hll::SlidingHll;
use super::link::{self, Via};
use super::org::{Estimate, GROUP_DAYS, GroupState, OrgState};
use super::window::DistinctWindows;
use super::{FastMap, State};
use crate::campaign::CampaignDeclaration;
use crate::ids::{AgentId, OrgId, PersonId, TeamId};
use crate::org::{OrgKind, Role};
use crate::ports::AccessReason;
use crate::time::Timestamp;

pub const MAGIC: &[u8; 4] = b"VGDS";
pub const VERSION: u8 = 3;
const HEADER: usize = 4 + 1 + 8;
const CHECKSUM: usize = 32;
/// Times are milliseconds since the epoch or `i64::MIN` ("never"): anything further than
/// 2^48 ms (about 8,900 years) from the epoch is refused, so that differences never overflow.
pub(crate) const TIME_BOUND: u64 = 1 << 48;

/// What is wrong with a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("too short ({0} bytes) to be a detector snapshot")]
    TooShort(usize),
    #[error("not a detector snapshot (bad magic)")]
    BadMagic,
    #[error("format version {0}, written by another version of Vigie (this one reads version {VERSION})")]
    UnknownVersion(u8),
    #[error("checksum mismatch")]
    Checksum,
    /// The checksum matched but the body does not parse: written by a buggy or foreign writer.
    #[error("truncated or malformed at {0}")]
    Malformed(String),
    #[error("{0} bytes after the end of the state")]
    Trailing(usize),
}

/// Appends a snapshot of `state`, whose last folded ledger event is at `position_ms`.
pub fn encode(state: &State, position_ms: i64, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    put_i64(out, position_ms);
    put_len(out, state.accounts.len());
    for (agent, a) in &state.accounts {
        put_u64(out, agent.get());
        put_account(out, a);
    }
    put_len(out, state.places.len());
    for (agent, person, at) in state.places.iter() {
        put_u64(out, agent);
        put_u64(out, person);
        put_i64(out, at);
    }
    put_len(out, state.orgs.len());
    for (org, o) in &state.orgs {
        put_u64(out, org.get());
        o.hll.encode(out);
        put_len(out, o.accounts.len());
        for (agent, (seen, q)) in &o.accounts {
            put_u64(out, agent.get());
            put_i64(out, *seen);
            q.iter().for_each(|&x| put_u32(out, x));
        }
        [o.estimate.hour, o.estimate.day, o.estimate.week].iter().for_each(|&x| put_f64(out, x));
        o.quota.iter().for_each(|&x| put_u64(out, x));
        put_i64(out, o.refreshed);
    }
    put_len(out, state.groups.len());
    for (&peer, g) in &state.groups {
        put_peer(out, peer);
        g.hll.encode(out);
        put_f64(out, g.day_estimate);
        put_i64(out, g.refreshed);
        put_i64(out, g.day);
        put_len(out, g.history.len());
        g.history.iter().for_each(|&x| put_f32(out, x));
    }
    put_len(out, state.peers.len());
    for (&peer, h) in &state.peers {
        put_peer(out, peer);
        put_len(out, h.counts.len());
        h.counts.iter().for_each(|&x| put_u32(out, x));
        put_u64(out, h.total);
    }
    put_len(out, state.suspects.len());
    for (agent, until) in &state.suspects {
        put_u64(out, agent.get());
        put_i64(out, *until);
    }
    put_len(out, state.campaigns.len());
    for c in &state.campaigns {
        put_u64(out, c.org.get());
        put_u64(out, c.team.map_or(0, |t| t.get()));
        put_u64(out, c.declared_by.get());
        out.push(reason_code(Some(c.reason)));
        put_u32(out, c.persons_per_agent);
        put_i64(out, c.from.millis());
        put_i64(out, c.until.millis());
    }
    let l = &state.linker;
    put_len(out, l.sightings.len());
    for (key, list) in &l.sightings {
        put_u64(out, *key);
        put_len(out, list.len());
        for x in list {
            put_u64(out, x.agent.get());
            put_u64(out, x.org.get());
            put_i64(out, x.at);
        }
    }
    put_len(out, l.campaigns.len());
    for c in &l.campaigns {
        put_u32(out, c.id);
        put_u64(out, c.key);
        out.push(u8::from(c.via == Via::ProviderBuild));
        put_len(out, c.accounts.len());
        c.accounts.iter().for_each(|a| put_u64(out, a.get()));
        put_u32(out, c.orgs);
        put_i64(out, c.at);
        put_i64(out, c.grew);
    }
    for k in &state.kinds {
        put_i64(out, k.day);
        put_u32(out, k.today);
        put_history(out, &k.history);
    }
    let digest = Sha256::digest(&out[start..]);
    out.extend_from_slice(&digest);
}

/// Reads a snapshot written by [`encode`]: the state and its position.
pub fn decode(bytes: &[u8]) -> Result<(State, i64), SnapshotError> {
    if bytes.len() < 4 || &bytes[..4] != MAGIC {
        return Err(if bytes.len() < 4 { SnapshotError::TooShort(bytes.len()) } else { SnapshotError::BadMagic });
    }
    if let Some(&v) = bytes.get(4)
        && v != VERSION
    {
        return Err(SnapshotError::UnknownVersion(v));
    }
    if bytes.len() < HEADER + CHECKSUM {
        return Err(SnapshotError::TooShort(bytes.len()));
    }
    let (signed, sum) = bytes.split_at(bytes.len() - CHECKSUM);
    if Sha256::digest(signed).as_slice() != sum {
        return Err(SnapshotError::Checksum);
    }
    let mut r = Reader { bytes: signed, pos: 4 + 1 };
    let bad = |what: String| SnapshotError::Malformed(what);
    let position = r.i64().ok_or_else(|| bad("position".into()))?;
    let mut state = State::default();

    // Accounts are held in place (about 1 400 bytes each): the count is bounded by what the
    // snapshot's remaining bytes can hold at the fixed part of an account's encoding, so that
    // a hostile count cannot reserve more than fourteen times the file's size.
    let n = r.count(ACCOUNT_MIN_BYTES).ok_or_else(|| bad("accounts".into()))?;
    state.accounts.reserve(n);
    for i in 0..n {
        let agent = r.u64().and_then(AgentId::new).ok_or_else(|| bad(format!("accounts[{i}]")))?;
        let a = read_account(&mut r).ok_or_else(|| bad(format!("accounts[{i}] ({agent})")))?;
        state.accounts.insert(agent, a);
    }
    // The persons' last touches, rebuilt into each account's windows account by account.
    let n = r.count(24).ok_or_else(|| bad("persons".into()))?;
    let mut touches = Vec::with_capacity(n);
    for i in 0..n {
        let read = (r.u64().and_then(AgentId::new), r.u64().and_then(PersonId::new), r.time());
        let (Some(agent), Some(person), Some(at)) = read else { return Err(bad(format!("persons[{i}]"))) };
        touches.push((agent, at, person));
    }
    touches.sort_unstable_by_key(|&(agent, at, person)| (agent.get(), at, person.get()));
    for run in touches.chunk_by(|x, y| x.0 == y.0) {
        let agent = run[0].0;
        let a = state.accounts.get_mut(&agent).ok_or_else(|| bad(format!("persons of {agent}, no such account")))?;
        let mut entries: Vec<(i64, PersonId)> = run.iter().map(|&(_, at, p)| (at, p)).collect();
        a.persons = DistinctWindows::from_entries(&mut state.places, agent, &mut entries);
    }
    let n = r.count(8).ok_or_else(|| bad("organizations".into()))?;
    state.orgs.reserve(n);
    for i in 0..n {
        let (org, o) = read_org(&mut r).ok_or_else(|| bad(format!("organizations[{i}]")))?;
        state.orgs.insert(org, o);
    }
    let n = r.count(2).ok_or_else(|| bad("groups".into()))?;
    for i in 0..n {
        let (peer, g) = read_group(&mut r).ok_or_else(|| bad(format!("groups[{i}]")))?;
        state.groups.insert(peer, g);
    }
    let n = r.count(2).ok_or_else(|| bad("peers".into()))?;
    for i in 0..n {
        let (peer, h) = read_peers(&mut r).ok_or_else(|| bad(format!("peers[{i}]")))?;
        state.peers.insert(peer, h);
    }
    let n = r.count(16).ok_or_else(|| bad("suspects".into()))?;
    state.suspects.reserve(n);
    for i in 0..n {
        let (agent, until) =
            r.u64().and_then(AgentId::new).zip(r.time()).ok_or_else(|| bad(format!("suspects[{i}]")))?;
        state.suspects.insert(agent, until);
    }
    let n = r.count(45).ok_or_else(|| bad("campaigns".into()))?;
    for i in 0..n {
        let c = read_declaration(&mut r).ok_or_else(|| bad(format!("campaigns[{i}]")))?;
        state.campaigns.push(c);
    }
    let n = r.count(16).ok_or_else(|| bad("sightings".into()))?;
    for i in 0..n {
        let key = r.u64().ok_or_else(|| bad(format!("sightings[{i}]")))?;
        let m = r.count(24).ok_or_else(|| bad(format!("sightings[{i}]")))?;
        let mut list = Vec::with_capacity(m.min(link::PER_KEY));
        for _ in 0..m {
            let (Some(agent), Some(org), Some(at)) =
                (r.u64().and_then(AgentId::new), r.u64().and_then(OrgId::new), r.time())
            else {
                return Err(bad(format!("sightings[{i}]")));
            };
            list.push(link::Sighting { agent, org, at });
        }
        state.linker.sightings.insert(key, list);
    }
    let n = r.count(37).ok_or_else(|| bad("links".into()))?;
    for i in 0..n {
        let c = read_link(&mut r).ok_or_else(|| bad(format!("links[{i}]")))?;
        if c.id as usize != i + 1 {
            return Err(bad(format!("links[{i}]: id {}", c.id)));
        }
        for a in &c.accounts {
            state.linker.members.insert(*a, c.id);
        }
        state.linker.campaigns.push(c);
    }
    state.linker.generation = 1;
    for (i, k) in state.kinds.iter_mut().enumerate() {
        k.day = r.time().ok_or_else(|| bad(format!("kinds[{i}]")))?;
        k.today = r.u32().ok_or_else(|| bad(format!("kinds[{i}]")))?;
        k.history = r.history().ok_or_else(|| bad(format!("kinds[{i}]")))?;
    }
    match signed.len() - r.pos {
        0 => Ok((state, position)),
        n => Err(SnapshotError::Trailing(n)),
    }
}

fn put_account(out: &mut Vec<u8>, a: &Account) {
    let c = &*a.cold;
    match a.peer {
        Some(peer) => {
            out.push(1);
            put_peer(out, peer);
        }
        None => out.push(0),
    }
    out.push(u8::from(a.last_person.is_some()));
    put_u64(out, a.last_person.unwrap_or(0));
    put_u32(out, a.run);
    put_times(out, &c.misses);
    put_i64(out, a.last_at);
    out.extend_from_slice(&a.last_request.to_le_bytes());
    a.gaps.iter().for_each(|&g| put_u32(out, g));
    out.push(a.gaps_len);
    out.push(a.gaps_next);
    put_buckets(out, &c.scope_lines);
    put_buckets(out, &c.refused);
    put_i64(out, a.throttled_until);
    out.push(a.rung);
    out.push(u8::from(a.suspended));
    put_times(out, &c.session_suspensions);
    put_u64(out, c.suspended_session);
    put_i64(out, a.reason_until);
    put_i64(out, a.flagged_until);
    c.networks.iter().for_each(|&n| put_u64(out, n));
    out.push(c.networks_next);
    put_u16(out, c.browsers);
    put_u64(out, a.session);
    put_u16(out, a.session_novelty);
    let d = &a.day;
    put_i64(out, d.index);
    for x in [d.distinct, d.new, d.events, d.denied, d.lookups, d.views, d.outside_lookups, d.refused_new, d.hours] {
        put_u32(out, x);
    }
    out.push(u8::from(d.flagged));
    put_i64(out, d.hour_index);
    put_u32(out, d.hour_distinct);
    for h in [&c.distinct_history, &c.new_history] {
        let (values, len, next) = h.raw();
        values.iter().for_each(|&v| put_u16(out, v));
        out.push(len);
        out.push(next);
    }
    put_f32(out, c.cusum.s);
    put_i64(out, a.cusum_alarm_until);
    for e in [&a.hourly, &a.denied_ratio, &a.lookup_ratio] {
        put_f32(out, e.mean);
        put_f32(out, e.var);
        put_u16(out, e.n);
    }
    c.hours.days_in_hour.iter().for_each(|&n| put_u16(out, n));
    put_u16(out, c.hours.active_days);
    put_times(out, &c.creations);
    // Version 3: past a step-up, campaign links, creations.
    put_u32(out, a.deviant);
    out.push(a.insist);
    put_u32(out, a.link);
    put_u32(out, d.created);
    put_u32(out, d.justified);
    c.builds.iter().for_each(|&b| put_u32(out, b));
    out.push(c.builds_next);
    out.push(u8::from(c.bound_seen));
    put_buckets(out, &c.created);
    put_history(out, &c.created_history);
    put_history(out, &c.justified_history);
    for &(p, at) in &c.recent_created {
        put_u64(out, p);
        put_i64(out, at);
    }
    out.push(c.recent_next);
    out.push(c.recent_via_lookup);
    out.push(c.recent_read);
    put_i64(out, c.creations_stopped);
    out.push(reason_code(c.insist_reason));
    put_i64(out, c.pace_since);
}

fn put_history(out: &mut Vec<u8>, h: &DailyHistory) {
    let (values, len, next) = h.raw();
    values.iter().for_each(|&v| put_u16(out, v));
    out.push(len);
    out.push(next);
}

fn reason_code(r: Option<AccessReason>) -> u8 {
    r.and_then(|r| AccessReason::ALL.iter().position(|x| *x == r)).map_or(0, |i| i as u8 + 1)
}

fn reason_of(code: u8) -> Option<Option<AccessReason>> {
    match code {
        0 => Some(None),
        c => AccessReason::ALL.get(usize::from(c) - 1).map(|r| Some(*r)),
    }
}

fn read_declaration(r: &mut Reader) -> Option<CampaignDeclaration> {
    let org = OrgId::new(r.u64()?)?;
    let team = match r.u64()? {
        0 => None,
        t => Some(TeamId::new(t)?),
    };
    let declared_by = AgentId::new(r.u64()?)?;
    let reason = reason_of(r.u8()?)??;
    let persons_per_agent = r.u32()?;
    let from = Timestamp(r.time()?);
    let until = Timestamp(r.time()?);
    Some(CampaignDeclaration { org, team, declared_by, reason, persons_per_agent, from, until })
}

fn read_link(r: &mut Reader) -> Option<link::Campaign> {
    let id = r.u32()?;
    let key = r.u64()?;
    let via = match r.u8()? {
        0 => Via::Network,
        1 => Via::ProviderBuild,
        _ => return None,
    };
    let n = r.count(8)?;
    let mut accounts = Vec::with_capacity(n);
    for _ in 0..n {
        accounts.push(AgentId::new(r.u64()?)?);
    }
    Some(link::Campaign { id, key, via, accounts, orgs: r.u32()?, at: r.time()?, grew: r.time()? })
}

/// An encoded account is at least this long (its cadence gaps alone are 64 bytes, its last
/// request 16, its hour buckets 2 × 56).
const ACCOUNT_MIN_BYTES: usize = 100;

fn read_account(r: &mut Reader) -> Option<Account> {
    let peer = match r.u8()? {
        0 => None,
        1 => Some(r.peer()?),
        _ => return None,
    };
    let last_person = match (r.u8()?, r.u64()?) {
        (0, _) => None,
        (1, p) => Some(p),
        _ => return None,
    };
    let run = r.u32()?;
    let misses = r.times()?;
    let last_at = r.time()?;
    let last_request = u128::from_le_bytes(r.take()?);
    let mut gaps = [0u32; CADENCE];
    for g in &mut gaps {
        *g = r.u32()?;
    }
    let (gaps_len, gaps_next) = (r.u8()?, r.u8()?);
    if usize::from(gaps_len) > CADENCE || usize::from(gaps_next) >= CADENCE {
        return None;
    }
    let scope_lines = r.buckets()?;
    let refused = r.buckets()?;
    let throttled_until = r.time()?;
    let rung = r.u8()?;
    let suspended = r.bool()?;
    let session_suspensions = r.times()?;
    let suspended_session = r.u64()?;
    let reason_until = r.time()?;
    let flagged_until = r.time()?;
    let mut networks = [0u64; NETWORKS];
    for n in &mut networks {
        *n = r.u64()?;
    }
    let networks_next = r.u8()?;
    if usize::from(networks_next) >= NETWORKS {
        return None;
    }
    let browsers = r.u16()?;
    let session = r.u64()?;
    let session_novelty = r.u16()?;
    let index = r.time()?;
    let mut c = [0u32; 9];
    for x in &mut c {
        *x = r.u32()?;
    }
    let [distinct, new, events, denied, lookups, views, outside_lookups, refused_new, hours] = c;
    let day = Day {
        index,
        distinct,
        new,
        events,
        denied,
        lookups,
        views,
        outside_lookups,
        refused_new,
        hours,
        flagged: r.bool()?,
        hour_index: r.time()?,
        hour_distinct: r.u32()?,
        created: 0,
        justified: 0,
    };
    let distinct_history = r.history()?;
    let new_history = r.history()?;
    let cusum = Cusum { s: r.f32()? };
    let cusum_alarm_until = r.time()?;
    let hourly = r.ewma()?;
    let denied_ratio = r.ewma()?;
    let lookup_ratio = r.ewma()?;
    let mut days_in_hour = [0u16; 24];
    for d in &mut days_in_hour {
        *d = r.u16()?;
    }
    let hours = HourProfile { days_in_hour, active_days: r.u16()? };
    let creations = r.times()?;
    let deviant = r.u32()?;
    let insist = r.u8()?;
    if insist > super::account::insist::PACE {
        return None;
    }
    let link = r.u32()?;
    let (created, justified) = (r.u32()?, r.u32()?);
    let mut builds = [0u32; 4];
    for b in &mut builds {
        *b = r.u32()?;
    }
    let builds_next = r.u8()?;
    if usize::from(builds_next) >= builds.len() {
        return None;
    }
    let bound_seen = r.bool()?;
    let created_buckets = r.buckets()?;
    let created_history = r.history()?;
    let justified_history = r.history()?;
    let mut recent_created = [(0u64, 0i64); 8];
    for x in &mut recent_created {
        *x = (r.u64()?, r.time()?);
    }
    let recent_next = r.u8()?;
    if usize::from(recent_next) >= recent_created.len() {
        return None;
    }
    let (recent_via_lookup, recent_read) = (r.u8()?, r.u8()?);
    let creations_stopped = r.time()?;
    let insist_reason = reason_of(r.u8()?)?;
    let pace_since = r.time()?;
    let day = Day { created, justified, ..day };
    let cold = Cold {
        misses,
        scope_lines,
        refused,
        // Not kept: at worst a person refused just before the snapshot counts twice as attempted.
        refused_recent: [0; 8],
        session_suspensions,
        suspended_session,
        networks,
        networks_next,
        browsers,
        distinct_history,
        new_history,
        cusum,
        hours,
        creations,
        // Not kept: after a restart, today's denied lookups resolved later count as outside.
        outside: Vec::new(),
        lookup_request: 0,
        lookup_found: false,
        lookup_outside: false,
        // Not kept: after a restart, a second lone canary probe in the week asks for a step-up.
        canary_probe: (0, 0),
        builds,
        builds_next,
        bound_seen,
        created: created_buckets,
        created_history,
        justified_history,
        recent_created,
        recent_next,
        recent_via_lookup,
        recent_read,
        creations_stopped,
        insist_reason,
        pace_since,
    };
    let mut account = Account {
        day,
        // Rebuilt from the persons' list after the accounts.
        persons: DistinctWindows::default(),
        peer,
        last_person,
        run,
        last_at,
        last_request,
        gaps,
        gaps_len,
        gaps_next,
        rung,
        suspended,
        session_novelty,
        throttled_until,
        session,
        reason_until,
        flagged_until,
        cusum_alarm_until,
        deviant,
        insist,
        // Rebuilt within the day.
        surge_bucket: u8::MAX,
        surge_day: i32::MIN,
        link,
        link_gen: 0,
        hourly,
        denied_ratio,
        lookup_ratio,
        derived: Derived::default(),
        cold: Box::new(cold),
    };
    account.derive();
    Some(account)
}

fn read_org(r: &mut Reader) -> Option<(OrgId, OrgState)> {
    let org = OrgId::new(r.u64()?)?;
    let hll = r.hll()?;
    let n = r.count(8 + 8 + 12)?;
    let mut accounts = FastMap::with_capacity_and_hasher(n, Default::default());
    for _ in 0..n {
        let agent = AgentId::new(r.u64()?)?;
        let seen = r.time()?;
        accounts.insert(agent, (seen, [r.u32()?, r.u32()?, r.u32()?]));
    }
    let estimate = Estimate { hour: r.f64()?, day: r.f64()?, week: r.f64()? };
    let quota = [r.u64()?, r.u64()?, r.u64()?];
    let refreshed = r.time()?;
    Some((
        org,
        OrgState {
            hll,
            accounts,
            estimate,
            quota,
            refreshed,
            inserts: 0,
            hll_expired: i64::MIN,
            pending: Default::default(),
        },
    ))
}

fn read_group(r: &mut Reader) -> Option<((OrgKind, Role), GroupState)> {
    let peer = r.peer()?;
    let hll = r.hll()?;
    let day_estimate = r.f64()?;
    let refreshed = r.time()?;
    let day = r.time()?;
    let n = r.count(4)?;
    if n > GROUP_DAYS {
        return None;
    }
    let mut history = Vec::with_capacity(GROUP_DAYS);
    for _ in 0..n {
        history.push(r.f32()?);
    }
    Some((
        peer,
        GroupState {
            hll,
            day_estimate,
            refreshed,
            day,
            history,
            inserts: 0,
            hll_expired: i64::MIN,
            pending: Default::default(),
        },
    ))
}

fn read_peers(r: &mut Reader) -> Option<((OrgKind, Role), PeerHistogram)> {
    let peer = r.peer()?;
    let n = r.count(4)?;
    // The histogram's bucket count is fixed: anything else is not ours.
    if n != PeerHistogram::default().counts.len() {
        return None;
    }
    let mut counts = Vec::with_capacity(n);
    for _ in 0..n {
        counts.push(r.u32()?);
    }
    Some((peer, PeerHistogram::from_counts(counts, r.u64()?)))
}

fn put_u16(out: &mut Vec<u8>, x: u16) {
    out.extend_from_slice(&x.to_le_bytes());
}
fn put_u32(out: &mut Vec<u8>, x: u32) {
    out.extend_from_slice(&x.to_le_bytes());
}
fn put_u64(out: &mut Vec<u8>, x: u64) {
    out.extend_from_slice(&x.to_le_bytes());
}
fn put_i64(out: &mut Vec<u8>, x: i64) {
    out.extend_from_slice(&x.to_le_bytes());
}
fn put_f32(out: &mut Vec<u8>, x: f32) {
    out.extend_from_slice(&x.to_le_bytes());
}
fn put_f64(out: &mut Vec<u8>, x: f64) {
    out.extend_from_slice(&x.to_le_bytes());
}
/// Counts are u32: no map of the state comes near 4 billion entries.
fn put_len(out: &mut Vec<u8>, n: usize) {
    put_u32(out, u32::try_from(n).unwrap_or(u32::MAX));
}
fn put_peer(out: &mut Vec<u8>, (kind, role): (OrgKind, Role)) {
    let k = OrgKind::ALL.iter().position(|&x| x == kind).unwrap_or(0);
    let r = Role::ALL.iter().position(|&x| x == role).unwrap_or(0);
    out.push(k as u8);
    out.push(r as u8);
}
fn put_times(out: &mut Vec<u8>, times: &VecDeque<i64>) {
    put_len(out, times.len());
    times.iter().for_each(|&t| put_i64(out, t));
}
fn put_buckets(out: &mut Vec<u8>, b: &HourBuckets) {
    let (counts, newest) = b.raw();
    counts.iter().for_each(|&c| put_u32(out, c));
    put_i64(out, newest);
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let end = self.pos.checked_add(N)?;
        let taken = self.bytes.get(self.pos..end)?.try_into().ok()?;
        self.pos = end;
        Some(taken)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }
    fn bool(&mut self) -> Option<bool> {
        match self.u8()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_le_bytes)
    }
    fn f32(&mut self) -> Option<f32> {
        self.take().map(f32::from_le_bytes)
    }
    fn f64(&mut self) -> Option<f64> {
        self.take().map(f64::from_le_bytes)
    }
    /// A time in range, or `i64::MIN` ("never").
    fn time(&mut self) -> Option<i64> {
        self.i64().filter(|&t| t == i64::MIN || t.unsigned_abs() < TIME_BOUND)
    }
    /// A count of items of at least `min_size` bytes each, refused if the rest cannot hold
    /// them: no allocation is ever larger than the input.
    fn count(&mut self, min_size: usize) -> Option<usize> {
        let n = usize::try_from(self.u32()?).ok()?;
        let left = self.bytes.len() - self.pos;
        (n.checked_mul(min_size)? <= left).then_some(n)
    }
    fn times(&mut self) -> Option<VecDeque<i64>> {
        let n = self.count(8)?;
        let mut v = VecDeque::with_capacity(n);
        for _ in 0..n {
            v.push_back(self.time()?);
        }
        Some(v)
    }
    fn peer(&mut self) -> Option<(OrgKind, Role)> {
        let kind = *OrgKind::ALL.get(usize::from(self.u8()?))?;
        let role = *Role::ALL.get(usize::from(self.u8()?))?;
        Some((kind, role))
    }
    fn buckets(&mut self) -> Option<HourBuckets> {
        let mut counts = [0u32; 12];
        for c in &mut counts {
            *c = self.u32()?;
        }
        let newest = self.time().filter(|&t| t != i64::MIN)?;
        Some(HourBuckets::from_raw(counts, newest))
    }
    fn history(&mut self) -> Option<DailyHistory> {
        let mut values = [0u16; HISTORY_DAYS];
        for v in &mut values {
            *v = self.u16()?;
        }
        DailyHistory::from_raw(values, self.u8()?, self.u8()?)
    }
    fn ewma(&mut self) -> Option<Ewma> {
        Some(Ewma { mean: self.f32()?, var: self.f32()?, n: self.u16()? })
    }
    fn hll(&mut self) -> Option<SlidingHll> {
        let (hll, used) = SlidingHll::decode(self.bytes.get(self.pos..)?)?;
        self.pos = self.pos.checked_add(used)?;
        Some(hll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{DetectConfig, ExfiltrationDetector};
    use crate::event::{AccessAction, Verdict};
    use crate::ports::{DetectContext, Detector, LifecycleAction, LifecycleKind, SignInContext};
    use crate::time::Timestamp;

    // The detector tests' clock and event builders.
    use crate::detect::tests::{DAY, HOUR, MIN, T0, actor, event};

    fn detector() -> ExfiltrationDetector {
        ExfiltrationDetector::new(DetectConfig::with_canaries(PersonId::new(777_777)))
    }

    fn ctx(network: u64) -> DetectContext {
        DetectContext {
            elevated: true,
            sign_in: SignInContext { network, ..SignInContext::default() },
            ..DetectContext::default()
        }
    }

    /// Three weeks of varied traffic: usual days for a few accounts (baselines, peers), lookups
    /// that miss, scope lists, a burst over the hour's quota (throttle), a canary touch, account
    /// creations held. Returns the time reached.
    fn history(d: &ExfiltrationDetector) -> i64 {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for day in 0..21 {
            for agent in 1..=6u64 {
                let kind = if agent.is_multiple_of(2) { OrgKind::Agency } else { OrgKind::TrainingOrg };
                let a = actor(agent, 1 + agent % 3, kind);
                for i in 0..(8 + rnd(8) as i64) {
                    let at = day * DAY + 9 * HOUR + i * 7 * MIN + agent as i64 * 1_000;
                    let person = 1 + rnd(60) + agent * 1_000;
                    let action = match rnd(10) {
                        0 => AccessAction::LookupByNir,
                        1 => AccessAction::ScopeList,
                        _ => AccessAction::View,
                    };
                    d.assess(&event(&a, at, action, Some(person), rnd(9) != 0), &ctx(agent));
                }
            }
        }
        let end = 21 * DAY + 10 * HOUR;
        // A burst: agent 3 (training organization, 60 an hour) reads 80 new persons.
        let a = actor(3, 1, OrgKind::TrainingOrg);
        for i in 0..80 {
            d.assess(&event(&a, end + i * 2_000, AccessAction::View, Some(50_000 + i as u64 * 13), true), &ctx(3));
        }
        // A canary read by agent 5; account creations by agent 6.
        d.assess(&event(&actor(5, 3, OrgKind::TrainingOrg), end, AccessAction::View, Some(777_777), true), &ctx(5));
        for i in 0..15 {
            let act = LifecycleAction {
                at: Timestamp(T0 + end + i * MIN),
                actor: AgentId::new(6).unwrap(),
                org: OrgId::new(1).unwrap(),
                kind: LifecycleKind::Request,
            };
            d.lifecycle(&act);
        }
        end + 200_000
    }

    /// What happens next, the same for both detectors: everyone reads on, new and known persons.
    fn future(d: &ExfiltrationDetector, from: i64) -> Vec<Verdict> {
        let mut out = Vec::new();
        for step in 0..300i64 {
            let agent = 1 + (step % 7) as u64;
            let kind = if agent.is_multiple_of(2) { OrgKind::Agency } else { OrgKind::TrainingOrg };
            let a = actor(agent, 1 + agent % 3, kind);
            let person = if step % 3 == 0 { agent * 1_000 + 1 + (step as u64 % 60) } else { 90_000 + step as u64 };
            let at = from + step * 30_000;
            out.push(d.assess(&event(&a, at, AccessAction::View, Some(person), true), &ctx(agent + step as u64 % 2)));
        }
        out
    }

    fn snapshot(d: &ExfiltrationDetector, position: i64) -> Vec<u8> {
        let mut out = Vec::new();
        d.with_state_ref(|s| encode(s, position, &mut out)).unwrap();
        out
    }

    #[test]
    fn a_state_round_trips_and_judges_the_same() {
        let original = detector();
        let now = history(&original);
        let bytes = snapshot(&original, now);
        let (state, position) = decode(&bytes).unwrap();
        assert_eq!(position, now);
        let restored = ExfiltrationDetector::with_state(original.config().clone(), state);
        let (m0, m1) = (original.memory(), restored.memory());
        assert_eq!((m0.accounts, m0.distinct_persons), (m1.accounts, m1.distinct_persons));
        assert!(m1.distinct_persons > 200, "{m1:?}");
        // A second trip gives the same bytes' length (maps' orders differ, not their contents).
        assert_eq!(snapshot(&restored, now).len(), bytes.len());

        let (before, after) = (future(&original, now), future(&restored, now));
        assert!(before.iter().any(|v| v.action != crate::event::VerdictAction::Allow), "{before:?}");
        for (i, (b, a)) in before.iter().zip(&after).enumerate() {
            assert_eq!(b.action, a.action, "event {i}: {:?} vs {:?}", b.reasons, a.reasons);
            assert_eq!(b.reasons, a.reasons, "event {i}");
        }
        // The same persons remembered within the week (the sweeps, at different places in the
        // table, may have forgotten different older ones).
        let latest = original.with_state_ref(|s| s.places.iter().map(|(_, _, at)| at).max()).unwrap().unwrap();
        let week = |d: &ExfiltrationDetector| {
            let in_week = |at: i64| latest - at < crate::detect::window::WEEK_MS;
            let mut v: Vec<_> =
                d.with_state_ref(|s| s.places.iter().filter(|&(_, _, at)| in_week(at)).collect::<Vec<_>>()).unwrap();
            v.sort_unstable();
            v
        };
        let kept = week(&original);
        assert!(kept.len() > 200, "{}", kept.len());
        assert_eq!(kept, week(&restored));
    }

    #[test]
    fn an_empty_state_round_trips() {
        let d = detector();
        let bytes = snapshot(&d, i64::MIN);
        let (state, position) = decode(&bytes).unwrap();
        assert_eq!(position, i64::MIN);
        assert!(state.accounts.is_empty() && state.orgs.is_empty() && state.suspects.is_empty());
    }

    /// A small snapshot: one account, one organization, one peer group.
    fn small() -> Vec<u8> {
        let d = detector();
        let a = actor(1, 1, OrgKind::Agency);
        for i in 0..5 {
            d.assess(&event(&a, i * MIN, AccessAction::View, Some(10 + i as u64), true), &ctx(1));
        }
        snapshot(&d, T0 + 5 * MIN)
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_an_error() {
        let bytes = small();
        assert!(decode(&bytes).is_ok());
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "truncated to {len}");
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..bytes.len() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut b = bytes.clone();
            b[i] ^= 1 + (x % 255) as u8;
            assert!(decode(&b).is_err(), "byte {i} flipped");
        }
        let mut b = bytes.clone();
        b[4] = 9;
        assert_eq!(
            decode(&b).unwrap_err().to_string(),
            "format version 9, written by another version of Vigie (this one reads version 3)"
        );
        let mut b = bytes.clone();
        let last = b.len() - 40;
        b[last] ^= 0x40;
        assert_eq!(decode(&b).unwrap_err(), SnapshotError::Checksum);
        assert_eq!(decode(b"VGDX").unwrap_err(), SnapshotError::BadMagic);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

            /// Whatever traffic built the state, its snapshot decodes to a state that holds the
            /// same accounts and remembered persons, and encodes to a snapshot of the same size.
            #[test]
            fn any_traffics_state_round_trips(
                mut reads in prop::collection::vec((1u64..7, 0i64..10 * DAY, 0u8..4, 1u64..300, any::<bool>()), 0..400),
                position in -(1i64 << 47)..(1i64 << 47),
            ) {
                reads.sort_by_key(|r| r.1);
                let d = detector();
                for (agent, at, action, person, allowed) in reads {
                    let kind = OrgKind::ALL[agent as usize % OrgKind::ALL.len()];
                    let action = [AccessAction::View, AccessAction::LookupByNir, AccessAction::LookupByFtId, AccessAction::ScopeList][usize::from(action)];
                    let person = (action != AccessAction::LookupByNir || allowed).then_some(person);
                    d.assess(&event(&actor(agent, 1 + agent % 3, kind), at, action, person, allowed), &ctx(agent));
                }
                let bytes = snapshot(&d, position);
                let (state, decoded_position) = decode(&bytes).unwrap();
                prop_assert_eq!(decoded_position, position);
                let restored = ExfiltrationDetector::with_state(d.config().clone(), state);
                prop_assert_eq!(snapshot(&restored, position).len(), bytes.len());
                let (m0, m1) = (d.memory(), restored.memory());
                prop_assert_eq!((m0.accounts, m0.distinct_persons), (m1.accounts, m1.distinct_persons));
                let places = |d: &ExfiltrationDetector| {
                    let mut v = d.with_state_ref(|s| s.places.iter().collect::<Vec<_>>()).unwrap();
                    v.sort_unstable();
                    v
                };
                prop_assert_eq!(places(&d), places(&restored));
            }
        }
    }

    /// Re-signs a changed body, as a buggy writer would: the parser itself must hold.
    fn resign(mut b: Vec<u8>) -> Vec<u8> {
        let n = b.len() - CHECKSUM;
        let digest = Sha256::digest(&b[..n]);
        b[n..].copy_from_slice(&digest);
        b
    }

    #[test]
    fn a_malformed_body_with_a_good_checksum_is_an_error_not_a_panic() {
        let bytes = small();
        let mut x = 0x1234_5678_9abc_def1u64;
        for i in HEADER..bytes.len() - CHECKSUM {
            for _ in 0..3 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let mut b = bytes.clone();
                b[i] ^= 1 + (x % 255) as u8;
                // Either a state (a count changed within range) or an error; never a panic.
                let _ = decode(&resign(b));
            }
        }
        // A count of four billion accounts with nothing behind it: refused before allocating.
        let mut b = bytes[..HEADER].to_vec();
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        b.extend_from_slice(&[0; CHECKSUM]);
        assert_eq!(decode(&resign(b)).unwrap_err(), SnapshotError::Malformed("accounts".into()));
        // A count that 8 bytes an account would allow (each account is held in place, ~540
        // bytes: 67 times the file) is refused too: an account's encoding is longer.
        let mut b = bytes[..HEADER].to_vec();
        b.extend_from_slice(&10_000u32.to_le_bytes());
        b.extend_from_slice(&[0; 80_000]);
        b.extend_from_slice(&[0; CHECKSUM]);
        assert_eq!(decode(&resign(b)).unwrap_err(), SnapshotError::Malformed("accounts".into()));
        // Cut inside the first account (past the least an account takes), re-signed: says where.
        let mut b = bytes[..HEADER + 4 + 8 + ACCOUNT_MIN_BYTES + 10].to_vec();
        b.extend_from_slice(&[0; CHECKSUM]);
        let e = decode(&resign(b)).unwrap_err().to_string();
        assert!(e.starts_with("truncated or malformed at accounts[0]"), "{e}");
    }
}
