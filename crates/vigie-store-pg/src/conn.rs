//! A pooled connection that keeps the statements it prepared.
//!
//! A statement given as text costs two round trips to the server (parse and describe, then bind
//! and execute), each handed through the synchronous client's runtime thread. The guarded
//! read's statements are few and run for every read, so each connection prepares them once and
//! then executes them in one round trip ([`Conn::query_prepared`]). A statement that fails is
//! forgotten and prepared again on its next use; a bulk load's swap of the schema drops the old
//! tables, which makes the server re-plan the prepared statements against the new ones.
//!
//! The pool pings a connection before lending it only when it has been idle for a while
//! ([`IDLE_CHECK`]): a busy connection is lent at once (a ping per call was one more round trip
//! per statement), an idle one that the server, a restart or a firewall closed is found and
//! replaced before a call fails on it (HikariCP's "alive bypass window"). One the server closes
//! in the middle of a busy period fails its call, which is refused like any store failure, and
//! the pool drops it when it comes back ([`Manager::has_broken`]).

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use postgres::types::ToSql;
use postgres::{Client, Row, Statement};
use r2d2_postgres::PostgresConnectionManager;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Statements a connection keeps at most; past it, it forgets them all and starts again (the
/// hot ones come back at once). Statements built per call with varying text never reach the
/// cache: only the `*_prepared` calls fill it.
const MAX_PREPARED: usize = 64;

/// A connection used this recently is lent without a ping.
pub(crate) const IDLE_CHECK: Duration = Duration::from_millis(500);

/// A connection, its prepared statements by their text, and when it last answered.
pub(crate) struct Conn {
    client: Client,
    prepared: HashMap<String, Statement>,
    used: Instant,
}

impl Conn {
    /// Notes that the connection just answered a call.
    pub(crate) fn used(&mut self) {
        self.used = Instant::now();
    }

    /// The statement of `sql`, prepared on this connection once.
    fn prepared(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.prepared.get(sql) {
            return Ok(s.clone());
        }
        let statement = self.client.prepare(sql)?;
        if self.prepared.len() >= MAX_PREPARED {
            self.prepared.clear();
        }
        self.prepared.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    /// Runs `sql` as a statement prepared once on this connection: one round trip.
    pub(crate) fn query_prepared(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, postgres::Error> {
        self.run_prepared(sql, |client, statement| client.query(statement, params))
    }

    /// [`Conn::query_prepared`] of a statement that returns at most one row.
    pub(crate) fn query_opt_prepared(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, postgres::Error> {
        self.run_prepared(sql, |client, statement| client.query_opt(statement, params))
    }

    /// [`Conn::query_prepared`] of a statement that returns no rows: the number of rows it
    /// changed.
    pub(crate) fn execute_prepared(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, postgres::Error> {
        self.run_prepared(sql, |client, statement| client.execute(statement, params))
    }

    /// Runs `run` with the statement of `sql`, forgetting the statement if it fails.
    fn run_prepared<R>(
        &mut self,
        sql: &str,
        run: impl FnOnce(&mut Client, &Statement) -> Result<R, postgres::Error>,
    ) -> Result<R, postgres::Error> {
        let statement = self.prepared(sql)?;
        run(&mut self.client, &statement).inspect_err(|_| {
            self.prepared.remove(sql);
        })
    }
}

impl Deref for Conn {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

/// Makes [`Conn`]s: r2d2-postgres's manager, with a statement cache per connection.
pub(crate) struct Manager(pub(crate) PostgresConnectionManager<MakeRustlsConnect>);

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Manager")
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Conn, postgres::Error> {
        Ok(Conn { client: self.0.connect()?, prepared: HashMap::new(), used: Instant::now() })
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), postgres::Error> {
        if conn.used.elapsed() < IDLE_CHECK && !conn.client.is_closed() {
            return Ok(());
        }
        self.0.is_valid(&mut conn.client)?;
        conn.used();
        Ok(())
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        self.0.has_broken(&mut conn.client)
    }
}
