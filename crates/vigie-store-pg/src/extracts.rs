//! Governed bulk extracts (the core's `ExtractStore` port) over PostgreSQL: the requests and
//! their life, the persons an extract takes, the quota they count against, and the canaries
//! each carries.
//!
//! The rows and the semantics are the SQLite store's (`vigie-store/src/extracts.rs`); what this
//! adds is what several nodes sharing one database need. Extract ids come from an identity
//! sequence (two nodes filing at once get two ids; never one given twice, since ledgers,
//! pseudonyms and file names carry them; a bulk load carries the sequence over). Each state
//! move is one compare-and-set statement. A production's commit (the extract produced, its
//! canaries added to the registry) is one transaction that locks `persons` against other
//! writers while it numbers the canaries after the largest id (guarded reads are not held up:
//! the lock does not conflict with reads), so two productions on two nodes never take the same
//! ids.
//!
//! The persons of an extract (millions for a national subcontractor) are read through a
//! portal in a read-only transaction, [`WALK_BATCH`] rows per round trip: one statement, so one
//! snapshot of the registry as SQLite's single statement reads, and memory bounded whatever
//! the size.

use std::ops::ControlFlow;

use postgres::Row;
use postgres::binary_copy::BinaryCopyInWriter;
use vigie_core::category::CategorySet;
use vigie_core::extract::store::{ExtractStore, NewExtract, Production};
use vigie_core::extract::{Extract, ExtractId, ExtractState, LegalBasis};
use vigie_core::ids::{AgentId, OrgId, PersonId};
use vigie_core::person::Person;
use vigie_core::ports::StoreError;
use vigie_core::relationship::RelationshipKind;
use vigie_core::time::Timestamp;

use crate::PgStore;
use crate::codec::{self, PERSON_COLUMNS, PERSON_TYPES};
use crate::error::{DbError, corrupt};

/// Persons fetched from the walk's portal per round trip.
const WALK_BATCH: i32 = 1024;

const COLUMNS: &str = "id, org, requested_by, purpose, description, legal_basis, relationship, fields, recipient, \
    receipt_key, expires_at_ms, created_at_ms, state, decided_by, decided_at_ms, produced_at_ms, rows, canaries, \
    ciphertext_sha256, deleted_at_ms, downloaded_at_ms";

/// The relationships that put a person in an extract: `org`'s of `kind`, active on the day
/// (from its first day to its last, both included, as the SQLite store counts).
const ACTIVE_REL: &str = "FROM relationships r WHERE r.org = $1 AND r.kind = $2 AND r.valid_from <= $3 \
     AND (r.valid_to IS NULL OR r.valid_to >= $3)";

fn row(r: &Row) -> Result<Extract, DbError> {
    let id = extract_id(r.try_get(0)?, "extracts.id")?;
    let bad = |c: &str| corrupt(format!("extracts.{c} of {id}"));
    let count = |i: usize, c: &str| -> Result<Option<u64>, DbError> {
        r.try_get::<_, Option<i64>>(i)?.map(|n| u64::try_from(n).map_err(|_| bad(c))).transpose()
    };
    let fields: i16 = r.try_get(7)?;
    Ok(Extract {
        id,
        org: codec::parse(r.try_get(1)?, OrgId::from_i64, "extracts.org")?,
        requested_by: codec::parse(r.try_get(2)?, AgentId::from_i64, "extracts.requested_by")?,
        purpose: r.try_get::<_, String>(3)?.parse().map_err(|_| bad("purpose"))?,
        description: r.try_get(4)?,
        legal_basis: LegalBasis::parse(&r.try_get::<_, String>(5)?).ok_or_else(|| bad("legal_basis"))?,
        relationship: codec::kind_from_code(r.try_get(6)?).ok_or_else(|| bad("relationship"))?,
        fields: u8::try_from(fields).ok().and_then(CategorySet::from_bits).ok_or_else(|| bad("fields"))?,
        recipient: r.try_get(8)?,
        receipt_key: r.try_get(9)?,
        expires_at: Timestamp(r.try_get(10)?),
        created_at: Timestamp(r.try_get(11)?),
        state: ExtractState::parse(&r.try_get::<_, String>(12)?).ok_or_else(|| bad("state"))?,
        decided_by: codec::optional(r.try_get(13)?, AgentId::from_i64, "extracts.decided_by")?,
        decided_at: r.try_get::<_, Option<i64>>(14)?.map(Timestamp),
        produced_at: r.try_get::<_, Option<i64>>(15)?.map(Timestamp),
        rows: count(16, "rows")?,
        canaries: count(17, "canaries")?,
        ciphertext_sha256: r.try_get(18)?,
        deleted_at: r.try_get::<_, Option<i64>>(19)?.map(Timestamp),
        downloaded_at: r.try_get::<_, Option<i64>>(20)?.map(Timestamp),
    })
}

