//! The relying party: discovery once, then `begin` and `complete` per sign-in.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreResponseType, CoreUserInfoClaims,
};
use openidconnect::http::{Method, Request, StatusCode, header};
use openidconnect::url::Url;
use openidconnect::{
    AccessTokenHash, AsyncHttpClient, AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, ResponseTypes, Scope, TokenResponse,
};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::config::ProviderConfig;
use crate::error::OidcError;
use crate::http::HttpClient;
use crate::identity::{FederatedIdentity, multi_factor};
use crate::pending::{PENDING_LOGIN_TTL, PendingLogin};

/// Authorization and token endpoints known, userinfo maybe.
type Client = CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet, EndpointMaybeSet>;

/// ID token signature algorithms we accept, whatever else the provider advertises: asymmetric
/// only. HS* would make the client secret a signing key (anyone holding it could mint tokens),
/// and `none` is never acceptable.
const ACCEPTED_ALGS: &[CoreJwsSigningAlgorithm] = &[
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// The `claims` request parameter (OIDC Core §5.5) asking for how the agent authenticated.
/// Providers differ: some put `acr`, `amr` and `auth_time` in every ID token, others (such as
/// ProConnect, or oidc-provider by default) only when asked. Without them a sign-in counts as
/// single-factor, so we ask whenever the provider supports the parameter.
const AUTHENTICATION_CLAIMS: &str =
    r#"{"id_token":{"acr":{"essential":true},"amr":{"essential":true},"auth_time":null}}"#;

/// A relying party for one provider, built by [`OidcClient::discover`]. Cheap to clone (shared
/// state behind an `Arc`); its `Debug` shows no secret.
#[derive(Clone)]
pub struct OidcClient {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    http: HttpClient,
    issuer: String,
    scopes: Vec<Scope>,
    wants_email: bool,
    /// Whether to send [`AUTHENTICATION_CLAIMS`] as the `claims` request parameter.
    request_authentication_claims: bool,
    mfa_acr_values: Vec<String>,
    id_token_algs: Vec<CoreJwsSigningAlgorithm>,
}

impl OidcClient {
    /// Fetches the provider's discovery document and signing keys, and builds the client.
    ///
    /// Refuses a document whose `issuer` is not exactly the configured one (OIDC Discovery §4.3):
    /// tokens are checked against the configured issuer, and a provider that names another one is
    /// misconfigured or not the provider we meant.
    pub async fn discover(cfg: &ProviderConfig) -> Result<Self, OidcError> {
        let issuer = IssuerUrl::new(cfg.issuer.clone())
            .map_err(|e| OidcError::Config(format!("issuer {:?} is not a URL: {e}", cfg.issuer)))?;
        let redirect = RedirectUrl::new(cfg.redirect_url.clone())
            .map_err(|e| OidcError::Config(format!("redirect_url {:?} is not a URL: {e}", cfg.redirect_url)))?;
        if cfg.client_id.is_empty() {
            return Err(OidcError::Config("client_id is empty".to_owned()));
        }
        let http = HttpClient::new().map_err(|e| OidcError::Config(format!("cannot build the HTTP client: {e}")))?;

        let discovery_url = issuer
            .join(".well-known/openid-configuration")
            .map_err(|e| OidcError::Config(format!("issuer {:?} cannot be extended: {e}", cfg.issuer)))?;
        let metadata: CoreProviderMetadata = fetch_json(&http, &discovery_url).await?;
        if metadata.issuer().as_str() != issuer.as_str() {
            return Err(OidcError::IssuerMismatch {
                configured: issuer.as_str().to_owned(),
                discovered: metadata.issuer().as_str().to_owned(),
            });
        }
        let jwks: CoreJsonWebKeySet = fetch_json(&http, metadata.jwks_uri().url()).await?;
        let metadata = metadata.set_jwks(jwks);

        let unsupported = |reason: String| OidcError::ProviderUnsupported { issuer: cfg.issuer.clone(), reason };
        let token_url = metadata
            .token_endpoint()
            .cloned()
            .ok_or_else(|| unsupported("its discovery document has no token_endpoint".to_owned()))?;
        let code_flow = ResponseTypes::new(vec![CoreResponseType::Code]);
        if !metadata.response_types_supported().contains(&code_flow) {
            return Err(unsupported("it does not support response_type=code".to_owned()));
        }
        let id_token_algs: Vec<_> = metadata
            .id_token_signing_alg_values_supported()
            .iter()
            .filter(|alg| ACCEPTED_ALGS.contains(alg))
            .cloned()
            .collect();
        if id_token_algs.is_empty() {
            return Err(unsupported(format!(
                "none of its ID token signing algorithms {:?} is an accepted asymmetric one",
                metadata.id_token_signing_alg_values_supported()
            )));
        }
        let auth_type = auth_type(metadata.token_endpoint_auth_methods_supported());
        let userinfo_url = metadata.userinfo_endpoint().cloned();
        let request_authentication_claims = metadata.claims_parameter_supported() == Some(true);

        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(cfg.client_id.clone()),
            cfg.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect)
        .set_token_uri(token_url)
        .set_auth_type(auth_type);
        tracing::debug!(issuer = %cfg.issuer, userinfo = userinfo_url.is_some(), "OIDC provider discovered");

        Ok(Self {
            inner: Arc::new(Inner {
                client,
                http,
                issuer: issuer.as_str().to_owned(),
                scopes: cfg.scopes.iter().map(|s| Scope::new(s.clone())).collect(),
                wants_email: cfg.scopes.iter().any(|s| s == "email"),
                request_authentication_claims,
                mfa_acr_values: cfg.mfa_acr_values.clone(),
                id_token_algs,
            }),
        })
    }

    /// The issuer this client trusts.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// Starts a sign-in: the URL to send the browser to, and the [`PendingLogin`] to keep server
    /// side under its state until the callback.
    pub fn begin(&self) -> (String, PendingLogin) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .inner
            .client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scopes(self.inner.scopes.iter().cloned())
            .set_pkce_challenge(challenge);
        if self.inner.request_authentication_claims {
            request = request.add_extra_param("claims", AUTHENTICATION_CLAIMS);
        }
        let (url, state, nonce) = request.url();
        let pending =
            PendingLogin::new(state.into_secret(), nonce.secret().clone(), verifier.into_secret(), SystemTime::now());
        (url.to_string(), pending)
    }

    /// Finishes a sign-in from the callback's `state` and `code`.
    ///
    /// Checks, in order: the state (constant time) and the pending login's age, before the code
    /// is sent anywhere; then exchanges the code with the PKCE verifier, and verifies the ID
    /// token's signature, `iss`, `aud`, `exp`, `nonce`, and `at_hash` when present. Claims the ID
    /// token lacks (providers often keep `email` for userinfo) are read from userinfo, which must
    /// answer for the same subject.
    pub async fn complete(
        &self,
        pending: PendingLogin,
        returned_state: &str,
        code: &str,
    ) -> Result<FederatedIdentity, OidcError> {
        if !bool::from(pending.state.as_bytes().ct_eq(returned_state.as_bytes())) {
            return Err(OidcError::StateMismatch);
        }
        let age = pending.age(SystemTime::now());
        if age > PENDING_LOGIN_TTL {
            return Err(OidcError::LoginExpired { age_secs: age.as_secs(), limit_secs: PENDING_LOGIN_TTL.as_secs() });
        }

        let inner = &self.inner;
        let tokens = inner
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
            .request_async(&inner.http)
            .await
            .map_err(token_error)?;

        let id_token = tokens.id_token().ok_or(OidcError::MissingIdToken)?;
        let verifier = inner.client.id_token_verifier().set_allowed_algs(inner.id_token_algs.iter().cloned());
        let claims = id_token.claims(&verifier, &Nonce::new(pending.nonce)).map_err(|e| match e {
            ClaimsVerificationError::InvalidNonce(_) => OidcError::NonceMismatch,
            other => OidcError::IdTokenInvalid(other.to_string()),
        })?;

        // The access token is not ours to use beyond userinfo, but a substituted one would be
        // some other sign-in's: at_hash binds it to this ID token.
        if let Some(expected) = claims.access_token_hash() {
            let invalid = |what: &str, e: &dyn fmt::Display| OidcError::IdTokenInvalid(format!("{what}: {e}"));
            let alg = id_token.signing_alg().map_err(|e| invalid("at_hash: signing algorithm", &e))?;
            let key = id_token.signing_key(&verifier).map_err(|e| invalid("at_hash: signing key", &e))?;
            let actual = AccessTokenHash::from_token(tokens.access_token(), alg, key)
                .map_err(|e| invalid("at_hash: cannot hash the access token", &e))?;
            if actual != *expected {
                return Err(OidcError::IdTokenInvalid("at_hash does not match the access token".to_owned()));
            }
        }

        let amr: Vec<String> =
            claims.auth_method_refs().map(|v| v.iter().map(|m| m.to_string()).collect()).unwrap_or_default();
        let acr = claims.auth_context_ref().map(|a| a.to_string());
        let mut email = claims.email().map(|e| e.to_string());
        let mut email_verified = claims.email_verified().unwrap_or(false);

        if email.is_none() && inner.wants_email && inner.client.user_info_url().is_some() {
            let request = inner
                .client
                .user_info(tokens.access_token().clone(), Some(claims.subject().clone()))
                .map_err(|e| OidcError::UserInfo(e.to_string()))?;
            let info: CoreUserInfoClaims =
                request.request_async(&inner.http).await.map_err(|e| OidcError::UserInfo(e.to_string()))?;
            email = info.email().map(|e| e.to_string());
            email_verified = info.email_verified().unwrap_or(false);
        }

        Ok(FederatedIdentity {
            issuer: claims.issuer().as_str().to_owned(),
            subject: claims.subject().as_str().to_owned(),
            email,
            email_verified,
            multi_factor: multi_factor(acr.as_deref(), &amr, &inner.mfa_acr_values),
            amr,
            acr,
            auth_time: claims.auth_time().map(|t| t.timestamp()),
        })
    }
}

