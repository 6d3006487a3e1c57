//! A deterministic synthetic French job-seeker registry: persons with realistic identities (real
//! communes and postcodes, INSEE first names by sex and decade, surnames by real frequency rank,
//! valid NIRs), the organizations and agents who consult them, and the relationships between
//! the two. Pure: no clock, no OS randomness, no I/O (the reference tables are compiled in).
//!
//! Same [`GenParams`] → same output, byte for byte. Person `n` is derived from `(seed, n)` and
//! the [`World`] only, so persons stream in constant memory ([`persons`]) or can be generated
//! one at a time ([`person_at`]), for 43 million persons as for 100.
//!
//! # Shape of the registry
//! - Status: ~45% registered, ~40% deregistered, ~15% identified; history over 20 years.
//! - Ages 16-70 at `as_of` from a job-seeker pyramid; `youth` = 16-25; RQTH ~3%.
//! - ~8% born abroad (`99` + INSEE country code), Corsica coded `20` before 1976, ~1% NIA.
//! - ~15% re-registrations (`duplicate_of`), one canary per block of 1 000 ids, and one person
//!   in a hundred of those with relationships a canary inside its organizations' scope lists.
//!
//! # World size (n = persons; each count rounded to nearest)
//! - agencies = max(2, n / 25 000); Cap emploi = max(1, n / 200 000);
//!   missions locales = max(1, n / 100 000); training organizations = max(2, n / 20 000);
//!   subcontractors = max(1, n / 500 000).
//! - Every organization has one `account_admin`; the first agency also holds
//!   max(1, agencies / 10) `security_officer`s.
//! - Agencies and Cap emploi: teams of 6-10 advisors plus a manager; advisors' capacities are
//!   drawn from the modalities 40% 30-70, 45% 100-150, 13% 200-350, 2% 1 000-1 500, until an
//!   organization's capacity covers its expected active caseloads:
//!   n × 0.45 × 0.97 × (1 − youth share × 0.75) spread by département population over agencies,
//!   n × 0.45 × 0.03 likewise over Cap emploi.
//! - Missions locales: 3-8 advisors; training organizations: 2-5; subcontractors: 3-10.
//! - Training sessions: round(n × 0.45 × 0.08) seats cut into sessions of 10-30, starting up to
//!   300 days before `as_of` or up to 45 days after, lasting 20-200 days (`[starts_on, ends_on)`,
//!   like relationships' validity). Each seat belongs to one person through a keyed permutation
//!   of the ids, so every session gets exactly its size (less a canary, rarely).

mod data;
mod dates;
mod geography;
mod ids;
mod model;
mod names;
mod orgs;
mod persons;
mod relationships;
mod rng;
mod world;

pub use world::{World, world};

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenParams {
    pub seed: u64,
    /// Number of person records (ids 1..=persons).
    pub persons: u64,
    /// The reference date: ages, registrations and relationships' validity are relative to it.
    pub as_of: time::Date,
}

/// A generated person record with its relationships.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenPerson {
    pub person: vigie_core::person::Person,
    /// Empty for canaries.
    pub relationships: Vec<vigie_core::relationship::Relationship>,
    /// A decoy: nobody has a relationship with it, so any access to it is suspicious.
    pub canary: bool,
    /// A decoy placed in the scope lists of the organizations it has (plausible)
    /// relationships with: about one person in a hundred of those followed, different for
    /// each organization, so that a scraper walking its own scope meets one. Nobody works
    /// with it; a read of one during a burst is a tripwire.
    pub scope_canary: bool,
    /// The earlier record this one is a re-registration of (same person, new identifier).
    pub duplicate_of: Option<vigie_core::PersonId>,
}

/// Persons 1..=`params.persons`, in order, generated on the fly.
pub fn persons<'a>(params: &'a GenParams, world: &'a World) -> impl Iterator<Item = GenPerson> + 'a {
    (1..=params.persons).map(move |id| person_at(params, world, id))
}

/// Person `id` (ids start at 1; 0 is read as 1), identical to the `id`-th item of [`persons`].
///
/// # Panics
/// Never for valid data: the generator only builds identifiers the core accepts (a NIR body of a
/// valid shape, 7 digits and a letter, an id in 1..=i64::MAX), which the tests check for every
/// shape. The core's identifiers can only be obtained through checked constructors, so the one
/// impossible failure is turned into a panic here rather than into a `Result` on every call.
pub fn person_at(params: &GenParams, world: &World, id: u64) -> GenPerson {
    let id = id.clamp(1, i64::MAX as u64);
    #[allow(clippy::expect_used, reason = "identifiers are valid by construction; see # Panics")]
    persons::generate(params, world, id).expect("generated identifiers are valid by construction")
}

#[cfg(test)]
mod tests;
