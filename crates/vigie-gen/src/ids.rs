//! Building a person's NIR and France Travail identifier.
//!
//! The NIR body is sex (1/2, or 7/8 for a provisional NIA), the two last digits of the birth
//! year, the birth month, the 5-character birthplace code (INSEE commune code, `20xxx` for
//! Corsica before 1976, `97x` + 2 digits overseas, `99` + country code abroad) and a 3-digit
//! order number; `vigie_core::Nir::from_body` computes the key. The France Travail identifier is
//! a keyed permutation of the person id, so it is unique per record without any table.

use vigie_core::person::Sex;
use vigie_core::{FtId, Nir};

use crate::rng::{Permutation, Stream, hash};

/// Number of distinct France Travail identifiers: 10^7 numbers × 26 letters.
const FT_ID_SPACE: u64 = 260_000_000;

/// The 13-character NIR body.
pub(crate) fn nir_body(sex: Sex, nia: bool, year: i32, month: u8, place: &str, order: u16) -> [u8; 13] {
    let mut b = *b"1000199100001";
    b[0] = match (sex, nia) {
        (Sex::Male, false) => b'1',
        (Sex::Female, false) => b'2',
        (Sex::Male, true) => b'7',
        (Sex::Female, true) => b'8',
    };
    let yy = year.rem_euclid(100) as u8;
    b[1] = b'0' + yy / 10;
    b[2] = b'0' + yy % 10;
    let mm = month.clamp(1, 12);
    b[3] = b'0' + mm / 10;
    b[4] = b'0' + mm % 10;
    if place.len() == 5 && place.is_ascii() {
        b[5..10].copy_from_slice(place.as_bytes());
    }
    let order = order.clamp(1, 999);
    b[10] = b'0' + (order / 100) as u8;
    b[11] = b'0' + (order / 10 % 10) as u8;
    b[12] = b'0' + (order % 10) as u8;
    b
}

/// The NIR for a body built by [`nir_body`]. Always `Some`: `nir_body` only produces bodies
/// that `Nir::from_body` accepts (the test `every_body_shape_is_accepted` covers every shape).
pub(crate) fn nir(body: &[u8; 13]) -> Option<Nir> {
    Nir::from_body(std::str::from_utf8(body).ok()?).ok()
}

/// The France Travail identifier of person `id`: unique for ids up to 260 000 000 (beyond that
/// the space wraps around). Always `Some` (7 digits and a letter A-Z by construction).
pub(crate) fn ft_id(seed: u64, id: u64) -> Option<FtId> {
    let perm = Permutation::new(FT_ID_SPACE, hash(seed, Stream::FtId, 0));
    let v = perm.apply(id.wrapping_sub(1) % FT_ID_SPACE);
    let mut raw = [b'0'; 8];
    let mut digits = v % 10_000_000;
    for slot in raw[..7].iter_mut().rev() {
        *slot = b'0' + (digits % 10) as u8;
        digits /= 10;
    }
    raw[7] = b'A' + (v / 10_000_000) as u8;
    std::str::from_utf8(&raw).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_core::nir::NirSex;

    #[test]
    fn every_body_shape_is_accepted() {
        let places = ["75111", "2A004", "2B033", "20004", "97105", "97611", "99350", "01001"];
        for sex in [Sex::Male, Sex::Female] {
            for nia in [false, true] {
                for year in [1900, 1956, 1999, 2000, 2010] {
                    for month in 1..=12 {
                        for place in places {
                            for order in [1, 57, 999] {
                                let body = nir_body(sex, nia, year, month, place, order);
                                let n = Nir::from_body(std::str::from_utf8(&body).unwrap()).unwrap();
                                assert_eq!(&n.as_str()[..13], std::str::from_utf8(&body).unwrap());
                                assert_eq!(n.sex() == NirSex::Male, sex == Sex::Male);
                                assert_eq!(n.birth_place_code(), place);
                            }
                        }
                    }
                }
            }
        }
        // The published vector from the research notes.
        let body = nir_body(Sex::Female, false, 1906, 12, "75111", 5);
        assert_eq!(nir(&body).unwrap().as_str(), "206127511100564");
    }

    #[test]
    fn ft_ids_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for id in 1..=50_000 {
            let f = ft_id(9, id).unwrap();
            assert!(seen.insert(f), "duplicate at {id}");
        }
        // The extremes of the space are well formed too.
        let perm = Permutation::new(FT_ID_SPACE, 0);
        assert!(perm.apply(FT_ID_SPACE - 1) < FT_ID_SPACE);
        for v in [0, 9_999_999, 10_000_000, FT_ID_SPACE - 1] {
            let s = format!("{:07}{}", v % 10_000_000, (b'A' + (v / 10_000_000) as u8) as char);
            assert!(s.parse::<FtId>().is_ok(), "{s}");
        }
        assert_ne!(ft_id(9, 1), ft_id(10, 1));
    }
}
