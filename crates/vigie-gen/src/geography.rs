//! Where persons live and were born: residences drawn by commune population with the commune's
//! real postcode, street addresses, and birthplaces (a French commune, with Corsica coded `20`
//! before 1976, or `99` + an INSEE country code for the ~8% born abroad).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use vigie_core::person::{Address, BirthPlace};

use crate::data::{Commune, Data};
use crate::names::push_num;
use crate::rng::chance;

/// Share of persons born abroad.
pub(crate) const P_BORN_ABROAD: f64 = 0.08;
/// Share of persons born in France who were born in their département of residence.
const P_BORN_LOCALLY: f64 = 0.45;

/// A commune of residence, drawn by population.
pub(crate) fn residence(data: &Data, rng: &mut ChaCha8Rng) -> usize {
    data.population.sample(rng)
}

/// One of the commune's postcodes.
pub(crate) fn postcode(rng: &mut ChaCha8Rng, commune: &Commune) -> &'static str {
    let count = commune.postcodes.split(',').count();
    let k = if count > 1 { rng.gen_range(0..count) } else { 0 };
    commune.postcodes.split(',').nth(k).unwrap_or(commune.postcodes)
}

/// A street address in `commune`: "12 rue de la Gare", "3 bis avenue Jean Jaurès".
pub(crate) fn address(data: &Data, rng: &mut ChaCha8Rng, commune: &Commune) -> Address {
    let (kind, _) = data.street_types.items[data.street_types.cum.sample(rng)];
    let (name, _) = data.street_names.items[data.street_names.cum.sample(rng)];
    let mut street = String::with_capacity(kind.len() + name.len() + 10);
    // House numbers: mostly small, a long tail up to a few hundred.
    let number = if chance(rng, 0.7) { rng.gen_range(1..40) } else { rng.gen_range(1..300) };
    push_num(&mut street, number, 1);
    if chance(rng, 0.04) {
        street.push_str(" bis");
    }
    street.push(' ');
    street.push_str(kind);
    street.push(' ');
    street.push_str(name);
    Address {
        street,
        postcode: postcode(rng, commune).to_owned(),
        commune: commune.postal_name().to_owned(),
        commune_code: commune.code.to_owned(),
    }
}

/// A birthplace for someone living in département `home_dept` (an index) and born in `year`.
pub(crate) fn birth_place(data: &Data, rng: &mut ChaCha8Rng, home_dept: usize, year: i32) -> BirthPlace {
    if chance(rng, P_BORN_ABROAD) {
        let (code, name) = data.countries.items[data.countries.cum.sample(rng)];
        return BirthPlace { code: code.to_owned(), name: name.to_owned() };
    }
    let commune = match data.depts.get(home_dept) {
        Some(d) if chance(rng, P_BORN_LOCALLY) => &data.communes[data.population.sample_in(rng, d.first, d.end)],
        _ => &data.communes[data.population.sample(rng)],
    };
    BirthPlace { code: birth_code(commune.code, year), name: commune.name.to_owned() }
}

/// The INSEE code a person born in `commune` in `year` carries in the NIR: Corsica's 2A/2B date
/// from 1976, births before keep the former département code 20.
pub(crate) fn birth_code(code: &str, year: i32) -> String {
    match code.as_bytes() {
        [b'2', b'A' | b'B', rest @ ..] if year < 1976 => {
            let mut s = String::with_capacity(5);
            s.push_str("20");
            s.push_str(std::str::from_utf8(rest).unwrap_or("000"));
            s
        }
        _ => code.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::data;
    use crate::rng::{Stream, rng_for};

    #[test]
    fn corsica_before_1976_is_20() {
        assert_eq!(birth_code("2A004", 1975), "20004");
        assert_eq!(birth_code("2A004", 1976), "2A004");
        assert_eq!(birth_code("2B033", 1960), "20033");
        assert_eq!(birth_code("97105", 1960), "97105");
    }

    #[test]
    fn addresses_use_the_communes_postcode() {
        let d = data();
        let mut rng = rng_for(5, Stream::Identity, 9);
        let mut abroad = 0;
        for _ in 0..5000 {
            let c = &d.communes[residence(d, &mut rng)];
            let a = address(d, &mut rng, c);
            assert!(c.postcodes.split(',').any(|p| p == a.postcode));
            assert_eq!(a.commune_code, c.code);
            assert!(a.street.as_bytes()[0].is_ascii_digit(), "{}", a.street);
            let b = birth_place(d, &mut rng, c.dept, 1980);
            if b.code.starts_with("99") {
                abroad += 1;
            } else {
                assert!(d.communes.iter().any(|c| c.code == b.code && c.name == b.name));
            }
        }
        assert!((250..550).contains(&abroad), "{abroad}");
    }
}
