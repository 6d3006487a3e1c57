//! `vigie.toml`: the server's configuration, layered as defaults, then the file, then `VIGIE_*`
//! environment variables. Unknown keys and absurd values are refused with the key named.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory holding `vigie.db` (registry, accounts, sessions) and `ledger/`.
    pub data_dir: PathBuf,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory with `vigie.cedarschema` and `*.cedar`; empty means the policies built into the
    /// binary (the repository's `policies/` at build time).
    pub policies_dir: Option<PathBuf>,
    /// The address agents' browsers use, e.g. `https://vigie.agency.example`. Passkeys are
    /// bound to its host name; pages refuse forms from any other origin. Default:
    /// `http://localhost:<listen port>`.
    pub public_url: Option<String>,
    /// Session lifetime, at most one working day (600 min).
    pub session_ttl_minutes: u64,
    /// Lifetime of the access token re-issued from the session (10 to 300 s): how long a stolen
    /// access cookie could be replayed from the same network and browser.
    pub access_ttl_seconds: u64,
    /// A session unused this long ends.
    pub idle_timeout_minutes: u64,
    /// Live sessions per agent (1 to 5); a new one ends the least recently used.
    pub max_concurrent_sessions: usize,
    /// Where enrolment links and notices are written, as RFC 5322 files for the mail relay.
    /// Default: `<data_dir>/outbox`.
    pub outbox_dir: Option<PathBuf>,
    /// Single sign-on through an OpenID Connect provider (optional).
    pub oidc: Option<OidcConfig>,
    /// The exfiltration detector.
    pub detection: DetectionConfig,
    /// Where the detector's alerts go.
    pub alerts: AlertsConfig,
    /// The access ledger: batching, signing key, witnesses.
    pub ledger: LedgerConfig,
    /// Serving plain HTTP on a non-loopback address exposes session tokens on the network; only
    /// allowed behind a TLS-terminating proxy on the same host, and only when named.
    pub insecure_http_on_public_interface: bool,
    /// Addresses of the reverse proxies in front of Vigie, whose `X-Forwarded-For` gives the
    /// client's address (for the per-network login throttle and the session's source).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// How agents reach the security team (`rssi@agence.example`, a phone number), shown on the
    /// pages that send them there: a quota reached, a session ended, an action refused.
    pub security_contact: Option<String>,
    /// The directory `vigie simulate --out` wrote its report into, whose containment figures
    /// the console's overview shows; default `simulation-report` (simulate's own default), in
    /// the working directory.
    pub simulation_report: Option<PathBuf>,
    /// The keyring sealing the agents' TOTP secrets in `vigie.db` (created, mode 0600, with the
    /// first secret). Default `<data_dir>/secrets.key`; better on another volume than the
    /// database's backups, e.g. a systemd credential. Rotate with `vigie account rotate-secrets-key`.
    pub secrets_key_file: Option<PathBuf>,
    /// Start even when the data directory or a secret file in it can be read by other users
    /// (logged as a warning per path). Off: the start is refused, naming the path and its mode.
    pub insecure_skip_file_mode_check: bool,
    /// On SIGTERM or Ctrl-C, how long requests in flight have to finish (1 to 300 s) before the
    /// connections still open are closed; then the last checkpoint and snapshot are written.
    pub shutdown_grace_seconds: u64,
    /// Breach notifications: the controller, its DPO, the mail relay.
    pub notify: crate::config_notify::NotifyConfig,
    /// Connections and the time and bytes a request may take.
    pub server: ServerConfig,
    /// Where the registry, accounts and sessions are: SQLite in `data_dir` or PostgreSQL.
    pub store: crate::config_store::StoreConfig,
    /// Governed bulk extracts: retention, quota, canaries.
    pub extracts: crate::config_extracts::ExtractsConfig,
    /// Several nodes on one PostgreSQL: this node's name and lease (absent: a single node).
    pub cluster: Option<crate::config_cluster::ClusterConfig>,
}

/// `[server]`: what one client may hold of the server. Each default is explained in
/// `vigie_http::shared::limits::ServerLimits`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Connections open at once (default 10 000), also bounded by the descriptor limit less
    /// `reserved_descriptors`: set `LimitNOFILE` above the sum (the systemd unit sets 65 536).
    pub max_connections: usize,
    /// Connections one client address may hold (default 1 000; trusted proxies are exempt).
    pub max_connections_per_client: usize,
    /// Descriptors kept for the ledger, the store and the alerts (default 256).
    pub reserved_descriptors: u64,
    /// Time to send a request's line and headers, also an idle keep-alive connection's
    /// lifetime (default 10 s, 1 to 300).
    pub header_timeout_seconds: u64,
    /// Time to send a request's body (default 10 s, 1 to 300).
    pub body_timeout_seconds: u64,
    /// Bytes of a request's line and headers (default 16 384, 4 096 to 1 048 576).
    pub max_header_bytes: usize,
    /// Requests served at once (default 64); as many more may wait `queue_wait_ms` (default 20)
    /// for a turn, the rest get a 503 with `Retry-After`.
    pub max_in_flight: usize,
    pub queue_wait_ms: u64,
    /// Requests a second per session (default 10, bursts of `session_burst`, 60) and per
    /// account, all its sessions together (default 20, bursts of 120): far above a person at a
    /// browser, far below a script re-reading records (see `vigie_http::shared::rates`).
    pub session_requests_per_second: u32,
    pub session_burst: u32,
    pub account_requests_per_second: u32,
    pub account_burst: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let d = vigie_http::shared::limits::ServerLimits::default();
        let r = vigie_http::shared::rates::RateSettings::default();
        ServerConfig {
            max_connections: d.max_connections,
            max_connections_per_client: d.max_connections_per_client,
            reserved_descriptors: d.reserved_descriptors,
            header_timeout_seconds: d.header_timeout.as_secs(),
            body_timeout_seconds: d.body_timeout.as_secs(),
            max_header_bytes: d.max_header_bytes,
            max_in_flight: d.max_in_flight,
            queue_wait_ms: u64::try_from(d.queue_wait.as_millis()).unwrap_or(u64::MAX),
            session_requests_per_second: r.session.per_second,
            session_burst: r.session.burst,
            account_requests_per_second: r.account.per_second,
            account_burst: r.account.burst,
        }
    }
}

