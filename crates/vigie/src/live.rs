//! Live mode of `vigie simulate`: a scenario played against a running server over HTTP on
//! loopback, in real time, with a few benign agents working beside the attacker. Bounded (a
//! request rate cap and a duration) and it stops by itself once the attacker is contained.
//!
//! It plays accounts of the server's own registry, so it needs the data directory: it gives
//! them fresh credentials (which ends their sessions), as `vigie demo` does for its accounts.
//! That is why, against a server it did not start, it asks for
//! `--insecure-reset-credentials`; and why it only speaks to loopback.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{Value, json};
use vigie_core::ids::{AgentId, PersonId};
use vigie_core::org::{Agent, OrgKind, Role};
use vigie_core::ports::{AccountStore, Registry};
use vigie_core::signin::TotpSecret;
use vigie_core::signin::totp::{STEP_SECONDS, code_at, step_at};
use vigie_sim::scenario::{Access, Network, Scenario, Targets};
use vigie_store::Store;

/// How a live run is bounded.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// `http://127.0.0.1:PORT` (loopback only).
    pub base: String,
    /// The whole run, at most.
    pub duration: Duration,
    /// Benign work alone before the attack starts.
    pub warmup: Duration,
    /// Benign agents working beside the attacker.
    pub benign: usize,
    /// The attacker's requests a second, at most (the scenario's pace is capped by it).
    pub max_rate: f64,
    /// Once contained, how long to go on (showing the benign agents still served).
    pub linger: Duration,
    pub seed: u64,
}

impl LiveOptions {
    pub fn new(base: String) -> LiveOptions {
        LiveOptions {
            base,
            duration: Duration::from_secs(120),
            warmup: Duration::from_secs(5),
            benign: 4,
            max_rate: 10.0,
            linger: Duration::from_secs(5),
            seed: 1,
        }
    }
}

/// An account the live run plays, with the credentials it was just given.
#[derive(Clone)]
pub struct Player {
    pub agent: Agent,
    pub password: String,
    pub totp: TotpSecret,
    /// The last TOTP step used (a code is accepted once).
    last_step: Arc<Mutex<i64>>,
}

impl std::fmt::Debug for Player {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Player").field("login", &self.agent.login.as_str()).finish_non_exhaustive()
    }
}

/// Who plays: the scenario's victim, benign agency advisors, and (for leaked keys) lookup keys
/// of persons of the registry.
#[derive(Debug)]
pub struct Cast {
    pub victim: Player,
    pub benign: Vec<Player>,
    pub persons: u64,
    pub leaked_keys: Vec<(String, String)>,
}

