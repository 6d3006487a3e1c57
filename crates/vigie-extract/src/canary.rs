//! Canary persons unique to one extract.
//!
//! Each is drawn by the synthetic registry's generator (real INSEE communes, French names, a
//! valid NIR, an address) from a seed keyed by the deployment's canary key and the extract, so
//! it looks like the rows around it; then its contact points are replaced by ones the deployment
//! watches: an e-mail address at the watched domain with four keyed digits, and a mobile number
//! of eight keyed digits. Nobody but Vigie can tell a canary from a real row, or one extract's
//! canaries from another's. They are added to the registry (as canaries: any later lookup or
//! read of one is a tripwire) and placed at keyed positions among the rows.
//!
//! Keyed bits, for the false-attribution bound of [`crate::attribute`]: a phone number carries
//! 26.58 bits (10⁸ values), the e-mail's digits 13.29 (10⁴); the rest of the row (names, birth
//! date, address) is counted as nothing, though it is keyed too.

use vigie_core::PersonId;
use vigie_core::extract::ExtractId;
use vigie_core::person::Person;
use vigie_gen::{GenParams, World};

use crate::keys::ExtractKeys;

/// Bits of keyed randomness in a canary's phone number.
pub const PHONE_BITS: f64 = 26.575_424_759; // log2(10^8)
/// Bits of keyed randomness in a canary's e-mail address.
pub const EMAIL_BITS: f64 = 13.287_712_379; // log2(10^4)

/// How many canaries an extract of `rows` persons carries: `per_mille` of its rows, at least
/// `min`.
pub fn count(rows: u64, per_mille: u32, min: u32) -> u32 {
    let k = (rows * u64::from(per_mille)).div_ceil(1000);
    u32::try_from(k).unwrap_or(u32::MAX).max(min)
}

/// One extract's canaries.
pub struct Canaries<'k> {
    keys: &'k ExtractKeys,
    extract: ExtractId,
    params: GenParams,
    world: World,
    domain: String,
}

impl std::fmt::Debug for Canaries<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Canaries").field("extract", &self.extract).finish_non_exhaustive()
    }
}

impl<'k> Canaries<'k> {
    /// `domain`: the mail domain whose inbox the deployment watches; `as_of`: the day ages are
    /// drawn for (the production's).
    pub fn new(keys: &'k ExtractKeys, extract: ExtractId, domain: &str, as_of: time::Date) -> Self {
        let seed = u64::from_be_bytes(first8(&keys.canary_prf(extract.get(), "seed", 0)));
        // A small world: the generator needs one for statuses; its organizations do not matter.
        let params = GenParams { seed, persons: 1_000, as_of };
        let world = vigie_gen::world(&params);
        Canaries { keys, extract, params, world, domain: domain.to_ascii_lowercase() }
    }

    /// Canary `n` (0-based). Its `id` is a placeholder until the registry assigns one.
    pub fn person(&self, n: u32) -> Person {
        let mut p = vigie_gen::person_at(&self.params, &self.world, u64::from(n) + 1).person;
        let x = self.extract.get();
        let phone = u64::from_be_bytes(first8(&self.keys.canary_prf(x, "phone", u64::from(n)))) % 100_000_000;
        let prefix = if phone % 10 < 7 { "06" } else { "07" };
        let d = format!("{phone:08}");
        p.phone = Some(format!("{prefix} {} {} {} {}", &d[0..2], &d[2..4], &d[4..6], &d[6..8]));
        let digits = u64::from_be_bytes(first8(&self.keys.canary_prf(x, "email", u64::from(n)))) % 10_000;
        let local = p
            .email
            .as_deref()
            .and_then(|e| e.split('@').next())
            .map(|l| l.trim_end_matches(|c: char| c.is_ascii_digit()).to_owned())
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| "contact".to_owned());
        p.email = Some(format!("{local}{digits:04}@{}", self.domain));
        p
    }

    /// Where the canaries go among `rows` real rows: canary `n` is written just before real row
    /// `positions[n]` (or at the end when it equals `rows`), sorted.
    pub fn positions(&self, rows: u64, count: u32) -> Vec<(u64, u32)> {
        let mut out: Vec<(u64, u32)> = (0..count)
            .map(|n| {
                let r = u64::from_be_bytes(first8(&self.keys.canary_prf(self.extract.get(), "position", u64::from(n))));
                (r % (rows + 1), n)
            })
            .collect();
        out.sort_unstable();
        out
    }
}

/// A phone number as compared: its digits only.
pub fn normalize_phone(s: &str) -> String {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    match digits.strip_prefix("33") {
        Some(rest) if rest.len() == 9 => format!("0{rest}"),
        _ => digits,
    }
}

/// An e-mail address as compared: trimmed, lower-case.
pub fn normalize_email(s: &str) -> String {
    s.trim().to_lowercase()
}

fn first8(b: &[u8; 32]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&b[..8]);
    out
}

/// A placeholder id for a canary not yet in the registry.
pub fn placeholder_id() -> PersonId {
    PersonId::new(i64::MAX as u64).unwrap_or_else(unreachable_id)
}

fn unreachable_id() -> PersonId {
    #[allow(clippy::expect_used, reason = "1 is a valid person id")]
    PersonId::new(1).expect("1 is a valid person id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canaries_are_plausible_keyed_and_differ_between_extracts() {
        let keys = ExtractKeys::from_secret(&[1; 32]);
        let day = time::macros::date!(2026 - 12 - 01);
        let a = Canaries::new(&keys, ExtractId::new(1).unwrap(), "veille.example.fr", day);
        let b = Canaries::new(&keys, ExtractId::new(2).unwrap(), "veille.example.fr", day);
        let (a0, b0) = (a.person(0), b.person(0));
        assert_ne!(a0.phone, b0.phone);
        assert_ne!((&a0.last_name, a0.birth_date), (&b0.last_name, b0.birth_date));
        assert_eq!(a0, a.person(0), "deterministic");
        let email = a0.email.clone().unwrap();
        assert!(email.ends_with("@veille.example.fr"), "{email}");
        let phone = normalize_phone(a0.phone.as_deref().unwrap());
        assert_eq!(phone.len(), 10, "{phone}");
        assert!(phone.starts_with("06") || phone.starts_with("07"));
        // Positions are sorted and within the rows.
        let pos = a.positions(1000, 20);
        assert_eq!(pos.len(), 20);
        assert!(pos.windows(2).all(|w| w[0] <= w[1]) && pos.iter().all(|(r, _)| *r <= 1000));
        assert_eq!(count(1_000_000, 10, 8), 10_000);
        assert_eq!(count(10, 10, 8), 8);
        assert_eq!(normalize_phone("+33 6 12 34 56 78"), "0612345678");
    }
}
