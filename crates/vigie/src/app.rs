//! Wiring: opens the store and the ledger in a data directory, loads and validates the
//! policies, and assembles the guard and the HTTP state. The one place that picks adapters.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use vigie_core::authz::{Authz, shipped};
use vigie_core::guard::Guard;
use vigie_core::ports::NoDetection;
use vigie_core::time::{Clock, Timestamp};
use vigie_http::shared::outbox::DirOutbox;
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
    pub incidents: Arc<crate::incidents::Incidents>,
}

pub fn ledger_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("ledger")
}

/// The ledger's options without a configuration file: the key in `<data>/ledger.key` (outside
/// the ledger directory handed to auditors), bodies sealed with the month keys in
/// `<data>/ledger-keys/`, no witnesses.
pub fn ledger_options(data_dir: &Path) -> LedgerOptions {
    LedgerOptions {
        key_file: Some(data_dir.join("ledger.key")),
        seal_keys: Some(ledger_keys_dir(data_dir)),
        ..LedgerOptions::default()
    }
}

/// Where the ledger's month keys are (retention by crypto-shredding: `vigie ledger shred`).
pub fn ledger_keys_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("ledger-keys")
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
pub fn open(data_dir: &Path, policies_dir: Option<&Path>, settings: Settings) -> anyhow::Result<App> {
    open_with_clock(data_dir, policies_dir, settings, Arc::new(WallClock))
}

