//! The records released per hour by organization kind, for the console's overview: a decorator
//! of the ledger port that counts the access events the guard hands to the ledger
//! (`vigie_core::overview::ReadCounts`), in memory, since the server started. The ledger keeps
//! every one of them; this is a glance, not evidence.

use std::sync::{Arc, Mutex};

use vigie_core::event::AccessEvent;
use vigie_core::org::OrgKind;
use vigie_core::overview::{ReadCounts, ReadsByKind};
use vigie_core::ports::{AccessLedger, Durability, LedgerError, LedgerReceipt};
use vigie_core::security::SecurityEvent;
use vigie_core::time::Timestamp;

/// The counts, shared by the counting ledger and the overview.
#[derive(Debug)]
pub struct Counts(Mutex<ReadCounts>);

impl Counts {
    pub fn new(since: Timestamp) -> Arc<Counts> {
        Arc::new(Counts(Mutex::new(ReadCounts::new(since))))
    }

    fn record(&self, events: &[AccessEvent]) {
        if let Ok(mut c) = self.0.lock() {
            c.record(events);
        }
    }
}

impl ReadsByKind for Counts {
    fn per_hour(&self, now: Timestamp, hours: usize) -> (Vec<(OrgKind, Vec<u32>)>, Timestamp) {
        match self.0.lock() {
            Ok(c) => c.per_hour(now, hours),
            Err(_) => (Vec::new(), now),
        }
    }
}

/// The ledger, counting what it is handed.
pub struct CountingLedger {
    pub inner: Arc<dyn AccessLedger>,
    pub counts: Arc<Counts>,
}

impl std::fmt::Debug for CountingLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountingLedger").field("counts", &self.counts).finish_non_exhaustive()
    }
}

impl AccessLedger for CountingLedger {
    fn append(&self, events: &[AccessEvent]) -> Result<LedgerReceipt, LedgerError> {
        self.counts.record(events);
        self.inner.append(events)
    }

    fn submit(&self, events: &[AccessEvent]) -> Durability {
        self.counts.record(events);
        self.inner.submit(events)
    }

    fn record(&self, events: &[SecurityEvent]) -> Result<LedgerReceipt, LedgerError> {
        self.inner.record(events)
    }
}
