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
    /// Session lifetime, at most one working day (720 min).
    pub session_ttl_minutes: u64,
    /// Serving plain HTTP on a non-loopback address exposes session tokens on the network; only
    /// allowed behind a TLS-terminating proxy on the same host, and only when named.
    pub insecure_http_on_public_interface: bool,
    /// Addresses of the reverse proxies in front of Vigie, whose `X-Forwarded-For` gives the
    /// client's address (for the per-network login throttle and the session's source).
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./vigie-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            policies_dir: None,
            session_ttl_minutes: 480,
            insecure_http_on_public_interface: false,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Config {
    /// Loads `path` (if given) over the defaults, then the environment.
    pub fn load(path: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Config> {
        let mut config = match path {
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).with_context(|| format!("cannot read config file {}", p.display()))?;
                parse_toml(&text).with_context(|| format!("config file {}", p.display()))?
            }
            None => Config::default(),
        };
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
        if let Some(v) = env("VIGIE_INSECURE_HTTP_ON_PUBLIC_INTERFACE") {
            config.insecure_http_on_public_interface = match v.as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => bail!("VIGIE_INSECURE_HTTP_ON_PUBLIC_INTERFACE: expected true or false, got {v:?}"),
            };
        }
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> anyhow::Result<()> {
        if !(5..=720).contains(&self.session_ttl_minutes) {
            bail!("session_ttl_minutes: must be between 5 and 720 (one working day), got {}", self.session_ttl_minutes);
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
    fn bad_configs_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("vigie.toml");
        for (text, needle) in [
            ("listne = \"127.0.0.1:1\"\n", "listne"),
            ("\n\nsession_ttl_minutes = -3\n", "line 3"),
            ("session_ttl_minutes = 100000\n", "session_ttl_minutes"),
            ("listen = \"0.0.0.0:8080\"\n", "insecure_http_on_public_interface"),
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
}
