//! `vigie bench-cluster`: guarded reads per second of one node against `--nodes` nodes on the
//! same PostgreSQL, the nodes started in this process (each with its own data directory, pool,
//! ledger, detector and heartbeat, as `vigie serve` starts them), many agents reading their
//! caseloads at once. Requests go to the nodes in turn, as a balancer that knows nothing of
//! ownership would send them: with N nodes, about (N-1)/N of them take one forwarding hop to
//! the agent's node. Prints medians over rounds, the ratio, and this process's CPU (the nodes')
//! so that the bottleneck shows; never used as a test.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use vigie_core::ids::{AgentId, PersonId};
use vigie_core::org::{OrgKind, Role};
use vigie_core::ports::Registry;
use vigie_core::signin::totp::code_at;
use vigie_core::time::Clock;
use vigie_gen::GenParams;

#[derive(clap::Args, Debug)]
pub struct BenchClusterArgs {
    /// The PostgreSQL database (its registry generated once if it has none).
    #[arg(long, value_name = "postgres://…")]
    store: String,
    /// Nodes of the cluster measured against one.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Registry size, if it must be generated.
    #[arg(long, default_value_t = 100_000)]
    persons: u64,
    /// Agents reading at once (agency advisors, one session each).
    #[arg(long, default_value_t = 32)]
    agents: usize,
    /// Concurrent requests.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Rounds per side; medians over rounds.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds per round.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Where the nodes' data directories go; default: vigie-bench-cluster in the temporary
    /// directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// One side's rounds.
#[derive(Debug, Default)]
struct Side {
    rps: Vec<f64>,
    p50_us: Vec<f64>,
    p99_us: Vec<f64>,
    cpu_cores: Vec<f64>,
    failed: u64,
}

struct Reader {
    token: String,
    route: String,
    persons: Vec<PersonId>,
}

pub fn run(args: BenchClusterArgs) -> anyhow::Result<()> {
    if args.nodes < 2 || args.nodes > 9 || args.agents == 0 || args.concurrency == 0 || args.rounds == 0 {
        bail!("--nodes 2 to 9; --agents, --concurrency, --rounds positive");
    }
    let url = vigie_store_pg::StoreUrl::parse(&args.store).context("--store")?;
    let params = GenParams { seed: 2026, persons: args.persons, as_of: crate::app::WallClock.now().date() };
    match crate::generate::generate_postgres(&url, &params, false, true) {
        Ok(_) => eprintln!("bench-cluster: generated {} persons into {url}", args.persons),
        Err(e) if format!("{e:#}").contains("already has a registry") => {
            eprintln!("bench-cluster: reusing the registry in {url}")
        }
        Err(e) => return Err(e),
    }
    let root = args.data_dir.clone().unwrap_or_else(|| std::env::temp_dir().join("vigie-bench-cluster"));
    private_dir(&root)?;
    let key = root.join("secrets.key");

    // The agents, their credentials issued before any node loads the keyring.
    let store = vigie_store_pg::PgStore::open(&url, &vigie_store_pg::PgOptions::new(key.clone()))?;
    let today = crate::app::WallClock.now().date();
    let agents: Vec<_> = (1..1_000_000u64)
        .filter_map(AgentId::new)
        .map_while(|id| store.agent(id).ok().flatten())
        .filter(|a| a.active && a.role == Role::Advisor)
        .filter(|a| store.organization(a.org).ok().flatten().is_some_and(|o| o.kind == OrgKind::Agency && o.active))
        .take(args.agents)
        .collect();
    if agents.len() < args.agents {
        bail!("only {} active agency advisors in this registry", agents.len());
    }
    let issued: Vec<_> = agents
        .iter()
        .map(|a| crate::credentials::issue(&store, a.id).map(|i| (a.clone(), i)))
        .collect::<anyhow::Result<_>>()?;
    drop(store);
    let _ = today;

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut one = Side::default();
    let mut many = Side::default();
    let client = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(args.concurrency * 2).build()?;
    let mut readers: Vec<Reader> = Vec::new();
    for (count, side) in [(1, &mut one), (args.nodes, &mut many)] {
        let nodes = start_nodes(&root, &url, &key, count)?;
        let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
        rt.block_on(async {
            wait_balanced(&client, &nodes).await?;
            if readers.is_empty() {
                readers = sign_in_all(&client, &bases[0], &issued).await?;
            }
            for round in 0..args.rounds {
                let (rps, p50, p99, cores, failed) =
                    round_of(&client, &bases, &readers, args.concurrency, Duration::from_secs(args.seconds)).await;
                eprintln!(
                    "bench-cluster: {count} node(s), round {}: {rps:.0} reads/s, p50 {p50:.0} µs, p99 {p99:.0} µs, {cores:.2} cores, {failed} failed",
                    round + 1
                );
                side.rps.push(rps);
                side.p50_us.push(p50);
                side.p99_us.push(p99);
                side.cpu_cores.push(cores);
                side.failed += failed;
            }
            anyhow::Ok(())
        })?;
        // Stopped before the next side starts: their heartbeats leave the cluster.
        drop(nodes);
        std::thread::sleep(Duration::from_millis(500));
    }
    report(&args, &mut one, &mut many);
    Ok(())
}

fn private_dir(p: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(p).with_context(|| format!("{}", p.display()))?;
    std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    Ok(())
}

/// Starts `count` nodes on free loopback ports, each as `vigie serve` would with `[cluster]`.
fn start_nodes(
    root: &std::path::Path,
    url: &vigie_store_pg::StoreUrl,
    key: &std::path::Path,
    count: usize,
) -> anyhow::Result<Vec<BenchNode>> {
    let mut out = Vec::new();
    for i in 1..=count {
        let dir = root.join(format!("n{i}"));
        private_dir(&dir)?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let mut settings = crate::app::settings(&dir, "http://localhost:8080")?;
        settings.http.rates = vigie_http::shared::rates::RateSettings::dangerous_unlimited();
        settings.http.limits.max_in_flight = 100_000;
        settings.http.trusted_proxies = vec![std::net::Ipv4Addr::LOCALHOST.into()];
        settings.ledger.origin = format!("localhost/bench/n{i}");
        // Quotas out of reach, as in `vigie bench`: what is measured is the detector's cost.
        if let Some(d) = settings.detection.as_mut() {
            for t in d.thresholds.values_mut() {
                *t = vigie_core::detect::Thresholds {
                    quota_hour: 1_000_000,
                    quota_day: 1_000_000,
                    quota_week: 1_000_000,
                    sequential_run: 1_000_000,
                    scope_lines_hour: 1_000_000,
                    ..*t
                };
            }
        }
        let cluster = crate::config_cluster::ClusterConfig {
            node: format!("n{i}"),
            address: Some(addr),
            heartbeat_ms: 100,
            lease_ms: 500,
            max_clock_skew_ms: 1_000,
        }
        .settings(addr, &[addr.ip()])?;
        let options = vigie_store_pg::PgOptions { pool_size: 16, ..vigie_store_pg::PgOptions::new(key.to_path_buf()) };
        let app = crate::app_pg::open_node(
            &dir,
            None,
            settings,
            url,
            &options,
            Arc::new(crate::app::WallClock),
            Some(cluster),
        )?;
        listener.set_nonblocking(true)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = app.state.clone();
        let server = std::thread::Builder::new().name("bench-node".into()).spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                if let Ok(l) = tokio::net::TcpListener::from_std(listener) {
                    let _ = vigie_http::serve(l, state, async move {
                        let _ = stopped.await;
                    })
                    .await;
                }
            });
            rt.shutdown_timeout(Duration::from_secs(5));
        })?;
        out.push(BenchNode { app: Some(app), base: format!("http://{addr}"), stop: Some(stop), server: Some(server) });
    }
    Ok(out)
}

