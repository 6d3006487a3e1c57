//! `vigie load`: the load and abuse benchmark of issue 20, against the real server (this
//! binary's `serve`, in a child process, on a demo registry), measured from outside as an
//! operator would before production. A benchmark, not a test: it prints figures and judges
//! nothing but the ledger's verification.
//!
//! - **flood**: thousands of idle and slow (slowloris) connections from 40 loopback addresses,
//!   reconnecting as soon as they are closed, while an agent reads records from another address
//!   (on a new connection each time, and on one kept alive): are its reads served, do the
//!   checkpoints go on, and does `vigie ledger verify` pass after it, with the server still up?
//! - **overload**: closed-loop clients reading records at four times the server's turns
//!   (`max_in_flight`), with load shedding and, as the baseline in the same run, without: the
//!   latency of what is served, and how much is refused with a 503 and `Retry-After`.
//!
//! Raise the descriptor limit first (`ulimit -n`): the flood holds as many connections as it is
//! told to, plus the server's own.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use vigie_core::signin::TotpSecret;
use vigie_core::signin::totp::{base32_decode, code_at};

/// `vigie load` options.
#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// Data directory for the demo registry (prepared on first use); default a temporary one.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Persons of the demo registry.
    #[arg(long, default_value_t = 20_000)]
    persons: u64,
    /// Connections the flood keeps trying to hold (half idle, half slow).
    #[arg(long, default_value_t = 19_000)]
    flood: usize,
    /// Loopback addresses the flood comes from (each holds at most the per-client share of
    /// connections, 1 000 by default): 40 saturate the cap of 10 000, 1 shows the share at work.
    #[arg(long, default_value_t = 40)]
    flood_addresses: usize,
    /// How long the flood lasts.
    #[arg(long, default_value_t = 30)]
    flood_seconds: u64,
    /// Concurrent clients of the overload phase (the server's `max_in_flight` is 64: 256 is
    /// four times its turns).
    #[arg(long, default_value_t = 256)]
    clients: usize,
    /// How long each overload run lasts.
    #[arg(long, default_value_t = 20)]
    overload_seconds: u64,
    /// Sign-in attempts of the memory phase (each one an Argon2id hash of 19 MiB).
    #[arg(long, default_value_t = 2_000)]
    sign_ins: usize,
    /// One phase only.
    #[arg(long, value_enum)]
    only: Option<Phase>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Phase {
    Flood,
    Overload,
    Signin,
}

/// Runs the phases and prints their figures.
pub fn run(args: LoadArgs) -> anyhow::Result<()> {
    raise_descriptor_limit();
    let temp = std::env::temp_dir().join(format!("vigie-load-{}", std::process::id()));
    std::fs::create_dir_all(&temp)?;
    let data = args.data_dir.clone().unwrap_or_else(|| temp.join("data"));
    let account = prepare(&data, args.persons)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut verified = Vec::new();
    if args.only.is_none_or(|p| p == Phase::Flood) {
        let config = write_config(&temp, &data, "flood", "")?;
        let server = Server::start(&config)?;
        let report = runtime.block_on(flood(&server, &account, &args, &data))?;
        println!("{report}");
        verified.push(("after the flood, server running", verify(&data)));
        let stopped = server.stop()?;
        verified.push(("after the flood, server stopped", stopped.and_then(|()| verify(&data))));
    }
    if args.only.is_none_or(|p| p == Phase::Overload) {
        // Rates out of reach: what is measured is shedding, not the per-session limits; the
        // detector off: the clients re-read one caseload as no agent would.
        let unlimited = "session_requests_per_second = 1000000\nsession_burst = 1000000\naccount_requests_per_second = 1000000\naccount_burst = 1000000\n";
        let detection = "\n[detection]\nenabled = false\n";
        for (name, extra, clients) in [
            ("shedding, clients = turns (capacity)", "", 64),
            ("shedding, 4 x turns", "", args.clients),
            ("no shedding (baseline), 4 x turns", "max_in_flight = 100000\n", args.clients),
        ] {
            let config = write_config(&temp, &data, "overload", &format!("{unlimited}{extra}{detection}"))?;
            let server = Server::start(&config)?;
            let report = runtime.block_on(overload(&server, &account, clients, args.overload_seconds))?;
            println!("overload, {name}: {report}");
            verified.push(("after an overload run, server running", verify(&data)));
            let stopped = server.stop()?;
            verified.push(("after an overload run, server stopped", stopped.and_then(|()| verify(&data))));
        }
    }
    if args.only.is_none_or(|p| p == Phase::Signin) {
        let config = write_config(&temp, &data, "signin", "")?;
        let server = Server::start(&config)?;
        let report = runtime.block_on(sign_in_memory(&server, args.sign_ins))?;
        println!("{report}");
        verified.push(("after the sign-in load, server running", verify(&data)));
        let stopped = server.stop()?;
        verified.push(("after the sign-in load, server stopped", stopped.and_then(|()| verify(&data))));
    }
    println!();
    let mut failed = false;
    for (when, outcome) in &verified {
        match outcome {
            Ok(()) => println!("vigie ledger verify {when}: ok"),
            Err(e) => {
                failed = true;
                println!("vigie ledger verify {when}: FAILED: {e:#}");
            }
        }
    }
    if failed {
        bail!("the ledger did not verify");
    }
    Ok(())
}

