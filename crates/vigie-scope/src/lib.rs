//! Incident scoping over Vigie's access ledger.
//!
//! The ledger is the record: every decision about a person's data is in it, written before the
//! data left. Scoping reads it back to say exactly who saw which categories of whom. Reading a
//! ledger of hundreds of millions of entries for each question would take minutes, so a
//! per-segment columnar index ([`index`]) is kept beside it; the index is derived, checked
//! against the log before use, and every entry an answer relies on is read back from the log and
//! compared ([`query`]). What scoping checks before trusting a ledger, and what it cites, is in
//! [`trust`].

pub mod export;
pub mod index;
pub mod query;
mod tiles;
pub mod trust;

pub use query::{Found, LedgerSource, Query, ScopeError, Stats, run};
pub use tiles::Tiles;
pub use trust::{Cited, Trust, record_verification};
