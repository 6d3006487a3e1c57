//! The NIR (numéro d'inscription au répertoire), France's social security number.
//!
//! A `Nir` is only ever built by [`Nir::parse`] (or [`Nir::from_parts`], which computes the key),
//! so any `Nir` held anywhere in Vigie has a valid control key and a well-formed layout.
//! Layout (15 characters): sex (1), year (2), month (2), place of birth (5: département + commune,
//! `2A`/`2B` for Corsica, `97x` + 2-digit commune overseas, `99` + INSEE country code abroad),
//! order number (3), key (2) = 97 − (N mod 97), with `2A` read as 19 and `2B` as 18.

use std::fmt;
use std::str::FromStr;

/// A syntactically valid NIR with a correct control key. Stored without spaces.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nir([u8; 15]);

/// Why a string is not a NIR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NirError {
    #[error("a NIR has 15 characters (13 + a 2-digit key), got {0}")]
    Length(usize),
    #[error("character {position} of the NIR must be {expected}")]
    Character { position: usize, expected: &'static str },
    #[error("the NIR's sex digit must be 1, 2, 7 or 8")]
    Sex,
    #[error("the NIR's month must be 01-12, 20-42 or 50-99")]
    Month,
    #[error("the NIR's control key does not match (expected {expected:02})")]
    Key { expected: u8 },
}

/// Sex as encoded in the first digit of the NIR (7 and 8 are provisional numbers, NIA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NirSex {
    Male,
    Female,
}

impl Nir {
    /// Parses a NIR, tolerating spaces (as printed on a carte Vitale) and lowercase `2a`/`2b`.
    pub fn parse(input: &str) -> Result<Self, NirError> {
        let mut raw = [0u8; 15];
        let mut len = 0usize;
        for b in input.bytes().filter(|b| *b != b' ') {
            if len == 15 {
                return Err(NirError::Length(input.bytes().filter(|b| *b != b' ').count()));
            }
            raw[len] = b.to_ascii_uppercase();
            len += 1;
        }
        if len != 15 {
            return Err(NirError::Length(len));
        }
        for (i, b) in raw.iter().enumerate() {
            let corsica = i == 6 && raw[5] == b'2' && (*b == b'A' || *b == b'B');
            if !b.is_ascii_digit() && !corsica {
                return Err(NirError::Character {
                    position: i + 1,
                    expected: if i == 6 { "a digit, or A/B after 2 (Corsica)" } else { "a digit" },
                });
            }
        }
        if !matches!(raw[0], b'1' | b'2' | b'7' | b'8') {
            return Err(NirError::Sex);
        }
        let month = (raw[3] - b'0') * 10 + (raw[4] - b'0');
        if !(matches!(month, 1..=12 | 20..=42 | 50..=99)) {
            return Err(NirError::Month);
        }
        let mut body = [0u8; 13];
        body.copy_from_slice(&raw[..13]);
        let expected = key_of(&body);
        let given = (raw[13] - b'0') * 10 + (raw[14] - b'0');
        if given != expected {
            return Err(NirError::Key { expected });
        }
        Ok(Nir(raw))
    }

    /// Builds a NIR from its 13-character body, computing the key. Used by the generator.
    pub fn from_body(body13: &str) -> Result<Self, NirError> {
        let bytes = body13.as_bytes();
        if bytes.len() != 13 {
            return Err(NirError::Length(bytes.len()));
        }
        let mut body = [0u8; 13];
        body.copy_from_slice(bytes);
        let key = key_of(&body);
        let mut s = String::with_capacity(15);
        s.push_str(body13);
        s.push((b'0' + key / 10) as char);
        s.push((b'0' + key % 10) as char);
        Self::parse(&s)
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits and A/B are ever stored (checked in `parse`).
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    pub fn sex(&self) -> NirSex {
        if matches!(self.0[0], b'1' | b'7') { NirSex::Male } else { NirSex::Female }
    }

    /// The 5-character place-of-birth code (INSEE commune code, or 99 + country code).
    pub fn birth_place_code(&self) -> &str {
        &self.as_str()[5..10]
    }

    pub fn key(&self) -> u8 {
        (self.0[13] - b'0') * 10 + (self.0[14] - b'0')
    }
}

/// 97 − (N mod 97) where N is the 13-digit body read as an integer, `2A`→19, `2B`→18.
/// Never 0: when N mod 97 = 0 the key is 97. Returns 0 for bodies with other non-digits, which
/// no parse accepts since valid keys are 1..=97.
fn key_of(body: &[u8; 13]) -> u8 {
    let mut n: u64 = 0;
    for (i, b) in body.iter().enumerate() {
        let digits: &[u8] = match (i, *b) {
            (5, b'2') if matches!(body[6], b'A' | b'B') => b"1",
            (6, b'A') => b"9",
            (6, b'B') => b"8",
            (_, d) if d.is_ascii_digit() => std::slice::from_ref(b),
            _ => return 0,
        };
        for d in digits {
            n = n * 10 + u64::from(d - b'0');
        }
    }
    (97 - n % 97) as u8
}

impl FromStr for Nir {
    type Err = NirError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Nir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Redacted: a NIR must not end up in logs through `{:?}`.
impl fmt::Debug for Nir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nir({}•••••••••••••{:02})", self.0[0] as char, self.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Vectors from shared/research/anchors-audit-notify.md §B.5.
    const VALID: &[(&str, u8)] = &[
        ("2061275111005", 64),
        ("2550814168025", 38),
        ("1840376451089", 96),
        ("185122A004012", 85),
        ("192052B033098", 59),
        ("1850599125123", 86),
        ("2691197106043", 68),
        ("1850375056082", 97),
    ];

