//! Scoping against a real sealed ledger: the index answers exactly what a full read of the log
//! answers, a tampered index is caught, shredded months are reported, the uncovered tail is read.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test binary: failing loudly is the point"
)]

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use vigie_core::category::{CategorySet, DataCategory};
use vigie_core::event::{
    AccessAction, AccessEvent, Actor, Decision, Effect, EventHead, Reason, Verdict, VerdictAction,
};
use vigie_core::ids::{AgentId, OrgId, PersonId, RequestId, SessionId};
use vigie_core::incident::scope::ScopeRow;
use vigie_core::incident::{Selector, Window};
use vigie_core::org::{OrgKind, Role};
use vigie_core::ports::AccessLedger;
use vigie_core::security::{SecurityEvent, SecurityKind};
use vigie_core::time::Timestamp;
use vigie_ledger::seal::KeyRing;
use vigie_ledger::{Entries, EntryKind, Ledger, LedgerOptions};
use vigie_scope::index::{self, refresh};
use vigie_scope::{LedgerSource, Query, ScopeError, run};

const DAY: i64 = 86_400_000;
/// 2026-10-30 00:00 UTC: the events run over the end of October into November (two months).
const T0: i64 = 1_793_318_400_000;

fn event(
    at: i64,
    agent: u64,
    session: u64,
    person: Option<u64>,
    returned: CategorySet,
    decision: Decision,
    verdict: VerdictAction,
) -> AccessEvent {
    AccessEvent {
        at: Timestamp(at),
        request: RequestId(at as u128),
        actor: Actor {
            agent: AgentId::new(agent).unwrap(),
            org: OrgId::new(1 + agent % 5).unwrap(),
            org_kind: OrgKind::TrainingOrg,
            role: Role::Advisor,
            session: SessionId(session),
        },
        action: if person.is_some() { AccessAction::View } else { AccessAction::LookupByFtId },
        person: person.and_then(PersonId::new),
        requested: CategorySet::ALL,
        returned,
        relationship: None,
        decision,
        reasons: vec![Reason {
            category: DataCategory::Identity,
            effect: Effect::Permit,
            policy: Some(Arc::from("training-org-reads-enrolled")),
        }],
        verdict: Verdict { action: verdict, reasons: vec![] },
    }
}

struct Built {
    dir: tempfile::TempDir,
}

impl Built {
    fn ledger(&self) -> std::path::PathBuf {
        self.dir.path().join("ledger")
    }
    fn keys(&self) -> std::path::PathBuf {
        self.dir.path().join("keys")
    }
    fn source(&self) -> LedgerSource {
        let key = vigie_ledger::load_key(&self.ledger().join(vigie_ledger::DEFAULT_KEY_FILE)).unwrap();
        LedgerSource {
            dir: self.ledger(),
            keys: Some(KeyRing::new(&self.keys())),
            verifier: Some(key.verifier()),
            witness_dirs: vec![],
        }
    }
}

/// 40 agents over 6 days (two months), sign-ins with networks, small segments.
fn build(seed: u64) -> Built {
    let dir = tempfile::tempdir().unwrap();
    let built = Built { dir };
    let options = LedgerOptions { segment_bytes: 64 << 10, seal_keys: Some(built.keys()), ..LedgerOptions::default() };
    let ledger = Ledger::open(&built.ledger(), options).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut session = 0u64;
    for day in 0..6 {
        for agent in 1..=40u64 {
            session += 1;
            let at = T0 + day * DAY + 8 * 3_600_000 + (agent as i64) * 1_000;
            let net = format!("10.{}.{}.0/24 chrome", agent % 3, agent % 7);
            ledger
                .record(&[SecurityEvent::new(Timestamp(at), SecurityKind::SignIn)
                    .by(AgentId::new(agent).unwrap(), OrgId::new(1).unwrap())
                    .session(SessionId(session))
                    .context(net)])
                .unwrap();
            let reads = if agent == 7 { 60 } else { rng.gen_range(0..15) };
            let mut batch = Vec::new();
            for r in 0..reads {
                let person = rng.gen_range(1..400u64);
                let roll = rng.gen_range(0..10);
                let (returned, decision, verdict) = match roll {
                    0 => (CategorySet::EMPTY, Decision::Deny, VerdictAction::Allow),
                    1 => (CategorySet::EMPTY, Decision::Deny, VerdictAction::StepUp),
                    2 => (
                        CategorySet::EMPTY.with(DataCategory::Identity).with(DataCategory::Nir),
                        Decision::Allow,
                        VerdictAction::Allow,
                    ),
                    _ => (
                        CategorySet::EMPTY.with(DataCategory::Identity).with(DataCategory::Contact),
                        Decision::Allow,
                        VerdictAction::Allow,
                    ),
                };
                let person = if roll == 9 && r % 2 == 0 { None } else { Some(person) };
                let (returned, decision) =
                    if person.is_none() { (CategorySet::EMPTY, Decision::NoMatch) } else { (returned, decision) };
                batch.push(event(at + 60_000 + r * 1_000, agent, session, person, returned, decision, verdict));
            }
            ledger.append(&batch).unwrap();
        }
    }
    drop(ledger);
    built
}

