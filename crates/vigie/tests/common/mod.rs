//! What every API test binary shares: the real app (store, ledger, Cedar policies, axum) on
//! port 0 with a fresh data directory copied from one generated registry, a clock (fixed or
//! the wall's), a detector of the test's choosing, a real HTTP client, and the helpers each
//! binary used to carry a copy of: picking accounts, issuing credentials and TOTP codes,
//! signing in (by password, or in process as a passkey would), requests with a bearer token
//! or the access cookie, reading the ledger back.
//!
//! ```ignore
//! mod common;
//! let t = common::Setup::new().start().await;                    // fixed clock, no detection
//! let t = common::Setup::new().detector(Arc::new(MyDetector)).start().await;
//! let t = common::Setup::new().wall_clock().on(common::today()).server_detector().start().await;
//! ```

#![allow(dead_code, reason = "each test binary uses its own part of the shared helpers")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use reqwest::StatusCode;
use serde_json::{Value, json};
use vigie::app::{self, App, WallClock};
use vigie::credentials::{Issued, issue};
use vigie_core::event::EventHead;
use vigie_core::ids::{AgentId, PersonId};
use vigie_core::org::{Agent, OrgKind, Organization, Role};
use vigie_core::ports::{Detector, NoDetection, Registry};
use vigie_core::security::{SecurityEvent, SecurityKind};
use vigie_core::signin::totp::code_at;
use vigie_core::time::{Clock, FixedClock, Timestamp};
use vigie_gen::GenParams;

/// The access cookie's name (five minutes).
pub const ACCESS_COOKIE: &str = "__Host-vigie_access";
/// The session (refresh) cookie's name.
pub const SESSION_COOKIE: &str = "__Host-vigie_session";

/// The day the fixed-clock tests live on.
pub fn as_of() -> time::Date {
    time::macros::date!(2026 - 11 - 02)
}

/// Today, by the wall clock.
pub fn today() -> time::Date {
    WallClock.now().date()
}

/// A data directory as Vigie wants it, the owner's only: a temporary directory's mode follows
/// the umask, and the server refuses one that others can read.
pub fn private_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new().permissions(std::fs::Permissions::from_mode(0o700)).tempdir().unwrap()
}

/// Generated registries by (seed, persons, day).
type Registries = Mutex<HashMap<(u64, u64, time::Date), tempfile::TempDir>>;

/// The generated registry for these parameters, once per test binary; each test copies it.
pub fn registry(seed: u64, persons: u64, as_of: time::Date) -> PathBuf {
    static DIRS: OnceLock<Registries> = OnceLock::new();
    let mut dirs = DIRS.get_or_init(Default::default).lock().unwrap();
    dirs.entry((seed, persons, as_of))
        .or_insert_with(|| {
            let dir = private_dir();
            let params = GenParams { seed, persons, as_of };
            vigie::generate::generate(dir.path(), &params, false, false).unwrap();
            dir
        })
        .path()
        .to_owned()
}

/// Which detector the app runs.
pub enum Detection {
    /// None: every read is allowed as far as the detector goes.
    Off,
    /// The server's own, with its canaries and alert feed (as `vigie serve` runs it).
    Server,
    /// The test's.
    Given(Arc<dyn Detector>),
    /// The test's, built from the data directory before the app opens it (canaries).
    FromData(fn(&Path) -> Arc<dyn Detector>),
}

/// How a test's app is set up; [`Setup::new`] is a fixed clock at noon on [`as_of`], 4 000
/// persons, no detection.
pub struct Setup {
    pub seed: u64,
    pub persons: u64,
    pub as_of: time::Date,
    pub wall_clock: bool,
    pub detection: Detection,
    /// Believe `X-Forwarded-For` from loopback, so that tests can play other networks.
    pub trust_loopback_proxy: bool,
    /// The server's connection limits and timeouts, when not the defaults.
    pub limits: Option<vigie_http::shared::limits::ServerLimits>,
    /// Request rates per session and account; none unless given (see `open`).
    pub rates: Option<vigie_http::shared::rates::RateSettings>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            seed: 7,
            persons: 4_000,
            as_of: as_of(),
            wall_clock: false,
            detection: Detection::Off,
            trust_loopback_proxy: false,
            limits: None,
            rates: None,
        }
    }
}

impl Setup {
    pub fn new() -> Setup {
        Setup::default()
    }

    pub fn seed(mut self, seed: u64) -> Setup {
        self.seed = seed;
        self
    }

    pub fn persons(mut self, persons: u64) -> Setup {
        self.persons = persons;
        self
    }

