//! Naming the extract a leaked file came from, from the whole file or any fragment of it.
//!
//! Two marks, neither of which alters a real person's values:
//! - **Pseudonyms.** A cell that opens as a pseudonym ([`crate::pseudonym`]) names its extract
//!   outright. A cell Vigie did not make opens only if its last 32 bits decrypt to zeros
//!   (2⁻³²) and its extract number is one that exists (N in 2³²): at most `n·N·2⁻⁶⁴` over `n`
//!   cells.
//! - **Canaries**, for rows whose identifier columns were removed. A row matches a canary of
//!   extract X when its phone or its e-mail equals the canary's; those carry `b` keyed bits
//!   (26.58 for the phone, 13.29 for the e-mail, both when both match). A row that is not X's
//!   canary matches one of X's `K_X` canaries with probability at most `K_X·2⁻ᵇ` (the keyed
//!   values are independent of everything else). The probability that `m` or more of the `n`
//!   rows match X's canaries by chance is at most `C(n, m)·Π K_X·2⁻ᵇⁱ ≤ nᵐ/m!·Π K_X·2⁻ᵇⁱ`, and over
//!   the `N` extracts that exist, `N` times that: the bound reported. An extract is named only
//!   when its bound is below 10⁻⁶.

use std::collections::{BTreeMap, HashSet};

use vigie_core::extract::ExtractId;

use crate::ExtractError;
use crate::canary::{EMAIL_BITS, PHONE_BITS, normalize_email, normalize_phone};
use crate::pseudonym::{Pseudonyms, Subject};

/// The false attribution probability under which an extract is named.
pub const THRESHOLD: f64 = 1e-6;

/// What attribution needs to know of the deployment's extracts.
pub trait Known {
    /// How many extracts exist (N).
    fn extracts(&self) -> u64;
    /// Whether this extract exists.
    fn exists(&self, extract: ExtractId) -> bool;
    /// How many canaries this extract carries (K_X).
    fn canaries_of(&self, extract: ExtractId) -> u64;
    /// The canaries (extract, number) whose phone is this (normalized digits).
    fn by_phone(&self, phone: &str) -> Vec<(ExtractId, u32)>;
    /// The canaries whose e-mail is this (normalized).
    fn by_email(&self, email: &str) -> Vec<(ExtractId, u32)>;
}

/// The evidence for one extract.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evidence {
    /// Rows holding one of its pseudonyms.
    pub pseudonym_rows: u64,
    /// Its canaries found, with the keyed bits of the best match of each.
    pub canaries: BTreeMap<u32, f64>,
    /// log10 of the bound on a false attribution (pseudonyms and canaries, the stronger).
    pub log10_false: f64,
}

impl Evidence {
    pub fn named(&self) -> bool {
        self.log10_false < THRESHOLD.log10()
    }
}

/// The result of reading a leaked file.
#[derive(Clone, Debug, Default)]
pub struct Attribution {
    /// Data rows read (the header, if any, is not counted).
    pub rows: u64,
    pub per_extract: BTreeMap<ExtractId, Evidence>,
}

impl Attribution {
    /// The extracts named (bound below [`THRESHOLD`]), strongest first.
    pub fn named(&self) -> Vec<(ExtractId, &Evidence)> {
        let mut out: Vec<_> = self.per_extract.iter().filter(|(_, e)| e.named()).map(|(x, e)| (*x, e)).collect();
        out.sort_by(|a, b| a.1.log10_false.total_cmp(&b.1.log10_false));
        out
    }
}

