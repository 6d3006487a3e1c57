//! Names and contact details: first names by sex and birth decade, surnames with their real
//! frequency ranks (so homonyms occur as they do in France), the ASCII forms used in e-mail
//! addresses and logins, the typos and name-of-use changes of re-registrations, and mobile
//! numbers.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use vigie_core::person::Sex;

use crate::data::{Data, Name, NameTable};
use crate::rng::chance;

/// Free e-mail providers with rough market weights.
const PROVIDERS: [(&str, u32); 9] = [
    ("gmail.com", 30),
    ("orange.fr", 18),
    ("hotmail.fr", 12),
    ("free.fr", 10),
    ("laposte.net", 6),
    ("sfr.fr", 6),
    ("outlook.fr", 7),
    ("yahoo.fr", 7),
    ("wanadoo.fr", 4),
];

/// Lowercase ASCII form of a name: accents folded, spaces and hyphens kept as single `-`,
/// apostrophes and other signs dropped ("Marie-Hélène" → "marie-helene", "N'Diaye" → "ndiaye").
pub(crate) fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        let folded: &str = match ch {
            'a'..='z' | '0'..='9' => {
                out.push(ch);
                continue;
            }
            'A'..='Z' => {
                out.push(ch.to_ascii_lowercase());
                continue;
            }
            'à' | 'â' | 'ä' | 'á' | 'ã' | 'å' | 'À' | 'Â' | 'Ä' | 'Á' => "a",
            'ç' | 'Ç' => "c",
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => "e",
            'î' | 'ï' | 'í' | 'ì' | 'Î' | 'Ï' => "i",
            'ô' | 'ö' | 'ó' | 'ò' | 'õ' | 'Ô' | 'Ö' => "o",
            'ù' | 'û' | 'ü' | 'ú' | 'Ù' | 'Û' | 'Ü' => "u",
            'ÿ' | 'ý' | 'Ÿ' => "y",
            'ñ' | 'Ñ' => "n",
            'æ' | 'Æ' => "ae",
            'œ' | 'Œ' => "oe",
            'ß' => "ss",
            ' ' | '-' | '_' | '.' => {
                if !out.is_empty() && !out.ends_with('-') {
                    out.push('-');
                }
                continue;
            }
            _ => continue,
        };
        out.push_str(folded);
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// The first-name table for a sex and birth year (the nearest decade the data covers).
fn first_name_table(data: &Data, sex: Sex, birth_year: i32) -> Option<&NameTable> {
    let tables = &data.first_names.tables;
    let mut best: Option<&NameTable> = None;
    for (s, decade, table) in tables {
        if *s == sex && (best.is_none() || *decade <= birth_year) {
            best = Some(table);
        }
    }
    best
}

/// A first name for this sex and birth year, drawn by its frequency in that decade. With `rare`,
/// drawn uniformly from the less frequent half of the list instead (canaries).
pub(crate) fn first_name<'d>(data: &'d Data, rng: &mut ChaCha8Rng, sex: Sex, birth_year: i32, rare: bool) -> &'d Name {
    let table = first_name_table(data, sex, birth_year).unwrap_or(&data.last_names);
    pick(table, rng, rare)
}

/// A surname drawn by frequency (uniformly among the rarest third with `rare`).
pub(crate) fn last_name<'d>(data: &'d Data, rng: &mut ChaCha8Rng, rare: bool) -> &'d Name {
    pick(&data.last_names, rng, rare)
}

fn pick<'d>(table: &'d NameTable, rng: &mut ChaCha8Rng, rare: bool) -> &'d Name {
    let n = table.names.len();
    let i = if rare && n > 3 { rng.gen_range(n * 2 / 3..n) } else { table.cum.sample(rng) };
    &table.names[i.min(n.saturating_sub(1))]
}

/// Whether `name` is one of the first names of this sex in the data (any decade).
#[cfg(test)]
pub(crate) fn is_first_name_of(data: &Data, sex: Sex, name: &str) -> bool {
    data.first_names.tables.iter().any(|(s, _, t)| *s == sex && t.names.iter().any(|n| n.text == name))
}

/// A plausible data-entry error: a dropped, doubled, swapped or replaced letter, or accents lost.
pub(crate) fn typo(rng: &mut ChaCha8Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let letters: Vec<usize> = (0..chars.len()).filter(|&i| chars[i].is_alphabetic()).collect();
    if letters.len() < 3 {
        return format!("{text}e");
    }
    let accents = chars.iter().any(|c| !c.is_ascii());
    let at = letters[rng.gen_range(1..letters.len())];
    match rng.gen_range(0..5) {
        0 if accents => {
            let folded: String = text.chars().map(fold_accent).collect();
            return folded;
        }
        0 | 1 => {
            chars.remove(at);
        }
        2 => chars.insert(at, chars[at]),
        3 if at + 1 < chars.len() && chars[at + 1].is_alphabetic() && chars[at] != chars[at + 1] => {
            chars.swap(at, at + 1)
        }
        _ => {
            const NEAR: &[(char, char)] =
                &[('e', 'a'), ('a', 'e'), ('i', 'y'), ('y', 'i'), ('n', 'm'), ('m', 'n'), ('t', 'd'), ('d', 't')];
            let c = chars[at];
            chars[at] = NEAR.iter().find(|p| p.0 == c).map_or(if c == 's' { 'z' } else { 's' }, |p| p.1);
        }
    }
    let out: String = chars.into_iter().collect();
    if out == text { format!("{text}e") } else { out }
}