impl ServerConfig {
    /// The request rates, checked.
    pub fn rates(&self) -> anyhow::Result<vigie_http::shared::rates::RateSettings> {
        use vigie_http::shared::rates::{Rate, RateSettings};
        for (name, v) in [
            ("session_requests_per_second", self.session_requests_per_second),
            ("session_burst", self.session_burst),
            ("account_requests_per_second", self.account_requests_per_second),
            ("account_burst", self.account_burst),
        ] {
            if !(1..=1_000_000).contains(&v) {
                bail!("server.{name}: must be between 1 and 1000000, got {v}");
            }
        }
        Ok(RateSettings {
            session: Rate { per_second: self.session_requests_per_second, burst: self.session_burst },
            account: Rate { per_second: self.account_requests_per_second, burst: self.account_burst },
        })
    }

    /// The server's limits, checked.
    pub fn limits(&self) -> anyhow::Result<vigie_http::shared::limits::ServerLimits> {
        if self.max_connections == 0 {
            bail!("server.max_connections: must be at least 1");
        }
        if self.max_connections_per_client == 0 {
            bail!("server.max_connections_per_client: must be at least 1");
        }
        for (name, secs) in [
            ("header_timeout_seconds", self.header_timeout_seconds),
            ("body_timeout_seconds", self.body_timeout_seconds),
        ] {
            if !(1..=300).contains(&secs) {
                bail!("server.{name}: must be between 1 and 300, got {secs}");
            }
        }
        if !(4_096..=1_048_576).contains(&self.max_header_bytes) {
            bail!("server.max_header_bytes: must be between 4096 and 1048576, got {}", self.max_header_bytes);
        }
        if !(1..=100_000).contains(&self.max_in_flight) {
            bail!("server.max_in_flight: must be between 1 and 100000, got {}", self.max_in_flight);
        }
        if self.queue_wait_ms > 10_000 {
            bail!("server.queue_wait_ms: must be at most 10000, got {}", self.queue_wait_ms);
        }
        Ok(vigie_http::shared::limits::ServerLimits {
            max_connections: self.max_connections,
            max_connections_per_client: self.max_connections_per_client,
            reserved_descriptors: self.reserved_descriptors,
            header_timeout: std::time::Duration::from_secs(self.header_timeout_seconds),
            body_timeout: std::time::Duration::from_secs(self.body_timeout_seconds),
            max_header_bytes: self.max_header_bytes,
            max_in_flight: self.max_in_flight,
            queue_wait: std::time::Duration::from_millis(self.queue_wait_ms),
        })
    }
}

/// `[ledger]`: the access ledger's batching, signing key and witnesses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerConfig {
    /// The log's name: the checkpoints' origin line and the key's name, fixed when the key is
    /// created (default `vigie/ledger`; better, the public host, e.g. `vigie.agency.example/ledger`).
    pub origin: String,
    /// The Ed25519 signing key, created (mode 0600) at first start; default `<data_dir>/ledger.key`.
    pub key_file: Option<PathBuf>,
    /// Directories (another party's storage) receiving every checkpoint: `checkpoint` and an
    /// append-only history `checkpoints`. Checked at start: the log must contain what they hold.
    pub witness_dirs: Vec<PathBuf>,
    /// Endpoints receiving every checkpoint as a `POST` (`http://` only; retried in the
    /// background, never blocking an append).
    pub witness_urls: Vec<String>,
    /// How long the writer waits for more appends before syncing a batch (0 to 2 ms; 0: batches
    /// form while the previous fsync runs, which is enough under load).
    pub linger_ms: u64,
    /// Most entries per fsync (1 to 65536).
    pub max_batch_entries: usize,
    /// Appends fail once the log has grown past its last published checkpoint for this long
    /// (2 to 600 s): nothing leaves unwitnessed for longer.
    pub checkpoint_deadline_seconds: u64,
    /// Seal event bodies with a key per month in `<data_dir>/ledger-keys/`, so that
    /// `vigie ledger shred --before YYYY-MM` ends their retention while the tree still verifies.
    pub seal_bodies: bool,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        let d = vigie_ledger::LedgerOptions::default();
        LedgerConfig {
            origin: d.origin,
            key_file: None,
            witness_dirs: Vec::new(),
            witness_urls: Vec::new(),
            linger_ms: 0,
            max_batch_entries: d.max_batch_entries,
            checkpoint_deadline_seconds: d.checkpoint_deadline.as_secs(),
            seal_bodies: true,
        }
    }
}

