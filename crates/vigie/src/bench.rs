//! `vigie bench`: guarded reads per second through the HTTP API, against the same reads
//! without the guard (same store, no session, authorization or ledger), in the same run,
//! alternating rounds so that a noisy neighbour hurts both sides alike. Prints medians over
//! rounds and the ratio; never used as a test.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use vigie_core::ids::PersonId;
use vigie_core::ports::{AccountStore, Registry};
use vigie_core::signin::totp::code_at;
use vigie_core::time::Clock;
use vigie_gen::GenParams;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Registry size (generated once into the data directory, then reused).
    #[arg(long, default_value_t = 100_000)]
    persons: u64,
    /// Data directory; default: vigie-bench-<persons> in the system's temporary directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Rounds per mode; the report gives medians over rounds.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Requests per round and mode in the throughput phase.
    #[arg(long, default_value_t = 4000)]
    requests: usize,
    /// Concurrent clients in the throughput phase.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Sequential requests per round and mode in the latency phase.
    #[arg(long, default_value_t = 500)]
    latency_requests: usize,
    /// Runs one side only, to profile it (`perf record`, `perf stat`); no ratio is printed.
    #[arg(long, value_enum)]
    only: Option<Mode>,
    /// Measures a node on PostgreSQL instead of SQLite: the registry is generated into this
    /// database once (if it has none), the node's ledger goes to the data directory.
    #[arg(long, value_name = "postgres://…")]
    store: Option<String>,
    /// With `--store`: also measures the unguarded read with PostgreSQL's pgaudit logging every
    /// `SELECT` (the peer a database administrator would pick), toggled between phases (the
    /// URL's user must be a superuser; the server must load pgaudit).
    #[arg(long, requires = "store")]
    pgaudit: bool,
    /// Also measures latency at a fixed rate (reads a second, open loop: a late request counts
    /// from when it was due), for `--paced-seconds` per round and mode. 0: off.
    #[arg(long, default_value_t = 0)]
    rate: u32,
    #[arg(long, default_value_t = 5)]
    paced_seconds: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    Unguarded,
    Guarded,
    /// The unguarded read with pgaudit logging it on the server (`--pgaudit`).
    Audited,
}

/// The node measured, on either store.
struct Node {
    state: Arc<vigie_http::AppState>,
    ledger: Arc<vigie_ledger::Ledger>,
    registry: Arc<dyn Registry>,
    accounts: Arc<dyn AccountStore>,
    /// The application itself, held until the end (its detector writes a snapshot on drop).
    _keep: Box<dyn std::any::Any + Send>,
}

#[derive(Debug, Default)]
struct Samples {
    rps: Vec<f64>,
    /// CPU time of the whole process (client, server, guard, ledger threads) per request, in
    /// µs, one figure a round: what a read costs, which a neighbour's load on this shared
    /// machine moves much less than it moves throughput.
    cpu_us: Vec<f64>,
    latencies_us: Vec<f64>,
    /// Latencies at the fixed `--rate`, from each request's due time.
    paced_us: Vec<f64>,
    /// Paced reads that failed (a 503 when the store's pool had no connection in time).
    paced_failed: usize,
    /// The ledger writer's share of the throughput phase, one figure a round (guarded only).
    writer: Vec<WriterLoad>,
}

