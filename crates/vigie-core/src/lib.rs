//! Vigie's pure core: the domain of a guarded personal-data registry.
//!
//! Identifiers parsed at the boundary, persons and their data categories, organizations and
//! agents, relationships, the access event, authorization (Cedar), sign-in primitives
//! (passwords, TOTP, rate limits) and the guarded read itself, written against ports.
//! Nothing here reads the clock, the network, the disk or a random source: time, randomness
//! and storage come in as arguments or through the traits in [`ports`].

pub mod authz;
pub mod campaign;
pub mod category;
pub mod console;
pub mod detect;
pub mod event;
pub mod extract;
pub mod guard;
pub mod ids;
pub mod incident;
pub mod lifecycle;
pub mod nir;
pub mod org;
pub mod overview;
pub mod person;
pub mod ports;
pub mod relationship;
pub mod route;
pub mod scope_search;
pub mod security;
pub mod service;
pub mod signin;
pub mod time;

pub use category::{CategorySet, DataCategory};
pub use ids::{AgentId, FtId, IncidentId, Login, OrgId, PersonId, RequestId, SessionGroupId, SessionId, TeamId};
pub use nir::Nir;