/// Same, with the clock given (tests and the simulator pass their own).
pub fn open_with_clock(
    data_dir: &Path,
    policies_dir: Option<&Path>,
    settings: Settings,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<App> {
    check_modes(data_dir, &settings)?;
    let Some(config) = &settings.detection else {
        return assemble(data_dir, policies_dir, settings, clock, Arc::new(NoDetection), None);
    };
    // The canaries come from the registry: persons no relationship ever reaches.
    let store = open_store(data_dir, &settings)?;
    let canaries = store.canaries().context("reading the canary persons")?;
    let scope_canaries = store.scope_canaries().context("reading the canaries placed in scope lists")?;
    let campaigns = store.active_campaigns(clock.now()).context("reading the declared campaigns")?;
    drop(store);
    let mut config = config.clone();
    config.canaries = canaries.into_iter().collect();
    config.scope_canaries = scope_canaries.into_iter().collect();
    tracing::info!(
        canaries = config.canaries.len(),
        in_scope_lists = config.scope_canaries.len(),
        campaigns = campaigns.len(),
        "exfiltration detector on"
    );
    // The last snapshot and the ledger after it; the ledger alone if there is none.
    let restored = crate::snapshot::restore(config, data_dir, &ledger_dir(data_dir), clock.now());
    // Campaigns declared and not yet ended (a snapshot may hold them already: kept once).
    for c in &campaigns {
        vigie_core::ports::Detector::declare_campaign(restored.detector.as_ref(), c);
    }
    let inner = crate::snapshot::SnapshottingDetector::start(
        &restored,
        crate::snapshot::path(data_dir),
        crate::snapshot::EVERY,
    );
    let alerter = Arc::new(vigie_alerts::Alerter::start(settings.alert_sinks.clone(), 10_000).context("alerts")?);
    let feed = alerter.feed.clone();
    let detector = vigie_alerts::AlertingDetector { inner, alerter: alerter.clone() };
    let mut app = assemble(data_dir, policies_dir, settings, clock, Arc::new(detector), Some(&alerter))?;
    Arc::get_mut(&mut app.state).context("fresh application state")?.alerts = Some(feed);
    Ok(app)
}

/// Same, with the detector given.
pub fn open_with_detector(
    data_dir: &Path,
    policies_dir: Option<&Path>,
    settings: Settings,
    clock: Arc<dyn Clock>,
    detector: Arc<dyn vigie_core::ports::Detector>,
) -> anyhow::Result<App> {
    check_modes(data_dir, &settings)?;
    assemble(data_dir, policies_dir, settings, clock, detector, None)
}

/// The registry with the settings' keyring for second-factor secrets.
fn open_store(data_dir: &Path, settings: &Settings) -> anyhow::Result<Store> {
    Store::open_with(data_dir, &store_options(settings.secrets_key_file.clone())).context("cannot open the registry")
}

/// The store's options with the keyring at `secrets_key_file` (`<data dir>/secrets.key` if `None`).
pub fn store_options(secrets_key_file: Option<PathBuf>) -> vigie_store::OpenOptions {
    vigie_store::OpenOptions { secrets_key_file, ..vigie_store::OpenOptions::default() }
}

/// Refuses a data directory, or a secret file in or for it, that other users can reach
/// (`modes`), unless the settings say `insecure_skip_file_mode_check`.
pub(crate) fn check_modes(data_dir: &Path, settings: &Settings) -> anyhow::Result<()> {
    let mut nested = vec![settings.outbox_dir.clone()];
    nested.extend(settings.ledger.seal_keys.clone());
    let mut elsewhere = vec![
        settings.secrets_key_file.clone().unwrap_or_else(|| data_dir.join(vigie_store::SECRETS_KEY_FILE)),
        settings.outbox_dir.clone(),
    ];
    elsewhere.extend(settings.ledger.key_file.clone());
    elsewhere.extend(settings.ledger.seal_keys.clone());
    elsewhere.extend(settings.alert_sinks.jsonl.clone());
    let paths = crate::modes::paths(data_dir, &nested, &elsewhere);
    crate::modes::check(data_dir, &paths, settings.insecure_skip_file_mode_check)
}

/// What a serving node builds around its store and ledger, whichever the store.
pub(crate) struct Serving {
    pub extracts: Arc<crate::extracts::Extracts>,
    pub guard: Arc<Guard>,
    /// The reads the guard handed to the ledger, for the console's overview (this node's).
    pub counts: Arc<crate::read_counts::Counts>,
}

/// The governed extracts service (told to the detector; overdue ones raised through `alerter`,
/// watched when there is one) and the guard, whose ledger counts what it is handed for the
/// console's overview. Shared by the embedded and the PostgreSQL wiring.
#[allow(clippy::too_many_arguments)] // the parts of a node, each named once
pub(crate) fn serving(
    store: Arc<dyn crate::extracts::ExtractBackend>,
    registry: Arc<dyn vigie_core::ports::Registry>,
    ledger: &Arc<vigie_ledger::Ledger>,
    authz: Arc<vigie_core::authz::Authz>,
    clock: &Arc<dyn Clock>,
    data_dir: &Path,
    settings: &Settings,
    detector: Arc<dyn vigie_core::ports::Detector>,
    alerter: Option<&Arc<vigie_alerts::Alerter>>,
) -> anyhow::Result<Serving> {
    let mut extracts = crate::extracts::Extracts::new(
        store,
        ledger.clone(),
        authz.clone(),
        clock.clone(),
        data_dir,
        settings.extracts.clone(),
    )?
    .with_detector(detector.clone())?;
    if let Some(a) = alerter {
        extracts = extracts.with_alerter(a.clone());
    }
    let extracts = Arc::new(extracts);
    if alerter.is_some() {
        crate::extracts::watch_overdue(Arc::downgrade(&extracts));
    }
    let counts = crate::read_counts::Counts::new(clock.now());
    let counting = crate::read_counts::CountingLedger { inner: ledger.clone(), counts: counts.clone() };
    let guard = Arc::new(Guard { authz, registry, detector, ledger: Arc::new(counting) });
    Ok(Serving { extracts, guard, counts })
}

/// Opens the store and the ledger and assembles the application around `detector`. A torn tail
/// cut from the ledger is raised through `alerter` (one is started for it if `None`).
fn assemble(
    data_dir: &Path,
    policies_dir: Option<&Path>,
    settings: Settings,
    clock: Arc<dyn Clock>,
    detector: Arc<dyn vigie_core::ports::Detector>,
    alerter: Option<&Arc<vigie_alerts::Alerter>>,
) -> anyhow::Result<App> {
    let authz = Arc::new(load_policies(policies_dir)?);
    let store = Arc::new(open_store(data_dir, &settings)?);
    let ledger = open_ledger(data_dir, &settings, clock.as_ref(), alerter.map(|a| a.as_ref()))?;
    let Serving { extracts, guard, counts } =
        serving(store.clone(), store.clone(), &ledger, authz, &clock, data_dir, &settings, detector, alerter)?;
    let simulation = crate::sim_report::ReportDir(settings.simulation_report.clone());
    let outbox =
        Arc::new(DirOutbox { dir: settings.outbox_dir.clone(), from: "Vigie <no-reply@vigie.invalid>".into() });
    let http = settings.http.clone();
    let mut state = AppState::new(guard, store.clone(), store.clone(), ledger.clone(), clock.clone(), outbox, http)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let incidents =
        crate::incidents::Incidents::serve_in(&mut state, store.clone(), &ledger, clock, data_dir, &settings, None);
    state.extracts = Some(extracts);
    state.reads = Some(counts);
    state.simulation = Some(Arc::new(simulation));
    Ok(App { state: Arc::new(state), store, ledger, incidents })
}

/// Opens the node's access ledger (re-hashing and checking it), records the verification that
/// incident scoping relies on, and raises a torn tail cut at open through `alerter` (one is
/// started for it if `None`).
pub(crate) fn open_ledger(
    data_dir: &Path,
    settings: &Settings,
    clock: &dyn Clock,
    alerter: Option<&vigie_alerts::Alerter>,
) -> anyhow::Result<Arc<Ledger>> {
    let ledger = Arc::new(
        Ledger::open(&ledger_dir(data_dir), settings.ledger.clone())
            .with_context(|| format!("access ledger {}", ledger_dir(data_dir).display()))?,
    );
    let report = ledger.open_report();
    tracing::info!(?report, "ledger opened");
    // Opening re-hashed every entry and checked it against the published checkpoints: a full
    // verification, which incident scoping requires to have passed (it cannot afford one).
    if let Err(e) = vigie_scope::record_verification(&ledger_dir(data_dir), Ok(report.entries), clock.now().millis()) {
        tracing::warn!(error = %e, "could not record the ledger's verification");
    }
    if let Some(torn) = &report.torn_tail {
        let started;
        let alerter = match alerter {
            Some(a) => a,
            None => {
                started = vigie_alerts::Alerter::start(settings.alert_sinks.clone(), 16).context("alerts")?;
                &started
            }
        };
        crate::torn::raise(torn, &ledger, alerter, clock.now());
    }
    if !report.repaired_tiles.is_empty() {
        tracing::warn!(tiles = report.repaired_tiles.len(), "ledger: hash tiles rebuilt from the entries");
    }
    Ok(ledger)
}

/// Who notifications come from and how e-mails leave.
#[derive(Clone, Debug)]
pub struct NotifySettings {
    pub controller: vigie_core::incident::notice::Controller,
    pub smtp: Option<vigie_notify::SmtpSettings>,
}

/// What the binary decides about the HTTP side: the HTTP settings and where mail goes.
#[derive(Clone, Debug)]
pub struct Settings {
    pub http: HttpSettings,
    pub outbox_dir: PathBuf,
    /// The exfiltration detector's thresholds (its canaries are read from the registry at
    /// start); `None` turns detection off.
    pub detection: Option<vigie_core::detect::DetectConfig>,
    /// Where the detector's alerts go besides the ledger and the in-process feed.
    pub alert_sinks: vigie_alerts::Sinks,
    /// The access ledger's batching, signing key and witnesses.
    pub ledger: LedgerOptions,
    /// The keyring sealing second-factor secrets; `<data dir>/secrets.key` if `None`.
    pub secrets_key_file: Option<PathBuf>,
    /// Start even if the data directory or a secret file can be read by others (warnings).
    pub insecure_skip_file_mode_check: bool,
    /// Breach notifications.
    pub notify: NotifySettings,
    /// Governed bulk extracts.
    pub extracts: crate::config_extracts::ExtractsConfig,
    /// Where `vigie simulate` wrote the report the console's overview summarizes.
    pub simulation_report: PathBuf,
}

/// Defaults for a data directory served at `public_url`.
pub fn settings(data_dir: &Path, public_url: &str) -> anyhow::Result<Settings> {
    let origin = url::Url::parse(public_url).with_context(|| format!("public url {public_url:?}"))?;
    Ok(Settings {
        http: HttpSettings::new(origin),
        outbox_dir: data_dir.join("outbox"),
        detection: Some(vigie_core::detect::DetectConfig::with_canaries([])),
        alert_sinks: vigie_alerts::Sinks {
            jsonl: Some(data_dir.join("alerts.jsonl")),
            state_dir: Some(data_dir.to_path_buf()),
            ..Default::default()
        },
        ledger: ledger_options(data_dir),
        secrets_key_file: None,
        insecure_skip_file_mode_check: false,
        notify: NotifySettings { controller: crate::config_notify::NotifyConfig::default().controller(), smtp: None },
        extracts: crate::config_extracts::ExtractsConfig::default(),
        simulation_report: PathBuf::from("simulation-report"),
    })
}

/// The server's settings from its configuration.
pub fn settings_from(config: &crate::config::Config) -> anyhow::Result<Settings> {
    let mut http = HttpSettings::new(config.public_origin()?);
    http.policy = config.session_policy();
    http.policy.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    http.trusted_proxies = config.trusted_proxies.clone();
    http.security_contact = config.security_contact.clone();
    http.limits = config.server.limits()?;
    http.rates = config.server.rates()?;
    Ok(Settings {
        http,
        outbox_dir: config.outbox(),
        detection: config.detection.build()?,
        alert_sinks: config.alerts.sinks(&config.data_dir)?,
        ledger: config.ledger.options(&config.data_dir)?,
        secrets_key_file: Some(config.secrets_key()),
        insecure_skip_file_mode_check: config.insecure_skip_file_mode_check,
        extracts: config.extracts.clone(),
        simulation_report: config.simulation_report.clone().unwrap_or_else(|| PathBuf::from("simulation-report")),
        notify: NotifySettings {
            controller: config.notify.controller(),
            smtp: config.notify.smtp(std::env::var("VIGIE_SMTP_PASSWORD").ok())?,
        },
    })
}

/// Connects single sign-on when the configuration has an `[oidc]` section: discovery happens
/// at start-up, so a wrong issuer or an unreachable provider stops the server with the reason.
pub async fn connect_sso(app: &mut App, config: &crate::config::Config) -> anyhow::Result<()> {
    connect_sso_state(&mut app.state, config).await
}

/// [`connect_sso`] on a state not yet shared.
pub async fn connect_sso_state(state: &mut Arc<AppState>, config: &crate::config::Config) -> anyhow::Result<()> {
    let Some(o) = &config.oidc else { return Ok(()) };
    let redirect = config.public_origin()?.join("auth/oidc/callback")?.to_string();
    let mut provider = vigie_oidc::ProviderConfig::new(o.issuer.clone(), o.client_id.clone(), redirect);
    provider.client_secret = o.client_secret.clone();
    provider.mfa_acr_values = o.mfa_acr_values.clone();
    let client =
        vigie_oidc::OidcClient::discover(&provider).await.with_context(|| format!("oidc provider {}", o.issuer))?;
    let state = Arc::get_mut(state).context("single sign-on must be connected before serving")?;
    state.sso = Some(vigie_http::shared::state::Sso::new(client));
    Ok(())
}

/// Raises the soft descriptor limit to the hard one (as Go's runtime does at start): the soft
/// limit is often 1 024, which caps connections at 768 after the reserve kept for the ledger
/// and the store. The hard limit is the operator's (`LimitNOFILE` in the systemd unit).
fn raise_descriptor_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::warn!(error = %e, "cannot raise the descriptor limit to its hard limit");
        }
    }
    let cap = vigie_http::shared::limits::descriptor_limit();
    tracing::info!(descriptors = ?cap, "descriptor limit");
}

