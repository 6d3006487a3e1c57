//! The first connection at start: retried with exponential back-off while the server is
//! unreachable (a database restarting, a node starting before it), never on a refusal that
//! waiting cannot fix (wrong password, missing database), and given up with the host named.
//!
//! After start, the pool reconnects by itself; a checkout that finds the server gone fails
//! after `checkout_timeout`, the port returns an error, and the guard denies the read (which
//! the API answers with 503): no record is served without its ledger entry, and no request
//! waits forever.

use std::time::{Duration, Instant};

use postgres::error::SqlState;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::PgOpenError;
use crate::target::StoreUrl;

/// The first wait between two attempts; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Connects once, retrying for at most `wait`.
pub(crate) fn first(url: &StoreUrl, tls: &MakeRustlsConnect, wait: Duration) -> Result<postgres::Client, PgOpenError> {
    let started = Instant::now();
    let mut backoff = FIRST_BACKOFF;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        match url.config.connect(tls.clone()) {
            Ok(client) => return Ok(client),
            Err(e) => {
                let permanent = classify(url, &e);
                if let Some(refusal) = permanent {
                    return Err(refusal);
                }
                let waited = started.elapsed();
                if waited + backoff > wait {
                    return Err(PgOpenError::Unreachable {
                        target: url.to_string(),
                        attempts,
                        waited_s: waited.as_secs(),
                        last: message(&e),
                    });
                }
                tracing::warn!(store = %url, attempt = attempts, retry_in_ms = backoff.as_millis() as u64, error = %message(&e), "PostgreSQL unreachable, retrying");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// A refusal that retrying cannot fix, or `None` for one that it may (the server down, a
/// network error, the server starting up or shutting down).
fn classify(url: &StoreUrl, e: &postgres::Error) -> Option<PgOpenError> {
    let target = url.to_string();
    let detail = message(e);
    // A server without TLS when the URL requires it: waiting will not change that. (The client
    // library's error kinds are private; its message for this case is stable.)
    if e.as_db_error().is_none() && e.to_string().contains("TLS") {
        return Some(PgOpenError::Tls(format!("{target}: {detail}")));
    }
    let code = e.code()?;
    if *code == SqlState::INVALID_PASSWORD || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
        return Some(PgOpenError::Authentication { target, detail });
    }
    if *code == SqlState::INVALID_CATALOG_NAME {
        return Some(PgOpenError::NoDatabase { target, detail });
    }
    if *code == SqlState::CANNOT_CONNECT_NOW
        || *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::TOO_MANY_CONNECTIONS
    {
        return None;
    }
    Some(PgOpenError::Server { target, detail })
}

/// The error's own words: the server's message, or the client's (with its cause).
pub(crate) fn message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let mut s = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(cause) = source {
                s.push_str(": ");
                s.push_str(&cause.to_string());
                source = cause.source();
            }
            s
        }
    }
}
