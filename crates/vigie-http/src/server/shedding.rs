//! Admission of requests: at most `max_in_flight` served at once, as many waiting at most
//! `queue_wait` for a turn, the rest refused at once with a 503 and `Retry-After`. Shedding
//! early keeps the latency of what is served bounded when the load is more than the server can
//! carry; queueing everything made every request slow.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The turns to be served (see the module).
#[derive(Debug, Clone)]
pub struct Shedder {
    turns: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    wait: Duration,
}

impl Shedder {
    pub fn new(max_in_flight: usize, wait: Duration) -> Shedder {
        let max_in_flight = max_in_flight.max(1);
        Shedder {
            turns: Arc::new(Semaphore::new(max_in_flight)),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting: max_in_flight,
            wait,
        }
    }

    /// A turn, held while the request is served; `None`: refuse it.
    pub async fn admit(&self) -> Option<OwnedSemaphorePermit> {
        if let Ok(turn) = self.turns.clone().try_acquire_owned() {
            return Some(turn);
        }
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let turn = tokio::time::timeout(self.wait, self.turns.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        turn.ok()?.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn past_the_turns_and_the_queue_requests_are_refused() {
        let s = Shedder::new(2, Duration::from_millis(20));
        let a = s.admit().await.unwrap();
        let _b = s.admit().await.unwrap();
        // Both turns taken: one waits its 20 ms and is refused (the clock is paused: no wall time).
        assert!(s.admit().await.is_none());
        // A turn given back within the wait goes to the one waiting.
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { s.admit().await.is_some() }
        });
        tokio::task::yield_now().await;
        drop(a);
        assert!(waiter.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn no_more_wait_than_are_served() {
        let s = Shedder::new(1, Duration::from_secs(10));
        let _a = s.admit().await.unwrap();
        let waiting = tokio::spawn({
            let s = s.clone();
            async move { s.admit().await.is_some() }
        });
        tokio::task::yield_now().await;
        // One waits already: the next is refused at once, not after 10 s.
        let start = tokio::time::Instant::now();
        assert!(s.admit().await.is_none());
        assert_eq!(start.elapsed(), Duration::ZERO);
        waiting.abort();
    }
}
