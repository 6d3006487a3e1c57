//! The mail-merge file: one row per person to write to, for a printer's or a word processor's
//! mail merge. RFC 4180 (comma, CRLF, quotes doubled), UTF-8 with a byte order mark so that
//! spreadsheet software reads accents right. It holds what the letter holds: address and which
//! categories were seen, never the data that was seen.

use std::io::{self, Write};

use vigie_core::DataCategory;
use vigie_core::incident::frtime;
use vigie_core::incident::notice::{LetterKind, Recipient};
use vigie_core::incident::scope::Exposed;
use vigie_core::person::Sex;

pub const HEADER: [&str; 13] = [
    "reference",
    "civilite",
    "prenom",
    "nom",
    "adresse",
    "code_postal",
    "commune",
    "courriel",
    "modele",
    "donnees_vues",
    "premiere_consultation",
    "derniere_consultation",
    "fiches",
];

/// Writes the byte order mark and the header row.
pub fn start(out: &mut impl Write) -> io::Result<()> {
    out.write_all("\u{feff}".as_bytes())?;
    row(out, HEADER.iter().map(|s| s.to_string()))
}

fn field(out: &mut impl Write, s: &str) -> io::Result<()> {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(['=', '+', '-', '@']) {
        // Quoted; a leading formula character is neutralised (CSV injection in spreadsheets).
        let body = s.replace('"', "\"\"");
        let body = if s.starts_with(['=', '+', '-', '@']) { format!("'{body}") } else { body };
        write!(out, "\"{body}\"")
    } else {
        out.write_all(s.as_bytes())
    }
}

fn row(out: &mut impl Write, fields: impl Iterator<Item = String>) -> io::Result<()> {
    for (i, f) in fields.enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        field(out, &f)?;
    }
    out.write_all(b"\r\n")
}

/// One person's row.
pub fn person(out: &mut impl Write, reference: &str, e: &Exposed, r: &Recipient) -> io::Result<()> {
    let seen: Vec<&str> = e
        .categories
        .iter()
        .map(|c| match c {
            DataCategory::Identity => "identite",
            DataCategory::Nir => "nir",
            DataCategory::Contact => "coordonnees",
            DataCategory::Status => "inscription",
            DataCategory::Sensitive => "rqth",
        })
        .collect();
    row(
        out,
        [
            reference.to_owned(),
            match r.sex {
                Sex::Female => "Madame".into(),
                Sex::Male => "Monsieur".into(),
            },
            r.first_name.clone(),
            r.last_name.clone(),
            r.street.clone(),
            r.postcode.clone(),
            r.commune.clone(),
            r.email.clone().unwrap_or_default(),
            LetterKind::of(e.categories).as_str().to_owned(),
            seen.join(" "),
            frtime::short(e.first),
            frtime::short(e.last),
            e.records.iter().map(|(p, _)| p.to_string()).collect::<Vec<_>>().join(" "),
        ]
        .into_iter(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_neutralised() {
        let mut out = Vec::new();
        row(&mut out, ["a".to_string(), "b,c".into(), "d\"e".into(), "=SUM(A1)".into(), "-2".into()].into_iter())
            .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "a,\"b,c\",\"d\"\"e\",\"'=SUM(A1)\",\"'-2\"\r\n");
    }
}
