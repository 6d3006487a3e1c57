//! Persons: identity, contact details and registration history of person `id`, from its own
//! random streams only, so any person can be generated alone, in any order.
//!
//! Three kinds of persons: canaries (exactly one per block of 1 000 ids, at a seed-dependent
//! offset, with rare names and no relationships), re-registrations (~15%: a copy of an earlier
//! person's identity with a typo, a name-of-use change, new contact details or a new address,
//! under a new France Travail identifier), and everyone else.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::sync::OnceLock;
use time::Date;
use vigie_core::person::{Address, BirthPlace, Person, RegistrationStatus, Sex};
use vigie_core::{Nir, PersonId};

use crate::data::{Data, data};
use crate::dates::{add_days, age_on, days_between, years_before};
use crate::geography::{address, birth_place, residence};
use crate::ids::{ft_id, nir, nir_body};
use crate::model::{self, CANARY_BLOCK};
use crate::names::{email, first_name, last_name, mobile, slug, typo};
use crate::relationships::relationships;
use crate::rng::{Cumulative, Stream, chance, hash, rng_for, splitmix64, unit};
use crate::{GenParams, GenPerson, World};

/// Whether person `id` is the canary of its block.
pub(crate) fn is_canary(seed: u64, id: u64) -> bool {
    let index = id.wrapping_sub(1);
    let block = index / CANARY_BLOCK;
    index % CANARY_BLOCK == hash(seed, Stream::Canary, block) % CANARY_BLOCK
}

/// Whether person `id` drew "canary in scope lists" (it is one if it also has relationships
/// and is no re-registration). Such a person is never an original either: a re-registration
/// shares its original's NIR, and a canary's key must be known to nobody.
pub(crate) fn draws_scope_canary(seed: u64, id: u64) -> bool {
    hash(seed, Stream::ScopeCanary, id).is_multiple_of(model::SCOPE_CANARY_ONE_IN)
}

/// Whether person `id` drew "re-registration" (it then never serves as an original).
fn draws_duplicate(seed: u64, id: u64) -> bool {
    id >= 2 && !is_canary(seed, id) && unit(hash(seed, Stream::Duplicate, id)) < model::P_DUPLICATE
}

/// The earlier person that `id` re-registers, if it is a re-registration: never a canary, never
/// itself a re-registration.
pub(crate) fn original_of(seed: u64, id: u64) -> Option<u64> {
    if !draws_duplicate(seed, id) {
        return None;
    }
    let h = hash(seed, Stream::Duplicate, id);
    (0..8u64)
        .map(|attempt| 1 + splitmix64(h ^ attempt) % (id - 1))
        .find(|&j| !is_canary(seed, j) && !draws_duplicate(seed, j) && !draws_scope_canary(seed, j))
}

/// What a person is, before registration: drawn from the identity stream.
#[derive(Clone, Debug)]
struct Identity {
    sex: Sex,
    first_name: String,
    last_name: String,
    birth_date: Date,
    birth_place: BirthPlace,
    nia: bool,
    order: u16,
    email: Option<String>,
    phone: Option<String>,
    address: Address,
    /// Département index of the residence.
    dept: usize,
    rqth: bool,
}

impl Identity {
    fn nir(&self) -> Option<Nir> {
        let (year, month) = (self.birth_date.year(), u8::from(self.birth_date.month()));
        nir(&nir_body(self.sex, self.nia, year, month, &self.birth_place.code, self.order))
    }
}

fn ages() -> &'static Cumulative {
    static AGES: OnceLock<Cumulative> = OnceLock::new();
    AGES.get_or_init(|| Cumulative::new(model::age_weights()))
}

