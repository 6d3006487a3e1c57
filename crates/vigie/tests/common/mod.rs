//! What every API test binary shares: the real app (store, ledger, Cedar policies, axum) on
//! port 0 with a fresh data directory, on either store ([`Backend`]): SQLite copied from one
//! generated registry, or a real PostgreSQL (a throw-away cluster per test binary, a database
//! per test cloned from one loaded registry); a clock (fixed or the wall's), a detector of the
//! test's choosing, a real HTTP client, and the helpers each binary used to carry a copy of:
//! picking accounts, issuing credentials and TOTP codes, signing in (by password, or in process
//! as a passkey would), requests with a bearer token or the access cookie, reading the ledger
//! back.
//!
//! ```ignore
//! mod common;
//! let t = common::Setup::new().start().await;                    // fixed clock, no detection
//! let t = common::Setup::new().detector(Arc::new(MyDetector)).start().await;
//! let t = common::Setup::new().wall_clock().on(common::today()).server_detector().start().await;
//! let t = common::Setup::new().store(Backend::Postgres).start().await;
//! ```
//!
//! A test that runs on both stores is an `async fn(Backend)` named in [`on_both_stores!`], and
//! reaches the store through [`TestApp::store`] (the ports); [`TestApp::sqlite`] is for the
//! tests that stay on SQLite.

#![allow(dead_code, reason = "each test binary uses its own part of the shared helpers")]

#[path = "../../../vigie-store-pg/tests/common/mod.rs"]
mod pg;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use reqwest::StatusCode;
use serde_json::{Value, json};
use vigie::app::{self, App, Settings, WallClock};
use vigie::app_pg::PgApp;
use vigie::credentials::{EnrolmentStore, Issued, issue};
use vigie_core::event::EventHead;
use vigie_core::ids::{AgentId, PersonId};
use vigie_core::org::{Agent, OrgKind, Organization, Role};
use vigie_core::ports::{AccountStore, Detector, NoDetection, Registry, StoreError};
use vigie_core::security::{SecurityEvent, SecurityKind};
use vigie_core::signin::totp::code_at;
use vigie_core::time::{Clock, FixedClock, Timestamp};
use vigie_gen::GenParams;
use vigie_http::AppState;
use vigie_ledger::Ledger;
use vigie_store_pg::StoreUrl;

/// Generates, for each named `async fn(Backend)`, a test on each store: `sqlite::<name>` and
/// `postgres::<name>` (so that `cargo test postgres::` runs one side).
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

/// Which store the app runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// The embedded store, in the data directory.
    #[default]
    Sqlite,
    /// A database of its own on the test binary's PostgreSQL cluster.
    Postgres,
}

/// What tests reach the store through on either backend: the ports (incidents included), the
/// operator's enrolment links, and the canaries (read by the server's detector at start,
/// outside the ports).
pub trait TestStore:
    Registry
    + AccountStore
    + EnrolmentStore
    + vigie_core::incident::store::IncidentStore
    + vigie_core::extract::store::ExtractStore
{
    /// The canary persons, lowest id first (the port's `canaries` is a set).
    fn canary_list(&self) -> Result<Vec<PersonId>, StoreError>;
}

impl TestStore for vigie_store::Store {
    fn canary_list(&self) -> Result<Vec<PersonId>, StoreError> {
        vigie_store::Store::canaries(self)
    }
}

impl TestStore for vigie_store_pg::PgStore {
    fn canary_list(&self) -> Result<Vec<PersonId>, StoreError> {
        vigie_store_pg::PgStore::canaries(self)
    }
}

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

/// Which detector the app runs.
pub enum Detection {
    /// None: every read is allowed as far as the detector goes.
    Off,
    /// The server's own, with its canaries and alert feed (as `vigie serve` runs it).
    Server,
    /// The test's.
    Given(Arc<dyn Detector>),
    /// The test's, built from the store before the app opens it (canaries).
    FromData(fn(&dyn TestStore) -> Arc<dyn Detector>),
}

/// What a generated registry is generated from: (seed, persons, day).
type RegistryKey = (u64, u64, time::Date);

// ---- PostgreSQL -------------------------------------------------------------------------------

