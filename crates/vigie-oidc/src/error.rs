//! Everything that can go wrong talking to an identity provider.
//!
//! Messages name what was wrong and where (a URL, an issuer, a claim) so an operator can act on
//! them, and never carry a token, a code, a secret or a response body: these errors are logged.

/// Why discovery or a sign-in failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// The configuration cannot be used (a URL that does not parse, an empty client id).
    #[error("invalid OIDC configuration: {0}")]
    Config(String),

    /// The discovery document or the key set could not be fetched or parsed.
    #[error("OIDC discovery failed at {url}: {reason}")]
    Discovery { url: String, reason: String },

    /// The provider says it is someone else: its metadata (and every token it signs) would not be
    /// the configured issuer's.
    #[error("OIDC issuer mismatch: configured {configured}, discovery document says {discovered}")]
    IssuerMismatch { configured: String, discovered: String },

    /// The provider is missing something the flow needs (a token endpoint, S256 PKCE...).
    #[error("OIDC provider {issuer} is unusable: {reason}")]
    ProviderUnsupported { issuer: String, reason: String },

    /// The `state` on the callback is not the pending login's: a forged or crossed callback.
    #[error("OIDC state mismatch: the callback does not belong to this pending login")]
    StateMismatch,

    /// The pending login is older than [`crate::PENDING_LOGIN_TTL`].
    #[error("OIDC login expired: the pending login is {age_secs}s old (limit {limit_secs}s)")]
    LoginExpired { age_secs: u64, limit_secs: u64 },

    /// The token endpoint refused the code or could not be reached.
    #[error("OIDC token endpoint error: {0}")]
    TokenEndpoint(String),

    /// The token response has no ID token (the `openid` scope was not honoured).
    #[error("OIDC token response has no ID token")]
    MissingIdToken,

    /// The ID token's `nonce` is not the pending login's: a token minted for another sign-in.
    #[error("OIDC ID token nonce mismatch: the token was issued for another sign-in")]
    NonceMismatch,

    /// The ID token failed verification (signature, issuer, audience, expiry, `at_hash`...).
    #[error("OIDC ID token invalid: {0}")]
    IdTokenInvalid(String),

    /// The userinfo endpoint failed or answered for another subject.
    #[error("OIDC userinfo error: {0}")]
    UserInfo(String),
}