impl fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("OidcClient")
            .field("issuer", &inner.issuer)
            .field("client_id", &inner.client.client_id().as_str())
            .field("redirect_url", &inner.client.redirect_uri().map(|u| u.as_str()))
            .field("scopes", &inner.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>())
            .field("mfa_acr_values", &inner.mfa_acr_values)
            .finish_non_exhaustive()
    }
}

/// `client_secret_basic` unless the provider only takes `client_secret_post`. (The discovery
/// default, when the list is absent, is `client_secret_basic`.)
fn auth_type(supported: Option<&Vec<CoreClientAuthMethod>>) -> AuthType {
    match supported {
        Some(methods)
            if !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
                && methods.contains(&CoreClientAuthMethod::ClientSecretPost) =>
        {
            AuthType::RequestBody
        }
        _ => AuthType::BasicAuth,
    }
}

/// GETs a JSON document during discovery; errors name the URL.
async fn fetch_json<T: DeserializeOwned>(http: &HttpClient, url: &Url) -> Result<T, OidcError> {
    let failed = |reason: String| OidcError::Discovery { url: url.to_string(), reason };
    let request = Request::builder()
        .method(Method::GET)
        .uri(url.as_str())
        .header(header::ACCEPT, "application/json")
        .body(Vec::new())
        .map_err(|e| failed(e.to_string()))?;
    let response = http.call(request).await.map_err(|e| failed(e.to_string()))?;
    if response.status() != StatusCode::OK {
        return Err(failed(format!("HTTP status {}", response.status())));
    }
    serde_json::from_slice(response.body()).map_err(|e| failed(format!("unexpected document: {e}")))
}

