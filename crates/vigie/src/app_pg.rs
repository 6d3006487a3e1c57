//! Wiring of a node whose registry, accounts and sessions are in PostgreSQL (`[store] url`):
//! the same guard, detector, ledger and HTTP state as `app.rs`, with the PostgreSQL store
//! behind the ports. The node's ledger, its keys, the detector's snapshot and the alerts stay in
//! its own data directory: each node is its own ledger origin.
//!
//! Breach incidents run here too: their tables are in PostgreSQL, their files (scoping
//! results, drafts, letters) in the data directory of the node that ran the action, and among
//! several nodes scoping reads every node's ledger (`incidents::ledgers`). So do governed
//! extracts, wired as `app.rs` wires them (told to the detector, overdue ones raised through the
//! alerter): their records are in PostgreSQL; each file, its manifest and the extract secret
//! in the data directory of the node that produced it.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use vigie_core::ports::{Detector, NoDetection};
use vigie_core::time::Clock;
use vigie_http::AppState;
use vigie_http::shared::outbox::DirOutbox;
use vigie_ledger::Ledger;
use vigie_store_pg::{PgOptions, PgStore, StoreUrl};

use crate::app::{Settings, check_modes, ledger_dir, load_policies, open_ledger};

/// A running node on PostgreSQL.
#[derive(Debug)]
pub struct PgApp {
    pub state: Arc<AppState>,
    pub store: Arc<PgStore>,
    pub ledger: Arc<Ledger>,
    pub incidents: Arc<crate::incidents::Incidents>,
    pub extracts: Arc<crate::extracts::Extracts>,
    /// Among several nodes (`[cluster]`): this node's view, and its heartbeat (dropped last: a
    /// clean stop leaves the cluster).
    pub cluster: Option<(Arc<crate::cluster::Node>, crate::cluster::Running)>,
    /// Held while the node serves, dropped with it: the keyring is not rotated beside it
    /// (`PgStore::hold_serving_lock`).
    pub serving: vigie_store_pg::ServingLock,
}

