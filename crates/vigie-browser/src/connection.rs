//! A minimal Chrome DevTools Protocol client over one websocket.
//!
//! Commands are JSON objects `{id, method, params, sessionId?}`; Chromium answers each with the same
//! `id` and either `result` or `error`, and sends events (`{method, params, sessionId?}`) in
//! between. A writer task owns the websocket's sending half; a reader task owns the receiving half,
//! hands each answer to the caller waiting on its id and broadcasts events. Sessions are "flat"
//! (`Target.attachToTarget {flatten: true}`), so one socket carries the browser and every page.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::error::BrowserError;

/// How many events a slow subscriber may fall behind before it misses some.
const EVENT_BUFFER: usize = 1024;

/// One CDP event, as sent by Chromium.
#[derive(Debug, Clone)]
pub struct CdpEvent {
    /// E.g. `Page.lifecycleEvent`, `WebAuthn.credentialAdded`.
    pub method: String,
    pub params: Value,
    /// The flat session the event belongs to; `None` for browser-level events.
    pub session_id: Option<String>,
}

/// Chromium's `error` member of an answer.
#[derive(Debug)]
struct RemoteError {
    code: i64,
    message: String,
}

type Reply = Result<Value, RemoteError>;

/// The shared half of the client: what callers need to send commands and hear events.
pub(crate) struct Connection {
    outgoing: mpsc::UnboundedSender<Message>,
    /// Callers waiting for an answer, by command id; `None` once the socket is closed, so a new
    /// caller fails at once instead of waiting for its timeout.
    pending: Mutex<Option<HashMap<u64, oneshot::Sender<Reply>>>>,
    next_id: AtomicU64,
    events: broadcast::Sender<Arc<CdpEvent>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("next_id", &self.next_id).finish_non_exhaustive()
    }
}

