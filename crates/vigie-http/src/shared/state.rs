//! What every handler shares: the guard, the account store, the ledger, the clock, the login
//! throttle, the WebAuthn relying party, the ceremonies in flight and the settings. Built by
//! the binary, which chooses the adapters.

use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;
use vigie_core::guard::Guard;
use vigie_core::ports::{AccessLedger, AccountStore, Registry};
use vigie_core::security::SecurityEvent;
use vigie_core::signin::{LoginThrottle, SessionPolicy};
use vigie_core::time::Clock;

use vigie_core::ids::AgentId;
use vigie_core::signin::{PasswordHash, TotpSecret};
use vigie_oidc::{OidcClient, PendingLogin};

use crate::shared::limits::ServerLimits;
use crate::shared::outbox::Outbox;
use crate::shared::pending::Pending;
use crate::shared::rates::{RateSettings, RequestRates};

/// Name of the access cookie (≤ 5 min). `__Host-`: this exact origin, Secure, path /.
pub const ACCESS_COOKIE: &str = "__Host-vigie_access";
/// Name of the refresh cookie (the working-day session).
pub const REFRESH_COOKIE: &str = "__Host-vigie_session";

/// HTTP-level settings, with safe defaults.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    pub policy: SessionPolicy,
    /// The origin agents' browsers use (`https://vigie.example.org`). Passkeys are bound to
    /// its host (the WebAuthn relying-party id); pages refuse state-changing requests from any
    /// other origin.
    pub public_origin: url::Url,
    /// Mounts `/bench/unguarded/persons/{id}`, which reads the store with no session, no
    /// authorization and no ledger. Only the `bench` subcommand sets it, to measure the
    /// guard's cost; never reachable from a configuration file.
    pub dangerous_unguarded_bench_route: bool,
    /// Reverse proxies whose `X-Forwarded-For` is believed. Behind a TLS proxy every client
    /// arrives from the proxy's address: without this, the per-network login throttle would
    /// lump every client together, and session binding would see one network for everyone.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Connections, timeouts and header bytes (see [`ServerLimits`]).
    pub limits: ServerLimits,
    /// Requests per session and per account (see [`RateSettings`]).
    pub rates: RateSettings,
    /// How agents reach the security team (a mail address, a phone number), shown on the
    /// pages that send them there (a quota reached, a session ended, an action refused).
    pub security_contact: Option<String>,
}

impl HttpSettings {
    /// Safe defaults for an origin.
    pub fn new(public_origin: url::Url) -> Self {
        HttpSettings {
            policy: SessionPolicy::default(),
            public_origin,
            dangerous_unguarded_bench_route: false,
            trusted_proxies: Vec::new(),
            limits: ServerLimits::default(),
            rates: RateSettings::default(),
            security_contact: None,
        }
    }
}

/// A WebAuthn ceremony in flight, kept server side and consumed once.
#[derive(Debug)]
pub enum Ceremony {
    /// Registering a passkey for `agent` (from a signed-in session or an enrolment link).
    Register { agent: vigie_core::AgentId, user_handle: [u8; 16], state: webauthn_rs::prelude::PasskeyRegistration },
    /// Signing in with a discoverable passkey.
    SignIn { state: webauthn_rs::prelude::DiscoverableAuthentication },
    /// A step-up by the session's agent.
    StepUp { session: vigie_core::SessionId, state: webauthn_rs::prelude::PasskeyAuthentication },
}

/// A password and TOTP secret chosen during enrolment, waiting for the first code that proves
/// the authenticator app holds the secret.
#[derive(Debug)]
pub struct PendingSecrets {
    pub agent: AgentId,
    pub password: PasswordHash,
    pub totp: TotpSecret,
}

/// Single sign-on, when configured: the OpenID Connect client and the logins in flight.
#[derive(Debug)]
pub struct Sso {
    pub client: OidcClient,
    /// Logins sent to the provider, by their `state`.
    pub logins: Pending<PendingLogin>,
    /// Logins back from the provider that still owe Vigie's own second factor.
    pub second_factor: Pending<AgentId>,
}

impl Sso {
    pub fn new(client: OidcClient) -> Self {
        Sso { client, logins: Pending::new(10 * 60 * 1000, 10_000), second_factor: Pending::new(5 * 60 * 1000, 10_000) }
    }
}

/// A full verification of the ledger started from the console.
#[derive(Clone, Debug, Default)]
pub struct Verification {
    pub running: bool,
    /// Bytes verified, and to verify.
    pub done: u64,
    pub total: u64,
    /// The last outcome: entries verified, or why it failed.
    pub outcome: Option<Result<u64, String>>,
    /// Who started the last one, and when (ms).
    pub started_by: Option<(String, i64)>,
}

