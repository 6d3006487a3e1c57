//! The real binary as an operator runs it, under a usual umask (022): what it leaves on disk,
//! how it stops, and how it starts again after damage.
//!
//! - SIGTERM during traffic (what systemd, Docker and Kubernetes send) stops it like Ctrl-C:
//!   exit 0, a last checkpoint covering every entry (so every acknowledged read), the detector's
//!   snapshot, and no SQLite `-wal` left;
//! - every file it created in the data directory is 0600 and every directory 0700, and no
//!   agent's TOTP secret is in `vigie.db`;
//! - a data directory others can read is refused, naming the path and its mode, unless
//!   `insecure_skip_file_mode_check` is set;
//! - damage after the last checkpoint is cut at the next start, kept aside, raised as a system
//!   alert in the alerts file and recorded in the ledger, with what is known and no more.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use vigie_core::signin::TotpSecret;
use vigie_core::signin::totp::{base32_decode, code_at};

/// The binary, started through `sh` with umask 022 (a usual one: files readable by others
/// unless the program says otherwise).
fn vigie(args: &[&str]) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg("umask 022; exec \"$0\" \"$@\"").arg(env!("CARGO_BIN_EXE_vigie")).args(args);
    c.env_remove("VIGIE_LOG").env_remove("VIGIE_INSECURE_SKIP_FILE_MODE_CHECK");
    c
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every path under `dir`, recursively.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        out.push(path.clone());
        if path.is_dir() {
            walk(&path, out);
        }
    }
}

#[derive(Debug, Clone)]
struct Account {
    login: String,
    password: String,
    totp: TotpSecret,
    in_scope: Option<String>,
}

/// The demo's accounts, as `vigie demo --no-serve` prints them.
fn accounts(printed: &str) -> Vec<Account> {
    let mut out: Vec<Account> = Vec::new();
    for line in printed.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [.., "login", login] => out.push(Account {
                login: (*login).to_owned(),
                password: String::new(),
                totp: TotpSecret::from_bytes(&[0; 20]).unwrap(),
                in_scope: None,
            }),
            ["password", p] => out.last_mut().unwrap().password = (*p).to_owned(),
            ["totp", s] => out.last_mut().unwrap().totp = TotpSecret::from_bytes(&base32_decode(s).unwrap()).unwrap(),
            ["in", "scope", p] => out.last_mut().unwrap().in_scope = Some((*p).to_owned()),
            _ => {}
        }
    }
    out.retain(|a| !a.password.is_empty());
    out
}

/// A running server and the address it printed.
struct Server {
    child: Child,
    base: String,
    stderr: Arc<std::sync::Mutex<String>>,
}

impl Server {
    fn start(config: &Path, env: &[(&str, &str)]) -> Server {
        let mut cmd = vigie(&["serve", "--config", config.to_str().unwrap()]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let stderr = Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = BufReader::new(child.stderr.take().unwrap());
        let seen = stderr.clone();
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                if let Some(addr) = line.split("serving on ").nth(1) {
                    let _ = tx.send(addr.split_whitespace().next().unwrap_or("").to_owned());
                }
                seen.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let base = rx.recv_timeout(Duration::from_secs(120)).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the server did not start: {}", stderr.lock().unwrap())
        });
        Server { child, base, stderr }
    }

    fn term(&self) {
        rustix::process::kill_process(rustix::process::Pid::from_child(&self.child), rustix::process::Signal::TERM)
            .unwrap();
    }

    /// Waits for the exit (a deadline, not a measurement) and returns its code and stderr.
    fn wait(mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100)); // the reader's last lines
                return (status.code(), self.stderr.lock().unwrap().clone());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the server did not stop: {}", self.stderr.lock().unwrap());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

async fn sign_in(http: &reqwest::Client, base: &str, a: &Account) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let body = serde_json::json!({"login": a.login, "password": a.password, "totp": code_at(&a.totp, now)});
    let resp = http.post(format!("{base}/v1/login")).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}: {}", a.login, resp.text().await.unwrap());
    let v: serde_json::Value = resp.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

/// The tree size of the checkpoint in `ledger/checkpoint` (its second line).
fn checkpoint_size(data: &Path) -> u64 {
    let note = std::fs::read_to_string(data.join("ledger/checkpoint")).unwrap();
    note.lines().nth(1).unwrap().parse().unwrap()
}

/// The entries in the ledger, counted by reading it (with the month keys).
fn ledger_entries(data: &Path) -> Vec<vigie_ledger::Entry> {
    vigie_ledger::Entries::open(&data.join("ledger"))
        .unwrap()
        .with_keys(&data.join("ledger-keys"))
        .map(Result::unwrap)
        .collect()
}