/// A node served on a runtime thread of its own; dropping it stops the server first, then the
/// node (its last checkpoint and snapshot, its leaving the cluster).
struct BenchNode {
    app: Option<crate::app_pg::PgApp>,
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<std::thread::JoinHandle<()>>,
}

impl BenchNode {
    fn judging(&self) -> usize {
        self.app.as_ref().and_then(|a| a.cluster.as_ref()).map_or(0, |(n, _)| n.judging())
    }
}

impl Drop for BenchNode {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.server.take() {
            let _ = t.join();
        }
        drop(self.app.take());
    }
}

/// Waits until every key group is judged by one of the nodes, and each node judges some.
async fn wait_balanced(client: &reqwest::Client, nodes: &[BenchNode]) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let judging: Vec<usize> = nodes.iter().map(BenchNode::judging).collect();
        let total: usize = judging.iter().sum();
        if total == usize::from(vigie_core::route::KEY_GROUPS) && judging.iter().all(|j| *j > 0) {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the nodes did not share the key groups within a minute: {judging:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for n in nodes {
        client.get(format!("{}/healthz", n.base)).send().await?.error_for_status()?;
    }
    Ok(())
}

async fn sign_in_all(
    client: &reqwest::Client,
    base: &str,
    issued: &[(vigie_core::org::Agent, crate::credentials::Issued)],
) -> anyhow::Result<Vec<Reader>> {
    let mut out = Vec::new();
    for (agent, creds) in issued {
        let code = code_at(&creds.totp, crate::app::WallClock.now().seconds());
        let login: serde_json::Value = client
            .post(format!("{base}/v1/login"))
            .json(
                &serde_json::json!({"login": agent.login.as_str(), "password": creds.password.expose(), "totp": code}),
            )
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("signing {} in", agent.login))?
            .json()
            .await?;
        let token = login["access_token"].as_str().context("no token")?.to_owned();
        let route = login["route"].as_str().context("no routing value: is the node in a cluster?")?.to_owned();
        let persons = crate::bench::scope_ids(client, base, &token).await?;
        if !persons.is_empty() {
            out.push(Reader { token, route, persons });
        }
    }
    if out.is_empty() {
        bail!("no agent with a caseload");
    }
    eprintln!("bench-cluster: {} agents signed in", out.len());
    Ok(out)
}

