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
//! # On disk
//!
//! A directory of segment files `00000000.log`, `00000001.log`, ... (and a `LOCK` file). A
//! segment is a 56-byte header, `magic "VIGIELG1" | version u32 = 1 | reserved u32 = 0 |
//! first_index u64 | start_chain [32]`, then records `len u32 | body | chain [32]` (integers
//! big-endian) with `chain_i = SHA-256("vigie-ledger-v1" || chain_{i-1} || i u64 || len u32 ||
//! body)` and `chain_{-1}` = 32 zero bytes. A new segment starts once the current one reaches
//! [`LedgerOptions::segment_bytes`]; it is written under a temporary name, synced, renamed into
//! place, and the directory synced.
//!
//! The byte format is decided in one private module and read by one walker, so that the RFC 6962
//! Merkle log with signed checkpoints that replaces it can take its place behind the same port.

mod entries;
mod error;
mod format;
mod ledger;
pub mod merkle;
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
