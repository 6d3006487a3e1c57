//! Three `vigie serve` nodes behind Debian's HAProxy on one throw-away PostgreSQL, all on
//! loopback (ARCHITECTURE.md, "PostgreSQL and several nodes"):
//!
//! - a stolen session whose requests are spread over the three nodes (each request to another
//!   node, some through HAProxy with a routing value edited or made up) exposes exactly as many
//!   persons as the same attack sent to one node: each agent's reads are judged by one detector
//!   state, whichever node receives them;
//! - `kill -9` of the node that judges an attacker in the middle of its attack: another node
//!   takes its agents over (the time is printed), rebuilds their state from the dead node's
//!   ledger, and the attacker is still stopped at the same figure; every read served is in a
//!   ledger; every node's ledger verifies afterwards;
//! - organizations' counts are merged across nodes: two colleagues judged on two nodes are
//!   stopped together at their organization's quota;
//! - a node whose clock is off the database's refuses to start, naming the bound.
//!
//! PostgreSQL and HAProxy are Debian's (`.ci/run` installs them); the test fails loudly without.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "../../vigie-store-pg/tests/common/mod.rs"]
mod pg;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use vigie_core::ids::{AgentId, PersonId};
use vigie_core::org::{Agent, OrgKind, Role};
use vigie_core::ports::Registry;
use vigie_core::signin::totp::code_at;
use vigie_core::time::{Clock, FixedClock, Timestamp};
use vigie_gen::GenParams;
use vigie_store_pg::{PgOptions, PgStore, StoreUrl};

