//! Progress of a bulk load, shared with whoever draws it: relaxed atomic counters, bumped by
//! the loader on every row and read by another thread (the binary's progress bar) at will.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// Where a load is. `Loading` until `finish`, then the steps of publishing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LoadPhase {
    Loading,
    Indexing,
    Checking,
    Publishing,
    Done,
}

/// Live counters of a load, for a progress bar drawn by another thread.
#[derive(Clone, Debug, Default)]
pub struct Progress(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    persons: AtomicU64,
    relationships: AtomicU64,
    other_rows: AtomicU64,
    phase: AtomicU8,
    indexes_built: AtomicU64,
    indexes_total: AtomicU64,
}

impl Progress {
    pub fn persons(&self) -> u64 {
        self.0.persons.load(Ordering::Relaxed)
    }
    pub fn relationships(&self) -> u64 {
        self.0.relationships.load(Ordering::Relaxed)
    }
    /// Every row written so far (persons, relationships, organizations, agents, ...).
    pub fn rows(&self) -> u64 {
        self.persons() + self.relationships() + self.0.other_rows.load(Ordering::Relaxed)
    }
    pub fn phase(&self) -> LoadPhase {
        match self.0.phase.load(Ordering::Relaxed) {
            0 => LoadPhase::Loading,
            1 => LoadPhase::Indexing,
            2 => LoadPhase::Checking,
            3 => LoadPhase::Publishing,
            _ => LoadPhase::Done,
        }
    }
    /// Secondary indexes built so far and in all, during [`LoadPhase::Indexing`] (the longest
    /// step of `finish`: minutes at 43 million persons).
    pub fn indexes(&self) -> (u64, u64) {
        (self.0.indexes_built.load(Ordering::Relaxed), self.0.indexes_total.load(Ordering::Relaxed))
    }

    pub(crate) fn index_built(&self, total: usize) {
        self.0.indexes_total.store(total as u64, Ordering::Relaxed);
        self.0.indexes_built.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count(&self, row: Row) {
        let counter = match row {
            Row::Person => &self.0.persons,
            Row::Relationship => &self.0.relationships,
            Row::Other => &self.0.other_rows,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn set_phase(&self, phase: LoadPhase) {
        self.0.phase.store(phase as u8, Ordering::Relaxed);
    }
}

/// Which counter a row advances.
#[derive(Clone, Copy)]
pub(crate) enum Row {
    Person,
    Relationship,
    Other,
}
