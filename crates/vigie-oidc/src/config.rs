//! What the agency configures about its identity provider.

use std::fmt;

/// One identity provider and Vigie's registration with it.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    /// The issuer identifier, exactly as the provider states it in its discovery document
    /// (`https://idp.agency.example/realms/agents`). Discovery is fetched from
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// The client secret (`client_secret_basic`); `None` for a public client, which then relies
    /// on PKCE alone.
    pub client_secret: Option<String>,
    /// Vigie's callback URL, registered with the provider.
    pub redirect_url: String,
    /// Scopes requested beyond `openid`.
    pub scopes: Vec<String>,
    /// The `acr` values the agency considers multi-factor (for example its eIDAS "substantial"
    /// level). An ID token carrying one of them is multi-factor whatever its `amr` says.
    pub mfa_acr_values: Vec<String>,
}

impl ProviderConfig {
    /// A configuration with the default scopes (`email`, `profile`) and no multi-factor `acr`.
    pub fn new(issuer: impl Into<String>, client_id: impl Into<String>, redirect_url: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            client_id: client_id.into(),
            client_secret: None,
            redirect_url: redirect_url.into(),
            scopes: default_scopes(),
            mfa_acr_values: Vec::new(),
        }
    }
}

/// `email` and `profile`: the agent's address and name, nothing more.
fn default_scopes() -> Vec<String> {
    vec!["email".to_owned(), "profile".to_owned()]
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "<redacted>"))
            .field("redirect_url", &self.redirect_url)
            .field("scopes", &self.scopes)
            .field("mfa_acr_values", &self.mfa_acr_values)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_does_not_print_the_secret() {
        let mut cfg = ProviderConfig::new("https://idp.example", "vigie", "https://vigie.example/cb");
        cfg.client_secret = Some("hunter2-very-secret".to_owned());
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}