/// Picks the accounts from the registry and gives them fresh credentials. `exclude`: accounts
/// not to touch (the demo's printed ones).
pub fn cast(
    store: &Store,
    scenario: &Scenario,
    benign: usize,
    today: time::Date,
    exclude: &[AgentId],
    seed: u64,
) -> anyhow::Result<Cast> {
    let Some(attack) = &scenario.attack else {
        bail!("{}: a [surge] is played offline only: run it with vigie simulate --scenario", scenario.file)
    };
    let offline_only = [
        (attack.access == Access::RidesSession, "rides_session"),
        (attack.targets == Targets::FtIdKeys, "targets = \"ft_id_keys\""),
        (attack.fabricate, "fabricate"),
        (attack.orgs.is_some() || attack.shared_infrastructure, "campaigns across organizations"),
        (attack.work.is_some(), "work"),
    ];
    if let Some((_, what)) = offline_only.iter().find(|(on, _)| *on) {
        bail!("{}: live mode does not play {what}; run it offline with vigie simulate --scenario", scenario.file);
    }
    if attack.access == Access::CreatedAccounts {
        bail!(
            "{}: live mode does not play created_accounts (creations wait for a second administrator); \
             run it offline with vigie simulate --scenario",
            scenario.file
        );
    }
    let mut victim: Option<Agent> = None;
    let mut others: Vec<Agent> = Vec::new();
    let mut id = 1u64;
    while (victim.is_none() || others.len() < benign) && id < 200_000 {
        let Some(agent_id) = AgentId::new(id) else { break };
        id += 1;
        let Some(agent) = store.agent(agent_id).context("reading agents")? else { break };
        if exclude.contains(&agent.id) || !agent.active {
            continue;
        }
        let Some(org) = store.organization(agent.org).context("reading organizations")? else { continue };
        let wants_victim = victim.is_none() && org.kind == attack.victim_kind && agent.role == attack.victim_role;
        let wants_benign = others.len() < benign && org.kind == OrgKind::Agency && agent.role == Role::Advisor;
        if !wants_victim && !wants_benign {
            continue;
        }
        let scope = store.scope_page(&agent, None, 50, today).context("reading a scope")?;
        if wants_victim && scope.len() >= 20 {
            victim = Some(agent);
        } else if wants_benign && scope.len() >= 5 {
            others.push(agent);
        }
    }
    let victim = victim.with_context(|| {
        format!(
            "{}: no {}/{} account with at least 20 persons in scope in this registry",
            scenario.file,
            attack.victim_kind.as_str(),
            attack.victim_role.as_str()
        )
    })?;
    let persons = last_person(store)?;
    let mut leaked_keys = Vec::new();
    if attack.targets == Targets::LeakedKeys {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        for _ in 0..2_000 {
            let Some(p) = PersonId::new(rng.gen_range(1..=persons.max(1))) else { continue };
            if let Some(person) = store.person(p).context("reading a person")? {
                leaked_keys.push((person.nir.to_string(), vigie_core::time::format_date(person.birth_date)));
            }
        }
    }
    let player = |agent: Agent| -> anyhow::Result<Player> {
        let issued = crate::credentials::issue(store, agent.id)?;
        store.end_sessions_of(agent.id).context("ending the played accounts' sessions")?;
        Ok(Player {
            agent,
            password: issued.password.expose().to_owned(),
            totp: issued.totp,
            last_step: Arc::new(Mutex::new(i64::MIN)),
        })
    };
    Ok(Cast {
        victim: player(victim)?,
        benign: others.into_iter().map(player).collect::<anyhow::Result<_>>()?,
        persons,
        leaked_keys,
    })
}

/// The registry's last person id (ids are dense from 1): a doubling then a bisection.
fn last_person(store: &Store) -> anyhow::Result<u64> {
    let exists = |n: u64| -> anyhow::Result<bool> {
        Ok(match PersonId::new(n) {
            Some(p) => store.person(p).context("reading a person")?.is_some(),
            None => false,
        })
    };
    if !exists(1)? {
        bail!("the registry holds no person");
    }
    let mut hi = 2u64;
    while exists(hi)? && hi < u64::MAX / 2 {
        hi *= 2;
    }
    let mut lo = hi / 2; // exists(lo), !exists(hi)
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if exists(mid)? { lo = mid } else { hi = mid }
    }
    Ok(lo)
}

/// What a live run measured.
#[derive(Debug, Clone, Default)]
pub struct LiveOutcome {
    /// Distinct persons whose record the attacker received.
    pub exposed: usize,
    /// Distinct persons whose name the attacker saw in its scope listing (identity only).
    pub listed: usize,
    pub attacker_requests: u64,
    /// From the attacker's first request to the refusal after which nothing more left.
    pub contained_after: Option<Duration>,
    /// What contained it (`step-up-required`, `quota-reached`, `session-ended: …`, sign-in).
    pub contained_by: Option<String>,
    pub benign_reads: u64,
    pub benign_refused: u64,
    pub benign_step_ups: u64,
    pub lines: Vec<String>,
    /// What the attacker's client actually received, person by person: the categories present
    /// in the records it got (the listing's names count as identity). What incident scoping
    /// must find again from the ledger, exactly.
    pub received: std::collections::BTreeMap<PersonId, vigie_core::CategorySet>,
    /// The attacker's account.
    pub attacker: Option<vigie_core::ids::AgentId>,
}

/// The categories a record's JSON carries.
fn categories_in(v: &Value) -> vigie_core::CategorySet {
    vigie_core::DataCategory::ALL.into_iter().filter(|c| v.get(c.as_str()).is_some_and(|x| !x.is_null())).collect()
}

