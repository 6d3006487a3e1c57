//! Governed bulk extracts on SQLite: the core's [`ExtractStore`] port (their requests and life,
//! the persons an extract takes, streamed in id order, the quota they count against, and the
//! canaries each carries), and shortcuts for callers that hold the concrete store.

use std::ops::ControlFlow;

use rusqlite::{OptionalExtension, Row, params};
use vigie_core::category::CategorySet;
use vigie_core::extract::store::{ExtractStore, NewExtract, Production};
use vigie_core::extract::{Extract, ExtractId, ExtractState, LegalBasis};
use vigie_core::ids::{AgentId, OrgId, PersonId};
use vigie_core::person::Person;
use vigie_core::ports::StoreError;
use vigie_core::relationship::RelationshipKind;
use vigie_core::time::Timestamp;

use crate::Store;
use crate::codec::{self, day, kind_code, kind_from_code};
use crate::error::{DbError, corrupt};

const COLUMNS: &str = "id, org, requested_by, purpose, description, legal_basis, relationship, fields, recipient, \
    receipt_key, expires_at_ms, created_at_ms, state, decided_by, decided_at_ms, produced_at_ms, rows, canaries, \
    ciphertext_sha256, deleted_at_ms, downloaded_at_ms";

fn row(r: &Row<'_>) -> Result<Extract, DbError> {
    let bad = |c: &str| corrupt(format!("extracts.{c}"));
    let opt_agent =
        |i: usize| -> Result<Option<AgentId>, DbError> { Ok(r.get::<_, Option<i64>>(i)?.and_then(AgentId::from_i64)) };
    let opt_u64 = |i: usize| -> Result<Option<u64>, DbError> { Ok(r.get::<_, Option<i64>>(i)?.map(|n| n as u64)) };
    Ok(Extract {
        id: ExtractId::new(r.get::<_, i64>(0)? as u64).ok_or_else(|| bad("id"))?,
        org: OrgId::from_i64(r.get(1)?).ok_or_else(|| bad("org"))?,
        requested_by: AgentId::from_i64(r.get(2)?).ok_or_else(|| bad("requested_by"))?,
        purpose: r.get::<_, String>(3)?.parse().map_err(|_| bad("purpose"))?,
        description: r.get(4)?,
        legal_basis: LegalBasis::parse(&r.get::<_, String>(5)?).ok_or_else(|| bad("legal_basis"))?,
        relationship: kind_from_code(r.get(6)?).ok_or_else(|| bad("relationship"))?,
        fields: CategorySet::from_bits(r.get::<_, i64>(7)? as u8).ok_or_else(|| bad("fields"))?,
        recipient: r.get(8)?,
        receipt_key: r.get(9)?,
        expires_at: Timestamp(r.get(10)?),
        created_at: Timestamp(r.get(11)?),
        state: ExtractState::parse(&r.get::<_, String>(12)?).ok_or_else(|| bad("state"))?,
        decided_by: opt_agent(13)?,
        decided_at: r.get::<_, Option<i64>>(14)?.map(Timestamp),
        produced_at: r.get::<_, Option<i64>>(15)?.map(Timestamp),
        rows: opt_u64(16)?,
        canaries: opt_u64(17)?,
        ciphertext_sha256: r.get(18)?,
        deleted_at: r.get::<_, Option<i64>>(19)?.map(Timestamp),
        downloaded_at: r.get::<_, Option<i64>>(20)?.map(Timestamp),
    })
}

const ACTIVE_REL: &str = "FROM relationships r WHERE r.org = ?1 AND r.kind = ?2 AND r.valid_from <= ?3 \
     AND (r.valid_to IS NULL OR r.valid_to >= ?3)";

impl ExtractStore for Store {
    fn create_extract(&self, x: &NewExtract) -> Result<Extract, StoreError> {
        self.with_conn(|conn| {
            let tx = conn.unchecked_transaction()?;
            let next: i64 = tx.query_row("SELECT coalesce(max(id), 0) + 1 FROM extracts", [], |r| r.get(0))?;
            tx.execute(
                "INSERT INTO extracts (id, org, requested_by, purpose, description, legal_basis, relationship, \
                 fields, recipient, receipt_key, expires_at_ms, created_at_ms, state) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'requested')",
                params![
                    next,
                    x.org.as_i64(),
                    x.requested_by.as_i64(),
                    x.purpose,
                    x.description,
                    x.legal_basis.as_str(),
                    kind_code(x.relationship),
                    i64::from(x.fields.bits()),
                    x.recipient,
                    x.receipt_key,
                    x.expires_at.millis(),
                    x.created_at.millis(),
                ],
            )?;
            let out = tx.query_row(&format!("SELECT {COLUMNS} FROM extracts WHERE id = ?1"), [next], |r| Ok(row(r)))?;
            tx.commit()?;
            out
        })
    }