/// One round: `concurrency` loops for `length`, request k of loop c to node (c + k) mod N.
async fn round_of(
    client: &reqwest::Client,
    bases: &[String],
    readers: &[Reader],
    concurrency: usize,
    length: Duration,
) -> (f64, f64, f64, f64, u64) {
    let failed = Arc::new(AtomicU64::new(0));
    let cpu = crate::bench::process_cpu_secs();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let (client, bases, failed) = (client.clone(), bases.to_vec(), failed.clone());
        let reader = &readers[c % readers.len()];
        let (token, route, persons) = (reader.token.clone(), reader.route.clone(), reader.persons.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut k = c;
            while started.elapsed() < length {
                let person = persons[k % persons.len()];
                let base = &bases[k % bases.len()];
                let t = Instant::now();
                let ok = client
                    .get(format!("{base}/v1/persons/{person}"))
                    .bearer_auth(&token)
                    .header("vigie-route", &route)
                    .send()
                    .await
                    .map(|r| r.status().is_success());
                if matches!(ok, Ok(true)) {
                    latencies.push(t.elapsed().as_secs_f64() * 1e6);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                k += 1;
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        if let Ok(l) = t.await {
            all.extend(l);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let cores = match (cpu, crate::bench::process_cpu_secs()) {
        (Some(a), Some(b)) => (b - a) / secs,
        _ => f64::NAN,
    };
    let rps = all.len() as f64 / secs;
    let p50 = crate::bench::percentile(&mut all, 0.5);
    let p99 = crate::bench::percentile(&mut all, 0.99);
    (rps, p50, p99, cores, failed.load(Ordering::Relaxed))
}

fn report(args: &BenchClusterArgs, one: &mut Side, many: &mut Side) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let m = |v: &mut Vec<f64>| crate::bench::median(v);
    let (r1, rn) = (m(&mut one.rps), m(&mut many.rps));
    println!(
        "Guarded reads, one node against {} on one PostgreSQL ({} agents, {} concurrent requests, medians of {} rounds of {} s; \
         this machine: {cores} cores for the nodes, the database and the client):",
        args.nodes, args.agents, args.concurrency, args.rounds, args.seconds
    );
    println!("| nodes | reads/s | p50 µs | p99 µs | CPU of the nodes (cores) | failed |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| 1 | {r1:.0} | {:.0} | {:.0} | {:.2} | {} |",
        m(&mut one.p50_us),
        m(&mut one.p99_us),
        m(&mut one.cpu_cores),
        one.failed
    );
    println!(
        "| {} | {rn:.0} | {:.0} | {:.0} | {:.2} | {} |",
        args.nodes,
        m(&mut many.p50_us),
        m(&mut many.p99_us),
        m(&mut many.cpu_cores),
        many.failed
    );
    println!("ratio {}/1: {:.2}×", args.nodes, rn / r1);
}