/// What the ledger's writer thread did during one throughput phase: the durability that every
/// guarded read waits for, measured apart from the rest of the process.
#[derive(Debug, Clone, Copy)]
struct WriterLoad {
    syncs_per_s: f64,
    entries_per_sync: f64,
    /// The writer thread's CPU (its `write`, `fdatasync` and wake-ups) per sync, in µs.
    cpu_per_sync_us: f64,
    /// The writer thread's CPU over the whole process's, in the phase.
    share: f64,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.rounds == 0 || args.requests == 0 || args.concurrency == 0 || args.latency_requests == 0 {
        bail!("--rounds, --requests, --concurrency and --latency-requests must be positive");
    }
    let data_dir =
        args.data_dir.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("vigie-bench-{}", args.persons)));
    let pg = match &args.store {
        Some(url) => Some(vigie_store_pg::StoreUrl::parse(url).context("--store")?),
        None => None,
    };
    if let Some(url) = &pg {
        let params = GenParams { seed: 2026, persons: args.persons, as_of: crate::app::WallClock.now().date() };
        match crate::generate::generate_postgres(url, &params, false, true) {
            Ok(_) => eprintln!("bench: generated {} persons into {url}", args.persons),
            Err(e) if format!("{e:#}").contains("already has a registry") => {
                eprintln!("bench: reusing the registry in {url}")
            }
            Err(e) => return Err(e),
        }
        std::fs::create_dir_all(&data_dir)?;
        std::fs::set_permissions(&data_dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    } else if !data_dir.join(vigie_store::DB_FILE).exists() {
        eprintln!("bench: generating {} persons into {}", args.persons, data_dir.display());
        let params = GenParams { seed: 2026, persons: args.persons, as_of: crate::app::WallClock.now().date() };
        crate::generate::generate(&data_dir, &params, false, true)?;
    }
    let mut settings = crate::app::settings(&data_dir, "http://localhost:8080")?;
    settings.http.dangerous_unguarded_bench_route = true;
    settings.http.rates = vigie_http::shared::rates::RateSettings::dangerous_unlimited();
    settings.http.limits.max_in_flight = 100_000;
    // Detection on, with quotas out of reach: the bench re-reads the same caseload for minutes,
    // which a real advisor never does; what is measured is the detector's cost, not its verdicts.
    if let Some(d) = settings.detection.as_mut() {
        for t in d.thresholds.values_mut() {
            *t = vigie_core::detect::Thresholds {
                quota_hour: 1_000_000,
                quota_day: 1_000_000,
                quota_week: 1_000_000,
                sequential_run: 1_000_000,
                // The bench lists the advisor's scope (up to 2 000 lines) at each run: a few
                // runs in an hour would otherwise ask for a step-up.
                scope_lines_hour: 1_000_000,
                ..*t
            };
        }
    }
    let app = match &pg {
        None => {
            let app = crate::app::open(&data_dir, None, settings)?;
            let (registry, accounts): (Arc<dyn Registry>, Arc<dyn AccountStore>) =
                (app.store.clone(), app.store.clone());
            Node { state: app.state.clone(), ledger: app.ledger.clone(), registry, accounts, _keep: Box::new(app) }
        }
        Some(url) => {
            let key = data_dir.join("secrets.key");
            let options = vigie_store_pg::PgOptions { pool_size: 32, ..vigie_store_pg::PgOptions::new(key) };
            let app = crate::app_pg::open(&data_dir, None, settings, url, &options, Arc::new(crate::app::WallClock))?;
            let (registry, accounts): (Arc<dyn Registry>, Arc<dyn AccountStore>) =
                (app.store.clone(), app.store.clone());
            Node { state: app.state.clone(), ledger: app.ledger.clone(), registry, accounts, _keep: Box::new(app) }
        }
    };
    let today = crate::app::WallClock.now().date();

    // The busiest agency advisor we can find quickly: a caseload to read from.
    let (agent, _org, _) = crate::demo::pick_accounts_in(app.registry.as_ref(), today)?
        .into_iter()
        .find(|(a, o, _)| o.kind == vigie_core::org::OrgKind::Agency && a.role == vigie_core::org::Role::Advisor)
        .context("no agency advisor with a caseload in this registry")?;
    let issued = crate::credentials::issue(app.accounts.as_ref(), agent.id)?;

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = app.state.clone();
        tokio::spawn(vigie_http::serve(listener, state, std::future::pending()));
        let base = format!("http://{addr}");
        let client = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency * 2).build()?;

        // A TOTP code is accepted once: if a previous run used this step, wait for the next one.
        let mut login = serde_json::Value::Null;
        for attempt in 0..2 {
            let code = code_at(&issued.totp, crate::app::WallClock.now().seconds());
            let resp = client
                .post(format!("{base}/v1/login"))
                .json(&serde_json::json!({"login": agent.login.as_str(), "password": issued.password.expose(), "totp": code}))
                .send()
                .await?;
            if resp.status() == reqwest::StatusCode::UNAUTHORIZED && attempt == 0 {
                let into_step = crate::app::WallClock.now().millis().rem_euclid(30_000);
                tokio::time::sleep(std::time::Duration::from_millis((30_000 - into_step + 200) as u64)).await;
                continue;
            }
            login = resp.error_for_status().context("bench login")?.json().await?;
            break;
        }
        let mut token = login["access_token"].as_str().context("login returned no token")?.to_owned();
        let refresh = login["refresh_token"].as_str().context("login returned no refresh token")?.to_owned();
        let ids = scope_ids(&client, &base, &token).await?;
        if ids.is_empty() {
            bail!("the bench advisor's scope is empty");
        }
        eprintln!("bench: advisor {} with {} persons in scope; {} rounds", agent.login, ids.len(), args.rounds);

        // The same client context as the HTTP client's (loopback, no user agent).
        let me = vigie_http::shared::client::Client {
            ip: std::net::Ipv4Addr::LOCALHOST.into(),
            context: vigie_core::signin::ClientContext::new(std::net::Ipv4Addr::LOCALHOST.into(), ""),
            user_agent: String::new(),
        };
        let caller = {
            let st = app.state.clone();
            let presented = vigie_http::shared::tokens::Presented {
                access: Some(vigie_core::signin::SessionToken::parse(&token).context("token")?),
                ..Default::default()
            };
            let me = me.clone();
            tokio::task::spawn_blocking(move || vigie_http::shared::auth::authenticate(&st, &presented, &me))
                .await?
                .map_err(|p| anyhow::anyhow!("authenticate: {}", p.detail))?
                .caller
        };
        // Profiling one side measures that side's requests only: no in-process breakdown.
        let parts = if args.only.is_some() {
            Vec::new()
        } else {
            let (st, ids, ledger) = (app.state.clone(), ids.clone(), app.ledger.clone());
            let token = vigie_core::signin::SessionToken::parse(&token).context("token")?;
            tokio::task::spawn_blocking(move || breakdown(&st, &ledger, &caller, &token, &me, &ids)).await??
        };
        let ids = Arc::new(ids);
        let mut unguarded = Samples::default();
        let mut guarded = Samples::default();
        let mut audited = Samples::default();
        let audit_url = if args.pgaudit { pg.clone() } else { None };
        let set_audit = |on: bool| {
            let url = audit_url.clone();
            async move {
                match url {
                    Some(url) => tokio::task::spawn_blocking(move || vigie_store_pg::audit::set_read_logging(&url, on))
                        .await?
                        .context("--pgaudit"),
                    None => Ok(()),
                }
            }
        };
        set_audit(false).await?;
        for round in 0..args.rounds {
            let mut order =
                if round % 2 == 0 { vec![Mode::Unguarded, Mode::Guarded] } else { vec![Mode::Guarded, Mode::Unguarded] };
            if args.pgaudit {
                order.insert(round % 3, Mode::Audited);
            }
            for mode in order.into_iter().filter(|m| args.only.is_none_or(|o| o == *m)) {
                // The access token lives five minutes: take a fresh one before each phase.
                token = refreshed(&client, &base, &refresh).await?;
                set_audit(mode == Mode::Audited).await?;
                let target = match mode {
                    Mode::Guarded => &mut guarded,
                    Mode::Unguarded => &mut unguarded,
                    Mode::Audited => &mut audited,
                };
                let mut lat = latency_phase(&client, &base, &token, &ids, mode, args.latency_requests).await?;
                target.latencies_us.append(&mut lat);
                if args.rate > 0 {
                    let (mut paced, failed) =
                        paced_phase(&client, &base, &token, &ids, mode, args.rate, args.paced_seconds).await?;
                    target.paced_us.append(&mut paced);
                    target.paced_failed += failed;
                }
                let (cpu_before, writer_before, stats_before) =
                    (process_cpu_secs(), thread_cpu_secs(LEDGER_WRITER), app.ledger.stats());
                let started = Instant::now();
                let rps = throughput_phase(&client, &base, &token, &ids, mode, args.requests, args.concurrency).await?;
                let elapsed = started.elapsed().as_secs_f64();
                target.rps.push(rps);
                let (cpu_after, writer_after, stats_after) =
                    (process_cpu_secs(), thread_cpu_secs(LEDGER_WRITER), app.ledger.stats());
                let cpu_us = match (cpu_before, cpu_after) {
                    (Some(a), Some(b)) => (b - a) * 1e6 / args.requests as f64,
                    _ => f64::NAN,
                };
                target.cpu_us.push(cpu_us);
                let syncs = stats_after.batches - stats_before.batches;
                if let (Mode::Guarded, Some(a), Some(b), Some(wa), Some(wb)) =
                    (mode, cpu_before, cpu_after, writer_before, writer_after)
                    && syncs > 0
                {
                    target.writer.push(WriterLoad {
                        syncs_per_s: syncs as f64 / elapsed,
                        entries_per_sync: (stats_after.entries - stats_before.entries) as f64 / syncs as f64,
                        cpu_per_sync_us: (wb - wa) * 1e6 / syncs as f64,
                        share: if b > a { (wb - wa) / (b - a) } else { f64::NAN },
                    });
                }
                eprintln!("bench: round {} {:?}: {:.0} req/s, {:.0} µs CPU per request", round + 1, mode, rps, cpu_us);
            }
        }
        set_audit(false).await?;
        if args.only.is_some() {
            return Ok(());
        }
        report(&args, &unguarded, &guarded, &app.ledger.stats());
        if args.pgaudit || args.rate > 0 {
            println!();
            report_modes(&args, &[("unguarded", &unguarded), ("guarded", &guarded), ("unguarded + pgaudit", &audited)]);
        }
        println!();
        println!("In-process cost of each stage of one guarded read (median over {} reads, µs):", BREAKDOWN_N);
        println!("| stage | median µs |");
        println!("|---|---:|");
        for (name, us) in parts {
            println!("| {name} | {us:.1} |");
        }
        Ok(())
    })
}

