//! A small connection pool: each concurrent reader (a blocking thread of the server) takes its
//! own SQLite connection, so statements never serialize on one handle, and gives it back on
//! drop. Connections are opened lazily up to the pool's capacity; past it, callers wait.
//!
//! Written by hand rather than pulled in (r2d2, deadpool): it is fifty lines, and it lets a
//! connection that comes back mid-transaction (a panic between BEGIN and COMMIT) be rolled back
//! or dropped instead of poisoning the next caller.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::DbError;
use crate::schema;

/// How long a caller waits for a free connection before giving up (and the guard denying).
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct Pool {
    path: PathBuf,
    busy_timeout: Duration,
    capacity: usize,
    state: Mutex<State>,
    returned: Condvar,
}

struct State {
    idle: Vec<Connection>,
    /// Connections in existence (idle or checked out).
    opened: usize,
}

impl Pool {
    /// A pool over `path`, seeded with an already configured connection.
    pub(crate) fn new(path: PathBuf, first: Connection, capacity: usize, busy_timeout: Duration) -> Pool {
        Pool {
            path,
            busy_timeout,
            capacity: capacity.max(1),
            state: Mutex::new(State { idle: vec![first], opened: 1 }),
            returned: Condvar::new(),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Takes a connection, opening one if the pool has room, else waiting for one to come back.
    pub(crate) fn get(&self) -> Result<PooledConn<'_>, DbError> {
        let mut state = self.lock();
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(PooledConn { pool: self, conn: Some(conn) });
            }
            if state.opened < self.capacity {
                state.opened += 1;
                drop(state);
                return match self.connect() {
                    Ok(conn) => Ok(PooledConn { pool: self, conn: Some(conn) }),
                    Err(e) => {
                        self.forget_one();
                        Err(e)
                    }
                };
            }
            let (next, timeout) =
                self.returned.wait_timeout(state, CHECKOUT_TIMEOUT).unwrap_or_else(PoisonError::into_inner);
            state = next;
            if timeout.timed_out() && state.idle.is_empty() && state.opened >= self.capacity {
                return Err(DbError::Pool("every database connection stayed busy for 30 s"));
            }
        }
    }

    fn connect(&self) -> Result<Connection, DbError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        schema::configure(&conn, self.busy_timeout)?;
        Ok(conn)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a Vec and a counter, consistent at every await point: recover from poison.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn give_back(&self, conn: Connection) {
        self.lock().idle.push(conn);
        self.returned.notify_one();
    }

    fn forget_one(&self) {
        let mut state = self.lock();
        state.opened = state.opened.saturating_sub(1);
        drop(state);
        self.returned.notify_one();
    }
}

/// A checked-out connection; it goes back to the pool when dropped.
pub(crate) struct PooledConn<'a> {
    pool: &'a Pool,
    conn: Option<Connection>,
}

impl Deref for PooledConn<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        // Only `drop` takes the connection out.
        match &self.conn {
            Some(c) => c,
            None => unreachable!("pooled connection used after drop"),
        }
    }
}

impl DerefMut for PooledConn<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        match &mut self.conn {
            Some(c) => c,
            None => unreachable!("pooled connection used after drop"),
        }
    }
}

impl Drop for PooledConn<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        // A connection left inside a transaction (a panic between BEGIN and COMMIT) must not
        // carry it to the next caller: roll back, or close it if even that fails.
        if !conn.is_autocommit() && conn.execute_batch("ROLLBACK").is_err() {
            drop(conn);
            self.pool.forget_one();
            return;
        }
        self.pool.give_back(conn);
    }
}