#[test]
fn sigterm_during_traffic_stops_cleanly_and_a_damaged_tail_is_raised_at_the_next_start() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("vigie-data");
    let d = data.to_str().unwrap();
    let demo = vigie(&["demo", "--data-dir", d, "--persons", "3000", "--no-serve"]).output().unwrap();
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
    let accounts = accounts(&String::from_utf8_lossy(&demo.stdout));
    assert!(accounts.len() >= 3 && accounts.iter().all(|a| a.in_scope.is_some()), "{accounts:?}");
    std::fs::remove_file(data.join("detector.snapshot")).unwrap();

    let config = root.path().join("vigie.toml");
    std::fs::write(&config, format!("data_dir = {d:?}\nlisten = \"127.0.0.1:0\"\nshutdown_grace_seconds = 5\n"))
        .unwrap();
    let server = Server::start(&config, &[]);
    let base = server.base.clone();
    let acknowledged = Arc::new(AtomicU64::new(0));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    // Every account signs in first, so that the stop meets reads only.
    let signed_in = runtime.block_on(async {
        let mut out = Vec::new();
        for a in &accounts {
            let http = reqwest::Client::new();
            let token = sign_in(&http, &base, a).await;
            out.push((a.clone(), http, token));
        }
        out
    });
    let traffic = {
        let (acknowledged, base) = (acknowledged.clone(), base.clone());
        runtime.spawn(async move {
            let mut tasks = Vec::new();
            for (a, http, token) in signed_in {
                let (acknowledged, base) = (acknowledged.clone(), base.clone());
                tasks.push(tokio::spawn(async move {
                    let person = a.in_scope.unwrap();
                    // Until the server is gone: each 200 is an entry the ledger acknowledged.
                    loop {
                        match http.get(format!("{base}/v1/persons/{person}")).bearer_auth(&token).send().await {
                            Ok(r) if r.status() == 200 => {
                                if r.bytes().await.is_ok() {
                                    acknowledged.fetch_add(1, Ordering::SeqCst);
                                }
                            }
                            // A detector's demand (step-up, throttle) or a 503 while stopping.
                            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                            Err(_) => return,
                        }
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        })
    };
    // Stop in the middle of the traffic (once some reads have been answered).
    let deadline = Instant::now() + Duration::from_secs(120);
    while acknowledged.load(Ordering::SeqCst) < 100 {
        assert!(Instant::now() < deadline, "no traffic: {}", server.stderr.lock().unwrap());
        std::thread::sleep(Duration::from_millis(20));
    }
    server.term();
    let (code, stderr) = server.wait();
    runtime.block_on(traffic).unwrap();
    let answered = acknowledged.load(Ordering::SeqCst);
    assert_eq!(code, Some(0), "exit 0 on SIGTERM: {stderr}");
    assert!(stderr.contains("SIGTERM: stopping"), "{stderr}");

    // The last checkpoint covers every entry in the log, hence every acknowledged read.
    let entries = ledger_entries(&data);
    let size = checkpoint_size(&data);
    assert_eq!(size, entries.len() as u64, "a checkpoint of the whole log");
    assert!(size >= answered, "{size} entries checkpointed for {answered} reads answered");
    let verify = vigie(&["ledger", "verify", "--data-dir", d]).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    // The detector's snapshot was written at the stop (the periodic one comes after 60 s).
    assert!(data.join("detector.snapshot").is_file(), "no snapshot written at the stop");
    assert!(!data.join("vigie.db-wal").exists(), "SQLite's WAL left behind");

    // Under umask 022, everything the binary created is the owner's only.
    let mut paths = Vec::new();
    walk(&data, &mut paths);
    assert!(paths.iter().any(|p| p.ends_with("secrets.key")) && paths.iter().any(|p| p.ends_with("ledger.key")));
    assert_eq!(mode(&data), 0o700);
    for p in &paths {
        assert_eq!(mode(p), if p.is_dir() { 0o700 } else { 0o600 }, "{}", p.display());
    }
    // No agent's TOTP secret in the database, raw or as printed.
    let db = std::fs::read(data.join("vigie.db")).unwrap();
    for a in &accounts {
        for needle in [a.totp.as_bytes().to_vec(), a.totp.to_base32().into_bytes()] {
            assert!(!db.windows(needle.len()).any(|w| w == needle), "{}'s TOTP secret is in vigie.db", a.login);
        }
    }

    // Damage after the last checkpoint: what a crash (or someone at the disk) leaves.
    let segment = {
        let mut segs: Vec<PathBuf> = std::fs::read_dir(data.join("ledger"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        segs.sort();
        segs.pop().unwrap()
    };
    let mut bytes = std::fs::read(&segment).unwrap();
    let logical = bytes.len();
    bytes.extend_from_slice(&[0, 0, 0, 40, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xde, 0xad]);
    std::fs::write(&segment, &bytes).unwrap();

    let server = Server::start(&config, &[]);
    server.term();
    let (code, stderr) = server.wait();
    assert_eq!(code, Some(0), "{stderr}");
    let line =
        stderr.lines().find(|l| l.contains("ledger: cut 16 damaged bytes")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        line.contains(&format!("up to 1 entry, indexes {size} to {size}")) && line.contains("cannot be known"),
        "{line}"
    );
    assert!(!stderr.contains("never acknowledged"), "{stderr}");
    // Kept aside, 0600, named with the time and the indexes.
    let kept: Vec<PathBuf> = std::fs::read_dir(data.join("ledger"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("torn-"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].to_str().unwrap().ends_with(&format!("-entries-{size}-{size}.bin")), "{kept:?}");
    assert_eq!(std::fs::read(&kept[0]).unwrap(), bytes[logical..]);
    assert_eq!(mode(&kept[0]), 0o600);
    // A system alert in the alerts file.
    let alerts = std::fs::read_to_string(data.join("alerts.jsonl")).unwrap();
    let alert: serde_json::Value = alerts
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|a| a["event"] == "system")
        .unwrap_or_else(|| panic!("no system alert in {alerts}"));
    assert_eq!((&alert["action"], &alert["verdict"]), (&"ledger_tail_cut".into(), &"alert".into()));
    let reasons = alert["reasons"].to_string();
    assert!(reasons.contains("bytes=16") && reasons.contains(&format!("first_index={size}")), "{reasons}");
    assert!(reasons.contains("acknowledged=unknown"), "{reasons}");
    assert_eq!(mode(&data.join("alerts.jsonl")), 0o600);
    // And in the ledger, at the index the cut entry had.
    let entries = ledger_entries(&data);
    let recorded = vigie_core::security::SecurityEvent::decode(&entries[size as usize].body).unwrap();
    assert_eq!(recorded.kind, vigie_core::security::SecurityKind::LedgerTailCut);
    assert!(recorded.details.iter().any(|(k, v)| k == "first_index" && *v == size.to_string()), "{recorded:?}");
}

#[test]
fn a_data_directory_others_can_read_is_refused_unless_named_insecure() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("vigie-data");
    let d = data.to_str().unwrap();
    let demo = vigie(&["demo", "--data-dir", d, "--persons", "500", "--no-serve"]).output().unwrap();
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
    let config = root.path().join("vigie.toml");
    std::fs::write(&config, format!("data_dir = {d:?}\nlisten = \"127.0.0.1:0\"\n")).unwrap();

    // What an older Vigie, or a careless copy, left: a directory and a database others can read.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let refused = vigie(&["serve", "--config", config.to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&refused.stderr).to_string();
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains(&format!("{d} is readable by others (mode 0755)")), "{err}");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(data.join("vigie.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = vigie(&["serve", "--config", config.to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&refused.stderr).to_string();
    assert!(err.contains("vigie.db is readable by others (mode 0644)") && err.contains("chmod -R go-rwx"), "{err}");

    // Named insecure: it starts, with a warning naming the path.
    let server = Server::start(&config, &[("VIGIE_INSECURE_SKIP_FILE_MODE_CHECK", "true")]);
    server.term();
    let (code, stderr) = server.wait();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("vigie.db is readable by others (mode 0644) (insecure_skip_file_mode_check is set)"),
        "{stderr}"
    );
}

#[test]
fn the_secrets_key_is_rotated_with_the_server_stopped_and_agents_still_sign_in() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("vigie-data");
    let d = data.to_str().unwrap();
    let demo = vigie(&["demo", "--data-dir", d, "--persons", "500", "--no-serve"]).output().unwrap();
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
    let accounts = accounts(&String::from_utf8_lossy(&demo.stdout));
    let config = root.path().join("vigie.toml");
    std::fs::write(&config, format!("data_dir = {d:?}\nlisten = \"127.0.0.1:0\"\n")).unwrap();
    let keyring = data.join("secrets.key");
    let before = std::fs::read_to_string(&keyring).unwrap();

    // Beside a running server (which keeps the old key in memory) it is refused.
    let server = Server::start(&config, &[]);
    let refused = vigie(&["account", "rotate-secrets-key", "--data-dir", d]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("stop it first"), "{refused:?}");
    server.term();
    assert_eq!(server.wait().0, Some(0));
    assert_eq!(std::fs::read_to_string(&keyring).unwrap(), before, "nothing changed");

    let rotated = vigie(&["account", "rotate-secrets-key", "--data-dir", d]).output().unwrap();
    let out = String::from_utf8_lossy(&rotated.stdout).to_string();
    assert!(rotated.status.success(), "{out}{}", String::from_utf8_lossy(&rotated.stderr));
    let (new, old) = out.split_once(" under key ").unwrap().1.split_once("; retired: ").unwrap();
    let old = old.trim();
    assert!(before.contains(old) && !before.contains(new), "{out}");
    let after = std::fs::read_to_string(&keyring).unwrap();
    assert!(after.contains(new) && !after.contains(old), "the old key is retired:\n{after}");
    assert_eq!(mode(&keyring), 0o600);

    // The agents' second factors still open, under the new key.
    let server = Server::start(&config, &[]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(sign_in(&reqwest::Client::new(), &server.base, &accounts[0]));
    server.term();
    assert_eq!(server.wait().0, Some(0));
    let rotation = ledger_entries(&data)
        .iter()
        .filter_map(|e| vigie_core::security::SecurityEvent::decode(&e.body))
        .find(|e| e.kind == vigie_core::security::SecurityKind::SecretsKeyRotated)
        .expect("the rotation is ledgered");
    assert!(rotation.details.contains(&("key".to_owned(), new.to_owned())), "{rotation:?}");
}

/// A client that never finishes its request (a slow or stuck one) does not hold the stop: once
/// the grace period is over the connection is closed, and the stop completes as usual.
#[test]
fn a_stop_does_not_wait_for_a_stuck_client_past_the_grace_period() {
    use std::io::Write;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("vigie-data");
    let d = data.to_str().unwrap();
    let demo = vigie(&["demo", "--data-dir", d, "--persons", "500", "--no-serve"]).output().unwrap();
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
    let config = root.path().join("vigie.toml");
    std::fs::write(&config, format!("data_dir = {d:?}\nlisten = \"127.0.0.1:0\"\nshutdown_grace_seconds = 1\n"))
        .unwrap();
    let server = Server::start(&config, &[]);
    // Half a request, then nothing: the connection stays open for as long as this test runs.
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut stuck = std::net::TcpStream::connect(&addr).unwrap();
    stuck.write_all(b"GET /v1/scope HTTP/1.1\r\nHost: localhost\r\nX-Slow: ").unwrap();
    // Time for the server to accept it; had it not, no grace period would be needed, and the
    // "grace period over" below would fail the test rather than pass it wrongly.
    std::thread::sleep(Duration::from_millis(200));
    server.term();
    let (code, stderr) = server.wait();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("grace period over"), "{stderr}");
    assert!(!data.join("vigie.db-wal").exists());
    drop(stuck);
}

/// Idle keep-alive connections and slow clients do not hold a stop for its whole grace period
/// (a stop once waited 43 s for them): idle ones are closed at once, slow ones when their
/// header timeout runs out, long before a grace period of five minutes.
#[test]
fn idle_and_slow_connections_do_not_hold_the_stop() {
    use std::io::{Read, Write};
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("vigie-data");
    let d = data.to_str().unwrap();
    let demo = vigie(&["demo", "--data-dir", d, "--persons", "500", "--no-serve"]).output().unwrap();
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
    let config = root.path().join("vigie.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {d:?}\nlisten = \"127.0.0.1:0\"\nshutdown_grace_seconds = 300\n\n[server]\nheader_timeout_seconds = 2\n"
        ),
    )
    .unwrap();
    let server = Server::start(&config, &[]);
    let addr = server.base.trim_start_matches("http://").to_owned();
    // Kept alive after a request, then idle.
    let mut idle: Vec<std::net::TcpStream> = (0..20)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
            let mut first = [0u8; 17];
            s.read_exact(&mut first).unwrap();
            assert_eq!(&first, b"HTTP/1.1 200 OK\r\n");
            s
        })
        .collect();
    // Half a head, then nothing.
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /v1/scope HTTP/1.1\r\nHost: localhost\r\nX-Slow: ").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    server.term();
    // The wait's own deadline (two minutes) is far below the grace period: a stop held by these
    // connections fails here.
    let (code, stderr) = server.wait();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("grace period over"), "the stop waited for the grace period: {stderr}");
    assert!(!data.join("vigie.db-wal").exists());
    idle.clear();
    drop(slow);
}
