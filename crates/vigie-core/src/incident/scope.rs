//! Exact scoping: from the ledger rows an incident selects, who saw which categories of whom.
//!
//! A person is *exposed* when at least one selected entry released data about them (decision
//! `allow` with categories returned: the guard ledgers a read before its data leaves, and a
//! withheld read is ledgered with nothing returned). Reads refused by authorization (`deny`,
//! `error`) or withheld by the detector (a step-up, a throttle, a suspension) are counted apart
//! and never as exposure; exact lookups that matched nobody are counted apart too.
//!
//! Registrations of one human (the registry's duplicates) are one person to notify: the result
//! is keyed by the registry's original record, and keeps every record id with what was seen of
//! it. Counts by category follow the CNIL's categories: the NIR, special-category data (the
//! disability recognition, Art. 9), contact details, and identity (or registration status) only.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::category::{CategorySet, DataCategory};
use crate::event::{AccessAction, Decision, EventHead, VerdictAction};
use crate::ids::{AgentId, PersonId, SessionId};
use crate::time::Timestamp;

/// One access entry as scoping needs it (derived from the ledger's `EventHead`, with its index).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ScopeRow {
    pub index: u64,
    pub at: Timestamp,
    pub agent: AgentId,
    pub session: SessionId,
    pub action: AccessAction,
    pub person: Option<PersonId>,
    pub requested: CategorySet,
    pub returned: CategorySet,
    pub decision: Decision,
    pub verdict: VerdictAction,
}

impl ScopeRow {
    pub fn from_head(index: u64, h: &EventHead) -> ScopeRow {
        ScopeRow {
            index,
            at: h.at,
            agent: h.agent,
            session: h.session,
            action: h.action,
            person: h.person,
            requested: h.requested,
            returned: h.returned,
            decision: h.decision,
            verdict: h.verdict,
        }
    }

    /// Whether data about the person left with this entry.
    pub fn released(&self) -> bool {
        self.decision == Decision::Allow && !self.returned.is_empty() && self.person.is_some()
    }

    /// Whether the detector, not authorization, kept the data back.
    pub fn withheld(&self) -> bool {
        !self.released() && self.verdict != VerdictAction::Allow && self.person.is_some()
    }
}

/// What was released of one person (all their registrations together).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Exposed {
    /// The registry's original record of the human.
    pub person: PersonId,
    /// Every record of theirs that was released, with its categories.
    pub records: Vec<(PersonId, CategorySet)>,
    /// The union of the categories released, over all their records.
    pub categories: CategorySet,
    pub first: Timestamp,
    pub last: Timestamp,
    /// Entries that released their data.
    pub entries: u32,
    pub agents: Vec<AgentId>,
    pub sessions: Vec<SessionId>,
}

/// Reads about one person that were refused or withheld (listed apart, never exposure).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Refused {
    pub person: PersonId,
    /// Categories asked for in the refused reads.
    pub requested: CategorySet,
    /// Refused by authorization (or an error on the decision path).
    pub denied: u32,
    /// Kept back by the detector's verdict.
    pub withheld: u32,
    pub first: Timestamp,
    pub last: Timestamp,
}

/// One account's part in the incident.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AccountPart {
    pub agent: AgentId,
    pub sessions: Vec<SessionId>,
    pub released_entries: u64,
    pub persons: u64,
    pub denied: u64,
    pub withheld: u64,
    pub unmatched_lookups: u64,
    pub first: Timestamp,
    pub last: Timestamp,
}

/// Counts for the notification: persons by category (a person counts in every category they had
/// released), records (released entries) and person-category pairs.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Counts {
    /// Distinct humans (duplicates merged).
    pub persons: u64,
    /// Distinct registry records (a human with two registrations counts twice).
    pub records: u64,
    pub nir: u64,
    pub sensitive: u64,
    pub contact: u64,
    /// Persons of whom only identity or registration status was released.
    pub identity_only: u64,
    /// Entries (reads) that released data.
    pub released_entries: u64,
    /// Distinct (person, category) pairs released.
    pub pairs: u64,
    pub denied_entries: u64,
    pub withheld_entries: u64,
    pub unmatched_lookups: u64,
}

/// The exact result of scoping.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Scope {
    /// Sorted by person id.
    pub exposed: Vec<Exposed>,
    /// Sorted by person id; persons who are also exposed appear in both lists.
    pub refused: Vec<Refused>,
    /// Sorted by agent id.
    pub accounts: Vec<AccountPart>,
    pub counts: Counts,
    /// Indexes of the entries that released data, ascending: what the result relies on.
    pub entries: Vec<u64>,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
}

impl Scope {
    /// Whether a person's letter must say their NIR or special-category data was seen.
    pub fn is_serious(e: &Exposed) -> bool {
        e.categories.contains(DataCategory::Nir) || e.categories.contains(DataCategory::Sensitive)
    }
}

#[derive(Default, Debug)]
struct PersonAcc {
    categories: CategorySet,
    first: i64,
    last: i64,
    entries: u32,
    agents: Vec<AgentId>,
    sessions: Vec<SessionId>,
}

