//! `vigie bench-console`: the security console's two heavy pages timed over HTTP on a real
//! server: the alert queue with N open alerts (default 10 000, the feed's capacity), and an
//! account's page, whose timeline reads 90 days of its accesses back from the ledger (default
//! 300 reads a working day). The baseline, measured in the same run and the same way, is the
//! officer's own sessions page (a page with the same session checks and layout, and no queue
//! or ledger read): its ratio says what the console adds, whatever the machine's load.
//!
//! The registry is generated into a temporary directory; the account's history is written to
//! the ledger with the clock set back 91 days (entries in time order, as a server writes them),
//! then the clock is set to now and the server is started.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use rand::{Rng, SeedableRng};
use vigie_core::category::{CategorySet, DataCategory};
use vigie_core::event::{AccessAction, AccessEvent, Actor, Decision, Verdict, VerdictAction};
use vigie_core::ids::{AgentId, PersonId, RequestId, SessionId};
use vigie_core::org::{OrgKind, Role};
use vigie_core::ports::{AccessLedger, Registry};
use vigie_core::time::{Clock, FixedClock, Timestamp};
use vigie_gen::GenParams;

const DAY_MS: i64 = 24 * 3_600_000;

#[derive(clap::Args, Debug)]
pub struct BenchConsoleArgs {
    /// Open alerts in the queue.
    #[arg(long, default_value_t = 10_000)]
    alerts: usize,
    /// Days of the account's history in the ledger.
    #[arg(long, default_value_t = 90)]
    days: i64,
    /// Reads a working day in the account's history.
    #[arg(long, default_value_t = 300)]
    reads_per_day: u64,
    /// Requests timed per page (after one untimed warm-up request).
    #[arg(long, default_value_t = 200)]
    rounds: usize,
    /// Registry size.
    #[arg(long, default_value_t = 20_000)]
    persons: u64,
}

/// Latencies of one page: median, p95, max (ms).
struct Figures {
    p50: f64,
    p95: f64,
    max: f64,
}

