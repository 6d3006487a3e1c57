//! Serving the router on a socket, with what `axum::serve` leaves out: a timer for hyper (header
//! and idle timeouts), a body timeout and an early 413, a header size limit, a cap on
//! connections (all clients, and per client) that keeps descriptors in reserve for the ledger
//! and the store, load shedding (a bounded number of requests served and waiting, the rest
//! refused with a 503 and `Retry-After`), hyper's own refusals as problem+json, and a graceful
//! stop that closes idle connections at once.
//!
//! Above the four layers: it uses [`crate::router`] and `shared`, and nothing names it but the
//! crate's `serve`.

pub mod refusals;
pub mod shedding;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, header};
use axum::response::IntoResponse;
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

use crate::shared::body::BODY_LIMIT;
pub use crate::shared::limits::{self, ServerLimits};
use crate::shared::log_limit::LogLimit;
use crate::shared::problem::Problem;
use crate::shared::state::AppState;
use refusals::ProblemIo;

/// Serves the app on an already-bound listener until `shutdown` resolves, then stops accepting,
/// closes idle connections and waits for the others to finish their request (the caller bounds
/// that wait: see the binary's grace period).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.settings.limits.clone();
    let cap = limits.connection_cap(limits::descriptor_limit());
    let admission = Admission {
        slots: Arc::new(Semaphore::new(cap)),
        per_client: Arc::new(Mutex::new(HashMap::new())),
        per_client_max: limits.max_connections_per_client,
        exempt: state.settings.trusted_proxies.clone(),
    };
    let shedder = shedding::Shedder::new(limits.max_in_flight, limits.queue_wait);
    let router = crate::router(state);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192) + BODY_LIMIT)
        .max_header_size(limits.max_header_bytes)
        .keep_alive(true);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    static ACCEPT_FAILED: LogLimit = LogLimit::every_secs(10);
    static REFUSED: LogLimit = LogLimit::every_secs(10);
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    if let Some(skipped) = ACCEPT_FAILED.allow() {
                        tracing::error!(error = %e, skipped, "accepting a connection failed (skipped: like failures left out since the last line)");
                    }
                    // Out of descriptors (EMFILE, ENFILE) or memory: give the others a moment
                    // rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(held) = admission.admit(peer.ip()) else {
            if let Some(skipped) = REFUSED.allow() {
                tracing::warn!(client = %peer.ip(), cap, skipped, "connection refused: too many connections (skipped: like refusals left out since the last line)");
            }
            // Written without waiting (a few hundred bytes fit any socket buffer), then closed.
            // What the client already sent is read first: closing a socket with unread data
            // resets the connection, and the client might lose the answer.
            let mut sink = [0u8; 4096];
            while matches!(stream.try_read(&mut sink), Ok(n) if n > 0) {}
            let _ = stream.try_write(&refusals::too_many_connections());
            continue;
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(ProblemIo::new(stream, limits.max_header_bytes));
        let service = hyper::service::service_fn(handler(router.clone(), shedder.clone(), peer, limits.body_timeout));
        let connection = graceful.watch(http.serve_connection(io, service));
        tokio::spawn(async move {
            let _ = connection.await;
            drop(held);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The answer to one request, as hyper's service wants it.
type Answer = std::pin::Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

/// Connections open per client address.
type PerClient = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// The service of one connection: the early refusals (a body announced too large, a body too
/// slow), then the router.
fn handler(
    router: axum::Router,
    shedder: shedding::Shedder,
    peer: SocketAddr,
    body_timeout: Duration,
) -> impl Fn(Request<Incoming>) -> Answer + Clone {
    move |request: Request<Incoming>| {
        let router = router.clone();
        let shedder = shedder.clone();
        Box::pin(async move {
            let (mut parts, incoming) = request.into_parts();
            parts.extensions.insert(ConnectInfo(peer));
            let body = if incoming.is_end_stream() {
                Body::empty()
            } else {
                // Refused before a byte of it is read: a `Content-Length` of 1 GB is answered at
                // once, not after the client has sent (or failed to send) it.
                if incoming.size_hint().lower() > BODY_LIMIT as u64 {
                    return Ok(closing(Problem::too_large(BODY_LIMIT).into_response()));
                }
                match tokio::time::timeout(body_timeout, axum::body::to_bytes(Body::new(incoming), BODY_LIMIT)).await {
                    Ok(Ok(bytes)) => Body::from(bytes),
                    Ok(Err(_)) => return Ok(closing(Problem::too_large(BODY_LIMIT).into_response())),
                    Err(_) => return Ok(closing(Problem::request_timeout().into_response())),
                }
            };
            // The body is in: now a turn, or a refusal the client can act on.
            let Some(_turn) = shedder.admit().await else {
                static SHED: LogLimit = LogLimit::every_secs(10);
                if let Some(skipped) = SHED.allow() {
                    tracing::warn!(
                        skipped,
                        "request refused: overloaded (skipped: like refusals left out since the last line)"
                    );
                }
                return Ok(Problem::overloaded().into_response());
            };
            router.oneshot(Request::from_parts(parts, body)).await
        })
    }
}

/// A refusal after which the connection is closed (what is left of the request is not read).
fn closing(mut response: Response<Body>) -> Response<Body> {
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// Who may open one more connection: a slot of the cap, and one of the client's share.
#[derive(Debug)]
struct Admission {
    slots: Arc<Semaphore>,
    per_client: PerClient,
    per_client_max: usize,
    exempt: Vec<IpAddr>,
}

/// What an admitted connection holds until it closes.
#[derive(Debug)]
struct Held {
    _slot: OwnedSemaphorePermit,
    client: Option<(PerClient, IpAddr)>,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some((counts, ip)) = &self.client {
            let mut counts = counts.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(n) = counts.get_mut(ip) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(ip);
                }
            }
        }
    }
}

impl Admission {
    fn admit(&self, ip: IpAddr) -> Option<Held> {
        let slot = self.slots.clone().try_acquire_owned().ok()?;
        if self.exempt.contains(&ip) {
            return Some(Held { _slot: slot, client: None });
        }
        let mut counts = self.per_client.lock().unwrap_or_else(PoisonError::into_inner);
        let n = counts.entry(ip).or_insert(0);
        if *n >= self.per_client_max {
            return None;
        }
        *n += 1;
        Some(Held { _slot: slot, client: Some((self.per_client.clone(), ip)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_share_and_the_cap_holds_for_all() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let admission = Admission {
            slots: Arc::new(Semaphore::new(5)),
            per_client: Arc::default(),
            per_client_max: 2,
            exempt: vec![proxy],
        };
        let a1 = admission.admit(a).unwrap();
        let _a2 = admission.admit(a).unwrap();
        assert!(admission.admit(a).is_none(), "a's share is two");
        let _b1 = admission.admit(b).unwrap();
        drop(a1);
        let _a3 = admission.admit(a).unwrap();
        // The proxy is exempt from the share, not from the cap.
        let _p1 = admission.admit(proxy).unwrap();
        let _p2 = admission.admit(proxy).unwrap();
        assert!(admission.admit(proxy).is_none(), "the cap of five is reached");
        assert!(admission.admit(b).is_none());
    }
}
