//! The ledger bodies' decoders: `EventHead::decode` (access events, read back by the detector's
//! replay and incident scoping) and `SecurityEvent::decode`. Both read bytes from disk that an
//! intruder may have written; they must refuse without panicking, and a security event that
//! decodes must encode back to the same bytes (its encoding is canonical: the ledger hashes it).

use vigie_core::detect::{DetectConfig, ExfiltrationDetector};
use vigie_core::event::EventHead;
use vigie_core::security::SecurityEvent;
use vigie_core::time::Timestamp;

/// A Monday in 2026, 00:00 UTC: "now" for the replay.
const NOW: i64 = 1_780_272_000_000;

pub fn run(data: &[u8]) {
    if let Some(head) = EventHead::decode(data) {
        // The head is read from fixed offsets: it names real ids and a known verdict.
        assert!(head.agent.get() > 0 && head.org.get() > 0);
        let _ = head.verdict.rank();
        // The replay at start folds heads read from the ledger into the detector: their times
        // are whatever the file says, however far from the clock.
        let detector = ExfiltrationDetector::new(DetectConfig::with_canaries([]));
        detector.replay_after([head, head], Timestamp(NOW), i64::MIN);
        detector.replay_after([head], Timestamp(head.at.millis().saturating_add(1_000)), i64::MIN);
        crate::targets::snapshot::traffic(&detector, &[head.agent], NOW);
    }
    if let Some(event) = SecurityEvent::decode(data) {
        let mut again = Vec::new();
        event.encode(&mut again);
        assert_eq!(again, data, "a decoded security event encodes back to its bytes");
    }
}
