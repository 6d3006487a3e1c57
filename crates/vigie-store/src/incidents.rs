//! Incidents, their decisions and their notifications (the core's `IncidentStore` port), and
//! the registry's answers scoping needs: duplicates, canaries and recipients.

use std::collections::{HashMap, HashSet};

use rusqlite::{OptionalExtension, Row, params};
use vigie_core::category::CategorySet;
use vigie_core::ids::{AgentId, IncidentId, PersonId};
use vigie_core::incident::notice::{LetterKind, Recipient};
use vigie_core::incident::store::{Decision, IncidentStore, NewIncident, Notice, NoticeCounts, NoticeState, author_of};
use vigie_core::incident::{Author, Incident, IncidentState, Selector, Window};
use vigie_core::person::Sex;
use vigie_core::ports::StoreError;
use vigie_core::time::Timestamp;

use crate::Store;
use crate::error::{DbError, corrupt};

const INCIDENT_COLUMNS: &str =
    "id, title, opened_at_ms, opened_by, awareness_at_ms, window_from_ms, window_to_ms, alert, state, closed_at_ms";

fn incident_row(row: &Row<'_>) -> Result<Incident, DbError> {
    let id: i64 = row.get(0)?;
    let state: String = row.get(8)?;
    let window = Window::new(Timestamp(row.get(5)?), Timestamp(row.get(6)?))
        .map_err(|e| corrupt(format!("incidents.window: {e}")))?;
    Ok(Incident {
        id: IncidentId::from_i64(id).ok_or_else(|| corrupt("incidents.id"))?,
        title: row.get(1)?,
        opened_at: Timestamp(row.get(2)?),
        opened_by: match row.get::<_, Option<i64>>(3)? {
            Some(a) => Author::Officer(AgentId::from_i64(a).ok_or_else(|| corrupt("incidents.opened_by"))?),
            None => Author::Operator,
        },
        awareness_at: Timestamp(row.get(4)?),
        window,
        selectors: Vec::new(),
        alert: row.get::<_, Option<i64>>(7)?.and_then(|a| u64::try_from(a).ok()),
        state: IncidentState::parse(&state).ok_or_else(|| corrupt(format!("incidents.state {state:?}")))?,
        closed_at: row.get::<_, Option<i64>>(9)?.map(Timestamp),
    })
}

fn selectors(conn: &rusqlite::Connection, id: IncidentId) -> Result<Vec<Selector>, DbError> {
    let mut stmt =
        conn.prepare_cached("SELECT selector FROM incident_selectors WHERE incident = ?1 ORDER BY position")?;
    let mut rows = stmt.query([id.as_i64()])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let s: String = r.get(0)?;
        out.push(s.parse().map_err(|_| corrupt(format!("incident_selectors.selector {s:?}")))?);
    }
    Ok(out)
}

const NOTICE_COLUMNS: &str =
    "incident, person, kind, categories, first_ms, last_ms, email, state, attempts, message_id, updated_ms, error";

fn notice_row(row: &Row<'_>) -> Result<Notice, DbError> {
    let kind: String = row.get(2)?;
    let state: String = row.get(7)?;
    let cats: i64 = row.get(3)?;
    Ok(Notice {
        incident: IncidentId::from_i64(row.get(0)?).ok_or_else(|| corrupt("notices.incident"))?,
        person: PersonId::from_i64(row.get(1)?).ok_or_else(|| corrupt("notices.person"))?,
        kind: LetterKind::parse(&kind).ok_or_else(|| corrupt(format!("notices.kind {kind:?}")))?,
        categories: u8::try_from(cats)
            .ok()
            .and_then(CategorySet::from_bits)
            .ok_or_else(|| corrupt("notices.categories"))?,
        first: Timestamp(row.get(4)?),
        last: Timestamp(row.get(5)?),
        email: row.get(6)?,
        state: NoticeState::parse(&state).ok_or_else(|| corrupt(format!("notices.state {state:?}")))?,
        attempts: u32::try_from(row.get::<_, i64>(8)?).unwrap_or(u32::MAX),
        message_id: row.get(9)?,
        updated: Timestamp(row.get(10)?),
        error: row.get(11)?,
    })
}

impl IncidentStore for Store {
    fn create_incident(&self, new: &NewIncident) -> Result<IncidentId, StoreError> {
        self.with_conn(|conn| {
            let tx = conn.unchecked_transaction()?;
            let id: i64 = tx
                .prepare_cached(
                    "INSERT INTO incidents (title, opened_at_ms, opened_by, awareness_at_ms, window_from_ms, window_to_ms, \
                     alert, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'open') RETURNING id",
                )?
                .query_row(
                    params![
                        &new.title,
                        new.opened_at.millis(),
                        author_of(new.opened_by).map(AgentId::as_i64),
                        new.awareness_at.millis(),
                        new.window.from().millis(),
                        new.window.to().millis(),
                        new.alert.and_then(|a| i64::try_from(a).ok()),
                    ],
                    |r| r.get(0),
                )?;
            for (position, s) in new.selectors.iter().enumerate() {
                tx.prepare_cached("INSERT OR IGNORE INTO incident_selectors (incident, position, selector) VALUES (?1, ?2, ?3)")?
                    .execute(params![id, position as i64, s.to_string()])?;
            }
            tx.commit()?;
            IncidentId::from_i64(id).ok_or_else(|| corrupt("incidents.id"))
        })
    }

