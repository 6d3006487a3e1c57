//! Short-lived server-side state keyed by an unguessable id: WebAuthn ceremonies, single
//! sign-on logins waiting for the provider, a second factor owed after single sign-on. Each
//! entry is taken once (a replayed challenge finds nothing), expires, and the table is bounded
//! (past capacity the oldest entries go), so a flood of `start` calls cannot grow memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use rand::RngCore;
use vigie_core::time::Timestamp;

#[derive(Debug)]
pub struct Pending<T> {
    ttl_ms: i64,
    capacity: usize,
    inner: Mutex<Inner<T>>,
}

#[derive(Debug)]
struct Inner<T> {
    seq: u64,
    entries: HashMap<String, (Timestamp, u64, T)>,
    order: BTreeMap<u64, String>,
}

impl<T> Pending<T> {
    pub fn new(ttl_ms: i64, capacity: usize) -> Self {
        Pending {
            ttl_ms,
            capacity: capacity.max(1),
            inner: Mutex::new(Inner { seq: 0, entries: HashMap::new(), order: BTreeMap::new() }),
        }
    }

    /// Stores `value` and returns its id (128 random bits, base64url).
    pub fn put(&self, value: T, now: Timestamp) -> String {
        let mut raw = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let id = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, raw);
        self.put_as(id.clone(), value, now);
        id
    }

    /// Stores `value` under a caller-chosen unguessable id (an OIDC `state`).
    pub fn put_as(&self, id: String, value: T, now: Timestamp) {
        let Ok(mut g) = self.inner.lock() else { return };
        g.seq += 1;
        let seq = g.seq;
        while g.entries.len() >= self.capacity {
            let Some((_, oldest)) = g.order.pop_first() else { break };
            g.entries.remove(&oldest);
        }
        if let Some((_, old_seq, _)) = g.entries.insert(id.clone(), (now.plus_millis(self.ttl_ms), seq, value)) {
            g.order.remove(&old_seq);
        }
        g.order.insert(seq, id);
    }

    /// Takes the entry out, if it exists and has not expired at `now`.
    pub fn take(&self, id: &str, now: Timestamp) -> Option<T> {
        let mut g = self.inner.lock().ok()?;
        let (expires, seq, value) = g.entries.remove(id)?;
        g.order.remove(&seq);
        (now < expires).then_some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taken_once_expires_and_stays_bounded() {
        let p = Pending::new(1000, 3);
        let t = Timestamp(0);
        let a = p.put(1, t);
        assert_eq!(p.take(&a, t), Some(1));
        assert_eq!(p.take(&a, t), None, "single use");
        let b = p.put(2, t);
        assert_eq!(p.take(&b, Timestamp(1000)), None, "expired");
        let ids: Vec<String> = (0..5).map(|i| p.put(i, t)).collect();
        assert_eq!(p.take(&ids[0], t), None, "oldest evicted past capacity");
        assert_eq!(p.take(&ids[4], t), Some(4));
        assert_eq!(p.take("forged", t), None);
    }
}
