//! The detector's snapshot (`vigie_core::detect::snapshot::decode`), read at every start from
//! the data directory. The input is decoded as it is, and again with its SHA-256 appended, so that
//! the body parser is reached (a mutation otherwise only ever fails the checksum). A state that
//! decodes must then work: the detector judges a few days of traffic on it without panicking
//! (every index and time it holds was range-checked), and it encodes to a snapshot that decodes.

use sha2::{Digest, Sha256};
use vigie_core::CategorySet;
use vigie_core::detect::{DetectConfig, ExfiltrationDetector, snapshot};
use vigie_core::event::{AccessAction, AccessEvent, Actor, Decision, Verdict};
use vigie_core::ids::{AgentId, OrgId, PersonId, RequestId, SessionId};
use vigie_core::org::{OrgKind, Role};
use vigie_core::ports::{DetectContext, Detector, LifecycleAction, LifecycleKind, SignInContext};
use vigie_core::time::Timestamp;

pub fn run(data: &[u8]) {
    check(data);
    let mut signed = data.to_vec();
    signed.extend_from_slice(&Sha256::digest(data));
    check(&signed);
}

fn check(bytes: &[u8]) {
    let Ok((state, position)) = snapshot::decode(bytes) else {
        return;
    };
    let mut agents: Vec<AgentId> = state.accounts.keys().copied().collect();
    agents.sort_unstable();
    agents.truncate(4);
    let detector = ExfiltrationDetector::with_state(DetectConfig::with_canaries(PersonId::new(777_777)), state);
    // The traffic comes at the snapshot's position, within 2^47 ms of the epoch (year 6400):
    // the decoder bounds times at 2^48, and a week of traffic after a time closer to that bound
    // than a week would write times the decoder refuses (harmless: the state is then rebuilt
    // from the ledger), which is no property of the parser.
    traffic(&detector, &agents, position.clamp(-(1 << 47), 1 << 47));
    let mut again = Vec::new();
    let encoded = detector.with_state_ref(|s| snapshot::encode(s, position, &mut again));
    assert!(encoded.is_some(), "the detector's lock is not poisoned");
    if let Err(e) = snapshot::decode(&again) {
        panic!("a state that decoded and judged traffic encodes to a snapshot that does not decode: {e}");
    }
}

/// A few days of reads by the snapshot's own accounts and a new one, starting at its position:
/// new and known persons, a lookup that misses, a scope list, a refused read, a canary, an
/// account request, then a week later (days roll into the baselines).
pub fn traffic(detector: &ExfiltrationDetector, agents: &[AgentId], position: i64) {
    const MIN: i64 = 60_000;
    const DAY: i64 = 24 * 60 * MIN;
    let new_agent = AgentId::new(9_999_999).into_iter();
    for (k, agent) in agents.iter().copied().chain(new_agent).enumerate() {
        let kind = OrgKind::ALL[k % OrgKind::ALL.len()];
        let actor = Actor {
            agent,
            org: OrgId::new(1 + k as u64 % 3).expect("a positive id"),
            org_kind: kind,
            role: Role::Advisor,
            session: SessionId(agent.get()),
        };
        let context = DetectContext {
            sign_in: SignInContext { network: k as u64, ..SignInContext::default() },
            ..DetectContext::default()
        };
        for (day, step) in [(0, 0), (0, 1), (0, 2), (1, 0), (8, 0), (8, 1)] {
            let at = position.saturating_add(day * DAY + step * 7 * MIN);
            for (i, action) in
                [AccessAction::View, AccessAction::LookupByNir, AccessAction::ScopeList].into_iter().enumerate()
            {
                let person = PersonId::new(1 + (step as u64) * 10 + i as u64);
                let allowed = i != 1;
                detector.assess(&event(&actor, at + i as i64 * 1_000, action, person, allowed), &context);
            }
            detector.assess(&event(&actor, at + 5_000, AccessAction::View, PersonId::new(777_777), true), &context);
            detector.lifecycle(&LifecycleAction {
                at: Timestamp(at + 6_000),
                actor: agent,
                org: actor.org,
                kind: LifecycleKind::Request,
            });
        }
    }
    let _ = detector.memory();
}

fn event(actor: &Actor, at: i64, action: AccessAction, person: Option<PersonId>, allowed: bool) -> AccessEvent {
    AccessEvent {
        at: Timestamp(at),
        request: RequestId(at as u128),
        actor: actor.clone(),
        action,
        person,
        requested: CategorySet::ALL,
        returned: if allowed { CategorySet::ALL } else { CategorySet::EMPTY },
        relationship: None,
        decision: if allowed { Decision::Allow } else { Decision::NoMatch },
        reasons: Vec::new(),
        verdict: Verdict::allow(),
    }
}