fn figures(mut ms: Vec<f64>) -> Figures {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms.get(((ms.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN);
    Figures { p50: at(0.5), p95: at(0.95), max: ms.last().copied().unwrap_or(f64::NAN) }
}

pub fn run(a: BenchConsoleArgs) -> anyhow::Result<()> {
    let data = std::env::temp_dir().join(format!("vigie-bench-console-{}", std::process::id()));
    let result = measure(&a, &data);
    if let Err(e) = std::fs::remove_dir_all(&data) {
        eprintln!("bench-console: could not remove {}: {e}", data.display());
    }
    result
}

fn measure(a: &BenchConsoleArgs, data: &std::path::Path) -> anyhow::Result<()> {
    let today = time::OffsetDateTime::now_utc().date();
    eprintln!("bench-console: generating {} persons", a.persons);
    crate::generate::generate(data, &GenParams { seed: 7, persons: a.persons, as_of: today }, false, false)?;

    let now = crate::app::WallClock.now();
    let clock = Arc::new(FixedClock::at(Timestamp(now.0 - (a.days + 1) * DAY_MS)));
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let origin = format!("http://localhost:{port}");
    let mut settings = crate::app::settings(data, &origin)?;
    // One officer asks for pages back to back: the per-session request rate would refuse it.
    settings.http.rates = vigie_http::shared::rates::RateSettings::dangerous_unlimited();
    let app = crate::app::open_with_clock(data, None, settings, clock.clone())?;

    // The account: an agency advisor; its history, oldest first.
    let (advisor, org) = pick(&app.store, |a, o| a.role == Role::Advisor && o.kind == OrgKind::Agency)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let requested = CategorySet::EMPTY.with(DataCategory::Identity).with(DataCategory::Contact);
    let mut written = 0u64;
    let started = Instant::now();
    let first_day = clock.now().0 / DAY_MS + 1;
    for day in 0..a.days {
        let day0 = (first_day + day) * DAY_MS;
        if (day0 / DAY_MS + 4) % 7 >= 5 {
            continue;
        }
        let session = SessionId(u64::try_from(day).unwrap_or(0) + 1);
        let events: Vec<AccessEvent> = (0..a.reads_per_day)
            .map(|i| {
                let at = day0
                    + 8 * 3_600_000
                    + i64::try_from(i).unwrap_or(0) * (9 * 3_600_000 / a.reads_per_day.max(1) as i64);
                let person = PersonId::new(rng.gen_range(1..=a.persons.min(5_000)));
                AccessEvent {
                    at: Timestamp(at),
                    request: RequestId(u128::from(rng.r#gen::<u64>())),
                    actor: Actor { agent: advisor.id, org: org.id, org_kind: org.kind, role: advisor.role, session },
                    action: AccessAction::View,
                    person,
                    requested,
                    returned: requested,
                    relationship: None,
                    decision: Decision::Allow,
                    reasons: Vec::new(),
                    verdict: Verdict::allow(),
                }
            })
            .collect();
        clock.set(Timestamp(day0 + DAY_MS - 1));
        // The day's sign-in first, as a server writes it: scoping finds a session by it.
        let sign_in = vigie_core::security::SecurityEvent::new(
            Timestamp(day0 + 8 * 3_600_000 - 60_000),
            vigie_core::security::SecurityKind::SignIn,
        )
        .by(advisor.id, org.id)
        .session(session)
        .context("192.0.2.0/24 firefox".to_owned())
        .detail("method", "password_totp");
        app.ledger.record(&[sign_in]).context("writing the account's sign-in")?;
        app.ledger.append(&events).context("writing the account's history")?;
        written += events.len() as u64;
    }
    clock.set(crate::app::WallClock.now());
    eprintln!(
        "bench-console: {written} entries of {} over {} days in {:.1} s",
        advisor.id,
        a.days,
        started.elapsed().as_secs_f64()
    );

    // The queue: N open alerts, of many accounts, the advisor's among them.
    let feed = app.state.alerts.clone().context("the server's alert feed")?;
    for i in 0..a.alerts {
        let agent = AgentId::new(1 + (i as u64 % 5_000)).unwrap_or(advisor.id);
        let e = AccessEvent {
            at: Timestamp(clock.now().0 - i64::try_from(a.alerts - i).unwrap_or(0) * 1000),
            request: RequestId(i as u128),
            actor: Actor { agent, org: org.id, org_kind: org.kind, role: Role::Advisor, session: SessionId(1) },
            action: AccessAction::View,
            person: PersonId::new(1 + i as u64),
            requested,
            returned: CategorySet::EMPTY,
            relationship: None,
            decision: Decision::Allow,
            reasons: Vec::new(),
            verdict: Verdict::allow(),
        };
        let v = Verdict {
            action: if i % 3 == 0 { VerdictAction::Throttle } else { VerdictAction::StepUp },
            reasons: vec![format!("self_distinct_today={} median=40 z=9.1 threshold=8", 100 + i % 200)],
        };
        feed.push(vigie_alerts::Alert::from_event(&e, &v));
    }
    let (open, _) = feed.open_count();

    // An officer's passkey session, as the sign-in opens it.
    let (officer, officer_org) = pick(&app.store, |a, o| a.role == Role::SecurityOfficer && o.kind == OrgKind::Agency)?;
    let ip: std::net::IpAddr = std::net::Ipv4Addr::LOCALHOST.into();
    let client = vigie_http::shared::client::Client {
        ip,
        context: vigie_core::signin::ClientContext::new(ip, ""),
        user_agent: String::new(),
    };
    let opening = vigie_http::actions::sign_in::Opening {
        method: "passkey",
        mfa: true,
        credential: Some(vec![7; 16]),
        service: None,
    };
    let tokens = vigie_http::actions::sign_in::open_session(&app.state, &officer, &officer_org, opening, &client)
        .map_err(|p| anyhow::anyhow!("opening the officer's session: {}", p.detail))?;
    let cookie = format!("__Host-vigie_access={}", tokens.access.expose());

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        tokio::spawn(vigie_http::serve(listener, app.state.clone(), std::future::pending()));
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
        let base = format!("http://127.0.0.1:{port}");
        // One untimed request first when `warm`, then `rounds` timed ones: (first, latencies ms).
        let time = |path: String, rounds: usize, warm: bool| {
            let (http, cookie, base) = (http.clone(), cookie.clone(), base.clone());
            async move {
                let mut ms = Vec::with_capacity(rounds);
                let mut first = None;
                for i in 0..rounds + usize::from(warm) {
                    let t0 = Instant::now();
                    let resp = http.get(format!("{base}{path}")).header("cookie", &cookie).send().await?;
                    let status = resp.status();
                    let body = resp.text().await?;
                    let took = t0.elapsed().as_secs_f64() * 1e3;
                    anyhow::ensure!(
                        status.is_success(),
                        "{path}: {status}: {}",
                        body.chars().take(300).collect::<String>()
                    );
                    // The page itself, not a sign-in page or an empty one.
                    let shows = if path.starts_with("/console/alerts") {
                        body.matches("data-alert=").count() == 50
                    } else if path.starts_with("/console/agents/") {
                        body.contains("<svg class=\"chart\"") && body.matches("<tr><td>").count() >= 30
                    } else {
                        body.contains("action=\"/logout\"")
                    };
                    if !shows {
                        let main = body.find("id=\"timeline\"").map_or("", |m| &body[m..]);
                        anyhow::bail!("{path}: not the page expected: {}", main.chars().take(1500).collect::<String>());
                    }
                    if warm && i == 0 {
                        first = Some(took);
                    } else {
                        ms.push(took);
                    }
                }
                anyhow::Ok((first, ms))
            }
        };
        let account = format!("/console/agents/{}", advisor.id);
        let pages = [
            "/sessions".to_owned(),
            "/console/alerts".to_owned(),
            "/console/alerts?open=1&verdict=throttle".to_owned(),
            account.clone(),
        ];
        let mut runs: Vec<(Option<f64>, Vec<f64>)> = pages.iter().map(|_| (None, Vec::new())).collect();
        // The pages alternate in slices, so that a neighbour's load falls on each alike.
        let slices = 5;
        for s in 0..slices {
            for (path, (first, ms)) in pages.iter().zip(runs.iter_mut()) {
                let rounds = if *path == account { (a.rounds / 4).max(slices) } else { a.rounds.max(slices) } / slices;
                let (f, m) = time(path.clone(), rounds, s == 0).await?;
                if f.is_some() {
                    *first = f;
                }
                ms.extend(m);
            }
        }
        println!("bench-console: {open} open alerts; {written} ledger entries of {} over {} days", advisor.id, a.days);
        println!("{:<42} {:>7} {:>8} {:>8} {:>8} {:>10}", "page", "n", "p50 ms", "p95 ms", "max ms", "first ms");
        let mut base_p95 = f64::NAN;
        for (path, (first, ms)) in pages.iter().zip(runs) {
            let n = ms.len();
            let f = figures(ms);
            if path == "/sessions" {
                base_p95 = f.p95;
            }
            println!(
                "{path:<42} {n:>7} {:>8.2} {:>8.2} {:>8.2} {:>10.2}   p95 {:.1}x the baseline (/sessions)",
                f.p50,
                f.p95,
                f.max,
                first.unwrap_or(f64::NAN),
                f.p95 / base_p95
            );
        }
        anyhow::Ok(())
    })?;
    Ok(())
}

/// The first agent (by id) that `keep` accepts, with its organization.
fn pick(
    store: &vigie_store::Store,
    keep: impl Fn(&vigie_core::org::Agent, &vigie_core::org::Organization) -> bool,
) -> anyhow::Result<(vigie_core::org::Agent, vigie_core::org::Organization)> {
    for n in 1..1_000_000u64 {
        let Some(id) = AgentId::new(n) else { break };
        let Some(agent) = store.agent(id)? else { break };
        let Some(org) = store.organization(agent.org)? else { continue };
        if agent.active && keep(&agent, &org) {
            return Ok((agent, org));
        }
    }
    anyhow::bail!("no such agent in the generated registry")
}
