//! `[store]`: where the registry, accounts and sessions live. Without `url`, the embedded
//! SQLite file `<data_dir>/vigie.db` (the two-command set-up); with `url = "postgres://…"` (or
//! `VIGIE_STORE_URL`, better for the password), a PostgreSQL database that several nodes
//! share. The ledger, its keys, snapshots and alerts stay in each node's data directory.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `postgres://user:password@host:port/database?sslmode=require`; unset: SQLite.
    pub url: Option<String>,
    /// Connections this node keeps to PostgreSQL (1 to 512, default 16). The server's
    /// `max_connections` must cover every node's pool.
    pub pool_size: u32,
    /// How long a request waits for a connection before the guarded read is denied with a 503
    /// (100 to 60 000 ms, default 2 000).
    pub checkout_timeout_ms: u64,
    /// How long the start retries an unreachable server, with back-off (0 to 3 600 s, default 30).
    pub startup_wait_seconds: u64,
    /// PEM certificates of the CA that signed the server's certificate (private CAs), besides
    /// the web's roots; TLS always checks the server's certificate.
    pub ca_file: Option<PathBuf>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { url: None, pool_size: 16, checkout_timeout_ms: 2_000, startup_wait_seconds: 30, ca_file: None }
    }
}

impl StoreConfig {
    /// The PostgreSQL URL and options, checked; `None` for the SQLite store.
    pub fn postgres(
        &self,
        secrets_key_file: PathBuf,
    ) -> anyhow::Result<Option<(vigie_store_pg::StoreUrl, vigie_store_pg::PgOptions)>> {
        let Some(url) = &self.url else { return Ok(None) };
        let url = vigie_store_pg::StoreUrl::parse(url).context("store.url (or VIGIE_STORE_URL)")?;
        if !(1..=512).contains(&self.pool_size) {
            bail!("store.pool_size: must be between 1 and 512, got {}", self.pool_size);
        }
        if !(100..=60_000).contains(&self.checkout_timeout_ms) {
            bail!("store.checkout_timeout_ms: must be between 100 and 60000, got {}", self.checkout_timeout_ms);
        }
        if self.startup_wait_seconds > 3_600 {
            bail!("store.startup_wait_seconds: must be at most 3600, got {}", self.startup_wait_seconds);
        }
        let options = vigie_store_pg::PgOptions {
            pool_size: self.pool_size,
            checkout_timeout: Duration::from_millis(self.checkout_timeout_ms),
            startup_wait: Duration::from_secs(self.startup_wait_seconds),
            ca_file: self.ca_file.clone(),
            secrets_key_file,
        };
        Ok(Some((url, options)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_store_settings_are_named() {
        let key = PathBuf::from("k");
        let with = |f: fn(&mut StoreConfig)| {
            let mut c = StoreConfig { url: Some("postgres://u@127.0.0.1/db".into()), ..StoreConfig::default() };
            f(&mut c);
            c.postgres(key.clone()).map(|o| o.is_some()).map_err(|e| format!("{e:#}"))
        };
        assert_eq!(with(|_| {}), Ok(true));
        assert!(with(|c| c.pool_size = 0).unwrap_err().contains("store.pool_size"));
        assert!(with(|c| c.checkout_timeout_ms = 5).unwrap_err().contains("store.checkout_timeout_ms"));
        assert!(with(|c| c.url = Some("mysql://x/y".into())).unwrap_err().contains("VIGIE_STORE_URL"));
        assert_eq!(StoreConfig::default().postgres(key).map(|o| o.is_none()).ok(), Some(true), "SQLite by default");
    }
}