    fn incident(&self, id: IncidentId) -> Result<Option<Incident>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?1"))?;
            let found = stmt.query([id.as_i64()])?.next()?.map(incident_row).transpose()?;
            match found {
                Some(mut i) => {
                    i.selectors = selectors(conn, i.id)?;
                    Ok(Some(i))
                }
                None => Ok(None),
            }
        })
    }

    fn incidents(&self, limit: usize) -> Result<Vec<Incident>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt =
                conn.prepare_cached(&format!("SELECT {INCIDENT_COLUMNS} FROM incidents ORDER BY id DESC LIMIT ?1"))?;
            let mut rows = stmt.query([i64::try_from(limit).unwrap_or(i64::MAX)])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let mut i = incident_row(r)?;
                i.selectors = selectors(conn, i.id)?;
                out.push(i);
            }
            Ok(out)
        })
    }

    fn decide(&self, d: &Decision) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            let tx = conn.unchecked_transaction()?;
            tx.prepare_cached("INSERT INTO incident_decisions (incident, target, accepted, by_agent, at_ms, why) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
                .execute(params![d.incident.as_i64(), d.target.to_string(), d.accepted, author_of(d.by).map(AgentId::as_i64), d.at.millis(), &d.why])?;
            if d.accepted {
                let next: i64 = tx
                    .prepare_cached("SELECT COALESCE(MAX(position) + 1, 0) FROM incident_selectors WHERE incident = ?1")?
                    .query_row([d.incident.as_i64()], |r| r.get(0))?;
                tx.prepare_cached("INSERT OR IGNORE INTO incident_selectors (incident, position, selector) VALUES (?1, ?2, ?3)")?
                    .execute(params![d.incident.as_i64(), next, d.target.to_string()])?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn decisions(&self, incident: IncidentId) -> Result<Vec<Decision>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT target, accepted, by_agent, at_ms, why FROM incident_decisions WHERE incident = ?1 ORDER BY rowid",
            )?;
            let mut rows = stmt.query([incident.as_i64()])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let target: String = r.get(0)?;
                out.push(Decision {
                    incident,
                    target: target.parse().map_err(|_| corrupt(format!("incident_decisions.target {target:?}")))?,
                    accepted: r.get(1)?,
                    by: match r.get::<_, Option<i64>>(2)?.and_then(AgentId::from_i64) {
                        Some(a) => Author::Officer(a),
                        None => Author::Operator,
                    },
                    at: Timestamp(r.get(3)?),
                    why: r.get(4)?,
                });
            }
            Ok(out)
        })
    }

    fn set_state(
        &self,
        id: IncidentId,
        from: IncidentState,
        to: IncidentState,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.with_conn(|conn| {
            let closed = (to == IncidentState::Closed).then_some(at.millis());
            let n = conn
                .prepare_cached("UPDATE incidents SET state = ?3, closed_at_ms = COALESCE(?4, closed_at_ms) WHERE id = ?1 AND state = ?2")?
                .execute(params![id.as_i64(), from.as_str(), to.as_str(), closed])?;
            Ok(n == 1)
        })
    }

    fn originals(&self, persons: &[PersonId]) -> Result<HashMap<PersonId, PersonId>, StoreError> {
        self.with_conn(|conn| {
            let mut direct: HashMap<PersonId, PersonId> = HashMap::new();
            if persons.len() > 100_000 {
                // Many persons: one scan of the (small) duplicates table beats point lookups.
                let mut stmt = conn.prepare("SELECT person_id, duplicate_of FROM duplicates")?;
                let mut rows = stmt.query([])?;
                while let Some(r) = rows.next()? {
                    if let (Some(p), Some(o)) = (PersonId::from_i64(r.get(0)?), PersonId::from_i64(r.get(1)?)) {
                        direct.insert(p, o);
                    }
                }
            } else {
                let mut stmt = conn.prepare_cached("SELECT duplicate_of FROM duplicates WHERE person_id = ?1")?;
                let mut pending: Vec<PersonId> = persons.to_vec();
                // Follow chains a few steps (a duplicate of a duplicate).
                for _ in 0..4 {
                    let mut next = Vec::new();
                    for p in pending {
                        if direct.contains_key(&p) {
                            continue;
                        }
                        if let Some(o) = stmt
                            .query_row([p.as_i64()], |r| r.get::<_, i64>(0))
                            .optional()?
                            .and_then(PersonId::from_i64)
                        {
                            direct.insert(p, o);
                            next.push(o);
                        }
                    }
                    pending = next;
                }
            }
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
            Ok(out)
        })
    }

    fn canaries(&self) -> Result<HashSet<PersonId>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached("SELECT person_id FROM canaries")?;
            let mut rows = stmt.query([])?;
            let mut out = HashSet::new();
            while let Some(r) = rows.next()? {
                if let Some(p) = PersonId::from_i64(r.get(0)?) {
                    out.insert(p);
                }
            }
            Ok(out)
        })
    }

    fn recipients(&self, persons: &[PersonId]) -> Result<Vec<Recipient>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT sex, first_name, last_name, street, postcode, commune, email FROM persons WHERE id = ?1",
            )?;
            let mut out = Vec::with_capacity(persons.len());
            for &p in persons {
                let row = stmt
                    .query_row([p.as_i64()], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, String>(4)?,
                            r.get::<_, String>(5)?,
                            r.get::<_, Option<String>>(6)?,
                        ))
                    })
                    .optional()?;
                if let Some((sex, first_name, last_name, street, postcode, commune, email)) = row {
                    out.push(Recipient {
                        person: p,
                        sex: Sex::parse(&sex).ok_or_else(|| corrupt(format!("persons.sex {sex:?}")))?,
                        first_name,
                        last_name,
                        street,
                        postcode,
                        commune,
                        email,
                    });
                }
            }
            Ok(out)
        })
    }

    fn create_notices(&self, notices: &[Notice]) -> Result<bool, StoreError> {
        self.with_conn(|conn| {
            let Some(first) = notices.first() else { return Ok(true) };
            // Immediate: a second campaign started at the same moment waits for the first's
            // write lock (busy timeout), then finds its notices and is refused, rather than
            // failing to upgrade a read it began beside it.
            let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
            let exists = tx
                .prepare_cached("SELECT 1 FROM notices WHERE incident = ?1 LIMIT 1")?
                .query_row([first.incident.as_i64()], |_| Ok(()))
                .optional()?
                .is_some();
            if exists {
                return Ok(false);
            }
            {
                let mut stmt = tx.prepare_cached(&format!(
                    "INSERT INTO notices ({NOTICE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
                ))?;
                for n in notices {
                    stmt.execute(params![
                        n.incident.as_i64(),
                        n.person.as_i64(),
                        n.kind.as_str(),
                        i64::from(n.categories.bits()),
                        n.first.millis(),
                        n.last.millis(),
                        &n.email,
                        n.state.as_str(),
                        i64::from(n.attempts),
                        &n.message_id,
                        n.updated.millis(),
                        &n.error,
                    ])?;
                }
            }
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
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {NOTICE_COLUMNS} FROM notices WHERE incident = ?1 AND state = ?2 AND person > ?3 ORDER BY person LIMIT ?4"
            ))?;
            let mut rows = stmt.query(params![
                incident.as_i64(),
                state.as_str(),
                after.map_or(0, PersonId::as_i64),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(notice_row(r)?);
            }
            Ok(out)
        })
    }

    fn notice(&self, incident: IncidentId, person: PersonId) -> Result<Option<Notice>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!("SELECT {NOTICE_COLUMNS} FROM notices WHERE incident = ?1 AND person = ?2"))?;
            stmt.query(params![incident.as_i64(), person.as_i64()])?.next()?.map(notice_row).transpose()
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
        self.with_conn(|conn| {
            let attempt = i64::from(to == NoticeState::Sending);
            let n = conn
                .prepare_cached(
                    "UPDATE notices SET state = ?4, attempts = attempts + ?5, updated_ms = ?6, error = ?7 \
                     WHERE incident = ?1 AND person = ?2 AND state = ?3",
                )?
                .execute(params![
                    incident.as_i64(),
                    person.as_i64(),
                    from.as_str(),
                    to.as_str(),
                    attempt,
                    at.millis(),
                    error
                ])?;
            Ok(n == 1)
        })
    }

    fn sending_to_in_doubt(&self, incident: IncidentId, at: Timestamp) -> Result<u64, StoreError> {
        self.with_conn(|conn| {
            let n = conn
                .prepare_cached(
                    "UPDATE notices SET state = 'in_doubt', updated_ms = ?2, \
                     error = 'the sender stopped while this message was in flight' WHERE incident = ?1 AND state = 'sending'",
                )?
                .execute(params![incident.as_i64(), at.millis()])?;
            Ok(n as u64)
        })
    }

    fn notice_counts(&self, incident: IncidentId) -> Result<NoticeCounts, StoreError> {
        self.with_conn(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT state, COUNT(*) FROM notices WHERE incident = ?1 GROUP BY state")?;
            let mut rows = stmt.query([incident.as_i64()])?;
            let mut c = NoticeCounts::default();
            while let Some(r) = rows.next()? {
                let state: String = r.get(0)?;
                let n = u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0);
                match NoticeState::parse(&state) {
                    Some(NoticeState::Pending) => c.pending = n,
                    Some(NoticeState::Sending) => c.sending = n,
                    Some(NoticeState::InDoubt) => c.in_doubt = n,
                    Some(NoticeState::Sent) => c.sent = n,
                    Some(NoticeState::Failed) => c.failed = n,
                    Some(NoticeState::NoAddress) => c.no_address = n,
                    None => return Err(corrupt(format!("notices.state {state:?}"))),
                }
            }
            Ok(c)
        })
    }
}
