//! The Chromium process: launched headless with a throw-away profile, reached over its DevTools
//! websocket, killed and its profile removed when the [`Browser`] is dropped.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::connection::{Connection, ConnectionTasks};
use crate::error::BrowserError;
use crate::locate::chromium_available;
use crate::page::Page;

/// How long Chromium may take to announce its DevTools endpoint (a cold start on a loaded CI
/// machine takes a few seconds; a warm one well under one).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time limit for one browser-level command.
const BROWSER_CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// Lines of Chromium's stderr kept to explain a failed start.
const STDERR_TAIL: usize = 40;

/// Flags for a headless browser on a closed network, each for a reason:
/// * `--headless=new`: the real browser without a window (the old headless is a separate binary
///   in recent Chromium);
/// * `--no-sandbox`: tests run as root in containers, where the sandbox cannot start;
/// * `--disable-gpu`: there is no GPU;
/// * `--disable-quic`, `--disable-background-networking`, `--disable-component-update`,
///   `--disable-sync`: no traffic to Google services, which are unreachable here and would only
///   add noise and delays;
/// * `--no-first-run`: no first-run UI;
/// * `--disable-dev-shm-usage`: containers often have a tiny `/dev/shm`, where renderers crash
///   (Debian's launcher adds it too when `/dev/shm` is small; repeated for `CHROME` overrides);
/// * `--remote-debugging-port=0`: let Chromium pick a free port and write it to
///   `DevToolsActivePort`, so parallel tests never collide.
const FLAGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
];

/// A headless Chromium driven over CDP. Dropping it kills the process and removes its profile.
pub struct Browser {
    child: Child,
    connection: Arc<Connection>,
    tasks: ConnectionTasks,
    /// `Option` only so that `Drop` can remove it after the process is gone.
    profile: Option<TempDir>,
    ws_url: String,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("pid", &self.child.id())
            .field("profile", &self.profile.as_ref().map(TempDir::path))
            .field("ws_url", &self.ws_url)
            .finish_non_exhaustive()
    }
}

impl Browser {
    /// Starts Chromium (`$CHROME` or `/usr/bin/chromium`) headless with a fresh profile and
    /// connects to it. Must be called inside a tokio runtime, which then serves the connection.
    pub async fn launch() -> Result<Browser, BrowserError> {
        let program = chromium_available().map_err(BrowserError::NotFound)?;
        let profile = tempfile::Builder::new().prefix("vigie-browser-").tempdir().map_err(BrowserError::Profile)?;
        let mut child = Command::new(&program)
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| BrowserError::Spawn { program: program.clone(), source })?;
        let stderr = StderrTail::follow(&mut child);

        let ws_url = match wait_for_endpoint(&mut child, profile.path(), &stderr).await {
            Ok(url) => url,
            Err(e) => {
                kill(&mut child);
                return Err(e);
            }
        };
        let (connection, tasks) = match Connection::connect(&ws_url).await {
            Ok(connected) => connected,
            Err(e) => {
                kill(&mut child);
                return Err(e);
            }
        };
        tracing::debug!(pid = child.id(), %ws_url, "chromium started");
        Ok(Browser { child, connection, tasks, profile: Some(profile), ws_url })
    }

    /// A new tab in the default browser context (cookies shared with the other such tabs).
    pub async fn new_page(&self) -> Result<Page, BrowserError> {
        Page::open(Arc::clone(&self.connection), None).await
    }

    /// A new tab in a fresh browser context, like an incognito window: its own cookie jar and
    /// storage, for "the same user on another device" or "an attacker's browser".
    pub async fn new_isolated_page(&self) -> Result<Page, BrowserError> {
        let created = self.call("Target.createBrowserContext", json!({ "disposeOnDetach": true })).await?;
        let context = string_field(&created, "browserContextId", "Target.createBrowserContext")?;
        Page::open(Arc::clone(&self.connection), Some(context)).await
    }

    /// A browser-level CDP command (e.g. `Browser.getVersion`, `Target.getTargets`).
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, BrowserError> {
        self.connection.call(None, method, params, BROWSER_CALL_TIMEOUT).await
    }

    /// Chromium's product string, e.g. `Chrome/148.0.7778.167` (`HeadlessChrome/…` in headless).
    pub async fn version(&self) -> Result<String, BrowserError> {
        let version = self.call("Browser.getVersion", json!({})).await?;
        string_field(&version, "product", "Browser.getVersion")
    }

    /// The process id of the main browser process (its children die with it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The throw-away `--user-data-dir`, removed on drop.
    pub fn profile_dir(&self) -> Option<&Path> {
        self.profile.as_ref().map(TempDir::path)
    }

    /// The browser's DevTools websocket URL, for attaching another tool while debugging a test.
    pub fn ws_url(&self) -> &str {
        &self.ws_url
    }

    /// Asks Chromium to exit cleanly (flushing its profile), then does what dropping does.
    pub async fn close(self) {
        let _ = self.connection.call(None, "Browser.close", json!({}), Duration::from_secs(2)).await;
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut browser = self;
        while Instant::now() < deadline {
            if matches!(browser.child.try_wait(), Ok(Some(_))) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(browser);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.tasks.abort();
        // Its zygote, renderers and utility processes outlive it by a moment, and one still
        // exiting may write into the profile after it is removed: wait for them first.
        let family = descendants(self.child.id());
        kill(&mut self.child);
        let deadline = Instant::now() + Duration::from_secs(2);
        while family.iter().any(|&pid| running(pid)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(profile) = self.profile.take() {
            remove_profile(profile);
        }
    }
}

/// The processes below `root`, from `/proc/<pid>/stat` (none where there is no `/proc`).
fn descendants(root: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    let links: Vec<(u32, u32)> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, proc_stat(pid)?.1)))
        .collect();
    let mut found = vec![root];
    let mut next = 0;
    while let Some(&parent) = found.get(next) {
        found.extend(links.iter().filter(|&&(_, ppid)| ppid == parent).map(|&(pid, _)| pid));
        next += 1;
    }
    found.remove(0);
    found
}