/// The quotas of the agents attacked (agency advisors), small so that the test is quick.
const QUOTA_HOUR: usize = 20;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn private_dir(p: &Path) {
    std::fs::create_dir_all(p).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// One `vigie serve` process.
struct Node {
    name: String,
    port: u16,
    dir: PathBuf,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_vigie"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("VIGIE_LOG", "info")
            .env_remove("VIGIE_STORE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn kill9(&mut self) {
        let mut c = self.child.take().unwrap();
        c.kill().unwrap(); // SIGKILL
        c.wait().unwrap();
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            rustix::process::kill_process(rustix::process::Pid::from_child(&c), rustix::process::Signal::TERM).unwrap();
            let status = c.wait().unwrap();
            assert!(status.success(), "node {} did not stop cleanly: {status}; log:\n{}", self.name, self.log_text());
        }
    }

    /// Panics with its log if the process has exited.
    fn alive(&mut self) {
        if let Some(c) = &mut self.child
            && let Some(status) = c.try_wait().unwrap()
        {
            panic!("node {} exited ({status}):\n{}", self.name, self.log_text());
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Haproxy {
    child: Child,
    port: u16,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// HAProxy in front of the nodes, with the configuration of `docs/cluster/haproxy.cfg` (ports
/// replaced): consistent hashing on the routing value, redispatch when a node is down.
fn haproxy(dir: &Path, nodes: &[Node]) -> Haproxy {
    let port = free_port();
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/cluster/haproxy.cfg")).unwrap();
    let mut cfg = template.replace("bind 127.0.0.1:8080", &format!("bind 127.0.0.1:{port}"));
    for (i, n) in nodes.iter().enumerate() {
        cfg = cfg.replace(&format!("127.0.0.1:808{}", i + 1), &format!("127.0.0.1:{}", n.port));
    }
    assert!(!cfg.contains(":8081") && !cfg.contains(":8080"), "the example's ports were not all replaced:\n{cfg}");
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    let check =
        Command::new("haproxy").arg("-c").arg("-f").arg(&path).output().expect("haproxy (apt-get install haproxy)");
    assert!(check.status.success(), "haproxy -c: {}", String::from_utf8_lossy(&check.stderr));
    let child = Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("haproxy.log")).unwrap())
        .spawn()
        .unwrap();
    Haproxy { child, port }
}

fn node_config(root: &Path, name: &str, port: u16, url: &str, public_port: u16) -> PathBuf {
    let dir = root.join(name);
    private_dir(&dir);
    private_dir(&root.join("witness").join(name));
    let text = format!(
        r#"data_dir = "{dir}"
listen = "127.0.0.1:{port}"
public_url = "http://localhost:{public_port}"
trusted_proxies = ["127.0.0.1"]
secrets_key_file = "{keys}"

[store]
url = "{url}"
pool_size = 4

[ledger]
origin = "localhost/vigie/{name}"
witness_dirs = ["{witness}"]

[cluster]
node = "{name}"

[server]
session_requests_per_second = 1000
session_burst = 1000
account_requests_per_second = 1000
account_burst = 1000

[detection]
enabled = true

# An organization's quota is then its largest account's (20 an hour): small enough to test.
[detection.statistics]
org_quota_percent = 1

[[detection.thresholds]]
kind = "agency"
role = "advisor"
quota_hour = {QUOTA_HOUR}
quota_day = 60
quota_week = 100
"#,
        dir = dir.display(),
        keys = root.join("secrets.key").display(),
        witness = root.join("witness").join(name).display(),
    );
    let path = root.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Active agency advisors with at least `min` persons in scope, with those persons, outside
/// the organizations `not_in`.
fn advisors_with_scope(
    store: &PgStore,
    min: usize,
    as_of: time::Date,
    not_in: &[vigie_core::ids::OrgId],
) -> impl Iterator<Item = (Agent, Vec<PersonId>)> {
    (1..20_000u64)
        .filter_map(AgentId::new)
        .map_while(|id| store.agent(id).unwrap())
        .filter(move |a| a.active && a.role == Role::Advisor && !not_in.contains(&a.org))
        .filter(|a| store.organization(a.org).unwrap().is_some_and(|o| o.kind == OrgKind::Agency && o.active))
        .filter_map(move |a| {
            let page = store.scope_page(&a, None, 100, as_of).unwrap();
            (page.len() >= min).then(|| (a.clone(), page.iter().map(|(e, _)| e.id).collect()))
        })
}

struct Attacker {
    org: vigie_core::ids::OrgId,
    login: String,
    password: String,
    totp: vigie_core::signin::TotpSecret,
    persons: Vec<PersonId>,
    agent: AgentId,
}

/// Signs in through `base`; the access token and the routing value.
async fn sign_in(http: &reqwest::Client, base: &str, a: &Attacker) -> (String, String) {
    let now = vigie::app::WallClock.now().seconds();
    let resp = http
        .post(format!("{base}/v1/login"))
        .json(&json!({"login": a.login, "password": a.password, "totp": code_at(&a.totp, now)}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let header = resp.headers().get("vigie-route").map(|v| v.to_str().unwrap().to_owned());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let route = body["route"].as_str().expect("a routing value in the sign-in answer").to_owned();
    assert_eq!(header.as_deref(), Some(route.as_str()), "the header and the body carry the same value");
    (body["access_token"].as_str().unwrap().to_owned(), route)
}

/// What an attack got: the persons whose record came back, and the answers that refused.
#[derive(Debug, Default)]
struct Outcome {
    exposed: BTreeSet<PersonId>,
    refusals: Vec<String>,
    /// Answers 502/503 retried (a node down, a hand-over).
    retried: usize,
}

/// Reads `persons` one after the other with `token`, request `i` sent where `target(i)` says
/// (a base URL and the routing value to send, if any). A 502/503 is retried (the attacker
/// insists); `on_read(n)` runs after the n-th answer.
async fn attack<F, G>(http: &reqwest::Client, token: &str, persons: &[PersonId], target: F, mut on_read: G) -> Outcome
where
    F: Fn(usize) -> (String, Option<String>),
    G: FnMut(usize, &Outcome) -> Option<Instant>,
{
    let mut out = Outcome::default();
    let mut i = 0;
    for p in persons {
        let mut waiting_since: Option<Instant> = None;
        loop {
            let (base, route) = target(i);
            i += 1;
            let mut req = http.get(format!("{base}/v1/persons/{p}")).bearer_auth(token);
            if let Some(r) = route {
                req = req.header("vigie-route", r);
            }
            let resp = req.send().await;
            let (status, body) = match resp {
                Ok(r) => (r.status(), r.text().await.unwrap()),
                Err(_) => (StatusCode::BAD_GATEWAY, String::new()),
            };
            if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::BAD_GATEWAY {
                out.retried += 1;
                let since = *waiting_since.get_or_insert_with(Instant::now);
                assert!(
                    since.elapsed() < Duration::from_secs(20),
                    "no node judged the agent for 20 s: {status} {body}"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            if status == StatusCode::OK {
                out.exposed.insert(*p);
            } else {
                let kind =
                    serde_json::from_str::<Value>(&body).ok().and_then(|v| v["type"].as_str().map(str::to_owned));
                out.refusals.push(format!("{status} {}", kind.unwrap_or(body)));
            }
            break;
        }
        on_read(out.exposed.len() + out.refusals.len(), &out);
    }
    out
}

/// Every access event of `agent` in every node's ledger: (person, whether data was returned).
fn ledgered(dirs: &[PathBuf], agent: AgentId) -> Vec<(Option<PersonId>, bool)> {
    let mut out = Vec::new();
    for d in dirs {
        let entries =
            vigie_ledger::Entries::open_after(&d.join("ledger"), i64::MIN).unwrap().with_keys(&d.join("ledger-keys"));
        for e in entries {
            let e = e.unwrap();
            if let Some(h) = vigie_core::event::EventHead::decode(&e.body)
                && h.agent == agent
            {
                out.push((h.person, !h.returned.is_empty()));
            }
        }
    }
    out
}

fn owner_of(cluster: &pg::Cluster, agent: AgentId) -> String {
    cluster.psql(
        "vigie",
        &format!("SELECT node FROM vigie_cluster.key_groups WHERE kg = {}", vigie_core::route::key_group(agent)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_judge_each_agent_once_and_hand_a_killed_nodes_agents_over() {
    let cluster = pg::Cluster::start();
    let url = StoreUrl::parse(&cluster.url()).unwrap();
    let as_of = vigie::app::WallClock.now().date();
    {
        let url = url.clone();
        let params = GenParams { seed: 11, persons: 8_000, as_of };
        tokio::task::spawn_blocking(move || vigie::generate::generate_postgres(&url, &params, false, false))
            .await
            .unwrap()
            .unwrap();
    }
    let root = tempfile::Builder::new().prefix("vigie-cluster-").tempdir().unwrap();
    let root = root.path().to_path_buf();
    private_dir(&root);

    // Three attackers' credentials, issued before the nodes start (the keyring is created with
    // the first secret sealed, and each node loads it at start).
    // Three attackers of one organization, and five colleagues of another whose reads together
    // meet their organization's quota.
    let (attackers, colleagues): (Vec<Attacker>, Vec<Attacker>) = {
        let (url, root) = (url.clone(), root.clone());
        tokio::task::spawn_blocking(move || {
            let store = PgStore::open(&url, &PgOptions::new(root.join("secrets.key"))).unwrap();
            let issue = |(agent, persons): (Agent, Vec<PersonId>)| {
                let issued = vigie::credentials::issue(&store, agent.id).unwrap();
                Attacker {
                    org: agent.org,
                    login: agent.login.as_str().to_owned(),
                    password: issued.password.expose().to_owned(),
                    totp: issued.totp,
                    persons,
                    agent: agent.id,
                }
            };
            // Colleagues: their organization's scope, so the same persons in the same order;
            // their organization's count is the largest of theirs and stays under its quota.
            let first =
                advisors_with_scope(&store, 2 * QUOTA_HOUR, as_of, &[]).next().expect("an advisor with a scope");
            let org = first.0.org;
            let attackers: Vec<Attacker> = std::iter::once(first)
                .chain(
                    advisors_with_scope(&store, 2 * QUOTA_HOUR, as_of, &[])
                        .filter(|(a, _)| a.org == org)
                        .skip(1)
                        .take(2),
                )
                .map(issue)
                .collect();
            assert_eq!(attackers.len(), 3);
            let not: Vec<_> = attackers.iter().map(|a| a.org).collect();
            let mut by_org: std::collections::BTreeMap<vigie_core::ids::OrgId, Vec<(Agent, Vec<PersonId>)>> =
                std::collections::BTreeMap::new();
            let team = advisors_with_scope(&store, QUOTA_HOUR, as_of, &not)
                .find_map(|(a, p)| {
                    let v = by_org.entry(a.org).or_default();
                    v.push((a, p));
                    (v.len() == 5).then(|| std::mem::take(v))
                })
                .expect("five advisors of one organization with a scope");
            let colleagues = team.into_iter().map(issue).collect();
            (attackers, colleagues)
        })
        .await
        .unwrap()
    };

    let public_port = free_port();
    let mut nodes: Vec<Node> = ["n1", "n2", "n3"]
        .iter()
        .map(|name| {
            let port = free_port();
            let config = node_config(&root, name, port, &cluster.url(), public_port);
            Node {
                name: (*name).to_owned(),
                port,
                dir: root.join(name),
                config,
                log: root.join(format!("{name}.log")),
                child: None,
            }
        })
        .collect();
    for n in &mut nodes {
        n.start();
    }
    let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().unwrap();
    // Every node up, and the key groups spread over the three.
    let started = Instant::now();
    loop {
        let mut up = 0;
        for n in &mut nodes {
            n.alive();
        }
        for n in &nodes {
            if http.get(format!("{}/healthz", n.base())).send().await.is_ok_and(|r| r.status().is_success()) {
                up += 1;
            }
        }
        let spread = if cluster.psql("vigie", "SELECT to_regclass('vigie_cluster.key_groups') IS NOT NULL") == "t" {
            cluster.psql(
                "vigie",
                "SELECT count(DISTINCT node) || ' ' || count(*) FILTER (WHERE node IS NULL) FROM vigie_cluster.key_groups",
            )
        } else {
            "no table yet".to_owned()
        };
        if up == 3 && spread == "3 0" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the cluster did not form ({up} nodes up, groups {spread});\n{}",
            nodes.iter().map(|n| format!("--- {}:\n{}", n.name, n.log_text())).collect::<String>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let proxy = haproxy(&root, &nodes);
    let front = format!("http://127.0.0.1:{}", proxy.port);
    let started = Instant::now();
    while !http.get(format!("{front}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(started.elapsed() < Duration::from_secs(10), "haproxy did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bases: Vec<String> = nodes.iter().map(Node::base).collect();

    // 1. One node: the first attacker's session, every request to n1.
    let a = &attackers[0];
    let (token, _) = sign_in(&http, &front, a).await;
    let one = attack(&http, &token, &a.persons, |_| (bases[0].clone(), None), |_, _| None).await;
    eprintln!("one node: {} persons exposed, refusals {:?}", one.exposed.len(), one.refusals.first());
    assert!(!one.exposed.is_empty() && one.exposed.len() <= QUOTA_HOUR, "{one:?}");
    assert!(one.refusals.len() >= a.persons.len() - QUOTA_HOUR, "the attack was not stopped: {one:?}");

    // 2. The same attack spread: each request to the next node, every third through HAProxy with
    //    a routing value made up (another group's, unsigned) or another session's.
    let b = &attackers[1];
    let (token, route) = sign_in(&http, &front, b).await;
    let b_token = token.clone();
    // The third attacker's session (used in 3.), whose value the second one borrows.
    let (c_token, other_route) = sign_in(&http, &front, &attackers[2]).await;
    assert_ne!(route, other_route);
    let forged = format!("{:03x}.{}", (vigie_core::route::key_group(b.agent) + 1) % 4096, "0".repeat(32));
    let spread = attack(
        &http,
        &token,
        &b.persons,
        |i| match i % 4 {
            3 => (front.clone(), Some(if i % 8 == 3 { forged.clone() } else { other_route.clone() })),
            n => (bases[n].clone(), None),
        },
        |_, _| None,
    )
    .await;
    eprintln!("spread over three nodes: {} persons exposed", spread.exposed.len());
    assert_eq!(
        spread.exposed.len(),
        one.exposed.len(),
        "a session spread over the nodes exposed another figure than on one node: {spread:?}"
    );

    // 4. An organization's count across nodes: two colleagues judged on two nodes. The first
    //    reads 14 persons; once the sketches are exchanged (every second), the second is stopped
    //    when the organization reaches its quota (20), not at its own. Its reads are a second
    //    apart, the pace at which a node re-estimates an organization's count.
    let owners: Vec<String> = colleagues.iter().map(|c| owner_of(&cluster, c.agent)).collect();
    let (x, y) = (0..colleagues.len())
        .flat_map(|i| (0..colleagues.len()).map(move |j| (i, j)))
        .find(|(i, j)| owners[*i] != owners[*j])
        .map(|(i, j)| (&colleagues[i], &colleagues[j]))
        .expect("two colleagues judged on two nodes");
    let (token, route) = sign_in(&http, &front, x).await;
    let first = attack(&http, &token, &x.persons[..14], |_| (front.clone(), Some(route.clone())), |_, _| None).await;
    assert_eq!(first.exposed.len(), 14, "{first:?}");
    // The first colleague's node has published its sketch (a loaded machine may delay its
    // heartbeat); the second's node merges it within the next exchanges.
    let published = Instant::now();
    let x_owner = owner_of(&cluster, x.agent);
    let read_by = cluster.psql("vigie", "SELECT now()");
    while cluster.psql(
        "vigie",
        &format!(
            "SELECT count(*) FROM vigie_cluster.org_sketches WHERE org = {} AND node = '{x_owner}' \
             AND updated_at > '{read_by}'",
            x.org.as_i64()
        ),
    ) != "1"
    {
        assert!(published.elapsed() < Duration::from_secs(20), "node {x_owner} never published its sketch");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let (token, route) = sign_in(&http, &front, y).await;
    let theirs: Vec<PersonId> = y.persons.iter().filter(|p| !first.exposed.contains(p)).take(14).copied().collect();
    let mut second = Outcome::default();
    for p in theirs {
        let out = attack(&http, &token, &[p], |_| (front.clone(), Some(route.clone())), |_, _| None).await;
        second.exposed.extend(out.exposed);
        second.refusals.extend(out.refusals);
        if !second.refusals.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1_050)).await;
    }
    eprintln!(
        "organization's count across nodes: {} on {}, then {} on {} before {:?}",
        first.exposed.len(),
        owners[colleagues.iter().position(|c| c.agent == x.agent).unwrap()],
        second.exposed.len(),
        owners[colleagues.iter().position(|c| c.agent == y.agent).unwrap()],
        second.refusals.first()
    );
    // Without the merge the second would read all 14 (its own quota is 20) and never be
    // refused. With it, the organization stops at its quota as its sketch estimates it: 2 048
    // registers count 20 persons by linear counting, exact unless two persons share a register
    // (one pair in about 9 % of the cluster's random keys, which lets one more read through;
    // three pairs about once in 7 500), so the bound allows two.
    assert!(second.refusals.first().is_some_and(|r| r.starts_with("429")), "{second:?}");
    assert!(
        first.exposed.len() + second.exposed.len() <= QUOTA_HOUR + 2,
        "the organization went past its quota: the other node's count was not merged ({second:?})"
    );

    // A request of the second attacker's session marked as forwarded by a peer, sent to a node
    // that does not judge its agent, is refused there: the mark grants nothing and is never
    // forwarded again.
    let b_owner = owner_of(&cluster, b.agent);
    let other = nodes.iter().find(|n| n.name != b_owner).unwrap();
    let resp = http
        .get(format!("{}/v1/persons/{}", other.base(), b.persons[0]))
        .bearer_auth(&b_token)
        .header("vigie-forwarded", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "{}", resp.text().await.unwrap());

    // 3. kill -9 of the node judging the third attacker, half-way to its quota.
    let c = &attackers[2];
    let (token, route) = (c_token, other_route.clone());
    let owner = owner_of(&cluster, c.agent);
    let victim = nodes.iter().position(|n| n.name == owner).unwrap();
    let half = one.exposed.len() / 2;
    let mut killed_at: Option<Instant> = None;
    let mut handed_over: Option<Duration> = None;
    let victim_node = &mut nodes[victim];
    let killed = attack(
        &http,
        &token,
        &c.persons,
        |_| (front.clone(), Some(route.clone())),
        |n, _| {
            if n == half && killed_at.is_none() {
                victim_node.kill9();
                killed_at = Some(Instant::now());
            } else if let Some(at) = killed_at
                && handed_over.is_none()
            {
                handed_over = Some(at.elapsed());
            }
            None
        },
    )
    .await;
    let handed_over = handed_over.expect("the attack went on after the kill");
    let new_owner = owner_of(&cluster, c.agent);
    eprintln!(
        "kill -9 of {owner}: the agent judged again by {new_owner} {} ms after the kill (first answer after it, retries included: {}); {} persons exposed in all",
        handed_over.as_millis(),
        killed.retried,
        killed.exposed.len()
    );
    assert_ne!(new_owner, owner);
    assert_eq!(
        killed.exposed.len(),
        one.exposed.len(),
        "killing the attacker's node changed its figure (quota reset?): {killed:?}"
    );

    // Every record served is in a ledger (no acknowledged entry lost with the killed node).
    let dirs: Vec<PathBuf> = nodes.iter().map(|n| n.dir.clone()).collect();
    for (att, out) in [(a, &one), (b, &spread), (c, &killed), (x, &first), (y, &second)] {
        let in_ledgers: BTreeSet<PersonId> =
            ledgered(&dirs, att.agent).into_iter().filter(|(_, ret)| *ret).filter_map(|(p, _)| p).collect();
        for p in &out.exposed {
            assert!(in_ledgers.contains(p), "person {p} was served to {} without a ledger entry", att.agent);
        }
    }

    // The killed node comes back (its ledger's tail recovered) and rejoins; then every node
    // stops cleanly and every node's ledger verifies.
    nodes[victim].start();
    let started = Instant::now();
    while cluster.psql("vigie", &format!("SELECT count(*) FROM vigie_cluster.key_groups WHERE node = '{owner}'")) == "0"
    {
        assert!(started.elapsed() < Duration::from_secs(30), "{owner} did not rejoin:\n{}", nodes[victim].log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The keyring cannot be rotated under serving nodes (each keeps the keys it loaded).
    let operator = root.join("operator");
    private_dir(&operator);
    let rotate = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["account", "rotate-secrets-key", "--store", &cluster.url(), "--data-dir"])
        .arg(&operator)
        .arg("--secrets-key-file")
        .arg(root.join("secrets.key"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&rotate.stderr);
    assert!(!rotate.status.success() && said.contains("n1, n2, n3 are serving"), "{said}");
    let keys = cluster.psql("vigie", "SELECT string_agg(DISTINCT totp_key, ',') FROM vigie.credentials");
    assert!(!keys.contains(','), "nothing re-sealed: {keys}");
    drop(proxy);
    for n in &mut nodes {
        n.stop();
    }
    // Incident scoping reads every node's ledger in one command (the nodes stopped: the
    // command writes its own entries to n1's ledger).
    scope_across_nodes(&nodes, &cluster, as_of, c.agent, &killed, &[&one, &spread, &killed, &first, &second]);

    // Every node's ledger at once, as the cluster lists them in PostgreSQL.
    let all = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["ledger", "verify", "--all-nodes", "--config"])
        .arg(&nodes[0].config)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&all.stdout);
    assert!(all.status.success(), "{printed}{}", String::from_utf8_lossy(&all.stderr));
    assert!(printed.contains("all 3 nodes' ledgers: OK"), "{printed}");
    for n in &nodes {
        assert!(printed.contains(&format!("== node {} (localhost/vigie/{})", n.name, n.name)), "{printed}");
        let witness = root.join("witness").join(&n.name);
        assert!(
            printed.contains(&witness.display().to_string()),
            "{}'s witnessed checkpoints not checked: {printed}",
            n.name
        );
    }
    for n in &nodes {
        let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
            .args(["ledger", "verify", "--config"])
            .arg(&n.config)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}'s ledger does not verify: {}{}",
            n.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // One byte changed in n2's ledger: the check of every node fails and names it.
    let segment = nodes[1].dir.join("ledger").join("00000000.log");
    let mut bytes = std::fs::read(&segment).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&segment, bytes).unwrap();
    let all = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["ledger", "verify", "--all-nodes", "--config"])
        .arg(&nodes[0].config)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&all.stderr);
    assert!(!all.status.success(), "a damaged node's ledger passed");
    assert!(said.contains("1 of 3 nodes' ledgers FAILED verification: n2"), "{said}");
}

/// `vigie incident` on n1's configuration, against every node's ledger:
/// - the attacker whose node was killed half-way: its reads sit in two nodes' ledgers, and the
///   scope is exactly the records ledgered as released to it (every record it was served, and
///   any whose answer the kill cut off), with an inclusion proof of every entry against its own
///   node's checkpoint;
/// - the network every session signed in from (through HAProxy): a sign-in recorded by one node
///   names sessions whose reads other nodes recorded, and the scope is exactly every record
///   released in the test.
fn scope_across_nodes(
    nodes: &[Node],
    cluster: &pg::Cluster,
    as_of: time::Date,
    killed_agent: AgentId,
    killed: &Outcome,
    all: &[&Outcome],
) {
    let config = nodes[0].config.to_str().unwrap();
    let from = as_of.to_string();
    let to = as_of.next_day().unwrap().to_string();
    let vigie = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_vigie")).arg("incident").args(args).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "vigie incident {args:?}: {text}");
        text
    };
    // The records of an incident's persons.csv (a duplicate's record is listed under its original).
    let records = |id: &str| -> BTreeSet<PersonId> {
        let csv = std::fs::read_to_string(nodes[0].dir.join("incidents").join(id).join("persons.csv")).unwrap();
        csv.lines()
            .skip(1)
            .flat_map(|l| {
                l.split(',').nth(1).unwrap().split(' ').map(|r| r.split(':').next().unwrap().parse().unwrap())
            })
            .collect()
    };
    let agent = killed_agent.to_string();
    vigie(&["open", "-c", config, "--title", "Noeud tué", "--from", &from, "--to", &to, "--agent", &agent]);
    let scoped = vigie(&["scope", "-c", config, "I1", "--proofs"]);
    let dirs: Vec<PathBuf> = nodes.iter().map(|n| n.dir.clone()).collect();
    let released: Vec<PersonId> =
        ledgered(&dirs, killed_agent).into_iter().filter(|(_, ret)| *ret).filter_map(|(p, _)| p).collect();
    let want: BTreeSet<PersonId> = released.iter().copied().collect();
    assert!(want.is_superset(&killed.exposed), "a record served without its entry");
    assert_eq!(records("I1"), want, "the killed node's attacker, scoped over every ledger: {scoped}");
    let ledgered_on: BTreeSet<String> = ledgered_nodes(nodes, killed_agent);
    assert_eq!(ledgered_on.len(), 2, "the attacker's reads should sit in two ledgers: {ledgered_on:?}");
    for n in nodes {
        assert!(scoped.contains(&format!("localhost/vigie/{}", n.name)), "{}'s checkpoint not cited: {scoped}", n.name);
    }
    let dir = nodes[0].dir.join("incidents").join("I1");
    let proofs = std::fs::read_to_string(dir.join("proofs.jsonl")).unwrap();
    let entries = std::fs::read_to_string(dir.join("entries.txt")).unwrap();
    let cited: Vec<&str> = entries.lines().filter(|l| !l.starts_with('#')).collect();
    let proved: Vec<serde_json::Value> = proofs
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("entry").is_some())
        .collect();
    assert_eq!(proved.len(), cited.len(), "one proof per entry relied on");
    assert_eq!(cited.len(), released.len(), "every released entry, once");
    for node in &ledgered_on {
        assert!(cited.iter().any(|e| e.starts_with(&format!("{node}:"))), "no entry of {node}: {entries}");
        assert!(proved.iter().any(|v| v["node"] == node.as_str() && v["proof"].is_array()), "{proofs}");
    }

    // What makes this the cross-node case: a session signed in on one node's ledger and read on
    // another's (HAProxy sends a sign-in anywhere; the reads go to the agent's owner).
    let crossed = nodes.iter().any(|signed| {
        let sessions = signed_in_sessions(&signed.dir);
        nodes
            .iter()
            .filter(|n| n.name != signed.name)
            .any(|n| read_sessions(&n.dir).iter().any(|s| sessions.contains(s)))
    });
    assert!(crossed, "no session signed in on one node and read on another: the test would not show the resolution");
    let everyone: BTreeSet<PersonId> = released_to_anyone(&dirs);
    assert!(all.iter().all(|o| everyone.is_superset(&o.exposed)), "a record served without its entry");
    vigie(&["open", "-c", config, "--title", "Réseau", "--from", &from, "--to", &to, "--network", "127.0.0.0/24"]);
    let scoped = vigie(&["scope", "-c", config, "I2"]);
    assert_eq!(records("I2"), everyone, "the network's sessions, resolved on every ledger: {scoped}");
    assert_eq!(cluster.psql("vigie", "SELECT count(*) FROM vigie.incidents"), "2");
}

/// The sessions whose sign-in a node's ledger holds.
fn signed_in_sessions(dir: &Path) -> BTreeSet<u64> {
    vigie_ledger::Entries::open_after(&dir.join("ledger"), i64::MIN)
        .unwrap()
        .with_keys(&dir.join("ledger-keys"))
        .filter_map(|e| vigie_core::security::SecurityEvent::decode(&e.unwrap().body))
        .filter(|e| e.kind == vigie_core::security::SecurityKind::SignIn)
        .filter_map(|e| e.session.map(|s| s.0))
        .collect()
}

/// The sessions whose reads a node's ledger holds.
fn read_sessions(dir: &Path) -> BTreeSet<u64> {
    vigie_ledger::Entries::open_after(&dir.join("ledger"), i64::MIN)
        .unwrap()
        .with_keys(&dir.join("ledger-keys"))
        .filter_map(|e| vigie_core::event::EventHead::decode(&e.unwrap().body))
        .map(|h| h.session.0)
        .collect()
}

/// Every record released to anyone, in every node's ledger.
fn released_to_anyone(dirs: &[PathBuf]) -> BTreeSet<PersonId> {
    let mut out = BTreeSet::new();
    for d in dirs {
        let entries =
            vigie_ledger::Entries::open_after(&d.join("ledger"), i64::MIN).unwrap().with_keys(&d.join("ledger-keys"));
        for e in entries {
            if let Some(h) = vigie_core::event::EventHead::decode(&e.unwrap().body)
                && !h.returned.is_empty()
            {
                out.extend(h.person);
            }
        }
    }
    out
}

/// The nodes whose ledger holds access entries of `agent`.
fn ledgered_nodes(nodes: &[Node], agent: AgentId) -> BTreeSet<String> {
    nodes.iter().filter(|n| !ledgered(std::slice::from_ref(&n.dir), agent).is_empty()).map(|n| n.name.clone()).collect()
}

/// A node whose clock is off the database's by more than `max_clock_skew_ms` refuses to start,
/// naming the skew and the setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_clock_is_off_the_databases_refuses_to_join() {
    let cluster = pg::Cluster::start();
    let url = StoreUrl::parse(&cluster.url()).unwrap();
    let dir = tempfile::Builder::new().prefix("vigie-skew-").tempdir().unwrap();
    private_dir(dir.path());
    let settings = vigie::app::settings(dir.path(), "http://localhost:8080").unwrap();
    // Ten minutes behind.
    let clock = Arc::new(FixedClock::at(Timestamp(vigie::app::WallClock.now().millis() - 600_000)));
    let cluster_settings = vigie::config_cluster::ClusterConfig {
        node: "skewed".into(),
        address: Some("127.0.0.1:9".parse().unwrap()),
        heartbeat_ms: 100,
        lease_ms: 500,
        max_clock_skew_ms: 1_000,
    }
    .settings("127.0.0.1:9".parse().unwrap(), &["127.0.0.1".parse().unwrap()])
    .unwrap();
    let options = PgOptions::new(dir.path().join("secrets.key"));
    let dir_path = dir.path().to_path_buf();
    let err = tokio::task::spawn_blocking(move || {
        vigie::app_pg::open_node(&dir_path, None, settings, &url, &options, clock, Some(cluster_settings))
    })
    .await
    .unwrap()
    .expect_err("a node ten minutes off joined the cluster");
    let msg = format!("{err:#}");
    assert!(msg.contains("max_clock_skew_ms") && msg.contains("1000 ms"), "{msg}");
    assert!(msg.contains("-600"), "the skew is named: {msg}");
    assert_eq!(
        cluster.psql("vigie", "SELECT count(*) FROM vigie_cluster.nodes WHERE name = 'skewed'"),
        "0",
        "a refused node left a lease behind"
    );
}
