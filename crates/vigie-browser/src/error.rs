//! The one error type of this crate: every way launching or driving the browser can fail, each
//! carrying what a failing test needs to print (the CDP method, Chromium's own message, the tail
//! of its stderr, the JavaScript exception text).

use std::path::PathBuf;
use std::time::Duration;

/// Why a browser operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// No Chromium executable was found; the message names the package to install.
    #[error("{0}")]
    NotFound(String),
    /// The temporary profile directory could not be created.
    #[error("could not create the browser profile directory: {0}")]
    Profile(#[source] std::io::Error),
    /// The executable could not be started.
    #[error("could not start {}: {source}", program.display())]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Chromium exited before announcing its DevTools endpoint.
    #[error("chromium exited during start-up ({status}); its stderr ended with:\n{stderr}")]
    Exited { status: String, stderr: String },
    /// Chromium kept running but never announced its DevTools endpoint.
    #[error("chromium did not announce its DevTools endpoint within {after:?}; its stderr ended with:\n{stderr}")]
    NoEndpoint { after: Duration, stderr: String },
    /// The websocket to the DevTools endpoint could not be opened.
    #[error("websocket to the DevTools endpoint {url}: {message}")]
    WebSocket { url: String, message: String },
    /// The DevTools connection is gone (the browser exited or was dropped).
    #[error("the DevTools connection is closed (was the browser dropped or did it crash?)")]
    Closed,
    /// Chromium answered a command with a protocol error.
    #[error("{method} failed: {message} (CDP error {code})")]
    Cdp { method: String, code: i64, message: String },
    /// Chromium did not answer a command in time.
    #[error("{method} got no answer within {after:?}")]
    Timeout { method: String, after: Duration },
    /// Chromium answered, but not in the shape this crate expects.
    #[error("unexpected answer to {method}: {detail}")]
    Protocol { method: String, detail: String },
    /// `Page.navigate` reported a network-level failure (e.g. `net::ERR_CONNECTION_REFUSED`).
    #[error("navigation to {url} failed: {error}")]
    Navigation { url: String, error: String },
    /// The navigation started but its `load` event did not come in time.
    #[error("navigation to {url} did not finish loading within {after:?}")]
    LoadTimeout { url: String, after: Duration },
    /// Evaluated JavaScript threw, or its promise rejected; the text is the exception's
    /// description as Chromium prints it (e.g. `SecurityError: This is an invalid domain.`).
    #[error("JavaScript threw: {0}")]
    Js(String),
    /// [`crate::Page::wait_for`] gave up.
    #[error("condition `{condition}` still not true after {after:?}{}", last_error.as_deref().map(|e| format!(" (last error: {e})")).unwrap_or_default())]
    WaitTimeout { condition: String, after: Duration, last_error: Option<String> },
}

impl BrowserError {
    /// The exception text if this is a JavaScript exception, for tests that expect one.
    pub fn js_exception(&self) -> Option<&str> {
        match self {
            BrowserError::Js(text) => Some(text),
            _ => None,
        }
    }
}
