//! The embedded reference tables (communes, départements, first names, surnames, countries,
//! streets), parsed once on first use. The files under `data/` are built by `data/convert.py`
//! from public packages (see `data/README.md`); they are compiled into the crate with
//! `include_str!`, so nothing is read at run time. Parsing is lenient (a malformed line is skipped
//! and counted) and an empty table falls back to one built-in row, so loading never fails; the
//! unit tests check that no line of the shipped files is skipped.

use std::sync::OnceLock;

use vigie_core::person::Sex;

use crate::names::slug;
use crate::rng::Cumulative;

const COMMUNES: &str = include_str!("../data/communes.tsv");
const DEPARTEMENTS: &str = include_str!("../data/departements.tsv");
const PRENOMS: &str = include_str!("../data/prenoms.tsv");
const NOMS: &str = include_str!("../data/noms.tsv");
const PAYS: &str = include_str!("../data/pays.tsv");
const VOIES: &str = include_str!("../data/voies.tsv");

/// A commune (or a Paris/Lyon/Marseille arrondissement) with its INSEE code.
#[derive(Debug)]
pub(crate) struct Commune {
    pub code: &'static str,
    pub name: &'static str,
    /// Index into [`Data::depts`].
    pub dept: usize,
    /// Comma-separated postcodes (most communes have one).
    pub postcodes: &'static str,
    pub population: u64,
}

impl Commune {
    /// The name used on a postal address: "Paris" rather than "Paris 11e Arrondissement".
    pub(crate) fn postal_name(&self) -> &'static str {
        match self.name.split_once(' ') {
            Some((city, rest)) if rest.ends_with("Arrondissement") => city,
            _ => self.name,
        }
    }

    /// The name for organization and session labels: "Paris 15e" rather than
    /// "Paris 15e Arrondissement".
    pub(crate) fn short_name(&self) -> &'static str {
        self.name.strip_suffix(" Arrondissement").unwrap_or(self.name)
    }
}

#[derive(Debug)]
pub(crate) struct Dept {
    pub code: &'static str,
    pub region: &'static str,
    pub name: &'static str,
    /// This département's communes: `first..end` in [`Data::communes`] (sorted by département).
    pub first: usize,
    pub end: usize,
    pub population: u64,
}

#[derive(Debug)]
pub(crate) struct Name {
    pub text: &'static str,
    /// Lowercase ASCII form for e-mails and logins.
    pub slug: Box<str>,
}

/// Names with their weights.
#[derive(Debug, Default)]
pub(crate) struct NameTable {
    pub names: Vec<Name>,
    pub cum: Cumulative,
}

/// First names by sex and birth decade (the decade's first year, e.g. 1981 for 1981-1990).
#[derive(Debug)]
pub(crate) struct FirstNames {
    pub tables: Vec<(Sex, i32, NameTable)>,
}

#[derive(Debug)]
pub(crate) struct Weighted {
    pub items: Vec<(&'static str, &'static str)>,
    pub cum: Cumulative,
}

#[derive(Debug)]
pub(crate) struct Data {
    pub communes: Vec<Commune>,
    /// Cumulative population over `communes`.
    pub population: Cumulative,
    pub depts: Vec<Dept>,
    pub first_names: FirstNames,
    pub last_names: NameTable,
    /// (code `99xxx`, name) by weight.
    pub countries: Weighted,
    /// (street type, "") by weight.
    pub street_types: Weighted,
    /// (street name, "") by weight.
    pub street_names: Weighted,
    /// Lines of the embedded files that could not be parsed (0 for the shipped files).
    #[cfg_attr(not(test), expect(dead_code, reason = "checked by the tests"))]
    pub skipped: usize,
}

/// The parsed tables, built on first use.
pub(crate) fn data() -> &'static Data {
    static DATA: OnceLock<Data> = OnceLock::new();
    DATA.get_or_init(load)
}

fn lines(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines().filter(|l| !l.is_empty() && !l.starts_with('#'))
}