fn extract_id(raw: i64, column: &'static str) -> Result<ExtractId, DbError> {
    u64::try_from(raw).ok().and_then(ExtractId::new).ok_or_else(|| corrupt(format!("{column} is not a valid id")))
}

/// An extract's id as a SQL `bigint`.
fn key(id: ExtractId) -> i64 {
    i64::from(id.get())
}

/// A count as a SQL `bigint`.
fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl ExtractStore for PgStore {
    fn create_extract(&self, x: &NewExtract) -> Result<Extract, StoreError> {
        self.with_conn(|c| {
            let r = c.query_one(
                &format!(
                    "INSERT INTO extracts (org, requested_by, purpose, description, legal_basis, relationship, \
                     fields, recipient, receipt_key, expires_at_ms, created_at_ms, state) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'requested') RETURNING {COLUMNS}"
                ),
                &[
                    &x.org.as_i64(),
                    &x.requested_by.as_i64(),
                    &x.purpose,
                    &x.description,
                    &x.legal_basis.as_str(),
                    &codec::kind_code(x.relationship),
                    &i16::from(x.fields.bits()),
                    &x.recipient,
                    &x.receipt_key,
                    &x.expires_at.millis(),
                    &x.created_at.millis(),
                ],
            )?;
            row(&r)
        })
    }

    fn extract(&self, id: ExtractId) -> Result<Option<Extract>, StoreError> {
        self.with_conn(|c| {
            c.query_opt_prepared(&format!("SELECT {COLUMNS} FROM extracts WHERE id = $1"), &[&key(id)])?
                .as_ref()
                .map(row)
                .transpose()
        })
    }

    fn extracts(&self, limit: usize) -> Result<Vec<Extract>, StoreError> {
        self.with_conn(|c| {
            c.query(
                &format!("SELECT {COLUMNS} FROM extracts ORDER BY id DESC LIMIT $1"),
                &[&i64::try_from(limit).unwrap_or(i64::MAX)],
            )?
            .iter()
            .map(row)
            .collect()
        })
    }

    fn decide_extract(&self, id: ExtractId, approve: bool, by: AgentId, at: Timestamp) -> Result<bool, StoreError> {
        let to = if approve { ExtractState::Approved } else { ExtractState::Refused };
        self.with_conn(|c| {
            Ok(c.execute(
                "UPDATE extracts SET state = $2, decided_by = $3, decided_at_ms = $4 WHERE id = $1 AND state = 'requested'",
                &[&key(id), &to.as_str(), &by.as_i64(), &at.millis()],
            )? == 1)
        })
    }

    fn extracted_since(&self, org: OrgId, since: Timestamp) -> Result<u64, StoreError> {
        self.with_conn(|c| {
            let n: i64 = c
                .query_one(
                    "SELECT coalesce(sum(rows), 0)::bigint FROM extracts WHERE org = $1 AND produced_at_ms >= $2",
                    &[&org.as_i64(), &since.millis()],
                )?
                .try_get(0)?;
            u64::try_from(n).map_err(|_| corrupt("extracts.rows"))
        })
    }

    fn count_extract_persons(&self, org: OrgId, kind: RelationshipKind, on: time::Date) -> Result<u64, StoreError> {
        self.with_conn(|c| {
            let n: i64 = c
                .query_one(
                    &format!("SELECT count(DISTINCT r.person) {ACTIVE_REL}"),
                    &[&org.as_i64(), &codec::kind_code(kind), &on],
                )?
                .try_get(0)?;
            u64::try_from(n).map_err(|_| corrupt("a count"))
        })
    }

    fn for_each_extract_person(
        &self,
        org: OrgId,
        kind: RelationshipKind,
        on: time::Date,
        f: &mut (dyn FnMut(Person) -> ControlFlow<()> + Send),
    ) -> Result<(), StoreError> {
        self.with_conn(|c| {
            // Read only, and rolled back when dropped: it only holds the portal's snapshot.
            let mut tx = c.build_transaction().read_only(true).start()?;
            let statement = tx.prepare(&format!(
                "SELECT {PERSON_COLUMNS} FROM persons WHERE id IN (SELECT r.person {ACTIVE_REL}) ORDER BY id"
            ))?;
            let portal = tx.bind(&statement, &[&org.as_i64(), &codec::kind_code(kind), &on])?;
            loop {
                let rows = tx.query_portal(&portal, WALK_BATCH)?;
                for r in &rows {
                    if f(codec::person(r)?).is_break() {
                        return Ok(());
                    }
                }
                if rows.len() < WALK_BATCH as usize {
                    return Ok(());
                }
            }
        })
    }

    fn commit_production(&self, id: ExtractId, p: &Production) -> Result<Option<Vec<PersonId>>, StoreError> {
        self.with_conn(|c| {
            let mut tx = c.transaction()?;
            let updated = tx.execute(
                "UPDATE extracts SET state = 'produced', produced_at_ms = $2, rows = $3, canaries = $4, \
                 ciphertext_sha256 = $5 WHERE id = $1 AND state = 'approved'",
                &[&key(id), &p.at.millis(), &big(p.rows), &big(p.canaries.len() as u64), &p.sha256_hex],
            )?;
            if updated != 1 {
                // Dropped: rolled back, nothing written.
                return Ok(None);
            }
            // Another production (on any node) numbering its canaries waits here until this
            // one commits; reads go on.
            tx.batch_execute("LOCK TABLE persons IN SHARE ROW EXCLUSIVE MODE")?;
            let first: i64 = tx.query_one("SELECT coalesce(max(id), 0) + 1 FROM persons", &[])?.try_get(0)?;
            let ids: Vec<i64> = (first..).take(p.canaries.len()).collect();
            let sink = tx.copy_in(&format!("COPY persons ({PERSON_COLUMNS}) FROM STDIN (FORMAT binary)"))?;
            let mut w = BinaryCopyInWriter::new(sink, &PERSON_TYPES);
            for (c, id) in p.canaries.iter().zip(&ids) {
                let q = &c.person;
                w.write(&[
                    id,
                    &q.ft_id.as_str(),
                    &q.nir.as_str(),
                    &q.last_name,
                    &q.first_name,
                    &q.birth_date,
                    &q.birth_place.code,
                    &q.birth_place.name,
                    &q.sex.as_str(),
                    &q.email,
                    &q.phone,
                    &q.address.street,
                    &q.address.postcode,
                    &q.address.commune,
                    &q.address.commune_code,
                    &codec::status_code(q.status),
                    &q.registered_on,
                    &q.deregistered_on,
                    &q.youth,
                    &q.rqth,
                ])?;
            }
            w.finish()?;
            tx.execute("INSERT INTO canaries (person_id) SELECT unnest($1::bigint[])", &[&ids])?;
            let numbers: Vec<i64> = p.canaries.iter().map(|c| i64::from(c.number)).collect();
            let emails: Vec<&str> = p.canaries.iter().map(|c| c.email.as_str()).collect();
            let phones: Vec<&str> = p.canaries.iter().map(|c| c.phone.as_str()).collect();
            tx.execute(
                "INSERT INTO extract_canaries (person_id, extract, number, email, phone) \
                 SELECT c.person_id, $1, c.number, c.email, c.phone \
                 FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[]) AS c (person_id, number, email, phone)",
                &[&key(id), &ids, &numbers, &emails, &phones],
            )?;
            tx.commit()?;
            ids.into_iter().map(|n| codec::parse(n, PersonId::from_i64, "persons.id")).collect::<Result<_, _>>().map(Some)
        })
    }

    fn record_extract_deleted(&self, id: ExtractId, at: Timestamp) -> Result<bool, StoreError> {
        self.with_conn(|c| {
            Ok(c.execute(
                "UPDATE extracts SET state = 'deleted', deleted_at_ms = $2 WHERE id = $1 AND state = 'produced'",
                &[&key(id), &at.millis()],
            )? == 1)
        })
    }

    fn record_extract_downloaded(&self, id: ExtractId, at: Timestamp) -> Result<(), StoreError> {
        self.with_conn(|c| {
            c.execute(
                "UPDATE extracts SET downloaded_at_ms = coalesce(downloaded_at_ms, $2) WHERE id = $1",
                &[&key(id), &at.millis()],
            )?;
            Ok(())
        })
    }

    fn overdue_extracts(&self, now: Timestamp) -> Result<Vec<(Extract, bool)>, StoreError> {
        self.with_conn(|c| {
            c.query(
                &format!(
                    "SELECT {COLUMNS}, overdue_noted FROM extracts \
                     WHERE state = 'produced' AND expires_at_ms <= $1 ORDER BY id"
                ),
                &[&now.millis()],
            )?
            .iter()
            .map(|r| Ok((row(r)?, r.try_get::<_, bool>(21)?)))
            .collect()
        })
    }

    fn note_extract_overdue(&self, id: ExtractId) -> Result<(), StoreError> {
        self.with_conn(|c| {
            c.execute("UPDATE extracts SET overdue_noted = true WHERE id = $1", &[&key(id)])?;
            Ok(())
        })
    }

    fn extract_canaries_by(
        &self,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Vec<(ExtractId, u32)>, StoreError> {
        // By person id, as SQLite's index on the contact point returns them.
        let (sql, value) = match (email, phone) {
            (Some(e), _) => ("SELECT extract, number FROM extract_canaries WHERE email = $1 ORDER BY person_id", e),
            (None, Some(p)) => ("SELECT extract, number FROM extract_canaries WHERE phone = $1 ORDER BY person_id", p),
            (None, None) => return Ok(Vec::new()),
        };
        self.with_conn(|c| {
            c.query_prepared(sql, &[&value])?
                .iter()
                .map(|r| {
                    let x = extract_id(r.try_get(0)?, "extract_canaries.extract")?;
                    let n = u32::try_from(r.try_get::<_, i64>(1)?).map_err(|_| corrupt("extract_canaries.number"))?;
                    Ok((x, n))
                })
                .collect()
        })
    }

    fn extract_canaries(&self) -> Result<Vec<(PersonId, ExtractId)>, StoreError> {
        self.with_conn(|c| {
            c.query("SELECT person_id, extract FROM extract_canaries ORDER BY person_id", &[])?
                .iter()
                .map(|r| {
                    let p = codec::parse(r.try_get(0)?, PersonId::from_i64, "extract_canaries.person_id")?;
                    Ok((p, extract_id(r.try_get(1)?, "extract_canaries.extract")?))
                })
                .collect()
        })
    }
}