impl LedgerConfig {
    /// The ledger's options for a data directory, checked.
    pub fn options(&self, data_dir: &Path) -> anyhow::Result<vigie_ledger::LedgerOptions> {
        if self.linger_ms > 2 {
            bail!("ledger.linger_ms: must be between 0 and 2, got {}", self.linger_ms);
        }
        if !(2..=600).contains(&self.checkpoint_deadline_seconds) {
            bail!(
                "ledger.checkpoint_deadline_seconds: must be between 2 and 600, got {}",
                self.checkpoint_deadline_seconds
            );
        }
        if !(1..=65_536).contains(&self.max_batch_entries) {
            bail!("ledger.max_batch_entries: must be between 1 and 65536, got {}", self.max_batch_entries);
        }
        vigie_ledger::note::NoteSigner::from_seed(&self.origin, [0; 32]).map_err(|_| {
            anyhow::anyhow!("ledger.origin: {:?} must be non-empty, without '+' or spaces", self.origin)
        })?;
        let mut witnesses: Vec<vigie_ledger::Witness> =
            self.witness_dirs.iter().cloned().map(vigie_ledger::Witness::Directory).collect();
        for u in &self.witness_urls {
            let url = url::Url::parse(u).map_err(|e| anyhow::anyhow!("ledger.witness_urls: {u:?}: {e}"))?;
            if url.scheme() != "http" {
                bail!("ledger.witness_urls: {u}: only http:// (the checkpoint carries its own signature)");
            }
            witnesses.push(vigie_ledger::Witness::Http(u.clone()));
        }
        Ok(vigie_ledger::LedgerOptions {
            max_batch_entries: self.max_batch_entries,
            linger: std::time::Duration::from_millis(self.linger_ms),
            checkpoint_deadline: std::time::Duration::from_secs(self.checkpoint_deadline_seconds),
            origin: self.origin.clone(),
            key_file: Some(self.key_file.clone().unwrap_or_else(|| data_dir.join("ledger.key"))),
            witnesses,
            seal_keys: self.seal_bodies.then(|| crate::app::ledger_keys_dir(data_dir)),
            ..vigie_ledger::LedgerOptions::default()
        })
    }
}

/// `[alerts]`: where the detector's alerts go besides the ledger and `GET /v1/alerts`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// JSON-lines file for a SIEM; default `<data_dir>/alerts.jsonl`.
    pub jsonl: Option<PathBuf>,
    /// Webhook receiving each alert as JSON, signed `X-Vigie-Signature: sha256=…` over
    /// `<X-Vigie-Timestamp>.<body>` with `webhook_secret` (better: VIGIE_ALERTS_WEBHOOK_SECRET).
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    /// Syslog receiver, each alert as one RFC 5424 message: `udp://host:514` (RFC 5426) or
    /// `tcp://host:601` (octet-counting framing, RFC 6587). No TLS: use a local relay for that.
    pub syslog: Option<String>,
    /// Facility of the syslog messages: `authpriv` (default), `auth`, `daemon`, `user`,
    /// `local0` … `local7`.
    pub syslog_facility: Option<String>,
}

impl AlertsConfig {
    pub fn sinks(&self, data_dir: &Path) -> anyhow::Result<vigie_alerts::Sinks> {
        let webhook = match &self.webhook_url {
            None => None,
            Some(u) => {
                let url = url::Url::parse(u).map_err(|e| anyhow::anyhow!("alerts.webhook_url: {u:?}: {e}"))?;
                if url.scheme() != "https" && !matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")) {
                    bail!("alerts.webhook_url: {url} must be https (plain http only on loopback)");
                }
                let secret = self.webhook_secret.clone().filter(|s| s.len() >= 16).ok_or_else(|| {
                    anyhow::anyhow!("alerts.webhook_secret: required with webhook_url, at least 16 characters")
                })?;
                Some(vigie_alerts::Webhook {
                    url: url.to_string(),
                    secret: secret.into_bytes(),
                    attempts: 5,
                    first_backoff: std::time::Duration::from_secs(1),
                })
            }
        };
        let facility = match &self.syslog_facility {
            None => vigie_alerts::Facility::default(),
            Some(_) if self.syslog.is_none() => bail!("alerts.syslog_facility: set without alerts.syslog"),
            Some(f) => f.parse().map_err(|e| anyhow::anyhow!("alerts.syslog_facility: {e}"))?,
        };
        let syslog = match &self.syslog {
            None => None,
            Some(u) => {
                let target = u.parse().map_err(|e| anyhow::anyhow!("alerts.syslog: {u:?}: {e}"))?;
                Some(vigie_alerts::Syslog::new(target, facility))
            }
        };
        Ok(vigie_alerts::Sinks {
            jsonl: Some(self.jsonl.clone().unwrap_or_else(|| data_dir.join("alerts.jsonl"))),
            webhook,
            syslog,
            state_dir: Some(data_dir.to_path_buf()),
        })
    }
}

