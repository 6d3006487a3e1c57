//! The exfiltration detector's cost: events per second through `Detector::assess` on one
//! thread, and the latency of single decisions, with 50 000 active accounts.
//!
//! `cargo run --release -p vigie-core --example detector_throughput [events] [accounts]`
//!
//! Events are views by accounts drawn uniformly, each of a person from a per-account caseload
//! of 300 (so the distinct-person sets grow as they would over a working week), one event
//! every 5 ms of simulated time.

use std::time::Instant;

use vigie_core::category::CategorySet;
use vigie_core::detect::{DetectConfig, ExfiltrationDetector};
use vigie_core::event::{AccessAction, AccessEvent, Actor, Decision, Verdict};
use vigie_core::ids::{AgentId, OrgId, PersonId, RequestId, SessionId};
use vigie_core::org::{OrgKind, Role};
use vigie_core::ports::Detector;
use vigie_core::time::Timestamp;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut arg = |name: &str, default: u64| match args.next() {
        None => default,
        Some(a) => match a.parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("detector_throughput: {name} must be a positive whole number, got {a:?}");
                std::process::exit(2);
            }
        },
    };
    let events = arg("events", 5_000_000);
    let accounts = arg("accounts", 50_000);
    let d =
        ExfiltrationDetector::new(DetectConfig::with_canaries((1..=1000).filter_map(|i| PersonId::new(i * 1_000_003))));
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let kinds = OrgKind::ALL;
    let make = |i: u64, r: u64| {
        let a = r % accounts + 1;
        AccessEvent {
            at: Timestamp(1_780_000_000_000 + i as i64 * 5),
            request: RequestId(u128::from(i)),
            actor: Actor {
                agent: AgentId::new(a).unwrap_or(AgentId::new(1).unwrap_or_else(|| unreachable!())),
                org: OrgId::new(a / 50 + 1).unwrap_or_else(|| unreachable!()),
                org_kind: kinds[(a % 5) as usize],
                role: Role::Advisor,
                session: SessionId(a),
            },
            action: AccessAction::View,
            person: PersonId::new(a * 10_000 + (r >> 32) % 300 + 1),
            requested: CategorySet::ALL,
            returned: CategorySet::ALL,
            relationship: None,
            decision: Decision::Allow,
            reasons: Vec::new(),
            verdict: Verdict::allow(),
        }
    };
    let before = rss_kb();
    // Warm-up: every account active, 20 events each (a day's reading).
    for i in 0..accounts * 20 {
        let r = next();
        d.assess(&make(i, r), &Default::default());
    }
    let state_kb = rss_kb().saturating_sub(before);
    let batch: Vec<AccessEvent> = (0..events).map(|i| make(accounts * 20 + i, next())).collect();
    // Timed in 50 slices too: on a shared machine a neighbour's burst slows some slices, and
    // the median slice says what the detector does when left alone.
    let start = Instant::now();
    let mut non_allow = 0u64;
    let mut slices: Vec<f64> = Vec::with_capacity(50);
    for chunk in batch.chunks(batch.len().div_ceil(50).max(1)) {
        let t = Instant::now();
        for e in chunk {
            if d.assess(e, &Default::default()).action != vigie_core::event::VerdictAction::Allow {
                non_allow += 1;
            }
        }
        slices.push(chunk.len() as f64 / t.elapsed().as_secs_f64());
    }
    let secs = start.elapsed().as_secs_f64();
    slices.sort_by(f64::total_cmp);
    // Single-decision latency, one at a time.
    let mut lat: Vec<f64> = Vec::with_capacity(200_000);
    for e in batch.iter().take(200_000) {
        let t = Instant::now();
        std::hint::black_box(d.assess(e, &Default::default()));
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!("detector: {events} events, {} accounts with state", d.accounts());
    println!(
        "throughput: {:.0} events/s on one thread ({non_allow} non-allow verdicts); median of {} slices {:.0} events/s",
        events as f64 / secs,
        slices.len(),
        slices[slices.len() / 2]
    );
    println!("latency per decision: p50 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs", pct(0.5), pct(0.99), pct(0.999));
    let m = d.memory();
    println!(
        "state by the detector's own count: {} accounts; {:.0} bytes per account outside the distinct-person sets (budget 4096); \
         distinct-person sets {:.1} MB for {} persons ({:.0} bytes per person remembered); organizations' and peer groups' counters {:.1} MB",
        m.accounts,
        m.account_bytes as f64 / m.accounts.max(1) as f64,
        m.distinct_bytes as f64 / 1e6,
        m.distinct_persons,
        m.distinct_bytes as f64 / m.distinct_persons.max(1) as f64,
        m.shared_bytes as f64 / 1e6
    );
    println!(
        "memory of the detector's state after warm-up: {} KB for {} accounts ({:.0} bytes per account, distinct-person sets included)",
        state_kb,
        accounts,
        state_kb as f64 * 1024.0 / accounts as f64
    );
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
