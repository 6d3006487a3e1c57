//! `vigie bench-scope`: incident scoping measured on a ledger of hundreds of millions of entries.
//!
//! - `generate` writes a sealed ledger directly (not through HTTP): tens of thousands of
//!   accounts with heavy-tailed volumes (log-normal), a session a day each with its sign-in,
//!   weekdays and office hours over N days, plus three planted incidents: ten accounts that
//!   read more on three days, fifty sessions from one shared /24, and four accounts that read
//!   1.6 million distinct persons over five days (the 2025 case). Then a full verification
//!   (recorded, as the server's start records it) and the index.
//! - `query` runs one question in this process from a cold start (no index or tile in memory)
//!   and prints its time; `compare` runs each question in a fresh process, and the network
//!   question again in DuckDB over the same entries exported to Parquet, and prints both times
//!   and their ratio.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use rand::{Rng, SeedableRng};
use vigie_core::category::{CategorySet, DataCategory};
use vigie_core::event::{AccessAction, AccessEvent, Actor, Decision, Effect, Reason, Verdict};
use vigie_core::ids::{AgentId, OrgId, PersonId, RequestId, SessionId};
use vigie_core::incident::scope::ScopeBuilder;
use vigie_core::incident::{Selector, Window};
use vigie_core::org::{OrgKind, Role};
use vigie_core::ports::AccessLedger;
use vigie_core::security::{SecurityEvent, SecurityKind};
use vigie_core::time::{Clock, Timestamp};
use vigie_ledger::seal::KeyRing;
use vigie_ledger::{Ledger, LedgerOptions};
use vigie_scope::{LedgerSource, Query};

#[derive(Subcommand, Debug)]
pub enum BenchScope {
    /// Write the synthetic ledger, verify it, index it.
    Generate(GenArgs),
    /// One question, timed in this process.
    Query {
        #[arg(long)]
        dir: PathBuf,
        #[arg(value_enum)]
        question: Question,
    },
    /// Write N personalised letters (PDF, and the mail-merge CSV) as a campaign would, and time
    /// them; the persons are synthetic, drawn like the registry's.
    Letters {
        #[arg(long, default_value_t = 100_000)]
        persons: u64,
        /// The directory to write into (must not exist); removed afterwards unless --keep.
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        keep: bool,
        /// Threads (default: the cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// The e-mail campaign's sending rate to an SMTP server on loopback (python3-aiosmtpd),
    /// clean and with dropped connections, and what the server took: none lost, none twice.
    Mail {
        /// The scratch directory to create (removed afterwards).
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 20_000)]
        persons: u64,
        /// SMTP connections in parallel.
        #[arg(long, default_value_t = 4)]
        connections: usize,
    },
    /// Every question in a fresh process, and the network question in DuckDB too.
    Compare {
        #[arg(long)]
        dir: PathBuf,
        /// Rounds (fresh processes) per question; medians are reported.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Drop the kernel's page cache before each query, Vigie's and DuckDB's alike (root
        /// only): a cold start from the disk, not only a fresh process.
        #[arg(long)]
        drop_caches: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Question {
    /// Ten accounts over the whole window.
    TenAccounts,
    /// Everything read from one /24 over the whole window (a scan of the window).
    Network,
    /// Four accounts that read 1.6 million persons: the exact list.
    Kairos,
}

#[derive(Args, Debug)]
pub struct GenArgs {
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, default_value_t = 200_000_000)]
    entries: u64,
    #[arg(long, default_value_t = 28)]
    days: i64,
    #[arg(long, default_value_t = 50_000)]
    accounts: u64,
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

const DAY: i64 = 86_400_000;
const SHARED_NET: &str = "203.0.113.0/24";
const TEN: std::ops::RangeInclusive<u64> = 2001..=2010;
const SHARED: std::ops::RangeInclusive<u64> = 1001..=1050;
const KAIROS: std::ops::RangeInclusive<u64> = 3001..=3004;
const KAIROS_PERSONS: u64 = 400_000;
const PERSONS: u64 = 43_000_000;

