//! Searching within one's own scope: a name or a person's number typed by an agent, matched
//! against the persons its relationships reach, never beyond. The search only *filters* the
//! scope's pages ([`Registry::scope_page`]), so it cannot widen what the agent reaches: the
//! "no browsing" invariant (outside relationships, exact identifiers only) is untouched, and a
//! person outside the scope is never found, whatever is typed.
//!
//! Matching is on folded text (lower case, French accents, apostrophes and hyphens taken
//! off), every word of the query a prefix of a word of "last name first name", so "dup je"
//! finds Jean-Pierre Dupont; a query that is a person's number (`P123`) finds that person if
//! the scope holds it. The query is never ledgered (a name is personal data; the ledger holds
//! ids): what is ledgered is what the guard releases, each match as a line of the scope list.

use crate::ids::PersonId;
use crate::person::ScopeEntry;
use crate::ports::{Registry, StoreError};
use crate::relationship::Relationship;

/// At most this many persons of the scope are looked at for one page of results: a search in
/// a very large scope goes on from where it stopped on the next page, rather than holding a
/// request for the whole scope.
pub const SCAN_CAP: usize = 20_000;

/// A query as typed, parsed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScopeQuery {
    /// A person's number.
    Person(PersonId),
    /// Words, folded, each a prefix of a word of the name.
    Words(Vec<String>),
}

/// Why a query is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the search is empty")]
    Empty,
    #[error("the search is longer than {MAX_QUERY} characters")]
    TooLong,
    #[error("the search holds a control character")]
    Control,
}

/// The longest query, in characters.
pub const MAX_QUERY: usize = 64;

impl ScopeQuery {
    pub fn parse(raw: &str) -> Result<ScopeQuery, QueryError> {
        let raw = raw.trim();
        if raw.chars().count() > MAX_QUERY {
            return Err(QueryError::TooLong);
        }
        if raw.chars().any(char::is_control) {
            return Err(QueryError::Control);
        }
        if let Ok(p) = raw.parse::<PersonId>() {
            return Ok(ScopeQuery::Person(p));
        }
        let words = words(raw);
        if words.is_empty() {
            return Err(QueryError::Empty);
        }
        Ok(ScopeQuery::Words(words))
    }

    pub fn matches(&self, e: &ScopeEntry) -> bool {
        match self {
            ScopeQuery::Person(p) => e.id == *p,
            ScopeQuery::Words(q) => {
                let name = words(&format!("{} {}", e.last_name, e.first_name));
                q.iter().all(|w| name.iter().any(|n| n.starts_with(w.as_str())))
            }
        }
    }
}

/// One page of a search: the matches, and where the scan goes on (`None`: the scope is done).
#[derive(Clone, Debug)]
pub struct SearchPage {
    pub rows: Vec<(ScopeEntry, Relationship)>,
    pub next_after: Option<PersonId>,
}

/// Scans the agent's scope on `day` after `after`, keeping what `query` matches, until `limit`
/// matches or [`SCAN_CAP`] persons looked at.
pub fn search<R: Registry + ?Sized>(
    registry: &R,
    agent: &crate::org::Agent,
    query: &ScopeQuery,
    after: Option<PersonId>,
    limit: usize,
    day: time::Date,
) -> Result<SearchPage, StoreError> {
    const BATCH: usize = 500;
    let mut rows = Vec::new();
    let mut cursor = after;
    let mut scanned = 0usize;
    loop {
        let batch = registry.scope_page(agent, cursor, BATCH, day)?;
        let full = batch.len() == BATCH;
        for (entry, rel) in batch {
            scanned += 1;
            cursor = Some(entry.id);
            if query.matches(&entry) {
                rows.push((entry, rel));
                if rows.len() == limit {
                    return Ok(SearchPage { rows, next_after: cursor });
                }
            }
        }
        if !full {
            return Ok(SearchPage { rows, next_after: None });
        }
        if scanned >= SCAN_CAP {
            return Ok(SearchPage { rows, next_after: cursor });
        }
    }
}

/// Lower case, without French accents, split on anything that is not a letter or a digit.
fn words(s: &str) -> Vec<String> {
    let folded: String = s
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'â' | 'ä' | 'á' | 'ã' => 'a',
            'ç' => 'c',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' | 'í' | 'ì' => 'i',
            'ô' | 'ö' | 'ó' | 'ò' | 'õ' => 'o',
            'û' | 'ü' | 'ú' | 'ù' => 'u',
            'ÿ' => 'y',
            'ñ' => 'n',
            c => c,
        })
        .collect();
    folded.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relationship::RelationshipKind;

    fn entry(id: u64, last: &str, first: &str) -> ScopeEntry {
        ScopeEntry {
            id: PersonId::new(id).unwrap(),
            last_name: last.into(),
            first_name: first.into(),
            relationship: RelationshipKind::Caseload,
        }
    }

    #[test]
    fn queries_match_folded_word_prefixes_or_a_number() {
        let jp = entry(12, "DUPONT", "Jean-Pierre");
        let el = entry(13, "Lefèvre", "Élodie");
        // query → matches jp, matches el
        for (q, a, b) in [
            ("dup", true, false),
            ("dup je", true, false),
            ("pierre", true, false),
            ("LEFEVRE elo", false, true),
            ("lefèvre", false, true),
            ("efevre", false, false),
            ("P12", true, false),
            ("P13", false, true),
            ("dupont lefevre", false, false),
        ] {
            let query = ScopeQuery::parse(q).unwrap();
            assert_eq!((query.matches(&jp), query.matches(&el)), (a, b), "{q}");
        }
        assert_eq!(ScopeQuery::parse("  -- "), Err(QueryError::Empty));
        assert_eq!(ScopeQuery::parse(&"a".repeat(65)), Err(QueryError::TooLong));
        assert_eq!(ScopeQuery::parse("a\u{0}b"), Err(QueryError::Control));
    }
}
