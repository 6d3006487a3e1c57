//! Vigie as an OpenID Connect relying party.
//!
//! An agency signs its agents in with its own identity provider; Vigie only needs to know who
//! came back and how strongly they authenticated. The flow is the authorization code flow with
//! PKCE (S256), a random `state` and `nonce`, and a confidential client:
//!
//! 1. [`OidcClient::discover`] once at start: provider metadata and signing keys, refusing an
//!    issuer other than the configured one.
//! 2. [`OidcClient::begin`] per sign-in: the URL to redirect the browser to, and a
//!    [`PendingLogin`] the caller keeps server side, keyed by [`PendingLogin::state`].
//! 3. [`OidcClient::complete`] on the callback: state check, code exchange, ID token
//!    verification, and the [`FederatedIdentity`] with its [`multi_factor`] assessment.
//!
//! The HTTP layer owns the routes and the store of pending logins; this crate owns the protocol.

mod client;
mod config;
mod error;
mod http;
mod identity;
mod pending;

pub use client::OidcClient;
pub use config::ProviderConfig;
pub use error::OidcError;
pub use identity::{FactorClass, FederatedIdentity, factor_class, multi_factor};
pub use pending::{PENDING_LOGIN_TTL, PendingLogin};
