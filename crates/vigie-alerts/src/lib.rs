//! Where the detector's verdicts go, besides the ledger: a JSON-lines file a SIEM tails, a
//! webhook (JSON, HMAC-SHA256 signed, retried with back-off), syslog (RFC 5424 over UDP or TCP,
//! see [`syslog`]) and an in-process feed the console reads (`GET /v1/alerts`).
//!
//! [`AlertingDetector`] wraps any detector: every verdict other than a plain allow (and every
//! shadow-mode decision), on an access (`Detector::assess`) or an account-lifecycle action
//! (`Detector::lifecycle`: a request for an account, an approval), becomes an [`Alert`] with the
//! verdict's reasons; its JSON's `event` says which (`access`, `lifecycle`).
//!
//! **Friction stays in the process.** A friction verdict (release once the agent gives a reason
//! from a closed list) is not stricter than allow for enforcement, and it is frequent and
//! benign-leaning: it goes to the in-process feed (in a lane of its own, so that it never
//! pushes a suspension out of the console) and not to the file, the webhook or syslog, to keep
//! the SOC's volume for what needs a look. The same holds for a shadow decision that would have
//! been friction. The ledger records every access's verdict regardless.
//!
//! **Syslog** ([`syslog`] has the details and the reasons): one RFC 5424 message per alert,
//! APP-NAME `vigie`, MSGID `vigie-alert`, the alert's JSON (ASCII, so no BOM) as MSG. Facility
//! `authpriv` by default (private security messages, kept out of general logs by stock syslog
//! configurations). Severity from the verdict:
//!
//! | verdict | severity |
//! |---|---|
//! | `suspend_account` | alert (1) |
//! | `suspend_session` | crit (2) |
//! | `throttle` | warning (4) |
//! | `step_up` (and `friction`, were it sent) | notice (5) |
//! | a shadow decision, whatever it would have been | info (6) |
//!
//! Over UDP (RFC 5426) one datagram per alert, at most 2048 bytes: a longer message is not sent
//! (a warning is logged) rather than cut into invalid JSON. Over TCP, octet-counting framing
//! (RFC 6587 §3.4.1) on a kept-open connection, reconnected and retried like the webhook. TLS
//! (RFC 5425) is not supported: use a local relay that forwards over TLS.
//!
//! Emitting never blocks the guarded path: the feed is updated in place; the file, the webhook
//! and syslog are written by one worker thread behind a bounded queue, in that order, each
//! remote sink retried with doubling back-off. If the queue is full the alert is counted as
//! dropped (and is still in the ledger and the feed). A slow receiver delays the alerts behind
//! it, never a request.

mod alert;
mod detector;
mod feed;
pub mod numbering;
pub mod syslog;
mod webhook;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use alert::{Alert, raises_alert};
pub use detector::AlertingDetector;
pub use feed::{AlertFeed, Handling, QueueFilter, Queued};
pub use syslog::{Facility, Syslog, SyslogTarget, Transport};
pub use webhook::{Webhook, signature};

/// Where alerts are written outside the process.
#[derive(Clone, Debug, Default)]
pub struct Sinks {
    /// Appended one JSON object per line.
    pub jsonl: Option<PathBuf>,
    pub webhook: Option<Webhook>,
    pub syslog: Option<Syslog>,
    /// Where the alert numbers are reserved and the officers' responses journaled, so that an
    /// alert keeps its number and its response across restarts (`None`: numbered in memory
    /// from 1, for tests and tools).
    pub state_dir: Option<PathBuf>,
}

/// Emits alerts: the feed at once, the sinks through a worker thread.
#[derive(Debug)]
pub struct Alerter {
    pub feed: Arc<AlertFeed>,
    queue: Option<crossbeam_channel::Sender<Alert>>,
    /// Alerts lost: the queue was full, or a remote sink (webhook, syslog) gave up on one
    /// (counted once per sink).
    pub dropped: Arc<AtomicU64>,
    /// Deliveries to a remote sink, once per sink.
    pub delivered: Arc<AtomicU64>,
    /// Attempts at a remote sink that failed (each retry and each final failure).
    pub failed_attempts: Arc<AtomicU64>,
    /// Disconnected when the worker has finished (its sender is dropped with it).
    finished: Option<crossbeam_channel::Receiver<()>>,
}

/// How long dropping the alerter waits for the worker to deliver what is queued.
const DRAIN: Duration = Duration::from_secs(5);

impl Drop for Alerter {
    /// A clean stop delivers the alerts already queued (an alert raised just before the stop,
    /// such as one about the ledger at start, is not lost with the process), waiting at most
    /// [`DRAIN`]: a receiver that does not answer does not hold the stop.
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(finished) = self.finished.take() {
            let _ = finished.recv_timeout(DRAIN);
        }
    }
}

