//! The detector's tests: each signal and rung with a fixed clock, and miniature replays of
//! the incidents of `shared/mission.md` next to benign bursts.

use super::*;
use crate::category::CategorySet;
use crate::event::Actor;
use crate::ids::{OrgId, RequestId, SessionId};
use crate::ports::Detector;
use crate::time::Timestamp;

const MIN: i64 = 60_000;

fn actor(agent: u64, kind: OrgKind) -> Actor {
    Actor {
        agent: AgentId::new(agent).unwrap(),
        org: OrgId::new(1).unwrap(),
        org_kind: kind,
        role: Role::Advisor,
        session: SessionId(1),
    }
}

fn event(a: &Actor, at: i64, action: AccessAction, person: Option<u64>, allowed: bool) -> AccessEvent {
    AccessEvent {
        at: Timestamp(1_780_000_000_000 + at),
        request: RequestId(1),
        actor: a.clone(),
        action,
        person: person.and_then(PersonId::new),
        requested: CategorySet::ALL,
        returned: if allowed { CategorySet::ALL } else { CategorySet::EMPTY },
        relationship: None,
        decision: if allowed {
            Decision::Allow
        } else if person.is_some() {
            Decision::Deny
        } else {
            Decision::NoMatch
        },
        reasons: Vec::new(),
        verdict: Verdict::allow(),
    }
}

fn detector(canaries: &[u64]) -> ExfiltrationDetector {
    ExfiltrationDetector::new(DetectConfig::with_canaries(canaries.iter().filter_map(|c| PersonId::new(*c))))
}

/// Views of `persons` (ids from a scrambled sequence unless `sequential`), one every `gap_ms`.
/// Returns the verdicts and the number of persons released before the first non-allow.
fn run(d: &ExfiltrationDetector, a: &Actor, n: u64, gap_ms: i64, sequential: bool) -> (Vec<Verdict>, u64) {
    let mut verdicts = Vec::new();
    let mut exposed = 0;
    let mut contained = false;
    for i in 0..n {
        let person = if sequential { 1_000 + i } else { 1_000 + (i * 7_919) % 100_000 };
        let v = judge(d, &event(a, i as i64 * gap_ms, AccessAction::View, Some(person), true));
        if v.action != VerdictAction::Allow {
            contained = true;
        }
        if !contained {
            exposed += 1;
        }
        verdicts.push(v);
    }
    (verdicts, exposed)
}

#[test]
fn each_rung_with_its_reasons() {
    struct Case {
        name: &'static str,
        n: u64,
        gap_ms: i64,
        sequential: bool,
        want_last: VerdictAction,
        reason: &'static str,
    }
    let cases = [
        Case {
            name: "a morning's caseload",
            n: 100,
            gap_ms: MIN,
            sequential: false,
            want_last: VerdictAction::Allow,
            reason: "",
        },
        Case {
            name: "approaching the hour's quota",
            n: 125,
            gap_ms: 20_000,
            sequential: false,
            want_last: VerdictAction::StepUp,
            reason: "step_up_at=80%",
        },
        Case {
            name: "over the hour's quota",
            n: 160,
            gap_ms: 10_000,
            sequential: false,
            want_last: VerdictAction::Throttle,
            reason: "distinct_persons_hour=",
        },
        Case {
            name: "sequential enumeration",
            n: 25,
            gap_ms: 1_000,
            sequential: true,
            want_last: VerdictAction::StepUp,
            reason: "sequential_run=",
        },
        Case {
            name: "doubled quota, sequential",
            n: 320,
            gap_ms: 1_000,
            sequential: true,
            want_last: VerdictAction::SuspendSession,
            reason: "distinct_persons_hour=",
        },
    ];
    for c in cases {
        let d = detector(&[]);
        let (verdicts, _) = run(&d, &actor(1, OrgKind::Agency), c.n, c.gap_ms, c.sequential);
        let last = verdicts.last().unwrap();
        assert_eq!(last.action, c.want_last, "{}: {:?}", c.name, last.reasons);
        if c.reason.is_empty() {
            assert!(last.reasons.is_empty(), "{}: {:?}", c.name, last.reasons);
        } else {
            assert!(last.reasons.iter().any(|r| r.contains(c.reason)), "{}: {:?}", c.name, last.reasons);
        }
    }
}