/// Prints as it goes and keeps the lines.
struct Narrator {
    start: Instant,
    echo: bool,
    lines: Mutex<Vec<String>>,
}

impl Narrator {
    fn say(&self, who: &str, what: &str) {
        let line = format!("t+{:>6.1}s  {who:<10} {what}", self.start.elapsed().as_secs_f64());
        if self.echo {
            println!("{line}");
        }
        if let Ok(mut l) = self.lines.lock() {
            l.push(line);
        }
    }
}

/// A signed-in session, as a client holds it.
#[derive(Clone, Debug)]
struct Tokens {
    access: String,
    refresh: String,
    at: Instant,
}

/// An answer, reduced to what the players act on.
#[derive(Debug)]
enum Answer {
    Record(Value),
    NotFound,
    StepUp,
    Throttled,
    Ended(String),
    Other(StatusCode, String),
}

impl Answer {
    fn label(&self) -> String {
        match self {
            Answer::Record(_) => "200".into(),
            Answer::NotFound => "404 not-found".into(),
            Answer::StepUp => "401 step-up-required".into(),
            Answer::Throttled => "429 quota-reached".into(),
            Answer::Ended(r) => format!("401 session-ended ({r})"),
            Answer::Other(s, t) => format!("{} {t}", s.as_u16()),
        }
    }
}

async fn answer(resp: reqwest::Response) -> anyhow::Result<Answer> {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(Answer::Record(body));
    }
    let kind = body["type"].as_str().unwrap_or("").rsplit(':').next().unwrap_or("").to_owned();
    Ok(match (status, kind.as_str()) {
        (StatusCode::NOT_FOUND, _) => Answer::NotFound,
        (_, "step-up-required") => Answer::StepUp,
        (StatusCode::TOO_MANY_REQUESTS, _) => Answer::Throttled,
        (StatusCode::UNAUTHORIZED, _) => {
            Answer::Ended(body["reason"].as_str().or(body["detail"].as_str()).unwrap_or(&kind).to_owned())
        }
        _ => Answer::Other(status, kind),
    })
}