    pub fn on(mut self, day: time::Date) -> Setup {
        self.as_of = day;
        self
    }

    pub fn wall_clock(mut self) -> Setup {
        self.wall_clock = true;
        self
    }

    pub fn detector(mut self, d: Arc<dyn Detector>) -> Setup {
        self.detection = Detection::Given(d);
        self
    }

    pub fn detector_from_data(mut self, f: fn(&Path) -> Arc<dyn Detector>) -> Setup {
        self.detection = Detection::FromData(f);
        self
    }

    pub fn server_detector(mut self) -> Setup {
        self.detection = Detection::Server;
        self
    }

    pub fn trust_loopback_proxy(mut self) -> Setup {
        self.trust_loopback_proxy = true;
        self
    }

    pub fn rates(mut self, rates: vigie_http::shared::rates::RateSettings) -> Setup {
        self.rates = Some(rates);
        self
    }

    pub fn limits(mut self, limits: vigie_http::shared::limits::ServerLimits) -> Setup {
        self.limits = Some(limits);
        self
    }

    /// Copies the registry, binds port 0 and opens the app, not serving yet (to wire more
    /// first, such as single sign-on).
    pub async fn open(self) -> Opened {
        let dir = private_dir();
        for entry in std::fs::read_dir(registry(self.seed, self.persons, self.as_of)).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
            }
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let origin = format!("http://localhost:{port}");
        let mut settings = app::settings(dir.path(), &origin).unwrap();
        // The simulation report the overview reads: in the data directory, not the working one.
        settings.simulation_report = dir.path().join("simulation-report");
        if self.trust_loopback_proxy {
            settings.http.trusted_proxies = vec![std::net::Ipv4Addr::LOCALHOST.into()];
        }
        if let Some(limits) = self.limits.clone() {
            settings.http.limits = limits;
        }
        // Tests read in bulk on a fixed clock, whose buckets would never refill; the tests of
        // the limits themselves set theirs.
        settings.http.rates = self.rates.unwrap_or_else(vigie_http::shared::rates::RateSettings::dangerous_unlimited);
        let fixed = (!self.wall_clock)
            .then(|| Arc::new(FixedClock::at(Timestamp::from_date(self.as_of).plus_millis(12 * 3600 * 1000))));
        let clock: Arc<dyn Clock> = match &fixed {
            Some(f) => f.clone(),
            None => Arc::new(WallClock),
        };
        let app = match self.detection {
            Detection::Off => {
                app::open_with_detector(dir.path(), None, settings, clock.clone(), Arc::new(NoDetection)).unwrap()
            }
            Detection::Server => app::open_with_clock(dir.path(), None, settings, clock.clone()).unwrap(),
            Detection::Given(d) => app::open_with_detector(dir.path(), None, settings, clock.clone(), d).unwrap(),
            Detection::FromData(f) => {
                let d = f(dir.path());
                app::open_with_detector(dir.path(), None, settings, clock.clone(), d).unwrap()
            }
        };
        Opened { listener, port, origin, app, clock, fixed, dir, as_of: self.as_of, persons: self.persons }
    }

    /// Opens the app and serves it.
    pub async fn start(self) -> TestApp {
        self.open().await.serve()
    }
}

/// An app opened on its port, not serving yet.
pub struct Opened {
    listener: tokio::net::TcpListener,
    pub port: u16,
    /// `http://localhost:<port>`, the public origin (passkeys are bound to `localhost`).
    pub origin: String,
    pub app: App,
    clock: Arc<dyn Clock>,
    fixed: Option<Arc<FixedClock>>,
    dir: tempfile::TempDir,
    as_of: time::Date,
    persons: u64,
}

impl Opened {
    /// Serves the app until the test's runtime ends.
    pub fn serve(self) -> TestApp {
        let Opened { listener, port, origin, app, clock, fixed, dir, as_of, persons } = self;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(vigie_http::serve(listener, app.state.clone(), async move {
            let _ = stopped.await;
        }));
        TestApp {
            stop: Some((stop, served)),
            base: format!("http://127.0.0.1:{port}"),
            origin,
            port,
            http: reqwest::Client::new(),
            clock,
            fixed,
            app,
            dir,
            as_of,
            persons,
            issued: Mutex::default(),
        }
    }
}

/// A running app and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`, where the test connects.
    pub base: String,
    /// `http://localhost:<port>`, the public origin.
    pub origin: String,
    pub port: u16,
    pub http: reqwest::Client,
    clock: Arc<dyn Clock>,
    fixed: Option<Arc<FixedClock>>,
    pub app: App,
    pub dir: tempfile::TempDir,
    pub as_of: time::Date,
    pub persons: u64,
    issued: Mutex<HashMap<AgentId, Issued>>,
    /// Stops serving, and the serving task.
    stop: Option<(tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>)>,
}