/// `[detection]`: the exfiltration detector (quotas, canaries, enumeration, ladder).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectionConfig {
    /// Off only for measurements; on by default.
    pub enabled: bool,
    /// Organization kinds in detect-only mode: verdicts are decided and ledgered, never enforced.
    pub shadow: Vec<String>,
    /// Overrides of the default thresholds for one organization kind and role.
    pub thresholds: Vec<ThresholdOverride>,
    /// Overrides of the statistical layers' parameters (all kinds).
    pub statistics: StatisticsOverride,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        DetectionConfig {
            enabled: true,
            shadow: Vec::new(),
            thresholds: Vec::new(),
            statistics: StatisticsOverride::default(),
        }
    }
}

/// `[detection.statistics]`: the keys given replace the defaults (see
/// `vigie_core::detect::Statistics` for each default and its reason).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatisticsOverride {
    pub self_z: Option<f64>,
    pub self_factor: Option<f64>,
    pub min_volume: Option<u32>,
    pub cusum_k: Option<f64>,
    pub cusum_h: Option<f64>,
    pub peer_quantile: Option<f64>,
    pub peer_factor: Option<f64>,
    pub peer_min_days: Option<u64>,
    pub org_quota_percent: Option<u32>,
    pub peer_group_factor: Option<f64>,
    pub reason_valid_minutes: Option<u32>,
    pub young_account_days: Option<u32>,
    pub dormant_days: Option<u32>,
    pub credential_recent_hours: Option<u32>,
    pub creations_day: Option<u32>,
    pub creations_week: Option<u32>,
    pub insist_reason_after: Option<u32>,
    pub insist_throttle_after: Option<u32>,
    pub pace_factor: Option<f64>,
    pub walk_after_step_up: Option<u32>,
    pub scope_canary_burst: Option<u32>,
    pub surge_cap: Option<f64>,
    pub surge_min_accounts: Option<u32>,
    pub link_accounts: Option<u32>,
    pub link_orgs: Option<u32>,
    pub link_window_hours: Option<u32>,
    pub justified_factor: Option<f64>,
    pub org_relationships_percent: Option<u32>,
    pub kind_new_factor: Option<f64>,
}

impl StatisticsOverride {
    fn apply(&self, s: &mut vigie_core::detect::Statistics) {
        const MIN: i64 = 60_000;
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = self.$f { s.$f = v; } )* };
        }
        set!(self_z, self_factor, min_volume, cusum_k, cusum_h, peer_quantile, peer_factor, peer_min_days);
        set!(org_quota_percent, peer_group_factor, creations_day, creations_week);
        set!(insist_reason_after, insist_throttle_after, pace_factor, walk_after_step_up, scope_canary_burst);
        set!(surge_cap, surge_min_accounts, link_accounts, link_orgs, justified_factor, org_relationships_percent);
        set!(kind_new_factor);
        let ms = |v: Option<u32>, unit: i64| v.map(|v| i64::from(v) * unit);
        s.reason_valid_ms = ms(self.reason_valid_minutes, MIN).unwrap_or(s.reason_valid_ms);
        s.young_account_ms = ms(self.young_account_days, 24 * 60 * MIN).unwrap_or(s.young_account_ms);
        s.dormant_ms = ms(self.dormant_days, 24 * 60 * MIN).unwrap_or(s.dormant_ms);
        s.credential_recent_ms = ms(self.credential_recent_hours, 60 * MIN).unwrap_or(s.credential_recent_ms);
        s.link_window_ms = ms(self.link_window_hours, 60 * MIN).unwrap_or(s.link_window_ms);
    }
}

/// `[[detection.thresholds]]`: the keys given replace the defaults of `kind` and `role`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdOverride {
    pub kind: String,
    pub role: String,
    pub quota_hour: Option<u32>,
    pub quota_day: Option<u32>,
    pub quota_week: Option<u32>,
    pub step_up_percent: Option<u32>,
    pub sequential_run: Option<u32>,
    pub lookup_misses: Option<u32>,
    pub probation_percent: Option<u32>,
    pub friction_new_percent: Option<u32>,
    pub outside_lookups_day: Option<u32>,
    pub scope_lines_hour: Option<u32>,
    pub relationships_hour: Option<u32>,
    pub relationships_day: Option<u32>,
}

impl DetectionConfig {
    /// The detector's configuration (canaries are added from the registry at start).
    pub fn build(&self) -> anyhow::Result<Option<vigie_core::detect::DetectConfig>> {
        use vigie_core::org::{OrgKind, Role};
        if !self.enabled {
            return Ok(None);
        }
        let mut config = vigie_core::detect::DetectConfig::with_canaries([]);
        for (i, k) in self.shadow.iter().enumerate() {
            let kind = OrgKind::parse(k)
                .ok_or_else(|| anyhow::anyhow!("detection.shadow[{i}]: unknown organization kind {k:?}"))?;
            config.shadow.insert(kind);
        }
        for (i, o) in self.thresholds.iter().enumerate() {
            let at = format!("detection.thresholds[{i}]");
            let kind = OrgKind::parse(&o.kind)
                .ok_or_else(|| anyhow::anyhow!("{at}.kind: unknown organization kind {:?}", o.kind))?;
            let role = Role::parse(&o.role).ok_or_else(|| anyhow::anyhow!("{at}.role: unknown role {:?}", o.role))?;
            let mut t = vigie_core::detect::Thresholds::default_for(kind, role);
            t.quota_hour = o.quota_hour.unwrap_or(t.quota_hour);
            t.quota_day = o.quota_day.unwrap_or(t.quota_day);
            t.quota_week = o.quota_week.unwrap_or(t.quota_week);
            t.step_up_percent = o.step_up_percent.unwrap_or(t.step_up_percent);
            t.sequential_run = o.sequential_run.unwrap_or(t.sequential_run);
            t.lookup_misses = o.lookup_misses.unwrap_or(t.lookup_misses);
            t.probation_percent = o.probation_percent.unwrap_or(t.probation_percent);
            t.friction_new_percent = o.friction_new_percent.unwrap_or(t.friction_new_percent);
            t.outside_lookups_day = o.outside_lookups_day.unwrap_or(t.outside_lookups_day);
            t.scope_lines_hour = o.scope_lines_hour.unwrap_or(t.scope_lines_hour);
            t.relationships_hour = o.relationships_hour.unwrap_or(t.relationships_hour);
            t.relationships_day = o.relationships_day.unwrap_or(t.relationships_day);
            t.validate().map_err(|e| anyhow::anyhow!("{at}: {e}"))?;
            config.thresholds.insert((kind, role), t);
        }
        self.statistics.apply(&mut config.stats);
        config.stats.validate().map_err(|e| anyhow::anyhow!("detection.statistics.{e}"))?;
        // Keys the approximate counters' hash: unknown outside this process (and its snapshots).
        config.hll_key = rand::random();
        Ok(Some(config))
    }
}