#[derive(Default, Debug)]
struct RefusedAcc {
    requested: CategorySet,
    denied: u32,
    withheld: u32,
    first: i64,
    last: i64,
}

#[derive(Default, Debug)]
struct AccountAcc {
    sessions: Vec<SessionId>,
    released: u64,
    persons: HashSet<PersonId>,
    denied: u64,
    withheld: u64,
    unmatched: u64,
    first: i64,
    last: i64,
}

/// Folds selected rows into a [`Scope`]. Rows may come in any order and may repeat (an entry
/// read twice counts once: rows are keyed by their ledger index).
#[derive(Default, Debug)]
pub struct ScopeBuilder {
    seen: HashSet<u64>,
    released: HashMap<PersonId, PersonAcc>,
    refused: HashMap<PersonId, RefusedAcc>,
    accounts: BTreeMap<AgentId, AccountAcc>,
    entries: Vec<u64>,
    counts: Counts,
    first: Option<i64>,
    last: Option<i64>,
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

fn widen(first: &mut i64, last: &mut i64, fresh: bool, at: i64) {
    if fresh {
        (*first, *last) = (at, at);
    } else {
        *first = (*first).min(at);
        *last = (*last).max(at);
    }
}

impl ScopeBuilder {
    pub fn new() -> Self {
        ScopeBuilder::default()
    }

    pub fn add(&mut self, row: &ScopeRow) {
        if !self.seen.insert(row.index) {
            return;
        }
        let at = row.at.0;
        self.first = Some(self.first.map_or(at, |f| f.min(at)));
        self.last = Some(self.last.map_or(at, |l| l.max(at)));
        let account = self.accounts.entry(row.agent).or_default();
        let fresh_account = account.released + account.denied + account.withheld + account.unmatched == 0;
        widen(&mut account.first, &mut account.last, fresh_account, at);
        push_unique(&mut account.sessions, row.session);
        let Some(person) = row.person else {
            account.unmatched += 1;
            self.counts.unmatched_lookups += 1;
            return;
        };
        if row.released() {
            account.released += 1;
            account.persons.insert(person);
            self.counts.released_entries += 1;
            self.entries.push(row.index);
            let acc = self.released.entry(person).or_default();
            let fresh = acc.entries == 0;
            widen(&mut acc.first, &mut acc.last, fresh, at);
            acc.entries += 1;
            acc.categories =
                CategorySet::from_bits(acc.categories.bits() | row.returned.bits()).unwrap_or(acc.categories);
            push_unique(&mut acc.agents, row.agent);
            push_unique(&mut acc.sessions, row.session);
        } else {
            let withheld = row.withheld();
            if withheld {
                account.withheld += 1;
                self.counts.withheld_entries += 1;
            } else {
                account.denied += 1;
                self.counts.denied_entries += 1;
            }
            let acc = self.refused.entry(person).or_default();
            let fresh = acc.denied + acc.withheld == 0;
            widen(&mut acc.first, &mut acc.last, fresh, at);
            acc.requested =
                CategorySet::from_bits(acc.requested.bits() | row.requested.bits()).unwrap_or(acc.requested);
            if withheld {
                acc.withheld += 1;
            } else {
                acc.denied += 1;
            }
        }
    }

