//! Vigie's access ledger on disk, first form: an append-only, hash-chained segment log with
//! group commit, behind the core's [`vigie_core::ports::AccessLedger`] port.
//!
//! Every access event the guard produces is appended here, and the guard releases a person's
//! data only after [`Ledger`]'s `append` has returned: the events are then written and synced.
//! Each entry's chain hash covers every entry before it, so any edit, removal or reordering is
//! found by [`verify`], which names the first entry that cannot be trusted. At startup a write
//! torn by a crash is cut from the end of the last segment; damage anywhere else makes
//! [`Ledger::open`] refuse.
//!
//! The byte format lives in [`format`] (and is read by one walker), so the RFC 6962 Merkle log
//! with signed checkpoints that replaces it can take its place behind the same port.

mod entries;
mod error;
pub mod format;
mod ledger;
mod recover;
mod verify;
mod walk;
mod writer;

pub use entries::{Entries, Entry};
pub use error::{Corruption, Fault, OpenError, VerifyError};
pub use format::ChainHash;
pub use ledger::{LOCK_FILE, Ledger, LedgerOptions};
pub use recover::{OpenReport, TornTail};
pub use verify::{VerifyReport, verify, verify_with_progress};
pub use writer::{Head, LedgerStats};
