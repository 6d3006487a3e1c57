//! Where the detector's verdicts go, besides the ledger: a JSON-lines file a SIEM tails, a
//! webhook (JSON, HMAC-SHA256 signed, retried with back-off), and an in-process feed the
//! console reads (`GET /v1/alerts`).
//!
//! [`AlertingDetector`] wraps any detector: every verdict other than a plain allow (and every
//! shadow-mode decision) becomes an [`Alert`] with the verdict's reasons. Emitting never blocks
//! the guarded path: the feed is updated in place, the file and the webhook are written by one
//! worker thread behind a bounded queue; if the queue is full the alert is counted as dropped
//! (and is still in the ledger and the feed).

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use vigie_core::event::{AccessEvent, Verdict, VerdictAction};
use vigie_core::ports::Detector;

/// One alert: who, what the detector decided, and why.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Alert {
    pub at: String,
    pub at_ms: i64,
    pub agent: String,
    pub organization: String,
    pub organization_kind: &'static str,
    pub role: &'static str,
    pub session: String,
    pub request: String,
    pub action: &'static str,
    pub person: Option<String>,
    pub verdict: &'static str,
    /// Decided in shadow mode: logged, not enforced.
    pub shadow: bool,
    pub reasons: Vec<String>,
}

impl Alert {
    pub fn from_event(e: &AccessEvent, v: &Verdict) -> Alert {
        Alert {
            at: e.at.to_string(),
            at_ms: e.at.millis(),
            agent: e.actor.agent.to_string(),
            organization: e.actor.org.to_string(),
            organization_kind: e.actor.org_kind.as_str(),
            role: e.actor.role.as_str(),
            session: e.actor.session.0.to_string(),
            request: e.request.to_string(),
            action: e.action.as_str(),
            person: e.person.map(|p| p.to_string()),
            verdict: v.action.as_str(),
            shadow: v.reasons.iter().any(|r| r.starts_with("shadow=1")),
            reasons: v.reasons.clone(),
        }
    }
}

/// The last alerts, in memory, newest last.
#[derive(Debug)]
pub struct AlertFeed {
    capacity: usize,
    alerts: Mutex<VecDeque<Alert>>,
}

impl AlertFeed {
    pub fn new(capacity: usize) -> Self {
        AlertFeed { capacity: capacity.max(1), alerts: Mutex::new(VecDeque::new()) }
    }

    fn push(&self, a: Alert) {
        if let Ok(mut q) = self.alerts.lock() {
            if q.len() == self.capacity {
                q.pop_front();
            }
            q.push_back(a);
        }
    }

    /// The newest `limit` alerts that `keep` accepts, newest first.
    pub fn recent(&self, limit: usize, keep: impl Fn(&Alert) -> bool) -> Vec<Alert> {
        self.alerts
            .lock()
            .map(|q| q.iter().rev().filter(|a| keep(a)).take(limit).cloned().collect())
            .unwrap_or_default()
    }
}

/// Where alerts are written outside the process.
#[derive(Clone, Debug, Default)]
pub struct Sinks {
    /// Appended one JSON object per line.
    pub jsonl: Option<PathBuf>,
    pub webhook: Option<Webhook>,
}

/// A webhook: `POST url` with the alert as JSON, headers `X-Vigie-Timestamp` (unix seconds)
/// and `X-Vigie-Signature: sha256=<hex HMAC-SHA256 over "<timestamp>.<body>">`.
#[derive(Clone)]
pub struct Webhook {
    pub url: String,
    pub secret: Vec<u8>,
    /// Attempts per alert (the first included); back-off doubles from `first_backoff`.
    pub attempts: u32,
    pub first_backoff: Duration,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook").field("url", &self.url).field("attempts", &self.attempts).finish_non_exhaustive()
    }
}