/// Whether `pid` exists and has not exited (a zombie waits only for its parent to reap it).
fn running(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|(state, _)| state != 'Z')
}

/// A process's state and parent, from `/proc/<pid>/stat`: `pid (comm) state ppid …`, where the
/// command name may hold spaces and parentheses.
fn proc_stat(pid: u32) -> Option<(char, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = text.get(text.rfind(')')? + 1..)?.split_whitespace();
    Some((fields.next()?.chars().next()?, fields.next()?.parse().ok()?))
}

/// SIGKILL and reap the main process. Its zygote, renderers and utility processes notice their
/// parent's end and exit on their own within a fraction of a second (checked in the self-test).
fn kill(child: &mut Child) {
    if !matches!(child.try_wait(), Ok(Some(_))) {
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// Children that are still exiting may briefly write into the profile, so retry a little.
fn remove_profile(profile: TempDir) {
    let path = profile.path().to_path_buf();
    if profile.close().is_ok() {
        return;
    }
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(50));
        match std::fs::remove_dir_all(&path) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) => {}
        }
    }
    tracing::warn!(path = %path.display(), "could not remove the browser profile directory");
}

/// Chromium writes `PORT\n/devtools/browser/ID` to `<user-data-dir>/DevToolsActivePort` once it
/// listens, and prints `DevTools listening on ws://…` to stderr; take whichever comes first.
async fn wait_for_endpoint(child: &mut Child, profile: &Path, stderr: &StderrTail) -> Result<String, BrowserError> {
    let port_file = profile.join("DevToolsActivePort");
    let started = Instant::now();
    loop {
        if let Some(url) = std::fs::read_to_string(&port_file).ok().as_deref().and_then(parse_active_port) {
            return Ok(url);
        }
        if let Some(url) = stderr.announced_url() {
            return Ok(url);
        }
        if let Ok(Some(status)) = child.try_wait() {
            // Let the stderr thread catch the last lines, which say why.
            tokio::time::sleep(Duration::from_millis(100)).await;
            return Err(BrowserError::Exited { status: status.to_string(), stderr: stderr.text() });
        }
        if started.elapsed() > STARTUP_TIMEOUT {
            return Err(BrowserError::NoEndpoint { after: STARTUP_TIMEOUT, stderr: stderr.text() });
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn parse_active_port(contents: &str) -> Option<String> {
    let mut lines = contents.lines();
    let port: u16 = lines.next()?.trim().parse().ok()?;
    let path = lines.next()?.trim();
    path.starts_with('/').then(|| format!("ws://127.0.0.1:{port}{path}"))
}

/// The last lines of Chromium's stderr, read by a thread so the pipe never fills up.
#[derive(Clone, Default)]
struct StderrTail(Arc<Mutex<(VecDeque<String>, Option<String>)>>);

impl StderrTail {
    fn follow(child: &mut Child) -> StderrTail {
        let tail = StderrTail::default();
        if let Some(stderr) = child.stderr.take() {
            let writer = tail.clone();
            // The thread ends when the last Chromium process holding the pipe exits.
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    let mut guard = writer.0.lock().unwrap_or_else(|p| p.into_inner());
                    let (lines, url) = &mut *guard;
                    if url.is_none()
                        && let Some(found) = line.strip_prefix("DevTools listening on ")
                    {
                        *url = Some(found.trim().to_owned());
                    }
                    if lines.len() == STDERR_TAIL {
                        lines.pop_front();
                    }
                    lines.push_back(line);
                }
            });
        }
        tail
    }

    fn announced_url(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).1.clone()
    }

    fn text(&self) -> String {
        let guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        guard.0.iter().map(String::as_str).collect::<Vec<_>>().join("\n")
    }
}

pub(crate) fn string_field(value: &Value, field: &str, method: &str) -> Result<String, BrowserError> {
    value.get(field).and_then(Value::as_str).map(str::to_owned).ok_or_else(|| BrowserError::Protocol {
        method: method.to_owned(),
        detail: format!("no string `{field}` in {value}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devtools_active_port_is_read_only_when_complete() {
        assert_eq!(
            parse_active_port("41235\n/devtools/browser/0c5d\n").as_deref(),
            Some("ws://127.0.0.1:41235/devtools/browser/0c5d")
        );
        assert_eq!(parse_active_port("41235\n"), None);
        assert_eq!(parse_active_port(""), None);
        assert_eq!(parse_active_port("41235\nnot-a-path"), None);
    }
}