/// `[oidc]`: the agency's identity provider (ProConnect, Keycloak, …).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer URL (discovery at `<issuer>/.well-known/openid-configuration`).
    pub issuer: String,
    pub client_id: String,
    /// The client secret; prefer `VIGIE_OIDC_CLIENT_SECRET` over writing it in the file.
    pub client_secret: Option<String>,
    /// `acr` values the agency counts as multi-factor (e.g. `eidas2`, `eidas3`). An `amr` with
    /// `mfa` or with two factor classes counts too. Anything else gets Vigie's second factor.
    #[serde(default)]
    pub mfa_acr_values: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./vigie-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            policies_dir: None,
            public_url: None,
            session_ttl_minutes: 480,
            access_ttl_seconds: 300,
            idle_timeout_minutes: 30,
            max_concurrent_sessions: 2,
            outbox_dir: None,
            oidc: None,
            detection: DetectionConfig::default(),
            alerts: AlertsConfig::default(),
            ledger: LedgerConfig::default(),
            insecure_http_on_public_interface: false,
            trusted_proxies: Vec::new(),
            security_contact: None,
            simulation_report: None,
            secrets_key_file: None,
            insecure_skip_file_mode_check: false,
            shutdown_grace_seconds: 10,
            notify: crate::config_notify::NotifyConfig::default(),
            server: ServerConfig::default(),
            store: crate::config_store::StoreConfig::default(),
            extracts: crate::config_extracts::ExtractsConfig::default(),
            cluster: None,
        }
    }
}