async fn refreshed(client: &reqwest::Client, base: &str, refresh: &str) -> anyhow::Result<String> {
    let v: serde_json::Value = client
        .post(format!("{base}/v1/session/refresh"))
        .bearer_auth(refresh)
        .send()
        .await?
        .error_for_status()
        .context("refreshing the bench session")?
        .json()
        .await?;
    Ok(v["access_token"].as_str().context("refresh returned no token")?.to_owned())
}

pub(crate) async fn scope_ids(client: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<Vec<PersonId>> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    while ids.len() < 2_000 {
        let mut url = format!("{base}/v1/scope?limit=100");
        if let Some(a) = &after {
            url.push_str(&format!("&after={a}"));
        }
        let page: serde_json::Value =
            client.get(url).bearer_auth(token).send().await?.error_for_status()?.json().await?;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        ids.extend(items.iter().filter_map(|i| i["id"].as_str()).filter_map(|s| s.parse::<PersonId>().ok()));
        match page["next_after"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => break,
        }
    }
    Ok(ids)
}

async fn one(client: &reqwest::Client, base: &str, token: &str, id: PersonId, mode: Mode) -> anyhow::Result<()> {
    let resp = match mode {
        Mode::Guarded => client.get(format!("{base}/v1/persons/{id}")).bearer_auth(token).send().await?,
        Mode::Unguarded | Mode::Audited => client.get(format!("{base}/bench/unguarded/persons/{id}")).send().await?,
    };
    let status = resp.status();
    let body = resp.bytes().await?;
    if !status.is_success() || body.len() < 10 {
        bail!("{mode:?} read of {id} failed: {status}");
    }
    Ok(())
}