#[test]
fn a_canary_suspends_the_account_at_once_even_on_a_denied_probe() {
    let d = detector(&[4242]);
    let a = actor(1, OrgKind::TrainingOrg);
    assert_eq!(judge(&d, &event(&a, 0, AccessAction::View, Some(1), true)).action, VerdictAction::Allow);
    let v = judge(&d, &event(&a, 1, AccessAction::View, Some(4242), false));
    assert_eq!(v.action, VerdictAction::SuspendAccount);
    assert_eq!(v.reasons, vec!["canary=P4242".to_owned()]);
    // And stays so.
    assert_eq!(judge(&d, &event(&a, 2, AccessAction::View, Some(2), true)).action, VerdictAction::SuspendAccount);
    // Another account is not affected.
    assert_eq!(
        judge(&d, &event(&actor(2, OrgKind::TrainingOrg), 3, AccessAction::View, Some(2), true)).action,
        VerdictAction::Allow
    );
}

#[test]
fn lookups_that_miss_are_probing() {
    let d = detector(&[]);
    let a = actor(1, OrgKind::Subcontractor);
    let mut last = Verdict::allow();
    for i in 0..10 {
        last = judge(&d, &event(&a, i * 30_000, AccessAction::LookupByNir, None, false));
    }
    assert_eq!(last.action, VerdictAction::StepUp);
    assert!(last.reasons[0].starts_with("lookup_misses_10min=10"), "{:?}", last.reasons);
    // Ten minutes of quiet forget them.
    let v = judge(&d, &event(&a, 20 * MIN, AccessAction::LookupByNir, None, false));
    assert_eq!(v.action, VerdictAction::Allow, "{:?}", v.reasons);
}

#[test]
fn throttles_escalate_on_repeats() {
    let d = detector(&[]);
    let a = actor(1, OrgKind::TrainingOrg); // 60 an hour
    let mut throttle_reasons = Vec::new();
    for i in 0..400u64 {
        let v = judge(&d, &event(&a, i as i64 * 2_000, AccessAction::View, Some(10_000 + i * 13), true));
        throttle_reasons.extend(v.reasons.into_iter().filter(|r| r.starts_with("throttle_ms=")));
    }
    assert!(throttle_reasons.len() >= 2, "{throttle_reasons:?}");
    assert!(throttle_reasons[0].starts_with("throttle_ms=60000 repeat=1"));
    assert!(throttle_reasons[1].starts_with("throttle_ms=300000 repeat=2"));
}

#[test]
fn shadow_mode_decides_but_does_not_enforce() {
    let mut config = DetectConfig::with_canaries([PersonId::new(7).unwrap()]);
    config.shadow.insert(OrgKind::MissionLocale);
    let d = ExfiltrationDetector::new(config);
    let v = judge(&d, &event(&actor(1, OrgKind::MissionLocale), 0, AccessAction::View, Some(7), true));
    assert_eq!(v.action, VerdictAction::Allow);
    assert!(v.reasons.contains(&"shadow=1 would=suspend_account".to_owned()), "{:?}", v.reasons);
    let v = judge(&d, &event(&actor(2, OrgKind::Agency), 0, AccessAction::View, Some(7), true));
    assert_eq!(v.action, VerdictAction::SuspendAccount, "shadow only for its kind");
}

#[test]
fn thresholds_refuse_absurd_values_naming_the_key() {
    let ok = Thresholds::default_for(OrgKind::Agency, Role::Advisor);
    assert!(ok.validate().is_ok());
    for (bad, key) in [
        (Thresholds { quota_hour: 0, ..ok }, "quota_hour"),
        (Thresholds { quota_day: 10, quota_hour: 50, ..ok }, "quota_hour ≤ quota_day"),
        (Thresholds { quota_week: 5_000_000, ..ok }, "quota_week"),
        (Thresholds { step_up_percent: 0, ..ok }, "step_up_percent"),
        (Thresholds { sequential_run: 1, ..ok }, "sequential_run"),
    ] {
        assert!(bad.validate().unwrap_err().contains(key), "{key}");
    }
    for k in OrgKind::ALL {
        for r in Role::ALL {
            assert!(Thresholds::default_for(k, r).validate().is_ok(), "{k:?} {r:?}");
        }
    }
}

