//! Where the store is: a `postgres://` URL parsed once into the client's configuration, the
//! TLS policy it asks for, and a description of it without the password for every error and
//! log line.
//!
//! TLS policy. `sslmode=disable` sends everything in clear; `prefer` tries TLS and falls back to
//! clear (an active attacker on the path can force the fallback); `require` refuses a server
//! without TLS. Where libpq's `require` does not check the certificate, Vigie always does
//! (the system's web roots and `[store] ca_file`), because an unchecked TLS connection to the
//! database that holds every session is one a machine in the middle can read. Without an
//! explicit `sslmode`, a server reached over the network gets `require` and a Unix socket or a
//! loopback address gets `prefer`: the safe choice by default, plain only where nothing
//! crosses a wire.

use std::fmt;
use std::str::FromStr;

use postgres::config::{Host, SslMode};

use crate::error::PgOpenError;

/// A parsed store URL.
#[derive(Clone)]
pub struct StoreUrl {
    pub(crate) config: postgres::Config,
    description: String,
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password.
        f.debug_tuple("StoreUrl").field(&self.description).finish()
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

impl StoreUrl {
    /// Parses a `postgres://` or `postgresql://` URL (libpq's syntax: `user:password@host:port/
    /// db?sslmode=…&host=/run/postgresql`). Refuses anything else with the reason.
    pub fn parse(url: &str) -> Result<StoreUrl, PgOpenError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(PgOpenError::BadUrl { reason: "a store URL starts with postgres:// or postgresql://".into() });
        }
        let mut config = postgres::Config::from_str(url).map_err(|e| PgOpenError::BadUrl {
            reason: format!("{} (password not shown)", crate::connect::message(&e)),
        })?;
        if config.get_hosts().is_empty() {
            return Err(PgOpenError::BadUrl { reason: "the URL names no host".into() });
        }
        if config.get_dbname().is_none() {
            return Err(PgOpenError::BadUrl { reason: "the URL names no database (postgres://host/DATABASE)".into() });
        }
        let explicit = url.split_once('?').is_some_and(|(_, q)| q.split('&').any(|kv| kv.starts_with("sslmode=")));
        if !explicit {
            let local = config.get_hosts().iter().all(|h| match h {
                Host::Unix(_) => true,
                Host::Tcp(name) => is_loopback(name),
            });
            config.ssl_mode(if local { SslMode::Prefer } else { SslMode::Require });
        }
        // Every table lives in the `vigie` schema; a bulk load swaps a whole new one in.
        let options = match config.get_options() {
            Some(o) => format!("{o} -c search_path=vigie"),
            None => "-c search_path=vigie".to_string(),
        };
        config.options(&options);
        if config.get_application_name().is_none() {
            config.application_name("vigie");
        }
        let description = describe(&config);
        Ok(StoreUrl { config, description })
    }

    /// The TLS mode in force.
    pub fn ssl_mode(&self) -> SslMode {
        self.config.get_ssl_mode()
    }

    /// The first host, as errors name it.
    pub fn host(&self) -> String {
        self.config.get_hosts().first().map(host_text).unwrap_or_default()
    }
}

fn is_loopback(name: &str) -> bool {
    name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn host_text(h: &Host) -> String {
    match h {
        Host::Tcp(name) => name.clone(),
        Host::Unix(path) => path.display().to_string(),
    }
}

/// `postgres://user@host:port/db (sslmode)`, without the password.
fn describe(config: &postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = config.get_ports().get(i).or(config.get_ports().first()).copied().unwrap_or(5432);
            format!("{}:{port}", host_text(h))
        })
        .collect();
    let user = config.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    let mode = match config.get_ssl_mode() {
        SslMode::Disable => "sslmode=disable",
        SslMode::Prefer => "sslmode=prefer",
        SslMode::Require => "sslmode=require",
        _ => "sslmode=?",
    };
    format!("postgres://{user}{}/{} ({mode})", hosts.join(","), config.get_dbname().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_never_shows_the_password() {
        let url = StoreUrl::parse("postgres://vigie:s3cret@db.example.org:6432/registry").unwrap();
        let shown = format!("{url} {url:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("vigie@db.example.org:6432/registry"), "{shown}");
    }

    #[test]
    fn tls_is_required_over_the_network_by_default_and_preferred_on_loopback() {
        assert!(matches!(StoreUrl::parse("postgres://u@db.example.org/r").unwrap().ssl_mode(), SslMode::Require));
        assert!(matches!(StoreUrl::parse("postgres://u@127.0.0.1/r").unwrap().ssl_mode(), SslMode::Prefer));
        assert!(matches!(StoreUrl::parse("postgres://u@localhost/r").unwrap().ssl_mode(), SslMode::Prefer));
        assert!(matches!(
            StoreUrl::parse("postgres://u@db.example.org/r?sslmode=disable").unwrap().ssl_mode(),
            SslMode::Disable
        ));
    }

    #[test]
    fn malformed_urls_are_refused_with_the_reason() {
        for (url, says) in [
            ("mysql://u@h/db", "postgres://"),
            ("postgres://u@h", "no database"),
            ("postgres://u@h/db?sslmode=sometimes", "sslmode"),
        ] {
            let e = StoreUrl::parse(url).unwrap_err().to_string();
            assert!(e.contains(says), "{url}: {e}");
        }
    }
}
