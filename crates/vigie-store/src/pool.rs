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
    /// Callers waiting for a connection to come back. A connection given back wakes one only
    /// when there is one: `Condvar::notify_one` is a `futex` system call even with no waiter,
    /// and a guarded read gives back five connections.
    waiting: usize,
}

impl Pool {
    /// A pool over `path`, seeded with an already configured connection.
    pub(crate) fn new(path: PathBuf, first: Connection, capacity: usize, busy_timeout: Duration) -> Pool {
        Pool {
            path,
            busy_timeout,
            capacity: capacity.max(1),
            state: Mutex::new(State { idle: vec![first], opened: 1, waiting: 0 }),
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
            state.waiting += 1;
            let (next, timeout) =
                self.returned.wait_timeout(state, CHECKOUT_TIMEOUT).unwrap_or_else(PoisonError::into_inner);
            state = next;
            state.waiting -= 1;
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
        let mut state = self.lock();
        state.idle.push(conn);
        self.wake_one(state);
    }

    fn forget_one(&self) {
        let mut state = self.lock();
        state.opened = state.opened.saturating_sub(1);
        self.wake_one(state);
    }

    /// Wakes a waiting caller, if any, once the lock is released.
    fn wake_one(&self, state: MutexGuard<'_, State>) {
        let anyone = state.waiting > 0;
        drop(state);
        if anyone {
            self.returned.notify_one();
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(dir: &tempfile::TempDir, capacity: usize) -> Pool {
        let path = dir.path().join("pool.db");
        let first = Connection::open(&path).expect("open");
        Pool::new(path, first, capacity, Duration::from_secs(1))
    }

    /// A caller waiting on a full pool gets the connection as soon as it comes back (a give
    /// back that skipped the wake-up would leave it waiting out the 30 s checkout timeout).
    #[test]
    fn a_connection_given_back_wakes_the_caller_waiting_for_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = pool(&dir, 1);
        let held = pool.get().expect("first checkout");
        std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::channel();
            let pool = &pool;
            s.spawn(move || {
                let conn = pool.get().map(|c| c.query_row("SELECT 7", [], |r| r.get::<_, i64>(0)));
                tx.send(conn.map_err(|e| e.to_string())).expect("send");
            });
            // The second caller is waiting: the pool is full and nothing came back.
            while pool.lock().waiting == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            assert!(rx.try_recv().is_err(), "a checkout beyond capacity did not wait");
            drop(held);
            let got = rx.recv_timeout(Duration::from_secs(10)).expect("the waiting caller was not woken");
            assert_eq!(got.expect("checkout").expect("query"), 7);
        });
        assert_eq!(pool.lock().waiting, 0);
        assert_eq!(pool.lock().idle.len(), 1);
    }

    /// With room in the pool, checkouts neither wait nor open more than needed.
    #[test]
    fn checkouts_within_capacity_reuse_idle_connections() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = pool(&dir, 4);
        let a = pool.get().expect("a");
        let b = pool.get().expect("b");
        assert_eq!(pool.lock().opened, 2);
        drop((a, b));
        let _c = pool.get().expect("c");
        assert_eq!(pool.lock().opened, 2, "an idle connection was not reused");
        assert_eq!(pool.lock().waiting, 0);
    }
}
