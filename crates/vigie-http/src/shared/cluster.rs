//! Several nodes behind a load balancer (ARCHITECTURE.md, "PostgreSQL and several nodes"): the
//! port through which the binary tells this crate which node judges an agent ([`Cluster`]), and
//! the layer that sends every request of a session to that node ([`route`]).
//!
//! The load balancer hashes the routing value a node issued at sign-in (`Vigie-Route`), which
//! makes the right node likely but decides nothing: the layer takes the agent from the
//! *session* the request presents (never from the header), asks [`Cluster::place`], and serves
//! the request here, forwards it to the owner, or refuses it with a 503 while the agent's group
//! has no owner that may judge it (a hand-over in progress). A client that edits its routing
//! value, or spreads a stolen session's requests over the nodes, reaches the same detector state.
//!
//! A forwarded request carries `Vigie-Forwarded`; a node that receives one and does not own the
//! agent refuses it rather than forward again (no loops). The header grants nothing: the owner
//! authenticates the session itself, and a non-owner never judges, with or without it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use vigie_core::ids::AgentId;

use crate::shared::problem::Problem;
use crate::shared::state::AppState;
use crate::shared::tokens::Presented;

/// The routing value's header, which the load balancer hashes.
pub const ROUTE_HEADER: &str = "vigie-route";
/// The same value as a cookie, for browsers (which cannot set a header on a link).
pub const ROUTE_COOKIE: &str = "vigie_route";
/// Set on a request one node forwards to another.
pub const FORWARDED_HEADER: &str = "vigie-forwarded";
/// How long a forwarded request may take at the owner.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

/// Where an agent's requests are judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// This node owns the agent's key group and may judge it.
    Here,
    /// Another node does, reachable at this address.
    Peer(SocketAddr),
    /// Nobody may judge it right now (its owner died and the group is being taken over, or this
    /// node lost contact with the database): refuse, the client retries.
    Unavailable,
}

/// The binary's side of several nodes.
pub trait Cluster: Send + Sync + std::fmt::Debug {
    /// Which node judges `agent`'s requests.
    fn place(&self, agent: AgentId) -> Place;
    /// The routing value to hand out at sign-in for `agent`.
    fn route(&self, agent: AgentId) -> String;
    /// The key group a routing value names, if this cluster signed it.
    fn verify_route(&self, value: &str) -> Option<u16>;
    /// Held (shared) by every request this node judges, from the placement to the answer (so
    /// after its ledger entry is durable); taken exclusively by a node giving up key groups,
    /// which thereby waits for the requests it already admitted.
    fn gate(&self) -> &tokio::sync::RwLock<()>;
}

/// The agents of sessions seen, by token hash: routing reads the session's agent once per
/// token, not once per request (a PostgreSQL statement each). Safe to cache: a token's agent
/// never changes, and a token revoked since still only picks the node that then refuses it.
/// Bounded: emptied when full.
#[derive(Debug, Default)]
pub struct SessionAgents(std::sync::Mutex<std::collections::HashMap<[u8; 32], AgentId>>);

/// Entries kept at most (about 50 bytes each).
const SESSION_AGENTS_MAX: usize = 200_000;

impl SessionAgents {
    fn get(&self, hash: &[u8; 32]) -> Option<AgentId> {
        self.0.lock().ok()?.get(hash).copied()
    }

    fn put(&self, hash: [u8; 32], agent: AgentId) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= SESSION_AGENTS_MAX {
                m.clear();
            }
            m.insert(hash, agent);
        }
    }
}

/// The forwarding client, one per process.
pub fn client() -> HttpClient<HttpConnector, Body> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(1)));
    HttpClient::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(connector)
}