    /// The result, with registrations merged by `original` (a record's original record; itself
    /// when it is not a duplicate).
    pub fn finish(self, original: impl Fn(PersonId) -> PersonId) -> Scope {
        let mut counts = self.counts;
        counts.records = self.released.len() as u64;
        let mut humans: BTreeMap<PersonId, Exposed> = BTreeMap::new();
        let mut records: Vec<(PersonId, PersonAcc)> = self.released.into_iter().collect();
        records.sort_by_key(|(p, _)| *p);
        for (record, acc) in records {
            let human = original(record);
            let e = humans.entry(human).or_insert_with(|| Exposed {
                person: human,
                records: Vec::new(),
                categories: CategorySet::EMPTY,
                first: Timestamp(acc.first),
                last: Timestamp(acc.last),
                entries: 0,
                agents: Vec::new(),
                sessions: Vec::new(),
            });
            e.records.push((record, acc.categories));
            e.categories = CategorySet::from_bits(e.categories.bits() | acc.categories.bits()).unwrap_or(e.categories);
            e.first = Timestamp(e.first.0.min(acc.first));
            e.last = Timestamp(e.last.0.max(acc.last));
            e.entries += acc.entries;
            for a in acc.agents {
                push_unique(&mut e.agents, a);
            }
            for s in acc.sessions {
                push_unique(&mut e.sessions, s);
            }
        }
        for e in humans.values() {
            let c = e.categories;
            counts.pairs += c.iter().count() as u64;
            let serious_or_contact = [DataCategory::Nir, DataCategory::Sensitive, DataCategory::Contact];
            counts.nir += u64::from(c.contains(DataCategory::Nir));
            counts.sensitive += u64::from(c.contains(DataCategory::Sensitive));
            counts.contact += u64::from(c.contains(DataCategory::Contact));
            counts.identity_only += u64::from(!serious_or_contact.iter().any(|k| c.contains(*k)));
        }
        counts.persons = humans.len() as u64;
        let mut refused: Vec<Refused> = self
            .refused
            .into_iter()
            .map(|(person, a)| Refused {
                person,
                requested: a.requested,
                denied: a.denied,
                withheld: a.withheld,
                first: Timestamp(a.first),
                last: Timestamp(a.last),
            })
            .collect();
        refused.sort_by_key(|r| r.person);
        let accounts = self
            .accounts
            .into_iter()
            .map(|(agent, a)| AccountPart {
                agent,
                sessions: a.sessions,
                released_entries: a.released,
                persons: a.persons.len() as u64,
                denied: a.denied,
                withheld: a.withheld,
                unmatched_lookups: a.unmatched,
                first: Timestamp(a.first),
                last: Timestamp(a.last),
            })
            .collect();
        let mut entries = self.entries;
        entries.sort_unstable();
        Scope {
            exposed: humans.into_values().collect(),
            refused,
            accounts,
            counts,
            entries,
            first: self.first.map(Timestamp),
            last: self.last.map(Timestamp),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cats(list: &[DataCategory]) -> CategorySet {
        list.iter().copied().collect()
    }

    fn row(index: u64, agent: u64, person: Option<u64>, returned: CategorySet, decision: Decision) -> ScopeRow {
        ScopeRow {
            index,
            at: Timestamp(1_000 + index as i64),
            agent: AgentId::new(agent).unwrap(),
            session: SessionId(agent * 10),
            action: AccessAction::View,
            person: person.and_then(PersonId::new),
            requested: CategorySet::ALL,
            returned,
            decision,
            verdict: VerdictAction::Allow,
        }
    }

    use DataCategory::*;

    /// Rows in, verdicts out: what counts as exposure and what is listed apart.
    #[test]
    fn released_reads_expose_refused_and_withheld_ones_do_not() {
        let mut b = ScopeBuilder::new();
        b.add(&row(1, 7, Some(100), cats(&[Identity, Contact]), Decision::Allow));
        b.add(&row(2, 7, Some(100), cats(&[Identity, Nir]), Decision::Allow));
        b.add(&row(3, 7, Some(101), CategorySet::EMPTY, Decision::Deny));
        let mut withheld = row(4, 8, Some(102), CategorySet::EMPTY, Decision::Deny);
        withheld.verdict = VerdictAction::StepUp;
        b.add(&withheld);
        b.add(&row(5, 8, None, CategorySet::EMPTY, Decision::NoMatch));
        b.add(&row(6, 8, Some(103), cats(&[Identity]), Decision::Allow));
        b.add(&row(6, 8, Some(103), cats(&[Identity]), Decision::Allow)); // the same entry twice
        let s = b.finish(|p| p);
        let exposed: Vec<(u64, CategorySet)> = s.exposed.iter().map(|e| (e.person.get(), e.categories)).collect();
        assert_eq!(exposed, vec![(100, cats(&[Identity, Contact, Nir])), (103, cats(&[Identity]))]);
        assert_eq!(s.exposed[0].entries, 2);
        assert_eq!((s.exposed[0].first, s.exposed[0].last), (Timestamp(1_001), Timestamp(1_002)));
        let refused: Vec<(u64, u32, u32)> = s.refused.iter().map(|r| (r.person.get(), r.denied, r.withheld)).collect();
        assert_eq!(refused, vec![(101, 1, 0), (102, 0, 1)]);
        let c = s.counts;
        assert_eq!((c.persons, c.records, c.nir, c.contact, c.identity_only, c.sensitive), (2, 2, 1, 1, 1, 0));
        assert_eq!((c.released_entries, c.denied_entries, c.withheld_entries, c.unmatched_lookups), (3, 1, 1, 1));
        assert_eq!(c.pairs, 4);
        assert_eq!(s.entries, vec![1, 2, 6]);
        assert_eq!(s.accounts.len(), 2);
        assert_eq!((s.accounts[1].persons, s.accounts[1].unmatched_lookups, s.accounts[1].withheld), (1, 1, 1));
    }

    #[test]
    fn registrations_of_one_human_are_one_person_with_every_record_kept() {
        let mut b = ScopeBuilder::new();
        b.add(&row(1, 7, Some(200), cats(&[Identity]), Decision::Allow));
        b.add(&row(2, 7, Some(201), cats(&[Sensitive]), Decision::Allow));
        b.add(&row(3, 7, Some(300), cats(&[Contact]), Decision::Allow));
        let original = |p: PersonId| if p.get() == 201 { PersonId::new(200).unwrap() } else { p };
        let s = b.finish(original);
        assert_eq!(s.counts.persons, 2);
        assert_eq!(s.counts.records, 3);
        assert_eq!(s.counts.sensitive, 1);
        let first = &s.exposed[0];
        assert_eq!(first.person.get(), 200);
        assert_eq!(
            first.records,
            vec![(PersonId::new(200).unwrap(), cats(&[Identity])), (PersonId::new(201).unwrap(), cats(&[Sensitive]))]
        );
        assert!(Scope::is_serious(first));
        assert!(!Scope::is_serious(&s.exposed[1]));
    }
}