/// Binds, serves until SIGTERM or Ctrl-C, and says where. On the signal it stops accepting,
/// lets requests in flight finish for at most `grace`, and returns; the connections still open
/// then are closed with the runtime. The last checkpoint and detector snapshot are written when
/// the [`App`] is dropped, and SQLite checkpoints its WAL when the store's last connection closes.
pub async fn serve(app: &App, listen: std::net::SocketAddr, grace: std::time::Duration) -> anyhow::Result<()> {
    serve_state(app.state.clone(), Some(app.incidents.clone()), listen, grace).await
}

/// Serves `state` until a signal, then gives requests in flight `grace` to finish. Incident
/// campaigns a stop interrupted are resumed first, where the node runs them.
pub async fn serve_state(
    state: Arc<AppState>,
    incidents: Option<Arc<crate::incidents::Incidents>>,
    listen: std::net::SocketAddr,
    grace: std::time::Duration,
) -> anyhow::Result<()> {
    let signals = crate::stop::Signals::install();
    raise_descriptor_limit();
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    eprintln!("vigie: serving on http://{addr} (Ctrl-C to stop)");
    // Campaigns a stop interrupted go on (scoping and letters are blocking work).
    if let Some(incidents) = incidents {
        tokio::task::spawn_blocking(move || incidents.resume_all());
    }
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let signal = signals.recv().await;
        eprintln!("vigie: {signal}: stopping (requests in flight have {} s to finish)", grace.as_secs_f32());
        let _ = stopping.send(());
    };
    let server = vigie_http::serve(listener, state, shutdown);
    tokio::pin!(server);
    tokio::select! {
        served = &mut server => served.context("server stopped"),
        () = async {
            if stopped.await.is_err() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(grace).await;
        } => {
            eprintln!("vigie: grace period over: closing the connections still open");
            Ok(())
        }
    }
}