/// Opens the PostgreSQL store (retrying while it is unreachable), the node's ledger in
/// `data_dir`, and assembles the guard around the detector the settings ask for.
pub fn open(
    data_dir: &Path,
    policies_dir: Option<&Path>,
    settings: Settings,
    url: &StoreUrl,
    options: &PgOptions,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<PgApp> {
    open_node(data_dir, policies_dir, settings, url, options, clock, None)
}

/// [`open`] around the detector given rather than the settings' (tests and the simulator pass
/// their own, as [`crate::app::open_with_detector`] does on SQLite). No alert feed is started.
pub fn open_with_detector(
    data_dir: &Path,
    policies_dir: Option<&Path>,
    settings: Settings,
    url: &StoreUrl,
    options: &PgOptions,
    clock: Arc<dyn Clock>,
    detector: Arc<dyn Detector>,
) -> anyhow::Result<PgApp> {
    assemble(data_dir, policies_dir, settings, url, options, clock, None, Some(detector))
}

/// [`open`], as one node among several when `cluster` is given: it joins the cluster (its clock
/// checked against the database's, its name and ledger origin its own), its detector judges
/// only the agents it owns, and its heartbeat starts.
pub fn open_node(
    data_dir: &Path,
    policies_dir: Option<&Path>,
    settings: Settings,
    url: &StoreUrl,
    options: &PgOptions,
    clock: Arc<dyn Clock>,
    cluster: Option<crate::config_cluster::ClusterSettings>,
) -> anyhow::Result<PgApp> {
    assemble(data_dir, policies_dir, settings, url, options, clock, cluster, None)
}

#[allow(clippy::too_many_arguments)] // the two entry points above name what they pass
fn assemble(
    data_dir: &Path,
    policies_dir: Option<&Path>,
    settings: Settings,
    url: &StoreUrl,
    options: &PgOptions,
    clock: Arc<dyn Clock>,
    cluster: Option<crate::config_cluster::ClusterSettings>,
    given: Option<Arc<dyn Detector>>,
) -> anyhow::Result<PgApp> {
    check_modes(data_dir, &settings)?;
    std::fs::create_dir_all(data_dir).with_context(|| format!("data directory {}", data_dir.display()))?;
    let store = Arc::new(PgStore::open(url, options).context("cannot open the registry")?);
    let serving = store.hold_serving_lock().context("cannot open the registry")?;
    let mut joined = match cluster {
        None => None,
        Some(c) => {
            let dir =
                std::fs::canonicalize(data_dir).with_context(|| format!("data directory {}", data_dir.display()))?;
            let info = vigie_store_pg::cluster::NodeInfo {
                name: c.node.clone(),
                address: c.address.to_string(),
                data_dir: dir.display().to_string(),
                origin: settings.ledger.origin.clone(),
                key_file: absolute(&settings.ledger.key_path(&ledger_dir(data_dir)))?.display().to_string(),
                witness_dirs: settings
                    .ledger
                    .witness_dirs()
                    .iter()
                    .map(|d| absolute(d).map(|p| p.display().to_string()))
                    .collect::<anyhow::Result<_>>()?,
            };
            let now = clock.clone();
            let (db, key) = vigie_store_pg::cluster::ClusterDb::join(
                url,
                options.ca_file.as_deref(),
                &info,
                c.lease,
                c.max_skew,
                move || now.now().millis(),
            )
            .with_context(|| format!("cannot join the cluster as node {:?}", c.node))?;
            Some((Arc::new(crate::cluster::Node::new(c, key.route)), db, dir, key.hll))
        }
    };
    let mut exfiltration = None;
    let authz = Arc::new(load_policies(policies_dir)?);
    let (detector, alerter): (Arc<dyn Detector>, Option<Arc<vigie_alerts::Alerter>>) =
        match (given, &settings.detection) {
            (Some(given), _) => (given, None),
            (None, None) => (Arc::new(NoDetection), None),
            (None, Some(config)) => {
                let mut config = config.clone();
                if let Some((_, _, _, hll)) = &joined {
                    // One key for the cluster: the organizations' sketches merge across nodes.
                    config.hll_key = *hll;
                }
                config.canaries = store.canaries().context("reading the canary persons")?.into_iter().collect();
                config.scope_canaries =
                    store.scope_canaries().context("reading the canaries placed in scope lists")?.into_iter().collect();
                let campaigns = vigie_core::ports::AccountStore::active_campaigns(store.as_ref(), clock.now())
                    .context("reading the declared campaigns")?;
                // The last snapshot and this node's ledger after it.
                let restored = crate::snapshot::restore(config, data_dir, &ledger_dir(data_dir), clock.now());
                for c in &campaigns {
                    restored.detector.declare_campaign(c);
                }
                exfiltration = Some(restored.detector.clone());
                let inner = crate::snapshot::SnapshottingDetector::start(
                    &restored,
                    crate::snapshot::path(data_dir),
                    crate::snapshot::EVERY,
                );
                let alerter =
                    Arc::new(vigie_alerts::Alerter::start(settings.alert_sinks.clone(), 10_000).context("alerts")?);
                (Arc::new(vigie_alerts::AlertingDetector { inner, alerter: alerter.clone() }), Some(alerter))
            }
        };
    let detector: Arc<dyn Detector> = match &joined {
        Some((node, _, _, _)) => Arc::new(crate::cluster::fence::Fenced { inner: detector, node: node.clone() }),
        None => detector,
    };
    let ledger = open_ledger(data_dir, &settings, clock.as_ref(), alerter.as_deref())?;
    if let Some((_, db, _, _)) = &mut joined {
        // The other nodes check this ledger with its public key, never with its key file.
        db.publish_vkey(&ledger.verifier().to_string()).context("publishing the ledger's public key")?;
    }
    let crate::app::Serving { extracts, guard, counts } = crate::app::serving(
        store.clone(),
        store.clone(),
        &ledger,
        authz,
        &clock,
        data_dir,
        &settings,
        detector,
        alerter.as_ref(),
    )?;
    let outbox =
        Arc::new(DirOutbox { dir: settings.outbox_dir.clone(), from: "Vigie <no-reply@vigie.invalid>".into() });
    let mut state = AppState::new(
        guard,
        store.clone(),
        store.clone(),
        ledger.clone(),
        clock.clone(),
        outbox,
        settings.http.clone(),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    state.alerts = alerter.map(|a| a.feed.clone());
    state.extracts = Some(extracts.clone());
    state.reads = Some(counts);
    state.simulation = Some(Arc::new(crate::sim_report::ReportDir(settings.simulation_report.clone())));
    // Among several nodes, scoping reads every node's ledger, as the cluster lists them.
    let cluster_ledgers = joined.as_ref().map(|(node, _, _, _)| crate::incidents::ledgers::ClusterLedgers {
        url: url.clone(),
        ca_file: options.ca_file.clone(),
        node: node.settings.node.clone(),
    });
    let incidents = crate::incidents::Incidents::serve_in(
        &mut state,
        store.clone(),
        &ledger,
        clock.clone(),
        data_dir,
        &settings,
        cluster_ledgers,
    );
    let cluster = match joined {
        None => None,
        Some((node, db, dir, _)) => {
            state.cluster = Some(node.clone());
            let heart = crate::cluster::Heart {
                node: node.clone(),
                db,
                detector: exfiltration,
                clock: clock.clone(),
                data_dir: dir,
                sketches: crate::cluster::sketches::Exchange::new(),
            };
            Some((node, crate::cluster::start(heart)?))
        }
    };
    Ok(PgApp { state: Arc::new(state), store, ledger, incidents, extracts, cluster, serving })
}

/// `p` made absolute against the current directory (the other nodes and the tools read it).
fn absolute(p: &Path) -> anyhow::Result<std::path::PathBuf> {
    std::path::absolute(p).with_context(|| format!("path {}", p.display()))
}