/// The test binary's cluster, started by the first test that wants it and removed when the
/// binary exits.
fn cluster() -> &'static pg::Cluster {
    static CLUSTER: OnceLock<pg::Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let cluster = pg::Cluster::start();
        cluster.remove_at_exit();
        cluster
    })
}

/// A connection to the cluster as its superuser, for the harness's own statements.
fn connect_admin() -> postgres::Client {
    let port = cluster().port;
    let config = format!("host=127.0.0.1 port={port} user={} password={} dbname=postgres", pg::USER, pg::PASSWORD);
    postgres::Client::connect(&config, postgres::NoTls).unwrap()
}

/// The harness's connection, shared (one statement at a time).
fn admin() -> std::sync::MutexGuard<'static, postgres::Client> {
    static ADMIN: OnceLock<Mutex<postgres::Client>> = OnceLock::new();
    ADMIN.get_or_init(|| Mutex::new(connect_admin())).lock().unwrap()
}

/// A test's database, dropped when the test is done with it: in the background, on a connection
/// of its own, so that no test waits for it (a database is some 13 MB; the API binary makes
/// dozens).
pub struct Database {
    url: StoreUrl,
    name: String,
}

impl Drop for Database {
    fn drop(&mut self) {
        static DROPPER: OnceLock<std::sync::mpsc::Sender<String>> = OnceLock::new();
        let dropper = DROPPER.get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel::<String>();
            std::thread::spawn(move || {
                let mut client = connect_admin();
                for name in rx {
                    // The node may still hold connections (its serving task ends with the
                    // test's runtime): forced.
                    let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                }
            });
            tx
        });
        let _ = dropper.send(std::mem::take(&mut self.name));
    }
}

/// The URL of database `db` on the cluster.
fn database_url(db: &str) -> StoreUrl {
    StoreUrl::parse(&database_url_text(db)).unwrap()
}

/// The same, as a configuration file or `--store` gives it (the password in it).
fn database_url_text(db: &str) -> String {
    let port = cluster().port;
    format!("postgres://{}:{}@127.0.0.1:{port}/{db}?sslmode=disable", pg::USER, pg::PASSWORD)
}

/// The database holding the generated registry for these parameters, loaded once per test
/// binary (as `vigie generate --store` does) and closed to connections: each test clones it.
fn template(seed: u64, persons: u64, as_of: time::Date) -> String {
    static TEMPLATES: OnceLock<Mutex<HashMap<RegistryKey, String>>> = OnceLock::new();
    let mut templates = TEMPLATES.get_or_init(Default::default).lock().unwrap();
    templates
        .entry((seed, persons, as_of))
        .or_insert_with(|| {
            let name = format!("registry_{seed}_{persons}_{}", as_of.to_julian_day());
            admin().batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
            let params = GenParams { seed, persons, as_of };
            vigie::generate::generate_postgres(&database_url(&name), &params, false, false).unwrap();
            admin().batch_execute(&format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false")).unwrap();
            name
        })
        .clone()
}

/// A fresh database of the registry for these parameters, cloned from its template (a copy of
/// its files: much cheaper than a load). Blocking.
fn fresh_database(seed: u64, persons: u64, as_of: time::Date) -> Database {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let template = template(seed, persons, as_of);
    let name = format!("test_{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    admin().batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}")).unwrap();
    Database { url: database_url(&name), name }
}

/// The PostgreSQL store's options for a test node: its keyring in the data directory.
fn pg_options(dir: &Path) -> vigie_store_pg::PgOptions {
    vigie_store_pg::PgOptions { pool_size: 4, ..vigie_store_pg::PgOptions::new(dir.join("secrets.key")) }
}

// ---- SQLite -----------------------------------------------------------------------------------

/// Generated registries by (seed, persons, day).
type Registries = Mutex<HashMap<RegistryKey, tempfile::TempDir>>;

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

// ---- Nodes ------------------------------------------------------------------------------------

/// A running app on either store.
pub enum Node {
    Sqlite(App),
    Postgres(PgApp),
}