/// The start of the generated window: midnight UTC `days` days before the day of the ledger's
/// creation is not known at query time, so it is written beside the ledger.
fn span_file(dir: &Path) -> PathBuf {
    dir.join("bench-span")
}

fn kind_of(org: u64) -> OrgKind {
    OrgKind::ALL[(org % OrgKind::ALL.len() as u64) as usize]
}

/// The categories each kind asks for, with the policy that permits each.
fn asked(kind: OrgKind) -> (CategorySet, &'static [(DataCategory, &'static str)]) {
    use DataCategory::*;
    match kind {
        OrgKind::Agency | OrgKind::CapEmploi => (
            CategorySet::ALL,
            &[
                (Identity, "agency-team-reads-caseload"),
                (Nir, "agency-team-reads-caseload"),
                (Contact, "agency-team-reads-caseload"),
                (Status, "agency-team-reads-caseload"),
                (Sensitive, "own-caseload-reads-rqth"),
            ],
        ),
        OrgKind::MissionLocale => (
            [Identity, Contact, Status].into_iter().collect(),
            &[
                (Identity, "mission-locale-reads-followed"),
                (Contact, "mission-locale-reads-followed"),
                (Status, "mission-locale-reads-followed"),
            ],
        ),
        OrgKind::TrainingOrg => (
            [Identity, Contact, Status].into_iter().collect(),
            &[
                (Identity, "training-org-reads-enrolled"),
                (Contact, "training-org-reads-enrolled"),
                (Status, "training-org-reads-enrolled"),
            ],
        ),
        OrgKind::Subcontractor => (
            [Identity, Contact].into_iter().collect(),
            &[(Identity, "subcontractor-reads-assigned"), (Contact, "subcontractor-reads-assigned")],
        ),
    }
}

