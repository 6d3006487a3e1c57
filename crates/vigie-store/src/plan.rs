//! The query plans of the hot statements, as SQLite will run them on this database: what a
//! `doctor` command prints and what the tests check, since a scope page or a guarded read that
//! falls back to a full scan is fine on a test registry and a denial of service on 43 million
//! persons.

use vigie_core::ports::StoreError;

use crate::Store;
use crate::codec::{AGENT_COLUMNS, PERSON_BY_ID_SQL};
use crate::registry::{ACTIVE_RELATIONSHIPS_SQL, FIND_BY_FT_ID_SQL, FIND_BY_NIR_SQL};
use crate::scope::{SCOPE_AGENT_SQL, SCOPE_ORG_SQL, SCOPE_TEAM_SQL};
use crate::sessions::SESSION_BY_ACCESS_SQL;

/// How SQLite runs one hot statement.
#[derive(Clone, Debug)]
pub struct QueryPlan {
    pub name: &'static str,
    /// The `detail` column of `EXPLAIN QUERY PLAN`, one line per step.
    pub steps: Vec<String>,
}

/// Tables whose size grows with the registry: never to be scanned.
const BIG_TABLES: &[&str] = &["persons", "relationships", "sessions", "agents", "p", "r", "a", "m", "c", "s"];

impl QueryPlan {
    /// The steps that read a big table without an index (`SCAN x` rather than `SEARCH x`).
    pub fn full_scans(&self) -> Vec<&str> {
        self.steps
            .iter()
            .filter(|s| {
                let mut words = s.split_whitespace();
                words.next() == Some("SCAN") && words.next().is_some_and(|t| BIG_TABLES.contains(&t))
            })
            .map(String::as_str)
            .collect()
    }
}

impl Store {
    /// The plans of the guarded path's statements on this database (with its statistics).
    pub fn query_plans(&self) -> Result<Vec<QueryPlan>, StoreError> {
        let agent_by_login = format!("SELECT {AGENT_COLUMNS} FROM agents WHERE login = ?1");
        let statements: [(&'static str, &str); 10] = [
            ("active_relationships", ACTIVE_RELATIONSHIPS_SQL),
            ("person", PERSON_BY_ID_SQL),
            ("find_by_nir", FIND_BY_NIR_SQL),
            ("find_by_ft_id", FIND_BY_FT_ID_SQL),
            ("scope_page(team)", SCOPE_TEAM_SQL),
            ("scope_page(own caseload)", SCOPE_AGENT_SQL),
            ("scope_page(organization)", SCOPE_ORG_SQL),
            ("session", SESSION_BY_ACCESS_SQL),
            ("agent_by_login", &agent_by_login),
            ("consume_totp_step", crate::accounts::CONSUME_TOTP_STEP_SQL),
        ];
        self.with_conn(|conn| {
            let mut plans = Vec::with_capacity(statements.len());
            for (name, sql) in statements {
                let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                // Unbound parameters: the plan does not depend on the values (no STAT4).
                let nulls =
                    rusqlite::params_from_iter(std::iter::repeat_n(rusqlite::types::Null, stmt.parameter_count()));
                let steps = stmt.query_map(nulls, |r| r.get::<_, String>(3))?.collect::<Result<Vec<_>, _>>()?;
                plans.push(QueryPlan { name, steps });
            }
            Ok(plans)
        })
    }
}
