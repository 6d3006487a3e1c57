//! The server's configuration (`vigie.toml` and `VIGIE_*`, `vigie::config::Config::from_text`),
//! then everything the binary derives from it before serving (`vigie::app::settings_from`: the
//! public origin, the session policy, the detector's thresholds, the alert sinks, the ledger's
//! options). A bad file must be refused with one line naming the key, never a panic.
//!
//! Lines `#env NAME=value` of the input (TOML comments) are the environment.

use vigie::config::Config;

pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let env: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("#env "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    match Config::from_text(&text, lookup) {
        Ok(config) => {
            // What `vigie serve` builds from an accepted configuration must build.
            if let Err(e) = vigie::app::settings_from(&config) {
                panic!("a configuration that passed its checks gives no settings: {e:#}");
            }
            let _ = config.session_policy().validate();
        }
        Err(e) => {
            let line = format!("{e:#}");
            assert!(!line.is_empty());
        }
    }
}