fn identity(params: &GenParams, data: &Data, id: u64, canary: bool) -> Identity {
    let mut rng = rng_for(params.seed, Stream::Identity, id);
    let sex = if rng.gen_range(0..2) == 0 { Sex::Male } else { Sex::Female };
    let age = 16 + ages().sample(&mut rng) as i32;
    let (lo, hi) = (years_before(params.as_of, age + 1), years_before(params.as_of, age));
    let span = days_between(lo, hi).max(1);
    let birth_date = add_days(lo, rng.gen_range(1..=span));
    let year = birth_date.year();
    let commune = &data.communes[residence(data, &mut rng)];
    let birth_place = birth_place(data, &mut rng, commune.dept, year);
    let first = first_name(data, &mut rng, sex, year, canary);
    let last = last_name(data, &mut rng, canary);
    // Double surnames are given since 2005.
    let (last_name, last_slug) = if year >= 2005 && chance(&mut rng, 0.08) {
        let second = last_name(data, &mut rng, false);
        (format!("{}-{}", last.text, second.text), format!("{}-{}", last.slug, second.slug))
    } else {
        (last.text.to_owned(), last.slug.to_string())
    };
    let nia = chance(&mut rng, model::P_NIA);
    let order = rng.gen_range(1..=999);
    // Canaries always carry (monitored) contact details.
    let email =
        (canary || !chance(&mut rng, model::P_NO_EMAIL)).then(|| email(&mut rng, &first.slug, &last_slug, year));
    let phone = (canary || !chance(&mut rng, model::P_NO_PHONE)).then(|| mobile(&mut rng));
    let address = address(data, &mut rng, commune);
    let rqth = chance(&mut rng, model::P_RQTH);
    Identity {
        sex,
        first_name: first.text.to_owned(),
        last_name,
        birth_date,
        birth_place,
        nia,
        order,
        email,
        phone,
        address,
        dept: commune.dept,
        rqth,
    }
}

/// A re-registration's identity: the original's, with what typically differs.
fn edited(params: &GenParams, data: &Data, id: u64, original: Identity) -> Identity {
    let mut rng = rng_for(params.seed, Stream::Edit, id);
    let mut p = original.clone();
    let year = p.birth_date.year();
    match rng.gen_range(0..100) {
        0..=29 => p.last_name = typo(&mut rng, &p.last_name),
        30..=34 => p.first_name = typo(&mut rng, &p.first_name),
        35..=59 if p.sex == Sex::Female => {
            // Name of use after a marriage: the spouse's name, or both joined.
            let spouse = last_name(data, &mut rng, false).text;
            p.last_name = if chance(&mut rng, 0.6) { spouse.to_owned() } else { format!("{}-{spouse}", p.last_name) };
            if chance(&mut rng, 0.5) {
                p.email = Some(email(&mut rng, &slug(&p.first_name), &slug(&p.last_name), year));
            }
        }
        35..=59 => p.last_name = typo(&mut rng, &p.last_name),
        60..=84 => {
            if chance(&mut rng, 0.6) {
                p.email = Some(email(&mut rng, &slug(&p.first_name), &slug(&p.last_name), year));
            }
            p.phone = if chance(&mut rng, 0.15) { None } else { Some(mobile(&mut rng)) };
        }
        _ => {
            let commune = &data.communes[residence(data, &mut rng)];
            p.address = address(data, &mut rng, commune);
            p.dept = commune.dept;
        }
    }
    let same = |a: &Identity, b: &Identity| {
        (&a.last_name, &a.first_name, &a.email, &a.phone, &a.address)
            == (&b.last_name, &b.first_name, &b.email, &b.phone, &b.address)
    };
    if same(&p, &original) {
        p.last_name = typo(&mut rng, &p.last_name);
    }
    // Usually the same NIR; sometimes a provisional number, or a NIR keyed in with another order.
    match rng.gen_range(0..100) {
        0..=89 => {}
        90..=94 => {
            p.nia = true;
            p.order = rng.gen_range(1..=999);
        }
        _ => p.order = p.order % 999 + 1,
    }
    p
}