/// Reads a leaked CSV (any columns, any order, with or without its header; `,` or `;`).
pub fn attribute(leak: &[u8], pseudonyms: &Pseudonyms, known: &dyn Known) -> Result<Attribution, ExtractError> {
    let delimiter = if leak.iter().filter(|b| **b == b';').count() > leak.iter().filter(|b| **b == b',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(leak);
    let mut out = Attribution::default();
    let mut cells = 0u64;
    let mut record = csv::ByteRecord::new();
    let mut seen_canaries: HashSet<(ExtractId, u32)> = HashSet::new();
    let mut first = true;
    while reader.read_byte_record(&mut record).map_err(|e| ExtractError::Leak(e.to_string()))? {
        let is_header = first && record.iter().any(|c| c == b"ref" || c == b"last_name" || c == b"email");
        first = false;
        if is_header {
            continue;
        }
        out.rows += 1;
        let mut row_pseudonym: Option<ExtractId> = None;
        // Canary matches of this row: (extract, canary) → bits.
        let mut row_canaries: BTreeMap<(ExtractId, u32), f64> = BTreeMap::new();
        for cell in record.iter() {
            cells += 1;
            let Ok(text) = std::str::from_utf8(cell) else { continue };
            let text = text.trim();
            if text.starts_with("vx") && text.len() == 28 {
                if let Some((x, subject)) = pseudonyms.open(text).filter(|(x, _)| known.exists(*x)) {
                    row_pseudonym = Some(x);
                    if let Subject::Canary(n) = subject {
                        row_canaries.entry((x, n)).or_insert(f64::INFINITY);
                    }
                }
                continue;
            }
            if text.contains('@') {
                for c in known.by_email(&normalize_email(text)) {
                    *row_canaries.entry(c).or_insert(0.0) += EMAIL_BITS;
                }
                continue;
            }
            let phone = normalize_phone(text);
            if phone.len() == 10 && (phone.starts_with("06") || phone.starts_with("07")) {
                for c in known.by_phone(&phone) {
                    *row_canaries.entry(c).or_insert(0.0) += PHONE_BITS;
                }
            }
        }
        if let Some(x) = row_pseudonym {
            out.per_extract.entry(x).or_default().pseudonym_rows += 1;
        }
        for ((x, n), bits) in row_canaries {
            if seen_canaries.insert((x, n)) || out.per_extract.get(&x).and_then(|e| e.canaries.get(&n)) < Some(&bits) {
                out.per_extract.entry(x).or_default().canaries.insert(n, bits);
            }
        }
    }
    let n_extracts = known.extracts().max(1) as f64;
    let n = (out.rows.max(1)) as f64;
    for (x, evidence) in &mut out.per_extract {
        // Pseudonyms: m valid cells out of `cells`, each ≤ N·2⁻⁶⁴ by chance.
        let m = evidence.pseudonym_rows as f64;
        let per_cell = (n_extracts.log10() - 64.0 * 2f64.log10()).min(0.0);
        let pseudonym_bound =
            if m > 0.0 { m * ((cells.max(1) as f64).log10() + per_cell) - log10_factorial(m) } else { 0.0 };
        // Canaries: nᵐ/m!·Π K_X·2⁻ᵇ, times N.
        let k = known.canaries_of(*x).max(1) as f64;
        let mut canary_bound = 0.0;
        let mc = evidence.canaries.len() as f64;
        if mc > 0.0 {
            let mut sum = 0.0;
            for bits in evidence.canaries.values() {
                let b = if bits.is_infinite() { 64.0 } else { *bits };
                sum += (n.log10() + k.log10() - b * 2f64.log10()).min(n.log10());
            }
            canary_bound = n_extracts.log10() + sum - log10_factorial(mc);
        }
        evidence.log10_false = pseudonym_bound.min(canary_bound).min(0.0);
    }
    Ok(out)
}

fn log10_factorial(m: f64) -> f64 {
    (1..=(m as u64)).map(|i| (i as f64).log10()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::ExtractKeys;
    use std::collections::HashMap;
    use vigie_core::PersonId;

    #[derive(Default)]
    struct Fake {
        phones: HashMap<String, Vec<(ExtractId, u32)>>,
        emails: HashMap<String, Vec<(ExtractId, u32)>>,
        n: u64,
        k: u64,
    }

    impl Known for Fake {
        fn extracts(&self) -> u64 {
            self.n
        }
        fn exists(&self, x: ExtractId) -> bool {
            u64::from(x.get()) <= self.n
        }
        fn canaries_of(&self, _: ExtractId) -> u64 {
            self.k
        }
        fn by_phone(&self, p: &str) -> Vec<(ExtractId, u32)> {
            self.phones.get(p).cloned().unwrap_or_default()
        }
        fn by_email(&self, e: &str) -> Vec<(ExtractId, u32)> {
            self.emails.get(e).cloned().unwrap_or_default()
        }
    }

    #[test]
    fn one_pseudonym_names_its_extract_and_junk_names_none() {
        let keys = ExtractKeys::from_secret(&[9; 32]);
        let ps = Pseudonyms::new(&keys);
        let x = ExtractId::new(5).unwrap();
        let known = Fake { n: 1000, k: 100, ..Fake::default() };
        let r = ps.make(x, Subject::Person(PersonId::new(77).unwrap()));
        let leak = format!("{r},Martin,Camille\r\n");
        let a = attribute(leak.as_bytes(), &ps, &known).unwrap();
        assert_eq!(a.named().first().map(|(x, _)| *x), Some(x));
        let junk = "vxaaaaaaaaaaaaaaaaaaaaaaaaaa,Martin\r\n06 12 34 56 78,x@y.fr\r\n";
        assert!(attribute(junk.as_bytes(), &ps, &known).unwrap().named().is_empty());
    }

    #[test]
    fn canary_matches_name_the_extract_only_when_the_bound_is_small() {
        let keys = ExtractKeys::from_secret(&[9; 32]);
        let ps = Pseudonyms::new(&keys);
        let x = ExtractId::new(3).unwrap();
        let mut known = Fake { n: 1000, k: 10_000, ..Fake::default() };
        let mut leak = String::from("last_name,first_name,email,phone\r\n");
        for i in 0..1000u32 {
            let phone = format!("06{:08}", 10_000_000 + i);
            let email = format!("p{i}@mail.fr");
            if i % 100 == 0 {
                known.phones.insert(phone.clone(), vec![(x, i)]);
                known.emails.insert(email.clone(), vec![(x, i)]);
            }
            leak.push_str(&format!("Nom{i},Prénom,{email},{phone}\r\n"));
        }
        let a = attribute(leak.as_bytes(), &ps, &known).unwrap();
        let named = a.named();
        assert_eq!(named.len(), 1);
        assert_eq!(named[0].0, x);
        assert_eq!(named[0].1.canaries.len(), 10);
        assert!(named[0].1.log10_false < -6.0, "{}", named[0].1.log10_false);
        // One phone match among 1000 rows against 10 000 canaries: not enough.
        let mut one = Fake { n: 1000, k: 10_000, ..Fake::default() };
        one.phones.insert("0610000000".into(), vec![(x, 0)]);
        let b = attribute(leak.as_bytes(), &ps, &one).unwrap();
        assert!(b.named().is_empty(), "{:?}", b.per_extract);
    }
}