fn load() -> Data {
    let mut skipped = 0;
    let mut depts: Vec<Dept> = Vec::new();
    for line in lines(DEPARTEMENTS) {
        match line.split('\t').collect::<Vec<_>>()[..] {
            [code, region, name] => depts.push(Dept { code, region, name, first: 0, end: 0, population: 0 }),
            _ => skipped += 1,
        }
    }
    let mut communes = Vec::new();
    let mut weights = Vec::new();
    for line in lines(COMMUNES) {
        let fields: Vec<&str> = line.split('\t').collect();
        let parsed = match fields[..] {
            [code, name, dept, postcodes, pop] => {
                let dept = depts.iter().position(|d| d.code == dept);
                let pop = pop.parse::<u64>().ok();
                let ok = code.len() == 5 && code.is_ascii() && !postcodes.is_empty();
                dept.zip(pop).filter(|_| ok).map(|(dept, population)| Commune {
                    code,
                    name,
                    dept,
                    postcodes,
                    population,
                })
            }
            _ => None,
        };
        match parsed {
            // Communes must come grouped by département (the file is sorted that way).
            Some(c) if communes.last().is_none_or(|p: &Commune| p.dept <= c.dept) => {
                weights.push(c.population);
                communes.push(c);
            }
            _ => skipped += 1,
        }
    }
    if communes.is_empty() || depts.is_empty() {
        depts = vec![Dept { code: "75", region: "11", name: "Paris", first: 0, end: 0, population: 0 }];
        communes = vec![Commune {
            code: "75101",
            name: "Paris 1er Arrondissement",
            dept: 0,
            postcodes: "75001",
            population: 1,
        }];
        weights = vec![1];
    }
    for (i, (c, w)) in communes.iter().zip(&weights).enumerate() {
        let d = &mut depts[c.dept];
        if d.end == 0 {
            d.first = i;
        }
        d.end = i + 1;
        d.population += w;
    }
    let (first_names, s1) = parse_first_names();
    let (last_names, s2) = parse_names(lines(NOMS), ("Martin", 1));
    let (countries, s3) = parse_weighted(lines(PAYS), true, ("99350", "Maroc"));
    let (street_types, street_names, s4) = parse_streets();
    Data {
        population: Cumulative::new(weights),
        communes,
        depts,
        first_names,
        last_names,
        countries,
        street_types,
        street_names,
        skipped: skipped + s1 + s2 + s3 + s4,
    }
}

/// `name\tweight` lines.
fn parse_names(lines: impl Iterator<Item = &'static str>, fallback: (&'static str, u64)) -> (NameTable, usize) {
    let mut skipped = 0;
    let mut pairs = Vec::new();
    for line in lines {
        match line.split_once('\t').and_then(|(n, w)| Some((n, w.parse::<u64>().ok()?))) {
            Some((n, w)) if !n.is_empty() && !slug(n).is_empty() => pairs.push((n, w)),
            _ => skipped += 1,
        }
    }
    if pairs.is_empty() {
        pairs.push(fallback);
    }
    let cum = Cumulative::new(pairs.iter().map(|p| p.1));
    let names = pairs.into_iter().map(|(text, _)| Name { text, slug: slug(text).into_boxed_str() }).collect();
    (NameTable { names, cum }, skipped)
}

fn parse_first_names() -> (FirstNames, usize) {
    let mut skipped = 0;
    let mut tables = Vec::new();
    let mut header: Option<(Sex, i32)> = None;
    let mut body: Vec<&'static str> = Vec::new();
    let mut flush = |header: Option<(Sex, i32)>, body: &mut Vec<&'static str>, skipped: &mut usize| {
        if let Some((sex, decade)) = header {
            let fallback = if sex == Sex::Male { ("Jean", 1) } else { ("Marie", 1) };
            let (t, s) = parse_names(body.drain(..), fallback);
            *skipped += s;
            tables.push((sex, decade, t));
        }
    };
    for line in lines(PRENOMS) {
        if let Some(rest) = line.strip_prefix("@ ") {
            flush(header, &mut body, &mut skipped);
            header = match rest.split_once(' ') {
                Some((sex, decade)) => Sex::parse(sex).zip(decade.parse::<i32>().ok()),
                None => None,
            };
            if header.is_none() {
                skipped += 1;
            }
        } else if header.is_some() {
            body.push(line);
        } else {
            skipped += 1;
        }
    }
    flush(header, &mut body, &mut skipped);
    for sex in [Sex::Male, Sex::Female] {
        if !tables.iter().any(|t| t.0 == sex) {
            let fallback = if sex == Sex::Male { "Jean\t1" } else { "Marie\t1" };
            tables.push((sex, 1951, parse_names(std::iter::once(fallback), ("Camille", 1)).0));
        }
    }
    tables.sort_by_key(|t| (t.0 == Sex::Female, t.1));
    (FirstNames { tables }, skipped)
}

