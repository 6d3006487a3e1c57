//! What every handler shares: the guard, the account store, the clock, the login throttle and
//! the settings. Built by the binary, which chooses the adapters.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use vigie_core::guard::Guard;
use vigie_core::ports::{AccountStore, Registry};
use vigie_core::signin::LoginThrottle;
use vigie_core::time::Clock;

/// HTTP-level settings, with safe defaults.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// A session lives one working day at most (shorter sessions and idle time-outs come with
    /// the session-binding issue).
    pub session_ttl: Duration,
    /// Name of the session cookie. `__Host-` binds it to this exact origin, Secure, path /.
    pub cookie_name: &'static str,
    /// Mounts `/bench/unguarded/persons/{id}`, which reads the store with no session, no
    /// authorization and no ledger. Only the `bench` subcommand sets it, to measure the
    /// guard's cost; never reachable from a configuration file.
    pub dangerous_unguarded_bench_route: bool,
    /// Reverse proxies whose `X-Forwarded-For` is believed. Behind a TLS proxy every client
    /// arrives from the proxy's address: without this, the per-network login throttle would
    /// lump every client together (one attacker could lock everyone out).
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            session_ttl: Duration::from_secs(8 * 3600),
            cookie_name: "__Host-vigie_session",
            dangerous_unguarded_bench_route: false,
            trusted_proxies: Vec::new(),
        }
    }
}

pub struct AppState {
    pub guard: Arc<Guard>,
    pub registry: Arc<dyn Registry>,
    pub accounts: Arc<dyn AccountStore>,
    pub clock: Arc<dyn Clock>,
    pub throttle: Mutex<LoginThrottle>,
    /// Argon2id is memory-hard (19 MiB per hash): at most one hash per core at a time, so a
    /// burst of logins cannot exhaust memory or starve the guarded reads.
    pub hashing: Arc<Semaphore>,
    pub settings: HttpSettings,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(
        guard: Arc<Guard>,
        registry: Arc<dyn Registry>,
        accounts: Arc<dyn AccountStore>,
        clock: Arc<dyn Clock>,
        settings: HttpSettings,
    ) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        AppState {
            guard,
            registry,
            accounts,
            clock,
            throttle: Mutex::new(LoginThrottle::default()),
            hashing: Arc::new(Semaphore::new(cores)),
            settings,
        }
    }
}