    fn extract(&self, id: ExtractId) -> Result<Option<Extract>, StoreError> {
        self.with_conn(|conn| {
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM extracts WHERE id = ?1"))?
                .query_row([i64::from(id.get())], |r| Ok(row(r)))
                .optional()?
                .transpose()
        })
    }

    /// The newest extracts first.
    fn extracts(&self, limit: usize) -> Result<Vec<Extract>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM extracts ORDER BY id DESC LIMIT ?1"))?;
            let mut rows = stmt.query([i64::try_from(limit).unwrap_or(i64::MAX)])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(row(r)?);
            }
            Ok(out)
        })
    }

    /// Approves or refuses a request still pending. `false` if it was not pending any more.
    fn decide_extract(&self, id: ExtractId, approve: bool, by: AgentId, at: Timestamp) -> Result<bool, StoreError> {
        self.with_conn(|conn| {
            Ok(conn.execute(
                "UPDATE extracts SET state = ?2, decided_by = ?3, decided_at_ms = ?4 WHERE id = ?1 AND state = 'requested'",
                params![i64::from(id.get()), if approve { "approved" } else { "refused" }, by.as_i64(), at.millis()],
            )? == 1)
        })
    }

    /// Persons the organization's produced extracts held since `since` (the quota's count).
    fn extracted_since(&self, org: OrgId, since: Timestamp) -> Result<u64, StoreError> {
        self.with_conn(|conn| {
            let n: i64 = conn.query_row(
                "SELECT coalesce(sum(rows), 0) FROM extracts WHERE org = ?1 AND produced_at_ms >= ?2",
                params![org.as_i64(), since.millis()],
                |r| r.get(0),
            )?;
            Ok(n as u64)
        })
    }

    /// How many distinct persons `org` reaches through active `kind` relationships on `on`.
    fn count_extract_persons(&self, org: OrgId, kind: RelationshipKind, on: time::Date) -> Result<u64, StoreError> {
        self.with_conn(|conn| {
            let n: i64 = conn.query_row(
                &format!("SELECT count(DISTINCT r.person) {ACTIVE_REL}"),
                params![org.as_i64(), kind_code(kind), day(on)],
                |r| r.get(0),
            )?;
            Ok(n as u64)
        })
    }

    fn for_each_extract_person(
        &self,
        org: OrgId,
        kind: RelationshipKind,
        on: time::Date,
        f: &mut (dyn FnMut(Person) -> ControlFlow<()> + Send),
    ) -> Result<(), StoreError> {
        // One statement on one connection: the walk reads one snapshot of the registry.
        self.with_conn(|conn| {
            let sql = format!(
                "SELECT {} FROM persons WHERE id IN (SELECT DISTINCT r.person {ACTIVE_REL}) ORDER BY id",
                codec::PERSON_COLUMNS
            );
            let mut stmt = conn.prepare(&sql)?;
            let mut rows = stmt.query(params![org.as_i64(), kind_code(kind), day(on)])?;
            while let Some(r) = rows.next()? {
                if f(codec::person(r)?).is_break() {
                    break;
                }
            }
            Ok(())
        })
    }

    /// Records a production: adds the canaries to the registry (ids after the largest), marks
    /// them canaries of the extract, and the extract produced, in one transaction. `Ok(None)` if
    /// the extract was no longer approved.
    fn commit_production(&self, id: ExtractId, p: &Production) -> Result<Option<Vec<PersonId>>, StoreError> {
        self.with_conn(|conn| {
            let tx = conn.unchecked_transaction()?;
            let updated = tx.execute(
                "UPDATE extracts SET state = 'produced', produced_at_ms = ?2, rows = ?3, canaries = ?4, \
                 ciphertext_sha256 = ?5 WHERE id = ?1 AND state = 'approved'",
                params![i64::from(id.get()), p.at.millis(), p.rows as i64, p.canaries.len() as i64, p.sha256_hex],
            )?;
            if updated != 1 {
                return Ok(None);
            }
            let mut next: i64 = tx.query_row("SELECT coalesce(max(id), 0) + 1 FROM persons", [], |r| r.get(0))?;
            let mut ids = Vec::with_capacity(p.canaries.len());
            {
                let mut person = tx.prepare_cached(crate::load::INSERT_PERSON)?;
                let mut canary = tx.prepare_cached("INSERT INTO canaries (person_id) VALUES (?1)")?;
                let mut placed = tx.prepare_cached(
                    "INSERT INTO extract_canaries (person_id, extract, number, email, phone) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for c in &p.canaries {
                    let q = &c.person;
                    person.execute(params![
                        next,
                        q.ft_id.as_str(),
                        q.nir.as_str(),
                        q.last_name,
                        q.first_name,
                        day(q.birth_date),
                        q.birth_place.code,
                        q.birth_place.name,
                        q.sex.as_str(),
                        q.email,
                        q.phone,
                        q.address.street,
                        q.address.postcode,
                        q.address.commune,
                        q.address.commune_code,
                        codec::status_code(q.status),
                        day(q.registered_on),
                        q.deregistered_on.map(day),
                        q.youth,
                        q.rqth,
                    ])?;
                    canary.execute([next])?;
                    placed.execute(params![next, i64::from(id.get()), i64::from(c.number), c.email, c.phone])?;
                    ids.push(PersonId::from_i64(next).ok_or_else(|| corrupt("persons.id"))?);
                    next += 1;
                }
            }
            tx.commit()?;
            Ok(Some(ids))
        })
    }

    /// Records an accepted deletion receipt. `false` if the extract was not produced.
    fn record_extract_deleted(&self, id: ExtractId, at: Timestamp) -> Result<bool, StoreError> {
        self.with_conn(|conn| {
            Ok(conn.execute(
                "UPDATE extracts SET state = 'deleted', deleted_at_ms = ?2 WHERE id = ?1 AND state = 'produced'",
                params![i64::from(id.get()), at.millis()],
            )? == 1)
        })
    }

    /// Notes that the ciphertext was handed over at `at`, if it was not before (the first
    /// hand-over is kept; each one is in the ledger).
    fn record_extract_downloaded(&self, id: ExtractId, at: Timestamp) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            conn.execute(
                "UPDATE extracts SET downloaded_at_ms = coalesce(downloaded_at_ms, ?2) WHERE id = ?1",
                params![i64::from(id.get()), at.millis()],
            )?;
            Ok(())
        })
    }

    /// Produced extracts past their retention without a receipt, and whether each was already
    /// noted (ledgered and alerted once).
    fn overdue_extracts(&self, now: Timestamp) -> Result<Vec<(Extract, bool)>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS}, overdue_noted FROM extracts WHERE state = 'produced' AND expires_at_ms <= ?1 ORDER BY id"
            ))?;
            let mut rows = stmt.query([now.millis()])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push((row(r)?, r.get::<_, i64>(21)? == 1));
            }
            Ok(out)
        })
    }

    fn note_extract_overdue(&self, id: ExtractId) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            conn.execute("UPDATE extracts SET overdue_noted = 1 WHERE id = ?1", [i64::from(id.get())])?;
            Ok(())
        })
    }

    /// The extract canaries whose normalized e-mail (or phone) is this: (extract, number).
    fn extract_canaries_by(
        &self,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Vec<(ExtractId, u32)>, StoreError> {
        self.with_conn(|conn| {
            let (sql, key) = match (email, phone) {
                (Some(e), _) => ("SELECT extract, number FROM extract_canaries WHERE email = ?1", e),
                (None, Some(p)) => ("SELECT extract, number FROM extract_canaries WHERE phone = ?1", p),
                (None, None) => return Ok(Vec::new()),
            };
            let mut stmt = conn.prepare_cached(sql)?;
            let mut rows = stmt.query([key])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let x =
                    ExtractId::new(r.get::<_, i64>(0)? as u64).ok_or_else(|| corrupt("extract_canaries.extract"))?;
                out.push((x, r.get::<_, i64>(1)? as u32));
            }
            Ok(out)
        })
    }

    /// Every extract canary: person → extract (the detector names the extract in its alert).
    fn extract_canaries(&self) -> Result<Vec<(PersonId, ExtractId)>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached("SELECT person_id, extract FROM extract_canaries ORDER BY person_id")?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let p = PersonId::from_i64(r.get(0)?).ok_or_else(|| corrupt("extract_canaries.person_id"))?;
                let x =
                    ExtractId::new(r.get::<_, i64>(1)? as u64).ok_or_else(|| corrupt("extract_canaries.extract"))?;
                out.push((p, x));
            }
            Ok(out)
        })
    }
}

/// Shortcuts for callers that hold the concrete store (benchmarks, tests) without the port in
/// scope.
impl Store {
    /// Gives `org` a `kind` relationship, valid from `from`, with every person that is not a
    /// canary and has none with it yet. For benchmarks and tests that need an organization
    /// reaching a large registry (a national subcontractor's 1 000 000 assignments); returns
    /// how many were added.
    pub fn relate_everyone(&self, org: OrgId, kind: RelationshipKind, from: time::Date) -> Result<u64, StoreError> {
        self.with_conn(|conn| {
            let n = conn.execute(
                "INSERT INTO relationships (kind, person, org, agent, session, valid_from, valid_to) \
                 SELECT ?2, p.id, ?1, NULL, NULL, ?3, NULL FROM persons p \
                 WHERE p.id NOT IN (SELECT person_id FROM canaries) \
                 AND NOT EXISTS (SELECT 1 FROM relationships r WHERE r.person = p.id AND r.org = ?1 AND r.kind = ?2)",
                params![org.as_i64(), kind_code(kind), day(from)],
            )?;
            Ok(n as u64)
        })
    }
}