/// Raises the soft descriptor limit to the hard one, for the flood's connections.
fn raise_descriptor_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
    eprintln!("load: descriptor limit {:?}", getrlimit(Resource::Nofile).current);
}

/// A demo account that signs in with password and code, and a person in its scope.
#[derive(Clone, Debug)]
struct Account {
    login: String,
    password: String,
    totp: TotpSecret,
    person: String,
}

/// The demo registry, prepared once; its first account with a person in scope (fresh
/// credentials each time: the demo prints them).
fn prepare(data: &Path, persons: u64) -> anyhow::Result<Account> {
    let exe = std::env::current_exe()?;
    let out = Command::new(&exe)
        .args(["demo", "--no-serve", "--persons", &persons.to_string(), "--data-dir"])
        .arg(data)
        .env_remove("VIGIE_LOG")
        .output()
        .context("vigie demo")?;
    if !out.status.success() {
        bail!("vigie demo failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let printed = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let mut current: Option<Account> = None;
    for line in printed.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [.., "login", login] => {
                current = Some(Account {
                    login: (*login).to_owned(),
                    password: String::new(),
                    totp: TotpSecret::from_bytes(&[0; 20]).context("a secret")?,
                    person: String::new(),
                });
            }
            ["password", p] => {
                if let Some(a) = current.as_mut() {
                    a.password = (*p).to_owned();
                }
            }
            ["totp", s] => {
                if let Some(a) = current.as_mut() {
                    a.totp =
                        TotpSecret::from_bytes(&base32_decode(s).context("a TOTP secret")?).context("a TOTP secret")?;
                }
            }
            ["in", "scope", p] => {
                if let Some(a) = current.as_mut().filter(|a| !a.password.is_empty()) {
                    a.person = (*p).to_owned();
                    return Ok(a.clone());
                }
            }
            _ => {}
        }
    }
    bail!("the demo printed no account with a person in scope")
}

fn write_config(dir: &Path, data: &Path, name: &str, server: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("{name}.toml"));
    let (server, rest) = server.split_once("\n[").map_or((server, String::new()), |(s, r)| (s, format!("\n[{r}")));
    std::fs::write(
        &path,
        format!(
            "data_dir = {:?}\nlisten = \"127.0.0.1:0\"\nshutdown_grace_seconds = 10\n{rest}\n[server]\n{server}",
            data
        ),
    )?;
    Ok(path)
}