/// The next TOTP code of `player` not used yet (waits for the next step when needed).
async fn fresh_code(player: &Player) -> String {
    loop {
        let now = unix_now();
        let step = step_at(now);
        {
            let Ok(mut last) = player.last_step.lock() else { return code_at(&player.totp, now) };
            if step > *last {
                *last = step;
                return code_at(&player.totp, now);
            }
        }
        let into = now.rem_euclid(STEP_SECONDS);
        tokio::time::sleep(Duration::from_millis(((STEP_SECONDS - into) * 1000 + 100) as u64)).await;
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

async fn login(
    client: &reqwest::Client,
    base: &str,
    player: &Player,
    code: Option<String>,
) -> anyhow::Result<Result<Tokens, Answer>> {
    let code = match code {
        Some(c) => c,
        None => fresh_code(player).await,
    };
    let resp = client
        .post(format!("{base}/v1/login"))
        .json(&json!({"login": player.agent.login.as_str(), "password": player.password, "totp": code}))
        .send()
        .await
        .with_context(|| format!("POST {base}/v1/login"))?;
    match answer(resp).await? {
        Answer::Record(v) => {
            let access = v["access_token"].as_str().context("login returned no access token")?.to_owned();
            let refresh = v["refresh_token"].as_str().context("login returned no refresh token")?.to_owned();
            Ok(Ok(Tokens { access, refresh, at: Instant::now() }))
        }
        other => Ok(Err(other)),
    }
}

/// Renews the access token when it is four minutes old (it lives five).
async fn keep_fresh(client: &reqwest::Client, base: &str, tokens: &mut Tokens) -> anyhow::Result<()> {
    if tokens.at.elapsed() < Duration::from_secs(240) {
        return Ok(());
    }
    let v: Value = client
        .post(format!("{base}/v1/session/refresh"))
        .bearer_auth(&tokens.refresh)
        .send()
        .await?
        .error_for_status()
        .context("refreshing a session")?
        .json()
        .await?;
    tokens.access = v["access_token"].as_str().context("refresh returned no token")?.to_owned();
    if let Some(r) = v["refresh_token"].as_str() {
        tokens.refresh = r.to_owned();
    }
    tokens.at = Instant::now();
    Ok(())
}

/// Steps up with a fresh TOTP code; the server cycles the access token on success.
async fn step_up(client: &reqwest::Client, base: &str, player: &Player, tokens: &mut Tokens) -> anyhow::Result<bool> {
    let code = fresh_code(player).await;
    let resp = client
        .post(format!("{base}/v1/step-up"))
        .bearer_auth(&tokens.access)
        .json(&json!({"totp": code}))
        .send()
        .await?;
    let Answer::Record(v) = answer(resp).await? else { return Ok(false) };
    if let Some(access) = v["access_token"].as_str() {
        tokens.access = access.to_owned();
    }
    Ok(true)
}

/// The persons of the account's scope (up to `max`), and the refusal that cut the listing
/// short, if one did.
async fn scope(
    client: &reqwest::Client,
    base: &str,
    tokens: &Tokens,
    max: usize,
    stats: &Mutex<LiveOutcome>,
) -> anyhow::Result<(Vec<PersonId>, Option<Answer>)> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    while ids.len() < max {
        let mut url = format!("{base}/v1/scope?limit=100");
        if let Some(a) = &after {
            url.push_str(&format!("&after={a}"));
        }
        let resp = client.get(url).bearer_auth(&tokens.access).send().await?;
        let page = match answer(resp).await? {
            Answer::Record(page) => page,
            refused => return Ok((ids, Some(refused))),
        };
        let items = page["items"].as_array().cloned().unwrap_or_default();
        ids.extend(items.iter().filter_map(|i| i["id"].as_str()).filter_map(|s| s.parse::<PersonId>().ok()));
        if let Ok(mut s) = stats.lock() {
            for i in &items {
                if let Some(p) = i["id"].as_str().and_then(|s| s.parse::<PersonId>().ok())
                    && i.get("last_name").is_some()
                {
                    let e = s.received.entry(p).or_insert(vigie_core::CategorySet::EMPTY);
                    e.insert(vigie_core::DataCategory::Identity);
                }
            }
        }
        match page["next_after"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => break,
        }
    }
    Ok((ids, None))
}

/// Refuses anything but a loopback `http://` base.
pub fn check_base(base: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(base).with_context(|| format!("--live: {base:?} is not a URL"))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    if !loopback || !matches!(url.scheme(), "http" | "https") {
        bail!("--live: {base} is not a loopback http(s) URL (live mode drives a local server only)");
    }
    Ok(base.trim_end_matches('/').to_owned())
}

/// Plays the scenario. Prints as it goes when `echo`.
pub async fn play(opts: &LiveOptions, cast: &Cast, scenario: &Scenario, echo: bool) -> anyhow::Result<LiveOutcome> {
    let base = check_base(&opts.base)?;
    let narrator = Arc::new(Narrator { start: Instant::now(), echo, lines: Mutex::new(Vec::new()) });
    // A browser on the agents' machines.
    const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    let client = reqwest::Client::builder().user_agent(BROWSER).timeout(Duration::from_secs(30)).build()?;
    client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .with_context(|| format!("--live: no Vigie answering at {base}/healthz"))?;
    let deadline = Instant::now() + opts.duration;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stats = Arc::new(Mutex::new(LiveOutcome::default()));

    // The victim signs in as every morning; the benign agents too.
    let victim_tokens = match login(&client, &base, &cast.victim, None).await? {
        Ok(t) => t,
        Err(a) => bail!("the victim {} cannot sign in: {}", cast.victim.agent.login.as_str(), a.label()),
    };
    narrator.say(
        "setup",
        &format!(
            "{} benign agency advisors and the victim {} ({}/{}) signed in; the attack ({}) starts in {:.0} s",
            cast.benign.len(),
            cast.victim.agent.login.as_str(),
            scenario.attack.as_ref().map_or("", |a| a.victim_kind.as_str()),
            scenario.attack.as_ref().map_or("", |a| a.victim_role.as_str()),
            scenario.name,
            opts.warmup.as_secs_f64()
        ),
    );
    let mut tasks = tokio::task::JoinSet::new();
    for (i, player) in cast.benign.iter().cloned().enumerate() {
        let (client, base, narrator, stop, stats) =
            (client.clone(), base.clone(), narrator.clone(), stop.clone(), stats.clone());
        let seed = opts.seed.wrapping_mul(1_000).wrapping_add(i as u64);
        tasks.spawn(async move { benign(client, base, player, narrator, stop, stats, seed, deadline).await });
    }

    tokio::time::sleep(opts.warmup).await;
    let attacker = attack(opts, cast, scenario, &base, victim_tokens, narrator.clone(), stats.clone(), deadline).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    while let Some(r) = tasks.join_next().await {
        r.context("a benign agent's task")??;
    }
    attacker?;
    let mut out = stats.lock().map(|s| s.clone()).unwrap_or_default();
    narrator.say(
        "summary",
        &format!(
            "attacker: {} requests, {} records exposed ({} names listed), {}; benign: {} reads served, {} refused, {} step-ups passed",
            out.attacker_requests,
            out.exposed,
            out.listed,
            match (&out.contained_after, &out.contained_by) {
                (Some(d), Some(by)) => format!("contained {:.1} s after its first request ({by})", d.as_secs_f64()),
                _ => "NOT contained before the end of the run".into(),
            },
            out.benign_reads,
            out.benign_refused,
            out.benign_step_ups
        ),
    );
    out.lines = narrator.lines.lock().map(|l| l.clone()).unwrap_or_default();
    Ok(out)
}

/// A benign advisor: reads persons of its caseload at a human pace, passes step-ups.
#[allow(clippy::too_many_arguments)]
async fn benign(
    client: reqwest::Client,
    base: String,
    player: Player,
    narrator: Arc<Narrator>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    stats: Arc<Mutex<LiveOutcome>>,
    seed: u64,
    deadline: Instant,
) -> anyhow::Result<()> {
    let who = player.agent.login.as_str().to_owned();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut tokens = match login(&client, &base, &player, None).await? {
        Ok(t) => t,
        Err(a) => bail!("benign agent {who} cannot sign in: {}", a.label()),
    };
    // A benign agent's listing is not the attacker's: counted nowhere.
    let (ids, refused) = scope(&client, &base, &tokens, 200, &Mutex::new(LiveOutcome::default())).await?;
    if let Some(r) = refused {
        narrator.say(&who, &format!("scope listing refused: {}", r.label()));
    }
    if ids.is_empty() {
        return Ok(());
    }
    while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(1_500..6_000))).await;
        keep_fresh(&client, &base, &mut tokens).await?;
        let p = ids[rng.gen_range(0..ids.len())];
        let resp = client.get(format!("{base}/v1/persons/{p}")).bearer_auth(&tokens.access).send().await?;
        let (read, stepped, refused) = match answer(resp).await? {
            Answer::Record(_) => (1, 0, 0),
            Answer::StepUp => {
                narrator.say(&who, "asked to step up: passes it with a fresh TOTP code");
                if step_up(&client, &base, &player, &mut tokens).await? { (0, 1, 0) } else { (0, 0, 1) }
            }
            other => {
                narrator.say(&who, &format!("refused: {}", other.label()));
                (0, 0, 1)
            }
        };
        if let Ok(mut s) = stats.lock() {
            s.benign_reads += read;
            s.benign_step_ups += stepped;
            s.benign_refused += refused;
        }
    }
    Ok(())
}

