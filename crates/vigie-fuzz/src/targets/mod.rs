//! One module per target; each exposes `run(&[u8])`.

pub mod checkpoint;
pub mod config;
pub mod dbsc;
pub mod events;
pub mod http;
pub mod identifiers;
pub mod ledger;
pub mod scenario;
pub mod snapshot;