/// The signature of a webhook delivery, for receivers to check.
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| {
        // HMAC takes keys of any length; new_from_slice cannot fail for it.
        <Hmac<Sha256> as Mac>::new_from_slice(&[0]).unwrap_or_else(|_| unreachable!())
    });
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Emits alerts: the feed at once, the sinks through a worker thread.
#[derive(Debug)]
pub struct Alerter {
    pub feed: Arc<AlertFeed>,
    queue: Option<crossbeam_channel::Sender<Alert>>,
    pub dropped: Arc<AtomicU64>,
    pub delivered: Arc<AtomicU64>,
}

impl Alerter {
    /// Starts the worker if there is a sink.
    pub fn start(sinks: Sinks, feed_capacity: usize) -> Alerter {
        let feed = Arc::new(AlertFeed::new(feed_capacity));
        let dropped = Arc::new(AtomicU64::new(0));
        let delivered = Arc::new(AtomicU64::new(0));
        let queue = if sinks.jsonl.is_some() || sinks.webhook.is_some() {
            let (tx, rx) = crossbeam_channel::bounded::<Alert>(10_000);
            let (d, done) = (dropped.clone(), delivered.clone());
            let spawned =
                std::thread::Builder::new().name("vigie-alerts".into()).spawn(move || worker(sinks, rx, d, done));
            match spawned {
                Ok(_) => Some(tx),
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the alert worker: alerts go to the feed and the ledger only");
                    None
                }
            }
        } else {
            None
        };
        Alerter { feed, queue, dropped, delivered }
    }

    pub fn emit(&self, alert: Alert) {
        tracing::warn!(agent = %alert.agent, verdict = alert.verdict, reasons = ?alert.reasons, "detector alert");
        self.feed.push(alert.clone());
        if let Some(q) = &self.queue
            && q.try_send(alert).is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn worker(sinks: Sinks, rx: crossbeam_channel::Receiver<Alert>, dropped: Arc<AtomicU64>, delivered: Arc<AtomicU64>) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let client =
        reqwest::Client::builder().timeout(Duration::from_secs(5)).redirect(reqwest::redirect::Policy::none()).build();
    for alert in rx {
        let body = match serde_json::to_vec(&alert) {
            Ok(b) => b,
            Err(_) => continue,
        };
        if let Some(path) = &sinks.jsonl {
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(&[body.as_slice(), b"\n"].concat()));
            if let Err(e) = written {
                tracing::error!(file = %path.display(), error = %e, "alert not written to the JSON-lines file");
            }
        }
        if let (Some(hook), Ok(rt), Ok(client)) = (&sinks.webhook, &runtime, &client) {
            if rt.block_on(deliver(client, hook, &body)) {
                delivered.fetch_add(1, Ordering::Relaxed);
            } else {
                dropped.fetch_add(1, Ordering::Relaxed);
                tracing::error!(url = %hook.url, "alert not delivered to the webhook after every attempt");
            }
        }
    }
}

async fn deliver(client: &reqwest::Client, hook: &Webhook, body: &[u8]) -> bool {
    let mut backoff = hook.first_backoff;
    for attempt in 1..=hook.attempts.max(1) {
        let ts =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()).to_string();
        let sent = client
            .post(&hook.url)
            .header("content-type", "application/json")
            .header("x-vigie-timestamp", &ts)
            .header("x-vigie-signature", signature(&hook.secret, &ts, body))
            .body(body.to_vec())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => return true,
            Ok(r) => tracing::warn!(status = %r.status(), attempt, "webhook refused the alert"),
            Err(e) => tracing::warn!(error = %e, attempt, "webhook unreachable"),
        }
        if attempt < hook.attempts {
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
        }
    }
    false
}

/// A detector that raises an alert for every verdict stricter than allow (and every shadow
/// decision).
#[derive(Debug)]
pub struct AlertingDetector<D> {
    pub inner: D,
    pub alerter: Arc<Alerter>,
}

impl<D: Detector> Detector for AlertingDetector<D> {
    fn assess(&self, event: &AccessEvent, context: &vigie_core::ports::DetectContext) -> Verdict {
        let v = self.inner.assess(event, context);
        if v.action != VerdictAction::Allow || v.reasons.iter().any(|r| r.starts_with("shadow=1")) {
            self.alerter.emit(Alert::from_event(event, &v));
        }
        v
    }
}