impl Node {
    /// Opens the app on `dir` and, when given, the PostgreSQL database `db` (blocking: the
    /// PostgreSQL client must not run on the runtime's threads).
    async fn open(
        dir: PathBuf,
        db: Option<StoreUrl>,
        settings: Settings,
        clock: Arc<dyn Clock>,
        detection: Detection,
    ) -> anyhow::Result<Node> {
        tokio::task::spawn_blocking(move || match db {
            None => {
                let detector: Arc<dyn Detector> = match detection {
                    Detection::Off => Arc::new(NoDetection),
                    Detection::Server => return app::open_with_clock(&dir, None, settings, clock).map(Node::Sqlite),
                    Detection::Given(d) => d,
                    Detection::FromData(f) => f(&vigie_store::Store::open(&dir)?),
                };
                app::open_with_detector(&dir, None, settings, clock, detector).map(Node::Sqlite)
            }
            Some(url) => {
                let options = pg_options(&dir);
                let detector: Arc<dyn Detector> = match detection {
                    Detection::Off => Arc::new(NoDetection),
                    Detection::Server => {
                        return vigie::app_pg::open(&dir, None, settings, &url, &options, clock).map(Node::Postgres);
                    }
                    Detection::Given(d) => d,
                    Detection::FromData(f) => f(&vigie_store_pg::PgStore::open(&url, &options)?),
                };
                vigie::app_pg::open_with_detector(&dir, None, settings, &url, &options, clock, detector)
                    .map(Node::Postgres)
            }
        })
        .await
        .unwrap()
    }

    pub fn state(&self) -> &Arc<AppState> {
        match self {
            Node::Sqlite(a) => &a.state,
            Node::Postgres(a) => &a.state,
        }
    }

    /// The state, to wire more before serving (`Arc::get_mut`).
    pub fn state_mut(&mut self) -> &mut Arc<AppState> {
        match self {
            Node::Sqlite(a) => &mut a.state,
            Node::Postgres(a) => &mut a.state,
        }
    }

    pub fn ledger(&self) -> &Arc<Ledger> {
        match self {
            Node::Sqlite(a) => &a.ledger,
            Node::Postgres(a) => &a.ledger,
        }
    }

    pub fn store(&self) -> Arc<dyn TestStore> {
        match self {
            Node::Sqlite(a) => a.store.clone(),
            Node::Postgres(a) => a.store.clone(),
        }
    }
}

/// How a test's app is set up; [`Setup::new`] is SQLite, a fixed clock at noon on [`as_of`],
/// 4 000 persons, no detection.
pub struct Setup {
    pub backend: Backend,
    pub seed: u64,
    pub persons: u64,
    pub as_of: time::Date,
    pub wall_clock: bool,
    pub detection: Detection,
    /// Believe `X-Forwarded-For` from loopback, so that tests can play other networks.
    pub trust_loopback_proxy: bool,
    /// The server's connection limits and timeouts, when not the defaults.
    pub limits: Option<vigie_http::shared::limits::ServerLimits>,
    /// Request rates per session and account; none unless given (see `test_settings`).
    pub rates: Option<vigie_http::shared::rates::RateSettings>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            backend: Backend::Sqlite,
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

    /// The store the app runs on.
    pub fn store(mut self, backend: Backend) -> Setup {
        self.backend = backend;
        self
    }

