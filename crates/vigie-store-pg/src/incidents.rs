//! Incidents, their decisions and their notifications (the core's `IncidentStore` port) over
//! PostgreSQL, and the registry's answers scoping needs: duplicates, canaries and recipients.
//!
//! The rows and the semantics are the SQLite store's (`vigie-store/src/incidents.rs`); what
//! this adds is what several nodes sharing one database need. SQLite has one writer at a time;
//! here two nodes may act on one incident at once, so the statements that read before they
//! write lock the incident's row first: two officers' decisions get distinct positions, and two
//! campaigns started together create the notices once (the second waits for the first, then
//! finds its notices and is refused; the primary key `(incident, person)` backs this up). The
//! state moves are single compare-and-set statements, atomic as they are.
//!
//! A campaign's notices (hundreds of thousands) go in with one binary `COPY` inside the
//! transaction that checked there were none: one stream, not a round trip per row. Lists of
//! persons (duplicates, recipients) are read with `= ANY($1)` in chunks of [`ANY_CHUNK`].

use std::collections::{HashMap, HashSet};

use postgres::Row;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;
use vigie_core::category::CategorySet;
use vigie_core::ids::{AgentId, IncidentId, PersonId};
use vigie_core::incident::notice::{LetterKind, Recipient};
use vigie_core::incident::store::{Decision, IncidentStore, NewIncident, Notice, NoticeCounts, NoticeState, author_of};
use vigie_core::incident::{Author, Incident, IncidentState, Selector, Window};
use vigie_core::person::Sex;
use vigie_core::ports::StoreError;
use vigie_core::time::Timestamp;

use crate::PgStore;
use crate::codec;
use crate::conn::Conn;
use crate::error::{DbError, corrupt};

/// Persons per `= ANY($1)` array: a few hundred kilobytes of parameters per statement.
const ANY_CHUNK: usize = 50_000;

/// Past this many persons, `originals` reads the whole (small) duplicates table once rather
/// than looking each person up: the SQLite store's threshold, so both answer alike.
const SCAN_DUPLICATES_ABOVE: usize = 100_000;

const INCIDENT_COLUMNS: &str =
    "id, title, opened_at_ms, opened_by, awareness_at_ms, window_from_ms, window_to_ms, alert, state, closed_at_ms";

const NOTICE_COLUMNS: &str =
    "incident, person, kind, categories, first_ms, last_ms, email, state, attempts, message_id, updated_ms, error";

/// The binary `COPY` types of [`NOTICE_COLUMNS`], in order (the V2 column types).
const NOTICE_TYPES: [Type; 12] = [
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::INT2,
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
];

/// Locks an incident's row until the transaction ends; `false` if there is no such incident.
const LOCK_INCIDENT_SQL: &str = "SELECT 1 FROM incidents WHERE id = $1 FOR UPDATE";

fn incident_row(row: &Row) -> Result<Incident, DbError> {
    let id = codec::parse(row.try_get(0)?, IncidentId::from_i64, "incidents.id")?;
    let state: String = row.try_get(8)?;
    let window = Window::new(Timestamp(row.try_get(5)?), Timestamp(row.try_get(6)?))
        .map_err(|e| corrupt(format!("incidents.window of {id}: {e}")))?;
    Ok(Incident {
        id,
        title: row.try_get(1)?,
        opened_at: Timestamp(row.try_get(2)?),
        opened_by: match codec::optional(row.try_get(3)?, AgentId::from_i64, "incidents.opened_by")? {
            Some(a) => Author::Officer(a),
            None => Author::Operator,
        },
        awareness_at: Timestamp(row.try_get(4)?),
        window,
        selectors: Vec::new(),
        alert: row.try_get::<_, Option<i64>>(7)?.and_then(|a| u64::try_from(a).ok()),
        state: IncidentState::parse(&state).ok_or_else(|| corrupt(format!("incidents.state {state:?} of {id}")))?,
        closed_at: row.try_get::<_, Option<i64>>(9)?.map(Timestamp),
    })
}