/// Miniature replays of the incidents (mission.md), next to benign bursts. The figures are
/// what the first slice reaches; the simulator issue measures them properly.
#[test]
fn incidents_stop_and_benign_bursts_do_not_suspend() {
    // 43 million: an advisor's account, mass views at 10/s. Contained (no longer allowed)
    // within the hour's quota, suspended once doubled with the sequential signal.
    let d = detector(&[]);
    let (verdicts, exposed) = run(&d, &actor(1, OrgKind::Agency), 2_000, 100, true);
    assert!(exposed <= 150, "exposed {exposed}");
    assert!(verdicts.iter().any(|v| v.action == VerdictAction::SuspendSession));
    // Kairos: a training organization's session at partner pace (one every 20 s), scrambled ids.
    let d = detector(&[]);
    let (verdicts, exposed) = run(&d, &actor(2, OrgKind::TrainingOrg), 1_000, 20_000, false);
    assert!(exposed <= 60, "exposed {exposed}");
    assert!(verdicts.iter().all(|v| v.action != VerdictAction::SuspendAccount));
    // Benign: an agency advisor reviewing a 350-person caseload over a day, and a training
    // organization receiving a cohort of 30: never suspended, never throttled.
    for (kind, n, gap) in [(OrgKind::Agency, 350u64, 80_000i64), (OrgKind::TrainingOrg, 30, 60_000)] {
        let d = detector(&[]);
        let (verdicts, _) = run(&d, &actor(3, kind), n, gap, false);
        assert!(
            verdicts.iter().all(|v| v.action.rank() < VerdictAction::Throttle.rank()),
            "{kind:?}: {:?}",
            verdicts.iter().find(|v| v.action.rank() >= 2)
        );
    }
}

fn judge(d: &impl Detector, e: &AccessEvent) -> Verdict {
    d.assess(e, &crate::ports::DetectContext::default())
}

#[test]
fn probation_quotas_are_a_quarter() {
    let d = detector(&[]);
    let a = actor(1, OrgKind::Agency); // 150 an hour; on probation 37
    let on_probation = crate::ports::DetectContext { probation: true, ..Default::default() };
    let mut first_throttle = None;
    for i in 0..60u64 {
        let v = d.assess(&event(&a, i as i64 * 10_000, AccessAction::View, Some(500 + i * 11), true), &on_probation);
        if v.action == VerdictAction::Throttle && first_throttle.is_none() {
            first_throttle = Some((i, v.reasons));
        }
    }
    let (i, reasons) = first_throttle.expect("throttled on probation");
    assert_eq!(i, 37, "the 38th distinct person: {reasons:?}");
    assert!(reasons.iter().any(|r| r == "probation=1 quotas_at=25%"), "{reasons:?}");
}

#[test]
fn a_restart_replays_the_week_from_the_ledger() {
    let a = actor(1, OrgKind::TrainingOrg); // 60 an hour
    let heads: Vec<crate::event::EventHead> = (0..70u64)
        .map(|i| {
            let e = event(&a, i as i64 * 1_000, AccessAction::View, Some(100 + i * 5), i % 10 != 0);
            let mut b = Vec::new();
            e.encode(&mut b);
            crate::event::EventHead::decode(&b).unwrap()
        })
        .collect();
    let d = detector(&[]);
    let now = Timestamp(1_780_000_000_000 + 70_000);
    assert_eq!(d.replay(heads.clone(), now), 63, "the denied ones released nothing");
    let v = judge(&d, &event(&a, 70_000, AccessAction::View, Some(99_999), true));
    assert_eq!(v.action, VerdictAction::Throttle, "the quota survived the restart: {:?}", v.reasons);
    // A week later the ledger's events no longer count.
    let d = detector(&[]);
    assert_eq!(d.replay(heads, Timestamp(now.millis() + window::WEEK_MS)), 0);
}