async fn latency_phase(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    ids: &[PersonId],
    mode: Mode,
    n: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        one(client, base, token, ids[i % ids.len()], mode).await?;
        out.push(t.elapsed().as_secs_f64() * 1e6);
    }
    Ok(out)
}

async fn throughput_phase(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    ids: &Arc<Vec<PersonId>>,
    mode: Mode,
    requests: usize,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (client, base, token, ids, next) =
            (client.clone(), base.to_owned(), token.to_owned(), ids.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= requests {
                    return Ok::<(), anyhow::Error>(());
                }
                one(&client, &base, &token, ids[i % ids.len()], mode).await?;
            }
        }));
    }
    for t in tasks {
        t.await.context("bench client task")??;
    }
    Ok(requests as f64 / started.elapsed().as_secs_f64().max(1e-9))
}

/// Requests at a fixed rate for `seconds`, each sent when due (open loop) on its own task; a
/// request's latency counts from when it was due, so a stall shows in every request it delays.
/// Returns the latencies of the reads served and how many failed.
async fn paced_phase(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    ids: &Arc<Vec<PersonId>>,
    mode: Mode,
    rate: u32,
    seconds: u64,
) -> anyhow::Result<(Vec<f64>, usize)> {
    let n = (u64::from(rate) * seconds) as usize;
    let interval = std::time::Duration::from_secs_f64(1.0 / f64::from(rate));
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let due = started + interval * u32::try_from(i).unwrap_or(u32::MAX);
        tokio::time::sleep_until(due).await;
        let (client, base, token, id) = (client.clone(), base.to_owned(), token.to_owned(), ids[i % ids.len()]);
        tasks.push(tokio::spawn(async move {
            one(&client, &base, &token, id, mode).await.map(|()| due.elapsed().as_secs_f64() * 1e6)
        }));
    }
    let (mut out, mut failed) = (Vec::with_capacity(n), 0);
    for t in tasks {
        match t.await.context("paced client task")? {
            Ok(us) => out.push(us),
            Err(_) => failed += 1,
        }
    }
    Ok((out, failed))
}

