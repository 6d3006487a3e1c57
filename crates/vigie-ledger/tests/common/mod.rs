//! Helpers shared by the ledger's integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::fs;
use std::path::{Path, PathBuf};

use vigie_core::event::{AccessAction, AccessEvent, Actor, Decision, Effect, Reason, Verdict};
use vigie_core::org::{OrgKind, Role};
use vigie_core::relationship::RelationshipKind;
use vigie_core::time::Timestamp;
use vigie_core::{AgentId, CategorySet, DataCategory, OrgId, PersonId, RequestId, SessionId};

/// A realistic access event, varied by `n`.
pub fn event(n: u64) -> AccessEvent {
    AccessEvent {
        at: Timestamp(1_760_000_000_000 + n as i64),
        request: RequestId(u128::from(n) << 8 | 0x5a),
        actor: Actor {
            agent: AgentId::new(1 + n % 50).unwrap(),
            org: OrgId::new(1 + n % 7).unwrap(),
            org_kind: OrgKind::TrainingOrg,
            role: Role::Advisor,
            session: SessionId(n * 31),
        },
        action: AccessAction::View,
        person: PersonId::new(1000 + n),
        requested: CategorySet::ALL,
        returned: CategorySet::EMPTY.with(DataCategory::Identity).with(DataCategory::Contact),
        relationship: Some(RelationshipKind::Enrolment),
        decision: Decision::Allow,
        reasons: vec![
            Reason {
                category: DataCategory::Identity,
                effect: Effect::Permit,
                policy: Some("training-org-identity".into()),
            },
            Reason { category: DataCategory::Nir, effect: Effect::Forbid, policy: Some("no-nir-for-partners".into()) },
        ],
        verdict: Verdict::allow(),
    }
}

pub fn segment(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{n:08}.log"))
}

pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

pub fn bodies(dir: &Path) -> Vec<Vec<u8>> {
    vigie_ledger::Entries::open(dir).unwrap().map(|e| e.unwrap().body).collect()
}

/// Overwrites a file with `bytes` in place. Not `fs::write`: truncating a file to zero and
/// rewriting it makes ext4 flush it on close (auto_da_alloc), which turns the byte-by-byte
/// damage loops into thousands of synchronous writes.
pub fn overwrite(path: &Path, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let file = fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_len(bytes.len() as u64).unwrap();
    file.write_all_at(bytes, 0).unwrap();
}

/// Flips one bit of a file in place.
pub fn flip_bit(path: &Path, bit: usize) {
    use std::os::unix::fs::FileExt;
    let file = fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, (bit / 8) as u64).unwrap();
    byte[0] ^= 1 << (bit % 8);
    file.write_all_at(&byte, (bit / 8) as u64).unwrap();
}