/// `vigie serve` in a child process.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(config: &Path) -> anyhow::Result<Server> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["serve", "--config"])
            .arg(config)
            .env("VIGIE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("vigie serve")?;
        let stderr = child.stderr.take().context("the server's stderr")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut warned = 0;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("serving on http://").nth(1) {
                    let _ = tx.send(addr.split_whitespace().next().unwrap_or("").to_owned());
                } else if warned < 20 {
                    warned += 1;
                    eprintln!("server: {line}");
                }
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(300)).context("the server did not start")?;
        Ok(Server { child, addr: addr.parse().context("the server's address")? })
    }

    /// The server's resident memory, in MB.
    fn rss_mb(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kb: f64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGTERM, then waits for the exit; `Err` inside if it did not exit 0.
    fn stop(mut self) -> anyhow::Result<anyhow::Result<()>> {
        rustix::process::kill_process(rustix::process::Pid::from_child(&self.child), rustix::process::Signal::TERM)?;
        let status = self.child.wait()?;
        Ok(if status.success() { Ok(()) } else { Err(anyhow::anyhow!("the server exited with {status}")) })
    }
}

impl Drop for Server {
    /// A phase that failed half-way leaves no server behind (holding the ledger's lock).
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `vigie ledger verify` on the data directory, as an operator runs it.
fn verify(data: &Path) -> anyhow::Result<()> {
    let out = Command::new(std::env::current_exe()?).args(["ledger", "verify", "--data-dir"]).arg(data).output()?;
    if out.status.success() {
        Ok(())
    } else {
        bail!("{}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("failed"))
    }
}

async fn sign_in(http: &reqwest::Client, base: &str, a: &Account) -> anyhow::Result<String> {
    // A TOTP code is taken once: a second sign-in in the same 30 s step waits for the next.
    static LAST_STEP: AtomicU64 = AtomicU64::new(0);
    let mut now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    if now / 30 == LAST_STEP.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_secs(30 - now % 30 + 1)).await;
        now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    }
    LAST_STEP.store(now / 30, Ordering::Relaxed);
    let now = i64::try_from(now)?;
    let body = serde_json::json!({"login": a.login, "password": a.password, "totp": code_at(&a.totp, now)});
    let resp = http.post(format!("{base}/v1/login")).json(&body).send().await?;
    if !resp.status().is_success() {
        bail!("sign-in: {} {}", resp.status(), resp.text().await.unwrap_or_default());
    }
    let v: serde_json::Value = resp.json().await?;
    Ok(v["access_token"].as_str().context("an access token")?.to_owned())
}

/// Latencies in microseconds and the statuses seen.
#[derive(Default, Debug)]
struct Tally {
    ok_us: Vec<u64>,
    statuses: BTreeMap<String, u64>,
    retry_after: u64,
}

impl Tally {
    fn add(&mut self, status: String, us: u64, retry_after: bool) {
        if status == "200" {
            self.ok_us.push(us);
        }
        self.retry_after += u64::from(retry_after);
        *self.statuses.entry(status).or_default() += 1;
    }

    fn total(&self) -> u64 {
        self.statuses.values().sum()
    }

    fn percentile(&mut self, p: f64) -> f64 {
        if self.ok_us.is_empty() {
            return f64::NAN;
        }
        self.ok_us.sort_unstable();
        let i = ((self.ok_us.len() as f64 - 1.0) * p).round() as usize;
        self.ok_us[i] as f64 / 1000.0
    }
}

async fn read_once(http: &reqwest::Client, url: &str, token: &str) -> (String, u64, bool) {
    let start = Instant::now();
    match http.get(url).bearer_auth(token).send().await {
        Ok(resp) => {
            let status = resp.status().as_u16().to_string();
            let retry = resp.headers().contains_key("retry-after");
            let _ = resp.bytes().await;
            (status, start.elapsed().as_micros() as u64, retry)
        }
        Err(e) => (if e.is_connect() { "connect-error".into() } else { "error".into() }, 0, false),
    }
}

fn client_from(addr: Ipv4Addr, keep_alive: bool) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder().local_address(std::net::IpAddr::V4(addr)).timeout(Duration::from_secs(10));
    if !keep_alive {
        b = b.pool_max_idle_per_host(0);
    }
    Ok(b.build()?)
}