/// What a full read of the log says the query should find.
fn brute(b: &Built, q: &Query) -> (Vec<ScopeRow>, Vec<ScopeRow>) {
    let mut sessions = vigie_core::incident::expand::Sessions::new();
    let mut all = Vec::new();
    for e in Entries::open(&b.ledger()).unwrap().with_keys(&b.keys()) {
        let e = e.unwrap();
        match e.kind {
            EntryKind::Security => sessions.learn(&vigie_core::incident::expand::SecurityRow {
                index: e.index,
                event: SecurityEvent::decode(&e.body).unwrap(),
            }),
            EntryKind::Access => all.push(ScopeRow::from_head(e.index, &EventHead::decode(&e.body).unwrap())),
            EntryKind::Opaque => {}
        }
    }
    let held = vigie_core::incident::expand::Compromised::resolve(&q.selectors, &sessions);
    let rows = all.iter().filter(|r| q.window.contains(r.at) && held.holds(r.agent, r.session)).copied().collect();
    let person_rows = all
        .iter()
        .filter(|r| q.window.contains(r.at) && r.person.is_some_and(|p| q.persons.contains(&p)))
        .copied()
        .collect();
    (rows, person_rows)
}

fn record_ok(ledger: &Path) {
    let report = vigie_ledger::verify(ledger).unwrap();
    vigie_scope::record_verification(ledger, Ok(report.entries), 0).unwrap();
}

#[test]
fn the_index_answers_exactly_what_reading_the_whole_log_answers() {
    let b = build(1);
    record_ok(&b.ledger());
    let report = refresh(&b.ledger(), Some(&KeyRing::new(&b.keys())), 1, |_, _| {}).unwrap();
    assert!(report.files_written > 5, "{report:?}");
    let window = Window::new(Timestamp(T0 + DAY), Timestamp(T0 + 4 * DAY + 3_600_000)).unwrap();
    let queries = [
        vec![Selector::Agent(AgentId::new(7).unwrap())],
        vec![Selector::Agent(AgentId::new(7).unwrap()), Selector::Agent(AgentId::new(12).unwrap())],
        vec![Selector::Network("10.1.0.0/16".parse().unwrap())],
        vec![Selector::Session(SessionId(45))],
    ];
    for selectors in queries {
        let q = Query {
            window,
            selectors: selectors.clone(),
            persons: [PersonId::new(5).unwrap()].into_iter().collect(),
            security: true,
        };
        let found = run(&b.source(), &q, false).unwrap();
        let (rows, person_rows) = brute(&b, &q);
        assert!(!rows.is_empty(), "{selectors:?} finds something");
        assert_eq!(found.rows, rows, "{selectors:?}");
        assert_eq!(found.person_rows, person_rows, "{selectors:?}");
        assert!(found.trust.verified(), "{:?}", found.trust);
        assert!(found.stats.rows_checked as usize >= rows.len());
        assert_eq!(found.stats.tail_entries_read, 0, "everything indexed");
        assert!(found.stats.sample_checked > 0);
    }
}

/// Among several nodes each may refresh another node's index at the same moment: the files
/// written side by side are whole, and the answer is the log's.
#[test]
fn refreshes_at_the_same_moment_leave_a_whole_index() {
    let b = build(3);
    record_ok(&b.ledger());
    let start = std::sync::Barrier::new(4);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                start.wait();
                refresh(&b.ledger(), Some(&KeyRing::new(&b.keys())), 1, |_, _| {}).unwrap();
            });
        }
    });
    let window = Window::new(Timestamp(T0), Timestamp(T0 + 7 * DAY)).unwrap();
    let q = Query {
        window,
        selectors: vec![Selector::Agent(AgentId::new(7).unwrap()), Selector::Agent(AgentId::new(12).unwrap())],
        persons: HashSet::new(),
        security: false,
    };
    let found = run(&b.source(), &q, false).unwrap();
    assert_eq!(found.stats.tail_entries_read, 0, "everything indexed");
    assert_eq!(found.rows, brute(&b, &q).0);
    let leftovers: Vec<_> = std::fs::read_dir(vigie_scope::index::index_dir(&b.ledger()))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn an_unindexed_tail_is_read_from_the_log_with_the_same_answer() {
    let b = build(2);
    record_ok(&b.ledger());
    let window = Window::new(Timestamp(T0), Timestamp(T0 + 7 * DAY)).unwrap();
    let q = Query {
        window,
        selectors: vec![Selector::Agent(AgentId::new(7).unwrap())],
        persons: HashSet::new(),
        security: false,
    };
    // No index at all: everything is tail.
    let found = run(&b.source(), &q, false).unwrap();
    assert!(found.stats.tail_entries_read > 0);
    assert_eq!(found.rows, brute(&b, &q).0);
    // Half indexed: build for the first segments only by refreshing, then appending more.
    refresh(&b.ledger(), Some(&KeyRing::new(&b.keys())), 1, |_, _| {}).unwrap();
    let indexed = run(&b.source(), &q, false).unwrap();
    assert_eq!(indexed.rows, found.rows);
    assert_eq!(indexed.stats.tail_entries_read, 0);
}