/// The attacker, as the scenario says it holds the account and what it reads.
#[allow(clippy::too_many_arguments)]
async fn attack(
    opts: &LiveOptions,
    cast: &Cast,
    scenario: &Scenario,
    base: &str,
    victim_tokens: Tokens,
    narrator: Arc<Narrator>,
    stats: Arc<Mutex<LiveOutcome>>,
    deadline: Instant,
) -> anyhow::Result<()> {
    let Some(a) = &scenario.attack else { bail!("{}: not an attack", scenario.file) };
    if let Ok(mut s) = stats.lock() {
        s.attacker = Some(cast.victim.agent.id);
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed);
    let pace = (a.pace_per_minute.low + a.pace_per_minute.high) / 2.0 / 60.0;
    let rate = pace.min(opts.max_rate).max(0.05);
    let gap = Duration::from_secs_f64(1.0 / rate);
    // A script, not a browser; from another network when the cookie is replayed elsewhere
    // (another loopback /24: the server sees another source network).
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
    builder = match (a.access, a.network) {
        (Access::StolenSession, Network::Victim) => {
            builder.user_agent("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
        }
        (_, Network::Foreign) => {
            builder.user_agent("python-requests/2.32").local_address(std::net::IpAddr::from([127, 0, 1, 1]))
        }
        _ => builder.user_agent("python-requests/2.32"),
    };
    let client = builder.build()?;
    let started = Instant::now();
    let who = "attacker";
    let say_start = |how: &str| {
        narrator.say(
            who,
            &format!(
                "{how}; reads {} at {:.1} requests/s (scenario: {:.0}/min)",
                serde_json::to_value(a.targets).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
                rate,
                pace * 60.0
            ),
        )
    };
    // How the attacker holds the account.
    let mut tokens = match a.access {
        Access::StolenSession => {
            say_start(&format!("replays {}'s stolen session cookie", cast.victim.agent.login.as_str()));
            victim_tokens
        }
        Access::StolenPassword => {
            say_start("signs in with the stolen password and no second factor");
            // Without the factor, every attempt fails: try a few codes at the scenario's pace.
            let mut attempts = 0u32;
            while Instant::now() < deadline && attempts < 5 {
                let code = format!("{:06}", rng.gen_range(0..1_000_000));
                attempts += 1;
                if let Err(ans) = login(&client, base, &cast.victim, Some(code)).await? {
                    narrator.say(who, &format!("sign-in refused: {}", ans.label()));
                } else {
                    // One chance in a million a try: not contained, and said so.
                    narrator.say(who, "signed in with a guessed code");
                    return Ok(());
                }
                tokio::time::sleep(gap.max(Duration::from_secs(1))).await;
            }
            contained(&stats, started, "sign-in: no second factor");
            return Ok(());
        }
        Access::PhishedSecondFactor | Access::OwnAccount | Access::CreatedAccounts | Access::RidesSession => {
            say_start("signs in with the password and a phished one-time code");
            match login(&client, base, &cast.victim, None).await? {
                Ok(t) => t,
                Err(ans) => {
                    narrator.say(who, &format!("sign-in refused: {}", ans.label()));
                    contained(&stats, started, "sign-in");
                    return Ok(());
                }
            }
        }
    };
    let targets: Vec<PersonId> = match a.targets {
        Targets::Reach | Targets::Mimicry | Targets::ScopeList => {
            let (ids, refused) = scope(&client, base, &tokens, 5_000, &stats).await?;
            if let Ok(mut s) = stats.lock() {
                s.listed = ids.len();
            }
            narrator.say(who, &format!("listed {} persons the account reaches (names only)", ids.len()));
            if let Some(r) = refused {
                narrator.say(who, &format!("scope listing refused: {}", r.label()));
                if ids.is_empty() {
                    contained(&stats, started, &r.label());
                    return Ok(());
                }
            }
            ids
        }
        Targets::SequentialIds => {
            let from = rng.gen_range(1..=cast.persons.max(1));
            (from..=cast.persons).chain(1..from).take(100_000).filter_map(PersonId::new).collect()
        }
        Targets::LeakedKeys | Targets::FtIdKeys => Vec::new(),
    };
    let mut exposed = std::collections::HashSet::new();
    let mut last_label = String::new();
    let mut refused_since: Option<Instant> = None;
    let mut i = 0usize;
    let total = if a.targets == Targets::LeakedKeys { cast.leaked_keys.len() } else { targets.len() };
    while Instant::now() < deadline && i < total {
        let t0 = Instant::now();
        let resp = if a.targets == Targets::LeakedKeys {
            let (nir, birth) = &cast.leaked_keys[i];
            client
                .post(format!("{base}/v1/lookup"))
                .bearer_auth(&tokens.access)
                .json(&json!({"nir": nir, "birth_date": birth}))
                .send()
                .await?
        } else {
            client.get(format!("{base}/v1/persons/{}", targets[i])).bearer_auth(&tokens.access).send().await?
        };
        i += 1;
        let ans = answer(resp).await?;
        let label = ans.label();
        {
            let mut s = stats.lock().map_err(|_| anyhow::anyhow!("stats lock"))?;
            s.attacker_requests += 1;
            match &ans {
                Answer::Record(v) => {
                    let records: Vec<&Value> = match v["matches"].as_array() {
                        Some(items) => items.iter().collect(),
                        None => vec![v],
                    };
                    for rec in &records {
                        if let Some(p) = rec["id"].as_str().and_then(|s| s.parse::<PersonId>().ok()) {
                            let got = categories_in(rec);
                            let e = s.received.entry(p).or_insert(vigie_core::CategorySet::EMPTY);
                            *e = vigie_core::CategorySet::from_bits(e.bits() | got.bits()).unwrap_or(*e);
                        }
                    }
                    let ids: Vec<&str> = match v["matches"].as_array() {
                        Some(items) => items.iter().filter_map(|x| x["id"].as_str()).collect(),
                        None => v["id"].as_str().into_iter().collect(),
                    };
                    exposed.extend(ids.iter().map(|s| s.to_string()));
                    s.exposed = exposed.len();
                    s.contained_after = None;
                    s.contained_by = None;
                    refused_since = None;
                }
                Answer::NotFound => {}
                _ => {
                    if refused_since.is_none() {
                        refused_since = Some(Instant::now());
                        s.contained_after = Some(started.elapsed());
                        s.contained_by = Some(label.clone());
                    }
                }
            }
        }
        if label != last_label || exposed.len().is_power_of_two() && matches!(ans, Answer::Record(_)) {
            narrator.say(who, &format!("{label} ({} persons exposed so far)", exposed.len()));
            last_label = label;
        }
        match ans {
            Answer::StepUp if a.access.passes_step_up() => {
                let ok = step_up(&client, base, &cast.victim, &mut tokens).await?;
                narrator
                    .say(who, if ok { "passes the step-up (holds the second factor)" } else { "fails the step-up" });
            }
            Answer::Ended(_) if a.access.passes_step_up() => {
                // Signs in again with the credentials it holds.
                match login(&client, base, &cast.victim, None).await? {
                    Ok(t) => {
                        narrator.say(who, "signs in again");
                        tokens = t;
                    }
                    Err(ans) => {
                        narrator.say(who, &format!("sign-in refused: {}", ans.label()));
                        break;
                    }
                }
            }
            Answer::Ended(_) => break,
            _ => {}
        }
        keep_fresh(&client, base, &mut tokens).await.ok();
        // Contained and the point made: stop after the linger.
        if refused_since.is_some_and(|t| t.elapsed() >= opts.linger) {
            break;
        }
        let spent = t0.elapsed();
        if spent < gap {
            tokio::time::sleep(gap - spent).await;
        }
    }
    // Once contained, the run lingers a little so the benign agents show they still work.
    if let Some(since) = refused_since {
        let rest = opts.linger.saturating_sub(since.elapsed());
        tokio::time::sleep(rest.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
    Ok(())
}

fn contained(stats: &Mutex<LiveOutcome>, started: Instant, by: &str) {
    if let Ok(mut s) = stats.lock() {
        s.contained_after = Some(started.elapsed());
        s.contained_by = Some(by.to_owned());
    }
}

/// Waits until the server at `base` answers `/healthz` (it is starting in the same process).
pub async fn wait_ready(base: &str, within: Duration) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    let until = Instant::now() + within;
    loop {
        let ok = client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success());
        if ok {
            return Ok(());
        }
        if Instant::now() >= until {
            bail!("no Vigie answering at {base}/healthz after {} s", within.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
