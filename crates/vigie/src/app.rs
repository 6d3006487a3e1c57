//! Wiring: opens the store and the ledger in a data directory, loads and validates the
//! policies, and assembles the guard and the HTTP state. The one place that picks adapters.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use vigie_core::authz::{Authz, shipped};
use vigie_core::guard::Guard;
use vigie_core::ports::NoDetection;
use vigie_core::time::{Clock, Timestamp};
use vigie_http::{AppState, HttpSettings};
use vigie_ledger::{Ledger, LedgerOptions};
use vigie_store::Store;

/// The wall clock, for the server. The core never reads it itself.
#[derive(Debug, Default, Clone, Copy)]
pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> Timestamp {
        let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        Timestamp(i64::try_from(ms).unwrap_or(i64::MAX))
    }
}

/// Everything a running Vigie holds.
#[derive(Debug)]
pub struct App {
    pub state: Arc<AppState>,
    pub store: Arc<Store>,
    pub ledger: Arc<Ledger>,
}

pub fn ledger_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("ledger")
}

/// Loads the schema and policies from `dir`, or the built-in copies when `None`.
pub fn load_policies(dir: Option<&Path>) -> anyhow::Result<Authz> {
    let Some(dir) = dir else {
        return Authz::load(shipped::SCHEMA, shipped::POLICIES).context("built-in policies");
    };
    let schema_path = dir.join("vigie.cedarschema");
    let schema = std::fs::read_to_string(&schema_path)
        .with_context(|| format!("cannot read the Cedar schema {}", schema_path.display()))?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list the policies directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cedar"))
        .collect();
    files.sort();
    if files.is_empty() {
        anyhow::bail!("no *.cedar policy file in {}", dir.display());
    }
    let mut texts = Vec::with_capacity(files.len());
    for f in &files {
        let text = std::fs::read_to_string(f).with_context(|| format!("cannot read policy file {}", f.display()))?;
        texts.push((f.display().to_string(), text));
    }
    let refs: Vec<(&str, &str)> = texts.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    Authz::load((&schema_path.display().to_string(), &schema), &refs).context("policies refused")
}

/// Opens the data directory and assembles the application, on the wall clock.
pub fn open(data_dir: &Path, policies_dir: Option<&Path>, settings: HttpSettings) -> anyhow::Result<App> {
    open_with_clock(data_dir, policies_dir, settings, Arc::new(WallClock))
}

/// Same, with the clock given (tests and the simulator pass their own).
pub fn open_with_clock(
    data_dir: &Path,
    policies_dir: Option<&Path>,
    settings: HttpSettings,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<App> {
    let authz = Arc::new(load_policies(policies_dir)?);
    let store = Arc::new(Store::open(data_dir).context("cannot open the registry")?);
    let ledger = Arc::new(
        Ledger::open(&ledger_dir(data_dir), LedgerOptions::default())
            .with_context(|| format!("access ledger {}", ledger_dir(data_dir).display()))?,
    );
    let report = ledger.open_report();
    tracing::info!(?report, "ledger opened");
    let guard =
        Arc::new(Guard { authz, registry: store.clone(), detector: Arc::new(NoDetection), ledger: ledger.clone() });
    let state = Arc::new(AppState::new(guard, store.clone(), store.clone(), clock, settings));
    Ok(App { state, store, ledger })
}

pub fn http_settings(session_ttl_minutes: u64) -> HttpSettings {
    HttpSettings { session_ttl: Duration::from_secs(session_ttl_minutes * 60), ..HttpSettings::default() }
}

/// The server's HTTP settings from its configuration.
pub fn http_settings_from(config: &crate::config::Config) -> HttpSettings {
    HttpSettings { trusted_proxies: config.trusted_proxies.clone(), ..http_settings(config.session_ttl_minutes) }
}

/// Binds, serves until Ctrl-C, and says where.
pub async fn serve(app: &App, listen: std::net::SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    eprintln!("vigie: serving on http://{addr} (Ctrl-C to stop)");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    vigie_http::serve(listener, app.state.clone(), shutdown).await.context("server stopped")
}
