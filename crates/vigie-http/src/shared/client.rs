//! Where a request comes from: the client's address (through trusted proxies only), the
//! context a session is bound to, and its user agent. An extractor: every handler that opens
//! or checks a session takes one.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use vigie_core::signin::ClientContext;

use crate::shared::problem::Problem;
use crate::shared::state::AppState;

/// Where a request comes from: the client address (through trusted proxies only), its
/// binding context, and its user agent (truncated).
#[derive(Clone, Debug)]
pub struct Client {
    pub ip: IpAddr,
    pub context: ClientContext,
    pub user_agent: String,
}

impl Client {
    /// The client as the ledger describes it: network and browser family.
    pub fn describe(&self) -> String {
        format!("{} {}", self.context.network, self.context.ua_family.as_str())
    }

    /// The client of a request with these headers, from this peer.
    pub fn from_parts(headers: &HeaderMap, peer: IpAddr, trusted: &[IpAddr]) -> Client {
        let ip = client_ip(headers, peer, trusted);
        let user_agent: String =
            headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").chars().take(200).collect();
        Client { ip, context: ClientContext::new(ip, &user_agent), user_agent }
    }
}

impl FromRequestParts<Arc<AppState>> for Client {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Problem> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()).ok_or_else(Problem::internal)?;
        Ok(Client::from_parts(&parts.headers, peer, &state.settings.trusted_proxies))
    }
}

/// The client's address: the TCP peer, unless the peer is a trusted proxy, in which case the
/// rightmost `X-Forwarded-For` address that is not itself a trusted proxy (the leftmost ones
/// are the client's to forge).
pub fn client_ip(headers: &HeaderMap, peer: IpAddr, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6, 192.0.2.7"));
        assert_eq!(client_ip(&h, proxy, &[proxy]), "192.0.2.7".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(&h, "192.0.2.99".parse().unwrap(), &[proxy]), "192.0.2.99".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(&HeaderMap::new(), proxy, &[proxy]), proxy);
        h.insert("x-forwarded-for", HeaderValue::from_static("garbage"));
        assert_eq!(client_ip(&h, proxy, &[proxy]), proxy);
    }
}