/// Fills in the selectors of `incidents`, in position order, with one statement.
fn with_selectors(c: &mut Conn, mut incidents: Vec<Incident>) -> Result<Vec<Incident>, DbError> {
    if incidents.is_empty() {
        return Ok(incidents);
    }
    let ids: Vec<i64> = incidents.iter().map(|i| i.id.as_i64()).collect();
    let rows = c.query_prepared(
        "SELECT incident, selector FROM incident_selectors WHERE incident = ANY($1) ORDER BY incident, position",
        &[&ids],
    )?;
    let mut by_incident: HashMap<i64, Vec<Selector>> = HashMap::new();
    for r in &rows {
        let incident: i64 = r.try_get(0)?;
        let s: String = r.try_get(1)?;
        let selector =
            s.parse().map_err(|_| corrupt(format!("incident_selectors.selector {s:?} of incident {incident}")))?;
        by_incident.entry(incident).or_default().push(selector);
    }
    for i in &mut incidents {
        i.selectors = by_incident.remove(&i.id.as_i64()).unwrap_or_default();
    }
    Ok(incidents)
}

fn notice_row(row: &Row) -> Result<Notice, DbError> {
    let incident = codec::parse(row.try_get(0)?, IncidentId::from_i64, "notices.incident")?;
    let kind: String = row.try_get(2)?;
    let state: String = row.try_get(7)?;
    let categories: i16 = row.try_get(3)?;
    Ok(Notice {
        incident,
        person: codec::parse(row.try_get(1)?, PersonId::from_i64, "notices.person")?,
        kind: LetterKind::parse(&kind).ok_or_else(|| corrupt(format!("notices.kind {kind:?}")))?,
        categories: u8::try_from(categories)
            .ok()
            .and_then(CategorySet::from_bits)
            .ok_or_else(|| corrupt(format!("notices.categories {categories}")))?,
        first: Timestamp(row.try_get(4)?),
        last: Timestamp(row.try_get(5)?),
        email: row.try_get(6)?,
        state: NoticeState::parse(&state).ok_or_else(|| corrupt(format!("notices.state {state:?}")))?,
        attempts: u32::try_from(row.try_get::<_, i64>(8)?).unwrap_or(u32::MAX),
        message_id: row.try_get(9)?,
        updated: Timestamp(row.try_get(10)?),
        error: row.try_get(11)?,
    })
}

