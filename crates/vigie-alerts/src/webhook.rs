//! The webhook sink: each alert `POST`ed as JSON, HMAC-SHA256 signed, retried with back-off.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

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

/// Delivers one alert, retrying; counts each failed attempt in `failed_attempts`.
pub(crate) async fn deliver(
    client: &reqwest::Client,
    hook: &Webhook,
    body: &[u8],
    failed_attempts: &AtomicU64,
) -> bool {
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
        failed_attempts.fetch_add(1, Ordering::Relaxed);
        if attempt < hook.attempts {
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
        }
    }
    false
}