impl Alerter {
    /// Starts the worker if there is a sink. With a `state_dir`, the feed goes on numbering
    /// from where the last run stopped and holds its newest alerts again (read back from the
    /// JSON-lines file); if that state cannot be read the alerter does not start (numbers could
    /// be given twice).
    pub fn start(sinks: Sinks, feed_capacity: usize) -> std::io::Result<Alerter> {
        let feed = match &sinks.state_dir {
            Some(dir) => {
                let (numbering, restored) = numbering::Numbering::open(dir, sinks.jsonl.as_deref(), feed_capacity)
                    .map_err(|e| std::io::Error::new(e.kind(), format!("alert numbering in {}: {e}", dir.display())))?;
                Arc::new(AlertFeed::durable(feed_capacity, numbering, restored))
            }
            None => Arc::new(AlertFeed::new(feed_capacity)),
        };
        let counters = Counters::default();
        let (queue, finished) = if sinks.jsonl.is_some() || sinks.webhook.is_some() || sinks.syslog.is_some() {
            let (tx, rx) = crossbeam_channel::bounded::<Alert>(10_000);
            let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(0);
            let c = counters.clone();
            let spawned = std::thread::Builder::new().name("vigie-alerts".into()).spawn(move || {
                worker(sinks, rx, c);
                drop(done_tx);
            });
            match spawned {
                Ok(_) => (Some(tx), Some(done_rx)),
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the alert worker: alerts go to the feed and the ledger only");
                    (None, None)
                }
            }
        } else {
            (None, None)
        };
        let Counters { dropped, delivered, failed_attempts } = counters;
        Ok(Alerter { feed, queue, dropped, delivered, failed_attempts, finished })
    }

    /// Numbers the alert, puts it in the feed and queues it for the sinks (friction only in the
    /// feed); never waits (but once per [`numbering::BLOCK`] alerts, for a small `fsync`).
    pub fn emit(&self, mut alert: Alert) {
        if !alert.leaves_the_process() {
            tracing::debug!(agent = %alert.agent, reasons = ?alert.reasons, "detector friction");
            self.feed.push(alert);
            return;
        }
        alert.id = self.feed.push(alert.clone());
        if alert.event == "system" {
            tracing::error!(id = alert.id, action = %alert.action, reasons = ?alert.reasons, "security alert");
        } else {
            tracing::warn!(id = alert.id, agent = %alert.agent, verdict = %alert.verdict, reasons = ?alert.reasons, "detector alert");
        }
        if let Some(q) = &self.queue
            && q.try_send(alert).is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Counters {
    dropped: Arc<AtomicU64>,
    delivered: Arc<AtomicU64>,
    failed_attempts: Arc<AtomicU64>,
}

impl Counters {
    fn outcome(&self, delivered: bool) {
        match delivered {
            true => self.delivered.fetch_add(1, Ordering::Relaxed),
            false => self.dropped.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// Appending to the JSON-lines file, creating it readable and writable by the owner only
/// (whatever the umask): alerts name agents, organizations and persons' ids.
fn private_append() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

fn worker(sinks: Sinks, rx: crossbeam_channel::Receiver<Alert>, counters: Counters) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let client =
        reqwest::Client::builder().timeout(Duration::from_secs(5)).redirect(reqwest::redirect::Policy::none()).build();
    let mut syslog = sinks.syslog.map(syslog::SyslogSender::new);
    for alert in rx {
        let body = match serde_json::to_vec(&alert) {
            Ok(b) => b,
            Err(_) => continue,
        };
        if let Some(path) = &sinks.jsonl {
            let written = private_append().open(path).and_then(|mut f| f.write_all(&[body.as_slice(), b"\n"].concat()));
            if let Err(e) = written {
                tracing::error!(file = %path.display(), error = %e, "alert not written to the JSON-lines file");
            }
        }
        if let (Some(hook), Ok(rt), Ok(client)) = (&sinks.webhook, &runtime, &client) {
            let delivered = rt.block_on(webhook::deliver(client, hook, &body, &counters.failed_attempts));
            counters.outcome(delivered);
            if !delivered {
                tracing::error!(url = %hook.url, "alert not delivered to the webhook after every attempt");
            }
        }
        if let Some(sender) = &mut syslog {
            let delivered = sender.send(&alert, &counters.failed_attempts);
            counters.outcome(delivered);
            if !delivered {
                tracing::error!(syslog = %sender.target(), "alert not delivered to syslog");
            }
        }
    }
}