impl TestApp {
    /// Stops serving and closes the app (its ledger, store and alert feed), as a stopped server
    /// does; returns the data directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some((stop, served)) = self.stop.take() {
            let _ = stop.send(());
            served.await.unwrap().unwrap();
        }
        let TestApp { app, dir, http, .. } = self;
        drop(http);
        drop(app);
        dir
    }

    /// Stops the app and starts it again on the same data directory, on a new port, with the
    /// server's detector (as `Setup::server_detector`) and the same clock.
    pub async fn restart(self) -> TestApp {
        let (clock, fixed, as_of, persons) = (self.clock.clone(), self.fixed.clone(), self.as_of, self.persons);
        let dir = self.stop().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let origin = format!("http://localhost:{port}");
        let mut settings = app::settings(dir.path(), &origin).unwrap();
        settings.simulation_report = dir.path().join("simulation-report");
        settings.http.rates = vigie_http::shared::rates::RateSettings::dangerous_unlimited();
        // The last connection's task may still hold the old app for a moment (a deadline).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let app = loop {
            match app::open_with_clock(dir.path(), None, settings.clone(), clock.clone()) {
                Ok(app) => break app,
                Err(e) if std::time::Instant::now() < deadline && format!("{e:#}").contains("lock") => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await
                }
                Err(e) => panic!("the app did not open again: {e:#}"),
            }
        };
        Opened { listener, port, origin, app, clock, fixed, dir, as_of, persons }.serve()
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The app's clock, now.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The fixed clock (a test that set up the wall clock has none to move).
    pub fn clock(&self) -> &FixedClock {
        self.fixed.as_deref().expect("this test runs on the wall clock")
    }

    // ---- Accounts -----------------------------------------------------------------------

    /// The first advisor of this kind with a non-empty scope, and a person in it.
    pub fn advisor(&self, kind: OrgKind) -> (Agent, Organization, PersonId) {
        vigie::demo::pick_accounts(&self.app.store, self.as_of)
            .unwrap()
            .into_iter()
            .find(|(a, o, _)| o.kind == kind && a.role == Role::Advisor)
            .map(|(a, o, p)| (a, o, p.unwrap()))
            .unwrap_or_else(|| panic!("no {kind:?} advisor with a scope"))
    }

    /// The first active agent that `pick` accepts.
    pub fn agent_where(&self, pick: impl Fn(&Agent, &Organization) -> bool) -> Agent {
        (1..100_000u64)
            .filter_map(AgentId::new)
            .map_while(|id| self.app.store.agent(id).unwrap())
            .find(|a| a.active && pick(a, &self.app.store.organization(a.org).unwrap().unwrap()))
            .expect("such an agent")
    }

    /// A person with relationships, none of which reach `agent`.
    pub fn outside_scope_of(&self, agent: &Agent) -> PersonId {
        vigie::demo::out_of_scope(&self.app.store, agent, self.as_of, self.persons).expect("someone out of scope")
    }

    // ---- Credentials and sign-in --------------------------------------------------------

    /// New credentials for `agent` (password and TOTP secret), replacing its old ones.
    pub fn issue(&self, agent: &Agent) -> Issued {
        issue(self.app.store.as_ref(), agent.id).unwrap()
    }

    /// The TOTP code of `issued` now, by the app's clock.
    pub fn code(&self, issued: &Issued) -> String {
        code_at(&issued.totp, self.now().seconds())
    }

    /// A JSON POST without credentials.
    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.http.post(self.url(path)).json(&body).send().await.unwrap()
    }

    /// Signs in with fresh credentials at the current TOTP step; returns the access token.
    pub async fn login(&self, agent: &Agent) -> String {
        let issued = self.issue(agent);
        let resp = self
            .post("/v1/login", json!({"login": agent.login.as_str(), "password": issued.password.expose(), "totp": self.code(&issued)}))
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = resp.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Signs in from a given network and browser, at a fresh TOTP step (the fixed clock moves
    /// 30 s); returns (access, refresh). The credentials are kept for [`TestApp::last_issued`].
    pub async fn login_from(&self, agent: &Agent, forwarded_for: &str, user_agent: &str) -> (String, String) {
        self.clock().advance_millis(30_000);
        let issued = self.issue(agent);
        let body =
            json!({"login": agent.login.as_str(), "password": issued.password.expose(), "totp": self.code(&issued)});
        let resp = self
            .http
            .post(self.url("/v1/login"))
            .header("x-forwarded-for", forwarded_for)
            .header("user-agent", user_agent)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let v: Value = resp.json().await.unwrap();
        self.issued.lock().unwrap().insert(agent.id, issued);
        (v["access_token"].as_str().unwrap().to_owned(), v["refresh_token"].as_str().unwrap().to_owned())
    }

    /// Signs in from loopback at a fresh TOTP step; returns (access, refresh).
    pub async fn login_full(&self, agent: &Agent) -> (String, String) {
        self.login_from(agent, "127.0.0.1", "").await
    }

    /// The credentials of `agent`'s last [`TestApp::login_from`].
    pub fn last_issued(&self, agent: &Agent) -> Issued {
        self.issued.lock().unwrap().get(&agent.id).cloned().unwrap()
    }

    /// A new access token from a refresh token.
    pub async fn refresh(&self, refresh: &str) -> String {
        let resp = self.http.post(self.url("/v1/session/refresh")).bearer_auth(refresh).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
    }

    /// The context the test client presents (loopback, no User-Agent).
    pub fn client(&self) -> vigie_http::shared::client::Client {
        let ip: std::net::IpAddr = std::net::Ipv4Addr::LOCALHOST.into();
        vigie_http::shared::client::Client {
            ip,
            context: vigie_core::signin::ClientContext::new(ip, ""),
            user_agent: String::new(),
        }
    }

    /// Opens a session in process, as a passkey sign-in would (the ceremony itself is tested
    /// in the browser tests): for administrators, who have no password. Returns the access
    /// token.
    pub fn passkey_session(&self, agent: &Agent) -> String {
        self.passkey_session_full(agent).0
    }

    /// Same; returns (access, refresh).
    pub fn passkey_session_full(&self, agent: &Agent) -> (String, String) {
        use vigie_http::actions::sign_in::{Opening, open_session};
        let org = self.app.store.organization(agent.org).unwrap().unwrap();
        let opening = Opening { method: "passkey", mfa: true, credential: Some(vec![7; 16]), service: None };
        let tokens = open_session(&self.app.state, agent, &org, opening, &self.client()).unwrap();
        (tokens.access.expose().to_owned(), tokens.refresh.unwrap().expose().to_owned())
    }

    // ---- Requests -----------------------------------------------------------------------

    /// A GET with a bearer token: (status, body).
    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, String) {
        let resp = self.http.get(self.url(path)).bearer_auth(token).send().await.unwrap();
        let status = resp.status();
        (status, resp.text().await.unwrap())
    }

    /// A JSON POST with a bearer token: (status, body).
    pub async fn post_auth(&self, token: &str, path: &str, body: Value) -> (StatusCode, String) {
        let resp = self.http.post(self.url(path)).bearer_auth(token).json(&body).send().await.unwrap();
        let status = resp.status();
        (status, resp.text().await.unwrap())
    }

    /// A page, as a browser asks for it (the access cookie): (status, HTML).
    pub async fn page(&self, token: &str, path: &str) -> (StatusCode, String) {
        let resp =
            self.http.get(self.url(path)).header("cookie", format!("{ACCESS_COOKIE}={token}")).send().await.unwrap();
        let status = resp.status();
        (status, resp.text().await.unwrap())
    }

    // ---- The ledger ---------------------------------------------------------------------

    /// The security events in the ledger (access events are skipped).
    pub fn security_events(&self) -> Vec<SecurityEvent> {
        self.app.ledger.entries().unwrap().filter_map(|e| SecurityEvent::decode(&e.unwrap().body)).collect()
    }

    /// How many sessions ended for `reason`.
    pub fn ended_because(&self, reason: &str) -> usize {
        self.security_events()
            .iter()
            .filter(|e| {
                e.kind == SecurityKind::SessionEnded && e.details.iter().any(|(k, v)| k == "reason" && v == reason)
            })
            .count()
    }

    /// The heads of the access events in the ledger.
    pub fn ledger_heads(&self) -> Vec<EventHead> {
        self.app
            .ledger
            .entries()
            .unwrap()
            .map(|e| e.unwrap().body)
            .filter(|b| b.first() == Some(&vigie_core::event::EVENT_ENCODING_V1))
            .map(|b| EventHead::decode(&b).expect("every access event decodes"))
            .collect()
    }
}

/// The `type` of a problem+json body.
pub fn problem_type(body: &str) -> String {
    serde_json::from_str::<Value>(body).unwrap()["type"].as_str().unwrap_or("").to_owned()
}