    #[test]
    fn published_vectors_have_their_keys() {
        for (body, key) in VALID {
            let nir = Nir::from_body(body).unwrap();
            assert_eq!(nir.key(), *key, "{body}");
            assert_eq!(Nir::parse(&format!("{body}{key:02}")).unwrap(), nir);
        }
    }

    #[test]
    fn wrong_keys_are_refused() {
        assert_eq!(Nir::parse("206127511100565"), Err(NirError::Key { expected: 64 }));
        assert_eq!(Nir::parse("185122A00401284"), Err(NirError::Key { expected: 85 }));
    }

    #[test]
    fn spaces_and_lowercase_corsica_are_accepted() {
        let nir = Nir::parse("1 85 12 2a 004 012 85").unwrap();
        assert_eq!(nir.as_str(), "185122A00401285");
        assert_eq!(nir.birth_place_code(), "2A004");
        assert_eq!(nir.sex(), NirSex::Male);
    }

    #[test]
    fn malformed_inputs_name_the_problem() {
        assert_eq!(Nir::parse(""), Err(NirError::Length(0)));
        assert_eq!(Nir::parse("1234"), Err(NirError::Length(4)));
        assert_eq!(Nir::parse("2061275111005641"), Err(NirError::Length(16)));
        assert!(matches!(Nir::parse("20612X5111005 64"), Err(NirError::Character { position: 6, .. })));
        assert_eq!(Nir::parse("306127511100564"), Err(NirError::Sex));
        assert_eq!(Nir::parse("206137511100564"), Err(NirError::Month));
        // A and B are only Corsica after a 2 in position 6.
        assert!(matches!(Nir::parse("185123A00401285"), Err(NirError::Character { position: 7, .. })));
        assert!(Nir::parse("1850599125123٨6").is_err());
    }

    #[test]
    fn debug_redacts_the_number() {
        let nir = Nir::parse("206127511100564").unwrap();
        let shown = format!("{nir:?}");
        assert!(!shown.contains("0612751110"), "{shown}");
    }

    proptest! {
        #[test]
        fn built_nirs_round_trip(sex in prop::sample::select(vec!['1','2','7','8']), yy in 0u8..100, mm in 1u8..13,
                                  dept in prop::sample::select(vec!["75","2A","2B","99","97","01","95"]),
                                  commune in 0u16..1000, order in 1u16..1000) {
            let body = format!("{sex}{yy:02}{mm:02}{dept}{commune:03}{order:03}");
            let nir = Nir::from_body(&body).unwrap();
            prop_assert!((1..=97).contains(&nir.key()));
            prop_assert_eq!(Nir::parse(&nir.to_string()).unwrap(), nir);
        }

        #[test]
        fn any_single_digit_change_breaks_the_key(idx in 0usize..13, delta in 1u8..10) {
            let nir = Nir::parse("184037645108996").unwrap();
            let mut s = nir.to_string().into_bytes();
            if s[idx].is_ascii_digit() {
                s[idx] = b'0' + (s[idx] - b'0' + delta) % 10;
                let changed = String::from_utf8(s).unwrap();
                prop_assert!(Nir::parse(&changed).is_err());
            }
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,20}") {
            let _ = Nir::parse(&s);
        }
    }
}