    pub fn postgres(self) -> Setup {
        self.store(Backend::Postgres)
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

    pub fn detector_from_data(mut self, f: fn(&dyn TestStore) -> Arc<dyn Detector>) -> Setup {
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

    /// Copies the registry (SQLite) or clones its database (PostgreSQL), binds port 0 and opens
    /// the app, not serving yet (to wire more first, such as single sign-on).
    pub async fn open(self) -> Opened {
        let dir = private_dir();
        let db = match self.backend {
            Backend::Sqlite => {
                for entry in std::fs::read_dir(registry(self.seed, self.persons, self.as_of)).unwrap() {
                    let entry = entry.unwrap();
                    if entry.file_type().unwrap().is_file() {
                        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
                    }
                }
                None
            }
            Backend::Postgres => {
                let (seed, persons, as_of) = (self.seed, self.persons, self.as_of);
                Some(Arc::new(tokio::task::spawn_blocking(move || fresh_database(seed, persons, as_of)).await.unwrap()))
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let origin = format!("http://localhost:{port}");
        let mut settings = test_settings(dir.path(), &origin);
        if self.trust_loopback_proxy {
            settings.http.trusted_proxies = vec![std::net::Ipv4Addr::LOCALHOST.into()];
        }
        if let Some(limits) = self.limits.clone() {
            settings.http.limits = limits;
        }
        if let Some(rates) = self.rates {
            settings.http.rates = rates;
        }
        let fixed = (!self.wall_clock)
            .then(|| Arc::new(FixedClock::at(Timestamp::from_date(self.as_of).plus_millis(12 * 3600 * 1000))));
        let clock: Arc<dyn Clock> = match &fixed {
            Some(f) => f.clone(),
            None => Arc::new(WallClock),
        };
        let url = db.as_ref().map(|d| d.url.clone());
        let node = Node::open(dir.path().to_owned(), url, settings, clock.clone(), self.detection).await.unwrap();
        Opened { listener, port, origin, node, clock, fixed, dir, db, as_of: self.as_of, persons: self.persons }
    }

    /// Opens the app and serves it.
    pub async fn start(self) -> TestApp {
        self.open().await.serve()
    }
}

/// The settings of a test's app on `dir`, served at `origin`.
fn test_settings(dir: &Path, origin: &str) -> Settings {
    let mut settings = app::settings(dir, origin).unwrap();
    // The simulation report the overview reads: in the data directory, not the working one.
    settings.simulation_report = dir.join("simulation-report");
    // Tests read in bulk on a fixed clock, whose buckets would never refill; the tests of the
    // limits themselves set theirs.
    settings.http.rates = vigie_http::shared::rates::RateSettings::dangerous_unlimited();
    settings
}

/// An app opened on its port, not serving yet.
pub struct Opened {
    listener: tokio::net::TcpListener,
    pub port: u16,
    /// `http://localhost:<port>`, the public origin (passkeys are bound to `localhost`).
    pub origin: String,
    pub node: Node,
    clock: Arc<dyn Clock>,
    fixed: Option<Arc<FixedClock>>,
    dir: tempfile::TempDir,
    /// The node's database, on PostgreSQL.
    db: Option<Arc<Database>>,
    as_of: time::Date,
    persons: u64,
}

impl Opened {
    /// The state, to wire more before serving (`Arc::get_mut`).
    pub fn state_mut(&mut self) -> &mut Arc<AppState> {
        self.node.state_mut()
    }

    pub fn state(&self) -> &Arc<AppState> {
        self.node.state()
    }

    /// The store, through the ports.
    pub fn store(&self) -> Arc<dyn TestStore> {
        self.node.store()
    }

    /// Serves the app until the test's runtime ends.
    pub fn serve(self) -> TestApp {
        let Opened { listener, port, origin, node, clock, fixed, dir, db, as_of, persons } = self;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(vigie_http::serve(listener, node.state().clone(), async move {
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
            state: node.state().clone(),
            ledger: node.ledger().clone(),
            store: node.store(),
            node,
            dir,
            db,
            as_of,
            persons,
            issued: Mutex::default(),
        }
    }
}

/// A stopped node's data: its data directory and, on PostgreSQL, its database (dropped with
/// this).
pub struct StoppedData {
    pub dir: tempfile::TempDir,
    db: Option<Arc<Database>>,
}

impl StoppedData {
    /// The arguments pointing a `vigie` subcommand at this node's data, as an operator would:
    /// `--data-dir` on SQLite; on PostgreSQL, `--config` naming a configuration file (written
    /// in the data directory) with the data directory and the database.
    pub fn args(&self) -> Vec<std::ffi::OsString> {
        let dir = self.dir.path();
        let Some(db) = &self.db else { return vec!["--data-dir".into(), dir.into()] };
        let config = dir.join("vigie.toml");
        let url = database_url_text(&db.name);
        let text = format!("data_dir = {:?}\n\n[store]\nurl = {url:?}\n", dir.to_str().unwrap());
        std::fs::write(&config, text).unwrap();
        vec!["--config".into(), config.into()]
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
    /// The app's state, as its handlers see it.
    pub state: Arc<AppState>,
    /// The node's access ledger.
    pub ledger: Arc<Ledger>,
    /// The store, through the ports: the same on both backends.
    pub store: Arc<dyn TestStore>,
    node: Node,
    pub dir: tempfile::TempDir,
    /// The node's database, on PostgreSQL.
    db: Option<Arc<Database>>,
    pub as_of: time::Date,
    pub persons: u64,
    issued: Mutex<HashMap<AgentId, Issued>>,
    /// Stops serving, and the serving task.
    stop: Option<(tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>)>,
}

impl TestApp {
    /// The store the app runs on.
    pub fn backend(&self) -> Backend {
        match self.node {
            Node::Sqlite(_) => Backend::Sqlite,
            Node::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite app, for the tests that use what only it has (extracts, the SQLite store's own
    /// methods).
    pub fn sqlite(&self) -> &App {
        match &self.node {
            Node::Sqlite(app) => app,
            Node::Postgres(_) => panic!("this test runs on SQLite only"),
        }
    }

    /// Stops serving and closes the app (its ledger, store and alert feed), as a stopped server
    /// does; returns the data directory (on PostgreSQL, the database goes with the app).
    pub async fn stop(self) -> tempfile::TempDir {
        self.stop_keeping_data().await.dir
    }

    /// [`TestApp::stop`], keeping the node's data for the command-line tools: its data
    /// directory and, on PostgreSQL, its database.
    pub async fn stop_keeping_data(mut self) -> StoppedData {
        if let Some((stop, served)) = self.stop.take() {
            let _ = stop.send(());
            served.await.unwrap().unwrap();
        }
        let TestApp { node, state, ledger, store, dir, db, http, .. } = self;
        drop((http, state, ledger, store));
        drop(node);
        StoppedData { dir, db }
    }

    /// Stops the app and starts it again on the same data directory (and database), on a new
    /// port, with the server's detector (as `Setup::server_detector`) and the same clock.
    pub async fn restart(self) -> TestApp {
        let (clock, fixed, as_of, persons) = (self.clock.clone(), self.fixed.clone(), self.as_of, self.persons);
        let db = self.db.clone();
        let dir = self.stop().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let origin = format!("http://localhost:{port}");
        let settings = test_settings(dir.path(), &origin);
        // The last connection's task may still hold the old app for a moment (a deadline).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let node = loop {
            let url = db.as_ref().map(|d| d.url.clone());
            let opened =
                Node::open(dir.path().to_owned(), url, settings.clone(), clock.clone(), Detection::Server).await;
            match opened {
                Ok(node) => break node,
                Err(e) if std::time::Instant::now() < deadline && format!("{e:#}").contains("lock") => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await
                }
                Err(e) => panic!("the app did not open again: {e:#}"),
            }
        };
        Opened { listener, port, origin, node, clock, fixed, dir, db, as_of, persons }.serve()
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
        vigie::demo::pick_accounts_in(&*self.store, self.as_of)
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
            .map_while(|id| self.store.agent(id).unwrap())
            .find(|a| a.active && pick(a, &self.store.organization(a.org).unwrap().unwrap()))
            .expect("such an agent")
    }

    /// A person with relationships, none of which reach `agent`.
    pub fn outside_scope_of(&self, agent: &Agent) -> PersonId {
        vigie::demo::out_of_scope(&*self.store, agent, self.as_of, self.persons).expect("someone out of scope")
    }

    // ---- Credentials and sign-in --------------------------------------------------------

    /// New credentials for `agent` (password and TOTP secret), replacing its old ones.
    pub fn issue(&self, agent: &Agent) -> Issued {
        issue(&*self.store, agent.id).unwrap()
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
        let org = self.store.organization(agent.org).unwrap().unwrap();
        let opening = Opening { method: "passkey", mfa: true, credential: Some(vec![7; 16]), service: None };
        let tokens = open_session(&self.state, agent, &org, opening, &self.client()).unwrap();
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
        self.ledger.entries().unwrap().filter_map(|e| SecurityEvent::decode(&e.unwrap().body)).collect()
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
        self.ledger
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
