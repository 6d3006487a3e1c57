//! The refusals hyper writes on its own, before any handler runs, made problem+json like every
//! other error of the API.
//!
//! hyper answers a request it cannot parse (a malformed request line or header: 400; a URI
//! longer than it takes: 414; a head larger than the limit: 431) with a status line and
//! `content-length: 0`, and closes the connection; there is no hook to give that answer a body.
//! [`ProblemIo`] wraps the connection's socket and replaces, as it is written, the head of a
//! 4xx response without a body and without the security headers every answer of the router
//! carries (`x-content-type-options`) by the same status with a problem+json body, and says
//! `connection: close` (hyper closes it anyway). Only hyper's own answers lack those headers; an
//! answer of the router without a body (the device-binding challenge, a bare 403 with its
//! header) is left as it is.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::shared::problem::Problem;

/// A connection whose bodiless 4xx answers are rewritten as problem+json (see the module).
#[derive(Debug)]
pub struct ProblemIo<T> {
    inner: T,
    /// The rewritten answer not yet written, and how much of it was.
    pending: Vec<u8>,
    sent: usize,
    max_header_bytes: usize,
}

impl<T> ProblemIo<T> {
    pub fn new(inner: T, max_header_bytes: usize) -> Self {
        ProblemIo { inner, pending: Vec::new(), sent: 0, max_header_bytes }
    }
}

impl<T: AsyncWrite + Unpin> ProblemIo<T> {
    /// Writes what is left of a rewritten answer.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        if !self.pending.is_empty() {
            self.pending = Vec::new();
            self.sent = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ProblemIo<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ProblemIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        if let Some(answer) = rewrite(buf, this.max_header_bytes) {
            this.pending = answer;
            this.sent = 0;
            // Taken whole: what the socket does not take now goes with the next write or flush.
            if let Poll::Ready(Err(e)) = this.drain(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// The problem+json answer replacing `written`, if it is the whole head of a 4xx response with
/// `content-length: 0` (and nothing after it).
fn rewrite(written: &[u8], max_header_bytes: usize) -> Option<Vec<u8>> {
    let end = written.windows(4).position(|w| w == b"\r\n\r\n")?;
    if end + 4 != written.len() {
        return None;
    }
    let head = std::str::from_utf8(&written[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let mut status_line = lines.next()?.splitn(3, ' ');
    let version = status_line.next()?;
    let status = StatusCode::from_bytes(status_line.next()?.as_bytes()).ok()?;
    if !version.starts_with("HTTP/1.") || !status.is_client_error() {
        return None;
    }
    let headers: Vec<&str> = lines.collect();
    if !headers.iter().any(|h| h.eq_ignore_ascii_case("content-length: 0")) {
        return None;
    }
    let from_router = headers.iter().any(|h| h.len() > 23 && h[..23].eq_ignore_ascii_case("x-content-type-options:"));
    if from_router {
        return None;
    }
    let date = headers.iter().find(|h| h.len() > 5 && h[..5].eq_ignore_ascii_case("date:"));
    let body = problem_json(&Problem::server_refusal(status, max_header_bytes));
    let mut out = format!(
        "{version} {} {}\r\ncontent-type: application/problem+json\r\ncache-control: no-store\r\nx-content-type-options: nosniff\r\nconnection: close\r\ncontent-length: {}\r\n",
        status.as_str(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    if let Some(d) = date {
        out.push_str(d);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(&body);
    Some(out)
}

fn problem_json(p: &Problem) -> Vec<u8> {
    serde_json::to_vec(p).unwrap_or_default()
}

/// The whole answer to a connection refused before it is served (too many connections): a
/// 503 problem with `Retry-After`, then the connection is closed.
pub fn too_many_connections() -> Vec<u8> {
    let p = Problem::too_many_connections();
    let body = problem_json(&p);
    let mut out = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\ncache-control: no-store\r\nretry-after: {}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        p.retry_after_secs.unwrap_or(1),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bodiless_client_errors_are_rewritten() {
        let hyper_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Sun, 06 Dec 2026 22:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(rewrite(hyper_431, 16_384).unwrap()).unwrap();
        assert!(out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{out}");
        assert!(out.contains("content-type: application/problem+json\r\n"), "{out}");
        assert!(out.contains("date: Sun, 06 Dec 2026 22:00:00 GMT\r\n"), "{out}");
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())), "{out}");
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["type"], "urn:vigie:problem:header-too-large");
        assert_eq!(v["status"], 431);
        assert!(v["detail"].as_str().unwrap().contains("16384"), "{v}");
        for kept in [
            // A response with a body, a success, a redirect, a head that is not all of the write.
            &b"HTTP/1.1 404 Not Found\r\ncontent-length: 12\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 303 See Other\r\nlocation: /login\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n{}",
            // The router's own bodiless answer (the device-binding challenge): its headers kept.
            b"HTTP/1.1 403 Forbidden\r\nsecure-session-challenge: \"c\";id=\"1\"\r\nx-content-type-options: nosniff\r\ncontent-length: 0\r\n\r\n",
            b"{\"a\":1}",
        ] {
            assert!(rewrite(kept, 16_384).is_none(), "{}", String::from_utf8_lossy(kept));
        }
        for (status, kind) in [(400, "malformed-request"), (414, "uri-too-long"), (408, "request-timeout")] {
            let head = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
            let out = String::from_utf8(rewrite(head.as_bytes(), 1).unwrap()).unwrap();
            assert!(out.contains(&format!("urn:vigie:problem:{kind}")), "{out}");
        }
    }
}