/// Describes a token endpoint failure without the response body, which may hold tokens.
fn token_error<RE: std::error::Error, T: openidconnect::ErrorResponse>(e: RequestTokenError<RE, T>) -> OidcError {
    OidcError::TokenEndpoint(match e {
        RequestTokenError::ServerResponse(response) => format!("the provider refused the code: {response}"),
        RequestTokenError::Request(e) => e.to_string(),
        RequestTokenError::Parse(e, _body) => format!("unexpected token response (at `{}`)", e.path()),
        RequestTokenError::Other(reason) => reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The HTTP layer holds the client in shared state and awaits these in axum handlers.
    #[test]
    fn client_and_futures_are_send() {
        fn send<T: Send + Sync>(_: &T) {}
        fn send_future<T: Send>(_: T) {}
        #[allow(dead_code, reason = "only has to type-check")]
        fn check(client: &OidcClient, pending: PendingLogin, cfg: &ProviderConfig) {
            send(client);
            send_future(OidcClient::discover(cfg));
            send_future(client.complete(pending, "state", "code"));
        }
    }

    #[test]
    fn client_secret_basic_unless_only_post_is_offered() {
        use CoreClientAuthMethod::{ClientSecretBasic, ClientSecretPost, PrivateKeyJwt};
        let cases = [
            (None, AuthType::BasicAuth),
            (Some(vec![ClientSecretBasic]), AuthType::BasicAuth),
            (Some(vec![ClientSecretPost, ClientSecretBasic]), AuthType::BasicAuth),
            (Some(vec![ClientSecretPost]), AuthType::RequestBody),
            (Some(vec![PrivateKeyJwt]), AuthType::BasicAuth),
        ];
        for (supported, expected) in cases {
            let got = auth_type(supported.as_ref());
            assert_eq!(format!("{got:?}"), format!("{expected:?}"), "{supported:?}");
        }
    }
}