#[test]
fn a_tampered_index_is_caught_not_believed() {
    let b = build(3);
    record_ok(&b.ledger());
    refresh(&b.ledger(), Some(&KeyRing::new(&b.keys())), 1, |_, _| {}).unwrap();
    let window = Window::new(Timestamp(T0), Timestamp(T0 + 7 * DAY)).unwrap();
    let q = Query {
        window,
        selectors: vec![Selector::Agent(AgentId::new(7).unwrap())],
        persons: HashSet::new(),
        security: false,
    };
    // Swap two index files' headers for each other's content: the claims no longer match.
    let dir = index::index_dir(&b.ledger());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "vgix"))
        .collect();
    files.sort();
    let a = std::fs::read(&files[1]).unwrap();
    std::fs::write(&files[2], &a).unwrap();
    let found = run(&b.source(), &q, false).unwrap();
    assert_eq!(found.rows, brute(&b, &q).0, "a file that does not match its segment is not used: the log is read");
    assert!(found.stats.tail_entries_read > 0);

    // A forged index that keeps its header but lies in its rows is refused when the rows are read.
    let b = build(4);
    record_ok(&b.ledger());
    let keys = KeyRing::new(&b.keys());
    refresh(&b.ledger(), Some(&keys), 1, |_, _| {}).unwrap();
    // Rewrite every file of the index with rows whose persons are shifted by one, keeping the
    // headers' claims: a forger with the month keys could do this.
    forge_persons(&b, &keys);
    let err = run(&b.source(), &q, false).unwrap_err();
    assert!(matches!(err, ScopeError::IndexMismatch { .. }), "{err}");
    assert!(err.to_string().contains("rebuild it"), "{err}");
}

/// Rewrites the index of every segment with agent 7's rows claiming other persons, keeping the
/// files' claims about the segment (first and last entries) true.
fn forge_persons(b: &Built, keys: &KeyRing) {
    let dir = index::index_dir(&b.ledger());
    std::fs::remove_dir_all(&dir).unwrap();
    for (k, seg) in vigie_ledger::list_segments(&b.ledger()).unwrap().iter().enumerate() {
        let first = seg.first_index.unwrap();
        index::build_segment_mapped(&b.ledger(), Some(keys), seg, k, first, |row| {
            if row.agent == 7 && row.person != 0 {
                row.person += 1;
            }
        })
        .unwrap();
    }
}

#[test]
fn shredded_months_are_reported_with_their_counts() {
    let b = build(5);
    record_ok(&b.ledger());
    // Shred October (the events start on 30 October).
    vigie_ledger::shred_before(&b.keys(), vigie_ledger::seal::Period(202611)).unwrap();
    refresh(&b.ledger(), Some(&KeyRing::new(&b.keys())), 1, |_, _| {}).unwrap();
    let window = Window::new(Timestamp(T0), Timestamp(T0 + 7 * DAY)).unwrap();
    let q = Query {
        window,
        selectors: vec![Selector::Agent(AgentId::new(7).unwrap())],
        persons: HashSet::new(),
        security: false,
    };
    let found = run(&b.source(), &q, false).unwrap();
    assert_eq!(found.shredded.len(), 1, "{:?}", found.shredded);
    assert_eq!(found.shredded[0].0, vigie_ledger::seal::Period(202610));
    assert!(found.shredded[0].1 > 100);
    assert!(found.rows.iter().all(|r| r.at.0 >= T0 + 2 * DAY), "only November is readable");
    assert!(!found.rows.is_empty());
}

#[test]
fn an_unverified_ledger_is_said_to_be_so() {
    let b = build(6);
    let window = Window::new(Timestamp(T0), Timestamp(T0 + 7 * DAY)).unwrap();
    let q = Query {
        window,
        selectors: vec![Selector::Agent(AgentId::new(7).unwrap())],
        persons: HashSet::new(),
        security: false,
    };
    let found = run(&b.source(), &q, true).unwrap();
    assert!(!found.trust.verified());
    assert!(found.trust.problems[0].contains("never been fully verified"), "{:?}", found.trust.problems);
    vigie_scope::record_verification(&b.ledger(), Err("entry 4: check mismatch"), 0).unwrap();
    let found = run(&b.source(), &q, false).unwrap();
    assert!(found.trust.problems[0].contains("failed: entry 4"), "{:?}", found.trust.problems);
    // Outside the ledger's span, a clear refusal.
    let far = Window::new(Timestamp(T0 - 30 * DAY), Timestamp(T0 - 29 * DAY)).unwrap();
    let err = run(&b.source(), &Query { window: far, ..q }, false).unwrap_err();
    assert!(matches!(err, ScopeError::OutsideLedger { .. }), "{err}");
}
