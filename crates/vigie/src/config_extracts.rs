//! `[extracts]`: governed bulk extracts. Every default carries its reason.

use anyhow::bail;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExtractsConfig {
    /// The longest retention a request may ask for, in days (1 to 366). Default 90: a file
    /// handed to a processor for one job should not outlive the job by much.
    pub max_retention_days: u32,
    /// Persons an organization may receive in extracts over 30 days. Default 1 000 000: the
    /// largest subcontractor's assignments at national scale; the 2023 file held ten million.
    pub quota_persons_30_days: u64,
    /// Canary rows per thousand real rows (1 to 100). Default 10: a random fragment of 1 000
    /// rows holds at least one canary with probability 1 − e⁻¹⁰ ≈ 0.99995.
    pub canary_per_mille: u32,
    /// Canaries in the smallest extract. Default 8.
    pub canary_min: u32,
    /// The mail domain whose inbox the deployment watches: canaries' e-mail addresses are
    /// there. The default is a reserved name that receives nothing; set it to a watched domain.
    pub canary_mail_domain: String,
    /// Accept plain age X25519 recipients (`age1…`). Their files open offline with the
    /// recipient's key alone, forever: the expiry is then a promise, not enforced, and openings
    /// are not ledgered. Default false: recipients give an `age1vigie1…` key (made by
    /// `age-plugin-vigie --generate`), and Vigie releases each file's opening secret only
    /// before its expiry.
    pub insecure_offline_recipients: bool,
}

impl Default for ExtractsConfig {
    fn default() -> Self {
        ExtractsConfig {
            max_retention_days: vigie_core::extract::DEFAULT_MAX_RETENTION_DAYS,
            quota_persons_30_days: 1_000_000,
            canary_per_mille: 10,
            canary_min: 8,
            canary_mail_domain: "canari.vigie.invalid".into(),
            insecure_offline_recipients: false,
        }
    }
}

impl ExtractsConfig {
    pub fn check(&self) -> anyhow::Result<()> {
        if !(1..=366).contains(&self.max_retention_days) {
            bail!("[extracts] max_retention_days must be between 1 and 366, not {}", self.max_retention_days);
        }
        if !(1..=100).contains(&self.canary_per_mille) {
            bail!("[extracts] canary_per_mille must be between 1 and 100, not {}", self.canary_per_mille);
        }
        if self.canary_min == 0 {
            bail!("[extracts] canary_min must be at least 1");
        }
        let d = &self.canary_mail_domain;
        let ok = d.len() <= 253
            && d.contains('.')
            && d.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        if !ok {
            bail!("[extracts] canary_mail_domain {d:?} is not a domain name");
        }
        Ok(())
    }
}