impl Config {
    /// Loads `path` (if given) over the defaults, then the environment.
    pub fn load(path: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Config> {
        let config = match path {
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).with_context(|| format!("cannot read config file {}", p.display()))?;
                parse_toml(&text).with_context(|| format!("config file {}", p.display()))?
            }
            None => Config::default(),
        };
        config.with_env(env)
    }

    /// Reads a `vigie.toml`'s text over the defaults, then the environment, and checks it: what
    /// [`Config::load`] does after reading the file (the fuzz target's way in).
    pub fn from_text(text: &str, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Config> {
        parse_toml(text)?.with_env(env)
    }

    fn with_env(mut self, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Config> {
        let config = &mut self;
        if let Some(v) = env("VIGIE_DATA_DIR") {
            config.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env("VIGIE_LISTEN") {
            config.listen =
                v.parse().with_context(|| format!("VIGIE_LISTEN: {v:?} is not an address like 127.0.0.1:8080"))?;
        }
        if let Some(v) = env("VIGIE_POLICIES_DIR") {
            config.policies_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = env("VIGIE_SESSION_TTL_MINUTES") {
            config.session_ttl_minutes =
                v.parse().with_context(|| format!("VIGIE_SESSION_TTL_MINUTES: {v:?} is not a number of minutes"))?;
        }
        if let Some(v) = env("VIGIE_STORE_URL") {
            config.store.url = Some(v);
        }
        if let Some(v) = env("VIGIE_PUBLIC_URL") {
            config.public_url = Some(v);
        }
        if let Some(v) = env("VIGIE_OIDC_CLIENT_SECRET") {
            match config.oidc.as_mut() {
                Some(o) => o.client_secret = Some(v),
                None => bail!("VIGIE_OIDC_CLIENT_SECRET is set but the configuration has no [oidc] section"),
            }
        }
        if let Some(v) = env("VIGIE_ALERTS_WEBHOOK_SECRET") {
            config.alerts.webhook_secret = Some(v);
        }
        if let Some(v) = env("VIGIE_ALERTS_SYSLOG") {
            config.alerts.syslog = Some(v);
        }
        if let Some(v) = env("VIGIE_INSECURE_HTTP_ON_PUBLIC_INTERFACE") {
            config.insecure_http_on_public_interface = boolean("VIGIE_INSECURE_HTTP_ON_PUBLIC_INTERFACE", &v)?;
        }
        if let Some(v) = env("VIGIE_INSECURE_SKIP_FILE_MODE_CHECK") {
            config.insecure_skip_file_mode_check = boolean("VIGIE_INSECURE_SKIP_FILE_MODE_CHECK", &v)?;
        }
        if let Some(v) = env("VIGIE_SECRETS_KEY_FILE") {
            config.secrets_key_file = Some(PathBuf::from(v));
        }
        if let Some(v) = env("VIGIE_SHUTDOWN_GRACE_SECONDS") {
            config.shutdown_grace_seconds =
                v.parse().with_context(|| format!("VIGIE_SHUTDOWN_GRACE_SECONDS: {v:?} is not a number of seconds"))?;
        }
        config.check()?;
        Ok(self)
    }

    fn check(&self) -> anyhow::Result<()> {
        self.extracts.check()?;
        if !(5..=600).contains(&self.session_ttl_minutes) {
            bail!("session_ttl_minutes: must be between 5 and 600 (one working day), got {}", self.session_ttl_minutes);
        }
        if !(10..=300).contains(&self.access_ttl_seconds) {
            bail!("access_ttl_seconds: must be between 10 and 300, got {}", self.access_ttl_seconds);
        }
        if !(1..=self.session_ttl_minutes).contains(&self.idle_timeout_minutes) {
            bail!(
                "idle_timeout_minutes: must be between 1 and session_ttl_minutes ({}), got {}",
                self.session_ttl_minutes,
                self.idle_timeout_minutes
            );
        }
        self.server.limits()?;
        self.server.rates()?;
        if !(1..=300).contains(&self.shutdown_grace_seconds) {
            bail!("shutdown_grace_seconds: must be between 1 and 300, got {}", self.shutdown_grace_seconds);
        }
        if !(1..=5).contains(&self.max_concurrent_sessions) {
            bail!("max_concurrent_sessions: must be between 1 and 5, got {}", self.max_concurrent_sessions);
        }
        let url = self.public_origin()?;
        if !matches!(url.host(), Some(url::Host::Domain(_))) {
            bail!("public_url: {url} must name a host (passkeys are bound to a host name, not an IP address)");
        }
        if url.scheme() != "https" && url.host_str() != Some("localhost") {
            bail!("public_url: {url} must be https (plain http is only accepted for localhost)");
        }
        self.detection.build()?;
        self.alerts.sinks(&self.data_dir)?;
        self.ledger.options(&self.data_dir)?;
        if let Some(o) = &self.oidc {
            let issuer = url::Url::parse(&o.issuer).map_err(|e| anyhow::anyhow!("oidc.issuer: {:?}: {e}", o.issuer))?;
            if issuer.scheme() != "https" && !matches!(issuer.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")) {
                bail!("oidc.issuer: {issuer} must be https (plain http only on loopback, for tests)");
            }
            if o.client_id.trim().is_empty() {
                bail!("oidc.client_id: must not be empty");
            }
        }
        if !self.listen.ip().is_loopback() && !self.insecure_http_on_public_interface {
            bail!(
                "listen: {} is not a loopback address; Vigie serves plain HTTP, so put a TLS-terminating proxy in front \
                 and set insecure_http_on_public_interface = true to acknowledge it",
                self.listen
            );
        }
        Ok(())
    }
}

impl Config {
    /// The public origin (see `public_url`).
    pub fn public_origin(&self) -> anyhow::Result<url::Url> {
        let raw = self.public_url.clone().unwrap_or_else(|| format!("http://localhost:{}", self.listen.port()));
        let url = url::Url::parse(&raw).map_err(|e| anyhow::anyhow!("public_url: {raw:?}: {e}"))?;
        if url.path() != "/" || url.query().is_some() {
            bail!("public_url: {raw:?} must be an origin, without path or query");
        }
        Ok(url)
    }

    pub fn outbox(&self) -> PathBuf {
        self.outbox_dir.clone().unwrap_or_else(|| self.data_dir.join("outbox"))
    }

    /// The keyring sealing second-factor secrets (see `secrets_key_file`).
    pub fn secrets_key(&self) -> PathBuf {
        self.secrets_key_file.clone().unwrap_or_else(|| self.data_dir.join(vigie_store::SECRETS_KEY_FILE))
    }

    pub fn session_policy(&self) -> vigie_core::signin::SessionPolicy {
        let minutes = |m: u64| i64::try_from(m).unwrap_or(i64::MAX / 120_000) * 60_000;
        vigie_core::signin::SessionPolicy {
            access_ttl_ms: i64::try_from(self.access_ttl_seconds).unwrap_or(300) * 1000,
            session_ttl_ms: minutes(self.session_ttl_minutes),
            idle_timeout_ms: minutes(self.idle_timeout_minutes),
            max_concurrent: self.max_concurrent_sessions,
            ..vigie_core::signin::SessionPolicy::default()
        }
    }
}

fn boolean(var: &str, v: &str) -> anyhow::Result<bool> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => bail!("{var}: expected true or false, got {v:?}"),
    }
}

/// Parses the TOML text, turning the parser's multi-line message into one line with the key.
fn parse_toml(text: &str) -> anyhow::Result<Config> {
    toml::from_str::<Config>(text).map_err(|e| {
        let msg = e.message().replace('\n', " ");
        let Some(span) = e.span() else { return anyhow::anyhow!("{msg}") };
        let start = span.start.min(text.len());
        let line_no = text[..start].lines().count().max(1);
        // Name the key of the offending line when there is one (`key = value`).
        let line =
            text[..start].rsplit('\n').next().unwrap_or("").to_owned() + text[start..].split('\n').next().unwrap_or("");
        match line.split_once('=').map(|(k, _)| k.trim()).filter(|k| !k.is_empty() && !msg.contains(k)) {
            Some(key) => anyhow::anyhow!("line {line_no}, key `{key}`: {msg}"),
            None => anyhow::anyhow!("line {line_no}: {msg}"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_file_then_env() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("vigie.toml");
        std::fs::write(&p, "data_dir = \"/srv/vigie\"\nsession_ttl_minutes = 60\n").unwrap();
        let c = Config::load(Some(&p), no_env).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/srv/vigie"));
        assert_eq!(c.session_ttl_minutes, 60);
        assert_eq!(c.listen.port(), 8080);
        let c = Config::load(Some(&p), |k| (k == "VIGIE_LISTEN").then(|| "127.0.0.1:9999".to_owned())).unwrap();
        assert_eq!(c.listen.port(), 9999);
    }

    #[test]
    fn file_modes_secrets_and_the_grace_period_from_file_and_environment() {
        let c = Config::default();
        assert!(!c.insecure_skip_file_mode_check, "refusing is the default");
        assert_eq!(c.shutdown_grace_seconds, 10);
        assert_eq!(c.secrets_key(), PathBuf::from("./vigie-data/secrets.key"));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("vigie.toml");
        std::fs::write(
            &p,
            "secrets_key_file = \"/run/credentials/vigie.service/secrets.key\"\nshutdown_grace_seconds = 30\n",
        )
        .unwrap();
        let c = Config::load(Some(&p), no_env).unwrap();
        assert_eq!(c.secrets_key(), PathBuf::from("/run/credentials/vigie.service/secrets.key"));
        assert_eq!(c.shutdown_grace_seconds, 30);
        let env = |k: &str| match k {
            "VIGIE_INSECURE_SKIP_FILE_MODE_CHECK" => Some("true".to_owned()),
            "VIGIE_SECRETS_KEY_FILE" => Some("/etc/vigie/secrets.key".to_owned()),
            "VIGIE_SHUTDOWN_GRACE_SECONDS" => Some("5".to_owned()),
            _ => None,
        };
        let c = Config::load(Some(&p), env).unwrap();
        assert!(c.insecure_skip_file_mode_check);
        assert_eq!((c.secrets_key(), c.shutdown_grace_seconds), (PathBuf::from("/etc/vigie/secrets.key"), 5));
        for (var, value) in [("VIGIE_INSECURE_SKIP_FILE_MODE_CHECK", "yes"), ("VIGIE_SHUTDOWN_GRACE_SECONDS", "ten")] {
            let e = Config::load(None, |k| (k == var).then(|| value.to_owned())).unwrap_err();
            assert!(format!("{e:#}").contains(var), "{e:#}");
        }
    }

    #[test]
    fn the_example_config_is_valid() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vigie.example.toml");
        let c = Config::load(Some(&p), no_env).unwrap();
        assert_eq!(c.session_policy(), vigie_core::signin::SessionPolicy::default());
    }

    #[test]
    fn ledger_section_builds_options_and_refuses_bad_values() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("vigie.toml");
        std::fs::write(
            &p,
            "[ledger]\nwitness_dirs = [\"/mnt/dpo/vigie\"]\nwitness_urls = [\"http://witness.example/add\"]\nlinger_ms = 1\n",
        )
        .unwrap();
        let c = Config::load(Some(&p), no_env).unwrap();
        let o = c.ledger.options(Path::new("/srv/vigie")).unwrap();
        assert_eq!(o.key_file, Some(PathBuf::from("/srv/vigie/ledger.key")));
        assert_eq!(o.witnesses.len(), 2);
        assert_eq!(o.linger, std::time::Duration::from_millis(1));
        for bad in [
            "linger_ms = 5",
            "max_batch_entries = 0",
            "witness_urls = [\"https://x.example/\"]",
            "origin = \"a b\"",
            "colour = 1",
        ] {
            std::fs::write(&p, format!("[ledger]\n{bad}\n")).unwrap();
            let e = format!("{:#}", Config::load(Some(&p), no_env).unwrap_err());
            let key = bad.split_once(' ').unwrap().0;
            assert!(e.contains(key), "{bad}: {e}");
        }
    }

    #[test]
    fn bad_configs_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("vigie.toml");
        for (text, needle) in [
            ("listne = \"127.0.0.1:1\"\n", "listne"),
            ("\n\nsession_ttl_minutes = -3\n", "line 3"),
            ("session_ttl_minutes = 100000\n", "session_ttl_minutes"),
            ("session_ttl_minutes = 700\n", "session_ttl_minutes"),
            ("access_ttl_seconds = 3600\n", "access_ttl_seconds"),
            ("max_concurrent_sessions = 0\n", "max_concurrent_sessions"),
            ("public_url = \"http://vigie.example.org\"\n", "https"),
            ("public_url = \"https://10.0.0.1\"\n", "host"),
            ("[oidc]\nissuer = \"http://idp.example.org\"\nclient_id = \"v\"\n", "oidc.issuer"),
            ("[detection]\nshadow = [\"bank\"]\n", "detection.shadow[0]"),
            (
                "[alerts]\nwebhook_url = \"http://siem.example.org/in\"\nwebhook_secret = \"0123456789abcdef\"\n",
                "https",
            ),
            ("[alerts]\nwebhook_url = \"https://siem.example.org/in\"\n", "webhook_secret"),
            ("[alerts]\nsyslog = true\n", "syslog"),
            ("[alerts]\nsyslog = \"http://siem.example.org:514\"\n", "alerts.syslog"),
            ("[alerts]\nsyslog = \"tls://siem.example.org:6514\"\n", "alerts.syslog"),
            ("[alerts]\nsyslog = \"udp://siem.example.org:99999\"\n", "alerts.syslog"),
            ("[alerts]\nsyslog = \"udp://siem.example.org\"\nsyslog_facility = \"mail\"\n", "alerts.syslog_facility"),
            ("[alerts]\nsyslog = \"tcp://siem.example.org\"\nsyslog_facility = 4\n", "syslog_facility"),
            ("[alerts]\nsyslog_facility = \"local4\"\n", "alerts.syslog_facility"),
            (
                "[[detection.thresholds]]\nkind = \"agency\"\nrole = \"advisor\"\nquota_hour = 0\n",
                "detection.thresholds[0]",
            ),
            (
                "[[detection.thresholds]]\nkind = \"agency\"\nrole = \"advisor\"\nquota_day = 10\n",
                "quota_hour ≤ quota_day",
            ),
            ("[[detection.thresholds]]\nkind = \"agency\"\nrole = \"advisor\"\nquota_hour = -5\n", "quota_hour"),
            ("[[detection.thresholds]]\nkind = \"agency\"\nrole = \"advisor\"\nquota = 5\n", "quota"),
            ("[detection.statistics]\nself_z = -2.0\n", "detection.statistics.self_z"),
            ("[detection.statistics]\npeer_quantile = 1.5\n", "detection.statistics.peer_quantile"),
            ("[detection.statistics]\ncreations_day = 100\n", "detection.statistics.creations_day"),
            ("[detection.statistics]\ninsist_reason_after = 90\n", "detection.statistics.insist_reason_after"),
            ("[detection.statistics]\nsurge_cap = 50\n", "detection.statistics.surge_cap"),
            ("[detection.statistics]\nlink_accounts = 1\n", "detection.statistics.link_accounts"),
            (
                "[[detection.thresholds]]\nkind = \"agency\"\nrole = \"advisor\"\nrelationships_hour = 500\n",
                "relationships_hour",
            ),
            ("[detection.statistics]\nsurprise = 1\n", "surprise"),
            (
                "[[detection.thresholds]]\nkind = \"agency\"\nrole = \"advisor\"\noutside_lookups_day = 0\n",
                "outside_lookups_day",
            ),
            ("[oidc]\nissuer = \"https://idp.example.org\"\nclient_id = \"v\"\nsecret = \"x\"\n", "secret"),
            ("listen = \"0.0.0.0:8080\"\n", "insecure_http_on_public_interface"),
            ("shutdown_grace_seconds = 0\n", "shutdown_grace_seconds"),
            ("shutdown_grace_seconds = 3600\n", "shutdown_grace_seconds"),
            ("insecure_skip_file_mode_check = \"yes\"\n", "insecure_skip_file_mode_check"),
            ("listen = \"nowhere\"\n", "listen"),
        ] {
            std::fs::write(&p, text).unwrap();
            let err = format!("{:#}", Config::load(Some(&p), no_env).unwrap_err());
            assert!(err.contains(needle), "{text:?} gave {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
        let err = format!("{:#}", Config::load(Some(&dir.path().join("missing.toml")), no_env).unwrap_err());
        assert!(err.contains("missing.toml"), "{err}");
        let err = Config::load(None, |k| (k == "VIGIE_LISTEN").then(|| "x".to_owned())).unwrap_err();
        assert!(err.to_string().contains("VIGIE_LISTEN"));
    }

    #[test]
    fn alerts_to_syslog() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("vigie.toml");
        std::fs::write(&p, "[alerts]\nsyslog = \"tcp://siem.example.org\"\nsyslog_facility = \"local4\"\n").unwrap();
        let c = Config::load(Some(&p), no_env).unwrap();
        let syslog = c.alerts.sinks(&c.data_dir).unwrap().syslog.unwrap();
        assert_eq!(
            (syslog.target.to_string(), syslog.facility),
            ("tcp://siem.example.org:601".to_owned(), vigie_alerts::Facility::Local4)
        );
        let c =
            Config::load(None, |k| (k == "VIGIE_ALERTS_SYSLOG").then(|| "udp://127.0.0.1:5514".to_owned())).unwrap();
        let syslog = c.alerts.sinks(&c.data_dir).unwrap().syslog.unwrap();
        assert_eq!(
            (syslog.target.to_string(), syslog.facility),
            ("udp://127.0.0.1:5514".to_owned(), vigie_alerts::Facility::AuthPriv)
        );
        let err = Config::load(None, |k| (k == "VIGIE_ALERTS_SYSLOG").then(|| "udp:/x".to_owned())).unwrap_err();
        assert!(format!("{err:#}").contains("alerts.syslog"), "{err:#}");
        assert!(Config::default().alerts.sinks(Path::new("d")).unwrap().syslog.is_none(), "off by default");
    }
}
