//! Enrolment: the single-use link mailed to a new agent opens the setting-up of how it signs
//! in, with a passkey or (for roles that may) a password and an authenticator app. The link
//! is spent when the credentials are stored, together; nothing is stored before the first
//! code proves the app holds the secret.

use std::sync::Arc;

use vigie_core::lifecycle;
use vigie_core::org::{Agent, Organization};
use vigie_core::ports::Credentials;
use vigie_core::security::{SecurityEvent, SecurityKind};
use vigie_core::signin::{self, Secret, SessionToken, TotpCode, TotpSecret};
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use crate::actions::passkeys;
use crate::actions::store_err;
use crate::shared::client::Client;
use crate::shared::problem::Problem;
use crate::shared::state::{AppState, PendingSecrets};

/// An enrolment link's token, from a path.
pub fn token(raw: &str) -> Result<SessionToken, Problem> {
    SessionToken::parse(raw)
        .ok_or_else(|| Problem::invalid("token", "an enrolment link's token is 43 base64url characters"))
}

/// The agent an enrolment link opens, if it is valid now.
pub fn agent_of(st: &AppState, token: &SessionToken) -> Result<(Agent, Organization), Problem> {
    let now = st.clock.now();
    let gone = || {
        Problem::conflict(
            "this enrolment link is unknown, expired or already used: ask your administrator for a new account request",
        )
    };
    let id = st.accounts.enrolment(&token.hash(), now).map_err(store_err)?.ok_or_else(gone)?;
    let agent = st.registry.agent(id).map_err(store_err)?.ok_or_else(gone)?;
    let org = st.registry.organization(agent.org).map_err(store_err)?.ok_or_else(gone)?;
    if !agent.active || !org.active {
        return Err(gone());
    }
    Ok((agent, org))
}

/// The agent a link opens, looked up on the blocking pool.
pub async fn agent_of_async(state: &Arc<AppState>, token: SessionToken) -> Result<(Agent, Organization), Problem> {
    let st = state.clone();
    tokio::task::spawn_blocking(move || agent_of(&st, &token)).await.map_err(|_| Problem::internal())?
}

/// A new password's rules: 12 to 256 characters, not containing the login.
pub fn check_new_password(p: &str, agent: &Agent) -> Result<(), Problem> {
    let n = p.chars().count();
    if !(12..=256).contains(&n) {
        return Err(Problem::invalid("password", "between 12 and 256 characters"));
    }
    if p.to_ascii_lowercase().contains(&agent.login.as_str().to_ascii_lowercase()) {
        return Err(Problem::invalid("password", "must not contain the login"));
    }
    Ok(())
}

/// Hashes the chosen password and draws a TOTP secret, kept aside until the first code.
/// Returns the secret in base32 and its `otpauth://` URI.
pub async fn choose_password(
    state: &Arc<AppState>,
    token: SessionToken,
    password: String,
) -> Result<(String, String), Problem> {
    let permit = state.hashing.clone().acquire_owned().await.map_err(|_| Problem::internal())?;
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        let (agent, _) = agent_of(&st, &token)?;
        if lifecycle::passkey_required(agent.role) {
            return Err(Problem::forbidden("this role signs in with a passkey only: register one"));
        }
        check_new_password(&password, &agent)?;
        let mut salt = [0u8; 16];
        let mut secret = [0u8; 20];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        let hash = signin::hash_password(&Secret::new(password), &salt).map_err(|_| Problem::internal())?;
        drop(permit);
        let totp = TotpSecret::from_bytes(&secret).ok_or_else(Problem::internal)?;
        let uri = totp.otpauth_uri("Vigie", agent.login.as_str());
        let b32 = totp.to_base32();
        st.enrolling.put_as(
            hex::encode(token.hash()),
            PendingSecrets { agent: agent.id, password: hash, totp },
            st.clock.now(),
        );
        Ok((b32, uri))
    })
    .await
    .map_err(|_| Problem::internal())?
}

/// Spends the link and stores the credentials together; a wrong code keeps nothing (choose
/// the password again).
pub async fn confirm(
    state: &Arc<AppState>,
    token: SessionToken,
    code: TotpCode,
    client: Client,
) -> Result<(), Problem> {
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        let (agent, org) = agent_of(&st, &token)?;
        let now = st.clock.now();
        let pending = st
            .enrolling
            .take(&hex::encode(token.hash()), now)
            .filter(|p| p.agent == agent.id)
            .ok_or_else(|| Problem::conflict("choose a password first"))?;
        let Some(step) = signin::totp::verify(&pending.totp, code, now.seconds(), None) else {
            return Err(Problem::invalid(
                "totp",
                "this code does not match the secret: choose the password again and re-scan",
            ));
        };
        if !st.accounts.consume_enrolment(&token.hash(), now).map_err(store_err)? {
            return Err(Problem::conflict("this enrolment link was used meanwhile"));
        }
        st.record(&[SecurityEvent::new(now, SecurityKind::Enrolled)
            .by(agent.id, org.id)
            .context(client.describe())
            .detail("method", "password_totp")])?;
        st.accounts
            .set_credentials(agent.id, &Credentials { password: pending.password, totp: pending.totp }, Some(now))
            .map_err(store_err)?;
        st.accounts.consume_totp_step(agent.id, step).map_err(store_err)?;
        Ok(())
    })
    .await
    .map_err(|_| Problem::internal())?
}

/// Registers the passkey of a ceremony started from the link, and spends the link; if the
/// link was spent meanwhile, the passkey is taken back. Blocking.
pub fn finish_passkey(
    st: &AppState,
    token: &SessionToken,
    ceremony: &str,
    credential: &RegisterPublicKeyCredential,
    label: &str,
    client: &Client,
) -> Result<(), Problem> {
    let (agent, org) = agent_of(st, token)?;
    let stored = passkeys::finish_registration(st, &agent, &org, ceremony, credential, label, client)?;
    let now = st.clock.now();
    if !st.accounts.consume_enrolment(&token.hash(), now).map_err(store_err)? {
        let _ = st.accounts.remove_passkey(agent.id, &stored.credential_id);
        return Err(Problem::conflict("this enrolment link was used meanwhile"));
    }
    st.record(&[SecurityEvent::new(now, SecurityKind::Enrolled)
        .by(agent.id, org.id)
        .context(client.describe())
        .detail("method", "passkey")])
}
