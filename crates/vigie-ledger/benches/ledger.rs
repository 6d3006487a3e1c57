//! Durable-append benchmark of the access ledger, against raw `write` + `fdatasync` loops of
//! the same bytes measured in the same run.
//!
//! Phases, each repeated `VIGIE_BENCH_RUNS` times (default 5) for `VIGIE_BENCH_SECS` seconds
//! (default 2), medians printed at the end:
//! - raw, one entry per fdatasync: the naive "insert and commit each access" ceiling;
//! - ledger, `APPENDERS` threads appending one event each in a closed loop: durable entries/s;
//! - ledger, `APPENDERS` threads appending `VIGIE_BENCH_APPEND_BATCH` events each (default 64)
//!   in a closed loop: durable entries/s when callers batch (the 500 000/s goal);
//! - verify: re-hashing that ledger, checking its tiles and checkpoint, entries/s;
//! - raw, the ledger's average batch per fdatasync: the disk's ceiling for the same bytes in
//!   the same chunks, so the ratio is the ledger's own overhead (hashing, channel, wake-ups);
//!   (for the batched appenders' batches too), once with idle CPUs and once with a spinning
//!   thread per CPU (`VIGIE_BENCH_SPINNERS`),
//!   because on a virtual machine an fdatasync that waits on an idle vCPU can take a timer
//!   tick (about 4 ms here) instead of about 0.15 ms, and the ledger's appenders keep the CPUs
//!   busy;
//! - ledger at a fixed offered rate (`VIGIE_BENCH_RATE`, default 10 000/s, open loop): append
//!   latency p50/p99/p99.9 from each append's scheduled start, with no linger and a 2 ms linger.
//!
//! `cargo bench -p vigie-ledger` (`VIGIE_BENCH_DIR` chooses the file system, default the
//! system temporary directory; `VIGIE_BENCH_SEAL=1` seals bodies with month keys, as the server
//! does by default). The figures depend on the disk and on neighbours' I/O.

use std::error::Error;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use vigie_core::event::{AccessAction, AccessEvent, Actor, Decision, Effect, Reason, Verdict};
use vigie_core::org::{OrgKind, Role};
use vigie_core::ports::AccessLedger;
use vigie_core::relationship::RelationshipKind;
use vigie_core::time::Timestamp;
use vigie_core::{AgentId, CategorySet, DataCategory, OrgId, PersonId, RequestId, SessionId};
use vigie_ledger::{Ledger, LedgerOptions, verify};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Appending threads in the closed-loop phases (`VIGIE_BENCH_APPENDERS` overrides).
const APPENDERS: usize = 64;
const LATENCY_WORKERS: usize = 64;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The ledger's options, sealing bodies if `VIGIE_BENCH_SEAL=1`.
fn options(dir: &Path) -> LedgerOptions {
    let seal = env_or("VIGIE_BENCH_SEAL", 0u8) == 1;
    LedgerOptions { seal_keys: seal.then(|| dir.with_extension("keys")), ..LedgerOptions::default() }
}

fn event(n: u64) -> Res<AccessEvent> {
    let missing = || "bad id";
    Ok(AccessEvent {
        at: Timestamp(1_760_000_000_000 + n as i64),
        request: RequestId(u128::from(n)),
        actor: Actor {
            agent: AgentId::new(1 + n % 5000).ok_or_else(missing)?,
            org: OrgId::new(1 + n % 300).ok_or_else(missing)?,
            org_kind: OrgKind::TrainingOrg,
            role: Role::Advisor,
            session: SessionId(n / 40),
        },
        action: AccessAction::View,
        person: PersonId::new(1 + n % 1_000_000),
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
    })
}

/// Appends `chunk` and fdatasyncs, in a loop for `secs`; returns (chunks/s, per-chunk latencies).
/// With `spinners`, that many threads keep the CPUs busy meanwhile (see the module comment).
fn raw_loop(path: &Path, chunk: &[u8], secs: f64, spinners: usize) -> Res<(f64, Vec<Duration>)> {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..spinners {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            });
        }
        let result = raw_loop_inner(path, chunk, secs);
        stop.store(true, Ordering::Relaxed);
        result
    })
}

fn raw_loop_inner(path: &Path, chunk: &[u8], secs: f64) -> Res<(f64, Vec<Duration>)> {
    let mut file: File = OpenOptions::new().create(true).append(true).open(path)?;
    let start = Instant::now();
    let mut latencies = Vec::new();
    while start.elapsed().as_secs_f64() < secs {
        let t = Instant::now();
        file.write_all(chunk)?;
        file.sync_data()?;
        latencies.push(t.elapsed());
    }
    Ok((latencies.len() as f64 / start.elapsed().as_secs_f64(), latencies))
}