/// Every mode measured, side by side: throughput, CPU, sequential and paced latencies.
fn report_modes(args: &BenchArgs, modes: &[(&str, &Samples)]) {
    println!(
        "Side by side ({} store, medians over rounds; paced: {} reads/s for {} s a round, from each read's due time):",
        if args.store.is_some() { "PostgreSQL" } else { "SQLite" },
        args.rate,
        args.paced_seconds
    );
    println!("| read | req/s | CPU µs/req | p50 µs | p99 µs | paced p50 µs | paced p99 µs | paced failed |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, s) in modes {
        if s.rps.is_empty() {
            continue;
        }
        let (mut lat, mut paced) = (s.latencies_us.clone(), s.paced_us.clone());
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} of {} |",
            median(&mut s.rps.clone()),
            median(&mut s.cpu_us.clone()),
            median(&mut lat),
            percentile(&mut lat, 0.99),
            median(&mut paced),
            percentile(&mut paced, 0.99),
            s.paced_failed,
            s.paced_failed + s.paced_us.len()
        );
    }
}

/// CPU time this process has used so far, all threads included (exited ones too), from the
/// `utime` and `stime` of `/proc/self/stat`, which count in 1/100 s (Linux's `USER_HZ`, fixed
/// at 100 for user space). `None` where there is no such file.
pub(crate) fn process_cpu_secs() -> Option<f64> {
    stat_cpu_secs(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// The name the ledger gives its writer thread, as `/proc` shows it (cut to 15 bytes).
const LEDGER_WRITER: &str = "vigie-ledger-wr";

/// CPU time used so far by this process's live threads named `comm` (as `/proc/self/task/*/comm`
/// shows names: at most 15 bytes), from their `stat` files; `None` where there is no such
/// thread or no `/proc`.
fn thread_cpu_secs(comm: &str) -> Option<f64> {
    let mut total = None;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let path = task.path();
        if std::fs::read_to_string(path.join("comm")).ok().as_deref().map(str::trim_end) != Some(comm) {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).ok()?;
        *total.get_or_insert(0.0) += stat_cpu_secs(&stat)?;
    }
    total
}

/// `utime` + `stime` of a `/proc/…/stat` line, in seconds (they count in 1/100 s: Linux's
/// `USER_HZ`, fixed at 100 for user space).
fn stat_cpu_secs(stat: &str) -> Option<f64> {
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

pub(crate) fn median(v: &mut [f64]) -> f64 {
    percentile(v, 0.5)
}

pub(crate) fn percentile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let idx = ((v.len() - 1) as f64 * q).round() as usize;
    v[idx.min(v.len() - 1)]
}

fn report(args: &BenchArgs, unguarded: &Samples, guarded: &Samples, ledger: &vigie_ledger::LedgerStats) {
    let (mut ur, mut gr) = (unguarded.rps.clone(), guarded.rps.clone());
    let (mut ul, mut gl) = (unguarded.latencies_us.clone(), guarded.latencies_us.clone());
    let (u_rps, g_rps) = (median(&mut ur), median(&mut gr));
    let (u_cpu, g_cpu) = (median(&mut unguarded.cpu_us.clone()), median(&mut guarded.cpu_us.clone()));
    let (u_p50, g_p50) = (median(&mut ul), median(&mut gl));
    let (u_p99, g_p99) = (percentile(&mut ul, 0.99), percentile(&mut gl, 0.99));
    println!();
    println!(
        "vigie bench: {} persons, {} rounds, {} concurrent clients x {} requests per round, {} sequential for latency",
        args.persons, args.rounds, args.concurrency, args.requests, args.latency_requests
    );
    println!(
        "| mode | throughput (median req/s) | CPU per request (median µs) | latency p50 (µs) | latency p99 (µs) |"
    );
    println!("|---|---:|---:|---:|---:|");
    println!("| unguarded (store read only) | {u_rps:.0} | {u_cpu:.0} | {u_p50:.0} | {u_p99:.0} |");
    println!("| guarded (session, Cedar, ledger fsync) | {g_rps:.0} | {g_cpu:.0} | {g_p50:.0} | {g_p99:.0} |");
    println!();
    println!(
        "guarded/unguarded throughput: {:.2} (guard costs {:.0}% of throughput; target ≤ 30%)",
        g_rps / u_rps,
        (1.0 - g_rps / u_rps) * 100.0
    );
    println!(
        "CPU per request (client included): unguarded/guarded {:.2}, the guard adds {:.0} µs: the throughput \
         ratio when the CPUs, not the ledger's fsync, are what runs out",
        u_cpu / g_cpu,
        g_cpu - u_cpu
    );
    println!("median added latency: {:.0} µs (target < 100 µs)", g_p50 - u_p50);
    if !guarded.writer.is_empty() {
        let m = |f: fn(&WriterLoad) -> f64| median(&mut guarded.writer.iter().map(f).collect::<Vec<_>>());
        println!(
            "ledger writer in the guarded phase (medians): {:.0} syncs/s, {:.1} entries per sync, {:.0} µs CPU per \
             sync, {:.0}% of the process's CPU",
            m(|w| w.syncs_per_s),
            m(|w| w.entries_per_sync),
            m(|w| w.cpu_per_sync_us),
            m(|w| w.share) * 100.0
        );
    }
    println!("ledger: {ledger:?}");
}

const BREAKDOWN_N: usize = 2_000;

/// Times each stage of the guarded read on its own, in process, to explain the end-to-end
/// figures: session resolution, relationship query, Cedar, person fetch, one durable append,
/// and the whole `Guard::read`.
fn breakdown(
    state: &vigie_http::AppState,
    ledger: &vigie_ledger::Ledger,
    caller: &vigie_core::guard::Caller,
    token: &vigie_core::signin::SessionToken,
    me: &vigie_http::shared::client::Client,
    ids: &[PersonId],
) -> anyhow::Result<Vec<(&'static str, f64)>> {
    let registry = state.registry.as_ref();
    let authz = state.guard.authz.as_ref();
    let day = state.clock.now().date();
    let mut out = Vec::new();
    let mut time = |name: &'static str, f: &mut dyn FnMut(usize) -> anyhow::Result<()>| -> anyhow::Result<()> {
        let mut v = Vec::with_capacity(BREAKDOWN_N);
        for i in 0..BREAKDOWN_N {
            let t = Instant::now();
            f(i)?;
            v.push(t.elapsed().as_secs_f64() * 1e6);
        }
        out.push((name, median(&mut v)));
        Ok(())
    };
    time("session → caller (1 store read, binding check)", &mut |_| {
        let presented = vigie_http::shared::tokens::Presented { access: Some(token.clone()), ..Default::default() };
        vigie_http::shared::auth::authenticate(state, &presented, me)
            .map(|_| ())
            .map_err(|p| anyhow::anyhow!("{}", p.detail))
    })?;
    time("active relationships of the person", &mut |i| {
        Ok(registry.active_relationships(ids[i % ids.len()], day).map(|_| ())?)
    })?;
    let rels: Vec<_> =
        ids.iter().take(64).map(|id| registry.active_relationships(*id, day)).collect::<Result<_, _>>()?;
    let ctx = vigie_core::authz::AuthContext { mfa: true };
    for (name, memo) in [
        ("Cedar evaluation: slice + 5 category decisions (memo miss)", false),
        ("authorization as the guard does it (memo)", true),
    ] {
        time(name, &mut |i| {
            let (r, person) = (&rels[i % rels.len()], ids[i % rels.len()].get());
            let all = vigie_core::CategorySet::ALL;
            std::hint::black_box(if memo {
                authz.decide(&caller.agent, &caller.org, person, r, ctx, all)
            } else {
                authz.evaluate(&caller.agent, &caller.org, person, r, ctx, all)
            });
            Ok(())
        })?;
    }
    time("person record fetch", &mut |i| Ok(registry.person(ids[i % ids.len()]).map(|_| ())?))?;
    let meta = |i: usize| vigie_core::guard::RequestMeta {
        request: vigie_core::ids::RequestId(i as u128),
        at: state.clock.now(),
    };
    let sample = {
        let rec = state.guard.read(caller, meta(0), ids[0], vigie_core::CategorySet::ALL);
        rec.map_err(|e| anyhow::anyhow!("guard read: {e}"))?;
        ledger.entries()?.last().context("an entry")??.body
    };
    time("ledger: one durable append (write + fdatasync)", &mut |_| {
        Ok(ledger.append_bodies(&[&sample]).map(|_| ())?)
    })?;
    time("whole Guard::read (no HTTP, no session)", &mut |i| {
        state
            .guard
            .read(caller, meta(i), ids[i % ids.len()], vigie_core::CategorySet::ALL)
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("{e}"))
    })?;
    // The same read from many threads at once: group commit should batch their appends.
    let before = ledger.stats();
    let started = Instant::now();
    let threads = 32;
    let per_thread = BREAKDOWN_N / 4;
    std::thread::scope(|s| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || -> anyhow::Result<()> {
                    for i in 0..per_thread {
                        let k = t * per_thread + i;
                        state
                            .guard
                            .read(caller, meta(k), ids[k % ids.len()], vigie_core::CategorySet::ALL)
                            .map_err(|e| anyhow::anyhow!("{e}"))?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| anyhow::anyhow!("a bench thread panicked"))??;
        }
        Ok(())
    })?;
    let after = ledger.stats();
    let reads = (threads * per_thread) as f64;
    out.push(("Guard::read from 32 threads: reads/s (not µs)", reads / started.elapsed().as_secs_f64()));
    out.push((
        "… entries per fsync batch (not µs)",
        (after.entries - before.entries) as f64 / (after.batches - before.batches).max(1) as f64,
    ));
    Ok(out)
}