fn event(
    at: i64,
    (agent, org, kind): (AgentId, OrgId, OrgKind),
    session: u64,
    person: Option<u64>,
    rng: &mut impl Rng,
    reasons: &[Reason],
    requested: CategorySet,
) -> AccessEvent {
    let roll = rng.gen_range(0..100);
    let (person, returned, decision, action) = match (person, roll) {
        (None, _) | (_, 0) => (None, CategorySet::EMPTY, Decision::NoMatch, AccessAction::LookupByFtId),
        (Some(p), 1..=2) => (Some(p), CategorySet::EMPTY, Decision::Deny, AccessAction::View),
        (Some(p), _) => (Some(p), requested, Decision::Allow, AccessAction::View),
    };
    AccessEvent {
        at: Timestamp(at),
        request: RequestId(u128::from(rng.r#gen::<u64>())),
        actor: Actor { agent, org, org_kind: kind, role: Role::Advisor, session: SessionId(session) },
        action,
        person: person.and_then(PersonId::new),
        requested,
        returned,
        relationship: None,
        decision,
        reasons: if decision == Decision::Allow { reasons.to_vec() } else { Vec::new() },
        verdict: Verdict::allow(),
    }
}

pub fn run(cmd: BenchScope) -> anyhow::Result<()> {
    match cmd {
        BenchScope::Generate(a) => generate(&a),
        BenchScope::Query { dir, question } => {
            let (secs, persons, rows) = query(&dir, question)?;
            println!("{question:?}: {secs:.3} s, {persons} persons, {rows} entries");
            Ok(())
        }
        BenchScope::Compare { dir, rounds, drop_caches } => compare(&dir, rounds, drop_caches),
        BenchScope::Letters { persons, out, keep, threads } => letters(persons, &out, keep, threads),
        BenchScope::Mail { dir, persons, connections } => crate::bench_mail::run(&dir, persons, connections),
    }
}

fn generate(a: &GenArgs) -> anyhow::Result<()> {
    if a.dir.join("ledger").exists() {
        bail!("{} already holds a ledger", a.dir.display());
    }
    std::fs::create_dir_all(&a.dir)?;
    let now = crate::app::WallClock.now().0;
    let start = (now / DAY - a.days) * DAY;
    std::fs::write(span_file(&a.dir), format!("{start} {}\n", a.days))?;
    let options = LedgerOptions {
        key_file: Some(a.dir.join("ledger.key")),
        seal_keys: Some(a.dir.join("ledger-keys")),
        ..LedgerOptions::default()
    };
    let ledger = Arc::new(Ledger::open(&a.dir.join("ledger"), options)?);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed);
    // Heavy-tailed daily volumes: log-normal weights, scaled to the entries asked for.
    let weights: Vec<f64> = (0..a.accounts)
        .map(|_| {
            let z: f64 = (0..12).map(|_| rng.r#gen::<f64>()).sum::<f64>() - 6.0;
            (1.2 * z).exp()
        })
        .collect();
    let total_w: f64 = weights.iter().sum();
    let workdays = (0..a.days).filter(|d| ((start / DAY + d + 4) % 7) < 5).count().max(1) as f64;
    let per_day = a.entries as f64 / workdays;
    let started = Instant::now();
    let bar = indicatif::ProgressBar::new(a.entries);
    bar.set_style(
        indicatif::ProgressStyle::with_template("generate [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut session = 0u64;
    let mut written = 0u64;
    for day in 0..a.days {
        let day0 = start + day * DAY;
        let weekday = (day0 / DAY + 4) % 7;
        if weekday >= 5 {
            continue;
        }
        let mut batch: Vec<AccessEvent> = Vec::with_capacity(4096);
        let mut sign_ins: Vec<SecurityEvent> = Vec::new();
        for agent in 1..=a.accounts {
            let w = weights[(agent - 1) as usize] / total_w;
            let mut reads = (per_day * w).round() as u64;
            if TEN.contains(&agent) && (20..23).contains(&day) {
                reads += 2_000;
            }
            let kairos = KAIROS.contains(&agent) && (20..25).contains(&day);
            if kairos {
                // 400 000 distinct persons each over five days, a quarter read twice.
                reads += KAIROS_PERSONS / 5 * 5 / 4;
            }
            if reads == 0 {
                continue;
            }
            session += 1;
            let org = 1 + agent / 20;
            let net = if SHARED.contains(&agent) && (10..15).contains(&day) {
                SHARED_NET.to_owned()
            } else {
                format!("10.{}.{}.0/24", (org >> 8) & 255, org & 255)
            };
            let sign_in = day0 + 7 * 3_600_000 + rng.gen_range(0..3_600_000);
            sign_ins.push(
                SecurityEvent::new(Timestamp(sign_in), SecurityKind::SignIn)
                    .by(AgentId::new(agent).context("agent id")?, OrgId::new(org).context("org id")?)
                    .session(SessionId(session))
                    .context(format!("{net} firefox"))
                    .detail("method", "passkey"),
            );
            let who = (AgentId::new(agent).context("agent id")?, OrgId::new(org).context("org id")?, kind_of(org));
            let (requested, policies) = asked(kind_of(org));
            let reasons: Vec<Reason> = policies
                .iter()
                .map(|(c, p)| Reason { category: *c, effect: Effect::Permit, policy: Some(Arc::from(*p)) })
                .collect();
            // The account's caseload: a block of persons, and a few others.
            let base = (agent * 7_919 * 1_000) % PERSONS;
            for r in 0..reads {
                let at = sign_in + 60_000 + (r as i64) * (10 * 3_600_000 / reads as i64).max(1);
                let person = if kairos {
                    let k = agent - KAIROS.start();
                    let slice = (day - 20) as u64;
                    let i = (r * 4 / 5) % (KAIROS_PERSONS / 5);
                    Some(10_000_000 + k * KAIROS_PERSONS + slice * (KAIROS_PERSONS / 5) + i)
                } else if rng.gen_range(0..10) == 0 {
                    Some(rng.gen_range(1..=PERSONS))
                } else {
                    Some(1 + (base + rng.gen_range(0..2_000)) % PERSONS)
                };
                batch.push(event(at, who, session, person, &mut rng, &reasons, requested));
                if batch.len() == 4096 {
                    if !sign_ins.is_empty() {
                        ledger.record(&sign_ins).map_err(|e| anyhow::anyhow!("{e}"))?;
                        sign_ins.clear();
                    }
                    ledger.append(&batch).map_err(|e| anyhow::anyhow!("{e}"))?;
                    written += batch.len() as u64;
                    bar.set_position(written);
                    batch.clear();
                }
            }
        }
        if !sign_ins.is_empty() {
            ledger.record(&sign_ins).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        if !batch.is_empty() {
            ledger.append(&batch).map_err(|e| anyhow::anyhow!("{e}"))?;
            written += batch.len() as u64;
        }
        bar.set_position(written);
    }
    bar.finish();
    let gen_secs = started.elapsed().as_secs_f64();
    drop(ledger);
    let ledger_dir = a.dir.join("ledger");
    let bytes: u64 = vigie_ledger::list_segments(&ledger_dir)?.iter().map(|s| s.len).sum();
    println!(
        "generated {written} access entries in {gen_secs:.0} s ({:.0}/s), {:.1} GB",
        written as f64 / gen_secs,
        bytes as f64 / 1e9
    );
    let t = Instant::now();
    let verifier =
        vigie_ledger::verifier_from_key_file(&a.dir.join("ledger.key")).map_err(|e| anyhow::anyhow!("{e}"))?;
    let report = vigie_ledger::verify_with(
        &ledger_dir,
        &vigie_ledger::VerifyOptions { verifier: Some(verifier), witness_dirs: vec![] },
        |_, _| {},
    )?;
    vigie_scope::record_verification(&ledger_dir, Ok(report.entries), crate::app::WallClock.now().0)?;
    println!("verified {} entries in {:.0} s", report.entries, t.elapsed().as_secs_f64());
    let t = Instant::now();
    let keys = KeyRing::new(&a.dir.join("ledger-keys"));
    let r = vigie_scope::index::refresh(&ledger_dir, Some(&keys), 1, |d, n| eprint!("\rindex {d}/{n} segments"))?;
    let index_bytes: u64 = std::fs::read_dir(vigie_scope::index::index_dir(&ledger_dir))?
        .flatten()
        .filter_map(|e| e.metadata().ok().map(|m| m.len()))
        .sum();
    eprintln!();
    println!(
        "indexed {} entries in {} files in {:.0} s ({:.0}/s), {:.2} GB ({:.1} B/entry)",
        r.entries_indexed,
        r.files_written,
        t.elapsed().as_secs_f64(),
        r.entries_indexed as f64 / t.elapsed().as_secs_f64(),
        index_bytes as f64 / 1e9,
        index_bytes as f64 / r.entries_indexed.max(1) as f64
    );
    Ok(())
}

fn source(dir: &Path) -> anyhow::Result<LedgerSource> {
    let verifier = vigie_ledger::verifier_from_key_file(&dir.join("ledger.key")).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(LedgerSource {
        dir: dir.join("ledger"),
        keys: Some(KeyRing::new(&dir.join("ledger-keys"))),
        verifier: Some(verifier),
        witness_dirs: vec![],
    })
}

fn span(dir: &Path) -> anyhow::Result<(i64, i64)> {
    let text = std::fs::read_to_string(span_file(dir)).context("bench-span (run generate first)")?;
    let mut it = text.split_whitespace();
    let start: i64 = it.next().context("span")?.parse()?;
    let days: i64 = it.next().context("span")?.parse()?;
    Ok((start, days))
}

/// Runs one question; (seconds, distinct persons released, entries found).
pub fn query(dir: &Path, q: Question) -> anyhow::Result<(f64, u64, usize)> {
    let (start, days) = span(dir)?;
    let whole = Window::new(Timestamp(start), Timestamp(start + days * DAY)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let selectors: Vec<Selector> = match q {
        Question::TenAccounts => TEN.filter_map(AgentId::new).map(Selector::Agent).collect(),
        Question::Network => vec![Selector::Network(SHARED_NET.parse().map_err(|e| anyhow::anyhow!("{e}"))?)],
        Question::Kairos => KAIROS.filter_map(AgentId::new).map(Selector::Agent).collect(),
    };
    let src = source(dir)?;
    let t = Instant::now();
    let found = vigie_scope::run(
        &src,
        &Query { window: whole, selectors, persons: Default::default(), security: false },
        false,
    )?;
    if !found.trust.verified() {
        bail!("the bench ledger fails its checks: {:?}", found.trust.problems);
    }
    let mut b = ScopeBuilder::new();
    for r in &found.rows {
        b.add(r);
    }
    let scope = b.finish(|p| p);
    if q == Question::Kairos {
        // The exact list, written out as the incident's persons.csv would be.
        let path = dir.join("kairos-persons.txt");
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path)?);
        for e in &scope.exposed {
            use std::io::Write;
            writeln!(w, "{},{},{},{}", e.person, e.categories.bits(), e.first.0, e.last.0)?;
        }
    }
    Ok((t.elapsed().as_secs_f64(), scope.counts.persons, found.rows.len()))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Writes the page cache back and drops it (`/proc/sys/vm/drop_caches`, root only).
fn drop_page_cache() -> anyhow::Result<()> {
    let status = Command::new("sync").status().context("sync")?;
    if !status.success() {
        bail!("sync failed");
    }
    std::fs::write("/proc/sys/vm/drop_caches", "3\n").context("dropping the page cache (needs root)")
}

fn compare(dir: &Path, rounds: usize, cold: bool) -> anyhow::Result<()> {
    let cool = || if cold { drop_page_cache() } else { Ok(()) };
    let exe = std::env::current_exe()?;
    let mut ours: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    let mut answers: std::collections::BTreeMap<String, String> = Default::default();
    for _ in 0..rounds.max(1) {
        for q in ["ten-accounts", "network", "kairos"] {
            cool()?;
            let out = Command::new(&exe).args(["bench-scope", "query", "--dir"]).arg(dir).arg(q).output()?;
            if !out.status.success() {
                bail!("query {q}: {}", String::from_utf8_lossy(&out.stderr));
            }
            let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            let secs: f64 = line
                .split(": ")
                .nth(1)
                .and_then(|s| s.split(' ').next())
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN);
            ours.entry(q.to_owned()).or_default().push(secs);
            answers.insert(q.to_owned(), line);
        }
    }
    // DuckDB over the same entries in Parquet.
    let parquet = dir.join("parquet");
    if !parquet.exists() {
        let t = Instant::now();
        let keys = KeyRing::new(&dir.join("ledger-keys"));
        let r = vigie_scope::export::export_parquet(&dir.join("ledger"), Some(&keys), None, None, &parquet, |_| {})?;
        println!("exported {} rows to Parquet in {:.0} s", r.rows, t.elapsed().as_secs_f64());
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/duckdb-scope.py");
    let (start, days) = span(dir)?;
    let mut duck = Vec::new();
    let mut duck_answer = String::new();
    for _ in 0..rounds.max(1) {
        cool()?;
        let out = Command::new("python3")
            .arg(&script)
            .arg(&parquet)
            .arg(SHARED_NET)
            .arg(start.to_string())
            .arg((start + days * DAY).to_string())
            .output()
            .context("python3 scripts/duckdb-scope.py (pip install duckdb)")?;
        if !out.status.success() {
            bail!("duckdb: {}", String::from_utf8_lossy(&out.stderr));
        }
        let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        duck.push(line.split_whitespace().next().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN));
        duck_answer = line;
    }
    for (q, v) in &ours {
        println!("{q:>13}: median {:.3} s over {} fresh processes ({})", median(v.clone()), v.len(), answers[q]);
    }
    // Both must give the same answer, or the times compare nothing.
    let our_persons = answers["network"].split(", ").nth(1).and_then(|p| p.split(' ').next()).unwrap_or("?");
    let duck_persons = duck_answer.split_whitespace().nth(1).unwrap_or("??");
    if our_persons != duck_persons {
        bail!("the network question: Vigie found {our_persons} persons, DuckDB {duck_persons}");
    }
    let n = median(ours["network"].clone());
    let d = median(duck);
    println!(
        "network scan{}: Vigie {n:.3} s, DuckDB {d:.3} s ({duck_answer}); ratio Vigie/DuckDB {:.2}",
        if cold { " (page cache dropped before each)" } else { " (page cache warm)" },
        n / d
    );
    Ok(())
}

/// Peak resident memory of this process, from /proc (kB).
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().trim_end_matches(" kB").parse().unwrap_or(0)))
        })
        .unwrap_or(0)
}