/// Closed loop: `APPENDERS` threads append `per_append` events each, as fast as acknowledged.
/// Returns (entries/s, average entries per batch).
fn ledger_throughput(dir: &Path, events: &[AccessEvent], per_append: usize, secs: f64) -> Res<(f64, f64)> {
    let appenders: usize = env_or("VIGIE_BENCH_APPENDERS", APPENDERS);
    let ledger = Ledger::open(dir, options(dir))?;
    let stop = AtomicBool::new(false);
    let failures = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..appenders {
            let (ledger, stop, failures) = (&ledger, &stop, &failures);
            s.spawn(move || {
                let mut i = t * per_append;
                while !stop.load(Ordering::Relaxed) {
                    let at = i % (events.len() - per_append);
                    if ledger.append(&events[at..at + per_append]).is_err() {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    i += appenders * per_append;
                }
            });
        }
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
    });
    let elapsed = start.elapsed().as_secs_f64();
    if failures.load(Ordering::Relaxed) > 0 {
        return Err("appends failed".into());
    }
    let stats = ledger.stats();
    Ok((stats.entries as f64 / elapsed, stats.entries as f64 / stats.batches.max(1) as f64))
}

/// Open loop at `rate`/s: append k is scheduled at `k / rate` and timed from then (so a slow
/// append delays nothing else's measurement). Returns sorted latencies and the achieved rate.
fn ledger_latency(
    dir: &Path,
    events: &[AccessEvent],
    rate: f64,
    secs: f64,
    linger: Duration,
) -> Res<(Vec<Duration>, f64)> {
    let ledger = Ledger::open(dir, LedgerOptions { linger, ..options(dir) })?;
    let total = (rate * secs) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now() + Duration::from_millis(20);
    let per_worker: Vec<Res<Vec<Duration>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..LATENCY_WORKERS)
            .map(|w| {
                let ledger = &ledger;
                s.spawn(move || -> Res<Vec<Duration>> {
                    let mut latencies = Vec::with_capacity(total / LATENCY_WORKERS + 1);
                    for k in (w..total).step_by(LATENCY_WORKERS) {
                        let scheduled = start + interval * k as u32;
                        if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        ledger.append(std::slice::from_ref(&events[k % events.len()]))?;
                        latencies.push(scheduled.elapsed());
                    }
                    Ok(latencies)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("worker panicked".into()))).collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let mut all = Vec::with_capacity(total);
    for latencies in per_worker {
        all.extend(latencies?);
    }
    all.sort();
    Ok((all, total as f64 / elapsed))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

#[derive(Default)]
struct Run {
    raw_single: f64,
    raw_single_p50: f64,
    raw_single_p99: f64,
    ledger: f64,
    batch: f64,
    raw_batched: f64,
    raw_batched_busy: f64,
    ledger_b: f64,
    batch_b: f64,
    raw_b: f64,
    raw_b_busy: f64,
    verify: f64,
    lat: [(f64, f64, f64, f64); 2],
}

fn main() -> Res<()> {
    let runs: usize = env_or("VIGIE_BENCH_RUNS", 5);
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let spinners: usize = env_or("VIGIE_BENCH_SPINNERS", cpus);
    let secs: f64 = env_or("VIGIE_BENCH_SECS", 2.0);
    let rate: f64 = env_or("VIGIE_BENCH_RATE", 10_000.0);
    let base: std::path::PathBuf =
        std::env::var("VIGIE_BENCH_DIR").map(Into::into).unwrap_or_else(|_| std::env::temp_dir());
    let events: Vec<AccessEvent> = (0..4096).map(event).collect::<Res<_>>()?;
    let mut body = Vec::new();
    events[0].encode(&mut body);
    // Length prefix, 10-byte envelope header, body, 4-byte check (sealed: 38-byte header and a
    // 16-byte tag).
    let sealed = env_or("VIGIE_BENCH_SEAL", 0u8) == 1;
    let record = body.len() + if sealed { 8 + 38 + 16 } else { 18 };
    let per_append: usize = env_or("VIGIE_BENCH_APPEND_BATCH", 64);
    let appenders: usize = env_or("VIGIE_BENCH_APPENDERS", APPENDERS);
    println!(
        "vigie-ledger bench: {runs} runs x {secs} s per phase, entry body {} B (record {record} B, sealed {sealed}), {appenders} appenders, offered rate {rate}/s, {spinners} spinners for the busy baseline, dir {}",
        body.len(),
        base.display()
    );
    let mut results = Vec::new();
    for run in 1..=runs {
        let scratch = tempfile::Builder::new().prefix("vigie-ledger-bench").tempdir_in(&base)?;
        let mut r = Run::default();
        let (per_s, mut lat) = raw_loop(&scratch.path().join("raw-single"), &vec![0x5a; record], secs, 0)?;
        lat.sort();
        (r.raw_single, r.raw_single_p50, r.raw_single_p99) = (per_s, percentile(&lat, 0.5), percentile(&lat, 0.99));
        (r.ledger, r.batch) = ledger_throughput(&scratch.path().join("throughput"), &events, 1, secs)?;
        let chunk = vec![0x5a; (r.batch.round().max(1.0) as usize) * record];
        let (chunks_per_s, _) = raw_loop(&scratch.path().join("raw-batched"), &chunk, secs, 0)?;
        r.raw_batched = chunks_per_s * r.batch.round().max(1.0);
        let (chunks_per_s, _) = raw_loop(&scratch.path().join("raw-batched-busy"), &chunk, secs, spinners)?;
        r.raw_batched_busy = chunks_per_s * r.batch.round().max(1.0);
        let batched = scratch.path().join("throughput-batched");
        (r.ledger_b, r.batch_b) = ledger_throughput(&batched, &events, per_append, secs)?;
        let t = Instant::now();
        let verified = verify(&batched)?;
        r.verify = verified.entries as f64 / t.elapsed().as_secs_f64();
        let chunk = vec![0x5a; (r.batch_b.round().max(1.0) as usize) * record];
        let (chunks_per_s, _) = raw_loop(&scratch.path().join("raw-b"), &chunk, secs, 0)?;
        r.raw_b = chunks_per_s * r.batch_b.round().max(1.0);
        let (chunks_per_s, _) = raw_loop(&scratch.path().join("raw-b-busy"), &chunk, secs, spinners)?;
        r.raw_b_busy = chunks_per_s * r.batch_b.round().max(1.0);
        for (slot, linger) in [Duration::ZERO, Duration::from_millis(2)].into_iter().enumerate() {
            let dir = scratch.path().join(format!("latency-{slot}"));
            let (lat, achieved) = ledger_latency(&dir, &events, rate, secs, linger)?;
            r.lat[slot] = (percentile(&lat, 0.5), percentile(&lat, 0.99), percentile(&lat, 0.999), achieved);
        }
        println!(
            "run {run}: raw 1 entry/fdatasync {:.0}/s (p50 {:.3} ms, p99 {:.3} ms) | ledger {:.0}/s, {:.1} entries/batch | raw same batches {:.0}/s, CPUs busy {:.0}/s | ledger x{per_append} {:.0}/s, {:.0} entries/batch, raw same {:.0}/s, busy {:.0}/s | verify {:.0}/s | at {rate}/s: linger 0 p50 {:.3} p99 {:.3} p99.9 {:.3} ms ({:.0}/s), linger 2 ms p50 {:.3} p99 {:.3} p99.9 {:.3} ms",
            r.raw_single,
            r.raw_single_p50,
            r.raw_single_p99,
            r.ledger,
            r.batch,
            r.raw_batched,
            r.raw_batched_busy,
            r.ledger_b,
            r.batch_b,
            r.raw_b,
            r.raw_b_busy,
            r.verify,
            r.lat[0].0,
            r.lat[0].1,
            r.lat[0].2,
            r.lat[0].3,
            r.lat[1].0,
            r.lat[1].1,
            r.lat[1].2
        );
        results.push(r);
    }
    let m = |f: fn(&Run) -> f64| median(results.iter().map(f).collect());
    println!("medians over {runs} runs:");
    println!(
        "  raw write+fdatasync, 1 entry each : {:.0} entries/s (p50 {:.3} ms, p99 {:.3} ms)",
        m(|r| r.raw_single),
        m(|r| r.raw_single_p50),
        m(|r| r.raw_single_p99)
    );
    println!(
        "  ledger, {appenders} appenders           : {:.0} durable entries/s, {:.1} entries per batch",
        m(|r| r.ledger),
        m(|r| r.batch)
    );
    println!(
        "  raw write+fdatasync, same batches : {:.0} entries/s idle CPUs, {:.0} entries/s busy CPUs",
        m(|r| r.raw_batched),
        m(|r| r.raw_batched_busy)
    );
    println!(
        "  ratio ledger / raw same batches   : {:.2} idle, {:.2} busy",
        m(|r| r.ledger / r.raw_batched),
        m(|r| r.ledger / r.raw_batched_busy)
    );
    println!("  ratio ledger / raw 1 per fdatasync: {:.1}", m(|r| r.ledger / r.raw_single));
    println!(
        "  ledger, {appenders} appenders x {per_append} : {:.0} durable entries/s, {:.0} entries per batch",
        m(|r| r.ledger_b),
        m(|r| r.batch_b)
    );
    println!(
        "  raw write+fdatasync, same batches : {:.0} entries/s idle CPUs, {:.0} entries/s busy CPUs",
        m(|r| r.raw_b),
        m(|r| r.raw_b_busy)
    );
    println!(
        "  ratio ledger / raw same batches   : {:.2} idle, {:.2} busy",
        m(|r| r.ledger_b / r.raw_b),
        m(|r| r.ledger_b / r.raw_b_busy)
    );
    println!("  verify (re-hash, tiles, checkpoint): {:.0} entries/s", m(|r| r.verify));
    println!(
        "  at {rate}/s offered, linger 0   : p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms",
        m(|r| r.lat[0].0),
        m(|r| r.lat[0].1),
        m(|r| r.lat[0].2)
    );
    println!(
        "  at {rate}/s offered, linger 2 ms: p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms",
        m(|r| r.lat[1].0),
        m(|r| r.lat[1].1),
        m(|r| r.lat[1].2)
    );
    Ok(())
}