fn fold_accent(c: char) -> char {
    let mut buf = [0u8; 4];
    match slug(c.encode_utf8(&mut buf)).chars().next() {
        Some(f) if c.is_uppercase() => f.to_ascii_uppercase(),
        Some(f) if !c.is_ascii() => f,
        _ => c,
    }
}

/// Appends `n` in decimal, zero-padded to `width` digits.
pub(crate) fn push_num(out: &mut String, n: u64, width: usize) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for _ in (buf.len() - i)..width {
        out.push('0');
    }
    for &b in &buf[i..] {
        out.push(b as char);
    }
}

/// A personal e-mail address `prenom.nom{n}@provider` and its variants, ASCII only.
pub(crate) fn email(rng: &mut ChaCha8Rng, first: &str, last: &str, birth_year: i32) -> String {
    let mut out = String::with_capacity(first.len() + last.len() + 16);
    let roll = rng.gen_range(0..100);
    match roll {
        0..=9 => {
            out.push_str(first.get(..1).unwrap_or(first));
            out.push('.');
            out.push_str(last);
        }
        10..=14 => {
            out.push_str(last);
            out.push('.');
            out.push_str(first);
        }
        15..=19 => {
            out.push_str(first);
            out.push_str(last);
        }
        _ => {
            out.push_str(first);
            out.push('.');
            out.push_str(last);
        }
    }
    match rng.gen_range(0..100) {
        0..=34 => {}
        35..=59 => push_num(&mut out, birth_year.rem_euclid(100) as u64, 2),
        60..=74 => push_num(&mut out, birth_year.max(0) as u64, 4),
        _ => push_num(&mut out, rng.gen_range(1..1000), 1),
    }
    out.push('@');
    let total: u32 = PROVIDERS.iter().map(|p| p.1).sum();
    let mut u = rng.gen_range(0..total);
    for (domain, w) in PROVIDERS {
        if u < w {
            out.push_str(domain);
            return out;
        }
        u -= w;
    }
    out.push_str("gmail.com");
    out
}

/// A French mobile number, "06 12 34 56 78" (06 or 07).
pub(crate) fn mobile(rng: &mut ChaCha8Rng) -> String {
    let mut out = String::with_capacity(14);
    out.push_str(if chance(rng, 0.7) { "06" } else { "07" });
    for _ in 0..4 {
        out.push(' ');
        push_num(&mut out, rng.gen_range(0..100), 2);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::data;
    use crate::rng::{Stream, rng_for};

    #[test]
    fn slugs_are_lowercase_ascii() {
        assert_eq!(slug("Marie-Hélène"), "marie-helene");
        assert_eq!(slug("N'Diaye"), "ndiaye");
        assert_eq!(slug("Martin De Chamas"), "martin-de-chamas");
        assert_eq!(slug("Œuvray  Lætitia"), "oeuvray-laetitia");
        assert_eq!(slug("Zoé "), "zoe");
        for t in &data().last_names.names {
            assert!(t.slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'), "{}", t.text);
        }
    }

    #[test]
    fn typos_change_the_name_a_little() {
        let mut rng = rng_for(1, Stream::Edit, 1);
        for name in ["Martin", "Hélène", "Lefebvre", "Li", "Ba"] {
            for _ in 0..50 {
                let t = typo(&mut rng, name);
                assert_ne!(t, name);
                let (a, b) = (t.chars().count() as i64, name.chars().count() as i64);
                assert!((a - b).abs() <= 1, "{name} -> {t}");
            }
        }
    }

    #[test]
    fn emails_and_phones_look_right() {
        let mut rng = rng_for(1, Stream::Identity, 1);
        for _ in 0..200 {
            let e = email(&mut rng, "jean-pierre", "martin", 1984);
            let (local, domain) = e.split_once('@').unwrap();
            assert!(local.contains("martin") && local.is_ascii() && PROVIDERS.iter().any(|p| p.0 == domain), "{e}");
            let p = mobile(&mut rng);
            assert_eq!(p.len(), 14);
            assert!(p.starts_with("06 ") || p.starts_with("07 "), "{p}");
        }
        let mut s = String::new();
        push_num(&mut s, 7, 3);
        push_num(&mut s, 1234, 2);
        assert_eq!(s, "0071234");
    }

    #[test]
    fn first_names_follow_the_decade() {
        let d = data();
        let mut rng = rng_for(3, Stream::Identity, 3);
        let old: Vec<_> = (0..300).map(|_| first_name(d, &mut rng, Sex::Female, 1958, false).text).collect();
        let young: Vec<_> = (0..300).map(|_| first_name(d, &mut rng, Sex::Female, 2008, false).text).collect();
        assert!(old.iter().all(|n| is_first_name_of(d, Sex::Female, n)));
        let emmas = |v: &[&str]| v.iter().filter(|n| ["Emma", "Léa", "Chloé", "Manon", "Jade"].contains(n)).count();
        assert!(emmas(&young) > emmas(&old), "{} vs {}", emmas(&young), emmas(&old));
    }
}
