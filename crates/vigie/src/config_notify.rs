//! `[notify]`: who the breach notifications come from (the controller, its data protection
//! officer) and the mail relay the e-mails go through. The relay's password comes from
//! `VIGIE_SMTP_PASSWORD`, never from the file.

use std::time::Duration;

use anyhow::bail;
use serde::Deserialize;
use vigie_core::incident::notice::Controller;
use vigie_notify::{SmtpSettings, SmtpTls};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// The controller's name, as letters and the CNIL draft print it.
    pub controller: String,
    pub siren: Option<String>,
    /// The controller's postal address, one line per entry.
    pub address: Vec<String>,
    pub legal_representative: Option<String>,
    pub dpo_name: String,
    pub dpo_email: String,
    pub dpo_phone: Option<String>,
    pub dpo_address: Vec<String>,
    /// A page where persons read more (printed on letters).
    pub information_url: Option<String>,
    /// Who signs the letters.
    pub signatory: String,
    /// The mail relay; without it e-mails are prepared but not sent.
    pub smtp: Option<SmtpConfig>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            controller: "Agence (démonstration Vigie)".into(),
            siren: None,
            address: vec!["1 avenue du Docteur Gley".into(), "75020 Paris".into()],
            legal_representative: None,
            dpo_name: "Délégué à la protection des données".into(),
            dpo_email: "dpo@agence.invalid".into(),
            dpo_phone: None,
            dpo_address: Vec::new(),
            information_url: None,
            signatory: "Le délégué à la protection des données".into(),
            smtp: None,
        }
    }
}

/// `[notify.smtp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    /// `starttls` (default), `tls` (SMTPS), or `insecure_none` (plain text: a relay on loopback).
    pub tls: String,
    pub username: Option<String>,
    /// The sender, e.g. `Agence <dpo@agence.example>`.
    pub from: String,
    /// The domain of Message-IDs (default: the sender's).
    pub message_id_domain: Option<String>,
    /// Connections in parallel (1 to 64).
    pub connections: usize,
    pub timeout_seconds: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: "localhost".into(),
            port: 587,
            tls: "starttls".into(),
            username: None,
            from: String::new(),
            message_id_domain: None,
            connections: 4,
            timeout_seconds: 30,
        }
    }
}

impl NotifyConfig {
    pub fn controller(&self) -> Controller {
        Controller {
            name: self.controller.clone(),
            siren: self.siren.clone(),
            address: self.address.clone(),
            legal_representative: self.legal_representative.clone(),
            dpo_name: self.dpo_name.clone(),
            dpo_email: self.dpo_email.clone(),
            dpo_phone: self.dpo_phone.clone(),
            dpo_address: self.dpo_address.clone(),
            information_url: self.information_url.clone(),
            signatory: self.signatory.clone(),
        }
    }

    /// The relay's settings, checked; `password` from the environment.
    pub fn smtp(&self, password: Option<String>) -> anyhow::Result<Option<SmtpSettings>> {
        let Some(s) = &self.smtp else { return Ok(None) };
        let tls = match s.tls.as_str() {
            "starttls" => SmtpTls::StartTls,
            "tls" => SmtpTls::Implicit,
            "insecure_none" => SmtpTls::InsecureNone,
            other => bail!("notify.smtp.tls: expected starttls, tls or insecure_none, got {other:?}"),
        };
        if s.host.trim().is_empty() {
            bail!("notify.smtp.host: empty");
        }
        if !(1..=64).contains(&s.connections) {
            bail!("notify.smtp.connections: must be between 1 and 64, got {}", s.connections);
        }
        if !(1..=600).contains(&s.timeout_seconds) {
            bail!("notify.smtp.timeout_seconds: must be between 1 and 600, got {}", s.timeout_seconds);
        }
        let from: lettre::message::Mailbox = s.from.parse().map_err(|_| {
            anyhow::anyhow!("notify.smtp.from: {:?} is not an address like Agence <dpo@agence.example>", s.from)
        })?;
        let domain = s.message_id_domain.clone().unwrap_or_else(|| from.email.domain().to_owned());
        if s.username.is_some() && password.is_none() {
            bail!("notify.smtp.username is set: give the password in VIGIE_SMTP_PASSWORD");
        }
        Ok(Some(SmtpSettings {
            host: s.host.clone(),
            port: s.port,
            tls,
            username: s.username.clone(),
            password,
            from: s.from.clone(),
            message_id_domain: domain,
            connections: s.connections,
            timeout: Duration::from_secs(s.timeout_seconds),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_settings_are_checked_with_the_key_named() {
        let mut n = NotifyConfig::default();
        assert!(n.smtp(None).unwrap().is_none());
        n.smtp = Some(SmtpConfig { tls: "maybe".into(), from: "a@b.example".into(), ..SmtpConfig::default() });
        assert!(n.smtp(None).unwrap_err().to_string().contains("notify.smtp.tls"));
        n.smtp = Some(SmtpConfig { from: "not an address".into(), ..SmtpConfig::default() });
        assert!(n.smtp(None).unwrap_err().to_string().contains("notify.smtp.from"));
        n.smtp = Some(SmtpConfig {
            from: "Agence <dpo@agence.example>".into(),
            username: Some("u".into()),
            ..SmtpConfig::default()
        });
        assert!(n.smtp(None).unwrap_err().to_string().contains("VIGIE_SMTP_PASSWORD"));
        let ok = n.smtp(Some("secret".into())).unwrap().unwrap();
        assert_eq!(ok.message_id_domain, "agence.example");
    }
}
