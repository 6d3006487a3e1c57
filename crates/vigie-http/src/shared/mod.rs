//! What every handler uses, API and pages alike: the application state, the one refusal type
//! ([`problem::Problem`]), the extractors (the client, the signed-in caller behind its gates,
//! the JSON body), the session machinery every request goes through (tokens, authentication),
//! one way to render a page and the message catalogue it speaks from, and the small stores
//! (ceremonies in flight, the mail outbox).
//!
//! Depends on nothing else in this crate; `actions`, `api` and `pages` build on it (see the
//! crate's ARCHITECTURE.md).

pub mod auth;
pub mod body;
pub mod caller;
pub mod client;
pub mod cluster;
pub mod extract;
pub mod forms;
pub mod i18n;
pub mod i18n_console;
pub mod i18n_extracts;
pub mod i18n_overview;
pub mod limits;
pub mod log_limit;
pub mod outbox;
pub mod params;
pub mod pending;
pub mod problem;
pub mod rates;
pub mod render;
pub mod state;
pub mod tokens;