fn letters(n: u64, out: &Path, keep: bool, threads: Option<usize>) -> anyhow::Result<()> {
    use vigie_core::incident::notice::Recipient;
    use vigie_core::incident::scope::Exposed;
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, std::num::NonZero::get));
    let now = crate::app::WallClock.now();
    let incident = vigie_core::incident::Incident {
        id: vigie_core::ids::IncidentId::new(1).context("id")?,
        title: "bench".into(),
        opened_at: now,
        opened_by: vigie_core::incident::Author::Operator,
        awareness_at: now,
        window: Window::new(Timestamp(now.0 - 30 * DAY), now).map_err(|e| anyhow::anyhow!("{e}"))?,
        selectors: vec![],
        alert: None,
        state: vigie_core::incident::IncidentState::Notifying,
        closed_at: None,
    };
    let controller = crate::config_notify::NotifyConfig::default().controller();
    let engine = vigie_notify::PdfEngine::new().map_err(|e| anyhow::anyhow!("{e}"))?;
    // Persons drawn by the registry generator: real French names and communes.
    let params = vigie_gen::GenParams { seed: 9, persons: n, as_of: now.date() };
    let world = vigie_gen::world(&params);
    let gen_started = Instant::now();
    let people: Vec<(Exposed, Recipient)> = (1..=n)
        .filter_map(PersonId::new)
        .map(|id| {
            let p = vigie_gen::person_at(&params, &world, id.get()).person;
            let mut c = CategorySet::EMPTY.with(DataCategory::Identity).with(DataCategory::Contact);
            if id.get() % 7 == 0 {
                c.insert(DataCategory::Nir);
            }
            let e = Exposed {
                person: id,
                records: vec![(id, c)],
                categories: c,
                first: Timestamp(now.0 - 3 * DAY),
                last: Timestamp(now.0 - DAY),
                entries: 1,
                agents: vec![],
                sessions: vec![],
            };
            let r = Recipient {
                person: id,
                sex: p.sex,
                first_name: p.first_name,
                last_name: p.last_name,
                street: p.address.street,
                postcode: p.address.postcode,
                commune: p.address.commune,
                email: p.email,
            };
            (e, r)
        })
        .collect();
    eprintln!("{} persons drawn in {:.1} s", people.len(), gen_started.elapsed().as_secs_f64());
    let bar = indicatif::ProgressBar::new(n);
    bar.set_style(
        indicatif::ProgressStyle::with_template("letters [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let t = Instant::now();
    let run = vigie_notify::LetterRun { engine: &engine, incident: &incident, controller: &controller, today: now };
    let report = vigie_notify::write_letters(&run, &people, out, threads, &|d, _| bar.set_position(d))?;
    bar.finish_and_clear();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{} letters (PDF, one font subset embedded each) + mail-merge CSV in {secs:.1} s: {:.0} letters/s on {threads} threads; {:.1} GB, {:.1} KB a letter; peak RSS {} MB (the {} persons' records held in memory included)",
        report.letters,
        report.letters as f64 / secs,
        report.bytes as f64 / 1e9,
        report.bytes as f64 / report.letters.max(1) as f64 / 1e3,
        peak_rss_kb() / 1024,
        n
    );
    if !keep {
        std::fs::remove_dir_all(out)?;
    }
    Ok(())
}