/// `a\tweight` or (with `two`) `a\tb\tweight` lines.
fn parse_weighted(
    lines: impl Iterator<Item = &'static str>,
    two: bool,
    fallback: (&'static str, &'static str),
) -> (Weighted, usize) {
    let mut skipped = 0;
    let mut items = Vec::new();
    let mut weights = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        let parsed = match (two, &f[..]) {
            (true, [a, b, w]) => w.parse::<u64>().ok().map(|w| ((*a, *b), w)),
            (false, [a, w]) => w.parse::<u64>().ok().map(|w| ((*a, ""), w)),
            _ => None,
        };
        match parsed {
            Some((item, w)) => {
                items.push(item);
                weights.push(w);
            }
            None => skipped += 1,
        }
    }
    if items.is_empty() {
        items.push(fallback);
        weights.push(1);
    }
    (Weighted { items, cum: Cumulative::new(weights) }, skipped)
}

fn parse_streets() -> (Weighted, Weighted, usize) {
    let (mut types, mut names, mut skipped) = (Vec::new(), Vec::new(), 0);
    let mut section = "";
    for line in lines(VOIES) {
        match line.strip_prefix("@ ") {
            Some(s) => section = s,
            None if section == "type" => types.push(line),
            None if section == "nom" => names.push(line),
            None => skipped += 1,
        }
    }
    let (t, s1) = parse_weighted(types.into_iter(), false, ("rue", ""));
    let (n, s2) = parse_weighted(names.into_iter(), false, ("de la Gare", ""));
    (t, n, skipped + s1 + s2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_tables_parse_completely() {
        let d = data();
        assert_eq!(d.skipped, 0);
        assert_eq!(d.communes.len(), lines(COMMUNES).count());
        assert_eq!(d.depts.len(), 101);
        assert_eq!(d.last_names.names.len(), 30_000);
        assert_eq!(d.first_names.tables.len(), 16);
        assert!(d.countries.items.len() >= 22);
        assert!(d.street_types.items.len() >= 10 && d.street_names.items.len() >= 50);
        // Every département has communes and population; codes are unique.
        for dept in &d.depts {
            assert!(dept.end > dept.first && dept.population > 0, "{}", dept.code);
        }
        let codes: std::collections::HashSet<_> = d.communes.iter().map(|c| c.code).collect();
        assert_eq!(codes.len(), d.communes.len());
        assert!(d.population.total() > 60_000_000);
    }

    #[test]
    fn well_known_rows_are_there() {
        let d = data();
        let find = |code: &str| d.communes.iter().find(|c| c.code == code).unwrap();
        assert_eq!(find("75111").postal_name(), "Paris");
        assert_eq!(find("75111").postcodes, "75011");
        assert_eq!(find("75111").short_name(), "Paris 11e");
        assert_eq!(find("38185").short_name(), "Grenoble");
        assert_eq!(find("38185").name, "Grenoble");
        assert_eq!(d.depts[find("2A004").dept].code, "2A");
        assert_eq!(d.depts[find("97105").dept].code, "971");
        assert!(d.countries.items.contains(&("99410", "Haïti")));
        assert!(d.countries.items.contains(&("99352", "Algérie")));
        assert_eq!(d.last_names.names[0].text, "Martin");
    }
}