/// What every handler shares (see the module's documentation).
pub struct AppState {
    pub guard: Arc<Guard>,
    pub registry: Arc<dyn Registry>,
    pub accounts: Arc<dyn AccountStore>,
    pub ledger: Arc<dyn AccessLedger>,
    pub clock: Arc<dyn Clock>,
    pub throttle: Mutex<LoginThrottle>,
    /// Requests per session and per account.
    pub rates: RequestRates,
    /// Argon2id is memory-hard (19 MiB per hash): at most one hash per core at a time, so a
    /// burst of logins cannot exhaust memory or starve the guarded reads.
    pub hashing: Arc<Semaphore>,
    pub webauthn: webauthn_rs::Webauthn,
    /// Ceremonies of signed-in agents and enrolment links (registration, step-up).
    pub ceremonies: Pending<Ceremony>,
    /// Sign-in ceremonies, in their own table: anyone can start one, and a flood of them must
    /// not push out the registrations and step-ups in progress.
    pub sign_ins: Pending<Ceremony>,
    /// Passwords and TOTP secrets chosen during enrolment, waiting for their first code.
    pub enrolling: Pending<PendingSecrets>,
    pub outbox: Arc<dyn Outbox>,
    pub sso: Option<Sso>,
    pub dbsc: Mutex<vigie_dbsc::Challenges>,
    /// The detector's recent alerts, for security officers (`GET /v1/alerts`).
    pub alerts: Option<Arc<vigie_alerts::AlertFeed>>,
    /// Service accounts' client assertions seen (account and `jti`), until they expire: each is
    /// accepted once.
    pub assertions: Pending<()>,
    /// The console's single-use form tokens.
    pub forms: Pending<crate::shared::forms::FormGrant>,
    /// The ledger as the console reads it (an account's accesses, the ledger's state), when
    /// the binary wires it.
    pub ledger_view: Option<Arc<dyn vigie_core::console::LedgerView>>,
    /// The console's full verification of the ledger: at most one at a time, its progress.
    pub verification: Arc<Mutex<Verification>>,
    /// Incidents (scoping, notifications), when the binary wires them.
    pub incidents: Option<Arc<dyn vigie_core::incident::service::IncidentService>>,
    /// Where incidents' files are (`<data>/incidents`), to serve them by name.
    pub incident_files: Option<std::path::PathBuf>,
    /// Governed bulk extracts, when the binary wires them.
    pub extracts: Option<Arc<dyn vigie_core::extract::service::ExtractService>>,
    /// Records released per hour by organization kind (the console's overview), when counted.
    pub reads: Option<Arc<dyn vigie_core::overview::ReadsByKind>>,
    /// Where the last simulation report is read (the console's overview).
    pub simulation: Option<Arc<dyn vigie_core::overview::SimulationReport>>,
    /// Several nodes: which one judges an agent, when the binary wires it (`[cluster]`).
    pub cluster: Option<Arc<dyn crate::shared::cluster::Cluster>>,
    /// Sessions' agents by token hash, for routing (see `shared::cluster`).
    pub session_agents: crate::shared::cluster::SessionAgents,
    /// The client that forwards a request to the node that judges its agent.
    pub forwarder:
        hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, axum::body::Body>,
    pub settings: HttpSettings,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// Why the application state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("public_url {0}: passkeys need a host name (not an IP address), such as localhost or vigie.example.org")]
    NoRpId(String),
    #[error("public_url {0}: {1}")]
    WebAuthn(String, String),
}

impl AppState {
    pub fn new(
        guard: Arc<Guard>,
        registry: Arc<dyn Registry>,
        accounts: Arc<dyn AccountStore>,
        ledger: Arc<dyn AccessLedger>,
        clock: Arc<dyn Clock>,
        outbox: Arc<dyn Outbox>,
        settings: HttpSettings,
    ) -> Result<Self, StateError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let origin = &settings.public_origin;
        let rp_id = match origin.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            _ => return Err(StateError::NoRpId(origin.to_string())),
        };
        let webauthn = webauthn_rs::WebauthnBuilder::new(&rp_id, origin)
            .and_then(|b| b.rp_name("Vigie").build())
            .map_err(|e| StateError::WebAuthn(origin.to_string(), e.to_string()))?;
        Ok(AppState {
            guard,
            registry,
            accounts,
            ledger,
            clock,
            throttle: Mutex::new(LoginThrottle::default()),
            rates: RequestRates::new(settings.rates),
            hashing: Arc::new(Semaphore::new(cores)),
            webauthn,
            ceremonies: Pending::new(5 * 60 * 1000, 10_000),
            sign_ins: Pending::new(5 * 60 * 1000, 10_000),
            enrolling: Pending::new(15 * 60 * 1000, 10_000),
            outbox,
            sso: None,
            dbsc: Mutex::new(vigie_dbsc::Challenges::new(65_536, 600)),
            alerts: None,
            assertions: Pending::new(vigie_dbsc::MAX_ASSERTION_LIFETIME_SECS * 1000, 65_536),
            forms: Pending::new(crate::shared::forms::FORM_TTL_MS, 100_000),
            ledger_view: None,
            verification: Arc::new(Mutex::new(Verification::default())),
            incidents: None,
            incident_files: None,
            extracts: None,
            reads: None,
            simulation: None,
            cluster: None,
            session_agents: crate::shared::cluster::SessionAgents::default(),
            forwarder: crate::shared::cluster::client(),
            settings,
        })
    }

    /// Ledgers security events, durably. A failure is logged, not hidden: the caller decides
    /// whether the step it describes may go on (a sign-in is refused without its record).
    pub fn record(&self, events: &[SecurityEvent]) -> Result<(), crate::shared::problem::Problem> {
        for e in events {
            tracing::info!(event = e.kind.as_str(), agent = ?e.agent, session = ?e.session, context = %e.context, details = ?e.details, "security event");
        }
        self.ledger.record(events).map(|_| ()).map_err(|e| {
            static FAILED: crate::shared::log_limit::LogLimit = crate::shared::log_limit::LogLimit::every_secs(10);
            if let Some(skipped) = FAILED.allow() {
                tracing::error!(error = %e, skipped, "security event not ledgered (skipped: like failures left out since the last line)");
            }
            crate::shared::problem::Problem::unavailable()
        })
    }
}
