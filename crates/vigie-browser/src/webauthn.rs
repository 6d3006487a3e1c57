//! Passkeys in tests: CDP's `WebAuthn` domain gives a page virtual authenticators that answer
//! `navigator.credentials.create/get` without a user, and lets a test corrupt their answers
//! (bogus signature, UV or UP bit cleared) to check that the relying party refuses them.

use serde::Serialize;
use serde_json::{Value, json};

use crate::browser::string_field;
use crate::error::BrowserError;
use crate::page::Page;

/// `VirtualAuthenticatorOptions`. The default is a platform passkey authenticator: CTAP 2.1,
/// internal transport, resident keys, user verification that succeeds, presence simulated.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticatorOptions {
    pub protocol: Protocol,
    pub ctap2_version: Ctap2Version,
    pub transport: Transport,
    pub has_resident_key: bool,
    pub has_user_verification: bool,
    /// Whether user verification succeeds (change later with [`Page::set_user_verified`]).
    pub is_user_verified: bool,
    /// Answer without waiting for a simulated touch.
    pub automatic_presence_simulation: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub has_large_blob: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub has_cred_blob: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub has_min_pin_length: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub has_prf: bool,
    /// With `default_backup_state`, makes new credentials look like synced passkeys (BE/BS flags).
    #[serde(skip_serializing_if = "is_false")]
    pub default_backup_eligibility: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub default_backup_state: bool,
}

impl Default for AuthenticatorOptions {
    fn default() -> Self {
        AuthenticatorOptions {
            protocol: Protocol::Ctap2,
            ctap2_version: Ctap2Version::Ctap2_1,
            transport: Transport::Internal,
            has_resident_key: true,
            has_user_verification: true,
            is_user_verified: true,
            automatic_presence_simulation: true,
            has_large_blob: false,
            has_cred_blob: false,
            has_min_pin_length: false,
            has_prf: false,
            default_backup_eligibility: false,
            default_backup_state: false,
        }
    }
}

impl AuthenticatorOptions {
    /// The default authenticator, but its credentials claim to be backed up (a synced passkey).
    pub fn synced_passkey() -> Self {
        AuthenticatorOptions { default_backup_eligibility: true, default_backup_state: true, ..Self::default() }
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Protocol {
    #[serde(rename = "u2f")]
    U2f,
    #[serde(rename = "ctap2")]
    Ctap2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Ctap2Version {
    #[serde(rename = "ctap2_0")]
    Ctap2_0,
    #[serde(rename = "ctap2_1")]
    Ctap2_1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Usb,
    Nfc,
    Ble,
    Cable,
    Internal,
}

impl Page {
    /// Turns on the `WebAuthn` domain for this page, without Chromium's account-picker UI.
    pub async fn enable_webauthn(&self) -> Result<(), BrowserError> {
        self.call("WebAuthn.enable", json!({ "enableUI": false })).await.map(drop)
    }

    /// Adds a virtual authenticator and returns its id.
    pub async fn add_virtual_authenticator(&self, options: AuthenticatorOptions) -> Result<String, BrowserError> {
        let answer = self.call("WebAuthn.addVirtualAuthenticator", json!({ "options": options })).await?;
        string_field(&answer, "authenticatorId", "WebAuthn.addVirtualAuthenticator")
    }

    /// The credentials the authenticator holds, as CDP describes them (`credentialId`, `rpId`,
    /// `userHandle`, `signCount`, `isResidentCredential`, `privateKey`, …).
    pub async fn credentials(&self, authenticator_id: &str) -> Result<Vec<Value>, BrowserError> {
        let answer = self.call("WebAuthn.getCredentials", json!({ "authenticatorId": authenticator_id })).await?;
        match answer.get("credentials") {
            Some(Value::Array(credentials)) => Ok(credentials.clone()),
            _ => Err(BrowserError::Protocol {
                method: "WebAuthn.getCredentials".to_owned(),
                detail: format!("no `credentials` array in {answer}"),
            }),
        }
    }

    /// Makes the authenticator's next answers wrong on purpose: an invalid signature, the
    /// user-verified (UV) flag cleared, the user-present (UP) flag cleared. All `false` restores it.
    pub async fn set_response_override_bits(
        &self,
        authenticator_id: &str,
        bogus_signature: bool,
        bad_uv: bool,
        bad_up: bool,
    ) -> Result<(), BrowserError> {
        let params = json!({
            "authenticatorId": authenticator_id,
            "isBogusSignature": bogus_signature,
            "isBadUV": bad_uv,
            "isBadUP": bad_up,
        });
        self.call("WebAuthn.setResponseOverrideBits", params).await.map(drop)
    }

    /// Whether the authenticator's user verification (PIN, biometrics) succeeds from now on.
    pub async fn set_user_verified(&self, authenticator_id: &str, verified: bool) -> Result<(), BrowserError> {
        let params = json!({ "authenticatorId": authenticator_id, "isUserVerified": verified });
        self.call("WebAuthn.setUserVerified", params).await.map(drop)
    }

    /// Removes the authenticator (its credentials go with it).
    pub async fn remove_virtual_authenticator(&self, authenticator_id: &str) -> Result<(), BrowserError> {
        self.call("WebAuthn.removeVirtualAuthenticator", json!({ "authenticatorId": authenticator_id })).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_options_are_a_platform_passkey_authenticator() {
        assert_eq!(
            serde_json::to_value(AuthenticatorOptions::default()).unwrap(),
            json!({
                "protocol": "ctap2", "ctap2Version": "ctap2_1", "transport": "internal",
                "hasResidentKey": true, "hasUserVerification": true, "isUserVerified": true,
                "automaticPresenceSimulation": true,
            })
        );
        let synced = serde_json::to_value(AuthenticatorOptions::synced_passkey()).unwrap();
        assert_eq!(synced["defaultBackupEligibility"], true);
        assert_eq!(synced["defaultBackupState"], true);
    }
}