/// The checkpoint's tree size, as published in `ledger/checkpoint`.
fn checkpoint_size(data: &Path) -> Option<u64> {
    std::fs::read_to_string(data.join("ledger/checkpoint")).ok()?.lines().nth(1)?.parse().ok()
}

async fn flood(server: &Server, account: &Account, args: &LoadArgs, data: &Path) -> anyhow::Result<String> {
    let base = server.base();
    let reader_addr = Ipv4Addr::new(127, 0, 0, 2);
    let token = sign_in(&client_from(reader_addr, true)?, &base, account).await?;
    let url = format!("{base}/v1/persons/{}", account.person);
    let stop = Arc::new(AtomicBool::new(false));
    let held = Arc::new(AtomicU64::new(0));
    let opened = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for i in 0..args.flood {
        let (stop, held, opened, refused) = (stop.clone(), held.clone(), opened.clone(), refused.clone());
        let from = Ipv4Addr::new(127, 0, 1, 10 + (i % args.flood_addresses.clamp(1, 200)) as u8);
        let slow = i % 2 == 1;
        let to = server.addr;
        tasks.push(tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while !stop.load(Ordering::Relaxed) {
                let socket = match tokio::net::TcpSocket::new_v4() {
                    Ok(s) => s,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                if socket.bind(SocketAddr::new(from.into(), 0)).is_err() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                let Ok(mut s) = socket.connect(to).await else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                opened.fetch_add(1, Ordering::Relaxed);
                held.fetch_add(1, Ordering::Relaxed);
                let mut buf = [0u8; 512];
                if slow {
                    let _ = s.write_all(b"GET /v1/scope HTTP/1.1\r\nHost: x\r\n").await;
                }
                loop {
                    let read = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await;
                    match read {
                        Ok(Ok(0)) | Ok(Err(_)) => break,
                        Ok(Ok(n)) => {
                            if buf[..n].starts_with(b"HTTP/1.1 503") {
                                refused.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(_) => {
                            if stop.load(Ordering::Relaxed) {
                                break;
                            }
                            if slow && s.write_all(b"X-a: b\r\n").await.is_err() {
                                break;
                            }
                        }
                    }
                }
                held.fetch_sub(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    // Let the flood build up, then read as an agent does, a few times a second.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = checkpoint_size(data);
    let fresh = client_from(reader_addr, false)?;
    let kept = client_from(reader_addr, true)?;
    let (mut new_conn, mut keep_alive) = (Tally::default(), Tally::default());
    let held_during = Mutex::new(Vec::new());
    let end = Instant::now() + Duration::from_secs(args.flood_seconds);
    while Instant::now() < end {
        let (s, us, r) = read_once(&fresh, &url, &token).await;
        new_conn.add(s, us, r);
        let (s, us, r) = read_once(&kept, &url, &token).await;
        keep_alive.add(s, us, r);
        held_during.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.push(held.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = checkpoint_size(data);
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.abort();
    }
    let held_during = held_during.into_inner().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let median_held = {
        let mut h = held_during.clone();
        h.sort_unstable();
        h.get(h.len() / 2).copied().unwrap_or(0)
    };
    Ok(format!(
        "flood: {} connections tried (half idle, half slow, from {} addresses), {} opened in all, {} held at the median \
         (client side), {} refused with a 503 by the connection cap\n  \
         reads on a new connection each: {} of {} served, p50 {:.1} ms, p99 {:.1} ms, statuses {:?}\n  \
         reads on a kept connection:     {} of {} served, p50 {:.1} ms, p99 {:.1} ms, statuses {:?}\n  \
         checkpoint tree size {:?} -> {:?} during the reads",
        args.flood,
        args.flood_addresses,
        opened.load(Ordering::Relaxed),
        median_held,
        refused.load(Ordering::Relaxed),
        new_conn.ok_us.len(),
        new_conn.total(),
        new_conn.percentile(0.5),
        new_conn.percentile(0.99),
        new_conn.statuses,
        keep_alive.ok_us.len(),
        keep_alive.total(),
        keep_alive.percentile(0.5),
        keep_alive.percentile(0.99),
        keep_alive.statuses,
        before,
        after,
    ))
}

async fn overload(server: &Server, account: &Account, clients: usize, seconds: u64) -> anyhow::Result<String> {
    let base = server.base();
    // From the clients' network: a session is bound to the /24 it was opened from.
    let token = sign_in(&client_from(Ipv4Addr::new(127, 0, 2, 1), true)?, &base, account).await?;
    let url = format!("{base}/v1/persons/{}", account.person);
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for i in 0..clients {
        let (url, token) = (url.clone(), token.clone());
        // Spread over loopback addresses: the per-client connection share is not what is measured.
        let http = client_from(Ipv4Addr::new(127, 0, 2, 10 + (i % 200) as u8), true)?;
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < end {
                let (s, us, r) = read_once(&http, &url, &token).await;
                tally.add(s, us, r);
            }
            tally
        }));
    }
    let mut all = Tally::default();
    for t in tasks {
        let t = t.await?;
        all.ok_us.extend(t.ok_us);
        all.retry_after += t.retry_after;
        for (k, v) in t.statuses {
            *all.statuses.entry(k).or_default() += v;
        }
    }
    let served = all.ok_us.len() as f64 / seconds as f64;
    let refused = all.statuses.get("503").copied().unwrap_or(0);
    Ok(format!(
        "{clients} clients, {seconds} s: {served:.0} served/s, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
         503: {refused} ({:.0}% of {}), {} with Retry-After; statuses {:?}",
        all.percentile(0.5),
        all.percentile(0.99),
        all.percentile(1.0),
        100.0 * refused as f64 / all.total().max(1) as f64,
        all.total(),
        all.retry_after,
        all.statuses,
    ))
}

/// Failed sign-ins (unknown logins, hashed against a dummy like any other) from 250 networks,
/// 32 at a time, and the server's resident memory before, after, and after a quiet spell.
async fn sign_in_memory(server: &Server, attempts: usize) -> anyhow::Result<String> {
    let base = server.base();
    let idle_before = server.rss_mb();
    let next = Arc::new(AtomicU64::new(0));
    let statuses = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (next, statuses, base) = (next.clone(), statuses.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= attempts {
                    break;
                }
                let from = Ipv4Addr::new(127, 3, (i % 250) as u8, 1);
                let Ok(http) = client_from(from, false) else { continue };
                let body = serde_json::json!({"login": format!("nobody.{i}"), "password": "not the password", "totp": "000000"});
                let status = match http.post(format!("{base}/v1/login")).json(&body).send().await {
                    Ok(r) => r.status().as_u16().to_string(),
                    Err(_) => "error".to_owned(),
                };
                if let Ok(mut s) = statuses.lock() {
                    *s.entry(status).or_default() += 1;
                }
            }
        }));
    }
    let mut peak = idle_before.unwrap_or(0.0);
    while tasks.iter().any(|t| !t.is_finished()) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        peak = peak.max(server.rss_mb().unwrap_or(0.0));
    }
    for t in tasks {
        t.await?;
    }
    let took = started.elapsed().as_secs_f64();
    let after = server.rss_mb();
    tokio::time::sleep(Duration::from_secs(15)).await;
    let idle_after = server.rss_mb();
    let statuses = statuses.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clone();
    Ok(format!(
        "sign-in load: {attempts} failed sign-ins (32 at a time, 250 networks) in {took:.1} s, statuses {statuses:?}; \
         server RSS idle before {:.0} MB, peak {peak:.0} MB, right after {:.0} MB, after 15 s idle {:.0} MB",
        idle_before.unwrap_or(f64::NAN),
        after.unwrap_or(f64::NAN),
        idle_after.unwrap_or(f64::NAN),
    ))
}