/// The two tasks serving a connection; aborted when the browser is dropped.
#[derive(Debug)]
pub(crate) struct ConnectionTasks {
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl ConnectionTasks {
    pub(crate) fn abort(&self) {
        self.reader.abort();
        self.writer.abort();
    }
}

impl Connection {
    /// Opens the websocket at `url` (the browser endpoint `ws://127.0.0.1:PORT/devtools/browser/ID`)
    /// and starts the reader and writer tasks on the current tokio runtime.
    pub(crate) async fn connect(url: &str) -> Result<(Arc<Connection>, ConnectionTasks), BrowserError> {
        // Nagle off: CDP is request/answer with small messages, and tests wait on every round trip.
        let (socket, _response) = tokio_tungstenite::connect_async_with_config(url, None, true)
            .await
            .map_err(|e| BrowserError::WebSocket { url: url.to_owned(), message: e.to_string() })?;
        let (mut sink, mut stream) = socket.split();
        let (outgoing, mut queue) = mpsc::unbounded_channel::<Message>();
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let connection = Arc::new(Connection {
            outgoing,
            pending: Mutex::new(Some(HashMap::new())),
            next_id: AtomicU64::new(1),
            events,
        });

        let writer = tokio::spawn(async move {
            while let Some(message) = queue.recv().await {
                if let Err(e) = sink.send(message).await {
                    tracing::debug!(error = %e, "CDP websocket write failed");
                    break;
                }
            }
        });
        let reader_connection = Arc::clone(&connection);
        let reader = tokio::spawn(async move {
            // Whether the loop ends or the task is aborted, waiting callers learn it at once.
            let _close = CloseOnDrop(Arc::clone(&reader_connection));
            while let Some(message) = stream.next().await {
                match message {
                    Ok(Message::Text(text)) => reader_connection.dispatch(text.as_str()),
                    Ok(Message::Close(_)) => break,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "CDP websocket read failed");
                        break;
                    }
                }
            }
        });
        Ok((connection, ConnectionTasks { reader, writer }))
    }

    /// Sends `method` (to the page session `session`, or to the browser when `None`) and waits
    /// at most `timeout` for its answer.
    pub(crate) async fn call(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, BrowserError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        match self.lock_pending().as_mut() {
            Some(pending) => pending.insert(id, tx),
            None => return Err(BrowserError::Closed),
        };
        if self.outgoing.send(Message::Text(command(id, session, method, params).into())).is_err() {
            self.forget(id);
            return Err(BrowserError::Closed);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Ok(result))) => Ok(result),
            Ok(Ok(Err(e))) => Err(BrowserError::Cdp { method: method.to_owned(), code: e.code, message: e.message }),
            Ok(Err(_)) => Err(BrowserError::Closed),
            Err(_) => {
                self.forget(id);
                Err(BrowserError::Timeout { method: method.to_owned(), after: timeout })
            }
        }
    }

    /// Sends a command without waiting for its answer (for clean-up from `Drop`).
    pub(crate) fn send_and_forget(&self, session: Option<&str>, method: &str, params: Value) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        // A closed connection has nothing left to clean up.
        let _ = self.outgoing.send(Message::Text(command(id, session, method, params).into()));
    }

    /// Every event from now on (for all sessions; filter on [`CdpEvent::session_id`]).
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<CdpEvent>> {
        self.events.subscribe()
    }

    fn dispatch(&self, text: &str) {
        let message: Value = match serde_json::from_str(text) {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!(error = %e, "CDP message is not JSON");
                return;
            }
        };
        if let Some(id) = message.get("id").and_then(Value::as_u64) {
            let reply = match message.get("error") {
                Some(error) => Err(RemoteError {
                    code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                    message: remote_message(error),
                }),
                None => Ok(message.get("result").cloned().unwrap_or_else(|| json!({}))),
            };
            let waiter = self.lock_pending().as_mut().and_then(|pending| pending.remove(&id));
            if let Some(waiter) = waiter {
                // The caller may have timed out meanwhile; nobody else wants the answer.
                let _ = waiter.send(reply);
            }
        } else if let Some(method) = message.get("method").and_then(Value::as_str) {
            let event = CdpEvent {
                method: method.to_owned(),
                params: message.get("params").cloned().unwrap_or(Value::Null),
                session_id: message.get("sessionId").and_then(Value::as_str).map(str::to_owned),
            };
            // No subscriber is the common case, not an error.
            let _ = self.events.send(Arc::new(event));
        }
    }

    fn forget(&self, id: u64) {
        if let Some(pending) = self.lock_pending().as_mut() {
            pending.remove(&id);
        }
    }

    fn close(&self) {
        // Dropping the senders wakes every waiting caller with `Closed`.
        self.lock_pending().take();
    }

    fn lock_pending(&self) -> MutexGuard<'_, Option<HashMap<u64, oneshot::Sender<Reply>>>> {
        // The map stays consistent even if a holder panicked: every operation is a single insert,
        // remove or take.
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct CloseOnDrop(Arc<Connection>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

fn command(id: u64, session: Option<&str>, method: &str, params: Value) -> String {
    let mut message = json!({ "id": id, "method": method, "params": params });
    if let (Some(session), Some(object)) = (session, message.as_object_mut()) {
        object.insert("sessionId".to_owned(), Value::String(session.to_owned()));
    }
    message.to_string()
}

/// Chromium's message, with its `data` detail when it gives one (e.g. which parameter is wrong).
fn remote_message(error: &Value) -> String {
    let message = error.get("message").and_then(Value::as_str).unwrap_or("(no message)");
    match error.get("data").and_then(Value::as_str) {
        Some(data) if !data.is_empty() => format!("{message}: {data}"),
        _ => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_carry_the_session_only_when_there_is_one() {
        let browser: Value = serde_json::from_str(&command(1, None, "Target.getTargets", json!({}))).unwrap();
        assert_eq!(browser, json!({"id": 1, "method": "Target.getTargets", "params": {}}));
        let page: Value = serde_json::from_str(&command(2, Some("S"), "Page.enable", json!({}))).unwrap();
        assert_eq!(page, json!({"id": 2, "method": "Page.enable", "params": {}, "sessionId": "S"}));
    }

    #[test]
    fn remote_errors_keep_their_detail() {
        let error =
            json!({"code": -32602, "message": "Invalid parameters", "data": "Failed to deserialize params.url"});
        assert_eq!(remote_message(&error), "Invalid parameters: Failed to deserialize params.url");
        assert_eq!(remote_message(&json!({"code": -32601, "message": "'X.y' wasn't found"})), "'X.y' wasn't found");
    }
}