/// A count or a limit as a SQL `bigint`.
fn big(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl IncidentStore for PgStore {
    fn create_incident(&self, new: &NewIncident) -> Result<IncidentId, StoreError> {
        self.with_conn(|c| {
            let mut tx = c.transaction()?;
            let id: i64 = tx
                .query_one(
                    "INSERT INTO incidents (title, opened_at_ms, opened_by, awareness_at_ms, window_from_ms, \
                     window_to_ms, alert, state) VALUES ($1, $2, $3, $4, $5, $6, $7, 'open') RETURNING id",
                    &[
                        &new.title,
                        &new.opened_at.millis(),
                        &author_of(new.opened_by).map(AgentId::as_i64),
                        &new.awareness_at.millis(),
                        &new.window.from().millis(),
                        &new.window.to().millis(),
                        &new.alert.and_then(|a| i64::try_from(a).ok()),
                    ],
                )?
                .try_get(0)?;
            if !new.selectors.is_empty() {
                let positions: Vec<i64> = (0..new.selectors.len()).map(big).collect();
                let selectors: Vec<String> = new.selectors.iter().map(ToString::to_string).collect();
                // A selector given twice is kept once, at its first position (SQLite's
                // INSERT OR IGNORE in order).
                tx.execute(
                    "INSERT INTO incident_selectors (incident, position, selector) \
                     SELECT $1, s.position, s.selector FROM unnest($2::bigint[], $3::text[]) AS s (position, selector) \
                     ORDER BY s.position ON CONFLICT DO NOTHING",
                    &[&id, &positions, &selectors],
                )?;
            }
            tx.commit()?;
            codec::parse(id, IncidentId::from_i64, "incidents.id")
        })
    }

    fn incident(&self, id: IncidentId) -> Result<Option<Incident>, StoreError> {
        self.with_conn(|c| {
            let found = c
                .query_opt_prepared(
                    &format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1"),
                    &[&id.as_i64()],
                )?
                .as_ref()
                .map(incident_row)
                .transpose()?;
            Ok(with_selectors(c, found.into_iter().collect())?.pop())
        })
    }

    fn incidents(&self, limit: usize) -> Result<Vec<Incident>, StoreError> {
        self.with_conn(|c| {
            let found = c
                .query_prepared(
                    &format!("SELECT {INCIDENT_COLUMNS} FROM incidents ORDER BY id DESC LIMIT $1"),
                    &[&big(limit)],
                )?
                .iter()
                .map(incident_row)
                .collect::<Result<Vec<_>, _>>()?;
            with_selectors(c, found)
        })
    }

    fn decide(&self, d: &Decision) -> Result<(), StoreError> {
        self.with_conn(|c| {
            let incident = d.incident.as_i64();
            let target = d.target.to_string();
            let mut tx = c.transaction()?;
            // One decision on an incident at a time, whichever node takes it: an accepted one
            // takes the next free position, which two at once would both compute.
            tx.query_opt(LOCK_INCIDENT_SQL, &[&incident])?;
            tx.execute(
                "INSERT INTO incident_decisions (incident, target, accepted, by_agent, at_ms, why) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&incident, &target, &d.accepted, &author_of(d.by).map(AgentId::as_i64), &d.at.millis(), &d.why],
            )?;
            if d.accepted {
                // A selector the incident already holds keeps its place.
                tx.execute(
                    "INSERT INTO incident_selectors (incident, position, selector) \
                     SELECT $1, coalesce(max(position) + 1, 0), $2 FROM incident_selectors WHERE incident = $1 \
                     ON CONFLICT DO NOTHING",
                    &[&incident, &target],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn decisions(&self, incident: IncidentId) -> Result<Vec<Decision>, StoreError> {
        self.with_conn(|c| {
            c.query_prepared(
                "SELECT target, accepted, by_agent, at_ms, why FROM incident_decisions WHERE incident = $1 ORDER BY id",
                &[&incident.as_i64()],
            )?
            .iter()
            .map(|r| {
                let target: String = r.try_get(0)?;
                Ok(Decision {
                    incident,
                    target: target.parse().map_err(|_| corrupt(format!("incident_decisions.target {target:?}")))?,
                    accepted: r.try_get(1)?,
                    by: match r.try_get::<_, Option<i64>>(2)?.and_then(AgentId::from_i64) {
                        Some(a) => Author::Officer(a),
                        None => Author::Operator,
                    },
                    at: Timestamp(r.try_get(3)?),
                    why: r.try_get(4)?,
                })
            })
            .collect()
        })
    }

    fn set_state(
        &self,
        id: IncidentId,
        from: IncidentState,
        to: IncidentState,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.with_conn(|c| {
            let closed = (to == IncidentState::Closed).then_some(at.millis());
            let n = c.execute_prepared(
                "UPDATE incidents SET state = $3, closed_at_ms = coalesce($4, closed_at_ms) WHERE id = $1 AND state = $2",
                &[&id.as_i64(), &from.as_str(), &to.as_str(), &closed],
            )?;
            Ok(n == 1)
        })
    }

    fn originals(&self, persons: &[PersonId]) -> Result<HashMap<PersonId, PersonId>, StoreError> {
        self.with_conn(|c| {
            let mut direct: HashMap<PersonId, PersonId> = HashMap::new();
            if persons.len() > SCAN_DUPLICATES_ABOVE {
                for r in c.query("SELECT person_id, duplicate_of FROM duplicates", &[])? {
                    if let (Some(p), Some(o)) = (PersonId::from_i64(r.try_get(0)?), PersonId::from_i64(r.try_get(1)?)) {
                        direct.insert(p, o);
                    }
                }
            } else {
                // Follow chains a few steps (a duplicate of a duplicate), a round per step.
                let mut pending: Vec<PersonId> = persons.to_vec();
                for _ in 0..4 {
                    let mut ask: Vec<i64> =
                        pending.iter().filter(|p| !direct.contains_key(p)).map(|p| p.as_i64()).collect();
                    ask.sort_unstable();
                    ask.dedup();
                    let mut next = Vec::new();
                    for chunk in ask.chunks(ANY_CHUNK) {
                        let rows = c.query_prepared(
                            "SELECT person_id, duplicate_of FROM duplicates WHERE person_id = ANY($1)",
                            &[&chunk],
                        )?;
                        for r in &rows {
                            if let (Some(p), Some(o)) =
                                (PersonId::from_i64(r.try_get(0)?), PersonId::from_i64(r.try_get(1)?))
                            {
                                direct.insert(p, o);
                                next.push(o);
                            }
                        }
                    }
                    pending = next;
                }
            }
            Ok(resolve(persons, &direct))
        })
    }

    fn canaries(&self) -> Result<HashSet<PersonId>, StoreError> {
        // The same rows as the detector's list, by the same statement.
        Ok(PgStore::canaries(self)?.into_iter().collect())
    }

    fn recipients(&self, persons: &[PersonId]) -> Result<Vec<Recipient>, StoreError> {
        self.with_conn(|c| {
            let mut ids: Vec<i64> = persons.iter().map(|p| p.as_i64()).collect();
            ids.sort_unstable();
            ids.dedup();
            let mut found: HashMap<PersonId, Recipient> = HashMap::with_capacity(ids.len());
            for chunk in ids.chunks(ANY_CHUNK) {
                let rows = c.query_prepared(
                    "SELECT id, sex, first_name, last_name, street, postcode, commune, email FROM persons \
                     WHERE id = ANY($1)",
                    &[&chunk],
                )?;
                for r in &rows {
                    let person = codec::parse(r.try_get(0)?, PersonId::from_i64, "persons.id")?;
                    let sex: String = r.try_get(1)?;
                    found.insert(
                        person,
                        Recipient {
                            person,
                            sex: Sex::parse(&sex).ok_or_else(|| corrupt(format!("persons.sex of {person}")))?,
                            first_name: r.try_get(2)?,
                            last_name: r.try_get(3)?,
                            street: r.try_get(4)?,
                            postcode: r.try_get(5)?,
                            commune: r.try_get(6)?,
                            email: r.try_get(7)?,
                        },
                    );
                }
            }
            // In the order asked, as the SQLite store answers (one lookup per person).
            Ok(persons.iter().filter_map(|p| found.get(p).cloned()).collect())
        })
    }

    fn create_notices(&self, notices: &[Notice]) -> Result<bool, StoreError> {
        self.with_conn(|c| {
            let Some(first) = notices.first() else { return Ok(true) };
            let incident = first.incident.as_i64();
            let mut tx = c.transaction()?;
            // A second campaign started at the same moment, on this node or another, waits here
            // until this one commits, and then finds its notices.
            if tx.query_opt(LOCK_INCIDENT_SQL, &[&incident])?.is_none() {
                return Err(DbError::Store(format!("notices for incident {}, which does not exist", first.incident)));
            }
            let exists: bool =
                tx.query_one("SELECT EXISTS (SELECT 1 FROM notices WHERE incident = $1)", &[&incident])?.try_get(0)?;
            if exists {
                return Ok(false);
            }
            let sink = tx.copy_in(&format!("COPY notices ({NOTICE_COLUMNS}) FROM STDIN (FORMAT binary)"))?;
            let mut w = BinaryCopyInWriter::new(sink, &NOTICE_TYPES);
            for n in notices {
                w.write(&[
                    &n.incident.as_i64(),
                    &n.person.as_i64(),
                    &n.kind.as_str(),
                    &i16::from(n.categories.bits()),
                    &n.first.millis(),
                    &n.last.millis(),
                    &n.email,
                    &n.state.as_str(),
                    &i64::from(n.attempts),
                    &n.message_id,
                    &n.updated.millis(),
                    &n.error,
                ])?;
            }
            w.finish()?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn notices(
        &self,
        incident: IncidentId,
        state: NoticeState,
        after: Option<PersonId>,
        limit: usize,
    ) -> Result<Vec<Notice>, StoreError> {
        self.with_conn(|c| {
            c.query_prepared(
                &format!(
                    "SELECT {NOTICE_COLUMNS} FROM notices WHERE incident = $1 AND state = $2 AND person > $3 \
                     ORDER BY person LIMIT $4"
                ),
                &[&incident.as_i64(), &state.as_str(), &after.map_or(0, PersonId::as_i64), &big(limit)],
            )?
            .iter()
            .map(notice_row)
            .collect()
        })
    }

    fn notice(&self, incident: IncidentId, person: PersonId) -> Result<Option<Notice>, StoreError> {
        self.with_conn(|c| {
            c.query_opt_prepared(
                &format!("SELECT {NOTICE_COLUMNS} FROM notices WHERE incident = $1 AND person = $2"),
                &[&incident.as_i64(), &person.as_i64()],
            )?
            .as_ref()
            .map(notice_row)
            .transpose()
        })
    }

    fn move_notice(
        &self,
        incident: IncidentId,
        person: PersonId,
        from: NoticeState,
        to: NoticeState,
        at: Timestamp,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.with_conn(|c| {
            let attempt = i64::from(to == NoticeState::Sending);
            let n = c.execute_prepared(
                "UPDATE notices SET state = $4, attempts = attempts + $5, updated_ms = $6, error = $7 \
                 WHERE incident = $1 AND person = $2 AND state = $3",
                &[&incident.as_i64(), &person.as_i64(), &from.as_str(), &to.as_str(), &attempt, &at.millis(), &error],
            )?;
            Ok(n == 1)
        })
    }

    fn sending_to_in_doubt(&self, incident: IncidentId, at: Timestamp) -> Result<u64, StoreError> {
        self.with_conn(|c| {
            Ok(c.execute_prepared(
                "UPDATE notices SET state = 'in_doubt', updated_ms = $2, \
                 error = 'the sender stopped while this message was in flight' WHERE incident = $1 AND state = 'sending'",
                &[&incident.as_i64(), &at.millis()],
            )?)
        })
    }

    fn notice_counts(&self, incident: IncidentId) -> Result<NoticeCounts, StoreError> {
        self.with_conn(|c| {
            let rows = c.query_prepared(
                "SELECT state, count(*) FROM notices WHERE incident = $1 GROUP BY state",
                &[&incident.as_i64()],
            )?;
            let mut counts = NoticeCounts::default();
            for r in &rows {
                let state: String = r.try_get(0)?;
                let n = u64::try_from(r.try_get::<_, i64>(1)?).unwrap_or(0);
                match NoticeState::parse(&state) {
                    Some(NoticeState::Pending) => counts.pending = n,
                    Some(NoticeState::Sending) => counts.sending = n,
                    Some(NoticeState::InDoubt) => counts.in_doubt = n,
                    Some(NoticeState::Sent) => counts.sent = n,
                    Some(NoticeState::Failed) => counts.failed = n,
                    Some(NoticeState::NoAddress) => counts.no_address = n,
                    None => return Err(corrupt(format!("notices.state {state:?}"))),
                }
            }
            Ok(counts)
        })
    }
}

/// The original of each of `persons` that is a duplicate, following `direct` (duplicate to the
/// record it duplicates) at most eight steps; a loop leads nowhere. The SQLite store's rule.
fn resolve(persons: &[PersonId], direct: &HashMap<PersonId, PersonId>) -> HashMap<PersonId, PersonId> {
    let wanted: HashSet<PersonId> = persons.iter().copied().collect();
    let mut out = HashMap::new();
    for p in wanted {
        let mut o = p;
        for _ in 0..8 {
            match direct.get(&o) {
                Some(&next) if next != o => o = next,
                _ => break,
            }
        }
        if o != p {
            out.insert(p, o);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: u64) -> PersonId {
        PersonId::new(n).unwrap()
    }

    #[test]
    fn chains_lead_to_their_end_and_loops_nowhere() {
        let direct: HashMap<PersonId, PersonId> =
            [(p(3), p(2)), (p(2), p(1)), (p(7), p(8)), (p(8), p(7))].into_iter().collect();
        let out = resolve(&[p(1), p(2), p(3), p(3), p(7), p(9)], &direct);
        let mut out: Vec<_> = out.into_iter().map(|(a, b)| (a.get(), b.get())).collect();
        out.sort_unstable();
        // Eight steps around the loop 7 -> 8 -> 7 end where they started: no original.
        assert_eq!(out, vec![(2, 1), (3, 1)]);
    }
}