/// Registration status and dates. `not_before` bounds the registration date from below
/// (a re-registration comes after the original's).
fn status(
    params: &GenParams,
    world: &World,
    id: u64,
    birth: Date,
    enrolled: bool,
    not_before: Option<Date>,
) -> (RegistrationStatus, Date, Option<Date>) {
    let mut rng = rng_for(params.seed, Stream::Status, id);
    let as_of = params.as_of;
    let mut earliest = years_before(as_of, model::HISTORY_YEARS).max(years_before(birth, -16));
    if let Some(d) = not_before {
        earliest = earliest.max(d.min(as_of));
    }
    let earliest = earliest.min(as_of);
    let span = days_between(earliest, as_of);
    // Enrolled persons are registered; the others' shares are adjusted to keep the totals.
    let n = params.persons.max(1) as f64;
    let rest = (n - world.slots.total as f64).max(1.0);
    let p_registered = ((model::P_REGISTERED * n - world.slots.total as f64) / rest).max(0.0);
    let p_deregistered = model::P_DEREGISTERED * n / rest;
    let u: f64 = rng.r#gen();
    if enrolled || u < p_registered {
        // Most current registrations are recent; a tail of long-term job seekers.
        let back = match rng.gen_range(0..100) {
            0..=59 => rng.gen_range(0..=730),
            60..=89 => rng.gen_range(730..=2190),
            _ => rng.gen_range(2190..=7300),
        };
        (RegistrationStatus::Registered, add_days(as_of, -back.min(span)), None)
    } else if u < p_registered + p_deregistered && span >= 1 {
        let registered = add_days(earliest, rng.gen_range(0..span));
        let stay = rng.gen_range(30..=900);
        let left = add_days(registered, stay).min(as_of).max(add_days(registered, 1));
        (RegistrationStatus::Deregistered, registered, Some(left))
    } else {
        (RegistrationStatus::Identified, add_days(earliest, rng.gen_range(0..=span.max(0))), None)
    }
}

/// Person `id` (1-based). `None` only if the generator produced a malformed identifier, which
/// the tests rule out.
pub(crate) fn generate(params: &GenParams, world: &World, id: u64) -> Option<GenPerson> {
    let data = data();
    let canary = is_canary(params.seed, id);
    let duplicate_of = original_of(params.seed, id);
    let (ident, not_before) = match duplicate_of {
        Some(orig) => {
            let original = identity(params, data, orig, false);
            let enrolled = world.slots.session_of(orig).is_some();
            let (_, registered_on, _) = status(params, world, orig, original.birth_date, enrolled, None);
            (edited(params, data, id, original), Some(add_days(registered_on, 30)))
        }
        None => (identity(params, data, id, canary), None),
    };
    let session = world.slots.session_of(id).filter(|_| !canary);
    let (status, registered_on, deregistered_on) =
        status(params, world, id, ident.birth_date, session.is_some(), not_before);
    let age = age_on(ident.birth_date, params.as_of);
    let person = Person {
        id: PersonId::new(id)?,
        ft_id: ft_id(params.seed, id)?,
        nir: ident.nir()?,
        last_name: ident.last_name,
        first_name: ident.first_name,
        birth_date: ident.birth_date,
        birth_place: ident.birth_place,
        sex: ident.sex,
        email: ident.email,
        phone: ident.phone,
        address: ident.address,
        status,
        registered_on,
        deregistered_on,
        youth: (16..=25).contains(&age),
        rqth: ident.rqth,
    };
    let relationships = if canary {
        Vec::new()
    } else {
        let mut rng: ChaCha8Rng = rng_for(params.seed, Stream::Relations, id);
        relationships(params, world, &mut rng, &person, ident.dept, session)
    };
    // A scope canary: a person like the others, relationships included, whom nobody works
    // with. Never a re-registration (whose original a real person would be).
    let scope_canary =
        !canary && duplicate_of.is_none() && !relationships.is_empty() && draws_scope_canary(params.seed, id);
    Some(GenPerson { person, relationships, canary, scope_canary, duplicate_of: duplicate_of.and_then(PersonId::new) })
}
