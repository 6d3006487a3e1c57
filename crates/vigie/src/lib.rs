//! The `vigie` binary's library half: configuration, wiring and the subcommands' work, so that
//! the API tests can start exactly what `vigie serve` starts. `main.rs` only parses arguments
//! and prints errors.

pub mod app;
pub mod app_pg;
pub mod bench;
pub mod bench_cluster;
pub mod bench_console;
pub mod bench_extract;
pub mod bench_mail;
pub mod bench_scope;
pub mod cluster;
pub mod config;
pub mod config_cluster;
pub mod config_extracts;
pub mod config_notify;
pub mod config_store;
pub mod credentials;
pub mod demo;
pub mod eval_attribution;
pub mod extracts;
pub mod generate;
pub mod incidents;
pub mod ledger_cmd;
pub mod live;
pub mod load;
pub mod modes;
pub mod read_counts;
pub mod sim_report;
pub mod simulate;
pub mod snapshot;
pub mod stop;
pub mod torn;