/// The layer: serve here, forward to the owner, or refuse.
pub async fn route(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Some(cluster) = state.cluster.clone() else { return next.run(request).await };
    let presented = Presented::from_headers(request.headers());
    if presented.access.is_none() && presented.refresh.is_none() {
        // No session (sign-in, public pages): any node.
        return next.run(request).await;
    }
    let cached =
        presented.access.as_ref().or(presented.refresh.as_ref()).and_then(|t| state.session_agents.get(&t.hash()));
    let agent = match cached {
        Some(agent) => Some(agent),
        None => {
            let st = state.clone();
            match tokio::task::spawn_blocking(move || session_agent(&st, &presented)).await {
                Ok(Ok(agent)) => agent,
                Ok(Err(p)) => return p.into_response(),
                Err(_) => return Problem::internal().into_response(),
            }
        }
    };
    // No such session: the handler answers 401 as on one node.
    let Some(agent) = agent else { return next.run(request).await };
    check_route_header(cluster.as_ref(), &request, agent);
    let forwarded = request.headers().contains_key(FORWARDED_HEADER);
    match cluster.place(agent) {
        Place::Here => {
            let _admitted = cluster.gate().read().await;
            // Checked again under the gate: a group given up between the two is not judged here.
            if cluster.place(agent) != Place::Here {
                return handing_over();
            }
            next.run(request).await
        }
        Place::Peer(peer) if !forwarded => forward(&state, peer, request).await,
        Place::Peer(_) | Place::Unavailable => handing_over(),
    }
}

/// The agent of the presented session, read without touching it (the owner authenticates).
fn session_agent(state: &AppState, presented: &Presented) -> Result<Option<AgentId>, Problem> {
    let now = state.clock.now();
    if let Some(access) = &presented.access
        && let Some(found) =
            state.accounts.session_by_access(&access.hash(), now).map_err(|_| Problem::unavailable())?
    {
        state.session_agents.put(access.hash(), found.session.agent);
        return Ok(Some(found.session.agent));
    }
    if let Some(refresh) = &presented.refresh
        && let Some(s) = state.accounts.session_by_refresh(&refresh.hash()).map_err(|_| Problem::unavailable())?
    {
        state.session_agents.put(refresh.hash(), s.agent);
        return Ok(Some(s.agent));
    }
    Ok(None)
}

/// A routing value this cluster did not sign, or that names another group than the session's
/// agent's, is noted (a client editing it); it changes nothing.
fn check_route_header(cluster: &dyn Cluster, request: &Request, agent: AgentId) {
    let Some(value) = request.headers().get(ROUTE_HEADER).and_then(|v| v.to_str().ok()) else { return };
    let expected = vigie_core::route::key_group(agent);
    if cluster.verify_route(value) != Some(expected) {
        static EDITED: crate::shared::log_limit::LogLimit = crate::shared::log_limit::LogLimit::every_secs(10);
        if let Some(skipped) = EDITED.allow() {
            tracing::warn!(agent = %agent, skipped, "a routing value not issued for this session's agent: ignored, the request goes to the agent's node");
        }
    }
}

fn handing_over() -> Response {
    let mut p = Problem::unavailable();
    p.retry_after_secs = Some(1);
    p.into_response()
}

/// Sends `request` to `peer` as a proxy would (hop-by-hop headers dropped, this hop added to
/// `X-Forwarded-For`) and hands back its answer.
async fn forward(state: &AppState, peer: SocketAddr, request: Request) -> Response {
    let from = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let Ok(uri) = format!("http://{peer}{path}").parse() else { return Problem::internal().into_response() };
    parts.uri = uri;
    for h in [
        header::CONNECTION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        HeaderName::from_static("keep-alive"),
    ] {
        parts.headers.remove(h);
    }
    if let Some(ip) = from {
        let chain = match parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(prior) => format!("{prior}, {ip}"),
            None => ip.to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&chain) {
            parts.headers.insert("x-forwarded-for", v);
        }
    }
    parts.headers.insert(FORWARDED_HEADER, HeaderValue::from_static("1"));
    let request = axum::http::Request::from_parts(parts, body);
    match tokio::time::timeout(FORWARD_TIMEOUT, state.forwarder.request(request)).await {
        Ok(Ok(answer)) => answer.map(Body::new),
        Ok(Err(e)) => {
            tracing::warn!(peer = %peer, error = %e, "forwarding to the agent's node failed");
            handing_over()
        }
        Err(_) => {
            tracing::warn!(peer = %peer, "the agent's node did not answer in time");
            handing_over()
        }
    }
}
